"""The gradebook on a real PostgreSQL server (``tests/postgres_server.py`` starts one).

The same synthetic class graded into SQLite and into PostgreSQL gives the same gradebook.
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy
from fixture_courses import GRADING_COURSE

from grading.autograde.run import autograde
from grading.autograde.sandbox import SandboxLimits
from grading.base.gradebook import (
    LOG_TABLE,
    GradebookError,
    cell_scores,
    grading_log,
    normalise_db_url,
    open_gradebook,
)
from grading.demo import make_class
from grading.paths import CoursePaths

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LIMITS = SandboxLimits(cell_timeout=20, notebook_timeout=150, memory_limit_mb=1000)
KINDS = (
    "correct",
    "blank",
    "partly_wrong",
    "segfault",
    "changed_points",
    "tamper_custom_exc",
    "not_a_notebook",
)
LOG_COLUMNS = ["assignment", "student", "status", "reasons", "score", "max_score", "attempts"]


def _counts(url: str) -> dict[str, int]:
    engine = sqlalchemy.create_engine(normalise_db_url(url))
    tables = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")
    with engine.connect() as connection:
        counts = {
            table: connection.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar()
            for table in (*tables, LOG_TABLE)
        }
    engine.dispose()
    return counts


def test_postgres_gradebook_matches_sqlite(postgres_url, tmp_path):
    paths = CoursePaths(root=GRADING_COURSE, build=tmp_path / "build")
    demo = make_class(paths, "01_fixture", KINDS)
    on_sqlite = autograde(paths, jobs=2, limits=LIMITS, progress=False)
    on_postgres = autograde(paths, jobs=2, db_url=postgres_url, limits=LIMITS, progress=False)
    assert on_postgres.db_url.startswith("postgresql+psycopg://")
    assert on_sqlite.errors == on_postgres.errors == []

    sqlite_url = normalise_db_url(None, paths)
    pd.testing.assert_frame_equal(cell_scores(sqlite_url), cell_scores(postgres_url))
    pd.testing.assert_frame_equal(
        grading_log(sqlite_url)[LOG_COLUMNS], grading_log(postgres_url)[LOG_COLUMNS]
    )
    scores = grading_log(postgres_url).set_index("student").score.to_dict()
    assert scores == demo.expected_scores()
    assert _counts(postgres_url) == _counts(sqlite_url)
    assert _counts(postgres_url)[LOG_TABLE] == len(KINDS)

    again = autograde(paths, jobs=2, db_url=postgres_url, limits=LIMITS, progress=False)
    assert again.graded == [] and len(again.skipped) == len(KINDS)


def test_a_missing_postgres_database_is_a_clear_error(postgres_server):
    url = postgres_server.url("no_such_course")
    with pytest.raises(GradebookError, match="no_such_course") as raised, open_gradebook(url):
        pass
    assert "does not exist" in str(raised.value) and "createdb" in str(raised.value)
