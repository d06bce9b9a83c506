"""Plain-text tables and JSON output for the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np


def format_value(value: object) -> str:
    """Format one cell: integers with thousands separators, floats to 4 significant places."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "NaN" if math.isnan(value) else f"{float(value):.4g}"
    if isinstance(value, np.ndarray):
        return format_value(value.tolist())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """Left-aligned text columns with a header line."""
    cells = [[format_value(row[column]) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[index]) for line in cells]) for index, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def format_mapping(items: Mapping[str, object]) -> str:
    """``key: value`` lines with aligned keys."""
    width = max((len(key) for key in items), default=0)
    return "\n".join(f"{key.ljust(width)}  {format_value(value)}" for key, value in items.items())


def to_json(value: object) -> str:
    """JSON with NaN written as null, so any JSON parser reads it."""
    return json.dumps(_replace_nan(value), indent=2)


def _replace_nan(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return _replace_nan(value.tolist())
    if isinstance(value, (np.integer, np.floating)):
        return _replace_nan(value.item())
    if isinstance(value, Mapping):
        return {str(key): _replace_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_nan(item) for item in value]
    return value
