"""The paper's ablation: MBv2, + CL, + MF, + CL, MF, over seeds, in the poster's table layout.

The four variants are one network and one training, the contrastive
framework of :func:`asdlib.config.contrastive_config`, differing only in
what their names say:

=========  ==============  ======================
variant    ``cl_weight``   ``median_filter``
=========  ==============  ======================
MBv2       0               off
+ CL       0.0005          off
+ MF       0               on (``mf_mode``)
+ CL, MF   0.0005          on (``mf_mode``)
=========  ==============  ======================

With ``cl_weight = 0`` the AE branch still trains beside the CNN, but no
gradient crosses from one to the other, so "MBv2" is the MobileNetV2 baseline
with the framework's pooling and epoch selection: the rows differ by the
contrastive term and the filter alone.  Each variant runs with several seeds;
the table gives, per machine type, the mean and the standard deviation of
the machine type's score (the harmonic mean of its AUC and pAUC values, in
percent) and of the official score over all machine types.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .config import TrainConfig, contrastive_config
from .layout import machine_types
from .metrics import official_score, score_table
from .pipeline import data_folder, run_system
from .submission import evaluate

VARIANTS = ("MBv2", "+ CL", "+ MF", "+ CL, MF")
#: column order of the poster's first table
POSTER_ORDER = ("fan", "gearbox", "slider", "ToyTrain", "ToyCar", "pump", "valve")


def variant_configs(base: TrainConfig | None = None, *, mf_mode: str = "both") -> dict[str, TrainConfig]:
    """The four variants' configurations, from ``base`` (default :func:`contrastive_config`)."""
    base = base or contrastive_config()
    if base.model != "contrastive":
        raise ValueError("the ablation varies the contrastive framework: base.model must be 'contrastive'")
    if mf_mode not in ("both", "test"):
        raise ValueError(f"mf_mode must be 'both' or 'test', got {mf_mode!r}")
    cl = base.cl_weight if base.cl_weight > 0 else contrastive_config().cl_weight
    return {"MBv2": base.replace(cl_weight=0.0, median_filter="off"),
            "+ CL": base.replace(cl_weight=cl, median_filter="off"),
            "+ MF": base.replace(cl_weight=0.0, median_filter=mf_mode),
            "+ CL, MF": base.replace(cl_weight=cl, median_filter=mf_mode)}


def _slug(variant: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", variant.lower()).strip("-") or "mbv2"


@dataclass
class Ablation:
    """Results of :func:`ablation`.

    ``runs``: one row per variant, seed and machine type (plus machine
    ``"Score"`` for the official score), column ``score`` in percent.
    ``table``: the poster's layout, "mean ± std" strings; ``mean`` and
    ``std``: the same as numbers.
    """

    runs: pd.DataFrame
    mean: pd.DataFrame
    std: pd.DataFrame
    table: pd.DataFrame
    dataset: str
    configs: dict[str, TrainConfig]


def ablation(data_root: str | Path, out_dir: str | Path, *, machines: Sequence[str] | None = None,
             seeds: Sequence[int] = (0, 1, 2), base: TrainConfig | None = None, mf_mode: str = "both",
             dataset_name: str | None = None, cache_dir: str | Path | None = None,
             device: str | None = None, progress: bool = True) -> Ablation:
    """Train and score the four variants on the development set, ``len(seeds)`` times each.

    Parameters
    ----------
    data_root : folder holding ``dev_data/``.
    out_dir : runs go to ``out_dir/<variant>/seed-<n>/`` (reused on a re-run).
    base : the framework's configuration the variants start from (epochs,
        batch size, temperature, ``select`` ...).
    mf_mode : "+MF" filters in training and test (``"both"``) or at test only.
    dataset_name : how the table names the data (default: the folder).
    """
    if not seeds:
        raise ValueError("at least one seed")
    dev = data_folder(data_root, "dev")
    machines = list(machines) if machines else machine_types(dev)
    configs = variant_configs(base, mf_mode=mf_mode)
    rows = []
    for variant, config in configs.items():
        for seed in seeds:
            out = Path(out_dir) / _slug(variant) / f"seed-{seed}"
            for machine in machines:
                run_system(data_root, machine, config.replace(seed=seed), out, cache_dir=cache_dir,
                           device=device, progress=progress)
            cells = evaluate(out / "dev" / "submission", data_dir=dev)
            table = score_table(cells)
            rows += [{"variant": variant, "seed": seed, "machine": m, "score": float(table.loc[m, "score"])}
                     for m in machines]
            rows.append({"variant": variant, "seed": seed, "machine": "Score",
                         "score": 100 * official_score(cells)})
    runs = pd.DataFrame(rows)
    order = [m for m in POSTER_ORDER if m in machines] + [m for m in machines if m not in POSTER_ORDER]
    order.append("Score")
    grouped = runs.groupby(["variant", "machine"])["score"]
    mean = grouped.mean().unstack().reindex(index=list(VARIANTS), columns=order)
    std = grouped.std(ddof=1).unstack().reindex(index=list(VARIANTS), columns=order) \
        if len(seeds) > 1 else mean * np.nan
    table = mean.copy().astype(object)
    for v in mean.index:
        for m in mean.columns:
            s = std.loc[v, m]
            table.loc[v, m] = f"{mean.loc[v, m]:.2f}" + ("" if np.isnan(s) else f" ± {s:.2f}")
    table.index.name = "Model"
    name = dataset_name or str(Path(data_root))
    table.columns.name = f"{name}, {len(seeds)} seed(s)"
    return Ablation(runs=runs, mean=mean, std=std, table=table, dataset=name, configs=configs)
