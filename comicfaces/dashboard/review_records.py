"""Run records for reviewing: the input key and input path that corrections and exports need.

:func:`comicfaces.pipeline.run_pipeline` stores ``input.key`` (the key the
corrections of an input are filed under) and ``input.path`` in every run
record. Runs saved by the dashboard describe a demo comic by its size and seed
and uploads by their stored files, so :func:`complete_input` derives both
fields for them. A record without ``input.path`` cannot have faces added by
hand or be exported as COCO, because both read the pages.

Nothing here imports Streamlit at module level; the dashboard helpers that
locate the demo comic and uploads are imported only for such records.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from comicfaces.imageio import PageSource

logger = logging.getLogger(__name__)


def page_input_key(pages: Sequence[PageSource]) -> str:
    """Return the input key of a list of pages, as :func:`~comicfaces.pipeline.run_pipeline` computes it.

    Reads every page once to hash it.
    """
    from comicfaces.corrections import input_key_from_items
    from comicfaces.imageio import page_digest

    return input_key_from_items("pages", [(page.page_id, page_digest(page)) for page in pages])


def record_pages(record: Mapping, workspace_root: str | Path | None = None) -> list[PageSource]:
    """Return the pages of a page run, in the order of its ``page_index`` column.

    Raises
    ------
    ValueError
        If the run is not on pages, or its pages cannot be located.
    FileNotFoundError
        If the input folder or file no longer exists.
    """
    from comicfaces.imageio import list_pages

    source = record.get("input") or {}
    if source.get("kind") != "pages":
        raise ValueError(f"run {record.get('key')!r} is on a folder of face crops, which has no pages")
    if source.get("path"):
        return list_pages(source["path"])
    if source.get("source") == "demo" and workspace_root is not None:
        from comicfaces.dashboard.inputs import ensure_demo

        folder, _ = ensure_demo(workspace_root, int(source["demo_pages"]), int(source["demo_seed"]))
        return list_pages(folder)
    if source.get("source") == "uploads" and source.get("files"):
        from comicfaces.dashboard.inputs import upload_pages

        files = source["files"]
        return upload_pages(tuple(f["path"] for f in files), tuple(f["name"] for f in files))
    raise ValueError(f"run {record.get('key')!r} records no input path, so its pages cannot be found")


def complete_input(record: Mapping, workspace_root: str | Path | None = None) -> dict:
    """Return a copy of a run record with ``input.key`` and, where one exists, ``input.path``.

    Parameters
    ----------
    record : mapping
        A run record (``Workspace.load_run``) or the in-memory record of the
        dashboard's current results.
    workspace_root : str or Path, optional
        Workspace of the run; needed to find the demo comic of dashboard runs.

    Raises
    ------
    comicfaces.corrections.CorrectionsError
        If the key cannot be derived: the input is missing or unreadable.

    Notes
    -----
    Demo runs get the demo folder of the workspace as their path. Uploads
    have no single path; they get a key from their pages but no path.
    """
    from comicfaces.corrections import CorrectionsError, input_key_for

    completed = copy.deepcopy(dict(record))
    source = completed.setdefault("input", {})
    if source.get("kind") == "pages" and not source.get("path") and source.get("source") == "demo" and workspace_root is not None:
        from comicfaces.dashboard.inputs import demo_folder

        source["path"] = str(demo_folder(workspace_root, int(source["demo_pages"]), int(source["demo_seed"])).resolve())
    if source.get("key"):
        return completed
    if source.get("kind") == "pages" and not source.get("path"):
        try:
            source["key"] = page_input_key(record_pages(completed, workspace_root))
        except (OSError, ValueError, KeyError) as error:
            raise CorrectionsError(f"run {record.get('key')!r}: the pages of its input cannot be read ({error})") from error
        return completed
    source["key"] = input_key_for(completed)
    return completed


def ensure_stored_input(workspace, record: Mapping) -> dict:
    """Complete a stored run's input fields and write the record back when they were missing.

    Project archives and the command line read ``input.key`` and
    ``input.path`` from the stored record, so a run saved by the dashboard is
    completed once, in place.
    """
    completed = complete_input(record, workspace.root)
    if completed.get("input") != record.get("input"):
        workspace.save_run(completed)
        logger.info("run %s: stored its input key", completed.get("key"))
    return completed
