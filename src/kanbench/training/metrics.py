"""Test-split metrics of a classifier's predictions.

Usage::

    >>> classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]))
    {'accuracy': 0.666..., 'precision': 0.75, 'recall': 0.75, 'f1': 0.666...}
"""

from __future__ import annotations

import math

import numpy as np


def classification_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Compute top-1 accuracy and macro-averaged precision, recall and F1.

    The macro average runs over the classes present in ``labels`` or
    ``predictions`` (scikit-learn's default), and a class that is never
    predicted has precision 0 (``zero_division=0``) instead of a warning.
    The benchmark's test splits contain every class.

    Args:
        labels: true class indices, int array ``(N,)``.
        predictions: predicted class indices, int array ``(N,)``.

    Returns:
        ``accuracy``, ``precision``, ``recall`` and ``f1`` as fractions in [0, 1];
        all NaN when ``N`` is 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    if len(labels) == 0:
        return dict.fromkeys(("accuracy", "precision", "recall", "f1"), math.nan)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)
    return {
        "accuracy": float(np.mean(np.asarray(labels) == np.asarray(predictions))),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }
