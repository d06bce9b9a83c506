"""Archives built from run directories and exports: values, provenance, conflicts and the CLI.

The run directories hold real digits records trained in this process with
the populate protocol (digits-v1, 1 epoch): architectures 0-2 with seeds 0
and 1, architecture 3 with seed 0 only.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kanbench import KANBench
from kanbench._version import __version__
from kanbench.archive.reader import Archive
from kanbench.archive.schema import CURVE_METRICS, TASK_METRICS
from kanbench.cli.main import main
from kanbench.errors import ArchiveError
from kanbench.space import DATASETS, SearchSpace, cost
from kanbench.sweep.build import build_archive
from kanbench.sweep.protocols import resolve_protocol
from kanbench.sweep.run_dir import RunDirectory, read_export
from kanbench.training import train_architecture

OPTIONS = resolve_protocol("digits-v1", {"epochs": 1})
TRAINED = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 1)]
TRAINED_LABEL = f"trained:kanbench-{__version__}"
UNTRAINED_ARCH = 10


def make_run_dir(path: Path, records, protocol: dict = OPTIONS) -> RunDirectory:
    run_dir = RunDirectory.create_or_open(path, "digits", "digits-v1", protocol)
    for record in records:
        run_dir.record(record)
    return run_dir


def edit_result(run_dir: RunDirectory, arch_id: int, seed: int, **changes) -> None:
    path = run_dir.result_path(arch_id, seed)
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def digits_sha256(path: Path) -> str:
    with Archive(path) as archive:
        return archive.dataset("digits").content_sha256


@pytest.fixture(scope="module")
def records() -> dict[tuple[int, int], dict]:
    trained = {}
    for arch_id, seed in TRAINED:
        record = train_architecture(arch_id, "digits", seed=seed, num_threads=1, progress=False, **OPTIONS)
        # Through JSON, as a run directory stores it.
        trained[arch_id, seed] = json.loads(json.dumps(record.to_dict()))
    return trained


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, records) -> RunDirectory:
    return make_run_dir(tmp_path_factory.mktemp("runs") / "digits", records.values())


@pytest.fixture(scope="module")
def archive(run_dir, tmp_path_factory) -> Path:
    return build_archive([run_dir.path], tmp_path_factory.mktemp("archives") / "digits.h5", archive_version="test")


@pytest.fixture()
def bench(archive):
    with KANBench(archive) as opened:
        yield opened


@pytest.fixture()
def run_dir_copy(run_dir, tmp_path) -> RunDirectory:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir.path, copy)
    return RunDirectory(copy)


def test_archive_holds_digits_only(bench):
    assert bench.datasets == ("digits",)


def test_archive_seeds_and_epochs(archive):
    with Archive(archive) as opened:
        view = opened.dataset("digits")
        assert view.seeds == (0, 1)
        assert view.num_epochs == 1
        assert view.num_architectures == 7020


def test_provenance_trained(archive):
    with Archive(archive) as opened:
        provenance = opened.dataset("digits").provenance

    for metric in (*TASK_METRICS, *CURVE_METRICS):
        assert provenance[metric] == TRAINED_LABEL, metric


def test_protocol_stored(archive):
    with Archive(archive) as opened:
        protocol = opened.dataset("digits").protocol

    assert protocol["name"] == "digits-v1"
    assert protocol["epochs"] == 1
    assert protocol["learning_rate"] == OPTIONS["learning_rate"]
    assert protocol["trained_runs"] == 7
    assert protocol["trainer_protocol"]["num_threads"] == 1


def test_values_equal_run_files(bench, records):
    scalars = ("test_accuracy", "test_precision", "test_recall", "test_f1", "valid_accuracy", "train_time_sec")
    curves = ("train_loss", "train_accuracy", "epoch_time_sec")
    for (arch_id, seed), record in records.items():
        stored = bench.query(arch_id, dataset="digits", seed=seed)
        for name in scalars:
            assert getattr(stored, name) == record[name], f"{name} of arch_id {arch_id} seed {seed}"
        for name in curves:
            assert getattr(stored, name).tolist() == record[name], f"{name} of arch_id {arch_id} seed {seed}"
        assert stored.num_params == record["num_params"]
        assert stored.num_flops == record["num_flops"]


def test_seed_without_run_is_nan(bench):
    record = bench.query(3, dataset="digits", seed=1)

    assert math.isnan(record.test_accuracy)
    assert not record.has_task_metrics


def test_mean_uses_trained_seeds(bench, records):
    record = bench.query(3, dataset="digits")

    assert record.seeds == (0,)
    assert record.test_accuracy == records[3, 0]["test_accuracy"]


def test_mean_over_two_seeds(bench, records):
    expected = (records[0, 0]["test_accuracy"] + records[0, 1]["test_accuracy"]) / 2

    assert bench.query(0, dataset="digits").test_accuracy == pytest.approx(expected, rel=1e-12)


def test_untrained_arch_is_nan(bench):
    record = bench.query(UNTRAINED_ARCH, dataset="digits", seed=0)

    assert math.isnan(record.test_accuracy)
    assert math.isnan(record.train_loss[0])
    assert not record.has_task_metrics
    assert record.num_params == int(cost.cost_columns("digits")["num_params"][UNTRAINED_ARCH])


def test_coverage_counts(bench):
    coverage = bench.coverage("digits")

    assert coverage.with_task_metrics == 4
    assert coverage.per_seed == {0: 4, 1: 3}
    assert coverage.num_architectures == 7020


def test_export_builds_same_archive(run_dir, archive, tmp_path):
    export = run_dir.export(tmp_path / "digits.jsonl.gz")

    rebuilt = build_archive([export], tmp_path / "from-export.h5", archive_version="test")

    assert digits_sha256(rebuilt) == digits_sha256(archive)


def test_export_holds_every_result(run_dir, records, tmp_path):
    manifest, exported = read_export(run_dir.export(tmp_path / "digits.jsonl.gz"))

    assert manifest["protocol"] == OPTIONS
    assert {(record["arch_id"], record["seed"]) for record in exported} == set(records)


def test_split_run_dirs_merge(records, archive, tmp_path):
    seed_0 = make_run_dir(tmp_path / "seed-0", [record for (_, seed), record in records.items() if seed == 0])
    seed_1 = make_run_dir(tmp_path / "seed-1", [record for (_, seed), record in records.items() if seed == 1])

    merged = build_archive([seed_1.path, seed_0.path], tmp_path / "merged.h5", archive_version="test")

    assert digits_sha256(merged) == digits_sha256(archive)


def test_identical_duplicate_kept_once(run_dir, run_dir_copy, archive, tmp_path):
    built = build_archive([run_dir.path, run_dir_copy.path], tmp_path / "twice.h5", archive_version="test")

    assert digits_sha256(built) == digits_sha256(archive)


def test_duplicate_with_other_times_accepted(run_dir, run_dir_copy, tmp_path):
    # Wall times and hosts differ between machines, so only the metrics must agree.
    edit_result(run_dir_copy, 1, 0, train_time_sec=99.0, epoch_time_sec=[99.0], host={"hostname": "other"})

    built = build_archive([run_dir.path, run_dir_copy.path], tmp_path / "times.h5", archive_version="test")

    with Archive(built) as opened:
        assert opened.dataset("digits").protocol["trained_runs"] == 7


def test_conflicting_duplicate_rejected(run_dir, run_dir_copy, records, tmp_path):
    edit_result(run_dir_copy, 1, 0, test_accuracy=records[1, 0]["test_accuracy"] + 0.01)

    with pytest.raises(ArchiveError) as raised:
        build_archive([run_dir.path, run_dir_copy.path], tmp_path / "conflict.h5", archive_version="test")

    assert f"arch_id 1 seed 0 of 'digits' has conflicting results in {run_dir_copy.path}" in str(raised.value)
    assert not (tmp_path / "conflict.h5").exists()


def test_conflicting_curve_rejected(run_dir, run_dir_copy, tmp_path):
    edit_result(run_dir_copy, 2, 1, train_loss=[0.125])

    with pytest.raises(ArchiveError, match="arch_id 2 seed 1 of 'digits' has conflicting results"):
        build_archive([run_dir.path, run_dir_copy.path], tmp_path / "conflict.h5", archive_version="test")


def test_other_protocol_rejected(run_dir, tmp_path):
    other = RunDirectory.create_or_open(tmp_path / "epochs-2", "digits", "digits-v1", {**OPTIONS, "epochs": 2})

    with pytest.raises(ArchiveError) as raised:
        build_archive([run_dir.path, other.path], tmp_path / "mixed.h5", archive_version="test")

    message = str(raised.value)
    assert f"{other.path} was trained with protocol 'digits-v1'" in message
    assert "build them into separate archives" in message


def test_wrong_parameter_count_rejected(run_dir_copy, records, tmp_path):
    edit_result(run_dir_copy, 2, 0, num_params=records[2, 0]["num_params"] + 1)

    with pytest.raises(ArchiveError, match="record of arch_id 2 has .* parameters, the analytic count is"):
        build_archive([run_dir_copy.path], tmp_path / "params.h5", archive_version="test")


def test_unknown_source_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="is neither a run directory nor a .jsonl.gz export"):
        build_archive([tmp_path / "missing"], tmp_path / "none.h5", archive_version="test")


def test_include_analytic_all_datasets(run_dir, tmp_path):
    built = build_archive([run_dir.path], tmp_path / "all.h5", archive_version="test", include_analytic=True)

    with Archive(built) as opened:
        assert opened.datasets == tuple(DATASETS)
        assert opened.dataset("digits").provenance["test_accuracy"] == TRAINED_LABEL
        for name in DATASETS:
            if name != "digits":
                assert not opened.dataset(name).has_values("test_accuracy"), name


def write_results_csv(path: Path, dataset: str) -> Path:
    """One valid row of the NAS-KAN authors' CSV format, for arch_id 0."""
    costs = cost.cost_columns(dataset)
    row = {
        "arch_id": 0,
        "architecture": SearchSpace.for_dataset(dataset).format_id(0),
        "num_params": int(costs["num_params"][0]),
        "num_flops": int(costs["num_flops"][0]),
        "test_accuracy": 0.5,
        "test_precision": 0.5,
        "test_recall": 0.5,
        "test_f1_score": 0.5,
        "epoch_time_sec": 10.0,
        "train_loss_epoch_1": 1.0,
        "train_acc_epoch_1": 50.0,
    }
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


def test_csv_for_trained_dataset_rejected(run_dir, tmp_path):
    table = write_results_csv(tmp_path / "nas_cnn_kan_digits_results.csv", "digits")

    with pytest.raises(ArchiveError, match="dataset 'digits' comes from both training runs and .*; keep one source"):
        build_archive([run_dir.path], tmp_path / "both.h5", archive_version="test", csvs=[table])


def test_csv_other_dataset_added(run_dir, tmp_path):
    table = write_results_csv(tmp_path / "nas_cnn_kan_mnist_results.csv", "mnist")

    built = build_archive([run_dir.path], tmp_path / "two.h5", archive_version="test", csvs=[table])

    with KANBench(built) as opened:
        assert opened.datasets == ("mnist", "digits")
        assert opened.query(0, dataset="mnist", seed=0).test_accuracy == 0.5
        assert opened.archive.dataset("mnist").provenance["test_accuracy"] == "imported:nas_cnn_kan_mnist_results.csv"


def test_cli_build_archive_json(run_dir, tmp_path, capsys):
    out = tmp_path / "cli.h5"

    status = main(["build-archive", str(run_dir.path), "--out", str(out), "--json"])

    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["archive"] == str(out)
    assert printed["datasets"] == [
        {
            "dataset": "digits",
            "architectures": 7020,
            "with_task_metrics": 4,
            "seeds": [0, 1],
            "test_accuracy_source": TRAINED_LABEL,
        }
    ]


def test_cli_build_archive_analytic(run_dir, tmp_path, capsys):
    status = main(["build-archive", str(run_dir.path), "--out", str(tmp_path / "all.h5"), "--include-analytic"])

    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:7]] == list(DATASETS)
    assert lines[-1] == f"wrote {tmp_path / 'all.h5'}"


def test_cli_build_archive_conflict(run_dir, run_dir_copy, tmp_path, capsys):
    edit_result(run_dir_copy, 1, 0, test_accuracy=0.0)

    status = main(["build-archive", str(run_dir.path), str(run_dir_copy.path), "--out", str(tmp_path / "x.h5")])

    assert status == 1
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1
    assert stderr.startswith("kanbench build-archive: error: arch_id 1 seed 0 of 'digits' has conflicting results")


def test_cli_build_archive_no_sources(tmp_path, capsys):
    status = main(["build-archive", "--out", str(tmp_path / "x.h5")])

    assert status == 1
    assert capsys.readouterr().err == (
        "kanbench build-archive: error: give at least one run directory, export or --import CSV\n"
    )


def test_cli_build_archive_needs_out(run_dir, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["build-archive", str(run_dir.path)])

    assert raised.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_cli_export_runs(run_dir, records, tmp_path, capsys):
    out = tmp_path / "digits.jsonl.gz"

    status = main(["export-runs", str(run_dir.path), "--out", str(out)])

    assert status == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert len(read_export(out)[1]) == len(records)


def test_cli_export_runs_bad_suffix(run_dir, tmp_path, capsys):
    status = main(["export-runs", str(run_dir.path), "--out", str(tmp_path / "digits.jsonl")])

    assert status == 1
    assert "must end in .jsonl.gz" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_export_runs_not_run_dir(tmp_path, capsys):
    status = main(["export-runs", str(tmp_path), "--out", str(tmp_path / "x.jsonl.gz")])

    assert status == 1
    assert capsys.readouterr().err == (
        f"kanbench export-runs: error: {tmp_path} is not a run directory: manifest.json is missing\n"
    )


def test_cli_populate_needs_dataset(tmp_path, capsys):
    status = main(["populate", "--out", str(tmp_path / "runs")])

    assert status == 1
    assert capsys.readouterr().err == "kanbench populate: error: populate needs --dataset, e.g. --dataset digits\n"


def test_cli_populate_selection_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["populate", "--dataset", "digits", "--arch-ids", "0:3", "--sample", "2", "--out", str(tmp_path)])

    assert raised.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_populate_bad_arch_ids(tmp_path, capsys):
    status = main(["populate", "--dataset", "digits", "--arch-ids", "5:2", "--out", str(tmp_path / "runs")])

    assert status == 1
    assert capsys.readouterr().err == (
        "kanbench populate: error: arch_id range '5:2' is outside 0:7020 or empty; the space has 7020 architectures\n"
    )


def test_cli_exit_codes_subprocess(run_dir, run_dir_copy, tmp_path):
    edit_result(run_dir_copy, 0, 1, test_f1=0.0)
    conflict = [str(run_dir.path), str(run_dir_copy.path), "--out", str(tmp_path / "x.h5")]
    command = [sys.executable, "-m", "kanbench.cli.main", "build-archive"]

    failed = subprocess.run([*command, *conflict], capture_output=True, text=True, timeout=120)
    usage = subprocess.run(
        [*command, "--out", str(tmp_path / "y.h5"), "--no-such-option"], capture_output=True, text=True, timeout=120
    )

    assert failed.returncode == 1
    assert failed.stdout == ""
    assert len(failed.stderr.splitlines()) == 1
    assert failed.stderr.startswith("kanbench build-archive: error: arch_id 0 seed 1 of 'digits' has conflicting")
    assert usage.returncode == 2
    assert "unrecognized arguments: --no-such-option" in usage.stderr
