"""Language-model backend: corpus, tokenizer, small model, fine-tuning, GGUF export, decoding, evaluation.

Usage::

    >>> from kanbench import KANBench
    >>> from kanbench.lm import build_corpus, write_corpus, read_corpus, evaluate_model
    >>> bench = KANBench()
    >>> write_corpus(build_corpus(bench, "digits", num_queries=30_000, seed=0), "corpus/digits")
    >>> bench.generate(max_params=20_000, alpha=0.5, backend="lm")     # the bundled digits model
    >>> evaluate_model(bench, "digits", corpus_dir="corpus/digits").exact_match

The modules by step: :mod:`~kanbench.lm.corpus` (labelled queries),
:mod:`~kanbench.lm.tokenizer` and :mod:`~kanbench.lm.small_model` (our
small Llama model), :mod:`~kanbench.lm.finetune` (LoRA on Mistral or any
Llama-family model), :mod:`~kanbench.lm.export` (GGUF, quantisation,
adapter merging), :mod:`~kanbench.lm.backend` and
:mod:`~kanbench.lm.resolve` (running a GGUF model with llama-cpp-python and
finding its file), :mod:`~kanbench.lm.grammar` (GBNF) and
:mod:`~kanbench.lm.evaluate` (metrics against the exact solver).

Importing this package loads none of torch, transformers or
llama-cpp-python; the modules that need them import them when called.
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
from kanbench.lm.evaluate import CorpusMismatchError, EvaluationReport, QueryOutcome, evaluate, evaluate_model
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
    "evaluate_model",
    "format_number",
    "format_prompt",
    "llama_grammar",
    "read_corpus",
    "read_jsonl",
    "write_corpus",
    "write_jsonl",
]
