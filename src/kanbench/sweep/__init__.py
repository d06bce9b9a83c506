"""Exhaustive sweeps: train every (architecture, seed) pair and collect the results.

Usage::

    kanbench populate --dataset digits --arch-ids 0:1000 --seeds 0 1 2 --out runs/digits
    kanbench build-archive runs/digits --out digits.h5
"""

from kanbench.sweep.protocols import PROTOCOLS, default_protocol
from kanbench.sweep.run_dir import RunDirectory

__all__ = ["PROTOCOLS", "RunDirectory", "default_protocol"]
