"""Language-model backend, model-independent part: training corpus, GBNF grammars and evaluation.

Usage::

    >>> from kanbench import KANBench
    >>> from kanbench.lm import build_corpus, write_corpus, architecture_grammar, evaluate
    >>> bench = KANBench("cifar10.h5")
    >>> corpus = build_corpus(bench, "cifar10", num_queries=20_000, seed=0)
    >>> write_corpus(corpus, "corpus/cifar10")
    >>> grammar_text = architecture_grammar("cifar10")

Nothing here imports llama-cpp-python, transformers or torch; only
:func:`~kanbench.lm.grammar.llama_grammar` imports llama-cpp-python, when it
is called. Model training, GGUF export and ``generate(backend="lm")`` do not
exist yet (see docs/language-model.md).
"""

from kanbench.lm.corpus import (
    Corpus,
    CorpusExample,
    CorpusFormatError,
    CorpusMetadata,
    build_corpus,
    read_corpus,
    read_jsonl,
    write_corpus,
    write_jsonl,
)
from kanbench.lm.evaluate import CorpusMismatchError, EvaluationReport, QueryOutcome, evaluate
from kanbench.lm.grammar import architecture_grammar, candidates_grammar, llama_grammar
from kanbench.lm.prompt import PROMPT_TEMPLATE, REFUSAL, TEMPLATE_VERSION, format_number, format_prompt

__all__ = [
    "PROMPT_TEMPLATE",
    "REFUSAL",
    "TEMPLATE_VERSION",
    "Corpus",
    "CorpusExample",
    "CorpusFormatError",
    "CorpusMetadata",
    "CorpusMismatchError",
    "EvaluationReport",
    "QueryOutcome",
    "architecture_grammar",
    "build_corpus",
    "candidates_grammar",
    "evaluate",
    "format_number",
    "format_prompt",
    "llama_grammar",
    "read_corpus",
    "read_jsonl",
    "write_corpus",
    "write_jsonl",
]
