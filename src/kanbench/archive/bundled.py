"""The archive that ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.space import DATASETS

BUNDLED_ARCHIVE_NAME = "kanbench.h5"
BUNDLED_ARCHIVE_VERSION = "2026.12.0"


def bundled_archive_path() -> Path:
    """Path of the archive installed with the package."""
    return Path(str(resources.files("kanbench").joinpath("data", BUNDLED_ARCHIVE_NAME)))


def build_bundled_archive(path: str | Path) -> Path:
    """Write the bundled archive: every built-in dataset with analytic cost metrics.

    No dataset holds task metrics yet; they stay NaN with provenance
    ``missing``. Rebuilding gives the same content checksums.
    """
    tables = [DatasetTable.analytic(name) for name in DATASETS]
    return write_archive(
        path,
        tables,
        archive_version=BUNDLED_ARCHIVE_VERSION,
        description="kanbench bundled archive: the full search space of every built-in dataset with analytic costs",
    )
