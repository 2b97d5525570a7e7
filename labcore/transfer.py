"""Transfer learning: reuse a trained convolutional base on another image dataset.

A CNN's convolution layers learn general image features (edges, textures, shapes); its
last layers combine them for one task. **Transfer learning** keeps the first part, the
*convolutional base*, and puts a new *head* on it for the new task:

1. **frozen**: the base's weights are fixed (``base.trainable = False``); only the new head
   learns, with an ordinary learning rate. Few weights learn, so few images are enough;
2. **fine-tuned**: the base is unfrozen and the whole model trains on, recompiled with a
   learning rate about ten times lower, so the pretrained features are adjusted, not
   destroyed.

The result is compared with the *same* architecture trained from random weights
("from scratch") for as many epochs in total. Notebook 03 does this with the base of its
PneumoniaMNIST model on the Kermany chest X-ray JPEGs; everything here works offline.

Example::

    from labcore import transfer
    base = transfer.convolutional_base(pm_model)      # a copy: pm_model stays as it is
    scratch = transfer.with_head(transfer.fresh_copy(base), input_shape=(64, 64, 1))
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd

from labcore import training

__all__ = [
    "compare",
    "compare_with_scratch",
    "comparison_plot",
    "convolutional_base",
    "count_weights",
    "fresh_copy",
    "train_phase",
    "validation_scores",
    "with_head",
]


def _copy_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.__class__.from_config(layer.get_config())


def convolutional_base(
    model: keras.Model,
    first_layer: str = "rescaling",
    last_layer: str = "pool2",
    name: str = "pretrained_base",
) -> keras.Sequential:
    """A copy of a trained model's convolutional base, for images of any size.

    Parameters
    ----------
    model : keras.Model
        A trained model whose layers ``first_layer`` ... ``last_layer`` follow each other in
        ``model.layers``, such as :func:`labcore.models.xray_cnn` (its augmentation, which
        comes before ``rescaling``, is left out).
    first_layer, last_layer : str, default="rescaling", "pool2"
        Names of the first and the last layer to keep.
    name : str, default="pretrained_base"
        Name of the new model.

    Returns
    -------
    keras.Sequential
        New layers with copies of the trained weights, on an input of shape
        ``(None, None, channels)``: convolution and pooling do not depend on the image
        size, so the base works on larger images than it was trained on. Training the copy
        leaves ``model`` unchanged.

    Raises
    ------
    ValueError
        If a layer name is missing or ``last_layer`` comes before ``first_layer``.
    """
    names = [layer.name for layer in model.layers]
    for wanted in (first_layer, last_layer):
        if wanted not in names:
            raise ValueError(f"the model has no layer {wanted!r}; its layers are {names}")
    start, stop = names.index(first_layer), names.index(last_layer)
    if stop < start:
        raise ValueError(f"{last_layer!r} comes before {first_layer!r} in the model")
    kept = model.layers[start : stop + 1]
    channels = model.inputs[0].shape[-1]
    base = keras.Sequential(
        [keras.Input(shape=(None, None, channels)), *(_copy_layer(layer) for layer in kept)],
        name=name,
    )
    for original, copy in zip(kept, base.layers, strict=True):
        copy.set_weights(original.get_weights())
    return base


def fresh_copy(base: keras.Sequential, seed: int | None = None) -> keras.Sequential:
    """The same architecture as ``base`` with new, random weights (for training from scratch).

    Parameters
    ----------
    base : keras.Sequential
        A base from :func:`convolutional_base`.
    seed : int or None
        Seed for the new weights (``keras.utils.set_random_seed``); None leaves the random
        state alone.

    Returns
    -------
    keras.Sequential
        Trainable (even when ``base`` is frozen), named ``"scratch_base"``.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    channels = base.inputs[0].shape[-1]
    layers = [_copy_layer(layer) for layer in base.layers]
    for layer in layers:
        layer.trainable = True  # a frozen base's config says trainable=False
    return keras.Sequential(
        [keras.Input(shape=(None, None, channels)), *layers], name="scratch_base"
    )


def with_head(base: keras.Model, input_shape, learning_rate: float = 1e-3) -> keras.Model:
    """The course's transfer architecture: base, global average pooling, one sigmoid unit.

    Parameters
    ----------
    base : keras.Model
        The convolutional base (frozen or not: this function leaves ``base.trainable`` as it
        is).
    input_shape : tuple of int
        ``(height, width, channels)`` of the new images.
    learning_rate : float, default=1e-3
        Adam's learning rate.

    Returns
    -------
    keras.Model
        Compiled with Adam, binary cross-entropy, the accuracy and the ROC AUC (``"auc"``).
    """
    inputs = keras.Input(shape=tuple(input_shape))
    features = base(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="head_output")(pooled)
    model = keras.Model(inputs, outputs, name=f"{base.name}_with_head")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    return model


def count_weights(weights) -> int:
    """The number of values in a list of weight tensors (e.g. ``model.trainable_weights``).

    Parameters
    ----------
    weights : iterable of keras.Variable or array-like
        The tensors.

    Returns
    -------
    int
        The sum of their sizes.
    """
    return int(sum(int(np.prod(weight.shape)) for weight in weights))


def train_phase(
    model: keras.Model,
    train,
    validation,
    epochs: int,
    class_weight: Mapping[int, float] | None = None,
    initial_epoch: int = 0,
) -> pd.DataFrame:
    """Train a compiled model for some epochs; return its history with an ``epoch`` column.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    train, validation : dataset
        Batches of ``(images, labels)``.
    epochs : int
        The epochs of this phase.
    class_weight : dict or None
        ``{class_index: weight}``.
    initial_epoch : int, default=0
        Epochs already trained (a second phase continues the count).

    Returns
    -------
    pandas.DataFrame
        One row per epoch, numbered from ``initial_epoch + 1``.
    """
    train, class_weight = training.class_weighted(train, class_weight)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        class_weight=dict(class_weight) if class_weight is not None else None,
        verbose=0,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(initial_epoch + 1, initial_epoch + len(frame) + 1))
    return frame


def validation_scores(model: keras.Model, validation) -> dict[str, float]:
    """The model's loss and metrics on the validation batches.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    validation : dataset
        Batches of ``(images, labels)``.

    Returns
    -------
    dict
        ``{"loss": ..., "accuracy": ..., "auc": ...}`` (whatever the model was compiled with).
    """
    scores = model.evaluate(validation, verbose=0, return_dict=True)
    return {name: float(value) for name, value in scores.items()}


def compare(results: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """A results table, one row per approach.

    Parameters
    ----------
    results : mapping
        Approach name -> ``{"scores": validation_scores(...), "epochs": int,
        "trainable": int, ...}``; ``scores`` is spread into the columns ``val_<metric>``.

    Returns
    -------
    pandas.DataFrame
        Indexed by approach, in the given order.
    """
    rows = {}
    for approach, result in results.items():
        row = {key: value for key, value in result.items() if key != "scores"}
        row.update({f"val_{name}": value for name, value in dict(result["scores"]).items()})
        rows[approach] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "approach"
    return table


def comparison_plot(table: pd.DataFrame, metrics=("val_auc", "val_accuracy")):
    """Bars of the validation results of each approach.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`compare`.
    metrics : sequence of str, default=("val_auc", "val_accuracy")
        The columns to show; missing ones are left out.

    Returns
    -------
    matplotlib.figure.Figure
        One group of bars per approach, values written on the bars.
    """
    from labcore.plots import _finish, _subplots

    shown = [name for name in metrics if name in table.columns]
    if not shown:
        raise ValueError(f"the table has none of {list(metrics)}; columns: {list(table.columns)}")
    fig, ax = _subplots(figsize=(1.6 + 1.8 * len(table), 3.4))
    positions = np.arange(len(table))
    width = 0.8 / len(shown)
    for offset, name in enumerate(shown):
        values = table[name].astype(float).to_numpy()
        bars = ax.bar(positions + offset * width, values, width, label=name.replace("_", " "))
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(positions + width * (len(shown) - 1) / 2, list(table.index))
    ax.set_ylim(0.0, 1.1)
    ax.set_ylabel("validation result")
    ax.set_title("Transfer learning against training from scratch")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _finish(fig)


def compare_with_scratch(
    base: keras.Model,
    build_frozen,
    start_fine_tuning,
    train,
    validation,
    input_shape,
    epochs: tuple[int, int],
    class_weight: Mapping[int, float] | None = None,
    fine_tune_rate: float = 1e-4,
    seed: int = 42,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Frozen base, then fine-tuning, against the same architecture trained from scratch.

    Parameters
    ----------
    base : keras.Model
        The pretrained convolutional base (from :func:`convolutional_base`).
    build_frozen : callable
        ``build_frozen(base, input_shape)``: freezes ``base``, puts a new head on it and
        returns the compiled model.
    start_fine_tuning : callable
        ``start_fine_tuning(model, base, learning_rate)``: unfreezes ``base`` and compiles
        ``model`` again.
    train, validation : dataset
        Batches of ``(images, labels)`` of the new task.
    input_shape : tuple of int
        ``(height, width, channels)`` of its images.
    epochs : (int, int)
        Epochs of the frozen phase and of fine-tuning (the profile's ``transfer_epochs``);
        the model from scratch trains for their sum.
    class_weight : dict or None
        ``{class_index: weight}``.
    fine_tune_rate : float, default=1e-4
        The learning rate of fine-tuning.
    seed : int, default=42
        Seed of the new weights (the head, and the model from scratch).

    Returns
    -------
    table : pandas.DataFrame
        From :func:`compare`: one row per approach (``frozen base``, ``fine-tuned``,
        ``from scratch``) with the epochs, the trainable weights and the validation results.
    histories : dict
        Approach -> its history (the fine-tuned one continues the frozen one's epochs).
    """
    frozen_epochs, tune_epochs = epochs
    keras.utils.set_random_seed(seed)
    model = build_frozen(base, tuple(input_shape))
    frozen_trainable = count_weights(model.trainable_weights)
    frozen_history = train_phase(model, train, validation, frozen_epochs, class_weight)
    frozen_scores = validation_scores(model, validation)
    start_fine_tuning(model, base, fine_tune_rate)
    tuned_trainable = count_weights(model.trainable_weights)
    tuned_history = train_phase(
        model, train, validation, tune_epochs, class_weight, initial_epoch=frozen_epochs
    )
    tuned_scores = validation_scores(model, validation)
    scratch = with_head(fresh_copy(base, seed=seed), input_shape)
    scratch_history = train_phase(
        scratch, train, validation, frozen_epochs + tune_epochs, class_weight
    )
    table = compare(
        {
            "frozen base": {
                "epochs": frozen_epochs,
                "trainable": frozen_trainable,
                "scores": frozen_scores,
            },
            "fine-tuned": {
                "epochs": frozen_epochs + tune_epochs,
                "trainable": tuned_trainable,
                "scores": tuned_scores,
            },
            "from scratch": {
                "epochs": frozen_epochs + tune_epochs,
                "trainable": count_weights(scratch.trainable_weights),
                "scores": validation_scores(scratch, validation),
            },
        }
    )
    histories = {
        "frozen base": frozen_history,
        "fine-tuned": pd.concat([frozen_history, tuned_history], ignore_index=True),
        "from scratch": scratch_history,
    }
    return table, histories
