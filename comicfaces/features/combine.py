"""Concatenation of several feature extractors, each block standardised and weighted."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_is_fitted

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_float, check_images

logger = logging.getLogger(__name__)

#: Registry name of :class:`ConcatFeatures`; a block may not use it.
CONCAT_NAME = "concat"

BLOCK_KEYS = ("name", "params", "weight")

#: Default blocks: HOG for shape and RGB histograms for colour, equally weighted.
DEFAULT_BLOCKS = (
    {"name": "hog", "params": {}, "weight": 1.0},
    {"name": "color_hist", "params": {}, "weight": 1.0},
)


def normalize_blocks(blocks) -> tuple[dict, ...]:
    """Validate a block list and return it with every key filled in.

    Parameters
    ----------
    blocks : sequence of mapping
        Each mapping has ``"name"`` (a registered extractor other than
        ``"concat"``), and optionally ``"params"`` (a JSON object of that
        extractor's parameters, default ``{}``) and ``"weight"`` (a finite
        number > 0, default 1.0).

    Returns
    -------
    tuple of dict
        Plain ``{"name", "params", "weight"}`` dicts, JSON serialisable.

    Raises
    ------
    ValueError
        If the list is empty or a block is invalid. A block is invalid when it is
        not a mapping or has an unknown key, an unknown or nested extractor name,
        an invalid weight, parameters that are not JSON serialisable, or
        parameters that the extractor rejects. The message names the block.
    """
    from comicfaces.features import FEATURES, make_features

    if isinstance(blocks, (str, bytes, Mapping)) or not isinstance(blocks, Sequence):
        raise ValueError(
            "blocks must be a list of mappings such as "
            f'[{{"name": "hog", "weight": 1.0}}], got {type(blocks).__name__}'
        )
    if not blocks:
        raise ValueError("blocks must contain at least one block, got an empty list")

    normalized = []
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        if not isinstance(block, Mapping):
            raise ValueError(
                f"{where} must be a mapping with keys {', '.join(BLOCK_KEYS)}, "
                f"got {type(block).__name__}"
            )

        unknown = sorted(set(block) - set(BLOCK_KEYS))
        if unknown:
            raise ValueError(
                f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys are {', '.join(BLOCK_KEYS)}"
            )
        if "name" not in block:
            raise ValueError(f"{where} is missing the extractor 'name'")

        name = block["name"]
        if name == CONCAT_NAME:
            raise ValueError(
                f"{where}: a 'concat' block cannot be nested; list its blocks directly"
            )
        if not isinstance(name, str) or name not in FEATURES:
            valid = ", ".join(sorted(set(FEATURES) - {CONCAT_NAME}))
            raise ValueError(
                f"{where}: unknown feature extractor {name!r}; valid names are: {valid}"
            )

        params = block.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(
                f"{where} ({name}): params must be a mapping of parameter names to values, "
                f"got {type(params).__name__}"
            )
        try:
            params = json.loads(json.dumps(dict(params)))
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{where} ({name}): params must be JSON serialisable "
                f"(numbers, strings, lists, mappings): {error}"
            ) from None

        weight = block.get("weight", 1.0)
        check_float(f"{where} ({name}) weight", weight, 0.0, include_minimum=False)

        try:
            make_features(name, **params)
        except ValueError as error:
            raise ValueError(f"{where} ({name}): {error}") from None

        normalized.append({"name": name, "params": params, "weight": float(weight)})
    return tuple(normalized)


@dataclass(frozen=True)
class ConcatConfig:
    """Parameters of :class:`ConcatFeatures`."""

    blocks: tuple[dict, ...] = DEFAULT_BLOCKS

    def validate(self) -> ConcatConfig:
        """Raise ``ValueError`` naming the first invalid block field; return self."""
        normalize_blocks(self.blocks)
        return self


class ConcatFeatures(ImageFeatureExtractor):
    """Several extractors side by side, each block standardised then weighted.

    Each block is an extractor from the registry. ``fit`` fits every block on the
    crops and a ``StandardScaler`` on its output. The standardised block is divided
    by the square root of its width, so every block has a total variance of 1
    whatever its length (less when some of its columns are constant). Multiplying by the
    weight then sets each block's share of the squared Euclidean distance. Without
    the division, a 1764-value HOG block would outweigh a 96-value colour
    histogram about 18 to 1.

    Parameters
    ----------
    blocks : list of dict, default=({"name": "hog", ...}, {"name": "color_hist", ...})
        One dict per block: ``"name"``, a registered extractor name (``"concat"``
        itself is rejected); ``"params"``, its parameters (default ``{}``);
        ``"weight"``, a number > 0 (default 1.0). The list must be JSON
        serialisable because the pipeline stores it in its configuration. The
        default is HOG and the RGB colour histogram, both with weight 1.0.

    Attributes
    ----------
    blocks_ : tuple of dict
        The validated blocks that were fitted, with every key filled in.
        ``transform`` uses these, not a later ``set_params(blocks=...)``.
    extractors_ : list of ImageFeatureExtractor
        The fitted extractor of each block.
    scalers_ : list of StandardScaler
        The fitted scaler of each block.
    block_slices_ : list of slice
        Columns of each block in the output.
    missing_mask_ : ndarray of bool, shape (n_images,)
        For the last ``transform`` (or ``fit_transform``) batch, True where any
        block has no value for the crop.
    n_missing_ : int
        Number of True entries of ``missing_mask_``.

    Notes
    -----
    A block can be undefined for a crop, such as a keypoint block
    (:class:`~comicfaces.features.local.LocalDescriptorFeatures`) for a crop
    without keypoints: the crop is listed in the block's ``empty_indices_``. The
    crop still gets a row. Its columns of that block are 0, the block's training
    mean after standardisation, and ``missing_mask_`` is True for it. The scaler
    of a block is fitted on the crops that block describes. To compare
    configurations only over faces that every block describes, drop the rows
    where ``missing_mask_`` is True before clustering or scoring. The mask is
    stored on the estimator, not in the returned matrix, so a caller that keeps
    only the matrix keeps those rows with zeros in place of the missing block.

    Each block's extractor runs once per call, so the cost is the sum of the
    blocks' costs plus O(n_images * n_features) for the scaling.
    """

    def __init__(self, blocks=DEFAULT_BLOCKS):
        self.blocks = blocks

    def get_config(self) -> ConcatConfig:
        """Return the parameters as a validated :class:`ConcatConfig`."""
        return ConcatConfig(blocks=normalize_blocks(self.blocks))

    def fit(self, X, y=None):
        """Fit every block's extractor and scaler on the crops.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit every block on the crops and return their weighted concatenation."""
        from sklearn.preprocessing import StandardScaler

        from comicfaces.features import make_features

        config = self.get_config()
        images = check_images(X)

        extractors, scalers, outputs, missing = [], [], [], []
        for block in config.blocks:
            extractor = make_features(block["name"], **block["params"])
            features = extractor.fit_transform(images)
            absent = _missing_rows(extractor, len(images))

            described = features[~absent]
            if len(described) == 0:
                raise ValueError(
                    f"block {block['name']!r} describes none of the {len(images)} crops, "
                    "so it cannot be standardised"
                )
            scaler = StandardScaler().fit(described)

            extractors.append(extractor)
            scalers.append(scaler)
            outputs.append(features)
            missing.append(absent)

        self.blocks_ = config.blocks
        self.extractors_ = extractors
        self.scalers_ = scalers
        self.block_slices_ = _slices([output.shape[1] for output in outputs])
        self._n_features_out = self.block_slices_[-1].stop
        return self._combine(outputs, missing)

    def transform(self, X) -> np.ndarray:
        """Compute every block on the crops and return their weighted concatenation.

        Sets ``missing_mask_`` and ``n_missing_`` for this batch.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.

        Returns
        -------
        ndarray of shape (n_images, n_features), dtype float32
        """
        check_is_fitted(self, "extractors_")
        images = check_images(X)

        outputs, missing = [], []
        for extractor in self.extractors_:
            outputs.append(extractor.transform(images))
            missing.append(_missing_rows(extractor, len(images)))
        return self._combine(outputs, missing)

    def _combine(self, outputs: list, missing: list) -> np.ndarray:
        n_images = outputs[0].shape[0]
        combined = np.empty((n_images, self._n_features_out), dtype=np.float32)

        for block, scaler, features, absent, columns in zip(
            self.blocks_, self.scalers_, outputs, missing, self.block_slices_
        ):
            scale = block["weight"] / math.sqrt(features.shape[1])
            scaled = scaler.transform(features) * scale
            scaled[absent] = 0.0
            combined[:, columns] = scaled

        self.missing_mask_ = np.logical_or.reduce(missing)
        self.n_missing_ = int(self.missing_mask_.sum())
        if self.n_missing_:
            logger.warning(
                "%d of %d crops lack at least one feature block; their rows are marked in "
                "missing_mask_",
                self.n_missing_,
                n_images,
            )
        return combined

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def _missing_rows(extractor, n_images: int) -> np.ndarray:
    """Return a boolean mask of the crops the extractor's last batch left undefined."""
    mask = np.zeros(n_images, dtype=bool)
    empty = getattr(extractor, "empty_indices_", None)
    if empty is not None:
        mask[np.asarray(empty, dtype=int)] = True
    return mask


def _slices(widths: list[int]) -> list[slice]:
    ends = np.cumsum(widths)
    return [slice(int(end - width), int(end)) for end, width in zip(ends, widths)]
