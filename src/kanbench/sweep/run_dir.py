"""Run directories: where a sweep stores each finished training run.

Layout::

    RUN_DIR/manifest.json                       dataset, protocol name and options, kanbench version
    RUN_DIR/results/seed-<s>/<arch_id>.json     one finished run (TrainingRecord.to_dict())
    RUN_DIR/failed/seed-<s>/<arch_id>.json      one failed run, with its error

A result file is created exclusively (written to a temporary file, then
hard-linked into place, which fails if the file exists), so a pair is never
recorded twice, and a crash leaves either the whole file or none of it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from kanbench._version import __version__
from kanbench.atomic import atomic_output

MANIFEST = "manifest.json"


class RunDirectoryError(ValueError):
    """A run directory does not match the sweep that wants to use it."""


class RunDirectory:
    """A directory of training results for one dataset and one protocol."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def create_or_open(cls, path: str | os.PathLike, dataset: str, protocol_name: str, protocol: dict) -> RunDirectory:
        """Open ``path`` for a sweep, creating it and its manifest if needed.

        Raises:
            RunDirectoryError: the directory contains another dataset or protocol;
                use a new directory for a different protocol.
        """
        run_dir = cls(path)
        manifest = {"dataset": dataset, "protocol_name": protocol_name, "protocol": protocol}
        if run_dir.manifest_path.exists():
            stored = run_dir.manifest()
            for key, value in manifest.items():
                if stored.get(key) != value:
                    raise RunDirectoryError(
                        f"run directory {run_dir.path} was made with {key} {stored.get(key)!r}, not {value!r}; "
                        "resume with the same arguments or choose another --out directory"
                    )
            return run_dir

        run_dir.path.mkdir(parents=True, exist_ok=True)
        manifest.update(
            created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"), kanbench_version=__version__
        )
        _write_json_atomic(run_dir.manifest_path, manifest)
        return run_dir

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict:
        """Read the stored manifest.

        Raises:
            RunDirectoryError: the manifest is missing or unreadable.
        """
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise RunDirectoryError(f"{self.path} is not a run directory: {MANIFEST} is missing") from None
        except json.JSONDecodeError as error:
            raise RunDirectoryError(f"{self.manifest_path} is not valid JSON ({error})") from None

    def result_path(self, arch_id: int, seed: int, *, failed: bool = False) -> Path:
        folder = "failed" if failed else "results"
        return self.path / folder / f"seed-{seed}" / f"{arch_id:06d}.json"

    def finished(self) -> set[tuple[int, int]]:
        """``(arch_id, seed)`` pairs with a successful result."""
        return set(self._pairs("results"))

    def failed(self) -> set[tuple[int, int]]:
        """``(arch_id, seed)`` pairs whose last attempt failed and that have no successful result."""
        return set(self._pairs("failed")) - self.finished()

    def record(self, result: dict) -> bool:
        """Store one run's ``TrainingRecord.to_dict()``; return False if the pair was already recorded.

        A successful result for a pair that failed before replaces the
        failure file.
        """
        arch_id, seed = int(result["arch_id"]), int(result["seed"])
        failed = result.get("status") != "ok"
        target = self.result_path(arch_id, seed, failed=failed)
        if failed:
            _write_json_atomic(target, result)
            return True
        created = _create_json_exclusive(target, result)
        if created:
            self.result_path(arch_id, seed, failed=True).unlink(missing_ok=True)
        return created

    def results(self, *, include_failed: bool = False) -> Iterator[dict]:
        """Yield every stored result, successful ones first, each group in (seed, arch_id) order."""
        folders = ["results", "failed"] if include_failed else ["results"]
        for folder in folders:
            for arch_id, seed in sorted(self._pairs(folder), key=lambda pair: (pair[1], pair[0])):
                yield json.loads(self.result_path(arch_id, seed, failed=folder == "failed").read_text())

    def export(self, path: str | os.PathLike) -> Path:
        """Write all successful results as one gzip-compressed JSON-lines file, atomically."""
        path = Path(path)
        # mtime=0 and an empty file name keep the bytes identical for identical
        # results; otherwise the gzip header stores the temporary file's name.
        with atomic_output(path) as temporary, open(temporary, "wb") as raw:
            with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as compressed:
                header = {"manifest": self.manifest()}
                compressed.write((json.dumps(header, sort_keys=True) + "\n").encode())
                for result in self.results():
                    compressed.write((json.dumps(result, sort_keys=True) + "\n").encode())
        return path

    @classmethod
    def restore(cls, export: str | os.PathLike, path: str | os.PathLike) -> tuple[RunDirectory, int]:
        """Unpack an :meth:`export` file into a run directory to resume its sweep.

        Results already in the directory are kept. Returns the directory and
        the number of results added.

        Raises:
            RunDirectoryError: the directory belongs to another dataset or protocol.
        """
        manifest, results = read_export(export)
        run_dir = cls.create_or_open(path, manifest["dataset"], manifest["protocol_name"], manifest["protocol"])
        added = sum(run_dir.record(result) for result in results)
        return run_dir, added

    def _pairs(self, folder: str) -> Iterator[tuple[int, int]]:
        root = self.path / folder
        if not root.is_dir():
            return
        for seed_dir in root.iterdir():
            if not seed_dir.name.startswith("seed-"):
                continue
            seed = int(seed_dir.name.removeprefix("seed-"))
            for file in seed_dir.glob("*.json"):
                yield int(file.stem), seed


def read_export(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """Read an :meth:`RunDirectory.export` file: ``(manifest, results)``."""
    with gzip.open(path, "rt") as lines:
        header = json.loads(next(lines))
        return header["manifest"], [json.loads(line) for line in lines if line.strip()]


def _write_json_atomic(path: Path, data: dict) -> None:
    with atomic_output(path) as temporary:
        _dump_synced(temporary, data)


def _create_json_exclusive(path: Path, data: dict) -> bool:
    try:
        with atomic_output(path, exclusive=True) as temporary:
            _dump_synced(temporary, data)
    except FileExistsError:
        return False
    return True


def _dump_synced(path: Path, data: dict) -> None:
    with open(path, "w") as file:
        json.dump(data, file, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
