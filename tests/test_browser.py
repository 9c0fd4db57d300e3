"""The dashboard in a real ``streamlit run`` server, opened page by page in headless Chromium.

Skipped where the system Chromium (/usr/bin/chromium, Debian package
``chromium``) is missing; no browser is ever downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helpers live in tests/browser/; make them importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser.streamlit_server import (  # noqa: E402
    CHROMIUM,
    PAGE_PATHS,
    chromium_browser,
    exception_texts,
    open_page,
    streamlit_server,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} not found; install the Debian package 'chromium' to run the browser tests",
)


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    """Base URL of a dashboard server on a 2-page demo, shared by this module's tests."""
    pytest.importorskip("playwright.sync_api")
    workspace = tmp_path_factory.getbasetemp() / "dashboard-workspace"
    workspace.mkdir(exist_ok=True)
    env = {"COMICFACES_WORKSPACE": str(workspace), "COMICFACES_DEMO_PAGES": "2"}
    models = REPO_ROOT.parent / "shared" / "models"
    if models.is_dir():
        env["COMICFACES_MODELS"] = str(models)
    with streamlit_server(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page():
    """One Chromium tab, reused by the tests of this module."""
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        yield page


@pytest.mark.parametrize("path", PAGE_PATHS, ids=lambda p: p or "home")
def test_page_renders_without_exception(dashboard_url, browser_page, path):
    open_page(browser_page, f"{dashboard_url}/{path}")

    assert exception_texts(browser_page) == []
    title = browser_page.locator("h1").first.inner_text()
    assert (path or "comicfaces") in title


def test_clustering_page_shows_galleries(dashboard_url, browser_page):
    open_page(browser_page, f"{dashboard_url}/Clustering")

    images = browser_page.locator('[data-testid="stImage"] img')
    assert images.count() >= 1
    assert browser_page.get_by_text("cluster", exact=False).count() > 0
