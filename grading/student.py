"""A student's working copies: released assignments copied where ``cnnlab lab`` opens them.

``build/student/<assignment>/`` is the student's folder. :func:`prepare_student_folder`
copies a release (or the kit's copy of it) there without overwriting anything, so a
student's work survives a new release; :func:`student_copies` does that from the kit, as
students get it, for ``cnnlab lab`` (the student mode, its default).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from grading.kit import build_kit, kit_folder, print_kit
from grading.paths import CoursePaths

__all__ = [
    "STUDENT_DIR_NAME",
    "StudentCopy",
    "prepare_student_folder",
    "student_copies",
    "student_folder",
]


#: Where students work: ``build/student/<assignment>/``.
STUDENT_DIR_NAME = "student"


@dataclass(frozen=True)
class StudentCopy:
    """A student's working copy of one released assignment.

    Attributes
    ----------
    assignment : str
        The assignment, e.g. ``"02_mnist"``.
    folder : pathlib.Path
        ``build/student/<assignment>/``.
    notebooks : tuple of pathlib.Path
        The notebooks in the working copy, sorted.
    copied : tuple of pathlib.Path
        Files copied from the release this time (missing from the working copy before).
    kept : tuple of pathlib.Path
        Files the working copy already had; left untouched, whatever the release holds.
    released_now : bool
        Whether the assignment had to be released first.
    """

    assignment: str
    folder: Path
    notebooks: tuple[Path, ...]
    copied: tuple[Path, ...]
    kept: tuple[Path, ...]
    released_now: bool = False


def student_folder(paths: CoursePaths, assignment: str | None = None) -> Path:
    """Where students work on the released assignments.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str, optional
        One assignment; default the folder holding all of them.

    Returns
    -------
    pathlib.Path
        ``build/student/`` or ``build/student/<assignment>/``.
    """
    folder = paths.build / STUDENT_DIR_NAME
    return folder / assignment if assignment else folder


def prepare_student_folder(
    paths: CoursePaths,
    assignment: str,
    *,
    release_if_missing: bool = True,
    source: Path | None = None,
) -> StudentCopy:
    """Copy a released assignment into the student's working folder, overwriting nothing.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignment : str
        The assignment, e.g. ``"02_mnist"``.
    release_if_missing : bool, default=True
        Release the assignment first (:func:`grading.release.release_assignments`) when
        ``build/release/<assignment>/`` does not exist; if False, that is an error.
    source : pathlib.Path, optional
        Copy from this folder instead of the release (the kit's ``build/kit/<assignment>/``).

    Returns
    -------
    StudentCopy
        The working copy and what was copied or kept.

    Raises
    ------
    FileNotFoundError
        If the assignment is not released and ``release_if_missing`` is False, or the course
        has no such source assignment to release (the message lists those it has).
    """
    release = Path(source) if source is not None else paths.release / assignment
    released_now = False
    if source is None and not release.is_dir():
        if not release_if_missing:
            raise FileNotFoundError(
                f"Assignment {assignment!r} is not released ({release} does not exist): "
                f"run `cnnlab release {assignment}` first."
            )
        from grading.release import release_assignments, select_assignments

        try:
            select_assignments(paths, [assignment])
        except ValueError as error:
            raise FileNotFoundError(str(error)) from None
        release_assignments(paths, [assignment])
        released_now = True
    folder = student_folder(paths, assignment)
    copied, kept = [], []
    for source in sorted(p for p in release.rglob("*") if p.is_file()):
        target = folder / source.relative_to(release)
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied.append(target)
    notebooks = tuple(
        sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    )
    return StudentCopy(assignment, folder, notebooks, tuple(copied), tuple(kept), released_now)


def student_copies(paths: CoursePaths, assignments: list[str]) -> list:
    """The student's working copies for ``cnnlab lab``: from the kit, as students get them.

    The kit is built first (:func:`grading.kit.build_kit`, every assignment) when it lacks one of
    ``assignments``. Each assignment's kit folder is copied into ``build/student/`` without
    overwriting anything (:func:`prepare_student_folder`), and the kit's
    ``nbgrader_config.py`` goes to ``build/student/``, where JupyterLab runs, so Validate
    reads the kit's settings as on a student's computer.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    assignments : list of str
        The assignments to work on.

    Returns
    -------
    list of StudentCopy
        One per assignment; ``released_now`` tells whether the kit was built for it.
    """
    folder = kit_folder(paths)
    built = not all((folder / name).is_dir() for name in assignments)
    if built:
        print_kit(build_kit(paths))
    student_folder(paths).mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "nbgrader_config.py", student_folder(paths) / "nbgrader_config.py")
    return [
        replace(prepare_student_folder(paths, name, source=folder / name), released_now=built)
        for name in assignments
    ]
