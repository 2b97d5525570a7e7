"""``cnnlab autograde``: grade a class in parallel, sandboxed, resumable.

::

    cnnlab autograde [ASSIGNMENT ...] [--jobs N] [--force] [--db URL] [--scheduler ADDRESS]

grades every submission ``build/submitted/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's
layout, with ``timestamp.txt``) of the named assignments (default: every assignment with
submissions), one job per core by default, with a progress bar and an ETA. With
``--scheduler`` the submissions are graded on a Dask cluster (:mod:`grading.autograde.cluster`;
Dask is imported only then).

The wing in one line each: :mod:`grading.autograde.task` holds the picklable task and result
of one submission and the statuses; :func:`grading.autograde.grade.grade_submission` grades
one submission in the sandbox (its steps are in :mod:`grading.autograde.grade`); this module
runs a class and holds the command line.

Locally the jobs are threads of the grader (each only waits for its submission's sandboxed
process); a cluster runs :func:`grading.autograde.grade.grade_submission` on its workers
instead and hands the results back. Either way the parent process is the only writer of the
master gradebook: it merges each result with :func:`grading.base.record.record_result`,
one transaction per submission including the log row, and writes the autograded notebooks to
``build/autograded/`` for ``cnnlab feedback``. A submission whose log row has the same
content hash is skipped (unless ``--force``), so a grader killed mid-class and started again
grades exactly what is missing, and nothing twice. Scratch folders of a killed run are
removed by the next one.

Each failure mode (an endless loop, a notebook over its time, memory, a crash, deleted or
edited tests, tampering, a file that is not a notebook) is graded as what it is, with its
own status and reason in the log and the report: the table is in ``docs/sandbox.md``
("Statuses").
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from grading.autograde.cluster import connect, worker_tally
from grading.autograde.grade import clean_stale_scratch, grade_submission
from grading.autograde.grading_server import kill_running, start_server
from grading.autograde.sandbox import SandboxLimits, require_sandbox
from grading.autograde.task import (
    TIMESTAMP_FILE,
    UNSAFE_REASON,
    AutogradeSummary,
    GradingResult,
    GradingTask,
    SubmissionOutcome,
    error_result,
    find_submissions,
    load_task,
)
from grading.base.gradebook import normalise_db_url, open_gradebook
from grading.base.nbgrader_driver import load_nbgrader_config
from grading.base.record import graded_submissions, record_result, sync_assignment
from grading.base.template import AssignmentTemplate, build_template
from grading.cores import available_cores
from grading.errors import AutogradeError
from grading.options import add_autograde_arguments as add_arguments
from grading.paths import CoursePaths, course_paths, select_assignments

__all__ = [
    "AutogradeError",
    "add_arguments",
    "autograde",
    "default_jobs",
    "main",
    "submitted_assignments",
]


# --------------------------------------------------------------------------- grading a class


def submitted_assignments(paths: CoursePaths) -> list[str]:
    """The assignments that have submissions in ``build/submitted``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    list of str
        Folder names ``<student>/<assignment>`` holds, sorted (sources or not).
    """
    if not paths.submitted.is_dir():
        return []
    return sorted(
        {
            folder.name
            for student in paths.submitted.iterdir()
            if student.is_dir() and not student.name.startswith(".")
            for folder in student.iterdir()
            if folder.is_dir()
        }
    )


def _assignments_to_grade(
    paths: CoursePaths, assignments: list[str] | None
) -> tuple[list[str], list[str]]:
    """Which assignments to grade, with clear errors for what cannot be.

    Names are checked by :func:`grading.paths.select_assignments`, the course's one
    selector; this adds what grading needs: submissions, and a source for each.

    Returns
    -------
    selected : list of str
        Assignments to grade, in course order.
    warnings : list of str
        Submissions left aside (an assignment without a source folder).

    Raises
    ------
    AutogradeError
        For a missing source or nothing to grade.
    grading.errors.UnknownAssignment
        For a name the course does not have.
    """
    known = paths.assignments() if paths.notebooks.is_dir() else []
    submitted = submitted_assignments(paths)
    if assignments:
        for name in assignments:
            if name not in known and name in submitted:
                raise AutogradeError(
                    f"Missing source for assignment {name!r}: {paths.submitted} has "
                    f"submissions of it, but {paths.notebooks / name} does not exist."
                )
        selected = select_assignments(paths, assignments)
        for name in selected:
            if name not in submitted:
                raise AutogradeError(
                    f"No submissions of {name!r} in {paths.submitted} (expected "
                    f"<student>/{name}/<notebook>.ipynb): the class is empty. Run "
                    "`cnnlab collect` first."
                )
        return selected, []
    warnings = [
        f"submissions of {name!r} left aside: the course has no source {paths.notebooks / name}"
        for name in submitted
        if name not in known
    ]
    selected = [name for name in known if name in submitted]
    if not selected:
        raise AutogradeError(
            f"No submissions to grade in {paths.submitted} (expected "
            "<student>/<assignment>/<notebook>.ipynb): the class is empty. Run "
            "`cnnlab collect` first."
        )
    return selected, warnings


def _answered_cells(task: GradingTask) -> int:
    """How many solution cells of a submission differ from the released stubs.

    A cheap estimate of how long a submission takes to grade (a blank one is fast, one that
    trains every model is slow), used to start the longest first so that no job is left
    running alone at the end of a class.
    """
    answered = 0
    for name in task.template.notebook_names:
        data = task.files.get(f"{name}.ipynb")
        if data is None:
            continue
        try:
            cells = json.loads(data)["cells"]
            stubs = {
                _cell_grade_id(cell): _cell_source(cell)
                for cell in json.loads(task.template.release[name])["cells"]
                if cell["metadata"].get("nbgrader", {}).get("solution") and _cell_grade_id(cell)
            }
            answered += sum(
                1
                for cell in cells
                if isinstance(cell, dict)
                and _cell_grade_id(cell) in stubs
                and _cell_source(cell) != stubs[_cell_grade_id(cell)]
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable notebook is fast to grade: it scores 0
    return answered


def _cell_grade_id(cell: dict) -> str | None:
    return (cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id")


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _graded_already(recorded: dict, assignment: str, student: str, task: GradingTask) -> bool:
    """Whether the log holds a grade (not an error) of exactly this content."""
    before = recorded.get((assignment, student))
    return before is not None and before[0] == task.submission_hash and before[1] != "error"


@contextlib.contextmanager
def _cluster_or(executor, scheduler, scratch_root, summary) -> Iterator:
    """The executor to grade on: a Dask cluster's when a scheduler is given, else as given."""
    if not scheduler:
        yield executor
        return
    with connect(  # Dask is imported only now
        scheduler,
        scratch_root=scratch_root,
        grade=grade_submission,
        failed=error_result,
        clean=clean_stale_scratch,
    ) as cluster:
        summary.warnings.extend(cluster.warnings)
        yield cluster


@contextlib.contextmanager
def _exclusive_run(paths: CoursePaths) -> Iterator[None]:
    paths.build.mkdir(parents=True, exist_ok=True)
    with open(paths.build / ".autograde.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AutogradeError(
                f"Another `cnnlab autograde` is grading this course ({paths.build}); wait for "
                "it to finish."
            ) from None
        yield


def _write_autograded(paths: CoursePaths, task: GradingTask, result: GradingResult) -> None:
    folder = paths.autograded / result.student / result.assignment
    if folder.exists():
        shutil.rmtree(folder)
    if not result.notebooks:
        return
    folder.mkdir(parents=True)
    for name, text in result.notebooks.items():
        (folder / f"{name}.ipynb").write_text(text)
    if task.timestamp:
        (folder / TIMESTAMP_FILE).write_text(task.timestamp + "\n")


def default_jobs() -> int:
    """One job per available core.

    Returns
    -------
    int
        The number of cores this process may use.
    """
    return available_cores()


def _nbgrader_settings(config) -> dict:
    """nbgrader's settings without the course's folders (a job has its own)."""
    keep = {k: v for k, v in config.items() if k not in ("CourseDirectory", "GradingSandbox")}
    return json.loads(json.dumps(keep))


@dataclass(frozen=True)
class _Plan:
    """What one run of :func:`autograde` grades and how, settled before anything is graded."""

    paths: CoursePaths
    db_url: str
    assignments: list[str]
    warnings: list[str]
    students: list[str] | None
    force: bool
    jobs: int
    settings: dict
    limits: SandboxLimits
    profile: str | None
    threads: int
    scratch_root: str | None

    def task(self, assignment: str, student: str, template: AssignmentTemplate) -> GradingTask:
        """One submission's task, graded with this run's settings."""
        return load_task(
            self.paths,
            assignment,
            student,
            template,
            config=self.settings,
            limits=self.limits,
            profile=self.profile,
            threads=self.threads,
            scratch_root=self.scratch_root,
        )


def _plan(
    paths: CoursePaths,
    assignments: list[str] | None,
    *,
    jobs: int | None,
    force: bool,
    db_url: str | None,
    students: list[str] | None,
    limits: SandboxLimits | None,
    profile: str | None,
    scratch_root: str | None,
    scheduler: str | None,
) -> _Plan:
    """Settle a run (:func:`autograde`'s arguments): the gradebook, the limits, the jobs and
    the assignments to grade. The sandbox is required here, before anything is graded,
    unless a cluster grades (its workers check for themselves)."""
    url = normalise_db_url(db_url, paths)
    config = load_nbgrader_config(paths, db_url=url)
    limits = limits or SandboxLimits.from_config(config)
    if not scheduler:  # fail closed before anything is graded
        require_sandbox(limits)
    jobs = max(1, int(jobs or default_jobs()))
    selected, warnings = _assignments_to_grade(paths, assignments)
    if limits.unsafe_no_sandbox:
        warnings.append(UNSAFE_REASON)
    return _Plan(
        paths=paths,
        db_url=url,
        assignments=selected,
        warnings=warnings,
        students=students,
        force=force,
        jobs=jobs,
        settings=_nbgrader_settings(config),
        limits=limits,
        profile=profile,
        threads=max(1, default_jobs() // jobs),
        scratch_root=scratch_root,
    )


def _tasks_to_grade(plan: _Plan, gradebook, summary: AutogradeSummary) -> list[GradingTask]:
    """The submissions to grade, the longest first; those already graded go to ``skipped``.

    Each assignment's definitions are synced into the master gradebook first.
    """
    recorded = graded_submissions(gradebook)
    tasks = []
    for assignment in plan.assignments:
        template = build_template(plan.paths, assignment)
        with tempfile.TemporaryDirectory(prefix="cnnlab-sync-") as folder:
            template_url = template.write_gradebook(Path(folder) / "template.db")
            sync_assignment(gradebook, template_url, assignment)
        for student, _folder in find_submissions(plan.paths, assignment):
            if plan.students and student not in plan.students:
                continue
            task = plan.task(assignment, student, template)
            if not plan.force and _graded_already(recorded, assignment, student, task):
                summary.skipped.append((assignment, student))
                continue
            tasks.append(task)
    if plan.students:
        found = {t.student for t in tasks} | {student for _, student in summary.skipped}
        missing = [student for student in plan.students if student not in found]
        if missing:
            raise AutogradeError(
                f"No submissions of {', '.join(plan.assignments)} by {', '.join(missing)} in "
                f"{plan.paths.submitted}."
            )
    tasks.sort(key=_answered_cells, reverse=True)  # the longest first (a stable sort)
    return tasks


def _record(plan: _Plan, gradebook, task: GradingTask, result: GradingResult, summary) -> bool:
    """Write one result: autograded notebooks, gradebook and summary.

    Returns ``False`` (and counts it as skipped) when another grader recorded the same
    content meanwhile: a submission is written once, never twice.
    """
    if not plan.force and _graded_already(
        graded_submissions(gradebook), task.assignment, task.student, task
    ):
        summary.skipped.append((task.assignment, task.student))
        return False
    if result.status != "error":
        _write_autograded(plan.paths, task, result)
    record_result(gradebook, result)
    summary.graded.append(
        SubmissionOutcome(
            result.assignment,
            result.student,
            result.status,
            tuple(result.reasons),
            result.score,
            result.max_score,
            result.seconds,
            worker=f"{result.worker_host}:{result.worker_pid}",
        )
    )
    return True


def _grade_all(plan: _Plan, tasks, executor, gradebook, summary, progress: bool) -> None:
    """Grade the tasks on the executor (default a pool of ``plan.jobs`` threads), recording
    each result as it comes; on any error or interrupt, cancel the rest and kill the running
    grading programs."""
    bar = tqdm(total=len(tasks), desc="autograde", unit="submission", disable=not progress)
    with contextlib.ExitStack() as stack:
        pool = executor or stack.enter_context(ThreadPoolExecutor(max_workers=plan.jobs))
        futures = {pool.submit(grade_submission, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                task, result = futures.pop(future), future.result()
                if _record(plan, gradebook, task, result, summary):
                    bar.set_postfix_str(f"{result.student}: {result.status}", refresh=False)
                bar.update()
        except BaseException:
            for future in futures:
                future.cancel()
            kill_running()
            raise
        finally:
            bar.close()


def autograde(
    paths: CoursePaths | None = None,
    assignments: list[str] | None = None,
    jobs: int | None = None,
    force: bool = False,
    db_url: str | None = None,
    *,
    students: list[str] | None = None,
    limits: SandboxLimits | None = None,
    profile: str | None = None,
    progress: bool = True,
    scratch_root: str | None = None,
    executor: concurrent.futures.Executor | None = None,
    scheduler: str | None = None,
) -> AutogradeSummary:
    """Grade every submission of the selected assignments (see the module docstring).

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default the one :func:`grading.paths.course_paths` finds.
    assignments : list of str, optional
        Assignments to grade; default every assignment with submissions.
    jobs : int, optional
        Submissions graded at once; default one per core.
    force : bool
        Grade again submissions already graded with the same content.
    db_url : str, optional
        The gradebook (a ``postgresql://`` URL, a SQLAlchemy URL or a SQLite file); default
        ``build/gradebook.db``.
    students : list of str, optional
        Grade only these students' submissions (default everyone's).
    limits : grading.autograde.sandbox.SandboxLimits, optional
        Default: what ``grading/nbgrader_config.py`` sets (``c.Execute.timeout``,
        ``c.GradingSandbox``).
    profile : str, optional
        Force a labcore profile in the kernels (default: ``grade``, chosen by labcore
        because nbgrader sets ``NBGRADER_EXECUTION``; a ``LABCORE_PROFILE`` in the
        grader's own environment is not passed on).
    progress : bool
        Show a progress bar with an ETA on standard error.
    scratch_root : str, optional
        Where the private course folders go (default ``CNNLAB_SCRATCH_DIR``, else the
        system's temporary folder).
    executor : concurrent.futures.Executor, optional
        Where to run :func:`grade_submission` (e.g. a Dask client's ``get_executor()``);
        default a pool of ``jobs`` threads on this machine. It is not shut down.
    scheduler : str, optional
        Grade on a Dask cluster instead (:mod:`grading.autograde.cluster`): the scheduler's address
        (``tcp://HOST:PORT``) or scheduler file. ``jobs`` is then ignored (the workers'
        threads decide) and ``scratch_root`` is a folder on the workers.

    Returns
    -------
    AutogradeSummary
        What was graded, skipped and worth knowing.

    Raises
    ------
    AutogradeError
        Unknown assignment, missing source, empty class, or another grader running;
        :class:`grading.autograde.cluster.ClusterError` (a subclass) when the cluster cannot grade.
    grading.base.gradebook.GradebookError
        If the gradebook cannot be reached.
    """
    if scheduler and executor is not None:
        raise ValueError("autograde: give a Dask scheduler or an executor, not both")
    plan = _plan(
        paths or course_paths(),
        assignments,
        jobs=jobs,
        db_url=db_url,
        force=force,
        students=students,
        limits=limits,
        profile=profile,
        scratch_root=scratch_root,
        scheduler=scheduler,
    )
    summary = AutogradeSummary(db_url=plan.db_url, warnings=list(plan.warnings))
    with (
        _exclusive_run(plan.paths),
        _cluster_or(executor, scheduler, scratch_root, summary) as executor,
        open_gradebook(plan.db_url, plan.paths) as gradebook,
    ):
        clean_stale_scratch(scratch_root)
        if executor is None:  # graded here: the warm server imports nbgrader meanwhile
            start_server()
        tasks = _tasks_to_grade(plan, gradebook, summary)
        _grade_all(plan, tasks, executor, gradebook, summary, progress)
    return summary


# --------------------------------------------------------------------------- command line


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab autograde`` and print a summary.

    Returns 0 when every submission was graded (problems with submissions are grades, not
    errors), 1 when the grader failed on some (run again to retry them). A bad command
    (unknown assignment, empty class, missing source, unreachable database: exit status 2)
    or a source nbgrader rejects (1) is raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    limits = SandboxLimits.from_config(load_nbgrader_config(paths)).replace(
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.submission_timeout,
        memory_limit_mb=args.memory_limit,
        unsafe_no_sandbox=True if getattr(args, "unsafe_no_sandbox", False) else None,
    )
    summary = autograde(
        paths,
        args.assignments,
        jobs=args.jobs,
        force=args.force,
        db_url=args.db,
        students=args.student,
        limits=limits,
        profile=args.profile,
        progress=not args.no_progress,
        scheduler=getattr(args, "scheduler", None),
    )
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"graded {len(summary.graded)}, skipped {len(summary.skipped)} already graded "
        f"(--force grades them again); gradebook {summary.db_url}"
    )
    for outcome in summary.graded:
        line = (
            f"  {outcome.assignment}/{outcome.student}: {outcome.score:g}/{outcome.max_score:g} "
            f"{outcome.status} ({outcome.seconds:.0f} s)"
        )
        if getattr(args, "scheduler", None):
            line += f" on {outcome.worker}"
        print(line)
        for reason in outcome.reasons:
            print(f"      {reason}")
    if getattr(args, "scheduler", None) and summary.graded:
        print("graded by:")
        for worker, count, seconds in worker_tally(summary.graded):
            print(f"  {worker}: {count} submission(s), {seconds:.0f} s")
    if summary.errors:
        print(
            f"{len(summary.errors)} submission(s) could not be graded (status error); run "
            "`cnnlab autograde` again to retry them.",
            file=sys.stderr,
        )
        return 1
    return 0
