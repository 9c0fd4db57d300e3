"""Write screenshots of the Review page: galleries, a face in its page, and the map with a box selection.

Starts the dashboard on a free port with a temporary workspace and opens the
Review page on the demo comic in headless Chromium (/usr/bin/chromium). It
then clusters with k-means, names the largest cluster, opens a face in its
page and selects faces with a box drag on the map::

    python figures/make_review_screenshots.py [--pages 2] [--out-dir figures]

It writes ``review_gallery.png``, ``review_context.png`` and ``review_scatter.png``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from browser.streamlit_server import chromium_browser, open_page, streamlit_server  # noqa: E402
from test_browser_review import box_select, choose_kmeans, map_points, name_first_cluster, pick_pair, server_env, wait_idle  # noqa: E402

#: Tall enough that the whole page fits without scrolling, so element boxes are page coordinates.
VIEWPORT = {"width": 1500, "height": 6500}


def heading_top(page, text: str) -> float:
    """Return the top, in page pixels, of the section heading ``text``."""
    box = page.get_by_role("heading", name=text, exact=True).first.bounding_box()
    if box is None:
        raise RuntimeError(f"heading {text!r} is not on the page")
    return box["y"]


def section(page, path: Path, start: str, end: str) -> None:
    """Save the part of the main column between two section headings."""
    main = page.locator('[data-testid="stMainBlockContainer"]').first.bounding_box()
    top, bottom = heading_top(page, start) - 10, heading_top(page, end) - 10
    page.screenshot(path=str(path), clip={"x": main["x"], "y": top, "width": main["width"], "height": bottom - top})


def main() -> None:
    """Take the three screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="pages of the demo comic (default 2)")
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "figures"), help="folder for the PNG files")
    args = parser.parse_args()
    out = Path(args.out_dir)

    with tempfile.TemporaryDirectory(prefix="comicfaces-review-") as workspace:
        env = {**server_env(Path(workspace)), "COMICFACES_DEMO_PAGES": str(args.pages)}
        with streamlit_server(env) as url, chromium_browser() as browser:
            page = browser.new_page(viewport=VIEWPORT)
            open_page(page, f"{url}/Review", timeout_ms=600_000)
            choose_kmeans(page)
            name_first_cluster(page, "Ada")
            section(page, out / "review_gallery.png", "Galleries", "Inspect a gallery")

            page.get_by_role("button", name="Show in page").nth(1).click()
            wait_idle(page)
            section(page, out / "review_context.png", "Face in its page", "Charts")

            first, second = pick_pair(map_points(page))
            box_select(page, {**first, "x": first["x"] - 60, "y": first["y"] - 60}, {**second, "x": second["x"] + 60, "y": second["y"] + 60})
            map_block = page.locator('[data-testid="stHorizontalBlock"]').filter(has=page.locator(".js-plotly-plot")).first
            map_block.screenshot(path=str(out / "review_scatter.png"))
    for name in ("review_gallery.png", "review_context.png", "review_scatter.png"):
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
