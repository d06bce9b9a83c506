"""A sentencepiece tokenizer for prompts and architecture strings.

Usage::

    >>> from kanbench.lm.tokenizer import train_tokenizer, load_tokenizer
    >>> path = train_tokenizer(texts, "model/tokenizer.model", vocab_size=512)
    >>> tokenizer = load_tokenizer(path)
    >>> tokenizer.encode("Conv2d(k=3,p=1) -> KAN(order=4,grid=8,act=SiLU)")

The model is byte-pair encoding with byte fallback, so any text can be
encoded, and llama.cpp reads it as its "llama" tokenizer type. Numbers are
split into single digits, so a budget such as 120000 is six tokens whose
meaning does not depend on its neighbours. Every conv block and every KAN
head of the search space, the arrow and the refusal are whole tokens
(sentencepiece's user-defined symbols), so an answer is one token per
architecture choice. Needs ``sentencepiece`` (``kanbench[lm-train]``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

from kanbench.atomic import atomic_output
from kanbench.lm.dependencies import import_optional
from kanbench.lm.prompt import REFUSAL
from kanbench.space.architecture import ACTIVATIONS, GRID_SIZES, KERNEL_SIZES, PADDINGS, SPLINE_ORDERS

DEFAULT_VOCAB_SIZE = 512
UNK_ID, BOS_ID, EOS_ID, PAD_ID = 0, 1, 2, 3
ARROW = "->"


def architecture_symbols() -> list[str]:
    """List every conv block, KAN head and separator of the search space, and the refusal, as whole-token symbols."""
    convs = [f"Conv2d(k={kernel},p={padding})" for kernel in KERNEL_SIZES for padding in PADDINGS]
    heads = [
        f"KAN(order={order},grid={grid},act={activation})"
        for order in SPLINE_ORDERS
        for grid in GRID_SIZES
        for activation in ACTIVATIONS
    ]
    return [*convs, *heads, ARROW, REFUSAL]


def train_tokenizer(
    texts: Iterable[str],
    out_path: str | os.PathLike,
    *,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
) -> Path:
    """Train a BPE sentencepiece model on ``texts`` and write it to ``out_path`` atomically.

    Args:
        texts: training sentences, e.g. every prompt and answer of a corpus.
        out_path: the ``.model`` file to write.
        vocab_size: the maximum number of pieces, including the 256
            byte pieces, the architecture symbols and the four control
            pieces. The vocabulary is smaller when the texts have fewer
            distinct merges.

    Raises:
        ImportError: sentencepiece is not installed.
        ValueError: ``texts`` is empty, or ``vocab_size`` is too small to
            hold the byte pieces and the architecture symbols.
    """
    spm = _import_sentencepiece()
    sentences = [text for text in texts if text]
    if not sentences:
        raise ValueError("no texts to train the tokenizer on; pass the corpus prompts and answers")

    symbols = architecture_symbols()
    minimum = 256 + len(symbols) + 4 + 1
    if vocab_size < minimum:
        raise ValueError(
            f"vocab_size {vocab_size} cannot hold the 256 byte pieces, {len(symbols)} architecture "
            f"symbols and 4 control pieces; use at least {minimum}"
        )

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        byte_fallback=True,
        split_digits=True,
        user_defined_symbols=symbols,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        character_coverage=1.0,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        pad_id=PAD_ID,
        num_threads=1,
        minloglevel=2,
    )

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as tmp:
        Path(tmp).write_bytes(model.getvalue())
    return out_path


def load_tokenizer(path: str | os.PathLike):
    """Load a sentencepiece model file as a ``SentencePieceProcessor``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: sentencepiece is not installed.
    """
    spm = _import_sentencepiece()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer model {str(path)!r} does not exist; train one with train_tokenizer")
    return spm.SentencePieceProcessor(model_file=str(path))


def _import_sentencepiece():
    return import_optional("sentencepiece", purpose="training or loading a tokenizer", install="pip install 'kanbench[lm-train]'")
