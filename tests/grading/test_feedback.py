"""``cnnlab feedback``: nbgrader's HTML feedback without hidden tests (real autograding)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from fixtures.instructor.classroom import (
    FIXTURE_COURSE,
    clone_course,
    copy_course,
    course_roots,
    graded_course,
)

from grading import cli
from grading.base.gradebook import GradebookError
from grading.base.nbgrader_driver import load_nbgrader_config, run_converter
from grading.base.regions import HIDDEN_TEST, secret_lines
from grading.feedback import (
    REMOVED_LINE,
    HideHiddenTests,
    generate_feedback,
    name_test_cells,
    names_of_test_cells,
    scrub_text,
)
from grading.release import release_assignments


class _TextOf(HTMLParser):
    """The text a reader sees in an HTML page (no tags, no styles or scripts)."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(path: Path) -> str:
    """Text of an HTML file, whitespace runs collapsed to one space."""
    parser = _TextOf()
    parser.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", unescape("".join(parser.parts)))


def hidden_lines(paths, assignment: str) -> list[str]:
    return [
        line.text
        for source in paths.source_notebooks(assignment)
        for line in secret_lines(nbformat.read(source, as_version=4), kinds=(HIDDEN_TEST,))
    ]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def graded_fixture(tmp_path_factory):
    return graded_course(FIXTURE_COURSE, tmp_path_factory.getbasetemp())


@pytest.fixture
def graded(graded_fixture, tmp_path):
    """A private copy of the graded fixture class (feedback writes into it)."""
    return clone_course(graded_fixture, tmp_path / "course")


# --------------------------------------------------------------------------- any course


@pytest.mark.parametrize("root", course_roots(), ids=lambda root: root.name)
@pytest.mark.slow
def test_no_feedback_file_contains_hidden_test_source(root, tmp_path_factory, tmp_path):
    paths = clone_course(graded_course(root, tmp_path_factory.getbasetemp()), tmp_path / "c")
    written = generate_feedback(paths)
    graded = sorted(p.parent for p in paths.autograded.glob("*/*/*.ipynb"))
    assert sorted({p.parent for p in written}) == sorted(
        paths.feedback / folder.parent.name / folder.name for folder in graded
    )
    for html in written:
        text = visible_text(html)
        assignment = html.parent.name
        assert "Score:" in text
        assert "HIDDEN TESTS" not in text
        leaked = [line for line in hidden_lines(paths, assignment) if _squash(line) in text]
        assert leaked == [], f"{html} shows hidden tests: {leaked}"


# --------------------------------------------------------------------------- fixture course


@pytest.mark.slow
def test_a_failed_hidden_test_shows_its_score_and_error_but_not_its_source(graded):
    written = generate_feedback(graded, ["01_fixture"])
    assert sorted(p.relative_to(graded.feedback).as_posix() for p in written) == [
        "alice/01_fixture/fixture.html",
        "bob/01_fixture/fixture.html",
        "carol/01_fixture/fixture.html",
    ]
    bob = visible_text(graded.feedback / "bob" / "01_fixture" / "fixture.html")
    assert "fixture (Score: 2.0 / 5.0)" in bob
    assert "Grade cell: test_mean_of Score: 0.0 / 3.0" in bob
    # the failure and its type are there; no traceback of the grading run (feedback_policy)
    assert "This test failed: AssertionError" in bob and "Traceback" not in bob
    # the list of graded cells names each test after its exercise
    assert "Tests of mean_of (Score: 0.0 / 3.0)" in bob and "Test cell" not in bob
    # the student's own code and the visible test are shown (the text extraction works) ...
    assert "ordered = sorted(values)" in bob
    assert "assert mean_of([1, 2, 3]) == 2" in bob
    # ... and no hidden test line, nor a distinctive piece of one
    for line in hidden_lines(graded, "01_fixture"):
        assert _squash(line) not in bob
    for fragment in ("abs(mean_of(", "range(1, 102)", "add_numbers(-7, 19)", "0.25, 0.5"):
        assert fragment not in bob


@pytest.mark.slow
def test_plain_nbgrader_feedback_would_show_the_hidden_test(graded):
    """The control: without this module's preprocessing nbgrader leaks the hidden test."""
    from nbgrader.converters import GenerateFeedback

    config = load_nbgrader_config(graded)
    run_converter(GenerateFeedback, config, assignment_id="01_fixture", student_id="bob")
    bob = visible_text(graded.feedback / "bob" / "01_fixture" / "fixture.html")
    assert "assert mean_of(range(1, 102)) == 51" in bob


@pytest.mark.slow
def test_feedback_is_replaced_when_generated_again(graded):
    generate_feedback(graded, ["02_fixture_text"])
    stale = graded.feedback / "dave" / "02_fixture_text" / "old.html"
    stale.write_text("stale")
    written = generate_feedback(graded, ["02_fixture_text"])
    assert not stale.exists()
    dave = visible_text(graded.feedback / "dave" / "02_fixture_text" / "short_answers.html")
    assert "short_answers (Score: 1.0 / 2.0)" in dave
    assert "square(-4)" not in dave
    assert len(written) == 3


@pytest.mark.slow
def test_feedback_errors(graded, tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"No autograded submissions of '07_none'"):
        generate_feedback(graded, ["07_none"])
    empty = copy_course(tmp_path / "empty", FIXTURE_COURSE)
    release_assignments(empty)
    with pytest.raises(FileNotFoundError, match="the class is empty"):
        generate_feedback(empty)
    with pytest.raises(GradebookError, match="Cannot open the gradebook"):
        generate_feedback(graded, db_url="postgresql://grader:pw@127.0.0.1:9/course")
    (graded.build / "gradebook.db").unlink()
    with pytest.raises(FileNotFoundError, match="No gradebook at"):
        generate_feedback(graded)
    monkeypatch.setenv("CNNLAB_ROOT", str(empty.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["feedback"]) == 2
    assert "the class is empty" in capsys.readouterr().err


@pytest.mark.slow
def test_feedback_command(graded, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(graded.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["feedback", "01_fixture"]) == 0
    assert "wrote 3 feedback file(s), 3 student(s)" in capsys.readouterr().out


# --------------------------------------------------------------------------- units


def test_scrub_text_removes_traceback_lines_with_hidden_source():
    traceback = (
        "Cell In[5], line 3\n"
        "\x1b[0;32m      1\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m visible_check()\n"
        "\x1b[0;32m----> 3\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m secret_check(7) == 49\n"
        "      4 ### END HIDDEN TESTS\n"
    )
    scrubbed = scrub_text(traceback, ["assert secret_check(7) == 49"])
    assert scrubbed.splitlines() == [
        "Cell In[5], line 3",
        "\x1b[0;32m      1\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m visible_check()",
        REMOVED_LINE,  # one for the run of removed lines: their number says nothing
    ]
    assert scrub_text("no secrets\n", ["assert secret_check(7) == 49"]) == "no secrets\n"


def test_scrub_text_leaves_no_orphan_brackets():
    traceback = (
        "Cell In[7], line 4\n"
        "      2 assert visible(1) == 1\n"
        "      3 assert secret_values(\n"
        "----> 4     [3, 4],\n"
        "      5 ) == [9, 16]\n"
        "      6 )\n"
        "      7 ]\n"
        "      8 print(score_of(x))\n"
    )
    hidden = ["assert secret_values(", "[3, 4],", ") == [9, 16]"]
    assert scrub_text(traceback, hidden).splitlines() == [
        "Cell In[7], line 4",
        "      2 assert visible(1) == 1",
        REMOVED_LINE,
        "      8 print(score_of(x))",
    ]


def test_test_cells_are_named_after_their_exercise():
    cells = [
        nbformat.v4.new_code_cell("", metadata={"nbgrader": {"solution": True, "grade_id": "f"}}),
        nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": "t1"}}),
        nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": "t2"}}),
    ]
    names = names_of_test_cells(nbformat.v4.new_notebook(cells=cells))
    assert names == {"t1": "Tests of f", "t2": "Tests of f"}
    orphan = nbformat.v4.new_notebook(cells=cells[1:])
    orphan.cells[0].metadata["nbgrader"]["grade_id"] = "test_square"
    assert names_of_test_cells(orphan) == {"test_square": "Tests of square", "t2": "Tests of t2"}
    html = '<li><a href="#t1">Test cell</a> (Score: 1.0 / 1.0)</li><a href="#x">Test cell</a>'
    assert name_test_cells(html, names) == (
        '<li><a href="#t1">Tests of f</a> (Score: 1.0 / 1.0)</li><a href="#x">Test cell</a>'
    )


def test_hide_hidden_tests_cleans_sources_outputs_and_broken_student_markers():
    test_cell = nbformat.v4.new_code_cell(
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(12345) == 12345\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}},
    )
    test_cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="checking f(12345)\n"),
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="",
            traceback=["----> 3 assert f(12345) == 12345", "AssertionError: "],
        ),
    ]
    student_cell = nbformat.v4.new_code_cell(
        "def f(x):\n    return x\n# BEGIN HIDDEN TESTS (copied by a student, never closed)\nx = 1",
        metadata={"nbgrader": {"solution": True, "grade_id": "f"}},
    )
    notebook = nbformat.v4.new_notebook(cells=[student_cell, test_cell])
    preprocessor = HideHiddenTests(hidden_lines=["checking f(12345)"])

    notebook, _ = preprocessor.preprocess(notebook, {})

    assert notebook.cells[0].source == "def f(x):\n    return x"
    assert notebook.cells[1].source == "assert f(1) == 1"
    assert notebook.cells[1].outputs[0].text == REMOVED_LINE + "\n"
    assert notebook.cells[1].outputs[1].traceback == [REMOVED_LINE, "AssertionError: "]


def test_html_text_extraction_sees_code_split_by_highlighting(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<style>.x{}</style><pre><span class="k">assert</span> <span class="n">f</span>'
        "(<span>1</span>) &lt; 2</pre>"
    )
    assert visible_text(page) == "assert f(1) < 2"
