"""Smoke tests of the autoencoder, convolution and estimator experiment scripts (tiny settings, real runs)."""

import os

from _experiments import load_experiment


def _files(path):
    return {f for _, _, fs in os.walk(path) for f in fs}


def test_sparse_autoencoder_experiment_smoke(tmp_path):
    load_experiment("sparse_autoencoder").main(["--patches", "600", "--test-patches", "200", "--steps", "20",
                                      "--lecture-steps", "10", "--models", "ufldl", "--out", str(tmp_path)])
    files = _files(tmp_path)
    assert any(f.endswith(".png") for f in files) and any(f.endswith(".json") for f in files)


def test_sparse_sweep_experiment_smoke(tmp_path):
    meta = load_experiment("sparse_sweep").main(["--betas", "0,3", "--rhos", "0.05", "--patches", "400",
                                                 "--steps", "10", "--hidden", "9", "--halving-trials", "9",
                                                 "--out", str(tmp_path)])
    assert {"sweep.png", "halving.png", "halving.csv", "summary.json"} <= _files(tmp_path)
    h = meta["halving"]  # successive halving over (beta, rho, lam): 10, 30, 90 steps
    assert h["trials"] == 9 and h["winner"]["steps"] == 90 and h["winner"]["val_loss"] < 0.6
    assert 0.1 <= h["winner"]["beta"] <= 10 and 0 <= h["winner_edge_measure"]["mean_r2"] <= 1


def test_conv_pool_textures_experiment_smoke(tmp_path):
    load_experiment("conv_pool_textures").main(["--quick", "--out", str(tmp_path)])
    files = _files(tmp_path)
    assert "results.csv" in files and any(f.endswith(".png") for f in files)


def test_estimator_parity_experiment_smoke(tmp_path):
    load_experiment("estimator_parity").main(["--seeds", "1", "--reg-seeds", "1", "--max-iter", "5",
                                              "--out", str(tmp_path)])
    assert _files(tmp_path)


def test_random_vs_grid_experiment_smoke(tmp_path):
    summary = load_experiment("random_vs_grid").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    files = _files(tmp_path)
    assert {"best_vs_trials.png", "results.csv", "trials.csv", "summary.json"} <= files
    assert summary["prefix_identical"] and set(summary["best_val_accuracy"]) == {"grid", "random", "sobol"}


def test_adaptive_search_experiment_smoke(tmp_path):
    summary = load_experiment("adaptive_search").main(["--quick", "--no-progress", "--out", str(tmp_path)])
    want = {"results.csv", "rungs_sh.png", "rungs_hyperband.png", "pbt_schedules.png", "summary.json"}
    assert want <= _files(tmp_path)
    rows = {r["search"]: r for r in summary["rows"]}
    assert set(rows) == {"full", "successive halving", "hyperband", "pbt"}
    assert rows["successive halving"]["lane_steps_useful"] < rows["full"]["lane_steps_useful"] / 3
    assert all(0.5 < r["val_accuracy"] <= 1 and 0.5 < r["test_accuracy"] <= 1 for r in rows.values())
