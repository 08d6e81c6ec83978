"""What every encoder offers the rest of needlens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass
class TokenBatch:
    """Padded token ids for one forward pass; ``truncated`` marks texts cut to fit the window."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    truncated: list[bool]


class TextEncoder(nn.Module):
    """A module mapping token ids to one fixed-size vector per text."""

    dim: int
    window: int | None = None
    """Most tokens one text may have before it is cut; None for encoders without a window."""

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, special tokens included and nothing cut."""
        raise NotImplementedError

    def collate(self, ids: Sequence[list[int]]) -> TokenBatch:
        """One padded batch of ``token_ids`` output; texts over the window are cut here.

        Tokenizing and batching are apart so that a job tokenizes each text once, sorts
        by the token counts, and batches the ids it already has."""
        raise NotImplementedError

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        return self.collate(self.token_ids(texts))

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.token_ids(texts)]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def freeze_word_embeddings(self) -> None:
        """Keep the token-embedding table as pretrained (for large multilingual tables that
        hold most of a model's parameters but little of what fine-tuning changes)."""
        raise NotImplementedError(f"{type(self).__name__} has no trainable word-embedding table")

    def freeze_lower_layers(
        self, token_ids: Sequence[list[int]] | None, winograd: bool = True
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Keep the layers below the first context-dependent one as pretrained, and return a
        forward for training: one that computes them once per token id of ``token_ids`` (its
        tables live on the CPU), or the encoder itself when ``token_ids`` is None. ``winograd``
        (`TrainingSettings.winograd_convolutions`) lets such a forward take float32 convolutions
        by Winograd's algorithm."""
        raise NotImplementedError(f"{type(self).__name__} has no per-token lower layers to freeze")

    def distinct_token_forward(self, winograd: bool = True) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """A forward for float32 training on the CPU that computes the layers depending on a
        token id alone once per distinct id of a batch; the encoder itself when it has none.
        ``winograd`` as for `freeze_lower_layers`."""
        return self

    def pass_forward(self, texts: Sequence[str]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """A float32 forward without gradients for one pass over ``texts``, from the weights as they
        are now (training changes them between passes); the encoder itself when it has nothing faster."""
        return self

    def save_extras(self, model_dir: Path) -> dict[str, str]:
        """Write what loading needs besides the weights; return facts for the config."""
        return {}

    def check_saved_facts(self, model_dir: Path, facts: dict[str, str]) -> None:
        """Refuse a model whose frozen base differs from the one installed here."""


def length_batches(
    encoder: TextEncoder, texts: Sequence[str], batch_size: int, max_tokens: int | None = None
) -> Iterator[tuple[np.ndarray, TokenBatch]]:
    """Token batches of texts of similar length, with their input positions.

    Texts are taken in length order, so a batch's padding stays small; a batch also stops
    before its padded size passes ``max_tokens``, so batches of long texts hold fewer of
    them (this bounds the memory a pass needs at no cost in speed, see README). Closing
    batches wherever the length changes (no padding at all) was measured too: fuller
    batches are faster with the token-feature cache and equal with eager PyTorch."""
    ids = encoder.token_ids(texts)
    counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    order = np.argsort(counts, kind="stable")
    budget = max_tokens or np.iinfo(np.int64).max
    start = 0
    while start < len(order):
        end = start + 1  # a text longer than the budget still gets a batch of its own
        while end < len(order) and end - start < batch_size and (end - start + 1) * counts[order[end]] <= budget:
            end += 1
        idx = order[start:end]
        yield idx, encoder.collate([ids[i] for i in idx])
        start = end


def embed_texts(encoder: TextEncoder, texts: Sequence[str], batch_size: int = 64, bfloat16: bool = False) -> np.ndarray:
    """One float32 vector per text, in input order, without gradients, computed wherever the encoder's
    weights are (under bfloat16 autocast when asked: training's probe encodes as its steps run)."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if not texts:
        return out
    device = next(encoder.parameters()).device
    forward = encoder if bfloat16 else encoder.pass_forward(texts)
    encoder.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
        for idx, batch in length_batches(encoder, texts, batch_size):
            vectors = forward(batch.input_ids.to(device), batch.attention_mask.to(device))
            out[idx] = vectors.float().cpu().numpy()
    return out
