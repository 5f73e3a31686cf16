"""Smoke tests of the core experiment scripts (small settings, real runs)."""

import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_xor_experiment(tmp_path):
    rows = _load("xor").main(["--steps", "1500", "--out", str(tmp_path)])
    by_scale = {r["scale"]: r for r in rows}
    assert by_scale[0.0]["distinct_hidden_units"] == 1  # symmetry never broken
    assert by_scale[1.0]["correct"] == 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["provenance"]["jax"] and len(saved["results"]) == 3


def test_regression_experiment(tmp_path):
    res = _load("regression").main(["--steps", "1500", "--out", str(tmp_path)])
    assert res["diverged_at"] == -1
    assert res["test_rmse"] < 0.9 * res["test_rmse_predict_mean"]  # learned something, in original units
    assert (tmp_path / "results.json").exists()
