"""A reference parser and matcher for the GBNF subset that kanbench.lm.grammar emits.

The subset is one rule per line, ``name ::= alternative | alternative``,
where an alternative is a sequence of string literals and rule references.
Literals use llama.cpp's escapes ``\\\\``, ``\\"``, ``\\[``, ``\\]``,
``\\n``, ``\\r``, ``\\t`` and ``\\xHH``. Rule names use llama.cpp's name
characters: ASCII letters, digits and ``-``. Anything else (character
classes, groups, repetition, comments) raises, so a test that parses a
grammar also checks that it stays inside the subset.
"""

from __future__ import annotations

import functools
import re

NAME = re.compile(r"[A-Za-z0-9-]+")
SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "[": "[", "]": "]", "n": "\n", "r": "\r", "t": "\t"}

Item = tuple[str, str]
"""``("literal", text)`` or ``("rule", name)``."""


class GrammarSubsetError(ValueError):
    """The grammar text uses syntax outside the subset, or references an undefined rule."""


def parse_grammar(text: str) -> dict[str, list[list[Item]]]:
    """Parse GBNF text into ``{rule name: [alternative, ...]}``, each alternative a list of items."""
    rules: dict[str, list[list[Item]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, body = line.partition(" ::= ")
        if not separator or not NAME.fullmatch(name):
            raise GrammarSubsetError(f"line {number} is not 'name ::= body': {line[:80]!r}")
        if name in rules:
            raise GrammarSubsetError(f"rule {name!r} is defined twice (line {number})")
        rules[name] = _parse_body(body, number)

    if "root" not in rules:
        raise GrammarSubsetError("the grammar has no root rule")
    for name, alternatives in rules.items():
        for alternative in alternatives:
            for kind, value in alternative:
                if kind == "rule" and value not in rules:
                    raise GrammarSubsetError(f"rule {name!r} references undefined rule {value!r}")
    return rules


def _parse_body(body: str, number: int) -> list[list[Item]]:
    alternatives: list[list[Item]] = [[]]
    position = 0
    while position < len(body):
        character = body[position]
        if character == " ":
            position += 1
        elif character == "|":
            if not alternatives[-1]:
                raise GrammarSubsetError(f"empty alternative on line {number}")
            alternatives.append([])
            position += 1
        elif character == '"':
            literal, position = _parse_literal(body, position + 1, number)
            alternatives[-1].append(("literal", literal))
        else:
            match = NAME.match(body, position)
            if match is None:
                raise GrammarSubsetError(f"unexpected {character!r} at column {position} of line {number}")
            alternatives[-1].append(("rule", match.group()))
            position = match.end()
    if not alternatives[-1]:
        raise GrammarSubsetError(f"empty alternative on line {number}")
    return alternatives


def _parse_literal(body: str, position: int, number: int) -> tuple[str, int]:
    characters = []
    while True:
        if position >= len(body):
            raise GrammarSubsetError(f"unterminated literal on line {number}")
        character = body[position]
        if character == '"':
            return "".join(characters), position + 1
        if character == "\\":
            code = body[position + 1 : position + 2]
            if code in SIMPLE_ESCAPES:
                characters.append(SIMPLE_ESCAPES[code])
                position += 2
            elif code == "x":
                characters.append(chr(int(body[position + 2 : position + 4], 16)))
                position += 4
            else:
                raise GrammarSubsetError(f"unknown escape \\{code} on line {number}")
        else:
            characters.append(character)
            position += 1


def accepts(rules: dict[str, list[list[Item]]], text: str) -> bool:
    """Return True when the root rule matches all of ``text``."""

    @functools.lru_cache(maxsize=None)
    def ends(name: str, start: int) -> frozenset[int]:
        found: set[int] = set()
        for alternative in rules[name]:
            positions = {start}
            for kind, value in alternative:
                following: set[int] = set()
                for position in positions:
                    if kind == "literal":
                        if text.startswith(value, position):
                            following.add(position + len(value))
                    else:
                        following |= ends(value, position)
                positions = following
                if not positions:
                    break
            found |= positions
        return frozenset(found)

    return len(text) in ends("root", 0)


def language(rules: dict[str, list[list[Item]]], start: str = "root") -> set[str]:
    """Every string that rule ``start`` matches; raises for a recursive grammar, whose language may be infinite."""
    visiting: set[str] = set()

    @functools.lru_cache(maxsize=None)
    def expand(name: str) -> frozenset[str]:
        if name in visiting:
            raise GrammarSubsetError(f"rule {name!r} is recursive")
        visiting.add(name)
        strings: set[str] = set()
        for alternative in rules[name]:
            partial = {""}
            for kind, value in alternative:
                pieces = {value} if kind == "literal" else expand(value)
                partial = {prefix + piece for prefix in partial for piece in pieces}
            strings |= partial
        visiting.discard(name)
        return frozenset(strings)

    return set(expand(start))
