"""The fine-tuning loop: encoder and heads trained together, best epoch kept.

Imbalance is handled in the loss (positive weights for rare needs, class weights for
causes) rather than by resampling, so every record is seen once per epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import get_linear_schedule_with_warmup

from classifier.inference import compute_logits, decide_needs
from classifier.modeling import NeedlensModel
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
    history: list[EpochRecord] = field(default_factory=list)


def loss_weights(train: Dataset, max_pos_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """neg/pos per need (capped) and inverse-frequency weights per cause (mean 1)."""
    needs, causes = label_arrays(train)
    positives = needs.sum(0).clip(min=1)
    pos_weight = np.clip((len(needs) - positives) / positives, 1.0, max_pos_weight)
    counts = np.bincount(causes, minlength=3).clip(min=1)
    cause_weight = counts.sum() / (len(counts) * counts)
    return torch.tensor(pos_weight, dtype=torch.float32), torch.tensor(cause_weight, dtype=torch.float32)


def validation_score(model: NeedlensModel, validation: Dataset, batch_size: int) -> float:
    """Uncalibrated, 0.5-threshold score: enough to rank epochs, calibration comes after."""
    logits = compute_logits(model, validation["text"][:], batch_size)
    need_true, cause_true = label_arrays(validation)
    need_pred = decide_needs(1 / (1 + np.exp(-logits.needs)), [0.5] * need_true.shape[1])
    return headline(classification_metrics(need_true, need_pred.astype(np.int64), cause_true, logits.cause.argmax(1)))


def fine_tune(
    model: NeedlensModel,
    train: Dataset,
    validation: Dataset,
    settings: TrainingSettings,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    pos_weight, cause_weight = loss_weights(train, settings.max_pos_weight)
    head_params = [*model.need_head.parameters(), *model.cause_head.parameters()]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": settings.encoder_lr},
            {"params": head_params, "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = -(-len(train) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_fraction * total_steps), total_steps)

    texts = train["text"][:]
    need_true, cause_true = label_arrays(train)
    need_true_t = torch.tensor(need_true, dtype=torch.float32)
    cause_true_t = torch.tensor(cause_true)

    result = TrainResult(best_epoch=0)
    best_score, best_state, stale = -1.0, copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        running = 0.0
        for start in range(0, len(train), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            batch = model.encoder.tokenize([texts[i] for i in idx.tolist()])
            need_logits, cause_logits = model(batch.input_ids, batch.attention_mask)
            loss = F.binary_cross_entropy_with_logits(
                need_logits, need_true_t[idx], pos_weight=pos_weight
            ) + F.cross_entropy(cause_logits, cause_true_t[idx], weight=cause_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item() * len(idx)
        score = validation_score(model, validation, settings.batch_size * 2)
        record = EpochRecord(epoch, running / len(train), score)
        result.history.append(record)
        if on_epoch:
            on_epoch(record)
        if score > best_score:
            best_score, best_state, stale, result.best_epoch = score, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if stale >= settings.patience:
                break
    model.load_state_dict(best_state)
    return result
