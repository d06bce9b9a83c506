"""Train the small digits language model bundled with kanbench, from the bundled archive.

Usage::

    python data/train_bundled_model.py                      # about 30 minutes on 2 CPU cores
    python data/train_bundled_model.py --work /tmp/lm --max-minutes 5

Steps, each done with the library's own functions (the same ones behind
``kanbench lm corpus | train | export``):

1. build a corpus of ``--queries`` queries (seed 0) from the bundled
   archive's digits results;
2. train kanbench's small Llama model on its train split on CPU;
3. export it to GGUF and quantise it (``--quantization``);
4. copy the file to ``src/kanbench/data/models/`` under the name that
   :data:`kanbench.lm.resolve.BUNDLED_MODELS` expects.

The corpus seed and size are stored in the GGUF file, so ``kanbench lm
eval`` rebuilds the same held-out test split. Training with a time limit is
not bit-for-bit reproducible; the other steps are.
"""

import argparse
import logging
import shutil
from pathlib import Path

from kanbench import KANBench
from kanbench.lm.corpus import build_corpus, read_corpus, write_corpus
from kanbench.lm.export import export_gguf, quantize_gguf
from kanbench.lm.small_model import SmallModelConfig, train_small_model
from kanbench.lm.training import LoopSettings

REPOSITORY = Path(__file__).resolve().parents[1]
MODELS_DIR = REPOSITORY / "src" / "kanbench" / "data" / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPOSITORY / "runs" / "lm-digits", help="working directory")
    parser.add_argument("--queries", type=int, default=30_000, help="corpus size (default 30000)")
    parser.add_argument("--max-minutes", type=float, default=25.0, help="training time limit (default 25)")
    parser.add_argument("--epochs", type=int, default=6, help="most passes over the train split (default 6)")
    parser.add_argument("--quantization", default="Q8_0", help="GGUF type of the shipped file (default Q8_0)")
    parser.add_argument("--name", default="digits-small-v1", help="model name (default digits-small-v1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    corpus_dir = args.work / "corpus"
    if not corpus_dir.exists():
        with KANBench() as bench:
            write_corpus(build_corpus(bench, "digits", num_queries=args.queries, seed=0), corpus_dir)
    corpus = read_corpus(corpus_dir)

    model_dir = args.work / "model"
    if not model_dir.exists():
        settings = LoopSettings(epochs=args.epochs, batch_size=32, learning_rate=2e-3, warmup_steps=100, max_minutes=args.max_minutes)
        train_small_model(corpus, model_dir, SmallModelConfig(), settings)

    metadata = {
        "dataset": "digits",
        "corpus_seed": corpus.metadata.seed,
        "corpus_num_queries": corpus.metadata.num_queries,
        "corpus_content_sha256": corpus.metadata.content_sha256,
        "model_name": args.name,
    }
    plain = export_gguf(model_dir, args.work / f"{args.name}.F32.gguf", chat_format="plain", metadata=metadata)
    quantized = quantize_gguf(plain, args.work / f"{args.name}.{args.quantization}.gguf", args.quantization)

    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    target = MODELS_DIR / quantized.name
    shutil.copy2(quantized, target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
