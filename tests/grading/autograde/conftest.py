"""Fixtures of the autograding tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def scratch_root():
    """A scratch root of the module's own, set in ``CNNLAB_SCRATCH_DIR`` (before a cluster's
    workers start, which inherit it). Private to its owner (``mkdtemp``'s 0700), as an
    instructor's folder may be: the grader keeps its mode, and the sandbox needs no more."""
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-test-scratch-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_SCRATCH_DIR", str(folder))
        yield folder
    shutil.rmtree(folder, ignore_errors=True)
