"""Length batching: every text once, batches capped, lengths kept apart once a batch is big enough."""

import torch

from classifier.encoders.base import TextEncoder, TokenBatch, length_batches


class CharEncoder(TextEncoder):
    """One token per character: enough to see how texts are grouped."""

    dim = 1

    def token_ids(self, texts):
        return [[ord(c) for c in t] for t in texts]

    def collate(self, ids):
        width = max(map(len, ids))
        mask = torch.tensor([[1] * len(seq) + [0] * (width - len(seq)) for seq in ids])
        return TokenBatch(mask.clone(), mask, [False] * len(ids))


def test_batches_cover_every_text_once_and_split_where_the_length_changes():
    texts = ["a" * 3] * 20 + ["b" * 4] * 3 + ["c" * 5] * 10 + ["d" * 9]
    batches = list(length_batches(CharEncoder(), texts, batch_size=8, min_exact=4))
    seen = sorted(int(i) for idx, _ in batches for i in idx)
    assert seen == list(range(len(texts)))
    assert all(len(idx) <= 8 for idx, _ in batches)
    lengths = [sorted({len(texts[i]) for i in idx}) for idx, _ in batches]
    # twenty 3s fill 8 + 8 + 4; the three 4s take one 5 to reach min_exact; a lone 9 joins the last 5
    assert lengths == [[3], [3], [3], [4, 5], [5], [5, 9]]
    unpadded = [bool(b.attention_mask.all()) for _, b in batches]
    assert unpadded == [True, True, True, False, True, False]
