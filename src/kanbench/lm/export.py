"""Export a Llama-architecture checkpoint to GGUF, quantise it, and merge LoRA adapters.

Usage::

    >>> from kanbench.lm.export import export_gguf, quantize_gguf, merge_lora
    >>> merged = merge_lora("mistralai/Mistral-7B-Instruct-v0.2", "adapters/digits", "merged/digits")
    >>> f16 = export_gguf(merged, "digits-f16.gguf", chat_format="mistral-inst")
    >>> quantize_gguf(f16, "digits-Q4_K_M.gguf", "Q4_K_M")

:func:`export_gguf` reads a transformers checkpoint directory
(``config.json``, safetensors weights, a sentencepiece ``tokenizer.model``)
of a ``LlamaForCausalLM`` or ``MistralForCausalLM`` and writes the
``llama`` GGUF architecture with the ``llama`` (sentencepiece) tokenizer.
kanbench's small models and merged Mistral fine-tunes go through the same
code. The query and key projections are permuted from transformers'
rotate-half layout to the interleaved layout of llama.cpp's rotary
embedding. The file also stores the chat format and kanbench's metadata
under ``kanbench.*`` keys, which the backend reads back.

Needs ``kanbench[lm-train]`` (numpy, safetensors, gguf, sentencepiece,
protobuf); quantising needs ``kanbench[llm]`` (llama-cpp-python); merging
needs transformers and peft.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from kanbench._version import __version__
from kanbench.atomic import atomic_directory, atomic_output
from kanbench.lm.dependencies import import_optional
from kanbench.lm.formats import get_format

logger = logging.getLogger(__name__)

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
QUANTIZATION_TYPES = {"F16": 1, "Q8_0": 7, "Q4_0": 2, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}
"""llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` codes of the types :func:`quantize_gguf` accepts."""

DEFAULT_QUANTIZATION = "Q4_K_M"

UNUSED_TOKEN_TYPE = 5
"""GGUF token type of padding entries; sentencepiece's piece types 1 to 6 share GGUF's numbering."""

_LAYER_TENSORS = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}


class ExportError(ValueError):
    """A checkpoint cannot be exported: unsupported architecture, missing files or unexpected tensors."""


def export_gguf(
    model_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    chat_format: str,
    outtype: str = "F32",
    metadata: Mapping[str, str | int | float] | None = None,
) -> Path:
    """Write a transformers Llama/Mistral checkpoint as a GGUF file, atomically.

    Args:
        model_dir: a directory with ``config.json``, ``*.safetensors`` and
            the sentencepiece ``tokenizer.model``.
        out_path: the GGUF file to write.
        chat_format: the format the model was trained with (see
            :mod:`kanbench.lm.formats`), stored as ``kanbench.chat_format``.
        outtype: ``"F32"`` or ``"F16"`` for the matrices; norms stay F32.
        metadata: extra ``kanbench.*`` key/value pairs (str, int or float),
            e.g. the dataset the model was trained for.

    Raises:
        FileNotFoundError: a required file is missing from ``model_dir``.
        ExportError: the architecture is not Llama/Mistral, a tensor is
            unexpected or missing, or ``outtype`` is unknown.
        ImportError: gguf, safetensors or sentencepiece is missing.
    """
    gguf = import_optional("gguf", purpose="GGUF export", install="pip install 'kanbench[lm-train]'")
    model_dir = Path(model_dir)
    config = _read_config(model_dir)
    chat = get_format(chat_format)
    dtype = {"F32": np.float32, "F16": np.float16}.get(outtype.upper())
    if dtype is None:
        raise ExportError(f"outtype {outtype!r} is not supported; use F32 or F16, then quantize_gguf")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        _write_hyperparameters(writer, config, gguf, outtype.upper())
        _write_tokenizer(writer, model_dir / "tokenizer.model", config)
        writer.add_string("kanbench.chat_format", chat.name)
        writer.add_string("kanbench.version", __version__)
        for key, value in (metadata or {}).items():
            _add_metadata(writer, f"kanbench.{key}", value)
        for name, array in _gguf_tensors(model_dir, config, dtype):
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    logger.info("wrote %s (%.1f MB)", out_path, out_path.stat().st_size / 1e6)
    return out_path


def quantize_gguf(
    in_path: str | os.PathLike, out_path: str | os.PathLike, quantization: str = DEFAULT_QUANTIZATION, *, threads: int = 1
) -> Path:
    """Quantise a GGUF file with llama.cpp's quantiser (through llama-cpp-python), atomically.

    Args:
        in_path: an F32 or F16 GGUF file, e.g. from :func:`export_gguf`.
        out_path: the quantised file to write.
        quantization: one of :data:`QUANTIZATION_TYPES` (``Q4_K_M`` by default).
        threads: quantiser threads.

    Raises:
        FileNotFoundError: ``in_path`` does not exist.
        ValueError: ``quantization`` is unknown.
        RuntimeError: llama.cpp reports a failure.
        ImportError: llama-cpp-python is missing.
    """
    llama_cpp = import_optional(
        "llama_cpp", purpose="quantisation", package="llama-cpp-python", install="pip install 'kanbench[llm]'"
    )
    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.is_file():
        raise FileNotFoundError(f"GGUF file {str(in_path)!r} does not exist; write it with export_gguf first")
    code = QUANTIZATION_TYPES.get(quantization.upper())
    if code is None:
        raise ValueError(f"quantization {quantization!r} is unknown; use one of {', '.join(QUANTIZATION_TYPES)}")

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = code
    params.nthread = threads
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as tmp:
        status = llama_cpp.llama_model_quantize(str(in_path).encode(), str(tmp).encode(), params)
        if status != 0:
            raise RuntimeError(f"llama.cpp could not quantise {str(in_path)!r} to {quantization} (status {status})")
    logger.info("quantised %s to %s (%.1f MB)", in_path, quantization, out_path.stat().st_size / 1e6)
    return out_path


def merge_lora(base: str | os.PathLike, adapter_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Merge a LoRA adapter into its base model loaded in float16 and save a checkpoint.

    The adapter is always merged into the full-precision (float16) base,
    never into a 4-bit one, even when it was trained on a 4-bit base:
    merging into quantised weights would round the update away. The
    sentencepiece ``tokenizer.model`` and the tokenizer files are copied
    next to the merged weights, so :func:`export_gguf` can read it.

    Args:
        base: the base model: a local directory or a Hugging Face hub id.
        adapter_dir: a directory written by :func:`kanbench.lm.finetune.finetune_lora`.
        out_dir: the merged checkpoint directory to create; must not exist.

    Raises:
        FileExistsError: ``out_dir`` exists.
        FileNotFoundError: ``adapter_dir`` has no adapter.
        ImportError: transformers or peft is missing.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{str(out_dir)!r} exists; choose a new directory for the merged model or remove it")
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"{str(adapter_dir)!r} has no adapter_config.json; pass the directory written by kanbench lm finetune"
        )

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float16)
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)

    with atomic_directory(out_dir) as staging:
        merged.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for name in ("tokenizer.model", "kanbench.json"):
            if (adapter_dir / name).is_file():
                shutil.copy2(adapter_dir / name, staging / name)
    return out_dir


def read_gguf_metadata(path: str | os.PathLike) -> dict[str, object]:
    """Read the ``kanbench.*`` and ``general.*`` string and number keys of a GGUF file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: gguf is missing.
    """
    gguf = import_optional("gguf", purpose="reading GGUF metadata", install="pip install 'kanbench[lm-train]'")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {str(path)!r} does not exist")
    reader = gguf.GGUFReader(str(path))
    values = {}
    for name, field in reader.fields.items():
        if name.startswith(("kanbench.", "general.")) and len(field.types) == 1:
            values[name] = field.contents()
    return values


def _read_config(model_dir: Path) -> dict:
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{str(model_dir)!r} has no config.json; pass a transformers checkpoint directory")
    config = json.loads(config_path.read_text())
    architectures = config.get("architectures") or []
    if not set(architectures) & set(SUPPORTED_ARCHITECTURES):
        raise ExportError(
            f"{str(model_dir)!r} contains {architectures or 'an unknown architecture'}; kanbench exports "
            f"{' and '.join(SUPPORTED_ARCHITECTURES)} checkpoints"
        )
    return config


def _write_hyperparameters(writer, config: dict, gguf, outtype: str) -> None:
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer.add_name(config.get("_name_or_path") or "kanbench-model")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if outtype == "F32" else gguf.LlamaFileType.MOSTLY_F16)


def _rope_theta(config: dict) -> float:
    if "rope_theta" in config:
        return config["rope_theta"]
    parameters = config.get("rope_parameters") or {}
    return parameters.get("rope_theta", 10000.0)


def _write_tokenizer(writer, tokenizer_path: Path, config: dict) -> None:
    if not tokenizer_path.is_file():
        raise FileNotFoundError(
            f"{str(tokenizer_path)!r} does not exist; GGUF export needs the sentencepiece tokenizer.model "
            "next to the weights (Llama and Mistral repositories ship it)"
        )
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer_path.read_bytes())
    if proto.trainer_spec.model_type not in (1, 2):  # UNIGRAM, BPE
        raise ExportError(f"{str(tokenizer_path)!r} is not a unigram or BPE sentencepiece model")

    tokens = [piece.piece.encode("utf-8") for piece in proto.pieces]
    scores = [piece.score for piece in proto.pieces]
    types = [piece.type for piece in proto.pieces]
    vocab_size = config["vocab_size"]
    if len(tokens) > vocab_size:
        raise ExportError(f"the tokenizer has {len(tokens)} pieces but the model's vocab_size is {vocab_size}")
    for extra in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{extra}]".encode())
        scores.append(-1000.0)
        types.append(UNUSED_TOKEN_TYPE)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    spec = proto.trainer_spec
    writer.add_bos_token_id(spec.bos_id)
    writer.add_eos_token_id(spec.eos_id)
    writer.add_unk_token_id(spec.unk_id)
    if spec.pad_id >= 0:
        writer.add_pad_token_id(spec.pad_id)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(bool(proto.normalizer_spec.add_dummy_prefix))


def _gguf_tensors(model_dir: Path, config: dict, dtype) -> Iterator[tuple[str, np.ndarray]]:
    state = _load_state(model_dir)
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    layers = config["num_hidden_layers"]

    yield "token_embd.weight", _cast(state.pop("model.embed_tokens.weight"), dtype)
    yield "output_norm.weight", state.pop("model.norm.weight").astype(np.float32)
    if "lm_head.weight" in state:
        output = state.pop("lm_head.weight")
        if not config.get("tie_word_embeddings", False):
            yield "output.weight", _cast(output, dtype)
    for layer in range(layers):
        for source, target in _LAYER_TENSORS.items():
            key = f"model.layers.{layer}.{source}"
            if key not in state:
                raise ExportError(f"tensor {key!r} is missing from {str(model_dir)!r}")
            weight = state.pop(key)
            if source.startswith("self_attn.q_proj"):
                weight = _interleave_rotary(weight, heads)
            elif source.startswith("self_attn.k_proj"):
                weight = _interleave_rotary(weight, kv_heads)
            is_norm = target.endswith("norm.weight")
            yield f"blk.{layer}.{target}", weight.astype(np.float32) if is_norm else _cast(weight, dtype)

    leftover = sorted(key for key in state if not key.endswith("rotary_emb.inv_freq"))
    if leftover:
        raise ExportError(f"unexpected tensors {leftover[:5]} in {str(model_dir)!r}; is it a plain Llama model?")


def _load_state(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{str(model_dir)!r} has no *.safetensors weights; save the model with safe_serialization")
    state = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                state[key] = handle.get_tensor(key).float().numpy()
    return state


def _interleave_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder each head's rows from rotate-half pairs (i, i + d/2) to adjacent pairs (2i, 2i + 1)."""
    rows, columns = weight.shape
    head_dim = rows // heads
    return weight.reshape(heads, 2, head_dim // 2, columns).swapaxes(1, 2).reshape(rows, columns)


def _cast(weight: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(weight.astype(dtype))


def _add_metadata(writer, key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ExportError(f"metadata {key} = {value!r} must be a str, int or float")
    if isinstance(value, str):
        writer.add_string(key, value)
    elif isinstance(value, int):
        writer.add_int64(key, value)
    else:
        writer.add_float64(key, value)
