"""Ground-truth face boxes with identities, read from COCO JSON.

The expected file is COCO object detection JSON with one ``face`` category and
two extra keys per annotation:

* ``identity`` (str): the character, the same string on every page. The
  label ``extra`` marks one-off characters, each of which is its own
  character for clustering scores (see :meth:`PageTruth.cluster_labels`).
* ``ignore`` (bool): a face that neither counts as found nor as missed, and
  a detection on it is neither right nor wrong (tiny, unclear or face-like
  objects). ``iscrowd: 1`` is read as ``ignore`` too, as in COCO.

``bbox`` is ``[x, y, w, h]`` in integer pixels covering columns ``x .. x+w-1``,
so it converts to the project's ``(x0, y0, x1, y1)`` with exclusive ends as
``(x, y, x + w, y + h)``. ``file_name`` is relative to the folder above the
annotation file's folder (``pages/annotations/faces.json`` names
``ep01/en/E01P01.jpg`` for ``pages/ep01/en/E01P01.jpg``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["AnnotationError", "PageTruth", "load_face_annotations"]

#: Identity label of one-off characters: each such face is its own character.
EXTRA_IDENTITY = "extra"


class AnnotationError(ValueError):
    """An annotation file is missing, not JSON, or not valid COCO face annotations."""


@dataclass(frozen=True, eq=False)
class PageTruth:
    """Ground truth of one page.

    Attributes
    ----------
    file_name : str
        Image path as written in the file, relative to ``root``.
    path : Path
        ``root / file_name``.
    image_id : int
        COCO image id.
    width, height : int
        Image size in pixels, as stated in the file.
    boxes : ndarray of shape (n, 4)
        ``(x0, y0, x1, y1)`` float, exclusive ends.
    identities : tuple of (str or None)
        Character of each box; None where the annotation has no ``identity``.
    ignore : ndarray of shape (n,)
        True for boxes left out of detection and clustering scores.
    annotation_ids : ndarray of shape (n,)
        COCO annotation id of each box.
    notes : tuple of str
        The optional ``note`` of each box, ``""`` where absent.
    """

    file_name: str
    path: Path
    image_id: int
    width: int
    height: int
    boxes: np.ndarray
    identities: tuple
    ignore: np.ndarray
    annotation_ids: np.ndarray
    notes: tuple

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def n_regular(self) -> int:
        """Number of boxes that count in scores (not ignored)."""
        return int((~self.ignore).sum())

    def cluster_labels(self) -> list[str | None]:
        """Return the identity of each box for clustering scores.

        Every ``extra`` face gets a label of its own, ``extra#<annotation id>``,
        because one-off characters are not one cluster. Ignored boxes keep
        their identity; callers drop them with :attr:`ignore`.
        """
        labels: list[str | None] = []
        for identity, annotation_id in zip(self.identities, self.annotation_ids):
            if identity == EXTRA_IDENTITY:
                labels.append(f"{EXTRA_IDENTITY}#{int(annotation_id)}")
            else:
                labels.append(identity)
        return labels


def _fail(path: Path, where: str, problem: str) -> AnnotationError:
    return AnnotationError(f"{path}: {where}: {problem}")


def _require_int(path: Path, where: str, record: dict, key: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, where, f"{key!r} must be an integer, got {value!r}")
    return value


def _read_images(path: Path, data: dict, root: Path) -> dict[int, dict]:
    images = data.get("images")
    if not isinstance(images, list):
        raise _fail(path, "top level", "'images' must be a list of image records")

    by_id: dict[int, dict] = {}
    names: set[str] = set()
    for index, image in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(image, dict):
            raise _fail(path, where, f"must be an object, got {type(image).__name__}")
        image_id = _require_int(path, where, image, "id")
        width = _require_int(path, where, image, "width")
        height = _require_int(path, where, image, "height")
        file_name = image.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            raise _fail(path, where, f"'file_name' must be a non-empty string, got {file_name!r}")
        if width <= 0 or height <= 0:
            raise _fail(path, where, f"width and height must be positive, got {width}x{height}")
        if image_id in by_id:
            raise _fail(path, where, f"image id {image_id} appears twice")
        if file_name in names:
            raise _fail(path, where, f"file_name {file_name!r} appears twice")
        names.add(file_name)
        by_id[image_id] = {"file_name": file_name, "width": width, "height": height, "boxes": []}
    return by_id


def _face_category_ids(path: Path, data: dict) -> set[int] | None:
    # None means "no categories listed": every annotation is a face.
    categories = data.get("categories")
    if categories is None:
        return None
    if not isinstance(categories, list):
        raise _fail(path, "top level", "'categories' must be a list")
    ids: set[int] = set()
    for index, category in enumerate(categories):
        if not isinstance(category, dict):
            raise _fail(path, f"categories[{index}]", "must be an object")
        category_id = _require_int(path, f"categories[{index}]", category, "id")
        if category.get("name") == "face":
            ids.add(category_id)
    if not ids:
        names = [c.get("name") for c in categories]
        raise _fail(path, "categories", f"no category named 'face' (found {names})")
    return ids


def _read_box(path: Path, where: str, record: dict, image: dict) -> list[float]:
    bbox = record.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise _fail(path, where, f"'bbox' must be a list [x, y, w, h], got {bbox!r}")
    for value in bbox:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(path, where, f"'bbox' values must be finite numbers, got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise _fail(path, where, f"'bbox' width and height must be positive, got {bbox!r}")
    if x < 0 or y < 0 or x + w > image["width"] or y + h > image["height"]:
        raise _fail(
            path,
            where,
            f"'bbox' {bbox!r} extends outside its image {image['file_name']} "
            f"({image['width']}x{image['height']})",
        )
    return [x, y, x + w, y + h]


def load_face_annotations(path: str | Path, root: str | Path | None = None) -> dict[str, PageTruth]:
    """Read COCO face annotations with identities into per-page truth.

    Parameters
    ----------
    path : str or Path
        The COCO JSON file.
    root : str or Path, optional
        Folder that ``file_name`` values are relative to; the parent of the
        file's folder when None.

    Returns
    -------
    dict of str to PageTruth
        One entry per image record, including images without boxes, keyed by
        ``file_name`` and ordered by image id.

    Raises
    ------
    AnnotationError
        If the file is missing, is not JSON, or a record is malformed. The
        message names the file and the record (``annotations[12]``) and what
        is wrong with it.

    Notes
    -----
    Annotations of categories other than ``face`` are skipped. Image files
    are not opened; a page whose file is missing still has its truth.
    """
    path = Path(path)
    root = path.resolve().parent.parent if root is None else Path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnnotationError(f"{path}: could not read the annotation file ({error})") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AnnotationError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    if not isinstance(data, dict):
        raise _fail(path, "top level", f"must be a COCO object with 'images' and 'annotations', got {type(data).__name__}")

    images = _read_images(path, data, root)
    face_ids = _face_category_ids(path, data)
    annotations = data.get("annotations")
    if not isinstance(annotations, list):
        raise _fail(path, "top level", "'annotations' must be a list of annotation records")

    seen_ids: set[int] = set()
    skipped = 0
    for index, record in enumerate(annotations):
        where = f"annotations[{index}]"
        if not isinstance(record, dict):
            raise _fail(path, where, f"must be an object, got {type(record).__name__}")
        annotation_id = _require_int(path, where, record, "id")
        if annotation_id in seen_ids:
            raise _fail(path, where, f"annotation id {annotation_id} appears twice")
        seen_ids.add(annotation_id)

        image_id = _require_int(path, where, record, "image_id")
        if image_id not in images:
            raise _fail(path, where, f"image_id {image_id} is not in 'images'")
        if face_ids is not None and record.get("category_id") not in face_ids:
            skipped += 1
            continue

        identity = record.get("identity")
        if identity is not None and not isinstance(identity, str):
            raise _fail(path, where, f"'identity' must be a string, got {identity!r}")
        ignore = record.get("ignore", False)
        if not isinstance(ignore, bool):
            raise _fail(path, where, f"'ignore' must be true or false, got {ignore!r}")
        iscrowd = record.get("iscrowd", 0)
        if iscrowd not in (0, 1):
            raise _fail(path, where, f"'iscrowd' must be 0 or 1, got {iscrowd!r}")
        note = record.get("note", "")
        if not isinstance(note, str):
            raise _fail(path, where, f"'note' must be a string, got {note!r}")

        box = _read_box(path, where, record, images[image_id])
        images[image_id]["boxes"].append((box, identity, ignore or iscrowd == 1, annotation_id, note))

    if skipped:
        logger.info("%s: skipped %d annotations of categories other than 'face'", path, skipped)

    pages: dict[str, PageTruth] = {}
    for image_id in sorted(images):
        image = images[image_id]
        entries = image["boxes"]
        pages[image["file_name"]] = PageTruth(
            file_name=image["file_name"],
            path=root / image["file_name"],
            image_id=image_id,
            width=image["width"],
            height=image["height"],
            boxes=np.array([e[0] for e in entries], dtype=np.float64).reshape(-1, 4),
            identities=tuple(e[1] for e in entries),
            ignore=np.array([e[2] for e in entries], dtype=bool),
            annotation_ids=np.array([e[3] for e in entries], dtype=np.int64),
            notes=tuple(e[4] for e in entries),
        )
    return pages
