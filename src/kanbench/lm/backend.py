"""A GGUF model run with llama-cpp-python, answering one query at a time under a grammar.

Usage::

    >>> from kanbench.lm.backend import LlamaCppModel
    >>> from kanbench.lm.grammar import architecture_grammar
    >>> model = LlamaCppModel("digits-small.gguf")
    >>> completion = model.complete(prompt, architecture_grammar("digits", allow_refusal=True))
    >>> completion.text, completion.finish_reason

Decoding is greedy (temperature 0), so an answer depends only on the model,
the prompt and the grammar. The prompt is wrapped in the chat format stored
in the file (``kanbench.chat_format``). A completion that stopped for any
reason but the end-of-sequence token is marked ``truncated`` and must not be
accepted as an answer. llama-cpp-python keeps the evaluated tokens of the
previous call and reuses the longest shared prefix, so the fixed opening of
the prompt is read once.

Needs ``kanbench[llm]`` (llama-cpp-python).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kanbench.lm.dependencies import import_optional
from kanbench.lm.formats import ChatFormat, get_format
from kanbench.lm.grammar import llama_grammar

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 96
"""Enough for a depth-7 string in any tokenizer kanbench trains (about 30 tokens) or Mistral's (about 80)."""

ANSWER_RULE = "kanbench-answer"


RANKED = "ranked"
"""``finish_reason`` of an answer chosen by :meth:`LlamaCppModel.rank`, which is complete by construction."""


@dataclass(frozen=True, slots=True)
class Completion:
    """The text a model produced, why it stopped, and how long it took (seconds).

    ``finish_reason`` is llama-cpp-python's (``"stop"`` after the
    end-of-sequence token, ``"length"`` at ``max_tokens``), or
    :data:`RANKED` for a candidate chosen by likelihood, whose
    ``log_likelihood`` (natural log) is then set.
    """

    text: str
    finish_reason: str
    num_tokens: int
    seconds: float
    log_likelihood: float | None = None

    @property
    def truncated(self) -> bool:
        """True unless the model ended with its end-of-sequence token or the answer was ranked."""
        return self.finish_reason not in ("stop", RANKED)


class LlamaCppModel:
    """A GGUF language model loaded with ``llama_cpp.Llama``.

    Args:
        path: the GGUF file.
        chat_format: the format to prompt with; the file's
            ``kanbench.chat_format`` when omitted.
        n_threads: CPU threads. One is the default: on tiny models more
            threads add scheduling stalls rather than speed.
        n_ctx: context length in tokens (prompt plus answer).
        n_gpu_layers: layers to offload to a GPU build of llama.cpp.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be loaded, or it names no chat format
            and none is given.
        ImportError: llama-cpp-python is not installed.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        chat_format: str | None = None,
        n_threads: int = 1,
        n_ctx: int = 512,
        n_gpu_layers: int = 0,
    ):
        Llama = _import_llama()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"model file {str(self.path)!r} does not exist")
        try:
            self.llm = Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_gpu_layers=n_gpu_layers,
                logits_all=True,
                seed=0,
                verbose=False,
            )
        except ValueError as error:
            raise ValueError(
                f"llama.cpp could not load {str(self.path)!r} ({error}); check that it is a GGUF file of a "
                "supported architecture, and rerun with verbose logging from llama_cpp.Llama for the reason"
            ) from error
        self.metadata = dict(self.llm.metadata)
        self.chat = self._chat_format(chat_format)
        self._candidate_tokens: dict[str, list[int]] = {}

    @property
    def dataset(self) -> str | None:
        """Dataset the model was trained for (``kanbench.dataset``), or None when the file does not record it."""
        return self.metadata.get("kanbench.dataset")

    def complete(self, prompt: str, grammar_text: str, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> Completion:
        """Answer ``prompt`` greedily under a GBNF grammar.

        A fresh ``LlamaGrammar`` is made from ``grammar_text`` for this call.
        The grammar may be preceded by one space, which the answer keeps out.

        Raises:
            ValueError: llama.cpp cannot parse the grammar.
        """
        wrapped = _allow_leading_space(grammar_text)
        self._check_grammar(wrapped)
        grammar = llama_grammar(wrapped)
        started = time.perf_counter()
        output = self.llm.create_completion(
            self.chat.prefix(prompt),
            max_tokens=max_tokens,
            temperature=0.0,
            top_k=1,
            grammar=grammar,
        )
        seconds = time.perf_counter() - started
        choice = output["choices"][0]
        return Completion(
            text=choice["text"].strip(),
            finish_reason=choice["finish_reason"] or "unknown",
            num_tokens=int(output["usage"]["completion_tokens"]),
            seconds=seconds,
        )

    def rank(self, prompt: str, candidates: Sequence[str]) -> Completion:
        """Choose the candidate the model finds most likely as the answer to ``prompt``.

        The score of a candidate is the sum of its tokens' log-probabilities
        after the prompt. The end-of-sequence token after it is left out,
        because every candidate is a whole answer. The search walks the
        token trie of the candidates depth first, most likely branch first,
        and skips a branch once its partial score falls below the best
        complete candidate, so the result is the exact maximum while only a
        few branches are evaluated. Ties keep the candidate found first.

        Raises:
            ValueError: ``candidates`` is empty.
        """
        if not candidates:
            raise ValueError("no candidates to rank; return the refusal instead of calling the model")
        started = time.perf_counter()
        prompt_length = self._evaluate_prompt(self.chat.prefix(prompt))
        trie = self._token_trie(candidates)

        best = _Best()
        self._search(trie, prompt_length, 0.0, best)
        return Completion(
            text=best.text,
            finish_reason=RANKED,
            num_tokens=len(self._candidate_tokens[best.text]),
            seconds=time.perf_counter() - started,
            log_likelihood=best.log_likelihood,
        )

    def _evaluate_prompt(self, text: str) -> int:
        """Evaluate the prompt's tokens, reusing the cached ones it shares with the last call; return its length."""
        tokens = self.llm.tokenize(text.encode(), add_bos=True, special=True)
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        shared = 0
        for cached_token, token in zip(cached, tokens):
            if cached_token != token:
                break
            shared += 1
        # The last prompt token is evaluated again so that its logits are fresh.
        self.llm.n_tokens = min(shared, len(tokens) - 1)
        self.llm.eval(tokens[self.llm.n_tokens :])
        return len(tokens)

    def _token_trie(self, candidates: Sequence[str]) -> dict:
        # NOTE: candidates are tokenized on their own. kanbench's tokenizers end the prompt on a token
        # boundary, but a tokenizer that merges the prompt's last characters with an answer's first ones
        # (or adds a space prefix, as Mistral's does) scores tokens the model would not quite generate.
        trie: dict = {}
        for text in candidates:
            tokens = self._candidate_tokens.get(text)
            if tokens is None:
                tokens = self._candidate_tokens[text] = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            node = trie
            for token in tokens:
                node = node.setdefault(token, {})
            node[_END] = text
        return trie

    def _search(self, node: dict, position: int, score: float, best: _Best) -> None:
        """Extend ``best`` with the candidates below ``node``, whose tokens start at ``position``."""
        log_probs = _log_softmax(self.llm.scores[position - 1])
        branches = sorted(
            ((score + float(log_probs[token]), token, child) for token, child in node.items() if token is not _END),
            key=lambda branch: -branch[0],
        )
        for branch_score, token, child in branches:
            if branch_score <= best.log_likelihood:
                break
            chain, child = _single_path(token, child)
            if chain[1:] or set(child) - {_END}:
                self.llm.n_tokens = position
                self.llm.eval(chain)
                for offset, next_token in enumerate(chain[1:]):
                    branch_score += float(_log_softmax(self.llm.scores[position + offset])[next_token])
            if branch_score <= best.log_likelihood:
                continue
            if _END in child:
                best.update(child[_END], branch_score)
            if set(child) - {_END}:
                self._search(child, position + len(chain), branch_score, best)

    def _check_grammar(self, text: str) -> None:
        # llama-cpp-python parses the grammar only inside the completion, where
        # a parse failure ends the process; parse it here first.
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(llama_cpp.llama_model_get_vocab(self.llm.model), text.encode(), b"root")
        if not sampler:
            raise ValueError("llama.cpp cannot parse the grammar (its reason is on stderr); check the GBNF text")
        llama_cpp.llama_sampler_free(sampler)

    def close(self) -> None:
        """Free the model's memory."""
        self.llm.close()

    def _chat_format(self, name: str | None) -> ChatFormat:
        stored = self.metadata.get("kanbench.chat_format")
        if name is None and stored is None:
            raise ValueError(
                f"{str(self.path)!r} does not say which chat format it was trained with (no kanbench.chat_format "
                "key); pass chat_format='plain' or 'mistral-inst'"
            )
        if name is not None and stored is not None and name != stored:
            logger.warning("%s was trained with chat format %r; prompting with %r as asked", self.path, stored, name)
        return get_format(name or stored)


_END = object()
"""Key of a token-trie node that ends a candidate; its value is the candidate's text."""


class _Best:
    """The best complete candidate found so far by :meth:`LlamaCppModel.rank`."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.log_likelihood = -math.inf

    def update(self, text: str, log_likelihood: float) -> None:
        if log_likelihood > self.log_likelihood:
            self.text, self.log_likelihood = text, log_likelihood


def _single_path(token: int, child: dict) -> tuple[list[int], dict]:
    """Follow nodes with one child and no candidate end, so a run of forced tokens is evaluated at once."""
    chain = [token]
    while len(child) == 1 and _END not in child:
        (token, child), = child.items()
        chain.append(token)
    return chain, child


def _log_softmax(logits) -> np.ndarray:
    values = np.asarray(logits, dtype=np.float64)
    shifted = values - values.max()
    return shifted - np.log(np.exp(shifted).sum())


def _allow_leading_space(grammar_text: str) -> str:
    """Rename the root rule and accept one optional space before it, as chat formats ending in ']' produce."""
    lines = grammar_text.splitlines()
    renamed = [f"{ANSWER_RULE} ::= " + line[len("root ::= ") :] if line.startswith("root ::= ") else line for line in lines]
    return "\n".join([f'root ::= " "? {ANSWER_RULE}', *renamed]) + "\n"


def _import_llama():
    llama_cpp = import_optional(
        "llama_cpp",
        purpose="running a language model",
        package="llama-cpp-python",
        install="pip install 'kanbench[llm]' (it compiles llama.cpp, which takes a few minutes)",
    )
    return llama_cpp.Llama
