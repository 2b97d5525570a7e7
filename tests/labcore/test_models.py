"""labcore.models: published architectures exactly, and the trainable models really learn."""

import dataclasses
import doctest

import keras
import numpy as np
import pytest

from labcore import data, models, runtime

L = keras.layers


def layer_summary(model):
    """(class name, parameters) per layer, for comparing with the published tables."""
    return [(type(layer).__name__, layer.count_params()) for layer in model.layers]


def all_layers(model):
    """Every layer, also inside nested models (such as the augmentation block)."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return found


@pytest.fixture(scope="module")
def mnist_subset(mirror):
    """2,000 training and 1,000 test images of real MNIST, scaled, with a channel axis."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train, y_train = data.stratified_subset(x_train, y_train, 2_000, seed=0)
    x_test, y_test = data.stratified_subset(x_test, y_test, 1_000, seed=0)
    return data.prepare_images(x_train), y_train, data.prepare_images(x_test), y_test


# --------------------------------------------------------------------------- published models


def test_seed_cnn_matches_the_published_architecture():
    model = models.seed_cnn()
    assert model.count_params() == 27_562
    assert layer_summary(model) == [
        ("Conv2D", 80),
        ("MaxPooling2D", 0),
        ("Conv2D", 1_168),
        ("MaxPooling2D", 0),
        ("Flatten", 0),
        ("Dense", 25_664),
        ("Dropout", 0),
        ("Dense", 650),
    ]
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    assert (conv1.filters, conv1.kernel_size, conv1.padding) == (8, (3, 3), "valid")
    assert (conv2.filters, conv2.kernel_size, conv2.padding) == (16, (3, 3), "valid")
    assert model.get_layer("pool1").pool_size == (2, 2)
    assert model.get_layer("dropout").rate == 0.2
    activations = [layer.activation.__name__ for layer in model.layers if hasattr(layer, "units")]
    assert activations == ["relu", "softmax"]
    assert conv1.activation.__name__ == conv2.activation.__name__ == "relu"
    assert model.output_shape == (None, 10)
    assert not model.compiled


def test_conv32_dense100_matches_the_course_material():
    model = models.conv32_dense100()
    assert layer_summary(model) == [
        ("Conv2D", 3 * 3 * 32 + 32),
        ("MaxPooling2D", 0),
        ("Flatten", 0),
        ("Dense", 13 * 13 * 32 * 100 + 100),
        ("Dense", 100 * 10 + 10),
    ]
    assert model.get_layer("conv1").padding == "valid"
    assert model.get_layer("output").get_config()["activation"] == "softmax"
    assert not model.compiled  # notebook 02 compiles it twice, with two optimizers
    assert models.conv32_dense100((32, 32, 3), num_classes=5).output_shape == (None, 5)
    with pytest.raises(ValueError, match="num_classes"):
        models.conv32_dense100(num_classes=1)


def test_deeper_cnn_matches_the_published_architecture():
    model = models.deeper_cnn()
    assert model.count_params() == 93_322
    assert layer_summary(model) == [
        ("Conv2D", 320),
        ("MaxPooling2D", 0),
        ("Conv2D", 18_496),
        ("MaxPooling2D", 0),
        ("Conv2D", 36_928),
        ("Flatten", 0),
        ("Dense", 36_928),
        ("Dense", 650),
    ]
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 64]
    assert {c.padding for c in convs} == {"valid"}
    assert {c.activation.__name__ for c in convs} == {"relu"}
    assert model.get_layer("dense").activation.__name__ == "relu"
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert model.output_shape == (None, 10)


def test_xray_cnn_matches_the_published_architecture():
    model = models.xray_cnn(image_size=250, channels=3)
    assert model.count_params() == 63_000_001
    assert layer_summary(model) == [
        ("Rescaling", 0),
        ("Conv2D", 896),
        ("MaxPooling2D", 0),
        ("Conv2D", 18_496),
        ("MaxPooling2D", 0),
        ("Flatten", 0),
        ("Dropout", 0),
        ("Dense", 62_980_352),
        ("Dropout", 0),
        ("Dense", 257),
    ]
    assert model.get_layer("rescaling").scale == pytest.approx(1 / 255)
    assert {model.get_layer(n).padding for n in ("conv1", "conv2")} == {"same"}
    assert model.get_layer("dropout1").rate == model.get_layer("dropout2").rate == 0.5
    assert model.get_layer("dense").units == 256
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 1)


def test_xray_cnn_other_sizes():
    model = models.xray_cnn(image_size=(64, 48), channels=1)
    assert model.input_shape == (None, 64, 48, 1)
    assert model.get_layer("flatten").output.shape[-1] == 16 * 12 * 64
    outputs = model.predict(np.full((2, 64, 48, 1), 128.0, dtype=np.float32), verbose=0)
    assert outputs.shape == (2, 1) and np.all((outputs > 0) & (outputs < 1))


def test_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="input_shape"):
        models.seed_cnn(input_shape=(28, 28))
    with pytest.raises(ValueError, match="num_classes"):
        models.deeper_cnn(num_classes=1)
    with pytest.raises(ValueError, match="augmentation must be a Keras layer"):
        models.xray_cnn(augmentation="flip")
    with pytest.raises(ValueError, match="at least 18"):
        models.fast_cnn(input_shape=(16, 16, 1))


# --------------------------------------------------------------------------- augmentation


def test_xray_augmentation_layers_and_no_flips():
    augmentation = models.xray_augmentation()
    kinds = [type(layer) for layer in augmentation.layers]
    assert kinds == [L.RandomZoom, L.RandomRotation, L.RandomContrast]
    assert not any(isinstance(layer, L.RandomFlip) for layer in all_layers(augmentation))
    doc = models.xray_augmentation.__doc__
    assert "upside down" in doc and "heart" in doc  # the reasons are documented


def test_xray_augmentation_is_identity_at_inference_and_random_in_training():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, 64, 64, 1)).astype(np.float32)
    augmentation = models.xray_augmentation(seed=3)
    unchanged = keras.ops.convert_to_numpy(augmentation(images, training=False))
    np.testing.assert_array_equal(unchanged, images)
    changed = keras.ops.convert_to_numpy(augmentation(images, training=True))
    assert changed.shape == images.shape
    assert np.abs(changed - images).mean() > 1.0
    assert changed.min() >= 0 and changed.max() <= 255  # still pixel values


def test_xray_cnn_with_augmentation_predicts_like_the_plain_model():
    augmented = models.xray_cnn(image_size=48, channels=1, augmentation=models.xray_augmentation())
    assert augmented.layers[0].name == "augmentation"
    assert not any(isinstance(layer, L.RandomFlip) for layer in all_layers(augmented))
    plain = models.xray_cnn(image_size=48, channels=1)
    assert augmented.count_params() == plain.count_params()  # augmentation learns nothing
    plain.set_weights(augmented.get_weights())
    images = np.random.default_rng(1).uniform(0, 255, (3, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(
        augmented.predict(images, verbose=0), plain.predict(images, verbose=0), rtol=1e-6
    )


def test_xray_augmentation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rotation"):
        models.xray_augmentation(rotation=0.5)
    with pytest.raises(ValueError, match="contrast"):
        models.xray_augmentation(contrast=1.5)
    with pytest.raises(ValueError, match="seed"):
        models.xray_augmentation(seed=-1)


# --------------------------------------------------------------------------- fast CNN


def test_fast_cnn_architecture():
    model = models.fast_cnn()
    names = [layer.name for layer in model.layers]
    assert names == [
        "conv1",
        "pool1",
        "bn1",
        "relu1",
        "conv2",
        "pool2",
        "bn2",
        "relu2",
        "conv3",
        "bn3",
        "relu3",
        "global_pool",
        "output",
    ]
    assert model.count_params() == 24_282
    assert isinstance(model.get_layer("global_pool"), L.GlobalAveragePooling2D)
    for name in ("bn1", "bn2", "bn3"):
        batch_norm = model.get_layer(name)
        assert batch_norm.momentum == 0.8
        assert np.all(batch_norm.moving_variance.numpy() == 0)
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert model.output_shape == (None, 10)


def test_fast_cnn_schedule_is_one_cycle():
    recipe = models.FAST_CNN_RECIPE
    schedule = recipe.learning_rate_schedule(steps_per_epoch=100, epochs=2)
    rate = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    peak = recipe.peak_learning_rate
    assert rate(0) == pytest.approx(peak / 10)
    assert rate(50) == pytest.approx(peak)  # the end of the warm-up: 25 % of 200 steps
    assert rate(25) < rate(50) > rate(125)
    assert rate(200) == pytest.approx(peak * recipe.final_fraction, rel=1e-3)
    assert recipe.steps_per_epoch(60_000) == 469
    with pytest.raises(ValueError, match="steps_per_epoch"):
        recipe.learning_rate_schedule(0)


@pytest.mark.slow
def test_fast_cnn_learns_a_small_mnist_subset(mnist_subset):
    x_train, y_train, x_test, y_test = mnist_subset
    runtime.set_seed(1)
    recipe = dataclasses.replace(models.FAST_CNN_RECIPE, batch_size=32)
    model = models.compile_fast_cnn(models.fast_cnn(), recipe.steps_per_epoch(len(x_train)), 1)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    model.fit(
        x_train,
        y_train,
        batch_size=recipe.batch_size,
        epochs=1,
        validation_data=(x_test, y_test),
        verbose=0,
    )
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85  # one short epoch; chance is 0.10


def test_compile_fast_cnn_rejects_non_models():
    with pytest.raises(ValueError, match="Keras model"):
        models.compile_fast_cnn("fast_cnn", 10)


# --------------------------------------------------------------------------- hyperparameters


def test_cnn_from_hparams_defaults():
    model = models.cnn_from_hparams({})
    assert model.compiled
    assert [layer.name for layer in model.layers] == [
        "block1_conv",
        "block1_pool",
        "block2_conv",
        "block2_pool",
        "flatten",
        "dense",
        "dropout",
        "output",
    ]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.get_layer("block2_conv").filters == 32
    assert model.get_layer("dropout").rate == pytest.approx(0.2)
    assert model.output_shape == (None, 10)


def test_cnn_from_hparams_follows_every_key():
    hp = {
        "filters": [8, 16, 24],
        "kernel_size": 5,
        "dense_units": 40,
        "dropout": 0.0,
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.5,
        "batch_norm": True,
        "batch_size": 64,  # belongs to fit: accepted and ignored
        "epochs": 3,
    }
    model = models.cnn_from_hparams(hp, input_shape=(32, 32, 3), num_classes=4)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 24]
    assert {c.kernel_size for c in convs} == {(5, 5)}
    assert sum(isinstance(layer, L.BatchNormalization) for layer in model.layers) == 3
    assert not any(isinstance(layer, L.Dropout) for layer in model.layers)
    assert model.get_layer("dense").units == 40
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.optimizer.momentum == pytest.approx(0.5)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 4)

    rmsprop = models.cnn_from_hparams(
        {"optimizer": "RMSprop", "conv_blocks": np.int64(3), "filters": np.int64(12)}
    )
    assert isinstance(rmsprop.optimizer, keras.optimizers.RMSprop)
    assert [layer.filters for layer in rmsprop.layers if isinstance(layer, L.Conv2D)] == [12] * 3


@pytest.mark.parametrize(
    ("hp", "key"),
    [
        ({"filter": 32}, "filter"),
        ({"filters": 0}, "filters"),
        ({"filters": [16, "32"]}, "filters"),
        ({"filters": [16, 32], "conv_blocks": 3}, "conv_blocks"),
        ({"kernel_size": 2.5}, "kernel_size"),
        ({"dense_units": -1}, "dense_units"),
        ({"dropout": 1.0}, "dropout"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"batch_norm": "yes"}, "batch_norm"),
        ({"momentum": 1.2}, "momentum"),
        ({"conv_blocks": 5}, "conv_blocks"),  # 28 / 2**5 < 1 pixel
    ],
)
def test_cnn_from_hparams_names_the_bad_key(hp, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        models.cnn_from_hparams(hp)


@pytest.mark.slow
def test_cnn_from_hparams_learns_a_small_mnist_subset(mnist_subset):
    x_train, y_train, x_test, y_test = mnist_subset
    runtime.set_seed(2)
    model = models.cnn_from_hparams({"filters": [16, 32], "learning_rate": 2e-3})
    model.fit(
        x_train, y_train, batch_size=32, epochs=1, validation_data=(x_test, y_test), verbose=0
    )
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8


def test_docstring_examples_run():
    results = doctest.testmod(models)
    assert results.attempted >= 2
    assert results.failed == 0
