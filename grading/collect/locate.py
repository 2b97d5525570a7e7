"""Which student, assignment and notebook a submitted file is, from its path alone.

:class:`Catalogue` holds the course's assignments, notebook names and other files and
places each path of a source (:meth:`Catalogue.locate`) in one of the layouts that
:mod:`grading.collect` documents, or says why it cannot: the ``code`` and ``reason`` a
quarantined file gets. :func:`notebook_problem` says why bytes are not a gradable notebook.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace

from grading.base.identities import Identity, lms_identity, student_name_problem
from grading.collect.outcomes import TIMESTAMP_FILE
from grading.paths import ASSIGNMENT_PATTERN, CoursePaths

__all__ = [
    "UNKNOWN_STUDENT",
    "Catalogue",
    "Target",
    "notebook_problem",
    "with_folder_files",
]

UNKNOWN_STUDENT = "_unknown_student"


def _student_id(raw: str) -> str:
    return re.sub(r"[^\w.@-]+", "-", raw.strip()).strip("-") or UNKNOWN_STUDENT


@dataclass
class Target:
    """Where an entry belongs, or why it belongs nowhere."""

    student: str
    assignment: str | None = None
    notebook: str | None = None
    code: str | None = None
    reason: str | None = None
    timestamp_file: bool = False
    identity: Identity | None = None
    extra: str | None = None  # a file kept with the submission: its name in the folder


class Catalogue:
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
        """The course's notebooks, per assignment, for a reason text.

        Returns
        -------
        str
            ``assignment: notebook.ipynb, ...; ...``.
        """
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

    def _target(self, identity: Identity, **fields) -> Target:
        student, problem = self._student(identity)
        if problem:
            fields |= {"code": "unsafe_student", "reason": problem + "; not collected"}
        return Target(student, identity=identity, **fields)

    def _nbgrader_index(self, parts: tuple[str, ...]) -> int | None:
        """Index of the assignment folder of ``<student>/<assignment>/<file...>``."""
        for index in range(1, len(parts) - 1):
            if parts[index] in self.notebooks:
                return index
        return None

    def locate(self, parts: tuple[str, ...]) -> Target:
        """Where a file of a source belongs, from its path.

        Parameters
        ----------
        parts : tuple of str
            The file's path in the source, folder by folder.

        Returns
        -------
        Target
            Student, assignment and notebook (or the extra file's name); or a ``code`` and
            ``reason`` when it belongs nowhere (``skip`` for files to leave out).
        """
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
            return Target(
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

    def _locate_lms(self, parts: tuple[str, ...]) -> Target | None:
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

    def _locate_nbgrader(self, parts: tuple[str, ...], index: int) -> Target:
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
            return Target(identity.raw, code="skip", reason="hidden file")
        return self._target(identity, assignment=assignment, extra=inside)


def notebook_problem(data: bytes) -> tuple[str, str] | None:
    """Say why these bytes are not a gradable notebook.

    Parameters
    ----------
    data : bytes
        A submitted file.

    Returns
    -------
    tuple of str or None
        ``(code, reason)`` as a quarantined file gets them (``empty``, ``not_json``,
        ``not_notebook``); ``None`` for a valid notebook.
    """
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


def with_folder_files(located: list) -> list:
    """Other files in a student's LMS folder (Moodle) belong to the notebook beside them.

    A folder counts as one student's when every notebook in it is named exactly as the
    course's notebook (``Jane Doe_123_assignsubmission_file_/ps1.ipynb``) and belongs to
    one student and assignment; the folder's unrecognised non-notebook files are kept with
    that submission instead of being quarantined.

    Parameters
    ----------
    located : list of (SourceFile, Target)
        Each file of a source with where :meth:`Catalogue.locate` put it.

    Returns
    -------
    list of (SourceFile, Target)
        The same files, those kept with a folder's notebook re-targeted as its extras.
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
