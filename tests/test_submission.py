import csv
import sys

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

from asdlib import cli
from asdlib.layout import list_clips
from asdlib.metrics import ScoreError, official_score
from asdlib.tables import summarize
from asdlib.submission import evaluate, read_submission, write_cell, write_submission


def reference_evaluator(sub_dir, gt_dir, machines, sections):
    """The official DCASE 2021 Task 2 evaluator's algorithm, restated from its description:
    rows of each CSV sorted, AUC/pAUC from scikit-learn, precision/recall/F1 from the
    confusion matrix of the decision file with epsilon-floored denominators, harmonic
    means with values floored at epsilon."""
    def read(path):
        with open(path) as f:
            return [float(r[1]) for r in sorted(csv.reader(f))]

    eps, per_machine, every = sys.float_info.epsilon, {}, []
    for machine in machines:
        perf = []
        for domain in ("source", "target"):
            for section in sections:
                cell = f"{machine}_section_{section}_{domain}_test.csv"
                y_pred = read(sub_dir / f"anomaly_score_{cell}")
                y_true = read(gt_dir / f"ground_truth_{cell}")
                dec = read(sub_dir / f"decision_result_{cell}")
                tn, fp, fn, tp = skm.confusion_matrix(y_true, dec).ravel()
                prec = tp / np.maximum(tp + fp, eps)
                rec = tp / np.maximum(tp + fn, eps)
                f1 = 2.0 * prec * rec / np.maximum(prec + rec, eps)
                row = [skm.roc_auc_score(y_true, y_pred), skm.roc_auc_score(y_true, y_pred, max_fpr=0.1),
                       prec, rec, f1]
                perf.append(row)
                every.append(row)
        per_machine[machine] = scipy.stats.hmean(np.maximum(np.array(perf), eps), axis=0)
    flat = np.array(every)[:, :2].ravel()
    return per_machine, scipy.stats.hmean(np.maximum(flat, eps))


@pytest.fixture
def eval_submission(tiny_data, tmp_path, rng):
    sub = tmp_path / "team"
    for machine in ("fan", "valve"):
        clips = list_clips(tiny_data / "eval_data", machine, split="test")
        scores = rng.normal(size=len(clips))
        write_submission(sub, clips, scores, threshold=0.3)
    return sub


def test_evaluate_equals_the_official_evaluator(tiny_data, eval_submission):
    gt = tiny_data / "ground_truth_data"
    cells = evaluate(eval_submission, ground_truth=gt)
    assert len(cells) == 2 * 3 * 2
    ref_machine, ref_score = reference_evaluator(eval_submission, gt, ["fan", "valve"],
                                                 ["03", "04", "05"])
    summ = summarize(cells)
    for machine, ref in ref_machine.items():
        ours = summ[(summ.machine == machine) & (summ.subset == "all") & (summ["mean"] == "harmonic")]
        np.testing.assert_allclose(ours[["AUC", "pAUC", "precision", "recall", "F1"]].to_numpy()[0],
                                   ref, rtol=1e-12, atol=1e-300)
    assert official_score(cells) == pytest.approx(ref_score, rel=1e-12)


def test_files_are_in_the_official_format(eval_submission):
    rows = (eval_submission / "anomaly_score_fan_section_03_source_test.csv").read_text().splitlines()
    names = [r.split(",")[0] for r in rows]
    assert names == sorted(names) and all(n.startswith("section_03_source_test_") for n in names)
    dec = (eval_submission / "decision_result_fan_section_03_source_test.csv").read_text().splitlines()
    assert {r.split(",")[1] for r in dec} <= {"0", "1"}
    sub = read_submission(eval_submission)
    assert len(sub) == 12 and set(sub[("fan", "03", "source")]) == {"scores", "decisions"}


def test_dev_labels_from_file_names(tiny_data, tmp_path):
    clips = list_clips(tiny_data / "dev_data", "fan", split="test")
    perfect = [float(c.y_true) for c in clips]
    write_submission(tmp_path, clips, perfect, threshold=0.5)
    cells = evaluate(tmp_path, data_dir=tiny_data)
    assert (cells["AUC"] == 1).all() and (cells["pAUC"] == 1).all() and (cells["F1"] == 1).all()


def test_mismatched_nan_and_missing_are_clear_errors(tiny_data, tmp_path):
    clips = list_clips(tiny_data / "dev_data", "fan", split="test")
    write_submission(tmp_path, clips, np.arange(len(clips), dtype=float), threshold=5)
    cell = [c for c in clips if (c.section, c.domain) == ("01", "target")]
    names = [c.name for c in cell]
    write_cell(tmp_path, "fan", "01", "target", names[1:] + ["section_01_target_test_normal_9999.wav"],
               np.ones(len(names)), [0] * len(names))
    with pytest.raises(ScoreError, match=r"1 missing \['section_01_target_test_anomaly_0000.wav'\], "
                                         r"1 extra \['section_01_target_test_normal_9999.wav'\]"):
        evaluate(tmp_path, data_dir=tiny_data)
    with pytest.raises(ScoreError, match="NaN or infinite: section_01_target_test_anomaly_0000.wav"):
        write_cell(tmp_path, "fan", "01", "target", names, [np.nan] + [1.0] * (len(names) - 1),
                   [0] * len(names))
    (tmp_path / "anomaly_score_fan_section_01_target_test.csv").unlink()
    with pytest.raises(ScoreError, match="anomaly_score_fan_section_01_target_test.csv: file missing"):
        evaluate(tmp_path, data_dir=tiny_data)


def test_cli_evaluate(tiny_data, eval_submission, tmp_path, capsys):
    rc = cli.main(["evaluate", str(eval_submission), "--ground-truth",
                   str(tiny_data / "ground_truth_data"), "--out", str(tmp_path / "res")])
    out = capsys.readouterr().out
    assert rc == 0 and "official score:" in out and "fan" in out and "PARTIAL" not in out
    assert (tmp_path / "res" / "cells.csv").is_file() and (tmp_path / "res" / "table.csv").is_file()
    assert cli.main(["evaluate", str(tmp_path / "nothing"), "--data", str(tiny_data)]) == 2
    assert "submission folder not found" in capsys.readouterr().err


def test_an_incomplete_submission_is_scored_as_partial_with_what_is_missing(tiny_data, eval_submission, capsys):
    for f in eval_submission.glob("*_valve_*"):
        f.unlink()  # every file of one machine type
    (eval_submission / "decision_result_fan_section_04_target_test.csv").unlink()
    cells = evaluate(eval_submission, ground_truth=tiny_data / "ground_truth_data")
    assert cells.attrs["missing machine types"] == ["valve"]
    assert cells.attrs["missing decision files"] == ["decision_result_fan_section_04_target_test.csv"]
    rc = cli.main(["evaluate", str(eval_submission), "--ground-truth", str(tiny_data / "ground_truth_data")])
    out, err = capsys.readouterr()
    assert rc == 0 and "(PARTIAL)" in out
    assert "machine type(s) valve" in err and "decision_result_fan_section_04_target_test.csv" in err
