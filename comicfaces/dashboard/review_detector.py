"""Review page section "Improve the detector with my corrections".

It retrains the package's face detector on the corrected boxes of the run
under review (:func:`comicfaces.detect.retrain.retrain_from_corrections`) and
shows the before/after benchmark on held-out pages with the loss per epoch.
A button adds the retrained model to the session's face detection settings
as the ``trained`` detector, so the next run detects with it. Retrainings are
stored in the workspace, and earlier ones can be shown and used too. A new
retraining starts from the ImageNet backbone or fine-tunes a stored retraining
or the session's ``trained`` model.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, review_data
from comicfaces.dashboard import review_state as state
from comicfaces.dashboard.review_data import RunData
from comicfaces.dashboard.views import common

logger = logging.getLogger(__name__)

SECTION_TITLE = "Improve the detector with my corrections"

#: Session key of the retraining shown; widget state is dropped on other pages, this key is not.
CHOSEN_KEY = "cf_review_retraining"

#: Name of the retrained detector in the face detection settings.
DETECTOR_NAME = "trained"

#: Value and label of the "Start from" choice that trains a new detector from the ImageNet backbone.
#: The value is a string because streamlit's AppTest cannot select a None option with set_value.
NEW_DETECTOR = ""
NEW_DETECTOR_LABEL = "ImageNet backbone (new detector)"

#: Label of the selectbox that chooses the model a retraining starts from.
START_LABEL = "Start from"

#: Training crop sides offered, in pixels (train_detector needs multiples of 32).
IMAGE_SIZES = tuple(range(64, 1025, 32))

#: Errors a retraining reports to the user instead of raising.
RETRAINING_ERRORS = (*common.USER_ERRORS, FloatingPointError, ImportError)


def section(data: RunData, view: pd.DataFrame) -> None:
    """Draw the section for a run on pages; runs on face crops have no pages to learn from."""
    if not data.has_pages:
        return
    # The key keeps the section open when a message above it appears or goes; without one it closes.
    with st.expander(SECTION_TITLE, expanded=False, key="review_retrain_section"):
        st.caption(
            "Trains the package's face detector on the boxes of this run as you corrected them: kept and added "
            "boxes are faces, and everything else on a page, rejected boxes included, is background. Whole pages "
            "are held out to compare the run's boxes with the retrained detector's."
        )
        pages = _pages(data)
        init_from = start_model(data)
        config = _settings(init_from)
        plan = None
        if pages is not None:
            plan = _plan(view, pages, config)
        pressed = st.button(
            "Retrain the detector", key="review_retrain_detector", type="primary", disabled=plan is None,
            help="Trains with the settings above and stores the model in the workspace; "
            "the same corrections and settings are not trained twice.",
        )
        if pressed and plan is not None:
            retrain(data, view, pages, config)
        stored_section(data)


def _pages(data: RunData):
    from comicfaces.imageio import PageSource

    try:
        located = review_data.run_pages(data.workspace_root, data.token, data.record)
    except common.USER_ERRORS as error:
        st.info(f"The pages of this run cannot be read, so the detector cannot learn from them: {common.error_message(error)}")
        return None
    return [PageSource(page_id, Path(path), member) for page_id, (path, member) in located.items()]


def session_model_path() -> str | None:
    """Return the ``model_path`` of the session's ``trained`` detector, or None when it uses none.

    A model folder without its files is left out, and a caption names the
    missing file, except for the default's model name, which is often absent.
    """
    from comicfaces.dashboard import state as dashboard_state
    from comicfaces.detect import DEFAULT_TRAINED_MODEL, make_detector
    from comicfaces.detect.train import resolve_model_files

    faces = dashboard_state.current_config().faces
    if DETECTOR_NAME not in faces.detectors:
        return None
    params = faces.params_for(DETECTOR_NAME)
    model_path = params.get("model_path")
    if not model_path:
        return None

    # A bare name such as the default's is looked up in the model folders, as the detector does.
    try:
        folder = make_detector(DETECTOR_NAME, **params).model_folder()
        resolve_model_files(folder)
    except (FileNotFoundError, ValueError) as error:
        if model_path != DEFAULT_TRAINED_MODEL:
            st.caption(f"The session's trained detector cannot be fine-tuned: {error}")
        return None
    return str(folder)


def _same_path(first: str, second: str) -> bool:
    return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()


def start_model(data: RunData) -> str | None:
    """Draw the "Start from" choice; return the model folder to fine-tune, or None for a new detector.

    It offers the workspace's stored retrainings and the model of the
    session's ``trained`` detector, which is the default when there is one.
    NOTE: it is drawn before the retrain button runs, so a retraining made in
    this script run is offered from the next run on.
    """
    from comicfaces.detect.retrain import list_retrainings

    labels = {NEW_DETECTOR: NEW_DETECTOR_LABEL}
    for result in list_retrainings(data.workspace):
        labels[result.model_path] = f"retraining {_describe(result)}"
    default = NEW_DETECTOR
    session_model = session_model_path()
    if session_model is not None:
        stored = next((path for path in labels if path != NEW_DETECTOR and _same_path(path, session_model)), None)
        default = stored or session_model
        if stored is None:
            labels[session_model] = f"the session's trained detector: {session_model}"
        labels[default] += " (used by this session)"
    options = list(labels)
    # The key changes with the session's model, so selecting another model for the session starts a fresh widget on it.
    choice = st.selectbox(
        START_LABEL, options, index=options.index(default), key=f"_w_review_retrain_start@{default}",
        format_func=lambda path: labels.get(path, str(path)),
        help="Fine-tuning a retrained detector keeps what it learnt and adds these corrections; "
        "the ImageNet backbone trains a new detector. Retraining uses the default architecture, "
        "so a model trained with another one is rejected.",
    )
    return choice or None


def _settings(init_from: str | None = None):
    """Draw the training settings and return them as a ``RetrainingConfig`` that starts from ``init_from``."""
    from comicfaces.detect.retrain import RetrainingConfig

    default = RetrainingConfig()
    first = st.columns(4)
    epochs = first[0].number_input(
        "Epochs", min_value=1, max_value=1000, value=default.epochs, step=1, key="_w_review_retrain_epochs",
        help="Passes over the training pages.",
    )
    image_size = first[1].selectbox(
        "Training crop size (px)", IMAGE_SIZES, index=IMAGE_SIZES.index(default.image_size), key="_w_review_retrain_image_size",
        help="Side of the square crops the detector learns from; larger crops cost more per step.",
    )
    share = first[2].slider(
        "Held-out share", min_value=0.05, max_value=0.5, value=default.held_out_share, step=0.05, key="_w_review_retrain_share",
        help="Share of the pages with kept boxes set aside to measure the detectors on; at least one page.",
    )
    seed = first[3].number_input("Seed", min_value=0, max_value=2**31 - 1, value=default.seed, step=1, key="_w_review_retrain_seed")
    second = st.columns(4)
    batch_size = second[0].number_input(
        "Batch size", min_value=1, max_value=256, value=default.batch_size, step=1, key="_w_review_retrain_batch",
        help="Crops per optimiser step.",
    )
    max_side = second[1].number_input(
        "Page size at detection (px)", min_value=128, max_value=8192, value=default.max_side, step=64, key="_w_review_retrain_max_side",
        help="Pages are resized so that their longer side has this many pixels; stored with the model.",
    )
    threshold = second[2].slider(
        "Score threshold", min_value=0.05, max_value=0.95, value=default.score_threshold, step=0.05, key="_w_review_retrain_threshold",
        help="Minimum score of the retrained detector's boxes, in the benchmark and when it is used.",
    )
    pretrained = second[3].checkbox(
        "Start from ImageNet weights", value=default.pretrained, key="_w_review_retrain_pretrained",
        disabled=init_from is not None,
        help="Without them the network starts from random weights and needs many more epochs. "
        "Unused when starting from a retrained detector.",
    )
    return RetrainingConfig(
        epochs=int(epochs),
        image_size=int(image_size),
        held_out_share=float(share),
        seed=int(seed),
        batch_size=int(batch_size),
        max_side=int(max_side),
        score_threshold=float(threshold),
        pretrained=bool(pretrained),
        init_from=init_from,
    )


def _plan(view: pd.DataFrame, pages: list, config):
    """State what a retraining would use; return the plan, or None (with the reason) when it cannot run."""
    from comicfaces.detect.corrected_pages import plan_split

    try:
        plan = plan_split(view, [page.page_id for page in pages], config.held_out_share, config.seed)
    except ValueError as error:
        st.warning(f"The detector cannot be retrained from this run yet: {error}")
        return None
    with_faces = sum(1 for count in plan.kept.values() if count)
    steps = math.ceil(len(plan.train_pages) * config.crops_per_page / config.batch_size)
    held_out = ", ".join(plan.held_out_pages[:5]) + (" ..." if len(plan.held_out_pages) > 5 else "")
    st.markdown(
        f"**Uses** {len(plan.pages)} page(s), {with_faces} of them with faces: {plan.n_kept} kept box(es), "
        f"{plan.n_added} of them added by hand, and {plan.n_rejected} rejected box(es) learnt as background. "
        f"**Trains** on {len(plan.train_pages)} page(s) with {plan.n_train_boxes} box(es), "
        f"{steps} optimiser step(s) per epoch. **Measures** on {len(plan.held_out_pages)} held-out page(s) "
        f"with {plan.n_held_out_boxes} box(es): {held_out}."
    )
    return plan


def retrain(data: RunData, view: pd.DataFrame, pages: list, config) -> None:
    """Retrain with a progress bar, then show the new result; errors are shown with ``st.error``."""
    from comicfaces.detect.retrain import retrain_from_corrections

    progress = cached.StageProgress("Retraining the detector")
    progress.start()
    try:
        result = retrain_from_corrections(data.workspace, view, data.record, config, pages=pages, progress=progress)
    except RETRAINING_ERRORS as error:
        logger.warning("retraining from run %s failed: %s", data.run_key, error)
        st.error(f"Retraining failed: {common.error_message(error)}")
        return
    finally:
        progress.close()
    st.session_state[CHOSEN_KEY] = result.key
    if result.reused:
        st.success(f"These corrections and settings were already trained on; showing the stored model {result.key[:12]}.")
    else:
        st.success(f"Retrained the detector in {result.seconds:.0f} s on {result.device}; stored as {result.key[:12]}.")


def _describe(result) -> str:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.created))
    after = next((row for row in result.benchmark if row["name"] == "after"), {})
    return (
        f"{result.key[:12]} · run {result.run_key} {result.run_name} · {result.config['epochs']} epoch(s) · "
        f"F1 after {common.format_score(after.get('f1'))} · {created}"
    )


def _choose(widget_key: str) -> None:
    st.session_state[CHOSEN_KEY] = st.session_state[widget_key]


def stored_section(data: RunData) -> None:
    """List the workspace's retrainings and show the chosen one's benchmark, loss curve and use button."""
    from comicfaces.detect.retrain import list_retrainings

    results = list_retrainings(data.workspace)
    if not results:
        st.caption("No retrained detector is stored in this workspace yet.")
        return
    by_key = {result.key: result for result in results}
    keys = list(by_key)
    chosen = st.session_state.get(CHOSEN_KEY)
    if chosen not in by_key:
        chosen = keys[0]
    # The key changes with the number of retrainings, so a new one starts a fresh widget on the chosen entry.
    widget_key = f"_w_review_retraining@{len(keys)}"
    st.session_state[widget_key] = chosen
    chosen = st.selectbox(
        f"Retrained detectors of this workspace ({len(keys)})", keys, key=widget_key,
        format_func=lambda key: _describe(by_key[key]), on_change=_choose, args=(widget_key,),
    )
    show_result(by_key[chosen])


def show_result(result) -> None:
    """Show a retraining's benchmark table, loss curve and the button that selects its model."""
    counts = result.counts
    init_from = result.config.get("init_from")
    start = f"Fine-tuned the model in `{init_from}`" if init_from else "Trained a new detector"
    st.markdown(
        f"{start} on {len(result.train_pages)} page(s) with {counts['train_boxes']} box(es) for "
        f"{result.config['epochs']} epoch(s) on {result.device} ({result.seconds:.0f} s). "
        f"Measured on {len(result.held_out_pages)} held-out page(s) with {counts['held_out_boxes']} corrected box(es)."
    )
    st.dataframe(benchmark_frame(result), hide_index=True, width="stretch")
    st.caption(
        "IoU at least 0.5. The truth is your corrected boxes, so *before* misses only the faces you added, and its "
        "false boxes are only those you rejected. *Both, merged* joins the two sets of boxes with the run's NMS, "
        "as the pipeline does when the retrained detector is added to the others."
    )
    st.plotly_chart(loss_figure(result.history), width="stretch", key=f"review_retrain_loss_{result.key[:12]}")
    in_use = session_model_path()
    in_use = in_use is not None and _same_path(in_use, result.model_path)
    st.button(
        "Use the retrained detector", key="review_use_retrained", on_click=use_retrained,
        args=(result.model_path, float(result.config["score_threshold"])), disabled=in_use,
        help="Adds the 'trained' detector with this model to the face detection settings; "
        "the current results are then detected again.",
    )
    in_use_note = " This model is the session's `trained` detector now." if in_use else ""
    st.caption(f"Model folder: `{result.model_path}`.{in_use_note}")


#: Row labels of the benchmark table, by row name of the retraining result.
ROW_LABELS = {
    "before": "the run's detectors (before)",
    "after": "retrained detector (after)",
    "before + trained": "both, merged",
}


def benchmark_frame(result) -> pd.DataFrame:
    """Return the benchmark rows with readable row labels and column names; undefined scores read "n/a"."""
    from comicfaces.detect.retrain import SCORE_FIELDS

    table = result.benchmark_table()
    table["name"] = [ROW_LABELS.get(name, name) for name in table["name"]]
    # The scores become text, so a score without boxes reads "n/a".
    for column in SCORE_FIELDS:
        table[column] = [common.format_score(value) for value in table[column]]
    return table.rename(
        columns={
            "name": "boxes from",
            "ap": "AP@0.5",
            "f1": "F1",
            "n_truth": "faces",
            "n_detections": "boxes",
            "true_positives": "correct",
            "false_positives": "false",
            "false_negatives": "missed",
        }
    )


def loss_figure(history: list):
    """Return the training and held-out loss per epoch as a plotly figure."""
    import plotly.graph_objects as go

    epochs = [record["epoch"] for record in history]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=epochs, y=[record["train_loss"] for record in history], mode="lines+markers", name="training loss"))
    held_out = [record.get("val_loss") for record in history]
    if any(value is not None and not math.isnan(value) for value in held_out):
        figure.add_trace(go.Scatter(x=epochs, y=held_out, mode="lines+markers", name="held-out loss"))
    figure.update_layout(
        title="Detector loss per epoch", xaxis_title="epoch", yaxis_title="mean loss", height=320,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return figure


def use_retrained(model_path: str, score_threshold: float) -> None:
    """Add the ``trained`` detector with this model to the session's face detection settings."""
    from comicfaces.dashboard import state as dashboard_state

    faces = dashboard_state.current_config().faces
    detectors = faces.detectors if DETECTOR_NAME in faces.detectors else (*faces.detectors, DETECTOR_NAME)
    params = dict(faces.detector_params.get(DETECTOR_NAME, {}))
    params.update(model_path=model_path, score_threshold=score_threshold)
    params.setdefault("device", "auto")
    try:
        dashboard_state.set_config_section(
            "faces", {"detectors": detectors, "detector_params": {**faces.detector_params, DETECTOR_NAME: params}}
        )
    except ValueError as error:
        state.post_message("error", f"The retrained detector could not be selected: {error}")
        return
    # The Faces page's form keeps its values under these keys; dropping them makes it show the new settings.
    for key in [key for key in st.session_state if str(key).startswith("_w_faces_")]:
        del st.session_state[key]
    state.post_message(
        "success",
        f"Face detection now runs {', '.join(detectors)}, with 'trained' using the model in {model_path}. "
        "The current results and the next runs detect with it; stored runs keep their boxes.",
    )
