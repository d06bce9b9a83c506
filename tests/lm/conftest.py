"""Fixtures of the language-model tests: a hand-made digits archive that needs no external data.

Seven digits architectures get a test accuracy and a training time chosen
by hand, and every other entry has no task metrics. Costs (parameters, FLOPs)
are the analytic ones that the archive writer computes:

========  ===================================================================  ========  ==========  ========  ======
arch_id   architecture                                                         params    FLOPs       accuracy  time s
========  ===================================================================  ========  ==========  ========  ======
0         Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=5,act=ReLU)   5,920     102,464     0.80      10
1         Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=5,act=GELU)   5,920     102,464     0.82      11
60        Conv2d(k=1,p=0) -> Conv2d(k=1,p=1) -> KAN(order=2,grid=5,act=ReLU)   13,120    229,264     0.85      20
120       Conv2d(k=1,p=0) -> Conv2d(k=3,p=0) -> KAN(order=2,grid=5,act=ReLU)   2,624     34,576      0.70      5
600       Conv2d(k=3,p=0) -> Conv2d(k=3,p=1) -> KAN(order=2,grid=5,act=ReLU)   2,688     50,256      0.75      6
1200      Conv2d(k=1,p=0) -> Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(...)    8,704     123,424     0.90      30
7019      seven conv blocks, KAN(order=5,grid=20,act=SiLU)                     1,362,560 17,345,856  0.88      400
========  ===================================================================  ========  ==========  ========  ======
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kanbench import KANBench
from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.space import SearchSpace

DIGITS_ENTRIES = {
    0: (0.80, 10.0),
    1: (0.82, 11.0),
    60: (0.85, 20.0),
    120: (0.70, 5.0),
    600: (0.75, 6.0),
    1200: (0.90, 30.0),
    7019: (0.88, 400.0),
}
"""arch_id -> (test accuracy as a fraction, training time of the whole run in seconds)."""


@pytest.fixture(scope="session")
def digits_entries() -> dict[int, tuple[float, float]]:
    """The hand-set :data:`DIGITS_ENTRIES`."""
    return dict(DIGITS_ENTRIES)


@pytest.fixture(scope="session")
def digits_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive holding only digits, with task metrics for the :data:`DIGITS_ENTRIES` alone."""
    size = len(SearchSpace.for_dataset("digits"))
    accuracy = np.full((size, 1), np.nan)
    train_time = np.full((size, 1), np.nan)
    for arch_id, (test_accuracy, seconds) in DIGITS_ENTRIES.items():
        accuracy[arch_id, 0] = test_accuracy
        train_time[arch_id, 0] = seconds

    table = DatasetTable(
        name="digits",
        seeds=(0,),
        num_epochs=0,
        protocol={"note": "hand-set values for the language-model tests"},
        provenance={"test_accuracy": "imported:hand-set", "train_time_sec": "imported:hand-set"},
        metrics={"test_accuracy": accuracy, "train_time_sec": train_time},
    )
    path = tmp_path_factory.mktemp("lm-archives") / "digits.h5"
    write_archive(path, [table], archive_version="test")
    return path


@pytest.fixture(scope="session")
def digits_bench(digits_archive: Path):
    """``KANBench`` over :func:`digits_archive`, shared by the session, so tests must not close it."""
    bench = KANBench(digits_archive)
    yield bench
    bench.close()


TINY_CONFIG = {"hidden_size": 256, "intermediate_size": 256, "num_layers": 1, "num_heads": 4, "vocab_size": 512}
"""A one-block model: big enough for llama.cpp's K-quants, small enough to train in seconds."""


@pytest.fixture(scope="session")
def bundled_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 240-query corpus (seed 0) built from the bundled digits results."""
    from kanbench.lm.corpus import build_corpus, write_corpus

    out = tmp_path_factory.mktemp("corpus") / "digits"
    with KANBench() as bench:
        write_corpus(build_corpus(bench, "digits", num_queries=240, seed=0), out)
    return out


@pytest.fixture(scope="session")
def bundled_corpus(bundled_corpus_dir: Path):
    from kanbench.lm.corpus import read_corpus

    return read_corpus(bundled_corpus_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(bundled_corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny small-model checkpoint trained for two epochs on :func:`bundled_corpus`."""
    pytest.importorskip("transformers", reason="transformers is not installed (pip install 'kanbench[lm-train]')")
    pytest.importorskip("sentencepiece", reason="sentencepiece is not installed (pip install 'kanbench[lm-train]')")
    from kanbench.lm.small_model import SmallModelConfig, train_small_model
    from kanbench.lm.training import LoopSettings

    settings = LoopSettings(epochs=2, batch_size=16, learning_rate=3e-3, warmup_steps=2)
    out = tmp_path_factory.mktemp("models") / "tiny"
    return train_small_model(bundled_corpus, out, SmallModelConfig(**TINY_CONFIG), settings)


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path) -> Path:
    """:func:`tiny_model_dir` exported to F32 GGUF with its dataset and corpus recorded."""
    pytest.importorskip("gguf", reason="gguf is not installed (pip install 'kanbench[lm-train]')")
    from kanbench.lm.export import export_gguf
    from kanbench.lm.small_model import read_manifest

    corpus = read_manifest(tiny_model_dir)["corpus"]
    metadata = {"dataset": "digits", "corpus_seed": corpus["seed"], "corpus_num_queries": corpus["num_queries"]}
    return export_gguf(tiny_model_dir, tiny_model_dir.parent / "tiny-f32.gguf", chat_format="plain", metadata=metadata)


@pytest.fixture(scope="session")
def tiny_model(tiny_gguf: Path):
    """:func:`tiny_gguf` loaded with llama-cpp-python (one thread), shared by the session."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")
    from kanbench.lm.backend import LlamaCppModel

    model = LlamaCppModel(tiny_gguf)
    yield model
    model.close()
