"""The paper's ablation: MBv2, + CL, + MF, + CL, MF, over seeds, in the poster's table layout.

The four variants are one training recipe (:mod:`asdlib.recipes`: the
authors' code or the project's compact reconstruction), differing only in
what their names say:

=========  ==============  ======================
variant    ``cl_weight``   ``median_filter``
=========  ==============  ======================
MBv2       0               off
+ CL       0.0005          off
+ MF       0               on (``mf_mode``)
+ CL, MF   0.0005          on (``mf_mode``)
=========  ==============  ======================

In the authors' recipe (``cnn_rows``) "MBv2" and "+ MF" are their CNN
trained alone with cross-entropy, as their code trains them.  In the compact
recipe they are the framework with ``cl_weight = 0``: the AE branch still
trains beside the CNN, but no gradient crosses from one to the other, so
the rows differ by the contrastive term and the filter alone.  Each variant runs with several seeds;
the table gives, per machine type, the mean and the standard deviation of
the machine type's score (the harmonic mean of its AUC and pAUC values, in
percent) and of the official score over all machine types.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .config import TrainConfig
from .recipes import VARIANTS, variant_configs
from .experiments import run_systems
from .paper import COLUMNS
from .tables import mean_std_table, scores_by_machine

__all__ = ["VARIANTS", "POSTER_ORDER", "variant_configs", "Ablation", "ablation"]

#: column order of the poster's first table
POSTER_ORDER = COLUMNS


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
             cnn_rows: bool = False,
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
    cnn_rows : "MBv2" and "+ MF" are the CNN alone (the authors' recipe)
        rather than the framework with lambda = 0.
    dataset_name : how the table names the data (default: the folder).
    """
    configs = variant_configs(base, mf_mode=mf_mode, cnn_rows=cnn_rows)
    cells = run_systems(data_root, out_dir, configs, machines=machines, seeds=seeds,
                        cache_dir=cache_dir, device=device, progress=progress)
    runs = scores_by_machine(cells).rename(columns={"system": "variant"})
    mean, std, table = mean_std_table(runs.rename(columns={"variant": "system"}))
    table.index.name = "Model"
    name = dataset_name or str(Path(data_root))
    table.columns.name = f"{name}, {len(seeds)} seed(s)"
    return Ablation(runs=runs[["variant", "seed", "machine", "score"]], mean=mean, std=std,
                    table=table, dataset=name, configs=configs)
