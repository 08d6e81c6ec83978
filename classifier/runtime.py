"""How a batch's logits are computed: PyTorch (eager, or through a token-feature cache), or ONNX Runtime.

Tokenization and everything after the logits are shared, so the runtimes differ only in
how the encoder and the heads are computed. The ONNX graphs are exported from the loaded
model on first use into a cache (``onnx_export``); the model directory itself stays the
few-MB PyTorch weights.

Which one is the default is decided by ``bench/throughput.py`` (speed) and
``tests/test_runtime.py`` (agreement with eager float32): the token-feature cache, with its
second convolutions in bfloat16 on CPUs with native support. ONNX Runtime was slower than
PyTorch on this encoder, and int8 failed the agreement rule; both stay opt-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from classifier.encoders.base import TokenBatch
from classifier.encoders.use_m3 import UseM3Encoder
from classifier.encoders.use_m3_cached import TokenFeatureCache
from classifier.errors import ModelLoadError
from classifier.modeling import NeedlensModel
from classifier.settings import Runtime, Settings


class LogitsRunner(Protocol):
    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        """(need logits, cause logits) of one token batch."""
        ...


class TorchRunner:
    """PyTorch: eager float32 (the reference every other runtime is compared with), eager under
    bfloat16 autocast, or the heads over another forward of the encoder: the use-m3 token-feature
    cache (``encoders.use_m3_cached``) or what ``TextEncoder.pass_forward`` gives."""

    def __init__(
        self,
        model: NeedlensModel,
        encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        bfloat16: bool = False,
    ) -> None:
        self.model = model
        self.encode = encode or model.encoder
        self.bfloat16 = bfloat16

    def __call__(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        device = next(self.model.parameters()).device  # a GPU while training scores its epochs
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            pooled = self.encode(batch.input_ids.to(device), batch.attention_mask.to(device))
            needs, cause = self.model.heads(pooled)
        return needs.float().cpu().numpy(), cause.float().cpu().numpy()


def float32_runner(model: NeedlensModel, texts: Sequence[str]) -> LogitsRunner:
    """Eager float32's logits of ``texts``, sooner, for a model whose weights change between passes:
    training scores every epoch and fits calibration on the validation split this way. Each call
    takes the encoder's forward for one pass (``TextEncoder.pass_forward``): for use-m3 on the CPU a
    token-feature cache built from the weights as they are now, equal to eager float32 up to rounding
    (``tests/classifier/test_runtime.py``); eager on a GPU and for other encoders."""
    return TorchRunner(model, model.encoder.pass_forward(texts))


def cpu_has_native_bfloat16() -> bool:
    """AVX512-BF16 or AMX: without them bfloat16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_runtime(runtime: Runtime, model: NeedlensModel) -> Runtime:
    """``auto``: the token-feature cache for the use-m3 encoder, eager for any other encoder;
    in bfloat16 where the CPU has it natively (both meet the agreement rule, tests/classifier/test_runtime.py)."""
    if runtime != "auto":
        return runtime
    native = cpu_has_native_bfloat16()
    if not isinstance(model.encoder, UseM3Encoder):
        return "torch-bf16" if native else "torch"
    return "torch-cached-bf16" if native else "torch-cached"


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


def make_runner(model: NeedlensModel, settings: Settings) -> LogitsRunner:
    runtime = resolve_runtime(settings.runtime, model)
    if runtime in ("torch", "torch-bf16"):
        return TorchRunner(model, bfloat16=runtime == "torch-bf16")
    if not isinstance(model.encoder, UseM3Encoder):
        raise ModelLoadError(
            f"runtime {runtime!r} supports the built-in use-m3 encoder; this model uses {model.config.base_model}"
        )
    if runtime in ("torch-cached", "torch-cached-bf16"):
        cache = TokenFeatureCache(
            model.encoder,
            settings.token_cache_mb << 20,
            bfloat16=runtime == "torch-cached-bf16",
            winograd=settings.winograd_convolutions,
        )
        return TorchRunner(model, cache)
    from classifier.onnx_export import onnx_graph

    graph = onnx_graph(model, settings.cache_dir, quantized=runtime == "onnx-int8")
    return OnnxRunner(model, graph, settings.threads)
