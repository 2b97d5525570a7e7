"""What nbgrader makes of a source assignment, made once per grading run, as plain data.

:func:`build_template` runs nbgrader's ``generate_assignment`` on a copy of
``notebooks/<assignment>/`` in a private scratch course with a private SQLite gradebook, and
keeps everything grading a submission needs: the source notebooks, the released student
versions, the *reference* versions (the student version with the hidden tests and every
locked cell exactly as nbgrader restores them during autograding), the assignment's other
files and the gradebook file holding the assignment's definitions. An
:class:`AssignmentTemplate` is plain strings and bytes, so it pickles, and a worker on
another machine can grade with it and nothing else.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.paths import CoursePaths

__all__ = ["AssignmentTemplate", "build_template", "template_from_folder"]

#: Files nbgrader ignores in an assignment folder (``CourseDirectory.ignore``'s default).
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")


@dataclass(frozen=True)
class AssignmentTemplate:
    """One assignment as nbgrader sees it, ready to grade submissions against.

    Attributes
    ----------
    assignment : str
        Its name, e.g. ``"01_cnn_theory"``.
    source : dict
        Notebook name (without ``.ipynb``) -> instructor notebook (JSON text).
    release : dict
        Notebook name -> student version as released (JSON text).
    reference : dict
        Notebook name -> the version nbgrader executes: the release with every locked cell
        (setup, tests including hidden tests) as the gradebook stores it (JSON text).
    gradebook : bytes
        The private SQLite gradebook that ``generate_assignment`` filled.
    files : dict
        Other files of the assignment folder: relative path -> content.
    """

    assignment: str
    source: dict[str, str]
    release: dict[str, str]
    reference: dict[str, str]
    gradebook: bytes
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def notebook_names(self) -> list[str]:
        """The assignment's notebooks, sorted.

        Returns
        -------
        list of str
            Names without ``.ipynb``.
        """
        return sorted(self.reference)

    def notebook(self, kind: str, name: str) -> nbformat.NotebookNode:
        """One notebook of the template, parsed.

        Parameters
        ----------
        kind : str
            ``"source"``, ``"release"`` or ``"reference"``.
        name : str
            The notebook's name without ``.ipynb``.

        Returns
        -------
        nbformat.NotebookNode
            A fresh copy (safe to change).
        """
        if kind not in ("source", "release", "reference"):
            raise ValueError(f"kind must be source, release or reference, not {kind!r}")
        return nbformat.reads(getattr(self, kind)[name], as_version=4)

    def write_gradebook(self, path: Path) -> str:
        """Write the private gradebook to a file and return its URL.

        Parameters
        ----------
        path : pathlib.Path
            Where to write the SQLite file.

        Returns
        -------
        str
            ``sqlite:///<path>``.
        """
        path = Path(path)
        path.write_bytes(self.gradebook)
        return f"sqlite:///{path.resolve()}"


def _ignored(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in IGNORED)


def _assignment_files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix != ".ipynb" and not _ignored(path.relative_to(folder))
    }


def template_from_folder(folder: Path, assignment: str, paths: CoursePaths) -> AssignmentTemplate:
    """Build the template of the source assignment in ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        A folder of nbgrader source notebooks (and other files).
    assignment : str
        The name to give the assignment in the gradebook.
    paths : grading.paths.CoursePaths
        The course (for ``grading/nbgrader_config.py``).

    Returns
    -------
    AssignmentTemplate
        The assignment as nbgrader sees it.

    Raises
    ------
    FileNotFoundError
        If the folder holds no notebook.
    grading.base.nbgrader_driver.NbgraderError
        If ``generate_assignment`` fails (invalid nbgrader metadata, ...).
    """
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment

    from grading.base.gradebook import COURSE_ID, create_gradebook
    from grading.base.nbgrader_driver import load_nbgrader_config, run_converter

    folder = Path(folder)
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not _ignored(p.relative_to(folder)))
    if not notebooks:
        raise FileNotFoundError(
            f"No source notebooks in {folder}: the assignment {assignment!r} has no source to "
            "grade against."
        )
    with tempfile.TemporaryDirectory(prefix="cnnlab-template-") as scratch:
        course = Path(scratch)
        ignore = shutil.ignore_patterns(*IGNORED)
        shutil.copytree(folder, course / "source" / assignment, ignore=ignore)
        db_url = f"sqlite:///{course / 'gradebook.db'}"
        config = load_nbgrader_config(paths, db_url=db_url)
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.course_id = COURSE_ID
        create_gradebook(db_url)
        run_converter(GenerateAssignment, config, assignment_id=assignment)

        release, reference = {}, {}
        with Gradebook(db_url, course_id=COURSE_ID) as gradebook:
            for path in notebooks:
                name = path.stem
                released = course / "release" / assignment / path.name
                release[name] = released.read_text()
                stored = gradebook.find_notebook(name, assignment)
                cells = {cell.name: cell for cell in stored.source_cells}
                graded = nbformat.reads(release[name], as_version=4)
                for cell in graded.cells:
                    meta = cell.get("metadata", {}).get("nbgrader", {})
                    if meta.get("grade_id") in cells and not meta.get("solution"):
                        stored_cell = cells[meta["grade_id"]]
                        if stored_cell.locked:
                            cell.source = stored_cell.source
                            meta["checksum"] = stored_cell.checksum
                reference[name] = nbformat.writes(graded)
        return AssignmentTemplate(
            assignment=assignment,
            source={path.stem: path.read_text() for path in notebooks},
            release=release,
            reference=reference,
            gradebook=(course / "gradebook.db").read_bytes(),
            files=_assignment_files(folder),
        )


def build_template(paths: CoursePaths, assignment: str) -> AssignmentTemplate:
    """Build the template of one of the course's assignments (``notebooks/<assignment>/``).

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment's folder name.

    Returns
    -------
    AssignmentTemplate
        The assignment as nbgrader sees it.

    Raises
    ------
    FileNotFoundError
        If the course has no such assignment, or it has no notebook.
    """
    folder = paths.notebooks / assignment
    if not folder.is_dir():
        known = ", ".join(paths.assignments()) or "none"
        raise FileNotFoundError(
            f"Missing source for assignment {assignment!r}: no folder {folder}. "
            f"The course's assignments: {known}."
        )
    return template_from_folder(folder, assignment, paths)
