"""Sound models of the seven DCASE 2021 machine types.

Each model draws a machine *instance* per section (its own frequencies and
timbre), renders a clip for an operating *condition* (speed, load and
background; the target domain shifts one of them) and can add a *fault*
modelled on real ones at a given severity.  The components are mixed at
unit machine level; :mod:`asdlib.synth.generate` adds the background and
the gain.

The models are deliberately simple physics caricatures:

=========  ===========================================  ============================================
machine    normal sound                                 faults
=========  ===========================================  ============================================
fan        blade-pass harmonics over broadband airflow  imbalance, bearing, rubbing, clogging
gearbox    gear-mesh harmonics with shaft sidebands      tooth crack, wear, bearing, speed fluctuation
pump       flow noise pulsating at the vane rate, hum    cavitation, leak, clogging, bearing
slider     periodic strokes: motor whine, rail, stops    rail damage, rubbing, irregular, speed drift
valve      opening and closing clicks, flow while open   irregular, bouncing, leak, resonance shift
ToyCar     motor whine, gear whine, rolling noise        tire damage, bent shaft, gear damage, motor
ToyTrain   motor, rolling noise, rail-joint clacks       flat wheel, flange scrape, irregular, motor
=========  ===========================================  ============================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import sounds as S


@dataclass(frozen=True)
class Condition:
    """An operating condition: speed factor, load factor and background kind."""

    speed: float = 1.0
    load: float = 1.0
    noise: str = "A"


@dataclass(frozen=True)
class Fault:
    """A fault kind of a machine type and its severity in [0, 1]."""

    kind: str
    severity: float


Render = Callable[[np.random.Generator, dict, Condition, "Fault | None", int, int], np.ndarray]


@dataclass(frozen=True)
class MachineModel:
    """A machine type's sound model: instance parameters, renderer and fault kinds."""

    instance: Callable[[np.random.Generator], dict]
    render: Render
    faults: tuple[str, ...]
    #: scales the fault severities drawn for this type: calibrated so that the official
    #: baselines land between chance and perfect on the ``book`` profile (book, "The official
    #: baselines", calibration table)
    fault_scale: float = 1.0


def _mix(*parts: tuple[float, np.ndarray]) -> np.ndarray:
    return sum(level * S.unit_rms(x) for level, x in parts)


def _bearing(rng, n, sr, rot_hz, severity):
    """Bearing-defect impulses at a non-integer multiple of the rotation, ringing at 2.5-5 kHz."""
    rate = rot_hz * rng.uniform(3.1, 5.3)
    times = S.periodic_times(rng, n / sr, period=1 / rate, jitter=0.05)
    amps = rng.uniform(0.5, 1.0, times.shape) * (1 + 0.5 * np.sin(2 * np.pi * rot_hz * times))
    kernel = S.resonance(sr, freq=rng.uniform(2500, 5000), decay_s=0.002)
    return 0.9 * severity * S.unit_rms(S.events(n, sr, times, amps, kernel))


def _speed(rng, n, sr, *, base, fault, kind, wander, extra, rate):
    """A frequency track wandering by ``wander`` around ``base``; the fault ``kind`` adds ``extra``."""
    w = wander + (extra * fault.severity if fault is not None and fault.kind == kind else 0)
    return base * (1 + w * S.smooth_random(rng, n, sr, rate=rate))


def _rhythm(rng, n, sr, *, period, fault, kind, jitter, drop):
    """Regular event times every ``period`` s; the fault ``kind`` jitters them and drops some."""
    faulty = fault is not None and fault.kind == kind
    s = fault.severity if faulty else 0.0
    times = S.periodic_times(rng, n / sr, period=period, jitter=0.01 + jitter * s)
    return times[rng.uniform(size=times.shape) > drop * s] if faulty else times


def _bursts(rng, n, sr, *, lo, hi, rate, length):
    """Random bursts of band noise (scraping, rubbing), about ``rate`` per second."""
    k = max(int(rng.poisson(rate * n / sr)), 1)
    starts = rng.uniform(0, n / sr, k)
    env = S.gate(n, sr, starts, rng.uniform(0.5, 1.5, k) * length, ramp_s=0.02)
    return env * S.shaped_noise(rng, n, sr, lo=lo, hi=hi)


# --------------------------------------------------------------------------- fan
def _fan_instance(rng):
    return dict(blades=int(rng.integers(5, 10)), rot=rng.uniform(12, 25),
                decay=rng.uniform(0.45, 0.75), air_lo=rng.uniform(150, 400),
                air_hi=rng.uniform(3000, 6500), tonal=rng.uniform(0.35, 0.8))


def _fan_render(rng, p, c, fault, n, sr):
    rot = p["rot"] * c.speed * (1 + 0.004 * S.smooth_random(rng, n, sr, rate=0.5))
    if fault and fault.kind == "clogging":
        rot = rot * (1 - 0.05 * fault.severity)
    bpf = p["blades"] * rot
    ph = S.phase_of(bpf, n, sr, rng)
    tonal = S.harmonics(ph, [p["decay"] ** k for k in range(8)], rng, f0=float(bpf.mean()), sr=sr)
    air_hi = p["air_hi"] * (1 - 0.4 * fault.severity if fault and fault.kind == "clogging" else 1)
    air = S.shaped_noise(rng, n, sr, lo=p["air_lo"], hi=air_hi, slope=0.5)
    air = air * (1 + 0.1 * np.sin(ph))
    x = _mix((p["tonal"] * c.load, tonal), (1.0, air))
    if fault is None or fault.kind == "clogging":
        return x
    s = fault.severity
    if fault.kind == "imbalance":
        rph = S.phase_of(rot, n, sr, rng)
        return x * (1 + 0.5 * s * np.sin(rph)) + 0.6 * s * np.sin(rph)
    if fault.kind == "bearing":
        return x + _bearing(rng, n, sr, float(rot.mean()), s)
    return x + 0.6 * s * _bursts(rng, n, sr, lo=1000, hi=4500, rate=2.0, length=0.3)  # rubbing


# ----------------------------------------------------------------------- gearbox
def _gearbox_instance(rng):
    return dict(shaft=rng.uniform(15, 30), teeth=int(rng.integers(17, 32)),
                decay=rng.uniform(0.35, 0.6), side=rng.uniform(0.1, 0.3),
                noise=rng.uniform(0.3, 0.6), hum=rng.uniform(0.1, 0.3))


def _gearbox_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    shaft = _speed(rng, n, sr, base=p["shaft"] * c.speed, fault=fault, kind="speed_fluctuation",
                   wander=0.003, extra=0.02, rate=1.5)
    mesh = p["teeth"] * shaft
    sph = S.phase_of(shaft, n, sr, rng)
    amps = [p["decay"] ** k for k in range(5)]
    if fault and fault.kind == "wear":
        amps = [a * (1 + 1.5 * s * (k > 0)) for k, a in enumerate(amps)]
    side = p["side"] * (1 + (3 * s if fault and fault.kind == "tooth_crack" else 0))
    tonal = S.harmonics(S.phase_of(mesh, n, sr, rng), amps, rng, f0=float(mesh.mean()), sr=sr,
                        sideband=(sph, min(side, 0.95)))
    body = S.shaped_noise(rng, n, sr, lo=50, hi=5000, slope=1.0)
    x = _mix((1.0 * c.load, tonal), (p["noise"], body), (p["hum"], np.sin(2 * sph)))
    if fault is None or fault.kind in ("wear", "speed_fluctuation"):
        if fault and fault.kind == "wear":
            x = x + 0.3 * s * S.shaped_noise(rng, n, sr, lo=0.8 * float(mesh.mean()),
                                             hi=1.25 * float(mesh.mean()))
        return x
    if fault.kind == "tooth_crack":
        times = S.periodic_times(rng, n / sr, period=1 / float(shaft.mean()), jitter=0.01)
        kernel = S.resonance(sr, freq=rng.uniform(1800, 4000), decay_s=0.003)
        return x + 0.8 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    return x + _bearing(rng, n, sr, float(shaft.mean()), s)


# -------------------------------------------------------------------------- pump
def _pump_instance(rng):
    return dict(vane=rng.uniform(20, 50), depth=rng.uniform(0.3, 0.7),
                flow_hi=rng.uniform(1200, 3000), mains=rng.choice([50.0, 60.0]),
                hum=rng.uniform(0.2, 0.5), slope=rng.uniform(0.5, 1.5))


def _pump_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    vane = p["vane"] * c.speed * (1 + 0.01 * S.smooth_random(rng, n, sr, rate=0.3))
    vph = S.phase_of(vane, n, sr, rng)
    if fault and fault.kind == "clogging":
        vph = vph + 2.0 * s * S.smooth_random(rng, n, sr, rate=4.0)  # irregular pulsation
    pulse = 1 + p["depth"] * c.load * np.maximum(np.sin(vph), 0) ** 2
    flow = S.shaped_noise(rng, n, sr, lo=40, hi=p["flow_hi"], slope=p["slope"]) * pulse
    if fault and fault.kind == "clogging":
        flow = flow * (1 - 0.4 * s)
    hum = S.harmonics(S.phase_of(2 * p["mains"], n, sr, rng), [1, 0.5, 0.3], rng,
                      f0=2 * p["mains"], sr=sr)
    x = _mix((1.0, flow), (p["hum"], hum))
    if fault is None or fault.kind == "clogging":
        return x
    if fault.kind == "cavitation":
        k = int(rng.poisson(40 * n / sr))
        kernel = S.resonance(sr, freq=rng.uniform(3000, 6000), decay_s=0.0008)
        crackle = S.events(n, sr, rng.uniform(0, n / sr, k), rng.exponential(1.0, k), kernel)
        return x + 0.7 * s * S.unit_rms(crackle * pulse)
    if fault.kind == "leak":
        return x + 0.35 * s * S.shaped_noise(rng, n, sr, lo=rng.uniform(3500, 5000), hi=7500)
    return x + _bearing(rng, n, sr, p["mains"] / 2, s)


# ------------------------------------------------------------------------ slider
def _slider_instance(rng):
    return dict(period=rng.uniform(0.8, 2.0), stroke=rng.uniform(0.3, 0.6),
                whine=rng.uniform(150, 400), click=rng.uniform(1200, 3500),
                rail=rng.uniform(0.3, 0.7))


def _slider_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    period = p["period"] / c.speed
    starts = _rhythm(rng, n, sr, period=period, fault=fault, kind="irregular", jitter=0.15, drop=0.35)
    length = p["stroke"] * period
    if fault and fault.kind == "speed_drift":
        length = length * (1 - 0.25 * s)
    env = S.gate(n, sr, starts, length, ramp_s=0.03)
    whine_f = p["whine"] * c.speed * (1 + (0.15 * s if fault and fault.kind == "speed_drift" else 0))
    whine = S.harmonics(S.phase_of(whine_f, n, sr, rng), [1, 0.4, 0.2], rng, f0=whine_f, sr=sr)
    rail = S.shaped_noise(rng, n, sr, lo=300, hi=4000, slope=0.7)
    ends = np.concatenate([starts, starts + length])
    clicks = S.events(n, sr, ends, 1.0, S.resonance(sr, freq=p["click"], decay_s=0.004))
    hum = S.shaped_noise(rng, n, sr, lo=40, hi=400, slope=1.0)
    x = _mix((c.load, env * whine), (p["rail"], env * rail), (0.8, clicks), (0.15, hum))
    if fault is None or fault.kind in ("irregular", "speed_drift"):
        return x
    if fault.kind == "rail_damage":
        mid = starts + rng.uniform(0.3, 0.7) * length
        kernel = S.resonance(sr, freq=rng.uniform(2500, 5000), decay_s=0.002)
        return x + 0.8 * s * S.unit_rms(S.events(n, sr, mid, 1.0, kernel))
    return x + 0.6 * s * env * S.shaped_noise(rng, n, sr, lo=2000, hi=6000)  # rubbing


# ------------------------------------------------------------------------- valve
def _valve_instance(rng):
    return dict(period=rng.uniform(0.6, 1.5), open=rng.uniform(0.2, 0.5),
                click=rng.uniform(900, 3000), decay=rng.uniform(0.002, 0.006),
                flow_lo=rng.uniform(300, 1000), flow=rng.uniform(0.2, 0.5),
                pattern=rng.uniform(0.5, 1.0))


def _valve_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    period = p["period"] / c.speed
    opens = _rhythm(rng, n, sr, period=period, fault=fault, kind="irregular", jitter=0.2, drop=0.3)
    closes = opens + p["open"] * period
    freq = p["click"] * (1 + (0.3 * s if fault and fault.kind == "resonance_shift" else 0))
    kernel = S.resonance(sr, freq=freq, decay_s=p["decay"])
    clicks = S.events(n, sr, np.concatenate([opens, closes]),
                      np.concatenate([np.ones_like(opens), p["pattern"] * np.ones_like(closes)]),
                      kernel)
    if fault and fault.kind == "bouncing":
        bounce = closes + rng.uniform(0.02, 0.06, closes.shape)
        clicks = clicks + 0.8 * s * S.events(n, sr, bounce, 1.0, kernel)
    is_open = S.gate(n, sr, opens, p["open"] * period, ramp_s=0.02)
    flow = S.shaped_noise(rng, n, sr, lo=p["flow_lo"], hi=6000, slope=0.5)
    hum = S.shaped_noise(rng, n, sr, lo=30, hi=300, slope=1.0)
    x = _mix((1.0, clicks), (p["flow"] * c.load, is_open * flow), (0.1, hum))
    if fault and fault.kind == "leak":
        x = x + 0.25 * s * (1 - is_open) * S.shaped_noise(rng, n, sr, lo=2500, hi=7000)
    return x


# ------------------------------------------------------------------------ ToyCar
def _toycar_instance(rng):
    return dict(motor=rng.uniform(180, 350), ratio=rng.uniform(2.5, 4.5),
                wheel=rng.uniform(4, 9), decay=rng.uniform(0.4, 0.7),
                roll=rng.uniform(0.5, 1.0), gear=rng.uniform(0.2, 0.5))


def _toycar_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    motor = _speed(rng, n, sr, base=p["motor"] * c.speed, fault=fault, kind="motor_fault",
                   wander=0.01, extra=0.05, rate=6.0)
    mph = S.phase_of(motor, n, sr, rng)
    m = S.harmonics(mph, [p["decay"] ** k for k in range(6)], rng, f0=float(motor.mean()), sr=sr)
    gear = np.sin(mph * p["ratio"])
    wheel = p["wheel"] * c.speed
    wph = S.phase_of(wheel, n, sr, rng)
    roll = S.shaped_noise(rng, n, sr, lo=60, hi=2500, slope=1.0) * (1 + 0.2 * np.sin(wph))
    x = _mix((c.load, m), (p["gear"], gear), (p["roll"], roll))
    if fault is None or fault.kind == "motor_fault":
        if fault:
            x = x + 0.3 * s * _bursts(rng, n, sr, lo=3000, hi=7000, rate=8.0, length=0.05)
        return x
    if fault.kind == "tire_damage":
        times = S.periodic_times(rng, n / sr, period=1 / wheel, jitter=0.02)
        kernel = S.resonance(sr, freq=rng.uniform(200, 500), decay_s=0.01)
        return x + 0.7 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    if fault.kind == "shaft_bent":
        return x * (1 + 0.6 * s * np.sin(wph)) + 0.3 * s * np.sin(2 * wph)
    times = S.periodic_times(rng, n / sr, period=1 / (wheel * 7), jitter=0.03)  # gear damage
    kernel = S.resonance(sr, freq=rng.uniform(1500, 3500), decay_s=0.002)
    return x + 0.6 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))


# ---------------------------------------------------------------------- ToyTrain
def _toytrain_instance(rng):
    return dict(motor=rng.uniform(120, 300), decay=rng.uniform(0.4, 0.7),
                joint=rng.uniform(0.5, 1.2), pair=rng.uniform(0.05, 0.12),
                clack=rng.uniform(1500, 4000), wheel=rng.uniform(5, 10), roll=rng.uniform(0.6, 1.0))


def _toytrain_render(rng, p, c, fault, n, sr):
    s = fault.severity if fault else 0.0
    motor = _speed(rng, n, sr, base=p["motor"] * c.speed, fault=fault, kind="motor_fault",
                   wander=0.008, extra=0.05, rate=5.0)
    m = S.harmonics(S.phase_of(motor, n, sr, rng), [p["decay"] ** k for k in range(6)], rng,
                    f0=float(motor.mean()), sr=sr)
    joints = _rhythm(rng, n, sr, period=p["joint"] / c.speed, fault=fault, kind="irregular_joints",
                     jitter=0.2, drop=0.3)
    kernel = S.resonance(sr, freq=p["clack"], decay_s=0.005)
    clacks = S.events(n, sr, np.concatenate([joints, joints + p["pair"] / c.speed]), 1.0, kernel)
    roll = S.shaped_noise(rng, n, sr, lo=80, hi=3000, slope=1.0)
    x = _mix((0.7 * c.load, m), (1.0, clacks), (p["roll"], roll))
    if fault is None or fault.kind in ("irregular_joints", "motor_fault"):
        return x
    if fault.kind == "flat_wheel":
        times = S.periodic_times(rng, n / sr, period=1 / (p["wheel"] * c.speed), jitter=0.02)
        kernel = S.resonance(sr, freq=rng.uniform(250, 600), decay_s=0.008)
        return x + 0.7 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    return x + 0.5 * s * _bursts(rng, n, sr, lo=2500, hi=7000, rate=1.5, length=0.4)  # flange


MODELS: dict[str, MachineModel] = {
    "fan": MachineModel(_fan_instance, _fan_render, ("imbalance", "bearing", "rubbing", "clogging")),
    "gearbox": MachineModel(_gearbox_instance, _gearbox_render,
                            ("tooth_crack", "wear", "bearing", "speed_fluctuation")),
    "pump": MachineModel(_pump_instance, _pump_render, ("cavitation", "leak", "clogging", "bearing")),
    "slider": MachineModel(_slider_instance, _slider_render,
                           ("rail_damage", "rubbing", "irregular", "speed_drift")),
    "valve": MachineModel(_valve_instance, _valve_render,
                          ("irregular", "bouncing", "leak", "resonance_shift")),
    "ToyCar": MachineModel(_toycar_instance, _toycar_render,
                           ("tire_damage", "shaft_bent", "gear_damage", "motor_fault"), fault_scale=0.4),
    "ToyTrain": MachineModel(_toytrain_instance, _toytrain_render,
                             ("flat_wheel", "flange_scrape", "irregular_joints", "motor_fault")),
}
