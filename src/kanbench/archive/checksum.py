"""SHA-256 of a dataset's content, independent of how HDF5 laid it out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import numpy as np

HASHED_ATTRIBUTES = ("input_shape", "num_classes", "num_architectures", "seeds", "num_epochs", "protocol", "provenance")
"""Dataset attributes covered by the checksum; everything that gives the
arrays their meaning. ``created_utc`` and versions are not covered, so
rebuilding identical content gives the identical digest."""


def content_sha256(name: str, attributes: Mapping[str, object], arrays: Iterable[tuple[str, np.ndarray]]) -> str:
    """Hash a dataset's name, attributes and ``(path, array)`` pairs into a hex digest.

    Arrays are hashed by path (sorted), dtype, shape and little-endian bytes.
    Every NaN is hashed as the same bit pattern, because a NaN written by
    numpy and one read back from an HDF5 fill value may differ in sign or
    payload.
    """
    digest = hashlib.sha256()
    canonical_attributes = {name: _jsonable(attributes[name]) for name in HASHED_ATTRIBUTES}
    digest.update(f"{name}|".encode())
    digest.update(json.dumps(canonical_attributes, sort_keys=True).encode())

    for path, array in sorted(arrays, key=lambda item: item[0]):
        array = np.ascontiguousarray(array)
        if array.dtype.kind == "f":
            array = np.where(np.isnan(array), np.nan, array).astype(array.dtype.newbyteorder("<"))
        elif array.dtype.kind in "iu":
            array = array.astype(array.dtype.newbyteorder("<"))
        digest.update(f"{path}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
