"""``cnnlab lab`` for a test: started as a student or instructor starts it, always stopped.

:func:`running_lab` runs the real command (``python -m grading.cli lab --no-browser
--port P ...``) in its own session with its output in a log file, reads the address it
prints (port and token), and waits until JupyterLab answers. On the way out it shuts
JupyterLab down through its API (which stops its kernels, so ``cnnlab lab`` returns), then
kills whatever of the command and its descendants is still alive, so a test leaves no
process behind, also when it fails. Every wait has a time limit.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from grading.autograde.processes import kill_process_tree
from grading.lab import free_port, lab_url

__all__ = ["LabServerError", "RunningLab", "isolated_jupyter_env", "running_lab"]

#: The line ``cnnlab lab`` prints with the address to open.
OPEN_LINE = re.compile(r"^Open: (http://\S+)$", re.MULTILINE)


class LabServerError(AssertionError):
    """The JupyterLab server did not start, answer or stop as it should."""


@dataclass(frozen=True)
class RunningLab:
    """A ``cnnlab lab`` started by :func:`running_lab`.

    Attributes
    ----------
    process : subprocess.Popen
        The ``cnnlab lab`` process (JupyterLab is its child).
    port : int
        JupyterLab's port on 127.0.0.1.
    token : str
        Its login token, from the printed address.
    route : str
        Where the printed address opens, e.g. ``"/lab/tree/01_fixture/fixture.ipynb"``.
    log_path : pathlib.Path
        The output of ``cnnlab lab`` and JupyterLab.
    """

    process: subprocess.Popen
    port: int
    token: str
    route: str
    log_path: Path

    def url(self, route: str | None = None) -> str:
        """The address of a route, logged in with the token.

        Parameters
        ----------
        route : str, optional
            E.g. ``"/lab/tree/01_fixture/fixture.ipynb"``; default :attr:`route`.

        Returns
        -------
        str
            ``http://127.0.0.1:<port><route>?token=<token>``.
        """
        return lab_url(self.port, self.token, route or self.route)

    def request(self, method: str, path: str, form: Mapping[str, str] | None = None, *, timeout):
        """Call the server's HTTP API with the token.

        Parameters
        ----------
        method : str
            ``"GET"`` or ``"POST"``.
        path : str
            E.g. ``"/api/status"``.
        form : mapping, optional
            Form fields to POST.
        timeout : float
            Seconds to wait for the answer.

        Returns
        -------
        object
            The decoded JSON answer.
        """
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode("utf-8")
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log.

        Parameters
        ----------
        lines : int, default=40
            How many lines.

        Returns
        -------
        str
            The last lines of the log.
        """
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def isolated_jupyter_env(env: Mapping[str, str], folder: Path) -> dict[str, str]:
    """``env`` with the user's own Jupyter folders replaced by fresh ones under ``folder``.

    The server then reads no personal configuration (``~/.jupyter``), lab settings or
    workspaces, and writes its runtime files (cookie secret, kernel connection files) there;
    the installed extensions and the course configuration on ``JUPYTER_CONFIG_PATH`` stay.

    Parameters
    ----------
    env : mapping
        E.g. from :func:`grading.lab.lab_environment`.
    folder : pathlib.Path
        An empty folder for the Jupyter folders.

    Returns
    -------
    dict
        The environment, with ``JUPYTER_CONFIG_DIR``, ``JUPYTER_RUNTIME_DIR``,
        ``JUPYTERLAB_SETTINGS_DIR`` and ``JUPYTERLAB_WORKSPACES_DIR`` under ``folder``.
    """
    env = dict(env)
    for name, sub in {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
    }.items():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(folder / sub)
    return env


def _wait_until_ready(lab: RunningLab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if lab.process.poll() is not None:
            raise LabServerError(
                f"JupyterLab exited with status {lab.process.returncode} before it answered; "
                f"its log ({lab.log_path}) ends with:\n{lab.log_tail()}"
            )
        try:
            lab.request("GET", "/api/status", timeout=5)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise LabServerError(
                f"JupyterLab did not answer on port {lab.port} within {timeout:.0f} s; its log "
                f"({lab.log_path}) ends with:\n{lab.log_tail()}"
            )
        time.sleep(0.5)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid} ({' '.join(process.cmdline()[:4])})"
    except psutil.Error:
        return f"pid {process.pid}"


def _stop(lab: RunningLab, timeout: float) -> list[str]:
    """Shut the server down (its kernels first), then kill what is left; name what was."""
    try:
        server = psutil.Process(lab.process.pid)
        processes = [server, *server.children(recursive=True)]
    except psutil.NoSuchProcess:
        processes = []
    if lab.process.poll() is None:
        with suppress(OSError):  # not answering (URLError is an OSError): killed below
            lab.request("POST", "/api/shutdown", timeout=5)
        with suppress(subprocess.TimeoutExpired):
            lab.process.wait(timeout=timeout)
    survivors = [process for process in processes if _alive(process)]
    described = [_describe(process) for process in survivors]
    if lab.process.poll() is None:
        kill_process_tree(lab.process.pid)
    for process in survivors:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(survivors, timeout=5)
    lab.process.wait(timeout=5)
    return described


def _wait_for_address(process: subprocess.Popen, log_path: Path, timeout: float) -> str:
    """The ``Open: <address>`` line ``cnnlab lab`` prints before it starts JupyterLab."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        found = OPEN_LINE.search(text)
        if found:
            return found.group(1)
        if process.poll() is not None or time.monotonic() > deadline:
            why = (
                f"it exited with status {process.returncode}"
                if process.poll() is not None
                else f"not within {timeout:.0f} s"
            )
            raise LabServerError(
                f"cnnlab lab printed no address ({why}); its output ({log_path}):\n{text[-3000:]}"
            )
        time.sleep(0.25)


@contextmanager
def running_lab(
    arguments: list[str],
    env: Mapping[str, str],
    *,
    log_path: Path,
    start_timeout: float = 120.0,
    stop_timeout: float = 20.0,
) -> Iterator[RunningLab]:
    """Run ``cnnlab lab --no-browser --port <free port> ARGUMENTS`` for the ``with`` block.

    Parameters
    ----------
    arguments : list of str
        E.g. ``["--student", "--assignment", "01_fixture", "--profile", "smoke"]``.
    env : mapping
        Its environment (``CNNLAB_ROOT`` naming the course; :func:`isolated_jupyter_env`).
    log_path : pathlib.Path
        Where its output goes.
    start_timeout : float, default=120
        Seconds until JupyterLab must answer (a release it makes first included).
    stop_timeout : float, default=20
        Seconds to wait for a clean shutdown before killing it and its descendants.

    Yields
    ------
    RunningLab
        The server, with the address ``cnnlab lab`` printed.

    Raises
    ------
    LabServerError
        If it does not start in time, or its processes had to be killed on the way out
        (then the ones killed are named).
    """
    port = free_port()
    command = [sys.executable, "-m", "grading.cli", "lab", "--no-browser", "--port", str(port)]
    command += list(arguments)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = RunningLab(process, port, "", "", log_path)
    failed = False
    try:
        address = _wait_for_address(process, log_path, start_timeout)
        parts = urllib.parse.urlsplit(address)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.port != port or "token" not in query:
            raise LabServerError(
                f"cnnlab lab printed {address!r}; expected port {port} and a token."
            )
        route = parts.path + ("?formgrader=true" if query.get("formgrader") == "true" else "")
        lab = RunningLab(process, port, query["token"], route, log_path)
        _wait_until_ready(lab, start_timeout)
        yield lab
    except BaseException:
        failed = True
        raise
    finally:
        killed = _stop(lab, stop_timeout)
        if killed and not failed:
            raise LabServerError(
                "JupyterLab did not shut down cleanly; killed: " + "; ".join(killed)
            )
