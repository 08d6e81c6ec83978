"""The encoder seam: a local Hugging Face directory trains and loads like the built-in encoder."""

import shutil

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer

from classifier.encoders.hf import HFEncoder
from classifier.inference import Predictor
from tests.conftest import TOY_PHRASES, quick_settings
from training.pipeline import train_model


@pytest.fixture
def tiny_bert_dir(tmp_path):
    """A randomly initialised 2-layer BERT with a character vocabulary: no download anywhere."""
    chars = sorted({c for phrases in TOY_PHRASES.values() for p in phrases for c in p} | set("0123456789。！～，谢"))
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars])}
    tokenizer = BertTokenizer(vocab=vocab, tokenize_chinese_chars=True)
    assert "[UNK]" not in tokenizer.tokenize(TOY_PHRASES["growth", "none"][0])
    config = BertConfig(
        vocab_size=len(chars) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    path = tmp_path / "tiny-bert"
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_hf_directory_trains_saves_and_loads_without_the_original(tiny_bert_dir, toy_data, tmp_path):
    out = tmp_path / "model"
    settings = quick_settings(base_model=str(tiny_bert_dir), epochs=4, encoder_lr=2e-3, head_lr=1e-2, max_tokens=16)
    report = train_model(toy_data, out, settings, log=lambda _: None)
    assert (out / "encoder" / "config.json").is_file()
    assert report["model"]["cause_accuracy"] >= 0.9  # a random tiny BERT still learns the toy set

    texts = ["屏幕坏了要求换货", "想参与新功能共创，希望参加内测计划，想学习进阶使用教程" * 2]
    before = Predictor.load(out).predict(texts)
    shutil.rmtree(tiny_bert_dir)
    after = Predictor.load(out).predict(texts)
    assert before == after
    assert [p.truncated for p in after] == [False, True]  # the long text passed the 16-token window


def test_a_cut_batch_equals_the_tokenizers_own_truncation(tiny_bert_dir):
    encoder = HFEncoder.from_pretrained_dir(tiny_bert_dir, max_tokens=12)
    texts = ["屏幕坏了要求换货", "想参与新功能共创，希望参加内测计划，想学习进阶使用教程"]
    batch = encoder.tokenize(texts)
    expected = encoder.tokenizer(texts, padding=True, truncation=True, max_length=12, return_tensors="pt")
    assert torch.equal(batch.input_ids, expected["input_ids"])
    assert torch.equal(batch.attention_mask, expected["attention_mask"])
    assert batch.truncated == [False, True]


def test_freezing_lower_layers_is_refused_for_an_encoder_without_them(tiny_bert_dir):
    encoder = HFEncoder.from_pretrained_dir(tiny_bert_dir, max_tokens=12)
    with pytest.raises(NotImplementedError, match="HFEncoder has no per-token lower layers"):
        encoder.freeze_lower_layers(encoder.token_ids(["屏幕坏了"]))
