"""The networks of the official DCASE 2021 Task 2 baselines, in PyTorch.

* :class:`AutoEncoder`: the dense autoencoder of the official AE baseline,
  640 -> 128 x 4 -> 8 -> 128 x 4 -> 640, BatchNorm and ReLU after every layer
  but the last; 267,928 trainable parameters.
* :class:`MobileNetV2`: the official MobileNetV2 baseline, torchvision's
  ``mobilenet_v2(width_mult=0.5)`` with one output per section; 691,523
  trainable parameters for 3 sections, the count of Keras'
  ``MobileNetV2(alpha=0.5, classes=3)``.  Its arguments also make the
  authors' CNN (``../shared/method.md`` section 6): width 1.0, one input
  channel, dropout 0.5 before the classifier, Xavier initialisation,
  PyTorch's batch-norm defaults; 2,227,139 parameters for 3 sections.
* :class:`ContrastiveASD`: the paper's framework in training (an AE and
  the CNN on the same chunk, tied by a contrastive loss).

MobileNetV2's ReLU6 works in place only where no gradient is recorded
(:class:`ReLU6`): under autograd an in-place ReLU6 copies its input first,
so out of place is the same numbers for one pass less over the largest
activations (a few per cent of a training step on the CPU), while scoring keeps the
memory of the in-place one.

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

oneDNN, on the CPU, computes the weight gradient of a depthwise convolution
whose input is lower than its kernel (the last blocks' 2 x 4 maps of a 64 x
128 patch) 20 to 50 times slower than its forward; with
``ASDLIB_DEPTHWISE_PAD=1`` such layers train with their height padding made
explicit (:class:`DepthwiseConv2d`), faster, in other last bits.
"""
from __future__ import annotations

import os

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


class ReLU6(nn.ReLU6):
    """ReLU6 in place only when no gradient is recorded (the same numbers either way)."""

    def __init__(self):
        super().__init__(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(x, 0.0, 6.0, inplace=not (torch.is_grad_enabled() and x.requires_grad))


#: ``1`` turns :class:`DepthwiseConv2d`'s explicit padding on (off by default: it changes the CPU's
#: weights in their last bits; ``bench/depthwise.py`` compares the two paths).
DEPTHWISE_PAD = "ASDLIB_DEPTHWISE_PAD"


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution whose weight gradient on the CPU stays off oneDNN's slow path.

    oneDNN, which runs PyTorch's convolutions on the CPU, computes the
    weight gradient of a depthwise 3 x 3 convolution 20 to 50 times slower
    than its forward when the input is lower than the kernel (measured on
    the project's 2-core machine for inputs 1 and 2 high; 3 and more run at
    the forward's speed): MobileNetV2's last three depthwise layers see 2 x 4
    maps of a 64 x 128 patch, and took about a seventh of a training step.
    With ``ASDLIB_DEPTHWISE_PAD=1``, in training on the CPU such an input
    gets its height padding as zero rows (``F.pad``), then the convolution
    runs without height padding: the same products and the same output, the
    weight gradient summed in another order (float32 rounding: about 2e-7
    relative), training steps 1.1-1.2x faster.  It is off by default, as the
    CPU's results are kept to the bit (a last-bit change of every step
    moves a trained network's weights well beyond it; ``bench/gpu.py``'s
    results section measures what it does to the scores).  Elsewhere
    (scoring, the GPU, inputs at least as high as the kernel) it is
    ``nn.Conv2d`` whatever the switch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.padding if isinstance(self.padding, tuple) else (0, 0)
        low = pad_h > 0 and self.padding_mode == "zeros" and x.shape[-2] < self.kernel_size[0]
        if (low and x.device.type == "cpu" and torch.is_grad_enabled() and self.weight.requires_grad
                and os.environ.get(DEPTHWISE_PAD, "0").strip().lower() in ("1", "true", "yes", "on")):
            return F.conv2d(F.pad(x, (0, 0, pad_h, pad_h)), self.weight, self.bias, self.stride,
                            (0, pad_w), self.dilation, self.groups)
        return super().forward(x)

    @classmethod
    def replacing(cls, conv: nn.Conv2d) -> "DepthwiseConv2d":
        """The same layer, sharing ``conv``'s parameters (made without drawing initial weights, so
        that the random numbers of the layers initialised after it stay the same)."""
        new = torch.nn.utils.skip_init(cls, conv.in_channels, conv.out_channels, conv.kernel_size,
                                       conv.stride, conv.padding, conv.dilation, conv.groups,
                                       conv.bias is not None, conv.padding_mode)
        new.weight, new.bias = conv.weight, conv.bias
        return new


def _channels_last(weight: torch.Tensor) -> bool:
    """Whether a convolution's weight is stored channels-last; False inside ``torch.func.vmap``,
    which cannot tell for stacked weights (several networks trained as one, ``bench/gpu.py``)."""
    try:
        return weight.is_contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # vmap: "NYI: querying is_contiguous inside of vmap for memory_format ..."
        return False


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
                 bn_momentum: float = 0.01, bn_eps: float = KERAS_BN_EPS):
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
        _set_batchnorm(self, momentum=bn_momentum, eps=bn_eps)

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
    width_mult : 0.5 (the official baseline) or 1.0 (the authors' CNN).
    pooling : ``"avg"``, global average pooling of the last feature map (the
        official baseline); ``"meanmax"``, the mean over frequency then mean
        plus max over time (the authors' CNN, the contrastive framework's CNN view).
    in_channels : 3, the official network's RGB input with the log-mel
        repeated (computed as one channel with the first kernel summed over
        its 3 input channels), or 1, the authors' one-channel first layer.
    dropout : before the classifier (0 in Keras' top, 0.5 in the authors' CNN).
    init : ``"torchvision"`` (Kaiming-normal convolutions, N(0, 0.01)
        linear) or ``"xavier"`` (the authors': Xavier-uniform convolutions,
        N(0, 0.01) linear layers, zero biases).
    bn_momentum, bn_eps : the batch normalisations' (torch convention).
    """

    def __init__(self, n_sections: int, *, width_mult: float = 0.5, pooling: str = "avg",
                 bn_momentum: float = 0.001, bn_eps: float = KERAS_BN_EPS, in_channels: int = 3,
                 dropout: float = 0.0, init: str = "torchvision"):
        super().__init__()
        if n_sections < 1:
            raise ValueError(f"a section classifier needs at least one section, got {n_sections}")
        if pooling not in ("avg", "meanmax"):
            raise ValueError(f"pooling must be 'avg' or 'meanmax', got {pooling!r}")
        if in_channels not in (1, 3) or init not in ("torchvision", "xavier"):
            raise ValueError(f"in_channels must be 1 or 3 and init 'torchvision' or 'xavier', got "
                             f"{in_channels} and {init!r}")
        net = mobilenet_v2(weights=None, width_mult=width_mult, num_classes=n_sections)
        self.features = net.features
        for parent in self.features.modules():
            for name, child in parent.named_children():
                if isinstance(child, nn.ReLU6):
                    setattr(parent, name, ReLU6())
                elif (isinstance(child, nn.Conv2d) and child.groups > 1
                      and child.groups == child.in_channels == child.out_channels):
                    setattr(parent, name, DepthwiseConv2d.replacing(child))
        if in_channels == 1:
            first = self.features[0][0]
            self.features[0][0] = nn.Conv2d(1, first.out_channels, first.kernel_size, first.stride,
                                            first.padding, bias=False)
            nn.init.kaiming_normal_(self.features[0][0].weight, mode="fan_out")
        self.classifier = net.classifier[-1]  # dropout, when there is some, is applied in classify()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.n_sections, self.pooling = n_sections, pooling
        self.embedding_dim = self.classifier.in_features  # 1280
        if init == "xavier":
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_uniform_(m.weight)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        _set_batchnorm(self, momentum=bn_momentum, eps=bn_eps)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """The first convolution on one channel (a 3-channel kernel summed over its input channels)."""
        conv = self.features[0][0]
        return F.conv2d(x, conv.weight.sum(dim=1, keepdim=True), conv.bias, conv.stride,
                        conv.padding, conv.dilation, conv.groups)

    def feature_map(self, patches: torch.Tensor) -> torch.Tensor:
        """The last feature map, shape=(batch, 1280, frames / 32, n_mels / 32)."""
        x = patches.unsqueeze(1)
        if _channels_last(self.features[0][0].weight):
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

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """Section logits of embeddings (dropout first, in training), shape=(batch, n_sections)."""
        return self.classifier(self.dropout(embedding))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Section logits, shape=(batch, n_sections)."""
        return self.classify(self.embed(patches))


class ContrastiveASD(nn.Module):
    """The contrastive framework: an AE view and a CNN view of one chunk, for training only.

    The AE branch is the baseline autoencoder on the flattened chunk
    (``frames x n_mels`` inputs, 8,192 for 64 x 128), its 8-unit bottleneck
    the AE view p; the CNN branch is a :class:`MobileNetV2` section
    classifier (built from ``cnn``, its keyword arguments), its pooled
    1,280-value embedding the CNN view u.  Both views are L2-normalised,
    mapped to ``proj_dim`` by their own linear map and passed through one
    shared projection head (``proj_dim -> proj_dim``, ReLU, ``proj_dim ->
    proj_dim``).  At inference only :attr:`cnn` is used: the AE, the maps and
    the head add no parameter to the deployed network.

    ``decode_normalized``: the AE decodes the normalised bottleneck, and
    ``classify_normalized``: the classifier reads the normalised embedding
    (both as in the authors' code; the project's compact recipe feeds both
    un-normalised, as each network does on its own).
    """

    def __init__(self, n_sections: int, *, frames: int = 64, n_mels: int = 128, proj_dim: int = 256,
                 bn_momentum: float = 0.1, bn_eps: float = KERAS_BN_EPS, decode_normalized: bool = False,
                 classify_normalized: bool = False, **cnn):
        super().__init__()
        self.frames, self.n_mels = frames, n_mels
        self.decode_normalized, self.classify_normalized = decode_normalized, classify_normalized
        self.ae = AutoEncoder(frames * n_mels, bn_momentum=bn_momentum, bn_eps=bn_eps)
        self.cnn = MobileNetV2(n_sections, bn_momentum=bn_momentum, bn_eps=bn_eps, **{"pooling": "meanmax", **cnn})
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
        code_n, embedding_n = F.normalize(code, dim=1), F.normalize(embedding, dim=1)
        p = self.head(self.map_ae(code_n))
        u = self.head(self.map_cnn(embedding_n))
        recon = self.ae.decoder(code_n if self.decode_normalized else code)
        logits = self.cnn.classify(embedding_n if self.classify_normalized else embedding)
        return recon, logits, p, u
