"""Computations of the Review page that need no Streamlit: geometry, flags, galleries, scores.

Every function takes ``view``, the faces table returned by
:meth:`comicfaces.corrections.Corrections.apply`, whose columns ``cluster``,
``noise``, ``rejected`` and ``run_row`` are used here. ``embedding`` is the
matrix the run clustered (the reduced features), one row per face of the
run's own table, so row ``view["run_row"][i]`` describes view row ``i``.
Faces added by hand have ``run_row == -1`` and no embedding row; their
distances are NaN and they sort last.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NOISE_GROUP = "noise"
REJECTED_GROUP = "rejected"

#: Default share of a cluster's faces, as a percentile of their distances to
#: the centre, below which a face is not flagged as an outlier.
DEFAULT_OUTLIER_PERCENTILE = 90.0
#: Clusters with fewer faces get no percentile outlier flags.
MIN_OUTLIER_CLUSTER = 5
#: Default cosine similarity above which two faces are flagged as near duplicates.
DEFAULT_DUPLICATE_SIMILARITY = 0.98


def raw_labels(table: pd.DataFrame) -> np.ndarray:
    """Return a run's cluster labels with noise as -1.

    Pipeline runs store noise faces as clusters of one plus a ``noise``
    column. Runs saved by the dashboard store -1 in ``cluster``. Both forms
    give the same labels here.
    """
    if "cluster" not in table:
        raise ValueError("the faces table has no 'cluster' column; pass the faces table of a clustered run")
    labels = table["cluster"].to_numpy(dtype=np.int64).copy()
    if "noise" in table:
        labels[table["noise"].astype(bool).to_numpy()] = -1
    return labels


# -- geometry -------------------------------------------------------------------------------


@dataclass
class Geometry:
    """Distances of the faces of a view to cluster centres, one entry per view row.

    Attributes
    ----------
    distance : ndarray of float
        Euclidean distance of a clustered face to the centre (mean) of its
        cluster. For a noise face, the distance to the nearest cluster centre.
        NaN without an embedding row.
    nearest_cluster : ndarray of int
        For noise faces, the cluster whose centre is nearest; -1 elsewhere.
    """

    distance: np.ndarray
    nearest_cluster: np.ndarray


def _embedding_rows(view: pd.DataFrame, embedding: np.ndarray | None) -> np.ndarray:
    """Return the run rows of the view rows, with -1 where no embedding row exists."""
    rows = view["run_row"].to_numpy(dtype=np.int64).copy()
    if embedding is None:
        return np.full(len(view), -1, dtype=np.int64)
    rows[(rows < 0) | (rows >= len(embedding))] = -1
    return rows


def face_geometry(view: pd.DataFrame, embedding: np.ndarray | None) -> Geometry:
    """Compute each face's distance to its cluster centre, and the nearest cluster of noise faces.

    Notes
    -----
    Centres are means over the faces of a cluster that are neither noise nor
    rejected. Cost is O(n * d) for the centres and O(m * c * d) for m noise
    faces and c clusters, in blocks of 2,048 noise faces.
    """
    n = len(view)
    distance = np.full(n, np.nan)
    nearest = np.full(n, -1, dtype=np.int64)
    rows = _embedding_rows(view, embedding)
    if embedding is None or n == 0:
        return Geometry(distance, nearest)

    matrix = np.asarray(embedding, dtype=np.float64)
    clusters = view["cluster"].to_numpy(dtype=np.int64)
    noise = view["noise"].astype(bool).to_numpy()
    rejected = view["rejected"].astype(bool).to_numpy()
    known = rows >= 0
    members = known & ~noise & ~rejected
    if members.any():
        labels, inverse = np.unique(clusters[members], return_inverse=True)
        sums = np.zeros((len(labels), matrix.shape[1]))
        np.add.at(sums, inverse, matrix[rows[members]])
        centres = sums / np.bincount(inverse, minlength=len(labels))[:, None]

        # Rejected faces are measured to the centre of their cluster too, when it has one.
        clustered = np.flatnonzero(known & ~noise)
        position = np.clip(np.searchsorted(labels, clusters[clustered]), 0, len(labels) - 1)
        has_centre = labels[position] == clusters[clustered]
        clustered, position = clustered[has_centre], position[has_centre]
        distance[clustered] = np.linalg.norm(matrix[rows[clustered]] - centres[position], axis=1)

        noisy = np.flatnonzero(known & noise)
        squared_centres = (centres**2).sum(axis=1)
        for start in range(0, len(noisy), 2048):
            block = noisy[start : start + 2048]
            points = matrix[rows[block]]
            squared = (points**2).sum(axis=1)[:, None] - 2 * points @ centres.T + squared_centres[None, :]
            best = np.argmin(squared, axis=1)
            distance[block] = np.sqrt(np.maximum(squared[np.arange(len(block)), best], 0.0))
            nearest[block] = labels[best]
    return Geometry(distance, nearest)


# -- flags ---------------------------------------------------------------------------------


def percentile_outliers(
    view: pd.DataFrame,
    distance: np.ndarray,
    percentile: float = DEFAULT_OUTLIER_PERCENTILE,
    min_size: int = MIN_OUTLIER_CLUSTER,
) -> np.ndarray:
    """Flag faces farther from their cluster centre than the cluster's ``percentile`` of distances.

    Only clusters of at least ``min_size`` faces with known distances are
    considered; noise, rejected and added faces are never flagged.
    """
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile!r}")
    flags = np.zeros(len(view), dtype=bool)
    usable = np.isfinite(distance) & ~view["noise"].astype(bool).to_numpy() & ~view["rejected"].astype(bool).to_numpy()
    clusters = view["cluster"].to_numpy(dtype=np.int64)
    for cluster in np.unique(clusters[usable]):
        members = np.flatnonzero(usable & (clusters == cluster))
        if len(members) < min_size:
            continue
        threshold = np.percentile(distance[members], percentile)
        flags[members[distance[members] > threshold]] = True
    return flags


def lof_outliers(view: pd.DataFrame, embedding: np.ndarray | None, n_neighbors: int = 20, threshold: float = 1.5) -> np.ndarray:
    """Flag faces whose local outlier factor on the embedding exceeds ``threshold``.

    Notes
    -----
    Uses :class:`sklearn.neighbors.LocalOutlierFactor` on every face with an
    embedding row, whatever its cluster, so it also finds faces that sit
    apart from all others. Needs at least 3 faces; cost is that of a
    ``n_neighbors`` nearest-neighbour search.
    """
    from sklearn.neighbors import LocalOutlierFactor

    flags = np.zeros(len(view), dtype=bool)
    rows = _embedding_rows(view, embedding)
    known = np.flatnonzero(rows >= 0)
    if embedding is None or len(known) < 3:
        return flags
    model = LocalOutlierFactor(n_neighbors=max(1, min(n_neighbors, len(known) - 1)))
    model.fit(np.asarray(embedding, dtype=np.float64)[rows[known]])
    factor = -model.negative_outlier_factor_
    flags[known[factor > threshold]] = True
    return flags


class NeighbourIndex:
    """Cosine nearest-neighbour search over an embedding.

    Rows are scaled to unit length and searched with Euclidean distance,
    whose order matches cosine similarity (``cos = 1 - d**2 / 2``). A zero
    row stays zero and has similarity 0 to every face.

    Parameters
    ----------
    embedding : array-like of shape (n, d)
    """

    def __init__(self, embedding):
        from sklearn.neighbors import NearestNeighbors

        matrix = np.asarray(embedding, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.unit_ = matrix / np.where(norms > 0, norms, 1.0)
        self.model_ = NearestNeighbors().fit(self.unit_)

    def __len__(self) -> int:
        return len(self.unit_)

    def query(self, row: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` rows most similar to ``row`` (itself excluded) and their cosine similarities."""
        k = max(0, min(k, len(self) - 1))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        distances, indices = self.model_.kneighbors(self.unit_[row : row + 1], n_neighbors=k + 1)
        keep = indices[0] != row
        indices, distances = indices[0][keep][:k], distances[0][keep][:k]
        return indices.astype(np.int64), 1.0 - distances**2 / 2.0

    def nearest_other(self) -> tuple[np.ndarray, np.ndarray]:
        """Return, for every row, the most similar other row and their cosine similarity."""
        if len(self) < 2:
            return np.full(len(self), -1, dtype=np.int64), np.zeros(len(self))
        distances, indices = self.model_.kneighbors(self.unit_, n_neighbors=2)
        own = np.arange(len(self))
        # Identical rows can list each other before themselves, so the first
        # index that is not the row itself is taken.
        first_is_self = indices[:, 0] == own
        partner = np.where(first_is_self, indices[:, 1], indices[:, 0])
        gap = np.where(first_is_self, distances[:, 1], distances[:, 0])
        return partner.astype(np.int64), 1.0 - gap**2 / 2.0


def near_duplicates(view: pd.DataFrame, index: NeighbourIndex | None, threshold: float = DEFAULT_DUPLICATE_SIMILARITY) -> tuple[np.ndarray, list[str]]:
    """Flag faces whose most similar other face has cosine similarity >= ``threshold``.

    Returns the flags per view row and the id of the duplicate partner
    (``""`` where not flagged). Rejected faces are neither flagged nor partners.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {threshold!r}")
    flags = np.zeros(len(view), dtype=bool)
    partners = [""] * len(view)
    if index is None or len(view) == 0:
        return flags, partners
    partner_row, similarity = index.nearest_other()
    view_of_run_row = {int(r): i for i, r in enumerate(view["run_row"]) if 0 <= int(r) < len(index)}
    rejected = view["rejected"].astype(bool).to_numpy()
    face_ids = view["face_id"].astype(str).to_numpy()
    for i, run_row in enumerate(view["run_row"].to_numpy(dtype=np.int64)):
        if run_row < 0 or run_row >= len(index) or rejected[i] or similarity[run_row] < threshold:
            continue
        other = view_of_run_row.get(int(partner_row[run_row]))
        if other is None or rejected[other]:
            continue
        flags[i] = True
        partners[i] = face_ids[other]
    return flags, partners


# -- galleries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryGroup:
    """One gallery of the Review page: a cluster, the noise bucket or the rejected bucket.

    Attributes
    ----------
    key : str
        ``c<cluster>``, ``noise`` or ``rejected``; stable while the view's
        cluster numbers are.
    cluster : int or None
        Cluster number in the view; None for the two buckets.
    title : str
        Character name with the cluster, ``cluster N``, ``noise`` or ``rejected``.
    rows : ndarray of int
        View row positions, nearest to the centre first and unknown distances last.
    total : int
        Faces of the whole group, which is more than ``len(rows)`` when a
        selection filters it.
    """

    key: str
    cluster: int | None
    title: str
    name: str
    rows: np.ndarray
    total: int

    @property
    def size(self) -> int:
        """Number of faces shown."""
        return int(len(self.rows))


def _ordered(rows: np.ndarray, distance: np.ndarray, face_ids: np.ndarray) -> np.ndarray:
    keys = [(math.isnan(distance[r]), 0.0 if math.isnan(distance[r]) else float(distance[r]), str(face_ids[r])) for r in rows]
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return rows[order].astype(np.int64)


def gallery_groups(view: pd.DataFrame, distance: np.ndarray, only_rows: Sequence[int] | None = None) -> list[GalleryGroup]:
    """Return the galleries of a view: clusters largest first, then noise, then rejected faces.

    Parameters
    ----------
    view : DataFrame
        Output of ``Corrections.apply``.
    distance : ndarray
        :attr:`Geometry.distance`, which orders the faces of each gallery.
    only_rows : sequence of int, optional
        View rows to keep (a selection); galleries left empty are dropped.
        Sizes and order of clusters follow the whole cluster, so a filtered
        gallery keeps its place.
    """
    if len(view) == 0:
        return []
    clusters = view["cluster"].to_numpy(dtype=np.int64)
    noise = view["noise"].astype(bool).to_numpy()
    rejected = view["rejected"].astype(bool).to_numpy()
    names = view["name"].fillna("").astype(str).to_numpy() if "name" in view else np.full(len(view), "")
    face_ids = view["face_id"].astype(str).to_numpy()
    keep = np.ones(len(view), dtype=bool)
    if only_rows is not None:
        keep = np.zeros(len(view), dtype=bool)
        keep[np.asarray(list(only_rows), dtype=np.int64)] = True

    clustered = ~noise & ~rejected
    labels, counts = np.unique(clusters[clustered], return_counts=True)
    order = sorted(zip(labels.tolist(), counts.tolist()), key=lambda pair: (-pair[1], pair[0]))
    groups = []
    for label, total in order:
        members = np.flatnonzero(clustered & (clusters == label))
        name = next((n for n in names[members] if n), "")
        shown = members[keep[members]]
        if shown.size == 0:
            continue
        title = f"{name} (cluster {label})" if name else f"cluster {label}"
        groups.append(GalleryGroup(f"c{label}", int(label), title, name, _ordered(shown, distance, face_ids), int(total)))

    for key, mask in ((NOISE_GROUP, noise & ~rejected), (REJECTED_GROUP, rejected)):
        members = np.flatnonzero(mask)
        shown = members[keep[members]]
        if shown.size:
            title = "noise" if key == NOISE_GROUP else "rejected (not a face)"
            groups.append(GalleryGroup(key, None, title, "", _ordered(shown, distance, face_ids), int(members.size)))
    return groups


def page_count(n_items: int, per_page: int) -> int:
    """Return the number of pages of ``per_page`` items needed for ``n_items`` (at least 1)."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, got {per_page!r}")
    return max(1, -(-n_items // per_page))


# -- selections and scores -------------------------------------------------------------------


def selection_counts(view: pd.DataFrame, rows: Sequence[int], column: str) -> pd.DataFrame:
    """Return the faces of a selection counted by ``column`` (``cluster``, ``name``, ``identity``).

    Empty and missing values are counted as ``(none)``; the table is sorted
    by count, largest first.
    """
    if column not in view or not len(rows):
        return pd.DataFrame(columns=[column, "faces"])
    values = view[column].iloc[list(rows)]
    if column == "cluster":
        noise = view["noise"].astype(bool).iloc[list(rows)].to_numpy()
        values = pd.Series(np.where(noise, "noise", values.astype(str)), index=values.index)
    values = values.fillna("").astype(str).replace("", "(none)")
    counts = values.value_counts()
    return pd.DataFrame({column: counts.index.tolist(), "faces": counts.to_numpy()})


def _labelled(identities: Sequence) -> np.ndarray:
    return np.array([value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value) != "" for value in identities])


def identity_scores(identities: Sequence, clusters: np.ndarray) -> pd.DataFrame:
    """Return the precision and recall of each identity in the cluster that holds most of its faces.

    Parameters
    ----------
    identities : sequence of str or None
        Identity of each face; None, NaN or ``""`` for unlabelled faces, which are left out.
    clusters : array of int
        Cluster of each face, noise faces already given clusters of their own
        (the view's ``cluster`` column).

    Returns
    -------
    DataFrame
        One row per identity, sorted by faces: ``identity``, ``faces``,
        ``cluster`` (its majority cluster, ties to the smaller number),
        ``precision`` (share of the labelled faces of that cluster with this
        identity), ``recall`` (share of the identity's faces in that cluster) and ``f1``.
    """
    labelled = _labelled(identities)
    columns = ["identity", "faces", "cluster", "precision", "recall", "f1"]
    if not labelled.any():
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({"identity": np.asarray(identities, dtype=object)[labelled].astype(str), "cluster": np.asarray(clusters)[labelled]})
    cluster_sizes = frame["cluster"].value_counts()
    rows = []
    for identity, members in frame.groupby("identity"):
        counts = members["cluster"].value_counts()
        best = int(min(counts.index[counts == counts.max()]))
        hits = int(counts[best])
        precision = hits / int(cluster_sizes[best])
        recall = hits / len(members)
        rows.append([identity, len(members), best, precision, recall, 2 * precision * recall / (precision + recall)])
    return pd.DataFrame(rows, columns=columns).sort_values(["faces", "identity"], ascending=[False, True]).reset_index(drop=True)


def confusion_table(identities: Sequence, clusters: np.ndarray, names: Sequence[str] | None = None, max_clusters: int = 40) -> pd.DataFrame:
    """Return counts of labelled faces per cluster (rows) and identity (columns).

    Clusters are ordered by labelled faces, largest first, and cut to
    ``max_clusters``; identities by faces. ``names`` (the view's ``name``
    column) labels named clusters as ``name (N)``.
    """
    labelled = _labelled(identities)
    if not labelled.any():
        return pd.DataFrame()
    clusters = np.asarray(clusters)
    frame = pd.DataFrame({"identity": np.asarray(identities, dtype=object)[labelled].astype(str), "cluster": clusters[labelled]})
    table = pd.crosstab(frame["cluster"], frame["identity"])
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index[:max_clusters]]
    table = table[table.sum(axis=0).sort_values(ascending=False, kind="stable").index]
    if names is not None:
        name_of = {}
        for cluster, name in zip(clusters, names):
            if name and int(cluster) not in name_of:
                name_of[int(cluster)] = str(name)
        table.index = [f"{name_of[c]} ({c})" if c in name_of else f"cluster {c}" for c in table.index.astype(int)]
    else:
        table.index = [f"cluster {c}" for c in table.index.astype(int)]
    return table


def corrected_labels(view: pd.DataFrame) -> np.ndarray:
    """Return the view's clusters with noise as -1, for scoring the corrected clustering."""
    labels = view["cluster"].to_numpy(dtype=np.int64).copy()
    labels[view["noise"].astype(bool).to_numpy()] = -1
    return labels


def truth_of_view(view: pd.DataFrame) -> list[str | None]:
    """Return the ground-truth ``identity`` of each view row; None for rejected or unlabelled rows."""
    if "identity" not in view:
        return [None] * len(view)
    rejected = view["rejected"].astype(bool).to_numpy()
    return [None if rejected[i] or not _labelled([value])[0] else str(value) for i, value in enumerate(view["identity"])]
