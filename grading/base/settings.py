"""A course's own settings: the optional course file ``cnnlab.toml`` at the course root.

Every setting has a default, so a folder with only ``notebooks/<assignment>/`` is a course.
The file (all tables and keys optional)::

    [course]
    id = "phys101"                    # nbgrader's course id (default "cnnlab")
    title = "Physics 101"             # report and feedback wording (default: folder name)
    header = "notebooks/header.ipynb" # put at the top of every released notebook
    timezone = "Europe/Berlin"        # of due dates written without one (default "UTC")
    roster = "roster.csv"             # `cnnlab roster import` writes it (default roster.csv)
    missing_score = 0                 # score for no submission; "blank" leaves it empty
    conventions = []                  # CNN Lab's own notebook rules that `check` applies:
                                      # "python3-kernel", "parameters-cell",
                                      # "solution-delimiters"

    [limits]
    cell_timeout_s = 120              # nbgrader's Execute.timeout per cell
    notebook_timeout_s = 1800         # the sandbox's limit for a whole submission
    memory_mb = 2048                  # the sandbox's memory cap

    [late]
    method = "per_hour"               # "none" (default), "zero", "per_hour", "per_day"
    points = 1.0                      # points off per started hour/day late
    grace_minutes = 5                 # late by less than this is on time

    [assignments.ps1]
    due = "2025-03-01 23:59"          # in [course] timezone; or "... America/New_York",
                                      # or a TOML date-time with an offset
    title = "Problem set 1"
    lms_id = "4321"                   # the LMS's id of the assignment (Canvas import column)

Other tables belong to other commands (``[kit]``: :mod:`grading.base.kit_settings`). The course's
own
``nbgrader_config.py`` at the root (if any) is read after ours
(``grading/nbgrader_config.py``) and wins.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grading.errors import BadInput
from grading.paths import COURSE_FILE, CoursePaths, course_paths

__all__ = [
    "CONVENTIONS",
    "LATE_METHODS",
    "CourseSettings",
    "LatePolicy",
    "course_settings",
    "parse_time",
]

#: This course's own notebook conventions that ``cnnlab check`` applies where declared:
#: the ``python3`` kernel, one ``parameters`` cell (papermill), and solution delimiters in
#: every solution code cell (without them nbgrader replaces the whole cell with the stub).
CONVENTIONS = ("python3-kernel", "parameters-cell", "solution-delimiters")
#: How late submissions lose points (``none`` and ``zero`` are nbgrader's own methods).
LATE_METHODS = ("none", "zero", "per_hour", "per_day")
#: nbgrader's course id of a course without a course file (this course's).
DEFAULT_COURSE_ID = "cnnlab"

_KEYS = {
    "course": {
        "id",
        "title",
        "header",
        "timezone",
        "roster",
        "missing_score",
        "conventions",
    },
    "limits": {"cell_timeout_s", "notebook_timeout_s", "memory_mb"},
    "late": {"method", "points", "grace_minutes"},
}


@dataclass(frozen=True)
class LatePolicy:
    """How a late submission loses points.

    Attributes
    ----------
    method : str
        One of :data:`LATE_METHODS`.
    points : float
        Points off per started hour (``per_hour``) or day (``per_day``).
    grace_minutes : float
        A submission less late than this counts as on time.
    """

    method: str = "none"
    points: float = 0.0
    grace_minutes: float = 0.0

    def penalty(self, score: float, seconds_late: float) -> float:
        """The points a submission loses.

        Parameters
        ----------
        score : float
            Its score before the penalty.
        seconds_late : float
            How late it is (0 or less: on time).

        Returns
        -------
        float
            Between 0 and ``score``.
        """
        if seconds_late <= self.grace_minutes * 60 or score <= 0:
            return 0.0
        if self.method == "zero":
            return float(score)
        unit = {"per_hour": 3600.0, "per_day": 86400.0}.get(self.method)
        if unit is None:
            return 0.0
        started = -(-seconds_late // unit)  # every started hour or day counts
        return float(min(score, started * self.points))

    def describe(self) -> str:
        """The policy in words, for reports and feedback.

        Returns
        -------
        str
            E.g. ``"1 point off per started hour late"``.
        """
        grace = f" (after {self.grace_minutes:g} minutes' grace)" if self.grace_minutes else ""
        if self.method == "zero":
            return f"a late submission scores 0{grace}"
        if self.method in ("per_hour", "per_day"):
            unit = "hour" if self.method == "per_hour" else "day"
            return f"{self.points:g} point(s) off per started {unit} late{grace}"
        return "no penalty for late submissions"


@dataclass(frozen=True)
class CourseSettings:
    """Everything a course file sets (defaults where it says nothing).

    Attributes
    ----------
    root : pathlib.Path
        The course root.
    course_id, title : str
        nbgrader's course id; the course's name in reports, feedback and messages.
    header : pathlib.Path or None
        Header notebook put at the top of every released notebook.
    timezone : str
        IANA zone of due dates written without one.
    roster : pathlib.Path
        The roster CSV (it need not exist).
    missing_score : float or None
        Score of a roster student with no submission (``None``: left empty).
    conventions : frozenset of str
        Which of :data:`CONVENTIONS` ``cnnlab check`` applies.
    cell_timeout_s, notebook_timeout_s, memory_mb : float or None
        Limits; ``None`` keeps ``grading/nbgrader_config.py``'s.
    late : LatePolicy
        The late policy.
    due : dict
        Assignment name -> due date (aware, UTC).
    assignment_titles : dict
        Assignment name -> title (default the name).
    assignment_lms_ids : dict
        Assignment name -> the LMS's id of the assignment (Canvas's gradebook column).
    file : pathlib.Path or None
        The course file read, if any.
    """

    root: Path
    course_id: str = DEFAULT_COURSE_ID
    title: str = ""
    header: Path | None = None
    timezone: str = "UTC"
    roster: Path | None = None
    missing_score: float | None = 0.0
    conventions: frozenset[str] = frozenset()
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    memory_mb: int | None = None
    late: LatePolicy = field(default_factory=LatePolicy)
    due: dict[str, dt.datetime] = field(default_factory=dict)
    assignment_titles: dict[str, str] = field(default_factory=dict)
    assignment_lms_ids: dict[str, str] = field(default_factory=dict)
    file: Path | None = None

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.root.name or DEFAULT_COURSE_ID)

    @property
    def roster_file(self) -> Path:
        """The roster CSV, ``<root>/roster.csv`` unless the course file names another."""
        return self.roster or self.root / "roster.csv"

    def assignment_title(self, assignment: str) -> str:
        """An assignment's title (its name unless the course file gives one).

        Parameters
        ----------
        assignment : str
            The assignment's name.

        Returns
        -------
        str
            The title.
        """
        return self.assignment_titles.get(assignment, assignment)

    def seconds_late(self, assignment: str, submitted: dt.datetime | None) -> float:
        """How late a submission is.

        Parameters
        ----------
        assignment : str
            The assignment.
        submitted : datetime.datetime or None
            The submission time (naive means UTC).

        Returns
        -------
        float
            Seconds after the due date; 0 when on time, without a due date or a time.
        """
        due = self.due.get(assignment)
        if due is None or submitted is None:
            return 0.0
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=dt.UTC)
        return max((submitted - due).total_seconds(), 0.0)

    def nbgrader_config(self) -> dict:
        """The nbgrader settings the course file makes, as ``{section: {trait: value}}``.

        Returns
        -------
        dict
            Course id, header, limits and the settings of the late-submission plugin
            (:class:`grading.base.late.CourseLatePlugin`), ready to merge into a
            ``traitlets.config.Config``.
        """
        config: dict = {
            "CourseDirectory": {"course_id": self.course_id},
            "CourseLatePlugin": {
                "method": self.late.method,
                "points": self.late.points,
                "grace_minutes": self.late.grace_minutes,
            },
        }
        if self.header is not None:
            config["IncludeHeaderFooter"] = {"header": str(self.header)}
        if self.cell_timeout_s is not None:
            config["Execute"] = {"timeout": int(self.cell_timeout_s)}
        sandbox = {}
        if self.notebook_timeout_s is not None:
            sandbox["notebook_timeout"] = int(self.notebook_timeout_s)
        if self.memory_mb is not None:
            sandbox["memory_limit_mb"] = int(self.memory_mb)
        if sandbox:
            config["GradingSandbox"] = sandbox
        return config


def parse_time(value: str | dt.datetime | dt.date, timezone: str = "UTC") -> dt.datetime:
    """Read a time as nbgrader does (``nbgrader.utils.parse_utc``), naive ones in ``timezone``.

    Parameters
    ----------
    value : str or datetime.datetime or datetime.date
        ``"2025-03-01 23:59"``, ``"2015-02-02 14:58:23.948203 America/Los_Angeles"``,
        ``"2025-03-01 12:00:00 UTC"``, ``"2025-03-01T12:00:00Z"``, or a TOML date-time
        (a date alone means the end of that day).
    timezone : str, optional
        IANA zone for times written without one.

    Returns
    -------
    datetime.datetime
        Aware, in UTC.

    Raises
    ------
    ValueError
        If the text is not a time or names an unknown zone.
    """
    zone = _zone(timezone)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(23, 59, 59))
    if isinstance(value, dt.datetime):
        moment = value
    else:
        import dateutil.tz
        from nbgrader.utils import parse_utc

        text = str(value).strip()
        parts = text.split(" ")
        if len(parts) == 3 and not _is_offset(parts[2]) and dateutil.tz.gettz(parts[2]) is None:
            raise BadInput(f"{text!r} names an unknown time zone {parts[2]!r}")
        try:
            naive = _has_no_zone(text)
            moment = parse_utc(text)
        except (ValueError, OverflowError) as error:
            raise BadInput(
                f"{text!r} is not a time; write e.g. '2025-03-01 23:59 Europe/Berlin' "
                "or '2025-03-01T23:59:00Z'"
            ) from error
        if not naive:
            return moment.replace(tzinfo=dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _is_offset(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _has_no_zone(text: str) -> bool:
    """Whether a time text carries no zone (dateutil then returns a naive time)."""
    from dateutil.parser import parse

    parts = text.split(" ")
    if len(parts) == 3:
        return False
    try:
        return parse(text).tzinfo is None
    except (ValueError, OverflowError):
        return False


def _zone(name: str):
    """The IANA zone ``name`` (the system's database, else the one dateutil ships)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        import dateutil.tz

        zone = dateutil.tz.gettz(name) if ("/" in name or name == "UTC") else None
        if zone is None:
            raise BadInput(
                f"unknown time zone {name!r} (use an IANA name such as 'UTC' or 'Europe/Berlin')"
            ) from None
        return zone


def _number(file: Path, where: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise BadInput(f"{file}: {where} must be a number of at least {minimum:g}, not {value!r}")
    return float(value)


def _read_file(file: Path) -> dict:
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{file} is not valid TOML ({error}); fix the line it names.") from error
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{file} cannot be read ({error}).") from error


def _check_keys(file: Path, data: dict) -> None:
    for table, keys in _KEYS.items():
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise BadInput(f"{file}: [{table}] must be a table")
        unknown = sorted(set(section) - keys)
        if unknown:
            raise BadInput(
                f"{file}: unknown key(s) {', '.join(unknown)} in [{table}]; "
                f"known: {', '.join(sorted(keys))}"
            )


def _late_policy(file: Path, late: dict) -> LatePolicy:
    method = late.get("method", "none")
    if method not in LATE_METHODS:
        raise BadInput(f"{file}: [late] method {method!r} is not one of {', '.join(LATE_METHODS)}")
    points = _number(file, "[late] points", late.get("points", 0.0))
    if method in ("per_hour", "per_day") and points <= 0:
        raise BadInput(f"{file}: [late] method {method!r} needs points > 0 (points off per unit)")
    grace = _number(file, "[late] grace_minutes", late.get("grace_minutes", 0.0))
    return LatePolicy(method=method, points=points, grace_minutes=grace)


def _assignments(file: Path, table, timezone: str) -> tuple[dict, dict, dict]:
    if not isinstance(table, dict):
        raise BadInput(f"{file}: [assignments] must hold tables such as [assignments.ps1]")
    due, titles, lms_ids = {}, {}, {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) - {"due", "title", "lms_id"}:
            raise BadInput(
                f"{file}: [assignments.{name}] may set only due, title and lms_id, got {entry!r}"
            )
        if "lms_id" in entry:
            lms_ids[name] = str(entry["lms_id"])
        if "due" in entry:
            try:
                due[name] = parse_time(entry["due"], timezone)
            except ValueError as error:
                raise BadInput(f"{file}: [assignments.{name}] due: {error}") from error
        if "title" in entry:
            titles[name] = str(entry["title"])
    return due, titles, lms_ids


def course_settings(root: Path | CoursePaths | None = None) -> CourseSettings:
    """Read a course's settings (``<root>/cnnlab.toml``; defaults without one).

    Parameters
    ----------
    root : pathlib.Path or grading.paths.CoursePaths, optional
        The course root; default :func:`grading.paths.course_paths`.

    Returns
    -------
    CourseSettings
        Without a course file: the defaults (id ``cnnlab``, the folder's name as title,
        none of CNN Lab's notebook conventions, no due dates, no late penalty).

    Raises
    ------
    ValueError
        If the course file is not valid TOML or a setting is wrong; the message names the
        file and the setting.
    """
    if root is None:
        root = course_paths().root
    root = root.root if isinstance(root, CoursePaths) else Path(root)
    file = root / COURSE_FILE
    if not file.is_file():
        return CourseSettings(root=root)
    data = _read_file(file)
    _check_keys(file, data)
    course, limits = data.get("course", {}), data.get("limits", {})
    timezone = str(course.get("timezone", "UTC"))
    try:
        _zone(timezone)
    except ValueError as error:
        raise BadInput(f"{file}: [course] timezone: {error}") from error
    conventions = course.get("conventions", [])
    if not isinstance(conventions, list) or set(conventions) - set(CONVENTIONS):
        raise BadInput(
            f"{file}: [course] conventions must be a list of {', '.join(CONVENTIONS)}, "
            f"not {conventions!r}"
        )
    missing = course.get("missing_score", 0)
    if missing != "blank":
        missing = _number(file, "[course] missing_score", missing)
    header = course.get("header")
    if header is not None and not (root / header).is_file():
        raise BadInput(f"{file}: [course] header {header!r} is not a file under {root}")
    due, titles, lms_ids = _assignments(file, data.get("assignments", {}), timezone)
    return CourseSettings(
        root=root,
        course_id=str(course.get("id", DEFAULT_COURSE_ID)),
        title=str(course.get("title", "")),
        header=(root / header).resolve() if header else None,
        timezone=timezone,
        roster=root / course["roster"] if "roster" in course else None,
        missing_score=None if missing == "blank" else missing,
        conventions=frozenset(conventions),
        cell_timeout_s=_limit(file, limits, "cell_timeout_s"),
        notebook_timeout_s=_limit(file, limits, "notebook_timeout_s"),
        memory_mb=_limit(file, limits, "memory_mb"),
        late=_late_policy(file, data.get("late", {})),
        due=due,
        assignment_titles=titles,
        assignment_lms_ids=lms_ids,
        file=file,
    )


def _limit(file: Path, limits: dict, key: str) -> float | None:
    if key not in limits:
        return None
    return _number(file, f"[limits] {key}", limits[key], minimum=1)
