"""Notebook 04 (hyperparameter tuning) under the real grader: release, reference, wrong answers.

One autograde run (grade profile, two submissions at a time) grades the whole class of this
module: the reference solution, the unanswered student version and one student per
plausible wrong answer. A wrong-answer student answers every other exercise correctly, so
losing the points of its own exercise and no others proves the exercises are isolated.
"""

from __future__ import annotations

import pytest
from notebook_grading import (
    AssignmentGradingTests,
    edited_answer,
    solution_stubs,
    source_notebook,
)

pytestmark = pytest.mark.slow

ASSIGNMENT = "04_tuning"

#: The autograded test cells of notebook 04 and their points.
EXPECTED_POINTS = {
    "test_tuning_space": 1.0,
    "test_tuning_space_ranges": 1.0,
    "test_tuning_space_grid": 1.0,
    "test_tuning_influence": 3.0,
    "test_tuning_best": 2.0,
    "test_tuning_curves": 2.0,
}
#: The written conclusion, graded by hand.
EXPECTED_WRITTEN = {"tuning_conclusion": 3.0}


#: Correct: a helper named like labcore's function, a NumPy integer returned.
BEST_TRIAL_OTHER_STYLE = """
def find_best_trial(table):
    # like labcore's tuning.best_trial(results), but written here
    return table.loc[table["val_accuracy"].idxmax(), "trial"]


def best_trial_number(results):
    return find_best_trial(results.reset_index(drop=True))
"""

#: Calls labcore's version: no work of its own.
BEST_TRIAL_VIA_LABCORE = """
def best_trial_number(results):
    return int(tuning.best_trial(results)["trial"])
"""


def wrong_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (grade_id of the answer cell, a plausible wrong answer)."""
    return {
        # "bigger learning rates train faster": outside the allowed range
        "learning-rate-too-large": (
            *edited_answer(
                ASSIGNMENT,
                "tuning_space",
                '"learning_rate": [3e-4, 3e-3]',
                '"learning_rate": [0.01, 0.1]',
            ),
            ("test_tuning_space_ranges",),
        ),
        # one hyperparameter forgotten
        "space-without-batch-size": edited_answer(
            ASSIGNMENT, "tuning_space", '"batch_size": [64, 128],', ""
        ),
        # an even kernel has no centre pixel
        "even-kernel-size": (
            *edited_answer(
                ASSIGNMENT, "tuning_space", '"kernel_size": [3, 5]', '"kernel_size": [3, 4]'
            ),
            ("test_tuning_space_grid",),
        ),
        # the spread of each group's best trial instead of its mean
        "influence-by-best-trial": edited_answer(
            ASSIGNMENT, "tuning_influence", '["val_accuracy"].mean()', '["val_accuracy"].max()'
        ),
        # the best configuration chosen by its test accuracy
        "best-by-test-accuracy": edited_answer(
            ASSIGNMENT, "tuning_best", 'results["val_accuracy"]', 'results["test_accuracy"]'
        ),
        "best-via-labcore": ("tuning_best", BEST_TRIAL_VIA_LABCORE),
        # the best epoch read from the training loss, which always falls
        "best-epoch-by-training-loss": edited_answer(
            ASSIGNMENT, "tuning_curves", 'history["val_loss"].idxmin()', 'history["loss"].idxmin()'
        ),
    }


def right_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (answer cell, a correct answer written differently)."""
    return {"best-trial-other-style": ("tuning_best", BEST_TRIAL_OTHER_STYLE)}


class TestGrading(AssignmentGradingTests):
    assignment = ASSIGNMENT
    expected_points = EXPECTED_POINTS
    expected_written = EXPECTED_WRITTEN
    wrong_answers = staticmethod(wrong_answers)
    right_answers = staticmethod(right_answers)

    def check_released_stubs(self, released):
        stubs = "\n".join(solution_stubs(released).values())
        assert stubs.count("raise NotImplementedError()") == 4
        for signature in (
            "def make_search_space():",
            "def most_influential(results, hyperparameters):",
            "def best_trial_number(results):",
            "def read_learning_curves(history):",
        ):
            assert signature in stubs


def test_results_file_defaults_to_a_build_folder_not_the_notebook_folder():
    # committed notebook folders must stay clean: the search writes under build/
    search = next(
        cell.source
        for cell in source_notebook(ASSIGNMENT).cells
        if cell.metadata["nbgrader"]["grade_id"] == "tuning_search"
    )
    assert 'runtime.work_dir("tuning")' in search and "results_path=results_path" in search
    parameters = source_notebook(ASSIGNMENT).cells[1]
    assert parameters.metadata["tags"] == ["parameters"]
    assert "RESULTS_PATH = None" in parameters.source
