"""The sentencepiece tokenizer and the shared training loop: labels, padding, special tokens."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("sentencepiece", reason="sentencepiece is not installed (pip install 'kanbench[lm-train]')")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'kanbench[lm-train]')")

from kanbench.lm.formats import get_format
from kanbench.lm.prompt import REFUSAL
from kanbench.lm.tokenizer import BOS_ID, EOS_ID, PAD_ID, architecture_symbols, load_tokenizer, train_tokenizer
from kanbench.lm.training import IGNORE_INDEX, LoopSettings, collate, encode_example, encode_examples, train_loop

ANSWER = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)"


@pytest.fixture(scope="module")
def tokenizer(bundled_corpus, tmp_path_factory):
    chat = get_format("plain")
    texts = [chat.prefix(example.prompt) + example.answer for example in bundled_corpus]
    return load_tokenizer(train_tokenizer(texts, tmp_path_factory.mktemp("tok") / "t.model", vocab_size=512))


def test_symbols_cover_the_space():
    symbols = architecture_symbols()
    assert len(symbols) == 8 + 60 + 2
    assert "Conv2d(k=7,p=1)" in symbols
    assert "KAN(order=5,grid=20,act=SiLU)" in symbols
    assert REFUSAL in symbols


def test_answer_is_one_token_per_choice(tokenizer):
    pieces = [tokenizer.id_to_piece(i) for i in tokenizer.encode(ANSWER)]
    assert pieces == [
        "Conv2d(k=3,p=1)", "▁", "->", "▁", "Conv2d(k=5,p=1)", "▁", "->", "▁", "KAN(order=4,grid=8,act=SiLU)"
    ]
    assert tokenizer.decode(tokenizer.encode(ANSWER)) == ANSWER


def test_numbers_split_into_digits(tokenizer):
    pieces = [tokenizer.id_to_piece(i) for i in tokenizer.encode("at most 120000 trainable")]
    assert pieces[pieces.index("1") : pieces.index("1") + 6] == ["1", "2", "0", "0", "0", "0"]


def test_special_ids(tokenizer):
    assert [tokenizer.id_to_piece(i) for i in (BOS_ID, EOS_ID, PAD_ID)] == ["<s>", "</s>", "<pad>"]
    assert tokenizer.get_piece_size() <= 512


def test_vocab_too_small(tmp_path):
    with pytest.raises(ValueError, match="vocab_size 300 cannot hold the 256 byte pieces, 70 architecture symbols"):
        train_tokenizer(["a b c"], tmp_path / "t.model", vocab_size=300)
    assert not (tmp_path / "t.model").exists()


def test_empty_texts(tmp_path):
    with pytest.raises(ValueError, match="no texts to train the tokenizer on"):
        train_tokenizer(["", ""], tmp_path / "t.model")


def test_missing_tokenizer(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.model"):
        load_tokenizer(tmp_path / "nothing.model")


def test_encode_example_labels(tokenizer):
    prefix = get_format("plain").prefix("Design one.")
    example = encode_example(prefix, ANSWER, tokenizer.encode, BOS_ID, EOS_ID)
    prefix_length = len(tokenizer.encode(prefix))
    answer_ids = tokenizer.encode(prefix + ANSWER)[prefix_length:]

    assert example.input_ids[0] == BOS_ID
    assert example.input_ids[1] != BOS_ID
    assert example.input_ids[-1] == EOS_ID
    assert example.labels[: 1 + prefix_length] == [IGNORE_INDEX] * (1 + prefix_length)
    assert example.labels[1 + prefix_length :] == answer_ids + [EOS_ID]
    assert len(example.labels) == len(example.input_ids)


def test_encode_example_rejects_merged_boundary():
    def by_words(text: str) -> list[int]:
        return [len(word) for word in text.split(" ")]

    with pytest.raises(ValueError, match="merges the prompt's end with the answer 'def'"):
        encode_example("abc", "def", by_words, 1, 2)


def test_collate_masks_padding_by_position(tokenizer, bundled_corpus):
    encoded = encode_examples(bundled_corpus[:3], get_format("plain"), tokenizer.encode, BOS_ID, EOS_ID)
    batch = collate(encoded, pad_id=PAD_ID)
    lengths = [len(example.input_ids) for example in encoded]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    for row, length in enumerate(lengths):
        assert (batch["labels"][row, length:] == IGNORE_INDEX).all()
        assert batch["labels"][row, length - 1] == EOS_ID
        assert (batch["input_ids"][row, length:] == PAD_ID).all()


def test_train_loop_learns(tiny_model_dir, bundled_corpus):
    from kanbench.lm.small_model import read_manifest

    training = read_manifest(tiny_model_dir)["training"]
    num_train = len(bundled_corpus.split("train"))
    assert training["steps"] == 2 * math.ceil(num_train / 16)
    assert training["examples_seen"] == 2 * num_train
    assert training["valid_loss"][1] < training["valid_loss"][0]
    assert training["train_loss"][1] < training["train_loss"][0]
    assert 0.0 < training["valid_token_accuracy"][1] <= 1.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (LoopSettings(epochs=0), "epochs 0 is invalid"),
        (LoopSettings(batch_size=0), "batch_size 0 is invalid"),
        (LoopSettings(learning_rate=0.0), "learning_rate 0.0 is invalid"),
        (LoopSettings(max_minutes=0), "max_minutes 0 is invalid"),
    ],
)
def test_loop_settings_checked(settings, message):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match=message):
        train_loop(model, [object()], [], settings, pad_id=0)


def test_loop_needs_examples():
    with pytest.raises(ValueError, match="no training examples"):
        train_loop(torch.nn.Linear(2, 2), [], [], LoopSettings(), pad_id=0)
