"""The needlens model: one shared encoder, three sigmoid need outputs and a 3-way cause softmax.

Save and load are exact mirrors in Hugging Face layout: ``config.json`` (a ``PretrainedConfig``
carrying labels, thresholds and temperatures) and ``model.safetensors`` (trained weights only,
stored as float16). Training rounds its weights to that precision before calibrating, so a
reloaded model predicts exactly what the trainer measured.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PretrainedConfig

from classifier.encoders import TextEncoder, build_encoder, load_encoder_skeleton
from classifier.errors import ModelLoadError
from classifier.labels import CAUSES, COMPATIBLE_SCHEMA_VERSIONS, NEEDS, SCHEMA_VERSION
from classifier.settings import USE_M3

WEIGHTS_FILE = "model.safetensors"
STORAGE_DTYPE = torch.float16


class NeedlensConfig(PretrainedConfig):
    model_type = "needlens"

    def __init__(
        self,
        base_model: str = USE_M3,
        encoder_dim: int = 512,
        dropout: float = 0.1,
        max_tokens: int = 256,
        need_thresholds: list[float] | None = None,
        need_temperatures: list[float] | None = None,
        cause_temperature: float = 1.0,
        need_review_bands: list[float] | None = None,
        cause_review_below: float = 0.0,
        lexical_weight: float = 0.0,
        model_version: str = "untrained",
        base_facts: dict[str, str] | None = None,
        schema_version: str = SCHEMA_VERSION,
        needs: list[str] | None = None,
        causes: list[str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.base_model = base_model
        self.encoder_dim = encoder_dim
        self.dropout = dropout
        self.max_tokens = max_tokens
        self.need_thresholds = need_thresholds or [0.5] * len(NEEDS)
        self.need_temperatures = need_temperatures or [1.0] * len(NEEDS)
        self.cause_temperature = cause_temperature
        self.need_review_bands = need_review_bands or [0.0] * len(NEEDS)
        self.cause_review_below = cause_review_below
        self.lexical_weight = lexical_weight
        self.model_version = model_version
        self.base_facts = base_facts or {}
        self.schema_version = schema_version
        self.needs = needs or [str(n) for n in NEEDS]
        self.causes = causes or [str(c) for c in CAUSES]


class NeedlensModel(nn.Module):
    """Encoder plus heads; ``forward`` returns raw logits, calibration lives in the predictor."""

    def __init__(self, config: NeedlensConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout)
        self.need_head = nn.Linear(encoder.dim, len(NEEDS))
        self.cause_head = nn.Linear(encoder.dim, len(CAUSES))

    @classmethod
    def from_base(cls, base_model: str, dropout: float, max_tokens: int, seed: int) -> NeedlensModel:
        """A fresh model: pretrained encoder, heads initialised from ``seed`` (so runs repeat)."""
        encoder = build_encoder(base_model, max_tokens)
        config = NeedlensConfig(base_model=base_model, encoder_dim=encoder.dim, dropout=dropout, max_tokens=max_tokens)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(config, encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.encoder(input_ids, attention_mask))

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(pooled)
        return self.need_head(pooled), self.cause_head(pooled)

    def round_to_storage_precision(self) -> None:
        """Make in-memory weights equal to what ``save_pretrained`` will store."""
        with torch.no_grad():
            for tensor in self.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.to(STORAGE_DTYPE).to(tensor.dtype))

    def save_pretrained(self, model_dir: Path) -> None:
        model_dir.mkdir(parents=True, exist_ok=True)
        self.config.base_facts = self.encoder.save_extras(model_dir)
        self.config.save_pretrained(model_dir)
        state = {
            name: (t.to(STORAGE_DTYPE) if t.is_floating_point() else t).contiguous()
            for name, t in self.state_dict().items()
        }
        save_file(state, str(model_dir / WEIGHTS_FILE), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, model_dir: Path) -> NeedlensModel:
        """Whatever fails while reading the directory (broken JSON, truncated weights, a weight of
        another shape) is a ModelLoadError naming the directory: one line from the CLI and the
        service, not a traceback from deep inside transformers or safetensors."""
        if not (model_dir / "config.json").is_file() or not (model_dir / WEIGHTS_FILE).is_file():
            raise ModelLoadError(
                f"{model_dir} is not a needlens model directory (config.json or {WEIGHTS_FILE} missing)"
            )
        try:
            return cls._read(model_dir)
        except (ModelLoadError, MemoryError):  # a machine out of memory is not a damaged model
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            raise ModelLoadError(f"{model_dir} is not a usable needlens model: {type(exc).__name__}: {reason}") from exc

    @classmethod
    def _read(cls, model_dir: Path) -> NeedlensModel:
        config = NeedlensConfig.from_pretrained(model_dir)
        if config.schema_version not in COMPATIBLE_SCHEMA_VERSIONS:
            raise ModelLoadError(
                f"{model_dir} was trained on label schema {config.schema_version}; this needlens speaks {SCHEMA_VERSION}"
            )
        encoder = load_encoder_skeleton(config.base_model, model_dir, config.max_tokens)
        encoder.check_saved_facts(model_dir, config.base_facts)
        model = cls(config, encoder)
        state = {
            name: t.float() if t.is_floating_point() else t
            for name, t in load_file(str(model_dir / WEIGHTS_FILE)).items()
        }
        model.load_state_dict(state, strict=True)
        return model.eval()
