"""The cached pipeline on real pages: reuse of stages, bad pages, outputs."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from comicfaces.cache import Workspace
from comicfaces.config import PipelineConfig
from comicfaces.pipeline import load_run_faces, run_pipeline, write_outputs


@pytest.fixture(scope="module")
def pages_folder(tmp_path_factory, shared_data):
    """Two real golden-age pages plus three broken files."""
    folder = tmp_path_factory.mktemp("pages")
    shutil.copy(shared_data / "golden_age" / "black_terror_p1.jpg", folder / "page1.jpg")
    shutil.copy(shared_data / "golden_age" / "golden_p3.jpg", folder / "page2.jpg")
    (folder / "page3.png").write_bytes(b"")
    (folder / "page4.jpg").write_bytes(b"not a jpeg at all")
    from PIL import Image

    Image.new("RGB", (1, 1)).save(folder / "page5.png")
    return folder


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, pages_folder):
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    calls = []
    result = run_pipeline(workspace, pages_folder, progress=lambda stage, done, total: calls.append(stage))
    return workspace, result, calls


def test_bad_pages_skipped_and_named(first_run):
    _, result, _ = first_run
    failed = sorted(error["page"] for error in result.record["errors"])
    assert failed == ["page3.png", "page4.jpg", "page5.png"]
    assert all("page" in error["error"] for error in result.record["errors"])


def test_faces_found_and_clustered(first_run):
    _, result, _ = first_run
    assert set(result.faces["page"]) == {"page1.jpg", "page2.jpg"}
    assert len(result.labels) == len(result.faces)
    assert result.faces["cluster"].notna().all()


def test_progress_reported(first_run):
    _, _, calls = first_run
    assert "pages" in calls
    assert "features" in calls


def test_rerun_is_cache_lookup(first_run, pages_folder):
    workspace, result, _ = first_run
    again = run_pipeline(workspace, pages_folder)
    assert all(again.record["cached"].values())
    assert all(page.cached.get("faces") for page in again.pages if page.error is None)
    assert np.array_equal(again.labels, result.labels)


def test_late_parameter_reuses_early_stages(first_run, pages_folder):
    workspace, result, _ = first_run
    config = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 2}})
    changed = run_pipeline(workspace, pages_folder, config)
    assert changed.record["cached"]["features"] is True
    assert changed.record["cached"]["reduction"] is True
    assert changed.record["cached"]["clustering"] is False
    assert all(page.cached.get("panels") and page.cached.get("text") for page in changed.pages if page.error is None)
    assert changed.key != result.key
    assert set(changed.labels.tolist()) == {0, 1}


def test_run_stored_and_listed(first_run):
    workspace, result, _ = first_run
    assert result.key in [record["key"] for record in workspace.list_runs()]
    stored = load_run_faces(workspace, result.key)
    assert list(stored["face_id"]) == list(result.faces["face_id"])


def test_outputs_written(first_run, tmp_path):
    _, result, _ = first_run
    faces_csv = write_outputs(result, tmp_path / "out")
    table = pd.read_csv(faces_csv)
    for column in ["face_id", "page", "panel", "x0", "y0", "x1", "y1", "detector", "score", "crop", "cluster"]:
        assert column in table.columns
    assert (tmp_path / "out" / table["crop"].iloc[0]).is_file()
    assert (tmp_path / "out" / "summary.json").is_file()


def test_boxes_in_original_page_pixels(first_run):
    _, result, _ = first_run
    assert (result.faces["x1"] <= 845).all()
    assert (result.faces["y1"] <= 1280).all()
    assert (result.faces["x0"] < result.faces["x1"]).all()


def test_empty_folder_message(tmp_path):
    with pytest.raises(ValueError, match="no pages found"):
        run_pipeline(Workspace(tmp_path / "ws"), tmp_path)


def test_two_inputs_rejected(tmp_path):
    with pytest.raises(ValueError, match="exactly one input"):
        run_pipeline(Workspace(tmp_path / "ws"), tmp_path, faces_folder=tmp_path)
