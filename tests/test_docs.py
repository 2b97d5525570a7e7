"""The documentation builds, its links resolve, and every command it shows exists.

The pages in ``docs/`` are built with MkDocs in strict mode (``mkdocs.yml`` turns broken
links, missing anchors and pages left out of the navigation into warnings, and strict mode
into failures). Every ``cnnlab <command> [<subcommand>]`` written in a shell code block or
an inline code span of the README or a page must be a real command: ``--help`` of each
exits 0. Every ``CNNLAB_*``/``LABCORE_*`` variable the code reads is in the one table of
``docs/environment.md``.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grading.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
CNNLAB = Path(sys.executable).with_name("cnnlab")

#: Fenced code blocks whose lines are shell commands.
_SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
#: ``cnnlab`` as a program (alone or as ``.venv/bin/cnnlab``), then one or two words.
_COMMAND = re.compile(
    r"(?:(?<![\w/.@:-])|(?<=/bin/))cnnlab[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?"
)


def _shell_lines(text: str) -> list[str]:
    """Shell lines of the fenced shell blocks and the inline code spans, comments removed."""
    lines = []
    for block in _SHELL_BLOCK.findall(text):
        lines += [re.sub(r"(^|\s)#.*", "", line) for line in block.splitlines()]
    prose = _SHELL_BLOCK.sub("", text)
    prose = re.sub(r"^```.*?^```", "", prose, flags=re.S | re.M)  # other fenced blocks
    lines += _INLINE_CODE.findall(prose)
    return lines


def _shown_commands() -> dict[tuple[str, ...], set[str]]:
    """Every ``cnnlab`` command the pages show: (command, [subcommand]) -> the pages."""
    commands = {name: _subcommands(name) for name in _command_names()}
    shown: dict[tuple[str, ...], set[str]] = {}
    for page in PAGES:
        for line in _shell_lines(page.read_text()):
            for first, second in _COMMAND.findall(line):
                subs = commands.get(first)
                if subs is None:
                    key: tuple[str, ...] = (first,)  # not a command: the test below fails
                elif subs:
                    key = (first, second)  # a command with actions needs a valid one
                else:
                    key = (first,)
                shown.setdefault(key, set()).add(page.relative_to(ROOT).as_posix())
    return shown


def _command_names() -> list[str]:
    return list(_subparser_choices(build_parser()))


def _subcommands(name: str) -> list[str]:
    """The actions of ``cnnlab NAME`` (``roster import``, ...), or [] if it has none."""
    command = _subparser_choices(build_parser(only=name))[name]
    return list(_subparser_choices(command))


def _subparser_choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


SHOWN = _shown_commands()


def test_the_pages_show_the_main_commands():
    """The parsing finds what the README and the pages obviously show."""
    for expected in [
        ("course",),
        ("run",),
        ("autograde",),
        ("release",),
        ("collect",),
        ("kit",),
        ("lab",),
        ("roster", "import"),
        ("gradebook", "restore"),
    ]:
        assert expected in SHOWN, f"cnnlab {' '.join(expected)} not found in the docs"


@pytest.mark.parametrize("command", sorted(SHOWN), ids=" ".join)
def test_every_command_shown_exists(command):
    pages = ", ".join(sorted(SHOWN[command]))
    assert CNNLAB.is_file(), f"{CNNLAB} is missing: install the project (pip install -e .)"
    result = subprocess.run(
        [str(CNNLAB), *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (
        f"`cnnlab {' '.join(command)}` (shown in {pages}) is not a command:\n{result.stderr}"
    )
    assert result.stdout.startswith(f"usage: cnnlab {' '.join(command)}"), result.stdout


def test_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: no broken link or anchor, no page outside the navigation."""
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", site],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in sorted(DOCS.glob("*.md")):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"


def test_every_environment_variable_is_in_the_one_table():
    """A ``CNNLAB_``/``LABCORE_`` name the code or tests read is a row of the table."""
    read = set()
    for folder in ("labcore", "grading", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(
                re.findall(r"[\"']((?:CNNLAB|LABCORE)_[A-Z][A-Z0-9_]*)[\"']", path.read_text())
            )
    assert {"CNNLAB_ROOT", "LABCORE_DATA_MIRROR", "LABCORE_PROFILE"} <= read
    table = (DOCS / "environment.md").read_text()
    rows = {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }
    missing = sorted(read - rows)
    assert not missing, f"environment variables missing from docs/environment.md: {missing}"
    for page in PAGES:
        if page.name != "environment.md":
            assert "| `CNNLAB_ROOT` |" not in page.read_text(), f"a second table in {page.name}"
