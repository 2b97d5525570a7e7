"""The ``cnnlab`` command: one subcommand per job, each a thin layer over a Python API.

Each subcommand lives in its own module, which defines ``add_arguments(parser)`` (adds
the subcommand's options to its ``argparse.ArgumentParser``) and ``main(args) -> int``
(takes the parsed ``argparse.Namespace``, returns the exit status) next to the functions
that do the work; their docstrings say only what is particular to the command. Modules
that are slow to import keep their options in :mod:`grading.options`. A command's module
is imported only once its arguments parsed and the assignments it names exist, so
``--help``, a mistyped option (answered with the closest one) and an unknown assignment
answer at once.

A command's ``main`` calls the API and prints the result; it does not catch errors. This
module reports them for every command the same way: ``cnnlab <command>: <message>`` on
stderr and the exit status of :func:`grading.errors.exit_status` (1 when the job failed, 2
for bad input). ``cnnlab --debug <command>`` shows the traceback instead.

Before a command that writes the gradebook, a SQLite gradebook is backed up
(:mod:`grading.base.backups`).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import re
import sys
from pathlib import Path

from grading.errors import EXIT_FAILED, EXIT_USAGE, exit_status, missing_extra, one_line
from grading.options import ARGUMENTS

__all__ = ["COMMANDS", "build_parser", "main"]

# subcommand -> (module, one-line help), in the order an instructor meets them
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("grading.init", "start a new course: course file and an example assignment"),
    "course": ("grading.course", "run the whole course end to end: run, release, grade, report"),
    "run": ("grading.runner.run", "execute notebooks headless with papermill and summarise"),
    "check": (
        "grading.runner.check",
        "check committed notebooks: no outputs, parameters, metadata",
    ),
    "data": ("grading.runner.data", "show where each dataset file resolves (no download)"),
    "release": ("grading.release", "generate student versions and prove nothing leaked"),
    "kit": ("grading.kit", "write the student kit: released notebooks and labcore, no grader"),
    "roster": ("grading.base.roster", "import the class roster (nbgrader columns or Canvas CSV)"),
    "collect": ("grading.collect", "import submissions from a folder or an LMS zip"),
    "autograde": ("grading.autograde.run", "grade submissions in parallel, sandboxed, resumable"),
    "feedback": ("grading.feedback", "write per-student HTML feedback without hidden tests"),
    "export": ("grading.export", "write the grades as CSV for an LMS"),
    "report": ("grading.report", "write an HTML report with plots and problem submissions"),
    "lab": ("grading.lab", "start JupyterLab with the course's nbgrader configuration"),
    "gradebook": ("grading.base.backups", "list the gradebook's backups or restore one"),
}
#: Commands that write the gradebook: a SQLite gradebook is backed up before they run
#: (``lab`` in instructor mode: formgrader records manual grades).
WRITES_GRADEBOOK = ("release", "autograde", "lab")


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors show its own usage and the closest valid name."""

    def error(self, message: str):
        """Print the usage, the error and the closest valid name; exit with status 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{self._closest(message)}\n")

    def _closest(self, message: str) -> str:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            typed, valid = choice[1], re.findall(r"'([^']*)'", choice[2])
        else:
            unknown = re.search(r"unrecognized arguments: (.*)", message)
            typed = next((a for a in (unknown[1].split() if unknown else []) if a[:1] == "-"), "")
            typed = typed.split("=", 1)[0]
            valid = [o for action in self._actions for o in action.option_strings]
        close = difflib.get_close_matches(typed, valid, n=1, cutoff=0.6) if typed else []
        return f" (did you mean {close[0]}?)" if close else ""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Parameters
    ----------
    only : str, optional
        Configure only this subcommand's options (the others get a bare parser, enough for
        ``cnnlab --help``). Its module is imported only when it is light: the options of
        slow modules are in :mod:`grading.options`.

    Returns
    -------
    argparse.ArgumentParser
        The ``cnnlab`` parser.
    """
    parser = CommandParser(
        prog="cnnlab",
        description="CNN Lab: run, release and grade the course notebooks.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--course", metavar="DIR", help="the course folder (CNNLAB_ROOT, else .)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        if only == name:
            add_arguments = (
                ARGUMENTS.get(name) or importlib.import_module(module_name).add_arguments
            )
            add_arguments(sub)
    return parser


def check_names(args: argparse.Namespace) -> None:
    """Refuse an assignment the course does not have before the command's module loads.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments: ``assignments`` (release, autograde, feedback), ``assignment``
        (lab) or ``notebooks`` (run, check; files and folders are left to the command).

    Raises
    ------
    grading.errors.UnknownAssignment
        For an unknown assignment, naming the closest one. Names that have submissions
        are left to ``autograde``, which says what is missing.
    FileNotFoundError
        For a notebook path that does not exist (:func:`grading.paths.find_notebooks`).
    """
    names = list(getattr(args, "assignments", None) or [])
    names += [args.assignment] if getattr(args, "assignment", None) else []
    notebooks = [n for n in getattr(args, "notebooks", None) or [] if not Path(n).exists()]
    if not names and not notebooks:
        return
    from grading.paths import course_paths, find_notebooks, unknown_assignment

    try:
        paths = course_paths()
        known = paths.assignments()
    except (FileNotFoundError, OSError):  # no course here: the command says so itself
        return
    for name in names:
        if name not in known and not any(paths.submitted.glob(f"*/{name}")):
            raise unknown_assignment(name, known)
    find_notebooks(notebooks, paths)  # what is not a path must be an assignment


def _back_up_gradebook(args: argparse.Namespace) -> None:
    """Back up a SQLite gradebook before a command that writes it."""
    if args.command not in WRITES_GRADEBOOK or getattr(args, "mode", "instructor") != "instructor":
        return
    from grading.base import backups

    gradebook = backups.sqlite_gradebook_file(getattr(args, "db", None))
    if gradebook is not None:
        backups.back_up(gradebook, args.command)


def _run(args: argparse.Namespace) -> int:
    check_names(args)
    _back_up_gradebook(args)
    # an option may hand the command to another module's function ("module:function")
    module_name, _, function = (
        getattr(args, "handler", None) or f"{COMMANDS[args.command][0]}:main"
    ).partition(":")
    return int(getattr(importlib.import_module(module_name), function)(args) or 0)


def console() -> int:
    """The ``cnnlab`` program: the console script, and ``python -m grading.cli``.

    :func:`main` in a process of its own, which keeps jsonschema from building the IRI
    grammar no notebook schema uses
    (:func:`~grading.autograde.processes.skip_unused_iri_grammar`): measured on
    ``cnnlab autograde``, 0.7 s to import it and 0.4 s to tear it down at exit.

    Returns
    -------
    int
        The exit status (see :func:`main`).
    """
    from grading.autograde.processes import skip_unused_iri_grammar

    skip_unused_iri_grammar()
    return main()


def main(argv: list[str] | None = None) -> int:
    """Run a ``cnnlab`` command (the program is :func:`console`).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the job failed, 2 for bad input, 130 when
        interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    argv, course = _take_course(argv)
    return _main(argv, course)


def _take_course(argv: list[str]) -> tuple[list[str], str | None]:
    """Take ``--course DIR`` out of the arguments (it may come before or after the command)."""
    rest, course, index = [], None, 0
    while index < len(argv):
        if argv[index] == "--course" and index + 1 < len(argv):
            course, index = argv[index + 1], index + 2
            continue
        if argv[index].startswith("--course="):
            course = argv[index].split("=", 1)[1]
        else:
            rest.append(argv[index])
        index += 1
    return rest, course


def _course(folder: str | None) -> contextlib.AbstractContextManager:
    """What ``--course DIR`` selects: the course :func:`grading.paths.course_paths` answers.

    Selected with :func:`grading.paths.course_selected`, in this thread, not by setting
    ``CNNLAB_ROOT``: ``os.environ`` is shared by every thread and inherited by every child
    process, and each command passes its course on as an argument (or, to a child that
    needs it, in its ``env``).
    """
    if not folder:
        return contextlib.nullcontext()
    from grading.paths import course_at, course_selected

    return course_selected(course_at(folder, "--course "))


def _main(argv: list[str], course: str | None = None) -> int:
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if extras:  # report them with the subcommand's usage, not the top level's
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        with _course(course):
            return _run(args)
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        return _report(args.command, error)


def _report(command: str, error: Exception) -> int:
    """Print a command's error as one line (and what to do); return the exit status."""
    status, message = exit_status(error), str(error)
    extra = missing_extra(error)
    if extra:
        status, message = EXIT_USAGE, extra
    elif status is None:  # not an error of the input or the job: a bug, or a library's
        status = EXIT_FAILED
        message = (
            f"unexpected {type(error).__name__}: {one_line(error)}\n"
            f"cnnlab {command}: run `cnnlab --debug {command} ...` for the traceback, and "
            "report it if it looks like a bug in cnnlab"
        )
    print(f"cnnlab {command}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(console())
