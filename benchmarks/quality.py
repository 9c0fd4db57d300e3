"""Clustering quality: the Dilbert study's best configuration against this project's.

The study's best configuration is an RGB colour histogram with k-means given the
true number of characters. This project's configuration does not know k. Both
run side by side on two labelled face sets:

- ``comicgen``: 695 cartoon face crops of 11 characters;
- ``peppercarrot``: the real faces cut from the annotated boxes of the
  Pepper&Carrot pages, without faces marked ignore and without one-off
  ``extra`` characters.

Run from the repository root (the data folder ``../shared/data`` must exist)::

    python benchmarks/quality.py [--workspace DIR]

It prints one table per face set: both rows and their difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from comicfaces.cache import Workspace  # noqa: E402
from comicfaces.config import PipelineConfig  # noqa: E402
from comicfaces.facesets import face_set_from_annotations, face_set_from_folder  # noqa: E402
from comicfaces.pipeline import cluster_face_set  # noqa: E402

DATA = REPO.parent / "shared" / "data"
METRICS = [
    "pairwise_precision_excl_noise",
    "pairwise_recall_excl_noise",
    "pairwise_f1_excl_noise",
    "pairwise_f1_singletons",
    "bcubed_f1_excl_noise",
    "bcubed_f1_singletons",
    "nmi_excl_noise",
    "ari_excl_noise",
    "coverage",
    "n_clusters",
]

#: This project's configuration with k unknown, chosen by the sweeps in
#: benchmarks/sweeps/ (see docs/results.md).
PROJECT_CONFIG = {
    "features": {"name": "efficientnet", "params": {}},
    "reduction": {"name": "none"},
    "clustering": {
        "name": "agglomerative",
        "params": {"n_clusters": "auto", "linkage": "average", "metric": "cosine", "cannot_link": True},
    },
}


def study_config(n_identities: int) -> PipelineConfig:
    """Return the study's best configuration: RGB histogram, k-means with the true k."""
    return PipelineConfig.from_dict(
        {
            "features": {"name": "color_hist", "params": {"color_space": "rgb"}},
            "reduction": {"name": "none"},
            "clustering": {"name": "kmeans", "params": {"n_clusters": n_identities}},
        }
    )


def load_face_sets(workspace: Workspace) -> dict:
    """Return the labelled face sets that exist under the data folder."""
    sets = {}
    comicgen = DATA / "comicgen_faces"
    if comicgen.is_dir():
        sets["comicgen"] = face_set_from_folder(comicgen / "faces", comicgen / "labels.csv")
    annotations = DATA / "peppercarrot" / "annotations" / "faces_ep01-06.json"
    if annotations.is_file():
        from comicfaces.panels import PanelConfig

        sets["peppercarrot"] = face_set_from_annotations(workspace, annotations, panel_config=PanelConfig())
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="cache folder (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"data folder not found: {DATA}; this benchmark needs the labelled face sets there", file=sys.stderr)
        return 2

    workspace = Workspace(args.workspace or tempfile.mkdtemp(prefix="comicfaces-quality-"))
    project = PipelineConfig.from_dict(PROJECT_CONFIG)
    for name, faces in load_face_sets(workspace).items():
        n_identities = faces.table["identity"].nunique()
        rows = {}
        for label, config in [(f"study (colour histogram, k-means, k={n_identities})", study_config(n_identities)), ("comicfaces (k unknown)", project)]:
            started = time.perf_counter()
            metrics = cluster_face_set(workspace, faces, config).metrics
            metrics["seconds"] = time.perf_counter() - started
            rows[label] = metrics

        print(f"\n{name}: {len(faces)} faces, {n_identities} identities")
        labels = list(rows)
        print(f"{'metric':32s}" + "".join(f"{label[:38]:>40s}" for label in labels) + f"{'difference':>12s}")
        for metric in METRICS + ["seconds"]:
            values = [rows[label].get(metric) for label in labels]
            cells = "".join(f"{'--' if v is None else format(v, '.3f'):>40s}" for v in values)
            difference = "" if None in values else f"{values[1] - values[0]:+12.3f}"
            print(f"{metric:32s}{cells}{difference}")
    print(f"\nproject configuration: {PROJECT_CONFIG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
