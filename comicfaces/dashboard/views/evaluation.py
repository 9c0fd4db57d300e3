"""Evaluation page: clustering scores, detection scores, and the runs stored in the workspace."""

from __future__ import annotations

import math

import streamlit as st

from comicfaces.dashboard import cached, charts, runs
from comicfaces.dashboard.views import common
from comicfaces.dashboard.views.faces import detection_tables


def run(context: cached.Context):
    """Evaluate the current clustering; return ``(metrics, detection, table)``."""
    output = common.guarded(cached.evaluation, context, what="Evaluation")
    common.show_origin(output, "Evaluation")
    return output.value


def _value(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def overview_cards(metrics: dict) -> None:
    """Show the counts, coverage and internal scores."""
    columns = st.columns(6)
    columns[0].metric("Faces", _value(metrics, "n_faces"))
    columns[1].metric("Labelled faces", _value(metrics, "n_labelled"))
    columns[2].metric("Clusters", _value(metrics, "n_clusters"))
    columns[3].metric("Coverage", _value(metrics, "coverage"), help="Share of faces not labelled noise.")
    columns[4].metric(
        "Silhouette", _value(metrics, "silhouette"), help=metrics.get("silhouette_reason") or "On non-noise faces; higher is better."
    )
    columns[5].metric(
        "Davies-Bouldin",
        _value(metrics, "davies_bouldin"),
        help=metrics.get("davies_bouldin_reason") or "On non-noise faces; lower is better.",
    )


def score_cards(metrics: dict) -> None:
    """Show the external scores for both treatments of noise, then the scores against the corrections."""
    if metrics.get("n_labelled"):
        _external_cards(metrics)
    else:
        st.info(
            "No face has a known identity, so only the internal scores above are available. Identities come from "
            "the demo's ground truth, from a labels CSV of a folder of crops, or from names given on the Review page."
        )
    corrections_cards()


def _external_cards(metrics: dict) -> None:
    for suffix, title in charts.NOISE_TREATMENTS.items():
        st.markdown(f"**{title.capitalize()}** ({_value(metrics, f'n_scored_{suffix}')} faces scored)")
        columns = st.columns(len(charts.EXTERNAL_SCORES))
        for column, (name, label) in zip(columns, charts.EXTERNAL_SCORES):
            column.metric(label, _value(metrics, f"{name}_{suffix}"))
    st.caption(
        "*Noise excluded* drops the faces the clusterer called noise, so read it with the coverage; "
        "*noise as singletons* counts each noise face as a cluster of its own."
    )
    st.plotly_chart(charts.metrics_figure(metrics), width="stretch")


def corrections_cards() -> None:
    """Score the current clustering against the names given by hand on the Review page, when there are any.

    Faces named by hand are the ground truth here (see
    :func:`comicfaces.corrections.score_against_corrections`); faces never
    named are left out of the external scores.
    """
    from comicfaces.corrections import Corrections, score_against_corrections
    from comicfaces.dashboard import review_data

    try:
        context = common.load_context()
        input_key, _ = review_data.current_input_key(context)
        path = Corrections.path_for(cached.get_workspace(context.workspace_root), input_key)
        if not path.is_file():
            return
        corrections = Corrections.load(path)
    except common.USER_ERRORS as error:
        st.warning(f"The corrections of this input cannot be read: {common.error_message(error)}")
        return
    names = corrections.names()
    if not names:
        return
    _, _, table = cached.evaluation(context).value
    embedding = cached.reduction(context).value
    scores = score_against_corrections(table, table["cluster"].to_numpy(), corrections, embedding)
    st.subheader("Against your corrections")
    st.caption(
        f"{scores.get('n_labelled', 0)} face(s) named by hand ({len(names)} character(s)) are the ground truth; "
        "names and moves from the Review page apply to every clustering of this input."
    )
    for suffix, title in charts.NOISE_TREATMENTS.items():
        st.markdown(f"**{title.capitalize()}** ({_value(scores, f'n_scored_{suffix}')} faces scored)")
        columns = st.columns(len(charts.EXTERNAL_SCORES))
        for column, (name, label) in zip(columns, charts.EXTERNAL_SCORES):
            column.metric(f"{label} (corrections)", _value(scores, f"{name}_{suffix}"))


def detection_cards(detection) -> None:
    """Show pooled detection scores, when the input has ground truth."""
    overall, pages = detection_tables(detection)
    if overall is None:
        return
    st.subheader("Detection")
    columns = st.columns(4)
    for column, name in zip(columns, ("precision", "recall", "f1", "ap")):
        column.metric(name.upper() if name in ("f1", "ap") else name.capitalize(), _value(overall, name))


def save_button(context: cached.Context, evaluation) -> None:
    """Offer to store the current results as a run in the workspace."""
    metrics, detection, table = evaluation
    if not st.button("Save this run in the workspace", key="save_run", type="primary"):
        return
    face_set, _ = cached.face_set(context).value
    stage_keys = {
        "features": cached.features(context).key,
        "reduction": cached.reduction(context).key,
        "clustering": cached.clusters(context).key,
    }
    n_items = len(context.fingerprint) - (1 if context.spec.labels else 0)
    try:
        record = runs.save_run(
            cached.get_workspace(context.workspace_root),
            context.spec,
            context.config.to_dict(),
            face_set.key,
            table,
            stage_keys,
            metrics,
            detection,
            face_set.errors,
            n_items,
        )
    except common.USER_ERRORS as error:
        st.error(f"The run could not be saved: {common.error_message(error)}")
        return
    st.success(f"Saved run {record['key']}.")


def stored_runs(context: cached.Context) -> None:
    """List the runs stored in the workspace, newest first, with a delete action."""
    st.subheader("Stored runs")
    workspace = cached.get_workspace(context.workspace_root)
    records = workspace.list_runs()
    if not records:
        st.caption("No run is stored in this workspace yet. Save one above, or run `python -m comicfaces run`.")
        return
    st.dataframe(runs.runs_table(records), hide_index=True, width="stretch")

    keys = [record["key"] for record in records]
    names = {record["key"]: record.get("name", "") for record in records}
    left, right = st.columns([3, 1])
    chosen = left.selectbox("Run", keys, format_func=lambda key: f"{key}  {names[key]}", key="_w_run_delete")
    if right.button("Delete run", key="delete_run"):
        if runs.delete_run(workspace, chosen):
            st.success(f"Deleted run {chosen}; its cached stage results stay in the workspace for reuse.")
            st.rerun()
        else:
            st.warning(f"Run {chosen} was already deleted.")
