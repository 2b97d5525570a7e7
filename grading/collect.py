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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from grading.base.identify import wrong_assignment
from grading.base.identities import (
    Identity,
    conflicting_students,
    lms_identity,
    read_identities,
    record_identities,
    student_name_problem,
)
from grading.base.sources import SourceFile, is_system_file, read_source
from grading.errors import BadInput
from grading.paths import ASSIGNMENT_PATTERN, CoursePaths, course_paths

__all__ = [
    "CollectReport",
    "CollectedFile",
    "KeptFile",
    "QuarantinedFile",
    "SkippedFile",
    "collect_from_exchange",
    "collect_submissions",
    "collected_log_path",
    "format_timestamp",
    "history_folder",
    "ledger_path",
    "read_quarantine_ledger",
]

TIMESTAMP_FILE = "timestamp.txt"
#: nbgrader's timestamp format (``timestamp.txt``), always UTC here
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
UNASSIGNED = "_unknown_assignment"
UNKNOWN_STUDENT = "_unknown_student"


# ----------------------------------------------------------------------------- outcomes


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


# ----------------------------------------------------------------------------- folders


def history_folder(paths: CoursePaths) -> Path:
    """Where replaced submissions are kept: ``build/submitted_history/``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        ``<student>/<assignment>/<timestamp>/`` folders below it hold older submissions.
    """
    return paths.build / "submitted_history"


def ledger_path(paths: CoursePaths) -> Path:
    """The quarantine ledger, ``build/quarantine/quarantine.jsonl``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        One JSON object per line: student, assignment, notebook, source, file, code,
        reason, timestamp, collected_at.
    """
    return paths.quarantine / "quarantine.jsonl"


def read_quarantine_ledger(paths: CoursePaths) -> list[dict]:
    """Every file ever quarantined by ``collect``, oldest first.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    list of dict
        The ledger's entries (empty when nothing was quarantined).
    """
    ledger = ledger_path(paths)
    if not ledger.is_file():
        return []
    return [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line]


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
    return _as_utc(moment).strftime(TIMESTAMP_FORMAT)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_timestamp(text: str) -> datetime:
    """A time as nbgrader reads it (``nbgrader.utils.parse_utc``): both
    ``2015-02-02 14:58:23.948203 America/Los_Angeles`` and ISO 8601; naive means UTC."""
    from grading.base.settings import parse_time

    return parse_time(text.strip(), "UTC")


def _read_timestamp(folder: Path) -> datetime | None:
    stamp = folder / TIMESTAMP_FILE
    if stamp.is_file():
        try:
            return _parse_timestamp(stamp.read_text(encoding="utf-8"))
        except (ValueError, OverflowError):
            pass
    notebooks = list(folder.glob("*.ipynb"))
    if notebooks:
        return datetime.fromtimestamp(max(p.stat().st_mtime for p in notebooks), UTC)
    return None


def _folder_name(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%dT%H-%M-%S.%fZ")


# ----------------------------------------------------------------------------- entries


def _student_id(raw: str) -> str:
    return re.sub(r"[^\w.@-]+", "-", raw.strip()).strip("-") or UNKNOWN_STUDENT


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", name)[-120:] or "file"


@dataclass
class _Target:
    """Where an entry belongs, or why it belongs nowhere."""

    student: str
    assignment: str | None = None
    notebook: str | None = None
    code: str | None = None
    reason: str | None = None
    timestamp_file: bool = False
    identity: Identity | None = None
    extra: str | None = None  # a file kept with the submission: its name in the folder


class _Catalogue:
    """The assignments, notebook names and other files submissions are matched against."""

    def __init__(self, paths: CoursePaths, roster=None):
        self.roster = roster
        self.notebooks: dict[str, list[str]] = {}  # assignment -> notebook names
        self.files: dict[str, set[str]] = {}  # assignment -> its other files
        for assignment in paths.assignments() if paths.notebooks.is_dir() else []:
            released = paths.release / assignment
            folder = released if any(released.glob("*.ipynb")) else paths.notebooks / assignment
            self.notebooks[assignment] = [p.stem for p in sorted(folder.glob("*.ipynb"))]
            self.files[assignment] = {
                p.name
                for p in folder.iterdir()
                if p.is_file() and p.suffix != ".ipynb" and not p.name.startswith(".")
            }
        if not self.notebooks:
            raise FileNotFoundError(
                f"No assignments to collect for: {paths.notebooks} holds no source "
                "assignments. Run `cnnlab release` in the course checkout first."
            )
        self.owners: dict[str, list[str]] = {}
        for assignment, names in self.notebooks.items():
            for name in names:
                self.owners.setdefault(name, []).append(assignment)
        self.file_owners: dict[str, list[str]] = {}
        for assignment, names in self.files.items():
            for name in names:
                self.file_owners.setdefault(name, []).append(assignment)

    def describe(self) -> str:
        return "; ".join(
            f"{assignment}: {', '.join(n + '.ipynb' for n in names)}"
            for assignment, names in self.notebooks.items()
        )

    def _student(self, identity: Identity) -> tuple[str, str | None]:
        """The student id an identity stands for, or a placeholder and why it cannot be."""
        problem = student_name_problem(identity.raw)
        if problem:
            return UNKNOWN_STUDENT, f"the student's name has {problem}"
        if self.roster:
            matched = self.roster.match(identity.raw, identity.lms_id)
            if matched:
                return matched, None
        return _student_id(identity.raw), None

    def _target(self, identity: Identity, **fields) -> _Target:
        student, problem = self._student(identity)
        if problem:
            fields |= {"code": "unsafe_student", "reason": problem + "; not collected"}
        return _Target(student, identity=identity, **fields)

    def _nbgrader_index(self, parts: tuple[str, ...]) -> int | None:
        """Index of the assignment folder of ``<student>/<assignment>/<file...>``."""
        for index in range(1, len(parts) - 1):
            if parts[index] in self.notebooks:
                return index
        return None

    def locate(self, parts: tuple[str, ...]) -> _Target:
        index = self._nbgrader_index(parts)
        if index is not None:
            lms = self._locate_lms(parts) if index == len(parts) - 2 else None
            assignment, name = parts[index], parts[-1]
            own_name = (
                name.removesuffix(".ipynb") in self.notebooks[assignment]
                or name in self.files[assignment]
            )
            if lms is not None and lms.code is None and not own_name:
                return lms  # an LMS download inside a folder named like the assignment
            return self._locate_nbgrader(parts, index)
        if len(parts) >= 3 and ASSIGNMENT_PATTERN.match(parts[-2]):
            return self._target(
                Identity(parts[-3]),
                assignment=parts[-2],
                code="unknown_assignment",
                reason=f"unknown assignment {parts[-2]!r}; the course has: "
                f"{', '.join(self.notebooks)}",
            )
        if parts[-1] == TIMESTAMP_FILE:
            return _Target(
                student="", code="skip", reason="timestamp.txt outside an nbgrader layout"
            )
        found = self._locate_lms(parts)
        if found is not None:
            return found
        name = parts[-1]
        base = re.sub(r"-\d+$", "", name.removesuffix(".ipynb"))
        identity = lms_identity(base) if "_" in base else Identity(UNKNOWN_STUDENT)
        if len(parts) >= 2 and identity.raw == UNKNOWN_STUDENT:
            identity = lms_identity(parts[-2])
        return self._target(
            identity,
            code="unrecognised_name",
            reason=f"{name!r} names no notebook of the course; expected "
            f"<student>/<assignment>/<notebook>.ipynb or <student>_..._<notebook>.ipynb "
            f"with a notebook of: {self.describe()}",
        )

    def _locate_lms(self, parts: tuple[str, ...]) -> _Target | None:
        """``<student>_..._<file>`` or ``<student>_.../<file>``; None if the name fits neither."""
        name = parts[-1]
        stem, suffix = os.path.splitext(name)
        base = re.sub(r"-\d+$", "", stem)  # Canvas numbers resubmissions: name-1.ipynb
        for known, owners, is_notebook in self._known_names():
            known_base = known if is_notebook else os.path.splitext(known)[0]
            if not is_notebook and suffix != os.path.splitext(known)[1]:
                continue
            if base == known_base and len(parts) >= 2:
                identity = lms_identity(parts[-2])
            elif base.endswith("_" + known_base) and base[: -len(known_base) - 1].split("_")[0]:
                identity = lms_identity(base[: -len(known_base) - 1])
            else:
                continue
            if is_notebook and suffix != ".ipynb":
                return self._target(
                    identity,
                    code="unknown_notebook",
                    reason=f"{name!r} is not a .ipynb notebook file",
                )
            if len(owners) > 1:
                return self._target(
                    identity,
                    code="ambiguous_notebook",
                    reason=f"{known if not is_notebook else known + '.ipynb'} belongs to several "
                    f"assignments ({', '.join(owners)}); submit it as "
                    f"<student>/<assignment>/{name}",
                )
            if is_notebook:
                return self._target(identity, assignment=owners[0], notebook=known)
            return self._target(identity, assignment=owners[0], extra=known)
        return None

    def _known_names(self) -> list[tuple[str, list[str], bool]]:
        names = [(n, o, True) for n, o in self.owners.items()]
        names += [(n, o, False) for n, o in self.file_owners.items()]
        return sorted(names, key=lambda item: len(item[0]), reverse=True)

    def _locate_nbgrader(self, parts: tuple[str, ...], index: int) -> _Target:
        identity = Identity(parts[index - 1])
        assignment, name = parts[index], parts[-1]
        inside = "/".join(parts[index + 1 :])
        if inside == TIMESTAMP_FILE:
            return self._target(identity, assignment=assignment, timestamp_file=True)
        stem = name.removesuffix(".ipynb")
        if len(parts) == index + 2 and name.endswith(".ipynb"):
            if stem in self.notebooks[assignment]:
                return self._target(identity, assignment=assignment, notebook=stem)
            return self._target(
                identity,
                assignment=assignment,
                code="unknown_notebook",
                reason=f"{name!r} is not a notebook of {assignment}; expected "
                f"{', '.join(n + '.ipynb' for n in self.notebooks[assignment])}",
            )
        if any(part.startswith(".") for part in parts[index + 1 :]):
            return _Target(identity.raw, code="skip", reason="hidden file")
        return self._target(identity, assignment=assignment, extra=inside)


def _problem_with(data: bytes) -> tuple[str, str] | None:
    """Why these bytes are not a gradable notebook, as (code, reason); None if they are."""
    import nbformat

    if not data.strip():
        return "empty", "the file is empty; ask the student to submit again"
    try:
        text = data.decode("utf-8-sig")
        content = json.loads(text)
    except UnicodeDecodeError:
        return "not_json", "not a text file (not UTF-8), so not a notebook"
    except json.JSONDecodeError as error:
        return "not_json", f"not valid JSON ({error}); the notebook file is damaged"
    if not isinstance(content, dict) or not {"cells", "nbformat"} <= content.keys():
        return "not_notebook", "JSON but not a Jupyter notebook (it has no 'cells' and 'nbformat')"
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several types for invalid notebooks
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return "not_notebook", f"JSON but not a valid Jupyter notebook ({first_line})"
    return None


# ----------------------------------------------------------------------------- collecting


def _folder_files(folder: Path) -> dict[str, bytes]:
    """Every plain file below ``folder`` (relative name -> bytes), symlinks left out."""
    files = {}
    for top, folders, names in os.walk(folder, followlinks=False):
        folders.sort()
        for name in sorted(names):
            path = Path(top) / name
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


@dataclass
class _Submission:
    """The files of one student's assignment from one source, at one time."""

    student: str
    assignment: str
    timestamp: datetime
    notebooks: list[tuple[SourceFile, _Target]] = field(default_factory=list)
    extras: list[tuple[SourceFile, _Target]] = field(default_factory=list)

    def files(self) -> dict[str, bytes]:
        files = {f"{t.notebook}.ipynb": e.data for e, t in self.notebooks}
        files |= {t.extra: e.data for e, t in self.extras}
        return files


class _Collector:
    def __init__(self, paths: CoursePaths, report: CollectReport):
        self.paths = paths
        self.report = report
        self.collected_at = datetime.now(UTC)

    def quarantine(self, entry: SourceFile, target: _Target, code: str, reason: str) -> None:
        digest = hashlib.sha256(entry.data).hexdigest()[:12]
        folder = self.paths.quarantine / target.student / (target.assignment or UNASSIGNED)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{digest}-{_safe_file_name(entry.name)}"
        if not path.exists():  # the same file quarantined again is listed, not duplicated
            path.write_bytes(entry.data)
            path.with_name(path.name + ".reason.txt").write_text(
                f"{reason}\nsource: {entry.label}\n", encoding="utf-8"
            )
            record = {
                "student": target.student,
                "assignment": target.assignment,
                "notebook": target.notebook,
                "source": entry.label,
                "file": str(path.relative_to(self.paths.build)),
                "code": code,
                "reason": reason,
                "timestamp": format_timestamp(entry.modified),
                "collected_at": format_timestamp(self.collected_at),
            }
            with ledger_path(self.paths).open("a", encoding="utf-8") as ledger:
                ledger.write(json.dumps(record) + "\n")
        self.report.quarantined.append(
            QuarantinedFile(target.student, target.assignment, entry.label, path, code, reason)
        )

    def archive(self, files: dict[str, bytes], timestamp: datetime, target) -> Path:
        """Keep a submission (file name -> bytes) in the history; returns its folder."""
        base = history_folder(self.paths) / target.student / target.assignment
        folder, number = base / _folder_name(timestamp), 1
        while folder.exists():
            if _folder_files(folder) == files:
                return folder
            number += 1
            folder = base / f"{_folder_name(timestamp)}-{number}"
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder

    def offer(self, submission: _Submission) -> None:
        folder = self.paths.submitted / submission.student / submission.assignment
        files, timestamp = submission.files(), submission.timestamp
        current_files = _folder_files(folder) if folder.is_dir() else {}
        current = _read_timestamp(folder) if folder.is_dir() else None
        labels = [e.label for e, _ in submission.notebooks + submission.extras]
        if all(current_files.get(name) == data for name, data in files.items()):
            for label in labels:
                self.report.skipped.append(
                    SkippedFile(
                        submission.student,
                        submission.assignment,
                        label,
                        "identical to the submission already collected",
                    )
                )
            return
        stamp = (format_timestamp(timestamp) + "\n").encode()
        notebook_names = {name for name in files if name.endswith(".ipynb")}
        if current is not None and notebook_names & set(current_files) and timestamp <= current:
            kept = self.archive(files | {TIMESTAMP_FILE: stamp}, timestamp, submission)
            for label in labels:
                self.report.skipped.append(
                    SkippedFile(
                        submission.student,
                        submission.assignment,
                        label,
                        f"not newer ({format_timestamp(timestamp)}) than the collected "
                        f"submission ({format_timestamp(current)}); kept in {kept}",
                    )
                )
            return
        replaced = None
        if current_files:
            replaced = self.archive(current_files, current or timestamp, submission)
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        (folder / TIMESTAMP_FILE).write_bytes(stamp)
        for entry, target in submission.notebooks:
            identity = target.identity or Identity(target.student)
            self.report.collected.append(
                CollectedFile(
                    submission.student,
                    submission.assignment,
                    target.notebook,
                    folder / f"{target.notebook}.ipynb",
                    timestamp,
                    entry.label,
                    replaced,
                    lms_id=identity.lms_id,
                    lms_late=identity.late,
                    extra_files=tuple(t.extra for _, t in submission.extras),
                )
            )
        for entry, target in submission.extras:
            self.report.kept.append(
                KeptFile(
                    submission.student, submission.assignment, folder / target.extra, entry.label
                )
            )
        self._log(submission, timestamp)

    def _log(self, submission: _Submission, timestamp: datetime) -> None:
        identity = next((t.identity for _, t in submission.notebooks if t.identity), Identity(""))
        record = {
            "student": submission.student,
            "assignment": submission.assignment,
            "name": identity.raw,
            "lms_id": identity.lms_id,
            "lms_late": identity.late,
            "files": sorted(submission.files()),
            "timestamp": format_timestamp(timestamp),
            "collected_at": format_timestamp(self.collected_at),
        }
        with collected_log_path(self.paths).open("a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def _with_folder_files(located: list) -> list:
    """Other files in a student's LMS folder (Moodle) belong to the notebook beside them.

    A folder counts as one student's when every notebook in it is named exactly as the
    course's notebook (``Jane Doe_123_assignsubmission_file_/ps1.ipynb``) and belongs to
    one student and assignment; the folder's unrecognised non-notebook files are kept with
    that submission instead of being quarantined.
    """
    owners: dict[tuple[str, ...], set[tuple[str, str]]] = {}
    for entry, target in located:
        named_as_notebook = re.sub(r"-\d+$", "", entry.name.removesuffix(".ipynb")) == (
            target.notebook
        )
        if len(entry.parts) >= 2 and target.code is None and named_as_notebook:
            owners.setdefault(entry.parts[:-1], set()).add((target.student, target.assignment))
    result = []
    for entry, target in located:
        owner = owners.get(entry.parts[:-1], set())
        if target.code == "unrecognised_name" and len(owner) == 1 and ".ipynb" not in entry.name:
            notebook_target = next(
                t for e, t in located if e.parts[:-1] == entry.parts[:-1] and t.notebook
            )
            target = replace(notebook_target, notebook=None, extra=entry.name)
        result.append((entry, target))
    return result


def _explicit_time(timestamp: datetime | str | None) -> datetime | None:
    if timestamp is None:
        return None
    try:
        return (
            _as_utc(timestamp)
            if isinstance(timestamp, datetime)
            else _parse_timestamp(str(timestamp))
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
    catalogue = _Catalogue(paths, roster)
    report = CollectReport(source=source)
    for folder in (paths.submitted, paths.quarantine):
        folder.mkdir(parents=True, exist_ok=True)
    collector = _Collector(paths, report)

    located = []
    for entry in entries:
        if entry.problem:
            student = UNKNOWN_STUDENT
            collector.quarantine(entry, _Target(student), *entry.problem)
        elif is_system_file(entry.parts):
            report.skipped.append(SkippedFile(None, None, entry.label, "system file"))
        else:
            located.append((entry, catalogue.locate(entry.parts)))
    located = _with_folder_files(located)
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
                stamps[(target.student, target.assignment)] = _parse_timestamp(
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

    groups: dict[tuple[str, str, datetime], _Submission] = {}
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
        elif problem := _problem_with(entry.data):
            collector.quarantine(entry, target, *problem)
        elif other := wrong_assignment(paths, target.assignment, target.notebook, entry.data):
            collector.quarantine(entry, target, "wrong_assignment", other)
        else:
            moment = explicit or stamps.get((target.student, target.assignment)) or entry.modified
            key = (target.student, target.assignment, moment)
            groups.setdefault(key, _Submission(target.student, target.assignment, moment))
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


def collected_log_path(paths: CoursePaths) -> Path:
    """The log of collected submissions, ``build/collected.jsonl``.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.

    Returns
    -------
    pathlib.Path
        One JSON object per collected submission: student, assignment, the LMS name and id,
        ``lms_late`` (Canvas's ``_LATE_`` mark, kept as information), files, timestamp.
    """
    return paths.build / "collected.jsonl"


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
    """Add ``cnnlab collect`` arguments.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
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

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments.

    Returns
    -------
    int
        0 when the source was read (quarantined files are reported, not failures). A bad
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
