"""The ``KANBench`` class: query, filter, rank and generate Conv-KAN architectures.

Usage::

    >>> from kanbench import KANBench
    >>> bench = KANBench()                        # the archive bundled with kanbench
    >>> record = bench.query("31.51.48S", dataset="cifar10")
    >>> record.num_params, record.test_accuracy   # test_accuracy is NaN: no task metrics bundled yet
    >>> small = bench.filter("stl10", max_params=1e5, depth=3, activation="GELU")
    >>> small.sort("num_flops").to_pandas()
    >>> cifar = KANBench("cifar10.h5")            # e.g. made by `kanbench import`
    >>> cifar.generate(max_params=1e6, alpha=0.5)

Every query reads in-memory numpy columns, which are loaded lazily from the
HDF5 archive. Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kanbench.archive.bundled import bundled_archive_path
from kanbench.archive.reader import Archive
from kanbench.archive.schema import TASK_METRICS
from kanbench.errors import UnknownDatasetError
from kanbench.generation.exact import ExactSolver, GenerationResult
from kanbench.query.filters import constraint_mask
from kanbench.query.records import Record
from kanbench.query.results import ResultSet
from kanbench.query.table import MetricTable
from kanbench.space import DATASETS, Architecture, SearchSpace
from kanbench.space.notation import parse_architecture, parse_canonical_choices

ArchitectureLike = Architecture | str | int


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many architectures of a dataset have measured (non-analytic) metrics."""

    dataset: str
    num_architectures: int
    with_task_metrics: int
    per_seed: dict[int, int]
    per_metric: dict[str, int]

    @property
    def fraction(self) -> float:
        return self.with_task_metrics / self.num_architectures if self.num_architectures else 0.0


class KANBench:
    """A Conv-KAN benchmark archive opened for querying.

    Args:
        path: an archive file; the archive bundled with kanbench when omitted.
        dataset: the default dataset of every method. When omitted, the first
            dataset with task metrics in the order mnist, cifar10, cifar100,
            svhn, stl10, digits, or the first dataset in that order when none
            has task metrics.

    Raises:
        ArchiveNotFoundError: ``path`` does not exist.
        ArchiveFormatError: the file is not a valid archive of a supported schema.
        UnknownDatasetError: ``dataset`` is not in the archive.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, dataset: str | None = None):
        self.archive = Archive(bundled_archive_path() if path is None else path)
        self._tables: dict[str, MetricTable] = {}
        self._solvers: dict[str, ExactSolver] = {}
        self._generators: dict[tuple[str, str], object] = {}
        self.default_dataset = self._choose_default_dataset() if dataset is None else self.archive.dataset(dataset).name

    # Datasets and spaces

    @property
    def datasets(self) -> tuple[str, ...]:
        """Datasets in the archive."""
        return self.archive.datasets

    def space(self, dataset: str | None = None) -> SearchSpace:
        """Return the search space of a dataset."""
        return self._table(dataset).space

    def coverage(self, dataset: str | None = None) -> Coverage:
        """Count the architectures with task metrics, in total, per seed and per metric."""
        table = self._table(dataset)
        view = table.view
        test_accuracy = view.column("test_accuracy")
        per_seed = {seed: int((~np.isnan(test_accuracy[:, column])).sum()) for column, seed in enumerate(view.seeds)}
        per_metric = {metric: int((~np.isnan(table.scalar(metric))).sum()) for metric in TASK_METRICS}
        return Coverage(table.name, len(table), int(table.has_task_metrics().sum()), per_seed, per_metric)

    def verify(self) -> dict[str, str]:
        """Check every dataset's stored SHA-256 against its content; return name -> digest.

        Raises:
            ChecksumMismatchError: a dataset's content does not match.
        """
        return self.archive.verify()

    # Queries

    def query(self, arch: ArchitectureLike, dataset: str | None = None, *, seed: int | str | None = None) -> Record:
        """Look up every metric of one architecture.

        Args:
            arch: an ``arch_id``, an :class:`Architecture`, or a string in
                canonical, compact or lenient notation.
            dataset: defaults to :attr:`default_dataset`.
            seed: None for the mean over seeds, a seed value for that seed,
                or ``"all"`` for arrays with one entry per seed.

        Raises:
            InvalidArchitectureError: the architecture is outside the space;
                the message gives the reason.
            KeyError: ``seed`` is not in the archive (``UnknownDatasetError``
                for an unknown dataset).
        """
        table = self._table(dataset)
        arch_id = table.space.index_of_canonical(arch) if type(arch) is str else None
        if arch_id is not None and seed is None:
            return self._mean_record(table, arch_id, arch)
        if arch_id is None:
            arch_id = self._resolve_id(arch, table.space)
        if seed is None:
            return self._mean_record(table, arch_id)
        return self._seed_record(table, arch_id, seed)

    def filter(
        self,
        dataset: str | None = None,
        *,
        max_params: float | None = None,
        max_flops: float | None = None,
        max_train_time: float | None = None,
        max_epoch_time: float | None = None,
        min_accuracy: float | None = None,
        depth: int | Iterable[int] | None = None,
        activation: str | Iterable[str] | None = None,
        spline_order: int | Iterable[int] | None = None,
        grid_size: int | Iterable[int] | None = None,
        kernel_size: int | Iterable[int] | None = None,
        with_task_metrics: bool | None = None,
    ) -> ResultSet:
        """Select the architectures that satisfy every given constraint, in arch_id order.

        Budgets are inclusive: ``max_params`` (count), ``max_flops``,
        ``max_train_time`` (seconds, whole run), ``max_epoch_time`` (seconds
        per epoch), ``min_accuracy`` (test accuracy, fraction). An unknown
        (NaN) value never satisfies a budget. See
        :func:`kanbench.query.filters.constraint_mask` for the choices.
        """
        table = self._table(dataset)
        mask = constraint_mask(
            table,
            max_params=max_params,
            max_flops=max_flops,
            max_train_time=max_train_time,
            max_epoch_time=max_epoch_time,
            min_accuracy=min_accuracy,
            depth=depth,
            activation=activation,
            spline_order=spline_order,
            grid_size=grid_size,
            kernel_size=kernel_size,
            with_task_metrics=with_task_metrics,
        )
        return ResultSet(self, table.name, np.flatnonzero(mask))

    def all(self, dataset: str | None = None) -> ResultSet:
        """Select every architecture of a dataset, in arch_id order."""
        table = self._table(dataset)
        return ResultSet(self, table.name, np.arange(len(table)))

    def pareto(
        self,
        dataset: str | None = None,
        objectives: Sequence[str] | Mapping[str, str] = ("test_accuracy", "num_params"),
    ) -> ResultSet:
        """Select the non-dominated architectures for the given objectives.

        ``objectives`` is a sequence of scalar metric names, each optimised in
        its natural direction (accuracies up, costs and times down), or a
        mapping ``{name: "max" | "min"}``. Architectures with an unknown value
        of any objective are left out.
        """
        return self.all(dataset).pareto(objectives)

    def generate(
        self,
        max_params: float | None = None,
        max_flops: float | None = None,
        max_train_time: float | None = None,
        max_epoch_time: float | None = None,
        *,
        alpha: float = 0.5,
        dataset: str | None = None,
        k: int | None = None,
        backend: str = "exact",
        model: str | os.PathLike | None = None,
        mode: str = "constrained",
        fallback: bool = False,
    ) -> GenerationResult | list[GenerationResult]:
        """Find the best architecture under the budgets, exactly or with a language model.

        ``backend="exact"`` scores every entry (see
        :mod:`kanbench.generation.exact`) and returns one
        :class:`GenerationResult`, or a list of the top ``k`` when ``k`` is
        given. ``backend="lm"`` asks a GGUF model (see
        :mod:`kanbench.generation.language_model`): ``model`` is its file,
        resolved as in :func:`kanbench.lm.resolve.resolve_model` when
        omitted; ``mode`` is ``"constrained"`` (the most likely feasible table
        entry), ``"constrained-greedy"`` or ``"free"``; ``fallback`` returns the exact answer when
        the model's fails a check. Budgets are in parameters, FLOPs per
        image, seconds per training run and seconds per epoch.

        Raises:
            MissingMetricsError: the dataset has no task metrics.
            InfeasibleQueryError: no entry satisfies the budgets; the message
                names the nearest entries.
            ValueError: ``alpha`` is outside [0, 1], a budget is negative, the
                backend or mode is unknown, or ``k`` is given with ``backend="lm"``.
            LanguageModelAnswerError: the model's answer is unusable and
                ``fallback`` is False.
            ModelNotFoundError: ``backend="lm"`` and no model file is found.
        """
        budgets = {
            "max_params": max_params,
            "max_flops": max_flops,
            "max_train_time": max_train_time,
            "max_epoch_time": max_epoch_time,
        }
        if backend == "exact":
            return self._generate_exact(budgets, alpha, dataset, k)
        if backend != "lm":
            raise ValueError(f"backend {backend!r} is unknown; use 'exact' or 'lm'")
        if k is not None:
            raise ValueError("k is not supported with backend='lm', which answers with one architecture; drop k")

        from kanbench.generation.language_model import generate_with_model

        table = self._table(dataset)
        return generate_with_model(
            self.model_generator(table.name, model),
            lambda: self._generate_exact(budgets, alpha, table.name, None),
            budgets,
            alpha,
            mode=mode,
            fallback=fallback,
            record_for=lambda arch_id: self._mean_record(table, arch_id),
        )

    def model_generator(self, dataset: str | None = None, model: str | os.PathLike | None = None):
        """The language-model generator of a dataset, loading the model on first use (cached per file).

        Raises:
            ModelNotFoundError: ``model`` is None and resolution finds no file.
            FileNotFoundError: ``model`` does not exist.
            ImportError: llama-cpp-python is not installed.
        """
        from kanbench.generation.language_model import ModelGenerator
        from kanbench.lm.backend import LlamaCppModel
        from kanbench.lm.resolve import resolve_model

        table = self._table(dataset)
        path = resolve_model(model, dataset=table.name).path
        key = (table.name, str(path))
        generator = self._generators.get(key)
        if generator is None:
            generator = self._generators[key] = ModelGenerator(LlamaCppModel(path), table, self._solver(table))
        return generator

    def _generate_exact(self, budgets: dict, alpha: float, dataset: str | None, k: int | None):
        table = self._table(dataset)
        solver = self._solver(table)
        ranked, num_feasible = solver.rank(budgets, alpha, 1 if k is None else k)
        given = {keyword: float(limit) for keyword, limit in budgets.items() if limit is not None}
        results = [
            GenerationResult(
                architecture=table.space.format_id(arch_id),
                arch_id=arch_id,
                dataset=table.name,
                score=score,
                alpha=float(alpha),
                rank=rank,
                budgets=given,
                margins=margins,
                binding=binding,
                record=self._mean_record(table, arch_id),
                num_feasible=num_feasible,
                num_scored=len(solver.ids),
            )
            for rank, (arch_id, score, margins, binding) in enumerate(ranked, start=1)
        ]
        return results[0] if k is None else results

    def _solver(self, table: MetricTable) -> ExactSolver:
        solver = self._solvers.get(table.name)
        if solver is None:
            solver = self._solvers[table.name] = ExactSolver(table)
        return solver

    def train(self, arch: ArchitectureLike, dataset: str | None = None, **options):
        """Train one architecture with kanbench's trainer (needs ``kanbench[train]``).

        Unless overridden in ``options``, the training settings (epochs,
        batch size, learning rate, optimizer, validation fraction) are those
        of the protocol stored for the dataset in this archive, so the run
        reproduces the archive's numbers. A dataset without a stored training
        protocol uses the defaults of
        :func:`kanbench.training.train_architecture`, which are the NAS-KAN
        authors' protocol.

        Returns:
            A :class:`kanbench.training.TrainingRecord` with the archive's
            fields and units.
        """
        from kanbench.training import train_architecture

        table = self._table(dataset)
        arch_id = self._resolve_id(arch, table.space)
        settings = {key: table.view.protocol[key] for key in _TRAINING_SETTINGS if key in table.view.protocol}
        settings.update(options)
        return train_architecture(table.space[arch_id], table.name, **settings)

    def close(self) -> None:
        """Close the archive and free any loaded language models."""
        for generator in self._generators.values():
            generator.model.close()
        self._generators.clear()
        self.archive.close()

    def __enter__(self) -> KANBench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KANBench({str(self.archive.path)!r}, datasets={list(self.datasets)}, default_dataset={self.default_dataset!r})"

    # Internals

    def _table(self, dataset: str | None) -> MetricTable:
        name = self.default_dataset if dataset is None else dataset
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = MetricTable(self.archive.dataset(name))
        return table

    def _choose_default_dataset(self) -> str:
        present = [name for name in DATASETS if name in self.archive.datasets]
        if not present:
            raise UnknownDatasetError(f"archive {self.archive.path} contains no datasets")
        for name in present:
            if self.archive.dataset(name).has_values("test_accuracy"):
                return name
        return present[0]

    @staticmethod
    def _resolve_id(arch: ArchitectureLike, space: SearchSpace) -> int:
        if isinstance(arch, str):
            choices = parse_canonical_choices(arch)
            if choices is not None:
                return space.index_of_choices(*choices)
            return space.index(parse_architecture(arch, lenient=True))
        if isinstance(arch, Architecture):
            return space.index(arch)
        return space.check_id(arch)

    def _mean_record(self, table: MetricTable, arch_id: int, architecture: str | None = None) -> Record:
        scalars, loss, train_accuracy, epoch_time = table.record_rows()
        (params, flops, test_accuracy, precision, recall, f1, valid, train_time,
         seed_count) = scalars[arch_id].tolist()  # fmt: skip
        has_metrics = test_accuracy == test_accuracy
        seeds = table.view.seeds
        if seed_count != len(seeds):
            seeds = self._seeds_with_results(table, arch_id)

        # Positional arguments in field order: keyword construction of an
        # 18-field dataclass costs about a microsecond, a fifth of a lookup.
        return Record(
            table.name,
            arch_id,
            architecture or table.space.format_id(arch_id),
            int(params),
            int(flops),
            test_accuracy,
            precision,
            recall,
            f1,
            valid,
            train_time,
            loss[arch_id],
            train_accuracy[arch_id],
            epoch_time[arch_id],
            seeds,
            has_metrics,
            table.provenance,
            "" if has_metrics else _NO_METRICS_NOTE,
        )

    def _seed_record(self, table: MetricTable, arch_id: int, seed: int | str) -> Record:
        view = table.view
        if seed == "all":
            columns: slice | int = slice(None)
            seeds = view.seeds
        else:
            if seed not in view.seeds:
                raise KeyError(f"seed {seed!r} is not in dataset {table.name!r}; its seeds are {list(view.seeds)}")
            columns = view.seeds.index(seed)
            seeds = (seed,)

        def pick(metric: str):
            values = view.column(metric)[arch_id, columns]
            return float(values) if np.ndim(values) == 0 else values

        accuracy = view.column("test_accuracy")[arch_id, columns]
        has_metrics = bool(np.any(~np.isnan(accuracy)))
        return Record(
            dataset=table.name,
            arch_id=arch_id,
            architecture=table.space.format_id(arch_id),
            num_params=int(table.scalar("num_params")[arch_id]),
            num_flops=int(table.scalar("num_flops")[arch_id]),
            test_accuracy=pick("test_accuracy"),
            test_precision=pick("test_precision"),
            test_recall=pick("test_recall"),
            test_f1=pick("test_f1"),
            valid_accuracy=pick("valid_accuracy"),
            train_time_sec=pick("train_time_sec"),
            train_loss=pick("train_loss"),
            train_accuracy=pick("train_accuracy"),
            epoch_time_sec=pick("epoch_time_sec"),
            seeds=tuple(seeds) if has_metrics else (),
            has_task_metrics=has_metrics,
            provenance=table.provenance,
            note="" if has_metrics else _NO_METRICS_NOTE,
        )

    @staticmethod
    def _seeds_with_results(table: MetricTable, arch_id: int) -> tuple[int, ...]:
        row = table.view.column("test_accuracy")[arch_id]
        return tuple(seed for seed, value in zip(table.view.seeds, row) if value == value)


_TRAINING_SETTINGS = ("epochs", "batch_size", "learning_rate", "optimizer", "valid_fraction")
"""Protocol entries of a trained archive that :meth:`KANBench.train` reuses."""

_NO_METRICS_NOTE = "no task metrics in this archive for this architecture; cost metrics are analytic"
