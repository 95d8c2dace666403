"""Training the baselines: one model per machine type, over all its sections and both domains.

Data flow: the clips' log-mel spectrograms come memory-mapped from
:mod:`asdlib.cache`; a training example is a window of consecutive frames
(5 for the AE, 64 for MobileNetV2) named by its first row in the mapped
file, so an epoch is a shuffled array of row numbers and a batch is read by
one fancy index.  A full-size machine type never has to be in memory.

Reproducible: the seed fixes the initial weights, the validation split
(whole clips) and the order of every epoch's batches, which depends on the
seed and the epoch number only, so a run resumed from its checkpoint gives
the same weights as an uninterrupted one.  A checkpoint is written,
atomically, after every epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .cache import CachedFeatures, map_features
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .features import median_filter
from .losses import nt_xent
from .models import AutoEncoder, ContrastiveASD, MobileNetV2


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as given, or CUDA when present, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_model(config: TrainConfig, n_sections: int) -> torch.nn.Module:
    """A freshly initialised network of ``config.model`` (seeded by the caller)."""
    if config.model == "ae":
        return AutoEncoder(config.ae_frames * config.features.n_mels, bn_momentum=config.bn_momentum)
    if config.model == "contrastive":
        return ContrastiveASD(n_sections, frames=config.patch_frames, n_mels=config.features.n_mels,
                              proj_dim=config.proj_dim, pooling=config.pooling,
                              bn_momentum=config.bn_momentum)
    return MobileNetV2(n_sections, pooling=config.pooling, bn_momentum=config.bn_momentum)


def scoring_network(config: TrainConfig, n_sections: int) -> torch.nn.Module:
    """The network a complete checkpoint holds: the AE, or the MobileNetV2 (also of the framework)."""
    if config.model == "contrastive":
        return MobileNetV2(n_sections, pooling=config.pooling, bn_momentum=config.bn_momentum)
    return build_model(config, n_sections)


def median_filtered(feats: CachedFeatures, config: TrainConfig, *, progress: bool = False
                    ) -> CachedFeatures:
    """The "+MF" input: every spectrogram median-filtered over time (``config.mf_kernel`` frames)."""
    return map_features(feats, lambda x: median_filter(x, kernel=config.mf_kernel),
                        progress=progress, desc="median filter")


# ---------------------------------------------------------------- windows


@dataclass
class Windows:
    """Training examples: ``starts[i]`` is the first row, in the mapped file, of window ``i``."""

    starts: np.ndarray  # int64, shape=(n,)
    clip: np.ndarray  # int64, shape=(n,): the clip (index into the features) of each window
    width: int

    def __len__(self) -> int:
        return len(self.starts)


def windows(feats: CachedFeatures, clip_ids: Sequence[int], *, width: int, hop: int) -> Windows:
    """Every ``width``-frame window of the given clips, one every ``hop`` frames."""
    starts, owner = [], []
    for i in clip_ids:
        frames = int(feats.offsets[i + 1] - feats.offsets[i])
        if frames < width:
            raise ValueError(f"{feats.clips[i].path}: {frames} frames, fewer than a {width}-frame window")
        s = feats.offsets[i] + np.arange(0, frames - width + 1, hop, dtype=np.int64)
        starts.append(s)
        owner.append(np.full(len(s), i, dtype=np.int64))
    if not starts:
        return Windows(np.zeros(0, np.int64), np.zeros(0, np.int64), width)
    return Windows(np.concatenate(starts), np.concatenate(owner), width)


def gather(feats: CachedFeatures, starts: np.ndarray, width: int) -> torch.Tensor:
    """The windows starting at ``starts``: shape=(len(starts), width, n_mels), float32."""
    rows = starts[:, None] + np.arange(width, dtype=np.int64)
    return torch.from_numpy(np.ascontiguousarray(feats.data[rows]))


def split_clips(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation clip indices: a seeded ``val_fraction`` of whole clips (at least one)."""
    if n < 2 or val_fraction == 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ---------------------------------------------------------------- one step


def _batch_loss(model, config: TrainConfig, x: torch.Tensor, x_cnn: torch.Tensor | None,
                y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch, and its parts for the history (sums over the batch).

    ``x_cnn`` is the median-filtered batch when the CNN's input is filtered.
    """
    n = len(x)
    if config.model == "ae":
        flat = x.reshape(n, -1)
        err = (model(flat) - flat).square().mean(dim=1)
        return err.mean(), {"loss": float(err.detach().sum())}
    if config.model == "mbv2":
        logits = model(x if x_cnn is None else x_cnn)
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(dim=1) == y).sum()
        return loss, {"loss": float(loss.detach()) * n, "accuracy": float(correct)}
    recon, logits, p, u = model(x, x_cnn)
    mse = (recon - x.reshape(n, -1)).square().mean()
    ce = F.cross_entropy(logits, y)
    cl = nt_xent(p, u, temperature=config.temperature) if n > 1 else recon.new_zeros(())
    loss = mse + ce + config.cl_weight * cl
    parts = {"loss": loss, "mse": mse, "ce": ce, "cl": cl}
    out = {k: float(v.detach()) * n for k, v in parts.items()}
    out["accuracy"] = float((logits.argmax(dim=1) == y).sum())
    return loss, out


def selection_metric(config: TrainConfig) -> tuple[str, str]:
    """The history column that ``select`` ranks epochs by, and ``"min"`` or ``"max"``."""
    if config.select == "test":
        return "test_score", "max"
    return ("val_ce" if config.model == "contrastive" else "val_loss"), "min"


def _section_targets(feats: CachedFeatures, sections: list[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(sections)}
    return np.array([index[c.section] for c in feats.clips], dtype=np.int64)


def _run_epoch(model, config, feats, cnn_feats, win, targets, order, device, *, optimizer=None,
               bar=None) -> dict[str, float]:
    """One pass over ``win`` in ``order``: training when ``optimizer`` is given, else evaluation."""
    totals: dict[str, float] = {}
    training = optimizer is not None
    model.train(training)
    with torch.set_grad_enabled(training):
        for b in range(0, len(order), config.batch_size):
            idx = order[b:b + config.batch_size]
            x = gather(feats, win.starts[idx], win.width).to(device, non_blocking=True)
            x_cnn = (None if cnn_feats is None
                     else gather(cnn_feats, win.starts[idx], win.width).to(device, non_blocking=True))
            y = None if config.model == "ae" else torch.from_numpy(targets[win.clip[idx]]).to(device)
            loss, parts = _batch_loss(model, config, x, x_cnn, y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v
            if bar is not None:
                bar.update(len(idx))
    return {k: v / max(1, len(order)) for k, v in totals.items()}


# ---------------------------------------------------------------- training


@dataclass
class Trained:
    """A trained network with what it was trained on."""

    model: torch.nn.Module
    machine: str
    sections: list[str]
    config: TrainConfig
    history: pd.DataFrame  # one row per epoch: train_loss, val_loss (+ accuracies, loss terms)
    epoch: int = 0  # the epoch whose weights ``model`` holds


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=None if rows else ["epoch"])


def train(feats: CachedFeatures, config: TrainConfig, *, machine: str | None = None,
          sections: Sequence[str] | None = None, checkpoint: str | Path | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          on_epoch: Callable[[dict], None] | None = None,
          epoch_score: Callable[[torch.nn.Module], float] | None = None) -> Trained:
    """Train one network on the training clips of one machine type.

    Parameters
    ----------
    feats : the training clips' log-mel spectrograms (:func:`asdlib.cache.load_features`).
    config : the configuration (:func:`asdlib.config.baseline_config`,
        :func:`asdlib.config.contrastive_config`).
    machine : the machine type (default: that of the clips; mixing types is an error).
    sections : the classifier's sections, in output order (default: the sorted sections of the clips).
    checkpoint : file written after every epoch.  If it exists, it must match
        ``machine`` and ``config``: a complete one is returned as is, an
        unfinished one is resumed.
    device : ``"cpu"``, ``"cuda"``, ...; default CUDA when present.
    on_epoch : called with each epoch's history row (after its checkpoint is written).
    epoch_score : for ``select="test"``: the official score of a scoring
        network on the test clips, called after every epoch.

    Returns
    -------
    The network used for scoring (for the contrastive framework: its
    MobileNetV2 alone), with the weights of the selected epoch.
    """
    machines = sorted({c.machine for c in feats.clips})
    if len(machines) != 1:
        raise ValueError(f"one model per machine type: the clips hold {', '.join(machines)}")
    if machine is not None and machine != machines[0]:
        raise ValueError(f"the clips are of machine type {machines[0]!r}, not {machine!r}")
    machine = machines[0]
    non_train = sorted({c.split for c in feats.clips} - {"train"})
    if non_train:
        raise ValueError("training clips only: some clips come from the test folders")
    clip_sections = sorted({c.section for c in feats.clips})
    sections = list(sections) if sections is not None else clip_sections
    missing = sorted(set(clip_sections) - set(sections))
    if missing:
        raise ValueError(f"sections {missing} of the clips are not among the classifier's {sections}")
    if config.model != "ae" and len(sections) < 2:
        raise ValueError(f"{machine}: a section classifier needs at least two sections, "
                         f"the training clips hold {sections}")
    if config.select == "test" and epoch_score is None:
        raise ValueError("select='test' needs epoch_score, the official score on the test clips")
    device = pick_device(device)

    ckpt = None
    if checkpoint is not None and Path(checkpoint).exists():
        ckpt = load_checkpoint(checkpoint, machine=machine, config=config)
        if ckpt.sections != sections:
            raise CheckpointError(f"{checkpoint}: trained on sections {ckpt.sections}, not {sections}")
        if ckpt.complete:
            return _from_checkpoint(ckpt, device)
    torch.manual_seed(config.seed)
    model = build_model(config, len(sections))
    optimizer_state, history, start, best, best_epoch = None, [], 0, None, None
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        optimizer_state, history, start = ckpt.optimizer, list(ckpt.history), ckpt.epoch
        best, best_epoch = ckpt.best, ckpt.best_epoch
    model.to(device)
    if config.model != "ae" and device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)

    width, hop = ((config.ae_frames, 1) if config.model == "ae"
                  else (config.patch_frames, config.train_hop))
    cnn_feats = median_filtered(feats, config, progress=progress) if config.median_filter == "both" else None
    train_ids, val_ids = split_clips(len(feats), config.val_fraction, config.seed)
    win_train = windows(feats, train_ids, width=width, hop=hop)
    win_val = windows(feats, val_ids, width=width, hop=hop)
    targets = _section_targets(feats, sections)
    steps = math.ceil(len(win_train) / config.batch_size)
    metric, direction = selection_metric(config)
    what = {"ae": "AE", "mbv2": "MobileNetV2", "contrastive": "AE+CNN"}[config.model]
    epochs = tqdm(range(start, config.epochs), desc=f"{what} {machine}", unit="epoch",
                  initial=start, total=config.epochs, disable=not progress)
    for epoch in epochs:
        order = np.random.default_rng([config.seed, 11, epoch]).permutation(len(win_train))
        with tqdm(total=len(order), desc=f"epoch {epoch + 1}", unit="ex", leave=False,
                  disable=not progress or steps < 20) as bar:
            tr = _run_epoch(model, config, feats, cnn_feats, win_train, targets, order, device,
                            optimizer=optimizer, bar=bar)
        row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in tr.items()}}
        if len(win_val):
            va = _run_epoch(model, config, feats, cnn_feats, win_val, targets,
                            np.arange(len(win_val)), device)
            row.update({f"val_{k}": v for k, v in va.items()})
        if config.select == "test":
            model.eval()
            row["test_score"] = float(epoch_score(_scoring_part(model)))
        history.append(row)
        value = row.get(metric)
        if config.select != "last" and value is not None:
            previous = None if best_epoch is None else history[best_epoch - 1][metric]
            if previous is None or (value < previous if direction == "min" else value > previous):
                best, best_epoch = _cpu_state(model), epoch + 1
        epochs.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"})
        if checkpoint is not None and epoch + 1 < config.epochs:
            save_checkpoint(checkpoint, Checkpoint(
                machine=machine, sections=sections, config=config, epoch=epoch + 1,
                model=_cpu_state(model), optimizer=optimizer.state_dict(), history=history,
                best=best, best_epoch=best_epoch))
        if on_epoch is not None:
            on_epoch(row)
    if best is not None:
        model.load_state_dict(best)
    net = _scoring_part(model).eval()
    selected = best_epoch if best is not None else config.epochs
    if checkpoint is not None:
        views = ({k: v for k, v in _cpu_state(model).items() if not k.startswith("cnn.")}
                 if net is not model else None)
        save_checkpoint(checkpoint, Checkpoint(
            machine=machine, sections=sections, config=config, epoch=config.epochs,
            model=_cpu_state(net), history=history, best_epoch=selected, views=views))
    return Trained(model=net, machine=machine, sections=sections, config=config,
                   history=_history_frame(history), epoch=selected)


def _scoring_part(model: torch.nn.Module) -> torch.nn.Module:
    return model.cnn if isinstance(model, ContrastiveASD) else model


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", memory_format=torch.contiguous_format).clone()
            for k, v in model.state_dict().items()}


def _from_checkpoint(ckpt: Checkpoint, device) -> Trained:
    net = scoring_network(ckpt.config, len(ckpt.sections))
    net.load_state_dict(ckpt.model)
    net.to(pick_device(device)).eval()
    return Trained(model=net, machine=ckpt.machine, sections=ckpt.sections, config=ckpt.config,
                   history=_history_frame(ckpt.history), epoch=ckpt.best_epoch or ckpt.epoch)


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


def load_trained(path: str | Path, *, machine: str | None = None, config: TrainConfig | None = None,
                 device: str | torch.device | None = None) -> Trained:
    """A complete checkpoint as a :class:`Trained` network, ready to score (see :func:`load_checkpoint`)."""
    ckpt = load_checkpoint(path, machine=machine, config=config)
    if not ckpt.complete:
        raise CheckpointError(f"{path}: training stopped after epoch {ckpt.epoch} of "
                              f"{ckpt.config.epochs}; run the training again to finish it")
    return _from_checkpoint(ckpt, device)
