"""The Experiments page, the estimator curves and the parameter widgets, run headless with AppTest.

The page tests share one temporary workspace with a 2-page demo comic (25
detected faces), so the demo is processed once, by the first sweep.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from comicfaces.cache import Workspace
from comicfaces.config import PipelineConfig
from comicfaces.dashboard import experiments_sweeps as sweeps
from comicfaces.dashboard.state import CONFIG_KEY, InputSpec
from comicfaces.dashboard.widgets import parse_json_list, parse_one_or_many

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = str(REPO_ROOT / "pages" / "10_Experiments.py")
#: Seconds one script run may take; the first sweep processes the demo pages.
TIMEOUT = 600
RUN_SWEEP = "FormSubmitter:form_sweep-Run sweep"


@pytest.fixture(scope="module")
def experiments_workspace(tmp_path_factory) -> Path:
    """A workspace for this module, with a 2-page demo comic and the real model files."""
    root = tmp_path_factory.mktemp("experiments-workspace")
    models = REPO_ROOT.parent / "shared" / "models"
    patch = pytest.MonkeyPatch()
    patch.setenv("COMICFACES_WORKSPACE", str(root))
    patch.setenv("COMICFACES_DEMO_PAGES", "2")
    if models.is_dir():
        patch.setenv("COMICFACES_MODELS", str(models))
    yield root
    patch.undo()


@pytest.fixture(scope="module")
def tiny_sweep(experiments_workspace) -> AppTest:
    """The Experiments page after running 2 feature extractors x 2 clusterers on the demo."""
    app = open_page(PAGE)
    app.multiselect(key="_w_exp_features").set_value(["hog", "color_hist"])
    app.multiselect(key="_w_exp_clustering").set_value(["agglomerative", "kmeans"])
    app.text_area(key="_w_exp_grid").input("clustering:\n  kmeans: {n_clusters: 4}\n")
    return app.button(key=RUN_SWEEP).click().run()


def open_page(script: str, **state) -> AppTest:
    """Run a page script with values in the session state; return the finished app."""
    app = AppTest.from_file(script, default_timeout=TIMEOUT)
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def texts(elements) -> list[str]:
    """Return the values of a list of AppTest elements as strings."""
    return [str(element.value) for element in elements]


def figure_titles(app: AppTest) -> list[str]:
    """Return the title of every plotly chart on the page."""
    titles = []
    for chart in app.get("plotly_chart"):
        layout = json.loads(chart.proto.spec).get("layout", {})
        titles.append(((layout.get("title") or {}).get("text")) or "")
    return titles


def dataframe_with(app: AppTest, column: str) -> pd.DataFrame:
    """Return the first dataframe on the page that has ``column``."""
    for frame in app.dataframe:
        if column in frame.value:
            return frame.value
    raise AssertionError(f"no dataframe with a {column!r} column")


# -- the page ---------------------------------------------------------------------------


def test_page_opens_empty_workspace(experiments_workspace, tmp_path):
    app = open_page(PAGE, cf_workspace=str(tmp_path / "empty"))

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    captions = " ".join(texts(app.caption))
    assert "No sweep is stored" in captions
    assert "No run is stored" in captions


def test_tiny_sweep_shows_table(tiny_sweep):
    app = tiny_sweep

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert any("4 configuration(s) scored" in text for text in texts(app.success)), texts(app.success)
    table = dataframe_with(app, "pairwise_f1_excl_noise")
    assert len(table) == 4
    assert sorted(json.loads(text)["name"] for text in table["features"]) == ["color_hist", "color_hist", "hog", "hog"]
    kmeans_rows = [json.loads(text) for text in table["clustering"] if "kmeans" in text]
    assert kmeans_rows == [{"n_clusters": 4, "name": "kmeans"}] * 2
    assert table["pairwise_f1_excl_noise"].notna().all()


def test_tiny_sweep_sorted_best_first(tiny_sweep):
    table = dataframe_with(tiny_sweep, "pairwise_f1_excl_noise")

    scores = list(table["pairwise_f1_excl_noise"])
    assert scores == sorted(scores, reverse=True)


def test_tiny_sweep_offers_exports(tiny_sweep):
    buttons = {button.key: button for button in tiny_sweep.get("download_button")}

    assert "download_sweep_csv" in buttons
    assert "download_sweep_latex" in buttons
    latex = texts(tiny_sweep.code)[0]
    assert latex.startswith(r"\begin{tabular}")
    assert latex.count(r"\\") == 5  # header and 4 rows


def test_tiny_sweep_charts_metric(tiny_sweep):
    titles = figure_titles(tiny_sweep)

    assert "pairwise_f1_excl_noise" in titles
    assert "bcubed_f1_singletons" in titles


def test_metric_against_parameter_chart(tiny_sweep):
    app = tiny_sweep
    assert app.selectbox(key="_w_exp_param").options == ["features", "clustering"]

    app.selectbox(key="_w_exp_param").set_value("clustering").run()

    assert not app.exception, texts(app.exception)
    assert "pairwise_f1_excl_noise against clustering" in figure_titles(app)


def test_stored_sweep_reopens(tiny_sweep, experiments_workspace):
    from comicfaces.sweep import list_sweeps

    stored = list_sweeps(Workspace(experiments_workspace))
    app = open_page(PAGE)

    shown = app.selectbox(key="_w_exp_shown")
    assert [option.split(" · ")[0] for option in shown.options] == [record["key"] for record in stored]
    assert shown.value == stored[0]["key"]
    assert len(dataframe_with(app, "pairwise_f1_excl_noise")) == 4


def test_grid_yaml_for_unselected_method(experiments_workspace):
    app = open_page(PAGE)
    app.text_area(key="_w_exp_grid").input("clustering:\n  spectral: {n_neighbors: [5, 10]}\n")
    app.button(key=RUN_SWEEP).click().run()

    assert not app.exception, texts(app.exception)
    assert any("spectral" in text and "not selected" in text for text in texts(app.error)), texts(app.error)


def test_grid_yaml_invalid_parameter(experiments_workspace):
    app = open_page(PAGE)
    app.text_area(key="_w_exp_grid").input("clustering:\n  hdbscan: {min_cluster_size: [1, 5]}\n")
    app.button(key=RUN_SWEEP).click().run()

    assert not app.exception, texts(app.exception)
    assert any("min_cluster_size" in text for text in texts(app.error)), texts(app.error)


def test_uploaded_sweep_without_input(tiny_sweep, experiments_workspace):
    sweep = b"grid:\n  features: [{name: hog}]\n  clustering: [{name: kmeans, grid: {n_clusters: [2, 3]}}]\n"
    app = open_page(PAGE)
    app.radio(key="_w_exp_how").set_value("file").run()
    app.file_uploader(key="_w_exp_file_upload").set_value([("mine.yaml", sweep, "application/x-yaml")])
    app.run()
    app.button(key="run_sweep_file").click().run()

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert any("2 configuration(s) scored" in text for text in texts(app.success)), texts(app.success)
    assert len(dataframe_with(app, "pairwise_f1_excl_noise")) == 2


def test_sweep_on_demo_annotations(tiny_sweep, experiments_workspace, tmp_path):
    import shutil

    from comicfaces.dashboard.inputs import ensure_demo

    # A COCO file names its pages relative to the folder above its own.
    folder, demo_truth = ensure_demo(experiments_workspace, 2, 0)
    for page in folder.glob("*.png"):
        shutil.copy(page, tmp_path / page.name)
    truth = tmp_path / "annotations" / "faces.json"
    truth.parent.mkdir()
    shutil.copy(demo_truth, truth)
    app = open_page(PAGE)
    app.radio(key="_w_exp_faces").set_value("annotations").run()
    app.text_input(key="_w_exp_annotations").input(str(truth)).run()
    app.multiselect(key="_w_exp_features").set_value(["color_hist"])
    app.multiselect(key="_w_exp_clustering").set_value(["kmeans"])
    app.button(key=RUN_SWEEP).click().run()

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert any("annotated faces of" in text and str(truth) in text for text in texts(app.caption)), texts(app.caption)
    table = dataframe_with(app, "pairwise_f1_excl_noise")
    assert len(table) == 1
    truth_faces = [a for a in json.loads(truth.read_text())["annotations"] if not a.get("ignore")]
    assert table["n_faces"].iloc[0] == len(truth_faces)


def test_sweep_on_labelled_crops(tiny_sweep, shared_data):
    folder = shared_data / "comicgen_faces"
    app = open_page(PAGE)
    app.radio(key="_w_exp_faces").set_value("faces").run()
    app.text_input(key="_w_exp_faces_folder").input(str(folder / "faces"))
    app.text_input(key="_w_exp_faces_labels").input(str(folder / "labels.csv")).run()
    app.multiselect(key="_w_exp_features").set_value(["color_hist"])
    app.multiselect(key="_w_exp_clustering").set_value(["kmeans"])
    app.text_area(key="_w_exp_grid").input("features:\n  color_hist: {bins: 8}\nclustering:\n  kmeans: {n_clusters: [11, 22]}\n")
    app.button(key=RUN_SWEEP).click().run()

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    table = dataframe_with(app, "pairwise_f1_excl_noise")
    assert sorted(table["n_clusters"]) == [11, 22]
    assert (table["n_labelled"] == 695).all()


def test_missing_crops_folder_shows_error(experiments_workspace, tmp_path):
    app = open_page(PAGE)
    app.radio(key="_w_exp_faces").set_value("faces").run()
    app.text_input(key="_w_exp_faces_folder").input(str(tmp_path / "gone")).run()

    assert not app.exception, texts(app.exception)
    assert any("face folder not found" in text and "gone" in text for text in texts(app.error)), texts(app.error)


def test_compare_runs_lists_stored_runs(tiny_sweep, experiments_workspace):
    from comicfaces.dashboard.inputs import ensure_demo
    from comicfaces.pipeline import run_pipeline

    workspace = Workspace(experiments_workspace)
    folder, truth = ensure_demo(experiments_workspace, 2, 0)
    keys = []
    for n_clusters in (3, 5):
        config = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": n_clusters}})
        result = run_pipeline(workspace, folder, config, truth=truth, name=f"kmeans {n_clusters}")
        keys.append(result.key)
    app = open_page(PAGE)

    assert not app.exception, texts(app.exception)
    table = dataframe_with(app, "created")
    assert sorted(table["key"]) == sorted(keys)
    assert sorted(table["name"]) == ["kmeans 3", "kmeans 5"]
    assert {json.loads(text)["n_clusters"] for text in table["clustering"]} == {3, 5}
    buttons = [button.key for button in app.get("download_button")]
    assert "download_runs_csv" in buttons
    assert "download_runs_latex" in buttons


# -- estimator curves -------------------------------------------------------------------


def test_reduction_page_shows_eigengap(tiny_sweep):
    config = PipelineConfig().replace(clustering={"name": "spectral", "params": {"max_clusters": 8}})
    app = open_page(str(REPO_ROOT / "pages" / "6_Reduction.py"), **{CONFIG_KEY: config})

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    titles = figure_titles(app)
    assert "eigengap per number of clusters" in titles
    assert "Smallest eigenvalues of the graph Laplacian" in titles
    assert any("tried k = 2 to 8" in text for text in texts(app.caption)), texts(app.caption)


def test_kmeans_auto_curve_matches_labels(tiny_sweep):
    config = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": "auto", "max_clusters": 6}})
    reduction = open_page(str(REPO_ROOT / "pages" / "6_Reduction.py"), **{CONFIG_KEY: config})
    clustering = open_page(str(REPO_ROOT / "pages" / "7_Clustering.py"), **{CONFIG_KEY: config})

    assert not reduction.exception, texts(reduction.exception)
    assert "silhouette per number of clusters" in figure_titles(reduction)
    chosen = [text for text in texts(reduction.caption) if "and chose" in text]
    assert chosen, texts(reduction.caption)
    clusters = [metric.value for metric in clustering.metric if metric.label == "Clusters"]
    assert chosen[0].endswith(f"k = {clusters[0]}.")


def test_fixed_k_shows_no_curve(tiny_sweep):
    config = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 3}})
    app = open_page(str(REPO_ROOT / "pages" / "6_Reduction.py"), **{CONFIG_KEY: config})

    assert not app.exception, texts(app.exception)
    assert "Choice of the number of clusters" not in texts(app.subheader)


@pytest.fixture
def simclr_registered(monkeypatch):
    """Register SimCLR as feature extractor ``simclr`` for one test."""
    from comicfaces.features import FEATURES
    from comicfaces.features.simclr import SimCLRFeatures

    monkeypatch.setitem(FEATURES, "simclr", SimCLRFeatures)
    return "simclr"


def small_simclr(epochs: int) -> PipelineConfig:
    """A SimCLR configuration that trains in seconds on the demo's 25 crops."""
    params = {"image_size": 32, "epochs": epochs, "batch_size": 16, "warmup_epochs": 0, "device": "cpu"}
    return PipelineConfig().replace(features={"name": "simclr", "params": params})


def test_simclr_loss_curve_stored(tiny_sweep, experiments_workspace, simclr_registered):
    from comicfaces.dashboard.experiments_curves import stored_loss_history

    app = open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: small_simclr(epochs=2)})

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert "simclr: mean loss per epoch" in figure_titles(app)
    assert any("Features result: on-disk cache" in text for text in texts(app.caption)), texts(app.caption)
    assert any("2 epochs, mean loss" in text for text in texts(app.caption)), texts(app.caption)
    workspace = Workspace(experiments_workspace)
    keys = [entry["key"] for entry in workspace.list_entries("features")]
    histories = [stored_loss_history(workspace, key) for key in keys]
    assert [len(history) for history in histories if history] == [2]


def test_simclr_pipeline_reuses_dashboard_features(tiny_sweep, experiments_workspace, simclr_registered):
    from comicfaces.pipeline import compute_features, face_set_from_pages, process_pages
    from comicfaces.dashboard.inputs import ensure_demo
    from comicfaces.imageio import list_pages

    config = small_simclr(epochs=2)
    open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: config})
    workspace = Workspace(experiments_workspace)
    folder, _ = ensure_demo(experiments_workspace, 2, 0)
    faces = face_set_from_pages(process_pages(workspace, list_pages(folder), config))

    _, _, cached = compute_features(workspace, faces, config)

    assert cached


def test_simclr_history_from_pipeline_shown(tiny_sweep, experiments_workspace, simclr_registered):
    from comicfaces.pipeline import compute_features, face_set_from_pages, process_pages
    from comicfaces.dashboard.inputs import ensure_demo
    from comicfaces.imageio import list_pages

    config = small_simclr(epochs=1)
    workspace = Workspace(experiments_workspace)
    folder, _ = ensure_demo(experiments_workspace, 2, 0)
    faces = face_set_from_pages(process_pages(workspace, list_pages(folder), config))
    compute_features(workspace, faces, config)

    # The pipeline stores the loss history with the features, so the page shows
    # the curve without training again.
    app = open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: config})
    assert not app.exception, texts(app.exception)
    assert not any("No loss history" in text for text in texts(app.info)), texts(app.info)
    assert "simclr: mean loss per epoch" in figure_titles(app)
    assert any("1 epoch, mean loss" in text for text in texts(app.caption)), texts(app.caption)


# -- parameter widgets ------------------------------------------------------------------


def test_features_page_rejects_bad_blocks_json(tiny_sweep):
    config = PipelineConfig().replace(features={"name": "concat", "params": {}})
    app = open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: config})
    app.text_area(key="_w_features_concat_blocks").input('[{"name": "hog",}]')
    app.button(key="FormSubmitter:form_features_concat-Apply").click().run()

    assert not app.exception, texts(app.exception)
    errors = texts(app.sidebar.error)
    assert any("blocks: invalid JSON" in text for text in errors), errors
    assert app.session_state[CONFIG_KEY].features.params == {}


def test_features_page_applies_blocks_json(tiny_sweep):
    config = PipelineConfig().replace(features={"name": "concat", "params": {}})
    blocks = [{"name": "hog", "weight": 2.0}, {"name": "color_hist", "params": {"bins": 8}}]
    app = open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: config})
    app.text_area(key="_w_features_concat_blocks").input(json.dumps(blocks))
    app.button(key="FormSubmitter:form_features_concat-Apply").click().run()

    assert not app.exception, texts(app.exception)
    assert not app.sidebar.error, texts(app.sidebar.error)
    assert list(app.session_state[CONFIG_KEY].features.params["blocks"]) == blocks


def test_features_page_rejects_unknown_block(tiny_sweep):
    config = PipelineConfig().replace(features={"name": "concat", "params": {}})
    app = open_page(str(REPO_ROOT / "pages" / "5_Features.py"), **{CONFIG_KEY: config})
    app.text_area(key="_w_features_concat_blocks").input('[{"name": "no_such_extractor"}]')
    app.button(key="FormSubmitter:form_features_concat-Apply").click().run()

    errors = texts(app.sidebar.error)
    assert any("blocks[0]" in text and "no_such_extractor" in text for text in errors), errors


def widget_script():
    """A form with one widget per field of LocalDescriptorConfig, LBPConfig and ConcatConfig."""
    import streamlit as st

    from comicfaces.dashboard import widgets
    from comicfaces.features.combine import ConcatConfig
    from comicfaces.features.lbp import LBPConfig
    from comicfaces.features.local import LocalDescriptorConfig

    with st.form("parse"):
        readers = widgets.field_widgets(LocalDescriptorConfig(), "local")
        readers.update(widgets.field_widgets(ConcatConfig(), "concat"))
        widgets.field_widgets(LBPConfig(), "lbp")  # drawn for its choices only; its values are not read
        submitted = st.form_submit_button("Parse")
    if submitted:
        try:
            st.session_state["parsed"] = widgets.read_values(readers)
        except ValueError as error:
            st.error(str(error))


def test_n_words_widget_takes_list():
    app = AppTest.from_function(widget_script).run()
    app.text_input(key="local_n_words").input("16, 32,64")
    app.button(key="FormSubmitter:parse-Parse").click().run()

    assert not app.error, texts(app.error)
    assert app.session_state["parsed"]["n_words"] == (16, 32, 64)


def test_n_words_widget_takes_one_value():
    app = AppTest.from_function(widget_script).run()
    assert app.text_input(key="local_n_words").value == "64"

    app.button(key="FormSubmitter:parse-Parse").click().run()
    assert app.session_state["parsed"]["n_words"] == 64


def test_n_words_widget_rejects_text():
    app = AppTest.from_function(widget_script).run()
    app.text_input(key="local_n_words").input("16, many")
    app.button(key="FormSubmitter:parse-Parse").click().run()

    assert any("n_words" in text and "'many'" in text for text in texts(app.error)), texts(app.error)


def test_string_choices_are_selectboxes():
    from comicfaces.features.lbp import LBP_METHODS
    from comicfaces.features.local import DETECTORS, NORMS
    from comicfaces.features.codebook import ENCODINGS

    app = AppTest.from_function(widget_script).run()

    assert app.selectbox(key="local_detector").options == list(DETECTORS)
    assert app.selectbox(key="local_encoding").options == list(ENCODINGS)
    assert app.selectbox(key="local_norm").options == list(NORMS)
    assert app.selectbox(key="lbp_method").options == list(LBP_METHODS)


def test_blocks_widget_is_json_area():
    app = AppTest.from_function(widget_script).run()

    shown = json.loads(app.text_area(key="concat_blocks").value)
    assert [block["name"] for block in shown] == ["hog", "color_hist"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"name": "hog"', "invalid JSON"),
        ('{"name": "hog"}', "got a JSON object"),
        ('[{"name": "hog"}, "lbp"]', "blocks[1]: expected a JSON object"),
    ],
)
def test_parse_blocks_rejects(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_json_list("blocks", text, objects=True)


def test_parse_blocks_accepts_list():
    assert parse_json_list("blocks", '[{"name": "hog"}]', objects=True) == ({"name": "hog"},)


@pytest.mark.parametrize(("text", "expected"), [("64", 64), ("16,32,64", (16, 32, 64)), ("[8, 16]", (8, 16)), (" 32 ", 32)])
def test_parse_one_or_many(text, expected):
    assert parse_one_or_many("n_words", text, int) == expected


@pytest.mark.parametrize("text", ["", "16,,32", "1.5", "sixteen"])
def test_parse_one_or_many_rejects(text):
    with pytest.raises(ValueError, match="n_words"):
        parse_one_or_many("n_words", text, int)


# -- sweep helpers ----------------------------------------------------------------------


def test_grid_params_shorthand_and_explicit():
    parsed = sweeps.parse_grid_params(
        "clustering:\n  hdbscan: {min_cluster_size: [3, 5], normalize: false}\n"
        "features:\n  local: {params: {n_words: [16, 32]}}\n"
    )

    assert parsed["clustering"]["hdbscan"] == {"params": {"normalize": False}, "grid": {"min_cluster_size": [3, 5]}}
    assert parsed["features"]["local"] == {"params": {"n_words": [16, 32]}, "grid": {}}


@pytest.mark.parametrize(
    ("text", "message"),
    [("clustering: [hdbscan]", "must map method names"), ("clusters: {}", "unknown stage"), ("a: [", "invalid YAML")],
)
def test_grid_params_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        sweeps.parse_grid_params(text)


def test_parameter_table_splits_json():
    table = pd.DataFrame(
        {
            "features": ['{"name": "hog"}', '{"name": "lbp", "grid": [4, 4]}'],
            "clustering": ['{"min_cluster_size": 3, "name": "hdbscan"}', '{"min_cluster_size": 5, "name": "hdbscan"}'],
        }
    )
    parameters = sweeps.parameter_table(table)

    assert list(parameters["features"]) == ["hog", "lbp"]
    assert parameters["features.grid"].isna().tolist() == [True, False]
    assert parameters.at[1, "features.grid"] == "[4, 4]"
    assert list(parameters["clustering.min_cluster_size"]) == [3, 5]
    assert sweeps.varying_parameters(parameters) == ["features", "clustering.min_cluster_size"]


def test_uploads_folder_links_named_files(tmp_path):
    first = tmp_path / "aaa.png"
    second = tmp_path / "bbb.png"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    spec = InputSpec(kind="uploads", paths=(str(first), str(second)), names=("page.png", "page.png"))

    folder = Path(sweeps.sweep_input(tmp_path / "ws", spec)["pages"])

    assert sorted(p.name for p in folder.iterdir()) == ["page (2).png", "page.png"]
    assert (folder / "page (2).png").read_bytes() == b"2"


def test_results_follow_workspace_change(tiny_sweep, tmp_path):
    app = open_page(PAGE)
    app.selectbox(key="_w_exp_sort").set_value("coverage").run()
    app.text_input(key="_w_workspace").input(str(tmp_path / "other")).run()

    assert not app.exception, texts(app.exception)
    assert any("No sweep is stored" in text for text in texts(app.caption)), texts(app.caption)
