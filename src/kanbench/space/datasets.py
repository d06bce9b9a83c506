"""The image datasets the benchmark is defined on."""

from __future__ import annotations

from dataclasses import dataclass

from kanbench.errors import UnknownDatasetError


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """Input shape and class count of one classification dataset.

    Attributes:
        name: short name used everywhere in kanbench, e.g. ``"cifar10"``.
        input_shape: ``(channels, height, width)`` of one image.
        num_classes: number of output logits of the KAN layer.
        description: human-readable name and source.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @property
    def image_size(self) -> int:
        """Height of the (square) input image in pixels."""
        return self.input_shape[1]


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", (1, 28, 28), 10, "MNIST handwritten digits, 28x28 grayscale"),
        DatasetSpec("cifar10", (3, 32, 32), 10, "CIFAR-10, 32x32 RGB, 10 classes"),
        DatasetSpec("cifar100", (3, 32, 32), 100, "CIFAR-100, 32x32 RGB, 100 fine classes"),
        DatasetSpec("svhn", (3, 32, 32), 10, "SVHN cropped digits, 32x32 RGB"),
        DatasetSpec("stl10", (3, 96, 96), 10, "STL-10, 96x96 RGB, labelled splits"),
        DatasetSpec("digits", (1, 8, 8), 10, "scikit-learn's 8x8 handwritten digits (UCI optdigits test set)"),
    )
}
"""Built-in datasets in their canonical order."""


def get_dataset(name: str) -> DatasetSpec:
    """Return the built-in dataset called ``name``.

    Raises:
        UnknownDatasetError: ``name`` is not built in; the message lists the
            built-in names.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = ", ".join(DATASETS)
        raise UnknownDatasetError(f"unknown dataset {name!r}; built-in datasets are {known}") from None
