"""Scratch folders of grading jobs: nothing of a submission outlives it.

A job folder whose path is too long for Unix sockets keeps its kernel's sockets in a folder
of the system's temporary folder; that folder goes when the job folder goes, whether the
job ended or was left behind by a killed grader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from grading.autograde.grade import JOB_LOCK, _job_folder, clean_stale_scratch
from grading.autograde.kernel_manager import IPC_LOCATION, _ipc_folder, remove_ipc_folder

LONG_STUDENT = "a-student-id-long-enough-that-the-socket-path-would-not-fit-" + "x" * 20


def test_a_long_job_folder_keeps_its_sockets_outside_and_removes_them(tmp_path):
    with _job_folder(tmp_path, "02_mnist", LONG_STUDENT) as job:
        sockets = _ipc_folder(job, None)
        assert sockets.parent == Path(tempfile.gettempdir())  # short enough for a socket
        assert (job / IPC_LOCATION).read_text() == str(sockets)
        (sockets / "k-1").write_text("")
    assert not job.exists()
    assert not sockets.exists()


def test_a_stale_job_folder_goes_with_its_sockets(tmp_path):
    job = Path(tempfile.mkdtemp(prefix=f"02_mnist-{LONG_STUDENT}-", dir=tmp_path))
    (job / JOB_LOCK).write_text("")  # its grader was killed: nobody holds the lock
    sockets = _ipc_folder(job, None)
    assert clean_stale_scratch(str(tmp_path)) == 1
    assert not job.exists() and not sockets.exists()


def test_only_a_sockets_folder_the_grader_made_is_removed(tmp_path):
    job, elsewhere = tmp_path / "job", tmp_path / "cnnlab-ipc-not-in-tmp"
    job.mkdir()
    elsewhere.mkdir()
    (job / IPC_LOCATION).write_text(str(elsewhere))
    remove_ipc_folder(job)
    assert elsewhere.is_dir()
    other = Path(tempfile.mkdtemp(prefix="someone-else-"))
    try:
        (job / IPC_LOCATION).write_text(str(other))
        remove_ipc_folder(job)
        assert other.is_dir()
    finally:
        other.rmdir()
