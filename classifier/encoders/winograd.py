"""USE-m3's second n-gram convolutions in float32 with fewer multiplications (Winograd's minimal filtering).

A convolution of ``order`` taps gives ``tile`` consecutive outputs from ``tile + order - 1``
inputs. Done directly that is ``tile * order`` channel-mixing matrix products; Winograd's
algorithm F(tile, order) needs only ``tile + order - 1`` of them, on fixed linear mixes of the
inputs, whose results another fixed mix turns into the outputs. With tiles of 4 the three
branches (orders 2, 3 and 5) need 4.75 products per output token instead of 10. The mixes are
cheap (a few additions per channel); the products are where a CPU without bfloat16 spends
most of the encoder's time. The result equals the direct convolution up to float32 rounding
(``tests/classifier/test_winograd.py``).

The matrices come from the Toom-Cook construction: a linear convolution is the product of
two polynomials, computed from their values at ``tile + order - 1`` points (here 0, ±1, ±2,
±1/2 and infinity) and interpolated back; the correlation a convolution layer computes is
that map transposed. They are computed exactly, in fractions, once per shape.

Texts are laid end to end, each with its zero edges, and tiled as one sequence: a tile that
straddles two texts computes outputs that are thrown away, and every output kept saw exactly
its own window, so no text is padded to a multiple of the tile.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import sympy

POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))
"""Finite evaluation points, in the order they are taken (1 always among them: the bias enters
there); infinity is always the last point. Points beyond these (±3) were measured to cost float32
precision: tiles of 8 gave 5e-5 where the direct convolution's rounding is 4e-6."""


def _evaluation(points: Sequence[Fraction], terms: int) -> sympy.Matrix:
    """Rows that evaluate a polynomial of ``terms`` coefficients at ``points`` and at infinity
    (its leading coefficient)."""
    import sympy  # a dependency of torch; imported here, so only building a first convolution pays its 0.3 s

    rows = [[sympy.Rational(point) ** power for power in range(terms)] for point in points]
    return sympy.Matrix([*rows, [0] * (terms - 1) + [1]])


@cache
def winograd_matrices(tile: int, order: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output mix (tile, points), kernel mix (points, order), input mix (points, points)) of
    F(tile, order), in float64: the outputs are ``output @ ((kernel @ g) * (input @ d))`` for
    taps ``g`` and the ``tile + order - 1`` inputs ``d``."""
    points = tile + order - 1
    if points - 1 > len(POINTS):
        raise ValueError(f"F({tile}, {order}) needs {points - 1} finite points; {len(POINTS)} are defined")
    finite = POINTS[: points - 1]
    # a linear convolution of a tile-long and an order-long sequence, as Toom-Cook computes it:
    # evaluate both, multiply point by point, interpolate; the correlation is its transpose
    interpolate = _evaluation(finite, points).inv()  # exact, in rationals

    def tensor(matrix: sympy.Matrix) -> torch.Tensor:
        return torch.tensor([[float(value) for value in row] for row in matrix.tolist()], dtype=torch.float64)

    return tensor(_evaluation(finite, tile).T), tensor(_evaluation(finite, order)), tensor(interpolate.T)


class WinogradConvolution:
    """One second convolution, (out, in, order) kernel and bias, applied as F(tile, order).

    Built from the live weights (training) it is differentiable: the kernel mix is part of the
    graph, so gradients reach the convolution's own weight and bias."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, tile: int = 4) -> None:
        order = weight.shape[2]
        if not 2 <= order <= tile + 1:
            raise ValueError(f"F({tile}, {order}): a window must fit in two tiles and hold two taps")
        output, kernel, inputs = winograd_matrices(tile, order)
        self.tile, self.order, self.points = tile, order, tile + order - 1
        self.output_mix, self.input_mix = output.to(weight), inputs.to(weight)  # its dtype and device
        # (points, in, out): the taps mixed per point, transposed for rows-times-kernel products
        self.kernel = torch.einsum("pk,oik->pio", kernel.to(weight), weight)
        self.bias = bias

    def __call__(self, h: torch.Tensor, left: int) -> torch.Tensor:
        """The convolution of ``h`` (batch, time, in), zero outside it as the layer pads, with
        ``left`` tokens of left context: (batch, time, out), before the relu."""
        batch, time, channels = h.shape
        width = time + self.order - 1  # one text with its zero edges
        tiles = -(-batch * width // self.tile)
        # the texts end to end, each between its zero edges, then zeros to fill the last tile and
        # one more, which the last tile's window reaches into (order - 1 <= tile)
        line = torch.empty((tiles + 1) * self.tile, channels, dtype=h.dtype, device=h.device)
        texts = line[: batch * width].view(batch, width, channels)
        texts[:, :left].zero_()
        texts[:, left + time :].zero_()
        line[batch * width :].zero_()
        texts[:, left : left + time].copy_(h)
        # (tile + order - 1 window positions, tiles, in): a window is its tile's block and the first
        # order - 1 rows of the next one, taken as two slices of the blocks, whose backward pass is
        # cheap (unfold's was 5% of a training step)
        blocks = line.view(tiles + 1, self.tile, channels).transpose(0, 1)
        windows = torch.cat([blocks[:, :-1], blocks[: self.order - 1, 1:]])
        mixed = (self.input_mix @ windows.view(self.points, -1)).view(self.points, tiles, channels)
        products = torch.bmm(mixed, self.kernel)  # (points, tiles, out)
        # the bias enters at the point 1, whose output mix is 1 for every output of a tile
        products[1] += self.bias
        outputs = (self.output_mix @ products.view(self.points, -1)).view(self.tile, tiles, -1)
        ordered = outputs.transpose(0, 1).reshape(tiles * self.tile, -1)  # back in sequence order
        return ordered[: batch * width].view(batch, width, -1)[:, :time]
