"""Evaluate a GGUF model against the exact solver on held-out queries, and time both.

Usage::

    python benchmarks/bench_lm.py                           # the bundled digits model, 500 test queries
    python benchmarks/bench_lm.py --model other.gguf --queries 200 --modes constrained

For each decoding mode it prints the evaluation report of
``kanbench.lm.evaluate_model`` (validity, in-table and feasibility rates,
exact and top-5 match, accuracy and score regret, refusals, p50/p95
latency), and the exact solver's median latency on the same queries, timed
in the same run, with the ratio. The queries are the held-out test split of
the corpus the model was trained on, rebuilt from the seed and size stored
in the model file.
"""

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from kanbench import KANBench
from kanbench.errors import InfeasibleQueryError
from kanbench.lm.corpus import build_corpus, write_corpus
from kanbench.lm.evaluate import evaluate_model
from kanbench.lm.resolve import resolve_model

REPORTED = (
    "validity",
    "in_table",
    "feasibility",
    "exact_match",
    "top_k_match",
    "accuracy_regret_mean_pp",
    "accuracy_regret_worst_pp",
    "score_regret_mean",
    "refusal_accuracy",
    "false_refusal_rate",
    "latency_p50_sec",
    "latency_p95_sec",
)


def exact_latencies(bench: KANBench, dataset: str, examples) -> list[float]:
    """Seconds of ``bench.generate`` (exact backend) per example, after one warm-up call."""
    bench.generate(alpha=0.5, dataset=dataset)
    seconds = []
    for example in examples:
        started = time.perf_counter()
        try:
            bench.generate(**example.budgets, alpha=example.alpha, dataset=dataset)
        except InfeasibleQueryError:
            pass
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: resolved as generate does)")
    parser.add_argument("--dataset", default="digits", help="dataset (default digits)")
    parser.add_argument("--queries", type=int, default=500, help="test queries to use (default 500)")
    parser.add_argument("--modes", nargs="+", default=["constrained", "constrained-greedy", "free"], help="decoding modes")
    args = parser.parse_args()

    bench = KANBench()
    resolved = resolve_model(args.model, dataset=args.dataset)
    generator = bench.model_generator(args.dataset, resolved.path)
    metadata = generator.model.metadata
    corpus = build_corpus(
        bench, args.dataset, num_queries=int(metadata["kanbench.corpus_num_queries"]), seed=int(metadata["kanbench.corpus_seed"])
    )
    examples = corpus.split("test")[: args.queries]
    corpus_dir = Path(tempfile.mkdtemp(prefix="kanbench-bench-lm-"))
    write_corpus(corpus, corpus_dir / "corpus")
    print(f"machine: {platform.machine()}, python {platform.python_version()}, model {resolved.path} ({resolved.source})")
    print(f"queries: {len(examples)} held-out test queries of {args.dataset}")

    exact = statistics.median(exact_latencies(bench, args.dataset, examples))
    print(f"exact solver: p50 latency {exact * 1e3:.3f} ms")
    for mode in args.modes:
        report = evaluate_model(
            bench, args.dataset, model=resolved.path, corpus_dir=corpus_dir / "corpus", num_queries=args.queries, mode=mode
        ).to_dict()
        print(f"\nmode {mode}")
        for key in REPORTED:
            value = report[key]
            print(f"  {key:26s} {'n/a' if value is None else f'{value:.4f}'}")
        print(f"  p50 latency ratio lm/exact {report['latency_p50_sec'] / exact:.1f}x")
    shutil.rmtree(corpus_dir)


if __name__ == "__main__":
    main()
