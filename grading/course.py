"""``cnnlab course``: the whole course end to end, in one command.

The steps, in order, each a call to the Python API of one ``grading`` module:

1. run every source notebook headless (:func:`grading.runner.run.run_notebooks`, profile
   ``grade`` unless told otherwise);
2. release the student versions (:func:`grading.release.release_assignments`);
3. write a small demo class for the first assignment (:func:`grading.demo.make_class`: a
   correct, a partly wrong and a blank submission, one whose tests were deleted, one that
   tampers with the tests, and a file that is not a notebook);
4. collect the reference solutions (the source notebooks, as student
   ``reference-solution``), the demo class and any submissions given
   (:func:`grading.collect.collect_submissions`);
5. autograde everything (:func:`grading.autograde.run.autograde`) and check that the reference
   solutions score full marks and the demo class scores what it should;
6. write feedback, export the grades and write the report
   (:func:`grading.feedback.generate_feedback`, :func:`grading.export.export_grades`,
   :func:`grading.report.write_report`).

A step that needs an earlier one (grading needs the release and the submissions; feedback,
export and report need the grades) is skipped, with the reason, when that one failed. The
other steps still run, and the command exits non-zero if any step failed.

Everything goes into a course build of its own, ``build/course-check/`` (executed notebooks,
release, submissions, its own gradebook, grades, feedback and report), so the demo class and
the student ``reference-solution`` never appear in the gradebook, the grades CSV or the report
of the class graded in ``build/``.

Everything works offline: data come from the data directory or the mirror
(``LABCORE_DATA_MIRROR``), the gradebook is SQLite, grading runs in local processes.
Grading uses nbgrader's ``grade`` profile, or ``smoke`` when the course runs in ``smoke``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grading import collect, export, feedback, release, report
from grading import demo as demo_class
from grading.autograde import run as autograde
from grading.errors import BadInput
from grading.options import add_course_arguments as add_arguments
from grading.paths import CoursePaths, course_paths
from grading.runner import run as runner
from labcore.profile import PROFILE_NAMES

__all__ = [
    "DEMO_KINDS",
    "CourseRun",
    "StepResult",
    "add_arguments",
    "course_check_paths",
    "main",
    "run_course",
    "stage_reference_solutions",
]

STEP_OK, STEP_FAILED, STEP_SKIPPED = "ok", "failed", "skipped"
#: The course run's own build folder, inside the class's build folder.
CHECK_BUILD = "course-check"
#: The student id under which the reference solutions are collected and graded.
REFERENCE_STUDENT = "reference-solution"
#: The submissions of the demo class (see :data:`grading.demo.KINDS`).
DEMO_KINDS = (
    "correct",
    "partly_wrong",
    "blank",
    "deleted_tests",
    "tamper_custom_exc",
    "not_a_notebook",
)


@dataclass
class StepResult:
    """The outcome of one step of ``cnnlab course``.

    Attributes
    ----------
    name : str
        What the step does, e.g. ``"release"``.
    status : str
        ``"ok"``, ``"failed"`` or ``"skipped"``.
    detail : str
        What it did, why it failed, or why it was skipped.
    seconds : float
        How long it took.
    """

    name: str
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
            "quarantine": paths.quarantine,
            "autograded": paths.autograded,
            "gradebook": paths.build / "gradebook.db",
            "feedback": paths.feedback,
            "grades": paths.build / "grades.csv",
            "report": paths.reports / "report.html",
        }


def course_check_paths(paths: CoursePaths) -> CoursePaths:
    """The course build ``cnnlab course`` works in, apart from the class's.

    Parameters
    ----------
    paths : CoursePaths
        The course (its ``build`` is the class's).

    Returns
    -------
    CoursePaths
        The same course with ``build`` at ``<build>/course-check``: its own release,
        submissions, gradebook, grades and report.
    """
    if paths.build.name == CHECK_BUILD:
        return paths
    return CoursePaths(root=paths.root, build=paths.build / CHECK_BUILD)


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


def _expected_totals(paths: CoursePaths, demo) -> tuple[list[str], str]:
    """Mismatches between the gradebook and what the reference and demo students should get,
    and what of the reference solutions awaits manual grading (``""`` when nothing)."""
    from grading.base.gradebook import awaiting_manual_grading, cell_scores

    scores = cell_scores(paths=paths)
    manual = awaiting_manual_grading(scores)
    manual = manual[manual["student"] == REFERENCE_STUDENT]
    awaiting = (
        f"; {manual['points'].sum():g} point(s) await manual grading ("  # as cnnlab export
        + ", ".join(f"{row.assignment} {row.points:g}" for row in manual.itertuples())
        + ")"
        if not manual.empty
        else ""
    )
    # autograded: cells nbgrader scored itself (a manually graded answer has no auto score)
    autograded = scores[(scores["cell_type"] == "code") & scores["auto_score"].notna()]
    problems = []
    reference = autograded[autograded["student"] == REFERENCE_STUDENT]
    for assignment, cells in reference.groupby("assignment"):
        if cells["score"].sum() != cells["max_score"].sum():
            problems.append(
                f"the reference solution of {assignment} scored {cells['score'].sum():g} of "
                f"{cells['max_score'].sum():g} autograded points"
            )
    if demo is not None:
        totals = autograded[autograded["assignment"] == demo.assignment].groupby("student")
        totals = totals["score"].sum()
        for submission in demo.submissions:
            got = totals.get(submission.student)
            if got is not None and got != submission.expected_score:
                problems.append(
                    f"demo student {submission.student} scored {got:g}, expected "
                    f"{submission.expected_score:g}"
                )
    return problems, awaiting


def run_course(
    profile: str = "grade",
    jobs: int = 1,
    timeout: float | None = None,
    submissions: str | Path | None = None,
    demo: bool = True,
    paths: CoursePaths | None = None,
) -> CourseRun:
    """Run the course end to end: notebooks, release, grading, feedback, report.

    Parameters
    ----------
    profile : {"smoke", "grade", "full"}, default="grade"
        Profile the notebooks run in.
    jobs : int, default=1
        Notebooks executed at the same time (grading always uses every core).
    timeout : float, optional
        Seconds one notebook may run (see :func:`grading.runner.run.run_notebooks`).
    submissions : str or pathlib.Path, optional
        A folder (or LMS zip) of real submissions to collect and grade as well.
    demo : bool, default=True
        Write and grade the demo class.
    paths : CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`. Everything is written to
        its :func:`course_check_paths`, never to the class's build folder.

    Returns
    -------
    CourseRun
        The outcome of every step; nothing is raised for a failing step. Its ``paths``
        are the course check's.
    """
    if profile not in PROFILE_NAMES:
        raise BadInput(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    paths = course_check_paths(paths or course_paths())
    steps: list[StepResult] = []
    made: dict[str, object] = {"demo": None}

    def step(name: str, call: Callable[[], str], needs: tuple[str, ...] = ()) -> None:
        not_done = [s for s in steps if s.name in needs and s.status != STEP_OK]
        if not_done:
            reason = "; ".join(
                f"needs {s.name}, which {'was skipped' if s.status == STEP_SKIPPED else 'failed'}"
                for s in not_done
            )
            steps.append(StepResult(name, STEP_SKIPPED, reason))
            return
        start = time.monotonic()
        try:
            detail, status = call(), STEP_OK
        except Exception as error:  # report it and go on with the next step
            detail, status = f"{type(error).__name__}: {error}", STEP_FAILED
        steps.append(StepResult(name, status, detail, time.monotonic() - start))

    def run_notebooks() -> str:
        summary = runner.run_notebooks(profile=profile, jobs=jobs, timeout=timeout, paths=paths)
        done = f"{len(summary.results)} notebook(s) in {summary.seconds:.0f} s, profile {profile}"
        if not summary.ok:
            failed = "; ".join(f"{r.name}: {r.problem()}" for r in summary.failures)
            raise RuntimeError(f"{len(summary.failures)} failed ({failed}); {done}")
        return done

    def release_all() -> str:
        released = release.release_assignments(paths)
        return f"{len(released)} assignment(s) into {paths.release}, no leaks"

    def write_demo() -> str:
        if not demo:
            return "not asked for (--no-demo)"
        folder = paths.build / "course" / "demo-submissions"
        shutil.rmtree(folder, ignore_errors=True)
        for assignment in paths.assignments():
            try:
                made["demo"] = demo_class.make_class(paths, assignment, DEMO_KINDS, folder=folder)
            except ValueError:  # no code exercise followed by tests in this assignment
                continue
            return f"{len(DEMO_KINDS)} demo submissions of {assignment} in {folder}"
        return "no assignment has a code exercise followed by tests; no demo class"

    def collect_all() -> str:
        sources = [stage_reference_solutions(paths)]
        if made["demo"] is not None:
            sources.append(made["demo"].folder)
        if submissions is not None:
            sources.append(Path(submissions))
        return "; ".join(str(collect.collect_submissions(source, paths)) for source in sources)

    def grade() -> str:
        summary = autograde.autograde(paths, profile="smoke" if profile == "smoke" else None)
        if summary.errors:
            problems = "; ".join(f"{o.student}/{o.assignment}: {o.reasons}" for o in summary.errors)
            raise RuntimeError(f"{len(summary.errors)} submission(s) not graded: {problems}")
        problems, awaiting = _expected_totals(paths, made["demo"])
        if problems:
            raise RuntimeError("; ".join(problems))
        checked = f"reference solutions: full marks on autograded cells{awaiting}" + (
            "; demo class as expected" if made["demo"] is not None else ""
        )
        return (
            f"{len(summary.graded)} graded, {len(summary.skipped)} unchanged since last time; "
            f"{checked}"
        )

    def write_feedback() -> str:
        return f"{len(feedback.generate_feedback(paths))} feedback file(s)"

    step("run notebooks", run_notebooks)
    step("release", release_all)
    step("demo class", write_demo, ("release",))
    step("collect submissions", collect_all)
    step("autograde", grade, ("release", "collect submissions"))
    step("feedback", write_feedback, ("autograde",))
    step("export grades", lambda: str(export.export_grades(paths)), ("autograde",))
    step("report", lambda: str(report.write_report(paths)), ("autograde",))
    return CourseRun(steps=steps, paths=paths)


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab course`` and print each step and where the results are.

    Returns 0 when no step failed, 1 otherwise.
    """
    from labcore.datastore import data_dir, mirror_dir

    print(f"data: {data_dir()}; mirror: {mirror_dir() or '(LABCORE_DATA_MIRROR unset)'}")
    course = run_course(
        profile=args.profile,
        jobs=args.jobs,
        timeout=args.notebook_timeout,
        submissions=args.submissions,
        demo=not args.no_demo,
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
