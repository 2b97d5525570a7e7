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
:func:`record_result` in ONE transaction together with the log row. A submission is
therefore either fully recorded or not at all; a rerun after a crash grades exactly the
submissions that have no log row for their current content.

Reading grades (for export, report and feedback)
------------------------------------------------
:func:`grading_log` and :func:`cell_scores` return pandas DataFrames with stable columns;
:func:`open_gradebook` opens nbgrader's :class:`nbgrader.api.Gradebook` for a URL with a
short connection timeout and a clear error when the database cannot be reached.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    "awaiting_manual_grading",
    "cell_scores",
    "ensure_alembic_on_path",
    "graded_submissions",
    "grading_log",
    "normalise_db_url",
    "open_gradebook",
    "record_result",
    "sync_assignment",
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


def ensure_alembic_on_path() -> None:
    """Get nbgrader ready to create gradebooks from any working directory, fast.

    nbgrader records the schema version in a new gradebook by running the ``alembic``
    program (``nbgrader.api.get_alembic_version``), found on ``PATH``: this puts the
    environment's scripts there, and remembers alembic's answer for the rest of the process
    (every run creates private gradebooks; asking alembic takes seconds each time).
    """
    import nbgrader.api

    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    if not hasattr(nbgrader.api.get_alembic_version, "cache_info"):
        nbgrader.api.get_alembic_version = functools.cache(nbgrader.api.get_alembic_version)


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
    ensure_alembic_on_path()
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


def _log_table():
    return _log_table_metadata().tables[LOG_TABLE]


def graded_submissions(gradebook: Gradebook) -> dict[tuple[str, str], tuple[str, str]]:
    """What the log says is graded.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        An open gradebook.

    Returns
    -------
    dict
        ``(assignment, student) -> (submission_hash, status)`` for every log row.
    """
    from sqlalchemy import select

    table = _log_table()
    rows = gradebook.db.execute(
        select(table.c.assignment, table.c.student, table.c.submission_hash, table.c.status)
    ).all()
    gradebook.db.commit()  # end the read transaction (PostgreSQL keeps it open otherwise)
    return {(a, s): (h, status) for a, s, h, status in rows}


def _upsert_log_row(session, values: dict[str, Any]) -> None:
    from sqlalchemy import insert, select, update

    table = _log_table()
    key = (table.c.assignment == values["assignment"]) & (table.c.student == values["student"])
    attempts = session.execute(select(table.c.attempts).where(key)).scalar_one_or_none()
    if attempts is None:
        session.execute(insert(table).values(**values, attempts=1))
    else:
        session.execute(update(table).where(key).values(**values, attempts=attempts + 1))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _log_values(result) -> dict[str, Any]:
    from nbgrader.utils import parse_utc

    timestamp = parse_utc(result.timestamp) if result.timestamp else None
    if timestamp is not None and timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(dt.UTC).replace(tzinfo=None)
    scored = [c for c in result.cells if c.max_score is not None]
    return {
        "assignment": result.assignment,
        "student": result.student,
        "submission_timestamp": timestamp,
        "submission_hash": result.submission_hash,
        "status": result.status,
        "reasons": json.dumps(list(result.reasons)),
        "score": float(sum(c.score or 0.0 for c in scored)) if result.cells else None,
        "max_score": float(sum(c.max_score for c in scored)) if result.cells else None,
        "seconds": float(result.seconds),
        "worker_host": result.worker_host,
        "worker_pid": int(result.worker_pid) if result.worker_pid is not None else None,
        "network_isolated": result.network_isolated,
        "graded_at": _utc_now(),
    }


# --------------------------------------------------------------------------- writing


def sync_assignment(gradebook: Gradebook, template_db_url: str, assignment: str) -> None:
    """Copy an assignment's definitions (notebooks and cells) into the master gradebook.

    Follows nbgrader's own rule (``SaveCells``): cells may change (source, points) at any
    time, but the set of cells of a notebook may change only while it has no submissions.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        The master gradebook, open.
    template_db_url : str
        The private gradebook ``generate_assignment`` wrote for this run.
    assignment : str
        The assignment's name.

    Raises
    ------
    GradebookError
        If the source notebook gained or lost graded cells after submissions were recorded.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(template_db_url, course_id=gradebook.course_id) as template:
        source = template.find_assignment(assignment)
        notebooks = [
            {
                "name": nb.name,
                "kernelspec": nb.kernelspec,
                "grade": {c.name: (c.max_score, c.cell_type) for c in nb.grade_cells},
                "solution": sorted(c.name for c in nb.solution_cells),
                "task": {c.name: (c.max_score, c.cell_type) for c in nb.task_cells},
                "source": {
                    c.name: (c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells
                },
            }
            for nb in source.notebooks
        ]
    gradebook.update_or_create_assignment(assignment)
    for spec in notebooks:
        try:
            existing = gradebook.find_notebook(spec["name"], assignment)
        except MissingEntry:
            existing = None
        if existing is not None:
            old = (
                {c.name for c in existing.grade_cells},
                {c.name for c in existing.solution_cells},
                {c.name for c in existing.task_cells},
                {c.name for c in existing.source_cells},
            )
            new = (
                set(spec["grade"]),
                set(spec["solution"]),
                set(spec["task"]),
                set(spec["source"]),
            )
            if old != new:
                if existing.submissions:
                    added = set().union(*new) - set().union(*old)
                    removed = set().union(*old) - set().union(*new)
                    raise GradebookError(
                        f"The graded cells of {assignment}/{spec['name']}.ipynb changed after "
                        f"submissions were graded (added: {sorted(added) or 'none'}; removed: "
                        f"{sorted(removed) or 'none'}). Restore the cells, or remove the "
                        f"assignment's submissions from the gradebook (nbgrader db "
                        f"assignment remove {assignment}) and grade again with --force."
                    )
                gradebook.remove_notebook(spec["name"], assignment)
                existing = None
        if existing is None:
            gradebook.add_notebook(spec["name"], assignment, kernelspec=spec["kernelspec"])
        for name, (max_score, cell_type) in spec["grade"].items():
            gradebook.update_or_create_grade_cell(
                name, spec["name"], assignment, max_score=max_score, cell_type=cell_type
            )
        for name in spec["solution"]:
            gradebook.update_or_create_solution_cell(name, spec["name"], assignment)
        for name, (max_score, cell_type) in spec["task"].items():
            gradebook.update_or_create_task_cell(
                name, spec["name"], assignment, max_score=max_score, cell_type=cell_type
            )
        for name, (cell_type, locked, text, checksum) in spec["source"].items():
            gradebook.update_or_create_source_cell(
                name,
                spec["name"],
                assignment,
                cell_type=cell_type,
                locked=locked,
                source=text,
                checksum=checksum,
            )


def _submission(session, assignment_row, student_row):
    """The student's submission of the assignment, created (with every grade and comment
    row nbgrader expects) when missing. Adds to the session; does not commit."""
    from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

    submission = (
        session.query(SubmittedAssignment)
        .filter(
            SubmittedAssignment.assignment_id == assignment_row.id,
            SubmittedAssignment.student_id == student_row.id,
        )
        .one_or_none()
    )
    with session.no_autoflush:  # build the whole tree, then flush it at once
        if submission is None:
            submission = SubmittedAssignment(assignment=assignment_row, student=student_row)
            session.add(submission)
        present = {nb.notebook_id for nb in submission.notebooks}
        for notebook in assignment_row.notebooks:
            if notebook.id in present:
                continue
            grade_cells, solution_cells = notebook.grade_cells, notebook.solution_cells
            task_cells = notebook.task_cells
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            session.add(submitted)
            for cell in grade_cells:
                session.add(Grade(cell_id=cell.id, notebook=submitted))
            for cell in solution_cells:
                session.add(Comment(cell_id=cell.id, notebook=submitted))
            for cell in task_cells:
                session.add(Comment(cell_id=cell.id, notebook=submitted))
                session.add(Grade(cell_id=cell.id, notebook=submitted))
    session.flush()
    return submission


def record_result(gradebook: Gradebook, result) -> None:
    """Merge one graded submission into the gradebook, in ONE transaction.

    nbgrader's rows (student, submission, notebooks, grades, comments) are created or updated
    in place, exactly as ``nbgrader autograde`` would (a manual score a grader gave is kept,
    and then the cell is marked for review), and the log row is written in the same
    transaction: after a crash either all of it is there or none.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        The master gradebook, open; its assignment definitions are current
        (:func:`sync_assignment`).
    result : grading.autograde.run.GradingResult
        What the worker returned. A result with status ``"error"`` writes only the log row
        (the grader failed, so nbgrader's grades are left as they were).

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        If the database refuses the transaction (it is rolled back first).
    """
    from nbgrader.api import Assignment, Student
    from nbgrader.utils import parse_utc
    from sqlalchemy.exc import IntegrityError

    session = gradebook.db
    for attempt in range(2):  # a concurrent writer may insert the same student first
        try:
            if result.status != "error":
                student = session.get(Student, result.student)
                if student is None:
                    student = Student(id=result.student)
                    session.add(student)
                assignment = (
                    session.query(Assignment).filter(Assignment.name == result.assignment).one()
                )
                submission = _submission(session, assignment, student)
                if result.timestamp:
                    submission.timestamp = parse_utc(result.timestamp)
                by_notebook = {nb.notebook.name: nb for nb in submission.notebooks}
                for cell in result.cells:
                    submitted = by_notebook[cell.notebook]
                    grade = next(g for g in submitted.grades if g.cell.name == cell.grade_id)
                    grade.auto_score = cell.score
                    # nbgrader's rule (SaveAutoGrades), plus our own review requests
                    grade.needs_manual_grade = (
                        grade.manual_score is not None
                        or cell.score is None
                        or bool(cell.needs_review)
                    )
                for notebook, grade_id, text in result.comments:
                    submitted = by_notebook[notebook]
                    comment = next(c for c in submitted.comments if c.cell.name == grade_id)
                    comment.auto_comment = text
                for notebook in result.flagged_notebooks:
                    by_notebook[notebook].flagged = True
            _upsert_log_row(session, _log_values(result))
            session.commit()
            return
        except IntegrityError:
            session.rollback()
            if attempt:
                raise
        except BaseException:
            session.rollback()
            raise


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

    table = _log_table()
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
