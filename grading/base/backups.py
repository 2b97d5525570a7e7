"""``cnnlab gradebook``: backups of the SQLite gradebook, and a way back.

Before every command that writes the gradebook (``release``, ``autograde``, ``lab
--instructor``, ``gradebook restore``), :func:`back_up` copies the SQLite file with
SQLite's online backup API (a consistent copy even while another process reads it) into
``backups/`` next to it, that is
``build/backups/`` for the course's ``build/gradebook.db``, and keeps the newest
:data:`KEEP_BACKUPS` copies. ``cnnlab gradebook backups`` lists them and ``cnnlab gradebook
restore [WHEN]`` puts one back.

:func:`check_sqlite_gradebook` tells a damaged or foreign file from a gradebook before
SQLAlchemy meets it, and names the latest backup in its error.

PostgreSQL gradebooks are not copied here: back them up with ``pg_dump`` (see
docs/instructors.md, "The gradebook and its backups").

This module imports only the standard library, so ``cnnlab gradebook`` starts at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from grading.errors import GradebookError, UsageError
from grading.options import add_gradebook_option
from grading.paths import normalise_db_url

__all__ = [
    "KEEP_BACKUPS",
    "Backup",
    "add_arguments",
    "back_up",
    "check_sqlite_gradebook",
    "list_backups",
    "main",
    "restore",
    "sqlite_gradebook_file",
]

#: How many backups of one gradebook are kept (``CNNLAB_KEEP_BACKUPS`` overrides).
KEEP_BACKUPS = 20
KEEP_ENV = "CNNLAB_KEEP_BACKUPS"
#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"
#: Tables that only a gradebook has: nbgrader's and ours.
GRADEBOOK_TABLES = {"assignment", "cnnlab_grading_log"}
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_BACKUP_NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}T\d{12}Z)-(?P<reason>[a-z-]+)\.db$")


@dataclass(frozen=True)
class Backup:
    """One backup file.

    Attributes
    ----------
    path : pathlib.Path
        The copy.
    taken_at : datetime.datetime
        When it was taken (UTC).
    reason : str
        The command it was taken before, e.g. ``"autograde"``.
    """

    path: Path
    taken_at: dt.datetime
    reason: str

    @property
    def label(self) -> str:
        """``2026-12-06 08:10:12 UTC, before autograde``."""
        return f"{self.taken_at:%Y-%m-%d %H:%M:%S} UTC, before {self.reason}"


def sqlite_gradebook_file(db_url: str | None = None, paths=None) -> Path | None:
    """The SQLite file of a gradebook URL, or ``None`` for a database server.

    Parameters
    ----------
    db_url : str, optional
        Anything :func:`grading.base.gradebook.normalise_db_url` accepts; default the course's.
    paths : grading.paths.CoursePaths, optional
        The course, for the default.

    Returns
    -------
    pathlib.Path or None
        The absolute file path for SQLite; ``None`` for PostgreSQL.
    """
    url = normalise_db_url(db_url, paths)
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def _backup_folder(gradebook: Path) -> Path:
    return gradebook.parent / "backups"


def list_backups(gradebook: Path) -> list[Backup]:
    """The backups of one gradebook file, oldest first.

    Parameters
    ----------
    gradebook : pathlib.Path
        The SQLite gradebook.

    Returns
    -------
    list of Backup
        From ``backups/`` next to it.
    """
    found = []
    folder = _backup_folder(gradebook)
    for path in folder.glob(f"{gradebook.stem}-*.db") if folder.is_dir() else []:
        match = _BACKUP_NAME.match(path.name)
        if match and match["stem"] == gradebook.stem:
            taken_at = dt.datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=dt.UTC)
            found.append(Backup(path=path, taken_at=taken_at, reason=match["reason"]))
    return sorted(found, key=lambda backup: backup.taken_at)


def _damage(gradebook: Path) -> str | None:
    """What is wrong with a gradebook file, or ``None`` when SQLite can use it."""
    with gradebook.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if not header:
        return None  # an empty file is an empty SQLite database
    if header != SQLITE_HEADER:
        return "it is not a SQLite database"
    try:
        connection = sqlite3.connect(f"{gradebook.as_uri()}?mode=ro", uri=True)
        try:
            (check,) = connection.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        return f"SQLite cannot read it ({error})"
    if check != "ok":
        return f"SQLite finds it damaged ({check})"
    if tables and not tables & GRADEBOOK_TABLES:
        return "it is a SQLite database without nbgrader's tables"
    return None


def check_sqlite_gradebook(gradebook: Path) -> None:
    """Refuse a file that is not a usable gradebook, pointing to the latest backup.

    Parameters
    ----------
    gradebook : pathlib.Path
        The SQLite gradebook; a file that does not exist yet is fine.

    Raises
    ------
    GradebookError
        If the file is not a SQLite database, is damaged, or holds another application's
        tables. The one-line message names the file and the fix.
    """
    if not gradebook.is_file():
        return
    damage = _damage(gradebook)
    if damage is None:
        return
    backups = list_backups(gradebook)
    if backups:
        db_option = "" if gradebook.name == "gradebook.db" else f" --db {gradebook}"
        fix = (
            f"restore the latest backup ({backups[-1].label}) with "
            f"`cnnlab gradebook restore{db_option}`"
        )
    else:
        fix = (
            f"there is no backup in {_backup_folder(gradebook)}: restore the file from your own "
            "copy, or move it away to start an empty gradebook"
        )
    raise GradebookError(f"{gradebook} is not a usable gradebook: {damage}; {fix}.")


def _copy(source: Path, target: Path) -> None:
    """Copy one SQLite database into another with SQLite's online backup API."""
    reader = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()


def _content(path: Path) -> bytes:
    """The file's bytes without the header's counters (a backup copy sets its own)."""
    data = bytearray(path.read_bytes())
    for start in (24, 40, 92):  # file change counter, schema cookie, version-valid-for
        data[start : start + 4] = b"\0\0\0\0"
    return bytes(data)


def _same_content(first: Path, second: Path) -> bool:
    return first.stat().st_size == second.stat().st_size and _content(first) == _content(second)


def _keep() -> int:
    value = os.environ.get(KEEP_ENV, "")
    return max(1, int(value)) if value.isdigit() else KEEP_BACKUPS


def back_up(gradebook: Path, reason: str, *, keep: int | None = None) -> Backup | None:
    """Copy a SQLite gradebook into its ``backups/`` folder, keeping the newest ``keep``.

    Parameters
    ----------
    gradebook : pathlib.Path
        The gradebook file.
    reason : str
        The command about to write it (lower case letters and ``-``).
    keep : int, optional
        How many backups to keep; default :data:`KEEP_BACKUPS` or ``CNNLAB_KEEP_BACKUPS``.

    Returns
    -------
    Backup or None
        The new backup (the newest one when the gradebook has not changed since); ``None``
        when there is no gradebook (or an empty one) yet.

    Raises
    ------
    GradebookError
        If the gradebook is damaged (it is not copied: that would push good backups out).
    """
    if not gradebook.is_file() or gradebook.stat().st_size == 0:
        return None
    check_sqlite_gradebook(gradebook)
    existing = list_backups(gradebook)
    if existing and _same_content(existing[-1].path, gradebook):
        return existing[-1]  # unchanged since: a new copy would only push older ones out
    folder = _backup_folder(gradebook)
    folder.mkdir(parents=True, exist_ok=True)
    taken_at = dt.datetime.now(dt.UTC)
    target = folder / f"{gradebook.stem}-{taken_at.strftime(_STAMP_FORMAT)}-{reason}.db"
    partial = target.with_suffix(".partial")
    _copy(gradebook, partial)
    partial.replace(target)
    for old in list_backups(gradebook)[: -(keep or _keep())]:
        old.path.unlink(missing_ok=True)
    return Backup(path=target, taken_at=taken_at, reason=reason)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9TZ]", "", text.upper().replace(" ", "T"))


def find_backup(gradebook: Path, when: str | None = None) -> Backup:
    """The backup a user named: the newest, or the newest taken at ``when``.

    Parameters
    ----------
    gradebook : pathlib.Path
        The gradebook file.
    when : str, optional
        A time as listed by ``cnnlab gradebook backups``, or its start
        (``2026-12-06``, ``2026-12-06 08:10``), or a backup file; default the newest.

    Returns
    -------
    Backup

    Raises
    ------
    UsageError
        If there is no backup, or none matches ``when``.
    """
    backups = list_backups(gradebook)
    if not backups:
        raise UsageError(f"No backups of {gradebook} in {_backup_folder(gradebook)}.")
    if not when or when.lower() in ("latest", "newest"):
        return backups[-1]
    wanted = _compact(when)
    matching = [
        b
        for b in backups
        if b.path.name == Path(when).name
        or (wanted and _compact(f"{b.taken_at:%Y-%m-%dT%H:%M:%S.%f}").startswith(wanted))
    ]
    if not matching:
        raise UsageError(
            f"No backup of {gradebook} taken at {when!r}; `cnnlab gradebook backups` lists "
            f"them (newest: {backups[-1].taken_at:%Y-%m-%d %H:%M:%S})."
        )
    return matching[-1]


def restore(gradebook: Path, when: str | None = None) -> tuple[Backup, Path | None]:
    """Put a backup back in place of the gradebook.

    The current gradebook is backed up first (reason ``restore``); a damaged one is moved
    aside as ``<name>.damaged-<time>`` instead.

    Parameters
    ----------
    gradebook : pathlib.Path
        The gradebook file.
    when : str, optional
        Which backup (see :func:`find_backup`); default the newest.

    Returns
    -------
    tuple
        The backup restored, and where the damaged file was moved (or ``None``).
    """
    backup = find_backup(gradebook, when)
    moved_aside = None
    if gradebook.is_file():
        try:
            back_up(gradebook, "restore", keep=max(_keep(), len(list_backups(gradebook)) + 1))
        except GradebookError:
            stamp = dt.datetime.now(dt.UTC).strftime(_STAMP_FORMAT)
            moved_aside = gradebook.with_name(f"{gradebook.name}.damaged-{stamp}")
            gradebook.replace(moved_aside)
    partial = gradebook.with_name(f"{gradebook.name}.restoring")
    partial.unlink(missing_ok=True)
    _copy(backup.path, partial)
    partial.replace(gradebook)
    return backup, moved_aside


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the actions of ``cnnlab gradebook``: ``backups`` and ``restore [WHEN]``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "backups", help="list the gradebook's backups", description="list the backups"
    )
    add_gradebook_option(listing)
    back = actions.add_parser(
        "restore",
        help="put a backup back (the newest by default)",
        description="put a backup back; the current gradebook is backed up first",
    )
    back.add_argument(
        "when", nargs="?", metavar="WHEN", help="the backup's time, or its start (newest)"
    )
    add_gradebook_option(back)


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab gradebook backups`` or ``cnnlab gradebook restore``.

    Returns 0 on success.
    """
    gradebook = sqlite_gradebook_file(args.db)
    if gradebook is None:
        raise UsageError(
            "Backups are for SQLite gradebooks; back up PostgreSQL with pg_dump "
            "(see docs/instructors.md)."
        )
    if args.action == "restore":
        backup, moved_aside = restore(gradebook, args.when)
        if moved_aside:
            print(f"moved the damaged gradebook aside: {moved_aside}")
        print(f"restored {gradebook} from {backup.path.name} ({backup.label})")
        return 0
    backups = list_backups(gradebook)
    if not backups:
        print(f"no backups of {gradebook} yet (taken before release, autograde and restore)")
    for backup in reversed(backups):
        size_kb = backup.path.stat().st_size / 1024
        print(f"{backup.taken_at:%Y-%m-%d %H:%M:%S}  before {backup.reason:10} {size_kb:8.0f} kB")
    if backups:
        print(f"in {_backup_folder(gradebook)}; restore one: cnnlab gradebook restore 'WHEN'")
    return 0
