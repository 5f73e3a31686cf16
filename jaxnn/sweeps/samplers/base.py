"""The sampler protocol: what a model-based search asks, and what it tells.

A search keeps the trials it has proposed and what it observed of them (a :class:`History`) on the host.
Whenever lanes need new trials, it asks its sampler for ``n`` points of the unit cube::

    u = sampler.propose(n, space, history, seed)      # (n, d) floats in [0, 1)

and maps them to hyperparameters through each distribution's quantile function
(:meth:`ParamSpace.values`), as :func:`jaxnn.sweeps.random` and :func:`~jaxnn.sweeps.sobol` designs do.
So one sampler serves every distribution: a log-uniform coordinate is uniform in ``log``, a choice of k
values is k equal bins.  ``seed`` is a tuple of ints (the search's key words and the index of this call):
a sampler that draws from ``np.random.default_rng(seed)`` proposes the same points for the same key and
history, so a resumed search (which replays its history) proposes what the uninterrupted one did.

A sampler may also define ``check(mode)`` (called with the search's direction, "max" or "min", before any
training: e.g. a shared Optuna study of the other direction is a ValueError), ``finish(space, history)``
(called once when the search ends, e.g. to tell an Optuna study the last results) and ``describe() -> dict``
(JSON, part of a checkpoint's identity).

Samplers here: :class:`RandomSampler` (independent uniforms), :class:`SobolSampler` (one scrambled Sobol
sequence, continued call after call); :func:`jaxnn.sweeps.tpe` (:mod:`~jaxnn.sweeps.samplers.tpe`) and
:func:`jaxnn.sweeps.optuna_sampler` (:mod:`~jaxnn.sweeps.samplers.optuna`).
"""

from __future__ import annotations

import warnings
from typing import Mapping, NamedTuple, Protocol, runtime_checkable

import numpy as np

from jaxnn.sweeps.spaces import Design, Space, as_dist, check_params, plain

__all__ = ["Sampler", "ParamSpace", "History", "RandomSampler", "SobolSampler", "param_space",
           "empty_history", "describe", "stable_repr", "checked_proposals", "RUNNING", "COMPLETE", "PRUNED", "FAIL",
           "STATES"]

RUNNING, COMPLETE, PRUNED, FAIL = 0, 1, 2, 3
STATES = ("running", "complete", "pruned", "fail")  # Optuna's TrialState names, in the same sense


@runtime_checkable
class Sampler(Protocol):
    """Proposes points of the unit cube from what a search has observed (see the module docstring)."""

    def propose(self, n: int, space: "ParamSpace", history: "History", seed: tuple) -> np.ndarray:
        ...


class ParamSpace(NamedTuple):
    """The sampled hyperparameters of a search: one unit-cube coordinate per non-constant distribution.

    Attributes:
      names: the d sampled names, in the order given; ``dists``: their :class:`Distribution` s.
      constants: ``{name: value}`` given as numbers (not sampled).
      kinds: per coordinate ``"float"`` (uniform, loguniform: continuous in u), ``"int"`` (integers: k
        ordered bins) or ``"categorical"`` (choice, static: k unordered bins).
      sizes: per coordinate the number of bins k (0 for "float").
    """

    names: tuple
    dists: tuple
    constants: dict
    kinds: tuple
    sizes: tuple

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def static(self) -> tuple:
        """Names of the static (structure) hyperparameters."""
        return tuple(k for k, dist in zip(self.names, self.dists) if dist.kind == "static")

    def values(self, u) -> dict:
        """``{name: (n,) values}`` of the points ``u`` (n, d), constants included."""
        u = np.asarray(u, np.float64).reshape(-1, self.d)
        out = {k: dist.ppf(u[:, j]) for j, (k, dist) in enumerate(zip(self.names, self.dists))}
        out.update({k: np.full(len(u), v) for k, v in self.constants.items()})
        return out

    def unit(self, values: Mapping) -> np.ndarray:
        """The (n, d) points whose :meth:`values` are ``values`` (the inverse: bin centers for discrete
        coordinates), e.g. for the proposals of an Optuna sampler."""
        cols = []
        for k, dist, kind, size in zip(self.names, self.dists, self.kinds, self.sizes):
            v = np.asarray(values[k])
            if kind == "float":
                lo, hi = dist.args
                f = np.log if dist.kind == "loguniform" else (lambda x: x)
                u = (f(v.astype(np.float64)) - f(lo)) / (f(hi) - f(lo))
            elif kind == "int":
                u = (v.astype(np.float64) - dist.args[0] + 0.5) / size
            else:
                u = (np.array([dist.args.index(plain(x)) for x in v.reshape(-1)], np.float64) + 0.5) / size
            cols.append(np.clip(u, 0.0, np.nextafter(1.0, 0.0)))
        return np.stack(cols, axis=-1) if cols else np.zeros((0, 0))

    def describe(self) -> dict:
        return {"params": {k: dist.describe() for k, dist in zip(self.names, self.dists)},
                "constants": {k: plain(v) for k, v in self.constants.items()}}


def param_space(space, arg: str = "space") -> ParamSpace:
    """A :class:`ParamSpace` from a dict ``{name: Distribution or number}`` (what a model-based search
    samples), with a ValueError naming ``arg`` for anything else (a pre-sampled design above all)."""
    if isinstance(space, (Space, Design)):
        raise ValueError(f"{arg}: a model-based search proposes its own trials, so it needs the distributions, "
                         f"a dict such as {{'lr': sweeps.loguniform(1e-4, 1.0)}}; got a {space.kind} "
                         f"{type(space).__name__} (pass the distributions you gave sweeps.{space.kind}(...))")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"{arg}: expected a non-empty dict {{name: distribution}} (sweeps.uniform, loguniform, "
                         f"choice, integers, static, or a number), got {space!r:.120}")
    params = check_params(arg, space, as_dist)
    sampled = [(k, d) for k, d in params if d.kind != "constant"]
    if not sampled:
        raise ValueError(f"{arg}: expected at least one distribution to sample, got only constants {dict(space)}")
    kinds = tuple("float" if d.kind in ("uniform", "loguniform") else "int" if d.kind == "integers"
                  else "categorical" for _, d in sampled)
    sizes = tuple(0 if kd == "float" else (d.args[1] - d.args[0]) if kd == "int" else len(d.args)
                  for kd, (_, d) in zip(kinds, sampled))
    return ParamSpace(tuple(k for k, _ in sampled), tuple(d for _, d in sampled),
                      {k: d.args[0] for k, d in params if d.kind == "constant"}, kinds, sizes)


class History(NamedTuple):
    """What a search has observed, trial i in row i (proposed in that order).

    Attributes:
      u: (m, d) the points proposed so far.
      budgets: (B,) int64 ascending: the steps at which the search compares trials (rung budgets; the
        one budget of :func:`jaxnn.sweeps.search`).
      loss: (m, B) float64: the ranked metric at each budget, signed so that lower is better (``-metric``
        for mode "max"); NaN where the trial has not reached that budget; +inf at every budget for a
        trial that diverged or was invalid (the worst: an observation, never a crash).
      state: (m,) int8: RUNNING (proposed, still trained or waiting), COMPLETE (reached the search's last
        budget), PRUNED (stopped early by the search, final), FAIL (diverged or invalid).
      curves: per trial ``[(steps, metric value), ...]`` as the metric came (unsigned), every evaluation.
      mode: the ranked metric's direction ("max" or "min"); ``metric``: its name.
    """

    u: np.ndarray
    budgets: np.ndarray
    loss: np.ndarray
    state: np.ndarray
    curves: list
    mode: str
    metric: str

    @property
    def m(self) -> int:
        return len(self.u)

    def at(self, budget: int):
        """``(u, loss)`` of the trials observed at ``budget`` (loss finite, or +inf if failed), in trial order."""
        j = int(np.searchsorted(self.budgets, budget))
        if j == len(self.budgets) or self.budgets[j] != budget:
            return self.u[:0], self.loss[:0, 0] if self.loss.size else np.zeros(0)
        seen = ~np.isnan(self.loss[:, j])
        return self.u[seen], self.loss[seen, j]


def empty_history(d: int, budgets=(), mode: str = "min", metric: str = "loss") -> History:
    """A history with nothing proposed yet."""
    b = np.asarray(sorted(set(int(x) for x in budgets)), np.int64)
    return History(np.zeros((0, d)), b, np.zeros((0, len(b))), np.zeros(0, np.int8), [], mode, metric)


class RandomSampler:
    """Independent uniform points: trials drawn from the distributions, as :func:`jaxnn.sweeps.random`.  The
    r-th proposed trial's point comes from its own stream (the search's seed and r), so a search's trials do not
    depend on how they were batched into calls (its lanes, hence its device count)."""

    def propose(self, n, space, history, seed):
        base = list(seed[:-1])  # the search's stream, without the call's number
        return np.array([np.random.default_rng(base + [history.m + r]).random(space.d) for r in range(n)]
                        ).reshape(n, space.d)

    def describe(self):
        return {"sampler": "random"}

    def __repr__(self):
        return "RandomSampler()"


class SobolSampler:
    """One scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, seeded from the search's key), continued:
    call after call the next points, so that n trials in batches are the sequence's first n points."""

    def propose(self, n, space, history, seed):
        from jaxnn.datasets import require

        qmc = require("scipy.stats.qmc")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance note on non-powers of two
            s = qmc.Sobol(space.d, scramble=True, seed=np.random.default_rng(list(seed[:-1])))
            if history.m:
                s.fast_forward(history.m)
            return s.random(n)

    def describe(self):
        return {"sampler": "sobol"}

    def __repr__(self):
        return "SobolSampler()"


def describe(sampler) -> dict:
    """The sampler's JSON description (its identity in a checkpoint): its ``describe()``, else its
    :func:`stable_repr`."""
    d = getattr(sampler, "describe", None)
    return d() if callable(d) else {"sampler": stable_repr(sampler)}


def stable_repr(obj) -> str:
    """``repr(obj)``, or where that holds a memory address (an object or function without a repr of its own,
    different in every process) its type's or its own qualified name: a checkpoint's identity must be the same
    when the same script runs again.  Two objects of one class then look alike; the driver's log tells them
    apart by what they did (each call's inputs)."""
    r = repr(obj)
    if " at 0x" not in r:
        return r
    named = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(named, '__module__', '')}.{named.__qualname__}"


def checked_proposals(u, n: int, d: int, sampler) -> np.ndarray:
    """A sampler's proposals as an (n, d) float64 array in [0, 1), else a ValueError naming the sampler."""
    u = np.asarray(u, np.float64)
    if u.shape != (n, d) or not np.all((u >= 0) & (u < 1)):
        raise ValueError(f"sampler: {sampler!r:.80} proposed an array of shape {u.shape} (values in "
                         f"[{np.nanmin(u) if u.size else 0}, {np.nanmax(u) if u.size else 0}]); expected ({n}, {d}) "
                         "points in [0, 1)")
    return u

