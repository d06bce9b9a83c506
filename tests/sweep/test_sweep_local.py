"""End-to-end sweep on the local engine: 6 digits architectures x 2 seeds, 1 epoch, 2 workers."""

from __future__ import annotations

import json

import pytest

from kanbench.sweep.protocols import resolve_protocol
from kanbench.sweep.run_dir import RunDirectory, RunDirectoryError
from kanbench.sweep.runner import populate
from kanbench.training import train_architecture

ARCH_IDS = range(6)
SEEDS = [0, 1]
PAIRS = {(arch_id, seed) for arch_id in ARCH_IDS for seed in SEEDS}
OPTIONS = resolve_protocol("digits-v1", {"epochs": 1})
TIME_FIELDS = ("epoch_time_sec", "train_time_sec")


def without_times(record: dict) -> dict:
    return {name: value for name, value in record.items() if name not in TIME_FIELDS}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "runs"
    summary = populate("digits", out, seeds=SEEDS, arch_ids="0:6", overrides={"epochs": 1}, workers=2, progress=False)
    return RunDirectory(out), summary


def test_summary_counts(sweep):
    _, summary = sweep

    assert summary.selected == 12
    assert summary.skipped == 0
    assert summary.finished == 12
    assert summary.failed == 0
    assert summary.workers == 2
    assert summary.wall_time_sec > 0


def test_every_pair_finished(sweep):
    run_dir, _ = sweep

    assert run_dir.finished() == PAIRS
    assert run_dir.failed() == set()


def test_result_files_exist(sweep):
    run_dir, _ = sweep

    for arch_id, seed in sorted(PAIRS):
        assert run_dir.result_path(arch_id, seed).is_file()


def test_no_other_files(sweep):
    run_dir, _ = sweep

    files = {path.relative_to(run_dir.path).as_posix() for path in run_dir.path.rglob("*") if path.is_file()}
    expected = {"manifest.json"} | {f"results/seed-{seed}/{arch_id:06d}.json" for arch_id, seed in PAIRS}
    assert files == expected


def test_manifest_protocol(sweep):
    run_dir, _ = sweep
    manifest = run_dir.manifest()

    assert manifest["dataset"] == "digits"
    assert manifest["protocol_name"] == "digits-v1"
    assert manifest["protocol"] == OPTIONS


def test_records_describe_their_pair(sweep):
    run_dir, _ = sweep

    for arch_id, seed in sorted(PAIRS):
        record = json.loads(run_dir.result_path(arch_id, seed).read_text())
        assert record["arch_id"] == arch_id
        assert record["seed"] == seed
        assert record["status"] == "ok"
        assert record["protocol"]["epochs"] == 1
        assert record["protocol"]["num_threads"] == 1


def test_records_equal_direct_training(sweep):
    run_dir, _ = sweep

    for arch_id, seed in sorted(PAIRS):
        stored = json.loads(run_dir.result_path(arch_id, seed).read_text())
        direct = train_architecture(arch_id, "digits", seed=seed, num_threads=1, progress=False, **OPTIONS).to_dict()
        # Compare through JSON, as the run directory stores it.
        direct = json.loads(json.dumps(direct))
        assert without_times(stored) == without_times(direct), f"arch_id {arch_id} seed {seed}"


def test_seeds_give_different_runs(sweep):
    run_dir, _ = sweep

    first = json.loads(run_dir.result_path(0, 0).read_text())
    second = json.loads(run_dir.result_path(0, 1).read_text())
    assert first["train_loss"] != second["train_loss"]


def test_rerun_runs_nothing(sweep):
    run_dir, _ = sweep
    before = {path: path.stat().st_mtime_ns for path in run_dir.path.rglob("*.json")}

    summary = populate(
        "digits", run_dir.path, seeds=SEEDS, arch_ids="0:6", overrides={"epochs": 1}, workers=2, progress=False
    )

    assert summary.selected == 12
    assert summary.skipped == 12
    assert summary.finished == 0
    assert summary.failed == 0
    assert {path: path.stat().st_mtime_ns for path in run_dir.path.rglob("*.json")} == before


def test_rerun_other_epochs_rejected(sweep):
    run_dir, _ = sweep

    with pytest.raises(RunDirectoryError) as raised:
        populate("digits", run_dir.path, seeds=SEEDS, arch_ids="0:6", overrides={"epochs": 2}, progress=False)

    message = str(raised.value)
    assert "was made with protocol {" in message
    assert "'epochs': 1" in message
    assert "'epochs': 2" in message


def test_rerun_other_protocol_rejected(sweep):
    run_dir, _ = sweep

    with pytest.raises(RunDirectoryError, match="was made with protocol_name 'digits-v1', not 'authors'"):
        populate("digits", run_dir.path, seeds=SEEDS, protocol="authors", overrides={"epochs": 1}, progress=False)


def test_rerun_other_dataset_rejected(sweep):
    run_dir, _ = sweep

    with pytest.raises(RunDirectoryError, match="was made with dataset 'digits', not 'mnist'"):
        populate("mnist", run_dir.path, seeds=SEEDS, overrides={"epochs": 1}, progress=False)


def test_unknown_engine_rejected(sweep):
    run_dir, _ = sweep

    with pytest.raises(ValueError, match="unknown engine 'dask'; use 'local' or 'ray'"):
        populate("digits", run_dir.path, seeds=SEEDS, arch_ids="0:6", overrides={"epochs": 1}, engine="dask")


def test_zero_workers_rejected(tmp_path):
    with pytest.raises(ValueError, match="workers 0 is invalid; use at least 1"):
        populate("digits", tmp_path / "runs", seeds=[0], arch_ids="0", overrides={"epochs": 1}, workers=0, progress=False)
