"""Reading pages and crops: folders, single images and CBZ archives.

Every image is returned as an RGB ``uint8`` array of shape ``(height, width, 3)``,
whatever its mode on disk (grayscale, palette, RGBA, 16-bit, CMYK). Failures raise
:class:`ImageLoadError` with the file named, so a caller can log and skip one bad
page while the rest of a run goes on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
ARCHIVE_EXTENSIONS = (".cbz", ".zip")

#: Pages with more pixels than this are rejected before decoding (about 16k x 16k).
MAX_PIXELS = 260_000_000
#: Pages whose longer side exceeds this are downscaled on load, so a 20,000 px scan
#: costs what a 6,000 px one does. Box coordinates are scaled back by the caller.
MAX_SIDE = 6000
#: Pages smaller than this on either side hold no readable face.
MIN_SIDE = 16


class ImageLoadError(ValueError):
    """An input file could not be read as an image."""


@dataclass(frozen=True)
class PageSource:
    """One page to read: a file on disk or a member of a CBZ archive.

    Attributes
    ----------
    page_id : str
        Stable name of the page, relative to the input root (``book.cbz/01.jpg``
        for archive members). Used in tables and as a display label.
    path : Path
        File on disk (the archive for a member).
    member : str or None
        Name of the member inside the archive, or None for a plain file.
    """

    page_id: str
    path: Path
    member: str | None = None

    def read_bytes(self) -> bytes:
        """Return the raw bytes of the page file."""
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)


def natural_key(text: str) -> list:
    """Sort key that orders ``page9`` before ``page10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not PurePosixPath(name).name.startswith(".")


def check_member_name(name: str, archive: Path) -> None:
    """Raise :class:`ImageLoadError` for an archive member that could escape a folder.

    Absolute paths, drive letters and ``..`` components are rejected, because a
    member named ``../../x`` would be written outside the target when extracted.
    """
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in posix.parts:
        raise ImageLoadError(
            f"{archive}: archive member {name!r} has an absolute path or '..'; "
            "rebuild the archive with relative member names"
        )


def list_archive(path: Path, prefix: str = "", errors: list | None = None) -> list[PageSource]:
    """List the image members of a CBZ or ZIP archive in natural order.

    Without ``errors``, raises :class:`ImageLoadError` when the archive is
    unreadable or a member name is unsafe. With it, the problem is appended as
    ``{"page": name, "error": message}`` and the safe members are still listed.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        message = f"{path}: not a readable CBZ/ZIP archive ({error})"
        if errors is None:
            raise ImageLoadError(message) from error
        logger.error("archive skipped: %s", message)
        errors.append({"page": f"{prefix}{path.name}", "error": message})
        return []
    safe = []
    for name in names:
        try:
            check_member_name(name, path)
        except ImageLoadError as error:
            if errors is None:
                raise
            logger.error("archive member skipped: %s", error)
            errors.append({"page": f"{prefix}{path.name}/{name}", "error": str(error)})
        else:
            safe.append(name)
    images = sorted((n for n in safe if _is_image_name(n)), key=natural_key)
    return [PageSource(f"{prefix}{path.name}/{n}", path, n) for n in images]


def list_pages(source: str | Path, errors: list | None = None) -> list[PageSource]:
    """List the pages of an input: a folder (recursive), an image or a CBZ archive.

    Folders are walked recursively; images and archives inside are ordered by
    natural sort of their relative path. Hidden files are skipped.

    With an ``errors`` list, an archive that cannot be read is skipped and
    reported there as ``{"page": name, "error": message}``. Unsafe archive
    members are skipped and reported the same way, and the archive's other
    pages are kept. Without an ``errors`` list, both cases raise.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ImageLoadError
        If ``source`` is a file that is neither an image nor an archive, or
        (without ``errors``) an archive that is unreadable or has unsafe
        member names.
    """
    root = Path(source).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"input not found: {root}; give a folder of pages, an image or a .cbz file")

    if root.is_file():
        if root.suffix.lower() in ARCHIVE_EXTENSIONS:
            return list_archive(root, "", errors)
        if _is_image_name(root.name):
            return [PageSource(root.name, root)]
        raise ImageLoadError(
            f"{root}: unsupported file type {root.suffix!r}; "
            f"use one of {', '.join(IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS)}"
        )

    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    files.sort(key=lambda p: natural_key(p.relative_to(root).as_posix()))
    pages: list[PageSource] = []
    for file in files:
        relative = file.relative_to(root).as_posix()
        if file.suffix.lower() in ARCHIVE_EXTENSIONS:
            parent = relative[: -len(file.name)]
            pages.extend(list_archive(file, parent, errors))
        elif _is_image_name(file.name):
            pages.append(PageSource(relative, file))
    return pages


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an RGB uint8 array, compositing alpha on white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size else 0.0
        # 16-bit and 32-bit integer images are scaled by their full range, or by
        # their maximum when that is lower than 8 bits would suggest.
        scale = 255.0 / (65535.0 if top > 255 else max(top, 1.0))
        gray = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        gray = np.zeros(array.shape, np.uint8) if high <= low else ((array - low) / (high - low) * 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def decode_image(data: bytes, name: str, max_side: int | None = MAX_SIDE) -> tuple[np.ndarray, float]:
    """Decode image bytes to RGB.

    Returns ``(image, scale)`` where ``scale`` is the factor applied to fit
    ``max_side`` (1.0 when the image was not resized). Multiply coordinates on
    the returned image by ``1 / scale`` to get original page pixels.

    Raises :class:`ImageLoadError` naming ``name`` for empty, corrupt, truncated,
    too large or too small images.
    """
    if not data:
        raise ImageLoadError(f"{name}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageLoadError(
                        f"{name}: image is {width}x{height} pixels, more than the limit of "
                        f"{MAX_PIXELS:,}; downscale it before loading"
                    )
                image.load()
                image = ImageOps.exif_transpose(image) or image
                rgb = _to_rgb(image)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(f"{name}: image is too large to decode safely ({error})") from error
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as error:
        raise ImageLoadError(f"{name}: not a readable image, or the file is truncated ({error})") from error

    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageLoadError(
            f"{name}: image is {width}x{height} pixels, smaller than {MIN_SIDE} px on a side; "
            "it cannot contain a readable face"
        )

    scale = 1.0
    if max_side and max(height, width) > max_side:
        import cv2

        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # Only the safety limit loses detail the caller did not request; smaller limits are previews and stage inputs.
        level = logging.WARNING if max_side >= MAX_SIDE else logging.DEBUG
        logger.log(level, "%s: %dx%d pixels, downscaled by %.3f to fit %d px", name, width, height, scale, max_side)
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), scale


def load_image(path: str | Path, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """Load an image file as an RGB uint8 array, downscaled to ``max_side``.

    Raises :class:`ImageLoadError` (naming the file) for unreadable images and
    :class:`FileNotFoundError` for missing ones.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    image, _ = decode_image(path.read_bytes(), str(path), max_side=max_side)
    return image


def load_page(page: PageSource, max_side: int | None = MAX_SIDE) -> tuple[np.ndarray, float]:
    """Load a page as ``(rgb, scale)``; see :func:`decode_image`."""
    try:
        data = page.read_bytes()
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ImageLoadError(f"{page.page_id}: could not read the file ({error})") from error
    return decode_image(data, page.page_id, max_side=max_side)


def hash_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def page_digest(page: PageSource) -> str:
    """Return the SHA-256 of a page's bytes, or of its path when it cannot be read.

    Hashing an unreadable page's path keeps it addressable, so its error can be
    cached and reported without reading it again.
    """
    try:
        return hash_bytes(page.read_bytes())
    except (OSError, KeyError, zipfile.BadZipFile):
        return hash_bytes(f"unreadable:{page.path}:{page.member}".encode())


def save_image(path: str | Path, image: np.ndarray, quality: int = 92) -> None:
    """Save an RGB array as PNG or JPEG (by suffix), writing atomically."""
    from comicfaces.cache import atomic_write_bytes

    path = Path(path)
    buffer = io.BytesIO()
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format=fmt, quality=quality)
    atomic_write_bytes(path, buffer.getvalue())
