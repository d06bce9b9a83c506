"""Execution engines: a local pool of long-lived processes, or a Ray cluster.

Both take the same tasks and yield the same result dicts (on CPU, with one
thread per run, bitwise-identical metrics for the same seeds). Each keeps a
bounded window of runs in flight, so an interrupted sweep loses at most
those.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from kanbench.sweep.tasks import SweepTask, failure_record, run_task, warm_up_worker

logger = logging.getLogger(__name__)


def run_local(tasks: list[SweepTask], dataset: str, options: dict, workers: int) -> Iterator[dict]:
    """Yield one result per task from ``workers`` reused processes (spawned, one torch thread each).

    A worker that dies (killed, out of memory) turns its run into a failure
    record and the pool is restarted for the remaining tasks.
    """
    if workers < 1:
        raise ValueError(f"workers {workers} is invalid; use at least 1")
    pending = list(reversed(tasks))
    context = multiprocessing.get_context("spawn")

    while pending:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=warm_up_worker)
        in_flight: dict[Future, SweepTask] = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < 2 * workers:
                    task = pending.pop()
                    in_flight[executor.submit(run_task, dataset, task.arch_id, task.seed, options)] = task
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    task = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        logger.error("worker died while training arch_id %d seed %d", task.arch_id, task.seed)
                        yield failure_record(dataset, task.arch_id, task.seed, "worker process died")
                        raise
        except BrokenProcessPool:
            # Rerun the other runs that were in flight in a fresh pool.
            pending.extend(reversed(list(in_flight.values())))
            logger.warning("restarting the worker pool; %d runs left", len(pending))
        finally:
            executor.shutdown(wait=False, cancel_futures=True)


class RayEngine:
    """Runs sweep tasks on a Ray cluster (needs ``kanbench[ray]``).

    ``address`` is that of a running cluster (``ray start --head``); None
    starts a local one for this process, even when ``RAY_ADDRESS`` is set or
    ``ray start`` ran on this machine. Each run reserves one CPU. Use as a
    context manager so a cluster started here is shut down.

    NOTE: on Linux, Ray 2.60 replaces the node address 127.0.0.1 with the
    host's primary address (``ray._private.services.resolve_ip_for_localhost``),
    and its GCS server and raylet then listen on all interfaces, not only on
    loopback.
    """

    def __init__(self, address: str | None):
        try:
            import ray
        except ImportError:
            raise ImportError("the Ray engine needs the ray package: pip install 'kanbench[ray]'") from None

        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            if address is None:
                # address="local": a bare ray.init() joins the cluster named by RAY_ADDRESS
                # or by the last `ray start` on this machine instead of starting one.
                ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self.num_cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)

    def run(self, tasks: list[SweepTask], dataset: str, options: dict) -> Iterator[dict]:
        """Yield one result per task, in completion order."""
        ray = self._ray
        remote_task = ray.remote(num_cpus=1)(run_task)
        pending = list(reversed(tasks))
        in_flight: dict = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < 2 * self.num_cpus:
                    task = pending.pop()
                    in_flight[remote_task.remote(dataset, task.arch_id, task.seed, options)] = task
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for reference in done:
                    task = in_flight.pop(reference)
                    try:
                        yield ray.get(reference)
                    except ray.exceptions.RayError as error:
                        logger.error("Ray failed arch_id %d seed %d: %s", task.arch_id, task.seed, error)
                        yield failure_record(dataset, task.arch_id, task.seed, f"Ray error: {error}")
        finally:
            for reference in in_flight:
                ray.cancel(reference, force=True)

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
