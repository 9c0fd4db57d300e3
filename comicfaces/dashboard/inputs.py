"""Inputs of the dashboard: the demo comic, a typed path, uploads, a folder of crops.

Every function here raises an exception whose message names the file or
folder at fault: ``FileNotFoundError``, :class:`~comicfaces.imageio.ImageLoadError`
or ``ValueError``. The pages show that message with ``st.error`` and go on
rendering.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import replace
from pathlib import Path

from comicfaces.cache import atomic_write_bytes
from comicfaces.dashboard.state import InputSpec
from comicfaces.imageio import (
    ARCHIVE_EXTENSIONS,
    IMAGE_EXTENSIONS,
    ImageLoadError,
    PageSource,
    check_member_name,
    decode_image,
    hash_bytes,
    list_archive,
    list_pages,
    natural_key,
)

logger = logging.getLogger(__name__)

DEMO_DIR = "demo"
UPLOADS_DIR = "uploads"

#: Largest accepted upload, in bytes; Streamlit's own limit (server.maxUploadSize) also applies.
MAX_UPLOAD_BYTES = 500 * 1024 * 1024


# -- demo comic -------------------------------------------------------------------------


def demo_folder(workspace_root: str | Path, n_pages: int, seed: int) -> Path:
    """Return the folder where the demo comic of this size and seed is generated."""
    return Path(workspace_root) / DEMO_DIR / f"seed{seed}_pages{n_pages}"


def ensure_demo(workspace_root: str | Path, n_pages: int, seed: int) -> tuple[Path, Path]:
    """Generate the demo comic once per workspace and return ``(pages_folder, truth_path)``.

    :func:`comicfaces.demo.generate_demo` writes into a hidden folder and
    renames it into place, so an interrupted session never leaves a
    half-written demo. Once the truth file and every page it lists exist, the
    folder is reused without reading the pages again.
    """
    from comicfaces.demo import TRUTH_NAME, generate_demo

    target = demo_folder(workspace_root, n_pages, seed)
    truth_path = target / TRUTH_NAME
    if _demo_complete(target, truth_path):
        return target, truth_path

    comic = generate_demo(target, n_pages=n_pages, seed=seed)
    return Path(comic.folder), Path(comic.truth)


def _demo_complete(folder: Path, truth_path: Path) -> bool:
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        return all((folder / image["file_name"]).is_file() for image in truth["images"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


# -- uploads ----------------------------------------------------------------------------


def save_upload(workspace_root: str | Path, name: str, data: bytes) -> Path:
    """Check an uploaded page or ``.cbz`` and store it under its SHA-256 in ``uploads/``.

    The stored name is the content hash plus the original suffix, so uploading
    the same file twice stores it once, and two files with the same name do not
    overwrite each other. The file is written through a temporary file and a
    rename.

    Raises
    ------
    ImageLoadError
        If the file is not a readable image or archive; the message names it.
    ValueError
        If the suffix is not a page image or an archive, or an archive contains no image.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS:
        raise ValueError(
            f"{name}: unsupported file type {suffix or '(none)'}; "
            f"upload one of {', '.join(IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS)}"
        )
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{name}: {len(data):,} bytes is more than the {MAX_UPLOAD_BYTES:,} byte limit of one upload")

    if suffix in ARCHIVE_EXTENSIONS:
        check_archive(name, data)
    else:
        decode_image(data, name)

    target = Path(workspace_root) / UPLOADS_DIR / f"{hash_bytes(data)}{suffix}"
    if not target.is_file():
        atomic_write_bytes(target, data)
    return target


def check_archive(name: str, data: bytes) -> None:
    """Raise ImageLoadError or ValueError, naming ``name``, for an unusable CBZ/ZIP archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        raise ImageLoadError(f"{name}: not a readable CBZ/ZIP archive ({error})") from error
    for member in members:
        check_member_name(member, Path(name))
    if not any(member.lower().endswith(IMAGE_EXTENSIONS) for member in members):
        raise ValueError(f"{name}: the archive contains no page image ({', '.join(IMAGE_EXTENSIONS)})")


def upload_pages(paths: tuple[str, ...], names: tuple[str, ...]) -> list[PageSource]:
    """List the pages of stored uploads, named after the uploaded files.

    Archive members are named ``<archive name>/<member>``. A name used twice
    gets `` (2)``, `` (3)`` ... appended, because page names key the tables.
    """
    pages: list[PageSource] = []
    for path, name in zip(paths, names):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"uploaded file {name} is no longer in the workspace ({path}); upload it again")
        if path.suffix.lower() in ARCHIVE_EXTENSIONS:
            for member_page in list_archive(path):
                pages.append(replace(member_page, page_id=f"{name}/{member_page.member}"))
        else:
            pages.append(PageSource(name, path))

    seen: dict[str, int] = {}
    unique = []
    for page in pages:
        count = seen.get(page.page_id, 0) + 1
        seen[page.page_id] = count
        unique.append(page if count == 1 else replace(page, page_id=f"{page.page_id} ({count})"))
    return unique


# -- resolving an input -----------------------------------------------------------------


def resolve_pages(workspace_root: str | Path, spec: InputSpec) -> tuple[list[PageSource], Path | None]:
    """Return the pages of an input and its ground-truth file (the demo's), or None.

    Raises
    ------
    FileNotFoundError
        If a folder or file of the input does not exist.
    ImageLoadError
        If the input is a file that is neither an image nor an archive.
    ValueError
        If the input contains no page, or is a folder of face crops.
    """
    truth = None
    if spec.kind == "demo":
        folder, truth = ensure_demo(workspace_root, spec.demo_pages, spec.demo_seed)
        pages = list_pages(folder)
        source = str(folder)
    elif spec.kind == "folder":
        source = spec.paths[0] if spec.paths else ""
        if not source.strip():
            raise ValueError("no folder given; type the path of a folder of pages, an image or a .cbz file")
        pages = list_pages(source)
    elif spec.kind == "uploads":
        pages = upload_pages(spec.paths, spec.names)
        source = "the uploaded files"
    else:
        raise ValueError("the input is a folder of face crops, which has no pages; pick a page input to use the page stages")

    if not pages:
        raise ValueError(
            f"no pages found in {source}; supported types are {', '.join(IMAGE_EXTENSIONS)} and .cbz"
        )
    return pages, truth


def check_faces_folder(folder: str, labels: str | None) -> int:
    """Return the number of image files in a folder of crops; raise naming a missing path."""
    path = Path(folder).expanduser()
    if not folder.strip():
        raise ValueError("no folder given; type the path of a folder of face crop images")
    if not path.is_dir():
        raise FileNotFoundError(f"face folder not found: {path}; give a folder of face crop images")
    count = sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if count == 0:
        raise ValueError(f"no images found in {path}; supported types are {', '.join(IMAGE_EXTENSIONS)}")
    if labels and not Path(labels).expanduser().is_file():
        raise FileNotFoundError(f"labels CSV not found: {labels}; give a CSV with columns image_name,identity")
    return count


def input_fingerprint(workspace_root: str | Path, spec: InputSpec) -> tuple:
    """Return the names, sizes and modification times of the input files.

    Cached functions take this as an argument, so adding, replacing or
    removing a file in a typed folder invalidates the in-memory results. The
    on-disk cache is keyed by page content and is unaffected.
    """
    if spec.kind == "faces":
        root = Path(spec.paths[0]).expanduser()
        files = sorted(
            (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
            key=lambda p: natural_key(p.relative_to(root).as_posix()),
        )
        if spec.labels:
            files.append(Path(spec.labels).expanduser())
    else:
        pages, _ = resolve_pages(workspace_root, spec)
        files = sorted({page.path for page in pages})

    stamp = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            stamp.append((str(file), -1, -1))
            continue
        stamp.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(stamp)
