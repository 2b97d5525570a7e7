"""A warm grading server: nbgrader imported once, one forked child per submission.

Starting Python and importing nbgrader costs about 1.5 s, which plain ``nbgrader
autograde`` pays once per class and a fresh process per submission would pay every time.
:func:`run_grading_program` hands each job to a server process started once per grader
(``python -I -m grading.autograde.grading_server``, from ``/``, so nothing is imported from a
working folder), which has :mod:`grading.autograde.grade_in_sandbox` imported and forks one child
per
job before any student code runs. The child is the grading program of that submission; its
kernel starts in the sandbox (:mod:`grading.autograde.sandbox`).

The protocol is one JSON object per line: the grader writes ``{"id", "job", "log"}``; the
server answers ``{"id", "pid"}`` when the child runs and ``{"pid", "code"}`` when it ended.
The server is single-threaded (it waits on its input and on ``SIGCHLD`` with ``select``),
so each child is forked from a process holding no other thread's locks. Each child dies
with the server (``PR_SET_PDEATHSIG``). The server adopts whatever a child leaves behind
(:func:`~grading.autograde.processes.adopt_orphans`) and kills it when that child ends.
When the grader dies, the server gets SIGTERM, kills every child and everything it adopts,
and then exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grading.autograde.kernel_home import start_font_cache
from grading.autograde.processes import (
    adopt_orphans,
    die_with_parent,
    kill_adopted,
    tied_to_this_process,
)

__all__ = [
    "SandboxOutcome",
    "kill_running",
    "run_grading_program",
    "serve",
    "start_server",
]


@dataclass(frozen=True)
class SandboxOutcome:
    """How the grading program of one submission ended.

    Attributes
    ----------
    returncode : int
        Its exit status (negative: killed by that signal).
    killed : bool
        Whether the supervisor killed it at its wall-clock limit.
    seconds : float
        Wall-clock seconds it ran.
    """

    returncode: int
    killed: bool
    seconds: float


# --------------------------------------------------------------------------- the server


def _child(job: str, log: str, server: int) -> int:
    die_with_parent(server)
    os.setsid()
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    os.close(null)
    sys.stdin = open(0)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1)  # noqa: SIM115
    from grading.autograde.grade_in_sandbox import main

    try:
        return main([job])
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _warm_up() -> None:
    """Do once, before the first fork, the set-up every grading program would repeat.

    The first notebook it validates compiles nbformat's schema, and its first gradebook
    configures nbgrader's database classes (about 0.06 s of each program's CPU); each
    kernel's empty home would build matplotlib's font cache again (about 0.15 s,
    :mod:`grading.autograde.kernel_home`).
    """
    import nbformat
    import sqlalchemy.orm
    from nbformat.validator import get_validator

    from grading.autograde.grade_in_sandbox import metadata_schema
    from grading.autograde.kernel_home import font_cache

    for relax_add_props in (False, True):  # nbformat reads strictly, nbconvert relaxed
        get_validator(
            version=nbformat.v4.nbformat,
            version_minor=nbformat.v4.nbformat_minor,
            relax_add_props=relax_add_props,
        )
    sqlalchemy.orm.configure_mappers()
    metadata_schema()
    font_cache()


def serve() -> None:
    """Serve jobs from standard input until it closes (``python -m
    grading.autograde.grading_server``)."""
    stopping: list[int] = []  # SIGTERM: the grader died, or was asked to stop
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    die_with_parent(signal_number=signal.SIGTERM)
    adopt_orphans()
    start_font_cache()  # meanwhile
    import grading.autograde.grade_in_sandbox  # noqa: F401  (the point: imported once, before any fork)

    _warm_up()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    requests = sys.stdin.buffer
    out = sys.stdout
    pending = b""
    open_input = True
    programs: set[int] = set()  # the children this server forked, still running
    server = os.getpid()  # what each child checks it still has as its parent
    while (open_input or programs) and not stopping:
        readable, _, _ = select.select([requests, wake_read] if open_input else [wake_read], [], [])
        if wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
        ended = _reap(programs)
        if ended:  # first what they left behind, so that it is gone when the grader hears
            kill_adopted(keep=programs)
            for pid, code in ended:
                out.write(json.dumps({"pid": pid, "code": code}) + "\n")
            out.flush()
        if requests in readable and not stopping:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:
                open_input = False
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    # the wake-up fd outlives close(): unset it, or every SIGCHLD in the
                    # child writes a byte into whatever file reuses the descriptor
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    os.close(wake_read)
                    os.close(wake_write)
                    os._exit(_child(request["job"], request["log"], server))
                programs.add(pid)
                out.write(json.dumps({"id": request["id"], "pid": pid}) + "\n")
                out.flush()
    _kill_everything(programs)


def _reap(programs: set[int]) -> list[tuple[int, int]]:
    """Reap every child that ended; ``(pid, exit code)`` of those that were programs."""
    ended = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in programs:  # else an adopted orphan
            programs.discard(pid)
            ended.append((pid, os.waitstatus_to_exitcode(status)))
    return ended


def _kill_everything(programs: set[int], timeout: float = 10.0) -> None:
    """Kill the programs still running and all the server adopts, until it has no child."""
    programs.clear()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kill_adopted(keep=programs)
        _reap(programs)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # nothing left, adopted or not
        time.sleep(0.01)


# --------------------------------------------------------------------------- the client


class _Server:
    """The grader's side: one server process, a reader thread, a waiter per job."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started: dict[int, threading.Event] = {}
        self.pids: dict[int, int] = {}
        self.ended: dict[int, threading.Event] = {}
        self.codes: dict[int, int] = {}
        self.next_id = 0
        self.process = None
        ready = threading.Event()
        # The server dies with the thread that started it (PR_SET_PDEATHSIG is per thread),
        # so a thread of its own starts it and lives as long as it does.
        self.reader = threading.Thread(
            target=self._run, args=(ready,), name="cnnlab-grading-server", daemon=True
        )
        self.reader.start()
        ready.wait()
        if self.process is None:
            raise RuntimeError(f"the grading server did not start: {self.failure}")

    def _run(self, ready: threading.Event) -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-m", "grading.autograde.grading_server"],
                cwd="/",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=tied_to_this_process(),
            )
        except OSError as error:
            self.failure = error
            return
        finally:
            ready.set()
        try:
            self._read()
        finally:
            with self.lock:  # the server is gone, and so is every child: wake every waiter
                for event in [*self.started.values(), *self.ended.values()]:
                    event.set()

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            with self.lock:
                if "id" in message:
                    self.pids[message["id"]] = message["pid"]
                    self.ended.setdefault(message["pid"], threading.Event())
                    self.started[message["id"]].set()
                else:
                    self.codes[message["pid"]] = message["code"]
                    self.ended.setdefault(message["pid"], threading.Event()).set()

    def alive(self) -> bool:
        return self.process.poll() is None and self.reader.is_alive()

    def start(self, job: Path, log: Path) -> int:
        with self.lock:
            self.next_id += 1
            ident = self.next_id
            event = self.started[ident] = threading.Event()
            request = json.dumps({"id": ident, "job": str(job), "log": str(log)}) + "\n"
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
        event.wait()
        with self.lock:
            self.started.pop(ident)
            if ident not in self.pids:
                raise RuntimeError("the grading server stopped")
            return self.pids.pop(ident)

    def wait(self, pid: int, timeout: float | None) -> int | None:
        with self.lock:
            event = self.ended.setdefault(pid, threading.Event())
        if not event.wait(timeout):
            return None
        with self.lock:
            self.ended.pop(pid, None)
            return self.codes.pop(pid, -signal.SIGKILL)


_server: _Server | None = None
_server_pid: int | None = None  # the process that started it (a fork must start its own)
_server_lock = threading.Lock()
_running: set[int] = set()


def _the_server() -> _Server:
    global _server, _server_pid
    with _server_lock:
        if _server is None or _server_pid != os.getpid() or not _server.alive():
            _server, _server_pid = _Server(), os.getpid()
        return _server


def start_server() -> None:
    """Start this process's warm server now, if it is not running.

    It imports nbgrader in the background while the grader prepares the run, instead of
    when the first submission is waiting for it (about 2 s of the run).
    """
    _the_server()


def run_grading_program(job_dir: Path, *, timeout: float, log_path: Path) -> SandboxOutcome:
    """Run the grading program of one job and wait for it, killing it at ``timeout``.

    Parameters
    ----------
    job_dir : pathlib.Path
        The job folder (``job.json`` and the private course).
    timeout : float
        Wall-clock seconds before the program and its sandboxed kernel are killed.
    log_path : pathlib.Path
        Where its standard output and error go.

    Returns
    -------
    SandboxOutcome
        How it ended.
    """
    from grading.autograde.processes import kill_process_tree

    started = time.monotonic()
    server = _the_server()
    pid = server.start(job_dir, log_path)
    _running.add(pid)
    killed = False
    try:
        code = server.wait(pid, timeout)
        if code is None:
            killed = True
            kill_process_tree(pid)
            code = server.wait(pid, None)
    except BaseException:
        kill_process_tree(pid)
        raise
    finally:
        _running.discard(pid)
    return SandboxOutcome(returncode=int(code), killed=killed, seconds=time.monotonic() - started)


def kill_running() -> int:
    """Kill every grading program this process has running (on Ctrl-C, before exiting).

    Returns
    -------
    int
        How many were killed.
    """
    from grading.autograde.processes import kill_process_tree

    pids = list(_running)
    for pid in pids:
        kill_process_tree(pid)
    return len(pids)


if __name__ == "__main__":
    from grading.autograde.processes import skip_unused_iri_grammar

    skip_unused_iri_grammar()
    serve()
