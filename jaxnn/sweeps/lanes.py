"""The lane pool: trial states in a bank on the devices, W lanes of them advanced per compiled segment.

A :class:`Pool` holds the states of up to ``slots`` live trials of one :class:`jaxnn.sweeps.Trainable` in a
*bank* (every leaf with a leading slot axis, sharded over a 1-D device mesh), plus W scratch slots.  One
compiled function of W lanes, ``seg`` (one compilation, whatever the schedule): for every lane, the state of
slot ``src`` is advanced ``k`` times ``segment`` steps (``k`` traced: one compilation for every k; a scheduler
runs several segments in one call when no decision falls between them), evaluated where the host asks
(``look``: a scheduler asks where a trial's work ends; on a CPU a lane's evaluation is computed alone, so it
costs nothing where not asked for and its numbers do not depend on the block it ran in), and written to slot ``dst``
(``src == dst`` continues a trial; ``src != dst`` copies one into another, as population-based training
exploits; an idle lane reads and writes its own scratch slot).  A lane flagged *new* starts a trial instead
of reading ``src``: ``init`` from its key and ``evaluate`` (its step-0 metrics, returned besides), then the
same ``k`` segments; only the new lanes compute that part (``lax.cond``), so starting trials costs no call of
its own.

Each device computes its lanes a block at a time (:func:`blocked`; on a CPU a block's working set stays in
the cache).  When fewer trials are busy than lanes (the tail of an early-stopping run, an asynchronous
search waiting for its last trials, a bracket's last rung), the busy lanes fill blocks of ``MIN_BLOCK`` lanes,
the blocks are dealt to the devices in turn, and a second compiled function, ``part``, computes only those
blocks (a loop whose trip count is traced: one compilation serves every number of busy lanes).  A search compiles it
once, when it first saves at least ``NARROW_SAVES`` lane-segments (:meth:`Pool.width_for`; the rule reads
the schedule alone, so the same search always makes the same calls, and a resumed one replays them).  No
narrower width is compiled, and a lane's numbers do not depend on how many others are busy.

So starting trials, refilling lanes, compacting survivors into full lanes and copying states are all the
host choosing slot indices and flags: states never leave the devices; the host sees only the (W,) metric
arrays.
"""

from __future__ import annotations

import collections
import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn.sweeps import chunking
from jaxnn.sweeps.distributed import gather
from jaxnn.sweeps.executor import spec_key

__all__ = ["Pool", "Spec", "compile_count", "clear_compiled", "blocked", "first_blocks", "blocks_paid",
           "busy_per_device", "replicated", "metric_columns", "packed", "flagged_rows", "evaluates_alone",
           "tail_block", "lane_block", "advance_jaxpr", "at_start", "MIN_BLOCK", "TAIL_BLOCK", "NARROW_SAVES"]

_CACHE_SIZE = 64  # compiled (pool, width) pairs kept: a search over several seeds reuses its widths
_compiled: "collections.OrderedDict" = collections.OrderedDict()  # the compiled segment programs of a pool
_COMPILES = {"n": 0}


def compile_count() -> int:
    """How many lane functions (``seg``, ``part``) have been compiled in this process (cache misses)."""
    return _COMPILES["n"]


def clear_compiled() -> None:
    """Drop the compiled lane functions this process keeps (the next search compiles again)."""
    _compiled.clear()


class Spec(NamedTuple):
    """What the pool needs to know about the trainable, found by tracing it once (no compute)."""

    state: object       # pytree of ShapeDtypeStruct: one trial's state
    metrics: tuple      # names of evaluate's outputs, in order
    dtypes: tuple = ()  # their dtypes (empty: found by tracing evaluate when a pool is made)


MIN_BLOCK = 4  # XLA:CPU computes a vmap of 1-3 runs with other numerics than a wider one: no block is narrower
# The granularity of a partial call on a CPU device, in lanes.  1 would waste nothing on a lone trial, but a
# lane computed alone rounds differently from a wide vmap, which can flip an early-stopping decision.
TAIL_BLOCK = MIN_BLOCK
NARROW_SAVES = 32  # lane-segments the blocks' program must save before a search compiles it (width_for)
START = "start/"  # a call's step-0 metrics of its new lanes are returned under these names (at_start)


def at_start(name: str) -> str:
    """The key of metric ``name``'s step-0 value (a new lane's, before its first step) in a call's output."""
    return START + name


def blocked(f, xs, block, batched=False):
    """``jax.vmap(f)(*xs)`` over the leading axis of the pytrees ``xs``, ``block`` rows at a time: a loop over
    blocks (``lax.map``), so that one block's working set stays in the cache through all of its steps.  The
    last block takes the remainder, and has at least ``MIN_BLOCK`` rows, so a row's numbers do not depend on
    where it falls.  ``block`` None, or at least the rows: one vmap of all of them.  ``batched``: ``f`` takes
    and returns a block of rows itself (it is not vmapped)."""
    if not batched:
        f = jax.vmap(f)
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    full = 0 if block is None else n // block
    if full and 0 < n - full * block < MIN_BLOCK:
        full -= 1
    if full == 0 or n == block:
        return f(*xs)
    m = full * block
    head = jax.tree_util.tree_map(lambda x: x[:m].reshape((full, block) + x.shape[1:]), xs)
    out = jax.tree_util.tree_map(lambda y: y.reshape((m,) + y.shape[2:]),
                                 jax.lax.map(lambda x: f(*x), head))
    if m == n:
        return out
    tail = f(*jax.tree_util.tree_map(lambda x: x[m:], xs))
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), out, tail)


def replicated(tree, sharding):
    """``tree`` (leaves with a leading lane axis) constrained to the replicated ``sharding`` by one collective
    per dtype: the leaves of each dtype are concatenated, moved, and split again.  A trial's state has tens of
    leaves, and each collective between CPU devices has a fixed cost that one per leaf paid every call
    (``benchmarks/bench_lane_calls.py --calls`` times the call)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    groups = collections.defaultdict(list)
    for i, x in enumerate(leaves):
        groups[x.dtype].append(i)
    out = list(leaves)
    for idx in groups.values():
        n = leaves[idx[0]].shape[0]
        flat = jax.lax.with_sharding_constraint(jnp.concatenate([leaves[i].reshape(n, -1) for i in idx], axis=1),
                                                sharding)
        at = np.cumsum([0] + [math.prod(leaves[i].shape[1:]) for i in idx])
        for j, i in enumerate(idx):
            out[i] = flat[:, at[j]:at[j + 1]].reshape(leaves[i].shape)
    return jax.tree_util.tree_unflatten(treedef, out)


def metric_columns(names, dtypes) -> dict:
    """Where each scalar metric travels back from a call: ``{(which, name): (array, column)}``, ``which`` 0 for
    the metrics after the segments and 1 for the step-0 ones, the metrics of one dtype in one (W, columns) array
    (the arrays in the order their dtypes first come, the columns in ``(which, name)`` order)."""
    groups, out = {}, {}
    for which in (0, 1):
        for name, d in zip(names, dtypes):
            g = groups.setdefault(np.dtype(d), [len(groups), 0])
            out[(which, name)] = (g[0], g[1])
            g[1] += 1
    return out


def packed(outs, columns):
    """The metrics ``outs`` (after the segments, at the start: dicts of (W,) lane arrays) placed by ``columns``
    (:func:`metric_columns`): one (W, columns) array per dtype, so that a call's outputs leave the devices in a
    transfer or two instead of one per metric."""
    arrays = [[] for _ in range(1 + max((g for g, _ in columns.values()), default=-1))]
    for (which, name), (g, _) in columns.items():  # each array's columns come in this order
        arrays[g].append(outs[which][name])
    return tuple(jnp.stack(a, axis=1) for a in arrays)


def masked(flags, tree):
    """``tree`` (leaves with a leading row axis) with the rows not flagged zeroed, each leaf keeping its dtype."""
    return jax.tree_util.tree_map(lambda x: jnp.where(flags.reshape((-1,) + (1,) * (x.ndim - 1)), x,
                                                      jnp.zeros_like(x)), tree)


def flagged_rows(flags, f, other, xs):
    """Row by row over the leading axis of the pytrees ``xs`` (a ``lax.map``, a ``lax.cond`` per row):
    ``f(*row)`` where ``flags`` (bool per row), ``other(*row)`` elsewhere; without any flag set, ``other`` on
    every row at once and no loop.  A flagged row is computed alone: its numbers do not depend on the rows
    beside it, and an unflagged one costs nothing."""
    def row(x):
        flag, *args = x
        return jax.lax.cond(flag, lambda: f(*args), lambda: other(*args))
    return jax.lax.cond(jnp.any(flags), lambda: jax.lax.map(row, (flags, *xs)), lambda: jax.vmap(other)(*xs))


def first_blocks(f, xs, active, b, batched=False):
    """``jax.vmap(f)(*xs)`` for the first ``active`` rows (traced) of ``xs`` only, ``ceil(active / b)`` blocks of
    ``b`` rows (a loop with a traced trip count: one compilation serves every number of busy rows); the
    other rows' outputs are zeros.  ``batched``: as :func:`blocked`'s."""
    if not batched:
        f = jax.vmap(f)
    L = jax.tree_util.tree_leaves(xs)[0].shape[0]
    shapes = jax.eval_shape(f, *jax.tree_util.tree_map(lambda x: x[:b], xs))
    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros((L,) + s.shape[1:], s.dtype), shapes)

    def body(j, out):
        y = f(*jax.tree_util.tree_map(lambda x: jax.lax.dynamic_slice_in_dim(x, j * b, b), xs))
        return jax.tree_util.tree_map(lambda o, v: jax.lax.dynamic_update_slice_in_dim(o, v, j * b, 0), out, y)
    return jax.lax.fori_loop(0, jnp.minimum((active + b - 1) // b, L // b), body, zeros)


def busy_per_device(n: int, n_dev: int, b: int = 1) -> np.ndarray:
    """(n_dev,) int32: how many of ``n`` busy lanes each device holds.  The busy lanes fill blocks of ``b``
    (only the last one partial) and the blocks are dealt to the devices in turn: every device computes at most
    one block more than another, and the call no more than ``ceil(n / b)`` blocks in all (dealing single lanes,
    ``b`` 1, would leave a partial block of the pool's ``b`` on every device)."""
    blocks = -(-n // b)
    per = (blocks // n_dev + (np.arange(n_dev) < blocks % n_dev)) * b
    if blocks:
        per[(blocks - 1) % n_dev] -= blocks * b - n  # the device of the last block holds its busy lanes only
    return per.astype(np.int32)


def blocks_paid(n: int, W: int, n_dev: int, b: int) -> int:
    """The lanes a call of ``n`` busy lanes out of ``W`` computes when each of the ``n_dev`` devices runs only
    the blocks of ``b`` lanes that hold its busy lanes (:func:`busy_per_device`; a device without any computes
    none; at most W in all), or all W when a device would need more whole blocks than it has."""
    blocks = -(-busy_per_device(n, n_dev, b) // b)
    return W if blocks.max() > (W // n_dev) // b else int(blocks.sum()) * b


def tail_block(L: int, platform: str) -> int:
    """The granularity of a call's busy lanes on a device of ``L`` lanes: ``MIN_BLOCK`` on a CPU; on an
    accelerator all L (a block of 4 lanes runs there no faster than all of them)."""
    return min(L, TAIL_BLOCK) if platform == "cpu" else L


@functools.partial(jax.jit, static_argnums=(0, 4))
def _advanced(advance, state, h, data, segment):
    """One trial's ``advance`` by ``segment`` steps; only traced (:func:`advance_jaxpr`)."""
    return advance(state, data, segment, **h)


def advance_jaxpr(advance, state, hp_dtypes, data, segment):
    """The closed jaxpr of one trial's ``advance(state, data, segment, **hp)`` (``hp``: scalars of
    ``hp_dtypes``), the data an argument: traced abstractly, no compute, through a jitted function whose trace
    JAX keeps, so the same trainable, shapes and segment are traced once."""
    h0 = {k: jax.ShapeDtypeStruct((), v) for k, v in hp_dtypes.items()}
    return _advanced.trace(advance, state, h0, data, segment).jaxpr


def evaluates_alone(platform: str) -> bool:
    """Whether the pool evaluates each lane by itself (a CPU: what a lane's evaluation costs is its own, and its
    numbers do not depend on its block) or a block's lanes in one vmap (an accelerator)."""
    return platform == "cpu"


def lane_block(trainable, state, hp_dtypes, data, segment, platform, closed=None) -> int | None:
    """Lanes per block on one device: on a CPU, as many as keep the working-set estimate of one segment near
    :data:`jaxnn.sweeps.chunking.CPU_CHUNK_BYTES` (the rule of :func:`jaxnn.sweep`'s chunks: throughput falls
    once a block leaves the cache), at least ``MIN_BLOCK``; elsewhere None (all lanes at once).  ``closed``:
    the segment's jaxpr from :func:`advance_jaxpr` when the caller traced it already."""
    if platform != "cpu":
        return None
    if closed is None:
        closed = advance_jaxpr(trainable.advance, state, hp_dtypes, data, segment)
    return max(MIN_BLOCK, chunking.cache_runs(chunking.kept_working_set_bytes(closed.jaxpr)))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _zeros(key, sharding):
    """A jitted function of no arguments: the pytree of zeros ``key`` (:func:`~jaxnn.sweeps.executor.spec_key`
    of its ShapeDtypeStructs) placed by ``sharding`` (every leaf), made on the devices (no host transfer)."""
    treedef, leaves = key
    return jax.jit(lambda: jax.tree_util.tree_unflatten(treedef, [jnp.zeros(shape, d) for shape, d in leaves]),
                   out_shardings=jax.tree_util.tree_unflatten(treedef, [sharding] * len(leaves)))


@jax.jit
def _state_at(bank, slot):
    """The state in bank slot ``slot`` (traced): one call, not one indexing op per leaf."""
    return jax.tree_util.tree_map(lambda b: b[slot], bank)


class Pool:
    """Bank + lanes of one trainable on one mesh (see the module docstring)."""

    def __init__(self, trainable, data, spec: Spec, hp_names, hp_dtypes, mesh: Mesh, width: int, slots: int,
                 segment: int, impl, kshape: tuple, closed=None):
        n_dev = mesh.devices.size
        self.W, self.L = width, width // n_dev   # lanes in all, lanes per device
        self.used = set()                        # the lane counts its calls computed
        self.narrowing = False                   # whether this search uses the blocks' program (width_for)
        self.n_dev = n_dev
        self.n_slots = -(-slots // n_dev) * n_dev
        self.B = self.n_slots + width            # the last W slots are the lanes' scratch
        self.offsets = np.array([0, self.n_slots])  # structure g's slots: offsets[g] .. offsets[g + 1] - 1 (one)
        self.scratch = np.arange(self.n_slots, self.B, dtype=np.int32)
        self.segment, self.impl, self.spec, self.kshape = segment, impl, spec, tuple(kshape)
        self.hp_names, self.hp_dtypes = tuple(hp_names), dict(hp_dtypes)
        self.mesh = mesh
        self.lane_sh, self.rep = NamedSharding(mesh, P("runs")), NamedSharding(mesh, P())
        self.data = data
        self.compile_s = 0.0
        self.bank_sh = NamedSharding(mesh, P())  # replicated: a lane reads its state on its own device
        platform = mesh.devices.flat[0].platform
        self.block = lane_block(trainable, spec.state, self.hp_dtypes, data, segment, platform, closed)
        self.b = tail_block(self.L, platform)
        self.nk = math.prod(self.kshape)  # key words per lane
        groups = collections.defaultdict(list)
        for k in self.hp_names:
            groups[np.dtype(self.hp_dtypes[k])].append(k)
        self.hp_groups = tuple((d, tuple(names)) for d, names in groups.items())  # one lane array per dtype
        self.out_cols = metric_columns(spec.metrics, self._metric_dtypes(trainable, data))
        self._fns = self._programs(trainable)
        self.bank = None
        data_spec = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), data)
        self._key = (trainable.init, trainable.advance, trainable.evaluate, spec_key(spec.state), spec.metrics,
                     tuple(sorted((k, str(np.dtype(v))) for k, v in self.hp_dtypes.items())), spec_key(data_spec),
                     tuple(d.id for d in mesh.devices.flat), self.B, self.W, segment, str(impl), self.block, self.b)

    def _metric_dtypes(self, tr, data) -> tuple:
        """The dtypes of ``spec.metrics``: the spec's, else found by tracing ``evaluate`` (no compute)."""
        if self.spec.dtypes:
            return self.spec.dtypes
        h0 = {k: jax.ShapeDtypeStruct((), v) for k, v in self.hp_dtypes.items()}
        m1 = jax.eval_shape(lambda s, h, d: tr.evaluate(s, d, **h), self.spec.state, h0, data)
        return tuple(m1[k].dtype for k in self.spec.metrics)

    def _programs(self, tr):
        """The jitted ``seg`` (every lane) and ``part`` (the busy lanes' blocks) of trainable ``tr``."""
        mesh, spec, segment, impl = self.mesh, self.spec, self.segment, self.impl
        alone = evaluates_alone(mesh.devices.flat[0].platform)

        def measured(s, h, data):  # a lane's state and its metrics
            out = tr.evaluate(s, data, **h)
            return s, {k: jnp.asarray(out[k]) for k in spec.metrics}

        def fresh(kd, h, data):  # a new trial's state and its step-0 metrics
            key = kd if impl is None else jax.random.wrap_key_data(kd, impl=impl)
            return measured(tr.init(key, data, **h), h, data)

        def block(s, kd, new, look, h, k, data):
            """A block of lanes (leading axis): each new one started from its key, then every lane k segments (k
            traced: one compilation for every k), then the lanes flagged ``look`` evaluated.  Starts and (on a
            CPU) evaluations are a loop over the block's lanes, a ``lax.cond`` each, so a lane that needs neither
            costs nothing there, and a lane's metrics do not depend on its block (nor on the device count); on an
            accelerator, where a loop of single lanes would serialize small kernels, the block is evaluated in
            one vmap."""
            m1 = jax.eval_shape(fresh, kd[0], jax.tree_util.tree_map(lambda x: x[0], h), data)[1]  # one lane's

            def zeros():  # the metrics of a lane that starts or shows nothing
                return jax.tree_util.tree_map(lambda m: jnp.zeros(m.shape, m.dtype), m1)

            s, m0 = flagged_rows(new, lambda s1, kd1, h1: fresh(kd1, h1, data), lambda s1, kd1, h1: (s1, zeros()),
                                 (s, kd, h))
            s = jax.vmap(lambda s, h: jax.lax.fori_loop(0, k, lambda _, x: tr.advance(x, data, segment, **h), s))(s, h)
            if alone:
                m = flagged_rows(look, lambda s1, h1: measured(s1, h1, data)[1], lambda s1, h1: zeros(), (s, h))
            else:  # an accelerator: the block's lanes evaluated together, the others' metrics zeroed
                m = masked(look, jax.vmap(lambda s1, h1: measured(s1, h1, data)[1])(s, h))
            return s, (m, m0)

        def on_devices(part):  # each device computes its own lanes as a local program
            def local(xs, active, *c):
                g = lambda *x: block(*x, *c)  # noqa: E731
                return (first_blocks(g, xs, active[0], self.b, batched=True) if part
                        else blocked(g, xs, self.block, batched=True))
            return jax.shard_map(local, mesh=mesh, in_specs=(P("runs"), P("runs"), P(), P()),
                                 out_specs=P("runs"), check_vma=False)  # the trainable's code: no collectives

        def seg_of(lanes_fn):
            def seg(bank, idx, flags, hps, data):  # the arguments as :meth:`_args` packs them
                src, dst, k, kd, new, look, hp, active = self._unpacked(idx, flags, hps)
                states = jax.tree_util.tree_map(lambda b: b[src], bank)
                states = jax.lax.with_sharding_constraint(states, self.lane_sh)
                states, out = lanes_fn((states, kd, new, look, hp), active, k, data)
                states = replicated(states, self.rep)  # every device's bank gets every lane's new state
                return jax.tree_util.tree_map(lambda b, s: b.at[dst].set(s), bank, states), packed(out, self.out_cols)
            return seg

        bank_sh = jax.tree_util.tree_map(lambda _: self.bank_sh, spec.state)
        lane, rep = self.lane_sh, self.rep
        ins = (bank_sh, rep, lane, tuple(lane for _ in self.hp_groups), rep)  # bank, idx, flags, hps, data
        return {name: jax.jit(seg_of(on_devices(part)), in_shardings=ins, out_shardings=(bank_sh, lane),
                              donate_argnums=0)
                for name, part in (("seg", False), ("part", True))}  # every lane; the busy lanes' blocks only

    # --- placing host arrays --------------------------------------------------------------------------------
    def _put(self, x, sharding):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

    def _args(self, src, dst, kd, new, look, hp, segments, n, w):
        """A call's arguments on the devices in three or so transfers (each has a fixed cost): ``idx`` (3, W)
        replicated int32 rows (the lanes' src, their dst, the segment count), ``flags`` (W, nk + 3) uint32 lane
        rows (key words, new, look, the busy lanes of the row's device: :func:`busy_per_device`) and per
        hyperparameter dtype one (W, n) lane array, columns in ``hp_groups`` order; lanes at their positions
        (:meth:`_layout`)."""
        idx = np.stack([self._lanes(np.asarray(src, np.int32), self.scratch, n, w),
                        self._lanes(np.asarray(dst, np.int32), self.scratch, n, w),
                        np.full(self.W, segments)]).astype(np.int32)
        off = np.zeros(self.W, bool)
        flags = np.empty((self.W, self.nk + 3), np.uint32)
        flags[:, :self.nk] = self._padded(kd, n, w).reshape(self.W, self.nk)
        flags[:, self.nk] = self._lanes(new, off, n, w)
        flags[:, self.nk + 1] = self._lanes(look, off, n, w)
        flags[:, self.nk + 2] = np.repeat(busy_per_device(n, self.n_dev, self.b), self.L)
        hps = tuple(self._put(np.stack([self._padded(np.asarray(hp[k], d), n, w) for k in names], axis=1),
                              self.lane_sh) for d, names in self.hp_groups)
        return self._put(idx, self.rep), self._put(flags, self.lane_sh), hps

    def _unpacked(self, idx, flags, hps):
        """The inverse of :meth:`_args`, on the devices (traced): src, dst, the segment count, the key data, new,
        look, ``{name: (W,) hyperparameter}`` and the busy lanes of each lane's device."""
        W, nk = self.W, self.nk
        hp = {name: g[:, j] for (_, names), g in zip(self.hp_groups, hps) for j, name in enumerate(names)}
        return (idx[0], idx[1], idx[2, 0], flags[:, :nk].reshape((W,) + self.kshape), flags[:, nk] != 0,
                flags[:, nk + 1] != 0, hp, flags[:, nk + 2].astype(jnp.int32))

    def empty(self):
        """A bank of zeros (the scratch and free slots are never read for results), made on the devices."""
        self.bank = _zeros(spec_key(self.bank_struct()), self.bank_sh)()

    def load(self, host_bank):
        """The bank from host arrays (a checkpoint)."""
        self.bank = jax.tree_util.tree_map(lambda x: self._put(x, self.bank_sh), host_bank)

    def host_bank(self):
        """The bank as host arrays (for a checkpoint), every process."""
        return gather(self.bank)

    def host_state(self, slot: int):
        """The state in one slot as host arrays, every process."""
        return gather(_state_at(self.bank, np.int32(slot)))

    def bank_struct(self):
        """The bank's leaves as ``ShapeDtypeStruct`` s (``(B,) +`` a state leaf's shape): a checkpoint's layout."""
        return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((self.B,) + tuple(x.shape), x.dtype),
                                      self.spec.state)

    def plan(self, src, remaining: int) -> int:
        """The lanes the call of the busy lanes reading ``src`` computes (:meth:`width_for`)."""
        return self.width_for(len(src), remaining)

    def width_for(self, n: int, remaining: int) -> int:
        """The lanes a call of ``n`` busy lanes computes, when they have up to ``remaining`` segments left: only
        the blocks of ``b`` lanes that hold them on every device (:func:`busy_per_device`), once this search
        has found that worth compiling the blocks' program, i.e. when it saves at least ``NARROW_SAVES``
        lane-segments over the calls' remaining segments (``remaining * (W - blocks)``); else all W.
        The rule reads the schedule alone: the same search makes the same calls."""
        fit = blocks_paid(n, self.W, self.n_dev, self.b)
        if fit >= self.W or not (self.narrowing or remaining * (self.W - fit) >= NARROW_SAVES):
            return self.W
        self.narrowing = True  # the blocks' program, once compiled, serves every later call of this search
        return fit

    def _layout(self, n, w):
        """Positions of ``n`` busy lanes among the W in a call computing ``w`` lanes, so that every device's busy
        lanes come first: for the busy lanes' blocks (w < W) lane i is in block j = i // b, block j on device
        j % n_dev as its (j // n_dev)-th block (:func:`busy_per_device`); for all W lanes, lane i on device
        i % n_dev as its (i // n_dev)-th lane (a lane's numbers do not depend on its position)."""
        i = np.arange(n)
        if w >= self.W:
            return (i % self.n_dev) * self.L + i // self.n_dev
        j = i // self.b
        return (j % self.n_dev) * self.L + (j // self.n_dev) * self.b + i % self.b

    def _abstract(self):
        """Abstract arguments of ``seg`` / ``part`` (for compiling before the first call)."""
        w = self.W
        bank = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((self.B,) + tuple(x.shape), x.dtype,
                                                                     sharding=self.bank_sh),
                                      self.spec.state)
        idx = jax.ShapeDtypeStruct((3, w), np.int32, sharding=self.rep)
        flags = jax.ShapeDtypeStruct((w, self.nk + 3), np.uint32, sharding=self.lane_sh)
        hps = tuple(jax.ShapeDtypeStruct((w, len(names)), d, sharding=self.lane_sh) for d, names in self.hp_groups)
        return bank, idx, flags, hps

    def prepare(self, names=("seg",)):
        """Compile the named programs (concurrently: XLA compiles outside Python's lock), unless cached."""
        todo = [n for n in names if self._key + (n,) not in _compiled]
        if not todo:
            return
        t0 = time.perf_counter()

        def compile_one(n):
            return self._fns[n].lower(*self._abstract(), self.data).compile()

        with ThreadPoolExecutor(len(todo)) as ex:
            done = list(ex.map(compile_one, todo))
        for n, c in zip(todo, done):
            _compiled[self._key + (n,)] = c
            _COMPILES["n"] += 1
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
        self.compile_s += time.perf_counter() - t0

    def _call(self, name, n, w, *args):
        """One call of program ``name`` computing ``w`` lanes, ``n`` of them busy: its lane outputs (metrics after
        the segments and step-0 metrics of the new lanes, one (W, columns) array per dtype: :func:`metric_columns`),
        on the devices."""
        ck = self._key + (name,)
        if ck not in _compiled:
            self.prepare((name,))
        _compiled.move_to_end(ck)
        self.used.add(w)
        self.bank, out = _compiled[ck](self.bank, *args, self.data)
        return out

    def _lanes(self, x, fill, n, w):
        """The (W, ...) lane array of a call computing ``w`` lanes: the n rows of ``x`` at their positions
        (:meth:`_layout`), ``fill`` (row per lane) elsewhere."""
        out = np.array(fill, copy=True)
        out[self._layout(n, w)] = np.asarray(x)[:n]
        return out

    def _padded(self, x, n, w):
        """:meth:`_lanes` with the first row of ``x`` in the idle lanes (a valid input they compute on)."""
        x = np.asarray(x)
        return self._lanes(x, np.repeat(x[:1], self.W, axis=0), n, w)

    # --- the compiled operations -----------------------------------------------------------------------
    def advance(self, src, dst, hp, w=None, segments=1, kd=None, new=None, look=None):
        """``segments`` segments for ``len(src) <= W`` lanes reading slots ``src`` and writing ``dst``, in one call
        computing ``w`` lanes (default W; :meth:`width_for`): their metrics after the last, for the lanes flagged
        ``look`` (bool per lane; default every lane; zeros elsewhere).  ``new`` (bool per lane): lanes that start a
        trial from its key data ``kd`` (one row per lane) instead of reading ``src``; with ``new`` given, the
        lanes' step-0 metrics too, under :func:`at_start` names (zeros where not new)."""
        n = len(src)
        w = self.W if w is None else w
        started = new is not None
        new = np.zeros(n, bool) if new is None else np.asarray(new, bool)
        look = np.ones(n, bool) if look is None else np.asarray(look, bool)
        kd = np.zeros((n,) + self.kshape, np.uint32) if kd is None else np.asarray(kd, np.uint32)
        arrays = gather(self._call("seg" if w >= self.W else "part", n, w,
                                   *self._args(src, dst, kd, new, look, hp, segments, n, w)))
        pos, out = self._layout(n, w), {}
        for (which, name), (g, c) in self.out_cols.items():
            if which == 0 or started:
                out[at_start(name) if which else name] = arrays[g][pos, c]
        return out
