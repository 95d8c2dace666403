"""Write a synthetic data set in the exact DCASE 2021 Task 2 layout.

Every clip depends only on the seed and its own identity (machine, section,
domain, split, label, index), so a smaller profile's clips are the same
files as in a larger one and a re-run is byte-identical.  Clips are written
atomically; a re-run completes what is missing and keeps finished clips; a
folder that holds files the generator did not make is refused.  A synthesis
holds a lock on its folder (a second one waits, then finds the clips made)
and records what it writes in :data:`STATE` (profile, machine types,
evaluation part, finished or not), so that a reader can tell a folder whose
synthesis was interrupted, or still runs, from a finished one
(:func:`synth_state`; :func:`asdlib.project.chapter_data` completes it).
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
from tqdm.auto import tqdm

from .._atomic import exclusive_lock, is_temporary, write_text_atomic
from ..audio import load_audio, write_audio
from ..errors import SynthError
from ..layout import (CLIP_SECONDS, DOMAINS, GROUND_TRUTH_DIR, MACHINE_TYPES, SAMPLE_RATE,
                      LayoutError, clip_name, ground_truth_name, list_clips, parse_clip_name)
from . import sounds as S
from .machines import MODELS, Condition, Fault, section_offsets, section_step

#: 2: per-type fault_scale (ToyCar's faults calibrated); 3: operating-point drift within a section,
#: sections spaced as instances of one model, microphone/room shifts, factory backgrounds, faults
#: that keep the machine's level, calibrated against the real data's baselines (book, "The data");
#: 4: version 3 with the pump's instances further apart (their stroke rates and flow noise), the
#: gearbox and valve recorded further from the machine in their target domains (a per-type
#: ``target_snr_drop``), the valve's faults stronger and its level lower (its clicks were clipped in
#: two clips of three); the other types' clips are byte for byte those of version 3
SYNTH_VERSION = 4
MARKER = ".asdlib-synth.json"
#: What the last synthesis of a folder wrote (profile, machine types, evaluation part) and whether it
#: finished; beside :data:`MARKER`, which names the generator and stays as it is (a grid's record of
#: its data compares it).
STATE = ".asdlib-synth-state.json"
#: The lock a synthesis holds on its folder.
LOCK = ".asdlib-synth-lock"
DEV_SECTIONS = ("00", "01", "02")
EVAL_SECTIONS = ("03", "04", "05")
_SPLIT_ID = {("train", "normal"): 0, ("test", "normal"): 1, ("test", "anomaly"): 2,
             ("test", "unknown"): 3}


@dataclass(frozen=True)
class Profile:
    """Clip counts per section: training clips per domain, test clips per domain and label."""

    name: str
    train_source: int
    train_target: int
    test_normal: int
    test_anomaly: int


PROFILES = {
    "tiny": Profile("tiny", train_source=6, train_target=2, test_normal=3, test_anomaly=3),
    "book": Profile("book", train_source=50, train_target=3, test_normal=20, test_anomaly=20),
    "full": Profile("full", train_source=1000, train_target=3, test_normal=100, test_anomaly=100),
}


def get_profile(name: str, **overrides: int | None) -> Profile:
    """A named profile with some counts overridden (None keeps the profile's)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    for k, v in changes.items():
        if v < 0:
            raise ValueError(f"{k} must be >= 0, got {v}")
    return replace(PROFILES[name], **changes)


@dataclass(frozen=True)
class ClipSpec:
    """Identity of one synthetic clip; with the seed it determines the file's bytes."""

    dataset: str  # "dev" or "eval"
    machine: str
    section: str
    domain: str
    split: str
    label: str  # normal, anomaly, or unknown (evaluation test clips)
    index: int
    attributes: str

    @property
    def relpath(self) -> str:
        folder = "train" if self.split == "train" else f"{self.domain}_test"
        name = clip_name(section=self.section, domain=self.domain, split=self.split,
                         label=self.label, index=self.index, attributes=self.attributes)
        return f"{self.dataset}_data/{self.machine}/{folder}/{name}"


@dataclass(frozen=True)
class SectionSetup:
    """A section's machine instance and its source and target operating conditions."""

    instance: dict
    shift: str  # what the target domain changes: speed, load, room (microphone) or noise
    conditions: dict  # domain -> Condition
    snr_db: dict  # domain -> machine-to-background ratio, dB
    gain: float


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _mid(machine: str) -> int:
    return MACHINE_TYPES.index(machine) if machine in MACHINE_TYPES else 100 + sum(map(ord, machine))


def attributes(cond: Condition) -> str:
    """The attribute part of a file name for an operating condition."""
    return (f"spd_{round(cond.speed * 10):02d}_load_{round(cond.load * 10):02d}_mic_{cond.room}"
            f"_noise_{cond.noise}")


@functools.lru_cache(maxsize=64)
def section_setup(seed: int, machine: str, section: str) -> SectionSetup:
    """Draw the machine instance of a section and its domain shift (seed and identity only).

    The instances of a type sit at :func:`asdlib.synth.machines.section_offsets`
    steps of ``spread`` on its main parameter (two sections close, one
    apart); the target domain changes one condition, the type's
    ``shifts`` in turn: the speed by 20-25 %, the load by a factor of 2,
    the microphone and room, or the background (busier, 6 dB louder); and
    every target domain is recorded further below its background (the
    type's ``target_snr_drop``: 4 dB, 8 for the gearbox and the valve).
    """
    model = MODELS[machine]
    sec = int(section)
    offsets = section_offsets(_rng(seed, _mid(machine), 98, sec // 3), 3)
    rng = _rng(seed, _mid(machine), sec, 99)
    instance = model.instance(rng, section_step(float(offsets[sec % 3]), model.spread))
    shift = model.shifts[sec % len(model.shifts)]
    source = Condition(speed=1.0, load=1.0, room="A", noise="A")
    # the sections of a type are recorded in one place, at one level: only the machines differ
    place = _rng(seed, _mid(machine), 96)
    snr = float(place.uniform(*model.snr_db))
    if shift == "speed":
        target = replace(source, speed=float(rng.choice(model.speed_shift)))
    elif shift == "load":
        target = replace(source, load=float(rng.choice([0.5, 2.0])))
    elif shift == "room":
        target = replace(source, room="B")
    else:
        target = replace(source, noise="B")
    # every target domain is recorded further from the machine (the type's target_snr_drop: 4 dB,
    # 8 for some), a busier one 6 dB more
    target_snr = snr - model.target_snr_drop - (6 if shift == "noise" else 0)
    return SectionSetup(instance=instance, shift=shift, conditions={"source": source, "target": target},
                        snr_db={"source": snr, "target": target_snr},
                        gain=float(place.uniform(*model.gain)))


@functools.lru_cache(maxsize=128)
def room_response(seed: int, machine: str, section: str, room: str) -> np.ndarray:
    """The microphone and room of a section's recordings: an impulse response, as its real FFT at
    a size that holds a whole clip convolved with it.

    A direct path, a few early reflections and a diffuse tail decaying
    exponentially (reverberation time 0.15-0.3 s in room ``"A"``, 0.35-0.6 s
    in ``"B"``), through a microphone whose response tilts by up to 6 dB per
    octave (``"B"`` tilts the other way).
    """
    # room A is the type's recording place (all its sections); room B a section's target domain
    rng = _rng(seed, _mid(machine), 97) if room == "A" else _rng(seed, _mid(machine), int(section), 97, ord(room))
    sr = SAMPLE_RATE
    rt60 = rng.uniform(0.15, 0.3) if room == "A" else rng.uniform(0.35, 0.6)
    t = np.arange(int(rt60 * sr)) / sr
    ir = 0.25 * rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60) * (t > 0.004)
    ir[0] = 1.0
    for delay, gain in zip(rng.uniform(0.002, 0.02, 3), rng.uniform(0.2, 0.5, 3)):
        ir[int(delay * sr)] += gain
    tilt = rng.uniform(-3, 0) if room == "A" else rng.uniform(3, 6) * rng.choice([-1, 1])
    f = np.fft.rfftfreq(len(ir), 1 / sr)
    response = (np.maximum(f, 500) / 500) ** (tilt / 6.02)  # dB per octave above 500 Hz
    ir = np.fft.irfft(np.fft.rfft(ir) * response, len(ir))
    size = scipy.fft.next_fast_len(int(CLIP_SECONDS * sr) + len(ir) - 1, real=True)
    out = scipy.fft.rfft(ir, size)
    out.flags.writeable = False
    return out


def background(rng: np.random.Generator, n: int, sr: int, kind: str) -> np.ndarray:
    """A factory background at unit RMS, drawn anew for every clip.

    ``"A"``, a hall: ventilation noise, the hum of the mains and a distant
    machine, with an occasional impact; ``"B"``, a busy shop floor: the same
    with a nearby machine, impacts and voices (band noise modulated at a
    syllable rate).  The components' levels vary from clip to clip.
    """
    hall = S.shaped_noise(rng, n, sr, lo=20, hi=7500, slope=1.2)
    f0 = rng.uniform(80, 400)
    other = S.harmonics(S.phase_of(f0 * (1 + 0.003 * S.smooth_random(rng, n, sr, rate=0.5)), n, sr, rng),
                        [1, 0.6, 0.4, 0.25], rng, f0=f0, sr=sr)
    hum = np.sin(2 * np.pi * 100 * np.arange(n) / sr + rng.uniform(0, 2 * np.pi))
    busy = kind == "B"
    parts = [(1.0, hall), (rng.uniform(0.2, 0.8) * (2.0 if busy else 0.5), other),
             (rng.uniform(0.05, 0.2), hum)]
    if busy or rng.uniform() < 0.3:  # impacts: tools, doors, parts dropped
        k = int(rng.poisson((3.0 if busy else 0.5) * n / sr)) + 1
        kernel = S.resonance(sr, freq=rng.uniform(300, 1500), decay_s=0.02)
        parts.append((rng.uniform(0.3, 1.0), S.events(n, sr, rng.uniform(0, n / sr, k), rng.uniform(0.3, 1.0, k),
                                                      kernel)))
    if busy:
        voices = S.shaped_noise(rng, n, sr, lo=300, hi=3000) * np.maximum(S.smooth_random(rng, n, sr, rate=4), 0)
        parts.append((rng.uniform(0.3, 0.8), voices))
    return S.unit_rms(sum(level * S.unit_rms(x) for level, x in parts))


def render_clip(seed: int, spec: ClipSpec, *, severity_scale: float = 1.0) -> np.ndarray:
    """Render one clip: float64 in [-1, 1], shape=(160000,) for 10 s at 16 kHz.

    The machine at this clip's operating point (speed and load drawn around
    the domain's condition), its fault (an anomalous clip: a kind drawn by
    the type's frequencies, a severity uniform in [0.2, 1] times the type's
    scale), at unit RMS; then the section's microphone and room, the
    factory background at the section's ratio (varied by 1.5 dB from clip
    to clip) and the recording level (varied by 1.5 dB).
    """
    setup = section_setup(seed, spec.machine, spec.section)
    label = spec.label
    if label == "unknown":
        label = eval_test_label(seed, spec)
    rng = _rng(seed, _mid(spec.machine), int(spec.section), DOMAINS.index(spec.domain),
               _SPLIT_ID[(spec.split, spec.label)], spec.index)
    model = MODELS[spec.machine]
    base = setup.conditions[spec.domain]
    cond = replace(base, speed=base.speed * (1 + rng.uniform(-model.drift, model.drift)),
                   load=base.load * (1 + rng.uniform(-2 * model.drift, 2 * model.drift)))
    fault = None
    if label == "anomaly":
        kinds = list(model.faults)
        weights = np.array([model.faults[k] for k in kinds])
        fault = Fault(kind=str(rng.choice(kinds, p=weights / weights.sum())),
                      severity=float(min(rng.uniform(0.2, 1.0) * model.fault_scale * severity_scale, 1.0)))
    n, sr = int(CLIP_SECONDS * SAMPLE_RATE), SAMPLE_RATE
    x = S.unit_rms(model.render(rng, setup.instance, cond, fault, n, sr))
    room = room_response(seed, spec.machine, spec.section, cond.room)
    x = S.unit_rms(S.convolve(x, room, 2 * (len(room) - 1)))
    snr = setup.snr_db[spec.domain] + rng.normal(0, 1.5)
    y = x + 10 ** (-snr / 20) * background(rng, n, sr, cond.noise)
    return np.clip(y * setup.gain * 10 ** (rng.normal(0, 1.5) / 20), -1, 1)


def eval_test_label(seed: int, spec: ClipSpec) -> str:
    """The hidden label of an evaluation test clip: one anomaly in each pair of indices."""
    coin = int(_rng(seed, _mid(spec.machine), int(spec.section), DOMAINS.index(spec.domain),
                    77, spec.index // 2).integers(2))
    return "anomaly" if spec.index % 2 == coin else "normal"


def plan(seed: int, profile: Profile, machines: list[str], *, with_eval: bool = False) -> list[ClipSpec]:
    """Every clip a run writes, in a fixed order."""
    specs = []
    for dataset, secs in (("dev", DEV_SECTIONS), ("eval", EVAL_SECTIONS)):
        if dataset == "eval" and not with_eval:
            continue
        if dataset == "eval" and profile.test_normal != profile.test_anomaly:
            raise ValueError("the evaluation layout needs as many anomalous as normal test clips "
                             f"(got {profile.test_normal} and {profile.test_anomaly})")
        for machine in machines:
            for section in secs:
                setup = section_setup(seed, machine, section)
                for domain in DOMAINS:
                    attr = attributes(setup.conditions[domain])
                    n_train = profile.train_source if domain == "source" else profile.train_target
                    specs += [ClipSpec(dataset, machine, section, domain, "train", "normal", i, attr)
                              for i in range(n_train)]
                    if dataset == "dev":
                        for label, count in (("normal", profile.test_normal),
                                             ("anomaly", profile.test_anomaly)):
                            specs += [ClipSpec(dataset, machine, section, domain, "test", label, i, "")
                                      for i in range(count)]
                    else:
                        specs += [ClipSpec(dataset, machine, section, domain, "test", "unknown", i, "")
                                  for i in range(profile.test_normal + profile.test_anomaly)]
    return specs


def _worker() -> None:
    """A clip-writing process: fewer page faults, and an interrupt left to the main process, which
    stops the workers itself (a worker that died of Ctrl-C left the pool waiting for it forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _fewer_page_faults()


def _fewer_page_faults() -> None:
    """Keep freed clip-sized buffers in the heap instead of unmapping them (glibc only).

    Rendering allocates many 1-2 MB temporaries per clip; glibc serves each
    with a fresh mmap and page-faults it in, which cost a quarter of the run
    time.  Raising the mmap and trim thresholds reuses the memory instead.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _write_one(args: tuple[int, str, ClipSpec]) -> str:
    seed, out, spec = args
    path = Path(out) / spec.relpath
    if path.exists():
        return "kept"
    write_audio(path, render_clip(seed, spec))
    # read back through the layout reader and the audio loader
    clip = parse_clip_name(path)
    y = load_audio(path)
    if (clip.section, clip.domain, clip.split, clip.label, clip.index) != \
            (spec.section, spec.domain, spec.split, spec.label, spec.index) or y.shape != (160_000,):
        raise LayoutError(f"{path}: written clip does not read back as it was specified")
    return "written"


def _check_folder(out: Path, seed: int) -> None:
    """Refuse a folder that holds files this generator did not make, or made with another seed
    (reading only: nothing is written before a folder passes)."""
    marker = out / MARKER
    if not out.exists() or not any(p.name not in (LOCK, STATE) for p in out.iterdir()):
        return
    if not marker.is_file():
        raise SynthError(f"{out}: folder is not empty and was not made by 'asdlib synth' "
                              f"(no {MARKER}); choose an empty or new folder")
    try:
        info = json.loads(marker.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SynthError(f"{marker}: unreadable marker of 'asdlib synth' ({err}); "
                              f"use another folder") from None
    if info.get("seed") != seed or info.get("version") != SYNTH_VERSION:
        raise SynthError(f"{out}: made by 'asdlib synth' with seed {info.get('seed')} "
                              f"(version {info.get('version')}); this run asks for seed {seed} "
                              f"(version {SYNTH_VERSION}): use another folder, or delete this one "
                              f"(for the book's data: make clean)")
    foreign = []
    for path in out.rglob("*"):
        rel = path.relative_to(out)
        if path.is_dir() or path == marker or str(rel) in (LOCK, STATE) or is_temporary(path):
            continue
        if not _is_ours(seed, rel):
            foreign.append(str(rel))
    if foreign:
        raise SynthError(f"{out}: holds {len(foreign)} file(s) that 'asdlib synth' did not make, "
                              f"e.g. {', '.join(sorted(foreign)[:5])}; remove them or use another folder")


def _is_ours(seed: int, rel: Path) -> bool:
    parts = rel.parts
    if len(parts) == 2 and parts[0] == GROUND_TRUTH_DIR:
        return parts[1].startswith("ground_truth_") and parts[1].endswith(".csv")
    if len(parts) != 4 or parts[0] not in ("dev_data", "eval_data") or parts[1] not in MODELS:
        return False
    try:
        clip = parse_clip_name(rel)
    except LayoutError:
        return False
    secs = DEV_SECTIONS if parts[0] == "dev_data" else EVAL_SECTIONS
    if clip.section not in secs:
        return False
    expected = attributes(section_setup(seed, clip.machine, clip.section).conditions[clip.domain])
    return clip.attributes == (expected if clip.split == "train" else "")


def synthesize(out: str | Path, *, profile: Profile | str = "book", seed: int = 0,
               machines: list[str] | None = None, with_eval: bool = False,
               workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Write (or complete) a synthetic data set under ``out``; return the table of what it holds.

    Returns a DataFrame with one row per (dataset, machine, section, domain,
    split, label) and the clip counts: ``written`` this run, ``kept`` from
    an earlier run.
    """
    out = Path(out)
    profile = get_profile(profile) if isinstance(profile, str) else profile
    machines = list(MACHINE_TYPES) if not machines else list(machines)
    unknown = [m for m in machines if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown machine type(s) {unknown}; choose from {', '.join(MACHINE_TYPES)}")
    specs = plan(seed, profile, machines, with_eval=with_eval)
    _check_folder(out, seed)
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out / LOCK):  # another synthesis of this folder finishes first
        _check_folder(out, seed)  # as that one left it
        for path in out.rglob("*"):
            if is_temporary(path) and path.is_file():
                path.unlink()  # left by an interrupted run: never a finished clip
        write_text_atomic(out / MARKER, json.dumps({"generator": "asdlib synth", "version": SYNTH_VERSION,
                                                    "seed": seed}, indent=2) + "\n")
        state = {"profile": asdict(profile), "machines": machines, "with_eval": with_eval}
        write_text_atomic(out / STATE, json.dumps({**state, "complete": False}, indent=2) + "\n")
        table = _synthesize(out, seed, specs, with_eval, workers, progress)
        write_text_atomic(out / STATE, json.dumps({**state, "complete": True}, indent=2) + "\n")
    return table


def synth_state(root: str | Path) -> dict | None:
    """What the last synthesis of ``root`` (a folder holding ``dev_data/``) wrote: ``profile`` (a
    :class:`Profile`), ``machines``, ``with_eval`` and ``complete`` (False while it runs, or after it
    was interrupted); None for a folder no synthesis recorded (other data, or made before the record
    was kept)."""
    path = Path(root) / STATE
    try:
        state = json.loads(path.read_text())
        missing = {"profile", "machines", "with_eval", "complete"} - set(state)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
        return {**state, "profile": Profile(**state["profile"])}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise SynthError(f"{path}: unreadable record of 'asdlib synth' ({err}); remove it and synthesise "
                         f"the folder again") from None


def _synthesize(out: Path, seed: int, specs: list, with_eval: bool, workers: int | None,
                progress: bool) -> pd.DataFrame:
    workers = workers or min(os.cpu_count() or 1, 8)
    jobs = [(seed, str(out), s) for s in specs]
    bar = tqdm(total=len(jobs), desc="synth", unit="clip", disable=not progress)
    if workers > 1:
        pool = ProcessPoolExecutor(workers, initializer=_worker)
        try:
            status = []
            for st in pool.map(_write_one, jobs, chunksize=8):
                status.append(st)
                bar.update()
        except BaseException:
            # an interrupt (Ctrl-C, or Jupyter's "Interrupt the kernel", which reaches this process alone) or
            # a failed clip: the queued clips are dropped and the workers finish the few they are writing.
            # Leaving the pool by `with` waited for every queued clip, and a worker that died of Ctrl-C hung it;
            # multiprocessing.Pool.terminate hung under load (make test)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    else:
        _fewer_page_faults()
        status = []
        for job in jobs:
            status.append(_write_one(job))
            bar.update()
    bar.close()
    removed = _remove_surplus(out, seed, specs)
    if with_eval:
        _write_ground_truth(out, seed, [s for s in specs if s.dataset == "eval" and s.split == "test"])
    # every folder written reads back through the layout reader
    for dataset, machine, split in sorted({(s.dataset, s.machine, s.split) for s in specs}):
        list_clips(out / f"{dataset}_data", machine, split=split)
    rows = [dict(dataset=s.dataset, machine=s.machine, section=s.section, domain=s.domain,
                 split=s.split, label=s.label, status=st) for s, st in zip(specs, status)]
    table = (pd.DataFrame(rows).groupby(["dataset", "machine", "section", "domain", "split", "label"],
                                        sort=False)["status"]
             .agg(written=lambda s: int((s == "written").sum()), kept=lambda s: int((s == "kept").sum()))
             .reset_index())
    table.attrs["removed"] = removed
    return table


def _remove_surplus(out: Path, seed: int, specs: list[ClipSpec]) -> int:
    """Remove this generator's clips beyond what ``specs`` ask for, in the machine folders they
    write (an earlier run of a larger profile), so that the folder holds what the summary reports.
    Files of other machine types, and files the generator did not make, are left alone."""
    wanted = {s.relpath for s in specs}
    removed = 0
    for dataset, machine in sorted({(s.dataset, s.machine) for s in specs}):
        for path in sorted((out / f"{dataset}_data" / machine).rglob("*.wav")):
            rel = path.relative_to(out)
            if str(rel) not in wanted and _is_ours(seed, rel):
                path.unlink()
                removed += 1
    return removed


def _write_ground_truth(out: Path, seed: int, specs: list[ClipSpec]) -> None:
    cells: dict[tuple[str, str, str], list[str]] = {}
    for s in specs:
        name = Path(s.relpath).name
        cells.setdefault((s.machine, s.section, s.domain), []).append(
            f"{name},{1 if eval_test_label(seed, s) == 'anomaly' else 0}")
    for (machine, section, domain), rows in cells.items():
        write_text_atomic(out / GROUND_TRUTH_DIR / ground_truth_name(machine, section, domain),
                          "\n".join(rows) + "\n")


def summary(table: pd.DataFrame) -> str:
    """A compact text table: clips per machine type and kind, with written/kept totals."""
    t = table.copy()
    t["kind"] = t["split"] + " " + t["domain"] + np.where(t["split"] == "test", " " + t["label"], "")
    t["clips"] = t["written"] + t["kept"]
    wide = t.pivot_table(index=["dataset", "machine"], columns="kind", values="clips",
                         aggfunc="sum", fill_value=0, sort=False)
    wide["total"] = wide.sum(axis=1)
    return (wide.to_string() + f"\n\n{int(t['written'].sum())} clips written, "
            f"{int(t['kept'].sum())} kept from an earlier run"
            + (f", {table.attrs['removed']} removed (beyond what this run asks for)." if table.attrs.get("removed")
               else "."))


__all__ = ["PROFILES", "Profile", "ClipSpec", "get_profile", "plan", "render_clip",
           "section_setup", "section_offsets", "synthesize", "summary"]
