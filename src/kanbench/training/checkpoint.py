"""Save and load trained weights together with their training record.

Usage::

    >>> record = train_architecture(0, "digits", checkpoint_path="runs/digits-0.pt")
    >>> state_dict, record = load_checkpoint("runs/digits-0.pt")
    >>> model = build_model(record.architecture, record.dataset)
    >>> model.load_state_dict(state_dict)

A checkpoint is a ``torch.save`` file of a dict with ``format``,
``format_version``, ``state_dict`` (CPU tensors) and ``record``
(``TrainingRecord.to_dict()``). It loads with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from kanbench.atomic import atomic_output

from kanbench.training.record import TrainingRecord

CHECKPOINT_FORMAT = "kanbench-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], record: TrainingRecord) -> Path:
    """Write ``state_dict`` and ``record`` to ``path`` atomically and return the path.

    The file is written to a temporary file in the same directory and then
    moved over ``path`` with ``os.replace``, so a reader never sees a partial
    file. Missing parent directories are created.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "record": record.to_dict(),
    }

    with atomic_output(path) as temporary, open(temporary, "wb") as file:
        torch.save(payload, file)
        file.flush()
        os.fsync(file.fileno())
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], TrainingRecord]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``(state_dict, record)`` with CPU tensors.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a kanbench checkpoint of a supported version.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a kanbench checkpoint; write one with save_checkpoint()")
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {payload.get('format_version')!r}; "
            f"this kanbench reads version {CHECKPOINT_VERSION}"
        )
    return payload["state_dict"], TrainingRecord.from_dict(payload["record"])
