"""Review page: find and fix clustering mistakes, then export, import and share the result.

The page reviews one run: the dashboard's current results or a stored run.
It opens the corrections of the run's input, applies them
(:meth:`comicfaces.corrections.Corrections.apply`) and shows the corrected
view as a selectable 2-D map, paged galleries, a gallery inspector and the
chosen face in its page. The correction tabs live in
:mod:`~comicfaces.dashboard.review_actions` and the galleries in
:mod:`~comicfaces.dashboard.review_gallery`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, charts, review_actions, review_data, review_exports, review_gallery, review_model
from comicfaces.dashboard import review_state as state
from comicfaces.dashboard.review_data import RunData
from comicfaces.dashboard.views import common

logger = logging.getLogger(__name__)

PROJECTIONS = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}
OUTLIER_METHODS = {"percentile": "distance percentile per cluster", "lof": "local outlier factor"}
MAP_KEY = "review_map"
MAP_FACES_KEY = "cf_review_map_faces"
PROJECT_ARCHIVE_KEY = "cf_review_project_archive"


@dataclass(frozen=True)
class Settings:
    """Paging and flag settings from the sidebar."""

    clusters_per_page: int
    faces_per_cluster: int
    outlier_method: str
    outlier_percentile: float
    duplicate_similarity: float


def start() -> None:
    """Read the URL parameters of the page; call before any widget is drawn."""
    state.read_url()


def finish() -> None:
    """Write the page's state to the URL so that the link reopens this view."""
    state.write_url()


def settings() -> Settings:
    """Draw the review settings in the sidebar and return them."""
    with st.sidebar.expander("Review settings", expanded=False):
        per_page = st.number_input("Galleries per page", min_value=1, max_value=50, value=6, step=1, key="_w_review_clusters_per_page")
        faces = st.number_input("Faces per gallery and inspector page", min_value=6, max_value=120, value=24, step=6, key="_w_review_faces_per_cluster")
        method = st.selectbox("Outlier flags", list(OUTLIER_METHODS), format_func=OUTLIER_METHODS.get, key="_w_review_outlier_method")
        percentile = st.slider(
            "Outlier percentile",
            min_value=50.0,
            max_value=99.0,
            value=review_model.DEFAULT_OUTLIER_PERCENTILE,
            step=1.0,
            key="_w_review_outlier_percentile",
            help="A face is an outlier when its distance to its cluster centre exceeds this percentile of its cluster's distances "
            f"(clusters of {review_model.MIN_OUTLIER_CLUSTER} faces or more).",
        )
        similarity = st.slider(
            "Near-duplicate similarity",
            min_value=0.80,
            max_value=1.0,
            value=review_model.DEFAULT_DUPLICATE_SIMILARITY,
            step=0.005,
            format="%.3f",
            key="_w_review_duplicate_similarity",
            help="Two faces whose embeddings have at least this cosine similarity are flagged as near duplicates.",
        )
    return Settings(int(per_page), int(faces), method, float(percentile), float(similarity))


# -- the run ----------------------------------------------------------------------------------


def _run_changed() -> None:
    state.set_run(st.session_state["_w_review_run"])


def _describe_run(record: dict) -> str:
    created = pd.to_datetime(record.get("created", 0), unit="s").strftime("%Y-%m-%d %H:%M")
    clustering = ((record.get("config") or {}).get("clustering") or {}).get("name", "?")
    return f"{record['key']}  {record.get('name', '')} · {record.get('n_faces', '?')} faces · {clustering} · {created}"


def run_picker(context: cached.Context | None) -> RunData | None:
    """Draw the choice of run and return its data, or None (with a message) when it cannot be loaded."""
    records = review_data.stored_runs(_root(context))
    keys = [state.CURRENT_RUN] + [record["key"] for record in records]
    labels = {record["key"]: _describe_run(record) for record in records}
    # A fixed label: the browser sends back the label of the chosen option
    # (Streamlit 1.67), so a label that changed with the parameters would no longer match.
    labels[state.CURRENT_RUN] = "Current results of this session's input and parameters"

    requested = state.current_run()
    if requested not in keys:
        st.warning(f"Run {requested} is not in the workspace {_root(context)}; showing the current results. Import its project archive below.")
        state.set_run(state.CURRENT_RUN)
        requested = state.CURRENT_RUN
    st.session_state["_w_review_run"] = requested
    left, right = st.columns([4, 1])
    left.selectbox("Run under review", keys, key="_w_review_run", format_func=labels.get, on_change=_run_changed)

    if requested == state.CURRENT_RUN:
        if context is None:
            st.info("Pick a readable input on the **Input** page, or a stored run above.")
            return None
        try:
            data = review_data.load_current(context)
        except common.USER_ERRORS as error:
            st.error(f"The current results cannot be reviewed: {common.error_message(error)}")
            return None
        right.button("Save as a stored run", key="review_save_run", on_click=_save_current, args=(context, data), help="Stores the run so that a link or a project archive can name it.")
        st.caption(
            f"{context.spec.describe()}, clustered with `{context.config.clustering.name}`. Change the clustering in the "
            "sidebar to cluster again: names, merges and faces moved by hand carry over."
        )
        return data
    st.caption("A stored run keeps its clustering; choose *Current results* to cluster again with the sidebar's parameters.")
    try:
        return review_data.load_stored(_root(context), requested)
    except common.USER_ERRORS as error:
        st.error(f"Run {requested} cannot be reviewed: {common.error_message(error)}")
        return None


def project_import(context: cached.Context | None) -> None:
    """Draw the import of a shared project archive into the workspace, which then opens its first run."""
    with st.expander("Import a shared project archive", expanded=False):
        st.file_uploader("Project archive (.zip from Review or `python -m comicfaces export-project`)", type=["zip"], key="_w_review_project_upload")
        st.button("Import the project", key="review_import_project", on_click=_import_project, args=(_root(context),))


def _root(context: cached.Context | None) -> str:
    from comicfaces.dashboard import state as dashboard_state

    return context.workspace_root if context is not None else dashboard_state.workspace_root()


def _save_current(context: cached.Context, data: RunData) -> None:
    try:
        record = review_data.save_current(context, data)
    except common.USER_ERRORS as error:
        state.post_message("error", f"The run could not be saved: {common.error_message(error)}")
        return
    st.session_state[state.RUN_KEY] = record["key"]
    state.post_message("success", f"Saved run {record['key']}; the link of this page now names it.")


def corrected(data: RunData, settings: Settings):
    """Return ``(corrections, view, flags)`` of the run; view and flags are aligned row by row."""
    corrections = data.corrections()
    state.set_widget_version(data.token, len(corrections.actions))
    view = data.view(corrections)
    flags = review_data.face_flags(data, view, settings.outlier_method, settings.outlier_percentile, settings.duplicate_similarity)
    return corrections, view, flags


def groups(view: pd.DataFrame, flags: pd.DataFrame, rows: list[int] | None = None) -> list:
    """Return the galleries of the view, restricted to ``rows`` when given."""
    return review_model.gallery_groups(view, flags["distance"].to_numpy(), rows)


# -- summary ------------------------------------------------------------------------------------


def _score(metrics: dict, name: str) -> str:
    return common.format_score(metrics.get(name))


def _correction_scores(data: RunData, corrections) -> dict | None:
    from comicfaces.corrections import score_against_corrections

    if not corrections.names():
        return None
    return score_against_corrections(data.table, data.labels, corrections)


def summary(data: RunData, view: pd.DataFrame, corrections, flags: pd.DataFrame) -> None:
    """Show counts, scores against ground truth and corrections, and how the corrections carried over."""
    from comicfaces.metrics import evaluate_clustering

    kept = view[~view["rejected"]]
    names = sorted(set(kept["name"]) - {""})
    columns = st.columns(6)
    columns[0].metric("Faces", len(kept))
    columns[1].metric("Clusters", int(kept.loc[~kept["noise"], "cluster"].nunique()))
    columns[2].metric("Noise faces", int(kept["noise"].sum()))
    columns[3].metric("Named characters", len(names))
    columns[4].metric("Outliers", int(flags["outlier"].sum()))
    columns[5].metric("Near duplicates", int(flags["duplicate"].sum()))

    truth = review_model.truth_of_view(view)
    score_columns = st.columns(4)
    if any(identity is not None for identity in truth):
        before = evaluate_clustering(list(data.table["identity"].where(data.table["identity"].notna(), None)), data.labels)
        after = evaluate_clustering(truth, review_model.corrected_labels(view))
        score_columns[0].metric("Pairwise F1, run vs ground truth", _score(before, "pairwise_f1_singletons"))
        score_columns[1].metric("Pairwise F1, corrected vs ground truth", _score(after, "pairwise_f1_singletons"))
    scores = _correction_scores(data, corrections)
    if scores is not None:
        score_columns[2].metric("Pairwise F1, run vs your names", _score(scores, "pairwise_f1_singletons"), help="score_against_corrections: faces you named are the ground truth.")
        score_columns[3].metric("BCubed F1, run vs your names", _score(scores, "bcubed_f1_singletons"))

    n_manual, n_rejected, n_added = int(view["manual"].sum()), int(view["rejected"].sum()), int(view["added"].sum())
    active = len(corrections.active_actions())
    text = (
        f"Corrections of this input: {active} action(s) in effect, applied to this run as "
        f"{int((view['name'] != '').sum())} named face(s), {n_manual} placed by hand, {n_rejected} rejected and {n_added} added."
    )
    unmatched = view.attrs.get("unmatched_faces") or []
    if unmatched:
        text += f" {len(unmatched)} corrected face(s) were not detected in this run (other detection parameters), so they are left out."
    st.caption(text)
    if names:
        with st.expander(f"Characters ({len(names)})", expanded=False):
            table = kept[kept["name"] != ""].groupby("name").agg(faces=("face_id", "size"), clusters=("cluster", "nunique"), by_hand=("manual", "sum"))
            st.dataframe(table.reset_index(), hide_index=True, width="stretch")


# -- selection and map ----------------------------------------------------------------------------


def _on_map_select() -> None:
    event = st.session_state.get(MAP_KEY) or {}
    points = (event.get("selection") or {}).get("points") or []
    lookup = st.session_state.get(MAP_FACES_KEY) or []
    faces = []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and custom:
            custom = custom[0]
        if isinstance(custom, str) and custom:
            faces.append(custom)
            continue
        curve, index = point.get("curve_number"), point.get("point_index", point.get("point_number"))
        if isinstance(curve, int) and isinstance(index, int) and curve < len(lookup) and index < len(lookup[curve]):
            faces.append(lookup[curve][index])
    state.set_selection(faces)
    if len(faces) == 1:
        state.set_face(faces[0])


def selection_bar(view: pd.DataFrame) -> list[int] | None:
    """Show the selection's size with a filter switch; return the view rows to show, or None for all."""
    ids = view["face_id"].astype(str).to_numpy()
    selected = set(state.selection())
    rows = np.flatnonzero(np.isin(ids, list(selected))) if selected else np.zeros(0, dtype=np.int64)
    left, middle, right = st.columns([2, 2, 1])
    left.markdown(f"**{len(rows)} face(s) selected**" + (f" ({len(selected) - len(rows)} not in this run)" if len(selected) > len(rows) else ""))
    filtering = middle.toggle("Show only the selection in the galleries", value=True, key="_w_review_filter", disabled=not len(rows))
    right.button("Clear the selection", key="review_clear_selection", on_click=state.clear_selection, disabled=not selected)
    return rows.tolist() if filtering and len(rows) else None


def selection_counts(view: pd.DataFrame) -> None:
    """Show the selected faces counted per cluster and per identity or name."""
    ids = view["face_id"].astype(str).to_numpy()
    rows = np.flatnonzero(np.isin(ids, state.selection()))
    if not len(rows):
        st.caption("Select faces with a box or lasso on the map, or tick them in the inspector; their counts appear here.")
        return
    columns = st.columns(2)
    columns[0].dataframe(review_model.selection_counts(view, rows, "cluster"), hide_index=True, width="stretch", height=180)
    column = "identity" if "identity" in view and view["identity"].notna().any() else "name"
    columns[1].dataframe(review_model.selection_counts(view, rows, column), hide_index=True, width="stretch", height=180)


def _colour_values(view: pd.DataFrame, colour: str) -> pd.Series:
    if colour == "cluster":
        values = np.where(view["name"] != "", view["name"] + " (" + view["cluster"].astype(str) + ")", "cluster " + view["cluster"].astype(str))
        values = np.where(view["noise"], charts.NOISE_LABEL, values)
        return pd.Series(np.where(view["rejected"], "rejected", values), index=view.index)
    if colour == "name":
        return view["name"].replace("", "(none)")
    return view[colour].fillna("unlabelled").astype(str)


def map_section(data: RunData, view: pd.DataFrame, flags: pd.DataFrame) -> None:
    """Draw the 2-D map of the embedding; box or lasso selections select faces."""
    st.subheader("Map of the faces")
    if data.embedding is None:
        st.info("This run's embedding is not in the workspace, so the map and similarity search are not available.")
        return
    left, right = st.columns(2)
    method = left.radio("Projection", list(PROJECTIONS), format_func=PROJECTIONS.get, horizontal=True, key="_w_review_projection")
    options = ["cluster", "name"]
    if "identity" in view and view["identity"].notna().any():
        options.append("identity")
    if data.has_pages:
        options.append("page")
    colour = right.radio("Colour by", options, horizontal=True, key="_w_review_colour")
    try:
        points = review_data.projection(data, method)
    except (ValueError, RuntimeError, ImportError) as error:
        st.error(f"The {PROJECTIONS[method]} map failed: {error}")
        return

    shown = np.flatnonzero(view["run_row"].to_numpy() >= 0)
    frame = pd.DataFrame({"face_id": view["face_id"].astype(str).to_numpy()[shown]})
    frame["colour"] = _colour_values(view, colour).to_numpy()[shown]
    frame["cluster"] = np.where(view["noise"], "noise", view["cluster"].astype(str))[shown]
    frame["name"] = view["name"].to_numpy()[shown]
    for column in ("identity", "page"):
        if column in view:
            frame[column] = view[column].fillna("").astype(str).to_numpy()[shown]
    frame["flags"] = np.where(flags["outlier"], "outlier ", "")[shown]
    frame["flags"] = frame["flags"] + np.where(flags["duplicate"], "duplicate", "")[shown]
    title = f"{PROJECTIONS[method]} of the embedding, coloured by {colour}"
    figure, faces = charts.review_scatter_figure(points[view["run_row"].to_numpy()[shown]], frame, colour, title)
    st.session_state[MAP_FACES_KEY] = faces
    st.plotly_chart(figure, key=MAP_KEY, on_select=_on_map_select, selection_mode=("points", "box", "lasso"), width="stretch")
    st.caption("Drag a box or lasso (modebar) to select faces; click one point to show it in its page. Faces added by hand have no point.")


# -- charts ------------------------------------------------------------------------------------------


def _identities(data: RunData, view: pd.DataFrame, corrections, source: str) -> list:
    if source == "ground truth":
        return review_model.truth_of_view(view)
    from comicfaces.corrections import identities_for

    by_run_row = identities_for(data.table, corrections)
    identities = []
    for run_row, name, rejected in zip(view["run_row"], view["name"], view["rejected"]):
        if rejected:
            identities.append(None)
        elif run_row >= 0:
            identities.append(by_run_row[int(run_row)])
        else:
            identities.append(name or None)
    return identities


def charts_section(data: RunData, view: pd.DataFrame, corrections) -> None:
    """Draw per-identity precision and recall, the confusion heatmap, cluster sizes and faces per page."""
    st.subheader("Charts")
    sources = (["ground truth"] if "identity" in view and view["identity"].notna().any() else []) + ["your names"]
    source = st.radio("Identities from", sources, horizontal=True, key="_w_review_identity_source")
    identities = _identities(data, view, corrections, source)
    clusters = view["cluster"].to_numpy()
    scores = review_model.identity_scores(identities, clusters)
    left, right = st.columns(2)
    with left:
        st.markdown("**Precision and recall per identity** (in the cluster with most of its faces)")
        if len(scores):
            st.plotly_chart(charts.identity_scores_figure(scores), width="stretch", key="review_chart_identity")
        else:
            st.caption("No face has an identity yet: name clusters, or use an input with ground truth.")
        st.markdown("**Cluster sizes**")
        st.plotly_chart(charts.cluster_size_histogram(review_model.corrected_labels(view[~view["rejected"]])), width="stretch", key="review_chart_sizes")
    with right:
        st.markdown("**Clusters x identities**")
        confusion = review_model.confusion_table(identities, clusters, view["name"].tolist())
        if len(confusion):
            st.plotly_chart(charts.confusion_figure(confusion), width="stretch", key="review_chart_confusion")
        else:
            st.caption("The confusion matrix needs identities.")
        if data.has_pages:
            st.markdown("**Faces per page**")
            st.plotly_chart(charts.detections_per_page_figure(view[~view["rejected"]]), width="stretch", key="review_chart_pages")


# -- export, import and share ------------------------------------------------------------------------


def _import(data: RunData, kind: str) -> None:
    from comicfaces.dashboard.views.common import error_message

    upload = st.session_state.get(f"_w_review_{kind}_upload")
    if upload is None:
        state.post_message("error", "Choose a file to import first.")
        return
    try:
        corrections = data.corrections()
        view = data.view(corrections)
        if kind == "labels":
            action = review_exports.import_labels(corrections, view, data.workspace, upload.getvalue(), manual=bool(st.session_state.get("_w_review_labels_manual")))
            text = f"Imported {len(action['names'])} name(s) from {upload.name}."
        else:
            report = review_exports.import_coco_boxes(
                corrections,
                view,
                data.workspace,
                data.record,
                upload.getvalue(),
                add_missing=bool(st.session_state.get("_w_review_coco_add", True)),
                manual=bool(st.session_state.get("_w_review_coco_manual")),
            )
            text = f"Imported {upload.name}: {report['named']} face(s) named, {report['added']} added, {report['skipped']} box(es) skipped."
    except review_actions.ACTION_ERRORS as error:
        state.post_message("error", f"Import of {upload.name} failed: {error_message(error)}")
        return
    state.post_message("success", text)


def _prepare_project(context: cached.Context | None, data: RunData) -> None:
    try:
        run_key = data.run_key
        if data.source == "current":
            run_key = review_data.save_current(context, data)["key"]
            st.session_state[state.RUN_KEY] = run_key
        path = review_exports.export_project_archive(data.workspace, [run_key], embed_inputs=bool(st.session_state.get("_w_review_embed")))
    except common.USER_ERRORS as error:
        state.post_message("error", f"The project archive could not be written: {common.error_message(error)}")
        return
    st.session_state[PROJECT_ARCHIVE_KEY] = str(path)
    state.post_message("success", f"Wrote the project archive {path}.")


def _import_project(workspace_root: str) -> None:
    upload = st.session_state.get("_w_review_project_upload")
    if upload is None:
        state.post_message("error", "Choose a project archive (.zip) to import first.")
        return
    try:
        report = review_exports.import_project_archive(cached.get_workspace(workspace_root), upload.getvalue())
    except common.USER_ERRORS as error:
        state.post_message("error", f"Import of {upload.name} failed: {common.error_message(error)}")
        return
    if report.runs:
        state.set_run(report.runs[0])
    actions = sum(report.corrections.values())
    state.post_message(
        "success",
        f"Imported {upload.name}: {len(report.runs)} run(s) ({len(report.runs_kept)} already here), "
        f"{report.entries_added} cache entries, {actions} correction action(s). Now reviewing run {report.runs[0] if report.runs else '-'}.",
    )


def share_section(context: cached.Context | None, data: RunData, view: pd.DataFrame, corrections) -> None:
    """Draw the downloads, the imports of labels and COCO boxes, and the project archive."""
    st.subheader("Export, import and share")
    exports, imports, share = st.columns(3)
    with exports:
        st.markdown("**Export**")
        st.download_button("Faces CSV (clusters and names)", review_exports.faces_csv_bytes(view), file_name=f"faces_{data.run_key}.csv", mime="text/csv", key="review_download_faces", on_click="ignore")
        st.download_button(
            "Labels CSV (your names as ground truth)",
            review_exports.labels_csv_bytes(corrections, data.table),
            file_name=f"labels_{data.run_key}.csv",
            mime="text/csv",
            key="review_download_labels",
            on_click="ignore",
        )
        if data.has_pages and (data.record.get("input") or {}).get("path"):
            st.download_button(
                "COCO JSON (boxes with identities)",
                functools.partial(review_exports.coco_bytes, view, data.record),
                file_name=f"faces_coco_{data.run_key}.json",
                mime="application/json",
                key="review_download_coco",
                on_click="ignore",
            )
        st.download_button(
            "ZIP of crops, a folder per character",
            functools.partial(review_exports.character_zip_bytes, view, data.record),
            file_name=f"characters_{data.run_key}.zip",
            mime="application/zip",
            key="review_download_zip",
            on_click="ignore",
        )
        extra = {"scores_against_corrections": _correction_scores(data, corrections)}
        st.download_button(
            "Metrics and configuration (JSON)",
            review_exports.run_json_bytes(data.record, view, extra),
            file_name=f"run_{data.run_key}.json",
            mime="application/json",
            key="review_download_json",
            on_click="ignore",
        )
    with imports:
        st.markdown("**Import**")
        st.file_uploader("Labels CSV (image_name,identity)", type=["csv"], key="_w_review_labels_upload")
        st.checkbox("Place the named faces by hand", key="_w_review_labels_manual", help="They then keep their name whatever the clustering.")
        st.button("Import the labels", key="review_import_labels", on_click=_import, args=(data, "labels"))
        if data.has_pages:
            st.file_uploader("COCO JSON of face boxes", type=["json"], key="_w_review_coco_upload")
            st.checkbox("Add boxes that match no detected face", value=True, key="_w_review_coco_add")
            st.checkbox("Place the named faces by hand", key="_w_review_coco_manual")
            st.button("Import the boxes", key="review_import_coco", on_click=_import, args=(data, "coco"))
    with share:
        st.markdown("**Share**")
        st.checkbox("Embed the input files", key="_w_review_embed", help="Without them the archive names the input's path, which the receiver must have.")
        st.button("Prepare the project archive", key="review_prepare_project", on_click=_prepare_project, args=(context, data))
        archive = st.session_state.get(PROJECT_ARCHIVE_KEY)
        if archive:
            from pathlib import Path

            path = Path(archive)
            if path.is_file():
                st.download_button("Download the project archive", path.read_bytes(), file_name=path.name, mime="application/zip", key="review_download_project", on_click="ignore")
                st.caption(f"Also saved as `{path}`.")
        st.markdown("**Link to this view**")
        if data.source == "current":
            st.caption(
                "The current results depend on this session's parameters, which a link does not carry. "
                "Press **Save as a stored run** at the top, and the page's address then reopens this view."
            )
        else:
            st.code("?" + state.url_query(), language=None)
            st.caption("Append this to the Review page's address; the address bar already shows it.")
