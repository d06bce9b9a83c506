"""Exceptions raised by kanbench.

Every exception derives from :class:`KANBenchError` and from the built-in type
a Python user would catch for that kind of failure (``ValueError``,
``KeyError``, ``FileNotFoundError``), so both ``except KANBenchError`` and
``except ValueError`` work.
"""


class KANBenchError(Exception):
    """Base class of every exception raised by kanbench."""


class InvalidArchitectureError(KANBenchError, ValueError):
    """An architecture breaks a rule of the search space.

    Raised for an unknown kernel size, padding, spline order, grid size or
    activation, a depth outside 2..7, or a decreasing kernel sequence. The
    message names the offending part and the rule.
    """


class ArchitectureSyntaxError(InvalidArchitectureError):
    """A text is not an architecture string in any supported notation."""


class OutOfSpaceError(InvalidArchitectureError):
    """An architecture is well-formed but invalid for a dataset's input size.

    Raised when the spatial size reaches 0 after a conv block, or when an
    ``arch_id`` lies outside ``0 .. len(space) - 1``.
    """


class UnknownDatasetError(KANBenchError, KeyError):
    """A dataset name is not built in or not present in an archive."""

    def __str__(self) -> str:
        # KeyError would otherwise show the message in quotes.
        return str(self.args[0]) if self.args else ""


class UnknownMetricError(KANBenchError, KeyError):
    """A metric name is not part of the archive schema."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ArchiveError(KANBenchError):
    """Base class of the errors raised while reading or writing an archive."""


class ArchiveNotFoundError(ArchiveError, FileNotFoundError):
    """The archive file does not exist."""


class ArchiveFormatError(ArchiveError, ValueError):
    """The file is not a readable kanbench archive of a supported schema.

    Raised for a file that is not HDF5, a truncated file, a missing group or
    attribute, or a schema version newer than this kanbench supports.
    """


class ChecksumMismatchError(ArchiveFormatError):
    """A dataset's content does not match the SHA-256 stored in the archive."""


class MissingMetricsError(KANBenchError, ValueError):
    """A request needs task metrics that the archive does not hold."""


class InfeasibleQueryError(KANBenchError, ValueError):
    """No architecture with task metrics satisfies the constraints."""


class ImportValidationError(KANBenchError, ValueError):
    """A result table has rows that fail validation and strict mode is on."""


class DatasetFilesNotFoundError(KANBenchError, FileNotFoundError):
    """A dataset's files are not in the data directory and downloading is off.

    The message names the dataset, the missing files and their directory. It
    also states where to get the files, or to pass ``download=True`` with
    network access.
    """


class DatasetIntegrityError(KANBenchError, ValueError):
    """A dataset's files exist but cannot be used.

    Raised when torchvision's MD5 check fails, or when the images have the
    wrong shape or the labels fall outside the dataset's classes.
    """


class LanguageModelAnswerError(KANBenchError, ValueError):
    """A language model's answer cannot be used: truncated, unparseable, or a refusal of a feasible query.

    ``answer`` contains the model's text and ``reason`` the failed check.
    """

    def __init__(self, message: str, *, answer: str, reason: str):
        super().__init__(message)
        self.answer = answer
        self.reason = reason


class ModelNotFoundError(KANBenchError, FileNotFoundError):
    """No language-model file was found by any step of model resolution."""
