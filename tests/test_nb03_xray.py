"""Notebook 03 (chest X-rays) under the real grader: release, reference, blank, wrong answers.

One autograde run (grade profile, two submissions at a time) grades the whole class of this
module: the reference solution, the unanswered student version and one student per
plausible wrong answer. A wrong-answer student answers every other exercise correctly, so
losing the points of its own exercise and no others proves the exercises are isolated.
A last test runs the notebook, unchanged, on another two-class image folder.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from notebook_grading import (
    grade_submissions,
    lost_points,
    max_points,
    reference_answer,
    replace_once,
    solved_notebook,
    source_notebook,
    source_path,
    student_notebook,
    with_answer,
    written_answers,
)
from PIL import Image

from grading.execute import run_notebooks
from grading.regions import notebook_regions

pytestmark = pytest.mark.slow

ASSIGNMENT = "03_xray"

#: The autograded test cells of notebook 03 and their points.
EXPECTED_POINTS = {
    "test_xray_class_weights": 2.0,
    "test_xray_augmentation": 3.0,
    "test_xray_binary_output": 3.0,
    "test_xray_sens_spec": 2.0,
    "test_xray_threshold": 3.0,
}
#: The written answer, graded by hand.
EXPECTED_WRITTEN = {"xray_screening_answer": 2.0}


def wrong_answers() -> dict[str, tuple[str, str]]:
    """Student id -> (grade_id of the answer cell, a plausible wrong answer)."""

    def wrong(grade_id: str, old: str, new: str) -> tuple[str, str]:
        return grade_id, replace_once(reference_answer(ASSIGNMENT, grade_id), old, new)

    return {
        # count / mean count instead of mean count / count: the common class weighs most
        "class-weights-inverted": wrong(
            "xray_class_weights",
            "total / (len(counts) * count)",
            "len(counts) * count / total",
        ),
        # "more data" by flipping X-rays upside down
        "vertical-flip": wrong(
            "xray_augmentation",
            "keras.layers.RandomZoom(0.1,",
            'keras.layers.RandomFlip("vertical", seed=seed),\n'
            "            keras.layers.RandomZoom(0.1,",
        ),
        # softmax over a single unit: always 1.0
        "softmax-on-binary-output": wrong(
            "xray_binary_output", 'activation="sigmoid"', 'activation="softmax"'
        ),
        # rows and columns mixed up: precision instead of sensitivity
        "confusion-transposed": wrong(
            "xray_sens_spec",
            "(tn, fp), (fn, tp) = np.asarray(confusion)",
            "(tn, fn), (fp, tp) = np.asarray(confusion)",
        ),
        # the threshold tuned where it looks best: on the test split
        "threshold-on-test": wrong(
            "xray_threshold", 'scores_by_split["validation"]', 'scores_by_split["test"]'
        ),
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return tmp_path_factory.mktemp("nb03-build")


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
    assert "### BEGIN SOLUTION" in answer.source and "false negative" in answer.source


def test_every_autograded_exercise_has_a_wrong_answer():
    tested = {f"test_{grade_id}" for grade_id, _ in wrong_answers().values()}
    assert tested == set(EXPECTED_POINTS)


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
    assert len(secret) > 40  # five solutions, a written answer and the hidden tests
    released_lines = {line.strip() for line in released_text.replace("\\n", "\n").split("\n")}
    assert not sorted(line for line in secret if line in released_lines)
    by_id = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in released.cells}
    stubs = "\n".join(
        cell.source
        for cell in released.cells
        if cell.metadata["nbgrader"].get("solution") and cell.cell_type == "code"
    )
    assert stubs.count("raise NotImplementedError()") == 6  # binary_output holds two functions
    for signature in (
        "def class_weights_from_counts(counts):",
        "def build_augmentation(seed=42):",
        "def binary_output_layer():",
        "def binary_loss():",
        "def sensitivity_specificity(confusion):",
        "def threshold_for_screening(scores_by_split, min_sensitivity=0.95):",
    ):
        assert signature in stubs
    assert "YOUR ANSWER HERE" in by_id["xray_screening_answer"].source
    assert "false negative" not in by_id["xray_screening_answer"].source.lower()


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


def _write_image_folder(root, class_names, sizes, seed=0):
    """A train/val/test folder of small RGB PNGs of different sizes; class 1 is brighter."""
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", 24), ("val", 8), ("test", 8)):
        for label, name in enumerate(class_names):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                height, width = sizes[index % len(sizes)]
                pixels = rng.integers(0, 120, size=(height, width, 3)) + 100 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{index}.png")


def test_notebook_runs_unchanged_on_another_two_class_folder(tmp_path):
    folder = tmp_path / "cats_and_dogs"
    _write_image_folder(folder, ["cat", "dog"], sizes=[(40, 52), (61, 47), (36, 36)])
    summary = run_notebooks(
        [source_path(ASSIGNMENT)],
        profile="smoke",
        parameters={"DATA_DIR": str(folder), "IMAGE_SIZE": 32, "TRAIN_SIZE": 400},
        timeout=300,
        output_dir=tmp_path / "executed",
        env={"CNNLAB_BUILD_DIR": str(tmp_path / "build")},
        progress=False,
    )
    (result,) = summary.results
    assert result.status == "ok", f"{result.message}\n{result.error}"
    for name in ("xray_test_sensitivity", "xray_test_specificity", "xray_test_auc"):
        assert 0.0 <= result.metrics[name] <= 1.0
    executed = nbformat.read(result.executed, as_version=4)
    outputs = "\n".join(
        output.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "classes (label 0, label 1): ['cat', 'dog']" in outputs
    assert "image size: (32, 32)" in outputs
    assert (tmp_path / "build" / "checkpoints" / "xray_cnn.keras").is_file()
    assert not (source_path(ASSIGNMENT).parent / "build").exists()
