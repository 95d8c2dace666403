"""One frozen configuration of a system, shared by the library, the notebooks and the command line.

:class:`TrainConfig` holds every choice that decides what a training run
produces and how its clips are scored; its defaults are the official AE
baseline's where one exists.  The recipes built from it (the official
baselines, the authors' code, the project's compact reconstruction) and the
named settings are in :mod:`asdlib.recipes`.

A checkpoint stores its configuration and is refused by a run with another
one (:mod:`asdlib.checkpoint`); the fields that only change how clips are
scored (:data:`SCORING_FIELDS`) may differ.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import ConfigError
from .features import FeatureConfig

MODELS = ("ae", "mbv2", "contrastive")
SCORES = ("log_odds", "official", "clamped")
POOLINGS = ("avg", "meanmax")
MEDIAN_FILTER = ("off", "both", "test")
SELECT = ("last", "val", "test")
#: How a classifier's clips are scored (:mod:`asdlib.backends`): its own section log-odds, or a
#: distance of the clip's embedding to the training clips' embeddings.
BACKENDS = ("classifier", "knn", "mahalanobis", "gmm")
CHOICES = {"model": MODELS, "score": SCORES, "pooling": POOLINGS, "median_filter": MEDIAN_FILTER,
           "select": SELECT, "lr_step": ("epoch", "iteration"), "val_split": ("clips", "tail"),
           "frontend": ("clip", "chunk"), "init": ("torchvision", "xavier"),
           "mf_mode": ("reflect", "mirror"), "mf_stage": ("logmel", "waveform"), "backend": BACKENDS,
           "knn_metric": ("cosine", "euclidean"), "precision": ("float32", "bfloat16")}
SCORING_FIELDS = ("score", "test_hop", "score_batch", "threshold_hop", "backend", "knn_k", "knn_metric",
                  "per_domain", "gmm_components")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces, and how its clips are scored.

    Attributes
    ----------
    model : ``"ae"`` (the dense autoencoder on 5-frame vectors), ``"mbv2"``
        (the MobileNetV2 section classifier on 64-frame patches) or
        ``"contrastive"`` (the paper's framework: an AE and a MobileNetV2 on
        the same 64-frame chunk, tied by a contrastive loss; only the
        MobileNetV2 is kept for scoring).
    epochs, batch_size, lr : Adam's run; the official values are the
        defaults of :func:`asdlib.recipes.baseline_config`.
    lr_milestones, lr_gamma, lr_step : a step schedule: the learning rate is
        multiplied by ``lr_gamma`` at each milestone, counted in epochs
        (``lr_step="epoch"``) or in optimiser steps (``"iteration"``: the
        authors' code attaches PyTorch's ``MultiStepLR([30, 60, 90], 0.5)``
        to every iteration through ignite, so their rate is 1/8 of 1e-5
        from the 91st step on).  No milestones: a constant rate.
    val_fraction, val_split : the training examples held out for the
        validation curves and for ``select="val"``: ``"clips"``, a seeded
        share of whole clips (the project), or ``"tail"``, the last
        ``val_fraction`` of the examples in file order, as Keras'
        ``validation_split`` takes them (for the official MobileNetV2, the
        end of the last section with its three target-domain clips, which
        the official model therefore never trains on).
    seed : fixes the initial weights, the validation split and the order of
        the batches; a re-run on the CPU gives identical weights and scores.
    frontend : ``"clip"``: examples are windows of each clip's log-mel
        spectrogram, computed once and cached (the official baselines);
        ``"chunk"``: examples are waveform chunks of
        ``n_fft + (patch_frames - 1) * hop_length`` samples (33,280) and the
        log-mel of each chunk is computed in the training and scoring steps
        (the authors' code; :class:`asdlib.features.ChunkLogMel`).
    train_center : with ``frontend="chunk"``: centred frames in training
        (66 frames a chunk: the authors' CNN) or not (64: the training path of
        their contrastive model).  Scoring always uses centred frames, as
        the authors' CNN does on its own.
    ae_frames : frames per AE vector (5: 640 values).
    patch_frames, train_hop : CNN patch length and the hop between training
        patches (64 and 8 frames; with the chunk front end a hop of 8 frames
        is 4,096 samples).
    test_hop : hop between scored patches (1 in the official baseline: every
        frame step; 8 in the authors' code).
    width_mult, in_channels, dropout, init, pooling : the CNN (see
        :class:`asdlib.models.MobileNetV2`): the official network is width
        0.5, three channels, no dropout, average pooling; the authors' width
        1.0, one channel, dropout 0.5, Xavier initialisation, mean + max
        pooling.
    bn_momentum, bn_eps : batch normalisation (torch convention: Keras'
        ``momentum`` is ``1 - bn_momentum``).  The AE keeps Keras' 0.01 and
        1e-3.  Keras' MobileNetV2 uses 0.001, which settles within the first
        epoch of the real data (about 3,000 steps per epoch); on the synthetic
        ``book`` profile (~140 steps per epoch) even 0.01 left the statistics
        of the deep layers behind the weights, so MobileNetV2 uses 0.1
        (PyTorch's default, the authors' too).  The authors use PyTorch's
        epsilon, 1e-5.
    cl_weight : lambda, the weight of the contrastive term (0.0005, the
        authors' value; 0 trains the same networks without it).
    temperature : the contrastive loss's temperature (0.07, SupCon's default
        and the authors').
    proj_dim : width of the two linear maps and the shared projection head (256).
    cl_normalize : L2-normalise the projections inside the contrastive loss
        (NT-Xent as SimCLR; the project's compact recipe) or not (the
        authors call SupCon's loss on the head's raw outputs).
    decode_normalized, classify_normalized : in the framework, the AE decodes
        the normalised bottleneck and the classifier reads the normalised
        embedding during training (the authors' code), or both read the
        un-normalised ones (the compact recipe).
    median_filter : the "+MF" median filter over time on the CNN's log-mel
        input: ``"off"``, ``"both"`` (training and test, the default of a
        +MF run) or ``"test"`` (scoring only).
    mf_kernel, mf_mode : its length in frames (31) and its edge padding,
        named as in ``scipy.ndimage``: ``"reflect"`` (``d c b a | a b c d``,
        the project) or ``"mirror"`` (``d c b | a b c d``: PyTorch's
        ``F.pad(mode="reflect")``, the authors' ``MedianPool2d``).
    mf_ae : in the framework, the AE branch reads the filtered chunk too (the
        authors' training path filters before the two branches part) or the
        unfiltered one (the compact recipe).
    mf_stage : where the framework's training path filters: ``"logmel"``,
        after the front end, as the authors' CNN does; or ``"waveform"``,
        before it, a running median over ``mf_kernel`` samples, as the line
        in the authors' contrastive model reads (which cannot run on their
        two-dimensional waveform batch as published; see the book).
    select : which epoch's weights are kept: ``"last"`` (the official
        baselines), ``"val"`` (lowest validation loss of the classifier) or
        ``"test"`` (highest official score on the development test clips,
        as the authors' code does: it reads the test labels, so its results
        are optimistic).
    track_test : record the official score on the test clips after every
        epoch (reads the labels; used for selection only with ``select="test"``),
        so that both selections can be reported from one run.
    score : the classifier's clip score: ``"log_odds"``, the mean of
        ``log(1 - p) - log(p)`` computed exactly from the logits;
        ``"official"``, the official code's ``log((1 - p) - log(p))``;
        ``"clamped"``, the authors', ``log(max(1 - p, eps)) - log(max(p, eps))``
        with ``p`` the float32 softmax (see :mod:`asdlib.scoring`).
    score_batch : windows per forward pass when scoring; 0 (default): chosen
        by :func:`asdlib.scoring.scoring_batch`, 64 for a classifier on the
        CPU and 256 otherwise.  The scores do not depend on it (measured to
        the bit for these sizes; ``bench/score_batch.py``), the time and the
        memory do: on the 2-core CPU a full-size machine type's clips took
        2.4 minutes and 1.65 GB peak memory at 256, 4.0 minutes and 2.2 GB at
        1,024, and the book's classifiers scored 1.09-1.23 times as fast at
        64 as at 256; a GPU may want more.
    threshold_hop : the hop of the patches whose training-clip scores the
        decision threshold is fitted to (0: ``test_hop``, the project; the
        official MobileNetV2 code fits it to its training patches, every 8
        frames).
    backend : how a classifier's clips are scored (:mod:`asdlib.backends`):
        ``"classifier"``, its own section log-odds (``score``; the poster and
        the official baseline); or, fitted on the training clips' embeddings
        (the mean over a clip's patches of the 1,280 pooled values) of the
        clip's section, ``"knn"`` (mean distance to the ``knn_k`` nearest,
        ``knn_metric`` ``"cosine"`` or ``"euclidean"``), ``"mahalanobis"``
        (Ledoit-Wolf shrunk covariance) or ``"gmm"`` (negative log-likelihood
        under a diagonal Gaussian mixture of ``gmm_components``).
        ``per_domain``: the Mahalanobis and mixture models are fitted per
        section and domain, and a clip's score is the smaller of its two
        domains' (the DCASE 2023 baseline's "selective Mahalanobis").
    spec_time_masks, spec_time_width, spec_freq_masks, spec_freq_width :
        SpecAugment-style masking of the classifier's training patches
        (:mod:`asdlib.augment`): that many bands of up to that many frames
        (mel bins) each, set to the patch's mean; 0 masks: off (default).
    mixup_alpha : mixup of the training patches (chunks, in the framework)
        with mixed section targets, the weight drawn from Beta(alpha, alpha);
        0: off (default).
    precision : ``"float32"`` (default) or ``"bfloat16"``: the training
        steps' forward and backward passes under bfloat16 autocast, the CNN
        in channels-last layout (for GPUs: on an H200 a MobileNetV2 step at
        batch 1,024 ran 2.4 times as fast; ``bench/gpu.py`` measures its rate
        and its effect on the scores).  The weights, Adam and scoring stay
        float32.
    features : the log-mel parameters.
    """

    model: str = "ae"
    epochs: int = 100
    batch_size: int = 512
    lr: float = 1e-3
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.5
    lr_step: str = "epoch"
    val_fraction: float = 0.1
    val_split: str = "clips"
    seed: int = 0
    frontend: str = "clip"
    train_center: bool = True
    ae_frames: int = 5
    patch_frames: int = 64
    train_hop: int = 8
    test_hop: int = 1
    width_mult: float = 0.5
    in_channels: int = 3
    dropout: float = 0.0
    init: str = "torchvision"
    pooling: str = "avg"
    bn_momentum: float = 0.01
    bn_eps: float = 1e-3
    cl_weight: float = 0.0005
    temperature: float = 0.07
    proj_dim: int = 256
    cl_normalize: bool = True
    decode_normalized: bool = False
    classify_normalized: bool = False
    median_filter: str = "off"
    mf_kernel: int = 31
    mf_mode: str = "reflect"
    mf_ae: bool = False
    mf_stage: str = "logmel"
    select: str = "last"
    track_test: bool = False
    score: str = "log_odds"
    score_batch: int = 0
    threshold_hop: int = 0
    backend: str = "classifier"
    knn_k: int = 1
    knn_metric: str = "cosine"
    per_domain: bool = False
    gmm_components: int = 2
    spec_time_masks: int = 0
    spec_time_width: int = 8
    spec_freq_masks: int = 0
    spec_freq_width: int = 16
    mixup_alpha: float = 0.0
    precision: str = "float32"
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not isinstance(self.lr_milestones, tuple):
            object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))
        if self.model == "ae" and (self.median_filter != "off" or self.select == "test"
                                   or self.frontend != "clip"):
            raise ConfigError("the AE baseline has no median filter, no test-set epoch selection and "
                              "reads the clip front end")
        if self.mf_stage == "waveform" and (self.model != "contrastive" or self.frontend != "chunk"):
            raise ConfigError("mf_stage='waveform' is the contrastive framework's training path on "
                              "waveform chunks (frontend='chunk')")
        if self.cl_weight < 0 or self.temperature <= 0:
            raise ConfigError(f"cl_weight must be >= 0 and temperature > 0, got {self.cl_weight} "
                              f"and {self.temperature}")
        if self.mf_kernel < 1 or self.mf_kernel % 2 == 0:
            raise ConfigError(f"mf_kernel must be an odd number of frames, got {self.mf_kernel}")
        if self.model == "ae" and (self.backend != "classifier" or self.augmented):
            raise ConfigError("the AE baseline scores by its reconstruction error and trains on plain "
                              "vectors: backend, SpecAugment and mixup are for the classifiers (in a grid, "
                              "leave the AE baseline out of `systems`)")
        if min(self.spec_time_masks, self.spec_freq_masks) < 0 or self.mixup_alpha < 0:
            raise ConfigError(f"spec_time_masks, spec_freq_masks and mixup_alpha must be >= 0, got "
                              f"{self.spec_time_masks}, {self.spec_freq_masks} and {self.mixup_alpha}")
        for name in ("epochs", "batch_size", "ae_frames", "patch_frames", "train_hop", "test_hop",
                     "proj_dim", "knn_k", "gmm_components", "spec_time_width", "spec_freq_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.score_batch < 0:
            raise ConfigError(f"score_batch must be >= 0 (0: chosen by the device), got {self.score_batch}")
        if self.threshold_hop < 0:
            raise ConfigError(f"threshold_hop must be >= 0 (0: the test hop), got {self.threshold_hop}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 < self.bn_momentum <= 1.0 or self.bn_eps <= 0:
            raise ConfigError(f"bn_momentum must be in (0, 1] and bn_eps > 0, got {self.bn_momentum} "
                              f"and {self.bn_eps}")
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"lr must be positive and lr_gamma in (0, 1], got {self.lr} and {self.lr_gamma}")
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)) or any(
                not isinstance(m, int) or m < 1 for m in self.lr_milestones):
            raise ConfigError(f"lr_milestones must be increasing positive integers, got {self.lr_milestones}")
        if self.width_mult <= 0 or self.in_channels not in (1, 3) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"width_mult must be > 0, in_channels 1 or 3 and dropout in [0, 1), got "
                              f"{self.width_mult}, {self.in_channels} and {self.dropout}")

    def as_dict(self) -> dict:
        """Plain types only (what a checkpoint stores)."""
        d = asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        d = dict(d)
        if isinstance(d.get("features"), dict):
            d["features"] = FeatureConfig(**d["features"])
        if "lr_milestones" in d:
            d["lr_milestones"] = tuple(d["lr_milestones"])
        return cls(**d)

    def training_dict(self) -> dict:
        """The fields that decide the trained weights (all but :data:`SCORING_FIELDS`)."""
        return {k: v for k, v in self.as_dict().items() if k not in SCORING_FIELDS}

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)

    # -------------------------------------------------------------- derived

    @property
    def augmented(self) -> bool:
        """Whether training batches are augmented (SpecAugment masks or mixup)."""
        return self.spec_time_masks > 0 or self.spec_freq_masks > 0 or self.mixup_alpha > 0

    @property
    def threshold_patch_hop(self) -> int:
        """The hop of the patches whose training-clip scores the decision threshold is fitted to."""
        return self.threshold_hop or self.test_hop

    def learning_rate(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """The learning rate of optimiser step ``step`` (0-based) of epoch ``epoch`` (0-based).

        As PyTorch's ``MultiStepLR`` stepped once per epoch (``lr_step="epoch"``)
        or once per optimiser step (``"iteration"``): ``lr * lr_gamma ** k``,
        ``k`` the number of milestones reached by the epochs (or steps) done.
        """
        done = epoch if self.lr_step == "epoch" else epoch * steps_per_epoch + step
        return self.lr * self.lr_gamma ** sum(done >= m for m in self.lr_milestones)


#: Fields that cannot be overridden for every system: they name the system or the run.
NOT_OVERRIDABLE = ("model", "seed", "features")


def check_overrides(overrides: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Refuse names that are not :class:`TrainConfig` fields and values of another type than the field's.

    What a grid's or a chapter's ``config`` parameter may hold; an int is
    accepted for a float field, a list of integers for ``lr_milestones``.
    The values themselves are checked when the configurations are built
    (:func:`asdlib.recipes.system_configs`).
    """
    defaults = TrainConfig()
    known = [f.name for f in fields(TrainConfig) if f.name not in NOT_OVERRIDABLE]
    problems = []
    for name, value in overrides.items():
        if name in NOT_OVERRIDABLE:
            problems.append(f"{name!r} cannot be overridden here (it names the system or the run)")
        elif name not in known:
            problems.append(f"{name!r} is not a training setting (known: {', '.join(known)})")
        else:
            kind = type(getattr(defaults, name))
            if kind is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            elif kind is tuple:
                ok = isinstance(value, (list, tuple)) and all(type(v) is int for v in value)
            else:
                ok = type(value) is kind
            if not ok:
                want = "a list of integers" if kind is tuple else kind.__name__
                problems.append(f"{name!r} must be {want}, got {type(value).__name__} {value!r}")
    if problems:
        raise ConfigError(f"{where}configuration overrides: " + "; ".join(problems))
    return dict(overrides)
