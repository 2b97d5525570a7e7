"""Scale-out grading on a Dask cluster: ``cnnlab autograde --scheduler ADDRESS``.

::

    cnnlab autograde --scheduler tcp://head-node:8786 --db postgresql://grader@db/cnnlab

grades the class on the workers of a running Dask distributed cluster instead of local
threads. Everything else stays as :mod:`grading.autograde.run` describes it: the same tasks, the
same sandbox, the same gradebook, and this process as its only writer.

How a class travels
-------------------
Each submission is one Dask task, :func:`grade_on_worker`, keyed by
:func:`task_key` (assignment, student and content hash: the dashboard shows who is being
graded). A :class:`grading.autograde.task.GradingTask` carries the submission's files as bytes
and nothing that lives on this machine's disk, so workers need no shared filesystem
("shipping" is the only mode, and a shared filesystem simply goes unused). The assignment's
template (source, release, private gradebook; :mod:`grading.base.template`) is the same for every
submission: it travels once per assignment as a task of its own, and the grading tasks
depend on it. A worker that dies holding it costs a recomputation, not the class.

On the worker, :func:`grade_on_worker` checks that it runs the client's course code
(:func:`worker_environment`, :func:`environment_problems`), gives the kernels a fair share
of the machine's cores (:func:`threads_per_host`), runs
:func:`grading.autograde.grade.grade_submission` (the sandbox, with the limits the task carries)
and names itself in the result (:func:`worker_label`), which the gradebook's log keeps.

This module does not import :mod:`grading.autograde.run`, which imports it: :func:`connect`
is given the grading function, the maker of error results and the scratch cleaner, and
sends them to the workers by name.

Faults
------
A worker process that dies mid-task (``kill -9``, out of memory, a lost node) takes its
sandboxes with it (they die with the thread that started them,
``PR_SET_PDEATHSIG``), and the scheduler runs its tasks again on other workers: a task
whose workers died ``distributed.scheduler.allowed-failures`` times (default 3) is given
up, and comes back here as a result with status ``"error"`` (retried by the next run), as
does any other failure of the cluster. Results come back to this process, which writes
each submission once, in one transaction; a rerun skips what is graded. Scratch folders of
killed workers are removed at the start and the end of every run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import platform
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from grading.base.template import AssignmentTemplate
from grading.cores import available_cores
from grading.errors import ClusterError

if TYPE_CHECKING:  # for annotations only
    from grading.autograde.task import GradingResult, GradingTask, SubmissionOutcome

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MATCHING",
    "TASK_RETRIES",
    "ClusterError",
    "DaskGrading",
    "connect",
    "course_code_digest",
    "environment_problems",
    "grade_on_worker",
    "hold_template",
    "task_key",
    "threads_per_host",
    "worker_environment",
    "worker_label",
    "worker_tally",
]

#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT_S = 60.0
#: How often Dask runs a task again when the grader itself raised (a bad submission never
#: raises; a worker that dies is handled by the scheduler's ``allowed-failures``).
TASK_RETRIES = 1
#: What must be the same on the client and every worker, or grades could differ.
MATCHING = {
    "python": "Python version",
    "nbgrader": "nbgrader version",
    "cnnlab": "cnnlab version",
    "code": "grading and labcore code",
}
_INSTALL_HINT = (
    "install the course environment on every worker from the same checkout as this machine "
    "(pip install -e '.[cluster]'), then restart the workers"
)


# --------------------------------------------------------------------------- environment


@functools.cache
def course_code_digest() -> str:
    """SHA-256 over the files of the ``grading`` and ``labcore`` packages this process uses.

    Two machines with the same digest grade with the same code (restoring tests, scanning for
    tampering, sandboxing, and everything a notebook imports from labcore).

    Returns
    -------
    str
        64 hexadecimal digits (computed once per process).
    """
    import grading
    import labcore

    digest = hashlib.sha256()
    for package in (grading, labcore):
        folder = Path(package.__file__).resolve().parent
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                relative = f"{package.__name__}/{path.relative_to(folder).as_posix()}"
                content = hashlib.sha256(path.read_bytes()).digest()
                digest.update(relative.encode() + b"\0" + content)
    return digest.hexdigest()


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def worker_environment() -> dict:
    """What this machine grades with (run on the client and on every worker).

    Returns
    -------
    dict
        ``host`` (host name), ``cores`` (cores this process may use), ``python``
        (``major.minor``), ``nbgrader`` and ``cnnlab`` (installed versions),
        ``code`` (:func:`course_code_digest`) and ``network_isolated`` (whether
        submissions can be sandboxed here, :func:`grading.autograde.sandbox.sandbox_problem`).
    """
    from grading.autograde.sandbox import sandbox_problem

    return {
        "host": socket.gethostname(),
        "cores": available_cores(),
        "python": ".".join(platform.python_version_tuple()[:2]),
        "nbgrader": _version("nbgrader"),
        "cnnlab": _version("cnnlab"),
        "code": course_code_digest(),
        "network_isolated": sandbox_problem() is None,
    }


def environment_problems(expected: dict, workers: dict[str, dict]) -> list[str]:
    """Where workers differ from the client in what decides a grade.

    Parameters
    ----------
    expected : dict
        The client's :func:`worker_environment`.
    workers : dict
        Worker (address or label) -> its :func:`worker_environment`.

    Returns
    -------
    list of str
        One line per worker that differs, naming what (see :data:`MATCHING`) and both
        values; empty when every worker matches.
    """
    problems = []
    for worker, facts in sorted(workers.items()):
        differences = [
            f"{label} {_short(facts.get(name))} instead of {_short(expected.get(name))}"
            for name, label in MATCHING.items()
            if facts.get(name) != expected.get(name)
        ]
        if differences:
            problems.append(f"worker {worker} has {', '.join(differences)}")
    return problems


def _short(value) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 else text  # a digest: its first digits say enough


def threads_per_host(workers: dict[str, dict], nthreads: dict[str, int]) -> dict[str, int]:
    """Threads each kernel may use, per host: the host's cores over the submissions it
    grades at once (the threads of all its workers).

    Parameters
    ----------
    workers : dict
        Worker address -> its :func:`worker_environment`.
    nthreads : dict
        Worker address -> its number of threads (``Client.nthreads()``).

    Returns
    -------
    dict
        Host name -> threads per kernel (at least 1).
    """
    slots: dict[str, int] = {}
    cores: dict[str, int] = {}
    for address, facts in workers.items():
        host = facts["host"]
        slots[host] = slots.get(host, 0) + max(1, int(nthreads.get(address, 1)))
        cores[host] = max(cores.get(host, 1), int(facts["cores"]))
    return {host: max(1, cores[host] // slots[host]) for host in slots}


def worker_label(host: str, address: str, name=None) -> str:
    """How the gradebook's log names a Dask worker.

    Parameters
    ----------
    host : str
        The worker machine's host name.
    address : str
        The worker's address, e.g. ``tcp://10.0.0.7:40331``.
    name : object, optional
        The worker's name (``dask worker --name``); left out when it is the address.

    Returns
    -------
    str
        ``"node07 (dask tcp://10.0.0.7:40331)"`` or
        ``"node07 (dask tcp://10.0.0.7:40331, gpu-1)"``; the log adds ``:<pid>``.

    Examples
    --------
    >>> worker_label("node07", "tcp://10.0.0.7:40331", "tcp://10.0.0.7:40331")
    'node07 (dask tcp://10.0.0.7:40331)'
    """
    named = name is not None and str(name) != address
    return f"{host} (dask {address}{', ' + str(name) if named else ''})"


# --------------------------------------------------------------------------- on the worker


def task_key(task: GradingTask) -> str:
    """The Dask key of a submission's task: stable, readable on the dashboard.

    Parameters
    ----------
    task : grading.autograde.task.GradingTask
        The submission.

    Returns
    -------
    str
        ``cnnlab-grade-<assignment>-<student>-<first 16 digits of the content hash>``.
        The same submission with the same content always gets the same key.
    """
    return f"cnnlab-grade-{task.assignment}-{task.student}-{task.submission_hash[:16]}"


def hold_template(template: AssignmentTemplate) -> AssignmentTemplate:
    """The task that holds an assignment's template on the cluster (returns it unchanged).

    Parameters
    ----------
    template : grading.base.template.AssignmentTemplate
        The template, sent to the scheduler once per assignment.

    Returns
    -------
    grading.base.template.AssignmentTemplate
        The same template, now a result the grading tasks depend on (recomputed from the
        scheduler's copy if the worker holding it dies).
    """
    return template


def grade_on_worker(
    grade: Callable[[GradingTask], GradingResult],
    failed: Callable[[GradingTask, str], GradingResult],
    task: GradingTask,
    template: AssignmentTemplate,
    expected: dict,
    threads: dict[str, int],
) -> GradingResult:
    """Grade one submission on a Dask worker (the function each task runs).

    Parameters
    ----------
    grade : callable
        :func:`grading.autograde.grade.grade_submission` (Dask sends it by name).
    failed : callable
        :func:`grading.autograde.task.error_result`, for a worker that cannot grade.
    task : grading.autograde.task.GradingTask
        The submission, without its template.
    template : grading.base.template.AssignmentTemplate
        The assignment's template (the result of :func:`hold_template`).
    expected : dict
        The client's :func:`worker_environment`: a worker that differs grades nothing and
        returns status ``"error"`` naming the difference.
    threads : dict
        :func:`threads_per_host` at the start of the run; a host that joined later gives
        each kernel its cores over its worker's threads.

    Returns
    -------
    grading.autograde.task.GradingResult
        As :func:`grading.autograde.grade.grade_submission` returns it, with ``worker_host`` set to
        :func:`worker_label`.
    """
    from distributed import get_worker

    worker = get_worker()
    here = worker_environment()
    label = worker_label(here["host"], worker.address, worker.name)
    share = threads.get(here["host"]) or max(1, here["cores"] // max(1, worker.state.nthreads))
    task = dataclasses.replace(task, template=template, threads=share)
    problems = environment_problems(expected, {label: here})
    result = failed(task, f"error: {problems[0]}; {_INSTALL_HINT}") if problems else grade(task)
    result.worker_host = label
    return result


# --------------------------------------------------------------------------- on the client


def _describe_failure(error: BaseException) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(error, KilledWorker):
        return (
            "error: every Dask worker that ran it died (distributed.scheduler.allowed-failures "
            "reached); run again, or grade it on one machine (cnnlab autograde --student ...)"
        )
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"error: the Dask cluster failed on it: {type(error).__name__}: {detail}".rstrip(": ")


class DaskGrading(concurrent.futures.Executor):
    """Grade on a Dask cluster, as the executor :func:`grading.autograde.run.autograde` uses.

    Made by :func:`connect`. Only ``submit(grade, task)`` is supported; its future always
    ends with a :class:`grading.autograde.task.GradingResult` (status ``"error"`` when the cluster
    failed on the task), never with an exception.

    Parameters
    ----------
    client : distributed.Client
        A connected client (not closed by this object).
    workers : dict
        Worker address -> :func:`worker_environment` at the start.
    grade : callable
        The grading function, :func:`grading.autograde.grade.grade_submission`.
    failed : callable
        Makes the result of a task the cluster failed on,
        :func:`grading.autograde.task.error_result`.
    retries : int
        Dask ``retries`` per task.

    Attributes
    ----------
    environment : dict
        This machine's :func:`worker_environment` (what workers must match).
    workers : dict
        As given: each worker's :func:`worker_environment` at the start.
    threads : dict
        :func:`threads_per_host`.
    warnings : list of str
        Things to know (workers that cannot sandbox submissions).
    """

    def __init__(
        self,
        client,
        workers: dict[str, dict],
        *,
        grade: Callable[[GradingTask], GradingResult],
        failed: Callable[[GradingTask, str], GradingResult],
        retries: int = TASK_RETRIES,
    ):
        self.client = client
        self.grade = grade
        self.failed = failed
        self.retries = retries
        self.environment = worker_environment()
        self.workers = workers
        self.threads = threads_per_host(workers, client.nthreads())
        without = sorted(a for a, facts in workers.items() if not facts["network_isolated"])
        self.warnings = (
            [
                f"no sandbox on Dask worker(s) {', '.join(without)}: bubblewrap cannot isolate "
                "submissions there, so those workers refuse to grade (status error) unless "
                "--unsafe-no-sandbox is given"
            ]
            if without
            else []
        )
        self._run = uuid.uuid4().hex[:8]
        self._templates: dict[int, tuple[AssignmentTemplate, object]] = {}

    def _template_future(self, template: AssignmentTemplate):
        held = self._templates.get(id(template))
        if held is None:
            future = self.client.submit(
                hold_template,
                template,
                key=f"cnnlab-template-{template.assignment}-{self._run}",
                pure=False,
                retries=self.retries,
            )
            held = self._templates[id(template)] = (template, future)
        return held[1]

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        """Grade one submission on the cluster.

        Parameters
        ----------
        fn : callable
            Must be the ``grade`` function this executor was made with.
        *args
            The :class:`grading.autograde.task.GradingTask`.
        **kwargs
            None accepted.

        Returns
        -------
        concurrent.futures.Future
            Ends with the :class:`grading.autograde.task.GradingResult`; cancelling it cancels
            the Dask task.

        Raises
        ------
        TypeError
            For any other function or arguments.
        """
        if fn is not self.grade or len(args) != 1 or kwargs:
            raise TypeError(f"DaskGrading runs only submit({self.grade.__name__}, task)")
        (task,) = args
        dask_future = self.client.submit(
            grade_on_worker,
            self.grade,
            self.failed,
            dataclasses.replace(task, template=None),
            self._template_future(task.template),
            self.environment,
            self.threads,
            key=task_key(task),
            pure=False,
            retries=self.retries,
        )
        done = concurrent.futures.Future()

        def cancel_on_cluster(future):
            if future.cancelled():
                dask_future.cancel()

        def deliver(finished):
            if done.cancelled():
                return
            try:
                if finished.status == "finished":
                    result = finished.result()
                elif finished.status == "cancelled":
                    result = self.failed(
                        task,
                        "error: the Dask cluster cancelled it (scheduler restarted or "
                        "connection lost); run again",
                    )
                else:
                    result = self.failed(task, _describe_failure(finished.exception()))
            except Exception as error:  # fetching the result failed
                result = self.failed(task, _describe_failure(error))
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                done.set_result(result)

        done.add_done_callback(cancel_on_cluster)
        dask_future.add_done_callback(deliver)
        return done

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to shut down: :func:`connect` closes the client.

        Parameters
        ----------
        wait, cancel_futures : bool
            Ignored.
        """


def _client(address: str, timeout: float):
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(
            "--scheduler needs Dask distributed, which is not installed here: "
            "pip install -e '.[cluster]' (on this machine and on every worker)"
        ) from None
    address = str(address).strip()
    as_file = Path(address).expanduser()
    if "://" not in address and as_file.is_file():
        options = {"scheduler_file": str(as_file)}
    elif "://" in address or address.rpartition(":")[2].isdigit():
        options = {"address": address}
    else:
        raise ClusterError(
            f"--scheduler {address}: give the scheduler's address, e.g. tcp://head-node:8786, "
            "or the JSON file that `dask scheduler --scheduler-file FILE` wrote"
        )
    try:
        return Client(**options, timeout=timeout, set_as_default=False, name="cnnlab-autograde")
    except Exception as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClusterError(
            f"Cannot reach the Dask scheduler at {address} within {timeout:g} s ({detail}). "
            "Check that `dask scheduler` is running there and that its port is reachable "
            "from this machine."
        ) from error


@contextlib.contextmanager
def connect(
    address: str,
    *,
    grade: Callable[[GradingTask], GradingResult],
    failed: Callable[[GradingTask, str], GradingResult],
    clean: Callable[[str | None], int],
    scratch_root: str | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> Iterator[DaskGrading]:
    """Connect to a Dask scheduler and get its workers ready to grade.

    Waits for at least one worker, checks that every worker runs the client's course
    environment (:func:`environment_problems`) and removes the scratch folders killed
    workers left behind; on leaving, removes them again and closes the connection.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (any address Dask accepts), or the path of a scheduler file
        (``dask scheduler --scheduler-file FILE``).
    grade, failed : callable
        The grading function and the maker of error results (see :class:`DaskGrading`):
        :mod:`grading.autograde.run` passes its own, so this module need not import it.
    clean : callable
        Removes a worker's stale scratch folders,
        :func:`grading.autograde.grade.clean_stale_scratch`.
    scratch_root : str, optional
        The scratch root on the workers (default their ``CNNLAB_SCRATCH_DIR``, else their
        temporary folder).
    timeout : float
        Seconds to wait for the scheduler, and then for a first worker.

    Yields
    ------
    DaskGrading
        The executor for :func:`grading.autograde.run.autograde`.

    Raises
    ------
    ClusterError
        Without Dask, for an unreachable scheduler, a scheduler without workers, or
        workers whose environment differs (the message names them and what differs).
    """
    client = _client(address, timeout)
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception as error:
            raise ClusterError(
                f"The Dask scheduler at {address} has no workers after {timeout:g} s; start "
                f"some: dask worker {address} --nthreads 1 --nworkers N"
            ) from error
        try:
            workers = client.run(worker_environment)
        except Exception as error:
            raise ClusterError(
                f"A Dask worker of {address} cannot load the grader "
                f"({type(error).__name__}: {error}); {_INSTALL_HINT}."
            ) from error
        problems = environment_problems(worker_environment(), workers)
        if problems:
            raise ClusterError(
                "Dask workers differ from this machine, so grades could differ: "
                + "; ".join(problems)
                + f". {_INSTALL_HINT.capitalize()}."
            )
        try:
            client.run(clean, scratch_root)
        except Exception as error:
            raise ClusterError(
                f"A Dask worker cannot use its scratch folder "
                f"({scratch_root or 'CNNLAB_SCRATCH_DIR or its temporary folder'}): "
                f"{type(error).__name__}: {error}. Give the workers a writable local folder "
                "in CNNLAB_SCRATCH_DIR."
            ) from error
        yield DaskGrading(client, workers, grade=grade, failed=failed)
        with contextlib.suppress(Exception):  # the grades are in; tidying is a courtesy
            client.run(clean, scratch_root)
    finally:
        client.close()


def worker_tally(outcomes: list[SubmissionOutcome]) -> list[tuple[str, int, float]]:
    """Who graded how much: submissions and seconds per worker.

    Parameters
    ----------
    outcomes : list of grading.autograde.task.SubmissionOutcome
        A run's graded submissions (:attr:`grading.autograde.task.AutogradeSummary.graded`).

    Returns
    -------
    list of tuple
        ``(worker, submissions, seconds)``, most submissions first.
    """
    tally: dict[str, list] = {}
    for outcome in outcomes:
        entry = tally.setdefault(outcome.worker or "?", [0, 0.0])
        entry[0] += 1
        entry[1] += outcome.seconds
    return sorted(((w, n, s) for w, (n, s) in tally.items()), key=lambda row: (-row[1], row[0]))
