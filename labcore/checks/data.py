"""Self-checks on data: scaled images, the channel axis, integer labels, shapes."""

from __future__ import annotations

import numbers

import numpy as np

from labcore.checks.core import _as_array, _fail, _passed

# --------------------------------------------------------------------------- data checks


def check_images_scaled(images, name: str = "images") -> None:
    """Check that images are floats scaled to [0, 1].

    Parameters
    ----------
    images : array-like
        Images (any shape), e.g. ``x_train``.
    name : str, default="images"
        How the message refers to the array.

    Raises
    ------
    SelfCheckError
        If the values are integers, outside [0, 1], not finite, all zero, or scaled twice.

    Examples
    --------
    >>> check_images_scaled(np.array([[0.0, 0.5, 1.0]]))
    ✓ images: float64 values in [0, 1] (min 0.000, max 1.000)
    """
    array = _as_array(images, name)
    if array.size == 0:
        _fail(f"{name} is empty (shape {array.shape}).", "check how the array was selected.")
    if not np.issubdtype(array.dtype, np.floating):
        low, high = array.min(), array.max()
        _fail(
            f"{name} holds integers (dtype {array.dtype}, values {low} to {high}): pixel "
            "values are not scaled yet.",
            "a network learns best from small floats. Raw pixels run from 0 to 255: convert "
            "to float and divide by 255 (labcore.data.prepare_images does both).",
        )
    if not np.isfinite(array).all():
        _fail(
            f"{name} contains NaN or infinite values.",
            "look for a division by zero, or by a standard deviation of 0, in your scaling.",
        )
    low, high = float(array.min()), float(array.max())
    if low < 0:
        _fail(
            f"{name} has negative values (min {low:.3f}): it looks standardised (mean 0) "
            "rather than scaled to [0, 1].",
            "this course's models expect pixel values from 0 to 1: divide the raw pixels by "
            "255 and do not subtract a mean.",
        )
    if high > 255:
        _fail(
            f"{name} goes up to {high:.1f}, more than a pixel can hold (255).",
            "did you multiply where you meant to divide?",
        )
    if high > 1:
        _fail(
            f"{name} goes up to {high:.1f}: the pixels are not scaled yet.",
            "raw pixels run from 0 to 255; divide by 255 to bring them into [0, 1].",
        )
    if high == 0:
        _fail(
            f"{name} is all zeros: every image is black.",
            "divide the pixels by 255 once, as floats; integer division (//) makes almost "
            "every pixel 0.",
        )
    if high <= 1 / 255 + 1e-9:
        _fail(
            f"{name} goes up to only {high:.5f} (about 1/255): the images were divided by 255 "
            "twice.",
            "scale the raw pixels once; re-run the notebook from the top if a cell that "
            "scales was run twice.",
        )
    _passed(f"{name}: {array.dtype} values in [0, 1] (min {low:.3f}, max {high:.3f})")


def check_channel_axis(images, channels: int = 1, name: str = "images") -> None:
    """Check that a batch of images has the channel axis Keras' Conv2D expects.

    Keras uses *channels last*: ``(batch, height, width, channels)``.

    Parameters
    ----------
    images : array-like
        The image batch.
    channels : int, default=1
        Channels each image should have: 1 for grayscale, 3 for RGB.
    name : str, default="images"
        How the message refers to the array.

    Raises
    ------
    SelfCheckError
        If the array does not have 4 axes or its last axis is not ``channels`` long.

    Examples
    --------
    >>> check_channel_axis(np.zeros((5, 28, 28, 1)))
    ✓ images: shape (5, 28, 28, 1) = (batch, height, width, 1 channel)
    """
    shape = _as_array(images, name).shape
    layout = "(batch, height, width, channels)"
    if len(shape) == 3:
        if channels == 1:
            _fail(
                f"{name} has shape {shape}: three axes, no channel axis. Conv2D expects four "
                f"axes, {layout}.",
                "grayscale images need a last axis of size 1; np.expand_dims (or indexing "
                "with np.newaxis) adds an axis.",
            )
        _fail(
            f"{name} has shape {shape}: three axes. Conv2D expects a batch of images with four "
            f"axes, {layout}.",
            "is this a single image? A batch needs a first axis for the images.",
        )
    if len(shape) != 4:
        _fail(
            f"{name} has {len(shape)} axes (shape {shape}); Conv2D expects four, {layout}.",
            "check how the array was built and reshaped.",
        )
    if shape[-1] != channels:
        if shape[1] == channels:
            _fail(
                f"{name} has shape {shape}: the channels are on axis 1 (channels first).",
                "Keras expects the channels on the last axis; np.moveaxis (or transpose) "
                "moves an axis.",
            )
        kind = "grayscale images have 1 channel" if channels == 1 else f"{channels} channels"
        _fail(
            f"{name} has {shape[-1]} channel(s) on its last axis (shape {shape}), but here {kind}.",
            "check the color_mode (grayscale or rgb) the images were loaded with, and the "
            "axis you added.",
        )
    what = "1 channel" if channels == 1 else f"{channels} channels"
    _passed(f"{name}: shape {shape} = (batch, height, width, {what})")


def check_integer_labels(labels, num_classes: int, name: str = "labels") -> None:
    """Check that labels are integer class numbers ``0 .. num_classes - 1``.

    Integer labels go with ``sparse_categorical_crossentropy`` (and, for two classes with one
    sigmoid output, with ``binary_crossentropy``).

    Parameters
    ----------
    labels : array-like
        Shape ``(N,)`` (or ``(N, 1)``).
    num_classes : int
        Number of classes.
    name : str, default="labels"
        How the message refers to the array.

    Raises
    ------
    SelfCheckError
        If the labels are one-hot, not integers, or outside ``0 .. num_classes - 1``.

    Examples
    --------
    >>> check_integer_labels(np.array([0, 2, 1, 2]), num_classes=3)
    ✓ labels: 4 integer labels from 0 to 2 (3 classes)
    """
    if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}")
    array = _as_array(labels, name)
    if array.ndim == 2 and array.shape[1] == num_classes and num_classes > 1:
        _fail(
            f"{name} has shape {array.shape}: it looks one-hot encoded (one column per class).",
            "keep the class numbers themselves (no to_categorical): with integer labels, "
            "Keras' *sparse* categorical cross-entropy does the one-hot step for you.",
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        _fail(
            f"{name} has shape {array.shape}; labels should be one class number per example, "
            "shape (N,).",
            "check that you passed the labels, not the images.",
        )
    if array.size == 0:
        _fail(f"{name} is empty.", "check how the labels were selected.")
    if array.dtype == bool:
        _fail(
            f"{name} holds True/False values, not class numbers.",
            "class numbers are integers (0 and 1 for two classes); NumPy's astype converts "
            "an array's type.",
        )
    if not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
            _fail(
                f"{name} holds whole numbers stored as {array.dtype}.",
                "class numbers are integers; NumPy's astype converts an array's type.",
            )
        _fail(
            f"{name} has dtype {array.dtype}; class labels must be integers 0 to "
            f"{num_classes - 1}.",
            "did you pass predicted probabilities instead of labels? np.argmax picks the "
            "class with the highest probability.",
        )
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= num_classes:
        hint = (
            "classes are numbered from 0: the first class is 0, not 1."
            if low == 1 and high == num_classes
            else f"with {num_classes} classes the labels must lie in 0 .. {num_classes - 1}; "
            "check num_classes and how the labels were made."
        )
        _fail(f"{name} range from {low} to {high}, outside 0 .. {num_classes - 1}.", hint)
    missing = sorted(set(range(num_classes)) - set(np.unique(array).tolist()))
    note = f"; classes with no example: {missing}" if missing else ""
    _passed(
        f"{name}: {array.size} integer labels from {low} to {high} ({num_classes} classes{note})"
    )


def check_shape(array, expected_shape, name: str = "array", reveal: bool = False) -> None:
    """Check an array's (or tensor's) shape; ``None`` in ``expected_shape`` matches any size.

    Parameters
    ----------
    array : array-like
        Anything with a ``shape`` (NumPy array, tensor), or values NumPy can convert.
    expected_shape : tuple
        The shape it should have, e.g. ``(None, 28, 28, 1)`` for any number of images.
    name : str, default="array"
        How the message refers to the array.
    reveal : bool, default=False
        Show the expected shape in the message. Leave it off when the shape is what the
        exercise asks for; the message then names the axes that are wrong.

    Raises
    ------
    SelfCheckError
        If the number of axes or a size differs.

    Examples
    --------
    >>> check_shape(np.zeros((8, 28, 28, 1)), (None, 28, 28, 1), name="x_train")
    ✓ x_train: shape (8, 28, 28, 1)
    """
    expected = tuple(expected_shape)
    shape = array.shape if hasattr(array, "shape") else _as_array(array, name).shape
    shape = tuple(None if size is None else int(size) for size in shape)
    wanted = f" It should be {_shape_text(expected)}." if reveal else ""
    if len(shape) != len(expected):
        more = len(shape) > len(expected)
        _fail(
            f"{name} has shape {shape}: {len(shape)} axes, {'more' if more else 'fewer'} than "
            f"it should have.{wanted}",
            "an extra axis of size 1 can be removed with np.squeeze; a missing one added with "
            "np.expand_dims. For image batches the order is (batch, height, width, channels)."
            if more or len(expected) - len(shape) == 1
            else "check the steps that built this array, one shape at a time.",
        )
    wrong = [
        axis
        for axis, (size, want) in enumerate(zip(shape, expected, strict=True))
        if want is not None and size != want
    ]
    if wrong:
        axes = ", ".join(f"axis {axis} (size {shape[axis]})" for axis in wrong)
        _fail(
            f"{name} has shape {shape}; the size of {axes} is not right.{wanted}",
            "print the shape after each step that changes it (for a model: model.summary(), "
            "and labcore.theory.conv_output_size for each convolution and pooling).",
        )
    _passed(f"{name}: shape {shape}")


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join("any" if size is None else str(size) for size in shape) + ")"
