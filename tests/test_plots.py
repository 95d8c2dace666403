"""The figures' building blocks draw into the axes they are given and return it."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asdlib import plots  # noqa: E402


def _scores(rng):
    rows = []
    for section in ("00", "01"):
        for label in ("normal", "anomaly"):
            for s in rng.normal(1.0 if label == "anomaly" else 0.0, 1.0, 10):
                rows.append({"split": "test", "section": section, "domain": "source", "label": label,
                             "score": s})
    return pd.DataFrame(rows)


def test_every_block_draws_into_the_given_axes_and_returns_it(rng):
    fig, axes = plt.subplots(2, 4)
    scores = _scores(rng)
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "val_loss": [2.1, 1.2]})
    drawn = [plots.specshow(rng.normal(size=(8, 20)), ax=axes[0, 0]),
             plots.waveform(rng.normal(size=100), ax=axes[0, 1]),
             plots.history_panel(history, "loss", ax=axes[0, 2], chance=1.1),
             plots.score_histogram(scores, ax=axes[0, 3], threshold=0.5),
             plots.roc_panel(scores, ax=axes[1, 0]),
             plots.confusion(np.array([[3, 1], [0, 4]]), ["00", "01"], ax=axes[1, 1]),
             plots.bars(pd.DataFrame({"fan": [60.0]}, index=["AE"]), ax=axes[1, 2]),
             plots.score_forms(np.arange(4.0), np.arange(4.0), ["normal", "anomaly"] * 2,
                               {"x": 0.5}, ax=axes[1, 3])]
    assert drawn == list(axes.flat)
    assert all(ax.has_data() for ax in axes.flat)
    assert len(fig.axes) == 8  # nothing drew a figure of its own
    plt.close("all")


def test_per_section_score_distributions_have_a_panel_per_section_and_domain(rng):
    fig = plots.score_distributions(_scores(rng), threshold=0.0)
    assert len([ax for ax in fig.axes if ax.has_data()]) == 2  # two sections x one domain
    plt.close("all")


def test_bars_start_at_zero_with_error_bars_where_there_are_seeds():
    mean = pd.DataFrame({"fan": [60.0, 55.0]}, index=["AE", "MBv2"])
    std = pd.DataFrame({"fan": [2.0, 3.0]}, index=["AE", "MBv2"])
    ax = plots.bars(mean, std)
    assert ax.get_ylim()[0] == 0.0
    from matplotlib.container import BarContainer

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(c.errorbar is not None for c in bars)
    plt.close("all")
