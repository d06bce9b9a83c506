"""The CLI's subcommands; each returns the text to print."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kanbench.cli import lm_commands
from kanbench.cli.output import format_mapping, format_table, to_json, format_value

logger = logging.getLogger(__name__)

_RECORD_FIELDS = (
    "arch_id",
    "architecture",
    "num_params",
    "num_flops",
    "test_accuracy",
    "test_f1",
    "valid_accuracy",
    "train_time_sec",
)


def run(args: argparse.Namespace) -> str:
    """Dispatch to the subcommand named by ``args.command``."""
    handlers = {
        "info": info,
        "query": query,
        "filter": filter_architectures,
        "pareto": pareto,
        "generate": generate,
        "import": import_results,
        "verify": verify,
        "train": train,
        "populate": populate,
        "build-archive": build_archive,
        "export-runs": export_runs,
        "restore-runs": restore_runs,
        "lm": lm_commands.run,
    }
    return handlers[args.command](args)


def info(args: argparse.Namespace) -> str:
    bench = _open(args)
    archive = bench.archive
    datasets = []
    for name in bench.datasets:
        coverage = bench.coverage(name)
        view = archive.dataset(name)
        datasets.append(
            {
                "dataset": name,
                "input_shape": "x".join(map(str, view.input_shape)),
                "classes": view.num_classes,
                "architectures": coverage.num_architectures,
                "with_task_metrics": coverage.with_task_metrics,
                "seeds": list(view.seeds),
                "epochs": view.num_epochs,
                "test_accuracy_source": view.provenance.get("test_accuracy", "missing"),
                "provenance": view.provenance,
                "sha256": view.content_sha256,
            }
        )
    summary = {
        "archive": str(archive.path),
        "archive_version": archive.archive_version,
        "schema_version": archive.schema_version,
        "created_utc": archive.created_utc,
        "written_by": f"kanbench {archive.kanbench_version}",
        "default_dataset": bench.default_dataset,
    }
    if args.json:
        return to_json({**summary, "datasets": datasets})
    columns = ["dataset", "input_shape", "classes", "architectures", "with_task_metrics", "seeds", "test_accuracy_source"]
    return format_mapping(summary) + "\n\n" + format_table(datasets, columns)


def query(args: argparse.Namespace) -> str:
    bench = _open(args)
    architecture = int(args.architecture) if args.architecture.isdigit() else args.architecture
    seed = args.seed
    if seed is not None and seed != "all":
        seed = int(seed)
    record = bench.query(architecture, dataset=args.dataset, seed=seed)
    values = record.to_dict()
    if args.json:
        return to_json(values)
    provenance = values.pop("provenance")
    lines = format_mapping({key: value for key, value in values.items() if key != "note"})
    lines += "\n\nprovenance:\n" + format_mapping(provenance)
    if record.note:
        lines += f"\n\nnote: {record.note}"
    return lines


def filter_architectures(args: argparse.Namespace) -> str:
    bench = _open(args)
    results = bench.filter(
        args.dataset,
        max_params=args.max_params,
        max_flops=args.max_flops,
        max_train_time=args.max_train_time,
        max_epoch_time=args.max_epoch_time,
        min_accuracy=args.min_accuracy,
        depth=args.depth,
        activation=args.activation,
        spline_order=args.spline_order,
        grid_size=args.grid_size,
        kernel_size=args.kernel_size,
        with_task_metrics=True if args.with_task_metrics else None,
    )
    return _listing(results, args)


def pareto(args: argparse.Namespace) -> str:
    bench = _open(args)
    return _listing(bench.pareto(args.dataset, objectives=args.objectives), args)


def generate(args: argparse.Namespace) -> str:
    bench = _open(args)
    results = bench.generate(
        max_params=args.max_params,
        max_flops=args.max_flops,
        max_train_time=args.max_train_time,
        max_epoch_time=args.max_epoch_time,
        alpha=args.alpha,
        dataset=args.dataset,
        k=args.k,
        backend=args.backend,
        model=args.model,
        mode=args.mode,
        fallback=args.fallback,
    )
    if not isinstance(results, list):
        results = [results]
    if args.json:
        return to_json([result.to_dict() for result in results])
    rows = []
    for result in results:
        record = result.record
        rows.append(
            {
                "rank": result.rank,
                "arch_id": result.arch_id,
                "architecture": result.architecture,
                "score": result.score,
                "test_accuracy": record.test_accuracy,
                "num_params": record.num_params,
                "num_flops": record.num_flops,
                "train_time_sec": record.train_time_sec,
                "binding": ", ".join(result.binding) or "none",
            }
        )
    header = f"dataset {results[0].dataset}, alpha {format_value(results[0].alpha)}, backend {results[0].backend}"
    if results[0].model is not None:
        header += f", model {results[0].model}"
    if results[0].fallback_reason is not None:
        header += f"\nthe model answered {results[0].model_answer!r}, rejected: {results[0].fallback_reason}"
    elif results[0].checks is not None:
        header += "\nchecks: " + ", ".join(f"{name} {'yes' if passed else 'NO'}" for name, passed in results[0].checks.items())
    margins = "; ".join(f"{name} margin {format_value(value)}" for name, value in results[0].margins.items())
    return "\n".join(filter(None, [header, margins, format_table(rows, list(rows[0]))]))


def import_results(args: argparse.Namespace) -> str:
    from kanbench.archive.importer import import_results_csv
    from kanbench.archive.writer import write_archive

    tables, reports = [], []
    for path in args.csv:
        table, report = import_results_csv(path, args.dataset, strict=args.strict, source=args.source)
        tables.append(table)
        reports.append(report)
    written = write_archive(args.out, tables, archive_version=args.archive_version, description="imported result tables")

    if args.json:
        return to_json(
            {
                "archive": str(written),
                "imports": [
                    {
                        "source": report.source,
                        "dataset": report.dataset,
                        "rows_read": report.rows_read,
                        "rows_imported": report.rows_imported,
                        "space_size": report.space_size,
                        "rejected": report.counts(),
                        "problems": [vars_of(problem) for problem in report.problems],
                    }
                    for report in reports
                ],
            }
        )
    return "\n".join([report.summary() for report in reports] + [f"wrote {written}"])


def verify(args: argparse.Namespace) -> str:
    bench = _open(args)
    digests = bench.verify()
    if args.json:
        return to_json({"archive": str(bench.archive.path), "verified": digests})
    rows = [{"dataset": name, "sha256": digest, "status": "ok"} for name, digest in digests.items()]
    return format_table(rows, ["dataset", "status", "sha256"])


def train(args: argparse.Namespace) -> str:
    bench = _open(args)
    architecture = int(args.architecture) if args.architecture.isdigit() else args.architecture
    record = bench.train(
        architecture,
        args.dataset,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        device=args.device,
        num_threads=args.threads,
        data_root=args.data_root,
        download=args.download,
        checkpoint_path=args.checkpoint,
    )
    values = record.to_dict()
    if args.json:
        return to_json(values)
    return format_mapping({key: value for key, value in values.items() if not isinstance(value, dict)})


def populate(args: argparse.Namespace) -> str:
    from kanbench.sweep.runner import populate as run_sweep

    if not args.dataset:
        raise ValueError("populate needs --dataset, e.g. --dataset digits")
    overrides = {"epochs": args.epochs, "data_root": args.data_root}
    summary = run_sweep(
        args.dataset,
        args.out,
        seeds=args.seeds,
        arch_ids=args.arch_ids,
        sample=args.sample,
        sample_seed=args.sample_seed,
        protocol=args.protocol,
        overrides=overrides,
        engine=args.engine,
        workers=args.workers,
        address=args.address,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
    )
    if args.json:
        return to_json({**{name: getattr(summary, name) for name in summary.__slots__}, "runs_per_core_hour": summary.runs_per_core_hour})
    return summary.describe()


def build_archive(args: argparse.Namespace) -> str:
    from kanbench.archive.reader import Archive
    from kanbench.sweep.build import build_archive as build

    if not args.runs and not args.csvs:
        raise ValueError("give at least one run directory, export or --import CSV")
    written = build(
        args.runs, args.out, archive_version=args.archive_version, csvs=args.csvs, include_analytic=args.include_analytic
    )
    rows = []
    with Archive(written) as archive:
        for name in archive.datasets:
            view = archive.dataset(name)
            trained = int((~_all_nan_rows(view.column("test_accuracy"))).sum())
            rows.append({"dataset": name, "architectures": view.num_architectures, "with_task_metrics": trained,
                         "seeds": list(view.seeds), "test_accuracy_source": view.provenance["test_accuracy"]})
    if args.json:
        return to_json({"archive": str(written), "datasets": rows})
    return format_table(rows, list(rows[0])) + f"\nwrote {written}"


def export_runs(args: argparse.Namespace) -> str:
    from kanbench.sweep.run_dir import RunDirectory

    if not str(args.out).endswith(".jsonl.gz"):
        raise ValueError(f"export file {args.out!r} must end in .jsonl.gz")
    return f"wrote {RunDirectory(args.run_dir).export(args.out)}"


def restore_runs(args: argparse.Namespace) -> str:
    from kanbench.sweep.run_dir import RunDirectory

    run_dir, added = RunDirectory.restore(args.export, args.out)
    return f"added {added} result(s) to {run_dir.path}; {len(run_dir.finished())} finished in total"


def _all_nan_rows(values):
    import numpy as np

    return np.isnan(values).all(axis=1) if values.shape[1] else np.ones(values.shape[0], dtype=bool)


def vars_of(item: object) -> dict:
    return {name: getattr(item, name) for name in item.__slots__}  # type: ignore[attr-defined]


def _open(args: argparse.Namespace):
    from kanbench.query.bench import KANBench

    return KANBench(Path(args.archive) if args.archive else None)


def _listing(results, args: argparse.Namespace) -> str:
    if args.sort_by != "arch_id":
        results = results.sort(args.sort_by, descending=args.descending)
    total = len(results)
    shown = results if args.limit == 0 else results.head(args.limit)
    records = [record.to_dict() for record in shown]
    if args.json:
        return to_json({"dataset": results.dataset, "total": total, "results": records})
    if not records:
        return f"no architectures match on {results.dataset}"
    table = format_table(records, _RECORD_FIELDS)
    return f"{total:,} architecture(s) on {results.dataset}; showing {len(records)}\n{table}"
