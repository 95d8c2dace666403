"""Recipes and named settings: which configuration each system of the book trains with.

* The official baselines (:data:`OFFICIAL`, ``../shared/method.md``
  sections 4 and 5), with the switches found by running the official Keras
  code beside the project: ``val_split="tail"`` and, for MobileNetV2,
  ``threshold_hop=8``.
* The authors' recipe (:data:`AUTHORS`): the four ablation rows as the
  authors' public code trains them (method.md section 6; GitHub
  ``bibiaaaa/SmallRice_DCASE2021Challenge``, ``task2/``): their width-1.0
  CNN on per-chunk torchaudio log-mel, their framework, optimiser,
  schedule, selection, seed and clip score.  Its "MBv2" and "+ MF" rows are
  their CNN alone with cross-entropy, as their ``mobilenetv2.yaml`` trains
  it; "+ CL" and "+ CL, MF" the framework.
* The project's compact recipe (:data:`COMPACT`): the reconstruction the
  book used before the authors' code was read; every one of its departures
  from the authors' recipe is a field of :class:`asdlib.config.TrainConfig`,
  listed with its reason in :data:`DEPARTURES`.

:data:`SETTINGS` names what a build trains: ``paper`` (the official
baselines and the authors' recipe as they are), ``book`` (reduced so that
the default book builds in 20 minutes on two CPU cores) and ``tiny`` (the
smoke test).  :func:`system_configs` gives every system's configuration
under named settings and a recipe.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import pandas as pd

from .config import TrainConfig, check_overrides
from .errors import ConfigError
from .features import FeatureConfig

#: The official hyper-parameters (method.md sections 4 and 5), and the batch-norm momentum
#: (see :class:`asdlib.config.TrainConfig`).
OFFICIAL = {
    "ae": dict(model="ae", epochs=100, batch_size=512, lr=1e-3, bn_momentum=0.01),
    "mbv2": dict(model="mbv2", epochs=20, batch_size=32, lr=1e-5, bn_momentum=0.1),
}

#: The authors' CNN (their ``MobileNetV2``): width 1.0, one input channel, dropout 0.5, Xavier
#: initialisation, mean over frequency then mean + max over time, PyTorch's batch-norm defaults.
AUTHORS_CNN = dict(width_mult=1.0, in_channels=1, dropout=0.5, init="xavier", pooling="meanmax",
                   bn_momentum=0.1, bn_eps=1e-5)

#: The authors' front end: torchaudio's MelSpectrogram (HTK scale, no filterbank normalisation,
#: f_max 8 kHz, reflect padding) and AmplitudeToDB(top_db=120), per waveform chunk.
AUTHORS_FEATURES = FeatureConfig(mel_scale="htk", mel_norm="none", f_max=8000.0, pad_mode="reflect",
                                 floor="top_db", top_db=120.0)

#: The authors' framework ("+ CL"), as their ``contrastive.yaml`` and ``train.py`` train it.
AUTHORS = dict(
    model="contrastive", **AUTHORS_CNN, frontend="chunk", features=AUTHORS_FEATURES, train_center=False,
    patch_frames=64, train_hop=8, test_hop=8, epochs=100, batch_size=32, lr=1e-5,
    lr_milestones=(30, 60, 90), lr_gamma=0.5, lr_step="iteration", cl_weight=0.0005, temperature=0.07,
    proj_dim=256, cl_normalize=False, decode_normalized=True, classify_normalized=True, mf_kernel=31,
    mf_mode="mirror", mf_ae=True, mf_stage="logmel", select="test", track_test=True, val_fraction=0.0,
    seed=647, score="clamped")

#: The project's compact recipe (the framework as reconstructed from the poster before the
#: authors' code was read): the official width-0.5 CNN and front end, NT-Xent on normalised
#: projections, no schedule, 20 epochs, the epoch by validation, every frame scored.
COMPACT = dict(model="contrastive", epochs=20, batch_size=32, lr=1e-5, bn_momentum=0.1,
               pooling="meanmax", cl_weight=0.0005, temperature=0.07, select="val")


@dataclass(frozen=True)
class Recipe:
    """How the four ablation rows are trained.

    ``framework``: the configuration of "+ CL" (the others change the
    contrastive weight and the median filter); ``cnn_rows``: "MBv2" and
    "+ MF" are the CNN alone trained with cross-entropy (the authors' code),
    or the framework with lambda = 0 (the compact recipe: the AE branch trains
    beside the CNN, no gradient crosses).
    """

    name: str
    description: str
    framework: Mapping[str, Any]
    cnn_rows: bool


RECIPES = {r.name: r for r in (
    Recipe("authors", "the authors' public code (bibiaaaa/SmallRice_DCASE2021Challenge, task2/)", AUTHORS,
           cnn_rows=True),
    Recipe("compact", "the project's reconstruction from the poster (width-0.5 CNN, official front end)",
           COMPACT, cnn_rows=False),
)}

#: The paper's ablation rows.
VARIANTS = ("MBv2", "+ CL", "+ MF", "+ CL, MF")
#: Every system the book and the batch runs compare: the two official baselines and the ablation.
SYSTEMS = ("AE baseline", "MBv2 baseline", *VARIANTS)


def _changes(overrides: Mapping[str, Any]) -> dict:
    return {k: v for k, v in overrides.items() if v is not None}


def baseline_config(model: str, **overrides) -> TrainConfig:
    """The official configuration of a baseline, with some fields overridden (None keeps the default)."""
    if model not in OFFICIAL:
        raise ConfigError(f"unknown baseline {model!r}; choose one of {', '.join(OFFICIAL)}")
    changes = _changes(overrides)
    if "model" in changes and changes["model"] != model:
        raise ConfigError(f"baseline_config({model!r}) cannot make a {changes['model']!r} configuration")
    return TrainConfig(**{**OFFICIAL[model], **changes})


def recipe_config(recipe: str = "compact", **overrides) -> TrainConfig:
    """A recipe's framework configuration ("+ CL"), with some fields overridden (None keeps the default)."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    changes = _changes(overrides)
    if changes.get("model", "contrastive") != "contrastive":
        raise ConfigError("a recipe's framework configuration cannot make a model other than 'contrastive'")
    return TrainConfig(**{**RECIPES[recipe].framework, **changes})


def contrastive_config(**overrides) -> TrainConfig:
    """The compact recipe's framework configuration, with some fields overridden."""
    return recipe_config("compact", **overrides)


def authors_config(**overrides) -> TrainConfig:
    """The authors' framework configuration, with some fields overridden."""
    return recipe_config("authors", **overrides)


def cnn_alone(framework: TrainConfig) -> TrainConfig:
    """The framework's CNN trained alone with cross-entropy, on its own (centred) front end."""
    return framework.replace(model="mbv2", train_center=True, cl_weight=0.0, mf_ae=False, mf_stage="logmel")


def variant_configs(base: TrainConfig | None = None, *, mf_mode: str = "both",
                    cnn_rows: bool = False) -> dict[str, TrainConfig]:
    """The four variants' configurations, from the framework configuration ``base``.

    ``cnn_rows``: "MBv2" and "+ MF" are the CNN alone (:func:`cnn_alone`)
    rather than the framework with lambda = 0.  Default ``base``: the compact
    recipe.
    """
    base = base or contrastive_config()
    if base.model != "contrastive":
        raise ConfigError("the ablation varies the contrastive framework: base.model must be 'contrastive'")
    if mf_mode not in ("both", "test"):
        raise ConfigError(f"mf_mode must be 'both' or 'test', got {mf_mode!r}")
    cl = base.cl_weight if base.cl_weight > 0 else contrastive_config().cl_weight
    plain = cnn_alone(base) if cnn_rows else base.replace(cl_weight=0.0)
    return {"MBv2": plain.replace(median_filter="off"),
            "+ CL": base.replace(cl_weight=cl, median_filter="off"),
            "+ MF": plain.replace(median_filter=mf_mode),
            "+ CL, MF": base.replace(cl_weight=cl, median_filter=mf_mode)}


def recipe_variants(recipe: str = "authors", **overrides) -> dict[str, TrainConfig]:
    """The four ablation rows of a recipe, with some framework fields overridden."""
    return variant_configs(recipe_config(recipe, **overrides), cnn_rows=RECIPES[recipe].cnn_rows)


# ---------------------------------------------------------------- named settings


@dataclass(frozen=True)
class Settings:
    """Named training settings: what each kind of system changes from its recipe.

    ``ae`` overrides the official AE baseline's configuration, ``mbv2`` the
    official MobileNetV2 baseline's, ``framework`` the ablation recipe's
    (every one of its four rows); ``recipe`` is the ablation's default recipe.
    """

    name: str
    description: str
    ae: Mapping[str, Any] = field(default_factory=dict)
    mbv2: Mapping[str, Any] = field(default_factory=dict)
    framework: Mapping[str, Any] = field(default_factory=dict)
    recipe: str = "authors"


#: The book's reductions of the framework's training, applied to either recipe: what a CPU can
#: train in the default build, and the honest epoch selection (see ``book/contrastive.md``).
BOOK_FRAMEWORK = dict(epochs=6, lr=3e-4, lr_milestones=(), train_hop=32, test_hop=16, select="val",
                      val_fraction=0.1, track_test=False)

#: Named training settings: ``paper`` (the official baselines and the authors' recipe as they
#: are), ``book`` (reduced so that the default book builds within 20 minutes on two CPU cores)
#: and ``tiny`` (the smoke test: one epoch).
SETTINGS = {s.name: s for s in (
    Settings("paper", "the official baselines' and the authors' hyper-parameters"),
    Settings("book", "reduced for the book's default build on two CPU cores",
             ae=dict(epochs=20), mbv2=dict(epochs=8, lr=3e-4, train_hop=16, test_hop=16),
             framework=BOOK_FRAMEWORK),
    Settings("tiny", "the test suite's smoke run: one epoch",
             ae=dict(epochs=1), mbv2=dict(epochs=1, lr=3e-4, train_hop=32, test_hop=32),
             framework=dict(BOOK_FRAMEWORK, epochs=1, test_hop=32)),
)}


def system_configs(settings: str = "paper", *, recipe: str | None = None, only: str | None = None,
                   **overrides) -> dict[str, TrainConfig]:
    """Every system of :data:`SYSTEMS` under named settings (:data:`SETTINGS`), in that order.

    ``recipe``: the ablation's recipe (default: the settings'); ``overrides``
    (None keeps the settings' value) apply to every system, e.g. ``seed``;
    ``only``: build that system's configuration alone (an override that only
    a classifier takes, such as ``backend``, is then not refused for the AE).
    """
    if settings not in SETTINGS:
        raise ConfigError(f"unknown settings {settings!r}; choose one of {', '.join(SETTINGS)}")
    named = SETTINGS[settings]
    recipe = recipe or named.recipe
    extra = _changes(overrides)
    out = {}
    if only in (None, "AE baseline"):
        out["AE baseline"] = baseline_config("ae", **{**named.ae, **extra})
    if only in (None, "MBv2 baseline"):
        out["MBv2 baseline"] = baseline_config("mbv2", **{**named.mbv2, **extra})
    if only is None or only in VARIANTS:
        out.update(recipe_variants(recipe, **{**named.framework, **extra}))
    return out


def system_config(system: str, settings: str = "paper", *, seed: int = 0, recipe: str | None = None,
                  overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """One system of :data:`SYSTEMS` under named settings, with some training settings overridden.

    What one run of a grid trains (``notebooks/08_run.ipynb``); every problem
    (unknown system, settings or recipe, a bad override) is a :class:`ConfigError`.
    """
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}")
    return system_configs(settings, recipe=recipe or None, only=system, seed=seed,
                          **check_overrides(overrides or {}))[system]


# ---------------------------------------------------------------- departures


@dataclass(frozen=True)
class Departure:
    """One place where the project's compact recipe departs from the authors' code, and why."""

    item: str
    fields: tuple[str, ...]
    why: str


#: Every departure of the compact recipe (and of the official baseline) from the authors' code.
DEPARTURES = (
    Departure("CNN width", ("width_mult",), "the official baseline's width; the authors' network has "
              "3.2 times the parameters and costs about twice the CPU time"),
    Departure("CNN input channels", ("in_channels",), "the official network's repeated RGB channel"),
    Departure("dropout before the classifier", ("dropout",), "Keras' MobileNetV2 top has none"),
    Departure("initialisation", ("init",), "torchvision's default for MobileNetV2"),
    Departure("batch-norm epsilon", ("bn_eps",), "Keras' value, as in the official network"),
    Departure("front end", ("frontend",), "the official log-mel, computed once per clip and cached"),
    Departure("mel scale, filterbank norm, floor", ("features.mel_scale", "features.mel_norm",
                                                    "features.floor"),
              "librosa's Slaney filterbank and eps floor, as the official baselines"),
    Departure("frames of a training chunk", ("train_center",), "the CNN sees 64-frame patches of "
              "the clip's spectrogram in training and scoring alike"),
    Departure("scored patches, every n frames", ("test_hop",), "the official baseline scores every frame"),
    Departure("epochs", ("epochs",), "the official MobileNetV2 baseline's"),
    Departure("learning-rate schedule", ("lr_milestones", "lr_step"), "none in the official baseline; "
              "the authors' ignite handler steps MultiStepLR every iteration, so their rate is 1/8 of "
              "the nominal one after 90 steps"),
    Departure("contrastive loss on", ("cl_normalize",), "NT-Xent as SimCLR defines it (normalised "
              "projections); SupCon's loss on raw outputs is unbounded"),
    Departure("AE decodes / classifier reads", ("decode_normalized", "classify_normalized"),
              "each branch as it is on its own, so that lambda = 0 is the plain networks"),
    Departure("median-filter padding", ("mf_mode",), "scipy's reflect (edge sample repeated)"),
    Departure("AE branch under +MF", ("mf_ae",), "the AE keeps the unfiltered chunk: the filter is "
              "the CNN's input"),
    Departure("epoch kept", ("select", "val_fraction"), "the validation split of the training clips: "
              "the authors' rule reads the test labels"),
    Departure("seed", ("seed",), "0, 1, 2 in the project's runs"),
    Departure("clip score", ("score",), "the exact log-odds, from the logits in float64"),
    Departure("MBv2 and +MF rows", ("model",), "the framework with lambda = 0, so that the rows "
              "differ by the contrastive term and the filter alone"),
)


def _value(config: TrainConfig, name: str):
    obj = config
    for part in name.split("."):
        obj = getattr(obj, part)
    return list(obj) if isinstance(obj, tuple) else obj


def departures_table() -> pd.DataFrame:
    """The departures, each with its value in the authors' code, the official MobileNetV2 baseline
    and the compact recipe, read from the configurations themselves.

    The "MBv2 and +MF rows" line compares the "MBv2" rows of the two recipes;
    every other line the "+ CL" rows, and the official MobileNetV2 baseline.
    """
    authors, compact = recipe_variants("authors"), recipe_variants("compact")
    official = baseline_config("mbv2")
    rows = []
    for d in DEPARTURES:
        row = "MBv2" if d.fields == ("model",) else "+ CL"

        def show(config):
            return ", ".join(str(_value(config, f)) for f in d.fields)
        rows.append({"item": d.item, "field": ", ".join(d.fields), "authors' code": show(authors[row]),
                     "official baseline": show(official), "compact recipe": show(compact[row]),
                     "why the compact recipe differs": d.why})
    return pd.DataFrame(rows)


def recipe_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """The fields (and feature fields) in which two configurations differ."""
    out = [f.name for f in fields(TrainConfig) if f.name != "features" and getattr(a, f.name) != getattr(b, f.name)]
    out += [f"features.{f.name}" for f in fields(FeatureConfig)
            if getattr(a.features, f.name) != getattr(b.features, f.name)]
    return out
