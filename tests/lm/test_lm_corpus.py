"""Corpus building, splitting and JSON-lines files, on the hand-made digits archive and the CIFAR-10 table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kanbench import KANBench
from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.errors import InfeasibleQueryError, MissingMetricsError
from kanbench.lm import corpus as corpus_module
from kanbench.lm.corpus import (
    Corpus,
    CorpusExample,
    CorpusFormatError,
    build_corpus,
    check_splits,
    read_corpus,
    read_jsonl,
    write_corpus,
    write_jsonl,
)
from kanbench.lm.prompt import REFUSAL, TEMPLATE_VERSION, format_number, format_prompt
from kanbench.space import SearchSpace

DIGITS_SPACE = SearchSpace.for_dataset("digits")


@pytest.fixture(scope="module")
def digits_corpus(digits_bench):
    return build_corpus(digits_bench, "digits", num_queries=200, seed=7)


def costs_of(bench, dataset: str, arch_id: int) -> dict[str, float]:
    record = bench.query(arch_id, dataset=dataset)
    return {"max_params": record.num_params, "max_flops": record.num_flops, "max_train_time": record.train_time_sec}


def test_corpus_size_and_kinds(digits_corpus):
    kinds = [example.kind for example in digits_corpus]
    assert len(digits_corpus) == 200
    assert kinds.count("boundary") == 20
    assert kinds.count("infeasible") == 20
    assert kinds.count("random") == 160


def test_corpus_same_seed_same_examples(digits_bench, digits_corpus):
    again = build_corpus(digits_bench, "digits", num_queries=200, seed=7)
    assert [example.to_dict() for example in again] == [example.to_dict() for example in digits_corpus]
    assert again.metadata == digits_corpus.metadata


def test_corpus_other_seed_differs(digits_bench, digits_corpus):
    other = build_corpus(digits_bench, "digits", num_queries=200, seed=8)
    assert [e.prompt for e in other] != [e.prompt for e in digits_corpus]


def test_corpus_answers_match_generate(digits_bench, digits_corpus):
    for example in digits_corpus:
        if example.feasible:
            result = digits_bench.generate(**example.budgets, alpha=example.alpha, dataset="digits")
            assert example.answer == result.architecture, example.id
            assert example.arch_id == result.arch_id, example.id
            assert example.num_feasible == result.num_feasible, example.id
        else:
            with pytest.raises(InfeasibleQueryError):
                digits_bench.generate(**example.budgets, alpha=example.alpha, dataset="digits")


def test_corpus_answers_in_table(digits_corpus, digits_entries):
    answered = {example.arch_id for example in digits_corpus if example.feasible}
    assert answered <= set(digits_entries)
    assert len(answered) >= 3


def test_corpus_refusals_only_infeasible(digits_corpus):
    for example in digits_corpus:
        assert example.feasible == (example.kind != "infeasible"), example.id
        assert (example.answer == REFUSAL) == (not example.feasible), example.id
        assert (example.arch_id is None) == (not example.feasible), example.id


def test_corpus_alpha_two_decimals(digits_corpus):
    alphas = np.array([example.alpha for example in digits_corpus])
    assert alphas.min() >= 0.05
    assert alphas.max() <= 0.95
    assert np.all(np.round(alphas, 2) == alphas)


def test_corpus_states_three_budgets(digits_corpus):
    for example in digits_corpus:
        assert list(example.budgets) == ["max_params", "max_flops", "max_train_time"], example.id


def test_corpus_prompt_matches_template(digits_corpus):
    for example in digits_corpus:
        assert example.prompt == format_prompt("digits", example.alpha, example.budgets), example.id


def test_corpus_prompt_numbers_exact(digits_corpus):
    for example in digits_corpus:
        for limit in example.budgets.values():
            written = format_number(limit)
            assert f"at most {written} " in example.prompt, example.id
            assert float(written) == limit, example.id


def test_boundary_reference_feasible(digits_bench, digits_corpus, digits_entries):
    boundary = [example for example in digits_corpus if example.kind == "boundary"]
    assert boundary
    for example in boundary:
        costs = costs_of(digits_bench, "digits", example.reference_arch_id)
        assert example.reference_arch_id in digits_entries, example.id
        assert all(costs[k] <= limit for k, limit in example.budgets.items()), example.id
        assert any(costs[k] == limit for k, limit in example.budgets.items()), example.id
        assert example.num_feasible >= 1, example.id


def test_boundary_exact_time_budget(digits_bench, digits_entries):
    corpus = build_corpus(
        digits_bench, "digits", num_queries=60, seed=3, budget_keywords=["max_train_time"], boundary_fraction=1.0,
        infeasible_fraction=0.0,
    )
    times = {seconds for _accuracy, seconds in digits_entries.values()}
    assert {example.budgets["max_train_time"] for example in corpus} <= times


def test_infeasible_budget_below_cheapest(digits_bench, digits_corpus, digits_entries):
    cheapest = {
        keyword: min(costs_of(digits_bench, "digits", arch_id)[keyword] for arch_id in digits_entries)
        for keyword in ("max_params", "max_flops", "max_train_time")
    }
    infeasible = [example for example in digits_corpus if example.kind == "infeasible"]
    assert infeasible
    for example in infeasible:
        below = [k for k, limit in example.budgets.items() if limit < cheapest[k]]
        assert below, example.id
        assert example.num_feasible == 0, example.id


def test_corpus_prompts_distinct(digits_corpus):
    prompts = [example.prompt for example in digits_corpus]
    assert len(set(prompts)) == len(prompts)


def test_corpus_split_counts(digits_corpus):
    counts = {split: len(digits_corpus.split(split)) for split in ("train", "valid", "test")}
    assert counts == {"train": 160, "valid": 20, "test": 20}


def test_every_split_has_every_kind(digits_corpus):
    for split in ("train", "valid", "test"):
        kinds = {example.kind for example in digits_corpus.split(split)}
        assert kinds == {"random", "boundary", "infeasible"}, split


def test_corpus_ids_in_order(digits_corpus):
    assert [example.id for example in digits_corpus] == [f"digits-{i:06d}" for i in range(200)]


def test_corpus_metadata(digits_bench, digits_archive, digits_corpus):
    metadata = digits_corpus.metadata
    assert metadata.dataset == "digits"
    assert metadata.archive_path == str(digits_archive)
    assert metadata.content_sha256 == digits_bench.archive.dataset("digits").content_sha256
    assert metadata.seed == 7
    assert metadata.num_queries == 200
    assert metadata.template_version == TEMPLATE_VERSION
    assert metadata.refusal == REFUSAL


def test_write_read_round_trip(digits_corpus, tmp_path):
    write_corpus(digits_corpus, tmp_path)
    loaded = read_corpus(tmp_path)
    assert [example.to_dict() for example in loaded] == [example.to_dict() for example in digits_corpus]
    assert loaded.metadata == digits_corpus.metadata


def test_same_seed_same_files(digits_bench, digits_corpus, tmp_path):
    again = build_corpus(digits_bench, "digits", num_queries=200, seed=7)
    write_corpus(digits_corpus, tmp_path / "first")
    write_corpus(again, tmp_path / "second")
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "manifest.json"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name


def test_write_leaves_only_corpus_files(digits_corpus, tmp_path):
    write_corpus(digits_corpus, tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["manifest.json", "test.jsonl", "train.jsonl", "valid.jsonl"]


def test_manifest_contents(digits_bench, digits_archive, digits_corpus, tmp_path):
    manifest = json.loads(write_corpus(digits_corpus, tmp_path).read_text())
    assert manifest["format"] == "kanbench-lm-corpus"
    assert manifest["archive_path"] == str(digits_archive)
    assert manifest["content_sha256"] == digits_bench.archive.dataset("digits").content_sha256
    assert manifest["seed"] == 7
    assert manifest["template_version"] == TEMPLATE_VERSION
    assert manifest["counts"] == {"train": 160, "valid": 20, "test": 20}
    assert manifest["kinds"]["test"] == {"random": 16, "boundary": 2, "infeasible": 2}
    assert manifest["files"]["test.jsonl"]["examples"] == 20
    assert len(manifest["files"]["test.jsonl"]["sha256"]) == 64


def test_jsonl_lines_are_examples(digits_corpus, tmp_path):
    write_corpus(digits_corpus, tmp_path)
    lines = (tmp_path / "valid.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 20
    assert first["split"] == "valid"
    assert set(first) >= {"id", "prompt", "answer", "alpha", "budgets", "kind", "feasible"}
    assert isinstance(first["budgets"]["max_params"], int)


def test_read_detects_modified_file(digits_corpus, tmp_path):
    write_corpus(digits_corpus, tmp_path)
    path = tmp_path / "test.jsonl"
    path.write_text(path.read_text().replace("digits", "mnist", 1))
    with pytest.raises(CorpusFormatError, match="test.jsonl does not match its SHA-256"):
        read_corpus(tmp_path)


def test_read_without_manifest(tmp_path):
    with pytest.raises(CorpusFormatError, match="manifest.json not found"):
        read_corpus(tmp_path)


def test_read_jsonl_bad_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": "x"\n')
    with pytest.raises(CorpusFormatError, match="line 1"):
        read_jsonl(path)


def test_read_jsonl_missing_field(tmp_path):
    path = tmp_path / "partial.jsonl"
    path.write_text('{"id": "x", "split": "train"}\n')
    with pytest.raises(CorpusFormatError, match="'x'"):
        read_jsonl(path)


def test_write_jsonl_replaces_file(digits_corpus, tmp_path):
    path = tmp_path / "part.jsonl"
    path.write_text("old content\n")
    write_jsonl(path, digits_corpus[:3])
    assert [example.id for example in read_jsonl(path)] == [example.id for example in digits_corpus[:3]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part.jsonl"]


def test_write_needs_metadata(digits_corpus, tmp_path):
    with pytest.raises(ValueError, match="metadata"):
        write_corpus(list(digits_corpus), tmp_path)


def test_shared_prompt_across_splits_rejected(digits_corpus):
    first = digits_corpus[0]
    copy = CorpusExample(**{**first.to_dict(), "id": "copy", "split": "test" if first.split != "test" else "train"})
    with pytest.raises(ValueError, match="occurs in splits"):
        check_splits([first, copy])


def test_duplicate_id_rejected(digits_corpus):
    with pytest.raises(ValueError, match="occurs twice"):
        check_splits([digits_corpus[0], digits_corpus[0]])


def test_corpus_split_unknown_name(digits_corpus):
    with pytest.raises(ValueError, match="holdout"):
        digits_corpus.split("holdout")


def test_too_many_queries_rejected(digits_bench, monkeypatch):
    monkeypatch.setattr(corpus_module, "MAX_DRAWS_PER_QUERY", 30)
    with pytest.raises(ValueError, match="ask for fewer"):
        build_corpus(
            digits_bench, "digits", num_queries=2_000, seed=0, budget_keywords=["max_params"], budget_scale=(1.0, 1.0),
            boundary_fraction=0.0, infeasible_fraction=0.0,
        )


def test_epoch_time_budget_needs_values(digits_bench):
    with pytest.raises(MissingMetricsError, match="max_epoch_time"):
        build_corpus(digits_bench, "digits", num_queries=5, seed=0, budget_keywords=["max_epoch_time"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_queries": 0}, "num_queries 0"),
        ({"boundary_fraction": 0.6, "infeasible_fraction": 0.6}, "add up to more than 1"),
        ({"valid_fraction": -0.1}, "valid_fraction -0.1"),
        ({"budget_scale": (2.0, 1.0)}, "budget_scale"),
    ],
)
def test_invalid_arguments_rejected(digits_bench, options, message):
    arguments = {"num_queries": 10, "seed": 0, **options}
    with pytest.raises(ValueError, match=message):
        build_corpus(digits_bench, "digits", **arguments)


def test_corpus_is_a_list(digits_corpus):
    assert isinstance(digits_corpus, Corpus)
    assert isinstance(digits_corpus, list)


@pytest.fixture(scope="module")
def cifar10_corpus(bench_cifar10):
    return build_corpus(bench_cifar10, "cifar10", num_queries=300, seed=0)


def test_cifar10_answers_match_generate(bench_cifar10, cifar10_corpus):
    for example in cifar10_corpus:
        if example.feasible:
            result = bench_cifar10.generate(**example.budgets, alpha=example.alpha, dataset="cifar10")
            assert example.answer == result.architecture, example.id
        else:
            with pytest.raises(InfeasibleQueryError):
                bench_cifar10.generate(**example.budgets, alpha=example.alpha, dataset="cifar10")


def test_cifar10_boundary_entries_feasible(bench_cifar10, cifar10_corpus):
    for example in cifar10_corpus:
        if example.kind == "boundary":
            costs = costs_of(bench_cifar10, "cifar10", example.reference_arch_id)
            assert all(costs[k] <= limit for k, limit in example.budgets.items()), example.id
            assert any(costs[k] == limit for k, limit in example.budgets.items()), example.id


def test_cifar10_answers_vary(cifar10_corpus):
    answers = {example.answer for example in cifar10_corpus if example.feasible}
    assert len(answers) >= 20


def test_no_train_times_drops_budget(tmp_path, digits_entries):
    accuracy = np.full((len(DIGITS_SPACE), 1), np.nan)
    for arch_id, (test_accuracy, _seconds) in digits_entries.items():
        accuracy[arch_id, 0] = test_accuracy
    table = DatasetTable(
        name="digits", seeds=(0,), provenance={"test_accuracy": "imported:hand-set"}, metrics={"test_accuracy": accuracy}
    )
    path = write_archive(tmp_path / "untimed.h5", [table], archive_version="test")

    with KANBench(path) as bench:
        corpus = build_corpus(bench, "digits", num_queries=20, seed=0)
    assert corpus.metadata.settings["budget_keywords"] == ["max_params", "max_flops"]
    assert all(list(example.budgets) == ["max_params", "max_flops"] for example in corpus)
    assert all("seconds" not in example.prompt for example in corpus)
