"""Notebook 02 (MNIST) under the real grader: release, reference, blank, wrong answers.

One autograde run (grade profile, two jobs) grades the reference solution, the unanswered
student version and one student per plausible wrong answer; each wrong answer must lose the
points of its own exercise and no others. The designed model is trained in the notebook
(grade profile: 12,000 training images, 2 epochs) and must reach the grade profile's
``designed_cnn_min_accuracy``.
"""

from __future__ import annotations

import pytest
from notebook_grading import (
    AssignmentGradingTests,
    reference_answer,
    replace_once,
    solution_stubs,
    source_notebook,
)

from labcore.profile import get_profile

pytestmark = pytest.mark.slow

ASSIGNMENT = "02_mnist"

#: The autograded test cells of notebook 02 and their points (the header promises 18).
EXPECTED_POINTS = {
    "test_mnist_prepare_images": 1.0,
    "test_mnist_prepare_images_shape": 1.0,
    "test_mnist_build_seed_cnn": 1.0,
    "test_mnist_build_seed_cnn_settings": 1.0,
    "test_mnist_build_seed_cnn_params": 1.0,
    "test_mnist_train_seed_cnn": 1.0,
    "test_mnist_train_seed_cnn_schedule": 1.0,
    "test_mnist_train_seed_cnn_checkpoint": 1.0,
    "test_mnist_counts": 1.0,
    "test_mnist_counts_deeper_conv": 1.0,
    "test_mnist_counts_deeper_dense": 1.0,
    "test_mnist_counts_deeper": 1.0,
    "test_mnist_build_my_cnn": 1.0,
    "test_mnist_build_my_cnn_accuracy": 4.0,
    "test_mnist_sgd_optimizer": 1.0,
}
MY_CNN_CELLS = ("test_mnist_build_my_cnn", "test_mnist_build_my_cnn_accuracy")

#: labcore's fast CNN handed in as the student's own design.
FAST_CNN_SUBMITTED = """
MY_EPOCHS = None
MY_BATCH_SIZE = 128


def build_my_cnn(steps_per_epoch, epochs):
    return models.compile_fast_cnn(models.fast_cnn(), steps_per_epoch, epochs)
"""

#: Correct, another design: the functional API, batch normalisation with momentum 0.9.
BATCH_NORM_FUNCTIONAL = """
MY_EPOCHS = None
MY_BATCH_SIZE = 128


def conv_block(x, filters):
    x = keras.layers.Conv2D(filters, (3, 3), use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.Activation("relu")(x)
    return keras.layers.MaxPooling2D()(x)


def build_my_cnn(steps_per_epoch, epochs):
    inputs = keras.Input(shape=(28, 28, 1))
    x = conv_block(conv_block(inputs, 32), 64)
    x = keras.layers.Dropout(0.25)(keras.layers.Flatten()(x))
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, steps_per_epoch * epochs, warmup_target=3e-3, warmup_steps=steps_per_epoch // 2
    )
    model.compile(
        keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model
"""

NO_CHANNEL_AXIS = """
def prepare_images(images):
    return np.asarray(images).astype(np.float32) / 255.0
"""

#: Calls labcore's version: no work of its own.
PREPARE_WITH_LABCORE = """
from labcore.data import prepare_images as labcore_prepare


def prepare_images(images):
    return labcore_prepare(images)
"""

#: Correct, written differently: np.expand_dims, multiplication by 1/255.
PREPARE_OTHER_STYLE = """
def prepare_images(images):
    # same result as labcore.data.prepare_images, written by hand
    return np.expand_dims(images * np.float32(1 / 255), axis=-1).astype("float32")
"""

#: Correct, written differently: one-argument schedule, callbacks named one by one.
TRAIN_OTHER_STYLE = """
from keras import callbacks as cb


def train_seed_cnn(model, images, labels, epochs, batch_size, checkpoint_path):
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    stop = cb.EarlyStopping(patience=3, restore_best_weights=True)
    plateau = cb.ReduceLROnPlateau(factor=0.5, patience=2)
    best = cb.ModelCheckpoint(str(checkpoint_path), save_best_only=True)
    decay = cb.LearningRateScheduler(lambda epoch: 0.001 * 0.7**epoch)
    return model.fit(
        images,
        labels,
        batch_size,
        epochs,
        validation_split=0.2,
        callbacks=[decay, stop, plateau, best],
    )
"""

#: Correct, with the functional API (its layer list starts with an InputLayer).
SEED_FUNCTIONAL = """
def build_seed_cnn():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(8, (3, 3), activation="relu", name="first_conv")(inputs)
    x = keras.layers.MaxPooling2D(pool_size=(2, 2))(x)
    x = keras.layers.Conv2D(16, (3, 3), activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="my_seed_cnn")
"""

#: Correct, built with model.add.
SEED_WITH_ADD = """
def build_seed_cnn():
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    for filters in (8, 16):
        model.add(keras.layers.Conv2D(filters, 3, padding="valid", activation="relu"))
        model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(64, activation="relu"))
    model.add(keras.layers.Dropout(rate=0.2))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model
"""

FORGOT_TO_SCALE = """
def prepare_images(images):
    return np.asarray(images).astype(np.float32)[..., np.newaxis]
"""

# a logistic regression on the pixels: about 86 % after 2 epochs in the grade profile
TOO_WEAK_MODEL = """
MY_EPOCHS = None
MY_BATCH_SIZE = 128


def build_my_cnn(steps_per_epoch, epochs):
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""

# raw scores out, but a loss that expects probabilities: training goes wrong
NO_SOFTMAX = """
MY_EPOCHS = None
MY_BATCH_SIZE = 128


def build_my_cnn(steps_per_epoch, epochs):
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""


#: Correct, written differently: a helper function, a tuple, a NumPy array and a NumPy total.
COUNTS_OTHER_STYLE = """
def conv_count(kernel, channels_in, filters):
    return (kernel * kernel * channels_in + 1) * filters


def dense_count(inputs, units):
    return inputs * units + units


side = ((28 - 2) // 2 - 2) // 2 - 2  # conv, pool, conv, pool, conv
STEPS_PER_EPOCH = -(-48_000 // 128)
DEEPER_CONV_PARAMS = (conv_count(3, 1, 32), conv_count(3, 32, 64), conv_count(3, 64, 64))
DEEPER_DENSE_PARAMS = np.array([dense_count(side * side * 64, 64), dense_count(64, 10)])
DEEPER_CNN_PARAMS = np.sum(DEEPER_CONV_PARAMS) + DEEPER_DENSE_PARAMS.sum()
"""

#: Correct, written differently: the optimizer from a config dict, positional learning rate.
SGD_FROM_CONFIG = """
def sgd_with_momentum(learning_rate):
    config = {"momentum": 0.9, "nesterov": False}
    config["learning_rate"] = learning_rate
    return keras.optimizers.get({"class_name": "SGD", "config": config})
"""

#: The learning rate of the course material written in, not the one given.
SGD_FIXED_RATE = """
def sgd_with_momentum(learning_rate):
    return keras.optimizers.SGD(0.01, momentum=0.9)
"""


def wrong_answers() -> dict[str, tuple]:
    """Student id -> (answer cell, a plausible wrong answer[, the test cells it loses])."""
    seed = reference_answer(ASSIGNMENT, "mnist_build_seed_cnn")
    counts = reference_answer(ASSIGNMENT, "mnist_counts")
    train = reference_answer(ASSIGNMENT, "mnist_train_seed_cnn")
    sgd = reference_answer(ASSIGNMENT, "mnist_sgd_optimizer")
    seed_cells = tuple(cell for cell in EXPECTED_POINTS if "build_seed_cnn" in cell)
    return {
        "forgot-to-scale": ("mnist_prepare_images", FORGOT_TO_SCALE),
        "no-channel-axis": (
            "mnist_prepare_images",
            NO_CHANNEL_AXIS,
            ("test_mnist_prepare_images_shape",),
        ),
        "prepare-with-labcore": (
            "mnist_prepare_images",
            PREPARE_WITH_LABCORE,
            ("test_mnist_prepare_images", "test_mnist_prepare_images_shape"),
        ),
        "seed-average-pooling": (
            "mnist_build_seed_cnn",
            replace_once(
                seed,
                "keras.layers.MaxPooling2D(2),\n            keras.layers.Flatten()",
                "keras.layers.AveragePooling2D(2),\n            keras.layers.Flatten()",
            ),
        ),
        "seed-tanh-convolution": (
            "mnist_build_seed_cnn",
            replace_once(
                seed, 'Conv2D(8, 3, activation="relu")', 'Conv2D(8, 3, activation="tanh")'
            ),
            ("test_mnist_build_seed_cnn_settings",),
        ),
        "seed-dense-without-bias": (
            "mnist_build_seed_cnn",
            replace_once(
                seed,
                'Dense(64, activation="relu")',
                'Dense(64, activation="relu", use_bias=False)',
            ),
            ("test_mnist_build_seed_cnn_params",),
        ),
        "seed-from-labcore": (
            "mnist_build_seed_cnn",
            "def build_seed_cnn():\n    return models.seed_cnn()\n",
            seed_cells,
        ),
        # "same" padding keeps 28×28 and 14×14 maps: the dense layer gets 49 × 16 inputs
        "seed-same-padding": (
            "mnist_build_seed_cnn",
            replace_once(
                replace_once(
                    seed,
                    'Conv2D(8, 3, activation="relu")',
                    'Conv2D(8, 3, padding="same", activation="relu")',
                ),
                'Conv2D(16, 3, activation="relu")',
                'Conv2D(16, 3, padding="same", activation="relu")',
            ),
            ("test_mnist_build_seed_cnn_settings", "test_mnist_build_seed_cnn_params"),
        ),
        # compiled without the accuracy metric
        "fit-without-accuracy": (
            "mnist_train_seed_cnn",
            replace_once(train, 'metrics=["accuracy"],', "metrics=[],"),
        ),
        "fit-without-scheduler": (
            "mnist_train_seed_cnn",
            replace_once(train, "keras.callbacks.LearningRateScheduler(schedule),", ""),
            ("test_mnist_train_seed_cnn_schedule",),
        ),
        "fit-without-checkpoint": (
            "mnist_train_seed_cnn",
            replace_once(
                train,
                'keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", '
                "save_best_only=True),",
                "",
            ),
            ("test_mnist_train_seed_cnn_checkpoint",),
        ),
        # the validation images counted as training images: 469 steps
        "steps-without-validation-split": (
            "mnist_counts",
            replace_once(counts, "math.ceil(60_000 * (1 - 0.2) / 128)", "math.ceil(60_000 / 128)"),
        ),
        # conv2's window counted over one channel, not over conv1's 32: conv layers and total
        "conv-without-input-channels": (
            "mnist_counts",
            replace_once(counts, "3 * 3 * 32 * 64 + 64,", "3 * 3 * 64 + 64,"),
            ("test_mnist_counts_deeper_conv", "test_mnist_counts_deeper"),
        ),
        # Flatten's size taken before conv3 (5 x 5, not 3 x 3): dense layers and total
        "dense-without-conv3-shrink": (
            "mnist_counts",
            replace_once(counts, "(3 * 3 * 64) * 64 + 64,", "(5 * 5 * 64) * 64 + 64,"),
            ("test_mnist_counts_deeper_dense", "test_mnist_counts_deeper"),
        ),
        # the output layer left out of the total
        "total-without-output-layer": (
            "mnist_counts",
            replace_once(
                counts,
                "sum(DEEPER_CONV_PARAMS) + sum(DEEPER_DENSE_PARAMS)",
                "sum(DEEPER_CONV_PARAMS) + DEEPER_DENSE_PARAMS[0]",
            ),
            ("test_mnist_counts_deeper",),
        ),
        "too-weak-model": (
            "mnist_build_my_cnn",
            TOO_WEAK_MODEL,
            ("test_mnist_build_my_cnn_accuracy",),
        ),
        "no-softmax": ("mnist_build_my_cnn", NO_SOFTMAX, MY_CNN_CELLS),
        "fast-cnn-submitted": ("mnist_build_my_cnn", FAST_CNN_SUBMITTED, MY_CNN_CELLS),
        # SGD without momentum
        "sgd-without-momentum": (
            "mnist_sgd_optimizer",
            replace_once(sgd, ", momentum=0.9)", ")"),
        ),
        "sgd-fixed-learning-rate": ("mnist_sgd_optimizer", SGD_FIXED_RATE),
    }


def right_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (answer cell, a correct answer written differently)."""
    return {
        "prepare-other-style": ("mnist_prepare_images", PREPARE_OTHER_STYLE),
        "seed-functional": ("mnist_build_seed_cnn", SEED_FUNCTIONAL),
        "seed-with-add": ("mnist_build_seed_cnn", SEED_WITH_ADD),
        "train-other-style": ("mnist_train_seed_cnn", TRAIN_OTHER_STYLE),
        "my-cnn-batch-norm-functional": ("mnist_build_my_cnn", BATCH_NORM_FUNCTIONAL),
        "counts-other-style": ("mnist_counts", COUNTS_OTHER_STYLE),
        "sgd-from-config": ("mnist_sgd_optimizer", SGD_FROM_CONFIG),
    }


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    min_secret_lines = 20
    wrong_answers = staticmethod(wrong_answers)
    right_answers = staticmethod(right_answers)

    def check_released_stubs(self, released):
        stubs = solution_stubs(released)
        assert "fast_cnn" not in stubs["mnist_build_my_cnn"]
        assert set(stubs) == {
            "mnist_prepare_images",
            "mnist_build_seed_cnn",
            "mnist_counts",
            "mnist_train_seed_cnn",
            "mnist_build_my_cnn",
            "mnist_sgd_optimizer",
        }
        assert "MY_BATCH_SIZE = 128" in stubs["mnist_build_my_cnn"]
        assert "def build_my_cnn(steps_per_epoch, epochs):" in stubs["mnist_build_my_cnn"]


def test_grade_profile_target_is_the_designed_model_threshold():
    # the text of exercise 3 names the grade target; keep it in step with labcore.profile
    grade = get_profile("grade")
    exercise = next(
        cell.source
        for cell in source_notebook(ASSIGNMENT).cells
        if cell.metadata["nbgrader"]["grade_id"] == "mnist_design_exercise"
    )
    assert f"**{grade.designed_cnn_min_accuracy * 100:.0f} %**" in exercise
    assert f"({grade.designed_cnn_min_accuracy * 100:.0f} %)" in exercise
    assert f"{grade.mnist_train_size:,} training images" in exercise
    assert f"{grade.mnist_test_size:,} test images" in exercise
    assert exercise.index("Graded criterion") < exercise.index("Ideas that work")
    assert f"`designed_cnn_epochs`, {get_profile('full').designed_cnn_epochs})" in exercise
    assert f"profile's {grade.designed_cnn_epochs} epochs" in exercise


def test_reference_design_clears_the_grade_bar_with_margin_over_three_seeds():
    """The reference answer to Exercise 5, trained as the graded run trains it, three seeds.

    The spread is printed (``pytest -s`` shows it); the worst seed must clear the grade
    profile's bar by at least one percentage point (20 of the 2,000 graded test images).
    """
    import math

    import keras
    import numpy as np

    from labcore import data, runtime, training

    grade = get_profile("grade")
    (x_all, y_all), (x_test_all, y_test_all) = data.load_mnist()
    x_raw, y_train = data.stratified_subset(x_all, y_all, grade.mnist_train_size, seed=42)
    x_test_raw, y_test = data.stratified_subset(
        x_test_all, y_test_all, grade.mnist_test_size, seed=42
    )
    x_train, x_test = data.prepare_images(x_raw), data.prepare_images(x_test_raw)
    namespace = {"keras": keras, "np": np}
    exec(reference_answer(ASSIGNMENT, "mnist_build_my_cnn"), namespace)
    steps_per_epoch = math.ceil(len(x_train) * 0.8 / namespace["MY_BATCH_SIZE"])
    accuracies = []
    for seed in (42, 1, 2):
        runtime.set_seed(seed)
        model = namespace["build_my_cnn"](steps_per_epoch, grade.designed_cnn_epochs)
        training.fit(
            model,
            x_train,
            y_train,
            validation_split=0.2,
            epochs=grade.designed_cnn_epochs,
            batch_size=namespace["MY_BATCH_SIZE"],
            seed=seed,
            verbose=0,
        )
        predictions = model.predict(x_test, verbose=0).argmax(axis=1)
        accuracies.append(float(np.mean(predictions == y_test)))
    print(
        f"reference design, grade profile, seeds 42/1/2: {[f'{a:.2%}' for a in accuracies]}, "
        f"bar {grade.designed_cnn_min_accuracy:.0%}"
    )
    assert min(accuracies) >= grade.designed_cnn_min_accuracy + 0.01
