"""Adaptive budgets inside compiled calls: early stopping with lane refill, successive halving, Hyperband, PBT.

Every search trains the trials of a space with a :class:`~jaxnn.sweeps.Trainable` in segments of compiled,
vmapped steps (:mod:`~jaxnn.sweeps.lanes`); between segments the host ranks, stops, copies and refills on
the (lanes,) metric arrays only (:mod:`~jaxnn.sweeps.driver`).  A survivor continues from its state, so a
trial's metric after rungs 1..k equals training it once for the same total steps.

* :func:`run` -- every trial to ``steps``, each stopping on its own (``early_stopping=patience(...)``);
* :func:`successive_halving` -- rungs of ``min_steps * eta**k`` steps, the top ``1/eta`` continue
  (Jamieson & Talwalkar, AISTATS 2016);
* :func:`hyperband` -- Li et al.'s brackets of successive halving (JMLR 2018);
* :func:`pbt` -- population-based training (Jaderberg et al., 2017): every ``interval`` steps the bottom
  ``quantile`` copy a top member's state and perturb its hyperparameters.

Ranking: by ``metric`` (``mode`` "max" or "min"); diverged and invalid trials rank last; ties go to the
lower trial index.  Trial i's key is ``jax.random.fold_in(key, i)``; a random or Sobol space is sampled
from ``key`` as in :func:`jaxnn.sweeps.sweep`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnn import validate
from jaxnn.sweeps import chunking
from jaxnn.sweeps import status as st
from jaxnn.sweeps.distributed import init_distributed, is_lead
from jaxnn.sweeps.driver import Driver, Trials
from jaxnn.sweeps.executor import replicate
from jaxnn.sweeps.lanes import Pool, Spec
from jaxnn.sweeps.provenance import code_hash, versions
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.spaces import as_space
from jaxnn.trainable import Trainable

__all__ = ["run", "successive_halving", "hyperband", "pbt", "patience", "Patience", "AdaptiveResult",
           "hyperband_brackets", "rank"]


# --- ranking and early stopping ------------------------------------------------------------------------------

class Patience(NamedTuple):
    """Early stopping: stop a trial once ``metric`` has not improved by more than ``min_delta`` for
    ``patience`` evaluations (segments) in a row.  See :func:`patience`."""

    metric: str
    patience: int
    mode: str
    min_delta: float

    def __call__(self, trials: Trials, i: int) -> bool:
        vals = np.asarray([c[1][self.metric] for c in trials.curve[i]], np.float64)
        if len(vals) <= self.patience:
            return False
        sign = 1.0 if self.mode == "max" else -1.0
        best_before = np.max(sign * vals[:-self.patience])
        return not np.any(sign * vals[-self.patience:] > best_before + self.min_delta)


def _mode(metric: str, mode: Optional[str]) -> str:
    if mode is None:
        mode = "max" if any(w in metric for w in ("acc", "score", "r2")) else "min"
    if mode not in ("max", "min"):
        raise ValueError(f"mode: expected 'max' or 'min', got {mode!r}")
    return mode


def patience(metric: str, patience: int, *, mode: Optional[str] = None, min_delta: float = 0.0) -> Patience:
    """Stop a trial when ``metric`` stopped improving for ``patience`` segments.  ``mode``: "min" or "max";
    default "max" for names with "acc", "score" or "r2" in them, else "min"."""
    if not isinstance(metric, str):
        raise ValueError(f"metric: expected the name of a metric of evaluate, got {metric!r}")
    patience = validate.check_int("patience", patience, minimum=1)
    validate.check_scalar("min_delta", min_delta, nonnegative=True)
    return Patience(metric, patience, _mode(metric, mode), float(min_delta))


# --- the result ----------------------------------------------------------------------------------------------

class AdaptiveResult(NamedTuple):
    """What an adaptive search returns.

    Attributes:
      trials: ``{name: (n,) values}``: every trial's hyperparameters as sampled (PBT: as at the start).
      keys: (n, ...) raw key data of every trial's key.
      status: (n,) int8 (:mod:`jaxnn.sweeps.status`) of every trial's last evaluation.
      curves: ``curves[i] = [(steps, {metric: value}), ...]``: trial i's every evaluation, in order.
      rungs: ``[{"steps", "trials", "metric"(, "bracket")}, ...]``: each rung's budget, the trials in it
        and their metric there, in order (successive halving, Hyperband); PBT: one per interval.
      lineage: PBT: ``[{"step", "member", "parent", "hp": {name: value}}, ...]`` (who copied whom, and the
        member's new hyperparameters); ``schedules``: ``{name: (intervals + 1, population)}``.
      final: the trials ``best()`` chooses from (the last rung's; every trial for ``run``; every member).
      metric, mode: what was ranked.  meta: lane steps, utilization, compile and run time, devices, ...
      state: the final state of the best trial (host arrays; e.g. ``state.params`` of :func:`jaxnn.trainable`),
        or None (``run``, whose finished trials free their lanes: retrain ``best()``'s hyperparameters and key).
    """

    trials: dict
    keys: np.ndarray
    key_impl: object
    status: np.ndarray
    curves: list
    rungs: list
    lineage: list
    schedules: dict
    final: list
    metric: str
    mode: str
    meta: dict
    state: object = None

    def value(self, i: int, name: Optional[str] = None) -> float:
        """Trial i's last value of ``name`` (default: the ranked metric)."""
        c = self.curves[i]
        return c[-1][1][name or self.metric] if c else float("nan")

    def best(self) -> dict:
        """The best trial of ``final``: ``{"trial", "key", <hyperparameters>, <metric>, "steps"}``."""
        final = np.asarray(self.final)
        order = rank([self.value(i) for i in final], self.status[final], self.mode)
        i = int(final[order[0]])
        kd = jnp.asarray(self.keys[i])
        key = kd if self.key_impl is None else jax.random.wrap_key_data(kd, impl=self.key_impl)
        hp = {k: float(self.schedules[k][-1, i]) if k in self.schedules else float(self.trials[k][i])
              for k in self.trials}
        return {"trial": i, "key": key, **hp, self.metric: self.value(i), "steps": self.curves[i][-1][0]}


# --- setup, shared by every search --------------------------------------------------------------------------

def _check_trainable(trainable):
    if not (isinstance(trainable, Trainable) or all(callable(getattr(trainable, a, None))
                                                    for a in ("init", "advance", "evaluate"))):
        raise ValueError(f"trainable: expected a jaxnn.sweeps.Trainable (init, advance, evaluate), e.g. "
                         f"jaxnn.trainable([64, 100, 10]), got {trainable!r:.120}")


def _dtype(col):
    return np.int32 if np.asarray(col).dtype.kind in "iub" else jnp.result_type(float)


class _Setup(NamedTuple):
    design: object
    hp: dict
    kd: np.ndarray
    impl: object
    spec: Spec
    mesh: Mesh
    data: object


def _design(space, key, distributed):
    """The space's trials (resolved once, from the checked key), after joining a multi-process run."""
    init_distributed(*distributed)
    validate.check_key("key", key)
    design = as_space(space).resolve(key)
    if design.static:
        raise ValueError(f"space: static hyperparameters {list(design.static)} change the trainable's structure; "
                         "an adaptive search trains one trainable: build one per structure")
    return design


def _setup(trainable, design, key, data, metric, devices, rule_metric=None) -> _Setup:
    _check_trainable(trainable)
    impl = jax.random.key_impl(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else None
    declared = getattr(trainable, "hyperparameters", None)
    names = None if declared is None else set(declared)
    if names is not None and set(design.values) - names:
        raise ValueError(f"space: hyperparameters {sorted(set(design.values) - names)} are not the trainable's; "
                         f"it takes {sorted(names)}")
    hp = {k: np.asarray(v).astype(_dtype(v)) for k, v in design.values.items()}
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(design.n, dtype=jnp.uint32))
    kd = np.asarray(jax.random.key_data(keys) if impl is not None else keys)
    k0 = jax.random.wrap_key_data(kd[0], impl=impl) if impl is not None else kd[0]
    h0 = {k: jnp.asarray(v[0]) for k, v in hp.items()}
    try:
        state = jax.eval_shape(lambda k, h: trainable.init(k, data, **h), k0, h0)
        out = jax.eval_shape(lambda s, h: trainable.evaluate(s, data, **h), state, h0)
    except TypeError as e:
        raise ValueError(f"trainable: init(key, data, **hp) / evaluate(state, data, **hp) could not be traced with "
                         f"the space's hyperparameters {sorted(hp)}: {e}") from e
    if not isinstance(out, dict) or any(np.shape(v) != () for v in out.values()):
        raise ValueError(f"trainable: evaluate must return a dict of scalars, got {out!r:.200}")
    keys = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(state)[0]
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    if keys:
        raise ValueError(f"trainable: init's state holds typed PRNG keys at {keys}; store jax.random.key_data(key) "
                         "(and wrap_key_data it where used) so that states can be banked and checkpointed")
    spec = Spec(state, tuple(out))
    metric_names = [k for k in out if k not in ("diverged_at", "invalid")]
    for arg, name in (("metric", metric), ("early_stopping", rule_metric)):
        if name is not None and name not in metric_names:
            raise ValueError(f"{arg}: {'metric ' if arg != 'metric' else ''}{name!r} is not a metric of evaluate; "
                             f"it returns {metric_names}")
    devs = list(jax.devices() if devices is None else devices)
    return _Setup(design, hp, kd, impl, spec, Mesh(np.array(devs), ("runs",)), data)


def _fitted_width(w_max: int, n_dev: int, work) -> int:
    """The width (a multiple of n_dev in [w_max / 2, w_max]: no more than twice the calls) that pays the
    fewest lane-steps for ``work``, a list of (trials, steps each) phases run in waves of that width; ties
    to the wider."""
    def paid(w):
        return sum(-(-n // w) * w * steps for n, steps in work)
    lo = -(-max(n_dev, w_max // 2) // n_dev) * n_dev
    return min(range(lo, w_max + 1, n_dev), key=lambda w: (paid(w), -w))


def _advance_jaxpr(s: _Setup, trainable, segment):
    """The closed jaxpr of one trial's ``advance`` by ``segment`` steps (traced abstractly, no compute)."""
    h0 = {k: jax.ShapeDtypeStruct((), v.dtype) for k, v in s.hp.items()}
    return jax.make_jaxpr(lambda st_, h: trainable.advance(st_, s.data, segment, **h))(s.spec.state, h0)


def _width(s: _Setup, closed, n_max, lanes, work=None) -> int:
    """``lanes`` (rounded up to the device count), or the working set's chunk size (as ``sweep``'s) of the
    segment's jaxpr ``closed``, narrowed to fit the schedule's phases ``work`` when given."""
    n_dev = s.mesh.devices.size
    if lanes is not None:
        lanes = validate.check_int("lanes", lanes, minimum=1)
        return -(-lanes // n_dev) * n_dev
    ws = chunking.working_set_bytes(closed.jaxpr)
    dev = s.mesh.devices.flat[0]
    r = chunking.runs_per_device(ws, ws, n_max, n_dev, chunking.default_budget(dev), dev.platform)
    w = chunking.balanced(r, n_max, n_dev)
    return w if not work else _fitted_width(w, n_dev, work)


def _fingerprint(kind, args, s: _Setup, closed, segment, W) -> str:
    ident = {"kind": kind, "args": args, "space": s.design.describe(), "key": np.asarray(s.kd[0]).tolist(),
             "code": code_hash(closed, s.data), "lanes": W, "segment": segment, "jaxnn": versions()["jaxnn"]}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def _bar(progress, total, desc):
    if not ((sys.stderr.isatty() if progress is None else bool(progress)) and is_lead()):
        return None
    from jaxnn.datasets import require
    return require("tqdm").tqdm(total=total, unit="lane-step", desc=desc, file=sys.stderr)


class _Search(NamedTuple):
    setup: _Setup
    driver: Driver
    trials: Trials
    pool: Pool
    t0: float


def _open(kind, args, trainable, design, key, data, metric, *, segment, slots, n_max, lanes, out_dir,
          checkpoint_s, progress, total, devices, mode, hints=(), work=None, rule_metric=None) -> _Search:
    s = _setup(trainable, design, key, data, metric, devices, rule_metric)
    closed = _advance_jaxpr(s, trainable, segment) if lanes is None or out_dir is not None else None
    W = _width(s, closed, n_max, lanes, work)
    fp = None if out_dir is None else _fingerprint(kind, args, s, closed, segment, W)
    pool = Pool(trainable, replicate(data, s.mesh), s.spec, tuple(s.hp), {k: v.dtype for k, v in s.hp.items()},
                s.mesh, W, W if slots is None else slots, segment, s.impl, s.kd.shape[1:], hints)
    trials = Trials(s.design.n, s.hp)
    if checkpoint_s is not None:
        validate.check_scalar("checkpoint_s", checkpoint_s, nonnegative=True)
    driver = Driver(pool, trials, s.kd, s.spec.metrics, out_dir=None if out_dir is None else os.fspath(out_dir),
                    fingerprint=fp, checkpoint_s=30.0 if checkpoint_s is None else float(checkpoint_s),
                    bar=_bar(progress, total, kind), ranked=(metric, mode))
    return _Search(s, driver, trials, pool, time.perf_counter())


def _finish(search: _Search, *, metric, mode, rungs, final, lineage=(), schedules=None, extra=None) -> AdaptiveResult:
    d, tr = search.driver, search.trials
    d.checkpoint(force=True)
    state = None
    final_ok = [i for i in final if tr.slot[i] >= 0]
    if final_ok:  # the best trial's state, while its slot still holds it
        order = rank([tr.last(i, metric) for i in final_ok], tr.status[final_ok], mode)
        slot = int(tr.slot[final_ok[order[0]]])
        state = search.pool.host_state(slot)
    if d.bar is not None:
        d.bar.close()
    run_s = time.perf_counter() - search.t0
    devs = list(search.setup.mesh.devices.flat)
    meta = {"lane_steps_paid": d.paid, "lane_steps_useful": d.useful,
            "lane_utilization": d.useful / d.paid if d.paid else None, "lanes": search.pool.W,
            "segment": search.pool.segment, "calls": d.calls, "compile_s": search.pool.compile_s,
            "run_s": run_s, "devices": len(devs), "processes": jax.process_count(), "platform": devs[0].platform,
            "n_trials": tr.n, "n_started": int(tr.started.sum()),
            "n_diverged": int((tr.status == st.DIVERGED).sum()), "n_invalid": int((tr.status == st.INVALID).sum()),
            "jax": versions()["jax"], "jaxnn": versions()["jaxnn"], **(extra or {})}
    return AdaptiveResult({k: np.asarray(v) for k, v in search.setup.design.values.items()}, search.setup.kd,
                          search.setup.impl, tr.status.copy(), tr.curve, list(rungs), list(lineage),
                          dict(schedules or {}), [int(i) for i in final], metric, mode, meta, state)


def _common_checks(metric, mode, eta=None, min_steps=None, max_steps=None):
    if not isinstance(metric, str):
        raise ValueError(f"metric: expected the name of a metric of evaluate, got {metric!r}")
    mode = _mode(metric, mode)
    if eta is not None:
        if isinstance(eta, bool) or not isinstance(eta, (int, np.integer)) or eta < 2:
            raise ValueError(f"eta: expected an integer >= 2 (the fraction 1/eta survives each rung), got {eta!r}")
        min_steps = validate.check_int("min_steps", min_steps, minimum=1)
        max_steps = validate.check_int("max_steps", max_steps, minimum=1)
        if min_steps > max_steps:
            raise ValueError(f"min_steps: expected at most max_steps={max_steps}, got {min_steps}")
    return mode, min_steps, max_steps


# --- successive halving and Hyperband -----------------------------------------------------------------------

def _rungs(n, r0, eta, max_steps):
    """[(trials in rung k, its steps)] of one successive-halving bracket: n_k = floor(n / eta^k)."""
    out, k = [], 0
    while True:
        steps = r0 * eta ** k
        if steps > max_steps or (k and n // eta ** k < 1):
            break
        out.append((max(1, n // eta ** k), steps))
        k += 1
    return out


class _Bracket:
    """One successive-halving bracket over ``trials`` (rung budgets from :func:`_rungs`), advanced by the
    driver's ``on_done``: when the last trial of a rung finishes, the rung is ranked and the survivors'
    next rung is returned as new work items."""

    def __init__(self, search, trials, r0, eta, max_steps, mode, metric, index=None):
        self.search, self.mode, self.metric, self.index = search, mode, metric, index
        self.plan = _rungs(len(trials), r0, eta, max_steps)
        self.k, self.alive, self.rungs, self.final = 0, list(trials), [], []
        self.pending = set(self.alive)

    def items(self):
        return [(i, self.plan[self.k][1]) for i in self.alive]

    def done(self, i):
        tr, d = self.search.trials, self.search.driver
        self.pending.discard(i)
        if self.pending:
            return []
        vals = [tr.last(j, self.metric) for j in self.alive]
        rec = {"steps": self.plan[self.k][1], "trials": list(self.alive), "metric": vals}
        self.rungs.append(rec if self.index is None else {**rec, "bracket": self.index})
        if self.k + 1 == len(self.plan):  # the last rung: its trials keep their slots (best()'s state)
            self.final = list(self.alive)
            return []
        order = rank(vals, tr.status[self.alive], self.mode)
        keep = sorted(self.alive[j] for j in order[:self.plan[self.k + 1][0]])
        d.release(sorted(set(self.alive) - set(keep)))
        self.k, self.alive, self.pending = self.k + 1, keep, set(keep)
        return self.items()


def _halving(search, brackets):
    """Run the brackets concurrently through the lanes (their rungs share lanes); returns (rungs, final)."""
    owner = {i: b for b in brackets for i in b.alive}
    search.driver.drive([it for b in brackets for it in b.items()], on_done=lambda i: owner[i].done(i))
    rungs = sorted((r for b in brackets for r in b.rungs), key=lambda r: (r.get("bracket", 0), r["steps"]))
    return rungs, [i for b in brackets for i in b.final]


def successive_halving(trainable, space, *, key, data, metric: str, mode: Optional[str] = None, min_steps: int,
                       max_steps: int, eta: int = 3, lanes: Optional[int] = None, out_dir=None,
                       checkpoint_s: Optional[float] = None, progress=None, devices=None,
                       coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Successive halving over every trial of ``space``: rung k trains the survivors to ``min_steps * eta**k``
    steps (continuing from their states), then keeps the best ``floor(n / eta**(k+1))`` by ``metric``.

    Args:
      trainable: a :class:`~jaxnn.sweeps.Trainable` (e.g. :func:`jaxnn.trainable`).
      space: a search space (``sweeps.random``, ``sobol``, ``grid``, ``table``; traced hyperparameters only).
      key: PRNG key: trial i's key is ``fold_in(key, i)``; sampled spaces are drawn from it.
      data: the pytree the trainable's functions take (replicated on every device).
      metric, mode: what ranks the trials (a name ``evaluate`` returns; "max" or "min").
      min_steps, max_steps, eta: the rung budgets ``min_steps * eta**k <= max_steps`` and the cut.
      lanes: trials advanced per compiled call (default: from the working set, as ``sweep``'s chunk size;
        a multiple of the device count).  Results do not depend on it beyond rounding.
      out_dir: checkpoint there at segment boundaries (every ``checkpoint_s`` seconds, default 30, and at
        the end); the same call resumes (after ``kill -9`` too) to the same result.
      progress: a tqdm bar over the lane-steps (None: when stderr is a terminal).
      devices, coordinator_address, num_processes, process_id: as :func:`jaxnn.sweeps.sweep`.

    Returns:
      An :class:`AdaptiveResult` (``rungs``, ``best()``, ``meta["lane_utilization"]``, ...).
    """
    mode, min_steps, max_steps = _common_checks(metric, mode, eta, min_steps, max_steps)
    design = _design(space, key, (coordinator_address, num_processes, process_id))
    n = design.n
    plan = _rungs(n, min_steps, eta, max_steps)
    work = _work(plan)
    search = _open("successive_halving", dict(metric=metric, mode=mode, min_steps=min_steps, max_steps=max_steps,
                                              eta=eta), trainable, design, key, data, metric,
                   segment=_segment(work), slots=n, n_max=n, lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s,
                   hints=[n_k for n_k, _ in plan], work=work, progress=progress,
                   total=sum(n_k * d for n_k, d in work), devices=devices, mode=mode)
    rungs, final = _halving(search, [_Bracket(search, range(n), min_steps, eta, max_steps, mode, metric)])
    return _finish(search, metric=metric, mode=mode, rungs=rungs, final=final, extra={"eta": eta})


def _work(plan) -> list:
    """[(trials, steps each)] of a bracket's rungs: rung k trains n_k trials from the last budget to its own."""
    return [(n_k, s - (plan[k - 1][1] if k else 0)) for k, (n_k, s) in enumerate(plan)]


def _segment(work) -> int:
    """The segment length: the gcd of the steps each rung adds (min_steps for budgets min_steps * eta**k)."""
    return math.gcd(*[d for _, d in work])


def hyperband_brackets(min_steps: int, max_steps: int, eta: int) -> list:
    """Li et al.'s brackets: ``[(n_s, r_s), ...]`` for s = s_max .. 0, with R = max_steps / min_steps,
    s_max = floor(log_eta R), n_s = ceil((s_max + 1) eta^s / (s + 1)) trials starting at r_s = max_steps eta^-s
    steps (rounded down, at least min_steps)."""
    s_max = int(math.floor(math.log(max_steps / min_steps, eta) + 1e-9))
    return [(int(math.ceil((s_max + 1) * eta ** s / (s + 1))), max(min_steps, max_steps // eta ** s))
            for s in range(s_max, -1, -1)]


def hyperband(trainable, space, *, key, data, metric: str, mode: Optional[str] = None, min_steps: int,
              max_steps: int, eta: int = 3, iterations: Optional[int] = None, lanes: Optional[int] = None,
              out_dir=None, checkpoint_s: Optional[float] = None, progress=None, devices=None,
              coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Hyperband (Li et al., JMLR 2018): successive halving in the brackets of :func:`hyperband_brackets`,
    from the most aggressive (many trials, ``min_steps``) to plain training (few trials, ``max_steps``).

    One iteration of the brackets needs ``sum(n_s)`` trials (49 for min_steps 9, max_steps 243, eta 3);
    ``iterations`` repeats them (the paper's outer loop) on the next trials of the space, by default as many
    whole iterations as the space holds (243 trials: 4 iterations, 196 trials; the rest unused).  Every
    bracket of every iteration is independent, so they all share the lanes at once.  The brackets take the
    space's trials in order; a space too small for the iterations is an error.  ``best()`` chooses among the
    trials that reached ``max_steps`` (every bracket's last rung).  Other arguments as
    :func:`successive_halving`; each rung record has its ``"bracket"`` (iteration * len(brackets) + s_max - s).
    """
    mode, min_steps, max_steps = _common_checks(metric, mode, eta, min_steps, max_steps)
    brackets = hyperband_brackets(min_steps, max_steps, eta)
    need = sum(n for n, _ in brackets)
    design = _design(space, key, (coordinator_address, num_processes, process_id))
    n = design.n
    if iterations is None:
        iterations = max(1, n // need)
    iterations = validate.check_int("iterations", iterations, minimum=1)
    if n < need * iterations:
        raise ValueError(f"space: Hyperband with min_steps={min_steps}, max_steps={max_steps}, eta={eta} needs "
                         f"{need} trials per iteration ({[b[0] for b in brackets]} per bracket), "
                         f"{need * iterations} for {iterations}; the space has {n}")
    work = [(n_k * iterations, d) for n_s, r_s in brackets for n_k, d in _work(_rungs(n_s, r_s, eta, max_steps))]
    args = dict(metric=metric, mode=mode, min_steps=min_steps, max_steps=max_steps, eta=eta, iterations=iterations)
    search = _open("hyperband", args, trainable, design, key, data, metric, segment=_segment(work),
                   slots=need * iterations, n_max=need * iterations, lanes=lanes, out_dir=out_dir, work=work,
                   checkpoint_s=checkpoint_s, progress=progress, total=sum(n_k * d for n_k, d in work),
                   devices=devices, mode=mode)
    sizes = [n_s for n_s, _ in brackets] * iterations
    starts = np.cumsum([0] + sizes)
    rungs, final = _halving(search, [_Bracket(search, range(a, a + n_s), r_s, eta, max_steps, mode, metric, b)
                                     for b, ((n_s, r_s), a) in enumerate(zip(brackets * iterations, starts))])
    return _finish(search, metric=metric, mode=mode, rungs=rungs, final=final,
                   extra={"eta": eta, "brackets": [list(b) for b in brackets], "iterations": iterations,
                          "n_trials_used": need * iterations})


# --- run: every trial to `steps`, early stopping on its own ------------------------------------------------

def run(trainable, space, *, key, data, steps: int, segment: int, early_stopping: Optional[Callable] = None,
        metric: Optional[str] = None, mode: Optional[str] = None, lanes: Optional[int] = None, out_dir=None,
        checkpoint_s: Optional[float] = None, progress=None, devices=None,
        coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Train every trial for ``steps`` steps in segments of ``segment``; a trial stops on its own when
    ``early_stopping`` (e.g. :func:`patience`) says so, diverges or is invalid, and the next pending trial
    takes its lane at the next segment boundary (continuous batching).

    ``metric`` / ``mode`` rank ``best()`` (default: the early-stopping rule's); the trials are compared at
    their last evaluation.  Other arguments as :func:`successive_halving`.
    """
    steps = validate.check_int("steps", steps, minimum=1)
    segment = validate.check_int("segment", segment, minimum=1)
    if steps % segment:
        raise ValueError(f"segment: expected a divisor of steps={steps}, got {segment}")
    if early_stopping is not None and not callable(early_stopping):
        raise ValueError(f"early_stopping: expected a rule such as sweeps.patience('val_loss', 5), got "
                         f"{early_stopping!r}")
    metric = metric or getattr(early_stopping, "metric", None)
    if metric is None:
        raise ValueError("metric: give the metric that ranks the trials (or an early_stopping rule with one)")
    mode = _mode(metric, mode if mode is not None else getattr(early_stopping, "mode", None))
    design = _design(space, key, (coordinator_address, num_processes, process_id))
    n = design.n
    search = _open("run", dict(metric=metric, mode=mode, steps=steps, early_stopping=repr(early_stopping)),
                   trainable, design, key, data, metric, segment=segment, slots=None, n_max=n, lanes=lanes,
                   out_dir=out_dir, checkpoint_s=checkpoint_s, progress=progress, total=n * steps, devices=devices,
                   mode=mode, rule_metric=getattr(early_stopping, "metric", None))
    search.driver.drive([(i, steps) for i in range(n)], rule=early_stopping, release_done=True)
    stopped = [i for i in range(n) if search.trials.steps[i] < steps and search.trials.status[i] == st.OK]
    return _finish(search, metric=metric, mode=mode, rungs=[], final=range(n),
                   extra={"n_stopped_early": len(stopped)})


# --- population-based training --------------------------------------------------------------------------------

def pbt(trainable, space, *, key, data, population: int, interval: int, steps: int, metric: str,
        mode: Optional[str] = None, quantile: float = 0.25, perturb=(0.8, 1.2), resample: float = 0.25,
        explore=None, lanes: Optional[int] = None, out_dir=None, checkpoint_s: Optional[float] = None, progress=None,
        devices=None, coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Population-based training (Jaderberg et al., 2017) of the first ``population`` trials of ``space``.

    Every ``interval`` steps the members are ranked by ``metric``; each of the bottom ``quantile`` copies the
    params and optimizer state of a member of the top ``quantile`` (exploit; drawn uniformly) and then
    explores: each traced hyperparameter is, with probability ``resample``, drawn again from the space's
    distribution, else multiplied by one of ``perturb`` (drawn uniformly; integers rounded); ``explore``
    names the hyperparameters explored (default: every one of the space; leave out those only ``init`` reads,
    such as ``scale``, which a copy carries along unchanged in effect).  Diverged and
    invalid members rank last (and so are replaced).  The host's draws come from ``key`` and the interval
    index, so a rerun repeats them.

    Returns:
      An :class:`AdaptiveResult` with ``lineage`` (every copy) and ``schedules`` (each hyperparameter of
      every member over the intervals); ``rungs`` holds each interval's metrics; ``best()`` ranks the
      members at the end.
    """
    mode, _, _ = _common_checks(metric, mode)
    population = validate.check_int("population", population, minimum=2)
    interval = validate.check_int("interval", interval, minimum=1)
    steps = validate.check_int("steps", steps, minimum=1)
    if steps % interval:
        raise ValueError(f"interval: expected a divisor of steps={steps}, got {interval}")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile <= 0.5:
        raise ValueError(f"quantile: expected a fraction in (0, 0.5], got {quantile!r}")
    validate.check_scalar("resample", resample, nonnegative=True, upper=1.0)
    perturb = tuple(float(validate.check_scalar("perturb", p, positive=True)) for p in perturb)
    design = _design(space, key, (coordinator_address, num_processes, process_id))
    if design.n < population:
        raise ValueError(f"population: expected at most the space's {design.n} trials, got {population}")
    n_cut = max(1, int(math.floor(quantile * population)))
    explore = list(design.dists) if explore is None else list(explore)
    if not explore or set(explore) - set(design.dists):
        raise ValueError(f"explore: expected names of the space's hyperparameters {sorted(design.dists)}, "
                         f"got {explore}")
    args = dict(metric=metric, mode=mode, population=population, interval=interval, steps=steps, quantile=quantile,
                perturb=perturb, resample=resample, explore=explore)
    search = _open("pbt", args, trainable, design, key, data, metric, segment=interval, slots=2 * population,
                   n_max=population, lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s, progress=progress,
                   total=population * steps, devices=devices, mode=mode)
    tr, d = search.trials, search.driver
    members = list(range(population))
    schedules = {k: [tr.hp[k][:population].astype(np.float64).copy()] for k in tr.hp}
    lineage, rungs, parents = [], [], {i: None for i in members}  # None: continue in place (first interval)
    words = np.asarray(jax.random.key_data(key) if search.setup.impl is not None else key, np.uint32).reshape(-1)
    for t in range(interval, steps + 1, interval):
        d.drive([(i, t, parents[i]) for i in members])
        vals = [tr.last(i, metric) for i in members]
        rungs.append({"steps": t, "trials": list(members), "metric": vals})
        parents = {i: i for i in members}
        if t == steps:
            break
        order = rank(vals, tr.status[members], mode)
        top, bottom = order[:n_cut], order[-n_cut:]
        rng = np.random.default_rng(np.random.SeedSequence([int(w) for w in words] + [0x706274, t]))
        for j in bottom:
            src = int(top[rng.integers(len(top))])
            parents[j] = src
            tr.status[j] = tr.status[src]
            for k in explore:
                dist = design.dists[k]
                if rng.random() < resample:
                    v = dist.ppf(rng.random(1))[0]
                else:
                    v = tr.hp[k][src] * perturb[rng.integers(len(perturb))]
                tr.hp[k][j] = np.asarray(np.round(v) if tr.hp[k].dtype.kind in "iu" else v, tr.hp[k].dtype)
            lineage.append({"step": t, "member": int(j), "parent": src,
                            "hp": {k: float(tr.hp[k][j]) for k in tr.hp}})
        for k in tr.hp:
            schedules[k].append(tr.hp[k][:population].astype(np.float64).copy())
    return _finish(search, metric=metric, mode=mode, rungs=rungs, final=members, lineage=lineage,
                   schedules={k: np.stack(v) for k, v in schedules.items()},
                   extra={"population": population, "interval": interval, "quantile": quantile})
