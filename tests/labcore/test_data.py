"""The data store and the loaders, on the real files of the mirror: checksums, loaders, errors."""

import gzip
import shutil

import numpy as np
import pytest

from labcore import data, datastore

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_load_mnist_returns_the_official_arrays(mirror):
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert x_train.max() == 255 and x_train.min() == 0
    # the official order: the first training label is a 5, the first test label a 7
    assert (y_train[0], y_test[0]) == (5, 7)


def test_pneumoniamnist_splits_and_source_are_reported(mirror, capsys):
    splits = data.load_pneumoniamnist()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits
    assert (len(x_train), len(x_val), len(x_test)) == (4708, 524, 624)
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [1214, 3494]
    assert np.bincount(y_val).tolist() == [135, 389]
    assert np.bincount(y_test).tolist() == [234, 390]
    assert "UNOFFICIAL reconstruction" in splits.source
    assert "UNOFFICIAL reconstruction" in capsys.readouterr().out


def test_official_pneumoniamnist_offline_names_url_and_mirror_option(mirror):
    with pytest.raises(datastore.DataNotFoundError) as error:
        data.load_pneumoniamnist(source="official")
    message = str(error.value)
    assert "zenodo.org" in message and "LABCORE_DATA_MIRROR" in message
    assert "LABCORE_OFFLINE" in message


def test_missing_file_without_mirror_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LABCORE_DATA_MIRROR", raising=False)
    with pytest.raises(datastore.DataNotFoundError) as error:
        data.load_mnist()
    message = str(error.value)
    assert ("https://" in message and "t10k" in message) or "train-images" in message
    assert "LABCORE_DATA_MIRROR" in message
    assert str(tmp_path) in message


def test_corrupted_copy_is_reported_and_kept(mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path))
    damaged = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    damaged.parent.mkdir(parents=True)
    shutil.copyfile(mirror / "mnist" / "t10k-labels-idx1-ubyte.gz", damaged)
    with open(damaged, "r+b") as handle:  # flip one byte in the middle
        handle.seek(2000)
        byte = handle.read(1)
        handle.seek(2000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    before = damaged.read_bytes()
    with pytest.raises(datastore.ChecksumError) as error:
        datastore.fetch("mnist/t10k-labels-idx1-ubyte.gz")
    message = str(error.value)
    assert str(damaged) in message
    assert datastore.REGISTRY["mnist/t10k-labels-idx1-ubyte.gz"].sha256 in message
    assert datastore.sha256_of(damaged) in message
    assert "move or delete it" in message
    assert damaged.read_bytes() == before  # never deleted, never changed


def test_damaged_mirror_folder_is_reported(mirror, monkeypatch, tmp_path):
    copy = tmp_path / "chest_xray_sample"
    shutil.copytree(mirror / "chest_xray_sample", copy)
    victim = sorted((copy / "test" / "NORMAL").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:-10])
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path))
    with pytest.raises(datastore.ChecksumError, match=victim.name):
        datastore.fetch_folder("chest_xray_sample")
    assert victim.exists()


def test_malformed_idx_file_is_named(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") * 3 + b"\x01" * 5)
    with pytest.raises(data.DataError, match="header promises"):
        data._read_idx(bad)
    with gzip.open(bad, "wb") as handle:
        handle.write(b"PK\x03\x04 not idx")
    with pytest.raises(data.DataError, match="bad magic number"):
        data._read_idx(bad)


def test_chest_xray_sample_loads_with_its_classes(mirror):
    folder = data.xray_directory(verbose=False)
    loaded = data.load_image_folder(folder, image_size=32, batch_size=64, seed=1)
    assert loaded.class_names == ["NORMAL", "PNEUMONIA"]
    assert loaded.counts == {
        "train": {"NORMAL": 50, "PNEUMONIA": 150},
        "test": {"NORMAL": 15, "PNEUMONIA": 50},
    }
    images, _ = next(iter(loaded.test))
    assert tuple(images.shape[1:]) == (32, 32, 1)
    seen = sum(int(batch_labels.shape[0]) for _, batch_labels in loaded.validation)
    assert seen == 40  # 20 % of the 200 training images
    test_labels = np.concatenate([np.asarray(y) for _, y in loaded.test])
    assert np.bincount(test_labels).tolist() == [15, 50]  # file order: NORMAL first


def _write_png(path, value=128):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def test_image_folder_errors_name_the_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DataError, match=f"{empty}.*no images"):
        data.load_image_folder(empty)

    one_class = tmp_path / "one"
    _write_png(one_class / "train" / "NORMAL" / "a.png")
    with pytest.raises(data.DataError, match="only one class"):
        data.load_image_folder(one_class)

    broken = tmp_path / "broken"
    _write_png(broken / "cats" / "a.png")
    _write_png(broken / "dogs" / "b.png")
    (broken / "dogs" / "c.jpeg").write_bytes(b"this is not a jpeg")
    with pytest.raises(data.DataError, match=r"c\.jpeg"):
        data.load_image_folder(broken)

    mismatched = tmp_path / "mismatched"
    _write_png(mismatched / "train" / "A" / "a.png")
    _write_png(mismatched / "train" / "B" / "b.png")
    _write_png(mismatched / "test" / "A" / "a.png")
    _write_png(mismatched / "test" / "C" / "c.png")
    with pytest.raises(data.DataError, match="same class folders"):
        data.load_image_folder(mismatched)

    with pytest.raises(data.DataError, match="is not a folder"):
        data.load_image_folder(tmp_path / "nowhere")


def test_any_two_class_folder_works(tmp_path):
    for index in range(10):
        _write_png(tmp_path / "cats" / f"{index}.png", value=20)
        _write_png(tmp_path / "dogs" / f"{index}.png", value=230)
    loaded = data.load_image_folder(tmp_path, image_size=8, batch_size=4, validation_split=0.2)
    assert loaded.class_names == ["cats", "dogs"]
    assert loaded.test is None
    batches = list(loaded.train) + list(loaded.validation)
    assert sum(int(y.shape[0]) for _, y in batches) == 20


def test_describe_reports_without_downloading(mirror):
    rows = {row["path"]: row for row in datastore.describe()}
    assert rows["mnist/train-images-idx3-ubyte.gz"]["status"] == "ok"
    assert rows[datastore.PNEUMONIAMNIST_OFFICIAL]["status"] == "missing"
    assert rows[datastore.PNEUMONIAMNIST_RECONSTRUCTION]["official"] is False
    assert rows["chest_xray_sample/"]["status"] == "ok"


def test_prepare_images_scales_and_adds_channel():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    prepared = data.prepare_images(images)
    assert prepared.shape == (1, 2, 2, 1) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]])
    with pytest.raises(ValueError, match="uint8"):
        data.prepare_images(images.astype(np.float32))


def test_stratified_subset_keeps_class_shares():
    labels = np.array([0] * 900 + [1] * 100)
    images = np.arange(1000)
    sub_x, sub_y = data.stratified_subset(images, labels, 100, seed=3)
    assert len(sub_x) == 100 and np.bincount(sub_y).tolist() == [90, 10]
    np.testing.assert_array_equal(labels[sub_x], sub_y)  # images stay with their labels
    again_x, _ = data.stratified_subset(images, labels, 100, seed=3)
    np.testing.assert_array_equal(sub_x, again_x)
    full_x, _ = data.stratified_subset(images, labels, None)
    assert full_x is images
