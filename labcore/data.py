"""Datasets for the notebooks: load them, subset them, prepare them for a model.

Notebooks 01, 02 and 04 use MNIST::

    (x_train, y_train), (x_test, y_test) = data.load_mnist()   # uint8, 0-255
    x_small, y_small = data.stratified_subset(x_train, y_train, 6000)
    x = data.prepare_images(x_small)                           # float32, 0-1, (N, 28, 28, 1)

Notebook 03 uses chest X-rays: :func:`load_pneumoniamnist` (small arrays with the official
split) and :func:`load_image_folder`, which reads any folder with one sub-folder per class
(the JPEG sample from :func:`xray_directory`, or the full dataset you download).

Where the files come from, and why each is checked against a pinned SHA-256 before it is
used, is the job of :mod:`labcore.datastore` (see docs/data.md). Every loader here raises
:class:`DataError` with the file and the fix when something is missing or malformed.

MNIST is decoded straight from the four official IDX files. (``keras.datasets.mnist`` is not
used: it deletes a cached file whose hash differs from the one it expects.)
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labcore.datastore import (
    PNEUMONIAMNIST_OFFICIAL,
    PNEUMONIAMNIST_RECONSTRUCTION,
    REGISTRY,
    DataError,
    DataFile,
    DataNotFoundError,
    data_dir,
    fetch,
    fetch_folder,
    find_local,
)

__all__ = [
    "DataError",
    "ImageFolderData",
    "ImageSplits",
    "dataset_format",
    "load_image_folder",
    "load_mnist",
    "load_pneumoniamnist",
    "prepare_images",
    "stratified_subset",
    "xray_directory",
]

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")


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
        entry, path = official, find_local(official)
        if path is None:
            entry, path = substitute, find_local(substitute)
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
