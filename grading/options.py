"""The options of the ``cnnlab`` commands whose modules are slow to import.

``cnnlab run --help`` must answer at once, but :mod:`grading.runner.run` imports nbformat,
:mod:`grading.runner.check` and :mod:`grading.feedback` import nbgrader, and :mod:`grading.course`
imports all of them. Their ``add_arguments`` live here, in a module that imports only the
standard library and :mod:`labcore.profile`, and each of those modules re-exports its own as
``add_arguments``. Commands whose modules are light (``collect``, ``data``, ``lab``,
``release``, ``gradebook``) keep theirs next to their ``main``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from labcore.profile import PROFILE_NAMES

__all__ = [
    "ARGUMENTS",
    "add_assignments_argument",
    "add_autograde_arguments",
    "add_check_arguments",
    "add_course_arguments",
    "add_feedback_arguments",
    "add_gradebook_option",
    "add_report_arguments",
    "add_run_arguments",
]


def add_assignments_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """Add the optional positional ``ASSIGNMENT ...`` that several commands take.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    default : str
        What the command works on when none is named, e.g. ``"all autograded"``.
    """
    parser.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help=f"assignments ({default})"
    )


def add_gradebook_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--db URL``, the gradebook every grading command reads or writes.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument(
        "--db",
        metavar="URL",
        help="gradebook: postgresql://USER@HOST/DB or sqlite:///FILE (build/gradebook.db)",
    )


def _add_timeout_option(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """Add ``--<name>-timeout S`` (dest ``<name>_timeout``), and ``--timeout``, its old spelling.

    ``--timeout`` meant seconds per notebook in ``run`` and per submission in ``autograde``;
    each command now names what it limits, and keeps ``--timeout`` as a hidden alias.
    """
    dest = f"{name}_timeout"
    parser.add_argument(f"--{name}-timeout", dest=dest, type=float, metavar="S", help=help_text)
    parser.add_argument("--timeout", dest=dest, type=float, help=argparse.SUPPRESS)


def _add_notebook_run_options(parser: argparse.ArgumentParser, default_profile: str) -> None:
    """``--profile``, ``-j/--jobs`` and ``--notebook-timeout``, shared by ``run`` and ``course``."""
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=default_profile,
        help=f"run profile (default: {default_profile})",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, help="notebooks run at once (default: 1)"
    )
    _add_timeout_option(
        parser,
        "notebook",
        "seconds per notebook, wall clock and per cell (default: no limit)",
    )


def _add_notebooks_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    """The positional ``NOTEBOOK ...`` of ``run`` and ``check``, found the same way by both
    (:func:`grading.paths.find_notebooks`)."""
    parser.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help=f"notebook files, folders or assignment names to {verb} "
        "(default: all source notebooks)",
    )


def add_course_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab course``."""
    _add_notebook_run_options(parser, "grade")
    parser.add_argument(
        "--submissions", default=None, help="folder or LMS zip of real submissions to grade too"
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="do not write and grade the demo class"
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab run``."""
    _add_notebooks_argument(parser, "run")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="papermill parameter; True/False/None, numbers and text as papermill's -p",
    )
    _add_notebook_run_options(parser, "full")
    parser.add_argument(
        "--output", default=None, help="folder for executed notebooks (default: build/executed)"
    )


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab check``."""
    _add_notebooks_argument(parser, "check")


def add_autograde_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab autograde``."""
    add_assignments_argument(parser, "all with submissions")
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, help="submissions at once (one per core)"
    )
    parser.add_argument(
        "--force", action="store_true", help="grade again what is graded already (same content)"
    )
    parser.add_argument(
        "--student", action="append", metavar="ID", help="only this student (repeatable)"
    )
    add_gradebook_option(parser)
    parser.add_argument(
        "--cell-timeout", type=float, metavar="S", help="seconds per cell (c.Execute.timeout)"
    )
    _add_timeout_option(
        parser, "submission", "seconds per submission, all its notebooks (wall clock)"
    )
    parser.add_argument("--memory-limit", type=int, metavar="MB", help="memory per kernel")
    parser.add_argument("--profile", choices=PROFILE_NAMES, help="labcore profile (grade)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    parser.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade without the bubblewrap sandbox (development only; recorded in every result)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a Dask cluster: tcp://HOST:PORT or a scheduler file (pip install "
        "-e '.[cluster]'; see docs/cluster.md)",
    )


def add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab feedback``."""
    add_assignments_argument(parser, "all autograded")
    add_gradebook_option(parser)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab report``."""
    add_gradebook_option(parser)


#: command -> its ``add_arguments``, for the commands whose modules are slow to import
ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "course": add_course_arguments,
    "run": add_run_arguments,
    "check": add_check_arguments,
    "autograde": add_autograde_arguments,
    "feedback": add_feedback_arguments,
    "report": add_report_arguments,
}
