"""Cannot-link constraints from the page layout: one panel rarely shows a character twice.

Two faces detected in the same panel almost always belong to different characters.
A *group* is an id for each face, typically ``page + panel``, and faces of one
group must not share a cluster. Two tools use it:

* :func:`split_cannot_link` repairs any clustering afterwards: inside each
  cluster it keeps one face per group and moves the others.
* :func:`cannot_link_distances` builds a distance matrix in which same-group
  pairs are far apart, so that average- or complete-linkage agglomerative
  clustering never merges clusters that share a group (used by
  ``AgglomerativeClusterer(cannot_link=True)``).

The rule has exceptions, such as a character beside its reflection, a portrait
on the wall or flashback copies in one panel. The constraint then splits a
character. On the 210 labelled Pepper&Carrot faces of episodes 01-06, with
panels from :func:`comicfaces.panels.extract_panels`, 9 of the 242 same-panel
pairs are one character; ``benchmarks/constraints.py`` measures this and the
effect on clustering scores.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

import numpy as np
from sklearn.metrics import pairwise_distances

from comicfaces.features.validation import check_choice

logger = logging.getLogger(__name__)

#: Label of faces that belong to no cluster.
NOISE = -1

#: Policies for a face that :func:`split_cannot_link` moves out of its cluster
#: and that fits no other cluster, as documented there.
UNPLACED_POLICIES = ("split", "singleton", "noise")


def encode_groups(groups: Sequence[Hashable | None], n_samples: int) -> np.ndarray:
    """Turn group ids into integer codes; None gets a code of its own per face.

    Parameters
    ----------
    groups : sequence of hashable or None
        Group of each face, for example ``"E01P02/3"`` for panel 3 of a page. A
        face whose group is None (panel unknown) is constrained against no other.
    n_samples : int
        Number of faces that ``groups`` must describe.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        Equal codes for equal groups.

    Raises
    ------
    ValueError
        If the length differs from ``n_samples`` or a group is not hashable.
    """
    groups = list(groups)
    if len(groups) != n_samples:
        raise ValueError(f"groups has {len(groups)} entries but there are {n_samples} faces; pass one group per face")

    codes = np.empty(n_samples, dtype=np.int64)
    index: dict = {}
    for position, group in enumerate(groups):
        if group is None:
            # A fresh object never equals another key, so the face is alone.
            group = object()
        try:
            codes[position] = index.setdefault(group, len(index))
        except TypeError:
            raise ValueError(
                f"group {position} is {group!r}, which is not hashable; use strings or ints as group ids"
            ) from None
    return codes


def same_group_pairs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the index pairs ``(i, j)``, ``i != j``, of faces with equal codes.

    Both orders of each pair are returned. The number of pairs is the sum of
    ``size * (size - 1)`` over groups, small for panel groups.
    """
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, codes.size])
    rows, cols = [], []
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        members = order[start : start + size]
        row, col = np.meshgrid(members, members, indexing="ij")
        off_diagonal = row != col
        rows.append(row[off_diagonal])
        cols.append(col[off_diagonal])
    if not rows:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    return np.concatenate(rows), np.concatenate(cols)


def cannot_link_distances(X: np.ndarray, codes: np.ndarray | None, metric: str) -> tuple[np.ndarray, float]:
    """Build pairwise distances in which faces of one group are far apart.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    codes : ndarray of shape (n_samples,) or None
        Group codes from :func:`encode_groups`; None adds no constraint.
    metric : str
        Metric of ``sklearn.metrics.pairwise_distances``.

    Returns
    -------
    distances : ndarray of shape (n_samples, n_samples)
        Symmetric, zero diagonal. Same-group pairs hold a penalty larger than
        ``n_samples**2 / 4`` times the largest real distance.
    max_distance : float
        Largest real distance. A merge whose average- or complete-linkage
        distance exceeds it joins two clusters that share a group.

    Notes
    -----
    Why the penalty works: merging clusters A and B, average linkage takes the
    mean of ``|A| * |B| <= n^2 / 4`` pair distances. One penalty pair makes the
    mean exceed ``max_distance``, and a merge without one stays at or below it.
    Complete linkage takes the maximum, which is the penalty itself. Single and
    Ward linkage do not carry the penalty into merged clusters, so they cannot
    enforce the constraint this way. Memory is O(n_samples^2).
    """
    distances = pairwise_distances(X, metric=metric)
    np.maximum(distances, 0.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    # Rounding can leave the cosine matrix slightly asymmetric, which scipy rejects.
    distances = 0.5 * (distances + distances.T)
    max_distance = float(distances.max()) if distances.size else 0.0
    if codes is not None:
        n_samples = X.shape[0]
        penalty = 2.0 * (max_distance + 1.0) * max(n_samples, 2) ** 2
        rows, cols = same_group_pairs(codes)
        distances[rows, cols] = penalty
    return distances, max_distance


def _check_labels(labels, n_samples: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of ints, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size != n_samples:
        raise ValueError(f"labels has {labels.size} entries but X has {n_samples} rows")
    if labels.size and labels.min() < NOISE:
        raise ValueError(f"labels must be >= -1 (-1 marks noise), got {labels.min()}")
    return labels.astype(np.intp, copy=True)


def split_cannot_link(labels, X, groups, *, unplaced: str = "split") -> np.ndarray:
    """Separate faces of the same group (panel) that share a cluster.

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Clustering to repair; -1 marks noise.
    X : array-like of shape (n_samples, n_features)
        Features that distances to cluster centres are measured on (Euclidean).
    groups : sequence of hashable or None, length n_samples
        Group of each face, typically ``page + panel``; None constrains nothing.
    unplaced : {"split", "singleton", "noise"}, default="split"
        Fate of a moved face that fits no other cluster:

        - ``"split"``: the moved faces of one cluster that found no home form new
          clusters together, one new cluster per distinct group as far as
          possible. When a mixed cluster contains two characters that appear
          together in several panels, the faces of the second one stay together.
        - ``"singleton"``: each such face becomes a cluster of its own.
        - ``"noise"``: each such face gets -1.

    Returns
    -------
    ndarray of int, shape (n_samples,)
        New labels in which no two faces of one cluster share a group. Noise
        faces keep -1. Existing cluster numbers are kept, new clusters are
        numbered after the largest, and no cluster becomes empty, so consecutive
        input labels stay consecutive. Faces of distinct groups keep their labels.

    Raises
    ------
    ValueError
        If the lengths disagree, labels are not ints >= -1, or ``unplaced`` is
        unknown.

    Notes
    -----
    The steps:

    1. Each cluster's centre is the mean of its faces, and its radius the largest
       distance of a member to that centre, both taken from the input clustering.
    2. In each cluster, the face of a group closest to the centre stays. The
       other faces of that group are moved out.
    3. In order of face index, each moved face joins the cluster with the
       nearest centre that has no face of its group yet, provided that its
       distance to that centre is within the cluster's radius. Otherwise it is
       handled as ``unplaced`` says.

    Centres and radii are not updated as faces move, so the result does not
    depend on the order in which clusters are visited, only on face order in
    step 3. The cost is O(n_moved * n_clusters * n_features) plus one pass over
    the faces.
    """
    check_choice("unplaced", unplaced, UNPLACED_POLICIES)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of features, got shape {X.shape}")
    n_samples = X.shape[0]
    labels = _check_labels(labels, n_samples)
    codes = encode_groups(groups, n_samples)

    cluster_ids = np.unique(labels[labels != NOISE])
    if cluster_ids.size == 0:
        return labels

    # Step 1: centres and radii of the input clusters.
    centres = np.stack([X[labels == cluster].mean(axis=0) for cluster in cluster_ids])
    radii = np.empty(cluster_ids.size)
    for position, cluster in enumerate(cluster_ids):
        radii[position] = np.linalg.norm(X[labels == cluster] - centres[position], axis=1).max()
    cluster_groups = [set(codes[labels == cluster].tolist()) for cluster in cluster_ids]

    # Step 2: keep the face of each group nearest the centre.
    moved_from: dict[int, int] = {}
    for position, cluster in enumerate(cluster_ids):
        members = np.flatnonzero(labels == cluster)
        member_codes = codes[members]
        if np.unique(member_codes).size == members.size:
            continue
        distances = np.linalg.norm(X[members] - centres[position], axis=1)
        order = np.lexsort((distances, member_codes))
        first_of_group = np.r_[True, member_codes[order][1:] != member_codes[order][:-1]]
        for face in members[order[~first_of_group]]:
            moved_from[int(face)] = position

    if not moved_from:
        return labels
    logger.info("cannot-link split: %d faces share a cluster with a face of the same group", len(moved_from))

    # Step 3: place the moved faces.
    next_label = int(cluster_ids.max()) + 1
    new_clusters: dict[int, list[tuple[int, set]]] = {}
    for face in sorted(moved_from):
        code = int(codes[face])
        source = moved_from[face]
        distances = np.linalg.norm(centres - X[face], axis=1)
        allowed = np.array([code not in members for members in cluster_groups]) & (distances <= radii)
        if allowed.any():
            target = int(np.flatnonzero(allowed)[np.argmin(distances[allowed])])
            labels[face] = cluster_ids[target]
            cluster_groups[target].add(code)
            continue

        if unplaced == "noise":
            labels[face] = NOISE
            continue
        if unplaced == "split":
            home = next((entry for entry in new_clusters.get(source, []) if code not in entry[1]), None)
            if home is not None:
                labels[face] = home[0]
                home[1].add(code)
                continue
        labels[face] = next_label
        new_clusters.setdefault(source, []).append((next_label, {code}))
        next_label += 1
    return labels
