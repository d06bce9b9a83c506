"""The Ray engine against the local engine, on Ray instances bound to loopback.

On Linux, Ray 2.60 replaces a node address of 127.0.0.1 with the host's
primary address and then listens on all interfaces, unless
``ray_constants.ENABLE_RAY_CLUSTER`` is false (the multi-node switch that
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` sets). The fixture turns that switch
off in this process and in every Ray process started from it, so all Ray
traffic stays on 127.0.0.1. It also disables usage reporting and token
authentication, which would otherwise write a token under ``~/.ray``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kanbench.sweep.engines import RayEngine
from kanbench.sweep.run_dir import RunDirectory
from kanbench.sweep.runner import populate

ray = pytest.importorskip("ray")

SEEDS = [0, 1]
ARCH_IDS = "0:4"
PAIRS = {(arch_id, seed) for arch_id in range(4) for seed in SEEDS}
TIME_FIELDS = ("epoch_time_sec", "train_time_sec")
CLUSTER_START_TIMEOUT_SEC = 120


def without_times(record: dict) -> dict:
    return {name: value for name, value in record.items() if name not in TIME_FIELDS}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def loopback_ray():
    from ray._private import ray_constants

    assert not ray.is_initialized()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        patch.delenv("RAY_ADDRESS", raising=False)
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        yield
        if ray.is_initialized():
            ray.shutdown()


@pytest.fixture(scope="module")
def cluster(loopback_ray):
    """Process and address of a one-CPU cluster started by ``ray start --head --block`` in its own session."""
    temp_dir = Path(tempfile.mkdtemp(prefix="kbray", dir="/tmp"))
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
        "--num-cpus=1", "--include-dashboard=false", f"--dashboard-port={free_port()}", "--disable-usage-stats",
        f"--temp-dir={temp_dir}", "--block",
    ]  # fmt: skip
    log_path = temp_dir / "ray-start.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address_file = temp_dir / "ray_current_cluster"
        deadline = time.monotonic() + CLUSTER_START_TIMEOUT_SEC
        while not address_file.exists() or not address_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed or timed out: {log_path.read_text()}")
            time.sleep(0.2)
        address = address_file.read_text().strip()
        yield process, address
    finally:
        # SIGTERM lets `ray start --block` stop the Ray processes it started. SIGKILL then clears the rest of its group.
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory) -> RunDirectory:
    out = tmp_path_factory.mktemp("local") / "runs"
    populate("digits", out, seeds=SEEDS, arch_ids=ARCH_IDS, overrides={"epochs": 1}, workers=1, progress=False)
    return RunDirectory(out)


def assert_same_records(run_dir: RunDirectory, reference: RunDirectory, pairs: set[tuple[int, int]]) -> None:
    assert run_dir.finished() == pairs
    for arch_id, seed in sorted(pairs):
        from_ray = json.loads(run_dir.result_path(arch_id, seed).read_text())
        from_local = json.loads(reference.result_path(arch_id, seed).read_text())
        assert without_times(from_ray) == without_times(from_local), f"arch_id {arch_id} seed {seed}"


def test_ray_matches_local_engine(loopback_ray, local_runs, tmp_path):
    summary = populate(
        "digits", tmp_path / "runs", seeds=SEEDS, arch_ids=ARCH_IDS, overrides={"epochs": 1}, engine="ray", progress=False
    )

    assert summary.selected == 8
    assert summary.finished == 8
    assert summary.failed == 0
    assert_same_records(RunDirectory(tmp_path / "runs"), local_runs, PAIRS)
    # The engine stops the instance it started.
    assert not ray.is_initialized()


def test_ray_address_matches_local(cluster, local_runs, tmp_path):
    process, address = cluster

    summary = populate(
        "digits", tmp_path / "runs", seeds=[0], arch_ids=ARCH_IDS, overrides={"epochs": 1}, engine="ray",
        address=address, progress=False,
    )  # fmt: skip

    # One worker: the cluster's single CPU, not a local instance.
    assert summary.workers == 1
    assert summary.finished == 4
    assert_same_records(RunDirectory(tmp_path / "runs"), local_runs, {(arch_id, 0) for arch_id in range(4)})
    assert not ray.is_initialized()
    assert process.poll() is None


def test_ray_engine_ignores_ray_address(cluster, monkeypatch):
    _, address = cluster
    monkeypatch.setenv("RAY_ADDRESS", address)

    with RayEngine(None):
        connected = ray.get_runtime_context().gcs_address

    assert connected != address
    assert not ray.is_initialized()
