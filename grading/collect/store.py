"""Where collected files go: ``build/submitted/``, its history, the quarantine, the logs.

A :class:`Collector` offers each :class:`Submission` to ``build/submitted/`` (a newer one
replaces the collected one, which moves to the history; an older one goes to the history;
an identical one is skipped), quarantines what cannot be graded with its ledger line, and
logs every collected submission in ``build/collected.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from grading.base.identities import Identity
from grading.base.sources import SourceFile
from grading.collect.locate import Target
from grading.collect.outcomes import (
    TIMESTAMP_FILE,
    CollectedFile,
    CollectReport,
    KeptFile,
    QuarantinedFile,
    SkippedFile,
    as_utc,
    format_timestamp,
    parse_timestamp,
)
from grading.paths import CoursePaths

__all__ = [
    "Collector",
    "Submission",
    "collected_log_path",
    "history_folder",
    "ledger_path",
    "read_quarantine_ledger",
]

UNASSIGNED = "_unknown_assignment"


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


def _read_timestamp(folder: Path) -> datetime | None:
    stamp = folder / TIMESTAMP_FILE
    if stamp.is_file():
        try:
            return parse_timestamp(stamp.read_text(encoding="utf-8"))
        except (ValueError, OverflowError):
            pass
    notebooks = list(folder.glob("*.ipynb"))
    if notebooks:
        return datetime.fromtimestamp(max(p.stat().st_mtime for p in notebooks), UTC)
    return None


def _history_name(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H-%M-%S.%fZ")


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", name)[-120:] or "file"


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
class Submission:
    """The files of one student's assignment from one source, at one time."""

    student: str
    assignment: str
    timestamp: datetime
    notebooks: list[tuple[SourceFile, Target]] = field(default_factory=list)
    extras: list[tuple[SourceFile, Target]] = field(default_factory=list)

    def files(self) -> dict[str, bytes]:
        """The submission's files as they are written.

        Returns
        -------
        dict
            File name in the assignment folder -> bytes.
        """
        files = {f"{t.notebook}.ipynb": e.data for e, t in self.notebooks}
        files |= {t.extra: e.data for e, t in self.extras}
        return files


class Collector:
    """Writes one collect's files into the course and records each outcome in its report.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    report : CollectReport
        Where each collected, kept, quarantined or skipped file is listed.
    """

    def __init__(self, paths: CoursePaths, report: CollectReport):
        self.paths = paths
        self.report = report
        self.collected_at = datetime.now(UTC)

    def quarantine(self, entry: SourceFile, target: Target, code: str, reason: str) -> None:
        """Copy a file into ``build/quarantine/`` with its reason and a ledger line.

        Parameters
        ----------
        entry : grading.base.sources.SourceFile
            The file.
        target : Target
            Whose and which assignment, as far as known.
        code, reason : str
            Why, as a code and in words.
        """
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
        """Keep a submission in the history (once: an identical copy is not repeated).

        Parameters
        ----------
        files : dict
            File name -> bytes.
        timestamp : datetime.datetime
            The submission's time, which names its folder.
        target : Submission or Target
            Whose and which assignment.

        Returns
        -------
        pathlib.Path
            The history folder that holds it.
        """
        base = history_folder(self.paths) / target.student / target.assignment
        folder, number = base / _history_name(timestamp), 1
        while folder.exists():
            if _folder_files(folder) == files:
                return folder
            number += 1
            folder = base / f"{_history_name(timestamp)}-{number}"
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder

    def offer(self, submission: Submission) -> None:
        """Collect a submission unless the collected one is identical or newer.

        Parameters
        ----------
        submission : Submission
            One student's files of one assignment, at one time.
        """
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

    def _log(self, submission: Submission, timestamp: datetime) -> None:
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
