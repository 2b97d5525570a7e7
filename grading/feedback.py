"""``cnnlab feedback``: per-student HTML feedback, with scores and outputs, without hidden tests.

nbgrader's ``generate_feedback`` turns each autograded notebook
(``build/autograded/<student>/<assignment>/``) into HTML under
``build/feedback/<student>/<assignment>/<notebook>.html``, with the score of every graded
cell and the notebook's outputs. Left alone it shows the hidden tests: autograding restores
every test cell from the gradebook, hidden part included, and a failing hidden ``assert``
prints its own source line in the traceback.

This module composes nbgrader's feedback step with more preprocessors:

- :class:`grading.autograde.feedback_policy.FeedbackPolicy` keeps nothing that student code computed
  while it was graded: a failed test shows its error type (and its message when that is
  one of the test's own strings), other outputs of the grading run are not shown; and
  nbconvert's ``SanitizeHTML`` removes active HTML;

- :class:`HideHiddenTests` (an nbgrader ``ClearHiddenTests``) removes the hidden-test
  regions from the cell sources, and first replaces every output line (tracebacks, printed
  text, results) that holds a hidden-test line by ``[hidden test line removed]``; the
  hidden lines are read from the notebook itself and from the course's source notebook;
- nbgrader's ``ClearMarkScheme`` removes mark schemes.

The student still sees the cell's score, that the test failed, and the error type and
message (``AssertionError: ...``). A run of removed lines shows as one
``[hidden test line removed]``, bracket-only lines of a removed statement (``)``, ``]``)
included. The grader adds nothing to a test cell (scores are decided outside the kernel), so
a traceback quotes only the course's and the student's lines. nbgrader's list of graded
cells names each test cell after the exercise it tests ("Tests of mnist_build_model")
instead of "Test cell".
"""

from __future__ import annotations

import re
from html import escape, unescape
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool, List, Unicode

from grading.base.nbgrader_driver import (
    NbgraderError,
    existing_gradebook_url,
    load_nbgrader_config,
    run_converter,
)
from grading.base.regions import HIDDEN_TEST, secret_lines, strip_ansi
from grading.errors import BadInput
from grading.options import add_feedback_arguments as add_arguments  # noqa: F401 (grading.cli)
from grading.paths import CoursePaths, course_paths

__all__ = [
    "REMOVED_LINE",
    "HideHiddenTests",
    "generate_feedback",
    "name_test_cells",
    "names_of_test_cells",
    "scrub_text",
]

#: What replaces an output line that showed hidden-test source.
REMOVED_LINE = "[hidden test line removed]"
_HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
#: A traceback source line holding only brackets and punctuation (``      5 )``).
_SKELETON_LINE = re.compile(r"^\s*(?:-*>\s*)?\d*\s*[()\[\]{},;:.]*[()\[\]{}][()\[\]{},;:.\s]*$")


def scrub_text(text: str, hidden_lines: list[str]) -> str:
    """Replace every line that shows hidden-test source.

    Parameters
    ----------
    text : str
        Output text, possibly with terminal colour codes (an IPython traceback).
    hidden_lines : list of str
        Stripped hidden-test lines.

    Returns
    -------
    str
        ``text`` with each run of lines that contain a hidden line or a hidden-test
        delimiter replaced by one :data:`REMOVED_LINE` (line endings kept), bracket-only
        lines of the same statement (``)``, ``]``) included.
    """
    lines, removed = [], []
    for line in text.splitlines(keepends=True):
        plain = strip_ansi(line)
        lines.append(line)
        removed.append(
            any(marker in plain for marker in _HIDDEN_MARKERS)
            or any(hidden in plain for hidden in hidden_lines)
        )
    skeleton = [bool(_SKELETON_LINE.match(strip_ansi(line))) for line in lines]
    changed = True
    while changed:  # a bracket-only line next to a removed line belongs to it
        changed = False
        for index, is_skeleton in enumerate(skeleton):
            neighbours = removed[max(index - 1, 0) : index + 2]
            if is_skeleton and not removed[index] and any(neighbours):
                removed[index] = changed = True
    scrubbed = []
    for index, line in enumerate(lines):
        if not removed[index]:
            scrubbed.append(line)
        elif index == 0 or not removed[index - 1]:
            scrubbed.append(REMOVED_LINE + line[len(line.rstrip("\r\n")) :])
    return "".join(scrubbed)


def _scrub_value(value, hidden_lines: list[str]):
    if isinstance(value, str):
        return scrub_text(value, hidden_lines)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [scrub_text(item, hidden_lines) for item in value]
    return value


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests`` for feedback: sources and outputs.

    Removes hidden-test regions from cell sources like ``ClearHiddenTests``, and before that
    replaces every output line that shows a hidden-test line (a traceback quoting a failing
    hidden ``assert``). A student cell with broken delimiters loses everything from the
    first delimiter on instead of failing the feedback.
    """

    hidden_lines = List(
        Unicode(),
        help="Hidden-test lines (from the source notebooks) to remove from outputs too.",
    ).tag(config=True)
    enforce_metadata = Bool(False, help="Feedback removes hidden tests from any cell.").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        """Scrub outputs of hidden-test lines, then remove the hidden regions.

        Parameters
        ----------
        nb : nbformat.NotebookNode
            An autograded notebook.
        resources : dict
            nbconvert resources.

        Returns
        -------
        tuple
            The notebook and the resources.
        """
        found = {line.text for line in secret_lines(nb, kinds=(HIDDEN_TEST,))}
        hidden = sorted(found | set(self.hidden_lines), key=len, reverse=True)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                for key in ("text", "evalue", "traceback"):
                    if key in output:
                        output[key] = _scrub_value(output[key], hidden)
                for mime, value in output.get("data", {}).items():
                    if mime.startswith("text/"):
                        output["data"][mime] = _scrub_value(value, hidden)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        """Remove the cell's hidden-test regions, tolerating broken delimiters.

        Parameters
        ----------
        cell : nbformat.NotebookNode
            One cell.
        resources : dict
            nbconvert resources.
        cell_index : int
            Its index.

        Returns
        -------
        tuple
            The cell and the resources.
        """
        try:
            return super().preprocess_cell(cell, resources, cell_index)
        except RuntimeError:  # nested or unterminated delimiters written by a student
            lines = cell.source.split("\n")
            first = next(i for i, line in enumerate(lines) if self.begin_test_delimeter in line)
            cell.source = "\n".join(lines[:first])
            return cell, resources


def names_of_test_cells(notebook) -> dict[str, str]:
    """A name for every test cell: the exercise it tests.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An autograded notebook.

    Returns
    -------
    dict
        Test cell ``grade_id`` -> ``"Tests of <exercise>"``, the exercise being the nearest
        answer cell above it (else the test's id without its ``test_`` prefix).
    """
    names, exercise = {}, None
    for cell in notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader") or {}
        grade_id = nbgrader.get("grade_id")
        if nbgrader.get("solution") and grade_id:
            exercise = grade_id
        elif nbgrader.get("grade") and grade_id and cell.cell_type == "code":
            names[grade_id] = f"Tests of {exercise or grade_id.removeprefix('test_')}"
    return names


def name_test_cells(html: str, names: dict[str, str]) -> str:
    """Put each test cell's name in the feedback's list of graded cells.

    nbgrader's feedback template lists every test cell as an anonymous "Test cell".

    Parameters
    ----------
    html : str
        A feedback page.
    names : dict
        From :func:`names_of_test_cells`.

    Returns
    -------
    str
        The page with ``<a href="#<grade_id>">Tests of <exercise></a>`` in the list.
    """

    def named(match: re.Match) -> str:
        grade_id = unescape(match[1])
        label = names.get(grade_id)
        return f'<a href="#{match[1]}">{escape(label)}</a>' if label else match[0]

    return re.sub(r'<a href="#([^"]+)">Test cell</a>', named, html)


def _name_test_cells_of(paths: CoursePaths, student: str, assignment: str) -> None:
    import nbformat

    for page in (paths.feedback / student / assignment).glob("*.html"):
        notebook = paths.autograded / student / assignment / f"{page.stem}.ipynb"
        if notebook.is_file():
            names = names_of_test_cells(nbformat.read(notebook, as_version=4))
            page.write_text(name_test_cells(page.read_text("utf-8"), names), encoding="utf-8")


def _hidden_lines_of(paths: CoursePaths, assignment: str) -> list[str]:
    import nbformat

    lines = set()
    for source in sorted((paths.notebooks / assignment).glob("*.ipynb")):
        notebook = nbformat.read(source, as_version=4)
        lines |= {line.text for line in secret_lines(notebook, kinds=(HIDDEN_TEST,))}
    return sorted(lines)


def _graded(paths: CoursePaths, assignments: list[str] | None) -> dict[str, list[str]]:
    """assignment -> students with an autograded submission."""
    found: dict[str, list[str]] = {}
    if paths.autograded.is_dir():
        for folder in sorted(paths.autograded.glob("*/*")):
            if folder.is_dir() and any(folder.glob("*.ipynb")):
                found.setdefault(folder.name, []).append(folder.parent.name)
    if assignments:
        unknown = [name for name in assignments if name not in found]
        if unknown:
            raise BadInput(
                f"No autograded submissions of {', '.join(map(repr, unknown))} in "
                f"{paths.autograded}; graded assignments: {', '.join(found) or 'none'}. "
                "Run `cnnlab autograde` first."
            )
        found = {name: found[name] for name in assignments}
    if not found:
        raise FileNotFoundError(
            f"No autograded submissions in {paths.autograded}: the class is empty. "
            "Run `cnnlab collect` and `cnnlab autograde` first."
        )
    return found


def generate_feedback(
    paths: CoursePaths | None = None,
    assignments: list[str] | None = None,
    db_url: str | None = None,
) -> list[Path]:
    """Write per-student HTML feedback without hidden tests.

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    assignments : list of str, optional
        Assignments to write feedback for; default every autograded assignment.
    db_url : str, optional
        Gradebook URL or SQLite file; default the course's ``build/gradebook.db``.

    Returns
    -------
    list of pathlib.Path
        The HTML files, ``build/feedback/<student>/<assignment>/<notebook>.html``; earlier
        feedback for the same submissions is replaced.

    Raises
    ------
    FileNotFoundError
        If nothing is autograded (an empty class) or the gradebook does not exist.
    ValueError
        If a named assignment has no autograded submissions.
    grading.base.gradebook.GradebookError
        If the gradebook database cannot be reached.
    grading.base.nbgrader_driver.NbgraderError
        If nbgrader fails for some submissions; the others are written first, and the
        message names each failed student and assignment.
    """
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbconvert.preprocessors.sanitize import SanitizeHTML
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import ClearMarkScheme, GetGrades

    from grading.autograde.feedback_policy import FeedbackPolicy
    from grading.base.gradebook import open_gradebook
    from grading.base.late import add_late_note

    paths = paths or course_paths()
    graded = _graded(paths, assignments)
    url = existing_gradebook_url(paths, db_url)
    with open_gradebook(url):
        pass  # reachable: fail here with a clear message, not in every submission
    config = load_nbgrader_config(paths, url)
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        FeedbackPolicy,  # nothing student code computed while graded
        HideHiddenTests,
        ClearMarkScheme,
        SanitizeHTML,  # no script in the student's markdown reaches the page
        CSSHTMLHeaderPreprocessor,
    ]
    config.ClearMarkScheme.enforce_metadata = False
    config.HTMLExporter.template_name = "feedback"
    written, failures = [], []
    for assignment, students in graded.items():
        config.HideHiddenTests.hidden_lines = _hidden_lines_of(paths, assignment)
        for student in students:
            try:
                run_converter(
                    GenerateFeedback, config, assignment_id=assignment, student_id=student
                )
            except NbgraderError as error:
                failures.append(str(error))
                continue
            _name_test_cells_of(paths, student, assignment)
            add_late_note(paths, url, student, assignment)  # due dates of cnnlab.toml
            written.extend(sorted((paths.feedback / student / assignment).glob("*.html")))
    if failures:
        raise NbgraderError(
            f"Feedback failed for {len(failures)} submission(s) "
            f"({len(written)} file(s) written):\n" + "\n".join(failures)
        )
    return written


def main(args) -> int:
    """Run ``cnnlab feedback``.

    Returns 0 on success. An nbgrader failure for a submission (exit status 1), bad
    arguments or an empty class (2) are raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    written = generate_feedback(paths, args.assignments or None, args.db)
    students = {path.parent.parent.name for path in written}
    print(f"wrote {len(written)} feedback file(s), {len(students)} student(s), in {paths.feedback}")
    return 0
