"""The book's figures, drawn from data the library computed.

Each building block draws into one Matplotlib axes, takes it as ``ax=``
(a new figure when ``None``) and returns it, as librosa's ``specshow`` does,
so that a reader can compose figures; the figures the chapters show are
built from these blocks and returned as :class:`matplotlib.figure.Figure`.
Figures use Matplotlib's constrained layout, so titles, labels and colour
bars do not overlap.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from .features import FeatureConfig
from .layout import DOMAINS
from .metrics import MAX_FPR

LABEL_COLORS = {"normal": "tab:blue", "anomaly": "tab:red"}
#: Seconds per log-mel frame of the official front end (hop 512 samples at 16 kHz).
FRAME_SECONDS = FeatureConfig().hop_length / FeatureConfig().sample_rate


def _axes(ax, figsize=(5.0, 3.5)):
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _grid(nrows: int, ncols: int, *, width: float, height: float, **kw):
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                        layout="constrained", **kw)


# ---------------------------------------------------------------- building blocks


def specshow(logmel: np.ndarray, *, ax=None, title: str = "", frame_seconds: float = FRAME_SECONDS,
             vmin: float | None = None, vmax: float | None = None, cmap: str = "magma"):
    """A log-mel spectrogram (or any map over mel band x frame), time in seconds; returns ``ax``.

    ``logmel``: shape=(n_mels, frames).  The image is ``ax.images[-1]`` (for a colour bar).
    """
    ax = _axes(ax)
    logmel = np.asarray(logmel)
    ax.imshow(logmel, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
              extent=(0, logmel.shape[1] * frame_seconds, 0, logmel.shape[0]))
    ax.set(title=title, xlabel="time (s)", ylabel="mel band")
    return ax


def waveform(y: np.ndarray, *, sample_rate: int = FeatureConfig().sample_rate, ax=None, title: str = ""):
    """A waveform against time in seconds; returns ``ax``."""
    ax = _axes(ax, (5.0, 2.0))
    t = np.arange(len(y)) / sample_rate
    ax.plot(t, y, lw=0.3, color="0.2")
    ax.set(title=title, xlabel="time (s)", ylabel="amplitude", xlim=(0, t[-1] if len(t) else 1))
    return ax


def history_panel(history: pd.DataFrame, column: str, *, ax=None, title: str = "",
                  selected: int | None = None, chance: float | None = None):
    """One quantity per epoch: training and validation lines where both exist; returns ``ax``.

    ``selected``: the epoch whose weights were kept (dotted line); ``chance``:
    the value a model that learned nothing would reach (dashed grey line).
    """
    ax = _axes(ax, (4.0, 3.0))
    for prefix, style in (("train_", "-o"), ("val_", "--s")):
        if prefix + column in history:
            ax.plot(history["epoch"], history[prefix + column], style, ms=3,
                    label=prefix.rstrip("_").replace("val", "validation"))
    if column in history:
        ax.plot(history["epoch"], history[column], "-o", ms=3, label=column)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=1, label="chance level")
    if selected is not None:
        ax.axvline(selected, color="0.5", ls=":", lw=1, label="kept epoch")
    ax.set(title=title or column, xlabel="epoch")
    ax.legend(fontsize=7)
    return ax


def score_histogram(scores: pd.DataFrame, *, ax=None, title: str = "", threshold: float | None = None,
                    xlabel: str = "anomaly score", bins=20):
    """Histograms of the scores of normal and anomalous clips (columns label, score); returns ``ax``."""
    ax = _axes(ax, (4.0, 3.0))
    for label, color in LABEL_COLORS.items():
        s = scores[scores["label"] == label]["score"]
        if len(s):
            ax.hist(s, bins=bins, alpha=0.55, color=color, label=f"{label} ({len(s)})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label="decision threshold")
    ax.set(title=title, xlabel=xlabel, ylabel="clips")
    ax.legend(fontsize=7)
    return ax


def roc_panel(scores: pd.DataFrame, *, ax=None, title: str = ""):
    """ROC curve per section (columns section, label, score), the pAUC region shaded; returns ``ax``."""
    ax = _axes(ax, (4.0, 3.8))
    ax.axvspan(0, MAX_FPR, color="tab:orange", alpha=0.15, label=f"pAUC region (FPR ≤ {MAX_FPR})")
    for section, g in scores.groupby("section"):
        fpr, tpr, _ = roc_curve(g["label"] == "anomaly", g["score"])
        ax.plot(fpr, tpr, lw=1.5, label=f"section {section}")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.set(title=title, xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1),
           ylim=(0, 1.01), aspect="equal")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def confusion(matrix: np.ndarray, labels: Sequence[str], *, ax=None, title: str = ""):
    """A confusion matrix (rows: true, columns: predicted) with the counts written in; returns ``ax``."""
    ax = _axes(ax, (1.1 * len(labels) + 2.2, 1.1 * len(labels) + 1.6))
    matrix = np.asarray(matrix)
    ax.imshow(matrix, cmap="Blues", vmin=0)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
           yticklabels=labels, xlabel="predicted section", ylabel="true section", title=title)
    return ax


def bars(mean: pd.DataFrame, std: pd.DataFrame | None = None, *, ax=None, ylabel: str = "score (%)",
         title: str = "", chance: float | None = 50.0, ylim: tuple[float, float] = (0.0, 100.0)):
    """Grouped bars: one group per column (machine type), one bar per row (system); returns ``ax``.

    ``std``: error bars (the standard deviation over seeds), drawn where
    there is one.  The y-axis starts at zero (``ylim``); ``chance`` draws
    the level of a random scorer.
    """
    rows, cols = list(mean.index), list(mean.columns)
    ax = _axes(ax, (max(6.0, 1.2 * len(cols) + 2), 3.8))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(cols))
    for k, row in enumerate(rows):
        err = None if std is None else std.loc[row].to_numpy(dtype=float)
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, mean.loc[row].to_numpy(dtype=float), width,
               yerr=err, capsize=2, label=str(row))
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=1, label="chance")
    ax.set(xticks=x, xticklabels=cols, ylabel=ylabel, title=title, ylim=ylim)
    if not rows:
        ax.text(0.5, 0.5, "none of these systems was measured", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        return ax
    ax.legend(fontsize=7, ncol=min(4, len(rows) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return ax


# ---------------------------------------------------------------- the chapters' figures


def waveforms_and_spectrograms(clips: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    """One column per clip: its waveform above its log-mel spectrogram, one colour scale for all.

    ``clips``: title -> (waveform, log-mel of shape (n_mels, frames)).
    """
    fig, axes = _grid(2, len(clips), width=4.2, height=2.9, gridspec_kw={"height_ratios": [1, 2]})
    lo = min(float(np.min(m)) for _, m in clips.values())
    hi = max(float(np.max(m)) for _, m in clips.values())
    for j, (title, (y, logmel)) in enumerate(clips.items()):
        waveform(y, ax=axes[0, j], title=title)
        specshow(logmel, ax=axes[1, j], title="log-mel (dB)", vmin=lo, vmax=hi)
    fig.colorbar(axes[1, -1].images[-1], ax=axes[1, :].tolist(), shrink=0.8, label="dB")
    return fig


def spectrograms(specs: Mapping[str, np.ndarray], *, shared_scale: bool = True,
                 unit: str = "dB") -> plt.Figure:
    """Log-mel spectrograms (or maps over mel band x frame) side by side, one per title."""
    fig, axes = _grid(1, len(specs), width=4.2, height=3.4)
    lo = min(float(np.min(m)) for m in specs.values()) if shared_scale else None
    hi = max(float(np.max(m)) for m in specs.values()) if shared_scale else None
    for ax, (title, m) in zip(axes[0], specs.items()):
        specshow(m, ax=ax, title=title, vmin=lo, vmax=hi)
    fig.colorbar(axes[0, -1].images[-1], ax=axes[0].tolist(), shrink=0.85, label=unit)
    return fig


def spectrogram_grid(columns: Mapping[str, Mapping[str, np.ndarray]], *, unit: str = "dB",
                     share: str = "column", width: float = 4.9, height: float = 3.3) -> plt.Figure:
    """Columns of spectrograms (e.g. one per machine type: as recorded, then filtered).

    ``columns``: column title -> (row title -> array of shape (n_mels, frames)).
    ``share``: one colour scale per ``"column"`` or per ``"row"``, so that
    the panels that share it compare.
    """
    col_names = list(columns)
    row_names = list(dict.fromkeys(r for rows in columns.values() for r in rows))
    fig, axes = _grid(len(row_names), len(col_names), width=width, height=height)
    groups = ([[(i, j) for i in range(len(row_names))] for j in range(len(col_names))] if share == "column"
              else [[(i, j) for j in range(len(col_names))] for i in range(len(row_names))])
    for group in groups:
        arrays = [columns[col_names[j]].get(row_names[i]) for i, j in group]
        present = [a for a in arrays if a is not None]
        lo, hi = min(float(np.min(a)) for a in present), max(float(np.max(a)) for a in present)
        for (i, j), m in zip(group, arrays):
            if m is None:
                axes[i, j].set_visible(False)
                continue
            title = f"{col_names[j]}, {row_names[i]}" if share == "column" else f"{row_names[i]}: {col_names[j]}"
            specshow(m, ax=axes[i, j], title=title, vmin=lo, vmax=hi)
            if share == "row":
                axes[i, j].set(xlabel="" if i < len(row_names) - 1 else "time (s)",
                               ylabel="mel band" if j == 0 else "")
        cells = [axes[i, j] for i, j in group]
        fig.colorbar(cells[0].images[-1], ax=cells, shrink=0.8, label=unit)
    return fig


def mean_spectra(spectra: Mapping[tuple[str, str], tuple[np.ndarray, int]], *, title: str = "") -> plt.Figure:
    """Mean log-mel spectrum per (section, domain), and each one's difference from their average.

    One colour per section, dashed for the target domain.  The left panel
    shows the levels; the right one the differences in dB, which is where
    sections and domains part (the left panel's range is set by the
    loudest and quietest bands).  ``spectra``: ``{(section, domain):
    (spectrum over mel bands, clips averaged)}``.
    """
    fig, axes = _grid(1, 2, width=5.2, height=3.6)
    colors = {s: f"C{i}" for i, s in enumerate(sorted({s for s, _ in spectra}))}
    average = np.mean([s for s, _ in spectra.values()], axis=0)
    for (section, domain), (spectrum, n) in sorted(spectra.items()):
        style = dict(ls="-" if domain == "source" else "--", color=colors[section],
                     label=f"section {section}, {domain} ({n} clips)")
        axes[0, 0].plot(spectrum, **style)
        axes[0, 1].plot(spectrum - average, **style)
    axes[0, 0].set(xlabel="mel band", ylabel="mean log-mel (dB)", title=f"{title} levels".strip())
    axes[0, 1].axhline(0, color="0.5", lw=0.8)
    axes[0, 1].set(xlabel="mel band", ylabel="difference from the average (dB)",
                   title="differences between sections and domains")
    axes[0, 1].legend(fontsize=6, ncol=2)
    return fig


def history(history: pd.DataFrame, columns: Sequence[str], *, titles: Sequence[str] | None = None,
            selected: int | None = None, chance: Mapping[str, float] | None = None) -> plt.Figure:
    """Training curves: one panel per quantity (``columns`` without the train_/val_ prefix).

    ``selected``: the epoch whose weights were kept; ``chance``: quantity ->
    the level of a model that learned nothing (e.g. ``ln 3`` for the
    cross-entropy of three sections).
    """
    n = len(columns)
    ncols = n if n <= 3 else -(-n // 2)  # four panels: 2 x 2, five or six: 3 + 3
    fig, axes = _grid(-(-n // ncols), ncols, width=4.0, height=3.0)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for k, (ax, col) in enumerate(zip(axes.flat, columns)):
        history_panel(history, col, ax=ax, title=titles[k] if titles else col, selected=selected,
                      chance=(chance or {}).get(col))
    return fig


def score_distributions(scores: pd.DataFrame, *, threshold: float | None = None,
                        xlabel: str = "anomaly score") -> plt.Figure:
    """Histograms of the test clips' scores, normal against anomalous, per section (rows) and domain.

    AUC is computed per section and domain, and the normal scores of two
    sections can sit at different levels: pooling them would hide that.
    ``scores``: rows with columns split, section, domain, label, score (as
    ``SystemRun.scores``).
    """
    test = scores[scores["split"] == "test"]
    domains = [d for d in DOMAINS if d in set(test["domain"])]
    sections = sorted(set(test["section"]))
    fig, axes = _grid(len(sections), len(domains), width=3.6, height=2.3, sharex=True)
    bins = np.histogram_bin_edges(test["score"], bins=25)
    for i, section in enumerate(sections):
        for j, dom in enumerate(domains):
            cell = test[(test["section"] == section) & (test["domain"] == dom)]
            score_histogram(cell, ax=axes[i, j], title=f"section {section}, {dom}", threshold=threshold,
                            xlabel=xlabel if i == len(sections) - 1 else "", bins=bins)
    return fig


def roc_curves(scores: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """ROC curve per section, one panel per domain, with the pAUC region (FPR <= 0.1) shaded."""
    test = scores[(scores["split"] == "test") & scores["label"].isin(["normal", "anomaly"])]
    domains = [d for d in DOMAINS if d in set(test["domain"])]
    fig, axes = _grid(1, len(domains), width=4.0, height=3.8)
    for ax, dom in zip(axes[0], domains):
        roc_panel(test[test["domain"] == dom], ax=ax, title=f"{title}{dom} domain")
    return fig


def confusions(matrices: Mapping[str, np.ndarray], labels: Sequence[str]) -> plt.Figure:
    """Confusion matrices side by side (rows: true, columns: predicted), counts written in."""
    fig, axes = _grid(1, len(matrices), width=1.1 * len(labels) + 2.2, height=1.1 * len(labels) + 1.6)
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        confusion(matrix, labels, ax=ax, title=title)
    return fig


def score_forms(log_odds: np.ndarray, official: np.ndarray, labels: Sequence[str],
                aucs: Mapping[str, float], *, ax=None):
    """Clip scores by the log-odds against the official form, coloured by label; returns ``ax``."""
    ax = _axes(ax, (5.0, 4.0))
    labels = np.asarray(labels)
    for label, color in LABEL_COLORS.items():
        m = labels == label
        ax.scatter(log_odds[m], official[m], s=10, alpha=0.6, color=color, label=label)
    ax.set(xlabel="clip score: mean log-odds", ylabel="clip score: official form",
           title=", ".join(f"AUC {k} {v:.3f}" for k, v in aucs.items()))
    ax.legend(fontsize=8)
    return ax


def pca_2d(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays projected together on the first two principal components of their union."""
    stacked = np.concatenate(arrays)
    centred = stacked - stacked.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:2].T
    out, start = [], 0
    for a in arrays:
        out.append(proj[start:start + len(a)])
        start += len(a)
    return out


def two_views(p: np.ndarray, u: np.ndarray, section: Sequence[str], domain: Sequence[str]) -> plt.Figure:
    """Both views of the same chunks in one PCA plane: colour by section.

    Markers: the AE view p as circles (filled: source domain, hollow:
    target), the CNN view u as crosses (x: source, +: target).  Right: the
    same points with a line from each chunk's p to its u.
    """
    p2, u2 = pca_2d(p, u)
    section, domain = np.asarray(section), np.asarray(domain)
    sections = sorted(set(section))
    colors = dict(zip(sections, plt.cm.tab10.colors))
    fig, axes = _grid(1, 2, width=5.0, height=4.3, sharex=True, sharey=True)
    for ax, lines in zip(axes[0], (False, True)):
        if lines:
            for a, b, s in zip(p2, u2, section):
                ax.plot([a[0], b[0]], [a[1], b[1]], color=colors[s], lw=0.3, alpha=0.4)
        for s in sections:
            for dom, face in (("source", True), ("target", False)):
                m = (section == s) & (domain == dom)
                if not m.any():
                    continue
                ax.scatter(*p2[m].T, s=18, marker="o", edgecolors=colors[s],
                           facecolors=colors[s] if face else "none", label=f"p (AE), {s}, {dom}")
                ax.scatter(*u2[m].T, s=22, marker="x" if face else "+", color=colors[s],
                           label=f"u (CNN), {s}, {dom}")
        ax.set(xlabel="PC 1", ylabel="PC 2",
               title="p (circles) and u (crosses)" + (": pairs joined" if lines else ""))
    axes[0, 0].legend(fontsize=6, ncol=2, loc="best")
    return fig
