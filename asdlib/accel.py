"""Speed: training on a GPU without waiting for the host (the features on the device, one step as a
graph), and a CPU that does not page-fault through every step.

At the method's batch sizes (512 AE vectors, 32 MobileNetV2 patches) a
training step is hundreds of small kernels, and a GPU spends most of it
waiting for Python to launch them: on an H200 the same MobileNetV2 step
trained 3,100 patches/s at batch 32 and 19,000 at batch 1,024.  The batch
sizes are the method's, so the overhead is cut instead:

* :class:`Resident`: the rows of a feature cache copied once to the device
  (a full-size machine type's log-mel is about 0.5 GB in float32), so that a
  batch is gathered there by two kernels, with no host gather and no copy.
* :class:`Stepper`: forward, backward and Adam's update of a full batch
  recorded once as a CUDA graph and replayed for every full batch (the
  last, shorter batch of an epoch, and augmented batches, run as recorded
  Python).  Adam keeps its state and learning rate on the device
  (``capturable=True``); the learning rate is written into it before each
  step.

:func:`asdlib.training.train` uses both on CUDA, unless ``ASDLIB_CUDA_GRAPHS=0``
(graphs) or ``ASDLIB_RESIDENT=0`` (the features stay in host memory), and
never on the CPU, whose arithmetic is unchanged.  The results equal eager CUDA's
up to floating point (Adam's bias corrections are then computed in float32 on
the device instead of in Python's float64; ``bench/gpu.py`` measures the
difference).  A graph that cannot be captured is reported once and the run
goes on eagerly, from the same weights.

On the CPU, :func:`tune_host_allocator` keeps glibc from handing every
large tensor of a step (a MobileNetV2 activation is up to 12 MB at batch 32)
back to the system when it is freed and from faulting its pages in anew
when the next step allocates it: by default thousands of page faults a
step (1.04x faster MobileNetV2 training on the 2-core machine, the median of
alternating runs).  Training and scoring call it on the CPU;
``ASDLIB_MALLOC_TUNING=0`` leaves the allocator as it was.
"""
from __future__ import annotations

import ctypes
import os
import platform
import warnings
from typing import Callable

import numpy as np
import torch

#: Share of the device's free memory that one run's resident features may take (several runs
#: may share a GPU).
RESIDENT_SHARE = 0.2


def _enabled(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


#: glibc's ``mallopt`` parameters and the values :func:`tune_host_allocator` gives them: blocks up to
#: 32 MB (glibc's largest threshold) come from the heap, not from a fresh ``mmap``, and up to
#: 256 MB freed at the heap's top stay with the process.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HOST_ALLOCATOR = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 256 << 20}
_host_allocator_tuned: bool | None = None


def tune_host_allocator() -> bool:
    """Set glibc's allocator for training and scoring on the CPU (once per process); whether it is.

    Large tensors are then reused from the heap instead of being mapped,
    faulted in and unmapped at every step (about 3,000 page faults a
    MobileNetV2 step at batch 32 become about 100); the numbers computed are
    the same.  The peak resident memory is unchanged (it is that of the
    largest step), but freed memory is returned to the system less eagerly.
    Nothing is done off glibc, or with ``ASDLIB_MALLOC_TUNING=0``.
    """
    global _host_allocator_tuned
    if _host_allocator_tuned is None:
        _host_allocator_tuned = False
        if _enabled("ASDLIB_MALLOC_TUNING") and platform.system() == "Linux" \
                and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL("libc.so.6")
                _host_allocator_tuned = all(libc.mallopt(k, v) == 1 for k, v in HOST_ALLOCATOR.items())
            except (OSError, AttributeError):
                pass
    return _host_allocator_tuned


def use_graphs(device: torch.device) -> bool:
    """Whether training on ``device`` captures its steps as CUDA graphs."""
    return device.type == "cuda" and _enabled("ASDLIB_CUDA_GRAPHS")


class Resident:
    """The rows of a :class:`asdlib.cache.CachedFeatures` on a device, gathered there."""

    def __init__(self, feats, device: torch.device, *, chunk_rows: int = 1 << 16):
        data = feats.data
        self.data = torch.empty(data.shape, dtype=torch.from_numpy(np.array(data[:1])).dtype, device=device)
        for a in range(0, len(data), chunk_rows):  # a bounded host buffer, whatever the cache's size
            self.data[a:a + chunk_rows].copy_(torch.from_numpy(np.array(data[a:a + chunk_rows])))
        self.scale = float(feats.scale)
        self.device = device

    @staticmethod
    def fits(feats, device: torch.device, *, copies: int = 1) -> bool:
        """Whether ``copies`` caches the size of ``feats`` may be made resident on ``device`` (CUDA,
        allowed, small enough)."""
        if device.type != "cuda" or not _enabled("ASDLIB_RESIDENT"):
            return False
        free, _ = torch.cuda.mem_get_info(device)
        return copies * feats.data.nbytes <= RESIDENT_SHARE * free

    def gather(self, starts: torch.Tensor, width: int) -> torch.Tensor:
        """As :func:`asdlib.windows.gather`, for ``starts`` on the device: float32, waveforms scaled."""
        rows = starts[:, None] + torch.arange(width, device=self.device)
        block = self.data[rows]
        return block.float() * self.scale if self.scale != 1.0 else block.float()


def make_optimizer(model: torch.nn.Module, lr: float, device: torch.device, *, graphs: bool,
                   state: dict | None = None) -> torch.optim.Adam:
    """Adam over ``model``'s parameters, from ``state`` when given; with its state and learning rate
    on the device when its steps are to be captured.

    On the CPU the update runs over all parameters at once (``foreach``):
    the same arithmetic as the one-tensor-at-a-time loop that PyTorch
    chooses there by default, to the bit, with fewer calls from Python (the
    CPU's kernels still run tensor by tensor).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if state is not None:
        optimizer.load_state_dict(state)
    if device.type == "cpu":
        for group in optimizer.param_groups:
            group["foreach"] = True
    if graphs:
        for group in optimizer.param_groups:
            group["capturable"] = True
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
        for st in optimizer.state.values():
            if "step" in st:
                st["step"] = st["step"].to(device=device, dtype=torch.float32)
    return optimizer


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """The optimiser's state as a checkpoint keeps it: a plain learning rate, not capturable, so
    that it resumes on any device."""
    state = optimizer.state_dict()
    groups = []
    for group in state["param_groups"]:
        group = dict(group)
        if torch.is_tensor(group.get("lr")):
            group["lr"] = float(group["lr"])
        group["capturable"] = False
        group["foreach"] = None  # each device picks its own
        groups.append(group)
    return {"state": state["state"], "param_groups": groups}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class Stepper:
    """One training step of a batch: ``loss_fn(x, x_cnn, y, mix) -> (loss, parts)``, backward, Adam.

    With ``graphs``, full batches (``batch_size`` examples, not mixed up)
    replay a CUDA graph captured at the first one; the returned parts are
    then the graph's own output tensors, valid until the next step (add them
    up before it).  Capturing runs three warm-up steps (cuDNN's choices,
    Adam's state), then puts the weights, batch-norm statistics and Adam's
    state back as they were, so the first replayed step starts where an
    eager one would.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable, *, batch_size: int, graphs: bool):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.batch_size, self.graphs = batch_size, graphs
        self.graph = None
        self.static: tuple | None = None
        self.parts: dict[str, torch.Tensor] | None = None

    def __call__(self, x, x_cnn, y, lr: float, *, mix=None) -> dict[str, torch.Tensor]:
        set_lr(self.optimizer, lr)
        if self.graphs and mix is None and len(x) == self.batch_size:
            if self.graph is None:
                self._capture(x, x_cnn, y)
            if self.graph is not None:
                for static, new in zip(self.static, (x, x_cnn, y)):
                    if static is not None:
                        static.copy_(new)
                self.graph.replay()
                return self.parts
        return self._eager(x, x_cnn, y, mix)

    def _eager(self, x, x_cnn, y, mix=None) -> dict[str, torch.Tensor]:
        loss, parts = self.loss_fn(x, x_cnn, y, mix)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return parts

    def _snapshot(self) -> tuple[list, dict]:
        tensors = [t.detach().clone() for t in self.model.state_dict().values()]
        opt = {p: {k: v.clone() for k, v in st.items() if torch.is_tensor(v)}
               for p, st in self.optimizer.state.items()}
        return tensors, opt

    def _restore(self, snap: tuple[list, dict]) -> None:
        tensors, opt = snap
        with torch.no_grad():
            for t, saved in zip(self.model.state_dict().values(), tensors):
                t.copy_(saved)
            for p, st in self.optimizer.state.items():  # state made by the warm-up: a fresh Adam's
                for k, v in st.items():
                    if torch.is_tensor(v) and p in opt:
                        v.copy_(opt[p][k])
                    elif torch.is_tensor(v):
                        v.zero_()

    def _capture(self, x, x_cnn, y) -> None:
        snap = self._snapshot()
        static = tuple(None if t is None else t.clone() for t in (x, x_cnn, y))
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._eager(*static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph):
                loss, parts = self.loss_fn(*static)
                loss.backward()
                self.optimizer.step()
            self.graph, self.static, self.parts = graph, static, parts
        except Exception as err:  # noqa: BLE001: any capture failure falls back to eager steps
            self.graphs = False
            warnings.warn(f"training goes on without CUDA graphs: the step could not be captured "
                          f"({type(err).__name__}: {err})", RuntimeWarning, stacklevel=3)
        finally:
            self._restore(snap)
