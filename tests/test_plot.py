"""Tests for jaxnn.plot (Agg canvas, PNG files) and smoke runs of the sweep experiments."""

import json

import matplotlib
import numpy as np
import pytest
from _experiments import load_experiment

from jaxnn import plot
from jaxnn.results import SweepResult

matplotlib.use("Agg")
PNG = b"\x89PNG\r\n\x1a\n"


def fake_result():
    """A hand-made 3 scales x 4 lrs x 2 seeds result: final = scale + lr + seed, curves, one diverged cell."""
    scales, lrs = np.array([0.0, 0.1, 1.0]), np.array([0.1, 1.0, 10.0, 100.0])
    S, L, Z = np.meshgrid(scales, lrs, np.arange(2), indexing="ij")
    final = S + L + Z
    diverged = np.zeros(final.shape, bool)
    diverged[:, 3, :] = True  # lr=100 diverged everywhere
    diverged[2, 2, 1] = True  # one seed of (scale 1, lr 10)
    final = np.where(diverged, np.nan, final)
    steps = np.arange(1, 6)
    loss = final[..., None] + 1.0 / steps
    return SweepResult(axes={"scale": scales, "lr": lrs}, seeds=2,
                       metrics={"final_loss": final, "loss": loss}, diverged=diverged, meta={})


def test_reduce_to_mean_best_and_diverged_fraction():
    res = fake_result()
    v, frac = plot.reduce_to(res, "final_loss", ["scale", "lr"])
    assert v.shape == (3, 4)
    assert v[1, 1] == pytest.approx(0.1 + 1.0 + 0.5)  # mean over seeds 0 and 1
    assert v[2, 2] == pytest.approx(1.0 + 10.0 + 0.0)  # the diverged seed is left out
    assert frac[2, 2] == 0.5 and np.isnan(v[:, 3]).all() and (frac[:, 3] == 1).all()
    best, _ = plot.reduce_to(res, "final_loss", ["lr"], reduce="best", mode="min")
    np.testing.assert_allclose(best[:3], [0.1, 1.0, 10.0])
    worst, _ = plot.reduce_to(res, "final_loss", ["lr"], reduce="best", mode="max")
    np.testing.assert_allclose(worst[:3], [1.0 + 0.1 + 1, 1.0 + 1.0 + 1, 0.1 + 10.0 + 1])
    # lr-major order is the transpose
    vt, _ = plot.reduce_to(res, "final_loss", ["lr", "scale"])
    np.testing.assert_allclose(vt, v.T)


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="loss"), "scalar metric"),
    (dict(keep=["momentum"]), "keep"),
    (dict(reduce="max"), "reduce"),
    (dict(mode="up"), "mode"),
])
def test_reduce_to_errors(kwargs, match):
    args = dict(metric="final_loss", keep=["scale"])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot.reduce_to(fake_result(), args.pop("metric"), args.pop("keep"), **args)


def test_heatmap_curves_lines_write_png(tmp_path):
    res = fake_result()
    fig = plot.heatmap(res, "final_loss", "lr", "scale", path=tmp_path / "h.png", log_color=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "lr" and ax.get_ylabel() == "scale"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "1", "10", "100"]
    crosses = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(crosses) == 3  # the lr=100 column, one per scale
    assert any("50% div" in t.get_text() for t in ax.texts)
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG
    fig = plot.learning_curves(res, "loss", by="lr", select={"scale": 0.1}, path=tmp_path / "c.png")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["lr=0.1", "lr=1", "lr=10", "lr=100"]
    np.testing.assert_allclose(lines[1].get_ydata(), 0.1 + 1.0 + 0.5 + 1.0 / np.arange(1, 6))
    assert np.isnan(lines[3].get_ydata()).all()  # diverged: no line
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG
    fig = plot.lines(res, ["final_loss"], "lr", path=tmp_path / "l.png")
    assert fig.axes[0].get_xscale() == "log"
    assert (tmp_path / "l.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="y"):
        plot.heatmap(res, "final_loss", "lr", "lr")
    with pytest.raises(ValueError, match="select"):
        plot.learning_curves(res, "loss", by="lr", select={"scale": 0.5})
    with pytest.raises(ValueError, match="per-step"):
        plot.learning_curves(res, "final_loss", by="lr")


def test_sweep_init_lr_experiment_smoke(tmp_path, capsys):
    out = tmp_path / "sil"
    summary = load_experiment("sweep_init_lr").main(["--scales", "0", "0.1", "--lrs", "5", "1000", "--seeds", "2",
                                                     "--steps", "150", "--hidden", "16", "--out", str(out),
                                                     "--no-progress"])
    text = capsys.readouterr().out
    assert "best: scale=0.1 lr=5" in text and "symmetry is never broken" in text
    assert summary["hidden_spread_by_scale"]["0"] == 0.0 and summary["hidden_spread_by_scale"]["0.1"] > 0
    assert summary["fraction_blew_up_by_lr"]["1000"] == 1.0 and summary["fraction_blew_up_by_lr"]["5"] == 0.0
    for f in ("results.csv", "results.npz", "meta.json", "manifest.json", "summary.json", "heatmap_train_loss.png",
              "heatmap_test_accuracy.png", "curves_by_lr.png", "curves_by_scale.png"):
        assert (out / f).exists(), f
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 2 * 2
    meta = json.loads((out / "meta.json").read_text())
    assert meta["provenance"]["command"] and meta["grid"] == {"scale": [0.0, 0.1], "lr": [5.0, 1000.0]}


def test_ridge_overfitting_experiment_smoke(tmp_path):
    out = tmp_path / "ridge"
    s = load_experiment("ridge_overfitting").main(["--lams", "0", "1e-3", "0.1", "--seeds", "1", "--steps", "300",
                                         "--hidden", "32", "--out", str(out), "--no-progress"])
    assert s["train_error"][0] < s["train_error"][2]  # the penalty raises the training error
    assert s["test_error"][0] - s["train_error"][0] > s["test_error"][2] - s["train_error"][2]  # and closes the gap
    assert (out / "train_vs_test.png").read_bytes()[:8] == PNG
