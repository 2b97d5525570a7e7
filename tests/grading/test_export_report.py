"""``cnnlab export`` and ``cnnlab report`` on a really autograded class."""

from __future__ import annotations

import base64
import csv
import math
import re

import pandas as pd
import pytest
from fixtures.instructor.classroom import (
    EXPECTED_SCORES,
    FIXTURE_COURSE,
    clone_course,
    copy_course,
    course_roots,
    graded_course,
)

from grading import cli
from grading.base.gradebook import GradebookError, cell_scores, grading_log
from grading.export import export_grades, format_points, grade_table, submission_scores
from grading.release import release_assignments
from grading.report import (
    grading_times,
    plot_grading_time,
    plot_question_means,
    plot_score_distribution,
    read_report_data,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNREACHABLE = "postgresql://grader:secret@127.0.0.1:9/gradebook"


@pytest.fixture(scope="module")
def graded_fixture(tmp_path_factory):
    return graded_course(FIXTURE_COURSE, tmp_path_factory.getbasetemp())


@pytest.fixture
def graded(graded_fixture, tmp_path):
    return clone_course(graded_fixture, tmp_path / "course")


# --------------------------------------------------------------------------- export


@pytest.mark.slow
def test_export_writes_the_exact_grades_of_the_class(graded):
    output = export_grades(graded)
    assert output == graded.build / "grades.csv"
    assert output.read_bytes().decode("utf-8") == (
        "student_id,01_fixture,02_fixture_text,total\n"
        "alice,5,1,6\n"
        "bob,2,0,2\n"
        "carol,0,,0\n"
        "dave,,1,1\n"
    )


@pytest.mark.slow
def test_grade_table_agrees_with_the_expected_scores(graded):
    grades, max_points = grade_table(graded.gradebook_url)
    for student, expected in EXPECTED_SCORES.items():
        for assignment in ("01_fixture", "02_fixture_text"):
            value = grades.loc[student, assignment]
            if assignment in expected:
                assert value == expected[assignment]
            else:
                assert math.isnan(value)
        assert grades.loc[student, "total"] == sum(expected.values())
    assert max_points.to_dict() == {"01_fixture": 5.0, "02_fixture_text": 2.0, "total": 7.0}
    scores = submission_scores(graded.gradebook_url)
    assert len(scores) == 6
    alice = scores.set_index(["assignment", "student"]).loc[("02_fixture_text", "alice")]
    assert bool(alice["needs_manual_grade"])  # the written answer awaits an instructor


@pytest.mark.parametrize("root", course_roots(), ids=lambda root: root.name)
@pytest.mark.slow
def test_export_has_a_row_per_student_and_a_column_per_assignment(root, tmp_path_factory):
    paths = graded_course(root, tmp_path_factory.getbasetemp())
    output = export_grades(paths, output=tmp_path_factory.mktemp("export") / "grades.csv")
    with output.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["student_id", *paths.assignments(), "total"]
    for row in rows[1:]:
        assert all(re.fullmatch(r"\d+(\.\d{1,2})?|", cell) for cell in row[1:])
        parts = [float(cell) for cell in row[1:-1] if cell]
        assert float(row[-1]) == pytest.approx(sum(parts), abs=0.011)


@pytest.mark.parametrize(
    ("value", "text"),
    [(5.0, "5"), (4.5, "4.5"), (1 / 3, "0.33"), (2.005, "2"), (0.0, "0"), (float("nan"), "")],
)
def test_format_points(value, text):
    assert format_points(value) == text


@pytest.mark.slow
def test_export_errors(graded, tmp_path, monkeypatch, capsys):
    with pytest.raises(FileNotFoundError, match="No gradebook at"):
        export_grades(graded, db_url=str(tmp_path / "nothing.db"))
    with pytest.raises(GradebookError, match=re.escape("grader:***@127.0.0.1:9")):
        export_grades(graded, db_url=UNREACHABLE)
    released_only = copy_course(tmp_path / "released", FIXTURE_COURSE)
    release_assignments(released_only)
    with pytest.raises(ValueError, match="no students"):
        export_grades(released_only)
    monkeypatch.setenv("CNNLAB_ROOT", str(released_only.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["export"]) == 2
    assert "empty class" in capsys.readouterr().err


@pytest.mark.slow
def test_export_command(graded, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(graded.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    target = tmp_path / "lms.csv"
    assert cli.main(["export", "--output", str(target)]) == 0
    out = capsys.readouterr().out
    assert "maximum points: 01_fixture 5, 02_fixture_text 2, total 7" in out
    # alice's written answer awaits manual grading (blank answers are scored 0 automatically)
    assert "1 point(s) await manual grading (02_fixture_text 1 in 1 submission(s))" in out
    assert target.read_text(encoding="utf-8").splitlines()[1] == "alice,5,1,6"


# --------------------------------------------------------------------------- report


@pytest.mark.slow
def test_report_has_the_plots_and_the_problem_table(graded):
    # one more submission that was collected but never graded
    ungraded = graded.submitted / "erin" / "01_fixture"
    ungraded.mkdir(parents=True)
    (ungraded / "fixture.ipynb").write_bytes(
        (graded.release / "01_fixture" / "fixture.ipynb").read_bytes()
    )

    output = write_report(graded)

    assert output == graded.reports / "report.html"
    html = output.read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert [alt for alt, _ in images] == [
        "Score distribution per assignment",
        "Mean score per question",
        "Time per submission",
    ]
    for _, data in images:
        assert base64.b64decode(data).startswith(PNG_SIGNATURE)
    problems = html.split('<table id="problems">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", problems)
    assert [(student, assignment, what) for student, assignment, what, _ in rows] == [
        ("erin", "01_fixture", "not graded"),
        ("dave", "01_fixture", "quarantined"),
    ]
    assert "not valid JSON" in rows[1][3]
    summary = html.split('<table id="summary">', 1)[1].split("</table>", 1)[0]
    assert '<td>01_fixture</td><td class="number">3</td>' in summary
    # 02's written answer (1 point) awaits manual grading in one submission
    assert "<th>points awaiting manual grading</th>" in summary
    assert re.search(
        r'<td>02_fixture_text</td>(<td class="number">[^<]*</td>){4}'
        r'<td class="number">1</td><td class="number">1</td></tr>',
        summary,
    )
    assert "cnnlab lab --instructor" in html


@pytest.mark.slow
def test_report_data_and_plots_show_the_right_numbers(graded):
    data = read_report_data(graded, graded.gradebook_url)
    assert len(data.scores) == 6 and len(data.times) == 6
    assert (data.times["seconds"] > 0).all() and set(data.times["measured"]) == {"cells"}
    assert data.problems[["student", "what"]].to_numpy().tolist() == [["dave", "quarantined"]]

    figure = plot_question_means(data.cells)
    axes = figure.axes[0]
    labels = [tick.get_text() for tick in axes.get_yticklabels()]

    def question(bar) -> str:
        return labels[round(bar.get_y() + bar.get_height() / 2)]

    widths = {question(bar): bar.get_width() for bar in axes.patches if not bar.get_hatch()}
    assert widths == pytest.approx(
        {
            "01_fixture / test_add_numbers": 100 * 4 / 6,  # alice 2, bob 2, carol 0 of 2 each
            "01_fixture / test_mean_of": 100 * 3 / 9,  # alice 3 of 3, bob and carol 0
            "02_fixture_text / padding_answer": 0.0,  # the blank answers, scored 0 automatically
            "02_fixture_text / test_square": 100 * 2 / 3,
        }
    )
    # the written answer that waits for a grader is marked as such, not counted as 0
    assert [text.get_text() for text in axes.texts] == [" 1 await manual grading"]
    # for the one student whose answer waits, the question has a marked frame, not a bar
    alice = plot_question_means(data.cells[data.cells["student"] == "alice"]).axes[0]
    labels = [tick.get_text() for tick in alice.get_yticklabels()]
    assert [question(bar) for bar in alice.patches if bar.get_hatch()] == [
        "02_fixture_text / padding_answer"
    ]
    assert [text.get_text() for text in alice.texts] == ["awaits manual grading"]

    figure = plot_score_distribution(data.scores)
    dots = sorted(
        float(x) for collection in figure.axes[0].collections for x, _ in collection.get_offsets()
    )
    assert dots == pytest.approx(sorted([100, 40, 0, 50, 0, 50]))

    figure = plot_grading_time(data.times)
    assert figure.axes[0].get_xlabel() == "grading time per submission (s)"


@pytest.mark.slow
def test_grading_times_prefer_the_grading_log(graded):
    log = pd.DataFrame(
        {"assignment": ["01_fixture"], "student": ["alice"], "seconds": [12.5]},
    ).reindex(columns=grading_log(graded.gradebook_url).columns)
    scores = submission_scores(graded.gradebook_url)
    times = grading_times(graded, log, scores).set_index(["assignment", "student"])
    assert times.loc[("01_fixture", "alice"), "seconds"] == 12.5
    assert times.loc[("01_fixture", "alice"), "measured"] == "grader"
    assert (times.drop(index=[("01_fixture", "alice")])["measured"] == "cells").all()
    assert len(cell_scores(graded.gradebook_url)) == 3 * 2 + 3 * 2


def test_report_errors(tmp_path, monkeypatch, capsys):
    released_only = copy_course(tmp_path / "released", FIXTURE_COURSE)
    release_assignments(released_only)
    with pytest.raises(ValueError, match="Nothing to report"):
        write_report(released_only)
    with pytest.raises(GradebookError, match="Cannot open the gradebook"):
        write_report(released_only, db_url=UNREACHABLE)
    monkeypatch.setenv("CNNLAB_ROOT", str(released_only.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["report", "--db", str(tmp_path / "missing.db")]) == 2
    assert "No gradebook at" in capsys.readouterr().err


@pytest.mark.slow
def test_report_command(graded, monkeypatch, capsys):
    monkeypatch.setenv("CNNLAB_ROOT", str(graded.root))
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    assert cli.main(["report"]) == 0
    assert f"wrote {graded.reports / 'report.html'}" in capsys.readouterr().out
