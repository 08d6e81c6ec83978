"""The token-feature cache computes what the eager encoder computes, with whatever weights it has."""

import pytest
import torch

from classifier.encoders.use_m3 import UseM3Encoder
from classifier.encoders.use_m3_cached import ROW_BYTES, DistinctTokenForward, TokenFeatureCache
from tests.classifier.test_encoder_parity import SENTENCES


@pytest.fixture(scope="module")
def tuned_encoder() -> UseM3Encoder:
    """The package encoder with every trainable weight moved, as fine-tuning would: a cache
    that read the package's weights instead of the module's would fail the comparisons."""
    encoder = UseM3Encoder.from_package().eval()
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.add_(0.05 * parameter.std().nan_to_num(0.1) * torch.randn(parameter.shape, generator=generator))
    return encoder


def eager(encoder: UseM3Encoder, texts: list[str]) -> torch.Tensor:
    batch = encoder.tokenize(texts)
    with torch.inference_mode():
        return encoder(batch.input_ids, batch.attention_mask)


def cached(cache: TokenFeatureCache, texts: list[str]) -> torch.Tensor:
    batch = cache.encoder.tokenize(texts)
    return cache(batch.input_ids, batch.attention_mask)


def test_padded_and_unpadded_batches_equal_the_eager_encoder(tuned_encoder):
    cache = TokenFeatureCache(tuned_encoder, max_bytes=64 << 20)
    torch.testing.assert_close(cached(cache, SENTENCES), eager(tuned_encoder, SENTENCES), atol=1e-5, rtol=1e-4)
    same_length = [SENTENCES[1], SENTENCES[1][::-1]]  # one token count, so no padding at all
    torch.testing.assert_close(cached(cache, same_length), eager(tuned_encoder, same_length), atol=1e-5, rtol=1e-4)


def test_a_full_cache_is_emptied_and_stays_within_its_budget(tuned_encoder):
    row_bytes = 4 * (512 + 768 + 10 * 256 + 2)
    cache = TokenFeatureCache(tuned_encoder, max_bytes=60 * row_bytes)  # fewer rows than the sentences' ids
    reference = eager(tuned_encoder, SENTENCES)
    assert torch.unique(tuned_encoder.tokenize(SENTENCES).input_ids).numel() > 60  # so it must be emptied
    for text, expected in zip(SENTENCES, reference, strict=True):
        torch.testing.assert_close(cached(cache, [text])[0], expected, atol=1e-5, rtol=1e-4)
        assert cache.used <= cache.capacity == 60
    # a batch with more distinct ids than the budget still runs: the cache grows to hold it
    torch.testing.assert_close(cached(cache, SENTENCES), reference, atol=1e-5, rtol=1e-4)
    assert cache.used > 60


def test_a_budget_beyond_the_vocabulary_holds_one_row_per_id_and_no_more(tuned_encoder):
    cache = TokenFeatureCache(tuned_encoder, max_bytes=200_000 << 20)  # 200 GB asked: allocated, it failed to start
    assert cache.capacity == tuned_encoder.table.shape[0] + 1


def test_a_pass_holds_its_texts_ids_within_the_token_cache_budget(tuned_encoder, monkeypatch):
    ids = torch.unique(tuned_encoder.tokenize(SENTENCES).input_ids).numel()
    assert tuned_encoder.pass_forward(SENTENCES).capacity == ids + 2  # every id, beside the padding row
    monkeypatch.setenv("NEEDLENS_TOKEN_CACHE_MB", "1")  # ~68 rows: fewer than the sentences' ids
    forward = tuned_encoder.pass_forward(SENTENCES)
    assert forward.capacity == (1 << 20) // ROW_BYTES < ids
    for text, expected in zip(SENTENCES, eager(tuned_encoder, SENTENCES), strict=True):
        torch.testing.assert_close(cached(forward, [text])[0], expected, atol=1e-5, rtol=1e-4)
        assert forward.used <= forward.capacity


def test_bfloat16_convolutions_stay_close(tuned_encoder):
    cache = TokenFeatureCache(tuned_encoder, max_bytes=64 << 20, bfloat16=True)
    cosine = (cached(cache, SENTENCES) * eager(tuned_encoder, SENTENCES)).sum(1)
    assert cosine.min() > 0.999


def test_the_training_cache_computes_the_encoder_and_trains_only_above_the_frozen_layers():
    encoder = UseM3Encoder.from_package()
    frozen = [encoder.proj, encoder.proj_norm, *(branch.conv1 for branch in encoder.branches)]
    before = [p.detach().clone() for module in frozen for p in module.parameters()]
    forward = encoder.freeze_lower_layers(encoder.token_ids(SENTENCES))
    assert all(not p.requires_grad for module in frozen for p in module.parameters())
    batch = encoder.tokenize(SENTENCES)  # padded: the sentences differ in length
    pooled = forward(batch.input_ids, batch.attention_mask)
    torch.testing.assert_close(pooled, eager(encoder, SENTENCES), atol=1e-5, rtol=1e-4)
    assert "second" not in vars(forward)  # it read the live convolutions, never built detached ones

    optimizer = torch.optim.SGD([p for p in encoder.parameters() if p.requires_grad], lr=1.0)
    pooled[:, 0].sum().backward()
    assert encoder.branches[2].conv2.weight.grad.abs().sum() > 0
    assert encoder.pool_proj.weight.grad.abs().sum() > 0 and encoder.feat_norm.weight.grad.abs().sum() > 0
    optimizer.step()
    after = [p for module in frozen for p in module.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    # what it computes next follows the moved weights, as the eager encoder does
    torch.testing.assert_close(
        forward(batch.input_ids, batch.attention_mask).detach(), eager(encoder, SENTENCES), atol=1e-5, rtol=1e-4
    )


def test_the_training_cache_stays_float32_inside_a_bfloat16_training_step():
    encoder = UseM3Encoder.from_package()
    forward = encoder.freeze_lower_layers(encoder.token_ids(SENTENCES))
    batch = encoder.tokenize(SENTENCES)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pooled = forward(batch.input_ids, batch.attention_mask)
    assert pooled.dtype == torch.float32
    torch.testing.assert_close(pooled.detach(), eager(encoder, SENTENCES), atol=1e-5, rtol=1e-4)


def test_without_token_ids_the_lower_layers_freeze_and_the_encoder_runs_them_itself():
    encoder = UseM3Encoder.from_package()
    assert encoder.freeze_lower_layers(None) is encoder  # the path for a GPU, where no CPU cache is built
    assert not encoder.proj.weight.requires_grad and not encoder.branches[0].conv1.weight.requires_grad
    assert encoder.branches[0].conv2.weight.requires_grad and encoder.pool_proj.weight.requires_grad


@pytest.mark.parametrize("texts", [SENTENCES, [SENTENCES[1], SENTENCES[1][::-1]]], ids=["padded", "one length"])
def test_the_distinct_token_forward_equals_the_eager_encoder_and_so_do_its_gradients(tuned_encoder, texts):
    """Every weight, the lower layers' included, gets the gradient the eager encoder gives it."""
    batch = tuned_encoder.tokenize(texts)
    assert bool(batch.attention_mask.all()) == (texts is not SENTENCES)
    # ids recur, so rows are summed into several positions (and their gradients gathered back)
    assert torch.unique(batch.input_ids[batch.attention_mask.bool()]).numel() < int(batch.attention_mask.sum())
    direction = torch.randn(len(texts), tuned_encoder.dim, generator=torch.Generator().manual_seed(3))

    def gradients(forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tuned_encoder.zero_grad(set_to_none=True)
        pooled = forward(batch.input_ids, batch.attention_mask)
        (pooled * direction).sum().backward()
        return pooled.detach(), {n: p.grad for n, p in tuned_encoder.named_parameters() if p.grad is not None}

    eager_out, eager_grads = gradients(tuned_encoder)
    distinct_out, distinct_grads = gradients(DistinctTokenForward(tuned_encoder))
    torch.testing.assert_close(distinct_out, eager_out, atol=1e-5, rtol=1e-4)
    assert distinct_grads.keys() == eager_grads.keys() == {n for n, _ in tuned_encoder.named_parameters()}
    tuned_encoder.zero_grad(set_to_none=True)
    for name, grad in eager_grads.items():
        scale = grad.abs().max().item()
        torch.testing.assert_close(distinct_grads[name], grad, atol=1e-4 * scale, rtol=0, msg=name)


def test_the_distinct_token_forward_refuses_autocast():
    encoder = UseM3Encoder.from_package()
    batch = encoder.tokenize(SENTENCES)
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(RuntimeError, match="outside autocast"):
        DistinctTokenForward(encoder)(batch.input_ids, batch.attention_mask)
