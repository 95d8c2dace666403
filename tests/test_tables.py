"""Tables made from scores: the uncertainty of a cell and paired differences between systems."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from asdlib.tables import _partial_areas, cell_intervals, paired_differences, scores_by_machine


@pytest.mark.parametrize("m, k, max_fpr", [(20, 20, 0.1), (100, 100, 0.1), (17, 23, 0.1), (20, 20, 0.13)])
def test_the_vectorised_auc_and_pauc_are_scikit_learns(rng, m, k, max_fpr):
    normal, anomaly = rng.normal(0, 1, (4, m)), rng.normal(0.7, 1, (4, k))
    auc, pauc = _partial_areas(normal, anomaly, max_fpr)
    for i in range(4):
        y, s = np.r_[np.zeros(m), np.ones(k)], np.r_[normal[i], anomaly[i]]
        assert auc[i] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert pauc[i] == pytest.approx(roc_auc_score(y, s, max_fpr=max_fpr), abs=1e-12)


def test_a_cells_interval_holds_its_value_and_narrows_with_more_clips(rng):
    def interval(n):
        y = np.r_[np.zeros(n), np.ones(n)]
        s = rng.normal(size=2 * n) + 0.8 * y
        return roc_auc_score(y, s), cell_intervals(y, s, n_boot=1000)

    auc, small = interval(20)
    assert small["AUC_lo"] <= auc <= small["AUC_hi"] and small["normal"] == small["anomalous"] == 20
    _, large = interval(400)
    assert large["AUC_hi"] - large["AUC_lo"] < 0.5 * (small["AUC_hi"] - small["AUC_lo"])
    assert 0 <= small["pAUC_lo"] <= small["pAUC_hi"] <= 1
    again = cell_intervals(np.r_[np.zeros(20), np.ones(20)], np.arange(40.0), n_boot=1000)
    assert again["AUC_lo"] == again["AUC_hi"] == 1.0  # a perfect scorer stays perfect


def test_paired_differences_are_taken_seed_by_seed():
    rows = []
    for seed, (a, b) in enumerate([(0.80, 0.70), (0.60, 0.65), (0.90, 0.75)]):
        for system, auc in (("A", a), ("B", b)):
            for section in ("00", "01"):
                rows.append({"system": system, "seed": seed, "machine": "fan", "section": section,
                             "domain": "source", "AUC": auc, "pAUC": auc})
    diff = paired_differences(scores_by_machine(pd.DataFrame(rows)), "A", "B")
    assert diff.loc["fan", "seeds"] == 3 and diff.loc["fan", "ahead"] == 2
    assert diff.loc["fan", "mean"] == pytest.approx(100 * np.mean([0.10, -0.05, 0.15]))
    assert diff.loc["fan", "std"] == pytest.approx(100 * np.std([0.10, -0.05, 0.15], ddof=1))
    with pytest.raises(ValueError, match="must have been measured"):
        paired_differences(scores_by_machine(pd.DataFrame(rows)), "A", "C")


def _summary(values: dict[tuple[str, str], float], seeds: int = 3) -> pd.DataFrame:
    from asdlib.tables import VALUES

    rows = []
    for (system, machine), v in values.items():
        row = {"system": system, "machine": machine, "seeds": seeds}
        for name in VALUES:
            row[f"{name}_mean"], row[f"{name}_std"] = v, 1.0
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_baselines_are_set_beside_the_real_data_with_the_sign_of_their_difference():
    from asdlib.tables import against_real

    summary = _summary({("AE baseline", "fan"): 70.0, ("MBv2 baseline", "fan"): 60.0,
                        ("AE baseline", "slider"): 50.0, ("MBv2 baseline", "slider"): 75.0,
                        ("AE baseline", "Score"): 60.0, ("MBv2 baseline", "Score"): 66.0})
    real = against_real(summary)
    assert list(real.index) == ["fan", "slider"]  # the poster's order, without the official score
    assert real.loc["fan", "AE real"] == 60.68 and real.loc["fan", "AE difference"] == pytest.approx(9.32)
    assert not real.loc["fan", "same sign of MBv2 - AE"]  # on the real fan the classifier wins
    assert real.loc["slider", "same sign of MBv2 - AE"]


def test_the_poster_s_numbers_are_named_with_their_metric_and_data_set():
    from asdlib.tables import against_poster

    side = against_poster(_summary({("MBv2 baseline", "fan"): 61.0, ("+ CL", "fan"): 62.0,
                                    ("+ CL", "Score"): 58.0})).set_index(["system", "machine"])
    assert side.loc[("MBv2 baseline", "fan"), "poster's metric"] == "AUC"
    assert side.loc[("MBv2 baseline", "fan"), "poster's data"] == "evaluation set"
    assert side.loc[("+ CL", "fan"), "poster's data"] == "development set"
    assert side.loc[("+ CL", "fan"), "measured - poster"] == pytest.approx(62.0 - 60.61)
    assert side.loc[("+ CL", "Score"), "poster's metric"] == "official score"


def test_a_difference_is_called_real_only_when_every_seed_agrees():
    from asdlib.tables import SCORE, difference_sentence

    def table(rows):
        return pd.DataFrame(rows, columns=["machine", "mean", "std", "seeds", "ahead"]).set_index("machine")

    agreeing = table([("fan", 3.0, 1.0, 3, 3), ("valve", -0.5, 2.0, 3, 1), (SCORE, 1.5, 0.5, 3, 3)])
    text = difference_sentence(agreeing, "A minus B")
    assert "the same sign in every seed" in text and "ahead in every seed on fan" in text
    noisy = table([("fan", 1.0, 3.0, 3, 2), (SCORE, 0.4, 1.0, 3, 2)])
    assert "not told apart from the seed-to-seed spread" in difference_sentence(noisy, "A minus B")
    one = table([("fan", 1.0, np.nan, 1, 1), (SCORE, 1.0, np.nan, 1, 1)])
    assert "one seed" in difference_sentence(one, "A minus B")
