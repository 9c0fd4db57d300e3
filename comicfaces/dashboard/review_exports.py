"""Downloads and uploads of the Review page, as bytes in and bytes out, without Streamlit.

Each export builds its file with :mod:`comicfaces.exports` in a temporary
folder and returns the bytes, which ``st.download_button`` sends. Each import
writes the uploaded bytes to ``WORKSPACE/imports/<sha256>.<suffix>`` (so the
corrections log can name the file it came from) and calls the backend.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces.cache import Workspace, atomic_write_bytes

logger = logging.getLogger(__name__)

IMPORTS_DIR = "imports"
EXPORTS_DIR = "exports"


def faces_csv_bytes(view: pd.DataFrame) -> bytes:
    """Return the corrected faces table (clusters, names, flags) as CSV bytes."""
    from comicfaces.exports import export_faces_csv

    with tempfile.TemporaryDirectory() as folder:
        return export_faces_csv(view, Path(folder) / "faces.csv").read_bytes()


def labels_csv_bytes(corrections, table: pd.DataFrame, include_unnamed: bool = False) -> bytes:
    """Return the names given by hand as an ``image_name,identity`` CSV (ground truth for evaluation).

    ``table`` is the run's own faces table; see :func:`comicfaces.corrections.labels_csv`.
    """
    from comicfaces.corrections import labels_csv

    return labels_csv(corrections, table, include_unnamed=include_unnamed).to_csv(index=False).encode("utf-8")


def run_json_bytes(record: Mapping, view: pd.DataFrame, extra: Mapping | None = None) -> bytes:
    """Return the run's configuration, metrics and correction counts as JSON bytes.

    ``extra`` adds keys, such as the scores against the corrections.
    """
    from comicfaces.exports import run_summary

    summary = run_summary(record, view)
    if extra:
        summary.update(extra)
    return json.dumps(summary, indent=2, sort_keys=True, default=_json_default).encode("utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def coco_bytes(view: pd.DataFrame, record: Mapping) -> bytes:
    """Return the face boxes with identities as COCO JSON; page runs with a known input path only.

    ``file_name`` values are relative to the parent of the pages folder, the
    layout :func:`comicfaces.annotations.load_face_annotations` reads when the
    JSON is saved beside that folder.
    """
    from comicfaces.exports import ExportError, export_coco

    source = record.get("input") or {}
    if source.get("kind") != "pages" or not source.get("path"):
        raise ExportError("COCO export needs a page run whose input path is known; runs on face crops or uploads have none")
    pages = Path(source["path"])
    root = pages.parent if pages.is_dir() else pages.parent.parent
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "faces_coco.json"
        export_coco(view, target, pages=pages, root=root)
        return target.read_bytes()


def character_zip_bytes(view: pd.DataFrame, record: Mapping) -> bytes:
    """Return a ZIP with a folder of crops per character, plus labels.csv, faces.csv and run.json."""
    from comicfaces.exports import export_character_zip

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "characters.zip"
        export_character_zip(view, target, record=record)
        return target.read_bytes()


def store_upload(workspace: Workspace, data: bytes, suffix: str) -> Path:
    """Write uploaded bytes to ``imports/<sha256><suffix>`` in the workspace and return the path."""
    from comicfaces.imageio import hash_bytes

    target = workspace.root / IMPORTS_DIR / f"{hash_bytes(data)}{suffix}"
    if not target.is_file():
        atomic_write_bytes(target, data)
    return target


def import_labels(corrections, view: pd.DataFrame, workspace: Workspace, data: bytes, *, manual: bool = False) -> dict:
    """Record the identities of an uploaded ``image_name,identity`` CSV as names of faces.

    Returns the corrections log entry (one action, undone as one).
    """
    from comicfaces.exports import import_labels_csv

    path = store_upload(workspace, data, ".csv")
    return import_labels_csv(corrections, view, path, manual=manual)


def import_coco_boxes(
    corrections,
    view: pd.DataFrame,
    workspace: Workspace,
    record: Mapping,
    data: bytes,
    *,
    add_missing: bool = True,
    manual: bool = False,
    iou: float = 0.5,
) -> dict:
    """Turn the boxes of an uploaded COCO file into corrections of a page run.

    Boxes with an ``identity`` (other than ``extra``) that match a face of the run (same page,
    IoU >= ``iou``) name that face, as one action. With ``add_missing``,
    boxes that match no face are added as faces the detector missed, named
    when they have an identity. With ``manual`` the named faces are also
    placed by hand, so each shows its name whatever its cluster.

    Pages are matched by file path, relative to the parent of the run's
    pages folder as in :func:`coco_bytes`, or by ``file_name`` equal to the page id.

    Returns
    -------
    dict
        ``named`` (faces named), ``added`` (faces added) and ``skipped``
        (boxes on pages that are not in the run, or outside their page).
    """
    from scipy.optimize import linear_sum_assignment

    from comicfaces.annotations import EXTRA_IDENTITY, load_face_annotations
    from comicfaces.boxes import iou_matrix
    from comicfaces.corrections import CorrectionsError
    from comicfaces.exports import ExportError
    from comicfaces.imageio import list_pages

    source = record.get("input") or {}
    if source.get("kind") != "pages" or not source.get("path"):
        raise ExportError("COCO boxes can be imported into a page run whose input path is known")
    pages_path = Path(source["path"])
    path = store_upload(workspace, data, ".json")
    root = pages_path.parent if pages_path.is_dir() else pages_path.parent.parent
    annotations = load_face_annotations(path, root=root)

    by_path = {page.path.resolve(): page.page_id for page in list_pages(pages_path) if page.member is None}
    page_ids = set(view["page"].astype(str))
    boxes = view[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64)
    pages = view["page"].astype(str).to_numpy()
    usable = ~view["rejected"].astype(bool).to_numpy()
    names: dict[str, str] = {}
    missing: list[tuple[str, list[float], str | None]] = []
    skipped = 0
    for file_name, truth in annotations.items():
        page_id = by_path.get(Path(truth.path).resolve(), file_name if file_name in page_ids else None)
        if page_id is None:
            skipped += len(truth)
            continue
        # One-off "extra" characters are not one character, so they get no name.
        labels = [None if identity == EXTRA_IDENTITY else identity for identity in truth.identities]
        rows = np.flatnonzero((pages == page_id) & usable)
        matched: set[int] = set()
        if rows.size and len(truth):
            overlap = iou_matrix(truth.boxes, boxes[rows])
            for i, j in zip(*linear_sum_assignment(overlap, maximize=True)):
                if overlap[i, j] >= iou:
                    matched.add(int(i))
                    if labels[i] is not None and not truth.ignore[i]:
                        names[str(view["face_id"].iloc[rows[j]])] = str(labels[i])
        for i in range(len(truth)):
            if i not in matched and not truth.ignore[i]:
                missing.append((page_id, truth.boxes[i].tolist(), labels[i]))

    if names:
        corrections.assign_names(view, names, manual=manual, source=str(path))
    added = 0
    if add_missing:
        for page_id, box, name in missing:
            try:
                corrections.add_face(workspace, record, page_id, box, name=name)
                added += 1
            except CorrectionsError as error:
                logger.warning("COCO box %s on %s not added: %s", box, page_id, error)
                skipped += 1
    if not names and not added:
        raise ExportError(f"{path.name}: no box of the file names a face of this run or adds a missed face")
    return {"named": len(names), "added": added, "skipped": skipped}


def export_project_archive(workspace: Workspace, run_keys: list[str], *, embed_inputs: bool = False) -> Path:
    """Write a project archive of runs to ``WORKSPACE/exports/`` and return its path.

    See :func:`comicfaces.project.export_project`; the stored records of the
    runs are completed with their input key first (:func:`review_records.ensure_stored_input`).
    """
    from comicfaces.dashboard.review_records import ensure_stored_input
    from comicfaces.project import export_project

    for run_key in run_keys:
        ensure_stored_input(workspace, workspace.load_run(run_key))
    name = "project-" + "-".join(key[:8] for key in run_keys[:3]) + ("-more" if len(run_keys) > 3 else "") + ".zip"
    target = workspace.root / EXPORTS_DIR / name
    export_project(workspace, run_keys, target, embed_inputs=embed_inputs)
    return target


def import_project_archive(workspace: Workspace, data: bytes):
    """Import an uploaded project archive into ``workspace``; return the :class:`~comicfaces.project.ImportReport`."""
    from comicfaces.project import import_project

    path = store_upload(workspace, data, ".zip")
    return import_project(path, workspace)
