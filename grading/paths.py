"""Where the course lives: the checkout root, its notebooks and everything generated.

Every ``cnnlab`` command and ``grading/nbgrader_config.py`` take their folders from
:func:`course_paths`, so the layout is written down once.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from grading.errors import BadInput, UnknownAssignment
from labcore.runtime import BUILD_DIR_ENV as BUILD_ENV

__all__ = [
    "ASSIGNMENT_PATTERN",
    "COURSE_FILE",
    "CoursePaths",
    "assignment_name_problem",
    "course_at",
    "course_paths",
    "course_selected",
    "find_notebooks",
    "find_root",
    "normalise_db_url",
    "select_assignments",
    "unknown_assignment",
]

#: Environment variable naming the course root (the folder holding ``notebooks/``).
ROOT_ENV = "CNNLAB_ROOT"
#: This course numbers its assignment folders (``01_cnn_theory``, ``02_mnist``, ...); other
#: courses may name theirs as nbgrader allows (:func:`assignment_name_problem`).
ASSIGNMENT_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")
#: The optional course file at the course root (:mod:`grading.base.settings`).
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
        return _course_folder(os.environ[ROOT_ENV], f"{ROOT_ENV}=")
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


def _course_folder(folder: str | Path, named_by: str) -> Path:
    """``folder`` resolved; it must hold ``notebooks/`` (``named_by`` says who named it)."""
    root = Path(folder).expanduser().resolve()
    if not (root / "notebooks").is_dir():
        raise FileNotFoundError(f"{named_by}{root} has no notebooks/ folder.")
    return root


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


#: The course :func:`course_selected` holds, in this thread (or asyncio task) only.
_SELECTED: ContextVar[CoursePaths | None] = ContextVar("cnnlab_course", default=None)


@contextlib.contextmanager
def course_selected(paths: CoursePaths) -> Iterator[CoursePaths]:
    """Make :func:`course_paths` answer ``paths`` inside the block, in this thread only.

    How :mod:`grading.base.nbgrader_driver` points ``grading/nbgrader_config.py`` at a course
    without changing ``os.environ``, which every thread of the process shares.

    Parameters
    ----------
    paths : CoursePaths
        The course.

    Yields
    ------
    CoursePaths
        ``paths``.
    """
    token = _SELECTED.set(paths)
    try:
        yield paths
    finally:
        _SELECTED.reset(token)


def course_paths(root: Path | None = None) -> CoursePaths:
    """The folders of the course at ``root`` (found with :func:`find_root` by default).

    Parameters
    ----------
    root : pathlib.Path, optional
        The checkout.

    Returns
    -------
    CoursePaths
        Inside :func:`course_selected` (and without ``root``), the course it holds; else
        with ``build`` from ``CNNLAB_BUILD_DIR`` or ``<root>/build``.
    """
    selected = _SELECTED.get()
    if root is None and selected is not None:
        return selected
    root = Path(root).resolve() if root else find_root()
    build = (
        Path(os.environ[BUILD_ENV]).expanduser().resolve()
        if os.environ.get(BUILD_ENV)
        else (root / "build")
    )
    return CoursePaths(root=root, build=build)


def course_at(folder: str | Path, named_by: str = "") -> CoursePaths:
    """The course in ``folder``, checked: what ``cnnlab --course DIR`` selects.

    Parameters
    ----------
    folder : str or pathlib.Path
        The course folder (``~`` expanded, made absolute).
    named_by : str, optional
        Who named it, for the error message, e.g. ``"--course "``.

    Returns
    -------
    CoursePaths
        As :func:`course_paths` gives for that root.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``notebooks/`` folder.
    """
    return course_paths(_course_folder(folder, named_by))


def unknown_assignment(
    name: str, known: list[str], what: str = "Unknown assignment"
) -> UnknownAssignment:
    """The error for a name the course has no assignment of, naming the closest one.

    Parameters
    ----------
    name : str
        What was asked for.
    known : list of str
        The course's assignments.
    what : str
        How the message starts.

    Returns
    -------
    grading.errors.UnknownAssignment
        For example ``Unknown assignment '02_mnst'; did you mean 02_mnist? the course has:
        01_cnn_theory, 02_mnist.``
    """
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    return UnknownAssignment(
        f"{what} {name!r}; {hint}the course has: {', '.join(known) or 'none'}."
    )


def select_assignments(paths: CoursePaths, names: Iterable[str] | None = None) -> list[str]:
    """The course's source assignments by name: the one place names are checked.

    Parameters
    ----------
    paths : CoursePaths
        The course.
    names : iterable of str, optional
        Names such as ``["02_mnist"]``; default every source assignment.

    Returns
    -------
    list of str
        The names, in course order, each once.

    Raises
    ------
    FileNotFoundError
        If the course has no source assignments.
    grading.errors.UnknownAssignment
        For a name that is not a source assignment (a ``ValueError`` too).
    """
    available = paths.assignments() if paths.notebooks.is_dir() else []
    if not available:
        raise FileNotFoundError(
            f"No source assignments in {paths.notebooks}: expected "
            "notebooks/<NN_name>/<notebook>.ipynb (for example notebooks/02_mnist/mnist_cnn.ipynb)."
        )
    names = list(names or [])
    for name in names:
        if name not in available:
            raise unknown_assignment(name, available)
    return [name for name in available if name in names] if names else available


def _notebooks_in(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]


def find_notebooks(
    names: Iterable[str | Path] | None = None, paths: CoursePaths | None = None
) -> list[Path]:
    """Notebook files from notebook paths, folders and assignment names (``run``, ``check``).

    Parameters
    ----------
    names : iterable of str or pathlib.Path, optional
        ``.ipynb`` files; folders (every notebook under them, checkpoints skipped); or
        assignment names such as ``"02_mnist"`` (its source notebooks). Default: every
        source notebook of the course.
    paths : CoursePaths, optional
        The course, for assignment names and the default; :func:`course_paths` when needed.

    Returns
    -------
    list of pathlib.Path
        Absolute notebook paths, each once, in the order given.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist, a folder without notebooks, a course without any,
        or a file that is not a notebook.
    grading.errors.UnknownAssignment
        For a name that is neither a path nor an assignment (the message lists the
        assignments).
    """
    names = list(names or [])
    found: list[Path] = []
    if not names:
        paths = paths or course_paths()
        found = paths.source_notebooks() if paths.notebooks.is_dir() else []
        if not found:
            raise FileNotFoundError(
                f"No notebooks found under {paths.notebooks}: the course's source notebooks "
                "live in notebooks/<NN_assignment>/<name>.ipynb."
            )
    for name in names:
        candidate = Path(name).expanduser()
        if candidate.is_dir():
            notebooks = _notebooks_in(candidate)
            if not notebooks:
                raise FileNotFoundError(f"{candidate} holds no .ipynb notebooks.")
            found.extend(notebooks)
        elif candidate.is_file():
            if candidate.suffix != ".ipynb":
                raise FileNotFoundError(f"{candidate} is not a notebook (.ipynb file).")
            found.append(candidate)
        elif candidate.suffix == ".ipynb" or len(candidate.parts) > 1:
            raise FileNotFoundError(f"{candidate} is neither a notebook nor a folder.")
        else:
            paths = paths or course_paths()
            known = paths.assignments() if paths.notebooks.is_dir() else []
            if str(name) not in known:
                raise unknown_assignment(
                    str(name), known, "No notebook file, folder or assignment named"
                )
            found.extend(paths.source_notebooks(str(name)))
    return list(dict.fromkeys(path.resolve() for path in found))


def normalise_db_url(url: str | None, paths: CoursePaths | None = None) -> str:
    """Turn what a user typed after ``--db`` into a SQLAlchemy URL.

    Parameters
    ----------
    url : str or None
        ``None`` or ``""`` for the course default (SQLite ``build/gradebook.db``); a
        ``postgresql://`` or ``postgres://`` URL (normalised to the psycopg 3 driver,
        ``postgresql+psycopg://``); any other SQLAlchemy URL; or a plain file path, taken
        as a SQLite file.
    paths : grading.paths.CoursePaths, optional
        The course (for the default); found from the working directory when omitted.

    Returns
    -------
    str
        A URL SQLAlchemy can open. SQLite paths are absolute, so the URL means the same
        file whichever directory nbgrader changes into.

    Raises
    ------
    ValueError
        If the URL names a database kind the course does not support.

    Examples
    --------
    >>> normalise_db_url("postgresql://grader@db.example.org/course")
    'postgresql+psycopg://grader@db.example.org/course'
    """
    if not url:
        return (paths or course_paths()).gradebook_url
    url = url.strip()
    if "://" not in url:  # a file path
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme == "sqlite":
        if rest in ("", "/", "/:memory:"):
            raise BadInput(
                f"--db {url}: an in-memory SQLite gradebook would vanish when cnnlab exits; "
                "give a file, e.g. sqlite:///build/gradebook.db"
            )
        path = rest[1:] if rest.startswith("/") else rest
        return f"sqlite:///{Path(path).expanduser().resolve()}"
    raise BadInput(
        f"--db {url}: unsupported database {scheme!r}; use a SQLite file "
        "(sqlite:///path/to/gradebook.db) or PostgreSQL (postgresql://user@host/database)."
    )
