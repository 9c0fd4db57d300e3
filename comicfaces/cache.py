"""On-disk cache of stage results, keyed by inputs, parameters and package version.

A :class:`Workspace` is a folder::

    WORKSPACE/
      cache/<stage>/<key[:2]>/<key>/   one entry: arrays (.npy), tables (.csv), images, meta.json
      runs/<run_key>.json              one run: its config, stage keys and summary
      uploads/                         files uploaded through the dashboard

An entry is written into a temporary folder beside its final place and renamed
into place only when complete, with ``meta.json`` written last. A reader treats
a folder without ``meta.json`` as absent, so an interrupted run never leaves an
entry that is later read as valid, and a finished entry is never modified.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from comicfaces import __version__

logger = logging.getLogger(__name__)

META_FILE = "meta.json"
DEFAULT_WORKSPACE_ENV = "COMICFACES_WORKSPACE"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp creates the file readable by its owner only; give it the
        # permissions an ordinary new file gets under the current umask.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically; NaN and infinities become null."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _finite(value: Any) -> Any:
    """Replace NaN and infinite floats by None, recursively, since JSON has no NaN."""
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON serialisable: {value!r}")


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` to a canonical JSON string (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def make_key(stage: str, inputs: Any, params: Any) -> str:
    """Return the cache key of a stage result.

    The key is the SHA-256 of the stage name, the keys or digests of its inputs,
    its parameters and the package version, so a new release never reads an
    entry written by an older one.
    """
    payload = canonical_json({"stage": stage, "inputs": inputs, "params": params, "version": __version__})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def save_array(folder: Path, name: str, array: np.ndarray) -> None:
    """Save an array as ``folder/name.npy`` (object arrays are rejected)."""
    array = np.asarray(array)
    if array.dtype == object:
        raise TypeError(f"array {name!r} has dtype object, which cannot be saved without pickle")
    np.save(folder / f"{name}.npy", array, allow_pickle=False)


def load_array(folder: Path, name: str) -> np.ndarray:
    """Load ``folder/name.npy`` without unpickling."""
    return np.load(folder / f"{name}.npy", allow_pickle=False)


class Workspace:
    """A folder holding cached stage results and runs.

    Parameters
    ----------
    root : str or Path
        Folder of the workspace; created when missing.

    Notes
    -----
    Several processes may share a workspace: two writers of the same key both
    compute, and the second rename finds the entry present and discards its copy.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "cache").mkdir(exist_ok=True)
        (self.root / "runs").mkdir(exist_ok=True)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- entries -------------------------------------------------------------------

    def entry_dir(self, stage: str, key: str) -> Path:
        """Return the folder of an entry (which may not exist)."""
        return self.root / "cache" / stage / key[:2] / key

    def has(self, stage: str, key: str) -> bool:
        """Return True when a complete entry exists for ``(stage, key)``."""
        return (self.entry_dir(stage, key) / META_FILE).is_file()

    def read_meta(self, stage: str, key: str) -> dict:
        """Return the ``meta.json`` of an entry."""
        return json.loads((self.entry_dir(stage, key) / META_FILE).read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def writing(self, stage: str, key: str, meta: dict | None = None) -> Iterator[Path]:
        """Yield a temporary folder to fill; publish it as the entry on success.

        On an exception the temporary folder is removed and nothing is published.
        """
        final = self.entry_dir(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.parent / f".tmp-{key[:12]}-{uuid.uuid4().hex[:8]}"
        temporary.mkdir()
        try:
            yield temporary
            record = {"stage": stage, "key": key, "version": __version__, "created": time.time()}
            record.update(meta or {})
            atomic_write_json(temporary / META_FILE, record)
            try:
                os.rename(temporary, final)
            except OSError:
                if not self.has(stage, key):
                    raise
                logger.debug("entry %s/%s was written by another process; keeping that one", stage, key)
                shutil.rmtree(temporary, ignore_errors=True)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def list_entries(self, stage: str | None = None) -> list[dict]:
        """Return the metadata of every complete entry, optionally of one stage."""
        base = self.root / "cache"
        stages = [stage] if stage else sorted(p.name for p in base.iterdir() if p.is_dir())
        entries = []
        for name in stages:
            for meta_path in sorted((base / name).glob(f"*/*/{META_FILE}")):
                try:
                    entries.append(json.loads(meta_path.read_text(encoding="utf-8")))
                except (OSError, json.JSONDecodeError) as error:
                    logger.warning("skipping unreadable cache entry %s: %s", meta_path.parent, error)
        return entries

    def delete_entry(self, stage: str, key: str) -> bool:
        """Delete one entry; return False when it did not exist."""
        folder = self.entry_dir(stage, key)
        if not folder.exists():
            return False
        # Renaming first makes the deletion atomic for readers.
        doomed = folder.parent / f".del-{key[:12]}-{uuid.uuid4().hex[:8]}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def clean_temporary(self) -> int:
        """Remove folders left by interrupted writes; return how many were removed."""
        removed = 0
        for folder in list((self.root / "cache").glob("*/*/.tmp-*")) + list((self.root / "cache").glob("*/*/.del-*")):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        return removed

    def size_bytes(self) -> int:
        """Return the total size of the cache in bytes."""
        return sum(p.stat().st_size for p in (self.root / "cache").rglob("*") if p.is_file())

    # -- runs ----------------------------------------------------------------------

    def run_path(self, run_key: str) -> Path:
        """Return the JSON file of a run."""
        if not run_key or any(c in run_key for c in "/\\") or run_key.startswith("."):
            raise ValueError(f"invalid run key {run_key!r}: use letters, digits, '-' and '_'")
        return self.root / "runs" / f"{run_key}.json"

    def save_run(self, record: dict) -> None:
        """Store a run record (a dict with at least ``key``), replacing any with that key."""
        atomic_write_json(self.run_path(record["key"]), record)

    def load_run(self, run_key: str) -> dict:
        """Return a stored run record; raise KeyError naming the key when missing."""
        path = self.run_path(run_key)
        if not path.is_file():
            raise KeyError(f"run {run_key!r} not found in {self.root}; list runs with 'python -m comicfaces runs list'")
        return json.loads(path.read_text(encoding="utf-8"))

    def list_runs(self) -> list[dict]:
        """Return every stored run record, newest first."""
        runs = []
        for path in (self.root / "runs").glob("*.json"):
            try:
                runs.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError) as error:
                logger.warning("skipping unreadable run record %s: %s", path, error)
        return sorted(runs, key=lambda r: r.get("created", 0), reverse=True)

    def delete_run(self, run_key: str) -> bool:
        """Delete a run record (its cache entries stay for reuse); False if absent."""
        path = self.run_path(run_key)
        if not path.is_file():
            return False
        path.unlink()
        return True


def default_workspace_root() -> Path:
    """Return the workspace folder from ``COMICFACES_WORKSPACE`` or ``~/.cache/comicfaces``."""
    return Path(os.environ.get(DEFAULT_WORKSPACE_ENV, Path.home() / ".cache" / "comicfaces" / "workspace"))
