"""Rebuild the archive bundled with kanbench.

Usage::

    python data/build_bundled_archive.py            # writes src/kanbench/data/kanbench.h5
    python data/build_bundled_archive.py --out X.h5

It includes every run export in ``data/runs/`` (``*.jsonl.gz``, written by
``kanbench export-runs``), so the datasets kanbench trained itself carry task
metrics.

The content checksums of the result are compared with the committed archive
by the test suite, so a change to the space, the cost model or the schema
shows up as a failing test until this script is rerun.
"""

import argparse
from pathlib import Path

from kanbench.archive.bundled import build_bundled_archive
from kanbench.archive.reader import Archive

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPOSITORY / "src" / "kanbench" / "data" / "kanbench.h5", help="archive to write"
    )
    parser.add_argument(
        "--runs", type=Path, nargs="*", default=sorted((REPOSITORY / "data" / "runs").glob("*.jsonl.gz")),
        help="run exports to include (default: data/runs/*.jsonl.gz)",
    )
    args = parser.parse_args()

    build_bundled_archive(args.out, args.runs)
    with Archive(args.out) as archive:
        for name in archive.datasets:
            view = archive.dataset(name)
            print(f"{name:9s} {view.num_architectures:7d} architectures  sha256 {view.content_sha256}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
