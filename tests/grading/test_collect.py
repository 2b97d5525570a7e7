"""``cnnlab collect``: folders and LMS zips in, ``build/submitted`` and a quarantine out."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from fixtures.instructor.classroom import (
    FIXTURE_COURSE,
    clone_course,
    copy_course,
    course_roots,
    fill_in,
)

from grading import cli
from grading.collect import collect_submissions
from grading.collect.outcomes import format_timestamp
from grading.collect.store import history_folder, ledger_path, read_quarantine_ledger
from grading.release import release_assignments


@pytest.fixture(scope="module")
def released_once(tmp_path_factory):
    paths = copy_course(tmp_path_factory.mktemp("collect") / "course", FIXTURE_COURSE)
    release_assignments(paths)
    return paths


@pytest.fixture
def course(released_once, tmp_path):
    return clone_course(released_once, tmp_path / "course")


def _notebook_bytes(paths, assignment="01_fixture", notebook="fixture", answers=None) -> bytes:
    filled = fill_in(paths.release / assignment / f"{notebook}.ipynb", answers or {})
    return nbformat.writes(filled).encode()


def _write(path: Path, data: bytes, when: datetime | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))
    return path


NOT_A_NOTEBOOK = json.dumps({"name": "my homework", "cells": "none"}).encode()


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_collect_from_a_folder_sorts_good_and_bad_files_per_student(course, tmp_path):
    good = _notebook_bytes(course, answers={"add_numbers": "def add_numbers(a, b):\n    return 3"})
    when = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    source = tmp_path / "class"
    _write(source / "alice" / "01_fixture" / "fixture.ipynb", good, when)
    _write(source / "bob" / "01_fixture" / "fixture.ipynb", b"", when)
    _write(source / "carol" / "01_fixture" / "fixture.ipynb", b'{"cells": [', when)
    _write(source / "dave" / "01_fixture" / "fixture.ipynb", NOT_A_NOTEBOOK, when)
    _write(source / "erin" / "01_fixture" / "homework.ipynb", good, when)
    _write(source / "frank" / "07_other" / "fixture.ipynb", good, when)
    _write(source / "gina" / "02_fixture_text" / "plot.png", b"\x89PNG\r\n", when)
    _write(source / "alice" / ".DS_Store", b"\x00\x01", when)

    report = collect_submissions(source, course)

    assert [(c.student, c.assignment, c.notebook) for c in report.collected] == [
        ("alice", "01_fixture", "fixture")
    ]
    collected = course.submitted / "alice" / "01_fixture"
    assert (collected / "fixture.ipynb").read_bytes() == good
    assert (collected / "timestamp.txt").read_text().strip() == format_timestamp(when)
    assert report.collected[0].timestamp == when
    assert sorted(p.parent.name for p in course.submitted.iterdir()) == [course.submitted.name]
    assert {(q.student, q.code) for q in report.quarantined} == {
        ("bob", "empty"),
        ("carol", "not_json"),
        ("dave", "not_notebook"),
        ("erin", "unknown_notebook"),
        ("frank", "unknown_assignment"),
        ("gina", "no_notebook"),  # a file of the assignment, but no notebook with it
    }
    assert [s.reason for s in report.skipped] == ["system file"]
    # nothing lost: every file is collected, quarantined (same bytes) or listed as skipped
    assert len(report.collected) + len(report.quarantined) + len(report.skipped) == len(
        _files_under(source)
    )
    for item in report.quarantined:
        assert item.path.read_bytes() == Path(item.source).read_bytes()
        reason_file = item.path.with_name(item.path.name + ".reason.txt")
        assert item.reason in reason_file.read_text()
    ledger = read_quarantine_ledger(course)
    assert sorted((e["student"], e["code"]) for e in ledger) == sorted(
        (q.student, q.code) for q in report.quarantined
    )
    assert all((course.build / e["file"]).is_file() for e in ledger)
    summary = report.summary()
    assert "alice:\n  collected   01_fixture/fixture.ipynb" in summary
    assert "carol:\n  QUARANTINED" in summary and "not valid JSON" in summary
    assert "6 quarantined" in str(report)


def test_collect_from_an_lms_zip(course, tmp_path):
    good_first = _notebook_bytes(course)
    good_second = _notebook_bytes(course, "02_fixture_text", "short_answers")
    archive = tmp_path / "submissions.zip"
    entries = [
        ("download/alice_1234_5678_fixture.ipynb", good_first, (2025, 3, 1, 10, 0, 0)),
        ("download/bob_LATE_2234_5678_short_answers-1.ipynb", good_second, (2025, 3, 2, 8, 0, 0)),
        ("download/Jane Doe_3234_assignsubmission_file_/fixture.ipynb", good_first, None),
        ("download/carol_4234_5678_fixture.ipynb", b"   \n", None),
        ("download/dave_5234_5678_fixture.ipynb", b"\xff\xfe not text", None),
        ("download/erin_6234_5678_fixture.ipynb", NOT_A_NOTEBOOK, None),
        ("download/frank_7234_5678_homework.ipynb", good_first, None),
        ("fixture.ipynb", good_first, None),  # no student in the name
        ("__MACOSX/download/._alice_1234_5678_fixture.ipynb", b"\x00", None),
    ]
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data, when in entries:
            info = zipfile.ZipInfo(name, date_time=when or (2025, 3, 1, 12, 0, 0))
            handle.writestr(info, data)

    report = collect_submissions(archive, course)

    assert sorted((c.student, c.assignment, c.notebook) for c in report.collected) == [
        ("Jane-Doe", "01_fixture", "fixture"),
        ("alice", "01_fixture", "fixture"),
        ("bob", "02_fixture_text", "short_answers"),
    ]
    bob = course.submitted / "bob" / "02_fixture_text"
    assert (bob / "short_answers.ipynb").read_bytes() == good_second
    assert (bob / "timestamp.txt").read_text().strip() == "2025-03-02 08:00:00.000000 UTC"
    assert {(q.student, q.assignment, q.code) for q in report.quarantined} == {
        ("carol", "01_fixture", "empty"),
        ("dave", "01_fixture", "not_json"),
        ("erin", "01_fixture", "not_notebook"),
        ("frank", None, "unrecognised_name"),
        ("_unknown_student", None, "unrecognised_name"),
    }
    assert [s.source for s in report.skipped] == [
        "submissions.zip:__MACOSX/download/._alice_1234_5678_fixture.ipynb"
    ]
    assert len(report.collected) + len(report.quarantined) + len(report.skipped) == len(entries)
    with zipfile.ZipFile(archive) as handle:
        for item in report.quarantined:
            entry = item.source.split(":", 1)[1]
            assert item.path.read_bytes() == handle.read(entry)


def test_a_newer_submission_replaces_the_older_which_is_kept(course, tmp_path):
    first = _notebook_bytes(course, answers={"add_numbers": "def add_numbers(a, b):\n    pass"})
    second = _notebook_bytes(course, answers={"add_numbers": "def add_numbers(a, b):\n    1"})
    folder = course.submitted / "alice" / "01_fixture"
    early, late = "2025-03-01T10:00:00+00:00", "2025-03-02T10:00:00+00:00"

    _write(tmp_path / "v1" / "alice_1_fixture.ipynb", first)
    _write(tmp_path / "v2" / "alice_1_fixture.ipynb", second)
    collect_submissions(tmp_path / "v1", course, timestamp=early)
    report = collect_submissions(tmp_path / "v2", course, timestamp=late)

    assert (folder / "fixture.ipynb").read_bytes() == second
    assert (folder / "timestamp.txt").read_text().startswith("2025-03-02 10:00:00")
    kept = report.collected[0].replaced
    assert kept == history_folder(course) / "alice" / "01_fixture" / "2025-03-01T10-00-00.000000Z"
    assert (kept / "fixture.ipynb").read_bytes() == first
    assert (kept / "timestamp.txt").read_text().startswith("2025-03-01 10:00:00")

    # the older one again: it does not replace the newer, and nothing is duplicated
    report = collect_submissions(tmp_path / "v1", course, timestamp=early)
    assert report.collected == [] and "not newer" in report.skipped[0].reason
    assert (folder / "fixture.ipynb").read_bytes() == second
    assert len(list((history_folder(course) / "alice" / "01_fixture").iterdir())) == 1

    # the same one again, at any time: skipped as identical
    report = collect_submissions(tmp_path / "v2", course, timestamp="2025-04-01T00:00:00")
    assert report.collected == [] and "identical" in report.skipped[0].reason
    assert (folder / "timestamp.txt").read_text().startswith("2025-03-02 10:00:00")


def test_an_older_file_collected_later_goes_to_the_history(course, tmp_path):
    newer = _notebook_bytes(course, answers={"mean_of": "def mean_of(values):\n    return 2"})
    older = _notebook_bytes(course, answers={"mean_of": "def mean_of(values):\n    return 1"})
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as handle:  # two uploads of one student, in one zip
        handle.writestr(zipfile.ZipInfo("bob_1_fixture-2.ipynb", (2025, 3, 5, 0, 0, 0)), newer)
        handle.writestr(zipfile.ZipInfo("bob_1_fixture-1.ipynb", (2025, 3, 4, 0, 0, 0)), older)

    report = collect_submissions(archive, course)

    current = course.submitted / "bob" / "01_fixture"
    assert (current / "fixture.ipynb").read_bytes() == newer
    assert [c.source for c in report.collected] == [
        "canvas.zip:bob_1_fixture-1.ipynb",
        "canvas.zip:bob_1_fixture-2.ipynb",
    ]
    (kept,) = (history_folder(course) / "bob" / "01_fixture").iterdir()
    assert (kept / "fixture.ipynb").read_bytes() == older


def test_nbgrader_timestamp_files_are_used(course, tmp_path):
    source = tmp_path / "class"
    _write(source / "alice" / "01_fixture" / "fixture.ipynb", _notebook_bytes(course))
    _write(source / "alice" / "01_fixture" / "timestamp.txt", b"2025-02-28 23:59:00.000000 UTC")
    report = collect_submissions(source, course)
    assert report.collected[0].timestamp == datetime(2025, 2, 28, 23, 59, tzinfo=UTC)
    assert report.skipped == [] and report.quarantined == []


def test_quarantining_the_same_file_twice_keeps_one_ledger_entry(course, tmp_path):
    _write(tmp_path / "class" / "carol_9_fixture.ipynb", b"{not json")
    first = collect_submissions(tmp_path / "class", course)
    second = collect_submissions(tmp_path / "class", course)
    assert first.quarantined[0].path == second.quarantined[0].path
    assert len(ledger_path(course).read_text().splitlines()) == 1


def test_bad_sources_are_clear_errors(course, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_submissions(tmp_path / "missing", course)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        collect_submissions(tmp_path / "empty", course)
    (tmp_path / "grades.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="neither a folder nor a zip"):
        collect_submissions(tmp_path / "grades.csv", course)
    _write(tmp_path / "one" / "alice_fixture.ipynb", _notebook_bytes(course))
    with pytest.raises(ValueError, match="ISO 8601"):
        collect_submissions(tmp_path / "one", course, timestamp="yesterday")
    no_assignments = copy_course(tmp_path / "bare", FIXTURE_COURSE)
    for folder in no_assignments.notebooks.iterdir():
        shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="holds no source assignments"):
        collect_submissions(tmp_path / "one", no_assignments)


@pytest.mark.parametrize("root", course_roots(), ids=lambda root: root.name)
def test_every_released_notebook_is_recognised_in_both_layouts(root, tmp_path):
    paths = copy_course(tmp_path / "course", root)
    release_assignments(paths)
    source = tmp_path / "class"
    expected = set()
    for assignment in paths.assignments():
        for notebook in sorted((paths.release / assignment).glob("*.ipynb")):
            _write(source / "s1" / assignment / notebook.name, notebook.read_bytes())
            _write(source / f"s2_77_{notebook.name}", notebook.read_bytes())
            expected |= {("s1", assignment, notebook.stem), ("s2", assignment, notebook.stem)}
    report = collect_submissions(source, paths)
    assert {(c.student, c.assignment, c.notebook) for c in report.collected} == expected
    assert report.quarantined == [] and report.skipped == []


def test_collect_command(course, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(course.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    _write(tmp_path / "class" / "alice_1_fixture.ipynb", _notebook_bytes(course))
    _write(tmp_path / "class" / "bob_1_fixture.ipynb", b"")
    assert cli.main(["collect", str(tmp_path / "class"), "--timestamp", "2025-03-01"]) == 0
    out = capsys.readouterr().out
    assert "alice:\n  collected   01_fixture/fixture.ipynb (2025-03-01 00:00:00.000000 UTC)" in out
    assert "bob:\n  QUARANTINED" in out and "the file is empty" in out
    assert cli.main(["collect", str(tmp_path / "nothing-here")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_notebook_of_another_assignment_is_quarantined_naming_it(
    course, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CNNLAB_ROOT", str(course.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    # 01's work saved under 02's file name: graded as 02 every test would be "missing"
    first = _notebook_bytes(course)
    source = tmp_path / "class"
    _write(source / "alice" / "02_fixture_text" / "short_answers.ipynb", first)
    _write(source / "bob" / "01_fixture" / "fixture.ipynb", first)
    foreign = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    foreign.cells[0].metadata["nbgrader"] = {"grade_id": "another_course_cell", "grade": False}
    _write(source / "carol" / "01_fixture" / "fixture.ipynb", nbformat.writes(foreign).encode())
    # a notebook whose nbgrader metadata were stripped is collected: the grader restores it
    stripped = json.loads(first)
    for cell in stripped["cells"]:
        cell["metadata"].pop("nbgrader", None)
    _write(source / "dave" / "01_fixture" / "fixture.ipynb", json.dumps(stripped).encode())

    assert cli.main(["collect", str(source)]) == 0
    output = capsys.readouterr().out
    report = read_quarantine_ledger(course)
    assert {(e["student"], e["code"]) for e in report} == {
        ("alice", "wrong_assignment"),
        ("carol", "wrong_assignment"),
    }
    alice = next(e for e in report if e["student"] == "alice")
    assert "its cells are those of 01_fixture/fixture" in alice["reason"]
    assert "not of 02_fixture_text/short_answers (0 of" in alice["reason"]
    assert "ask for 02_fixture_text/short_answers.ipynb" in alice["reason"]
    assert "\n" not in alice["reason"] and alice["reason"] in output
    carol = next(e for e in report if e["student"] == "carol")
    assert "nor of any notebook of this course" in carol["reason"]
    assert sorted(p.name for p in course.submitted.iterdir()) == ["bob", "dave"]
