"""Trained networks on disk and in memory: checkpoints, building a network from its configuration, loading.

A checkpoint is a plain dictionary of tensors, numbers, strings and lists,
so that it loads with ``torch.load(weights_only=True)``: no pickled code
runs when a file is read.  It names its machine type, the sections of the
classifier and the training configuration; :func:`load_checkpoint` refuses
a file made for another machine type or with another configuration, and
says which fields differ.

:class:`Trained` is a network ready to score with what it was trained on;
:func:`load_trained` reads one from a complete checkpoint, and
:func:`load_views` the whole contrastive network (both views) for looking
at it.  Training (:mod:`asdlib.training`) and scoring (:mod:`asdlib.scoring`)
both build on this module; neither needs the other.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ._atomic import atomic_path
from .config import TrainConfig
from .errors import CheckpointError
from .models import AutoEncoder, ContrastiveASD, MobileNetV2

FORMAT = "asdlib-checkpoint"
VERSION = 2  # 2: the configuration's fields of the authors' recipe (older files cannot say theirs)


@dataclass
class Checkpoint:
    """What a checkpoint holds.

    ``epoch`` is the number of finished epochs; training is complete when it
    equals ``config.epochs``.  ``optimizer`` is the optimiser state and
    ``best`` the weights of the best epoch so far (``best_epoch``), kept so
    that an interrupted run resumes where it stopped.  A complete checkpoint
    holds the selected weights of the network used for scoring only: for the
    contrastive framework, its MobileNetV2; the framework's training-only
    parts (AE branch, linear maps, projection head) of the same epoch go to
    ``views``, kept apart so that they are never loaded for scoring.
    """

    machine: str
    sections: list[str]
    config: TrainConfig
    epoch: int
    model: dict
    optimizer: dict | None = None
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    best_epoch: int | None = None
    views: dict | None = None
    data: str | None = None  # the training clips' fingerprint (asdlib.project.clips_fingerprint)

    @property
    def complete(self) -> bool:
        return self.epoch >= self.config.epochs


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (a crash leaves the previous file whole)."""
    payload = {"format": FORMAT, "version": VERSION, "torch": str(torch.__version__),
               "machine": ckpt.machine, "sections": list(ckpt.sections),
               "config": ckpt.config.as_dict(), "epoch": int(ckpt.epoch),
               "model": ckpt.model, "optimizer": ckpt.optimizer, "history": list(ckpt.history),
               "best": ckpt.best, "best_epoch": ckpt.best_epoch, "views": ckpt.views, "data": ckpt.data}
    try:
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
    except RuntimeError as err:  # torch's writer reports a full disk as "basic_ios::clear: iostream error"
        raise OSError(f"{path}: the checkpoint could not be written ({err}); is the disk full?") from None
    return Path(path)


def _differences(want: dict, got: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(want) | set(got)):
        a, b = want.get(k, "<absent>"), got.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {b!r} in the file, {a!r} asked for")
    return out


def load_checkpoint(path: str | Path, *, machine: str | None = None,
                    config: TrainConfig | None = None, data: str | None = None,
                    map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint safely (``weights_only=True``) and check what it was made for.

    Parameters
    ----------
    machine : the machine type the caller will use it for; another one is refused.
    config : the caller's configuration; a checkpoint whose training fields
        (:meth:`TrainConfig.training_dict`) differ is refused.  Scoring fields
        may differ: the caller's are kept.  A run that tracked the test score
        after every epoch serves a caller that does not ask for it (the
        tracking never changes the weights), not the other way round.
    data : the fingerprint of the caller's training clips; a checkpoint trained
        on other clips (or one that does not say) is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [""]
        reason = next((ln for ln in lines if "Unsupported global" in ln), lines[0])
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {reason})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an asdlib checkpoint")
    if raw.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {raw.get('version')}, "
                              f"this asdlib reads version {VERSION}")
    if machine is not None and raw["machine"] != machine:
        raise CheckpointError(f"{path}: a checkpoint of machine type {raw['machine']!r}, "
                              f"not {machine!r}")
    if data is not None and raw.get("data") != data:
        made = "on other training clips" if raw.get("data") else "without a record of its training clips"
        raise CheckpointError(f"{path}: trained {made} than these (fingerprint {raw.get('data')}, these "
                              f"{data}); delete it, or give another output folder, to train afresh")
    try:
        stored = TrainConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its configuration is not valid here: {err}") from None
    if config is not None:
        got = stored.training_dict()
        if got["track_test"] and not config.track_test:
            got["track_test"] = False  # tracking the test score never changes the weights
        diff = _differences(config.training_dict(), got)
        if diff:
            raise CheckpointError(f"{path}: made with another configuration; delete it or use its "
                                  f"configuration:\n  " + "\n  ".join(diff))
        stored = config  # the caller's scoring fields
    return Checkpoint(machine=raw["machine"], sections=list(raw["sections"]), config=stored,
                      epoch=int(raw["epoch"]), model=raw["model"], optimizer=raw.get("optimizer"),
                      history=list(raw.get("history") or []), best=raw.get("best"),
                      best_epoch=raw.get("best_epoch"), views=raw.get("views"), data=raw.get("data"))


# ---------------------------------------------------------------- networks


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as given, or CUDA when present, else the CPU.

    A name torch does not know, or a CUDA device this machine lacks, is a ``ValueError`` that says
    so (rather than torch's error at the first tensor moved there).
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {str(device)!r} is not a torch device ({err})") from None
    if picked.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (picked.index or 0) >= count:
            raise ValueError(f"device {str(device)!r}: this machine has "
                             f"{count or 'no'} CUDA device{'s' if count != 1 else ''}")
    return picked


def _cnn_args(config: TrainConfig) -> dict:
    return dict(width_mult=config.width_mult, pooling=config.pooling, in_channels=config.in_channels,
                dropout=config.dropout, init=config.init)


def train_frames(config: TrainConfig) -> int:
    """Frames of a training example of the CNN (and of the framework's AE branch): ``patch_frames``,
    two more with the chunk front end's centred frames (66 for 64)."""
    return config.patch_frames + (2 if config.frontend == "chunk" and config.train_center else 0)


def build_model(config: TrainConfig, n_sections: int) -> torch.nn.Module:
    """A freshly initialised network of ``config.model`` (seeded by the caller)."""
    if config.model == "ae":
        return AutoEncoder(config.ae_frames * config.features.n_mels, bn_momentum=config.bn_momentum)
    if config.model == "contrastive":
        return ContrastiveASD(n_sections, frames=train_frames(config), n_mels=config.features.n_mels,
                              proj_dim=config.proj_dim, bn_momentum=config.bn_momentum, bn_eps=config.bn_eps,
                              decode_normalized=config.decode_normalized,
                              classify_normalized=config.classify_normalized, **_cnn_args(config))
    return MobileNetV2(n_sections, bn_momentum=config.bn_momentum, bn_eps=config.bn_eps, **_cnn_args(config))


def scoring_network(config: TrainConfig, n_sections: int) -> torch.nn.Module:
    """The network a complete checkpoint holds: the AE, or the MobileNetV2 (also of the framework)."""
    if config.model == "contrastive":
        return MobileNetV2(n_sections, bn_momentum=config.bn_momentum, bn_eps=config.bn_eps,
                           **_cnn_args(config))
    return build_model(config, n_sections)


def scoring_part(model: torch.nn.Module) -> torch.nn.Module:
    """The part of a network that scores: the CNN of the contrastive framework, else the network itself."""
    return model.cnn if isinstance(model, ContrastiveASD) else model


def cpu_state(model: torch.nn.Module) -> dict:
    """A copy of the network's weights on the CPU, in the default memory layout."""
    return {k: v.detach().to("cpu", memory_format=torch.contiguous_format).clone()
            for k, v in model.state_dict().items()}


@dataclass
class Trained:
    """A trained network with what it was trained on."""

    model: torch.nn.Module
    machine: str
    sections: list[str]
    config: TrainConfig
    history: pd.DataFrame  # one row per epoch: train_loss, val_loss (+ accuracies, loss terms)
    epoch: int = 0  # the epoch whose weights ``model`` holds


def history_frame(rows: list[dict]) -> pd.DataFrame:
    """The history rows of a checkpoint as a table (an empty one has the column ``epoch``)."""
    return pd.DataFrame(rows, columns=None if rows else ["epoch"])


def trained_from(ckpt: Checkpoint, device=None) -> Trained:
    """The scoring network of a complete checkpoint, on ``device``, in eval mode."""
    net = scoring_network(ckpt.config, len(ckpt.sections))
    net.load_state_dict(ckpt.model)
    net.to(pick_device(device)).eval()
    return Trained(model=net, machine=ckpt.machine, sections=ckpt.sections, config=ckpt.config,
                   history=history_frame(ckpt.history), epoch=ckpt.best_epoch or ckpt.epoch)


def load_trained(path: str | Path, *, machine: str | None = None, config: TrainConfig | None = None,
                 device: str | torch.device | None = None) -> Trained:
    """A complete checkpoint as a :class:`Trained` network, ready to score (see :func:`load_checkpoint`)."""
    ckpt = load_checkpoint(path, machine=machine, config=config)
    if not ckpt.complete:
        raise CheckpointError(f"{path}: training stopped after epoch {ckpt.epoch} of "
                              f"{ckpt.config.epochs}; run the training again to finish it")
    return trained_from(ckpt, device)


def load_views(path: str | Path, *, device: str | torch.device | None = None) -> ContrastiveASD:
    """The whole contrastive network (both views, maps and head) of a complete checkpoint, in eval mode.

    For looking at the two views (their embeddings ``p`` and ``u``); scoring
    uses :func:`load_trained`, which loads the CNN alone.
    """
    ckpt = load_checkpoint(path)
    if ckpt.config.model != "contrastive" or not ckpt.complete or ckpt.views is None:
        raise CheckpointError(f"{path}: not a complete checkpoint of the contrastive framework")
    model = build_model(ckpt.config, len(ckpt.sections))
    model.load_state_dict({**ckpt.views, **{f"cnn.{k}": v for k, v in ckpt.model.items()}})
    return model.to(pick_device(device)).eval()
