"""GGUF export, quantisation and llama.cpp inference of models trained here, against transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'kanbench[lm-train]')")
pytest.importorskip("transformers", reason="transformers is not installed (pip install 'kanbench[lm-train]')")
gguf = pytest.importorskip("gguf", reason="gguf is not installed (pip install 'kanbench[lm-train]')")
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")

from kanbench.lm.backend import LlamaCppModel
from kanbench.lm.export import ExportError, export_gguf, quantize_gguf, read_gguf_metadata
from kanbench.lm.formats import get_format
from kanbench.lm.grammar import architecture_grammar, candidates_grammar
from kanbench.lm.prompt import REFUSAL
from kanbench.lm.small_model import SmallModelConfig
from kanbench.lm.tokenizer import load_tokenizer
from kanbench.space import SearchSpace


def llama_logits(path, token_ids):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, n_threads_batch=1, logits_all=True, verbose=False)
    try:
        llm.eval(token_ids)
        return np.array(llm.scores[: len(token_ids)])
    finally:
        llm.close()


def transformers_logits(model_dir, token_ids):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(torch.tensor([token_ids])).logits[0].numpy()


def prompt_ids(model_dir, corpus):
    tokenizer = load_tokenizer(model_dir / "tokenizer.model")
    example = corpus.split("test")[0]
    return [1, *tokenizer.encode(get_format("plain").prefix(example.prompt) + example.answer)]


# llama.cpp and torch sum float32 products in different orders, so logits of about 5 differ by up to 4e-3
# over a 150-token prompt. Leaving out the rotary permutation changed the bundled model's logits by up to 9.9.
LOGIT_TOLERANCE = 1e-2


def test_f32_export_matches_transformers(tiny_model_dir, tiny_gguf, bundled_corpus):
    ids = prompt_ids(tiny_model_dir, bundled_corpus)
    expected = transformers_logits(tiny_model_dir, ids)
    np.testing.assert_allclose(llama_logits(tiny_gguf, ids), expected, atol=LOGIT_TOLERANCE, rtol=0)


def test_grouped_query_attention_export(tmp_path, tiny_model_dir, bundled_corpus):
    """Two key/value heads for four query heads: the key permutation must use the key/value head count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512, hidden_size=256, intermediate_size=256, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
    )
    model_dir = tmp_path / "gqa"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    (model_dir / "tokenizer.model").write_bytes((tiny_model_dir / "tokenizer.model").read_bytes())
    ids = prompt_ids(tiny_model_dir, bundled_corpus)[:40]

    path = export_gguf(model_dir, tmp_path / "gqa.gguf", chat_format="plain")
    np.testing.assert_allclose(llama_logits(path, ids), transformers_logits(model_dir, ids), atol=LOGIT_TOLERANCE, rtol=0)


def test_tokenization_matches_sentencepiece(tiny_model_dir, tiny_model, bundled_corpus):
    tokenizer = load_tokenizer(tiny_model_dir / "tokenizer.model")
    chat = get_format("plain")
    for example in bundled_corpus:
        text = chat.prefix(example.prompt)
        assert tiny_model.llm.tokenize(text.encode(), add_bos=True) == [1, *tokenizer.encode(text)], example.id


def test_metadata_round_trip(tiny_gguf):
    metadata = read_gguf_metadata(tiny_gguf)
    assert metadata["kanbench.chat_format"] == "plain"
    assert metadata["kanbench.dataset"] == "digits"
    assert metadata["kanbench.corpus_seed"] == 0
    assert metadata["kanbench.corpus_num_queries"] == 240


@pytest.mark.parametrize(("quantization", "tensor_type"), [("Q8_0", "Q8_0"), ("Q4_K_M", "Q4_K")])
def test_quantize_uses_the_requested_type(tiny_gguf, tmp_path, quantization, tensor_type):
    out = quantize_gguf(tiny_gguf, tmp_path / f"tiny-{quantization}.gguf", quantization)
    reader = gguf.GGUFReader(str(out))
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert types["blk.0.attn_q.weight"] == tensor_type
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert out.stat().st_size < tiny_gguf.stat().st_size / 3
    assert read_gguf_metadata(out)["kanbench.chat_format"] == "plain"


def test_quantize_rejects_unknown_type(tiny_gguf, tmp_path):
    with pytest.raises(ValueError, match="quantization 'Q3_X' is unknown; use one of F16, Q8_0"):
        quantize_gguf(tiny_gguf, tmp_path / "x.gguf", "Q3_X")
    assert not (tmp_path / "x.gguf").exists()


def test_quantize_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="write it with export_gguf first"):
        quantize_gguf(tmp_path / "absent.gguf", tmp_path / "x.gguf")


def test_export_needs_tokenizer_model(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "no-tokenizer"
    model_dir.mkdir()
    for name in ("config.json", "model.safetensors"):
        (model_dir / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match="needs the sentencepiece tokenizer.model"):
        export_gguf(model_dir, tmp_path / "x.gguf", chat_format="plain")
    assert not (tmp_path / "x.gguf").exists()


def test_export_rejects_other_architectures(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "gpt2"
    model_dir.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"contains \['GPT2LMHeadModel'\]; kanbench exports LlamaForCausalLM"):
        export_gguf(model_dir, tmp_path / "x.gguf", chat_format="plain")


def test_export_rejects_unknown_chat_format(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown chat format 'chatml'"):
        export_gguf(tiny_model_dir, tmp_path / "x.gguf", chat_format="chatml")


def test_small_model_sizes_checked():
    with pytest.raises(ValueError, match="hidden_size 200 is not a multiple of 256"):
        SmallModelConfig(hidden_size=200)
    with pytest.raises(ValueError, match="hidden_size 256 is not divisible by num_heads 3"):
        SmallModelConfig(num_heads=3)


def test_complete_under_candidate_grammar(tiny_model, bundled_corpus):
    space = SearchSpace.for_dataset("digits")
    candidates = [space.format_id(arch_id) for arch_id in (5, 77, 1200)]
    completion = tiny_model.complete(bundled_corpus[0].prompt, candidates_grammar(candidates))
    assert completion.finish_reason == "stop"
    assert not completion.truncated
    assert completion.text in candidates
    assert completion.seconds > 0


def test_complete_under_space_grammar(tiny_model, bundled_corpus):
    space = SearchSpace.for_dataset("digits")
    grammar = architecture_grammar("digits", allow_refusal=True)
    for example in bundled_corpus.split("test")[:10]:
        completion = tiny_model.complete(example.prompt, grammar)
        assert not completion.truncated
        assert completion.text == REFUSAL or space.index_of_canonical(completion.text) is not None


def test_truncated_completion_is_marked(tiny_model, bundled_corpus):
    completion = tiny_model.complete(bundled_corpus[0].prompt, architecture_grammar("digits"), max_tokens=2)
    assert completion.finish_reason == "length"
    assert completion.truncated
    assert SearchSpace.for_dataset("digits").index_of_canonical(completion.text) is None


def test_broken_grammar_is_an_error(tiny_model):
    with pytest.raises(ValueError, match="llama.cpp cannot parse the grammar"):
        tiny_model.complete("hello", 'root ::= "a" missing-rule')


def test_chat_format_override(tiny_model_dir, tmp_path):
    path = export_gguf(tiny_model_dir, tmp_path / "f.gguf", chat_format="plain")
    model = LlamaCppModel(path, chat_format="mistral-inst")
    assert model.chat.name == "mistral-inst"
    model.close()


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.gguf"):
        LlamaCppModel(tmp_path / "absent.gguf")


def test_unloadable_model_file(tmp_path):
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ValueError, match="llama.cpp could not load"):
        LlamaCppModel(path)


def brute_force_log_likelihoods(model, prompt, candidates):
    """Sum of token log-probabilities of each candidate, each evaluated from scratch after the prompt."""
    prefix = model.llm.tokenize(model.chat.prefix(prompt).encode(), add_bos=True, special=True)
    scores = {}
    for text in candidates:
        tokens = model.llm.tokenize(text.encode(), add_bos=False, special=True)
        model.llm.reset()
        model.llm.eval(prefix + tokens)
        logits = np.asarray(model.llm.scores[len(prefix) - 1 : len(prefix) + len(tokens) - 1], dtype=np.float64)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        scores[text] = float(log_probs[np.arange(len(tokens)), tokens].sum())
    return scores


def test_rank_finds_most_likely_candidate(tiny_model, bundled_corpus):
    space = SearchSpace.for_dataset("digits")
    rng = np.random.default_rng(7)
    for example in bundled_corpus.split("test")[:5]:
        candidates = [space.format_id(int(arch_id)) for arch_id in rng.choice(len(space), size=40, replace=False)]
        expected = brute_force_log_likelihoods(tiny_model, example.prompt, candidates)
        chosen = tiny_model.rank(example.prompt, candidates)
        assert chosen.finish_reason == "ranked"
        assert not chosen.truncated
        assert chosen.text == max(expected, key=expected.get)
        assert chosen.log_likelihood == pytest.approx(expected[chosen.text], abs=1e-4)


def test_rank_single_candidate(tiny_model, bundled_corpus):
    only = SearchSpace.for_dataset("digits").format_id(1200)
    chosen = tiny_model.rank(bundled_corpus[0].prompt, [only])
    assert chosen.text == only
    assert chosen.log_likelihood < 0


def test_rank_needs_candidates(tiny_model):
    with pytest.raises(ValueError, match="no candidates to rank"):
        tiny_model.rank("hello", [])
