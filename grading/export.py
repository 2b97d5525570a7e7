"""``cnnlab export``: the grades as one CSV file for an LMS gradebook import.

The file (default ``build/grades.csv``) is plain UTF-8 with a header row and one row per
student of the gradebook, sorted by student id:

``student_id``
    The id the submission was collected under (the LMS user name or id).
``<assignment>`` (one column per assignment, in course order, e.g. ``01_cnn_theory``)
    The points scored (after any late penalty), a plain number with at most two decimals
    (``4.5``); empty when the student submitted nothing for that assignment. Manually graded
    cells count as graded so far (0 until an instructor grades them).
``total``
    The sum over the assignments, empty ones counting 0.

Maximum points are not a column (an LMS would import them as one more student grade);
``cnnlab export`` prints them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from grading.cli import add_gradebook_option
from grading.nbgrader_driver import existing_gradebook_url
from grading.paths import CoursePaths, course_paths

__all__ = ["export_grades", "format_points", "grade_table", "submission_scores"]

SUBMISSION_COLUMNS = ["assignment", "student", "score", "max_score", "needs_manual_grade"]


def submission_scores(db_url: str) -> pd.DataFrame:
    """One row per graded submission, read from the nbgrader gradebook.

    Parameters
    ----------
    db_url : str
        Gradebook URL.

    Returns
    -------
    pandas.DataFrame
        Columns ``assignment``, ``student``, ``score`` (after late penalty, not below 0),
        ``max_score``, ``needs_manual_grade``; sorted by assignment and student.
    """
    from grading.gradebook import open_gradebook

    rows = []
    with open_gradebook(db_url) as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                penalty = submission.late_submission_penalty or 0.0
                rows.append(
                    {
                        "assignment": assignment.name,
                        "student": submission.student.id,
                        "score": max(float(submission.score) - penalty, 0.0),
                        "max_score": float(submission.max_score),
                        "needs_manual_grade": bool(submission.needs_manual_grade),
                    }
                )
    table = pd.DataFrame(rows, columns=SUBMISSION_COLUMNS)
    return table.sort_values(["assignment", "student"], ignore_index=True)


def grade_table(db_url: str) -> tuple[pd.DataFrame, pd.Series]:
    """Scores as a student x assignment table with a total.

    Parameters
    ----------
    db_url : str
        Gradebook URL.

    Returns
    -------
    grades : pandas.DataFrame
        Index ``student_id`` (every student in the gradebook), one column per assignment
        (NaN where nothing was submitted) and ``total`` (NaN counted as 0).
    max_points : pandas.Series
        Maximum points per assignment and ``total``.

    Raises
    ------
    ValueError
        If the gradebook has no students (an empty class).
    """
    from grading.gradebook import open_gradebook

    with open_gradebook(db_url) as gradebook:
        students = sorted(student.id for student in gradebook.students)
        assignments = sorted(assignment.name for assignment in gradebook.assignments)
        max_points = pd.Series(
            {a.name: float(a.max_score) for a in gradebook.assignments}, dtype=float
        ).reindex(assignments)
    if not students:
        raise ValueError(
            "The gradebook has no students (an empty class): collect and autograde "
            "submissions first (`cnnlab collect`, `cnnlab autograde`)."
        )
    scores = submission_scores(db_url)
    grades = (
        scores.pivot_table(index="student", columns="assignment", values="score", aggfunc="sum")
        .reindex(index=students, columns=assignments)
        .rename_axis(index="student_id", columns=None)
    )
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
    if pd.isna(value):
        return ""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def export_grades(
    paths: CoursePaths | None = None,
    db_url: str | None = None,
    output: Path | str | None = None,
) -> Path:
    """Write the grades CSV (columns in the module documentation).

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    db_url : str, optional
        Gradebook URL or SQLite file; default the course's ``build/gradebook.db``.
    output : pathlib.Path or str, optional
        The CSV file; default ``build/grades.csv``.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileNotFoundError
        If the gradebook does not exist.
    grading.gradebook.GradebookError
        If the gradebook database cannot be reached.
    ValueError
        If the gradebook has no students.
    """
    paths = paths or course_paths()
    grades, _ = grade_table(existing_gradebook_url(paths, db_url))
    output = Path(output) if output else paths.build / "grades.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["student_id", *grades.columns])
        for student, row in grades.iterrows():
            writer.writerow([student, *(format_points(value) for value in row)])
    return output


def add_arguments(parser) -> None:
    """Add ``cnnlab export`` arguments.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    add_gradebook_option(parser)
    parser.add_argument(
        "--output", "-o", metavar="CSV", help="file to write (build/grades.csv)", default=None
    )


def main(args) -> int:
    """Run ``cnnlab export``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        0 on success. A missing or unreachable gradebook or an empty class (exit status 2)
        is raised for :mod:`grading.cli`.
    """
    paths = course_paths()
    output = export_grades(paths, args.db, args.output)
    _, max_points = grade_table(existing_gradebook_url(paths, args.db))
    maxima = ", ".join(f"{name} {format_points(value)}" for name, value in max_points.items())
    print(f"wrote {output} (maximum points: {maxima})")
    return 0
