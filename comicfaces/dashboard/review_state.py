"""Session state of the Review page, and its mirror in the URL query string.

The page keeps five values under its own session keys, so they survive a
visit to another page (Streamlit drops widget state then):

==============  =======================  =============================================
URL parameter   session key              value
==============  =======================  =============================================
``run``         :data:`RUN_KEY`          ``current`` or a stored run key
``group``       :data:`FOCUS_KEY`        gallery open in the inspector: ``c<cluster>``,
                                         ``noise`` or ``rejected``
``face``        :data:`FACE_KEY`         face shown in its page
``sel``         :data:`SELECTION_KEY`    selected face ids, comma-separated
``gpage``       :data:`GALLERY_PAGE_KEY`  page of the galleries, from 1
==============  =======================  =============================================

:func:`read_url` copies the query parameters into the session once per
session, before any widget is drawn, so a shared link reopens the same
view. :func:`write_url` writes the session values back at the end of every
script run; only changed parameters are sent. A selection of more than
:data:`MAX_URL_SELECTION` faces is left out of the URL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import streamlit as st

logger = logging.getLogger(__name__)

CURRENT_RUN = "current"

RUN_KEY = "cf_review_run"
FOCUS_KEY = "cf_review_group"
FACE_KEY = "cf_review_face"
SELECTION_KEY = "cf_review_selection"
GALLERY_PAGE_KEY = "cf_review_gallery_page"
FACE_PAGE_KEY = "cf_review_face_page"
MESSAGE_KEY = "cf_review_message"
URL_READ_KEY = "cf_review_url_read"
WIDGET_VERSION_KEY = "cf_review_widget_version"

#: Largest selection written to the URL; face ids are about 10 characters each.
MAX_URL_SELECTION = 200

_PARAMETERS = {"run": RUN_KEY, "group": FOCUS_KEY, "face": FACE_KEY, "sel": SELECTION_KEY, "gpage": GALLERY_PAGE_KEY}


def read_url() -> None:
    """Copy the Review parameters of the query string into the session, once per session."""
    if st.session_state.get(URL_READ_KEY):
        return
    st.session_state[URL_READ_KEY] = True
    params = st.query_params
    if params.get("run"):
        st.session_state[RUN_KEY] = str(params["run"])
    if params.get("group"):
        st.session_state[FOCUS_KEY] = str(params["group"])
    if params.get("face"):
        st.session_state[FACE_KEY] = str(params["face"])
    if params.get("sel"):
        st.session_state[SELECTION_KEY] = [face for face in str(params["sel"]).split(",") if face]
    if params.get("gpage"):
        try:
            st.session_state[GALLERY_PAGE_KEY] = max(1, int(params["gpage"]))
        except ValueError:
            logger.warning("query parameter gpage=%r is not a page number; ignored", params["gpage"])


def _url_value(key: str) -> str | None:
    value = st.session_state.get(key)
    if key == SELECTION_KEY:
        if not value or len(value) > MAX_URL_SELECTION:
            return None
        return ",".join(value)
    if key == GALLERY_PAGE_KEY:
        return str(value) if value and int(value) > 1 else None
    if key == RUN_KEY and value == CURRENT_RUN:
        return None
    return str(value) if value not in (None, "") else None


def write_url() -> None:
    """Write the session's Review values to the query string, changing only what differs."""
    params = st.query_params
    for name, key in _PARAMETERS.items():
        wanted = _url_value(key)
        present = params.get(name)
        if wanted is None and name in params:
            del params[name]
        elif wanted is not None and present != wanted:
            params[name] = wanted


def url_query() -> str:
    """Return the query string of the current view, for a link to copy."""
    from urllib.parse import urlencode

    values = {name: _url_value(key) for name, key in _PARAMETERS.items()}
    return urlencode({name: value for name, value in values.items() if value is not None}, safe=",")


# -- run ---------------------------------------------------------------------------------


def current_run() -> str:
    """Return the run under review: ``current`` or a stored run key."""
    return st.session_state.get(RUN_KEY) or CURRENT_RUN


def set_run(run: str) -> None:
    """Review another run; the selection, focus and face of the old one are dropped."""
    if run == current_run():
        return
    st.session_state[RUN_KEY] = run
    for key in (FOCUS_KEY, FACE_KEY, SELECTION_KEY, GALLERY_PAGE_KEY, FACE_PAGE_KEY):
        st.session_state.pop(key, None)


# -- selection ---------------------------------------------------------------------------


def selection() -> list[str]:
    """Return the selected face ids, in the order they were selected."""
    return list(st.session_state.get(SELECTION_KEY) or [])


def set_selection(face_ids: Iterable[str]) -> None:
    """Replace the selection (duplicates dropped, order kept)."""
    st.session_state[SELECTION_KEY] = list(dict.fromkeys(str(face) for face in face_ids))


def toggle_selected(face_id: str, selected: bool) -> None:
    """Add a face to the selection or remove it."""
    faces = selection()
    if selected and face_id not in faces:
        faces.append(face_id)
    elif not selected and face_id in faces:
        faces.remove(face_id)
    set_selection(faces)


def clear_selection() -> None:
    """Empty the selection."""
    st.session_state[SELECTION_KEY] = []


# -- focus and face ----------------------------------------------------------------------


def focus() -> str | None:
    """Return the key of the gallery open in the inspector, or None."""
    return st.session_state.get(FOCUS_KEY)


def set_focus(group_key: str | None) -> None:
    """Open a gallery in the inspector, on its first page."""
    st.session_state[FOCUS_KEY] = group_key
    st.session_state[FACE_PAGE_KEY] = 1


def face() -> str | None:
    """Return the id of the face shown in its page, or None."""
    return st.session_state.get(FACE_KEY)


def set_face(face_id: str | None) -> None:
    """Show a face in its page."""
    st.session_state[FACE_KEY] = face_id


def page_number(key: str, n_pages: int) -> int:
    """Return the stored page number of a paged list, clamped to ``1..n_pages``."""
    value = st.session_state.get(key) or 1
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 1
    return min(max(1, value), max(1, n_pages))


# -- widgets whose options are clusters ---------------------------------------------------


def set_widget_version(run_token: str, n_log_entries: int) -> None:
    """Name the state of the view that cluster choices refer to: the run and the corrections log length."""
    import hashlib

    digest = hashlib.sha256(run_token.encode("utf-8")).hexdigest()[:10]
    st.session_state[WIDGET_VERSION_KEY] = f"{digest}-{n_log_entries}"


def versioned(name: str) -> str:
    """Return the key of a widget whose options are clusters of the current view.

    Cluster numbers and their labels change with every correction and
    clustering. A keyed Streamlit widget keeps its identity across option
    changes, and in Streamlit 1.67 its frontend then sends back the label of
    an option that no longer exists, which reaches the session as that label
    string. Keys that change with the view give a fresh widget instead.
    """
    return f"_w_review_{name}@{st.session_state.get(WIDGET_VERSION_KEY, '0')}"


# -- messages ------------------------------------------------------------------------------


def post_message(kind: str, text: str) -> None:
    """Keep a message (``success``, ``error``, ``info``) for the next script run to show."""
    st.session_state[MESSAGE_KEY] = (kind, text)


def pop_message() -> tuple[str, str] | None:
    """Return and forget the kept message."""
    return st.session_state.pop(MESSAGE_KEY, None)
