"""The official DCASE 2021 Task 2 metrics.

Per (machine type, section, domain) cell: AUC and pAUC (scikit-learn's
``roc_auc_score`` and ``roc_auc_score(max_fpr=0.1)``, the McClish-standardised
partial AUC), and precision, recall and F1 of the decisions, computed as the
official evaluator does (each denominator floored at machine epsilon).
The official score: the harmonic mean of all AUC and pAUC values together,
each floored at machine epsilon (:func:`official_score`; the tables per
machine type, system and seed are made by :mod:`asdlib.tables`).
The decision threshold: the 0.9 quantile of a gamma distribution fitted to
the training clips' scores.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.metrics import confusion_matrix, roc_auc_score

from ._numeric import EPS
from .errors import ScoreError

MAX_FPR = 0.1
DECISION_QUANTILE = 0.9
METRICS = ("AUC", "pAUC", "precision", "recall", "F1")


def check_finite(names: Sequence[str], scores: np.ndarray, *, where: str = "") -> np.ndarray:
    """Return ``scores`` as float64, or raise naming the clips whose score is NaN or infinite."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        listed = [f"{n}={s}" for n, s in zip(np.asarray(names)[bad], scores[bad])]
        raise ScoreError(f"{where}{int(bad.sum())} score(s) are NaN or infinite: "
                         + ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else ""))
    return scores


def gamma_threshold(train_scores: np.ndarray, *, quantile: float = DECISION_QUANTILE) -> float:
    """The decision threshold of the official baselines.

    A gamma distribution is fitted (``scipy.stats.gamma.fit``, shape, location
    and scale) to the anomaly scores of the training clips; the threshold is
    its ``quantile``.  Clips scoring above it are decided anomalous.
    """
    train_scores = check_finite(np.arange(len(train_scores)).astype(str), train_scores,
                                where="training scores: ")
    if len(train_scores) < 3:
        raise ScoreError(f"a gamma fit needs at least 3 training scores, got {len(train_scores)}")
    a, loc, scale = scipy.stats.gamma.fit(train_scores)
    return float(scipy.stats.gamma.ppf(quantile, a, loc=loc, scale=scale))


def cell_metrics(y_true: Sequence[int], y_score: Sequence[float],
                 decisions: Sequence[int] | None = None, *, max_fpr: float = MAX_FPR,
                 where: str = "") -> dict[str, float]:
    """AUC, pAUC, precision, recall and F1 of one cell.

    Parameters
    ----------
    y_true : 1 for anomalous clips, 0 for normal ones, shape=(n,).
    y_score : anomaly scores (higher is more anomalous), shape=(n,).
    decisions : 0/1 decisions, shape=(n,); without them precision, recall
        and F1 are NaN.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_score = np.asarray(y_score, dtype=np.float64)
    if len(np.unique(y_true)) != 2:
        raise ScoreError(f"{where}AUC is undefined: every one of the {len(y_true)} clips is labelled "
                         f"{'anomalous' if y_true.any() else 'normal'}")
    out = {"AUC": float(roc_auc_score(y_true, y_score)),
           "pAUC": float(roc_auc_score(y_true, y_score, max_fpr=max_fpr))}
    if decisions is None:
        out.update(precision=np.nan, recall=np.nan, F1=np.nan)
        return out
    tn, fp, fn, tp = confusion_matrix(y_true, np.asarray(decisions, dtype=int), labels=[0, 1]).ravel()
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    out.update(precision=float(precision), recall=float(recall),
               F1=float(2.0 * precision * recall / max(precision + recall, EPS)))
    return out


def hmean(values: np.ndarray) -> float:
    """Harmonic mean with each value floored at machine epsilon, as the official evaluator."""
    return float(scipy.stats.hmean(np.maximum(np.asarray(values, dtype=np.float64), EPS)))


def official_score(cells: pd.DataFrame) -> float:
    """The harmonic mean of all AUC and pAUC values together (over all machine types)."""
    return hmean(np.concatenate([cells["AUC"].to_numpy(), cells["pAUC"].to_numpy()]))
