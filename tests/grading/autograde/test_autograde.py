"""``cnnlab autograde`` end to end: real nbgrader, real kernels, the sandbox, the gradebook.

The class is synthetic (:mod:`grading.demo`): a correct, a blank and a partly wrong
submission, and one broken in each way the grader must survive. The tests run on every
course in :data:`GRADING_COURSES`: the light fixture course (plain Python, seconds per
submission); the course's real notebooks join once they exist, e.g.
``CourseUnderTest(ROOT, "02_mnist", SandboxLimits(...), marks=...)``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import sqlalchemy
from fixture_courses import GRADING_COURSE

from grading.autograde.cells import grade_id, is_test_cell
from grading.autograde.grade import JOB_LOCK, clean_stale_scratch
from grading.autograde.run import AutogradeError, autograde
from grading.autograde.sandbox import SandboxLimits
from grading.autograde.task import load_task, status_of
from grading.base.gradebook import LOG_TABLE, cell_scores, grading_log, normalise_db_url
from grading.base.template import build_template
from grading.demo import KINDS, make_class
from grading.errors import UnknownAssignment
from grading.paths import CoursePaths
from labcore.runtime import LOG_NOISE_PATTERN

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class CourseUnderTest:
    """A course root, the assignment whose synthetic class is graded, and the limits."""

    root: Path
    assignment: str
    limits: SandboxLimits


#: Generous per-cell time (a loaded CI machine), short enough for the endless loops.
FIXTURE_LIMITS = SandboxLimits(cell_timeout=20, notebook_timeout=150, memory_limit_mb=1000)
#: Courses whose synthetic class is graded. A real assignment trains Keras models, so it
#: needs real limits (and the data mirror the test session provides), e.g.
#: ``pytest.param(CourseUnderTest(ROOT, "02_mnist", SandboxLimits(cell_timeout=600,
#: notebook_timeout=1800, memory_limit_mb=4096)), id="02_mnist")`` (about 30 s per
#: submission on two cores, 20 submissions).
GRADING_COURSES = [
    pytest.param(CourseUnderTest(GRADING_COURSE, "01_fixture", FIXTURE_LIMITS), id="fixture"),
]
#: A few submissions of different kinds, for the tests that grade again.
SUBSET = ("correct", "partly_wrong", "kernel_exit", "tamper_hidden")
NETWORK_PROBE = """import socket
import urllib.request

print("INTERFACES", sorted(name for _, name in socket.if_nameindex()))
try:
    urllib.request.urlopen("http://1.1.1.1", timeout=3)
    print("NETWORK reachable")
except OSError as error:
    print("NETWORK blocked:", type(error).__name__)"""


@pytest.fixture(scope="module", params=GRADING_COURSES)
def course(request) -> CourseUnderTest:
    return request.param


def _add_network_probe(demo, paths: CoursePaths, assignment: str) -> str:
    """A correct submission with a cell of the student's own that tries the network."""
    source = paths.submitted / "demo_correct" / assignment
    target = paths.submitted / "net_probe" / assignment
    shutil.copytree(source, target)
    notebook_path = sorted(target.glob("*.ipynb"))[0]
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(NETWORK_PROBE))
    nbformat.write(notebook, notebook_path)
    return "net_probe"


@dataclass
class GradedClass:
    course: CourseUnderTest
    paths: CoursePaths
    demo: object
    summary: object
    url: str
    seconds: float


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory, scratch_root) -> GradedClass:
    """The whole synthetic class (and a network probe), graded with two jobs."""
    paths = CoursePaths(root=course.root, build=tmp_path_factory.mktemp("build"))
    demo = make_class(paths, course.assignment)
    _add_network_probe(demo, paths, course.assignment)
    started = time.monotonic()
    summary = autograde(paths, jobs=2, limits=course.limits, progress=False)
    seconds = time.monotonic() - started
    return GradedClass(course, paths, demo, summary, normalise_db_url(None, paths), seconds)


def _auto_scores(url: str, students=None) -> dict[tuple[str, str, str], float]:
    frame = cell_scores(url)
    frame = frame[frame.cell_type == "code"]
    if students is not None:
        frame = frame[frame.student.isin(students)]
    return {(row.student, row.notebook, row.grade_id): row.auto_score for row in frame.itertuples()}


def _count(url: str, table: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar()
    engine.dispose()
    return count


def _table_counts(url: str) -> dict[str, int]:
    tables = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")
    return {table: _count(url, table) for table in (*tables, LOG_TABLE)}


def _sandbox_processes(scratch: Path) -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(scratch) in cmdline:
            found.append(process)
    return found


# --------------------------------------------------------------------------- the round trip


def test_status_of_takes_the_most_serious_reason():
    assert status_of([]) == "ok"
    assert status_of(["restored: a", "tampering: b", "timeout: c"]) == "tampered"
    assert status_of(["exit: a", "crashed: b"]) == "crashed"
    assert status_of(["restored: a", "invalid: b"]) == "invalid"


def test_every_submission_gets_its_expected_grade(graded):
    expected = {}
    for submission in graded.demo.submissions:
        for (notebook, cell), points in submission.expected_cells.items():
            expected[(submission.student, notebook, cell)] = points
    probe = graded.demo.student("correct").expected_cells
    expected.update({("net_probe", n, c): p for (n, c), p in probe.items()})
    assert _auto_scores(graded.url) == expected
    statuses = {o.student: o.status for o in graded.summary.graded}
    assert statuses == {
        **{s.student: s.expected_status for s in graded.demo.submissions},
        "net_probe": "ok",
    }
    log = grading_log(graded.url).set_index("student")
    for submission in graded.demo.submissions:
        assert log.loc[submission.student, "score"] == submission.expected_score
        assert log.loc[submission.student, "max_score"] >= graded.demo.max_score
    assert graded.summary.errors == []


REASON_PHRASES = {
    "infinite_loop": "timeout: cell",
    "unstoppable_loop": "ignored the interrupt; the kernel was stopped",
    "memory_hog": "memory: ",
    "kernel_exit": "(exit status 1)",
    "exit_call": "shut down by exit() or quit()",
    "segfault": "(killed by signal SIGSEGV)",
    "deleted_tests": "was deleted; restored from the source",
    "edited_tests": "was edited; restored from the source",
    "duplicated_tests": "appears 2 times; extra copies removed",
    "changed_points": "had its metadata changed (points",
    "tamper_custom_exc": "tampering: set_custom_exc",
    "tamper_hidden": "IPython AST transformers changed before cell 'test_normalise'",
    "tamper_env": "tampering: sets the environment variable LABCORE_PROFILE",
    "invalid_json": "invalid: ",
    "not_a_notebook": "is JSON but not a Jupyter notebook",
}


def test_every_problem_is_recorded_with_its_reason(graded):
    log = grading_log(graded.url).set_index("student")
    for submission in graded.demo.submissions:
        reasons = log.loc[submission.student, "reasons"]
        phrase = REASON_PHRASES.get(submission.kind)
        if phrase is None:
            assert reasons == "", (submission.kind, reasons)
        else:
            assert phrase in reasons, (submission.kind, reasons)
        assert log.loc[submission.student, "worker"]
        assert log.loc[submission.student, "seconds"] > 0
    assert "parameters" in log.loc["demo_edited_tests", "reasons"]


def test_tampering_asks_for_review_and_flags_the_notebook(graded):
    from nbgrader.api import Gradebook

    frame = cell_scores(graded.url)
    for kind in ("tamper_custom_exc", "tamper_hidden", "tamper_env"):
        student = graded.demo.student(kind)
        zeroed = [c for (_, c), points in student.expected_cells.items() if points == 0]
        rows = frame[(frame.student == student.student) & frame.grade_id.isin(zeroed)]
        assert len(rows) == len(zeroed) and rows.needs_manual_grade.all(), kind
        with Gradebook(graded.url, course_id="cnnlab") as gradebook:
            submission = gradebook.find_submission(graded.course.assignment, student.student)
            assert any(notebook.flagged for notebook in submission.notebooks), kind
    honest = frame[frame.student == graded.demo.student("partly_wrong").student]
    assert not honest[honest.cell_type == "code"].needs_manual_grade.any()


def test_autograded_notebooks_are_ready_for_feedback(graded):
    template = build_template(graded.paths, graded.course.assignment)
    for submission in graded.demo.submissions:
        folder = graded.paths.autograded / submission.student / graded.course.assignment
        if submission.expected_status == "invalid":
            assert not folder.exists()
            continue
        assert (folder / "timestamp.txt").read_text().strip()
        for name in template.notebook_names:
            text = (folder / f"{name}.ipynb").read_text()
            notebook = nbformat.reads(text, as_version=4)
            reference = template.notebook("reference", name)
            tests = {grade_id(c): c.source for c in reference.cells if is_test_cell(c)}
            graded_tests = {grade_id(c): c.source for c in notebook.cells if is_test_cell(c)}
            assert graded_tests == tests, submission.kind  # tests exactly as in the source


def test_network_is_cut_off_while_grading_works(graded):
    folder = graded.paths.autograded / "net_probe" / graded.course.assignment
    notebook = nbformat.read(sorted(folder.glob("*.ipynb"))[0], as_version=4)
    printed = "".join(o.get("text", "") for o in notebook.cells[1].outputs)
    assert "NETWORK blocked" in printed
    assert "INTERFACES ['lo']" in printed  # its own loopback, and nothing else
    assert grading_log(graded.url).network_isolated.all()


def test_no_process_or_scratch_folder_outlives_its_submission(graded, scratch_root):
    assert _sandbox_processes(scratch_root) == []
    assert list(scratch_root.iterdir()) == []


def test_a_rerun_grades_nothing(graded):
    before = _table_counts(graded.url)
    summary = autograde(graded.paths, jobs=2, limits=graded.course.limits, progress=False)
    assert summary.graded == []
    assert len(summary.skipped) == len(graded.demo.submissions) + 1
    assert _table_counts(graded.url) == before


def test_force_with_one_job_regrades_the_same_without_duplicates(graded):
    before_scores, before_counts = _auto_scores(graded.url), _table_counts(graded.url)
    students = [graded.demo.student(kind).student for kind in SUBSET]
    summary = autograde(
        graded.paths,
        jobs=1,
        force=True,
        students=students,
        limits=graded.course.limits,
        progress=False,
    )
    assert sorted(o.student for o in summary.graded) == sorted(students)
    assert _auto_scores(graded.url) == before_scores
    assert _table_counts(graded.url) == before_counts
    attempts = grading_log(graded.url).set_index("student").attempts
    assert all(attempts[s] == 2 for s in students)


# --------------------------------------------------------------------------- killed mid-class


def test_killing_the_grader_mid_class_loses_and_duplicates_nothing(graded, tmp_path, scratch_root):
    course = graded.course
    paths = CoursePaths(root=course.root, build=tmp_path / "build")
    demo = make_class(paths, course.assignment, SUBSET)
    url = normalise_db_url(None, paths)
    env = {
        **os.environ,
        "CNNLAB_ROOT": str(course.root),
        "CNNLAB_BUILD_DIR": str(paths.build),
        "CNNLAB_SCRATCH_DIR": str(scratch_root),
    }
    limits = course.limits
    command = [
        sys.executable,
        "-m",
        "grading.cli",
        "autograde",
        "--jobs",
        "1",
        "--no-progress",
        "--cell-timeout",
        str(limits.cell_timeout),
        "--submission-timeout",
        str(limits.notebook_timeout),
        "--memory-limit",
        str(limits.memory_limit_mb),
    ]
    grader = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and grader.poll() is None:
        if paths.build.joinpath("gradebook.db").exists():
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):  # still being made
                if _count(url, LOG_TABLE) >= 1:
                    break
        time.sleep(0.2)
    assert grader.poll() is None, grader.stderr.read().decode()
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    gone_by = time.monotonic() + 10  # a loaded machine takes a moment to tear a kernel down
    while _sandbox_processes(scratch_root) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert _sandbox_processes(scratch_root) == []  # the sandboxes died with the grader
    recorded = _count(url, LOG_TABLE)
    assert 1 <= recorded < len(SUBSET)
    # whatever is recorded is complete: one submission, all its rows
    assert _count(url, "submitted_assignment") == recorded
    assert _count(url, "grade") == recorded * (_count(url, "grade_cells"))

    summary = autograde(paths, jobs=2, limits=limits, progress=False)
    assert len(summary.graded) == len(SUBSET) - recorded
    assert list(scratch_root.iterdir()) == []  # the killed run's scratch folder is gone
    students = [s.student for s in demo.submissions]
    assert _auto_scores(url) == _auto_scores(graded.url, students)
    counts = _table_counts(url)
    assert counts["submitted_assignment"] == counts[LOG_TABLE] == len(SUBSET)
    assert (grading_log(url).attempts == 1).all()


# --------------------------------------------------------------------------- profile and config


def test_the_grade_profile_applies_while_grading(tmp_path, scratch_root, monkeypatch):
    monkeypatch.setenv("LABCORE_PROFILE", "smoke")  # the grader's own setting stays outside
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    demo = make_class(paths, "02_profile", ["correct"])
    limits = SandboxLimits(cell_timeout=120, notebook_timeout=300, memory_limit_mb=4096)
    summary = autograde(paths, ["02_profile"], limits=limits, progress=False)
    scores = {o.student: (o.score, o.status, o.reasons) for o in summary.graded}
    assert scores == {demo.student("correct").student: (1.0, "ok", ())}


def test_execute_timeout_is_the_per_cell_setting_nbgrader_uses(tmp_path):
    """c.Execute.timeout sets nbgrader's per-cell limit and wins over ExecutePreprocessor's.

    With nbgrader 0.9.6 a ``c.ExecutePreprocessor.timeout`` alone does reach ``Execute``
    (traitlets applies a parent class's section to subclasses), but ``c.Execute.timeout``
    overrides it, so the course sets ``Execute.timeout``.
    """
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from grading.base.nbgrader_driver import load_nbgrader_config

    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    config = load_nbgrader_config(paths)
    assert config.Execute.timeout == 900
    assert config.IgnorePattern.enabled
    assert config.IgnorePattern.pattern == LOG_NOISE_PATTERN  # defined once, in labcore
    assert SandboxLimits.from_config(config) == SandboxLimits(
        cell_timeout=900, notebook_timeout=3600, memory_limit_mb=4096
    )

    def timed_out(**sections) -> bool:
        settings = Config({name: Config(values) for name, values in sections.items()})
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(4)")]
        )
        Execute(config=settings).preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
        errors = [o.get("ename") for o in notebook.cells[0].outputs if o.output_type == "error"]
        return "CellTimeoutError" in errors

    assert timed_out(Execute={"timeout": 1})
    assert not timed_out(Execute={"timeout": 60}, ExecutePreprocessor={"timeout": 1})


# --------------------------------------------------------------------------- the sandbox


def test_tensorflow_imports_in_the_sandbox_under_the_default_limits(tmp_path):
    from grading.autograde.sandbox import jail_command, kernel_environment, kernel_ids

    limits = SandboxLimits()
    files, ipc = tmp_path / "files", tmp_path / "ipc"
    files.mkdir()
    ipc.mkdir()
    connection = tmp_path / "connection.json"
    connection.write_text("{}")
    ids = kernel_ids()
    for path in (ipc, connection):
        if ids is not None:
            os.chown(path, *ids)
    check = (
        "import os, resource, tensorflow\n"
        "print(resource.getrlimit(resource.RLIMIT_DATA)[0], os.getuid(), os.getcwd())"
    )
    env = kernel_environment()
    command = jail_command(
        [sys.executable, "-c", check],
        files=files,
        connection_file=connection,
        ipc_folder=ipc,
        limits=limits,
        ids=ids,
        env=env,
    )
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    data_limit, uid, cwd = done.stdout.split()[-3:]
    assert int(data_limit) == limits.memory_limit_mb * 2 * 2**20
    assert cwd == "/home/student" and (int(uid) != 0 or os.geteuid() != 0)


def test_stale_scratch_removes_only_the_job_folders_of_killed_graders(tmp_path):
    import fcntl

    root = tmp_path / "scratch"  # an instructor's shared folder: others' things live here too
    root.mkdir()
    root.chmod(0o1777)
    stale, busy, never_locked = (root / f"01_theory-{who}-0a1b2c3d" for who in "abc")
    for folder in (stale, busy):
        (folder / "course").mkdir(parents=True)
        (folder / JOB_LOCK).write_text("")
    never_locked.mkdir()  # a grader killed between making its folder and locking it
    other_tool = root / "other-tool"
    other_tool.mkdir()
    (other_tool / ".lock").write_text("")
    lookalike = root / "results-2026ab12"  # named like a job folder, holding someone's work
    lookalike.mkdir()
    (lookalike / "marks.csv").write_text("alice,10\n")
    an_hour_ago = time.time() - 3600
    for folder in (stale, busy, never_locked, other_tool, lookalike):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    with open(busy / JOB_LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert clean_stale_scratch(str(root)) == 2
    assert busy.exists() and not stale.exists() and not never_locked.exists()
    assert (other_tool / ".lock").exists()
    assert (lookalike / "marks.csv").read_text() == "alice,10\n"
    assert stat.S_IMODE(root.stat().st_mode) == 0o1777  # the mode its owner gave it


@pytest.mark.parametrize("made_by", ["a link", "another user"])
def test_a_default_scratch_folder_not_of_the_graders_own_is_refused(made_by, tmp_path, monkeypatch):
    """In a temporary folder everyone may write, another user may make the grader's scratch
    folder first, or a link to somewhere else."""
    if made_by == "another user" and os.geteuid() != 0:
        pytest.skip("only root can make a folder that another user owns")
    monkeypatch.delenv("CNNLAB_SCRATCH_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "elsewhere"
    target.mkdir()
    target.chmod(0o755)
    planted = tmp_path / f"cnnlab-grading-{os.geteuid()}"
    if made_by == "a link":
        planted.symlink_to(target)
    else:
        planted.mkdir()
        os.chown(planted, 65534, 65534)
    with pytest.raises(AutogradeError, match="not a folder of this user's"):
        clean_stale_scratch()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755 and list(target.iterdir()) == []


def test_a_scratch_folder_that_cannot_be_made_is_refused_in_one_line(tmp_path, monkeypatch):
    in_the_way = tmp_path / "scratch"
    in_the_way.symlink_to(tmp_path / "nowhere")
    monkeypatch.setenv("CNNLAB_SCRATCH_DIR", str(in_the_way))
    with pytest.raises(AutogradeError, match="cannot make the scratch folder") as refused:
        clean_stale_scratch()
    assert str(in_the_way) in str(refused.value) and "CNNLAB_SCRATCH_DIR" in str(refused.value)


# --------------------------------------------------------------------------- the worker


def test_grade_submission_is_picklable_and_runs_in_another_process(graded, tmp_path):
    """What a cluster needs: tasks and results pickle, and any executor can grade."""
    from grading.base.nbgrader_driver import load_nbgrader_config

    template = build_template(graded.paths, graded.course.assignment)
    config = json.loads(json.dumps(load_nbgrader_config(graded.paths)))
    student = graded.demo.student("partly_wrong")
    task = load_task(
        graded.paths,
        graded.course.assignment,
        student.student,
        template,
        config=config,
        limits=graded.course.limits,
    )
    assert pickle.loads(pickle.dumps(task)) == task

    paths = CoursePaths(root=graded.course.root, build=tmp_path / "build")
    make_class(paths, graded.course.assignment, ["partly_wrong"], template=template)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        summary = autograde(paths, executor=pool, limits=graded.course.limits, progress=False)
    (outcome,) = summary.graded
    assert (outcome.score, outcome.status) == (student.expected_score, student.expected_status)
    log = grading_log(normalise_db_url(None, paths)).iloc[0]
    assert log.worker.split(":")[-1] != str(os.getpid())  # graded in the pool's process
    url = normalise_db_url(None, paths)
    assert _auto_scores(url) == _auto_scores(graded.url, [student.student])


# --------------------------------------------------------------------------- clear errors


def _cli(args: list[str], build: Path, monkeypatch, capsys) -> tuple[int, str]:
    from grading.cli import main

    monkeypatch.setenv("CNNLAB_ROOT", str(GRADING_COURSE))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(build))
    status = main(["autograde", "--no-progress", *args])
    return status, capsys.readouterr().err


def test_clear_errors_for_bad_commands(tmp_path, monkeypatch, capsys):
    build = tmp_path / "build"
    status, error = _cli([], build, monkeypatch, capsys)
    assert status == 2 and "the class is empty" in error and "cnnlab collect" in error

    status, error = _cli(["99_nope"], build, monkeypatch, capsys)
    assert status == 2 and "Unknown assignment '99_nope'" in error and "01_fixture" in error

    (build / "submitted" / "alice" / "07_ghost").mkdir(parents=True)
    status, error = _cli(["07_ghost"], build, monkeypatch, capsys)
    assert status == 2 and "Missing source for assignment '07_ghost'" in error

    status, error = _cli(["01_fixture"], build, monkeypatch, capsys)
    assert status == 2 and "No submissions of '01_fixture'" in error

    paths = CoursePaths(root=GRADING_COURSE, build=build)
    make_class(paths, "01_fixture", ["blank"])
    status, error = _cli(
        ["--db", "postgresql://grader@127.0.0.1:9/nowhere"], build, monkeypatch, capsys
    )
    assert status == 2 and "postgresql+psycopg://grader@127.0.0.1:9/nowhere" in error
    assert "server is running" in error

    with pytest.raises(AutogradeError, match="by nobody_here"):
        autograde(paths, students=["nobody_here"], progress=False)
    # names are checked by the course's one selector (as `cnnlab release` checks them)
    with pytest.raises(UnknownAssignment, match="did you mean 01_fixture"):
        autograde(paths, ["01_fixtur"], progress=False)


def test_demo_class_covers_every_kind(graded):
    assert [s.kind for s in graded.demo.submissions] == list(KINDS)
    correct = graded.demo.student("correct")
    assert correct.expected_score == graded.demo.max_score > 0
    assert graded.demo.student("blank").expected_score < correct.expected_score
    assert graded.demo.expected_scores()["demo_correct"] == correct.expected_score


def _rfc3987_syntax_after(code: str) -> str:
    """``repr`` of ``sys.modules["rfc3987_syntax"]`` (or "absent") after ``code`` ran."""
    probe = f"{code}\nimport sys\nprint(repr(sys.modules.get('rfc3987_syntax', 'absent')))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        stdin=subprocess.DEVNULL,  # the warm server serves until its input closes
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "program", ["grading.autograde.grade_in_sandbox", "grading.autograde.grading_server"]
)
def test_only_the_graders_programs_block_the_slow_iri_import(program):
    # run as the program: the optional import is blocked before nbformat loads
    as_program = (
        "import runpy, sys\n"
        "sys.argv = ['program', '/nonexistent-job']\n"
        "try:\n"
        f"    runpy.run_module({program!r}, run_name='__main__')\n"
        "except FileNotFoundError:\n"
        "    pass\n"
        "assert 'nbformat' in sys.modules"
    )
    assert _rfc3987_syntax_after(as_program) == "None"
    # imported by the grader for a helper: the grader's own modules stay as they were
    as_library = f"import {program}"
    assert _rfc3987_syntax_after(as_library) != "None"
