"""Faces page: face boxes per detector over each page, the crops, and detection scores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, draw, widgets
from comicfaces.dashboard.views import common


def settings(context: cached.Context) -> None:
    """Sidebar form of the face parameters, and which detectors can run here."""
    widgets.section_form("faces", "Face detection parameters")
    detector_status(context)


def detector_status(context: cached.Context) -> None:
    """List every registered detector with whether it can run here, and why not."""
    from comicfaces.detect import DETECTORS

    config = context.config.faces
    skipped = []
    for name in config.detectors:
        try:
            status = cached.detector_status(name, json.dumps(config.params_for(name), sort_keys=True, default=str))
        except common.USER_ERRORS:
            continue
        if not status.ok:
            skipped.append(name)
    untrained = [name for name in skipped if _is_default_trained(config, name)]
    skipped = [name for name in skipped if name not in untrained]
    if skipped:
        st.warning(
            f"Selected detector(s) {', '.join(skipped)} cannot run here and are skipped; "
            "the sidebar's 'Detectors available here' says why and what file to add."
        )
    if untrained:
        st.info(
            "The package's own detector (`trained`) has no model yet, so the other detectors run without it. "
            "Train one on the Review page (**Improve the detector with my corrections**) or with "
            "`python -m comicfaces train-detector`; on pages it was not trained on, adding it to the default "
            "detectors found more faces (docs/results.md)."
        )
    with st.sidebar.expander("Detectors available here", expanded=False):
        for name in sorted(DETECTORS):
            try:
                status = cached.detector_status(name, json.dumps(config.params_for(name), sort_keys=True, default=str))
            except common.USER_ERRORS as error:
                st.markdown(f":red[**{name}**]: {common.error_message(error)}")
                continue
            used = " (selected)" if name in config.detectors else ""
            if status.ok:
                st.markdown(f":green[**{name}**]{used}: can run")
            else:
                st.markdown(f":orange[**{name}**]{used}: {status.reason}")


def _is_default_trained(config, name: str) -> bool:
    from comicfaces.detect import DEFAULT_TRAINED_MODEL

    return name == "trained" and config.params_for(name).get("model_path") == DEFAULT_TRAINED_MODEL


def run(context: cached.Context) -> list:
    """Run the page stages up to face detection on every page and show where the result came from."""
    output = common.guarded(cached.page_results, context, "faces", what="Face detection")
    common.show_origin(output, "Faces")
    common.skipped_pages(output.value)
    return output.value


def overview(results: list, colours: dict) -> None:
    """Show faces per page and per detector."""
    usable = [r for r in results if r.error is None]
    table = pd.concat([r.faces for r in usable], ignore_index=True) if usable else pd.DataFrame()
    columns = st.columns(3)
    columns[0].metric("Faces", len(table))
    columns[1].metric("Pages", len(usable))
    columns[2].metric("Detectors that found faces", table["detector"].nunique() if len(table) else 0)
    if len(table):
        counts = table.groupby(["page", "detector"]).size().unstack(fill_value=0)
        st.bar_chart(counts, height=240, color=[draw.colour_hex(colours.get(d, draw.PALETTE[7])) for d in counts.columns])


def detector_palette(context: cached.Context, results: list) -> dict:
    """Return a fixed colour per detector: the configured ones first, then any others found."""
    names = list(context.config.faces.detectors)
    for result in results:
        if result.error is None and len(result.faces):
            names.extend(d for d in result.faces["detector"].unique() if d not in names)
    return draw.detector_colours(names)


def page_view(context: cached.Context, page, colours: dict) -> None:
    """Draw the face boxes of one page, coloured by detector with their score, and its crops."""
    image, scale = common.guarded(common.display_page, context, page.page_id, what="Loading the page")
    faces = page.faces
    truth = _truth_for_page(context, page.page_id)
    boxes = faces[["x0", "y0", "x1", "y1"]].to_numpy(float) if len(faces) else np.zeros((0, 4))
    overlay = draw.draw_faces(
        image, boxes, list(faces["detector"]), list(faces["score"]), colours, scale=scale, truth_boxes=truth
    )
    legend = "  ".join(f"<span style='color:{draw.colour_hex(c)}'>■</span> {name}" for name, c in colours.items())
    if truth is not None:
        legend += f"  <span style='color:{draw.colour_hex(draw.TRUTH_COLOUR)}'>┅</span> ground truth"

    left, right = st.columns([3, 2])
    left.image(overlay, caption=f"{page.page_id}: {len(faces)} face(s); label = detector score", width="stretch")
    left.markdown(legend, unsafe_allow_html=True)
    with right:
        crop_gallery(faces)


def crop_gallery(faces: pd.DataFrame) -> None:
    """Show the crops of one page with their id, detector and score."""
    st.markdown("**Crops**")
    if not len(faces):
        st.info("No face on this page.")
        return
    images, captions = [], []
    for row in faces.itertuples():
        try:
            images.append(cached.image_file(row.crop, 256))
        except common.USER_ERRORS as error:
            st.error(f"Crop {Path(row.crop).name} cannot be read: {common.error_message(error)}")
            continue
        captions.append(f"{row.face_id.split('_')[-1]} {row.detector} {row.score:.2f}")
    if images:
        st.image(images, caption=captions, width=96)
    st.dataframe(
        faces[["face_id", "panel", "detector", "score", "x0", "y0", "x1", "y1"]],
        hide_index=True,
        width="stretch",
        height=min(300, 40 + 35 * len(faces)),
    )


def _truth_for_page(context: cached.Context, page_id: str) -> np.ndarray | None:
    from comicfaces.dashboard import inputs

    if context.spec.kind != "demo":
        return None
    _, truth_path = inputs.resolve_pages(context.workspace_root, context.spec)
    boxes = common.guarded(cached.truth_boxes, str(truth_path), context.fingerprint, what="Reading the ground truth")
    return boxes.get(page_id)


def detection_scores(context: cached.Context) -> None:
    """Show detection precision, recall, F1 and AP against the ground truth, where there is one."""
    st.subheader("Detection against ground truth")
    if context.spec.kind != "demo":
        st.caption("Ground truth is known for the demo comic only, so no detection scores are shown.")
        return
    output = common.guarded(cached.face_set, context, what="Matching detections to the ground truth")
    _, detection = output.value
    overall, pages = detection_tables(detection)
    if overall is None:
        st.info("No detection scores are available for this input.")
        return

    columns = st.columns(4)
    for column, name in zip(columns, ("precision", "recall", "f1", "ap")):
        value = overall.get(name)
        column.metric(name.upper() if name in ("f1", "ap") else name.capitalize(), common.format_score(value))
    counts = {k: v for k, v in overall.items() if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
    if counts:
        st.caption(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()) + " (IoU at least 0.5)")
    if pages is not None and len(pages):
        st.dataframe(pages, hide_index=True, width="stretch")


def detection_tables(detection) -> tuple[dict | None, pd.DataFrame | None]:
    """Return the pooled scores and a per-page table from a detection report or its dict form."""
    if detection is None:
        return None, None
    if dataclasses.is_dataclass(detection):
        overall = dataclasses.asdict(detection.overall)
        pages = pd.DataFrame([dataclasses.asdict(page) for page in detection.pages])
        return overall, pages
    if isinstance(detection, dict):
        overall = detection.get("overall", detection)
        pages = detection.get("pages")
        table = pd.DataFrame(pages) if isinstance(pages, list) else None
        return dict(overall) if isinstance(overall, dict) else None, table
    return None, None
