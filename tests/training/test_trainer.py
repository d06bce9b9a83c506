"""Tests of train_architecture on scikit-learn's digits, its record and its checkpoints."""

import json
import logging
import math
import random

import numpy as np
import pytest
import torch

import kanbench
from kanbench.errors import OutOfSpaceError
from kanbench.models.builder import build_model
from kanbench.space import Architecture, SearchSpace, cost
from kanbench.training import (
    TrainingRecord,
    classification_metrics,
    load_checkpoint,
    load_dataset,
    train_architecture,
)
from kanbench.training.data import to_float

torch.set_num_threads(1)

REASONABLE_ARCH = "Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(order=3,grid=5,act=SiLU)"


@pytest.fixture(scope="module")
def three_epoch_record():
    return train_architecture(REASONABLE_ARCH, "digits", epochs=3, seed=0, progress=False)


def _assert_fraction(value):
    assert 0.0 <= value <= 1.0


def test_training_learns_digits(three_epoch_record):
    record = three_epoch_record
    assert record.status == "ok"
    assert record.error is None
    # Chance is 0.1. This architecture reaches 0.77 after 3 epochs with seed 0.
    assert record.test_accuracy > 0.5
    assert record.valid_accuracy > 0.5
    assert record.train_loss[-1] < record.train_loss[0]
    assert record.train_accuracy[-1] > record.train_accuracy[0]


def test_record_identifies_run(three_epoch_record):
    record = three_epoch_record
    arch = Architecture.parse(REASONABLE_ARCH)
    assert record.architecture == REASONABLE_ARCH
    assert record.arch_id == SearchSpace.for_dataset("digits").index(arch)
    assert record.dataset == "digits"
    assert record.seed == 0


def test_record_values_in_range(three_epoch_record):
    record = three_epoch_record
    for value in (record.test_accuracy, record.test_precision, record.test_recall, record.test_f1,
                  record.valid_accuracy, *record.train_accuracy):
        _assert_fraction(value)
    assert len(record.train_loss) == 3
    assert len(record.train_accuracy) == 3
    assert len(record.epoch_time_sec) == 3
    assert all(loss > 0 for loss in record.train_loss)
    assert all(seconds > 0 for seconds in record.epoch_time_sec)
    assert record.train_time_sec >= sum(record.epoch_time_sec)


def test_record_costs_match_cost_model(three_epoch_record):
    arch = Architecture.parse(REASONABLE_ARCH)
    assert three_epoch_record.num_params == cost.num_params(arch, "digits")
    assert three_epoch_record.num_flops == cost.num_flops(arch, "digits")
    torch.manual_seed(0)
    model = build_model(arch, "digits")
    assert three_epoch_record.num_params == sum(parameter.numel() for parameter in model.parameters())


def test_record_protocol_and_provenance(three_epoch_record):
    protocol = three_epoch_record.protocol
    assert protocol["epochs"] == 3
    assert protocol["batch_size"] == 64
    assert protocol["learning_rate"] == 1e-3
    assert protocol["optimizer"] == "adam"
    assert protocol["optimizer_defaults"]["betas"] == [0.9, 0.999]
    assert protocol["num_threads"] == 1
    assert protocol["device"] == "cpu"
    assert protocol["deterministic_algorithms"] is True
    assert protocol["valid_fraction"] == 0.1
    assert protocol["split_seed"] == 0
    assert "permutation" in protocol["valid_split_rule"]
    assert "stratify" in protocol["test_split_rule"]
    # 1437 training images of digits: round(143.7) = 144 held out.
    assert protocol["num_train"] == 1293
    assert protocol["num_valid"] == 144
    assert protocol["num_test"] == 360
    assert protocol["kan_kwargs"]["scale_noise"] == 0.01
    assert protocol["kan_kwargs"]["grid_range"] == [0.0, 1.0]
    assert protocol["kan_kwargs"]["base_activation"] == "SiLU"

    versions = three_epoch_record.versions
    assert versions["torch"] == torch.__version__
    assert versions["numpy"] == np.__version__
    assert versions["kanbench"] == kanbench.__version__
    assert versions["python"].count(".") == 2
    assert three_epoch_record.host["device"] == "cpu"
    assert three_epoch_record.host["hostname"]


def test_record_json_round_trip(three_epoch_record):
    text = json.dumps(three_epoch_record.to_dict(), allow_nan=False)
    assert TrainingRecord.from_dict(json.loads(text)) == three_epoch_record


SEVERAL_ARCHITECTURES = [
    0,
    "Conv2d(k=1,p=1) -> Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(order=5,grid=20,act=GELU)",
    "11.11.31.28R",
]


@pytest.mark.parametrize("arch", SEVERAL_ARCHITECTURES)
def test_one_epoch_on_several_architectures(arch):
    record = train_architecture(arch, "digits", epochs=1, seed=3, progress=False)
    architecture = SearchSpace.for_dataset("digits")[arch] if isinstance(arch, int) else Architecture.parse(arch)

    assert record.status == "ok"
    assert record.architecture == str(architecture)
    assert record.num_params == cost.num_params(architecture, "digits")
    assert len(record.train_loss) == 1
    assert math.isfinite(record.train_loss[0])
    # Mean cross-entropy of an untrained 10-class model is near ln(10) = 2.30.
    assert 0.5 < record.train_loss[0] < 5.0
    for value in (record.test_accuracy, record.test_f1, record.valid_accuracy, record.train_accuracy[0]):
        _assert_fraction(value)


def test_two_runs_are_bitwise_identical(tmp_path):
    first = train_architecture(REASONABLE_ARCH, "digits", epochs=2, seed=1, progress=False,
                               checkpoint_path=tmp_path / "first.pt")
    second = train_architecture(REASONABLE_ARCH, "digits", epochs=2, seed=1, progress=False,
                                checkpoint_path=tmp_path / "second.pt")
    first_weights, _ = load_checkpoint(tmp_path / "first.pt")
    second_weights, _ = load_checkpoint(tmp_path / "second.pt")

    assert first_weights.keys() == second_weights.keys()
    for name in first_weights:
        assert torch.equal(first_weights[name], second_weights[name]), name
    assert first.train_loss == second.train_loss
    assert first.train_accuracy == second.train_accuracy
    for metric in ("test_accuracy", "test_precision", "test_recall", "test_f1", "valid_accuracy"):
        assert getattr(first, metric) == getattr(second, metric), metric


def test_other_seed_gives_other_weights(tmp_path):
    train_architecture(REASONABLE_ARCH, "digits", epochs=1, seed=1, progress=False, checkpoint_path=tmp_path / "a.pt")
    train_architecture(REASONABLE_ARCH, "digits", epochs=1, seed=2, progress=False, checkpoint_path=tmp_path / "b.pt")
    seed_1, record_1 = load_checkpoint(tmp_path / "a.pt")
    seed_2, record_2 = load_checkpoint(tmp_path / "b.pt")
    assert not torch.equal(seed_1["kan.spline_weight"], seed_2["kan.spline_weight"])
    assert record_1.train_loss != record_2.train_loss
    # The validation split does not depend on the training seed.
    assert record_1.protocol["num_valid"] == record_2.protocol["num_valid"]


def test_checkpoint_reproduces_test_accuracy(tmp_path):
    path = tmp_path / "runs" / "digits.pt"
    record = train_architecture(REASONABLE_ARCH, "digits", epochs=1, seed=0, progress=False, checkpoint_path=path)
    state_dict, saved_record = load_checkpoint(path)

    assert saved_record == record
    assert [p.name for p in path.parent.iterdir()] == ["digits.pt"]
    model = build_model(saved_record.architecture, saved_record.dataset)
    model.load_state_dict(state_dict)
    model.eval()
    test = load_dataset("digits").test
    with torch.no_grad():
        predictions = model(to_float(test.images, 16)).argmax(dim=1).numpy()
    assert classification_metrics(test.labels.numpy(), predictions)["accuracy"] == record.test_accuracy


def test_load_checkpoint_rejects_other_files(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a kanbench checkpoint"):
        load_checkpoint(path)


def test_nan_loss_reported_as_failed(tmp_path):
    record = train_architecture(REASONABLE_ARCH, "digits", epochs=2, progress=False,
                                kan_kwargs={"scale_noise": math.nan}, checkpoint_path=tmp_path / "nan.pt")

    assert record.status == "failed"
    assert "training loss is nan at epoch 1, batch 1" in record.error
    assert record.train_loss == []
    assert record.epoch_time_sec == []
    assert math.isnan(record.test_accuracy)
    assert math.isnan(record.test_f1)
    assert math.isnan(record.valid_accuracy)
    assert record.train_time_sec > 0

    data = json.loads(json.dumps(record.to_dict(), allow_nan=False))
    assert data["test_accuracy"] is None
    assert data["protocol"]["kan_kwargs"]["scale_noise"] == "nan"
    restored = TrainingRecord.from_dict(data)
    assert restored.status == "failed"
    assert math.isnan(restored.test_accuracy)
    assert load_checkpoint(tmp_path / "nan.pt")[1].status == "failed"


def test_caller_state_restored():
    torch.set_num_threads(2)
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    python_state = random.getstate()
    try:
        record = train_architecture(0, "digits", epochs=1, num_threads=1, progress=False)
        assert record.protocol["num_threads"] == 1
        assert torch.get_num_threads() == 2
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.equal(torch.get_rng_state(), torch_state)
        assert np.array_equal(np.random.get_state()[1], numpy_state)
        assert random.getstate() == python_state
    finally:
        torch.set_num_threads(1)


def test_empty_validation_split():
    record = train_architecture(0, "digits", epochs=1, valid_fraction=0.0, progress=False)
    assert record.status == "ok"
    assert math.isnan(record.valid_accuracy)
    assert record.protocol["num_valid"] == 0
    assert record.protocol["num_train"] == 1437


def test_progress_bars_and_logging(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="kanbench.training.trainer"):
        record = train_architecture(0, "digits", epochs=1, optimizer="sgd", progress=True)
    assert record.protocol["optimizer"] == "sgd"
    messages = [entry.getMessage() for entry in caplog.records]
    assert any("training arch_id 0" in message for message in messages)
    assert any("epoch 1/1: train_loss" in message for message in messages)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "digits arch 0 seed 0" in captured.err


@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 0}, "invalid epochs 0"),
        ({"batch_size": 2.5}, "invalid batch_size 2.5"),
        ({"num_threads": 0}, "invalid num_threads 0"),
        ({"seed": -1}, "invalid seed -1"),
        ({"learning_rate": 0.0}, "invalid learning_rate 0.0"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"valid_fraction": 1.0}, "invalid valid_fraction 1.0"),
        ({"kan_kwargs": {"grid_size": 8}}, "kan_kwargs sets grid_size"),
        ({"kan_kwargs": {"base_activation": torch.nn.ReLU}}, "kan_kwargs sets base_activation"),
    ],
)
def test_invalid_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        train_architecture(0, "digits", progress=False, **options)


def test_architecture_invalid_for_dataset_raises():
    with pytest.raises(OutOfSpaceError, match="invalid for input 1x8x8"):
        train_architecture("Conv2d(k=7,p=0) -> Conv2d(k=7,p=0) -> KAN(order=2,grid=5,act=ReLU)", "digits",
                           progress=False)


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(labels, predictions)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # Per class precision 1/2, 2/3, 1 and recall 1/2, 1, 1/2.
    assert metrics["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((1 / 2, 1 / 2), (2 / 3, 1), (1, 1 / 2))]
    assert metrics["f1"] == pytest.approx(sum(f1) / 3)


def test_record_from_dict_rejects_bad_input(three_epoch_record):
    data = three_epoch_record.to_dict()
    del data["test_f1"]
    with pytest.raises(ValueError, match="missing fields \\['test_f1'\\]"):
        TrainingRecord.from_dict(data)
    data = three_epoch_record.to_dict()
    data["extra"] = 1
    with pytest.raises(ValueError, match="unknown fields \\['extra'\\]"):
        TrainingRecord.from_dict(data)
    data = three_epoch_record.to_dict()
    data["status"] = "done"
    with pytest.raises(ValueError, match="status 'done'"):
        TrainingRecord.from_dict(data)
