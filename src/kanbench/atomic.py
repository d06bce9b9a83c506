"""Atomic file and directory output: write a temporary beside the target, then publish it.

Usage::

    >>> from kanbench.atomic import atomic_directory, atomic_output
    >>> with atomic_output("results.json") as temporary:
    ...     temporary.write_text("{}")
    >>> with atomic_directory("models/digits-small") as staging:
    ...     (staging / "config.json").write_text("{}")

A reader of the target sees either the old file or the complete new one,
never a partial write, and an exception inside the block leaves the target
untouched and removes the temporary file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory and publish it when the block succeeds.

    The temporary file gets the mode ``open()`` would give under the current
    umask (``mkstemp`` creates it as 0600). It is renamed over ``path``, or,
    with ``exclusive=True``, hard-linked to ``path``, which fails if ``path``
    exists. Missing parent directories are created.

    Raises:
        FileExistsError: ``exclusive`` is set and ``path`` already exists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _make_default_mode(temporary)
        if exclusive:
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path`` and rename it to ``path`` when the block succeeds.

    An exception inside the block removes the temporary directory. The
    directory gets the mode ``mkdir`` would give under the current umask
    (``mkdtemp`` creates it as 0700). Missing parent directories are created.

    Raises:
        FileExistsError: ``path`` already exists, checked before the block runs.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{str(path)!r} exists; choose a new directory or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        _make_default_mode(staging, 0o777)
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_default_mode(path: Path, mode: int = 0o666) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)
