"""Train one architecture on one dataset with the NAS-KAN authors' protocol.

Usage::

    >>> from kanbench.training import train_architecture
    >>> record = train_architecture("31.51.48S", "digits", epochs=5, seed=0)
    >>> record.test_accuracy, record.num_params, record.train_loss
    >>> train_architecture(1234, "cifar10", data_root="/data/torchvision", checkpoint_path="runs/c10-1234.pt")

Protocol (the defaults): Adam with learning rate 1e-3 and torch's other
defaults, batch size 64, 5 epochs, mean cross-entropy loss, images scaled to
[0, 1] as ``ToTensor()`` does with no normalisation or augmentation. The
validation split is carved from the training split by
:data:`kanbench.training.data.VALID_SPLIT_RULE`, which does not depend on the
training seed. The test split is only used for the final metrics.

Reproducibility: on CPU, two runs with the same arguments, thread count and
library versions give bitwise-identical weights and metrics (times aside).
During the run the trainer sets ``torch.set_num_threads(num_threads)``,
enables ``torch.use_deterministic_algorithms`` (CPU only), seeds torch,
numpy and ``random`` with ``seed``, and shuffles batches with a
``torch.Generator`` seeded with ``seed``. It restores the caller's thread
count, deterministic-algorithms setting and RNG states afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
from tqdm.auto import tqdm

import kanbench
from kanbench.models.builder import (
    ARCHITECTURE_KAN_KWARGS,
    build_model,
    count_parameters,
    expected_num_params,
    kan_kwargs_for,
    resolve_architecture,
    resolve_dataset,
)
from kanbench.space import Architecture, DatasetSpec, SearchSpace, cost
from kanbench.training.checkpoint import save_checkpoint
from kanbench.training.data import (
    SPLIT_SEED,
    VALID_SPLIT_RULE,
    ImageSplit,
    load_dataset,
    split_train_valid,
    to_float,
    validate_valid_fraction,
)
from kanbench.training.metrics import classification_metrics
from kanbench.training.record import STATUS_FAILED, STATUS_OK, TrainingRecord

logger = logging.getLogger(__name__)

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}
"""Optimizer names accepted by :func:`train_architecture`; each uses torch's defaults besides the learning rate."""

EVAL_BATCH_SIZE = 1024
"""Images per forward pass when computing validation and test predictions."""


def train_architecture(
    arch: Architecture | str | int,
    dataset: str | DatasetSpec,
    *,
    epochs: int = 5,
    seed: int = 0,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    device: str | torch.device = "cpu",
    data_root: str | os.PathLike | None = None,
    download: bool = False,
    valid_fraction: float = 0.1,
    num_threads: int = 1,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
    kan_kwargs: dict | None = None,
) -> TrainingRecord:
    """Train ``arch`` on ``dataset`` and return its metrics.

    Args:
        arch: an :class:`Architecture`, an architecture string or an arch_id
            of the dataset's search space.
        dataset: a built-in dataset name or its :class:`DatasetSpec`.
        epochs: passes over the training split.
        seed: seed of the model initialisation and the batch order, in
            ``0 .. 2**32 - 1``.
        batch_size: training images per optimizer step; the last batch of an
            epoch may be smaller.
        learning_rate: the optimizer's learning rate.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (see :data:`OPTIMIZERS`).
        device: torch device to train on. Only CPU runs are bitwise reproducible.
        data_root: directory of the torchvision datasets; see
            :func:`kanbench.training.data.load_dataset`.
        download: let torchvision download missing dataset files.
        valid_fraction: fraction of the training split held out for
            ``valid_accuracy``, in [0, 1). With 0, ``valid_accuracy`` is NaN.
        num_threads: torch intra-op threads during the run. Results are
            bitwise reproducible only for the same thread count.
        checkpoint_path: if given, the trained ``state_dict`` and the record
            are saved there (see :func:`kanbench.training.checkpoint.save_checkpoint`),
            for failed runs too.
        progress: show tqdm bars per epoch and per batch.
        kan_kwargs: ``KANLinear`` arguments that replace the protocol's, e.g.
            ``{"scale_noise": 0.1}``. ``grid_size``, ``spline_order`` and
            ``base_activation`` belong to the architecture and are rejected.

    Returns:
        A :class:`TrainingRecord`. A run whose training loss becomes NaN or
        infinite stops there and returns ``status="failed"`` with NaN metrics.

    Raises:
        ValueError: an argument is out of range, or ``kan_kwargs`` sets an
            architecture choice (see also :func:`~kanbench.models.builder.build_model`).
        UnknownDatasetError, ArchitectureSyntaxError, InvalidArchitectureError,
        OutOfSpaceError: ``arch`` or ``dataset`` is invalid.
        DatasetFilesNotFoundError: the dataset's files are missing and
            ``download`` is False.
        DatasetIntegrityError: the dataset's files are damaged.
    """
    kan_kwargs = dict(kan_kwargs or {})
    _validate_options(epochs, seed, batch_size, learning_rate, optimizer, num_threads, kan_kwargs)
    validate_valid_fraction(valid_fraction)
    spec = resolve_dataset(dataset)
    architecture = resolve_architecture(arch, spec)
    arch_id = SearchSpace.for_shape(spec.input_shape).index(architecture)
    device = torch.device(device)

    data = load_dataset(spec, data_root, download=download)
    train_indices, valid_indices = split_train_valid(len(data.train), valid_fraction)
    train_split = data.train.subset(train_indices)
    valid_split = data.train.subset(valid_indices)

    protocol = _protocol(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
        valid_fraction=valid_fraction,
        num_threads=num_threads,
        device=device,
        pixel_max=data.pixel_max,
        test_split_rule=data.test_split_rule,
        split_sizes=(len(train_split), len(valid_split), len(data.test)),
        kan_kwargs=kan_kwargs_for(architecture, **kan_kwargs),
    )
    logger.info("training arch_id %d (%s) on %s with seed %d", arch_id, architecture, spec.name, seed)

    with _reproducible(seed, num_threads, device) as deterministic:
        protocol["deterministic_algorithms"] = deterministic
        model = build_model(architecture, spec, **kan_kwargs).to(device)
        num_params = count_parameters(model)
        _check_num_params(num_params, architecture, spec, kan_kwargs)

        optimizer_instance = OPTIMIZERS[optimizer](model.parameters(), lr=learning_rate)
        protocol["optimizer_defaults"] = _to_json(optimizer_instance.defaults)
        description = f"{spec.name} arch {arch_id} seed {seed}"
        curves = _Curves()
        try:
            _fit(model, optimizer_instance, train_split, data.pixel_max, batch_size, epochs, seed, device,
                 curves, progress, description)
            error = None
        except _NonFiniteLossError as failure:
            error = str(failure)
            logger.warning("arch_id %d on %s with seed %d failed: %s", arch_id, spec.name, seed, error)

        if error is None:
            valid_accuracy = _accuracy(_predict(model, valid_split, data.pixel_max, device), valid_split)
            test_metrics = classification_metrics(
                data.test.labels.numpy(), _predict(model, data.test, data.pixel_max, device)
            )
        else:
            valid_accuracy = math.nan
            test_metrics = dict.fromkeys(("accuracy", "precision", "recall", "f1"), math.nan)

    record = TrainingRecord(
        arch_id=arch_id,
        architecture=str(architecture),
        dataset=spec.name,
        seed=seed,
        test_accuracy=test_metrics["accuracy"],
        test_precision=test_metrics["precision"],
        test_recall=test_metrics["recall"],
        test_f1=test_metrics["f1"],
        valid_accuracy=valid_accuracy,
        train_loss=curves.train_loss,
        train_accuracy=curves.train_accuracy,
        epoch_time_sec=curves.epoch_time_sec,
        train_time_sec=curves.train_time_sec,
        num_params=num_params,
        num_flops=cost.num_flops(architecture, spec),
        protocol=protocol,
        versions=_versions(),
        host=_host(device),
        status=STATUS_OK if error is None else STATUS_FAILED,
        error=error,
    )
    logger.info(
        "arch_id %d on %s with seed %d: status %s, test_accuracy %.4f, %.1f s",
        arch_id, spec.name, seed, record.status, record.test_accuracy, record.train_time_sec,
    )

    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, model.state_dict(), record)
        logger.info("saved checkpoint %s", checkpoint_path)
    return record


def _protocol(
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    optimizer: str,
    valid_fraction: float,
    num_threads: int,
    device: torch.device,
    pixel_max: int,
    test_split_rule: str,
    split_sizes: tuple[int, int, int],
    kan_kwargs: dict,
) -> dict:
    """Every setting that affects a run's result, JSON-serialisable, for ``TrainingRecord.protocol``."""
    num_train, num_valid, num_test = split_sizes
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": optimizer,
        "loss": "cross-entropy, mean over the batch",
        "transform": f"ToTensor() only: uint8 pixels / {pixel_max} as float32; no normalisation or augmentation",
        "shuffle": "every epoch, by a torch.Generator seeded with the training seed; last batch kept",
        "valid_fraction": valid_fraction,
        "valid_split_rule": VALID_SPLIT_RULE,
        "split_seed": SPLIT_SEED,
        "test_split_rule": test_split_rule,
        "num_train": num_train,
        "num_valid": num_valid,
        "num_test": num_test,
        "eval_batch_size": EVAL_BATCH_SIZE,
        "metrics": "precision, recall and F1 macro-averaged by sklearn (zero_division=0); "
        "train_accuracy from the forward passes during each epoch",
        "num_threads": num_threads,
        "device": str(device),
        "kan_kwargs": _to_json(kan_kwargs),
    }


def _check_num_params(num_params: int, architecture: Architecture, spec: DatasetSpec, kan_kwargs: dict) -> None:
    """Raise AssertionError unless the model's parameter count matches the cost model."""
    analytic_num_params = expected_num_params(architecture, spec, **kan_kwargs)
    if num_params != analytic_num_params:
        raise AssertionError(
            f"{architecture} on {spec.name} has {num_params} parameters, but the cost model "
            f"predicts {analytic_num_params}; the builder and kanbench.space.cost disagree"
        )


@dataclass
class _Curves:
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    epoch_time_sec: list[float] = field(default_factory=list)
    train_time_sec: float = 0.0


class _NonFiniteLossError(ArithmeticError):
    pass


def _fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_split: ImageSplit,
    pixel_max: int,
    batch_size: int,
    epochs: int,
    seed: int,
    device: torch.device,
    curves: _Curves,
    progress: bool,
    description: str,
) -> None:
    """Run the training epochs, appending to ``curves`` after each one.

    Raises:
        _NonFiniteLossError: a batch loss is NaN or infinite; ``curves`` then
            contains the completed epochs.
    """
    dataset = TensorDataset(train_split.images.to(device), train_split.labels.to(device))
    generator = torch.Generator().manual_seed(seed)
    batches = BatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last=False)
    # batch_size=None makes the loader index the dataset with a whole batch of indices at once.
    loader = DataLoader(dataset, sampler=batches, batch_size=None)

    run_start = time.perf_counter()
    try:
        for epoch in tqdm(range(1, epochs + 1), desc=description, unit="epoch", disable=not progress):
            epoch_start = time.perf_counter()
            train_loss, train_accuracy = _train_epoch(model, optimizer, loader, pixel_max, epoch, progress)
            curves.train_loss.append(train_loss)
            curves.train_accuracy.append(train_accuracy)
            curves.epoch_time_sec.append(time.perf_counter() - epoch_start)
            logger.info(
                "%s epoch %d/%d: train_loss %.4f, train_accuracy %.4f, %.1f s",
                description, epoch, epochs, train_loss, train_accuracy, curves.epoch_time_sec[-1],
            )
    finally:
        curves.train_time_sec = time.perf_counter() - run_start


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    pixel_max: int,
    epoch: int,
    progress: bool,
) -> tuple[float, float]:
    """Run one pass over ``loader`` and return the mean loss and the accuracy of its forward passes.

    Raises:
        _NonFiniteLossError: a batch loss is NaN or infinite.
    """
    model.train()
    loss_sum = 0.0
    num_correct = 0
    num_images = 0
    batches = tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress)

    for batch_number, (images, labels) in enumerate(batches, start=1):
        logits = model(to_float(images, pixel_max))
        loss = F.cross_entropy(logits, labels)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise _NonFiniteLossError(
                f"training loss is {loss_value} at epoch {epoch}, batch {batch_number}; "
                "lower the learning rate or check the KAN arguments"
            )

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        loss_sum += loss_value * len(labels)
        num_correct += int((logits.argmax(dim=1) == labels).sum())
        num_images += len(labels)

    return loss_sum / num_images, num_correct / num_images


def _predict(model: torch.nn.Module, split: ImageSplit, pixel_max: int, device: torch.device) -> np.ndarray:
    """Predicted class of every image in ``split``, as an int64 array ``(N,)``."""
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(split), EVAL_BATCH_SIZE):
            images = split.images[start : start + EVAL_BATCH_SIZE].to(device)
            predictions.append(model(to_float(images, pixel_max)).argmax(dim=1).cpu())
    if not predictions:
        return np.zeros(0, dtype=np.int64)
    return torch.cat(predictions).numpy()


def _accuracy(predictions: np.ndarray, split: ImageSplit) -> float:
    if len(split) == 0:
        return math.nan
    return float(np.mean(predictions == split.labels.numpy()))


@contextlib.contextmanager
def _reproducible(seed: int, num_threads: int, device: torch.device) -> Iterator[bool]:
    """Seed every RNG and fix threads and algorithms; restore the caller's settings on exit.

    Yields whether deterministic algorithms are enabled (on CPU only, because
    MaxPool2d's CUDA backward has no deterministic implementation).
    """
    saved_threads = torch.get_num_threads()
    saved_deterministic = torch.are_deterministic_algorithms_enabled()
    saved_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    saved_python_rng = random.getstate()
    saved_numpy_rng = np.random.get_state()
    # NOTE: only device="cpu" is covered by the tests; the CUDA branches here and in _host have not been run.
    deterministic = device.type == "cpu"
    fork_devices = [device.index or 0] if device.type == "cuda" else []

    try:
        with torch.random.fork_rng(devices=fork_devices):
            torch.set_num_threads(num_threads)
            torch.use_deterministic_algorithms(deterministic)
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            yield deterministic
    finally:
        torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_deterministic, warn_only=saved_warn_only)
        random.setstate(saved_python_rng)
        np.random.set_state(saved_numpy_rng)


def _validate_options(
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    optimizer: str,
    num_threads: int,
    kan_kwargs: dict,
) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"invalid {name} {value!r}; use an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"invalid seed {seed!r}; use an integer in 0 .. 2**32 - 1")
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or not (math.isfinite(learning_rate) and learning_rate > 0)
    ):
        raise ValueError(f"invalid learning_rate {learning_rate!r}; use a positive number, e.g. 1e-3")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")

    fixed = [name for name in ARCHITECTURE_KAN_KWARGS if name in kan_kwargs]
    if fixed:
        raise ValueError(
            f"kan_kwargs sets {', '.join(fixed)}, which the architecture fixes; "
            "train an architecture with the spline order, grid size or activation you want instead"
        )


def _to_json(values: dict) -> dict:
    """Copy of ``values`` that strict JSON can encode, for the protocol.

    Classes become their names, tuples become lists, and NaN or infinite
    floats and other objects become their ``repr`` strings.
    """
    return {name: _to_json_value(value) for name, value in values.items()}


def _to_json_value(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, (list, tuple)):
        return [_to_json_value(item) for item in value]
    return repr(value)


def _versions() -> dict[str, str]:
    import sklearn
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "kanbench": kanbench.__version__,
    }


def _host(device: torch.device) -> dict[str, object]:
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "device": device_name,
    }
