"""Fixtures of the autograding tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def scratch_root():
    """A scratch root of the module's own, set in ``CNNLAB_SCRATCH_DIR`` (before a cluster's
    workers start, which inherit it); traversable by the sandbox user, unlike pytest's
    folders."""
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-test-scratch-"))
    folder.chmod(0o711)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNLAB_SCRATCH_DIR", str(folder))
        yield folder
    shutil.rmtree(folder, ignore_errors=True)
