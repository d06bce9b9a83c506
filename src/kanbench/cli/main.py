"""``kanbench`` command line: query, filter, rank, generate, import and verify.

Usage::

    kanbench info
    kanbench query "31.51.48S" --dataset cifar10
    kanbench filter --dataset stl10 --max-params 1e5 --depth 3 --sort-by num_flops --limit 10
    kanbench pareto --archive cifar10.h5 --objectives test_accuracy num_params
    kanbench generate --archive cifar10.h5 --max-params 1e6 --alpha 0.5
    kanbench import nas_cnn_kan_cifar10_results.csv --out cifar10.h5
    kanbench verify --archive cifar10.h5
    kanbench generate --max-params 20000 --alpha 0.5 --backend lm
    kanbench lm eval --dataset digits --queries 500

Exit status: 0 on success, 1 on an error, 2 on a usage error and 130 when
interrupted (Ctrl-C). An error prints one line on stderr, and ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from kanbench._version import __version__
from kanbench.cli import commands, lm_commands


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--archive", metavar="PATH", help="archive file (default: the archive bundled with kanbench)")
    common.add_argument("--dataset", metavar="NAME", help="dataset (default: the archive's default dataset)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")

    parser = argparse.ArgumentParser(prog="kanbench", description="Tabular benchmark of Conv-KAN image classifiers.")
    parser.add_argument("--version", action="version", version=f"kanbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("info", parents=[common], help="describe the archive: datasets, sizes, coverage, provenance")

    query = sub.add_parser("query", parents=[common], help="every metric of one architecture")
    query.add_argument("architecture", help="arch_id, canonical string, compact notation (e.g. 31.51.48S) or free text")
    query.add_argument("--seed", help="one seed, or 'all'; default: mean over seeds")

    filtering = sub.add_parser("filter", parents=[common], help="architectures within budgets and choices")
    _add_budget_options(filtering)
    filtering.add_argument("--min-accuracy", type=float, metavar="FRACTION", help="minimum test accuracy in [0, 1]")
    filtering.add_argument("--depth", type=int, nargs="+", help="number of conv blocks (2..7)")
    filtering.add_argument("--activation", nargs="+", help="ReLU, GELU and/or SiLU")
    filtering.add_argument("--spline-order", type=int, nargs="+", help="KAN spline order (2..5)")
    filtering.add_argument("--grid-size", type=int, nargs="+", help="KAN grid size (5, 8, 10, 15, 20)")
    filtering.add_argument("--kernel-size", type=int, nargs="+", help="allowed conv kernel sizes")
    filtering.add_argument("--with-task-metrics", action="store_true", help="keep only architectures with task metrics")
    _add_listing_options(filtering, default_sort="arch_id")

    pareto = sub.add_parser("pareto", parents=[common], help="the non-dominated architectures for some objectives")
    pareto.add_argument(
        "--objectives",
        nargs="+",
        default=["test_accuracy", "num_params"],
        metavar="METRIC",
        help="scalar metrics; accuracies are maximised, costs and times minimised (default: test_accuracy num_params)",
    )
    _add_listing_options(pareto, default_sort="num_params")

    generate = sub.add_parser("generate", parents=[common], help="the best architecture in the table under budgets")
    _add_budget_options(generate)
    generate.add_argument("--alpha", type=float, default=0.5, help="accuracy weight in [0, 1] (default 0.5)")
    generate.add_argument("-k", type=int, help="number of architectures to return (exact backend; default 1)")
    generate.add_argument("--backend", choices=["exact", "lm"], default="exact", help="exact solver or language model")
    generate.add_argument("--model", metavar="GGUF", help="language model file for --backend lm (default: resolved)")
    generate.add_argument(
        "--mode",
        choices=["constrained", "constrained-greedy", "free"],
        default="constrained",
        help="decoding mode of --backend lm (default constrained: the most likely feasible table entry)",
    )
    generate.add_argument("--fallback", action="store_true", help="use the exact answer when the model's fails a check")

    importing = sub.add_parser("import", parents=[common], help="convert NAS-KAN result CSVs into an archive")
    importing.add_argument("csv", nargs="+", help="result tables named nas_cnn_kan_<dataset>_results.csv")
    importing.add_argument("--out", required=True, metavar="PATH", help="archive to write (replaced atomically)")
    importing.add_argument("--strict", action="store_true", help="fail on any rejected row")
    importing.add_argument("--source", help="provenance label after 'imported:' (default: the file name)")
    importing.add_argument("--archive-version", default="imported", help="version string stored in the archive")

    sub.add_parser("verify", parents=[common], help="check every dataset's SHA-256 against its content")

    train = sub.add_parser("train", parents=[common], help="train one architecture (needs kanbench[train])")
    train.add_argument("architecture", help="arch_id, canonical string or compact notation")
    train.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    train.add_argument("--device", default="cpu", help="torch device (default cpu)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    train.add_argument("--data-root", metavar="DIR", help="directory with the dataset files")
    train.add_argument("--download", action="store_true", help="download missing dataset files (needs network)")
    train.add_argument("--checkpoint", metavar="PATH", help="write the trained weights and record here")
    populate = sub.add_parser("populate", parents=[common], help="train a whole space or a slice of it, resumably")
    populate.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create or resume")
    selection = populate.add_mutually_exclusive_group()
    selection.add_argument("--arch-ids", metavar="START:STOP", help="arch_id range (half-open) or comma-separated ids")
    selection.add_argument("--sample", type=int, metavar="N", help="N architectures drawn uniformly at random")
    populate.add_argument("--sample-seed", type=int, default=0, help="seed of --sample (default 0)")
    populate.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    populate.add_argument("--protocol", help="named protocol (default: digits-v1 for digits, authors otherwise)")
    populate.add_argument("--epochs", type=int, help="override the protocol's epochs")
    populate.add_argument("--engine", choices=["local", "ray"], default="local", help="where runs execute (default local)")
    populate.add_argument("--workers", type=int, default=1, help="local worker processes, one torch thread each (default 1)")
    populate.add_argument("--address", help="Ray cluster address for --engine ray (default: start a local one)")
    populate.add_argument("--retry-failed", action="store_true", help="rerun pairs whose last run failed")
    populate.add_argument("--data-root", metavar="DIR", help="directory with the dataset files")
    populate.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    build = sub.add_parser("build-archive", parents=[common], help="merge run directories and CSVs into an archive")
    build.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories or .jsonl.gz exports")
    build.add_argument("--import", dest="csvs", nargs="+", default=[], metavar="CSV", help="also import these result CSVs")
    build.add_argument("--out", required=True, metavar="PATH", help="archive to write (replaced atomically)")
    build.add_argument("--archive-version", default="local", help="version string stored in the archive")
    build.add_argument("--include-analytic", action="store_true", help="add every other dataset with cost metrics only")

    export = sub.add_parser("export-runs", parents=[common], help="pack a run directory into one .jsonl.gz file")
    export.add_argument("run_dir", metavar="RUN_DIR", help="run directory to export")
    export.add_argument("--out", required=True, metavar="PATH", help="file to write, ending in .jsonl.gz")

    restore = sub.add_parser("restore-runs", parents=[common], help="unpack a .jsonl.gz export into a run directory")
    restore.add_argument("export", metavar="EXPORT", help="file written by export-runs")
    restore.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create or add to")

    lm_commands.add_parser(sub, common)
    return parser


def _add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-params", type=float, metavar="COUNT", help="maximum trainable parameters")
    parser.add_argument("--max-flops", type=float, metavar="FLOPS", help="maximum FLOPs per image")
    parser.add_argument("--max-train-time", type=float, metavar="SECONDS", help="maximum wall time of a training run")
    parser.add_argument("--max-epoch-time", type=float, metavar="SECONDS", help="maximum mean wall time per epoch")


def _add_listing_options(parser: argparse.ArgumentParser, default_sort: str) -> None:
    parser.add_argument("--sort-by", default=default_sort, metavar="METRIC", help=f"sort key (default {default_sort})")
    parser.add_argument("--descending", action="store_true", default=None, help="sort in descending order")
    parser.add_argument("--limit", type=int, default=20, help="rows to print; 0 prints all (default 20)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        output = commands.run(args)
    except KeyboardInterrupt:
        print(f"kanbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every error becomes one line and exit 1
        if args.debug:
            raise
        message = "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
        print(f"kanbench {args.command}: error: {message}", file=sys.stderr)
        return 1
    if output:
        try:
            print(output)
        except BrokenPipeError:
            # The reader (e.g. `| head`) closed the pipe; silence the flush at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
