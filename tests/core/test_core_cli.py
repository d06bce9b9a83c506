"""The kanbench command line: output, JSON, exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest

from kanbench.cli.main import main

CANONICAL = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)"


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_query_json_bundled(capsys):
    status, out, err = run_cli(capsys, "query", "31.51.48S", "--dataset", "cifar10", "--json")

    record = json.loads(out)
    assert status == 0
    assert err == ""
    assert record["arch_id"] == 1535
    assert record["architecture"] == CANONICAL
    assert record["num_params"] == 113200
    assert record["test_accuracy"] is None
    assert record["provenance"]["num_flops"] == "analytic"


def test_query_table_mentions_note(capsys):
    status, out, _ = run_cli(capsys, "query", "1535", "--dataset", "cifar10")

    assert status == 0
    assert "113,200" in out
    assert "note: no task metrics" in out


def test_query_invalid_architecture_exit_one(capsys):
    status, out, err = run_cli(capsys, "query", "Conv2d(k=5,p=1) -> Conv2d(k=3,p=1) -> KAN(order=2,grid=5,act=ReLU)")

    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "kernel 5 at conv 1 is followed by kernel 3 at conv 2; kernels must be non-decreasing" in err


def test_usage_error_exit_two(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["filter", "--max-params", "lots"])

    assert exit_info.value.code == 2


def test_info_lists_datasets(capsys):
    status, out, _ = run_cli(capsys, "info", "--json")

    info = json.loads(out)
    assert status == 0
    assert [d["dataset"] for d in info["datasets"]] == ["mnist", "cifar10", "cifar100", "svhn", "stl10", "digits"]
    assert info["datasets"][4]["architectures"] == 94020
    assert info["schema_version"] == 1


def test_filter_json_counts(capsys):
    status, out, _ = run_cli(
        capsys, "filter", "--dataset", "digits", "--depth", "2", "--activation", "gelu", "--limit", "3", "--json"
    )

    result = json.loads(out)
    assert status == 0
    assert result["total"] == 14 * 20
    assert len(result["results"]) == 3
    assert all(row["architecture"].endswith("act=GELU)") for row in result["results"])


def test_generate_without_metrics_exit_one(capsys):
    status, _, err = run_cli(capsys, "generate", "--dataset", "mnist", "--max-params", "1e6")

    assert status == 1
    assert "dataset 'mnist' has no task metrics" in err


def test_generate_bundled_digits(capsys):
    status, out, _ = run_cli(capsys, "generate", "--max-params", "1e6", "--alpha", "0.5", "--json")

    best = json.loads(out)[0]
    assert status == 0
    assert best["dataset"] == "digits"
    assert best["record"]["provenance"]["test_accuracy"] == "trained:kanbench-0.1.0"
    assert 0.9 < best["record"]["test_accuracy"] <= 1.0


def test_import_generate_verify(capsys, upstream_csv, tmp_path):
    archive = tmp_path / "cifar10.h5"

    status, out, _ = run_cli(capsys, "import", str(upstream_csv), "--out", str(archive))
    assert status == 0
    assert "5987 of 5987 rows imported" in out

    status, out, _ = run_cli(capsys, "generate", "--archive", str(archive), "--max-params", "1e6", "--json")
    best = json.loads(out)[0]
    assert status == 0
    assert best["arch_id"] == 1321
    assert best["backend"] == "exact"

    status, out, _ = run_cli(capsys, "verify", "--archive", str(archive), "--json")
    assert status == 0
    assert list(json.loads(out)["verified"]) == ["cifar10"]


def test_pareto_json_sorted(capsys, upstream_csv, tmp_path):
    archive = tmp_path / "cifar10.h5"
    run_cli(capsys, "import", str(upstream_csv), "--out", str(archive))

    status, out, _ = run_cli(capsys, "pareto", "--archive", str(archive), "--limit", "0", "--json")

    front = json.loads(out)["results"]
    params = [row["num_params"] for row in front]
    assert status == 0
    assert params == sorted(params)
    assert len(front) == 19


def test_closed_pipe_no_traceback():
    command = f"{sys.executable} -m kanbench.cli.main info | head -1"
    completed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)

    assert completed.stdout.startswith("archive")
    assert "Traceback" not in completed.stderr
