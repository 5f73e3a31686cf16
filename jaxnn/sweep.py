"""Hyperparameter sweeps: every configuration of a grid, and every seed, trained in one compiled call.

``sweep(fn, grid, key=..., seeds=S)`` runs ``fn(key_s, **config)`` for every configuration of the
cartesian product of ``grid`` and every seed s, with ``jax.vmap`` over (configuration, seed) runs under
one ``jax.jit``.  The runs go through in chunks of ``chunk_size`` (a host loop: progress, I/O and
resume happen between chunks, never inside the compiled step); each chunk is sharded over all devices
(of all processes) with ``jax.sharding``.

Randomness: seed s uses the key ``jax.random.fold_in(key, s)`` in EVERY configuration (common random
numbers): differences between configurations are not differences between initial draws, and a
configuration's result does not depend on what else is in the grid.

References:
  Lecture "Neural networks II", section 3 (results depend on eps, alpha and the seed: sweep them).
  PureJaxRL: ``jit(vmap(train))`` over hyperparameters passed as arrays.
"""

from __future__ import annotations

import collections
import hashlib
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn import validate
from jaxnn.results import SweepResult, dump_json, read_chunk, write_chunk

__all__ = ["sweep", "SweepResult", "init_distributed", "use_cpu_cores", "grid_configs", "provenance",
           "working_set_bytes", "DEFAULT_MEMORY_BUDGET"]

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes per device for the chunks in flight (CPU; accelerators: 1/4 of memory)
# On a CPU, throughput falls once a chunk's working set leaves the cache (the issue measured a plain
# vmap of 64 digits runs at 0.6-0.8x the sequential loop).  The automatic chunk size keeps the
# compile-free working-set estimate (working_set_bytes) of a chunk near this many bytes per device:
# 4 runs of the 64-100-10 digits network (5 MiB each), the best chunk size measured on 2 cores
# (`python benchmarks/bench_sweep.py --chunks`: chunk 4 ahead of 1, 8, 16 and 64).
CPU_CHUNK_BYTES = 24 * 2**20
_RESERVED = ("key", "seed")
_CACHE_SIZE = 32
_compiled_cache: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
_chunk_cache: "collections.OrderedDict[Any, int]" = collections.OrderedDict()


# --- multi-process ---------------------------------------------------------------------------------

def init_distributed(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
                     process_id: Optional[int] = None) -> bool:
    """Join a multi-process (multi-host) JAX run with ``jax.distributed.initialize``.

    Call it first, before any JAX computation.  Idempotent; with no arguments (or one process)
    nothing happens.  On CPUs the collectives go through gloo (JAX's default in 0.10).

    Args:
      coordinator_address: ``"host:port"`` of process 0, reachable by every process.
      num_processes: total number of processes.
      process_id: this process's index, 0 .. num_processes-1.

    Returns:
      True when running as one of several processes.
    """
    if coordinator_address is None and num_processes in (None, 1) and process_id in (None, 0):
        return jax.process_count() > 1
    if coordinator_address is None or num_processes is None or process_id is None:
        raise ValueError("coordinator_address, num_processes, process_id: give all three for a multi-process "
                         f"sweep, got {coordinator_address!r}, {num_processes!r}, {process_id!r}")
    num_processes = validate.check_int("num_processes", num_processes, minimum=1)
    process_id = validate.check_int("process_id", process_id, minimum=0)
    if process_id >= num_processes:
        raise ValueError(f"process_id: expected a value < num_processes={num_processes}, got {process_id}")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    try:
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id)
    except RuntimeError as e:
        raise RuntimeError(f"jax.distributed.initialize failed ({e}); call jaxnn.sweep.init_distributed (or pass "
                           "the distributed arguments) before any other JAX computation") from None
    return jax.process_count() > 1


def use_cpu_cores(n: Optional[int] = None) -> bool:
    """Expose ``n`` CPU cores (default: all) as ``n`` JAX CPU devices, so that a sweep on a CPU shards
    its configurations over every core (``jax_num_cpu_devices``).  Only possible before JAX's backend
    starts (before any computation or ``jax.devices()``); leaves an explicit
    ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` alone.

    Returns:
      True if the setting took effect.
    """
    n = (os.cpu_count() or 1) if n is None else validate.check_int("n", n, minimum=1)
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return False
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except Exception:  # the backend is already running
        return False
    return True


def _gather(tree):
    """Every (sharded, global) leaf as a full NumPy array on this process."""
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, tree)
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def _broadcast(tree):
    """Process 0's values of a pytree of NumPy arrays, on every process."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_map(np.asarray, multihost_utils.broadcast_one_to_all(tree))


# --- grid -----------------------------------------------------------------------------------------

def _check_grid(grid) -> dict:
    if not isinstance(grid, Mapping) or len(grid) == 0:
        raise ValueError(f"grid: expected a non-empty dict {{name: 1-D sequence of values}}, got {grid!r:.200}")
    axes = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
            raise ValueError(f"grid: axis names must be Python identifiers other than {list(_RESERVED)} "
                             f"(they become keyword arguments of fn), got {name!r}")
        try:
            v = np.asarray(values)
        except Exception as e:
            raise ValueError(f"grid[{name!r}]: expected a 1-D sequence of numbers ({e})") from None
        if v.ndim == 0:
            v = v.reshape(1)
        if v.ndim != 1 or v.size == 0 or v.dtype.kind not in "biuf":
            raise ValueError(f"grid[{name!r}]: expected a non-empty 1-D sequence of real numbers (or integers, "
                             f"e.g. a fold index), got {values!r:.200}")
        if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            raise ValueError(f"grid[{name!r}]: expected finite values, got {values!r:.200}")
        axes[name] = v
    return axes


def _traced_dtype(v: np.ndarray):
    if v.dtype.kind == "b":
        return np.dtype(bool)
    if v.dtype.kind in "iu":
        return np.dtype(np.int32)
    return np.dtype(jnp.result_type(float))


def grid_configs(grid) -> dict:
    """The cartesian product of ``grid`` in row-major order (first axis slowest):
    ``{name: (n_configs,) array}``."""
    axes = _check_grid(grid)
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return {k: m.reshape(-1) for k, m in zip(axes, mesh)}


def _check_key(key):
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key: expected a single PRNG key, got key array of shape {key.shape}")
        return key, jax.random.key_impl(key)
    if hasattr(key, "dtype") and np.dtype(key.dtype) == np.uint32 and np.shape(key) == (2,):
        return key, None  # a raw jax.random.PRNGKey
    raise ValueError(f"key: expected a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got {key!r:.120}")


# --- provenance -----------------------------------------------------------------------------------

def _git(*args) -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(command: Optional[str] = None) -> dict:
    """What is needed to trace and rerun a result: command, working directory, git commit (and
    whether the tree had uncommitted changes), versions of Python, jax, jaxlib, optax, numpy, jaxnn."""
    import platform

    import jaxlib
    import optax

    import jaxnn

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": command if command is not None else shlex.join([os.path.basename(sys.executable)] + sys.argv),
        "cwd": os.getcwd(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "versions": {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "optax": optax.__version__, "numpy": np.__version__,
                     "jaxnn": getattr(jaxnn, "__version__", "unknown")},
        "platform": platform.platform(),
        "host": platform.node(),
        "backend": jax.default_backend(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _trace_one(one, hp_spec, kd_spec, data_spec=None):
    """(closed jaxpr, output shapes) of one run."""
    return jax.make_jaxpr(one, return_shape=True)(hp_spec, kd_spec, data_spec)


def _code_hash(closed, data=None) -> str:
    """Hash of the computation of one run: its jaxpr (memory addresses removed), its constants
    (closed-over data such as X) and the values of ``data``, so a changed function, step count or
    data is detected."""
    h = hashlib.sha256(re.sub(r" at 0x[0-9a-fA-F]+", "", str(closed.jaxpr)).encode())
    for c in list(closed.consts) + jax.tree_util.tree_leaves(data):
        try:
            if jax.dtypes.issubdtype(c.dtype, jax.dtypes.prng_key):
                c = jax.random.key_data(c)
            a = np.asarray(c)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        except Exception:
            h.update(repr(c).encode())
    return h.hexdigest()


# --- compilation ------------------------------------------------------------------------------------

def _sub_jaxprs(params):
    for v in params.values():
        for x in (v if isinstance(v, (tuple, list)) else (v,)):
            if hasattr(x, "eqns"):
                yield x
            elif hasattr(x, "jaxpr") and hasattr(x.jaxpr, "eqns"):
                yield x.jaxpr


def working_set_bytes(jaxpr) -> int:
    """Bytes of all intermediate values of one run, counted per nesting level (a scan body counts once:
    its values live for one step): the larger of a level's own values and its biggest sub-computation.
    A compile-free proxy of a run's working set, used to pick the chunk size before compiling."""
    own, nested = 0, 0
    for e in jaxpr.eqns:
        for v in e.outvars:
            aval = getattr(v, "aval", None)
            if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                try:
                    own += int(np.prod(aval.shape, dtype=np.int64)) * np.dtype(aval.dtype).itemsize
                except TypeError:  # extended dtypes (PRNG keys)
                    own += int(np.prod(aval.shape, dtype=np.int64)) * 8
        for sub in _sub_jaxprs(e.params):
            nested = max(nested, working_set_bytes(sub))
    return max(own, nested)


def _cache_put(cache, k, v):
    cache[k] = v
    cache.move_to_end(k)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _make_one(fn, impl, with_data=False):
    def one(hp, kd, data=None):
        k = kd if impl is None else jax.random.wrap_key_data(kd, impl=impl)
        return fn(k, data, **hp) if with_data else fn(k, **hp)
    return one


def _data_spec(data):
    """Shapes and dtypes of the ``data`` pytree (None without data)."""
    if data is None:
        return None
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), data)


def _spec_key(data_spec):
    """A hashable key of ``data_spec`` for the compile and chunk-size caches: treedef, shapes, dtypes."""
    if data_spec is None:
        return None
    return (jax.tree_util.tree_structure(data_spec),
            tuple((x.shape, str(x.dtype)) for x in jax.tree_util.tree_leaves(data_spec)))


def _compile(fn, impl, names, dtypes, kshape, mesh, K, data_spec=None):
    """The compiled chunk function for K runs (K a multiple of the mesh size), cached: (entry, fresh).
    ``data_spec``: the shapes of the shared ``data`` argument (replicated, not batched), or None."""
    ck = (fn, impl, names, dtypes, kshape, tuple(d.id for d in mesh.devices.flat), K, _spec_key(data_spec))
    if ck in _compiled_cache:
        _compiled_cache.move_to_end(ck)
        return _compiled_cache[ck], False
    sh = NamedSharding(mesh, P("runs"))
    rep = NamedSharding(mesh, P())
    one = _make_one(fn, impl, data_spec is not None)
    hp_spec = {n: jax.ShapeDtypeStruct((K,), d, sharding=sh) for n, d in zip(names, dtypes)}
    kd_spec = jax.ShapeDtypeStruct((K,) + kshape, np.uint32, sharding=sh)
    t0 = time.perf_counter()
    data_rep = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), data_spec)
    jitted = jax.jit(jax.vmap(one, in_axes=(0, 0, None)), in_shardings=(sh, sh, rep), out_shardings=sh)
    lowered = jitted.trace(hp_spec, kd_spec, data_rep).lower()  # data_rep None: no shared data
    compiled = lowered.compile()
    seconds = time.perf_counter() - t0
    mem = None
    try:
        ma = compiled.memory_analysis()
        if ma is not None:
            mem = {"argument": ma.argument_size_in_bytes, "output": ma.output_size_in_bytes,
                   "temp": ma.temp_size_in_bytes, "alias": ma.alias_size_in_bytes}
    except Exception:  # some backends do not report
        pass
    entry = {"compiled": compiled, "out_info": lowered.out_info, "memory": mem, "compile_s": seconds}
    _cache_put(_compiled_cache, ck, entry)
    return entry, True


def _bytes(mem) -> Optional[int]:
    if mem is None:
        return None
    return max(1, mem["argument"] + mem["output"] + mem["temp"] - mem["alias"])


def _runs_per_device(per_run_bytes, ws_bytes, n_runs, n_dev, budget, platform) -> int:
    """Runs per device per chunk: as many as fit ``budget`` with two chunks in flight and, on a CPU, at
    most what keeps the working set near CPU_CHUNK_BYTES (throughput drops once it leaves the cache)."""
    r = -(-n_runs // n_dev)
    r = min(r, max(1, int(budget // (2 * max(1.0, per_run_bytes)))))
    if platform == "cpu":
        r = min(r, max(1, int(CPU_CHUNK_BYTES // max(1.0, ws_bytes))))
    return r


def _default_budget(device) -> float:
    if device.platform == "cpu":
        return float(DEFAULT_MEMORY_BUDGET)
    try:
        return 0.25 * float(device.memory_stats()["bytes_limit"])
    except Exception:
        return 4.0 * 2**30


def _balanced(r, n_runs, n_dev) -> int:
    """Chunk size (a multiple of n_dev, at most r per device) that splits n_runs into equal chunks."""
    n_chunks = -(-n_runs // (r * n_dev))
    per_chunk = -(-n_runs // n_chunks)
    return -(-per_chunk // n_dev) * n_dev


# --- the sweep ----------------------------------------------------------------------------------------

ProgressLike = Union[None, bool, Callable[[int, int], Any]]


def _leaf_name(path) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/") or "value"


def sweep(fn: Callable[..., Any], grid: Mapping[str, Any], *, key, seeds: int = 1,
          chunk_size: Optional[int] = None, memory_budget: Optional[float] = None,
          out_dir: Optional[Union[str, os.PathLike]] = None, progress: ProgressLike = None,
          devices=None, coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
          process_id: Optional[int] = None, command: Optional[str] = None, data=None) -> SweepResult:
    """Run ``fn(key_s, **config)`` for every configuration of ``grid`` and every seed, vmapped.

    Args:
      fn: ``fn(key, **hyperparameters) -> pytree of arrays`` (e.g. ``{"final_loss": (), "loss": (steps,),
        "diverged_at": ()}``).  The hyperparameters arrive as traced scalars (float, or int32 for
        integer axes such as a fold index), so ``fn`` must use them as arrays (no Python ``if`` on them).
      grid: ``{name: 1-D sequence of values}``; the sweep covers the cartesian product, axes in the
        order given.
      key: a PRNG key; seed s gets ``jax.random.fold_in(key, s)``, the same in every configuration.
      seeds: number of seeds per configuration (>= 1).
      chunk_size: runs (configuration x seed pairs) per compiled call; default: from a compile-free
        estimate of one run's working set (:func:`working_set_bytes`) against ``memory_budget`` (and,
        on a CPU, the cache: CPU_CHUNK_BYTES), checked with XLA's ``compiled.memory_analysis()``.
        Padded to a multiple of the number of devices.
      memory_budget: bytes per device that the chunks in flight (two) may use, for the automatic
        chunk size; default 512 MiB on a CPU, a quarter of an accelerator's memory.
      out_dir: if given, every finished chunk is written there atomically, a rerun of the same sweep
        skips the finished chunks, and the final ``results.npz``/``results.csv``/``meta.json`` go
        there.  A directory holding a different sweep (grid, seeds, key, chunk size or code) is refused.
      progress: ``None`` (a tqdm bar over chunks when stderr is a terminal), ``True``, ``False``, or a
        callable ``progress(chunks_done, chunks_total)`` called after each chunk.
      devices: devices to shard the runs over (default: ``jax.devices()``, every device of every
        process).
      coordinator_address, num_processes, process_id: join a multi-process run first (see
        :func:`init_distributed`); every process runs the same call, results are gathered to all and
        process 0 writes the files.
      command: the command recorded in the provenance (default: ``sys.argv``).
      data: optional pytree of arrays shared by every run (e.g. a dataset): ``fn`` is then called as
        ``fn(key, data, **config)``.  It is an argument of the compiled function (replicated on every
        device, not batched), not a constant compiled into it, so a later sweep with the same ``fn``
        and data of the same shapes reuses the compiled function.  Its values are part of the
        identity checked by ``out_dir``.  With several processes, every process passes the same data.

    Returns:
      A :class:`SweepResult`: ``res[name]`` has shape ``(len(axis_1), ..., len(axis_k), seeds,
      *leaf_shape)``; ``res.axes``, ``res.diverged``, ``res.rows()``, ``res.meta`` (``devices``,
      ``processes``, ``chunk_size``, ``n_runs``, ``n_diverged``, ``chunks_skipped``, ``compile_s``,
      ``run_s``, ``runs_per_s``, ``memory_per_chunk_bytes``, versions and provenance).
    """
    # ---- validation, before any compute
    if not callable(fn):
        raise ValueError(f"fn: expected a callable fn(key, **hyperparameters), got {fn!r:.120}")
    axes = _check_grid(grid)
    names = tuple(axes)
    lead_args = (None,) if data is None else (None, None)
    try:
        inspect.signature(fn).bind(*lead_args, **{n: None for n in names})
    except TypeError as e:
        head = "key" if data is None else "key, data"
        raise ValueError(f"fn: cannot be called as fn({head}, {', '.join(f'{n}=...' for n in names)}): {e}") from None
    except ValueError:  # no signature available (builtins): let tracing tell
        pass
    seeds = validate.check_int("seeds", seeds, minimum=1)
    if chunk_size is not None:
        chunk_size = validate.check_int("chunk_size", chunk_size, minimum=1)
    if memory_budget is not None:
        validate.check_scalar("memory_budget", memory_budget, positive=True)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ValueError(f"progress: expected None, True, False or a callable(done, total), got {progress!r}")
    key, impl = _check_key(key)
    if data is not None:
        bad = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(data)[0]
               if not (hasattr(x, "shape") and hasattr(x, "dtype"))]
        if bad:
            raise ValueError(f"data: expected a pytree of arrays, got non-array leaves at {bad[:5]}")
    init_distributed(coordinator_address, num_processes, process_id)
    with_data = data is not None
    d_spec = _data_spec(data)

    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ValueError("devices: expected at least one device, got none")
    mesh = Mesh(np.array(devs), ("runs",))
    n_dev = len(devs)
    lead = jax.process_index() == 0

    # ---- runs: configuration-major, seed-minor; hyperparameters and keys as host arrays
    configs = grid_configs(axes)
    n_configs = len(next(iter(configs.values())))
    n_runs = n_configs * seeds
    dtypes = tuple(_traced_dtype(axes[n]) for n in names)
    hp_all = {n: np.repeat(configs[n].astype(d), seeds) for n, d in zip(names, dtypes)}
    seed_kd = np.stack([np.asarray(jax.random.key_data(jax.random.fold_in(key, s)) if impl is not None
                                   else jax.random.fold_in(key, s)) for s in range(seeds)])
    kd_all = np.tile(seed_kd, (n_configs,) + (1,) * (seed_kd.ndim - 1))
    kshape = tuple(seed_kd.shape[1:])

    # ---- resume: what a previous run in out_dir left (process 0 decides, everyone follows)
    out_dir = None if out_dir is None else os.fspath(out_dir)
    identity = {"grid": {k: v.tolist() for k, v in axes.items()}, "seeds": seeds,
                "key": np.asarray(jax.random.key_data(key) if impl is not None else key).tolist(),
                "key_impl": str(impl)}
    stored_K = 0
    out_shape = closed = None
    scalar_specs = ({n: jax.ShapeDtypeStruct((), d) for n, d in zip(names, dtypes)},
                    jax.ShapeDtypeStruct(kshape, np.uint32))
    if out_dir is not None:
        closed, out_shape = _trace_one(_make_one(fn, impl, with_data), *scalar_specs, d_spec)
        code = _code_hash(closed, data)
        import jaxnn
        identity["code"] = code
        identity["jaxnn_version"] = getattr(jaxnn, "__version__", "unknown")
        status, msg, old = 0, "", None
        if lead:
            manifest_path = os.path.join(out_dir, "manifest.json")
            if os.path.exists(manifest_path):
                try:
                    with open(manifest_path) as f:
                        old = json.load(f)
                    old_id = old["identity"]
                except (OSError, ValueError, KeyError, TypeError) as e:
                    old_id, status = None, 1
                    msg = f"out_dir: {out_dir} holds an unreadable manifest.json ({e}); use a new out_dir or delete it"
            if old is not None and old_id is not None:
                diff = [k for k in identity if old_id.get(k) != identity[k]]
                if not diff and chunk_size is not None and old_id.get("chunk_size") != chunk_size:
                    diff = ["chunk_size"]
                if diff:
                    status = 1
                    what = {"grid": "grid", "seeds": "number of seeds", "key": "key", "key_impl": "key type",
                            "code": "code (the swept function, its constants such as data, or the jax version)",
                            "jaxnn_version": "jaxnn version", "chunk_size": "chunk size"}
                    msg = (f"out_dir: {out_dir} holds a different sweep (changed: "
                           f"{', '.join(what[k] for k in diff)}); refusing to mix results. "
                           "Use a new out_dir, delete this one, or rerun the original command.")
                else:
                    stored_K = int(old_id.get("chunk_size", 0))
        status, stored_K = (int(x) for x in _broadcast(np.array([status, stored_K], np.int64)))
        if status:
            raise ValueError(msg if lead else f"out_dir: {out_dir} holds a different sweep (see process 0)")

    # ---- chunk size
    t_compile = 0.0
    platform = devs[0].platform
    if chunk_size is None and stored_K:
        chunk_size = stored_K
    if chunk_size is not None:
        K = chunk_size
    else:
        kk = (fn, impl, names, dtypes, kshape, tuple(d.id for d in devs), memory_budget, n_runs, _spec_key(d_spec))
        if kk in _chunk_cache:
            K = _chunk_cache[kk]
        else:  # from the working-set estimate, then checked against XLA's memory analysis
            if closed is None:
                closed, out_shape = _trace_one(_make_one(fn, impl, with_data), *scalar_specs, d_spec)
            ws = working_set_bytes(closed.jaxpr)
            budget = memory_budget if memory_budget is not None else _default_budget(devs[0])
            r = _runs_per_device(ws, ws, n_runs, n_dev, budget, platform)
            K = _balanced(r, n_runs, n_dev)
            entry, fresh = _compile(fn, impl, names, dtypes, kshape, mesh, K, d_spec)
            t_compile += entry["compile_s"] if fresh else 0.0
            if entry["memory"] is not None:
                per_run = _bytes(entry["memory"]) / (K // n_dev)
                r_mem = _runs_per_device(per_run, ws, n_runs, n_dev, budget, platform)
                if r_mem < r or (platform != "cpu" and r_mem >= 2 * r):
                    K = _balanced(r_mem, n_runs, n_dev)
            _cache_put(_chunk_cache, kk, K)
    K_pad = -(-K // n_dev) * n_dev
    n_chunks = -(-n_runs // K)
    bounds = [(c * K, min(n_runs, (c + 1) * K)) for c in range(n_chunks)]

    # ---- output leaves: from the trace of one run (out_dir) or from the compiled chunk function
    entry = None
    if out_shape is None:
        entry, fresh = _compile(fn, impl, names, dtypes, kshape, mesh, K_pad, d_spec)
        t_compile += entry["compile_s"] if fresh else 0.0
        out_shape = jax.tree_util.tree_map(lambda l: jax.ShapeDtypeStruct(l.shape[1:], l.dtype), entry["out_info"])
    out_paths, out_leaves = zip(*jax.tree_util.tree_flatten_with_path(out_shape)[0])
    leaf_names = [_leaf_name(p) for p in out_paths]
    if len(set(leaf_names)) != len(leaf_names):
        raise ValueError(f"fn: output leaves must have distinct names, got {leaf_names}")
    results = {n: np.zeros((n_runs,) + tuple(l.shape), l.dtype) for n, l in zip(leaf_names, out_leaves)}

    identity["chunk_size"] = K
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    prov = provenance(command)
    done = np.zeros(n_chunks, bool)
    if out_dir is not None:
        if lead:
            os.makedirs(out_dir, exist_ok=True)
            chunk_dir = os.path.join(out_dir, "chunks")
            if os.path.isdir(chunk_dir):  # half-written files of a killed run
                for f in os.listdir(chunk_dir):
                    if f.startswith(".tmp-"):
                        os.remove(os.path.join(chunk_dir, f))
            for c, (a, b) in enumerate(bounds):
                leaves = read_chunk(out_dir, c, a, b, fingerprint)
                if leaves is not None and set(leaves) == set(results) and all(
                        leaves[n].shape == results[n][a:b].shape for n in results):
                    done[c] = True
                    for n in results:
                        results[n][a:b] = leaves[n]
            manifest = {"format": "jaxnn.sweep.manifest", "version": 1, "identity": identity,
                        "fingerprint": fingerprint, "n_runs": n_runs, "n_chunks": n_chunks, "provenance": prov}
            if old is not None and old.get("fingerprint") == fingerprint:  # resumed: keep the first command
                manifest["provenance"] = old.get("provenance", prov)
                manifest["resumed_by"] = list(old.get("resumed_by", [])) + [prov]
            dump_json(os.path.join(out_dir, "manifest.json"), manifest)
        done = _broadcast(done)
        if done.any() and jax.process_count() > 1:
            idx = np.concatenate([np.arange(*bounds[c]) for c in np.flatnonzero(done)])
            got = _broadcast({n: results[n][idx] for n in results})
            for n in results:
                results[n][idx] = got[n]
    n_skipped = int(done.sum())
    if n_skipped and lead:
        print(f"jaxnn.sweep: resuming in {out_dir}: skipped {n_skipped} of {n_chunks} finished chunks",
              file=sys.stderr, flush=True)

    # ---- the host loop over chunks (one chunk dispatched ahead while the previous one is finished)
    sh = NamedSharding(mesh, P("runs"))

    def inputs(a, b):
        idx = np.arange(a, a + K_pad)
        idx = np.minimum(idx, b - 1)  # pad with copies of the chunk's last run (results discarded)
        hp = {n: hp_all[n][idx] for n in names}
        kd = kd_all[idx]
        put = lambda x: jax.make_array_from_callback(x.shape, sh, lambda i, x=x: x[i])  # noqa: E731
        return {n: put(v) for n, v in hp.items()}, put(kd)

    bar = None
    show = (sys.stderr.isatty() if progress is None else progress is True) and lead
    if show:
        from jaxnn.datasets import require
        tqdm = require("tqdm").tqdm
        bar = tqdm(total=n_chunks, initial=n_skipped, unit="chunk", desc="sweep", file=sys.stderr)
    runs_done = 0
    t0 = time.perf_counter()

    def finish(c, out):
        nonlocal runs_done
        a, b = bounds[c]
        host = _gather(out)
        flat = jax.tree_util.tree_leaves(host)
        chunk = {n: x[: b - a] for n, x in zip(leaf_names, flat)}
        for n in results:
            results[n][a:b] = chunk[n]
        if out_dir is not None and lead:
            write_chunk(out_dir, c, a, b, fingerprint, chunk)
        runs_done += b - a
        if bar is not None:
            bar.set_postfix_str(f"{runs_done / (time.perf_counter() - t0):.1f} configs/s", refresh=False)
            bar.update(1)
        if callable(progress) and not isinstance(progress, bool) and lead:
            progress(int(done.sum()) + 1, n_chunks)
        done[c] = True

    pending = None
    if entry is None and not done.all():
        entry, fresh = _compile(fn, impl, names, dtypes, kshape, mesh, K_pad, d_spec)
        t_compile += entry["compile_s"] if fresh else 0.0
    compiled = None if entry is None else entry["compiled"]
    memory = None if entry is None else _bytes(entry["memory"])
    shared = None
    if with_data and not done.all():  # replicated on every device (of every process), once per sweep
        rep = NamedSharding(mesh, P())
        def replicate(x):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, rep, lambda i: x[i])

        shared = jax.tree_util.tree_map(replicate, data)
    try:
        for c in range(n_chunks):
            if done[c]:
                continue
            out = compiled(*inputs(*bounds[c]), shared)
            if pending is not None:
                finish(*pending)
            pending = (c, out)
        if pending is not None:
            finish(*pending)
    finally:
        if bar is not None:
            bar.close()
    run_s = time.perf_counter() - t0

    # ---- divergence, shapes, meta
    diverged = np.zeros(n_runs, bool)
    for n, x in results.items():
        flat = x.reshape(n_runs, -1)
        if n.split("/")[-1] == "diverged_at":
            diverged |= (flat >= 0).any(axis=1)
        elif np.issubdtype(x.dtype, np.inexact):
            diverged |= ~np.isfinite(flat).all(axis=1)
    shape = tuple(len(v) for v in axes.values()) + (seeds,)
    metrics = {n: x.reshape(shape + x.shape[1:]) for n, x in results.items()}
    import jaxlib

    import jaxnn
    meta = {
        "devices": n_dev, "processes": jax.process_count(), "platform": devs[0].platform,
        "chunk_size": K, "chunk_size_padded": K_pad, "n_chunks": n_chunks, "chunks_skipped": n_skipped,
        "n_configs": n_configs, "seeds": seeds, "n_runs": n_runs, "n_diverged": int(diverged.sum()),
        "n_configs_diverged": int(diverged.reshape(n_configs, seeds).any(axis=1).sum()),
        "memory_per_chunk_bytes": memory,
        "memory_budget": float(memory_budget if memory_budget is not None else _default_budget(devs[0])),
        "compile_s": t_compile, "run_s": run_s,
        "runs_per_s": runs_done / run_s if run_s > 0 and runs_done else None,
        "jax": jax.__version__, "jaxlib": jaxlib.__version__, "jaxnn": getattr(jaxnn, "__version__", "unknown"),
        "grid": identity["grid"], "key": identity["key"], "fingerprint": fingerprint, "provenance": prov,
    }
    res = SweepResult(axes=dict(axes), seeds=seeds, metrics=metrics, diverged=diverged.reshape(shape), meta=meta)
    if out_dir is not None and lead:
        res.save(out_dir)
    return res
