"""LoRA fine-tuning of a Llama or Mistral model on a corpus (transformers + peft).

Usage::

    >>> from kanbench.lm.corpus import read_corpus
    >>> from kanbench.lm.finetune import LoraSettings, finetune_lora
    >>> finetune_lora("mistralai/Mistral-7B-Instruct-v0.2", read_corpus("corpus/digits"), "adapters/digits",
    ...               LoraSettings(load_in_4bit=True), device="cuda")

Then ``kanbench lm export adapters/digits --base BASE --out digits.gguf``
merges the adapter into the float16 base and writes a Q4_K_M GGUF file.

How the examples are built, so that the model learns what llama.cpp will
ask of it:

* Mistral's ``[INST] ... [/INST]`` template is written as text without
  ``<s>``, and the tokenizer is called without special tokens; the one BOS
  token is added once, by id (no double BOS).
* The loss is on the answer tokens and the EOS token only.
* Padding is masked by position; the pad id is the tokenizer's pad token,
  or its unknown token, and never the EOS token, so the model learns to
  stop.

Needs ``kanbench[lm-train]`` (torch, transformers, peft); ``load_in_4bit``
also needs bitsandbytes and a CUDA GPU.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from kanbench._version import __version__
from kanbench.atomic import atomic_directory
from kanbench.lm.corpus import Corpus
from kanbench.lm.formats import get_format
from kanbench.lm.small_model import MANIFEST_NAME, TOKENIZER_NAME
from kanbench.lm.training import LoopSettings, encode_examples, train_loop

logger = logging.getLogger(__name__)

LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True, slots=True)
class LoraSettings:
    """LoRA adapter settings: rank, scaling alpha, dropout, target projections, 4-bit base."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_PROJECTIONS
    load_in_4bit: bool = False

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank {self.rank} is invalid; use at least 1 (8 to 64 is usual)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout {self.dropout} is outside [0, 1)")


def finetune_lora(
    base: str | os.PathLike,
    corpus: Corpus,
    out_dir: str | os.PathLike,
    lora: LoraSettings = LoraSettings(),
    settings: LoopSettings = LoopSettings(epochs=2, batch_size=4, learning_rate=2e-4, warmup_steps=10),
    *,
    chat_format: str = "mistral-inst",
    device: str = "cpu",
) -> Path:
    """Train a LoRA adapter on ``corpus``'s train split and write it to ``out_dir``.

    Args:
        base: a local checkpoint directory or a Hugging Face hub id.
        corpus: a corpus read with :func:`~kanbench.lm.corpus.read_corpus`.
        out_dir: the adapter directory to create; must not exist.
        lora: adapter settings.
        settings: epochs, batch size, learning rate, time limit and seed.
        chat_format: the prompt format (see :mod:`kanbench.lm.formats`).
        device: torch device, e.g. ``"cuda"``.

    Raises:
        FileExistsError: ``out_dir`` exists.
        ValueError: the tokenizer has no BOS or EOS token, or the corpus
            has no train split.
        ImportError: transformers or peft (or bitsandbytes) is missing.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{str(out_dir)!r} exists; choose a new directory for the adapter or remove it")
    chat = get_format(chat_format)
    train_examples = corpus.split("train")
    if not train_examples:
        raise ValueError("the corpus has no train split; build one with kanbench lm corpus")

    tokenizer = AutoTokenizer.from_pretrained(base)
    bos_id, eos_id, pad_id = special_ids(tokenizer)

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False).input_ids

    train = encode_examples(train_examples, chat, encode, bos_id, eos_id)
    valid = encode_examples(corpus.split("valid"), chat, encode, bos_id, eos_id)

    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(base, **_loading_options(lora, device))
    if lora.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    elif device != "cpu":
        model = model.to(device)
    model = get_peft_model(
        model,
        LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    report = train_loop(model, train, valid, settings, pad_id=pad_id, device=device)

    with atomic_directory(out_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        _copy_sentencepiece_model(base, staging)
        manifest = {
            "kanbench_version": __version__,
            "chat_format": chat.name,
            "base": str(base),
            "special_ids": {"bos": bos_id, "eos": eos_id, "pad": pad_id},
            "lora": asdict(lora),
            "settings": asdict(settings),
            "corpus": corpus.metadata.to_dict() if corpus.metadata else None,
            "training": report.to_dict(),
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def special_ids(tokenizer) -> tuple[int, int, int]:
    """BOS, EOS and pad ids for training; the pad id is never the EOS id.

    Raises:
        ValueError: the tokenizer has no BOS or EOS token, or no token other
            than EOS to pad with.
    """
    bos_id, eos_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos_id is None or eos_id is None:
        raise ValueError("the tokenizer has no BOS or EOS token; kanbench fine-tunes Llama-family tokenizers")
    for candidate in (tokenizer.pad_token_id, tokenizer.unk_token_id, 0):
        if candidate is not None and candidate != eos_id:
            return bos_id, eos_id, candidate
    raise ValueError("the tokenizer's pad, unknown and 0 tokens are all its EOS token; add a pad token")


def _loading_options(lora: LoraSettings, device: str) -> dict:
    import torch

    if lora.load_in_4bit:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        return {"quantization_config": quantization, "device_map": {"": device}}
    return {"dtype": torch.float32 if device == "cpu" else torch.bfloat16}


def _copy_sentencepiece_model(base: str | os.PathLike, target: Path) -> None:
    """Put the base's ``tokenizer.model`` beside the adapter, for GGUF export after merging."""
    local = Path(base) / TOKENIZER_NAME
    if local.is_file():
        shutil.copy2(local, target / TOKENIZER_NAME)
        return
    if Path(base).exists():
        logger.warning("%s has no %s; GGUF export will need it", base, TOKENIZER_NAME)
        return
    from huggingface_hub import hf_hub_download

    shutil.copy2(hf_hub_download(str(base), TOKENIZER_NAME), target / TOKENIZER_NAME)
