"""Failed runs: recorded with their error, skipped on resume, retried on request.

Workers are spawned processes, so the failures come from real invalid input:
seed 2**32 is outside the trainer's range (0 .. 2**32 - 1), so every run of
that seed raises ValueError inside its worker. A failure record written
beforehand for a valid pair stands for a run whose worker died.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from kanbench.sweep.protocols import resolve_protocol
from kanbench.sweep.run_dir import RunDirectory
from kanbench.sweep.runner import populate
from kanbench.sweep.tasks import failure_record

BAD_SEED = 2**32
SEEDS = [0, BAD_SEED]
BAD_PAIRS = {(arch_id, BAD_SEED) for arch_id in range(3)}
DIED_PAIR = (1, 0)


def run_sweep(out, **options):
    return populate("digits", out, seeds=SEEDS, arch_ids="0:3", overrides={"epochs": 1}, progress=False, **options)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("failures") / "runs"
    run_dir = RunDirectory.create_or_open(out, "digits", "digits-v1", resolve_protocol("digits-v1", {"epochs": 1}))
    run_dir.record(failure_record("digits", *DIED_PAIR, "worker process died"))
    summary = run_sweep(out, workers=1)
    return run_dir, summary


def test_summary_counts_failures(sweep):
    _, summary = sweep

    assert summary.selected == 6
    assert summary.skipped == 1
    assert summary.finished == 2
    assert summary.failed == 3


def test_sweep_continues_after_failure(sweep):
    run_dir, _ = sweep

    assert run_dir.finished() == {(0, 0), (2, 0)}


def test_failures_recorded(sweep):
    run_dir, _ = sweep

    assert run_dir.failed() == BAD_PAIRS | {DIED_PAIR}
    assert not (run_dir.path / "results" / f"seed-{BAD_SEED}").exists()


def test_failure_file_contents(sweep):
    run_dir, _ = sweep

    for arch_id, seed in sorted(BAD_PAIRS):
        record = json.loads(run_dir.result_path(arch_id, seed, failed=True).read_text())
        assert record["status"] == "failed"
        assert record["dataset"] == "digits"
        assert record["arch_id"] == arch_id
        assert record["seed"] == BAD_SEED
        assert record["error"] == "ValueError: invalid seed 4294967296; use an integer in 0 .. 2**32 - 1"
        assert "raise ValueError" in record["traceback"]


def test_rerun_skips_failures(sweep):
    run_dir, _ = sweep

    summary = run_sweep(run_dir.path, workers=1)

    assert summary.skipped == 6
    assert summary.finished == 0
    assert summary.failed == 0


def test_retry_failed_reruns(sweep, tmp_path):
    run_dir, _ = sweep
    copy = tmp_path / "runs"
    shutil.copytree(run_dir.path, copy)

    command = [
        sys.executable, "-m", "kanbench.cli.main", "populate", "--dataset", "digits", "--arch-ids", "0:3",
        "--seeds", "0", str(BAD_SEED), "--epochs", "1", "--out", str(copy), "--retry-failed", "--no-progress", "--json",
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["selected"] == 6
    assert summary["skipped"] == 2
    assert summary["finished"] == 1
    assert summary["failed"] == 3
    retried = RunDirectory(copy)
    assert retried.finished() == {(0, 0), (1, 0), (2, 0)}
    assert retried.failed() == BAD_PAIRS
    assert not retried.result_path(*DIED_PAIR, failed=True).exists()
