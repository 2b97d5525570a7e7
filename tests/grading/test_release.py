"""``cnnlab release``: real nbgrader generate_assignment, then the leak scan.

Course-independent tests run on :func:`course_roots` (the fixture course by default; set
``CNNLAB_TEST_COURSE_ROOTS`` to run them on the real notebooks too).
"""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest
from fixtures.instructor.classroom import FIXTURE_COURSE, clone_course, copy_course, course_roots

from grading import cli
from grading.base.leaks import scan_release
from grading.base.nbgrader_driver import NbgraderError
from grading.base.regions import (
    HIDDEN_TEST,
    MARKERS,
    SOLUTION,
    cell_regions,
    is_trivial,
    notebook_regions,
    secret_lines,
    strip_ansi,
)
from grading.release import (
    ReleasedAssignment,
    ReleaseLeakError,
    release_assignments,
    select_assignments,
)


@pytest.fixture(scope="module", params=course_roots(), ids=lambda root: root.name)
def released_once(request, tmp_path_factory):
    paths = copy_course(tmp_path_factory.mktemp("released") / "course", request.param)
    return paths, release_assignments(paths)


@pytest.fixture
def released(released_once, tmp_path):
    """A fresh copy of a released course (release, gradebook) and its release results."""
    original, result = released_once
    paths = clone_course(original, tmp_path / "course")
    moved = [
        ReleasedAssignment(
            item.name,
            paths.release / item.name,
            tuple(paths.release / item.name / nb.name for nb in item.notebooks),
            item.secret_lines,
        )
        for item in result
    ]
    return paths, moved


def _first_secret(paths, kind):
    """(assignment, source notebook, secret line) of the first non-trivial line of a kind."""
    for assignment in paths.assignments():
        for source in paths.source_notebooks(assignment):
            for line in secret_lines(nbformat.read(source, as_version=4), kinds=(kind,)):
                return assignment, source, line
    raise AssertionError(f"the course has no {kind} line")


def _released_cell_index(notebook: dict, grade_id: str) -> int:
    ids = [cell["metadata"].get("nbgrader", {}).get("grade_id") for cell in notebook["cells"]]
    return ids.index(grade_id)


# --------------------------------------------------------------------------- any course


def test_release_writes_every_notebook_without_instructor_text(released):
    paths, result = released
    assert [item.name for item in result] == paths.assignments()
    for item in result:
        sources = paths.source_notebooks(item.name)
        assert item.folder == paths.release / item.name
        assert [p.name for p in item.notebooks] == [p.name for p in sources]
        assert item.secret_lines > 0
        for source, copy in zip(sources, item.notebooks, strict=True):
            regions = notebook_regions(nbformat.read(source, as_version=4))
            public = {line for cell in regions for line in cell.public}
            secrets = {line.text for cell in regions for line in cell.secret} - public
            secrets = {line for line in secrets if not is_trivial(line)}
            raw = copy.read_text()
            assert not [marker for marker in MARKERS if marker in raw]
            released_lines = {
                line.strip()
                for cell in json.loads(raw)["cells"]
                for line in "".join(cell["source"]).split("\n")
            }
            assert not secrets & released_lines


def test_release_records_assignments_and_grade_cells_in_the_gradebook(released):
    from nbgrader.api import Gradebook

    paths, result = released
    with Gradebook(paths.gradebook_url) as gradebook:
        recorded = {a.name: a for a in gradebook.assignments}
        assert sorted(recorded) == paths.assignments()
        for item in result:
            for source in paths.source_notebooks(item.name):
                notebook = gradebook.find_notebook(source.stem, item.name)
                expected = {
                    cell.metadata["nbgrader"]["grade_id"]
                    for cell in nbformat.read(source, as_version=4).cells
                    if cell.metadata.get("nbgrader", {}).get("grade")
                }
                assert {cell.name for cell in notebook.grade_cells} == expected


def test_scan_catches_a_hidden_test_line_written_into_a_released_cell(released):
    paths, _ = released
    assignment, source, hidden = _first_secret(paths, HIDDEN_TEST)
    target = paths.release / assignment / source.name
    notebook = json.loads(target.read_text())
    index = _released_cell_index(notebook, hidden.grade_id)
    notebook["cells"][index]["source"] = "".join(notebook["cells"][index]["source"]) + (
        "\n" + hidden.text
    )
    target.write_text(json.dumps(notebook))

    leaks, _ = scan_release(paths, assignment)

    found = [(leak.path, leak.cell_index, leak.grade_id, leak.kind, leak.line) for leak in leaks]
    assert found == [(target, index, hidden.grade_id, HIDDEN_TEST, hidden.text)]
    assert f"cell {index} (grade_id {hidden.grade_id})" in str(leaks[0])


def test_scan_catches_solution_lines_in_other_cells_outputs_files_and_metadata(released):
    paths, _ = released
    assignment, source, solution = _first_secret(paths, SOLUTION)
    target = paths.release / assignment / source.name
    notebook = json.loads(target.read_text())
    markdown = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "markdown")
    notebook["cells"][markdown]["source"] = "Hint:\n    " + solution.text
    code = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
    notebook["cells"][code]["outputs"] = [
        {
            "output_type": "error",
            "ename": "AssertionError",
            "evalue": "",
            "traceback": [f"\x1b[0;32m----> 3\x1b[0m {solution.text}"],
        }
    ]
    notebook["metadata"]["note"] = "### BEGIN SOLUTION"
    target.write_text(json.dumps(notebook))
    (paths.release / assignment / "helpers.py").write_text(f"x = 1\n{solution.text}\n")

    leaks, _ = scan_release(paths, assignment)

    found = {(leak.cell_index, leak.line_number, leak.kind, leak.line) for leak in leaks}
    assert found == {
        (markdown, None, SOLUTION, solution.text),
        (code, None, SOLUTION, solution.text),
        (None, None, "marker", "BEGIN SOLUTION"),
        (None, 2, SOLUTION, solution.text),
    }


def test_a_clean_release_scans_clean(released):
    paths, result = released
    for item in result:
        leaks, count = scan_release(paths, item.name)
        assert leaks == [] and count == item.secret_lines


# --------------------------------------------------------------------------- fixture course


@pytest.fixture(scope="module")
def fixture_course_once(tmp_path_factory):
    paths = copy_course(tmp_path_factory.mktemp("fixture") / "course", FIXTURE_COURSE)
    release_assignments(paths)  # creates the gradebook once
    return paths


@pytest.fixture
def fixture_course(fixture_course_once, tmp_path):
    """The fixture course with a gradebook, ready to be edited and released again."""
    return clone_course(fixture_course_once, tmp_path / "course")


def _edit_source(paths, assignment, notebook, grade_id, edit):
    path = paths.notebooks / assignment / f"{notebook}.ipynb"
    source = nbformat.read(path, as_version=4)
    index = _released_cell_index(source, grade_id)
    source.cells[index].source = edit(source.cells[index].source)
    nbformat.write(source, path)
    return path, index


def test_a_solution_line_pasted_into_a_hint_fails_the_release(fixture_course):
    paths = fixture_course
    path, index = _edit_source(
        paths,
        "01_fixture",
        "fixture",
        "add_numbers_task",
        lambda text: text + "\n\nHint: `total_of_both = a + b`",
    )
    path_2, index_2 = _edit_source(
        paths,
        "02_fixture_text",
        "short_answers",
        "padding_question",
        lambda text: text + '\n\nassert square(-4) == 16, "square must handle negative numbers"',
    )
    with pytest.raises(ReleaseLeakError) as caught:
        release_assignments(paths)
    leaks = caught.value.leaks
    assert {(leak.path, leak.cell_index, leak.grade_id, leak.kind) for leak in leaks} == {
        (path, index, "add_numbers_task", SOLUTION),
        (path_2, index_2, "padding_question", HIDDEN_TEST),
    }
    assert "total_of_both = a + b" in str(caught.value)
    assert "fixture.ipynb cell 3 (grade_id add_numbers)" in str(caught.value)
    assert not (paths.release / "01_fixture").exists()  # a leaky release is not left behind
    assert not (paths.release / "02_fixture_text").exists()


def test_a_skeleton_line_repeated_inside_its_own_solution_is_not_a_leak(fixture_course):
    paths = fixture_course
    _edit_source(
        paths,
        "01_fixture",
        "fixture",
        "mean_of",
        lambda text: text.replace(
            '    """Return the arithmetic mean of values."""',
            '    """Return the arithmetic mean of values."""\n    values_as_list = list(values)',
        ),
    )
    (released,) = release_assignments(paths, ["01_fixture"])
    text = (released.folder / "fixture.ipynb").read_text()
    assert "values_as_list = list(values)" in text and "math.fsum" not in text


def test_release_overwrites_an_earlier_release(fixture_course):
    paths = fixture_course
    release_assignments(paths, ["01_fixture"])
    stray = paths.release / "01_fixture" / "old_notes.txt"
    stray.write_text("left over")
    release_assignments(paths, ["01_fixture"])
    assert not stray.exists()
    assert (paths.release / "01_fixture" / "fixture.ipynb").is_file()


def test_release_reports_nbgrader_errors_by_name(fixture_course):
    paths = fixture_course
    _edit_source(
        paths,
        "01_fixture",
        "fixture",
        "setup",
        lambda text: text + "\n### BEGIN SOLUTION\nsecret = 1\n### END SOLUTION",
    )
    with pytest.raises(NbgraderError, match="Solution region detected in a non-solution cell"):
        release_assignments(paths, ["01_fixture"])


def test_unknown_assignment_and_missing_sources_are_clear_errors(fixture_course, tmp_path):
    with pytest.raises(ValueError, match=r"'03_nope'.*the course has: 01_fixture, 02_fixture_text"):
        select_assignments(fixture_course, ["03_nope"])
    assert select_assignments(fixture_course, ["02_fixture_text", "01_fixture"]) == [
        "01_fixture",
        "02_fixture_text",
    ]
    empty = copy_course(tmp_path / "empty", FIXTURE_COURSE)
    shutil.rmtree(empty.notebooks)
    empty.notebooks.mkdir()
    with pytest.raises(FileNotFoundError, match="No source assignments"):
        release_assignments(empty)
    unreleased = copy_course(tmp_path / "unreleased", FIXTURE_COURSE)
    with pytest.raises(FileNotFoundError, match="cnnlab release 01_fixture"):
        scan_release(unreleased, "01_fixture")


def test_an_unreachable_gradebook_is_a_clear_error(fixture_course):
    from grading.base.gradebook import GradebookError

    with pytest.raises(GradebookError, match=re.escape("postgresql+psycopg://grader:***@")):
        release_assignments(fixture_course, db_url="postgresql://grader:pw@127.0.0.1:9/course")


def test_release_command(fixture_course, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(fixture_course.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["release", "02_fixture_text"]) == 0
    assert "released 02_fixture_text: short_answers.ipynb" in capsys.readouterr().out
    assert cli.main(["release", "09_missing"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cnnlab release: ")
    assert "the course has: 01_fixture, 02_fixture_text" in error
    _edit_source(
        fixture_course,
        "01_fixture",
        "fixture",
        "setup",
        lambda text: text + "\n### BEGIN SOLUTION\nsecret = 1\n### END SOLUTION",
    )
    assert cli.main(["release", "01_fixture"]) == 1  # the job failed: nbgrader rejected it
    error = capsys.readouterr().err
    assert error.startswith("cnnlab release: ") and "Solution region detected" in error


# --------------------------------------------------------------------------- regions


def test_cell_regions_split_public_and_secret_lines():
    cell = nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
        "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 6\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade_id": "f", "solution": True, "grade": False}},
    )
    regions = cell_regions(cell, 4)
    assert regions.public == ["def f(x):", "assert f(1) == 2"]
    assert [(s.text, s.kind, s.cell_index, s.grade_id) for s in regions.secret] == [
        ("return x + 1", SOLUTION, 4, "f"),
        ("assert f(5) == 6", HIDDEN_TEST, 4, "f"),
    ]


def test_a_solution_cell_without_delimiters_is_secret_as_a_whole():
    cell = nbformat.v4.new_markdown_cell(
        "Padding keeps the size.\nStride shrinks it.",
        metadata={"nbgrader": {"grade_id": "why", "solution": True, "grade": True}},
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Why?"), cell])
    assert [s.text for s in secret_lines(notebook)] == [
        "Padding keeps the size.",
        "Stride shrinks it.",
    ]
    assert secret_lines(notebook, kinds=(HIDDEN_TEST,)) == []
    assert notebook_regions(notebook)[0].public == ["Why?"]


@pytest.mark.parametrize(
    ("line", "trivial"),
    [
        ("", True),
        ("    ])", True),
        ("x = 1", True),
        ("return model", True),
        ("else:", True),
        ("total_of_both = a + b", False),
        ("assert square(-4) == 16", False),
        ("# pad with zeros on both sides", False),
    ],
)
def test_is_trivial(line, trivial):
    assert is_trivial(line) is trivial


def test_strip_ansi():
    assert strip_ansi("\x1b[0;32m----> 3\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m ok") == (
        "----> 3 assert ok"
    )
