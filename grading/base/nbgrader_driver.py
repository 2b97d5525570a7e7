"""Drive nbgrader for one course: its configuration, its converters, its errors.

Every ``cnnlab`` command that runs nbgrader loads ``grading/nbgrader_config.py`` through
:func:`load_nbgrader_config`, so timeouts, the ignore pattern and the folders are the same
from any working directory, and a command can point nbgrader at another course root or
gradebook than the one the config file finds on its own. :func:`run_converter` runs one
nbgrader step (generate_assignment, autograde, generate_feedback) and turns its failure into
an :class:`NbgraderError` that carries nbgrader's own error messages.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

from grading.errors import NbgraderError
from grading.paths import CoursePaths, course_selected

__all__ = [
    "CONFIG_FILE",
    "NbgraderError",
    "existing_gradebook_url",
    "load_nbgrader_config",
    "run_converter",
]

#: The one nbgrader configuration file of the course.
CONFIG_FILE = Path(__file__).resolve().parent.parent / "nbgrader_config.py"


def load_nbgrader_config(paths: CoursePaths, db_url: str | None = None) -> Config:
    """Load ``grading/nbgrader_config.py`` for one course.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course whose folders nbgrader works in (sources under ``paths.notebooks``,
        everything generated under ``paths.build``).
    db_url : str, optional
        Gradebook URL (an SQLAlchemy URL such as ``sqlite:////abs/gradebook.db`` or
        ``postgresql://...``); default the course's ``build/gradebook.db``.

    Returns
    -------
    traitlets.config.Config
        The configuration, with ``CourseDirectory.root``, ``source_directory`` and
        ``db_url`` set for this course; pass it as ``config=`` to nbgrader converters.
    """
    with course_selected(paths):  # what course_paths() answers in the config file
        loader = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent))
        config = loader.load_config()
    config.CourseDirectory.root = str(paths.build)
    config.CourseDirectory.source_directory = str(paths.notebooks)
    config.CourseDirectory.db_url = db_url or paths.gradebook_url
    return config


def _error_summary(log_text: str) -> list[str]:
    """nbgrader's error records, each traceback cut to its last line, without boilerplate."""
    boilerplate = ("Please see the", "There was an error processing assignment")
    messages = []
    for record in log_text.split("[ERROR] ")[1:]:
        lines = [line for line in record.strip().splitlines() if line.strip()]
        if not lines or "[WARNING]" in lines[0] or lines[0].startswith(boilerplate):
            continue
        message = lines[-1] if lines[0].startswith("Traceback") else " ".join(lines)
        messages.append(message.split("[WARNING]")[0].strip())
    return list(dict.fromkeys(messages))


def run_converter(
    converter_class: type,
    config: Config,
    *,
    assignment_id: str,
    student_id: str = ".",
    force: bool = True,
    **traits,
) -> str:
    """Run one nbgrader converter (a step such as ``GenerateAssignment``) for one assignment.

    Parameters
    ----------
    converter_class : type
        An ``nbgrader.converters`` class, e.g. ``GenerateAssignment`` or ``GenerateFeedback``.
    config : traitlets.config.Config
        From :func:`load_nbgrader_config`. Its gradebook must exist:
        :func:`grading.base.gradebook.open_gradebook` creates a new one (nbgrader alone needs
        the ``alembic`` program on ``PATH`` for that).
    assignment_id : str
        The assignment, e.g. ``"02_mnist"``.
    student_id : str, optional
        One student, ``"*"`` for all, or ``"."`` (default) for steps without students.
    force : bool, optional
        Overwrite earlier output (default True).
    **traits
        Further converter attributes, e.g. ``create_assignment=True``.

    Returns
    -------
    str
        What nbgrader logged (warnings and errors).

    Raises
    ------
    NbgraderError
        If the step fails; the message names the step, the assignment and the student, and
        holds nbgrader's error messages.
    """
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment_id
    coursedir.student_id = student_id
    log = logging.getLogger(f"grading.nbgrader.{converter_class.__name__}")
    log.propagate = False
    log.setLevel(logging.WARNING)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log.addHandler(handler)
    try:
        converter = converter_class(coursedir=coursedir, config=config, log=log)
        converter.force = force
        for name, value in traits.items():
            setattr(converter, name, value)
        converter.start()
    except Exception as error:
        messages = _error_summary(buffer.getvalue()) or [f"{type(error).__name__}: {error}"]
        who = "" if student_id == "." else f" of student {student_id!r}"
        raise NbgraderError(
            f"nbgrader {converter_class.__name__} failed for assignment {assignment_id!r}{who}:\n  "
            + "\n  ".join(messages)
        ) from error
    finally:
        log.removeHandler(handler)
    return buffer.getvalue()


def existing_gradebook_url(paths: CoursePaths, db_url: str | None = None) -> str:
    """The URL of a gradebook to read from, which must exist already.

    Parameters
    ----------
    paths : grading.paths.CoursePaths
        The course.
    db_url : str, optional
        Anything :func:`grading.base.gradebook.normalise_db_url` accepts (a URL or an SQLite file
        path); default the course's ``build/gradebook.db``.

    Returns
    -------
    str
        The normalised URL. Whether a database server answers is checked when the
        gradebook is opened (:func:`grading.base.gradebook.open_gradebook`).

    Raises
    ------
    FileNotFoundError
        If an SQLite gradebook file does not exist (reading would create an empty one).
    ValueError
        If the URL names a database the course does not support.
    """
    from sqlalchemy.engine import make_url

    from grading.base.gradebook import normalise_db_url

    url = normalise_db_url(db_url, paths)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise FileNotFoundError(
            f"No gradebook at {parsed.database}: run `cnnlab release` and `cnnlab autograde` "
            "first, or give the gradebook with --db."
        )
    return url
