"""Inverse generation: the best architecture for given budgets."""

from kanbench.generation.exact import ExactSolver, GenerationResult

__all__ = ["ExactSolver", "GenerationResult"]
