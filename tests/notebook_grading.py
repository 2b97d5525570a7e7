"""Grade the course notebooks with the real grader: a harness for the notebook tests.

The notebook tests (``tests/notebooks/test_nb0*_*.py``) prove four things about every course
notebook, each with real nbgrader and real kernels:

1. the release (:func:`grading.release.release_assignments`, nbgrader's
   ``generate_assignment`` plus the leak scan) gives a student version without solution code
   or hidden tests;
2. the source notebook (the reference solution) scores full marks on every autograded cell;
3. the unchanged student version scores 0 on every autograded cell and does not crash the
   grader;
4. a plausible wrong answer to one exercise loses that exercise's points and no others, and
   a right answer written differently loses nothing.

This module holds what those tests share. A test module typically looks like this::

    from notebook_grading import (
        grade_submissions, max_points, source_notebook, student_notebook, with_answer,
    )

    ASSIGNMENT = "02_mnist"

    @pytest.fixture(scope="module")
    def graded(tmp_path_factory):
        build = tmp_path_factory.mktemp("build")
        submissions = {
            "reference": source_notebook(ASSIGNMENT),
            "blank": student_notebook(ASSIGNMENT, build),
            "no-normalisation": with_answer(
                solved_notebook(ASSIGNMENT, build), "mnist_prepare_images", WRONG_CODE
            ),
        }
        return grade_submissions(ASSIGNMENT, submissions, build)

    def test_reference_scores_full_marks(graded):
        assert graded["reference"] == max_points(ASSIGNMENT)

Grade all submissions of one notebook in ONE :func:`grade_submissions` call: the grader
then prepares the assignment once and grades the submissions ``jobs`` at a time.

API (kept stable; other test modules rely on it)
-----------------------------------------------
:func:`source_notebook` ``(assignment) -> NotebookNode``
    The instructor (source) notebook of an assignment, solutions included.
:func:`student_notebook` ``(assignment, build) -> NotebookNode``
    The released student version, made by the course's release step into ``build``.
:func:`solved_notebook` ``(assignment, build) -> NotebookNode``
    The student version with every answer cell holding the reference answer: a correct
    student. Start wrong answers from it, so that only one exercise is wrong.
:func:`with_answer` ``(notebook, grade_id, code) -> NotebookNode``
    A copy of a notebook with one solution cell's code replaced.
:func:`solution_code` ``(notebook, grade_id) -> str``
    The code of one cell, by ``grade_id``.
:func:`reference_answer` ``(assignment, grade_id) -> str``
    The reference solution of one answer cell, without the ``### BEGIN/END SOLUTION`` lines:
    the starting point for a plausible wrong answer.
:func:`replace_once` ``(code, old, new) -> str``
    ``code`` with ``old`` replaced by ``new``; fails unless ``old`` occurs exactly once (so a
    wrong answer derived from the reference cannot silently stay right).
:func:`grade_submissions` ``(assignment, submissions, build, profile="grade", jobs=2)``
    ``-> dict[str, dict[str, float]]``: student -> ``{grade_id: score}`` for every
    autograded test cell, from ``grading.autograde.run.autograde`` (the project's parallel,
    sandboxed autograder) and the gradebook (``grading.base.gradebook.cell_scores``).
:func:`grade_class` ``(assignment, build, wrong_answers, right_answers=None, profile="grade",``
``jobs=2) -> GradedClass``
    The usual class in one grading run: ``"reference"`` (the source notebook), ``"blank"``
    (the unanswered student version) and the answers (answer id -> ``(grade_id, code)``, or
    ``(grade_id, code, lost_cells)`` when the answer should lose other test cells than
    ``test_<grade_id>``: exercises with partial credit have one test cell per point), put
    into :func:`solved_notebook` copies. Answers to different exercises share a notebook
    (:func:`pack_answers`: the k-th answer to every exercise in ``wrong-<k>``, right answers
    apart in ``right-<k>``); :class:`GradedClass` says which notebook carried each answer.
:func:`max_points` ``(assignment) -> dict[str, float]``
    ``{grade_id: points}`` of every autograded test cell of the source notebook.
:func:`lost_points` ``(scores, assignment) -> dict[str, float]``
    The cells where a student scored less than the maximum, with the points lost.

:class:`AssignmentGradingTests`
    The four tests every notebook module runs, as a base class: a module subclasses it as
    ``class TestGrading(AssignmentGradingTests)``, sets ``assignment``, ``expected_points``
    (and ``expected_written``, ``min_secret_lines``), gives ``wrong_answers`` (and
    ``right_answers``: correct answers written differently, which must score full marks) and
    overrides :meth:`~AssignmentGradingTests.check_released_stubs`.

Each assignment must hold exactly one notebook (the course's four do). Everything generated
goes into the ``build`` folder the caller gives (a temporary folder), never into the
checkout's ``build/``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import nbformat
import pytest

from grading.base.regions import notebook_regions
from grading.paths import BUILD_ENV, CoursePaths

__all__ = [
    "COURSE_ROOT",
    "AssignmentGradingTests",
    "GradedClass",
    "GradingFailure",
    "autograded_cells",
    "course",
    "edited_answer",
    "expected_losses",
    "grade_class",
    "grade_submissions",
    "leaked_lines",
    "lost_points",
    "max_points",
    "pack_answers",
    "reference_answer",
    "replace_once",
    "secret_lines",
    "solution_code",
    "solution_stubs",
    "solved_notebook",
    "source_notebook",
    "source_path",
    "student_notebook",
    "with_answer",
    "written_answers",
]

#: The checkout whose ``notebooks/`` are graded.
COURSE_ROOT = Path(__file__).resolve().parent.parent
#: Submission statuses of a notebook that graded normally (see ``grading.autograde.task``).
GRADED_NORMALLY = ("ok",)


class GradingFailure(AssertionError):
    """The grader did not grade a submission normally (error, crash, timeout, memory...)."""


def course(build: Path) -> CoursePaths:
    """The course's folders with everything generated in ``build``.

    Parameters
    ----------
    build : pathlib.Path
        A (temporary) build folder; created if missing.

    Returns
    -------
    grading.paths.CoursePaths
        Root: the checkout; build: ``build``.
    """
    build = Path(build).resolve()
    build.mkdir(parents=True, exist_ok=True)
    return CoursePaths(root=COURSE_ROOT, build=build)


def _gradebook_url(build: Path) -> str:
    return f"sqlite:///{Path(build).resolve() / 'gradebook.db'}"


@contextmanager
def _build_environment(build: Path) -> Iterator[None]:
    """Set ``CNNLAB_BUILD_DIR`` to ``build`` while the grading code runs."""
    saved = os.environ.get(BUILD_ENV)
    os.environ[BUILD_ENV] = str(Path(build).resolve())
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(BUILD_ENV, None)
        else:
            os.environ[BUILD_ENV] = saved


def source_path(assignment: str) -> Path:
    """The one source notebook of an assignment.

    Parameters
    ----------
    assignment : str
        Folder name under ``notebooks/``, e.g. ``"02_mnist"``.

    Returns
    -------
    pathlib.Path
        ``notebooks/<assignment>/<notebook>.ipynb``.

    Raises
    ------
    ValueError
        If the assignment has no notebook or more than one.
    """
    found = CoursePaths(root=COURSE_ROOT, build=COURSE_ROOT / "build").source_notebooks(assignment)
    if len(found) != 1:
        raise ValueError(
            f"notebook_grading expects exactly one notebook in notebooks/{assignment}/, "
            f"found {[path.name for path in found]}"
        )
    return found[0]


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    """The instructor (source) version of an assignment's notebook, solutions included.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.

    Returns
    -------
    nbformat.NotebookNode
        A fresh copy read from ``notebooks/<assignment>/``.
    """
    return nbformat.read(source_path(assignment), as_version=4)


def student_notebook(assignment: str, build: Path) -> nbformat.NotebookNode:
    """The student version of an assignment's notebook, as the course releases it.

    Runs :func:`grading.release.release_assignments` (nbgrader ``generate_assignment`` and
    the leak scan) with ``build`` as the build folder, once per build folder and assignment.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.
    build : pathlib.Path
        A temporary build folder; the release goes to ``build/release/<assignment>/``.

    Returns
    -------
    nbformat.NotebookNode
        A fresh copy of the released notebook.

    Raises
    ------
    grading.release.ReleaseLeakError
        If the release leaks a solution or a hidden test.
    """
    from grading.release import release_assignments

    paths = course(build)
    released = paths.release / assignment / source_path(assignment).name
    if not released.is_file():
        with _build_environment(paths.build):
            release_assignments(paths, [assignment], db_url=_gradebook_url(paths.build))
    return nbformat.read(released, as_version=4)


def _nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _cell(notebook: nbformat.NotebookNode, grade_id: str):
    matches = [cell for cell in notebook.cells if _nbgrader_meta(cell).get("grade_id") == grade_id]
    if len(matches) != 1:
        known = [
            _nbgrader_meta(cell)["grade_id"]
            for cell in notebook.cells
            if _nbgrader_meta(cell).get("grade_id")
        ]
        raise KeyError(
            f"{len(matches)} cells have grade_id {grade_id!r} (need exactly one); "
            f"the notebook's grade_ids: {known}"
        )
    return matches[0]


def solution_code(notebook: nbformat.NotebookNode, grade_id: str) -> str:
    """The source code of one cell, found by its nbgrader ``grade_id``.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        A source or student notebook.
    grade_id : str
        The cell's ``grade_id``.

    Returns
    -------
    str
        The cell's source.

    Raises
    ------
    KeyError
        If no cell, or more than one, has that ``grade_id``.
    """
    return _cell(notebook, grade_id).source


def reference_answer(assignment: str, grade_id: str) -> str:
    """The reference solution of one answer cell, as a student would write it.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.
    grade_id : str
        ``grade_id`` of a solution cell of the source notebook.

    Returns
    -------
    str
        The cell's source without the ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines.
    """
    code = solution_code(source_notebook(assignment), grade_id)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in code.split("\n") if line.strip() not in markers)


def replace_once(code: str, old: str, new: str) -> str:
    """Replace a piece of code that must occur exactly once.

    Parameters
    ----------
    code : str
        E.g. from :func:`reference_answer`.
    old, new : str
        The text to replace and its replacement.

    Returns
    -------
    str
        The changed code.

    Raises
    ------
    ValueError
        If ``old`` occurs zero or several times (the reference changed: update the test).
    """
    count = code.count(old)
    if count != 1:
        raise ValueError(f"{old!r} occurs {count} times in the code (need exactly once):\n{code}")
    return code.replace(old, new)


def edited_answer(assignment: str, grade_id: str, old: str, new: str) -> tuple[str, str]:
    """A wrong answer made from the reference by one edit, as ``wrong_answers`` lists it.

    Parameters
    ----------
    assignment : str
        E.g. ``"03_xray"``.
    grade_id : str
        The answer cell.
    old, new : str
        The text of :func:`reference_answer` to replace (exactly once) and its replacement.

    Returns
    -------
    tuple of str
        ``(grade_id, code)``.
    """
    return grade_id, replace_once(reference_answer(assignment, grade_id), old, new)


def with_answer(notebook: nbformat.NotebookNode, grade_id: str, code: str) -> nbformat.NotebookNode:
    """A copy of a notebook with one solution cell's code replaced (a student's answer).

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        Usually the student version (:func:`student_notebook`) or another answered copy;
        it is not changed.
    grade_id : str
        ``grade_id`` of a solution cell (``"solution": true``).
    code : str
        The whole new source of that cell.

    Returns
    -------
    nbformat.NotebookNode
        The answered copy.

    Raises
    ------
    KeyError
        If no cell, or more than one, has that ``grade_id``.
    ValueError
        If the cell is not a solution cell (tests and given cells are restored by the
        grader, so answering them would prove nothing).
    """
    answered = copy.deepcopy(notebook)
    cell = _cell(answered, grade_id)
    if not _nbgrader_meta(cell).get("solution"):
        raise ValueError(f"cell {grade_id!r} is not a solution cell; students answer only those")
    cell.source = code
    return answered


def solved_notebook(assignment: str, build: Path) -> nbformat.NotebookNode:
    """The student version answered with the reference solutions: a correct student.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.
    build : pathlib.Path
        The build folder of the release (see :func:`student_notebook`).

    Returns
    -------
    nbformat.NotebookNode
        The released notebook with every solution cell replaced by
        :func:`reference_answer`; change one cell with :func:`with_answer` to make a
        student who got exactly one exercise wrong.
    """
    solved = student_notebook(assignment, build)
    for cell in solved.cells:
        meta = _nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = reference_answer(assignment, meta["grade_id"])
    return solved


def autograded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """The autograded test cells of a notebook and their points.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An nbgrader notebook.

    Returns
    -------
    dict
        ``grade_id -> points`` for every code cell with ``"grade": true`` and
        ``"solution": false`` (nbgrader's autograder tests), in notebook order.
    """
    return {
        meta["grade_id"]: float(meta.get("points", 0))
        for cell in notebook.cells
        if cell.cell_type == "code"
        and (meta := _nbgrader_meta(cell)).get("grade")
        and not meta.get("solution")
    }


def written_answers(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """The answer cells graded by hand (written answers) and their points.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An nbgrader notebook.

    Returns
    -------
    dict
        ``grade_id -> points`` for every cell with ``"grade": true`` and ``"solution": true``
        (nbgrader's manually graded answers), in notebook order.
    """
    return {
        meta["grade_id"]: float(meta.get("points", 0))
        for cell in notebook.cells
        if (meta := _nbgrader_meta(cell)).get("grade") and meta.get("solution")
    }


def max_points(assignment: str) -> dict[str, float]:
    """Points of every autograded test cell of an assignment's source notebook.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.

    Returns
    -------
    dict
        ``grade_id -> points``, in notebook order.
    """
    return autograded_cells(source_notebook(assignment))


def expected_losses(answer: tuple) -> tuple[str, ...]:
    """The test cells a ``wrong_answers`` entry should lose: its third item, or
    ``("test_<grade_id>",)``."""
    return tuple(answer[2]) if len(answer) > 2 else (f"test_{answer[0]}",)


def lost_points(scores: Mapping[str, float], assignment: str) -> dict[str, float]:
    """Where a student lost points, and how many.

    Parameters
    ----------
    scores : mapping
        One student's ``{grade_id: score}`` from :func:`grade_submissions`.
    assignment : str
        The assignment, for its maximum points.

    Returns
    -------
    dict
        ``grade_id -> points lost`` for the autograded cells scored below their maximum
        (a cell missing from ``scores`` counts as 0).
    """
    return {
        grade_id: points - float(scores.get(grade_id, 0.0))
        for grade_id, points in max_points(assignment).items()
        if float(scores.get(grade_id, 0.0)) < points
    }


def _write_submission(paths: CoursePaths, assignment: str, student: str, notebook) -> None:
    folder = paths.submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / source_path(assignment).name)
    moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    (folder / "timestamp.txt").write_text(moment + "\n", encoding="utf-8")


def grade_submissions(
    assignment: str,
    submissions: Mapping[str, nbformat.NotebookNode],
    build: Path,
    profile: str | None = "grade",
    jobs: int = 2,
) -> dict[str, dict[str, float]]:
    """Autograde several students' versions of one notebook with the course's grader.

    Each notebook is written to ``build/submitted/<student>/<assignment>/`` (nbgrader's
    layout, with ``timestamp.txt``); then ``grading.autograde.run.autograde`` grades them all in
    one run (``force=True``, ``jobs`` at a time, each in its sandbox with a fresh kernel,
    ``CNNLAB_BUILD_DIR=build``), and the scores are read from the run's gradebook
    (``build/gradebook.db``) with ``grading.base.gradebook.cell_scores``.

    Parameters
    ----------
    assignment : str
        E.g. ``"02_mnist"``.
    submissions : mapping
        Student id -> notebook (e.g. from :func:`source_notebook`, :func:`student_notebook`
        or :func:`with_answer`). Ids are folder names: letters, digits, ``-`` and ``_``.
    build : pathlib.Path
        A temporary build folder (the same one :func:`student_notebook` released into is
        fine). Earlier submissions of other students in it are graded too and returned.
    profile : str or None, default="grade"
        The labcore profile the kernels run in (graders use ``grade``); None lets nbgrader's
        ``NBGRADER_EXECUTION`` choose (which is also ``grade``).
    jobs : int, default=2
        Submissions graded at the same time.

    Returns
    -------
    dict
        Student -> ``{grade_id: score}`` for every autograded test cell of the notebook.

    Raises
    ------
    GradingFailure
        If a submission did not grade normally (status other than ``"ok"``: an error of the
        grader, a crash, a timeout, memory, tampering); the message lists the reasons.
    """
    from grading.autograde.run import autograde
    from grading.base.gradebook import cell_scores

    if not submissions:
        raise ValueError("grade_submissions needs at least one submission")
    paths = course(build)
    for student, notebook in submissions.items():
        _write_submission(paths, assignment, student, notebook)
    url = _gradebook_url(paths.build)
    with _build_environment(paths.build):
        summary = autograde(
            paths,
            [assignment],
            jobs=jobs,
            force=True,
            db_url=url,
            profile=profile,
            progress=False,
        )
    abnormal = [outcome for outcome in summary.graded if outcome.status not in GRADED_NORMALLY]
    if abnormal:
        lines = [
            f"  {outcome.student}: {outcome.status}: {'; '.join(outcome.reasons)}"
            for outcome in abnormal
        ]
        raise GradingFailure(
            f"the grader did not grade {len(abnormal)} submission(s) of {assignment} "
            "normally:\n" + "\n".join(lines)
        )
    expected = max_points(assignment)
    frame = cell_scores(url)
    frame = frame[frame["assignment"] == assignment]
    scores: dict[str, dict[str, float]] = {}
    for student, rows in frame.groupby("student"):
        graded = dict(zip(rows["grade_id"], rows["score"].fillna(0.0), strict=True))
        scores[str(student)] = {grade_id: float(graded.get(grade_id, 0.0)) for grade_id in expected}
    missing = sorted(set(submissions) - set(scores))
    if missing:
        raise GradingFailure(f"the gradebook has no grades for {missing} of {assignment}")
    return scores


def pack_answers(answers: Mapping[str, tuple], prefix: str) -> dict[str, list[str]]:
    """Share submissions between answers to different exercises.

    The k-th answer to every exercise goes into submission ``<prefix>-<k>``, so a class needs
    as many submissions as the exercise with the most answers has, not one per answer.

    Parameters
    ----------
    answers : mapping
        Answer id -> ``(grade_id, code[, lost_cells])``, in the order they were written.
    prefix : str
        The submissions' student ids start with it (``"wrong"``, ``"right"``).

    Returns
    -------
    dict
        Student id -> the answer ids its notebook carries (at most one per exercise).
    """
    taken: dict[str, int] = {}
    packed: dict[str, list[str]] = {}
    for answer_id, (grade_id, *_) in answers.items():
        taken[grade_id] = taken.get(grade_id, 0) + 1
        packed.setdefault(f"{prefix}-{taken[grade_id]}", []).append(answer_id)
    return packed


@dataclass(frozen=True)
class GradedClass:
    """The grades of one class run (:func:`grade_class`).

    Attributes
    ----------
    scores : dict
        Student id -> ``{grade_id: score}``: ``"reference"``, ``"blank"`` and the packed
        submissions (:func:`pack_answers`).
    carriers : dict
        Answer id -> the student id whose notebook carried that answer.
    """

    scores: dict[str, dict[str, float]]
    carriers: dict[str, str]

    def answers_with(self, answer_id: str) -> list[str]:
        """The answer ids graded in the same notebook as ``answer_id`` (itself included)."""
        student = self.carriers[answer_id]
        return [answer for answer, carrier in self.carriers.items() if carrier == student]

    def of(self, answer_id: str) -> dict[str, float]:
        """The scores of the notebook that carried ``answer_id``."""
        return self.scores[self.carriers[answer_id]]


def grade_class(
    assignment: str,
    build: Path,
    wrong_answers: Mapping[str, tuple],
    right_answers: Mapping[str, tuple] | None = None,
    profile: str | None = "grade",
    jobs: int = 2,
) -> GradedClass:
    """Grade the reference, the blank student version and the answers, in one run.

    Each packed submission (:func:`pack_answers`: wrong answers and right answers apart) is
    the :func:`solved_notebook` with its answers put in; every other answer is the
    reference's.

    Parameters
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.
    build : pathlib.Path
        A temporary build folder.
    wrong_answers : mapping
        Answer id -> ``(grade_id, code)`` or ``(grade_id, code, lost_cells)``: the answer
        cell and the code written in it.
    right_answers : mapping, optional
        Answer id -> ``(grade_id, code)``: correct answers written differently.
    profile : str or None, default="grade"
        As for :func:`grade_submissions`.
    jobs : int, default=2
        Submissions graded at the same time.

    Returns
    -------
    GradedClass
        The scores by student, and which student carried each answer.
    """
    answers = {**wrong_answers, **(right_answers or {})}
    if len(answers) != len(wrong_answers) + len(right_answers or {}):
        raise ValueError("an answer id is both a wrong and a right answer")
    submissions = {
        "reference": source_notebook(assignment),
        "blank": student_notebook(assignment, build),
    }
    solved = solved_notebook(assignment, build)
    carriers = {}
    for prefix, group in (("wrong", wrong_answers), ("right", right_answers or {})):
        for student, carried in pack_answers(group, prefix).items():
            notebook = solved
            for answer_id in carried:
                grade_id, code, *_ = answers[answer_id]
                notebook = with_answer(notebook, grade_id, code)
                carriers[answer_id] = student
            submissions[student] = notebook
    scores = grade_submissions(assignment, submissions, build, profile=profile, jobs=jobs)
    return GradedClass(scores=scores, carriers=carriers)


# --------------------------------------------------------------------------- shared tests

#: The markers nbgrader removes from a release; none may be left in a student version.
RELEASE_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def leaked_lines(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """The solution and hidden-test lines of ``source`` that stand in ``released``.

    Parameters
    ----------
    source : nbformat.NotebookNode
        The source notebook.
    released : nbformat.NotebookNode
        Its student version.

    Returns
    -------
    list of str
        The leaked lines, sorted; empty for a clean release.
    """
    released_text = nbformat.writes(released).replace("\\n", "\n")
    released_lines = {line.strip() for line in released_text.split("\n")}
    return sorted(line for line in secret_lines(source) if line in released_lines)


def secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """The distinctive lines of a source notebook's solutions and hidden tests.

    Short lines, comments, ``def`` lines and docstring quotes are left out: the student
    version keeps function signatures, and short lines (``return x``) occur anywhere.

    Parameters
    ----------
    source : nbformat.NotebookNode
        The source notebook.

    Returns
    -------
    set of str
        The stripped lines.
    """
    return {
        line.text
        for cell in notebook_regions(source)
        for line in cell.secret
        if len(line.text) > 12 and not line.text.startswith(("#", "def ", '"""'))
    }


def solution_stubs(released: nbformat.NotebookNode) -> dict[str, str]:
    """The code answer cells of a student version: ``{grade_id: source}``."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in released.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
    }


class AssignmentGradingTests:
    """The tests every course notebook passes under the real grader (one class per module).

    One autograde run (grade profile, two submissions at a time) grades the whole class of a
    module: the reference solution, the unanswered student version and the plausible wrong
    answers (:func:`grade_class`). Wrong answers to different exercises share a notebook
    whose other exercises are answered right: each answer must lose its own points, and the
    notebook exactly the points of its wrong answers, so a wrong answer that costs a right
    exercise anything fails the test. Sharing keeps the class small (as many notebooks as the
    exercise with the most wrong answers has); what it cannot show is a wrong answer's effect
    on an exercise that is wrong in the same notebook.

    Attributes
    ----------
    assignment : str
        E.g. ``"01_cnn_theory"``.
    expected_points : dict
        ``{test grade_id: points}`` of the autograded test cells.
    expected_written : dict
        ``{grade_id: points}`` of the answers graded by hand (default: none).
    min_secret_lines : int
        At least this many distinctive solution and hidden-test lines exist (so the leak
        check has something to look for).
    """

    assignment: ClassVar[str] = ""
    expected_points: ClassVar[dict[str, float]] = {}
    expected_written: ClassVar[dict[str, float]] = {}
    min_secret_lines: ClassVar[int] = 40

    @staticmethod
    def wrong_answers() -> dict[str, tuple]:
        """Student id -> ``(grade_id, code[, lost_cells])``: one plausible wrong answer per
        point, each losing exactly ``lost_cells`` (default ``("test_<grade_id>",)``)."""
        raise NotImplementedError

    @staticmethod
    def right_answers() -> dict[str, tuple[str, str]]:
        """Student id -> ``(grade_id, code)``: correct answers written differently from the
        reference (loops against vectorised code, functional against Sequential, ...)."""
        return {}

    def check_released_stubs(self, released: nbformat.NotebookNode) -> None:
        """Assertions on what the student version shows in place of the solutions."""
        raise NotImplementedError

    def pytest_generate_tests(self, metafunc):
        if "student" in metafunc.fixturenames:
            metafunc.parametrize("student", list(self.wrong_answers()))
        if "right_student" in metafunc.fixturenames:
            metafunc.parametrize("right_student", list(self.right_answers()) or [None])

    @pytest.fixture(scope="class")
    @classmethod
    def build(cls, tmp_path_factory):
        return tmp_path_factory.mktemp(f"{cls.assignment}-build")

    @pytest.fixture(scope="class")
    @classmethod
    def released(cls, build):
        return student_notebook(cls.assignment, build)

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, build, released):
        return grade_class(cls.assignment, build, cls.wrong_answers(), cls.right_answers(), jobs=2)

    def test_points_match_the_header(self):
        source = source_notebook(self.assignment)
        assert max_points(self.assignment) == self.expected_points
        assert written_answers(source) == self.expected_written
        auto, written = sum(self.expected_points.values()), sum(self.expected_written.values())
        promise = (
            f"({auto + written:.0f} in total: {auto:.0f} graded automatically, "
            f"{written:.0f} graded by hand)"
            if written
            else f"({auto:.0f} in total, graded automatically)"
        )
        assert promise in source.cells[1].source
        for cell in source.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") in self.expected_written:  # a written answer, by hand
                assert cell.cell_type == "markdown" and "### BEGIN SOLUTION" in cell.source
                assert meta["solution"] is True and meta["grade"] is True
                assert meta["locked"] is False

    def test_every_autograded_exercise_has_a_wrong_answer(self):
        tested = {
            cell for answer in self.wrong_answers().values() for cell in expected_losses(answer)
        }
        assert tested == set(self.expected_points)

    def test_release_has_no_solution_code_and_no_hidden_tests(self, released):
        source = source_notebook(self.assignment)
        released_text = nbformat.writes(released)
        assert [marker for marker in RELEASE_MARKERS if marker in released_text] == []
        assert len(secret_lines(source)) > self.min_secret_lines
        assert leaked_lines(source, released) == []
        stubs = solution_stubs(released)
        assert stubs and all("raise NotImplementedError()" in stub for stub in stubs.values())
        for cell in released.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") in self.expected_written:
                assert "YOUR ANSWER HERE" in cell.source
        self.check_released_stubs(released)

    def test_reference_solution_scores_full_marks(self, graded):
        assert graded.scores["reference"] == self.expected_points

    def test_blank_student_version_scores_zero_without_crashing(self, graded):
        assert graded.scores["blank"] == dict.fromkeys(self.expected_points, 0.0)

    def test_each_wrong_answer_loses_only_its_own_points(self, graded, student):
        wrong = self.wrong_answers()
        lost = lost_points(graded.of(student), self.assignment)
        own = expected_losses(wrong[student])
        assert {cell: lost.get(cell) for cell in own} == {
            cell: self.expected_points[cell] for cell in own
        }
        # the answers graded with it (other exercises) lose their own points, and no cell
        # of an exercise answered right in that notebook loses any
        together = graded.answers_with(student)
        assert lost == {
            cell: self.expected_points[cell]
            for answer in together
            for cell in expected_losses(wrong[answer])
        }, f"{graded.carriers[student]} carried {together}"

    def test_each_right_answer_scores_full_marks(self, graded, right_student):
        if right_student is None:
            pytest.skip("no differently written right answers for this notebook")
        assert lost_points(graded.of(right_student), self.assignment) == {}, (
            f"{graded.carriers[right_student]} carried {graded.answers_with(right_student)}"
        )
