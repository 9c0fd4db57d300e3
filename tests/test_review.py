"""The Review page headless with AppTest: every correction action, re-clustering, sharing, paging.

The page runs on a 2-page demo comic in a workspace of this module, clustered
with k-means (k=4) so that it has clusters to correct. The page-stage cache
of the dashboard tests is copied in when it exists, so the pipeline runs at
most once per session. Corrections are removed before every test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from comicfaces.cache import Workspace, make_key, save_array
from comicfaces.config import PipelineConfig
from comicfaces.corrections import Corrections
from comicfaces.dashboard import review_model
from comicfaces.dashboard.state import CONFIG_KEY, INPUT_KEY, WORKSPACE_KEY, InputSpec
from comicfaces.pipeline import load_run_faces

from workspaces import seeded_dashboard_workspace  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
REVIEW_PAGE = str(REPO_ROOT / "pages" / "9_Review.py")
TIMEOUT = 600
KMEANS_4 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 4}})


@pytest.fixture(scope="module")
def review_root(tmp_path_factory) -> Iterator[Path]:
    """Workspace of this module, seeded with the dashboard tests' cache when they ran first."""
    yield from seeded_dashboard_workspace(tmp_path_factory, "review-workspace")


@pytest.fixture
def workspace(review_root) -> Workspace:
    """The module's workspace without corrections or stored runs."""
    for folder in ("corrections", "runs", "exports", "imports"):
        shutil.rmtree(review_root / folder, ignore_errors=True)
    return Workspace(review_root)


def open_review(root: Path, config: PipelineConfig = KMEANS_4, query: dict | None = None, **state) -> AppTest:
    """Run the Review page on the demo in workspace ``root``; return the finished app."""
    app = AppTest.from_file(REVIEW_PAGE, default_timeout=TIMEOUT)
    app.session_state[WORKSPACE_KEY] = str(root)
    app.session_state[CONFIG_KEY] = config
    for key, value in state.items():
        app.session_state[key] = value
    if query:
        app.query_params.update(query)
    return app.run()


def vkey(app: AppTest, name: str) -> str:
    """Return the key of a widget whose options are clusters (see review_state.versioned)."""
    return f"_w_review_{name}@{app.session_state['cf_review_widget_version']}"


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def check(app: AppTest) -> None:
    """Fail with the page's messages when it raised or showed an error."""
    assert not app.exception, texts(app.exception)
    assert not app.error, texts(app.error)


def headings(app: AppTest) -> list[str]:
    """Return the gallery headings, in page order."""
    return [text for text in texts(app.markdown) if text.startswith("**") and "face(s)" in text and "selected**" not in text]


def metric(app: AppTest, label: str) -> str:
    values = [m.value for m in app.metric if m.label == label]
    assert values, f"no metric {label!r}: {[m.label for m in app.metric]}"
    return values[0]


def demo_folder(root: Path) -> Path:
    """Return the 2-page demo comic of workspace ``root``, drawn when missing."""
    from comicfaces.dashboard.inputs import ensure_demo

    folder, _ = ensure_demo(root, 2, 0)
    return folder


def run_view(root: Path, config: PipelineConfig = KMEANS_4) -> pd.DataFrame:
    """Return the corrected view of the page's current results, rebuilt with the pipeline's functions."""
    from comicfaces.corrections import compute_input_key
    from comicfaces.facesets import face_set_from_pages
    from comicfaces.imageio import list_pages
    from comicfaces.pipeline import compute_clusters, compute_features, compute_reduction, process_pages

    workspace = Workspace(root)
    folder = demo_folder(root)
    faces = face_set_from_pages(process_pages(workspace, list_pages(folder), config))
    features, features_key, _ = compute_features(workspace, faces, config)
    embedding, reduction_key, _ = compute_reduction(workspace, features, features_key, config)
    labels, _, _ = compute_clusters(workspace, embedding, reduction_key, config)
    corrections = Corrections.open(workspace, compute_input_key("pages", folder))
    return corrections.apply(faces.table, labels)


def biggest_cluster_faces(view: pd.DataFrame) -> list[str]:
    """Return the faces of the largest cluster: the first gallery, open in the inspector."""
    biggest = view["cluster"].value_counts().idxmax()
    return view.loc[view["cluster"] == biggest, "face_id"].tolist()


def pick(app: AppTest, face_ids) -> AppTest:
    """Tick faces in the inspector; each must be on its open page."""
    for face in face_ids:
        app.checkbox(key=f"_w_pick_{face}").check().run()
    return app


def success(app: AppTest) -> str:
    check(app)
    assert app.success, "no success message"
    return app.success[0].value


# -- the page --------------------------------------------------------------------------


def test_review_orders_galleries_by_size(workspace):
    app = open_review(workspace.root)

    check(app)
    sizes = [int(h.split("**: ")[1].split(" face")[0]) for h in headings(app)]
    assert sizes == sorted(sizes, reverse=True)
    assert metric(app, "Clusters") == "4"
    assert sum(sizes) == int(metric(app, "Faces"))


def test_noise_bucket_is_last_gallery(workspace):
    hdbscan = PipelineConfig().replace(clustering={"name": "hdbscan", "params": {"min_cluster_size": 2}})
    app = open_review(workspace.root, hdbscan, query={"gpage": "99"})

    check(app)
    assert int(metric(app, "Noise faces")) > 0
    assert headings(app)[-1].startswith("**noise**"), "the last gallery page does not end with the noise bucket"


# -- correction actions ------------------------------------------------------------------


def test_name_cluster(workspace):
    app = open_review(workspace.root)
    cluster = app.selectbox(key=vkey(app, "name_cluster")).value
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()

    assert "'Ada'" in success(app)
    assert headings(app)[0].startswith("**Ada (cluster")
    assert metric(app, "Named characters") == "1"
    view = run_view(workspace.root)
    assert set(view.loc[view["name"] == "Ada", "cluster"]) == {cluster}
    assert (view["name"] == "Ada").sum() == (view["cluster"] == cluster).sum()


def test_name_empty_shows_error(workspace):
    app = open_review(workspace.root)
    app.text_input(key="_w_review_name_text").input("   ")
    app.button(key="review_name").click().run()

    assert not app.exception, texts(app.exception)
    assert any("Naming failed" in text and "empty" in text for text in texts(app.error)), texts(app.error)


def test_merge_two_clusters(workspace):
    app = open_review(workspace.root)
    before = run_view(workspace.root)
    first, second = (int(c) for c in before["cluster"].value_counts().index[:2])
    app.multiselect(key=vkey(app, "merge_clusters")).set_value([first, second])
    app.button(key="review_merge").click().run()

    assert "Merged clusters" in success(app)
    assert metric(app, "Clusters") == "3"
    merged = before.loc[before["cluster"].isin([first, second]), "face_id"]
    after = run_view(workspace.root).set_index("face_id")
    assert after.loc[merged, "cluster"].nunique() == 1
    assert headings(app)[0].startswith(f"**cluster {after.loc[merged[0], 'cluster']}**: {len(merged)} face(s)")


def test_merge_uses_selection_clusters(workspace):
    app = open_review(workspace.root)
    before = run_view(workspace.root)
    first, second = before.groupby("cluster")["face_id"].first().iloc[:2]
    app.session_state["cf_review_selection"] = [first, second]
    app.run()
    app.button(key="review_merge_from_selection").click().run()
    app.button(key="review_merge").click().run()

    check(app)
    after = run_view(workspace.root)
    assert after.set_index("face_id").loc[first, "cluster"] == after.set_index("face_id").loc[second, "cluster"]
    assert metric(app, "Clusters") == "3"


def test_split_cluster_with_kmeans(workspace):
    app = open_review(workspace.root)
    app.number_input(key="_w_review_split_k").set_value(2)
    app.button(key="review_split_k").click().run()

    assert "k-means (k=2)" in success(app)
    assert metric(app, "Clusters") == "5"


def test_split_selection_into_new_cluster(workspace):
    app = open_review(workspace.root)
    before = run_view(workspace.root)
    biggest = before["cluster"].value_counts().idxmax()
    faces = [f for f in before.loc[before["cluster"] == biggest, "face_id"]]
    app.button(key=f"review_inspect_c{biggest}").click().run()
    pick(app, faces[:2])
    app.button(key="review_split_selection").click().run()

    assert "new cluster" in success(app)
    after = run_view(workspace.root).set_index("face_id")
    assert after.loc[faces[0], "cluster"] == after.loc[faces[1], "cluster"]
    assert after.loc[faces[0], "cluster"] != after.loc[faces[2], "cluster"]
    assert after.loc[faces[:2], "manual"].all()


def test_move_face_to_name(workspace):
    app = open_review(workspace.root)
    face = run_view(workspace.root)["face_id"].iloc[0]
    app.session_state["cf_review_selection"] = [face]
    app.run()
    app.radio(key="_w_review_move_mode").set_value("name").run()
    app.text_input(key="_w_review_move_name").input("Bruno")
    app.button(key="review_move").click().run()

    assert "'Bruno'" in success(app)
    after = run_view(workspace.root).set_index("face_id")
    assert after.loc[face, "name"] == "Bruno"
    assert after.loc[face, "manual"]


def test_move_face_to_cluster(workspace):
    app = open_review(workspace.root)
    before = run_view(workspace.root)
    target = int(before["cluster"].value_counts().idxmax())
    face = before.loc[before["cluster"] != target, "face_id"].iloc[0]
    app.session_state["cf_review_selection"] = [face]
    app.run()
    app.selectbox(key=vkey(app, "move_cluster")).set_value(target)
    app.button(key="review_move").click().run()

    check(app)
    after = run_view(workspace.root).set_index("face_id")
    target_face = before.loc[before["cluster"] == target, "face_id"].iloc[0]
    assert after.loc[face, "cluster"] == after.loc[target_face, "cluster"]


def test_reject_box(workspace):
    app = open_review(workspace.root)
    faces_before = int(metric(app, "Faces"))
    face = run_view(workspace.root)["face_id"].iloc[3]
    app.session_state["cf_review_selection"] = [face]
    app.run()
    app.button(key="review_reject").click().run()

    assert "not a face" in success(app)
    assert int(metric(app, "Faces")) == faces_before - 1
    assert any(h.startswith("**rejected (not a face)**: 1 face(s)") for h in headings(app))
    assert run_view(workspace.root).set_index("face_id").loc[face, "rejected"]


def test_reject_from_face_view(workspace):
    app = open_review(workspace.root)
    face = run_view(workspace.root)["face_id"].iloc[5]
    app.text_input(key="_w_review_face_id").input(face).run()
    app.button(key="review_reject_face").click().run()

    assert face in success(app)
    assert run_view(workspace.root).set_index("face_id").loc[face, "rejected"]


def test_add_missed_face(workspace):
    app = open_review(workspace.root)
    for side, value in zip(("x0", "y0", "x1", "y1"), (20, 30, 120, 140)):
        app.number_input(key=f"_w_review_add_{side}").set_value(value)
    app.text_input(key="_w_review_add_name").input("Chiko")
    app.button(key="review_add").click().run()

    assert "as 'Chiko'" in success(app)
    added = run_view(workspace.root)
    row = added[added["added"]]
    assert len(row) == 1
    assert row["name"].iloc[0] == "Chiko"
    assert row[["x0", "y0", "x1", "y1"]].iloc[0].tolist() == [20, 30, 120, 140]
    assert Path(row["crop"].iloc[0]).is_file()


def test_undo_and_redo(workspace):
    app = open_review(workspace.root)
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()
    app.button(key="review_undo").click().run()

    assert "Undid the name" in success(app)
    assert metric(app, "Named characters") == "0"
    app.button(key="review_redo").click().run()
    assert "Redid the name" in success(app)
    assert metric(app, "Named characters") == "1"


def test_undo_without_action_shows_error(workspace):
    app = open_review(workspace.root)
    app.button(key="review_undo").click().run()

    assert any("no action to undo" in text for text in texts(app.error)), texts(app.error)


def test_names_and_moves_survive_reclustering(workspace):
    app = open_review(workspace.root)
    before = run_view(workspace.root)
    biggest = int(before["cluster"].value_counts().idxmax())
    named = set(before.loc[before["cluster"] == biggest, "face_id"])
    moved = before.loc[before["cluster"] != biggest, "face_id"].iloc[0]
    app.selectbox(key=vkey(app, "name_cluster")).set_value(biggest)
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()
    app.session_state["cf_review_selection"] = [moved]
    app.run()
    app.radio(key="_w_review_move_mode").set_value("name").run()
    app.text_input(key="_w_review_move_name").input("Bruno")
    app.button(key="review_move").click().run()
    check(app)

    app.text_input(key="_w_clustering_kmeans_n_clusters").input("6")
    app.button(key="FormSubmitter:form_clustering_kmeans-Apply").click().run()
    check(app)
    assert app.session_state[CONFIG_KEY].clustering.params == {"n_clusters": 6}
    assert metric(app, "Clusters") in ("6", "7")
    after = run_view(workspace.root, app.session_state[CONFIG_KEY]).set_index("face_id")
    assert after.loc[moved, "name"] == "Bruno"
    assert after.loc[moved, "manual"]
    ada = set(after.index[after["name"] == "Ada"])
    assert len(ada & named) > len(named) / 2
    app.button(key="review_clear_selection").click().run()
    app.number_input(key="_w_review_clusters_per_page").set_value(20).run()
    assert metric(app, "Named characters") == "2"
    assert any(h.startswith("**Ada (cluster") for h in headings(app)), headings(app)
    assert any(h.startswith("**Bruno (cluster") for h in headings(app)), headings(app)


# -- selection, URL and face context -----------------------------------------------------


def test_selection_filters_galleries(workspace):
    app = open_review(workspace.root)
    view = run_view(workspace.root)
    faces = view["face_id"].iloc[[0, 1]].tolist()
    app.session_state["cf_review_selection"] = faces
    app.run()

    check(app)
    assert "**2 face(s) selected**" in texts(app.markdown)
    shown = sum(int(h.split(" · ")[1].split()[0]) for h in headings(app) if " selected" in h)
    assert shown == 2
    counts = app.dataframe[0].value
    assert counts["faces"].sum() == 2


def test_url_reopens_run_face_and_selection(workspace):
    app = open_review(workspace.root)
    face = biggest_cluster_faces(run_view(workspace.root))[1]
    app.button(key=f"review_open_{face}").click().run()
    app.checkbox(key=f"_w_pick_{face}").check().run()
    query = dict(app.query_params)

    assert query["face"] == face
    assert query["sel"] == face
    again = open_review(workspace.root, query=query)
    check(again)
    assert again.session_state["cf_review_selection"] == [face]
    assert again.text_input(key="_w_review_face_id").value == face
    assert any(face in caption for image in again.image for caption in image.captions if caption), "the face's page is not shown"


def test_stored_run_opens_from_url(workspace):
    app = open_review(workspace.root)
    app.button(key="review_save_run").click().run()
    check(app)
    run_key = app.query_params["run"]

    again = open_review(workspace.root, query={"run": run_key})
    check(again)
    assert again.selectbox(key="_w_review_run").value == run_key
    assert headings(again) == headings(app)


# -- import and share ---------------------------------------------------------------------


def test_labels_csv_import_names_faces(workspace):
    app = open_review(workspace.root)
    faces = run_view(workspace.root)["face_id"].iloc[:3].tolist()
    data = ("image_name,identity\n" + "".join(f"{face}.png,Dora\n" for face in faces)).encode()
    app.file_uploader(key="_w_review_labels_upload").set_value(("labels.csv", data, "text/csv"))
    app.run()
    app.button(key="review_import_labels").click().run()

    assert "Imported 3 name(s)" in success(app)
    from comicfaces.corrections import identities_for

    table = run_view(workspace.root)
    corrections = Corrections.open(workspace, _input_key(workspace.root))
    named = {face for face, identity in zip(table["face_id"], identities_for(table, corrections)) if identity == "Dora"}
    assert named == set(faces)


def _input_key(root: Path) -> str:
    from comicfaces.corrections import compute_input_key

    return compute_input_key("pages", demo_folder(root))


def test_project_archive_reproduces_galleries(workspace, tmp_path):
    app = open_review(workspace.root)
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()
    app.checkbox(key="_w_review_embed").check()
    app.button(key="review_prepare_project").click().run()
    check(app)
    archive = Path(app.session_state["cf_review_project_archive"])
    assert archive.is_file()
    metrics = {(m.label, m.value) for m in app.metric}

    other = tmp_path / "other-workspace"
    unreadable = InputSpec(kind="folder", paths=(str(tmp_path / "no-pages"),))
    imported = AppTest.from_file(REVIEW_PAGE, default_timeout=TIMEOUT)
    imported.session_state[WORKSPACE_KEY] = str(other)
    imported.session_state[INPUT_KEY] = unreadable.to_dict()
    imported.run()
    imported.file_uploader(key="_w_review_project_upload").set_value((archive.name, archive.read_bytes(), "application/zip"))
    imported.run()
    imported.button(key="review_import_project").click().run()

    assert not imported.exception, texts(imported.exception)
    assert any("Imported" in text for text in texts(imported.success)), texts(imported.success)
    assert imported.selectbox(key="_w_review_run").value == app.query_params["run"]
    assert headings(imported) == headings(app)
    assert {(m.label, m.value) for m in imported.metric} == metrics


def test_evaluation_scores_against_corrections(workspace):
    app = open_review(workspace.root)
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()
    check(app)

    evaluation = AppTest.from_file(str(REPO_ROOT / "pages" / "8_Evaluation.py"), default_timeout=TIMEOUT)
    evaluation.session_state[WORKSPACE_KEY] = str(workspace.root)
    evaluation.session_state[CONFIG_KEY] = KMEANS_4
    evaluation.run()
    assert not evaluation.exception, texts(evaluation.exception)
    assert "Against your corrections" in texts(evaluation.subheader)
    assert metric(evaluation, "pairwise P (corrections)") == "1.000"


# -- a large run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_run(tmp_path_factory):
    """A stored run of 10,000 synthetic faces in 60 clusters plus noise, with a cached embedding."""
    from PIL import Image

    root = tmp_path_factory.mktemp("large-review")
    workspace = Workspace(root / "workspace")
    rng = np.random.default_rng(0)
    n, n_clusters = 10_000, 60
    truth = rng.integers(0, n_clusters, n)
    embedding = (rng.normal(size=(n_clusters, 16)) * 6)[truth] + rng.normal(size=(n, 16))
    labels = truth.copy()
    labels[rng.random(n) < 0.05] = -1

    crops = root / "crops"
    crops.mkdir()
    Image.new("RGB", (40, 48), (200, 120, 80)).save(crops / "face.png")
    table = pd.DataFrame(
        {
            "face_id": [f"face_{i:05d}" for i in range(n)],
            "crop": str(crops / "face.png"),
            "identity": [f"character_{t}" for t in truth],
            "cluster": review_model_noise_as_singletons(labels),
            "noise": labels == -1,
        }
    )
    reduction_key = make_key("reduction", "synthetic", {"n": n})
    with workspace.writing("reduction", reduction_key, {"features": "synthetic"}) as folder:
        save_array(folder, "embedding", embedding.astype(np.float32))
    record = {
        "key": "synthetic10k",
        "name": "synthetic run of 10,000 faces",
        "created": 0.0,
        "input": {"kind": "faces", "path": str(crops), "key": "ab" * 32},
        "config": PipelineConfig().to_dict(),
        "n_faces": n,
        "stages": {"reduction": reduction_key},
    }
    (workspace.root / "runs").mkdir(parents=True, exist_ok=True)
    table.to_csv(workspace.root / "runs" / "synthetic10k.faces.csv", index=False)
    workspace.save_run(record)
    return workspace, table


def review_model_noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    from comicfaces.pipeline import noise_as_singletons

    return noise_as_singletons(labels)


def test_large_run_draws_one_page(large_run, tmp_path):
    workspace, table = large_run
    unreadable = InputSpec(kind="folder", paths=(str(tmp_path / "none"),)).to_dict()
    app = open_review(workspace.root, query={"run": "synthetic10k"}, **{INPUT_KEY: unreadable})

    assert not app.exception, texts(app.exception)
    assert metric(app, "Faces") == "10000"
    assert metric(app, "Clusters") == "60"
    shown = headings(app)
    assert len(shown) == 6
    montages = [image for image in app.image if not any(image.captions)]
    assert len(montages) <= 6
    pickers = [box for box in app.checkbox if (box.key or "").startswith("_w_pick_")]
    assert len(pickers) == 24
    assert app.get("pagination")


def test_large_run_pages_forward(large_run, tmp_path):
    workspace, _ = large_run
    unreadable = InputSpec(kind="folder", paths=(str(tmp_path / "none"),)).to_dict()
    app = open_review(workspace.root, query={"run": "synthetic10k", "gpage": "11"}, **{INPUT_KEY: unreadable})

    assert not app.exception, texts(app.exception)
    last = headings(app)
    assert last[-1].startswith("**noise**")
    assert app.query_params["gpage"] == "11"


# -- computations without Streamlit ------------------------------------------------------------


def _view(clusters, noise=None, rejected=None):
    n = len(clusters)
    return pd.DataFrame(
        {
            "face_id": [f"f{i}" for i in range(n)],
            "cluster": clusters,
            "noise": noise if noise is not None else [False] * n,
            "rejected": rejected if rejected is not None else [False] * n,
            "run_row": list(range(n)),
            "name": [""] * n,
            "manual": [False] * n,
            "added": [False] * n,
        }
    )


def test_geometry_orders_by_distance_to_centre():
    view = _view([0, 0, 0, 1, 1, 2], noise=[False] * 5 + [True])
    embedding = np.array([[0.0, 0], [1, 0], [5, 0], [10, 10], [11, 10], [9, 0]])
    geometry = review_model.face_geometry(view, embedding)
    groups = review_model.gallery_groups(view, geometry.distance)

    assert [g.key for g in groups] == ["c0", "c1", "noise"]
    assert groups[0].rows.tolist() == [1, 0, 2]
    assert geometry.distance[1] == pytest.approx(1.0)
    assert geometry.nearest_cluster[5] == 0


def test_rejected_faces_have_own_bucket():
    view = _view([0, 0, 1], rejected=[False, True, False])
    groups = review_model.gallery_groups(view, np.zeros(3))

    assert [g.key for g in groups] == ["c0", "c1", "rejected"]
    assert groups[-1].rows.tolist() == [1]


def test_selection_filter_keeps_cluster_order():
    view = _view([0, 0, 0, 1, 1])
    groups = review_model.gallery_groups(view, np.zeros(5), only_rows=[4])

    assert [(g.key, g.size, g.total) for g in groups] == [("c1", 1, 2)]


def test_percentile_outlier_flags_far_face():
    view = _view([0] * 6)
    distance = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 7.0])
    flags = review_model.percentile_outliers(view, distance, 90)

    assert flags.tolist() == [False] * 5 + [True]


def test_percentile_outlier_skips_small_cluster():
    view = _view([0] * 4)
    assert not review_model.percentile_outliers(view, np.array([1.0, 1, 1, 9])).any()


def test_percentile_outside_range_raises():
    with pytest.raises(ValueError, match="percentile"):
        review_model.percentile_outliers(_view([0]), np.zeros(1), 100)


def test_lof_flags_isolated_face():
    rng = np.random.default_rng(0)
    embedding = np.vstack([rng.normal(size=(40, 3)), [[30.0, 30.0, 30.0]]])
    flags = review_model.lof_outliers(_view([0] * 41), embedding, n_neighbors=10)

    assert flags[-1]
    assert flags[:-1].sum() <= 2


def test_near_duplicates_pair_identical_faces():
    embedding = np.array([[1.0, 0.0], [1.0, 0.001], [0.0, 1.0]])
    index = review_model.NeighbourIndex(embedding)
    flags, partners = review_model.near_duplicates(_view([0, 0, 1]), index, 0.99)

    assert flags.tolist() == [True, True, False]
    assert partners[:2] == ["f1", "f0"]


def test_duplicate_threshold_outside_range_raises():
    with pytest.raises(ValueError, match="threshold"):
        review_model.near_duplicates(_view([0]), None, 1.5)


def test_neighbour_query_excludes_face():
    embedding = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    rows, similarity = review_model.NeighbourIndex(embedding).query(0, 2)

    assert rows.tolist() == [1, 2]
    assert similarity[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))


def test_identity_scores_per_majority_cluster():
    identities = ["ada", "ada", "ada", "bruno", "bruno", None]
    scores = review_model.identity_scores(identities, np.array([0, 0, 1, 1, 1, 1])).set_index("identity")

    assert scores.loc["ada", "cluster"] == 0
    assert scores.loc["ada", "precision"] == pytest.approx(1.0)
    assert scores.loc["ada", "recall"] == pytest.approx(2 / 3)
    assert scores.loc["bruno", "precision"] == pytest.approx(2 / 3)
    assert scores.loc["bruno", "recall"] == pytest.approx(1.0)


def test_confusion_table_counts_labelled_faces():
    table = review_model.confusion_table(["ada", "ada", "bruno", None], np.array([0, 1, 1, 1]), ["Ada", "", "", ""])

    assert table.loc["Ada (0)", "ada"] == 1
    assert table.loc["cluster 1", "bruno"] == 1
    assert table.to_numpy().sum() == 3


def test_selection_counts_name_noise():
    view = _view([0, 0, 5], noise=[False, False, True])
    counts = review_model.selection_counts(view, [0, 1, 2], "cluster").set_index("cluster")["faces"].to_dict()

    assert counts == {"0": 2, "noise": 1}


def test_raw_labels_from_both_table_forms():
    pipeline_form = pd.DataFrame({"cluster": [0, 1, 2], "noise": [False, False, True]})
    dashboard_form = pd.DataFrame({"cluster": [0, 1, -1]})

    assert review_model.raw_labels(pipeline_form).tolist() == [0, 1, -1]
    assert review_model.raw_labels(dashboard_form).tolist() == [0, 1, -1]


def test_page_count_rounds_up():
    assert review_model.page_count(0, 6) == 1
    assert review_model.page_count(13, 6) == 3
    with pytest.raises(ValueError, match="per_page"):
        review_model.page_count(5, 0)


def test_stored_labels_csv_matches_backend(workspace):
    from comicfaces.corrections import labels_csv
    from comicfaces.dashboard import review_exports

    app = open_review(workspace.root)
    app.text_input(key="_w_review_name_text").input("Ada")
    app.button(key="review_name").click().run()
    app.button(key="review_save_run").click().run()
    check(app)
    run_key = app.query_params["run"]
    record = workspace.load_run(run_key)
    table = load_run_faces(workspace, run_key)
    corrections = Corrections.for_run(workspace, record)

    exported = review_exports.labels_csv_bytes(corrections, table).decode()
    assert exported == labels_csv(corrections, table).to_csv(index=False)
    assert exported.count(",Ada") == int(metric(app, "Faces")) - sum(
        int(h.split("**: ")[1].split(" face")[0]) for h in headings(app) if not h.startswith("**Ada")
    )
    assert record["input"]["key"] == corrections.input_key
    assert json.loads(review_exports.run_json_bytes(record, corrections.apply(table)))["corrections"]["names"] == ["Ada"]


def test_coco_export_import_round_trip(workspace):
    from comicfaces.dashboard import review_exports
    from comicfaces.pipeline import run_pipeline

    run = run_pipeline(workspace, demo_folder(workspace.root), KMEANS_4)
    corrections = Corrections.for_run(workspace, run.record)
    view = corrections.apply(run.faces, run.labels)
    cluster = int(view["cluster"].value_counts().idxmax())
    corrections.name_cluster(view, cluster, "Ada")
    corrections.add_face(workspace, run.record, "page01.png", [10, 20, 90, 110], name="Emil")
    coco = review_exports.coco_bytes(corrections.apply(run.faces, run.labels), run.record)
    named = set(view.loc[view["cluster"] == cluster, "face_id"])

    fresh = Corrections(corrections.input_key)
    report = review_exports.import_coco_boxes(fresh, fresh.apply(run.faces, run.labels), workspace, run.record, coco)
    assert report == {"named": len(named), "added": 1, "skipped": 0}
    after = fresh.apply(run.faces, run.labels)
    assert set(after.loc[after["name"] == "Ada", "face_id"]) == named
    assert after.loc[after["added"], "name"].tolist() == ["Emil"]


def test_coco_import_button_names_faces(workspace):
    from comicfaces.dashboard import review_exports
    from comicfaces.pipeline import run_pipeline

    run = run_pipeline(workspace, demo_folder(workspace.root), KMEANS_4)
    corrections = Corrections(Corrections.for_run(workspace, run.record).input_key)
    view = corrections.apply(run.faces, run.labels)
    corrections.assign_names(view, {view["face_id"].iloc[0]: "Gus"}, manual=True)
    coco = review_exports.coco_bytes(corrections.apply(run.faces, run.labels), run.record)

    app = open_review(workspace.root)
    app.file_uploader(key="_w_review_coco_upload").set_value(("boxes.json", coco, "application/json"))
    app.run()
    app.button(key="review_import_coco").click().run()

    assert "1 face(s) named, 0 added" in success(app)
    assert Corrections.open(workspace, corrections.input_key).names() == ["Gus"]


def test_evaluation_saved_run_exports_from_cli(workspace, tmp_path, capsys):
    from comicfaces.cli import main

    evaluation = AppTest.from_file(str(REPO_ROOT / "pages" / "8_Evaluation.py"), default_timeout=TIMEOUT)
    evaluation.session_state[WORKSPACE_KEY] = str(workspace.root)
    evaluation.session_state[CONFIG_KEY] = KMEANS_4
    evaluation.run()
    evaluation.button(key="save_run").click().run()
    assert not evaluation.exception, texts(evaluation.exception)
    (record,) = workspace.list_runs()
    assert "key" not in record["input"]

    labels = tmp_path / "labels.csv"
    assert main(["export", record["key"], "--labels", str(labels), "--workspace", str(workspace.root)]) == 0
    completed = workspace.load_run(record["key"])
    assert completed["input"]["key"] == _input_key(workspace.root)
    assert Path(completed["input"]["path"]) == demo_folder(workspace.root).resolve()
    assert pd.read_csv(labels).columns.tolist() == ["image_name", "identity"]


# -- figures -----------------------------------------------------------------------------


def test_review_scatter_maps_traces_to_faces():
    from comicfaces.dashboard import charts

    frame = pd.DataFrame({"face_id": ["a", "b", "c"], "colour": ["cluster 1", "noise", "cluster 1"]})
    figure, faces = charts.review_scatter_figure(np.zeros((3, 2)), frame, "cluster", "map")

    assert faces == [["a", "c"], ["b"]]
    assert [trace.name for trace in figure.data] == ["cluster 1", "noise"]
    assert list(figure.data[0].customdata) == ["a", "c"]
    assert figure.layout.dragmode == "lasso"
    assert figure.data[0].type == "scatter"


def test_review_scatter_uses_webgl_for_many_points():
    from comicfaces.dashboard import charts

    n = charts.WEBGL_POINTS + 1
    frame = pd.DataFrame({"face_id": [f"f{i}" for i in range(n)], "colour": ["cluster 0"] * n})
    figure, _ = charts.review_scatter_figure(np.zeros((n, 2)), frame, "cluster", "map")

    assert figure.data[0].type == "scattergl"


def test_cluster_size_histogram_counts_clusters():
    from comicfaces.dashboard import charts

    figure = charts.cluster_size_histogram(np.array([0, 0, 1, 1, 2, -1, -1]))

    assert list(figure.data[0].x) == [1, 2]
    assert list(figure.data[0].y) == [1, 2]


def test_detections_per_page_stacks_detectors():
    from comicfaces.dashboard import charts

    table = pd.DataFrame({"page": ["p1", "p1", "p2"], "detector": ["yunet", "manual", "yunet"]})
    figure = charts.detections_per_page_figure(table)

    by_detector = {trace.name: list(trace.y) for trace in figure.data}
    assert by_detector == {"manual": [1, 0], "yunet": [1, 1]}
