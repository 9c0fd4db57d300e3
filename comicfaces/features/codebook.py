"""Visual-word codebooks and the encodings that pool local descriptors per face.

A face gives a variable number of local descriptors (rows of an ``(n_i, D)``
array). A codebook fitted on descriptors pooled from many faces turns each face's
set into one fixed-length vector:

* bag of visual words (BoVW): a k-means codebook, and a histogram of the nearest
  word of each descriptor (Sivic and Zisserman, 2003; Csurka et al., 2004);
* Fisher vectors: a diagonal Gaussian mixture, and the gradient of the face's
  descriptor log-likelihood with respect to the means and standard deviations
  (Perronnin, Sanchez and Mensink, "Improving the Fisher kernel for large-scale
  image classification", ECCV 2010).

:func:`select_codebook` fits one codebook per candidate size and keeps the best
by a criterion: the silhouette of the k-means assignment for BoVW (higher is
better) and the Bayesian information criterion (BIC) of the mixture for Fisher
vectors (lower is better).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

logger = logging.getLogger(__name__)

ENCODINGS = ("bovw", "fisher")

#: Descriptors drawn for the silhouette of one k-means codebook. The silhouette
#: costs O(n^2 * D), so it runs on this many of the codebook's training descriptors.
SILHOUETTE_SAMPLE_SIZE = 5000

#: Regularisation added to every diagonal variance of the mixture, as a fraction of
#: the mean per-dimension variance of the training descriptors. Relative to the data,
#: one value suits both unit-length SIFT descriptors and ORB's 0/1 bits, whose
#: variances differ by about two orders of magnitude.
RELATIVE_REG_COVAR = 1e-3


def fit_codebook(descriptors: np.ndarray, encoding: str, n_words: int, random_state):
    """Fit one codebook of ``n_words`` words on an ``(n, D)`` descriptor sample.

    Returns a fitted ``MiniBatchKMeans`` for ``"bovw"`` and a fitted diagonal
    ``GaussianMixture`` for ``"fisher"``.
    """
    if encoding == "bovw":
        from sklearn.cluster import MiniBatchKMeans

        return MiniBatchKMeans(
            n_clusters=n_words, n_init=3, batch_size=1024, random_state=random_state
        ).fit(descriptors)

    from sklearn.mixture import GaussianMixture

    reg_covar = RELATIVE_REG_COVAR * float(descriptors.var(axis=0).mean()) or 1e-6
    return GaussianMixture(
        n_components=n_words,
        covariance_type="diag",
        reg_covar=reg_covar,
        max_iter=100,
        random_state=random_state,
    ).fit(descriptors)


def score_codebook(codebook, descriptors: np.ndarray, encoding: str, random_state) -> float:
    """Return the selection criterion of a fitted codebook on its training sample.

    For ``"bovw"`` the mean silhouette of the k-means labels on at most
    :data:`SILHOUETTE_SAMPLE_SIZE` descriptors (NaN when fewer than two words are
    used). For ``"fisher"`` the mixture's BIC on all of ``descriptors``.
    """
    if encoding == "fisher":
        return float(codebook.bic(descriptors))

    from sklearn.metrics import silhouette_score

    labels = codebook.labels_
    n_used = np.unique(labels).size
    if n_used < 2 or n_used >= len(labels):
        return math.nan
    return float(
        silhouette_score(
            descriptors,
            labels,
            sample_size=min(SILHOUETTE_SAMPLE_SIZE, len(labels)),
            random_state=random_state,
        )
    )


def select_codebook(
    descriptors: np.ndarray, encoding: str, candidates: Sequence[int], random_state
) -> tuple[object, int, dict[int, float]]:
    """Fit a codebook per candidate size and keep the best by the encoding's criterion.

    Parameters
    ----------
    descriptors : ndarray of shape (n, D)
        Training sample pooled from many faces.
    encoding : {"bovw", "fisher"}
        ``"bovw"`` maximises the silhouette, ``"fisher"`` minimises the BIC.
    candidates : sequence of int
        Codebook sizes to try, in increasing order.
    random_state : int, RandomState or None
        Seed of every fit and of the silhouette subsample.

    Returns
    -------
    codebook : MiniBatchKMeans or GaussianMixture
        The fitted codebook of the chosen size.
    n_words : int
        The chosen size. Ties go to the smaller codebook.
    scores : dict of int to float
        Criterion of every candidate. A candidate with more words than
        descriptors cannot be fitted and gets NaN.

    Raises
    ------
    ValueError
        If no candidate could be fitted or scored.
    """
    n_samples = len(descriptors)
    scores: dict[int, float] = {}
    codebooks = {}
    for n_words in candidates:
        if n_words > n_samples:
            logger.warning(
                "codebook size %d skipped: only %d descriptors to fit it on", n_words, n_samples
            )
            scores[n_words] = math.nan
            continue

        codebook = fit_codebook(descriptors, encoding, n_words, random_state)
        scores[n_words] = score_codebook(codebook, descriptors, encoding, random_state)
        codebooks[n_words] = codebook
        logger.info("codebook %s with %d words: criterion %.6g", encoding, n_words, scores[n_words])

    scored = [n_words for n_words in codebooks if not math.isnan(scores[n_words])]
    if not scored:
        raise ValueError(
            f"no codebook size in {list(candidates)} could be fitted and scored on "
            f"{n_samples} descriptors; use smaller n_words or more crops"
        )

    if encoding == "bovw":
        best = max(scored, key=lambda n_words: (scores[n_words], -n_words))
    else:
        best = min(scored, key=lambda n_words: (scores[n_words], n_words))
    return codebooks[best], best, scores


def face_index(lengths: np.ndarray) -> np.ndarray:
    """Return the face number of each pooled descriptor, given descriptors per face."""
    return np.repeat(np.arange(len(lengths)), lengths)


def bovw_counts(codebook, descriptors: Sequence[np.ndarray]) -> np.ndarray:
    """Count the nearest visual word of every descriptor, per face.

    Parameters
    ----------
    codebook : fitted MiniBatchKMeans
    descriptors : sequence of ndarray of shape (n_i, D)
        Descriptors of each face; a face may have none.

    Returns
    -------
    ndarray of shape (n_faces, n_words), dtype float64
        Raw counts; a face without descriptors has a row of zeros.
    """
    n_words = codebook.n_clusters
    lengths = np.array([len(block) for block in descriptors])
    counts = np.zeros((len(descriptors), n_words))
    if lengths.sum() == 0:
        return counts

    words = codebook.predict(np.concatenate(descriptors))
    flat = face_index(lengths) * n_words + words
    return np.bincount(flat, minlength=len(descriptors) * n_words).reshape(-1, n_words).astype(
        np.float64
    )


def fisher_vectors(mixture, descriptors: Sequence[np.ndarray]) -> np.ndarray:
    """Encode each face's descriptors as an improved Fisher vector.

    Parameters
    ----------
    mixture : fitted GaussianMixture with ``covariance_type="diag"``
        ``K`` components over ``D``-dimensional descriptors.
    descriptors : sequence of ndarray of shape (n_i, D)
        Descriptors of each face; a face may have none.

    Returns
    -------
    ndarray of shape (n_faces, 2 * K * D), dtype float64
        Per face, the ``K x D`` mean gradients followed by the ``K x D`` standard
        deviation gradients, each component's block row-major. Every non-zero row
        has unit L2 norm. A face without descriptors has a row of zeros.

    Notes
    -----
    With posteriors ``gamma_tk`` of the ``T`` descriptors ``x_t`` of a face and
    component weights ``w_k``, means ``mu_k`` and standard deviations ``sigma_k``,
    the gradients are (Perronnin et al. 2010)::

        G_mu_k    = 1 / (T sqrt(w_k))  * sum_t gamma_tk (x_t - mu_k) / sigma_k
        G_sigma_k = 1 / (T sqrt(2 w_k)) * sum_t gamma_tk ((x_t - mu_k)^2 / sigma_k^2 - 1)

    They are computed from the zeroth, first and second order statistics
    ``S0 = sum_t gamma_tk``, ``S1 = gamma^T x`` and ``S2 = gamma^T x^2``, two
    ``(K, T) x (T, D)`` products per face. The vector is then power normalised
    (``sign(z) sqrt(|z|)``) and L2 normalised, the two steps of the "improved"
    Fisher vector. The posteriors of all descriptors come from one call to
    ``predict_proba``; the cost is O(T * K * D) per face.
    """
    from sklearn.preprocessing import normalize

    # A mixture fitted on float32 descriptors keeps float32 parameters, and the
    # expansion of sum_t gamma (x - mu)^2 below cancels digits, so work in float64.
    weights = mixture.weights_.astype(np.float64)
    means = mixture.means_.astype(np.float64)
    variances = mixture.covariances_.astype(np.float64)
    sigmas = np.sqrt(variances)
    n_components, dim = means.shape

    lengths = np.array([len(block) for block in descriptors])
    vectors = np.zeros((len(descriptors), 2, n_components, dim))
    if lengths.sum() == 0:
        return vectors.reshape(len(descriptors), -1)

    pooled = np.concatenate(descriptors).astype(np.float64)
    posteriors = mixture.predict_proba(pooled)
    ends = np.cumsum(lengths)

    for face, (stop, count) in enumerate(zip(ends, lengths)):
        if count == 0:
            continue
        x = pooled[stop - count : stop]
        gamma = posteriors[stop - count : stop]

        s0 = gamma.sum(axis=0)[:, None]
        s1 = gamma.T @ x
        s2 = gamma.T @ (x * x)

        vectors[face, 0] = (s1 - means * s0) / (sigmas * (count * np.sqrt(weights))[:, None])
        squared = (s2 - 2 * means * s1 + means * means * s0) / variances - s0
        vectors[face, 1] = squared / (count * np.sqrt(2 * weights))[:, None]

    vectors = vectors.reshape(len(descriptors), -1)
    vectors = np.sign(vectors) * np.sqrt(np.abs(vectors))
    return normalize(vectors, norm="l2")


def subsample(descriptors: np.ndarray, max_rows: int, random_state) -> np.ndarray:
    """Return at most ``max_rows`` rows of ``descriptors``, drawn without replacement."""
    if len(descriptors) <= max_rows:
        return descriptors
    generator = check_random_state(random_state)
    rows = np.sort(generator.choice(len(descriptors), size=max_rows, replace=False))
    return descriptors[rows]
