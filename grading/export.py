"""``cnnlab export``: the grades as one CSV file for an LMS gradebook import.

::

    cnnlab export [--format plain|nbgrader|canvas] [--output FILE] [--db URL]

Every format lists every student of the gradebook and of the course's roster
(:mod:`grading.base.roster`). Scores are after the late penalty: with a due date in the course
file (:mod:`grading.base.settings`) it is computed by the course's late-submission plugin
(:mod:`grading.base.late`) from the submission time kept in the gradebook; otherwise it is the
penalty nbgrader recorded. A roster student without a submission scores the course's
``missing_score`` (0 unless the course file says ``"blank"``).

``--format nbgrader`` writes the columns of ``nbgrader export`` (assignment, duedate,
timestamp, student_id, last_name, first_name, email, raw_score, late_submission_penalty,
score, max_score), one row per student and assignment. ``--format canvas`` writes Canvas's
gradebook import: ``Student`` ("Last, First"), ``ID``, ``SIS User ID``, ``SIS Login ID``,
``Section`` from the roster, then one ``<assignment title> (<assignment's LMS id>)`` column
per assignment (``[assignments.<name>] lms_id`` in ``cnnlab.toml``; the title alone when
it has none, which Canvas imports as a new assignment).

The default ``--format plain`` file (``build/grades.csv``) is plain UTF-8 with a header row
and one row per student, sorted by student id:

``student_id``
    The id the submission was collected under (the LMS user name or id).
``<assignment>`` (one column per assignment, in course order, e.g. ``01_cnn_theory``)
    The points scored (after any late penalty), a plain number with at most two decimals
    (``4.5``); empty when the student submitted nothing for that assignment (without a
    roster; with one, the course's ``missing_score``). Manually graded
    cells count as graded so far (0 until an instructor grades them).
``total``
    The sum over the assignments, empty ones counting 0.

Maximum points are not a column (an LMS would import them as one more student grade);
``cnnlab export`` prints them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from grading.base.nbgrader_driver import existing_gradebook_url
from grading.errors import BadInput
from grading.options import add_gradebook_option
from grading.paths import CoursePaths, course_paths

if TYPE_CHECKING:  # pandas loads when grades are read, not for `cnnlab export --help`
    import pandas as pd

__all__ = [
    "CANVAS_COLUMNS",
    "FORMATS",
    "NBGRADER_COLUMNS",
    "export_grades",
    "format_points",
    "grade_table",
    "submission_scores",
]

SUBMISSION_COLUMNS = [
    "assignment",
    "student",
    "score",
    "max_score",
    "needs_manual_grade",
    "raw_score",
    "late_penalty",
    "timestamp",
    "seconds_late",
]
#: Export formats: today's CSV, nbgrader's ``nbgrader export`` columns, Canvas's import.
FORMATS = ("plain", "nbgrader", "canvas")
#: The columns of ``nbgrader export`` (nbgrader's CsvExportPlugin).
NBGRADER_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]
#: The student columns of Canvas's gradebook import, before one column per assignment.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def submission_scores(db_url: str, paths: CoursePaths | None = None) -> pd.DataFrame:
    """One row per graded submission, read from the nbgrader gradebook.

    Parameters
    ----------
    db_url : str
        Gradebook URL.
    paths : grading.paths.CoursePaths, optional
        The course: its due dates and late policy (:mod:`grading.base.settings`) decide the
        late penalty. Without it, the penalty nbgrader recorded applies.

    Returns
    -------
    pandas.DataFrame
        Columns ``assignment``, ``student``, ``score`` (after late penalty, not below 0),
        ``max_score``, ``needs_manual_grade``, ``raw_score`` (before the penalty),
        ``late_penalty``, ``timestamp`` (UTC, naive; None if unknown) and
        ``seconds_late``; sorted by assignment and student.
    """
    import pandas as pd

    from grading.base.gradebook import open_gradebook
    from grading.base.late import late_penalty, late_plugin
    from grading.base.settings import CourseSettings, course_settings

    if paths is not None:
        from grading.base.nbgrader_driver import load_nbgrader_config

        settings = course_settings(paths)
        plugin = late_plugin(load_nbgrader_config(paths, db_url)) if settings.due else None
    else:
        settings, plugin = CourseSettings(root=Path(".")), None
    rows = []
    with open_gradebook(db_url) as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                raw = float(submission.score)
                lateness = late_penalty(
                    settings,
                    plugin,
                    assignment.name,
                    submission.student.id,
                    raw,
                    submission.timestamp,
                    submission.late_submission_penalty,
                )
                rows.append(
                    {
                        "assignment": assignment.name,
                        "student": submission.student.id,
                        "score": max(raw - lateness.penalty, 0.0),
                        "max_score": float(submission.max_score),
                        "needs_manual_grade": bool(submission.needs_manual_grade),
                        "raw_score": raw,
                        "late_penalty": lateness.penalty,
                        "timestamp": submission.timestamp,
                        "seconds_late": lateness.seconds_late,
                    }
                )
    table = pd.DataFrame(rows, columns=SUBMISSION_COLUMNS)
    return table.sort_values(["assignment", "student"], ignore_index=True)


def grade_table(db_url: str, paths: CoursePaths | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Scores as a student x assignment table with a total.

    Parameters
    ----------
    db_url : str
        Gradebook URL.
    paths : grading.paths.CoursePaths, optional
        The course: its late policy applies (:func:`submission_scores`), every student of its
        roster gets a row, and one without a submission scores the course's
        ``missing_score``. Without it: the gradebook's students, NaN where nothing was
        submitted.

    Returns
    -------
    grades : pandas.DataFrame
        Index ``student_id`` (every student in the gradebook and the roster), one column per
        assignment (NaN where nothing was submitted, unless the roster's policy gives a
        score) and ``total`` (NaN counted as 0).
    max_points : pandas.Series
        Maximum points per assignment and ``total``.

    Raises
    ------
    ValueError
        If the gradebook has no students (an empty class).
    """
    import pandas as pd

    from grading.base.gradebook import open_gradebook

    with open_gradebook(db_url) as gradebook:
        students = sorted(student.id for student in gradebook.students)
        assignments = sorted(assignment.name for assignment in gradebook.assignments)
        max_points = pd.Series(
            {a.name: float(a.max_score) for a in gradebook.assignments}, dtype=float
        ).reindex(assignments)
    roster = _roster(paths)
    students = sorted(set(students) | set(roster.ids()))
    if not students:
        raise BadInput(
            "The gradebook has no students (an empty class): collect and autograde "
            "submissions first (`cnnlab collect`, `cnnlab autograde`)."
        )
    scores = submission_scores(db_url, paths)
    grades = (
        scores.pivot_table(index="student", columns="assignment", values="score", aggfunc="sum")
        .reindex(index=students, columns=assignments)
        .rename_axis(index="student_id", columns=None)
    )
    if roster:
        from grading.base.settings import course_settings

        missing = course_settings(paths).missing_score
        if missing is not None:
            grades = grades.fillna(missing)
    grades["total"] = grades[assignments].fillna(0.0).sum(axis=1)
    max_points["total"] = max_points.sum()
    return grades, max_points


def format_points(value: float) -> str:
    """Points as an LMS reads them: at most two decimals, no unit, empty for missing.

    Parameters
    ----------
    value : float
        Points, or NaN.

    Returns
    -------
    str
        ``"5"``, ``"4.5"``, ``"0.33"`` or ``""``.
    """
    import pandas as pd

    if pd.isna(value):
        return ""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _roster(paths: CoursePaths | None):
    from grading.base.roster import Roster, read_roster

    return read_roster(paths) if paths is not None else Roster()


def _write_plain(writer, grades) -> None:
    writer.writerow(["student_id", *grades.columns])
    for student, row in grades.iterrows():
        writer.writerow([student, *(format_points(value) for value in row)])


def _text(value) -> str:
    """A value as nbgrader's CSV export writes it (``str``; empty for None)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)


def _write_nbgrader(writer, db_url: str, paths: CoursePaths, grades) -> None:
    from grading.base.gradebook import open_gradebook
    from grading.base.settings import course_settings

    settings = course_settings(paths)
    roster = _roster(paths)
    scores = submission_scores(db_url, paths).set_index(["assignment", "student"])
    with open_gradebook(db_url) as gradebook:
        people = {s.id: (s.last_name, s.first_name, s.email) for s in gradebook.students}
        assignments = [(a.name, a.duedate, float(a.max_score)) for a in gradebook.assignments]
    writer.writerow(NBGRADER_COLUMNS)
    for name, duedate, max_score in assignments:
        due = settings.due.get(name)
        due = due.replace(tzinfo=None) if due is not None else duedate
        for student in grades.index:
            entry = roster.get(student)
            last, first, email = people.get(student, (None, None, None))
            if entry is not None:
                last, first = last or entry.last_name, first or entry.first_name
                email = email or entry.email
            if (name, student) in scores.index:
                row = scores.loc[(name, student)]
                values = [row["timestamp"], row["raw_score"], row["late_penalty"], row["score"]]
            else:
                values = ["", 0.0, 0.0, 0.0]
            people_columns = [student, _text(last), _text(first), _text(email)]
            scores_columns = [_text(value) for value in (*values[1:], max_score)]
            writer.writerow([name, _text(due), _text(values[0]), *people_columns, *scores_columns])


def canvas_column(settings, assignment: str) -> str:
    """The header Canvas's gradebook import expects for an assignment.

    Parameters
    ----------
    settings : grading.base.settings.CourseSettings
        The course (titles and LMS ids of assignments).
    assignment : str
        The assignment's name.

    Returns
    -------
    str
        ``"<title> (<LMS id>)"``, or the title alone when the course file gives no id.
    """
    title = settings.assignment_title(assignment)
    lms_id = settings.assignment_lms_ids.get(assignment)
    return f"{title} ({lms_id})" if lms_id else title


def _write_canvas(writer, paths: CoursePaths, grades) -> None:
    from grading.base.identities import read_identities
    from grading.base.settings import course_settings

    settings = course_settings(paths)
    roster = _roster(paths)
    identities = read_identities(paths)
    assignments = [c for c in grades.columns if c != "total"]
    writer.writerow([*CANVAS_COLUMNS, *(canvas_column(settings, a) for a in assignments)])
    for student, row in grades.iterrows():
        entry = roster.get(student)
        if entry is not None:
            ids = [entry.display_name, entry.lms_id, entry.sis_user_id, entry.sis_login_id]
            ids.append(entry.section)
        else:  # not on the roster: the LMS id collect saw, if any
            ids = [student, identities.get(student, {}).get("lms_id", ""), "", "", ""]
        writer.writerow([*ids, *(format_points(row[a]) for a in assignments)])


def export_grades(
    paths: CoursePaths | None = None,
    db_url: str | None = None,
    output: Path | str | None = None,
    format: str = "plain",
) -> Path:
    """Write the grades CSV (formats and columns in the module documentation).

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    db_url : str, optional
        Gradebook URL or SQLite file; default the course's ``build/gradebook.db``.
    output : pathlib.Path or str, optional
        The CSV file; default ``build/grades.csv`` (``grades-<format>.csv`` for the other
        formats).
    format : str, optional
        One of :data:`FORMATS`.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileNotFoundError
        If the gradebook does not exist.
    grading.base.gradebook.GradebookError
        If the gradebook database cannot be reached.
    ValueError
        If the gradebook has no students, or the format is unknown.
    """
    if format not in FORMATS:
        raise BadInput(f"Unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")
    paths = paths or course_paths()
    url = existing_gradebook_url(paths, db_url)
    grades, _ = grade_table(url, paths)
    default_name = "grades.csv" if format == "plain" else f"grades-{format}.csv"
    output = Path(output) if output else paths.build / default_name
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if format == "plain":
            _write_plain(writer, grades)
        elif format == "nbgrader":
            _write_nbgrader(writer, url, paths, grades)
        else:
            _write_canvas(writer, paths, grades)
    return output


def add_arguments(parser) -> None:
    """Add ``cnnlab export`` arguments."""
    add_gradebook_option(parser)
    parser.add_argument(
        "--output", "-o", metavar="CSV", help="file to write (build/grades.csv)", default=None
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="plain",
        help="plain (student_id, one column per assignment, total), nbgrader (the columns of "
        "`nbgrader export`) or canvas (Canvas's gradebook import, ids from the roster)",
    )


def main(args) -> int:
    """Run ``cnnlab export``.

    Returns 0 on success. A missing or unreachable gradebook or an empty class (exit status
    2) is raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    output = export_grades(paths, args.db, args.output, getattr(args, "format", "plain"))
    _, max_points = grade_table(existing_gradebook_url(paths, args.db), paths)
    maxima = ", ".join(f"{name} {format_points(value)}" for name, value in max_points.items())
    print(f"wrote {output} (maximum points: {maxima})")
    _print_awaiting_manual_grading(existing_gradebook_url(paths, args.db))
    return 0


def _print_awaiting_manual_grading(db_url: str) -> None:
    """Say which points of the exported scores still wait for manual grading."""
    from grading.base.gradebook import awaiting_manual_grading, cell_scores

    awaiting = awaiting_manual_grading(cell_scores(db_url))
    if awaiting.empty:
        return
    per_assignment = awaiting.groupby("assignment").agg(
        points=("points", "sum"), submissions=("student", "count")
    )
    details = ", ".join(
        f"{row.Index} {format_points(row.points)} in {row.submissions} submission(s)"
        for row in per_assignment.itertuples()
    )
    print(
        f"{format_points(awaiting['points'].sum())} point(s) await manual grading ({details}); "
        "they count 0 in the CSV until graded (formgrader: cnnlab lab --instructor)"
    )
