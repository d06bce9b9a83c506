"""The result of one training run, with the archive schema's metric names and units.

Usage::

    >>> record = train_architecture("31.51.48S", "digits", epochs=2, progress=False)
    >>> record.status, record.test_accuracy, len(record.train_loss)
    ('ok', 0.419..., 2)
    >>> text = json.dumps(record.to_dict())
    >>> TrainingRecord.from_dict(json.loads(text)) == record
    True

``to_dict()`` gives strict JSON: a NaN metric becomes ``None``, and
``from_dict()`` turns it back into NaN. Records with NaN metrics therefore
round-trip, but compare unequal because NaN != NaN.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

STATUS_OK = "ok"
STATUS_FAILED = "failed"

_FLOAT_FIELDS = (
    "test_accuracy",
    "test_precision",
    "test_recall",
    "test_f1",
    "valid_accuracy",
    "train_time_sec",
)
_CURVE_FIELDS = ("train_loss", "train_accuracy", "epoch_time_sec")


@dataclass
class TrainingRecord:
    """Metrics and provenance of training one architecture with one seed.

    Accuracies, precision, recall and F1 are fractions in [0, 1]; precision,
    recall and F1 are macro averages over classes. Times are wall-clock
    seconds. A failed run has ``status == "failed"``, the reason in
    ``error``, NaN task metrics and curves for the completed epochs only.

    Attributes:
        arch_id: index of the architecture in the dataset's search space.
        architecture: canonical architecture string.
        dataset: built-in dataset name.
        seed: training seed (model initialisation and batch order).
        test_accuracy: top-1 accuracy on the test split.
        test_precision: macro-averaged precision on the test split.
        test_recall: macro-averaged recall on the test split.
        test_f1: macro-averaged F1 score on the test split.
        valid_accuracy: top-1 accuracy on the validation split; NaN when it is empty.
        train_loss: mean cross-entropy over each epoch's training images, in nats.
        train_accuracy: accuracy of each epoch's forward passes during training.
        epoch_time_sec: wall time of each training epoch.
        train_time_sec: wall time of all training epochs together.
        num_params: trainable parameters, counted on the model.
        num_flops: analytic FLOPs of one forward pass on one image.
        protocol: every setting that affects the result, JSON-serialisable.
        versions: versions of python, torch, torchvision, numpy, scikit-learn and kanbench.
        host: hostname, platform, processor and compute device.
        status: ``"ok"`` or ``"failed"``.
        error: the reason of a failure; ``None`` when ``status`` is ``"ok"``.
    """

    arch_id: int
    architecture: str
    dataset: str
    seed: int
    test_accuracy: float
    test_precision: float
    test_recall: float
    test_f1: float
    valid_accuracy: float
    train_loss: list[float]
    train_accuracy: list[float]
    epoch_time_sec: list[float]
    train_time_sec: float
    num_params: int
    num_flops: int
    protocol: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    status: str = STATUS_OK
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict:
        """Return a strict-JSON dict of every field; NaN becomes ``None``."""
        data = dataclasses.asdict(self)
        for name in _FLOAT_FIELDS:
            data[name] = _nan_to_none(data[name])
        for name in _CURVE_FIELDS:
            data[name] = [_nan_to_none(value) for value in data[name]]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainingRecord:
        """Rebuild a record from :meth:`to_dict` output; ``None`` metrics become NaN.

        Raises:
            ValueError: a field is missing or unknown, or ``status`` is not
                ``"ok"`` or ``"failed"``.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(
                f"invalid training record: missing fields {missing or 'none'}, unknown fields {unknown or 'none'}; "
                "pass the output of TrainingRecord.to_dict()"
            )

        values = dict(data)
        for name in _FLOAT_FIELDS:
            values[name] = _none_to_nan(values[name])
        for name in _CURVE_FIELDS:
            values[name] = [_none_to_nan(value) for value in values[name]]
        for name in ("arch_id", "seed", "num_params", "num_flops"):
            values[name] = int(values[name])
        for name in ("protocol", "versions", "host"):
            values[name] = dict(values.get(name, {}))

        status = values.get("status", STATUS_OK)
        if status not in (STATUS_OK, STATUS_FAILED):
            raise ValueError(f"invalid training record status {status!r}; expected 'ok' or 'failed'")
        return cls(**values)


def _nan_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _none_to_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
