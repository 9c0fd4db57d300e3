"""Project archives: export, import into a new workspace, and rejection of unsafe archives."""

from __future__ import annotations

import io
import json
import shutil
import stat
import zipfile

import numpy as np
import pandas as pd
import pytest

from comicfaces.cache import Workspace, load_array
from comicfaces.config import PipelineConfig
from comicfaces.corrections import Corrections, compute_input_key, input_key_for
from comicfaces.pipeline import evaluate_face_set, load_run_faces, run_pipeline
from comicfaces.project import MAX_TOTAL_BYTES, ProjectError, export_project, import_project

KMEANS_3 = PipelineConfig().replace(clustering={"name": "kmeans", "params": {"n_clusters": 3}})
HDBSCAN_2 = PipelineConfig().replace(clustering={"name": "hdbscan", "params": {"min_cluster_size": 2}})


@pytest.fixture(scope="module")
def source(tmp_path_factory, demo):
    """A workspace of its own with two runs and corrections (an added face included)."""
    comic, shared = demo
    root = tmp_path_factory.mktemp("project_source")
    shutil.copytree(shared.root / "cache", root / "cache")
    workspace = Workspace(root)
    runs = [run_pipeline(workspace, comic.folder, config, truth=comic.truth) for config in (KMEANS_3, HDBSCAN_2)]
    corrections = Corrections.for_run(workspace, runs[0].record)
    view = corrections.apply(runs[0].faces, runs[0].labels)
    corrections.name_cluster(view, 0, "ada")
    corrections.move_faces(view, [view.loc[view["cluster"] == 1, "face_id"].iloc[0]], to_name="ada")
    corrections.add_face(workspace, runs[0].record, "page02.png", [20, 30, 100, 120], name="bruno")
    return workspace, runs, corrections


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, source):
    workspace, runs, _ = source
    archive = tmp_path_factory.mktemp("archive") / "project.zip"
    manifest = export_project(workspace, [run.key for run in runs], archive, embed_inputs=True)
    target = Workspace(tmp_path_factory.mktemp("project_target"))
    report = import_project(archive, target)
    return archive, manifest, target, report


def arrays(workspace, record):
    return {stage: load_array(workspace.entry_dir(stage, record["stages"][stage]), name) for stage, name in
            [("features", "features"), ("reduction", "embedding"), ("clustering", "labels")]}


def finite(value):
    """Metrics as stored in JSON: NaN becomes None."""
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in value.items()}


# -- round trip ------------------------------------------------------------------------------


def test_manifest_lists_runs_and_inputs(embedded, source):
    _, manifest, _, _ = embedded
    _, runs, corrections = source
    assert [run["key"] for run in manifest["runs"]] == [run.key for run in runs]
    assert manifest["format_version"] == 1
    assert list(manifest["inputs"]) == [corrections.input_key]
    assert manifest["inputs"][corrections.input_key]["files"] == ["page01.png", "page02.png"]
    assert manifest["corrections"] == [corrections.input_key]
    assert {"faces", "text", "panels", "features", "reduction", "clustering", "added_faces"} <= {
        entry["stage"] for entry in manifest["entries"]
    }


def test_import_reproduces_faces_tables(embedded, source):
    _, _, target, report = embedded
    workspace, runs, _ = source
    assert report.runs == [run.key for run in runs]
    for run in runs:
        before = load_run_faces(workspace, run.key)
        after = load_run_faces(target, run.key)
        assert after.drop(columns="crop").equals(before.drop(columns="crop"))
        assert all(str(crop).startswith(str(target.root)) for crop in after["crop"])
        for old, new in zip(before["crop"], after["crop"]):
            assert open(old, "rb").read() == open(new, "rb").read()


def test_import_reproduces_arrays_and_metrics(embedded, source):
    _, _, target, _ = embedded
    workspace, runs, _ = source
    for run in runs:
        record = target.load_run(run.key)
        before, after = arrays(workspace, run.record), arrays(target, record)
        for stage in before:
            assert np.array_equal(before[stage], after[stage])
        metrics = evaluate_face_set(load_run_faces(target, run.key), after["clustering"], after["reduction"])
        assert finite(metrics) == pytest.approx(record["metrics"], nan_ok=True)


def test_import_reproduces_corrections(embedded, source):
    _, _, target, report = embedded
    _, runs, corrections = source
    assert report.corrections == {corrections.input_key: len(corrections.actions)}
    for run in runs:
        record = target.load_run(run.key)
        imported = Corrections.for_run(target, record)
        table = load_run_faces(target, run.key)
        before = corrections.apply(run.faces, run.labels)
        after = imported.apply(table)
        assert after["name"].tolist() == before["name"].tolist()
        assert after["cluster"].tolist() == before["cluster"].tolist()
        added = after[after["added"]]
        assert len(added) == 1
        assert added["crop"].str.startswith(str(target.root)).all()
        assert open(added["crop"].item(), "rb").read() == open(before.loc[before["added"], "crop"].item(), "rb").read()


def test_embedded_input_rewritten(embedded, source):
    _, _, target, report = embedded
    _, runs, corrections = source
    folder = target.root / "imported" / corrections.input_key
    assert report.inputs == {corrections.input_key: str(folder)}
    record = target.load_run(runs[0].key)
    assert record["input"]["path"] == str(folder)
    assert record["input"]["key"] == corrections.input_key
    assert compute_input_key("pages", folder) == corrections.input_key


def test_imported_run_can_rerun(embedded, source):
    _, _, target, _ = embedded
    _, runs, _ = source
    record = target.load_run(runs[0].key)
    again = run_pipeline(target, record["input"]["path"], KMEANS_3)
    assert again.record["cached"]["clustering"] is True
    assert np.array_equal(again.labels, runs[0].labels)


def test_second_import_keeps_existing(embedded):
    archive, _, target, first = embedded
    record_before = target.load_run(first.runs[0])
    report = import_project(archive, target)
    assert report.entries_added == 0
    assert report.entries_kept == first.entries_added
    assert report.runs_kept == first.runs
    assert set(report.corrections.values()) == {0}
    assert target.load_run(first.runs[0]) == record_before


def test_referenced_inputs_keep_paths(tmp_path, source):
    workspace, runs, corrections = source
    archive = tmp_path / "ref.zip"
    manifest = export_project(workspace, [runs[0].key], archive)
    with zipfile.ZipFile(archive) as opened:
        assert not [name for name in opened.namelist() if name.startswith("inputs/")]
    assert manifest["inputs"][corrections.input_key]["embedded"] is False
    target = Workspace(tmp_path / "ws")
    import_project(archive, target)
    record = target.load_run(runs[0].key)
    assert record["input"]["path"] == runs[0].record["input"]["path"]
    assert input_key_for(record) == corrections.input_key


def test_export_is_deterministic_in_members(tmp_path, source):
    workspace, runs, _ = source
    first = export_project(workspace, [runs[0].key], tmp_path / "a.zip")
    second = export_project(workspace, [runs[0].key], tmp_path / "b.zip")
    assert first["entries"] == second["entries"]
    with zipfile.ZipFile(tmp_path / "a.zip") as a, zipfile.ZipFile(tmp_path / "b.zip") as b:
        assert a.namelist() == b.namelist()


# -- unsafe archives ------------------------------------------------------------------------


def _archive_with(tmp_path, base_archive, extra: list[tuple[zipfile.ZipInfo | str, bytes]], name="evil.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(base_archive) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for member, data in extra:
            target.writestr(member, data)
    return path


@pytest.mark.parametrize(
    "member",
    ["../x", "/abs/path.json", "runs/../../x.json", "cache\\faces\\x", "C:/windows.json", "evil.sh", "runs/./k.json"],
)
def test_import_rejects_unsafe_member(tmp_path, embedded, member):
    archive = _archive_with(tmp_path, embedded[0], [(zipfile.ZipInfo(member), b"{}")])
    target = Workspace(tmp_path / "ws")
    with pytest.raises(ProjectError, match=repr(member).replace("\\", "\\\\")):
        import_project(archive, target)
    assert target.list_runs() == []
    assert not (tmp_path / "x").exists()


def test_import_rejects_symlink_member(tmp_path, embedded):
    link = zipfile.ZipInfo("runs/link.json")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _archive_with(tmp_path, embedded[0], [(link, b"/etc/passwd")])
    with pytest.raises(ProjectError, match="runs/link.json.*symbolic link"):
        import_project(archive, Workspace(tmp_path / "ws"))


def test_import_rejects_oversized_archive(tmp_path, embedded):
    archive = _archive_with(tmp_path, embedded[0], [("runs/big.json", b"0" * 100_000)])
    size = sum(info.file_size for info in zipfile.ZipFile(archive).infolist())
    with pytest.raises(ProjectError, match="exceeds the limit"):
        import_project(archive, Workspace(tmp_path / "ws"), max_total_bytes=size - 1)
    assert MAX_TOTAL_BYTES == 2 * 1024**3


def test_import_rejects_pickled_array(tmp_path, embedded):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    key = "ab" + "0" * 62
    meta = json.dumps({"stage": "features", "key": key}).encode()
    archive = _archive_with(
        tmp_path,
        embedded[0],
        [(f"cache/features/ab/{key}/features.npy", buffer.getvalue()), (f"cache/features/ab/{key}/meta.json", meta)],
    )
    target = Workspace(tmp_path / "ws")
    with pytest.raises(ProjectError, match="features.npy.*not a plain .npy"):
        import_project(archive, target)
    assert not target.has("features", key)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_import_rejects_duplicate_member(tmp_path, embedded):
    archive = _archive_with(tmp_path, embedded[0], [("manifest.json", b"{}")])
    with pytest.raises(ProjectError, match="appears twice"):
        import_project(archive, Workspace(tmp_path / "ws"))


def test_import_rejects_missing_manifest(tmp_path):
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("runs/a.json", "{}")
    with pytest.raises(ProjectError, match="manifest.json missing"):
        import_project(path, Workspace(tmp_path / "ws"))


def test_import_rejects_newer_format(tmp_path, embedded):
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(embedded[0]) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["format_version"] = 99
                data = json.dumps(manifest).encode()
            target.writestr(info, data)
    with pytest.raises(ProjectError, match="format_version 99"):
        import_project(path, Workspace(tmp_path / "ws"))


def test_import_rejects_non_zip(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="not a readable ZIP"):
        import_project(path, Workspace(tmp_path / "ws"))


def test_import_rejects_missing_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zip"):
        import_project(tmp_path / "nothing.zip", Workspace(tmp_path / "ws"))


@pytest.mark.parametrize("limit", [0, -5, 1.5, True])
def test_import_rejects_bad_size_limit(tmp_path, embedded, limit):
    with pytest.raises(ProjectError, match="max_total_bytes"):
        import_project(embedded[0], Workspace(tmp_path / "ws"), max_total_bytes=limit)


def test_import_rejects_bad_member_limit(tmp_path, embedded):
    with pytest.raises(ProjectError, match="max_members"):
        import_project(embedded[0], Workspace(tmp_path / "ws"), max_members=0)


def test_export_rejects_empty_run_list(tmp_path, source):
    with pytest.raises(ProjectError, match="run_keys"):
        export_project(source[0], [], tmp_path / "p.zip")


def test_export_rejects_unknown_run(tmp_path, source):
    with pytest.raises(KeyError, match="nosuchrun"):
        export_project(source[0], ["nosuchrun"], tmp_path / "p.zip")


def test_export_rejects_non_bool_embed(tmp_path, source):
    with pytest.raises(ProjectError, match="embed_inputs"):
        export_project(source[0], [source[1][0].key], tmp_path / "p.zip", embed_inputs="yes")


def test_export_leaves_no_partial_archive(tmp_path, source):
    with pytest.raises(KeyError):
        export_project(source[0], [source[1][0].key, "nosuchrun"], tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_imported_table_columns_unchanged(embedded, source):
    _, _, target, _ = embedded
    _, runs, _ = source
    table = load_run_faces(target, runs[0].key)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(load_run_faces(source[0], runs[0].key).columns)
