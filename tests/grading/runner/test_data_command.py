"""``cnnlab data``: an aligned table of where each dataset resolves, and its exit status."""

from __future__ import annotations

import re

from grading import cli
from grading.runner.data import dataset_status
from labcore import datastore


def _table(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("dataset "))
    return lines[start : start + 7]


def _column_starts(line: str) -> list[int]:
    return [match.start() for match in re.finditer(r"(?<=  )\S", line)]


def test_the_table_is_aligned_and_names_the_file_each_dataset_uses(mirror, capsys):
    assert cli.main(["data"]) == 0
    table = _table(capsys.readouterr().out)
    header = _column_starts(table[0])[:3]  # status, resolves to, location
    for line in table[1:]:
        assert _column_starts(line)[:3] == header, f"not aligned:\n{table[0]}\n{line}"
    row = next(line for line in table if line.startswith("PneumoniaMNIST "))
    if (mirror / datastore.PNEUMONIAMNIST_OFFICIAL).is_file():
        assert " ok " in row and datastore.PNEUMONIAMNIST_OFFICIAL in row
    else:  # the mirror's reconstruction is in use, and says so: not "missing"
        assert (
            " substitute " in row and str(mirror / datastore.PNEUMONIAMNIST_RECONSTRUCTION) in row
        )


def test_no_copy_and_no_network_fails_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("LABCORE_DATA_MIRROR")
    monkeypatch.setenv("LABCORE_OFFLINE", "1")
    assert {row.status for row in dataset_status()} == {"MISSING"}
    assert cli.main(["data"]) == 1
    captured = capsys.readouterr()
    assert "no copy here; LABCORE_OFFLINE=1" in captured.out
    error = captured.err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("cnnlab data: the course needs MNIST")
    assert "set LABCORE_DATA_MIRROR to a copy of the course data" in error[0]
    assert str(tmp_path / "empty") in error[0]


def test_a_missing_xray_sample_is_replaced_by_pneumoniamnist_folders(mirror, tmp_path, monkeypatch):
    # a mirror with PneumoniaMNIST but without the JPEG sample
    partial = tmp_path / "mirror"
    (partial / "pneumoniamnist").mkdir(parents=True)
    for name in (datastore.PNEUMONIAMNIST_OFFICIAL, datastore.PNEUMONIAMNIST_RECONSTRUCTION):
        if (mirror / name).is_file():
            (partial / name).symlink_to(mirror / name)
    monkeypatch.setenv("LABCORE_DATA_MIRROR", str(partial))
    xray = {row.dataset: row for row in dataset_status()}["chest X-ray images"]
    assert xray.status == "substitute" and xray.file.startswith("PneumoniaMNIST as image folders")
