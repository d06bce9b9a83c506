"""Interrupting ``kanbench populate`` for real (SIGKILL, SIGINT) and resuming it.

Each test starts the CLI in its own session, so the signal reaches the CLI
and its spawned workers as a process group, as Ctrl-C in a terminal does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kanbench.sweep.run_dir import RunDirectory
from kanbench.sweep.runner import populate

NUM_ARCHS = 16
ARCH_IDS = f"0:{NUM_ARCHS}"
EPOCHS = 2
PAIRS = {(arch_id, 0) for arch_id in range(NUM_ARCHS)}
TIME_FIELDS = ("epoch_time_sec", "train_time_sec")
TEMPORARY_NAME = re.compile(r"\.\d{6}\.json\.\w+\.tmp")
START_TIMEOUT_SEC = 180


def populate_command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "kanbench.cli.main", "populate", "--dataset", "digits", "--arch-ids", ARCH_IDS,
        "--seeds", "0", "--epochs", str(EPOCHS), "--workers", "1", "--out", str(out), "--no-progress", *extra,
    ]  # fmt: skip


def result_files(out: Path) -> list[Path]:
    return sorted((out / "results").glob("seed-*/*.json"))


def start_and_wait(out: Path, minimum: int, output=subprocess.PIPE) -> subprocess.Popen:
    """Start the CLI sweep and return once ``minimum`` results exist and it still runs.

    ``output`` receives the CLI's stdout and stderr. ``communicate()`` reads a
    pipe (the default) to its end, so it also waits for the workers to exit.
    """
    process = subprocess.Popen(populate_command(out), start_new_session=True, stdout=output, stderr=output, text=True)
    deadline = time.monotonic() + START_TIMEOUT_SEC
    while len(result_files(out)) < minimum:
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"populate exited with {process.returncode} before {minimum} results: {stderr}")
        if time.monotonic() > deadline:
            stop_group(process)
            pytest.fail(f"populate wrote fewer than {minimum} results in {START_TIMEOUT_SEC} s")
        time.sleep(0.01)
    return process


def stop_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group of a CLI started here, if it still exists, and reap the CLI."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def live_group_members(pgid: int) -> list[int]:
    """PIDs of the processes in group ``pgid`` that are not zombies, from Linux /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # After the parenthesised command come the state, the parent PID and the process group.
        state, _parent, group = text.rpartition(")")[2].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def without_times(record: dict) -> dict:
    return {name: value for name, value in record.items() if name not in TIME_FIELDS}


def assert_same_records(run_dir: RunDirectory, reference: RunDirectory) -> None:
    for arch_id, seed in sorted(PAIRS):
        resumed = json.loads(run_dir.result_path(arch_id, seed).read_text())
        expected = json.loads(reference.result_path(arch_id, seed).read_text())
        assert without_times(resumed) == without_times(expected), f"arch_id {arch_id} seed {seed}"


def resume_with_cli(out: Path) -> dict:
    finished = subprocess.run(populate_command(out, "--json"), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> RunDirectory:
    """The same sweep, uninterrupted."""
    out = tmp_path_factory.mktemp("reference") / "runs"
    populate("digits", out, seeds=[0], arch_ids=ARCH_IDS, overrides={"epochs": EPOCHS}, workers=1, progress=False)
    return RunDirectory(out)


def test_reference_complete(reference):
    assert reference.finished() == PAIRS


def test_sigkill_then_resume(tmp_path, reference):
    out = tmp_path / "runs"
    process = start_and_wait(out, minimum=3)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()

    assert process.returncode == -signal.SIGKILL
    recorded = result_files(out)
    assert 3 <= len(recorded) < NUM_ARCHS, "the sweep finished before the kill; make it longer"

    # Every visible result is whole JSON. Only dot-prefixed temporary files may be partial.
    for path in sorted((out / "results").rglob("*")):
        if path.is_dir():
            continue
        if path.name.startswith("."):
            assert TEMPORARY_NAME.fullmatch(path.name), path.name
        else:
            assert json.loads(path.read_text())["status"] == "ok", path.name
    run_dir = RunDirectory(out)
    assert len(run_dir.finished()) == len(recorded)

    summary = resume_with_cli(out)

    assert summary["selected"] == NUM_ARCHS
    assert summary["skipped"] == len(recorded)
    assert summary["finished"] == NUM_ARCHS - len(recorded)
    assert summary["failed"] == 0
    assert run_dir.finished() == PAIRS
    assert len(result_files(out)) == NUM_ARCHS
    assert run_dir.failed() == set()
    assert_same_records(run_dir, reference)


def test_sigint_then_resume(tmp_path, reference):
    out = tmp_path / "runs"
    process = start_and_wait(out, minimum=2)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        stop_group(process)

    # Python ends with a KeyboardInterrupt. At most the CLI itself prints a traceback, and no worker does.
    assert process.returncode != 0
    assert stderr.count("Traceback") <= 1, stderr
    recorded = len(result_files(out))
    assert recorded < NUM_ARCHS, "the sweep finished before the interrupt; make it longer"

    summary = populate("digits", out, seeds=[0], arch_ids=ARCH_IDS, overrides={"epochs": EPOCHS}, progress=False)

    run_dir = RunDirectory(out)
    assert summary.skipped == recorded
    assert summary.finished == NUM_ARCHS - recorded
    assert run_dir.finished() == PAIRS
    assert_same_records(run_dir, reference)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from Linux /proc")
def test_sigkill_cli_stops_workers(tmp_path):
    # Output goes to a file because a worker that outlived the CLI would keep a pipe open forever.
    with open(tmp_path / "populate.log", "w") as log:
        process = start_and_wait(tmp_path / "runs", minimum=1, output=log)
    try:
        # Kill the CLI alone, as the out-of-memory killer does. Its workers must not outlive it.
        process.kill()
        process.wait()
        deadline = time.monotonic() + 30
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

        assert live_group_members(process.pid) == []
    finally:
        stop_group(process)
