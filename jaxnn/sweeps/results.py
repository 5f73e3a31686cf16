"""The result of a sweep: :class:`SweepResult`, arrays over the trials and seeds, and its files.

For every leaf of what the swept function returned, one NumPy array of shape
``(*trial_shape, seeds, *leaf_shape)``: ``trial_shape`` is a grid's axis lengths (in the order given) or
``(n_trials,)`` for a table, random or Sobol space.  Files in a result directory::

    results.npz     axes, per-trial coordinates, metrics, status (binary, exact; readable without jaxnn)
    results.csv     tidy rows, one per trial and seed (scalar metrics only), for people
    meta.json       meta + provenance (command, space, git commit, versions, devices, timings)
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np

from jaxnn.io import atomic_write
from jaxnn.sweeps import status as _status
from jaxnn.sweeps.directions import check_directions, resolve
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.store import dump_json

__all__ = ["SweepResult", "RESULT_FORMAT"]

RESULT_FORMAT = "jaxnn.sweep"
RESULT_VERSION = 2


def _scalar(v):
    return v.item() if hasattr(v, "item") else v


def _legacy_best(metric, legacy, mode, name):
    """``(metric, mode)`` of a call in the old spellings ``best(name, mode)`` / ``best(name=...)``, warned."""
    if name is not None:
        if metric is not None:
            raise TypeError("best: got both metric and name= (the old spelling of metric)")
        warnings.warn("best(name=...) is deprecated; write best(metric)", DeprecationWarning, stacklevel=3)
        metric = name
    if legacy:
        if len(legacy) > 1 or mode is not None:
            raise TypeError(f"best: expected best(metric=None, *, mode=None), got extra arguments {legacy}")
        warnings.warn(f"best(metric, {legacy[0]!r}) with a positional mode is deprecated; write "
                      f"best(metric, mode={legacy[0]!r}) or declare the direction in jaxnn.sweep(..., directions=...)",
                      DeprecationWarning, stacklevel=3)
        mode = legacy[0]
    return metric, mode


def _require(module: str):
    from jaxnn.datasets import require
    return require(module, "labels")


@dataclass
class SweepResult:
    """Arrays over the trials of a search space and seeds.

    Attributes:
      axes: ordered ``{dim: 1-D values}``: a grid's axes in the order given to :func:`jaxnn.sweep`, or
        ``{"trial": arange(n_trials)}``.
      seeds: number of seeds per trial.
      metrics: ``{leaf name: array (*trial_shape, seeds, *leaf_shape)}``; nested outputs are named by their
        path joined with ``/`` (``"hist/loss"``).
      diverged: bool ``(*trial_shape, seeds)``: the run diverged (see :mod:`jaxnn.sweeps.status`).
      meta: ``devices``, ``processes``, ``chunk_size``, ``n_runs``, ``n_diverged``, ``n_invalid``, versions,
        provenance, timings (see :func:`jaxnn.sweep`).
      coords: ``{hyperparameter: array trial_shape}``: every trial's value of every hyperparameter (static
        ones as their Python type: int, float, str or bool).  Default: a grid of ``axes``.
      status: int8 ``(*trial_shape, seeds)``: 0 ok, 1 diverged, 2 invalid (:mod:`jaxnn.sweeps.status`).
        Default: from ``diverged``.
      space: ``{"kind", "params": {name: {"dist", "args"}}, "static": [names]}`` of the space (None: a grid).
      directions: ``{metric: "max" | "min"}`` as declared by ``jaxnn.sweep(..., directions=...)`` (what
        :meth:`best` ranks by; saved and loaded with the result).  Default ``{}``.
    """

    axes: dict
    seeds: int
    metrics: dict
    diverged: np.ndarray
    meta: dict = field(default_factory=dict)
    coords: Optional[dict] = None
    status: Optional[np.ndarray] = None
    space: Optional[dict] = None
    directions: Optional[dict] = None

    def __post_init__(self):
        self.directions = check_directions(self.directions)
        if self.coords is None:
            mesh = np.meshgrid(*self.axes.values(), indexing="ij")
            self.coords = dict(zip(self.axes, mesh))
        if self.status is None:
            self.status = np.where(self.diverged, _status.DIVERGED, _status.OK).astype(np.int8)
        if self.space is None:
            self.space = {"kind": "grid", "params": {}, "static": []}

    # --- access -----------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; the sweep returned {sorted(self.metrics)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.metrics

    def keys(self):
        return self.metrics.keys()

    @property
    def is_grid(self) -> bool:
        return self.space.get("kind", "grid") == "grid"

    @property
    def shape(self) -> tuple:
        """``(*trial_shape, seeds)``."""
        return tuple(len(v) for v in self.axes.values()) + (self.seeds,)

    @property
    def invalid(self) -> np.ndarray:
        """bool ``(*trial_shape, seeds)``: the run's hyperparameters were invalid."""
        return self.status == _status.INVALID

    @property
    def ok(self) -> np.ndarray:
        """bool ``(*trial_shape, seeds)``: neither diverged nor invalid."""
        return self.status == _status.OK

    @property
    def n_diverged(self) -> int:
        return int(self.diverged.sum())

    @property
    def n_invalid(self) -> int:
        return int(self.invalid.sum())

    def log_scaled(self, name: str) -> bool:
        """Whether hyperparameter ``name`` was sampled log-uniformly (plots use a log axis)."""
        return self.space.get("params", {}).get(name, {}).get("dist") == "loguniform"

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.axes.items())
        return (f"SweepResult({self.space.get('kind', 'grid')}, axes=({axes}), seeds={self.seeds}, "
                f"metrics={sorted(self.metrics)}, n_diverged={self.n_diverged}, n_invalid={self.n_invalid})")

    def mean(self, name: str, *, skip_diverged: bool = True) -> np.ndarray:
        """Mean of a metric over seeds, shape ``(*trial_shape, *leaf_shape)``; with ``skip_diverged`` diverged
        and invalid runs are left out (NaN where no seed is ok)."""
        x = np.asarray(self[name], np.float64)
        axis = len(self.axes)
        if not skip_diverged:
            return x.mean(axis=axis)
        mask = np.broadcast_to(self.ok.reshape(self.ok.shape + (1,) * (x.ndim - self.ok.ndim)), x.shape)
        total = np.where(mask, x, 0.0).sum(axis=axis)
        count = mask.sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def _best_metric(self, metric):
        """``metric``, or (None) the one scalar metric declared in ``directions``."""
        if metric is not None:
            return metric
        declared = [k for k in self.directions if k in self.scalar_metrics()]
        if len(declared) != 1:
            raise ValueError(f"metric: expected the name of a scalar metric {self.scalar_metrics()}; metric=None "
                             f"means the one declared in jaxnn.sweep(..., directions=...), and this result declares "
                             f"{declared or 'none'}")
        return declared[0]

    def best(self, metric: Optional[str] = None, *legacy, mode: Optional[str] = None,
             name: Optional[str] = None) -> dict:
        """The trial with the best seed-mean of a scalar metric (diverged and invalid runs left out; ties to the
        lower index, :func:`jaxnn.sweeps.ranking.rank`).

        Args:
          metric: a scalar metric; None: the one declared in ``directions`` (an error if not exactly one).
          mode: "max" or "min"; None: the declared direction of ``metric`` (``jaxnn.sweep(...,
            directions={...})``), an error if there is none.  Nothing is inferred from the metric's name.
          legacy: ``best(metric, mode)`` with a positional mode still works (DeprecationWarning), as does
            ``name=`` for ``metric``.

        Returns:
          A grid's ``{axis: value, ..., metric: mean, "index": grid index}``; otherwise ``{"trial": i,
          hyperparameter: value, ..., metric: mean, "index": (i,)}``.  A metric named like one of the other
          keys is ``"metric/<name>"`` there, as in :meth:`rows`.
        """
        metric, mode = _legacy_best(metric, legacy, mode, name)
        metric = self._best_metric(metric)
        m = self.mean(metric)
        if m.ndim != len(self.axes):
            raise ValueError(f"metric: best() needs a scalar metric, {metric!r} has shape {self[metric].shape}")
        mode = resolve(metric, mode, self.directions,
                       declare=f"jaxnn.sweep(fn, space, ..., directions={{{metric!r}: 'max'}}) (or 'min')")
        if np.all(np.isnan(m)):
            why = ("no trial has an ok run (all diverged or invalid)" if not np.any(self.ok)
                   else f"the ok runs' {metric!r} is NaN everywhere")
            raise ValueError(f"best: {why}, no finite {metric!r}")
        idx = np.unravel_index(int(rank(m.reshape(-1), None, mode)[0]), m.shape)
        out = {} if self.is_grid else {"trial": int(idx[0])}
        out.update({k: _scalar(v[idx]) for k, v in self.coords.items()})
        out[f"metric/{metric}" if metric in out or metric == "index" else metric] = float(m[idx])  # as rows()
        out["index"] = tuple(int(i) for i in idx)
        return out

    # --- tidy rows ------------------------------------------------------------------------------
    def scalar_metrics(self) -> list:
        """Names of the metrics with one number per run (the ones that go into rows and CSV)."""
        return [k for k, v in self.metrics.items() if np.ndim(v) == len(self.axes) + 1]

    def _lead(self) -> list:
        return ([] if self.is_grid else ["trial"]) + list(self.coords)

    def _columns(self) -> dict:
        taken = set(self._lead()) | {"seed", "diverged", "status"}
        return {k: (f"metric/{k}" if k in taken else k) for k in self.scalar_metrics()}

    def rows(self) -> Iterator[dict]:
        """One dict per trial and seed: (``trial``,) every hyperparameter, ``seed``, every scalar metric,
        ``diverged`` and ``status`` (``"ok"``, ``"diverged"``, ``"invalid"``).  Non-scalar metrics such as loss
        curves stay in the arrays; a metric named like a column above becomes ``"metric/<name>"``."""
        cols = self._columns()
        for idx in np.ndindex(*self.shape):
            row = {} if self.is_grid else {"trial": int(idx[0])}
            row.update({k: _scalar(v[idx[:-1]]) for k, v in self.coords.items()})
            row["seed"] = int(idx[-1])
            for k, col in cols.items():
                row[col] = _scalar(self.metrics[k][idx])
            row["diverged"] = bool(self.diverged[idx])
            row["status"] = _status.NAMES[int(self.status[idx])]
            yield row

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`rows` as CSV (atomically)."""
        cols = self._lead() + ["seed"] + list(self._columns().values()) + ["diverged", "status"]
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in self.rows():
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        text = buf.getvalue().encode()
        atomic_write(os.fspath(path), lambda f: f.write(text))

    # --- labeled results (optional extra "labels": xarray, pandas) --------------------------------------
    def to_pandas(self):
        """A tidy ``pandas.DataFrame``: one row per (trial, seed), a column per hyperparameter, scalar metric,
        ``diverged`` and ``status`` (as :meth:`rows`)."""
        pd = _require("pandas")
        return pd.DataFrame(list(self.rows()), columns=self._lead() + ["seed"] + list(self._columns().values())
                            + ["diverged", "status"])

    def to_xarray(self):
        """An ``xarray.Dataset``: one variable per metric with dims ``(*dims, "seed", "<metric>_dim_0", ...)``
        where dims are a grid's axes or ``("trial",)``; coordinates: the axes, ``seed`` and (for trials) every
        hyperparameter along ``trial``; variables ``status`` (strings) and ``diverged``; ``attrs`` = ``meta``."""
        xr = _require("xarray")
        dims = tuple(self.axes) + ("seed",)
        coords = {k: np.asarray(v) for k, v in self.axes.items()}
        coords["seed"] = np.arange(self.seeds)
        if not self.is_grid:
            coords.update({k: ("trial", np.asarray(v)) for k, v in self.coords.items()})
        taken = set(coords) | {"status", "diverged"}
        data = {}
        for k, v in self.metrics.items():
            name = f"metric/{k}" if k in taken else k
            data[name] = (dims + tuple(f"{name}_dim_{i}" for i in range(v.ndim - len(dims))), v)
        data["status"] = (dims, np.asarray(_status.NAMES)[self.status])
        data["diverged"] = (dims, self.diverged)
        return xr.Dataset(data, coords=coords, attrs=dict(self.meta))

    def to_optuna(self, storage, study_name: str, *, metric: Optional[str] = None, mode: Optional[str] = None,
                  curve: Optional[str] = None):
        """Every trial written into an Optuna study (optional extra "optuna"): params, value = the seed-mean of
        ``metric`` (as :meth:`best`), COMPLETE or FAIL, intermediate values from an output ``curve`` of shape
        ``(*trial_shape, seeds, steps)``.  See :func:`jaxnn.sweeps.export.to_optuna`; returns the study."""
        from jaxnn.sweeps.export import to_optuna

        return to_optuna(self, storage, study_name, metric=metric, mode=mode, curve=curve)

    # --- files ----------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``results.npz``, ``results.csv`` and ``meta.json`` into ``directory``."""
        d = os.fspath(directory)
        os.makedirs(d, exist_ok=True)
        arrays = {f"axis/{k}": np.asarray(v) for k, v in self.axes.items()}
        arrays.update({f"coord/{k}": np.asarray(v) for k, v in self.coords.items()})
        arrays.update({f"metric/{k}": np.asarray(v) for k, v in self.metrics.items()})
        arrays["diverged"] = np.asarray(self.diverged, bool)
        arrays["status"] = np.asarray(self.status, np.int8)
        header = json.dumps({"format": RESULT_FORMAT, "version": RESULT_VERSION, "axes": list(self.axes),
                             "coords": list(self.coords), "metrics": list(self.metrics), "seeds": int(self.seeds),
                             "space": self.space, "directions": self.directions})
        arrays["__jaxnn__"] = np.array(header)
        atomic_write(os.path.join(d, "results.npz"), lambda f: np.savez(f, **arrays))
        self.to_csv(os.path.join(d, "results.csv"))
        dump_json(os.path.join(d, "meta.json"), self.meta)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "SweepResult":
        """Read a result written by :meth:`save` (or by :func:`jaxnn.sweep` with ``out_dir``), of any space
        (and the grid-only files of jaxnn's first result format)."""
        d = os.fspath(directory)
        path = os.path.join(d, "results.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no sweep result here (a finished sweep writes results.npz)")
        with np.load(path, allow_pickle=False) as z:
            if "__jaxnn__" not in z.files:
                raise ValueError(f"{path}: not a jaxnn sweep result")
            header = json.loads(str(z["__jaxnn__"]))
            if header.get("format") != RESULT_FORMAT or header.get("version") not in (1, RESULT_VERSION):
                raise ValueError(f"{path}: unsupported format {header.get('format')!r} "
                                 f"version {header.get('version')!r}")
            axes = {k: z[f"axis/{k}"] for k in header["axes"]}
            metrics = {k: z[f"metric/{k}"] for k in header["metrics"]}
            diverged = z["diverged"]
            coords = {k: z[f"coord/{k}"] for k in header.get("coords", [])} or None
            st = z["status"] if "status" in z.files else None
        meta = {}
        mpath = os.path.join(d, "meta.json")
        if os.path.exists(mpath):
            with open(mpath) as f:
                meta = json.load(f)
        return cls(axes=axes, seeds=int(header["seeds"]), metrics=metrics, diverged=diverged, meta=meta,
                   coords=coords, status=st, space=header.get("space"), directions=header.get("directions"))
