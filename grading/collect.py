"""``cnnlab collect``: bring student submissions into ``build/submitted/``, losing nothing.

A submission source is a folder or a ``.zip`` file. Inside it, each file is recognised by
its path (wrapper folders above the ones named here are ignored):

``<student>/<assignment>/<notebook>.ipynb``
    nbgrader's own layout (``alice/02_mnist/mnist_cnn.ipynb``). A ``timestamp.txt`` next to
    the notebook (nbgrader's format) gives the submission time.
``<student>_<anything>_<notebook>.ipynb`` or ``<student>_<notebook>.ipynb``
    LMS downloads with one file per student: Canvas
    (``smithjane_12345_67890_mnist_cnn.ipynb``, also ``_LATE_`` and the ``-1`` suffix of a
    resubmission) and generic exports. The student id is the text before the first ``_``.
``<student>_<anything>/<notebook>.ipynb`` or ``<student>/<notebook>.ipynb``
    LMS downloads with a folder per student: Moodle
    (``Jane Doe_123456_assignsubmission_file_/mnist_cnn.ipynb``).

``<notebook>`` must be the file name of a released notebook (``build/release``; the sources
when nothing is released yet); it tells the assignment. Student ids keep letters, digits,
``.``, ``@``, ``-`` and ``_``; other characters become ``-`` (``Jane Doe`` -> ``Jane-Doe``).

Each recognised notebook goes to ``build/submitted/<student>/<assignment>/<notebook>.ipynb``
with ``timestamp.txt`` (UTC): the explicit ``timestamp`` if given, else the ``timestamp.txt``
of an nbgrader layout, else the zip entry's time (read as UTC) or the file's modification
time. A newer submission replaces the collected one, which moves to
``build/submitted_history/<student>/<assignment>/<its timestamp>/``; an older one is kept in
that history and does not replace the newer; an identical one is skipped.

A file that is empty, not JSON, not a valid notebook (nbformat validation), or misnamed
(unknown assignment or notebook name) is quarantined: copied to
``build/quarantine/<student>/<assignment>/`` with a ``.reason.txt`` next to it and a line
in the ledger ``build/quarantine/quarantine.jsonl`` (which ``cnnlab report`` reads). It is
never dropped and never stops the others. System files (``__MACOSX``, ``.DS_Store``,
checkpoints) are skipped and listed.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from grading.paths import ASSIGNMENT_PATTERN, CoursePaths, course_paths

__all__ = [
    "CollectReport",
    "CollectedFile",
    "QuarantinedFile",
    "SkippedFile",
    "collect_submissions",
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
_SYSTEM_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
_SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


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
    """

    student: str
    assignment: str
    notebook: str
    path: Path
    timestamp: datetime
    source: str
    replaced: Path | None = None


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
        ``unknown_notebook``, ``ambiguous_notebook`` or ``unrecognised_name``.
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
    quarantined : list of QuarantinedFile
    skipped : list of SkippedFile
    """

    source: Path
    collected: list[CollectedFile] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    def students(self) -> list[str]:
        """Every student the source mentions, sorted.

        Returns
        -------
        list of str
            Student ids of collected, quarantined and skipped files.
        """
        names = {item.student for item in (*self.collected, *self.quarantined, *self.skipped)}
        return sorted(name for name in names if name)

    def __str__(self) -> str:
        return (
            f"{len(self.collected)} collected, {len(self.quarantined)} quarantined, "
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
                    lines.append(
                        f"  collected   {item.assignment}/{item.notebook}.ipynb "
                        f"({format_timestamp(item.timestamp)}){note}"
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
    from dateutil.parser import parse

    return _as_utc(parse(text.strip()))


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


@dataclass
class _Entry:
    """One file of the source: its path parts, its bytes, its time."""

    parts: tuple[str, ...]
    data: bytes
    modified: datetime
    label: str

    @property
    def name(self) -> str:
        return self.parts[-1]


def _folder_entries(folder: Path) -> Iterator[_Entry]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            parts = path.relative_to(folder).parts
            yield _Entry(parts, path.read_bytes(), modified, str(path))


def _zip_entries(archive: Path) -> Iterator[_Entry]:
    try:
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if info.is_dir():
                    continue
                parts = tuple(p for p in PurePosixPath(info.filename).parts if p not in ("/", ".."))
                if not parts:
                    continue
                modified = datetime(*info.date_time, tzinfo=UTC)
                yield _Entry(parts, handle.read(info), modified, f"{archive.name}:{info.filename}")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{archive} is not a readable zip file ({error}).") from error


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


class _Catalogue:
    """The assignments and notebook names submissions are matched against."""

    def __init__(self, paths: CoursePaths):
        self.notebooks: dict[str, list[str]] = {}  # assignment -> notebook names
        for assignment in paths.assignments() if paths.notebooks.is_dir() else []:
            released = sorted((paths.release / assignment).glob("*.ipynb"))
            sources = sorted((paths.notebooks / assignment).glob("*.ipynb"))
            self.notebooks[assignment] = [p.stem for p in (released or sources)]
        if not self.notebooks:
            raise FileNotFoundError(
                f"No assignments to collect for: {paths.notebooks} holds no source "
                "assignments. Run `cnnlab release` in the course checkout first."
            )
        self.owners: dict[str, list[str]] = {}
        for assignment, names in self.notebooks.items():
            for name in names:
                self.owners.setdefault(name, []).append(assignment)

    def describe(self) -> str:
        return "; ".join(
            f"{assignment}: {', '.join(n + '.ipynb' for n in names)}"
            for assignment, names in self.notebooks.items()
        )

    def locate(self, parts: tuple[str, ...]) -> _Target:
        name = parts[-1]
        stem, suffix = (name[: -len(".ipynb")], ".ipynb") if name.endswith(".ipynb") else (name, "")
        if len(parts) >= 3 and ASSIGNMENT_PATTERN.match(parts[-2]):
            return self._locate_nbgrader(parts, stem, suffix)
        if name == TIMESTAMP_FILE:
            return _Target(
                student="", code="skip", reason="timestamp.txt outside an nbgrader layout"
            )
        base = re.sub(r"-\d+$", "", stem)  # Canvas numbers resubmissions: name-1.ipynb
        for notebook in sorted(self.owners, key=len, reverse=True):
            if base == notebook and len(parts) >= 2:
                student = _student_id(parts[-2].split("_")[0])
            elif base.endswith("_" + notebook) and base[: -len(notebook) - 1].split("_")[0]:
                student = _student_id(base.split("_")[0])
            else:
                continue
            if not suffix:
                return _Target(
                    student,
                    code="unknown_notebook",
                    reason=f"{name!r} is not a .ipynb notebook file",
                )
            owners = self.owners[notebook]
            if len(owners) > 1:
                return _Target(
                    student,
                    code="ambiguous_notebook",
                    reason=f"{notebook}.ipynb belongs to several assignments "
                    f"({', '.join(owners)}); submit it as <student>/<assignment>/{name}",
                )
            return _Target(student, owners[0], notebook)
        student = _student_id(base.split("_")[0]) if "_" in base else UNKNOWN_STUDENT
        if len(parts) >= 2 and student == UNKNOWN_STUDENT:
            student = _student_id(parts[-2].split("_")[0])
        return _Target(
            student,
            code="unrecognised_name",
            reason=f"{name!r} names no notebook of the course; expected "
            f"<student>/<assignment>/<notebook>.ipynb or <student>_..._<notebook>.ipynb "
            f"with a notebook of: {self.describe()}",
        )

    def _locate_nbgrader(self, parts: tuple[str, ...], stem: str, suffix: str) -> _Target:
        student, assignment, name = _student_id(parts[-3]), parts[-2], parts[-1]
        if assignment not in self.notebooks:
            return _Target(
                student,
                code="unknown_assignment",
                reason=f"unknown assignment {assignment!r}; the course has: "
                f"{', '.join(self.notebooks)}",
            )
        if name == TIMESTAMP_FILE:
            return _Target(student, assignment, timestamp_file=True)
        if not suffix or stem not in self.notebooks[assignment]:
            return _Target(
                student,
                assignment,
                code="unknown_notebook",
                reason=f"{name!r} is not a notebook of {assignment}; expected "
                f"{', '.join(n + '.ipynb' for n in self.notebooks[assignment])}",
            )
        return _Target(student, assignment, stem)


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
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


class _Collector:
    def __init__(self, paths: CoursePaths, report: CollectReport):
        self.paths = paths
        self.report = report
        self.collected_at = datetime.now(UTC)

    def quarantine(self, entry: _Entry, target: _Target, code: str, reason: str) -> None:
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

    def archive(self, files: dict[str, bytes], timestamp: datetime, target: _Target) -> Path:
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
            (folder / name).write_bytes(data)
        return folder

    def offer(self, entry: _Entry, target: _Target, timestamp: datetime) -> None:
        folder = self.paths.submitted / target.student / target.assignment
        path = folder / f"{target.notebook}.ipynb"
        current = _read_timestamp(folder) if folder.is_dir() else None
        if path.is_file() and path.read_bytes() == entry.data:
            self.report.skipped.append(
                SkippedFile(
                    target.student,
                    target.assignment,
                    entry.label,
                    "identical to the submission already collected",
                )
            )
            return
        stamp = (format_timestamp(timestamp) + "\n").encode()
        if current is not None and path.is_file() and timestamp <= current:
            files = {path.name: entry.data, TIMESTAMP_FILE: stamp}
            kept = self.archive(files, timestamp, target)
            self.report.skipped.append(
                SkippedFile(
                    target.student,
                    target.assignment,
                    entry.label,
                    f"not newer ({format_timestamp(timestamp)}) than the collected submission "
                    f"({format_timestamp(current)}); kept in {kept}",
                )
            )
            return
        replaced = None
        if folder.is_dir() and any(folder.iterdir()):
            replaced = self.archive(_folder_files(folder), current or timestamp, target)
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(entry.data)
        (folder / TIMESTAMP_FILE).write_bytes(stamp)
        self.report.collected.append(
            CollectedFile(
                target.student,
                target.assignment,
                target.notebook,
                path,
                timestamp,
                entry.label,
                replaced,
            )
        )


def _is_system_file(parts: tuple[str, ...]) -> bool:
    return parts[-1] in _SYSTEM_FILES or any(part in _SYSTEM_PARTS for part in parts)


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
        Submission time for every file (ISO 8601 text or a datetime; naive means UTC);
        default each file's own time.

    Returns
    -------
    CollectReport
        Per file: collected, quarantined (with the reason) or skipped (with the reason).

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist, or the course has no assignments.
    ValueError
        If ``source`` holds no files, is neither a folder nor a zip, or ``timestamp`` is
        not a time.
    """
    paths = paths or course_paths()
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(
            f"Submission source {source} does not exist: give a folder laid out "
            "<student>/<assignment>/<notebook>.ipynb or an LMS .zip download."
        )
    if source.is_dir():
        entries = list(_folder_entries(source))
    elif zipfile.is_zipfile(source):
        entries = list(_zip_entries(source))
    else:
        raise ValueError(f"{source} is neither a folder nor a zip file.")
    if not entries:
        raise ValueError(f"{source} holds no files: there is nothing to collect.")
    explicit = None
    if timestamp is not None:
        try:
            explicit = (
                _as_utc(timestamp)
                if isinstance(timestamp, datetime)
                else _as_utc(datetime.fromisoformat(str(timestamp)))
            )
        except ValueError as error:
            raise ValueError(
                f"timestamp {timestamp!r} is not a time; use ISO 8601, e.g. 2025-03-01T12:00:00Z"
            ) from error
    catalogue = _Catalogue(paths)
    report = CollectReport(source=source)
    for folder in (paths.submitted, paths.quarantine):
        folder.mkdir(parents=True, exist_ok=True)
    collector = _Collector(paths, report)

    located = [(entry, catalogue.locate(entry.parts)) for entry in entries]
    stamps = {}  # (student, assignment) -> time from an nbgrader timestamp.txt
    for entry, target in located:
        if target.timestamp_file:
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

    candidates = []
    for entry, target in located:
        if target.timestamp_file:
            continue
        if _is_system_file(entry.parts):
            report.skipped.append(SkippedFile(None, None, entry.label, "system file"))
        elif target.code == "skip":
            report.skipped.append(SkippedFile(None, None, entry.label, target.reason))
        elif target.code:
            collector.quarantine(entry, target, target.code, target.reason)
        elif problem := _problem_with(entry.data):
            collector.quarantine(entry, target, *problem)
        else:
            moment = explicit or stamps.get((target.student, target.assignment)) or entry.modified
            candidates.append((moment, entry, target))
    for moment, entry, target in sorted(candidates, key=lambda item: item[0]):
        collector.offer(entry, target, moment)
    return report


def add_arguments(parser) -> None:
    """Add ``cnnlab collect`` arguments.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument("source", metavar="SOURCE", help="a submissions folder or an LMS zip")
    parser.add_argument(
        "--timestamp",
        metavar="ISO",
        help="submission time for every file, e.g. 2025-03-01T12:00:00Z (default: file times)",
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
    report = collect_submissions(args.source, course_paths(), args.timestamp)
    print(report.summary())
    return 0
