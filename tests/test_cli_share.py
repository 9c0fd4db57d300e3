"""Command line: export a corrected run, export and import a project archive, and their errors."""

from __future__ import annotations

import json
import shutil
import zipfile

import pandas as pd
import pytest

from comicfaces.cache import Workspace
from comicfaces.cli import main
from comicfaces.config import PipelineConfig
from comicfaces.corrections import Corrections
from comicfaces.demo import generate_demo
from comicfaces.pipeline import load_run_faces, run_pipeline

KMEANS_3 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 3}})


@pytest.fixture(scope="module")
def corrected_run(tmp_path_factory):
    """A kmeans run of the 2-page demo with one cluster named and one box rejected.

    The pages and the page-stage cache are the ones the corrections, exports
    and project tests build under the session's base folder, so the page
    stages run once per session.
    """
    base = tmp_path_factory.getbasetemp() / "corrections_demo"
    comic = generate_demo(base / "pages", n_pages=2, seed=0)
    shared = Workspace(base / "workspace")
    root = tmp_path_factory.mktemp("cli_share")
    if (shared.root / "cache").is_dir():
        shutil.copytree(shared.root / "cache", root / "cache")
    workspace = Workspace(root / "workspace")
    result = run_pipeline(workspace, comic.folder, KMEANS_3, truth=comic.truth)
    corrections = Corrections.for_run(workspace, result.record)
    view = corrections.apply(result.faces, result.labels)
    corrections.name_cluster(view, 0, "ada")
    rejected = view.loc[view["cluster"] == 1, "face_id"].iloc[0]
    corrections.reject_faces(view, [rejected])
    named = set(view.loc[view["cluster"] == 0, "face_id"])
    return workspace, result, named, rejected


def test_export_writes_every_file(corrected_run, tmp_path, capsys):
    workspace, result, named, rejected = corrected_run
    out = {name: tmp_path / f"out.{name}" for name in ("coco", "zip", "labels", "faces", "json")}
    status = main(["export", result.key, "--workspace", str(workspace.root)] + [item for name, path in out.items() for item in (f"--{name}", str(path))])

    assert status == 0, capsys.readouterr().err
    for path in out.values():
        assert path.is_file(), path
    printed = capsys.readouterr().out
    assert f"{len(named)} named face(s)" in printed


def test_export_labels_rows_are_named_faces(corrected_run, tmp_path):
    workspace, result, named, _ = corrected_run
    path = tmp_path / "labels.csv"
    assert main(["export", result.key, "--labels", str(path), "--workspace", str(workspace.root)]) == 0

    labels = pd.read_csv(path)
    assert list(labels.columns) == ["image_name", "identity"]
    assert set(labels["image_name"]) == {f"{face}.png" for face in named}
    assert set(labels["identity"]) == {"ada"}


def test_export_coco_leaves_out_rejected_box(corrected_run, tmp_path):
    workspace, result, named, rejected = corrected_run
    path = tmp_path / "faces.json"
    assert main(["export", result.key, "--coco", str(path), "--workspace", str(workspace.root)]) == 0

    data = json.loads(path.read_text())
    face_ids = [annotation["face_id"] for annotation in data["annotations"]]
    assert len(face_ids) == len(result.faces) - 1
    assert rejected not in face_ids
    assert {a["face_id"] for a in data["annotations"] if a.get("identity") == "ada"} == named


def test_export_zip_has_character_folder(corrected_run, tmp_path):
    workspace, result, named, _ = corrected_run
    path = tmp_path / "characters.zip"
    assert main(["export", result.key, "--zip", str(path), "--workspace", str(workspace.root)]) == 0

    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        run = json.loads(archive.read("run.json"))
    assert {m.split("/")[1] for m in members if m.startswith("ada/")} == {f"{face}.png" for face in named}
    assert "labels.csv" in members
    assert run["key"] == result.key


def test_export_faces_and_json_carry_corrections(corrected_run, tmp_path):
    workspace, result, named, rejected = corrected_run
    faces, summary = tmp_path / "faces.csv", tmp_path / "run.json"
    assert main(["export", result.key, "--faces", str(faces), "--json", str(summary), "--workspace", str(workspace.root)]) == 0

    table = pd.read_csv(faces, keep_default_na=False)
    assert set(table.loc[table["name"] == "ada", "face_id"]) == named
    assert table.set_index("face_id").loc[rejected, "rejected"] in (True, "True")
    data = json.loads(summary.read_text())
    assert data["corrections"]["names"] == ["ada"]
    assert data["corrections"]["n_rejected"] == 1
    assert data["config"]["clustering"]["name"] == "kmeans"


def test_project_round_trip_keeps_run_and_names(corrected_run, tmp_path, capsys):
    workspace, result, named, _ = corrected_run
    archive = tmp_path / "project.zip"
    target = tmp_path / "other"

    assert main(["export-project", result.key, "--out", str(archive), "--embed-inputs", "--workspace", str(workspace.root)]) == 0
    assert main(["import-project", str(archive), "--workspace", str(target)]) == 0

    printed = capsys.readouterr().out
    assert f"run {result.key}" in printed
    imported = Workspace(target)
    record = imported.load_run(result.key)
    table = load_run_faces(imported, result.key)
    view = Corrections.for_run(imported, record).apply(table)
    assert set(view.loc[view["name"] == "ada", "face_id"]) == named
    assert table["face_id"].tolist() == result.faces["face_id"].tolist()
    assert all(str(target) in crop for crop in table["crop"])


def test_import_project_twice_keeps_run(corrected_run, tmp_path, capsys):
    workspace, result, _, _ = corrected_run
    archive = tmp_path / "project.zip"
    assert main(["export-project", result.key, "--out", str(archive), "--workspace", str(workspace.root)]) == 0
    capsys.readouterr()

    assert main(["import-project", str(archive), "--workspace", str(workspace.root)]) == 0
    assert "already in the workspace, kept" in capsys.readouterr().out


# -- errors ------------------------------------------------------------------------------


def test_export_without_output_is_usage_error(corrected_run, capsys):
    workspace, result, _, _ = corrected_run
    with pytest.raises(SystemExit) as stop:
        main(["export", result.key, "--workspace", str(workspace.root)])

    assert stop.value.code == 2
    assert "at least one output" in capsys.readouterr().err


def test_export_unknown_run_names_key(corrected_run, tmp_path, capsys):
    workspace, _, _, _ = corrected_run
    status = main(["export", "no_such_run", "--labels", str(tmp_path / "l.csv"), "--workspace", str(workspace.root)])

    assert status == 2
    assert "no_such_run" in capsys.readouterr().err


def test_export_project_unknown_run_names_key(corrected_run, tmp_path, capsys):
    workspace, _, _, _ = corrected_run
    status = main(["export-project", "missing_run", "--out", str(tmp_path / "p.zip"), "--workspace", str(workspace.root)])

    assert status == 2
    assert "missing_run" in capsys.readouterr().err
    assert not (tmp_path / "p.zip").exists()


def test_import_project_rejects_non_zip(tmp_path, capsys):
    bogus = tmp_path / "notes.zip"
    bogus.write_text("not a zip archive")
    status = main(["import-project", str(bogus), "--workspace", str(tmp_path / "ws")])

    assert status == 2
    assert "not a readable ZIP" in capsys.readouterr().err


def test_import_project_missing_file_names_path(tmp_path, capsys):
    status = main(["import-project", str(tmp_path / "absent.zip"), "--workspace", str(tmp_path / "ws")])

    assert status == 2
    assert "absent.zip" in capsys.readouterr().err
