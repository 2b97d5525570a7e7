"""``cnnlab collect``: bring student submissions into ``build/submitted/``, losing nothing.

A submission source is a folder or a ``.zip`` file. Inside it, each file is recognised by
its path (wrapper folders above the ones named here are ignored):

``<student>/<assignment>/<notebook>.ipynb``
    nbgrader's own layout (``alice/02_mnist/mnist_cnn.ipynb``, ``bitdiddle/ps1/ps1.ipynb``),
    recognised first, for any assignment name of the course. A ``timestamp.txt`` next to
    the notebook gives the submission time; other files there (``figure.png``,
    ``data/points.csv``) are kept with the submission.
``<student>_<anything>_<notebook>.ipynb`` or ``<student>_<notebook>.ipynb``
    LMS downloads with one file per student: Canvas
    (``smithjane_12345_67890_mnist_cnn.ipynb``, also ``_LATE_`` and the ``-1`` suffix of a
    resubmission) and generic exports. The student name is the text before the first
    ``_``; the first number after it (after ``LATE``) is the LMS's id of the student. A file
    named after one of the assignment's other files (``smithjane_12345_67890_figure.png``) is
    kept with the submission.
``<student>_<anything>/<notebook>.ipynb`` or ``<student>/<notebook>.ipynb``
    LMS downloads with a folder per student: Moodle
    (``Jane Doe_123456_assignsubmission_file_/mnist_cnn.ipynb``).

``<notebook>`` must be the file name of a released notebook (``build/release``; the sources
when nothing is released yet); it tells the assignment. With a roster
(:mod:`grading.base.roster`), the LMS name and id are matched to a roster student id, and the
students who are not on it are listed. Otherwise student ids keep letters, digits, ``.``,
``@``, ``-`` and ``_``; other characters become ``-`` (``Jane Doe`` -> ``Jane-Doe``). The
LMS id stays with the student id (``build/identities.json``); every collected submission is
logged with its LMS name, id and Canvas's ``_LATE_`` mark in ``build/collected.jsonl``.

Each recognised notebook goes to ``build/submitted/<student>/<assignment>/<notebook>.ipynb``
with ``timestamp.txt`` (UTC): the explicit ``timestamp`` if given, else the ``timestamp.txt``
of an nbgrader layout (both read as ``nbgrader.utils.parse_utc`` reads them:
``2015-02-02 14:58:23.948203 America/Los_Angeles``, ``2025-03-01 12:00:00 UTC``, ISO 8601),
else the zip entry's time (read as UTC) or the file's modification time. A newer
submission replaces the collected one, which moves to
``build/submitted_history/<student>/<assignment>/<its timestamp>/``; an older one is kept in
that history and does not replace the newer; an identical one is skipped.

A file that is empty, not JSON, not a valid notebook (nbformat validation), or misnamed
(unknown assignment or notebook name) is quarantined, and so is anything ambiguous, which is
never merged: two different students (different LMS ids or names) for one student id, in
this source or against an earlier collect; names starting with ``.`` (``..``) or holding
bidirectional or control characters; ``..`` in a zip path; symbolic links (never followed);
a file of an assignment without its notebook. Quarantined means copied to
``build/quarantine/<student>/<assignment>/`` with a ``.reason.txt`` next to it and a line
in the ledger ``build/quarantine/quarantine.jsonl`` (which ``cnnlab report`` reads). It is
never dropped and never stops the others. System files (``__MACOSX``, ``.DS_Store``,
checkpoints) are skipped and listed.

The package: :mod:`grading.collect.locate` names the student, assignment and notebook of
each path, :mod:`grading.collect.store` writes into ``build/submitted/``, its history and
the quarantine, and :mod:`grading.collect.outcomes` holds the report and the timestamps.
This module reads a source and runs the command.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from grading.base.identify import wrong_assignment
from grading.base.identities import conflicting_students, read_identities, record_identities
from grading.base.sources import is_system_file, read_source
from grading.collect.locate import (
    UNKNOWN_STUDENT,
    Catalogue,
    Target,
    notebook_problem,
    with_folder_files,
)
from grading.collect.outcomes import CollectReport, SkippedFile, as_utc, parse_timestamp
from grading.collect.store import Collector, Submission
from grading.errors import BadInput
from grading.paths import CoursePaths, course_paths

__all__ = ["add_arguments", "collect_from_exchange", "collect_submissions", "main"]


def _explicit_time(timestamp: datetime | str | None) -> datetime | None:
    if timestamp is None:
        return None
    try:
        return (
            as_utc(timestamp)
            if isinstance(timestamp, datetime)
            else parse_timestamp(str(timestamp))
        )
    except (ValueError, OverflowError) as error:
        raise BadInput(
            f"timestamp {timestamp!r} is not a time; use ISO 8601 (2025-03-01T12:00:00Z) or "
            "nbgrader's format (2025-03-01 12:00:00 UTC)"
        ) from error


def collect_submissions(
    source: Path | str,
    paths: CoursePaths | None = None,
    timestamp: datetime | str | None = None,
) -> CollectReport:
    """Collect submissions from a folder or an LMS zip into ``build/submitted/``.

    Parameters
    ----------
    source : pathlib.Path or str
        A folder or a ``.zip`` file (layouts in the module documentation).
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    timestamp : datetime.datetime or str, optional
        Submission time for every file (ISO 8601 or nbgrader's format, as
        ``nbgrader.utils.parse_utc`` reads it; naive means UTC); default each file's own.

    Returns
    -------
    CollectReport
        Per file: collected, kept with a submission, quarantined (with the reason) or
        skipped (with the reason); students not on the roster.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist, or the course has no assignments.
    ValueError
        If ``source`` holds no files, is neither a folder nor a zip, or ``timestamp`` is
        not a time.
    """
    from grading.base.roster import read_roster

    paths = paths or course_paths()
    source = Path(source).expanduser()
    entries = read_source(source)
    explicit = _explicit_time(timestamp)
    roster = read_roster(paths)
    catalogue = Catalogue(paths, roster)
    report = CollectReport(source=source)
    for folder in (paths.submitted, paths.quarantine):
        folder.mkdir(parents=True, exist_ok=True)
    collector = Collector(paths, report)

    located = []
    for entry in entries:
        if entry.problem:
            student = UNKNOWN_STUDENT
            collector.quarantine(entry, Target(student), *entry.problem)
        elif is_system_file(entry.parts):
            report.skipped.append(SkippedFile(None, None, entry.label, "system file"))
        else:
            located.append((entry, catalogue.locate(entry.parts)))
    located = with_folder_files(located)
    recorded = read_identities(paths)
    claims = [
        (target.student, target.identity)
        for _entry, target in located
        if target.identity is not None and target.code is None and target.assignment
    ]
    conflicts = conflicting_students(claims, recorded)
    stamps = {}  # (student, assignment) -> time from an nbgrader timestamp.txt
    for entry, target in located:
        if target.timestamp_file and target.code is None:
            try:
                stamps[(target.student, target.assignment)] = parse_timestamp(
                    entry.data.decode("utf-8", "replace")
                )
            except (ValueError, OverflowError):
                report.skipped.append(
                    SkippedFile(
                        target.student,
                        target.assignment,
                        entry.label,
                        "unreadable timestamp.txt; using the file's time instead",
                    )
                )

    groups: dict[tuple[str, str, datetime], Submission] = {}
    extras = []
    for entry, target in located:
        if target.code == "skip":
            report.skipped.append(SkippedFile(None, None, entry.label, target.reason))
        elif target.code:
            collector.quarantine(entry, target, target.code, target.reason)
        elif target.student in conflicts:
            collector.quarantine(entry, target, "ambiguous_student", conflicts[target.student])
        elif target.timestamp_file:
            continue
        elif target.extra is not None:
            extras.append((entry, target))
        elif problem := notebook_problem(entry.data):
            collector.quarantine(entry, target, *problem)
        elif other := wrong_assignment(paths, target.assignment, target.notebook, entry.data):
            collector.quarantine(entry, target, "wrong_assignment", other)
        else:
            moment = explicit or stamps.get((target.student, target.assignment)) or entry.modified
            key = (target.student, target.assignment, moment)
            groups.setdefault(key, Submission(target.student, target.assignment, moment))
            groups[key].notebooks.append((entry, target))
    for entry, target in extras:
        latest = max(
            (g for k, g in groups.items() if k[:2] == (target.student, target.assignment)),
            key=lambda group: group.timestamp,
            default=None,
        )
        if latest is None:
            collector.quarantine(
                entry,
                target,
                "no_notebook",
                f"a file of {target.assignment} ({target.extra}) without the assignment's "
                "notebook in this source; collect it together with the notebook",
            )
        else:
            latest.extras.append((entry, target))
    for submission in sorted(groups.values(), key=lambda group: group.timestamp):
        collector.offer(submission)
    record_identities(paths, claims, conflicts, recorded)
    if roster:
        report.unknown_students = sorted(
            {
                item.student
                for item in (*report.collected, *report.skipped)
                if item.student and item.assignment and roster.get(item.student) is None
            }
        )
    return report


def collect_from_exchange(
    exchange_dir: Path | str,
    paths: CoursePaths | None = None,
    assignments: list[str] | None = None,
    db_url: str | None = None,
) -> CollectReport:
    """Collect submissions from nbgrader's exchange (JupyterHub) into ``build/submitted/``.

    nbgrader's own ``collect`` takes each student's latest submission of each assignment
    from ``<exchange>/<course id>/inbound/`` into a temporary folder (nbgrader's layout,
    with ``timestamp.txt``); :func:`collect_submissions` then brings them in like any other
    source: checked, quarantined if broken, and replacing an older collected one.

    Parameters
    ----------
    exchange_dir : pathlib.Path or str
        nbgrader's exchange directory (``Exchange.root``).
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.
    assignments : list of str, optional
        Which assignments; default all of the course's.
    db_url : str, optional
        The gradebook (nbgrader reads due dates from it); default the course's.

    Returns
    -------
    CollectReport
        What was collected; empty (source: the exchange) when nobody submitted.

    Raises
    ------
    grading.errors.NbgraderError
        If nbgrader's exchange refuses (no such course in the exchange, no permission).
    """
    import tempfile

    from nbgrader.exchange.default import ExchangeCollect

    from grading.release import exchange_transfer

    paths = paths or course_paths()
    names = assignments or paths.assignments()
    with tempfile.TemporaryDirectory(prefix="exchange-collect-") as staging:
        staged = CoursePaths(root=paths.root, build=Path(staging))
        for name in names:
            exchange_transfer(
                ExchangeCollect,
                staged,
                name,
                exchange_dir,
                db_url=db_url or paths.gradebook_url,
                update=True,
            )
        if not staged.submitted.is_dir() or not any(staged.submitted.iterdir()):
            return CollectReport(source=Path(exchange_dir))
        report = collect_submissions(staged.submitted, paths)
    report.source = Path(exchange_dir)
    return report


def add_arguments(parser) -> None:
    """Add ``cnnlab collect`` arguments."""
    parser.add_argument(
        "source", metavar="SOURCE", nargs="?", help="a submissions folder or an LMS zip"
    )
    from grading.base.kit_settings import add_exchange_option

    add_exchange_option(parser, "instead of SOURCE, collect")
    parser.add_argument(
        "--timestamp",
        metavar="ISO",
        help="submission time for every file: 2025-03-01T12:00:00Z or nbgrader's "
        "'2025-03-01 12:00:00 UTC' (default: timestamp.txt, else file times)",
    )


def main(args) -> int:
    """Run ``cnnlab collect``.

    Returns 0 when the source was read (quarantined files are reported, not failures). A bad
    source or course (exit status 2) is raised for :mod:`grading.cli`.
    """
    if getattr(args, "exchange", None) is not None:
        from grading.base.kit_settings import configured_exchange_dir

        paths = course_paths()
        exchange = configured_exchange_dir(paths, args.exchange)
        print(collect_from_exchange(exchange, paths).summary())
        return 0
    if not args.source:
        raise BadInput("Give a SOURCE (a submissions folder or an LMS zip) or --exchange.")
    report = collect_submissions(args.source, course_paths(), args.timestamp)
    print(report.summary())
    return 0
