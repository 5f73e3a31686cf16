"""``sweep`` and ``run_table``: the executor, the spaces, the store and the results composed.

``sweep(fn, space, key=..., seeds=S)`` resolves the space to N trials (sampled on the host from the key),
groups them by their static values (one compiled function per group), runs every trial x seed through the
executor (chunked, sharded over every device of every process, resumable from ``out_dir``), reads each
run's status from what ``fn`` declares, and returns a :class:`SweepResult` in trial order.

``run_table(fn, rows, key=...)`` is the executor without a space or a store: N per-run rows of arrays
(any pytree with a leading axis N), for callers that build their own table (``MLPGridSearchCV``).

Randomness: seed s uses the key ``jax.random.fold_in(key, s)`` in EVERY trial (common random numbers):
differences between trials are not differences between initial draws, and a trial's result does not depend
on what else is in the sweep.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import time
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate
from jaxnn.sweeps import executor, status, store
from jaxnn.sweeps.chunking import analysed_bytes, default_budget
from jaxnn.sweeps.directions import check_directions
from jaxnn.sweeps.distributed import broadcast, init_distributed, is_lead
from jaxnn.sweeps.provenance import code_hash, provenance, versions
from jaxnn.sweeps.results import SweepResult
from jaxnn.sweeps.spaces import Design, as_space

__all__ = ["sweep", "run_table", "TableResult", "check_key", "grid_configs"]

ProgressLike = Union[None, bool, Callable[[int, int], Any]]


# --- checks, before any compute ------------------------------------------------------------------

def check_key(key):
    """``(key, impl)`` of a single PRNG key (typed, or a raw uint32 ``PRNGKey``; ``impl`` None for raw keys)."""
    validate.check_key("key", key)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key, jax.random.key_impl(key)
    return key, None


def _lead_parameters(fn, names, with_data: bool):
    """Name what fn lacks to be called as ``fn(key, [data,] **hp)``: a parameter before the
    hyperparameters for the key (and for ``data=``).  None when it has them (or *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature available (builtins): let tracing tell
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    hp = ", ".join(f"{n}" for n in names)
    sig = f"{getattr(fn, '__name__', 'fn')}{inspect.signature(fn)}"
    if not positional or positional[0] in names:
        return (f"fn: expected fn(key, {'data, ' if with_data else ''}{hp}): the first argument is the run's PRNG "
                f"key, but {sig} has no parameter for it; add one first: def fn(key, "
                f"{'data, ' if with_data else ''}{hp})")
    if with_data and (len(positional) < 2 or positional[1] in names):
        return (f"fn: data= was given, so fn is called as fn(key, data, {hp}), but {sig} has no data parameter; "
                f"add one second (def fn(key, data, {hp})) or leave data= out")
    return None


def _check_fn(fn, names, with_data: bool):
    if not callable(fn):
        raise ValueError(f"fn: expected a callable fn(key, **hyperparameters), got {fn!r:.120}")
    problem = _lead_parameters(fn, names, with_data)
    if problem:
        raise ValueError(problem)
    lead = (None,) if not with_data else (None, None)
    try:
        inspect.signature(fn).bind(*lead, **{n: None for n in names})
    except TypeError as e:
        head = "key" if not with_data else "key, data"
        raise ValueError(f"fn: cannot be called as fn({head}, {', '.join(f'{n}=...' for n in names)}): {e}") from None
    except ValueError:  # no signature available (builtins): let tracing tell
        pass


def _check_options(seeds, chunk_size, memory_budget, progress):
    seeds = validate.check_int("seeds", seeds, minimum=1)
    if chunk_size is not None:
        chunk_size = validate.check_int("chunk_size", chunk_size, minimum=1)
    if memory_budget is not None:
        validate.check_scalar("memory_budget", memory_budget, positive=True)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ValueError(f"progress: expected None, True, False or a callable(done, total), got {progress!r}")
    return seeds, chunk_size


def _seed_keys(key, impl, seeds) -> np.ndarray:
    """(seeds, ...) raw key data: seed s is ``fold_in(key, s)``."""
    return np.stack([np.asarray(jax.random.key_data(jax.random.fold_in(key, s)) if impl is not None
                                else jax.random.fold_in(key, s)) for s in range(seeds)])


def _traced(col: np.ndarray) -> np.ndarray:
    """A host column in the dtype its traced value gets: bool, int32, or JAX's default float."""
    if col.dtype.kind == "b":
        return col
    if col.dtype.kind in "iu":
        return col.astype(np.int32)
    return col.astype(jnp.result_type(float))


def grid_configs(grid) -> dict:
    """The cartesian product of ``grid`` in row-major order (first axis slowest): ``{name: (n,) array}``."""
    return dict(as_space(grid).resolve().values)


# --- one group: a job, its table and its chunks ----------------------------------------------------

class _Group(NamedTuple):
    job: executor.Job
    rows: Any           # host pytree, leading axis n_runs
    kd: np.ndarray      # (n_runs, ...) key data
    runs: np.ndarray    # the runs' positions in the whole sweep's run order
    static: dict


def _plan(groups, mesh, chunk_size, stored, memory_budget, closed):
    """Chunk size (and compile seconds spent finding it) of every group."""
    sizes, t = [], 0.0
    for g, grp in enumerate(groups):
        if chunk_size is not None:
            sizes.append(chunk_size)
        elif stored is not None:
            sizes.append(stored[g])
        else:
            K, dt = executor.plan_chunk_size(grp.job, len(grp.runs), mesh, memory_budget, closed[g])
            sizes.append(K)
            t += dt
    return sizes, t


def _out_leaves(groups, entries, shapes):
    """``[(leaf name, ShapeDtypeStruct of one run)]``, the same for every group (else a clear error)."""
    out = None
    for grp, entry, shape in zip(groups, entries, shapes):
        if shape is None:
            shape = jax.tree_util.tree_map(lambda l: jax.ShapeDtypeStruct(l.shape[1:], l.dtype), entry["out_info"])
        leaves = [(executor.leaf_name(p), jax.ShapeDtypeStruct(x.shape, x.dtype))
                  for p, x in jax.tree_util.tree_flatten_with_path(shape)[0]]
        names = [n for n, _ in leaves]
        if len(set(names)) != len(names):
            raise ValueError(f"fn: output leaves must have distinct names, got {names}")
        if out is None:
            out, first = leaves, grp.static
        elif [(n, x.shape, x.dtype) for n, x in leaves] != [(n, x.shape, x.dtype) for n, x in out]:
            raise ValueError(f"fn: every static value must give outputs of the same names, shapes and dtypes (a result "
                             f"holds one array per output); {first} gave {[(n, x.shape) for n, x in out]}, "
                             f"{grp.static} gave {[(n, x.shape) for n, x in leaves]}")
    return out


def _resume(groups, plans, results, out_dir, fingerprint) -> np.ndarray:
    """Fill ``results`` from the chunks finished in ``out_dir`` (read by process 0, broadcast to all);
    returns the done mask over all chunks."""
    done = np.zeros(sum(len(bounds) for _, bounds, _ in plans), bool)
    if is_lead():
        for g, (grp, (c0, bounds, _)) in enumerate(zip(groups, plans)):
            for c, (a, b) in enumerate(bounds):
                got = store.read_chunk(out_dir, c0 + c, a, b, fingerprint, group=g)
                if got is not None and set(got) == set(results) and all(
                        got[k].shape == results[k][grp.runs[a:b]].shape for k in results):
                    done[c0 + c] = True
                    for k in results:
                        results[k][grp.runs[a:b]] = got[k]
    done = broadcast(done)
    if done.any() and jax.process_count() > 1:
        idx = np.concatenate([grp.runs[a:b] for grp, (c0, bounds, _) in zip(groups, plans)
                              for c, (a, b) in enumerate(bounds) if done[c0 + c]])
        got = broadcast({k: results[k][idx] for k in results})
        for k in results:
            results[k][idx] = got[k]
    return done


def _chunk_plans(groups, sizes, n_dev) -> list:
    """``[(first chunk index, [(start, stop), ...], padded chunk size)]`` of every group."""
    plans, c0 = [], 0
    for grp, K in zip(groups, sizes):
        n = len(grp.runs)
        bounds = [(c * K, min(n, (c + 1) * K)) for c in range(-(-n // K))]
        plans.append((c0, bounds, -(-K // n_dev) * n_dev))
        c0 += len(bounds)
    return plans


def _compile(grp, mesh, K_pad) -> tuple:
    """``(entry, compile seconds)``: 0 when the executor's cache held it."""
    entry, fresh = executor.compile_job(grp.job, mesh, K_pad)
    return entry, entry["compile_s"] if fresh else 0.0


def _check_directions(directions, leaves) -> None:
    """Every declared direction names an output leaf of ``fn`` (before any run)."""
    names = [n for n, _ in leaves]
    unknown = sorted(set(directions or ()) - set(names))
    if unknown:
        raise ValueError(f"directions: {unknown} are not outputs of fn; it returns {names}")


def _progress_bar(progress, n_chunks, n_skipped):
    if not ((sys.stderr.isatty() if progress is None else progress is True) and is_lead()):
        return None
    from jaxnn.datasets import require
    return require("tqdm").tqdm(total=n_chunks, initial=n_skipped, unit="chunk", desc="sweep", file=sys.stderr)


def _chunk_sink(results, out_dir, fingerprint, progress, bar, counter, n_chunks, t0):
    """``sink(grp, g, c0, bounds) -> on_chunk(c, out)``: each finished chunk into ``results`` (and ``out_dir``),
    counted, shown."""
    def sink(grp, g, c0, bounds):
        def on_chunk(c, out):
            a, b = bounds[c]
            for k in results:
                results[k][grp.runs[a:b]] = out[k]
            if out_dir is not None and is_lead():
                store.write_chunk(out_dir, c0 + c, a, b, fingerprint, out, group=g)
            counter["runs"] += b - a
            counter["chunks"] += 1
            if bar is not None:
                bar.set_postfix_str(f"{counter['runs'] / (time.perf_counter() - t0):.1f} configs/s", refresh=False)
                bar.update(1)
            if callable(progress) and not isinstance(progress, bool) and is_lead():
                progress(counter["chunks"], n_chunks)
        return on_chunk
    return sink


def _run(groups, mesh, sizes, *, data, out_dir=None, fingerprint=None, identity=None, old=None, prov=None,
         progress=None, shapes=None, directions=None):
    """Execute every group's chunks (skipping those finished in ``out_dir``); returns
    ``(results {leaf: (n_runs, ...)}, meta pieces)``."""
    plans = _chunk_plans(groups, sizes, mesh.devices.size)
    n_chunks, n_runs = sum(len(p[1]) for p in plans), sum(len(g.runs) for g in groups)
    done = np.zeros(n_chunks, bool)
    t_compile, entries = 0.0, [None] * len(groups)
    if shapes is None or any(s is None for s in shapes):
        for g, (grp, (_, _, K_pad)) in enumerate(zip(groups, plans)):
            entries[g], dt = _compile(grp, mesh, K_pad)
            t_compile += dt
    leaves = _out_leaves(groups, entries, shapes or [None] * len(groups))
    _check_directions(directions, leaves)
    results = {n: np.zeros((n_runs,) + tuple(x.shape), x.dtype) for n, x in leaves}
    if out_dir is not None:
        done = _resume(groups, plans, results, out_dir, fingerprint)
        store.write_manifest(out_dir, identity, fingerprint, n_runs, n_chunks, prov, old)
    n_skipped = int(done.sum())
    if n_skipped and is_lead():
        print(f"jaxnn.sweep: resuming in {out_dir}: skipped {n_skipped} of {n_chunks} finished chunks",
              file=sys.stderr, flush=True)
    bar = _progress_bar(progress, n_chunks, n_skipped)
    counter = {"runs": 0, "chunks": n_skipped}
    shared = None if done.all() else executor.replicate(data, mesh)
    t0 = time.perf_counter()
    sink = _chunk_sink(results, out_dir, fingerprint, progress, bar, counter, n_chunks, t0)
    memory = None
    try:
        for g, (grp, (c0, bounds, K_pad)) in enumerate(zip(groups, plans)):
            if done[c0:c0 + len(bounds)].all():
                continue
            if entries[g] is None:
                entries[g], dt = _compile(grp, mesh, K_pad)
                t_compile += dt
            memory = max(memory or 0, analysed_bytes(entries[g]["memory"]) or 0) or None
            executor.execute(entries[g], K_pad, grp.rows, grp.kd, bounds, mesh, shared=shared,
                             skip=done[c0:c0 + len(bounds)], on_chunk=sink(grp, g, c0, bounds))
    finally:
        if bar is not None:
            bar.close()
    run_s = time.perf_counter() - t0
    meta = {"chunk_size": max(sizes), "chunk_size_padded": max(p[2] for p in plans), "n_chunks": n_chunks,
            "chunks_skipped": n_skipped, "memory_per_chunk_bytes": memory, "compile_s": t_compile, "run_s": run_s,
            "runs_per_s": counter["runs"] / run_s if run_s > 0 and counter["runs"] else None}
    return results, meta


def _common_meta(mesh, n_runs, st, memory_budget) -> dict:
    devs = list(mesh.devices.flat)
    v = versions()
    return {"devices": len(devs), "processes": jax.process_count(), "platform": devs[0].platform, "n_runs": n_runs,
            "n_ok": int((st == status.OK).sum()), "n_diverged": int((st == status.DIVERGED).sum()),
            "n_invalid": int((st == status.INVALID).sum()),
            "memory_budget": float(memory_budget if memory_budget is not None else default_budget(devs[0])),
            "jax": v["jax"], "jaxlib": v["jaxlib"], "jaxnn": v["jaxnn"]}


# --- run_table: the executor over a caller's table ---------------------------------------------------

class TableResult(NamedTuple):
    """What :func:`run_table` returns: ``leaves`` ``{name: (n, seeds, ...)}``, ``status`` (n, seeds) int8
    codes (:mod:`jaxnn.sweeps.status`), ``meta``."""

    leaves: dict
    status: np.ndarray
    meta: dict


def run_table(fn: Callable[..., Any], rows, *, key, seeds: int = 1, data=None, static: Optional[Mapping] = None,
              chunk_size: Optional[int] = None, memory_budget: Optional[float] = None, devices=None,
              progress: ProgressLike = False) -> TableResult:
    """Run ``fn(key_s, [data,] **static, **row_i)`` for every row i of a table and every seed s.

    Args:
      fn: the function of one run; returns a pytree of arrays (status leaves: :mod:`jaxnn.sweeps.status`).
      rows: ``{name: pytree of arrays with leading axis n}``: row i (the i-th slice of every leaf) is run i's
        traced arguments.
      key, seeds: seed s gets ``jax.random.fold_in(key, s)`` in every row.
      data: a pytree of arrays shared by every run (replicated).  static: ``{name: Python value}`` passed to
        every run (part of the compiled function's identity).
      chunk_size, memory_budget, devices, progress: as in :func:`sweep`.

    Returns:
      A :class:`TableResult`.
    """
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError(f"rows: expected a non-empty dict {{name: arrays with a leading run axis}}, got {rows!r:.120}")
    lens = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree_util.tree_leaves(rows)}
    if len(lens) != 1 or None in lens:
        raise ValueError(f"rows: expected every leaf to have the same leading (run) axis, got lengths {lens}")
    static = dict(static or {})
    _check_fn(fn, list(rows) + list(static), data is not None)
    seeds, chunk_size = _check_options(seeds, chunk_size, memory_budget, progress)
    executor.check_data(data, finite=False)
    key, impl = check_key(key)
    mesh = executor.mesh_of(devices)
    n = lens.pop()
    seed_kd = _seed_keys(key, impl, seeds)
    # row i's seeds are runs i * seeds .. i * seeds + seeds - 1 (one seed: the rows as they are, not a copy)
    host = jax.tree_util.tree_map(lambda x: np.asarray(x) if seeds == 1 else np.repeat(np.asarray(x), seeds, axis=0),
                                  rows)
    kd = np.tile(seed_kd, (n,) + (1,) * (seed_kd.ndim - 1))
    grp = _Group(executor.make_job(fn, host, kd, impl, data, static), host, kd, np.arange(n * seeds), static)
    sizes, t_plan = _plan([grp], mesh, chunk_size, None, memory_budget, [None])
    results, meta = _run([grp], mesh, sizes, data=data, progress=progress)
    meta["compile_s"] += t_plan
    st = status.run_status(results)
    results = status.mask_invalid(results, st)
    meta.update(_common_meta(mesh, n * seeds, st, memory_budget), n_rows=n, seeds=seeds)
    shaped = {k: x.reshape((n, seeds) + x.shape[1:]) for k, x in results.items()}
    return TableResult(shaped, st.reshape(n, seeds), meta)


# --- sweep -----------------------------------------------------------------------------------------------

def _groups(design: Design, seeds, seed_kd, fn, impl, data) -> list:
    out = []
    for statics, trials in design.groups():
        runs = (trials[:, None] * seeds + np.arange(seeds)).reshape(-1)
        rows = {k: np.repeat(_traced(design.values[k][trials]), seeds) for k in design.traced}
        kd = np.tile(seed_kd, (len(trials),) + (1,) * (seed_kd.ndim - 1))
        out.append(_Group(executor.make_job(fn, rows, kd, impl, data, statics), rows, kd, runs, statics))
    return out


def sweep(fn: Callable[..., Any], space, *, key, seeds: int = 1, data=None,
          chunk_size: Optional[int] = None, memory_budget: Optional[float] = None,
          out_dir: Optional[Union[str, os.PathLike]] = None, progress: ProgressLike = None,
          devices=None, coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
          process_id: Optional[int] = None, command: Optional[str] = None,
          directions: Optional[Mapping[str, str]] = None) -> SweepResult:
    """Run ``fn(key_s, [data,] **hyperparameters)`` for every trial of a search space and every seed, vmapped.

    Args:
      fn: ``fn(key, **hyperparameters) -> pytree of arrays`` (e.g. ``{"final_loss": (), "loss": (steps,),
        "diverged_at": ()}``); with ``data``, ``fn(key, data, **hyperparameters)``.  Traced hyperparameters
        arrive as traced scalars (float; int32 for integer values such as a fold index; bool), so ``fn`` must
        use them as arrays (no Python ``if`` on them); :func:`jaxnn.sweeps.static` ones as Python values.
        A run's status (ok, diverged, invalid) comes from its ``diverged_at`` / ``invalid`` outputs
        (:mod:`jaxnn.sweeps.status`).
      space: a :mod:`jaxnn.sweeps` space (``grid``, ``table``, ``random``, ``sobol``) or a dict
        ``{name: 1-D sequence of values}``, read as a grid (axes in the order given).
      key: a PRNG key; seed s gets ``jax.random.fold_in(key, s)``, the same in every trial.  Random and Sobol
        spaces are sampled from it too (on the host; the same key gives the same trials).
      seeds: number of seeds per trial (>= 1).
      data: optional pytree of arrays shared by every run (e.g. a dataset), an argument of the compiled
        function (replicated on every device, not batched), not a constant compiled into it, so a later sweep
        with the same ``fn`` and data of the same shapes reuses the compilation.  Its values are part of the
        identity checked by ``out_dir``.  With several processes, every process passes the same data.
      chunk_size: runs (trial x seed pairs) per compiled call; default: from a compile-free estimate of one
        run's working set (:func:`jaxnn.sweeps.working_set_bytes`) against ``memory_budget`` (and, on a CPU,
        the cache), checked with XLA's ``compiled.memory_analysis()``.  Padded to a multiple of the device count.
      memory_budget: bytes per device that the chunks in flight (two) may use, for the automatic chunk size;
        default 512 MiB on a CPU, a quarter of an accelerator's memory.
      out_dir: if given, every finished chunk is written there atomically, a rerun of the same sweep skips the
        finished chunks (also after ``kill -9``: identical results), and the final ``results.npz`` /
        ``results.csv`` / ``meta.json`` go there.  A directory holding a different sweep (space, seeds, key,
        chunk size, code or data) is refused.
      progress: ``None`` (a tqdm bar over chunks when stderr is a terminal), ``True``, ``False``, or a callable
        ``progress(chunks_done, chunks_total)`` called after each chunk.
      devices: devices to shard the runs over (default: ``jax.devices()``, every device of every process).
      coordinator_address, num_processes, process_id: join a multi-process run first (see
        :func:`jaxnn.init_distributed`); every process runs the same call, results are gathered to all and
        process 0 writes the files.  Joining is only possible before JAX starts, and a key made with
        ``jax.random.key`` starts it: call :func:`jaxnn.init_distributed` with these three before making the
        key (as ``experiments/sweep_init_lr.py`` does); here they serve a key given as raw ``uint32`` data
        (``np.array([0, 0], np.uint32)``), or a process that joined already.
      command: the command recorded in the provenance (default: ``sys.argv``).
      directions: ``{output name: "max" | "min"}``: which way each named output of ``fn`` is better, the
        declaration :meth:`SweepResult.best` ranks by (``res.best("acc")``; with one declared,
        ``res.best()``).  Stored with the result (saved, loaded, resumed).  Nothing is inferred from a
        name: ``best`` of an undeclared output needs ``mode=``.

    Returns:
      A :class:`SweepResult`: ``res[name]`` has shape ``(*trial_shape, seeds, *leaf_shape)`` where
      ``trial_shape`` is a grid's axis lengths or ``(n_trials,)``; ``res.coords`` (every hyperparameter per
      trial), ``res.status`` / ``res.diverged`` / ``res.invalid``, ``res.meta`` (``devices``, ``processes``,
      ``chunk_size``, ``n_runs``, ``n_trials``, ``n_diverged``, ``n_invalid``, ``groups``, ``compiles``,
      ``chunks_skipped``, ``compile_s``, ``run_s``, ``runs_per_s``, ``memory_per_chunk_bytes``, versions,
      provenance).
    """
    space = as_space(space)
    key, impl = check_key(key)
    design = space.resolve(key)
    _check_fn(fn, list(design.values), data is not None)
    seeds, chunk_size = _check_options(seeds, chunk_size, memory_budget, progress)
    executor.check_data(data)
    directions = check_directions(directions)
    init_distributed(coordinator_address, num_processes, process_id)
    mesh = executor.mesh_of(devices)
    compiles0 = executor.compile_count()
    groups = _groups(design, seeds, _seed_keys(key, impl, seeds), fn, impl, data)
    out_dir = None if out_dir is None else os.fspath(out_dir)
    identity, closed, shapes, old, stored = _identity(design, seeds, key, impl, groups, data, out_dir, chunk_size)
    sizes, t_plan = _plan(groups, mesh, chunk_size, stored, memory_budget, closed)
    identity["chunk_size"] = sizes
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    prov = provenance(command)
    results, meta = _run(groups, mesh, sizes, data=data, out_dir=out_dir, fingerprint=fingerprint,
                         identity=identity, old=old, prov=prov, progress=progress,
                         shapes=shapes if out_dir is not None else None, directions=directions)
    st = status.run_status(results)
    results = status.mask_invalid(results, st)
    meta.update(_common_meta(mesh, design.n * seeds, st, memory_budget))
    meta["compile_s"] += t_plan
    meta.update(n_configs=design.n, n_trials=design.n, seeds=seeds,
                n_configs_diverged=int((st.reshape(design.n, seeds) == status.DIVERGED).any(axis=1).sum()),
                compiles=executor.compile_count() - compiles0,
                groups=[{"static": g.static, "trials": len(g.runs) // seeds, "chunk_size": k}
                        for g, k in zip(groups, sizes)], directions=directions,
                space=identity["space"]["kind"], key=identity["key"], fingerprint=fingerprint, provenance=prov)
    res = _result(design, seeds, results, st, meta, identity["space"], directions)
    if out_dir is not None and is_lead():
        res.save(out_dir)
    return res


def _identity(design, seeds, key, impl, groups, data, out_dir, chunk_size):
    """The sweep's identity and, with ``out_dir``, its traced groups and the store's previous state
    (process 0 decides, everyone follows): ``(identity, closed, shapes, old, stored)``."""
    identity = {"space": design.describe(), "seeds": seeds,
                "key": np.asarray(jax.random.key_data(key) if impl is not None else key).tolist(),
                "key_impl": str(impl)}
    closed = shapes = [None] * len(groups)
    old = stored = None
    if out_dir is not None:
        traced = [executor.trace(g.job) for g in groups]
        closed, shapes = [c for c, _ in traced], [s for _, s in traced]
        identity["code"] = {json.dumps(g.static, sort_keys=True): code_hash(c, data) for g, c in zip(groups, closed)}
        identity["jaxnn_version"] = versions()["jaxnn"]
        old, stored = store.open_store(out_dir, identity, None if chunk_size is None else [chunk_size] * len(groups),
                                       len(groups))
    return identity, closed, shapes, old, stored


def _result(design, seeds, results, st, meta, space, directions) -> SweepResult:
    """The runs' flat outputs laid out over ``(*trial_shape, seeds)``."""
    shape = design.shape + (seeds,)
    if design.kind == "grid":
        meta["grid"] = {k: np.asarray(v).tolist() for k, v in design.axes.items()}
    return SweepResult(axes=dict(design.axes), seeds=seeds,
                       metrics={k: x.reshape(shape + x.shape[1:]) for k, x in results.items()},
                       diverged=(st == status.DIVERGED).reshape(shape), meta=meta,
                       coords={k: v.reshape(design.shape) for k, v in design.values.items()},
                       status=st.reshape(shape), space={k: space[k] for k in ("kind", "params", "static")},
                       directions=directions)
