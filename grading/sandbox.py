"""The sandbox a submission is graded in: its own processes, time, memory, no network.

A submission's notebook is student code, so it runs where it can hurt nothing but itself.
:func:`run_sandboxed` starts the grading program for one submission (nbgrader's autograde,
:mod:`grading.grade_in_sandbox`) like this::

    setpriv --pdeathsig KILL --                      # dies with the grader
      unshare --net --pid --fork --kill-child --mount-proc --
        sh -c 'ip link set lo up && exec python -m grading.grade_in_sandbox JOB'

and the notebook's kernel is started inside it by :func:`kernel_main` (the kernelspec's
command), which drops to an unprivileged user and caps the kernel's memory before it becomes
the kernel.

Limits and their defaults (``c.Execute.timeout`` and ``c.GradingSandbox`` in
``grading/nbgrader_config.py``; ``cnnlab autograde`` options override them)
-------------------------------------------------------------------------------------------
per-cell timeout, ``c.Execute.timeout`` = 900 s
    nbgrader interrupts a cell that runs longer and goes on with the next one (the cell
    scores 0). A cell that ignores the interrupt stops the kernel; the rest score 0.
notebook wall-clock limit, ``notebook_timeout`` = 3600 s
    The grading program stops the kernel when the submission's time is up and scores what
    ran (a cell then gets at most the time that is left). Should the program itself not
    finish, the supervisor kills the whole sandbox 60 s later (:data:`KILL_GRACE_S`) and the
    grade is built from the cells recorded so far.
memory, ``memory_limit_mb`` = 4096 MB
    A watchdog in the grading program adds up the resident memory (RSS) of the kernel and
    everything it started, every 0.2 s, and kills them when the sum passes the cap;
    the cell scores 0 with the reason "memory". ``RLIMIT_DATA`` at twice the cap backs it
    up (a faster allocation then fails inside the cell with ``MemoryError``).
    ``RLIMIT_AS`` is not used: TensorFlow reserves gigabytes of address space it never
    touches (2.7 GB of virtual memory for 0.8 GB resident after a small ``fit`` on two
    cores, and more with every core), so an address-space cap either breaks TensorFlow or
    caps nothing; ``RLIMIT_DATA`` counts the private writable memory that the data
    actually fills (0.6 GB there).
network, ``isolate_network`` = True
    Linux network and PID namespaces: only a loopback interface exists (nbgrader talks to
    the kernel over loopback ZMQ), so any connection out fails at once. As root this is
    ``unshare --net``; as another user ``unshare --user --map-root-user`` does the same
    where user namespaces are enabled. Where neither works (not Linux, a locked-down
    container) grading goes on and every result records "network not isolated".
processes
    Every process of a submission lives in one PID namespace. When its first process ends,
    for whatever reason, the kernel and anything the student started die with it; the
    grader's death kills the sandbox (``PR_SET_PDEATHSIG``, set again after every change of
    user because Linux clears it then). No kernel outlives its submission.
files, ``kernel_user`` = "nobody"
    When the grader runs as root (CI, containers), the kernel runs as this user in an empty
    workspace of its own (its working and home directory), so student code cannot read or
    change the grading program's files (the private gradebook, the per-cell proof of
    completion), other students' work or the course checkout. The grader first checks that
    this user can start the environment's Python (:func:`user_can_run_kernel`; a Python
    installed under ``/root`` cannot); if not, the kernel keeps the grader's user and the
    run warns. Run as an ordinary user, the kernel runs as that user and this protection is
    weaker: prefer root in a container, with Python installed where every user may read
    it, for untrusted classes. The grading program's own memory is not counted in the cap.

Not limited: CPU time beyond the wall-clock limit, the number of processes, disk space.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = [
    "KILL_GRACE_S",
    "MemoryWatchdog",
    "SandboxLimits",
    "SandboxOutcome",
    "isolation",
    "kernel_argv",
    "kernel_main",
    "kill_children",
    "kill_process_tree",
    "kill_running",
    "launcher_command",
    "readable_by",
    "run_sandboxed",
    "sandbox_user",
    "user_can_run_kernel",
    "write_kernelspec",
]

#: Seconds the supervisor waits beyond the notebook's limit before it kills the sandbox.
KILL_GRACE_S = 60.0

_LOOPBACK_UP = 'ip link set lo up && exec "$0" "$@"'
_running: set[int] = set()  # process ids of the sandboxes this process runs now
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SandboxLimits:
    """The limits one submission is graded under.

    Attributes
    ----------
    cell_timeout : float
        Seconds one cell may run before nbgrader interrupts it (``c.Execute.timeout``).
    notebook_timeout : float
        Seconds the whole submission may take (all its notebooks).
    memory_limit_mb : int
        Resident memory of the kernel and its children, in MiB.
    isolate_network : bool
        Whether to cut the network off (falls back, recorded, where impossible).
    kernel_user : str or None
        The user the kernel runs as when the grader is root; ``None`` keeps root.
    """

    cell_timeout: float = 900.0
    notebook_timeout: float = 3600.0
    memory_limit_mb: int = 4096
    isolate_network: bool = True
    kernel_user: str | None = "nobody"

    def __post_init__(self):
        for name in ("cell_timeout", "notebook_timeout", "memory_limit_mb"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"Sandbox limit {name} must be a positive number, got {value!r}")

    @classmethod
    def from_config(cls, config) -> SandboxLimits:
        """The limits a traitlets config (``grading/nbgrader_config.py``) sets.

        Parameters
        ----------
        config : traitlets.config.Config
            Reads ``Execute.timeout`` and the ``GradingSandbox`` section
            (``notebook_timeout``, ``memory_limit_mb``, ``isolate_network``,
            ``kernel_user``); anything unset keeps its default.

        Returns
        -------
        SandboxLimits
            The limits.

        Raises
        ------
        ValueError
            If ``GradingSandbox`` names an unknown setting.
        """
        values = {}
        execute = config.get("Execute", {})
        if "timeout" in execute and execute["timeout"] is not None:
            values["cell_timeout"] = float(execute["timeout"])
        section = dict(config.get("GradingSandbox", {}))
        known = {"notebook_timeout", "memory_limit_mb", "isolate_network", "kernel_user"}
        unknown = set(section) - known
        if unknown:
            raise ValueError(
                f"c.GradingSandbox has no setting(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        values.update(section)
        return cls(**values)

    def replace(self, **changes) -> SandboxLimits:
        """A copy with some limits changed (``None`` values are ignored).

        Parameters
        ----------
        **changes
            Field names and new values.

        Returns
        -------
        SandboxLimits
            The new limits.
        """
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        """The limits as a JSON-friendly dict.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class SandboxOutcome:
    """How a sandboxed program ended.

    Attributes
    ----------
    returncode : int
        Its exit status (negative: killed by that signal).
    killed : bool
        Whether the supervisor killed it at its wall-clock limit.
    seconds : float
        Wall-clock seconds it ran.
    network_isolated : bool
        Whether it ran without network access.
    """

    returncode: int
    killed: bool
    seconds: float
    network_isolated: bool


# --------------------------------------------------------------------------- isolation


def _namespace_prefix(unprivileged: bool) -> list[str]:
    prefix = ["unshare"]
    if unprivileged:
        prefix += ["--user", "--map-root-user"]
    return [*prefix, "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--"]


@functools.cache
def isolation(isolate_network: bool = True) -> tuple[tuple[str, ...], bool]:
    """The command prefix that isolates a program, probed once per process.

    Parameters
    ----------
    isolate_network : bool
        ``False`` skips namespaces altogether.

    Returns
    -------
    tuple
        ``(prefix, network_isolated)``: the arguments to put before the program and
        whether they cut the network off. Without isolation the prefix is empty.
    """
    if not isolate_network or not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return (), False
    candidates = [_namespace_prefix(unprivileged=os.geteuid() != 0)]
    if os.geteuid() == 0:
        candidates.append(_namespace_prefix(unprivileged=True))
    for prefix in candidates:
        command = [*prefix, "sh", "-c", _LOOPBACK_UP, "true"]
        try:
            probe = subprocess.run(command, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return (*prefix, "sh", "-c", _LOOPBACK_UP), True
    return (), False


def sandbox_user(name: str | None) -> tuple[int, int] | None:
    """The ``(uid, gid)`` the kernel switches to, or ``None`` when it stays as it is.

    Parameters
    ----------
    name : str or None
        A user name; ignored unless this process runs as root.

    Returns
    -------
    tuple of int or None
        The user's ids when running as root, the user exists and can start a kernel of
        this environment (:func:`user_can_run_kernel`); else ``None``.

    Raises
    ------
    ValueError
        If running as root and the user does not exist.
    """
    if not name or os.geteuid() != 0:
        return None
    ids = _user_ids(name)
    return ids if user_can_run_kernel(name) else None


def _user_ids(name: str) -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError(
            f"The sandbox user {name!r} does not exist; create it or set "
            "c.GradingSandbox.kernel_user in grading/nbgrader_config.py"
        ) from None
    return entry.pw_uid, entry.pw_gid


@functools.cache
def user_can_run_kernel(name: str) -> bool:
    """Whether a user can start this environment's Python with the kernel's packages.

    Tried once per process, the way :func:`kernel_main` does it: an interpreter installed
    where only root can read it (a ``pyenv`` under ``/root``, say) cannot run as another
    user, and the kernel then keeps the grader's user.

    Parameters
    ----------
    name : str
        A user name.

    Returns
    -------
    bool
        ``True`` when the trial run succeeded.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cnnlab-probe-") as folder:
        workspace = Path(folder) / "workspace"
        workspace.mkdir()
        Path(folder).chmod(0o711)
        connection = Path(folder) / "connection.json"  # readable by root only, like a kernel's
        connection.write_text("{}")
        connection.chmod(0o600)
        check = "import sys, grading, ipykernel, labcore; open(sys.argv[2]).read()"
        command = launcher_command(
            workspace, [sys.executable, "-c", check, "-f", str(connection)], user=name
        )
        try:
            probe = subprocess.run(command, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


def readable_by(path: Path, ids: tuple[int, int] | None) -> bool:
    """Whether a user could open a path (every folder on the way traversable, the end readable).

    Parameters
    ----------
    path : pathlib.Path
        A file or folder.
    ids : tuple of int or None
        ``(uid, gid)``; ``None`` means this process's user.

    Returns
    -------
    bool
        ``True`` when the permission bits allow it (owner, group and other bits).
    """
    if ids is None:
        return os.access(path, os.R_OK)
    uid, gid = ids
    path = Path(path).resolve()
    try:
        for folder in reversed(path.parents):
            if not _permits(folder.stat(), uid, gid, 0o1):
                return False
        status = path.stat()
    except OSError:
        return False
    return _permits(status, uid, gid, 0o5 if path.is_dir() else 0o4)


def _permits(status: os.stat_result, uid: int, gid: int, needed: int) -> bool:
    if status.st_uid == uid:
        bits = (status.st_mode >> 6) & 0o7
    elif status.st_gid == gid:
        bits = (status.st_mode >> 3) & 0o7
    else:
        bits = status.st_mode & 0o7
    return bits & needed == needed


# --------------------------------------------------------------------------- processes


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
    # not the root: its parent reaps it (and reads its real exit status)
    psutil.wait_procs(victims[1:], timeout=5)


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        import psutil

        return kind is not None and issubclass(kind, ProcessLookupError | psutil.Error)


def run_sandboxed(
    argv: list[str],
    *,
    timeout: float,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    isolate_network: bool = True,
) -> SandboxOutcome:
    """Run a program in the sandbox and wait for it, killing the whole tree at ``timeout``.

    Parameters
    ----------
    argv : list of str
        The program and its arguments.
    timeout : float
        Wall-clock seconds before the sandbox is killed.
    cwd : pathlib.Path
        Its working directory.
    env : dict
        Its environment.
    log_path : pathlib.Path
        Where its standard output and error go.
    isolate_network : bool
        Whether to run it in network and PID namespaces (see :func:`isolation`).

    Returns
    -------
    SandboxOutcome
        How it ended.
    """
    prefix, isolated = isolation(isolate_network)
    command = list(prefix) + list(argv)
    if shutil.which("setpriv") and sys.platform.startswith("linux"):
        command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
    started = time.monotonic()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _running.add(process.pid)
        killed = False
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            kill_process_tree(process.pid)
            returncode = process.wait()
        except BaseException:
            kill_process_tree(process.pid)
            process.wait()
            raise
        finally:
            _running.discard(process.pid)
    return SandboxOutcome(
        returncode=returncode,
        killed=killed,
        seconds=time.monotonic() - started,
        network_isolated=isolated,
    )


def kill_children() -> None:
    """Kill every descendant of this process (the kernel and whatever it started)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with _suppress_lookup():
            child.kill()


def kill_running() -> int:
    """Kill every sandbox this process has running (on Ctrl-C, before exiting).

    Returns
    -------
    int
        How many sandboxes were killed.
    """
    pids = list(_running)
    for pid in pids:
        kill_process_tree(pid)
    return len(pids)


class MemoryWatchdog(threading.Thread):
    """Kill the kernel when this process's children use more memory than allowed.

    Runs in the grading program; every ``interval`` seconds it adds up the resident memory
    of all descendants of this process (the kernel and whatever it started; the grading
    program itself is not counted), and when the sum passes ``limit_mb`` it kills them all
    and remembers it.

    Parameters
    ----------
    limit_mb : int
        The cap in MiB.
    interval : float
        Seconds between checks.
    """

    def __init__(self, limit_mb: int, interval: float = 0.2):
        super().__init__(name="cnnlab-memory-watchdog", daemon=True)
        self.limit_bytes = int(limit_mb) * 1024 * 1024
        self.interval = interval
        self.peak_bytes = 0
        self.exceeded = threading.Event()
        self._stop_event = threading.Event()

    def total_rss(self) -> int:
        """Resident bytes of all descendants of this process.

        Returns
        -------
        int
            The sum of their RSS.
        """
        import psutil

        total = 0
        for process in psutil.Process().children(recursive=True):
            with _suppress_lookup():
                total += process.memory_info().rss
        return total

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            total = self.total_rss()
            self.peak_bytes = max(self.peak_bytes, total)
            if total > self.limit_bytes:
                self.exceeded.set()
                kill_children()

    def stop(self) -> None:
        """Stop watching."""
        self._stop_event.set()


# --------------------------------------------------------------------------- the kernel


def kernel_argv(workspace: Path, limits: SandboxLimits, user: str | None) -> list[str]:
    """The kernelspec command that starts an IPython kernel through :func:`kernel_main`.

    Parameters
    ----------
    workspace : pathlib.Path
        The kernel's own folder (working and home directory).
    limits : SandboxLimits
        For the memory cap.
    user : str or None
        The user to switch to (``None``: stay), as :func:`sandbox_user` decided.

    Returns
    -------
    list of str
        A kernelspec ``argv`` with the ``{connection_file}`` placeholder.
    """
    return launcher_command(
        workspace,
        [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        user=user,
        data_limit_mb=int(limits.memory_limit_mb) * 2,
    )


def launcher_command(
    workspace: Path,
    command: list[str],
    *,
    user: str | None = None,
    data_limit_mb: int | None = None,
) -> list[str]:
    """The command line that runs ``command`` through :func:`kernel_main`.

    Parameters
    ----------
    workspace : pathlib.Path
        The folder the command runs in (its working and home directory).
    command : list of str
        What to run once the sandbox is set up; a ``-f FILE`` in it is taken for a kernel
        connection file (copied for ``user`` when the user changes).
    user : str, optional
        The user to switch to when running as root; default: stay.
    data_limit_mb : int, optional
        ``RLIMIT_DATA`` in MB; default: no limit.

    Returns
    -------
    list of str
        ``python -m grading.sandbox --workspace DIR [--data-limit-mb N] [--user NAME] --
        COMMAND...``.
    """
    launcher = [sys.executable, "-m", "grading.sandbox", "--workspace", str(workspace)]
    if data_limit_mb is not None:
        launcher += ["--data-limit-mb", str(int(data_limit_mb))]
    if user:
        launcher += ["--user", user]
    return [*launcher, "--", *command]


def _set_parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass


def kernel_main(argv: list[str] | None = None) -> None:
    """Become the kernel: cap memory, drop to the sandbox user, then exec the kernel command.

    Used as ``python -m grading.sandbox --workspace DIR [--user NAME] [--data-limit-mb N]
    -- python -m ipykernel_launcher -f CONNECTION_FILE`` (see :func:`kernel_argv` and
    :func:`launcher_command`). When the
    user changes, the connection file (readable only by root) is copied into the workspace
    for the kernel first.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; default ``sys.argv[1:]``.
    """
    import resource

    parser = argparse.ArgumentParser(prog="python -m grading.sandbox")
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--user")
    parser.add_argument("--data-limit-mb", type=int)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")

    workspace = args.workspace.resolve()
    ids = _user_ids(args.user) if args.user and os.geteuid() == 0 else None
    if ids is not None and "-f" in command:
        at = command.index("-f") + 1
        private = workspace / ".kernel"
        private.mkdir(exist_ok=True)
        copy = private / "connection.json"
        shutil.copyfile(command[at], copy)
        for path in (private, copy):
            os.chown(path, *ids)
        copy.chmod(0o600)
        command[at] = str(copy)
    if args.data_limit_mb:
        limit = int(args.data_limit_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    os.environ.update(
        {
            "HOME": str(workspace),
            "IPYTHONDIR": str(workspace / ".ipython"),
            "MPLCONFIGDIR": str(workspace / ".matplotlib"),
            "KERAS_HOME": str(workspace / ".keras"),
            "XDG_CACHE_HOME": str(workspace / ".cache"),
            "JUPYTER_CONFIG_DIR": str(workspace / ".jupyter"),
            "JUPYTER_DATA_DIR": str(workspace / ".jupyter-data"),
        }
    )
    os.chdir(workspace)
    if ids is not None:
        uid, gid = ids
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    _set_parent_death_signal()  # after the switch: Linux clears it when the user changes
    os.execvp(command[0], command)


def write_kernelspec(
    folder: Path,
    workspace: Path,
    limits: SandboxLimits,
    user: str | None,
    name: str = "python3",
) -> Path:
    """Write a Python kernelspec whose kernel starts through :func:`kernel_main`.

    Parameters
    ----------
    folder : pathlib.Path
        A Jupyter data folder to put first on ``JUPYTER_PATH``.
    workspace : pathlib.Path
        The kernel's folder.
    limits : SandboxLimits
        The limits.
    user : str or None
        The user the kernel runs as (``None``: the grader's).
    name : str
        The kernel name it answers to (``python3``, or what notebooks and config ask for).

    Returns
    -------
    pathlib.Path
        The ``kernel.json`` written.
    """
    spec = folder / "kernels" / name / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        json.dumps(
            {
                "argv": kernel_argv(workspace, limits, user),
                "display_name": "Python 3 (cnnlab sandbox)",
                "language": "python",
                "metadata": {"debugger": False},
            },
            indent=1,
        )
    )
    return spec


if __name__ == "__main__":
    kernel_main()
