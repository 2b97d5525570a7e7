"""The gradebook: nbgrader's database plus the grader's own log, behind one URL.

Where grades live
-----------------
One database holds everything: nbgrader's own tables (assignments, notebooks, cells,
students, submissions, grades, comments; read and written through ``nbgrader.api`` and its
SQLAlchemy models, so formgrader, ``nbgrader generate_feedback`` and every nbgrader tool see
the grades) and one table of ours, ``cnnlab_grading_log``: one row per (assignment, student)
with the submission's timestamp and content hash, the status and reasons (timeout, memory,
crash, restored tests, tampering, ...), seconds, the worker that graded it and when. The
database is SQLite ``build/gradebook.db`` by default, or PostgreSQL by URL
(``postgresql://user:password@host/db``; normalised to the installed psycopg 3 driver).

Why a private gradebook per submission and a single writer
-----------------------------------------------------------
nbgrader's SQLite gradebook is not safe for concurrent writers (parallel ``nbgrader
autograde`` processes fail with "database is locked" or lose updates), and nbgrader commits
after every cell, so a grader killed halfway leaves half a submission behind. So the grader
never lets nbgrader touch the master gradebook: every submission is autograded by nbgrader in
its own process against a private scratch course directory and a private SQLite gradebook
(a copy of the assignment's definitions, made once per run by ``generate_assignment``). The
worker returns plain data (per-cell scores, comments, reasons, the autograded notebook), and
the parent process, the only writer, merges it into the master gradebook with
:func:`grading.base.record.record_result` in ONE transaction together with the log row. A
submission is therefore either fully recorded or not at all; a rerun after a crash grades
exactly the submissions that have no log row for their current content.

Reading grades (for export, report and feedback)
------------------------------------------------
:func:`grading_log` and :func:`cell_scores` return pandas DataFrames with stable columns;
:func:`open_gradebook` opens nbgrader's :class:`nbgrader.api.Gradebook` for a URL with a
short connection timeout and a clear error when the database cannot be reached. It creates
a new gradebook itself (:func:`create_gradebook`), so nbgrader never runs the ``alembic``
program and nothing is put on ``PATH``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from grading.errors import GradebookError
from grading.paths import normalise_db_url

if TYPE_CHECKING:  # heavy imports stay out of `cnnlab --help` and nbgrader_config.py
    import pandas as pd
    from nbgrader.api import Gradebook

    from grading.paths import CoursePaths

__all__ = [
    "CELL_SCORE_COLUMNS",
    "COURSE_ID",
    "GRADING_LOG_COLUMNS",
    "LOG_TABLE",
    "GradebookError",
    "alembic_head",
    "awaiting_manual_grading",
    "cell_scores",
    "create_gradebook",
    "grading_log",
    "log_table",
    "normalise_db_url",
    "open_gradebook",
]

#: nbgrader's course id for this course (``c.CourseDirectory.course_id``).
COURSE_ID = "cnnlab"
#: Our table next to nbgrader's: one row per graded (assignment, student).
LOG_TABLE = "cnnlab_grading_log"
#: Seconds to wait for a database server before giving up with a clear error.
CONNECT_TIMEOUT_S = 5

#: Columns of :func:`grading_log`, in order (a stable interface for export and report).
GRADING_LOG_COLUMNS = [
    "assignment",
    "student",
    "status",
    "reasons",
    "score",
    "max_score",
    "seconds",
    "worker",
    "graded_at",
    "submission_timestamp",
    "submission_hash",
    "network_isolated",
    "attempts",
]
#: Columns of :func:`cell_scores`, in order.
CELL_SCORE_COLUMNS = [
    "assignment",
    "student",
    "notebook",
    "grade_id",
    "score",
    "max_score",
    "needs_manual_grade",
    "auto_score",
    "manual_score",
    "cell_type",
]


# --------------------------------------------------------------------------- URLs


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _engine_url(url: str) -> str:
    """The URL with a connection timeout (PostgreSQL) or a busy timeout (SQLite) added."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
    elif parsed.get_backend_name() == "sqlite" and "timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"timeout": "60"})
    return parsed.render_as_string(hide_password=False)


def _check_reachable(url: str) -> None:
    """Connect once, briefly, and explain what to check when that fails."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database
        from grading.base.backups import check_sqlite_gradebook

        check_sqlite_gradebook(Path(database))
        folder = Path(database).parent
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise GradebookError(
                    f"Cannot create the folder {folder} for the gradebook {_display_url(url)}: "
                    f"{error}"
                ) from error
    engine = sqlalchemy.create_engine(_engine_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        hint = (
            "check that the PostgreSQL server is running and reachable from this machine, "
            "that the database exists (createdb), and the user name and password in the URL"
            if backend == "postgresql"
            else "check that the file is a SQLite database and that you may write to it"
        )
        raise GradebookError(
            f"Cannot open the gradebook {_display_url(url)}: {detail}. {hint[0].upper()}{hint[1:]}."
        ) from error
    finally:
        engine.dispose()


@functools.cache
def alembic_head() -> str:
    """nbgrader's current gradebook schema version (the head of its alembic migrations).

    Read from nbgrader's migration scripts with alembic's Python API, once per process:
    no ``alembic`` program, so nothing needs to be on ``PATH``.

    Returns
    -------
    str
        The revision id, e.g. ``"e43177bfe90b"``.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def create_gradebook(url: str) -> None:
    """Give an empty database nbgrader's tables and schema version; leave others alone.

    nbgrader creates a missing gradebook itself, but asks the ``alembic`` program on
    ``PATH`` for the schema version, which takes seconds and fails where the environment's
    scripts are not on ``PATH``. A gradebook made here first is one nbgrader finds ready:
    call this before an nbgrader step that writes a new gradebook.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL (:func:`normalise_db_url`).
    """
    import sqlalchemy
    from nbgrader.api import Base

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:  # one transaction: all of it, or nothing
            if sqlalchemy.inspect(connection).get_table_names():
                return
            Base.metadata.create_all(bind=connection)
            connection.execute(
                sqlalchemy.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            )
            connection.execute(
                sqlalchemy.text("INSERT INTO alembic_version (version_num) VALUES (:version)"),
                {"version": alembic_head()},
            )
    finally:
        engine.dispose()


@contextlib.contextmanager
def open_gradebook(
    db_url: str | None = None, paths: CoursePaths | None = None, *, course_id: str = COURSE_ID
) -> Iterator[Gradebook]:
    """Open nbgrader's gradebook (creating its tables and ours when new).

    Parameters
    ----------
    db_url : str, optional
        Anything :func:`normalise_db_url` accepts; default the course's SQLite file.
    paths : grading.paths.CoursePaths, optional
        The course, for the default URL.
    course_id : str
        nbgrader's course id.

    Yields
    ------
    nbgrader.api.Gradebook
        Closed when the block ends. ``gradebook.db`` is its SQLAlchemy session.

    Raises
    ------
    GradebookError
        If the database cannot be reached within a few seconds (the message names the URL,
        without its password, and what to check).
    """
    from nbgrader.api import Gradebook

    url = normalise_db_url(db_url, paths)
    _check_reachable(url)
    create_gradebook(_engine_url(url))
    gradebook = Gradebook(_engine_url(url), course_id=course_id)
    try:
        _log_table_metadata().create_all(gradebook.engine)
        yield gradebook
    finally:
        gradebook.close()


# --------------------------------------------------------------------------- our log table

_LOG_METADATA = None


def _log_table_metadata():
    """SQLAlchemy metadata holding the ``cnnlab_grading_log`` table (built once)."""
    global _LOG_METADATA
    if _LOG_METADATA is None:
        from sqlalchemy import (
            Boolean,
            Column,
            DateTime,
            Float,
            Integer,
            MetaData,
            String,
            Table,
            Text,
            UniqueConstraint,
        )

        metadata = MetaData()
        Table(
            LOG_TABLE,
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("assignment", String(128), nullable=False),
            Column("student", String(128), nullable=False),
            Column("submission_timestamp", DateTime, nullable=True),
            Column("submission_hash", String(64), nullable=False),
            Column("status", String(16), nullable=False),
            Column("reasons", Text, nullable=False),  # JSON list of "code: message"
            Column("score", Float, nullable=True),  # autograded score when recorded
            Column("max_score", Float, nullable=True),
            Column("seconds", Float, nullable=True),
            Column("worker_host", String(255), nullable=True),
            Column("worker_pid", Integer, nullable=True),
            Column("network_isolated", Boolean, nullable=True),
            Column("graded_at", DateTime, nullable=False),
            Column("attempts", Integer, nullable=False),
            UniqueConstraint("assignment", "student", name="uq_cnnlab_grading_log_submission"),
        )
        _LOG_METADATA = metadata
    return _LOG_METADATA


def log_table():
    """The ``cnnlab_grading_log`` table (SQLAlchemy ``Table``).

    Returns
    -------
    sqlalchemy.Table
        One row per graded (assignment, student); see :func:`grading_log` for its meaning.
    """
    return _log_table_metadata().tables[LOG_TABLE]


# --------------------------------------------------------------------------- reading


def cell_scores(db_url: str | None = None, paths: CoursePaths | None = None) -> pd.DataFrame:
    """Every graded cell of every submission, one row each.

    Parameters
    ----------
    db_url : str, optional
        The gradebook (anything :func:`normalise_db_url` accepts); default the course's.
    paths : grading.paths.CoursePaths, optional
        The course, for the default URL.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CELL_SCORE_COLUMNS`: ``assignment``, ``student``, ``notebook``,
        ``grade_id``, ``score`` (nbgrader's: the manual score if a grader gave one, else the
        autograder's, plus extra credit), ``max_score``, ``needs_manual_grade``,
        ``auto_score``, ``manual_score``, ``cell_type`` (``"code"`` or ``"markdown"``),
        sorted by assignment, student, notebook and grade id.
    """
    import pandas as pd
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Grade,
        GradeCell,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
        TaskCell,
    )
    from sqlalchemy import func, select
    from sqlalchemy.orm import aliased

    # grade and task cells share the base_cells table with BaseCell: without explicit
    # aliases SQLAlchemy aliases them itself and BaseCell.name comes back as None
    GradeCell = aliased(GradeCell, flat=True)
    TaskCell = aliased(TaskCell, flat=True)

    with open_gradebook(db_url, paths) as gradebook:
        query = (
            select(
                Assignment.name,
                SubmittedAssignment.student_id,
                Notebook.name,
                BaseCell.name,
                Grade.score,
                func.coalesce(GradeCell.max_score, TaskCell.max_score),
                Grade.needs_manual_grade,
                Grade.auto_score,
                Grade.manual_score,
                func.coalesce(GradeCell.cell_type, TaskCell.cell_type),
            )
            .select_from(Grade)
            .join(BaseCell, BaseCell.id == Grade.cell_id)
            .outerjoin(GradeCell, GradeCell.id == Grade.cell_id)
            .outerjoin(TaskCell, TaskCell.id == Grade.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
        )
        rows = gradebook.db.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=CELL_SCORE_COLUMNS)
    frame = frame.astype(
        {"score": float, "max_score": float, "auto_score": float, "manual_score": float}
    )
    frame["needs_manual_grade"] = frame["needs_manual_grade"].astype(bool)
    return frame.sort_values(["assignment", "student", "notebook", "grade_id"]).reset_index(
        drop=True
    )


def awaiting_manual_grading(cells: pd.DataFrame) -> pd.DataFrame:
    """The points of each submission that wait for an instructor's manual grade.

    Parameters
    ----------
    cells : pandas.DataFrame
        From :func:`cell_scores`.

    Returns
    -------
    pandas.DataFrame
        One row per (``assignment``, ``student``) with such cells: ``points`` (their
        maximum points, scored 0 until graded) and ``cells`` (how many), sorted.
    """
    pending = cells[cells["needs_manual_grade"]]
    return (
        pending.groupby(["assignment", "student"], sort=True)
        .agg(points=("max_score", "sum"), cells=("grade_id", "count"))
        .reset_index()
    )


def grading_log(db_url: str | None = None, paths: CoursePaths | None = None) -> pd.DataFrame:
    """One row per graded submission: how it went, and its current score.

    Parameters
    ----------
    db_url : str, optional
        The gradebook (anything :func:`normalise_db_url` accepts); default the course's.
    paths : grading.paths.CoursePaths, optional
        The course, for the default URL.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`GRADING_LOG_COLUMNS`:

        ``assignment``, ``student``
            Which submission.
        ``status``
            ``"ok"``, or the most serious problem: ``"error"`` (the grader failed; it is
            retried on the next run), ``"invalid"`` (not a notebook), ``"tampered"``,
            ``"memory"``, ``"processes"``, ``"file-size"``, ``"disk"`` (a limit of the
            sandbox), ``"timeout"``, ``"crashed"``, ``"missing"`` (a notebook was not
            submitted), ``"restored"`` (test cells or metadata restored from the source),
            ``"exit"`` (the code calls exit; graded by its effect), ``"unsafe"`` (graded
            without the sandbox, ``--unsafe-no-sandbox``).
        ``reasons``
            Every problem, ``"code: what happened"``, joined with ``"; "`` ("" when none).
        ``score``, ``max_score``
            The submission's current total in nbgrader (manual grades included) and the
            assignment's maximum; NaN for an ``"error"`` row that was never graded.
        ``seconds``
            Wall-clock seconds the worker spent on it.
        ``worker``
            ``"host:pid"`` of the process that graded it.
        ``graded_at``
            When it was recorded (UTC).
        ``submission_timestamp``, ``submission_hash``
            The submission's ``timestamp.txt`` (UTC) and the SHA-256 of its files.
        ``network_isolated``
            Whether the sandbox had no network access.
        ``attempts``
            How many times it was graded (``--force`` and retries add one).
    """
    import pandas as pd
    from nbgrader.api import Assignment, Grade, SubmittedAssignment, SubmittedNotebook
    from sqlalchemy import func, select

    table = log_table()
    with open_gradebook(db_url, paths) as gradebook:
        log_rows = gradebook.db.execute(select(table)).mappings().all()
        scores = gradebook.db.execute(
            select(Assignment.name, SubmittedAssignment.student_id, func.sum(Grade.score))
            .select_from(Grade)
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .group_by(Assignment.name, SubmittedAssignment.student_id)
        ).all()
        maxima = {
            a.name: float(sum(nb.max_score for nb in a.notebooks))
            for a in gradebook.db.query(Assignment).all()
        }
    score_of = {(a, s): float(total) for a, s, total in scores}
    records = []
    for row in log_rows:
        key = (row["assignment"], row["student"])
        graded = key in score_of
        records.append(
            {
                "assignment": row["assignment"],
                "student": row["student"],
                "status": row["status"],
                "reasons": "; ".join(json.loads(row["reasons"] or "[]")),
                "score": score_of[key] if graded else float("nan"),
                "max_score": maxima.get(row["assignment"], float("nan"))
                if graded
                else float("nan"),
                "seconds": row["seconds"],
                "worker": f"{row['worker_host']}:{row['worker_pid']}" if row["worker_host"] else "",
                "graded_at": row["graded_at"],
                "submission_timestamp": row["submission_timestamp"],
                "submission_hash": row["submission_hash"],
                "network_isolated": row["network_isolated"],
                "attempts": row["attempts"],
            }
        )
    frame = pd.DataFrame.from_records(records, columns=GRADING_LOG_COLUMNS)
    for column in ("graded_at", "submission_timestamp"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame = frame.astype({"score": float, "max_score": float, "seconds": float})
    return frame.sort_values(["assignment", "student"]).reset_index(drop=True)
