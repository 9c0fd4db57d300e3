"""Self-supervised SimCLR embeddings learned from the face crops themselves."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import (
    check_choice,
    check_float,
    check_images,
    check_int,
)
from comicfaces.nn.device import check_device

logger = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet34", "resnet50", "efficientnet")
INITS = ("random", "efficientnet")
OPTIMIZERS = ("adamw", "sgd")

#: Embedding length of each backbone.
BACKBONE_FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "efficientnet": 1280}

#: Marks the JSON file written by :meth:`SimCLRFeatures.save`.
CHECKPOINT_FORMAT = "comicfaces-simclr"
CHECKPOINT_VERSION = 1

# Parameters that change the network or its weights; a checkpoint must match them.
_ARCHITECTURE_PARAMS = ("backbone", "init", "image_size")


@dataclass(frozen=True)
class SimCLRConfig:
    """Parameters of :class:`SimCLRFeatures`."""

    backbone: str = "resnet18"
    image_size: int = 96
    epochs: int = 3
    batch_size: int = 128
    temperature: float = 0.1
    projection_dim: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    optimizer: str = "adamw"
    color_jitter: float = 0.4
    init: str = "random"
    random_state: int = 0
    device: str = "auto"
    checkpoint: str | None = None

    def validate(self) -> SimCLRConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_choice("backbone", self.backbone, BACKBONES)
        check_int("image_size", self.image_size, 32, 512)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 2)
        check_float("temperature", self.temperature, 0.0, include_minimum=False)
        check_int("projection_dim", self.projection_dim, 1)
        check_float("learning_rate", self.learning_rate, 0.0, include_minimum=False)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_int("warmup_epochs", self.warmup_epochs, 0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("color_jitter", self.color_jitter, 0.0, 1.0)
        check_choice("init", self.init, INITS)
        check_int("random_state", self.random_state, 0, 2**32 - 1)
        check_device("device", self.device)
        if self.checkpoint is not None and not isinstance(self.checkpoint, (str, Path)):
            raise ValueError(f"checkpoint must be None or a file path, got {self.checkpoint!r}")
        return self

    @property
    def network(self) -> str:
        """Backbone actually built: EfficientNet whenever ``init="efficientnet"``."""
        return "efficientnet" if self.init == "efficientnet" else self.backbone

    @property
    def n_features(self) -> int:
        """Length of one embedding."""
        return BACKBONE_FEATURES[self.network]


class SimCLRFeatures(ImageFeatureExtractor):
    """Backbone trained with SimCLR on the crops passed to ``fit``; embeds crops with it.

    SimCLR (Chen et al., 2020) trains a network to map two random augmentations
    of the same image close together and away from the other images in the batch.
    ``fit`` trains from scratch on the given crops (no labels), so the embedding
    adapts to the drawing style of one comic. ``transform`` returns the pooled
    backbone output with the projection head dropped, L2-normalised.

    Parameters
    ----------
    backbone : {"resnet18", "resnet34", "resnet50", "efficientnet"}, default="resnet18"
        Network trained from random weights. The ResNets (512, 512 and 2048
        features) use the ImageNet stem, a 7x7 stride-2 convolution and max
        pooling. Ignored when ``init="efficientnet"``.
    image_size : int, default=96
        Side in pixels of the square (letterboxed) crops, 32 to 512.
    epochs : int, default=3
        Passes over the crops. The default keeps a fit on 1000 crops to a few
        minutes on two CPU cores (see Notes). SimCLR usually trains for hundreds
        of epochs, so raise this on a GPU.
    batch_size : int, default=128
        Crops per step; each step sees ``2 * batch_size`` views, and every view has
        ``2 * batch_size - 2`` negatives. A last batch of one crop is skipped.
    temperature : float, default=0.1
        NT-Xent softmax temperature, > 0.
    projection_dim : int, default=128
        Output size of the MLP projection head (linear, batch norm, ReLU, linear)
        on which the loss is computed.
    learning_rate : float, default=1e-3
        Peak learning rate, reached after the warm-up and decayed along a cosine
        to 0 at the last step.
    weight_decay : float, default=1e-4
        Decoupled weight decay on convolution and linear weights; biases and
        batch-norm parameters are not decayed.
    warmup_epochs : int, default=1
        Epochs of linear learning-rate warm-up, capped at half of the training.
    optimizer : {"adamw", "sgd"}, default="adamw"
        AdamW, or SGD with Nesterov momentum 0.9 (raise ``learning_rate`` to about
        0.1-0.5 for SGD).
    color_jitter : float, default=0.4
        Colour jitter strength of the augmentation, 0 to 1; see
        :func:`comicfaces.nn.augment.simclr_augmentation`.
    init : {"random", "efficientnet"}, default="random"
        ``"efficientnet"`` trains EfficientNet-Lite0 starting from its ImageNet
        weights, whatever ``backbone`` says.
    random_state : int, default=0
        Seed of the weight initialisation, the batch order and the augmentations.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    checkpoint : str or None, default=None
        Path of a backbone file written by :meth:`save`. When the file exists,
        ``fit`` loads it and does not train; otherwise ``fit`` trains and then
        saves there. The file's ``backbone``, ``init`` and ``image_size`` must
        match this estimator.

    Attributes
    ----------
    backbone_ : torch.nn.Module
        Trained backbone in eval mode, on the resolved device.
    loss_history_ : list of float
        Mean NT-Xent loss of each epoch.
    fit_seconds_ : float
        Training time in seconds (0 when loaded from ``checkpoint``).

    Notes
    -----
    Fixed ``random_state`` and device give the same weights and embeddings on
    repeated fits in one environment. ``fit`` seeds torch inside a forked random
    state, so it does not change the caller's torch random stream.

    Cost per epoch is two forward and backward passes per crop. Measured with
    ``torch.get_num_threads() == 2`` on a CPU shared with other jobs, one epoch
    over 1000 crops used 49 CPU-seconds at 64 px and 105 at 96 px, so about 30 s
    and 60 s of wall time on two idle cores (an estimate). Under a load average
    of 6-12 the same epochs took 100-200 s, and the default fit on 695 crops took
    590 s.

    NOTE: the default 3 epochs leave the network far from converged. On those
    695 cartoon crops (11 characters) the NT-Xent loss fell from 5.54 (chance,
    ``log(255)``) to 5.10. k-means with k=11 on the embedding reached a pairwise
    F1 of 0.66, against 0.60 for the untrained ResNet-18 and 0.83 for
    :class:`~comicfaces.features.cnn.EfficientNetFeatures`.
    """

    def __init__(
        self,
        backbone=SimCLRConfig.backbone,
        image_size=SimCLRConfig.image_size,
        epochs=SimCLRConfig.epochs,
        batch_size=SimCLRConfig.batch_size,
        temperature=SimCLRConfig.temperature,
        projection_dim=SimCLRConfig.projection_dim,
        learning_rate=SimCLRConfig.learning_rate,
        weight_decay=SimCLRConfig.weight_decay,
        warmup_epochs=SimCLRConfig.warmup_epochs,
        optimizer=SimCLRConfig.optimizer,
        color_jitter=SimCLRConfig.color_jitter,
        init=SimCLRConfig.init,
        random_state=SimCLRConfig.random_state,
        device=SimCLRConfig.device,
        checkpoint=SimCLRConfig.checkpoint,
    ):
        self.backbone = backbone
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.temperature = temperature
        self.projection_dim = projection_dim
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.optimizer = optimizer
        self.color_jitter = color_jitter
        self.init = init
        self.random_state = random_state
        self.device = device
        self.checkpoint = checkpoint

    def get_config(self) -> SimCLRConfig:
        """Return the parameters as a validated :class:`SimCLRConfig`."""
        return SimCLRConfig(**self.get_params()).validate()

    def fit(self, X, y=None, progress: Callable[[int, int], None] | None = None):
        """Train the backbone with SimCLR on the crops, or load it from ``checkpoint``.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes, at least 2.
        y : None
            Ignored.
        progress : callable or None
            Called as ``progress(done, total)`` after every optimiser step, with
            steps done and total steps.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For invalid parameters or crops, fewer than 2 crops, or a checkpoint
            whose architecture differs from this estimator's.
        FloatingPointError
            If the loss becomes NaN or infinite; lower ``learning_rate``.
        """
        config = self.get_config()
        images = check_images(X)
        if len(images) < 2:
            raise ValueError(
                f"SimCLR needs at least 2 crops to form negative pairs, got {len(images)}"
            )

        if config.checkpoint is not None and Path(config.checkpoint).is_file():
            self._load_weights(Path(config.checkpoint))
            logger.info("SimCLR backbone loaded from %s; training skipped", config.checkpoint)
            return self

        self._train(images, config, progress)
        if config.checkpoint is not None:
            self.save(config.checkpoint)
        return self

    def _train(self, images: list[np.ndarray], config: SimCLRConfig, progress) -> None:
        import torch

        from comicfaces.nn.augment import simclr_augmentation, two_views
        from comicfaces.nn.backbones import make_backbone
        from comicfaces.nn.device import resolve_device
        from comicfaces.nn.preprocess import normalize, to_uint8_batch
        from comicfaces.nn.training import nt_xent_loss, seeded, warmup_cosine_schedule

        device = resolve_device(config.device)
        start_time = time.perf_counter()
        crops = to_uint8_batch(images, config.image_size, "letterbox")
        n_crops = crops.shape[0]

        # Batches of one crop have no negatives, so a trailing single crop is skipped.
        n_full, remainder = divmod(n_crops, config.batch_size)
        steps_per_epoch = n_full + (1 if remainder >= 2 else 0)
        total_steps = steps_per_epoch * config.epochs
        warmup_steps = min(config.warmup_epochs * steps_per_epoch, total_steps // 2)

        with seeded(config.random_state, device):
            backbone = make_backbone(config.network, pretrained=config.init == "efficientnet")
            head = _projection_head(backbone.out_features, config.projection_dim)
            backbone.to(device).train()
            head.to(device).train()
            augment = simclr_augmentation(config.image_size, config.color_jitter).to(device)

            optimizer = _make_optimizer([backbone, head], config)
            schedule = warmup_cosine_schedule(optimizer, warmup_steps, total_steps)

            loss_history = []
            step = 0
            for epoch in range(config.epochs):
                order = torch.randperm(n_crops)
                epoch_loss = 0.0
                for batch_index in range(steps_per_epoch):
                    indices = order[batch_index * config.batch_size : (batch_index + 1) * config.batch_size]
                    batch = crops[indices].to(device).float().div_(255.0)
                    first, second = two_views(augment, batch)
                    views = normalize(torch.cat([first, second]))

                    projections = head(backbone(views))
                    loss = nt_xent_loss(projections[: len(indices)], projections[len(indices) :], config.temperature)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"SimCLR loss became {loss.item()} at epoch {epoch + 1}, step {batch_index + 1}; "
                            f"lower learning_rate (now {config.learning_rate})"
                        )

                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()

                    epoch_loss += loss.item()
                    step += 1
                    if progress is not None:
                        progress(step, total_steps)

                loss_history.append(epoch_loss / steps_per_epoch)
                logger.info(
                    "SimCLR epoch %d/%d: loss %.4f (%.0f s)",
                    epoch + 1,
                    config.epochs,
                    loss_history[-1],
                    time.perf_counter() - start_time,
                )

        backbone.eval()
        self.backbone_ = backbone
        self.loss_history_ = loss_history
        self.fit_seconds_ = time.perf_counter() - start_time
        self._n_features_out = backbone.out_features

    def transform(self, X) -> np.ndarray:
        """Embed each crop with the trained backbone.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.

        Returns
        -------
        ndarray of shape (n_images, n_features), dtype float32
            L2-normalised embeddings (unit rows).
        """
        import torch.nn.functional as F

        from comicfaces.nn.preprocess import to_network_input, to_uint8_batch
        from comicfaces.nn.training import embed_batches

        check_is_fitted(self, "backbone_")
        images = check_images(X)
        image_size = self.image_size
        device = next(self.backbone_.parameters()).device

        def to_input(chunk):
            return to_network_input(to_uint8_batch(chunk, image_size, "letterbox"), device)

        batch_size = max(2, int(self.batch_size))
        features = F.normalize(embed_batches(self.backbone_, images, to_input, batch_size), dim=1)
        return features.numpy().astype(np.float32, copy=False)

    def _transform_image(self, image: np.ndarray, config: SimCLRConfig) -> np.ndarray:
        return self.transform([image])[0]

    def save(self, path: str | Path) -> Path:
        """Write the trained backbone's weights to ``path`` and its parameters beside it.

        Parameters
        ----------
        path : str or Path
            Weights file, written with ``torch.save(state_dict)``. The parameters
            and loss history go to the same path with the suffix ``.json``.

        Returns
        -------
        Path
            The JSON file.
        """
        import torch

        check_is_fitted(self, "backbone_")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)

        state = {name: tensor.detach().cpu() for name, tensor in self.backbone_.state_dict().items()}
        torch.save(state, path)

        params = self.get_params()
        params["checkpoint"] = None
        record = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "params": params,
            "network": self.get_config().network,
            "n_features": int(self._n_features_out),
            "loss_history": [float(value) for value in self.loss_history_],
            "fit_seconds": float(self.fit_seconds_),
        }
        json_path = _json_path(path)
        json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        logger.info("saved SimCLR backbone to %s", path)
        return json_path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> SimCLRFeatures:
        """Create a fitted extractor from files written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
            Weights file; its ``.json`` companion must sit beside it.
        device : str, default="auto"
            Device for the loaded backbone.

        Returns
        -------
        SimCLRFeatures
            Fitted extractor whose parameters are those saved, except ``device``.

        Raises
        ------
        FileNotFoundError
            If the weights or the JSON file is missing.
        ValueError
            If the JSON is not a SimCLR checkpoint description.
        """
        record = _read_record(Path(path))
        params = dict(record["params"])
        params["device"] = device
        estimator = cls(**params)
        estimator._load_weights(Path(path), record)
        return estimator

    def _load_weights(self, path: Path, record: dict | None = None) -> None:
        import torch

        from comicfaces.nn.backbones import make_backbone
        from comicfaces.nn.device import resolve_device

        config = self.get_config()
        if record is None:
            record = _read_record(path)
        saved = record["params"]
        mismatched = [name for name in _ARCHITECTURE_PARAMS if saved.get(name) != getattr(config, name)]
        if mismatched:
            details = ", ".join(f"{name}={saved.get(name)!r} (here {getattr(config, name)!r})" for name in mismatched)
            raise ValueError(
                f"checkpoint {path} was trained with {details}; use matching parameters "
                "or another checkpoint path"
            )

        # The ImageNet weights would be overwritten at once, so they are not loaded.
        backbone = make_backbone(config.network, pretrained=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        backbone.load_state_dict(state, strict=True)
        backbone.to(resolve_device(config.device)).eval()

        self.backbone_ = backbone
        self.loss_history_ = list(record.get("loss_history", []))
        self.fit_seconds_ = 0.0
        self._n_features_out = backbone.out_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def _projection_head(in_features: int, out_features: int):
    from torch import nn

    return nn.Sequential(
        nn.Linear(in_features, in_features, bias=False),
        nn.BatchNorm1d(in_features),
        nn.ReLU(inplace=True),
        nn.Linear(in_features, out_features),
    )


def _make_optimizer(modules, config: SimCLRConfig):
    """Build the optimiser; weight decay applies to weights with 2 or more dimensions only."""
    import torch

    decayed, not_decayed = [], []
    for module in modules:
        for parameter in module.parameters():
            if parameter.requires_grad:
                (decayed if parameter.ndim >= 2 else not_decayed).append(parameter)
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": not_decayed, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def _json_path(path: Path) -> Path:
    return path.with_suffix(".json") if path.suffix != ".json" else path.with_name(path.name + ".params.json")


def _read_record(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"SimCLR weights file not found: {path}")
    json_path = _json_path(path)
    if not json_path.is_file():
        raise FileNotFoundError(
            f"parameter file {json_path} not found beside {path}; save with SimCLRFeatures.save()"
        )
    record = json.loads(json_path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{json_path} is not a SimCLR checkpoint description (format {CHECKPOINT_FORMAT!r})")
    if record.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{json_path} has checkpoint version {record.get('version')!r}; "
            f"this comicfaces reads version {CHECKPOINT_VERSION}"
        )
    return record
