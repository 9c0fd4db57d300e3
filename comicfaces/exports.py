"""Exports of corrected runs, and imports of labels and boxes from other tools.

Exports take ``view``, the faces table returned by
:meth:`comicfaces.corrections.Corrections.apply`. A run's own table works too,
and its faces then have no names.

* :func:`export_faces_csv`: the table with clusters and names.
* :func:`export_crops`: the crops in a flat folder (``<face_id>.png``) or in one
  folder per character.
* :func:`export_coco`: COCO JSON of the face boxes with identities, in the
  layout :func:`comicfaces.annotations.load_face_annotations` reads.
* :func:`export_character_zip`: a ZIP with a folder per character, plus
  ``labels.csv``, ``faces.csv`` and ``run.json``.
* :func:`export_run_json`: the run's metrics and full configuration.

Imports:

* :func:`import_labels_csv`: an ``image_name,identity`` CSV, recorded as names
  of faces in the corrections.
* :func:`faces_from_coco`: COCO boxes of another annotation tool as detections,
  a face set whose crops are cut and cached.
* :func:`load_coco_truth` and :func:`coco_identities`: COCO boxes as ground
  truth, and the identity of each face of a run matched to them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces.cache import atomic_write_json, atomic_write_text
from comicfaces.corrections import crop_file_names

logger = logging.getLogger(__name__)

__all__ = [
    "ExportError",
    "character_folders",
    "coco_identities",
    "export_character_zip",
    "export_coco",
    "export_crops",
    "export_faces_csv",
    "export_run_json",
    "faces_from_coco",
    "import_labels_csv",
    "load_coco_truth",
]

#: Folder of the ZIP export that contains noise faces without a name.
UNASSIGNED = "unassigned"

_UNSAFE = re.compile(r"[^\w .,()'+-]+", re.UNICODE)


class ExportError(ValueError):
    """Export or import failure on invalid input. The message names the file or field."""


# -- helpers ---------------------------------------------------------------------------


def _check_table(view, needed: tuple[str, ...] = ("face_id", "cluster", "crop")) -> pd.DataFrame:
    if not isinstance(view, pd.DataFrame):
        raise ExportError(f"view must be a faces table (DataFrame), got {type(view).__name__}")
    missing = [column for column in needed if column not in view]
    if missing:
        raise ExportError(f"the faces table lacks column(s) {missing}; pass a run's table or Corrections.apply() output")
    view = view.reset_index(drop=True).copy()
    for column, default in (("name", ""), ("rejected", False), ("noise", False), ("added", False), ("manual", False)):
        if column not in view:
            view[column] = default
    view["name"] = view["name"].fillna("").astype(str)
    return view


def _not_rejected(view: pd.DataFrame) -> pd.DataFrame:
    return view[~view["rejected"].astype(bool)]


def _folder_name(name: str) -> str:
    """Return a folder name for a character: unsafe characters become '_'."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned or "unnamed"


def character_folders(view) -> list[str | None]:
    """Return the ZIP folder of each face: its name, ``cluster_N`` or ``unassigned``.

    Named faces go to a folder per name; faces of unnamed clusters to
    ``cluster_<cluster>``; unnamed noise faces to ``unassigned``. Rejected faces
    get None. Names that clean to the same folder name (``A/B`` and ``A_B``)
    or to a reserved one get a ``_2``, ``_3``, ... suffix.
    """
    view = _check_table(view, ("face_id", "cluster"))
    reserved = {UNASSIGNED} | {f"cluster_{int(c)}" for c in view["cluster"]}
    folder_of_name: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(set(view["name"]) - {""}):
        base = _folder_name(name)
        folder, suffix = base, 2
        while folder in used or folder in reserved:
            folder = f"{base}_{suffix}"
            suffix += 1
        used.add(folder)
        folder_of_name[name] = folder

    folders: list[str | None] = []
    for _, row in view.iterrows():
        if bool(row["rejected"]):
            folders.append(None)
        elif row["name"]:
            folders.append(folder_of_name[row["name"]])
        elif bool(row["noise"]):
            folders.append(UNASSIGNED)
        else:
            folders.append(f"cluster_{int(row['cluster'])}")
    return folders




# -- exports -----------------------------------------------------------------------------


def export_faces_csv(view, path: str | Path) -> Path:
    """Write the faces table with its clusters and names to ``path`` (atomic)."""
    view = _check_table(view, ("face_id", "cluster"))
    path = Path(path)
    atomic_write_text(path, view.to_csv(index=False))
    return path


def export_crops(view, folder: str | Path, *, by_character: bool = False) -> pd.DataFrame:
    """Copy the crops of the faces that are not rejected into ``folder``.

    Parameters
    ----------
    view : DataFrame
        Faces table (``Corrections.apply`` output or a run's table).
    folder : str or Path
        Output folder, created when missing.
    by_character : bool
        False writes the crops side by side under the names of
        :func:`comicfaces.corrections.crop_file_names` (``<face_id>.png`` for
        page runs), which :func:`comicfaces.corrections.labels_csv` uses;
        True puts them in one folder per character (see
        :func:`character_folders`).

    Returns
    -------
    DataFrame
        ``face_id``, ``image_name`` (path relative to ``folder``) and
        ``identity`` (name or empty) of each crop written. Faces whose crop
        file is missing are logged and left out.
    """
    from comicfaces.cache import atomic_write_bytes

    view = _check_table(view)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folders = character_folders(view) if by_character else [""] * len(view)
    rows, missing = [], []
    for (_, row), sub, name in zip(view.iterrows(), folders, crop_file_names(view)):
        if bool(row["rejected"]) or sub is None:
            continue
        source = Path(str(row["crop"]))
        if not source.is_file():
            missing.append(str(source))
            continue
        relative = f"{sub}/{name}" if sub else name
        atomic_write_bytes(folder / relative, source.read_bytes())
        rows.append({"face_id": row["face_id"], "image_name": relative, "identity": row["name"]})
    if missing:
        logger.warning("%d crop file(s) missing, left out of %s, e.g. %s", len(missing), folder, missing[0])
    return pd.DataFrame(rows, columns=["face_id", "image_name", "identity"])


def export_character_zip(view, path: str | Path, *, record: Mapping | None = None) -> dict:
    """Write a ZIP with a folder of crops per character.

    Named faces are in a folder per name, faces of unnamed clusters in
    ``cluster_<N>``, unnamed noise faces in ``unassigned``; rejected faces are
    left out. The archive also contains ``labels.csv`` (``image_name,identity`` of
    the named crops, so the unpacked folder can be passed to ``python -m
    comicfaces cluster FOLDER --labels FOLDER/labels.csv``), ``faces.csv`` and,
    with ``record``, ``run.json`` (see :func:`export_run_json`).

    Returns
    -------
    dict
        ``path``, ``n_crops``, ``folders`` (folder to count) and ``missing``
        (crop files not found, left out).
    """
    view = _check_table(view)
    path = Path(path)
    folders = character_folders(view)
    counts: dict[str, int] = {}
    labels, faces_rows, missing = [], [], []

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for (_, row), folder, name in zip(view.iterrows(), folders, crop_file_names(view)):
                if folder is None:
                    continue
                source = Path(str(row["crop"]))
                if not source.is_file():
                    missing.append(str(source))
                    continue
                member = f"{folder}/{name}"
                archive.write(source, member)
                counts[folder] = counts.get(folder, 0) + 1
                if row["name"]:
                    labels.append({"image_name": member, "identity": row["name"]})
                faces_rows.append({**row.to_dict(), "crop": member, "folder": folder})
            archive.writestr("labels.csv", pd.DataFrame(labels, columns=["image_name", "identity"]).to_csv(index=False))
            archive.writestr("faces.csv", pd.DataFrame(faces_rows).to_csv(index=False))
            if record is not None:
                archive.writestr("run.json", json.dumps(run_summary(record, view), indent=2, sort_keys=True, default=str))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if missing:
        logger.warning("%d crop file(s) missing, left out of %s, e.g. %s", len(missing), path, missing[0])
    return {"path": path, "n_crops": sum(counts.values()), "folders": counts, "missing": missing}


def run_summary(record: Mapping, view=None) -> dict:
    """Return the run's key, input, full configuration, metrics and correction counts."""
    summary = {
        "key": record.get("key"),
        "name": record.get("name"),
        "version": record.get("version"),
        "input": record.get("input"),
        "config": record.get("config"),
        "metrics": record.get("metrics"),
        "detection": record.get("detection"),
        "n_faces": record.get("n_faces"),
        "n_clusters": record.get("n_clusters"),
        "n_noise": record.get("n_noise"),
    }
    if view is not None:
        view = _check_table(view, ("face_id", "cluster"))
        kept = _not_rejected(view)
        summary["corrections"] = {
            "n_named_faces": int((kept["name"] != "").sum()),
            "names": sorted(set(kept["name"]) - {""}),
            "n_rejected": int(view["rejected"].astype(bool).sum()),
            "n_added": int(view["added"].astype(bool).sum()),
            "n_manual": int(view["manual"].astype(bool).sum()),
            "n_clusters": int(kept["cluster"].nunique()),
        }
    return summary


def export_run_json(record: Mapping, path: str | Path, view=None) -> Path:
    """Write :func:`run_summary` of a run as JSON to ``path`` (atomic)."""
    if not isinstance(record, Mapping) or "config" not in record:
        raise ExportError("record must be a run record with a 'config' (Workspace.load_run or RunResult.record)")
    path = Path(path)
    atomic_write_json(path, run_summary(record, view))
    return path


def export_coco(
    view,
    path: str | Path,
    *,
    pages: str | Path,
    root: str | Path | None = None,
    include_rejected: bool = False,
    cluster_identities: bool = False,
) -> dict:
    """Write the face boxes of a page run as COCO JSON with identities.

    Parameters
    ----------
    view : DataFrame
        Faces table of a page run, with ``page`` and box columns.
    path : str or Path
        Output JSON file.
    pages : str or Path
        The run's input (``record["input"]["path"]``): page sizes are read
        from it, and every page becomes an image record, faces or not.
    root : str or Path, optional
        Folder that ``file_name`` values are relative to; by default the
        parent of the output file's folder, where the annotation loader looks.
    include_rejected : bool
        Keep rejected boxes, marked ``ignore: true``; they are left out otherwise.
    cluster_identities : bool
        Give faces of unnamed clusters the identity ``cluster_<N>``; they have
        no identity otherwise.

    Returns
    -------
    dict
        The written COCO data.

    Notes
    -----
    ``bbox`` is ``[x0, y0, x1 - x0, y1 - y0]`` in integer pixels. Pages inside a
    CBZ archive cannot be named by a file path; their ``file_name`` is the page id.
    """
    from PIL import Image

    from comicfaces.imageio import list_pages

    view = _check_table(view, ("face_id", "cluster", "page", "x0", "y0", "x1", "y1"))
    path = Path(path)
    if not isinstance(include_rejected, bool):
        raise ExportError(f"include_rejected must be True or False, got {include_rejected!r}")
    root = path.resolve().parent.parent if root is None else Path(root).resolve()
    sources = list_pages(pages)
    if not sources:
        raise ExportError(f"no pages found in {pages}")

    images, image_id_of = [], {}
    for image_id, source in enumerate(sources, start=1):
        try:
            with Image.open(io.BytesIO(source.read_bytes())) as image:
                width, height = image.size
        except (OSError, Image.UnidentifiedImageError) as error:
            logger.warning("page %s left out of the COCO export: %s", source.page_id, error)
            continue
        if source.member is None:
            file_name = Path(os.path.relpath(source.path.resolve(), root)).as_posix()
        else:
            file_name = source.page_id
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height, "page": source.page_id})
        image_id_of[source.page_id] = (image_id, width, height)

    annotations = []
    for _, row in view.iterrows():
        rejected = bool(row["rejected"])
        if rejected and not include_rejected:
            continue
        page = str(row["page"])
        if page not in image_id_of:
            raise ExportError(f"face {row['face_id']!r} is on page {page!r}, which is not among the pages of {pages}")
        image_id, width, height = image_id_of[page]
        x0, y0 = max(0, int(row["x0"])), max(0, int(row["y0"]))
        x1, y1 = min(width, int(row["x1"])), min(height, int(row["y1"]))
        if x1 <= x0 or y1 <= y0:
            logger.warning("face %s has an empty box inside its page; left out", row["face_id"])
            continue
        record = {
            "id": len(annotations) + 1,
            "image_id": image_id,
            "category_id": 1,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0),
            "iscrowd": 0,
            "ignore": rejected,
            "face_id": str(row["face_id"]),
            "cluster": int(row["cluster"]),
            "manual": bool(row["manual"]),
            "added": bool(row["added"]),
        }
        if row["name"] and not rejected:
            record["identity"] = row["name"]
        elif cluster_identities and not rejected and not bool(row["noise"]):
            record["identity"] = f"cluster_{int(row['cluster'])}"
        score = row.get("score")
        if isinstance(score, (int, float, np.floating)) and np.isfinite(score):
            record["score"] = float(score)
        if "detector" in row and isinstance(row["detector"], str):
            record["detector"] = row["detector"]
        annotations.append(record)

    data = {
        "info": {"description": "comicfaces face boxes with identities", "root": str(root)},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "face"}],
        "identities": sorted({a["identity"] for a in annotations if "identity" in a}),
    }
    atomic_write_json(path, data)
    return data


# -- imports -----------------------------------------------------------------------------


def import_labels_csv(corrections, view, path: str | Path, *, manual: bool = False) -> dict:
    """Record the identities of an ``image_name,identity`` CSV as names of faces.

    ``image_name`` may be the face id, the crop name of
    :func:`comicfaces.corrections.crop_file_names` (``<face_id>.png``), or the
    crop's file name; the form that matches most rows is used. Rows without
    an identity are skipped. The names form one action, undone as one.

    Raises
    ------
    ExportError
        If the file is missing, lacks a column, gives one image two
        identities, or names images that are not in ``view``.
    """
    from comicfaces.metrics import labels_from_csv

    view = _check_table(view, ("face_id", "cluster", "crop"))
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"labels file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            names_in_csv = {(row.get("image_name") or "").strip() for row in csv.DictReader(handle)} - {""}
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExportError(f"{path}: not a readable UTF-8 CSV ({error})") from error

    forms = {
        "face_id": [str(face) for face in view["face_id"]],
        "crop name": crop_file_names(view),
        "crop file": [Path(str(crop)).name for crop in view["crop"]],
    }
    best = max(forms, key=lambda form: len(names_in_csv & set(forms[form])))
    try:
        identities = labels_from_csv(path, forms[best])
    except ValueError as error:
        raise ExportError(f"{error} (image names compared as {best}s of the run's faces)") from error

    names = {str(face): identity for face, identity in zip(view["face_id"], identities) if identity is not None}
    if not names:
        raise ExportError(f"{path}: no row names a face of this run with an identity")
    return corrections.assign_names(view, names, manual=manual, source=str(path))


def load_coco_truth(path: str | Path, root: str | Path | None = None):
    """Read and validate COCO face annotations as ground truth.

    Wraps :func:`comicfaces.annotations.load_face_annotations`, which raises
    :class:`~comicfaces.annotations.AnnotationError` naming the file and the
    record for any malformed field. Returns ``file_name`` to ``PageTruth``.
    """
    from comicfaces.annotations import load_face_annotations

    return load_face_annotations(path, root=root)


def _page_of_truth(table: pd.DataFrame, annotations: Mapping, pages: str | Path | None) -> dict[str, object]:
    """Map the run's page ids to annotated pages: by file path, else by name."""
    page_ids = set(table["page"].astype(str))
    result = {}
    if pages is not None:
        from comicfaces.imageio import list_pages

        by_path = {source.path.resolve(): source.page_id for source in list_pages(pages) if source.member is None}
        for truth in annotations.values():
            page_id = by_path.get(Path(truth.path).resolve())
            if page_id is not None:
                result[page_id] = truth
    for file_name, truth in annotations.items():
        if file_name in page_ids and file_name not in result:
            result[file_name] = truth
    return result


def coco_identities(
    table: pd.DataFrame,
    coco_path: str | Path,
    *,
    root: str | Path | None = None,
    pages: str | Path | None = None,
    iou: float = 0.5,
) -> list[str | None]:
    """Return the identity of the COCO box each face of a page run matches.

    Pages are matched by file path when ``pages`` (the run's input) is given,
    and by ``file_name`` equal to the page id otherwise. Faces match boxes of
    their page at IoU >= ``iou``, one to one by maximum total IoU; ignored
    boxes and unmatched faces give None, and each ``extra`` face its own
    ``extra#<annotation id>`` label.
    """
    from scipy.optimize import linear_sum_assignment

    from comicfaces.boxes import iou_matrix

    if isinstance(iou, bool) or not isinstance(iou, (int, float)) or not 0 < iou <= 1:
        raise ExportError(f"iou must be a number in (0, 1], got {iou!r}")
    view = _check_table(table, ("face_id", "page", "x0", "y0", "x1", "y1"))
    annotations = load_coco_truth(coco_path, root=root)
    truth_of_page = _page_of_truth(view, annotations, pages)
    if not truth_of_page:
        raise ExportError(f"{coco_path}: none of its images is a page of this run; check root= or pages=")

    identities: list[str | None] = [None] * len(view)
    boxes = view[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64)
    page_ids = view["page"].astype(str).to_numpy()
    for page_id, truth in truth_of_page.items():
        rows = np.flatnonzero(page_ids == page_id)
        if rows.size == 0 or len(truth) == 0:
            continue
        overlap = iou_matrix(boxes[rows], truth.boxes)
        labels = truth.cluster_labels()
        for i, j in zip(*linear_sum_assignment(overlap, maximize=True)):
            if overlap[i, j] >= iou and not truth.ignore[j]:
                identities[rows[i]] = labels[j]
    return identities


def faces_from_coco(
    workspace,
    coco_path: str | Path,
    *,
    root: str | Path | None = None,
    margin: float = 0.2,
    include_ignored: bool = False,
):
    """Read COCO boxes of another annotation tool as detected faces.

    Every box of category ``face`` (ignored ones only with
    ``include_ignored``) becomes a face, with or without an identity. Crops
    are cut with ``margin`` times the box size added on every side and cached
    in ``workspace`` (stage ``coco_crops``). Pages that cannot be read are
    listed in ``errors`` and skipped.

    Returns
    -------
    comicfaces.facesets.FaceSet
        Its table has the columns of a page run (``face_id`` is
        ``p{page_index:04d}_f{index:03d}``, ``detector`` is ``"coco"``, ``score``
        the annotation's ``score`` or 1.0) plus ``identity``, ready for
        :func:`comicfaces.pipeline.cluster_face_set`.
    """
    from comicfaces.boxes import expand_boxes
    from comicfaces.cache import make_key, save_array
    from comicfaces.facesets import FaceSet
    from comicfaces.imageio import ImageLoadError, PageSource, load_image, page_digest, save_image
    from comicfaces.pipeline import FACE_COLUMNS

    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 2:
        raise ExportError(f"margin must be a number in [0, 2], got {margin!r}")
    annotations = load_coco_truth(coco_path, root=root)
    scores = _coco_scores(coco_path)
    rows, errors, keys = [], [], []
    for page_index, (file_name, truth) in enumerate(annotations.items()):
        keep = [i for i in range(len(truth)) if include_ignored or not truth.ignore[i]]
        if not keep:
            continue
        page = PageSource(file_name, Path(truth.path))
        boxes = truth.boxes[keep]
        try:
            digest = page_digest(page)
            key = make_key("coco_crops", digest, {"boxes": boxes.tolist(), "margin": float(margin)})
            if not workspace.has("coco_crops", key):
                image = load_image(page.path, max_side=None)
                height, width = image.shape[:2]
                if (width, height) != (truth.width, truth.height):
                    raise ImageLoadError(f"{page.path}: image is {width}x{height} but the annotation file states {truth.width}x{truth.height}")
                crop_boxes = expand_boxes(boxes, margin, width, height).astype(int)
                with workspace.writing("coco_crops", key, {"page": file_name}) as folder:
                    save_array(folder, "boxes", boxes)
                    for index, (x0, y0, x1, y1) in enumerate(crop_boxes):
                        save_image(folder / f"crop_{index:04d}.png", image[y0:y1, x0:x1])
        except (ImageLoadError, OSError) as error:
            errors.append({"page": file_name, "error": str(error)})
            logger.error("annotated page skipped: %s", error)
            continue
        folder = workspace.entry_dir("coco_crops", key)
        keys.append(key)
        for index, box_index in enumerate(keep):
            x0, y0, x1, y1 = truth.boxes[box_index]
            rows.append(
                {
                    "face_id": f"p{page_index:04d}_f{index:03d}",
                    "page": file_name,
                    "page_index": page_index,
                    "panel": -1,
                    "x0": int(round(x0)),
                    "y0": int(round(y0)),
                    "x1": int(round(x1)),
                    "y1": int(round(y1)),
                    "detector": "coco",
                    "score": scores.get(int(truth.annotation_ids[box_index]), 1.0),
                    "crop": str(folder / f"crop_{index:04d}.png"),
                    "identity": truth.cluster_labels()[box_index],
                }
            )
    if not rows:
        raise ExportError(f"{coco_path}: no readable page with a face box")
    table = pd.DataFrame(rows, columns=[*FACE_COLUMNS, "identity"])
    return FaceSet(key=make_key("faceset", keys, {"source": "coco"}), table=table, source=str(coco_path), errors=errors)


def _coco_scores(path: str | Path) -> dict[int, float]:
    """Return annotation id to ``score`` for annotations that have a numeric score."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    scores = {}
    for record in data.get("annotations", []):
        score = record.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and np.isfinite(score):
            scores[int(record["id"])] = float(score)
    return scores
