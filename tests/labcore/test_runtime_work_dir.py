"""labcore.runtime.work_dir: where notebooks write checkpoints and tuning results."""

from __future__ import annotations

import pytest

from labcore import runtime


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A course checkout with one assignment folder; the working directory is that folder."""
    root = tmp_path / "course"
    assignment = root / "notebooks" / "03_xray"
    assignment.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "course"\n')
    monkeypatch.delenv("CNNLAB_BUILD_DIR", raising=False)
    monkeypatch.chdir(assignment)
    return root


def test_inside_a_checkout_files_go_to_its_build_folder_not_next_to_the_notebook(checkout):
    folder = runtime.work_dir("checkpoints")
    assert folder == checkout / "build" / "checkpoints"
    assert folder.is_dir()
    assert not (checkout / "notebooks" / "03_xray" / "build").exists()


def test_cnnlab_build_dir_moves_the_build_folder_of_a_checkout(checkout, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(tmp_path / "elsewhere"))
    assert runtime.work_dir("tuning", "runs") == tmp_path / "elsewhere" / "tuning" / "runs"
    assert (tmp_path / "elsewhere" / "tuning" / "runs").is_dir()


def test_outside_a_checkout_the_working_directory_holds_build(tmp_path, monkeypatch):
    # a grading sandbox: CNNLAB_BUILD_DIR of the grader's environment must not be used
    monkeypatch.setenv("CNNLAB_BUILD_DIR", str(tmp_path / "instructor-build"))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    assert runtime.work_dir("tuning") == workspace / "build" / "tuning"
    assert runtime.work_dir() == workspace / "build"
    assert not (tmp_path / "instructor-build").exists()


@pytest.mark.parametrize("part", ["", "/etc", "../up", 3])
def test_work_dir_refuses_parts_that_leave_the_build_folder(part, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="relative folder names"):
        runtime.work_dir(part)
