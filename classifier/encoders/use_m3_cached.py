"""The USE-m3 encoder at inference, with what depends on a token id alone computed once per id.

Up to its second convolutions, USE-m3 treats every token on its own: the uint8 embedding
row, its projection and layer norm, and its share of each first n-gram convolution (a
convolution over a window is a sum of one matrix product per window position, and each
product sees one token). Kept per distinct token id, these turn the projection and the
first convolutions, about 60% of the encoder's arithmetic, into sums of cached rows; a
batch then pays for the second convolutions, the statistics of the last layer norm and the
pooling. The output equals `UseM3Encoder.forward` up to float32 rounding
(``tests/classifier/test_token_cache.py``).

A loaded model's weights do not change at inference, so a cache belongs to one loaded model
(a promoted model gets a new runner, hence a new cache). It holds at most ``max_bytes`` of
rows and is emptied when a batch's new ids would not fit, so memory stays bounded whatever
the vocabulary of a job; a job over a few thousand texts fills it with the ids it reuses.

Fine-tuning uses the same split of the computation: with the lower layers frozen, their rows
are computed once for the whole run (`TrainingFeatureCache`); with every layer trained, once
per distinct token id of each batch, with gradients (`DistinctTokenForward`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F

from classifier.encoders.use_m3 import CNN_DIM, EMB_DIM, ORDERS, UseM3Encoder
from classifier.encoders.winograd import WinogradConvolution

MAX_LEFT = max(left for _, left in ORDERS)
MAX_RIGHT = max(order - 1 - left for order, left in ORDERS)
ROW_BYTES = 4 * (EMB_DIM + CNN_DIM * len(ORDERS) + sum(order for order, _ in ORDERS) * CNN_DIM + 2)
"""What one cached token id holds: embedding row, projected row, first-convolution shares, two sums."""

SecondConvolution = Callable[[torch.Tensor, int], torch.Tensor]
"""A branch's second convolution: (batch, time, in) rows, zero outside the texts, and the
branch's tokens of left context -> (batch, time, out), bias added, before the relu."""


def distinct_ids(token_ids: Sequence[list[int]]) -> torch.Tensor:
    """Each id of ``token_ids`` once, sorted (id 0 when there are none)."""
    return torch.unique(torch.tensor([i for seq in token_ids for i in seq] or [0], dtype=torch.long))


def bytes_to_hold(ids: torch.Tensor) -> int:
    """A cache budget that holds the rows of ``ids`` beside the padding row, so it is never emptied."""
    return (len(ids) + 2) * ROW_BYTES


@dataclass
class TokenRows:
    """Per-token rows, one per slot; slot 0 is all zeros and stands for padding."""

    emb: torch.Tensor  # (slots, EMB_DIM): the embedding row
    act: torch.Tensor  # (slots, CNN_DIM * branches): projected and layer-normed
    shares: list[torch.Tensor]  # per branch, (slots, order * CNN_DIM): the row's share at each window position
    emb_stats: torch.Tensor  # (slots, 2): sum and sum of squares of the embedding row

    def tensors(self) -> list[torch.Tensor]:
        return [self.emb, self.act, *self.shares, self.emb_stats]


def token_rows(
    encoder: UseM3Encoder, ids: torch.Tensor, first: Sequence[torch.Tensor], zero_row: bool = False
) -> TokenRows:
    """The rows of ``ids``, one slot each in order, after an all-zero slot 0 when ``zero_row``;
    the first convolutions' kernels are given as (in, order * out), so that a single product
    gives a token's share at every window position."""
    emb = encoder.embed(ids)
    act = encoder.proj_norm(encoder.proj(emb))
    if zero_row:  # before the shares and sums, which then come out zero there without a copy
        emb, act = F.pad(emb, (0, 0, 1, 0)), F.pad(act, (0, 0, 1, 0))
    shares = [act[:, i * CNN_DIM : (i + 1) * CNN_DIM] @ kernel for i, kernel in enumerate(first)]
    return TokenRows(emb, act, shares, torch.stack([emb.sum(1), (emb * emb).sum(1)], dim=1))


def first_kernel(conv: torch.nn.Conv1d) -> torch.Tensor:
    """A first convolution's (out, in, order) kernel as (in, order * out)."""
    return conv.weight.permute(1, 2, 0).reshape(CNN_DIM, -1)


class DirectConvolution:
    """A second convolution as oneDNN's conv2d, in the dtype of its (out, in, order) kernel: the
    bfloat16 path (native bfloat16 convolutions beat fewer float32 products) and the float32 one
    that `WinogradConvolution` replaced (``winograd_convolutions`` false)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, channels_last: bool) -> None:
        # (out, in, 1, order) for a conv2d over (batch, channels, 1, time), which reads the
        # (batch, time, channels) rows the cache produces as a free view; a channels-last kernel
        # was measured faster at inference
        self.weight, self.bias = weight.unsqueeze(2), bias
        if channels_last:
            self.weight = self.weight.contiguous(memory_format=torch.channels_last)

    def __call__(self, h: torch.Tensor, left: int) -> torch.Tensor:
        batch, time, channels = h.shape
        order = self.weight.shape[3]
        # h written once into the convolution's zero-edged input, in its dtype: measured faster
        # than a cast then a padded copy (bfloat16) and than the convolution's own padding (float32)
        x = torch.empty(batch, time + order - 1, channels, dtype=self.weight.dtype, device=h.device)
        x[:, :left].zero_()
        x[:, left + time :].zero_()
        x[:, left : left + time].copy_(h)
        y = F.conv2d(x.unsqueeze(1).permute(0, 3, 1, 2), self.weight, self.bias)
        return y.permute(0, 2, 3, 1).reshape(batch, time, -1)


def second_convolutions(
    encoder: UseM3Encoder, winograd: bool, dtype: torch.dtype | None = None
) -> list[SecondConvolution]:
    """The encoder's second convolutions as `encode_slots` takes them: Winograd's F(4, order) in
    float32 when ``winograd``, oneDNN's direct convolution otherwise. Without ``dtype`` they read
    the live weights, so gradients reach them; with it, detached copies in that dtype."""
    convolutions: list[SecondConvolution] = []
    for branch in encoder.branches:
        weight, bias = branch.conv2.weight, branch.conv2.bias
        if dtype is not None:
            weight, bias = weight.detach().to(dtype), bias.detach().to(dtype)
        if winograd and weight.dtype == torch.float32:
            convolutions.append(WinogradConvolution(weight, bias))
        else:
            convolutions.append(DirectConvolution(weight, bias, channels_last=dtype is not None))
    return convolutions


def encode_slots(
    encoder: UseM3Encoder,
    rows: TokenRows,
    slots: torch.Tensor,
    attention_mask: torch.Tensor,
    first_bias: Sequence[torch.Tensor],
    second: Sequence[SecondConvolution],
) -> torch.Tensor:
    """`UseM3Encoder.forward` over a batch given as slots of ``rows`` (0 outside each text), from
    the first convolutions' bias and the second convolutions. Autograd-safe: gradients reach
    whatever the rows, biases and kernels were computed from."""
    batch, time = slots.shape
    mask = attention_mask.to(torch.float32)
    padded = not bool(attention_mask.all())
    shifted = F.pad(slots, (MAX_LEFT, MAX_RIGHT))  # slot 0 outside a text: it adds nothing
    act = F.embedding(slots, rows.act)
    ngrams = []
    for i, (order, left) in enumerate(ORDERS):
        # the first convolution at t sums the shares of the tokens in its window: a bag
        # of rows (slot * order + position) of the branch's table seen as (slots * order, channels)
        window = shifted.unfold(1, order, 1)[:, MAX_LEFT - left : MAX_LEFT - left + time]
        rows_at = (window * order + torch.arange(order)).reshape(-1, order)
        pre = F.embedding_bag(rows_at, rows.shares[i].view(-1, CNN_DIM), mode="sum").view(batch, time, CNN_DIM)
        h, residual = pre.add_(first_bias[i]).relu_(), act[..., i * CNN_DIM : (i + 1) * CNN_DIM]
        # in place where no backward pass keeps the relu's output (inference, frozen rows)
        h = h + residual if h.requires_grad else h.add_(residual)
        if padded:  # the convolution's input is zero outside the texts, as the eager encoder's
            h = h * mask.unsqueeze(2) if h.requires_grad else h.mul_(mask.unsqueeze(2))
        y = second[i](h, left)
        # left unmasked outside the texts: every later use of a position there is weighted by 0
        ngrams.append(h.add(y.relu_()))

    # The last layer norm runs over [embedding, three n-gram outputs] per token and is then
    # summed over tokens; summing x_t / sigma_t and mu_t / sigma_t gives the same result
    # without building the 1,280-wide features.
    stats = F.embedding(slots, rows.emb_stats)
    width = EMB_DIM + CNN_DIM * len(ORDERS)
    mean = (stats[..., 0] + sum(g.sum(2) for g in ngrams)) / width
    mean_sq = (stats[..., 1] + sum(torch.linalg.vector_norm(g, dim=2).square() for g in ngrams)) / width
    inv_std = torch.rsqrt((mean_sq - mean * mean).clamp_min(0) + encoder.eps) * mask
    weights = inv_std.unsqueeze(1)  # (batch, 1, time)
    emb = F.embedding_bag(slots, rows.emb, per_sample_weights=inv_std, mode="sum")
    weighted = torch.cat([emb, *(torch.bmm(weights, g).squeeze(1) for g in ngrams)], dim=1)
    lengths = mask.sum(1, keepdim=True)
    centred = weighted - (inv_std * mean).sum(1, keepdim=True)
    summed = encoder.feat_norm.weight * centred + lengths * encoder.feat_norm.bias
    return encoder.pool(summed, lengths)


class TokenFeatureCache:
    """Encodes token batches like ``UseM3Encoder.forward`` (eval mode, no gradients).

    ``bfloat16`` runs the second convolutions in bfloat16 (float32 accumulation); the cached
    rows and everything else stay float32. In float32 ``winograd`` runs them as Winograd's
    F(4, order) (`classifier.encoders.winograd`), equal up to rounding with fewer products.
    """

    def __init__(self, encoder: UseM3Encoder, max_bytes: int, bfloat16: bool = False, winograd: bool = True) -> None:
        self.encoder = encoder
        self.winograd = winograd
        self.conv_dtype = torch.bfloat16 if bfloat16 else torch.float32
        # never more rows than ids (plus the padding row): a larger budget was allocated up front
        # and failed to start at all
        self.capacity = max(2, min(max_bytes // ROW_BYTES, encoder.table.shape[0] + 1))
        self.lock = threading.Lock()  # the service may call one runner from several threads
        with torch.inference_mode():
            self.first = [first_kernel(b.conv1).detach().contiguous() for b in encoder.branches]
            self.first_bias = [b.conv1.bias.detach() for b in encoder.branches]
        self._allocate(self.capacity)

    def _allocate(self, capacity: int) -> None:
        """Row 0 is all zeros and stands for padding. ``torch.empty`` maps memory lazily, so
        resident memory grows with the rows written, not with the capacity."""
        self.capacity = capacity
        self.slot_of = torch.full((self.encoder.table.shape[0],), -1, dtype=torch.long)
        self.rows = TokenRows(
            emb=torch.empty(capacity, EMB_DIM),
            act=torch.empty(capacity, CNN_DIM * len(ORDERS)),
            shares=[torch.empty(capacity, order * CNN_DIM) for order, _ in ORDERS],
            emb_stats=torch.empty(capacity, 2),
        )
        for table in self.rows.tensors():
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
        new = token_rows(self.encoder, missing, self.first)
        slots = torch.arange(self.used, self.used + len(missing))
        self.slot_of[missing] = slots
        for table, rows in zip(self.rows.tensors(), new.tensors(), strict=True):
            table[slots] = rows
        self.used += len(missing)

    @cached_property
    def second(self) -> list[SecondConvolution]:
        """Each branch's second convolution from the weights detached, built on first use (under
        the lock): a training cache reads the live weights instead and never builds these."""
        with torch.inference_mode():
            return second_convolutions(self.encoder, self.winograd, self.conv_dtype)

    def second_convolution(self) -> list[SecondConvolution]:
        """The second convolutions a batch runs through."""
        return self.second

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with self.lock, torch.inference_mode():
            self._fill(torch.unique(input_ids))
            return self._encode(input_ids, attention_mask)

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        slots = self.slot_of[input_ids] * attention_mask
        return encode_slots(self.encoder, self.rows, slots, attention_mask, self.first_bias, self.second_convolution())


class TrainingFeatureCache(TokenFeatureCache):
    """The same computation for fine-tuning with the lower layers frozen (projection, its layer
    norm and the first convolutions, whose weights then stay pretrained): their per-token rows
    are computed once for every id of the training texts, and gradients flow through the second
    convolutions, the last layer norm and the pooling layers, read live from the encoder.

    On 2 cores (AVX2) a training step over 32 real reviews took 0.08 s instead of 0.21 s
    (`python -m bench.train_step`): the frozen layers cost neither their forward pass nor their
    backward pass."""

    def __init__(self, encoder: UseM3Encoder, token_ids: Sequence[list[int]], winograd: bool = True) -> None:
        ids = distinct_ids(token_ids)
        super().__init__(encoder, bytes_to_hold(ids), winograd=winograd)
        with torch.no_grad():
            self._fill(ids)

    def second_convolution(self) -> list[SecondConvolution]:
        return second_convolutions(self.encoder, self.winograd)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self._fill(torch.unique(input_ids))  # ids outside the training texts (none in training)
        # float32 even inside a bfloat16-autocast training step: the layer norm here is taken as
        # token sums minus a mean term, a subtraction that bfloat16 sums would cancel badly
        with torch.autocast(input_ids.device.type, enabled=False):
            return self._encode(input_ids, attention_mask)


class DistinctTokenForward:
    """`UseM3Encoder.forward` for fine-tuning every layer in float32 on the CPU: the per-token
    layers (embedding row, projection, its layer norm, each token's share of the first
    convolutions) run once per distinct token id of the batch instead of once per position,
    padding included, and gradients flow to every weight. A batch of 32 real reviews holds about
    a third as many distinct ids as tokens. Equal to the eager forward up to float32 rounding,
    gradients too (``tests/classifier/test_token_cache.py``); the speed is
    `python -m bench.train_step`'s. Refused under autocast: the last layer norm is taken as token
    sums minus a mean term (as in `TrainingFeatureCache`), which bfloat16 sums would cancel badly."""

    def __init__(self, encoder: UseM3Encoder, winograd: bool = True) -> None:
        self.encoder = encoder
        self.winograd = winograd

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled(input_ids.device.type):
            raise RuntimeError("DistinctTokenForward computes in float32; call it outside autocast")
        enc = self.encoder
        ids, inverse = torch.unique(input_ids, return_inverse=True)
        rows = token_rows(enc, ids, [first_kernel(b.conv1) for b in enc.branches], zero_row=True)
        slots = (inverse + 1) * attention_mask  # slot 0: the zero row, for padding
        first_bias = [b.conv1.bias for b in enc.branches]
        return encode_slots(enc, rows, slots, attention_mask, first_bias, second_convolutions(enc, self.winograd))
