"""What ``cnnlab collect`` did with each file, and the times it reads and writes.

:class:`CollectReport` lists every file of a source as collected, kept with a submission,
quarantined or skipped; times are read as nbgrader reads them and written as nbgrader's
``timestamp.txt`` (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "TIMESTAMP_FILE",
    "CollectReport",
    "CollectedFile",
    "KeptFile",
    "QuarantinedFile",
    "SkippedFile",
    "as_utc",
    "format_timestamp",
    "parse_timestamp",
]

TIMESTAMP_FILE = "timestamp.txt"
#: nbgrader's timestamp format (``timestamp.txt``), always UTC here
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"


@dataclass(frozen=True)
class CollectedFile:
    """A notebook now in ``build/submitted/``.

    Attributes
    ----------
    student, assignment, notebook : str
        Who, which assignment, which notebook (file name without ``.ipynb``).
    path : pathlib.Path
        ``build/submitted/<student>/<assignment>/<notebook>.ipynb``.
    timestamp : datetime.datetime
        The submission time (UTC).
    source : str
        The file or zip entry it came from.
    replaced : pathlib.Path or None
        Where the older submission it replaced now lies (in the history), if any.
    lms_id : str
        The LMS's id of the student in the source (Canvas user id, Moodle participant id);
        empty when the source gives none.
    lms_late : bool
        Whether the LMS marked the file late (Canvas ``_LATE_``); information only, the
        late penalty comes from the due date (:mod:`grading.base.late`).
    extra_files : tuple of str
        The assignment's other files kept with the submission (images, data).
    """

    student: str
    assignment: str
    notebook: str
    path: Path
    timestamp: datetime
    source: str
    replaced: Path | None = None
    lms_id: str = ""
    lms_late: bool = False
    extra_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeptFile:
    """A file that is not a notebook, kept with the submission it belongs to.

    Attributes
    ----------
    student, assignment : str
        Whose and which.
    path : pathlib.Path
        ``build/submitted/<student>/<assignment>/<file>``.
    source : str
        The file or zip entry it came from.
    """

    student: str
    assignment: str
    path: Path
    source: str


@dataclass(frozen=True)
class QuarantinedFile:
    """A file kept aside because it cannot be graded.

    Attributes
    ----------
    student : str
        The student, as far as the name tells (``_unknown_student`` otherwise).
    assignment : str or None
        The assignment, as far as the name tells.
    source : str
        The file or zip entry it came from.
    path : pathlib.Path
        Its copy under ``build/quarantine/``.
    code : str
        ``empty``, ``not_json``, ``not_notebook``, ``unknown_assignment``,
        ``unknown_notebook``, ``ambiguous_notebook``, ``unrecognised_name``,
        ``unsafe_student`` (a name starting with ``.``, with bidirectional or control
        characters), ``ambiguous_student`` (two sources for one student id), ``symlink``,
        ``unsafe_path`` (``..`` in a zip path) or ``no_notebook`` (a file of an assignment
        without its notebook) or ``wrong_assignment`` (its cells are another notebook's:
        :func:`grading.base.identify.wrong_assignment`).
    reason : str
        What is wrong and what to do, in words.
    """

    student: str
    assignment: str | None
    source: str
    path: Path
    code: str
    reason: str


@dataclass(frozen=True)
class SkippedFile:
    """A file not collected, with nothing lost.

    Attributes
    ----------
    student : str or None
        The student, if known.
    assignment : str or None
        The assignment, if known.
    source : str
        The file or zip entry.
    reason : str
        Why (identical to the collected submission, older and kept in the history, a
        system file).
    """

    student: str | None
    assignment: str | None
    source: str
    reason: str


@dataclass
class CollectReport:
    """What one ``collect`` did, file by file.

    Attributes
    ----------
    source : pathlib.Path
        The folder or zip collected from.
    collected : list of CollectedFile
    kept : list of KeptFile
        Other files of the assignment kept with their submission.
    quarantined : list of QuarantinedFile
    skipped : list of SkippedFile
    unknown_students : list of str
        Students with submissions (collected, or identical to the collected one) who are not
        on the course's roster (empty without a roster).
    """

    source: Path
    collected: list[CollectedFile] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    kept: list[KeptFile] = field(default_factory=list)
    unknown_students: list[str] = field(default_factory=list)

    def students(self) -> list[str]:
        """Every student the source mentions, sorted.

        Returns
        -------
        list of str
            Student ids of collected, quarantined and skipped files.
        """
        names = {
            item.student for item in (*self.collected, *self.kept, *self.quarantined, *self.skipped)
        }
        return sorted(name for name in names if name)

    def __str__(self) -> str:
        kept = f", {len(self.kept)} other file(s) kept with them" if self.kept else ""
        return (
            f"{len(self.collected)} collected{kept}, {len(self.quarantined)} quarantined, "
            f"{len(self.skipped)} skipped from {self.source}"
        )

    def summary(self) -> str:
        """The report as text, per student.

        Returns
        -------
        str
            One block per student, then the totals.
        """
        lines = []
        for student in self.students():
            lines.append(f"{student}:")
            for item in self.collected:
                if item.student == student:
                    note = f"; older one kept in {item.replaced}" if item.replaced else ""
                    note += f"; LMS id {item.lms_id}" if item.lms_id else ""
                    note += "; the LMS marked it late" if item.lms_late else ""
                    lines.append(
                        f"  collected   {item.assignment}/{item.notebook}.ipynb "
                        f"({format_timestamp(item.timestamp)}){note}"
                    )
            for item in self.kept:
                if item.student == student:
                    lines.append(
                        f"  kept        {item.assignment}/{item.path.name} ({item.source})"
                    )
            for item in self.quarantined:
                if item.student == student:
                    lines.append(f"  QUARANTINED {item.source}: {item.reason} -> {item.path}")
            for item in self.skipped:
                if item.student == student:
                    lines.append(f"  skipped     {item.source}: {item.reason}")
        for item in self.skipped:
            if not item.student:
                lines.append(f"skipped {item.source}: {item.reason}")
        if self.unknown_students:
            lines.append(
                f"not on the roster ({len(self.unknown_students)}): "
                f"{', '.join(self.unknown_students)}; add them with `cnnlab roster import` "
                "if they belong to the course"
            )
        lines.append(str(self))
        return "\n".join(lines)


# ----------------------------------------------------------------------------- timestamps


def format_timestamp(moment: datetime) -> str:
    """Format a time as nbgrader's ``timestamp.txt`` does, in UTC.

    Parameters
    ----------
    moment : datetime.datetime
        A time; a naive one is taken as UTC.

    Returns
    -------
    str
        E.g. ``"2025-03-01 12:00:00.000000 UTC"``.
    """
    return as_utc(moment).strftime(TIMESTAMP_FORMAT)


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC.

    Parameters
    ----------
    moment : datetime.datetime
        A time; a naive one is taken as UTC.

    Returns
    -------
    datetime.datetime
        The time, aware, in UTC.
    """
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Read a time as nbgrader reads it (``nbgrader.utils.parse_utc``).

    Parameters
    ----------
    text : str
        ``2015-02-02 14:58:23.948203 America/Los_Angeles``, ISO 8601, ...; naive means UTC.

    Returns
    -------
    datetime.datetime
        The time.

    Raises
    ------
    ValueError
        If the text is not a time.
    """
    from grading.base.settings import parse_time

    return parse_time(text.strip(), "UTC")
