"""``kanbench lm``: build a corpus, train or fine-tune a model, export it to GGUF, evaluate it.

Usage::

    kanbench lm corpus --dataset digits --queries 30000 --out corpus/digits
    kanbench lm train --corpus corpus/digits --out models/digits-small --max-minutes 25
    kanbench lm export models/digits-small --out digits-small.gguf --quantization Q8_0
    kanbench lm eval --dataset digits --model digits-small.gguf --corpus corpus/digits --queries 500
    kanbench lm finetune --base mistralai/Mistral-7B-Instruct-v0.2 --corpus corpus/digits --out adapters/digits
    kanbench lm export adapters/digits --base mistralai/Mistral-7B-Instruct-v0.2 --out digits-mistral.gguf
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kanbench.cli.output import format_mapping, to_json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the ``lm`` command and its subcommands to the top-level subparsers."""
    lm = sub.add_parser("lm", help="language-model backend: corpus, train, finetune, export, eval")
    commands = lm.add_subparsers(dest="lm_command", required=True, metavar="SUBCOMMAND")

    corpus = commands.add_parser("corpus", parents=[common], help="instruction/answer pairs labelled by the exact solver")
    corpus.add_argument("--out", required=True, metavar="DIR", help="directory for train/valid/test.jsonl")
    corpus.add_argument("--queries", type=int, default=20000, help="number of distinct queries (default 20000)")
    corpus.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")

    train = commands.add_parser("train", parents=[common], help="train kanbench's small Llama model from scratch")
    train.add_argument("--corpus", required=True, metavar="DIR", help="corpus written by `kanbench lm corpus`")
    train.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory to create")
    _add_loop_options(train, epochs=8, batch_size=32, learning_rate=2e-3)
    train.add_argument("--hidden-size", type=int, default=256, help="multiple of 256 (default 256)")
    train.add_argument("--intermediate-size", type=int, default=768, help="multiple of 256 (default 768)")
    train.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    train.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    train.add_argument("--vocab-size", type=int, default=1024, help="maximum tokenizer pieces (default 1024)")

    finetune = commands.add_parser("finetune", parents=[common], help="LoRA fine-tuning of a Llama/Mistral model")
    finetune.add_argument("--base", required=True, metavar="MODEL", help="local directory or hub id of the base model")
    finetune.add_argument("--corpus", required=True, metavar="DIR", help="corpus written by `kanbench lm corpus`")
    finetune.add_argument("--out", required=True, metavar="DIR", help="adapter directory to create")
    _add_loop_options(finetune, epochs=2, batch_size=4, learning_rate=2e-4)
    finetune.add_argument("--lora-rank", type=int, default=16, help="LoRA rank (default 16)")
    finetune.add_argument("--lora-alpha", type=float, default=32.0, help="LoRA scaling alpha (default 32)")
    finetune.add_argument("--chat-format", default="mistral-inst", help="prompt format (default mistral-inst)")
    finetune.add_argument("--load-in-4bit", action="store_true", help="4-bit base via bitsandbytes (needs a GPU)")
    finetune.add_argument("--device", default="cpu", help="torch device (default cpu)")

    export = commands.add_parser("export", parents=[common], help="write a checkpoint or adapter as (quantised) GGUF")
    export.add_argument("model_dir", metavar="DIR", help="checkpoint directory, or an adapter with --base")
    export.add_argument("--out", required=True, metavar="GGUF", help="file to write")
    export.add_argument("--base", metavar="MODEL", help="base model to merge the adapter DIR into (float16)")
    export.add_argument("--quantization", default="Q4_K_M", help="Q4_K_M (default), Q8_0, Q4_0, ... or none")
    export.add_argument("--chat-format", help="prompt format (default: the one recorded in DIR)")
    export.add_argument("--outtype", default="F32", choices=["F32", "F16"], help="type before quantising (default F32)")

    evaluate = commands.add_parser("eval", parents=[common], help="score a model on held-out queries")
    evaluate.add_argument("--model", metavar="GGUF", help="model file (default: resolved as generate does)")
    evaluate.add_argument("--corpus", metavar="DIR", help="corpus whose test split to use (default: rebuilt as trained)")
    evaluate.add_argument("--queries", type=int, help="use the first N test queries (default: all)")
    evaluate.add_argument(
        "--mode", choices=["constrained", "constrained-greedy", "free"], default="constrained", help="decoding mode"
    )
    evaluate.add_argument("--out", metavar="PATH", help="also write the report with every outcome as JSON")


def _add_loop_options(parser: argparse.ArgumentParser, *, epochs: int, batch_size: int, learning_rate: float) -> None:
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the train split (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"examples per step (default {batch_size})")
    parser.add_argument("--learning-rate", type=float, default=learning_rate, help=f"AdamW peak rate (default {learning_rate:g})")
    parser.add_argument("--max-minutes", type=float, help="stop training after this many minutes of wall time")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling (default 0)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def run(args: argparse.Namespace) -> str:
    """Dispatch to the ``lm`` subcommand named by ``args.lm_command``."""
    handlers = {"corpus": corpus, "train": train, "finetune": finetune, "export": export, "eval": evaluate}
    return handlers[args.lm_command](args)


def corpus(args: argparse.Namespace) -> str:
    from kanbench.lm.corpus import build_corpus, write_corpus

    bench = _open(args)
    dataset = args.dataset or bench.default_dataset
    examples = build_corpus(bench, dataset, num_queries=args.queries, seed=args.seed)
    write_corpus(examples, args.out)
    counts = {split: sum(example.split == split for example in examples) for split in ("train", "valid", "test")}
    summary = {"dataset": dataset, "out": args.out, **counts}
    return to_json(summary) if args.json else format_mapping(summary)


def train(args: argparse.Namespace) -> str:
    from kanbench.lm.corpus import read_corpus
    from kanbench.lm.small_model import SmallModelConfig, read_manifest, train_small_model

    _set_threads(args.threads)
    config = SmallModelConfig(
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size,
        num_layers=args.layers,
        num_heads=args.heads,
        vocab_size=args.vocab_size,
    )
    out = train_small_model(read_corpus(args.corpus), args.out, config, _loop_settings(args))
    report = read_manifest(out)["training"]
    summary = {"out": str(out), **{key: report[key] for key in ("steps", "examples_seen", "seconds", "stopped_early")}}
    summary["valid_token_accuracy"] = report["valid_token_accuracy"][-1] if report["valid_token_accuracy"] else None
    return to_json(summary) if args.json else format_mapping(summary)


def finetune(args: argparse.Namespace) -> str:
    from kanbench.lm.corpus import read_corpus
    from kanbench.lm.finetune import LoraSettings, finetune_lora

    _set_threads(args.threads)
    out = finetune_lora(
        args.base,
        read_corpus(args.corpus),
        args.out,
        LoraSettings(rank=args.lora_rank, alpha=args.lora_alpha, load_in_4bit=args.load_in_4bit),
        _loop_settings(args),
        chat_format=args.chat_format,
        device=args.device,
    )
    return to_json({"adapter": str(out)}) if args.json else f"wrote LoRA adapter to {out}"


def export(args: argparse.Namespace) -> str:
    from kanbench.lm.export import export_gguf, merge_lora, quantize_gguf
    from kanbench.lm.small_model import read_manifest

    model_dir = Path(args.model_dir)
    manifest = read_manifest(model_dir)
    chat_format = args.chat_format or manifest.get("chat_format")
    if chat_format is None:
        raise ValueError(f"{str(model_dir)!r} does not record its chat format; pass --chat-format plain or mistral-inst")
    dataset = (manifest.get("corpus") or {}).get("dataset")
    metadata = {"dataset": dataset} if dataset else {}
    corpus_metadata = manifest.get("corpus") or {}
    if corpus_metadata:
        metadata.update(
            corpus_seed=corpus_metadata["seed"],
            corpus_num_queries=corpus_metadata["num_queries"],
            corpus_content_sha256=corpus_metadata["content_sha256"],
        )

    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix=".kanbench-export-", dir=out.parent if out.parent.exists() else None) as work:
        work = Path(work)
        source = merge_lora(args.base, model_dir, work / "merged") if args.base else model_dir
        quantization = args.quantization.upper()
        if quantization == "NONE":
            written = export_gguf(source, out, chat_format=chat_format, outtype=args.outtype, metadata=metadata)
        else:
            plain = export_gguf(source, work / "model.gguf", chat_format=chat_format, outtype=args.outtype, metadata=metadata)
            written = quantize_gguf(plain, out, quantization)
    summary = {"out": str(written), "quantization": args.quantization, "megabytes": round(written.stat().st_size / 1e6, 2)}
    return to_json(summary) if args.json else format_mapping(summary)


def evaluate(args: argparse.Namespace) -> str:
    from kanbench.lm.evaluate import evaluate_model

    bench = _open(args)
    dataset = args.dataset or bench.default_dataset
    report = evaluate_model(
        bench, dataset, model=args.model, corpus_dir=args.corpus, num_queries=args.queries, mode=args.mode
    )
    if args.out:
        from kanbench.atomic import atomic_output

        with atomic_output(Path(args.out)) as tmp:
            Path(tmp).write_text(json.dumps(report.to_dict(include_outcomes=True), indent=2) + "\n")
    summary = report.to_dict()
    return to_json(summary) if args.json else format_mapping(summary)


def _loop_settings(args: argparse.Namespace):
    from kanbench.lm.training import LoopSettings

    return LoopSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_minutes=args.max_minutes,
        seed=args.seed,
    )


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _open(args: argparse.Namespace):
    from kanbench.query.bench import KANBench

    return KANBench(Path(args.archive) if args.archive else None)

