"""``cnnlab lab``: the environment, the command line and the student's working copy.

The server itself, in a browser, is tested in ``tests/browser/test_browser.py``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
from browser.lab_server import isolated_jupyter_env
from fixture_courses import GRADING_COURSE

from grading import cli
from grading.autograde.processes import kill_process_tree
from grading.base.nbgrader_driver import CONFIG_FILE, load_nbgrader_config
from grading.lab import (
    CONFIG_DIR,
    free_port,
    lab_command,
    lab_environment,
    lab_route,
    lab_url,
)
from grading.paths import BUILD_ENV, ROOT_ENV, CoursePaths
from grading.student import prepare_student_folder, student_folder

# What nbgrader's Validate handler runs to read its configuration (it takes no state from
# the handler), in a fresh process with the server's environment and working folder.
LOAD_LIKE_VALIDATE = """
import json
from nbgrader.preprocessors import Execute
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler
config = ValidateAssignmentHandler.load_config(None)
print(json.dumps({"timeout": Execute(config=config).timeout}))
"""


@pytest.fixture
def course(tmp_path) -> CoursePaths:
    """A course with one source assignment and a hand-made release of it."""
    root = tmp_path / "course"
    (root / "notebooks" / "01_fixture").mkdir(parents=True)
    (root / "notebooks" / "01_fixture" / "fixture.ipynb").write_text("{}")
    (root / "pyproject.toml").write_text("[project]\nname = 'c'\n")
    paths = CoursePaths(root=root, build=root / "build")
    release = paths.release / "01_fixture"
    (release / "data").mkdir(parents=True)
    (release / "fixture.ipynb").write_text("released notebook")
    (release / "data" / "table.csv").write_text("a,b\n1,2\n")
    return paths


def test_lab_environment_puts_the_course_config_first(course):
    env = lab_environment(
        course,
        profile="smoke",
        environ={"JUPYTER_CONFIG_PATH": "/site/jupyter", "MPLBACKEND": "Agg", "HOME": "/h"},
    )
    assert env["JUPYTER_CONFIG_PATH"] == os.pathsep.join([str(CONFIG_DIR), "/site/jupyter"])
    assert (CONFIG_DIR / "nbgrader_config.py") == CONFIG_FILE
    assert env[ROOT_ENV] == str(course.root) and env[BUILD_ENV] == str(course.build)
    assert env["LABCORE_PROFILE"] == "smoke" and env["HOME"] == "/h"
    assert "MPLBACKEND" not in env  # kernels draw inline
    assert "LABCORE_PROFILE" not in lab_environment(course, environ={})
    with pytest.raises(ValueError, match="Unknown profile 'fast'"):
        lab_environment(course, profile="fast")


def _config_seen_by_validate(env: dict, cwd: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_VALIDATE],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_validate_reads_the_course_config_in_the_lab_environment(tmp_path):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    expected = load_nbgrader_config(paths).Execute.timeout
    plain = {k: v for k, v in os.environ.items() if k not in {"JUPYTER_CONFIG_PATH", ROOT_ENV}}
    plain["JUPYTER_CONFIG_DIR"] = str(tmp_path / "user-config")  # no personal config
    seen = _config_seen_by_validate(lab_environment(paths, environ=plain), tmp_path)
    assert seen == {"timeout": expected}
    # without it, Validate runs with nbgrader's 30 s per cell: a training cell would fail
    assert _config_seen_by_validate(plain, tmp_path)["timeout"] == 30 != expected


def test_prepare_student_folder_copies_without_overwriting(course):
    work = student_folder(course, "01_fixture")
    assert work == course.build / "student" / "01_fixture"
    work.mkdir(parents=True)
    (work / "fixture.ipynb").write_text("the student's answers")

    first = prepare_student_folder(course, "01_fixture")
    assert (work / "fixture.ipynb").read_text() == "the student's answers"
    assert (work / "data" / "table.csv").read_text() == "a,b\n1,2\n"
    assert first.copied == (work / "data" / "table.csv",)
    assert first.kept == (work / "fixture.ipynb",)
    assert first.notebooks == (work / "fixture.ipynb",) and not first.released_now

    (work / "data" / "table.csv").write_text("changed")
    again = prepare_student_folder(course, "01_fixture")
    assert again.copied == () and len(again.kept) == 2
    assert (work / "data" / "table.csv").read_text() == "changed"


def test_prepare_student_folder_names_the_missing_release(course):
    with pytest.raises(FileNotFoundError, match=r"cnnlab release 02_mnist"):
        prepare_student_folder(course, "02_mnist", release_if_missing=False)
    # releasing an assignment the course does not have: the error lists the ones it has
    with pytest.raises(FileNotFoundError, match=r"Unknown assignment.*01_fixture"):
        prepare_student_folder(course, "02_mnist")


def test_lab_route_and_url():
    assert lab_route() == "/lab"
    assert lab_route("02_mnist/mnist cnn.ipynb") == "/lab/tree/02_mnist/mnist%20cnn.ipynb"
    assert lab_route(formgrader=True) == "/lab?formgrader=true"
    assert lab_url(8888, "abc") == "http://127.0.0.1:8888/lab?token=abc"
    assert (
        lab_url(9000, "t0", "/lab?formgrader=true", ip="::1")
        == "http://[::1]:9000/lab?formgrader=true&token=t0"
    )


def test_lab_command(tmp_path):
    command = lab_command(tmp_path, port=8123, open_browser=False, start_url="/lab/tree/a.ipynb")
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in command
    for option in (
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=8123",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--LabApp.default_url=/lab/tree/a.ipynb",
    ):
        assert option in command
    assert not any("default_url" in part for part in lab_command(tmp_path, port=1))
    assert not any("token" in part.lower() for part in command)  # ps shows command lines


def test_free_port_is_free():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", port))


def test_cnnlab_lab_rejects_an_unknown_assignment(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(ROOT_ENV, str(GRADING_COURSE))
    monkeypatch.setenv(BUILD_ENV, str(tmp_path / "build"))
    assert cli.main(["lab", "--assignment", "99_nothing", "--no-browser"]) == 2
    error = capsys.readouterr().err
    assert "99_nothing" in error and "01_fixture" in error
    assert not (tmp_path / "build" / "student").exists()


# --------------------------------------------------------------------------- the server


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _wait_for_line(lines: queue.Queue, prefix: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting {prefix!r} in {timeout} s:\n" + "\n".join(seen))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.slow
def test_lab_answers_when_it_says_open_and_a_signal_stops_it_and_its_kernels(stop_signal, tmp_path):
    root = shutil.copytree(GRADING_COURSE, tmp_path / "course")
    env = isolated_jupyter_env({**os.environ, ROOT_ENV: str(root)}, tmp_path / "jupyter")
    env.pop(BUILD_ENV, None)
    env["JUPYTER_TOKEN"] = "inherited-from-the-shell"  # must not win over the private file
    port = free_port()
    command = [sys.executable, "-m", "grading.cli", "lab", "--instructor", "--no-browser"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        line = _wait_for_line(lines, "Open: ", timeout=180)
        token = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(line[6:]).query))["token"]
        api = f"http://127.0.0.1:{port}/api"
        headers = {"Authorization": f"token {token}"}
        # printed only once the server answers: the first request, without retrying, works
        request = urllib.request.Request(f"{api}/status", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):  # the shell's token is not the server's
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{api}/status", headers={"Authorization": "token inherited-from-the-shell"}
                ),
                timeout=10,
            )
        start = urllib.request.Request(f"{api}/kernels", data=b"{}", headers=headers)
        with urllib.request.urlopen(start, timeout=60) as response:
            assert response.status == 201
        tree = psutil.Process(process.pid)
        lab_processes = tree.children(recursive=True)
        assert len(lab_processes) >= 2  # JupyterLab and the kernel
        for member in [tree, *lab_processes]:  # the token is in no command line, no environment
            try:
                command_line, environment = member.cmdline(), member.environ()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # a short-lived helper of the server that has already ended
            assert not any(token in part for part in command_line)
            assert token not in " ".join(environment.values())
        assert not any(Path(tempfile.gettempdir()).glob("cnnlab-lab-*/token"))

        os.kill(process.pid, stop_signal)
        assert process.wait(timeout=60) is not None
        _, alive = psutil.wait_procs(lab_processes, timeout=30)
        assert alive == [], f"left running after {stop_signal.name}: {alive}"
    finally:
        if process.poll() is None:
            kill_process_tree(process.pid)
            process.wait(timeout=10)
