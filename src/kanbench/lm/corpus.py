"""Instruction/answer pairs for fine-tuning a language model to generate architectures.

Usage::

    >>> from kanbench import KANBench
    >>> from kanbench.lm.corpus import build_corpus, write_corpus, read_corpus
    >>> bench = KANBench("cifar10.h5")
    >>> examples = build_corpus(bench, "cifar10", num_queries=20_000, seed=0)
    >>> write_corpus(examples, "corpus/cifar10")   # train.jsonl, valid.jsonl, test.jsonl, manifest.json
    >>> corpus = read_corpus("corpus/cifar10")
    >>> corpus[0].prompt, corpus[0].answer

Queries are modelled on the NAS-KAN authors' fine-tuning data, and the
scale factor and the boundary and infeasible kinds are kanbench's additions.
Each budget (``max_params``, ``max_flops``, ``max_train_time``) is the cost
of a randomly drawn architecture with task metrics, scaled by a random
factor, and alpha is uniform in [0.05, 0.95]. The answer is the exact
solver's top-1 architecture (see :mod:`kanbench.generation.exact`) as a
canonical string, or :data:`~kanbench.lm.prompt.REFUSAL` when no
architecture with task metrics satisfies every budget.

Three kinds of query are drawn:

* ``random``: every budget from an independently drawn entry. A draw that
  no entry satisfies is drawn again, so that ``infeasible_fraction`` alone
  sets the share of refusals.
* ``boundary``: one budget exactly equal to a drawn entry's cost and the
  others at or above that entry's costs, so the entry is feasible.
* ``infeasible``: one budget below the cheapest entry's value of that
  metric, so the answer is always the refusal.

Splits are by query: identical prompts are drawn only once, so no prompt
occurs in two splits. Each kind is split separately, so every split gets
its share of boundary and infeasible queries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kanbench._version import __version__
from kanbench.atomic import atomic_output
from kanbench.errors import InfeasibleQueryError, KANBenchError, MissingMetricsError
from kanbench.generation.exact import ExactSolver
from kanbench.lm.prompt import REFUSAL, TEMPLATE_VERSION, budget_metric, format_prompt
from kanbench.query.table import MetricTable

if TYPE_CHECKING:
    from kanbench.query.bench import KANBench

logger = logging.getLogger(__name__)

CORPUS_FORMAT = "kanbench-lm-corpus"
CORPUS_FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")
KINDS = ("random", "boundary", "infeasible")
DEFAULT_BUDGET_KEYWORDS = ("max_params", "max_flops", "max_train_time")
MANIFEST_NAME = "manifest.json"

ALPHA_RANGE = (0.05, 0.95)
"""Range of the uniformly drawn alpha. Alpha is rounded to 2 decimals, so the prompt states it exactly."""

TIME_DECIMALS = 2
"""Decimals of a drawn time budget in seconds. A boundary budget keeps the entry's exact value."""

MAX_DRAWS_PER_QUERY = 1000
"""Draws allowed per requested query before giving up on finding distinct prompts."""


class CorpusFormatError(KANBenchError, ValueError):
    """A corpus directory or JSON-lines file is incomplete, damaged or of an unknown format."""


@dataclass(frozen=True, slots=True)
class CorpusExample:
    """One labelled query.

    ``budgets`` maps ``KANBench.generate`` keywords to limits (parameters,
    FLOPs per image, seconds per run). ``answer`` is the exact solver's
    canonical string, or :data:`~kanbench.lm.prompt.REFUSAL` when
    ``feasible`` is False, in which case ``arch_id`` is None.
    ``reference_arch_id`` is the entry a boundary query was built from
    (None for other kinds). ``num_feasible`` counts the entries with task
    metrics that satisfy every budget.
    """

    id: str
    split: str
    kind: str
    dataset: str
    alpha: float
    budgets: dict[str, float]
    prompt: str
    answer: str
    arch_id: int | None
    feasible: bool
    num_feasible: int
    reference_arch_id: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "split": self.split,
            "kind": self.kind,
            "dataset": self.dataset,
            "alpha": self.alpha,
            "budgets": {keyword: _json_number(limit) for keyword, limit in self.budgets.items()},
            "prompt": self.prompt,
            "answer": self.answer,
            "arch_id": self.arch_id,
            "feasible": self.feasible,
            "num_feasible": self.num_feasible,
            "reference_arch_id": self.reference_arch_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CorpusExample:
        """Rebuild an example from :meth:`to_dict` output.

        Raises:
            CorpusFormatError: a field is missing or has the wrong type.
        """
        try:
            return cls(
                id=str(data["id"]),
                split=str(data["split"]),
                kind=str(data["kind"]),
                dataset=str(data["dataset"]),
                alpha=float(data["alpha"]),
                budgets={str(keyword): float(limit) for keyword, limit in dict(data["budgets"]).items()},
                prompt=str(data["prompt"]),
                answer=str(data["answer"]),
                arch_id=None if data["arch_id"] is None else int(data["arch_id"]),
                feasible=bool(data["feasible"]),
                num_feasible=int(data["num_feasible"]),
                reference_arch_id=None if data.get("reference_arch_id") is None else int(data["reference_arch_id"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CorpusFormatError(
                f"corpus example {data.get('id', '?')!r} is invalid ({type(error).__name__}: {error}); "
                "examples are written by write_corpus, so rebuild the corpus"
            ) from None


@dataclass(frozen=True, slots=True)
class CorpusMetadata:
    """Provenance of a corpus: archive, dataset checksum, seed and drawing settings."""

    dataset: str
    archive_path: str
    content_sha256: str
    seed: int
    num_queries: int
    settings: dict[str, object] = field(default_factory=dict)
    template_version: int = TEMPLATE_VERSION
    refusal: str = REFUSAL

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "archive_path": self.archive_path,
            "content_sha256": self.content_sha256,
            "seed": self.seed,
            "num_queries": self.num_queries,
            "settings": dict(self.settings),
            "template_version": self.template_version,
            "refusal": self.refusal,
        }


class Corpus(list):
    """A list of :class:`CorpusExample` with the :class:`CorpusMetadata` of its build in ``metadata``."""

    def __init__(self, examples: Iterable[CorpusExample] = (), metadata: CorpusMetadata | None = None):
        super().__init__(examples)
        self.metadata = metadata

    def split(self, name: str) -> list[CorpusExample]:
        """Return the examples of one split (``train``, ``valid`` or ``test``), in id order.

        Raises:
            ValueError: ``name`` is not a split name.
        """
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; splits are {', '.join(SPLITS)}")
        return [example for example in self if example.split == name]


def build_corpus(
    bench: KANBench,
    dataset: str,
    num_queries: int,
    seed: int,
    *,
    budget_keywords: Sequence[str] | None = None,
    boundary_fraction: float = 0.1,
    infeasible_fraction: float = 0.1,
    budget_scale: tuple[float, float] = (0.75, 1.5),
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Corpus:
    """Draw ``num_queries`` distinct queries and label each with the exact solver's answer.

    The same arguments and archive give the same corpus.

    Args:
        bench: an open :class:`~kanbench.KANBench`.
        dataset: a dataset of ``bench`` with task metrics.
        num_queries: number of examples, each with a distinct prompt.
        seed: seed of numpy's default generator, which draws everything.
        budget_keywords: budgets every query states; the default is
            ``max_params``, ``max_flops`` and ``max_train_time``, without
            ``max_train_time`` when the dataset has no training times.
        boundary_fraction, infeasible_fraction: shares of boundary and
            infeasible queries (rounded to whole queries); the rest are random.
        budget_scale: ``(low, high)`` range of the log-uniform factor that
            scales a drawn cost into a budget; ``(1, 1)`` keeps costs unscaled.
        valid_fraction, test_fraction: shares of each kind held out for
            validation and test; the rest is training data.

    Raises:
        UnknownDatasetError: ``dataset`` is not in the archive.
        MissingMetricsError: the dataset has no task metrics.
        ValueError: an argument is out of range, or fewer than
            ``num_queries`` distinct prompts could be drawn.
    """
    _check_arguments(num_queries, boundary_fraction, infeasible_fraction, budget_scale, valid_fraction, test_fraction)
    view = bench.archive.dataset(dataset)
    table = MetricTable(view)
    solver = ExactSolver(table)
    keywords = _choose_keywords(table, solver, budget_keywords)
    drawer = _QueryDrawer(table, solver, keywords, budget_scale, np.random.default_rng(seed))

    kinds = _kind_sequence(num_queries, boundary_fraction, infeasible_fraction, drawer.rng)
    labelled = _draw_queries(drawer, solver, kinds)
    splits = _assign_splits(kinds, valid_fraction, test_fraction, drawer.rng)
    examples = [
        _example(query, f"{table.name}-{index:06d}", splits[index], table) for index, query in enumerate(labelled)
    ]
    counts = Counter((example.split, example.kind) for example in examples)
    logger.info("built %d queries on %s (seed %d): %s", len(examples), table.name, seed, dict(counts))

    settings = {
        "budget_keywords": list(keywords),
        "alpha_range": list(ALPHA_RANGE),
        "budget_scale": [float(budget_scale[0]), float(budget_scale[1])],
        "boundary_fraction": boundary_fraction,
        "infeasible_fraction": infeasible_fraction,
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "time_decimals": TIME_DECIMALS,
    }
    metadata = CorpusMetadata(
        dataset=table.name,
        archive_path=str(bench.archive.path),
        content_sha256=view.content_sha256,
        seed=int(seed),
        num_queries=num_queries,
        settings=settings,
    )
    return Corpus(examples, metadata)


def write_corpus(
    examples: Sequence[CorpusExample], out_dir: str | os.PathLike, metadata: CorpusMetadata | None = None
) -> Path:
    """Write ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` and ``manifest.json`` into ``out_dir``.

    Each file is written to a temporary name and renamed into place
    (``os.replace``). The manifest goes last and stores each file's SHA-256,
    so :func:`read_corpus` rejects a directory whose writing was
    interrupted. The manifest also stores the archive path, the dataset's
    content SHA-256, the seed, the template version and the counts per split
    and kind.

    Args:
        examples: a :class:`Corpus` from :func:`build_corpus`, or any
            examples together with ``metadata``.
        metadata: defaults to ``examples.metadata``.

    Returns:
        The path of the manifest.

    Raises:
        ValueError: no metadata was given, an example has an unknown split,
            two examples share an id, or one prompt occurs in two splits.
    """
    metadata = metadata if metadata is not None else getattr(examples, "metadata", None)
    if metadata is None:
        raise ValueError(
            "write_corpus needs the corpus metadata (archive, checksum, seed); pass the Corpus that build_corpus "
            "returned, or metadata=CorpusMetadata(...)"
        )
    check_splits(examples)

    out_dir = Path(out_dir)
    files = {}
    for split in SPLITS:
        chosen = [example for example in examples if example.split == split]
        path = out_dir / f"{split}.jsonl"
        write_jsonl(path, chosen)
        files[path.name] = {"examples": len(chosen), "sha256": _file_sha256(path)}

    manifest = {
        "format": CORPUS_FORMAT,
        "format_version": CORPUS_FORMAT_VERSION,
        **metadata.to_dict(),
        "counts": {split: sum(example.split == split for example in examples) for split in SPLITS},
        "kinds": {
            split: {kind: sum(e.split == split and e.kind == kind for e in examples) for kind in KINDS}
            for split in SPLITS
        },
        "files": files,
        "kanbench_version": __version__,
    }
    manifest_path = out_dir / MANIFEST_NAME
    with atomic_output(manifest_path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %d examples to %s", len(examples), out_dir)
    return manifest_path


def read_corpus(out_dir: str | os.PathLike) -> Corpus:
    """Read a corpus written by :func:`write_corpus`, checking every file against the manifest.

    Returns:
        The examples of all splits in id order, with ``metadata`` from the manifest.

    Raises:
        CorpusFormatError: the manifest is missing or of another format, or a
            file's SHA-256 or example count differs from the manifest.
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusFormatError(
            f"{MANIFEST_NAME} not found in {out_dir}, so the directory contains no complete corpus; write one "
            "with write_corpus"
        ) from None
    except json.JSONDecodeError as error:
        raise CorpusFormatError(f"{manifest_path} is not valid JSON ({error}); rebuild the corpus") from None
    if manifest.get("format") != CORPUS_FORMAT or manifest.get("format_version") != CORPUS_FORMAT_VERSION:
        raise CorpusFormatError(
            f"{manifest_path} has format {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
            f"this kanbench reads {CORPUS_FORMAT!r} version {CORPUS_FORMAT_VERSION}"
        )

    examples: list[CorpusExample] = []
    for name, expected in manifest["files"].items():
        path = out_dir / name
        actual = _file_sha256(path) if path.is_file() else None
        if actual != expected["sha256"]:
            raise CorpusFormatError(
                f"{path} does not match its SHA-256 in {manifest_path} (stored {expected['sha256'][:16]}..., "
                f"found {'no file' if actual is None else actual[:16] + '...'}); the corpus was modified, "
                "so rebuild it"
            )
        examples.extend(read_jsonl(path))

    metadata = CorpusMetadata(
        dataset=manifest["dataset"],
        archive_path=manifest["archive_path"],
        content_sha256=manifest["content_sha256"],
        seed=int(manifest["seed"]),
        num_queries=int(manifest["num_queries"]),
        settings=dict(manifest["settings"]),
        template_version=int(manifest["template_version"]),
        refusal=manifest["refusal"],
    )
    return Corpus(sorted(examples, key=lambda example: example.id), metadata)


def write_jsonl(path: str | os.PathLike, examples: Iterable[CorpusExample]) -> Path:
    """Write one JSON object per line (UTF-8), atomically through a temporary file and ``os.replace``."""
    path = Path(path)
    with atomic_output(path) as temporary:
        with temporary.open("w", encoding="utf-8") as file:
            for example in examples:
                file.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | os.PathLike) -> list[CorpusExample]:
    """Read the examples of a JSON-lines file written by :func:`write_jsonl`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorpusFormatError: a line is not JSON or not an example; the message
            gives the line number.
    """
    path = Path(path)
    examples = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise CorpusFormatError(f"line {number} of {path} is not valid JSON ({error}); rebuild the file") from None
            if not isinstance(data, dict):
                raise CorpusFormatError(f"line {number} of {path} is not a JSON object; rebuild the file")
            examples.append(CorpusExample.from_dict(data))
    return examples


def check_splits(examples: Iterable[CorpusExample]) -> None:
    """Check that ids are unique, splits are known and no prompt occurs in two splits.

    Raises:
        ValueError: the message names the offending id, split or prompt.
    """
    ids: set[str] = set()
    split_of_prompt: dict[str, str] = {}
    for example in examples:
        if example.split not in SPLITS:
            raise ValueError(f"example {example.id!r} has unknown split {example.split!r}; use one of {', '.join(SPLITS)}")
        if example.id in ids:
            raise ValueError(f"example id {example.id!r} occurs twice; ids must be unique")
        ids.add(example.id)
        other = split_of_prompt.setdefault(example.prompt, example.split)
        if other != example.split:
            raise ValueError(
                f"the prompt of example {example.id!r} occurs in splits {other!r} and {example.split!r}; "
                "a held-out split must not share a prompt with another split, so drop one of them"
            )


class _QueryDrawer:
    """Draws the alpha and budgets of one query of a given kind."""

    def __init__(self, table: MetricTable, solver: ExactSolver, keywords: tuple[str, ...], scale, rng):
        self.rng = rng
        self.keywords = keywords
        self.log_scale = (math.log(scale[0]), math.log(scale[1]))
        self.costs = {keyword: table.scalar(budget_metric(keyword))[solver.ids].astype(float) for keyword in keywords}
        self.ids = solver.ids
        self.name = table.name

    def draw(self, kind: str) -> dict:
        alpha = round(float(self.rng.uniform(*ALPHA_RANGE)), 2)
        if kind == "random":
            budgets = {keyword: self._random_budget(keyword) for keyword in self.keywords}
            return {"kind": kind, "alpha": alpha, "budgets": budgets, "reference_arch_id": None}
        if kind == "boundary":
            return self._boundary(alpha)
        return self._infeasible(alpha)

    def _random_budget(self, keyword: str) -> float:
        position = int(self.rng.integers(len(self.ids)))
        return _round_budget(keyword, self.costs[keyword][position] * self._scale(), up=True)

    def _scale(self) -> float:
        return math.exp(float(self.rng.uniform(*self.log_scale)))

    def _boundary(self, alpha: float) -> dict:
        position = int(self.rng.integers(len(self.ids)))
        exact = self.keywords[int(self.rng.integers(len(self.keywords)))]
        budgets = {}
        for keyword in self.keywords:
            cost = float(self.costs[keyword][position])
            budgets[keyword] = cost if keyword == exact else _round_budget(keyword, cost * max(self._scale(), 1.0), up=True)
        return {"kind": "boundary", "alpha": alpha, "budgets": budgets, "reference_arch_id": int(self.ids[position])}

    def _infeasible(self, alpha: float) -> dict:
        below = [keyword for keyword in self.keywords if np.nanmin(self.costs[keyword]) > 0]
        if not below:
            raise ValueError(
                f"cannot draw infeasible queries on {self.name!r}: the cheapest entry costs 0 in every budget "
                f"({', '.join(self.keywords)}), so no budget lies below it; pass infeasible_fraction=0"
            )
        chosen = below[int(self.rng.integers(len(below)))]
        budgets = {keyword: self._random_budget(keyword) for keyword in self.keywords}
        cheapest = float(np.nanmin(self.costs[chosen]))
        limit = _round_budget(chosen, cheapest * float(self.rng.uniform(0.5, 0.95)), up=False)
        if limit >= cheapest:
            limit = _step_below(chosen, cheapest)
        budgets[chosen] = limit
        return {"kind": "infeasible", "alpha": alpha, "budgets": budgets, "reference_arch_id": None}


def _draw_queries(drawer: _QueryDrawer, solver: ExactSolver, kinds: list[str]) -> list[dict]:
    """Draw and label one query per entry of ``kinds``, redrawing duplicate prompts and infeasible random queries."""
    prompts: set[str] = set()
    labelled: list[dict] = []
    for index, kind in enumerate(kinds):
        for _attempt in range(MAX_DRAWS_PER_QUERY):
            query = drawer.draw(kind)
            query["prompt"] = format_prompt(drawer.name, query["alpha"], query["budgets"])
            if query["prompt"] in prompts:
                continue
            _label(query, solver)
            if kind != "random" or query["arch_id"] is not None:
                break
        else:
            raise ValueError(
                f"{MAX_DRAWS_PER_QUERY} draws in a row for {kind} query {index} of {len(kinds)} on {drawer.name!r} "
                "gave only duplicate prompts or infeasible budgets; the dataset has too few entries with task "
                f"metrics for {len(kinds)} distinct queries, so ask for fewer"
            )
        prompts.add(query["prompt"])
        labelled.append(query)
    return labelled


def _label(query: dict, solver: ExactSolver) -> None:
    """Add the solver's top-1 ``arch_id`` (None when infeasible) and the feasible count to ``query``."""
    try:
        ranked, num_feasible = solver.rank(query["budgets"], query["alpha"], 1)
    except InfeasibleQueryError:
        ranked, num_feasible = [], 0
    query["arch_id"] = ranked[0][0] if ranked else None
    query["num_feasible"] = num_feasible


def _example(query: dict, example_id: str, split: str, table: MetricTable) -> CorpusExample:
    arch_id = query["arch_id"]
    return CorpusExample(
        id=example_id,
        split=split,
        kind=query["kind"],
        dataset=table.name,
        alpha=query["alpha"],
        budgets=query["budgets"],
        prompt=query["prompt"],
        answer=REFUSAL if arch_id is None else table.space.format_id(arch_id),
        arch_id=arch_id,
        feasible=arch_id is not None,
        num_feasible=query["num_feasible"],
        reference_arch_id=query["reference_arch_id"],
    )


def _kind_sequence(num_queries: int, boundary_fraction: float, infeasible_fraction: float, rng) -> list[str]:
    num_boundary = round(num_queries * boundary_fraction)
    num_infeasible = min(round(num_queries * infeasible_fraction), num_queries - num_boundary)
    kinds = ["boundary"] * num_boundary + ["infeasible"] * num_infeasible
    kinds += ["random"] * (num_queries - len(kinds))
    order = rng.permutation(num_queries)
    return [kinds[position] for position in order]


def _assign_splits(kinds: list[str], valid_fraction: float, test_fraction: float, rng) -> list[str]:
    splits = ["train"] * len(kinds)
    for kind in KINDS:
        members = [index for index, other in enumerate(kinds) if other == kind]
        shuffled = [members[position] for position in rng.permutation(len(members))]
        num_valid = round(len(members) * valid_fraction)
        num_test = round(len(members) * test_fraction)
        for index in shuffled[:num_valid]:
            splits[index] = "valid"
        for index in shuffled[num_valid : num_valid + num_test]:
            splits[index] = "test"
    return splits


def _choose_keywords(table: MetricTable, solver: ExactSolver, requested: Sequence[str] | None) -> tuple[str, ...]:
    if requested is None:
        keywords = [keyword for keyword in DEFAULT_BUDGET_KEYWORDS if _has_values(table, solver, keyword)]
        dropped = sorted(set(DEFAULT_BUDGET_KEYWORDS) - set(keywords))
        if dropped:
            logger.info("dataset %s has no values for %s; queries leave those budgets out", table.name, dropped)
        return tuple(keywords)

    keywords = tuple(dict.fromkeys(requested))
    for keyword in keywords:
        budget_metric(keyword)
        if not _has_values(table, solver, keyword):
            raise MissingMetricsError(
                f"budget {keyword!r} bounds {budget_metric(keyword)}, which some entries with task metrics of "
                f"{table.name!r} lack, so drawn budgets would not come from every entry; leave {keyword!r} out of "
                "budget_keywords"
            )
    return keywords


def _has_values(table: MetricTable, solver: ExactSolver, keyword: str) -> bool:
    return bool(np.isfinite(table.scalar(budget_metric(keyword))[solver.ids]).all())


def _check_arguments(num_queries, boundary_fraction, infeasible_fraction, budget_scale, valid_fraction, test_fraction):
    if isinstance(num_queries, bool) or not isinstance(num_queries, int) or num_queries < 1:
        raise ValueError(f"num_queries {num_queries!r} is invalid; ask for a positive whole number of queries")
    for name, value in (
        ("boundary_fraction", boundary_fraction),
        ("infeasible_fraction", infeasible_fraction),
        ("valid_fraction", valid_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} {value!r} is outside [0, 1]; pass a share of the queries")
    if boundary_fraction + infeasible_fraction > 1.0:
        raise ValueError(
            f"boundary_fraction {boundary_fraction} and infeasible_fraction {infeasible_fraction} add up to more "
            "than 1; lower one of them"
        )
    if valid_fraction + test_fraction > 1.0:
        raise ValueError(
            f"valid_fraction {valid_fraction} and test_fraction {test_fraction} add up to more than 1; lower one of them"
        )
    low, high = budget_scale
    if not 0.0 < low <= high or not math.isfinite(high):
        raise ValueError(f"budget_scale {budget_scale!r} is invalid; pass (low, high) with 0 < low <= high")


def _round_budget(keyword: str, value: float, *, up: bool) -> float:
    """Round a drawn budget to whole units (parameters, FLOPs) or :data:`TIME_DECIMALS` (seconds).

    Rounding up never makes the budget smaller than ``value``, and rounding
    down never makes it larger, despite binary floating point.
    """
    factor = 1 if keyword in ("max_params", "max_flops") else 10**TIME_DECIMALS
    steps = math.ceil(value * factor) if up else math.floor(value * factor)
    rounded = steps / factor
    if up and rounded < value:
        rounded = (steps + 1) / factor
    if not up and rounded > value:
        rounded = (steps - 1) / factor
    return float(max(rounded, 0.0))


def _step_below(keyword: str, cheapest: float) -> float:
    step = 1.0 if keyword in ("max_params", "max_flops") else 10.0**-TIME_DECIMALS
    return _round_budget(keyword, max(cheapest - step, 0.0), up=False)


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
