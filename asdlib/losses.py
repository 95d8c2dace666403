"""Loss functions of the contrastive framework.

:func:`nt_xent` is the contrastive term; the framework's total loss
(:func:`asdlib.training.train` with ``model="contrastive"``) is::

    L = MSE(reconstruction, chunk) + CE(section logits, section) + cl_weight * nt_xent(p, u)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(a: torch.Tensor, b: torch.Tensor, *, temperature: float = 0.07,
            normalize: bool = True) -> torch.Tensor:
    r"""NT-Xent (normalised temperature-scaled cross-entropy) between two views of a batch.

    ``a[i]`` and ``b[i]`` are two views of sample ``i`` (here its AE and its
    CNN projection).  With the 2N vectors :math:`z = (a_1 .. a_N, b_1 .. b_N)`
    L2-normalised and :math:`s_{jk} = z_j \cdot z_k / \tau`, each vector's
    positive is the other view of its sample, :math:`p(j) = j \pm N`, and every
    other vector of the batch is a negative:

    .. math::

        \ell_j = -\log \frac{\exp(s_{j,p(j)})}{\sum_{k \ne j} \exp(s_{jk})},
        \qquad L = \frac{1}{2N} \sum_{j=1}^{2N} \ell_j

    (SimCLR's loss; SupCon's without labels).  A model that has learned
    nothing gives every other vector the same similarity: the loss is then
    :math:`\log(2N - 1)` (4.13 for a batch of 32), its chance level.

    Parameters
    ----------
    a, b : shape=(N, d), N >= 2
    temperature : :math:`\tau`; 0.07 is SupCon's default (the paper does not state its value).
    normalize : L2-normalise the vectors first (SimCLR, the project's
        compact recipe).  The authors' code calls SupCon's loss on the
        projection head's outputs as they are (``normalize=False``): the
        similarities are then unbounded dot products.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"two views of shape (N, d) expected, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2:
        raise ValueError("NT-Xent needs at least two samples in the batch (one has no negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = len(a)
    z = torch.cat([a, b])
    if normalize:
        z = F.normalize(z, dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
    first = torch.arange(n, device=sim.device)  # made on the device: no copy inside a CUDA graph
    positive = torch.cat([first + n, first])
    return F.cross_entropy(sim, positive)


def nt_xent_chance(batch_size: int) -> float:
    """The NT-Xent of a batch of ``batch_size`` pairs whose similarities are all equal: ``log(2N - 1)``."""
    return float(torch.log(torch.tensor(2.0 * batch_size - 1.0)))
