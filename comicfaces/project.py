"""Project archives: runs, cache entries, corrections and optionally the inputs, in one ZIP.

:func:`export_project` writes everything a collaborator needs to see the same
galleries and metrics in their own dashboard, and :func:`import_project`
unpacks it into their workspace. Archive layout::

    manifest.json                         format, versions, runs, inputs, entries
    runs/<run_key>.json                   run records
    runs/<run_key>.faces.csv              faces tables; crop paths portable (below)
    cache/<stage>/<key[:2]>/<key>/<file>  cache entries: crops, cleaned pages, arrays
    corrections/<input_key>.json          corrections of each input
    inputs/<input_key>/<path>             embedded input files (optional)
    inputs/<input_key>.labels.csv         labels CSV of an embedded crop folder

Crop paths in the archived faces tables are ``workspace:<path under the
workspace>`` for cached crops, ``input:<path under the input>`` for crops that
are files of an embedded input, and absolute paths otherwise (crops of a
referenced input). Import turns them back into paths of the new workspace.

Import checks the archive before it writes anything. Member names with
absolute paths, ``..``, backslashes or unexpected folders are rejected, and so
are symbolic links. The declared uncompressed total is bounded
(:data:`MAX_TOTAL_BYTES`). Each member is then read with a byte limit,
``.npy`` arrays are loaded with ``allow_pickle=False`` to validate them, and
JSON is parsed, never unpickled. Cache entries and runs already in the
workspace are left as they are, because their keys name their content.
Corrections are merged action by action.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from comicfaces import __version__
from comicfaces.cache import META_FILE, Workspace, atomic_write_bytes, atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_VERSION", "MAX_TOTAL_BYTES", "ImportReport", "ProjectError", "export_project", "import_project"]

FORMAT = "comicfaces-project"
#: Version of the archive layout. Archives of a newer version are rejected.
FORMAT_VERSION = 1
#: Default maximum of the uncompressed size of all members together (2 GiB).
MAX_TOTAL_BYTES = 2 * 1024**3
#: Default maximum number of members.
MAX_MEMBERS = 200_000

_RUN_KEY = r"[A-Za-z0-9_-]{1,64}"
_HEX = r"[0-9a-f]{64}"
_FILE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_MEMBER_PATTERNS = [
    re.compile(r"^manifest\.json$"),
    re.compile(rf"^runs/{_RUN_KEY}\.json$"),
    re.compile(rf"^runs/{_RUN_KEY}\.faces\.csv$"),
    re.compile(rf"^cache/[a-z][a-z0-9_]{{0,39}}/[0-9a-f]{{2}}/{_HEX}/{_FILE}$"),
    re.compile(rf"^corrections/{_HEX}\.json$"),
    re.compile(rf"^inputs/{_HEX}\.labels\.csv$"),
    re.compile(rf"^inputs/{_HEX}/.+$"),
]
_CACHE_MEMBER = re.compile(rf"^cache/([a-z][a-z0-9_]*)/([0-9a-f]{{2}})/({_HEX})/({_FILE})$")


class ProjectError(ValueError):
    """Unsafe, malformed or unwritable project archive. The message names the member."""


# -- export ------------------------------------------------------------------------------


def export_project(
    workspace: Workspace,
    run_keys: Sequence[str],
    archive_path: str | Path,
    *,
    embed_inputs: bool = False,
) -> dict:
    """Write runs of a workspace, with what displaying them needs, as one ZIP.

    Parameters
    ----------
    workspace : Workspace
        Source workspace.
    run_keys : sequence of str
        Runs to include.
    archive_path : str or Path
        Output ``.zip``; written to a temporary file and renamed when complete.
    embed_inputs : bool
        Copy the input files (pages, CBZ archives or crop folders) into the
        archive. Without it only their paths are recorded, so the collaborator
        needs the same files at the same paths to add faces or rerun stages.

    Returns
    -------
    dict
        The manifest written into the archive.

    Notes
    -----
    Included cache entries: the run's features, reduction and clustering
    results, every ``view`` projection of its reduction, the faces entries its
    crops live in, the panels and text entries (cleaned pages) of its pages
    when the pages are readable, and the crops of faces added by hand.
    """
    from comicfaces.corrections import Corrections, CorrectionsError, input_key_for

    if isinstance(run_keys, str) or not run_keys:
        raise ProjectError(f"run_keys must be a non-empty list of run keys, got {run_keys!r}")
    if not isinstance(embed_inputs, bool):
        raise ProjectError(f"embed_inputs must be True or False, got {embed_inputs!r}")
    archive_path = Path(archive_path)

    members: dict[str, Path | bytes] = {}
    entries: set[tuple[str, str]] = set()
    inputs: dict[str, dict] = {}
    runs = []
    for run_key in dict.fromkeys(run_keys):
        record = workspace.load_run(run_key)
        try:
            input_key = input_key_for(record)
        except CorrectionsError as error:
            raise ProjectError(str(error)) from error
        source = dict(record.get("input") or {})
        if input_key not in inputs:
            inputs[input_key] = _input_manifest(source, input_key, embed_inputs, members)

        table = _load_faces(workspace, run_key)
        entries |= _run_entries(workspace, record, table)
        portable = table.copy()
        if "crop" in portable:
            portable["crop"] = [_portable_crop(workspace, crop, inputs[input_key]) for crop in portable["crop"]]
        members[f"runs/{run_key}.faces.csv"] = portable.to_csv(index=False).encode("utf-8")
        members[f"runs/{run_key}.json"] = json.dumps(record, indent=2, sort_keys=True).encode("utf-8")
        runs.append({"key": run_key, "input_key": input_key, "name": record.get("name")})

    corrections = []
    for input_key in inputs:
        path = Corrections.path_for(workspace, input_key)
        if path.is_file():
            document = Corrections.load(path)
            for entry in document.faces.values():
                if "added" in entry:
                    entries.add(("added_faces", entry["added"]["key"]))
            members[f"corrections/{input_key}.json"] = path
            corrections.append(input_key)

    for stage, key in sorted(entries):
        folder = workspace.entry_dir(stage, key)
        if not (folder / META_FILE).is_file():
            logger.warning("cache entry %s/%s is missing; left out of the archive", stage, key)
            continue
        for file in sorted(folder.iterdir()):
            if file.is_file():
                members[f"cache/{stage}/{key[:2]}/{key}/{file.name}"] = file

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created": time.time(),
        "runs": runs,
        "inputs": inputs,
        "entries": [{"stage": stage, "key": key} for stage, key in sorted(entries)],
        "corrections": corrections,
    }
    _write_zip(archive_path, {"manifest.json": json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"), **members})
    logger.info("project archive %s: %d run(s), %d cache entries", archive_path, len(runs), len(entries))
    return manifest


def _load_faces(workspace: Workspace, run_key: str) -> pd.DataFrame:
    from comicfaces.pipeline import load_run_faces

    try:
        return load_run_faces(workspace, run_key)
    except KeyError as error:
        raise ProjectError(error.args[0]) from None


def _input_manifest(source: dict, input_key: str, embed: bool, members: dict) -> dict:
    """Describe an input in the manifest, adding its files to ``members`` when embedded."""
    from comicfaces.imageio import IMAGE_EXTENSIONS, list_pages

    kind, path = source.get("kind"), Path(str(source.get("path")))
    entry = {"kind": kind, "path": str(path), "embedded": embed}
    if not embed:
        return entry
    if not path.exists():
        raise ProjectError(f"input {path} not found; it cannot be embedded (export with embed_inputs=False)")

    files: dict[str, Path] = {}
    if path.is_file():
        files[path.name] = path
        entry["file"] = path.name
    elif kind == "pages":
        for page in list_pages(path):
            files[page.path.relative_to(path).as_posix()] = page.path
    else:
        for file in path.rglob("*"):
            if file.is_file() and file.suffix.lower() in IMAGE_EXTENSIONS and not file.name.startswith("."):
                files[file.relative_to(path).as_posix()] = file
    for relative, file in files.items():
        _check_member_name(f"inputs/{input_key}/{relative}")
        members[f"inputs/{input_key}/{relative}"] = file
    entry["files"] = sorted(files)
    labels = source.get("labels")
    if labels and Path(labels).is_file():
        members[f"inputs/{input_key}.labels.csv"] = Path(labels)
        entry["labels"] = True
    return entry


def _portable_crop(workspace: Workspace, crop, input_entry: dict) -> str:
    crop = str(crop)
    path = Path(crop)
    try:
        return "workspace:" + path.resolve().relative_to(workspace.root).as_posix()
    except ValueError:
        pass
    if input_entry.get("embedded") and "file" not in input_entry:
        try:
            return "input:" + path.resolve().relative_to(Path(input_entry["path"]).resolve()).as_posix()
        except ValueError:
            pass
    return crop


def _run_entries(workspace: Workspace, record: dict, table: pd.DataFrame) -> set[tuple[str, str]]:
    """Return the ``(stage, key)`` cache entries a run's galleries and metrics read."""
    entries: set[tuple[str, str]] = set()
    stages = record.get("stages") or {}
    for stage in ("features", "reduction", "clustering"):
        if stages.get(stage):
            entries.add((stage, stages[stage]))
    if stages.get("reduction"):
        for meta in workspace.list_entries("view"):
            if meta.get("reduction") == stages["reduction"]:
                entries.add(("view", meta["key"]))

    cache = workspace.root / "cache"
    for crop in table.get("crop", pd.Series(dtype=str)).dropna().astype(str):
        try:
            relative = Path(crop).resolve().relative_to(cache).parts
        except ValueError:
            continue
        if len(relative) == 4:
            entries.add((relative[0], relative[2]))

    if (record.get("input") or {}).get("kind") == "pages":
        entries |= _page_entries(workspace, record)
    return entries


def _page_entries(workspace: Workspace, record: dict) -> set[tuple[str, str]]:
    """Return the panels and text entries of a page run's pages, recomputing their keys."""
    import dataclasses

    from comicfaces.cache import make_key
    from comicfaces.config import PipelineConfig
    from comicfaces.imageio import list_pages, page_digest
    from comicfaces.pipeline import PageProcessor, _page_key

    # TODO: the run record does not list its page entries, so their keys are
    # recomputed here with the pipeline's formula. A run made by another
    # package version, or whose pages are unreadable, loses its cleaned pages.
    try:
        config = PipelineConfig.from_dict(record.get("config"))
        pages = list_pages(record["input"]["path"])
    except (OSError, ValueError, KeyError) as error:
        logger.warning("run %s: pages not readable (%s); cleaned pages left out", record.get("key"), error)
        return set()
    max_side = PageProcessor(workspace, config).max_side
    entries = set()
    for page in pages:
        digest = page_digest(page)
        for stage in ("panels", "text"):
            key = make_key(stage, _page_key(digest, max_side), dataclasses.asdict(getattr(config, stage)))
            if workspace.has(stage, key):
                entries.add((stage, key))
    return entries


def _write_zip(path: Path, members: Mapping[str, Path | bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                if isinstance(content, bytes):
                    archive.writestr(name, content)
                else:
                    archive.write(content, name)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- import ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """Summary of the runs, entries, inputs and corrections that :func:`import_project` wrote.

    Attributes
    ----------
    runs : list of str
        Run keys now in the workspace from the archive.
    runs_kept : list of str
        Of those, runs that already existed and were left as they were.
    entries_added, entries_kept : int
        Cache entries written, and entries already present and left alone.
    inputs : dict of str to str
        Input key to the folder of its embedded files in the workspace.
    corrections : dict of str to int
        Input key to the number of correction actions added.
    """

    runs: list[str] = field(default_factory=list)
    runs_kept: list[str] = field(default_factory=list)
    entries_added: int = 0
    entries_kept: int = 0
    inputs: dict[str, str] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)


def _check_member_name(name: str) -> None:
    posix = PurePosixPath(name)
    if not name or "\\" in name or "\x00" in name:
        raise ProjectError(f"archive member {name!r}: empty name, backslash or NUL character")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or posix.is_absolute():
        raise ProjectError(f"archive member {name!r}: absolute path; members must be relative")
    if any(part in ("..", ".", "") for part in name.rstrip("/").split("/")):
        raise ProjectError(f"archive member {name!r}: '..', '.' or empty path component")
    if not any(pattern.match(name) for pattern in _MEMBER_PATTERNS):
        raise ProjectError(
            f"archive member {name!r}: unexpected name; a project archive contains only manifest.json, runs/, cache/, corrections/ and inputs/"
        )


def _check_members(archive: zipfile.ZipFile, path: Path, max_total_bytes: int, max_members: int) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ProjectError(f"{path}: {len(infos)} members, more than the limit of {max_members}")
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = info.filename
        mode = (info.external_attr >> 16) & 0o170000
        if mode == stat.S_IFLNK:
            raise ProjectError(f"{path}: archive member {name!r} is a symbolic link; links are not allowed")
        if info.flag_bits & 0x1:
            raise ProjectError(f"{path}: archive member {name!r} is encrypted")
        if info.is_dir():
            _check_dir_name(name, path)
            continue
        try:
            _check_member_name(name)
        except ProjectError as error:
            raise ProjectError(f"{path}: {error}") from None
        if name in seen:
            raise ProjectError(f"{path}: archive member {name!r} appears twice")
        seen.add(name)
        total += info.file_size
        if total > max_total_bytes:
            raise ProjectError(
                f"{path}: uncompressed size exceeds the limit of {max_total_bytes:,} bytes (reached at member {name!r}); "
                "pass a larger max_total_bytes if the archive is trusted"
            )
        files.append(info)
    if "manifest.json" not in seen:
        raise ProjectError(f"{path}: manifest.json missing; not a comicfaces project archive")
    return files


def _check_dir_name(name: str, path: Path) -> None:
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or re.match(r"^[A-Za-z]:", name):
        raise ProjectError(f"{path}: archive member {name!r}: unsafe folder name")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """Read a member, stopping at its declared size so a forged header cannot inflate it."""
    chunks, size = [], 0
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > info.file_size:
                    raise ProjectError(f"{path}: archive member {info.filename!r} is larger than its declared size")
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ProjectError(f"{path}: archive member {info.filename!r} is corrupt ({error})") from error
    return b"".join(chunks)


def _json_member(data: bytes, name: str, path: Path):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{path}: archive member {name!r} is not valid JSON ({error})") from error


def _check_manifest(manifest, path: Path) -> dict:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{path}: manifest.json: 'format' must be {FORMAT!r}")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"{path}: manifest.json: 'format_version' must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ProjectError(f"{path}: manifest.json: format_version {version} is newer than this comicfaces reads ({FORMAT_VERSION})")
    runs = manifest.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and re.fullmatch(_RUN_KEY, str(r.get("key"))) for r in runs):
        raise ProjectError(f"{path}: manifest.json: 'runs' must be a list of {{'key': run key, 'input_key': ...}}")
    inputs = manifest.get("inputs")
    if not isinstance(inputs, dict) or not all(re.fullmatch(_HEX, str(k)) and isinstance(v, dict) for k, v in inputs.items()):
        raise ProjectError(f"{path}: manifest.json: 'inputs' must map input keys to input descriptions")
    for run in runs:
        if run.get("input_key") not in inputs:
            raise ProjectError(f"{path}: manifest.json: run {run['key']!r} names input {run.get('input_key')!r}, which 'inputs' lacks")
    if manifest.get("package_version") != __version__:
        logger.warning(
            "%s was written by comicfaces %s, this is %s; imported runs display, but rerunning a stage recomputes it",
            path,
            manifest.get("package_version"),
            __version__,
        )
    return manifest


def import_project(
    archive_path: str | Path,
    workspace: Workspace,
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> ImportReport:
    """Unpack a project archive into ``workspace``.

    Parameters
    ----------
    archive_path : str or Path
        ZIP written by :func:`export_project`.
    workspace : Workspace
        Target workspace.
    max_total_bytes : int
        Reject archives whose members add up to more uncompressed bytes.
    max_members : int
        Reject archives with more members.

    Returns
    -------
    ImportReport

    Raises
    ------
    ProjectError
        For an unsafe or malformed archive: the message names the member.
        Names and sizes are all checked before anything is written.

    Notes
    -----
    Embedded inputs are unpacked under ``WORKSPACE/imported/<input_key>/`` and
    the imported run records point there; runs with referenced inputs keep
    their paths. Each record stores its input key in ``input.key``.
    """
    from comicfaces.corrections import Corrections, CorrectionsError

    archive_path = Path(archive_path)
    for name, value, low in (("max_total_bytes", max_total_bytes, 1), ("max_members", max_members, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ProjectError(f"{name} must be an integer >= {low}, got {value!r}")
    if not archive_path.is_file():
        raise FileNotFoundError(f"project archive not found: {archive_path}")
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ProjectError(f"{archive_path}: not a readable ZIP archive ({error})") from error

    report = ImportReport()
    with archive:
        infos = _check_members(archive, archive_path, max_total_bytes, max_members)
        by_name = {info.filename: info for info in infos}
        manifest = _check_manifest(_json_member(_read(archive, by_name["manifest.json"], archive_path), "manifest.json", archive_path), archive_path)

        input_dirs = _import_inputs(archive, infos, manifest, workspace, archive_path, report)
        _import_entries(archive, infos, workspace, archive_path, report)

        for run in manifest["runs"]:
            _import_run(archive, by_name, run, manifest, input_dirs, workspace, archive_path, report)

        for info in infos:
            match = re.fullmatch(rf"corrections/({_HEX})\.json", info.filename)
            if not match:
                continue
            data = _json_member(_read(archive, info, archive_path), info.filename, archive_path)
            try:
                incoming = Corrections.from_dict(data, source=f"{archive_path}:{info.filename}")
            except CorrectionsError as error:
                raise ProjectError(str(error)) from error
            if incoming.input_key != match.group(1):
                raise ProjectError(f"{archive_path}: {info.filename}: input_key {incoming.input_key!r} does not match the member name")
            local = Corrections.open(workspace, incoming.input_key, incoming.input_info)
            report.corrections[incoming.input_key] = local.merge(incoming)
            local.save()
    logger.info("imported %s: %d run(s), %d entries added, %d kept", archive_path, len(report.runs), report.entries_added, report.entries_kept)
    return report


def _import_inputs(archive, infos, manifest, workspace: Workspace, path: Path, report: ImportReport) -> dict[str, Path]:
    """Unpack embedded inputs; return input key to the path the run records should name."""
    targets: dict[str, Path] = {}
    base = workspace.root / "imported"
    for info in infos:
        name = info.filename
        if not name.startswith("inputs/"):
            continue
        rest = name[len("inputs/") :]
        if rest.endswith(".labels.csv") and "/" not in rest:
            key = rest[: -len(".labels.csv")]
            target = base / f"{key}.labels.csv"
        else:
            key, relative = rest.split("/", 1)
            target = base / key / relative
        entry = manifest["inputs"].get(key)
        if not entry or not entry.get("embedded"):
            raise ProjectError(f"{path}: archive member {name!r} belongs to no embedded input of manifest.json")
        if not target.resolve().is_relative_to(base.resolve()):
            raise ProjectError(f"{path}: archive member {name!r} leads outside the import folder")
        if not target.is_file():
            atomic_write_bytes(target, _read(archive, info, path))
    for key, entry in manifest["inputs"].items():
        if entry.get("embedded"):
            folder = base / key
            targets[key] = folder / entry["file"] if entry.get("file") else folder
            report.inputs[key] = str(folder)
    return targets


def _import_entries(archive, infos, workspace: Workspace, path: Path, report: ImportReport) -> None:
    grouped: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
    for info in infos:
        match = _CACHE_MEMBER.match(info.filename)
        if not match:
            continue
        stage, prefix, key, _ = match.groups()
        if prefix != key[:2]:
            raise ProjectError(f"{path}: archive member {info.filename!r}: folder {prefix!r} does not match key {key[:12]}...")
        grouped.setdefault((stage, key), []).append(info)

    for (stage, key), members in sorted(grouped.items()):
        if workspace.has(stage, key):
            report.entries_kept += 1
            continue
        names = {PurePosixPath(info.filename).name for info in members}
        if META_FILE not in names:
            raise ProjectError(f"{path}: cache entry {stage}/{key[:12]}... has no {META_FILE}; the archive is incomplete")
        contents = {}
        for info in members:
            data = _read(archive, info, path)
            file_name = PurePosixPath(info.filename).name
            if file_name.endswith(".npy"):
                _check_array(data, info.filename, path)
            elif file_name.endswith(".json"):
                _json_member(data, info.filename, path)
            contents[file_name] = data
        _publish_entry(workspace, stage, key, contents)
        report.entries_added += 1


def _check_array(data: bytes, name: str, path: Path) -> None:
    try:
        np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ProjectError(f"{path}: archive member {name!r} is not a plain .npy array ({error})") from error


def _publish_entry(workspace: Workspace, stage: str, key: str, contents: Mapping[str, bytes]) -> None:
    """Write an entry into a temporary folder and rename it into place, ``meta.json`` last."""
    final = workspace.entry_dir(stage, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".tmp-{key[:12]}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        for name, data in contents.items():
            if name != META_FILE:
                (temporary / name).write_bytes(data)
        (temporary / META_FILE).write_bytes(contents[META_FILE])
        try:
            os.rename(temporary, final)
        except OSError:
            if not workspace.has(stage, key):
                raise
            shutil.rmtree(temporary, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _import_run(archive, by_name, run: dict, manifest: dict, input_dirs: dict, workspace: Workspace, path: Path, report: ImportReport) -> None:
    run_key, input_key = run["key"], run["input_key"]
    record_name, faces_name = f"runs/{run_key}.json", f"runs/{run_key}.faces.csv"
    for name in (record_name, faces_name):
        if name not in by_name:
            raise ProjectError(f"{path}: archive member {name!r} missing for run {run_key!r} of manifest.json")
    report.runs.append(run_key)
    if workspace.run_path(run_key).is_file():
        report.runs_kept.append(run_key)
        return

    record = _json_member(_read(archive, by_name[record_name], path), record_name, path)
    if not isinstance(record, dict) or record.get("key") != run_key or not isinstance(record.get("input"), dict):
        raise ProjectError(f"{path}: {record_name}: not a run record with key {run_key!r} and an 'input'")
    record["input"]["key"] = input_key
    if input_key in input_dirs:
        record["input"]["original_path"] = record["input"].get("path")
        record["input"]["path"] = str(input_dirs[input_key])
        if record["input"].get("labels"):
            record["input"]["labels"] = str(workspace.root / "imported" / f"{input_key}.labels.csv")

    try:
        table = pd.read_csv(io.BytesIO(_read(archive, by_name[faces_name], path)))
    except (ValueError, pd.errors.ParserError) as error:
        raise ProjectError(f"{path}: {faces_name} is not a readable CSV ({error})") from error
    if "crop" in table:
        table["crop"] = [_local_crop(crop, workspace, input_dirs.get(input_key), path, faces_name) for crop in table["crop"]]

    # The faces table is written before the record, so a listed run always has its table.
    atomic_write_text(workspace.root / "runs" / f"{run_key}.faces.csv", table.to_csv(index=False))
    atomic_write_json(workspace.run_path(run_key), record)


def _local_crop(crop, workspace: Workspace, input_dir: Path | None, path: Path, member: str) -> str:
    crop = str(crop)
    if crop.startswith("workspace:"):
        base, relative = workspace.root, crop[len("workspace:") :]
    elif crop.startswith("input:") and input_dir is not None:
        base, relative = input_dir, crop[len("input:") :]
    else:
        return crop
    target = (base / relative).resolve()
    if not target.is_relative_to(base.resolve()):
        raise ProjectError(f"{path}: {member}: crop path {crop!r} leads outside its folder")
    return str(target)
