"""Notebook 04 (hyperparameter tuning) under the real grader: release, reference, wrong answers.

One autograde run (grade profile, two submissions at a time) grades the whole class of this
module: the reference solution, the unanswered student version and one student per
plausible wrong answer. A wrong-answer student answers every other exercise correctly, so
losing the points of its own exercise and no others proves the exercises are isolated.
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_grading import (
    grade_submissions,
    lost_points,
    max_points,
    reference_answer,
    replace_once,
    solved_notebook,
    source_notebook,
    student_notebook,
    with_answer,
    written_answers,
)

from grading.regions import notebook_regions

pytestmark = pytest.mark.slow

ASSIGNMENT = "04_tuning"

#: The autograded test cells of notebook 04 and their points.
EXPECTED_POINTS = {
    "test_tuning_space": 3.0,
    "test_tuning_influence": 3.0,
    "test_tuning_best": 2.0,
    "test_tuning_curves": 2.0,
}
#: The written conclusion, graded by hand.
EXPECTED_WRITTEN = {"tuning_conclusion": 3.0}


def wrong_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (grade_id of the answer cell, a plausible wrong answer)."""

    def wrong(grade_id: str, old: str, new: str) -> tuple[str, str]:
        return grade_id, replace_once(reference_answer(ASSIGNMENT, grade_id), old, new)

    return {
        # "bigger learning rates train faster": outside the allowed range
        "learning-rate-too-large": wrong(
            "tuning_space", '"learning_rate": [3e-4, 3e-3]', '"learning_rate": [0.01, 0.1]'
        ),
        # the spread of each group's best trial instead of its mean
        "influence-by-best-trial": wrong(
            "tuning_influence", '["val_accuracy"].mean()', '["val_accuracy"].max()'
        ),
        # the best configuration chosen by its test accuracy
        "best-by-test-accuracy": wrong(
            "tuning_best", 'results["val_accuracy"]', 'results["test_accuracy"]'
        ),
        # the best epoch read from the training loss, which always falls
        "best-epoch-by-training-loss": wrong(
            "tuning_curves", 'history["val_loss"].idxmin()', 'history["loss"].idxmin()'
        ),
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return tmp_path_factory.mktemp("nb04-build")


@pytest.fixture(scope="module")
def released(build):
    return student_notebook(ASSIGNMENT, build)


@pytest.fixture(scope="module")
def graded(build, released):
    submissions = {"reference": source_notebook(ASSIGNMENT), "blank": released}
    solved = solved_notebook(ASSIGNMENT, build)
    for student, (grade_id, code) in wrong_answers().items():
        submissions[student] = with_answer(solved, grade_id, code)
    return grade_submissions(ASSIGNMENT, submissions, build, profile="grade", jobs=2)


def test_points_and_written_answer_match_the_header():
    source = source_notebook(ASSIGNMENT)
    assert max_points(ASSIGNMENT) == EXPECTED_POINTS
    assert written_answers(source) == EXPECTED_WRITTEN
    auto, written = sum(EXPECTED_POINTS.values()), sum(EXPECTED_WRITTEN.values())
    header = source.cells[0].source
    assert f"({auto + written:.0f} in total: {auto:.0f} graded automatically, " in header
    assert f"{written:.0f} graded by hand" in header
    answer = next(
        cell for cell in source.cells if cell.metadata["nbgrader"]["grade_id"] in EXPECTED_WRITTEN
    )
    meta = answer.metadata["nbgrader"]
    assert answer.cell_type == "markdown"
    assert meta["solution"] is True and meta["grade"] is True and meta["locked"] is False
    assert "### BEGIN SOLUTION" in answer.source


def test_every_autograded_exercise_has_a_wrong_answer():
    tested = {f"test_{grade_id}" for grade_id, _ in wrong_answers().values()}
    assert tested == set(EXPECTED_POINTS)


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


def test_release_has_no_solution_code_and_no_hidden_tests(released):
    source = source_notebook(ASSIGNMENT)
    released_text = nbformat.writes(released)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released_text
    secret = {
        line.text
        for cell in notebook_regions(source)
        for line in cell.secret
        if len(line.text) > 12 and not line.text.startswith(("#", "def ", '"""'))
    }
    assert len(secret) > 40  # four solutions, a written answer and the hidden tests
    released_lines = {line.strip() for line in released_text.replace("\\n", "\n").split("\n")}
    assert not sorted(line for line in secret if line in released_lines)
    by_id = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in released.cells}
    stubs = "\n".join(
        cell.source
        for cell in released.cells
        if cell.metadata["nbgrader"].get("solution") and cell.cell_type == "code"
    )
    assert stubs.count("raise NotImplementedError()") == 4
    for signature in (
        "def make_search_space():",
        "def most_influential(results, hyperparameters):",
        "def best_trial_number(results):",
        "def read_learning_curves(history):",
    ):
        assert signature in stubs
    assert "YOUR ANSWER HERE" in by_id["tuning_conclusion"].source


def test_reference_solution_scores_full_marks(graded):
    assert graded["reference"] == EXPECTED_POINTS


def test_blank_student_version_scores_zero_without_crashing(graded):
    assert graded["blank"] == dict.fromkeys(EXPECTED_POINTS, 0.0)


@pytest.mark.parametrize("student", list(wrong_answers()))
def test_each_wrong_answer_loses_only_its_own_points(graded, student):
    grade_id = wrong_answers()[student][0]
    assert lost_points(graded[student], ASSIGNMENT) == {
        f"test_{grade_id}": EXPECTED_POINTS[f"test_{grade_id}"]
    }
