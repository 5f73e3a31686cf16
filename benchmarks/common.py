"""Shared helpers for the benchmarks: timing, the machine's float32 matmul peak, table printing.

Benchmarks are scripts (``python benchmarks/bench_*.py``), never timed unit tests.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

# Benchmarks time cold compiles: jaxnn's default persistent compilation cache would turn a second run's
# compiles into cache loads (set JAXNN_COMPILATION_CACHE yourself to measure with it).
os.environ.setdefault("JAXNN_COMPILATION_CACHE", "0")


def block(x):
    """Wait for every array in a pytree."""
    return jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x)


def best_time(fn: Callable[[], object], repeats: int = 5, min_time: float = 0.0) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` calls (each result blocked on)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def peak_size() -> int:
    """Matrix size of the peak measurement: 2048 on CPU; 8192 on an accelerator, where 2048 is too
    small to fill the device (an H100 reaches a quarter of its float32 peak on 2048 x 2048)."""
    return 2048 if jax.default_backend() == "cpu" else 8192


def matmul_peak_gflops(n: int | None = None, dtype=jnp.float32, repeats: int = 10) -> float:
    """Measured float32 matmul throughput of the default JAX device with a large ``jnp.dot``
    (GFLOP/s, 2 n^3 FLOPs per product; ``n`` defaults to :func:`peak_size`).  This is the 'peak'
    that fractions are reported against (JAX's default precision: TF32 on recent NVIDIA GPUs)."""
    n = n or peak_size()
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), dtype)
    b = jax.random.normal(k2, (n, n), dtype)
    f = jax.jit(jnp.dot)
    block(f(a, b))
    t = best_time(lambda: f(a, b), repeats)
    return 2 * n**3 / t / 1e9


def machine() -> str:
    d = jax.devices()[0]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
            f"device {d.platform}:{getattr(d, 'device_kind', '')}")


def table(rows: list[dict], cols: list[str]) -> str:
    """A Markdown table of ``rows`` (dicts) over ``cols``; floats printed with 3 significant digits."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def numpy_threads_note() -> str:
    try:
        from threadpoolctl import threadpool_info
        info = [f"{i.get('internal_api')}:{i.get('num_threads')}:{i.get('architecture', '')}"
                for i in threadpool_info()]
        return "NumPy BLAS " + ", ".join(info)
    except Exception:
        return "NumPy BLAS: unknown (threadpoolctl not installed)"


if __name__ == "__main__":
    print(machine())
    print(f"float32 matmul peak: {matmul_peak_gflops():.1f} GFLOP/s")
    print(np.__version__)
