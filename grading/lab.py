"""``cnnlab lab``: JupyterLab for students and instructors, with the course's nbgrader settings.

Students get JupyterLab in ``build/student/``, a working copy of the student kit
(``build/kit/<assignment>/`` and its ``nbgrader_config.py``, built first by
:func:`grading.kit.build_kit` if the kit lacks the assignment): what students get. Copying never
overwrites: a notebook the student has started stays as it is, and only files missing
from the working copy are added. The notebook toolbar has nbgrader's **Validate** button,
which runs the notebook in a fresh kernel and reports whether its visible tests pass.

Instructors get JupyterLab in the course root, with nbgrader's formgrader open (its
``CourseDirectory.root`` is ``build/``, which must lie inside the server's root).

How the course's nbgrader settings apply
----------------------------------------
nbgrader's JupyterLab server extensions (Validate, formgrader, the assignment and course
lists) each read ``nbgrader_config.py`` from every folder on the Jupyter configuration path
and from the server's working folder, when they run, not when the server starts. So
:func:`lab_environment` puts :data:`CONFIG_DIR`, the folder of ``grading/nbgrader_config.py``,
first on ``JUPYTER_CONFIG_PATH`` and sets ``CNNLAB_ROOT`` and ``CNNLAB_BUILD_DIR`` so that
the configuration finds this course from any working folder. Validate then executes with
``c.Execute.timeout`` = 900 s per cell instead of nbgrader's 30 s, which a training cell
would exceed. The same environment works for a plain ``jupyter lab`` (docs/students.md,
"Trying it as a student").

The environment also drops ``MPLBACKEND``: kernels should draw figures inline, and a
backend inherited from a shell, a test or CI (``Agg``) would turn pyplot figures into text.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlencode

from grading.autograde.processes import tied_to_this_process
from grading.base.nbgrader_driver import CONFIG_FILE
from grading.errors import BadInput
from grading.paths import BUILD_ENV, ROOT_ENV, CoursePaths, course_paths
from grading.student import student_copies, student_folder

__all__ = [
    "CONFIG_DIR",
    "free_port",
    "lab_command",
    "lab_environment",
    "lab_route",
    "lab_url",
]

#: The folder ``cnnlab lab`` puts on ``JUPYTER_CONFIG_PATH``: it holds the course's one
#: ``nbgrader_config.py`` (and no other Jupyter configuration).
CONFIG_DIR = CONFIG_FILE.parent
#: The interface JupyterLab listens on unless ``--ip`` says otherwise: this machine only.
DEFAULT_IP = "127.0.0.1"
#: jupyter_server reads its login token from the file this variable names (or from
#: ``JUPYTER_TOKEN``): never from the command line, which every user of the machine sees.
TOKEN_FILE_ENV = "JUPYTER_TOKEN_FILE"
TOKEN_ENV = "JUPYTER_TOKEN"
#: Seconds JupyterLab gets to stop its kernels before it is killed.
STOP_TIMEOUT_S = 30


def lab_environment(
    paths: CoursePaths,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a JupyterLab server with the course's nbgrader settings.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course whose ``nbgrader_config.py`` applies.
    profile : str, optional
        A labcore run profile (``smoke``, ``grade``, ``full``) for every kernel the server
        starts, Validate's included (``LABCORE_PROFILE``); default: none set, so notebooks
        run in ``full`` and Validate in ``grade``.
    environ : mapping, optional
        The environment to start from; default ``os.environ``.

    Returns
    -------
    dict
        ``environ`` with :data:`CONFIG_DIR` first on ``JUPYTER_CONFIG_PATH``,
        ``CNNLAB_ROOT`` and ``CNNLAB_BUILD_DIR`` naming the course, ``LABCORE_PROFILE`` if
        a profile is given, and no ``MPLBACKEND``.

    Raises
    ------
    ValueError
        If ``profile`` is not a labcore profile.
    """
    from labcore.profile import PROFILE_ENV, PROFILE_NAMES

    env = dict(os.environ if environ is None else environ)
    config_path = [str(CONFIG_DIR)]
    config_path += [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(config_path))
    env[ROOT_ENV] = str(paths.root)
    env[BUILD_ENV] = str(paths.build)
    env.pop("MPLBACKEND", None)
    if profile is not None:
        if profile not in PROFILE_NAMES:
            raise BadInput(
                f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}."
            )
        env[PROFILE_ENV] = profile
    return env


def free_port(ip: str = DEFAULT_IP) -> int:
    """A TCP port that is free on ``ip`` right now.

    Parameters
    ----------
    ip : str, default="127.0.0.1"
        The interface.

    Returns
    -------
    int
        A port number the operating system had free (another program may still take it
        before JupyterLab binds it; JupyterLab then fails with "port is already in use").
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((ip, 0))
        return int(probe.getsockname()[1])


def lab_route(path: str | None = None, *, formgrader: bool = False) -> str:
    """The JupyterLab route that opens a file, or formgrader.

    Parameters
    ----------
    path : str, optional
        A file to open, relative to the server's root (``"02_mnist/mnist_cnn.ipynb"``).
    formgrader : bool, default=False
        Open nbgrader's formgrader too.

    Returns
    -------
    str
        ``/lab``, ``/lab/tree/<path>``, either with ``?formgrader=true``.
    """
    route = "/lab/tree/" + quote(path.replace(os.sep, "/")) if path else "/lab"
    return route + ("?formgrader=true" if formgrader else "")


def lab_url(port: int, token: str, route: str = "/lab", *, ip: str = DEFAULT_IP) -> str:
    """The address that opens JupyterLab at a route, logged in.

    Parameters
    ----------
    port : int
        The server's port.
    token : str
        The server's token.
    route : str, default="/lab"
        From :func:`lab_route`.
    ip : str, default="127.0.0.1"
        The server's interface.

    Returns
    -------
    str
        ``http://<ip>:<port><route>?token=<token>``.
    """
    host = f"[{ip}]" if ":" in ip else ip
    separator = "&" if "?" in route else "?"
    return f"http://{host}:{port}{route}{separator}{urlencode({'token': token})}"


def lab_command(
    root_dir: Path,
    *,
    port: int,
    ip: str = DEFAULT_IP,
    open_browser: bool = True,
    start_url: str | None = None,
) -> list[str]:
    """The command line that starts JupyterLab (run it with :func:`lab_environment`).

    Parameters
    ----------
    root_dir : pathlib.Path
        The folder JupyterLab shows and may open files in.
    port : int
        The port; no other is tried if it is taken.
    ip : str, default="127.0.0.1"
        The interface to listen on.
    open_browser : bool, default=True
        Open the system's web browser.
    start_url : str, optional
        Where the browser opens and ``/`` redirects, e.g. ``"/lab/tree/02_mnist/mnist_cnn.ipynb"``;
        default ``/lab``.

    Returns
    -------
    list of str
        ``python -m jupyterlab ...`` with this interpreter, so the course environment's
        JupyterLab and nbgrader extensions are the ones that run (with ``allow_root``
        when running as root, as in containers and CI). The login token is not on it
        (every user of the machine sees command lines): pass it in the environment as
        :data:`TOKEN_ENV`.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={Path(root_dir).resolve()}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={int(port)}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if start_url:
        command.append(f"--LabApp.default_url={start_url}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # containers and CI often run as root; JupyterLab refuses that unless told
        command.append("--ServerApp.allow_root=True")
    return command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab lab``."""
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--student",
        dest="mode",
        action="store_const",
        const="student",
        help="work on released assignments in build/student/ (the default)",
    )
    who.add_argument(
        "--instructor",
        dest="mode",
        action="store_const",
        const="instructor",
        help="the course root with nbgrader's formgrader",
    )
    parser.set_defaults(mode="student")
    parser.add_argument(
        "--assignment",
        metavar="NAME",
        help="one assignment, e.g. 02_mnist (students: default all; "
        "instructors: also open its source notebook)",
    )
    parser.add_argument("--port", type=int, help="port (default: a free one)")
    parser.add_argument(
        "--ip", default=DEFAULT_IP, help=f"interface to listen on (default: {DEFAULT_IP})"
    )
    from labcore.profile import PROFILE_NAMES

    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="labcore run profile for every kernel, Validate's included (default: none set)",
    )
    parser.add_argument(
        "--no-browser",
        dest="open_browser",
        action="store_false",
        help="do not open a web browser; open the printed address yourself",
    )


def _student_start(paths: CoursePaths, assignment: str | None) -> tuple[Path, str | None]:
    """Prepare the working copies; the server root and the notebook to open."""
    names = [assignment] if assignment else paths.assignments()
    if not names:
        raise FileNotFoundError(f"No assignments in {paths.notebooks} to work on.")
    copies = student_copies(paths, names)
    root = student_folder(paths)
    for copy in copies:
        print(
            f"{copy.assignment}: {copy.folder} ({len(copy.copied)} file(s) copied from the "
            f"student kit, {len(copy.kept)} of your own kept as they are)"
        )
    start = None
    if assignment and copies[0].notebooks:
        start = copies[0].notebooks[0].relative_to(root).as_posix()
    return root, start


def _instructor_start(paths: CoursePaths, assignment: str | None) -> tuple[Path, str | None]:
    """The course root, and the source notebook of ``assignment`` to open."""
    if paths.root not in (paths.build, *paths.build.parents):
        print(
            f"warning: formgrader needs the build folder {paths.build} inside the course root "
            f"{paths.root}; unset {BUILD_ENV} to use <root>/build",
            file=sys.stderr,
        )
    start = None
    if assignment:
        notebooks = paths.source_notebooks(assignment)
        if notebooks:
            start = notebooks[0].relative_to(paths.root).as_posix()
    return paths.root, start


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab lab``: prepare the folder, print the address, run JupyterLab.

    Returns JupyterLab's exit status. Bad arguments or a missing course or assignment (exit
    status 2), and a failed release of an assignment that had to be released (1), are raised
    for :mod:`grading.cli`.
    """
    paths = course_paths()
    if args.mode == "instructor":
        root, start = _instructor_start(paths, args.assignment)
    else:
        root, start = _student_start(paths, args.assignment)
    env = lab_environment(paths, profile=args.profile)
    port = args.port or free_port(args.ip)
    token = secrets.token_hex(24)
    route = lab_route(start, formgrader=args.mode == "instructor")
    command = lab_command(
        root, port=port, ip=args.ip, open_browser=args.open_browser, start_url=route
    )
    print(f"JupyterLab ({args.mode}) in {root}: starting...", flush=True)
    with tempfile.TemporaryDirectory(prefix="cnnlab-lab-") as private:  # only we may enter
        token_file = Path(private) / "token"
        token_file.touch(mode=0o600)
        token_file.write_text(token, encoding="ascii")
        env.pop(TOKEN_ENV, None)  # it would win over the file
        env[TOKEN_FILE_ENV] = str(token_file)
        # JupyterLab gets SIGTERM (and stops its kernels) when cnnlab dies
        process = subprocess.Popen(
            command, cwd=root, env=env, preexec_fn=tied_to_this_process(signal.SIGTERM)
        )
        with _stopping_on_signals(process):
            answering = _wait_until_answering(process, args.ip, port)
            token_file.unlink()  # read at start; kernels inherit the variable, not the token
            if answering:
                print(f"Open: {lab_url(port, token, route, ip=args.ip)}")
                print("Stop: Ctrl-C in this terminal (that also stops the kernels).", flush=True)
            return process.wait()


@contextlib.contextmanager
def _stopping_on_signals(process: subprocess.Popen):
    """While the block runs, SIGINT, SIGTERM and SIGHUP to ``cnnlab`` stop JupyterLab.

    JupyterLab stops its kernels when it gets SIGTERM. Whatever ends the block, JupyterLab
    does not outlive it.
    """

    def stop(signum, frame):
        if process.poll() is None:
            process.terminate()

    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in stopping}
    try:
        yield
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_until_answering(process: subprocess.Popen, ip: str, port: int) -> bool:
    """Wait until JupyterLab answers HTTP on its port; False if it exits first."""
    import urllib.error
    import urllib.request

    host = "127.0.0.1" if ip in ("", "0.0.0.0") else ("::1" if ip == "::" else ip)
    url = lab_url(port, "", "/api", ip=host).split("?", 1)[0]
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:  # an answer all the same
            return True
        except OSError:  # not listening yet (URLError is an OSError)
            time.sleep(0.2)
    return False
