"""Benchmark: vmapped sweeps (jaxnn.sweep) against training the configurations one after another.

Side by side in one run (compile time excluded from every rate, reported separately):

1. digits, the 64-100-10 sigmoid network (squared error, full batch, 1258 training samples),
   8 init scales x 8 learning rates, 500 steps:
   * ``jaxnn.sweep`` (automatic chunk size),
   * a Python loop over one jitted single-configuration ``jaxnn.train`` (compiled once),
   * scikit-learn ``MLPClassifier`` (logistic hidden units, full-batch SGD without momentum, 500 epochs;
     its loss is cross-entropy, the closest it offers), timed on a sample of fits and scaled to 64.
   The sweep's matmul GFLOP/s (2 m (2 s1 s2 + 3 s2 s3) per step and run: forward, dW and delta of
   the backward pass) is reported as a fraction of the float32 matmul peak measured in the same run.
2. XOR, the 2-3-1 network, 4096 configurations (64 scales x 64 learning rates) x 2000 steps:
   ``jaxnn.sweep`` vs the sequential jitted loop and scikit-learn (both timed on a sample of runs).

On a CPU the script makes one JAX device per core (``--xla_force_host_platform_device_count``, set
before jax is imported; ``--cpu-devices 1`` to turn it off): the sweep shards its configurations over
them, which is how it uses every core.  The sweep is also timed on one device.  The sequential loop
and scikit-learn run as they normally do.
3. Memory: the peak resident memory (ru_maxrss) of a fresh process that sweeps 4096 configurations of
   the digits network (a few steps: memory, not time), against the 2 GB target.

    python benchmarks/bench_sweep.py               # default run (~3 minutes on 2 cores)
    python benchmarks/bench_sweep.py --quick       # smaller sizes, a smoke test
    python benchmarks/bench_sweep.py --chunks      # digits: throughput against the chunk size
    python benchmarks/bench_sweep.py --no-sklearn  # e.g. on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

# One JAX CPU device per core (must be set before jax is imported): jaxnn.sweep shards the
# configurations over devices, so on a CPU this is how a sweep uses every core.
if __name__ == "__main__":
    one_device_per_core(sys.argv)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxnn  # noqa: E402
from benchmarks.common import block, machine, matmul_peak_gflops, peak_size, table  # noqa: E402
from jaxnn import datasets  # noqa: E402
from jaxnn.sweep import sweep  # noqa: E402

SIZES = [64, 100, 10]


def digits_problem():
    """The digits training split; without scikit-learn (a bare GPU machine) random data of the same
    shape (1258 x 64 in [0, 1], 10 classes): the speed is the same, the numbers are not digits."""
    try:
        d = datasets.digits(jax.random.key(0))
    except ImportError:
        print("(scikit-learn not installed: random data of the digits' shape instead of the digits)")
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, 1258).astype(np.int32)
        return jnp.asarray(rng.random((1258, 64), np.float32)), jaxnn.encode_labels(y, 10, "sigmoid"), y
    return d["X_train"], d["Y_train"], np.asarray(d["y_train"])


def matmul_flops_per_run(m, sizes, steps):
    s1, s2, s3 = sizes
    return 2.0 * m * (2 * s1 * s2 + 3 * s2 * s3) * (steps + 1)


def make_run(X, Y, sizes, steps):
    def run(key, scale, lr):
        params = jaxnn.init_mlp(key, sizes, scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=steps, activation="sigmoid")
        return {"final_loss": hist["loss"][-1], "diverged_at": hist["diverged_at"]}
    return run


def time_sweep(run, grid, chunk_size=None, repeats=0, devices=None):
    """(seconds, compile seconds, result) of a sweep.  The first call compiles: its run time (the
    host loop over chunks, ``meta["run_s"]``) counts, its compile time is reported apart; with
    ``repeats`` further calls the fastest wall time of all is taken."""
    kw = dict(key=jax.random.key(0), chunk_size=chunk_size, progress=False, devices=devices)
    res = sweep(run, grid, **kw)
    best, compile_s = res.meta["run_s"], res.meta["compile_s"]
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = sweep(run, grid, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, compile_s, res


def time_sequential(run, configs, n_sample=None):
    """Seconds per configuration of a Python loop over a jitted single run (compiled once, excluded)."""
    f = jax.jit(run)
    key = jax.random.key(0)
    t0 = time.perf_counter()
    block(f(key, *configs[0]))
    compile_s = time.perf_counter() - t0
    sample = configs if n_sample is None else configs[:: max(1, len(configs) // n_sample)][:n_sample]
    t0 = time.perf_counter()
    for c in sample:
        block(f(key, *c))
    return (time.perf_counter() - t0) / len(sample), compile_s, len(sample)


def time_sklearn(X, y, hidden, lrs, max_iter, n_fits):
    """Seconds per fit of scikit-learn's MLPClassifier, full-batch SGD (no momentum), on n_fits lrs."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    lrs = list(lrs)[:: max(1, len(lrs) // n_fits)][:n_fits]
    t0 = time.perf_counter()
    for lr in lrs:
        clf = MLPClassifier(hidden_layer_sizes=hidden, activation="logistic", solver="sgd", alpha=0.0,
                            batch_size=X.shape[0], learning_rate_init=float(lr), momentum=0.0,
                            nesterovs_momentum=False, max_iter=max_iter, shuffle=False, tol=0.0,
                            n_iter_no_change=max_iter + 1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
    return (time.perf_counter() - t0) / len(lrs), len(lrs)


def sweep_rows(run, grid, n, flops, peak, repeats=0):
    """Table rows of the sweep on every device (first row: the reference) and, when there are
    several, on one device."""
    rows = []
    devsets = [None] + ([jax.devices()[:1]] if len(jax.devices()) > 1 else [])
    for devs in devsets:
        t, c, res = time_sweep(run, grid, devices=devs, repeats=repeats)
        nd = res.meta["devices"]
        row = {"method": f"jaxnn.sweep, {nd} {jax.devices()[0].platform} device{'s' if nd > 1 else ''} "
                         f"(chunk {res.meta['chunk_size']})", "seconds": t, "configs/s": n / t,
               "vs sweep": t / rows[0]["seconds"] if rows else 1.0, "compile s": c, "_res": res}
        if flops:
            row.update({"matmul GFLOP/s": flops / t / 1e9, "% of peak": 100 * flops / t / 1e9 / peak})
        rows.append(row)
    for r in rows[1:]:
        r.pop("_res")
    return rows


def bench_digits(a, peak):
    X, Y, y = digits_problem()
    m = X.shape[0]
    scales = np.logspace(-3, 0, a.digits_grid)
    lrs = np.logspace(-1, 1.5, a.digits_grid)
    grid = {"scale": scales, "lr": lrs}
    run = make_run(X, Y, SIZES, a.steps)
    n = len(scales) * len(lrs)
    flops = matmul_flops_per_run(m, SIZES, a.steps) * n
    rows = sweep_rows(run, grid, n, flops, peak)
    t_sweep = rows[0]["seconds"]
    res = rows[0].pop("_res")
    configs = [(jnp.float32(s), jnp.float32(lr)) for s in scales for lr in lrs]
    per_seq, c_seq, n_seq = time_sequential(run, configs, None if a.seq_sample is None else a.seq_sample)
    t_seq = per_seq * n
    rows += [{"method": "sequential jitted jaxnn.train" + (f" ({n_seq} timed)" if n_seq < n else ""),
             "seconds": t_seq, "configs/s": n / t_seq, "matmul GFLOP/s": flops / t_seq / 1e9,
             "% of peak": 100 * flops / t_seq / 1e9 / peak, "vs sweep": t_seq / t_sweep, "compile s": c_seq}]
    if not a.no_sklearn:
        per_fit, n_fit = time_sklearn(np.asarray(X), y, (SIZES[1],), lrs, a.steps, a.sklearn_fits)
        t_sk = per_fit * n
        rows.append({"method": f"scikit-learn MLPClassifier ({n_fit} fits timed, x{n // n_fit})", "seconds": t_sk,
                     "configs/s": n / t_sk, "matmul GFLOP/s": flops / t_sk / 1e9,
                     "% of peak": 100 * flops / t_sk / 1e9 / peak, "vs sweep": t_sk / t_sweep, "compile s": 0.0})
    print(f"\n### digits {SIZES}, {len(scales)} scales x {len(lrs)} lrs = {n} configurations, {a.steps} steps, "
          f"m={m}\n")
    print(table(rows, ["method", "seconds", "configs/s", "matmul GFLOP/s", "% of peak", "vs sweep", "compile s"]))
    print(f"\n('vs sweep' = that method's time / the sweep's time; {res.n_diverged} runs diverged)")
    if not a.no_sklearn:
        sk = rows[-1]["% of peak"]
        print(f"Ceiling: scikit-learn runs at {sk:.1f}% of the matmul peak, so a sweep at 100% of the peak would be "
              f"{100 / sk:.2f}x scikit-learn; 6x needs {6 * sk:.0f}% of the peak (the sweep: "
              f"{rows[0]['% of peak']:.0f}%).")
    return rows


def bench_xor(a):
    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    side = int(round(np.sqrt(a.xor_configs)))
    scales, lrs = np.logspace(-2, 1, side), np.logspace(-1, 1.5, side)
    run = make_run(X, Y, [2, 3, 1], a.xor_steps)
    n = side * side
    rows = sweep_rows(run, {"scale": scales, "lr": lrs}, n, None, None, repeats=1)
    t_sweep = rows[0]["seconds"]
    res = rows[0].pop("_res")
    configs = [(jnp.float32(s), jnp.float32(lr)) for s in scales for lr in lrs]
    per_seq, c_seq, n_seq = time_sequential(run, configs, a.xor_seq_sample)
    rows += [{"method": f"sequential jitted jaxnn.train ({n_seq} timed, x{n / n_seq:.0f})", "seconds": per_seq * n,
             "configs/s": 1 / per_seq, "vs sweep": per_seq * n / t_sweep, "compile s": c_seq}]
    if not a.no_sklearn:
        y = np.array([0, 1, 1, 0])
        per_fit, n_fit = time_sklearn(np.asarray(X), y, (3,), lrs, a.xor_steps, a.sklearn_fits)
        rows.append({"method": f"scikit-learn MLPClassifier ({n_fit} fits timed, x{n // n_fit})",
                     "seconds": per_fit * n, "configs/s": 1 / per_fit, "vs sweep": per_fit * n / t_sweep,
                     "compile s": 0.0})
    print(f"\n### XOR [2, 3, 1], {n} configurations x {a.xor_steps} steps\n")
    print(table(rows, ["method", "seconds", "configs/s", "vs sweep", "compile s"]))
    print(f"\n({res.n_diverged} of {n} runs diverged)")
    return rows


def bench_chunks(a, peak):
    X, Y, _ = digits_problem()
    scales, lrs = np.logspace(-3, 0, 8), np.logspace(-1, 1.5, 8)
    run = make_run(X, Y, SIZES, a.steps)
    n = 64
    flops = matmul_flops_per_run(X.shape[0], SIZES, a.steps) * n
    configs = [(jnp.float32(s), jnp.float32(lr)) for s in scales for lr in lrs]
    per_seq, _, _ = time_sequential(run, configs, 16)
    rows = []
    for k in [1, 2, 4, 8, 16, 32, 64]:
        t, c, res = time_sweep(run, {"scale": scales, "lr": lrs}, chunk_size=k)
        rows.append({"chunk size": k, "seconds": t, "configs/s": n / t, "% of peak": 100 * flops / t / 1e9 / peak,
                     "vs sequential": per_seq * n / t, "XLA bytes/chunk": res.meta["memory_per_chunk_bytes"],
                     "compile s": c})
        print(rows[-1], flush=True)
    t, c, res = time_sweep(run, {"scale": scales, "lr": lrs})
    rows.append({"chunk size": f"auto ({res.meta['chunk_size']})", "seconds": t, "configs/s": n / t,
                 "% of peak": 100 * flops / t / 1e9 / peak, "vs sequential": per_seq * n / t,
                 "XLA bytes/chunk": res.meta["memory_per_chunk_bytes"], "compile s": c})
    print(f"\n### digits {SIZES}, 64 configurations x {a.steps} steps, by chunk size "
          f"(sequential loop: {per_seq * 1e3:.0f} ms per configuration)\n")
    print(table(rows, ["chunk size", "seconds", "configs/s", "% of peak", "vs sequential", "XLA bytes/chunk",
                       "compile s"]))
    return rows


def memory_child(n_configs, steps):
    """Run in a fresh process: sweep n_configs digits configurations, print the peak RSS."""
    X, Y, _ = digits_problem()
    side = int(round(np.sqrt(n_configs)))
    res = sweep(make_run(X, Y, SIZES, steps), {"scale": np.logspace(-3, 0, side), "lr": np.logspace(-1, 1.5, side)},
                key=jax.random.key(0), progress=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"configs": res.meta["n_runs"], "chunk_size": res.meta["chunk_size"],
                      "chunks": res.meta["n_chunks"], "peak_rss_bytes": rss,
                      "xla_bytes_per_chunk": res.meta["memory_per_chunk_bytes"], "run_s": res.meta["run_s"]}))


def bench_memory(a):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", str(a.memory_configs),
                          "--memory-steps", str(a.memory_steps)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(f"\nmemory check failed:\n{out.stderr[-2000:]}")
        return None
    r = json.loads(out.stdout.strip().splitlines()[-1])
    gb = r["peak_rss_bytes"] / 1e9
    print(f"\n### memory: {r['configs']} digits configurations ({a.memory_steps} steps) in {r['chunks']} chunks of "
          f"{r['chunk_size']}: peak RSS of the whole process {gb:.2f} GB "
          f"({'within' if gb <= 2.0 else 'ABOVE'} the 2 GB target); XLA bytes per chunk "
          f"{r['xla_bytes_per_chunk'] / 2**20:.1f} MiB")
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    p.add_argument("--chunks", action="store_true", help="only: digits throughput against the chunk size")
    p.add_argument("--steps", type=int, default=500, help="digits steps (default 500)")
    p.add_argument("--digits-grid", type=int, default=8, help="digits grid: N scales x N lrs (default 8)")
    p.add_argument("--seq-sample", type=int, default=None, help="time only this many sequential digits runs")
    p.add_argument("--xor-configs", type=int, default=4096)
    p.add_argument("--xor-steps", type=int, default=2000)
    p.add_argument("--xor-seq-sample", type=int, default=64, help="sequential XOR runs timed (default 64)")
    p.add_argument("--sklearn-fits", type=int, default=8, help="scikit-learn fits timed per problem (default 8)")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--cpu-devices", type=int, default=os.cpu_count(),
                   help="JAX CPU devices (one per core by default; set before jax is imported)")
    p.add_argument("--memory-configs", type=int, default=4096)
    p.add_argument("--memory-steps", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the tables to this JSON file")
    a = p.parse_args(argv)
    if a.memory_child is not None:
        return memory_child(a.memory_child, a.memory_steps)
    if a.quick:
        a.steps, a.seq_sample, a.xor_configs, a.xor_steps = 100, 16, 1024, 500
        a.xor_seq_sample, a.sklearn_fits, a.memory_configs = 16, 2, 1024
    print(machine() + f", {len(jax.devices())} JAX devices")
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (jnp.dot {peak_size()}^2, same run): {peak:.1f} GFLOP/s")
    out = {"machine": machine(), "peak_gflops": peak}
    if a.chunks:
        out["chunks"] = bench_chunks(a, peak)
    else:
        out["digits"] = bench_digits(a, peak)
        out["xor"] = bench_xor(a)
        if not a.no_memory:
            out["memory"] = bench_memory(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2, default=str)
    return out


if __name__ == "__main__":
    main()
