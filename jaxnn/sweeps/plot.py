"""Figures of sweep results (matplotlib, an optional extra, imported lazily).

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no display, no change
to the user's backend) and written as PNG.

* :func:`heatmap`: a scalar metric over two chosen axes, reduced over the other axes and the seeds
  (mean, median, or best), diverged cells marked.
* :func:`learning_curves`: a per-step metric (a loss curve) averaged over seeds, one line per value of
  a chosen axis.
* :func:`lines`: scalar metrics against one axis (e.g. train and test error against lam).
"""

from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

from jaxnn.datasets import require
from jaxnn.sweeps.results import SweepResult

__all__ = ["heatmap", "learning_curves", "lines", "reduce_to"]

REDUCTIONS = ("mean", "median", "best")


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


def _check_axis(res: SweepResult, name: str, argname: str) -> int:
    if name not in res.axes:
        raise ValueError(f"{argname}: expected one of the sweep's axes {list(res.axes)}, got {name!r}")
    return list(res.axes).index(name)


def reduce_to(res: SweepResult, metric: str, keep, *, reduce: str = "mean", mode: str = "min",
              diverged: Optional[np.ndarray] = None):
    """Reduce a scalar metric to the axes ``keep`` (in that order) over the other axes and seeds.

    Diverged runs are left out.  Args: ``reduce``: ``"mean"``, ``"median"`` or ``"best"`` (min or max
    by ``mode``); ``diverged``: a bool mask shaped like ``res.diverged`` to use instead of it.

    Returns:
      ``(values, frac_diverged)``, both shaped ``[len(res.axes[k]) for k in keep]``; values are NaN
      where every run diverged.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce: expected one of {list(REDUCTIONS)}, got {reduce!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
    x = np.asarray(res[metric], np.float64)
    if x.shape != res.shape:
        raise ValueError(f"metric: expected a scalar metric (one number per run, shape {res.shape}), "
                         f"{metric!r} has shape {x.shape}")
    div = res.diverged if diverged is None else np.asarray(diverged, bool)
    pos = [_check_axis(res, k, "keep") for k in keep]
    order = pos + [i for i in range(x.ndim) if i not in pos]
    x = np.transpose(np.where(div, np.nan, x), order)
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


def heatmap(res: SweepResult, metric: str, x: str, y: str, *, reduce: str = "mean", mode: str = "min",
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


def learning_curves(res: SweepResult, metric: str = "loss", by: Optional[str] = None, *,
                    select: Optional[dict] = None, path=None, title: Optional[str] = None, logy: bool = True,
                    ax=None):
    """Per-step curves of ``metric`` (shape ``(..., seeds, steps)``), one line per value of axis ``by``.

    Other axes are fixed by ``select`` ({axis: value}); axes neither ``by`` nor selected are averaged,
    as are the seeds (the band shows the min-max over seeds).  Diverged steps are NaN and end a line.

    Returns:
      The matplotlib Figure.
    """
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
            hits = np.flatnonzero(np.isclose(vals.astype(np.float64), float(select[name]), rtol=1e-6, atol=0))
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
      The matplotlib Figure.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    _check_axis(res, x, "x")
    if ax is None:
        fig = _figure((6.0, 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    xs = np.asarray(res.axes[x], np.float64)
    for m in metrics:
        mean, _ = reduce_to(res, m, [x], reduce="mean", diverged=diverged)
        lo, _ = reduce_to(res, m, [x], reduce="best", mode="min", diverged=diverged)
        hi, _ = reduce_to(res, m, [x], reduce="best", mode="max", diverged=diverged)
        (line,) = ax.plot(xs, mean, marker="o", label=m)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
    if logx:
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
