"""The grading program's metadata check is nbgrader's, with the schema compiled once."""

import copy
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.common import SchemaMismatchError
from nbgrader.preprocessors import CheckCellMetadata

from grading.autograde.grade_in_sandbox import CheckMetadataOnce

SOURCE = Path(__file__).parents[3] / "notebooks" / "02_mnist" / "mnist_cnn.ipynb"


def _graded_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _duplicate_id(notebook):
    first, second = _graded_cells(notebook)[:2]
    second.metadata.nbgrader.grade_id = first.metadata.nbgrader.grade_id


CHANGES = {
    "unchanged": lambda nb: None,
    "old-schema": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.update(schema_version=2),
    "negative-points": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.update(points=-1),
    "no-points": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.pop("points"),
    "no-grade-id": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.pop("grade_id"),
    "bad-grade-id": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.update(grade_id="a b"),
    "points-as-text": lambda nb: _graded_cells(nb)[0].metadata.nbgrader.update(points="2"),
    "duplicate-id": _duplicate_id,
}


def _verdict(preprocessor, notebook) -> bool:
    """Whether the check accepts the notebook (nbgrader refuses an old schema with its own
    error, ours with a ``ValidationError``)."""
    try:
        preprocessor.preprocess(copy.deepcopy(notebook), {})
    except (ValidationError, SchemaMismatchError):
        return False
    return True


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_it_accepts_and_refuses_what_nbgrader_does(change):
    notebook = nbformat.read(SOURCE, as_version=4)
    CHANGES[change](notebook)
    ours = _verdict(CheckMetadataOnce(), notebook)
    assert ours == _verdict(CheckCellMetadata(), notebook)
    assert ours == (change == "unchanged")
