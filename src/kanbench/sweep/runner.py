"""``populate``: run a sweep into a run directory, resumably.

Usage::

    >>> from kanbench.sweep.runner import populate
    >>> summary = populate("digits", "runs/digits", seeds=[0], arch_ids="0:100", workers=2)
    >>> summary.finished, summary.failed, summary.runs_per_core_hour
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from kanbench.space import SearchSpace
from kanbench.sweep.engines import RayEngine, run_local
from kanbench.sweep.protocols import default_protocol, resolve_protocol
from kanbench.sweep.run_dir import RunDirectory
from kanbench.sweep.tasks import select_tasks

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """Counts and timing of one ``populate`` call."""

    selected: int
    skipped: int
    finished: int
    failed: int
    wall_time_sec: float
    workers: int

    @property
    def runs_per_core_hour(self) -> float:
        """Runs completed per hour of one worker (finished + failed)."""
        done = self.finished + self.failed
        core_hours = self.wall_time_sec * self.workers / 3600.0
        return done / core_hours if core_hours > 0 else float("nan")

    def describe(self) -> str:
        return (
            f"{self.selected} runs selected, {self.skipped} already done, {self.finished} finished, "
            f"{self.failed} failed in {self.wall_time_sec:.1f} s with {self.workers} worker(s) "
            f"({self.runs_per_core_hour:.0f} runs per core-hour)"
        )


def populate(
    dataset: str,
    out: str | os.PathLike,
    *,
    seeds: list[int],
    arch_ids: str | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
    protocol: str | None = None,
    overrides: dict | None = None,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> SweepSummary:
    """Train the selected (architecture, seed) pairs and store each result as it completes.

    Pairs already finished in ``out`` are skipped, and so are pairs that
    failed unless ``retry_failed``. Killing the process at any moment loses
    at most the runs in flight; rerunning with the same arguments resumes.

    Raises:
        RunDirectoryError: ``out`` contains another dataset or protocol. The
            ``data_root`` override is not part of the protocol.
        ValueError: a selection argument is invalid, or ``engine`` is unknown.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; use 'local' or 'ray'")
    tasks = select_tasks(
        SearchSpace.for_dataset(dataset), seeds, arch_ids=arch_ids, sample=sample, sample_seed=sample_seed
    )

    # Where the data lives does not change the results, so it stays out of
    # the protocol that run directories compare.
    overrides = dict(overrides or {})
    data_root = overrides.pop("data_root", None)
    protocol_name = protocol or default_protocol(dataset)
    options = resolve_protocol(protocol_name, overrides)
    run_dir = RunDirectory.create_or_open(out, dataset, protocol_name, options)
    if data_root is not None:
        options = {**options, "data_root": str(data_root)}

    done = run_dir.finished() if retry_failed else run_dir.finished() | run_dir.failed()
    todo = [task for task in tasks if (task.arch_id, task.seed) not in done]
    logger.info("sweep of %s into %s: %d selected, %d to run", dataset, run_dir.path, len(tasks), len(todo))

    start = time.perf_counter()
    if engine == "local":
        finished, failed = _record_all(run_dir, run_local(todo, dataset, options, workers), len(todo), dataset, progress)
        used_workers = workers
    else:
        with RayEngine(address) as ray_engine:
            results = ray_engine.run(todo, dataset, options)
            finished, failed = _record_all(run_dir, results, len(todo), dataset, progress)
            used_workers = ray_engine.num_cpus

    summary = SweepSummary(len(tasks), len(tasks) - len(todo), finished, failed, time.perf_counter() - start, used_workers)
    logger.info("sweep done: %s", summary.describe())
    return summary


def _record_all(run_dir: RunDirectory, results, total: int, dataset: str, progress: bool) -> tuple[int, int]:
    finished = failed = 0
    with tqdm(total=total, disable=not progress, unit="run", desc=f"{dataset} sweep") as bar:
        for result in results:
            run_dir.record(result)
            if result.get("status") == "ok":
                finished += 1
            else:
                failed += 1
                logger.warning("arch_id %s seed %s failed: %s", result["arch_id"], result["seed"], result.get("error"))
            bar.set_postfix(finished=finished, failed=failed, refresh=False)
            bar.update()
    return finished, failed
