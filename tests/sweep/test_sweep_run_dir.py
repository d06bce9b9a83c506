"""RunDirectory storage rules, with hand-made records (no training)."""

from __future__ import annotations

import gzip
import json

import pytest

from kanbench._version import __version__
from kanbench.sweep.run_dir import RunDirectory, RunDirectoryError, read_export
from kanbench.sweep.tasks import failure_record

PROTOCOL = {"epochs": 1, "batch_size": 32, "learning_rate": 0.01, "optimizer": "adam", "valid_fraction": 0.1}


def ok_record(arch_id: int, seed: int, accuracy: float = 0.5) -> dict:
    return {"dataset": "digits", "arch_id": arch_id, "seed": seed, "status": "ok", "test_accuracy": accuracy}


@pytest.fixture()
def run_dir(tmp_path) -> RunDirectory:
    return RunDirectory.create_or_open(tmp_path / "runs", "digits", "digits-v1", PROTOCOL)


def test_manifest_contents(run_dir):
    manifest = run_dir.manifest()

    assert manifest["dataset"] == "digits"
    assert manifest["protocol_name"] == "digits-v1"
    assert manifest["protocol"] == PROTOCOL
    assert manifest["kanbench_version"] == __version__
    assert "created_utc" in manifest


def test_reopen_same_arguments(run_dir):
    created = run_dir.manifest()["created_utc"]

    reopened = RunDirectory.create_or_open(run_dir.path, "digits", "digits-v1", dict(PROTOCOL))

    assert reopened.manifest()["created_utc"] == created


@pytest.mark.parametrize(
    ("dataset", "protocol_name", "protocol", "message"),
    [
        ("mnist", "digits-v1", PROTOCOL, "was made with dataset 'digits', not 'mnist'"),
        ("digits", "authors", PROTOCOL, "was made with protocol_name 'digits-v1', not 'authors'"),
        ("digits", "digits-v1", {**PROTOCOL, "epochs": 2}, "was made with protocol {"),
    ],
)
def test_reopen_mismatch_rejected(run_dir, dataset, protocol_name, protocol, message):
    with pytest.raises(RunDirectoryError) as raised:
        RunDirectory.create_or_open(run_dir.path, dataset, protocol_name, protocol)

    assert message in str(raised.value)
    assert "choose another --out directory" in str(raised.value)


def test_missing_manifest_rejected(tmp_path):
    with pytest.raises(RunDirectoryError, match="is not a run directory: manifest.json is missing"):
        RunDirectory(tmp_path).manifest()


def test_broken_manifest_rejected(tmp_path):
    (tmp_path / "manifest.json").write_text("{")

    with pytest.raises(RunDirectoryError, match="manifest.json is not valid JSON"):
        RunDirectory(tmp_path).manifest()


def test_result_path_layout(run_dir):
    assert run_dir.result_path(42, 3) == run_dir.path / "results" / "seed-3" / "000042.json"
    assert run_dir.result_path(42, 3, failed=True) == run_dir.path / "failed" / "seed-3" / "000042.json"


def test_record_once_per_pair(run_dir):
    assert run_dir.record(ok_record(7, 0, accuracy=0.25)) is True
    assert run_dir.record(ok_record(7, 0, accuracy=0.75)) is False

    stored = json.loads(run_dir.result_path(7, 0).read_text())
    assert stored["test_accuracy"] == 0.25


def test_record_leaves_no_temporary_file(run_dir):
    run_dir.record(ok_record(7, 0))
    run_dir.record(ok_record(7, 0))

    names = sorted(path.name for path in (run_dir.path / "results" / "seed-0").iterdir())
    assert names == ["000007.json"]


def test_failure_then_success(run_dir):
    run_dir.record(failure_record("digits", 3, 1, "worker process died"))
    assert run_dir.failed() == {(3, 1)}

    assert run_dir.record(ok_record(3, 1)) is True

    assert run_dir.failed() == set()
    assert run_dir.finished() == {(3, 1)}
    assert not run_dir.result_path(3, 1, failed=True).exists()


def test_failure_replaced_by_failure(run_dir):
    run_dir.record(failure_record("digits", 3, 1, "first error"))
    run_dir.record(failure_record("digits", 3, 1, "second error"))

    stored = json.loads(run_dir.result_path(3, 1, failed=True).read_text())
    assert stored["error"] == "second error"


def test_failed_excludes_finished(run_dir):
    # A failure file next to a result, as two concurrent sweeps could leave.
    run_dir.record(ok_record(3, 1))
    path = run_dir.result_path(3, 1, failed=True)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(failure_record("digits", 3, 1, "late failure")))

    assert run_dir.finished() == {(3, 1)}
    assert run_dir.failed() == set()


def test_temporary_files_not_results(run_dir):
    run_dir.record(ok_record(1, 0))
    seed_dir = run_dir.path / "results" / "seed-0"
    (seed_dir / ".000002.json.k2j4h1.tmp").write_text('{"arch_id": 2')

    assert run_dir.finished() == {(1, 0)}
    assert [record["arch_id"] for record in run_dir.results()] == [1]


def test_results_order(run_dir):
    for arch_id, seed in [(5, 1), (2, 0), (9, 0), (1, 1)]:
        run_dir.record(ok_record(arch_id, seed))
    run_dir.record(failure_record("digits", 4, 0, "error"))

    pairs = [(record["seed"], record["arch_id"]) for record in run_dir.results()]
    assert pairs == [(0, 2), (0, 9), (1, 1), (1, 5)]


def test_results_include_failed_last(run_dir):
    run_dir.record(failure_record("digits", 0, 0, "error"))
    run_dir.record(ok_record(5, 1))

    statuses = [(record["arch_id"], record["status"]) for record in run_dir.results(include_failed=True)]
    assert statuses == [(5, "ok"), (0, "failed")]


def test_export_round_trip(run_dir, tmp_path):
    run_dir.record(ok_record(2, 0, accuracy=0.125))
    run_dir.record(ok_record(1, 1, accuracy=0.375))
    run_dir.record(failure_record("digits", 3, 0, "error"))

    manifest, records = read_export(run_dir.export(tmp_path / "runs.jsonl.gz"))

    assert manifest == run_dir.manifest()
    assert records == list(run_dir.results())
    assert [record["test_accuracy"] for record in records] == [0.125, 0.375]


def test_export_bytes_reproducible(run_dir, tmp_path):
    run_dir.record(ok_record(2, 0))

    first = run_dir.export(tmp_path / "first.jsonl.gz").read_bytes()
    second = run_dir.export(tmp_path / "second.jsonl.gz").read_bytes()

    assert first == second


def test_export_header_line(run_dir, tmp_path):
    run_dir.record(ok_record(2, 0))

    with gzip.open(run_dir.export(tmp_path / "runs.jsonl.gz"), "rt") as lines:
        header = json.loads(next(lines))

    assert list(header) == ["manifest"]


def test_export_missing_manifest_keeps_nothing(tmp_path):
    target = tmp_path / "out" / "runs.jsonl.gz"
    target.parent.mkdir()

    with pytest.raises(RunDirectoryError):
        RunDirectory(tmp_path / "absent").export(target)

    assert list(target.parent.iterdir()) == []
