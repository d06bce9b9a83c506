"""Sweep throughput: architectures per core-hour for each engine.

Usage::

    python benchmarks/bench_sweep.py [--sample 24] [--skip-ray]

Trains the same seeded random sample of digits architectures (seed 0, the
``digits-v1`` protocol) four ways, each into a fresh run directory, and
prints wall time, runs per wall-hour and runs per core-hour:

* baseline: one new Python process per run (``kanbench train``), run one
  after another, which pays the torch import and start-up for every run;
* local engine, 1 worker and 2 workers (long-lived processes);
* Ray engine on this machine (a local instance on loopback, 2 CPUs).

Ratios are against the baseline measured in the same run. Close other work
first: every configuration uses the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kanbench.space import SearchSpace
from kanbench.sweep.protocols import resolve_protocol
from kanbench.sweep.runner import populate


def baseline(arch_ids: list[int], options: dict) -> float:
    """Seconds to train every architecture in its own fresh process."""
    start = time.perf_counter()
    for arch_id in arch_ids:
        subprocess.run(
            [
                sys.executable, "-m", "kanbench.cli.main", "train", str(arch_id), "--dataset", "digits",
                "--epochs", str(options["epochs"]), "--batch-size", str(options["batch_size"]),
                "--learning-rate", str(options["learning_rate"]), "--json",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - start


def engine(arch_ids: list[int], name: str, workers: int) -> tuple[float, int]:
    """Seconds for one populate call, and the cores it used."""
    with tempfile.TemporaryDirectory() as folder:
        ids = ",".join(str(arch_id) for arch_id in arch_ids)
        summary = populate(
            "digits", Path(folder) / "run", seeds=[0], arch_ids=ids, engine=name, workers=workers, progress=False
        )
    return summary.wall_time_sec, summary.workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=24, help="architectures in the sample (default 24)")
    parser.add_argument("--skip-ray", action="store_true", help="leave out the Ray engine")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    space = SearchSpace.for_dataset("digits")
    arch_ids = sorted(int(i) for i in np.random.default_rng(0).choice(len(space), args.sample, replace=False))
    options = resolve_protocol("digits-v1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"{args.sample} digits architectures, protocol digits-v1")

    results = {"baseline: one process per run": (baseline(arch_ids, options), 1)}
    results["local engine, 1 worker"] = engine(arch_ids, "local", 1)
    results["local engine, 2 workers"] = engine(arch_ids, "local", 2)
    if not args.skip_ray:
        results["ray engine, local instance"] = engine(arch_ids, "ray", 2)

    base_rate = args.sample / results["baseline: one process per run"][0] * 3600
    print(f"{'configuration':32s} {'wall s':>8s} {'runs/hour':>10s} {'runs/core-hour':>15s} {'speed-up':>9s}")
    for name, (seconds, cores) in results.items():
        per_hour = args.sample / seconds * 3600
        print(f"{name:32s} {seconds:8.1f} {per_hour:10.0f} {per_hour / cores:15.0f} {per_hour / base_rate:8.2f}x")


if __name__ == "__main__":
    main()
