"""Datasets: a registry of pinned files, where to find them, and loaders.

Every file the course uses is pinned by its SHA-256 in :data:`REGISTRY`. A file is looked
for, in this order:

1. the data directory: ``LABCORE_DATA_DIR``, by default the ``data/`` folder of this
   checkout (or ``~/.cache/cnnlab`` when labcore is installed elsewhere);
2. a mirror folder with the same layout: ``LABCORE_DATA_MIRROR`` (a USB stick, a shared
   drive, the course server);
3. the official URL, downloaded into the data directory with a progress bar
   (``LABCORE_OFFLINE=1`` switches downloading off).

A file whose checksum does not match is never used and never deleted: you get an error that
names it, the expected and the actual hash, and what to do.

MNIST is decoded straight from the four official IDX files. (``keras.datasets.mnist`` is not
used: it deletes a cached file whose hash differs from the one it expects.)
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "REGISTRY",
    "ChecksumError",
    "DataError",
    "DataFile",
    "DataNotFoundError",
    "ImageFolderData",
    "ImageSplits",
    "data_dir",
    "describe",
    "fetch",
    "fetch_folder",
    "load_image_folder",
    "load_mnist",
    "load_pneumoniamnist",
    "mirror_dir",
    "prepare_images",
    "stratified_subset",
    "xray_directory",
]

DATA_DIR_ENV = "LABCORE_DATA_DIR"
MIRROR_ENV = "LABCORE_DATA_MIRROR"
OFFLINE_ENV = "LABCORE_OFFLINE"

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")

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


def _offline() -> bool:
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


def _find_local(entry: DataFile) -> Path | None:
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
    local = _find_local(entry)
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
    if _offline():
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
            local = _find_local(entry)
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


# --------------------------------------------------------------------------- MNIST


def _read_idx(path: Path) -> np.ndarray:
    """Decode one gzip-compressed IDX file (unsigned bytes) into a NumPy array."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} values; its header promises {shape}.")
    return body.reshape(shape)


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST from the four official IDX files.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        uint8 images of shape ``(60000, 28, 28)`` and ``(10000, 28, 28)`` with values 0-255,
        and uint8 labels 0-9 of shape ``(60000,)`` and ``(10000,)``, in the official order.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape  # doctest: +SKIP
    (60000, 28, 28)
    """
    arrays = {
        name: _read_idx(fetch(f"mnist/{name}-idx{3 if 'images' in name else 1}-ubyte.gz"))
        for name in ("train-images", "train-labels", "t10k-images", "t10k-labels")
    }
    for images, labels in (("train-images", "train-labels"), ("t10k-images", "t10k-labels")):
        if len(arrays[images]) != len(arrays[labels]):
            raise DataError(f"MNIST {images} and {labels} have different lengths.")
    return (arrays["train-images"], arrays["train-labels"]), (
        arrays["t10k-images"],
        arrays["t10k-labels"],
    )


def prepare_images(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1] and add a channel axis.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 array ``(N, H, W)`` (grayscale) or ``(N, H, W, C)``, values 0-255.

    Returns
    -------
    numpy.ndarray
        float32 array ``(N, H, W, 1)`` (or ``(N, H, W, C)``) with values in [0, 1].
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images with values 0-255, got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W) or (N, H, W, C), got {images.shape}")
    return images.astype(np.float32) / 255.0


def stratified_subset(
    images: np.ndarray, labels: np.ndarray, size: int | None, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``size`` examples with the same class proportions as the whole set.

    Parameters
    ----------
    images, labels : numpy.ndarray
        Examples and their integer labels (same length).
    size : int or None
        How many to keep; None (or at least the whole set) keeps everything in order.
    seed : int, default=42
        Seed of the draw.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The subset, shuffled.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if size is None or size >= len(labels):
        return images, labels
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(
        np.arange(len(labels)), train_size=size, stratify=labels, random_state=seed
    )
    return images[chosen], labels[chosen]


# --------------------------------------------------------------------------- PneumoniaMNIST


@dataclass
class ImageSplits:
    """Train, validation and test arrays of a dataset, and where they came from.

    Unpacks like Keras' loaders: ``(x_train, y_train), (x_val, y_val), (x_test, y_test) =
    splits``.
    """

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: list[str]
    source: str
    path: Path

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return iter((self.train, self.val, self.test))


def _read_pneumoniamnist(path: Path, entry: DataFile) -> ImageSplits:
    try:
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not a readable .npz file: {error}") from error
    splits = {}
    for split in ("train", "val", "test"):
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is None or labels is None:
            raise DataError(f"{path} lacks the arrays {split}_images / {split}_labels.")
        labels = labels.reshape(-1).astype(np.uint8)
        if images.ndim != 3 or len(images) != len(labels) or not set(np.unique(labels)) <= {0, 1}:
            raise DataError(f"{path}: the {split} split does not look like PneumoniaMNIST.")
        splits[split] = (images.astype(np.uint8), labels)
    kind = "official MedMNIST file" if entry.official else "UNOFFICIAL reconstruction"
    return ImageSplits(
        **splits, class_names=["normal", "pneumonia"], source=f"{kind}: {entry.note}", path=path
    )


def load_pneumoniamnist(source: str = "auto", verbose: bool = True) -> ImageSplits:
    """Load PneumoniaMNIST (28x28 chest X-rays, 0 = normal, 1 = pneumonia) with its split.

    Parameters
    ----------
    source : {"auto", "official", "reconstruction"}, default="auto"
        ``"official"`` insists on the published MedMNIST file (downloaded if needed).
        ``"reconstruction"`` uses the clearly labelled substitute kept in the course mirror.
        ``"auto"`` takes a local official copy, else a local reconstruction, else downloads
        the official file.
    verbose : bool, default=True
        Print which file is used.

    Returns
    -------
    ImageSplits
        ``train`` (4708 images), ``val`` (524), ``test`` (624): uint8 arrays ``(N, 28, 28)``
        and uint8 labels ``(N,)``; ``source`` says which file was used.
    """
    if source not in {"auto", "official", "reconstruction"}:
        raise ValueError(f"source must be 'auto', 'official' or 'reconstruction', not {source!r}")
    official = REGISTRY[PNEUMONIAMNIST_OFFICIAL]
    substitute = REGISTRY[PNEUMONIAMNIST_RECONSTRUCTION]
    if source == "official":
        entry, path = official, fetch(official.path)
    elif source == "reconstruction":
        entry, path = substitute, fetch(substitute.path)
    else:
        entry, path = official, _find_local(official)
        if path is None:
            entry, path = substitute, _find_local(substitute)
        if path is None:
            entry, path = official, fetch(official.path)
    splits = _read_pneumoniamnist(path, entry)
    if verbose:
        print(f"PneumoniaMNIST: {splits.source} ({path})")
    return splits


# --------------------------------------------------------------------------- image folders


def xray_directory(verbose: bool = True) -> Path:
    """The default chest X-ray image folder for notebook 03.

    The Kermany et al. JPEG sample (``chest_xray_sample``: ``train/`` and ``test/``, each with
    ``NORMAL/`` and ``PNEUMONIA/``) when the data directory or the mirror has it. Without it,
    PneumoniaMNIST is written out as PNG files in the same layout, so the notebook still runs.

    Parameters
    ----------
    verbose : bool, default=True
        Print which folder is used.

    Returns
    -------
    pathlib.Path
        A folder with ``train/<CLASS>/`` and ``test/<CLASS>/`` sub-folders.
    """
    try:
        folder = fetch_folder("chest_xray_sample")
        if verbose:
            print(f"Chest X-rays: Kermany et al. (2018) JPEG sample, {folder}")
        return folder
    except DataNotFoundError:
        pass
    folder = data_dir() / "pneumoniamnist_folders"
    stamp = folder / ".complete"
    if not stamp.is_file():
        from PIL import Image

        splits = load_pneumoniamnist(verbose=verbose)
        for split, (images, labels) in (("train", splits.train), ("test", splits.test)):
            for index, (image, label) in enumerate(zip(images, labels, strict=True)):
                target = folder / split / ("NORMAL", "PNEUMONIA")[int(label)]
                target.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(target / f"{split}-{index:05d}.png")
        stamp.write_text(splits.source + "\n", encoding="utf-8")
    if verbose:
        print(
            f"Chest X-rays: the Kermany sample is not available; using PneumoniaMNIST as an "
            f"image folder instead, {folder}"
        )
    return folder


def _scan_split(split_dir: Path) -> dict[str, list[Path]]:
    """Check a class-per-folder directory; return the image files of each class."""
    from PIL import Image, UnidentifiedImageError

    if not split_dir.is_dir():
        raise DataError(f"{split_dir} is not a folder.")
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {
        c.name: sorted(f for f in c.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        for c in classes
    }
    if not files or not any(files.values()):
        raise DataError(
            f"{split_dir} holds no images: expected one sub-folder per class with image files "
            f"({', '.join(IMAGE_EXTENSIONS)}), e.g. {split_dir}/NORMAL/img1.jpeg."
        )
    empty = [name for name, found in files.items() if not found]
    if empty:
        raise DataError(f"{split_dir}: the class folder(s) {empty} hold no images.")
    if len(files) < 2:
        raise DataError(
            f"{split_dir} has only one class ({next(iter(files))}); a classifier needs at "
            "least two class sub-folders."
        )
    unreadable = []
    for found in files.values():
        for image_file in found:
            try:
                with Image.open(image_file) as image:
                    image.verify()
            except (UnidentifiedImageError, OSError, SyntaxError) as error:
                unreadable.append(f"{image_file} ({error.__class__.__name__})")
    if unreadable:
        raise DataError(
            f"{len(unreadable)} image file(s) under {split_dir} cannot be read:\n  "
            + "\n  ".join(unreadable[:10])
            + "\nRemove or replace them and run again."
        )
    return files


def _resized_copies(directory, split_dirs, scanned, size, color_mode):
    """Resized PNG copies of an image folder, cached in the data directory (Grain path only).

    Keras' Grain loader resizes each image with a backend operation; on JAX every distinct
    image size compiles a new resize, which makes the first pass over photographs of many
    sizes (chest X-rays) take minutes. Resizing once with Pillow, and handing Keras images
    that already have the target size, keeps the Keras loader while avoiding the compiles.
    The cache is rebuilt when a source file changes.
    """
    from PIL import Image

    files = sorted(path for found in scanned.values() for group in found.values() for path in group)
    fingerprint = hashlib.sha1()
    for path in files:
        stat = path.stat()
        fingerprint.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    key = hashlib.sha1(f"{directory.resolve()}|{size}|{color_mode}".encode()).hexdigest()[:16]
    cache = data_dir() / "cache" / "resized" / key
    stamp = cache / ".complete"
    if not (stamp.is_file() and stamp.read_text() == fingerprint.hexdigest()):
        mode = "L" if color_mode == "grayscale" else "RGB"
        for split, found in scanned.items():
            for class_name, paths in found.items():
                target = cache / split / class_name
                target.mkdir(parents=True, exist_ok=True)
                for path in paths:
                    with Image.open(path) as image:
                        resized = image.convert(mode).resize(size[::-1], Image.Resampling.BILINEAR)
                    resized.save(target / f"{path.name}.png")
        stamp.write_text(fingerprint.hexdigest())
    return tuple(cache / split if split_dirs[split] is not None else None for split in split_dirs)


@dataclass
class ImageFolderData:
    """Keras-ready datasets from a class-per-folder directory.

    Attributes
    ----------
    train, validation : dataset
        Batches of ``(images, labels)``: the training folder split by ``validation_split``
        (or the ``val/`` folder when there is one). Both are shuffled; compute metrics from
        a single pass (see :func:`labcore.metrics`), not from two.
    test : dataset or None
        The ``test/`` folder in file order (not shuffled), or None.
    class_names : list of str
        Sub-folder names in alphabetical order; label ``i`` is ``class_names[i]``.
    counts : dict
        ``{split: {class: number of files}}`` (before the validation split).
    format : str
        ``"tf"`` (``tf.data``) or ``"grain"``.
    """

    train: object
    validation: object
    test: object | None
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    image_size: tuple[int, int]
    color_mode: str
    format: str
    directory: Path


def dataset_format() -> str:
    """``"tf"`` when the backend is TensorFlow (or TensorFlow is installed), else ``"grain"``.

    On the JAX and PyTorch backends Grain is preferred, so TensorFlow is never imported there.

    Returns
    -------
    str
        The ``format`` argument for ``keras.utils.image_dataset_from_directory``.
    """
    from labcore.runtime import keras_backend

    if keras_backend() == "tensorflow":
        return "tf"
    if importlib.util.find_spec("grain") is not None:
        return "grain"
    if importlib.util.find_spec("tensorflow") is not None:
        return "tf"
    raise DataError(
        "Loading image folders needs TensorFlow or Grain: pip install grain "
        "(or install TensorFlow)."
    )


def load_image_folder(
    directory,
    image_size: int | tuple[int, int] = 180,
    batch_size: int = 32,
    validation_split: float = 0.2,
    seed: int = 42,
    color_mode: str = "grayscale",
    label_mode: str = "int",
) -> ImageFolderData:
    """Load images from ``<directory>/<split>/<CLASS>/*.jpeg`` (or ``<directory>/<CLASS>/``).

    Splits: ``train/`` (required when split folders exist), ``val/`` (optional; otherwise
    ``validation_split`` of ``train/`` is held out with ``seed``) and ``test/`` (optional).
    Class names come from the sub-folders, so any dataset with one folder per class works.

    Parameters
    ----------
    directory : str or pathlib.Path
        The dataset folder.
    image_size : int or (int, int), default=180
        Images are resized to this (height, width); an int means a square.
    batch_size : int, default=32
        Images per batch.
    validation_split : float, default=0.2
        Share of ``train/`` held out for validation when there is no ``val/`` folder.
    seed : int, default=42
        Seed of the shuffle and of the validation split.
    color_mode : {"grayscale", "rgb"}, default="grayscale"
        Chest X-rays are grayscale; a few files are stored as RGB and are converted.
    label_mode : {"int", "binary", "categorical"}, default="int"
        Passed to ``keras.utils.image_dataset_from_directory``.

    Returns
    -------
    ImageFolderData
        The datasets, class names and per-split counts.

    Raises
    ------
    DataError
        If a folder has no images, only one class, classes that differ between splits, or
        files that cannot be read (all named in the message).
    """
    import keras

    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"{directory} is not a folder (check DATA_DIR).")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    has_splits = (directory / "train").is_dir()
    train_dir = directory / "train" if has_splits else directory
    val_dir = next(
        (directory / n for n in ("val", "validation") if has_splits and (directory / n).is_dir()),
        None,
    )
    test_dir = directory / "test" if has_splits and (directory / "test").is_dir() else None
    scanned = {"train": _scan_split(train_dir)}
    for split, folder in (("val", val_dir), ("test", test_dir)):
        if folder is not None:
            scanned[split] = _scan_split(folder)
            if sorted(scanned[split]) != sorted(scanned["train"]):
                raise DataError(
                    f"{folder} has classes {sorted(scanned[split])} but {train_dir} has "
                    f"{sorted(scanned['train'])}; every split needs the same class folders."
                )
    data_format = dataset_format()
    if data_format == "grain":
        train_dir, val_dir, test_dir = _resized_copies(
            directory,
            {"train": train_dir, "val": val_dir, "test": test_dir},
            scanned,
            size,
            color_mode,
        )
    common = dict(
        image_size=size,
        batch_size=batch_size,
        color_mode=color_mode,
        label_mode=label_mode,
        verbose=False,
        format=data_format,
    )
    if val_dir is None:
        train, validation = keras.utils.image_dataset_from_directory(
            train_dir, validation_split=validation_split, subset="both", seed=seed, **common
        )
    else:
        train = keras.utils.image_dataset_from_directory(train_dir, seed=seed, **common)
        validation = keras.utils.image_dataset_from_directory(val_dir, seed=seed, **common)
    test = (
        keras.utils.image_dataset_from_directory(test_dir, shuffle=False, **common)
        if test_dir is not None
        else None
    )
    if data_format == "tf":
        import tensorflow as tf

        train = train.cache().prefetch(tf.data.AUTOTUNE)
        validation = validation.cache().prefetch(tf.data.AUTOTUNE)
        test = test.cache().prefetch(tf.data.AUTOTUNE) if test is not None else None
    class_names = sorted(scanned["train"])
    counts = {
        split: {name: len(found[name]) for name in class_names} for split, found in scanned.items()
    }
    return ImageFolderData(
        train=train,
        validation=validation,
        test=test,
        class_names=class_names,
        counts=counts,
        image_size=size,
        color_mode=color_mode,
        format=data_format,
        directory=directory,
    )
