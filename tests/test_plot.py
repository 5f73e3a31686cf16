"""Tests for jaxnn.plot (Agg canvas, PNG files) and smoke runs of the sweep experiments."""

import json

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from _experiments import load_experiment
from matplotlib.figure import Figure

import jaxnn
from jaxnn import sweeps
from jaxnn.sweeps import plot
from jaxnn.sweeps.results import SweepResult

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


@pytest.fixture(scope="module")
def random_result():
    """64 random trials x 2 seeds: loss (log10 lr - 0.3)^2 + scale; lr > 50 diverges, scale > 0.9 is invalid."""
    def f(key, lr, scale, act):
        loss = (jnp.log10(lr) - 0.3) ** 2 + scale + jax.random.uniform(key) * 0.01
        return {"final_loss": loss, "diverged_at": jnp.where(lr > 50, 3, -1), "invalid": scale > 0.9}

    space = sweeps.random(64, lr=sweeps.loguniform(1e-2, 1e2), scale=sweeps.uniform(0, 1),
                          act=sweeps.static(["tanh", "relu"]))
    return jaxnn.sweep(f, space, key=jax.random.key(0), seeds=2, progress=False)


def collection(ax, label):
    """The offsets of the scatter in ax whose label starts with label ((0, 2) if there is none)."""
    hits = [c for c in ax.collections if c.get_label().startswith(label)]
    assert len(hits) <= 1
    return np.asarray(hits[0].get_offsets()) if hits else np.zeros((0, 2))


def test_scatter_random_sweep(tmp_path, random_result):
    res = random_result
    fig = plot.scatter(res, "final_loss", path=tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    assert [ax.get_xlabel() for ax in fig.axes] == ["lr", "scale", "act"]
    lr_ax, scale_ax, act_ax = fig.axes
    assert lr_ax.get_xscale() == "log" and scale_ax.get_xscale() == "linear"
    assert [t.get_text() for t in act_ax.get_xticklabels()] == ["tanh", "relu"]  # the space's order
    ok = res.ok.any(axis=1)
    all_div, all_inv = res.diverged.all(axis=1), res.invalid.all(axis=1)
    assert all_div.sum() == res.n_diverged // 2 > 0 and all_inv.sum() == res.n_invalid // 2 > 0
    assert ok.sum() + all_div.sum() + all_inv.sum() == 64  # each trial's seeds agree here
    mean = res.mean("final_loss")
    for ax, name in zip(fig.axes, ["lr", "scale", "act"]):
        assert len(collection(ax, "every seed diverged")) == all_div.sum()
        assert len(collection(ax, "invalid")) == all_inv.sum()
        pts = collection(ax, "mean over ok seeds")
        np.testing.assert_allclose(pts[:, 1], mean[ok])  # the seed-mean over ok runs, trial order
        if name != "act":
            np.testing.assert_allclose(pts[:, 0], res.coords[name][ok])
    codes = np.where(res.coords["act"] == "tanh", 0, 1)
    x = collection(act_ax, "mean over ok seeds")[:, 0]
    np.testing.assert_array_equal(np.round(x), codes[ok])
    assert 0 < np.abs(x - codes[ok]).max() <= 0.2  # jittered, deterministically
    np.testing.assert_array_equal(x, collection(plot.scatter(res, "final_loss").axes[2], "mean")[:, 0])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"mean over ok seeds ({ok.sum()} trials)", f"every seed diverged ({all_div.sum()} trials)",
                      f"invalid ({all_inv.sum()} trials)"]
    assert "final_loss" in fig._suptitle.get_text() and "random" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match=r"mode: no direction is declared for metric 'final_loss'.*directions="):
        plot.scatter(res, "final_loss", ["scale"], reduce="best")  # "best" needs a declared direction
    fig = plot.scatter(res, "final_loss", ["scale"], reduce="best", mode="min", logy=True)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    best = np.where(res.ok, res["final_loss"], np.inf).min(axis=1)
    np.testing.assert_allclose(collection(fig.axes[0], "best")[:, 1], best[ok])


def test_scatter_grid_result(tmp_path):
    res = fake_result()
    fig = plot.scatter(res, "final_loss", path=tmp_path / "g.png", title="grid")
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG and fig._suptitle.get_text() == "grid"
    scale_ax, lr_ax = fig.axes
    assert [t.get_text() for t in lr_ax.get_xticklabels()] == ["0.1", "1", "10", "100"]  # a short list: categories
    pts = collection(lr_ax, "mean")
    assert len(pts) == 9 and len(collection(lr_ax, "every seed diverged")) == 3  # the lr=100 column
    assert len(collection(lr_ax, "invalid")) == 0
    np.testing.assert_allclose(pts[:, 1], res.mean("final_loss").reshape(-1)[np.arange(12) % 4 != 3])
    assert pts[-1, 1] == pytest.approx(1.0 + 10.0)  # (scale 1, lr 10): its diverged seed left out
    np.testing.assert_array_equal(np.round(pts[:, 0]), np.tile([0, 1, 2], 3))
    assert "1 with failed seeds" in fig.legends[0].get_texts()[0].get_text()
    fig = Figure()  # the caller's axes, on a figure without a layout engine
    given = list(fig.subplots(1, 2))
    assert plot.scatter(res, "final_loss", ["lr", "scale"], axes=given) is fig
    assert given[0].get_xlabel() == "lr" and given[0].get_legend() is not None


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="nope"), r"metric: expected one of .*'final_loss'"),
    (dict(metric="loss"), "scalar metric"),
    (dict(params=["momentum"]), r"params: expected .*\['scale', 'lr'\].*unknown: \['momentum'\]"),
    (dict(params=[]), "params"),
    (dict(reduce="max"), "reduce"),
    (dict(axes=[None]), "axes: expected one Axes per param"),
])
def test_scatter_errors(kwargs, match):
    args = dict(metric="final_loss")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot.scatter(fake_result(), args.pop("metric"), **args)


def test_grid_figures_refuse_other_spaces(random_result):
    for call in (lambda r: plot.heatmap(r, "final_loss", "trial", "lr"),
                 lambda r: plot.learning_curves(r, "final_loss"),
                 lambda r: plot.lines(r, "final_loss", "trial")):
        with pytest.raises(ValueError, match="needs a grid sweep; for random/Sobol/table spaces use plot.scatter"):
            call(random_result)


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


# --- adaptive searches: rungs and schedules ----------------------------------------------------------------------

def fake_halving(eliminated):
    """A hand-made successive halving of 9 trials, rungs at 3, 9 and 27 steps: trials 0-5 stop at the first rung
    with the values ``eliminated``, 6-8 go on to 9 steps (0.80-0.95) and trial 8 to 27 steps (0.97)."""
    curves = [[(3, {"val_accuracy": float(v)})] for v in eliminated]
    curves += [[(3, {"val_accuracy": a}), (9, {"val_accuracy": b})] for a, b in ((0.80, 0.90), (0.85, 0.92))]
    curves += [[(3, {"val_accuracy": 0.9}), (9, {"val_accuracy": 0.95}), (27, {"val_accuracy": 0.97})]]
    rungs = [{"steps": 3, "trials": list(range(9)), "metric": [c[0][1]["val_accuracy"] for c in curves]},
             {"steps": 9, "trials": [6, 7, 8], "metric": [0.90, 0.92, 0.95]},
             {"steps": 27, "trials": [8], "metric": [0.97]}]
    return sweeps.AdaptiveResult(trials={"lr": np.logspace(-3, 0, 9)}, keys=np.zeros((9, 2), np.uint32),
                                 key_impl=None, status=np.zeros(9, np.int8), curves=curves, rungs=rungs, lineage=[],
                                 schedules={}, final=[8], metric="val_accuracy", mode="max", meta={})


def test_rungs_y_range_fits_the_promoted_trials(tmp_path):
    low = [0.05, 0.1, 0.1, 0.2, 0.3, 0.31]  # far below the promoted trials (0.80 to 0.97)
    fig = plot.rungs(fake_halving(low), path=tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG
    ax = fig.axes[0]
    pad = 0.08 * (0.97 - 0.80)
    np.testing.assert_allclose(ax.get_ylim(), (0.80 - pad, 0.97 + pad))
    edge = [ln for ln in ax.lines if ln.get_marker() == "v" and len(ln.get_ydata()) == 1 and ln.get_label()[0] == "_"]
    assert len(edge) == 6 and all(ln.get_ydata()[0] == pytest.approx(0.80 - pad) for ln in edge)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "6 values beyond the axis (0.05 to 0.31), stopped at their first rung"
    assert labels[1] == "best: trial 8"
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(dots) == 6  # every trial evaluated once is drawn, as a dot
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "9", "27"] and ax.get_xscale() == "log"


def test_rungs_y_range_keeps_near_values():
    near = [0.70, 0.72, 0.74, 0.75, 0.77, 0.79]  # would not double the range: every value stays on the axis
    ax = plot.rungs(fake_halving(near)).axes[0]
    pad = 0.08 * (0.97 - 0.70)
    np.testing.assert_allclose(ax.get_ylim(), (0.70 - pad, 0.97 + pad))
    assert not [ln for ln in ax.lines if ln.get_marker() == "v"]
    assert ax.get_ylim()[0] > 0.6  # fitted to the data, not from 0


def fake_pbt(meta_params):
    """A hand-made PBT: 4 members, 3 intervals of 9 steps; lr over 1e-4..1e-1, b1 in [0.5, 0.9]."""
    lr = np.array([[1e-4, 1e-3, 1e-2, 1e-1], [1e-3, 1e-3, 1e-2, 1e-1], [1e-3, 2e-3, 1e-2, 5e-2]])
    b1 = np.array([[0.5, 0.6, 0.7, 0.9], [0.6, 0.6, 0.7, 0.9], [0.6, 0.65, 0.7, 0.8]])
    acc = [[0.5, 0.6, 0.7, 0.8], [0.85, 0.86, 0.9, 0.91], [0.93, 0.94, 0.95, 0.96]]
    rungs = [{"steps": t, "trials": [0, 1, 2, 3], "metric": m} for t, m in zip((9, 18, 27), acc)]
    curves = [[(9 * (k + 1), {"val_accuracy": acc[k][j]}) for k in range(3)] for j in range(4)]
    return sweeps.AdaptiveResult(trials={"lr": lr[0], "b1": b1[0]}, keys=np.zeros((4, 2), np.uint32), key_impl=None,
                                 status=np.zeros(4, np.int8), curves=curves, rungs=rungs,
                                 lineage=[{"step": 9, "member": 0, "parent": 1, "hp": {}}],
                                 schedules={"lr": lr, "b1": b1}, final=[0, 1, 2, 3], metric="val_accuracy",
                                 mode="max", meta={"params": meta_params} if meta_params is not None else {})


def test_schedules_axes_by_distribution(tmp_path):
    res = fake_pbt({"lr": {"dist": "loguniform", "args": [1e-4, 1e-1]}, "b1": {"dist": "uniform", "args": [0.5, 1]}})
    fig = plot.schedules(res, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    lr_ax, b1_ax, metric_ax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["lr", "b1", "val_accuracy at the end of each interval"]
    assert (lr_ax.get_yscale(), b1_ax.get_yscale(), metric_ax.get_yscale()) == ("log", "linear", "linear")
    lo, hi = metric_ax.get_ylim()
    assert 0.4 < lo < 0.5 and 0.96 < hi < 1.0  # the metric's own linear axis, not the hyperparameters'
    assert b1_ax.get_ylim()[0] > 0.4 and lr_ax.get_ylim()[0] < 1e-3
    for ax in fig.axes:
        assert ax.get_xlim() == (0.0, 27.0)
    best = [ln for ln in lr_ax.lines if ln.get_color() == "k"]  # member 3 (0.96), each interval held to its end
    assert len(best) == 1
    np.testing.assert_allclose(best[0].get_xdata(), [0, 9, 18, 27])
    np.testing.assert_allclose(best[0].get_ydata(), [1e-1, 1e-1, 5e-2, 5e-2])
    both = plot.schedules(res, logy=True).axes
    assert (both[1].get_yscale(), both[2].get_yscale()) == ("log", "linear")
    assert plot.schedules(res, logy=False).axes[0].get_yscale() == "linear"


def test_schedules_without_recorded_distributions():
    axes = plot.schedules(fake_pbt(None)).axes  # lr spans three decades: log; b1 does not: linear
    assert [ax.get_yscale() for ax in axes] == ["log", "linear", "linear"]


def test_plots_leave_out_invalid_runs_of_an_integer_metric():
    """An int output of an invalid run is not NaN (only floats are masked): the reductions use the status."""
    def fn(key, lr, b):
        return {"count": jnp.where(lr < 0, 1000, 1).astype(jnp.int32), "invalid": lr < 0}

    res = jaxnn.sweep(fn, {"lr": [-1.0, 1.0], "b": [0.0, 1.0]}, key=jax.random.key(0), seeds=1,
                      directions={"count": "max"})
    v, frac = plot.reduce_to(res, "count", ["b"])
    np.testing.assert_array_equal(v, [1.0, 1.0])
    np.testing.assert_array_equal(frac, [0.0, 0.0])  # invalid, not diverged
    fig = plot.lines(res, "count", "b")
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"diverged: expected a bool mask of shape \(2, 2, 1\)"):
        plot.reduce_to(res, "count", ["b"], diverged=np.zeros(3, bool))


def test_scatter_of_a_table_draws_each_repeated_value_once():
    def fn(key, lr, scale):
        return {"m": lr * 10 + scale}

    res = jaxnn.sweep(fn, sweeps.table(lr=[0.1, 0.3, 0.1, 0.3], scale=[1.0, 1.0, 2.0, 2.0]), key=jax.random.key(0),
                      directions={"m": "min"})
    fig = plot.scatter(res, "m")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "0.3"]
    x = ax.collections[0].get_offsets()[:, 0]
    np.testing.assert_array_equal(np.round(x), [0, 1, 0, 1])  # each point at its own value's tick


def test_scatter_counts_ok_trials_with_a_nan_metric_apart():
    m = np.array([[1.0], [np.nan], [2.0], [np.nan]])
    res = SweepResult(axes={"trial": np.arange(4)}, seeds=1, metrics={"m": m},
                      diverged=np.zeros((4, 1), bool), coords={"lr": np.array([0.1, 0.2, 0.3, 0.4])},
                      space={"kind": "table", "params": {}, "static": []}, directions={"m": "min"})
    fig = plot.scatter(res, "m")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "mean over ok seeds (2 trials, 2 more ok with a non-finite m, not drawn)"
    assert len(fig.axes[0].collections[0].get_offsets()) == 2


def test_curves_and_lines_over_a_static_string_axis():
    def fn(key, lr, act):
        params = jaxnn.init_mlp(key, [2, 3, 1], scale=0.5)
        params, hist = jaxnn.train(params, jnp.eye(2), jnp.ones((2, 1)), lr=lr, steps=5, activation=act)
        return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"]}

    res = jaxnn.sweep(fn, {"lr": [0.1, 1.0], "act": sweeps.static(["sigmoid", "tanh"])}, key=jax.random.key(0),
                      directions={"final_loss": "min"})
    fig = plot.learning_curves(res, "loss", by="lr", select={"act": "tanh"})
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), res["loss"][1, 1, 0], rtol=1e-6)
    fig = plot.lines(res, "final_loss", "act")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sigmoid", "tanh"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), res.mean("final_loss").mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"select\['act'\]: expected one of \['sigmoid', 'tanh'\], got 'relu'"):
        plot.learning_curves(res, "loss", by="lr", select={"act": "relu"})


def test_plot_errors_name_the_argument_given():
    res = fake_result()
    with pytest.raises(ValueError, match="y: expected one of the sweep's axes"):
        plot.heatmap(res, "final_loss", "lr", "nope")
    adaptive = sweeps.AdaptiveResult(trials={"lr": np.array([0.1])}, keys=np.zeros((1, 2), np.uint32), key_impl=None,
                                     status=np.zeros(1, np.int8), curves=[[(0, {"m": 1.0})]], rungs=[], lineage=[],
                                     schedules={}, final=[0], metric="m", mode="min", meta={}, directions={"m": "min"})
    for draw in (lambda: plot.scatter(adaptive, "m"), lambda: plot.heatmap(adaptive, "m", "lr", "scale")):
        with pytest.raises(ValueError, match="res: .* needs a SweepResult .*, got AdaptiveResult; .* plot.rungs"):
            draw()
