"""Choosing which (architecture, seed) pairs a sweep trains, and training one."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import traceback
from dataclasses import dataclass

import numpy as np

from kanbench.space import SearchSpace

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, order=True)
class SweepTask:
    """One training run of a sweep."""

    seed: int
    arch_id: int


def parse_arch_ids(text: str, space_size: int) -> np.ndarray:
    """Parse ``START:STOP`` (half-open, either side optional) or ``ID,ID,...``.

    Raises:
        ValueError: the text is malformed or an id is outside ``0 .. space_size - 1``.
    """
    text = text.strip()
    if ":" in text:
        start_text, _, stop_text = text.partition(":")
        try:
            start = int(start_text) if start_text else 0
            stop = int(stop_text) if stop_text else space_size
        except ValueError:
            raise ValueError(f"invalid arch_id range {text!r}; write START:STOP, e.g. 0:1000") from None
        if not 0 <= start < stop <= space_size:
            raise ValueError(f"arch_id range {text!r} is outside 0:{space_size} or empty; the space has {space_size} architectures")
        return np.arange(start, stop)

    try:
        ids = np.array([int(part) for part in text.split(",") if part.strip()], dtype=np.int64)
    except ValueError:
        raise ValueError(f"invalid arch_id list {text!r}; write comma-separated integers or START:STOP") from None
    if ids.size == 0:
        raise ValueError(f"arch_ids {text!r} contains no arch_id; write START:STOP or comma-separated integers")
    if ids.min() < 0 or ids.max() >= space_size:
        raise ValueError(f"arch_ids {text!r} must be between 0 and {space_size - 1}")
    return np.unique(ids)


def select_tasks(
    space: SearchSpace,
    seeds: list[int],
    *,
    arch_ids: str | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
) -> list[SweepTask]:
    """List all pairs of the selected architectures and ``seeds``, seed-major, then by arch_id.

    Repeated seeds are kept once, in their first position. ``sample`` draws
    that many architectures uniformly without replacement (from the
    ``arch_ids`` range when both are given) with ``sample_seed``.
    """
    ids = parse_arch_ids(arch_ids, len(space)) if arch_ids is not None else np.arange(len(space))
    if sample is not None:
        if not 0 < sample <= len(ids):
            raise ValueError(f"sample size {sample} must be between 1 and the {len(ids)} selected architectures")
        ids = np.sort(np.random.default_rng(sample_seed).choice(ids, size=sample, replace=False))
    if not seeds:
        raise ValueError("give at least one seed, e.g. --seeds 0")
    return [SweepTask(int(seed), int(arch_id)) for seed in dict.fromkeys(seeds) for arch_id in ids]


def run_task(dataset: str, arch_id: int, seed: int, options: dict) -> dict:
    """Train one pair and return ``TrainingRecord.to_dict()``, or a failure record.

    Runs inside worker processes (local pool or Ray). An exception becomes a
    record with ``status == "failed"`` and the error, so one bad run never
    stops a sweep.
    """
    from kanbench.training import train_architecture

    try:
        record = train_architecture(arch_id, dataset, seed=seed, progress=False, num_threads=1, **options)
        return record.to_dict()
    except Exception as error:  # noqa: BLE001 - recorded as a failed run, with the traceback
        logger.warning("arch_id %d seed %d failed: %s", arch_id, seed, error)
        return failure_record(dataset, arch_id, seed, f"{type(error).__name__}: {error}", traceback.format_exc())


def failure_record(dataset: str, arch_id: int, seed: int, error: str, details: str = "") -> dict:
    """Build a minimal result for a run that raised or whose worker died."""
    return {
        "dataset": dataset,
        "arch_id": arch_id,
        "seed": seed,
        "status": "failed",
        "error": error,
        "traceback": details,
    }


def warm_up_worker() -> None:
    """Import torch and the trainer once per worker process, use one thread, and exit with the parent."""
    import torch

    import kanbench.training  # noqa: F401 - imported for its start-up cost

    torch.set_num_threads(1)
    _exit_with_parent()


def _exit_with_parent() -> None:
    # A pool worker whose sweep process was killed (SIGKILL, out of memory)
    # would block forever on the task queue, whose pipe the other workers keep
    # open, so each worker watches its parent and exits when the parent is gone.
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait_for_parent() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=wait_for_parent, name="exit-with-parent", daemon=True).start()
