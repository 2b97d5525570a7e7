"""The gradebook: URLs, one transaction per submission, the log table and the read API."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy
from fixture_courses import GRADING_COURSE

from grading.autograde.task import CellResult, GradingResult
from grading.base.backups import back_up, check_sqlite_gradebook, find_backup, list_backups, restore
from grading.base.gradebook import (
    CELL_SCORE_COLUMNS,
    GRADING_LOG_COLUMNS,
    LOG_TABLE,
    GradebookError,
    alembic_head,
    cell_scores,
    create_gradebook,
    grading_log,
    normalise_db_url,
    open_gradebook,
)
from grading.base.record import graded_submissions, record_result, sync_assignment
from grading.base.template import build_template
from grading.errors import UsageError
from grading.paths import CoursePaths

ASSIGNMENT = "01_fixture"
POINTS = {"test_profile": 1.0, "test_square": 2.0, "test_mean_abs": 3.0, "test_normalise": 4.0}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path_factory.mktemp("build"))
    return build_template(paths, ASSIGNMENT)


@pytest.fixture(scope="module")
def pristine_gradebook(template, tmp_path_factory) -> Path:
    """A gradebook holding the assignment and nothing else (copied for each test)."""
    folder = tmp_path_factory.mktemp("pristine")
    url = f"sqlite:///{folder / 'gradebook.db'}"
    with open_gradebook(url) as gradebook:
        sync_assignment(gradebook, template.write_gradebook(folder / "t.db"), ASSIGNMENT)
    return folder / "gradebook.db"


@pytest.fixture
def gradebook_url(tmp_path, pristine_gradebook) -> str:
    shutil.copyfile(pristine_gradebook, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def _result(student="alice", scores=None, status="ok", reasons=(), review=()):
    scores = scores or {name: points for name, points in POINTS.items()}
    cells = [
        CellResult("fixture", name, scores.get(name, 0.0), POINTS[name], name in review)
        for name in POINTS
    ] + [CellResult("fixture", "explain_square", None, 1.0, False, "markdown")]
    return GradingResult(
        assignment=ASSIGNMENT,
        student=student,
        submission_hash="a" * 64,
        timestamp="2026-01-15 12:00:00.000000 UTC",
        status=status,
        reasons=list(reasons),
        cells=cells,
        comments=[("fixture", "square", None), ("fixture", "mean_abs", "No response.")],
        seconds=1.5,
        worker_host="host",
        worker_pid=42,
        network_isolated=True,
    )


def _count(url: str, table: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar()
    engine.dispose()
    return count


# --------------------------------------------------------------------------- URLs


def test_normalise_db_url(tmp_path, monkeypatch):
    paths = CoursePaths(root=tmp_path, build=tmp_path / "build")
    assert normalise_db_url(None, paths) == f"sqlite:///{tmp_path / 'build' / 'gradebook.db'}"
    assert normalise_db_url("postgresql://u:p@db:5432/course", paths) == (
        "postgresql+psycopg://u:p@db:5432/course"
    )
    assert normalise_db_url("postgres://u@db/course", paths) == "postgresql+psycopg://u@db/course"
    assert normalise_db_url("postgresql+psycopg2://u@db/c", paths) == "postgresql+psycopg://u@db/c"
    monkeypatch.chdir(tmp_path)
    assert normalise_db_url("grades.db", paths) == f"sqlite:///{tmp_path / 'grades.db'}"
    assert normalise_db_url("sqlite:///rel/g.db", paths) == f"sqlite:///{tmp_path / 'rel/g.db'}"
    assert normalise_db_url("sqlite:////abs/g.db", paths) == "sqlite:////abs/g.db"
    with pytest.raises(ValueError, match="in-memory"):
        normalise_db_url("sqlite://", paths)
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        normalise_db_url("mysql://u@db/c", paths)


def _closed_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_database_fails_fast_and_says_what_to_check():
    port = _closed_port()
    started = time.monotonic()
    url = f"postgresql://grader:secret@127.0.0.1:{port}/course"
    with pytest.raises(GradebookError) as raised, open_gradebook(url):
        pass
    message = str(raised.value)
    assert time.monotonic() - started < 20
    assert f"127.0.0.1:{port}/course" in message and "secret" not in message
    assert "server is running" in message


# --------------------------------------------------------------------------- a new gradebook


def _alembic_heads(tmp_path: Path) -> str:
    """What nbgrader's own check asks: ``alembic heads`` on nbgrader's migrations."""
    from nbgrader.dbutil import write_alembic_ini

    ini = tmp_path / "alembic.ini"
    write_alembic_ini(str(ini), f"sqlite:///{tmp_path / 'unused.db'}")
    command = [sys.executable, "-m", "alembic", "-c", str(ini), "heads"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[0]


@pytest.mark.slow
def test_a_new_gradebook_needs_no_alembic_program_and_changes_no_path(tmp_path, monkeypatch):
    import nbgrader.api

    head = _alembic_heads(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing here"))
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with open_gradebook(url) as gradebook:
        gradebook.add_student("alice")
    assert os.environ["PATH"] == str(tmp_path / "nothing here")
    assert not hasattr(nbgrader.api.get_alembic_version, "cache_info")  # nbgrader untouched
    assert alembic_head() == head
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        versions = connection.execute(sqlalchemy.text("SELECT * FROM alembic_version")).all()
    engine.dispose()
    assert versions == [(head,)]
    create_gradebook(url)  # a gradebook with tables is left as it is
    assert _count(url, "alembic_version") == 1 and _count(url, "student") == 1


def test_a_template_is_built_without_the_alembic_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing here"))
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    template = build_template(paths, ASSIGNMENT)
    assert os.environ["PATH"] == str(tmp_path / "nothing here")
    with open_gradebook(template.write_gradebook(tmp_path / "t.db")) as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).max_score == sum(POINTS.values()) + 1


# --------------------------------------------------------------------------- writing


def test_record_result_writes_nbgrader_rows_and_the_log_together(gradebook_url):
    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, _result(scores={"test_profile": 1.0, "test_square": 2.0}))
        assert graded_submissions(gradebook) == {(ASSIGNMENT, "alice"): ("a" * 64, "ok")}
    cells = cell_scores(gradebook_url)
    assert list(cells.columns) == CELL_SCORE_COLUMNS
    assert len(cells) == 5  # four tests and the written answer
    by_cell = cells.set_index("grade_id")
    assert by_cell.loc["test_square", "score"] == 2.0
    assert by_cell.loc["test_normalise", ["score", "max_score"]].tolist() == [0.0, 4.0]
    assert by_cell.loc["explain_square", "needs_manual_grade"]  # no autograder score
    assert not by_cell.loc["test_square", "needs_manual_grade"]
    log = grading_log(gradebook_url)
    assert list(log.columns) == GRADING_LOG_COLUMNS
    row = log.iloc[0]
    assert (row.assignment, row.student, row.status, row.score, row.max_score) == (
        ASSIGNMENT,
        "alice",
        "ok",
        3.0,
        11.0,
    )
    assert row.worker == "host:42" and row.attempts == 1 and row.network_isolated
    assert str(row.submission_timestamp) == "2026-01-15 12:00:00+00:00"


def test_regrading_updates_in_place_and_keeps_manual_grades(gradebook_url):
    from nbgrader.api import Gradebook

    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, _result())
        grade = gradebook.find_grade("test_square", "fixture", ASSIGNMENT, "alice")
        grade.manual_score = 1.5  # an instructor's correction
        gradebook.db.commit()
        record_result(
            gradebook,
            _result(
                scores={"test_profile": 1.0},
                status="tampered",
                reasons=["tampering: x"],
                review={"test_normalise"},
            ),
        )
    for table in ("student", "submitted_assignment", "submitted_notebook", LOG_TABLE):
        assert _count(gradebook_url, table) == 1, table
    assert _count(gradebook_url, "grade") == 5
    cells = cell_scores(gradebook_url).set_index("grade_id")
    assert cells.loc["test_square", "score"] == 1.5  # the manual score wins
    assert cells.loc["test_square", "auto_score"] == 0.0
    assert cells.loc["test_square", "needs_manual_grade"]  # regraded under a manual grade
    assert cells.loc["test_normalise", "needs_manual_grade"]  # asked for review
    log = grading_log(gradebook_url).iloc[0]
    assert (log.status, log.reasons, log.attempts) == ("tampered", "tampering: x", 2)
    with Gradebook(normalise_db_url(gradebook_url), course_id="cnnlab") as gradebook:
        notebook = gradebook.find_submission_notebook("fixture", ASSIGNMENT, "alice")
        assert notebook.flagged is False  # only notebooks a result names are flagged


def test_error_result_writes_only_the_log_row(gradebook_url):
    failed = _result(status="error", reasons=["error: the grader failed: boom"])
    failed.cells = []
    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, failed)
    assert _count(gradebook_url, "submitted_assignment") == 0
    log = grading_log(gradebook_url).iloc[0]
    assert log.status == "error" and log.reasons == "error: the grader failed: boom"
    assert log.score != log.score  # NaN: never graded


def test_a_failing_merge_leaves_nothing_behind(gradebook_url):
    broken = _result()
    broken.cells.append(CellResult("no_such_notebook", "x", 1.0, 1.0))
    with open_gradebook(gradebook_url) as gradebook, pytest.raises(KeyError):
        record_result(gradebook, broken)
    for table in ("student", "submitted_assignment", "submitted_notebook", "grade", LOG_TABLE):
        assert _count(gradebook_url, table) == 0, table


def test_flagged_notebooks_are_flagged_in_nbgrader(gradebook_url):
    from nbgrader.api import Gradebook

    result = _result(status="tampered", reasons=["tampering: y"])
    result.flagged_notebooks = ["fixture"]
    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, result)
    with Gradebook(normalise_db_url(gradebook_url), course_id="cnnlab") as gradebook:
        assert gradebook.find_submission_notebook("fixture", ASSIGNMENT, "alice").flagged


def test_sync_refuses_to_change_graded_cells(gradebook_url, template, tmp_path):
    from nbgrader.api import Gradebook

    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, _result())
        private = template.write_gradebook(tmp_path / "changed.db")
        with Gradebook(private, course_id="cnnlab") as changed:
            cell = changed.find_grade_cell("test_normalise", "fixture", ASSIGNMENT)
            changed.db.delete(cell)
            changed.db.commit()
        with pytest.raises(GradebookError, match="changed after submissions were graded"):
            sync_assignment(gradebook, private, ASSIGNMENT)
        # the same definitions again are fine (a rerun)
        sync_assignment(gradebook, template.write_gradebook(tmp_path / "same.db"), ASSIGNMENT)


# --------------------------------------------------------------------------- backups


def test_a_corrupted_gradebook_is_refused_then_restored_with_every_grade(
    gradebook_url, monkeypatch, capsys
):
    from grading import cli

    path = Path(gradebook_url.removeprefix("sqlite:///"))
    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, _result("alice"))
        record_result(gradebook, _result("bob", scores={"test_square": 2.0}))
    grades, log = cell_scores(gradebook_url), grading_log(gradebook_url)
    monkeypatch.setenv("CNNLAB_ROOT", str(GRADING_COURSE))
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(path.parent))
    # a command that writes the gradebook backs it up first (this one then finds nothing to do)
    assert cli.main(["autograde", "--no-progress"]) == 2
    capsys.readouterr()
    assert [b.reason for b in list_backups(path)] == ["autograde"]
    assert (path.parent / "backups").is_dir()

    path.write_bytes(b"<html>an overwritten gradebook</html>" * 100)
    assert cli.main(["report"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert f"cnnlab report: {path} is not a usable gradebook: it is not a SQLite database" in error
    assert "restore the latest backup" in error and "`cnnlab gradebook restore`" in error

    assert cli.main(["gradebook", "backups"]) == 0
    assert "before autograde" in capsys.readouterr().out
    assert cli.main(["gradebook", "restore"]) == 0
    output = capsys.readouterr().out
    assert "moved the damaged gradebook aside" in output and "restored" in output
    assert len(list(path.parent.glob("gradebook.db.damaged-*"))) == 1
    pd.testing.assert_frame_equal(cell_scores(gradebook_url), grades)
    pd.testing.assert_frame_equal(grading_log(gradebook_url), log)


def test_backups_keep_the_newest_and_skip_an_unchanged_gradebook(gradebook_url, monkeypatch):
    path = Path(gradebook_url.removeprefix("sqlite:///"))
    first = back_up(path, "release")
    assert back_up(path, "autograde") == first  # nothing changed since
    for student in ("alice", "bob", "carol"):
        with open_gradebook(gradebook_url) as gradebook:
            record_result(gradebook, _result(student))
        back_up(path, "autograde", keep=2)
    assert len(list_backups(path)) == 2
    # restore by time: the older of the two has alice and bob only
    older = list_backups(path)[0]
    restored, moved_aside = restore(path, f"{older.taken_at:%Y-%m-%d %H:%M:%S.%f}")
    assert restored == older and moved_aside is None
    assert sorted(grading_log(gradebook_url).student) == ["alice", "bob"]
    # the gradebook before a restore is backed up first, so a restore can be undone
    restore(path, "latest")
    assert sorted(grading_log(gradebook_url).student) == ["alice", "bob", "carol"]
    with open_gradebook(gradebook_url) as gradebook:
        record_result(gradebook, _result("dave"))
    restore(path, f"{older.taken_at:%Y-%m-%d %H:%M:%S.%f}")
    assert list_backups(path)[-1].reason == "restore"
    restore(path)
    assert sorted(grading_log(gradebook_url).student) == ["alice", "bob", "carol", "dave"]
    with pytest.raises(UsageError, match=r"No backup of .* taken at '1999-01-01'"):
        find_backup(path, "1999-01-01")


def test_a_sqlite_file_of_another_application_is_not_a_gradebook(tmp_path):
    other = tmp_path / "notes.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(GradebookError, match=r"without nbgrader's tables; there is no backup"):
        check_sqlite_gradebook(other)
    with (
        pytest.raises(GradebookError, match=r"notes\.db is not a usable gradebook"),
        open_gradebook(f"sqlite:///{other}"),
    ):
        pass
