"""The sandbox a submission's kernel runs in: bubblewrap namespaces, an unprivileged user, limits.

A submission's notebook is student code, so its kernel runs where it can hurt nothing but
itself. The grading program (nbgrader's autograde for one submission,
:mod:`grading.autograde.grade_in_sandbox`) runs outside, as the grader's user, in a process
forked from a warm server that imported nbgrader once
(:mod:`grading.autograde.grading_server`); it starts the kernel through
:class:`grading.autograde.kernel_manager.SandboxedKernelManager`, which wraps the kernel's
command line in :func:`jail_command`::

    bwrap --unshare-{ipc,pid,net,uts,cgroup} --die-with-parent --new-session
          --ro-bind the system, the Python environment, labcore, the data folders
          --tmpfs /tmp, /dev/shm, /home/student (size-limited) --proc --dev
      setpriv --reuid UID --regid UID --clear-groups --no-new-privs --bounding-set=-all
        prlimit --nproc --fsize --data --core=0
          sh -c 'copy the released files into /home/student; exec the kernel'

The grader talks to the kernel over Unix sockets (ZeroMQ's ``ipc`` transport) in a folder
bound into the sandbox, so the kernel's network namespace holds nothing but its own
loopback. Where the sandbox cannot be set up, grading refuses (:func:`require_sandbox`);
``--unsafe-no-sandbox`` grades anyway, for development only, and every result records it.
The memory cap is watched from outside the sandbox (:mod:`grading.autograde.processes`).
What the sandbox guarantees, and what it needs, is in ``docs/sandbox.md``.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from grading.autograde.kernel_home import MATPLOTLIB_FOLDER
from grading.errors import BadInput, CommandFailed

__all__ = [
    "KILL_GRACE_S",
    "RUN_DIR",
    "SANDBOX_HOME",
    "SandboxLimits",
    "SandboxUnavailable",
    "jail_command",
    "kernel_environment",
    "kernel_ids",
    "require_sandbox",
    "sandbox_problem",
    "system_tool",
]

#: Seconds the supervisor waits beyond the notebook's limit before it kills the grading program.
KILL_GRACE_S = 60.0
#: The kernel's home and working folder inside the sandbox (a size-limited tmpfs).
SANDBOX_HOME = "/home/student"
#: Where the grader's files for the kernel appear inside the sandbox.
RUN_DIR = "/run/cnnlab"
#: Kernels of a root grader run as a fresh uid from this range, one per kernel, so that no
#: two sandboxes share a process count and none shares a user with anything on the host.
UID_RANGE = (1_000_000_000, 1_100_000_000)
#: What a kernel may see of the host's system folders (read-only).
SYSTEM_FOLDERS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
#: Environment variables the kernel keeps (besides the ``LABCORE_*`` ones).
KERNEL_ENV_ALLOWED = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_CPP_MIN_LOG_LEVEL",
    "KERAS_BACKEND",
    "MPLBACKEND",
    "NBGRADER_EXECUTION",
    "PYTHONHASHSEED",
)


class SandboxUnavailable(CommandFailed, RuntimeError):
    """Submissions cannot be isolated here; grading refuses (``--unsafe-no-sandbox`` overrides)."""


@dataclass(frozen=True)
class SandboxLimits:
    """The limits one submission is graded under.

    Attributes
    ----------
    cell_timeout : float
        Seconds one cell may run before it is interrupted (``c.Execute.timeout``).
    notebook_timeout : float
        Seconds the whole submission may take (all its notebooks).
    memory_limit_mb : int
        Resident memory of the kernel and its children, in MiB.
    max_processes : int
        Processes and threads the kernel's user may have (``RLIMIT_NPROC``).
    max_file_size_mb : int
        Largest file the kernel may write (``RLIMIT_FSIZE``), in MiB.
    workspace_size_mb : int
        Size of the kernel's home folder (a tmpfs), in MiB.
    tmp_size_mb : int
        Size of its ``/tmp`` (``/dev/shm`` gets a quarter), in MiB.
    unsafe_no_sandbox : bool
        Grade without the sandbox (development only; recorded in every result).
    """

    cell_timeout: float = 900.0
    notebook_timeout: float = 3600.0
    memory_limit_mb: int = 4096
    max_processes: int = 1024
    max_file_size_mb: int = 512
    workspace_size_mb: int = 1024
    tmp_size_mb: int = 1024
    unsafe_no_sandbox: bool = False

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "unsafe_no_sandbox":
                if not isinstance(value, bool):
                    raise BadInput(
                        f"Sandbox setting unsafe_no_sandbox must be True or False, got {value!r}"
                    )
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise BadInput(
                    f"Sandbox limit {item.name} must be a positive number, got {value!r}"
                )

    @classmethod
    def from_config(cls, config) -> SandboxLimits:
        """The limits a traitlets config (``grading/nbgrader_config.py``) sets.

        Parameters
        ----------
        config : traitlets.config.Config
            Reads ``Execute.timeout`` and the ``GradingSandbox`` section (every field but
            ``cell_timeout`` and ``unsafe_no_sandbox``); anything unset keeps its default.

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
        known = {f.name for f in fields(cls)} - {"cell_timeout", "unsafe_no_sandbox"}
        unknown = set(section) - known
        if unknown:
            raise BadInput(
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


# --------------------------------------------------------------------------- availability


def system_tool(name: str) -> str | None:
    """The path of a system program (``setpriv``, ``prlimit``), or ``None`` when missing.

    Parameters
    ----------
    name : str
        The program's name.

    Returns
    -------
    str or None
        Found on ``PATH``, else in ``/usr/bin`` or ``/bin``.
    """
    return shutil.which(name) or next(
        (
            str(Path(folder) / name)
            for folder in ("/usr/bin", "/bin")
            if (Path(folder) / name).is_file()
        ),
        None,
    )


@functools.cache
def _problem_for(path_variable: str, euid: int) -> str | None:
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux namespaces (grade on Linux)"
    bwrap = shutil.which("bwrap", path=path_variable)
    if not bwrap:
        return "bubblewrap is not installed (no bwrap on PATH): apt-get install bubblewrap"
    if euid == 0:
        for tool, package in (("setpriv", "util-linux"), ("prlimit", "util-linux")):
            if system_tool(tool) is None:
                return f"{tool} is missing: apt-get install {package}"
    probe = [bwrap, *_namespace_flags(euid), "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap did not start ({error})"
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return (
            f"bwrap cannot create namespaces here ({detail}): enable unprivileged user "
            "namespaces (sysctl -w kernel.unprivileged_userns_clone=1 and "
            "user.max_user_namespaces=10000), or grade as root"
        )
    return None


def sandbox_problem() -> str | None:
    """Why submissions cannot be sandboxed on this machine, or ``None`` when they can.

    Probed once per ``PATH`` and user, by starting ``bwrap`` with the namespaces grading
    uses.

    Returns
    -------
    str or None
        What is missing and how to get it.
    """
    return _problem_for(os.environ.get("PATH", os.defpath), os.geteuid())


def require_sandbox(limits: SandboxLimits) -> None:
    """Refuse to grade where the sandbox cannot be set up (fail closed).

    Parameters
    ----------
    limits : SandboxLimits
        With ``unsafe_no_sandbox`` set, nothing is checked.

    Raises
    ------
    SandboxUnavailable
        With one line naming what is missing and how to get it.
    """
    if limits.unsafe_no_sandbox:
        return
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(
            f"cannot isolate submissions: {problem}. (--unsafe-no-sandbox grades without "
            "isolation, for development only.)"
        )
    if os.geteuid() == 0:  # kernels get a fresh uid: they read what every user may read
        for name, folder in _data_folders(dict(os.environ)).items():
            hidden = _first_private_path(folder)
            if hidden is not None:
                raise SandboxUnavailable(
                    f"the kernels cannot read the data folder {folder} ({name}): {hidden} "
                    f"has mode {hidden.stat().st_mode & 0o777:04o}, and kernels run as an "
                    f"unprivileged user. Make it readable (chmod -R a+rX {folder}) or point "
                    f"{name} at a readable copy."
                )


def _first_private_path(folder: Path, limit: int = 20_000) -> Path | None:
    """The first path under ``folder`` that users other than its owner cannot read.

    Folders need read and search permission for others, files read permission; at most
    ``limit`` entries are looked at (a data folder holds a few hundred).
    """
    import itertools

    for path in itertools.islice(itertools.chain([folder], folder.rglob("*")), limit):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # a dangling link: nothing to read either way
        needed = 0o005 if stat.S_ISDIR(mode) else 0o004
        if mode & needed != needed:
            return path
    return None


def kernel_ids() -> tuple[int, int] | None:
    """The ``(uid, gid)`` a new kernel runs as, or ``None`` to keep this process's user.

    Returns
    -------
    tuple of int or None
        A fresh unprivileged id from :data:`UID_RANGE` when this process is root (no file
        on the host belongs to it, no process shares it); else ``None``: the kernel keeps
        the grader's own unprivileged user (inside a user namespace).
    """
    if os.geteuid() != 0:
        return None
    uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
    return uid, uid


# --------------------------------------------------------------------------- the jail


def _namespace_flags(euid: int) -> list[str]:
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    flags += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if euid != 0:  # an ordinary user needs a user namespace for the others
        flags += ["--unshare-user"]
    return flags


def _environment_folders() -> list[Path]:
    """The folders of the Python environment and of labcore, as the kernel needs them."""
    import importlib.util

    folders = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders.add(Path(sys.executable).resolve().parent.parent)
    spec = importlib.util.find_spec("labcore")
    if spec is not None and spec.origin:
        folders.add(Path(spec.origin).resolve().parent)
    resolved = {folder.resolve() for folder in folders} | folders
    # drop folders inside others (one bind serves both)
    return sorted(
        folder
        for folder in resolved
        if folder.is_dir()
        and not any(other != folder and other in folder.parents for other in resolved)
    )


def _path_variables() -> tuple[str, str]:
    """The ``LABCORE_*`` variables that name host paths: passed on only when bound."""
    from labcore.datastore import DATA_DIR_ENV, MIRROR_ENV

    return DATA_DIR_ENV, MIRROR_ENV


def _data_folders(environ: dict[str, str]) -> dict[str, Path]:
    """The data folders the kernel reads (labcore's data folder and mirror), by variable."""
    from labcore.datastore import DATA_DIR_ENV, MIRROR_ENV, data_dir

    found = {DATA_DIR_ENV: Path(environ[DATA_DIR_ENV]) if environ.get(DATA_DIR_ENV) else data_dir()}
    if environ.get(MIRROR_ENV):
        found[MIRROR_ENV] = Path(environ[MIRROR_ENV])
    return {name: folder.resolve() for name, folder in found.items() if folder.is_dir()}


def kernel_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: an allow-list, never the grader's paths or secrets.

    Parameters
    ----------
    environ : dict, optional
        The environment to pick from; default this process's.

    Returns
    -------
    dict
        ``PATH``, ``HOME`` and its Jupyter, IPython, Matplotlib and Keras folders,
        language, thread counts, Keras and TensorFlow settings, ``NBGRADER_EXECUTION`` and
        the ``LABCORE_*`` values (the data folders as bound in the sandbox).
    """
    environ = dict(os.environ if environ is None else environ)
    home = SANDBOX_HOME
    env = {name: environ[name] for name in KERNEL_ENV_ALLOWED if name in environ}
    env.update({name: value for name, value in environ.items() if name.startswith("LABCORE_")})
    for name in _path_variables():
        env.pop(name, None)
    env.update({name: str(folder) for name, folder in _data_folders(environ).items()})
    bin_folder = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": f"{bin_folder}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": "student",
            "LOGNAME": "student",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "IPYTHONDIR": f"{home}/.ipython",
            "MPLCONFIGDIR": f"{home}/{MATPLOTLIB_FOLDER}",  # its font cache: kernel_home
            "KERAS_HOME": f"{home}/.keras",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
            "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
            "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime",
        }
    )
    return env


def jail_command(
    command: list[str],
    *,
    files: Path,
    connection_file: Path,
    ipc_folder: Path,
    limits: SandboxLimits,
    ids: tuple[int, int] | None,
    env: dict[str, str],
) -> list[str]:
    """The command line that runs ``command`` (a kernel) in the sandbox.

    Parameters
    ----------
    command : list of str
        The kernel's command; it must read its connection file from
        ``/run/cnnlab/connection.json``.
    files : pathlib.Path
        A folder whose content (the submission's notebook folder: the released files of
        the assignment and the student's own) is copied into the kernel's home.
    connection_file : pathlib.Path
        The kernel's connection file, readable by the kernel's user.
    ipc_folder : pathlib.Path
        The folder of the kernel's ZeroMQ sockets, writable by the kernel's user.
    limits : SandboxLimits
        Process count, file size, memory (``RLIMIT_DATA`` at twice the cap) and the sizes
        of the tmpfs folders.
    ids : tuple of int or None
        ``(uid, gid)`` to switch to (the grader is root), or ``None``.
    env : dict
        The kernel's environment (:func:`kernel_environment`): the data folders it names
        are bound read-only.

    Returns
    -------
    list of str
        ``bwrap ... -- [setpriv ... --] prlimit ... -- sh -c ... COMMAND``.
    """
    mib = 1024 * 1024
    args = [shutil.which("bwrap") or "bwrap", *_namespace_flags(os.geteuid())]
    # the kernel's parent is the namespace's init, not the grader: it must not watch for it
    args += ["--hostname", "sandbox", "--unsetenv", "JPY_PARENT_PID"]
    binds = [(folder, folder, "--ro-bind-try") for folder in SYSTEM_FOLDERS]
    data = [Path(env[name]) for name in _path_variables() if env.get(name)]
    binds += [
        (str(folder), str(folder), "--ro-bind") for folder in [*_environment_folders(), *data]
    ]
    binds += [
        (str(files), f"{RUN_DIR}/files", "--ro-bind"),
        (str(connection_file), f"{RUN_DIR}/connection.json", "--ro-bind"),
        (str(ipc_folder), f"{RUN_DIR}/ipc", "--bind"),
    ]
    # the private folders first: a bind below them (an environment or checkout under
    # /tmp, say) must land on top of the tmpfs, not under it
    args += ["--proc", "/proc", "--dev", "/dev"]
    for folder, size_mb in (
        ("/tmp", limits.tmp_size_mb),
        ("/dev/shm", max(1, limits.tmp_size_mb // 4)),
        (SANDBOX_HOME, limits.workspace_size_mb),
    ):  # private to this sandbox, and gone with it
        args += ["--perms", "1777", "--size", str(int(size_mb) * mib), "--tmpfs", folder]
    made = set()
    for source, target, option in binds:
        # bwrap makes missing parents private (0700): make them traversable first
        for parent in reversed(Path(target).parents[:-1]):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += [option, source, target]
    args += ["--remount-ro", "/", "--chdir", SANDBOX_HOME, "--"]
    if ids is not None:
        uid, gid = ids
        args += [
            system_tool("setpriv") or "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    args += [
        system_tool("prlimit") or "prlimit",
        f"--nproc={int(limits.max_processes)}",
        f"--fsize={int(limits.max_file_size_mb) * mib}",
        f"--data={int(limits.memory_limit_mb) * 2 * mib}",
        "--core=0",
        "--",
        "/bin/sh",
        "-c",
        'cp -R -- "$0"/. "$HOME"/ && exec "$@"',
        f"{RUN_DIR}/files",
        *command,
    ]
    return args
