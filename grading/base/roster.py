"""The class roster: who is enrolled, under which ids, in the course and in the LMS.

::

    cnnlab roster import FILE.csv

reads a CSV and writes the course's roster (``roster.csv`` at the course root, or the file
``[course] roster`` of ``cnnlab.toml`` names) with the columns :data:`ROSTER_COLUMNS`. It
accepts:

- nbgrader's student columns (``nbgrader db student import``): ``id``, ``first_name``,
  ``last_name``, ``email``, plus any LMS ids: ``lms_id`` (the Canvas user ``ID``, the
  Moodle participant id), ``sis_user_id``, ``sis_login_id``, ``section``;
- Canvas's gradebook export (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section``): the id is the SIS login id (else the SIS user id, else the Canvas id), the
  name is split at the comma of ``Student`` ("Doe, Jane"); the "Points Possible" row is
  skipped.

When the course has a gradebook, the students are added to it too (as ``nbgrader db student
import`` does), so nbgrader's own commands see them.

``cnnlab collect`` matches LMS names and ids against the roster (:meth:`Roster.match`), and
``cnnlab export`` lists every roster student.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from grading.errors import BadInput
from grading.paths import CoursePaths, course_paths

__all__ = [
    "ROSTER_COLUMNS",
    "Roster",
    "RosterStudent",
    "import_roster",
    "read_roster",
]

#: The columns of the course's roster file.
ROSTER_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "lms_id",
    "sis_user_id",
    "sis_login_id",
    "section",
)
_ALIASES = {
    "student_id": "id",
    "username": "id",
    "first": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "last": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "email_address": "email",
    "lms_user_id": "lms_id",
    "canvas_id": "lms_id",
    "moodle_id": "lms_id",
    "user_id": "lms_id",
    "sis_id": "sis_user_id",
    "login_id": "sis_login_id",
    "sections": "section",
}


@dataclass(frozen=True)
class RosterStudent:
    """One enrolled student.

    Attributes
    ----------
    id : str
        The id the course grades under (nbgrader's student id).
    first_name, last_name, email : str
        As the roster gives them (may be empty).
    lms_id, sis_user_id, sis_login_id, section : str
        The LMS's ids (Canvas ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``).
    """

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    @property
    def display_name(self) -> str:
        """``"Last, First"`` as Canvas shows it (the id when there is no name)."""
        if self.last_name or self.first_name:
            return ", ".join(part for part in (self.last_name, self.first_name) if part)
        return self.id


def _key(text: str) -> str:
    """A name as LMS file names write it: lower case letters and digits only."""
    return re.sub(r"[\W_]+", "", text.casefold())


@dataclass(frozen=True)
class Roster:
    """The enrolled students, with the ways an LMS may name them.

    Attributes
    ----------
    students : tuple of RosterStudent
        In roster order.
    file : pathlib.Path or None
        Where it was read from.
    """

    students: tuple[RosterStudent, ...] = ()
    file: Path | None = None

    def __bool__(self) -> bool:
        return bool(self.students)

    def ids(self) -> list[str]:
        """Every student id, in roster order.

        Returns
        -------
        list of str
            The ids.
        """
        return [student.id for student in self.students]

    def get(self, student_id: str) -> RosterStudent | None:
        """The roster entry of a student id.

        Parameters
        ----------
        student_id : str
            A course student id.

        Returns
        -------
        RosterStudent or None
            ``None`` when the student is not on the roster.
        """
        return next((s for s in self.students if s.id == student_id), None)

    def match(self, name: str, lms_id: str | None = None) -> str | None:
        """The roster student an LMS name and id stand for.

        Parameters
        ----------
        name : str
            The name in the LMS download (Canvas ``smithjane``, Moodle ``Jane Smith``, an
            nbgrader folder ``jsmith``).
        lms_id : str, optional
            The LMS's numeric id in the download (Canvas user id, Moodle participant id).

        Returns
        -------
        str or None
            The student's course id: the one whose ``lms_id`` is ``lms_id``; else the one
            student whose id, SIS login, e-mail name, "firstlast" or "lastfirst" is
            ``name`` (letters and digits compared, case ignored); ``None`` when no student
            or several match.
        """
        if lms_id:
            by_id = [s for s in self.students if s.lms_id and s.lms_id == lms_id]
            if len(by_id) == 1:
                return by_id[0].id
            if by_id:
                return None
        exact = [s for s in self.students if s.id == name]
        if len(exact) == 1:
            return exact[0].id
        wanted = _key(name)
        if not wanted:
            return None
        found = [
            s
            for s in self.students
            if wanted
            in {
                _key(s.id),
                _key(s.sis_login_id),
                _key(s.email.split("@")[0]),
                _key(s.first_name + s.last_name),
                _key(s.last_name + s.first_name),
            }
            - {""}
        ]
        if len(found) == 1 and not (lms_id and found[0].lms_id and found[0].lms_id != lms_id):
            return found[0].id
        return None


def _normalise_header(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return _ALIASES.get(key, key)


def _rows(file: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BadInput(f"{file} cannot be read as a UTF-8 CSV file ({error}).") from error
    return header, rows


def _from_canvas(file: Path, rows: list[dict[str, str]]) -> list[RosterStudent]:
    students = []
    for number, row in enumerate(rows, start=2):
        name = row.get("Student", "")
        if "points possible" in name.casefold() or not (name or row.get("ID")):
            continue
        last, _, first = name.partition(",")
        ident = row.get("SIS Login ID") or row.get("SIS User ID") or row.get("ID")
        if not ident:
            raise BadInput(f"{file}, line {number}: {name!r} has no ID, SIS User ID or login")
        students.append(
            RosterStudent(
                id=ident,
                first_name=first.strip(),
                last_name=last.strip(),
                lms_id=row.get("ID", ""),
                sis_user_id=row.get("SIS User ID", ""),
                sis_login_id=row.get("SIS Login ID", ""),
                section=row.get("Section", ""),
            )
        )
    return students


def _from_columns(file: Path, header: list[str], rows: list[dict[str, str]]):
    columns = {name: _normalise_header(name) for name in header}
    if "id" not in columns.values():
        raise BadInput(
            f"{file} has no 'id' column (columns: {', '.join(header) or 'none'}); give "
            f"nbgrader's student columns ({', '.join(ROSTER_COLUMNS)}) or a Canvas "
            "gradebook export (Student, ID, SIS User ID, SIS Login ID, Section)."
        )
    students = []
    for number, row in enumerate(rows, start=2):
        values = {columns[k]: v for k, v in row.items() if columns.get(k) in ROSTER_COLUMNS}
        if not any(values.values()):
            continue
        if not values.get("id"):
            raise BadInput(f"{file}, line {number}: the id is empty; every student needs one")
        students.append(RosterStudent(**values))
    return students


def _check_unique(file: Path, students: list[RosterStudent]) -> None:
    from grading.base.identities import student_name_problem

    for field_name in ("id", "lms_id"):
        seen: dict[str, int] = {}
        for student in students:
            value = getattr(student, field_name)
            if value and value in seen:
                raise BadInput(f"{file}: {field_name} {value!r} appears twice; ids must be unique")
            seen[value] = 1
    for student in students:
        problem = student_name_problem(student.id)
        if problem:
            raise BadInput(f"{file}: student id {student.id!r} has {problem}; change it")


def parse_roster_csv(file: Path | str) -> list[RosterStudent]:
    """Read the students of a roster CSV (nbgrader's columns or a Canvas export).

    Parameters
    ----------
    file : pathlib.Path or str
        The CSV file.

    Returns
    -------
    list of RosterStudent
        In file order.

    Raises
    ------
    ValueError
        If the file cannot be read, has no id column, an empty or repeated id, or an id
        that cannot be a folder name; the message names the file and line.
    """
    file = Path(file)
    header, rows = _rows(file)
    if {"Student", "ID"} <= set(header):
        students = _from_canvas(file, rows)
    else:
        students = _from_columns(file, header, rows)
    _check_unique(file, students)
    return students


def read_roster(paths: CoursePaths | None = None) -> Roster:
    """The course's roster (empty when the course has none).

    Parameters
    ----------
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.

    Returns
    -------
    Roster
        The students of ``roster.csv`` (or the course file's roster).

    Raises
    ------
    ValueError
        If the roster file is damaged.
    """
    from grading.base.settings import course_settings

    paths = paths or course_paths()
    file = course_settings(paths).roster_file
    if not file.is_file():
        return Roster()
    return Roster(tuple(parse_roster_csv(file)), file)


def import_roster(source: Path | str, paths: CoursePaths | None = None) -> Roster:
    """Write the course's roster from a CSV file, and add the students to the gradebook.

    Parameters
    ----------
    source : pathlib.Path or str
        nbgrader's student CSV (with LMS id columns) or a Canvas gradebook export.
    paths : grading.paths.CoursePaths, optional
        The course; default :func:`grading.paths.course_paths`.

    Returns
    -------
    Roster
        The roster written (replacing the old one).

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If ``source`` is not a roster (see :func:`parse_roster_csv`) or has no students.
    """
    from grading.base.settings import course_settings

    paths = paths or course_paths()
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"Roster file {source} does not exist.")
    students = parse_roster_csv(source)
    if not students:
        raise BadInput(f"{source} lists no students.")
    target = course_settings(paths).roster_file
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROSTER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(student) for student in students)
    gradebook_file = paths.build / "gradebook.db"
    if gradebook_file.is_file():
        from grading.base.gradebook import open_gradebook

        with open_gradebook(paths.gradebook_url) as gradebook:
            for student in students:
                gradebook.update_or_create_student(
                    student.id,
                    first_name=student.first_name or None,
                    last_name=student.last_name or None,
                    email=student.email or None,
                )
    return Roster(tuple(students), target)


def add_arguments(parser) -> None:
    """Add ``cnnlab roster`` arguments."""
    actions = parser.add_subparsers(dest="roster_action", metavar="ACTION", required=True)
    importing = actions.add_parser(
        "import", help="write the course's roster from a CSV (nbgrader columns or Canvas)"
    )
    importing.add_argument("file", metavar="FILE.csv", help="the students, one row each")
    actions.add_parser("show", help="list the roster")


def main(args) -> int:
    """Run ``cnnlab roster import`` or ``cnnlab roster show``.

    Returns 0 on success. A bad roster file (exit status 2) is raised for
    :mod:`grading.cli`.
    """
    paths = course_paths()
    if args.roster_action == "import":
        roster = import_roster(args.file, paths)
        print(f"wrote {roster.file}: {len(roster.students)} student(s)")
        return 0
    roster = read_roster(paths)
    for student in roster.students:
        ids = ", ".join(
            f"{name} {getattr(student, name)}"
            for name in ("lms_id", "sis_user_id", "sis_login_id", "section")
            if getattr(student, name)
        )
        print(f"{student.id}\t{student.display_name}\t{ids}")
    print(f"{len(roster.students)} student(s) in {roster.file or 'no roster'}")
    return 0
