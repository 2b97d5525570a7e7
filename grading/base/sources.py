"""Submission sources: the files of a folder or an LMS zip, read safely.

Symbolic links are never followed (in a folder, or stored in a zip): they come back with the
problem ``symlink``, and a zip path with ``..`` with ``unsafe_path``, for
:mod:`grading.collect` to quarantine.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from grading.errors import BadInput

__all__ = ["SourceFile", "is_system_file", "read_source"]

_SYSTEM_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
_SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class SourceFile:
    """One file of a submission source.

    Attributes
    ----------
    parts : tuple of str
        Its path inside the source.
    data : bytes
        Its bytes (a symbolic link's target text, never what it points at).
    modified : datetime.datetime
        Its time (UTC; a zip entry's time is read as UTC).
    label : str
        Where it came from, for messages: the path, or ``<zip>:<entry>``.
    problem : tuple of str or None
        ``(code, reason)`` when it must not be collected: ``symlink`` or ``unsafe_path``.
    """

    parts: tuple[str, ...]
    data: bytes
    modified: datetime
    label: str
    problem: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.parts[-1]


_SYMLINK = (
    "symlink",
    "a symbolic link, never followed (it may point at anyone's files); ask the student for "
    "the file itself",
)


def _folder_files(folder: Path) -> Iterator[SourceFile]:
    for top, folders, files in os.walk(folder, followlinks=False):
        folders.sort()
        here = Path(top)
        for name in sorted(files) + [f for f in folders if (here / f).is_symlink()]:
            path = here / name
            parts = path.relative_to(folder).parts
            info = path.lstat()
            modified = datetime.fromtimestamp(info.st_mtime, UTC)
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(path).encode("utf-8", "replace")
                yield SourceFile(parts, target, modified, str(path), _SYMLINK)
            elif stat.S_ISREG(info.st_mode):
                yield SourceFile(parts, path.read_bytes(), modified, str(path))


def _zip_files(archive: Path) -> Iterator[SourceFile]:
    try:
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if info.is_dir():
                    continue
                parts = tuple(p for p in PurePosixPath(info.filename).parts if p != "/")
                if not parts:
                    continue
                modified = datetime(*info.date_time, tzinfo=UTC)
                label = f"{archive.name}:{info.filename}"
                problem = None
                if stat.S_ISLNK(info.external_attr >> 16):
                    problem = _SYMLINK
                elif ".." in parts:
                    problem = (
                        "unsafe_path",
                        "its path climbs out of the archive with '..'; not unpacked",
                    )
                yield SourceFile(parts, handle.read(info), modified, label, problem)
    except zipfile.BadZipFile as error:
        raise BadInput(f"{archive} is not a readable zip file ({error}).") from error


def is_system_file(parts: tuple[str, ...]) -> bool:
    """Whether a path is an operating system's or an editor's file, not a submission.

    Parameters
    ----------
    parts : tuple of str
        The path inside the source.

    Returns
    -------
    bool
        True for ``__MACOSX``, ``.ipynb_checkpoints``, ``__pycache__``, ``.DS_Store``, ...
    """
    return parts[-1] in _SYSTEM_FILES or any(part in _SYSTEM_PARTS for part in parts)


def read_source(source: Path) -> list[SourceFile]:
    """Every file of a submission folder or zip, without following symbolic links.

    Parameters
    ----------
    source : pathlib.Path
        A folder or a ``.zip`` file.

    Returns
    -------
    list of SourceFile
        In path order; symbolic links and ``..`` paths come with their ``problem``.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If it is neither a folder nor a zip, or holds no files.
    """
    if not source.exists():
        raise FileNotFoundError(
            f"Submission source {source} does not exist: give a folder laid out "
            "<student>/<assignment>/<notebook>.ipynb or an LMS .zip download."
        )
    if source.is_dir():
        entries = list(_folder_files(source))
    elif zipfile.is_zipfile(source):
        entries = list(_zip_files(source))
    else:
        raise BadInput(f"{source} is neither a folder nor a zip file.")
    if not entries:
        raise BadInput(f"{source} holds no files: there is nothing to collect.")
    return entries
