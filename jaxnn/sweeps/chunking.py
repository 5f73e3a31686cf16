"""How many runs go into one compiled call: a compile-free estimate of one run's working set, checked
against XLA's memory analysis, within a memory budget and (on a CPU) a cache-sized working set."""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["working_set_bytes", "runs_per_device", "balanced", "default_budget", "analysed_bytes",
           "cache_runs", "DEFAULT_MEMORY_BUDGET", "CPU_CHUNK_BYTES"]

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes per device for the chunks in flight (CPU; accelerators: 1/4 of memory)
# On a CPU, throughput falls once a chunk's working set leaves the cache, so the automatic chunk size keeps
# the working-set estimate of a chunk near this many bytes per device (the best chunk size measured by
# `python benchmarks/bench_sweep.py --chunks`).
CPU_CHUNK_BYTES = 24 * 2**20


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
    return _level_bytes(jaxpr)


@functools.lru_cache(maxsize=64)
def kept_working_set_bytes(jaxpr) -> int:
    """:func:`working_set_bytes` of a jaxpr that JAX's trace cache keeps (the adaptive searches' ``advance``),
    kept per jaxpr: a search traced before does not walk it again.  (Not for fresh jaxprs: the cache would keep
    them, and what they close over, alive.)"""
    return _level_bytes(jaxpr)


def _level_bytes(jaxpr) -> int:
    own, nested = 0, 0
    for e in jaxpr.eqns:
        for v in e.outvars:
            aval = getattr(v, "aval", None)
            if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                try:
                    own += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
                except TypeError:  # extended dtypes (PRNG keys)
                    own += math.prod(aval.shape) * 8
        for sub in _sub_jaxprs(e.params):
            nested = max(nested, _level_bytes(sub))
    return max(own, nested)


def analysed_bytes(mem) -> int | None:
    """Bytes of one compiled call from XLA's memory analysis (arguments + outputs + temporaries - aliases)."""
    if mem is None:
        return None
    return max(1, mem["argument"] + mem["output"] + mem["temp"] - mem["alias"])


def runs_per_device(per_run_bytes, ws_bytes, n_runs, n_dev, budget, platform) -> int:
    """Runs per device per chunk: as many as fit ``budget`` with two chunks in flight and, on a CPU, at
    most what keeps the working set near CPU_CHUNK_BYTES (throughput drops once it leaves the cache)."""
    r = -(-n_runs // n_dev)
    r = min(r, max(1, int(budget // (2 * max(1.0, per_run_bytes)))))
    if platform == "cpu":
        r = min(r, cache_runs(ws_bytes))
    return r


def cache_runs(ws_bytes) -> int:
    """Runs whose working sets (``ws_bytes`` each) together stay near CPU_CHUNK_BYTES (at least 1)."""
    return max(1, int(CPU_CHUNK_BYTES // max(1.0, ws_bytes)))


def default_budget(device) -> float:
    """Bytes per device for the chunks in flight: DEFAULT_MEMORY_BUDGET on a CPU, a quarter of an
    accelerator's memory."""
    if device.platform == "cpu":
        return float(DEFAULT_MEMORY_BUDGET)
    try:
        return 0.25 * float(device.memory_stats()["bytes_limit"])
    except Exception:
        return 4.0 * 2**30


def balanced(r, n_runs, n_dev) -> int:
    """Chunk size (a multiple of n_dev, at most r per device) that splits n_runs into equal chunks."""
    n_chunks = -(-n_runs // (r * n_dev))
    per_chunk = -(-n_runs // n_chunks)
    return -(-per_chunk // n_dev) * n_dev
