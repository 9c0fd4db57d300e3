"""Command line: help text, runs on real pages and crops, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from comicfaces.cli import build_parser, main


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "comicfaces", *args], capture_output=True, text=True, cwd=cwd, timeout=900)


def test_help_lists_commands():
    text = build_parser().format_help()
    for command in ["run", "cluster", "demo", "panels", "text", "faces", "sweep", "runs"]:
        assert command in text


def test_run_help_explains_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--out" in text
    assert "faces.csv" in text
    assert "--config" in text


def test_cluster_prints_metrics_json(tmp_path, shared_data, capsys):
    faces = tmp_path / "faces"
    faces.mkdir()
    labels = pd.read_csv(shared_data / "comicgen_faces" / "labels.csv")
    subset = labels.groupby("identity").head(6)
    for name in subset["image_name"]:
        shutil.copy(shared_data / "comicgen_faces" / "faces" / name, faces / name)
    subset[["image_name", "identity"]].to_csv(tmp_path / "labels.csv", index=False)

    status = main(["cluster", str(faces), "--labels", str(tmp_path / "labels.csv"), "--k", "11", "--workspace", str(tmp_path / "ws"), "--quiet"])
    assert status == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0.0 <= metrics["pairwise_f1_excl_noise"] <= 1.0
    assert metrics["coverage"] == 1.0


def test_cluster_labels_with_unknown_names(tmp_path, shared_data, capsys, caplog):
    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(shared_data / "comicgen_faces" / "faces" / "aryan_straight_angry.png", faces)
    (tmp_path / "labels.csv").write_text("image_name,identity\naryan_straight_angry.png,aryan\nghost.png,nobody\n")
    status = main(["cluster", str(faces), "--labels", str(tmp_path / "labels.csv"), "--workspace", str(tmp_path / "ws"), "--quiet"])
    assert status == 0
    assert "ghost.png" in caplog.text
    assert json.loads(capsys.readouterr().out)["n_labelled"] == 1


def test_run_on_golden_age(tmp_path, shared_data):
    out = tmp_path / "out"
    completed = _run("run", str(shared_data / "golden_age"), "--out", str(out), "--workspace", str(tmp_path / "ws"), "--quiet")
    assert completed.returncode == 0, completed.stderr
    table = pd.read_csv(out / "faces.csv")
    assert set(table["page"]) == {"black_terror_p1.jpg", "golden_p3.jpg", "judy_of_the_jungle_p1.jpg"}
    assert table["cluster"].notna().all()
    assert "faces table" in completed.stdout


def test_missing_input_exit_code(tmp_path, capsys):
    status = main(["run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--workspace", str(tmp_path / "ws")])
    assert status == 2
    assert "nowhere" in capsys.readouterr().err


def test_k_larger_than_faces(tmp_path, shared_data, capsys):
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in ["aryan_straight_angry.png", "ava_straight_angry.png"]:
        shutil.copy(shared_data / "comicgen_faces" / "faces" / name, faces)
    status = main(["cluster", str(faces), "--k", "5", "--workspace", str(tmp_path / "ws"), "--quiet", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2
    assert "n_clusters=5" in error
    assert "--k" in error
    table = pd.read_csv(tmp_path / "out" / "faces.csv")
    assert len(table) == 2
    assert table["cluster"].isna().all()


def test_runs_list_and_delete(tmp_path, capsys):
    from comicfaces.cache import Workspace

    Workspace(tmp_path / "ws").save_run({"key": "abc123", "name": "x", "n_faces": 0, "created": 1})
    assert main(["runs", "list", "--workspace", str(tmp_path / "ws")]) == 0
    assert "abc123" in capsys.readouterr().out
    assert main(["runs", "delete", "abc123", "--workspace", str(tmp_path / "ws")]) == 0
    assert main(["runs", "delete", "abc123", "--workspace", str(tmp_path / "ws")]) == 1


def test_faces_command_names_detectors(demo, tmp_path):
    comic, workspace = demo
    status = main(["faces", str(comic.folder), "--out", str(tmp_path), "--workspace", str(workspace.root), "--quiet"])

    assert status == 0
    table = pd.read_csv(tmp_path / "faces.csv")
    assert list(table.columns) == ["page", "index", "x0", "y0", "x1", "y1", "detector", "score"]
    assert len(table) > 0
    assert table["detector"].notna().all()
    assert table["score"].between(0, 1).all()
