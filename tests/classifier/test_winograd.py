"""Winograd's second convolutions compute what the layer's own convolution computes, gradients too."""

import pytest
import torch
import torch.nn.functional as F

from classifier.encoders.use_m3 import ORDERS, UseM3Encoder
from classifier.encoders.use_m3_cached import DirectConvolution, TokenFeatureCache, second_convolutions
from classifier.encoders.winograd import WinogradConvolution, winograd_matrices
from tests.classifier.test_encoder_parity import SENTENCES

CHANNELS = 16  # the algorithm mixes channels by a plain product: any width checks it


@pytest.mark.parametrize(("tile", "order"), [(t, o) for t in (2, 3, 4) for o in (2, 3, 5) if o <= t + 1])
def test_the_matrices_give_every_output_of_a_tile_exactly(tile, order):
    output, kernel, inputs = winograd_matrices(tile, order)
    generator = torch.Generator().manual_seed(tile * 10 + order)
    taps, window = (
        torch.randn(order, generator=generator, dtype=torch.float64),
        torch.randn(tile + order - 1, generator=generator, dtype=torch.float64),
    )
    expected = torch.stack([(taps * window[i : i + order]).sum() for i in range(tile)])
    torch.testing.assert_close(output @ ((kernel @ taps) * (inputs @ window)), expected, atol=1e-12, rtol=0)


def conv_reference(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, left: int) -> torch.Tensor:
    """The layer's convolution over zero-padded texts, as `_NgramBranch` computes it, in float64."""
    order = weight.shape[2]
    x = F.pad(h.double().transpose(1, 2), (left, order - 1 - left))
    return F.conv1d(x, weight.double(), bias.double()).transpose(1, 2)


@pytest.mark.parametrize(("order", "left"), ORDERS)
@pytest.mark.parametrize(("batch", "time"), [(1, 1), (1, 2), (3, 7), (5, 40), (2, 129)])
def test_it_equals_the_convolution_on_any_batch_shape(order, left, batch, time):
    """Tiles straddle texts and end past the last one; every kept output must see only its own window."""
    generator = torch.Generator().manual_seed(order * 1000 + batch * 100 + time)
    h = torch.randn(batch, time, CHANNELS, generator=generator).relu()
    weight = torch.randn(CHANNELS, CHANNELS, order, generator=generator) / (CHANNELS * order) ** 0.5
    bias = torch.randn(CHANNELS, generator=generator)
    y = WinogradConvolution(weight, bias)(h, left)
    assert y.shape == (batch, time, CHANNELS) and y.dtype == torch.float32
    torch.testing.assert_close(y.double(), conv_reference(h, weight, bias, left), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize(("order", "left"), ORDERS)
def test_gradients_reach_the_input_the_weight_and_the_bias(order, left):
    generator = torch.Generator().manual_seed(order)
    h = torch.randn(3, 9, CHANNELS, generator=generator, requires_grad=True)
    weight = torch.randn(CHANNELS, CHANNELS, order, generator=generator, requires_grad=True)
    bias = torch.randn(CHANNELS, generator=generator, requires_grad=True)
    direction = torch.randn(3, 9, CHANNELS, generator=generator)

    def grads(y: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.autograd.grad((y * direction).sum(), [h, weight, bias]))

    winograd = grads(WinogradConvolution(weight, bias)(h, left))
    reference = grads(conv_reference(h, weight, bias, left).float())
    for name, got, expected in zip(("input", "weight", "bias"), winograd, reference, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4 * expected.abs().max().item(), rtol=0, msg=name)


def test_a_window_longer_than_two_tiles_is_refused():
    with pytest.raises(ValueError, match="F\\(2, 5\\)"):
        WinogradConvolution(torch.zeros(4, 4, 5), torch.zeros(4), tile=2)


def test_the_cache_takes_winograd_in_float32_only_and_both_ways_agree():
    encoder = UseM3Encoder.from_package().eval()
    kinds = {
        (bfloat16, winograd): {type(c) for c in TokenFeatureCache(encoder, 64 << 20, bfloat16, winograd).second}
        for bfloat16 in (False, True)
        for winograd in (False, True)
    }
    assert kinds == {
        (False, True): {WinogradConvolution},
        (False, False): {DirectConvolution},
        (True, True): {DirectConvolution},  # native bfloat16 convolutions beat fewer float32 products
        (True, False): {DirectConvolution},
    }
    batch = encoder.tokenize(SENTENCES)
    direct, winograd = (TokenFeatureCache(encoder, 64 << 20, winograd=w) for w in (False, True))
    torch.testing.assert_close(
        winograd(batch.input_ids, batch.attention_mask),
        direct(batch.input_ids, batch.attention_mask),
        atol=1e-5,
        rtol=1e-4,
    )


def test_live_convolutions_follow_the_weights_as_they_train():
    """Built per forward from the live weights, so a step's update is in the next forward."""
    encoder = UseM3Encoder.from_package()
    h = torch.randn(2, 5, 256)
    before = second_convolutions(encoder, winograd=True)[2](h, 2)
    with torch.no_grad():
        encoder.branches[2].conv2.bias.add_(1.0)
    after = second_convolutions(encoder, winograd=True)[2](h, 2)
    torch.testing.assert_close(after - before, torch.ones_like(before), atol=1e-4, rtol=0)
    assert after.requires_grad  # the live weights' graph, for the step's backward pass
