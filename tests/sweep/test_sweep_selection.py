"""Sweep selection, protocols and summaries: pure functions, no training."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kanbench.space import SearchSpace
from kanbench.sweep.protocols import PROTOCOLS, default_protocol, resolve_protocol
from kanbench.sweep.runner import SweepSummary
from kanbench.sweep.tasks import SweepTask, failure_record, parse_arch_ids, run_task, select_tasks

DIGITS_SIZE = 7020


@pytest.fixture(scope="module")
def digits_space() -> SearchSpace:
    return SearchSpace.for_dataset("digits")


def test_digits_space_size(digits_space):
    # The expected ranges below assume this size.
    assert len(digits_space) == DIGITS_SIZE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:6", list(range(6))),
        (":3", [0, 1, 2]),
        ("7015:", [7015, 7016, 7017, 7018, 7019]),
        (" 2:4 ", [2, 3]),
        ("6999:7020", list(range(6999, 7020))),
    ],
)
def test_parse_arch_id_range(text, expected):
    assert parse_arch_ids(text, DIGITS_SIZE).tolist() == expected


def test_parse_open_range_is_whole_space():
    ids = parse_arch_ids(":", DIGITS_SIZE)

    assert ids.tolist() == list(range(DIGITS_SIZE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", [4]),
        ("5,1,5,3", [1, 3, 5]),
        (" 7 , 2 ", [2, 7]),
        ("1,,2,", [1, 2]),
        ("0,7019", [0, 7019]),
    ],
)
def test_parse_arch_id_list(text, expected):
    ids = parse_arch_ids(text, DIGITS_SIZE)

    assert ids.tolist() == expected
    assert ids.dtype == np.int64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6:0", "arch_id range '6:0' is outside 0:7020 or empty"),
        ("3:3", "arch_id range '3:3' is outside 0:7020 or empty"),
        ("-1:3", "arch_id range '-1:3' is outside 0:7020 or empty"),
        ("0:7021", "arch_id range '0:7021' is outside 0:7020 or empty"),
        ("a:b", "invalid arch_id range 'a:b'; write START:STOP"),
        ("1:2:3", "invalid arch_id range '1:2:3'; write START:STOP"),
        ("1.5:4", "invalid arch_id range '1.5:4'; write START:STOP"),
        ("x,1", "invalid arch_id list 'x,1'; write comma-separated integers or START:STOP"),
        ("0x10", "invalid arch_id list '0x10'"),
        ("7020", "arch_ids '7020' must be between 0 and 7019"),
        ("-1", "arch_ids '-1' must be between 0 and 7019"),
        ("3,-2", "arch_ids '3,-2' must be between 0 and 7019"),
        (",", "arch_ids ',' contains no arch_id"),
        ("", "arch_ids '' contains no arch_id"),
    ],
)
def test_parse_arch_ids_rejects(text, message):
    with pytest.raises(ValueError) as raised:
        parse_arch_ids(text, DIGITS_SIZE)

    assert str(raised.value).startswith(message)


def test_select_tasks_seed_major_order(digits_space):
    tasks = select_tasks(digits_space, [1, 0], arch_ids="4:7")

    expected = [SweepTask(1, 4), SweepTask(1, 5), SweepTask(1, 6), SweepTask(0, 4), SweepTask(0, 5), SweepTask(0, 6)]
    assert tasks == expected


def test_select_tasks_list_sorted(digits_space):
    tasks = select_tasks(digits_space, [0], arch_ids="9,2,5")

    assert [task.arch_id for task in tasks] == [2, 5, 9]


def test_select_tasks_whole_space(digits_space):
    tasks = select_tasks(digits_space, [0, 1])

    assert len(tasks) == 2 * DIGITS_SIZE
    assert tasks[0] == SweepTask(0, 0)
    assert tasks[-1] == SweepTask(1, DIGITS_SIZE - 1)


def test_select_tasks_integer_fields(digits_space):
    task = select_tasks(digits_space, [3], arch_ids="8")[0]

    assert type(task.arch_id) is int
    assert type(task.seed) is int


def test_select_tasks_duplicate_seeds_once(digits_space):
    tasks = select_tasks(digits_space, [1, 0, 1], arch_ids="0:2")

    assert tasks == [SweepTask(1, 0), SweepTask(1, 1), SweepTask(0, 0), SweepTask(0, 1)]


def test_select_tasks_empty_arch_ids_rejected(digits_space):
    # An empty string must not silently select the whole space.
    with pytest.raises(ValueError, match="arch_ids '' contains no arch_id"):
        select_tasks(digits_space, [0], arch_ids="")


def test_select_tasks_needs_seed(digits_space):
    with pytest.raises(ValueError, match="give at least one seed"):
        select_tasks(digits_space, [], arch_ids="0:3")


def test_sample_reproducible(digits_space):
    first = select_tasks(digits_space, [0], sample=25, sample_seed=7)
    second = select_tasks(digits_space, [0], sample=25, sample_seed=7)

    assert first == second


def test_sample_sorted_unique(digits_space):
    ids = [task.arch_id for task in select_tasks(digits_space, [0], sample=25, sample_seed=7)]

    assert len(ids) == 25
    assert ids == sorted(set(ids))


def test_sample_seed_changes_draw(digits_space):
    first = select_tasks(digits_space, [0], sample=25, sample_seed=7)
    second = select_tasks(digits_space, [0], sample=25, sample_seed=8)

    assert first != second


def test_sample_same_ids_every_seed(digits_space):
    tasks = select_tasks(digits_space, [0, 1], sample=4, sample_seed=2)

    seed_0 = [task.arch_id for task in tasks if task.seed == 0]
    seed_1 = [task.arch_id for task in tasks if task.seed == 1]
    assert len(seed_0) == 4
    assert seed_0 == seed_1


def test_sample_within_range(digits_space):
    ids = [task.arch_id for task in select_tasks(digits_space, [0], arch_ids="100:120", sample=5, sample_seed=1)]

    assert len(ids) == 5
    assert min(ids) >= 100
    assert max(ids) < 120


def test_sample_whole_range(digits_space):
    tasks = select_tasks(digits_space, [0], arch_ids="10:13", sample=3)

    assert [task.arch_id for task in tasks] == [10, 11, 12]


@pytest.mark.parametrize("sample", [0, -1, 4])
def test_sample_size_out_of_bounds(digits_space, sample):
    with pytest.raises(ValueError, match=f"sample size {sample} must be between 1 and the 3 selected architectures"):
        select_tasks(digits_space, [0], arch_ids="0:3", sample=sample)


def test_default_protocol_by_dataset():
    assert default_protocol("digits") == "digits-v1"
    assert default_protocol("cifar10") == "authors"
    assert default_protocol("mnist") == "authors"


def test_resolve_protocol_overrides():
    options = resolve_protocol("digits-v1", {"epochs": 2, "learning_rate": 0.5})

    assert options == {**PROTOCOLS["digits-v1"], "epochs": 2, "learning_rate": 0.5}
    assert set(options) == {"epochs", "batch_size", "learning_rate", "optimizer", "valid_fraction"}


def test_resolve_protocol_drops_none():
    # The CLI passes every override option, unset ones as None.
    options = resolve_protocol("authors", {"epochs": None, "data_root": None})

    assert options == PROTOCOLS["authors"]
    assert "data_root" not in options


def test_resolve_protocol_copies():
    stored = dict(PROTOCOLS["digits-v1"])

    options = resolve_protocol("digits-v1", {"epochs": stored["epochs"] + 1})
    options["batch_size"] = stored["batch_size"] + 1

    assert PROTOCOLS["digits-v1"] == stored


def test_resolve_protocol_unknown_name():
    with pytest.raises(KeyError, match="unknown protocol 'fast'; known protocols are authors, digits-v1"):
        resolve_protocol("fast")


def test_runs_per_core_hour():
    summary = SweepSummary(selected=10, skipped=2, finished=6, failed=2, wall_time_sec=1800.0, workers=2)

    # 8 runs in one core-hour (half an hour on two workers).
    assert summary.runs_per_core_hour == 8.0


def test_runs_per_core_hour_zero_time():
    summary = SweepSummary(selected=3, skipped=3, finished=0, failed=0, wall_time_sec=0.0, workers=1)

    assert math.isnan(summary.runs_per_core_hour)


def test_summary_describe():
    summary = SweepSummary(selected=10, skipped=2, finished=6, failed=2, wall_time_sec=1800.0, workers=2)

    expected = "10 runs selected, 2 already done, 6 finished, 2 failed in 1800.0 s with 2 worker(s) (8 runs per core-hour)"
    assert summary.describe() == expected


def test_failure_record_fields():
    record = failure_record("digits", 5, 1, "worker process died")

    assert record == {
        "dataset": "digits",
        "arch_id": 5,
        "seed": 1,
        "status": "failed",
        "error": "worker process died",
        "traceback": "",
    }


def test_run_task_turns_error_into_record():
    # Seeds must be below 2**32, so training raises ValueError before any work.
    record = run_task("digits", 0, 2**32, {"epochs": 1})

    assert record["status"] == "failed"
    assert record["arch_id"] == 0
    assert record["seed"] == 2**32
    assert record["error"] == "ValueError: invalid seed 4294967296; use an integer in 0 .. 2**32 - 1"
    assert "Traceback (most recent call last)" in record["traceback"]
