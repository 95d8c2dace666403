"""Checkpoints: weights saved with the configuration that made them, written atomically.

A checkpoint is a plain dictionary of tensors, numbers, strings and lists,
so that it loads with ``torch.load(weights_only=True)``: no pickled code
runs when a file is read.  It names its machine type, the sections of the
classifier and the training configuration; :func:`load_checkpoint` refuses
a file made for another machine type or with another configuration, and
says which fields differ.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ._atomic import atomic_path
from .config import TrainConfig

FORMAT = "asdlib-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or made for another machine type or configuration."""


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

    @property
    def complete(self) -> bool:
        return self.epoch >= self.config.epochs


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (a crash leaves the previous file whole)."""
    payload = {"format": FORMAT, "version": VERSION, "torch": str(torch.__version__),
               "machine": ckpt.machine, "sections": list(ckpt.sections),
               "config": ckpt.config.as_dict(), "epoch": int(ckpt.epoch),
               "model": ckpt.model, "optimizer": ckpt.optimizer, "history": list(ckpt.history),
               "best": ckpt.best, "best_epoch": ckpt.best_epoch, "views": ckpt.views}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
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
                    config: TrainConfig | None = None, map_location: str | torch.device = "cpu"
                    ) -> Checkpoint:
    """Read a checkpoint safely (``weights_only=True``) and check what it was made for.

    Parameters
    ----------
    machine : the machine type the caller will use it for; another one is refused.
    config : the caller's configuration; a checkpoint whose training fields
        (:meth:`TrainConfig.training_dict`) differ is refused.  Scoring fields
        may differ: the caller's are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
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
    try:
        stored = TrainConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its configuration is not valid here: {err}") from None
    if config is not None:
        diff = _differences(config.training_dict(), stored.training_dict())
        if diff:
            raise CheckpointError(f"{path}: made with another configuration; delete it or use its "
                                  f"configuration:\n  " + "\n  ".join(diff))
        stored = config  # the caller's scoring fields
    return Checkpoint(machine=raw["machine"], sections=list(raw["sections"]), config=stored,
                      epoch=int(raw["epoch"]), model=raw["model"], optimizer=raw.get("optimizer"),
                      history=list(raw.get("history") or []), best=raw.get("best"),
                      best_epoch=raw.get("best_epoch"), views=raw.get("views"))
