"""``cnnlab check``: committed notebooks are clean nbgrader sources.

Each broken notebook is the clean fixture ``01_parameters/parameters.ipynb`` with one thing
broken; cells of that fixture: 0 intro, 1 parameters, 2 ``shout`` (solution),
3 ``test_shout`` (test with hidden tests), 4 ``record_first``, 5 ``record_final``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grading import cli
from grading.paths import course_paths
from grading.runner.check import Problem, check_notebook, check_notebooks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runner"
CLEAN = FIXTURES / "01_parameters" / "parameters.ipynb"
SOLUTION, TEST = 2, 3


def _clean() -> dict:
    return json.loads(CLEAN.read_text())


def _nbgrader(notebook: dict, index: int) -> dict:
    return notebook["cells"][index]["metadata"]["nbgrader"]


def _set_source(notebook: dict, index: int, source: str) -> None:
    notebook["cells"][index]["source"] = source


def _add_output(nb):
    nb["cells"][4]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]


def _add_execution_count(nb):
    nb["cells"][4]["execution_count"] = 7


def _other_kernel(nb):
    nb["metadata"]["kernelspec"]["name"] = "ir"


def _no_parameters_tag(nb):
    nb["cells"][1]["metadata"]["tags"] = []


def _two_parameters_tags(nb):
    nb["cells"][4]["metadata"]["tags"] = ["parameters"]


def _old_schema(nb):
    _nbgrader(nb, TEST)["schema_version"] = 2


def _duplicate_grade_id(nb):
    _nbgrader(nb, TEST)["grade_id"] = "shout"


def _zero_points(nb):
    _nbgrader(nb, TEST)["points"] = 0


def _missing_points(nb):
    del _nbgrader(nb, TEST)["points"]


def _bad_grade_id(nb):
    _nbgrader(nb, TEST)["grade_id"] = "test shout!"


def _locked_solution(nb):
    _nbgrader(nb, SOLUTION)["locked"] = True


def _unlocked_test(nb):
    _nbgrader(nb, TEST)["locked"] = False


def _points_on_ungraded_cell(nb):
    _nbgrader(nb, SOLUTION)["points"] = 2


def _solution_without_delimiters(nb):
    _set_source(nb, SOLUTION, 'def shout(text, times):\n    return " ".join([text] * times)')


def _unclosed_solution(nb):
    _set_source(nb, SOLUTION, "def shout(text, times):\n    ### BEGIN SOLUTION\n    return text")


def _solution_markers_in_a_test_cell(nb):
    _set_source(nb, TEST, "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nassert x == 1")


def _unclosed_hidden_tests(nb):
    _set_source(nb, TEST, "assert True\n### BEGIN HIDDEN TESTS\nassert shout('b', 1) == 'B'")


def _hidden_tests_end_first(nb):
    _set_source(nb, TEST, "### END HIDDEN TESTS\nassert True\n### BEGIN HIDDEN TESTS")


def _hidden_tests_in_a_solution_cell(nb):
    _set_source(
        nb,
        SOLUTION,
        "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"
        "### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS",
    )


def _released_checksum(nb):
    _nbgrader(nb, TEST)["checksum"] = "0" * 32


BREAKAGES = {
    "output": (_add_output, 4, "has 1 output(s): clear outputs"),
    "execution count": (_add_execution_count, 4, "has an execution count"),
    "kernel": (_other_kernel, None, "kernel is 'ir', not 'python3'"),
    "no parameters cell": (_no_parameters_tag, None, "has no cell tagged 'parameters'"),
    "two parameters cells": (_two_parameters_tags, None, "has 2 cells tagged 'parameters'"),
    "schema version": (_old_schema, TEST, "Outdated schema version: 2 (expected 3)"),
    "duplicate grade_id": (_duplicate_grade_id, TEST, "'shout' is also used by cell 2"),
    "zero points": (_zero_points, TEST, "graded cell has no points"),
    "missing points": (_missing_points, TEST, "does not have points"),
    "invalid grade_id": (_bad_grade_id, TEST, "does not match"),
    "locked solution": (_locked_solution, SOLUTION, "a solution cell is locked"),
    "unlocked test": (_unlocked_test, TEST, "test cell is not locked"),
    "points on ungraded": (_points_on_ungraded_cell, SOLUTION, "points on a cell that is not"),
    "no solution delimiters": (_solution_without_delimiters, SOLUTION, "lacks ### BEGIN SOLUTION"),
    "unclosed solution": (_unclosed_solution, SOLUTION, "is never closed"),
    "solution in test": (_solution_markers_in_a_test_cell, TEST, "not marked as a solution"),
    "unclosed hidden tests": (_unclosed_hidden_tests, TEST, "### BEGIN HIDDEN TESTS is never"),
    "hidden tests reversed": (_hidden_tests_end_first, TEST, "without a ### BEGIN HIDDEN TESTS"),
    "hidden tests in solution": (_hidden_tests_in_a_solution_cell, SOLUTION, "hidden tests out"),
    "released checksum": (_released_checksum, TEST, "belongs to released copies"),
}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_each_kind_of_broken_notebook_is_reported(tmp_path, breakage):
    break_it, cell_index, message = BREAKAGES[breakage]
    notebook = _clean()
    break_it(notebook)
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(notebook))
    problems = check_notebook(path)
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert message in problem.message
    assert problem.path == path and problem.cell_index == cell_index
    text = str(problem)
    assert text.startswith(f"{path}:")
    if cell_index is not None:
        grade_id = notebook["cells"][cell_index]["metadata"].get("nbgrader", {}).get("grade_id")
        assert f"cell {cell_index}" in text
        assert grade_id is None or grade_id in text


def test_invalid_json_and_invalid_notebooks_are_reported(tmp_path):
    truncated = tmp_path / "truncated.ipynb"
    truncated.write_text(CLEAN.read_text()[:200])
    [problem] = check_notebook(truncated)
    assert "is not valid JSON (line" in problem.message
    notebook = _clean()
    del notebook["cells"][2]["source"]
    invalid = tmp_path / "invalid.ipynb"
    invalid.write_text(json.dumps(notebook))
    [problem] = check_notebook(invalid)
    assert "is not a valid notebook" in problem.message and "source" in problem.message


def test_clean_notebooks_pass():
    fixtures = sorted(FIXTURES.rglob("*.ipynb"))
    assert len(fixtures) >= 7
    assert check_notebooks([FIXTURES]) == []


def test_check_searches_folders_and_skips_checkpoints(tmp_path):
    broken = _clean()
    _add_output(broken)
    (tmp_path / "01_a" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "01_a" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text(json.dumps(broken))
    (tmp_path / "01_a" / "a.ipynb").write_text(json.dumps(broken))
    (tmp_path / "02_b").mkdir()
    (tmp_path / "02_b" / "b.ipynb").write_text(CLEAN.read_text())
    problems = check_notebooks([tmp_path])
    assert [p.path for p in problems] == [tmp_path / "01_a" / "a.ipynb"]
    with pytest.raises(FileNotFoundError, match="neither a notebook nor a folder"):
        check_notebooks([tmp_path / "missing"])


def test_cli_check_exit_status_and_messages(tmp_path, capsys):
    broken = _clean()
    _zero_points(broken)
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(broken))
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: cell 3 (test_shout) graded cell has no points" in out
    assert "1 notebook(s) checked, 1 problem(s)." in out
    assert cli.main(["check", str(CLEAN)]) == 0
    assert cli.main(["check", str(tmp_path / "missing.ipynb")]) == 2


def test_problem_names_notebook_level_problems_without_a_cell():
    assert str(Problem(Path("n.ipynb"), "has no cell tagged 'parameters'")) == (
        "n.ipynb: has no cell tagged 'parameters'"
    )


def test_committed_course_notebooks_are_clean():
    """Guards the real notebooks/ tree (passes with no notebooks)."""
    problems = check_notebooks()
    assert problems == [], "\n".join(map(str, problems))
    notebooks = list(course_paths().notebooks.rglob("*.ipynb"))
    assert all(check_notebook(path) == [] for path in notebooks)


def test_breaking_a_copy_leaves_the_clean_fixture_clean():
    before = _clean()
    broken = copy.deepcopy(before)
    _zero_points(broken)
    assert _clean() == before and check_notebook(CLEAN) == []
