"""Cluster corrections on real pipeline runs: each action, undo, storage, re-clustering."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from comicfaces.boxes import expand_boxes, iou_matrix
from comicfaces.cache import Workspace
from comicfaces.config import PipelineConfig
from comicfaces.corrections import (
    SCHEMA_VERSION,
    Corrections,
    CorrectionsError,
    compute_input_key,
    identities_for,
    input_key_for,
    labels_csv,
    score_against_corrections,
)
from comicfaces.imageio import load_image
from comicfaces.metrics import labels_from_csv
from comicfaces.pipeline import run_pipeline, write_outputs

KMEANS_3 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 3}})
HDBSCAN_2 = PipelineConfig().replace(clustering={"name": "hdbscan", "params": {"min_cluster_size": 2}})


@pytest.fixture(scope="module")
def kmeans_run(demo):
    comic, workspace = demo
    return run_pipeline(workspace, comic.folder, KMEANS_3, truth=comic.truth)


@pytest.fixture(scope="module")
def hdbscan_run(demo):
    comic, workspace = demo
    return run_pipeline(workspace, comic.folder, HDBSCAN_2, truth=comic.truth)


@pytest.fixture
def corrections(kmeans_run):
    return Corrections(input_key_for(kmeans_run.record))


def view_of(corrections, run):
    return corrections.apply(run.faces, run.labels)


def faces_in(view, cluster) -> set:
    return set(view.loc[view["cluster"] == cluster, "face_id"])


def biggest_cluster(view) -> int:
    return int(view["cluster"].value_counts().idxmax())


# -- apply without actions -------------------------------------------------------------


def test_empty_corrections_keep_run(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    assert view["cluster"].tolist() == kmeans_run.faces["cluster"].tolist()
    assert (view["name"] == "").all()
    assert not view[["rejected", "added", "manual"]].to_numpy().any()
    assert view["run_row"].tolist() == list(range(len(kmeans_run.faces)))


def test_labels_default_to_table_columns(corrections, hdbscan_run):
    from_labels = corrections.apply(hdbscan_run.faces, hdbscan_run.labels)
    from_table = corrections.apply(hdbscan_run.faces)
    assert from_labels["cluster"].tolist() == from_table["cluster"].tolist()
    assert from_labels["noise"].tolist() == from_table["noise"].tolist()


# -- actions -------------------------------------------------------------------------------


def test_name_cluster_names_every_face(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    cluster = biggest_cluster(view)
    corrections.name_cluster(view, cluster, "  ada ")
    after = view_of(corrections, kmeans_run)
    assert set(after.loc[after["name"] == "ada", "face_id"]) == faces_in(view, cluster)
    assert corrections.names() == ["ada"]
    assert not after["manual"].any()


def test_same_name_twice_merges_clusters(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    first, second = sorted(view["cluster"].unique())[:2]
    corrections.name_cluster(view, int(first), "ada")
    corrections.name_cluster(view_of(corrections, kmeans_run), int(second), "ada")
    after = view_of(corrections, kmeans_run)
    named = after[after["name"] == "ada"]
    assert named["cluster"].nunique() == 1
    assert set(named["face_id"]) == faces_in(view, first) | faces_in(view, second)


def test_rename_changes_name_everywhere(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    corrections.rename("ada", "Ada Lovelace")
    after = view_of(corrections, kmeans_run)
    assert set(after.loc[after["name"] == "Ada Lovelace", "face_id"]) == faces_in(view, 0)
    assert "ada" not in set(after["name"])


def test_merge_clusters_makes_one_cluster(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.merge_clusters(view, [1, 2])
    after = view_of(corrections, kmeans_run)
    merged = faces_in(view, 1) | faces_in(view, 2)
    assert after.loc[after["face_id"].isin(merged), "cluster"].nunique() == 1
    assert after["cluster"].nunique() == 2
    assert (after.loc[after["face_id"].isin(merged), "name"] == "").all()


def test_merge_keeps_the_one_name(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 1, "bruno")
    corrections.merge_clusters(view_of(corrections, kmeans_run), [1, 2])
    after = view_of(corrections, kmeans_run)
    assert set(after.loc[after["name"] == "bruno", "face_id"]) == faces_in(view, 1) | faces_in(view, 2)


def test_merge_two_names_takes_given_name(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 1, "bruno")
    corrections.name_cluster(view_of(corrections, kmeans_run), 2, "chiko")
    with pytest.raises(CorrectionsError, match="different names"):
        corrections.merge_clusters(view_of(corrections, kmeans_run), [1, 2])
    corrections.merge_clusters(view_of(corrections, kmeans_run), [1, 2], name="chiko")
    assert corrections.names() == ["chiko"]


def test_move_face_to_name_is_manual(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    face = sorted(faces_in(view, 1))[0]
    corrections.move_faces(view_of(corrections, kmeans_run), [face], to_name="ada")
    after = view_of(corrections, kmeans_run).set_index("face_id")
    assert after.loc[face, "name"] == "ada"
    assert after.loc[face, "cluster"] == 0
    assert bool(after.loc[face, "manual"])
    assert after["manual"].sum() == 1


def test_move_face_to_unnamed_cluster(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    face = sorted(faces_in(view, 1))[0]
    corrections.move_faces(view, [face], to_cluster=2)
    after = view_of(corrections, kmeans_run)
    assert faces_in(after, 2) == faces_in(view, 2) | {face}
    assert faces_in(after, 1) == faces_in(view, 1) - {face}


def test_move_face_to_new_name_makes_cluster(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    face = sorted(faces_in(view, 1))[0]
    corrections.move_faces(view, [face], to_name="gus")
    after = view_of(corrections, kmeans_run).set_index("face_id")
    assert after.loc[face, "cluster"] not in set(view["cluster"])
    assert after.loc[face, "name"] == "gus"


def test_split_faces_into_new_cluster(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    selection = sorted(faces_in(view, 0))[:2]
    corrections.split_faces(view, selection)
    after = view_of(corrections, kmeans_run)
    new = after.loc[after["face_id"] == selection[0], "cluster"].item()
    assert new not in set(view["cluster"])
    assert faces_in(after, new) == set(selection)
    assert faces_in(after, 0) == faces_in(view, 0) - set(selection)


def test_split_cluster_by_kmeans(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    cluster = biggest_cluster(view)
    corrections.name_cluster(view, cluster, "ada")
    action = corrections.split_cluster(view_of(corrections, kmeans_run), cluster, kmeans_run.features, k=2)
    after = view_of(corrections, kmeans_run)
    moved = set(action["parts"][0])
    assert len(action["parts"]) == 1
    assert 0 < len(moved) <= len(faces_in(view, cluster)) / 2
    assert faces_in(after, cluster) == faces_in(view, cluster) - moved
    assert after.loc[after["face_id"].isin(moved), "cluster"].nunique() == 1
    assert (after.loc[after["face_id"].isin(moved), "name"] == "").all()
    assert (after.loc[after["cluster"] == cluster, "name"] == "ada").all()
    assert action["method"] == {"clusterer": "kmeans", "params": {"n_clusters": 2}, "cluster": cluster}


def test_reject_face(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    face = view["face_id"].iloc[-1]
    corrections.reject_faces(view, [face])
    after = view_of(corrections, kmeans_run).set_index("face_id")
    assert bool(after.loc[face, "rejected"])
    assert after["rejected"].sum() == 1
    corrections.reject_faces(view, [face], rejected=False)
    assert not view_of(corrections, kmeans_run)["rejected"].any()


def test_add_face_cuts_and_caches_crop(demo, corrections, kmeans_run):
    _, workspace = demo
    box = [20, 30, 100, 120]
    action = corrections.add_face(workspace, kmeans_run.record, "page02.png", box, name="emil")
    after = view_of(corrections, kmeans_run)
    row = after[after["added"]].iloc[0]
    assert row["face_id"] == action["face"]
    assert row["face_id"].startswith("p0001_a")
    assert [row["x0"], row["y0"], row["x1"], row["y1"]] == box
    assert row["name"] == "emil"
    assert bool(row["manual"])
    assert row["run_row"] == -1

    page = load_image(demo[0].folder / "page02.png", max_side=None)
    x0, y0, x1, y1 = expand_boxes([box], 0.2, page.shape[1], page.shape[0]).astype(int)[0]
    crop = load_image(row["crop"], max_side=None)
    assert np.array_equal(crop, page[y0:y1, x0:x1])


def test_add_face_without_name_is_unassigned(demo, corrections, kmeans_run):
    corrections.add_face(demo[1], kmeans_run.record, "page01.png", [5, 5, 60, 60])
    row = view_of(corrections, kmeans_run).iloc[-1]
    assert bool(row["added"])
    assert bool(row["noise"])
    assert row["name"] == ""
    assert row["cluster"] not in set(kmeans_run.faces["cluster"])


def test_assign_names_one_action(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    names = {face: "dora" for face in view["face_id"][:3]}
    corrections.assign_names(view, names)
    assert len(corrections.actions) == 1
    assert identities_for(kmeans_run.faces, corrections)[:3] == ["dora"] * 3


def test_reset_faces_forgets_corrections(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    face = sorted(faces_in(view, 1))[0]
    corrections.move_faces(view, [face], to_name="gus")
    corrections.reject_faces(view, [face])
    corrections.reset_faces(view_of(corrections, kmeans_run), [face])
    after = view_of(corrections, kmeans_run)
    assert after["cluster"].tolist() == view["cluster"].tolist()
    assert not after["rejected"].any()


# -- undo and redo -------------------------------------------------------------------------


def test_undo_restores_previous_view(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    named = view_of(corrections, kmeans_run)
    corrections.merge_clusters(named, [0, 1])
    undone = corrections.undo()
    assert undone["type"] == "merge"
    assert view_of(corrections, kmeans_run)[["cluster", "name"]].equals(named[["cluster", "name"]])
    assert corrections.undo()["type"] == "name"
    assert (view_of(corrections, kmeans_run)["name"] == "").all()
    assert corrections.undo() is None


def test_undo_log_is_append_only(corrections, kmeans_run):
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    first = [dict(a) for a in corrections.actions]
    corrections.undo()
    assert corrections.actions[: len(first)] == first
    assert corrections.actions[-1]["type"] == "undo"
    assert corrections.actions[-1]["target"] == first[0]["uid"]


def test_redo_after_undo(corrections, kmeans_run):
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    corrections.undo()
    assert corrections.redo()["type"] == "name"
    assert corrections.names() == ["ada"]
    assert corrections.redo() is None


def test_new_action_clears_redo(corrections, kmeans_run):
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    corrections.undo()
    corrections.name_cluster(view_of(corrections, kmeans_run), 1, "bruno")
    assert corrections.redo() is None


def test_undo_added_face_removes_row(demo, corrections, kmeans_run):
    corrections.add_face(demo[1], kmeans_run.record, "page01.png", [5, 5, 60, 60])
    corrections.undo()
    assert len(view_of(corrections, kmeans_run)) == len(kmeans_run.faces)


# -- storage -------------------------------------------------------------------------------


def test_saved_after_each_action(tmp_path, kmeans_run):
    workspace = Workspace(tmp_path / "ws")
    corrections = Corrections.for_run(workspace, kmeans_run.record)
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    path = workspace.root / "corrections" / f"{corrections.input_key}.json"
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert [a["type"] for a in data["actions"]] == ["name"]
    assert data["actions"][0]["time"].endswith("+00:00")
    assert not list(path.parent.glob(".*.tmp"))


def test_reopened_corrections_apply_same(tmp_path, kmeans_run, hdbscan_run):
    workspace = Workspace(tmp_path / "ws")
    corrections = Corrections.for_run(workspace, kmeans_run.record)
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    corrections.move_faces(view_of(corrections, kmeans_run), [sorted(faces_in(view, 1))[0]], to_name="bruno")
    again = Corrections.for_run(workspace, hdbscan_run.record)
    assert again.input_key == corrections.input_key
    assert view_of(again, hdbscan_run).equals(view_of(corrections, hdbscan_run))


def test_input_key_ignores_folder_location(tmp_path, demo, kmeans_run):
    import shutil

    copy = tmp_path / "moved"
    shutil.copytree(demo[0].folder, copy)
    assert compute_input_key("pages", copy) == input_key_for(kmeans_run.record)


def test_load_rejects_newer_schema(tmp_path, corrections):
    data = corrections.to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorrectionsError, match="newer"):
        Corrections.load(path)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("format", "other", "'format'"),
        ("input_key", "xyz", "input_key"),
        ("faces", [], "'faces'"),
        ("actions", {}, "'actions'"),
    ],
)
def test_load_rejects_bad_field(tmp_path, corrections, field, value, message):
    data = corrections.to_dict()
    data[field] = value
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorrectionsError, match=message):
        Corrections.load(path)


def test_load_names_bad_action(tmp_path, corrections, kmeans_run):
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    data = corrections.to_dict()
    data["actions"][0]["faces"] = ["nowhere"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CorrectionsError, match=r"actions\[0\].*nowhere"):
        Corrections.load(path)


def test_load_rejects_broken_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(CorrectionsError, match="c.json"):
        Corrections.load(path)


def test_merge_logs_of_two_people(corrections, kmeans_run):
    other = Corrections.from_dict(corrections.to_dict())
    corrections.name_cluster(view_of(corrections, kmeans_run), 0, "ada")
    other.name_cluster(view_of(other, kmeans_run), 1, "bruno")
    assert corrections.merge(other) == 1
    assert corrections.merge(other) == 0
    assert corrections.names() == ["ada", "bruno"]


# -- re-clustering ------------------------------------------------------------------------


def test_names_carried_by_majority_rule(corrections, kmeans_run, hdbscan_run):
    view = view_of(corrections, kmeans_run)
    cluster = biggest_cluster(view)
    named = faces_in(view, cluster)
    corrections.name_cluster(view, cluster, "ada")
    after = view_of(corrections, hdbscan_run)

    # Every hdbscan cluster whose faces are mostly named "ada" is named "ada",
    # and no other cluster is.
    majority_clusters = set()
    for run_cluster, faces in after.groupby("run_cluster")["face_id"]:
        if 2 * len(set(faces) & named) > len(faces):
            majority_clusters.add(run_cluster)
    assert majority_clusters
    named_rows = after[after["name"] == "ada"]
    assert set(named_rows["run_cluster"]) == majority_clusters
    assert named_rows["cluster"].nunique() == 1


def test_manual_moves_survive_reclustering(corrections, kmeans_run, hdbscan_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    moved = sorted(faces_in(view, 1))[:2]
    corrections.move_faces(view_of(corrections, kmeans_run), moved, to_name="bruno")
    after = view_of(corrections, hdbscan_run).set_index("face_id")
    assert (after.loc[moved, "name"] == "bruno").all()
    assert after.loc[moved, "cluster"].nunique() == 1
    assert after.loc[moved, "manual"].all()
    assert (after.loc[after["name"] == "bruno"].index.sort_values() == sorted(moved)).all()


def test_split_survives_reclustering(corrections, kmeans_run, hdbscan_run):
    view = view_of(corrections, kmeans_run)
    selection = sorted(faces_in(view, 0))[:3]
    corrections.split_faces(view, selection)
    after = view_of(corrections, hdbscan_run)
    assert faces_in(after, after.loc[after["face_id"] == selection[0], "cluster"].item()) == set(selection)


def test_carry_rule_on_small_table(corrections, kmeans_run):
    """Exact outcome of the rule on hand-picked labels over the real faces."""
    table = kmeans_run.faces.iloc[:10].copy()
    first = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    view = corrections.apply(table, first)
    corrections.name_cluster(view, 0, "ada")
    corrections.name_cluster(view, 1, "bruno")
    ids = table["face_id"].tolist()

    # Cluster 5 contains ada's 3 faces plus one, so it becomes ada's home.
    # Cluster 6 has 3 faces, 2 of them bruno's: a majority, so it is bruno.
    # Cluster 7 has 2 faces, 1 of them bruno's: no strict majority, no name.
    second = np.array([5, 5, 5, 6, 6, 7, 5, 7, 6, -1])
    after = corrections.apply(table, second).set_index("face_id")
    assert (after.loc[ids[:3], "name"] == "ada").all()
    assert after.loc[ids[6], "name"] == "ada"
    assert (after.loc[[ids[3], ids[4], ids[8]], "name"] == "bruno").all()
    assert after.loc[ids[5], "name"] == ""
    assert after.loc[ids[7], "name"] == ""
    assert after.loc[ids[9], "name"] == ""
    assert bool(after.loc[ids[9], "noise"])


def test_noise_face_of_a_name_joins_it(corrections, kmeans_run):
    table = kmeans_run.faces.iloc[:6].copy()
    view = corrections.apply(table, np.array([0, 0, 0, 1, 1, 1]))
    corrections.name_cluster(view, 0, "ada")
    after = corrections.apply(table, np.array([3, 3, -1, 4, 4, 4]))
    assert after["name"].tolist() == ["ada"] * 3 + [""] * 3
    assert after["cluster"].iloc[2] == after["cluster"].iloc[0]
    assert not after["noise"].iloc[2]


# -- faces across detection parameters and evaluation labels ---------------------------------


def test_faces_matched_across_detection_params(demo, corrections, kmeans_run):
    comic, workspace = demo
    view = view_of(corrections, kmeans_run)
    for cluster, name in zip(sorted(view["cluster"].unique()), ["ada", "bruno", "chiko"]):
        corrections.name_cluster(view_of(corrections, kmeans_run), int(cluster), name)
    reference = dict(zip(kmeans_run.faces["face_id"], identities_for(kmeans_run.faces, corrections)))

    stricter = KMEANS_3.replace(faces={"min_size": 40.0})
    other = run_pipeline(workspace, comic.folder, stricter)
    assert len(other.faces) < len(kmeans_run.faces)
    identities = identities_for(other.faces, corrections)

    boxes = ["x0", "y0", "x1", "y1"]
    shifted = 0
    for (_, row), identity in zip(other.faces.iterrows(), identities):
        same_page = kmeans_run.faces[kmeans_run.faces["page"] == row["page"]]
        overlap = iou_matrix(row[boxes].to_numpy(float)[None], same_page[boxes].to_numpy(float))[0]
        source = same_page["face_id"].iloc[int(np.argmax(overlap))]
        assert overlap.max() >= 0.5
        assert identity == reference[source]
        shifted += source != row["face_id"]
    assert shifted > 0


def test_crop_folder_run_matched_by_id(tmp_path, demo, kmeans_run):
    write_outputs(kmeans_run, tmp_path / "out")
    run = run_pipeline(demo[1], faces_folder=tmp_path / "out" / "crops", config=KMEANS_3)
    corrections = Corrections(input_key_for(run.record))
    view = corrections.apply(run.faces, run.labels)
    corrections.name_cluster(view, 1, "bruno")
    face = view.loc[view["cluster"] == 0, "face_id"].iloc[0]
    corrections.move_faces(corrections.apply(run.faces, run.labels), [face], to_name="bruno")

    assert all(entry["box"] is None for entry in corrections.faces.values())
    after = corrections.apply(run.faces, run.labels)
    assert set(after.loc[after["name"] == "bruno", "face_id"]) == faces_in(view, 1) | {face}
    table = labels_csv(corrections, run.faces)
    assert set(table["image_name"]) == faces_in(view, 1) | {face}


def test_labels_csv_read_back(tmp_path, corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    corrections.name_cluster(view, 0, "ada")
    corrections.name_cluster(view, 2, "chiko")
    table = labels_csv(corrections, kmeans_run.faces)
    path = tmp_path / "labels.csv"
    table.to_csv(path, index=False)
    names = [f"{face}.png" for face in kmeans_run.faces["face_id"]]
    read = labels_from_csv(path, names)
    name_of_cluster = {0: "ada", 2: "chiko"}
    expected = [name_of_cluster.get(cluster) for cluster in view["cluster"]]
    assert read == expected


def test_score_against_corrections(corrections, kmeans_run, hdbscan_run):
    view = view_of(corrections, kmeans_run)
    for cluster, name in [(0, "ada"), (1, "bruno"), (2, "chiko")]:
        corrections.name_cluster(view, cluster, name)
    own = score_against_corrections(kmeans_run.faces, kmeans_run.labels, corrections)
    other = score_against_corrections(hdbscan_run.faces, hdbscan_run.labels, corrections)
    assert own["pairwise_f1_excl_noise"] == pytest.approx(1.0)
    assert own["n_labelled"] == len(kmeans_run.faces)
    assert other["n_labelled"] == len(hdbscan_run.faces)
    assert other["pairwise_f1_singletons"] < 1.0


# -- bad parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", 7, "x" * 201, "tab\tname"])
def test_name_cluster_rejects_bad_name(corrections, kmeans_run, name):
    with pytest.raises(CorrectionsError, match="name"):
        corrections.name_cluster(view_of(corrections, kmeans_run), 0, name)


def test_name_cluster_rejects_unknown_cluster(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="cluster 99 not found"):
        corrections.name_cluster(view_of(corrections, kmeans_run), 99, "ada")


def test_name_cluster_rejects_non_integer_cluster(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="integer"):
        corrections.name_cluster(view_of(corrections, kmeans_run), "0", "ada")


def test_action_rejects_run_table_as_view(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="Corrections.apply"):
        corrections.name_cluster(kmeans_run.faces, 0, "ada")


def test_rename_rejects_unknown_name(corrections):
    with pytest.raises(CorrectionsError, match="not found"):
        corrections.rename("nobody", "ada")


def test_merge_rejects_single_cluster(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="two clusters"):
        corrections.merge_clusters(view_of(corrections, kmeans_run), [1, 1])


def test_move_rejects_unknown_face(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="p9999_f000"):
        corrections.move_faces(view_of(corrections, kmeans_run), ["p9999_f000"], to_name="ada")


def test_move_rejects_two_targets(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    with pytest.raises(CorrectionsError, match="exactly one target"):
        corrections.move_faces(view, [view["face_id"].iloc[0]], to_cluster=1, to_name="ada")


def test_move_rejects_no_target(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    with pytest.raises(CorrectionsError, match="exactly one target"):
        corrections.move_faces(view, [view["face_id"].iloc[0]])


def test_split_faces_rejects_empty_selection(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="face_ids"):
        corrections.split_faces(view_of(corrections, kmeans_run), [])


@pytest.mark.parametrize("k", [1, 0, 2.5, 10_000])
def test_split_cluster_rejects_bad_k(corrections, kmeans_run, k):
    with pytest.raises(CorrectionsError, match="k"):
        corrections.split_cluster(view_of(corrections, kmeans_run), 0, kmeans_run.features, k=k)


def test_split_cluster_rejects_unknown_clusterer(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="nosuch"):
        corrections.split_cluster(view_of(corrections, kmeans_run), 0, kmeans_run.features, clusterer="nosuch")


def test_split_cluster_rejects_short_features(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="features"):
        corrections.split_cluster(view_of(corrections, kmeans_run), 0, kmeans_run.features[:3], k=2)


def test_reject_rejects_non_bool(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    with pytest.raises(CorrectionsError, match="rejected"):
        corrections.reject_faces(view, [view["face_id"].iloc[0]], rejected="yes")


@pytest.mark.parametrize(
    "box, message",
    [
        ([10, 10, 5, 40], "empty"),
        ([10, 10, 40], "4 numbers"),
        ([-5, 10, 40, 40], "outside"),
        ([900, 1300, 1200, 1500], "outside"),
        ([10, float("nan"), 40, 40], "finite"),
    ],
)
def test_add_face_rejects_bad_box(demo, corrections, kmeans_run, box, message):
    with pytest.raises(CorrectionsError, match=message):
        corrections.add_face(demo[1], kmeans_run.record, "page01.png", box)


def test_add_face_rejects_unknown_page(demo, corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="page09.png"):
        corrections.add_face(demo[1], kmeans_run.record, "page09.png", [0, 0, 30, 30])


def test_add_face_rejects_bad_margin(demo, corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="margin"):
        corrections.add_face(demo[1], kmeans_run.record, "page01.png", [0, 0, 30, 30], margin=-1)


def test_apply_rejects_wrong_label_count(corrections, kmeans_run):
    with pytest.raises(CorrectionsError, match="labels"):
        corrections.apply(kmeans_run.faces, kmeans_run.labels[:-1])


def test_constructor_rejects_bad_input_key():
    with pytest.raises(CorrectionsError, match="input_key"):
        Corrections("not-a-key")


def test_save_without_path_raises(corrections):
    with pytest.raises(CorrectionsError, match="no file"):
        corrections.save()


def test_apply_keeps_other_columns(corrections, kmeans_run):
    view = view_of(corrections, kmeans_run)
    assert isinstance(view, pd.DataFrame)
    assert view["identity"].tolist() == kmeans_run.faces["identity"].tolist()
