"""Query-path speed and memory of KANBench against the plain pandas way.

Usage::

    python benchmarks/bench_query.py [--repeats 2000] [--shared ../shared]

Every figure is measured in this run, on the same data, and printed with the
ratio to its pandas baseline:

* open: ``KANBench()`` on the bundled archive vs ``pandas.read_csv`` of the
  same STL-10 table (arch_id, architecture, choices, num_params, num_flops),
  time and resident-memory growth, each in a fresh subprocess;
* lookup: ``bench.query(string)`` vs ``df[df.architecture == string]`` on
  STL-10's 94,020 rows (and on the imported CIFAR-10 table when the authors'
  CSV is available);
* filter: three constraints over STL-10 vs a pandas boolean mask;
* generate: ``bench.generate(max_params=1e6, alpha=0.5)`` vs the same score
  computed with pandas (needs the authors' CIFAR-10 CSV).

Targets: open <= 50 ms, lookup <= 5 us median and >= 50x faster than pandas,
filter <= 2 ms, generate <= 2 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kanbench import KANBench
from kanbench.archive.importer import import_results_csv
from kanbench.archive.writer import write_archive

REPOSITORY = Path(__file__).resolve().parents[1]

_OPEN_KANBENCH = """
import json, time, resource
def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
import kanbench
before = rss_kb(); start = time.perf_counter()
bench = kanbench.KANBench()
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "rss_kb": rss_kb() - before}))
"""

_OPEN_PANDAS = """
import json, sys, time, resource
def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
import pandas
before = rss_kb(); start = time.perf_counter()
frame = pandas.read_csv(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "rss_kb": rss_kb() - before}))
"""


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_per_item(function, items: list, rounds: int) -> float:
    """Median over rounds of the mean time per item, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            function(item)
        times.append((time.perf_counter() - start) / len(items))
    return statistics.median(times)


def run_subprocess(code: str, *args: str, rounds: int = 7) -> dict[str, float]:
    results = [json.loads(subprocess.check_output([sys.executable, "-c", code, *args], text=True)) for _ in range(rounds)]
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


def report(name: str, ours: float, baseline: float, unit: str, target: str) -> None:
    scale = {"ms": 1e3, "us": 1e6, "MB": 1 / 1024}[unit]
    print(f"{name:34s} kanbench {ours * scale:10.3f} {unit}   pandas {baseline * scale:10.3f} {unit}   "
          f"ratio {baseline / ours:8.1f}x   target {target}")


def stl10_frame(bench: KANBench) -> pd.DataFrame:
    return bench.all("stl10").to_pandas(metrics=["num_params", "num_flops", "test_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000, help="lookups per round (default 2000)")
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared", help="folder with upstream/")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    bench = KANBench()
    frame = stl10_frame(bench)

    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "stl10.csv"
        frame.drop(columns=["test_accuracy"]).to_csv(csv_path, index=False)
        ours = run_subprocess(_OPEN_KANBENCH)
        theirs = run_subprocess(_OPEN_PANDAS, str(csv_path))
    report("open (bundled archive vs CSV)", ours["seconds"], theirs["seconds"], "ms", "<= 50 ms")
    report("open, resident memory growth", max(ours["rss_kb"], 1), theirs["rss_kb"], "MB", "below pandas")

    rng = np.random.default_rng(0)
    space = bench.space("stl10")
    strings = [space.format_id(int(i)) for i in rng.integers(0, len(space), args.repeats)]
    for string in strings[:10]:
        bench.query(string, "stl10")
    ours = median_per_item(lambda s: bench.query(s, "stl10"), strings, rounds=9)
    theirs = median_per_item(lambda s: frame[frame["architecture"] == s], strings[:50], rounds=3)
    report("lookup by string, STL-10", ours, theirs, "us", "<= 5 us, >= 50x")

    filter_kwargs = {"max_params": 5e5, "max_flops": 5e7, "depth": 4}
    bench.filter("stl10", **filter_kwargs)
    ours = median_seconds(lambda: bench.filter("stl10", **filter_kwargs), 200)
    theirs = median_seconds(
        lambda: frame[(frame["num_params"] <= 5e5) & (frame["num_flops"] <= 5e7) & (frame["depth"] == 4)], 200
    )
    report("filter, 3 constraints, STL-10", ours, theirs, "ms", "<= 2 ms")

    csv_path = args.shared / "upstream" / "nas_cnn_kan_cifar10_results.csv"
    if not csv_path.is_file():
        print(f"skipped CIFAR-10 lookup and generate: {csv_path} not found")
        return
    with tempfile.TemporaryDirectory() as folder:
        table, _ = import_results_csv(csv_path)
        archive = write_archive(Path(folder) / "cifar10.h5", [table], archive_version="benchmark")
        cifar = KANBench(archive)
        authors = pd.read_csv(csv_path)
        strings = [cifar.space().format_id(int(i)) for i in rng.integers(0, 5987, args.repeats)]
        cifar.query(strings[0])
        ours = median_per_item(cifar.query, strings, rounds=9)
        theirs = median_per_item(lambda s: authors[authors["architecture"] == s], strings[:200], rounds=3)
        report("lookup by string, CIFAR-10", ours, theirs, "us", "<= 5 us, >= 50x")

        cifar.generate(max_params=1e6, alpha=0.5)
        ours = median_seconds(lambda: cifar.generate(max_params=1e6, alpha=0.5), 200)
        theirs = median_seconds(lambda: pandas_generate(authors, 1e6, 0.5), 50)
        report("generate(max_params=1e6, alpha=0.5)", ours, theirs, "ms", "<= 2 ms")
        cifar.close()


def pandas_generate(frame: pd.DataFrame, max_params: float, alpha: float) -> pd.Series:
    """Run the exact solver the plain pandas way, as the baseline."""
    normalised = {}
    for column in ("num_params", "num_flops", "epoch_time_sec"):
        values = frame[column]
        normalised[column] = (values - values.min()) / (values.max() - values.min())
    cost = 0.34 * normalised["num_params"] + 0.33 * normalised["num_flops"] + 0.33 * normalised["epoch_time_sec"]
    score = alpha * frame["test_accuracy"] - (1 - alpha) * cost
    feasible = frame[frame["num_params"] <= max_params].assign(score=score)
    return feasible.sort_values(["score", "test_accuracy"], ascending=False).iloc[0]


if __name__ == "__main__":
    main()
