"""Self-checks on a model's structure: the seed CNN, augmentation, a design of one's own."""

from __future__ import annotations

import numpy as np

from labcore.checks.core import (
    _fail,
    _passed,
    _require_built,
    _require_keras_model,
    all_layers,
    model_layers,
)

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
