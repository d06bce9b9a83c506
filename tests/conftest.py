"""Shared fixtures: the NAS-KAN authors' published CIFAR-10 results and archives built from them.

The published table lives outside the repository, in ``../shared/upstream/``
next to the checkout, and is never copied into it. Tests that need it skip
when that folder is absent, as it is in a fresh clone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kanbench import KANBench
from kanbench.archive.importer import import_results_csv
from kanbench.archive.writer import write_archive

REPOSITORY = Path(__file__).resolve().parents[1]
UPSTREAM_DIR = REPOSITORY.parent / "shared" / "upstream"
UPSTREAM_CSV = UPSTREAM_DIR / "nas_cnn_kan_cifar10_results.csv"


@pytest.fixture(scope="session")
def upstream_csv() -> Path:
    """Path of the published CIFAR-10 result table (5,987 rows), or a skip when the file is absent."""
    if not UPSTREAM_CSV.is_file():
        pytest.skip(
            f"published NAS-KAN CIFAR-10 results not found at {UPSTREAM_CSV}; "
            "they are kept outside the repository in ../shared/upstream/"
        )
    return UPSTREAM_CSV


@pytest.fixture(scope="session")
def upstream_frame(upstream_csv: Path) -> pd.DataFrame:
    """The published table as a DataFrame, each number parsed by Python's int() or float().

    The importer parses with float(), so parsing the same way here lets tests
    compare imported values with ``==``.
    """
    frame = pd.read_csv(upstream_csv, dtype=str, keep_default_na=False)
    for column in frame.columns:
        if column in ("arch_id", "num_params", "num_flops"):
            frame[column] = frame[column].map(int).astype("int64")
        elif column != "architecture":
            frame[column] = frame[column].map(float).astype("float64")
    return frame


@pytest.fixture(scope="session")
def cifar10_archive(upstream_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive holding only cifar10, with the published results imported."""
    table, _report = import_results_csv(upstream_csv)
    path = tmp_path_factory.mktemp("archives") / "cifar10.h5"
    write_archive(path, [table], archive_version="test")
    return path


@pytest.fixture(scope="session")
def bench_cifar10(cifar10_archive: Path):
    """``KANBench`` over :func:`cifar10_archive`, shared by the whole session, so tests must not close it."""
    bench = KANBench(cifar10_archive)
    yield bench
    bench.close()
