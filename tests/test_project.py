"""The project's own files agree with each other: dependencies, README, CI, pre-commit.

The documentation pages themselves are checked in ``tests/test_docs.py``.
"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalise(requirement: str) -> tuple[str, str, str]:
    parsed = Requirement(requirement)
    return (parsed.name.lower().replace("_", "-"), str(parsed.specifier), str(parsed.marker))


def test_environment_yml_agrees_with_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "pip" in conda
    assert "--editable ." in pip  # installs this project (and its console command)
    listed = sorted(_normalise(r) for r in pip if not r.startswith("-"))
    declared = sorted(_normalise(r) for r in _pyproject()["project"]["dependencies"])
    assert listed == declared
    assert Requirement("x" + _pyproject()["project"]["requires-python"]).specifier.contains("3.11")


def test_tensorflow_markers_cover_every_platform_exactly_once():
    from packaging.markers import default_environment

    requirements = [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    tf = [r for r in requirements if r.name in {"tensorflow", "tensorflow-cpu"}]
    platforms = [
        ("linux", "x86_64"),
        ("linux", "aarch64"),
        ("darwin", "arm64"),
        ("darwin", "x86_64"),
        ("win32", "AMD64"),
    ]
    chosen = {}
    for sys_platform, machine in platforms:
        env = default_environment() | {"sys_platform": sys_platform, "platform_machine": machine}
        matching = [r.name for r in tf if r.marker.evaluate(env)]
        assert len(matching) == 1, (sys_platform, machine, matching)
        chosen[(sys_platform, machine)] = matching[0]
    assert chosen[("linux", "x86_64")] == "tensorflow-cpu"
    assert chosen[("darwin", "arm64")] == "tensorflow"
    assert chosen[("linux", "aarch64")] == "tensorflow"


def _readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block, f"no command block after {heading!r}"
    lines = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1, f"{heading!r} should be one command, found {lines}"
    return lines[0]


def test_ci_runs_exactly_the_readme_test_command():
    command = _readme_command("<!-- test-command -->")
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()
    assert "LABCORE_DATA_MIRROR" in ci and "shared/data" in ci
    assert "5)" in ci or "-eq 5" in ci  # pytest's "no tests collected" is a failure


def test_readme_course_command_creates_env_and_runs_the_course():
    command = _readme_command("<!-- course-command -->")
    assert "venv" in command and "pip install" in command and "cnnlab course" in command


def _anchors(page: Path) -> set[str]:
    """The heading anchors MkDocs (Python-Markdown's ``toc``) gives a Markdown page."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    headings = re.findall(r"^#{1,6} +(.+?) *$", text, re.M)
    return {slugify(re.sub(r"[`*]", "", heading), "-") for heading in headings}


def test_readme_links_resolve():
    """Every relative link of the README names a file of the checkout, and a heading in it."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in relative)
    for link in relative:
        target, _, anchor = link.partition("#")
        path = ROOT / target if target else ROOT / "README.md"
        assert path.exists(), f"README links to {link}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"README links to {link}: no such heading"


def test_readme_is_a_front_page():
    """The README stays short: the details live in docs/, one page per topic."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for heading in ("## Quick start", "### As a student", "### As an instructor", "## Layout"):
        assert heading in text.splitlines(), heading
    for page in re.findall(r"\]\((docs/[\w-]+\.md)", text):
        assert (ROOT / page).is_file(), page


def test_precommit_strips_outputs_but_keeps_nbgrader_metadata(tmp_path):
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hook = next(h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "nbstripout")
    nbgrader = {
        "grade": True,
        "grade_id": "test_x",
        "locked": True,
        "points": 2,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "abc",
                "execution_count": 7,
                "source": "assert 1",
                "metadata": {"nbgrader": nbgrader, "tags": ["parameters"], "ExecuteTime": {"x": 1}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "hello"}],
            }
        ],
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook))
    subprocess.run(
        [sys.executable, "-m", "nbstripout", *hook.get("args", []), str(path)], check=True
    )
    cell = json.loads(path.read_text())["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"]["nbgrader"] == nbgrader
    assert cell["metadata"]["tags"] == ["parameters"]
    assert "ExecuteTime" not in cell["metadata"]


def test_ruff_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_and_data_folders_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "build/" in ignored and "data/*" in ignored and "!data/README.md" in ignored
    assert (ROOT / "data" / "README.md").is_file()
