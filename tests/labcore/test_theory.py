"""labcore.theory against Keras layers (random inputs, 1e-5) and against hand-worked examples."""

import doctest

import keras
import numpy as np
import pytest

from labcore import theory

ATOL = 1e-5


def keras_output(layer, inputs, weights=None):
    """Run a Keras layer on float32 inputs, optionally with given weights; return NumPy."""
    inputs = np.asarray(inputs, dtype=np.float32)
    layer.build(inputs.shape)
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return keras.ops.convert_to_numpy(layer(inputs))


# --------------------------------------------------------------------------- conv2d vs Conv2D

CONV_CASES = [
    # (batch, height, width, channels, filters, kernel_size, stride, padding, dilation)
    (2, 8, 8, 3, 4, 3, 1, "valid", 1),
    (2, 8, 8, 3, 4, 3, 1, "same", 1),
    (2, 8, 8, 3, 4, 3, 2, "same", 1),  # even size, stride 2: one padding pixel, bottom/right
    (2, 8, 8, 3, 4, 3, 2, "valid", 1),
    (1, 8, 8, 4, 6, 4, 2, "same", 1),  # even kernel: padding split 1 top / 2 bottom
    (2, 9, 7, 2, 5, (3, 2), (2, 1), "same", 1),  # non-square everything
    (2, 10, 10, 3, 2, 3, 1, "valid", 2),
    (2, 10, 9, 3, 2, 3, 1, "same", 2),
    (2, 11, 11, 2, 3, (3, 2), 1, "same", (2, 3)),
    (8, 32, 32, 3, 16, 3, 1, "same", 1),  # a realistic batch
]


@pytest.mark.parametrize(
    ("batch", "height", "width", "channels", "filters", "kernel", "stride", "padding", "dilation"),
    CONV_CASES,
)
def test_conv2d_matches_keras_conv2d(
    batch, height, width, channels, filters, kernel, stride, padding, dilation
):
    rng = np.random.default_rng(batch * 1000 + height * 10 + filters)
    inputs = rng.uniform(-1, 1, (batch, height, width, channels))
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    kernels = rng.uniform(-1, 1, (kh, kw, channels, filters))
    bias = rng.uniform(-1, 1, filters)
    layer = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, dilation_rate=dilation
    )
    expected = keras_output(layer, inputs, [kernels, bias])
    actual = theory.conv2d(inputs, kernels, bias, stride=stride, padding=padding, dilation=dilation)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL)


def test_conv2d_with_relu_and_without_bias_matches_keras():
    rng = np.random.default_rng(1)
    inputs = rng.uniform(-1, 1, (3, 7, 7, 2))
    kernels = rng.uniform(-1, 1, (3, 3, 2, 4))
    layer = keras.layers.Conv2D(4, 3, activation="relu", use_bias=False)
    expected = keras_output(layer, inputs, [kernels])
    np.testing.assert_allclose(np.maximum(theory.conv2d(inputs, kernels), 0), expected, atol=ATOL)
    assert (expected == 0).any() and (expected > 0).any()  # relu really clipped something


@pytest.mark.parametrize(("channels", "filters", "groups"), [(4, 6, 2), (6, 3, 3), (4, 4, 4)])
def test_grouped_conv2d_matches_keras(channels, filters, groups):
    rng = np.random.default_rng(groups)
    inputs = rng.uniform(-1, 1, (2, 6, 6, channels))
    kernels = rng.uniform(-1, 1, (3, 3, channels // groups, filters))
    bias = rng.uniform(-1, 1, filters)
    layer = keras.layers.Conv2D(filters, 3, padding="same", groups=groups)
    expected = keras_output(layer, inputs, [kernels, bias])
    actual = theory.conv2d(inputs, kernels, bias, padding="same", groups=groups)
    np.testing.assert_allclose(actual, expected, atol=ATOL)


def test_conv2d_single_image_keeps_no_batch_axis():
    rng = np.random.default_rng(2)
    image = rng.uniform(size=(5, 5, 2))
    kernels = rng.uniform(size=(3, 3, 2, 3))
    single = theory.conv2d(image, kernels)
    assert single.shape == (3, 3, 3)
    np.testing.assert_allclose(single, theory.conv2d(image[np.newaxis], kernels)[0])


def test_conv2d_stride_with_dilation_is_subsampled_stride_one():
    # Keras refuses strides > 1 together with dilation > 1; the definition still holds.
    rng = np.random.default_rng(3)
    inputs = rng.uniform(size=(1, 13, 13, 2))
    kernels = rng.uniform(size=(3, 3, 2, 2))
    dense = theory.conv2d(inputs, kernels, dilation=2)
    strided = theory.conv2d(inputs, kernels, stride=2, dilation=2)
    np.testing.assert_allclose(strided, dense[:, ::2, ::2])


def test_conv2d_edge_filter_by_hand():
    # A 4×4 image, bright in columns 0-2 and dark in column 3: a vertical edge.
    image = np.array([[1, 1, 1, 0]] * 4, dtype=float)[..., np.newaxis]
    # Vertical-edge filter: left column minus right column.
    edge = np.array([[1, 0, -1]] * 3, dtype=float)[..., np.newaxis, np.newaxis]
    # Window at columns 0-2: each row gives 1·1 + 0·1 + (-1)·1 = 0  -> 0.
    # Window at columns 1-3: each row gives 1·1 + 0·1 + (-1)·0 = 1  -> 3 rows -> 3.
    np.testing.assert_array_equal(theory.conv2d(image, edge)[..., 0], [[0, 3], [0, 3]])
    # With a bias of -1 and "same" padding the map keeps the 4×4 size.
    same = theory.conv2d(image, edge, bias=[-1.0], padding="same")[..., 0]
    assert same.shape == (4, 4)
    # Top-left output: the padded window's rows are [0, 0, 0], [0, 1, 1], [0, 1, 1]; each
    # image row gives 1·0 + 0·1 + (-1)·1 = -1, two rows give -2, and the bias makes it -3.
    assert same[0, 0] == -3
    # Row 1, column 2: rows 0-2, columns 1-3 are [1, 1, 0] -> 1 + 0 - 0 = 1 per row, 3 - 1.
    assert same[1, 2] == 3 - 1


def test_conv2d_same_padding_counts_neighbours_by_hand():
    # An all-ones 3×3 filter on an all-ones image counts each pixel's in-image neighbours.
    counts = theory.conv2d(np.ones((3, 3, 1)), np.ones((3, 3, 1, 1)), padding="same")[..., 0]
    np.testing.assert_array_equal(counts, [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_conv2d_stride_two_same_pads_bottom_right_by_hand():
    # 4×4 image numbered 0..15 and a 3×3 all-ones filter with stride 2: the output has
    # ceil(4 / 2) = 2 pixels per axis, so (2 - 1)·2 + 3 - 4 = 1 padding pixel is needed, and
    # TensorFlow puts it at the bottom / right.
    image = np.arange(16, dtype=float).reshape(4, 4, 1)
    out = theory.conv2d(image, np.ones((3, 3, 1, 1)), stride=2, padding="same")[..., 0]
    # Top-left window: rows 0-2, columns 0-2 of the image (no padding at the top / left).
    assert out[0, 0] == image[0:3, 0:3].sum()
    # Bottom-right window: rows 2-3 and columns 2-3 plus the zero padding.
    assert out[1, 1] == image[2:4, 2:4].sum()
    assert theory.padding_amounts(4, 3, stride=2, padding="same") == (0, 1)


# --------------------------------------------------------------------------- pooling vs Keras

POOL_CASES = [
    # (height, width, pool_size, stride, padding)
    (8, 8, 2, None, "valid"),
    (9, 7, 2, None, "valid"),  # odd sizes: the last row / column is dropped
    (9, 7, 3, 2, "same"),  # overlapping windows reaching into the padding
    (8, 8, 3, 2, "same"),
    (10, 9, (2, 3), (1, 2), "valid"),
    (5, 5, 2, None, "same"),
]


@pytest.mark.parametrize(("height", "width", "pool_size", "stride", "padding"), POOL_CASES)
@pytest.mark.parametrize(
    ("mode", "layer_class"),
    [("max", keras.layers.MaxPooling2D), ("average", keras.layers.AveragePooling2D)],
)
def test_pool2d_matches_keras(height, width, pool_size, stride, padding, mode, layer_class):
    rng = np.random.default_rng(height * width)
    inputs = rng.uniform(-1, 1, (3, height, width, 4))
    layer = layer_class(pool_size=pool_size, strides=stride, padding=padding)
    expected = keras_output(layer, inputs)
    actual = theory.pool2d(inputs, pool_size, stride, padding, mode=mode)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL)


@pytest.mark.parametrize(("pool_size", "stride"), [(2, None), ((3, 2), (2, 1)), (3, 3)])
def test_sum_pooling_is_average_times_window_for_valid(pool_size, stride):
    rng = np.random.default_rng(4)
    inputs = rng.uniform(-1, 1, (2, 9, 9, 3))
    ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    average = keras_output(keras.layers.AveragePooling2D(pool_size, strides=stride), inputs)
    actual = theory.pool2d(inputs, pool_size, stride, mode="sum")
    np.testing.assert_allclose(actual, average * ph * pw, atol=ATOL)


def test_sum_pooling_same_matches_depthwise_conv_with_ones():
    # Summing each channel's window = a depthwise convolution with an all-ones filter; with
    # "same" padding the zeros add nothing, so padded pixels are left out as documented.
    rng = np.random.default_rng(5)
    inputs = rng.uniform(-1, 1, (2, 7, 8, 3))
    layer = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)
    expected = keras_output(layer, inputs, [np.ones((3, 3, 3, 1))])
    actual = theory.pool2d(inputs, 3, 2, padding="same", mode="sum")
    np.testing.assert_allclose(actual, expected, atol=ATOL)


def test_pool2d_by_hand():
    image = np.array([[1, 3, 2, 0], [4, 2, 1, 1], [0, 0, 5, 6], [1, 1, 7, 2]], dtype=float)
    image = image[..., np.newaxis]
    np.testing.assert_array_equal(theory.pool2d(image)[..., 0], [[4, 2], [1, 7]])
    np.testing.assert_array_equal(
        theory.pool2d(image, mode="average")[..., 0], [[2.5, 1.0], [0.5, 5.0]]
    )
    np.testing.assert_array_equal(theory.pool2d(image, mode="sum")[..., 0], [[10, 4], [2, 20]])
    # 3×3 "same" pooling with stride 2 on 4×4: padding (0, 1); the bottom-right window holds
    # only the 2×2 real pixels [[5, 6], [7, 2]]: average 20 / 4, not 20 / 9.
    same = theory.pool2d(image, 3, 2, padding="same", mode="average")[..., 0]
    assert same[1, 1] == 5.0


# --------------------------------------------------------------------------- output sizes


@pytest.mark.parametrize("size", [5, 8, 9, 28])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras_shapes(size, kernel, stride, padding):
    conv = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
    pool = keras.layers.MaxPooling2D(kernel, strides=stride, padding=padding)
    for layer in (conv, pool):
        shape = layer.compute_output_shape((1, size, size + 1, 1))
        assert theory.conv_output_size(size, kernel, stride, padding) == shape[1]
        assert theory.conv_output_size(size + 1, kernel, stride, padding) == shape[2]


@pytest.mark.parametrize(("size", "dilation"), [(9, 2), (12, 3), (7, 2)])
def test_conv_output_size_with_dilation_matches_keras(size, dilation):
    for padding in ("valid", "same"):
        layer = keras.layers.Conv2D(1, 3, padding=padding, dilation_rate=dilation)
        shape = layer.compute_output_shape((1, size, size, 1))
        assert theory.conv_output_size(size, 3, 1, padding, dilation) == shape[1]


def test_seed_model_sizes_by_hand():
    size = 28
    size = theory.conv_output_size(size, 3)  # conv 3×3 valid
    assert size == 26
    size = theory.conv_output_size(size, 2, stride=2)  # max pooling 2
    assert size == 13
    size = theory.conv_output_size(size, 3)
    assert size == 11
    size = theory.conv_output_size(size, 2, stride=2)
    assert size == 5  # Flatten gives 5·5·16 = 400 features


def test_padding_amounts():
    assert theory.padding_amounts(28, 3, padding="valid") == (0, 0)
    assert theory.padding_amounts(28, 3, padding="same") == (1, 1)
    assert theory.padding_amounts(8, 4, padding="same") == (1, 2)
    assert theory.padding_amounts(5, 2, stride=2, padding="same") == (0, 1)
    assert theory.padding_amounts(9, 3, padding="same", dilation=2) == (2, 2)


# --------------------------------------------------------------------------- parameter counts


def test_seed_model_parameter_counts_by_hand():
    assert theory.conv2d_params(3, 1, 8) == 80  # 3·3·1·8 + 8
    assert theory.conv2d_params(3, 8, 16) == 1_168  # 3·3·8·16 + 16
    assert theory.dense_params(5 * 5 * 16, 64) == 25_664  # 400·64 + 64
    assert theory.dense_params(64, 10) == 650  # 64·10 + 10


@pytest.mark.parametrize(
    ("kernel", "channels", "filters", "use_bias", "groups"),
    [(3, 1, 8, True, 1), (5, 3, 7, False, 1), ((3, 2), 4, 6, True, 2), (3, 8, 8, True, 8)],
)
def test_conv2d_params_match_keras(kernel, channels, filters, use_bias, groups):
    layer = keras.layers.Conv2D(filters, kernel, use_bias=use_bias, groups=groups)
    layer.build((None, 10, 10, channels))
    assert theory.conv2d_params(kernel, channels, filters, use_bias, groups) == (
        layer.count_params()
    )


@pytest.mark.parametrize(("features", "units", "use_bias"), [(400, 64, True), (7, 3, False)])
def test_dense_params_match_keras(features, units, use_bias):
    layer = keras.layers.Dense(units, use_bias=use_bias)
    layer.build((None, features))
    assert theory.dense_params(features, units, use_bias) == layer.count_params()


@pytest.mark.parametrize(
    ("kernel", "channels", "multiplier", "use_bias"),
    [(3, 32, 1, True), (5, 3, 2, False), ((3, 1), 4, 3, True)],
)
def test_depthwise_params_match_keras(kernel, channels, multiplier, use_bias):
    layer = keras.layers.DepthwiseConv2D(kernel, depth_multiplier=multiplier, use_bias=use_bias)
    layer.build((None, 10, 10, channels))
    assert theory.depthwise_conv2d_params(kernel, channels, multiplier, use_bias) == (
        layer.count_params()
    )


@pytest.mark.parametrize(
    ("kernel", "channels", "filters", "multiplier", "use_bias"),
    [(3, 32, 64, 1, True), (5, 3, 8, 2, False), ((3, 1), 4, 6, 3, True)],
)
def test_separable_params_match_keras(kernel, channels, filters, multiplier, use_bias):
    layer = keras.layers.SeparableConv2D(
        filters, kernel, depth_multiplier=multiplier, use_bias=use_bias
    )
    layer.build((None, 10, 10, channels))
    assert theory.separable_conv2d_params(kernel, channels, filters, multiplier, use_bias) == (
        layer.count_params()
    )


# --------------------------------------------------------------------------- receptive field


def test_receptive_field_by_hand():
    assert theory.receptive_field([(3, 1), (3, 1)]) == theory.ReceptiveField(size=5, jump=1)
    assert theory.receptive_field([(3, 1), (2, 2), (3, 1)]) == theory.ReceptiveField(8, 2)
    # the seed model: conv 3, pool 2, conv 3, pool 2
    assert theory.receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)]) == (
        theory.ReceptiveField(size=10, jump=4)
    )
    assert theory.receptive_field([(3, 1, 2)]).size == 5  # dilated 3×3 covers 5×5
    assert theory.receptive_field([]) == theory.ReceptiveField(size=1, jump=1)


def _measured_receptive_field(stack, image_size=24):
    """Which input pixels change one output unit of a real Keras stack? (size, jump)."""
    layers = [keras.Input((image_size, image_size, 1))]
    for kernel, stride, dilation in stack:
        if kernel == stride and dilation == 1:  # a pooling window
            layers.append(keras.layers.AveragePooling2D(kernel, strides=stride))
        else:
            layers.append(
                keras.layers.Conv2D(
                    1,
                    kernel,
                    strides=stride,
                    dilation_rate=dilation,
                    use_bias=False,
                    kernel_initializer="ones",
                )
            )
    model = keras.Sequential(layers)
    # One image per input pixel, that pixel set to 1: a linear stack with positive weights
    # gives a positive output exactly where the pixel is inside the receptive field.
    impulses = np.eye(image_size * image_size, dtype=np.float32)
    impulses = impulses.reshape(-1, image_size, image_size, 1)
    outputs = model.predict(impulses, verbose=0, batch_size=256)
    rows = []
    for unit in (0, 1):  # two neighbouring output units along the width
        touched = np.flatnonzero(outputs[:, 0, unit, 0] > 0)
        columns = touched % image_size
        rows.append((columns.min(), columns.max()))
    size = rows[0][1] - rows[0][0] + 1
    jump = rows[1][0] - rows[0][0]
    return int(size), int(jump)


@pytest.mark.parametrize(
    "stack",
    [
        [(3, 1, 1), (3, 1, 1)],
        [(3, 1, 1), (2, 2, 1), (3, 1, 1)],
        [(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1)],
        [(5, 2, 1), (3, 1, 2)],
        [(3, 1, 2), (3, 1, 1), (3, 3, 1)],
    ],
)
def test_receptive_field_matches_keras_impulse_responses(stack):
    expected = theory.receptive_field(stack)
    assert _measured_receptive_field(stack) == (expected.size, expected.jump)


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    image = np.zeros((1, 5, 5, 3))
    with pytest.raises(ValueError, match="inputs have 3"):
        theory.conv2d(image, np.zeros((3, 3, 1, 4)))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        theory.conv2d(image, np.zeros((3, 3, 3, 4)), padding="full")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        theory.pool2d(image, padding="causal")
    with pytest.raises(ValueError, match="padding must be"):
        theory.conv_output_size(5, 3, padding="full")
    with pytest.raises(ValueError, match="bias must have shape"):
        theory.conv2d(image, np.zeros((3, 3, 3, 4)), bias=np.zeros(3))
    with pytest.raises(ValueError, match=r"kernels must have shape"):
        theory.conv2d(image, np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match=r"inputs must have shape"):
        theory.conv2d(np.zeros((5, 5)), np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError, match="groups=2 must divide"):
        theory.conv2d(image, np.zeros((3, 3, 1, 4)), groups=2)
    with pytest.raises(ValueError, match="does not fit"):
        theory.conv2d(image, np.zeros((7, 7, 3, 1)))
    with pytest.raises(ValueError, match="stride must be"):
        theory.conv2d(image, np.zeros((3, 3, 3, 1)), stride=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        theory.pool2d(image, mode="median")
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        theory.conv2d_params(3, 3, 0)
    with pytest.raises(ValueError, match="groups=4 must divide"):
        theory.conv2d_params(3, 6, 8, groups=4)
    with pytest.raises(ValueError, match="kernel_size"):
        theory.conv2d_params((3, 3, 3), 1, 1)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        theory.dense_params(10, 2.5)
    with pytest.raises(ValueError, match=r"layers\[1\]"):
        theory.receptive_field([(3, 1), (3,)])
    with pytest.raises(ValueError, match=r"layers\[0\] stride"):
        theory.receptive_field([(3, 0)])


def test_docstring_examples_run():
    results = doctest.testmod(theory)
    assert results.attempted >= 15
    assert results.failed == 0
