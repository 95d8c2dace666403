"""Batch runs: grid files, parameter checks before anything starts, a tiny grid on a local Dask
cluster of two workers, resuming (skipped, killed, failed runs) and the gathered table."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from asdlib.batch import RUNS_PER_GPU, default_workers, kernel_env, run_grid
from asdlib.cli import build_parser
from asdlib.book import ROOT
from asdlib.tables import SCORE
from asdlib.gather import gather, made_with, read_results
from asdlib.grid import (DEFAULT_NOTEBOOK, GridError, RunSpec, check, expand, make_grid, read_grid_file,
                         read_result, run_name)
from asdlib.metrics import hmean
from asdlib.notebooks import execute_notebook
from asdlib.submission import evaluate
from asdlib.synth import get_profile, synthesize

ASDLIB = [sys.executable, "-m", "asdlib.cli"]


# ---------------------------------------------------------------- grid files and checks (fast)


def test_a_yaml_and_a_toml_grid_file_say_the_same(tmp_path):
    (tmp_path / "grid.yml").write_text(
        "data: dcase\nmachines: [fan, valve]\nsystems:\n  - AE baseline\n  - '+ CL, MF'\n"
        "seeds: [0, 1]\nsettings: tiny\nparams: {device: cpu}\n"
        "overrides:\n  base: {}\n  short: {config: {epochs: 2}}\n")
    (tmp_path / "grid.toml").write_text(
        'data = "dcase"\nmachines = ["fan", "valve"]\nsystems = ["ae-baseline", "cl-mf"]\n'
        'seeds = [0, 1]\nsettings = "tiny"\nparams = {device = "cpu"}\n'
        '[overrides]\nbase = {}\nshort = {config = {epochs = 2}}\n')
    grids = [make_grid(read_grid_file(tmp_path / f)) for f in ("grid.yml", "grid.toml")]
    assert grids[0] == grids[1]
    g = grids[0]
    assert g.data == (tmp_path / "dcase").resolve()  # relative to the grid file
    assert g.systems == ("AE baseline", "+ CL, MF") and g.seeds == (0, 1)
    assert g.overrides == {"base": {}, "short": {"config": {"epochs": 2}}}
    runs = expand(g, tmp_path / "out", ["fan", "valve"])
    assert len(runs) == 2 * 2 * 2 * 2 and len({r.name for r in runs}) == len(runs)
    assert [r.machine for r in runs[:2]] == ["fan", "valve"]  # machine types innermost
    first = runs[0]
    assert first.name == "fan_ae-baseline_seed-0_base" and first.label == "AE baseline [base]"
    assert first.notebook == tmp_path.resolve() / "out" / "runs" / first.name / f"{first.name}.ipynb"
    assert first.params["settings"] == "tiny" and first.params["device"] == "cpu"
    assert first.params["runs"] == str(first.folder / "work")
    short = next(r for r in runs if r.override == "short")
    assert short.params["config"] == {"epochs": 2}


def test_the_command_line_replaces_the_files_keys_and_overrides_are_labelled_by_content(tmp_path):
    file = {"data": tmp_path, "seeds": [0], "params": {"device": "cpu", "cache": "x"}}
    g = make_grid(file, seeds=[3, 4], systems=["mbv2", "+ MF"], params={"device": "cuda"},
                  overrides=[{}, {"config": {"lr": 0.0001}}])
    assert g.seeds == (3, 4) and g.systems == ("MBv2", "+ MF")
    assert g.params == {"device": "cuda", "cache": "x"}
    assert list(g.overrides) == ["", "config.lr=0.0001"]
    assert run_name("fan", "+ MF", 3, "config.lr=0.0001") == "fan_mf_seed-3_config.lr=0.0001"


@pytest.mark.parametrize("text, message", [
    ("data: d\nsystem: [mbv2]\n", "unknown key(s) 'system'"),
    ("data: d\nsystems: [nope]\n", "unknown system 'nope'"),
    ("data: d\nseeds: 3\n", "seeds must be a list of integers"),
    ("data: d\nmachines: fan\n", "machines must be a list"),
    ("data: d\noverrides: [{}, {}]\n", "two overrides are both named ''"),
    ("machines: [fan]\n", "no data folder"),
    ("data: [\n", "not valid YML"),
    ("data: 3\n", "data must be a path"),
])
def test_a_bad_grid_file_is_named_in_its_error(tmp_path, text, message):
    path = tmp_path / "grid.yml"
    path.write_text(text)
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        make_grid(read_grid_file(path), where=f"{path}: ")


@pytest.mark.parametrize("given, message", [
    (dict(params={"epochz": 3}), "unknown parameter 'epochz'"),
    (dict(params={"settings": 3}), "parameter 'settings' must be str"),
    (dict(params={"config": {"epochs": "2"}}), "'epochs' must be int"),
    (dict(params={"config": {"mf_kernel": 4}}), "mf_kernel must be an odd number"),
    (dict(params={"config": {"epocs": 2}}), "'epocs' is not a training setting"),
    (dict(settings="fast"), "unknown settings 'fast'"),
    (dict(params={"seed": 1}), "parameter 'seed' is set by the runner"),
    (dict(overrides=[{"machine": "fan"}]), "parameter 'machine' is set by the runner"),
    (dict(machines=["fan", "drill"]), "machine type 'drill' is not in"),
])
def test_a_bad_parameter_stops_the_grid_before_anything_is_written(tiny_data, tmp_path, given, message):
    grid = make_grid({"data": tiny_data, "settings": "tiny"}, **given)
    out = tmp_path / "out"
    with pytest.raises(GridError, match=message) as err:
        run_grid(grid, out, workers=1, progress=False, log=lambda s: None)
    assert "nothing was run" in str(err.value) or "cannot start" in str(err.value)
    assert not out.exists()


def test_the_run_notebook_declares_every_parameter_the_runner_sets(tiny_data, tmp_path):
    grid = make_grid({"data": tiny_data, "settings": "tiny"})
    runs = expand(grid, tmp_path, ["fan"])
    check(grid, runs, ["fan", "valve"])  # no error: the runner's own parameters are all declared
    assert grid.notebook == DEFAULT_NOTEBOOK and DEFAULT_NOTEBOOK.exists()


def test_each_local_worker_gets_its_own_gpu_and_the_cores_are_shared():
    assert kernel_env({"threads": 4, "gpus": []}) == {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}
    gpus = {"threads": 1, "gpus": [0, 1, 2]}
    assert [kernel_env(gpus, w)["CUDA_VISIBLE_DEVICES"] for w in (0, 1, 2)] == ["0", "1", "2"]
    assert kernel_env({"threads": None, "gpus": []}) == {}  # a remote worker keeps its own environment
    assert default_workers([0, 1]) == 2 * RUNS_PER_GPU and default_workers([0, 1], 1) == 2
    assert 1 <= default_workers([]) <= 8
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert f"default {RUNS_PER_GPU}," in " ".join(run_help.split())
    two = {"threads": 1, "gpus": [0, 1]}  # several runs per GPU: the workers take the GPUs in turn
    assert [kernel_env(two, w)["CUDA_VISIBLE_DEVICES"] for w in range(4)] == ["0", "1", "0", "1"]


def _fake_run(out: Path, machine: str, system: str, seed: int, auc: list[float]) -> RunSpec:
    """A complete run as the runner leaves it, with made-up cell metrics."""
    name = run_name(machine, system, seed)
    run = RunSpec(name=name, machine=machine, system=system, seed=seed, override="", params={},
                  folder=out / "runs" / name)
    run.folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), run.notebook)
    cells = [{"section": "00", "domain": d, "AUC": a, "pAUC": a / 2} for d, a in zip(("source", "target"), auc)]
    (run.folder / "result.json").write_text(json.dumps({"status": "complete", "metrics": {"cells": cells}}))
    return run


def test_gathering_gives_means_and_spreads_over_seeds_and_no_score_for_an_incomplete_seed(tmp_path):
    runs = [_fake_run(tmp_path, "fan", "MBv2", 0, [0.8, 0.6]), _fake_run(tmp_path, "valve", "MBv2", 0, [0.9, 0.7]),
            _fake_run(tmp_path, "fan", "MBv2", 1, [0.6, 0.4])]  # seed 1 has no valve run
    missing = RunSpec(name="valve_mbv2_seed-1", machine="valve", system="MBv2", seed=1, override="",
                      params={}, folder=tmp_path / "runs" / "valve_mbv2_seed-1")
    files = gather(tmp_path, [*runs, missing], ["fan", "valve"])
    summary, _ = read_results(files["results"])
    fan = summary.set_index("machine").loc["fan"]
    per_seed = [100 * hmean(np.array([0.8, 0.6, 0.4, 0.3])), 100 * hmean(np.array([0.6, 0.4, 0.3, 0.2]))]
    assert fan["seeds"] == 2
    assert fan["score_mean"] == pytest.approx(np.mean(per_seed))
    assert fan["score_std"] == pytest.approx(np.std(per_seed, ddof=1))
    score = summary.set_index("machine").loc[SCORE]
    assert score["seeds"] == 1  # only seed 0 covers both machine types
    assert score["score_mean"] == pytest.approx(100 * hmean(np.array([0.8, 0.6, 0.9, 0.7, 0.4, 0.3, 0.45, 0.35])))
    assert "± " in files["markdown"].read_text()


def test_the_gathered_grid_says_where_its_runs_were_made(tmp_path):
    """A grid run on a GPU machine and gathered on a CPU one names the GPU, not the gatherer."""
    gpu = {"platform": "Linux-gpu", "cuda": "13.0", "python": "3.12.3", "torch": "2.11.0", "numpy": "2.5.2",
           "git": "abc"}
    runs = [_fake_run(tmp_path, m, "MBv2", 0, [0.8, 0.6]) for m in ("fan", "valve", "pump")]
    for run, versions in zip(runs, (gpu, gpu, {**gpu, "cuda": None, "platform": "Linux-cpu"})):
        result = json.loads((run.folder / "result.json").read_text())
        (run.folder / "result.json").write_text(json.dumps({**result, "versions": versions}))
    made = made_with([(r, json.loads((r.folder / "result.json").read_text())) for r in runs])
    assert [m["runs"] for m in made] == [2, 1] and made[0]["cuda"] == "13.0" and made[1]["cuda"] is None
    (tmp_path / "grid.json").write_text(json.dumps({"settings": "book", "runs": 3}))
    files = gather(tmp_path, runs, ["fan", "valve", "pump"])
    meta = json.loads((tmp_path / "grid.json").read_text())
    assert meta["made"] == made and meta["complete"] == 3
    text = files["markdown"].read_text()
    assert "2 run(s) on a GPU (CUDA 13.0)" in text and "1 run(s) on the CPU" in text


def test_a_results_table_that_is_not_one_is_refused_with_its_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv: no such results table"):
        read_results(tmp_path / "nope.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv: not a table gathered by asdlib run"):
        read_results(tmp_path / "other.csv")


# ---------------------------------------------------------------- a tiny grid end to end (slow)


@pytest.fixture(scope="module")
def grid_run(tiny_data, tmp_path_factory):
    """Two machine types x two systems, tiny settings, on a local cluster of two workers."""
    out = tmp_path_factory.mktemp("grid") / "out"
    grid = make_grid({"data": tiny_data, "machines": ["fan", "valve"], "systems": ["AE baseline", "MBv2"],
                      "settings": "tiny"})
    report = run_grid(grid, out, workers=2, progress=False, log=lambda s: None)
    return grid, out, report


@pytest.mark.slow
def test_a_tiny_grid_runs_every_cell_and_keeps_notebooks_and_result_files(grid_run, tiny_data):
    grid, out, report = grid_run
    assert [o.status for o in report.outcomes] == ["complete"] * 4
    for o in report.outcomes:
        nb = nbformat.read(o.run.notebook, as_version=4)
        assert any(c.outputs for c in nb.cells if c.cell_type == "code")
        result = read_result(o.run)
        assert result["seed"] == 0 and result["system"] == o.run.system and result["machine"] == o.run.machine
        assert result["parameters"]["settings"] == "tiny" and result["config"]["epochs"] == 1
        assert result["data"]["fingerprint"].startswith("sha256:") and result["data"]["synthetic"]
        assert result["versions"]["torch"] and result["versions"]["papermill"]
        assert result["wall_seconds"] > 0 and len(result["metrics"]["cells"]) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert {r["status"] for r in summary["runs"]} == {"complete"}


@pytest.mark.slow
def test_the_gathered_table_equals_the_result_files_and_the_submissions(grid_run, tiny_data):
    grid, out, report = grid_run
    summary, meta = read_results(out / "results.csv")
    assert meta["complete"] == 4 and meta["settings"] == "tiny"
    table = summary.set_index(["system", "machine"])
    for o in report.outcomes:
        result = read_result(o.run)
        row = table.loc[(o.run.system, o.run.machine)]
        for value in ("score", "source", "target", "AUC", "pAUC"):
            assert row[f"{value}_mean"] == pytest.approx(result["metrics"][value])
    for system, folder in (("AE baseline", "ae-baseline"), ("MBv2", "mbv2")):
        cells = [c for o in report.outcomes if o.run.system == system
                 for c in read_result(o.run)["metrics"]["cells"]]
        official = 100 * hmean(np.array([c["AUC"] for c in cells] + [c["pAUC"] for c in cells]))
        assert table.loc[(system, SCORE), "score_mean"] == pytest.approx(official)
        evaluated = evaluate(out / "submissions" / folder / "seed-0", data_dir=tiny_data)
        assert len(evaluated) == 12
        assert 100 * hmean(np.concatenate([evaluated["AUC"], evaluated["pAUC"]])) == pytest.approx(official)
    md = (out / "results.md").read_text()
    assert "| AE baseline |" in md and f"{table.loc[('AE baseline', SCORE), 'score_mean']:.2f}" in md


@pytest.mark.slow
def test_a_rerun_skips_every_complete_run(grid_run):
    grid, out, report = grid_run
    stamps = {o.run.name: (o.run.folder / "result.json").stat().st_mtime_ns for o in report.outcomes}
    again = run_grid(grid, out, workers=2, progress=False, log=lambda s: None)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    assert {o.run.name: (o.run.folder / "result.json").stat().st_mtime_ns for o in again.outcomes} == stamps


@pytest.mark.slow
def test_a_grid_folder_moved_with_its_data_is_resumed_not_refused(grid_run, tiny_data, tmp_path):
    """Made on another machine (a GPU) and copied here: the run's folders and the data path differ."""
    grid, out, report = grid_run
    data, moved = tmp_path / "data", tmp_path / "moved"
    shutil.copytree(tiny_data, data)
    shutil.copytree(out, moved)
    again = run_grid(make_grid({**grid.as_dict(), "data": data}), moved, workers=1, progress=False,
                     log=lambda s: None)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4


@pytest.mark.slow
def test_the_results_chapter_renders_a_gathered_table(grid_run, tiny_data, tmp_path):
    grid, out, report = grid_run
    executed = execute_notebook(ROOT / "notebooks" / "07_results.ipynb", tmp_path / "07.ipynb",
                                {"results_table": str(out / "results.csv"), "progress": False,
                                 "data": str(tiny_data), "runs": str(tmp_path / "runs"),
                                 # a stand-in for an evaluation grid's eval/results.csv (same columns)
                                 "eval_table": str(out / "results.csv")})
    text = executed.read_text()
    ae = read_results(out / "results.csv")[0].set_index(["system", "machine"]).loc[("AE baseline", SCORE)]
    assert f"{ae['score_mean']:.2f}" in text and "Results read from" in text
    assert "synthetic machine sounds" in text
    assert "AE baseline, measured" in text and "MBv2 Baseline, reported by the poster" in text


def test_an_evaluation_table_stands_beside_the_posters_challenge_table():
    from asdlib.tables import against_challenge

    summary = pd.DataFrame([
        {"system": s, "machine": m, "seeds": 2, "AUC_mean": auc, "score_mean": auc - 1}
        for s, base in (("AE baseline", 60.0), ("+ CL, MF", 70.0))
        for m, auc in (("valve", base), ("fan", base + 1), (SCORE, base + 2))])
    table = against_challenge(summary)
    assert list(table.columns) == ["fan", "valve", SCORE]  # the poster's order
    assert table.loc["AE baseline, measured"].tolist() == [61.0, 60.0, 61.0]  # AUC; the official score
    assert table.loc["AE Baseline, reported by the poster"].tolist() == [60.68, 51.87, 56.375]
    assert len(table) == 2 + 4


@pytest.mark.slow
def test_a_run_killed_midway_is_redone_and_the_others_are_untouched(grid_run):
    grid, out, report = grid_run
    victims = [o.run for o in report.outcomes if o.run.system == "MBv2"]
    for run in victims:  # as if these two had never finished
        (run.folder / "result.json").unlink()
    kept = {o.run.name: {p: p.stat().st_mtime_ns for p in o.run.folder.rglob("*") if p.is_file()}
            for o in report.outcomes if o.run not in victims}
    cmd = [*ASDLIB, "run", "--out", str(out), "--data", str(grid.data), "--machines", "fan,valve",
           "--systems", "ae-baseline", "mbv2", "--settings", "tiny", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and not any((r.work / "mbv2").exists() for r in victims):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner, its cluster and its kernels, mid-run
    proc.wait()
    assert any(read_result(r) is None for r in victims), "the runs finished before they could be killed"
    time.sleep(2)  # orphaned kernels notice their parent is gone and exit
    again = run_grid(grid, out, workers=2, progress=False, log=lambda s: None)
    status = {o.run.name: o.status for o in again.outcomes}
    assert all(status[r.name] in ("complete", "skipped") for r in victims)
    assert any(status[r.name] == "complete" for r in victims)
    for name, files in kept.items():
        assert status[name] == "skipped"
        assert {p: p.stat().st_mtime_ns for p in files} == files, f"{name} was touched"
    for r in victims:
        assert read_result(r) is not None


@pytest.mark.slow
def test_a_failing_run_is_reported_while_the_others_complete(tmp_path):
    data = tmp_path / "data"
    synthesize(data, profile=get_profile("tiny"), seed=0, machines=["fan", "valve"], workers=2, progress=False)
    broken = sorted((data / "dev_data" / "valve" / "source_test").glob("*.wav"))[0]
    broken.write_bytes(broken.read_bytes()[:5000])  # a clip cut short
    out = tmp_path / "out"
    from distributed import LocalCluster

    # this time on a cluster given by its scheduler's address, as a user's own cluster would be
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        cmd = [*ASDLIB, "run", "--out", str(out), "--data", str(data), "--systems", "ae-baseline",
               "--settings", "tiny", "--scheduler", cluster.scheduler_address, "--quiet"]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "1 failed run(s)" in proc.stderr and "valve_ae-baseline_seed-0" in proc.stderr
    assert broken.name in proc.stderr  # the error names the file
    assert "1 complete" in proc.stdout and "on scheduler tcp://" in proc.stdout
    valve = out / "runs" / "valve_ae-baseline_seed-0"
    failed = nbformat.read(valve / "valve_ae-baseline_seed-0.failed.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))
    assert not (valve / "result.json").exists()
    assert (out / "runs" / "fan_ae-baseline_seed-0" / "result.json").exists()
    summary = pd.read_csv(out / "results.csv")
    assert set(summary["machine"]) == {"fan"}  # no official score without the valve
    runs = {r["run"]: r["status"] for r in json.loads((out / "summary.json").read_text())["runs"]}
    assert runs == {"fan_ae-baseline_seed-0": "complete", "valve_ae-baseline_seed-0": "failed"}


def test_the_command_line_refuses_a_bad_parameter_with_one_line_and_writes_nothing(tiny_data, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([*ASDLIB, "run", "--out", str(out), "--data", str(tiny_data), "--set", "epochz=3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "unknown parameter 'epochz'" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["tiny.yml", "paper.yml"])
def test_the_example_grids_are_valid(name, tmp_path):
    grid = make_grid(read_grid_file(ROOT / "grids" / name))
    runs = expand(grid, tmp_path, list(grid.machines) or ["fan"])
    check(grid, runs, None)
    assert grid.settings in ("tiny", "paper")


@pytest.mark.slow
def test_complete_runs_made_with_other_parameters_are_refused_not_overwritten(grid_run):
    grid, out, report = grid_run
    before = (out / "grid.json").read_text()
    other = make_grid({**grid.as_dict(), "params": {"config": {"epochs": 2}}})
    with pytest.raises(GridError, match="made with other parameters"):
        run_grid(other, out, workers=1, progress=False, log=lambda s: None)
    assert (out / "grid.json").read_text() == before
    assert all(read_result(o.run) is not None for o in report.outcomes)


# ---------------------------------------------------------------- the evaluation set


def test_the_dataset_key_says_dev_eval_or_both(tmp_path):
    assert make_grid({"data": tmp_path}).datasets == ("dev",)
    assert make_grid({"data": tmp_path, "dataset": "both"}).datasets == ("dev", "eval")
    with pytest.raises(GridError, match="dataset must be one of dev, eval, both, got 'test'"):
        make_grid({"data": tmp_path, "dataset": "test"})
    grid = make_grid({"data": tmp_path, "dataset": "eval", "ground_truth": tmp_path / "gt"})
    assert make_grid(grid.as_dict()) == grid
    (run,) = expand(grid, tmp_path / "out", ["fan"])[:1]
    assert run.name == "fan_ae-baseline_seed-0_eval" and run.dataset == "eval"
    assert run.params["dataset"] == "eval" and run.params["ground_truth"] == str(tmp_path / "gt")
    dev = expand(make_grid({"data": tmp_path}), tmp_path / "out", ["fan"])[0]
    assert "dataset" not in dev.params and "ground_truth" not in dev.params  # as before: old runs resume


@pytest.mark.slow
def test_a_grid_on_both_data_sets_submits_and_scores_the_evaluation_set(tiny_data, tmp_path):
    from asdlib.layout import ground_truth_name

    out = tmp_path / "out"
    grid = make_grid({"data": tiny_data, "machines": ["fan"], "systems": ["MBv2 baseline"],
                      "settings": "tiny", "dataset": "both"})
    report = run_grid(grid, out, workers=2, progress=False, log=lambda s: None)
    assert [(o.run.dataset, o.status) for o in report.outcomes] == [("dev", "complete"), ("eval", "complete")]
    evaluation = read_result(report.outcomes[1].run)
    assert evaluation["dataset"] == "eval" and evaluation["data"]["path"].endswith("eval_data")
    assert {c["section"] for c in evaluation["metrics"]["cells"]} == {"03", "04", "05"}
    sub = out / "eval" / "submissions" / "mbv2-baseline" / "seed-0"
    for section in ("03", "04", "05"):
        for domain in ("source", "target"):
            for kind in ("anomaly_score", "decision_result"):
                assert (sub / f"{kind}_fan_section_{section}_{domain}_test.csv").is_file()
    assert sorted(p.name for p in (out / "submissions" / "mbv2-baseline" / "seed-0").iterdir())[0] \
        .startswith("anomaly_score_fan_section_00")  # the development set's, apart
    summary, meta = read_results(out / "eval" / "results.csv")
    assert meta["dataset"] == "eval" and meta["complete"] == 1 and "fan" in meta["identity"]
    evaluated = evaluate(sub, ground_truth=tiny_data / "ground_truth_data")
    official = 100 * hmean(np.concatenate([evaluated["AUC"], evaluated["pAUC"]]))
    row = summary.set_index(["system", "machine"]).loc[("MBv2 baseline", SCORE)]
    assert row["score_mean"] == pytest.approx(official)
    assert (tiny_data / "ground_truth_data" / ground_truth_name("fan", "03", "source")).is_file()
    dev, _ = read_results(out / "results.csv")
    assert list(dev["machine"]) == ["fan", SCORE]


@pytest.mark.slow
def test_an_evaluation_run_without_ground_truth_writes_its_submission_and_no_scores(tiny_data, tmp_path):
    data = tmp_path / "data"  # the evaluation data without their ground truth
    data.mkdir()
    for name in ("dev_data", "eval_data", ".asdlib-synth.json"):
        if (tiny_data / name).exists():
            (data / name).symlink_to(tiny_data / name)
    out = tmp_path / "out"
    grid = make_grid({"data": data, "machines": ["valve"], "systems": ["AE baseline"], "settings": "tiny",
                      "dataset": "eval"})
    report = run_grid(grid, out, workers=1, progress=False, log=lambda s: None)
    assert [o.status for o in report.outcomes] == ["complete"], report.outcomes[0].error
    assert read_result(report.outcomes[0].run)["metrics"]["cells"] == []
    assert len(list((out / "eval" / "submissions" / "ae-baseline" / "seed-0").glob("*_valve_*.csv"))) == 12
    assert "No run is scored" in (out / "eval" / "results.md").read_text()
    assert not (out / "results.csv").exists()  # no development runs, no development table
    executed = nbformat.read(report.outcomes[0].run.notebook, as_version=4)
    assert any("have no labels" in str(o) for c in executed.cells if c.cell_type == "code" for o in c.outputs)


def test_an_evaluation_run_made_without_ground_truth_is_not_kept_for_a_grid_with_it(tmp_path):
    from asdlib.batch import _still_valid

    grid = make_grid({"data": tmp_path, "dataset": "eval"})
    without = expand(grid, tmp_path / "out", ["fan"])[0]
    with_gt = expand(make_grid({**grid.as_dict(), "ground_truth": tmp_path / "gt"}), tmp_path / "out", ["fan"])[0]
    moved = expand(make_grid({**grid.as_dict(), "ground_truth": tmp_path / "elsewhere"}), tmp_path / "o", ["fan"])[0]
    identity = {"fingerprint": "sha256:x"}
    made = {"parameters": dict(with_gt.params), "data": identity}
    assert _still_valid(moved, made, identity)  # the ground truth moved: the same run
    with pytest.raises(GridError, match="made with other parameters"):
        _still_valid(without, made, identity)


def test_a_run_on_data_of_an_older_generator_is_not_kept(tmp_path):
    """Synthetic data of another generator version has the same file names and sizes."""
    from asdlib.batch import _still_valid

    run = expand(make_grid({"data": tmp_path}), tmp_path / "out", ["fan"])[0]
    old = {"fingerprint": "sha256:x", "synthetic": {"generator": "asdlib synth", "version": 2, "seed": 0}}
    new = {**old, "synthetic": {**old["synthetic"], "version": 3}}
    made = {"parameters": dict(run.params), "data": old}
    assert _still_valid(run, made, old)
    with pytest.raises(GridError, match="another generator made them"):
        _still_valid(run, made, new)
