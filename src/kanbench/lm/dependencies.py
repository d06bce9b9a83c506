"""Import an optional dependency of the language-model backend, or raise an ImportError with the install command."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(module: str, *, purpose: str, install: str, package: str | None = None) -> ModuleType:
    """Import ``module`` and return it.

    Args:
        module: the module to import, e.g. ``"llama_cpp"``.
        purpose: what needs it, e.g. ``"running a language model"``.
        install: the command or advice that fixes a missing module.
        package: the distribution name when it differs from ``module``.

    Raises:
        ImportError: ``module`` cannot be imported. The message reads
            "{purpose} needs {package}; install it with: {install}".
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{purpose} needs {package or module}; install it with: {install}") from error
