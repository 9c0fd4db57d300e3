"""AutoencoderReducer: training, early stopping, sparsity and parameter validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from comicfaces.autoencoder import AutoencoderReducer

torch = pytest.importorskip("torch")

SMALL = {"n_components": 8, "hidden": (32,), "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch on one thread: for networks this small, OpenMP synchronisation costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def low_rank() -> np.ndarray:
    """300 samples of 40 features driven by 4 latent factors, plus small noise, not centred."""
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(300, 4))
    mixing = rng.normal(size=(4, 40))
    return factors @ mixing + 0.05 * rng.normal(size=(300, 40)) + 3.0


@pytest.fixture(scope="module")
def fitted(low_rank) -> AutoencoderReducer:
    torch.set_num_threads(1)
    return AutoencoderReducer(**SMALL, epochs=400, patience=5).fit(low_rank)


def test_reconstruction_error_drops(fitted):
    reconstruction = fitted.history_["reconstruction"]
    assert reconstruction[-1] < 0.2 * reconstruction[0]


def test_early_stopping_before_max_epochs(fitted):
    assert fitted.n_epochs_ < 400
    assert fitted.n_epochs_ == fitted.best_epoch_ + 1 + 5
    assert len(fitted.history_["val_loss"]) == fitted.n_epochs_


def test_transform_codes(fitted, low_rank):
    codes = fitted.transform(low_rank)
    assert codes.shape == (300, 8)
    assert codes.dtype == np.float32
    assert codes.min() > 0.0
    assert codes.max() < 1.0


def test_standardisation_stored(fitted, low_rank):
    np.testing.assert_allclose(fitted.mean_, low_rank.mean(axis=0))
    np.testing.assert_allclose(fitted.scale_, low_rank.std(axis=0))


def test_inverse_transform_reconstructs(fitted, low_rank):
    restored = fitted.inverse_transform(fitted.transform(low_rank))
    assert restored.shape == low_rank.shape
    relative_error = np.abs(restored - low_rank).mean() / np.abs(low_rank - low_rank.mean(axis=0)).mean()
    assert relative_error < 0.3
    assert fitted.reconstruction_error(low_rank).mean() < 0.1


def test_repeatable_with_seed(fitted, low_rank):
    again = AutoencoderReducer(**SMALL, epochs=400, patience=5).fit(low_rank)
    np.testing.assert_allclose(again.transform(low_rank), fitted.transform(low_rank), atol=1e-5)


def test_sparse_codes_near_target(fitted, low_rank):
    sparse = AutoencoderReducer(
        **SMALL, sparse=True, sparsity_target=0.05, sparsity_weight=0.1, epochs=400, patience=5
    ).fit(low_rank)
    sparse_gap = abs(sparse.transform(low_rank).mean() - 0.05)
    plain_gap = abs(fitted.transform(low_rank).mean() - 0.05)
    assert sparse_gap < plain_gap
    assert sparse_gap < 0.1


def test_without_validation_split(low_rank):
    reducer = AutoencoderReducer(**SMALL, validation_fraction=0.0, epochs=30).fit(low_rank[:50])
    assert reducer.history_["val_loss"] == []
    assert len(reducer.history_["loss"]) == reducer.n_epochs_


def test_feature_count_mismatch(fitted, low_rank):
    with pytest.raises(ValueError, match="features"):
        fitted.transform(low_rank[:, :10])


def test_transform_before_fit(low_rank):
    with pytest.raises(NotFittedError):
        AutoencoderReducer(**SMALL).transform(low_rank)


def test_single_sample_rejected(low_rank):
    with pytest.raises(ValueError, match="at least 2 samples"):
        AutoencoderReducer(**SMALL).fit(low_rank[:1])


def test_nan_input_rejected(low_rank):
    data = low_rank[:20].copy()
    data[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderReducer(**SMALL).fit(data)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_components", 0),
        ("hidden", (64, 0)),
        ("sparse", "yes"),
        ("sparsity_target", 1.0),
        ("sparsity_weight", -1.0),
        ("epochs", 0),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("validation_fraction", 0.6),
        ("patience", 0),
        ("random_state", -1),
        ("device", "tpu"),
    ],
)
def test_bad_parameter(name, value, low_rank):
    with pytest.raises(ValueError, match=name):
        AutoencoderReducer(**{name: value}).fit(low_rank[:10])
