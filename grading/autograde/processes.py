"""Process trees: killing one, and capping the memory of this process's children.

:func:`kill_process_tree` is the one process-tree killer of the project (the runner's
workers, the grading programs, test servers); :func:`kill_children` and
:class:`MemoryWatchdog` run in the grading program
(:mod:`grading.autograde.grade_in_sandbox`), where the kernel and whatever it started are the
program's descendants. :func:`skip_unused_iri_grammar` is what our own programs (the
``cnnlab`` command, the warm server and the grading program) do first, to start faster.
:func:`die_with_parent` and :func:`tied_to_this_process` tie a child to its parent: the
warm server to the grader, each grading program to the server, each sandbox to its grading
program. :func:`adopt_orphans` and :func:`kill_adopted` catch what a tie misses: the warm
server adopts whatever its grading programs leave behind, and kills it.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading

__all__ = [
    "MemoryWatchdog",
    "adopt_orphans",
    "die_with_parent",
    "kill_adopted",
    "kill_children",
    "kill_process_tree",
    "skip_unused_iri_grammar",
    "tied_to_this_process",
]

#: prctl(2): the signal this process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1
#: prctl(2): orphaned descendants of this process become its children, not init's.
_PR_SET_CHILD_SUBREAPER = 36


def die_with_parent(parent: int | None = None, signal_number: int = signal.SIGKILL) -> None:
    """Have this process signalled when its parent dies (Linux; elsewhere nothing).

    Called in a new child, after the fork (first thing in a forked child, or as
    ``preexec_fn``: see :func:`tied_to_this_process`). A parent that died before this call
    sends no signal; so with ``parent``, the pid of the process that forked this one, a
    child whose parent is already gone exits at once instead of living on as an orphan (a
    sandbox nobody stops). The signal survives ``exec`` of a program that is not
    set-user-ID, such as ``bwrap`` here.

    Parameters
    ----------
    parent : int, optional
        The parent's pid, taken before the fork.
    signal_number : int
        The signal: SIGKILL by default; SIGTERM for a process that cleans up first.
    """
    prctl = _libc_prctl()
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def tied_to_this_process(signal_number: int = signal.SIGKILL):
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child dies with this process.

    What :func:`die_with_parent` needs is looked up here, in the parent: between fork and
    exec, a child of a process with threads must not load libraries.

    Parameters
    ----------
    signal_number : int
        The signal the child gets when this process dies (see :func:`die_with_parent`).

    Returns
    -------
    callable
        :func:`die_with_parent` with this process's pid.
    """
    _libc_prctl()
    return functools.partial(die_with_parent, os.getpid(), signal_number)


def adopt_orphans() -> bool:
    """Make this process the parent of its descendants' orphans (Linux's child subreaper).

    A process whose parent dies goes to the nearest living ancestor that asked for this,
    instead of to init; :func:`kill_adopted` can then find and kill it. The ties of
    :func:`die_with_parent` have gaps no child can close: bubblewrap's own process inside
    the sandbox asks for its parent-death signal only after it started, so a grading
    program killed in that moment left a sandbox behind (4 and 11 times in two tries of
    200 processes killed 0–30 ms after they started ``bwrap``).

    Returns
    -------
    bool
        Whether it took effect (``False`` off Linux).
    """
    prctl = _libc_prctl()
    return prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def kill_adopted(keep: set[int]) -> int:
    """Kill (SIGKILL) every child of this process not in ``keep``, and all below it.

    Nothing is waited for: the caller reaps its children as they end.

    Parameters
    ----------
    keep : set of int
        The pids of the children to spare (the grading programs still running).

    Returns
    -------
    int
        How many children were killed.
    """
    import psutil

    killed = 0
    for child in psutil.Process().children():
        if child.pid not in keep:
            _kill_tree_now(child.pid)
            killed += 1
    return killed


@functools.cache
def _libc_prctl():
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def kill_process_tree(pid: int) -> None:
    """Kill a process, its process group and every descendant, now (SIGKILL).

    Descendants are collected before anything is killed, so none escapes by being
    re-parented; processes that started their own session are included.

    Parameters
    ----------
    pid : int
        The root of the tree.
    """
    import psutil

    victims = _kill_tree_now(pid)
    # not the root: its parent reaps it (and reads its real exit status)
    psutil.wait_procs(victims[1:], timeout=5)


def _kill_tree_now(pid: int) -> list:
    """SIGKILL a process, its group and its descendants (collected first); the victims."""
    import psutil

    try:
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        victims = []
    with _suppress_lookup():
        os.killpg(pid, signal.SIGKILL)
    for process in victims:
        with _suppress_lookup():
            process.kill()
    return victims


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        import psutil

        return kind is not None and issubclass(kind, ProcessLookupError | psutil.Error)


def kill_children() -> None:
    """Kill every descendant of this process (the kernel and whatever it started)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with _suppress_lookup():
            child.kill()


class MemoryWatchdog(threading.Thread):
    """Kill the kernel when this process's children use more memory than allowed.

    Runs in the grading program; it adds up the resident memory of all descendants of this
    process (the kernel and whatever it started; the grading program itself is not counted),
    and when the sum passes ``limit_mb`` it kills them all and remembers it.

    It checks every ``interval`` seconds near the cap, and less often (up to
    ``max_interval``) while the kernel is far below it: as often as a kernel growing by
    ``growth_mb_per_s`` could reach the cap. Each check reads every process on the machine
    (to find the descendants), a grading program's largest cost while its kernel runs.

    Parameters
    ----------
    limit_mb : int
        The cap in MiB.
    interval : float
        Seconds between checks near the cap.
    max_interval : float
        Seconds between checks far below it.
    growth_mb_per_s : float
        How fast a kernel is assumed to grow, at most.
    """

    def __init__(
        self,
        limit_mb: int,
        interval: float = 0.2,
        max_interval: float = 1.0,
        growth_mb_per_s: float = 4096,
    ):
        super().__init__(name="cnnlab-memory-watchdog", daemon=True)
        self.limit_bytes = int(limit_mb) * 1024 * 1024
        self.interval, self.max_interval = interval, max_interval
        self.growth_bytes_per_s = growth_mb_per_s * 1024 * 1024
        self.peak_bytes = 0
        self.exceeded = threading.Event()
        self._stop_event = threading.Event()

    def total_rss(self) -> int:
        """Resident bytes of all descendants of this process.

        Returns
        -------
        int
            The sum of their RSS (pages shared between them counted once per process).
        """
        import psutil

        total = 0
        for process in psutil.Process().children(recursive=True):
            with _suppress_lookup():
                total += process.memory_info().rss
        return total

    def total_pss(self) -> int:
        """Proportional resident bytes of all descendants (shared pages counted once).

        Slower than :meth:`total_rss` (it reads each process's memory map), so it only
        confirms a sum of RSS over the cap: forked children share their parent's pages.

        Returns
        -------
        int
            The sum of their PSS (their RSS where PSS is not available).
        """
        import psutil

        total = 0
        for process in psutil.Process().children(recursive=True):
            with _suppress_lookup():
                info = process.memory_full_info()
                total += getattr(info, "pss", info.rss)
        return total

    def next_wait(self, total: int) -> float:
        """Seconds until the next check, given the bytes in use now.

        Parameters
        ----------
        total : int
            Resident bytes of the descendants at this check.

        Returns
        -------
        float
            Between ``interval`` and ``max_interval``.
        """
        headroom = max(0, self.limit_bytes - total)
        return min(self.max_interval, max(self.interval, headroom / self.growth_bytes_per_s))

    def run(self) -> None:
        wait = self.interval
        while not self._stop_event.wait(wait):
            total = self.total_rss()
            if total > self.limit_bytes:
                total = self.total_pss()
            self.peak_bytes = max(self.peak_bytes, total)
            if total > self.limit_bytes:
                self.exceeded.set()
                kill_children()
            wait = self.next_wait(total)

    def stop(self) -> None:
        """Stop watching."""
        self._stop_event.set()


def skip_unused_iri_grammar() -> None:
    """Keep jsonschema from compiling a grammar nbformat never uses (about 0.8 s per start).

    nbformat validates with jsonschema, whose format checkers import the optional
    rfc3987-syntax package when it is installed (JupyterLab's jupyter-events pulls it in),
    and that import builds a parser for the IRI grammar. Without it jsonschema skips that one
    checker; the notebook schema has no IRI format. Only for a program of ours, before it
    imports nbformat: never in a process that imports this module as a library.
    """
    sys.modules.setdefault("rfc3987_syntax", None)
