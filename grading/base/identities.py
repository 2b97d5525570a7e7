"""Who a submission belongs to: names and LMS ids, and what makes them ambiguous.

An LMS download names a student by a display name and an id (Canvas
``smithjane_LATE_12345_67890_<file>``, Moodle ``Jane Doe_123456_assignsubmission_file_/``).
:func:`lms_identity` reads both (and Canvas's ``_LATE_`` mark); :func:`student_name_problem`
refuses names that are not safe as a student id (hidden, relative, bidirectional or control
characters); :func:`conflicting_students` finds student ids that two different students
would share, so :mod:`grading.collect` quarantines them instead of merging; and
``build/identities.json`` keeps the LMS id of every collected student id
(:func:`read_identities`, :func:`record_identities`), which ``cnnlab export --format
canvas`` uses for students who are not on the roster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grading.paths import CoursePaths

__all__ = [
    "Identity",
    "conflicting_students",
    "identities_path",
    "lms_identity",
    "read_identities",
    "record_identities",
    "student_name_problem",
]

#: Characters that make one name display as another: controls and bidirectional marks.
_BIDI_OR_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def student_name_problem(name: str) -> str | None:
    """Why a name cannot be a student id, or ``None`` when it can.

    Parameters
    ----------
    name : str
        A student name from a folder or file name, or a roster id.

    Returns
    -------
    str or None
        E.g. ``"a name starting with '.'"``; ``None`` for a usable name.
    """
    if not name.strip():
        return "an empty name"
    if name.strip().startswith("."):
        return "a name starting with '.' (a hidden or relative folder such as '..')"
    if _BIDI_OR_CONTROL.search(name):
        return (
            "bidirectional or control characters (it can display as another student's name: "
            f"{name!a})"
        )
    if "/" in name or "\\" in name:
        return "a path separator"
    return None


@dataclass(frozen=True)
class Identity:
    """Who a source names.

    Attributes
    ----------
    raw : str
        The name as the source writes it (``smithjane``, ``Jane Doe``, ``bitdiddle``).
    lms_id : str
        The LMS's id of the student (Canvas user id, Moodle participant id); empty if none.
    late : bool
        Canvas's ``_LATE_`` mark (information only).
    """

    raw: str
    lms_id: str = ""
    late: bool = False


def lms_identity(prefix: str) -> Identity:
    """Read who an LMS file or folder name stands for.

    Parameters
    ----------
    prefix : str
        The name before the file's own name: ``smithjane_LATE_12345_67890`` (Canvas),
        ``Jane Doe_123_assignsubmission_file_`` (Moodle) or ``alice`` (generic).

    Returns
    -------
    Identity
        The text before the first ``_``, the first number after it (after ``LATE``), and
        whether ``LATE`` was there.
    """
    name, *rest = prefix.split("_")
    late = bool(rest) and rest[0] == "LATE"
    if late:
        rest = rest[1:]
    lms_id = rest[0] if rest and rest[0].isdigit() else ""
    return Identity(name, lms_id, late)


def _identity_key(identity: Identity) -> tuple[str, str]:
    return ("id", identity.lms_id) if identity.lms_id else ("name", identity.raw.strip())


def conflicting_students(
    claims: Iterable[tuple[str, Identity]], recorded: dict[str, dict]
) -> dict[str, str]:
    """Student ids that two different students claim.

    Parameters
    ----------
    claims : iterable of (str, Identity)
        Student id and who the source names, per file.
    recorded : dict
        From :func:`read_identities`: who earlier collects saw.

    Returns
    -------
    dict
        Student id -> why it is ambiguous, in words: two LMS ids, or two names without an
        id (a name that also comes with an id is the same student).
    """
    by_student: dict[str, dict[tuple[str, str], Identity]] = {}
    for student, identity in claims:
        by_student.setdefault(student, {})[_identity_key(identity)] = identity
    conflicts = {}
    for student, keys in by_student.items():
        named_by_id = {i.raw.strip() for k, i in keys.items() if k[0] == "id"}
        distinct = {k for k in keys if k[0] == "id" or k[1] not in named_by_id}
        known = recorded.get(student, {}).get("lms_id")
        if known and any(k[0] == "id" and k[1] != known for k in distinct):
            distinct.add(("id", known))
        if len(distinct) > 1:
            who = "; ".join(
                f"{ascii(keys[k].raw) if k in keys else 'an earlier collect'}"
                f"{' (LMS id ' + k[1] + ')' if k[0] == 'id' else ''}"
                for k in sorted(distinct)
            )
            conflicts[student] = (
                f"two different students map to the id {student!r} ({who}); nothing was "
                "merged: import a roster with their LMS ids (`cnnlab roster import`) or "
                "rename one, then collect again"
            )
    return conflicts


def identities_path(paths: CoursePaths) -> Path:
    """Who each collected student id is in the LMS: ``build/identities.json``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        A JSON object: student id -> ``{"name": ..., "lms_id": ...}``.
    """
    return paths.build / "identities.json"


def read_identities(paths: CoursePaths) -> dict[str, dict]:
    """The LMS names and ids collected so far, per student id.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    dict
        Student id -> ``{"name": ..., "lms_id": ...}`` (empty before the first collect).
    """
    file = identities_path(paths)
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def record_identities(
    paths: CoursePaths,
    claims: Iterable[tuple[str, Identity]],
    conflicts: dict[str, str],
    recorded: dict[str, dict],
) -> None:
    """Remember who the collected student ids are in the LMS (``build/identities.json``).

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    claims : iterable of (str, Identity)
        Student id and who the source names, per collected file.
    conflicts : dict
        From :func:`conflicting_students`: these ids are not recorded.
    recorded : dict
        From :func:`read_identities`; the first LMS id seen for a student stays.
    """
    identities = {student: dict(known) for student, known in recorded.items()}
    for student, identity in claims:
        if student in conflicts:
            continue
        known = identities.setdefault(student, {"name": identity.raw, "lms_id": ""})
        if identity.lms_id and not known.get("lms_id"):
            known["lms_id"] = identity.lms_id
            known["name"] = identity.raw
    if identities != recorded:
        identities_path(paths).write_text(
            json.dumps(identities, indent=1, sort_keys=True, ensure_ascii=True) + "\n",
            encoding="utf-8",
        )
