"""Hostile submissions in the real sandbox: attacks gain nothing, and every one is still graded.

One class is graded once (``cnnlab autograde``'s API, real bubblewrap, real kernels, as the
machine's user: root on CI, with Python in root's home folder). Each attack is a correct
submission of the fixture course with one added cell; its grade must be the correct
submission's, its status the limit it hit (if any), and nothing outside its sandbox may
change. The override tests run the ``cnnlab`` command itself.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from fixture_courses import GRADING_COURSE

from grading.autograde.run import autograde
from grading.autograde.sandbox import SandboxLimits
from grading.base.gradebook import grading_log, normalise_db_url
from grading.base.nbgrader_driver import load_nbgrader_config
from grading.demo import make_class
from grading.paths import CoursePaths

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_fixture"
TOKEN = secrets.token_hex(6)
#: A ``sleep`` argument no other process on the machine uses.
SLEEP_TOKEN = f"{4000 + os.getpid() % 997}.{int(TOKEN[:4], 16)}"
#: The same, for the submission graded without the sandbox.
UNSAFE_SLEEP_TOKEN = f"{SLEEP_TOKEN}1"


@dataclass(frozen=True)
class Attack:
    """One hostile cell, where it goes, and the status its submission must get."""

    source: str
    status: str = "ok"
    at_end: bool = False
    files: tuple[tuple[str, str], ...] = ()


WRITE_OUTSIDE = """import importlib.util
import pathlib

labcore_file = importlib.util.find_spec("labcore").origin  # found without importing it
targets = [
    pathlib.Path(labcore_file).resolve().parents[1] / "PWNED-{token}",
    pathlib.Path("/etc/PWNED-{token}"),
    pathlib.Path("/root/PWNED-{token}"),
    pathlib.Path("/usr/PWNED-{token}"),
    pathlib.Path("/tmp/PWNED-{token}"),
    pathlib.Path("{scratch}") / "PWNED-{token}",
]
for target in targets:
    try:
        target.write_text("x")
        print("WROTE", target)
    except OSError as error:
        print("REFUSED", target, type(error).__name__)"""

WRITE_GRADEBOOK_AND_PEER = """for target in ["{gradebook}", "{peer}"]:
    try:
        with open(target, "ab") as file:
            file.write(b"PWNED-{token}")
        print("WROTE", target)
    except OSError as error:
        print("REFUSED", target, type(error).__name__)"""

READ_HOST = """import os

for target in ["{source}", "{gradebook}", "{peer}", "{this_file}"]:
    try:
        print("READ", target, len(open(target, "rb").read()))
    except OSError as error:
        print("DENIED", target, type(error).__name__)
print("ENV", sorted(os.environ))"""

LIST_PROCESSES = """import os

print("PIDS", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))"""

BACKGROUND_PROCESS = """import os
import subprocess

subprocess.Popen(["sleep", "{sleep}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execvp("sleep", ["sleep", "{sleep}"])"""

FORK_BOMB = """import os
import time

children = []
try:
    for _ in range(100_000):
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
finally:
    print("FORKED", len(children))
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)"""

FILL_TMP = """import os

written = 0
try:
    for n in range(1000):
        with open(f"/tmp/fill-{{n}}", "wb") as file:
            file.write(b"0" * 8 * 2**20)
        written += 8
finally:
    print("FILLED MB", written)
    for n in range(1000):
        if not os.path.exists(f"/tmp/fill-{{n}}"):
            break
        os.remove(f"/tmp/fill-{{n}}")"""

BIG_FILE = """with open("big.bin", "wb") as file:
    file.write(b"0" * 64 * 2**20)"""

GRADING_MODULE = """import pathlib

for package in ("grading", "nbgrader", "jupyter_client"):
    pathlib.Path(package).mkdir(exist_ok=True)
    pathlib.Path(package, "__init__.py").write_text(
        "open('{scratch}/PWNED-MODULE-{token}', 'w').write('x')\\n"
    )
print("PLANTED", sorted(p.name for p in pathlib.Path(".").iterdir()))"""

PLANTED_MODULE = "open('{scratch}/PWNED-FILE-{token}', 'w').write('x')\n"

LOOPBACK = """import socket

try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("CONNECTED")
except OSError as error:
    print("NO CONNECTION", type(error).__name__)"""

IDENTITY = """import os

status = open("/proc/self/status").read().splitlines()
caps = [line.split()[1] for line in status if line.startswith(("CapEff", "CapPrm"))]
print("IDENTITY", os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), caps)

# the home starts with matplotlib's font cache, and matplotlib uses it (no font scan)
import logging

seeded = sorted(os.listdir(os.environ["MPLCONFIGDIR"]))
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("matplotlib").addHandler(handler)
logging.getLogger("matplotlib").setLevel(logging.INFO)
import matplotlib.font_manager

print("FONTS", seeded, [r.getMessage() for r in records if "fontManager" in r.getMessage()])"""

STUCK_IN_C = """import re

re.match(r"(a+)+$", "a" * 64 + "b")"""

ENDLESS_LOOP = "while True:\n    pass"

ATTACKS = {
    "write_outside": Attack(WRITE_OUTSIDE),
    "write_gradebook": Attack(WRITE_GRADEBOOK_AND_PEER),
    "read_host": Attack(READ_HOST),
    "list_processes": Attack(LIST_PROCESSES),
    "background": Attack(BACKGROUND_PROCESS),
    "fork_bomb": Attack(FORK_BOMB, status="processes"),
    "fill_tmp": Attack(FILL_TMP, status="disk"),
    "big_file": Attack(BIG_FILE, status="file-size"),
    "grading_module": Attack(
        GRADING_MODULE,
        files=(("grading/__init__.py", PLANTED_MODULE), ("nbgrader.py", PLANTED_MODULE)),
    ),
    "loopback": Attack(LOOPBACK),
    "identity": Attack(IDENTITY),
    "stuck_in_c": Attack(STUCK_IN_C, status="timeout", at_end=True),
    "endless_loop": Attack(ENDLESS_LOOP, status="timeout", at_end=True),
}


class LoopbackServer:
    """A TCP server on the host's loopback that counts who connects."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.socket.close()


@dataclass
class AttackedClass:
    paths: CoursePaths
    url: str
    outcomes: dict
    outputs: dict
    correct_score: float
    scratch: Path
    peer: Path
    peer_digest: str
    gradebook: Path
    server: LoopbackServer


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_attack(paths: CoursePaths, name: str, attack: Attack, context: dict) -> str:
    source = paths.submitted / "demo_correct" / ASSIGNMENT
    student = f"attack_{name}"
    target = paths.submitted / student / ASSIGNMENT
    shutil.copytree(source, target)
    notebook_path = sorted(target.glob("*.ipynb"))[0]
    notebook = nbformat.read(notebook_path, as_version=4)
    cell = nbformat.v4.new_code_cell(attack.source.format(**context))
    cell.metadata["tags"] = ["attack"]
    if attack.at_end:
        notebook.cells.append(cell)
    else:
        notebook.cells.insert(1, cell)
    nbformat.write(notebook, notebook_path)
    for relative, text in attack.files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text.format(**context))
    return student


def _attack_output(paths: CoursePaths, student: str) -> str:
    folder = paths.autograded / student / ASSIGNMENT
    notebook = nbformat.read(sorted(folder.glob("*.ipynb"))[0], as_version=4)
    (cell,) = [c for c in notebook.cells if "attack" in c.metadata.get("tags", [])]
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def attacked(tmp_path_factory) -> AttackedClass:
    """The class, with every attack, graded once through the course's own settings."""
    scratch = Path(tempfile.mkdtemp(prefix="cnnlab-attack-scratch-"))
    build = tmp_path_factory.mktemp("attack-build")
    paths = CoursePaths(root=GRADING_COURSE, build=build)
    demo = make_class(paths, ASSIGNMENT, ["correct", "partly_wrong"])
    server = LoopbackServer()
    gradebook = build / "gradebook.db"
    peer = sorted((paths.submitted / "demo_partly_wrong" / ASSIGNMENT).glob("*.ipynb"))[0]
    context = {
        "token": TOKEN,
        "scratch": scratch,
        "gradebook": gradebook,
        "peer": peer,
        "source": sorted((GRADING_COURSE / "notebooks" / ASSIGNMENT).glob("*.ipynb"))[0],
        "this_file": Path(__file__).resolve(),
        "sleep": SLEEP_TOKEN,
        "port": server.port,
    }
    students = {name: _add_attack(paths, name, attack, context) for name, attack in ATTACKS.items()}
    peer_digest = _digest(peer)
    # the limits as `cnnlab autograde` takes them from the course's configuration, with a
    # shorter cell timeout and smaller limits, so the attacks meet them quickly
    config = load_nbgrader_config(paths)
    config.Execute.timeout = 15
    config.GradingSandbox.notebook_timeout = 240
    config.GradingSandbox.memory_limit_mb = 1500
    config.GradingSandbox.max_processes = 200
    config.GradingSandbox.max_file_size_mb = 16
    config.GradingSandbox.workspace_size_mb = 64
    config.GradingSandbox.tmp_size_mb = 48
    limits = SandboxLimits.from_config(config)
    previous = os.environ.get("CNNLAB_SCRATCH_DIR")
    os.environ["CNNLAB_SCRATCH_DIR"] = str(scratch)
    try:
        summary = autograde(paths, jobs=2, limits=limits, progress=False)
    finally:
        if previous is None:
            os.environ.pop("CNNLAB_SCRATCH_DIR", None)
        else:
            os.environ["CNNLAB_SCRATCH_DIR"] = previous
    outcomes = {o.student: o for o in summary.graded}
    outputs = {name: _attack_output(paths, student) for name, student in students.items()}
    yield AttackedClass(
        paths,
        normalise_db_url(None, paths),
        {name: outcomes[student] for name, student in students.items()}
        | {"correct": outcomes["demo_correct"], "partly_wrong": outcomes["demo_partly_wrong"]},
        outputs,
        demo.student("correct").expected_score,
        scratch,
        peer,
        peer_digest,
        gradebook,
        server,
    )
    server.close()
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_is_graded_as_the_honest_answer_it_builds_on(attacked, name):
    outcome = attacked.outcomes[name]
    assert outcome.score == attacked.correct_score, (outcome.status, outcome.reasons)
    assert outcome.status == ATTACKS[name].status, outcome.reasons


def test_the_other_students_are_unaffected(attacked, tmp_path):
    assert attacked.outcomes["correct"].score == attacked.correct_score
    assert attacked.outcomes["correct"].status == "ok"
    assert attacked.outcomes["partly_wrong"].status == "ok"
    assert _digest(attacked.peer) == attacked.peer_digest
    assert b"PWNED" not in attacked.gradebook.read_bytes()
    log = grading_log(attacked.url)
    assert log.network_isolated.all()  # every result came from the sandbox


def test_nothing_is_written_outside_the_sandbox(attacked):
    import labcore

    checkout = Path(labcore.__file__).resolve().parents[1]
    for folder in (
        checkout,
        Path("/etc"),
        Path("/root"),
        Path("/usr"),
        Path("/tmp"),
        attacked.scratch,
    ):
        assert not list(folder.glob(f"PWNED*{TOKEN}")), folder
    printed = attacked.outputs["write_outside"]
    assert printed.count("REFUSED") == 5 and "WROTE /tmp/" in printed  # its own /tmp only


def test_the_host_cannot_be_read(attacked):
    printed = attacked.outputs["read_host"]
    assert "READ " not in printed and printed.count("DENIED") == 4, printed
    environment = printed.split("ENV", 1)[1]
    assert "CNNLAB" not in environment and "JPY_PARENT_PID" not in environment
    assert "REFUSED" in attacked.outputs["write_gradebook"]
    assert "WROTE" not in attacked.outputs["write_gradebook"]


def test_other_processes_are_invisible(attacked):
    listed = attacked.outputs["list_processes"].split("PIDS", 1)[1]
    pids = [int(p) for p in listed.strip(" []\n").split(",")]
    assert max(pids) < 100 and os.getpid() not in pids, pids


def _sleeping(token: str) -> list[int]:
    """The pids of the live processes a submission started as ``sleep TOKEN``."""
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if token in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
    ]


def test_no_background_process_outlives_its_submission(attacked):
    assert _sleeping(SLEEP_TOKEN) == []


def test_limits_are_hit_with_their_own_reasons(attacked):
    reasons = {name: " ".join(attacked.outcomes[name].reasons) for name in ATTACKS}
    assert "processes: cell" in reasons["fork_bomb"] and "200" in reasons["fork_bomb"]
    forked = int(attacked.outputs["fork_bomb"].split("FORKED", 1)[1].split()[0])
    assert 0 < forked < 200
    assert "disk: cell" in reasons["fill_tmp"]
    filled = int(attacked.outputs["fill_tmp"].split("FILLED MB", 1)[1].split()[0])
    assert filled <= 48
    assert "file-size: cell" in reasons["big_file"] and "16 MB" in reasons["big_file"]
    assert "ignored the interrupt; the kernel was stopped" in reasons["stuck_in_c"]
    assert "timeout: cell" in reasons["endless_loop"] and "interrupted" in reasons["endless_loop"]


def test_planted_modules_never_run_outside_the_kernel(attacked):
    assert "grading" in attacked.outputs["grading_module"]
    assert not list(attacked.scratch.glob("PWNED-*"))


def test_a_loopback_server_outside_is_unreachable(attacked):
    assert "NO CONNECTION" in attacked.outputs["loopback"]
    assert attacked.server.connections == 0


def test_kernels_run_unprivileged(attacked):
    """On CI the grader is root and Python lives in /root: still no root kernel."""
    fields = attacked.outputs["identity"].split("IDENTITY", 1)[1].split()
    uid, euid = int(fields[0]), int(fields[1])
    assert uid == euid and uid != 0
    if os.geteuid() == 0:
        assert uid >= 1_000_000_000  # a fresh uid that owns nothing on the host
    assert attacked.outputs["identity"].count("'0000000000000000'") == 2  # no capabilities


def test_kernels_start_with_the_font_cache_and_use_it(attacked):
    printed = attacked.outputs["identity"].split("FONTS", 1)[1]
    assert "fontlist-" in printed  # seeded into the home (grading.autograde.kernel_home)
    assert printed.strip().endswith("[]")  # matplotlib built no new one


# --------------------------------------------------------------------------- fail closed


def _command(
    build: Path, path_variable: str, *extra: str, temporary: Path | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": path_variable,
        "CNNLAB_ROOT": str(GRADING_COURSE),
        "CNNLAB_BUILD_DIR": str(build),
    }
    if temporary is not None:
        env["TMPDIR"] = str(temporary)
    command = [sys.executable, "-m", "grading.cli", "autograde", "--no-progress", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def no_bwrap_class(tmp_path_factory) -> tuple[CoursePaths, str]:
    build = tmp_path_factory.mktemp("no-bwrap")
    paths = CoursePaths(root=GRADING_COURSE, build=build)
    make_class(paths, ASSIGNMENT, ["correct"])
    notebook_path = sorted((paths.submitted / "demo_correct" / ASSIGNMENT).glob("*.ipynb"))[0]
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(IDENTITY))
    background = BACKGROUND_PROCESS.format(sleep=UNSAFE_SLEEP_TOKEN)
    notebook.cells.insert(2, nbformat.v4.new_code_cell(background))
    nbformat.write(notebook, notebook_path)
    return paths, str(Path(sys.executable).parent)  # a PATH without bwrap


def test_grading_refuses_without_bubblewrap(no_bwrap_class):
    paths, path_variable = no_bwrap_class
    started = time.monotonic()
    done = _command(paths.build, path_variable)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnlab autograde: cannot isolate submissions")
    assert "apt-get install bubblewrap" in lines[0] and "--unsafe-no-sandbox" in lines[0]
    assert not (paths.build / "autograded").exists()  # nothing graded
    assert time.monotonic() - started < 120


def test_unsafe_no_sandbox_grades_and_says_so_everywhere(no_bwrap_class, tmp_path):
    paths, path_variable = no_bwrap_class
    temporary = tmp_path / "tmp"  # the system's temporary folder, as /tmp is made
    temporary.mkdir()
    temporary.chmod(0o1777)
    done = _command(paths.build, path_variable, "--unsafe-no-sandbox", temporary=temporary)
    assert done.returncode == 0, done.stderr
    assert "unsafe: graded without the sandbox" in done.stderr  # the run's warning
    log = grading_log(normalise_db_url(None, paths)).set_index("student")
    assert "unsafe: graded without the sandbox" in log.loc["demo_correct", "reasons"]
    assert log.loc["demo_correct", "status"] == "unsafe"
    folder = paths.autograded / "demo_correct" / ASSIGNMENT
    notebook = nbformat.read(sorted(folder.glob("*.ipynb"))[0], as_version=4)
    printed = "".join(o.get("text", "") for o in notebook.cells[1].outputs)
    uid = int(printed.split("IDENTITY", 1)[1].split()[0])
    assert uid != 0  # never a root kernel, even unsafe
    # no PID namespace ends with the kernel here: the warm server adopts and kills what the
    # submission left running (a process in a session of its own, whose parent exited)
    assert _sleeping(UNSAFE_SLEEP_TOKEN) == []
    # the kernel's connection file lived in the job folder: the system's temporary folder
    # keeps its mode (everyone may write, sticky) and holds no file of the run
    assert stat.S_IMODE(temporary.stat().st_mode) == 0o1777
    assert [p.name for p in temporary.rglob("*") if p.is_file()] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="kernels keep the grader's own user when not root")
def test_grading_refuses_a_data_folder_the_kernels_cannot_read(tmp_path):
    private = tmp_path / "private-data"
    private.mkdir(mode=0o700)
    done = subprocess.run(
        [sys.executable, "-m", "grading.cli", "autograde", "--no-progress"],
        env={
            **os.environ,
            "CNNLAB_ROOT": str(GRADING_COURSE),
            "CNNLAB_BUILD_DIR": str(tmp_path / "build"),
            "LABCORE_DATA_DIR": str(private),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read the data folder" in lines[0]
    assert f"chmod -R a+rX {private}" in lines[0]
