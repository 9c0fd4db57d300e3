"""Training pages from the corrected view of a reviewed run.

The corrected view of a run (:meth:`comicfaces.corrections.Corrections.apply`)
has one row per face box with ``rejected`` and ``added`` flags. A box that is
not rejected, whether the run detected it or a person added it by hand, is a
face. The rest of each page, rejected boxes included, is background, because
:func:`comicfaces.detect.train.train_detector` learns background wherever no
face box lies.

Whole pages are held out for measuring. :func:`plan_split` picks them from
the pages that have kept boxes. It needs only the view and the page names, so
the dashboard can state what a retraining would use before any page is read.
:func:`read_corrected_pages` reads the page files (members of CBZ archives
from their bytes), and :func:`decode_corrected_pages` decodes them into
:class:`~comicfaces.detect.train.TrainingPage` objects.
:func:`corrected_training_pages` does all three steps.

Boxes of the view are in original page pixels. Pages whose longer side
exceeds :data:`comicfaces.imageio.MAX_SIDE` are downscaled when decoded, and
their boxes are scaled with them.
"""

from __future__ import annotations

import logging
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces.annotations import PageTruth
from comicfaces.corrections import BOX_COLUMNS
from comicfaces.detect.base import Detections, is_integer, is_real
from comicfaces.detect.train import ProgressCallback, TrainingPage, _no_progress
from comicfaces.imageio import ImageLoadError, PageSource, decode_image, hash_bytes, natural_key

logger = logging.getLogger(__name__)

__all__ = [
    "CorrectedPage",
    "CorrectionPlan",
    "CorrectionSet",
    "VIEW_COLUMNS",
    "corrected_training_pages",
    "decode_corrected_pages",
    "kept_box_counts",
    "plan_split",
    "read_corrected_pages",
    "split_pages",
]

#: Columns a corrected view must have.
VIEW_COLUMNS = ("page", *BOX_COLUMNS, "rejected", "added", "score")


def _check_view(view: pd.DataFrame) -> None:
    if not isinstance(view, pd.DataFrame):
        raise ValueError(f"view must be a corrected view (a DataFrame from Corrections.apply), got {type(view).__name__}")
    missing = [column for column in VIEW_COLUMNS if column not in view]
    if missing:
        raise ValueError(
            f"the corrected view has no column(s) {', '.join(missing)}; pass the output of Corrections.apply "
            "for a run on pages"
        )


def _valid_boxes(frame: pd.DataFrame) -> np.ndarray:
    """Return the rows of ``frame`` whose boxes are finite and not empty, as a boolean mask."""
    boxes = frame[BOX_COLUMNS].to_numpy(dtype=np.float64)
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _kept_rows(view: pd.DataFrame) -> pd.DataFrame:
    kept = view[~view["rejected"].to_numpy(dtype=bool)]
    return kept[_valid_boxes(kept)]


def kept_box_counts(view: pd.DataFrame) -> dict[str, int]:
    """Count the kept boxes (not rejected, added faces included) of each page of a corrected view.

    Raises
    ------
    ValueError
        If ``view`` lacks a column of :data:`VIEW_COLUMNS`.
    """
    _check_view(view)
    counts = _kept_rows(view)["page"].astype(str).value_counts()
    return {str(page): int(count) for page, count in counts.items()}


def _check_share(held_out_share) -> None:
    if not is_real(held_out_share) or not 0.0 < held_out_share < 1.0:
        raise ValueError(
            f"held_out_share must be a number in (0, 1), the share of pages with kept boxes set aside for "
            f"measuring; got {held_out_share!r}"
        )


def split_pages(
    kept_counts: Mapping[str, int], held_out_share: float = 0.2, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split pages into training pages and held-out pages, whole pages only.

    Parameters
    ----------
    kept_counts : mapping of str to int
        Every page of the input with its number of kept boxes (0 for a page
        without faces).
    held_out_share : float
        Share of the pages with kept boxes that is held out, in ``(0, 1)``.
        It is rounded to a page count, at least 1 and at most one fewer than
        the pages with kept boxes, so both sides have faces.
    seed : int
        Seed of the choice.

    Returns
    -------
    train_pages, held_out_pages : list of str
        Page names in natural order. Pages without kept boxes are always
        training pages, where they teach background.

    Raises
    ------
    ValueError
        If ``held_out_share`` or ``seed`` is invalid, or fewer than 2 pages
        have kept boxes.

    Notes
    -----
    The split depends only on the set of page names, their counts and the
    seed, so the same corrections give the same split on every call.
    """
    _check_share(held_out_share)
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    pages = sorted((str(page) for page in kept_counts), key=natural_key)
    with_faces = [page for page in pages if kept_counts[page] > 0]
    if len(with_faces) < 2:
        raise ValueError(
            f"retraining needs at least 2 pages with kept face boxes (one to train on, one to measure on), but "
            f"{len(with_faces)} of the {len(pages)} page(s) have any; add the missed faces of more pages on the "
            "Review page, or add pages to the input"
        )
    n_held_out = min(len(with_faces) - 1, max(1, math.floor(held_out_share * len(with_faces) + 0.5)))
    chosen = np.random.default_rng(int(seed)).permutation(len(with_faces))[:n_held_out]
    held_out = {with_faces[index] for index in chosen}
    return [page for page in pages if page not in held_out], [page for page in pages if page in held_out]


@dataclass(frozen=True)
class CorrectionPlan:
    """Inputs of a retraining from corrections, known before any page is read.

    Attributes
    ----------
    pages : tuple of str
        Every page of the input, in natural order.
    kept : dict of str to int
        Kept boxes per page (added faces included), 0 for pages without any.
    n_kept, n_added, n_rejected : int
        Kept boxes, faces added by hand (they are kept too) and rejected boxes.
    train_pages, held_out_pages : tuple of str
        The split of :func:`split_pages`.
    """

    pages: tuple
    kept: dict
    n_kept: int
    n_added: int
    n_rejected: int
    train_pages: tuple
    held_out_pages: tuple

    @property
    def n_train_boxes(self) -> int:
        """Kept boxes on the training pages."""
        return sum(self.kept[page] for page in self.train_pages)

    @property
    def n_held_out_boxes(self) -> int:
        """Kept boxes on the held-out pages: the faces the benchmark counts."""
        return sum(self.kept[page] for page in self.held_out_pages)


def plan_split(
    view: pd.DataFrame, page_ids: Sequence[str], held_out_share: float = 0.2, seed: int = 0
) -> CorrectionPlan:
    """Count the kept, added and rejected boxes of a corrected view and split its pages.

    Parameters
    ----------
    view : DataFrame
        Corrected view of a run on pages, with the columns :data:`VIEW_COLUMNS`.
    page_ids : sequence of str
        Every page of the run's input (``PageSource.page_id``), including
        pages on which nothing was detected.
    held_out_share, seed
        See :func:`split_pages`.

    Raises
    ------
    ValueError
        If the view lacks a column, a box lies on a page not in ``page_ids``,
        or the split is impossible (see :func:`split_pages`).
    """
    _check_view(view)
    pages = sorted(dict.fromkeys(str(page) for page in page_ids), key=natural_key)
    unknown = sorted(set(view["page"].astype(str)) - set(pages), key=natural_key)
    if unknown:
        raise ValueError(
            f"the corrected view has boxes on {len(unknown)} page(s) that are not among the {len(pages)} pages of "
            f"the input, e.g. {unknown[:3]}; the input changed since the run, so run it again"
        )
    counts = kept_box_counts(view)
    kept = {page: counts.get(page, 0) for page in pages}
    train, held_out = split_pages(kept, held_out_share, seed)
    rejected = view["rejected"].to_numpy(dtype=bool)
    added = view["added"].to_numpy(dtype=bool)
    return CorrectionPlan(
        pages=tuple(pages),
        kept=kept,
        n_kept=sum(kept.values()),
        n_added=int((added & ~rejected & _valid_boxes(view)).sum()),
        n_rejected=int(rejected.sum()),
        train_pages=tuple(train),
        held_out_pages=tuple(held_out),
    )


@dataclass(frozen=True, eq=False)
class CorrectedPage:
    """One page of the input, read for retraining, with its boxes in original page pixels.

    Attributes
    ----------
    page_id : str
    source : PageSource
    digest : str
        SHA-256 of the page file (empty when it could not be read).
    data : bytes or None
        The page file; None when it could not be read.
    kept : ndarray of shape (n, 4)
        Kept boxes: faces to learn and to find.
    detections : Detections
        The run's own boxes on the page (rows not added by hand, rejected
        ones included), with their scores and detector names.
    """

    page_id: str
    source: PageSource
    digest: str
    data: bytes | None
    kept: np.ndarray
    detections: Detections = field(default_factory=Detections.empty)


def _page_boxes(view: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Detections]]:
    kept_rows = _kept_rows(view)
    kept = {
        str(page): group[BOX_COLUMNS].to_numpy(dtype=np.float64)
        for page, group in kept_rows.groupby(kept_rows["page"].astype(str), sort=False)
    }
    detected_rows = view[~view["added"].to_numpy(dtype=bool)]
    detected_rows = detected_rows[_valid_boxes(detected_rows)]
    detections = {}
    for page, group in detected_rows.groupby(detected_rows["page"].astype(str), sort=False):
        scores = np.nan_to_num(group["score"].to_numpy(dtype=np.float64), nan=0.0)
        names = group["detector"].astype(str).to_numpy() if "detector" in group else np.full(len(group), "run")
        detections[str(page)] = Detections(group[BOX_COLUMNS].to_numpy(dtype=np.float64), scores, names)
    return kept, detections


def read_corrected_pages(
    view: pd.DataFrame, pages: Sequence[PageSource], progress: ProgressCallback | None = None
) -> list[CorrectedPage]:
    """Read every page file of the input and attach the view's boxes to it.

    Parameters
    ----------
    view : DataFrame
        Corrected view with the columns :data:`VIEW_COLUMNS`.
    pages : sequence of PageSource
        The run's pages (:func:`comicfaces.imageio.list_pages` of
        ``record["input"]["path"]``).
    progress : callable, optional
        ``progress("reading pages", done, total)`` after each page.

    Returns
    -------
    list of CorrectedPage
        In natural order of the page names.

    Raises
    ------
    ImageLoadError
        If a page with kept boxes cannot be read. A page without kept boxes
        that cannot be read is logged and returned with ``data=None``.
    """
    _check_view(view)
    progress = progress or _no_progress
    kept, detections = _page_boxes(view)
    ordered = sorted(pages, key=lambda page: natural_key(page.page_id))
    result = []
    for index, source in enumerate(ordered):
        boxes = kept.get(source.page_id, np.zeros((0, 4)))
        try:
            data = source.read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile) as error:
            if len(boxes):
                raise ImageLoadError(f"{source.page_id}: could not read the page file ({error})") from error
            logger.warning("page %s has no kept face and cannot be read, so it is left out: %s", source.page_id, error)
            data = None
        result.append(
            CorrectedPage(
                page_id=source.page_id,
                source=source,
                digest=hash_bytes(data) if data is not None else "",
                data=data,
                kept=boxes,
                detections=detections.get(source.page_id, Detections.empty()),
            )
        )
        progress("reading pages", index + 1, len(ordered))
    return result


@dataclass(frozen=True, eq=False)
class CorrectionSet:
    """Decoded pages for one retraining.

    Attributes
    ----------
    plan : CorrectionPlan
    train : list of TrainingPage
        Training pages, their images decoded into RGB arrays.
    held_out : list of TrainingPage
        Held-out pages; they give the validation loss.
    truth : dict of str to PageTruth
        Kept boxes of each held-out page, scaled to its decoded image.
    before : dict of str to Detections
        The run's own boxes on each held-out page, scaled the same way.
    skipped : list of str
        Pages without kept boxes left out because they could not be decoded.
    """

    plan: CorrectionPlan
    train: list
    held_out: list
    truth: dict
    before: dict
    skipped: list


def _scaled(detections: Detections, scale: float) -> Detections:
    return Detections(detections.boxes * scale, detections.scores, detections.detectors)


def decode_corrected_pages(
    read: Sequence[CorrectedPage], plan: CorrectionPlan, progress: ProgressCallback | None = None
) -> CorrectionSet:
    """Decode the pages read by :func:`read_corrected_pages` into training and held-out pages.

    Raises
    ------
    ImageLoadError
        If a page with kept boxes cannot be decoded. Pages without kept boxes
        that cannot be decoded are logged and listed in ``skipped``.
    """
    progress = progress or _no_progress
    held_out_ids = set(plan.held_out_pages)
    train, held_out, truth, before, skipped = [], [], {}, {}, []
    for index, page in enumerate(read):
        try:
            if page.data is None:
                raise ImageLoadError(f"{page.page_id}: the page file could not be read")
            image, scale = decode_image(page.data, page.page_id)
        except ImageLoadError as error:
            if len(page.kept):
                raise
            logger.warning("page %s has no kept face and cannot be decoded, so it is left out: %s", page.page_id, error)
            skipped.append(page.page_id)
        else:
            boxes = page.kept * scale
            training_page = TrainingPage(image, boxes, None, page.page_id)
            if page.page_id in held_out_ids:
                held_out.append(training_page)
                truth[page.page_id] = _page_truth(page, image, boxes, len(held_out))
                before[page.page_id] = _scaled(page.detections, scale)
            else:
                train.append(training_page)
        progress("decoding pages", index + 1, len(read))
    return CorrectionSet(plan, train, held_out, truth, before, skipped)


def _page_truth(page: CorrectedPage, image: np.ndarray, boxes: np.ndarray, image_id: int) -> PageTruth:
    n = len(boxes)
    return PageTruth(
        file_name=page.page_id,
        path=Path(page.source.path),
        image_id=image_id,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        boxes=boxes,
        identities=(None,) * n,
        ignore=np.zeros(n, dtype=bool),
        annotation_ids=np.arange(1, n + 1),
        notes=("",) * n,
    )


def corrected_training_pages(
    view: pd.DataFrame,
    pages: Sequence[PageSource],
    held_out_share: float = 0.2,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> CorrectionSet:
    """Turn a corrected view and the run's pages into training and held-out pages.

    Parameters
    ----------
    view : DataFrame
        Corrected view (:meth:`comicfaces.corrections.Corrections.apply`) of
        a run on pages.
    pages : sequence of PageSource
        Every page of the run's input, such as
        ``comicfaces.imageio.list_pages(record["input"]["path"])``.
    held_out_share, seed
        See :func:`split_pages`.
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"reading pages"`` and
        ``"decoding pages"``.

    Returns
    -------
    CorrectionSet

    Raises
    ------
    ValueError
        If the view lacks a column, has boxes on pages not in ``pages``, or
        fewer than 2 pages have kept boxes.
    ImageLoadError
        If a page with kept boxes cannot be read.

    Notes
    -----
    Every page is decoded into memory, about 4 MB for a 1000x1400 page.
    Boxes left unreviewed count as faces, and faces the run missed that were
    not added by hand are learnt as background.
    """
    plan = plan_split(view, [page.page_id for page in pages], held_out_share, seed)
    read = read_corrected_pages(view, pages, progress)
    return decode_corrected_pages(read, plan, progress)
