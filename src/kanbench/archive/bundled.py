"""The archive that ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import os

from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.space import DATASETS

BUNDLED_ARCHIVE_NAME = "kanbench.h5"
BUNDLED_ARCHIVE_VERSION = "2026.12.2"


def bundled_archive_path() -> Path:
    """Path of the archive installed with the package."""
    return Path(str(resources.files("kanbench").joinpath("data", BUNDLED_ARCHIVE_NAME)))


def build_bundled_archive(path: str | Path, run_exports: list[str | os.PathLike] = ()) -> Path:
    """Write the bundled archive: every built-in dataset with its analytic costs, plus kanbench's own runs.

    ``run_exports`` are ``kanbench export-runs`` files of kanbench's sweeps;
    their datasets get the trained task metrics, and every other dataset
    keeps NaN task metrics with provenance ``missing``. Rebuilding from the
    same exports gives the same content checksums.
    """
    description = "kanbench bundled archive: the full search space of every built-in dataset with analytic costs"
    if not run_exports:
        tables = [DatasetTable.analytic(name) for name in DATASETS]
        return write_archive(path, tables, archive_version=BUNDLED_ARCHIVE_VERSION, description=description)

    from kanbench.sweep.build import build_archive

    return build_archive(
        list(run_exports),
        path,
        archive_version=BUNDLED_ARCHIVE_VERSION,
        include_analytic=True,
        description=description + ", and kanbench's trained digits benchmark",
    )
