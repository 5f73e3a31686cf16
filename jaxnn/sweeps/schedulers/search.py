"""Model-based search at one budget: :func:`search` proposes ``batch`` trials at a time from a sampler and
trains each batch as compiled lanes (a :class:`~jaxnn.sweeps.Trainable`) or as one :func:`jaxnn.sweeps.sweep`
call (a plain ``fn(key, **hp)``), so every batch is proposed from everything the earlier ones observed.
"""

from __future__ import annotations

import os
import time
from typing import Mapping, Optional

import numpy as np

from jaxnn import validate
from jaxnn.sweeps import status as st
from jaxnn.sweeps.directions import check_directions, resolve
from jaxnn.sweeps.distributed import init_distributed, is_lead
from jaxnn.sweeps.driver import Trials
from jaxnn.sweeps.engine import sweep
from jaxnn.sweeps.executor import mesh_of
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.results import SweepResult
from jaxnn.sweeps.samplers.base import param_space
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.schedulers.common import check_budgets, check_with, finish, open_search
from jaxnn.sweeps.schedulers.proposals import (
    Proposer,
    attach,
    done,
    placeholder_design,
    prepare,
    sampler_args,
    together,
    warn_blind,
)
from jaxnn.sweeps.spaces import static, table
from jaxnn.trainable import Trainable

__all__ = ["search"]

ROUNDS = 4  # a sampler's default batches per search, at least (batch=None)


def _is_trainable(obj) -> bool:
    return isinstance(obj, Trainable) or all(callable(getattr(obj, a, None)) for a in ("init", "advance", "evaluate"))


def search(fn_or_trainable, space, *, trials: int, key, metric: str, mode: Optional[str] = None,
           batch: Optional[int] = None, steps: Optional[int] = None, sampler=None, data=None,
           segment: Optional[int] = None, directions: Optional[Mapping[str, str]] = None, out_dir=None,
           checkpoint_s: Optional[float] = None, progress=None, devices=None, coordinator_address=None,
           num_processes=None, process_id=None):
    """Propose ``trials`` trials in batches of ``batch`` from ``sampler`` and train each batch at one budget.

    Args:
      fn_or_trainable: a :class:`~jaxnn.sweeps.Trainable` (trained ``steps`` steps in lanes of ``batch``;
        returns an :class:`~jaxnn.sweeps.AdaptiveResult`), or ``fn(key, [data,] **hp) -> pytree`` as
        :func:`jaxnn.sweeps.sweep` takes (every trial gets ``key``, as there; static hyperparameters
        compile once per value; returns a :class:`~jaxnn.sweeps.SweepResult` over all trials).
      space: ``{name: distribution}``; a pre-sampled design (``sweeps.random(n, ...)``) is an error.
      trials: how many trials in all; batch: per proposal (default: min(trials, 32); with a sampler
        min(ceil(trials / 4), 32), so that it proposes in at least 4 rounds: a batch of every trial would be a
        random search, and warns).
      metric, mode: what the sampler's model learns from (mode: given, else declared: the trainable's
        ``directions`` or ``directions=`` for a function).
      sampler: None (random), :func:`jaxnn.sweeps.tpe`, :func:`~jaxnn.sweeps.optuna_sampler`, ...
      steps: the trainable's budget (required with a trainable); segment: its evaluation interval
        (default ``steps``).
      out_dir: resumable (after ``kill -9``: the same result): a trainable checkpoints as the adaptive
        searches do; a function writes each batch's sweep to ``out_dir/batch_NNNN``.

    Other arguments as :func:`jaxnn.sweeps.sweep`.

    ``meta["propose_s"]`` is the host time spent proposing; ``meta["lane_utilization"]`` the useful
    fraction of the lanes paid.
    """
    trials = validate.check_int("trials", trials, minimum=1)
    if batch is None:
        batch = min(together(trials, sampler, ROUNDS), 32)
    else:
        batch = validate.check_int("batch", batch, minimum=1)
        warn_blind(trials, batch, sampler, "batch")
    if _is_trainable(fn_or_trainable):
        return _search_trainable(fn_or_trainable, space, trials, batch, steps, segment, key, data, metric, mode,
                                 sampler, out_dir, checkpoint_s, progress, devices,
                                 (coordinator_address, num_processes, process_id))
    if not callable(fn_or_trainable):
        raise ValueError(f"fn_or_trainable: expected a Trainable or a function fn(key, **hp), got "
                         f"{fn_or_trainable!r:.120}")
    if steps is not None or segment is not None:
        raise ValueError("steps: only for a trainable (a function trains as far as it says); leave steps and "
                         "segment out")
    return _search_fn(fn_or_trainable, space, trials, batch, key, data, metric, mode, sampler, directions,
                      out_dir, progress, devices, (coordinator_address, num_processes, process_id))


def _search_trainable(trainable, space, n, batch, steps, segment, key, data, metric, mode, sampler, out_dir,
                      checkpoint_s, progress, devices, distributed):
    check_budgets(metric, mode)
    if steps is None:
        raise ValueError("steps: a trainable is trained for a budget of steps; give steps=...")
    steps = validate.check_int("steps", steps, minimum=1)
    segment = steps if segment is None else validate.check_int("segment", segment, minimum=1)
    if steps % segment:
        raise ValueError(f"segment: expected a divisor of steps={steps}, got {segment}")
    design, ps, sampler = prepare(space, check_sampler(sampler), n, key, distributed, out_dir)
    args = dict(trials=n, batch=batch, steps=steps, **sampler_args(sampler))
    n_dev = mesh_of(devices).size  # as the search's own mesh (a lone jax.Device is one)
    s = open_search("search", args, trainable, design, key, data, metric, segment=segment, slots=batch + n_dev,
                    n_max=n, lanes=batch, out_dir=out_dir, checkpoint_s=checkpoint_s, progress=progress,
                    total=n * steps, devices=devices, mode=mode, sampler=sampler)
    proposer = attach(s, ps, sampler, key, [steps], steps)
    nxt, best = iter(range(0, n, batch)), []

    def next_batch(free):  # a whole batch at a time, once every lane is free: proposed from all before it
        a = next(nxt, None) if free == s.pool.W else None
        return [] if a is None else [(i, steps) for i in range(a, min(n, a + batch))]

    def keep_best(i):  # the best finished trial keeps its slot (its state is the result's), the rest free theirs
        tr = s.trials
        order = rank([tr.last(j, metric) for j in best + [i]], tr.status[best + [i]], s.mode)
        s.driver.release([j for r, j in enumerate(best + [i]) if r != order[0]])
        best[:] = [(best + [i])[order[0]]]
        return []

    s.driver.drive([], on_done=keep_best, on_idle=next_batch)
    values, pmeta = done(proposer)
    return finish(s, rungs=[], final=range(n), values=values, extra={"batch": batch, "steps": steps, **pmeta})


def _batch_space(ps, values, rows):
    """A :func:`jaxnn.sweeps.table` of the trials ``rows`` (static columns as ``sweeps.static``)."""
    cols = {}
    for k, v in values.items():
        col = [x.item() if hasattr(x, "item") else x for x in np.asarray(v)[rows]]
        cols[k] = static(col) if k in ps.static else col
    return table(**cols)


def _fn_mode(metric, mode, directions):
    check_budgets(metric, mode)
    directions = check_directions(directions)
    return resolve(metric, mode, directions, declare=f"directions={{{metric!r}: 'max'}} (or 'min')"), directions


def _search_fn(fn, space, n, batch, key, data, metric, mode, sampler, directions, out_dir, progress, devices,
               distributed):
    ps, sampler = param_space(space), check_sampler(sampler)
    mode, directions = _fn_mode(metric, mode, directions)
    check_with(sampler, mode)
    init_distributed(*distributed)
    validate.check_key("key", key)
    trials = Trials(n, placeholder_design(ps, n).values)
    proposer = Proposer(sampler, ps, key, trials, [1], metric, mode, 1)
    t0, parts = time.perf_counter(), []
    for a in range(0, n, batch):
        rows = list(range(a, min(n, a + batch)))
        proposer(rows)
        sub = None if out_dir is None else os.path.join(os.fspath(out_dir), f"batch_{a // batch:04d}")
        res = sweep(fn, _batch_space(ps, trials.hp, rows), key=key, data=data, chunk_size=batch, progress=progress,
                    devices=devices, out_dir=sub, directions={**directions, metric: mode}, command="sweeps.search")
        if metric not in res.metrics or res[metric].shape[2:]:
            raise ValueError(f"metric: expected a scalar output of fn, got {metric!r}; fn returns {sorted(res.keys())}")
        _observe(trials, rows, res, metric)
        parts.append(res)
    values, pmeta = done(proposer)
    return _combined(parts, ps, values, n, metric, mode, directions, pmeta, time.perf_counter() - t0, out_dir)


def _observe(trials, rows, res, metric):
    """Each trial of a finished batch: one observation (budget 1) of the seed's ``metric`` and its status."""
    for j, i in enumerate(rows):
        trials.curve[i].append((1, {metric: float(res[metric][j, 0])}))
        trials.status[i], trials.steps[i], trials.started[i] = res.status[j, 0], 1, True


def _combined(parts, ps, values, n, metric, mode, directions, pmeta, run_s, out_dir) -> SweepResult:
    """One :class:`SweepResult` over every batch's trials (a ``trial`` axis, one seed)."""
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0].keys()}
    status = np.concatenate([p.status for p in parts])
    paid = sum(p.meta["chunk_size_padded"] * p.meta["n_chunks"] for p in parts)
    meta = {"n_trials": n, "n_batches": len(parts), "run_s": run_s, "lane_utilization": n / paid if paid else None,
            "compile_s": sum(p.meta["compile_s"] for p in parts), "n_diverged": int((status == st.DIVERGED).sum()),
            "n_invalid": int((status == st.INVALID).sum()), "devices": parts[0].meta["devices"],
            "processes": parts[0].meta["processes"], "metric": metric, "mode": mode, **pmeta}
    space = {"kind": "search", "params": ps.describe()["params"], "static": list(ps.static)}
    res = SweepResult(axes={"trial": np.arange(n)}, seeds=1, metrics=cat, diverged=status == st.DIVERGED, meta=meta,
                      coords={k: np.asarray(v) for k, v in values.items()}, status=status, space=space,
                      directions={**directions, metric: mode})
    if out_dir is not None and is_lead():
        res.save(out_dir)
    return res
