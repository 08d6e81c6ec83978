"""Length batching: every text once, batches capped, texts of similar length together."""

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


def test_batches_cover_every_text_once_in_length_order():
    texts = ["a" * 3] * 20 + ["b" * 9] + ["c" * 5] * 10 + ["d" * 4] * 3
    batches = list(length_batches(CharEncoder(), texts, batch_size=8))
    seen = sorted(int(i) for idx, _ in batches for i in idx)
    assert seen == list(range(len(texts)))
    assert [len(idx) for idx, _ in batches] == [8, 8, 8, 8, 2]
    assert [len(texts[i]) for idx, _ in batches for i in idx] == sorted(map(len, texts))
    # twenty 3s, three 4s, ten 5s, one 9: a batch pads only where the lengths meet
    assert [b.attention_mask.shape[1] for _, b in batches] == [3, 3, 5, 5, 9]


def test_a_token_budget_keeps_long_texts_in_smaller_batches():
    texts = ["a" * 2] * 10 + ["b" * 10] * 5 + ["c" * 40]
    batches = list(length_batches(CharEncoder(), texts, batch_size=8, max_tokens=20))
    assert [len(idx) for idx, _ in batches] == [8, 2, 2, 2, 1, 1]
    assert all(b.input_ids.numel() <= 20 for _, b in batches[:-1])
    assert batches[-1][1].input_ids.shape == (1, 40)  # over the budget alone: a batch of its own
