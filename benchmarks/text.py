"""Measure speech balloon recall of comicfaces.text on the Pepper&Carrot English pages.

Usage::

    python benchmarks/text.py [--data DIR] [--box-thresh 0.5]

``DIR`` is the Pepper&Carrot test data folder (default: ``DEFAULT_DATA``). Every
``epNN/en/*.jpg`` page whose ``*.text.json`` lists at least one balloon is run
through :func:`comicfaces.text.detect_text`. A labelled balloon counts as found
when one predicted balloon box has IoU >= 0.5 with it or the union of the
predicted balloon boxes covers >= 50% of it (:func:`comicfaces.text.balloons_found`).

Prints balloon recall over all balloons, per-episode recall, text-box recall
(the share of labelled text boxes covered >= 50% by predicted text boxes), and
seconds per page for detection plus balloon growing (model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from comicfaces.imageio import load_image  # noqa: E402
from comicfaces.text import TextConfig, balloons_found, detect_text, get_text_engine  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "peppercarrot"


def read_labels(path: Path) -> dict[str, np.ndarray]:
    """Read a ``*.text.json`` file into ``{"balloon": (n, 4), "text": (m, 4)}`` arrays."""
    labels: dict[str, list] = {"balloon": [], "text": []}
    for entry in json.loads(path.read_text()):
        labels.setdefault(entry["kind"], []).append([entry["x0"], entry["y0"], entry["x1"], entry["y1"]])
    return {kind: np.asarray(boxes, dtype=np.int64).reshape(-1, 4) for kind, boxes in labels.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Pepper&Carrot folder (with epNN/en/)")
    parser.add_argument("--box-thresh", type=float, default=TextConfig().box_thresh, help="detector box threshold")
    args = parser.parse_args(argv)

    pages = sorted(args.data.glob("ep*/en/*.jpg"))
    pages = [page for page in pages if len(read_labels(page.with_suffix(".text.json"))["balloon"])]
    if not pages:
        print(f"no English pages with balloon labels under {args.data}", file=sys.stderr)
        return 1

    config = replace(TextConfig(), box_thresh=args.box_thresh).validate()
    get_text_engine()

    found_total = balloons_total = 0
    text_found = text_total = 0
    per_episode: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seconds = 0.0
    for page in pages:
        image = load_image(page)
        labels = read_labels(page.with_suffix(".text.json"))

        start = time.perf_counter()
        result = detect_text(image, config)
        seconds += time.perf_counter() - start

        found = balloons_found(result.balloon_boxes, labels["balloon"])
        found_total += int(found.sum())
        balloons_total += len(found)
        episode = page.parts[-3]
        per_episode[episode][0] += int(found.sum())
        per_episode[episode][1] += len(found)

        # Text recall uses the cover rule only: text boxes are lines, labels are whole text objects.
        text_hits = balloons_found(result.text_boxes, labels["text"], iou_threshold=float("inf"))
        text_found += int(text_hits.sum())
        text_total += len(text_hits)

    print(f"pages: {len(pages)} English pages with balloons, box_thresh={config.box_thresh}")
    print(f"balloon recall: {found_total}/{balloons_total} = {found_total / balloons_total:.3f}")
    for episode, (hits, total) in sorted(per_episode.items()):
        print(f"  {episode}: {hits}/{total} = {hits / total:.3f}")
    print(f"text box recall (>= 50% covered): {text_found}/{text_total} = {text_found / max(text_total, 1):.3f}")
    print(f"seconds per page (detect_text, model loaded): {seconds / len(pages):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
