"""The exact solver behind ``KANBench.generate``: the best table entry under budgets.

The score is the one the NAS-KAN authors use to label their fine-tuning
data::

    score = alpha * test_accuracy - (1 - alpha) * cost
    cost  = 0.34 * n_params + 0.33 * n_flops + 0.33 * n_time

where ``n_params``, ``n_flops`` and ``n_time`` (the whole training run's wall
time, ``train_time_sec``) are min-max normalised over the dataset's
architectures that have task metrics. When a dataset has no training times
the time term is dropped and the two other weights are renormalised to sum
to 1. Ties go to the higher test accuracy, then fewer parameters, then the
lower arch_id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kanbench.errors import InfeasibleQueryError, MissingMetricsError
from kanbench.query.filters import UPPER_BOUNDS, check_budget
from kanbench.query.records import Record
from kanbench.query.table import MetricTable

COST_WEIGHTS = {"num_params": 0.34, "num_flops": 0.33, "train_time_sec": 0.33}
"""Weights of the normalised cost terms before renormalisation."""


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """One architecture chosen for a budget, with why it was chosen.

    ``margins`` maps each given budget to ``budget - value`` (in the metric's
    unit; never negative for a returned entry). ``binding`` lists the budgets
    that exclude an entry scoring higher than the best result, so relaxing
    any of them alone would change the result. It is the same for every rank.

    ``backend`` is ``"exact"`` or ``"lm"``. For an answer from a language
    model, ``model`` is the model file, ``model_answer`` its text, and
    ``checks`` says whether the answer is ``valid`` (an architecture of the
    space), ``in_table`` (has task metrics) and ``within_budgets``. When a
    check failed and the caller allowed it, the exact solver's answer is
    returned with ``backend="exact"`` and ``fallback_reason`` set.
    """

    architecture: str
    arch_id: int
    dataset: str
    score: float
    alpha: float
    rank: int
    budgets: dict[str, float]
    margins: dict[str, float]
    binding: tuple[str, ...]
    record: Record
    backend: str = "exact"
    num_feasible: int = 0
    num_scored: int = 0
    model: str | None = None
    model_answer: str | None = None
    checks: dict[str, bool] | None = None
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "architecture": self.architecture,
            "arch_id": self.arch_id,
            "dataset": self.dataset,
            "score": self.score,
            "alpha": self.alpha,
            "rank": self.rank,
            "budgets": dict(self.budgets),
            "margins": dict(self.margins),
            "binding": list(self.binding),
            "backend": self.backend,
            "num_feasible": self.num_feasible,
            "num_scored": self.num_scored,
            "model": self.model,
            "model_answer": self.model_answer,
            "checks": None if self.checks is None else dict(self.checks),
            "fallback_reason": self.fallback_reason,
            "record": self.record.to_dict(),
        }


class ExactSolver:
    """Scores every architecture with task metrics of one dataset (cached per dataset)."""

    def __init__(self, table: MetricTable):
        self.table = table
        scored = table.has_task_metrics().copy()
        if not scored.any():
            raise MissingMetricsError(
                f"dataset {table.name!r} has no task metrics in this archive, so nothing can be ranked; "
                "import published results (kanbench import) or train architectures (kanbench train) first"
            )

        terms = {name: table.scalar(name) for name in COST_WEIGHTS}
        if np.isnan(terms["train_time_sec"][scored]).all():
            del terms["train_time_sec"]
        for values in terms.values():
            scored &= ~np.isnan(values)

        self.ids = np.flatnonzero(scored)
        self.accuracy = table.scalar("test_accuracy")[self.ids]
        self.num_params = table.scalar("num_params")[self.ids]
        total_weight = sum(COST_WEIGHTS[name] for name in terms)
        self.cost = np.zeros(len(self.ids))
        for name, values in terms.items():
            self.cost += COST_WEIGHTS[name] / total_weight * _min_max(values[self.ids].astype(float))
        self.cost_terms = tuple(terms)

    def scores(self, alpha: float) -> np.ndarray:
        """Score of every scored architecture, in ``self.ids`` order."""
        return alpha * self.accuracy - (1.0 - alpha) * self.cost

    def rank(
        self, budgets: dict[str, float | None], alpha: float, k: int
    ) -> tuple[list[tuple[int, float, dict, tuple]], int]:
        """Top ``k`` feasible entries as ``(arch_id, score, margins, binding)``, and the number feasible.

        Raises:
            ValueError: ``alpha`` is outside [0, 1], ``k`` < 1, or a budget is invalid.
            InfeasibleQueryError: no scored entry satisfies every budget; the
                message names the nearest entries.
        """
        alpha = _check_alpha(alpha)
        if k < 1:
            raise ValueError(f"k {k!r} is invalid; ask for at least one architecture (k >= 1)")
        budgets = {keyword: check_budget(keyword, limit) for keyword, limit in budgets.items() if limit is not None}

        scores = self.scores(alpha)
        satisfied = {keyword: self._values(keyword) <= limit for keyword, limit in budgets.items()}
        feasible = np.logical_and.reduce(list(satisfied.values())) if satisfied else np.ones(len(self.ids), bool)
        if not feasible.any():
            raise InfeasibleQueryError(self._infeasible_message(budgets))

        candidates = np.flatnonzero(feasible)
        order = np.lexsort((self.ids[candidates], self.num_params[candidates], -self.accuracy[candidates], -scores[candidates]))
        chosen = candidates[order[:k]]
        binding = self._binding(satisfied, scores, scores[chosen[0]])
        results = []
        for position in chosen:
            margins = {keyword: float(limit - self._values(keyword)[position]) for keyword, limit in budgets.items()}
            results.append((int(self.ids[position]), float(scores[position]), margins, binding))
        return results, len(candidates)

    def feasible_mask(self, budgets: dict[str, float | None]) -> np.ndarray:
        """Boolean mask over ``self.ids``: the scored entries that satisfy every given budget.

        Raises:
            ValueError: a budget is invalid.
        """
        feasible = np.ones(len(self.ids), bool)
        for keyword, limit in budgets.items():
            if limit is not None:
                feasible &= self._values(keyword) <= check_budget(keyword, limit)
        return feasible

    def feasible_ids(self, budgets: dict[str, float | None]) -> np.ndarray:
        """arch_ids of the scored entries that satisfy every given budget, in ascending order.

        Raises:
            ValueError: a budget is invalid.
        """
        return self.ids[self.feasible_mask(budgets)]

    def score_of(self, arch_id: int, alpha: float) -> float:
        """Score of one entry; NaN when it has no task metrics or lacks a cost term."""
        position = np.searchsorted(self.ids, arch_id)
        if position == len(self.ids) or self.ids[position] != arch_id:
            return float("nan")
        return float(alpha * self.accuracy[position] - (1.0 - alpha) * self.cost[position])

    def _values(self, keyword: str) -> np.ndarray:
        return self.table.scalar(UPPER_BOUNDS[keyword])[self.ids]

    def _binding(self, satisfied: dict[str, np.ndarray], scores: np.ndarray, chosen_score: float) -> tuple[str, ...]:
        binding = []
        for keyword in satisfied:
            others = [mask for name, mask in satisfied.items() if name != keyword]
            relaxed = np.logical_and.reduce(others) if others else np.ones(len(scores), bool)
            if (scores[relaxed] > chosen_score).any():
                binding.append(keyword)
        return tuple(binding)

    def _infeasible_message(self, budgets: dict[str, float]) -> str:
        # Excess over each budget as a fraction of the metric's largest value,
        # so that a zero budget still orders entries by how far they are.
        excess = np.zeros(len(self.ids))
        for keyword, limit in budgets.items():
            values = self._values(keyword).astype(float)
            scale = max(float(np.nanmax(values)), limit, 1e-300)
            excess = np.maximum(excess, np.nan_to_num(np.clip(values - limit, 0.0, None) / scale, nan=np.inf))
        nearest = np.argsort(excess, kind="stable")[:3]
        described = []
        for position in nearest:
            costs = ", ".join(f"{UPPER_BOUNDS[keyword]}={self._values(keyword)[position]:.6g}" for keyword in budgets)
            described.append(f"arch_id {self.ids[position]} ({costs})")
        wanted = ", ".join(f"{keyword}={limit:g}" for keyword, limit in budgets.items())
        return (
            f"no architecture with task metrics on {self.table.name!r} satisfies {wanted}; "
            f"the nearest are {'; '.join(described)}. Relax a budget."
        )


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _check_alpha(alpha: float) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"alpha {alpha!r} is outside [0, 1]; alpha weighs accuracy against cost (1 = accuracy only, 0 = cost only)"
        )
    return value
