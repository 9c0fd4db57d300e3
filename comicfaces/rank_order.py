"""Approximate rank-order distance and clustering of faces.

The approximate rank-order clustering (AROC) of C. Otto, D. Wang and A. K. Jain,
"Clustering Millions of Faces by Identity", IEEE Transactions on Pattern Analysis
and Machine Intelligence 40(2), 2018 (arXiv:1604.00989), simplifies the rank-order
clustering of C. Zhu, F. Wen and J. Sun, "A rank-order distance based clustering
algorithm for face tagging", CVPR 2011.

Definitions, for faces ``a`` and ``b`` and a neighbour count ``k``:

* ``f_a(i)`` is the ``i``-th nearest face of ``a``, with ``f_a(0) = a`` itself, and
  ``O_a(b)`` is the rank of ``b`` in that list (``O_a(a) = 0``). ``N_b`` is the set
  of ``b`` and its ``k`` nearest faces.
* The approximate distance counts the faces that ``a`` ranks up to ``b`` and that
  are missing from ``b``'s list:
  ``d(a, b) = sum_{i=0}^{min(O_a(b), k)} [f_a(i) not in N_b]``.
  Zhu et al. summed the ranks ``O_b(f_a(i))`` instead. Otto et al. keep only
  presence in the top ``k``, so only k-NN lists are needed.
* The symmetric, normalised distance is
  ``D(a, b) = (d(a, b) + d(b, a)) / min(O_a(b), O_b(a))``.
* ``D`` is computed only for pairs that are in each other's k-NN list (then
  ``O_a(b)`` and ``O_b(a)`` are both at most ``k``). Pairs with ``D`` below a
  threshold are linked, and the clusters are the connected components of the
  links: a single round of transitive merging, as Otto et al. do, instead of
  the iterated cluster-level merging of Zhu et al.

NOTE: these definitions were written from the equations of Otto et al. as
recalled, without the paper at hand; check them against its section on the
approximate rank-order distance before citing results as AROC.

For such a mutual pair, ``a`` is in ``N_b`` and ``b`` is in its own list, so the
terms ``i = 0`` and ``i = O_a(b)`` are 0. ``d(a, b)`` is then the number of faces
ranked strictly between ``a`` and ``b`` in ``a``'s list that are not among
``b``'s ``k`` nearest faces.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

logger = logging.getLogger(__name__)

#: Bound on the number of entries of the (rows, k, k) membership block that
#: :func:`rank_order_distances` builds at once, about 32 MiB of int64 keys.
_BLOCK_ENTRIES = 1 << 22


def _lookup(sorted_keys: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return the flat position of each key in the neighbour array, or -1 if absent."""
    positions = np.searchsorted(sorted_keys, keys)
    positions = np.minimum(positions, sorted_keys.size - 1)
    found = sorted_keys[positions] == keys
    return np.where(found, order[positions], -1)


def rank_order_distances(neighbors: np.ndarray) -> np.ndarray:
    """Compute the approximate rank-order distance of each face to its k neighbours.

    Parameters
    ----------
    neighbors : ndarray of int, shape (n_samples, k)
        ``neighbors[a, j]`` is the ``(j + 1)``-th nearest face of ``a``, ``a``
        itself excluded, so its rank ``O_a`` is ``j + 1``. Rows hold distinct
        indices.

    Returns
    -------
    ndarray of float64, shape (n_samples, k)
        ``D(a, neighbors[a, j])`` as defined in the module docstring, or ``inf``
        where ``a`` is not among the ``k`` neighbours of ``neighbors[a, j]``. The
        array is symmetric in the sense that the entry for ``(a, b)`` equals the
        entry for ``(b, a)``.

    Notes
    -----
    Membership is tested by binary search in the sorted keys ``a * n + b`` of all
    ``n * k`` neighbour pairs, so the cost is O(n k^2 log(n k)) time. Rows are
    processed in blocks that bound the temporary memory to about 32 MiB.
    """
    neighbors = np.asarray(neighbors, dtype=np.int64)
    n_samples, k = neighbors.shape
    if k == 0 or n_samples == 0:
        return np.zeros((n_samples, k))

    rows = np.arange(n_samples, dtype=np.int64)
    flat_keys = (rows[:, None] * n_samples + neighbors).ravel()
    order = np.argsort(flat_keys, kind="stable")
    sorted_keys = flat_keys[order]

    # d(a, b) for b = neighbors[a, j]: count i < j with neighbors[a, i] not in b's list.
    before = np.tri(k, k, -1, dtype=bool)  # before[j, i] is True for i < j
    one_sided = np.empty((n_samples, k), dtype=np.int64)
    block = max(1, _BLOCK_ENTRIES // (k * k))
    for start in range(0, n_samples, block):
        chunk = neighbors[start : start + block]
        pair_keys = chunk[:, :, None] * n_samples + chunk[:, None, :]
        absent = _lookup(sorted_keys, order, pair_keys) < 0
        one_sided[start : start + block] = (absent & before).sum(axis=2)

    # Find the reverse entry (b, a) of each pair; it exists only for mutual neighbours.
    reverse_keys = neighbors * n_samples + rows[:, None]
    reverse = _lookup(sorted_keys, order, reverse_keys.ravel()).reshape(n_samples, k)
    mutual = reverse >= 0

    rank_ab = np.broadcast_to(np.arange(1, k + 1), (n_samples, k))
    rank_ba = np.where(mutual, reverse % k + 1, 0)
    d_ba = np.where(mutual, one_sided.ravel()[np.maximum(reverse, 0)], 0)

    distances = np.full((n_samples, k), np.inf)
    distances[mutual] = (one_sided[mutual] + d_ba[mutual]) / np.minimum(rank_ab[mutual], rank_ba[mutual])
    return distances


def rank_order_components(neighbors: np.ndarray, distances: np.ndarray, threshold: float) -> np.ndarray:
    """Link neighbour pairs with distance below ``threshold`` and label the components.

    Parameters
    ----------
    neighbors : ndarray of int, shape (n_samples, k)
        Neighbour lists as in :func:`rank_order_distances`.
    distances : ndarray of shape (n_samples, k)
        Distances from :func:`rank_order_distances`.
    threshold : float
        Pairs with ``D < threshold`` are linked.

    Returns
    -------
    ndarray of int, shape (n_samples,)
        Connected-component number of each face, ``0 .. n_components - 1``.
    """
    n_samples = neighbors.shape[0]
    linked = distances < threshold
    rows = np.broadcast_to(np.arange(n_samples)[:, None], neighbors.shape)[linked]
    cols = neighbors[linked]
    graph = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n_samples, n_samples))
    _, components = connected_components(graph, directed=False)
    return components
