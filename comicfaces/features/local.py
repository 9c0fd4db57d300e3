"""ORB or SIFT keypoint descriptors pooled per face by a bag of visual words or Fisher vectors."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass

import cv2
import numpy as np
from sklearn.utils.validation import check_is_fitted

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.codebook import (
    ENCODINGS,
    bovw_counts,
    fisher_vectors,
    select_codebook,
    subsample,
)
from comicfaces.features.validation import (
    check_bool,
    check_choice,
    check_images,
    check_int,
    check_random_state,
)

logger = logging.getLogger(__name__)

DETECTORS = ("sift", "orb")
NORMS = ("l1", "l2")

#: Length of one descriptor after conversion to floats: SIFT's 128 values, and
#: ORB's 32 bytes unpacked to 256 bits.
DESCRIPTOR_DIMS = {"sift": 128, "orb": 256}

#: ORB ignores keypoints closer than its edge threshold (OpenCV default 31 px) to
#: the border, so a smaller image leaves no room for any keypoint.
MIN_ORB_SIZE = 64

#: Number of face indices named in the warning about faces without keypoints.
MAX_INDICES_LOGGED = 10


@dataclass(frozen=True)
class LocalDescriptorConfig:
    """Parameters of :class:`LocalDescriptorFeatures`."""

    detector: str = "sift"
    encoding: str = "bovw"
    n_words: int | tuple[int, ...] = 64
    size: int = 128
    max_keypoints: int = 200
    max_descriptors: int = 20000
    norm: str = "l1"
    tfidf: bool = False
    random_state: int | None = 0

    def validate(self) -> LocalDescriptorConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_choice("detector", self.detector, DETECTORS)
        check_choice("encoding", self.encoding, ENCODINGS)

        if isinstance(self.n_words, (tuple, list)):
            if not self.n_words:
                raise ValueError(
                    "n_words must be an integer >= 2 or a non-empty list of them, got []"
                )
            for value in self.n_words:
                check_int("n_words", value, 2)
            if len(set(self.n_words)) != len(self.n_words):
                raise ValueError(f"n_words must not repeat a size, got {list(self.n_words)}")
        else:
            check_int("n_words", self.n_words, 2)

        check_int("size", self.size, 16)
        if self.detector == "orb" and self.size < MIN_ORB_SIZE:
            raise ValueError(
                f"size must be at least {MIN_ORB_SIZE} for detector 'orb', got {self.size}; "
                "ORB finds no keypoints within 31 px of the border"
            )
        check_int("max_keypoints", self.max_keypoints, 1)
        check_int("max_descriptors", self.max_descriptors, 2)
        if self.max_descriptors < max(self.candidates):
            raise ValueError(
                f"max_descriptors must be at least the largest n_words ({max(self.candidates)}), "
                f"got {self.max_descriptors}"
            )
        check_choice("norm", self.norm, NORMS)
        check_bool("tfidf", self.tfidf)
        if self.tfidf and self.encoding != "bovw":
            raise ValueError(
                f"tfidf applies only to encoding 'bovw', got encoding {self.encoding!r}; "
                "set tfidf=False"
            )
        check_random_state("random_state", self.random_state)
        return self

    @property
    def candidates(self) -> tuple[int, ...]:
        """Codebook sizes to try, in increasing order."""
        if isinstance(self.n_words, (tuple, list)):
            return tuple(sorted(self.n_words))
        return (self.n_words,)

    @property
    def descriptor_dim(self) -> int:
        """Length of one descriptor after conversion to floats."""
        return DESCRIPTOR_DIMS[self.detector]

    def n_features_for(self, n_words: int) -> int:
        """Length of one encoded face for a codebook of ``n_words`` words."""
        if self.encoding == "bovw":
            return n_words
        return 2 * n_words * self.descriptor_dim


class LocalDescriptorFeatures(ImageFeatureExtractor):
    """Keypoint descriptors of each crop pooled into one vector by a learned codebook.

    ``fit`` detects keypoints on every crop, pools their descriptors, draws at most
    ``max_descriptors`` of them and fits the codebook. ``transform`` encodes each
    crop's descriptors with it.

    Parameters
    ----------
    detector : {"sift", "orb"}, default="sift"
        Keypoint detector and descriptor: OpenCV's ``SIFT_create`` (128 floats) or
        ``ORB_create`` (256 bits).
    encoding : {"bovw", "fisher"}, default="bovw"
        ``"bovw"``: k-means codebook (``MiniBatchKMeans``) and a histogram of
        nearest words, ``n_words`` values. ``"fisher"``: diagonal Gaussian mixture
        and improved Fisher vector, ``2 * n_words * D`` values, where D is 128 for
        SIFT and 256 for ORB.
    n_words : int or list of int, default=64
        Codebook size, at least 2. With a list, one codebook is fitted per size and
        the best is kept: highest silhouette of the descriptor k-means for BoVW,
        lowest BIC of the mixture for Fisher vectors.
    size : int, default=128
        Side in pixels of the square grayscale image keypoints are detected on; at
        least 16, and at least 64 for ORB.
    max_keypoints : int, default=200
        Keypoints kept per crop, those with the strongest detector response.
    max_descriptors : int, default=20000
        Descriptors drawn at random from all training crops to fit the codebook; at
        least the largest ``n_words``.
    norm : {"l1", "l2"}, default="l1"
        Normalisation of each BoVW histogram. Fisher vectors are always power and
        L2 normalised, so this has no effect on them.
    tfidf : bool, default=False
        Weight BoVW counts by the inverse document frequency of each word over
        the training crops (``sklearn.feature_extraction.text.TfidfTransformer``
        with ``smooth_idf=True``) before normalising. BoVW only.
    random_state : int or None, default=0
        Seed of the descriptor subsample, the codebook fits and the silhouette
        subsample.

    Attributes
    ----------
    codebook_ : MiniBatchKMeans or GaussianMixture
        The fitted codebook.
    n_words_ : int
        Size of ``codebook_``, the chosen candidate when ``n_words`` is a list.
    criterion_scores_ : dict of int to float
        Silhouette (BoVW) or BIC (Fisher) of every candidate size, also for a
        single size; NaN for a size larger than the descriptor sample.
    tfidf_ : TfidfTransformer or None
        The fitted idf weighting when ``tfidf`` is True.
    n_descriptors_ : int
        Descriptors the codebook was fitted on.
    n_empty_ : int
        Crops of the last ``transform`` (or ``fit_transform``) without a keypoint.
    empty_indices_ : ndarray of int
        Their positions in that batch. Their rows are zero.

    Notes
    -----
    Each crop is converted to grayscale and resized to ``size`` x ``size`` with
    OpenCV (area interpolation when shrinking, bilinear when enlarging), so the
    aspect ratio is not kept, as in :class:`~comicfaces.features.hog.HOGFeatures`.
    SIFT descriptors are divided by their L2 norm. ORB descriptors are binary
    strings compared by Hamming distance. They are unpacked to 256 values of 0.0
    and 1.0, on which the squared Euclidean distance equals the Hamming distance,
    so k-means and the Gaussian mixture can run on them. A k-means centre is then a
    vector of bit frequencies, not a binary descriptor.

    A crop without keypoints, such as a flat or nearly flat one, gets a zero row. It
    is not dropped: its index is in ``empty_indices_`` and a warning gives the
    count. :class:`~comicfaces.features.combine.ConcatFeatures` marks such rows in
    ``missing_mask_``. A crop that OpenCV fails on is logged and treated the same way.

    Cost: detection is O(size^2) per crop. Fitting a k-means codebook is
    O(max_descriptors * n_words * D) per iteration, a mixture the same per EM
    iteration (at most 100), for each candidate size. The silhouette costs
    O(5000^2 * D) per candidate. Fisher vectors have ``2 * n_words * D`` values
    per face, 16384 for SIFT with 64 words.
    """

    def __init__(
        self,
        detector=LocalDescriptorConfig.detector,
        encoding=LocalDescriptorConfig.encoding,
        n_words=LocalDescriptorConfig.n_words,
        size=LocalDescriptorConfig.size,
        max_keypoints=LocalDescriptorConfig.max_keypoints,
        max_descriptors=LocalDescriptorConfig.max_descriptors,
        norm=LocalDescriptorConfig.norm,
        tfidf=LocalDescriptorConfig.tfidf,
        random_state=LocalDescriptorConfig.random_state,
    ):
        self.detector = detector
        self.encoding = encoding
        self.n_words = n_words
        self.size = size
        self.max_keypoints = max_keypoints
        self.max_descriptors = max_descriptors
        self.norm = norm
        self.tfidf = tfidf
        self.random_state = random_state

    def get_config(self) -> LocalDescriptorConfig:
        """Return the parameters as a validated :class:`LocalDescriptorConfig`."""
        params = self.get_params()

        # JSON and YAML configuration files have no tuples, so a list of sizes
        # arrives as a list.
        if isinstance(params["n_words"], list):
            params["n_words"] = tuple(params["n_words"])
        return LocalDescriptorConfig(**params).validate()

    def fit(self, X, y=None):
        """Detect keypoints on the crops and fit the codebook on their descriptors.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If the crops give fewer descriptors than the smallest codebook size.
        """
        config = self.get_config()
        descriptors = describe_images(check_images(X), config)
        self._fit_codebook(descriptors, config)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit the codebook and encode the same crops, detecting keypoints once."""
        config = self.get_config()
        descriptors = describe_images(check_images(X), config)
        self._fit_codebook(descriptors, config)
        return self._encode(descriptors, config)

    def transform(self, X) -> np.ndarray:
        """Encode each crop's descriptors with the fitted codebook.

        Sets ``n_empty_`` and ``empty_indices_`` for this batch and logs a warning
        when a crop has no keypoint.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.

        Returns
        -------
        ndarray of shape (n_images, n_features), dtype float32
        """
        check_is_fitted(self, "codebook_")
        config = self.get_config()
        descriptors = describe_images(check_images(X), config)
        return self._encode(descriptors, config)

    def _fit_codebook(self, descriptors: list[np.ndarray], config: LocalDescriptorConfig) -> None:
        n_described = sum(1 for block in descriptors if len(block))
        if n_described == 0:
            raise ValueError(
                f"no {config.detector.upper()} keypoint was found on any of the "
                f"{len(descriptors)} crops, so no codebook can be fitted; check that the "
                "crops are not blank, or use a larger size"
            )

        pooled = np.concatenate(descriptors)
        sample = subsample(pooled, config.max_descriptors, config.random_state)
        if len(sample) < min(config.candidates):
            raise ValueError(
                f"the {len(descriptors)} crops gave only {len(sample)} "
                f"{config.detector.upper()} descriptors, fewer than the smallest codebook "
                f"size {min(config.candidates)}; use a smaller n_words or more crops"
            )

        codebook, n_words, scores = select_codebook(
            sample, config.encoding, config.candidates, config.random_state
        )
        self.codebook_ = codebook
        self.n_words_ = n_words
        self.criterion_scores_ = scores
        self.n_descriptors_ = len(sample)
        self._n_features_out = config.n_features_for(n_words)

        self.tfidf_ = None
        if config.tfidf:
            from sklearn.feature_extraction.text import TfidfTransformer

            counts = bovw_counts(codebook, descriptors)
            self.tfidf_ = TfidfTransformer(norm=config.norm, smooth_idf=True).fit(counts)

        logger.info(
            "%s %s codebook: %d words from %d descriptors of %d/%d crops",
            config.detector,
            config.encoding,
            n_words,
            len(sample),
            n_described,
            len(descriptors),
        )

    def _encode(self, descriptors: list[np.ndarray], config: LocalDescriptorConfig) -> np.ndarray:
        from sklearn.preprocessing import normalize

        if config.encoding == "fisher":
            features = fisher_vectors(self.codebook_, descriptors)
        elif self.tfidf_ is not None:
            features = self.tfidf_.transform(bovw_counts(self.codebook_, descriptors)).toarray()
        else:
            features = normalize(bovw_counts(self.codebook_, descriptors), norm=config.norm)

        lengths = np.array([len(block) for block in descriptors])
        self.empty_indices_ = np.flatnonzero(lengths == 0)
        self.n_empty_ = int(self.empty_indices_.size)
        if self.n_empty_:
            listed = ", ".join(map(str, self.empty_indices_[:MAX_INDICES_LOGGED]))
            more = ", ..." if self.n_empty_ > MAX_INDICES_LOGGED else ""
            logger.warning(
                "%d of %d crops have no %s keypoint; their %s rows are zero (indices %s%s)",
                self.n_empty_,
                len(descriptors),
                config.detector.upper(),
                config.encoding,
                listed,
                more,
            )
        return features.astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def describe_images(images: list[np.ndarray], config: LocalDescriptorConfig) -> list[np.ndarray]:
    """Return each crop's descriptors as a float32 ``(n_i, D)`` array, ``n_i`` possibly 0."""
    if config.detector == "sift":
        detector = cv2.SIFT_create(nfeatures=config.max_keypoints)
    else:
        detector = cv2.ORB_create(nfeatures=config.max_keypoints)

    descriptors = []
    for index, image in enumerate(images):
        try:
            descriptors.append(_describe(detector, image, config))
        except cv2.error as error:
            logger.warning(
                "image %d: %s failed (%s); the crop is treated as having no keypoints",
                index,
                config.detector.upper(),
                error,
            )
            descriptors.append(np.zeros((0, config.descriptor_dim), dtype=np.float32))
    return descriptors


def _describe(detector, image: np.ndarray, config: LocalDescriptorConfig) -> np.ndarray:
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    shrinking = gray.shape[0] * gray.shape[1] > config.size * config.size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    gray = cv2.resize(gray, (config.size, config.size), interpolation=interpolation)

    keypoints, raw = detector.detectAndCompute(gray, None)
    if raw is None or len(keypoints) == 0:
        return np.zeros((0, config.descriptor_dim), dtype=np.float32)

    # SIFT can return a few more than nfeatures keypoints (seen with OpenCV 4.14,
    # which keeps the extra orientations of a retained point), so cut to the
    # strongest max_keypoints here.
    if len(keypoints) > config.max_keypoints:
        order = np.argsort([-point.response for point in keypoints], kind="stable")
        raw = raw[order[: config.max_keypoints]]

    if config.detector == "orb":
        return np.unpackbits(raw, axis=1).astype(np.float32)

    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return (raw / np.maximum(norms, 1e-12)).astype(np.float32)


def _preset(class_name: str, detector: str, encoding: str) -> type[LocalDescriptorFeatures]:
    """Return a subclass of :class:`LocalDescriptorFeatures` with other defaults.

    Only the defaults of ``detector`` and ``encoding`` change. Both stay ordinary
    parameters, so ``get_params``, ``clone`` and pickling work as for the base class.
    """
    base_signature = inspect.signature(LocalDescriptorFeatures.__init__)
    defaults = {"detector": detector, "encoding": encoding}
    signature = base_signature.replace(
        parameters=[
            parameter.replace(default=defaults.get(parameter.name, parameter.default))
            for parameter in base_signature.parameters.values()
        ]
    )

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        LocalDescriptorFeatures.__init__(**bound.arguments)

    # scikit-learn reads the parameter names and defaults from this signature.
    __init__.__signature__ = signature
    __init__.__qualname__ = f"{class_name}.__init__"

    doc = (
        f"{LocalDescriptorFeatures.__name__} with detector={detector!r} and "
        f"encoding={encoding!r} by default.\n\n    See :class:`LocalDescriptorFeatures` "
        "for the parameters.\n    "
    )
    return type(
        class_name,
        (LocalDescriptorFeatures,),
        {"__init__": __init__, "__doc__": doc, "__module__": __name__},
    )


ORBBoVWFeatures = _preset("ORBBoVWFeatures", "orb", "bovw")
SIFTBoVWFeatures = _preset("SIFTBoVWFeatures", "sift", "bovw")
ORBFisherFeatures = _preset("ORBFisherFeatures", "orb", "fisher")
SIFTFisherFeatures = _preset("SIFTFisherFeatures", "sift", "fisher")
