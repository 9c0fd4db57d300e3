"""Benchmark of the learned face features (EfficientNet, SimCLR) on labelled cartoon crops.

Usage::

    python benchmarks/learned_features.py [--features efficientnet,simclr] [--data DIR]
        [--out DIR] [--reductions none,pca50,ae32] [--simclr-epochs N] [--simclr-image-size PX] [--device auto]

Data: ``comicgen_faces`` under ``shared/data`` beside the repository folder
(``--data`` selects another folder): 695 crops of 11 characters with identities in
``labels.csv``.

For each feature extractor the crops are embedded once (the embedding is saved
as ``<out>/<name>.npy`` with the timing in ``<name>.json`` and reused on the next
run unless ``--recompute``). Then each reduction (none, PCA to 50 components,
the 32-unit autoencoder with default settings) is followed by k-means with k = 11 (the true number of
characters) and by HDBSCAN with the package defaults. The table reports
pairwise and BCubed F1 from :func:`comicfaces.metrics.evaluate_clustering`, with
HDBSCAN noise faces counted as singleton clusters, plus the number of clusters
and the share of faces left as noise.

Four characters also come in a redrawn "nuovo" style with the same identity, so
a clustering that separates the styles loses pairwise recall.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from comicfaces.autoencoder import AutoencoderReducer  # noqa: E402
from comicfaces.clustering import HDBSCANClusterer, KMeansClusterer  # noqa: E402
from comicfaces.features import make_features  # noqa: E402
from comicfaces.features.cnn import EfficientNetFeatures  # noqa: E402
from comicfaces.features.simclr import SimCLRFeatures  # noqa: E402
from comicfaces.imageio import load_image  # noqa: E402
from comicfaces.metrics import evaluate_clustering  # noqa: E402
from comicfaces.reduction import IdentityReducer, PCAReducer  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "out" / "learned_features"
N_CHARACTERS = 11

#: Feature sets this script can run; "hog" and "color_hist" are hand-made baselines.
FEATURES = ("efficientnet", "efficientnet_stretch", "simclr", "simclr_efficientnet", "hog", "color_hist")


def make_extractor(name: str, args: argparse.Namespace):
    """Return the extractor benchmarked as ``name``, with default settings unless overridden."""
    simclr_params = {"device": args.device}
    if args.simclr_epochs is not None:
        simclr_params["epochs"] = args.simclr_epochs
    if args.simclr_image_size is not None:
        simclr_params["image_size"] = args.simclr_image_size
    if name == "efficientnet":
        return EfficientNetFeatures(device=args.device)
    if name == "efficientnet_stretch":
        return EfficientNetFeatures(resize="stretch", device=args.device)
    if name == "simclr":
        return SimCLRFeatures(**simclr_params)
    if name == "simclr_efficientnet":
        return SimCLRFeatures(init="efficientnet", **simclr_params)
    if name in ("hog", "color_hist"):
        return make_features(name)
    raise ValueError(f"unknown feature set {name!r}; choose from {', '.join(FEATURES)}")


def load_crops(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    """Read every crop listed in ``labels.csv`` and its identity."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    crops = [load_image(folder / "faces" / row["image_name"]) for row in rows]
    return crops, [row["identity"] for row in rows]


def run_label(name: str, args: argparse.Namespace) -> str:
    """Return ``name`` plus the SimCLR overrides, such as ``simclr_e10_s64``, for files and tables."""
    if not name.startswith("simclr"):
        return name
    if args.simclr_epochs is not None:
        name += f"_e{args.simclr_epochs}"
    if args.simclr_image_size is not None:
        name += f"_s{args.simclr_image_size}"
    return name


def embed(name: str, crops, args: argparse.Namespace) -> tuple[np.ndarray, dict]:
    """Return the embedding of ``crops`` and its record, computing it unless saved."""
    label = run_label(name, args)
    array_path = args.out / f"{label}.npy"
    record_path = args.out / f"{label}.json"
    if array_path.is_file() and record_path.is_file() and not args.recompute:
        return np.load(array_path), json.loads(record_path.read_text())

    extractor = make_extractor(name, args)
    start = time.perf_counter()
    features = extractor.fit_transform(crops)
    seconds = time.perf_counter() - start

    record = {"feature": label, "params": extractor.get_params(), "seconds": round(seconds, 1)}
    if hasattr(extractor, "loss_history_"):
        record["loss_history"] = [round(value, 4) for value in extractor.loss_history_]
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(array_path, features)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return features, record


def reducers():
    """Reductions compared before clustering."""
    return {
        "none": IdentityReducer(),
        "pca50": PCAReducer(n_components=50),
        "ae32": AutoencoderReducer(n_components=32),
    }


def clusterers():
    """Clusterings compared on every reduction."""
    return {
        "kmeans11": KMeansClusterer(n_clusters=N_CHARACTERS),
        "hdbscan": HDBSCANClusterer(),
    }


def score_rows(name: str, features: np.ndarray, identities: list[str], reductions: list[str]) -> list[dict]:
    """Cluster ``features`` after each named reduction with every clusterer and score the result."""
    rows = []
    for reduction_name in reductions:
        reducer = reducers()[reduction_name]
        start = time.perf_counter()
        reduced = reducer.fit_transform(features)
        reduce_seconds = time.perf_counter() - start
        for cluster_name, clusterer in clusterers().items():
            labels = clusterer.fit_predict(reduced)
            scores = evaluate_clustering(identities, labels)
            rows.append(
                {
                    "feature": name,
                    "reduction": reduction_name,
                    "clustering": cluster_name,
                    "pairwise_f1": scores["pairwise_f1_singletons"],
                    "bcubed_f1": scores["bcubed_f1_singletons"],
                    "n_clusters": scores["n_clusters"],
                    "noise": scores["n_noise"] / scores["n_faces"],
                    "reduce_s": reduce_seconds,
                }
            )
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", default="efficientnet,simclr", help=f"comma-separated subset of {', '.join(FEATURES)}")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding comicgen_faces/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for saved embeddings and results")
    parser.add_argument("--simclr-epochs", type=int, default=None, help="override SimCLR's default epochs")
    parser.add_argument("--simclr-image-size", type=int, default=None, help="override SimCLR's default image_size (px)")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--reductions", default="none,pca50,ae32", help="comma-separated subset of none, pca50, ae32")
    parser.add_argument("--recompute", action="store_true", help="ignore saved embeddings")
    args = parser.parse_args(argv)
    args.reductions = [name.strip() for name in args.reductions.split(",") if name.strip()]
    unknown_reductions = sorted(set(args.reductions) - set(reducers()))
    if unknown_reductions:
        parser.error(f"unknown reduction(s) {', '.join(unknown_reductions)}; choose from {', '.join(reducers())}")
    args.features = [name.strip() for name in args.features.split(",") if name.strip()]
    unknown = sorted(set(args.features) - set(FEATURES))
    if unknown:
        parser.error(f"unknown feature set(s) {', '.join(unknown)}; choose from {', '.join(FEATURES)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = args.data / "comicgen_faces"
    if not (folder / "labels.csv").is_file():
        print(f"error: {folder / 'labels.csv'} not found; pass --data", file=sys.stderr)
        return 2

    crops, identities = load_crops(folder)
    print(f"{len(crops)} crops, {len(set(identities))} characters")

    rows = []
    for name in args.features:
        features, record = embed(name, crops, args)
        extra = f", loss per epoch {record['loss_history']}" if "loss_history" in record else ""
        print(f"{run_label(name, args)}: {features.shape[1]}-d, embedding took {record['seconds']} s{extra}")
        rows += score_rows(run_label(name, args), features, identities, args.reductions)

    print()
    print(f"{'feature':<22}{'reduction':<10}{'clustering':<10}{'pairF1':>7}{'B3F1':>7}{'k':>4}{'noise':>7}")
    for row in rows:
        print(
            f"{row['feature']:<22}{row['reduction']:<10}{row['clustering']:<10}"
            f"{row['pairwise_f1']:>7.3f}{row['bcubed_f1']:>7.3f}{row['n_clusters']:>4}{row['noise']:>7.1%}"
        )

    # Keep the rows of feature sets that this run did not recompute.
    results_path = args.out / "results.json"
    kept = []
    if results_path.is_file():
        run_labels = {run_label(name, args) for name in args.features}
        kept = [row for row in json.loads(results_path.read_text()) if row["feature"] not in run_labels]
    args.out.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(kept + rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
