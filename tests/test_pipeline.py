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


@pytest.fixture(scope="module")
def crops_with_flat_face(tmp_path_factory, shared_data):
    """Twelve comicgen crops plus one flat grey crop that has no keypoints."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("crops")
    names = sorted((shared_data / "comicgen_faces" / "faces").glob("*.png"))[::50][:12]
    for path in names:
        shutil.copy(path, folder / path.name)
    Image.new("RGB", (96, 96), (128, 128, 128)).save(folder / "zz_flat.png")
    return folder


def test_faces_without_features_become_noise(tmp_path, crops_with_flat_face):
    config = PipelineConfig().replace(
        features={"name": "sift_bovw", "params": {"n_words": 8}},
        clustering={"name": "kmeans", "params": {"n_clusters": 2}},
    )
    result = run_pipeline(Workspace(tmp_path / "ws"), config=config, faces_folder=crops_with_flat_face)
    flat = result.faces["face_id"] == "zz_flat.png"
    assert result.labels[flat.to_numpy()].tolist() == [-1]
    assert bool(result.faces.loc[flat, "noise"].iloc[0])
    assert set(result.labels[~flat.to_numpy()].tolist()) == {0, 1}


def test_simclr_checkpoint_kept_with_features(tmp_path, crops_with_flat_face):
    from comicfaces.features import SimCLRFeatures

    config = PipelineConfig().replace(
        features={"name": "simclr", "params": {"epochs": 1, "batch_size": 8, "image_size": 32, "warmup_epochs": 0}},
        clustering={"name": "kmeans", "params": {"n_clusters": 2}},
    )
    workspace = Workspace(tmp_path / "ws")
    result = run_pipeline(workspace, config=config, faces_folder=crops_with_flat_face)
    key = result.record["stages"]["features"]
    folder = workspace.entry_dir("features", key)
    assert (folder / "model.pt").is_file()
    assert len(workspace.read_meta("features", key)["loss_history"]) == 1

    reloaded = SimCLRFeatures.load(folder / "model.pt")
    from comicfaces.imageio import load_image

    crops = [load_image(path, max_side=1024) for path in result.faces["crop"]]
    np.testing.assert_allclose(reloaded.transform(crops), result.features, atol=1e-4)


def test_unsafe_archive_member_skipped(tmp_path, shared_data):
    import zipfile

    folder = tmp_path / "pages"
    folder.mkdir()
    page = (shared_data / "golden_age" / "judy_of_the_jungle_p1.jpg").read_bytes()
    with zipfile.ZipFile(folder / "book.cbz", "w") as archive:
        archive.writestr("01.jpg", page)
        archive.writestr("../evil.jpg", page)
    (folder / "broken.cbz").write_bytes(b"not a zip")

    result = run_pipeline(Workspace(tmp_path / "ws"), folder)
    skipped = {error["page"]: error["error"] for error in result.record["errors"]}
    assert "absolute path or '..'" in skipped["book.cbz/../evil.jpg"]
    assert "not a readable CBZ/ZIP archive" in skipped["broken.cbz"]
    assert set(result.faces["page"]) == {"book.cbz/01.jpg"}
    assert not (tmp_path / "evil.jpg").exists()
