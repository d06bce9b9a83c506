"""Chat formats that wrap a query prompt for a model, and the answer after it.

Usage::

    >>> from kanbench.lm.formats import get_format
    >>> chat = get_format("plain")
    >>> chat.prefix("Design a Conv-KAN ...")
    'Design a Conv-KAN ...\\nAnswer: '

A format fixes the text before the answer. The model is trained on
``BOS + prefix + answer + EOS`` with the loss on ``answer + EOS`` only, and at
inference llama.cpp adds the BOS, reads the prefix and generates the answer
until EOS. The format's name is stored in the GGUF file
(``kanbench.chat_format``), so a model is always prompted the way it was
trained.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """The text around a prompt. ``template`` has one field, ``prompt``."""

    name: str
    template: str
    description: str

    def prefix(self, prompt: str) -> str:
        """Text that precedes the answer, without the BOS token."""
        return self.template.format(prompt=prompt)


FORMATS: dict[str, ChatFormat] = {
    "plain": ChatFormat(
        name="plain",
        template="{prompt}\nAnswer: ",
        description="kanbench's small models: the prompt, a newline and 'Answer: '",
    ),
    "mistral-inst": ChatFormat(
        name="mistral-inst",
        template="[INST] {prompt} [/INST]",
        description="Mistral-7B-Instruct's template; the BOS token comes from the tokenizer, not the text",
    ),
}


def get_format(name: str) -> ChatFormat:
    """Return the chat format called ``name``.

    Raises:
        ValueError: ``name`` is not a known format.
    """
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown chat format {name!r}; use one of {', '.join(FORMATS)}") from None
