"""The kernel manager that starts a submission's kernel in the sandbox, and its kernelspec.

The grading program (:mod:`grading.autograde.grade_in_sandbox`) gives nbgrader's executor
:class:`SandboxedKernelManager`, which wraps the kernel's command line in
:func:`grading.autograde.sandbox.jail_command` and talks to the kernel over Unix sockets
(ZeroMQ's ``ipc`` transport) in a folder bound into the sandbox. With ``unsafe`` set
(``--unsafe-no-sandbox``, for development only) the kernel runs without the sandbox, under
the limits alone.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Type, Unicode

from grading.autograde.processes import tied_to_this_process
from grading.autograde.sandbox import (
    RUN_DIR,
    SANDBOX_HOME,
    SandboxLimits,
    jail_command,
    kernel_ids,
    system_tool,
)

__all__ = [
    "IPC_LOCATION",
    "ReadyKernelClient",
    "SandboxedKernelManager",
    "remove_ipc_folder",
    "write_kernelspec",
]


class ReadyKernelClient(AsyncKernelClient):
    """A kernel client that is ready as soon as the kernel has shown both channels work.

    jupyter_client's ``wait_for_ready`` ends with 0.2 s of waiting for IOPub to go quiet,
    on every kernel start. The wait only drops stale messages, which nbclient and the
    probes drop anyway: they take only the messages whose parent is their own request.
    Here the kernel is ready once it has answered ``kernel_info`` on the shell channel
    and any message has come in on IOPub (the subscription's welcome, or the request's
    status), which proves the subscription is in place; else ``kernel_info`` is asked
    again, as jupyter_client does.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            request = self.kernel_info()
            reply = await self._reply_to(request, deadline)
            if reply is not None:
                try:
                    await self.iopub_channel.get_msg(timeout=0.2)
                except Empty:
                    pass  # not subscribed yet: ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _async_wait_for_ready  # AsyncKernelClient binds the name to its own

    async def _reply_to(self, request: str, deadline: float) -> dict | None:
        """The ``kernel_info_reply`` to ``request`` within a second (else ``None``)."""
        until = min(time.monotonic() + 1.0, deadline)
        while (left := until - time.monotonic()) > 0:
            try:
                message = await self.shell_channel.get_msg(timeout=left)
            except Empty:
                return None
            if (
                message["msg_type"] == "kernel_info_reply"
                and message["parent_header"].get("msg_id") == request
            ):
                return message
        return None


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in the sandbox (:func:`sandbox.jail_command`).

    The grader's side of the connection uses ZeroMQ's ``ipc`` transport in
    ``ipc_folder``; the kernel gets its own copy of the connection file, naming the
    same sockets by their path inside the sandbox.
    """

    job_dir = Unicode("", help="The job folder of the submission").tag(config=True)
    files_dir = Unicode("", help="Folder copied into the kernel's home").tag(config=True)
    limits_json = Unicode("{}", help="SandboxLimits as JSON").tag(config=True)
    env_json = Unicode("{}", help="The kernel's environment as JSON").tag(config=True)
    unsafe = Bool(False, help="Run the kernel without the sandbox").tag(config=True)
    client_factory = Type(ReadyKernelClient, klass=AsyncKernelClient, config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.job_dir and not self.connection_file:
            # jupyter_client's default is a file in the system's temporary folder, which
            # stays there when the grader is killed; in the job folder it goes with the job
            self.connection_file = str(Path(self.job_dir) / f"connection-{uuid.uuid4()}.json")
        self._ids = kernel_ids()
        if not self.unsafe:
            self._ipc = _ipc_folder(Path(self.job_dir), self._ids)
            self.transport = "ipc"
            self.ip = str(self._ipc / "k")

    async def _async_wait(self, pollinterval: float = 0.01) -> None:
        # jupyter_client looks every 0.1 s whether a killed kernel is gone; it is gone in a
        # few milliseconds, and every submission waited out the rest of the first 0.1 s
        await super()._async_wait(pollinterval=pollinterval)

    async def _async_pre_start_kernel(self, **kw):
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        limits = SandboxLimits(**json.loads(self.limits_json))
        env = json.loads(self.env_json)
        if os.environ.get("NBGRADER_EXECUTION"):  # set by nbgrader while it executes
            env["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
        kw["env"] = env
        # bwrap's --die-with-parent misses a parent that dies while bwrap starts up: the
        # kernel (or the sandbox around it) is tied to this program before it starts
        kw["preexec_fn"] = tied_to_this_process()
        if self.unsafe:
            return _unsafe_command(kernel_cmd, self, limits, kw)
        private = Path(self.job_dir) / "kernel"
        private.mkdir(mode=0o700, exist_ok=True)
        info = json.loads(Path(self.connection_file).read_text())
        info["ip"] = f"{RUN_DIR}/ipc/k"
        copy = private / "connection.json"
        copy.write_text(json.dumps(info))
        copy.chmod(0o400)
        if self._ids is not None:
            os.chown(private, *self._ids)
            os.chown(copy, *self._ids)
        command = [
            f"{RUN_DIR}/connection.json" if arg == self.connection_file else arg
            for arg in kernel_cmd
        ]
        kw["cwd"] = str(self.job_dir)
        return (
            jail_command(
                command,
                files=Path(self.files_dir),
                connection_file=copy,
                ipc_folder=self._ipc,
                limits=limits,
                ids=self._ids,
                env=env,
            ),
            kw,
        )


#: In a job folder whose path is too long for Unix sockets: where its sockets' folder is.
IPC_LOCATION = "ipc-location"
_IPC_PREFIX = "cnnlab-ipc-"


def _ipc_folder(job_dir: Path, ids: tuple[int, int] | None) -> Path:
    folder = job_dir / "ipc"
    if len(str(folder)) > 80:  # a Unix socket's path is at most 107 bytes
        folder = Path(tempfile.mkdtemp(prefix=_IPC_PREFIX))
        (job_dir / IPC_LOCATION).write_text(str(folder))
    folder.mkdir(mode=0o700, exist_ok=True)
    if ids is not None:
        os.chown(folder, *ids)
    return folder


def remove_ipc_folder(job_dir: Path) -> None:
    """Remove the sockets' folder a job made outside its job folder (see ``IPC_LOCATION``).

    Parameters
    ----------
    job_dir : pathlib.Path
        The job folder (about to be removed itself).
    """
    try:
        folder = Path((job_dir / IPC_LOCATION).read_text().strip())
    except OSError:
        return
    # only a folder this module made (the note is the grader's own file, but be sure)
    if folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith(_IPC_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def _unsafe_command(kernel_cmd: list[str], manager, limits: SandboxLimits, kw: dict):
    """The kernel without the sandbox: limits only; as root, an unprivileged user that may read."""
    workspace = Path(manager.job_dir) / "workspace"
    shutil.copytree(manager.files_dir, workspace, dirs_exist_ok=True)
    kw["env"] = {
        name: value.replace(SANDBOX_HOME, str(workspace)) for name, value in kw["env"].items()
    }
    kw["cwd"] = str(workspace)
    mib = 1024 * 1024
    command = [
        system_tool("prlimit") or "prlimit",
        f"--fsize={int(limits.max_file_size_mb) * mib}",
        f"--data={int(limits.memory_limit_mb) * 2 * mib}",
        "--core=0",
        "--",
        *kernel_cmd,
    ]
    ids = manager._ids
    if ids is not None:
        # Never a root kernel. Python may live where only root can read it (a pyenv under
        # /root), so this user keeps the right to read files: unsafe, as the option says.
        # That right also lets it read its connection file in the private job folder.
        for path in [workspace, *workspace.rglob("*")]:
            os.chown(path, *ids)
        command = [
            system_tool("setpriv") or "setpriv",
            f"--reuid={ids[0]}",
            f"--regid={ids[1]}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--",
            *command,
        ]
    return command, kw


def write_kernelspec(folder: Path, name: str = "python3") -> Path:
    """Write a plain Python kernelspec (the sandbox wraps its command, not the spec).

    Parameters
    ----------
    folder : pathlib.Path
        A Jupyter data folder to put first on ``JUPYTER_PATH``.
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
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (cnnlab sandbox)",
                "language": "python",
                # bwrap does not pass signals on: the kernel interrupts itself on request
                "interrupt_mode": "message",
                "metadata": {"debugger": False},
            },
            indent=1,
        )
    )
    return spec
