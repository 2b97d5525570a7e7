"""Convolution by hand: NumPy reference implementations of what Keras' layers compute.

Everything here is plain NumPy, written to be read next to the lecture notes. The functions
agree with the matching Keras layers to within rounding (the tests check this on random
inputs), so notebook 01 can use them to explain a layer and to check your hand calculations.

Layouts follow Keras (``channels_last``):

* images: ``(height, width, channels)`` or a batch ``(batch, height, width, channels)``;
* convolution kernels: ``(kernel_height, kernel_width, in_channels, filters)``.

Convolution
    A Conv2D layer slides each filter over the image and, at every position, multiplies the
    filter with the patch under it and adds everything up (plus a bias). Strictly speaking
    this is *cross-correlation*: the filter is not flipped, exactly as in Keras.
    ``stride`` skips positions, ``dilation`` spreads the filter taps apart (a 3×3 filter with
    dilation 2 covers 5×5 pixels) and ``padding`` decides what happens at the border:

    ``"valid"``
        no padding; the filter only visits positions where it fits completely, so the output
        shrinks: ``floor((n - d·(k - 1) - 1) / s) + 1`` pixels along an axis of ``n``.
    ``"same"``
        zeros are added so that the output has ``ceil(n / s)`` pixels (with stride 1: the same
        size as the input). When an odd number of padding pixels is needed, the extra one goes
        at the bottom / right, as TensorFlow and Keras do.

Pooling
    A pooling layer summarises each window of each channel on its own: the maximum, the
    average or the sum. Pooling has no parameters.

Parameter counts
    A Conv2D layer learns ``kh·kw·C_in·F`` weights plus ``F`` biases, whatever the image size;
    a Dense layer learns ``inputs·units + units``. That is why the Dense layer right after
    ``Flatten`` usually holds most of a small CNN's parameters.

Receptive field
    The receptive field of a unit is the square of input pixels that can influence it. Each
    layer widens it by ``(k_eff - 1)`` times the *jump* (the distance, in input pixels, between
    neighbouring units of that layer's input); each stride multiplies the jump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "PADDINGS",
    "POOL_MODES",
    "ReceptiveField",
    "conv2d",
    "conv2d_params",
    "conv_output_size",
    "dense_params",
    "depthwise_conv2d_params",
    "padding_amounts",
    "pool2d",
    "receptive_field",
    "separable_conv2d_params",
]

#: The padding modes Keras' Conv2D and pooling layers accept.
PADDINGS = ("valid", "same")
#: What :func:`pool2d` can compute over each window.
POOL_MODES = ("max", "average", "sum")


# --------------------------------------------------------------------------- argument checks


def _pair(value, name: str) -> tuple[int, int]:
    """Turn an int or a pair of ints into ``(rows, columns)``; positive values only."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(_is_int(v) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive_int(value, name: str) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _padding(padding) -> str:
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _as_batch(inputs, name: str = "inputs") -> tuple[np.ndarray, bool]:
    """Return a float64 ``(N, H, W, C)`` array and whether a batch axis was added."""
    array = np.asarray(inputs, dtype=np.float64)
    if array.ndim == 3:
        return array[np.newaxis], True
    if array.ndim == 4:
        return array, False
    raise ValueError(
        f"{name} must have shape (height, width, channels) or (batch, height, width, channels), "
        f"got shape {array.shape}"
    )


# --------------------------------------------------------------------------- sizes


def conv_output_size(
    input_size: int, kernel_size: int, stride: int = 1, padding: str = "valid", dilation: int = 1
) -> int:
    """Length of a convolution's (or pooling's) output along one axis.

    Parameters
    ----------
    input_size : int
        Input pixels along the axis (height or width).
    kernel_size : int
        Filter (or pooling window) size along the axis.
    stride : int, default=1
        Step between neighbouring windows.
    padding : {"valid", "same"}, default="valid"
        ``"valid"``: no padding; ``"same"``: zero padding so the output has
        ``ceil(input_size / stride)`` pixels.
    dilation : int, default=1
        Spacing between filter taps; the window covers ``dilation·(kernel_size - 1) + 1``
        pixels.

    Returns
    -------
    int
        ``floor((n - d·(k - 1) - 1) / s) + 1`` for ``"valid"``, ``ceil(n / s)`` for ``"same"``.

    Raises
    ------
    ValueError
        If an argument is not a positive integer, the padding is unknown, or (``"valid"``)
        the window is larger than the input.

    Examples
    --------
    >>> conv_output_size(28, 3)
    26
    >>> conv_output_size(26, 2, stride=2)  # a 2×2 max pooling
    13
    >>> conv_output_size(7, 3, stride=2, padding="same")
    4
    """
    input_size = _positive_int(input_size, "input_size")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = _positive_int(stride, "stride")
    dilation = _positive_int(dilation, "dilation")
    if _padding(padding) == "same":
        return -(-input_size // stride)  # ceil division
    window = dilation * (kernel_size - 1) + 1
    if window > input_size:
        raise ValueError(
            f"a window of {window} pixels (kernel_size={kernel_size}, dilation={dilation}) does "
            f"not fit into {input_size} input pixels with padding='valid'; use a smaller "
            "kernel or padding='same'"
        )
    return (input_size - window) // stride + 1


def padding_amounts(
    input_size: int, kernel_size: int, stride: int = 1, padding: str = "valid", dilation: int = 1
) -> tuple[int, int]:
    """Zero pixels added before and after one axis, exactly as Keras / TensorFlow do.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, dilation
        As in :func:`conv_output_size`.

    Returns
    -------
    (int, int)
        Pixels added at the top (left) and at the bottom (right). ``(0, 0)`` for
        ``"valid"``. For ``"same"`` the total is what the last window needs to fit; when it
        is odd, the extra pixel goes at the bottom (right).

    Examples
    --------
    >>> padding_amounts(5, 3, padding="same")
    (1, 1)
    >>> padding_amounts(6, 3, stride=2, padding="same")  # one pixel, at the bottom
    (0, 1)
    """
    output_size = conv_output_size(input_size, kernel_size, stride, padding, dilation)
    if _padding(padding) == "valid":
        return 0, 0
    window = dilation * (kernel_size - 1) + 1
    total = max((output_size - 1) * stride + window - input_size, 0)
    return total // 2, total - total // 2


# --------------------------------------------------------------------------- windows


def _windows(batch: np.ndarray, window: tuple[int, int], stride, dilation) -> np.ndarray:
    """All (strided, dilated) windows: ``(N, out_h, out_w, C, kh, kw)``; a view, no copies.

    ``sliding_window_view`` lists every window of the *covered* size ``d·(k - 1) + 1``; taking
    every ``stride``-th window and every ``dilation``-th pixel inside it gives the taps.
    """
    (kh, kw), (sh, sw), (dh, dw) = window, stride, dilation
    covered = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    views = sliding_window_view(batch, covered, axis=(1, 2))
    return views[:, ::sh, ::sw, :, ::dh, ::dw]


def _pad(batch: np.ndarray, window, stride, padding: str, dilation, value: float) -> np.ndarray:
    """Pad height and width of ``(N, H, W, C)`` the way Keras' ``padding`` argument does."""
    _, height, width, _ = batch.shape
    rows = padding_amounts(height, window[0], stride[0], padding, dilation[0])
    cols = padding_amounts(width, window[1], stride[1], padding, dilation[1])
    return np.pad(batch, ((0, 0), rows, cols, (0, 0)), constant_values=value)


# --------------------------------------------------------------------------- convolution


def conv2d(
    inputs,
    kernels,
    bias=None,
    stride=1,
    padding: str = "valid",
    dilation=1,
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution (cross-correlation) as a Keras ``Conv2D`` layer computes it.

    No activation is applied: ``Conv2D(..., activation="relu")`` equals
    ``np.maximum(conv2d(...), 0)``.

    Parameters
    ----------
    inputs : array-like
        Images ``(height, width, channels)`` or a batch ``(batch, height, width, channels)``.
    kernels : array-like
        Filters ``(kernel_height, kernel_width, channels // groups, filters)``: the layout
        of ``Conv2D.kernel`` (``layer.get_weights()[0]``).
    bias : array-like of shape (filters,), optional
        Added to each filter's output (``layer.get_weights()[1]``).
    stride : int or (int, int), default=1
        Step between windows along height and width.
    padding : {"valid", "same"}, default="valid"
        See the module docstring; zeros are added for ``"same"``.
    dilation : int or (int, int), default=1
        Spacing between filter taps.
    groups : int, default=1
        Split the channels into this many groups, each convolved with its own
        ``filters // groups`` filters (``Conv2D(groups=...)``).

    Returns
    -------
    numpy.ndarray
        float64 feature maps ``(out_height, out_width, filters)``, or with a leading batch
        axis if ``inputs`` had one; sizes from :func:`conv_output_size`.

    Raises
    ------
    ValueError
        If shapes do not match (channels, bias length, groups), the padding is unknown, or a
        ``"valid"`` window does not fit into the image.

    Examples
    --------
    A vertical-edge filter on a 3×4 image that is dark on the left and bright on the right:

    >>> image = np.array([[0, 0, 1, 1]] * 3, dtype=float)[..., np.newaxis]
    >>> edge = np.array([[-1, 0, 1]] * 3, dtype=float)[..., np.newaxis, np.newaxis]
    >>> conv2d(image, edge)[..., 0]
    array([[3., 3.]])
    """
    batch, added_batch_axis = _as_batch(inputs)
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 4:
        raise ValueError(
            "kernels must have shape (kernel_height, kernel_width, in_channels, filters), "
            f"got shape {kernels.shape}"
        )
    groups = _positive_int(groups, "groups")
    kh, kw, group_channels, filters = kernels.shape
    channels = batch.shape[-1]
    if channels % groups or filters % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels ({channels}) and the "
            f"filters ({filters})"
        )
    if group_channels * groups != channels:
        raise ValueError(
            f"the kernels expect {group_channels * groups} input channels "
            f"({group_channels} per group × {groups} groups) but inputs have {channels}: the "
            "third axis of kernels must be channels // groups"
        )
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding = _padding(padding)
    # raise a clear error early if a "valid" window does not fit
    conv_output_size(batch.shape[1], kh, stride[0], padding, dilation[0])
    conv_output_size(batch.shape[2], kw, stride[1], padding, dilation[1])

    padded = _pad(batch, (kh, kw), stride, padding, dilation, value=0.0)
    windows = _windows(padded, (kh, kw), stride, dilation)  # (N, out_h, out_w, C, kh, kw)

    # Each group of channels meets its own block of filters. With groups=1 this is one product:
    #   output[n, y, x, f] = sum over i, j, c of window[n, y, x, c, i, j] · kernel[i, j, c, f]
    filters_per_group = filters // groups
    outputs = []
    for group in range(groups):
        group_windows = windows[:, :, :, group * group_channels : (group + 1) * group_channels]
        group_kernels = kernels[..., group * filters_per_group : (group + 1) * filters_per_group]
        outputs.append(np.einsum("nyxcij,ijcf->nyxf", group_windows, group_kernels, optimize=True))
    result = np.concatenate(outputs, axis=-1)

    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (filters,):
            raise ValueError(f"bias must have shape ({filters},), one per filter, got {bias.shape}")
        result = result + bias
    return result[0] if added_batch_axis else result


# --------------------------------------------------------------------------- pooling


def pool2d(
    inputs, pool_size=2, stride=None, padding: str = "valid", mode: str = "max"
) -> np.ndarray:
    """2-D pooling as Keras' ``MaxPooling2D`` / ``AveragePooling2D`` compute it.

    Each channel is pooled on its own. With ``padding="same"`` the windows at the border
    overlap the padding; padded positions are ignored: they never win the maximum and are
    not counted in the average (as in Keras).

    Parameters
    ----------
    inputs : array-like
        ``(height, width, channels)`` or ``(batch, height, width, channels)``.
    pool_size : int or (int, int), default=2
        Window size.
    stride : int or (int, int), optional
        Step between windows; by default equal to ``pool_size`` (windows do not overlap).
    padding : {"valid", "same"}, default="valid"
        As for :func:`conv2d`.
    mode : {"max", "average", "sum"}, default="max"
        ``"max"``: largest value in the window. ``"average"``: mean of the window's real
        (not padded) pixels. ``"sum"``: sum of the window's real pixels, i.e. the average
        times the number of real pixels (with ``"valid"`` padding: the average times
        ``pool_height·pool_width``). Keras has no sum-pooling layer; it is here because sum
        pooling is a convolution with an all-ones filter per channel.

    Returns
    -------
    numpy.ndarray
        float64 array ``(out_height, out_width, channels)`` (batch axis kept if given).

    Raises
    ------
    ValueError
        If the mode or padding is unknown, or a ``"valid"`` window does not fit.

    Examples
    --------
    >>> image = np.arange(16, dtype=float).reshape(4, 4, 1)
    >>> pool2d(image)[..., 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> pool2d(image, mode="average")[..., 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}, got {mode!r}")
    batch, added_batch_axis = _as_batch(inputs)
    window = _pair(pool_size, "pool_size")
    stride = window if stride is None else _pair(stride, "stride")
    padding = _padding(padding)
    no_dilation = (1, 1)
    # raise a clear error early if a "valid" window does not fit
    conv_output_size(batch.shape[1], window[0], stride[0], padding)
    conv_output_size(batch.shape[2], window[1], stride[1], padding)

    # A mask marks the real pixels, so padding is left out of the max, sum and count.
    real = _pad(np.ones_like(batch), window, stride, padding, no_dilation, value=0.0)
    padded = _pad(batch, window, stride, padding, no_dilation, value=0.0)
    values = _windows(padded, window, stride, no_dilation)  # (N, out_h, out_w, C, ph, pw)
    is_real = _windows(real, window, stride, no_dilation).astype(bool)

    if mode == "max":
        result = np.where(is_real, values, -np.inf).max(axis=(-2, -1))
    else:
        total = np.where(is_real, values, 0.0).sum(axis=(-2, -1))
        result = total if mode == "sum" else total / is_real.sum(axis=(-2, -1))
    return result[0] if added_batch_axis else result


# --------------------------------------------------------------------------- parameter counts


def conv2d_params(
    kernel_size, in_channels: int, filters: int, use_bias: bool = True, groups: int = 1
) -> int:
    """Trainable parameters of a ``Conv2D`` layer.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Filter height and width.
    in_channels : int
        Channels of the layer's input (1 for grayscale images, 3 for RGB, or the previous
        layer's filters).
    filters : int
        Number of filters (output channels).
    use_bias : bool, default=True
        One bias per filter.
    groups : int, default=1
        Grouped convolution: each filter sees only ``in_channels // groups`` channels.

    Returns
    -------
    int
        ``kh·kw·(in_channels / groups)·filters + filters`` (the last term only with a bias).

    Examples
    --------
    >>> conv2d_params(3, 1, 8)  # the seed model's first layer
    80
    >>> conv2d_params(3, 8, 16)
    1168
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    in_channels = _positive_int(in_channels, "in_channels")
    filters = _positive_int(filters, "filters")
    groups = _positive_int(groups, "groups")
    if in_channels % groups or filters % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels ({in_channels}) and filters ({filters})"
        )
    return kh * kw * (in_channels // groups) * filters + (filters if use_bias else 0)


def dense_params(in_features: int, units: int, use_bias: bool = True) -> int:
    """Trainable parameters of a ``Dense`` layer.

    Parameters
    ----------
    in_features : int
        Length of the input vector (after ``Flatten``: height·width·channels).
    units : int
        Number of neurons.
    use_bias : bool, default=True
        One bias per neuron.

    Returns
    -------
    int
        ``in_features·units + units`` (the last term only with a bias).

    Examples
    --------
    >>> dense_params(5 * 5 * 16, 64)  # the seed model's hidden Dense layer
    25664
    """
    in_features = _positive_int(in_features, "in_features")
    units = _positive_int(units, "units")
    return in_features * units + (units if use_bias else 0)


def depthwise_conv2d_params(
    kernel_size, in_channels: int, depth_multiplier: int = 1, use_bias: bool = True
) -> int:
    """Trainable parameters of a ``DepthwiseConv2D`` layer.

    A depthwise convolution gives every input channel its own ``depth_multiplier`` filters
    and never mixes channels.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Filter height and width.
    in_channels : int
        Input channels.
    depth_multiplier : int, default=1
        Filters per input channel.
    use_bias : bool, default=True
        One bias per output channel.

    Returns
    -------
    int
        ``kh·kw·in_channels·depth_multiplier + in_channels·depth_multiplier``.

    Examples
    --------
    >>> depthwise_conv2d_params(3, 32)
    320
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    outputs = _positive_int(in_channels, "in_channels") * _positive_int(
        depth_multiplier, "depth_multiplier"
    )
    return kh * kw * outputs + (outputs if use_bias else 0)


def separable_conv2d_params(
    kernel_size,
    in_channels: int,
    filters: int,
    depth_multiplier: int = 1,
    use_bias: bool = True,
) -> int:
    """Trainable parameters of a ``SeparableConv2D`` layer.

    A separable convolution is a depthwise convolution (spatial filtering per channel)
    followed by a 1×1 pointwise convolution that mixes the channels into ``filters``
    outputs. Keras puts the only bias on the pointwise part.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Depthwise filter height and width.
    in_channels : int
        Input channels.
    filters : int
        Output channels of the pointwise step.
    depth_multiplier : int, default=1
        Depthwise filters per input channel.
    use_bias : bool, default=True
        One bias per output filter.

    Returns
    -------
    int
        ``kh·kw·C·m + C·m·filters + filters`` with ``C = in_channels``,
        ``m = depth_multiplier``.

    Examples
    --------
    >>> separable_conv2d_params(3, 32, 64)  # versus conv2d_params(3, 32, 64) == 18496
    2400
    """
    depthwise = depthwise_conv2d_params(kernel_size, in_channels, depth_multiplier, use_bias=False)
    pointwise = conv2d_params(1, in_channels * depth_multiplier, filters, use_bias=use_bias)
    return depthwise + pointwise


# --------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output unit of a layer stack (along one axis).

    Attributes
    ----------
    size : int
        Input pixels (along height, and equally along width for square kernels) that can
        influence one output unit.
    jump : int
        Distance, in input pixels, between the centres of neighbouring output units: the
        product of all strides (the stack's effective stride).
    """

    size: int
    jump: int


def receptive_field(layers) -> ReceptiveField:
    """Receptive field of a stack of convolution and pooling layers.

    Works one axis at a time: square kernels give square receptive fields. Padding does
    not change the size (only where the field sits at the image border).

    Parameters
    ----------
    layers : sequence of tuple
        One ``(kernel_size, stride)`` or ``(kernel_size, stride, dilation)`` tuple of ints
        per layer, first layer first. A 2×2 max pooling is ``(2, 2)``. Layers that look at
        one pixel (Dense on a 1×1 map, 1×1 convolutions, activations) may be left out.

    Returns
    -------
    ReceptiveField
        ``size`` and ``jump``, starting from ``size=1, jump=1`` and applying, per layer,
        ``size += (d·(k - 1)) · jump`` then ``jump *= stride``.

    Raises
    ------
    ValueError
        If a layer is not a tuple of 2 or 3 positive integers.

    Examples
    --------
    >>> receptive_field([(3, 1), (3, 1)]).size
    5
    >>> receptive_field([(3, 1), (2, 2), (3, 1)])
    ReceptiveField(size=8, jump=2)
    """
    size, jump = 1, 1
    for position, layer in enumerate(layers):
        if isinstance(layer, str) or not hasattr(layer, "__len__") or len(layer) not in (2, 3):
            raise ValueError(
                f"layers[{position}] must be (kernel_size, stride) or (kernel_size, stride, "
                f"dilation), got {layer!r}"
            )
        kernel_size, stride, *rest = layer
        what = f"layers[{position}]"
        kernel_size = _positive_int(kernel_size, f"{what} kernel_size")
        stride = _positive_int(stride, f"{what} stride")
        dilation = _positive_int(rest[0], f"{what} dilation") if rest else 1
        size += dilation * (kernel_size - 1) * jump
        jump *= stride
    return ReceptiveField(size=size, jump=jump)
