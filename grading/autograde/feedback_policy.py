"""What a student's feedback may show: nothing computed by student code while it was graded.

Student code runs during grading with the whole kernel in reach: the source of the hidden
test that calls it, the ``In`` history of the cells before, IPython's cache of cell
sources. Anything it prints, displays or puts into an exception message can carry a hidden
test or a solution out, encoded so that no scrubber recognises it (ROT13, base64). So the
feedback keeps (:class:`FeedbackPolicy`, before nbgrader renders the HTML):

- the student's own code, and the score of every graded cell (nbgrader's);
- for a test cell that failed: the type of the error, and its message only when the message
  is one of that test's own string literals (``assert ok, "the kernel is flipped"``);
  nothing for a test that passed;
- no other output of the grading run: not what student cells printed or drew, not what
  tests printed (a test calls the student's code, which may print);

and nbconvert's ``SanitizeHTML`` removes scripts and other active HTML from what remains
(the student's markdown). The hidden test regions themselves are removed afterwards by
:class:`grading.feedback.HideHiddenTests`.
"""

from __future__ import annotations

import ast

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from grading.autograde.cells import parse_cell

__all__ = ["FeedbackPolicy", "failure_summary", "string_literals"]

#: What replaces the outputs of cells whose code the student wrote.
NOT_SHOWN = "Outputs of the grading run are not shown; your own notebook has yours."


def string_literals(source: str) -> set[str]:
    """Every string literal in a cell's source (IPython syntax allowed).

    Parameters
    ----------
    source : str
        The cell's source.

    Returns
    -------
    set of str
        The literals' values.
    """
    try:
        tree = parse_cell(source)
    except (SyntaxError, ValueError):
        return set()
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def failure_summary(outputs: list, literals: set[str]) -> nbformat.NotebookNode | None:
    """The one output a failed test shows in feedback, or ``None`` when it passed.

    Parameters
    ----------
    outputs : list
        The test cell's outputs after grading.
    literals : set of str
        The test's own string literals (:func:`string_literals`).

    Returns
    -------
    nbformat.NotebookNode or None
        An ``error`` output with the error's type, and its message when the message is
        one of ``literals``.
    """
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if not errors:
        return None
    error = errors[0]
    name = str(error.get("ename", "Error"))
    if not name.isidentifier():
        name = "Error"
    message = str(error.get("evalue", ""))
    shown = message if message in literals else ""
    line = f"{name}: {shown}" if shown else name
    return nbformat.v4.new_output(
        "error", ename=name, evalue=shown, traceback=[f"This test failed: {line}"]
    )


class FeedbackPolicy(NbGraderPreprocessor):
    """Keep only what :mod:`grading.autograde.feedback_policy` allows of a graded notebook's
    outputs."""

    def preprocess_cell(self, cell, resources, cell_index):
        """Replace one cell's outputs by what feedback may show.

        Parameters
        ----------
        cell : nbformat.NotebookNode
            One cell of the autograded notebook (test cells as in the source).
        resources : dict
            nbconvert resources.
        cell_index : int
            Its index.

        Returns
        -------
        tuple
            The cell and the resources.
        """
        from grading.autograde.cells import is_test_cell

        if cell.cell_type != "code":
            return cell, resources
        if is_test_cell(cell):
            summary = failure_summary(cell.get("outputs", []), string_literals(cell.source))
            cell.outputs = [summary] if summary is not None else []
        elif cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_SHOWN)]
        return cell, resources
