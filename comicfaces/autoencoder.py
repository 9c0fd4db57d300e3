"""Deep (optionally sparse) autoencoder as a dimensionality reducer for face features."""

from __future__ import annotations

import copy
import logging
import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from comicfaces.features.validation import check_bool, check_float, check_int
from comicfaces.nn.device import check_device

logger = logging.getLogger(__name__)

# Smallest relative drop of the monitored loss that counts as an improvement for
# early stopping, so that rounding-level changes do not reset the patience.
_MIN_RELATIVE_IMPROVEMENT = 1e-4

# Standard deviations below this are treated as constant features (scale 1).
_MIN_SCALE = 1e-8


@dataclass(frozen=True)
class AutoencoderConfig:
    """Parameters of :class:`AutoencoderReducer`."""

    n_components: int = 32
    hidden: tuple = (256, 128)
    sparse: bool = False
    sparsity_target: float = 0.05
    sparsity_weight: float = 1e-3
    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    patience: int = 10
    random_state: int = 0
    device: str = "auto"

    def validate(self) -> AutoencoderConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("n_components", self.n_components, 1)
        hidden = self.hidden
        if not isinstance(hidden, (tuple, list)):
            raise ValueError(f"hidden must be a tuple of layer widths (ints >= 1), got {hidden!r}")
        for width in hidden:
            is_int = isinstance(width, numbers.Integral) and not isinstance(width, (bool, np.bool_))
            if not is_int or width < 1:
                raise ValueError(f"hidden must contain only integers >= 1, got {hidden!r}")
        check_bool("sparse", self.sparse)
        check_float("sparsity_target", self.sparsity_target, 0.0, 1.0, include_minimum=False)
        if self.sparsity_target >= 1.0:
            raise ValueError(f"sparsity_target must be in (0, 1), got {self.sparsity_target!r}")
        check_float("sparsity_weight", self.sparsity_weight, 0.0)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("learning_rate", self.learning_rate, 0.0, include_minimum=False)
        check_float("validation_fraction", self.validation_fraction, 0.0, 0.5)
        check_int("patience", self.patience, 1)
        check_int("random_state", self.random_state, 0, 2**32 - 1)
        check_device("device", self.device)
        return self


class AutoencoderReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fully connected autoencoder whose code layer is the reduced representation.

    The encoder maps standardised features through ``hidden`` ReLU layers to
    ``n_components`` sigmoid units (the code, in (0, 1)). The decoder mirrors it
    back to the input size with a linear output. Training minimises the mean
    squared reconstruction error with Adam and stops early when the loss on a
    held-out validation split stops improving. The weights of the best epoch are
    kept.

    With ``sparse=True`` the loss adds ``sparsity_weight`` times the sum over code
    units of ``KL(rho || rho_hat_j)``: the Kullback-Leibler divergence between
    Bernoulli distributions with mean ``rho = sparsity_target`` and with the
    unit's mean activation over the batch, ``rho_hat_j``. This is the sparse
    autoencoder penalty of Ng's CS294A lecture notes "Sparse autoencoder" (2011).
    It pushes each unit to be active on few faces.

    Parameters
    ----------
    n_components : int, default=32
        Size of the code.
    hidden : tuple of int, default=(256, 128)
        Widths of the encoder's hidden layers, input side first; the decoder
        uses them in reverse. An empty tuple gives a single-layer encoder.
    sparse : bool, default=False
        Add the KL sparsity penalty.
    sparsity_target : float, default=0.05
        Target mean activation ``rho`` of each code unit, in (0, 1).
    sparsity_weight : float, default=1e-3
        Weight of the sparsity penalty, >= 0.
    epochs : int, default=200
        Maximum passes over the training split.
    batch_size : int, default=64
        Samples per Adam step.
    learning_rate : float, default=1e-3
        Adam learning rate.
    validation_fraction : float, default=0.1
        Share of samples held out for early stopping, 0 to 0.5. With 0, or when the
        share rounds to no sample, the training loss is monitored instead.
    patience : int, default=10
        Epochs without an improvement of the monitored loss before training stops.
    random_state : int, default=0
        Seed of the weight initialisation, the validation split and the batch order.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Per-feature mean and standard deviation used to standardise inputs
        (features with zero variance get scale 1).
    history_ : dict of str to list of float
        Per epoch: ``"loss"`` (training objective, reconstruction plus
        sparsity penalty), ``"reconstruction"`` (training mean squared error) and
        ``"val_loss"`` (validation objective; empty without a validation split).
    best_epoch_ : int
        Zero-based epoch whose weights were kept.
    n_epochs_ : int
        Epochs run before stopping.
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    Each epoch costs O(n_samples * (n_features * hidden[0] + ...)) multiply-adds.
    For a few thousand faces and 1280 features an epoch takes well under a second
    on a CPU. An autoencoder with sigmoid codes is not rotation-invariant like
    PCA, so codes from different fits (or seeds) are not comparable unit by unit.
    """

    def __init__(
        self,
        n_components=AutoencoderConfig.n_components,
        hidden=AutoencoderConfig.hidden,
        sparse=AutoencoderConfig.sparse,
        sparsity_target=AutoencoderConfig.sparsity_target,
        sparsity_weight=AutoencoderConfig.sparsity_weight,
        epochs=AutoencoderConfig.epochs,
        batch_size=AutoencoderConfig.batch_size,
        learning_rate=AutoencoderConfig.learning_rate,
        validation_fraction=AutoencoderConfig.validation_fraction,
        patience=AutoencoderConfig.patience,
        random_state=AutoencoderConfig.random_state,
        device=AutoencoderConfig.device,
    ):
        self.n_components = n_components
        self.hidden = hidden
        self.sparse = sparse
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def get_config(self) -> AutoencoderConfig:
        """Return the parameters as a validated :class:`AutoencoderConfig`."""
        params = self.get_params()
        if isinstance(params["hidden"], list):
            params["hidden"] = tuple(params["hidden"])
        return AutoencoderConfig(**params).validate()

    def fit(self, X, y=None):
        """Standardise ``X`` and train the autoencoder with early stopping.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least 2 samples.
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For invalid parameters, non-finite values or fewer than 2 samples.
        FloatingPointError
            If the loss becomes NaN or infinite; lower ``learning_rate``.
        """
        import torch

        from comicfaces.nn.dense import DenseAutoencoder
        from comicfaces.nn.device import resolve_device
        from comicfaces.nn.training import seeded

        config = self.get_config()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples = X.shape[0]
        if n_samples < 2:
            raise ValueError(f"the autoencoder needs at least 2 samples, got n_samples={n_samples}")

        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale < _MIN_SCALE, 1.0, scale)
        standardized = ((X - self.mean_) / self.scale_).astype(np.float32)

        device = resolve_device(config.device)
        rng = np.random.default_rng(config.random_state)
        order = rng.permutation(n_samples)
        n_validation = int(round(config.validation_fraction * n_samples))
        n_validation = min(n_validation, n_samples - 1)
        validation = torch.from_numpy(standardized[order[:n_validation]]).to(device)
        train = torch.from_numpy(standardized[order[n_validation:]]).to(device)
        if n_validation == 0:
            logger.info("autoencoder: no validation split; early stopping monitors the training loss")

        with seeded(config.random_state, device):
            network = DenseAutoencoder(X.shape[1], config.hidden, config.n_components).to(device)
            optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
            history = {"loss": [], "reconstruction": [], "val_loss": []}
            best_loss = float("inf")
            best_state = copy.deepcopy(network.state_dict())
            best_epoch = 0
            epochs_without_improvement = 0

            for epoch in range(config.epochs):
                loss, reconstruction = self._train_epoch(network, optimizer, train, config)
                history["loss"].append(loss)
                history["reconstruction"].append(reconstruction)
                if n_validation:
                    monitored = self._evaluate(network, validation, config)
                    history["val_loss"].append(monitored)
                else:
                    monitored = loss

                if monitored < best_loss * (1.0 - _MIN_RELATIVE_IMPROVEMENT):
                    best_loss = monitored
                    best_state = copy.deepcopy(network.state_dict())
                    best_epoch = epoch
                    epochs_without_improvement = 0
                else:
                    epochs_without_improvement += 1
                    if epochs_without_improvement >= config.patience:
                        logger.info(
                            "autoencoder: early stop after epoch %d; best epoch %d (loss %.4g)",
                            epoch + 1,
                            best_epoch + 1,
                            best_loss,
                        )
                        break

        network.load_state_dict(best_state)
        network.eval()
        self.network_ = network
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.n_epochs_ = len(history["loss"])
        self._n_features_out = config.n_components
        return self

    @staticmethod
    def _objective(network, batch, config: AutoencoderConfig):
        """Return ``(objective, reconstruction error)`` tensors for one batch."""
        import torch
        import torch.nn.functional as F

        code, output = network(batch)
        reconstruction = F.mse_loss(output, batch)
        if not config.sparse or config.sparsity_weight == 0:
            return reconstruction, reconstruction

        # Clamping keeps the logarithms finite when a unit saturates.
        rho = config.sparsity_target
        rho_hat = code.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return reconstruction + config.sparsity_weight * kl.sum(), reconstruction

    def _train_epoch(self, network, optimizer, train, config: AutoencoderConfig) -> tuple[float, float]:
        import torch

        network.train()
        n_train = train.shape[0]
        permutation = torch.randperm(n_train, device=train.device)
        total = total_reconstruction = 0.0
        for start in range(0, n_train, config.batch_size):
            batch = train[permutation[start : start + config.batch_size]]
            objective, reconstruction = self._objective(network, batch, config)
            if not torch.isfinite(objective):
                raise FloatingPointError(
                    f"autoencoder loss became {objective.item()}; lower learning_rate "
                    f"(now {config.learning_rate})"
                )
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            total += objective.item() * batch.shape[0]
            total_reconstruction += reconstruction.item() * batch.shape[0]
        return total / n_train, total_reconstruction / n_train

    def _evaluate(self, network, data, config: AutoencoderConfig) -> float:
        import torch

        network.eval()
        with torch.inference_mode():
            objective, _ = self._objective(network, data, config)
        return float(objective.item())

    def _standardize(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def transform(self, X) -> np.ndarray:
        """Encode ``X``.

        Returns
        -------
        ndarray of shape (n_samples, n_components), dtype float32
            Code activations in (0, 1).
        """
        import torch

        standardized = self._standardize(X)
        device = next(self.network_.parameters()).device
        with torch.inference_mode():
            code = self.network_.encoder(torch.from_numpy(standardized).to(device))
        return code.cpu().numpy().astype(np.float32, copy=False)

    def inverse_transform(self, X) -> np.ndarray:
        """Decode codes back to the input feature space (not standardised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_), dtype float32
        """
        import torch

        check_is_fitted(self, "network_")
        codes = np.asarray(X, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self._n_features_out:
            raise ValueError(
                f"codes must have shape (n_samples, {self._n_features_out}), got {codes.shape}"
            )
        device = next(self.network_.parameters()).device
        with torch.inference_mode():
            output = self.network_.decoder(torch.from_numpy(codes).to(device)).cpu().numpy()
        return (output * self.scale_ + self.mean_).astype(np.float32)

    def reconstruction_error(self, X) -> np.ndarray:
        """Return each sample's mean squared reconstruction error in standardised units."""
        import torch

        standardized = self._standardize(X)
        device = next(self.network_.parameters()).device
        with torch.inference_mode():
            _, output = self.network_(torch.from_numpy(standardized).to(device))
        return ((output.cpu().numpy() - standardized) ** 2).mean(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

