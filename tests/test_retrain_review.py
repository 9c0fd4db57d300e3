"""The Review page's "Improve the detector with my corrections" section, headless with AppTest.

The page reviews a 2-page demo comic in a workspace of this module, seeded
with the dashboard tests' cache when they ran first. The current results are
saved as a stored run first, so selecting the retrained detector changes the
session's settings without detecting the pages again. Training uses tiny
settings (1 epoch, 128 px crops, random weights).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

from streamlit.testing.v1 import AppTest  # noqa: E402

from comicfaces.cache import Workspace  # noqa: E402
from comicfaces.config import PipelineConfig  # noqa: E402
from comicfaces.dashboard.review_detector import CHOSEN_KEY, NEW_DETECTOR, ROW_LABELS, START_LABEL  # noqa: E402
from comicfaces.dashboard.state import CONFIG_KEY, WORKSPACE_KEY  # noqa: E402
from comicfaces.detect.retrain import BENCHMARK_ROWS, list_retrainings  # noqa: E402
from comicfaces.pipeline import load_run_faces  # noqa: E402

from workspaces import seeded_dashboard_workspace  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
REVIEW_PAGE = str(REPO_ROOT / "pages" / "9_Review.py")
TIMEOUT = 600
KMEANS_4 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 4}})


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Iterator[Path]:
    """Workspace of this module, seeded with the dashboard tests' cache when they ran first."""
    yield from seeded_dashboard_workspace(tmp_path_factory, "retrain-review-workspace")


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def check(app: AppTest) -> None:
    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)


def open_stored_run(root: Path) -> AppTest:
    """Open the Review page on the demo's current results and save them as a stored run."""
    app = AppTest.from_file(REVIEW_PAGE, default_timeout=TIMEOUT)
    app.session_state[WORKSPACE_KEY] = str(root)
    app.session_state[CONFIG_KEY] = KMEANS_4
    app.run()
    check(app)
    app.button(key="review_save_run").click().run()
    check(app)
    return app


def set_tiny_settings(app: AppTest) -> None:
    app.number_input(key="_w_review_retrain_epochs").set_value(1)
    app.selectbox(key="_w_review_retrain_image_size").set_value(128)
    app.number_input(key="_w_review_retrain_batch").set_value(2)
    app.number_input(key="_w_review_retrain_max_side").set_value(512)
    app.slider(key="_w_review_retrain_threshold").set_value(0.05)
    app.checkbox(key="_w_review_retrain_pretrained").uncheck()


def benchmark_table(app: AppTest):
    tables = [frame.value for frame in app.dataframe if "boxes from" in frame.value.columns]
    assert tables, "no benchmark table on the page"
    return tables[-1]


def used_statement(app: AppTest) -> str:
    used = [text for text in texts(app.markdown) if text.startswith("**Uses**")]
    assert len(used) == 1, texts(app.markdown)
    return used[0]


def test_section_states_what_is_used(root):
    app = open_stored_run(root)
    before = used_statement(app)
    assert "2 page(s), 2 of them with faces" in before
    assert "0 of them added by hand, and 0 rejected box(es)" in before
    assert "**Measures** on 1 held-out page(s)" in before
    assert not app.button(key="review_retrain_detector").disabled

    # Reject one detected face and add one by hand; the statement counts both.
    (record,) = Workspace(root).list_runs()
    face = load_run_faces(Workspace(root), record["key"])["face_id"].iloc[0]
    app.session_state["cf_review_selection"] = [face]
    app.run()
    app.button(key="review_reject").click().run()
    check(app)
    for side, value in zip(("x0", "y0", "x1", "y1"), (20, 30, 120, 140)):
        app.number_input(key=f"_w_review_add_{side}").set_value(value)
    app.button(key="review_add").click().run()
    check(app)
    after = used_statement(app)
    assert "1 of them added by hand, and 1 rejected box(es)" in after


def test_retrain_shows_benchmark_and_uses_model(root):
    app = open_stored_run(root)
    set_tiny_settings(app)
    app.run()
    app.button(key="review_retrain_detector").click().run()
    check(app)

    assert any("Retrained the detector" in text for text in texts(app.success)), texts(app.success)
    table = benchmark_table(app)
    assert table["boxes from"].tolist() == [ROW_LABELS[name] for name in BENCHMARK_ROWS]
    assert table["faces"].gt(0).all()
    assert len(app.get("plotly_chart")) >= 1
    (stored,) = list_retrainings(Workspace(root))
    assert stored.config["epochs"] == 1
    assert stored.config["image_size"] == 128

    app.button(key="review_use_retrained").click().run()
    check(app)
    faces = app.session_state[CONFIG_KEY].faces
    assert "trained" in faces.detectors
    assert faces.detector_params["trained"]["model_path"] == stored.model_path
    assert faces.detector_params["trained"]["score_threshold"] == pytest.approx(0.05)
    assert set(KMEANS_4.faces.detectors) <= set(faces.detectors)
    assert any("'trained' using the model" in text for text in texts(app.success)), texts(app.success)
    assert app.button(key="review_use_retrained").disabled

    # The same corrections and settings are served from the store. The session's model is now the default
    # start, so the test chooses the ImageNet backbone again.
    assert start_choice(app).value == stored.model_path
    start_choice(app).set_value(NEW_DETECTOR).run()
    app.button(key="review_retrain_detector").click().run()
    check(app)
    assert any("already trained on" in text for text in texts(app.success)), texts(app.success)
    assert len(list_retrainings(Workspace(root))) == 1


def start_choice(app: AppTest):
    choices = [box for box in app.selectbox if box.label == START_LABEL]
    assert len(choices) == 1, [box.label for box in app.selectbox]
    return choices[0]


def test_retrain_from_stored_retraining(root):
    app = open_stored_run(root)
    set_tiny_settings(app)
    app.run()
    # A retraining from the ImageNet backbone to start from; the store serves it when the test above made it.
    assert start_choice(app).value == NEW_DETECTOR
    app.button(key="review_retrain_detector").click().run()
    check(app)
    stored = list_retrainings(Workspace(root))
    (start,) = [result for result in stored if result.key == app.session_state[CHOSEN_KEY]]
    assert start.config.get("init_from") is None

    # "Start from" is drawn before the button trains, so a new retraining is offered from the next run on.
    app.run()
    start_choice(app).set_value(start.model_path).run()
    check(app)
    assert app.checkbox(key="_w_review_retrain_pretrained").disabled
    app.button(key="review_retrain_detector").click().run()
    check(app)

    assert any("Retrained the detector" in text for text in texts(app.success)), texts(app.success)
    tuned = list_retrainings(Workspace(root))
    assert len(tuned) == len(stored) + 1
    assert tuned[0].config["init_from"] == start.model_path
    assert tuned[0].key != start.key
    assert any(text.startswith(f"Fine-tuned the model in `{start.model_path}`") for text in texts(app.markdown))

    # Once the session detects with the fine-tuned model, the next retraining starts from it.
    app.button(key="review_use_retrained").click().run()
    check(app)
    assert start_choice(app).value == tuned[0].model_path


def test_default_model_in_models_folder_is_start(root, tmp_path):
    # The default configuration names its model by a bare folder name, looked up in the model folders.
    import dataclasses

    import numpy as np

    from comicfaces.detect import DEFAULT_TRAINED_MODEL
    from comicfaces.detect.train import TrainingPage, train_detector

    page = TrainingPage(np.full((128, 128, 3), 255, dtype=np.uint8), np.array([[16, 16, 48, 48]]), None, "white")
    model = tmp_path / DEFAULT_TRAINED_MODEL
    train_detector([page], out_dir=model, epochs=1, batch_size=1, image_size=64, max_side=128, pretrained=False)
    faces = dataclasses.replace(KMEANS_4.faces, models_dir=str(tmp_path))

    app = AppTest.from_file(REVIEW_PAGE, default_timeout=TIMEOUT)
    app.session_state[WORKSPACE_KEY] = str(root)
    app.session_state[CONFIG_KEY] = KMEANS_4.replace(faces=faces)
    app.run()
    check(app)

    assert start_choice(app).value == str(model)
    assert not any("cannot be fine-tuned" in text for text in texts(app.caption))


def test_missing_default_model_is_not_an_error(root, tmp_path, monkeypatch):
    # No model folder of the default name in the model folders: the home folder's cache is empty here.
    monkeypatch.setenv("HOME", str(tmp_path))
    app = AppTest.from_file(REVIEW_PAGE, default_timeout=TIMEOUT)
    app.session_state[WORKSPACE_KEY] = str(root)
    app.session_state[CONFIG_KEY] = KMEANS_4
    app.run()
    check(app)

    assert start_choice(app).value == NEW_DETECTOR
    assert not any("cannot be fine-tuned" in text for text in texts(app.caption))
