"""``kanbench lm ...`` and ``kanbench generate --backend lm`` run in-process on real files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers", reason="transformers is not installed (pip install 'kanbench[lm-train]')")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")

from kanbench.cli.main import main
from kanbench.lm.corpus import read_corpus
from kanbench.lm.export import read_gguf_metadata
from kanbench.lm.prompt import REFUSAL


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A corpus, a one-block model and its Q8_0 GGUF, each made by the CLI."""
    work = tmp_path_factory.mktemp("cli")
    assert main(["lm", "corpus", "--dataset", "digits", "--queries", "200", "--seed", "3", "--out", str(work / "corpus")]) == 0
    train = ["lm", "train", "--corpus", str(work / "corpus"), "--out", str(work / "model"), "--epochs", "1"]
    train += ["--layers", "1", "--intermediate-size", "256", "--vocab-size", "512", "--batch-size", "16", "--threads", "1"]
    assert main(train) == 0
    export = ["lm", "export", str(work / "model"), "--out", str(work / "model.gguf"), "--quantization", "Q8_0"]
    assert main(export) == 0
    return work


def test_corpus_files(cli_model):
    corpus = read_corpus(cli_model / "corpus")
    assert len(corpus) == 200
    assert corpus.metadata.seed == 3
    assert corpus.metadata.dataset == "digits"


def test_export_records_the_corpus(cli_model):
    metadata = read_gguf_metadata(cli_model / "model.gguf")
    assert metadata["kanbench.dataset"] == "digits"
    assert metadata["kanbench.corpus_seed"] == 3
    assert metadata["kanbench.corpus_num_queries"] == 200
    assert metadata["kanbench.chat_format"] == "plain"


def test_eval_rebuilds_the_held_out_split(cli_model, capsys):
    status, out, _ = run_cli(
        capsys, "lm", "eval", "--dataset", "digits", "--model", str(cli_model / "model.gguf"), "--json",
        "--out", str(cli_model / "report.json"),
    )
    assert status == 0
    report = json.loads(out)
    test_split = read_corpus(cli_model / "corpus").split("test")
    assert report["num_queries"] == len(test_split)
    assert report["validity"] == 1.0
    assert report["in_table"] == 1.0
    assert report["feasibility"] == 1.0
    assert report["refusal_accuracy"] == 1.0
    saved = json.loads((cli_model / "report.json").read_text())
    assert [outcome["id"] for outcome in saved["outcomes"]] == [example.id for example in test_split]
    infeasible = [outcome for outcome in saved["outcomes"] if not outcome["feasible_query"]]
    assert infeasible
    assert all(outcome["answer"] == REFUSAL for outcome in infeasible)


def test_eval_with_corpus_and_query_limit(cli_model, capsys):
    status, out, _ = run_cli(
        capsys, "lm", "eval", "--dataset", "digits", "--model", str(cli_model / "model.gguf"),
        "--corpus", str(cli_model / "corpus"), "--queries", "5", "--mode", "free", "--json",
    )
    assert status == 0
    assert json.loads(out)["num_queries"] == 5


def test_generate_with_lm_backend(cli_model, capsys):
    status, out, _ = run_cli(
        capsys, "generate", "--max-params", "20000", "--alpha", "0.5", "--backend", "lm",
        "--model", str(cli_model / "model.gguf"), "--json",
    )
    assert status == 0
    [result] = json.loads(out)
    assert result["backend"] == "lm"
    assert result["checks"] == {"valid": True, "in_table": True, "within_budgets": True}
    assert result["record"]["num_params"] <= 20000


def test_generate_table_says_backend_and_checks(cli_model, capsys):
    status, out, _ = run_cli(
        capsys, "generate", "--max-params", "20000", "--backend", "lm", "--model", str(cli_model / "model.gguf")
    )
    assert status == 0
    assert "backend lm, model " in out
    assert "checks: valid yes, in_table yes, within_budgets yes" in out


def test_export_existing_model_dir_missing(tmp_path, capsys):
    status, _, err = run_cli(capsys, "lm", "export", str(tmp_path / "absent"), "--out", str(tmp_path / "x.gguf"), "--chat-format", "plain")
    assert status == 1
    assert "has no config.json" in err


def test_eval_without_corpus_record(tmp_path, capsys, tiny_model_dir):
    from kanbench.lm.export import export_gguf

    path = export_gguf(tiny_model_dir, tmp_path / "bare.gguf", chat_format="plain")
    status, _, err = run_cli(capsys, "lm", "eval", "--dataset", "digits", "--model", str(path))
    assert status == 1
    assert "does not record a training corpus for 'digits'" in err
