"""Compare candidate training protocols for the 8x8 digits benchmark.

Usage::

    python benchmarks/digits_protocol_study.py --sample 200 --workers 2 --out study/
    python benchmarks/digits_protocol_study.py --candidates 5:64:1e-2 8:64:1e-2 --sample 200

For each candidate ``EPOCHS:BATCH:LR`` it trains the same seeded random
sample of architectures with seeds 0 and 1 (through ``kanbench populate``'s
machinery, so a rerun resumes) and prints:

* Kendall's tau-b between the two seeds' test accuracies (ranking stability);
* the best and median test accuracy (mean of the two seeds);
* the share of architectures at chance level (test accuracy <= 0.12);
* the mean training time per run (epochs only);
* the wall time per run of the whole sweep, with start-up, data loading,
  evaluation and writing included (measured on a first run, not a resumed
  one), and the projected core-hours for one seed of all 7,020
  architectures.

A useful benchmark needs tau >= 0.7 and a best accuracy >= 0.95 within about
3 core-hours per seed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from kanbench.space import SearchSpace
from kanbench.sweep.run_dir import RunDirectory
from kanbench.sweep.runner import populate

CHANCE_LEVEL = 0.12


def parse_candidate(text: str) -> dict:
    epochs, batch_size, learning_rate = text.split(":")
    return {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate)}


def study(candidate: dict, sample: int, workers: int, out: Path) -> dict:
    name = f"e{candidate['epochs']}-b{candidate['batch_size']}-lr{candidate['learning_rate']:g}"
    run_dir = out / name
    summary = populate(
        "digits", run_dir, seeds=[0, 1], sample=sample, sample_seed=0, protocol="authors",
        overrides=candidate, workers=workers, progress=True,
    )  # fmt: skip

    accuracy: dict[int, dict[int, float]] = {0: {}, 1: {}}
    times = []
    for result in RunDirectory(run_dir).results():
        accuracy[int(result["seed"])][int(result["arch_id"])] = result["test_accuracy"]
        times.append(sum(result["epoch_time_sec"]))
    ids = sorted(set(accuracy[0]) & set(accuracy[1]))
    first = np.array([accuracy[0][i] for i in ids])
    second = np.array([accuracy[1][i] for i in ids])
    mean = (first + second) / 2
    tau = kendalltau(first, second).statistic
    per_run = float(np.mean(times))
    wall_per_run = 3600 / summary.runs_per_core_hour if summary.finished else float("nan")
    return {
        "protocol": name,
        "pairs": len(ids),
        "kendall_tau": float(tau),
        "best": float(mean.max()),
        "median": float(np.median(mean)),
        "at_chance": float(np.mean(mean <= CHANCE_LEVEL)),
        "train_sec_per_run": per_run,
        "wall_sec_per_run": wall_per_run,
        "core_hours_per_seed": wall_per_run * len(SearchSpace.for_dataset("digits")) / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["5:64:1e-2", "5:32:3e-3"], help="EPOCHS:BATCH:LR")
    parser.add_argument("--sample", type=int, default=200, help="architectures in the sample (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("study"), help="folder for the run directories")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = [study(parse_candidate(text), args.sample, args.workers, args.out) for text in args.candidates]
    header = f"{'protocol':24s} {'pairs':>5s} {'tau':>6s} {'best':>6s} {'median':>6s} {'chance':>6s} {'train s':>7s} {'wall s':>6s} {'core-h':>7s}"
    print(header)
    for row in rows:
        print(
            f"{row['protocol']:24s} {row['pairs']:5d} {row['kendall_tau']:6.3f} {row['best']:6.3f} {row['median']:6.3f} "
            f"{row['at_chance']:6.2f} {row['train_sec_per_run']:7.2f} {row['wall_sec_per_run']:6.2f} "
            f"{row['core_hours_per_seed']:7.2f}"
        )


if __name__ == "__main__":
    main()
