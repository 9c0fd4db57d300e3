"""Workspace cache: keys, atomic entries, runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from comicfaces.cache import Workspace, atomic_write_json, load_array, make_key, save_array


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


def test_key_depends_on_params_and_inputs():
    base = make_key("faces", "page-a", {"min_size": 14})
    assert base == make_key("faces", "page-a", {"min_size": 14})
    assert base != make_key("faces", "page-a", {"min_size": 15})
    assert base != make_key("faces", "page-b", {"min_size": 14})
    assert base != make_key("panels", "page-a", {"min_size": 14})


def test_key_ignores_dict_order():
    assert make_key("s", "x", {"a": 1, "b": 2}) == make_key("s", "x", {"b": 2, "a": 1})


def test_entry_round_trip(workspace):
    key = make_key("features", "set", {})
    assert not workspace.has("features", key)
    with workspace.writing("features", key, {"note": "x"}) as folder:
        save_array(folder, "features", np.arange(6.0).reshape(2, 3))
    assert workspace.has("features", key)
    assert workspace.read_meta("features", key)["note"] == "x"
    assert load_array(workspace.entry_dir("features", key), "features").shape == (2, 3)


def test_interrupted_write_leaves_no_entry(workspace):
    key = make_key("features", "set", {})
    with pytest.raises(RuntimeError):
        with workspace.writing("features", key) as folder:
            save_array(folder, "features", np.zeros(3))
            raise RuntimeError("killed mid-write")
    assert not workspace.has("features", key)
    assert list(workspace.entry_dir("features", key).parent.iterdir()) == []


def test_folder_without_meta_is_not_an_entry(workspace):
    key = make_key("features", "set", {})
    folder = workspace.entry_dir("features", key)
    folder.mkdir(parents=True)
    save_array(folder, "features", np.zeros(3))
    assert not workspace.has("features", key)


def test_object_arrays_rejected(workspace, tmp_path):
    with pytest.raises(TypeError, match="pickle"):
        save_array(tmp_path, "bad", np.array([{"a": 1}], dtype=object))


def test_list_and_delete_entries(workspace):
    for index in range(3):
        with workspace.writing("clustering", make_key("clustering", index, {})):
            pass
    assert len(workspace.list_entries("clustering")) == 3
    key = make_key("clustering", 0, {})
    assert workspace.delete_entry("clustering", key)
    assert not workspace.delete_entry("clustering", key)
    assert len(workspace.list_entries()) == 2


def test_clean_temporary_folders(workspace):
    leftover = workspace.root / "cache" / "faces" / "ab" / ".tmp-abc"
    leftover.mkdir(parents=True)
    assert workspace.clean_temporary() == 1
    assert not leftover.exists()


def test_runs_saved_listed_deleted(workspace):
    workspace.save_run({"key": "run1", "created": 1.0})
    workspace.save_run({"key": "run2", "created": 2.0})
    assert [r["key"] for r in workspace.list_runs()] == ["run2", "run1"]
    assert workspace.load_run("run1")["created"] == 1.0
    assert workspace.delete_run("run1")
    with pytest.raises(KeyError, match="run1"):
        workspace.load_run("run1")


@pytest.mark.parametrize("key", ["../escape", "a/b", ".hidden", ""])
def test_run_key_rejected(workspace, key):
    with pytest.raises(ValueError, match="invalid run key"):
        workspace.run_path(key)


def test_atomic_json_replaces_whole_file(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": np.int64(2)})
    assert json.loads(path.read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
