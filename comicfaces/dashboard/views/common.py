"""Parts every page shares: page setup, sidebar, error display, origin badges, page picker."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, inputs, state
from comicfaces.imageio import ImageLoadError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors that bad input or parameters cause; the page shows them and goes on rendering.
#: RuntimeError covers ``NoDetectorAvailableError`` (no face detector can run here).
USER_ERRORS = (FileNotFoundError, ImageLoadError, ValueError, OSError, RuntimeError, KeyError)

PAGE_KEY = "cf_page"

_BADGES = {
    cached.ORIGIN_MEMORY: ("in-memory cache", "blue", ":material/memory:"),
    cached.ORIGIN_DISK: ("on-disk cache", "green", ":material/hard_drive:"),
    cached.ORIGIN_COMPUTED: ("computed now", "orange", ":material/bolt:"),
}


def format_score(value) -> str:
    """Return a score with three decimals, or "n/a" for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.3f}"


def error_message(error: BaseException) -> str:
    """Return the message of an exception as a user reads it (KeyError without quotes)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__


def page_setup(title: str, icon: str, intro: str, *, require_input: bool = True) -> cached.Context | None:
    """Configure the page, draw the title and the sidebar, and return the context.

    An input that cannot be read is shown with ``st.error``. With
    ``require_input`` the page then stops, with the sidebar still usable.
    Without it, the function returns None.
    """
    st.set_page_config(page_title=f"{title} - comicfaces", page_icon=icon, layout="wide")
    st.title(f"{icon} {title}")
    st.caption(intro)
    workspace_sidebar()
    try:
        context = load_context()
    except USER_ERRORS as error:
        st.sidebar.error(f"Input: {error_message(error)}")
        if require_input:
            st.error(f"The current input cannot be read: {error_message(error)}")
            st.info("Pick another input on the **Input** page.")
            st.stop()
        return None
    st.sidebar.caption(f"**Input:** {context.spec.describe()} (change it on the Input page)")
    return context


def load_context() -> cached.Context:
    """Return the context of this run; raise the error of an unreadable input."""
    root = state.workspace_root()
    spec = state.current_input()
    config = state.current_config()
    fingerprint = inputs.input_fingerprint(root, spec)
    return cached.Context(root, spec, fingerprint, config)


def workspace_sidebar() -> None:
    """Draw the workspace folder setting in the sidebar."""
    current = state.workspace_root()
    st.sidebar.text_input(
        "Workspace folder",
        value=current,
        key="_w_workspace",
        on_change=_change_workspace,
        help="Cache of every stage and store of saved runs; shared with the command line (--workspace).",
    )
    problem = st.session_state.get("cf_workspace_error")
    if problem:
        st.sidebar.error(problem)


def _change_workspace() -> None:
    root = str(st.session_state.get("_w_workspace", "")).strip()
    if not root:
        st.session_state["cf_workspace_error"] = "The workspace folder is empty; type a folder path."
        return
    try:
        cached.get_workspace(str(Path(root).expanduser()))
    except OSError as error:
        st.session_state["cf_workspace_error"] = f"Workspace {root} cannot be used: {error}"
        return
    st.session_state["cf_workspace_error"] = None
    state.set_workspace_root(root)


def guarded(function: Callable[..., T], *args: Any, what: str = "This stage") -> T:
    """Call ``function``; on a user error show it with ``st.error`` and stop the page."""
    try:
        return function(*args)
    except USER_ERRORS as error:
        logger.error("%s failed: %s", what, error)
        st.error(f"{what} failed: {error_message(error)}")
        st.stop()
        raise  # st.stop raises; this line is never reached.


def show_origin(output: cached.StageOutput, label: str) -> None:
    """Draw a badge saying whether ``output`` came from memory, the disk cache or a computation."""
    text, colour, icon = _BADGES[output.origin]
    key = f", cache key `{output.key[:12]}`" if output.key else ""
    timing = "" if output.origin == cached.ORIGIN_MEMORY else f" in {output.seconds:.2f} s"
    st.badge(f"{label}: {text}", color=colour, icon=icon)
    st.caption(f"{label} result: {text}{timing}{key}")


def skipped_pages(results: Sequence) -> None:
    """List the pages that could not be processed, with their errors."""
    failed = [r for r in results if r.error]
    if not failed:
        return
    st.warning(f"{len(failed)} of {len(results)} page(s) skipped because they could not be processed.")
    with st.expander("Skipped pages", expanded=len(failed) <= 3):
        st.dataframe(
            pd.DataFrame({"page": [r.page_id for r in failed], "error": [r.error for r in failed]}),
            hide_index=True,
            width="stretch",
        )


def page_picker(results: Sequence, label: str = "Page") -> Any | None:
    """Draw a page selector over the pages that were processed; return the chosen result.

    The choice is kept across the Panels, Text and Faces pages.
    """
    usable = [r for r in results if r.error is None]
    if not usable:
        st.error("No page could be processed; see the skipped pages above.")
        return None
    names = [r.page_id for r in usable]
    chosen = st.session_state.get(PAGE_KEY)
    index = names.index(chosen) if chosen in names else 0
    picked = st.selectbox(
        label,
        names,
        index=index,
        key="_w_page",
        format_func=lambda name: f"{names.index(name) + 1}. {name}",
        on_change=lambda: st.session_state.__setitem__(PAGE_KEY, st.session_state["_w_page"]),
    )
    return usable[names.index(picked)]


def page_source(context: cached.Context, page_id: str):
    """Return the :class:`~comicfaces.imageio.PageSource` of a page of the current input."""
    pages, _ = inputs.resolve_pages(context.workspace_root, context.spec)
    for page in pages:
        if page.page_id == page_id:
            return page
    raise KeyError(f"page {page_id!r} is not in the current input any more; reload the page")


def display_page(context: cached.Context, page_id: str):
    """Return ``(image, scale)`` of a page for display; ``scale`` maps page pixels to image pixels."""
    page = page_source(context, page_id)
    return cached.page_image(page.page_id, str(page.path), page.member)


def needs_pages(context: cached.Context) -> bool:
    """Show a note and return False when the input is a folder of face crops."""
    if context.spec.has_pages:
        return True
    st.info(
        "The input is a folder of face crops, so the page stages (panels, text, faces) are skipped. "
        "Open **Features**, **Reduction**, **Clustering** or **Evaluation**, or pick a page input on the **Input** page."
    )
    return False
