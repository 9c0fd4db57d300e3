"""Home page: what comicfaces does, the pipeline diagram, the current input and workspace."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, state
from comicfaces.dashboard.views.common import USER_ERRORS, error_message

#: The pipeline diagram, drawn by figures/make_pipeline_diagram.py.
DIAGRAM = Path(__file__).resolve().parents[3] / "figures" / "pipeline.svg"

PAGES = [
    ("Input", "Pick the comic: the built-in demo, a folder of pages or a .cbz, uploads, or a folder of face crops."),
    ("Panels", "Panel boxes drawn over each page, numbered in reading order."),
    ("Text", "Text lines and speech balloons found on each page, and the page with the text blanked out."),
    ("Faces", "Face boxes of every detector, the cropped faces, and detection precision and recall on the demo."),
    ("Features", "The feature vector of each face crop (HOG, colour histograms ...)."),
    ("Reduction", "Optional PCA before clustering, its explained variance, and a 2-D map of the faces."),
    ("Clustering", "Faces grouped by character: one gallery per cluster, largest first, noise last."),
    ("Evaluation", "Clustering scores against known identities, and the runs stored in the workspace."),
]


def introduction() -> None:
    """Explain the tool and show the pipeline diagram."""
    st.markdown(
        "**comicfaces** finds every face of every character in comic pages and groups the faces "
        "by character. It is built for comics scholars, archivists, translators and machine-learning "
        "researchers who need to know who appears where, without labelling faces by hand."
    )
    if DIAGRAM.is_file():
        st.image(str(DIAGRAM), caption="Pipeline stages; each one is cached in the workspace.", width="stretch")
    st.markdown(
        "Pages are split into **panels**; **text** and speech balloons are found and blanked so that "
        "lettering is not taken for faces; several **face detectors** run on the cleaned page and their "
        "boxes are merged; each face is **cropped** and turned into a **feature** vector; the vectors are "
        "optionally **reduced** (PCA, UMAP, autoencoders) and **clustered** (by default agglomerative "
        "clustering that chooses the number of characters by silhouette and never puts two faces of one "
        "panel together). When identities are known, the "
        "**evaluation** scores the clusters against them."
    )


def page_guide() -> None:
    """List the pages of the dashboard."""
    st.subheader("Pages")
    st.markdown("\n".join(f"{index}. **{name}**: {text}" for index, (name, text) in enumerate(PAGES, start=1)))
    st.caption(
        "Every stage page has its parameters in the sidebar. Results are cached on disk in the workspace "
        "and in memory, and a badge on each page says where a result came from."
    )


def current_setup(context: cached.Context | None) -> None:
    """Show the current input and the workspace: cached entries per stage and stored runs."""
    st.subheader("Current input and workspace")
    spec = state.current_input()
    left, right = st.columns(2)
    left.markdown(f"**Input:** {spec.describe()}")
    if context is None:
        left.warning("The current input cannot be read; pick another one on the Input page.")
    else:
        left.markdown(f"**Files:** {len(context.fingerprint)}")

    root = state.workspace_root()
    right.markdown(f"**Workspace:** `{root}`")
    try:
        workspace = cached.get_workspace(root)
        entries = workspace.list_entries()
        runs = workspace.list_runs()
    except USER_ERRORS as error:
        right.error(f"Workspace {root} cannot be read: {error_message(error)}")
        return
    counts = pd.Series([entry.get("stage", "?") for entry in entries], dtype=str).value_counts()
    right.markdown(f"**Cached results:** {len(entries)}  ·  **Stored runs:** {len(runs)}")
    if len(counts):
        right.dataframe(
            counts.rename_axis("stage").reset_index(name="entries"), hide_index=True, width="stretch"
        )


def command_line() -> None:
    """Show the command-line equivalents of the dashboard."""
    with st.expander("Command line"):
        st.code(
            "python -m comicfaces demo --out out/demo          # the demo comic, end to end\n"
            "python -m comicfaces run PAGES --out out/run       # a folder of pages or a .cbz\n"
            "python -m comicfaces cluster FACES --labels labels.csv\n"
            "python -m comicfaces runs list                     # runs stored in the workspace\n"
            "streamlit run app.py                               # this dashboard",
            language="bash",
        )
