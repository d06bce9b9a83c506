"""Named training protocols used by sweeps.

A protocol is the keyword arguments of
:func:`kanbench.training.train_architecture` that define a benchmark's
numbers: two runs are comparable only under the same protocol, so a run
directory stores its protocol and refuses results made under another one.
"""

from __future__ import annotations

AUTHORS_PROTOCOL = {
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "valid_fraction": 0.1,
}
"""The NAS-KAN authors' protocol: Adam, lr 1e-3, batch 64, 5 epochs, ToTensor() only."""

DIGITS_PROTOCOL = {
    "epochs": 5,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "optimizer": "adam",
    "valid_fraction": 0.1,
}
"""kanbench's protocol for the 8x8 digits benchmark: Adam, lr 3e-3, batch 32, 5 epochs.

Chosen by ``benchmarks/digits_protocol_study.py`` on 200 random
architectures: Kendall's tau 0.73 between two seeds, best test accuracy
0.972, about 2 s per run on one core (docs/digits-benchmark.md).
"""

PROTOCOLS: dict[str, dict[str, object]] = {
    "authors": AUTHORS_PROTOCOL,
    "digits-v1": DIGITS_PROTOCOL,
}


def default_protocol(dataset: str) -> str:
    """Return the name of the protocol that a sweep of ``dataset`` uses by default."""
    return "digits-v1" if dataset == "digits" else "authors"


def resolve_protocol(name: str, overrides: dict[str, object] | None = None) -> dict[str, object]:
    """Return the training keyword arguments of protocol ``name`` with ``overrides`` applied.

    Raises:
        KeyError: ``name`` is not a known protocol; the message lists them.
    """
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; known protocols are {', '.join(PROTOCOLS)}")
    options = dict(PROTOCOLS[name])
    options.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return options
