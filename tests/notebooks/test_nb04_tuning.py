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
    "test_tuning_influence": 1.0,
    "test_tuning_influence_columns": 1.0,
    "test_tuning_influence_tie": 1.0,
    "test_tuning_best": 1.0,
    "test_tuning_best_order": 1.0,
    "test_tuning_curves": 1.0,
    "test_tuning_curves_overfitting": 1.0,
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


#: Correct, written differently: group means with agg, spreads in a Series (its idxmax keeps
#: the first of equal values, in the order the names were given).
INFLUENCE_OTHER_STYLE = """
def most_influential(results, hyperparameters):
    spreads = pd.Series(
        {
            name: np.ptp(results.groupby(name).agg(mean=("val_accuracy", "mean"))["mean"])
            for name in hyperparameters
        }
    )
    return spreads.idxmax()
"""

#: Correct, written differently: NumPy arrays, NumPy integer and boolean returned.
CURVES_WITH_NUMPY = """
def read_learning_curves(history):
    val_loss = history["val_loss"].to_numpy()
    loss = history["loss"].to_numpy()
    best = np.argmin(val_loss)
    overfitting = (val_loss[-1] > val_loss[best]) & (loss[-1] < loss[best])
    return history["epoch"].to_numpy()[best], overfitting
"""

#: Only the names asked for may compete; this loops over every column of the table.
INFLUENCE_OVER_ALL_COLUMNS = """
def most_influential(results, hyperparameters):
    spreads = {}
    for name in results.columns:
        if name != "val_accuracy":
            group_means = results.groupby(name)["val_accuracy"].mean()
            spreads[name] = group_means.max() - group_means.min()
    return max(spreads, key=spreads.get)
"""

#: The trial numbered by the row's position, counting from 1.
BEST_BY_POSITION = """
def best_trial_number(results):
    return int(np.argmax(results["val_accuracy"].to_numpy())) + 1
"""


def wrong_answers() -> dict[str, tuple]:
    """Student id -> (answer cell, a plausible wrong answer[, the test cells it loses])."""
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
        "influence-over-all-columns": (
            "tuning_influence",
            INFLUENCE_OVER_ALL_COLUMNS,
            ("test_tuning_influence_columns",),
        ),
        # ">=": a tie goes to the name given last
        "influence-tie-to-the-last": (
            *edited_answer(
                ASSIGNMENT,
                "tuning_influence",
                "return max(hyperparameters, key=lambda name: spreads[name])",
                "return max(reversed(hyperparameters), key=lambda name: spreads[name])",
            ),
            ("test_tuning_influence_tie",),
        ),
        # the best configuration chosen by its test accuracy
        "best-by-test-accuracy": edited_answer(
            ASSIGNMENT, "tuning_best", 'results["val_accuracy"]', 'results["test_accuracy"]'
        ),
        "best-via-labcore": (
            "tuning_best",
            BEST_TRIAL_VIA_LABCORE,
            ("test_tuning_best", "test_tuning_best_order"),
        ),
        "best-by-row-position": ("tuning_best", BEST_BY_POSITION, ("test_tuning_best_order",)),
        # the best epoch read from the training loss, which always falls: both answers wrong
        "best-epoch-by-training-loss": (
            *edited_answer(
                ASSIGNMENT,
                "tuning_curves",
                'history["val_loss"].idxmin()',
                'history["loss"].idxmin()',
            ),
            ("test_tuning_curves", "test_tuning_curves_overfitting"),
        ),
        # the index label of the best row instead of its epoch
        "best-epoch-as-index-label": edited_answer(
            ASSIGNMENT, "tuning_curves", 'int(best_row["epoch"])', "int(best_row.name)"
        ),
        # a rising validation loss alone taken for over-fitting
        "overfitting-without-training-loss": (
            *edited_answer(
                ASSIGNMENT,
                "tuning_curves",
                ' and last_row["loss"] < best_row["loss"]',
                "",
            ),
            ("test_tuning_curves_overfitting",),
        ),
    }


def right_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (answer cell, a correct answer written differently)."""
    return {
        "best-trial-other-style": ("tuning_best", BEST_TRIAL_OTHER_STYLE),
        "influence-other-style": ("tuning_influence", INFLUENCE_OTHER_STYLE),
        "curves-with-numpy": ("tuning_curves", CURVES_WITH_NUMPY),
    }


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
    parameters = next(
        c for c in source_notebook(ASSIGNMENT).cells if "parameters" in c.metadata.get("tags", [])
    )
    assert parameters.metadata["tags"] == ["parameters"]
    assert "RESULTS_PATH = None" in parameters.source
