"""The fine-tuning loop: encoder and heads trained together, best epoch kept.

Imbalance is handled in the loss (positive weights for rare needs, class weights for
causes) rather than by resampling, so every record is seen once per epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch.optim.swa_utils import AveragedModel
from transformers import get_linear_schedule_with_warmup

from classifier.decisions import decide_needs
from classifier.encoders.base import embed_texts
from classifier.inference import compute_logits
from classifier.modeling import NeedlensModel
from classifier.runtime import cpu_has_native_bfloat16, float32_runner
from classifier.settings import TrainingSettings
from training.data import label_arrays
from training.metrics import classification_metrics, headline


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    validation_score: float


@dataclass
class TrainResult:
    best_epoch: int
    device: str = "cpu"
    history: list[EpochRecord] = field(default_factory=list)
    bfloat16: bool = False


def training_device(choice: str) -> torch.device:
    """``auto`` takes a CUDA GPU when there is one; asking for ``cuda`` without one is an error
    rather than a silent hour on the CPU."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training device 'cuda' was asked for, but torch sees no CUDA GPU")
    return torch.device(choice)


def trains_in_bfloat16(choice: Literal["auto", "on", "off"], device: torch.device) -> bool:
    """``auto`` only where bfloat16 is native: emulated, it makes every step slower, not faster
    (torch's CUDA check counts emulation as support unless told not to)."""
    if choice != "auto":
        return choice == "on"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return cpu_has_native_bfloat16()


def loss_weights(train: Dataset, max_pos_weight: float, cause_weight_power: float) -> tuple[torch.Tensor, torch.Tensor]:
    """neg/pos per need (capped) and inverse-frequency weights per cause (mean 1 at power 1) raised
    to ``cause_weight_power``, counted on the people's labels (a teacher's soft labels would blur
    the counts)."""
    needs, causes = label_arrays(train.select(np.flatnonzero(~np.asarray(train["soft"], dtype=bool))))
    positives = needs.sum(0).clip(min=1)
    pos_weight = np.clip((len(needs) - positives) / positives, 1.0, max_pos_weight)
    counts = np.bincount(causes, minlength=3).clip(min=1)
    cause_weight = (counts.sum() / (len(counts) * counts)) ** cause_weight_power
    return torch.tensor(pos_weight, dtype=torch.float32), torch.tensor(cause_weight, dtype=torch.float32)


BUCKET_BATCHES = 50
"""Batches drawn together and sorted by length: big enough to cut padding, small enough to mix."""
BUCKET_TOKENS = 16
"""Texts within this many tokens count as one length, so batches of short texts still mix:
sorting on the exact length made batches of one kind of text where length follows the label."""


def length_bucketed_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Random batches of similar-length texts, in random order.

    Real reviews run from 5 to 500 characters; a random batch is padded to its longest text,
    which made an epoch several times slower than the tokens it held. Texts are shuffled, cut
    into pools of ``BUCKET_BATCHES`` batches, sorted by length (in steps of ``BUCKET_TOKENS``,
    random within a step) within a pool and batched; the batches are then shuffled, so every
    epoch still sees a fresh mix."""
    order = torch.randperm(len(lengths), generator=generator)
    pool_size = batch_size * BUCKET_BATCHES
    batches: list[torch.Tensor] = []
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        steps = torch.tensor([lengths[i] // BUCKET_TOKENS for i in pool.tolist()])
        pool = pool[torch.argsort(steps, stable=True)]
        batches.extend(pool.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def sample_weights(train: Dataset, written_weight: float, soft_weight: float = 1.0) -> torch.Tensor:
    """Weight 1 for real texts a person labeled, ``written_weight`` for team-written ones,
    ``soft_weight`` for texts a teacher model labeled."""
    weights = torch.ones(len(train), dtype=torch.float32)
    weights[torch.tensor(train["written"], dtype=torch.bool)] = written_weight
    weights[torch.tensor(train["soft"], dtype=torch.bool)] = soft_weight
    return weights


def drop_tokens(ids: list[list[int]], rate: float, generator: torch.Generator) -> list[list[int]]:
    """Each text's tokens with ``rate`` of the inner ones left out at random (word dropout, Iyyer et
    al. 2015): the first and last (a tokenizer's markers) always stay, and so does one inner token."""
    out = []
    for row in ids:
        inner = row[1:-1]
        if len(inner) < 2:
            out.append(row)
            continue
        keep = torch.rand(len(inner), generator=generator) >= rate
        if not keep.any():
            keep[torch.randint(len(inner), (1,), generator=generator)] = True
        out.append([row[0], *(t for t, k in zip(inner, keep.tolist(), strict=True) if k), row[-1]])
    return out


def validation_score(model: NeedlensModel, validation: Dataset, batch_size: int) -> float:
    """Uncalibrated, 0.5-threshold score: enough to rank epochs, calibration comes after."""
    texts = validation["text"][:]
    logits = compute_logits(model, texts, batch_size, float32_runner(model, texts))
    need_true, cause_true = label_arrays(validation)
    need_pred = decide_needs(1 / (1 + np.exp(-logits.needs)), [0.5] * need_true.shape[1])
    return headline(classification_metrics(need_true, need_pred.astype(np.int64), cause_true, logits.cause.argmax(1)))


def probe_heads(
    model: NeedlensModel,
    texts: list[str],
    batch_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    settings: TrainingSettings,
    device: torch.device,
    bfloat16: bool,
) -> None:
    """Linear probing before fine-tuning (LP-FT, Kumar et al. 2022): fine-tuning from random heads
    bends the pretrained features toward them in the first steps, which is said to cost most on
    text unlike the training data. The sentence vectors are computed once (one inference pass),
    so the heads' epochs take seconds. The probe draws from its own seeded generator inside a
    forked global RNG, so fine-tuning afterwards sees the same batches and dropout as without it."""
    pooled = torch.from_numpy(embed_texts(model.encoder, texts, settings.batch_size * 2, bfloat16)).to(device)
    head_params = [*model.need_head.parameters(), *model.cause_head.parameters()]
    optimizer = torch.optim.AdamW(head_params, lr=settings.head_lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed + 1)
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed + 1)
        for _ in range(settings.probe_epochs):
            for idx in torch.randperm(len(texts), generator=generator).split(settings.batch_size):
                idx = idx.to(device)
                loss = batch_loss(*model.heads(pooled[idx]), idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()


def fine_tune(
    model: NeedlensModel,
    train: Dataset,
    validation: Dataset,
    settings: TrainingSettings,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    device = training_device(settings.device)
    bfloat16 = trains_in_bfloat16(settings.bfloat16, device)
    model.to(device)
    token_ids = model.encoder.token_ids(train["text"][:])  # once; every epoch batches these ids
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    every_layer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = model.encoder
    if settings.distinct_token_rows and device.type == "cpu" and not bfloat16:
        # not under bfloat16 autocast: its builds stay as they were, and this forward's last layer
        # norm (token sums minus a mean term) would cancel badly in bfloat16
        every_layer = model.encoder.distinct_token_forward(settings.winograd_convolutions)
    encode = every_layer
    if settings.frozen_lower_epochs:  # the cache's tables live on the CPU; elsewhere frozen layers run eagerly
        encode = model.encoder.freeze_lower_layers(
            token_ids if device.type == "cpu" else None, settings.winograd_convolutions
        )
    pos_weight, cause_weight = (
        w.to(device) for w in loss_weights(train, settings.max_pos_weight, settings.cause_weight_power)
    )
    head_params = [*model.need_head.parameters(), *model.cause_head.parameters()]
    optimizer = torch.optim.AdamW(  # frozen parameters get no gradient, and AdamW leaves those alone
        [
            {"params": encoder_params, "lr": settings.encoder_lr},
            {"params": head_params, "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = -(-len(train) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_fraction * total_steps), total_steps)

    need_true_t = torch.tensor(train["needs"], dtype=torch.float32, device=device)
    cause_true_t = torch.tensor(train["cause_probs"], dtype=torch.float32, device=device)
    sample_weight = sample_weights(train, settings.written_weight, settings.soft_label_weight).to(device)

    def batch_loss(need_logits: torch.Tensor, cause_logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        per_text = F.binary_cross_entropy_with_logits(
            need_logits, need_true_t[idx], pos_weight=pos_weight, reduction="none"
        ).mean(1) + F.cross_entropy(
            cause_logits,
            cause_true_t[idx],
            weight=cause_weight,
            reduction="none",
            label_smoothing=settings.cause_label_smoothing,
        )
        return (per_text * sample_weight[idx]).sum() / sample_weight[idx].sum()

    if settings.probe_epochs:
        probe_heads(model, train["text"][:], batch_loss, settings, device, bfloat16)

    lengths = [len(ids) for ids in token_ids]
    result = TrainResult(best_epoch=0, device=device.type, bfloat16=bfloat16)
    best_score, best_state, stale = -1.0, copy.deepcopy(model.state_dict()), 0
    average_after = None if settings.weight_average_from is None else int(settings.weight_average_from * total_steps)
    averaged: AveragedModel | None = None
    step = 0
    for epoch in range(1, settings.epochs + 1):
        if settings.frozen_lower_epochs and epoch == settings.frozen_lower_epochs + 1:
            for p in encoder_params:  # the frozen epochs are over: every layer trains from here
                p.requires_grad_(True)
            encode = every_layer
        model.train()
        running = 0.0
        for idx in length_bucketed_batches(lengths, settings.batch_size, generator):
            ids = [token_ids[i] for i in idx.tolist()]
            if settings.token_dropout:
                ids = drop_tokens(ids, settings.token_dropout, generator)
            batch = model.encoder.collate(ids)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
                need_logits, cause_logits = model.heads(
                    encode(batch.input_ids.to(device), batch.attention_mask.to(device))
                )
            loss = batch_loss(need_logits.float(), cause_logits.float(), idx.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if average_after is not None and step > average_after:
                if averaged is None:  # a copy of the model; the first update sets it to this step's weights
                    averaged = AveragedModel(model, use_buffers=False)
                averaged.update_parameters(model)  # a uniform mean over the steps since
            running += loss.item() * len(idx)
        scored = averaged.module if averaged is not None else model
        score = validation_score(scored, validation, settings.batch_size * 2)
        record = EpochRecord(epoch, running / len(train), score)
        result.history.append(record)
        if on_epoch:
            on_epoch(record)
        if score > best_score:
            best_score, best_state, stale, result.best_epoch = score, copy.deepcopy(scored.state_dict()), 0, epoch
        else:
            stale += 1
            if stale >= settings.patience:
                break
    model.load_state_dict(best_state)
    model.to("cpu")  # calibration, saving and every later use run where the model ships
    return result
