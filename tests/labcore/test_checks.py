"""labcore.checks: right answers pass with a ✓ on stdout; each mistake fails with a hint."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

from labcore import checks, models


def failure(check, *args, **kwargs) -> str:
    """Run a check that must fail; return its message."""
    with pytest.raises(checks.SelfCheckError) as caught:
        check(*args, **kwargs)
    message = str(caught.value)
    assert "\nHint: " in message, message  # what is wrong, then a hint
    return message


def assert_passes(check, capsys, *args, **kwargs) -> str:
    check(*args, **kwargs)
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ ") and captured.out.count("\n") == 1, captured.out
    assert captured.err == ""  # nbgrader scores stderr in a test cell as a failure
    return captured.out


def test_self_check_error_is_an_assertion_error():
    assert issubclass(checks.SelfCheckError, AssertionError)


# --------------------------------------------------------------------------- images


def test_check_images_scaled(capsys):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    scaled = raw.astype(np.float32) / 255
    out = assert_passes(checks.check_images_scaled, capsys, scaled)
    assert "[0, 1]" in out

    message = failure(checks.check_images_scaled, raw)
    assert "integers" in message and "uint8" in message and "255" in message
    message = failure(checks.check_images_scaled, raw.astype(np.float32))
    assert "not scaled" in message and "divide by 255" in message
    message = failure(checks.check_images_scaled, scaled / 255)
    assert "twice" in message
    message = failure(checks.check_images_scaled, np.zeros((2, 4, 4), dtype=np.float32))
    assert "all zeros" in message
    message = failure(checks.check_images_scaled, (scaled - scaled.mean()) / scaled.std())
    assert "negative" in message and "standardised" in message
    message = failure(checks.check_images_scaled, scaled * 1000)
    assert "more than a pixel can hold" in message
    with_nan = scaled.copy()
    with_nan[0, 0, 0] = np.nan
    assert "NaN" in failure(checks.check_images_scaled, with_nan)
    assert "empty" in failure(checks.check_images_scaled, np.zeros((0, 28, 28)))
    assert "x_train" in failure(checks.check_images_scaled, raw, name="x_train")


def test_check_images_scaled_refuses_a_dataset():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2, 2), dtype=np.float32))
    assert "dataset" in failure(checks.check_images_scaled, dataset)


def test_check_channel_axis(capsys):
    assert_passes(checks.check_channel_axis, capsys, np.zeros((3, 28, 28, 1)))
    assert_passes(checks.check_channel_axis, capsys, np.zeros((3, 32, 32, 3)), channels=3)

    message = failure(checks.check_channel_axis, np.zeros((3, 28, 28)))
    assert "no channel axis" in message and "np.expand_dims" in message
    message = failure(checks.check_channel_axis, np.zeros((3, 1, 28, 28)))
    assert "channels first" in message and "last axis" in message
    message = failure(checks.check_channel_axis, np.zeros((3, 28, 28, 3)), channels=1)
    assert "3 channel(s)" in message and "color_mode" in message
    message = failure(checks.check_channel_axis, np.zeros((28, 28, 3)), channels=3)
    assert "single image" in message
    assert "2 axes" in failure(checks.check_channel_axis, np.zeros((28, 28)))


def test_check_integer_labels(capsys):
    labels = np.array([0, 1, 2, 9, 3], dtype=np.uint8)
    out = assert_passes(checks.check_integer_labels, capsys, labels, num_classes=10)
    assert "5 integer labels" in out and "no example" in out  # classes 4-8 are missing
    assert_passes(checks.check_integer_labels, capsys, labels[:, np.newaxis], num_classes=10)

    one_hot = np.eye(10, dtype=np.float32)[labels]
    message = failure(checks.check_integer_labels, one_hot, num_classes=10)
    assert "one-hot" in message and "sparse" in message
    message = failure(checks.check_integer_labels, labels.astype(np.float32), num_classes=10)
    assert "whole numbers stored as float32" in message and "astype" in message
    message = failure(checks.check_integer_labels, np.array([0.1, 0.9]), num_classes=2)
    assert "np.argmax" in message
    message = failure(checks.check_integer_labels, labels + 1, num_classes=10)
    assert "from 1 to 10" in message and "numbered from 0" in message
    message = failure(checks.check_integer_labels, np.array([0, 12]), num_classes=10)
    assert "outside 0 .. 9" in message
    message = failure(checks.check_integer_labels, np.array([True, False]), num_classes=2)
    assert "True/False" in message
    message = failure(checks.check_integer_labels, np.zeros((4, 28, 28)), num_classes=10)
    assert "not the images" in message
    with pytest.raises(ValueError, match="num_classes"):
        checks.check_integer_labels(labels, num_classes=1)


def test_check_shape(capsys):
    assert_passes(checks.check_shape, capsys, np.zeros((5, 28, 28, 1)), (None, 28, 28, 1))
    tensor = keras.ops.zeros((2, 10))
    assert_passes(checks.check_shape, capsys, tensor, (2, 10), name="logits")

    message = failure(checks.check_shape, np.zeros((5, 26, 26, 1)), (None, 28, 28, 1), "x")
    assert "axis 1 (size 26)" in message and "axis 2 (size 26)" in message
    assert "28" not in message  # the expected size is not revealed
    message = failure(
        checks.check_shape, np.zeros((5, 26, 26, 1)), (None, 28, 28, 1), "x", reveal=True
    )
    assert "It should be (any, 28, 28, 1)" in message
    message = failure(checks.check_shape, np.zeros((5, 28, 28)), (None, 28, 28, 1))
    assert "fewer" in message and "np.expand_dims" in message
    message = failure(checks.check_shape, np.zeros((5, 28, 28, 1, 1)), (None, 28, 28, 1))
    assert "more" in message and "np.squeeze" in message


# --------------------------------------------------------------------------- models


def test_check_parameter_count(capsys):
    model = models.seed_cnn()
    assert_passes(checks.check_parameter_count, capsys, model, 27_562)

    # A typical mistake: padding="same" keeps the maps larger, so Dense gets more inputs.
    wrong = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", name="dense"),
            keras.layers.Dropout(0.2, name="dropout"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    )
    message = failure(checks.check_parameter_count, wrong, 27_562)
    actual = wrong.count_params()
    assert f"{actual:,}" in message and "too many" in message
    assert "27,562" not in message and "27562" not in message  # never the answer
    assert "conv1" in message and "50,240" in message  # the model's own per-layer counts
    assert "padding" in message

    message = failure(checks.check_parameter_count, wrong, 100_000)
    assert "too few" in message and "100,000" not in message
    message = failure(checks.check_parameter_count, wrong, 27_562, reveal=True)
    assert "published architecture has 27,562" in message


def test_check_parameter_count_unbuilt_model():
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    assert "keras.Input" in failure(checks.check_parameter_count, unbuilt, 10)
    assert "Keras model" in failure(checks.check_parameter_count, "model", 10)


def dense_model(units, activation, extra=None):
    layers = [keras.Input((4,)), keras.layers.Dense(units, activation=activation, name="out")]
    return keras.Sequential(layers + ([extra] if extra else []))


def test_check_output_layer(capsys):
    out = assert_passes(checks.check_output_layer, capsys, dense_model(10, "softmax"), 10)
    assert "10 units with softmax" in out
    xray = models.xray_cnn(image_size=32, channels=1)
    assert_passes(checks.check_output_layer, capsys, xray, 2, "sigmoid")
    # an Activation layer after a linear Dense counts as the output activation
    split = dense_model(10, None, keras.layers.Activation("softmax"))
    assert_passes(checks.check_output_layer, capsys, split, 10)
    softmax_layer = dense_model(10, None, keras.layers.Softmax())
    assert_passes(checks.check_output_layer, capsys, softmax_layer, 10)

    message = failure(checks.check_output_layer, dense_model(1, "softmax"), 2, "sigmoid")
    assert "always outputs 1.0" in message and "sigmoid" in message and "one unit" in message
    message = failure(checks.check_output_layer, dense_model(2, "softmax"), 2, "sigmoid")
    assert "asks for a sigmoid" in message
    message = failure(checks.check_output_layer, dense_model(2, "sigmoid"), 2, "sigmoid")
    assert "2 sigmoid units" in message and "only one probability" in message
    message = failure(checks.check_output_layer, dense_model(10, None), 10)
    assert "logits" in message and "softmax" in message
    message = failure(checks.check_output_layer, dense_model(10, "relu"), 10)
    assert "'relu'" in message
    message = failure(checks.check_output_layer, dense_model(10, "sigmoid"), 10)
    assert "do not sum to 1" in message
    message = failure(checks.check_output_layer, dense_model(10, None, keras.layers.Softmax(0)), 10)
    assert "axis 0" in message  # a softmax across the batch, not across the classes
    message = failure(checks.check_output_layer, dense_model(64, "softmax"), 10)
    assert "64 unit(s)" in message and "10 classes" in message
    with pytest.raises(ValueError, match="activation"):
        checks.check_output_layer(dense_model(10, "softmax"), 10, activation="tanh")


def test_check_compiled(capsys):
    model = models.seed_cnn()
    message = failure(checks.check_compiled, model)
    assert "not compiled" in message and "model.compile" in message

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    out = assert_passes(checks.check_compiled, capsys, model)
    assert "Adam" in out
    assert_passes(checks.check_compiled, capsys, model, loss="sparse_categorical_crossentropy")
    # names, functions and Loss objects compare by name
    same = keras.losses.SparseCategoricalCrossentropy()
    assert_passes(checks.check_compiled, capsys, model, loss=same)
    model.compile(optimizer="adam", loss=keras.losses.sparse_categorical_crossentropy)
    assert_passes(checks.check_compiled, capsys, model, loss="sparse_categorical_crossentropy")

    model.compile(optimizer="adam", loss="categorical_crossentropy")
    message = failure(checks.check_compiled, model, loss="sparse_categorical_crossentropy")
    assert "one-hot" in message and "integer labels" in message
    assert "sparse_categorical_crossentropy" not in message  # the hint does not name it

    model.compile(optimizer="adam", loss="mse")
    message = failure(checks.check_compiled, model, loss="sparse_categorical_crossentropy")
    assert "regression" in message

    binary = models.xray_cnn(image_size=32, channels=1)
    binary.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    message = failure(checks.check_compiled, binary, loss="binary_crossentropy")
    assert "single probability" in message and "binary_crossentropy" not in message
    binary.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    message = failure(checks.check_compiled, binary, loss="binary_crossentropy")
    assert "from_logits=True" in message and "sigmoid" in message


def test_docstring_examples_run(capsys):
    modules = [checks] + [
        importlib.import_module(f"labcore.checks.{info.name}")
        for info in pkgutil.iter_modules(checks.__path__)
    ]
    results = [doctest.testmod(module) for module in modules]
    assert sum(result.attempted for result in results) >= 7
    assert sum(result.failed for result in results) == 0


# --------------------------------------------------------------------------- answer checks


class AlwaysEqual(int):
    """An answer that does no work: it claims to equal everything."""

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_whole_number_accepts_ints_and_refuses_impostors():
    assert checks.whole_number(7, "n") == 7
    assert type(checks.whole_number(np.int32(7), "n")) is int
    for impostor in (AlwaysEqual(7), True, 7.0, np.float64(7.0), "7"):
        message = failure(checks.whole_number, impostor, "CONV1_PARAMS")
        assert "CONV1_PARAMS should be a whole number" in message


def test_check_count(capsys):
    assert_passes(checks.check_count, capsys, np.int64(80), 80, "CONV1_PARAMS")
    assert "too small" in failure(checks.check_count, 72, 80, "CONV1_PARAMS")
    assert "80" not in failure(checks.check_count, 72, 80, "CONV1_PARAMS")  # no answer given
    failure(checks.check_count, AlwaysEqual(1), 80, "CONV1_PARAMS")


def own_conv2d(image, kernels, bias, stride=1, padding="valid"):
    """A correct student convolution (loops over output positions)."""
    image, kernels = np.asarray(image, dtype=float), np.asarray(kernels, dtype=float)
    k = kernels.shape[0]
    if padding == "same":
        border = (k - 1) // 2
        image = np.pad(image, ((border, border), (border, border), (0, 0)))
    rows, cols = (image.shape[0] - k) // stride + 1, (image.shape[1] - k) // stride + 1
    maps = np.zeros((rows, cols, kernels.shape[-1]))
    for row in range(rows):
        for col in range(cols):
            patch = image[row * stride : row * stride + k, col * stride : col * stride + k]
            maps[row, col] = np.tensordot(patch, kernels, axes=3) + bias
    return maps


def own_pool2d(image, size=2, mode="max"):
    """A correct student pooling."""
    image = np.asarray(image, dtype=float)
    rows, cols = image.shape[0] // size, image.shape[1] // size
    windows = image[: rows * size, : cols * size].reshape(rows, size, cols, size, -1)
    return {"max": np.max, "average": np.mean, "sum": np.sum}[mode](windows, axis=(1, 3))


@pytest.mark.parametrize("case", list(checks.CONV2D_CASES))
def test_check_conv2d_passes_own_work(case, capsys):
    assert_passes(checks.check_conv2d, capsys, own_conv2d, case, seed=3, trials=2)


def test_check_conv2d_names_the_slip():
    def flipped(image, kernels, bias, stride=1, padding="valid"):
        return own_conv2d(image, np.asarray(kernels)[::-1, ::-1], bias, stride, padding)

    def without_bias(image, kernels, bias, stride=1, padding="valid"):
        return own_conv2d(image, kernels, 0.0, stride, padding)

    assert "flipped" in failure(checks.check_conv2d, flipped, "one channel")
    assert "bias is missing" in failure(checks.check_conv2d, without_bias, "one channel")
    # other points are not affected by a missing bias: their cases have a zero bias
    checks.check_conv2d(without_bias, "stride")


def test_library_calls_earn_nothing_wherever_they_hide():
    from scipy import signal

    from labcore import theory
    from labcore.theory import conv2d as imported_early

    def helper(image, kernels, bias, stride, padding):  # any name, outside the function
        return imported_early(image, kernels, bias, stride=stride, padding=padding)

    def via_helper(image, kernels, bias, stride=1, padding="valid"):
        return helper(image, kernels, bias, stride, padding)

    def via_keras(image, kernels, bias, stride=1, padding="valid"):
        layer = keras.layers.Conv2D(kernels.shape[-1], kernels.shape[0], strides=stride)
        layer.build((1, *image.shape))
        layer.set_weights([kernels, bias])
        return keras.ops.convert_to_numpy(layer(image[np.newaxis].astype("float32")))[0]

    def via_scipy(image, kernels, bias, stride=1, padding="valid"):
        return signal.correlate(image, kernels[..., 0], mode="valid") + bias

    def swallowing(image, kernels, bias, stride=1, padding="valid"):
        try:  # catching the library's refusal does not help
            return theory.conv2d(image, kernels, bias, stride=stride, padding=padding)
        except Exception:
            return own_conv2d(image, kernels, bias, stride, padding)

    for cheat, library in (
        (via_helper, "labcore.theory"),
        (via_keras, "convolution and pooling libraries"),
        (via_scipy, "convolution and pooling libraries"),
        (swallowing, "labcore.theory"),
    ):
        message = failure(checks.check_conv2d, cheat, "one channel")
        assert library in message and "compute it yourself" in message
    import sys

    assert sys.getprofile() is None  # the watch is gone afterwards


@pytest.mark.parametrize("mode", ["max", "average", "sum"])
def test_check_pool2d(mode, capsys):
    assert_passes(checks.check_pool2d, capsys, own_pool2d, mode, seed=1)

    def sum_is_average_times_size(image, size=2, mode="max"):
        pooled = own_pool2d(image, size, "average" if mode == "sum" else mode)
        return pooled * size if mode == "sum" else pooled

    if mode == "sum":
        assert "size²" in failure(checks.check_pool2d, sum_is_average_times_size, "sum")
    else:
        checks.check_pool2d(sum_is_average_times_size, mode)


def test_check_output_size(capsys):
    def output_size(n, k, stride=1, padding="valid"):
        if padding == "same":
            return -(-n // stride)
        pad = 0 if padding == "valid" else padding
        return (n + 2 * pad - k) // stride + 1

    def floor_for_same(n, k, stride=1, padding="valid"):
        return n // stride if padding == "same" else output_size(n, k, stride, padding)

    for case in checks.OUTPUT_SIZE_CASES:
        assert_passes(checks.check_output_size, capsys, output_size, case)
    checks.check_output_size(floor_for_same, "same")  # right with stride 1

    def one_side_only(n, k, stride=1, padding="valid"):
        return (n + padding - k) // stride + 1

    assert "EACH side" in failure(checks.check_output_size, one_side_only, "explicit padding")
    assert "rounds up" in failure(checks.check_output_size, floor_for_same, "same with stride")


def test_model_checks_accept_functional_and_sequential(capsys):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    functional = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    for aspect in ("layers", "settings", "shapes"):
        assert_passes(checks.check_seed_cnn, capsys, functional, aspect, models.seed_cnn())
    assert len(checks.model_layers(functional)) == len(checks.model_layers(models.seed_cnn()))


def test_check_own_design():
    fast = {"models.fast_cnn()": models.fast_cnn()}
    checks.check_own_design(models.deeper_cnn(), fast)
    assert "same architecture" in failure(checks.check_own_design, models.fast_cnn(), fast)


def test_check_augmentation_reads_tuple_factors(capsys):
    augmentation = keras.Sequential(
        [
            keras.layers.RandomZoom(height_factor=(-0.2, 0.2), fill_mode="constant"),
            keras.layers.RandomRotation(0.05, fill_mode="constant"),
            keras.layers.RandomContrast((0.1, 0.3)),
        ]
    )
    for aspect in ("layers", "factors", "fill"):
        assert_passes(checks.check_augmentation, capsys, augmentation, aspect)
    assert checks.largest_factor(augmentation.layers[0]) == 0.2
    too_strong = keras.Sequential([keras.layers.RandomZoom((-0.5, 0.1), width_factor=0.1)])
    limits = {"RandomZoom": 0.2}
    assert "0.5" in failure(checks.check_augmentation, too_strong, "factors", limits)
    assert "'reflect'" in failure(checks.check_augmentation, too_strong, "fill", limits)


def test_layer_parameter_counts_are_keras_counts_per_layer_type():
    deeper = models.deeper_cnn()
    assert checks.layer_parameter_counts(deeper, "Conv2D") == [320, 18_496, 36_928]
    assert checks.layer_parameter_counts(deeper, "Dense") == [36_928, 650]
    assert checks.layer_parameter_counts(deeper, "BatchNormalization") == []


def test_check_layer_counts_form_and_values(capsys):
    right = [320, 18_496, 36_928]
    assert_passes(checks.check_layer_counts, capsys, right, "CONV", 3)
    assert_passes(checks.check_layer_counts, capsys, right, "CONV", 3, expected=right)
    as_array = np.array(right, dtype=np.int64)
    assert_passes(checks.check_layer_counts, capsys, as_array, "CONV", 3, expected=right)
    assert_passes(checks.check_layer_counts, capsys, tuple(right), "CONV", 3, expected=right)
    # forgot the input channels of conv2: the layer is named, its right count is not
    message = failure(checks.check_layer_counts, [320, 640, 36_928], "CONV", 3, expected=right)
    assert "CONV[1]" in message and "too small" in message and "18,496" not in message
    assert "2 entries" in failure(checks.check_layer_counts, right[:2], "CONV", 3)
    assert "a int" in failure(checks.check_layer_counts, 320, "CONV", 3)
    assert "float" in failure(checks.check_layer_counts, [320.0, 18_496, 36_928], "CONV", 3)


def test_check_sgd_momentum_judges_the_optimizer_config(capsys):
    model = models.conv32_dense100()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    assert_passes(checks.check_sgd_momentum, capsys, model, 0.01)
    from_config = keras.optimizers.get(
        {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}}
    )
    assert_passes(checks.check_sgd_momentum, capsys, from_config, 0.05)
    assert "momentum 0.0" in failure(checks.check_sgd_momentum, keras.optimizers.SGD(0.01), 0.01)
    wrong_rate = keras.optimizers.SGD(0.01, momentum=0.9)
    assert "0.01, not the 0.05" in failure(checks.check_sgd_momentum, wrong_rate, 0.05)
    assert "Adam" in failure(checks.check_sgd_momentum, keras.optimizers.Adam(0.01), 0.01)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)
    scheduled = keras.optimizers.SGD(schedule, momentum=0.9)
    assert "constant" in failure(checks.check_sgd_momentum, scheduled, 0.01)
