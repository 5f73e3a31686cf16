"""The lane pool: trial states in a bank on the devices, W lanes of them advanced per compiled segment.

A :class:`Pool` holds the states of up to ``slots`` live trials of one :class:`jaxnn.sweeps.Trainable` in a
*bank* (every leaf with a leading slot axis, sharded over a 1-D device mesh), plus W scratch slots.  Two
compiled functions of W lanes (one compilation each, whatever the schedule):

* ``start``: ``init`` + ``evaluate`` of up to W new trials, written into their slots;
* ``segment``: for every lane, the state of slot ``src`` is advanced ``k`` times ``segment`` steps (``k``
  traced: one compilation for every k; a scheduler runs several segments in one call when no decision
  falls between them), evaluated and written to slot ``dst`` (``src == dst`` continues a trial; ``src !=
  dst`` copies one into another, as population-based training exploits; an idle lane reads and writes its
  own scratch slot).

When fewer trials are left than lanes (the tail of an early-stopping run, the last rungs of successive
halving), ``segment`` runs at the narrowest width that holds the busy lanes (a multiple of the device
count: the lanes are compacted into it), compiled once when first needed.  A new width is compiled only
when it saves at least ``NARROW_SAVES`` lane-segments over the narrowest width already compiled, were it
used for the busy lanes' remaining segments (``remaining * (w_compiled - w)``): so a search compiles at
most ``W / devices`` widths, and fewer where little is left to save.  The rule reads the schedule alone,
so the same search always makes the same calls (and a resumed one replays them).

So refilling lanes with new trials, compacting survivors into full lanes and copying states are all the
host choosing slot indices: states never leave the devices; the host sees only the (W,) metric arrays.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn.sweeps.distributed import gather
from jaxnn.sweeps.executor import spec_key

__all__ = ["Pool", "Spec", "compile_count", "clear_compiled", "NARROW_SAVES"]

NARROW_SAVES = 32  # lane-segments a narrower width must save over the compiled ones to be compiled

_CACHE_SIZE = 64  # compiled (pool, width) pairs kept: a search over several seeds reuses its widths
_compiled: "collections.OrderedDict" = collections.OrderedDict()  # the compiled start / segment of a pool
_COMPILES = {"n": 0}


def compile_count() -> int:
    """How many lane functions (start, segment) have been compiled in this process (cache misses)."""
    return _COMPILES["n"]


def clear_compiled() -> None:
    """Drop the compiled lane functions this process keeps (the next search compiles again)."""
    _compiled.clear()


class Spec(NamedTuple):
    """What the pool needs to know about the trainable, found by tracing it once (no compute)."""

    state: object       # pytree of ShapeDtypeStruct: one trial's state
    metrics: tuple      # names of evaluate's outputs, in order


def _pad(x, w):
    """The (n, ...) rows of ``x`` followed by copies of its first row up to ``w`` rows (idle lanes)."""
    x = np.asarray(x)
    return np.concatenate([x, np.repeat(x[:1], w - len(x), axis=0)])


class Pool:
    """Bank + lanes of one trainable on one mesh (see the module docstring)."""

    def __init__(self, trainable, data, spec: Spec, hp_names, hp_dtypes, mesh: Mesh, width: int, slots: int,
                 segment: int, impl, kshape: tuple):
        n_dev = mesh.devices.size
        self.W = width
        self.used = {width}
        self.n_dev = n_dev
        self.n_slots = -(-slots // n_dev) * n_dev
        self.B = self.n_slots + width            # the last W slots are the lanes' scratch
        self.scratch = np.arange(self.n_slots, self.B, dtype=np.int32)
        self.segment, self.impl, self.spec, self.kshape = segment, impl, spec, tuple(kshape)
        self.hp_names, self.hp_dtypes = tuple(hp_names), dict(hp_dtypes)
        self.mesh = mesh
        self.lane_sh, self.rep = NamedSharding(mesh, P("runs")), NamedSharding(mesh, P())
        self.data = data
        self.compile_s = 0.0
        tr = trainable

        def wrap(kd):
            return kd if impl is None else jax.random.wrap_key_data(kd, impl=impl)

        def metrics(states, hp, data):
            out = jax.vmap(lambda s, h: tr.evaluate(s, data, **h))(states, hp)
            return {k: jnp.asarray(out[k]) for k in spec.metrics}

        def start(bank, slots, kd, hp, data):
            states = jax.vmap(lambda k, h: tr.init(wrap(k), data, **h))(kd, hp)
            states = jax.lax.with_sharding_constraint(states, self.lane_sh)
            bank = jax.tree_util.tree_map(lambda b, s: b.at[slots].set(s), bank, states)
            return bank, metrics(states, hp, data)

        def seg(bank, src, dst, hp, k, data):
            states = jax.tree_util.tree_map(lambda b: b[src], bank)
            states = jax.lax.with_sharding_constraint(states, self.lane_sh)
            one = jax.vmap(lambda s, h: tr.advance(s, data, segment, **h))
            states = jax.lax.fori_loop(0, k, lambda _, x: one(x, hp), states)  # k segments, one compilation
            bank = jax.tree_util.tree_map(lambda b, s: b.at[dst].set(s), bank, states)
            return bank, metrics(states, hp, data)

        self.bank_sh = NamedSharding(mesh, P())  # replicated: a lane reads its state on its own device
        bank_sh = jax.tree_util.tree_map(lambda _: self.bank_sh, spec.state)
        shard = dict(out_shardings=(bank_sh, self.rep), donate_argnums=0)
        self._start = jax.jit(start, in_shardings=(bank_sh, self.rep, self.lane_sh, self.lane_sh, self.rep), **shard)
        self._seg = jax.jit(seg, in_shardings=(bank_sh, self.rep, self.rep, self.lane_sh, self.rep, self.rep),
                            **shard)
        self.bank = None
        data_spec = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), data)
        self._key = (trainable.init, trainable.advance, trainable.evaluate, spec_key(spec.state), spec.metrics,
                     tuple(sorted((k, str(np.dtype(v))) for k, v in self.hp_dtypes.items())), spec_key(data_spec),
                     tuple(d.id for d in mesh.devices.flat), self.B, segment, str(impl))

    # --- placing host arrays --------------------------------------------------------------------------------
    def _put(self, x, sharding):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

    def _hp(self, hp: dict):
        return {k: self._put(np.asarray(hp[k], self.hp_dtypes[k]), self.lane_sh) for k in self.hp_names}

    def empty(self):
        """A bank of zeros (the scratch and free slots are never read for results)."""
        bank_sh = self.bank_sh
        self.bank = jax.tree_util.tree_map(lambda s: self._put(np.zeros((self.B,) + tuple(s.shape), s.dtype), bank_sh),
                                           self.spec.state)

    def load(self, host_bank):
        """The bank from host arrays (a checkpoint)."""
        self.bank = jax.tree_util.tree_map(lambda x: self._put(x, self.bank_sh), host_bank)

    def host_bank(self):
        """The bank as host arrays (for a checkpoint), every process."""
        return gather(self.bank)

    def host_state(self, slot: int):
        """The state in one slot as host arrays, every process."""
        return gather(jax.tree_util.tree_map(lambda b: b[slot], self.bank))

    def width_for(self, n: int, remaining: int) -> int:
        """The lanes a segment of ``n`` busy lanes runs at, when they have up to ``remaining`` segments left:
        the narrowest multiple of the device count >= n if this search compiled it already or compiling it
        saves ``NARROW_SAVES`` lane-segments over the narrowest compiled width >= n; else that one."""
        fit = -(-n // self.n_dev) * self.n_dev
        compiled = min(w for w in self.used if w >= n)
        if fit < compiled and remaining * (compiled - fit) >= NARROW_SAVES:
            self.used.add(fit)  # a width this search has paid to compile stays in use
            return fit
        return compiled

    def _abstract(self, name, w):
        """Abstract arguments of ``start`` / ``seg`` at width ``w`` (for compiling before the first call)."""
        bank = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((self.B,) + tuple(x.shape), x.dtype,
                                                                     sharding=self.bank_sh),
                                      self.spec.state)
        idx = jax.ShapeDtypeStruct((w,), np.int32, sharding=self.rep)
        hp = {k: jax.ShapeDtypeStruct((w,), self.hp_dtypes[k], sharding=self.lane_sh) for k in self.hp_names}
        if name == "start":
            return bank, idx, jax.ShapeDtypeStruct((w,) + self.kshape, np.uint32, sharding=self.lane_sh), hp
        return bank, idx, idx, hp, jax.ShapeDtypeStruct((), np.int32, sharding=self.rep)

    def prepare(self, w=None, names=("start", "seg")):
        """Compile ``start`` and ``seg`` at width ``w`` (default W; concurrently: XLA compiles outside
        Python's lock), unless cached."""
        w = self.W if w is None else w
        todo = [n for n in names if self._key + (n, w) not in _compiled]
        if not todo:
            return
        t0 = time.perf_counter()
        fns = {"start": self._start, "seg": self._seg}

        def compile_one(n):
            return fns[n].lower(*self._abstract(n, w), self.data).compile()

        with ThreadPoolExecutor(len(todo)) as ex:
            done = list(ex.map(compile_one, todo))
        for n, c in zip(todo, done):
            _compiled[self._key + (n, w)] = c
            _COMPILES["n"] += 1
        while len(_compiled) > _CACHE_SIZE:
            _compiled.popitem(last=False)
        self.compile_s += time.perf_counter() - t0

    def _call(self, name, w, *args):
        ck = self._key + (name, w)
        if ck not in _compiled:
            self.prepare(w, ("start", "seg") if w == self.W else (name,))
        _compiled.move_to_end(ck)
        self.bank, out = _compiled[ck](self.bank, *args, self.data)
        return {k: v for k, v in zip(self.spec.metrics, (np.asarray(x) for x in gather(
            [out[k] for k in self.spec.metrics])))}

    # --- the two compiled operations -----------------------------------------------------------------------
    def start(self, slots, kd, hp):
        """Start trials in the given slots (len <= W; the rest of the lanes idle): their step-0 metrics."""
        n = len(slots)
        sl = np.concatenate([np.asarray(slots, np.int32), self.scratch[n:]])
        out = self._call("start", self.W, self._put(sl, self.rep), self._put(_pad(kd, self.W), self.lane_sh),
                         self._hp({k: _pad(v, self.W) for k, v in hp.items()}))
        return {k: v[:n] for k, v in out.items()}

    def advance(self, src, dst, hp, w=None, segments=1):
        """``segments`` segments for ``len(src) <= w`` lanes reading slots ``src`` and writing ``dst``, at width ``w``
        (default W; :meth:`width_for`), in one call: their metrics after the last."""
        n = len(src)
        w = self.W if w is None else w
        s = np.concatenate([np.asarray(src, np.int32), self.scratch[n:w]])
        d = np.concatenate([np.asarray(dst, np.int32), self.scratch[n:w]])
        out = self._call("seg", w, self._put(s, self.rep), self._put(d, self.rep),
                         self._hp({k: _pad(v, w) for k, v in hp.items()}), self._put(np.int32(segments), self.rep))
        return {k: v[:n] for k, v in out.items()}
