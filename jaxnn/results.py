"""The result of a sweep and its files: :class:`SweepResult` (arrays over the grid) and the
resumable chunk store that :func:`jaxnn.sweep` writes into an output directory.

A sweep result holds, for every leaf of what the swept function returned, one NumPy array of shape
``(len(axis_1), ..., len(axis_k), seeds, *leaf_shape)``: the grid axes in the order given, then the
seeds.  Files in a result directory::

    results.npz     every axis, metric and the diverged mask (binary, exact; readable without jaxnn)
    results.csv     tidy rows, one per configuration and seed (scalar metrics only), for people
    meta.json       meta + provenance (command, grid, git commit, versions, devices, timings)

The chunk store (written while the sweep runs, so a killed run loses at most the chunk in flight)::

    manifest.json           fingerprint (grid, seeds, key, chunk size, code) + provenance
    chunks/chunk-00000.npz  the runs [start, stop) of one finished chunk, written atomically
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from jaxnn.io import atomic_write

__all__ = ["SweepResult", "RESULT_FORMAT"]

RESULT_FORMAT = "jaxnn.sweep"
RESULT_VERSION = 1


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def dump_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, default=_json_default, sort_keys=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def _scalar(v):
    v = v.item() if hasattr(v, "item") else v
    return v


@dataclass
class SweepResult:
    """Arrays over a hyperparameter grid and seeds.

    Attributes:
      axes: ordered ``{name: values}`` (1-D NumPy arrays) of the grid, in the order given to
        :func:`jaxnn.sweep`.
      seeds: number of seeds per configuration.
      metrics: ``{leaf name: array (len(axis_1), ..., len(axis_k), seeds, *leaf_shape)}``; nested
        outputs are named by their path joined with ``/`` (``"hist/loss"``).
      diverged: bool array ``(len(axis_1), ..., len(axis_k), seeds)``: the run's ``diverged_at``
        leaf (if any) is >= 0, or any of its floating outputs is NaN/inf.
      meta: ``devices``, ``processes``, ``chunk_size``, ``n_runs``, ``n_diverged``, versions,
        provenance, timings (see :func:`jaxnn.sweep`).
    """

    axes: dict
    seeds: int
    metrics: dict
    diverged: np.ndarray
    meta: dict = field(default_factory=dict)

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
    def shape(self) -> tuple:
        """``(len(axis_1), ..., len(axis_k), seeds)``."""
        return tuple(len(v) for v in self.axes.values()) + (self.seeds,)

    @property
    def n_diverged(self) -> int:
        return int(self.diverged.sum())

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.axes.items())
        return (f"SweepResult(axes=({axes}), seeds={self.seeds}, metrics={sorted(self.metrics)}, "
                f"n_diverged={self.n_diverged})")

    def mean(self, name: str, *, skip_diverged: bool = True) -> np.ndarray:
        """Mean of a metric over seeds, shape ``(len(axis_1), ..., len(axis_k), *leaf_shape)``;
        with ``skip_diverged`` diverged runs are left out (NaN where every seed diverged)."""
        x = np.asarray(self[name], np.float64)
        if not skip_diverged:
            return x.mean(axis=len(self.axes))
        mask = ~self.diverged.reshape(self.diverged.shape + (1,) * (x.ndim - self.diverged.ndim))
        mask = np.broadcast_to(mask, x.shape)
        total = np.where(mask, x, 0.0).sum(axis=len(self.axes))
        count = mask.sum(axis=len(self.axes))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def best(self, name: str, mode: str = "min") -> dict:
        """The configuration with the best seed-mean of a scalar metric (diverged runs left out):
        ``{axis: value, ..., name: mean, "index": grid index}``."""
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        m = self.mean(name)
        if m.ndim != len(self.axes):
            raise ValueError(f"name: best() needs a scalar metric, {name!r} has shape {self[name].shape}")
        if np.all(np.isnan(m)):
            raise ValueError(f"best: every configuration diverged, no finite {name!r}")
        flat = np.nanargmin(m) if mode == "min" else np.nanargmax(m)
        idx = np.unravel_index(flat, m.shape)
        out = {k: _scalar(v[i]) for (k, v), i in zip(self.axes.items(), idx)}
        out[name] = float(m[idx])
        out["index"] = tuple(int(i) for i in idx)
        return out

    # --- tidy rows ------------------------------------------------------------------------------
    def scalar_metrics(self) -> list:
        """Names of the metrics with one number per run (the ones that go into rows and CSV)."""
        return [k for k, v in self.metrics.items() if np.ndim(v) == len(self.axes) + 1]

    def _columns(self) -> dict:
        taken = set(self.axes) | {"seed", "diverged"}
        return {k: (f"metric/{k}" if k in taken else k) for k in self.scalar_metrics()}

    def rows(self) -> Iterator[dict]:
        """One dict per configuration and seed: the axis values, ``seed``, every scalar metric and
        ``diverged``.  (Non-scalar metrics such as loss curves stay in the arrays; a metric named
        like an axis, ``seed`` or ``diverged`` becomes ``"metric/<name>"``.)"""
        cols = self._columns()
        for idx in np.ndindex(*self.shape):
            row = {k: _scalar(v[i]) for (k, v), i in zip(self.axes.items(), idx[:-1])}
            row["seed"] = int(idx[-1])
            for k, col in cols.items():
                row[col] = _scalar(self.metrics[k][idx])
            row["diverged"] = bool(self.diverged[idx])
            yield row

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`rows` as CSV (atomically)."""
        cols = list(self.axes) + ["seed"] + list(self._columns().values()) + ["diverged"]
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in self.rows():
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
        text = buf.getvalue().encode()
        atomic_write(os.fspath(path), lambda f: f.write(text))

    # --- files ----------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write ``results.npz``, ``results.csv`` and ``meta.json`` into ``directory``."""
        d = os.fspath(directory)
        os.makedirs(d, exist_ok=True)
        arrays = {f"axis/{k}": np.asarray(v) for k, v in self.axes.items()}
        arrays.update({f"metric/{k}": np.asarray(v) for k, v in self.metrics.items()})
        arrays["diverged"] = np.asarray(self.diverged, bool)
        header = json.dumps({"format": RESULT_FORMAT, "version": RESULT_VERSION, "axes": list(self.axes),
                             "metrics": list(self.metrics), "seeds": int(self.seeds)})
        arrays["__jaxnn__"] = np.array(header)
        atomic_write(os.path.join(d, "results.npz"), lambda f: np.savez(f, **arrays))
        self.to_csv(os.path.join(d, "results.csv"))
        dump_json(os.path.join(d, "meta.json"), self.meta)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "SweepResult":
        """Read a result written by :meth:`save` (or by :func:`jaxnn.sweep` with ``out_dir``)."""
        d = os.fspath(directory)
        path = os.path.join(d, "results.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no sweep result here (a finished sweep writes results.npz)")
        with np.load(path, allow_pickle=False) as z:
            if "__jaxnn__" not in z.files:
                raise ValueError(f"{path}: not a jaxnn sweep result")
            header = json.loads(str(z["__jaxnn__"]))
            if header.get("format") != RESULT_FORMAT or header.get("version") != RESULT_VERSION:
                raise ValueError(f"{path}: unsupported format {header.get('format')!r} "
                                 f"version {header.get('version')!r}")
            axes = {k: z[f"axis/{k}"] for k in header["axes"]}
            metrics = {k: z[f"metric/{k}"] for k in header["metrics"]}
            diverged = z["diverged"]
        meta = {}
        mpath = os.path.join(d, "meta.json")
        if os.path.exists(mpath):
            with open(mpath) as f:
                meta = json.load(f)
        return cls(axes=axes, seeds=int(header["seeds"]), metrics=metrics, diverged=diverged, meta=meta)


# --- the chunk store (used by jaxnn.sweep) -----------------------------------------------------------

def chunk_path(directory: str, index: int) -> str:
    return os.path.join(directory, "chunks", f"chunk-{index:05d}.npz")


def write_chunk(directory: str, index: int, start: int, stop: int, fingerprint: str, leaves: dict) -> None:
    """Atomically write the runs [start, stop) of chunk ``index``."""
    arrays = {f"leaf/{k}": np.asarray(v) for k, v in leaves.items()}
    arrays["__chunk__"] = np.array(json.dumps({"index": index, "start": start, "stop": stop,
                                               "fingerprint": fingerprint}))
    os.makedirs(os.path.join(directory, "chunks"), exist_ok=True)
    atomic_write(chunk_path(directory, index), lambda f: np.savez(f, **arrays))


def read_chunk(directory: str, index: int, start: int, stop: int, fingerprint: str):
    """The leaves of a finished chunk, or ``None`` if it is missing or not from this sweep."""
    path = chunk_path(directory, index)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(str(z["__chunk__"]))
            if (head.get("fingerprint") != fingerprint or head.get("start") != start
                    or head.get("stop") != stop):
                return None
            return {k[len("leaf/"):]: z[k] for k in z.files if k.startswith("leaf/")}
    except Exception:  # a foreign or damaged file: recompute that chunk
        return None
