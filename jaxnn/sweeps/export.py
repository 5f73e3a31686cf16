"""Optuna out: any jaxnn search written into an Optuna study (:func:`to_optuna`), and the pieces that the
Optuna sampler (:mod:`jaxnn.sweeps.samplers.optuna`) shares with it: distributions and opening a study.

Optuna is the optional extra ``optuna`` (``pip install 'jaxnn[optuna]'``), imported only when called.

One Optuna trial per jaxnn trial, written in one batch (``study.add_trials``):

* params with their distributions: ``uniform`` -> ``FloatDistribution(low, high)``, ``loguniform`` ->
  ``FloatDistribution(low, high, log=True)``, ``integers(low, high)`` -> ``IntDistribution(low, high - 1)``
  (jaxnn's high is exclusive, Optuna's inclusive), ``choice`` / ``static`` and a grid's axes ->
  ``CategoricalDistribution(values)``; constants are not searched: they go into the user attribute
  ``jaxnn_constants`` ``{name: value}``;
* intermediate values: the learning curve (``{step: value}``, non-finite values left out);
* the value and the state: FAIL (diverged or invalid, no value); else COMPLETE (the final value) or PRUNED
  (its value the last intermediate value, as ``study.tell`` records a pruned trial).  PRUNED are the ok trials
  that successive halving, Hyperband, ASHA or BOHB eliminated at a rung (not in the result's ``final``, the
  top-rung trials ``best()`` ranks).  ``sweeps.run``, ``search`` and ``pbt`` prune none: every ok trial is
  COMPLETE, and an early-stopped trial of ``run`` is COMPLETE at the step it stopped (the rule ended its
  training, no ranking against the others did: its last value is its result, which ``best()`` ranks);
* user attributes ``jaxnn_trial`` (the trial's index in the result), ``jaxnn_status`` and more (below).

Writing into a study that exists adds the trials to it (a study holding another search's trials, say);
a study that exists with the other direction is a ValueError.  Optuna's ``add_trials`` adds one trial at a
time: a database storage (``"sqlite:///..."``) commits each trial in its own transaction and each
intermediate value as its own row, so long curves are slow to write there; a journal file
(``optuna.storages.JournalStorage(JournalFileBackend(path))``) appends them far faster.
"""

from __future__ import annotations

import numpy as np

from jaxnn.sweeps import status as st
from jaxnn.sweeps.directions import check_mode, resolve
from jaxnn.sweeps.spaces import plain

__all__ = ["to_optuna", "optuna_distribution", "open_study", "open_storage", "check_direction", "check_storage",
           "require_optuna"]


def require_optuna():
    """The optuna module, or an ImportError naming the ``optuna`` extra."""
    from jaxnn.datasets import require

    return require("optuna", "optuna")


def optuna_distribution(kind: str, args):
    """The Optuna distribution of a jaxnn one (``Distribution.kind``, ``args``); None for a constant."""
    d = require_optuna().distributions
    if kind == "constant":
        return None
    if kind in ("uniform", "loguniform"):
        return d.FloatDistribution(float(args[0]), float(args[1]), log=kind == "loguniform")
    if kind == "integers":
        return d.IntDistribution(int(args[0]), int(args[1]) - 1)
    if kind in ("choice", "static"):
        return d.CategoricalDistribution(list(dict.fromkeys(plain(a) for a in args)))  # unique, in order
    raise ValueError(f"distribution: expected uniform, loguniform, integers, choice, static or constant, got {kind!r}")


def _param(dist, v):
    """``v`` as a value of the Optuna distribution ``dist`` (floats clipped into [low, high])."""
    v, d = plain(v), require_optuna().distributions
    if isinstance(dist, d.FloatDistribution):
        return float(min(max(float(v), dist.low), dist.high))
    if isinstance(dist, d.IntDistribution):
        return int(v)
    return v


def _describe_storage(storage) -> str:
    return storage if isinstance(storage, str) else "in memory" if storage is None else type(storage).__name__


def check_storage(storage, optuna=None):
    """``storage`` if it is None, a URL string or an Optuna storage, else a ValueError naming it."""
    optuna = optuna or require_optuna()
    if storage is None or isinstance(storage, (str, optuna.storages.BaseStorage)):
        return storage
    raise ValueError(f"storage: expected None (in memory), a database URL such as 'sqlite:///search.db' or an "
                     f"Optuna storage (optuna.storages.JournalStorage(...)), got {storage!r:.120}")


def open_storage(storage):
    """``storage`` opened: an ``RDBStorage`` for a URL string (its tables created if new), else as given.

    Raises:
      ValueError: the URL cannot be opened (naming it, with SQLAlchemy's or Optuna's message).
    """
    optuna = require_optuna()
    check_storage(storage, optuna)
    if not isinstance(storage, str):
        return storage
    try:
        return optuna.storages.RDBStorage(storage)
    except Exception as e:  # SQLAlchemy's and the storages' own errors: say which storage failed
        raise ValueError(f"storage: cannot open {storage!r} ({type(e).__name__}: {e})") from e


def check_direction(storage, study_name, mode: str, label=None) -> None:
    """A ValueError if the study ``study_name`` exists in the opened ``storage`` with the direction opposite to
    ``mode`` (``label``: how to name the storage, default its description)."""
    if storage is None or study_name is None:
        return
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:  # no such study yet: it will be created with mode's direction
        return
    _same_direction(storage.get_study_directions(study_id), study_name, mode, label or _describe_storage(storage))


def _same_direction(directions, study_name, mode: str, label: str) -> None:
    direction = "maximize" if check_mode(mode) == "max" else "minimize"
    got = [d.name.lower() for d in directions]
    if got != [direction]:
        raise ValueError(f"mode: {study_name!r} in {label} is a study whose direction contradicts mode={mode!r} (it "
                         f"is {got}, mode {mode!r} means {direction!r}); use another study_name or the study's "
                         "direction")


def open_study(storage, study_name, mode: str, sampler=None, label=None):
    """The Optuna study ``study_name`` in ``storage`` (created, or loaded if it exists), maximizing for
    ``mode`` "max" and minimizing for "min" (``label``: how errors name the storage).

    Raises:
      ValueError: ``storage`` cannot be opened (naming it, with Optuna's or SQLAlchemy's message), or the
        study exists with the other direction.
    """
    optuna = require_optuna()
    label = label or _describe_storage(storage)
    opened = open_storage(storage)
    try:
        study = optuna.create_study(storage=opened, sampler=sampler, study_name=study_name,
                                    direction="maximize" if check_mode(mode) == "max" else "minimize",
                                    load_if_exists=True)
    except Exception as e:
        raise ValueError(f"storage: cannot open {label!r} ({type(e).__name__}: {e})") from e
    _same_direction(study.directions, study.study_name, mode, label)
    return study


# --- results -> trials -----------------------------------------------------------------------------------

def _split_params(dists: dict):
    """``({name: Optuna distribution}, [constant names])`` of ``{name: {"dist", "args"}}``."""
    out, constants = {}, []
    for k, d in dists.items():
        od = optuna_distribution(d["dist"], d["args"])
        if od is None:
            constants.append(k)
        else:
            out[k] = od
    return out, constants


def _trial(optuna, state, value, params, dists, inter, attrs):
    ts = optuna.trial.TrialState
    state = {"complete": ts.COMPLETE, "pruned": ts.PRUNED, "fail": ts.FAIL}[state]
    if state == ts.COMPLETE and (value is None or np.isnan(value)):
        state, value = ts.FAIL, None  # an ok run without a number is no result
    if state == ts.PRUNED:  # Optuna's convention (study.tell): the last intermediate value
        value = inter[max(inter)] if inter else None
    if state == ts.FAIL:
        value = None
    return optuna.trial.create_trial(state=state, value=value, params=params, distributions=dists,
                                     intermediate_values=inter, user_attrs=attrs)


def _finite(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _adaptive_trials(optuna, res, metric):
    """The FrozenTrials of an :class:`~jaxnn.sweeps.AdaptiveResult` (trials never started left out)."""
    if "params" not in res.meta:
        raise ValueError("result: its meta has no 'params' (the distributions searched); results of jaxnn's "
                         "adaptive searches record them since issue 23: run the search again")
    dists, constants = _split_params(res.meta["params"])
    final, out = {int(i) for i in res.final}, []
    for i, curve in enumerate(res.curves):
        if not curve:
            continue
        inter = {int(s): float(m[metric]) for s, m in curve if metric in m and np.isfinite(m[metric])}
        ok = int(res.status[i]) == st.OK
        state = "fail" if not ok else "complete" if i in final else "pruned"
        attrs = {"jaxnn_trial": i, "jaxnn_status": st.NAMES[int(res.status[i])], "jaxnn_steps": int(curve[-1][0]),
                 "jaxnn_metrics": {k: _finite(v) for k, v in curve[-1][1].items()},
                 "jaxnn_key": np.asarray(res.keys[i]).reshape(-1).tolist()}
        if constants:
            attrs["jaxnn_constants"] = {k: plain(res.trials[k][i]) for k in constants}
        params = {k: _param(d, res.trials[k][i]) for k, d in dists.items()}
        out.append(_trial(optuna, state, float(curve[-1][1].get(metric, np.nan)), params, dists, inter, attrs))
    return out


def _adaptive_mode(res, metric, mode):
    """``(metric, mode)`` of an :class:`~jaxnn.sweeps.AdaptiveResult`: ``metric`` one of its curves' metrics
    (checked first, so that a misspelt name is not reported as a missing direction)."""
    metric = res.metric if metric is None else metric
    names = sorted({k for c in res.curves for _, m in c for k in m})
    if metric not in names:
        raise ValueError(f"metric: {metric!r} is not one of this result's metrics; expected one of {names}")
    if metric == res.metric and mode is None:
        return metric, res.mode
    return metric, resolve(metric, mode, res.directions or {},
                           declare="Trainable(init, advance, evaluate, directions={...})")


def _sweep_metric(res, metric, mode):
    """``(metric, mode)`` of a :class:`~jaxnn.sweeps.SweepResult` as ``best()`` chooses them."""
    scalars = res.scalar_metrics()
    if metric is None:
        declared = [k for k in res.directions if k in scalars]
        if len(declared) != 1:
            raise ValueError(f"metric: expected the name of a scalar metric {scalars}; metric=None means the one "
                             f"declared in jaxnn.sweep(..., directions=...), and this result declares "
                             f"{declared or 'none'}")
        metric = declared[0]
    if metric not in scalars:
        raise ValueError(f"metric: expected a scalar metric of this result {scalars}, got {metric!r}")
    return metric, resolve(metric, mode, res.directions,
                           declare=f"jaxnn.sweep(fn, space, ..., directions={{{metric!r}: 'max'}}) (or 'min')")


def _sweep_dists(res):
    if res.is_grid:
        return {k: optuna_distribution("choice", np.asarray(v).tolist()) for k, v in res.axes.items()}, []
    return _split_params(res.space["params"])


def _seed_curve(res, curve, n):
    """(n, steps) seed-mean of the output ``curve`` (every seed), or None."""
    if curve is None:
        return None
    if curve not in res.metrics or np.ndim(res[curve]) != len(res.axes) + 2:
        raise ValueError(f"curve: expected the name of an output of shape (*trial_shape, seeds, steps), one of "
                         f"{[k for k, v in res.metrics.items() if np.ndim(v) == len(res.axes) + 2]}, got {curve!r}")
    c = np.asarray(res[curve], np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return c.reshape(n, res.seeds, -1).mean(axis=1)


def _sweep_trials(optuna, res, metric, curve):
    """The FrozenTrials of a :class:`~jaxnn.sweeps.SweepResult`: value the seed-mean of ``metric``; FAIL if any
    seed diverged or was invalid."""
    dists, constants = _sweep_dists(res)
    trial_shape = res.shape[:-1]
    n = int(np.prod(trial_shape, dtype=np.int64))
    x = np.asarray(res[metric], np.float64).reshape(n, res.seeds)
    status = np.asarray(res.status).reshape(n, res.seeds)
    curves = _seed_curve(res, curve, n)
    coords = {k: np.asarray(v).reshape(n) for k, v in res.coords.items()}
    out = []
    for i in range(n):
        inter = {} if curves is None else {j: float(v) for j, v in enumerate(curves[i]) if np.isfinite(v)}
        attrs = {"jaxnn_trial": i, "jaxnn_status": [st.NAMES[int(s)] for s in status[i]],
                 "jaxnn_seeds": [_finite(v) for v in x[i]]}
        if res.is_grid:
            attrs["jaxnn_index"] = [int(j) for j in np.unravel_index(i, trial_shape)]
        if constants:
            attrs["jaxnn_constants"] = {k: plain(coords[k][i]) for k in constants}
        params = {k: _param(d, coords[k][i]) for k, d in dists.items()}
        state = "complete" if np.all(status[i] == st.OK) else "fail"
        with np.errstate(invalid="ignore", over="ignore"):
            value = float(x[i].mean())
        out.append(_trial(optuna, state, value, params, dists, inter, attrs))
    return out


def to_optuna(result, storage, study_name: str, *, metric=None, mode=None, curve=None):
    """Write every trial of a jaxnn search into an Optuna study (see the module docstring).

    Args:
      result: a :class:`~jaxnn.sweeps.SweepResult` or an :class:`~jaxnn.sweeps.AdaptiveResult`.
      storage: a database URL (``"sqlite:///search.db"``), an Optuna storage
        (``optuna.storages.JournalStorage(...)``), or None (a study in memory, returned).
      study_name: the study to create, or to add to if it exists (with the same direction).
      metric, mode: the value and the study's direction.  SweepResult: a scalar output, its seed-mean over
        the trial's seeds, as :meth:`~jaxnn.sweeps.SweepResult.best` chooses them (default: the one declared
        metric and its declared direction).  AdaptiveResult: default the ranked metric and mode; the curve
        is that metric at every evaluation ``result.curves[i]``.
      curve: SweepResult only: an output of shape ``(*trial_shape, seeds, steps)`` (a loss curve) whose
        seed-mean gives the intermediate values, step j = index j; None: no intermediate values.

    Returns:
      The ``optuna.Study``.  AdaptiveResult: trials in ``result.final`` that are ok are COMPLETE (every ok
      trial of ``run``, an early-stopped one at the step it stopped, ``search`` and ``pbt``), other ok ones
      PRUNED (eliminated at a rung by successive halving, Hyperband, ASHA or BOHB), diverged or invalid ones
      FAIL, never started ones not written; user attributes
      ``jaxnn_trial``, ``jaxnn_status``, ``jaxnn_steps`` (the last evaluation's step), ``jaxnn_metrics`` (its
      metrics), ``jaxnn_key`` (the trial's raw key data, to retrain it).  SweepResult: COMPLETE, or FAIL if any
      seed diverged or was invalid; ``jaxnn_trial`` (flat index), ``jaxnn_index`` (a grid's index),
      ``jaxnn_status`` and ``jaxnn_seeds`` (the metric per seed).
    """
    optuna = require_optuna()
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name: expected a non-empty string, got {study_name!r}")
    check_storage(storage, optuna)
    if hasattr(result, "curves") and hasattr(result, "final"):
        if curve is not None:
            raise ValueError("curve: only for a SweepResult; an adaptive result's curve is result.curves[i]")
        metric, mode = _adaptive_mode(result, metric, mode)
        trials = _adaptive_trials(optuna, result, metric)
    elif hasattr(result, "axes") and hasattr(result, "coords"):
        metric, mode = _sweep_metric(result, metric, mode)
        trials = _sweep_trials(optuna, result, metric, curve)
    else:
        raise ValueError(f"result: expected a SweepResult or an AdaptiveResult, got {type(result).__name__}")
    study = open_study(storage, study_name, mode)
    study.add_trials(trials)
    return study
