"""Every course notebook runs headless in the smoke profile; ``cnnlab course`` orchestrates.

:func:`course_smoke_run` runs ``cnnlab run --profile smoke`` over all source notebooks once
per session. Other test modules can reuse it: ``from test_course_smoke import
course_smoke_run`` (the run is cached, so it still happens once). The executed notebooks
go to a temporary folder, or to ``CNNLAB_SMOKE_OUTPUT`` when set (CI uploads that folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grading import cli
from grading.base.gradebook import open_gradebook
from grading.course import run_course
from grading.paths import CoursePaths, course_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runner"
#: An assignment with code exercises and tests (the grader's light fixture course).
EXERCISE_FIXTURE = (
    FIXTURES.parent / "instructor" / "course" / "notebooks" / "01_fixture" / "fixture.ipynb"
)
#: The smoke profile's budget per notebook, in seconds (the whole run stays under 5 min).
SMOKE_SECONDS_PER_NOTEBOOK = 60


@dataclass
class SmokeRun:
    """The outcome of ``cnnlab run --profile smoke`` over the course's notebooks."""

    exit_status: int
    notebooks: list[Path]
    output_dir: Path
    seconds: float
    output: str

    def summary(self) -> dict:
        """``summary.json`` of the run (fails the test if the run wrote none)."""
        path = self.output_dir / "summary.json"
        assert path.is_file(), f"cnnlab run wrote no summary:\n{self.output}"
        return json.loads(path.read_text())


_SMOKE_RUNS: dict[str, SmokeRun] = {}


@pytest.fixture(scope="session")
def course_smoke_run(tmp_path_factory) -> SmokeRun:
    """Run every course notebook in the smoke profile, once per session."""
    if "run" not in _SMOKE_RUNS:
        notebooks = course_paths().source_notebooks()
        # CI keeps the executed notebooks as an artifact: CNNLAB_SMOKE_OUTPUT=build/smoke
        chosen = os.environ.get("CNNLAB_SMOKE_OUTPUT")
        output_dir = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("smoke")
        arguments = ["run", *map(str, notebooks), "--profile", "smoke", "--notebook-timeout", "300"]
        start = time.monotonic()
        buffer = io.StringIO()
        with (
            pytest.MonkeyPatch.context() as patch,
            contextlib.redirect_stdout(buffer),
            contextlib.redirect_stderr(buffer),
        ):
            # the notebooks' checkpoints and tuning results: not into the checkout's build/
            patch.setenv("CNNLAB_BUILD_DIR", str(tmp_path_factory.mktemp("smoke-build")))
            status = cli.main([*arguments, "--output", str(output_dir)])
        _SMOKE_RUNS["run"] = SmokeRun(
            exit_status=status,
            notebooks=notebooks,
            output_dir=output_dir,
            seconds=time.monotonic() - start,
            output=buffer.getvalue(),
        )
    return _SMOKE_RUNS["run"]


@pytest.mark.slow
def test_every_course_notebook_runs_in_the_smoke_profile(course_smoke_run):
    run = course_smoke_run
    assert run.notebooks, "notebooks/ holds no notebooks: the course cannot be smoke-tested"
    assert run.exit_status == 0, run.output
    rows = run.summary()["notebooks"]
    expected = [f"{path.parent.name}/{path.stem}" for path in run.notebooks]
    assert [row["name"] for row in rows] == expected
    for row in rows:
        assert row["status"] == "ok", f"{row['name']}: {row['error'] or row['message']}"
        assert row["profile"] == "smoke"
        assert row["seconds"] < SMOKE_SECONDS_PER_NOTEBOOK, (
            f"{row['name']} took {row['seconds']} s in the smoke profile "
            f"(budget {SMOKE_SECONDS_PER_NOTEBOOK} s)"
        )
    assert (run.output_dir / "summary.md").is_file()


# --------------------------------------------------------------------------- cnnlab course


def _fixture_course(root: Path, *notebooks: str) -> CoursePaths:
    """A course checkout holding copies of fixture notebooks as its assignments."""
    for relative in notebooks:
        source = FIXTURES / relative
        target = root / "notebooks" / source.parent.name
        target.mkdir(parents=True)
        shutil.copy(source, target / source.name)
    (root / "pyproject.toml").write_text('[project]\nname = "fixture-course"\n')
    return CoursePaths(root=root, build=root / "build")


@pytest.fixture
def fixture_course_env(tmp_path, monkeypatch):
    """Point every grading module at a temporary course (``CNNLAB_ROOT``)."""
    monkeypatch.setenv("CNNLAB_ROOT", str(tmp_path))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_course_runs_every_step_on_a_clean_course(fixture_course_env):
    paths = _fixture_course(fixture_course_env, "01_parameters/parameters.ipynb", EXERCISE_FIXTURE)
    # a class graded earlier in the same build folder: the course run must leave it alone
    with open_gradebook(paths=paths):
        pass
    (paths.build / "grades.csv").write_text("student_id,01_parameters\nalice,3\n")
    class_files = {p: p.read_bytes() for p in paths.build.rglob("*") if p.is_file()}
    course = run_course(profile="smoke", paths=paths)
    assert {p: p.read_bytes() for p in class_files} == class_files
    assert not (paths.build / "backups").exists() and not paths.submitted.exists()
    assert course.paths.build == paths.build / "course-check"
    paths = course.paths  # where the course run wrote everything
    assert [step.name for step in course.steps] == [
        "run notebooks",
        "release",
        "demo class",
        "collect submissions",
        "autograde",
        "feedback",
        "export grades",
        "report",
    ]
    for step in course.steps:
        assert step.status == "ok", f"{step.name}: {step.detail}"
    assert course.ok
    assert "2 notebook(s)" in course.steps[0].detail and "smoke" in course.steps[0].detail
    assert "demo submissions of 01_fixture" in course.steps[2].detail
    assert "reference solutions: full marks on autograded cells" in course.steps[4].detail
    assert "; demo class as expected" in course.steps[4].detail
    staged = paths.build / "course" / "reference-solutions" / "reference-solution"
    assert (staged / "01_parameters" / "parameters.ipynb").read_bytes() == (
        paths.notebooks / "01_parameters" / "parameters.ipynb"
    ).read_bytes()
    grades = (paths.build / "grades.csv").read_text().splitlines()
    assert grades[0].startswith("student_id,") and any("reference-solution" in r for r in grades)
    # the file that is not a notebook was kept aside, not dropped
    assert any(paths.quarantine.rglob("*.ipynb*"))
    assert (paths.reports / "report.html").is_file()
    for location in course.locations().values():
        assert location.exists(), location


@pytest.mark.slow
def test_course_command_fails_on_a_broken_notebook_and_runs_the_other_steps(
    fixture_course_env, capsys
):
    _fixture_course(
        fixture_course_env, "01_parameters/parameters.ipynb", "02_failing/failing.ipynb"
    )
    status = cli.main(["course", "--profile", "smoke", "--jobs", "2"])
    captured = capsys.readouterr()
    assert status == 1
    out = captured.out
    run_line = next(line for line in out.splitlines() if "run notebooks" in line)
    assert run_line.split()[0] == "failed"
    assert "02_failing/failing" in run_line and "test_deliberate_failure" in run_line
    steps = ("release", "demo class", "collect submissions", "autograde", "feedback", "report")
    for step in steps:
        line = next(line for line in out.splitlines() if f" {step} " in line)
        assert line.split()[0] in {"ok", "failed", "skipped"}
    build = fixture_course_env / "build" / "course-check"
    assert f"executed notebooks  {build / 'executed'}" in out
    assert f"report              {build / 'reports'}" in out
    assert "failed step(s): run notebooks" in captured.err
    rows = json.loads((build / "executed" / "summary.json").read_text())["notebooks"]
    assert [row["status"] for row in rows] == ["ok", "failed"]


def test_course_refuses_an_unknown_profile():
    with pytest.raises(ValueError, match="Unknown profile"):
        run_course(profile="huge")
