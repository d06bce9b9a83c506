"""Benchmark kanbench's KANLinear against the full-recursion baseline on CPU.

Usage::

    .venv/bin/python benchmarks/bench_kan_linear.py            # all 24 shapes, 11 rounds
    .venv/bin/python benchmarks/bench_kan_linear.py --quick    # 4 shapes, 5 rounds
    .venv/bin/python benchmarks/bench_kan_linear.py --rounds 21 --no-memory

Shapes: batch 64, in 256/1024/4096, out 10/100, grid 5/20, spline order 2/5,
float32, one torch thread, inputs drawn from N(0, 1) on the default grid over
[-1, 1]. For each shape the script times ``forward`` (under ``torch.no_grad``)
and ``forward+backward`` (the input requires grad, the loss is
``(y * r).sum()`` with a fixed ``r``, and all gradients are reset to None
before each step) of

* ``ours``: ``kanbench.models.KANLinear``,
* ``baseline``: ``ReferenceKANLinear`` from ``reference_kan.py``, the full
  Cox-de Boor recursion as efficient-kan computes it, with the same
  parameters,
* ``efficient-kan``: ``efficient_kan.KANLinear``, when that package imports.

Timing: each round runs every (implementation, mode) pair of a shape in a
new random order. A measurement is the mean over enough calls to last about
20 ms. The table shows the median over rounds of wall-clock time, and the
ratio ``baseline / ours`` of those medians. The geometric means run over all
shapes measured.

Memory: the peak resident memory that one forward+backward step adds on top
of what was resident before it, after a warm-up step (so inputs, parameters
and library buffers are already allocated). A child process per shape and
implementation runs with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``, so that
every tensor above 64 KiB gets its own ``mmap`` and leaves the resident set
when freed. It reads the peak from ``VmHWM`` after resetting it through
``/proc/self/clear_refs``. That needs Linux with glibc; elsewhere the memory
table is skipped. The timings run in the parent without that setting,
because an ``mmap`` per tensor slows every step down.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_kan import ReferenceKANLinear  # noqa: E402

from kanbench.models import KANLinear  # noqa: E402

BATCH = 64
IN_FEATURES = (256, 1024, 4096)
OUT_FEATURES = (10, 100)
GRID_SIZES = (5, 20)
SPLINE_ORDERS = (2, 5)
QUICK_SHAPES = ((256, 10, 5, 2), (1024, 100, 20, 2), (1024, 10, 5, 5), (4096, 100, 20, 5))
TARGET_MEASUREMENT_S = 0.02
MMAP_THRESHOLD_BYTES = 64 * 1024

Shape = tuple[int, int, int, int]


def all_shapes() -> list[Shape]:
    return [
        (in_features, out_features, grid_size, spline_order)
        for in_features in IN_FEATURES
        for out_features in OUT_FEATURES
        for grid_size in GRID_SIZES
        for spline_order in SPLINE_ORDERS
    ]


def load_efficient_kan() -> tuple[type[nn.Module] | None, str]:
    """Return efficient_kan.KANLinear and a status line, or None and the reason it is missing."""
    try:
        from efficient_kan import KANLinear as EfficientKANLinear
    except ImportError as error:
        return None, f"efficient-kan: not measured, import failed ({error})"
    return EfficientKANLinear, "efficient-kan: measured (efficient_kan imports)"


def build_layers(shape: Shape, efficient_kan: type[nn.Module] | None) -> dict[str, nn.Module]:
    in_features, out_features, grid_size, spline_order = shape
    torch.manual_seed(0)
    ours = KANLinear(in_features, out_features, grid_size=grid_size, spline_order=spline_order)
    layers = {"ours": ours, "baseline": ReferenceKANLinear.from_layer(ours)}
    if efficient_kan is not None:
        theirs = efficient_kan(
            in_features, out_features, grid_size=grid_size, spline_order=spline_order
        )
        theirs.load_state_dict(ours.state_dict())
        layers["efficient-kan"] = theirs
    return layers


def make_steps(
    layer: nn.Module, x: torch.Tensor, upstream: torch.Tensor
) -> dict[str, Callable[[], None]]:
    """Return the timed callables of one layer: ``forward`` and ``forward+backward``."""

    def forward() -> None:
        with torch.no_grad():
            layer(x)

    x_grad = x.clone().requires_grad_(True)

    def forward_backward() -> None:
        for parameter in layer.parameters():
            parameter.grad = None
        x_grad.grad = None
        (layer(x_grad) * upstream).sum().backward()

    return {"forward": forward, "forward+backward": forward_backward}


def build_steps(
    shape: Shape, efficient_kan: type[nn.Module] | None
) -> dict[tuple[str, str], Callable[[], None]]:
    """Return the callables of every (implementation, mode) pair for one shape."""
    layers = build_layers(shape, efficient_kan)
    x = torch.randn(BATCH, shape[0])
    upstream = torch.randn(BATCH, shape[1])
    return {
        (name, mode): step
        for name, layer in layers.items()
        for mode, step in make_steps(layer, x, upstream).items()
    }


def calls_per_measurement(step: Callable[[], None]) -> int:
    start = time.perf_counter()
    step()
    elapsed = time.perf_counter() - start
    return max(1, min(200, round(TARGET_MEASUREMENT_S / max(elapsed, 1e-6))))


def time_shape(
    steps: dict[tuple[str, str], Callable[[], None]], rounds: int, rng: random.Random
) -> dict[tuple[str, str], float]:
    """Return the median seconds per call of every step, over shuffled rounds."""
    for step in steps.values():
        step()
    calls = {key: calls_per_measurement(step) for key, step in steps.items()}
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    keys = list(steps)
    for _ in range(rounds):
        rng.shuffle(keys)
        for key in keys:
            step = steps[key]
            start = time.perf_counter()
            for _ in range(calls[key]):
                step()
            samples[key].append((time.perf_counter() - start) / calls[key])
    return {key: statistics.median(values) for key, values in samples.items()}


def read_status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(f"{field} missing from /proc/self/status")


def measure_peak_in_this_process(shape: Shape, name: str) -> int:
    """Return the bytes one forward+backward step of ``name`` adds to the resident peak."""
    torch.set_num_threads(1)
    step = build_steps(shape, None)[(name, "forward+backward")]
    step()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = read_status_bytes("VmRSS")
    step()
    return read_status_bytes("VmHWM") - before


def measure_peak(shape: Shape, name: str) -> tuple[int | None, str]:
    """Run :func:`measure_peak_in_this_process` in a child process.

    Returns the peak in bytes and an empty string, or None and the child's
    last line of stderr.
    """
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD_BYTES))
    command = [sys.executable, __file__, "--memory-worker", ",".join(map(str, shape)), name]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1] if result.stderr else "no output"
    return json.loads(result.stdout)["peak_bytes"], ""


def format_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f}"


def format_mib(size: int | None) -> str:
    return "       -" if size is None else f"{size / 2**20:8.1f}"


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


def describe_machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"CPU {model} ({os.cpu_count()} logical cores), {torch.get_num_threads()} torch thread, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def run_timings(
    shapes: list[Shape], rounds: int, rng: random.Random, efficient_kan: type[nn.Module] | None
) -> None:
    header = (
        f"{'in':>5} {'out':>4} {'G':>3} {'K':>2} | {'fwd ours':>8} {'fwd base':>8} {'ratio':>6} | "
        f"{'f+b ours':>8} {'f+b base':>8} {'ratio':>6}"
    )
    if efficient_kan is not None:
        header += f" | {'f+b ekan':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))

    forward_ratios: list[float] = []
    training_ratios: list[float] = []
    efficient_kan_ratios: list[float] = []
    for shape in shapes:
        medians = time_shape(build_steps(shape, efficient_kan), rounds, rng)

        forward_ratio = medians[("baseline", "forward")] / medians[("ours", "forward")]
        training_ratio = (
            medians[("baseline", "forward+backward")] / medians[("ours", "forward+backward")]
        )
        forward_ratios.append(forward_ratio)
        training_ratios.append(training_ratio)
        line = (
            f"{shape[0]:>5} {shape[1]:>4} {shape[2]:>3} {shape[3]:>2} | "
            f"{format_ms(medians[('ours', 'forward')])} "
            f"{format_ms(medians[('baseline', 'forward')])} {forward_ratio:6.2f} | "
            f"{format_ms(medians[('ours', 'forward+backward')])} "
            f"{format_ms(medians[('baseline', 'forward+backward')])} {training_ratio:6.2f}"
        )
        if efficient_kan is not None:
            theirs = medians[("efficient-kan", "forward+backward")]
            efficient_kan_ratios.append(theirs / medians[("ours", "forward+backward")])
            line += f" | {format_ms(theirs)} {efficient_kan_ratios[-1]:6.2f}"
        print(line, flush=True)

    print()
    print(f"geometric mean of baseline / ours, forward:          {geometric_mean(forward_ratios):.2f}")
    print(f"geometric mean of baseline / ours, forward+backward: {geometric_mean(training_ratios):.2f}")
    print(f"slowest shape, forward+backward: {min(training_ratios):.2f}x the baseline's speed")
    if efficient_kan_ratios:
        print(
            "geometric mean of efficient-kan / ours, forward+backward: "
            f"{geometric_mean(efficient_kan_ratios):.2f}"
        )
    else:
        print("no ratio against efficient-kan itself, because the package does not import")


def run_memory(shapes: list[Shape]) -> None:
    print("peak memory added by one forward+backward step, MiB (child process per cell)")
    print(f"{'in':>5} {'out':>4} {'G':>3} {'K':>2} | {'ours':>8} {'baseline':>8} {'base/ours':>9}")
    for shape in shapes:
        peaks = {}
        for name in ("ours", "baseline"):
            peak, error = measure_peak(shape, name)
            if peak is None:
                print(f"memory: not measured ({error})")
                return
            peaks[name] = peak
        print(
            f"{shape[0]:>5} {shape[1]:>4} {shape[2]:>3} {shape[3]:>2} | "
            f"{format_mib(peaks['ours'])} {format_mib(peaks['baseline'])} "
            f"{peaks['baseline'] / max(peaks['ours'], 1):9.2f}",
            flush=True,
        )


def parse_shape(text: str) -> Shape:
    in_features, out_features, grid_size, spline_order = (int(part) for part in text.split(","))
    return in_features, out_features, grid_size, spline_order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="run 4 of the 24 shapes with 5 rounds")
    parser.add_argument(
        "--rounds", type=int, default=None, help="timing rounds per shape (default 11, 5 with --quick)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory table")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled round order")
    parser.add_argument(
        "--memory-worker",
        nargs=2,
        metavar=("SHAPE", "IMPLEMENTATION"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    if args.memory_worker:
        shape_text, name = args.memory_worker
        print(json.dumps({"peak_bytes": measure_peak_in_this_process(parse_shape(shape_text), name)}))
        return 0

    shapes = list(QUICK_SHAPES) if args.quick else all_shapes()
    rounds = args.rounds or (5 if args.quick else 11)
    efficient_kan, efficient_kan_status = load_efficient_kan()

    print(describe_machine())
    print(
        f"batch {BATCH}, float32, inputs N(0, 1), {rounds} shuffled rounds, "
        "median wall-clock ms per call"
    )
    print(efficient_kan_status)
    print()
    run_timings(shapes, rounds, random.Random(args.seed), efficient_kan)
    if not args.no_memory:
        print()
        run_memory(shapes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
