"""labcore.models.pneumonia_cnn: the architecture as documented, clear errors, and it learns."""

import dataclasses

import keras
import numpy as np
import pytest

from labcore import data, metrics, models, runtime, training

L = keras.layers


def test_pneumonia_cnn_architecture():
    model = models.pneumonia_cnn()
    names = [layer.name for layer in model.layers]
    blocks = ["block1a", "block1b", "pool1", "block2a", "block2b", "pool2", "block3"]
    expected = ["rescaling"]
    for block in blocks:
        expected += (
            [block]
            if block.startswith("pool")
            else [f"{block}_{p}" for p in ("conv", "bn", "relu")]
        )
    assert names == [*expected, "global_pool", "dropout", "output"]
    assert model.count_params() == 35_409
    filters = [layer.filters for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert filters == [16, 16, 32, 32, 64]
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            assert layer.kernel_size == (3, 3) and layer.padding == "same"
            assert not layer.use_bias  # batch normalisation's shift replaces the bias
        if isinstance(layer, L.BatchNormalization):  # running statistics that settle fast
            assert layer.momentum == 0.8
            assert np.all(keras.ops.convert_to_numpy(layer.moving_variance) == 0)
    assert model.get_layer("rescaling").scale == pytest.approx(1 / 255)
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)
    assert not model.compiled


def test_pneumonia_cnn_width_and_augmentation():
    augmentation = models.xray_augmentation(seed=3)
    model = models.pneumonia_cnn(width=8, dropout=0.0, augmentation=augmentation)
    assert model.layers[0] is augmentation  # before rescaling: it sees pixels 0-255
    assert model.layers[1].name == "rescaling"
    filters = [layer.filters for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert filters == [8, 8, 16, 16, 32]
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    scores = keras.ops.convert_to_numpy(model(images, training=False))
    assert scores.shape == (2, 1) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (28, 28)}, "input_shape"),
        ({"input_shape": (3, 3, 1)}, "at least 4"),
        ({"width": 0}, "width"),
        ({"width": 2.5}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": True}, "dropout"),
        ({"augmentation": "zoom"}, "augmentation must be a Keras layer"),
    ],
)
def test_pneumonia_cnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.pneumonia_cnn(**kwargs)


def test_pneumonia_recipe_is_one_cycle_adam():
    recipe = models.PNEUMONIA_CNN_RECIPE
    assert (recipe.batch_size, recipe.epochs, recipe.optimizer) == (64, 20, "adam")
    assert recipe.steps_per_epoch(4708) == 74
    schedule = recipe.learning_rate_schedule(steps_per_epoch=10, epochs=2)
    rate = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    assert rate(5) == pytest.approx(recipe.peak_learning_rate)  # end of the 25 % warm-up
    assert rate(0) < rate(5) > rate(20)


@pytest.mark.slow
def test_pneumonia_cnn_learns_pneumoniamnist(mirror):
    splits = data.load_pneumoniamnist(verbose=False)
    x_train, y_train = data.stratified_subset(*splits.train, 1_200, seed=0)
    x_val, y_val = splits.val
    runtime.set_seed(0)
    recipe = dataclasses.replace(models.PNEUMONIA_CNN_RECIPE, batch_size=32)
    model = models.pneumonia_cnn(width=8)
    schedule = recipe.learning_rate_schedule(recipe.steps_per_epoch(len(x_train)), 2)
    model.compile(keras.optimizers.Adam(schedule), loss="binary_crossentropy")
    training.fit(
        model,
        x_train[..., None].astype("float32"),  # raw pixels 0-255: the model rescales
        y_train,
        validation_data=(x_val[..., None].astype("float32"), y_val),
        epochs=2,
        batch_size=recipe.batch_size,
        class_weight=training.class_weights(y_train),
        verbose=0,
    )
    y_true, y_score = metrics.predict_dataset(model, (x_val[..., None].astype("float32"), y_val))
    # Two short epochs; chance is 0.5. Batch norm with Keras' default momentum scores about
    # 0.7 here at evaluation: its running statistics would not have settled yet.
    assert metrics.roc_auc(y_true, y_score) > 0.9
