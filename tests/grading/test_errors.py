"""The errors ``cnnlab`` commands report and the exit status each one gives."""

from __future__ import annotations

import pytest

from grading import release
from grading.autograde import cells, cluster
from grading.autograde import run as autograde
from grading.base import gradebook, nbgrader_driver
from grading.errors import (
    AutogradeError,
    BadInput,
    ClusterError,
    CommandFailed,
    GradebookError,
    InvalidNotebook,
    NbgraderError,
    ReleaseLeakError,
    UnknownAssignment,
    UsageError,
    exit_status,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NbgraderError("generate_assignment failed"), 1),
        (ReleaseLeakError([]), 1),
        (CommandFailed("the job failed"), 1),
        (GradebookError("Cannot open the gradebook"), 2),
        (AutogradeError("the class is empty"), 2),
        (ClusterError("no workers"), 2),
        (InvalidNotebook("not a JSON file"), 2),
        (UsageError("bad input"), 2),
        (BadInput("jobs must be a positive integer"), 2),
        (UnknownAssignment("Unknown assignment '05_nope'"), 2),
        (FileNotFoundError("no such folder"), 2),
        # not raised on purpose: a bug (int("x")), or a library's; shown as unexpected
        (ValueError("invalid literal for int() with base 10: 'x'"), None),
        (RuntimeError("a bug"), None),
        (TypeError("a bug"), None),
        (KeyError("a bug"), None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_exit_status_of_each_error(error, status):
    assert exit_status(error) == status


def test_errors_keep_their_builtin_bases():
    # code that catches the built-in base still catches the course's error
    for error in (NbgraderError, ReleaseLeakError, GradebookError):
        assert issubclass(error, RuntimeError)
    for error in (AutogradeError, ClusterError, InvalidNotebook, BadInput, UnknownAssignment):
        assert issubclass(error, ValueError) and issubclass(error, UsageError)
    assert issubclass(ClusterError, AutogradeError)


def test_modules_re_export_their_errors():
    assert nbgrader_driver.NbgraderError is NbgraderError
    assert release.ReleaseLeakError is ReleaseLeakError
    assert gradebook.GradebookError is GradebookError
    assert autograde.AutogradeError is AutogradeError
    assert cluster.ClusterError is ClusterError
    assert cells.InvalidNotebook is InvalidNotebook


def test_release_leak_error_lists_every_leak_and_what_to_do(tmp_path):
    error = ReleaseLeakError(["fixture.ipynb cell 3: a solution line leaked"], [tmp_path])
    message = str(error)
    assert message.startswith("The release leaks instructor-only text (1 found):")
    assert "  fixture.ipynb cell 3: a solution line leaked" in message
    assert f"Removed the leaking release folder(s): {tmp_path}" in message
    assert "### BEGIN SOLUTION" in message and error.leaks == [
        "fixture.ipynb cell 3: a solution line leaked"
    ]


def test_the_cli_shows_a_plain_value_error_as_unexpected_with_the_debug_hint(capsys):
    from grading.cli import _report

    try:
        int("x")  # a bug's ValueError, as Python raises it
    except ValueError as error:
        assert _report("export", error) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == (
        "cnnlab export: unexpected ValueError: invalid literal for int() with base 10: 'x'"
    )
    assert "cnnlab --debug export" in lines[1]
    assert _report("export", BadInput("The gradebook has no students")) == 2
    assert capsys.readouterr().err == "cnnlab export: The gradebook has no students\n"
