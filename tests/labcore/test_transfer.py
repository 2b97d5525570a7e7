"""labcore.transfer (transfer learning) and the checks notebook 03 grades its training with.

Everything runs real Keras on tiny models and made-up images: a few seconds in all.
"""

from __future__ import annotations

import keras
import matplotlib
import numpy as np
import pandas as pd
import pytest

from labcore import checks, models, transfer

matplotlib.use("Agg")


class Batches(keras.utils.PyDataset):
    """(images, labels) batches from arrays, for any Keras backend."""

    def __init__(self, images, labels, batch_size=8):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, batch_size

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[part], self.labels[part]


def images_and_labels(count=32, size=16, seed=0):
    """Images whose bright half says the class (0: top bright, 1: bottom bright)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.uniform(0, 60, size=(count, size, size, 1)).astype("float32")
    for index, label in enumerate(labels):
        half = slice(size // 2, None) if label else slice(None, size // 2)
        images[index, half] += 150.0
    return images, labels.astype("float32")


@pytest.fixture(scope="module")
def trained_cnn():
    """A small xray_cnn on 28 x 28 images, trained one epoch (augmentation included)."""
    keras.utils.set_random_seed(0)
    model = models.xray_cnn(image_size=28, channels=1, augmentation=models.xray_augmentation())
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images, labels = images_and_labels(32, 28)
    model.fit(images, labels, epochs=1, batch_size=16, verbose=0)
    return model


def frozen_reference(base, input_shape):
    base.trainable = False
    return transfer.with_head(base, input_shape)


def fine_tune_reference(model, base, learning_rate):
    base.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )


# --------------------------------------------------------------------------- transfer


def test_transfer_epochs_grow_with_the_profile():
    from labcore.profile import get_profile

    epochs = {name: get_profile(name).transfer_epochs for name in ("smoke", "grade", "full")}
    assert all(frozen >= 1 and tuned >= 1 for frozen, tuned in epochs.values())
    assert epochs["smoke"] <= epochs["grade"] <= epochs["full"]


def test_convolutional_base_copies_the_trained_weights_without_augmentation(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    assert [layer.name for layer in base.layers] == [
        "rescaling",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
    ]
    for name in ("conv1", "conv2"):
        for copied, original in zip(
            base.get_layer(name).get_weights(),
            trained_cnn.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(copied, original)
    assert base.count_params() == 320 + 18_496


def test_convolutional_base_takes_other_image_sizes_and_is_independent(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    features = base.predict(np.zeros((2, 40, 48, 1), dtype="float32"), verbose=0)
    assert features.shape == (2, 10, 12, 64)
    kernel = base.get_layer("conv1").kernel
    kernel.assign(np.zeros(kernel.shape, dtype="float32"))
    assert np.abs(trained_cnn.get_layer("conv1").get_weights()[0]).sum() > 0


def test_convolutional_base_names_what_is_missing(trained_cnn):
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        transfer.convolutional_base(trained_cnn, last_layer="conv9")
    with pytest.raises(ValueError, match="comes before"):
        transfer.convolutional_base(trained_cnn, first_layer="pool2", last_layer="conv1")


def test_fresh_copy_has_the_architecture_but_new_weights(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    base.trainable = False
    scratch = transfer.fresh_copy(base, seed=1)
    assert [type(layer) for layer in scratch.layers] == [type(layer) for layer in base.layers]
    assert scratch.count_params() == base.count_params()
    assert scratch.trainable and transfer.count_weights(scratch.trainable_weights) == 18_816
    assert not np.allclose(
        scratch.get_layer("conv1").get_weights()[0], base.layers[1].get_weights()[0]
    )


@pytest.mark.slow
def test_with_head_on_a_frozen_base_trains_only_the_head(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    model = frozen_reference(base, (20, 20, 1))
    assert transfer.count_weights(model.trainable_weights) == 64 + 1
    before = [weight.copy() for weight in base.get_weights()]
    images, labels = images_and_labels(16, 20)
    history = transfer.train_phase(model, Batches(images, labels), Batches(images, labels), 2)
    for kept, now in zip(before, base.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)
    assert list(history["epoch"]) == [1, 2]
    assert {"loss", "val_loss", "val_auc"} <= set(history.columns)
    assert model.predict(images[:3], verbose=0).shape == (3, 1)


def test_train_phase_continues_the_epoch_count(trained_cnn):
    model = transfer.with_head(transfer.convolutional_base(trained_cnn), (16, 16, 1))
    images, labels = images_and_labels(16, 16)
    data = Batches(images, labels)
    history = transfer.train_phase(model, data, data, 2, {0: 1.0, 1: 2.0}, initial_epoch=3)
    assert list(history["epoch"]) == [4, 5]
    scores = transfer.validation_scores(model, data)
    assert set(scores) == {"loss", "accuracy", "auc"}


def test_count_weights_adds_the_sizes():
    assert transfer.count_weights([np.zeros((3, 3, 1, 32)), np.zeros(32)]) == 320
    assert transfer.count_weights([]) == 0


def test_compare_and_plot():
    table = transfer.compare(
        {
            "frozen base": {"epochs": 2, "trainable": 65, "scores": {"auc": 0.7, "loss": 0.6}},
            "from scratch": {"epochs": 4, "trainable": 900, "scores": {"auc": 0.8, "loss": 0.5}},
        }
    )
    assert list(table.index) == ["frozen base", "from scratch"]
    assert table.loc["from scratch", "val_auc"] == 0.8
    assert table.loc["frozen base", "trainable"] == 65
    figure = transfer.comparison_plot(table)
    bars = figure.axes[0].patches
    assert sorted(round(bar.get_height(), 2) for bar in bars) == [0.7, 0.8]
    with pytest.raises(ValueError, match="none of"):
        transfer.comparison_plot(table, metrics=("val_precision",))


@pytest.mark.slow
def test_compare_with_scratch_runs_both_phases_and_the_baseline(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    images, labels = images_and_labels(24, 24)
    data = Batches(images, labels)
    table, histories = transfer.compare_with_scratch(
        base, frozen_reference, fine_tune_reference, data, data, (24, 24, 1), epochs=(1, 2)
    )
    assert list(table.index) == ["frozen base", "fine-tuned", "from scratch"]
    assert list(table["epochs"]) == [1, 3, 3]
    assert table.loc["frozen base", "trainable"] == 65
    assert table.loc["fine-tuned", "trainable"] == table.loc["from scratch", "trainable"] == 18_881
    assert table[["val_auc", "val_accuracy"]].apply(lambda c: c.between(0, 1)).all().all()
    assert list(histories["fine-tuned"]["epoch"]) == [1, 2, 3]
    assert len(histories["from scratch"]) == 3
    assert isinstance(histories["frozen base"], pd.DataFrame)


# --------------------------------------------------------------------------- checks (nb 03)


def test_transfer_checks_tell_frozen_from_unfrozen_and_recompiled(trained_cnn):
    base = transfer.convolutional_base(trained_cnn)
    model = frozen_reference(base, (16, 16, 1))
    checks.check_frozen_base(model, base)
    with pytest.raises(checks.SelfCheckError, match="still frozen"):
        checks.check_unfrozen_base(model, base)
    head_optimizer = model.optimizer
    base.trainable = True
    with pytest.raises(checks.SelfCheckError, match="trainable weights"):
        checks.check_frozen_base(model, base)
    checks.check_unfrozen_base(model, base)
    with pytest.raises(checks.SelfCheckError, match="not compiled again"):
        checks.check_recompiled(model, head_optimizer, max_rate=1e-4)
    fine_tune_reference(model, base, 1e-3)
    with pytest.raises(checks.SelfCheckError, match="above"):
        checks.check_recompiled(model, head_optimizer, max_rate=1e-4)
    fine_tune_reference(model, base, 1e-4)
    checks.check_recompiled(model, head_optimizer, max_rate=1e-4)


def schedule(epoch, rate):
    return rate if epoch < 2 else rate * 0.8


def train_with_callbacks(restore=True, plateau=True, best_only=True, rate_schedule=schedule):
    def train(model, train_data, validation, epochs, class_weight, checkpoint_path):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        callbacks = [
            keras.callbacks.EarlyStopping(patience=3, restore_best_weights=restore),
            keras.callbacks.ModelCheckpoint(checkpoint_path, save_best_only=best_only),
            keras.callbacks.LearningRateScheduler(rate_schedule),
        ]
        if plateau:
            callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2))
        return model.fit(
            train_data,
            validation_data=validation,
            epochs=epochs,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=0,
        )

    return train


def test_callback_probe_passes_a_complete_training_function(tmp_path):
    run = checks.callback_probe(train_with_callbacks(), folder=tmp_path)
    assert len(run.history["val_loss"]) < run.epochs
    checks.check_schedule(run, schedule, first_rate=1e-3)
    checks.check_plateau_reduction(run, factor=0.5, schedule=schedule)
    checks.check_early_stopping(run)
    checks.check_checkpoint(run)


@pytest.mark.parametrize(
    ("mistake", "check", "message"),
    [
        ({"restore": False}, "early_stopping", "kept the weights of its last epoch"),
        ({"plateau": False}, "plateau", "never cut"),
        ({"best_only": False}, "checkpoint", "best epoch had"),
        ({"rate_schedule": lambda epoch, rate: rate * 0.8}, "schedule", "first epoch"),
    ],
)
@pytest.mark.slow
def test_callback_probe_finds_each_missing_effect(tmp_path, mistake, check, message):
    run = checks.callback_probe(train_with_callbacks(**mistake), folder=tmp_path)
    run_check = {
        "early_stopping": lambda: checks.check_early_stopping(run),
        "plateau": lambda: checks.check_plateau_reduction(run, schedule=schedule),
        "checkpoint": lambda: checks.check_checkpoint(run),
        "schedule": lambda: checks.check_schedule(run, schedule, first_rate=1e-3),
    }[check]
    with pytest.raises(checks.SelfCheckError, match=message):
        run_check()


def test_history_and_plot_checks_use_the_students_own_results():
    history = {"loss": [0.9, 0.5], "val_loss": [0.8, 0.7], "accuracy": [0.6, 0.8]}
    checks.check_history(history, ("loss", "val_loss"))
    with pytest.raises(checks.SelfCheckError, match="validation_data"):
        checks.check_history(history, ("val_accuracy",))
    from labcore import plots

    figure = plots.learning_curves(history)
    checks.check_curves_drawn_from(figure, history)
    with pytest.raises(checks.SelfCheckError, match="'loss'"):
        checks.check_curves_drawn_from(plots.learning_curves(history, ("accuracy",)), history)
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 1, 1, 0])
    checks.check_confusion_drawn_from(plots.confusion_matrix(y_true, y_pred), y_true, y_pred)
    with pytest.raises(checks.SelfCheckError, match="true labels first"):
        checks.check_confusion_drawn_from(plots.confusion_matrix(y_pred, y_true), y_true, y_pred)
