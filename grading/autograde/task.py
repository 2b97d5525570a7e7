"""What grading one submission takes and gives: tasks, results and statuses.

A :class:`GradingTask` holds everything needed to grade one submission and nothing that
lives on a disk (the files travel as bytes), so a Dask worker without the course's files
can grade it (:mod:`grading.autograde.cluster`); a :class:`GradingResult` holds everything
the gradebook and the feedback need. Both pickle. :func:`load_task` reads a submission of
``build/submitted`` into a task; :func:`grading.autograde.grade.grade_submission` turns a
task into a result; :func:`grading.autograde.run.autograde` does it for a class.

A submission's status is its most serious reason's (:func:`status_of`); the table of
statuses is in ``docs/sandbox.md`` ("Statuses").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from grading.autograde.sandbox import SandboxLimits
from grading.base.template import AssignmentTemplate
from grading.paths import CoursePaths

__all__ = [
    "REASON_CODES",
    "TIMESTAMP_FILE",
    "UNSAFE_REASON",
    "AutogradeSummary",
    "CellResult",
    "GradingResult",
    "GradingTask",
    "SubmissionOutcome",
    "error_result",
    "find_submissions",
    "load_task",
    "status_of",
    "submission_hash",
]

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
    """What a run of :func:`grading.autograde.run.autograde` did.

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
        Ready for :func:`grading.autograde.grade.grade_submission`.
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
