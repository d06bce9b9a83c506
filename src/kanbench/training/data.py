"""Load the benchmark's datasets as uint8 tensors and carve the validation split.

Usage::

    >>> from kanbench.training.data import load_dataset, split_train_valid
    >>> data = load_dataset("digits")
    >>> data.train.images.shape, data.train.images.dtype, data.pixel_max
    (torch.Size([1437, 1, 8, 8]), torch.uint8, 16)
    >>> train_indices, valid_indices = split_train_valid(len(data.train), valid_fraction=0.1)
    >>> load_dataset("cifar10", "/data/torchvision")   # files must already be there
    >>> load_dataset("cifar10", "/data/torchvision", download=True)   # needs network access

Images are stored as ``uint8`` tensors ``(N, C, H, W)`` and converted per batch
by :func:`to_float`, which computes ``images.float() / pixel_max`` exactly as
torchvision's ``ToTensor()`` does for 8-bit images. No normalisation or
augmentation is applied.

Sources:

* ``digits``: scikit-learn's ``load_digits()`` (1797 images, 1x8x8, pixel
  values 0..16, bundled with scikit-learn). ``pixel_max`` is 16, so pixels
  scale to 0..1 as ToTensor scales 0..255. There is no official test split,
  so a stratified 80/20 split with ``random_state=0`` gives 1437 training and
  360 test images.
* ``mnist``, ``cifar10``, ``cifar100``, ``svhn``, ``stl10``: torchvision's
  dataset classes (official train and test splits; STL-10 without the
  unlabeled images) read from ``data_root`` in torchvision's on-disk layout.
  They download only when ``download=True``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kanbench.errors import DatasetFilesNotFoundError, DatasetIntegrityError
from kanbench.space import DatasetSpec, get_dataset

logger = logging.getLogger(__name__)

SPLIT_SEED = 0
"""Seed of the train/validation permutation.

It is fixed, so every architecture and training seed uses the same split.
"""

VALID_SPLIT_RULE = (
    "the first round(valid_fraction * num_train) indices of "
    "numpy.random.default_rng(SPLIT_SEED).permutation(num_train) form the validation split, "
    "the rest (in ascending order) the training split; SPLIT_SEED = 0 does not depend on the training seed"
)

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_SPLIT_RULE = (
    "sklearn.model_selection.train_test_split(test_size=0.2, stratify=labels, random_state=0) "
    "of load_digits()"
)
TORCHVISION_TEST_SPLIT_RULE = "the official test split read by torchvision"

DATA_ROOT_ENV = "KANBENCH_DATA_ROOT"
"""Environment variable that sets the default ``data_root`` for the torchvision datasets."""

_SOURCES = {
    "mnist": (
        "the four gunzipped MNIST IDX files (train-images-idx3-ubyte.gz etc. "
        "from https://ossci-datasets.s3.amazonaws.com/mnist/)"
    ),
    "cifar10": (
        "the extracted CIFAR-10 python version "
        "(cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)"
    ),
    "cifar100": (
        "the extracted CIFAR-100 python version "
        "(cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)"
    ),
    "svhn": "the cropped-digits files train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/",
    "stl10": "the extracted STL-10 binary version (stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/)",
}


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """Images and labels of one split.

    Attributes:
        images: ``uint8`` tensor ``(N, C, H, W)``.
        labels: ``int64`` tensor ``(N,)`` of class indices ``0 .. num_classes - 1``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: np.ndarray) -> ImageSplit:
        """Return the images and labels at ``indices`` (an int array)."""
        index = torch.as_tensor(indices, dtype=torch.int64)
        return ImageSplit(self.images[index], self.labels[index])


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """The training and test splits of one dataset.

    Attributes:
        name: the dataset's short name, e.g. ``"cifar10"``.
        train: the full training split, before the validation split is carved out.
        test: the test split; use it for final metrics only, never for selection.
        pixel_max: the value that maps to 1.0 (255 for 8-bit images, 16 for ``digits``).
        test_split_rule: how the test split was obtained, for the training protocol.
    """

    name: str
    train: ImageSplit
    test: ImageSplit
    pixel_max: int
    test_split_rule: str


def to_float(images: torch.Tensor, pixel_max: int) -> torch.Tensor:
    """Scale ``uint8`` images to ``float32`` in [0, 1] as ``ToTensor()`` does (``images / pixel_max``)."""
    return images.to(torch.float32).div(pixel_max)


def split_train_valid(
    num_train: int, valid_fraction: float, split_seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(num_train)`` into training and validation indices by :data:`VALID_SPLIT_RULE`.

    Returns:
        ``(train_indices, valid_indices)``, sorted ``int64`` arrays that
        partition ``range(num_train)``. ``valid_indices`` is empty when
        ``valid_fraction`` is 0.

    Raises:
        ValueError: ``valid_fraction`` is outside [0, 1) or leaves no training image.
    """
    validate_valid_fraction(valid_fraction)
    num_valid = round(valid_fraction * num_train)
    if num_valid >= num_train:
        raise ValueError(
            f"valid_fraction {valid_fraction} of {num_train} training images leaves none for training; "
            "use a smaller valid_fraction"
        )

    permutation = np.random.default_rng(split_seed).permutation(num_train)
    return np.sort(permutation[num_valid:]), np.sort(permutation[:num_valid])


def validate_valid_fraction(valid_fraction: float) -> None:
    """Raise ValueError unless ``valid_fraction`` is a number in [0, 1)."""
    is_number = isinstance(valid_fraction, (int, float)) and not isinstance(valid_fraction, bool)
    if not (is_number and 0.0 <= valid_fraction < 1.0):
        raise ValueError(f"invalid valid_fraction {valid_fraction!r}; use a fraction in [0, 1), e.g. 0.1")


def default_data_root() -> Path:
    """Return ``$KANBENCH_DATA_ROOT`` if set, else ``~/.cache/kanbench/datasets``."""
    configured = os.environ.get(DATA_ROOT_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "kanbench" / "datasets"


def load_dataset(
    dataset: str | DatasetSpec, data_root: str | os.PathLike | None = None, *, download: bool = False
) -> DatasetSplits:
    """Load the training and test splits of a built-in dataset.

    Args:
        dataset: a built-in dataset name or its :class:`DatasetSpec`.
        data_root: directory in torchvision's layout (see :func:`expected_files`);
            ``None`` means :func:`default_data_root`. Ignored for ``digits``.
        download: let torchvision download missing files. Without it no
            network access is attempted.

    Raises:
        UnknownDatasetError: the name is not built in.
        DatasetFilesNotFoundError: files are missing and ``download`` is False;
            the message lists them and the directory.
        DatasetIntegrityError: the files exist but fail torchvision's MD5
            check, or contain images of the wrong shape or labels out of range.
        RuntimeError, OSError: with ``download=True``, torchvision's errors
            (for example a failed download) propagate unchanged.
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)
    if spec.name == "digits":
        splits = _load_digits()
    else:
        root = Path(data_root).expanduser() if data_root is not None else default_data_root()
        splits = _load_torchvision(spec.name, root, download)

    _check_splits(splits, spec)
    logger.debug("loaded %s: %d training and %d test images", spec.name, len(splits.train), len(splits.test))
    return splits


def expected_files(name: str, data_root: str | os.PathLike) -> list[Path]:
    """Return the files torchvision reads for ``name`` under ``data_root``.

    The names come from torchvision's dataset classes: ``MNIST/raw/*-ubyte``
    (gunzipped IDX files), ``cifar-10-batches-py/*``, ``cifar-100-python/*``,
    ``train_32x32.mat`` and ``test_32x32.mat`` directly in ``data_root``, and
    ``stl10_binary/*.bin``. STL-10 includes ``unlabeled_X.bin``, because
    torchvision checks it even when it reads only the labelled splits.

    Raises:
        ValueError: ``name`` is not one of the torchvision datasets.
    """
    from torchvision.datasets import CIFAR10, CIFAR100, MNIST, STL10, SVHN

    root = Path(data_root)
    if name == "mnist":
        raw = root / MNIST.__name__ / "raw"
        return [raw / Path(filename).stem for filename, _ in MNIST.resources]
    if name in ("cifar10", "cifar100"):
        cls = CIFAR10 if name == "cifar10" else CIFAR100
        filenames = [filename for filename, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return [root / cls.base_folder / filename for filename in filenames]
    if name == "svhn":
        return [root / SVHN.split_list[split][1] for split in ("train", "test")]
    if name == "stl10":
        return [root / STL10.base_folder / filename for filename, _ in STL10.train_list + STL10.test_list]
    raise ValueError(f"{name!r} is not read by torchvision; the torchvision datasets are {', '.join(_SOURCES)}")


def _load_digits() -> DatasetSplits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    return DatasetSplits(
        name="digits",
        train=ImageSplit(torch.from_numpy(train_images), torch.from_numpy(train_labels)),
        test=ImageSplit(torch.from_numpy(test_images), torch.from_numpy(test_labels)),
        pixel_max=16,
        test_split_rule=DIGITS_TEST_SPLIT_RULE,
    )


def _load_torchvision(name: str, root: Path, download: bool) -> DatasetSplits:
    if not download:
        _check_files_present(name, root)

    try:
        train, test = _torchvision_datasets(name, root, download)
    except RuntimeError as error:
        # With download=True the error may come from the download, and its own message explains it.
        if download:
            raise
        # The files exist (checked above), so torchvision's RuntimeError means a failed MD5 check.
        raise DatasetIntegrityError(
            f"dataset {name!r} under {root} failed torchvision's check ({error}). The files exist, so one "
            "is probably truncated or not the original (torchvision compares MD5 checksums). Delete them and "
            f"put {_SOURCES[name]} there again, or pass download=True with network access"
        ) from error

    return DatasetSplits(
        name=name,
        train=_to_image_split(train),
        test=_to_image_split(test),
        pixel_max=255,
        test_split_rule=TORCHVISION_TEST_SPLIT_RULE,
    )


def _check_files_present(name: str, root: Path) -> None:
    if name == "mnist" and _has_legacy_mnist(root):
        return
    missing = [path for path in expected_files(name, root) if not path.is_file()]
    if missing:
        directories = sorted({str(path.parent) for path in missing})
        raise DatasetFilesNotFoundError(
            f"dataset {name!r} not found: missing {', '.join(path.name for path in missing)} "
            f"in {', '.join(directories)}. Put {_SOURCES[name]} there, or pass download=True "
            "with network access to let torchvision download them"
        )


def _has_legacy_mnist(root: Path) -> bool:
    """Return whether torchvision's legacy cache ``MNIST/processed/{training,test}.pt`` exists.

    torchvision reads that cache in place of the raw files.
    """
    processed = root / "MNIST" / "processed"
    return (processed / "training.pt").is_file() and (processed / "test.pt").is_file()


def _torchvision_datasets(name: str, root: Path, download: bool):
    from torchvision import datasets, transforms

    # PILToTensor keeps uint8 values, and to_float divides them later, as ToTensor would.
    transform = transforms.PILToTensor()
    if name == "mnist":
        return (
            datasets.MNIST(root, train=True, transform=transform, download=download),
            datasets.MNIST(root, train=False, transform=transform, download=download),
        )
    if name in ("cifar10", "cifar100"):
        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        return (
            cls(root, train=True, transform=transform, download=download),
            cls(root, train=False, transform=transform, download=download),
        )
    if name in ("svhn", "stl10"):
        cls = datasets.SVHN if name == "svhn" else datasets.STL10
        return (
            cls(root, split="train", transform=transform, download=download),
            cls(root, split="test", transform=transform, download=download),
        )
    raise ValueError(f"{name!r} is not read by torchvision; the torchvision datasets are {', '.join(_SOURCES)}")


def _to_image_split(dataset) -> ImageSplit:
    """Read every image through the dataset's ``__getitem__``, the path ``ToTensor()`` would see."""
    images, labels = [], []
    for index in range(len(dataset)):
        image, label = dataset[index]
        images.append(image)
        labels.append(int(label))
    if not images:
        raise DatasetIntegrityError(f"{type(dataset).__name__} under {dataset.root} contains no images")
    return ImageSplit(torch.stack(images), torch.tensor(labels, dtype=torch.int64))


def _check_splits(splits: DatasetSplits, spec: DatasetSpec) -> None:
    for split_name, split in (("training", splits.train), ("test", splits.test)):
        shape = tuple(split.images.shape[1:])
        if shape != spec.input_shape:
            raise DatasetIntegrityError(
                f"{spec.name} {split_name} images have shape {shape}, but the benchmark expects "
                f"{spec.input_shape}; check that the files are the original {spec.name} files"
            )
        if split.images.dtype != torch.uint8:
            raise DatasetIntegrityError(f"{spec.name} {split_name} images are {split.images.dtype}, not torch.uint8")
        low, high = int(split.labels.min()), int(split.labels.max())
        if low < 0 or high >= spec.num_classes:
            raise DatasetIntegrityError(
                f"{spec.name} {split_name} labels span {low}..{high}, outside 0..{spec.num_classes - 1}; "
                f"check that the files are the original {spec.name} files"
            )
