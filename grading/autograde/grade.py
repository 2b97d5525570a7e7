"""Grade one submission: :func:`grade_submission`, from a task to a result.

:func:`grade_submission` is a pure function of a picklable
:class:`grading.autograde.task.GradingTask` that returns a picklable
:class:`grading.autograde.task.GradingResult`, so a cluster can run it on a machine without
the course's files (:mod:`grading.autograde.cluster`). It goes in four steps:

1. :mod:`grading.autograde.restore` rebuilds each notebook on the source's skeleton (tests
   and locked cells from the source, the student's answers in the solution cells; every
   repair is a reason) and :mod:`grading.autograde.tamper` scans the student's code;
2. a private course folder is made in a scratch directory: the restored notebooks as the
   submission, the assignment's files, and a private SQLite gradebook holding the
   assignment's definitions (from :class:`grading.base.template.AssignmentTemplate`, which
   nbgrader's ``generate_assignment`` made once for the whole run);
3. nbgrader's ``autograde`` runs on it in a grading program forked from a warm server
   (:mod:`grading.autograde.grading_server`, :mod:`grading.autograde.grade_in_sandbox`),
   outside the sandbox; only the kernel runs in it (:mod:`grading.autograde.sandbox`: own
   namespaces, an unprivileged user, wall-clock limit, per-cell timeout, memory cap, no
   network), and each test cell is scored outside the kernel
   (:mod:`grading.autograde.scoring`, :mod:`grading.autograde.probe`);
4. the grades come from the private gradebook (or, when the sandbox was killed at its limit,
   from the cells recorded as they ran, scored with nbgrader's own rule), then the tamper
   policy applies (:mod:`grading.autograde.tamper`): test cells after a tampering
   finding, and test cells that did not run to their end, score 0 and are marked for
   review.

Each job folder is locked while in use; :func:`clean_stale_scratch` removes those of a
grader that was killed, and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook

from grading.autograde.cells import grade_id, is_test_cell, locked_sources, read_notebook
from grading.autograde.grade_in_sandbox import not_run_output
from grading.autograde.grading_server import run_grading_program
from grading.autograde.kernel_manager import remove_ipc_folder
from grading.autograde.probe import probed_names, sources_key
from grading.autograde.restore import restore
from grading.autograde.sandbox import KILL_GRACE_S, kernel_environment, require_sandbox
from grading.autograde.tamper import scan_notebook
from grading.autograde.task import (
    TIMESTAMP_FILE,
    UNSAFE_REASON,
    CellResult,
    GradingResult,
    GradingTask,
    status_of,
)
from grading.base.gradebook import COURSE_ID
from grading.base.installer import strip_installer_cells
from grading.errors import AutogradeError, InvalidNotebook
from labcore.profile import PROFILE_ENV

__all__ = ["SCRATCH_ENV", "clean_stale_scratch", "grade_submission"]

# --------------------------------------------------------------------------- scratch folders


#: Environment variable naming the folder for the submissions' scratch course folders.
SCRATCH_ENV = "CNNLAB_SCRATCH_DIR"


#: The lock file that marks a folder as a job folder of a grader (held while it grades).
JOB_LOCK = ".cnnlab-job.lock"
_JOB_NAME = re.compile(r"[A-Za-z0-9_.-]+-[a-z0-9_]{8}")  # _job_folder's, from mkdtemp


def _scratch_root(explicit: str | None) -> Path:
    """The folder job folders are made in: an instructor's, or this user's own in the
    system's temporary folder (which must be a real folder that this user owns)."""
    explicit = explicit or os.environ.get(SCRATCH_ENV)
    if explicit:
        root = Path(explicit)
        if not root.is_dir():
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as error:  # a file, or a link to nowhere, in the way
                raise AutogradeError(
                    f"{root}: cannot make the scratch folder ({error.strerror}); set "
                    f"{SCRATCH_ENV} to a folder"
                ) from None
            root.chmod(0o711)  # the sandbox user may pass through, not look around
        return root  # an existing folder keeps the mode its owner gave it
    root = Path(tempfile.gettempdir()) / f"cnnlab-grading-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o711)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        # in a folder everyone may write, another user could have made it, or made it a link
        raise AutogradeError(
            f"{root}: the grader's scratch folder is not a folder of this user's; remove it, "
            f"or set {SCRATCH_ENV} to a folder of your own"
        )
    root.chmod(0o711)
    return root


@contextlib.contextmanager
def _job_folder(root: Path, assignment: str, student: str) -> Iterator[Path]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{assignment}-{student}")[:80]
    job = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=root))
    with open(job / JOB_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield job
        finally:
            remove_ipc_folder(job)
            shutil.rmtree(job, ignore_errors=True)


def clean_stale_scratch(scratch_root: str | None = None, min_age_s: float = 300.0) -> int:
    """Remove job folders left by graders that were killed.

    Only job folders are touched: folders of this user's, named as a grader names them,
    that hold its lock file (``JOB_LOCK``) or, made by a grader killed before it locked
    one, nothing at all. A folder is in use while its grader holds the lock; one whose lock
    can be taken (or that is empty and older than ``min_age_s``) is stale. Anything else in
    the scratch root (an instructor's shared folder, say) is left alone.

    Parameters
    ----------
    scratch_root : str, optional
        The scratch root; default ``CNNLAB_SCRATCH_DIR``, else ``cnnlab-grading-<uid>`` in
        the system's temporary folder.
    min_age_s : float
        Age below which an empty job folder is left alone (it is being made).

    Returns
    -------
    int
        How many folders were removed.

    Raises
    ------
    grading.errors.AutogradeError
        If the scratch folder cannot be made, or the default one is not a real folder of
        this user's.
    """
    root = _scratch_root(scratch_root)
    removed = 0
    for job in root.iterdir():
        try:
            info = job.lstat()
            if (
                not stat.S_ISDIR(info.st_mode)
                or info.st_uid != os.geteuid()
                or not _JOB_NAME.fullmatch(job.name)
            ):
                continue
            lock_path = job / JOB_LOCK
            if not lock_path.exists():
                stale = not any(job.iterdir()) and time.time() - info.st_mtime > min_age_s
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
            remove_ipc_folder(job)
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
                "probed": _probed_names(restored),
            }
        )
    )


def _probed_names(restored: dict) -> dict[str, list[str]]:
    """What the integrity probe fingerprints, per notebook, worked out here once per
    assignment rather than in every grading program (about 0.2 s each)."""
    probed = {}
    for notebook in restored.values():
        sources = locked_sources(notebook)
        probed[sources_key(sources)] = probed_names(sources)
    return probed


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
    """Grade one submission in its own sandbox (the steps are in the module docstring).

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
    """Grade ``task`` into ``result``: restore, grade in the sandbox, read the scores back."""
    restored, findings = _restore_notebooks(task, result)
    if not restored:
        return
    require_sandbox(task.limits)  # a worker without the sandbox grades nothing
    if task.limits.unsafe_no_sandbox:
        result.reasons.append(UNSAFE_REASON)
    with _job_folder(_scratch_root(task.scratch_root), task.assignment, task.student) as job:
        _prepare_job(task, job, restored)
        outcome = run_grading_program(
            job, timeout=task.limits.notebook_timeout + KILL_GRACE_S, log_path=job / "runner.log"
        )
        result.network_isolated = not task.limits.unsafe_no_sandbox
        completed = _runner_completed(job, outcome, result.reasons)
        if completed is None:
            return
        for name, notebook in restored.items():
            _score_notebook(task, job, name, notebook, findings[name], completed, result)
        if outcome.killed:
            result.reasons.append(
                f"timeout: {_kill_reason(task)}; graded on the cells that had run"
            )


def _restore_notebooks(task: GradingTask, result: GradingResult) -> tuple[dict, dict]:
    """Step 1: each notebook restored on the source's skeleton and scanned for tampering.

    Repairs and findings go to the result's reasons; a notebook missing or unreadable scores
    0 in every cell. Returns the restored notebooks and the findings, by notebook name.
    """
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
    return restored, findings


def _runner_completed(job: Path, outcome, reasons: list[str]) -> bool | None:
    """Whether nbgrader ran to its end (``False``: the sandbox was killed at its limit);
    ``None``, with an ``error`` reason, when the grading program failed."""
    runner_path = job / "results" / "runner.json"
    runner = json.loads(runner_path.read_text()) if runner_path.is_file() else None
    completed = runner is not None and runner["status"] == "completed"
    if runner is not None and not completed:
        reasons.append(f"error: nbgrader failed: {runner['error']}")
        return None
    if runner is None and not outcome.killed:
        log = (job / "runner.log").read_text(errors="replace").strip().splitlines()
        reasons.append(
            f"error: the grading program ended with status {outcome.returncode}: "
            + (log[-1] if log else "no output")
        )
        return None
    return completed


def _kill_reason(task: GradingTask) -> str:
    return (
        f"the submission ran past its {task.limits.notebook_timeout:.0f} s wall-clock limit "
        "and was stopped"
    )


def _score_notebook(task, job, name, notebook, findings, completed, result) -> None:
    """Step 4 for one notebook: its scores (from the private gradebook, or from the cells
    that ran when the sandbox was killed), the tamper policy, and the autograded notebook."""
    reasons = result.reasons
    results = job / "results"
    progress = _read_progress(results, name)
    for record in sorted(progress.values(), key=lambda r: r["index"]):
        if record.get("event"):
            reasons.append(record["event"])
    final = results / "notebooks" / f"{name}.ipynb"
    text = None
    if completed and final.is_file():
        text = final.read_text()  # nbgrader's own writing, kept as it is
        autograded = nbformat.reads(text, as_version=4)
        cells, comments = _scores_from_gradebook(
            task, f"sqlite:///{job / 'course' / 'gradebook.db'}", name
        )
    else:
        given = results / "input" / f"{name}.ipynb"
        base = nbformat.read(given, as_version=4) if given.is_file() else notebook
        autograded = _partial_notebook(base, progress, _kill_reason(task))
        cells, comments = _scores_from_notebook(name, autograded)
    cells, flagged = _apply_tamper_policy(cells, autograded, progress, findings, name, reasons)
    if flagged:
        result.flagged_notebooks.append(name)
    result.cells.extend(cells)
    result.comments.extend(comments)
    result.notebooks[name] = text if text is not None else nbformat.writes(autograded)
