"""Workspaces for the page tests, seeded with the dashboard tests' cache."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def seeded_dashboard_workspace(tmp_path_factory, name: str) -> Iterator[Path]:
    """Yield a new workspace for page tests, with the dashboard's environment set.

    The cache and demo pages of the dashboard tests are copied in when those
    tests ran first, so the demo's page stages run at most once per session.
    Use it as ``yield from`` in a module-scoped fixture.
    """
    root = tmp_path_factory.mktemp(name)
    seed = tmp_path_factory.getbasetemp() / "dashboard-workspace"
    for folder in ("cache", "demo"):
        if (seed / folder).is_dir():
            shutil.copytree(seed / folder, root / folder, dirs_exist_ok=True)
    patch = pytest.MonkeyPatch()
    patch.setenv("COMICFACES_WORKSPACE", str(root))
    patch.setenv("COMICFACES_DEMO_PAGES", "2")
    if SHARED_MODELS.is_dir():
        patch.setenv("COMICFACES_MODELS", str(SHARED_MODELS))
    yield root
    patch.undo()
