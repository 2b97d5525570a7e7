"""``cnnlab autograde``: grade a class in parallel, sandboxed, resumable.

::

    cnnlab autograde [ASSIGNMENT ...] [--jobs N] [--force] [--db URL] [--scheduler ADDRESS]

grades every submission ``build/submitted/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's
layout, with ``timestamp.txt``) of the named assignments (default: every assignment with
submissions), one job per core by default, with a progress bar and an ETA. With
``--scheduler`` the submissions are graded on a Dask cluster (:mod:`grading.autograde.cluster`;
Dask is
imported only then).

How one submission is graded (:func:`grade_submission`, a pure function of a picklable
:class:`GradingTask` that returns a picklable :class:`GradingResult`, so a cluster can run it
on a machine without the course's files):

1. :mod:`grading.autograde.integrity` rebuilds each notebook on the source's skeleton (tests and
locked
   cells from the source, the student's answers in the solution cells; every repair is a
   reason) and scans the student's code for tampering;
2. a private course folder is made in a scratch directory: the restored notebooks as the
   submission, the assignment's files, and a private SQLite gradebook holding the
   assignment's definitions (from :class:`grading.base.template.AssignmentTemplate`, which
   nbgrader's ``generate_assignment`` made once for the whole run);
3. nbgrader's ``autograde`` runs on it in a grading program forked from a warm server
   (:mod:`grading.autograde.grading_server`, :mod:`grading.autograde.grade_in_sandbox`), outside
   the sandbox;
   only the kernel runs in it (:mod:`grading.autograde.sandbox`: own namespaces, an unprivileged
   user, wall-clock limit, per-cell timeout, memory cap, no network), and each test cell
   is scored outside the kernel (:mod:`grading.autograde.scoring`, :mod:`grading.autograde.probe`);
4. the grades come from the private gradebook (or, when the sandbox was killed at its limit,
   from the cells recorded as they ran, scored with nbgrader's own rule), then the tamper
   policy applies (:mod:`grading.autograde.integrity`): test cells after a tampering finding, and
   test
   cells that did not run to their end, score 0 and are marked for review.

Locally the jobs are threads of the grader (each only waits for its submission's sandboxed
process); a cluster runs :func:`grade_submission` on its workers instead and hands the
results back. Either way the parent process is the only writer of the master gradebook: it
merges each result with
:func:`grading.base.gradebook.record_result`, one transaction per submission including the log
row, and writes the autograded notebooks to ``build/autograded/`` for ``cnnlab feedback``.
A submission whose log row has the same content hash is skipped (unless ``--force``), so a
grader killed mid-class and started again grades exactly what is missing, and nothing twice.
Scratch folders of a killed run are removed by the next one.

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
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grading.autograde.sandbox import KILL_GRACE_S, SandboxLimits
from grading.base.template import AssignmentTemplate
from grading.errors import AutogradeError
from grading.options import add_autograde_arguments as add_arguments
from grading.paths import CoursePaths, course_paths, select_assignments
from grading.processes import available_cores
from labcore.profile import PROFILE_ENV

__all__ = [
    "REASON_CODES",
    "SCRATCH_ENV",
    "AutogradeError",
    "AutogradeSummary",
    "CellResult",
    "GradingResult",
    "GradingTask",
    "SubmissionOutcome",
    "add_arguments",
    "autograde",
    "clean_stale_scratch",
    "default_jobs",
    "error_result",
    "find_submissions",
    "grade_submission",
    "load_task",
    "main",
    "status_of",
    "submission_hash",
    "submitted_assignments",
]

#: Reason codes, most serious first; a submission's status is its most serious reason's
#: (``"tampering"`` gives status ``"tampered"``), ``"ok"`` without reasons.
REASON_CODES = (
    "error",
    "invalid",
    "tampering",
    "memory",
    "processes",
    "file-size",
    "disk",
    "timeout",
    "crashed",
    "missing",
    "restored",
    "exit",
    "unsafe",
)
#: The reason every result graded without the sandbox carries (``--unsafe-no-sandbox``).
UNSAFE_REASON = (
    "unsafe: graded without the sandbox (--unsafe-no-sandbox, for development only): the "
    "kernel could read and change the grader's files"
)
_STATUS = {code: code for code in REASON_CODES} | {"tampering": "tampered"}
TIMESTAMP_FILE = "timestamp.txt"


def status_of(reasons: list[str]) -> str:
    """The status a list of reasons gives a submission.

    Parameters
    ----------
    reasons : list of str
        ``"code: message"`` lines.

    Returns
    -------
    str
        ``"ok"`` without reasons; otherwise the most serious code's status (order of
        :data:`REASON_CODES`; ``"tampering"`` -> ``"tampered"``).
    """
    codes = {reason.split(":", 1)[0].strip() for reason in reasons}
    for code in REASON_CODES:
        if code in codes:
            return _STATUS[code]
    return "ok"


# --------------------------------------------------------------------------- tasks and results


@dataclass(frozen=True)
class GradingTask:
    """Everything needed to grade one submission, and nothing that lives on a disk.

    Attributes
    ----------
    assignment, student : str
        Which submission.
    files : dict
        The submission folder's files, relative path -> content (the notebooks,
        ``timestamp.txt``, anything else the student handed in).
    submission_hash : str
        SHA-256 of the files (:func:`submission_hash`).
    template : grading.base.template.AssignmentTemplate
        The assignment as nbgrader sees it.
    config : dict
        nbgrader's settings from ``grading/nbgrader_config.py`` (JSON-friendly).
    limits : grading.autograde.sandbox.SandboxLimits
        The sandbox's limits.
    profile : str or None
        A labcore profile to force (``LABCORE_PROFILE``); ``None`` lets nbgrader's
        ``NBGRADER_EXECUTION`` select ``grade``.
    threads : int or None
        Threads the kernel's numerical libraries may use (``OMP_NUM_THREADS``, ...).
    scratch_root : str or None
        Where to make the scratch folder; default the system's temporary folder.
    """

    assignment: str
    student: str
    files: dict[str, bytes]
    submission_hash: str
    template: AssignmentTemplate
    config: dict
    limits: SandboxLimits
    profile: str | None = None
    threads: int | None = None
    scratch_root: str | None = None

    @property
    def timestamp(self) -> str | None:
        """The submission's ``timestamp.txt``, stripped (``None`` when absent).

        Returns
        -------
        str or None
            nbgrader's timestamp text.
        """
        raw = self.files.get(TIMESTAMP_FILE)
        text = raw.decode("utf-8", "replace").strip() if raw is not None else ""
        return text or None


@dataclass(frozen=True)
class CellResult:
    """The grade of one graded cell.

    Attributes
    ----------
    notebook, grade_id : str
        Which cell.
    score : float or None
        The autograder's score (``None``: needs a human, e.g. a written answer).
    max_score : float
        Its points.
    needs_review : bool
        Whether the grader asks an instructor to look (tampering).
    cell_type : str
        ``"code"`` or ``"markdown"``.
    """

    notebook: str
    grade_id: str
    score: float | None
    max_score: float
    needs_review: bool = False
    cell_type: str = "code"


@dataclass
class GradingResult:
    """What grading one submission produced (everything the gradebook and feedback need).

    Attributes
    ----------
    assignment, student, submission_hash : str
        Which submission, and the hash of its files.
    timestamp : str or None
        Its ``timestamp.txt``.
    status : str
        See :func:`status_of`.
    reasons : list of str
        ``"code: message"`` lines.
    cells : list of CellResult
        One per graded cell of every notebook of the assignment.
    comments : list of tuple
        ``(notebook, grade_id, auto_comment)`` per solution cell (nbgrader's "No response.").
    notebooks : dict
        Notebook name -> the autograded notebook (JSON text), for feedback.
    flagged_notebooks : list of str
        Notebooks to flag for an instructor in nbgrader (tampering).
    seconds : float
        Wall-clock seconds spent.
    worker_host : str
        Host name of the grading process.
    worker_pid : int
        Its process id.
    network_isolated : bool or None
        Whether the sandbox had no network (``None``: nothing ran).
    """

    assignment: str
    student: str
    submission_hash: str
    timestamp: str | None
    status: str = "ok"
    reasons: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    comments: list[tuple[str, str, str | None]] = field(default_factory=list)
    notebooks: dict[str, str] = field(default_factory=dict)
    flagged_notebooks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    worker_host: str = ""
    worker_pid: int = 0
    network_isolated: bool | None = None

    @property
    def score(self) -> float:
        """The autograded total (cells a human must grade count 0).

        Returns
        -------
        float
            Sum of the cells' scores.
        """
        return float(sum(cell.score or 0.0 for cell in self.cells))

    @property
    def max_score(self) -> float:
        """The assignment's total points.

        Returns
        -------
        float
            Sum of the cells' points.
        """
        return float(sum(cell.max_score for cell in self.cells))


@dataclass(frozen=True)
class SubmissionOutcome:
    """One line of a run's summary.

    Attributes
    ----------
    assignment, student, status : str
        Which submission and how it went.
    reasons : tuple of str
        Why, when not ``"ok"``.
    score, max_score : float
        The autograded total and the maximum.
    seconds : float
        Time spent.
    worker : str
        Who graded it, as the gradebook's log says (``host:pid``; on a Dask cluster the
        worker's host and address, :func:`grading.autograde.cluster.worker_label`).
    """

    assignment: str
    student: str
    status: str
    reasons: tuple[str, ...]
    score: float
    max_score: float
    seconds: float
    worker: str = ""


@dataclass
class AutogradeSummary:
    """What a run of :func:`autograde` did.

    Attributes
    ----------
    db_url : str
        The gradebook written to.
    graded : list of SubmissionOutcome
        Every submission graded in this run.
    skipped : list of tuple
        ``(assignment, student)`` already graded with the same content.
    warnings : list of str
        Things to know (network not isolated, submissions without a source).
    """

    db_url: str
    graded: list[SubmissionOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[SubmissionOutcome]:
        """Submissions the grader failed on (retried by the next run).

        Returns
        -------
        list of SubmissionOutcome
            Those with status ``"error"``.
        """
        return [outcome for outcome in self.graded if outcome.status == "error"]


# --------------------------------------------------------------------------- submissions


def submission_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over a submission's files (names and contents, in name order).

    Parameters
    ----------
    files : dict
        Relative path -> content.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def find_submissions(paths: CoursePaths, assignment: str) -> list[tuple[str, Path]]:
    """The submissions of one assignment.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment.

    Returns
    -------
    list of tuple
        ``(student, folder)`` for every ``build/submitted/<student>/<assignment>/``, sorted.
    """
    if not paths.submitted.is_dir():
        return []
    return [
        (student.name, student / assignment)
        for student in sorted(paths.submitted.iterdir())
        if student.is_dir() and not student.name.startswith(".") and (student / assignment).is_dir()
    ]


def _read_files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }


def _nbgrader_settings(config) -> dict:
    """nbgrader's settings without the course's folders (a job has its own)."""
    keep = {k: v for k, v in config.items() if k not in ("CourseDirectory", "GradingSandbox")}
    return json.loads(json.dumps(keep))


def load_task(
    paths: CoursePaths,
    assignment: str,
    student: str,
    template: AssignmentTemplate,
    *,
    config: dict,
    limits: SandboxLimits,
    profile: str | None = None,
    threads: int | None = None,
    scratch_root: str | None = None,
) -> GradingTask:
    """Read one submission from ``build/submitted`` into a task.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment, student : str
        Which submission.
    template : grading.base.template.AssignmentTemplate
        The assignment.
    config : dict
        nbgrader's settings (JSON-friendly).
    limits : grading.autograde.sandbox.SandboxLimits
        The sandbox's limits.
    profile, threads, scratch_root
        See :class:`GradingTask`.

    Returns
    -------
    GradingTask
        Ready for :func:`grade_submission`.
    """
    files = _read_files(paths.submitted / student / assignment)
    return GradingTask(
        assignment=assignment,
        student=student,
        files=files,
        submission_hash=submission_hash(files),
        template=template,
        config=config,
        limits=limits,
        profile=profile,
        threads=threads,
        scratch_root=scratch_root,
    )


# --------------------------------------------------------------------------- scratch folders


#: Environment variable naming the folder for the submissions' scratch course folders.
SCRATCH_ENV = "CNNLAB_SCRATCH_DIR"


def _scratch_root(explicit: str | None) -> Path:
    explicit = explicit or os.environ.get(SCRATCH_ENV)
    root = (
        Path(explicit)
        if explicit
        else Path(tempfile.gettempdir()) / f"cnnlab-grading-{os.geteuid()}"
    )
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # the sandbox user may pass through, not look around
    return root


@contextlib.contextmanager
def _job_folder(root: Path, assignment: str, student: str) -> Iterator[Path]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{assignment}-{student}")[:80]
    job = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=root))
    with open(job / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield job
        finally:
            shutil.rmtree(job, ignore_errors=True)


def clean_stale_scratch(scratch_root: str | None = None, min_age_s: float = 300.0) -> int:
    """Remove scratch folders left by graders that were killed.

    A folder is in use while its grader holds the lock on its ``.lock`` file; a folder
    whose lock can be taken (or that has none and is older than ``min_age_s``) is stale.

    Parameters
    ----------
    scratch_root : str, optional
        The scratch root; default ``CNNLAB_SCRATCH_DIR``, else ``cnnlab-grading-<uid>`` in
        the system's temporary folder.
    min_age_s : float
        Age below which a folder without a lock file is left alone (it is being made).

    Returns
    -------
    int
        How many folders were removed.
    """
    root = _scratch_root(scratch_root)
    removed = 0
    for job in root.iterdir():
        if not job.is_dir():
            continue
        lock_path = job / ".lock"
        try:
            if not lock_path.exists():
                stale = time.time() - job.stat().st_mtime > min_age_s
            else:
                with open(lock_path) as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                    stale = True
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(job, ignore_errors=True)
            removed += 1
    return removed


# --------------------------------------------------------------------------- grading one


def _safe_relative(name: str) -> Path | None:
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    return relative


def _kernel_environment(task: GradingTask) -> dict[str, str]:
    """The kernel's environment: the sandbox's allow-list, with the task's profile and threads."""
    from grading.autograde.sandbox import kernel_environment

    environ = {k: v for k, v in os.environ.items() if k not in (PROFILE_ENV, "NBGRADER_EXECUTION")}
    if task.profile:
        environ[PROFILE_ENV] = task.profile
    if task.threads:
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS"):
            environ.setdefault(name, str(task.threads))
        environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return kernel_environment(environ)


def _prepare_job(task: GradingTask, job: Path, restored: dict) -> None:
    """Lay out the private course of one submission and the files its kernel gets."""
    import nbformat

    course = job / "course"
    submitted = course / "submitted" / task.student / task.assignment
    source = course / "source" / task.assignment
    for folder in (course, submitted, source, job / "results", job / "runtime", job / "jupyter"):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    files = job / "files"  # copied into the kernel's home in the sandbox
    files.mkdir()
    for name, notebook in restored.items():
        nbformat.write(notebook, submitted / f"{name}.ipynb")
    if task.timestamp:
        (submitted / TIMESTAMP_FILE).write_text(task.timestamp + "\n")
    task.template.write_gradebook(course / "gradebook.db")
    notebook_files = {f"{name}.ipynb" for name in task.template.notebook_names}
    # the student's other files first, then the assignment's (which win, as in nbgrader)
    extra = {
        name: data
        for name, data in task.files.items()
        if name not in notebook_files and name != TIMESTAMP_FILE
    }
    for files_of, also_source in ((extra, False), (task.template.files, True)):
        for name, data in files_of.items():
            relative = _safe_relative(name)
            if relative is None:
                continue
            for base in (files, source) if also_source else (files,):
                target = base / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    for path in [files, *files.rglob("*")]:  # the kernel's user copies them
        path.chmod(0o755 if path.is_dir() else 0o644)
    job.chmod(0o700)
    (job / "job.json").write_text(
        json.dumps(
            {
                "assignment": task.assignment,
                "student": task.student,
                "config": task.config,
                "limits": task.limits.to_dict(),
                "files": str(files),
                "kernel_env": _kernel_environment(task),
                "kernel_names": sorted(_kernel_names(task)),
            }
        )
    )


def _kernel_names(task: GradingTask) -> set[str]:
    """Every kernel name nbgrader may ask for: each gets the sandboxed kernelspec."""
    names = {"python3", task.config.get("Execute", {}).get("kernel_name") or "python3"}
    for name in task.template.notebook_names:
        spec = task.template.notebook("reference", name).metadata.get("kernelspec", {})
        if spec.get("name"):
            names.add(spec["name"])
    return names


def _read_progress(results: Path, name: str) -> dict[int, dict]:
    path = results / "progress" / f"{name}.jsonl"
    lines = {}
    if path.is_file():
        for text in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut off by a kill
                record = json.loads(text)
                lines.setdefault(record["index"], record)  # a cell runs once: first one wins
    return lines


def _partial_notebook(notebook, progress: dict[int, dict], reason: str):
    """The notebook as far as it ran: recorded outputs, and "did not run" for the rest."""
    import nbformat

    from grading.autograde.grade_in_sandbox import not_run_output

    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if index in progress:
            cell.outputs = [nbformat.from_dict(o) for o in progress[index]["outputs"]]
            cell.execution_count = progress[index].get("execution_count")
        elif cell.source.strip():
            cell.outputs = [not_run_output(reason)]
            cell.execution_count = None
    return notebook


def _scores_from_notebook(name: str, notebook) -> tuple[list[CellResult], list]:
    """nbgrader's own scoring rule (``determine_grade``) and comment rule, cell by cell."""
    from nbgrader import utils

    cells, comments = [], []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if utils.is_grade(cell):
            score, max_score = utils.determine_grade(cell)
            cells.append(
                CellResult(name, meta["grade_id"], score, max_score, False, cell.cell_type)
            )
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = meta.get("checksum") == utils.compute_checksum(cell)
            comments.append((name, meta["grade_id"], "No response." if unchanged else None))
    return cells, comments


def _scores_from_gradebook(task: GradingTask, url: str, name: str):
    from nbgrader.api import Gradebook

    from grading.base.gradebook import COURSE_ID

    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        submitted = gradebook.find_submission_notebook(name, task.assignment, task.student)
        cells = [
            CellResult(
                name,
                grade.cell.name,
                grade.auto_score,
                float(grade.max_score),
                False,
                grade.cell.cell_type,
            )
            for grade in submitted.grades
        ]
        comments = [(name, c.cell.name, c.auto_comment) for c in submitted.comments]
    return cells, comments


def _zero_cells(task: GradingTask, name: str) -> list[CellResult]:
    from nbgrader import utils

    reference = task.template.notebook("reference", name)
    return [
        CellResult(
            name,
            cell.metadata.nbgrader["grade_id"],
            0.0,
            float(cell.metadata.nbgrader["points"]),
            False,
            cell.cell_type,
        )
        for cell in reference.cells
        if utils.is_grade(cell)
    ]


def _apply_tamper_policy(cells, notebook, progress, findings, name, reasons):
    """Zero (and mark for review) the test cells after the first tampering finding of the
    scan, and from the first test cell whose integrity probe found a change."""
    from grading.autograde.integrity import grade_id, is_test_cell

    first = min((f.cell_index for f in findings if f.kind == "tampering"), default=None)
    for index in sorted(progress):
        if progress[index].get("tampering"):
            reasons.append(progress[index]["tampering"])
            first = min(first, index - 1) if first is not None else index - 1
            break
    zeroed = {
        grade_id(cell)
        for index, cell in enumerate(notebook.cells)
        if is_test_cell(cell) and first is not None and index > first
    }
    for record in progress.values():
        reasons.extend(record.get("notes") or [])
    changed = [
        CellResult(c.notebook, c.grade_id, 0.0, c.max_score, True, c.cell_type)
        if c.notebook == name and c.grade_id in zeroed
        else c
        for c in cells
    ]
    return changed, bool(zeroed)


def grade_submission(task: GradingTask) -> GradingResult:
    """Grade one submission in its own sandbox (see the module docstring).

    Pure in the sense that matters for a cluster: every input is in ``task``, every output
    in the result; it leaves nothing behind but the scratch folder it removes. It never
    raises for a bad submission: a failure of the grader itself comes back as status
    ``"error"``.

    Parameters
    ----------
    task : GradingTask
        The submission and how to grade it.

    Returns
    -------
    GradingResult
        Scores per cell, comments, reasons, the autograded notebooks, seconds and the
        worker's identity.
    """
    started = time.monotonic()
    result = GradingResult(
        assignment=task.assignment,
        student=task.student,
        submission_hash=task.submission_hash,
        timestamp=task.timestamp,
        worker_host=socket.gethostname(),
        worker_pid=os.getpid(),
    )
    try:
        _grade_into(task, result)
    except Exception as error:  # the grader's own failure: recorded, retried next run
        detail = "".join(traceback.format_exception_only(error)).strip().splitlines()[-1]
        result.reasons.append(f"error: the grader failed: {detail}")
        result.cells, result.comments, result.notebooks = [], [], {}
    result.status = status_of(result.reasons)
    result.seconds = time.monotonic() - started
    return result


def _grade_into(task: GradingTask, result: GradingResult) -> None:
    import nbformat

    from grading.autograde.grading_server import run_grading_program
    from grading.autograde.integrity import InvalidNotebook, read_notebook, restore, scan_notebook
    from grading.autograde.sandbox import require_sandbox
    from grading.kit import strip_installer_cells

    reasons = result.reasons
    restored, findings, unusable = {}, {}, []
    for name in task.template.notebook_names:
        data = task.files.get(f"{name}.ipynb")
        if data is None:
            reasons.append(f"missing: {name}.ipynb was not submitted; its cells score 0")
            unusable.append(name)
            continue
        try:
            submitted = read_notebook(data, f"{name}.ipynb")
            strip_installer_cells(submitted)  # the student kit's, not the student's code
            restored[name], repairs = restore(
                submitted,
                task.template.notebook("reference", name),
                task.template.notebook("release", name),
            )
        except InvalidNotebook as error:
            reasons.append(f"invalid: {error}; its cells score 0")
            unusable.append(name)
            continue
        reasons.extend(repairs)
        findings[name] = scan_notebook(restored[name])
        reasons.extend(finding.reason() for finding in findings[name])
    for name in unusable:
        result.cells.extend(_zero_cells(task, name))
    if not restored:
        return

    require_sandbox(task.limits)  # a worker without the sandbox grades nothing
    if task.limits.unsafe_no_sandbox:
        reasons.append(UNSAFE_REASON)
    with _job_folder(_scratch_root(task.scratch_root), task.assignment, task.student) as job:
        _prepare_job(task, job, restored)
        outcome = run_grading_program(
            job, timeout=task.limits.notebook_timeout + KILL_GRACE_S, log_path=job / "runner.log"
        )
        result.network_isolated = not task.limits.unsafe_no_sandbox
        results = job / "results"
        runner_path = results / "runner.json"
        runner = json.loads(runner_path.read_text()) if runner_path.is_file() else None
        completed = runner is not None and runner["status"] == "completed"
        if runner is not None and not completed:
            reasons.append(f"error: nbgrader failed: {runner['error']}")
            return
        if runner is None and not outcome.killed:
            log = (job / "runner.log").read_text(errors="replace").strip().splitlines()
            reasons.append(
                f"error: the grading program ended with status {outcome.returncode}: "
                + (log[-1] if log else "no output")
            )
            return
        kill_reason = (
            f"the submission ran past its {task.limits.notebook_timeout:.0f} s wall-clock limit "
            "and was stopped"
        )
        for name, notebook in restored.items():
            progress = _read_progress(results, name)
            for record in sorted(progress.values(), key=lambda r: r["index"]):
                if record.get("event"):
                    reasons.append(record["event"])
            final = results / "notebooks" / f"{name}.ipynb"
            if completed and final.is_file():
                autograded = nbformat.read(final, as_version=4)
                cells, comments = _scores_from_gradebook(
                    task, f"sqlite:///{job / 'course' / 'gradebook.db'}", name
                )
            else:
                given = results / "input" / f"{name}.ipynb"
                base = nbformat.read(given, as_version=4) if given.is_file() else notebook
                autograded = _partial_notebook(base, progress, kill_reason)
                cells, comments = _scores_from_notebook(name, autograded)
            cells, flagged = _apply_tamper_policy(
                cells, autograded, progress, findings[name], name, reasons
            )
            if flagged:
                result.flagged_notebooks.append(name)
            result.cells.extend(cells)
            result.comments.extend(comments)
            result.notebooks[name] = nbformat.writes(autograded)
        if outcome.killed:
            reasons.append(f"timeout: {kill_reason}; graded on the cells that had run")


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
    import json

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


def error_result(task: GradingTask, reason: str) -> GradingResult:
    """A result with status ``"error"``: the submission could not be graded this time.

    Parameters
    ----------
    task : GradingTask
        The submission.
    reason : str
        ``"error: what happened"`` (the ``error:`` is added when missing).

    Returns
    -------
    GradingResult
        No cells; the gradebook records only the log row, and the next run grades it again.
    """
    reasons = [reason if reason.startswith("error:") else f"error: {reason}"]
    return GradingResult(
        assignment=task.assignment,
        student=task.student,
        submission_hash=task.submission_hash,
        timestamp=task.timestamp,
        status=status_of(reasons),
        reasons=reasons,
    )


@contextlib.contextmanager
def _cluster_or(executor, scheduler, scratch_root, summary) -> Iterator:
    """The executor to grade on: a Dask cluster's when a scheduler is given, else as given."""
    if not scheduler:
        yield executor
        return
    from grading.autograde.cluster import (
        connect,  # Dask is imported only when a cluster is asked for
    )

    with connect(
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
    from tqdm.auto import tqdm

    from grading.autograde.grading_server import kill_running
    from grading.autograde.sandbox import require_sandbox
    from grading.base.gradebook import (
        graded_submissions,
        normalise_db_url,
        open_gradebook,
        record_result,
        sync_assignment,
    )
    from grading.base.nbgrader_driver import load_nbgrader_config
    from grading.base.template import build_template

    if scheduler and executor is not None:
        raise ValueError("autograde: give a Dask scheduler or an executor, not both")
    paths = paths or course_paths()
    url = normalise_db_url(db_url, paths)
    config = load_nbgrader_config(paths, db_url=url)
    limits = limits or SandboxLimits.from_config(config)
    if not scheduler:  # fail closed before anything is graded (workers check for themselves)
        require_sandbox(limits)
    jobs = max(1, int(jobs or default_jobs()))
    selected, warnings = _assignments_to_grade(paths, assignments)
    summary = AutogradeSummary(db_url=url, warnings=warnings)
    if limits.unsafe_no_sandbox:
        summary.warnings.append(UNSAFE_REASON)
    settings = _nbgrader_settings(config)
    threads = max(1, default_jobs() // jobs)

    with (
        _exclusive_run(paths),
        _cluster_or(executor, scheduler, scratch_root, summary) as executor,
        open_gradebook(url, paths) as gradebook,
    ):
        clean_stale_scratch(scratch_root)
        recorded = graded_submissions(gradebook)
        tasks = []
        for assignment in selected:
            template = build_template(paths, assignment)
            with tempfile.TemporaryDirectory(prefix="cnnlab-sync-") as folder:
                template_url = template.write_gradebook(Path(folder) / "template.db")
                sync_assignment(gradebook, template_url, assignment)
            for student, _folder in find_submissions(paths, assignment):
                if students and student not in students:
                    continue
                task = load_task(
                    paths,
                    assignment,
                    student,
                    template,
                    config=settings,
                    limits=limits,
                    profile=profile,
                    threads=threads,
                    scratch_root=scratch_root,
                )
                if not force and _graded_already(recorded, assignment, student, task):
                    summary.skipped.append((assignment, student))
                    continue
                tasks.append(task)

        if students:
            found = {t.student for t in tasks} | {student for _, student in summary.skipped}
            missing = [student for student in students if student not in found]
            if missing:
                raise AutogradeError(
                    f"No submissions of {', '.join(selected)} by {', '.join(missing)} in "
                    f"{paths.submitted}."
                )
        tasks.sort(key=_answered_cells, reverse=True)  # the longest first (a stable sort)
        bar = tqdm(total=len(tasks), desc="autograde", unit="submission", disable=not progress)
        with contextlib.ExitStack() as stack:
            pool = executor or stack.enter_context(ThreadPoolExecutor(max_workers=jobs))
            futures = {pool.submit(grade_submission, task): task for task in tasks}
            try:
                for future in as_completed(futures):
                    task, result = futures.pop(future), future.result()
                    if not force and _graded_already(
                        graded_submissions(gradebook), task.assignment, task.student, task
                    ):  # by another grader meanwhile: written once, never twice
                        summary.skipped.append((task.assignment, task.student))
                        bar.update()
                        continue
                    if result.status != "error":
                        _write_autograded(paths, task, result)
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
                    bar.set_postfix_str(f"{result.student}: {result.status}", refresh=False)
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                kill_running()
                raise
            finally:
                bar.close()
    return summary


# --------------------------------------------------------------------------- command line


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab autograde`` and print a summary.

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`add_arguments`.

    Returns
    -------
    int
        0 when every submission was graded (problems with submissions are grades, not
        errors), 1 when the grader failed on some (run again to retry them). A bad command
        (unknown assignment, empty class, missing source, unreachable database: exit status
        2) or a source nbgrader rejects (1) is raised for :mod:`grading.cli`.
    """
    from grading.base.nbgrader_driver import load_nbgrader_config

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
        from grading.autograde.cluster import worker_tally

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
