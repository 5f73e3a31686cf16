"""Smoke tests of the core experiment scripts (small settings, real runs)."""

import json

from _experiments import load_experiment


def test_xor_experiment(tmp_path):
    rows = load_experiment("xor").main(["--steps", "1500", "--out", str(tmp_path)])
    by_scale = {r["scale"]: r for r in rows}
    assert by_scale[0.0]["distinct_hidden_units"] == 1  # symmetry never broken
    assert by_scale[1.0]["correct"] == 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["provenance"]["versions"]["jax"] and len(saved["results"]) == 3


def test_regression_experiment(tmp_path):
    res = load_experiment("regression").main(["--steps", "1500", "--out", str(tmp_path)])
    assert res["diverged_at"] == -1
    assert res["test_rmse"] < 0.9 * res["test_rmse_predict_mean"]  # learned something, in original units
    assert (tmp_path / "results.json").exists()
