"""The ``cnnlab`` command: one subcommand per job, each a thin layer over a Python API.

Each subcommand lives in its own module, which defines ``add_arguments(parser)`` and
``main(args) -> int`` next to the functions that do the work. Modules are imported only when
their subcommand runs, so ``cnnlab --help`` is instant and no command pays for another's
imports.

A command's ``main`` calls the API and prints the result; it does not catch errors. This
module reports them for every command the same way: ``cnnlab <command>: <message>`` on
stderr and the exit status of :func:`grading.errors.exit_status` (1 when the job failed, 2
for bad input).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from grading.errors import exit_status

# subcommand -> (module, one-line help), in the order an instructor meets them
COMMANDS: dict[str, tuple[str, str]] = {
    "course": ("grading.course", "run the whole course end to end: run, release, grade, report"),
    "run": ("grading.execute", "execute notebooks headless with papermill and summarise"),
    "check": ("grading.hygiene", "check committed notebooks: no outputs, parameters, metadata"),
    "data": ("grading.datastatus", "show where each dataset file resolves (no download)"),
    "release": ("grading.release", "generate student versions and prove nothing leaked"),
    "collect": ("grading.collect", "import submissions from a folder or an LMS zip"),
    "autograde": ("grading.autograde", "grade submissions in parallel, sandboxed, resumable"),
    "feedback": ("grading.feedback", "write per-student HTML feedback without hidden tests"),
    "export": ("grading.export", "write the grades as CSV for an LMS"),
    "report": ("grading.report", "write an HTML report with plots and problem submissions"),
    "lab": ("grading.lab", "start JupyterLab with the course's nbgrader configuration"),
}


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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Parameters
    ----------
    only : str, optional
        Import and configure only this subcommand's module (the others get a bare parser,
        enough for ``--help``).

    Returns
    -------
    argparse.ArgumentParser
        The ``cnnlab`` parser.
    """
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description="CNN Lab: run, release and grade the course notebooks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if only == name:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cnnlab`` console script.

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
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        status = exit_status(error)
        if status is None:  # not an error of the input or the job: a bug, keep the traceback
            raise
        print(f"cnnlab {args.command}: {error}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
