"""A synthetic class for an assignment: who submits what, and what each should score.

:func:`make_class` turns an assignment's source notebooks into submissions in nbgrader's
layout (``<student>/<assignment>/<notebook>.ipynb`` plus ``timestamp.txt``, by default in
``build/submitted/``), one student per kind of submission (:data:`KINDS`), and returns the
score every cell should get. The tests grade such a class and compare; ``cnnlab course`` and
the benchmark use it as a class to grade.

Kinds
-----
``correct``
    The student version with every solution filled in from the source (what a perfect
    student hands in).
``blank``
    The student version as released.
``partly_wrong``
    Correct, except the last two code exercises: one answered with wrong code (its solution
    region replaced by ``pass``), the last left as the stub.
``infinite_loop``, ``unstoppable_loop``, ``memory_hog``, ``kernel_exit``, ``exit_call``,
``segfault``
    Correct, but the last code exercise starts with an endless loop, an endless loop that
    ignores the interrupt, an endless allocation, ``os._exit(1)``, ``exit()``, or a segfault
    (through ``ctypes``).
``deleted_tests``, ``edited_tests``, ``duplicated_tests``, ``changed_points``
    The test cells of the failing exercises deleted (from a correct submission), or, from
    ``partly_wrong``: edited to pass (and the ``parameters`` cell edited to pick the
    ``smoke`` profile), duplicated, or their points multiplied by 10.
``tamper_custom_exc``, ``tamper_hidden``, ``tamper_env``
    The last exercise left as the stub, with code that would make its failing tests pass:
    ``get_ipython().set_custom_exc`` (found by the static scan), an AST transformer
    registered through ``getattr`` with computed names (missed by the scan, caught by the
    run-time integrity probe), or a correct answer that sets ``LABCORE_PROFILE`` (scan).
``invalid_json``, ``not_a_notebook``
    A file that is not JSON, and JSON that is not a notebook.

Expected scores follow from where a submission breaks, assuming the course's rule that an
exercise's tests come after its solution cell and fail without a working solution: every
test cell before the first broken solution cell scores its points, every test cell after it
0; an invalid file scores 0; repairs of tests and points change nothing. Written answers
(manually graded cells) count 0 until an instructor grades them.
"""

from __future__ import annotations

import copy
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.autograde.cells import grade_id, is_solution_cell, is_test_cell
from grading.base.regions import DELIMITERS, SOLUTION
from grading.paths import CoursePaths

__all__ = [
    "EXPECTED_STATUS",
    "KINDS",
    "DemoClass",
    "DemoSubmission",
    "make_class",
    "solution_source",
    "wrong_source",
]

KINDS = (
    "correct",
    "blank",
    "partly_wrong",
    "infinite_loop",
    "unstoppable_loop",
    "memory_hog",
    "kernel_exit",
    "exit_call",
    "segfault",
    "deleted_tests",
    "edited_tests",
    "duplicated_tests",
    "changed_points",
    "tamper_custom_exc",
    "tamper_hidden",
    "tamper_env",
    "invalid_json",
    "not_a_notebook",
)
#: The status each kind should get (see :func:`grading.autograde.task.status_of`).
EXPECTED_STATUS = {
    "correct": "ok",
    "blank": "ok",
    "partly_wrong": "ok",
    "infinite_loop": "timeout",
    "unstoppable_loop": "timeout",
    "memory_hog": "memory",
    "kernel_exit": "crashed",
    "exit_call": "crashed",
    "segfault": "crashed",
    "deleted_tests": "restored",
    "edited_tests": "restored",
    "duplicated_tests": "restored",
    "changed_points": "restored",
    "tamper_custom_exc": "tampered",
    "tamper_hidden": "tampered",
    "tamper_env": "tampered",
    "invalid_json": "invalid",
    "not_a_notebook": "invalid",
}
#: A fixed submission time (nbgrader's timestamp format), so a class is reproducible.
DEFAULT_TIMESTAMP = "2026-01-15 12:00:00.000000 UTC"

_PREPENDED = {
    "infinite_loop": "while True:\n    pass\n",
    "unstoppable_loop": (
        "import time\n\nwhile True:\n    try:\n        time.sleep(0.2)\n"
        "    except KeyboardInterrupt:\n        pass\n"
    ),
    "memory_hog": "hog = []\nwhile True:\n    hog.append(b'x' * 50_000_000)\n",
    "kernel_exit": "import os\n\nos._exit(1)\n",
    "exit_call": "exit()\n",
    "segfault": "import ctypes\n\nctypes.string_at(0)\n",
    "tamper_custom_exc": (
        "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)\n"
    ),
    "tamper_hidden": (
        "import ast\nimport importlib\n\n\n"
        "class Forgiving(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        handler = ast.ExceptHandler(\n"
        "            type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()]\n"
        "        )\n"
        "        body = node.body or [ast.Pass()]\n"
        "        node.body = [ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])]\n"
        "        return ast.fix_missing_locations(node)\n\n\n"
        "shell = getattr(importlib.import_module('IPython'), 'get_' + 'ipython')()\n"
        "getattr(shell, 'ast_' + 'transformers').append(Forgiving())\n"
    ),
    "tamper_env": "import os\n\nos.environ['LABCORE_PROFILE'] = 'smoke'\n",
}
_STUB_TARGET = {"tamper_custom_exc", "tamper_hidden"}


@dataclass(frozen=True)
class DemoSubmission:
    """One synthetic student.

    Attributes
    ----------
    student : str
        The student id (``"demo_<kind>"`` by default).
    kind : str
        One of :data:`KINDS`.
    expected_status : str
        The status grading should give it.
    expected_cells : dict
        ``(notebook, grade_id) -> points`` for every autograded test cell.
    """

    student: str
    kind: str
    expected_status: str
    expected_cells: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def expected_score(self) -> float:
        """The autograded total it should get.

        Returns
        -------
        float
            Sum of :attr:`expected_cells`.
        """
        return float(sum(self.expected_cells.values()))


@dataclass
class DemoClass:
    """A synthetic class written to disk.

    Attributes
    ----------
    assignment : str
        The assignment.
    folder : pathlib.Path
        Where the submissions are (``<folder>/<student>/<assignment>/``).
    submissions : list of DemoSubmission
        One per student.
    max_score : float
        The autograded points of the assignment.
    """

    assignment: str
    folder: Path
    submissions: list[DemoSubmission]
    max_score: float

    def expected_scores(self) -> dict[str, float]:
        """Student -> expected autograded total.

        Returns
        -------
        dict
            One entry per student.
        """
        return {s.student: s.expected_score for s in self.submissions}

    def student(self, kind: str) -> DemoSubmission:
        """The submission of one kind.

        Parameters
        ----------
        kind : str
            One of :data:`KINDS`.

        Returns
        -------
        DemoSubmission
            Its student.
        """
        return next(s for s in self.submissions if s.kind == kind)


def _lines(source: str) -> list[str]:
    return source.split("\n")


def solution_source(source: str) -> str:
    """A source solution cell as a perfect student writes it: the delimiters taken out.

    Parameters
    ----------
    source : str
        The instructor cell's source.

    Returns
    -------
    str
        The code between (and around) ``### BEGIN SOLUTION`` / ``### END SOLUTION``.
    """
    begin, end = DELIMITERS[SOLUTION]
    return "\n".join(line for line in _lines(source) if begin not in line and end not in line)


def wrong_source(source: str) -> str:
    """A plausible wrong answer: each solution region replaced by ``pass``.

    Parameters
    ----------
    source : str
        The instructor cell's source.

    Returns
    -------
    str
        The cell with ``pass`` (at the region's indentation) instead of the solution; a cell
        without delimiters becomes ``pass``.
    """
    begin, end = DELIMITERS[SOLUTION]
    if begin not in source:
        return "pass"
    kept, inside = [], False
    for line in _lines(source):
        if begin in line:
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + "pass")
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def _points(cell) -> float:
    return float(cell.metadata.nbgrader.get("points", 0))


def _tested_solution(notebook, test_index: int) -> int | None:
    """The solution cell a test cell tests: named in its ``grade_id`` (``test_<id>...``)."""
    test = grade_id(notebook.cells[test_index]) or ""
    named = [
        (len(grade_id(cell)), index)
        for index, cell in enumerate(notebook.cells)
        if is_solution_cell(cell) and test.startswith(f"test_{grade_id(cell)}")
    ]
    return max(named)[1] if named else None


def _expected(
    notebook, name: str, first_broken: int | None, *, kernel_healthy: bool = False
) -> dict[tuple[str, str], float]:
    """What each test cell earns when solutions from ``first_broken`` on are broken.

    With a healthy kernel (wrong answers, not a crash), a test whose ``grade_id`` names its
    exercise depends on that exercise only; otherwise every test after the break scores 0.
    """

    def broken(index: int) -> bool:
        if first_broken is None:
            return False
        tested = _tested_solution(notebook, index) if kernel_healthy else None
        return (tested if tested is not None else index) >= first_broken

    return {
        (name, grade_id(cell)): 0.0 if broken(index) else _points(cell)
        for index, cell in enumerate(notebook.cells)
        if is_test_cell(cell)
    }


def _code_solutions(notebook) -> list[int]:
    return [
        i for i, c in enumerate(notebook.cells) if is_solution_cell(c) and c.cell_type == "code"
    ]


def _filled(release, source) -> nbformat.NotebookNode:
    answers = {grade_id(c): c.source for c in source.cells if is_solution_cell(c)}
    filled = copy.deepcopy(release)
    for cell in filled.cells:
        if is_solution_cell(cell) and grade_id(cell) in answers:
            cell.source = solution_source(answers[grade_id(cell)])
    return filled


def _broken(kind: str, release, source, correct):
    """The target notebook of one kind, and the index of its first broken solution cell."""
    solutions = _code_solutions(correct)
    answers = {grade_id(c): c.source for c in source.cells if is_solution_cell(c)}
    stubs = {grade_id(c): c.source for c in release.cells if is_solution_cell(c)}
    notebook = copy.deepcopy(correct)
    cells = notebook.cells
    if kind == "correct":
        return notebook, None
    if kind == "blank":
        return copy.deepcopy(release), solutions[0]
    last = solutions[-1]
    wrong_from = solutions[-2] if len(solutions) > 1 else last

    def partly_wrong():
        for index in (wrong_from, last):
            name = grade_id(cells[index])
            cells[index].source = stubs[name] if index == last else wrong_source(answers[name])

    if kind == "partly_wrong":
        partly_wrong()
        return notebook, wrong_from
    if kind in _PREPENDED:
        name = grade_id(cells[last])
        body = stubs[name] if kind in _STUB_TARGET else cells[last].source
        cells[last].source = _PREPENDED[kind] + "\n" + body
        return notebook, last
    tests_after = [i for i, c in enumerate(cells) if is_test_cell(c) and i > wrong_from]
    if kind == "deleted_tests":
        notebook.cells = [c for i, c in enumerate(cells) if i not in tests_after]
        return notebook, None
    partly_wrong()
    if kind == "edited_tests":
        for index in tests_after:
            cells[index].source = "# the tests pass now\npass"
        for cell in cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = 'PROFILE = "smoke"'
    elif kind == "duplicated_tests":
        for index in reversed(tests_after):
            duplicate = copy.deepcopy(cells[index])
            duplicate["id"] = uuid.uuid4().hex[:8]  # as Jupyter gives a copied cell
            cells.insert(index + 1, duplicate)
    elif kind == "changed_points":
        for index in tests_after:
            cells[index].metadata.nbgrader["points"] = _points(cells[index]) * 10
    else:
        raise ValueError(f"Unknown kind of demo submission {kind!r}; choose from {KINDS}")
    return notebook, wrong_from


def make_class(
    paths: CoursePaths,
    assignment: str,
    kinds: tuple[str, ...] | list[str] | None = None,
    *,
    folder: Path | None = None,
    prefix: str = "demo_",
    timestamp: str = DEFAULT_TIMESTAMP,
    template=None,
) -> DemoClass:
    """Write a synthetic class for one assignment (see the module docstring).

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment.
    kinds : sequence of str, optional
        Which kinds of submission (default all of :data:`KINDS`).
    folder : pathlib.Path, optional
        Where to write ``<student>/<assignment>/``; default ``build/submitted``.
    prefix : str
        Student ids are ``prefix + kind``.
    timestamp : str
        What every ``timestamp.txt`` says.
    template : grading.base.template.AssignmentTemplate, optional
        A template already built for the assignment (saves running nbgrader again).

    Returns
    -------
    DemoClass
        The students, with the score each cell should get.

    Raises
    ------
    ValueError
        For an unknown kind, or an assignment without a code exercise followed by tests.
    """
    from grading.base.template import build_template

    kinds = tuple(kinds or KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"Unknown kind(s) of demo submission {unknown}; choose from {KINDS}")
    template = template or build_template(paths, assignment)
    folder = Path(folder) if folder is not None else paths.submitted
    names = template.notebook_names
    releases = {n: template.notebook("release", n) for n in names}
    sources = {n: template.notebook("source", n) for n in names}
    correct = {n: _filled(releases[n], sources[n]) for n in names}
    target = next(
        (n for n in reversed(names) if _code_solutions(correct[n])),
        None,
    )
    if target is None:
        raise ValueError(
            f"Assignment {assignment!r} has no code exercise (solution cell) to break."
        )
    submissions = []
    for kind in kinds:
        student = f"{prefix}{kind}"
        destination = folder / student / assignment
        if destination.exists():
            shutil.rmtree(destination)
        destination.mkdir(parents=True)
        (destination / "timestamp.txt").write_text(timestamp + "\n")
        expected: dict[tuple[str, str], float] = {}
        for name in names:
            path = destination / f"{name}.ipynb"
            if name != target:
                nbformat.write(correct[name], path)
                expected.update(_expected(correct[name], name, None))
            elif kind == "invalid_json":
                path.write_text('{"cells": [')
                expected.update(_expected(correct[name], name, 0))
            elif kind == "not_a_notebook":
                path.write_text('{"hello": "this is JSON, not a notebook"}\n')
                expected.update(_expected(correct[name], name, 0))
            else:
                notebook, first_broken = _broken(kind, releases[name], sources[name], correct[name])
                nbformat.write(notebook, path)
                # indices of first_broken refer to the correct notebook's cells
                healthy = kind not in _PREPENDED and kind != "deleted_tests"
                expected.update(
                    _expected(correct[name], name, first_broken, kernel_healthy=healthy)
                )
        submissions.append(DemoSubmission(student, kind, EXPECTED_STATUS[kind], expected))
    max_score = sum(_points(c) for n in names for c in correct[n].cells if is_test_cell(c))
    return DemoClass(assignment, folder, submissions, float(max_score))
