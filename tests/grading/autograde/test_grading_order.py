"""The order a class is graded in: the submissions that answer the most start first."""

from __future__ import annotations

import json

from fixture_courses import GRADING_COURSE

from grading.autograde.run import _answered_cells
from grading.autograde.sandbox import SandboxLimits
from grading.autograde.task import load_task
from grading.base.template import build_template
from grading.demo import make_class
from grading.paths import CoursePaths

ASSIGNMENT = "01_fixture"


def test_answered_cells_rank_blank_last(tmp_path):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    template = build_template(paths, ASSIGNMENT)
    demo = make_class(paths, ASSIGNMENT, ["correct", "partly_wrong", "blank"], template=template)
    answered = {
        kind: _answered_cells(
            load_task(
                paths,
                ASSIGNMENT,
                demo.student(kind).student,
                template,
                config={},
                limits=SandboxLimits(),
            )
        )
        for kind in ("correct", "partly_wrong", "blank")
    }
    assert answered["blank"] == 0
    assert answered["correct"] >= answered["partly_wrong"] > 0
    solution_cells = sum(
        1
        for cell in json.loads(template.release[template.notebook_names[0]])["cells"]
        if cell["metadata"].get("nbgrader", {}).get("solution")
    )
    assert answered["correct"] <= solution_cells
