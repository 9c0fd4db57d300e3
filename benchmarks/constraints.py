"""Benchmark of the panel cannot-link constraint on labelled Pepper&Carrot faces.

Usage::

    python benchmarks/constraints.py [--features hog,color_hist] [--groups panel|page] [--json FILE]

Faces: the regular (not ``ignore``) boxes of the 35 annotated story pages of
Pepper&Carrot episodes 01-06, read from ``shared/data`` beside the repository
folder (``--data`` selects another folder). Each face is cropped from its page,
and every ``extra`` face counts as a character of its own.

Groups: ``--groups panel`` (default) finds the panels of each page with
:func:`comicfaces.panels.extract_panels` and gives each face the panel that
covers most of its box, so the group is ``page + panel``. A face that no panel
covers gets no group. ``--groups page`` uses the page alone, a much stronger
and often wrong constraint, because a character appears in several panels of
a page.

For each feature, the script clusters with and without the constraint and
prints pairwise and BCubed F1 from :func:`comicfaces.metrics.evaluate_clustering`,
with noise counted as singletons (``_singletons`` keys). It also counts the
same-group pairs that share a cluster, and, from the labels, how many
same-group pairs really are one character: the cases where the constraint is
wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from comicfaces.annotations import load_face_annotations  # noqa: E402
from comicfaces.boxes import coverage  # noqa: E402
from comicfaces.clustering import make_clusterer  # noqa: E402
from comicfaces.constraints import encode_groups, same_group_pairs  # noqa: E402
from comicfaces.features import make_features  # noqa: E402
from comicfaces.imageio import load_image  # noqa: E402
from comicfaces.metrics import evaluate_clustering  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
ANNOTATIONS = Path("peppercarrot") / "annotations" / "faces_ep01-06.json"

#: (row label, clusterer name, parameters). Each pair of rows differs only in
#: the constraint.
METHODS = [
    ("agglomerative auto", "agglomerative", {}),
    ("agglomerative auto + cannot-link", "agglomerative", {"cannot_link": True}),
    ("agglomerative auto + split", "cannot_link", {"base": "agglomerative"}),
    ("agglomerative k=30", "agglomerative", {"n_clusters": 30}),
    ("agglomerative k=30 + cannot-link", "agglomerative", {"n_clusters": 30, "cannot_link": True}),
    ("hdbscan", "hdbscan", {}),
    ("hdbscan + split", "cannot_link", {"base": "hdbscan", "unplaced": "split"}),
    ("hdbscan + split (singleton)", "cannot_link", {"base": "hdbscan", "unplaced": "singleton"}),
    ("hdbscan + split (noise)", "cannot_link", {"base": "hdbscan", "unplaced": "noise"}),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default: %(default)s)")
    parser.add_argument("--features", default="hog,color_hist", help="comma-separated feature names (default: %(default)s)")
    parser.add_argument("--groups", choices=("panel", "page"), default="panel", help="what a group is (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON to this file")
    return parser.parse_args(argv)


def load_faces(data: Path, groups_by: str) -> tuple[list[np.ndarray], list[str], list[str | None]]:
    """Return the crops, identities and groups of all regular faces."""
    pages = load_face_annotations(data / ANNOTATIONS)
    crops: list[np.ndarray] = []
    identities: list[str] = []
    groups: list[str | None] = []
    for name, truth in pages.items():
        regular = ~truth.ignore
        if not regular.any():
            continue
        image = load_image(truth.path)
        boxes = truth.boxes[regular]
        labels = [label for label, keep in zip(truth.cluster_labels(), regular) if keep]

        if groups_by == "panel":
            from comicfaces.panels import extract_panels

            panels = extract_panels(image)
            share = coverage(boxes, panels)
            best = share.argmax(axis=1)
            face_groups = [f"{name}#{panel}" if share[i, panel] > 0 else None for i, panel in enumerate(best)]
        else:
            face_groups = [name] * len(boxes)

        for box, label, group in zip(boxes.astype(int), labels, face_groups):
            crops.append(image[box[1] : box[3], box[0] : box[2]])
            identities.append(label)
            groups.append(group)
    return crops, identities, groups


def group_statistics(identities: list[str], groups: list[str | None]) -> dict:
    """Count same-group pairs and those among them that are one character."""
    codes = encode_groups(groups, len(groups))
    rows, cols = same_group_pairs(codes)
    upper = rows < cols
    same_identity = np.array([identities[i] == identities[j] for i, j in zip(rows[upper], cols[upper])], dtype=bool)
    return {
        "n_faces": len(groups),
        "n_groups": int(np.unique(codes).size),
        "n_faces_without_group": sum(group is None for group in groups),
        "same_group_pairs": int(upper.sum()),
        "same_group_same_identity_pairs": int(same_identity.sum()),
    }


def shared_group_pairs(labels: np.ndarray, groups: list[str | None]) -> int:
    """Count same-group pairs that share a cluster (noise is no cluster)."""
    rows, cols = same_group_pairs(encode_groups(groups, len(groups)))
    upper = rows < cols
    rows, cols = rows[upper], cols[upper]
    return int(np.count_nonzero((labels[rows] == labels[cols]) & (labels[rows] >= 0)))


def run(args: argparse.Namespace) -> list[dict]:
    start = time.perf_counter()
    crops, identities, groups = load_faces(args.data, args.groups)
    stats = group_statistics(identities, groups)
    print(
        f"{stats['n_faces']} faces, {stats['n_groups']} groups ({args.groups}), "
        f"{stats['n_faces_without_group']} faces without a group; {stats['same_group_pairs']} same-group pairs, "
        f"of which {stats['same_group_same_identity_pairs']} are one character "
        f"({time.perf_counter() - start:.1f} s to load)"
    )

    rows = []
    header = f"{'features':<11} {'method':<34} {'pairF1':>6} {'bcF1':>6} {'clusters':>8} {'noise':>5} {'moved':>5} {'shared':>6}"
    print(header)
    print("-" * len(header))
    for feature in args.features.split(","):
        X = make_features(feature).fit_transform(crops)
        for label, name, params in METHODS:
            clusterer = make_clusterer(name, **params)
            labels = np.asarray(clusterer.fit_predict(X, groups=groups))
            scores = evaluate_clustering(identities, labels)
            row = {
                "features": feature,
                "method": label,
                "clusterer": name,
                "params": params,
                "pairwise_f1": scores["pairwise_f1_singletons"],
                "bcubed_f1": scores["bcubed_f1_singletons"],
                "n_clusters": scores["n_clusters"],
                "n_noise": scores["n_noise"],
                "n_moved": getattr(clusterer, "n_moved_", None),
                "shared_group_pairs": shared_group_pairs(labels, groups),
            }
            rows.append(row)
            moved = "" if row["n_moved"] is None else row["n_moved"]
            print(
                f"{feature:<11} {label:<34} {row['pairwise_f1']:6.3f} {row['bcubed_f1']:6.3f} "
                f"{row['n_clusters']:8d} {row['n_noise']:5d} {moved!s:>5} {row['shared_group_pairs']:6d}"
            )
    print(f"total {time.perf_counter() - start:.1f} s")

    if args.json is not None:
        args.json.write_text(json.dumps({"groups": args.groups, "statistics": stats, "rows": rows}, indent=2))
    return rows


def main(argv=None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
