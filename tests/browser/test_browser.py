"""The student's JupyterLab, tested the way a student uses it: in a real browser.

``cnnlab lab --student`` serves a released assignment; headless Debian Chromium (driven by
Playwright, never downloaded) opens the notebook, types one solution, runs all cells in the
``smoke`` profile, checks that the plots are images and that nothing failed, and presses
nbgrader's Validate: success with the right answer, failure with a wrong one. Also checked:
Validate runs with ``grading/nbgrader_config.py``, a missing nbgrader extension fails
clearly, and ``cnnlab lab --instructor`` serves formgrader for the course.

Screenshots and the servers' logs go to ``build/browser/`` (CI keeps them as artifacts).

The assignment is :data:`CASE`, the course's notebook 01: the answer typed in the browser is
the source's solution of one code solution cell (``grade_id``), the wrong answer has its
solution region replaced by ``pass``, and the other solution cells are filled in from the
source before the notebook opens.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from browser.lab_page import (
    CHROMIUM,
    LabCheckError,
    NotebookPage,
    chromium_page,
    write_lab_settings,
)
from browser.lab_server import isolated_jupyter_env, running_lab
from conftest import require_system_tool

from grading.autograde.cells import grade_id, is_solution_cell
from grading.demo import solution_source, wrong_source
from grading.paths import BUILD_ENV, ROOT_ENV, CoursePaths
from grading.student import prepare_student_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
#: Screenshots and logs, kept as CI artifacts.
ARTIFACTS = REPO / "build" / "browser"
#: Written into the student's copy before ``cnnlab lab`` starts, which must not overwrite it.
STUDENT_MARK = "the student's own work"
#: The nbgrader JupyterLab extension (Validate button, assignment list, formgrader menu).
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


@dataclass(frozen=True)
class BrowserCase:
    """The assignment the browser test opens.

    Attributes
    ----------
    course_root : pathlib.Path
        A course root holding ``notebooks/<assignment>/`` (copied to a temporary course).
    assignment : str
        The assignment, e.g. ``"01_cnn_theory"``.
    grade_id : str or None
        The code solution cell typed in the browser; default the first one.
    expected_text : tuple of str
        Text the outputs must show after the run.
    min_images : int
        Images the outputs must show after the run.
    """

    course_root: Path
    assignment: str
    grade_id: str | None = None
    expected_text: tuple[str, ...] = ()
    min_images: int = 1


CASE = BrowserCase(
    REPO,
    "01_cnn_theory",
    grade_id="theory_output_size",
    expected_text=("profile: smoke", "seed_cnn_parameters = 27562"),
    min_images=3,
)


@dataclass(frozen=True)
class StudentCourse:
    """A temporary course with the assignment released and a student's working copy."""

    paths: CoursePaths
    notebook: Path
    cell_index: int
    correct_answer: str
    wrong_answer: str
    env: dict


def _course_env(course_root: Path, jupyter_folder: Path) -> dict:
    env = dict(os.environ)
    env[ROOT_ENV] = str(course_root)
    env.pop(BUILD_ENV, None)
    env = isolated_jupyter_env(env, jupyter_folder)
    write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    return env


def _answers(paths: CoursePaths, notebook: Path) -> dict[str, str]:
    """grade_id -> instructor source of every code solution cell of the source notebook."""
    source = nbformat.read(paths.notebooks / CASE.assignment / notebook.name, as_version=4)
    return {
        grade_id(cell): cell.source
        for cell in source.cells
        if is_solution_cell(cell) and cell.cell_type == "code"
    }


@pytest.fixture(scope="module")
def student_course(tmp_path_factory) -> StudentCourse:
    """The case's assignment released in a temporary course and copied for a student."""
    for old in ARTIFACTS.glob("*"):
        if old.suffix in {".png", ".log"}:
            old.unlink()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path_factory.mktemp("browser-course") / "course"
    shutil.copytree(
        CASE.course_root / "notebooks" / CASE.assignment, root / "notebooks" / CASE.assignment
    )
    shutil.copy2(CASE.course_root / "pyproject.toml", root / "pyproject.toml")
    paths = CoursePaths(root=root, build=root / "build")
    copy = prepare_student_folder(paths, CASE.assignment)  # releases it with nbgrader
    assert copy.released_now and copy.notebooks, copy
    notebook = copy.notebooks[0]
    answers = _answers(paths, notebook)
    target = CASE.grade_id or next(iter(answers))
    student = nbformat.read(notebook, as_version=4)
    index = None
    for position, cell in enumerate(student.cells):
        if grade_id(cell) == target:
            index = position
        elif grade_id(cell) in answers and is_solution_cell(cell):
            cell.source = solution_source(answers[grade_id(cell)])  # done by the student
    assert index is not None, f"no solution cell {target!r} in {notebook}"
    student.metadata["cnnlab_browser_test"] = STUDENT_MARK  # cnnlab lab must keep this
    nbformat.write(student, notebook)
    return StudentCourse(
        paths=paths,
        notebook=notebook,
        cell_index=index,
        correct_answer=solution_source(answers[target]),
        wrong_answer=wrong_source(answers[target]),
        env=_course_env(root, tmp_path_factory.mktemp("jupyter")),
    )


@pytest.fixture(scope="module")
def student_lab(student_course):
    """``cnnlab lab --student --assignment <case> --profile smoke``, running."""
    arguments = ["--student", "--assignment", CASE.assignment, "--profile", "smoke"]
    with running_lab(
        arguments, student_course.env, log_path=ARTIFACTS / "jupyterlab-student.log"
    ) as lab:
        yield lab


def test_cnnlab_lab_opens_the_students_copy(student_lab, student_course):
    relative = student_course.notebook.relative_to(student_course.paths.build / "student")
    assert student_lab.route == f"/lab/tree/{relative.as_posix()}"
    status = student_lab.request("GET", "/api/status", timeout=10)
    assert "started" in status
    # cnnlab lab kept the working copy the student (this test) had already changed
    kept = nbformat.read(student_course.notebook, as_version=4)
    assert kept.metadata.get("cnnlab_browser_test") == STUDENT_MARK


def test_validate_runs_with_the_course_nbgrader_config(student_lab, student_course):
    # grading/nbgrader_config.py sets Execute.kernel_name = "python3" (nbgrader's default
    # is the notebook's own kernel): with it, Validate runs a notebook whose kernel does
    # not exist; without it, Validate fails to start that kernel. The same file sets the
    # 900 s Execute.timeout, so this proves the timeout applies to Validate too.
    probe = student_course.paths.build / "student" / "_config_probe" / "probe.ipynb"
    probe.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("print('validated with the course config')")],
            metadata={"kernelspec": {"name": "no-such-kernel", "display_name": "none"}},
        ),
        probe,
    )
    answer = student_lab.request(
        "POST", "/assignments/validate", {"path": "_config_probe/probe.ipynb"}, timeout=120
    )
    assert answer["success"], (
        "Validate did not use grading/nbgrader_config.py (JUPYTER_CONFIG_PATH from cnnlab "
        f"lab): it could not run the probe notebook:\n{answer['value']}"
    )


def test_student_answers_runs_and_validates(student_lab, student_course, tmp_path):
    require_system_tool(CHROMIUM, "chromium")
    with chromium_page(tmp_path / "chromium-profile") as page:
        notebook = NotebookPage(page, student_lab.url(), student_course.notebook, ARTIFACTS)
        try:
            _answer_run_and_validate(notebook, student_course)
        except BaseException:
            notebook.screenshot("99-failure.png")  # what the page showed when it failed
            raise


def _answer_run_and_validate(notebook: NotebookPage, student_course: StudentCourse) -> None:
    """Open, answer right, run, validate; answer wrong, run, validate; screenshots."""
    index = student_course.cell_index
    notebook.open()
    notebook.screenshot("01-notebook-opened.png")
    notebook.validate_button()
    assert "NotImplementedError" in notebook.cell_source(index)

    # a correct answer: everything runs, the plots are images, Validate succeeds
    notebook.type_into_cell(index, student_course.correct_answer)
    run = notebook.run_all()
    notebook.screenshot("02-after-run.png", scroll_to=notebook.last_image())
    assert run.errors == [], f"error outputs after Run All: {run.errors}"
    assert run.figures_as_text == [], f"figures shown as text, not images: {run.figures_as_text}"
    assert run.broken_images == 0, "an output image did not load"
    assert run.images >= CASE.min_images, (
        f"{run.images} image(s) in the outputs, expected at least {CASE.min_images}"
    )
    for text in CASE.expected_text:
        assert text in run.text, f"{text!r} not in the outputs:\n{run.text}"
    result = notebook.validate()
    notebook.screenshot("03-validate-success.png")
    assert (result.title, result.outcome) == ("Validation Results", "success"), result
    assert "Success! Your notebook passes all the tests." in result.text
    notebook.close_dialog()

    # a wrong answer: its test fails in the run, and Validate reports the failure
    notebook.type_into_cell(index, student_course.wrong_answer)
    run = notebook.run_all()
    notebook.screenshot("04-wrong-answer-after-run.png", scroll_to=notebook.cell(index))
    assert run.errors, "the wrong answer raised no error in Run All"
    result = notebook.validate()
    notebook.screenshot("05-validate-failure.png")
    assert (result.title, result.outcome) == ("Validation Results", "failed"), result
    assert "The following cell failed" in result.text
    notebook.close_dialog()


def test_missing_nbgrader_extension_fails_clearly(student_course, tmp_path):
    require_system_tool(CHROMIUM, "chromium")
    env = _course_env(student_course.paths.root, tmp_path / "jupyter")
    # what `jupyter labextension disable --level=user @jupyter/nbgrader` writes (that
    # command takes seconds), in this test's own JUPYTER_CONFIG_DIR
    page_config = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps({"disabledExtensions": {NBGRADER_LAB_EXTENSION: True}}))
    arguments = ["--student", "--assignment", CASE.assignment]
    log = ARTIFACTS / "jupyterlab-no-extension.log"
    with (
        running_lab(arguments, env, log_path=log) as lab,
        chromium_page(tmp_path / "chromium-profile") as page,
    ):
        notebook = NotebookPage(page, lab.url(), student_course.notebook, ARTIFACTS)
        notebook.open(wait_for_kernel=False)
        with pytest.raises(LabCheckError, match="Validate button is not in the notebook toolbar"):
            notebook.validate_button(timeout_s=5)
        notebook.screenshot("06-extension-disabled.png")


def test_instructor_lab_serves_formgrader_for_the_course(student_course):
    log = ARTIFACTS / "jupyterlab-instructor.log"
    with running_lab(["--instructor"], student_course.env, log_path=log) as lab:
        assert lab.route == "/lab?formgrader=true"
        assignments = lab.request("GET", "/formgrader/api/assignments", timeout=60)
        names = [assignment["name"] for assignment in assignments]
        assert CASE.assignment in names, names
