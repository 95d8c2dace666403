"""One frozen configuration of a system, shared by the library, the notebooks and the command line.

:func:`baseline_config` gives the official hyper-parameters of each baseline
(``../shared/method.md``, sections 4 and 5); any field can be overridden::

    cfg = baseline_config("mbv2", epochs=5)

A checkpoint stores its configuration and is refused by a run with another
one (:mod:`asdlib.checkpoint`); the fields that only change how test clips
are scored (:data:`SCORING_FIELDS`) may differ.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import ConfigError
from .features import FeatureConfig

MODELS = ("ae", "mbv2", "contrastive")
SCORES = ("log_odds", "official")
POOLINGS = ("avg", "meanmax")
MEDIAN_FILTER = ("off", "both", "test")
SELECT = ("last", "val", "test")
SCORING_FIELDS = ("score", "test_hop", "score_batch")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces.

    Attributes
    ----------
    model : ``"ae"`` (the dense autoencoder on 5-frame vectors), ``"mbv2"``
        (the MobileNetV2 section classifier on 64-frame patches) or
        ``"contrastive"`` (the paper's framework: an AE and a MobileNetV2 on
        the same 64-frame chunk, tied by a contrastive loss; only the
        MobileNetV2 is kept for scoring).
    epochs, batch_size, lr : Adam's schedule; the official values are the
        defaults of :func:`baseline_config`.
    val_fraction : share of the training clips held out for the validation
        curves (whole clips, drawn with ``seed``; Keras' ``validation_split``
        takes the last 10 % of the vectors instead).
    seed : fixes the initial weights, the validation split and the order of
        the batches; a re-run on the CPU gives identical weights and scores.
    ae_frames : frames per AE vector (5: 640 values).
    patch_frames, train_hop : CNN patch length and the hop between training
        patches (64 and 8).
    test_hop : hop between scored patches (1 in the official baseline: every
        frame step; larger is faster and coarser).
    score : MobileNetV2 clip score: ``"log_odds"``, the mean of
        ``log(1 - p) - log(p)``; ``"official"``, the official code's
        ``log((1 - p) - log(p))`` (see :mod:`asdlib.scoring`).
    score_batch : windows per forward pass when scoring.
    bn_momentum : weight of each batch in the batch-norm running statistics
        (torch convention: Keras' ``momentum`` is ``1 - bn_momentum``).
        The AE keeps Keras' 0.01.  Keras' MobileNetV2 uses 0.001, which
        settles within the first epoch of the real data (about 3,000 steps
        per epoch); on the synthetic ``book`` profile (~140 steps per epoch)
        even 0.01 leaves the statistics of the deep layers behind the
        weights, and in eval mode the classifier then gave one class to
        every patch while it was 95 % right in training mode; 0.1
        (PyTorch's default) followed the weights, so MobileNetV2 uses 0.1.
    pooling : MobileNetV2 embedding pooling, ``"avg"`` (the baseline) or
        ``"meanmax"`` (mean over frequency, then mean + max over time: the
        framework's CNN view).
    cl_weight : lambda, the weight of the contrastive term (0.0005, the
        public implementation's value; 0 trains the same networks without it).
    temperature : NT-Xent temperature (not stated by the paper; 0.07 is
        SupCon's default).
    proj_dim : width of the two linear maps and the shared projection head (256).
    median_filter : the "+MF" median filter over time on the CNN's log-mel
        input: ``"off"``, ``"both"`` (training and test, the default of a
        +MF run) or ``"test"`` (scoring only).
    mf_kernel : its length in frames (31; reflect padding).
    select : which epoch's weights are kept: ``"last"`` (the official
        baselines), ``"val"`` (lowest validation loss of the classifier) or
        ``"test"`` (highest official score on the development test clips,
        as the public implementation does: it reads the test labels, so
        its results are optimistic).
    features : the log-mel parameters.
    """

    model: str = "ae"
    epochs: int = 100
    batch_size: int = 512
    lr: float = 1e-3
    val_fraction: float = 0.1
    seed: int = 0
    ae_frames: int = 5
    patch_frames: int = 64
    train_hop: int = 8
    test_hop: int = 1
    score: str = "log_odds"
    score_batch: int = 1024
    bn_momentum: float = 0.01
    pooling: str = "avg"
    cl_weight: float = 0.0005
    temperature: float = 0.07
    proj_dim: int = 256
    median_filter: str = "off"
    mf_kernel: int = 31
    select: str = "last"
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for name, allowed in (("score", SCORES), ("pooling", POOLINGS),
                              ("median_filter", MEDIAN_FILTER), ("select", SELECT)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        if self.model == "ae" and (self.median_filter != "off" or self.select == "test"):
            raise ConfigError("the AE baseline has no median filter and no test-set epoch selection")
        if self.cl_weight < 0 or self.temperature <= 0:
            raise ConfigError(f"cl_weight must be >= 0 and temperature > 0, got {self.cl_weight} "
                             f"and {self.temperature}")
        if self.mf_kernel < 1 or self.mf_kernel % 2 == 0:
            raise ConfigError(f"mf_kernel must be an odd number of frames, got {self.mf_kernel}")
        for name in ("epochs", "batch_size", "ae_frames", "patch_frames", "train_hop", "test_hop",
                     "score_batch", "proj_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ConfigError(f"bn_momentum must be in (0, 1], got {self.bn_momentum}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")

    def as_dict(self) -> dict:
        """Plain types only (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        d = dict(d)
        if isinstance(d.get("features"), dict):
            d["features"] = FeatureConfig(**d["features"])
        return cls(**d)

    def training_dict(self) -> dict:
        """The fields that decide the trained weights (all but :data:`SCORING_FIELDS`)."""
        return {k: v for k, v in self.as_dict().items() if k not in SCORING_FIELDS}

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


#: The official hyper-parameters (method.md sections 4 and 5), and the batch-norm momentum (see above).
OFFICIAL = {
    "ae": dict(model="ae", epochs=100, batch_size=512, lr=1e-3, bn_momentum=0.01),
    "mbv2": dict(model="mbv2", epochs=20, batch_size=32, lr=1e-5, bn_momentum=0.1),
}

#: The contrastive framework: what method.md section 6 states (lr 1e-5, lambda 0.0005, the
#: 256-wide projections, mean + max pooling), and the project's choices for what it does not
#: (the MobileNetV2 baseline's batch size and epochs, temperature 0.07, epoch by validation).
CONTRASTIVE = dict(model="contrastive", epochs=20, batch_size=32, lr=1e-5, bn_momentum=0.1,
                   pooling="meanmax", cl_weight=0.0005, temperature=0.07, select="val")


def contrastive_config(**overrides) -> TrainConfig:
    """The contrastive framework's configuration, with some fields overridden (None keeps the default)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes.get("model", "contrastive") != "contrastive":
        raise ConfigError("contrastive_config cannot make a model other than 'contrastive'")
    return TrainConfig(**{**CONTRASTIVE, **changes})


def baseline_config(model: str, **overrides) -> TrainConfig:
    """The official configuration of a baseline, with some fields overridden (None keeps the default)."""
    if model not in OFFICIAL:
        raise ConfigError(f"unknown baseline {model!r}; choose one of {', '.join(OFFICIAL)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "model" in changes and changes["model"] != model:
        raise ConfigError(f"baseline_config({model!r}) cannot make a {changes['model']!r} configuration")
    return TrainConfig(**{**OFFICIAL[model], **changes})


#: The paper's ablation: one network and one training, differing only in what the names say.
VARIANTS = ("MBv2", "+ CL", "+ MF", "+ CL, MF")


def variant_configs(base: TrainConfig | None = None, *, mf_mode: str = "both") -> dict[str, TrainConfig]:
    """The four variants' configurations, from ``base`` (default :func:`contrastive_config`)."""
    base = base or contrastive_config()
    if base.model != "contrastive":
        raise ConfigError("the ablation varies the contrastive framework: base.model must be 'contrastive'")
    if mf_mode not in ("both", "test"):
        raise ConfigError(f"mf_mode must be 'both' or 'test', got {mf_mode!r}")
    cl = base.cl_weight if base.cl_weight > 0 else contrastive_config().cl_weight
    return {"MBv2": base.replace(cl_weight=0.0, median_filter="off"),
            "+ CL": base.replace(cl_weight=cl, median_filter="off"),
            "+ MF": base.replace(cl_weight=0.0, median_filter=mf_mode),
            "+ CL, MF": base.replace(cl_weight=cl, median_filter=mf_mode)}


#: Every system the book and the batch runs compare: the two official baselines and the ablation.
SYSTEMS = ("AE baseline", "MBv2 baseline", *VARIANTS)

@dataclass(frozen=True)
class Settings:
    """Named training settings: what each kind of system changes from its defaults.

    ``ae`` overrides the official AE baseline's configuration, ``mbv2`` the
    official MobileNetV2 baseline's, ``framework`` the contrastive
    framework's (the four ablation variants).
    """

    name: str
    description: str
    ae: Mapping[str, Any] = field(default_factory=dict)
    mbv2: Mapping[str, Any] = field(default_factory=dict)
    framework: Mapping[str, Any] = field(default_factory=dict)


#: Named training settings: ``paper`` (the official and the paper's hyper-parameters), ``book``
#: (fewer epochs, a larger learning rate and sparser patches, so that the book's default run
#: fits in 20 minutes on two CPU cores) and ``tiny`` (the smoke test: one epoch).
SETTINGS = {s.name: s for s in (
    Settings("paper", "the official baselines' and the paper's hyper-parameters"),
    Settings("book", "reduced for the book's default build on two CPU cores",
             ae=dict(epochs=5), mbv2=dict(epochs=2, lr=3e-4, train_hop=32, test_hop=32),
             framework=dict(epochs=2, lr=3e-4, train_hop=32, test_hop=32)),
    Settings("tiny", "the test suite's smoke run: one epoch",
             ae=dict(epochs=1), mbv2=dict(epochs=1, lr=3e-4, train_hop=32, test_hop=32),
             framework=dict(epochs=1, lr=3e-4, train_hop=32, test_hop=32)),
)}


#: Fields that cannot be overridden for every system: they name the system or the run.
NOT_OVERRIDABLE = ("model", "seed", "features")


def check_overrides(overrides: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Refuse names that are not :class:`TrainConfig` fields and values of another type than the field's.

    What a grid's or a chapter's ``config`` parameter may hold; an int is
    accepted for a float field.  The values themselves are checked when the
    configurations are built (:func:`system_configs`).
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
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float \
                else (type(value) is kind)
            if not ok:
                problems.append(f"{name!r} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    if problems:
        raise ConfigError(f"{where}configuration overrides: " + "; ".join(problems))
    return dict(overrides)


def system_configs(settings: str = "paper", **overrides) -> dict[str, TrainConfig]:
    """Every system of :data:`SYSTEMS` under named settings (:data:`SETTINGS`), in that order.

    ``overrides`` (None keeps the settings' value) apply to every system, e.g. ``seed``.
    """
    if settings not in SETTINGS:
        raise ConfigError(f"unknown settings {settings!r}; choose one of {', '.join(SETTINGS)}")
    named = SETTINGS[settings]
    extra = {k: v for k, v in overrides.items() if v is not None}
    return {"AE baseline": baseline_config("ae", **{**named.ae, **extra}),
            "MBv2 baseline": baseline_config("mbv2", **{**named.mbv2, **extra}),
            **variant_configs(contrastive_config(**{**named.framework, **extra}))}


def system_config(system: str, settings: str = "paper", *, seed: int = 0,
                  overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """One system of :data:`SYSTEMS` under named settings, with some training settings overridden.

    What one run of a grid trains (``notebooks/08_run.ipynb``); every problem
    (unknown system or settings, a bad override) is a :class:`ValueError`.
    """
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}")
    return system_configs(settings, seed=seed, **check_overrides(overrides or {}))[system]
