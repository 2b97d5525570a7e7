"""Where the course lives: the checkout root, its notebooks and everything generated.

Every ``cnnlab`` command and ``grading/nbgrader_config.py`` take their folders from
:func:`course_paths`, so the layout is written down once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ASSIGNMENT_PATTERN",
    "COURSE_FILE",
    "CoursePaths",
    "assignment_name_problem",
    "course_paths",
    "find_root",
]

#: Environment variable naming the course root (the folder holding ``notebooks/``).
ROOT_ENV = "CNNLAB_ROOT"
#: Environment variable moving everything generated out of ``<root>/build``.
BUILD_ENV = "CNNLAB_BUILD_DIR"
#: This course numbers its assignment folders (``01_cnn_theory``, ``02_mnist``, ...); other
#: courses may name theirs as nbgrader allows (:func:`assignment_name_problem`).
ASSIGNMENT_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")
#: The optional course file at the course root (:mod:`grading.settings`).
COURSE_FILE = "cnnlab.toml"
#: Folders under ``notebooks/`` that are never assignments.
_NOT_ASSIGNMENTS = {"__pycache__", "build", "release", "submitted", "autograded", "feedback"}
_UNSAFE_CHARACTERS = re.compile(
    r"[+/\\*?\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)


def assignment_name_problem(name: str) -> str | None:
    """Why a folder name cannot be an assignment, or ``None`` when nbgrader accepts it.

    Parameters
    ----------
    name : str
        A folder name under ``notebooks/`` (``"ps1"``, ``"02_mnist"``, ``"Week 3"``).

    Returns
    -------
    str or None
        What is wrong (nbgrader refuses ``+``; folders starting with ``.`` or ``_`` are
        hidden; path separators, wildcards, control and bidirectional characters, and
        leading or trailing spaces are refused), or ``None``.
    """
    if not name or name in (".", ".."):
        return "an empty name or a relative folder"
    if name.startswith((".", "_")) or name in _NOT_ASSIGNMENTS:
        return "a hidden or reserved folder"
    if name != name.strip():
        return "leading or trailing spaces (nbgrader strips them)"
    if _UNSAFE_CHARACTERS.search(name):
        return "a '+', path separator, wildcard, control or bidirectional character"
    return None


def _is_root(folder: Path) -> bool:
    return (folder / "notebooks").is_dir() and (
        (folder / "pyproject.toml").is_file() or (folder / COURSE_FILE).is_file()
    )


def find_root(start: Path | None = None) -> Path:
    """Find the course root.

    Parameters
    ----------
    start : pathlib.Path, optional
        Where to start looking; default the current directory.

    Returns
    -------
    pathlib.Path
        ``CNNLAB_ROOT`` if set; else the nearest folder at or above ``start`` that holds
        ``notebooks/`` and ``pyproject.toml`` or ``cnnlab.toml``; else the checkout this
        package sits in.

    Raises
    ------
    FileNotFoundError
        If no course root can be found.
    """
    if os.environ.get(ROOT_ENV):
        root = Path(os.environ[ROOT_ENV]).expanduser().resolve()
        if not (root / "notebooks").is_dir():
            raise FileNotFoundError(f"{ROOT_ENV}={root} has no notebooks/ folder.")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_root(folder):
            return folder
    package_checkout = Path(__file__).resolve().parent.parent
    if _is_root(package_checkout):
        return package_checkout
    raise FileNotFoundError(
        f"No course found at or above {here}: run cnnlab inside a course folder (one with "
        f"notebooks/ and {COURSE_FILE}), give --course DIR, set {ROOT_ENV}, or create one "
        "with `cnnlab init DIR`."
    )


@dataclass(frozen=True)
class CoursePaths:
    """The folders of one course checkout.

    Attributes
    ----------
    root : pathlib.Path
        The checkout.
    notebooks : pathlib.Path
        nbgrader source assignments, ``notebooks/<assignment>/<notebook>.ipynb``.
    build : pathlib.Path
        Everything generated (git-ignored).
    """

    root: Path
    build: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def executed(self) -> Path:
        return self.build / "executed"

    @property
    def release(self) -> Path:
        return self.build / "release"

    @property
    def submitted(self) -> Path:
        return self.build / "submitted"

    @property
    def autograded(self) -> Path:
        return self.build / "autograded"

    @property
    def feedback(self) -> Path:
        return self.build / "feedback"

    @property
    def quarantine(self) -> Path:
        return self.build / "quarantine"

    @property
    def reports(self) -> Path:
        return self.build / "reports"

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.build / 'gradebook.db'}"

    def assignments(self) -> list[str]:
        """Names of the source assignments, in course order.

        Returns
        -------
        list of str
            Folder names under ``notebooks/`` that hold notebooks and that nbgrader accepts
            as assignment names (:func:`assignment_name_problem`), such as ``"02_mnist"`` or
            ``"ps1"``; sorted.
        """
        return sorted(
            p.name
            for p in self.notebooks.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and assignment_name_problem(p.name) is None
            and any(p.glob("*.ipynb"))
        )

    def source_notebooks(self, assignment: str | None = None) -> list[Path]:
        """Source notebooks of one assignment, or of all.

        Parameters
        ----------
        assignment : str, optional
            An assignment name; default all.

        Returns
        -------
        list of pathlib.Path
            The ``.ipynb`` files, in course order.
        """
        names = [assignment] if assignment else self.assignments()
        found = []
        for name in names:
            folder = self.notebooks / name
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"Unknown assignment {name!r}; the course has: {', '.join(self.assignments())}"
                )
            found.extend(sorted(folder.glob("*.ipynb")))
        return found


def course_paths(root: Path | None = None) -> CoursePaths:
    """The folders of the course at ``root`` (found with :func:`find_root` by default).

    Parameters
    ----------
    root : pathlib.Path, optional
        The checkout.

    Returns
    -------
    CoursePaths
        With ``build`` from ``CNNLAB_BUILD_DIR`` or ``<root>/build``.
    """
    root = Path(root).resolve() if root else find_root()
    build = (
        Path(os.environ[BUILD_ENV]).expanduser().resolve()
        if os.environ.get(BUILD_ENV)
        else (root / "build")
    )
    return CoursePaths(root=root, build=build)
