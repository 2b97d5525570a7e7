"""labcore.training on real MNIST images: fit, callbacks, history, progress, class weights."""

from __future__ import annotations

import itertools
import json
import math
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from labcore import data, progress, training

keras = training.keras

FROZEN_WARNING = "ignore:The model does not have any trainable weights"


@pytest.fixture(scope="module")
def mnist_small(mirror):
    """600 training and 200 validation MNIST images (stratified), scaled to [0, 1]."""
    (x_train, y_train), _ = data.load_mnist()
    x, y = data.stratified_subset(x_train, y_train, 800, seed=0)
    x = data.prepare_images(x)
    return (x[:600], y[:600]), (x[600:], y[600:])


def tiny_cnn(learning_rate: float = 3e-3, trainable: bool = True, seed: int = 0):
    """A small CNN (a few thousand weights) that learns MNIST digits in one epoch."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.trainable = trainable
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.mark.slow
def test_fit_returns_one_row_per_epoch_with_metrics_learning_rate_and_seconds(mnist_small):
    (x, y), validation = mnist_small
    history = training.fit(
        tiny_cnn(learning_rate=3e-3),
        x,
        y,
        validation_data=validation,
        epochs=2,
        batch_size=64,
        early_stopping_patience=None,
        verbose=0,
    )
    assert list(history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
        "seconds",
    ]
    assert history["epoch"].tolist() == [1, 2]
    assert history["learning_rate"].tolist() == pytest.approx([3e-3, 3e-3])
    assert (history["seconds"] > 0).all()
    assert history["loss"].iloc[1] < history["loss"].iloc[0]  # it learns
    assert history["val_accuracy"].iloc[-1] > 0.3  # far above 0.1 (chance)
    assert history.attrs["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    assert history.attrs["stopped_early"] is False


@pytest.mark.slow
def test_checkpoint_holds_the_best_epoch_and_reloads(mnist_small, tmp_path):
    (x, y), (x_val, y_val) = mnist_small
    model = tiny_cnn(learning_rate=1e-2)
    path = tmp_path / "checkpoints" / "nested" / "best.keras"
    history = training.fit(
        model,
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=3,
        batch_size=32,
        checkpoint_path=path,
        verbose=0,
    )
    assert path.is_file()
    reloaded = keras.models.load_model(path)
    # the model got the best epoch's weights back; the file holds the same model
    np.testing.assert_allclose(
        reloaded.predict(x_val, verbose=0), model.predict(x_val, verbose=0), atol=1e-6
    )
    best_val_loss = history["val_loss"].min()
    val_loss, _ = reloaded.evaluate(x_val, y_val, verbose=0)
    assert val_loss == pytest.approx(best_val_loss, rel=1e-4)


@pytest.mark.filterwarnings(FROZEN_WARNING)
@pytest.mark.slow
def test_early_stopping_stops_when_the_monitor_cannot_improve(mnist_small, capsys):
    (x, y), validation = mnist_small
    # A frozen model's validation loss is the same in every epoch: no improvement after
    # epoch 1, so patience 0 stops after epoch 2 and patience 2 after epoch 3 (of 6).
    for patience, epochs_run in ((0, 2), (2, 3)):
        history = training.fit(
            tiny_cnn(trainable=False),
            x,
            y,
            validation_data=validation,
            epochs=6,
            batch_size=128,
            early_stopping_patience=patience,
            reduce_lr_patience=None,
            verbose=2,
        )
        assert len(history) == epochs_run
        assert history.attrs["stopped_early"] is True
        assert history.attrs["best_epoch"] == 1
    assert f"Stopped early after epoch {epochs_run}" in capsys.readouterr().out


@pytest.mark.filterwarnings(FROZEN_WARNING)
def test_reduce_lr_on_plateau_halves_the_learning_rate(mnist_small):
    (x, y), validation = mnist_small
    history = training.fit(
        tiny_cnn(learning_rate=0.01, trainable=False),
        x,
        y,
        validation_data=validation,
        epochs=3,
        batch_size=128,
        early_stopping_patience=None,
        reduce_lr_patience=0,
        verbose=0,
    )
    # epoch 2 does not improve on epoch 1, so epoch 3 runs at half the rate
    assert history["learning_rate"].tolist() == pytest.approx([0.01, 0.01, 0.005])


@pytest.mark.filterwarnings(FROZEN_WARNING)
def test_a_model_compiled_with_a_schedule_trains_through_a_plateau(mnist_small):
    (x, y), validation = mnist_small
    model = tiny_cnn(trainable=False)
    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=20)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # a frozen model plateaus at once: ReduceLROnPlateau (patience 0) would try to set the
    # scheduled learning rate, which Keras refuses with a TypeError
    history = training.fit(
        model,
        x,
        y,
        validation_data=validation,
        epochs=3,
        batch_size=128,
        early_stopping_patience=None,
        reduce_lr_patience=0,
        verbose=0,
    )
    assert len(history) == 3
    # no training step ran (nothing is trainable), so the schedule is still at its start
    assert history["learning_rate"].tolist() == pytest.approx([0.01, 0.01, 0.01])


def test_named_schedule_sets_the_learning_rate_of_each_epoch(mnist_small):
    (x, y), validation = mnist_small
    history = training.fit(
        tiny_cnn(learning_rate=0.004),
        x,
        y,
        validation_data=validation,
        epochs=2,
        batch_size=128,
        lr_schedule="cosine",
        early_stopping_patience=None,
        verbose=0,
    )
    # cosine over 2 epochs: base, then base * 0.5 * (1 + cos(pi / 2)) = base / 2
    assert history["learning_rate"].tolist() == pytest.approx([0.004, 0.002])


def test_learning_rate_schedules_by_hand():
    cosine = training.learning_rate_schedule("cosine", epochs=4)
    assert [cosine(e, 0.1) for e in range(4)] == pytest.approx(
        [0.1, 0.1 * (1 + math.sqrt(0.5)) / 2, 0.05, 0.1 * (1 - math.sqrt(0.5)) / 2]
    )
    one_cycle = training.learning_rate_schedule("one-cycle", epochs=10)  # warm-up: 3 epochs
    rates = [one_cycle(e, 1.0) for e in range(10)]
    assert rates[:4] == pytest.approx([0.1, 0.4, 0.7, 1.0])
    assert rates[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 6 / 7)))
    assert all(a > b for a, b in itertools.pairwise(rates[3:]))  # decays after warm-up
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        training.learning_rate_schedule("triangle", epochs=3)


def test_standard_callbacks_are_configured_as_documented(tmp_path):
    callbacks = training.standard_callbacks(
        monitor="val_accuracy",
        early_stopping_patience=4,
        reduce_lr_patience=2,
        checkpoint_path=tmp_path / "new" / "model.keras",
    )
    early, plateau, checkpoint = callbacks
    assert isinstance(early, keras.callbacks.EarlyStopping)
    assert early.restore_best_weights and early.patience == 4 and early.mode == "max"
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.patience == 2
    assert plateau.factor == 0.5
    assert isinstance(checkpoint, keras.callbacks.ModelCheckpoint)
    assert checkpoint.save_best_only and (tmp_path / "new").is_dir()
    scheduled = training.standard_callbacks(lr_schedule="one-cycle", epochs=5)
    kinds = [type(callback).__name__ for callback in scheduled]
    assert kinds == ["EarlyStopping", "LearningRateScheduler"]  # a schedule owns the rate
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        training.standard_callbacks(checkpoint_path=tmp_path / "model.h5")
    with pytest.raises(ValueError, match="needs the number of epochs"):
        training.standard_callbacks(lr_schedule="cosine")


def test_progress_is_one_line_per_epoch_when_not_interactive(mnist_small, capfd):
    (x, y), validation = mnist_small
    assert progress.progress_mode() == "lines"  # pytest captures stdout: not a terminal
    training.fit(
        tiny_cnn(),
        x,
        y,
        validation_data=validation,
        epochs=2,
        batch_size=128,
        early_stopping_patience=None,
    )
    out, err = capfd.readouterr()
    assert err == ""
    assert "\r" not in out and "\b" not in out
    epoch_lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert len(epoch_lines) == 2
    first = epoch_lines[0].split(" - ")
    assert first[0] == "Epoch 1/2" and first[1].endswith(" s")
    assert [part.split()[0] for part in first[2:]] == [
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
    ]
    assert len(out.splitlines()) == 3  # two epoch lines and the closing summary


# Run in a child whose standard output is a (pseudo) terminal: each case sets the environment
# (after clearing the variables progress_mode reads) and prints the mode it gets.
_TERMINAL_CASES = {
    "plain": {},
    "papermill": {"PAPERMILL_EXECUTION": "1"},
    "nbgrader": {"NBGRADER_EXECUTION": "autograde"},
    "override": {"LABCORE_PROGRESS": "off"},
}
_TERMINAL_CHILD = """
import json, os, sys
from labcore.progress import progress_mode
for case, changes in json.loads(sys.argv[1]).items():
    for name in ("LABCORE_PROGRESS", "PAPERMILL_EXECUTION", "NBGRADER_EXECUTION"):
        os.environ.pop(name, None)
    os.environ.update(changes)
    print("MODE", case, progress_mode())
"""


def _progress_modes_in_a_terminal() -> dict[str, str]:
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _TERMINAL_CHILD, json.dumps(_TERMINAL_CASES)],
            stdout=terminal,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        os.close(terminal)
        terminal = None
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal is closed: everything has been read
                break
            if not chunk:
                break
            output += chunk
    finally:
        if terminal is not None:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, result.stderr.decode()
    found = [line.split() for line in output.decode().splitlines() if line.startswith("MODE")]
    return {case: mode for _, case, mode in found}


@pytest.mark.slow
def test_progress_mode_bar_in_a_terminal_and_lines_under_papermill_or_nbgrader():
    modes = _progress_modes_in_a_terminal()
    assert modes == {"plain": "bar", "papermill": "lines", "nbgrader": "lines", "override": "off"}


def test_progress_mode_environment_override(monkeypatch):
    monkeypatch.setenv("LABCORE_PROGRESS", "bar")
    assert progress.progress_mode() == "bar"
    monkeypatch.setenv("LABCORE_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="LABCORE_PROGRESS='fancy'"):
        progress.progress_mode()


def test_fit_refuses_to_train_without_validation_data(mnist_small):
    (x, y), validation = mnist_small
    with pytest.raises(ValueError, match="No validation data"):
        training.fit(tiny_cnn(), x, y, epochs=1)
    with pytest.raises(ValueError, match="either validation_data or validation_split"):
        training.fit(tiny_cnn(), x, y, validation_data=validation, validation_split=0.2, epochs=1)
    uncompiled = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="not compiled"):
        training.fit(uncompiled, x, y, validation_data=validation, epochs=1)


@pytest.mark.slow
def test_fit_with_validation_split_and_a_monitor_the_model_lacks(mnist_small):
    (x, y), _ = mnist_small
    history = training.fit(
        tiny_cnn(), x, y, validation_split=0.25, epochs=1, batch_size=128, verbose=0
    )
    assert len(history) == 1 and "val_accuracy" in history
    with pytest.raises(ValueError, match="monitor='val_auc' is not among"):
        training.fit(tiny_cnn(), x, y, validation_split=0.25, epochs=1, monitor="val_auc")


@pytest.mark.slow
def test_fit_with_tf_data_and_grain_datasets(mnist_small, capfd):
    import grain
    import tensorflow as tf

    (x, y), (x_val, y_val) = mnist_small
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(600, seed=0).batch(64)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64)
    history = training.fit(tiny_cnn(), train, validation_data=val, epochs=2, verbose=0)
    assert len(history) == 2 and history["val_accuracy"].iloc[-1] > 0.3

    train_grain = grain.MapDataset.source(list(zip(x, y, strict=True))).shuffle(seed=0).batch(64)
    val_grain = grain.MapDataset.source(list(zip(x_val, y_val, strict=True))).batch(64)
    history = training.fit(tiny_cnn(), train_grain, validation_data=val_grain, epochs=2, verbose=0)
    assert len(history) == 2 and history["val_accuracy"].iloc[-1] > 0.3
    assert capfd.readouterr().err == ""  # no Keras warnings about datasets on stderr

    with pytest.raises(ValueError, match="validation_split works with arrays only"):
        training.fit(tiny_cnn(), train, validation_split=0.2, epochs=1)
    with pytest.raises(ValueError, match="batch_size must be None"):
        training.fit(tiny_cnn(), train, validation_data=val, epochs=1, batch_size=32)


def test_class_weights_by_hand():
    # 3 of class 0 and 1 of class 1: 4 / (2 * 3) and 4 / (2 * 1)
    assert training.class_weights(np.array([0, 0, 0, 1])) == pytest.approx({0: 2 / 3, 1: 2.0})
    # counts as a list: 100 examples, 3 classes
    weights = training.class_weights([10, 30, 60])
    assert weights == pytest.approx({0: 100 / 30, 1: 100 / 90, 2: 100 / 180})
    # counts by class name, as ImageFolderData.counts["train"] gives them
    named = training.class_weights({"NORMAL": 1341, "PNEUMONIA": 3875})
    assert named == pytest.approx({0: 5216 / 2682, 1: 5216 / 7750})
    assert all(isinstance(k, int) and isinstance(v, float) for k, v in named.items())
    # integer keys are class indices, in any order
    assert training.class_weights({1: 30, 0: 10}) == pytest.approx({0: 2.0, 1: 40 / 60})


def test_class_weights_match_scikit_learn_balanced():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.random.default_rng(0).integers(0, 4, size=257)
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    assert list(training.class_weights(labels).values()) == pytest.approx(expected.tolist())


def test_class_weights_errors_name_the_problem():
    with pytest.raises(ValueError, match="Class 1 has no examples"):
        training.class_weights(np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="1-D array of class indices"):
        training.class_weights(np.eye(3))
    with pytest.raises(ValueError, match="integer class indices"):
        training.class_weights(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="non-negative integer"):
        training.class_weights([3, -1])


def test_epoch_logger_with_plain_keras_fit(mnist_small, capsys):
    (x, y), validation = mnist_small
    logger = progress.EpochLogger()
    tiny_cnn().fit(
        x, y, validation_data=validation, epochs=2, batch_size=128, verbose=0, callbacks=[logger]
    )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert len(logger.seconds) == 2 and logger.learning_rates == pytest.approx([3e-3, 3e-3])


@pytest.mark.slow
def test_papermill_kernel_prints_one_line_per_epoch_and_shows_each_figure_once(tmp_path):
    """A real papermill run: the kernel knows it is not watched (its parent is papermill)."""
    import nbformat

    cells = [
        "import labcore, keras, numpy as np\nfrom labcore import plots, progress, training\n"
        "print(progress.progress_mode())",
        "x = np.random.default_rng(0).random((256, 8, 8, 1), dtype='float32')\n"
        "y = np.arange(256) % 2\n"
        "model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),\n"
        "                          keras.layers.Dense(2, activation='softmax')])\n"
        "model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])\n"
        "history = training.fit(model, x, y, validation_split=0.25, epochs=3, batch_size=32,\n"
        "                       early_stopping_patience=None)",
        "plots.learning_curves(history)",
        "%matplotlib inline\nplots.learning_curves(history)",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    source, executed = tmp_path / "progress.ipynb", tmp_path / "progress_out.ipynb"
    nbformat.write(notebook, source)
    # No progress override: the kernel must find out itself. Agg, as the course runner sets.
    unset = ("PAPERMILL_EXECUTION", "LABCORE_PROGRESS")
    env = {k: v for k, v in os.environ.items() if k not in unset} | {"MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(source), str(executed), "-k", "python3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = [cell.get("outputs", []) for cell in nbformat.read(executed, as_version=4).cells]
    assert not [o for cell in outputs for o in cell if o.get("name") == "stderr"]
    assert outputs[0][0]["text"].strip() == "lines"
    training_text = "".join(o.get("text", "") for o in outputs[1])
    assert "\r" not in training_text and "\b" not in training_text
    lines = training_text.splitlines()
    assert [line.split(" - ")[0] for line in lines[:3]] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert len(lines) == 4 and lines[3].startswith("Best epoch")
    # the figure is shown as an image under Agg (NotebookFigure renders itself) and, after
    # switching to the inline backend, exactly once (it is not also left open in pyplot)
    for cell_outputs in outputs[2:]:
        assert len([o for o in cell_outputs if "image/png" in o.get("data", {})]) == 1
