"""Retraining an archive entry with KANBench.train reproduces its stored numbers."""

import pytest

from kanbench import KANBench
from kanbench.sweep.build import build_archive
from kanbench.sweep.runner import populate

ARCH_IDS = (0, 61)


@pytest.fixture(scope="module")
def trained_archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproduce")
    populate("digits", folder / "run", seeds=[1], arch_ids=",".join(map(str, ARCH_IDS)), progress=False)
    return build_archive([folder / "run"], folder / "digits.h5", archive_version="test")


@pytest.mark.parametrize("arch_id", ARCH_IDS)
def test_train_reproduces_archive(trained_archive, arch_id):
    bench = KANBench(trained_archive, dataset="digits")
    stored = bench.query(arch_id, seed=1)

    record = bench.train(arch_id, seed=1, progress=False)

    assert record.test_accuracy == stored.test_accuracy
    assert record.test_f1 == stored.test_f1
    assert record.valid_accuracy == stored.valid_accuracy
    assert record.train_loss == stored.train_loss.tolist()
    assert len(record.train_loss) == 5
    bench.close()


def test_train_uses_archive_protocol(trained_archive):
    bench = KANBench(trained_archive, dataset="digits")

    record = bench.train(ARCH_IDS[0], seed=1, progress=False)

    assert record.protocol["batch_size"] == 32
    assert record.protocol["learning_rate"] == 3e-3
    bench.close()
