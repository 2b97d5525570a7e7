"""How a test cell is scored: from what the grader saw, never from what the kernel printed first.

nbgrader's ``determine_grade`` takes a test cell's first ``execute_result`` as its partial
credit before it looks at errors, and gives full points for a result that is not a number.
Code in the kernel can display anything (``sys.displayhook("ok")`` from inside a function
the test calls), so that rule can be forged, and one out-of-range number fails the whole
submission. The grading program scores each test cell itself, outside the kernel:

1. the kernel's execute reply for the cell (seen by the grader, not printed by the kernel)
   must be ``ok``, and the cell must show no error and nothing on stderr (output matching
   the course's ``IgnorePattern`` excepted): otherwise it scores 0;
2. partial credit comes from one mechanism, declared by the instructor in the source: a
   test cell whose source ends with an expression earns that expression's value, the last
   result the cell displayed, as a number clamped to ``[0, points]`` (out of range:
   clamped, and the note says so; ``nan``: 0); a value that is not a number, or none (the
   expression gave ``None``), means full points, as in nbgrader. Results displayed by any
   other test cell are ignored: they can only come from student code;
3. nbgrader then sees outputs that say exactly that (:func:`outputs_for_nbgrader`): the
   student's displayed results are taken out, an error is added where the score is 0 and
   the single score is shown where partial credit applies, so its gradebook agrees.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

import nbformat

from grading.autograde.cells import parse_cell

__all__ = ["TestCellScore", "declares_partial_credit", "outputs_for_nbgrader", "score_test_cell"]

#: ``ename`` of the error a test cell gets when it scored 0 without showing an error.
TEST_FAILED = "TestFailed"


@dataclass
class TestCellScore:
    """A test cell's score and why.

    Attributes
    ----------
    score : float
        Points earned.
    points : float
        Points possible.
    partial_credit : bool
        Whether the cell declares partial credit (its source ends with an expression).
    failure : str or None
        Why it scored 0 (``None`` when it did not fail).
    notes : list of str
        Adjustments worth a reason (a clamped or non-numeric partial credit).
    """

    score: float
    points: float
    partial_credit: bool
    failure: str | None = None
    notes: list[str] = field(default_factory=list)


def declares_partial_credit(source: str) -> bool:
    """Whether a test cell's source ends with an expression (its value is partial credit).

    Parameters
    ----------
    source : str
        The test cell's source as the instructor wrote it (IPython syntax allowed).

    Returns
    -------
    bool
        ``True`` when the last statement is an expression (not a call of ``print``).
    """
    try:
        tree = parse_cell(source)
    except (SyntaxError, ValueError):
        return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    value = tree.body[-1].value
    is_print = (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "print"
    )
    return not is_print


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _result_value(output) -> str:
    value = output.get("data", {}).get("text/plain", "")
    return "".join(value) if isinstance(value, list) else str(value)


def score_test_cell(
    outputs: list,
    points: float,
    *,
    reply_ok: bool,
    partial_credit: bool,
    ignore_pattern: str = "",
) -> TestCellScore:
    """Score one executed test cell (see the module docstring).

    Parameters
    ----------
    outputs : list
        The cell's outputs as the kernel sent them.
    points : float
        The cell's points (from the source).
    reply_ok : bool
        Whether the kernel's execute reply for the cell had status ``ok``.
    partial_credit : bool
        Whether the source declares partial credit (:func:`declares_partial_credit`).
    ignore_pattern : str
        The course's ``IgnorePattern.pattern`` (stderr output matching it is not a failure);
        empty when the preprocessor is off.

    Returns
    -------
    TestCellScore
        The score.
    """
    points = float(points)
    for output in outputs:
        kind = output.get("output_type")
        if kind == "error":
            return TestCellScore(0.0, points, partial_credit, f"{output.get('ename', 'Error')}")
        ignored = ignore_pattern and re.search(ignore_pattern, _text(output))
        if kind == "stream" and output.get("name") == "stderr" and not ignored:
            return TestCellScore(0.0, points, partial_credit, "it wrote to stderr")
    if not reply_ok:
        return TestCellScore(0.0, points, partial_credit, "the kernel reported an error")
    if not partial_credit:
        return TestCellScore(points, points, False)
    results = [o for o in outputs if o.get("output_type") == "execute_result"]
    if not results:  # the last expression gave None (a call such as assert_allclose)
        return TestCellScore(points, points, True)
    shown = _result_value(results[-1])
    notes = []
    if len(results) > 1:
        notes.append(f"it displayed {len(results)} results; the last one counts")
    try:
        value = float(shown)
    except ValueError:  # not a number: as in nbgrader, no partial credit meant
        return TestCellScore(points, points, True, None, notes)
    if math.isnan(value):
        return TestCellScore(0.0, points, True, "its partial credit is not a number (nan)")
    clamped = min(max(value, 0.0), points)
    if clamped != value:
        notes.append(f"partial credit {shown[:40]} clamped to {clamped:g} of {points:g}")
    return TestCellScore(clamped, points, True, None, notes)


def outputs_for_nbgrader(outputs: list, result: TestCellScore) -> list:
    """The outputs to hand nbgrader so that its rule gives ``result.score``.

    Parameters
    ----------
    outputs : list
        The cell's outputs as executed.
    result : TestCellScore
        The score :func:`score_test_cell` gave.

    Returns
    -------
    list
        The outputs without any displayed result; with a first ``TestFailed`` error when
        the cell scored 0 without an error of its own; with one result holding the score
        when the cell gives partial credit.
    """
    kept = [o for o in outputs if o.get("output_type") != "execute_result"]
    if result.score == 0 and not any(o.get("output_type") == "error" for o in kept):
        failed = nbformat.v4.new_output(
            "error",
            ename=TEST_FAILED,
            evalue=result.failure or "no points",
            traceback=[f"{TEST_FAILED}: {result.failure or 'no points'}"],
        )
        kept.insert(0, failed)
    elif result.partial_credit and result.score > 0:
        kept.append(
            nbformat.v4.new_output(
                "execute_result", data={"text/plain": f"{result.score:g}"}, execution_count=None
            )
        )
    return kept
