"""Smoke tests of experiments/model_based_search.py (tiny settings, real runs)."""

import json

import pytest
from _experiments import load_experiment


@pytest.mark.slow  # ~14 s on 2 busy cores, nearly all of it compilation
def test_model_based_search_smoke(tmp_path):
    mod = load_experiment("model_based_search")
    summary = mod.main(["--quick", "--seeds", "1", "--problems", "3hp", "--methods",
                        "random,tpe one budget,asha + tpe", "--out", str(tmp_path)])
    assert {p.name for p in tmp_path.iterdir()} >= {"anytime.png", "summary.json", "results.csv"}
    rows = {r["method"]: r for r in summary["rows"]}
    assert set(rows) == {"random", "tpe one budget", "asha + tpe"}
    assert rows["asha + tpe"]["lane-steps"] < rows["random"]["lane-steps"] / 2  # promotions, not full budgets
    assert all(0.5 < r["best val acc"] <= 1 and 0.5 < r["winner test acc"] <= 1 for r in rows.values())
    assert rows["tpe one budget"]["propose %"] > 0  # the sampler was asked
    for m, runs in summary["runs"]["3hp"].items():
        curve = runs[0]["curve"]
        xs = [x for _, x, _ in curve]
        assert xs == sorted(xs) and curve[-1][2] >= runs[0]["best_val"] - 1e-3, m  # anytime: monotone, ends at best
    assert summary["curve_check"] < 1e-3  # the recorded curves end at the best evaluation in res.curves
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["provenance"]["versions"]["jax"] and "| 3hp | asha + tpe |" in saved["table"]


@pytest.mark.slow  # ~19 s on 2 busy cores
def test_model_based_search_static_axis_smoke(tmp_path):
    """7 hyperparameters: a lane scheduler and a function search with a static activation axis, Optuna."""
    summary = load_experiment("model_based_search").main(
        ["--quick", "--seeds", "1", "--problems", "7hp", "--methods", "hyperband,tpe one budget,optuna tpe + hyperband",
         "--out", str(tmp_path)])
    runs = {m: r[0] for m, r in summary["runs"]["7hp"].items()}
    for r in runs.values():
        assert r["winner"]["activation"] in ("tanh", "relu")
        assert {"b1", "noise_u", "noise_log"} <= set(r["winner"])
    # Hyperband: one search over both activations (one lane pool each), its curve through all its lane-steps
    hb = runs["hyperband"]
    assert sorted(hb["structures"]) == ["relu", "tanh"]
    xs = [x for _, x, _ in hb["curve"]]
    assert xs == sorted(xs) and xs[-1] == hb["lane_steps"] and hb["check"] < 1e-3
    assert [x for _, x, _ in runs["tpe one budget"]["curve"]] == [9 * 27 * k for k in (1, 2, 3, 4)]  # batches of 9


def test_model_based_search_bad_input():
    mod = load_experiment("model_based_search")
    with pytest.raises(ValueError, match="methods"):
        mod.parse(["--methods", "random,gridsearch"])
    with pytest.raises(ValueError, match="problems"):
        mod.parse(["--problems", "9hp"])
    with pytest.raises(ValueError, match="seeds"):
        mod.parse(["--seeds", "0"])
