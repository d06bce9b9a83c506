"""kanbench: the tabular benchmark and toolkit for Conv-KAN image classifiers.

Usage::

    >>> from kanbench import KANBench
    >>> bench = KANBench()
    >>> bench.query("Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)", dataset="cifar10")
"""

from kanbench._version import __version__
from kanbench.errors import (
    ArchiveError,
    ArchiveFormatError,
    ArchiveNotFoundError,
    ArchitectureSyntaxError,
    ChecksumMismatchError,
    InfeasibleQueryError,
    InvalidArchitectureError,
    KANBenchError,
    MissingMetricsError,
    OutOfSpaceError,
    UnknownDatasetError,
)
from kanbench.generation import GenerationResult
from kanbench.query.bench import Coverage, KANBench
from kanbench.query.records import Record
from kanbench.query.results import ResultSet
from kanbench.space import DATASETS, Architecture, SearchSpace

__all__ = [
    "DATASETS",
    "ArchiveError",
    "ArchiveFormatError",
    "ArchiveNotFoundError",
    "Architecture",
    "ArchitectureSyntaxError",
    "ChecksumMismatchError",
    "Coverage",
    "GenerationResult",
    "InfeasibleQueryError",
    "InvalidArchitectureError",
    "KANBench",
    "KANBenchError",
    "MissingMetricsError",
    "OutOfSpaceError",
    "Record",
    "ResultSet",
    "SearchSpace",
    "UnknownDatasetError",
    "__version__",
]
