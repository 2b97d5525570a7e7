"""The ``cnnlab`` command line: instant help and usage errors, one-line errors, --debug."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_courses import GRADING_COURSE

from grading import cli
from grading.errors import UsageError, missing_extra
from grading.runner.check import check_notebooks
from labcore.profile import PROFILE_NAMES

ROOT = Path(__file__).resolve().parents[2]

#: Modules that take seconds to import: a parser must not need any of them.
HEAVY_MODULES = ("nbgrader", "papermill", "nbformat", "nbclient", "pandas", "sqlalchemy", "keras")
#: Runs cnnlab's entry point and reports, on its last stderr line, the heavy modules loaded.
PROBE = """
import json, sys
from grading.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(HEAVY)))
print(json.dumps({"status": status, "heavy": heavy}), file=sys.stderr)
"""


def _cnnlab_quickly(*arguments: str, env: dict | None = None):
    """Run cnnlab in a fresh interpreter: its seconds, exit status, heavy imports, stderr."""
    probe = PROBE.replace("json.loads(HEAVY)", repr(list(HEAVY_MODULES)))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", probe, *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    seconds = time.monotonic() - start
    *lines, report = done.stderr.strip().splitlines()
    result = json.loads(report)
    return seconds, result["status"], result["heavy"], done.stdout + "\n".join(lines)


COURSE_ENV = {"CNNLAB_ROOT": str(GRADING_COURSE)}
ANSWERS_AT_ONCE = [
    *[((name, "--help"), 0, "usage: cnnlab " + name) for name in cli.COMMANDS],
    *[((name, "--no-such-option"), 2, f"usage: cnnlab {name}") for name in cli.COMMANDS],
    (("--help",), 0, "gradebook"),
    (("rn",), 2, "did you mean run?"),
    (("run", "--profle", "smoke"), 2, "unrecognized arguments: --profle (did you mean --profile?)"),
    (("course", "--profile", "smok"), 2, "(did you mean smoke?)"),
    (("autograde", "--jbos", "2"), 2, "(did you mean --jobs?)"),
    (("release", "05_nope"), 2, "cnnlab release: Unknown assignment '05_nope'"),
    (("autograde", "01_fixtur"), 2, "did you mean 01_fixture?"),
    (("feedback", "99_nope"), 2, "Unknown assignment '99_nope'"),
    (("run", "02_profil"), 2, "did you mean 02_profile?"),
    (("check", "02_profil"), 2, "did you mean 02_profile?"),
    (("lab", "--assignment", "03_none"), 2, "Unknown assignment '03_none'"),
    (("gradebook", "rewind"), 2, "usage: cnnlab gradebook"),
]


@pytest.mark.parametrize(
    ("arguments", "status", "expected"),
    ANSWERS_AT_ONCE,
    ids=[" ".join(arguments) for arguments, _, _ in ANSWERS_AT_ONCE],
)
def test_help_usage_errors_and_unknown_names_answer_within_a_second(arguments, status, expected):
    seconds, exit_status, heavy, output = _cnnlab_quickly(*arguments, env=COURSE_ENV)
    assert exit_status == status, output
    assert expected in output
    assert heavy == [], f"cnnlab {' '.join(arguments)} imported {heavy}"
    assert seconds < 1.0, f"cnnlab {' '.join(arguments)} took {seconds:.2f} s"


def test_a_usage_error_shows_the_subcommands_usage_not_the_top_level(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--profle", "smoke"])
    error = capsys.readouterr().err
    assert stop.value.code == 2
    assert error.startswith("usage: cnnlab run [-h]") and "--profile" in error
    assert "cnnlab run: error: unrecognized arguments: --profle" in error


@pytest.mark.slow
def test_a_missing_optional_package_names_the_pip_install_command(tmp_path):
    # psycopg is installed here: make it missing the way a fresh environment has it missing
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from grading.cli import main\n"
        "sys.exit(main(['export', '--db', 'postgresql://grader@127.0.0.1:9/course']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "cnnlab export: A PostgreSQL gradebook needs psycopg, which is not installed: run pip "
        "install -e '.[postgres]' in the course checkout (or pip install 'cnnlab[postgres]')"
    ]


def test_missing_extra_recognises_only_the_course_extras():
    try:
        import psycopg_not_a_package  # noqa: F401
    except ModuleNotFoundError as error:
        assert missing_extra(error) is None
    error = ModuleNotFoundError("No module named 'distributed'", name="distributed")
    assert "pip install -e '.[cluster]'" in missing_extra(error)


def test_debug_shows_the_traceback_instead_of_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(GRADING_COURSE))
    assert cli.main(["release", "05_nope"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(UsageError, match="Unknown assignment '05_nope'"):
        cli.main(["--debug", "release", "05_nope"])
    with pytest.raises(UsageError):
        cli.main(["release", "05_nope", "--debug"])


def test_an_unreachable_database_is_one_line_naming_it(tmp_path, capsys):
    url = "postgresql://grader@127.0.0.1:9/course"  # nothing listens on port 9
    assert cli.main(["report", "--db", url]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnlab report: Cannot open the gradebook ")
    assert "127.0.0.1:9/course" in lines[0] and "PostgreSQL server is running" in lines[0]


def test_outside_a_course_the_command_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(tmp_path))
    assert cli.main(["release", "01_x"]) == 2
    assert "has no notebooks/ folder" in capsys.readouterr().err


def test_course_flag_selects_the_course_for_the_command_only(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CNNLAB_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # no course here: only --course can name one
    assert cli.main(["--course", str(ROOT), "check", "02_mnist"]) in (0, 1)
    assert "1 notebook(s) checked" in capsys.readouterr().out
    assert "CNNLAB_ROOT" not in os.environ  # nothing process-wide
    assert cli.main(["--course", str(tmp_path), "check"]) == 2
    assert "--course" in capsys.readouterr().err


def test_check_takes_assignment_names_like_run(monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(ROOT))
    notebook = ROOT / "notebooks" / "02_mnist" / "mnist_cnn.ipynb"
    problems = check_notebooks([notebook])
    assert cli.main(["check", "02_mnist"]) == (1 if problems else 0)
    out = capsys.readouterr().out
    assert out.endswith(f"1 notebook(s) checked, {len(problems)} problem(s).\n")


def _parse(*arguments: str) -> argparse.Namespace:
    return cli.build_parser(only=arguments[0]).parse_args(list(arguments))


def _option(command: str, option: str) -> argparse.Action:
    sub = next(a for a in cli.build_parser(only=command)._actions if a.dest == "command")
    return next(a for a in sub.choices[command]._actions if option in a.option_strings)


@pytest.mark.parametrize("command", ["run", "course", "autograde"])
def test_profiles_and_jobs_are_the_same_options_on_every_command(command):
    assert tuple(_option(command, "--profile").choices) == tuple(PROFILE_NAMES)
    assert _parse(command, "-j", "3").jobs == 3
    assert _parse(command, "--jobs", "3").jobs == 3


@pytest.mark.parametrize(
    ("command", "option", "dest"),
    [
        ("run", "--notebook-timeout", "notebook_timeout"),
        ("course", "--notebook-timeout", "notebook_timeout"),
        ("autograde", "--submission-timeout", "submission_timeout"),
    ],
)
def test_each_timeout_names_what_it_limits_and_keeps_the_old_spelling(command, option, dest):
    assert getattr(_parse(command, option, "30"), dest) == 30.0
    assert getattr(_parse(command, "--timeout", "30"), dest) == 30.0  # the old spelling
    assert getattr(_parse(command), dest) is None
    assert _option(command, "--timeout").help == argparse.SUPPRESS
    _, status, _, output = _cnnlab_quickly(command, "--help")
    assert status == 0 and option in output
    assert not re.search(r"(?<![\w-])--timeout", output), "the old spelling is hidden"
