"""Export a loaded model's dense part to ONNX (and an int8 dynamically quantised copy), cached.

The graph takes the dequantised embedding rows and the attention mask and returns the
need and cause logits. Graphs are cached per model version and weights hash under the
cache directory, written under a temporary name and renamed, so worker processes that
start together never read a half-written file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from classifier.modeling import NeedlensModel


class _AfterEmbedding(nn.Module):
    def __init__(self, model: NeedlensModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.heads(self.model.encoder.encode_embedded(embeddings, attention_mask))  # type: ignore[operator]


def _weights_digest(model: NeedlensModel) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def onnx_graph(model: NeedlensModel, cache_dir: Path, quantized: bool) -> Path:
    """Path of the model's ONNX graph (fp32 or int8), exporting it on first use."""
    folder = cache_dir / "onnx" / f"{model.config.model_version}-{_weights_digest(model)}"
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    if not fp32.is_file():
        _atomic(fp32, lambda tmp: _export(model, tmp))
    if quantized and not int8.is_file():
        _atomic(int8, lambda tmp: _quantize(fp32, tmp))
    return int8 if quantized else fp32


def _atomic(target: Path, write) -> None:  # type: ignore[no-untyped-def]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _export(model: NeedlensModel, path: Path) -> None:
    was_training = model.training
    model.eval()
    example = (torch.zeros(2, 8, model.encoder.dim), torch.ones(2, 8))
    dynamic = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():  # the TorchScript exporter's notices are not for users
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _AfterEmbedding(model),
            example,
            str(path),
            input_names=["embeddings", "attention_mask"],
            output_names=["need_logits", "cause_logits"],
            dynamic_axes={
                "embeddings": dynamic,
                "attention_mask": dynamic,
                "need_logits": {0: "batch"},
                "cause_logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    model.train(was_training)


def _quantize(fp32: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser warns on the root logger about every shape-only tensor
    try:
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
