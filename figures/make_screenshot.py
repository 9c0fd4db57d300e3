"""Write ``figures/screenshot_clusters.png``: the Clustering page on the demo comic.

Starts the dashboard on a free port with a temporary workspace, opens the
Clustering page in headless Chromium (/usr/bin/chromium) and saves a
screenshot for the README::

    python figures/make_screenshot.py [--pages 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from browser.streamlit_server import chromium_browser, open_page, streamlit_server  # noqa: E402


def main() -> None:
    """Take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4, help="pages of the demo comic (default 4)")
    parser.add_argument("--out", default=str(REPO_ROOT / "figures" / "screenshot_clusters.png"), help="PNG to write")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="comicfaces-screenshot-") as workspace:
        env = {"COMICFACES_WORKSPACE": workspace, "COMICFACES_DEMO_PAGES": str(args.pages)}
        models = REPO_ROOT.parent / "shared" / "models"
        if models.is_dir():
            env["COMICFACES_MODELS"] = str(models)
        with streamlit_server(env) as url, chromium_browser() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            open_page(page, f"{url}/Clustering", timeout_ms=600_000)
            page.screenshot(path=args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
