"""The prompt template that states a generation query to a language model.

Usage::

    >>> from kanbench.lm.prompt import format_prompt, REFUSAL
    >>> print(format_prompt("digits", 0.35, {"max_params": 20000, "max_train_time": 12.5}))
    Design a Conv-KAN image classifier for the digits dataset (1x8x8 input images, 10 classes).
    Budgets: at most 20000 trainable parameters and at most 12.5 seconds of training time for the whole run.
    Trade-off: alpha = 0.35, where 1 rewards test accuracy only and 0 rewards low cost only.
    Answer with one architecture string in the form Conv2d(k=K,p=P) -> ... -> KAN(order=O,grid=G,act=A), or with NO_FEASIBLE_ARCHITECTURE if no architecture in the benchmark meets every budget.

The template is plain text without any chat markup, so that each model's own
chat template can wrap it later. Every number is written so that
``float(text)`` gives back the exact value the exact solver used, which keeps
the prompt and its labelled answer consistent even for a budget exactly
equal to an entry's cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kanbench.query.filters import UPPER_BOUNDS
from kanbench.space import get_dataset

TEMPLATE_VERSION = 1
"""Version of :data:`PROMPT_TEMPLATE` and the budget phrases, stored in corpus manifests."""

REFUSAL = "NO_FEASIBLE_ARCHITECTURE"
"""The whole answer to a query that no architecture with task metrics satisfies."""

PROMPT_TEMPLATE = (
    "Design a Conv-KAN image classifier for the {dataset} dataset "
    "({channels}x{height}x{width} input images, {num_classes} classes).\n"
    "Budgets: {budgets}.\n"
    "Trade-off: alpha = {alpha}, where 1 rewards test accuracy only and 0 rewards low cost only.\n"
    "Answer with one architecture string in the form "
    "Conv2d(k=K,p=P) -> ... -> KAN(order=O,grid=G,act=A), "
    f"or with {REFUSAL} if no architecture in the benchmark meets every budget."
)
"""Template of version :data:`TEMPLATE_VERSION`, with the fields ``dataset``, ``channels``, ``height``,
``width``, ``num_classes``, ``budgets`` and ``alpha``."""

BUDGET_PHRASES: dict[str, str] = {
    "max_params": "at most {value} trainable parameters",
    "max_flops": "at most {value} FLOPs for one forward pass on one image",
    "max_train_time": "at most {value} seconds of training time for the whole run",
    "max_epoch_time": "at most {value} seconds of training time per epoch",
}
"""Phrase of each budget keyword of ``KANBench.generate``, in the order the prompt lists them."""

NO_BUDGETS = "none"


def format_prompt(dataset: str, alpha: float, budgets: Mapping[str, float | None]) -> str:
    """Write the prompt of one query in the template of :data:`TEMPLATE_VERSION`.

    Args:
        dataset: a built-in dataset name.
        alpha: the score's weight of accuracy, in [0, 1].
        budgets: ``KANBench.generate`` keywords (``max_params`` in
            parameters, ``max_flops`` in FLOPs per image, ``max_train_time``
            in seconds per run, ``max_epoch_time`` in seconds per epoch) to
            limits; None values are left out.

    Raises:
        UnknownDatasetError: ``dataset`` is not built in.
        ValueError: ``alpha`` is outside [0, 1], a budget keyword is unknown,
            or a limit is negative, NaN or infinite.
    """
    spec = get_dataset(dataset)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha {alpha!r} is outside [0, 1]; pass the weight of accuracy in the score")

    unknown = sorted(set(budgets) - set(BUDGET_PHRASES))
    if unknown:
        raise ValueError(
            f"unknown budget keyword(s) {', '.join(unknown)}; the prompt states {', '.join(BUDGET_PHRASES)}"
        )

    phrases = []
    for keyword, phrase in BUDGET_PHRASES.items():
        limit = budgets.get(keyword)
        if limit is not None:
            phrases.append(phrase.format(value=format_number(_check_limit(keyword, limit))))

    return PROMPT_TEMPLATE.format(
        dataset=spec.name,
        channels=spec.input_shape[0],
        height=spec.input_shape[1],
        width=spec.input_shape[2],
        num_classes=spec.num_classes,
        budgets=_join_phrases(phrases),
        alpha=format_number(float(alpha)),
    )


def format_number(value: float) -> str:
    """Write a finite number as short text that ``float()`` reads back exactly.

    Integral values below 2**53 are written as plain integers (``120000``,
    not ``120000.0`` or ``1.2e5``), and every other value as Python's
    shortest round-trip ``repr``.

    Raises:
        ValueError: ``value`` is NaN or infinite.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} in a prompt; budgets and alpha must be finite numbers")
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def budget_metric(keyword: str) -> str:
    """Return the archive metric that a budget keyword bounds, e.g. ``num_params`` for ``max_params``.

    Raises:
        ValueError: ``keyword`` is not a budget keyword of ``KANBench.generate``.
    """
    try:
        return UPPER_BOUNDS[keyword]
    except KeyError:
        raise ValueError(f"unknown budget keyword {keyword!r}; use one of {', '.join(UPPER_BOUNDS)}") from None


def _check_limit(keyword: str, limit: float) -> float:
    value = float(limit)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{keyword} {limit!r} is invalid; a budget must be a finite non-negative number")
    return value


def _join_phrases(phrases: list[str]) -> str:
    if not phrases:
        return NO_BUDGETS
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
