"""Shared fixtures: paths to the real comic data kept beside the repository."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
SHARED_MODELS = SHARED / "models"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real pages and labels; tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real comic data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """Folder of detector model files (YuNet ONNX, anime LBP cascade)."""
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"model files not found at {SHARED_MODELS}")
    return SHARED_MODELS


@pytest.fixture
def rng() -> np.random.Generator:
    """Random generator with a fixed seed."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """Two demo pages and a workspace shared by the corrections, exports and project tests.

    The page stages run once per session and later modules read the cache.
    """
    from comicfaces.cache import Workspace
    from comicfaces.demo import generate_demo

    base = tmp_path_factory.getbasetemp() / "corrections_demo"
    comic = generate_demo(base / "pages", n_pages=2, seed=0)
    return comic, Workspace(base / "workspace")

