"""Galleries, the gallery inspector and the face-in-page view of the Review page.

Galleries are paged twice: :func:`galleries` shows a page of clusters, each
as one montage image of its first faces, and :func:`inspector` shows one
cluster a page of faces at a time, each face with its own widgets. A run of
10,000 faces so draws a bounded number of images and widgets per script run.

Tiles are framed by flag (:data:`FLAG_COLOURS`): selected, outlier, near
duplicate, placed by hand, added by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, draw, review_data, review_model
from comicfaces.dashboard import review_state as state
from comicfaces.dashboard.review_data import RunData

logger = logging.getLogger(__name__)

#: Frame colours of gallery tiles, in order of precedence (RGB).
FLAG_COLOURS = {
    "selected": (22, 163, 74),
    "outlier": (220, 38, 38),
    "duplicate": (234, 140, 8),
    "manual": (37, 99, 235),
    "added": (147, 51, 234),
}
FLAG_LABELS = {
    "selected": "selected",
    "outlier": "outlier (far from its cluster centre)",
    "duplicate": "near duplicate",
    "manual": "placed by hand",
    "added": "added by hand",
}
HIGHLIGHT = (236, 72, 153)
OTHER_FACE = (100, 116, 139)

#: Faces per row of the inspector grid.
GRID_COLUMNS = 6


# -- tiles ----------------------------------------------------------------------------------


def tile_flag(row: int, view: pd.DataFrame, flags: pd.DataFrame, selected: set[str]) -> str:
    """Return the flag that frames a face's tile (the first that applies in :data:`FLAG_COLOURS`), or ``""``."""
    if str(view["face_id"].iat[row]) in selected:
        return "selected"
    if bool(flags["outlier"].iat[row]):
        return "outlier"
    if bool(flags["duplicate"].iat[row]):
        return "duplicate"
    if bool(view["manual"].iat[row]):
        return "manual"
    if bool(view["added"].iat[row]):
        return "added"
    return ""


def flagged_montage(paths: list[str], tile_flags: list[str], thumb: int = 80, columns: int = 12, pad: int = 6) -> np.ndarray:
    """Tile crops into one RGB image, each framed in the colour of its flag.

    A crop that cannot be read becomes a grey tile, and the error is logged.
    """
    if not paths:
        raise ValueError("a montage needs at least one crop path")
    columns = max(1, min(columns, len(paths)))
    rows = -(-len(paths) // columns)
    canvas = np.full((rows * (thumb + pad) + pad, columns * (thumb + pad) + pad, 3), 245, dtype=np.uint8)
    for index, (path, flag) in enumerate(zip(paths, tile_flags)):
        try:
            tile = draw.thumbnail(cached.image_file(str(path), 256), thumb)
        except (OSError, ValueError) as error:
            logger.warning("crop not shown: %s", error)
            tile = np.full((thumb, thumb, 3), 200, dtype=np.uint8)
        row, column = divmod(index, columns)
        y, x = pad + row * (thumb + pad), pad + column * (thumb + pad)
        if flag:
            frame = pad // 2
            canvas[y - frame : y + thumb + frame, x - frame : x + thumb + frame] = FLAG_COLOURS[flag]
        canvas[y : y + thumb, x : x + thumb] = tile
    return canvas


@st.cache_data(show_spinner=False, max_entries=256)
def _montage(paths: tuple[str, ...], tile_flags: tuple[str, ...], thumb: int, columns: int) -> np.ndarray:
    return flagged_montage(list(paths), list(tile_flags), thumb, columns)


def flag_legend() -> str:
    """Return the HTML legend of the tile frames."""
    return "  ".join(
        f"<span style='color:{draw.colour_hex(colour)}'>■</span> {FLAG_LABELS[flag]}" for flag, colour in FLAG_COLOURS.items()
    )


def _crop(path: str, side: int = 160) -> np.ndarray | None:
    try:
        return cached.image_file(str(path), side)
    except (OSError, ValueError) as error:
        logger.warning("crop not shown: %s", error)
        return None


# -- paging ---------------------------------------------------------------------------------


def _copy_page(widget: str, mirror: str) -> None:
    st.session_state[mirror] = st.session_state[widget]


def pager(mirror: str, widget: str, n_pages: int) -> int:
    """Draw page controls for ``n_pages`` pages (none for one page) and return the page, from 1.

    The page is kept under ``mirror`` so it survives a visit to another page.
    """
    page = state.page_number(mirror, n_pages)
    st.session_state[mirror] = page
    if n_pages <= 1:
        return 1
    # The widget starts at the stored page. Its state is set only when the two
    # differ (a page from the URL, or one clamped after the list shrank),
    # because Streamlit warns about a widget that has both a default and a set state.
    if widget in st.session_state and st.session_state[widget] != page:
        st.session_state[widget] = page
    st.pagination(n_pages, default=page, key=widget, on_change=_copy_page, args=(widget, mirror), max_visible_pages=9)
    return page


# -- galleries --------------------------------------------------------------------------------


def group_heading(group: review_model.GalleryGroup, view: pd.DataFrame, flags: pd.DataFrame) -> str:
    """Return the Markdown heading of a gallery: title, size, identities and flag counts."""
    heading = f"**{group.title}**: {group.total} face(s)"
    if group.size < group.total:
        heading += f" · {group.size} selected"
    if "identity" in view and view["identity"].notna().any():
        identities = view["identity"].iloc[group.rows].fillna("unlabelled").astype(str).value_counts()
        heading += " · " + ", ".join(f"{who} ({count})" for who, count in identities.head(4).items())
    outliers = int(flags["outlier"].iloc[group.rows].sum())
    duplicates = int(flags["duplicate"].iloc[group.rows].sum())
    notes = [f"{outliers} outlier(s)"] if outliers else []
    notes += [f"{duplicates} near duplicate(s)"] if duplicates else []
    if notes:
        heading += " · :orange[" + ", ".join(notes) + "]"
    return heading


def galleries(view: pd.DataFrame, flags: pd.DataFrame, groups: list, per_page: int, faces_per_group: int) -> None:
    """Draw one page of galleries: each with its representative face and its first faces by distance."""
    st.subheader("Galleries")
    if not groups:
        st.info("No face to show: the selection is empty or contains no face of this run.")
        return
    n_pages = review_model.page_count(len(groups), per_page)
    st.caption(
        f"{len(groups)} galleries, {per_page} per page; faces nearest their cluster centre first, "
        "doubtful ones last. Noise faces are ordered by their distance to the nearest cluster."
    )
    page = pager(state.GALLERY_PAGE_KEY, "_w_review_gallery_page", n_pages)
    selected = set(state.selection())
    crops = view["crop"].astype(str).to_numpy()
    for group in groups[(page - 1) * per_page : page * per_page]:
        shown = group.rows[:faces_per_group]
        with st.container(border=True):
            st.markdown(group_heading(group, view, flags))
            left, right = st.columns([1, 7])
            first = int(group.rows[0])
            if group.cluster is not None and np.isfinite(flags["distance"].iat[first]):
                image = _crop(crops[first])
                if image is not None:
                    left.image(image, caption=f"representative {view['face_id'].iat[first]}", width=110)
            left.button("Inspect", key=f"review_inspect_{group.key}", on_click=state.set_focus, args=(group.key,))
            tile_flags = tuple(tile_flag(int(row), view, flags, selected) for row in shown)
            right.image(_montage(tuple(crops[shown]), tile_flags, 72, 12), width="content")
            if group.size > len(shown):
                right.caption(f"... and {group.size - len(shown)} more face(s); press Inspect to page through them.")
    st.markdown(flag_legend(), unsafe_allow_html=True)


# -- inspector ---------------------------------------------------------------------------------


def _toggle(widget: str, face_id: str) -> None:
    state.toggle_selected(face_id, bool(st.session_state.get(widget)))


def _select_rows(face_ids: list[str], replace: bool = False) -> None:
    state.set_selection(face_ids if replace else state.selection() + face_ids)


def _focus_changed(widget: str) -> None:
    state.set_focus(st.session_state[widget])


def inspector(view: pd.DataFrame, flags: pd.DataFrame, groups: list, faces_per_page: int) -> None:
    """Draw one gallery a page of faces at a time, each face with a select box and a show button."""
    st.subheader("Inspect a gallery")
    if not groups:
        return
    keys = [group.key for group in groups]
    titles = {group.key: f"{group.title} ({group.size} face(s))" for group in groups}
    current = state.focus() if state.focus() in keys else keys[0]
    widget = state.versioned("focus")
    st.session_state[widget] = current
    chosen = st.selectbox("Gallery", keys, key=widget, format_func=titles.get, on_change=_focus_changed, args=(widget,))
    group = groups[keys.index(chosen)]

    n_pages = review_model.page_count(group.size, faces_per_page)
    page = pager(state.FACE_PAGE_KEY, "_w_review_face_page", n_pages)
    rows = group.rows[(page - 1) * faces_per_page : page * faces_per_page]
    face_ids = view["face_id"].astype(str).to_numpy()
    outliers = [str(face_ids[row]) for row in group.rows if flags["outlier"].iat[int(row)]]

    buttons = st.columns(4)
    buttons[0].button("Select these faces", key="review_select_page", on_click=_select_rows, args=([str(face_ids[r]) for r in rows],))
    buttons[1].button(
        "Select the whole gallery", key="review_select_group", on_click=_select_rows, args=([str(face_ids[r]) for r in group.rows],)
    )
    buttons[2].button(
        f"Select its {len(outliers)} outlier(s)", key="review_select_outliers", on_click=_select_rows, args=(outliers,), disabled=not outliers
    )
    buttons[3].button("Clear the selection", key="review_clear_selection_inspector", on_click=state.clear_selection)

    selected = set(state.selection())
    crops = view["crop"].astype(str).to_numpy()
    for start in range(0, len(rows), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for column, row in zip(columns, rows[start : start + GRID_COLUMNS]):
            row = int(row)
            face_id = str(face_ids[row])
            flag = tile_flag(row, view, flags, set())
            distance = flags["distance"].iat[row]
            caption = face_id + (f" · d {distance:.2f}" if np.isfinite(distance) else "")
            if flag:
                caption += f" · {flag}"
            image = _crop(crops[row])
            if image is None:
                column.caption(f"{face_id}: crop missing")
            else:
                column.image(image, caption=caption, width=110)
            widget = f"_w_pick_{face_id}"
            st.session_state[widget] = face_id in selected
            column.checkbox("select", key=widget, on_change=_toggle, args=(widget, face_id))
            column.button("Show in page", key=f"review_open_{face_id}", on_click=state.set_face, args=(face_id,))


# -- face in its page ------------------------------------------------------------------------------


def _jump_to_face() -> None:
    face_id = str(st.session_state.get("_w_review_face_id", "")).strip()
    state.set_face(face_id or None)


def _details(row: pd.Series, flags: pd.Series) -> pd.DataFrame:
    fields = [
        ("face", row["face_id"]),
        ("page", row.get("page", "")),
        ("panel (reading order)", int(row["panel"]) + 1 if pd.notna(row.get("panel")) and int(row["panel"]) >= 0 else "none"),
        ("detector", row.get("detector", "")),
        ("score", f"{row['score']:.3f}" if isinstance(row.get("score"), (int, float)) and np.isfinite(row.get("score")) else "n/a"),
        ("cluster", "noise" if row["noise"] else int(row["cluster"])),
        ("name", row.get("name") or "(none)"),
        ("ground truth", row.get("identity") if isinstance(row.get("identity"), str) else "(none)"),
        ("distance to centre", f"{flags['distance']:.3f}" if np.isfinite(flags["distance"]) else "n/a"),
        ("outlier", "yes" if flags["outlier"] else "no"),
        ("near duplicate of", flags["duplicate_of"] or "(none)"),
        ("placed by hand", "yes" if row["manual"] else "no"),
        ("rejected", "yes" if row["rejected"] else "no"),
        ("added by hand", "yes" if row["added"] else "no"),
    ]
    if row["noise"] and flags["nearest_cluster"] >= 0:
        fields.append(("nearest cluster", int(flags["nearest_cluster"])))
    return pd.DataFrame(fields, columns=["field", "value"]).astype(str)


def _page_overlay(data: RunData, view: pd.DataFrame, row: int) -> tuple[np.ndarray, str] | None:
    """Return the face's page with its panel tinted, the other faces grey and the face highlighted."""
    page_id = str(view["page"].iat[row])
    pages = review_data.run_pages(data.workspace_root, data.token, data.record)
    if page_id not in pages:
        raise KeyError(f"page {page_id!r} is not among the pages of the run's input")
    path, member = pages[page_id]
    image, scale = cached.page_image(page_id, path, member)
    on_page = np.flatnonzero((view["page"].astype(str).to_numpy() == page_id) & (np.arange(len(view)) != row))
    boxes = view[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64)

    panel = int(view["panel"].iat[row]) if "panel" in view and pd.notna(view["panel"].iat[row]) else -1
    note = "not inside a detected panel"
    if panel >= 0:
        panels = review_data.page_panels(data.workspace_root, page_id, path, member, data.record["config"])
        if panel < len(panels):
            image = draw.draw_boxes(image, panels[panel : panel + 1], draw.PANEL_COLOUR, [f"panel {panel + 1}"], scale=scale, fill_alpha=50)
            note = f"panel {panel + 1} tinted"
    labels = [("noise" if view["noise"].iat[i] else (view["name"].iat[i] or f"c{int(view['cluster'].iat[i])}")) for i in on_page]
    image = draw.draw_boxes(image, boxes[on_page], OTHER_FACE, labels, scale=scale)
    title = view["name"].iat[row] or ("noise" if view["noise"].iat[row] else f"cluster {int(view['cluster'].iat[row])}")
    image = draw.draw_boxes(image, boxes[row : row + 1], HIGHLIGHT, [f"{view['face_id'].iat[row]}: {title}"], scale=scale, fill_alpha=40)
    return image, f"{page_id}: the face in pink, {note}, the page's other faces in grey"


def face_context(data: RunData, view: pd.DataFrame, flags: pd.DataFrame, actions) -> None:
    """Draw the chosen face in its page with its panel, its details and its most similar faces.

    ``actions`` is the :mod:`~comicfaces.dashboard.review_actions` module,
    which draws the buttons that correct this one face.
    """
    st.subheader("Face in its page")
    face_id = state.face()
    st.session_state["_w_review_face_id"] = face_id or ""
    st.text_input("Face id", key="_w_review_face_id", on_change=_jump_to_face, help="Type a face id, or press Show in page on a face above.")
    if not face_id:
        st.caption("Press **Show in page** on a face of the inspector, or click one point of the map, to see the face here.")
        return
    matches = np.flatnonzero(view["face_id"].astype(str).to_numpy() == face_id)
    if not matches.size:
        st.warning(f"Face {face_id} is not among the faces of this run; pick another face.")
        return
    row = int(matches[0])
    left, right = st.columns([3, 2])
    with left:
        if data.has_pages and pd.notna(view["page"].iat[row]):
            try:
                image, caption = _page_overlay(data, view, row)
                st.image(image, caption=caption, width="stretch")
            except (OSError, ValueError, KeyError) as error:
                st.warning(f"The page of {face_id} cannot be shown: {error}")
        else:
            st.caption("This run is on a folder of face crops, so the face has no page.")
    with right:
        crop = _crop(view["crop"].iat[row], 256)
        if crop is not None:
            st.image(crop, caption=face_id, width=160)
        details = _details(view.iloc[row], flags.iloc[row])
        st.dataframe(details, hide_index=True, width="stretch", height=35 * (len(details) + 1) + 3)
        actions.face_buttons(data, face_id)
    neighbours(data, view, flags, row)


def neighbours(data: RunData, view: pd.DataFrame, flags: pd.DataFrame, row: int, k: int = 8) -> None:
    """Show the faces most similar to a face (cosine similarity on the run's embedding)."""
    index = review_data.neighbour_index(data)
    run_row = int(view["run_row"].iat[row])
    if index is None or run_row < 0:
        st.caption("Similar faces need the run's embedding, which faces added by hand and runs without a cached reduction lack.")
        return
    st.markdown(f"**Most similar faces** (cosine similarity on the {data.embedding.shape[1]}-dimensional embedding)")
    rows, similarities = index.query(run_row, k)
    view_of = {int(r): i for i, r in enumerate(view["run_row"]) if r >= 0}
    columns = st.columns(max(1, len(rows)))
    for column, other, similarity in zip(columns, rows, similarities):
        position = view_of.get(int(other))
        if position is None:
            continue
        other_id = str(view["face_id"].iat[position])
        cluster = "noise" if view["noise"].iat[position] else (view["name"].iat[position] or f"cluster {int(view['cluster'].iat[position])}")
        image = _crop(view["crop"].iat[position], 160)
        if image is not None:
            column.image(image, caption=f"{other_id} · {similarity:.2f} · {cluster}", width=100)
        column.button("Show", key=f"review_neighbour_{other_id}", on_click=state.set_face, args=(other_id,))
