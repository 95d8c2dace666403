"""Training: one network per machine type, over all its sections and both domains.

Data flow: the clips' log-mel spectrograms (or waveforms, for the chunk
front end) come memory-mapped from :mod:`asdlib.cache`; the examples are
windows cut from them and turned into the model's input by
:class:`asdlib.windows.Inputs`; the network is built from its configuration
and saved by :mod:`asdlib.checkpoint`.  Scoring (:mod:`asdlib.scoring`) does
not depend on this module.

Reproducible: the seed fixes the initial weights, the validation split
and the order of every epoch's batches, which depends on the seed and the
epoch number only, and the learning rate is a function of the epoch and the
step (:meth:`asdlib.config.TrainConfig.learning_rate`), so a run resumed
from its checkpoint gives the same weights as an uninterrupted one.  A
checkpoint is written, atomically, after every epoch.

On a GPU the same epochs run on the fast path of :mod:`asdlib.accel` (the
features on the device, each full batch's step replayed as a CUDA graph),
equal to the eager path up to floating point; the CPU path is the one it
always was, to the bit.
"""
from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .accel import Stepper, make_optimizer, optimizer_state, tune_host_allocator, use_graphs
from .augment import Mix, augment_batch
from .cache import CachedFeatures
from .checkpoint import (Checkpoint, CheckpointError, Trained, build_model, cpu_state, history_frame,
                         load_checkpoint, pick_device, save_checkpoint, scoring_part, trained_from)
from .config import TrainConfig
from .errors import TrainingError
from .losses import nt_xent
from .project import clips_fingerprint
from .windows import Inputs, Windows, split_clips

MODEL_NAMES = {"ae": "AE", "mbv2": "MobileNetV2", "contrastive": "AE+CNN"}


# ---------------------------------------------------------------- one step


def _batch_loss(model, config: TrainConfig, x: torch.Tensor, x_cnn: torch.Tensor | None,
                y: torch.Tensor | None, mix: Mix | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch, and its parts for the history: sums over the batch, float64 tensors
    (added up on the device, read once an epoch).

    ``x_cnn`` is what the CNN reads when it differs from ``x`` (the
    median-filtered or masked batch); ``mix``: the batch was mixed up, and
    the loss mixes the cross-entropies of both targets.
    """
    n = len(x)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bfloat16"):
        if config.model == "ae":
            flat = x.reshape(n, -1)
            recon = model(flat).float()
            # where 1/n is exact (n a power of two: every full batch of 512) F.mse_loss has the gradient
            # of the mean of the examples' errors to the bit, by one fused kernel instead of five (a few
            # per cent of the AE's step on the CPU); the examples' errors are then for the history only
            fused = torch.is_grad_enabled() and not n & (n - 1)
            with torch.set_grad_enabled(torch.is_grad_enabled() and not fused):
                err = (recon - flat).square().mean(dim=1)
            loss = F.mse_loss(recon, flat) if fused else err.mean()
            return loss, {"loss": err.detach().sum().double()}
        if config.model == "mbv2":
            logits = model(x if x_cnn is None else x_cnn).float()
            loss = F.cross_entropy(logits, y)
            if mix is not None:
                loss = mix.lam * loss + (1.0 - mix.lam) * F.cross_entropy(logits, mix.partner)
            correct = (logits.argmax(dim=1) == y).sum()
            return loss, {"loss": loss.detach().double() * n, "accuracy": correct.double()}
        recon, logits, p, u = model(x, x_cnn)
        recon, logits, p, u = recon.float(), logits.float(), p.float(), u.float()
    mse = F.mse_loss(recon, x.reshape(n, -1))  # (recon - x)^2's mean and its gradient, to the bit
    ce = F.cross_entropy(logits, y)
    if mix is not None:
        ce = mix.lam * ce + (1.0 - mix.lam) * F.cross_entropy(logits, mix.partner)
    cl = (nt_xent(p, u, temperature=config.temperature, normalize=config.cl_normalize) if n > 1
          else recon.new_zeros(()))
    loss = mse + ce + config.cl_weight * cl
    parts = {"loss": loss, "mse": mse, "ce": ce, "cl": cl}
    out = {k: v.detach().double() * n for k, v in parts.items()}
    out["accuracy"] = (logits.argmax(dim=1) == y).sum().double()
    return loss, out


def selection_metric(config: TrainConfig) -> tuple[str, str]:
    """The history column that ``select`` ranks epochs by, and ``"min"`` or ``"max"``."""
    if config.select == "test":
        return "test_score", "max"
    return ("val_ce" if config.model == "contrastive" else "val_loss"), "min"


def _section_targets(feats: CachedFeatures, sections: list[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(sections)}
    return np.array([index[c.section] for c in feats.clips], dtype=np.int64)


@dataclass
class _Data:
    """What an epoch reads: the inputs, the training and validation windows and the targets; with
    the features on the device (``inputs.resident``), the windows' rows and targets there too."""

    inputs: Inputs
    train: Windows
    val: Windows
    targets: np.ndarray
    on_device: dict = field(default_factory=dict)

    def device_windows(self, which: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        if which not in self.on_device:
            win = getattr(self, which)
            self.on_device[which] = (torch.from_numpy(win.starts).to(device),
                                     torch.from_numpy(self.targets[win.clip]).to(device))
        return self.on_device[which]


def _run_epoch(model, config, data: _Data, which: str, order, device, *, stepper: Stepper | None = None,
               epoch: int = 0, bar=None) -> dict[str, float]:
    """One pass over the ``which`` windows (``"train"``, ``"val"``) in ``order``: training when a
    ``stepper`` is given, else evaluation."""
    win = getattr(data, which)
    totals: dict[str, torch.Tensor] = {}
    training = stepper is not None
    steps = math.ceil(len(order) / config.batch_size)
    resident = data.inputs.resident is not None
    if resident:
        starts_d, targets_d = data.device_windows(which, device)
        order_d = torch.from_numpy(order).to(device)
    model.train(training)
    with torch.set_grad_enabled(training):
        for step, b in enumerate(range(0, len(order), config.batch_size)):
            idx = order[b:b + config.batch_size]
            if resident:  # gathered on the device
                i = order_d[b:b + config.batch_size]
                x, x_cnn = data.inputs.batch(starts_d[i], device)
                y = None if config.model == "ae" else targets_d[i]
            else:
                x, x_cnn = data.inputs.batch(win.starts[idx], device)
                y = None if config.model == "ae" else torch.from_numpy(data.targets[win.clip[idx]]).to(device)
            if training:
                x, x_cnn, mix = augment_batch(config, x, x_cnn, y, epoch=epoch, step=step)
                parts = stepper(x, x_cnn, y, config.learning_rate(epoch, step, steps), mix=mix)
            else:
                _, parts = _batch_loss(model, config, x, x_cnn, y)
            for k, v in parts.items():  # a captured step's parts are overwritten by the next step
                totals[k] = totals[k] + v if k in totals else v.clone()
            if bar is not None:
                bar.update(len(idx))
    return {k: float(v) / max(1, len(order)) for k, v in totals.items()}


# ---------------------------------------------------------------- training


@dataclass
class _State:
    """Where training stands: the epochs done, their history and the best epoch so far."""

    start: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    best_epoch: int | None = None
    optimizer: dict | None = None
    model: dict | None = None
    data: str | None = None  # the training clips' fingerprint, kept in every checkpoint


def _check_inputs(feats: CachedFeatures, config: TrainConfig, machine: str | None,
                  sections: Sequence[str] | None, epoch_score) -> tuple[str, list[str]]:
    """The machine type and the classifier's sections, or an error saying what is wrong with the clips."""
    machines = sorted({c.machine for c in feats.clips})
    if len(machines) != 1:
        raise ValueError(f"one model per machine type: the clips hold {', '.join(machines)}")
    if machine is not None and machine != machines[0]:
        raise ValueError(f"the clips are of machine type {machines[0]!r}, not {machine!r}")
    machine = machines[0]
    if sorted({c.split for c in feats.clips} - {"train"}):
        raise ValueError("training clips only: some clips come from the test folders")
    clip_sections = sorted({c.section for c in feats.clips})
    sections = list(sections) if sections is not None else clip_sections
    missing = sorted(set(clip_sections) - set(sections))
    if missing:
        raise ValueError(f"sections {missing} of the clips are not among the classifier's {sections}")
    if config.model != "ae" and len(sections) < 2:
        raise ValueError(f"{machine}: a section classifier needs at least two sections, "
                         f"the training clips hold {sections}")
    if (config.select == "test" or config.track_test) and epoch_score is None:
        raise ValueError("select='test' and track_test need epoch_score, the official score on the "
                         "test clips")
    return machine, sections


def _resume(checkpoint, machine: str, sections: list[str], config: TrainConfig,
            data: str | None, progress: bool = False) -> Checkpoint | None:
    """The checkpoint to go on from (or to return when complete), None to start afresh.

    A run asked to track the test score (``track_test``) whose checkpoint did not track it, and
    differs in nothing else, starts afresh: tracking never changes the weights, so the same
    weights come out (on the same kind of device), with the test score of every epoch in the
    history.  (Chapter 6 reuses chapter 5's rows without tracking; run first, interactively, it
    would otherwise leave chapter 5 a run it refuses.)
    """
    if checkpoint is None or not Path(checkpoint).exists():
        return None
    try:
        ckpt = load_checkpoint(checkpoint, machine=machine, config=config, data=data)
    except CheckpointError:
        if not config.track_test:
            raise
        load_checkpoint(checkpoint, machine=machine, config=config.replace(track_test=False), data=data)
        if progress:  # the only difference is the tracking: train it again, tracking
            print(f"{checkpoint}: trained without tracking the test score; training it again from the "
                  f"start, tracking it (the weights come out the same)", flush=True)
        return None
    if ckpt.sections != sections:
        raise CheckpointError(f"{checkpoint}: trained on sections {ckpt.sections}, not {sections}")
    return ckpt


def _prepare(feats: CachedFeatures, config: TrainConfig, sections: list[str], progress: bool = False,
             device: torch.device | None = None) -> _Data:
    inputs = Inputs(config, feats, training=True, progress=progress, device=device)
    if config.val_split == "tail":  # Keras' validation_split: the last examples in file order
        every = inputs.windows()
        split = int(len(every) * (1 - config.val_fraction))
        train, val = every.take(np.arange(split)), every.take(np.arange(split, len(every)))
    else:
        train_ids, val_ids = split_clips(len(feats), config.val_fraction, config.seed)
        train, val = inputs.windows(train_ids), inputs.windows(val_ids)
    return _Data(inputs=inputs, train=train, val=val, targets=_section_targets(feats, sections))


def _check_finite(row: dict, model, data: _Data, epoch: int) -> None:
    """Stop at an epoch whose training or validation loss, or weights, are not finite, naming the
    cause; the epoch is not saved (the checkpoint keeps the last finite one)."""
    if all(math.isfinite(v) for k, v in row.items() if k.startswith(("train_", "val_"))) and \
            all(torch.isfinite(p).all() for p in model.parameters()):
        return
    feats = data.inputs.feats
    bad = [c.path.name for i, c in enumerate(feats.clips)
           if not np.isfinite(feats.data[feats.offsets[i]:feats.offsets[i + 1]]).all()]
    cause = (f"the features of {len(bad)} clip(s) are not finite: {', '.join(bad[:5])}" if bad else
             "every clip's features are finite: the training diverged (try a lower learning rate)")
    raise TrainingError(f"epoch {epoch + 1}: a loss or the weights are not finite; {cause}; "
                        f"nothing of this epoch was saved")


def _fit(stepper: Stepper, config: TrainConfig, data: _Data, state: _State, device, *, machine: str,
         sections: list[str], checkpoint, progress: bool, on_epoch, epoch_score) -> None:
    """Run the epochs from ``state.start`` on, recording each in ``state`` and the checkpoint."""
    model = stepper.model
    steps = math.ceil(len(data.train) / config.batch_size)
    metric, direction = selection_metric(config)
    epochs = tqdm(range(state.start, config.epochs), desc=f"{MODEL_NAMES[config.model]} {machine}",
                  unit="epoch", initial=state.start, total=config.epochs, disable=not progress)
    for epoch in epochs:
        order = np.random.default_rng([config.seed, 11, epoch]).permutation(len(data.train))
        with tqdm(total=len(order), desc=f"epoch {epoch + 1}", unit="ex", leave=False,
                  disable=not progress or steps < 20) as bar:
            tr = _run_epoch(model, config, data, "train", order, device, stepper=stepper, epoch=epoch, bar=bar)
        row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in tr.items()}}
        if len(data.val):
            va = _run_epoch(model, config, data, "val", np.arange(len(data.val)), device)
            row.update({f"val_{k}": v for k, v in va.items()})
        _check_finite(row, model, data, epoch)
        row["lr"] = config.learning_rate(epoch, steps - 1, steps)  # at the epoch's last step
        if config.select == "test" or config.track_test:
            model.eval()
            row["test_score"] = float(epoch_score(scoring_part(model)))
        state.history.append(row)
        value = row.get(metric)
        if config.select != "last" and value is not None:
            previous = None if state.best_epoch is None else state.history[state.best_epoch - 1][metric]
            if previous is None or (value < previous if direction == "min" else value > previous):
                state.best, state.best_epoch = cpu_state(model), epoch + 1
        epochs.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"})
        if checkpoint is not None and epoch + 1 < config.epochs:
            save_checkpoint(checkpoint, Checkpoint(
                machine=machine, sections=sections, config=config, epoch=epoch + 1,
                model=cpu_state(model), optimizer=optimizer_state(stepper.optimizer), history=state.history,
                best=state.best, best_epoch=state.best_epoch, data=state.data))
        if on_epoch is not None:
            on_epoch(row)


def train(feats: CachedFeatures, config: TrainConfig, *, machine: str | None = None,
          sections: Sequence[str] | None = None, checkpoint: str | Path | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          on_epoch: Callable[[dict], None] | None = None,
          epoch_score: Callable[[torch.nn.Module], float] | None = None) -> Trained:
    """Train one network on the training clips of one machine type.

    Parameters
    ----------
    feats : the training clips' log-mel spectrograms, or their waveforms for
        the chunk front end (:func:`asdlib.windows.load_inputs`).
    config : the configuration (:func:`asdlib.config.baseline_config`,
        :func:`asdlib.config.contrastive_config`).
    machine : the machine type (default: that of the clips; mixing types is an error).
    sections : the classifier's sections, in output order (default: the sorted sections of the clips).
    checkpoint : file written after every epoch.  If it exists, it must match
        ``machine`` and ``config``: a complete one is returned as is, an
        unfinished one is resumed.
    device : ``"cpu"``, ``"cuda"``, ...; default CUDA when present.
    on_epoch : called with each epoch's history row (after its checkpoint is written).
    epoch_score : for ``select="test"`` and ``track_test``: the official
        score of a scoring network on the test clips, called after every epoch.

    Returns
    -------
    The network used for scoring (for the contrastive framework: its
    MobileNetV2 alone), with the weights of the selected epoch.
    """
    machine, sections = _check_inputs(feats, config, machine, sections, epoch_score)
    device = pick_device(device)
    data_id = clips_fingerprint(feats.clips) if checkpoint is not None else None
    ckpt = _resume(checkpoint, machine, sections, config, data_id, progress)
    if ckpt is not None and ckpt.complete:
        return trained_from(ckpt, device)
    torch.manual_seed(config.seed)
    model = build_model(config, len(sections))
    state = _State(data=data_id)
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        state = _State(start=ckpt.epoch, history=list(ckpt.history), best=ckpt.best,
                       best_epoch=ckpt.best_epoch, optimizer=ckpt.optimizer, data=data_id)
    model.to(device)
    if device.type == "cpu":
        tune_host_allocator()
    if config.model != "ae" and (device.type == "cpu" or config.precision == "bfloat16"):
        model.to(memory_format=torch.channels_last)
    graphs = use_graphs(device)
    optimizer = make_optimizer(model, config.lr, device, graphs=graphs, state=state.optimizer)
    data = _prepare(feats, config, sections, progress, device)
    stepper = Stepper(model, optimizer, partial(_batch_loss, model, config), batch_size=config.batch_size,
                      graphs=graphs)
    _fit(stepper, config, data, state, device, machine=machine, sections=sections,
         checkpoint=checkpoint, progress=progress, on_epoch=on_epoch, epoch_score=epoch_score)
    return _finish(model, config, state, machine=machine, sections=sections, checkpoint=checkpoint)


def _finish(model, config: TrainConfig, state: _State, *, machine: str, sections: list[str],
            checkpoint) -> Trained:
    """Load the selected epoch's weights, save the complete checkpoint, return the scoring network."""
    if state.best is not None:
        model.load_state_dict(state.best)
    net = scoring_part(model).eval()
    selected = state.best_epoch if state.best is not None else config.epochs
    if checkpoint is not None:
        views = ({k: v for k, v in cpu_state(model).items() if not k.startswith("cnn.")}
                 if net is not model else None)
        save_checkpoint(checkpoint, Checkpoint(
            machine=machine, sections=sections, config=config, epoch=config.epochs,
            model=cpu_state(net), history=state.history, best_epoch=selected, views=views,
            data=state.data))
    return Trained(model=net, machine=machine, sections=sections, config=config,
                   history=history_frame(state.history), epoch=selected)
