"""Experiments page: define and run a sweep, show and export its table, and compare stored runs.

A sweep (:mod:`comicfaces.sweep`) crosses feature extractors, reducers and
clusterers on one face set and scores every combination. It is defined with
the menus of this page or read from a sweep file, and run with
:func:`comicfaces.sweep.run_sweep`, which stores the table in the workspace;
the command ``python -m comicfaces sweep FILE`` stores its tables there too.
The results section shows any stored sweep.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, experiments_charts, state
from comicfaces.dashboard import experiments_sweeps as sweeps
from comicfaces.dashboard.views.common import USER_ERRORS, error_message

logger = logging.getLogger(__name__)

#: Session key of the sweep the results section shows (a sweep key), set after a run.
SHOWN_SWEEP_KEY = "cf_exp_sweep"

FACE_SETS = {
    "current": "The dashboard's current input",
    "faces": "A folder of labelled face crops",
    "annotations": "COCO face annotations",
}

DEFINITIONS = {"menus": "With the menus", "file": "From a sweep file"}

DEFAULT_FEATURES = ["hog", "color_hist"]
DEFAULT_REDUCERS = ["none"]
DEFAULT_CLUSTERERS = ["hdbscan"]

GRID_EXAMPLE = """\
# One row per value of a list; other values are fixed.
clustering:
  hdbscan: {min_cluster_size: [3, 5]}
  kmeans: {n_clusters: auto}
"""

#: Metrics charted by default, where the table has them.
DEFAULT_CHART_METRICS = ["pairwise_f1_excl_noise", "bcubed_f1_singletons"]


def _registries() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Return the method names and descriptions of each stage."""
    from comicfaces import clustering, features, reduction

    return {
        "features": (sorted(features.FEATURES), dict(features.FEATURE_DESCRIPTIONS)),
        "reduction": (sorted(reduction.REDUCERS), dict(reduction.REDUCER_DESCRIPTIONS)),
        "clustering": (sorted(clustering.CLUSTERERS), dict(clustering.CLUSTERER_DESCRIPTIONS)),
    }


def workspace():
    """Return the session's workspace."""
    return cached.get_workspace(state.workspace_root())


def _drop_stale_choice(key: str, options: list) -> None:
    """Remove values of widget ``key`` that are no longer among ``options``.

    Another sweep, a deleted run or another workspace changes the options,
    and Streamlit rejects a widget whose stored value is not among them.
    """
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if isinstance(value, list):
        kept = [v for v in value if v in options]
        if kept != value:
            st.session_state[key] = kept
    elif value not in options:
        del st.session_state[key]


# -- sweep definition -------------------------------------------------------------------


def face_set_choice(context: cached.Context | None) -> dict | None:
    """Draw the choice of face set; return the sweep ``input`` mapping, or None after showing an error."""
    st.subheader("Face set")
    choice = st.radio("Faces to cluster", list(FACE_SETS), format_func=FACE_SETS.get, horizontal=True, key="_w_exp_faces")
    try:
        if choice == "current":
            if context is None:
                st.error("The current input cannot be read; pick another one on the Input page, or another face set here.")
                return None
            source = sweeps.sweep_input(context.workspace_root, context.spec)
            st.caption(
                f"{context.spec.describe()}. The page stages (panels, text, faces) use the parameters of the "
                "Panels, Text and Faces pages, so their cached results are reused."
            )
            return source
        if choice == "faces":
            left, right = st.columns(2)
            folder = left.text_input("Folder of face crops", key="_w_exp_faces_folder")
            labels = right.text_input("Labels CSV (image_name,identity)", key="_w_exp_faces_labels")
            if not folder.strip():
                st.info("Type the folder of face crops; without labels only the internal scores are computed.")
                return None
            return sweeps.custom_input("faces", folder, labels)
        path = st.text_input(
            "COCO annotations file",
            key="_w_exp_annotations",
            help="Face boxes with an identity per box; the crops are cut from the pages the file names.",
        )
        if not path.strip():
            st.info("Type the path of a COCO JSON file of face boxes with identities.")
            return None
        return sweeps.custom_input("annotations", path)
    except USER_ERRORS as error:
        st.error(f"Face set: {error_message(error)}")
        return None


def method_descriptions() -> None:
    """List every method of each stage with its description, in an expander."""
    with st.expander("Methods and what they do"):
        for stage, (names, descriptions) in _registries().items():
            st.markdown(f"**{stage}**")
            st.dataframe(
                pd.DataFrame({"method": names, "description": [descriptions.get(n, "") for n in names]}),
                hide_index=True,
                width="stretch",
            )


def sweep_definition(source: dict | None):
    """Draw the sweep definition; return the checked :class:`~comicfaces.sweep.SweepSpec` when *Run sweep* is pressed."""
    st.subheader("Grid")
    how = st.radio("Define the sweep", list(DEFINITIONS), format_func=DEFINITIONS.get, horizontal=True, key="_w_exp_how")
    if how == "menus":
        return _menu_definition(source)
    return _file_definition(source)


def _menu_definition(source: dict | None):
    registries = _registries()
    method_descriptions()
    with st.form("form_sweep"):
        selected = {}
        labels = {"features": "Feature extractors", "reduction": "Reducers", "clustering": "Clusterers"}
        defaults = {"features": DEFAULT_FEATURES, "reduction": DEFAULT_REDUCERS, "clustering": DEFAULT_CLUSTERERS}
        for stage, (names, descriptions) in registries.items():
            selected[stage] = st.multiselect(
                labels[stage],
                names,
                default=[n for n in defaults[stage] if n in names],
                key=f"_w_exp_{stage}",
                help="; ".join(f"{n}: {descriptions[n]}" for n in names if n in descriptions),
            )
        text = st.text_area(
            "Grid parameters (YAML)",
            key="_w_exp_grid",
            height=140,
            placeholder=GRID_EXAMPLE,
            help=(
                "Per stage and method: a list gives one row per value, any other value is fixed. "
                "To fix a list-valued parameter, write the method as {params: {...}, grid: {...}}, "
                "such as local: {params: {n_words: [16, 32]}}. Methods without an entry use their defaults."
            ),
        )
        submitted = st.form_submit_button("Run sweep", type="primary")
    st.caption(
        "A stage with no method selected keeps the setting of its page. Every stage result is cached in the "
        "workspace, so features shared by several rows are computed once and a rerun reads the cache."
    )
    if not submitted:
        return None
    if source is None:
        st.error("Choose a face set above before running the sweep.")
        return None
    if not selected["features"] and not selected["clustering"]:
        st.error("Select at least one feature extractor or clusterer.")
        return None
    try:
        grid = sweeps.build_grid(selected, sweeps.parse_grid_params(text))
        data = {"input": source, "base": state.current_config().to_dict(), "grid": grid}
        return sweeps.load_spec(data, Path.cwd(), "the sweep")
    except USER_ERRORS as error:
        st.error(f"The sweep is invalid: {error_message(error)}")
        return None


def _file_definition(source: dict | None):
    st.caption(
        "A sweep file lists `input`, an optional `base` configuration and the `grid` (see `python -m comicfaces sweep --help`). "
        "A file without `input` runs on the face set chosen above, with the page parameters of this session."
    )
    left, right = st.columns(2)
    path = left.text_input("Sweep file on this machine", key="_w_exp_file_path", placeholder="benchmarks/sweeps/comicgen.yaml")
    upload = right.file_uploader("or upload one", type=["yaml", "yml", "json"], key="_w_exp_file_upload")
    if not st.button("Run sweep", key="run_sweep_file", type="primary"):
        return None

    base = state.current_config().to_dict()
    try:
        if upload is not None:
            text = upload.getvalue().decode("utf-8")
            # An upload has no folder of its own, so relative paths start where the dashboard runs.
            return sweeps.spec_from_text(text, Path.cwd(), upload.name, source, base)
        if not path.strip():
            st.error("Type the path of a sweep file or upload one.")
            return None
        file = Path(path.strip()).expanduser()
        if not file.is_file():
            st.error(f"Sweep file not found: {file}; give the path of a YAML or JSON sweep file.")
            return None
        return sweeps.spec_from_text(file.read_text(encoding="utf-8"), file.resolve().parent, str(file), source, base)
    except UnicodeDecodeError as error:
        st.error(f"The sweep file is not UTF-8 text: {error}")
    except USER_ERRORS as error:
        st.error(f"The sweep is invalid: {error_message(error)}")
    return None


def run(spec) -> None:
    """Run the sweep with a progress bar and make its table the one the results section shows."""
    from comicfaces.sweep import run_sweep

    st.caption(f"Running {sweeps.describe_spec(spec)} on {sweeps.describe_input(spec.input)}.")
    bar = st.progress(0.0, text="Finding the faces (the first configuration waits for them)")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{stage}: {done}/{total} configurations")

    try:
        with st.spinner("Running the sweep..."):
            table = run_sweep(workspace(), spec, progress)
    except USER_ERRORS as error:
        logger.error("sweep failed: %s", error)
        st.error(f"The sweep failed: {error_message(error)}")
        return
    finally:
        bar.empty()
    key = table.attrs["key"]
    failed = int(table["error"].notna().sum()) if "error" in table else 0
    message = f"Sweep {key}: {len(table)} configuration(s) scored."
    if failed:
        message += f" {failed} failed; their errors are in the table."
    st.success(message)
    st.session_state[SHOWN_SWEEP_KEY] = key


# -- results ----------------------------------------------------------------------------


def results() -> None:
    """Show a stored sweep: sortable table, bar charts, a metric against a parameter, and exports."""
    from comicfaces.sweep import list_sweeps, load_sweep_table

    st.header("Results")
    records = list_sweeps(workspace())
    if not records:
        st.caption("No sweep is stored in this workspace yet. Run one above, or run `python -m comicfaces sweep FILE`.")
        return
    by_key = {record["key"]: record for record in records}
    keys = list(by_key)
    # A sweep run above is shown at once; the callback keeps a choice made in the menu.
    shown = st.session_state.get(SHOWN_SWEEP_KEY)
    _drop_stale_choice("_w_exp_shown", keys)
    if shown in keys and st.session_state.get("_w_exp_shown") != shown:
        st.session_state["_w_exp_shown"] = shown
    key = st.selectbox(
        "Sweep",
        keys,
        key="_w_exp_shown",
        on_change=_remember_shown_sweep,
        format_func=lambda k: _sweep_title(by_key[k]),
        help="Every sweep stored in the workspace, newest first.",
    )
    st.session_state[SHOWN_SWEEP_KEY] = key
    try:
        table = load_sweep_table(workspace(), key)
    except (KeyError, OSError, ValueError) as error:
        st.error(f"Sweep {key} cannot be read: {error_message(error)}")
        return
    record = by_key[key]
    st.caption(f"Input: {sweeps.describe_input(record.get('input') or {})}. {len(table)} configuration(s).")
    if "error" in table and table["error"].notna().any():
        st.warning(f"{int(table['error'].notna().sum())} configuration(s) failed; see the error column.")

    ordered = _sorted_table(table, "_w_exp_sort")
    st.dataframe(ordered[sweeps.result_columns(ordered)], hide_index=True, width="stretch")
    labels = sweeps.row_labels(table)
    metric_charts(table, labels, "_w_exp_chart_metrics")
    parameter_chart(table)
    exports(ordered, f"sweep_{key}", "sweep")


def _remember_shown_sweep() -> None:
    st.session_state[SHOWN_SWEEP_KEY] = st.session_state["_w_exp_shown"]


def _sweep_title(record: dict) -> str:
    created = pd.to_datetime(record.get("created", 0), unit="s").strftime("%Y-%m-%d %H:%M")
    return f"{record['key']} · {created} · {sweeps.describe_input(record.get('input') or {})}"


def _sorted_table(table: pd.DataFrame, key: str) -> pd.DataFrame:
    metrics = sweeps.metric_columns(table)
    if not metrics:
        return table
    left, right = st.columns([3, 1])
    default = "pairwise_f1_excl_noise" if "pairwise_f1_excl_noise" in metrics else metrics[0]
    _drop_stale_choice(key, metrics)
    column = left.selectbox("Sort by", metrics, index=metrics.index(default), key=key)
    descending = right.toggle(
        "Best first", value=True, key=f"{key}_best", help="Highest first, or lowest first for Davies-Bouldin and seconds."
    )
    lower_better = column in experiments_charts.LOWER_IS_BETTER
    return sweeps.sort_table(table, column, descending=descending != lower_better)


def metric_charts(table: pd.DataFrame, labels: list[str], key: str) -> None:
    """Draw one bar chart per chosen metric, rows sorted best first."""
    metrics = sweeps.metric_columns(table)
    if not metrics:
        st.caption("The table has no metric columns to chart.")
        return
    st.subheader("Metrics")
    default = [m for m in DEFAULT_CHART_METRICS if m in metrics] or metrics[:1]
    _drop_stale_choice(key, metrics)
    chosen = st.multiselect("Metrics to chart", metrics, default=default, key=key)
    for metric in chosen:
        st.plotly_chart(experiments_charts.metric_bars(table[metric], labels, metric), width="stretch", key=f"{key}_{metric}")


def parameter_chart(table: pd.DataFrame) -> None:
    """Draw a chosen metric against a chosen parameter of the sweep."""
    st.subheader("A metric against a parameter")
    parameters = sweeps.varying_parameters(sweeps.parameter_table(table))
    metrics = sweeps.metric_columns(table)
    if not parameters or not metrics:
        st.caption("Every row has the same parameters, so there is nothing to plot against.")
        return
    left, right = st.columns(2)
    default = "pairwise_f1_excl_noise" if "pairwise_f1_excl_noise" in metrics else metrics[0]
    _drop_stale_choice("_w_exp_param_metric", metrics)
    _drop_stale_choice("_w_exp_param", parameters)
    metric = left.selectbox("Metric", metrics, index=metrics.index(default), key="_w_exp_param_metric")
    parameter = right.selectbox(
        "Parameter", parameters, key="_w_exp_param", help="A stage (its method) or one of a method's parameters, as stage.parameter."
    )
    frame = sweeps.metric_against_parameter(table, metric, parameter)
    st.plotly_chart(experiments_charts.metric_against_parameter_figure(frame, metric, parameter), width="stretch")


def exports(table: pd.DataFrame, stem: str, key: str) -> None:
    """Offer the table as CSV and as a LaTeX tabular, in the order shown."""
    from comicfaces.sweep import to_latex

    latex = to_latex(table.reset_index(drop=True))
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", sweeps.csv_bytes(table), file_name=f"{stem}.csv", mime="text/csv", key=f"download_{key}_csv"
    )
    right.download_button(
        "Download LaTeX", latex.encode("utf-8"), file_name=f"{stem}.tex", mime="text/x-tex", key=f"download_{key}_latex"
    )
    with st.expander("LaTeX table"):
        st.code(latex, language="latex")


# -- stored runs ------------------------------------------------------------------------


def compare_runs() -> None:
    """Compare the runs stored in the workspace: a table, bar charts per metric and exports."""
    st.header("Compare stored runs")
    records = workspace().list_runs()
    if not records:
        st.caption("No run is stored in this workspace yet. Save one on the Evaluation page, or run `python -m comicfaces run`.")
        return
    frame = sweeps.runs_comparison(records)
    names = dict(zip(frame["key"], frame["name"]))
    _drop_stale_choice("_w_cmp_runs", list(frame["key"]))
    chosen = st.multiselect(
        "Runs",
        list(frame["key"]),
        default=list(frame["key"]),
        key="_w_cmp_runs",
        format_func=lambda k: f"{k}  {names[k]}",
    )
    if not chosen:
        st.info("Select at least one run to compare.")
        return
    frame = frame[frame["key"].isin(chosen)].reset_index(drop=True)
    ordered = _sorted_table(frame, "_w_cmp_sort")
    fixed = ["key", "name", "created", "from", "input", "features", "reduction", "clustering", "n_faces"]
    st.dataframe(ordered[fixed + sweeps.metric_columns_of_records(ordered)], hide_index=True, width="stretch")
    labels = [f"{key[:8]} {label}" for key, label in zip(frame["key"], sweeps.row_labels(frame))]
    metric_charts(frame, labels, "_w_cmp_chart_metrics")
    exports(ordered, "runs", "runs")
