"""The encoder seam: the built-in USE-m3 port or any local Hugging Face encoder directory.

Both turn texts into one vector per text and both are fine-tuned end to end; the heads,
trainer and predictor never know which one they hold.
"""

from __future__ import annotations

from pathlib import Path

from classifier.encoders.base import TextEncoder, TokenBatch
from classifier.settings import USE_M3


def build_encoder(base_model: str, max_tokens: int) -> TextEncoder:
    """Create a fresh encoder with pretrained weights, ready to fine-tune."""
    if base_model == USE_M3:
        from classifier.encoders.use_m3 import UseM3Encoder

        return UseM3Encoder.from_package()
    from classifier.encoders.hf import HFEncoder

    return HFEncoder.from_pretrained_dir(Path(base_model), max_tokens=max_tokens)


def load_encoder_skeleton(base_model: str, model_dir: Path, max_tokens: int) -> TextEncoder:
    """Create an encoder whose trained weights are about to be loaded from ``model_dir``."""
    if base_model == USE_M3:
        from classifier.encoders.use_m3 import UseM3Encoder

        return UseM3Encoder.from_package()
    from classifier.encoders.hf import HFEncoder

    return HFEncoder.from_saved(model_dir, max_tokens=max_tokens)


__all__ = ["TextEncoder", "TokenBatch", "build_encoder", "load_encoder_skeleton"]
