"""The causal-LM training loop shared by the small model and LoRA fine-tuning.

Each example becomes ``BOS + prefix + answer + EOS`` (see
:mod:`kanbench.lm.formats`). The loss is taken on the answer and the EOS
token only: the prompt is context, and the model must learn to stop. Padding
is masked by position, out of both the attention and the loss, so the pad
token's id never matters and EOS is never padding.

Needs torch (``kanbench[lm-train]``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kanbench.lm.corpus import CorpusExample
from kanbench.lm.formats import ChatFormat

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label of positions without loss (prompt and padding), as torch's cross-entropy expects."""


@dataclass(frozen=True, slots=True)
class EncodedExample:
    """Token ids of one example, and the labels: -100 on the prompt, the ids on the answer and EOS."""

    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Optimiser and schedule settings of :func:`train_loop`.

    ``max_minutes`` stops training early (wall clock, checked after each
    step). The cosine decay then follows the elapsed share of that time
    when it is ahead of the share of steps, so the learning rate reaches
    zero at the deadline. With a time limit, training is therefore not
    exactly reproducible.
    """

    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    max_minutes: float | None = None
    seed: int = 0


@dataclass(frozen=True, slots=True)
class LoopReport:
    """Summary of one :func:`train_loop` run: steps, examples seen, seconds, and the losses per epoch."""

    steps: int
    examples_seen: int
    seconds: float
    stopped_early: bool
    train_loss: list[float]
    valid_loss: list[float]
    valid_token_accuracy: list[float]

    def to_dict(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "examples_seen": self.examples_seen,
            "seconds": self.seconds,
            "stopped_early": self.stopped_early,
            "train_loss": self.train_loss,
            "valid_loss": self.valid_loss,
            "valid_token_accuracy": self.valid_token_accuracy,
        }


def encode_example(
    prefix: str, answer: str, encode: Callable[[str], list[int]], bos_id: int, eos_id: int
) -> EncodedExample:
    """Encode one example with the answer's labels.

    ``encode`` turns text into ids without special tokens. The prefix and the
    whole text are encoded separately, and the prefix's ids must begin the
    whole text's ids, so that the model sees at training time the same
    prompt tokens that llama.cpp makes from the prefix at inference.

    Raises:
        ValueError: the tokenizer merges the end of the prefix with the
            answer, so the answer does not start on a token boundary.
    """
    prefix_ids = encode(prefix)
    full_ids = encode(prefix + answer)
    if full_ids[: len(prefix_ids)] != prefix_ids:
        raise ValueError(
            f"the tokenizer merges the prompt's end with the answer {answer!r}; the chat format must end "
            "where a token ends (e.g. with a space or a newline before the answer)"
        )
    answer_ids = full_ids[len(prefix_ids) :]
    input_ids = [bos_id, *full_ids, eos_id]
    labels = [IGNORE_INDEX] * (1 + len(prefix_ids)) + answer_ids + [eos_id]
    return EncodedExample(input_ids=input_ids, labels=labels)


def encode_examples(
    examples: Sequence[CorpusExample],
    chat: ChatFormat,
    encode: Callable[[str], list[int]],
    bos_id: int,
    eos_id: int,
) -> list[EncodedExample]:
    """Encode corpus examples in the given chat format."""
    return [encode_example(chat.prefix(example.prompt), example.answer, encode, bos_id, eos_id) for example in examples]


def collate(batch: Sequence[EncodedExample], pad_id: int, device: str = "cpu"):
    """Right-pad a batch into ``input_ids``, ``attention_mask`` and ``labels`` tensors on ``device``."""
    import torch

    length = max(len(example.input_ids) for example in batch)
    input_ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), length), dtype=torch.long)
    for row, example in enumerate(batch):
        size = len(example.input_ids)
        input_ids[row, :size] = torch.tensor(example.input_ids)
        labels[row, :size] = torch.tensor(example.labels)
        attention_mask[row, :size] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device), "labels": labels.to(device)}


def train_loop(
    model,
    train: Sequence[EncodedExample],
    valid: Sequence[EncodedExample],
    settings: LoopSettings,
    *,
    pad_id: int,
    parameters=None,
    device: str = "cpu",
) -> LoopReport:
    """Train ``model`` (a transformers causal LM) with AdamW and a warm-up + cosine schedule.

    Args:
        model: a model whose forward pass takes ``input_ids``,
            ``attention_mask`` and ``labels`` and returns ``.loss``.
        train: encoded training examples, shuffled every epoch with ``settings.seed``.
        valid: encoded validation examples, scored after every epoch.
        settings: optimiser, schedule and time limit.
        pad_id: id written into padded positions (masked out anyway).
        parameters: the parameters to optimise; every parameter that
            requires a gradient when omitted (LoRA adapters only, after peft).
        device: torch device the model is on.

    Raises:
        ValueError: ``train`` is empty or a setting is out of range.
    """
    import torch
    from tqdm.auto import tqdm

    _check_settings(settings, len(train))
    generator = torch.Generator().manual_seed(settings.seed)
    trainable = [p for p in (parameters or model.parameters()) if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    started = time.perf_counter()
    deadline = None if settings.max_minutes is None else started + 60.0 * settings.max_minutes
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _WarmupCosine(settings.warmup_steps, total_steps, started, deadline)
    )
    report = {"steps": 0, "examples_seen": 0, "train_loss": [], "valid_loss": [], "valid_token_accuracy": []}
    stopped_early = False
    with tqdm(total=total_steps, desc="training", unit="step") as bar:
        for epoch in range(settings.epochs):
            model.train()
            order = torch.randperm(len(train), generator=generator).tolist()
            losses = []
            for start in range(0, len(order), settings.batch_size):
                batch = collate([train[i] for i in order[start : start + settings.batch_size]], pad_id, device)
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)

                losses.append(loss.item())
                report["steps"] += 1
                report["examples_seen"] += len(batch["input_ids"])
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
                if deadline is not None and time.perf_counter() > deadline:
                    stopped_early = True
                    break

            report["train_loss"].append(sum(losses) / len(losses))
            valid_loss, token_accuracy = evaluate_loss(
                model, valid, pad_id=pad_id, batch_size=settings.batch_size, device=device
            )
            report["valid_loss"].append(valid_loss)
            report["valid_token_accuracy"].append(token_accuracy)
            logger.info(
                "epoch %d: train loss %.4f, valid loss %.4f, valid answer-token accuracy %.4f",
                epoch + 1,
                report["train_loss"][-1],
                valid_loss,
                token_accuracy,
            )
            if stopped_early:
                logger.info("stopped after %.1f minutes (max_minutes=%s)", settings.max_minutes, settings.max_minutes)
                break

    return LoopReport(seconds=time.perf_counter() - started, stopped_early=stopped_early, **report)


def evaluate_loss(
    model, examples: Sequence[EncodedExample], *, pad_id: int, batch_size: int, device: str = "cpu"
) -> tuple[float, float]:
    """Mean loss per answer token and the share of answer tokens predicted exactly (teacher forcing).

    Both are NaN when ``examples`` is empty.
    """
    import torch

    if not examples:
        return math.nan, math.nan
    model.eval()
    total_loss, total_tokens, correct = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size], pad_id, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = batch["labels"][:, 1:]
            predicted = logits[:, :-1]
            mask = targets != IGNORE_INDEX
            total_loss += float(
                torch.nn.functional.cross_entropy(predicted[mask].float(), targets[mask], reduction="sum")
            )
            correct += int((predicted.argmax(-1)[mask] == targets[mask]).sum())
            total_tokens += int(mask.sum())
    return total_loss / total_tokens, correct / total_tokens


class _WarmupCosine:
    """Linear warm-up, then cosine decay to 0 over the steps or the time left, whichever runs out first."""

    def __init__(self, warmup_steps: int, total_steps: int, started: float, deadline: float | None):
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.started = started
        self.deadline = deadline

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        if self.deadline is not None:
            elapsed = (time.perf_counter() - self.started) / (self.deadline - self.started)
            progress = max(progress, elapsed)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _check_settings(settings: LoopSettings, num_train: int) -> None:
    if num_train == 0:
        raise ValueError("no training examples; build a corpus with a train split first")
    if settings.epochs < 1:
        raise ValueError(f"epochs {settings.epochs} is invalid; train for at least 1 epoch")
    if settings.batch_size < 1:
        raise ValueError(f"batch_size {settings.batch_size} is invalid; use at least 1")
    if not settings.learning_rate > 0:
        raise ValueError(f"learning_rate {settings.learning_rate} is invalid; it must be positive")
    if settings.warmup_steps < 0:
        raise ValueError(f"warmup_steps {settings.warmup_steps} is invalid; it must be 0 or more")
    if settings.max_minutes is not None and not settings.max_minutes > 0:
        raise ValueError(f"max_minutes {settings.max_minutes} is invalid; pass a positive number or None")
