"""Self-checks on training: callbacks by their effect, plots, frozen and fine-tuned bases.

Callbacks are checked by what they do on a short training run (:func:`callback_probe`).
"""

from __future__ import annotations

import numpy as np

from labcore.checks.core import _fail, _passed

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
    from labcore.transfer import count_weights  # here: importing checks stays light

    base_ids = {id(weight) for weight in base.weights}
    base_trainable = [w for w in model.trainable_weights if id(w) in base_ids]
    if base_trainable or base.trainable_weights:
        count = count_weights(base.trainable_weights)
        _fail(
            f"the base still has {count:,} trainable weights: training would overwrite what it "
            "learned.",
            "freeze it before compiling: base.trainable = False.",
        )
    if not model.trainable_weights:
        _fail("nothing in the model can learn.", "the new head must stay trainable.")
    count = count_weights(model.trainable_weights)
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
