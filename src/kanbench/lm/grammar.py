"""GBNF grammars (llama.cpp's grammar format) that constrain a model to valid architecture strings.

Usage::

    >>> from kanbench.lm.grammar import architecture_grammar, candidates_grammar, llama_grammar
    >>> text = architecture_grammar("cifar10")      # every valid canonical string of cifar10
    >>> print(text.splitlines()[0][:60])
    root ::= "Conv2d(k=1,p=0)" after1-16x16-k1 | "Conv2d(k=1,p=1)" ...
    >>> only = candidates_grammar(bench.filter("cifar10", max_params=1e5, with_task_metrics=True).architectures())
    >>> llm(prompt, grammar=llama_grammar(text))    # a fresh LlamaGrammar for every call

:func:`architecture_grammar` accepts exactly the canonical strings of a
dataset's search space. Its rules are named after the state of a partial
string: the number of conv blocks so far, the spatial size after them and
the last kernel size (the smallest allowed next). Every state a rule
reaches can still be completed to a valid architecture, so a sampler
constrained by the grammar never reaches a dead end.

:func:`candidates_grammar` accepts exactly a given set of strings. Strings
are split at ``" -> "`` into a trie of literals, and subtrees that accept
the same suffixes share one rule, so thousands of candidates stay compact.

Both emit only rule definitions, alternation ``|``, sequences, string
literals and rule references, one rule per line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from kanbench.lm.dependencies import import_optional
from kanbench.lm.prompt import REFUSAL
from kanbench.space import (
    ACTIVATIONS,
    GRID_SIZES,
    KERNEL_SIZES,
    MAX_DEPTH,
    MIN_DEPTH,
    PADDINGS,
    SPLINE_ORDERS,
    get_dataset,
)
from kanbench.space.search_space import conv_output_size

SEPARATOR = " -> "
"""Separator between the layers of a canonical architecture string."""

_HEAD_RULES = (
    'head ::= "KAN(order=" order ",grid=" grid ",act=" activation ")"',
    "order ::= " + " | ".join(f'"{order}"' for order in SPLINE_ORDERS),
    "grid ::= " + " | ".join(f'"{grid}"' for grid in GRID_SIZES),
    "activation ::= " + " | ".join(f'"{name}"' for name in ACTIVATIONS),
)


def architecture_grammar(dataset: str, *, allow_refusal: bool = False) -> str:
    """Return a GBNF grammar that accepts exactly the canonical architecture strings valid for ``dataset``.

    Valid means: kernel sizes, paddings, spline orders, grid sizes and
    activations of the search space, non-decreasing kernel sizes, 2 to 7
    conv blocks, and a spatial size of at least 1 pixel after every block.
    The grammar accepts no other spacing or letter case.

    Pass the text to llama-cpp-python through :func:`llama_grammar`, which
    makes a fresh ``LlamaGrammar`` per call.

    Args:
        dataset: a built-in dataset name; its input size sets the spatial rule.
        allow_refusal: also accept :data:`~kanbench.lm.prompt.REFUSAL`, for
            queries whose budgets may be infeasible.

    Raises:
        UnknownDatasetError: ``dataset`` is not built in.
    """
    _channels, height, width = get_dataset(dataset).input_shape
    return _architecture_grammar(height, width, allow_refusal)


def candidates_grammar(strings: Iterable[str], *, allow_refusal: bool = False) -> str:
    """Return a GBNF grammar that accepts exactly the given strings.

    Meant for constrained generation among the feasible architectures with
    task metrics, but any non-empty strings work. Duplicates are ignored.

    Args:
        strings: the accepted strings, e.g. canonical architecture strings.
        allow_refusal: also accept :data:`~kanbench.lm.prompt.REFUSAL`.

    Raises:
        TypeError: an item is not a ``str``.
        ValueError: there are no strings and ``allow_refusal`` is False, or a
            string is empty.
    """
    unique = set()
    for text in strings:
        if not isinstance(text, str):
            raise TypeError(f"candidate {text!r} is a {type(text).__name__}; candidates must be str")
        if not text:
            raise ValueError("a candidate string is empty; a GBNF grammar cannot accept the empty string here")
        unique.add(text)
    if allow_refusal:
        unique.add(REFUSAL)
    if not unique:
        raise ValueError(
            "no candidate strings; when no candidate is feasible, return the refusal string instead of calling "
            "the model"
        )

    root = _TrieNode()
    for text in sorted(unique):
        node = root
        for part in text.split(SEPARATOR):
            node = node.children.setdefault(part, _TrieNode())
        node.terminal = True

    writer = _SharedRuleWriter()
    root_alternatives = writer.alternatives(root)
    return "\n".join([f"root ::= {root_alternatives}", *writer.rules]) + "\n"


def llama_grammar(text: str):
    """Wrap GBNF ``text`` in a new ``llama_cpp.LlamaGrammar``, once per generation.

    In llama-cpp-python 0.2 a ``LlamaGrammar`` held the parser state of one
    generation, so a shared object could start where another generation
    stopped; in 0.3 it contains only the text, and each completion parses it. Making
    one per call is right for both. The text is cheap to cache. llama.cpp
    parses the text only when a completion starts (see
    :meth:`kanbench.lm.backend.LlamaCppModel.complete`, which checks it first).

    Raises:
        ImportError: llama-cpp-python is not installed.
    """
    llama_cpp = import_optional(
        "llama_cpp",
        purpose="making a LlamaGrammar",
        package="llama-cpp-python",
        install="pip install llama-cpp-python, or pass the grammar text to another GBNF engine",
    )
    return llama_cpp.LlamaGrammar.from_string(text, verbose=False)


@functools.lru_cache(maxsize=None)
def _architecture_grammar(height: int, width: int, allow_refusal: bool) -> str:
    start = (0, height, width, KERNEL_SIZES[0])
    if not _is_live(start):
        raise ValueError(f"no architecture of the search space fits an input of {height}x{width} pixels")

    rules = []
    pending = [start]
    seen = {start}
    while pending:
        state = pending.pop(0)
        alternatives = []
        depth = state[0]
        if depth >= MIN_DEPTH:
            alternatives.append(f'"{SEPARATOR}" head')
        for next_state, kernel, padding in _transitions(state):
            if not _is_live(next_state):
                continue
            prefix = "" if depth == 0 else SEPARATOR
            alternatives.append(f'"{prefix}Conv2d(k={kernel},p={padding})" {_state_name(next_state)}')
            if next_state not in seen:
                seen.add(next_state)
                pending.append(next_state)

        if depth == 0:
            if allow_refusal:
                alternatives.append(_quote(REFUSAL))
            rules.append("root ::= " + " | ".join(alternatives))
        else:
            rules.append(f"{_state_name(state)} ::= " + " | ".join(alternatives))
    return "\n".join([*rules, *_HEAD_RULES]) + "\n"


def _transitions(state: tuple[int, int, int, int]):
    depth, height, width, min_kernel = state
    if depth == MAX_DEPTH:
        return
    for kernel in KERNEL_SIZES:
        if kernel < min_kernel:
            continue
        for padding in PADDINGS:
            next_height = conv_output_size(height, kernel, padding)
            next_width = conv_output_size(width, kernel, padding)
            if next_height >= 1 and next_width >= 1:
                yield (depth + 1, next_height, next_width, kernel), kernel, padding


@functools.lru_cache(maxsize=None)
def _is_live(state: tuple[int, int, int, int]) -> bool:
    if state[0] >= MIN_DEPTH:
        return True
    return any(_is_live(next_state) for next_state, _kernel, _padding in _transitions(state))


def _state_name(state: tuple[int, int, int, int]) -> str:
    depth, height, width, min_kernel = state
    return f"after{depth}-{height}x{width}-k{min_kernel}"


class _TrieNode:
    __slots__ = ("children", "terminal")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.terminal = False


class _SharedRuleWriter:
    """Writes one rule per distinct set of suffixes, so equal subtrees share a rule."""

    def __init__(self) -> None:
        self.rules: list[str] = []
        self._names: dict[str, str] = {}

    def alternatives(self, node: _TrieNode) -> str:
        alternatives = []
        for part, child in sorted(node.children.items()):
            if child.terminal:
                alternatives.append(_quote(part))
            if child.children:
                alternatives.append(f"{_quote(part + SEPARATOR)} {self._rule_for(child)}")
        return " | ".join(alternatives)

    def _rule_for(self, node: _TrieNode) -> str:
        body = self.alternatives(node)
        name = self._names.get(body)
        if name is None:
            name = self._names[body] = f"n{len(self._names)}"
            self.rules.append(f"{name} ::= {body}")
        return name


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "[": "\\[", "]": "\\]"}


def _quote(text: str) -> str:
    """Write ``text`` as a GBNF string literal, escaping backslash, quote, brackets and control characters."""
    characters = []
    for character in text:
        escaped = _ESCAPES.get(character)
        if escaped is None and ord(character) < 0x20:
            escaped = f"\\x{ord(character):02x}"
        characters.append(escaped or character)
    return '"' + "".join(characters) + '"'
