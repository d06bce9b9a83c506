"""GBNF grammars, checked with a reference matcher for the emitted subset (llama.cpp is not needed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from gbnf_subset import GrammarSubsetError, accepts, language, parse_grammar

from kanbench.lm.grammar import architecture_grammar, candidates_grammar, llama_grammar
from kanbench.lm.prompt import REFUSAL
from kanbench.space import DATASETS, SearchSpace

VALID_CIFAR10 = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)"


@pytest.fixture(scope="module")
def rules_by_dataset():
    return {name: parse_grammar(architecture_grammar(name)) for name in DATASETS}


def canonical_strings(dataset: str) -> list[str]:
    space = SearchSpace.for_dataset(dataset)
    return [space.format_id(arch_id) for arch_id in range(len(space))]


def test_digits_accepts_every_architecture(rules_by_dataset):
    strings = canonical_strings("digits")
    assert len(strings) == 7_020
    rejected = [text for text in strings if not accepts(rules_by_dataset["digits"], text)]
    assert rejected == []


@pytest.mark.parametrize("dataset", [name for name in DATASETS if name != "digits"])
def test_sample_accepted_per_dataset(rules_by_dataset, dataset):
    strings = canonical_strings(dataset)
    chosen = np.random.default_rng(0).choice(len(strings), size=2_000, replace=False)
    rejected = [strings[i] for i in chosen if not accepts(rules_by_dataset[dataset], strings[i])]
    assert rejected == []


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_language_equals_search_space(rules_by_dataset, dataset):
    assert language(rules_by_dataset[dataset]) == set(canonical_strings(dataset))


@pytest.mark.parametrize(
    "text",
    [
        "Conv2d(k=5,p=1) -> Conv2d(k=3,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        " -> ".join(["Conv2d(k=7,p=0)"] * 7) + " -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=7,act=SiLU)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=6,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=Tanh)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=silu)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SILU)",
        "Conv2d(k=3, p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1)  -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1)->Conv2d(k=5,p=1)->KAN(order=4,grid=8,act=SiLU)",
        " " + VALID_CIFAR10,
        VALID_CIFAR10 + " ",
        VALID_CIFAR10 + "\n",
        "conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=2,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=2) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1) -> KAN(order=4,grid=8,act=SiLU)",
        " -> ".join(["Conv2d(k=1,p=1)"] * 8) + " -> KAN(order=4,grid=8,act=SiLU)",
        "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1)",
        "31.51.48S",
        REFUSAL,
        "",
    ],
)
def test_cifar10_rejects_invalid_string(rules_by_dataset, text):
    assert not accepts(rules_by_dataset["cifar10"], text)


def test_valid_cifar10_string_accepted(rules_by_dataset):
    assert accepts(rules_by_dataset["cifar10"], VALID_CIFAR10)


def test_depth_seven_k7_invalid_everywhere(rules_by_dataset):
    text = " -> ".join(["Conv2d(k=7,p=0)"] * 7) + " -> KAN(order=2,grid=5,act=ReLU)"
    for dataset in DATASETS:
        assert not accepts(rules_by_dataset[dataset], text), dataset


def test_spatial_rule_depends_on_dataset(rules_by_dataset):
    text = "Conv2d(k=5,p=0) -> Conv2d(k=5,p=0) -> KAN(order=2,grid=5,act=ReLU)"
    assert accepts(rules_by_dataset["cifar10"], text)
    assert not accepts(rules_by_dataset["digits"], text)


def test_depth_eight_rejected_on_stl10(rules_by_dataset):
    text = " -> ".join(["Conv2d(k=1,p=1)"] * 8) + " -> KAN(order=2,grid=5,act=ReLU)"
    shorter = " -> ".join(["Conv2d(k=1,p=1)"] * 7) + " -> KAN(order=2,grid=5,act=ReLU)"
    assert accepts(rules_by_dataset["stl10"], shorter)
    assert not accepts(rules_by_dataset["stl10"], text)


def test_dead_prefixes_left_out():
    # On 8x8 inputs a first kernel of 5 or 7 leaves no room for a second conv block.
    text = architecture_grammar("digits")
    assert "k=5" not in text.splitlines()[0]
    assert "k=7" not in text


def test_refusal_accepted_when_allowed():
    rules = parse_grammar(architecture_grammar("digits", allow_refusal=True))
    assert accepts(rules, REFUSAL)
    assert language(rules) == set(canonical_strings("digits")) | {REFUSAL}


def test_grammar_rule_names_llama_safe():
    for dataset in DATASETS:
        for line in architecture_grammar(dataset).splitlines():
            name = line.split(" ::= ")[0]
            assert name.replace("-", "").isalnum(), line


def test_grammar_is_small():
    assert len(architecture_grammar("stl10").splitlines()) < 100
    assert len(architecture_grammar("stl10")) < 20_000


def test_subset_parser_rejects_repetition():
    with pytest.raises(GrammarSubsetError, match="unexpected"):
        parse_grammar('root ::= "a"*')


def test_subset_parser_rejects_undefined_rule():
    with pytest.raises(GrammarSubsetError, match="undefined rule 'tail'"):
        parse_grammar('root ::= "a" tail')


def test_candidates_language_is_the_set():
    strings = canonical_strings("digits")[::37]
    rules = parse_grammar(candidates_grammar(strings))
    assert language(rules) == set(strings)


def test_candidates_reject_near_misses():
    strings = canonical_strings("cifar10")[:120]
    rules = parse_grammar(candidates_grammar(strings))
    outside = canonical_strings("cifar10")[120]
    assert accepts(rules, strings[0])
    assert not accepts(rules, outside)
    assert not accepts(rules, strings[0][:-1])
    assert not accepts(rules, strings[0] + " ")
    assert not accepts(rules, "Conv2d(k=1,p=0) -> Conv2d(k=1,p=0)")
    assert not accepts(rules, REFUSAL)


def test_candidates_nested_prefix_strings():
    strings = ["A -> B", "A -> B -> C", "D"]
    rules = parse_grammar(candidates_grammar(strings))
    assert language(rules) == set(strings)
    assert not accepts(rules, "A")
    assert not accepts(rules, "A -> ")


def test_candidates_escape_special_characters():
    strings = ['say "hi"', "back\\slash", "line\nbreak", "[bracket]", "tab\tend", "bell\x07"]
    rules = parse_grammar(candidates_grammar(strings))
    assert language(rules) == set(strings)


def test_candidates_duplicates_ignored():
    text = candidates_grammar([VALID_CIFAR10, VALID_CIFAR10])
    assert language(parse_grammar(text)) == {VALID_CIFAR10}


def test_candidates_with_refusal():
    rules = parse_grammar(candidates_grammar([VALID_CIFAR10], allow_refusal=True))
    assert language(rules) == {VALID_CIFAR10, REFUSAL}


def test_candidates_share_equal_subtrees():
    strings = canonical_strings("cifar10")[:6_000]
    text = candidates_grammar(strings)
    assert len(text.splitlines()) <= 110
    assert len(text) < 60_000
    assert language(parse_grammar(text)) == set(strings)


def test_candidates_empty_set_rejected():
    with pytest.raises(ValueError, match="no candidate strings"):
        candidates_grammar([])


def test_candidates_empty_string_rejected():
    with pytest.raises(ValueError, match="empty"):
        candidates_grammar(["", VALID_CIFAR10])


def test_candidates_non_string_rejected():
    with pytest.raises(TypeError, match="42"):
        candidates_grammar([VALID_CIFAR10, 42])


def test_llama_grammar_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ImportError, match="pip install llama-cpp-python"):
        llama_grammar(architecture_grammar("digits"))


def test_llama_grammar_fresh_per_call():
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")
    text = architecture_grammar("digits")
    first = llama_grammar(text)
    second = llama_grammar(text)
    assert isinstance(first, llama_cpp.LlamaGrammar)
    assert first is not second


def test_import_optional_names_the_fix(monkeypatch):
    from kanbench.lm.dependencies import import_optional

    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ImportError, match=r"^GGUF export needs gguf; install it with: pip install 'kanbench\[lm-train\]'$"):
        import_optional("gguf", purpose="GGUF export", install="pip install 'kanbench[lm-train]'")
