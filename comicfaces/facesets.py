"""Face sets: the faces a run clusters, from pages, from a folder of crops or from annotations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from comicfaces.cache import make_key
from comicfaces.imageio import IMAGE_EXTENSIONS, ImageLoadError, decode_image, hash_bytes, load_image, natural_key

if TYPE_CHECKING:
    from comicfaces.pipeline import PageResult

logger = logging.getLogger(__name__)

@dataclass
class FaceSet:
    """The faces a run clusters: a table and a key identifying its content.

    ``table`` has one row per face with at least ``face_id`` and ``crop`` (path
    of the crop image); rows from pages also carry page, panel and box columns.
    ``identity`` holds ground-truth labels where known (None elsewhere).
    """

    key: str
    table: pd.DataFrame
    source: str
    errors: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)

    def load_crops(self) -> list[np.ndarray]:
        """Load every crop as an RGB array (raises ImageLoadError naming the file)."""
        return [load_image(path, max_side=1024) for path in self.table["crop"]]


def face_set_from_pages(results: Sequence[PageResult]) -> FaceSet:
    """Concatenate the faces found on pages into one face set."""
    tables = [r.faces for r in results if r.error is None and len(r.faces)]
    if tables:
        table = pd.concat(tables, ignore_index=True)
    else:
        from comicfaces.pipeline import FACE_COLUMNS

        table = pd.DataFrame(columns=FACE_COLUMNS)
    key = make_key("faceset", [str(Path(c).parent.name) + "/" + Path(c).name for c in table["crop"]], {})
    errors = [{"page": r.page_id, "error": r.error} for r in results if r.error]
    return FaceSet(key=key, table=table, source="pages", errors=errors)


def face_set_from_folder(folder: str | Path, labels_csv: str | Path | None = None) -> FaceSet:
    """Build a face set from a folder of ready face crops.

    Crops that cannot be read are reported in ``errors`` and left out. With
    ``labels_csv`` (columns ``image_name,identity``) the ``identity`` column is
    filled; names in the CSV that match no crop are logged as a warning.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"face folder not found: {folder}; give a folder of face crop images")
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")),
        key=lambda p: natural_key(p.relative_to(folder).as_posix()),
    )
    if not files:
        raise ValueError(f"no images found in {folder}; supported types are {', '.join(IMAGE_EXTENSIONS)}")

    rows, errors, digests = [], [], []
    for file in files:
        name = file.relative_to(folder).as_posix()
        data = file.read_bytes()
        try:
            decode_image(data, name, max_side=1024)
        except ImageLoadError as error:
            errors.append({"page": name, "error": str(error)})
            logger.error("crop skipped: %s", error)
            continue
        digests.append(hash_bytes(data))
        rows.append({"face_id": name, "image_name": name, "crop": str(file)})
    table = pd.DataFrame(rows)

    if labels_csv is not None:
        from comicfaces.metrics import labels_from_csv

        # Names in the CSV with no crop here are reported and skipped, so a label
        # file of a whole collection also scores a subset of it.
        table["identity"] = labels_from_csv(labels_csv, list(table["image_name"]), strict=False)
    key = make_key("faceset", sorted(zip(table["image_name"], digests)) if len(table) else [], {})
    return FaceSet(key=key, table=table, source=str(folder), errors=errors)


def face_set_from_annotations(
    workspace,
    coco_path: str | Path,
    *,
    root: str | Path | None = None,
    margin: float = 0.2,
    exclude_identities: Sequence[str] = ("extra",),
    panel_config=None,
) -> FaceSet:
    """Build a labelled face set from the boxes of COCO face annotations.

    Each regular box (not marked ignore, identity not in ``exclude_identities``)
    is cut from its page with ``margin`` times its size added on every side.
    The crops are cached in ``workspace``. Faces get ``page``, ``page_index``,
    ``panel`` (from the panels stage with ``panel_config``) and ``identity``.
    Pages that cannot be read are reported in ``errors``.
    """
    from comicfaces.annotations import load_face_annotations
    from comicfaces.boxes import expand_boxes
    from comicfaces.cache import load_array, save_array
    from comicfaces.imageio import PageSource, page_digest, save_image
    from comicfaces.pipeline import PageProcessor, _panel_of

    annotations = load_face_annotations(coco_path, root=root)
    processor = None
    if panel_config is not None:
        from comicfaces.config import PipelineConfig

        processor = PageProcessor(workspace, PipelineConfig().replace(panels=panel_config))
    rows, errors, keys = [], [], []
    for page_index, (file_name, truth) in enumerate(annotations.items()):
        keep = [
            i for i, identity in enumerate(truth.identities) if not truth.ignore[i] and identity is not None and identity not in exclude_identities
        ]
        if not keep:
            continue
        page = PageSource(file_name, Path(truth.path))
        try:
            digest = page_digest(page)
            boxes = truth.boxes[keep]
            key = make_key("annotated_crops", digest, {"boxes": boxes.tolist(), "margin": margin})
            if not workspace.has("annotated_crops", key):
                image = load_image(page.path, max_side=None)
                height, width = image.shape[:2]
                crop_boxes = expand_boxes(boxes, margin, width, height).astype(int)
                with workspace.writing("annotated_crops", key, {"page": file_name}) as folder:
                    save_array(folder, "boxes", boxes)
                    for index, (x0, y0, x1, y1) in enumerate(crop_boxes):
                        save_image(folder / f"crop_{index:04d}.png", image[y0:y1, x0:x1])
            folder = workspace.entry_dir("annotated_crops", key)
            panels = np.zeros((0, 4))
            if processor is not None:
                panel_dir, _, _ = processor.panels_entry(page, digest, {})
                panels = load_array(panel_dir, "panels")
        except (ImageLoadError, OSError) as error:
            errors.append({"page": file_name, "error": str(error)})
            logger.error("annotated page skipped: %s", error)
            continue
        keys.append(key)
        for index, box_index in enumerate(keep):
            box = truth.boxes[box_index]
            rows.append(
                {
                    "face_id": f"{file_name}#{int(truth.annotation_ids[box_index])}",
                    "page": file_name,
                    "page_index": page_index,
                    "panel": _panel_of(box, panels),
                    "x0": int(box[0]),
                    "y0": int(box[1]),
                    "x1": int(box[2]),
                    "y1": int(box[3]),
                    "identity": truth.identities[box_index],
                    "crop": str(folder / f"crop_{index:04d}.png"),
                }
            )
    if not rows:
        raise ValueError(f"{coco_path}: no regular annotated face left after excluding {list(exclude_identities)}")
    table = pd.DataFrame(rows)
    return FaceSet(key=make_key("faceset", keys, {"panels": repr(panel_config)}), table=table, source=str(coco_path), errors=errors)
