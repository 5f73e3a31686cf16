"""Figures of sweep results (matplotlib, an optional extra, imported lazily).

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no display, no change
to the user's backend) and written as PNG.

Any space (grid, table, random, Sobol):

* :func:`scatter`: a scalar metric per trial (reduced over its ok seeds) against each hyperparameter, one
  panel each: log x for log-uniform ones, categories for static values and short lists; the trials
  without an ok run marked in a band at the top (diverged: x, invalid: hollow square).

Grid sweeps only (axes to lay the values out on):

* :func:`heatmap`: a scalar metric over two chosen axes, reduced over the other axes and the seeds
  (mean, median, or best), diverged cells marked.
* :func:`learning_curves`: a per-step metric (a loss curve) averaged over seeds, one line per value of
  a chosen axis.
* :func:`lines`: scalar metrics against one axis (e.g. train and test error against lam).

Adaptive searches (:mod:`jaxnn.sweeps.adaptive`):

* :func:`rungs`: every trial's metric against the steps it trained, eliminated trials fading, the y range
  fitted to the values;
* :func:`schedules`: PBT's hyperparameter schedules of every member (log axes for log-uniform ones) and the
  metric per interval (a linear axis).
"""

from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

from jaxnn.datasets import require
from jaxnn.sweeps.directions import check_mode, resolve
from jaxnn.sweeps.results import SweepResult

__all__ = ["heatmap", "learning_curves", "lines", "scatter", "reduce_to", "rungs", "schedules"]

REDUCTIONS = ("mean", "median", "best")
MAX_LEVELS = 12  # a numeric hyperparameter with at most this many distinct values is drawn as categories


def _figure(figsize):
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    if path is not None:
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def _fmt(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    return f"{v:g}" if isinstance(v, float) else str(v)


def _need_sweep(res, what: str) -> None:
    if not isinstance(res, SweepResult):
        raise ValueError(f"res: {what} needs a SweepResult (jaxnn.sweep's), got {type(res).__name__}; an adaptive "
                         f"search's AdaptiveResult is drawn by plot.rungs (PBT: plot.schedules)")


def _need_grid(res: SweepResult, what: str) -> None:
    _need_sweep(res, what)
    if not res.is_grid:
        raise ValueError(f"res: {what} needs a grid sweep; for random/Sobol/table spaces use plot.scatter "
                         f"(this result is a {res.space.get('kind')} space of {res.shape[0]} trials)")


def _check_axis(res: SweepResult, name: str, argname: str) -> int:
    if name not in res.axes:
        raise ValueError(f"{argname}: expected one of the sweep's axes {list(res.axes)}, got {name!r}")
    return list(res.axes).index(name)


def reduce_to(res: SweepResult, metric: str, keep, *, reduce: str = "mean", mode: Optional[str] = None,
              diverged: Optional[np.ndarray] = None):
    """Reduce a scalar metric to the axes ``keep`` (in that order) over the other axes and seeds.

    Runs that are not ok (diverged or invalid, whatever the metric's dtype) are left out.  Args: ``reduce``:
    ``"mean"``, ``"median"`` or ``"best"`` (min or max by ``mode``; None: the direction declared for
    ``metric``, ``res.directions``, an error if none); ``diverged``: a bool mask shaped like ``res.diverged``
    to use instead of it (e.g. also counting runs whose loss rose; invalid runs are still left out).

    Returns:
      ``(values, frac_diverged)``, both shaped ``[len(res.axes[k]) for k in keep]``; values are NaN
      where no run is left.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce: expected one of {list(REDUCTIONS)}, got {reduce!r}")
    if reduce == "best":
        mode = resolve(metric, mode, res.directions,
                       declare=f"jaxnn.sweep(fn, space, ..., directions={{{metric!r}: 'min'}}) (or 'max')")
    elif mode is not None:
        check_mode(mode)
    x = np.asarray(res[metric], np.float64)
    if x.shape != res.shape:
        raise ValueError(f"metric: expected a scalar metric (one number per run, shape {res.shape}), "
                         f"{metric!r} has shape {x.shape}")
    div = res.diverged if diverged is None else np.asarray(diverged, bool)
    if div.shape != res.shape:
        raise ValueError(f"diverged: expected a bool mask of shape {res.shape} (as res.diverged), got {div.shape}")
    pos = [_check_axis(res, k, "keep") for k in keep]
    order = pos + [i for i in range(x.ndim) if i not in pos]
    x = np.transpose(np.where(div | ~res.ok, np.nan, x), order)
    d = np.transpose(div, order)
    lead = x.shape[: len(pos)]
    x = x.reshape(lead + (-1,))
    frac = d.reshape(lead + (-1,)).mean(axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells (every run diverged)
        if reduce == "mean":
            v = np.nanmean(x, axis=-1)
        elif reduce == "median":
            v = np.nanmedian(x, axis=-1)
        else:
            v = np.nanmin(x, axis=-1) if mode == "min" else np.nanmax(x, axis=-1)
    return v, frac


def heatmap(res: SweepResult, metric: str, x: str, y: str, *, reduce: str = "mean", mode: Optional[str] = None,
            diverged: Optional[np.ndarray] = None, path=None, title: Optional[str] = None, cmap: str = "viridis",
            log_color: bool = False, annotate: bool = True, ax=None):
    """Heatmap of a scalar metric over axes ``x`` (columns) and ``y`` (rows).

    Every cell reduces the other axes and the seeds (``reduce``: mean / median / best by ``mode``),
    leaving diverged runs out.  A cell where every run diverged is grey with a cross; a cell where
    some diverged shows the diverged fraction.

    Args:
      res: a :class:`jaxnn.SweepResult`.  metric: a scalar metric name.  x, y: two of its axes.
      diverged: optional bool mask like ``res.diverged`` (e.g. also counting runs whose loss rose).
      path: write the figure there as PNG.  ax: draw into this matplotlib Axes instead of a new figure.

    Returns:
      The matplotlib Figure.
    """
    _need_grid(res, "plot.heatmap")
    _check_axis(res, x, "x")
    _check_axis(res, y, "y")
    if x == y:
        raise ValueError(f"y: expected an axis other than x={x!r}, got {y!r}")
    v, frac = reduce_to(res, metric, [y, x], reduce=reduce, mode=mode, diverged=diverged)
    if ax is None:
        fig = _figure((max(5.0, 1.6 + 0.8 * len(res.axes[x])), max(3.0, 1.4 + 0.6 * len(res.axes[y]))))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    import matplotlib
    from matplotlib import patheffects
    from matplotlib.colors import LogNorm

    finite = v[np.isfinite(v)]
    norm = None
    if log_color and finite.size and (finite > 0).all():
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    cm = matplotlib.colormaps[cmap].with_extremes(bad="#bbbbbb")
    im = ax.imshow(np.ma.masked_invalid(v), cmap=cm, norm=norm, aspect="auto", origin="lower")
    fig.colorbar(im, ax=ax, label=f"{metric} ({reduce})")
    ax.set_xticks(range(len(res.axes[x])), [_fmt(t) for t in res.axes[x]], rotation=45)
    ax.set_yticks(range(len(res.axes[y])), [_fmt(t) for t in res.axes[y]])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if frac[i, j] >= 1.0:
                ax.plot(j, i, marker="x", color="k", markersize=12, mew=2)
            elif annotate:
                txt = f"{v[i, j]:.3g}" + (f"\n{frac[i, j]:.0%} div" if frac[i, j] > 0 else "")
                ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="k",
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="w")])
    ax.set_title(title or f"{metric} over {y} x {x} (x: all runs diverged)", fontsize=9)
    return _save(fig, path)


def _matches(vals: np.ndarray, want) -> np.ndarray:
    """Where an axis's values equal ``want``: numbers to a relative 1e-6 (a float32 grid read back), anything
    else (strings, bools) exactly."""
    if vals.dtype.kind in "iuf" and isinstance(want, (int, float, np.number)) and not isinstance(want, bool):
        return np.isclose(vals.astype(np.float64), float(want), rtol=1e-6, atol=0)
    return np.array([v == want for v in vals.tolist()], bool)


def learning_curves(res: SweepResult, metric: str = "loss", by: Optional[str] = None, *,
                    select: Optional[dict] = None, path=None, title: Optional[str] = None, logy: bool = True,
                    ax=None):
    """Per-step curves of ``metric`` (shape ``(..., seeds, steps)``), one line per value of axis ``by``.

    Other axes are fixed by ``select`` ({axis: value}); axes neither ``by`` nor selected are averaged,
    as are the seeds (the band shows the min-max over seeds).  Diverged steps are NaN and end a line.

    Returns:
      The matplotlib Figure.
    """
    _need_grid(res, "plot.learning_curves")
    x = np.asarray(res[metric], np.float64)
    k = len(res.axes)
    if x.ndim != k + 2:
        raise ValueError(f"metric: expected a per-step metric of shape {res.shape + ('steps',)}, "
                         f"{metric!r} has shape {x.shape}")
    select = dict(select or {})
    if by is not None:
        _check_axis(res, by, "by")
        if by in select:
            raise ValueError(f"select: cannot fix the grouping axis {by!r}")
    index = []
    for name, vals in res.axes.items():
        if name in select:
            hits = np.flatnonzero(_matches(vals, select[name]))
            if hits.size == 0:
                raise ValueError(f"select[{name!r}]: expected one of {vals.tolist()}, got {select[name]!r}")
            index.append(int(hits[0]))
        else:
            index.append(slice(None))
    unknown = set(select) - set(res.axes)
    if unknown:
        raise ValueError(f"select: unknown axes {sorted(unknown)}; the sweep's axes are {list(res.axes)}")
    sub = x[tuple(index)]
    names = [n for n in res.axes if n not in select]
    if by is not None:
        sub = np.moveaxis(sub, names.index(by), 0)
        labels = [f"{by}={_fmt(v)}" for v in res.axes[by]]
    else:
        sub = sub[None]
        labels = [metric]
    sub = sub.reshape(sub.shape[0], -1, sub.shape[-1])  # (lines, averaged runs, steps)
    if ax is None:
        fig = _figure((6.0, 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    steps = np.arange(1, sub.shape[-1] + 1)
    import matplotlib

    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(labels)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for curves, label, c in zip(sub, labels, colors):
            mean = np.nanmean(curves, axis=0)
            mean[np.isnan(curves).any(axis=0)] = np.nan  # a diverged run ends the line
            ax.plot(steps, mean, label=label, color=c)
            ax.fill_between(steps, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), color=c, alpha=0.15)
    if logy:
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    fixed = ", ".join(f"{k}={_fmt(v)}" for k, v in select.items())
    ax.set_title(title or f"{metric} by {by or 'step'}" + (f" ({fixed})" if fixed else ""), fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def lines(res: SweepResult, metrics, x: str, *, diverged: Optional[np.ndarray] = None, path=None,
          title: Optional[str] = None, logx: bool = True, ylabel: Optional[str] = None, ax=None):
    """Scalar metrics against one axis: mean over the seeds and other axes (band: min to max), diverged
    runs left out.  A zero on a log x axis is drawn with a symmetric-log scale.

    Returns:
      The matplotlib Figure.  A non-numeric axis (strings, bools) is drawn at evenly spaced ticks.
    """
    _need_grid(res, "plot.lines")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    _check_axis(res, x, "x")
    if ax is None:
        fig = _figure((6.0, 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    levels = np.asarray(res.axes[x])
    numeric = levels.dtype.kind in "iuf"
    xs = levels.astype(np.float64) if numeric else np.arange(levels.size, dtype=np.float64)
    for m in metrics:
        mean, _ = reduce_to(res, m, [x], reduce="mean", diverged=diverged)
        lo, _ = reduce_to(res, m, [x], reduce="best", mode="min", diverged=diverged)
        hi, _ = reduce_to(res, m, [x], reduce="best", mode="max", diverged=diverged)
        (line,) = ax.plot(xs, mean, marker="o", label=m)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    if not numeric:  # strings, bools: one tick per value, in the sweep's order
        ax.set_xticks(xs, [_fmt(v) for v in levels])
    elif logx:
        pos = xs[xs > 0]
        if (xs <= 0).any() and pos.size:
            ax.set_xscale("symlog", linthresh=float(pos.min()))
        elif pos.size == xs.size:
            ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or ", ".join(metrics))
    ax.set_title(title or f"{', '.join(metrics)} vs {x} (mean over seeds; band: min-max)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


# --- any space: one point per trial -------------------------------------------------------------------

def _per_trial(res: SweepResult, metric: str, reduce: str, mode: Optional[str]):
    """Per trial (flattened): the metric reduced over its ok seeds, and its state (0: some seed ok,
    1: every seed diverged, 2: no seed ok and some invalid); and how many trials have some but not all seeds ok."""
    if metric not in res.metrics:
        raise ValueError(f"metric: expected one of the sweep's scalar metrics {res.scalar_metrics()}, got {metric!r}")
    v, _ = reduce_to(res, metric, list(res.axes), reduce=reduce, mode=mode, diverged=~res.ok)
    ok, inv = res.ok.reshape(-1, res.seeds), res.invalid.reshape(-1, res.seeds)
    state = np.where(ok.any(axis=1), 0, np.where(inv.any(axis=1), 2, 1))
    return v.reshape(-1), state, int((ok.any(axis=1) & ~ok.all(axis=1)).sum())


def _check_params(res: SweepResult, params) -> list:
    if params is None:  # every hyperparameter but the constants (unless all are)
        dists = res.space.get("params", {})
        params = [k for k in res.coords if dists.get(k, {}).get("dist") != "constant"] or list(res.coords)
    params = [params] if isinstance(params, str) else list(params)
    unknown = [p for p in params if p not in res.coords]
    if unknown or not params:
        raise ValueError(f"params: expected names of the sweep's hyperparameters {list(res.coords)}, "
                         f"got {params!r}" + (f" (unknown: {unknown})" if unknown else ""))
    return params


def _x_positions(res: SweepResult, name: str):
    """``(x per trial, tick labels)``: the values themselves for a numeric hyperparameter (labels None), or
    for a categorical one (strings, bools, short lists) integer positions of its levels with a fixed jitter."""
    vals = np.asarray(res.coords[name]).reshape(-1)
    dist = res.space.get("params", {}).get(name, {})
    if vals.dtype.kind in "iuf" and (dist.get("dist") in ("uniform", "loguniform")
                                      or np.unique(vals).size > MAX_LEVELS):
        return vals.astype(np.float64), None
    present = np.unique(vals).tolist()
    levels = list(dict.fromkeys(dist.get("args", [])))  # the order the space gave (a table repeats values)
    if dist.get("dist") not in ("static", "choice") or not set(present) <= set(levels):
        levels = present
    index = {v: i for i, v in enumerate(levels)}
    jitter = ((np.arange(vals.size) * 0.6180339887) % 1.0 - 0.5) * 0.4  # golden-ratio spacing, no RNG
    return np.array([index[v] for v in vals.tolist()], np.float64) + jitter, [_fmt(v) for v in levels]


def _y_band(v: np.ndarray, logy: bool, band: bool):
    """``(bottom, band bottom, diverged row, invalid row, top)``: y limits around the finite values, with
    (``band``) a band at the top, 15% of the height, for the trials without an ok run."""
    fin = v[np.isfinite(v)]
    fin = np.log10(fin[fin > 0]) if logy else fin
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) or 0.5
    lo, hi = lo - pad, hi + pad
    top = lo + (hi - lo) / 0.85 if band else hi
    out = (lo, hi, hi + 0.35 * (top - hi), hi + 0.7 * (top - hi), top)
    return tuple(10.0 ** y for y in out) if logy else out


def _panels(n: int, sharey: bool = True) -> list:
    """``n`` Axes (sharing y unless ``sharey`` is False) on a new figure, at most 4 in a row."""
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig = _figure((0.6 + 3.2 * ncols, 0.9 + 2.9 * nrows))
    grid = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False).reshape(-1)
    for extra in grid[n:]:
        extra.remove()
    return list(grid[:n])


def _scatter_panel(ax, res: SweepResult, name: str, v, state, band, labels) -> None:
    x, ticks = _x_positions(res, name)
    drawn = (state == 0) & np.isfinite(v)
    ax.scatter(x[drawn], v[drawn], s=16, alpha=0.75, color="C0", label=labels[0])
    styles = {1: dict(marker="x", color="C3", linewidths=1.5),
              2: dict(marker="s", facecolors="none", edgecolors="0.3", linewidths=1.2)}
    for code, style in styles.items():
        hit = state == code
        if hit.any():
            ax.scatter(x[hit], np.full(int(hit.sum()), band[1 + code]), s=30, label=labels[code], **style)
    if band[4] != band[1]:
        ax.axhspan(band[1], band[4], color="0.93", zorder=0, lw=0)
    ax.set_ylim(band[0], band[4])
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks, rotation=30 if max(map(len, ticks)) > 4 else 0)
        ax.set_xlim(-0.5, len(ticks) - 0.5)
    elif res.log_scaled(name):
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.grid(alpha=0.3)


def scatter(res: SweepResult, metric: str, params=None, *, reduce: str = "mean", mode: Optional[str] = None,
            path=None, title: Optional[str] = None, logy: bool = False, axes=None):
    """A scalar metric per trial against each hyperparameter: one panel per name in ``params``.

    Works for every space (a grid's trials are its cells).  Every trial is one point: the metric reduced
    over its ok seeds (``reduce``: mean / median / best by ``mode``, as :func:`reduce_to`).  The x axis is
    logarithmic where the hyperparameter was sampled log-uniformly; strings, bools and numeric lists of at
    most ``MAX_LEVELS`` values are categories (ticks labeled, points jittered).  Trials without an ok run
    sit in a grey band at the top: an x where every seed diverged, a hollow square where they were invalid.
    An ok trial whose metric is NaN (a declared status may leave it so) has no point; the legend counts it.

    Args:
      res: a :class:`jaxnn.SweepResult`.  metric: a scalar metric name.
      params: hyperparameter names (default: every one in ``res.coords`` that is not a constant).
      path: write the figure there as PNG.  logy: log y axis.
      axes: draw into these matplotlib Axes (one per param) instead of a new figure.

    Returns:
      The matplotlib Figure.
    """
    _need_sweep(res, "plot.scatter")
    params = _check_params(res, params)
    v, state, partial = _per_trial(res, metric, reduce, mode)
    own = axes is None
    if own:
        axes = _panels(len(params))
    elif len(axes) != len(params):
        raise ValueError(f"axes: expected one Axes per param ({len(params)}: {params}), got {len(axes)}")
    fig = axes[0].figure
    n = np.bincount(state, minlength=3)
    blank = int(np.count_nonzero((state == 0) & ~np.isfinite(v)))  # ok runs whose metric is NaN: no point
    n[0] -= blank
    trials = [f"{k} trial" + ("s" if k != 1 else "") for k in n]
    notes = ([f"{partial} with failed seeds"] if partial else []) + ([f"{blank} more ok with a non-finite "
                                                                      f"{metric}, not drawn"] if blank else [])
    labels = [f"{reduce} over ok seeds ({trials[0]}" + "".join(f", {t}" for t in notes) + ")",
              f"every seed diverged ({trials[1]})", f"invalid ({trials[2]})"]
    band = _y_band(v, logy, band=bool(n[1] + n[2]))
    for i, (ax, name) in enumerate(zip(axes, params)):
        if logy:
            ax.set_yscale("log")
        _scatter_panel(ax, res, name, v, state, band, labels)
        if i % 4 == 0 or not own:
            ax.set_ylabel(metric)
    text = title or (f"{metric} ({reduce} over ok seeds) of {v.size} trials x {res.seeds} seeds "
                     f"({res.space.get('kind', 'grid')} sweep; {res.n_diverged} runs diverged, "
                     f"{res.n_invalid} invalid)")
    handles, names = axes[0].get_legend_handles_labels()
    if own:
        fig.suptitle(text, fontsize=10)
        fig.legend(handles, names, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    else:
        axes[0].set_title(text, fontsize=9)
        axes[0].legend(fontsize=7)
    return _save(fig, path)


# --- adaptive searches (successive halving, Hyperband, PBT) --------------------------------------------------

def _check_adaptive(res, metric):
    if not hasattr(res, "curves") or not hasattr(res, "rungs"):
        raise ValueError(f"res: expected an AdaptiveResult (sweeps.successive_halving, hyperband, pbt, run), got "
                         f"{type(res).__name__}")
    metric = metric or res.metric
    names = {k for c in res.curves if c for k in c[0][1]}
    if metric not in names:
        raise ValueError(f"metric: {metric!r} is not a metric of this result; it has {sorted(names)}")
    return metric


def _rung_points(res, metric: str, logx: bool) -> list:
    """``[(trial, steps, values)]``: each started trial's evaluations of ``metric`` (steps > 0 on a log axis)."""
    out = []
    for i, c in enumerate(res.curves):
        pts = [(s, v[metric]) for s, v in c if s > 0 or not logx]
        if pts:
            s, v = np.asarray(pts, float).T
            out.append((i, s, v))
    return out


def _rung_ylim(points: list, final: set):
    """``(lo, hi)``: the y range of every finite value with a margin of 8% of its height, or, where the trials
    stopped at their first evaluation would more than double the range of the others (the trials promoted past
    a rung and the final ones), that range instead (the values outside it are drawn on its edges)."""
    every = np.concatenate([v for _, _, v in points]) if points else np.zeros(0)
    kept = [v for i, _, v in points if i in final or v.size > 1]
    core = np.concatenate(kept) if kept else np.zeros(0)
    every, core = every[np.isfinite(every)], core[np.isfinite(core)]
    if not every.size:
        return 0.0, 1.0
    lo, hi = float(every.min()), float(every.max())
    if core.size and (hi - lo) > 2 * (float(core.max()) - float(core.min())):
        lo, hi = float(core.min()), float(core.max())
    pad = 0.08 * (hi - lo) or 0.05 * abs(hi) or 0.5
    return lo - pad, hi + pad


def rungs(res, metric: Optional[str] = None, *, path=None, title: Optional[str] = None, logx: bool = True, ax=None):
    """Every trial's ``metric`` against the steps it trained (its evaluations), one line per trial (a dot for
    a trial evaluated once): the trials ``best()`` chooses from in full color, the others fading the earlier
    they stopped, the rung budgets as vertical lines (and the x ticks) and the best trial marked.  Hyperband's
    brackets get one color each.

    The y range fits the values with a margin; where the trials stopped at their first rung spread so far
    that they would more than double it, it fits the others (promoted and final trials) and the values
    beyond are drawn as triangles on the edge, counted in the legend.

    Args:
      res: an :class:`~jaxnn.sweeps.AdaptiveResult`.  metric: default the ranked one.
      path: write the figure there as PNG.  logx: log steps axis.  ax: draw into this Axes.

    Returns:
      The matplotlib Figure.
    """
    metric = _check_adaptive(res, metric)
    fig = _figure((7.0, 4.2)) if ax is None else ax.figure
    ax = fig.subplots() if ax is None else ax
    bracket = {i: r.get("bracket", 0) for r in res.rungs for i in r["trials"]}
    top = max((c[-1][0] for c in res.curves if c), default=1)
    final = set(res.final)
    points = _rung_points(res, metric, logx)
    lo, hi = _rung_ylim(points, final)
    out = []
    for i, s, v in points:
        color = f"C{bracket.get(i, 0) % 10}"
        alpha = 0.9 if i in final else 0.08 + 0.5 * (s[-1] / top)
        alpha = max(alpha, 0.35) if v.size == 1 else alpha  # a lone dot needs more ink than a line
        ax.plot(s, np.clip(v, lo, hi), color=color, alpha=alpha, lw=1.2 if i in final else 0.7,
                marker="o" if v.size == 1 else None, ms=3, mew=0)
        out += [(s[j], v[j], color) for j in np.flatnonzero((v < lo) | (v > hi))]
    for s, v, color in out:
        ax.plot([s], [lo if v < lo else hi], marker="v" if v < lo else "^", color=color, ms=5, alpha=0.6,
                clip_on=False)
    if out:
        beyond = np.asarray([v for _, v, _ in out])
        ax.plot([], [], "v", color="0.4", ms=5, label=f"{len(out)} values beyond the axis "
                f"({beyond.min():.3g} to {beyond.max():.3g}), stopped at their first rung")
    budgets = sorted({r["steps"] for r in res.rungs})
    for steps in budgets:
        ax.axvline(steps, color="0.6", lw=0.6, ls=":")
    b = res.best()
    ax.plot([b["steps"]], [b[res.metric] if metric == res.metric else res.value(b["trial"], metric)], "k*", ms=10,
            label=f"best: trial {b['trial']}")
    ax.set_ylim(lo, hi)
    if logx:
        ax.set_xscale("log")
    if budgets:
        ax.set_xticks(budgets, [str(t) for t in budgets])
        ax.minorticks_off()
    ax.set_xlabel("steps trained")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    n_br = len({r.get("bracket", 0) for r in res.rungs})
    ax.set_title(title or f"{metric} of {len(points)} trials"
                 + (f" in {n_br} brackets" if n_br > 1 else "") + " (faded: eliminated earlier)", fontsize=9)
    return _save(fig, path)


def _log_hyper(res, name: str, values: np.ndarray) -> bool:
    """Whether PBT's hyperparameter ``name`` gets a log axis: sampled log-uniformly (the search's ``meta``
    records its distribution), or, with no record, positive values spanning more than two decades."""
    dist = (res.meta or {}).get("params", {}).get(name)
    if isinstance(dist, dict) and "dist" in dist:
        return dist["dist"] == "loguniform"
    v = values[np.isfinite(values)]
    return bool(v.size) and bool((v > 0).all()) and float(v.max()) > 100 * float(v.min())


def schedules(res, names=None, *, path=None, title: Optional[str] = None, logy: Optional[bool] = None):
    """Population-based training: each member's hyperparameters over the intervals (one panel per name,
    one step line per member, the best member in black) and the population's ranked metric per interval.

    Every panel has its own y axis: a hyperparameter sampled log-uniformly a log one, the others and the
    metric a linear one.  The x axes span the training, 0 to the last step.

    Args:
      res: an :class:`~jaxnn.sweeps.AdaptiveResult` of :func:`jaxnn.sweeps.pbt`.
      names: hyperparameters to draw (default: every one).  path: write the figure there.
      logy: log y axes for every hyperparameter panel (True), for none (False), or by distribution (None);
        the metric's axis is always linear.

    Returns:
      The matplotlib Figure.
    """
    if not getattr(res, "schedules", None):
        raise ValueError("res: expected the result of sweeps.pbt (it has hyperparameter schedules)")
    names = list(res.schedules) if names is None else [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError(f"names: expected at least one of the hyperparameters {sorted(res.schedules)}, got none")
    bad = [n for n in names if n not in res.schedules]
    if bad:
        raise ValueError(f"names: {bad} are not hyperparameters of this result; it has {sorted(res.schedules)}")
    axes = _panels(len(names) + 1, sharey=False)
    rows = min(len(res.rungs), min(res.schedules[n].shape[0] for n in names))
    edges = np.asarray([0] + [r["steps"] for r in res.rungs[:rows]], float)  # interval k: edges[k] to edges[k + 1]
    best = res.best()["trial"]
    for ax, name in zip(axes, names):
        v = res.schedules[name][:rows]
        v = np.vstack([v, v[-1:]])  # the last interval's values held to its end
        for j in range(v.shape[1]):
            ax.step(edges, v[:, j], where="post", color="k" if j == best else f"C{j % 10}",
                    alpha=1.0 if j == best else 0.35, lw=1.5 if j == best else 0.8, zorder=3 if j == best else 2)
        if _log_hyper(res, name, v) if logy is None else logy:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
    ax = axes[-1]
    steps = [r["steps"] for r in res.rungs]
    m = np.asarray([r["metric"] for r in res.rungs], float)
    ax.plot(steps, m, color="0.6", lw=0.6)
    ax.plot(steps, m[:, best], "k", lw=1.5)
    ax.set_title(f"{res.metric} at the end of each interval", fontsize=9)
    for ax in axes:
        ax.set_xlim(0, steps[-1] if steps else 1)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].figure.suptitle(title or f"PBT: {m.shape[1]} members, {len(res.lineage)} copies (best member in black)",
                            fontsize=10)
    return _save(axes[0].figure, path)
