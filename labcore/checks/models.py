"""Self-checks on models: parameter counts, the output layer, compile settings, optimizers."""

from __future__ import annotations

import numbers
import re

import numpy as np

from labcore.checks.core import (
    _fail,
    _passed,
    _require_built,
    _require_keras_model,
    all_layers,
    whole_number,
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
