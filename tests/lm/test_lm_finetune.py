"""The LoRA fine-tuning path end to end on CPU, with a tiny randomly initialised Llama base (no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'kanbench[lm-train]')")
transformers = pytest.importorskip("transformers", reason="transformers is not installed")
pytest.importorskip("peft", reason="peft is not installed (pip install 'kanbench[lm-train]')")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")

from kanbench.lm.backend import LlamaCppModel
from kanbench.lm.export import export_gguf, merge_lora, quantize_gguf, read_gguf_metadata
from kanbench.lm.finetune import LoraSettings, finetune_lora, special_ids
from kanbench.lm.formats import get_format
from kanbench.lm.grammar import candidates_grammar
from kanbench.lm.training import IGNORE_INDEX, LoopSettings, encode_example
from kanbench.space import SearchSpace

TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizer",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "add_bos_token": True,
    "add_eos_token": False,
    "legacy": False,
    "add_prefix_space": False,
}


@pytest.fixture(scope="module")
def base_dir(tiny_model_dir, tmp_path_factory):
    """A random two-block Llama with the tiny model's sentencepiece tokenizer and no pad token."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=512, hidden_size=256, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
    )
    path = tmp_path_factory.mktemp("base") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    (path / "tokenizer.model").write_bytes((tiny_model_dir / "tokenizer.model").read_bytes())
    (path / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG))
    return path


@pytest.fixture(scope="module")
def adapter_dir(base_dir, bundled_corpus, tmp_path_factory):
    settings = LoopSettings(epochs=1, batch_size=16, learning_rate=1e-2, warmup_steps=0)
    out = tmp_path_factory.mktemp("adapters") / "digits"
    return finetune_lora(base_dir, bundled_corpus, out, LoraSettings(rank=4, alpha=8.0), settings)


@pytest.fixture(scope="module")
def merged_dir(base_dir, adapter_dir, tmp_path_factory):
    return merge_lora(base_dir, adapter_dir, tmp_path_factory.mktemp("merged") / "digits")


def test_pad_is_never_eos(base_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.pad_token = tokenizer.eos_token
    assert special_ids(tokenizer) == (1, 2, 0)


def test_single_bos_and_answer_only_labels(base_dir, bundled_corpus):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    example = bundled_corpus.split("train")[0]
    prefix = get_format("mistral-inst").prefix(example.prompt)

    def encode(text):
        return tokenizer(text, add_special_tokens=False).input_ids

    encoded = encode_example(prefix, example.answer, encode, tokenizer.bos_token_id, tokenizer.eos_token_id)
    assert encoded.input_ids.count(tokenizer.bos_token_id) == 1
    assert encoded.input_ids[0] == tokenizer.bos_token_id
    labelled = [label for label in encoded.labels if label != IGNORE_INDEX]
    assert tokenizer.decode(labelled[:-1]) == example.answer
    assert labelled[-1] == tokenizer.eos_token_id


def test_adapter_written(adapter_dir, bundled_corpus):
    manifest = json.loads((adapter_dir / "kanbench.json").read_text())
    assert (adapter_dir / "adapter_config.json").is_file()
    assert (adapter_dir / "tokenizer.model").is_file()
    assert manifest["chat_format"] == "mistral-inst"
    assert manifest["special_ids"] == {"bos": 1, "eos": 2, "pad": 0}
    assert manifest["lora"]["rank"] == 4
    assert manifest["training"]["steps"] == -(-len(bundled_corpus.split("train")) // 16)
    assert manifest["training"]["train_loss"][0] > 0


def test_merged_model_equals_base_plus_adapter(base_dir, adapter_dir, merged_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 40, 41, 42, 43, 44]])
    with torch.no_grad():
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), adapter_dir).eval()
        expected = adapted(ids).logits.numpy()
        base = AutoModelForCausalLM.from_pretrained(base_dir).eval()(ids).logits.numpy()
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()(ids).logits.numpy()
    assert np.abs(expected - base).max() > 1e-3
    np.testing.assert_allclose(merged, expected, atol=2e-2, rtol=0)
    assert (merged_dir / "tokenizer.model").is_file()


def test_merged_export_runs_in_llama_cpp(merged_dir, tmp_path, bundled_corpus):
    f16 = export_gguf(merged_dir, tmp_path / "merged-f16.gguf", chat_format="mistral-inst", outtype="F16")
    quantized = quantize_gguf(f16, tmp_path / "merged-q8.gguf", "Q8_0")
    assert read_gguf_metadata(quantized)["kanbench.chat_format"] == "mistral-inst"

    model = LlamaCppModel(quantized)
    try:
        assert model.chat.name == "mistral-inst"
        assert model.llm.tokenize(b"[INST] hi", add_bos=True).count(1) == 1
        space = SearchSpace.for_dataset("digits")
        candidates = [space.format_id(arch_id) for arch_id in (3, 300, 3000)]
        completion = model.complete(bundled_corpus[0].prompt, candidates_grammar(candidates), max_tokens=400)
        assert completion.finish_reason == "stop"
        assert completion.text in candidates
    finally:
        model.close()


def test_merge_needs_adapter(base_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="has no adapter_config.json"):
        merge_lora(base_dir, tmp_path, tmp_path / "merged")


def test_finetune_refuses_existing_output(base_dir, bundled_corpus, tmp_path):
    with pytest.raises(FileExistsError, match="choose a new directory for the adapter"):
        finetune_lora(base_dir, bundled_corpus, tmp_path)


def test_lora_settings_checked():
    with pytest.raises(ValueError, match="LoRA rank 0 is invalid"):
        LoraSettings(rank=0)
