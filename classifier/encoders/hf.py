"""Any local Hugging Face encoder directory (e.g. bert-base-chinese) as a needlens encoder.

Loaded with ``local_files_only`` so nothing is fetched from a hub. A saved needlens model
keeps the encoder's config and tokenizer under ``encoder/`` so it loads without the
original directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from classifier.encoders.base import TextEncoder, TokenBatch

SUBDIR = "encoder"
ENCODER_FILE = "needlens_encoder.json"
"""Optional side file of a base directory: ``{"text_prefix": …}`` for encoders trained with one
(e5 expects "query: "); kept with the saved model so inference adds what training added."""

hf_logging.disable_progress_bar()  # loading a local directory takes a blink; the bars cluttered job logs


class HFEncoder(TextEncoder):
    """Mean-pooled token states of a transformer encoder."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_tokens: int, text_prefix: str = ""
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.text_prefix = text_prefix
        self.max_tokens = min(max_tokens, getattr(model.config, "max_position_embeddings", max_tokens))
        self.window = self.max_tokens
        self.dim = int(model.config.hidden_size)

    @classmethod
    def from_pretrained_dir(cls, path: Path, max_tokens: int) -> HFEncoder:
        if not path.is_dir():
            raise FileNotFoundError(f"base model directory not found: {path}")
        model = AutoModel.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, max_tokens, _text_prefix(path))

    @classmethod
    def from_saved(cls, model_dir: Path, max_tokens: int) -> HFEncoder:
        """Architecture and tokenizer from the saved model; weights follow from model.safetensors."""
        config = AutoConfig.from_pretrained(model_dir / SUBDIR, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(model_dir / SUBDIR, local_files_only=True)
        return cls(AutoModel.from_config(config), tokenizer, max_tokens, _text_prefix(model_dir / SUBDIR))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [self.text_prefix + text for text in texts] if self.text_prefix else list(texts)
        return self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]

    def freeze_word_embeddings(self) -> None:
        self.model.get_input_embeddings().weight.requires_grad_(False)

    def collate(self, ids: Sequence[list[int]]) -> TokenBatch:
        truncated = [len(seq) > self.max_tokens for seq in ids]
        cut = [self._cut(seq) if over else seq for seq, over in zip(ids, truncated, strict=True)]
        batch = self.tokenizer.pad({"input_ids": cut}, return_tensors="pt")
        return TokenBatch(batch["input_ids"], batch["attention_mask"], truncated)

    def _cut(self, seq: list[int]) -> list[int]:
        """What the tokenizer's own truncation gives: the text's tokens cut to fit the
        window, between the special tokens that open and close it."""
        special = self.tokenizer.get_special_tokens_mask(seq, already_has_special_tokens=True)
        lead = next((i for i, flag in enumerate(special) if not flag), len(seq))
        trail = next((i for i, flag in enumerate(reversed(special)) if not flag), 0)
        room = self.max_tokens - lead - trail
        return seq[: lead + room] + seq[len(seq) - trail :]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def save_extras(self, model_dir: Path) -> dict[str, str]:
        self.model.config.save_pretrained(model_dir / SUBDIR)
        self.tokenizer.save_pretrained(model_dir / SUBDIR)
        if self.text_prefix:
            side_file = model_dir / SUBDIR / ENCODER_FILE
            side_file.write_text(json.dumps({"text_prefix": self.text_prefix}), encoding="utf-8")
        return {"encoder_dir": SUBDIR}


def _text_prefix(directory: Path) -> str:
    side_file = directory / ENCODER_FILE
    if not side_file.is_file():
        return ""
    return str(json.loads(side_file.read_text(encoding="utf-8")).get("text_prefix", ""))
