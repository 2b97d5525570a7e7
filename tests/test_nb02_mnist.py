"""Notebook 02 (MNIST) under the real grader: release, reference, blank, wrong answers.

One autograde run (grade profile, two jobs) grades the reference solution, the unanswered
student version and one student per plausible wrong answer; each wrong answer must lose the
points of its own exercise and no others. The designed model is trained in the notebook
(grade profile: 12,000 training images, 2 epochs) and must reach the grade profile's
``designed_cnn_min_accuracy``.
"""

from __future__ import annotations

import nbformat
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

#: The autograded test cells of notebook 02 and their points (the header promises 10).
EXPECTED_POINTS = {
    "test_mnist_prepare_images": 2.0,
    "test_mnist_build_seed_cnn": 3.0,
    "test_mnist_build_my_cnn": 5.0,
}

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


def wrong_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (grade_id of the answer cell, a plausible wrong answer)."""
    seed = reference_answer(ASSIGNMENT, "mnist_build_seed_cnn")
    return {
        "forgot-to-scale": ("mnist_prepare_images", FORGOT_TO_SCALE),
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
        ),
        "too-weak-model": ("mnist_build_my_cnn", TOO_WEAK_MODEL),
        "no-softmax": ("mnist_build_my_cnn", NO_SOFTMAX),
    }


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    min_secret_lines = 20
    wrong_answers = staticmethod(wrong_answers)

    def check_released_stubs(self, released):
        released_text = nbformat.writes(released)
        assert "models.fast_cnn()" not in released_text.replace("`models.fast_cnn()`", "")
        stubs = solution_stubs(released)
        assert set(stubs) == {"mnist_prepare_images", "mnist_build_seed_cnn", "mnist_build_my_cnn"}
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
    assert f"({grade.designed_cnn_min_accuracy * 100:.0f} %)" in exercise
    assert f"`designed_cnn_epochs`, {get_profile('full').designed_cnn_epochs})" in exercise
    assert f"profile's {grade.designed_cnn_epochs} epochs" in exercise
