"""Self-checks: run them on your work, and they tell you what is wrong and give a hint.

Each check either prints one line starting with ``✓`` (all good) or raises a
:class:`SelfCheckError` whose message has two parts: *what* is wrong, described with your
own values, and a ``Hint:`` that points you in the right direction. A hint never contains
the solution of an exercise: a parameter-count check tells you that your count is off and
where to look, not the number you should find.

:class:`SelfCheckError` is an ``AssertionError``, so in a notebook a failing check stops the
cell with a red message, exactly like a failing ``assert`` in a visible test cell. The checks
write only to standard output (never to standard error), so a passing check never costs
points under nbgrader.

Example::

    from labcore import checks
    checks.check_images_scaled(x_train)          # ✓ images: float32 values in [0, 1] ...
    checks.check_output_layer(model, num_classes=10, activation="softmax")
"""

from __future__ import annotations

import numbers
import re

import numpy as np

__all__ = [
    "SelfCheckError",
    "check_channel_axis",
    "check_compiled",
    "check_images_scaled",
    "check_integer_labels",
    "check_output_layer",
    "check_parameter_count",
    "check_shape",
]


class SelfCheckError(AssertionError):
    """A self-check found a mistake. The message says what is wrong and ends with a hint."""


def _fail(problem: str, hint: str):
    raise SelfCheckError(f"{problem}\nHint: {hint}")


def _passed(message: str) -> None:
    print(f"✓ {message}")  # standard output: nbgrader scores standard error as a failure


def _as_array(values, name: str) -> np.ndarray:
    """NumPy view of an array or tensor; a friendly error for anything else."""
    if hasattr(values, "element_spec") or (hasattr(values, "take") and hasattr(values, "batch")):
        _fail(
            f"{name} is a dataset ({type(values).__name__}), not an array of values.",
            "check one batch instead, e.g. take the images of the first batch of the dataset.",
        )
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        _fail(
            f"{name} cannot be read as an array ({error}).",
            "pass a NumPy array (or a tensor) of numbers.",
        )
    if array.dtype == object:
        _fail(
            f"{name} is not an array of numbers (it holds Python objects, dtype=object).",
            "pieces of different shapes end up as objects; stack equal-sized arrays with np.stack.",
        )
    return array


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


# --------------------------------------------------------------------------- model checks


def _require_keras_model(model) -> None:
    import keras

    if not isinstance(model, keras.Model):
        _fail(
            f"expected a Keras model, got {type(model).__name__}.",
            "pass the model object itself (the result of keras.Sequential([...]) or "
            "keras.Model(...)).",
        )


def _require_built(model) -> None:
    _require_keras_model(model)
    if not model.built:
        _fail(
            "the model has no weights yet, so its parameters cannot be counted.",
            "start the Sequential list with keras.Input(shape=...), so Keras knows the image "
            "size and creates the weights right away.",
        )


def check_parameter_count(model, expected: int, reveal: bool = False) -> None:
    """Check a model's total number of parameters (trainable and non-trainable).

    Parameters
    ----------
    model : keras.Model
        A built model (with ``keras.Input``).
    expected : int
        The number it should have.
    reveal : bool, default=False
        Include ``expected`` in the message. Leave it off when that number is the answer to
        the exercise; the message then says whether the model has too many or too few
        parameters and lists the model's own per-layer counts to recount.

    Raises
    ------
    SelfCheckError
        If the count differs (or the model has no weights yet).

    Examples
    --------
    >>> from labcore import models
    >>> check_parameter_count(models.seed_cnn(), 27_562)
    ✓ the model has the expected number of parameters (27,562)
    """
    _require_built(model)
    actual = int(model.count_params())
    if actual == int(expected):
        _passed(f"the model has the expected number of parameters ({actual:,})")
        return
    per_layer = "\n".join(
        f"  {layer.name:<20} {type(layer).__name__:<22} {layer.count_params():>12,}"
        for layer in model.layers
    )
    comparison = (
        f"; the published architecture has {int(expected):,}"
        if reveal
        else f", which is too {'many' if actual > int(expected) else 'few'}"
    )
    if actual > int(expected):
        likely = (
            "Too many usually means a larger Dense input: padding='same' where 'valid' was "
            "meant, or a missing pooling layer before Flatten; or more filters/units than "
            "asked for."
        )
    else:
        likely = (
            "Too few usually means a missing layer, use_bias=False, an extra pooling layer, "
            "or fewer filters/units than asked for."
        )
    _fail(
        f"Your model has {actual:,} parameters{comparison}. Its layers:\n{per_layer}",
        "recount layer by layer: Conv2D has kh·kw·C_in·filters + filters, Dense has "
        "inputs·units + units, pooling/Flatten/Dropout have none. The Dense layer after "
        "Flatten usually holds most of them, and its input size depends on the padding and "
        f"pooling before it. {likely}",
    )


def _activation_name(layer) -> str | None:
    """Name of the activation a layer applies last, or None if it applies none we can see."""
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


def check_output_layer(model, num_classes: int, activation: str = "softmax") -> None:
    """Check the output layer: number of units and activation for the classification task.

    The expected number of units is ``num_classes``, except for a two-class problem with a
    ``sigmoid`` output, which needs a single unit (the probability of the positive class).

    Parameters
    ----------
    model : keras.Model
        A built model.
    num_classes : int
        Number of classes of the problem.
    activation : {"softmax", "sigmoid"}, default="softmax"
        The output activation the exercise asks for.

    Raises
    ------
    SelfCheckError
        If the last layer's activation or the number of outputs is wrong.

    Examples
    --------
    >>> from labcore import models
    >>> check_output_layer(models.xray_cnn(image_size=32), num_classes=2, activation="sigmoid")
    ✓ output layer: 1 unit with sigmoid
    """
    if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}")
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}")
    _require_built(model)
    last = model.layers[-1]
    try:
        units = model.output_shape[-1]
    except (AttributeError, ValueError, RuntimeError):  # e.g. a subclassed model
        units = getattr(last, "units", None)
    actual = _activation_name(last)
    binary = num_classes == 2 and activation == "sigmoid"
    expected_units = 1 if binary else num_classes
    probability_hint = (
        "for two classes, one unit with a sigmoid gives the probability of the positive "
        "class (trained with binary cross-entropy)."
        if binary
        else f"for one label out of {num_classes} classes, a softmax turns the scores into "
        "probabilities that sum to 1."
    )

    if actual != activation:
        if actual == "softmax" and units == 1:
            problem = (
                "The output layer is a softmax over a single unit: softmax divides by the sum "
                "of all outputs, so with one unit it always outputs 1.0, whatever the image. "
                "The model cannot learn."
            )
        elif actual == "softmax":
            problem = (
                f"The output layer uses softmax, but this exercise asks for a {activation} output."
            )
        elif actual == "sigmoid":
            problem = (
                "The output layer uses sigmoid: each class gets a probability on its own, "
                "and they do not sum to 1 (that is for several labels per image)."
            )
        elif actual in (None, "linear"):
            problem = (
                f"The last layer ({last.name}) applies no activation: its outputs are raw "
                "scores (logits), not probabilities."
            )
        else:
            problem = (
                f"The last layer ({last.name}) uses {actual!r}, which does not give "
                "probabilities (it is not limited to [0, 1])."
            )
        _fail(problem, probability_hint)

    if units != expected_units:
        if binary:
            problem = (
                f"The output layer has {units} sigmoid units, but a two-class problem needs "
                "only one probability: P(positive); the other class is 1 − P."
            )
        else:
            problem = (
                f"The output layer has {units} unit(s), but there are {num_classes} classes: "
                "the model needs one output per class."
            )
        _fail(problem, probability_hint)
    _passed(f"output layer: {units} unit{'s' if units != 1 else ''} with {activation}")


_LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "bce": "binary_crossentropy",
    "categorical_cross_entropy": "categorical_crossentropy",
}


def _loss_name(loss) -> str:
    """Canonical snake_case name of a loss given as string, function or Loss object."""
    if isinstance(loss, str):
        name = loss
    elif hasattr(loss, "__name__"):
        name = loss.__name__
    elif isinstance(getattr(loss, "name", None), str):
        name = loss.name
    else:
        name = type(loss).__name__
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return _LOSS_ALIASES.get(name, name)


_LOSS_HINTS = {
    ("sparse_categorical_crossentropy", "categorical_crossentropy"): (
        "categorical_crossentropy expects one-hot labels (one column per class), but these "
        "labels are class numbers.",
        "Keras has a variant of this loss made for integer labels.",
    ),
    ("categorical_crossentropy", "sparse_categorical_crossentropy"): (
        "sparse_categorical_crossentropy expects integer class numbers, but these labels "
        "are one-hot rows.",
        "use the variant of categorical cross-entropy made for one-hot labels.",
    ),
    ("binary_crossentropy", "sparse_categorical_crossentropy"): (
        "sparse_categorical_crossentropy expects one output per class; this two-class "
        "problem has one sigmoid output, a single probability.",
        "which cross-entropy compares one probability with a 0/1 label?",
    ),
    ("binary_crossentropy", "categorical_crossentropy"): (
        "categorical_crossentropy expects one output per class; this two-class problem has "
        "one sigmoid output, a single probability.",
        "which cross-entropy compares one probability with a 0/1 label?",
    ),
}


def check_compiled(model, loss=None) -> None:
    """Check that a model is compiled, optionally with the loss the task needs.

    Parameters
    ----------
    model : keras.Model
        The model.
    loss : str or keras.losses.Loss, optional
        The loss it should use, e.g. ``"sparse_categorical_crossentropy"``. Names, loss
        functions and loss objects compare by name.

    Raises
    ------
    SelfCheckError
        If the model is not compiled, has no loss, uses another loss, or passes
        ``from_logits=True`` while its output layer already applies softmax / sigmoid.

    Examples
    --------
    >>> from labcore import models
    >>> model = models.seed_cnn()
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> check_compiled(model, loss="sparse_categorical_crossentropy")
    ✓ the model is compiled: optimizer Adam, loss sparse_categorical_crossentropy
    """
    _require_keras_model(model)
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        _fail(
            "The model is not compiled yet, so it cannot be trained.",
            "model.compile(...) takes an optimizer, a loss and the metrics to report; call it "
            "before model.fit.",
        )
    if model.loss is None:
        _fail(
            "The model is compiled without a loss: fit has nothing to minimise.",
            "pass loss=... to model.compile; it must match the output layer and the labels.",
        )
    actual = _loss_name(model.loss)
    if getattr(model.loss, "from_logits", False) and model.built:
        activation = _activation_name(model.layers[-1])
        if activation in ("softmax", "sigmoid"):
            _fail(
                f"The loss is told from_logits=True, but the output layer already applies "
                f"{activation}: the probabilities would be squashed a second time.",
                "either the output layer applies the activation, or the loss does (with "
                "from_logits=True), not both.",
            )
    if loss is not None:
        wanted = _loss_name(loss)
        if actual != wanted:
            problem, hint = _LOSS_HINTS.get(
                (wanted, actual),
                (
                    f"The model is compiled with the loss {actual!r}, which does not fit this "
                    "task.",
                    "classification is trained with a cross-entropy; choose the one that "
                    "matches the output layer (softmax or sigmoid) and the label format "
                    "(class numbers or one-hot).",
                ),
            )
            if actual in ("mean_squared_error", "mean_absolute_error"):
                problem = f"{actual} is a regression loss; this is a classification task."
            _fail(problem, hint)
    optimizer = type(model.optimizer).__name__
    _passed(f"the model is compiled: optimizer {optimizer}, loss {actual}")
