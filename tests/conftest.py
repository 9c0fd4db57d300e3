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
