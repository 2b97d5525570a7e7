"""Training: ``fit`` with the standard callbacks, class weights, and the history as a table.

Every notebook trains through :func:`fit`, a thin layer over Keras' ``model.fit`` that adds
what a careful run always needs:

* **Validation data, always.** Pass ``validation_data`` (arrays or a dataset) or
  ``validation_split`` (arrays only). Without one, :func:`fit` refuses to train: a model you
  cannot check on held-out data is a model you cannot trust.
* **The standard callbacks** (see :func:`standard_callbacks`):

  - ``EarlyStopping(restore_best_weights=True)``: stop when the monitored validation score
    has not improved for ``early_stopping_patience`` epochs, and hand back the weights of the
    best epoch, not those of the last one.
  - ``ReduceLROnPlateau``: halve the learning rate when the validation score stalls for
    ``reduce_lr_patience`` epochs.
  - ``ModelCheckpoint``: save the best model so far as a ``.keras`` file (when you give a
    ``checkpoint_path``); ``keras.models.load_model(path)`` brings it back.
  - a learning-rate schedule (optional): a function ``schedule(epoch, learning_rate)`` or a
    name, ``"cosine"`` or ``"one-cycle"`` (see :func:`learning_rate_schedule`). A schedule
    owns the learning rate, so ``ReduceLROnPlateau`` is left out when you choose one.

* **The history as a pandas DataFrame**: one row per epoch with ``epoch`` (counted from 1),
  the training loss and metrics, the same with a ``val_`` prefix for the validation data,
  the ``learning_rate`` used during the epoch and the epoch's wall-clock ``seconds``. Plot it
  with :func:`labcore.plots.learning_curves`.

* **Progress that suits the place it runs** (:mod:`labcore.progress`): an updating progress
  bar in JupyterLab or a terminal; one plain line per epoch when a notebook is executed by
  papermill or nbgrader, or when the output goes to a file.

Class imbalance (many more pneumonia X-rays than normal ones) is handled with
:func:`class_weights`: each class gets a weight inversely proportional to its size, so every
class contributes the same total weight to the loss.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from labcore.progress import EpochLogger, ordered_results, resolve_verbose
from labcore.runtime import quiet_import_keras, set_seed

__all__ = [
    "class_weighted",
    "class_weights",
    "fit",
    "learning_rate_schedule",
    "standard_callbacks",
]

keras = quiet_import_keras()

#: Named learning-rate schedules understood by :func:`learning_rate_schedule`.
SCHEDULE_NAMES = ("cosine", "one-cycle")


# --------------------------------------------------------------------------- schedules


def learning_rate_schedule(name: str, epochs: int) -> Callable[[int, float], float]:
    """A named learning-rate schedule as a function for ``keras.callbacks.LearningRateScheduler``.

    Both schedules start from the learning rate the model was compiled with (call it
    ``base``) and are defined per epoch ``e = 0, 1, ..., epochs - 1``:

    ``"cosine"``
        ``base * 0.5 * (1 + cos(pi * e / epochs))``: starts at ``base`` and glides down
        along half a cosine wave towards zero.
    ``"one-cycle"``
        A short warm-up, then cosine decay. Over the first ``w = max(1, round(0.3 *
        epochs))`` epochs the rate climbs linearly from ``0.1 * base`` towards ``base``
        (``base * (0.1 + 0.9 * e / w)``); afterwards it is
        ``base * 0.5 * (1 + cos(pi * (e - w) / (epochs - w)))``. A large rate in the middle
        of training explores, a small one at the end settles.

    Parameters
    ----------
    name : {"cosine", "one-cycle"}
        Which schedule.
    epochs : int
        How many epochs the run has (the length of the cycle).

    Returns
    -------
    callable
        ``schedule(epoch, learning_rate) -> float``. It remembers ``base`` from the learning
        rate it sees at epoch 0, so use it for runs that start at epoch 0. The optimizer
        keeps the last rate after training: compile again before another scheduled run.

    Examples
    --------
    >>> schedule = learning_rate_schedule("cosine", epochs=4)
    >>> [round(schedule(e, 0.1), 4) for e in range(4)]
    [0.1, 0.0854, 0.05, 0.0146]
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in SCHEDULE_NAMES:
        raise ValueError(
            f"Unknown learning-rate schedule {name!r}; use one of {', '.join(SCHEDULE_NAMES)} "
            "or pass a function schedule(epoch, learning_rate) -> float."
        )
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    warmup = max(1, round(0.3 * epochs)) if key == "one-cycle" else 0
    state = {"base": None}

    def schedule(epoch: int, learning_rate: float) -> float:
        if epoch == 0 or state["base"] is None:
            state["base"] = float(learning_rate)
        base = state["base"]
        if epoch < warmup:
            return float(base * (0.1 + 0.9 * epoch / warmup))
        progress = (epoch - warmup) / max(1, epochs - warmup)
        return float(base * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    schedule.__name__ = f"{key}_schedule"
    return schedule


# --------------------------------------------------------------------------- callbacks


def standard_callbacks(
    *,
    monitor: str = "val_loss",
    early_stopping_patience: int | None = 3,
    reduce_lr_patience: int | None = 2,
    checkpoint_path: str | os.PathLike | None = None,
    lr_schedule: str | Callable | None = None,
    epochs: int | None = None,
) -> list:
    """The course's standard Keras callbacks, ready for ``model.fit(callbacks=...)``.

    Parameters
    ----------
    monitor : str, default="val_loss"
        The validation result all callbacks watch. Names with ``loss`` in them are
        minimised, others (``val_accuracy``, ``val_auc``) maximised.
    early_stopping_patience : int or None, default=3
        Epochs without improvement before training stops; the best epoch's weights are put
        back (``restore_best_weights=True``). None leaves early stopping out.
    reduce_lr_patience : int or None, default=2
        Epochs without improvement before the learning rate is halved (down to at most
        1e-6). None, or a ``lr_schedule``, leaves it out.
    checkpoint_path : str or path-like or None, default=None
        Where to save the best model (a ``.keras`` file); its folder is created. None saves
        nothing.
    lr_schedule : {"cosine", "one-cycle"} or callable or None, default=None
        A learning-rate schedule: a name (needs ``epochs``) or a function
        ``schedule(epoch, learning_rate) -> float``.
    epochs : int or None, default=None
        The run's number of epochs; needed by named schedules.

    Returns
    -------
    list of keras.callbacks.Callback
        In the order EarlyStopping, ReduceLROnPlateau, ModelCheckpoint,
        LearningRateScheduler (those that apply).

    Raises
    ------
    ValueError
        If a patience is negative, the checkpoint does not end in ``.keras``, or a named
        schedule has no ``epochs``.
    """
    mode = "min" if "loss" in monitor else "max"
    callbacks = []
    for name, patience in (
        ("early_stopping_patience", early_stopping_patience),
        ("reduce_lr_patience", reduce_lr_patience),
    ):
        if patience is not None and (not isinstance(patience, int) or patience < 0):
            raise ValueError(f"{name} must be a non-negative integer or None, got {patience!r}")
    if early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if reduce_lr_patience is not None and lr_schedule is None:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=0.5, patience=reduce_lr_patience, min_lr=1e-6
            )
        )
    if checkpoint_path is not None:
        path = Path(checkpoint_path).expanduser()
        if path.suffix != ".keras":
            raise ValueError(
                f"checkpoint_path={str(checkpoint_path)!r} must end in '.keras' (the Keras 3 "
                "model format), e.g. 'build/checkpoints/seed_cnn.keras'."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                filepath=str(path), monitor=monitor, mode=mode, save_best_only=True
            )
        )
    if lr_schedule is not None:
        if isinstance(lr_schedule, str):
            if epochs is None:
                raise ValueError(
                    f"The named schedule {lr_schedule!r} needs the number of epochs: "
                    "pass epochs=..."
                )
            lr_schedule = learning_rate_schedule(lr_schedule, epochs)
        if not callable(lr_schedule):
            raise ValueError(
                f"lr_schedule must be 'cosine', 'one-cycle' or a function "
                f"schedule(epoch, learning_rate) -> float, got {lr_schedule!r}"
            )
        callbacks.append(keras.callbacks.LearningRateScheduler(lr_schedule))
    return callbacks


# --------------------------------------------------------------------------- class weights


def class_weights(labels_or_counts) -> dict[int, float]:
    """Balanced class weights: ``n_samples / (n_classes * count_of_the_class)``.

    With these weights every class adds the same total weight to the loss, however many
    examples it has, so a model cannot win by always predicting the common class. (The
    formula is scikit-learn's ``class_weight="balanced"``.)

    Parameters
    ----------
    labels_or_counts : array of int, mapping or sequence of int
        One of:

        * a NumPy array (or pandas Series, tensor) of integer labels ``0 .. n_classes - 1``;
        * a mapping ``{class: count}``; integer keys are the class indices, other keys
          (class names, as in :attr:`labcore.data.ImageFolderData.counts`) are numbered in
          the mapping's order;
        * a list or tuple of counts, one per class, in class order.

    Returns
    -------
    dict
        ``{class_index: weight}`` with plain ``int`` keys and ``float`` values, as
        ``model.fit(class_weight=...)`` expects.

    Raises
    ------
    ValueError
        If a class has no examples, counts are not positive integers, or labels are not
        non-negative integers.

    Examples
    --------
    >>> class_weights([1341, 3875])  # normal, pneumonia
    {0: 1.9448173005219984, 1: 0.6730322580645162}
    """
    if isinstance(labels_or_counts, Mapping):
        keys = list(labels_or_counts)
        if all(isinstance(k, int | np.integer) for k in keys):
            n_classes = max(int(k) for k in keys) + 1
            counts = [0] * n_classes
            for key, count in labels_or_counts.items():
                counts[int(key)] = count
            names = [str(index) for index in range(n_classes)]
        else:
            counts = [labels_or_counts[key] for key in keys]
            names = [str(key) for key in keys]
        source = "counts"
    elif isinstance(labels_or_counts, list | tuple):
        counts = list(labels_or_counts)
        names = [str(index) for index in range(len(counts))]
        source = "counts"
    else:
        labels = np.asarray(labels_or_counts)
        if labels.ndim != 1:
            raise ValueError(
                f"labels must be a 1-D array of class indices, got shape {labels.shape} "
                "(for one-hot labels pass labels.argmax(axis=1))."
            )
        if labels.size == 0:
            raise ValueError("labels is empty: there is nothing to weigh.")
        if not np.issubdtype(labels.dtype, np.number) or np.any(labels != np.round(labels)):
            raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}.")
        if labels.min() < 0:
            raise ValueError(f"labels must be non-negative class indices, found {labels.min()}.")
        counts = np.bincount(labels.astype(np.int64)).tolist()
        names = [str(index) for index in range(len(counts))]
        source = "labels"
    if not counts:
        raise ValueError("No classes given: pass labels or at least one count.")
    for name, count in zip(names, counts, strict=True):
        if isinstance(count, bool) or not float(count).is_integer() or count < 0:
            raise ValueError(f"Count of class {name} must be a non-negative integer, got {count!r}")
        if count == 0:
            raise ValueError(
                f"Class {name} has no examples in the {source}; a balanced weight would be "
                "infinite. Check the labels, or leave out classes that do not occur."
            )
    total, n_classes = float(sum(counts)), len(counts)
    return {index: total / (n_classes * float(count)) for index, count in enumerate(counts)}


# --------------------------------------------------------------------------- fit


def _is_array_like(data) -> bool:
    """Arrays, lists and tensors (as opposed to tf.data / grain datasets)."""
    return isinstance(data, np.ndarray | list | tuple) or hasattr(data, "__array__")


def _is_grain_dataset(data) -> bool:
    """Grain datasets (``load_image_folder`` on the JAX and PyTorch backends)."""
    return type(data).__module__.startswith("grain.")


def class_weighted(data, class_weight: Mapping[int, float] | None):
    """The training data and class weights in the form ``model.fit`` takes on every backend.

    Keras applies ``class_weight`` to arrays and ``tf.data`` datasets but refuses it for
    Grain datasets (what :func:`labcore.data.load_image_folder` gives on the JAX and PyTorch
    backends). Those come back with each example's class weight as its sample weight, and
    no ``class_weight``; everything else comes back as it is.

    Parameters
    ----------
    data : array, tf.data.Dataset or Grain dataset
        The training data (``x`` of ``model.fit``).
    class_weight : dict or None
        ``{class_index: weight}``, e.g. from :func:`class_weights`.

    Returns
    -------
    data, class_weight
        What to pass to ``model.fit`` as ``x`` and ``class_weight``.
    """
    if class_weight is not None and _is_grain_dataset(data):
        return _with_class_weights(data, class_weight), None
    return data, class_weight


def _with_class_weights(dataset, class_weight: Mapping[int, float]):
    """A Grain dataset whose batches carry the weight of each example's class.

    Keras applies ``class_weight`` itself to arrays and ``tf.data`` datasets but refuses it
    for Grain datasets, so there each batch ``(images, labels)`` becomes ``(images, labels,
    sample_weights)``, which weighs the loss exactly as ``class_weight`` would.
    """
    weights = np.zeros(max(int(index) for index in class_weight) + 1, dtype=np.float32)
    for index, weight in class_weight.items():
        weights[int(index)] = weight

    def add_sample_weights(batch):
        images, labels = batch[0], batch[1]
        classes = np.asarray(labels)
        if classes.ndim == 2 and classes.shape[1] > 1:  # one-hot labels
            classes = classes.argmax(axis=1)
        classes = classes.reshape(-1).astype(np.int64)
        if classes.size and (classes.min() < 0 or classes.max() >= len(weights)):
            raise ValueError(
                f"class_weight has weights for classes 0-{len(weights) - 1}, but a batch holds "
                f"label {int(classes.max())}: give every class a weight."
            )
        return images, labels, weights[classes]

    return dataset.map(add_sample_weights)


def _history_frame(history, logger: EpochLogger) -> pd.DataFrame:
    results = {name: values for name, values in history.history.items() if name != "learning_rate"}
    frame = pd.DataFrame(ordered_results(results))
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    frame["learning_rate"] = logger.learning_rates[: len(frame)]
    frame["seconds"] = logger.seconds[: len(frame)]
    return frame


def fit(
    model,
    x=None,
    y=None,
    *,
    validation_data=None,
    validation_split: float | None = None,
    epochs: int,
    batch_size: int | None = None,
    class_weight: Mapping[int, float] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    early_stopping_patience: int | None = 3,
    reduce_lr_patience: int | None = 2,
    lr_schedule: str | Callable | None = None,
    monitor: str = "val_loss",
    verbose="auto",
    seed: int | None = None,
    callbacks: list | None = None,
) -> pd.DataFrame:
    """Train a compiled Keras model with validation data and the standard callbacks.

    Parameters
    ----------
    model : keras.Model
        A compiled model (``model.compile(optimizer=..., loss=..., metrics=[...])``).
    x : array or dataset
        Training images (NumPy array) or a dataset of ``(images, labels)`` batches
        (``tf.data.Dataset`` or a Grain dataset, e.g. from
        :func:`labcore.data.load_image_folder`).
    y : array or None
        Training labels when ``x`` is an array; None for datasets.
    validation_data : tuple of arrays or dataset or None
        ``(x_val, y_val)`` or a dataset of batches.
    validation_split : float or None
        Share of the training arrays (taken from their end, before shuffling) to hold out
        instead. Arrays only.
    epochs : int
        The most epochs to train (early stopping may end sooner).
    batch_size : int or None
        Examples per step for arrays (Keras' default is 32); None for datasets, which are
        already batched.
    class_weight : dict or None
        ``{class_index: weight}``, e.g. from :func:`class_weights`.
        (Keras does not take it for Grain datasets; there each batch gets the weights of
        its examples' classes as sample weights, which weighs the loss the same way.)
    checkpoint_path : str or path-like or None
        Save the best model here as a ``.keras`` file.
    early_stopping_patience, reduce_lr_patience : int or None
        See :func:`standard_callbacks` (defaults 3 and 2; None switches one off). With early
        stopping the model ends with the weights of its best epoch; without it, with those
        of its last epoch. A model compiled with a learning-rate schedule object (such as
        :func:`labcore.models.compile_fast_cnn` gives it) gets no ``ReduceLROnPlateau``: its
        schedule owns the learning rate, which Keras then does not let a callback change.
    lr_schedule : {"cosine", "one-cycle"} or callable or None
        A learning-rate schedule (see :func:`learning_rate_schedule`).
    monitor : str, default="val_loss"
        The validation result that decides the best epoch.
    verbose : {"auto", 0, 1, 2}, default="auto"
        ``"auto"`` asks :func:`labcore.progress.progress_mode`; 0 prints nothing, 1 shows
        Keras' progress bar, 2 prints one line per epoch.
    seed : int or None
        If given, :func:`labcore.runtime.set_seed` is called first, so the shuffling and
        dropout of the run repeat. (The initial weights were drawn when the model was
        built: seed before building for those.)
    callbacks : list or None
        More Keras callbacks, run after the standard ones.

    Returns
    -------
    pandas.DataFrame
        One row per epoch run: ``epoch`` (from 1), ``loss`` and the compiled metrics,
        ``val_loss`` and the validation metrics, ``learning_rate`` and ``seconds``.
        ``frame.attrs`` holds ``monitor``, ``best_epoch`` (1-based, by ``monitor``) and
        ``stopped_early`` (bool).

    Raises
    ------
    ValueError
        Without validation data, with both kinds of validation data, with
        ``validation_split`` or ``y`` or ``batch_size`` for a dataset, for a model that is
        not compiled, or when ``monitor`` is not among the model's results.

    Examples
    --------
    >>> history = fit(model, x_train, y_train, validation_data=(x_val, y_val),
    ...               epochs=5, batch_size=128)  # doctest: +SKIP
    >>> history[["epoch", "val_accuracy"]]  # doctest: +SKIP
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "The model is not compiled: call model.compile(optimizer=..., loss=..., "
            "metrics=['accuracy']) before fit."
        )
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if x is None:
        raise ValueError("x is missing: pass training arrays (with y) or a training dataset.")
    if validation_data is None and validation_split is None:
        raise ValueError(
            "No validation data: pass validation_data=(x_val, y_val) (or a validation "
            "dataset), or validation_split=0.1 to hold out part of the training arrays. "
            "Training without validation data cannot show overfitting or pick the best epoch."
        )
    if validation_data is not None and validation_split is not None:
        raise ValueError("Pass either validation_data or validation_split, not both.")
    arrays = _is_array_like(x)
    if arrays and y is None:
        raise ValueError("y is missing: training arrays x need their labels y.")
    if not arrays:
        if y is not None:
            raise ValueError("y must be None when x is a dataset: its batches hold the labels.")
        if validation_split is not None:
            raise ValueError(
                "validation_split works with arrays only; for a dataset pass "
                "validation_data=<validation dataset> (load_image_folder gives you one)."
            )
        if batch_size is not None:
            raise ValueError("batch_size must be None when x is a dataset: it is batched already.")
    if validation_split is not None and not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be between 0 and 1, got {validation_split!r}")

    mode = resolve_verbose(verbose)
    if seed is not None:
        set_seed(seed)
    logger = EpochLogger(print_lines=mode == "lines", monitor=monitor)
    if _optimizer_has_schedule(model):
        reduce_lr_patience = None  # Keras cannot set a scheduled learning rate
    standard = standard_callbacks(
        monitor=monitor,
        early_stopping_patience=early_stopping_patience,
        reduce_lr_patience=reduce_lr_patience,
        checkpoint_path=checkpoint_path,
        lr_schedule=lr_schedule,
        epochs=epochs,
    )
    # The logger goes first: it checks the monitor before the other callbacks look for it.
    all_callbacks = [logger, *standard, *(callbacks or [])]
    x, class_weight = class_weighted(x, class_weight)
    with warnings.catch_warnings():
        # Datasets of unknown length (Grain) end their first epoch by running out of data,
        # which Keras reports as a warning on standard error; here that is expected.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(
            x,
            y,
            validation_data=validation_data,
            validation_split=validation_split or 0.0,
            epochs=epochs,
            batch_size=batch_size,
            class_weight=dict(class_weight) if class_weight is not None else None,
            shuffle=arrays,  # datasets shuffle themselves; Keras warns if asked to
            callbacks=all_callbacks,
            verbose=1 if mode == "bar" else 0,
        )
    frame = _history_frame(history, logger)
    early_stopping = next(
        (cb for cb in standard if isinstance(cb, keras.callbacks.EarlyStopping)), None
    )
    scores = frame[monitor]
    best_row = int(scores.idxmin() if "loss" in monitor else scores.idxmax())
    stopped_early = bool(early_stopping is not None and early_stopping.stopped_epoch > 0)
    frame.attrs = {
        "monitor": monitor,
        "best_epoch": int(frame["epoch"].iloc[best_row]),
        "stopped_early": stopped_early,
    }
    if mode != "off":
        _print_summary(frame, early_stopping is not None, checkpoint_path)
    return frame


def _optimizer_has_schedule(model) -> bool:
    """True when the model's optimizer takes its learning rate from a schedule object."""
    rate = getattr(model.optimizer, "_learning_rate", None)
    return isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)


def _print_summary(frame: pd.DataFrame, restored: bool, checkpoint_path) -> None:
    """One closing line: when training stopped and which epoch's weights the model holds."""
    monitor, best = frame.attrs["monitor"], frame.attrs["best_epoch"]
    best_score = float(frame.loc[frame["epoch"] == best, monitor].iloc[0])
    last = int(frame["epoch"].iloc[-1])
    parts = []
    if frame.attrs["stopped_early"]:
        parts.append(f"Stopped early after epoch {last}: {monitor} stopped improving.")
    if restored:
        parts.append(f"Best epoch {best} ({monitor} {best_score:.4f}): the model has its weights.")
    else:
        parts.append(
            f"Best epoch {best} ({monitor} {best_score:.4f}); the model keeps epoch {last}."
        )
    if checkpoint_path is not None:
        parts.append(f"Best model saved to {checkpoint_path}.")
    print(" ".join(parts), flush=True)
