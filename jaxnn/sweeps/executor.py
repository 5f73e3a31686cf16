"""The executor: a table of N runs of one function, vmapped, chunked, sharded, compiled once.

A :class:`Job` is one compiled computation: ``fn(key, [data,] **static, **row)`` where ``row`` is one run's
slice of a table of arrays with a leading run axis (traced, batched), ``static`` are Python values (part
of the compiled function's identity) and ``data`` is a pytree shared by every run (replicated, not
batched: an argument, so new data of the same shapes reuses the compilation).

:func:`execute` runs ``rows`` (a pytree with leading axis n) with their keys in chunks of K runs: each
chunk is one call of ``jit(vmap(one run))`` sharded over a 1-D device mesh (padded to a multiple of the
device count with copies of the chunk's last run, results discarded).  One chunk is dispatched ahead while
the previous one is gathered and handed to ``on_chunk``, so host work (files, progress) overlaps compute.
Compiled functions and automatic chunk sizes are cached by the job's identity.
"""

from __future__ import annotations

import collections
import contextlib
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn import validate
from jaxnn.sweeps import chunking
from jaxnn.sweeps.distributed import gather

__all__ = ["Job", "make_job", "trace", "plan_chunk_size", "compile_job", "replicate", "check_data", "execute",
           "leaf_name", "spec_key", "compile_count", "clear_compiled"]

_CACHE_SIZE = 32
_compiled: "collections.OrderedDict[Any, dict]" = collections.OrderedDict()
_chunk_sizes: "collections.OrderedDict[Any, int]" = collections.OrderedDict()
_COMPILES = {"n": 0}


def compile_count() -> int:
    """How many chunk functions the executor has compiled in this process (cache misses)."""
    return _COMPILES["n"]


def clear_compiled() -> None:
    """Drop the compiled chunk functions this process keeps (a long session, or a test suite, frees their code;
    the next sweep compiles again)."""
    _compiled.clear()
    _chunk_sizes.clear()


def _put(cache, k, v):
    cache[k] = v
    cache.move_to_end(k)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def spec_key(spec):
    """A hashable key of a pytree of ShapeDtypeStructs (treedef, shapes, dtypes); None stays None."""
    if spec is None:
        return None
    return (jax.tree_util.tree_structure(spec),
            tuple((x.shape, str(x.dtype)) for x in jax.tree_util.tree_leaves(spec)))


def _spec(x, drop_lead=False):
    shape = np.shape(x)[1:] if drop_lead else np.shape(x)
    return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(jnp.result_type(x)))


class Job(NamedTuple):
    """One compiled computation of a sweep (see the module docstring)."""

    fn: Callable
    static: tuple          # ((name, Python value), ...)
    row_spec: Any          # pytree of ShapeDtypeStruct: one run's row of the table
    kshape: tuple          # shape of one run's raw key data
    impl: Any              # the key's implementation (None: raw uint32 keys)
    data_spec: Any         # pytree of ShapeDtypeStruct of the shared data, or None

    def cache_key(self):
        return (self.fn, self.static, spec_key(self.row_spec), self.kshape, self.impl, spec_key(self.data_spec))


def make_job(fn, rows, kd, impl, data=None, static=None) -> Job:
    """The Job of ``fn`` over the table ``rows`` (pytree, leading run axis) and key data ``kd`` (n, ...)."""
    row_spec = jax.tree_util.tree_map(lambda x: _spec(x, drop_lead=True), rows)
    data_spec = None if data is None else jax.tree_util.tree_map(_spec, data)
    return Job(fn, tuple((static or {}).items()), row_spec, tuple(np.shape(kd)[1:]), impl, data_spec)


def leaf_name(path) -> str:
    """The name of an output leaf: its path joined with ``/`` (``"hist/loss"``), ``"value"`` for a bare array."""
    return jax.tree_util.keystr(path, simple=True, separator="/") or "value"


def _check_outputs(out):
    """The outputs as arrays; a leaf that is not an array or number is a clear error about ``fn``."""
    def check(path, x):
        if isinstance(x, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)):
            return jnp.asarray(x)
        raise ValueError(f"fn: returned {type(x).__name__} {x!r:.60} at {leaf_name(path)!r}; expected a pytree of "
                         "arrays or numbers, e.g. {'final_loss': hist['loss'][-1]}")
    return jax.tree_util.tree_map_with_path(check, out)


def _one(job: Job):
    static = dict(job.static)

    def one(row, kd, data=None):
        k = kd if job.impl is None else jax.random.wrap_key_data(kd, impl=job.impl)
        args = (k,) if job.data_spec is None else (k, data)
        return _check_outputs(job.fn(*args, **row, **static))
    return one


def _batched(one, k: int):
    """``one`` over a leading axis of ``k`` runs (the rows and keys; data shared): its ``vmap``, or for
    one run the run itself.  A vmapped loop whose trip count is traced per run (a ``while_loop``) selects
    between the new and the old carry, leaf by leaf, at every iteration; with one run per device there is
    nothing to select between."""
    if k > 1:
        return jax.vmap(one, in_axes=(0, 0, None))

    def one_run(rows, kd, data):
        out = one(jax.tree_util.tree_map(lambda x: x[0], rows), kd[0], data)
        return jax.tree_util.tree_map(lambda x: x[None], out)
    return one_run


@contextlib.contextmanager
def _user_errors(job: Job):
    """JAX's errors about Python control flow on tracers, retold in the user's terms."""
    try:
        yield
    except TypeError as e:  # JAX's concretization errors are TypeErrors; so is a traced value used as a shape
        concrete = isinstance(e, (jax.errors.TracerBoolConversionError, jax.errors.ConcretizationTypeError,
                                  jax.errors.TracerIntegerConversionError))
        if not (concrete or "Tracer" in str(e) or "Traced<" in str(e)):
            raise
        traced = [k for k in (job.row_spec or {})]
        raise ValueError(
            f"fn: it used a traced hyperparameter as a Python value (an `if`, bool(), int(), float() or a shape). "
            f"In a sweep the hyperparameters {traced} arrive as traced JAX arrays (one compiled, vmapped call "
            "for every run), so Python cannot branch on their values. Two fixes: compute with jnp.where / "
            "jax.lax.cond instead of `if`, or declare the hyperparameter static with sweeps.static([...]) so it "
            "arrives as a Python value (one compilation per value). JAX said: "
            f"{str(e).splitlines()[0]}") from e


def trace(job: Job):
    """(closed jaxpr, output shapes) of one run, traced with abstract inputs."""
    kd = jax.ShapeDtypeStruct(job.kshape, np.uint32)
    with _user_errors(job):
        return jax.make_jaxpr(_one(job), return_shape=True)(job.row_spec, kd, job.data_spec)


def compile_job(job: Job, mesh: Mesh, K: int):
    """The compiled chunk function for K runs (a multiple of the mesh size), cached: ``(entry, fresh)``
    with entry ``{"compiled", "out_info", "memory", "compile_s"}``."""
    ck = (job.cache_key(), tuple(d.id for d in mesh.devices.flat), K)
    if ck in _compiled:
        _compiled.move_to_end(ck)
        return _compiled[ck], False
    sh, rep = NamedSharding(mesh, P("runs")), NamedSharding(mesh, P())
    lead = lambda s: jax.ShapeDtypeStruct((K,) + s.shape, s.dtype, sharding=sh)  # noqa: E731
    rows = jax.tree_util.tree_map(lead, job.row_spec)
    kd = jax.ShapeDtypeStruct((K,) + job.kshape, np.uint32, sharding=sh)
    data = jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep), job.data_spec)
    t0 = time.perf_counter()
    # shard_map: each device runs its own runs as a local program.  Under a plain jit of the vmap, a loop
    # whose trip count differs between runs (a while_loop with a batched predicate) would reduce its
    # predicate over the sharded run axis: one cross-device all-reduce, and a lockstep wait, per iteration.
    local = jax.shard_map(_batched(_one(job), K // mesh.devices.size), mesh=mesh,
                          in_specs=(P("runs"), P("runs"), P()), out_specs=P("runs"),
                          check_vma=False)  # fn is the user's per-run code: no collectives to type
    jitted = jax.jit(local, in_shardings=(sh, sh, rep), out_shardings=sh)
    with _user_errors(job):
        lowered = jitted.trace(rows, kd, data).lower()  # data None: no shared data
    compiled = lowered.compile()
    mem = None
    try:
        ma = compiled.memory_analysis()
        if ma is not None:
            mem = {"argument": ma.argument_size_in_bytes, "output": ma.output_size_in_bytes,
                   "temp": ma.temp_size_in_bytes, "alias": ma.alias_size_in_bytes}
    except Exception:  # some backends do not report
        pass
    entry = {"compiled": compiled, "out_info": lowered.out_info, "memory": mem, "compile_s": time.perf_counter() - t0}
    _COMPILES["n"] += 1
    _put(_compiled, ck, entry)
    return entry, True


def plan_chunk_size(job: Job, n_runs: int, mesh: Mesh, memory_budget: Optional[float], closed=None):
    """The automatic chunk size for n_runs: from the working-set estimate, then checked against XLA's
    memory analysis of that chunk's compilation (cached).  Returns ``(K, compile seconds spent)``."""
    devs = list(mesh.devices.flat)
    kk = (job.cache_key(), tuple(d.id for d in devs), memory_budget, n_runs)
    if kk in _chunk_sizes:
        return _chunk_sizes[kk], 0.0
    if closed is None:
        closed, _ = trace(job)
    n_dev, platform = len(devs), devs[0].platform
    ws = chunking.working_set_bytes(closed.jaxpr)
    budget = memory_budget if memory_budget is not None else chunking.default_budget(devs[0])
    r = chunking.runs_per_device(ws, ws, n_runs, n_dev, budget, platform)
    K = chunking.balanced(r, n_runs, n_dev)
    entry, fresh = compile_job(job, mesh, K)
    if entry["memory"] is not None:
        per_run = chunking.analysed_bytes(entry["memory"]) / (K // n_dev)
        r_mem = chunking.runs_per_device(per_run, ws, n_runs, n_dev, budget, platform)
        if r_mem < r or (platform != "cpu" and r_mem >= 2 * r):
            K = chunking.balanced(r_mem, n_runs, n_dev)
    _put(_chunk_sizes, kk, K)
    return K, (entry["compile_s"] if fresh else 0.0)


def check_data(data, arg: str = "data", *, finite: bool = True):
    """Refuse, before any compute, a shared ``data`` pytree that is not arrays or (``finite``) holds NaN / inf
    (concrete floating leaves only): every run would be NaN, read as diverged."""
    if data is None:
        return
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    bad = [jax.tree_util.keystr(p) for p, x in leaves if not (hasattr(x, "shape") and hasattr(x, "dtype"))]
    if bad:
        raise ValueError(f"{arg}: expected a pytree of arrays, got non-array leaves at {bad[:5]}")
    for p, x in leaves if finite else ():
        if jnp.issubdtype(x.dtype, jnp.inexact) and validate.is_concrete(x):
            n_bad = int(np.count_nonzero(~np.isfinite(np.asarray(x))))
            if n_bad:
                raise ValueError(f"{arg}: expected finite values, got {n_bad} NaN/inf entries in "
                                 f"{arg}{jax.tree_util.keystr(p)} (shape {tuple(x.shape)}); every run would "
                                 "read them (clean or impute the data first)")


def mesh_of(devices) -> Mesh:
    """The one-axis ("runs") mesh of ``devices`` (None: every device; one ``jax.Device`` alone is a list of
    it); a ValueError naming ``devices`` for an empty list, an entry that is not a device, a device given twice,
    or (several processes) a process none of whose devices is given: each holds shards of every call."""
    devs = list(jax.devices()) if devices is None else [devices] if isinstance(devices, jax.Device) else devices
    if isinstance(devs, (str, bytes)) or not hasattr(devs, "__iter__"):
        raise ValueError(f"devices: expected a list of jax devices (e.g. jax.devices()[:2]), got {devs!r:.120}")
    devs = list(devs)
    if not devs:
        raise ValueError("devices: expected at least one device, got none")
    odd = [d for d in devs if not isinstance(d, jax.Device)]
    if odd:
        raise ValueError(f"devices: expected jax devices (e.g. jax.devices()[:2]), got {odd[0]!r:.80}")
    if len(set(devs)) < len(devs):
        raise ValueError(f"devices: expected each device once, got {devs}")
    missing = sorted(set(range(jax.process_count())) - {d.process_index for d in devs})
    if missing:
        raise ValueError(f"devices: with {jax.process_count()} processes every process needs a device among them "
                         f"(processes {missing} have none); give each process's own, e.g. jax.devices() or a "
                         "subset of every process's jax.local_devices()")
    return Mesh(np.array(devs), ("runs",))


def replicate(data, mesh: Mesh):
    """The pytree ``data`` (host arrays) replicated on every device of the mesh (of every process)."""
    if data is None:
        return None
    rep = NamedSharding(mesh, P())

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, rep, lambda i: x[i])
    return jax.tree_util.tree_map(put, data)


def execute(entry, K_pad: int, rows, kd, bounds, mesh: Mesh, *, shared=None, skip=None,
            on_chunk: Callable[[int, dict], None]):
    """Run the chunks ``bounds[c] = (start, stop)`` of the table ``rows`` (host pytree, leading run axis)
    with key data ``kd`` through ``entry`` (compiled for ``K_pad`` runs); ``on_chunk(c, leaves)`` gets each
    finished chunk's outputs as host arrays (the runs start..stop-1, flattened to ``{leaf name: array}``).
    Chunks with ``skip[c]`` are not run; ``shared`` is the :func:`replicate`-d data.  Every process runs the
    same call."""
    sh = NamedSharding(mesh, P("runs"))
    compiled = entry["compiled"]
    paths = [leaf_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(entry["out_info"])[0]]

    def inputs(a, b):
        idx = np.minimum(np.arange(a, a + K_pad), b - 1)  # pad with copies of the chunk's last run

        def put(x):
            xi = np.asarray(x)[idx]
            return jax.make_array_from_callback(xi.shape, sh, lambda i: xi[i])
        return jax.tree_util.tree_map(put, rows), put(kd)

    def finish(c, out):
        a, b = bounds[c]
        flat = jax.tree_util.tree_leaves(gather(out))
        on_chunk(c, {n: x[: b - a] for n, x in zip(paths, flat)})

    pending = None
    for c, (a, b) in enumerate(bounds):
        if skip is not None and skip[c]:
            continue
        out = compiled(*inputs(a, b), shared)
        if pending is not None:
            finish(*pending)
        pending = (c, out)
    if pending is not None:
        finish(*pending)
