"""The errors ``cnnlab`` commands report, and the exit status each one gives.

A command's ``main(args)`` calls its Python API and prints the result; it does not catch
errors. :func:`grading.cli.main` catches them once for every command, prints
``cnnlab <command>: <message>`` to stderr and exits with :func:`exit_status`:

- 1, :class:`CommandFailed`: the command was right but the job failed (nbgrader failed, the
  release leaked instructor-only text). Fix the course or run again.
- 2, :class:`UsageError` (:class:`BadInput` when the API also promised a ``ValueError``),
  ``FileNotFoundError`` and argparse's errors: bad input (an unknown assignment, a missing
  folder, an empty class, an unreachable gradebook). Fix the command.
- Anything else, a plain ``ValueError`` included, is not an error we raise on purpose: it
  is reported as unexpected (exit status 1), with a hint to run ``cnnlab --debug`` for the
  traceback, so that a bug never passes for bad input.

Each module's own error (:class:`grading.base.nbgrader_driver.NbgraderError`,
:class:`grading.release.ReleaseLeakError`, :class:`grading.base.gradebook.GradebookError`,
:class:`grading.autograde.run.AutogradeError`, :class:`grading.autograde.cluster.ClusterError`,
:class:`grading.autograde.cells.InvalidNotebook`) is defined here and re-exported there. Each
also keeps the built-in base it had (``RuntimeError`` or ``ValueError``), so code that catches
those still catches it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AutogradeError",
    "BadInput",
    "ClusterError",
    "CommandFailed",
    "GradebookError",
    "InvalidNotebook",
    "NbgraderError",
    "ReleaseLeakError",
    "UnknownAssignment",
    "UsageError",
    "exit_status",
    "missing_extra",
    "one_line",
]

#: Exit status of a command whose job failed.
EXIT_FAILED = 1
#: Exit status of a command given bad input.
EXIT_USAGE = 2
#: Optional packages -> the extra of this project that installs them (pyproject.toml).
EXTRAS = {
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "dask": "cluster",
    "distributed": "cluster",
    "jax": "jax",
    "grain": "jax",
}


class CommandFailed(Exception):
    """The command was given good input, but its job failed (exit status 1)."""


class UsageError(Exception):
    """The command cannot do what it was asked: bad input, fix the command (exit status 2)."""


class NbgraderError(CommandFailed, RuntimeError):
    """An nbgrader step failed; the message holds what nbgrader logged as errors."""


class ReleaseLeakError(CommandFailed, RuntimeError):
    """The release scan found instructor-only text in what students would receive.

    Parameters
    ----------
    leaks : list of grading.base.leaks.Leak
        Every leak found.
    removed : list of pathlib.Path, optional
        The leaking release folders that were removed.

    Attributes
    ----------
    leaks : list of grading.base.leaks.Leak
        Every leak found.
    """

    def __init__(self, leaks: list, removed: list[Path] | None = None):
        self.leaks = list(leaks)
        lines = [f"The release leaks instructor-only text ({len(self.leaks)} found):"]
        lines += [f"  {leak}" for leak in self.leaks]
        if removed:
            lines.append("Removed the leaking release folder(s): " + ", ".join(map(str, removed)))
        lines.append(
            "Fix the source notebook: keep solutions between ### BEGIN SOLUTION / "
            "### END SOLUTION and hidden tests between ### BEGIN HIDDEN TESTS / "
            "### END HIDDEN TESTS, and do not repeat their lines in other cells."
        )
        super().__init__("\n".join(lines))


class GradebookError(UsageError, RuntimeError):
    """The gradebook database cannot be used (unreachable, or its content conflicts)."""


class AutogradeError(UsageError, ValueError):
    """The class cannot be graded as asked (unknown assignment, empty class, missing source)."""


class ClusterError(AutogradeError):
    """The Dask cluster cannot grade: no Dask here, scheduler unreachable, no workers, or
    workers with another course environment."""


class InvalidNotebook(UsageError, ValueError):
    """A submitted file is not a readable Jupyter notebook."""


class BadInput(UsageError, ValueError):
    """Input the API refuses on purpose, where it promised a ``ValueError`` (exit status 2)."""


class UnknownAssignment(BadInput):
    """An assignment name the course does not have (the message names those it has)."""


def exit_status(error: BaseException) -> int | None:
    """The exit status a ``cnnlab`` command gives for an error.

    Parameters
    ----------
    error : BaseException
        What the command raised.

    Returns
    -------
    int or None
        1 for :class:`CommandFailed`; 2 for :class:`UsageError` (bad input we report on
        purpose) and ``FileNotFoundError`` (a path that is not there); None for anything
        else, a plain ``ValueError`` included (a bug, or a library's error: report it as
        unexpected).
    """
    if isinstance(error, CommandFailed):
        return EXIT_FAILED
    if isinstance(error, UsageError | FileNotFoundError):
        return EXIT_USAGE
    return None


def missing_extra(error: BaseException) -> str | None:
    """What to install when an optional package of the course is missing.

    Parameters
    ----------
    error : BaseException
        What a command raised.

    Returns
    -------
    str or None
        ``"PostgreSQL gradebooks need psycopg, which is not installed: pip install -e
        '.[postgres]'"`` and the like for a ``ModuleNotFoundError`` of a package in
        :data:`EXTRAS` (anywhere in the error's chain); ``None`` otherwise.
    """
    what = {
        "postgres": "A PostgreSQL gradebook",
        "cluster": "Grading on a Dask cluster",
        "jax": "Keras on JAX",
    }
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            package = error.name.split(".")[0]
            if package in EXTRAS:
                extra = EXTRAS[package]
                return (
                    f"{what.get(extra, 'This')} needs {package}, which is not installed: run "
                    f"pip install -e '.[{extra}]' in the course checkout "
                    f"(or pip install 'cnnlab[{extra}]')"
                )
        error = error.__cause__ or error.__context__
    return None


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when it has none).

    Parameters
    ----------
    error : BaseException
        Any error.

    Returns
    -------
    str
        For example ``"(sqlite3.DatabaseError) file is not a database"``.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
