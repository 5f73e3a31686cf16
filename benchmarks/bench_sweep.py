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
3. Memory: the peak resident memory (VmHWM, else ru_maxrss) of a fresh process that sweeps 4096 configurations of
   the digits network (a few steps: memory, not time), against the 2 GB target.
4. Random space vs grid at equal size (``--random-vs-grid``): the digits training of section 1 over a
   32 x 32 grid of (init scale, lr) and over a 1024-trial ``sweeps.random`` space of log-uniform scale and lr
   on the same ranges; configurations/s of both and their ratio (target: within 5%).
5. A static axis (``--static-axis``): ``sweeps.grid(hidden=sweeps.static([25, 50, 100]), scale=..., lr=...)``
   (one compilation per hidden size) against three separate sweeps, one per hidden size (the size fixed in
   fn); fresh fn objects, so no cache hides a compilation: compile counts (``meta["compiles"]``, target 3)
   and run seconds (target: no more than the three separate sweeps).
6. PyTorch (``--torch-vmap``): the 64 digits configurations of section 1 (lam = 1e-4 here, so the ridge
   term counts) trained with ``torch.func.vmap`` of ``torch.func.grad_and_value`` of the same objective over
   stacked parameters, from the same initial parameters, in chunks (the chunk size picked by a short
   calibration), against ``jaxnn.sweep`` on every device and on one, and a bare ``jit(vmap(fn))`` of the
   same fn.  torch runs with as many threads as cores.  The objectives are checked equal at step 0.

    python benchmarks/bench_sweep.py               # default run, every section (~12 minutes on 2 cores)
    python benchmarks/bench_sweep.py --quick       # smaller sizes, a smoke test
    python benchmarks/bench_sweep.py --chunks      # digits: throughput against the chunk size
    python benchmarks/bench_sweep.py --no-sklearn  # e.g. on a GPU machine
    python benchmarks/bench_sweep.py --random-vs-grid --static-axis --torch-vmap   # only these sections
    python benchmarks/bench_sweep.py --torch-vmap --torch-repeats 1   # best of 2 rounds (a busy machine)
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
from jaxnn import datasets, sweeps  # noqa: E402
from jaxnn.sweeps import sweep  # noqa: E402

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


def make_run(X, Y, sizes, steps, lam=0.0):
    """A fresh fn(key, scale, lr) of one digits/XOR training run (a new object each call: the sweep's
    compile cache is keyed by fn, so a fresh one compiles afresh)."""
    def run(key, scale, lr):
        params = jaxnn.init_mlp(key, sizes, scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=steps, lam=lam, activation="sigmoid")
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


# --- 4. random space vs grid at equal size ------------------------------------------------------------

SCALE_RANGE, LR_RANGE = (1e-3, 1.0), (1e-1, 10 ** 1.5)  # the digits grid's np.logspace ranges


def bench_random_vs_grid(a, peak):
    """A grid of side x side (scale, lr) against a random space of side^2 log-uniform trials on the same
    ranges: same fn (a fresh object each, so each compiles and its compile time is its own), same steps."""
    X, Y, _ = digits_problem()
    side = int(round(np.sqrt(a.random_trials)))
    n = side * side
    flops = matmul_flops_per_run(X.shape[0], SIZES, a.steps) * n
    spaces = [(f"jaxnn.sweep, grid {side} x {side}",
               {"scale": np.logspace(*np.log10(SCALE_RANGE), side), "lr": np.logspace(*np.log10(LR_RANGE), side)}),
              (f"jaxnn.sweep, sweeps.random({n}) log-uniform",
               sweeps.random(n, scale=sweeps.loguniform(*SCALE_RANGE), lr=sweeps.loguniform(*LR_RANGE)))]
    rows, fns = [], []
    for name, space in spaces:
        fns.append(make_run(X, Y, SIZES, a.steps))
        t, c, res = time_sweep(fns[-1], space)
        fl = np.asarray(res["final_loss"], np.float64)
        rows.append({"method": name, "seconds": t, "configs/s": n / t, "matmul GFLOP/s": flops / t / 1e9,
                     "% of peak": 100 * flops / t / 1e9 / peak, "compile s": c, "compiles": res.meta["compiles"],
                     "devices": res.meta["devices"], "chunk": f"{res.meta['chunk_size']} x {res.meta['n_chunks']}",
                     "diverged": res.n_diverged,
                     "best final loss": float(np.nanmin(fl)) if np.isfinite(fl).any() else np.nan})
        print(rows[-1], flush=True)
    # --random-repeats R: R more rounds, grid and random alternately (compiled), the fastest of each kept.
    for _ in range(a.random_repeats):
        for r, f, (_, space) in zip(rows, fns, spaces):
            r["seconds"] = min(r["seconds"], time_sweep(f, space)[0])
    for r in rows:
        t = r["seconds"]
        r.update({"configs/s": n / t, "matmul GFLOP/s": flops / t / 1e9, "% of peak": 100 * flops / t / 1e9 / peak,
                  "vs grid (configs/s)": rows[0]["seconds"] / t})
    ratio = rows[1]["configs/s"] / rows[0]["configs/s"]
    print(f"\n### random space vs grid: digits {SIZES}, {n} configurations x {a.steps} steps, m={X.shape[0]}\n")
    print(f"`python benchmarks/bench_sweep.py --random-vs-grid{' --quick' if a.quick else ''}"
          f"{'' if a.random_trials == 1024 or a.quick else f' --random-trials {a.random_trials}'}"
          f"{f' --random-repeats {a.random_repeats}' if a.random_repeats else ''}`"
          f" (seconds: fastest of {1 + a.random_repeats} alternating round{'s' if a.random_repeats else ''})\n")
    print(table(rows, ["method", "seconds", "configs/s", "vs grid (configs/s)", "matmul GFLOP/s", "% of peak",
                       "compile s", "compiles", "devices", "chunk", "diverged", "best final loss"]))
    print(f"\nrandom / grid configs/s = {ratio:.3f} (target: within 5%, i.e. >= 0.95: "
          f"{'met' if ratio >= 0.95 else 'NOT met'}); 'chunk' = chunk size x number of chunks")
    return rows


# --- 5. a static axis vs one sweep per value --------------------------------------------------------------

def make_static_run(X, Y, steps):
    """A fresh fn(key, hidden, scale, lr): ``hidden`` (static) sets the hidden layer's width."""
    def run(key, hidden, scale, lr):
        params = jaxnn.init_mlp(key, [X.shape[1], hidden, Y.shape[1]], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=steps, activation="sigmoid")
        return {"final_loss": hist["loss"][-1], "diverged_at": hist["diverged_at"]}
    return run


def bench_static(a):
    """``grid(hidden=static([...]), scale, lr)`` in one sweep against one sweep per hidden size.  Fresh fn
    objects for the first (compiling) pass; with ``--static-repeats R`` both are run R more times, alternately,
    with the same fns (compiled: nothing compiles) and the fastest run time of each is kept."""
    X, Y, _ = digits_problem()
    hs = [int(h) for h in a.static_hidden.split(",")]
    scales = np.logspace(*np.log10(SCALE_RANGE), a.static_grid)
    lrs = np.logspace(*np.log10(LR_RANGE), a.static_grid)
    n = len(hs) * len(scales) * len(lrs)
    space = sweeps.grid(hidden=sweeps.static(hs), scale=scales, lr=lrs)
    f_static = make_static_run(X, Y, a.steps)
    f_sep = [make_run(X, Y, [X.shape[1], h, Y.shape[1]], a.steps) for h in hs]
    kw = dict(key=jax.random.key(0), progress=False)
    best_static = best_sep = float("inf")
    for rep in range(1 + a.static_repeats):
        r = sweep(f_static, space, **kw)
        best_static = min(best_static, r.meta["run_s"])
        if rep == 0:
            res = r
        sep_r = [sweep(f, {"scale": scales, "lr": lrs}, **kw) for f in f_sep]
        best_sep = min(best_sep, sum(x.meta["run_s"] for x in sep_r))
        if rep == 0:
            sep = [x.meta for x in sep_r]
            diff = max(float(np.nanmax(np.abs(np.asarray(res["final_loss"][i]) - np.asarray(x["final_loss"])),
                                       initial=0.0)) for i, x in enumerate(sep_r))
    groups = ", ".join(f"{g['static']['hidden']}: {g['trials']} (chunk {g['chunk_size']})" for g in res.meta["groups"])
    rows = [{"method": f"one sweep, hidden=sweeps.static({hs})", "sweeps": 1, "compiles": res.meta["compiles"],
             "compile s": res.meta["compile_s"], "run s": best_static, "first run s": res.meta["run_s"],
             "groups (trials, chunk)": groups}]
    rows.append({"method": f"{len(hs)} separate sweeps, hidden fixed in fn", "sweeps": len(hs),
                 "compiles": sum(m["compiles"] for m in sep), "compile s": sum(m["compile_s"] for m in sep),
                 "run s": best_sep, "first run s": sum(m["run_s"] for m in sep),
                 "groups (trials, chunk)": ", ".join(f"{h}: {m['n_runs']} (chunk {m['chunk_size']})"
                                                     for h, m in zip(hs, sep))})
    for r in rows:
        r.update({"run s vs separate": r["run s"] / best_sep, "configs/s": n / r["run s"],
                  "total s": r["compile s"] + r["first run s"]})
    print(f"\n### static axis: digits [64, hidden, 10], hidden in {hs} x {len(scales)} scales x {len(lrs)} lrs = "
          f"{n} configurations x {a.steps} steps, {res.meta['devices']} devices, fresh fn objects\n")
    print(f"`python benchmarks/bench_sweep.py --static-axis{' --quick' if a.quick else ''}`"
          f" ('run s': fastest of {1 + a.static_repeats} alternating runs; 'total s': compile + first run)\n")
    print(table(rows, ["method", "sweeps", "compiles", "compile s", "run s", "run s vs separate", "first run s",
                       "total s", "configs/s", "groups (trials, chunk)"]))
    ok_c = rows[0]["compiles"] == len(hs)
    print(f"\ncompiles of the static sweep: {rows[0]['compiles']} (target {len(hs)}: {'met' if ok_c else 'NOT met'}); "
          f"run time {rows[0]['run s vs separate']:.3f}x the separate sweeps' (target <= 1: "
          f"{'met' if rows[0]['run s vs separate'] <= 1 else 'NOT met'}); max |final loss difference| between "
          f"the two: {diff:.3g}")
    return rows


# --- 6. PyTorch: torch.func.vmap over stacked parameters --------------------------------------------------

def torch_problem(X, Y, params, lam):
    """The torch side: tensors of X, Y, the stacked initial params (from jaxnn's init, so both start equal)
    and the vmapped ``grad_and_value`` of the lecture's objective (squared error + lam/2 ridge, sigmoid,
    full batch; row layout: torch's vmap folds the configurations into one matmul with the shared X)."""
    import torch
    from torch.func import grad_and_value, vmap

    Xt, Yt = torch.from_numpy(np.array(X)), torch.from_numpy(np.array(Y))  # writable copies
    m = Xt.shape[0]

    def objective(W1, b1, W2, b2, X, Y):
        A1 = torch.sigmoid(X @ W1.T + b1)
        H = torch.sigmoid(A1 @ W2.T + b2)
        return 0.5 * ((H - Y) ** 2).sum() / m + 0.5 * lam * ((W1 ** 2).sum() + (W2 ** 2).sum())

    stacked = [torch.from_numpy(np.array(params[l][k])) for l in range(2) for k in ("W", "b")]
    gv = vmap(grad_and_value(objective, argnums=(0, 1, 2, 3)), in_dims=(0, 0, 0, 0, None, None))
    loss = vmap(objective, in_dims=(0, 0, 0, 0, None, None))
    return Xt, Yt, stacked, gv, loss


def torch_train(stacked, lrs, Xt, Yt, gv, loss, steps, chunk):
    """Train the stacked configurations in chunks of ``chunk`` (one after another), ``steps`` full-batch
    gradient steps each; returns (seconds, final objective per configuration)."""
    import torch

    n = stacked[0].shape[0]
    lr_t = torch.as_tensor(np.asarray(lrs, np.float32))
    finals = []
    t0 = time.perf_counter()
    for a in range(0, n, chunk):
        P = [p[a:a + chunk].clone() for p in stacked]
        lr = lr_t[a:a + chunk]
        lr_w, lr_b = lr.view(-1, 1, 1), lr.view(-1, 1)
        for _ in range(steps):
            g, _ = gv(*P, Xt, Yt)
            for p, gp in zip(P, g):
                p.sub_((lr_w if p.ndim == 3 else lr_b) * gp)
        finals.append(loss(*P, Xt, Yt))
    return time.perf_counter() - t0, torch.cat(finals).numpy()


def bench_torch(a, peak):
    try:
        import torch
    except ImportError:
        print("\n### torch.func.vmap: skipped (torch not installed: pip install -e \".[bench]\")")
        return None
    torch.set_num_threads(os.cpu_count())
    X, Y, _ = digits_problem()
    m, g = X.shape[0], a.digits_grid
    scales, lrs = np.logspace(*np.log10(SCALE_RANGE), g), np.logspace(*np.log10(LR_RANGE), g)
    n = g * g
    lam = a.torch_lam
    flops = matmul_flops_per_run(m, SIZES, a.steps) * n
    cfg_scale, cfg_lr = np.repeat(scales, g), np.tile(lrs, g)  # the grid's row-major order (scale slowest)

    # The same initial params as the sweep's runs: seed 0's key fold_in(key, 0) in every trial.
    k0 = jax.random.fold_in(jax.random.key(0), 0)
    init = jax.vmap(lambda s: jaxnn.init_mlp(k0, SIZES, scale=s))(jnp.asarray(cfg_scale, jnp.float32))
    Xt, Yt, stacked, gv, loss = torch_problem(X, Y, init, lam)
    with torch.no_grad():
        (gW1, gb1, gW2, gb2), J_t = gv(*stacked, Xt, Yt)
    J_j, g_j = jax.vmap(jax.value_and_grad(lambda p: jaxnn.objective(p, X, Y, lam=lam, activation="sigmoid")))(init)
    d_J = float(np.max(np.abs(J_t.numpy() - np.asarray(J_j))))
    d_g = max(float(np.max(np.abs(gt.numpy() - np.asarray(g_j[l][k]))))
              for gt, (l, k) in zip((gW1, gb1, gW2, gb2), [(0, "W"), (0, "b"), (1, "W"), (1, "b")]))
    print(f"\nstep 0, {n} configurations: max |J_torch - J_jaxnn| = {d_J:.3g} (J in [{float(J_t.min()):.4g}, "
          f"{float(J_t.max()):.4g}]), max |grad_torch - grad_jaxnn| = {d_g:.3g}", flush=True)

    # jaxnn.sweep on every device and on one (fresh fns), and the bare jit(vmap(fn)) of the same fn.
    grid = {"scale": scales, "lr": lrs}
    run_j = make_run(X, Y, SIZES, a.steps, lam)
    rows = sweep_rows(run_j, grid, n, flops, peak)
    res = rows[0].pop("_res")
    devsets = [None] + ([jax.devices()[:1]] if len(jax.devices()) > 1 else [])
    run = make_run(X, Y, SIZES, a.steps, lam)
    t0 = time.perf_counter()
    bare = jax.jit(jax.vmap(run, in_axes=(None, 0, 0))).lower(
        k0, jnp.asarray(cfg_scale, jnp.float32), jnp.asarray(cfg_lr, jnp.float32)).compile()
    c_bare = time.perf_counter() - t0
    args = (k0, jnp.asarray(cfg_scale, jnp.float32), jnp.asarray(cfg_lr, jnp.float32))
    t0 = time.perf_counter()
    block(bare(*args))
    t_bare = time.perf_counter() - t0
    rows.append({"method": f"bare jax.jit(jax.vmap(fn)), all {n} in one call, default device", "seconds": t_bare,
                 "compile s": c_bare})

    # torch: chunk size from a short calibration over all n configurations, then the full run at the best.
    chunks = [int(k) for k in a.torch_chunks.split(",") if int(k) <= n] or [n]
    calib = {}
    with torch.no_grad():
        torch_train(stacked, cfg_lr, Xt, Yt, gv, loss, 2, chunks[0])  # warm-up
        for k in chunks:
            calib[k] = torch_train(stacked, cfg_lr, Xt, Yt, gv, loss, a.torch_calib_steps, k)[0]
            print(f"torch calibration, chunk {k}: {n * a.torch_calib_steps / calib[k]:.0f} config-steps/s", flush=True)
        best = min(calib, key=calib.get)
        t_torch, final_t = torch_train(stacked, cfg_lr, Xt, Yt, gv, loss, a.steps, best)
        # --torch-repeats R: R more rounds of every row, one after another (compiled: nothing compiles), the
        # fastest of each kept, so that a change in the machine's load reaches both sides alike.
        for _ in range(a.torch_repeats):
            for i, devs in enumerate(devsets):
                rows[i]["seconds"] = min(rows[i]["seconds"], time_sweep(run_j, grid, devices=devs)[0])
            t0 = time.perf_counter()
            block(bare(*args))
            t_bare = min(t_bare, time.perf_counter() - t0)
            t_torch = min(t_torch, torch_train(stacked, cfg_lr, Xt, Yt, gv, loss, a.steps, best)[0])
    rows[len(devsets)]["seconds"] = t_bare
    cal = ", ".join(f"{k}: {n * a.torch_calib_steps / s:.0f}" for k, s in calib.items())
    rows.append({"method": f"torch {torch.__version__} torch.func.vmap(grad_and_value), {torch.get_num_threads()} "
                           f"threads (chunk {best})", "seconds": t_torch, "compile s": 0.0,
                 "notes": f"chunk size from a {a.torch_calib_steps}-step calibration, config-steps/s by chunk: {cal}"})
    for r in rows:
        t = r["seconds"]
        r.update({"configs/s": n / t, "matmul GFLOP/s": flops / t / 1e9, "% of peak": 100 * flops / t / 1e9 / peak,
                  "vs sweep": t / rows[0]["seconds"]})
    final_j = np.asarray(res["final_loss"]).reshape(-1)
    ok = np.isfinite(final_j) & np.isfinite(final_t)
    d = np.abs(final_j[ok] - final_t[ok])
    d_final = f"max {d.max():.3g}, median {np.median(d):.3g}, {int((d < 1e-4).sum())} within 1e-4" if ok.any() else "-"
    print(f"\n### torch.func.vmap vs jaxnn.sweep: digits {SIZES}, {g} scales x {g} lrs = {n} configurations, "
          f"{a.steps} full-batch steps, lam={lam:g}, m={m}\n")
    print(f"`python benchmarks/bench_sweep.py --torch-vmap{' --quick' if a.quick else ''}"
          f"{f' --torch-repeats {a.torch_repeats}' if a.torch_repeats else ''}` "
          f"(torch.set_num_threads({torch.get_num_threads()}) = the core count; seconds: fastest of "
          f"{1 + a.torch_repeats} round{'s' if a.torch_repeats else ''})\n")
    print(table(rows, ["method", "seconds", "configs/s", "matmul GFLOP/s", "% of peak", "vs sweep", "compile s",
                       "notes"]))
    sp_all = t_torch / rows[0]["seconds"]
    sp_one = t_torch / rows[1]["seconds"] if res.meta["devices"] > 1 else None
    print(f"\njaxnn.sweep / torch.func.vmap (speed): {sp_all:.2f}x on {res.meta['devices']} devices"
          + (f", {sp_one:.2f}x on 1 device" if sp_one else "") + f" (target >= 2x with every core: "
          f"{'met' if sp_all >= 2 else 'NOT met'}). Step 0: max |dJ| {d_J:.3g}, max |dgrad| {d_g:.3g}; after "
          f"{a.steps} steps: |final J difference| {d_final} of {int(ok.sum())} finite runs "
          f"(float32 rounding, amplified in the runs with the largest lrs; {res.n_diverged} jaxnn runs diverged; "
          "torch has no divergence guard)")
    return rows


def peak_rss_bytes():
    """This process's peak resident memory: VmHWM from /proc (Linux; it starts afresh at exec), else
    ru_maxrss, which Linux carries over from the parent across fork + exec (so a big parent would count)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def memory_child(n_configs, steps):
    """Run in a fresh process: sweep n_configs digits configurations, print the peak RSS."""
    X, Y, _ = digits_problem()
    side = int(round(np.sqrt(n_configs)))
    res = sweep(make_run(X, Y, SIZES, steps), {"scale": np.logspace(-3, 0, side), "lr": np.logspace(-1, 1.5, side)},
                key=jax.random.key(0), progress=False)
    rss = peak_rss_bytes()
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
    p.add_argument("--random-vs-grid", action="store_true",
                   help="only (combinable with the other two): random space vs grid at equal size")
    p.add_argument("--static-axis", action="store_true",
                   help="only (combinable): a static hidden-size axis vs one sweep per hidden size")
    p.add_argument("--torch-vmap", action="store_true",
                   help="only (combinable): torch.func.vmap over stacked parameters vs jaxnn.sweep")
    p.add_argument("--random-trials", type=int, default=1024,
                   help="random vs grid: trials, a square (default 1024 = 32 x 32)")
    p.add_argument("--random-repeats", type=int, default=0,
                   help="random vs grid: further (compiled) rounds of both, alternating; the fastest counts")
    p.add_argument("--static-hidden", default="25,50,100", help="static axis: hidden sizes (default 25,50,100)")
    p.add_argument("--static-grid", type=int, default=8, help="static axis: N scales x N lrs per hidden size")
    p.add_argument("--static-repeats", type=int, default=1,
                   help="static axis: further (compiled) runs of both, alternating; the fastest counts (default 1)")
    p.add_argument("--torch-chunks", default="8,16,32,64", help="torch: chunk sizes tried (default 8,16,32,64)")
    p.add_argument("--torch-calib-steps", type=int, default=50, help="torch: steps of the chunk-size calibration")
    p.add_argument("--torch-repeats", type=int, default=0,
                   help="torch section: further rounds of every row, one after another; the fastest counts")
    p.add_argument("--torch-lam", type=float, default=1e-4, help="torch section: ridge lam of both (default 1e-4)")
    p.add_argument("--no-torch", action="store_true", help="leave out the torch section")
    p.add_argument("--json", default=None, help="also write the tables to this JSON file")
    a = p.parse_args(argv)
    if a.memory_child is not None:
        return memory_child(a.memory_child, a.memory_steps)
    if a.quick:
        a.steps, a.seq_sample, a.xor_configs, a.xor_steps = 100, 16, 1024, 500
        a.xor_seq_sample, a.sklearn_fits, a.memory_configs = 16, 2, 1024
        a.random_trials, a.static_grid, a.torch_chunks, a.torch_calib_steps = 64, 4, "16,64", 10
        a.static_repeats = 0
    print(machine() + f", {len(jax.devices())} JAX devices")
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (jnp.dot {peak_size()}^2, same run): {peak:.1f} GFLOP/s")
    out = {"machine": machine(), "peak_gflops": peak}
    only = a.random_vs_grid or a.static_axis or a.torch_vmap
    if a.chunks:
        out["chunks"] = bench_chunks(a, peak)
    elif not only:
        out["digits"] = bench_digits(a, peak)
        out["xor"] = bench_xor(a)
        if not a.no_memory:  # before the sections that grow this process (torch)
            out["memory"] = bench_memory(a)
    if not a.chunks:
        if a.random_vs_grid or not only:
            out["random_vs_grid"] = bench_random_vs_grid(a, peak)
        if a.static_axis or not only:
            out["static_axis"] = bench_static(a)
        if a.torch_vmap or (not only and not a.no_torch):
            out["torch_vmap"] = bench_torch(a, peak)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2, default=str)
    return out


if __name__ == "__main__":
    main()
