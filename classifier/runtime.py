"""How a batch's logits are computed: PyTorch (float32 or bfloat16), or ONNX Runtime (fp32 or int8).

Tokenization, the embedding-table lookup and everything after the logits are shared, so
the runtimes differ only in the dense part of the encoder and the heads. The ONNX graphs
are exported from the loaded model on first use into a cache (``onnx_export``); the
model directory itself stays the few-MB PyTorch weights.

Which one is the default is decided by ``bench/throughput.py`` (speed) and
``tests/test_runtime.py`` (agreement with float32 PyTorch): bfloat16 on CPUs with native
support; ONNX Runtime was slower than PyTorch on this encoder and stays opt-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from classifier.encoders.base import TokenBatch
from classifier.errors import ModelLoadError
from classifier.modeling import NeedlensModel
from classifier.settings import Runtime


class LogitsRunner(Protocol):
    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        """(need logits, cause logits) of one token batch."""
        ...


class TorchRunner:
    """PyTorch eager; with ``bfloat16`` the convolutions and matrix products run in bfloat16
    (autocast keeps layer norms, reductions and the heads' outputs in float32)."""

    def __init__(self, model: NeedlensModel, bfloat16: bool = False) -> None:
        self.model = model
        self.bfloat16 = bfloat16
        # bfloat16 copies of the dense layers' weights, made once: autocast would otherwise
        # re-cast every weight on every call, which costs more than a one-text forward pass
        self.dense_bf16 = {
            f"{module_name}.{name}".lstrip("."): tensor.detach().to(torch.bfloat16)
            for module_name, module in model.named_modules()
            if bfloat16 and isinstance(module, nn.Linear | nn.Conv1d)
            for name, tensor in module.named_parameters(recurse=False)
        }

    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            if self.bfloat16:
                needs, cause = functional_call(self.model, self.dense_bf16, (batch.input_ids, batch.attention_mask))
            else:
                needs, cause = self.model(batch.input_ids, batch.attention_mask)
        return needs.float().numpy(), cause.float().numpy()


def cpu_has_native_bfloat16() -> bool:
    """AVX512-BF16 or AMX: without them bfloat16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_runtime(runtime: Runtime) -> Runtime:
    if runtime == "auto":
        return "torch-bf16" if cpu_has_native_bfloat16() else "torch"
    return runtime


class OnnxRunner:
    """The dense part in ONNX Runtime; the uint8 table lookup stays in PyTorch (shared, not copied)."""

    def __init__(self, model: NeedlensModel, graph: Path, threads: int) -> None:
        import onnxruntime as ort

        self.encoder = model.encoder
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            emb = self.encoder.embed(batch.input_ids).numpy()  # type: ignore[operator]
        mask = batch.attention_mask.numpy().astype(np.float32)
        needs, cause = self.session.run(None, {"embeddings": emb, "attention_mask": mask})
        return needs, cause


def make_runner(model: NeedlensModel, runtime: Runtime, cache_dir: Path, threads: int) -> LogitsRunner:
    runtime = resolve_runtime(runtime)
    if runtime in ("torch", "torch-bf16"):
        return TorchRunner(model, bfloat16=runtime == "torch-bf16")
    from classifier.onnx_export import onnx_graph

    if not hasattr(model.encoder, "encode_embedded"):
        raise ModelLoadError(
            f"runtime {runtime!r} supports the built-in use-m3 encoder; this model uses {model.config.base_model}"
        )
    return OnnxRunner(model, onnx_graph(model, cache_dir, quantized=runtime == "onnx-int8"), threads)
