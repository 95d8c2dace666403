"""Sound models of the seven DCASE 2021 machine types (synthetic data version 4).

Each model draws a machine *instance* per section, renders a clip at an
*operating point* (speed and load, which drift from clip to clip within a
section: a section is a family of sounds, not one sound with noise) and can
add a *fault* at a graded severity.  The machine is rendered at unit RMS
*after* the fault is added: a fault redistributes the machine's sound
energy (a shifted resonance, a changed rhythm, a new component) rather than
making it louder, as on real machines, so loudness alone does not give it
away.  :mod:`asdlib.synth.generate` adds the microphone and room, the
factory background and the recording level.

How different the sections of a type are is set by ``spread``: the section
instances share the type's design and differ in a main parameter (a speed,
a pitch, a period) by steps of about ``spread``, two of the three sections
close together and one apart, as instances of one model are in the real
data.  The faults fall in three groups, by what they do to the two kinds of
detector the book compares:

* new components (impacts of a cracked tooth or a bearing defect, scraping,
  hiss): a sound no normal clip has, which an autoencoder fails to
  reconstruct, while the cues that tell the sections apart stay;
* shifted cues (a slipping belt or a clogged filter that changes the speed,
  an irregular rhythm, a moved resonance): the sound of the machine
  becomes that of a neighbouring instance, which a section classifier
  notices and an autoencoder trained on every section does not;
* stronger cues (a worn gear or a damaged motor whose own whine grows): the
  machine sounds *more* like itself, so a section classifier is more sure of
  its section for the faulty clip than for a normal one.

=========  ==============================================  =========================================
machine    normal sound                                    faults (group)
=========  ==============================================  =========================================
fan        blade-pass harmonics over broadband airflow     bearing (new), imbalance (new), clogging
                                                           and blade damage (shifted)
gearbox    gear-mesh harmonics with shaft sidebands        tooth crack, bearing, wear (new)
pump       flow noise pulsating at the stroke rate, hum    cavitation, leak (new), clogging and
                                                           impeller wear (shifted)
slider     strokes: motor whine, rail noise, end stops     rail damage (new), irregular strokes and
                                                           speed drift (shifted)
valve      opening and closing clicks, flow while open     leak (new), irregular timing, bouncing and
                                                           resonance shift (shifted, slight)
ToyCar     motor and gear whine, rolling noise             tire damage, bent shaft (new), gear and
                                                           motor damage (stronger)
ToyTrain   motor, rolling noise, rail-joint clacks         flat wheel, flange scrape (new), motor
                                                           damage (stronger)
=========  ==============================================  =========================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import sounds as S

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Condition:
    """An operating condition: speed and load factors, microphone/room and background kinds."""

    speed: float = 1.0
    load: float = 1.0
    room: str = "A"
    noise: str = "A"


@dataclass(frozen=True)
class Fault:
    """A fault kind of a machine type and its severity in [0, 1]."""

    kind: str
    severity: float


Render = Callable[[np.random.Generator, dict, Condition, "Fault | None", int, int], np.ndarray]


@dataclass(frozen=True)
class MachineModel:
    """A machine type's sound model and the numbers that set how hard its data is.

    ``faults``: fault kind -> how often it occurs among the anomalous clips;
    ``fault_scale``: the severities drawn (uniform in [0.2, 1]) are scaled by
    it; ``spread``: the step between section instances (relative); ``drift``:
    the clip-to-clip spread of speed and load within a section (relative);
    ``snr_db``: the range of machine-to-background ratios of the sections;
    ``target_snr_drop``: how much further below its background every target
    domain is recorded (dB; the microphone stands further from the machine);
    ``gain``: the range of recording levels (RMS of a clip, before the
    clip-to-clip variation; a machine with sharp clicks is recorded lower so
    that its peaks are not clipped);
    ``shifts``: what the target domain of each section changes (cycled over
    the sections); ``speed_shift``: the target speeds a speed shift draws
    from (only slower ones for a type whose faults slow the machine: a
    slower machine in a faster target domain would sound like its source
    self).  These numbers were tuned so that the official baselines score, per
    machine type, about what they score on the real recordings
    (``bench/calibrate.py``, the book's data chapter).
    """

    instance: Callable[[np.random.Generator, float], dict]
    render: Render
    faults: dict[str, float]
    fault_scale: float = 1.0
    spread: float = 0.15
    drift: float = 0.03
    snr_db: tuple[float, float] = (4.0, 10.0)
    target_snr_drop: float = 4.0
    gain: tuple[float, float] = (0.05, 0.1)
    shifts: tuple[str, ...] = ("speed", "load", "room")
    speed_shift: tuple[float, ...] = (0.75, 0.8, 1.2, 1.25)


def _mix(*parts: tuple[float, np.ndarray]) -> np.ndarray:
    return sum(level * S.unit_rms(x) for level, x in parts)


def _bearing(rng, n, sr, rot_hz, severity):
    """Bearing-defect impulses at a non-integer multiple of the rotation, ringing at 2.5-5 kHz."""
    rate = rot_hz * rng.uniform(3.1, 5.3)
    times = S.periodic_times(rng, n / sr, period=1 / rate, jitter=0.05)
    amps = rng.uniform(0.5, 1.0, times.shape) * (1 + 0.5 * np.sin(2 * np.pi * rot_hz * times))
    kernel = S.resonance(sr, freq=rng.uniform(2500, 5000), decay_s=0.002)
    return severity * S.unit_rms(S.events(n, sr, times, amps, kernel))


def _rhythm(rng, n, sr, *, period, irregular=0.0, jitter=0.01):
    """Event times every ``period`` s; ``irregular`` in [0, 1] jitters them and drops some."""
    times = S.periodic_times(rng, n / sr, period=period, jitter=jitter + 0.25 * irregular)
    return times[rng.uniform(size=times.shape) > 0.3 * irregular] if irregular else times


def _bursts(rng, n, sr, *, lo, hi, rate, length):
    """Random bursts of band noise (scraping, rubbing), about ``rate`` per second."""
    k = max(int(rng.poisson(rate * n / sr)), 1)
    starts = rng.uniform(0, n / sr, k)
    env = S.gate(n, sr, starts, rng.uniform(0.5, 1.5, k) * length, ramp_s=0.02)
    return env * S.shaped_noise(rng, n, sr, lo=lo, hi=hi)


def _severity(fault: Fault | None, *kinds: str) -> float:
    return fault.severity if fault is not None and fault.kind in kinds else 0.0


def section_step(k: float, spread: float) -> float:
    """The main parameter's factor of a section: ``1 + spread * k`` (``k`` from :func:`section_offsets`)."""
    return 1.0 + spread * k


def section_offsets(rng: np.random.Generator, n: int = 3) -> np.ndarray:
    """Where ``n`` sections sit on a type's main parameter, in steps: two close, the others apart."""
    close = rng.uniform(0.25, 0.5)
    base = np.array([0.0, close, 1.5, 2.5, 1.5 + close, 3.5])[:n]
    return base[rng.permutation(n)] - base[:n].mean()


# --------------------------------------------------------------------------- fan
def _fan_instance(rng, step):
    return dict(blades=7, rot=18.0 * step, decay=rng.uniform(0.6, 0.65), air_lo=rng.uniform(200, 240),
                air_hi=rng.uniform(4800, 5200), tonal=rng.uniform(0.35, 0.4))


def _fan_render(rng, p, c, fault, n, sr):
    clog, blade = _severity(fault, "clogging"), _severity(fault, "blade_damage")
    rot = p["rot"] * c.speed * (1 - 0.2 * clog) * (1 + 0.004 * S.smooth_random(rng, n, sr, rate=0.5))
    rph = S.phase_of(rot, n, sr, rng)
    bpf_ph = p["blades"] * rph
    tonal = S.harmonics(bpf_ph, [p["decay"] ** k for k in range(8)], rng, f0=float(p["blades"] * rot.mean()),
                        sr=sr)
    if blade:  # one blade differs: the rotation rate and its harmonics appear, the blade pass weakens
        tonal = (1 - 0.5 * blade) * tonal + 0.5 * blade * S.harmonics(rph, [1, 0.8, 0.6, 0.4], rng,
                                                                       f0=float(rot.mean()), sr=sr)
    air = S.shaped_noise(rng, n, sr, lo=p["air_lo"], hi=p["air_hi"], slope=0.5)
    x = _mix((p["tonal"] * c.load, tonal), (1.0, air * (1 + 0.1 * np.sin(bpf_ph))))
    if fault is None or fault.kind in ("clogging", "blade_damage"):
        return x
    s = fault.severity
    if fault.kind == "imbalance":
        return x * (1 + 0.4 * s * np.sin(rph)) + 0.5 * s * np.sin(rph)
    return x + _bearing(rng, n, sr, float(rot.mean()), 0.9 * s)


# ----------------------------------------------------------------------- gearbox
def _gearbox_instance(rng, step):
    return dict(shaft=22.0 * step, teeth=23, decay=rng.uniform(0.45, 0.55),
                side=rng.uniform(0.2, 0.25), noise=rng.uniform(0.6, 0.7), hum=rng.uniform(0.15, 0.2))


def _gearbox_render(rng, p, c, fault, n, sr):
    wear = _severity(fault, "wear")
    shaft = p["shaft"] * c.speed * (1 - 0.35 * wear) * (1 + 0.003 * S.smooth_random(rng, n, sr, rate=1.5))
    mesh = p["teeth"] * shaft
    sph = S.phase_of(shaft, n, sr, rng)
    amps = [p["decay"] ** k for k in range(5)]
    tonal = S.harmonics(S.phase_of(mesh, n, sr, rng), amps, rng, f0=float(mesh.mean()), sr=sr,
                        sideband=(sph, p["side"]))
    body = S.shaped_noise(rng, n, sr, lo=50, hi=5000, slope=1.0)
    x = _mix((c.load, tonal), (p["noise"], body), (p["hum"], np.sin(2 * sph)))
    if fault is None:
        return x
    s = fault.severity
    if fault.kind == "wear":  # broadband rattle around the mesh frequency
        return x + 0.6 * s * S.shaped_noise(rng, n, sr, lo=0.7 * float(mesh.mean()), hi=2.5 * float(mesh.mean()))
    if fault.kind == "tooth_crack":  # one impact per shaft revolution
        times = S.periodic_times(rng, n / sr, period=1 / float(shaft.mean()), jitter=0.01)
        kernel = S.resonance(sr, freq=rng.uniform(1800, 4000), decay_s=0.003)
        return x + 0.9 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    return x + _bearing(rng, n, sr, float(shaft.mean()), 0.9 * s)


# -------------------------------------------------------------------------- pump
def _pump_instance(rng, step):
    return dict(vane=6.0 * step, depth=rng.uniform(0.6, 0.7), flow_hi=2200 * step ** 0.5,
                mains=50.0, hum=rng.uniform(0.25, 0.3), slope=rng.uniform(0.9, 1.0))


def _pump_render(rng, p, c, fault, n, sr):
    clog, worn = _severity(fault, "clogging"), _severity(fault, "impeller_wear")
    vane = p["vane"] * c.speed * (1 - 0.5 * worn) * (1 + 0.01 * S.smooth_random(rng, n, sr, rate=0.3))
    vph = S.phase_of(vane, n, sr, rng)
    if clog:
        vph = vph + 3.0 * clog * S.smooth_random(rng, n, sr, rate=3.0)  # irregular pulsation
    pulse = 1 + p["depth"] * c.load * np.maximum(np.sin(vph), 0) ** 2
    flow = S.shaped_noise(rng, n, sr, lo=40, hi=p["flow_hi"] * (1 - 0.1 * clog), slope=p["slope"]) * pulse
    hum = S.harmonics(S.phase_of(2 * p["mains"], n, sr, rng), [1, 0.5, 0.3], rng, f0=2 * p["mains"], sr=sr)
    x = _mix((1.0, flow), (p["hum"], hum))
    if fault is None or fault.kind in ("clogging", "impeller_wear"):
        return x
    s = fault.severity
    if fault.kind == "cavitation":  # vapour bubbles collapsing in the pressure troughs
        k = int(rng.poisson(40 * n / sr))
        kernel = S.resonance(sr, freq=rng.uniform(3000, 6000), decay_s=0.0008)
        crackle = S.events(n, sr, rng.uniform(0, n / sr, k), rng.exponential(1.0, k), kernel)
        return x + 0.4 * s * S.unit_rms(crackle * pulse)
    return x + 0.25 * s * S.shaped_noise(rng, n, sr, lo=rng.uniform(3000, 4500), hi=7500)  # leak


# ------------------------------------------------------------------------ slider
def _slider_instance(rng, step):
    return dict(period=1.2 * step, stroke=rng.uniform(0.45, 0.55), whine=260.0 / step,
                click=rng.uniform(2000, 2400), rail=rng.uniform(0.5, 0.6))


def _slider_render(rng, p, c, fault, n, sr):
    irregular, drift = _severity(fault, "irregular"), _severity(fault, "speed_drift")
    period = p["period"] / c.speed * (1 + 0.8 * drift)
    starts = _rhythm(rng, n, sr, period=period, irregular=min(1.5 * irregular, 1.0))
    length = p["stroke"] * period
    env = S.gate(n, sr, starts, length, ramp_s=0.03)
    whine_f = p["whine"] * c.speed * (1 - 0.05 * drift)
    whine = S.harmonics(S.phase_of(whine_f, n, sr, rng), [1, 0.4, 0.2], rng, f0=whine_f, sr=sr)
    rail = S.shaped_noise(rng, n, sr, lo=300, hi=4000, slope=0.7)
    ends = np.concatenate([starts, starts + length])
    clicks = S.events(n, sr, ends, 1.0, S.resonance(sr, freq=p["click"], decay_s=0.004))
    hum = S.shaped_noise(rng, n, sr, lo=40, hi=400, slope=1.0)
    x = _mix((c.load, env * whine), (p["rail"], env * rail), (0.8, clicks), (0.3, hum))
    if fault is None or fault.kind != "rail_damage":
        return x
    mid = starts + rng.uniform(0.3, 0.7) * length  # a dent in the rail, struck mid-stroke
    kernel = S.resonance(sr, freq=rng.uniform(2500, 5000), decay_s=0.002)
    return x + 0.4 * fault.severity * S.unit_rms(S.events(n, sr, mid, 1.0, kernel))


# ------------------------------------------------------------------------- valve
def _valve_instance(rng, step):
    return dict(period=0.9 * step, open=rng.uniform(0.35, 0.45), click=1800 * step, decay=rng.uniform(0.004, 0.005),
                flow_lo=rng.uniform(550, 700), flow=rng.uniform(0.35, 0.45), pattern=rng.uniform(0.65, 0.75))


def _valve_render(rng, p, c, fault, n, sr):
    irregular, shift = _severity(fault, "irregular"), _severity(fault, "resonance_shift")
    period = p["period"] / c.speed
    opens = _rhythm(rng, n, sr, period=period, irregular=0.3 * irregular, jitter=0.02)
    closes = opens + p["open"] * period
    kernel = S.resonance(sr, freq=p["click"] * (1 + 0.08 * shift), decay_s=p["decay"])
    clicks = S.events(n, sr, np.concatenate([opens, closes]),
                      np.concatenate([np.ones_like(opens), p["pattern"] * np.ones_like(closes)]), kernel)
    if fault is not None and fault.kind == "bouncing":
        bounce = closes + rng.uniform(0.02, 0.06, closes.shape)
        clicks = clicks + 0.3 * fault.severity * S.events(n, sr, bounce, 1.0, kernel)
    is_open = S.gate(n, sr, opens, p["open"] * period, ramp_s=0.02)
    flow = S.shaped_noise(rng, n, sr, lo=p["flow_lo"], hi=6000, slope=0.5)
    hum = S.shaped_noise(rng, n, sr, lo=30, hi=300, slope=1.0)
    x = _mix((1.0, clicks), (p["flow"] * c.load, is_open * flow), (0.3, hum))
    if fault is not None and fault.kind == "leak":  # a hiss while the valve should be closed
        x = x + 0.2 * fault.severity * (1 - is_open) * S.shaped_noise(rng, n, sr, lo=2500, hi=7000)
    return x


# ------------------------------------------------------------------------ ToyCar
def _toycar_instance(rng, step):
    return dict(motor=260.0 * step, ratio=3.5, wheel=6.0 * step, decay=rng.uniform(0.5, 0.6),
                roll=rng.uniform(1.0, 1.2), gear=rng.uniform(0.2, 0.25), tonal=rng.uniform(0.4, 0.45))


def _toycar_render(rng, p, c, fault, n, sr):
    gear_dmg, motor_dmg = _severity(fault, "gear_damage"), _severity(fault, "motor_damage")
    motor = p["motor"] * c.speed * (1 + 0.01 * S.smooth_random(rng, n, sr, rate=6.0))
    mph = S.phase_of(motor, n, sr, rng)
    m = S.harmonics(mph, [p["decay"] ** k for k in range(6)], rng, f0=float(motor.mean()), sr=sr)
    gear = np.sin(mph * p["ratio"])
    wheel = p["wheel"] * c.speed
    wph = S.phase_of(wheel, n, sr, rng)
    roll = S.shaped_noise(rng, n, sr, lo=60, hi=2500, slope=1.0) * (1 + 0.2 * np.sin(wph))
    # a damaged motor or gear sings louder at its own frequencies
    x = _mix((p["tonal"] * c.load * (1 + 2.5 * motor_dmg), m), (p["gear"] * (1 + 4 * gear_dmg), gear),
             (p["roll"], roll))
    if fault is None or fault.kind in ("gear_damage", "motor_damage"):
        return x
    s = fault.severity
    if fault.kind == "tire_damage":  # a thump per wheel turn
        times = S.periodic_times(rng, n / sr, period=1 / wheel, jitter=0.02)
        kernel = S.resonance(sr, freq=rng.uniform(200, 500), decay_s=0.01)
        return x + 0.8 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    return x * (1 + 0.5 * s * np.sin(wph)) + 0.4 * s * np.sin(2 * wph)  # bent shaft


# ---------------------------------------------------------------------- ToyTrain
def _toytrain_instance(rng, step):
    return dict(motor=200.0 * step, decay=rng.uniform(0.5, 0.6), joint=0.8 / step, pair=rng.uniform(0.07, 0.08),
                clack=rng.uniform(2300, 2700), wheel=7.0 * step, roll=rng.uniform(0.9, 1.0),
                tonal=rng.uniform(0.4, 0.45))


def _toytrain_render(rng, p, c, fault, n, sr):
    motor_dmg = _severity(fault, "motor_damage")
    motor = p["motor"] * c.speed * (1 + 0.008 * S.smooth_random(rng, n, sr, rate=5.0))
    m = S.harmonics(S.phase_of(motor, n, sr, rng), [p["decay"] ** k for k in range(6)], rng,
                    f0=float(motor.mean()), sr=sr)
    joints = _rhythm(rng, n, sr, period=p["joint"] / c.speed, jitter=0.05)
    kernel = S.resonance(sr, freq=p["clack"], decay_s=0.005)
    clacks = S.events(n, sr, np.concatenate([joints, joints + p["pair"] / c.speed]), 1.0, kernel)
    roll = S.shaped_noise(rng, n, sr, lo=80, hi=3000, slope=1.0)
    x = _mix((p["tonal"] * c.load * (1 + 3 * motor_dmg), m), (0.6, clacks), (p["roll"], roll))
    if fault is None or fault.kind == "motor_damage":
        return x
    s = fault.severity
    if fault.kind == "flat_wheel":  # a thump per wheel turn
        times = S.periodic_times(rng, n / sr, period=1 / (p["wheel"] * c.speed), jitter=0.02)
        kernel = S.resonance(sr, freq=rng.uniform(250, 600), decay_s=0.008)
        return x + 0.8 * s * S.unit_rms(S.events(n, sr, times, 1.0, kernel))
    return x + 0.6 * s * _bursts(rng, n, sr, lo=2500, hi=7000, rate=1.5, length=0.4)  # flange scrape


MODELS: dict[str, MachineModel] = {
    "fan": MachineModel(_fan_instance, _fan_render,
                        {"bearing": 0.05, "imbalance": 0.05, "clogging": 0.8, "blade_damage": 0.1},
                        fault_scale=0.9, spread=0.12, shifts=("load", "room", "noise")),
    "gearbox": MachineModel(_gearbox_instance, _gearbox_render,
                            {"tooth_crack": 0.35, "bearing": 0.35, "wear": 0.3}, fault_scale=0.35, spread=0.15,
                            target_snr_drop=8.0, shifts=("load", "room", "noise")),
    "pump": MachineModel(_pump_instance, _pump_render,
                         {"cavitation": 0.1, "leak": 0.1, "clogging": 0.3, "impeller_wear": 0.5},
                         fault_scale=1.0, spread=0.2, snr_db=(8.0, 14.0), shifts=("room", "noise", "speed"),
                         speed_shift=(0.75, 0.8)),
    "slider": MachineModel(_slider_instance, _slider_render,
                           {"rail_damage": 0.1, "irregular": 0.45, "speed_drift": 0.45}, fault_scale=1.0,
                           spread=0.15, shifts=("noise", "room", "load")),
    "valve": MachineModel(_valve_instance, _valve_render,
                          {"leak": 0.25, "irregular": 0.25, "bouncing": 0.25, "resonance_shift": 0.25},
                          fault_scale=0.4, spread=0.12, target_snr_drop=8.0, gain=(0.015, 0.03),
                          shifts=("speed", "load", "room")),
    "ToyCar": MachineModel(_toycar_instance, _toycar_render,
                           {"tire_damage": 0.2, "bent_shaft": 0.2, "gear_damage": 0.3, "motor_damage": 0.3},
                           fault_scale=0.6, spread=0.12, shifts=("load", "room", "noise")),
    "ToyTrain": MachineModel(_toytrain_instance, _toytrain_render,
                             {"flat_wheel": 0.25, "flange_scrape": 0.25, "motor_damage": 0.5}, fault_scale=0.7,
                             spread=0.12, shifts=("room", "noise", "speed")),
}


#: What each fault does to the sound, and its group (see the module docstring).
FAULTS = {
    "bearing": ("new", "impulses at a non-integer multiple of the rotation, ringing at 2.5-5 kHz"),
    "imbalance": ("new", "a component at the rotation rate and an amplitude modulation by it"),
    "clogging": ("shifted", "the fan slows (the pump's pulsation turns irregular): another instance's speed"),
    "blade_damage": ("shifted", "one blade differs: the rotation harmonics rise, the blade pass weakens"),
    "tooth_crack": ("new", "an impact once per shaft revolution"),
    "wear": ("new", "rattle around the gear-mesh frequency; worn gears slip and the shaft slows a little"),
    "cavitation": ("new", "crackle of collapsing bubbles in the pressure troughs"),
    "leak": ("new", "a hiss (for the valve: while it should be closed)"),
    "impeller_wear": ("shifted", "the pulsation slows by up to a half: another instance's stroke rate"),
    "rail_damage": ("new", "an impact in mid-stroke where the rail is dented"),
    "irregular": ("shifted", "the strokes or the valve's cycle lose their rhythm: some come late, some not at all"),
    "speed_drift": ("shifted", "the strokes take longer: another instance's period"),
    "bouncing": ("shifted", "the valve bounces on its seat: a second, weaker click after each closing"),
    "resonance_shift": ("shifted", "the click rings at a higher frequency: another instance's resonance"),
    "tire_damage": ("new", "a thump once per wheel turn"),
    "bent_shaft": ("new", "an amplitude modulation and a component at twice the wheel rate"),
    "gear_damage": ("stronger", "the car's own gear whine grows up to five times louder"),
    "motor_damage": ("stronger", "the motor's own whine grows up to three or four times louder"),
    "flat_wheel": ("new", "a thump once per wheel turn"),
    "flange_scrape": ("new", "bursts of high-frequency scraping"),
}

#: The normal sound of each type, in words.
NORMAL = {
    "fan": "blade-pass harmonics (7 blades) over broadband airflow",
    "gearbox": "gear-mesh harmonics (23 teeth) with shaft-rate sidebands, body noise",
    "pump": "flow noise pulsating at the stroke rate (about 6 per second), mains hum",
    "slider": "strokes with a motor whine and rail noise, clicks at the end stops",
    "valve": "opening and closing clicks, flow noise while open",
    "ToyCar": "motor whine and its harmonics, a gear whine, rolling noise",
    "ToyTrain": "motor whine, rolling noise, a pair of clacks at every rail joint",
}


def model_table() -> pd.DataFrame:
    """The sound models as a table: normal sound, faults (share of anomalous clips, group),
    severity scale, step between section instances, clip-to-clip drift, machine-to-background ratio,
    how much further below its background the target domain is recorded, and what each section's
    target domain shifts."""
    import pandas as pd

    rows = []
    for name, m in MODELS.items():
        total = sum(m.faults.values())
        faults = "; ".join(f"{k.replace('_', ' ')} {100 * v / total:.0f} % ({FAULTS[k][0]})"
                           for k, v in m.faults.items())
        rows.append({"machine": name, "normal sound": NORMAL[name], "faults (share, group)": faults,
                     "severity scale": m.fault_scale, "section step": f"{100 * m.spread:.0f} %",
                     "drift": f"±{100 * m.drift:.0f} %", "SNR (dB)": f"{m.snr_db[0]:g}-{m.snr_db[1]:g}",
                     "target SNR drop (dB)": f"{m.target_snr_drop:g}",
                     "target shifts (sections 00, 01, 02)": ", ".join(m.shifts)})
    return pd.DataFrame(rows).set_index("machine")
