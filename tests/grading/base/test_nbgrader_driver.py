"""Loading the course's nbgrader configuration and running nbgrader steps for a course."""

from __future__ import annotations

import os

import pytest
from fixtures.instructor.classroom import FIXTURE_COURSE, copy_course

from grading.base.nbgrader_driver import (
    NbgraderError,
    existing_gradebook_url,
    load_nbgrader_config,
    run_converter,
)


@pytest.fixture
def course(tmp_path):
    return copy_course(tmp_path / "course", FIXTURE_COURSE)


def test_config_is_the_course_file_pointed_at_the_given_course(course, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not inside any course
    monkeypatch.delenv("CNNLAB_ROOT", raising=False)
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)

    config = load_nbgrader_config(course)

    assert config.CourseDirectory.root == str(course.build)
    assert config.CourseDirectory.source_directory == str(course.notebooks)
    assert config.CourseDirectory.db_url == course.gradebook_url
    assert config.Execute.timeout > 30  # the course's, not nbgrader's 30 s default
    assert config.IgnorePattern.enabled is True
    assert "CNNLAB_ROOT" not in os.environ and "CNNLAB_BUILD_DIR" not in os.environ
    other = load_nbgrader_config(course, "postgresql+psycopg://grader@db/course")
    assert other.CourseDirectory.db_url == "postgresql+psycopg://grader@db/course"


def test_run_converter_generates_an_assignment_and_reports_failures(course):
    from nbgrader.converters import GenerateAssignment

    from grading.base.gradebook import open_gradebook

    with open_gradebook(course.gradebook_url, course):
        pass  # nbgrader needs an existing gradebook
    config = load_nbgrader_config(course)
    run_converter(GenerateAssignment, config, assignment_id="01_fixture")
    assert (course.release / "01_fixture" / "fixture.ipynb").is_file()

    notebook = course.notebooks / "01_fixture" / "fixture.ipynb"
    notebook.write_text(notebook.read_text().replace('"schema_version": 3', '"schema_version": 9'))
    with pytest.raises(NbgraderError, match="failed for assignment '01_fixture'") as caught:
        run_converter(GenerateAssignment, config, assignment_id="01_fixture")
    assert "newer version" in str(caught.value)  # nbgrader's own explanation is passed on


def test_existing_gradebook_url(course, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No gradebook at .*gradebook\.db"):
        existing_gradebook_url(course)
    database = tmp_path / "grades.db"
    database.write_bytes(b"")
    assert existing_gradebook_url(course, str(database)) == f"sqlite:///{database}"
    assert (
        existing_gradebook_url(course, "postgresql://grader@db.example.org/course")
        == "postgresql+psycopg://grader@db.example.org/course"
    )
    with pytest.raises(ValueError, match="unsupported database"):
        existing_gradebook_url(course, "oracle://x/y")
