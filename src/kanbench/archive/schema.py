"""Names, shapes and units of everything stored in a kanbench archive (format v1).

An archive is one HDF5 file::

    /                                   attrs: format, schema_version, archive_version,
                                               created_utc, kanbench_version, search_space
    /datasets/<name>/                   attrs: input_shape, num_classes, num_architectures,
                                               seeds, num_epochs, protocol, provenance,
                                               content_sha256
    /datasets/<name>/architectures/     depth, kernel_size [N, 7], padding [N, 7],
                                        spline_order, grid_size, activation
    /datasets/<name>/metrics/<metric>   one array per metric, axis 0 indexed by arch_id

Metric shapes: cost metrics ``[N]``; task metrics ``[N, S]`` with one column
per seed in ``seeds``; learning curves ``[N, S, E]`` with one entry per epoch.
Unknown values are NaN. Accuracies are fractions in [0, 1]; times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_NAME = "kanbench-archive"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One stored metric: its name, axes, dtype, unit and meaning."""

    name: str
    kind: str
    """``"cost"`` ([N]), ``"task"`` ([N, S]) or ``"curve"`` ([N, S, E])."""
    dtype: str
    unit: str
    description: str


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("num_params", "cost", "int64", "count", "trainable parameters"),
        MetricSpec("num_flops", "cost", "int64", "FLOPs", "FLOPs of one forward pass on one image"),
        MetricSpec("test_accuracy", "task", "float64", "fraction", "top-1 accuracy on the test split"),
        MetricSpec("test_precision", "task", "float64", "fraction", "macro-averaged precision on the test split"),
        MetricSpec("test_recall", "task", "float64", "fraction", "macro-averaged recall on the test split"),
        MetricSpec("test_f1", "task", "float64", "fraction", "macro-averaged F1 score on the test split"),
        MetricSpec("valid_accuracy", "task", "float64", "fraction", "top-1 accuracy on the validation split"),
        MetricSpec("train_time_sec", "task", "float64", "seconds", "wall time of the whole training run"),
        MetricSpec("train_loss", "curve", "float64", "nats", "mean cross-entropy over each training epoch"),
        MetricSpec("train_accuracy", "curve", "float64", "fraction", "training accuracy over each epoch"),
        MetricSpec("epoch_time_sec", "curve", "float64", "seconds", "wall time of each training epoch"),
    )
}

COST_METRICS = tuple(name for name, spec in METRICS.items() if spec.kind == "cost")
TASK_METRICS = tuple(name for name, spec in METRICS.items() if spec.kind == "task")
CURVE_METRICS = tuple(name for name, spec in METRICS.items() if spec.kind == "curve")

ARCHITECTURE_COLUMNS = ("depth", "kernel_size", "padding", "spline_order", "grid_size", "activation")
"""Columns of the ``architectures`` group. ``kernel_size`` and ``padding`` are
``[N, 7]`` with 0 and -1 past the architecture's depth; ``activation`` is an
index into the space's activation list."""

PROVENANCE_ANALYTIC = "analytic"
PROVENANCE_MISSING = "missing"
PROVENANCE_IMPORTED_PREFIX = "imported:"
PROVENANCE_TRAINED_PREFIX = "trained:"
PROVENANCE_DERIVED_PREFIX = "derived:"
"""Provenance labels: ``analytic`` (cost model), ``imported:<source>``,
``trained:kanbench-<version>``, ``derived:<formula>`` and ``missing``."""
