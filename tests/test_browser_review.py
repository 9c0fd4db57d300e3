"""The Review page in a real ``streamlit run`` server driven by headless Chromium.

One scenario on the 2-page demo. It clusters with k-means from the sidebar
and selects two faces of two clusters with a box drag on the map, in the
box-select mode of the plotly modebar. It then merges their clusters, names
the largest cluster and downloads the labels CSV, whose rows must be the
named faces. Last, it stores the run and opens the page's link in a new tab,
which must show the same galleries.

Skipped where the system Chromium (/usr/bin/chromium, Debian package
``chromium``) is missing; no browser is ever downloaded. The helpers are
also used by ``figures/make_review_screenshots.py``.
"""

from __future__ import annotations

import shutil
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

# The helpers live in tests/browser/; make them importable under any pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser.streamlit_server import CHROMIUM, chromium_browser, exception_texts, open_page, streamlit_server  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]'
#: Pixels added around the two chosen points to form the drag box.
BOX_PAD = 7

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} not found; install the Debian package 'chromium' to run the browser tests",
)


# -- helpers shared with figures/make_review_screenshots.py ----------------------------------


def server_env(workspace: Path) -> dict[str, str]:
    """Return the environment of a dashboard server on the 2-page demo in ``workspace``."""
    env = {"COMICFACES_WORKSPACE": str(workspace), "COMICFACES_DEMO_PAGES": "2"}
    models = REPO_ROOT.parent / "shared" / "models"
    if models.is_dir():
        env["COMICFACES_MODELS"] = str(models)
    return env


def wait_idle(page, timeout_ms: float = 240_000) -> None:
    """Wait until the script run started by the last interaction has finished and is painted."""
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_timeout(400)


def choose_kmeans(page) -> None:
    """Pick k-means, with its default number of clusters, as the clustering method in the sidebar."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Clustering method").click()
    page.get_by_role("option", name="kmeans", exact=True).click()
    wait_idle(page)


def map_points(page) -> list[dict]:
    """Return every point of the Review map: page coordinates, trace index and face id."""
    return page.evaluate(
        """() => {
            const gd = document.querySelector('.js-plotly-plot');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const rect = gd.getBoundingClientRect();
            const points = [];
            gd.calcdata.forEach((trace, t) => trace.forEach((point, i) => points.push({
                x: rect.left + xa._offset + xa.c2p(point.x),
                y: rect.top + ya._offset + ya.c2p(point.y),
                trace: t,
                face: gd._fullData[t].customdata[i],
            })));
            return points;
        }"""
    )


def pick_pair(points: list[dict]) -> tuple[dict, dict]:
    """Return two points of different clusters whose padded bounding box contains the fewest other points."""

    def inside(point, box):
        return box[0] <= point["x"] <= box[2] and box[1] <= point["y"] <= box[3]

    best = None
    for a, b in combinations(points, 2):
        if a["trace"] == b["trace"]:
            continue
        box = (min(a["x"], b["x"]) - BOX_PAD, min(a["y"], b["y"]) - BOX_PAD, max(a["x"], b["x"]) + BOX_PAD, max(a["y"], b["y"]) + BOX_PAD)
        others = sum(inside(p, box) for p in points) - 2
        area = (box[2] - box[0]) * (box[3] - box[1])
        if best is None or (others, area) < best[0]:
            best = ((others, area), a, b, box)
    assert best is not None, "the map has points of one cluster only"
    return best[1], best[2]


def box_select(page, first: dict, second: dict) -> list[str]:
    """Choose box select in the modebar and drag a box around two points; return the faces inside it."""
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    page.locator('.modebar-btn[data-title="Box Select"]').first.click()
    x0, y0 = min(first["x"], second["x"]) - BOX_PAD, min(first["y"], second["y"]) - BOX_PAD
    x1, y1 = max(first["x"], second["x"]) + BOX_PAD, max(first["y"], second["y"]) + BOX_PAD
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=12)
    page.mouse.up()
    wait_idle(page)
    return [p["face"] for p in map_points(page) if x0 <= p["x"] <= x1 and y0 <= p["y"] <= y1]


def click_tab(page, name: str) -> None:
    """Open a tab of the correction panel."""
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(300)


def metric_value(page, label: str) -> str:
    """Return the value of the metric card labelled ``label``."""
    card = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def name_first_cluster(page, name: str) -> None:
    """Type a name for the cluster preselected in the Name tab and apply it."""
    click_tab(page, "Name")
    field = page.get_by_label("Character name", exact=True).first
    field.fill(name)
    field.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Name the cluster").click()
    wait_idle(page)


# -- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_url(tmp_path_factory):
    """Base URL of a dashboard server with a workspace of its own, seeded with the dashboard tests' cache."""
    pytest.importorskip("playwright.sync_api")
    workspace = tmp_path_factory.mktemp("browser-review")
    seed = tmp_path_factory.getbasetemp() / "dashboard-workspace"
    for folder in ("cache", "demo"):
        if (seed / folder).is_dir():
            shutil.copytree(seed / folder, workspace / folder, dirs_exist_ok=True)
    with streamlit_server(server_env(workspace)) as url:
        yield url


def test_box_select_merge_name_export_link(review_url, tmp_path):
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1800}, accept_downloads=True)
        open_page(page, f"{review_url}/Review")
        choose_kmeans(page)
        assert exception_texts(page) == []
        clusters_before = int(metric_value(page, "Clusters"))
        assert clusters_before >= 2

        first, second = pick_pair(map_points(page))
        inside = box_select(page, first, second)
        assert {first["face"], second["face"]} <= set(inside)
        page.get_by_text(f"{len(inside)} face(s) selected", exact=True).wait_for()
        clusters_selected = len({p["trace"] for p in map_points(page) if p["face"] in inside})

        click_tab(page, "Merge")
        page.get_by_role("button", name=f"Use the {clusters_selected} cluster(s) of the selection").click()
        wait_idle(page)
        page.get_by_role("button", name="Merge", exact=True).click()
        wait_idle(page)
        page.get_by_text("Merged clusters").first.wait_for()
        assert int(metric_value(page, "Clusters")) == clusters_before - clusters_selected + 1

        page.get_by_role("button", name="Clear the selection").first.click()
        wait_idle(page)
        name_first_cluster(page, "Ada")
        page.get_by_text("'Ada'").first.wait_for()
        heading = page.locator("p").filter(has_text="Ada (cluster").first.inner_text()
        size = int(heading.split(": ")[1].split(" face")[0])

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Labels CSV (your names as ground truth)").click()
        target = tmp_path / "labels.csv"
        download_info.value.save_as(target)
        assert exception_texts(page) == []

        page.get_by_role("button", name="Save as a stored run").click()
        wait_idle(page)
        assert "run=" in page.url
        link = browser.new_page(viewport={"width": 1500, "height": 1800})
        open_page(link, page.url)
        assert link.locator("p").filter(has_text="Ada (cluster").first.inner_text() == heading
        assert metric_value(link, "Clusters") == metric_value(page, "Clusters")
        assert exception_texts(link) == []

    labels = pd.read_csv(target)
    assert list(labels.columns) == ["image_name", "identity"]
    assert len(labels) == size
    assert set(labels["identity"]) == {"Ada"}
    assert labels["image_name"].str.fullmatch(r"p\d{4}_f\d{3}\.png").all()


def test_retrain_section_stays_open(review_url):
    # A message appearing above the section must not close it while its settings are changed.
    from comicfaces.dashboard.review_detector import SECTION_TITLE

    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1800})
        open_page(page, f"{review_url}/Review")
        page.get_by_role("button", name="Save as a stored run").click()
        wait_idle(page)
        section = page.locator('[data-testid="stExpander"]').filter(has_text=SECTION_TITLE).first
        section.locator("summary").click()
        wait_idle(page)

        epochs = section.get_by_label("Epochs", exact=True).first
        epochs.fill("3")
        epochs.press("Enter")
        wait_idle(page)

        assert section.evaluate("element => element.querySelector('details').open")
        assert exception_texts(page) == []
