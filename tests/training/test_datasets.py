"""Tests of dataset loading: digits, the validation split and torchvision's on-disk formats.

The torchvision tests write tiny datasets in each dataset's real on-disk
format (IDX files, pickled CIFAR batches, SVHN .mat files, STL-10 binaries)
and read them through kanbench, so the code that reads real downloads is
the code under test.

CIFAR-10/100, SVHN and STL-10 compare every file with the MD5 checksum in
the torchvision class (``train_list``, ``test_list``, ``meta``,
``split_list``), and no small file can match the checksum of the real one.
The tests therefore replace those class attributes with the checksums of the
files they write. MNIST only checks that the files exist.
"""

import gzip
import hashlib
import pickle
import socket
import struct
import urllib.request

import numpy as np
import pytest
import torch
from torchvision import datasets, transforms

from kanbench.errors import DatasetFilesNotFoundError, DatasetIntegrityError
from kanbench.space import get_dataset
from kanbench.training import load_dataset, split_train_valid, train_architecture
from kanbench.training.data import DATA_ROOT_ENV, default_data_root, expected_files, to_float

torch.set_num_threads(1)

NUM_TRAIN = 20
NUM_TEST = 10
TORCHVISION_DATASETS = ("mnist", "cifar10", "cifar100", "svhn", "stl10")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a URL or a socket connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fake_images(seed, count, spec_name):
    shape = get_dataset(spec_name).input_shape
    return np.random.default_rng(seed).integers(0, 256, size=(count, *shape), dtype=np.uint8)


def _fake_labels(seed, count, num_classes):
    return np.random.default_rng(seed + 1).integers(0, num_classes, size=count).astype(np.int64)


def _write_idx(path, array):
    """Write an IDX file (big-endian header, magic 0x08 = uint8, then the dimensions) and its .gz."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(np.uint8).tobytes()
    path.write_bytes(content)
    with gzip.open(path.with_name(path.name + ".gz"), "wb") as file:
        file.write(content)


def write_mnist(root, monkeypatch):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    splits = {}
    for prefix, count, seed in (("train", NUM_TRAIN, 10), ("t10k", NUM_TEST, 20)):
        images = _fake_images(seed, count, "mnist")
        labels = _fake_labels(seed, count, 10)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images[:, 0])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        splits[prefix] = (images, labels)
    return splits["train"], splits["t10k"]


def _write_pickle(path, content):
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=2)


def write_cifar10(root, monkeypatch):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_images = _fake_images(30, NUM_TRAIN, "cifar10")
    train_labels = _fake_labels(30, NUM_TRAIN, 10)
    test_images = _fake_images(40, NUM_TEST, "cifar10")
    test_labels = _fake_labels(40, NUM_TEST, 10)

    per_batch = NUM_TRAIN // 5
    train_list = []
    for number in range(5):
        part = slice(number * per_batch, (number + 1) * per_batch)
        path = folder / f"data_batch_{number + 1}"
        _write_pickle(path, {
            "batch_label": f"training batch {number + 1} of 5",
            "labels": train_labels[part].tolist(),
            "data": train_images[part].reshape(per_batch, -1),
            "filenames": [f"image_{index}.png" for index in range(per_batch)],
        })
        train_list.append([path.name, _md5(path)])
    test_path = folder / "test_batch"
    _write_pickle(test_path, {
        "batch_label": "testing batch 1 of 1",
        "labels": test_labels.tolist(),
        "data": test_images.reshape(NUM_TEST, -1),
        "filenames": [f"test_{index}.png" for index in range(NUM_TEST)],
    })
    meta_path = folder / "batches.meta"
    _write_pickle(meta_path, {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": per_batch,
                              "num_vis": 3072})

    monkeypatch.setattr(datasets.CIFAR10, "train_list", train_list)
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", _md5(test_path)]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {**datasets.CIFAR10.meta, "md5": _md5(meta_path)})
    return (train_images, train_labels), (test_images, test_labels)


def write_cifar100(root, monkeypatch):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    splits = {}
    for name, count, seed in (("train", NUM_TRAIN, 50), ("test", NUM_TEST, 60)):
        images = _fake_images(seed, count, "cifar100")
        labels = _fake_labels(seed, count, 100)
        _write_pickle(folder / name, {
            "filenames": [f"{name}_{index}.png" for index in range(count)],
            "batch_label": f"{name} batch",
            "fine_labels": labels.tolist(),
            "coarse_labels": (labels // 5).tolist(),
            "data": images.reshape(count, -1),
        })
        splits[name] = (images, labels)
    _write_pickle(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                                    "coarse_label_names": [f"coarse{i}" for i in range(20)]})

    monkeypatch.setattr(datasets.CIFAR100, "train_list", [["train", _md5(folder / "train")]])
    monkeypatch.setattr(datasets.CIFAR100, "test_list", [["test", _md5(folder / "test")]])
    monkeypatch.setattr(datasets.CIFAR100, "meta", {**datasets.CIFAR100.meta, "md5": _md5(folder / "meta")})
    return splits["train"], splits["test"]


def write_svhn(root, monkeypatch):
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, count, seed in (("train", NUM_TRAIN, 70), ("test", NUM_TEST, 80)):
        images = _fake_images(seed, count, "svhn")
        labels = _fake_labels(seed, count, 10)
        # SVHN stores X as (height, width, channel, image) and labels 1..10, with 10 for the digit 0.
        stored_labels = np.where(labels == 0, 10, labels).astype(np.uint8)[:, None]
        path = root / f"{split}_32x32.mat"
        savemat(path, {"X": images.transpose(2, 3, 1, 0), "y": stored_labels})
        url, filename, _ = datasets.SVHN.split_list[split]
        monkeypatch.setitem(datasets.SVHN.split_list, split, [url, filename, _md5(path)])
        splits[split] = (images, labels)
    return splits["train"], splits["test"]


def write_stl10(root, monkeypatch):
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    splits = {}
    for split, count, seed in (("train", NUM_TRAIN, 90), ("test", NUM_TEST, 100), ("unlabeled", 2, 110)):
        images = _fake_images(seed, count, "stl10")
        labels = _fake_labels(seed, count, 10)
        # STL-10 stores each channel column-major and labels 1..10.
        (folder / f"{split}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
        splits[split] = (images, labels)
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")

    monkeypatch.setattr(datasets.STL10, "train_list",
                        [[name, _md5(folder / name)] for name in ("train_X.bin", "train_y.bin", "unlabeled_X.bin")])
    monkeypatch.setattr(datasets.STL10, "test_list",
                        [[name, _md5(folder / name)] for name in ("test_X.bin", "test_y.bin")])
    return splits["train"], splits["test"]


WRITERS = {
    "mnist": write_mnist,
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
    "svhn": write_svhn,
    "stl10": write_stl10,
}

# A cheap architecture that is valid for each input size.
SMALL_ARCHITECTURES = {
    "mnist": "31.31.25R",
    "cifar10": "31.31.25S",
    "cifar100": "31.31.25G",
    "svhn": "31.31.25R",
    "stl10": "31.31.31.31.25R",
}


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_fake_files_load_exactly(tmp_path, monkeypatch, name):
    (train_images, train_labels), (test_images, test_labels) = WRITERS[name](tmp_path, monkeypatch)

    data = load_dataset(name, tmp_path)

    assert data.name == name
    assert data.pixel_max == 255
    assert data.train.images.dtype == torch.uint8
    assert data.train.labels.dtype == torch.int64
    assert tuple(data.train.images.shape) == (NUM_TRAIN, *get_dataset(name).input_shape)
    assert tuple(data.test.images.shape) == (NUM_TEST, *get_dataset(name).input_shape)
    assert np.array_equal(data.train.images.numpy(), train_images)
    assert np.array_equal(data.train.labels.numpy(), train_labels)
    assert np.array_equal(data.test.images.numpy(), test_images)
    assert np.array_equal(data.test.labels.numpy(), test_labels)
    assert "official test split" in data.test_split_rule


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_one_epoch_on_fake_files(tmp_path, monkeypatch, name):
    WRITERS[name](tmp_path, monkeypatch)

    record = train_architecture(SMALL_ARCHITECTURES[name], name, epochs=1, batch_size=8, data_root=tmp_path,
                                progress=False)

    assert record.status == "ok"
    assert record.dataset == name
    assert record.protocol["num_train"] == NUM_TRAIN - 2
    assert record.protocol["num_valid"] == 2
    assert record.protocol["num_test"] == NUM_TEST
    assert len(record.train_loss) == 1
    # Random labels over 10 or 100 classes: the first epoch's loss is near ln(classes).
    assert 0.5 < record.train_loss[0] < 10.0
    for value in (record.test_accuracy, record.test_precision, record.test_recall, record.test_f1,
                  record.valid_accuracy, record.train_accuracy[0]):
        assert 0.0 <= value <= 1.0
    # Accuracy on 10 test images is a multiple of 1/10.
    assert round(record.test_accuracy * NUM_TEST, 9) == round(record.test_accuracy * NUM_TEST)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn"])
def test_to_float_matches_to_tensor(tmp_path, monkeypatch, name):
    WRITERS[name](tmp_path, monkeypatch)
    data = load_dataset(name, tmp_path)
    if name == "mnist":
        reference = datasets.MNIST(tmp_path, train=True, transform=transforms.ToTensor())
    elif name == "cifar10":
        reference = datasets.CIFAR10(tmp_path, train=True, transform=transforms.ToTensor())
    else:
        reference = datasets.SVHN(tmp_path, split="train", transform=transforms.ToTensor())

    for index in (0, 7, NUM_TRAIN - 1):
        expected, _ = reference[index]
        assert torch.equal(to_float(data.train.images[index], data.pixel_max), expected)


def test_legacy_mnist_cache_is_read(tmp_path):
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    train_images = torch.from_numpy(_fake_images(1, NUM_TRAIN, "mnist")[:, 0])
    test_images = torch.from_numpy(_fake_images(2, NUM_TEST, "mnist")[:, 0])
    torch.save((train_images, torch.arange(NUM_TRAIN) % 10), processed / "training.pt")
    torch.save((test_images, torch.arange(NUM_TEST) % 10), processed / "test.pt")

    data = load_dataset("mnist", tmp_path)

    assert torch.equal(data.train.images[:, 0], train_images)
    assert torch.equal(data.test.labels, torch.arange(NUM_TEST) % 10)


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
def test_missing_files_error_message(tmp_path, name):
    with pytest.raises(DatasetFilesNotFoundError) as caught:
        load_dataset(name, tmp_path)

    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert f"dataset {name!r} not found" in message
    assert "download=True" in message
    for path in expected_files(name, tmp_path):
        assert path.name in message
        assert str(path.parent) in message


def test_missing_files_lists_only_missing(tmp_path, monkeypatch):
    write_cifar10(tmp_path, monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()

    expected = r"missing data_batch_3, batches\.meta in .*cifar-10-batches-py"
    with pytest.raises(DatasetFilesNotFoundError, match=expected):
        load_dataset("cifar10", tmp_path)


def test_training_with_missing_files_raises(tmp_path):
    with pytest.raises(DatasetFilesNotFoundError, match="svhn"):
        train_architecture(0, "svhn", data_root=tmp_path, progress=False)


def test_expected_files_follow_torchvision_layout(tmp_path):
    assert [p.relative_to(tmp_path).as_posix() for p in expected_files("mnist", tmp_path)] == [
        "MNIST/raw/train-images-idx3-ubyte",
        "MNIST/raw/train-labels-idx1-ubyte",
        "MNIST/raw/t10k-images-idx3-ubyte",
        "MNIST/raw/t10k-labels-idx1-ubyte",
    ]
    assert [p.relative_to(tmp_path).as_posix() for p in expected_files("svhn", tmp_path)] == [
        "train_32x32.mat",
        "test_32x32.mat",
    ]
    assert len(expected_files("cifar10", tmp_path)) == 7
    assert {p.name for p in expected_files("stl10", tmp_path)} == {
        "train_X.bin", "train_y.bin", "unlabeled_X.bin", "test_X.bin", "test_y.bin"
    }
    with pytest.raises(ValueError, match="digits"):
        expected_files("digits", tmp_path)


def test_checksum_mismatch_raises_integrity_error(tmp_path, monkeypatch):
    write_cifar10(tmp_path, monkeypatch)
    monkeypatch.undo()

    with pytest.raises(DatasetIntegrityError, match="MD5") as caught:
        load_dataset("cifar10", tmp_path)
    assert isinstance(caught.value, ValueError)
    assert "Dataset not found or corrupted" in str(caught.value)


def test_wrong_image_shape_raises_integrity_error(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", NUM_TRAIN), ("t10k", NUM_TEST)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((count, 16, 16), dtype=np.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.zeros(count, dtype=np.uint8))

    with pytest.raises(DatasetIntegrityError, match=r"shape \(1, 16, 16\).*expects \(1, 28, 28\)"):
        load_dataset("mnist", tmp_path)


def test_default_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert default_data_root() == tmp_path
    with pytest.raises(DatasetFilesNotFoundError, match=str(tmp_path)):
        load_dataset("mnist")

    monkeypatch.delenv(DATA_ROOT_ENV)
    assert default_data_root().parts[-3:] == (".cache", "kanbench", "datasets")


def test_digits_splits():
    data = load_dataset("digits")

    assert data.pixel_max == 16
    assert tuple(data.train.images.shape) == (1437, 1, 8, 8)
    assert tuple(data.test.images.shape) == (360, 1, 8, 8)
    assert data.train.images.dtype == torch.uint8
    assert int(data.train.images.max()) == 16
    assert int(data.train.images.min()) == 0
    assert float(to_float(data.train.images, 16).max()) == 1.0
    # Stratified: 20% of classes of 174..183 images gives 35 to 37 test images per class.
    counts = np.bincount(data.test.labels.numpy(), minlength=10)
    assert counts.sum() == 360
    assert counts.min() >= 35
    assert counts.max() <= 37
    assert "stratify" in data.test_split_rule


def test_digits_split_is_fixed():
    first = load_dataset("digits")
    second = load_dataset("digits")
    assert torch.equal(first.test.images, second.test.images)
    assert torch.equal(first.train.labels, second.train.labels)


def test_digits_ignores_data_root(tmp_path):
    assert len(load_dataset("digits", tmp_path / "nothing here").train) == 1437


def test_split_train_valid_partitions():
    train, valid = split_train_valid(1437, 0.1)

    assert len(valid) == 144
    assert len(train) == 1293
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(1437))
    assert np.array_equal(train, np.sort(train))
    assert np.array_equal(valid, np.sort(valid))
    expected_valid = np.sort(np.random.default_rng(0).permutation(1437)[:144])
    assert np.array_equal(valid, expected_valid)


def test_split_train_valid_is_fixed():
    first = split_train_valid(500, 0.2)
    second = split_train_valid(500, 0.2)
    assert np.array_equal(first[1], second[1])
    other = split_train_valid(500, 0.2, split_seed=1)
    assert not np.array_equal(first[1], other[1])


def test_split_train_valid_empty_validation():
    train, valid = split_train_valid(10, 0.0)
    assert len(valid) == 0
    assert np.array_equal(train, np.arange(10))


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_train_valid_rejects_fraction(fraction):
    with pytest.raises(ValueError, match=f"invalid valid_fraction {fraction}"):
        split_train_valid(100, fraction)


def test_split_train_valid_needs_training_images():
    with pytest.raises(ValueError, match="leaves none for training"):
        split_train_valid(4, 0.9)
