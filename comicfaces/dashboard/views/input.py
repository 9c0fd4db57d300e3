"""Input page: choose the demo comic, a folder of pages, uploads or a folder of face crops."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import streamlit as st

from comicfaces.dashboard import inputs, state
from comicfaces.dashboard.state import InputSpec
from comicfaces.dashboard.views.common import USER_ERRORS, error_message, load_context
from comicfaces.imageio import ARCHIVE_EXTENSIONS, IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

KIND_LABELS = {
    "demo": "Demo comic",
    "folder": "Folder, image or .cbz on this machine",
    "uploads": "Upload pages or .cbz",
    "faces": "Folder of face crops",
}


def kind_choice() -> str:
    """Draw the choice of input kind, starting at the current input's kind."""
    current = state.current_input().kind
    kinds = list(KIND_LABELS)
    return st.radio(
        "Input",
        kinds,
        index=kinds.index(current),
        format_func=KIND_LABELS.__getitem__,
        horizontal=True,
        key="_w_input_kind",
    )


def demo_form() -> None:
    """Choose the size and seed of the demo comic."""
    current = state.current_input()
    st.markdown(
        "A comic drawn by code, with seven recurring characters and speech balloons. Its ground truth "
        "(every face boxed and named) gives detection precision and recall and clustering scores."
    )
    pages_column, seed_column = st.columns(2)
    n_pages = pages_column.number_input(
        "Pages", min_value=1, max_value=state.MAX_DEMO_PAGES, value=current.demo_pages, step=1, key="_w_demo_pages"
    )
    seed = seed_column.number_input("Seed", min_value=0, value=current.demo_seed, step=1, key="_w_demo_seed")
    if st.button("Use the demo comic", key="use_demo", type="primary"):
        spec = InputSpec(kind="demo", demo_pages=int(n_pages), demo_seed=int(seed))
        _apply(spec)


def folder_form() -> None:
    """Type the path of a folder of pages, one image or a .cbz archive."""
    current = state.current_input()
    path = st.text_input(
        "Path",
        value=current.paths[0] if current.kind == "folder" else "",
        key="input_folder",
        placeholder="/data/comics/issue01  or  /data/comics/issue01.cbz",
        help="Folders are searched recursively; pages are ordered by natural sort (page9 before page10).",
    )
    if st.button("Use this path", key="use_folder", type="primary"):
        _apply(InputSpec(kind="folder", paths=(path.strip(),)))


def upload_form() -> None:
    """Upload page images and .cbz archives; each is checked and stored in the workspace."""
    files = st.file_uploader(
        "Pages or .cbz archives",
        type=[ext.lstrip(".") for ext in IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS],
        accept_multiple_files=True,
        key="_w_uploads",
    )
    if st.button("Use the uploaded files", key="use_uploads", type="primary", disabled=not files):
        paths, names = [], []
        for file in files:
            try:
                paths.append(str(inputs.save_upload(state.workspace_root(), file.name, file.getvalue())))
                names.append(file.name)
            except USER_ERRORS as error:
                logger.error("upload %s rejected: %s", file.name, error)
                st.error(f"Upload rejected: {error_message(error)}")
        if paths:
            _apply(InputSpec(kind="uploads", paths=tuple(paths), names=tuple(names)))
        else:
            st.warning("No uploaded file could be used; the input is unchanged.")


def faces_form() -> None:
    """Type a folder of ready face crops and an optional labels CSV."""
    current = state.current_input()
    folder = st.text_input(
        "Folder of face crops",
        value=current.paths[0] if current.kind == "faces" else "",
        key="input_faces",
        help="Every image under the folder is one face. The page stages are skipped.",
    )
    labels = st.text_input(
        "Labels CSV (optional)",
        value=(current.labels or "") if current.kind == "faces" else "",
        key="input_labels",
        help="Columns image_name,identity; image_name is the crop's path relative to the folder. Enables the scores.",
    )
    if st.button("Use this folder of crops", key="use_faces", type="primary"):
        spec = InputSpec(kind="faces", paths=(folder.strip(),), labels=labels.strip() or None)
        try:
            count = inputs.check_faces_folder(folder, spec.labels)
        except USER_ERRORS as error:
            st.error(f"Input not changed: {error_message(error)}")
            return
        state.set_input(spec)
        st.success(f"Input set: {count} face crop(s) in {folder}.")


def _apply(spec: InputSpec) -> None:
    """Make ``spec`` the input when its pages can be listed; show the error otherwise."""
    try:
        with st.spinner("Reading the input..."):
            pages, _ = inputs.resolve_pages(state.workspace_root(), spec)
    except USER_ERRORS as error:
        st.error(f"Input not changed: {error_message(error)}")
        return
    state.set_input(spec)
    st.success(f"Input set: {len(pages)} page(s).")


def current_summary() -> None:
    """Show the current input (after any change made above) and its pages or crops."""
    st.subheader("Current input")
    spec = state.current_input()
    st.markdown(spec.describe())
    try:
        context = load_context()
    except USER_ERRORS as error:
        st.error(f"The current input cannot be read: {error_message(error)}")
        return

    if spec.has_pages:
        pages, truth = inputs.resolve_pages(context.workspace_root, spec)
        table = pd.DataFrame(
            {
                "page": [p.page_id for p in pages],
                "file": [p.path.name + (f" : {p.member}" if p.member else "") for p in pages],
            }
        )
        st.caption(f"{len(pages)} page(s)" + (f"; ground truth: {truth}" if truth else ""))
        st.dataframe(table, hide_index=True, width="stretch", height=min(400, 40 + 35 * len(table)))
    else:
        st.caption(
            f"{len(context.fingerprint) - (1 if spec.labels else 0)} crop file(s)"
            + (f"; labels: {spec.labels}" if spec.labels else "; no labels, so only internal scores are available")
        )
    folder = Path(context.workspace_root)
    st.caption(f"Uploads and the demo are stored under `{folder / inputs.UPLOADS_DIR}` and `{folder / inputs.DEMO_DIR}`.")
