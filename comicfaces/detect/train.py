"""Training the package's own face detector (:mod:`comicfaces.nn.centernet`) on annotated pages.

Training pages come from COCO face annotations
(:func:`comicfaces.annotations.load_face_annotations`), from the demo
generator (:func:`comicfaces.demo.generate_demo` writes COCO truth beside its
pages) or from arrays built in code, as :class:`TrainingPage` objects.
Regular boxes are positives. Ignored boxes are masked out of the heatmap loss,
so the network is neither rewarded nor punished there.

Each training sample is a random square crop of a page, scaled around the
inference scale, possibly flipped and colour-jittered (numpy and OpenCV, no
torch data pipeline). The trained model is written as a state dict
(``detector.pt``, loaded with ``weights_only=True``) and a JSON file
(``detector.json``) that records the architecture, the inference scale, the
training parameters and the loss history.

The module imports torch only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comicfaces.annotations import PageTruth, load_face_annotations
from comicfaces.boxes import as_boxes
from comicfaces.detect.base import is_integer, is_real

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_CONFIG_NAME",
    "MODEL_FORMAT",
    "MODEL_WEIGHTS_NAME",
    "DetectorTrainingConfig",
    "TrainingPage",
    "TrainingResult",
    "augment_sample",
    "load_trained_model",
    "read_model_config",
    "resolve_model_files",
    "training_pages",
    "train_detector",
]

#: File names of a saved model inside its folder.
MODEL_WEIGHTS_NAME = "detector.pt"
MODEL_CONFIG_NAME = "detector.json"

#: ``format`` value of the JSON file; a loader rejects other values.
MODEL_FORMAT = "comicfaces-centernet-v1"

#: Grey level of padding around crops that extend past the page: white, like page margins.
PAD_VALUE = 255

#: A face cut by the crop edge stays a positive when at least this share of its area is inside.
MIN_VISIBLE_FRACTION = 0.5

#: Faces whose shorter side is below this many input pixels after scaling are masked, not learnt.
MIN_FACE_SIDE = 4.0

#: Share of crops placed around a randomly chosen face rather than anywhere on the page.
FACE_CENTRED_CROPS = 0.7

#: ``progress(stage, done, total)``, the callback type of :mod:`comicfaces.pipeline`.
ProgressCallback = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True, eq=False)
class TrainingPage:
    """One annotated page for training.

    Attributes
    ----------
    image : str, Path or ndarray
        Image file, or an RGB uint8 array of shape (H, W, 3).
    boxes : ndarray of shape (n, 4)
        Face boxes ``(x0, y0, x1, y1)`` in page pixels.
    ignore : ndarray of shape (n,) or None
        True for boxes left out of the loss; None marks no box as ignored.
    name : str
        Label used in log messages.
    """

    image: Any
    boxes: np.ndarray
    ignore: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        boxes = as_boxes(self.boxes)
        ignore = np.zeros(len(boxes), dtype=bool) if self.ignore is None else np.asarray(self.ignore, dtype=bool).reshape(-1)
        if len(ignore) != len(boxes):
            raise ValueError(f"TrainingPage {self.name!r}: {len(boxes)} boxes but {len(ignore)} ignore flags")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "ignore", ignore)

    @classmethod
    def from_truth(cls, page: PageTruth) -> TrainingPage:
        """Build a training page from annotated truth; the image is read when training starts."""
        return cls(page.path, page.boxes, page.ignore, page.file_name)

    def load(self) -> np.ndarray:
        """Return the page as an RGB uint8 array.

        Raises
        ------
        comicfaces.imageio.ImageLoadError
            If the image file cannot be read.
        ValueError
            If an array image is not RGB uint8.
        """
        from comicfaces.detect.base import check_image
        from comicfaces.imageio import load_image

        if isinstance(self.image, np.ndarray):
            return check_image(self.image)
        return load_image(self.image)


def training_pages(annotation_file: str | os.PathLike, root=None, names: Sequence[str] | None = None) -> list[TrainingPage]:
    """Read COCO face annotations into training pages.

    Parameters
    ----------
    annotation_file : path
        COCO JSON file readable by :func:`comicfaces.annotations.load_face_annotations`.
    root : path, optional
        Folder that the ``file_name`` values are relative to; see that function.
    names : sequence of str, optional
        Keep only these ``file_name`` values, in this order.

    Raises
    ------
    KeyError
        If a name in ``names`` is not in the file.
    """
    truth = load_face_annotations(annotation_file, root=root)
    if names is None:
        return [TrainingPage.from_truth(page) for page in truth.values()]
    missing = [name for name in names if name not in truth]
    if missing:
        raise KeyError(f"{annotation_file}: no page named {missing[:3]} ({len(missing)} missing)")
    return [TrainingPage.from_truth(truth[name]) for name in names]


def _as_training_pages(pages, field_name: str) -> list[TrainingPage]:
    if isinstance(pages, Mapping):
        pages = list(pages.values())
    if isinstance(pages, (str, bytes)) or not isinstance(pages, Sequence):
        raise ValueError(f"{field_name} must be a sequence of TrainingPage or PageTruth, got {type(pages).__name__}")
    converted = []
    for index, page in enumerate(pages):
        if isinstance(page, TrainingPage):
            converted.append(page)
        elif isinstance(page, PageTruth):
            converted.append(TrainingPage.from_truth(page))
        else:
            raise ValueError(f"{field_name}[{index}] must be a TrainingPage or PageTruth, got {type(page).__name__}")
    return converted


@dataclass(frozen=True)
class DetectorTrainingConfig:
    """Parameters of :func:`train_detector`.

    Attributes
    ----------
    epochs : int
        Passes over the training pages, in ``[1, 10000]``.
    batch_size : int
        Crops per optimiser step, in ``[1, 256]``.
    lr : float
        Peak learning rate of AdamW, in ``(0, 1]``. It rises linearly over the
        first 5 % of the steps and then decays along a cosine to 0.
    image_size : int
        Side of the square training crops in pixels, a multiple of 32 in ``[64, 2048]``.
    seed : int
        Seed of the crop sampling, the augmentation and torch's initialisation.
    max_side : int
        Inference scale: pages are resized so their longer side has this many
        pixels, in ``[128, 8192]``. Training crops are sampled around the
        same scale, so it is stored with the model.
    scale_range : tuple of float
        Training crops are scaled by ``max_side / longer side`` times a
        factor drawn log-uniformly from this range; ``0.1 <= low <= high <= 4``.
    crops_per_page : int
        Random crops taken from each page per epoch, in ``[1, 1000]``.
    output_stride, neck_channels, head_channels, frozen_blocks
        Architecture; see :class:`comicfaces.nn.centernet.CenterNetConfig`.
    weight_decay : float
        AdamW weight decay, in ``[0, 1]``.
    pretrained : bool
        Start from the ImageNet EfficientNet-Lite0 weights. False is for tests.
    device : str
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    num_threads : int or None
        torch CPU threads during training, or None to leave torch's setting.
    init_from : str or None
        A model folder written by :func:`train_detector` to start from
        (fine-tuning), instead of the ImageNet backbone and a new head. Its
        architecture must equal this configuration's; ``pretrained`` is then
        unused.
    """

    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    image_size: int = 320
    seed: int = 0
    max_side: int = 1024
    scale_range: tuple[float, float] = (0.6, 1.5)
    crops_per_page: int = 4
    output_stride: int = 8
    neck_channels: int = 64
    head_channels: int = 64
    frozen_blocks: int = 5
    weight_decay: float = 1e-4
    pretrained: bool = True
    device: str = "auto"
    num_threads: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.scale_range, list):
            object.__setattr__(self, "scale_range", tuple(self.scale_range))
        if isinstance(self.init_from, os.PathLike):
            object.__setattr__(self, "init_from", os.fspath(self.init_from))

    def architecture(self):
        """Return the :class:`~comicfaces.nn.centernet.CenterNetConfig` of these parameters."""
        from comicfaces.nn.centernet import CenterNetConfig

        return CenterNetConfig(
            output_stride=self.output_stride,
            neck_channels=self.neck_channels,
            head_channels=self.head_channels,
            frozen_blocks=self.frozen_blocks,
        )

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field, its value and the allowed range."""
        from comicfaces.nn.device import check_device

        def integer(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if not is_integer(value) or not low <= value <= high:
                raise ValueError(f"DetectorTrainingConfig.{name} must be an integer in [{low}, {high}], got {value!r}")

        integer("epochs", 1, 10000)
        integer("batch_size", 1, 256)
        if not is_real(self.lr) or not 0.0 < self.lr <= 1.0:
            raise ValueError(f"DetectorTrainingConfig.lr must be a number in (0, 1], got {self.lr!r}")
        integer("image_size", 64, 2048)
        if self.image_size % 32:
            raise ValueError(f"DetectorTrainingConfig.image_size must be a multiple of 32, got {self.image_size!r}")
        if not is_integer(self.seed):
            raise ValueError(f"DetectorTrainingConfig.seed must be an integer, got {self.seed!r}")
        integer("max_side", 128, 8192)
        scale_range = self.scale_range
        if (
            not isinstance(scale_range, tuple)
            or len(scale_range) != 2
            or not all(is_real(v) for v in scale_range)
            or not 0.1 <= scale_range[0] <= scale_range[1] <= 4.0
        ):
            raise ValueError(
                f"DetectorTrainingConfig.scale_range must be two numbers (low, high) with "
                f"0.1 <= low <= high <= 4, got {scale_range!r}"
            )
        integer("crops_per_page", 1, 1000)
        if self.weight_decay is None or not is_real(self.weight_decay) or not 0.0 <= self.weight_decay <= 1.0:
            raise ValueError(f"DetectorTrainingConfig.weight_decay must be a number in [0, 1], got {self.weight_decay!r}")
        if not isinstance(self.pretrained, bool):
            raise ValueError(f"DetectorTrainingConfig.pretrained must be True or False, got {self.pretrained!r}")
        check_device("DetectorTrainingConfig.device", self.device)
        if self.num_threads is not None:
            integer("num_threads", 1, 1024)
        try:
            self.architecture().validate()
        except ValueError as error:
            raise ValueError(str(error).replace("CenterNetConfig.", "DetectorTrainingConfig.")) from None
        if self.init_from is not None:
            self._check_init_from()

    def _check_init_from(self) -> None:
        if not isinstance(self.init_from, str) or not self.init_from:
            raise ValueError(f"DetectorTrainingConfig.init_from must be None or a model folder, got {self.init_from!r}")
        if not Path(self.init_from).expanduser().exists():
            raise ValueError(f"DetectorTrainingConfig.init_from: model folder not found: {self.init_from}")
        try:
            saved = read_model_config(self.init_from)["architecture"]
        except (FileNotFoundError, ValueError) as error:
            raise ValueError(f"DetectorTrainingConfig.init_from: {error}") from None
        expected = self.architecture().to_dict()
        differing = sorted(key for key in expected if saved.get(key) != expected[key])
        if differing:
            details = ", ".join(f"{key} {saved.get(key)!r} there, {expected[key]!r} here" for key in differing)
            raise ValueError(
                f"DetectorTrainingConfig.init_from: the model in {self.init_from} has another architecture ({details}); "
                "train with the same output_stride, neck_channels, head_channels and frozen_blocks"
            )


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of :func:`train_detector`.

    Attributes
    ----------
    history : list of dict
        One record per epoch: ``epoch``, ``train_loss`` and its parts
        ``train_heatmap``, ``train_size``, ``train_offset``, ``val_loss`` (NaN
        without validation pages), ``lr`` at the epoch's end and ``seconds``.
    model_path : Path
        Folder holding ``detector.pt`` and ``detector.json``; pass it to
        :class:`comicfaces.detect.trained.TrainedDetector`.
    """

    history: list[dict] = field(default_factory=list)
    model_path: Path = Path()


def augment_sample(
    image: np.ndarray,
    boxes: np.ndarray,
    ignore: np.ndarray,
    image_size: int,
    base_scale: float,
    scale_range: tuple[float, float],
    rng: np.random.Generator,
    jitter: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one random square training crop from a page.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3)
        RGB uint8 page.
    boxes : ndarray of shape (n, 4)
        Face boxes in page pixels.
    ignore : ndarray of shape (n,)
        Ignore flags of the boxes.
    image_size : int
        Side of the crop in pixels.
    base_scale : float
        Page scale at inference (``max_side / longer side``).
    scale_range : (low, high)
        The crop scale is ``base_scale`` times a log-uniform factor from this range.
    rng : numpy.random.Generator
    jitter : bool
        Flip horizontally half of the time and jitter brightness, contrast and
        saturation. False gives geometry-only crops (validation).

    Returns
    -------
    crop : ndarray of shape (image_size, image_size, 3), uint8
    boxes : ndarray of shape (m, 4)
        Boxes in crop pixels, clipped to the crop.
    ignore : ndarray of shape (m,)
        Ignore flags. Faces with less than half of their area inside the crop,
        and faces whose shorter side is under 4 px after scaling, become ignored.
    """
    import cv2

    height, width = image.shape[:2]
    low, high = scale_range
    scale = base_scale * math.exp(rng.uniform(math.log(low), math.log(high)))
    window = image_size / scale

    # Crop origin in page pixels: around a random regular face, or anywhere.
    regular = np.flatnonzero(~ignore)
    if len(regular) and rng.random() < FACE_CENTRED_CROPS:
        x0, y0, x1, y1 = boxes[rng.choice(regular)]
        left = (x0 + x1) / 2 - rng.uniform(0.15, 0.85) * window
        top = (y0 + y1) / 2 - rng.uniform(0.15, 0.85) * window
    else:
        left = rng.uniform(min(0.0, width - window), max(0.0, width - window))
        top = rng.uniform(min(0.0, height - window), max(0.0, height - window))

    flip = jitter and rng.random() < 0.5
    # Page -> crop: x' = scale * (x - left), mirrored when flipped.
    if flip:
        matrix = np.array([[-scale, 0.0, scale * (left + window)], [0.0, scale, -scale * top]])
    else:
        matrix = np.array([[scale, 0.0, -scale * left], [0.0, scale, -scale * top]])
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        image,
        matrix,
        (image_size, image_size),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
    )

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xs = boxes[:, [0, 2]] * matrix[0, 0] + matrix[0, 2]
    ys = boxes[:, [1, 3]] * matrix[1, 1] + matrix[1, 2]
    moved = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    clipped = np.clip(moved, 0, image_size)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    visible_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = visible_area > 0
    visible = np.where(area > 0, visible_area / np.maximum(area, 1e-9), 0.0)
    short_side = np.minimum(clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1])
    new_ignore = np.asarray(ignore, dtype=bool) | (visible < MIN_VISIBLE_FRACTION) | (short_side < MIN_FACE_SIDE)
    # A masked region stays the whole face, so a half-visible face is never a negative.
    out_boxes = np.where(new_ignore[:, None], moved, clipped)

    if jitter:
        crop = _jitter_colours(crop, rng)
    return np.ascontiguousarray(crop), out_boxes[keep], new_ignore[keep]


def _jitter_colours(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pixels = crop.astype(np.float32)
    if rng.random() < 0.15:
        # Many comics are printed or scanned in black and white.
        grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.repeat(grey[..., None], 3, axis=2)
    else:
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * rng.uniform(0.6, 1.4)
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(0.75, 1.25) + mean + rng.uniform(-25, 25)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _to_tensor(crops: list[np.ndarray], device):
    import torch

    from comicfaces.nn.preprocess import to_network_input

    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    return to_network_input(batch, device)


def _sample_batch(pages, images, indices, config: DetectorTrainingConfig, rng, jitter: bool):
    crops, boxes, ignores = [], [], []
    for index in indices:
        page, image = pages[index], images[index]
        base_scale = config.max_side / max(image.shape[:2])
        crop, crop_boxes, crop_ignore = augment_sample(
            image, page.boxes, page.ignore, config.image_size, base_scale, config.scale_range, rng, jitter=jitter
        )
        crops.append(crop)
        boxes.append(crop_boxes)
        ignores.append(crop_ignore)
    return crops, boxes, ignores


def train_detector(
    train_pages,
    val_pages=(),
    out_dir: str | os.PathLike = "trained_detector",
    epochs: int = 30,
    batch_size: int = 8,
    lr: float = 2e-3,
    image_size: int = 320,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options,
) -> TrainingResult:
    """Train a CenterNet face detector and save it in ``out_dir``.

    Parameters
    ----------
    train_pages : sequence of TrainingPage or PageTruth, or mapping of name to PageTruth
        Annotated pages to learn from; at least one.
    val_pages : same types, optional
        Pages whose loss is reported after every epoch (the same crops every
        time, without colour jitter or flips). They do not change the model.
    out_dir : path
        Folder that receives ``detector.pt`` and ``detector.json``; created if
        needed, and files of an earlier model there are replaced.
    epochs, batch_size, lr, image_size, seed
        See :class:`DetectorTrainingConfig`.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"train"`` after every
        optimiser step and ``"validate"`` after every validation batch.
    **options
        Further fields of :class:`DetectorTrainingConfig` (``max_side``,
        ``output_stride``, ``frozen_blocks``, ``device``, ...).

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        For an invalid parameter (the message names it), an unknown option,
        or a page list that is empty or contains another type.
    comicfaces.imageio.ImageLoadError
        If a page image cannot be read.

    Notes
    -----
    All pages are decoded into memory first (about 4 MB per 1000x1400 page).
    The stem and the first ``frozen_blocks`` backbone blocks are frozen. On a
    2-core CPU, a step of 8 crops of 320x320 (output stride 8, 5 frozen
    blocks) takes about 0.8 s on an otherwise idle machine and 1 to 5 s
    beside other jobs. In ``benchmarks/train_detector.py`` 20 epochs over 55
    pages (560 steps) took 17 minutes on the shared machine.
    ``device="auto"`` uses a CUDA GPU when torch finds one.
    """
    import torch

    from comicfaces.nn.backbones import build_efficientnet_lite0
    from comicfaces.nn.centernet import CenterNet, centernet_loss, encode_targets
    from comicfaces.nn.device import resolve_device
    from comicfaces.nn.training import seeded, warmup_cosine_schedule

    known = {f.name for f in dataclasses.fields(DetectorTrainingConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"train_detector: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(known))}")
    config = DetectorTrainingConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, image_size=image_size, seed=seed, **options
    )
    config.validate()
    train_list = _as_training_pages(train_pages, "train_pages")
    val_list = _as_training_pages(val_pages, "val_pages")
    if not train_list:
        raise ValueError("train_pages is empty: give at least one annotated page")
    progress = progress or _no_progress
    out_dir = Path(out_dir)

    train_images = [page.load() for page in train_list]
    val_images = [page.load() for page in val_list]
    device = resolve_device(config.device)
    previous_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)

    rng = np.random.default_rng(config.seed)
    architecture = config.architecture()
    history: list[dict] = []
    try:
        with seeded(int(config.seed), device):
            if config.init_from is None:
                model = CenterNet(build_efficientnet_lite0(pretrained=config.pretrained), architecture).to(device)
            else:
                logger.info("fine-tuning the face detector in %s", config.init_from)
                model, _ = load_trained_model(config.init_from, device=str(device))
                model.train()
            parameters = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
            steps_per_epoch = math.ceil(len(train_list) * config.crops_per_page / config.batch_size)
            total_steps = steps_per_epoch * config.epochs
            scheduler = warmup_cosine_schedule(optimizer, max(1, total_steps // 20), total_steps)
            input_size = (config.image_size, config.image_size)

            # Fixed validation crops: one geometry-only crop per page and crop slot.
            val_rng = np.random.default_rng(config.seed + 1)
            val_order = [i for i in range(len(val_list)) for _ in range(config.crops_per_page)]
            val_batches = [
                _sample_batch(val_list, val_images, val_order[start : start + config.batch_size], config, val_rng, False)
                for start in range(0, len(val_order), config.batch_size)
            ]

            step = 0
            logger.info(
                "training the face detector on %d pages (%d validation) for %d epochs of %d steps on %s",
                len(train_list), len(val_list), config.epochs, steps_per_epoch, device,
            )
            for epoch in range(config.epochs):
                started = time.perf_counter()
                model.train()
                order = np.concatenate([rng.permutation(len(train_list)) for _ in range(config.crops_per_page)])
                sums = {"loss": 0.0, "heatmap": 0.0, "size": 0.0, "offset": 0.0}
                for batch_index in range(steps_per_epoch):
                    indices = order[batch_index * config.batch_size : (batch_index + 1) * config.batch_size]
                    crops, boxes, ignores = _sample_batch(train_list, train_images, indices, config, rng, True)
                    inputs = _to_tensor(crops, device)
                    targets = encode_targets(boxes, ignores, input_size, config.output_stride).to(device)
                    loss, parts = centernet_loss(model(inputs), targets)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"training loss became {float(loss)} at epoch {epoch + 1}, step {batch_index + 1}; "
                            f"lower lr (now {config.lr})"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, max_norm=10.0)
                    optimizer.step()
                    scheduler.step()
                    step += 1
                    sums["loss"] += float(loss.detach())
                    for name, value in parts.items():
                        sums[name] += value
                    progress("train", step, total_steps)

                val_loss = _validation_loss(model, val_batches, input_size, config, device, progress)
                record = {
                    "epoch": epoch + 1,
                    "train_loss": sums["loss"] / steps_per_epoch,
                    "train_heatmap": sums["heatmap"] / steps_per_epoch,
                    "train_size": sums["size"] / steps_per_epoch,
                    "train_offset": sums["offset"] / steps_per_epoch,
                    "val_loss": val_loss,
                    "lr": float(scheduler.get_last_lr()[0]),
                    "seconds": time.perf_counter() - started,
                }
                history.append(record)
                logger.info(
                    "epoch %d/%d: train loss %.4f, validation loss %.4f, %.1f s",
                    epoch + 1, config.epochs, record["train_loss"], val_loss, record["seconds"],
                )
    finally:
        torch.set_num_threads(previous_threads)

    model_path = _save_model(model, config, history, out_dir, n_train=len(train_list), n_val=len(val_list))
    return TrainingResult(history=history, model_path=model_path)


def _validation_loss(model, val_batches, input_size, config, device, progress) -> float:
    import torch

    from comicfaces.nn.centernet import centernet_loss, encode_targets

    if not val_batches:
        return float("nan")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for index, (crops, boxes, ignores) in enumerate(val_batches):
            targets = encode_targets(boxes, ignores, input_size, config.output_stride).to(device)
            loss, _ = centernet_loss(model(_to_tensor(crops, device)), targets)
            total += float(loss) * len(crops)
            count += len(crops)
            progress("validate", index + 1, len(val_batches))
    return total / count


def _save_model(model, config: DetectorTrainingConfig, history, out_dir: Path, n_train: int, n_val: int) -> Path:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    document = {
        "format": MODEL_FORMAT,
        "architecture": config.architecture().to_dict(),
        "max_side": config.max_side,
        "input_normalisation": "imagenet",
        "training": {
            **dataclasses.asdict(config),
            "n_train_pages": n_train,
            "n_val_pages": n_val,
            "torch_version": torch.__version__,
        },
        # JSON has no NaN, so a missing validation loss is written as null.
        "history": [
            {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in record.items()}
            for record in history
        ],
    }

    # Write both files under temporary names first, so a crash leaves the old model whole.
    weights = out_dir / MODEL_WEIGHTS_NAME
    meta = out_dir / MODEL_CONFIG_NAME
    torch.save(state, weights.with_suffix(".pt.tmp"))
    meta.with_suffix(".json.tmp").write_text(json.dumps(document, indent=2, default=_json_default, allow_nan=False), encoding="utf-8")
    os.replace(weights.with_suffix(".pt.tmp"), weights)
    os.replace(meta.with_suffix(".json.tmp"), meta)
    logger.info("saved the face detector to %s", out_dir)
    return out_dir


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def resolve_model_files(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """Return the weights file and the JSON file of a saved model.

    ``model_path`` is the model folder, its ``detector.pt`` or its
    ``detector.json``; the other file must lie beside it.

    Raises
    ------
    FileNotFoundError
        If either file is missing; the message names the path.
    """
    path = Path(model_path).expanduser()
    is_file_name = path.name in (MODEL_WEIGHTS_NAME, MODEL_CONFIG_NAME) and not path.is_dir()
    folder = path.parent if is_file_name else path
    weights, meta = folder / MODEL_WEIGHTS_NAME, folder / MODEL_CONFIG_NAME
    for required in (weights, meta):
        if not required.is_file():
            raise FileNotFoundError(
                f"trained face detector file not found: {required}; model_path must be a folder written by "
                f"train_detector (containing {MODEL_WEIGHTS_NAME} and {MODEL_CONFIG_NAME})"
            )
    return weights, meta


def read_model_config(model_path: str | os.PathLike) -> dict:
    """Read and check the JSON file of a saved model.

    Raises
    ------
    FileNotFoundError
        If a model file is missing.
    ValueError
        If the JSON is invalid or was not written by :func:`train_detector`.
    """
    from comicfaces.nn.centernet import CenterNetConfig

    _, meta = resolve_model_files(model_path)
    try:
        document = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{meta}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{meta}: format is {found!r}, expected {MODEL_FORMAT!r}; the file was not written by train_detector")
    try:
        architecture = CenterNetConfig(**document["architecture"])
        architecture.validate()
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{meta}: invalid 'architecture' entry ({error})") from error
    max_side = document.get("max_side")
    if not is_integer(max_side) or max_side < 32:
        raise ValueError(f"{meta}: 'max_side' must be an integer >= 32, got {max_side!r}")
    return document


def load_trained_model(model_path: str | os.PathLike, device: str = "cpu"):
    """Load a saved detector network in eval mode.

    The backbone is built without ImageNet weights (all weights come from the
    state dict), so loading needs only the ``efficientnet-lite-pytorch`` model
    code. The state dict is read with ``torch.load(weights_only=True)``.

    Returns
    -------
    model : comicfaces.nn.centernet.CenterNet
    document : dict
        The JSON file's content.

    Raises
    ------
    FileNotFoundError, ValueError
        If a file is missing, the JSON is invalid, or the weights do not fit
        the architecture (the message lists missing and unexpected keys).
    """
    import torch

    from comicfaces.nn.backbones import build_efficientnet_lite0
    from comicfaces.nn.centernet import CenterNet, CenterNetConfig
    from comicfaces.nn.device import resolve_device

    weights, _ = resolve_model_files(model_path)
    document = read_model_config(model_path)
    model = CenterNet(build_efficientnet_lite0(pretrained=False), CenterNetConfig(**document["architecture"]))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unpickling error types
        raise ValueError(f"{weights}: could not read the weights with weights_only=True ({error})") from error
    if not isinstance(state, Mapping):
        raise ValueError(f"{weights}: expected a state dict, got {type(state).__name__}")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        # Raised for tensors whose shapes differ from the architecture's.
        raise ValueError(f"{weights}: weights do not fit the architecture in {MODEL_CONFIG_NAME} ({error})") from error
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{weights}: weights do not fit the architecture in {MODEL_CONFIG_NAME}; "
            f"missing keys: {result.missing_keys[:5]} ({len(result.missing_keys)} in all), "
            f"unexpected keys: {result.unexpected_keys[:5]} ({len(result.unexpected_keys)} in all)"
        )
    model.to(resolve_device(device)).eval()
    return model, document
