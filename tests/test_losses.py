"""The NT-Xent contrastive loss."""
from __future__ import annotations

import math

import pytest
import torch

from asdlib.losses import nt_xent


def nt_xent_loop(a: torch.Tensor, b: torch.Tensor, temperature: float) -> float:
    """The formula of the docstring, one term at a time."""
    z = [v / v.norm() for v in torch.cat([a, b]).double()]
    n = len(a)
    total = 0.0
    for j in range(2 * n):
        pos = (j + n) % (2 * n)
        denom = sum(math.exp(float(z[j] @ z[k]) / temperature) for k in range(2 * n) if k != j)
        total += -math.log(math.exp(float(z[j] @ z[pos]) / temperature) / denom)
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_equals_a_direct_loop_computation(temperature):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert nt_xent(a, b, temperature=temperature).item() == pytest.approx(
        nt_xent_loop(a, b, temperature), rel=1e-5)


def test_does_not_change_when_the_batch_is_permuted():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    perm = torch.randperm(8, generator=g)
    torch.testing.assert_close(nt_xent(a[perm], b[perm]), nt_xent(a, b))


def test_is_lower_when_the_pairs_agree_than_when_they_are_shuffled():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(16, 32, generator=g)
    b = a + 0.1 * torch.randn(16, 32, generator=g)  # each pair nearly equal
    shuffled = b[torch.roll(torch.arange(16), 1)]
    assert nt_xent(a, b) < nt_xent(a, shuffled)


def test_gradients_reach_both_views():
    a = torch.randn(4, 8, requires_grad=True)
    b = torch.randn(4, 8, requires_grad=True)
    nt_xent(a, b).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        nt_xent(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="shape"):
        nt_xent(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(3, 4), torch.randn(3, 4), temperature=0)
