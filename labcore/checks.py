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
    "CONVOLUTION_LIBRARIES",
    "LAYER_SETTINGS",
    "LIBRARY_GROUPS",
    "XRAY_AUGMENTATION_LIMITS",
    "LibraryCallError",
    "ProbeRun",
    "SelfCheckError",
    "all_layers",
    "call_own_code",
    "callback_probe",
    "check_augmentation",
    "check_channel_axis",
    "check_checkpoint",
    "check_compiled",
    "check_confusion_drawn_from",
    "check_conv2d",
    "check_count",
    "check_curves_drawn_from",
    "check_early_stopping",
    "check_frozen_base",
    "check_history",
    "check_images_scaled",
    "check_integer_labels",
    "check_layer_counts",
    "check_output_layer",
    "check_output_size",
    "check_own_design",
    "check_parameter_count",
    "check_plateau_reduction",
    "check_pool2d",
    "check_recompiled",
    "check_schedule",
    "check_seed_cnn",
    "check_sgd_momentum",
    "check_shape",
    "check_unfrozen_base",
    "largest_factor",
    "layer_parameter_counts",
    "model_layers",
    "recorded_rates",
    "whole_number",
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
        axes = [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
        try:
            last_axis = len(layer.output.shape) - 1
        except (AttributeError, ValueError):  # a layer used more than once
            last_axis = -1
        return "softmax" if axes in ([-1], [last_axis]) else "softmax_axis"
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
        elif actual == "softmax_axis":
            problem = (
                f"The output layer's Softmax normalises along axis {last.axis}, not along the "
                "classes: its outputs do not add up to 1 for each image."
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


# --------------------------------------------------------------------------- answer checks
#
# The notebooks' test cells call the helpers below. They check what an answer *does*
# (behaviour) and what it *is* (types, layer structure), never the text of the code: a
# comment that names a library, a helper with any name, a functional model instead of a
# Sequential one all pass when the work is right.

#: Library code an "implement it yourself" exercise may not run, by group: a path fragment
#: of the source file and, optionally, a regular expression the function's name must match.
LIBRARY_GROUPS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "labcore.theory": (("labcore/theory.py", None),),
    "labcore.data": (("labcore/data.py", None),),
    "labcore.models": (("labcore/models.py", None),),
    "labcore.training": (("labcore/training.py", None),),
    "labcore.tuning": (("labcore/tuning.py", None),),
    "labcore.transfer": (("labcore/transfer.py", None),),
    "convolution and pooling libraries": (
        ("keras/src/layers/convolutional/", None),
        ("keras/src/layers/pooling/", None),
        ("keras/src/ops/nn.py", r"conv|pool"),
        ("keras/src/backend/", r"conv|pool"),
        ("tensorflow/python/ops/", r"conv|pool"),
        ("scipy/signal/", r"conv|correlat"),
        ("scipy/ndimage/", r"convol|correlat|filter"),
        ("jax/_src/lax/convolution.py", None),
        ("jax/_src/lax/windowed_reductions.py", None),
        ("torch/nn/", r"conv|pool"),
        ("skimage/measure/", r"block_reduce"),
    ),
}

#: What an exercise that asks for a NumPy convolution or pooling may not call.
CONVOLUTION_LIBRARIES = ("labcore.theory", "convolution and pooling libraries")


class LibraryCallError(SelfCheckError):
    """The function under test ran library code that the exercise asks the student to write."""


def _library_matcher(groups):
    rules = []
    for group in groups:
        if group not in LIBRARY_GROUPS:
            raise ValueError(f"unknown library group {group!r}; known: {sorted(LIBRARY_GROUPS)}")
        rules += [
            (group, fragment, re.compile(pattern) if pattern else None)
            for fragment, pattern in LIBRARY_GROUPS[group]
        ]
    verdicts: dict = {}

    def forbidden(code) -> str | None:
        if code not in verdicts:
            path = code.co_filename.replace("\\", "/")
            verdicts[code] = next(
                (
                    f"{code.co_name}() of {group}"
                    for group, fragment, pattern in rules
                    if fragment in path and (pattern is None or pattern.search(code.co_name))
                ),
                None,
            )
        return verdicts[code]

    return forbidden


def call_own_code(function, *args, forbid=CONVOLUTION_LIBRARIES, name=None, **kwargs):
    """Call a student's function and fail if it ran library code it should not use.

    While ``function`` runs, a profile hook watches every Python function call. A call into
    one of the ``forbid`` groups of :data:`LIBRARY_GROUPS` (for example ``labcore.theory``
    or Keras' convolution layers) raises at once, and the check fails even if the student's
    code caught that error. Helpers with any name, comments and imports are all fine: only
    what actually runs counts.

    Parameters
    ----------
    function : callable
        The student's function.
    *args, **kwargs
        Its arguments.
    forbid : tuple of str, default=CONVOLUTION_LIBRARIES
        Keys of :data:`LIBRARY_GROUPS`.
    name : str, optional
        How messages refer to the function (default: its ``__name__``).

    Returns
    -------
    object
        What ``function`` returned.

    Raises
    ------
    LibraryCallError
        If a forbidden library function ran (or the function removed the watch).
    """
    import sys

    label = name or getattr(function, "__name__", "your function")
    forbidden = _library_matcher(forbid)
    used: list[str] = []

    def watch(frame, event, arg):
        if event == "call":
            found = forbidden(frame.f_code)
            if found:
                used.append(found)
                raise LibraryCallError(f"{label} called {found}")

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = function(*args, **kwargs)
    except LibraryCallError:
        result = None
    finally:
        still_watched = sys.getprofile() is watch or bool(used)
        sys.setprofile(previous)
    if used:
        _fail(
            f"{label} called {used[0]}: this exercise asks you to compute it yourself.",
            "write the computation with NumPy (loops, slicing, np.sum, np.tensordot, ...); "
            "library versions are for later notebooks.",
        )
    if not still_watched:
        _fail(
            f"{label} switched off the check that watches which functions it calls.",
            "leave sys.setprofile alone inside your function.",
        )
    return result


def whole_number(value, name: str = "value") -> int:
    """``value`` as a plain ``int`` if it is a whole number by type, else a clear failure.

    Accepts Python ``int`` and NumPy integers (not ``bool``, not floats, not other
    subclasses of ``int``: an object that claims to equal everything is not a number).

    Parameters
    ----------
    value : object
        The student's value.
    name : str, default="value"
        How the message refers to it.

    Returns
    -------
    int

    Raises
    ------
    SelfCheckError
        If ``value`` is not a whole number by type.

    Examples
    --------
    >>> whole_number(np.int64(7), "CONV1_PARAMS")
    7
    """
    kind = type(value)
    numpy_integer = issubclass(kind, np.integer) and kind.__module__ == "numpy"
    if kind is not int and not numpy_integer:
        floating = kind is float or (issubclass(kind, np.floating) and kind.__module__ == "numpy")
        _fail(
            f"{name} should be a whole number (int), got a {kind.__name__}.",
            "integer arithmetic (*, +, //) on ints gives an int; `/` gives a float."
            if floating
            else "write the number (or the arithmetic that gives it) with plain ints.",
        )
    return int(value)


def check_count(value, expected: int, name: str) -> None:
    """Check a whole number the student computed (a parameter count, a size, ...).

    Parameters
    ----------
    value : object
        The student's value (must be a whole number by type, see :func:`whole_number`).
    expected : int
        The right value; never shown.
    name : str
        How the message refers to it.

    Raises
    ------
    SelfCheckError
        If ``value`` is no whole number or differs from ``expected``.
    """
    number = whole_number(value, name)
    if number != int(expected):
        _fail(
            f"{name} = {number:,} is too {'large' if number > int(expected) else 'small'}.",
            "recount step by step: weights per filter or unit, times filters or units, plus "
            "one bias each; follow the shapes layer by layer.",
        )
    _passed(f"{name} is right ({number:,})")


# ------------------------------------------------------------------ notebook 01's exercises

#: ``output_size`` cases ``(n, k, stride, padding)`` per point of notebook 01's Exercise 1.
OUTPUT_SIZE_CASES = {
    "valid": [(28, 3, 1, "valid"), (26, 2, 2, "valid"), (10, 3, 2, "valid"), (7, 7, 1, "valid")],
    "same": [(28, 3, 1, "same"), (28, 4, 1, "same"), (9, 5, 1, "same")],
    "same with stride": [(28, 3, 2, "same"), (7, 3, 2, "same"), (11, 3, 3, "same")],
    "explicit padding": [(28, 3, 1, 1), (28, 5, 2, 2), (7, 3, 2, 0), (10, 4, 3, 2)],
}


def check_output_size(output_size, case: str, cases=None) -> None:
    """Check a student's ``output_size(n, k, stride, padding)`` on one kind of case.

    Parameters
    ----------
    output_size : callable
        The student's function.
    case : {"valid", "same", "same with stride", "explicit padding"}
        Which point of the exercise to check.
    cases : list of tuple, optional
        ``(n, k, stride, padding)`` tuples (default: :data:`OUTPUT_SIZE_CASES` ``[case]``);
        ``padding`` is ``"valid"``, ``"same"`` or a whole number of zeros per side.

    Raises
    ------
    SelfCheckError
        On the first wrong or non-integer result, or a call to ``labcore.theory``.
    """
    from labcore import theory

    for n, k, stride, padding in cases or OUTPUT_SIZE_CASES[case]:
        call = f"output_size({n}, {k}, {stride}, {padding!r})"
        got = whole_number(
            call_own_code(output_size, n, k, stride, padding, forbid=("labcore.theory",)), call
        )
        if isinstance(padding, str):
            wanted = theory.conv_output_size(n, k, stride, padding)
        else:  # p zeros on each side
            wanted = (n + 2 * padding - k) // stride + 1
        if got != wanted:
            hints = {
                "valid": "count the window starts 0, s, 2s, ... whose whole window fits in n.",
                "same": "with 'same' padding the kernel size does not matter: ⌈n / s⌉.",
                "same with stride": "⌈n / s⌉ rounds up: a last window that is only partly "
                "inside still counts. -(-n // s) is ceiling division with ints.",
                "explicit padding": "p zeros on EACH side make the axis n + 2p pixels long; "
                "then count the window positions as for 'valid'.",
            }
            _fail(f"{call} returned {got}, which is not right.", hints[case])
    _passed(f"output_size: {case} cases right")


#: ``conv2d`` cases per point of notebook 01's Exercise 2: image shape, kernel size,
#: filters, stride, padding, whether the bias is non-zero.
CONV2D_CASES = {
    "one channel": [((5, 6, 1), 3, 1, 1, "valid", True), ((7, 5, 1), 2, 1, 1, "valid", True)],
    "channels": [((6, 5, 3), 3, 2, 1, "valid", False), ((5, 7, 2), 2, 4, 1, "valid", False)],
    "same": [((5, 6, 1), 3, 1, 1, "same", False), ((6, 6, 1), 5, 2, 1, "same", False)],
    "stride": [((9, 11, 1), 3, 1, 2, "valid", False), ((10, 10, 1), 2, 2, 3, "valid", False)],
}


def check_conv2d(conv2d, case: str, seed: int = 0, trials: int = 1) -> None:
    """Check a student's ``conv2d(image, kernels, bias, stride, padding)`` on one kind of case.

    Random images and asymmetric random kernels (a flipped kernel gives other numbers),
    compared with ``labcore.theory.conv2d``, which agrees with Keras' ``Conv2D``.

    Parameters
    ----------
    conv2d : callable
        The student's function.
    case : {"one channel", "channels", "same", "stride"}
        Which point of the exercise to check (see :data:`CONV2D_CASES`).
    seed : int, default=0
        Seed of the random inputs.
    trials : int, default=1
        Random inputs per case.

    Raises
    ------
    SelfCheckError
        On a wrong shape or wrong values (with a hint at the likely slip), or if ``conv2d``
        calls a library's convolution.
    """
    from labcore import theory

    rng = np.random.default_rng(seed)
    for image_shape, k, filters, stride, padding, with_bias in CONV2D_CASES[case] * trials:
        image = rng.normal(size=image_shape)
        kernels = rng.normal(size=(k, k, image_shape[-1], filters))
        bias = rng.normal(size=filters) if with_bias else np.zeros(filters)
        what = (
            f"conv2d of a {image_shape} image with {filters} filter(s) of {k}×{k}, "
            f"stride {stride}, padding {padding!r}"
        )
        got = call_own_code(
            conv2d, image.copy(), kernels.copy(), bias.copy(), stride=stride, padding=padding
        )
        got = _as_array(got, what).astype(float)
        wanted = theory.conv2d(image, kernels, bias, stride=stride, padding=padding)
        if got.shape != wanted.shape:
            _fail(
                f"{what} has shape {got.shape}, which is not right.",
                "output (H_out, W_out, F): each spatial size follows your output_size; the "
                "last axis has one map per filter."
                if got.ndim == 3
                else "return (H_out, W_out, F): three axes, one feature map per filter.",
            )
        if not np.allclose(got, wanted, atol=1e-6):
            flipped = theory.conv2d(
                image, kernels[::-1, ::-1], bias, stride=stride, padding=padding
            )
            no_bias = wanted - bias
            if np.allclose(got, flipped, atol=1e-6):
                hint = "the kernel is flipped: Keras (and this exercise) does not flip it."
            elif with_bias and np.allclose(got, no_bias, atol=1e-6):
                hint = "the bias is missing: add bias[f] to every output of filter f."
            elif case == "channels":
                hint = "sum over all C input channels, and compute each of the F filters."
            elif case == "same":
                hint = "'same': (k − 1) / 2 zeros on EVERY side (top, bottom, left, right)."
            elif case == "stride":
                hint = "output (i, j) starts at pixel (i·s, j·s) of the (padded) image."
            else:
                hint = "output[i, j, f] = Σ patch · kernels[..., f] + bias[f], patch at (i, j)."
            _fail(f"{what}: the values are not right.", hint)
    _passed(f"conv2d: {case} cases right")


#: ``pool2d`` inputs: image shape and window size. The sizes do not divide every image
#: (left-over rows and columns are dropped) and the images have several channels.
POOL2D_CASES = [((4, 4, 1), 2), ((7, 9, 3), 2), ((8, 7, 2), 3)]


def check_pool2d(pool2d, mode: str, seed: int = 0, trials: int = 1) -> None:
    """Check a student's ``pool2d(image, size, mode)`` for one pooling mode.

    Parameters
    ----------
    pool2d : callable
        The student's function.
    mode : {"max", "average", "sum"}
        Which point of the exercise to check.
    seed : int, default=0
        Seed of the random inputs.
    trials : int, default=1
        Random inputs per case.

    Raises
    ------
    SelfCheckError
        On a wrong shape or wrong values (with a hint), or if ``pool2d`` calls a library's
        pooling.
    """
    from labcore import theory

    rng = np.random.default_rng(seed)
    for image_shape, size in POOL2D_CASES * trials:
        image = rng.normal(size=image_shape)
        what = f"{mode} pooling of a {image_shape} image with size {size}"
        got = _as_array(call_own_code(pool2d, image.copy(), size, mode), what).astype(float)
        average = theory.pool2d(image, size, mode="average")
        wanted = average * size**2 if mode == "sum" else theory.pool2d(image, size, mode=mode)
        if got.shape != wanted.shape:
            _fail(
                f"{what} has shape {got.shape}, which is not right.",
                "windows do not overlap and left-over rows or columns are dropped: "
                "(H // size, W // size, C), every channel pooled on its own.",
            )
        if not np.allclose(got, wanted, atol=1e-6):
            if mode == "sum" and np.allclose(got, average * size, atol=1e-6):
                hint = "a size × size window holds size² values: sum = average · size²."
            elif mode == "average" and np.allclose(got, average * size, atol=1e-6):
                hint = "divide by the number of values in the window, size², not by size."
            else:
                hint = (
                    "summarise each window of each channel on its own (axis=(0, 1)); "
                    "window (i, j) covers rows i·size to (i+1)·size − 1."
                )
            _fail(f"{what}: the values are not right.", hint)
    _passed(f"pool2d: {mode} pooling right")


# ------------------------------------------------------------------ models, by structure


def model_layers(model) -> list:
    """The layers of a Keras model that compute something, in order.

    ``keras.Input`` makes an ``InputLayer`` that a functional model lists among its layers
    and a Sequential model does not; leaving it out lets both be checked alike. Nested
    models (a Sequential inside a model) are expanded.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of keras.layers.Layer
    """
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            found += model_layers(layer)
        else:
            found.append(layer)
    return found


def all_layers(layer) -> list:
    """A layer and every layer nested inside it (depth first), InputLayers left out."""
    import keras

    found = [] if isinstance(layer, keras.layers.InputLayer) else [layer]
    for inner in getattr(layer, "layers", []):
        found += all_layers(inner)
    return found


#: Layer settings compared by :func:`check_seed_cnn` when the blueprint layer has them.
LAYER_SETTINGS = ("filters", "kernel_size", "strides", "padding", "activation", "units", "rate")


def check_seed_cnn(model, aspect: str, blueprint=None) -> None:
    """Check a model layer by layer against a blueprint model (notebook 02's seed CNN).

    Sequential and functional models are checked alike (see :func:`model_layers`).

    Parameters
    ----------
    model : keras.Model
        The student's model.
    aspect : {"layers", "settings", "shapes"}
        ``"layers"``: the layer types in order; ``"settings"``: filters, kernel size,
        strides, padding, activation, units and dropout rate of each layer; ``"shapes"``:
        each layer's output shape and parameter count.
    blueprint : keras.Model, optional
        The model to compare with. Without it, ``"layers"`` only checks that ``model`` is a
        built Keras model of Conv2D, pooling, Flatten, Dense and Dropout layers.

    Raises
    ------
    SelfCheckError
        At the first difference, naming the layer (by position and type).
    """
    if aspect not in ("layers", "settings", "shapes"):
        raise ValueError(f"aspect must be 'layers', 'settings' or 'shapes', got {aspect!r}")
    _require_built(model)
    layers = model_layers(model)
    types = [type(layer).__name__ for layer in layers]
    if blueprint is None:
        _passed(f"a built Keras model with {len(layers)} layers: {', '.join(types)}")
        return
    wanted_layers = model_layers(blueprint)
    wanted_types = [type(layer).__name__ for layer in wanted_layers]
    if aspect == "layers":
        if types != wanted_types:
            _fail(
                f"the model's layers are {types}, which is not the table's list.",
                "one layer per row of the table, in that order, after keras.Input.",
            )
        _passed("layer types in order")
        return
    for position, (layer, wanted) in enumerate(zip(layers, wanted_layers, strict=False), 1):
        what = f"layer {position} ({type(layer).__name__})"
        if aspect == "settings":
            config, wanted_config = layer.get_config(), wanted.get_config()
            for setting in LAYER_SETTINGS:
                if setting in wanted_config and config.get(setting) != wanted_config[setting]:
                    _fail(
                        f"{what}: {setting} is {config.get(setting)!r}, which is not the "
                        "table's setting.",
                        "compare each layer's arguments with its row of the table.",
                    )
        else:
            if tuple(layer.output.shape) != tuple(wanted.output.shape):
                _fail(
                    f"{what} outputs shape {tuple(layer.output.shape)}, which is not right.",
                    "check padding, pooling and the input shape (28, 28, 1).",
                )
            if layer.count_params() != wanted.count_params():
                _fail(
                    f"{what} has {layer.count_params():,} parameters, which is not right.",
                    "check use_bias, filters and units.",
                )
    if len(layers) != len(wanted_layers):
        _fail(
            f"the model has {len(layers)} layers; the table lists {len(wanted_layers)}.",
            "one layer per row of the table, after keras.Input.",
        )
    _passed(f"layer {aspect} right")


def largest_factor(layer) -> float:
    """The largest absolute factor of a random preprocessing layer (zoom, rotation, ...).

    Reads ``factor``, ``height_factor`` and ``width_factor``, each a number, a
    ``(lower, upper)`` pair or ``None`` (as Keras accepts them).

    Parameters
    ----------
    layer : keras.layers.Layer

    Returns
    -------
    float
        0.0 if the layer has none of these factors.
    """
    values = [
        abs(float(value))
        for attribute in ("factor", "height_factor", "width_factor")
        if getattr(layer, attribute, None) is not None
        for value in np.ravel(np.asarray(getattr(layer, attribute), dtype=float))
    ]
    return max(values, default=0.0)


#: The augmentation notebook 03 asks for: layer type -> the largest factor allowed.
XRAY_AUGMENTATION_LIMITS = {"RandomZoom": 0.2, "RandomRotation": 0.1, "RandomContrast": 0.3}


def check_augmentation(augmentation, aspect: str, limits=None) -> None:
    """Check an augmentation layer (notebook 03) on one aspect.

    Parameters
    ----------
    augmentation : keras.layers.Layer
        The student's augmentation, e.g. a ``keras.Sequential`` of random layers.
    aspect : {"layers", "factors", "fill"}
        ``"layers"``: every layer type of ``limits`` is there, no ``RandomFlip``, and images
        pass unchanged outside training; ``"factors"``: each factor within its limit
        (numbers and ``(lower, upper)`` pairs alike); ``"fill"``: zoom and rotation fill
        the empty corners with a constant (black).
    limits : dict, optional
        Layer type name -> largest factor (default :data:`XRAY_AUGMENTATION_LIMITS`).

    Raises
    ------
    SelfCheckError
        At the first problem found.
    """
    import keras

    limits = XRAY_AUGMENTATION_LIMITS if limits is None else limits
    if not isinstance(augmentation, keras.layers.Layer):
        _fail(
            f"the augmentation is a {type(augmentation).__name__}, not a Keras layer.",
            "return keras.Sequential([...]) of the random layers.",
        )
    layers = all_layers(augmentation)
    types = [type(layer).__name__ for layer in layers]
    if aspect == "layers":
        missing = [name for name in limits if name not in types]
        if missing:
            _fail(
                f"no {', '.join(missing)} layer in your augmentation ({types}).", "read the task."
            )
        if "RandomFlip" in types:
            _fail("the augmentation flips images.", "no flips for chest X-rays: read the text.")
        images = np.zeros((4, 32, 32, 1), dtype="float32")
        images[:, :16] = 255.0
        unchanged = keras.ops.convert_to_numpy(augmentation(images, training=False))
        if not np.allclose(unchanged, images):
            _fail(
                "outside training the augmentation changes the images.",
                "use Keras' Random* layers: they are active only while the model trains.",
            )
        _passed(f"augmentation layers: {types[1:] or types}")
    elif aspect == "factors":
        for layer, name in zip(layers, types, strict=True):
            if name in limits and largest_factor(layer) > limits[name] + 1e-9:
                _fail(
                    f"{name} has a factor of {largest_factor(layer)}, more than the "
                    f"{limits[name]} allowed.",
                    "large changes make images the model never meets in practice.",
                )
        _passed("augmentation factors within their limits")
    elif aspect == "fill":
        for layer, name in zip(layers, types, strict=True):
            if hasattr(layer, "fill_mode") and layer.fill_mode != "constant":
                _fail(
                    f"{name} fills empty corners with {layer.fill_mode!r}.",
                    "X-rays have a black background: fill_mode='constant'.",
                )
        _passed("zoom and rotation fill with a constant")
    else:
        raise ValueError(f"aspect must be 'layers', 'factors' or 'fill', got {aspect!r}")


def _architecture(model) -> list[tuple]:
    """Layer types and their structural settings, in order: what makes two designs the same."""
    keys = ("filters", "kernel_size", "strides", "padding", "pool_size", "units", "rate")
    return [
        (type(layer).__name__, *(str(layer.get_config().get(key)) for key in keys))
        for layer in model_layers(model)
    ]


def check_own_design(model, others: dict) -> None:
    """Check that a model is not one of the given (library) architectures.

    Parameters
    ----------
    model : keras.Model
        The student's design.
    others : dict
        Name -> a Keras model whose architecture the student may not hand in, e.g.
        ``{"models.fast_cnn()": models.fast_cnn()}``. Weights, names, activations and the
        optimizer do not matter; the layer types and their sizes do.

    Raises
    ------
    SelfCheckError
        If ``model`` is not a Keras model or has the same architecture as one of ``others``.
    """
    _require_keras_model(model)
    design = _architecture(model)
    for name, other in others.items():
        if design == _architecture(other):
            _fail(
                f"your model has the same architecture as labcore's {name}: this exercise "
                "asks for a design of your own, so it earns no points.",
                "start from the ideas in the text and build and compile your own model; "
                "labcore's model is there to read, not to hand in.",
            )
    _passed(f"a design of your own ({len(design)} layers, {model.count_params():,} parameters)")


# ------------------------------------------------ notebook 02: counts per layer, optimizers


def layer_parameter_counts(model, layer_type: str) -> list[int]:
    """Keras' parameter count of every layer of one type in a model, in order.

    Parameters
    ----------
    model : keras.Model
        A built model (Sequential or functional; nested models are searched too).
    layer_type : str
        A layer class name, e.g. ``"Conv2D"`` or ``"Dense"``.

    Returns
    -------
    list of int
        ``layer.count_params()`` of each matching layer.
    """
    _require_keras_model(model)
    return [
        int(layer.count_params())
        for layer in all_layers(model)
        if type(layer).__name__ == layer_type
    ]


def check_layer_counts(counts, name: str, num_layers: int, expected=None) -> None:
    """Check parameter counts worked out per layer: a sequence of whole numbers, each right.

    Parameters
    ----------
    counts : list, tuple or numpy.ndarray
        The student's counts, one per layer, in the model's order.
    name : str
        How messages refer to them, e.g. ``"DEEPER_CONV_PARAMS"``.
    num_layers : int
        How many layers the sequence must cover.
    expected : sequence of int, optional
        The right counts (e.g. from :func:`layer_parameter_counts`); never shown. Without
        them only the form is checked.

    Raises
    ------
    SelfCheckError
        If ``counts`` is no sequence of ``num_layers`` whole numbers, or a count differs from
        ``expected`` (the message names the first layer that is off, not its count).
    """
    if isinstance(counts, np.ndarray):
        counts = counts.tolist() if counts.ndim == 1 else counts
    if not isinstance(counts, (list, tuple)):
        _fail(
            f"{name} should be a list with one count per layer, got a {type(counts).__name__}.",
            f"write [count of layer 1, count of layer 2, ...] ({num_layers} numbers).",
        )
    if len(counts) != num_layers:
        _fail(
            f"{name} has {len(counts)} entries; the model has {num_layers} such layers.",
            "one count per layer, in the model's order; layers without weights do not count.",
        )
    numbers_ = [whole_number(value, f"{name}[{index}]") for index, value in enumerate(counts)]
    if expected is not None:
        for index, (number, right) in enumerate(zip(numbers_, expected, strict=True)):
            if number != int(right):
                _fail(
                    f"{name}[{index}] (layer {index + 1} of {num_layers}) = {number:,} is too "
                    f"{'large' if number > int(right) else 'small'}.",
                    "weights per filter or unit = inputs it sees (kernel area × input channels, "
                    "or the flattened size), times filters or units, plus one bias each; "
                    "follow the shapes through every layer, pooling included.",
                )
        _passed(f"{name}: every count is right ({num_layers} layers)")
    else:
        _passed(f"{name}: {num_layers} whole numbers")


def check_sgd_momentum(model_or_optimizer, learning_rate: float, momentum: float = 0.9) -> None:
    """Check an optimizer by its effect: SGD with the given momentum and learning rate.

    Judged on the optimizer's configuration (``get_config()``), so any way of building it
    passes: keyword or positional arguments, ``keras.optimizers.get``, a subclass.

    Parameters
    ----------
    model_or_optimizer : keras.Model or keras.optimizers.Optimizer
        A compiled model (its ``optimizer`` is checked) or an optimizer.
    learning_rate : float
        The constant learning rate it must have.
    momentum : float, default=0.9
        The momentum it must have.

    Raises
    ------
    SelfCheckError
        If it is not a Keras SGD optimizer, or its momentum or learning rate differs.
    """
    import keras

    optimizer = getattr(model_or_optimizer, "optimizer", model_or_optimizer)
    if optimizer is None:
        _fail("the model has no optimizer.", "compile it with optimizer=... first.")
    if not isinstance(optimizer, keras.optimizers.SGD):
        _fail(
            f"the optimizer is a {type(optimizer).__name__}, not SGD.",
            "build it with keras.optimizers.SGD(...); the string 'sgd' gives momentum 0.",
        )
    config = optimizer.get_config()
    if not np.isclose(float(config.get("momentum", 0.0)), momentum, rtol=1e-6):
        _fail(
            f"the SGD optimizer has momentum {config.get('momentum')}, not {momentum}.",
            "SGD's momentum is 0 unless you pass momentum=...",
        )
    rate = config.get("learning_rate")
    if not isinstance(rate, numbers.Real) or not np.isclose(float(rate), learning_rate, rtol=1e-6):
        _fail(
            f"the SGD optimizer's learning rate is "
            f"{f'{float(rate):.4g}' if isinstance(rate, numbers.Real) else repr(rate)}, "
            f"not the {learning_rate} it was given.",
            "pass the function's learning_rate argument on (a constant, not a schedule).",
        )
    _passed(f"SGD with momentum {momentum} and learning rate {learning_rate}")


# --------------------------------------------------------------------------- training runs
#
# Callbacks are checked by what they do: a short, tiny training run (the "probe") whose
# validation data has the opposite labels of the training data, so the validation loss gets
# worse from the first epoch on. Early stopping must then stop and go back to the first
# epoch's weights, ReduceLROnPlateau must cut the rate, the checkpoint must hold the best
# epoch, and the history records the learning rate of every epoch.


class ProbeRun:
    """What a training function did on the callback probe (see :func:`callback_probe`).

    Attributes
    ----------
    history : dict
        ``History.history``: metric name -> one value per epoch.
    model : keras.Model
        The probe model after training.
    validation : keras.utils.PyDataset
        The probe's validation batches.
    checkpoint : pathlib.Path
        Where the checkpoint should be.
    epochs : int
        The most epochs the run was given.
    """

    def __init__(self, history, model, validation, checkpoint, epochs):
        self.history = history
        self.model = model
        self.validation = validation
        self.checkpoint = checkpoint
        self.epochs = epochs

    def validation_loss(self, model=None) -> float:
        """The validation loss of ``model`` (default: the probe model) as it is now."""
        model = self.model if model is None else model
        return float(model.evaluate(self.validation, verbose=0, return_dict=True)["loss"])


def _probe_batches(features, labels, batch_size):
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return int(np.ceil(len(features) / batch_size))

        def __getitem__(self, index):
            part = slice(index * batch_size, (index + 1) * batch_size)
            return features[part], labels[part]

    return Batches()


def callback_probe(train_function, epochs: int = 8, seed: int = 0, folder=None) -> ProbeRun:
    """Run a training function on a tiny model whose validation loss rises every epoch.

    Parameters
    ----------
    train_function : callable
        ``train_function(model, train, validation, epochs, class_weight, checkpoint_path)``:
        compiles ``model``, fits it and returns the ``History``.
    epochs : int, default=8
        The epochs it is given (early stopping should end the run sooner).
    seed : int, default=0
        Seed of the data and of the model's first weights.
    folder : path-like, optional
        Where the checkpoint goes; default: a new temporary folder.

    Returns
    -------
    ProbeRun
        The history, the model and where its checkpoint should be.

    Raises
    ------
    SelfCheckError
        If the function does not return a ``History``.
    """
    import tempfile
    from pathlib import Path

    import keras

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(512, 8)).astype("float32")
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype("float32")
    train = _probe_batches(features, labels, 32)
    validation = _probe_batches(features[:128], 1.0 - labels[:128], 32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(1, activation="sigmoid")])
    folder = Path(tempfile.mkdtemp(prefix="probe_")) if folder is None else Path(folder)
    checkpoint = folder / "probe.keras"
    checkpoint.unlink(missing_ok=True)
    result = train_function(model, train, validation, epochs, {0: 1.0, 1: 1.0}, checkpoint)
    history = getattr(result, "history", None)
    if not isinstance(history, dict):
        _fail(
            f"the training function returned {type(result).__name__}, not a History.",
            "return what model.fit(...) returns.",
        )
    return ProbeRun(history, model, validation, checkpoint, epochs)


def check_history(history, keys) -> None:
    """Check that a training history records the results a task needs.

    Parameters
    ----------
    history : keras.callbacks.History or dict or pandas.DataFrame
        What ``fit`` returned, its ``.history`` dict, or a DataFrame of it.
    keys : sequence of str
        The names it must have, e.g. ``("loss", "val_loss", "val_auc")``.

    Raises
    ------
    SelfCheckError
        If a name is missing (the hint says whether validation data or a metric is missing).
    """
    recorded = getattr(history, "history", history)
    names = list(recorded.keys()) if hasattr(recorded, "keys") else []
    for key in keys:
        if key not in names:
            hint = (
                "fit reports val_... results only when it gets validation_data."
                if key.startswith("val_")
                else "compile with the metrics the task names (a metric's name is its key)."
            )
            _fail(f"the history has no {key!r}; it has {names}.", hint)
    _passed(f"the history records {', '.join(keys)}")


def recorded_rates(history) -> list[float]:
    """The learning rate recorded for every epoch of a training history.

    Parameters
    ----------
    history : keras.callbacks.History or dict or ProbeRun
        Keras records ``learning_rate`` when a learning-rate callback runs.

    Returns
    -------
    list of float

    Raises
    ------
    SelfCheckError
        If no learning rate was recorded.
    """
    recorded = getattr(history, "history", history)
    rates = [float(rate) for rate in dict(recorded).get("learning_rate", [])]
    if not rates:
        _fail(
            "the history records no learning rate.",
            "keras.callbacks.LearningRateScheduler(schedule) sets (and records) it every epoch.",
        )
    return rates


def check_schedule(history, schedule, first_rate: float, plateau_factor: float = 0.5) -> None:
    """Check the learning rates of every epoch against a schedule.

    Parameters
    ----------
    history : keras.callbacks.History or dict or ProbeRun
        A training run with a ``LearningRateScheduler``.
    schedule : callable
        ``schedule(epoch, rate) -> rate``, the schedule the task asks for.
    first_rate : float
        The rate of the first epoch.
    plateau_factor : float, default=0.5
        ``ReduceLROnPlateau``'s factor: a step may also include it once.

    Raises
    ------
    SelfCheckError
        If the first rate or a step from one epoch to the next does not follow the schedule.
    """
    rates = recorded_rates(history)
    if not np.isclose(rates[0], first_rate, rtol=1e-4):
        _fail(
            f"the first epoch trained with the learning rate {rates[0]:.3g}, not {first_rate:.3g}.",
            "the schedule gets the epoch number (0 first) and the current rate; check what it "
            "returns for epoch 0.",
        )
    for epoch in range(1, len(rates)):
        expected = schedule(epoch, rates[epoch - 1]) / rates[epoch - 1]
        step = rates[epoch] / rates[epoch - 1]
        if not any(np.isclose(step, expected * f, rtol=1e-3) for f in (1.0, plateau_factor)):
            _fail(
                f"from epoch {epoch - 1} to epoch {epoch} the learning rate changed by a factor "
                f"{step:.3g}; the schedule asks for {expected:.3g}.",
                "check the schedule function for the epochs after the first.",
            )
    _passed("learning rates per epoch: " + ", ".join(f"{rate:.2e}" for rate in rates))


def check_plateau_reduction(history, factor: float = 0.5, schedule=None) -> None:
    """Check that ReduceLROnPlateau cut the learning rate in a run whose validation stalls.

    Parameters
    ----------
    history : keras.callbacks.History or dict or ProbeRun
        A run in which the validation loss got worse (such as :func:`callback_probe`).
    factor : float, default=0.5
        ``ReduceLROnPlateau``'s factor.
    schedule : callable, optional
        ``schedule(epoch, rate)`` that also ran; its own steps are taken out.

    Raises
    ------
    SelfCheckError
        If no step from one epoch to the next includes the factor.
    """
    rates = recorded_rates(history)
    for epoch in range(1, len(rates)):
        planned = 1.0 if schedule is None else schedule(epoch, rates[epoch - 1]) / rates[epoch - 1]
        if np.isclose(rates[epoch] / rates[epoch - 1], planned * factor, rtol=1e-3):
            _passed(f"the learning rate was cut by {factor} when the validation loss stalled")
            return
    _fail(
        "the validation loss got worse for several epochs, and the learning rate was never "
        f"cut by {factor}: {', '.join(f'{rate:.2e}' for rate in rates)}.",
        "add keras.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=..., patience=...).",
    )


def check_early_stopping(run: ProbeRun) -> None:
    """Check that early stopping ended a probe run and restored the best epoch's weights.

    Parameters
    ----------
    run : ProbeRun
        From :func:`callback_probe`.

    Raises
    ------
    SelfCheckError
        If the run used all its epochs or the model kept the weights of its last epoch.
    """
    losses = [float(loss) for loss in run.history.get("val_loss", [])]
    if not losses:
        _fail("the probe's history has no val_loss.", "fit with validation_data=...")
    if len(losses) >= run.epochs:
        _fail(
            f"the validation loss got worse from the first epoch on, yet training ran all "
            f"{run.epochs} epochs.",
            "add keras.callbacks.EarlyStopping(monitor='val_loss', patience=...).",
        )
    now = run.validation_loss()
    if not np.isclose(now, min(losses), rtol=1e-3, atol=1e-5):
        _fail(
            f"after training the model's validation loss is {now:.4f}, not the best epoch's "
            f"{min(losses):.4f}: it kept the weights of its last epoch.",
            "EarlyStopping gives the best weights back with restore_best_weights=True.",
        )
    _passed(f"stopped after {len(losses)} of {run.epochs} epochs with the best epoch's weights")


def check_checkpoint(run: ProbeRun) -> None:
    """Check that a probe run's checkpoint exists, loads and holds the best epoch's model.

    Parameters
    ----------
    run : ProbeRun
        From :func:`callback_probe`.

    Raises
    ------
    SelfCheckError
        If there is no file, it does not load, or it holds another epoch than the best.
    """
    import keras

    if not run.checkpoint.is_file():
        _fail(
            f"no checkpoint file was written at {run.checkpoint}.",
            "keras.callbacks.ModelCheckpoint(checkpoint_path, ...) saves the model during "
            "training.",
        )
    try:
        saved = keras.models.load_model(run.checkpoint)
    except Exception as error:  # any failure to load is the student's to fix
        _fail(
            f"the checkpoint does not load: {type(error).__name__}: {error}",
            "save the whole model to a .keras file (not only its weights).",
        )
    losses = [float(loss) for loss in run.history.get("val_loss", [])]
    saved_loss = run.validation_loss(saved)
    if not losses or not np.isclose(saved_loss, min(losses), rtol=1e-3, atol=1e-5):
        _fail(
            f"the checkpoint's validation loss is {saved_loss:.4f}; the best epoch had "
            f"{min(losses) if losses else float('nan'):.4f}.",
            "keep only the best model: monitor='val_loss' and save_best_only=True.",
        )
    _passed("the checkpoint loads and holds the best epoch's model")


def _figure_lines(figure) -> list[np.ndarray]:
    return [
        np.asarray(line.get_ydata(), dtype=float) for ax in figure.axes for line in ax.get_lines()
    ]


def check_curves_drawn_from(figure, history, keys=("loss", "val_loss")) -> None:
    """Check that a learning-curve figure shows these results of this history.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        E.g. from :func:`labcore.plots.learning_curves`.
    history : keras.callbacks.History or dict or pandas.DataFrame
        The run the curves must come from.
    keys : sequence of str, default=("loss", "val_loss")
        The results that must be drawn.

    Raises
    ------
    SelfCheckError
        If it is no figure, or a result of the history is not among its lines.
    """
    if not hasattr(figure, "axes"):
        _fail(
            f"expected a matplotlib figure, got {type(figure).__name__}.",
            "keep what plots.learning_curves(...) returns.",
        )
    recorded = getattr(history, "history", history)
    lines = _figure_lines(figure)
    for key in keys:
        if key not in recorded:
            _fail(
                f"your training history has no {key!r}, so the figure cannot show it.",
                "compile with the metrics the task names, and fit with validation_data.",
            )
        values = np.asarray(list(recorded[key]), dtype=float)
        if not any(line.shape == values.shape and np.allclose(line, values) for line in lines):
            _fail(
                f"the figure has no line with the {key!r} values of your training history.",
                "draw the curves from the History your training returned, with the loss among "
                "the metrics.",
            )
    _passed(f"the curves show {', '.join(keys)} of your training")


def check_confusion_drawn_from(figure, y_true, y_pred) -> None:
    """Check that a confusion-matrix figure counts these labels (rows: true, columns: predicted).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        From :func:`labcore.plots.confusion_matrix`, whose cells start with their count.
    y_true, y_pred : array-like of int
        The true and the predicted labels the figure must count.

    Raises
    ------
    SelfCheckError
        If the counts differ (for example with true and predicted labels swapped).
    """
    if not hasattr(figure, "axes") or not figure.axes:
        _fail(
            f"expected a matplotlib figure, got {type(figure).__name__}.",
            "keep what plots.confusion_matrix(...) returns.",
        )
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    size = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    expected = np.zeros((size, size), dtype=int)
    np.add.at(expected, (y_true, y_pred), 1)
    counts = []
    for text in figure.axes[0].texts:
        first = text.get_text().split("\n")[0].strip()
        if first.isdigit():
            counts.append(int(first))
    if len(counts) != size * size or not np.array_equal(
        np.array(counts).reshape(size, size), expected
    ):
        _fail(
            "the figure's counts are not those of the true and predicted labels given "
            f"(expected rows of true classes {expected.tolist()}, found {counts}).",
            "pass the true labels first, then the predictions made with the chosen threshold.",
        )
    _passed("the confusion matrix counts your predictions")


def check_frozen_base(model, base) -> None:
    """Check that only the new head of a transfer model trains: the base is frozen.

    Parameters
    ----------
    model : keras.Model
        The model with the base inside.
    base : keras.Model or keras.layers.Layer
        The convolutional base.

    Raises
    ------
    SelfCheckError
        If the base has trainable weights, or the model trains none.
    """
    base_ids = {id(weight) for weight in base.weights}
    base_trainable = [w for w in model.trainable_weights if id(w) in base_ids]
    if base_trainable or base.trainable_weights:
        count = int(sum(np.prod(w.shape) for w in base.trainable_weights))
        _fail(
            f"the base still has {count:,} trainable weights: training would overwrite what it "
            "learned.",
            "freeze it before compiling: base.trainable = False.",
        )
    if not model.trainable_weights:
        _fail("nothing in the model can learn.", "the new head must stay trainable.")
    count = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    _passed(f"the base is frozen; {count:,} weights of the new head train")


def check_unfrozen_base(model, base) -> None:
    """Check that every weight of a base trains again (for fine-tuning).

    Parameters
    ----------
    model : keras.Model
        The model with the base inside.
    base : keras.Model or keras.layers.Layer
        The convolutional base.

    Raises
    ------
    SelfCheckError
        If some of the base's weights are not trainable.
    """
    trainable = {id(weight) for weight in model.trainable_weights}
    frozen = [weight for weight in base.weights if id(weight) not in trainable]
    if frozen or not base.weights:
        _fail(
            f"{len(frozen)} of the base's {len(base.weights)} weight tensors are still frozen.",
            "fine-tuning unfreezes the base: base.trainable = True.",
        )
    _passed(f"all {len(base.weights)} weight tensors of the base train")


def check_recompiled(model, previous_optimizer, max_rate: float) -> None:
    """Check that a model was compiled again, with a learning rate of at most ``max_rate``.

    Parameters
    ----------
    model : keras.Model
        The model after the change.
    previous_optimizer : keras.optimizers.Optimizer
        The optimizer it had before.
    max_rate : float
        The largest acceptable learning rate.

    Raises
    ------
    SelfCheckError
        If the optimizer is the old one, or its learning rate is too high.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer is previous_optimizer:
        _fail(
            "the model still has its old optimizer: it was not compiled again.",
            "after changing trainable, call model.compile(...) again; only then does it "
            "take effect.",
        )
    import keras

    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if rate > max_rate * (1 + 1e-6):
        _fail(
            f"the new learning rate is {rate:.2g}, above {max_rate:.2g}.",
            "fine-tune with a learning rate far lower than the head's, so the pretrained "
            "weights change only a little.",
        )
    _passed(f"compiled again with the learning rate {rate:.2g}")
