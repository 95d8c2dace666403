"""The book's figures: each function draws one figure from data the library computed, and returns it.

Figures are made with ``matplotlib.pyplot`` so that a notebook shows each
one once, at the end of its cell.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from .layout import SAMPLE_RATE
from .metrics import MAX_FPR

LABEL_COLORS = {"normal": "tab:blue", "anomaly": "tab:red"}


def _spec(ax, logmel: np.ndarray, title: str, *, hop_s: float = 512 / SAMPLE_RATE, vmin=None, vmax=None):
    logmel = np.asarray(logmel)
    im = ax.imshow(logmel, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                   extent=(0, logmel.shape[1] * hop_s, 0, logmel.shape[0]))
    ax.set(title=title, xlabel="time (s)", ylabel="mel band")
    return im


def waveforms_and_spectrograms(clips: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> plt.Figure:
    """One column per clip: its waveform above its log-mel spectrogram.

    ``clips``: title -> (waveform, log-mel of shape (n_mels, frames)).
    """
    n = len(clips)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 5.5), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 2]})
    lo = min(float(np.min(m)) for _, m in clips.values())
    hi = max(float(np.max(m)) for _, m in clips.values())
    for j, (title, (y, logmel)) in enumerate(clips.items()):
        t = np.arange(len(y)) / SAMPLE_RATE
        axes[0, j].plot(t, y, lw=0.3, color="0.2")
        axes[0, j].set(title=title, xlabel="time (s)", ylabel="amplitude", xlim=(0, t[-1]))
        im = _spec(axes[1, j], logmel, "log-mel (dB)", vmin=lo, vmax=hi)
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="dB")
    return fig


def spectrograms(specs: Mapping[str, np.ndarray], *, shared_scale: bool = True,
                 unit: str = "dB") -> plt.Figure:
    """Log-mel spectrograms (or maps over mel band x frame) side by side, one per title."""
    n = len(specs)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    lo = min(float(np.min(m)) for m in specs.values()) if shared_scale else None
    hi = max(float(np.max(m)) for m in specs.values()) if shared_scale else None
    for ax, (title, m) in zip(axes[0], specs.items()):
        im = _spec(ax, m, title, vmin=lo, vmax=hi)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label=unit)
    return fig


def spectrogram_grid(columns: Mapping[str, Mapping[str, np.ndarray]], *, unit: str = "dB") -> plt.Figure:
    """Columns of spectrograms (e.g. one per machine type: as recorded, then filtered).

    ``columns``: column title -> (row title -> array of shape (n_mels, frames)).
    Each column shares one colour scale, so that its panels compare.
    """
    n_cols = len(columns)
    n_rows = max(len(rows) for rows in columns.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.9 * n_cols, 3.3 * n_rows), squeeze=False)
    for j, (col, rows) in enumerate(columns.items()):
        lo = min(float(np.min(m)) for m in rows.values())
        hi = max(float(np.max(m)) for m in rows.values())
        for i, (row, m) in enumerate(rows.items()):
            im = _spec(axes[i, j], m, f"{col}, {row}", vmin=lo, vmax=hi)
        fig.colorbar(im, ax=axes[:, j].tolist(), shrink=0.8, label=unit)
    return fig


def mean_spectra(spectra: Mapping[tuple[str, str], tuple[np.ndarray, int]], *, title: str = "") -> plt.Figure:
    """Mean log-mel spectrum per (section, domain): one colour per section, dashed for the target domain.

    ``spectra``: ``{(section, domain): (spectrum over mel bands, clips averaged)}``.
    """
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = {s: f"C{i}" for i, s in enumerate(sorted({s for s, _ in spectra}))}
    for (section, domain), (spectrum, n) in sorted(spectra.items()):
        ax.plot(spectrum, "-" if domain == "source" else "--", color=colors[section],
                label=f"section {section}, {domain} ({n} clips)")
    ax.set(xlabel="mel band", ylabel="mean log-mel (dB)", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def history(history: pd.DataFrame, columns: Sequence[str], *, titles: Sequence[str] | None = None,
            selected: int | None = None) -> plt.Figure:
    """Training curves: one panel per quantity, training and validation lines where both exist.

    ``columns``: quantities without prefix ("loss", "accuracy", "ce", ...);
    ``selected``: the epoch whose weights were kept, marked by a dotted line.
    """
    n = len(columns)
    ncols = n if n <= 3 else -(-n // 2)  # four panels: 2 x 2, five or six: 3 + 3
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for k, (ax, col) in enumerate(zip(axes.flat, columns)):
        for prefix, style in (("train_", "-o"), ("val_", "--s")):
            if prefix + col in history:
                ax.plot(history["epoch"], history[prefix + col], style, ms=3,
                        label=prefix.rstrip("_").replace("val", "validation"))
        if selected is not None:
            ax.axvline(selected, color="0.5", ls=":", lw=1, label="kept epoch")
        ax.set(title=titles[k] if titles else col, xlabel="epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def score_distributions(scores: pd.DataFrame, *, threshold: float | None = None,
                        xlabel: str = "anomaly score") -> plt.Figure:
    """Histograms of the test clips' scores, normal vs anomalous, one panel per domain.

    ``scores``: rows with columns split, domain, label, score (as ``SystemRun.scores``).
    """
    test = scores[scores["split"] == "test"]
    domains = [d for d in ("source", "target") if d in set(test["domain"])]
    fig, axes = plt.subplots(1, len(domains), figsize=(4.6 * len(domains), 3.2), squeeze=False,
                             sharex=True)
    bins = np.histogram_bin_edges(test["score"], bins=30)
    for ax, dom in zip(axes[0], domains):
        for label, color in LABEL_COLORS.items():
            s = test[(test["domain"] == dom) & (test["label"] == label)]["score"]
            if len(s):
                ax.hist(s, bins=bins, alpha=0.55, color=color, label=f"{label} ({len(s)})")
        if threshold is not None:
            ax.axvline(threshold, color="k", ls="--", lw=1, label="decision threshold")
        ax.set(title=f"{dom} domain", xlabel=xlabel, ylabel="clips")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def roc_curves(scores: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """ROC curve per section, one panel per domain, with the pAUC region (FPR <= 0.1) shaded."""
    test = scores[(scores["split"] == "test") & scores["label"].isin(["normal", "anomaly"])]
    domains = [d for d in ("source", "target") if d in set(test["domain"])]
    fig, axes = plt.subplots(1, len(domains), figsize=(4.0 * len(domains), 3.8), squeeze=False)
    for ax, dom in zip(axes[0], domains):
        ax.axvspan(0, MAX_FPR, color="tab:orange", alpha=0.15, label=f"pAUC region (FPR ≤ {MAX_FPR})")
        for section, g in test[test["domain"] == dom].groupby("section"):
            fpr, tpr, _ = roc_curve(g["label"] == "anomaly", g["score"])
            ax.plot(fpr, tpr, lw=1.5, label=f"section {section}")
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
        ax.set(title=f"{title}{dom} domain", xlabel="false positive rate", ylabel="true positive rate",
               xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def confusions(matrices: Mapping[str, np.ndarray], labels: Sequence[str]) -> plt.Figure:
    """Confusion matrices side by side (rows: true, columns: predicted), counts written in."""
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=((1.1 * len(labels) + 2.2) * n, 1.1 * len(labels) + 1.6),
                             squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        matrix = np.asarray(matrix)
        ax.imshow(matrix, cmap="Blues", vmin=0)
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
               yticklabels=labels, xlabel="predicted section", ylabel="true section", title=title)
    fig.tight_layout()
    return fig


def score_forms(log_odds: np.ndarray, official: np.ndarray, labels: Sequence[str],
                aucs: Mapping[str, float]) -> plt.Figure:
    """Clip scores by the log-odds against the official form, coloured by label."""
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    labels = np.asarray(labels)
    for label, color in LABEL_COLORS.items():
        m = labels == label
        ax.scatter(log_odds[m], official[m], s=10, alpha=0.6, color=color, label=label)
    ax.set(xlabel="clip score: mean log-odds", ylabel="clip score: official form",
           title=", ".join(f"AUC {k} {v:.3f}" for k, v in aucs.items()))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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
    """Both views of the same chunks in one PCA plane: colour by section, marker by domain.

    Left: AE view p (circles filled) and CNN view u (crosses) together;
    right: the same points with a line from each chunk's p to its u.
    """
    p2, u2 = pca_2d(p, u)
    section, domain = np.asarray(section), np.asarray(domain)
    sections = sorted(set(section))
    colors = dict(zip(sections, plt.cm.tab10.colors))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), sharex=True, sharey=True)
    for ax, lines in zip(axes, (False, True)):
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
    axes[0].legend(fontsize=6, ncol=2, loc="best")
    fig.tight_layout()
    return fig


def bars(mean: pd.DataFrame, std: pd.DataFrame | None = None, *, ylabel: str = "score (%)",
         title: str = "", chance: float | None = 50.0) -> plt.Figure:
    """Grouped bars: one group per column (machine type), one bar per row (system), std as error bars."""
    rows, cols = list(mean.index), list(mean.columns)
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(cols) + 2), 3.8))
    x = np.arange(len(cols))
    for k, row in enumerate(rows):
        err = None if std is None else std.loc[row].to_numpy(dtype=float)
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, mean.loc[row].to_numpy(dtype=float), width,
               yerr=err, capsize=2, label=str(row))
    if chance is not None:
        ax.axhline(chance, color="0.4", ls=":", lw=1, label="chance")
    ax.set(xticks=x, xticklabels=cols, ylabel=ylabel, title=title)
    if not rows:
        ax.text(0.5, 0.5, "none of these systems was measured", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        ax.set_ylim(0, 100)
        fig.tight_layout()
        return fig
    lo = np.nanmin(mean.to_numpy(dtype=float))
    ax.set_ylim(max(0.0, min(40.0, lo - 5)), 100)
    ax.legend(fontsize=8, ncol=min(3, len(rows)), loc="upper right")
    fig.tight_layout()
    return fig
