"""``cnnlab data``: which file each dataset of the course resolves to, without downloading.

One aligned row per dataset the notebooks load: the file it resolves to (a substitute
included: the unofficial PneumoniaMNIST reconstruction, or PneumoniaMNIST written as image
folders for the chest X-ray sample), where that file is, and a status:

``ok``
    The file the course prefers is here (data directory or mirror), checksum verified.
``substitute``
    A clearly labelled stand-in is used because the preferred file is not here.
``download``
    Not here; fetched from its official URL the first time a notebook needs it.
``MISSING``
    Not here, and no network (``LABCORE_OFFLINE`` or no answer) or no URL to fetch it from.
``DAMAGED``
    A copy whose checksum or content is wrong (never used, never deleted).

The command exits 1, with the fix, when a dataset is ``MISSING`` or ``DAMAGED``.
"""

from __future__ import annotations

import argparse
import functools
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from grading.errors import CommandFailed

__all__ = ["DatasetStatus", "add_arguments", "dataset_status", "main"]

_MNIST = "mnist/{}-ubyte.gz"
_NETWORK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class DatasetStatus:
    """Where one dataset of the course resolves.

    Attributes
    ----------
    dataset : str
        What it is, e.g. ``"PneumoniaMNIST"``.
    status : str
        ``ok``, ``substitute``, ``download``, ``MISSING`` or ``DAMAGED``.
    file : str
        The file or folder it resolves to, relative to the data directory.
    location : str
        Where that is: a local path, the download URL, or why there is none.
    error : str
        For ``DAMAGED``: what is wrong and what to do.
    """

    dataset: str
    status: str
    file: str
    location: str
    error: str = ""


def _reachable(url: str) -> bool:
    """Whether the host of a download URL accepts a connection within a few seconds."""
    parts = urlsplit(url)
    return _host_answers(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


@functools.cache
def _host_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=_NETWORK_TIMEOUT_S):
            return True
    except OSError:
        return False


def _resolve(label: str, candidates: list[str], rows: dict[str, dict]) -> DatasetStatus:
    """The status of a dataset from :func:`labcore.datastore.describe` rows of its files."""
    from labcore import datastore

    for path in candidates:
        if rows[path]["status"].startswith("error"):
            return DatasetStatus(label, "DAMAGED", path, "", rows[path]["status"][7:])
    for rank, path in enumerate(candidates):
        if rows[path]["status"] == "ok":
            status = "ok" if rank == 0 else "substitute"
            return DatasetStatus(label, status, path, str(rows[path]["location"]))
    entry = datastore.REGISTRY.get(candidates[0])
    if entry is None or not entry.urls:
        return DatasetStatus(label, "MISSING", candidates[0], "no copy here, no download URL")
    if datastore.offline():
        return DatasetStatus(
            label, "MISSING", candidates[0], f"no copy here; {datastore.OFFLINE_ENV}=1"
        )
    if not _reachable(entry.urls[0]):
        host = urlsplit(entry.urls[0]).hostname
        return DatasetStatus(label, "MISSING", candidates[0], f"no copy here; {host} unreachable")
    return DatasetStatus(label, "download", candidates[0], entry.urls[0])


def dataset_status() -> list[DatasetStatus]:
    """Where each dataset of the course resolves now (nothing is downloaded).

    Returns
    -------
    list of DatasetStatus
        MNIST (four files), PneumoniaMNIST (the official file, else the unofficial
        reconstruction) and the chest X-ray images (the Kermany sample, else PneumoniaMNIST
        written as image folders).
    """
    from labcore import datastore

    rows = {str(row["path"]): row for row in datastore.describe()}
    statuses = [
        _resolve(
            f"MNIST {name}", [_MNIST.format(f"{name}-idx{3 if 'images' in name else 1}")], rows
        )
        for name in ("train-images", "train-labels", "t10k-images", "t10k-labels")
    ]
    pneumonia = _resolve(
        "PneumoniaMNIST",
        [datastore.PNEUMONIAMNIST_OFFICIAL, datastore.PNEUMONIAMNIST_RECONSTRUCTION],
        rows,
    )
    statuses.append(pneumonia)
    xray = _resolve("chest X-ray images", [f"{name}/" for name in datastore.FOLDERS], rows)
    if xray.status == "MISSING" and pneumonia.status in ("ok", "substitute", "download"):
        xray = DatasetStatus(
            xray.dataset,
            "substitute",
            f"PneumoniaMNIST as image folders (from {pneumonia.file})",
            str(datastore.data_dir() / "pneumoniamnist_folders"),
        )
    statuses.append(xray)
    return statuses


def _table(statuses: list[DatasetStatus]) -> list[str]:
    header = DatasetStatus("dataset", "status", "resolves to", "location")
    widths = [
        max(len(getattr(row, column)) for row in [header, *statuses])
        for column in ("dataset", "status", "file")
    ]
    return [
        f"{row.dataset:{widths[0]}}  {row.status:{widths[1]}}  {row.file:{widths[2]}}  "
        f"{row.location}".rstrip()
        for row in [header, *statuses]
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cnnlab data`` (none)."""


def main(args: argparse.Namespace) -> int:
    """Print where each dataset resolves; fail with the fix when one cannot be had.

    Returns 0 when every dataset is here or can be downloaded.

    Raises
    ------
    grading.errors.CommandFailed
        When a dataset is damaged, or missing with no network to fetch it (exit status 1).
    """
    from labcore import datastore

    print(f"data directory: {datastore.data_dir()}")
    print(f"mirror:         {datastore.mirror_dir() or f'({datastore.MIRROR_ENV} not set)'}")
    statuses = dataset_status()
    print("\n".join(_table(statuses)))
    damaged = [row for row in statuses if row.status == "DAMAGED"]
    for row in damaged:
        print(f"\n{row.dataset}: {row.error}")
    missing = [row.dataset for row in statuses if row.status == "MISSING"]
    if missing:
        raise CommandFailed(
            f"the course needs {', '.join(missing)}, and there is no copy here and no way to "
            f"download it: set {datastore.MIRROR_ENV} to a copy of the course data (the layout of "
            f"data/README.md) or copy the files into {datastore.data_dir()}; or go online "
            f"(unset {datastore.OFFLINE_ENV})"
        )
    if damaged:
        raise CommandFailed(f"{len(damaged)} dataset(s) damaged; see above")
    return 0
