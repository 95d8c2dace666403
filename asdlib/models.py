"""The networks of the official DCASE 2021 Task 2 baselines, in PyTorch.

* :class:`AutoEncoder`: the dense autoencoder of the official AE baseline,
  640 -> 128 x 4 -> 8 -> 128 x 4 -> 640, BatchNorm and ReLU after every layer
  but the last; 267,928 trainable parameters.
* :class:`MobileNetV2`: the official MobileNetV2 baseline, torchvision's
  ``mobilenet_v2(width_mult=0.5)`` with one output per section; 691,523
  trainable parameters for 3 sections, the count of Keras'
  ``MobileNetV2(alpha=0.5, classes=3)``.

Both keep Keras' batch-normalisation epsilon (1e-3); the momentum of the
running statistics is a parameter (torch convention, ``1 - keras``): Keras
uses 0.99 in the AE and 0.999 in MobileNetV2 (see
:class:`asdlib.config.TrainConfig` for the value the project trains with).  Keras' top of
MobileNetV2 is global average pooling and one dense layer, with no dropout:
torchvision's dropout is left out.

The official MobileNetV2 baseline repeats the single log-mel channel three
times to fill an RGB input.  A convolution of three identical channels
equals a convolution of one channel with the kernels summed over the input
channels, so :class:`MobileNetV2` keeps the three-channel first kernel (the
parameter count and the checkpoint are those of the official network) and
convolves the one log-mel channel with its channel sum: the same output for
a third of the first layer's work and memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

KERAS_BN_EPS = 1e-3


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (what Keras reports as 'Trainable params')."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def reconstruction_error(model: nn.Module, x: torch.Tensor, *, per_value: bool = False) -> torch.Tensor:
    """An autoencoder's squared reconstruction error of a batch of examples.

    ``x``: shape=(n, ...), flattened to ``(n, in_dim)`` first.  Returns the
    mean over each example's values, shape=(n,) (the AE's training loss is
    its mean, a clip's score its mean over the clip's vectors), or with
    ``per_value`` every value's squared error, shape=(n, in_dim).
    """
    flat = x.reshape(len(x), -1)
    err = (model(flat) - flat).square()
    return err if per_value else err.mean(dim=1)


def _set_batchnorm(model: nn.Module, *, momentum: float, eps: float = KERAS_BN_EPS) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum, m.eps = momentum, eps


class AutoEncoder(nn.Module):
    """The official dense autoencoder: ``(..., in_dim)`` -> reconstruction ``(..., in_dim)``.

    Parameters
    ----------
    in_dim : 640 (5 frames x 128 mels) in the AE baseline; 8,192 (a 64 x 128
        chunk) in the contrastive framework's AE branch.
    hidden, bottleneck, depth : 128, 8 and 4 in the official network.
    """

    def __init__(self, in_dim: int = 640, *, hidden: int = 128, bottleneck: int = 8, depth: int = 4,
                 bn_momentum: float = 0.01):
        super().__init__()
        self.in_dim, self.bottleneck = in_dim, bottleneck

        def block(i: int, o: int) -> list[nn.Module]:
            return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]

        enc = block(in_dim, hidden)
        for _ in range(depth - 1):
            enc += block(hidden, hidden)
        enc += block(hidden, bottleneck)
        dec = block(bottleneck, hidden)
        for _ in range(depth - 1):
            dec += block(hidden, hidden)
        dec.append(nn.Linear(hidden, in_dim))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        _set_batchnorm(self, momentum=bn_momentum)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck, shape=(batch, bottleneck)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class MobileNetV2(nn.Module):
    """The official MobileNetV2 section classifier: patches -> section logits.

    Input: log-mel patches of shape=(batch, frames, n_mels), (64, 128) in the
    baseline, read as a one-channel image of height ``frames`` and width
    ``n_mels`` (the Keras input ``(64, 128, 3)`` with the channel repeated).

    Parameters
    ----------
    n_sections : outputs of the classifier (the sections of the machine type).
    pooling : ``"avg"``, global average pooling of the last feature map (the
        official baseline); ``"meanmax"``, the mean over frequency then mean
        plus max over time (the contrastive framework's CNN view).
    """

    def __init__(self, n_sections: int, *, width_mult: float = 0.5, pooling: str = "avg",
                 bn_momentum: float = 0.001):
        super().__init__()
        if n_sections < 1:
            raise ValueError(f"a section classifier needs at least one section, got {n_sections}")
        if pooling not in ("avg", "meanmax"):
            raise ValueError(f"pooling must be 'avg' or 'meanmax', got {pooling!r}")
        net = mobilenet_v2(weights=None, width_mult=width_mult, num_classes=n_sections)
        self.features = net.features
        self.classifier = net.classifier[-1]  # Keras' top has no dropout
        self.n_sections, self.pooling = n_sections, pooling
        self.embedding_dim = self.classifier.in_features  # 1280
        _set_batchnorm(self, momentum=bn_momentum)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """The first convolution on one channel with the kernel summed over its 3 input channels."""
        conv = self.features[0][0]
        return F.conv2d(x, conv.weight.sum(dim=1, keepdim=True), conv.bias, conv.stride,
                        conv.padding, conv.dilation, conv.groups)

    def feature_map(self, patches: torch.Tensor) -> torch.Tensor:
        """The last feature map, shape=(batch, 1280, frames / 32, n_mels / 32)."""
        x = patches.unsqueeze(1)
        if self.features[0][0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        stem = self.features[0]
        x = stem[2](stem[1](self._stem(x)))  # conv, batch norm, ReLU6
        return self.features[1:](x)

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """The pooled embedding fed to the classifier, shape=(batch, 1280)."""
        fmap = self.feature_map(patches)
        if self.pooling == "avg":
            return fmap.mean(dim=(2, 3))
        over_time = fmap.mean(dim=3)  # average over frequency: (batch, 1280, time)
        return over_time.mean(dim=2) + over_time.amax(dim=2)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Section logits, shape=(batch, n_sections)."""
        return self.classifier(self.embed(patches))


class ContrastiveASD(nn.Module):
    """The contrastive framework: an AE view and a CNN view of one chunk, for training only.

    The AE branch is the baseline autoencoder on the flattened chunk
    (``frames x n_mels`` inputs, 8,192 for 64 x 128), its 8-unit bottleneck
    the AE view p; the CNN branch is the MobileNetV2 section classifier, its
    pooled 1,280-value embedding the CNN view u.  Both views are
    L2-normalised, mapped to ``proj_dim`` by their own linear map and passed
    through one shared projection head (``proj_dim -> proj_dim``, ReLU,
    ``proj_dim -> proj_dim``).  At inference only :attr:`cnn` is used: the
    AE, the maps and the head add no parameter to the deployed network.
    """

    def __init__(self, n_sections: int, *, frames: int = 64, n_mels: int = 128, proj_dim: int = 256,
                 pooling: str = "meanmax", bn_momentum: float = 0.1):
        super().__init__()
        self.frames, self.n_mels = frames, n_mels
        self.ae = AutoEncoder(frames * n_mels, bn_momentum=bn_momentum)
        self.cnn = MobileNetV2(n_sections, pooling=pooling, bn_momentum=bn_momentum)
        self.map_ae = nn.Linear(self.ae.bottleneck, proj_dim)
        self.map_cnn = nn.Linear(self.cnn.embedding_dim, proj_dim)
        self.head = nn.Sequential(nn.Linear(proj_dim, proj_dim), nn.ReLU(), nn.Linear(proj_dim, proj_dim))

    def forward(self, chunk: torch.Tensor, cnn_input: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, section logits and the two projections of a batch of chunks.

        Parameters
        ----------
        chunk : shape=(batch, frames, n_mels): the AE's input, and the CNN's
            unless ``cnn_input`` (the median-filtered chunk for "+MF") is given.

        Returns
        -------
        (reconstruction (batch, frames * n_mels), logits (batch, n_sections),
        AE projection (batch, proj_dim), CNN projection (batch, proj_dim))
        """
        flat = chunk.reshape(len(chunk), -1)
        code = self.ae.encode(flat)
        embedding = self.cnn.embed(chunk if cnn_input is None else cnn_input)
        p = self.head(self.map_ae(F.normalize(code, dim=1)))
        u = self.head(self.map_cnn(F.normalize(embedding, dim=1)))
        return self.ae.decoder(code), self.cnn.classifier(embedding), p, u
