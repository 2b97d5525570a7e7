"""Scale-out grading on a real Dask cluster, into a real PostgreSQL server.

A ``dask.distributed.LocalCluster`` with two worker PROCESSES (one thread each) grades a
synthetic class of the light fixture course (:mod:`grading.demo`) into a PostgreSQL server
(``tests/postgres_server.py``), and the grades must be exactly those of the local grader on
the same class into SQLite. A worker process killed with SIGKILL while its kernel runs
costs nothing: its sandbox dies with it, the scheduler grades its submission elsewhere, and
the gradebook holds every submission once. Without ``--scheduler`` nothing of Dask is
imported.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # the `cluster` extra (in `dev`)
import nbformat
import pandas as pd
import psutil
import pytest
import sqlalchemy
from fixture_courses import GRADING_COURSE

from grading.autograde.cluster import (
    ClusterError,
    DaskGrading,
    connect,
    environment_problems,
    grade_on_worker,
    task_key,
    threads_per_host,
    worker_environment,
    worker_label,
    worker_tally,
)
from grading.autograde.grade import clean_stale_scratch, grade_submission
from grading.autograde.run import autograde
from grading.autograde.sandbox import SandboxLimits
from grading.autograde.task import SubmissionOutcome, error_result, load_task
from grading.base.gradebook import LOG_TABLE, cell_scores, grading_log, normalise_db_url
from grading.base.nbgrader_driver import load_nbgrader_config
from grading.base.template import build_template
from grading.cli import main as cnnlab
from grading.demo import make_class
from grading.paths import CoursePaths
from grading.report import grading_workers, write_report

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "01_fixture"
LIMITS = SandboxLimits(cell_timeout=20, notebook_timeout=150, memory_limit_mb=1000)
#: A class with every way a submission ends: right, wrong, crashed, tampered, unreadable.
KINDS = ("correct", "partly_wrong", "kernel_exit", "tamper_hidden", "not_a_notebook")
#: The class a worker is killed in: notebooks that run (so there is a kernel to be in).
KILL_KINDS = ("correct", "partly_wrong", "kernel_exit")
#: Seconds the killed class's notebooks sleep in a cell of the student's own, so the kill
#: lands while a kernel runs.
SLEEP_S = 10
LOG_COLUMNS = ["assignment", "student", "status", "reasons", "score", "max_score", "attempts"]
#: Runs ``cnnlab`` and reports which Dask modules the process imported.
NO_DASK_WRAPPER = """import json
import sys

from grading.cli import main

status = main(sys.argv[1:])
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("dask", "distributed"))
print("DASK_MODULES " + json.dumps(loaded))
sys.exit(status)
"""


@pytest.fixture(scope="module")
def dask_cluster(scratch_root):
    """Two worker processes with one thread each, as `dask worker --nthreads 1` starts them."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def cluster_client(dask_cluster):
    with distributed.Client(dask_cluster, set_as_default=False) as connection:
        yield connection


@pytest.fixture
def client(cluster_client):
    """A client of our own, to look at the workers; both are up (a killed one restarted)."""
    cluster_client.wait_for_workers(2, timeout=120)
    return cluster_client


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path_factory.mktemp("template"))
    return build_template(paths, ASSIGNMENT)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory, template, scratch_root):
    """The class graded by the local grader into SQLite, through `cnnlab autograde` in a
    process of its own that reports the Dask modules it imported."""
    build = tmp_path_factory.mktemp("local") / "build"
    paths = CoursePaths(root=GRADING_COURSE, build=build)
    demo = make_class(paths, ASSIGNMENT, KINDS, template=template)
    wrapper = build.parent / "no_dask_wrapper.py"
    wrapper.write_text(NO_DASK_WRAPPER)
    env = {
        **os.environ,
        "CNNLAB_ROOT": str(GRADING_COURSE),
        "CNNLAB_BUILD_DIR": str(build),
        "CNNLAB_SCRATCH_DIR": str(scratch_root),
    }
    command = [
        sys.executable,
        str(wrapper),
        "autograde",
        "--jobs",
        "2",
        "--no-progress",
        "--cell-timeout",
        str(LIMITS.cell_timeout),
        "--submission-timeout",
        str(LIMITS.notebook_timeout),
        "--memory-limit",
        str(LIMITS.memory_limit_mb),
    ]
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("DASK_MODULES "))
    return {
        "paths": paths,
        "demo": demo,
        "url": normalise_db_url(None, paths),
        "dask_modules": json.loads(line.split(" ", 1)[1]),
        "stdout": done.stdout,
    }


def _task(paths: CoursePaths, student: str, template):
    config = json.loads(json.dumps(load_nbgrader_config(paths)))
    return load_task(paths, ASSIGNMENT, student, template, config=config, limits=LIMITS)


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def _rows_per_submission(url: str, table: str) -> dict[tuple[str, str], int]:
    queries = {
        "submitted_assignment": (
            "SELECT assignment.name, submitted_assignment.student_id, COUNT(*) "
            "FROM submitted_assignment JOIN assignment "
            "ON assignment.id = submitted_assignment.assignment_id "
            "GROUP BY assignment.name, submitted_assignment.student_id"
        ),
        LOG_TABLE: f"SELECT assignment, student, COUNT(*) FROM {LOG_TABLE} GROUP BY 1, 2",
    }
    engine = sqlalchemy.create_engine(normalise_db_url(url))
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text(queries[table])).all()
    engine.dispose()
    return {(a, s): n for a, s, n in rows}


def _reference_scores(reference, students) -> pd.DataFrame:
    frame = cell_scores(reference["url"])
    return frame[frame.student.isin(students)].reset_index(drop=True)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


# --------------------------------------------------------------------------- local stays local


def test_without_scheduler_nothing_of_dask_is_imported(local_reference):
    assert local_reference["dask_modules"] == []
    log = grading_log(local_reference["url"]).set_index("student")
    expected = local_reference["demo"].expected_scores()
    assert log.score.to_dict() == expected
    assert "graded by:" not in local_reference["stdout"]  # the worker tally is for clusters


# --------------------------------------------------------------------------- the cluster grades


def test_a_cluster_grades_a_class_into_postgres_exactly_as_locally(
    dask_cluster, client, local_reference, template, postgres_url, tmp_path, monkeypatch, capsys
):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    make_class(paths, ASSIGNMENT, KINDS, template=template)  # same content as the reference
    monkeypatch.setenv("CNNLAB_ROOT", str(GRADING_COURSE))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(paths.build))
    status = cnnlab(
        [
            "autograde",
            "--no-progress",
            "--scheduler",
            dask_cluster.scheduler_address,
            "--db",
            postgres_url,
            "--cell-timeout",
            str(LIMITS.cell_timeout),
            "--submission-timeout",
            str(LIMITS.notebook_timeout),
            "--memory-limit",
            str(LIMITS.memory_limit_mb),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"graded {len(KINDS)}, skipped 0" in out and "postgresql+psycopg://" in out

    pd.testing.assert_frame_equal(cell_scores(postgres_url), cell_scores(local_reference["url"]))
    pd.testing.assert_frame_equal(
        grading_log(postgres_url)[LOG_COLUMNS], grading_log(local_reference["url"])[LOG_COLUMNS]
    )
    for table in ("submitted_assignment", LOG_TABLE):
        counts = _rows_per_submission(postgres_url, table)
        assert counts == {(ASSIGNMENT, f"demo_{kind}"): 1 for kind in KINDS}, table

    # every submission names the Dask worker process that graded it, here and in the log
    addresses = set(_worker_pids(client))
    log = grading_log(postgres_url)
    assert all(any(f"(dask {a}" in w for a in addresses) for w in log.worker), set(log.worker)
    assert len(set(log.worker)) == 2  # both worker processes graded
    assert (log.seconds > 0).all()
    local_log = grading_log(local_reference["url"])
    assert log.network_isolated.tolist() == local_log.network_isolated.tolist()  # same sandbox
    for row in log.itertuples():
        assert f"{row.assignment}/{row.student}: " in out
        assert f" on {row.worker}\n" in out
    tally = out.split("graded by:\n", 1)[1].splitlines()
    workers = set(log.worker)
    assert len(tally) == len(workers)
    assert {line.strip().rsplit(": ", 1)[0] for line in tally} == workers

    # feedback's input, written by the client from the results
    folder = paths.autograded / "demo_correct" / ASSIGNMENT
    assert (folder / "fixture.ipynb").is_file() and (folder / "timestamp.txt").is_file()

    # the report says which worker graded what, and how long it took
    report = write_report(paths, db_url=postgres_url).read_text()
    table = report.split('<table id="workers">', 1)[1].split("</table>", 1)[0]
    assert all(worker in table for worker in workers)
    assert all(f"{ASSIGNMENT}/demo_{kind} (" in table for kind in KINDS)

    # a rerun grades nothing again
    again = autograde(
        paths,
        db_url=postgres_url,
        limits=LIMITS,
        progress=False,
        scheduler=dask_cluster.scheduler_address,
    )
    assert again.graded == [] and len(again.skipped) == len(KINDS)
    assert _rows_per_submission(postgres_url, LOG_TABLE) == counts


# --------------------------------------------------------------------------- a worker dies


def _add_sleeping_cell(paths: CoursePaths, student: str) -> None:
    """A cell of the student's own at the top that sleeps (grades do not change)."""
    path = paths.submitted / student / ASSIGNMENT / "fixture.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(f"import time\n\ntime.sleep({SLEEP_S})"))
    nbformat.write(notebook, path)


def _busy_worker(client, students, deadline: float):
    """Wait for a worker whose kernel runs; return its address, pid, student and processes."""
    pids = _worker_pids(client)
    while time.monotonic() < deadline:
        for address, pid in pids.items():
            try:
                descendants = psutil.Process(pid).children(recursive=True)
                commands = [" ".join(p.cmdline()) for p in descendants]
            except psutil.Error:
                continue
            if any("ipykernel_launcher" in command for command in commands):
                student = next(
                    s for s in students if any(f"{ASSIGNMENT}-{s}-" in c for c in commands)
                )
                return address, pid, student, descendants
        time.sleep(0.1)
    raise AssertionError("no worker started a kernel in time")


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    dask_cluster, client, local_reference, template, postgres_url, tmp_path, scratch_root
):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    demo = make_class(paths, ASSIGNMENT, KILL_KINDS, template=template)
    students = [s.student for s in demo.submissions]
    for student in students:
        _add_sleeping_cell(paths, student)

    outcome = {}

    def grade():
        try:
            outcome["summary"] = autograde(
                paths,
                db_url=postgres_url,
                limits=LIMITS,
                progress=False,
                scheduler=dask_cluster.scheduler_address,
            )
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    grader = threading.Thread(target=grade)
    grader.start()
    address, pid, victim, sandbox = _busy_worker(client, students, time.monotonic() + 240)
    assert any("grading.autograde.grading_server" in " ".join(p.cmdline()) for p in sandbox)
    os.kill(pid, signal.SIGKILL)

    # the killed worker's sandbox (grading program, kernel) dies with it
    deadline = time.monotonic() + 30
    while _alive(sandbox) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(sandbox) == []

    grader.join(timeout=400)
    assert not grader.is_alive() and "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert summary.errors == []
    assert sorted(o.student for o in summary.graded) == sorted(students)

    # the same grades as the local grader, each submission written once
    pd.testing.assert_frame_equal(
        cell_scores(postgres_url), _reference_scores(local_reference, students)
    )
    expected_rows = {(ASSIGNMENT, student): 1 for student in students}
    assert _rows_per_submission(postgres_url, "submitted_assignment") == expected_rows
    assert _rows_per_submission(postgres_url, LOG_TABLE) == expected_rows
    log = grading_log(postgres_url).set_index("student")
    assert (log.attempts == 1).all()
    reference = grading_log(local_reference["url"]).set_index("student").loc[students]
    assert log.status.to_dict() == reference.status.to_dict()
    assert f"(dask {address}" not in log.loc[victim, "worker"]  # graded again elsewhere

    # no scratch folder is left behind, the killed worker's included
    assert list(scratch_root.iterdir()) == []


def _set_allowed_failures(value: int, dask_scheduler=None) -> int:
    previous = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = value
    return previous


def test_a_task_whose_workers_keep_dying_is_recorded_as_an_error(
    dask_cluster, client, template, postgres_url, tmp_path
):
    """What `allowed-failures` 0 makes of one death (the default, 3, makes of four)."""
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    demo = make_class(paths, ASSIGNMENT, ["correct"], template=template)
    student = demo.student("correct").student
    _add_sleeping_cell(paths, student)
    previous = client.run_on_scheduler(_set_allowed_failures, 0)
    outcome = {}
    try:
        grader = threading.Thread(
            target=lambda: outcome.update(
                summary=autograde(
                    paths,
                    db_url=postgres_url,
                    limits=LIMITS,
                    progress=False,
                    scheduler=dask_cluster.scheduler_address,
                )
            )
        )
        grader.start()
        _, pid, _, _ = _busy_worker(client, [student], time.monotonic() + 240)
        os.kill(pid, signal.SIGKILL)
        grader.join(timeout=300)
    finally:
        client.run_on_scheduler(_set_allowed_failures, previous)
    (error,) = outcome["summary"].errors
    assert error.student == student and "every Dask worker that ran it died" in error.reasons[0]
    log = grading_log(postgres_url).set_index("student")
    assert log.loc[student, "status"] == "error"  # the next run grades it again
    assert _rows_per_submission(postgres_url, "submitted_assignment") == {}


# --------------------------------------------------------------------------- environment


def test_workers_must_run_the_clients_course_environment(client, template, local_reference):
    here = worker_environment()
    workers = client.run(worker_environment)
    assert environment_problems(here, workers) == []
    assert all(facts["code"] == here["code"] for facts in workers.values())

    changed = {**here, "code": "0" * 64, "nbgrader": "0.0.1"}
    (problem,) = environment_problems(changed, {"tcp://10.0.0.7:1234": here})
    assert problem.startswith("worker tcp://10.0.0.7:1234 has ")
    assert "grading and labcore code" in problem and "nbgrader version" in problem

    # a worker that differs grades nothing and says why (status error: retried next run)
    task = _task(local_reference["paths"], "demo_correct", template)
    future = client.submit(
        grade_on_worker,
        grade_submission,
        error_result,
        dataclasses.replace(task, template=None),
        template,
        changed,
        {},
        key=task_key(task) + "-mismatch",
        pure=False,
    )
    result = future.result(timeout=120)
    assert result.status == "error" and result.cells == []
    assert "grading and labcore code" in result.reasons[0]
    assert "(dask tcp://" in result.worker_host


def test_dask_grading_runs_only_grade_submission(client):
    workers = client.run(worker_environment)
    grading = DaskGrading(client, workers, grade=grade_submission, failed=error_result)
    with pytest.raises(TypeError, match=r"only submit\(grade_submission, task\)"):
        grading.submit(print, "not a task")
    here = worker_environment()
    assert grading.threads == {here["host"]: max(1, here["cores"] // 2)}  # 2 slots here
    unisolated = [address for address, facts in workers.items() if not facts["network_isolated"]]
    if unisolated:
        assert "network not isolated on Dask worker(s)" in grading.warnings[0]
    else:
        assert grading.warnings == []


def test_error_results_are_retried_not_graded(local_reference, template):
    task = _task(local_reference["paths"], "demo_blank", template)
    result = error_result(task, "the cluster lost it")
    assert (result.status, result.reasons, result.cells) == (
        "error",
        ["error: the cluster lost it"],
        [],
    )
    assert result.submission_hash == task.submission_hash and result.timestamp == task.timestamp


def test_threads_per_host_share_the_cores_among_the_slots():
    workers = {
        "tcp://a:1": {"host": "a", "cores": 16},
        "tcp://a:2": {"host": "a", "cores": 16},
        "tcp://b:1": {"host": "b", "cores": 4},
    }
    assert threads_per_host(workers, {"tcp://a:1": 1, "tcp://a:2": 3, "tcp://b:1": 8}) == {
        "a": 4,
        "b": 1,
    }


def test_task_keys_and_worker_labels(local_reference, template):
    task = _task(local_reference["paths"], "demo_blank", template)
    key = task_key(task)
    assert key == f"cnnlab-grade-{ASSIGNMENT}-demo_blank-{task.submission_hash[:16]}"
    assert task_key(_task(local_reference["paths"], "demo_blank", template)) == key
    assert (
        worker_label("n7", "tcp://10.0.0.7:1", "tcp://10.0.0.7:1") == "n7 (dask tcp://10.0.0.7:1)"
    )
    assert worker_label("n7", "tcp://10.0.0.7:1", 3) == "n7 (dask tcp://10.0.0.7:1, 3)"


def test_worker_tally_counts_submissions_and_seconds():
    outcomes = [
        SubmissionOutcome("a1", "s1", "ok", (), 1.0, 2.0, 10.0, worker="w1:1"),
        SubmissionOutcome("a1", "s2", "ok", (), 1.0, 2.0, 20.0, worker="w2:2"),
        SubmissionOutcome("a1", "s3", "ok", (), 1.0, 2.0, 5.0, worker="w1:1"),
    ]
    assert worker_tally(outcomes) == [("w1:1", 2, 15.0), ("w2:2", 1, 20.0)]


def test_grading_workers_tallies_the_log():
    times = pd.DataFrame(
        {
            "assignment": ["a1", "a1", "a1", "a1"],
            "student": ["s1", "s2", "s3", "s4"],
            "seconds": [10.0, 20.0, 5.0, 7.0],
            "measured": ["grader", "grader", "grader", "cells"],
            "worker": ["w1:1", "w2:2", "w1:1", ""],
        }
    )
    frame = grading_workers(times)
    assert frame.to_dict("records") == [
        {
            "worker": "w1:1",
            "submissions": 2,
            "seconds": 15.0,
            "graded": "a1/s1 (10 s); a1/s3 (5 s)",
        },
        {"worker": "w2:2", "submissions": 1, "seconds": 20.0, "graded": "a1/s2 (20 s)"},
    ]


# --------------------------------------------------------------------------- clear errors


def test_clear_errors_for_a_cluster_that_cannot_grade(tmp_path):
    grader = {"grade": grade_submission, "failed": error_result, "clean": clean_stale_scratch}
    unreachable = r"Cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 within 2 s"
    with (
        pytest.raises(ClusterError, match=unreachable),
        connect("tcp://127.0.0.1:9", timeout=2, **grader),
    ):
        pass
    missing = str(tmp_path / "no-such-scheduler.json")
    with (
        pytest.raises(ClusterError, match="give the scheduler's address"),
        connect(missing, **grader),
    ):
        pass
    with pytest.raises(ValueError, match="not both"):
        autograde(
            CoursePaths(root=GRADING_COURSE, build=tmp_path / "build"),
            scheduler="tcp://127.0.0.1:9",
            executor=object(),
            progress=False,
        )
