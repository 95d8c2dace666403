import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score, roc_curve

from asdlib.metrics import ScoreError, cell_metrics, gamma_threshold, hmean, official_score
from asdlib.tables import score_table, summarize


def mcclish_pauc(y, s, max_fpr=0.1):
    """Partial AUC up to max_fpr, standardised (McClish): 0.5 random, 1 perfect."""
    fpr, tpr, _ = roc_curve(y, s)
    stop = np.searchsorted(fpr, max_fpr, "right")
    x = np.r_[fpr[:stop], max_fpr]
    yv = np.r_[tpr[:stop], np.interp(max_fpr, fpr, tpr)]
    area = np.trapezoid(yv, x)
    lo, hi = max_fpr ** 2 / 2, max_fpr
    return 0.5 * (1 + (area - lo) / (hi - lo))


def test_auc_and_pauc_are_the_official_definitions(rng):
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + 0.8 * y
    m = cell_metrics(y, s)
    assert m["AUC"] == roc_auc_score(y, s)
    assert m["pAUC"] == pytest.approx(mcclish_pauc(y, s), abs=1e-12)
    assert m["pAUC"] == roc_auc_score(y, s, max_fpr=0.1)


def test_pauc_of_the_official_readme_example():
    # The official README's example value 0.5273684210526316 = 0.5 + 0.52 / 19 is a partial
    # area of 0.0102 below FPR 0.1: 51 of 500 anomalies above all 100 normal clips, the rest below.
    y = np.r_[np.zeros(100), np.ones(500)]
    s = np.r_[np.arange(100.0), 1000 + np.arange(51.0), -1 - np.arange(449.0)]
    assert cell_metrics(y, s)["pAUC"] == pytest.approx(0.5273684210526316, abs=1e-15)


def test_precision_recall_f1_from_decisions():
    y = [0, 0, 0, 1, 1, 1]
    d = [0, 1, 0, 1, 1, 0]
    m = cell_metrics(y, [0, 1, 2, 3, 4, 5], d)
    assert (m["precision"], m["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert m["F1"] == pytest.approx(2 / 3)
    none = cell_metrics(y, [0, 1, 2, 3, 4, 5], [0] * 6)
    assert none["precision"] == 0 and none["F1"] == 0  # denominators floored, no division error


def test_gamma_threshold_is_the_0_9_quantile_of_the_fit(rng):
    train = rng.gamma(3.0, 2.0, 500) + 1
    a, loc, scale = scipy.stats.gamma.fit(train)
    assert gamma_threshold(train) == pytest.approx(scipy.stats.gamma.ppf(0.9, a, loc=loc, scale=scale))
    assert 0.8 < np.mean(train <= gamma_threshold(train)) < 0.97


def test_bad_scores_are_clear_errors():
    with pytest.raises(ScoreError, match="AUC is undefined"):
        cell_metrics([0, 0, 0], [1, 2, 3])
    with pytest.raises(ScoreError, match="NaN or infinite"):
        gamma_threshold(np.array([1.0, np.nan, 2.0, 3.0]))


def _cells(rng):
    rows = []
    for machine in ("fan", "valve"):
        for section in ("00", "01"):
            for domain in ("source", "target"):
                rows.append({"machine": machine, "section": section, "domain": domain,
                             **{k: rng.uniform(0.4, 0.95) for k in ("AUC", "pAUC", "precision",
                                                                   "recall", "F1")}})
    return pd.DataFrame(rows)


def test_means_and_official_score(rng):
    cells = _cells(rng)
    summ = summarize(cells)
    fan = cells[cells.machine == "fan"]
    row = summ[(summ.machine == "fan") & (summ.subset == "target") & (summ["mean"] == "harmonic")]
    assert row["AUC"].item() == pytest.approx(scipy.stats.hmean(fan[fan.domain == "target"]["AUC"]))
    row = summ[(summ.machine == "valve") & (summ.subset == "all") & (summ["mean"] == "arithmetic")]
    assert row["F1"].item() == pytest.approx(cells[cells.machine == "valve"]["F1"].mean())
    flat = np.r_[cells["AUC"], cells["pAUC"]]
    assert official_score(cells) == pytest.approx(scipy.stats.hmean(flat))
    assert hmean(np.array([0.0, 1.0])) == pytest.approx(2 * np.finfo(float).eps, rel=1e-3)
    table = score_table(cells)
    assert list(table.index) == ["fan", "valve", "official score"]
    assert table.loc["official score", "score"] == round(100 * official_score(cells), 2)
