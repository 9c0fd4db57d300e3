"""The Streamlit dashboard run headless with AppTest: every page, real inputs, bad inputs.

All tests share one temporary workspace and a 2-page demo comic, so the demo
is drawn and processed once per session. The first page that runs the
pipeline computes it (tens of seconds on 2 cores); later pages read the
caches.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from comicfaces.dashboard.state import CONFIG_KEY, INPUT_KEY, InputSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (REPO_ROOT / "pages").glob("*.py"))
#: Seconds one script run may take; the first page that runs the pipeline on the demo computes it.
TIMEOUT = 600


@pytest.fixture(scope="session")
def dashboard_workspace(tmp_path_factory) -> Path:
    """A workspace shared by the dashboard tests, with a 2-page demo and the real model files."""
    root = tmp_path_factory.getbasetemp() / "dashboard-workspace"
    root.mkdir(exist_ok=True)
    models = REPO_ROOT.parent / "shared" / "models"
    patch = pytest.MonkeyPatch()
    patch.setenv("COMICFACES_WORKSPACE", str(root))
    patch.setenv("COMICFACES_DEMO_PAGES", "2")
    if models.is_dir():
        patch.setenv("COMICFACES_MODELS", str(models))
    yield root
    patch.undo()


def open_page(script: str, input_spec: InputSpec | None = None, **state) -> AppTest:
    """Run one page script with an optional input in the session state; return the finished app."""
    app = AppTest.from_file(str(REPO_ROOT / script), default_timeout=TIMEOUT)
    if input_spec is not None:
        app.session_state[INPUT_KEY] = input_spec.to_dict()
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def texts(elements) -> list[str]:
    """Return the values of a list of AppTest elements as strings."""
    return [str(element.value) for element in elements]


def metric_value(app: AppTest, label: str) -> str:
    """Return the value of the metric card labelled ``label``."""
    values = [metric.value for metric in app.metric if metric.label == label]
    assert values, f"no metric labelled {label!r}; metrics: {[m.label for m in app.metric]}"
    return values[0]


# -- every page on the demo -------------------------------------------------------------


def test_home_page_shows_demo_and_workspace(dashboard_workspace):
    app = open_page("app.py")

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert "comicfaces" in app.title[0].value
    markdown = " ".join(texts(app.markdown))
    assert "demo comic (2 pages, seed 0)" in markdown
    assert str(dashboard_workspace) in markdown


@pytest.mark.parametrize("script", PAGES)
def test_page_opens_on_demo(dashboard_workspace, script):
    app = open_page(f"pages/{script}")

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert app.title, "the page drew no title"


def test_panels_page_draws_selected_page(dashboard_workspace):
    app = open_page("pages/2_Panels.py")

    assert app.selectbox(key="_w_page").options == ["1. page01.png", "2. page02.png"]
    captions = [caption for image in app.image for caption in image.captions]
    assert any("page01.png" in caption and "panel(s)" in caption for caption in captions), captions


def test_faces_page_scores_demo_detections(dashboard_workspace):
    app = open_page("pages/4_Faces.py")

    assert not app.exception, texts(app.exception)
    recall = float(metric_value(app, "Recall"))
    precision = float(metric_value(app, "Precision"))
    assert 0.0 < recall <= 1.0
    assert 0.0 < precision <= 1.0
    assert int(metric_value(app, "Faces")) > 0


def test_stage_origin_memory_then_disk(dashboard_workspace):
    import streamlit as st

    first = open_page("pages/5_Features.py")
    again = open_page("pages/5_Features.py")
    st.cache_data.clear()
    from_disk = open_page("pages/5_Features.py")

    assert not first.exception, texts(first.exception)
    assert any("Features result: in-memory cache" in text for text in texts(again.caption))
    assert any("Features result: on-disk cache" in text for text in texts(from_disk.caption))


def test_clustering_page_orders_galleries(dashboard_workspace):
    app = open_page("pages/7_Clustering.py")

    headings = [text for text in texts(app.markdown) if "face(s)" in text and text.startswith("**")]
    assert headings, texts(app.markdown)
    sizes = [int(h.split(":")[1].split("face")[0]) for h in headings if not h.startswith("**noise")]
    assert sizes == sorted(sizes, reverse=True)
    noise = [i for i, h in enumerate(headings) if h.startswith("**noise")]
    assert noise in ([], [len(headings) - 1])


# -- parameter forms --------------------------------------------------------------------


def test_clustering_form_applies_kmeans(dashboard_workspace):
    app = open_page("pages/7_Clustering.py")
    app.selectbox(key="_w_clustering_name").set_value("kmeans").run()
    app.text_input(key="_w_clustering_kmeans_n_clusters").input("3")
    app.button(key="FormSubmitter:form_clustering_kmeans-Apply").click().run()

    assert not app.exception, texts(app.exception)
    assert app.session_state[CONFIG_KEY].clustering.name == "kmeans"
    assert app.session_state[CONFIG_KEY].clustering.params == {"n_clusters": 3}
    assert metric_value(app, "Clusters") == "3"


def test_invalid_parameter_shows_error(dashboard_workspace):
    app = open_page("pages/7_Clustering.py")
    before = dict(app.session_state[CONFIG_KEY].clustering.params)
    app.number_input(key="_w_clustering_agglomerative_max_clusters").set_value(1)
    app.button(key="FormSubmitter:form_clustering_agglomerative-Apply").click().run()

    assert not app.exception, texts(app.exception)
    errors = texts(app.sidebar.error)
    assert any("max_clusters" in text for text in errors), errors
    assert app.session_state[CONFIG_KEY].clustering.params == before


def test_evaluation_saves_and_deletes_run(dashboard_workspace):
    from comicfaces.cache import Workspace

    app = open_page("pages/8_Evaluation.py")
    app.button(key="save_run").click().run()
    saved = Workspace(dashboard_workspace).list_runs()

    assert not app.exception, texts(app.exception)
    assert any("Saved run" in text for text in texts(app.success))
    assert len(saved) == 1
    assert saved[0]["n_faces"] > 0
    assert (dashboard_workspace / "runs" / f"{saved[0]['key']}.faces.csv").is_file()

    app.selectbox(key="_w_run_delete").set_value(saved[0]["key"])
    app.button(key="delete_run").click().run()
    assert Workspace(dashboard_workspace).list_runs() == []


# -- real inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["pages/4_Faces.py", "pages/7_Clustering.py"])
def test_page_opens_on_golden_age(dashboard_workspace, shared_data, script):
    spec = InputSpec(kind="folder", paths=(str(shared_data / "golden_age"),))
    app = open_page(script, spec)

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert "golden_age" in " ".join(texts(app.sidebar.caption))


def test_golden_age_faces_lists_three_pages(dashboard_workspace, shared_data):
    spec = InputSpec(kind="folder", paths=(str(shared_data / "golden_age"),))
    app = open_page("pages/4_Faces.py", spec)

    assert metric_value(app, "Pages") == "3"
    assert len(app.selectbox(key="_w_page").options) == 3


def test_face_folder_with_labels_evaluates(dashboard_workspace, shared_data):
    folder = shared_data / "comicgen_faces"
    spec = InputSpec(kind="faces", paths=(str(folder / "faces"),), labels=str(folder / "labels.csv"))
    app = open_page("pages/8_Evaluation.py", spec)

    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)
    assert metric_value(app, "Labelled faces") == "695"
    assert metric_value(app, "pairwise F1") != "n/a"


def test_face_folder_skips_page_stages(dashboard_workspace, shared_data):
    folder = shared_data / "comicgen_faces"
    spec = InputSpec(kind="faces", paths=(str(folder / "faces"),), labels=str(folder / "labels.csv"))
    app = open_page("pages/2_Panels.py", spec)

    assert not app.exception, texts(app.exception)
    assert any("page stages" in text for text in texts(app.info))


# -- bad input --------------------------------------------------------------------------


def test_input_page_rejects_missing_folder(dashboard_workspace, tmp_path):
    missing = tmp_path / "no-such-folder"
    app = open_page("pages/1_Input.py")
    app.radio(key="_w_input_kind").set_value("folder").run()
    app.text_input(key="input_folder").input(str(missing))
    app.button(key="use_folder").click().run()

    assert not app.exception, texts(app.exception)
    assert any(str(missing) in text for text in texts(app.error)), texts(app.error)
    assert app.session_state[INPUT_KEY]["kind"] == "demo"


def test_stage_page_shows_missing_folder_error(dashboard_workspace, tmp_path):
    missing = tmp_path / "gone"
    app = open_page("pages/4_Faces.py", InputSpec(kind="folder", paths=(str(missing),)))

    assert not app.exception, texts(app.exception)
    assert any(str(missing) in text for text in texts(app.error)), texts(app.error)
    assert app.title, "the page stopped before drawing its title"


def test_stage_page_shows_empty_folder_error(dashboard_workspace, tmp_path):
    app = open_page("pages/2_Panels.py", InputSpec(kind="folder", paths=(str(tmp_path),)))

    assert not app.exception, texts(app.exception)
    assert any("no pages found" in text and str(tmp_path) in text for text in texts(app.error)), texts(app.error)


def test_corrupt_page_is_listed_as_skipped(dashboard_workspace, shared_data, tmp_path):
    good = (shared_data / "golden_age" / "judy_of_the_jungle_p1.jpg").read_bytes()
    (tmp_path / "01_good.jpg").write_bytes(good)
    (tmp_path / "02_broken.jpg").write_bytes(good[: len(good) // 3])
    app = open_page("pages/4_Faces.py", InputSpec(kind="folder", paths=(str(tmp_path),)))

    assert not app.exception, texts(app.exception)
    assert any("1 of 2 page(s) skipped" in text for text in texts(app.warning)), texts(app.warning)
    skipped = app.expander[0].dataframe[0].value
    assert list(skipped["page"]) == ["02_broken.jpg"]
    assert "02_broken.jpg" in skipped["error"][0]


def test_corrupt_upload_names_file(dashboard_workspace, shared_data):
    good = (shared_data / "golden_age" / "golden_p3.jpg").read_bytes()
    app = open_page("pages/1_Input.py")
    app.radio(key="_w_input_kind").set_value("uploads").run()
    app.file_uploader[0].set_value([("golden_p3.jpg", good, "image/jpeg"), ("scan.jpg", b"not an image", "image/jpeg")])
    app.run()
    app.button(key="use_uploads").click().run()

    assert not app.exception, texts(app.exception)
    assert any("scan.jpg" in text for text in texts(app.error)), texts(app.error)
    spec = InputSpec.from_dict(app.session_state[INPUT_KEY])
    assert spec.kind == "uploads"
    assert spec.names == ("golden_p3.jpg",)
    stored = Path(spec.paths[0])
    assert stored.parent == dashboard_workspace / "uploads"
    assert stored.read_bytes() == good



def test_reduction_page_switches_to_tsne(dashboard_workspace):
    app = open_page("pages/6_Reduction.py")
    app.radio(key="_w_view_method").set_value("tsne").run()

    assert not app.exception, texts(app.exception)
    assert any(text.startswith("2-D t-SNE result") for text in texts(app.caption)), texts(app.caption)


def test_sidebar_changes_workspace(dashboard_workspace, tmp_path):
    app = open_page("app.py")
    app.text_input(key="_w_workspace").input(str(tmp_path / "other")).run()

    assert not app.exception, texts(app.exception)
    assert app.session_state["cf_workspace"] == str(tmp_path / "other")
    assert (tmp_path / "other" / "cache").is_dir()
    assert f"`{tmp_path / 'other'}`" in " ".join(texts(app.markdown))


def test_faces_page_warns_of_skipped_detectors(dashboard_workspace, monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.setenv("COMICFACES_MODELS", str(tmp_path / "no_models_here"))
    monkeypatch.setenv("HOME", str(tmp_path))
    # Detector availability is cached per process; earlier tests may have seen model files.
    st.cache_resource.clear()
    app = open_page("pages/4_Faces.py")

    assert not app.exception, texts(app.exception)
    warnings = texts(app.warning)
    assert any("yunet" in text and "cannot run here" in text for text in warnings), warnings
    assert not any("trained" in text for text in warnings), warnings
    notes = texts(app.info)
    assert any("`trained`) has no model yet" in text for text in notes), notes
