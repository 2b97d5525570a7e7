"""``cnnlab report``: one HTML page on how the class did and what went wrong.

``build/reports/report.html`` is self-contained (plots embedded as PNG) and holds:

- a table per assignment: submissions, mean and median score, maximum points, how many
  still need manual grading;
- the score distribution per assignment (share of the maximum, one dot per submission);
- the mean score per question (graded cell) as a share of its points;
- the grading time per submission, and which worker graded what (:func:`grading_workers`;
  on a Dask cluster, each worker's host and address);
- a table of submissions that failed (graded with a problem recorded in the grading log,
  such as a timeout or restored test cells, or not graded at all) or were quarantined by
  ``cnnlab collect``, with the reason.

Scores come from nbgrader's gradebook (:func:`grading.export.submission_scores`), cell
scores and the grading log from :mod:`grading.base.gradebook`, quarantined files from the ledger
of :mod:`grading.collect`.

Plots are drawn with seaborn on matplotlib ``Figure`` objects (Agg, no display needed).
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from grading.base.nbgrader_driver import existing_gradebook_url
from grading.collect.store import read_quarantine_ledger
from grading.errors import BadInput
from grading.export import format_points, submission_scores
from grading.options import add_report_arguments as add_arguments  # noqa: F401 (grading.cli)
from grading.paths import CoursePaths, course_paths

__all__ = [
    "ReportData",
    "grading_times",
    "grading_workers",
    "plot_grading_time",
    "plot_question_means",
    "plot_score_distribution",
    "read_report_data",
    "write_report",
]

TEMPLATE = "report.html.j2"
CELL_COLUMNS = ["assignment", "student", "notebook", "grade_id", "score", "max_score"]
TIME_COLUMNS = ["assignment", "student", "seconds", "measured", "worker"]
WORKER_COLUMNS = ["worker", "submissions", "seconds", "graded"]
PROBLEM_COLUMNS = ["student", "assignment", "what", "reason", "file"]


@dataclass
class ReportData:
    """Everything the report shows, as tables.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per graded submission (see :func:`grading.export.submission_scores`).
    cells : pandas.DataFrame
        One row per graded cell of each submission
        (see :func:`grading.base.gradebook.cell_scores`).
    times : pandas.DataFrame
        Grading seconds per submission (see :func:`grading_times`).
    problems : pandas.DataFrame
        Submissions graded with a problem (the grading log's status and reasons), not
        graded, or quarantined: student, assignment, what, reason, file.
    """

    scores: pd.DataFrame
    cells: pd.DataFrame
    times: pd.DataFrame
    problems: pd.DataFrame


def _execution_seconds(notebook: Path) -> float | None:
    """Kernel time from the first cell start to the last reply, from nbclient's timings."""
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    timings = [cell.get("metadata", {}).get("execution", {}) for cell in cells]
    starts = [t["iopub.status.busy"] for t in timings if "iopub.status.busy" in t]
    ends = [t["shell.execute_reply"] for t in timings if "shell.execute_reply" in t]
    if not starts or not ends:
        return None
    first = datetime.fromisoformat(min(starts).replace("Z", "+00:00"))
    last = datetime.fromisoformat(max(ends).replace("Z", "+00:00"))
    return max((last - first).total_seconds(), 0.0)


def grading_times(paths: CoursePaths, log: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """How long grading took, per graded submission.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    log : pandas.DataFrame
        From :func:`grading.base.gradebook.grading_log`.
    scores : pandas.DataFrame
        From :func:`grading.export.submission_scores`.

    Returns
    -------
    pandas.DataFrame
        Columns ``assignment``, ``student``, ``seconds``, ``measured``, ``worker``: the
        grader's wall-clock seconds (``measured="grader"``) and the worker that graded it
        where ``cnnlab autograde`` logged them; for a submission graded otherwise (plain
        ``nbgrader autograde``), the kernel time from the first cell's start to the last
        cell's reply in its autograded notebooks (``measured="cells"``, no worker).
    """
    logged = log.dropna(subset=["seconds"])[["assignment", "student", "seconds", "worker"]]
    workers = [worker if isinstance(worker, str) else "" for worker in logged["worker"]]
    rows = logged.assign(measured="grader", worker=workers).to_dict("records")
    known = set(zip(logged["assignment"], logged["student"], strict=True))
    for assignment, student in zip(scores["assignment"], scores["student"], strict=True):
        if (assignment, student) in known:
            continue
        folder = paths.autograded / student / assignment
        seconds = [_execution_seconds(nb) for nb in sorted(folder.glob("*.ipynb"))]
        seconds = [value for value in seconds if value is not None]
        if seconds:
            rows.append(
                {
                    "assignment": assignment,
                    "student": student,
                    "seconds": sum(seconds),
                    "measured": "cells",
                    "worker": "",
                }
            )
    return pd.DataFrame(rows, columns=TIME_COLUMNS)


def grading_workers(times: pd.DataFrame) -> pd.DataFrame:
    """Which worker graded what, and how long it took.

    Parameters
    ----------
    times : pandas.DataFrame
        From :func:`grading_times`.

    Returns
    -------
    pandas.DataFrame
        Columns ``worker`` (as the grading log names it: ``host:pid``, or a Dask worker's
        host and address), ``submissions``, ``seconds`` (their sum) and ``graded``
        (``"assignment/student (N s)"``, joined with ``"; "``), one row per worker, most
        submissions first; submissions without a logged worker are left out.
    """
    known = times[times["worker"].fillna("") != ""]
    rows = [
        {
            "worker": worker,
            "submissions": len(group),
            "seconds": float(group["seconds"].sum()),
            "graded": "; ".join(
                f"{row.assignment}/{row.student} ({row.seconds:.0f} s)"
                for row in group.sort_values(["assignment", "student"]).itertuples()
            ),
        }
        for worker, group in known.groupby("worker", sort=True)
    ]
    frame = pd.DataFrame(rows, columns=WORKER_COLUMNS)
    return frame.sort_values("submissions", ascending=False, kind="stable").reset_index(drop=True)


def _problems(paths: CoursePaths, scores: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """Submissions graded with a problem, not graded, and quarantined files."""
    graded = set(zip(scores["student"], scores["assignment"], strict=True))
    logged = set(zip(log["student"], log["assignment"], strict=True))
    rows = [
        {
            "student": row.student,
            "assignment": row.assignment,
            "what": row.status,
            "reason": row.reasons or row.status,
            "file": f"submitted/{row.student}/{row.assignment}",
        }
        for row in log.itertuples()
        if row.status != "ok"
    ]
    for folder in sorted(paths.submitted.glob("*/*")) if paths.submitted.is_dir() else []:
        key = (folder.parent.name, folder.name)
        if folder.is_dir() and key not in graded and key not in logged:
            rows.append(
                {
                    "student": folder.parent.name,
                    "assignment": folder.name,
                    "what": "not graded",
                    "reason": "collected but not in the gradebook: autograding failed or has "
                    "not run (see the cnnlab autograde output)",
                    "file": str(folder.relative_to(paths.build)),
                }
            )
    for entry in read_quarantine_ledger(paths):
        later = (entry["student"], entry.get("assignment")) in graded
        rows.append(
            {
                "student": entry["student"],
                "assignment": entry.get("assignment") or "?",
                "what": "quarantined" + (" (a later submission was graded)" if later else ""),
                "reason": entry["reason"],
                "file": entry["file"],
            }
        )
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def read_report_data(paths: CoursePaths, db_url: str) -> ReportData:
    """Read everything the report shows.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    db_url : str
        Gradebook URL (it must exist).

    Returns
    -------
    ReportData
        Scores, cell scores, grading times and problems.
    """
    from grading.base.gradebook import cell_scores, grading_log

    scores = submission_scores(db_url, paths)  # the course's late policy applies
    log = grading_log(db_url, paths)
    return ReportData(
        scores=scores,
        cells=cell_scores(db_url, paths),
        times=grading_times(paths, log, scores),
        problems=_problems(paths, scores, log),
    )


def _new_figure(height: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, height), layout="constrained")
    return figure, figure.subplots()


def plot_score_distribution(scores: pd.DataFrame):
    """Score distribution per assignment, as a share of the maximum.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`grading.export.submission_scores`.

    Returns
    -------
    matplotlib.figure.Figure
        A box per assignment with one dot per submission.
    """
    import seaborn as sns

    data = scores.assign(percent=100 * scores["score"] / scores["max_score"].where(lambda s: s > 0))
    figure, axes = _new_figure(max(2.5, 0.6 * data["assignment"].nunique() + 1.5))
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.10+ a deprecated `vert`
        warnings.filterwarnings("ignore", message="vert: bool", category=DeprecationWarning)
        sns.boxplot(data=data, x="percent", y="assignment", color="#d9e6f2", fliersize=0, ax=axes)
    sns.stripplot(data=data, x="percent", y="assignment", color="#1f4e79", size=6, ax=axes)
    axes.set(xlim=(-5, 105), xlabel="score (% of maximum)", ylabel="")
    return figure


def plot_question_means(cells: pd.DataFrame):
    """Mean score per question (graded cell) as a share of its points.

    Answers that await manual grading are left out of the mean and marked: a question with
    such answers says how many, and one whose answers all wait has no bar but a hatched
    frame labelled "awaits manual grading", so it does not look like a question everyone
    failed.

    Parameters
    ----------
    cells : pandas.DataFrame
        From :func:`grading.base.gradebook.cell_scores`.

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal bar per question, ``assignment / grade_id``.
    """
    import seaborn as sns

    graded = ~cells["needs_manual_grade"]
    means = (
        cells.assign(
            question=cells["assignment"] + " / " + cells["grade_id"],
            graded_score=cells["score"].where(graded),
            graded_max=cells["max_score"].where(graded, 0.0),
            awaiting=~graded,
        )
        .groupby(["assignment", "question"], sort=True)
        .agg(
            score=("graded_score", "sum"),
            max_score=("graded_max", "sum"),
            awaiting=("awaiting", "sum"),
        )
        .reset_index()
    )
    means["percent"] = 100 * means["score"] / means["max_score"].where(means["max_score"] > 0)
    figure, axes = _new_figure(max(2.5, 0.35 * len(means) + 1.2))
    sns.barplot(data=means, x="percent", y="question", hue="assignment", ax=axes, legend=False)
    for position, row in means.iterrows():
        if row["awaiting"] and pd.isna(row["percent"]):
            axes.barh(position, 100, height=0.8, fill=False, hatch="//", edgecolor="#999999")
            axes.text(50, position, "awaits manual grading", ha="center", va="center")
        elif row["awaiting"]:
            label = f" {row['awaiting']} await manual grading"
            axes.text(row["percent"], position, label, va="center", color="#555555")
    axes.set(xlim=(0, 100), xlabel="mean score (% of the question's points)", ylabel="")
    return figure


def plot_grading_time(times: pd.DataFrame):
    """Grading time per submission.

    Parameters
    ----------
    times : pandas.DataFrame
        From :func:`grading_times`.

    Returns
    -------
    matplotlib.figure.Figure
        One dot per submission, per assignment.
    """
    import seaborn as sns

    figure, axes = _new_figure(max(2.5, 0.6 * times["assignment"].nunique() + 1.5))
    sns.stripplot(data=times, x="seconds", y="assignment", color="#1f4e79", size=6, ax=axes)
    axes.set(xlabel="grading time per submission (s)", ylabel="")
    axes.set_xlim(left=0)
    return figure


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _summary(scores: pd.DataFrame, cells: pd.DataFrame) -> list[dict]:
    from grading.base.gradebook import awaiting_manual_grading

    awaiting = awaiting_manual_grading(cells).groupby("assignment")["points"].sum()
    rows = []
    for assignment, group in scores.groupby("assignment", sort=True):
        rows.append(
            {
                "assignment": assignment,
                "submissions": len(group),
                "mean": format_points(group["score"].mean()),
                "median": format_points(group["score"].median()),
                "max_score": format_points(group["max_score"].max()),
                "manual": int(group["needs_manual_grade"].sum()),
                "awaiting_points": format_points(awaiting.get(assignment, 0.0)),
            }
        )
    return rows


def write_report(paths: CoursePaths | None = None, db_url: str | None = None) -> Path:
    """Write ``build/reports/report.html``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    db_url : str, optional
        Gradebook URL; default the course's ``build/gradebook.db``.

    Returns
    -------
    pathlib.Path
        The report.

    Raises
    ------
    FileNotFoundError
        If the gradebook does not exist.
    grading.base.gradebook.GradebookError
        If the gradebook database cannot be reached.
    ValueError
        If there is nothing to report: no graded, failed or quarantined submission.
    """
    import jinja2

    paths = paths or course_paths()
    url = existing_gradebook_url(paths, db_url)
    data = read_report_data(paths, url)
    if data.scores.empty and data.problems.empty:
        raise BadInput(
            "Nothing to report: no submission has been graded, failed or been quarantined "
            "(an empty class). Run `cnnlab collect` and `cnnlab autograde` first."
        )
    plots = [
        (
            "score-distribution",
            "Score distribution per assignment",
            data.scores,
            plot_score_distribution,
            "Each dot is one submission; the box spans the middle half.",
        ),
        (
            "question-means",
            "Mean score per question",
            data.cells,
            plot_question_means,
            "Points scored on each graded cell, as a share of its points, over all submissions.",
        ),
        (
            "grading-time",
            "Time per submission",
            data.times,
            plot_grading_time,
            "Wall-clock seconds cnnlab autograde spent on each submission (for submissions "
            "graded by plain nbgrader: seconds from the first cell's start to the last "
            "cell's end).",
        ),
    ]
    rendered = []
    for plot_id, title, table, draw, caption in plots:
        if table.empty:
            rendered.append({"id": plot_id, "title": title, "png": None, "caption": "No data."})
        else:
            rendered.append(
                {"id": plot_id, "title": title, "png": _png(draw(table)), "caption": caption}
            )
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
    )
    from grading.base.late import late_rows
    from grading.base.settings import course_settings

    settings = course_settings(paths)
    html = environment.get_template(TEMPLATE).render(
        title=settings.title,
        late=late_rows(data.scores, settings),
        late_policy=settings.late.describe(),
        root=paths.root,
        gradebook=url.split("@")[-1] if "@" in url else url,
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary=_summary(data.scores, data.cells),
        plots=rendered,
        workers=grading_workers(data.times).to_dict("records"),
        problems=data.problems.to_dict("records"),
    )
    output = paths.reports / "report.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return output


def main(args) -> int:
    """Run ``cnnlab report``.

    Returns 0 on success. A missing or unreachable gradebook or an empty class (exit status
    2) is raised for :mod:`grading.cli`.
    """
    output = write_report(course_paths(), args.db)
    print(f"wrote {output}")
    return 0
