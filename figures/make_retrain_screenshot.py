"""Write a screenshot of the Review page's section that retrains the detector on the corrections.

Starts the dashboard on a free port with a temporary workspace and opens the
Review page on the demo comic in headless Chromium (/usr/bin/chromium). It
saves the current results as a stored run, opens the section "Improve the
detector with my corrections", retrains from the ImageNet backbone with
256 px crops and saves the section with its benchmark table and loss curve::

    python figures/make_retrain_screenshot.py [--pages 2] [--epochs 40] [--image-size 256] [--out figures/review_retrain.png]

The 2-page demo trains on one page, one optimiser step per epoch. With the
defaults on 2 shared CPU cores the retraining took 12 to 13 s and the whole
script about 35 s. After 3 epochs the retrained detector found no box on the
held-out page, so the default is 40 epochs, after which it found 4 of the 9
faces there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(REPO_ROOT))

from browser.streamlit_server import chromium_browser, exception_texts, open_page, streamlit_server  # noqa: E402
from make_review_screenshots import VIEWPORT  # noqa: E402
from test_browser_review import server_env, wait_idle  # noqa: E402

from comicfaces.dashboard.review_detector import SECTION_TITLE  # noqa: E402

#: Time allowed for the retraining and its benchmark, in milliseconds.
RETRAIN_TIMEOUT_MS = 900_000


def expand(page, section) -> None:
    """Open the expander ``section`` unless it is open."""
    if not section.evaluate("element => element.querySelector('details').open"):
        section.locator("summary").click()
        page.wait_for_timeout(300)


def set_number(page, section, label: str, value: int) -> None:
    """Type ``value`` into the number input labelled ``label`` inside ``section`` and submit it."""
    expand(page, section)
    field = section.get_by_label(label, exact=True).first
    field.fill(str(value))
    field.press("Enter")
    wait_idle(page)


def choose_option(page, section, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label`` inside ``section``."""
    expand(page, section)
    section.locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
    # The option list is virtualised, so typing filters it down to the option.
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def retrain(page, epochs: int, image_size: int):
    """Open the section, set the training settings, retrain and return the section's locator."""
    section = page.locator('[data-testid="stExpander"]').filter(has_text=SECTION_TITLE).first
    set_number(page, section, "Epochs", epochs)
    choose_option(page, section, "Training crop size (px)", str(image_size))

    expand(page, section)
    section.get_by_role("button", name="Retrain the detector").click()
    wait_idle(page, timeout_ms=RETRAIN_TIMEOUT_MS)
    failed = [text for text in section.locator('[data-testid="stAlert"]').all_inner_texts() if "failed" in text]
    if failed or exception_texts(page):
        raise RuntimeError(f"the retraining failed: {failed + exception_texts(page)}")
    expand(page, section)
    statement = section.get_by_text("epoch(s) on").first.inner_text()
    if f"for {epochs} epoch(s)" not in statement:
        raise RuntimeError(f"the retraining did not use {epochs} epochs: {statement}")
    section.locator('[data-testid="stDataFrame"]').first.wait_for()
    section.locator(".js-plotly-plot").first.wait_for()
    # The pointer still rests on the button, whose tooltip would cover the statement above it.
    page.mouse.move(0, 0)
    # The table and the chart are painted on the next animation frames.
    page.wait_for_timeout(1000)
    return section


def main() -> None:
    """Take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="pages of the demo comic (default 2)")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    parser.add_argument("--image-size", type=int, default=256, help="side of the training crops in pixels, a multiple of 32 from 64 to 1024 (default 256)")
    parser.add_argument("--out", default=str(REPO_ROOT / "figures" / "review_retrain.png"), help="PNG to write")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="comicfaces-retrain-") as workspace:
        env = {**server_env(Path(workspace)), "COMICFACES_DEMO_PAGES": str(args.pages)}
        with streamlit_server(env) as url, chromium_browser() as browser:
            # Wider than the other Review screenshots, so the section itself is about 1250 px wide.
            page = browser.new_page(viewport={**VIEWPORT, "width": 1700})
            open_page(page, f"{url}/Review", timeout_ms=600_000)
            page.get_by_role("button", name="Save as a stored run").click()
            wait_idle(page)

            section = retrain(page, args.epochs, args.image_size)
            section.screenshot(path=args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
