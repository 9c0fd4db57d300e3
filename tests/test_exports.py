"""Exports of corrected runs (CSV, crops, COCO, ZIP, JSON) and imports of labels and COCO boxes."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from comicfaces.annotations import AnnotationError, load_face_annotations
from comicfaces.config import PipelineConfig
from comicfaces.corrections import Corrections, CorrectionsError, input_key_for, labels_csv
from comicfaces.exports import (
    ExportError,
    character_folders,
    coco_identities,
    export_character_zip,
    export_coco,
    export_crops,
    export_faces_csv,
    export_run_json,
    faces_from_coco,
    import_labels_csv,
)
from comicfaces.metrics import labels_from_csv
from comicfaces.pipeline import cluster_face_set, run_pipeline

KMEANS_3 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 3}})


@pytest.fixture(scope="module")
def run(demo):
    comic, workspace = demo
    return run_pipeline(workspace, comic.folder, KMEANS_3, truth=comic.truth)


@pytest.fixture
def corrected(demo, run):
    """Corrections with two names, a rejected box and an added face; returns (corrections, view)."""
    corrections = Corrections(input_key_for(run.record))
    view = corrections.apply(run.faces, run.labels)
    corrections.name_cluster(view, 0, "ada")
    corrections.name_cluster(view, 1, "Bruno / the Brute")
    corrections.reject_faces(view, [view.loc[view["cluster"] == 2, "face_id"].iloc[0]])
    corrections.add_face(demo[1], run.record, "page01.png", [20, 30, 100, 120], name="ada")
    return corrections, corrections.apply(run.faces, run.labels)


# -- faces CSV and crops -------------------------------------------------------------------


def test_faces_csv_has_corrected_columns(tmp_path, corrected):
    _, view = corrected
    table = pd.read_csv(export_faces_csv(view, tmp_path / "faces.csv"), keep_default_na=False)
    for column in ("cluster", "name", "rejected", "added", "manual"):
        assert column in table
    assert table["name"].tolist() == view["name"].tolist()
    assert table["cluster"].tolist() == view["cluster"].tolist()


def test_export_crops_flat_names(tmp_path, corrected):
    _, view = corrected
    written = export_crops(view, tmp_path / "crops")
    kept = view[~view["rejected"]]
    assert written["image_name"].tolist() == [f"{face}.png" for face in kept["face_id"]]
    assert all((tmp_path / "crops" / name).is_file() for name in written["image_name"])


def test_crop_folder_run_keeps_image_names(tmp_path, demo, run):
    from comicfaces.pipeline import write_outputs

    write_outputs(run, tmp_path / "out")
    (tmp_path / "out" / "crops" / "sub").mkdir()
    first = sorted((tmp_path / "out" / "crops").glob("*.png"))[0]
    first.rename(tmp_path / "out" / "crops" / "sub" / first.name)
    folder_run = run_pipeline(demo[1], faces_folder=tmp_path / "out" / "crops", config=KMEANS_3)
    view = Corrections(input_key_for(folder_run.record)).apply(folder_run.faces, folder_run.labels)

    written = export_crops(view, tmp_path / "flat")
    assert written["image_name"].tolist() == folder_run.faces["image_name"].tolist()
    assert f"sub/{first.name}" in written["image_name"].tolist()
    result = export_character_zip(view, tmp_path / "c.zip")
    with zipfile.ZipFile(result["path"]) as archive:
        assert any(name.endswith(f"/sub/{first.name}") for name in archive.namelist())


def test_labels_csv_drives_cluster_command(tmp_path, demo, run, corrected, capsys):
    from comicfaces.cli import main

    corrections, view = corrected
    export_crops(view, tmp_path / "crops")
    labels_csv(corrections, view).to_csv(tmp_path / "labels.csv", index=False)

    names = sorted(p.name for p in (tmp_path / "crops").iterdir())
    identities = labels_from_csv(tmp_path / "labels.csv", names)
    expected = {f"{face}.png": name or None for face, name in zip(view["face_id"], view["name"])}
    assert identities == [expected[name] for name in names]

    status = main(
        ["cluster", str(tmp_path / "crops"), "--labels", str(tmp_path / "labels.csv"), "--k", "3", "--quiet", "--workspace", str(demo[1].root)]
    )
    metrics = json.loads(capsys.readouterr().out)
    assert status == 0
    assert metrics["n_labelled"] == sum(identity is not None for identity in identities)
    assert metrics["n_identities"] == 2


# -- COCO ------------------------------------------------------------------------------------


def test_coco_export_read_back(tmp_path, demo, corrected):
    _, view = corrected
    path = tmp_path / "annotations" / "faces.json"
    export_coco(view, path, pages=demo[0].folder, root=demo[0].folder)
    truth = load_face_annotations(path, root=demo[0].folder)
    assert set(truth) == {"page01.png", "page02.png"}
    assert all(t.path.is_file() for t in truth.values())

    kept = view[~view["rejected"]]
    for page, page_truth in truth.items():
        rows = kept[kept["page"] == page]
        assert np.array_equal(page_truth.boxes, rows[["x0", "y0", "x1", "y1"]].to_numpy(float))
        assert list(page_truth.identities) == [name or None for name in rows["name"]]
        assert not page_truth.ignore.any()


def test_coco_export_default_root(tmp_path, demo, corrected):
    _, view = corrected
    path = tmp_path / "annotations" / "faces.json"
    export_coco(view, path, pages=demo[0].folder)
    truth = load_face_annotations(path)
    assert all(t.path.resolve().is_file() for t in truth.values())


def test_coco_export_rejected_as_ignore(tmp_path, demo, corrected):
    _, view = corrected
    path = tmp_path / "faces.json"
    export_coco(view, path, pages=demo[0].folder, root=demo[0].folder, include_rejected=True)
    truth = load_face_annotations(path, root=demo[0].folder)
    assert sum(int(t.ignore.sum()) for t in truth.values()) == int(view["rejected"].sum()) == 1


def test_coco_cluster_identities(tmp_path, demo, corrected):
    _, view = corrected
    path = tmp_path / "faces.json"
    data = export_coco(view, path, pages=demo[0].folder, root=demo[0].folder, cluster_identities=True)
    assert {a.get("identity") for a in data["annotations"]} == {"ada", "Bruno / the Brute", "cluster_2"}


def test_coco_identities_match_pipeline_truth(demo, run):
    identities = coco_identities(run.faces, demo[0].truth, root=demo[0].folder, pages=demo[0].folder)
    expected = [None if pd.isna(value) else value for value in run.faces["identity"]]
    assert identities == expected


def test_faces_from_coco_as_detections(demo):
    comic, workspace = demo
    faces = faces_from_coco(workspace, comic.truth, root=comic.folder)
    truth = load_face_annotations(comic.truth, root=comic.folder)
    assert len(faces) == sum(t.n_regular for t in truth.values())
    assert faces.table["crop"].map(lambda p: __import__("pathlib").Path(p).is_file()).all()
    assert faces.table["identity"].notna().all()

    clustered = cluster_face_set(workspace, faces, KMEANS_3)
    assert len(clustered.labels) == len(faces)
    assert clustered.metrics["n_labelled"] == len(faces)


def test_faces_from_coco_reuses_cache(demo):
    comic, workspace = demo
    first = faces_from_coco(workspace, comic.truth, root=comic.folder)
    again = faces_from_coco(workspace, comic.truth, root=comic.folder)
    assert first.key == again.key
    assert first.table["crop"].tolist() == again.table["crop"].tolist()


# -- ZIP and run JSON ----------------------------------------------------------------------


def test_zip_one_folder_per_character(tmp_path, run, corrected):
    _, view = corrected
    result = export_character_zip(view, tmp_path / "characters.zip", record=run.record)
    with zipfile.ZipFile(result["path"]) as archive:
        names = archive.namelist()
        labels = pd.read_csv(archive.open("labels.csv"))
        summary = json.loads(archive.read("run.json"))
    folders = {name.split("/")[0] for name in names if "/" in name}
    assert folders == {"ada", "Bruno _ the Brute", "cluster_2"}
    kept = view[~view["rejected"]]
    assert result["n_crops"] == len(kept)
    assert result["folders"]["ada"] == int((kept["name"] == "ada").sum())
    assert set(labels["identity"]) == {"ada", "Bruno / the Brute"}
    assert all(name in names for name in labels["image_name"])
    assert summary["config"] == run.record["config"]


def test_zip_noise_in_unassigned(tmp_path, demo, run):
    hdbscan = KMEANS_3.replace(clustering={"name": "hdbscan", "params": {"min_cluster_size": 2}})
    noisy = run_pipeline(demo[1], demo[0].folder, hdbscan)
    corrections = Corrections(input_key_for(noisy.record))
    view = corrections.apply(noisy.faces, noisy.labels)
    folders = character_folders(view)
    assert folders.count("unassigned") == int(view["noise"].sum()) > 0
    result = export_character_zip(view, tmp_path / "c.zip")
    assert result["folders"]["unassigned"] == int(view["noise"].sum())


def test_folder_names_do_not_collide(corrected):
    _, view = corrected
    view = view.copy()
    view.loc[view["name"] == "ada", "name"] = "cluster_2"
    folders = set(character_folders(view)) - {None}
    assert "cluster_2_2" in folders
    assert "cluster_2" in folders


def test_run_json_has_config_and_metrics(tmp_path, run, corrected):
    _, view = corrected
    data = json.loads(export_run_json(run.record, tmp_path / "run.json", view).read_text())
    assert data["config"] == run.record["config"]
    assert data["metrics"]["n_faces"] == run.record["metrics"]["n_faces"]
    assert data["corrections"]["names"] == ["Bruno / the Brute", "ada"]
    assert data["corrections"]["n_added"] == 1


# -- label import --------------------------------------------------------------------------


def test_import_labels_names_faces(tmp_path, run):
    corrections = Corrections(input_key_for(run.record))
    view = corrections.apply(run.faces, run.labels)
    truth = [None if pd.isna(value) else value for value in run.faces["identity"]]
    rows = [(f"{face}.png", identity) for face, identity in zip(run.faces["face_id"], truth) if identity]
    pd.DataFrame(rows, columns=["image_name", "identity"]).to_csv(tmp_path / "l.csv", index=False)

    import_labels_csv(corrections, view, tmp_path / "l.csv")
    assert len(corrections.actions) == 1
    assert labels_csv(corrections, run.faces).values.tolist() == [list(row) for row in rows]
    corrections.undo()
    assert corrections.names() == []


def test_import_labels_manual_pins_faces(tmp_path, run):
    corrections = Corrections(input_key_for(run.record))
    view = corrections.apply(run.faces, run.labels)
    pd.DataFrame({"image_name": view["face_id"][:2], "identity": ["x", "y"]}).to_csv(tmp_path / "l.csv", index=False)
    import_labels_csv(corrections, view, tmp_path / "l.csv", manual=True)
    after = corrections.apply(run.faces, run.labels)
    assert after["name"][:2].tolist() == ["x", "y"]
    assert after["manual"][:2].all()


# -- bad parameters ------------------------------------------------------------------------


def test_import_labels_rejects_missing_file(tmp_path, corrected):
    corrections, view = corrected
    with pytest.raises(ExportError, match="not found"):
        import_labels_csv(corrections, view, tmp_path / "missing.csv")


def test_import_labels_rejects_unknown_names(tmp_path, corrected):
    corrections, view = corrected
    pd.DataFrame({"image_name": ["nobody.png"], "identity": ["x"]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(ExportError, match="nobody.png"):
        import_labels_csv(corrections, view, tmp_path / "l.csv")


def test_import_labels_rejects_missing_column(tmp_path, corrected):
    corrections, view = corrected
    pd.DataFrame({"file": ["a.png"], "identity": ["x"]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(ExportError, match="image_name"):
        import_labels_csv(corrections, view, tmp_path / "l.csv")


def test_import_labels_rejects_bad_name(tmp_path, corrected):
    corrections, view = corrected
    pd.DataFrame({"image_name": [view["face_id"].iloc[0]], "identity": ["x" * 300]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(CorrectionsError, match="characters"):
        import_labels_csv(corrections, view, tmp_path / "l.csv")


def test_coco_export_rejects_table_without_boxes(tmp_path, demo):
    table = pd.DataFrame({"face_id": ["a.png"], "cluster": [0], "crop": ["a.png"]})
    with pytest.raises(ExportError, match="page"):
        export_coco(table, tmp_path / "f.json", pages=demo[0].folder)


def test_coco_export_rejects_foreign_page(tmp_path, demo, corrected):
    _, view = corrected
    view = view.copy()
    view.loc[0, "page"] = "elsewhere.png"
    with pytest.raises(ExportError, match="elsewhere.png"):
        export_coco(view, tmp_path / "f.json", pages=demo[0].folder)


def test_coco_export_rejects_non_bool_flag(tmp_path, demo, corrected):
    _, view = corrected
    with pytest.raises(ExportError, match="include_rejected"):
        export_coco(view, tmp_path / "f.json", pages=demo[0].folder, include_rejected="yes")


@pytest.mark.parametrize("iou", [0, 1.5, "half"])
def test_coco_identities_rejects_bad_iou(demo, run, iou):
    with pytest.raises(ExportError, match="iou"):
        coco_identities(run.faces, demo[0].truth, iou=iou)


def test_coco_identities_rejects_unrelated_file(tmp_path, run):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.png", "width": 9, "height": 9}], "annotations": []}))
    with pytest.raises(ExportError, match="none of its images"):
        coco_identities(run.faces, path)


def test_faces_from_coco_names_bad_field(tmp_path, demo):
    data = json.loads(demo[0].truth.read_text())
    data["annotations"][3]["bbox"] = [1, 2, 3]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"annotations\[3\].*bbox"):
        faces_from_coco(demo[1], path, root=demo[0].folder)


@pytest.mark.parametrize("margin", [-0.1, 3, True])
def test_faces_from_coco_rejects_bad_margin(demo, margin):
    with pytest.raises(ExportError, match="margin"):
        faces_from_coco(demo[1], demo[0].truth, root=demo[0].folder, margin=margin)


def test_export_rejects_non_table(tmp_path):
    with pytest.raises(ExportError, match="DataFrame"):
        export_faces_csv([1, 2], tmp_path / "f.csv")


def test_run_json_rejects_bad_record(tmp_path):
    with pytest.raises(ExportError, match="config"):
        export_run_json({"key": "x"}, tmp_path / "r.json")
