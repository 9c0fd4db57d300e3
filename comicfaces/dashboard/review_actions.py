"""Correction actions of the Review page, wired to :class:`comicfaces.corrections.Corrections`.

Every action runs in a widget callback, before the script run that follows
the click, so the whole page is drawn from the corrected view. A callback
opens the input's corrections, applies them to the run (the view its cluster
numbers refer to), performs the action (which saves the corrections file)
and keeps a message for :func:`show_message`. Input widgets of an action are
reset after it succeeds, because cluster numbers change with every correction.

Actions on "the selection" act on the selected faces that belong to the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, draw, review_data, review_model
from comicfaces.dashboard import review_state as state
from comicfaces.dashboard.review_data import RunData

logger = logging.getLogger(__name__)

#: Errors an action reports on the page instead of raising; CorrectionsError
#: and ExportError are ValueErrors.
ACTION_ERRORS = (ValueError, OSError, KeyError, RuntimeError)

#: Size in pixels of the box a new face starts with.
DEFAULT_ADD_SIDE = 120


def show_message() -> None:
    """Show the outcome of the last action once: in place, and as a toast seen wherever the page is scrolled."""
    message = state.pop_message()
    if message is None:
        return
    kind, text = message
    {"success": st.success, "error": st.error}.get(kind, st.info)(text)
    st.toast(text, icon=":material/error:" if kind == "error" else ":material/check_circle:")


def _selected_faces(view: pd.DataFrame) -> list[str]:
    ids = set(view["face_id"].astype(str))
    faces = [face for face in state.selection() if face in ids]
    if not faces:
        raise ValueError("no face of this run is selected; select faces in the map or tick them in the inspector first")
    return faces


def _cluster_size(view: pd.DataFrame, cluster: int) -> int:
    return int(((view["cluster"] == cluster) & ~view["rejected"]).sum())


# -- the actions ---------------------------------------------------------------------------
# Each takes (data, corrections, view), reads its widgets from the session and
# returns the success message.


def _name(data: RunData, corrections, view: pd.DataFrame) -> str:
    cluster = int(st.session_state[state.versioned("name_cluster")])
    name = str(st.session_state.get("_w_review_name_text", ""))
    corrections.name_cluster(view, cluster, name)
    return f"Named cluster {cluster} ({_cluster_size(view, cluster)} faces) {name.strip()!r}."


def _rename(data: RunData, corrections, view: pd.DataFrame) -> str:
    old = st.session_state.get(state.versioned("rename_old"))
    new = str(st.session_state.get("_w_review_rename_new", ""))
    corrections.rename(old, new)
    return f"Renamed {old!r} to {new.strip()!r} everywhere."


def _merge(data: RunData, corrections, view: pd.DataFrame) -> str:
    clusters = [int(c) for c in st.session_state.get(state.versioned("merge_clusters")) or []]
    name = str(st.session_state.get("_w_review_merge_name", "")).strip() or None
    corrections.merge_clusters(view, clusters, name=name)
    faces = sum(_cluster_size(view, c) for c in clusters)
    return f"Merged clusters {', '.join(map(str, clusters))} into one cluster of {faces} faces" + (f" named {name!r}." if name else ".")


def _split_k(data: RunData, corrections, view: pd.DataFrame) -> str:
    if data.embedding is None:
        raise ValueError("this run's embedding is not in the workspace, so its clusters cannot be split by clustering")
    cluster = int(st.session_state[state.versioned("split_cluster")])
    k = int(st.session_state.get("_w_review_split_k", 2))
    action = corrections.split_cluster(view, cluster, data.embedding, k=k)
    moved = sum(len(part) for part in action["parts"])
    return f"Split cluster {cluster} with k-means (k={k}): {moved} face(s) moved into {len(action['parts'])} new cluster(s)."


def _split_selection(data: RunData, corrections, view: pd.DataFrame) -> str:
    faces = _selected_faces(view)
    corrections.split_faces(view, faces)
    return f"Moved the {len(faces)} selected face(s) out of their clusters into a new cluster."


def _move(data: RunData, corrections, view: pd.DataFrame) -> str:
    faces = _selected_faces(view)
    if st.session_state.get("_w_review_move_mode") == "name":
        name = str(st.session_state.get("_w_review_move_name", ""))
        corrections.move_faces(view, faces, to_name=name)
        return f"Moved {len(faces)} face(s) to {name.strip()!r}; they keep that name in every clustering."
    cluster = int(st.session_state[state.versioned("move_cluster")])
    corrections.move_faces(view, faces, to_cluster=cluster)
    return f"Moved {len(faces)} face(s) into cluster {cluster}; they stay with its faces in every clustering."


def _reject(data: RunData, corrections, view: pd.DataFrame) -> str:
    faces = _selected_faces(view)
    corrections.reject_faces(view, faces, True)
    state.clear_selection()
    return f"Marked {len(faces)} box(es) as not a face."


def _restore(data: RunData, corrections, view: pd.DataFrame) -> str:
    faces = _selected_faces(view)
    corrections.reject_faces(view, faces, False)
    return f"Restored {len(faces)} box(es) as faces."


def _reset(data: RunData, corrections, view: pd.DataFrame) -> str:
    faces = _selected_faces(view)
    corrections.reset_faces(view, faces)
    return f"Forgot the names, places and rejections of {len(faces)} face(s)."


def _add(data: RunData, corrections, view: pd.DataFrame) -> str:
    page = st.session_state.get("_w_review_add_page")
    box = [float(st.session_state[f"_w_review_add_{side}"]) for side in ("x0", "y0", "x1", "y1")]
    name = str(st.session_state.get("_w_review_add_name", "")).strip() or None
    action = corrections.add_face(data.workspace, data.record, page, box, name=name)
    state.set_face(action["face"])
    return f"Added face {action['face']} on {page} at {[int(v) for v in box]}" + (f" as {name!r}." if name else ", as a cluster of its own.")


def _reject_face(data: RunData, corrections, view: pd.DataFrame) -> str:
    face = state.face()
    corrections.reject_faces(view, [face], True)
    return f"Marked {face} as not a face."


def _undo(data: RunData, corrections, view: pd.DataFrame) -> str:
    action = corrections.undo()
    if action is None:
        raise ValueError("there is no action to undo")
    return f"Undid the {action['type']} of {action['time'][:19]}."


def _redo(data: RunData, corrections, view: pd.DataFrame) -> str:
    action = corrections.redo()
    if action is None:
        raise ValueError("there is no undone action to redo; a new action clears the redo list")
    return f"Redid the {action['type']} of {action['time'][:19]}."


ACTIONS: dict[str, tuple[str, Callable, tuple[str, ...]]] = {
    # kind: (title, function, text inputs cleared on success)
    "name": ("Naming", _name, ("_w_review_name_text",)),
    "rename": ("Renaming", _rename, ("_w_review_rename_new",)),
    "merge": ("Merging", _merge, ("_w_review_merge_name",)),
    "split_k": ("Splitting", _split_k, ()),
    "split_selection": ("Splitting off the selection", _split_selection, ()),
    "move": ("Moving", _move, ("_w_review_move_name",)),
    "reject": ("Rejecting", _reject, ()),
    "restore": ("Restoring", _restore, ()),
    "reset": ("Resetting", _reset, ()),
    "add": ("Adding a face", _add, ("_w_review_add_name",)),
    "reject_face": ("Rejecting", _reject_face, ()),
    "undo": ("Undo", _undo, ()),
    "redo": ("Redo", _redo, ()),
}


def run_action(data: RunData, kind: str) -> None:
    """Perform one correction action from its widgets' values; the callback of every action button."""
    from comicfaces.dashboard.views.common import error_message

    title, function, reset = ACTIONS[kind]
    try:
        corrections = data.corrections()
        view = data.view(corrections)
        text = function(data, corrections, view)
    except ACTION_ERRORS as error:
        logger.info("review action %s failed: %s", kind, error)
        state.post_message("error", f"{title} failed: {error_message(error)}")
        return
    # Setting the value, not deleting the key, is what clears the text shown in the browser.
    for key in reset:
        st.session_state[key] = ""
    state.post_message("success", text)


def _button(label: str, data: RunData, kind: str, **kwargs) -> None:
    st.button(label, key=f"review_{kind}", on_click=run_action, args=(data, kind), **kwargs)


def _valid(key: str, options: list, multiple: bool = False) -> None:
    """Drop a stale widget value (a cluster that a correction removed) before the widget is drawn."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if multiple:
        st.session_state[key] = [v for v in (value or []) if v in options]
    elif value not in options:
        del st.session_state[key]


# -- panels ------------------------------------------------------------------------------------


def _cluster_label(groups: list) -> Callable[[int], str]:
    titles = {group.cluster: f"{group.title} · {group.total} face(s)" for group in groups if group.cluster is not None}
    return lambda cluster: titles.get(cluster, f"cluster {cluster}")


def action_panel(data: RunData, view: pd.DataFrame, groups: list, corrections) -> None:
    """Draw the correction tabs: name, merge, split, move, reject, add a face, history."""
    clusters = [group.cluster for group in groups if group.cluster is not None]
    label = _cluster_label(groups)
    ids = set(view["face_id"].astype(str))
    selected = [face for face in state.selection() if face in ids]
    st.caption(f"Corrections are saved to the workspace as you make them and apply to every run of this input. **{len(selected)}** face(s) selected.")
    tabs = st.tabs(["Name", "Merge", "Split", "Move", "Reject", "Add face", "History"])

    with tabs[0]:
        if clusters:
            _valid(state.versioned("name_cluster"), clusters)
            st.selectbox("Cluster", clusters, key=state.versioned("name_cluster"), format_func=label)
            st.text_input("Character name", key="_w_review_name_text", placeholder="e.g. Ada")
            _button("Name the cluster", data, "name", type="primary")
        else:
            st.caption("No cluster to name: every face is noise. Move faces to a name instead, or cluster with other parameters.")
        names = corrections.names()
        if names:
            st.markdown("**Rename a character everywhere**")
            _valid(state.versioned("rename_old"), names)
            st.selectbox("Character", names, key=state.versioned("rename_old"))
            st.text_input("New name", key="_w_review_rename_new")
            _button("Rename", data, "rename")

    with tabs[1]:
        selected_clusters = sorted(
            {int(c) for c in view.loc[view["face_id"].astype(str).isin(selected) & ~view["rejected"], "cluster"]}
        )
        options = sorted(set(clusters) | set(selected_clusters), key=lambda c: (c not in clusters, clusters.index(c) if c in clusters else c))
        _valid(state.versioned("merge_clusters"), options, multiple=True)
        st.button(
            f"Use the {len(selected_clusters)} cluster(s) of the selection",
            key="review_merge_from_selection",
            on_click=st.session_state.__setitem__,
            args=(state.versioned("merge_clusters"), selected_clusters),
            disabled=len(selected_clusters) < 2,
        )
        st.multiselect("Clusters to merge", options, key=state.versioned("merge_clusters"), format_func=label)
        st.text_input("Name of the merged cluster (optional)", key="_w_review_merge_name")
        _button("Merge", data, "merge", type="primary")

    with tabs[2]:
        if clusters:
            _valid(state.versioned("split_cluster"), clusters)
            st.selectbox("Cluster to split", clusters, key=state.versioned("split_cluster"), format_func=label)
            st.number_input("Parts (k-means k)", min_value=2, max_value=50, value=2, step=1, key="_w_review_split_k")
            _button("Split by clustering it again", data, "split_k")
        st.markdown("**Or move the selection out**")
        _button(f"Move the {len(selected)} selected face(s) into a new cluster", data, "split_selection", disabled=not selected)

    with tabs[3]:
        st.radio("Move to", ["cluster", "name"], key="_w_review_move_mode", horizontal=True, format_func={"cluster": "a cluster", "name": "a character name"}.get)
        if st.session_state.get("_w_review_move_mode", "cluster") == "cluster" and clusters:
            _valid(state.versioned("move_cluster"), clusters)
            st.selectbox("Target cluster", clusters, key=state.versioned("move_cluster"), format_func=label)
        else:
            st.text_input("Character name", key="_w_review_move_name")
        _button(f"Move the {len(selected)} selected face(s)", data, "move", type="primary", disabled=not selected)
        st.caption("Moved faces are placed by hand: they keep their place whatever the clustering.")

    with tabs[4]:
        _button(f"Mark the {len(selected)} selected box(es) as not a face", data, "reject", disabled=not selected)
        _button("Restore the selected boxes as faces", data, "restore", disabled=not selected)
        _button("Forget all corrections of the selected faces", data, "reset", disabled=not selected)

    with tabs[5]:
        add_face_form(data, view)

    with tabs[6]:
        history(data, corrections)


def face_buttons(data: RunData, face_id: str) -> None:
    """Draw the buttons that act on the face shown in its page."""
    columns = st.columns(3)
    columns[0].button("Select only this face", key="review_select_face", on_click=state.set_selection, args=([face_id],))
    columns[1].button("Add to the selection", key="review_add_to_selection", on_click=state.toggle_selected, args=(face_id, True))
    columns[2].button("Not a face", key="review_reject_face", on_click=run_action, args=(data, "reject_face"))


def _default_box(width: int, height: int) -> list[int]:
    side = min(DEFAULT_ADD_SIDE, width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return [x0, y0, x0 + side, y0 + side]


def add_face_form(data: RunData, view: pd.DataFrame) -> None:
    """Draw the form that adds a missed face: a page, its box in page pixels, and a preview."""
    if not data.has_pages:
        st.caption("Faces can be added to runs on comic pages only.")
        return
    try:
        pages = review_data.run_pages(data.workspace_root, data.token, data.record)
    except (OSError, ValueError) as error:
        st.warning(f"The pages of this run cannot be read, so no face can be added: {error}")
        return
    page_ids = list(pages)
    _valid("_w_review_add_page", page_ids)
    page_id = st.selectbox("Page", page_ids, key="_w_review_add_page")
    path, member = pages[page_id]
    try:
        image, scale = cached.page_image(page_id, path, member)
    except (OSError, ValueError) as error:
        st.warning(f"Page {page_id} cannot be read: {error}")
        return
    width, height = round(image.shape[1] / scale), round(image.shape[0] / scale)
    if st.session_state.get("_w_review_add_for") != page_id:
        for side, value in zip(("x0", "y0", "x1", "y1"), _default_box(width, height)):
            st.session_state[f"_w_review_add_{side}"] = value
        st.session_state["_w_review_add_for"] = page_id
    columns = st.columns(4)
    for column, side, limit in zip(columns, ("x0", "y0", "x1", "y1"), (width, height, width, height)):
        column.number_input(side, min_value=0, max_value=int(limit), step=5, key=f"_w_review_add_{side}")
    box = [st.session_state[f"_w_review_add_{side}"] for side in ("x0", "y0", "x1", "y1")]
    st.text_input("Character name (optional)", key="_w_review_add_name")
    _button("Add the face", data, "add", type="primary")

    on_page = view[view["page"].astype(str) == page_id]
    preview = draw.draw_boxes(image, on_page[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64), (100, 116, 139), scale=scale)
    preview = draw.draw_boxes(preview, np.array([box], dtype=np.float64), (236, 72, 153), ["new face"], scale=scale, fill_alpha=50)
    st.image(preview, caption=f"{page_id} ({width} x {height} pixels): the new box in pink, detected faces in grey", width="stretch")


def _describe(action: dict) -> str:
    kind = action["type"]
    if kind == "name":
        return f"cluster {action.get('cluster')} named {action['name']!r} ({len(action['faces'])} faces)"
    if kind == "rename":
        return f"{action['old']!r} renamed {action['new']!r}"
    if kind == "merge":
        return f"clusters {action.get('clusters')} merged ({len(action['faces'])} faces)"
    if kind == "move":
        token = action["group"]
        return f"{len(action['faces'])} face(s) moved to " + (repr(token[2:]) if token.startswith("n:") else "a cluster")
    if kind == "split":
        method = action.get("method")
        how = f"cluster {method['cluster']} by {method['clusterer']}" if method else "a selection"
        return f"{how} split into {len(action['parts'])} new part(s)"
    if kind == "reject":
        return f"{len(action['faces'])} box(es) " + ("rejected" if action["rejected"] else "restored")
    if kind == "add":
        return f"face {action['face']} added" + (f" as {action['group'][2:]!r}" if (action.get("group") or "").startswith("n:") else "")
    if kind == "assign":
        return f"{len(action['names'])} face(s) named from {action.get('source', 'a list')}"
    if kind == "reset":
        return f"corrections of {len(action['faces'])} face(s) forgotten"
    return f"{kind} of {action.get('target', '')[:8]}"


def history(data: RunData, corrections) -> None:
    """Draw undo and redo, and the last entries of the corrections log."""
    columns = st.columns(2)
    with columns[0]:
        _button("Undo", data, "undo", icon=":material/undo:")
    with columns[1]:
        _button("Redo", data, "redo", icon=":material/redo:")
    if not corrections.actions:
        st.caption("No correction yet.")
        return
    active = {action["uid"] for action in corrections.active_actions()}
    rows = []
    for action in reversed(corrections.actions[-30:]):
        if action["uid"] in active:
            effect = "yes"
        elif action["type"] in ("undo", "redo"):
            effect = "-"
        else:
            effect = "undone"
        rows.append({"time (UTC)": action["time"][:19].replace("T", " "), "action": action["type"], "details": _describe(action), "in effect": effect})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(f"{len(corrections.actions)} log entries; the log is stored in `{corrections.path}`.")
