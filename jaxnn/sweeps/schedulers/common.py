"""What every adaptive search shares: the checks, the setup (trace once, no compute), the lane width, the
driver opened on a pool, and the :class:`~jaxnn.sweeps.schedulers.result.AdaptiveResult` at the end.

A search's ``mode`` is the caller's ``mode=`` or the direction its trainable declares for ``metric``
(:mod:`jaxnn.sweeps.directions`); nothing is inferred from the metric's name.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import sys
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxnn import validate
from jaxnn.sweeps import chunking
from jaxnn.sweeps import status as st
from jaxnn.sweeps.directions import check_directions, check_mode, resolve
from jaxnn.sweeps.distributed import init_distributed, is_lead
from jaxnn.sweeps.driver import Driver, Trials
from jaxnn.sweeps.executor import check_data, mesh_of, replicate
from jaxnn.sweeps.lanes import MIN_BLOCK, Pool, Spec, advance_jaxpr, blocks_paid, tail_block
from jaxnn.sweeps.provenance import code_hash, versions
from jaxnn.sweeps.schedulers.result import AdaptiveResult
from jaxnn.sweeps.spaces import as_space
from jaxnn.sweeps.structures import Pools, bound
from jaxnn.trainable import Trainable

__all__ = ["Search", "check_trainable", "declared", "design_of", "open_search", "finish", "check_budgets",
           "STATUS_NAMES"]

STATUS_NAMES = ("diverged_at", "invalid")


def check_trainable(trainable):
    """A :class:`~jaxnn.sweeps.Trainable` or any object with callable init / advance / evaluate."""
    if not (isinstance(trainable, Trainable) or all(callable(getattr(trainable, a, None))
                                                    for a in ("init", "advance", "evaluate"))):
        raise ValueError(f"trainable: expected a jaxnn.sweeps.Trainable (init, advance, evaluate), e.g. "
                         f"jaxnn.trainable([64, 100, 10]), got {trainable!r:.120}")


def declared(trainable) -> dict:
    """The trainable's declared ``{metric: "max" | "min"}`` (``{}`` if it declares none)."""
    return check_directions(getattr(trainable, "directions", None), "trainable.directions")


def _declare_hint(metric) -> str:
    return f"Trainable(init, advance, evaluate, directions={{{metric!r}: 'max'}}) (or 'min')"


def _dtype(col):
    return np.int32 if np.asarray(col).dtype.kind in "iub" else jnp.result_type(float)


class _Structure(NamedTuple):
    """The trials of one combination of static values: their trainable (those values fixed) and its state."""

    static: dict
    ids: np.ndarray
    trainable: object
    spec: Spec


class _Setup(NamedTuple):
    design: object
    hp: dict            # the traced hyperparameters' (n,) columns
    kd: np.ndarray
    impl: object
    mesh: Mesh
    data: object
    directions: dict
    structures: tuple   # of _Structure: one unless the space has static hyperparameters

    @property
    def spec(self) -> Spec:
        """The first structure's (every structure returns the same metrics)."""
        return self.structures[0].spec


def design_of(space, key, distributed):
    """The space's trials (resolved once, from the checked key), after joining a multi-process run."""
    init_distributed(*distributed)
    validate.check_key("key", key)
    return as_space(space).resolve(key)


def _groups(design) -> list:
    """``[(static values, trials)]``: the design's groups, or for a sampler's design (its structures are
    proposed trial by trial) every combination of the static values, each open to every trial."""
    if design.kind != "sampler" or not design.static:
        return design.groups()
    combos = itertools.product(*(design.dists[k].values for k in design.static))
    return [(dict(zip(design.static, c)), np.arange(design.n)) for c in combos]


@functools.partial(jax.jit, static_argnums=0)
def _started(fns, k, h, data):
    """One trial's state after ``init`` and its metrics (``fns``: the trainable's init and evaluate).  Only
    traced (``eval_shape``): a jitted function, so that JAX keeps the trace of a trainable, data shapes and
    hyperparameter dtypes a search has traced before (a search over several seeds traces once)."""
    state = fns[0](k, data, **h)
    return state, fns[1](state, data, **h)


def _trace(trainable, k0, h0, data, static=None):
    """(state, metrics) shapes of one trial's ``init`` and ``evaluate`` (traced abstractly, no compute)."""
    try:
        hash((trainable.init, trainable.advance, trainable.evaluate))
    except TypeError as e:
        raise ValueError(f"trainable: init, advance and evaluate must be hashable (functions, bound methods, "
                         f"partials of hashable values: a search finds its compiled programs by them): {e}") from e
    try:
        state, out = _started.eval_shape((trainable.init, trainable.evaluate), k0, h0, data)
    except TypeError as e:
        fixed = f" and the static values {static}" if static else ""
        raise ValueError(f"trainable: init(key, data, **hp) / evaluate(state, data, **hp) could not be traced with "
                         f"the space's traced hyperparameters {sorted(h0)}{fixed}: {e} (the search passes only the "
                         f"space's names, so the functions need Python defaults for the others; a hyperparameter "
                         f"that sets a shape or picks code, such as a width, must be sweeps.static([...]))") from e
    if not isinstance(out, dict) or any(np.shape(v) != () for v in out.values()):
        raise ValueError(f"trainable: evaluate must return a dict of scalars, got {out!r:.200}")
    keys = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(state)[0]
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    if keys:
        raise ValueError(f"trainable: init's state holds typed PRNG keys at {keys}; store jax.random.key_data(key) "
                         "(and wrap_key_data it where used) so that states can be banked and checkpointed")
    return state, out


def _check_metric(arg, name, returned, trainable, data):
    """``name`` must be a metric ``evaluate`` returned; a declared one that needs missing data says so."""
    if name is None or name in returned:
        return
    needs = [k for k in (getattr(trainable, "needs", None) or {}).get(name, ())
             if not (isinstance(data, dict) and k in data)]
    if needs:
        have = sorted(data) if isinstance(data, dict) else type(data).__name__
        missing = " and ".join(f"data[{k!r}]" for k in needs)
        raise ValueError(f"data: {arg} {name!r} is computed from {missing}, which data= lacks (it has {have}); "
                         f"add them (e.g. a held-out validation set) or use one of {returned}")
    raise ValueError(f"{arg}: {'metric ' if arg != 'metric' else ''}{name!r} is not a metric of evaluate; "
                     f"it returns {returned}")


@functools.partial(jax.jit, static_argnums=1)
def _trial_keys(key, n):
    """(n, ...) raw key data: trial i's key is ``fold_in(key, i)``."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(n, dtype=jnp.uint32))
    return jax.random.key_data(keys) if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key) else keys


def _setup(trainable, design, key, data, metric, devices, rule_metric=None) -> _Setup:
    check_trainable(trainable)
    check_data(data)
    impl = jax.random.key_impl(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else None
    names = getattr(trainable, "hyperparameters", None)
    if names is not None and set(design.values) - set(names):
        raise ValueError(f"space: hyperparameters {sorted(set(design.values) - set(names))} are not the "
                         f"trainable's; it takes {sorted(names)}")
    hp = {k: np.asarray(design.values[k]).astype(_dtype(design.values[k])) for k in design.traced}
    kd = np.asarray(_trial_keys(key, design.n))
    structures = _structures(trainable, design, hp, kd, impl, data)
    out = structures[0].spec.metrics
    returned = [k for k in out if k not in STATUS_NAMES]
    _check_metric("metric", metric, returned, trainable, data)
    _check_metric("early_stopping", rule_metric, returned, trainable, data)
    return _Setup(design, hp, kd, impl, mesh_of(devices), data, declared(trainable), structures)


def _structures(trainable, design, hp, kd, impl, data) -> tuple:
    """One :class:`_Structure` per combination of the design's static values, each traced at its first trial."""
    found = []
    for static, ids in _groups(design):
        tr = bound(trainable, static)
        i = int(ids[0])
        k0 = jax.random.wrap_key_data(kd[i], impl=impl) if impl is not None else kd[i]
        state, out = _trace(tr, k0, {k: jnp.asarray(v[i]) for k, v in hp.items()}, data, static)
        if found and tuple(out) != found[0].spec.metrics:
            raise ValueError(f"trainable: evaluate returns {list(out)} with static values {static} but "
                             f"{list(found[0].spec.metrics)} with {found[0].static}; every structure must return "
                             "the same metrics")
        spec = Spec(state, tuple(out), tuple(np.dtype(v.dtype) for v in out.values()))
        found.append(_Structure(static, np.asarray(ids), tr, spec))
    return tuple(found)


def _fitted_width(w_max: int, n_dev: int, work, platform: str) -> int:
    """The width (a multiple of n_dev in [w_max / 3, w_max]: no more than three times the calls; on a CPU at
    least ``MIN_BLOCK`` lanes per device, a whole block) that pays the fewest lane-steps for ``work``, a list of
    (trials, steps each) phases run in waves of that width (a last, partial wave computes only its lanes'
    blocks: :func:`jaxnn.sweeps.lanes.blocks_paid`); ties to the wider.  (Fewer lanes per device than a block
    would pay no fewer lane-steps for nothing: their vmaps run slower per lane, in more calls.)"""
    def paid(w):
        b = tail_block(w // n_dev, platform)
        return sum(((n // w) * w + (blocks_paid(n % w, w, n_dev, b) if n % w else 0)) * steps for n, steps in work)
    least = max(n_dev, w_max // 3, n_dev * MIN_BLOCK if platform == "cpu" else 0)
    lo = min(w_max, -(-least // n_dev) * n_dev)
    return min(range(lo, w_max + 1, n_dev), key=lambda w: (paid(w), -w))


def _advance_jaxpr(s: _Setup, structure: _Structure, segment):
    """The closed jaxpr of one trial's ``advance`` by ``segment`` steps (:func:`jaxnn.sweeps.lanes.advance_jaxpr`:
    traced abstractly, kept by JAX)."""
    return advance_jaxpr(structure.trainable.advance, structure.spec.state, {k: v.dtype for k, v in s.hp.items()},
                         s.data, segment)


def _width(s: _Setup, closed, n_max, lanes, work=None) -> int:
    """``lanes`` (rounded up to the device count), or the working set's chunk size (as ``sweep``'s) of the
    segment's jaxpr ``closed``, narrowed to fit the schedule's phases ``work`` when given."""
    n_dev = s.mesh.devices.size
    if lanes is not None:
        lanes = validate.check_int("lanes", lanes, minimum=1)
        return -(-lanes // n_dev) * n_dev
    ws = chunking.kept_working_set_bytes(closed.jaxpr)  # a jaxpr JAX keeps (advance_jaxpr)
    dev = s.mesh.devices.flat[0]
    r = chunking.runs_per_device(ws, ws, n_max, n_dev, chunking.default_budget(dev), dev.platform)
    w = chunking.balanced(r, n_max, n_dev)
    return w if not work else _fitted_width(w, n_dev, work, dev.platform)


def _fingerprint(kind, args, s: _Setup, closed, segment, W) -> str:
    code = [code_hash(c, s.data) for c in closed]
    ident = {"kind": kind, "args": args, "space": s.design.describe(), "key": np.asarray(s.kd[0]).tolist(),
             "code": code[0] if len(code) == 1 else code, "lanes": W, "segment": segment,
             "jaxnn": versions()["jaxnn"], "log": 4}  # 2: trials start inside segment calls; 3: calls end at
    # budgets; 4: each logged call has a digest of its inputs, random proposals are drawn per trial
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def _bar(progress, total, desc):
    if not ((sys.stderr.isatty() if progress is None else bool(progress)) and is_lead()):
        return None
    from jaxnn.datasets import require
    return require("tqdm").tqdm(total=total, unit="lane-step", desc=desc, file=sys.stderr)


class Search(NamedTuple):
    """An open search: its setup, driver, trials, pool, start time and ranked ``(metric, mode)``."""

    setup: _Setup
    driver: Driver
    trials: Trials
    pool: Pool
    t0: float
    metric: str
    mode: str


def check_with(sampler, mode: str) -> None:
    """The sampler's own check of the search's direction, where it has one (before any training)."""
    check = getattr(sampler, "check", None)
    if callable(check):
        check(mode)


def open_search(kind, args, trainable, design, key, data, metric, *, segment, slots, n_max, lanes, out_dir,
                checkpoint_s, progress, total, devices, mode, work=None, rule_metric=None, sampler=None) -> Search:
    """Check and trace the trainable, resolve ``mode`` (given, else declared) and show it to the ``sampler``
    (its optional ``check(mode)``, e.g. a shared Optuna study's direction), size the lanes and open the driver
    (resuming from ``out_dir``'s checkpoint when it holds this search)."""
    s = _setup(trainable, design, key, data, metric, devices, rule_metric)
    mode = resolve(metric, mode, s.directions, declare=_declare_hint(metric))
    check_with(sampler, mode)
    args = {**args, "metric": metric, "mode": mode}
    closed = [_advance_jaxpr(s, g, segment) for g in s.structures]  # kept by JAX: a search seen before is not traced
    W = _shared_width([_width(s, c, n_max, lanes, work) for c in closed], s.mesh)
    fp = None if out_dir is None else _fingerprint(kind, args, s, closed, segment, W)
    pool, group = _pools(s, closed, W, slots, segment)
    trials = Trials(s.design.n, s.hp, group)
    if checkpoint_s is not None:
        validate.check_scalar("checkpoint_s", checkpoint_s, nonnegative=True)
    driver = Driver(pool, trials, s.kd, s.spec.metrics, out_dir=None if out_dir is None else os.fspath(out_dir),
                    fingerprint=fp, checkpoint_s=30.0 if checkpoint_s is None else float(checkpoint_s),
                    bar=_bar(progress, total, kind), ranked=(metric, mode))
    return Search(s, driver, trials, pool, time.perf_counter(), metric, mode)


def _shared_width(widths, mesh) -> int:
    """One lane count for every structure's pool: on a CPU the widest structure's (each pool computes its lanes
    in blocks sized to the cache for its own structure, so a wider call loses no cache efficiency), elsewhere
    the narrowest (there the width is what the largest structure's states fit in memory)."""
    return max(widths) if mesh.devices.flat[0].platform == "cpu" else min(widths)


def _pools(s: _Setup, closed, W, slots, segment):
    """``(pool, trial -> structure)``: one :class:`Pool`, or one per structure (:class:`Pools`, each banking as
    many slots as its trials can need at once)."""
    data = replicate(s.data, s.mesh)
    group = np.zeros(s.design.n, np.int64)
    made = []
    for g, (st_, c) in enumerate(zip(s.structures, closed)):
        n_slots = W if slots is None else slots
        if len(s.structures) > 1:  # room for the structure's trials, rounded up to a power of two so that the
            # bank's shape (part of the compiled program) rarely changes with a new draw of the structures
            n_slots = min(n_slots, 1 << (len(st_.ids) - 1).bit_length())
        made.append(Pool(st_.trainable, data, st_.spec, tuple(s.hp), {k: v.dtype for k, v in s.hp.items()},
                         s.mesh, W, n_slots, segment, s.impl, s.kd.shape[1:], c))
        group[st_.ids] = g
    return (made[0] if len(made) == 1 else Pools(made)), group


def _meta(search: Search, extra) -> dict:
    d, tr = search.driver, search.trials
    devs = list(search.setup.mesh.devices.flat)
    return {"lane_steps_paid": d.paid, "lane_steps_useful": d.useful,
            "lane_utilization": d.useful / d.paid if d.paid else None, "lanes": search.pool.W,
            "widths": sorted(int(w) for w in search.pool.used),
            "segment": search.pool.segment, "calls": d.calls, "compile_s": search.pool.compile_s,
            "structures": [dict(g.static) for g in search.setup.structures],
            "run_s": time.perf_counter() - search.t0, "devices": len(devs), "processes": jax.process_count(),
            "platform": devs[0].platform, "n_trials": tr.n, "n_started": int(tr.started.sum()),
            "n_diverged": int((tr.status == st.DIVERGED).sum()), "n_invalid": int((tr.status == st.INVALID).sum()),
            "directions": dict(search.setup.directions), "jax": versions()["jax"], "jaxnn": versions()["jaxnn"],
            "params": {k: dist.describe() for k, dist in search.setup.design.dists.items()},
            **(extra or {})}


def finish(search: Search, *, rungs, final, lineage=(), schedules=None, extra=None, values=None) -> AdaptiveResult:
    """Checkpoint, build the result and read ``best()``'s trial's state while its slot holds it (else the state
    is None: never another trial's) (``values``: the trials' hyperparameters when a sampler proposed them, else
    the design's)."""
    d, tr, metric, mode = search.driver, search.trials, search.metric, search.mode
    d.checkpoint(force=True)
    if d.bar is not None:
        d.bar.close()
    values = search.setup.design.values if values is None else values
    res = AdaptiveResult({k: np.asarray(v) for k, v in values.items()}, search.setup.kd,
                         search.setup.impl, tr.status.copy(), tr.curve, list(rungs), list(lineage),
                         dict(schedules or {}), [int(i) for i in final], metric, mode, _meta(search, extra), None,
                         dict(search.setup.directions))
    if not any(tr.curve[i] for i in final):
        return res
    with warnings.catch_warnings():  # a search of diverged trials only: best() warns the user, not here
        warnings.simplefilter("ignore", RuntimeWarning)
        i = res.best()["trial"]
    return res if tr.slot[i] < 0 else res._replace(state=search.pool.host_state(int(tr.slot[i])))


def check_budgets(metric, mode, eta=None, min_steps=None, max_steps=None):
    """``(min_steps, max_steps)`` checked (and ``metric`` a name, ``mode`` None / "max" / "min", ``eta`` an
    integer >= 2 when given)."""
    if not isinstance(metric, str):
        raise ValueError(f"metric: expected the name of a metric of evaluate, got {metric!r}")
    if mode is not None:
        check_mode(mode)
    if eta is not None:
        if isinstance(eta, bool) or not isinstance(eta, (int, np.integer)) or eta < 2:
            raise ValueError(f"eta: expected an integer >= 2 (the fraction 1/eta survives each rung), got {eta!r}")
        min_steps = validate.check_int("min_steps", min_steps, minimum=1)
        max_steps = validate.check_int("max_steps", max_steps, minimum=1)
        if min_steps > max_steps:
            raise ValueError(f"min_steps: expected at most max_steps={max_steps}, got {min_steps}")
    return min_steps, max_steps
