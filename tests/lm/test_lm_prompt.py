"""The prompt template: wording, budget order and numbers that read back exactly."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanbench.errors import UnknownDatasetError
from kanbench.lm.prompt import PROMPT_TEMPLATE, REFUSAL, TEMPLATE_VERSION, format_number, format_prompt


def test_prompt_cifar10_full_text():
    prompt = format_prompt("cifar10", 0.37, {"max_params": 120000, "max_flops": 4500000.0, "max_train_time": 95.92})
    assert prompt == (
        "Design a Conv-KAN image classifier for the cifar10 dataset (3x32x32 input images, 10 classes).\n"
        "Budgets: at most 120000 trainable parameters, at most 4500000 FLOPs for one forward pass on one image "
        "and at most 95.92 seconds of training time for the whole run.\n"
        "Trade-off: alpha = 0.37, where 1 rewards test accuracy only and 0 rewards low cost only.\n"
        "Answer with one architecture string in the form Conv2d(k=K,p=P) -> ... -> "
        "KAN(order=O,grid=G,act=A), or with NO_FEASIBLE_ARCHITECTURE if no architecture in the benchmark "
        "meets every budget."
    )


def test_prompt_has_no_chat_markup():
    prompt = format_prompt("digits", 0.5, {"max_params": 5000})
    assert "[INST]" not in prompt
    assert "<|" not in prompt
    assert "<s>" not in prompt


def test_prompt_names_refusal_string():
    assert REFUSAL == "NO_FEASIBLE_ARCHITECTURE"
    assert REFUSAL in format_prompt("digits", 0.5, {})
    assert REFUSAL in PROMPT_TEMPLATE
    assert TEMPLATE_VERSION == 1


def test_prompt_budget_order_fixed():
    forward = format_prompt("mnist", 0.5, {"max_params": 1, "max_train_time": 2, "max_flops": 3})
    backward = format_prompt("mnist", 0.5, {"max_flops": 3, "max_train_time": 2, "max_params": 1})
    assert forward == backward
    assert forward.index("trainable parameters") < forward.index("FLOPs") < forward.index("seconds")


def test_prompt_omits_none_budgets():
    prompt = format_prompt("svhn", 0.2, {"max_params": 1000, "max_flops": None})
    assert "Budgets: at most 1000 trainable parameters.\n" in prompt
    assert "FLOPs" not in prompt


def test_prompt_without_budgets():
    assert "Budgets: none.\n" in format_prompt("stl10", 0.9, {})


def test_prompt_epoch_time_phrase():
    prompt = format_prompt("digits", 0.5, {"max_epoch_time": 1.5})
    assert "at most 1.5 seconds of training time per epoch" in prompt


def test_prompt_rejects_unknown_keyword():
    with pytest.raises(ValueError, match="max_memory"):
        format_prompt("digits", 0.5, {"max_memory": 3})


def test_prompt_rejects_negative_budget():
    with pytest.raises(ValueError, match="max_params -1"):
        format_prompt("digits", 0.5, {"max_params": -1})


def test_prompt_rejects_infinite_budget():
    with pytest.raises(ValueError, match="max_flops inf"):
        format_prompt("digits", 0.5, {"max_flops": math.inf})


def test_prompt_rejects_alpha_outside():
    with pytest.raises(ValueError, match="alpha 1.5"):
        format_prompt("digits", 1.5, {})


def test_prompt_rejects_unknown_dataset():
    with pytest.raises(UnknownDatasetError, match="imagenet"):
        format_prompt("imagenet", 0.5, {})


def test_number_integers_without_decimals():
    assert format_number(120000.0) == "120000"
    assert format_number(0) == "0"
    assert format_number(17345856) == "17345856"


def test_number_fractions_shortest_repr():
    assert format_number(95.92) == "95.92"
    assert format_number(0.05) == "0.05"
    assert format_number(90.98902011) == "90.98902011"


def test_number_rejects_nan():
    with pytest.raises(ValueError, match="nan"):
        format_number(math.nan)


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_number_reads_back_exactly(value):
    assert float(format_number(value)) == value


def test_lm_import_loads_no_model_libraries():
    code = (
        "import sys, kanbench.lm; "
        "print(sorted(m for m in ('llama_cpp', 'transformers', 'sentencepiece', 'torch') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
