"""The data store: pinned files, where to find them, and how to fetch them.

The loaders in :mod:`labcore.data` ask this module for files; students never need to.
Every file the course uses is pinned by its SHA-256 in :data:`REGISTRY` (folders, such as
the chest X-ray sample, file by file in ``labcore/registry/``). A file is looked for, in
this order:

1. the data directory: ``LABCORE_DATA_DIR``, by default the ``data/`` folder of this
   checkout (or ``~/.cache/cnnlab`` when labcore is installed elsewhere);
2. a mirror folder with the same layout: ``LABCORE_DATA_MIRROR`` (a USB stick, a shared
   drive, the course server);
3. the official URL, downloaded into the data directory with a progress bar
   (``LABCORE_OFFLINE=1`` switches downloading off).

A file whose checksum does not match is never used and never deleted: you get an error that
names it, the expected and the actual hash, and what to do. ``cnnlab data`` shows where
every file resolves (:func:`describe`); see docs/data.md.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV",
    "FOLDERS",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "PNEUMONIAMNIST_OFFICIAL",
    "PNEUMONIAMNIST_RECONSTRUCTION",
    "REGISTRY",
    "ChecksumError",
    "DataError",
    "DataFile",
    "DataNotFoundError",
    "data_dir",
    "describe",
    "fetch",
    "fetch_folder",
    "find_local",
    "mirror_dir",
    "offline",
    "sha256_of",
]

DATA_DIR_ENV = "LABCORE_DATA_DIR"
MIRROR_ENV = "LABCORE_DATA_MIRROR"
OFFLINE_ENV = "LABCORE_OFFLINE"

_MNIST_URLS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_MEDMNIST_URLS = (
    "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1",
    "https://zenodo.org/record/6496656/files/pneumoniamnist.npz?download=1",
)
KAGGLE_XRAY_URL = "https://www.kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia"
MENDELEY_XRAY_URL = "https://data.mendeley.com/datasets/rscbjbr9sj/2"


# --------------------------------------------------------------------------- registry


class DataError(RuntimeError):
    """A dataset file is missing, damaged or malformed."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the registry. The file is left where it is."""


class DataNotFoundError(DataError):
    """A file is in neither the data directory nor the mirror and cannot be downloaded."""


@dataclass(frozen=True)
class DataFile:
    """One pinned file of the registry.

    Attributes
    ----------
    path : str
        Location relative to the data directory (and to the mirror), e.g. ``mnist/...gz``.
    sha256 : str
        The expected SHA-256 of the file's bytes.
    size : int or None
        Expected size in bytes, for the progress bar.
    urls : tuple of str
        Official download locations, tried in order; empty when there is none.
    official : bool
        False for substitutes that are not the published file.
    note : str
        Provenance, shown when the file is used.
    """

    path: str
    sha256: str
    size: int | None
    urls: tuple[str, ...]
    official: bool = True
    note: str = ""


def _mnist_file(name: str, sha256: str, size: int) -> DataFile:
    return DataFile(
        path=f"mnist/{name}",
        sha256=sha256,
        size=size,
        urls=tuple(base + name for base in _MNIST_URLS),
        note="MNIST (LeCun, Cortes, Burges), official IDX file, CC BY-SA 3.0",
    )


PNEUMONIAMNIST_OFFICIAL = "pneumoniamnist/pneumoniamnist.npz"
PNEUMONIAMNIST_RECONSTRUCTION = "pneumoniamnist/pneumoniamnist_unofficial_reconstruction.npz"

#: Every pinned file, by its path relative to the data directory.
REGISTRY: dict[str, DataFile] = {
    entry.path: entry
    for entry in (
        _mnist_file(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9_912_422,
        ),
        _mnist_file(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28_881,
        ),
        _mnist_file(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1_648_877,
        ),
        _mnist_file(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4_542,
        ),
        DataFile(
            path=PNEUMONIAMNIST_OFFICIAL,
            sha256="e1792d3f03751cb101e99f19a63b3c1941436c988665f47853417b05be250cd8",
            size=4_170_669,
            urls=_MEDMNIST_URLS,
            note="PneumoniaMNIST, MedMNIST v2 (Yang et al. 2023), official file, CC BY 4.0",
        ),
        DataFile(
            path=PNEUMONIAMNIST_RECONSTRUCTION,
            sha256="7eb67efa242e38883d038c61d4bb9d1b5b60a08aa2749d45ad167b79b5fa9987",
            size=4_159_400,
            urls=(),
            official=False,
            note=(
                "PneumoniaMNIST UNOFFICIAL reconstruction (official split sizes and label "
                "counts, training order differs); not the published MedMNIST file"
            ),
        ),
    )
}

#: Folders pinned file by file: name -> checksum list shipped inside labcore.
FOLDERS: dict[str, str] = {"chest_xray_sample": "chest_xray_sample.sha256"}


# --------------------------------------------------------------------------- locations


def data_dir() -> Path:
    """The data directory: downloads and your own copies go here.

    Returns
    -------
    pathlib.Path
        ``LABCORE_DATA_DIR`` if set; else the ``data/`` folder of the checkout holding
        labcore; else ``~/.cache/cnnlab``.
    """
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    if (checkout_data / "README.md").is_file():
        return checkout_data
    return Path.home() / ".cache" / "cnnlab"


def mirror_dir() -> Path | None:
    """The mirror folder from ``LABCORE_DATA_MIRROR``, or None when unset.

    Returns
    -------
    pathlib.Path or None
        The folder; it must exist when the variable is set.

    Raises
    ------
    DataError
        If the variable names a folder that does not exist.
    """
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    mirror = Path(value).expanduser()
    if not mirror.is_dir():
        raise DataError(
            f"{MIRROR_ENV}={value!r} is not a folder. Point it at a copy of the course data "
            f"(the layout of data/README.md) or unset it."
        )
    return mirror


def offline() -> bool:
    """Whether downloading is switched off (``LABCORE_OFFLINE`` is 1, true, yes or on).

    Returns
    -------
    bool
        True when no file may be downloaded.
    """
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- checksums

_verified: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks (cached per path, size and modification time).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        The hex digest.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _check(path: Path, expected: str, what: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} does not match the registry ({what}).\n"
            f"  expected sha256: {expected}\n"
            f"  actual sha256:   {actual}\n"
            "The file was not used and was left in place. It is damaged or a different "
            "version: move or delete it, and labcore will fetch a verified copy again "
            f"(from {MIRROR_ENV} or the official URL)."
        )
    return path


# --------------------------------------------------------------------------- fetching


def _download(entry: DataFile, destination: Path) -> Path:
    from tqdm.auto import tqdm

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    errors = []
    for url in entry.urls:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "cnnlab"})
            with urllib.request.urlopen(request, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or entry.size or 0)
                digest = hashlib.sha256()
                with (
                    open(partial, "wb") as out,
                    tqdm(
                        total=total or None,
                        unit="B",
                        unit_scale=True,
                        desc=f"Downloading {Path(entry.path).name}",
                    ) as bar,
                ):
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            errors.append(f"{url}: {error}")
            continue
        if digest.hexdigest() != entry.sha256:
            kept = destination.with_name(destination.name + ".unverified")
            partial.replace(kept)
            raise ChecksumError(
                f"The download from {url} does not match the registry.\n"
                f"  expected sha256: {entry.sha256}\n"
                f"  actual sha256:   {digest.hexdigest()}\n"
                f"It was kept, unused, as {kept}. The server may serve a new version; "
                f"get a verified copy and put it at {destination}, or set {MIRROR_ENV}."
            )
        partial.replace(destination)
        return destination
    partial.unlink(missing_ok=True)  # only our own incomplete download
    raise DataNotFoundError(
        f"Could not download {entry.path}:\n  " + "\n  ".join(errors) + "\n"
        f"If this machine is offline, copy the file to {destination}, or set "
        f"{MIRROR_ENV} to a folder that holds {entry.path}."
    )


def _candidates(relative: str) -> list[tuple[str, Path]]:
    places = [("data directory", data_dir() / relative)]
    mirror = mirror_dir()
    if mirror is not None:
        places.append(("mirror", mirror / relative))
    return places


def find_local(entry: DataFile) -> Path | None:
    """A verified copy of a registry file in the data directory or the mirror, if any.

    Nothing is downloaded.

    Parameters
    ----------
    entry : DataFile
        A value of :data:`REGISTRY`.

    Returns
    -------
    pathlib.Path or None
        The first copy found (data directory first), or None when neither holds one.

    Raises
    ------
    ChecksumError
        If the copy found does not match the registry (the file is kept).
    """
    for _, candidate in _candidates(entry.path):
        if candidate.is_file():
            return _check(candidate, entry.sha256, entry.note)
    return None


def fetch(relative: str) -> Path:
    """Return a verified local path to a registry file, downloading it if needed.

    Parameters
    ----------
    relative : str
        A key of :data:`REGISTRY`, e.g. ``"mnist/t10k-labels-idx1-ubyte.gz"``.

    Returns
    -------
    pathlib.Path
        A file whose SHA-256 matches the registry.

    Raises
    ------
    KeyError
        If the name is not in the registry.
    ChecksumError
        If a local copy or the download does not match (the file is kept).
    DataNotFoundError
        If no copy exists locally and it cannot be downloaded.
    """
    if relative not in REGISTRY:
        raise KeyError(f"{relative!r} is not in the labcore data registry: {sorted(REGISTRY)}")
    entry = REGISTRY[relative]
    local = find_local(entry)
    if local is not None:
        return local
    destination = data_dir() / entry.path
    looked = "; ".join(f"{where}: {path}" for where, path in _candidates(entry.path))
    mirror = mirror_dir()
    mirror_hint = (
        f"set {MIRROR_ENV} to a folder holding {entry.path}"
        if mirror is None
        else f"put the file into the mirror ({MIRROR_ENV}={mirror}) as {entry.path}"
    )
    if not entry.urls:
        raise DataNotFoundError(
            f"{entry.path} was not found (looked in {looked}) and has no download URL "
            f"({entry.note}). To use it, {mirror_hint}."
        )
    if offline():
        raise DataNotFoundError(
            f"{entry.path} was not found (looked in {looked}) and downloading is off "
            f"({OFFLINE_ENV}=1). Download it from {entry.urls[0]} into {destination}, "
            f"or {mirror_hint}."
        )
    return _download(entry, destination)


def _read_folder_manifest(name: str) -> dict[str, str]:
    manifest = Path(__file__).with_name("registry") / FOLDERS[name]
    pinned = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, relative = line.split(maxsplit=1)
            pinned[relative.strip()] = digest
    return pinned


def fetch_folder(name: str) -> Path:
    """Return a verified local copy of a pinned folder, such as ``"chest_xray_sample"``.

    Every file listed in the folder's checksum list must be present with the right hash.

    Parameters
    ----------
    name : str
        A key of :data:`FOLDERS`.

    Returns
    -------
    pathlib.Path
        The folder (in the data directory or the mirror).

    Raises
    ------
    DataNotFoundError
        If neither location holds the folder.
    DataError
        If a listed file is missing; ChecksumError if one differs.
    """
    if name not in FOLDERS:
        raise KeyError(f"{name!r} is not a pinned folder: {sorted(FOLDERS)}")
    pinned = _read_folder_manifest(name)
    places = _candidates(name)
    for _, folder in places:
        if not folder.is_dir():
            continue
        base = folder.parent
        missing = [relative for relative in pinned if not (base / relative).is_file()]
        if missing:
            raise DataError(
                f"{folder} is incomplete: {len(missing)} of {len(pinned)} pinned files are "
                f"missing, e.g. {missing[0]}. Restore the folder or remove it to use the "
                "mirror."
            )
        for relative, digest in pinned.items():
            _check(base / relative, digest, f"{name} image")
        return folder
    looked = "; ".join(f"{where}: {path}" for where, path in places)
    raise DataNotFoundError(
        f"The folder {name} was not found (looked in {looked}). It has no download URL: "
        f"set {MIRROR_ENV} to a copy of the course data, or use the full dataset from "
        f"{KAGGLE_XRAY_URL} (see docs/data.md)."
    )


def describe() -> list[dict[str, object]]:
    """Where each registry file and pinned folder currently resolves, without downloading.

    Returns
    -------
    list of dict
        One entry per file or folder: ``path``, ``official``, ``status`` (``"ok"``,
        ``"missing"``, or the error text) and ``location``.
    """
    rows: list[dict[str, object]] = []
    for entry in REGISTRY.values():
        row = {"path": entry.path, "official": entry.official, "location": None}
        try:
            local = find_local(entry)
            row["status"], row["location"] = ("ok", str(local)) if local else ("missing", None)
        except DataError as error:
            row["status"] = f"error: {error}"
        rows.append(row)
    for name in FOLDERS:
        row = {"path": name + "/", "official": True, "location": None}
        try:
            row["status"], row["location"] = "ok", str(fetch_folder(name))
        except DataNotFoundError:
            row["status"] = "missing"
        except DataError as error:
            row["status"] = f"error: {error}"
        rows.append(row)
    return rows
