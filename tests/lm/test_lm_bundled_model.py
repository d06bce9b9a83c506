"""The small digits model shipped in the package: found, loadable, and correct by construction."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")

from kanbench import KANBench
from kanbench.lm.evaluate import evaluate_model
from kanbench.lm.export import read_gguf_metadata
from kanbench.lm.resolve import BUNDLED_MODELS, MODEL_ENV, bundled_model_path, resolve_model


@pytest.fixture(scope="module")
def bench():
    with KANBench() as opened:
        yield opened


def test_bundled_model_is_found(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    resolved = resolve_model(dataset="digits")
    assert resolved.source == "bundled"
    assert resolved.path == bundled_model_path("digits")
    assert resolved.path.name == BUNDLED_MODELS["digits"]
    assert resolved.path.stat().st_size < 20e6


def test_bundled_model_metadata():
    metadata = read_gguf_metadata(bundled_model_path("digits"))
    with KANBench() as bench:
        digest = bench.archive.dataset("digits").content_sha256
    assert metadata["kanbench.dataset"] == "digits"
    assert metadata["kanbench.chat_format"] == "plain"
    assert metadata["kanbench.corpus_content_sha256"] == digest


def test_bundled_model_meets_targets(bench, monkeypatch):
    """On all 3,000 held-out queries: valid, in the table and feasible always; 62.2 % exact when measured."""
    monkeypatch.delenv(MODEL_ENV, raising=False)
    report = evaluate_model(bench, "digits")
    assert report.num_queries == 3000
    assert report.validity == 1.0
    assert report.in_table == 1.0
    assert report.feasibility == 1.0
    assert report.refusal_accuracy == 1.0
    assert report.false_refusal_rate == 0.0
    assert report.exact_match >= 0.6
    assert report.accuracy_regret_mean_pp <= 0.5


def test_generate_uses_bundled_model(bench, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    result = bench.generate(max_params=20_000, alpha=0.5, backend="lm")
    assert result.backend == "lm"
    assert result.model == str(bundled_model_path("digits"))
    assert result.checks == {"valid": True, "in_table": True, "within_budgets": True}
