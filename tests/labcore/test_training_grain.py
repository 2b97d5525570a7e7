"""labcore.training.fit with class weights on Grain datasets (image folders on JAX runners).

Keras refuses ``class_weight`` for Grain datasets; ``fit`` turns the class weights into
per-example sample weights instead. These tests build a real Grain dataset from a real
image folder (``format="grain"`` works on every backend) and train on it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

from labcore import training


@pytest.fixture(scope="module")
def grain_folder(tmp_path_factory):
    """A two-class folder of 8×8 grayscale PNGs: 12 of class ``a``, 4 of class ``b``."""
    root = tmp_path_factory.mktemp("grain-images")
    rng = np.random.default_rng(0)
    for name, count in (("a", 12), ("b", 4)):
        (root / name).mkdir()
        for index in range(count):
            pixels = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def _grain_dataset(folder):
    return keras.utils.image_dataset_from_directory(
        folder,
        image_size=(8, 8),
        batch_size=4,
        color_mode="grayscale",
        shuffle=False,
        format="grain",
        verbose=False,
    )


def _frozen_model():
    """A model that does not change while it trains (learning rate 0): same loss each step."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy")
    return model


def _epoch_loss(folder, class_weight):
    history = training.fit(
        _frozen_model(),
        _grain_dataset(folder),
        validation_data=_grain_dataset(folder),
        epochs=1,
        class_weight=class_weight,
        early_stopping_patience=None,
        reduce_lr_patience=None,
        verbose=0,
    )
    return float(history["loss"].iloc[0]), float(history["val_loss"].iloc[0])


@pytest.mark.slow
def test_class_weights_reach_the_loss_of_a_grain_dataset(grain_folder):
    dataset = _grain_dataset(grain_folder)
    assert type(dataset).__module__.startswith("grain.")
    plain, plain_val = _epoch_loss(grain_folder, None)
    doubled, doubled_val = _epoch_loss(grain_folder, {0: 2.0, 1: 2.0})
    only_b, _ = _epoch_loss(grain_folder, {0: 0.0, 1: 1.0})
    only_a, _ = _epoch_loss(grain_folder, {0: 1.0, 1: 0.0})
    assert doubled == pytest.approx(2 * plain, rel=1e-5)
    assert doubled_val == pytest.approx(plain_val, rel=1e-6)  # validation stays unweighted
    assert only_a + only_b == pytest.approx(plain, rel=1e-5)  # the classes split the loss
    assert only_a > 0 and only_b > 0


def test_a_class_without_weight_in_a_grain_batch_is_named(grain_folder):
    # raised while Keras iterates the dataset; TensorFlow wraps it in its own error type
    with pytest.raises(Exception, match="a batch holds label 1: give every class a weight"):
        _epoch_loss(grain_folder, {0: 1.0})
