"""kanbench's small Llama-architecture model, trained from scratch on a corpus on CPU.

Usage::

    >>> from kanbench.lm.corpus import read_corpus
    >>> from kanbench.lm.small_model import SmallModelConfig, train_small_model
    >>> corpus = read_corpus("corpus/digits")
    >>> train_small_model(corpus, "models/digits-small", SmallModelConfig(), max_minutes=25)

The output directory is a transformers checkpoint (``config.json``,
``model.safetensors``) with the sentencepiece ``tokenizer.model`` and a
``kanbench.json`` that records the corpus, the settings and the losses;
:func:`kanbench.lm.export.export_gguf` turns it into a GGUF file, the same
way as a merged fine-tuned Mistral. Hidden and feed-forward sizes are
multiples of 256, because llama.cpp's K-quants (Q4_K_M) quantise rows in
blocks of 256 and fall back to another type otherwise.

Needs ``kanbench[lm-train]`` (torch, transformers, sentencepiece).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kanbench._version import __version__
from kanbench.atomic import atomic_directory
from kanbench.lm.corpus import Corpus
from kanbench.lm.formats import get_format
from kanbench.lm.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, load_tokenizer, train_tokenizer
from kanbench.lm.training import LoopSettings, encode_examples, train_loop

logger = logging.getLogger(__name__)

K_QUANT_BLOCK = 256
MANIFEST_NAME = "kanbench.json"
TOKENIZER_NAME = "tokenizer.model"


@dataclass(frozen=True, slots=True)
class SmallModelConfig:
    """Size of the small model. ``hidden_size`` and ``intermediate_size`` must be multiples of 256."""

    hidden_size: int = 256
    intermediate_size: int = 768
    num_layers: int = 4
    num_heads: int = 4
    vocab_size: int = 1024
    max_position_embeddings: int = 512
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size"):
            value = getattr(self, name)
            if value < K_QUANT_BLOCK or value % K_QUANT_BLOCK:
                raise ValueError(
                    f"{name} {value} is not a multiple of {K_QUANT_BLOCK}; llama.cpp's K-quants need rows "
                    f"of whole {K_QUANT_BLOCK}-value blocks, so use e.g. {K_QUANT_BLOCK * max(1, round(value / K_QUANT_BLOCK))}"
                )
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}; "
                "choose a number of heads that divides it"
            )
        if self.num_layers < 1:
            raise ValueError(f"num_layers {self.num_layers} is invalid; use at least 1")

    def to_transformers(self, vocab_size: int):
        """Build the ``transformers.LlamaConfig`` of this size with the tokenizer's special ids."""
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_heads,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            tie_word_embeddings=True,
            bos_token_id=BOS_ID,
            eos_token_id=EOS_ID,
            pad_token_id=PAD_ID,
        )


def train_small_model(
    corpus: Corpus,
    out_dir: str | os.PathLike,
    config: SmallModelConfig = SmallModelConfig(),
    settings: LoopSettings = LoopSettings(),
    *,
    chat_format: str = "plain",
) -> Path:
    """Train a tokenizer and a small Llama model on ``corpus``'s train split; write the checkpoint.

    The validation split is scored after every epoch. The directory is
    written under a temporary name and moved into place when complete.

    Args:
        corpus: a corpus read with :func:`~kanbench.lm.corpus.read_corpus`
            (its manifest is recorded with the model).
        out_dir: the checkpoint directory to create; must not exist.
        config: the model's size.
        settings: epochs, batch size, learning rate, time limit and seed.
        chat_format: the chat format's name (see :mod:`kanbench.lm.formats`).

    Raises:
        FileExistsError: ``out_dir`` exists.
        ValueError: the corpus has no train split, or a setting is invalid.
        ImportError: torch, transformers or sentencepiece is missing.
    """
    import torch
    from transformers import LlamaForCausalLM

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{str(out_dir)!r} exists; choose a new directory for the model or remove it")
    chat = get_format(chat_format)
    train_examples, valid_examples = corpus.split("train"), corpus.split("valid")
    if not train_examples:
        raise ValueError("the corpus has no train split; build one with kanbench lm corpus")

    with atomic_directory(out_dir) as staging:
        texts = [chat.prefix(example.prompt) + example.answer for example in train_examples]
        tokenizer = load_tokenizer(train_tokenizer(texts, staging / TOKENIZER_NAME, vocab_size=config.vocab_size))
        encode = tokenizer.encode
        train = encode_examples(train_examples, chat, encode, BOS_ID, EOS_ID)
        valid = encode_examples(valid_examples, chat, encode, BOS_ID, EOS_ID)
        logger.info(
            "encoded %d train and %d valid examples; longest %d tokens",
            len(train),
            len(valid),
            max(len(example.input_ids) for example in train),
        )

        torch.manual_seed(settings.seed)
        model = LlamaForCausalLM(config.to_transformers(tokenizer.get_piece_size()))
        report = train_loop(model, train, valid, settings, pad_id=PAD_ID)

        model.save_pretrained(staging, safe_serialization=True)
        manifest = {
            "kanbench_version": __version__,
            "chat_format": chat.name,
            "special_ids": {"unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID, "pad": PAD_ID},
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "config": asdict(config),
            "settings": asdict(settings),
            "corpus": corpus.metadata.to_dict() if corpus.metadata else None,
            "training": report.to_dict(),
            "torch_version": torch.__version__,
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def read_manifest(model_dir: str | os.PathLike) -> dict:
    """Read the ``kanbench.json`` of a checkpoint directory; an empty dict when it has none."""
    path = Path(model_dir) / MANIFEST_NAME
    return json.loads(path.read_text()) if path.is_file() else {}
