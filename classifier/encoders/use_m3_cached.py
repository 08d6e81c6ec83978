"""The USE-m3 encoder at inference, with what depends on a token id alone computed once per id.

Up to its second convolutions, USE-m3 treats every token on its own: the uint8 embedding
row, its projection and layer norm, and its share of each first n-gram convolution (a
convolution over a window is a sum of one matrix product per window position, and each
product sees one token). Kept per distinct token id, these turn the projection and the
first convolutions, about 60% of the encoder's arithmetic, into sums of cached rows; a
batch then pays for the second convolutions, the statistics of the last layer norm and the
pooling. The output equals `UseM3Encoder.forward` up to float32 rounding
(``tests/test_token_cache.py``).

A loaded model's weights do not change at inference, so a cache belongs to one loaded model
(a promoted model gets a new runner, hence a new cache). It holds at most ``max_bytes`` of
rows and is emptied when a batch's new ids would not fit, so memory stays bounded whatever
the vocabulary of a job; a job over a few thousand texts fills it with the ids it reuses.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from classifier.encoders.use_m3 import CNN_DIM, EMB_DIM, ORDERS, UseM3Encoder

MAX_LEFT = max(left for _, left in ORDERS)
MAX_RIGHT = max(order - 1 - left for order, left in ORDERS)
ROW_BYTES = 4 * (EMB_DIM + CNN_DIM * len(ORDERS) + sum(order for order, _ in ORDERS) * CNN_DIM + 2)
"""What one cached token id holds: embedding row, projected row, first-convolution shares, two sums."""


class TokenFeatureCache:
    """Encodes token batches like ``UseM3Encoder.forward`` (eval mode, no gradients).

    ``bfloat16`` runs the second convolutions in bfloat16 (float32 accumulation); the cached
    rows and everything else stay float32.
    """

    def __init__(self, encoder: UseM3Encoder, max_bytes: int, bfloat16: bool = False) -> None:
        self.encoder = encoder
        self.conv_dtype = torch.bfloat16 if bfloat16 else torch.float32
        # never more rows than ids (plus the padding row): a larger budget was allocated up front
        # and failed to start at all
        self.capacity = max(2, min(max_bytes // ROW_BYTES, encoder.table.shape[0] + 1))
        self.lock = threading.Lock()  # the service may call one runner from several threads
        with torch.inference_mode():
            # (out, in, 1, order) kernels for a channels-last conv2d over (batch, channels, 1, time):
            # that layout is a free view of the (batch, time, channels) rows the cache produces
            self.second = [
                (
                    b.conv2.weight.detach()
                    .to(self.conv_dtype)
                    .unsqueeze(2)
                    .contiguous(memory_format=torch.channels_last),
                    b.conv2.bias.detach().to(self.conv_dtype),
                )
                for b in encoder.branches
            ]
            # first-convolution kernels as (in, order * out): one product gives a token's share
            # at every window position
            self.first = [
                b.conv1.weight.detach().permute(1, 2, 0).reshape(CNN_DIM, -1).contiguous() for b in encoder.branches
            ]
            self.first_bias = [b.conv1.bias.detach() for b in encoder.branches]
        self._allocate(self.capacity)

    def _allocate(self, capacity: int) -> None:
        """Row 0 is all zeros and stands for padding. ``torch.empty`` maps memory lazily, so
        resident memory grows with the rows written, not with the capacity."""
        self.capacity = capacity
        self.slot_of = torch.full((self.encoder.table.shape[0],), -1, dtype=torch.long)
        self.emb = torch.empty(capacity, EMB_DIM)
        self.act = torch.empty(capacity, CNN_DIM * len(ORDERS))
        # per branch, a token's share at each window position: (capacity, order * channels)
        self.shares = [torch.empty(capacity, order * CNN_DIM) for order, _ in ORDERS]
        self.emb_stats = torch.empty(capacity, 2)  # sum and sum of squares of each embedding row
        for table in (self.emb, self.act, *self.shares, self.emb_stats):
            table[0] = 0
        self.used = 1

    def _fill(self, ids: torch.Tensor) -> None:
        """Compute and store the rows of ids not cached yet."""
        missing = ids[self.slot_of[ids] < 0]
        if not len(missing):
            return
        if self.used + len(missing) > self.capacity:
            self._allocate(max(self.capacity, len(ids) + 1))  # empty it; a batch always fits
            missing = ids
        enc = self.encoder
        emb = enc.embed(missing)
        act = enc.proj_norm(enc.proj(emb))
        slots = torch.arange(self.used, self.used + len(missing))
        self.slot_of[missing] = slots
        self.emb[slots] = emb
        self.act[slots] = act
        for i, (table, kernel) in enumerate(zip(self.shares, self.first, strict=True)):
            table[slots] = act[:, i * CNN_DIM : (i + 1) * CNN_DIM] @ kernel
        self.emb_stats[slots] = torch.stack([emb.sum(1), (emb * emb).sum(1)], dim=1)
        self.used += len(missing)

    def second_convolution(self, branch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (kernel, bias) of a branch's second convolution, as the cache was built."""
        return self.second[branch]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with self.lock, torch.inference_mode():
            self._fill(torch.unique(input_ids))
            return self._encode(self.slot_of[input_ids] * attention_mask, attention_mask)

    def _encode(self, slots: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        batch, time = slots.shape
        mask = attention_mask.to(torch.float32)
        padded = not bool(attention_mask.all())
        shifted = F.pad(slots, (MAX_LEFT, MAX_RIGHT))  # slot 0 outside a text: it adds nothing
        act = self.act[slots]
        ngrams = []
        for i, (order, left) in enumerate(ORDERS):
            # the first convolution at t sums the shares of the tokens in its window: a bag
            # of rows (slot * order + position) of the branch's table seen as (slots * order, channels)
            window = shifted.unfold(1, order, 1)[:, MAX_LEFT - left : MAX_LEFT - left + time]
            rows = (window * order + torch.arange(order)).reshape(-1, order)
            pre = F.embedding_bag(rows, self.shares[i].view(-1, CNN_DIM), mode="sum").view(batch, time, CNN_DIM)
            h = pre.add_(self.first_bias[i]).relu_().add_(act[..., i * CNN_DIM : (i + 1) * CNN_DIM])
            if padded:
                h = h * mask.unsqueeze(2)
            weight, bias = self.second_convolution(i)
            x = F.pad(h.to(self.conv_dtype).unsqueeze(1).permute(0, 3, 1, 2), (left, order - 1 - left))
            y = F.conv2d(x, weight, bias).permute(0, 2, 3, 1).reshape(batch, time, CNN_DIM)
            out = h.add(y.relu_())
            ngrams.append(out * mask.unsqueeze(2) if padded else out)

        # The last layer norm runs over [embedding, three n-gram outputs] per token and is then
        # summed over tokens; summing x_t / sigma_t and mu_t / sigma_t gives the same result
        # without building the 1,280-wide features.
        stats = self.emb_stats[slots]
        width = EMB_DIM + CNN_DIM * len(ORDERS)
        mean = (stats[..., 0] + sum(g.sum(2) for g in ngrams)) / width
        mean_sq = (stats[..., 1] + sum((g * g).sum(2) for g in ngrams)) / width
        inv_std = torch.rsqrt((mean_sq - mean * mean).clamp_min(0) + enc.eps) * mask
        weights = inv_std.unsqueeze(1)  # (batch, 1, time)
        emb = F.embedding_bag(slots, self.emb, per_sample_weights=inv_std, mode="sum")
        weighted = torch.cat([emb, *(torch.bmm(weights, g).squeeze(1) for g in ngrams)], dim=1)
        lengths = mask.sum(1, keepdim=True)
        centred = weighted - (inv_std * mean).sum(1, keepdim=True)
        summed = enc.feat_norm.weight * centred + lengths * enc.feat_norm.bias
        return enc.pool(summed, lengths)


class TrainingFeatureCache(TokenFeatureCache):
    """The same computation for fine-tuning with the lower layers frozen (projection, its layer
    norm and the first convolutions, whose weights then stay pretrained): their per-token rows
    are computed once for every id of the training texts, and gradients flow through the second
    convolutions, the last layer norm and the pooling layers, read live from the encoder.

    On 2 cores (AVX2) a training step over 32 real reviews took 0.08 s instead of 0.21 s
    (`python -m bench.train_step`): the frozen layers cost neither their forward pass nor their
    backward pass."""

    def __init__(self, encoder: UseM3Encoder, token_ids: Sequence[list[int]]) -> None:
        ids = torch.unique(torch.tensor([i for seq in token_ids for i in seq] or [0], dtype=torch.long))
        super().__init__(encoder, (len(ids) + 2) * ROW_BYTES)
        with torch.no_grad():
            self._fill(ids)

    def second_convolution(self, branch: int) -> tuple[torch.Tensor, torch.Tensor]:
        conv = self.encoder.branches[branch].conv2
        return conv.weight.unsqueeze(2), conv.bias

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self._fill(torch.unique(input_ids))  # ids outside the training texts (none in training)
        # float32 even inside a bfloat16-autocast training step: the layer norm here is taken as
        # token sums minus a mean term, a subtraction that bfloat16 sums would cancel badly
        with torch.autocast(input_ids.device.type, enabled=False):
            return self._encode(self.slot_of[input_ids] * attention_mask, attention_mask)
