"""Any nbgrader course, not only ours: own names, course file, roster, LMS ids, due dates.

The slow tests grade real submissions: a course written for plain nbgrader (assignment
``ps1``, nbgrader's ``submitted/<student>/<assignment>/`` layout with its own
``timestamp.txt``, a picture beside the notebook, manually graded answers) graded by
``cnnlab autograde`` and by ``nbgrader autograde`` on the same files; and a course made by
``cnnlab init`` with a due date, a late submission and a roster student who never submitted.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from fixtures.instructor.classroom import autograde_with_nbgrader, fill_in

from grading import cli
from grading.autograde.run import autograde
from grading.autograde.sandbox import SandboxLimits
from grading.base.gradebook import cell_scores, open_gradebook
from grading.base.identities import read_identities
from grading.base.nbgrader_driver import load_nbgrader_config
from grading.base.roster import import_roster, read_roster
from grading.base.settings import course_settings, parse_time
from grading.collect import collect_submissions
from grading.export import CANVAS_COLUMNS, NBGRADER_COLUMNS, export_grades, grade_table
from grading.feedback import generate_feedback
from grading.init import init_course
from grading.paths import CoursePaths
from grading.release import release_assignments
from grading.report import write_report
from grading.runner.check import check_notebooks

LIMITS = SandboxLimits(cell_timeout=30, notebook_timeout=150, memory_limit_mb=1000)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
CORRECT_SQUARES = "def squares(n):\n    return [i * i for i in range(n)]"
# right for the visible test, wrong for the hidden ones
VISIBLE_ONLY_SQUARES = "def squares(n):\n    return [0, 1, 4][:n] if n <= 3 else [1]"


def _paths(root: Path) -> CoursePaths:
    return CoursePaths(root=root.resolve(), build=root.resolve() / "build")


def _cell(cell_type: str, source: str, **nbgrader) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {
            "grade": False,
            "locked": False,
            "schema_version": 3,
            "solution": False,
            "task": False,
        } | nbgrader
    return cell


def _plain_nbgrader_course(root: Path) -> CoursePaths:
    """A course as plain nbgrader users write it: their names, their config, a picture."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        _cell("markdown", "# Problem set 1"),
        _cell(
            "code",
            "def squares(n):\n    ### BEGIN SOLUTION\n    return [i * i for i in range(n)]\n"
            "    ### END SOLUTION",
            grade_id="squares",
            solution=True,
        ),
        _cell(
            "code",
            "import os\nassert os.path.exists('figure.png'), 'the picture travels along'\n"
            "assert squares(3) == [0, 1, 4]\n### BEGIN HIDDEN TESTS\n"
            "assert squares(5) == [0, 1, 4, 9, 16]\n### END HIDDEN TESTS",
            grade_id="test_squares",
            grade=True,
            locked=True,
            points=3,
        ),
        # a manually graded code answer: nbgrader leaves its score to a person
        _cell(
            "code",
            "def explain():\n    ### BEGIN SOLUTION\n    return 'loops'\n    ### END SOLUTION",
            grade_id="explain_code",
            grade=True,
            solution=True,
            points=2,
        ),
        _cell(
            "markdown",
            "YOUR ANSWER HERE",
            grade_id="written",
            grade=True,
            solution=True,
            points=1,
        ),
    ]
    folder = root / "notebooks" / "ps1"
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / "ps1.ipynb")
    (folder / "figure.png").write_bytes(PNG)
    # the course's own nbgrader configuration, read on top of ours
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'sicp'\nc.Execute.timeout = 45\n"
    )
    return _paths(root)


NBGRADER_TIMESTAMPS = {
    "bitdiddle": "2015-02-02 14:58:23.948203 America/Los_Angeles",
    "hacker": "2015-02-02 15:58:23.948203 America/Los_Angeles",
    "reasoner": "2025-03-01 12:00:00 UTC",
}


def _nbgrader_submissions(paths: CoursePaths, folder: Path) -> Path:
    answers = {
        "bitdiddle": {
            "squares": CORRECT_SQUARES,
            "explain_code": "def explain():\n    return 1",
            "written": "Because the range is empty.",
        },
        "hacker": {"squares": VISIBLE_ONLY_SQUARES},
        "reasoner": {},
    }
    for student, answer in answers.items():
        target = folder / student / "ps1"
        target.mkdir(parents=True)
        nbformat.write(fill_in(paths.release / "ps1" / "ps1.ipynb", answer), target / "ps1.ipynb")
        (target / "timestamp.txt").write_text(NBGRADER_TIMESTAMPS[student] + "\n")
        (target / "figure.png").write_bytes(PNG)
    return folder


@pytest.mark.slow
def test_a_plain_nbgrader_course_is_graded_as_nbgrader_grades_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_SCRATCH_DIR", str(tmp_path / "scratch"))
    ours = _plain_nbgrader_course(tmp_path / "ours")
    config = load_nbgrader_config(ours)
    assert config.CourseDirectory.course_id == "sicp"  # the course's own config wins
    assert config.Execute.timeout == 45
    assert ours.assignments() == ["ps1"]
    assert check_notebooks([ours.notebooks], course_settings(ours).conventions) == []
    release_assignments(ours)
    submissions = _nbgrader_submissions(ours, tmp_path / "submitted")

    report = collect_submissions(submissions, ours)
    assert sorted(c.student for c in report.collected) == ["bitdiddle", "hacker", "reasoner"]
    assert report.quarantined == []
    assert {(k.student, k.path.name) for k in report.kept} == {
        (student, "figure.png") for student in NBGRADER_TIMESTAMPS
    }
    theirs = _paths(tmp_path / "theirs")
    shutil.copytree(ours.root, theirs.root, ignore=shutil.ignore_patterns("build"))
    release_assignments(theirs)
    shutil.copytree(submissions, theirs.submitted)  # nbgrader reads its own layout as it is

    autograde(ours, jobs=2, limits=LIMITS, progress=False)
    autograde_with_nbgrader(theirs)

    columns = ["student", "notebook", "grade_id", "score", "max_score", "needs_manual_grade"]
    graded = cell_scores(ours.gradebook_url)[columns].sort_values(columns[:3])
    expected = cell_scores(theirs.gradebook_url)[columns].sort_values(columns[:3])
    assert graded.to_dict("records") == expected.to_dict("records")
    flags = graded.set_index(["student", "grade_id"])["needs_manual_grade"]
    assert flags[("bitdiddle", "explain_code")] and flags[("bitdiddle", "written")]
    assert not flags[("bitdiddle", "test_squares")]
    assert not flags[("reasoner", "written")]  # unanswered: nbgrader scores it 0 itself
    scores = graded.set_index(["student", "grade_id"])["score"]
    assert scores[("bitdiddle", "test_squares")] == 3
    assert scores[("hacker", "test_squares")] == 0

    from nbgrader.utils import parse_utc

    with open_gradebook(ours.gradebook_url) as gradebook:
        times = {s.student.id: s.timestamp for s in gradebook.find_assignment("ps1").submissions}
    assert times == {student: parse_utc(text) for student, text in NBGRADER_TIMESTAMPS.items()}


# --------------------------------------------------------------------------- init course

ROSTER = (
    "id,first_name,last_name,email,lms_id,sis_user_id,sis_login_id,section\n"
    "alice,Alice,Liddell,alice@example.org,1001,S-1,aliddell,Section A\n"
    "bob,Bob,Dobbs,bob@example.org,1002,S-2,bdobbs,Section B\n"
    "carol,Carol,Danvers,carol@example.org,1003,S-3,cdanvers,Section A\n"
)


def _init_course(root: Path, due: str = "2025-03-01 23:59 Europe/Berlin") -> CoursePaths:
    init_course(root, "ps1", "Intro to Programming")
    course_file = root / "cnnlab.toml"
    text = course_file.read_text()
    text = text.replace('# due = "2030-03-01 23:59"', f'due = "{due}"  #')
    text = text.replace('# lms_id = "12345"', 'lms_id = "4321"  #')
    text = text.replace('method = "none"', 'method = "per_hour"\npoints = 0.5')
    course_file.write_text(text)
    return _paths(root)


def test_init_writes_a_course_every_command_accepts(tmp_path):
    paths = _init_course(tmp_path / "course")
    settings = course_settings(paths)
    assert paths.assignments() == ["ps1"]
    assert settings.title == "Intro to Programming" and settings.course_id == "course"
    assert settings.due["ps1"] == dt.datetime(2025, 3, 1, 22, 59, tzinfo=dt.UTC)
    assert settings.late.method == "per_hour" and settings.late.points == 0.5
    assert check_notebooks([paths.notebooks], settings.conventions) == []
    notebook = nbformat.read(paths.notebooks / "ps1" / "ps1.ipynb", as_version=4)
    kinds = [cell.metadata.get("nbgrader", {}) for cell in notebook.cells]
    assert any(k.get("grade") and not k.get("solution") for k in kinds)  # a test cell
    assert any("BEGIN HIDDEN TESTS" in cell.source for cell in notebook.cells)
    with pytest.raises(ValueError, match="is a course already"):
        init_course(paths.root)


def _canvas_zip(paths: CoursePaths, archive: Path) -> Path:
    release = paths.release / "ps1" / "ps1.ipynb"
    correct = nbformat.writes(fill_in(release, {"squares": CORRECT_SQUARES})).encode()
    with zipfile.ZipFile(archive, "w") as handle:
        on_time = zipfile.ZipInfo("liddellalice_1001_9001_ps1.ipynb", (2025, 3, 1, 20, 0, 0))
        # 2 h 31 min after 22:59 UTC: three started hours late
        late = zipfile.ZipInfo("dobbsbob_LATE_1002_9002_ps1.ipynb", (2025, 3, 2, 1, 30, 0))
        stranger = zipfile.ZipInfo("nobodyn_1999_9003_ps1.ipynb", (2025, 3, 1, 20, 0, 0))
        for info in (on_time, late, stranger):
            handle.writestr(info, correct)
    return archive


@pytest.mark.slow
def test_an_init_course_with_a_due_date_a_late_submission_and_a_roster(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_SCRATCH_DIR", str(tmp_path / "scratch"))
    paths = _init_course(tmp_path / "course")
    roster_file = tmp_path / "class.csv"
    roster_file.write_text(ROSTER)
    assert [s.id for s in import_roster(roster_file, paths).students] == ["alice", "bob", "carol"]
    release_assignments(paths)

    report = collect_submissions(_canvas_zip(paths, tmp_path / "canvas.zip"), paths)
    collected = {c.student: c for c in report.collected}
    assert sorted(collected) == ["alice", "bob", "nobodyn"]  # LMS names matched to the roster
    assert collected["bob"].lms_late and collected["bob"].lms_id == "1002"
    assert report.unknown_students == ["nobodyn"]
    assert "not on the roster (1): nobodyn" in report.summary()
    assert read_identities(paths)["nobodyn"]["lms_id"] == "1999"

    autograde(paths, jobs=2, limits=LIMITS, progress=False)
    grades, max_points = grade_table(paths.gradebook_url, paths)
    assert max_points["ps1"] == 3
    assert grades.loc["alice", "ps1"] == 2  # the written answer waits for a person
    assert grades.loc["bob", "ps1"] == 2 - 3 * 0.5  # three started hours late
    assert grades.loc["carol", "ps1"] == 0  # on the roster, never submitted

    pages = generate_feedback(paths)
    bob = next(page for page in pages if page.parts[-3] == "bob").read_text()
    assert "late by 2 h 31 min" in bob and "-1.5 point(s)" in bob
    alice = next(page for page in pages if page.parts[-3] == "alice").read_text()
    assert "cnnlab-late" not in alice
    report = write_report(paths).read_text()
    assert "<h1>Intro to Programming grading report</h1>" in report
    assert '<table id="late">' in report and "<td>bob</td>" in report

    output = export_grades(paths, format="canvas")
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [*CANVAS_COLUMNS, "ps1 (4321)"]
    by_login = {row["SIS Login ID"]: row for row in rows}
    assert by_login["aliddell"] | {} == {
        "Student": "Liddell, Alice",
        "ID": "1001",
        "SIS User ID": "S-1",
        "SIS Login ID": "aliddell",
        "Section": "Section A",
        "ps1 (4321)": "2",
    }
    assert by_login["bdobbs"]["ps1 (4321)"] == "0.5"
    assert by_login["cdanvers"]["ps1 (4321)"] == "0"
    stranger = next(row for row in rows if row["Student"] == "nobodyn")
    assert stranger["ID"] == "1999"  # not on the roster, but the LMS id is kept

    output = export_grades(paths, format="nbgrader")
    with output.open(newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert list(next(iter(rows.values()))) == NBGRADER_COLUMNS
    assert rows["bob"]["late_submission_penalty"] == "1.5"
    assert rows["bob"]["timestamp"] == "2025-03-02 01:30:00"
    assert rows["bob"]["duedate"] == "2025-03-01 22:59:00"
    assert rows["carol"]["timestamp"] == "" and rows["carol"]["score"] == "0.0"

    assert cli.main(["--course", str(paths.root), "export", "-o", str(tmp_path / "g.csv")]) == 0
    assert (tmp_path / "g.csv").read_text().splitlines() == [
        "student_id,ps1,total",
        "alice,2,2",
        "bob,0.5,0.5",
        "carol,0,0",
        "nobodyn,2,2",
    ]


# --------------------------------------------------------------------------- collect


@pytest.fixture
def course(tmp_path) -> CoursePaths:
    return _init_course(tmp_path / "course")


def _notebook(paths: CoursePaths, answer: str = CORRECT_SQUARES) -> bytes:
    source = paths.notebooks / "ps1" / "ps1.ipynb"
    return nbformat.writes(fill_in(source, {"squares": answer})).encode()


def _zip(archive: Path, entries: list[tuple[str, bytes]], symlinks=()) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data in entries:
            handle.writestr(zipfile.ZipInfo(name, (2025, 3, 1, 12, 0, 0)), data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name, (2025, 3, 1, 12, 0, 0))
            info.external_attr = 0o120777 << 16
            handle.writestr(info, target)
    return archive


def _accounted_for(report, total: int) -> None:
    """Nothing lost: every file is collected, kept, quarantined or listed as skipped."""
    parts = (report.collected, report.kept, report.quarantined, report.skipped)
    assert sum(len(part) for part in parts) == total


def test_canvas_and_moodle_names_that_could_merge_students_are_quarantined(course, tmp_path):
    mine, theirs = _notebook(course), _notebook(course, "def squares(n):\n    return []")
    entries = [
        ("Jane Doe_501_assignsubmission_file_/ps1.ipynb", mine),  # Moodle, same name twice
        ("Jane Doe_502_assignsubmission_file_/ps1.ipynb", theirs),
        ("doejohn_601_7001_ps1.ipynb", mine),  # Canvas, same name twice
        ("doejohn_602_7002_ps1.ipynb", theirs),
        ("\u202ealice_603_7003_ps1.ipynb", theirs),  # displays as another name
        ("alice_604_7004_ps1.ipynb", mine),
        (".hidden_605_assignsubmission_file_/ps1.ipynb", mine),
        ("Jane Roe_606_assignsubmission_file_/ps1.ipynb", mine),  # her picture stays with it
        ("Jane Roe_606_assignsubmission_file_/plot.png", PNG),
        ("../escape/ps1/ps1.ipynb", mine),
    ]
    archive = _zip(tmp_path / "lms.zip", entries, symlinks=[("bob/ps1/ps1.ipynb", "/etc/passwd")])

    report = collect_submissions(archive, course)

    collected = sorted((c.student, c.lms_id) for c in report.collected)
    assert collected == [("Jane-Roe", "606"), ("alice", "604")]
    assert (course.submitted / "alice" / "ps1" / "ps1.ipynb").read_bytes() == mine
    assert (course.submitted / "Jane-Roe" / "ps1" / "plot.png").read_bytes() == PNG
    codes = sorted((q.code, q.student) for q in report.quarantined)
    assert codes == [
        ("ambiguous_student", "Jane-Doe"),
        ("ambiguous_student", "Jane-Doe"),
        ("ambiguous_student", "doejohn"),
        ("ambiguous_student", "doejohn"),
        ("symlink", "_unknown_student"),
        ("unsafe_path", "_unknown_student"),
        ("unsafe_student", "_unknown_student"),
        ("unsafe_student", "_unknown_student"),
    ]
    reasons = {q.code: q.reason for q in report.quarantined}
    assert "never followed" in reasons["symlink"]
    unsafe = [q.reason for q in report.quarantined if q.code == "unsafe_student"]
    assert any("bidirectional" in r and "'\\u202ealice'" in r for r in unsafe)
    assert any("starting with '.'" in r for r in unsafe)
    assert "(LMS id 501)" in " ".join(q.reason for q in report.quarantined)
    assert sorted(p.name for p in course.submitted.iterdir()) == ["Jane-Roe", "alice"]
    _accounted_for(report, len(entries) + 1)

    # the same names with a roster that knows their LMS ids: two students, nothing merged
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        "id,first_name,last_name,lms_id\njdoe1,Jane,Doe,501\njdoe2,Jane,Doe,502\n"
        "jodoe,John,Doe,601\njohndoe2,John,Doe,602\n"
    )
    import_roster(roster_file, course)
    again = collect_submissions(archive, course)
    students = sorted((c.student, c.lms_id) for c in again.collected)
    assert students == [("jdoe1", "501"), ("jdoe2", "502"), ("jodoe", "601"), ("johndoe2", "602")]
    assert "not on the roster (2): Jane-Roe, alice" in again.summary()
    assert (course.submitted / "jdoe2" / "ps1" / "ps1.ipynb").read_bytes() == theirs


def test_a_later_source_cannot_take_over_a_collected_student(course, tmp_path):
    first = _zip(tmp_path / "first.zip", [("doejane_701_1_ps1.ipynb", _notebook(course))])
    assert [c.student for c in collect_submissions(first, course).collected] == ["doejane"]
    other = _notebook(course, "def squares(n):\n    return [n]")
    second = _zip(tmp_path / "second.zip", [("doejane_702_2_ps1.ipynb", other)])
    report = collect_submissions(second, course)
    assert report.collected == []
    assert [q.code for q in report.quarantined] == ["ambiguous_student"]
    assert "an earlier collect" in report.quarantined[0].reason


def test_symlinks_in_a_folder_are_never_followed(course, tmp_path):
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(_notebook(course))
    source = tmp_path / "class"
    (source / "alice" / "ps1").mkdir(parents=True)
    (source / "alice" / "ps1" / "ps1.ipynb").symlink_to(secret)
    (source / "bob").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere" / "ps1").mkdir(parents=True)
    (tmp_path / "elsewhere" / "ps1" / "ps1.ipynb").write_bytes(_notebook(course))

    report = collect_submissions(source, course)

    assert report.collected == []
    assert sorted(q.code for q in report.quarantined) == ["symlink", "symlink"]
    assert not any(course.submitted.iterdir())


def test_nbgrader_layout_under_any_name_keeps_times_and_extra_files(course, tmp_path):
    source = tmp_path / "submitted"
    for student, stamp in [
        ("bitdiddle", "2015-02-02 14:58:23.948203 America/Los_Angeles"),
        ("hacker", "2025-03-01 12:00:00.000000 UTC"),
    ]:
        folder = source / student / "ps1"
        folder.mkdir(parents=True)
        (folder / "ps1.ipynb").write_bytes(_notebook(course))
        (folder / "timestamp.txt").write_text(stamp + "\n")
        (folder / "data").mkdir()
        (folder / "data" / "points.csv").write_text("x,y\n1,2\n")
        (folder / "figure.png").write_bytes(PNG)

    report = collect_submissions(source, course)

    times = {c.student: c.timestamp for c in report.collected}
    assert times == {
        "bitdiddle": dt.datetime(2015, 2, 2, 22, 58, 23, 948203, tzinfo=dt.UTC),
        "hacker": dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC),
    }
    kept = sorted(str(k.path.relative_to(course.submitted)) for k in report.kept)
    assert kept == [
        "bitdiddle/ps1/data/points.csv",
        "bitdiddle/ps1/figure.png",
        "hacker/ps1/data/points.csv",
        "hacker/ps1/figure.png",
    ]
    assert report.quarantined == []
    _accounted_for(report, 6)  # timestamp.txt files are read, not collected
    assert "kept        ps1/figure.png" in report.summary()


@pytest.mark.parametrize(
    "text",
    ["2025-03-01 12:00:00 UTC", "2025-03-01T12:00:00Z", "2025-03-01 13:00:00 Europe/Berlin"],
)
def test_explicit_timestamps_are_read_as_nbgrader_reads_them(course, tmp_path, text):
    source = tmp_path / "class" / "alice" / "ps1"
    source.mkdir(parents=True)
    (source / "ps1.ipynb").write_bytes(_notebook(course))
    report = collect_submissions(tmp_path / "class", course, timestamp=text)
    assert report.collected[0].timestamp == dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def test_an_unreadable_timestamp_is_refused_in_one_line(course, tmp_path):
    (tmp_path / "alice" / "ps1").mkdir(parents=True)
    (tmp_path / "alice" / "ps1" / "ps1.ipynb").write_bytes(_notebook(course))
    with pytest.raises(ValueError, match="is not a time"):
        collect_submissions(tmp_path / "alice", course, timestamp="next tuesday-ish")


# --------------------------------------------------------------------------- settings, roster


def test_course_file_errors_name_the_file_and_the_setting(tmp_path):
    paths = _init_course(tmp_path / "course")
    course_file = paths.root / "cnnlab.toml"
    good = course_file.read_text()
    for bad, message in [
        ('method = "per_hour"', "needs points > 0"),
        ('timezone = "UTC"', None),
        ("[late]", None),
    ]:
        assert bad in good, message
    course_file.write_text(good.replace('method = "per_hour"', 'method = "sometimes"'))
    with pytest.raises(ValueError, match=r"cnnlab.toml: \[late\] method 'sometimes'"):
        course_settings(paths)
    course_file.write_text(good.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'))
    with pytest.raises(ValueError, match=r"\[course\] timezone"):
        course_settings(paths)
    course_file.write_text(good + "\n[limits]\nmemory = 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) memory in \[limits\]"):
        course_settings(paths)
    course_file.write_text(good + "\n[kit]\nexchange_dir = '/srv'\n")  # another command's
    assert course_settings(paths).title == "Intro to Programming"


def test_parse_time_reads_nbgrader_and_iso_formats():
    utc = dt.datetime(2015, 2, 2, 22, 58, 23, 948203, tzinfo=dt.UTC)
    assert parse_time("2015-02-02 14:58:23.948203 America/Los_Angeles") == utc
    assert parse_time("2015-02-02 22:58:23.948203 UTC") == utc
    assert parse_time("2015-02-02T22:58:23.948203+00:00") == utc
    assert parse_time("2015-02-02 23:58:23.948203", "Europe/Berlin") == utc
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_time("2015-02-02 14:58:23 Nowhere/Town")


def test_roster_import_reads_a_canvas_gradebook_export(course, tmp_path):
    export = tmp_path / "canvas.csv"
    export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,ps1 (4321)\n"
        "    Points Possible,,,,,3\n"
        '"Liddell, Alice",1001,S-1,aliddell,Section A,\n'
        '"Dobbs, Bob",1002,S-2,,Section B,\n'
    )
    roster = import_roster(export, course)
    assert roster.file == course.root / "roster.csv"
    assert [(s.id, s.first_name, s.last_name, s.lms_id) for s in read_roster(course).students] == [
        ("aliddell", "Alice", "Liddell", "1001"),
        ("S-2", "Bob", "Dobbs", "1002"),
    ]
    assert read_roster(course).match("liddellalice") == "aliddell"  # Canvas file-name form
    assert read_roster(course).match("someone", "1002") == "S-2"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAlice,a@example.org\n")
    with pytest.raises(ValueError, match=r"bad\.csv has no 'id' column"):
        import_roster(bad, course)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,lms_id\na,1\nb,1\n")
    with pytest.raises(ValueError, match="lms_id '1' appears twice"):
        import_roster(twice, course)


def test_cli_init_and_roster_work_on_the_course_named_with_course(tmp_path, capsys):
    root = tmp_path / "new course"
    assert cli.main(["init", str(root), "--assignment", "week-1"]) == 0
    (tmp_path / "class.csv").write_text(ROSTER)
    assert cli.main(["--course", str(root), "roster", "import", str(tmp_path / "class.csv")]) == 0
    assert cli.main(["--course", str(root), "check"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "3 student(s)" in out and "1 notebook(s) checked, 0 problem" in out
    assert course_settings(root).assignment_titles == {"week-1": "week-1"}


def test_header_and_limits_of_the_course_file_reach_nbgrader(tmp_path):
    paths = _init_course(tmp_path / "course")
    header = nbformat.v4.new_notebook()
    header.cells = [nbformat.v4.new_markdown_cell("Intro to Programming, spring term")]
    nbformat.write(header, paths.root / "header.ipynb")
    course_file = paths.root / "cnnlab.toml"
    text = course_file.read_text().replace(
        '# header = "notebooks/header.ipynb"', 'header = "header.ipynb"'
    )
    text = text.replace("# [limits]\n# cell_timeout_s = 120", "[limits]\ncell_timeout_s = 120")
    course_file.write_text(text + "")
    config = load_nbgrader_config(paths)
    assert config.CourseDirectory.course_id == "course"
    assert config.Execute.timeout == 120
    assert config.IncludeHeaderFooter.header == str(paths.root / "header.ipynb")
    assert config.CourseLatePlugin.method == "per_hour"
    release_assignments(paths)
    released = nbformat.read(paths.release / "ps1" / "ps1.ipynb", as_version=4)
    assert released.cells[0].source == "Intro to Programming, spring term"


@pytest.mark.slow
def test_the_course_run_works_on_a_course_made_by_init(tmp_path):
    """``cnnlab course`` on another course: its titles, its manual points, its own build."""
    import subprocess
    import sys

    paths = _paths(tmp_path / "course")
    init_course(paths.root, "ps1", "Intro to Programming")
    command = ["-m", "grading.cli", "--course", str(paths.root), "course", "--profile", "smoke"]
    done = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout
    assert "full marks on autograded cells" in table and "await manual grading (ps1 1)" in table
    assert "demo class as expected" in table
    check = paths.build / "course-check"
    report = (check / "reports" / "report.html").read_text(encoding="utf-8")
    assert "<title>Intro to Programming grading report</title>" in report
    with (check / "grades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["student_id"] for row in rows} >= {"reference-solution", "demo_correct"}
    assert not (paths.build / "gradebook.db").exists()  # the class's gradebook is untouched
