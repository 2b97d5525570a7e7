"""``cnnlab course``: the whole course end to end, in one command.

The steps, in order, each a call to the Python API of one ``grading`` module:

1. run every source notebook headless (:func:`grading.execute.run_notebooks`, profile
   ``grade`` unless told otherwise);
2. release the student versions (``grading.release.release_assignments``);
3. collect the reference solutions (the source notebooks, as student
   ``reference-solution``) and the demo submissions, when a folder of them is given
   (``grading.collect.collect_submissions``);
4. autograde the reference solutions and the submissions (``grading.autograde.autograde``);
5. write feedback (``grading.feedback.generate_feedback``);
6. export the grades (``grading.export.export_grades``);
7. write the report (``grading.report.write_report``).

A step whose module does not exist (yet) is skipped and said so; it does not fail the run.
Steps 4 to 7 need their inputs: autograding needs the release and the submissions;
feedback, export and report need the grades. When those did not succeed, the step is
skipped and says why. The other steps run even when an earlier one failed, and the command
exits non-zero if any failed.

Everything works offline: data come from the data directory or the mirror
(``LABCORE_DATA_MIRROR``), the gradebook is SQLite, grading runs in local processes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grading.paths import CoursePaths, course_paths
from labcore.profile import PROFILE_NAMES

__all__ = [
    "CourseRun",
    "StepResult",
    "add_arguments",
    "main",
    "run_course",
    "stage_reference_solutions",
]

STEP_OK, STEP_FAILED, STEP_SKIPPED = "ok", "failed", "skipped"
#: The student id under which the reference solutions are collected and graded.
REFERENCE_STUDENT = "reference-solution"


@dataclass
class StepResult:
    """The outcome of one step of ``cnnlab course``.

    Attributes
    ----------
    name : str
        What the step does, e.g. ``"release"``.
    module : str
        The ``grading`` module that does it.
    status : str
        ``"ok"``, ``"failed"`` or ``"skipped"``.
    detail : str
        What it did, why it failed, or why it was skipped.
    seconds : float
        How long it took.
    """

    name: str
    module: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class CourseRun:
    """Every step of one ``cnnlab course`` run.

    Attributes
    ----------
    steps : list of StepResult
        In the order they ran.
    paths : CoursePaths
        The course's folders (where the results are).
    """

    steps: list[StepResult]
    paths: CoursePaths

    @property
    def ok(self) -> bool:
        """Whether no step failed (skipped steps are not failures)."""
        return all(step.status != STEP_FAILED for step in self.steps)

    def locations(self) -> dict[str, Path]:
        """Where each result lives.

        Returns
        -------
        dict
            A label (``"executed notebooks"``, ``"run summary"``, ``"release"``, ...) for
            each folder or file.
        """
        paths = self.paths
        return {
            "executed notebooks": paths.executed,
            "run summary": paths.executed / "summary.md",
            "release": paths.release,
            "submissions": paths.submitted,
            "grades": paths.autograded,
            "gradebook": paths.build / "gradebook.db",
            "feedback": paths.feedback,
            "report": paths.reports,
        }


def _summarise(outcome) -> str:
    """A short line for what a step returned."""
    if outcome is None:
        return "done"
    if isinstance(outcome, list | tuple | dict | set):
        return f"{len(outcome)} result(s)"
    text = str(outcome).replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def _step(name: str, module: str, function: str, call: Callable) -> StepResult:
    """Run ``call(module.function)``; skip when the module does not exist."""
    if importlib.util.find_spec(module) is None:
        return StepResult(name, module, STEP_SKIPPED, f"{module} does not exist yet")
    start = time.monotonic()
    try:
        detail = call(getattr(importlib.import_module(module), function))
        status = STEP_OK
    except Exception as error:  # report it and go on with the next step
        detail, status = f"{type(error).__name__}: {error}", STEP_FAILED
    if status == STEP_OK:
        detail = _summarise(detail)
    return StepResult(name, module, status, detail, time.monotonic() - start)


def stage_reference_solutions(paths: CoursePaths) -> Path:
    """Lay out the source notebooks as the submission of a student ``reference-solution``.

    Autograding them proves that every solution passes every test, hidden ones included.

    Parameters
    ----------
    paths : CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        ``build/course/reference-solutions``, holding
        ``reference-solution/<assignment>/<notebook>.ipynb`` (replaced on every call).
    """
    staging = paths.build / "course" / "reference-solutions"
    shutil.rmtree(staging, ignore_errors=True)
    for notebook in paths.source_notebooks():
        target = staging / REFERENCE_STUDENT / notebook.parent.name / notebook.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, target)
    return staging


def run_course(
    profile: str = "grade",
    jobs: int = 1,
    timeout: float | None = None,
    demo_submissions: str | Path | None = None,
    paths: CoursePaths | None = None,
) -> CourseRun:
    """Run the course end to end: notebooks, release, grading, feedback, report.

    Parameters
    ----------
    profile : {"smoke", "grade", "full"}, default="grade"
        Profile the notebooks run in.
    jobs : int, default=1
        Notebooks executed at the same time.
    timeout : float, optional
        Seconds one notebook may run (see :func:`grading.execute.run_notebooks`).
    demo_submissions : str or pathlib.Path, optional
        A folder (or LMS zip) of demo submissions to collect and grade; without it only the
        reference solutions are graded.
    paths : CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.

    Returns
    -------
    CourseRun
        The outcome of every step; nothing is raised for a failing step.
    """
    if profile not in PROFILE_NAMES:
        raise ValueError(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    paths = paths or course_paths()

    def run_notebooks(run):
        summary = run(profile=profile, jobs=jobs, timeout=timeout, paths=paths)
        done = f"{len(summary.results)} notebook(s) in {summary.seconds:.0f} s, profile {profile}"
        if not summary.ok:
            failed = "; ".join(f"{r.name}: {r.problem()}" for r in summary.failures)
            raise RuntimeError(f"{len(summary.failures)} failed ({failed}); {done}")
        return done

    def collect(collect_submissions):
        sources = [stage_reference_solutions(paths)]
        sources += [Path(demo_submissions)] if demo_submissions is not None else []
        return "; ".join(str(collect_submissions(source, paths)) for source in sources)

    def grade(autograde):
        summary = autograde(paths)
        if summary.errors:
            problems = "; ".join(f"{o.student}/{o.assignment}: {o.reasons}" for o in summary.errors)
            raise RuntimeError(f"{len(summary.errors)} submission(s) not graded: {problems}")
        return f"{len(summary.graded)} graded, {len(summary.skipped)} unchanged since last time"

    steps: list[StepResult] = []

    def step(name, module, function, call, needs=()):
        not_done = [s for s in steps if s.name in needs and s.status != STEP_OK]
        if not_done:
            reason = "; ".join(
                f"needs {s.name}, which {'was skipped' if s.status == STEP_SKIPPED else 'failed'}"
                for s in not_done
            )
            steps.append(StepResult(name, module, STEP_SKIPPED, reason))
        else:
            steps.append(_step(name, module, function, call))

    def with_paths(function):
        return function(paths)

    graded = ["autograde"]
    step("run notebooks", "grading.execute", "run_notebooks", run_notebooks)
    step("release", "grading.release", "release_assignments", with_paths)
    step("collect submissions", "grading.collect", "collect_submissions", collect)
    step("autograde", "grading.autograde", "autograde", grade, ["release", "collect submissions"])
    step("feedback", "grading.feedback", "generate_feedback", with_paths, graded)
    step("export grades", "grading.export", "export_grades", with_paths, graded)
    step("report", "grading.report", "write_report", with_paths, graded)
    return CourseRun(steps=steps, paths=paths)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab course``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--profile", choices=PROFILE_NAMES, default="grade", help="run profile (default: grade)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default: 1)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per notebook (default: no limit)"
    )
    parser.add_argument(
        "--demo-submissions", default=None, help="folder or LMS zip of demo submissions to grade"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab course`` and print each step and where the results are.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (see :func:`add_arguments`).

    Returns
    -------
    int
        0 when no step failed, 1 otherwise.
    """
    from labcore import data

    print(f"data: {data.data_dir()}; mirror: {data.mirror_dir() or '(LABCORE_DATA_MIRROR unset)'}")
    course = run_course(
        profile=args.profile,
        jobs=args.jobs,
        timeout=args.timeout,
        demo_submissions=args.demo_submissions,
    )
    print("\ncnnlab course:")
    for step in course.steps:
        print(f"  {step.status:8} {step.name:25} {step.detail}")
    print("\nwhere everything is:")
    for label, location in course.locations().items():
        note = "" if location.exists() else "  (not created)"
        print(f"  {label:19} {location}{note}")
    if not course.ok:
        failed = [step.name for step in course.steps if step.status == STEP_FAILED]
        print(f"\ncnnlab course: failed step(s): {', '.join(failed)}", file=sys.stderr)
    return 0 if course.ok else 1
