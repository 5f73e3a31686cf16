"""Benchmark: training speed of ``jaxnn.train`` against scikit-learn, PyTorch, NumPy and raw JAX.

Part 1, the lecture's network on scikit-learn's digits (all 1797 samples, 64-100-10, sigmoid
hidden and output units, squared error, lam = 1e-4, full-batch gradient descent with lr = 0.5,
init N(0, 0.01^2), 1000 steps), trained side by side in one process by

* ``jaxnn.train`` (default ``gradient="autodiff"``) and ``jaxnn.train(gradient="backprop")``;
* ``jaxnn.train`` with its default ``data_parallel=None`` (with one JAX CPU device per core, the
  samples are sharded over them where a once-per-process calibration measured that faster:
  ``jaxnn.parallel.calibrate``, whose time counts in the first call; the notes say which form ran)
  and with ``data_parallel=False`` (one device);
* raw JAX, as a user would first write it: ``jit`` + ``lax.scan`` + ``value_and_grad`` + plain SGD
  with the row layout ``a @ W.T + b`` (the reference the issue's "35-45% of peak" refers to), and the
  same in jaxnn.train's column layout ``W a + b`` (per-step losses, no divergence guard);
* the bare loop: the same column-layout steps under ``jit`` + ``lax.scan`` with no guard and no
  history (nothing but the params in the carry, nothing out per step), the reference for what
  jaxnn.train's own bookkeeping costs: on one device, and with the samples sharded over every
  device (padded with zero-weight samples to a multiple of the device count, params replicated),
  the reference for jaxnn.train's data-parallel row, in two forms: each device's gradient summed by
  one all-reduce of their concatenation (``shard_map``, as jaxnn.train does), and the reduction left
  to XLA's sharding propagation (which emits one all-reduce of the four gradient arrays: on XLA:CPU
  one rendezvous per array);
* scikit-learn's ``MLPClassifier`` with matching settings (solver='sgd', batch_size = all samples,
  momentum = 0, constant learning rate 0.5, max_iter = steps with early stopping off so that every
  epoch runs, shuffle off, alpha = lam * m because scikit-learn divides its penalty by m).  It uses
  log-loss with a softmax output instead of squared error (the matrix products are the same), and its
  own (Glorot) init;
* a PyTorch eager loop (``torch==2.13.0``, CPU, autograd + manual SGD; skipped with a note when
  torch is not installed);
* a NumPy loop (hand-written forward pass and backprop, float32).

Each of the three baselines first runs a short calibration (50 steps, which is also its warm-up)
with its BLAS (threadpoolctl) or PyTorch at 1 thread and at all threads; the faster setting is then
timed (the notes give both calibration rates): on a problem this small, or on a busy machine, one
thread is often faster.

Part 2, a large MLP (784-1024-1024-10, 1024 random samples, sigmoid, full batch, 50 steps):
``jaxnn.train`` (default, and on one device) against the same model in raw JAX (jit + scan +
value_and_grad + plain SGD), on one device.  (The default stays on one device here: its weight
matrices are above ``jaxnn.parallel.MAX_LAYER_WEIGHTS``.)

Part 3, the optimizer argument: the time per call and the compilations of ``jaxnn.train`` called a
few times with a new ``optax.adam(1e-2)`` each call, with the factory ``optax.adam, lr=1e-2``, with
the name ``"adam"``, and with ``"adam"`` and a different traced ``optimizer_kwargs={"b1": ...}`` each
call (``--optimizer-calls``, 0 skips it).

Devices: like the sweep benchmarks, this script makes one JAX CPU device per core before importing
jax (``benchmarks/cpu_devices.py``, ``--cpu-devices N``; 1 turns it off and leaves out the sharded
rows), as a user does with ``jaxnn.use_cpu_cores()``.  Every row but the sharded ones and the
default ``jaxnn.train`` runs on one device.  Compilations are counted with a ``jax.monitoring``
listener on XLA backend compiles (all of them, in the first call of each row and in the timed calls).

Runs are interleaved (round-robin repeats; the best repeat of each is reported), compile time is
excluded from the rates and reported separately.  GFLOP/s count matrix-product FLOPs only: the
forward pass 2 m sum_l s_l s_{l+1}, the backward pass twice that minus the first layer's input
gradient (not needed), and are reported as a fraction of the float32 matmul peak of this machine,
measured in this run with a large ``jnp.dot`` (the best of a few measurements between the rounds).

This process unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (if set) before importing NumPy, so that
NumPy's and scikit-learn's OpenBLAS picks its own kernels; the output says when it did.

    python benchmarks/bench_train.py            # default run (about 2-3 minutes on 2 cores)
    python benchmarks/bench_train.py --quick    # fewer steps and repeats, a smoke test
"""

from __future__ import annotations

import os

_UNSET = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None) is not None]

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke test)")
    p.add_argument("--steps", type=int, default=None, help="digits: gradient steps per run (default 1000; "
                   "--quick: 200)")
    p.add_argument("--repeats", type=int, default=None, help="round-robin repeats (default 3; --quick: 2)")
    p.add_argument("--large-steps", type=int, default=None, help="large MLP: steps per run (default 50; "
                   "--quick: 10; 0 skips the large MLP)")
    p.add_argument("--large-batch", type=int, default=1024, help="large MLP: number of samples (default 1024)")
    p.add_argument("--skip", default="", help="comma-separated baselines to leave out: sklearn,torch,numpy,raw")
    p.add_argument("--peak-n", type=int, default=None, help="matrix size of the peak measurement "
                   "(default 2048 on CPU, 8192 on GPU)")
    p.add_argument("--cpu-devices", type=int, default=os.cpu_count(),
                   help="JAX CPU devices (default: one per core, as jaxnn.use_cpu_cores(); 1 turns it off)")
    p.add_argument("--optimizer-calls", type=int, default=None, help="part 3: calls per optimizer form "
                   "(default 5; --quick: 3; 0 skips it)")
    a = p.parse_args(argv)
    a.steps = a.steps or (200 if a.quick else 1000)
    a.repeats = a.repeats or (2 if a.quick else 3)
    if a.large_steps is None:
        a.large_steps = 10 if a.quick else 50
    if a.optimizer_calls is None:
        a.optimizer_calls = 3 if a.quick else 5
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    return a


ARGS = parse_args()

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

if __name__ == "__main__":  # before jax is imported: one CPU device per core, as jaxnn.use_cpu_cores()
    one_device_per_core(sys.argv)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax, shard_map  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxnn  # noqa: E402
from benchmarks.common import block, machine, matmul_peak_gflops, peak_size, table  # noqa: E402

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
COMPILES: list = []  # (function name, seconds) of every XLA backend compile, from a jax.monitoring listener
jax.monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: COMPILES.append((kw.get("fun_name", "?"), secs)) if event == BACKEND_COMPILE else None)

# The lecture's digits setting.
SIZES = [64, 100, 10]
LR, LAM, SCALE = 0.5, 1e-4, 0.01


def matmul_flops(m: int, sizes) -> float:
    """Matrix-product FLOPs of one full-batch gradient step (forward + backward)."""
    fwd = 2 * m * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return fwd + 2 * fwd - 2 * m * sizes[0] * sizes[1]  # no input gradient for the first layer


# ---------------------------------------------------------------------------------------------
# Implementations.  Each runs full-batch gradient steps from the same start and returns the final
# loss (or the trained params and history); the baselines' `setup_*` return a function of `steps`.


def raw_jax_train(activation=jax.nn.sigmoid, cols: bool = False):
    """Raw JAX as a user would write it: row layout, jit + scan + value_and_grad, plain SGD.
    ``cols=True``: the lecture's column layout instead (z = W a + b on X.T, transposed once before
    the scan), as jaxnn.train computes, still without a divergence guard."""

    def J(p, X, Y, lam):
        a = X
        for layer in p:
            a = activation(layer["W"] @ a + layer["b"][:, None]) if cols else activation(a @ layer["W"].T + layer["b"])
        m = X.shape[1] if cols else X.shape[0]
        return 0.5 * jnp.sum((a - Y) ** 2) / m + 0.5 * lam * sum(jnp.sum(l["W"] ** 2) for l in p)

    @partial(jax.jit, static_argnames="steps")
    def train(p, X, Y, lr, lam, steps):
        if cols:
            X, Y = X.T, Y.T

        def step(p, _):
            loss, g = jax.value_and_grad(J)(p, X, Y, lam)
            return jax.tree_util.tree_map(lambda w, d: w - lr * d, p, g), loss

        p, losses = lax.scan(step, p, None, length=steps)
        return p, losses

    return train


def bare_loop(activation=jax.nn.sigmoid, mesh=None, flat: bool = False):
    """The bare computation of jaxnn.train's full-batch step: column layout, jit + scan, plain SGD, no
    guard and no history (the params are the whole carry; the final loss is computed once after the
    loop).  With ``mesh``: X, Y are padded with zero samples to a multiple of the devices and sharded
    over them (the padding has weight 0, the mean divides by the real m), the params replicated, and
    either XLA's sharding propagation places the gradient's reduction (``flat=False``: one
    all-reduce of the four gradient arrays) or, as jaxnn.train does, each device computes its
    columns' gradient in ``shard_map`` and one all-reduce sums their concatenation (``flat=True``)."""

    def J(p, XT, YT, w, lam):
        a = XT
        for layer in p:
            a = activation(layer["W"] @ a + layer["b"][:, None])
        per_sample = jnp.sum((a - YT) ** 2, axis=0)
        data = 0.5 * jnp.sum(per_sample) / XT.shape[1] if w is None else 0.5 * jnp.sum(w * per_sample)
        return data + 0.5 * lam * sum(jnp.sum(l["W"] ** 2) for l in p)

    def grad(p, XT, YT, w, lam):
        if not flat:
            return jax.grad(J)(p, XT, YT, w, lam)

        def local(p, XT, YT, w, lam):
            g, unravel = ravel_pytree(jax.grad(J)(p, XT, YT, w, lam / mesh.devices.size))
            return unravel(lax.psum(g, "batch"))

        cols = P(None, "batch")
        return shard_map(local, mesh=mesh, in_specs=(P(), cols, cols, P("batch"), P()), out_specs=P(),
                         check_vma=False)(p, XT, YT, w, lam)

    @partial(jax.jit, static_argnames="steps")
    def run(p, XT, YT, w, lr, lam, steps):
        def step(p, _):
            g = grad(p, XT, YT, w, lam)
            return jax.tree_util.tree_map(lambda v, d: v - lr * d, p, g), None

        p, _ = lax.scan(step, p, None, length=steps)
        return p, J(p, XT, YT, w, lam)

    def prepare(p, X, Y, lr, lam):
        XT, YT, w = X.T, Y.T, None
        if mesh is not None:
            n, m = mesh.devices.size, X.shape[0]
            pad = -m % n
            XT, YT = (jnp.pad(a, ((0, 0), (0, pad))) for a in (XT, YT))
            if pad or flat:
                w = jnp.where(jnp.arange(m + pad) < m, 1.0 / m, 0.0).astype(XT.dtype)
            cols = NamedSharding(mesh, P(None, "batch"))
            XT, YT = jax.device_put((XT, YT), cols)
            w = None if w is None else jax.device_put(w, NamedSharding(mesh, P("batch")))
            p, lr, lam = jax.device_put((p, lr, lam), NamedSharding(mesh, P()))
        return lambda steps: run(p, XT, YT, w, lr, lam, steps)

    return prepare


def with_threads(run, threads, torch=False):
    """``run`` with its BLAS (threadpoolctl) or PyTorch limited to ``threads`` (None: all)."""
    from threadpoolctl import threadpool_limits

    def limited(*args):
        if torch:
            import torch as _torch

            before = _torch.get_num_threads()
            _torch.set_num_threads(threads or os.cpu_count())
            try:
                return run(*args)
            finally:
                _torch.set_num_threads(before)
        with threadpool_limits(limits=threads):
            return run(*args)

    return limited


def setup_sklearn(X, y):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    m = X.shape[0]

    def run(steps):
        clf = MLPClassifier(hidden_layer_sizes=(SIZES[1],), activation="logistic", solver="sgd",
                            alpha=LAM * m, batch_size=m, learning_rate="constant", learning_rate_init=LR,
                            momentum=0.0, nesterovs_momentum=False, max_iter=steps, shuffle=False,
                            tol=0.0, n_iter_no_change=steps + 1, early_stopping=False, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert clf.n_iter_ == steps, clf.n_iter_
        return clf.loss_curve_[-1]

    return run


def setup_torch(X, Y, p0):
    import torch

    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    m = X.shape[0]

    def run(steps):
        params = [(torch.tensor(np.asarray(l["W"]), requires_grad=True),
                   torch.tensor(np.asarray(l["b"]), requires_grad=True)) for l in p0]
        flat = [t for wb in params for t in wb]
        for _ in range(steps):
            a = Xt
            for W, b in params:
                a = torch.sigmoid(torch.addmm(b, a, W.t()))
            loss = 0.5 * ((a - Yt) ** 2).sum() / m + 0.5 * LAM * sum((W * W).sum() for W, _ in params)
            grads = torch.autograd.grad(loss, flat)
            with torch.no_grad():
                for t, g in zip(flat, grads):
                    t.sub_(LR * g)
        return loss.item()

    return run


def setup_numpy(X, Y, p0):
    """Hand-written forward pass and backprop (the lecture's four steps), float32, row layout."""
    m = X.shape[0]

    def run(steps):
        Ws = [np.array(l["W"]) for l in p0]
        bs = [np.array(l["b"]) for l in p0]
        lr, lam = np.float32(LR), np.float32(LAM)
        for _ in range(steps):
            acts = [X]
            for W, b in zip(Ws, bs):
                z = acts[-1] @ W.T
                z += b
                acts.append(1.0 / (1.0 + np.exp(-z)))
            a = acts[-1]
            r = a - Y
            loss = 0.5 * np.sum(r * r) / m + 0.5 * lam * sum(np.sum(W * W) for W in Ws)
            delta = r * a * (1 - a) * np.float32(1.0 / m)
            for l in reversed(range(len(Ws))):
                gW = delta.T @ acts[l] + lam * Ws[l]
                gb = delta.sum(axis=0)
                if l > 0:
                    delta = (delta @ Ws[l]) * acts[l] * (1 - acts[l])
                Ws[l] -= lr * gW
                bs[l] -= lr * gb
        return float(loss)

    return run


# ---------------------------------------------------------------------------------------------


def timed(fn):
    t0 = time.perf_counter()
    out = block(fn())
    return time.perf_counter() - t0, out


def first_calls(runners: dict, keys):
    """First call of each runner in ``keys``: (seconds, XLA backend compiles and their seconds)."""
    out = {}
    for k in keys:
        before = len(COMPILES)
        t = timed(runners[k])[0]
        new = COMPILES[before:]
        out[k] = (t, len(new), sum(s for _, s in new))
    return out


def interleave(runners: dict, repeats: int, peaks: list, peak_n: int):
    """Round-robin: every runner once per round; a peak measurement between rounds.  Also returns the
    compiles during each runner's timed calls (0 for a cache-stable call)."""
    times = {k: [] for k in runners}
    later = {k: 0 for k in runners}
    last = {}
    for _ in range(repeats):
        for k, fn in runners.items():
            before = len(COMPILES)
            t, out = timed(fn)
            later[k] += len(COMPILES) - before
            times[k].append(t)
            last[k] = out
        peaks.append(matmul_peak_gflops(peak_n))
    return times, last, later


def final_loss(out):
    if isinstance(out, tuple) and isinstance(out[1], dict):
        return float(out[1]["loss"][-1])
    if isinstance(out, tuple):
        return float(np.ravel(out[1])[-1])
    return float(out)


def rows_for(times, compile_s, losses, flops_step, steps, peak, ref, notes, compiles=None):
    rows = []
    rate_ref = steps / min(times[ref])
    for k, ts in times.items():
        rate = steps / min(ts)
        gf = flops_step * rate / 1e9
        n = (compiles or {}).get(k)
        rows.append({"implementation": k, "steps/s": rate, "jaxnn speed-up": rate_ref / rate,
                     "GFLOP/s": gf, "% of peak": 100 * gf / peak,
                     "compile s": compile_s.get(k, "-"), "compiles": "-" if n is None else f"{n[0]} / {n[1]}",
                     "final loss": losses[k], "notes": notes.get(k, "")})
    return rows


def train_runner(p0, X, Y, steps, lr, **kw):
    return lambda: jaxnn.train(p0, X, Y, lr=lr, steps=steps, lam=LAM, activation="sigmoid", **kw)


def used_devices(runner) -> int:
    return int(runner()[1].get("devices", 1))


def load_digits():
    """All 1797 digits: X (m, 64) in [0, 1], labels y, sigmoid targets Y (m, 10), as NumPy and JAX
    arrays, and the initial params."""
    from jaxnn.datasets import require

    d = require("sklearn.datasets").load_digits()
    X_np = (np.asarray(d.data, np.float32) / 16.0)
    y = np.asarray(d.target)
    Y_np = np.asarray(jaxnn.encode_labels(y, 10, "sigmoid"), np.float32)
    return X_np, y, Y_np, jnp.asarray(X_np), jnp.asarray(Y_np), jaxnn.init_mlp(jax.random.key(0), SIZES, scale=SCALE)


def bench_digits(a, peaks, peak_n):
    X_np, y, Y_np, X, Y, p0 = load_digits()
    m = X_np.shape[0]
    steps = a.steps
    flops_step = matmul_flops(m, SIZES)

    runners, compile_s, notes = {}, {}, {}
    n_dev = jax.local_device_count()
    runners["jaxnn.train"] = train_runner(p0, X, Y, steps, LR)
    runners["jaxnn.train (one device)"] = train_runner(p0, X, Y, steps, LR, data_parallel=False)
    notes["jaxnn.train (one device)"] = "autodiff; divergence guard; data_parallel=False"
    runners["jaxnn.train (backprop)"] = train_runner(p0, X, Y, steps, LR, gradient="backprop")
    lr_, lam_ = jnp.float32(LR), jnp.float32(LAM)
    runners["bare loop (cols, one device)"] = bare_loop()(p0, X, Y, lr_, lam_)
    notes["bare loop (cols, one device)"] = "grad, W a + b on X.T; no guard, no history"
    if n_dev > 1:
        mesh = jaxnn.parallel.local_mesh(n_dev)
        sharded = f"bare loop (cols, sharded over {n_dev})"
        runners[sharded] = bare_loop(mesh=mesh, flat=True)(p0, X, Y, lr_, lam_)
        notes[sharded] = (f"the same, samples sharded over {n_dev} devices (padded to {-(-m // n_dev) * n_dev}), "
                          "params replicated, one flat all-reduce of the gradient (jaxnn.train's data-parallel form)")
        runners[sharded + ", propagation"] = bare_loop(mesh=mesh)(p0, X, Y, lr_, lam_)
        notes[sharded + ", propagation"] = ("the same, the reduction placed by XLA's sharding propagation (one "
                                            "all-reduce of the 4 gradient arrays)")
    if "raw" not in a.skip:
        raw = raw_jax_train()
        runners["raw JAX (jit+scan, rows)"] = lambda: raw(p0, X, Y, lr_, lam_, steps)
        notes["raw JAX (jit+scan, rows)"] = "value_and_grad, a @ W.T + b, no guard"
        raw_cols = raw_jax_train(cols=True)
        runners["raw JAX (jit+scan, cols)"] = lambda: raw_cols(p0, X, Y, lr_, lam_, steps)
        notes["raw JAX (jit+scan, cols)"] = "value_and_grad, W a + b on X.T (jaxnn.train's layout), no guard"
    jax_keys = list(runners)
    # first call: compile + one run; compile time = first call - best later call
    first = first_calls({k: (lambda k=k: runners[k](steps) if k.startswith("bare") else runners[k]())
                         for k in jax_keys}, jax_keys)
    for k in jax_keys:
        if k.startswith("bare"):
            runners[k] = partial(runners[k], steps)
    for k in ("jaxnn.train", "jaxnn.train (backprop)"):
        d = used_devices(runners[k])
        base = "autodiff; divergence guard" if k == "jaxnn.train" else "explicit delta algorithm"
        notes[k] = f"{base}; default data_parallel: {'samples sharded over %d devices' % d if d > 1 else 'one device'}"

    skipped = []
    cpu_note = "" if jax.devices()[0].platform == "cpu" else " (on the CPU)"
    try:
        import threadpoolctl  # noqa: F401

        settings = [("1 thread", 1), ("all threads", None)]
    except ImportError:
        settings = [("default threads", None)]
        skipped.append("note: threadpoolctl not installed: baselines timed with their default threads only")

    def add(name, run, torch=False):
        """Calibrate: a short run (also the warm-up) at each thread setting; keep the faster."""
        n_cal = min(steps, 50)
        rates = {}
        for label, n in settings:
            fn = with_threads(run, n, torch) if n is not None or len(settings) > 1 else run
            rates[label] = (n_cal / timed(partial(fn, n_cal))[0], fn)
        best = max(rates, key=lambda k: rates[k][0])
        runners[name] = partial(rates[best][1], steps)
        cal = ", ".join(f"{k} {r:.0f}" for k, (r, _) in rates.items())
        threads[name] = best + (f" (faster in a {n_cal}-step calibration, steps/s: {cal})" if len(rates) > 1 else "")

    threads = {}
    if "sklearn" not in a.skip:
        try:
            import sklearn

            add("scikit-learn MLPClassifier", setup_sklearn(X_np, y))
            notes["scikit-learn MLPClassifier"] = f"sklearn {sklearn.__version__}; log-loss, softmax output"
        except ImportError as e:
            skipped.append(f"scikit-learn: skipped: {e}")
    if "torch" not in a.skip:
        try:
            import torch

            add("PyTorch eager", setup_torch(X_np, Y_np, p0), torch=True)
            notes["PyTorch eager"] = f"torch {torch.__version__}, autograd"
        except ImportError:
            skipped.append("PyTorch: skipped: torch not installed (pip install torch==2.13.0)")
    if "numpy" not in a.skip:
        add("NumPy", setup_numpy(X_np, Y_np, p0))
        notes["NumPy"] = f"numpy {np.__version__}, float32, hand-written backprop"
    for name, t in threads.items():
        notes[name] = f"{notes[name]}; {t}{cpu_note}"

    times, last, later = interleave(runners, a.repeats, peaks, peak_n)
    compiles = {}
    for k in jax_keys:
        compile_s[k] = max(first[k][0] - min(times[k]), 0.0)
        compiles[k] = (first[k][1], later[k])
    losses = {k: final_loss(v) for k, v in last.items()}
    return times, compile_s, compiles, losses, flops_step, notes, skipped, m


def bench_large(a, peaks, peak_n):
    sizes = [784, 1024, 1024, 10]
    m, steps = a.large_batch, a.large_steps
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    X = jax.random.uniform(k1, (m, sizes[0]), jnp.float32)
    Y = jax.nn.one_hot(jax.random.randint(k2, (m,), 0, sizes[-1]), sizes[-1], dtype=jnp.float32)
    p0 = jaxnn.init_mlp(k3, sizes, scale=0.01)
    lr = 0.1
    runners = {
        "jaxnn.train": train_runner(p0, X, Y, steps, lr),
        "jaxnn.train (one device)": train_runner(p0, X, Y, steps, lr, data_parallel=False),
        "jaxnn.train (backprop)": train_runner(p0, X, Y, steps, lr, gradient="backprop"),
    }
    raw = raw_jax_train()
    lr_, lam_ = jnp.float32(lr), jnp.float32(LAM)
    runners["raw JAX (jit+scan, rows)"] = lambda: raw(p0, X, Y, lr_, lam_, steps)
    first = first_calls(runners, list(runners))
    devices = used_devices(runners["jaxnn.train"])
    times, last, later = interleave(runners, a.repeats, peaks, peak_n)
    compile_s = {k: max(first[k][0] - min(times[k]), 0.0) for k in runners}
    compiles = {k: (first[k][1], later[k]) for k in runners}
    losses = {k: final_loss(v) for k, v in last.items()}
    return times, compile_s, compiles, losses, matmul_flops(m, sizes), sizes, m, devices


def bench_optimizer_forms(a):
    """Part 3: per-call time and compiles of jaxnn.train for each way of passing Adam."""
    import optax

    _, _, _, X, Y, p0 = load_digits()
    steps = 100
    forms = {
        "optimizer=optax.adam(1e-2), new each call": lambda i: dict(optimizer=optax.adam(1e-2)),
        "optimizer=optax.adam, lr=1e-2": lambda i: dict(optimizer=optax.adam, lr=1e-2),
        'optimizer="adam", lr=1e-2': lambda i: dict(optimizer="adam", lr=1e-2),
        'optimizer="adam", lr=1e-2, optimizer_kwargs={"b1": 0.8 + 0.05 i}':
            lambda i: dict(optimizer="adam", lr=1e-2, optimizer_kwargs={"b1": 0.8 + 0.05 * i}),
    }
    rows = []
    for name, kw in forms.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            secs, n_comp = [], 0
            for i in range(a.optimizer_calls):
                before = len(COMPILES)
                call = partial(jaxnn.train, p0, X, Y, steps=steps, data_parallel=False, **kw(i))
                secs.append(timed(call)[0])
                n_comp += sum(1 for f, _ in COMPILES[before:] if "_train" in f)
        warned = sum(1 for w in caught if "optimizer:" in str(w.message))
        rows.append({"optimizer form": name, "first call s": secs[0],
                     "later calls s (mean)": float(np.mean(secs[1:])) if len(secs) > 1 else float("nan"),
                     "compiles of _train": n_comp, "warnings": warned})
    return rows, steps


def main(a):
    cmd = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    peak_n = a.peak_n or peak_size()
    print(f"command: {cmd}")
    print(f"machine: {machine()}")
    if _UNSET:
        print(f"note: this process unset {', '.join(_UNSET)} before importing NumPy (NumPy/scikit-learn BLAS)")
    peaks = [matmul_peak_gflops(peak_n)]
    cols = ["implementation", "steps/s", "jaxnn speed-up", "GFLOP/s", "% of peak", "compile s", "compiles",
            "final loss", "notes"]
    n_dev = jax.local_device_count()
    print(f"devices: {n_dev} local {jax.default_backend()} device(s)"
          + (f" (one per core: --cpu-devices {n_dev}, as jaxnn.use_cpu_cores())" if n_dev > 1 else ""))

    times, compile_s, compiles, losses, flops_step, notes, skipped, m = bench_digits(a, peaks, peak_n)
    large = bench_large(a, peaks, peak_n) if a.large_steps > 0 else None
    forms = bench_optimizer_forms(a) if a.optimizer_calls > 0 else None
    peak = max(peaks)
    print(f"float32 matmul peak ({peak_n}x{peak_n} jnp.dot, best of {len(peaks)}): {peak:.1f} GFLOP/s "
          f"(all measurements: {', '.join(f'{p:.0f}' for p in peaks)})")
    print()
    print(f"### Digits, 64-100-10 sigmoid, squared error, full batch m={m}, lr={LR}, lam={LAM}, "
          f"{a.steps} steps, best of {a.repeats} interleaved repeats")
    print(f"(matmul FLOPs per step: {flops_step / 1e6:.1f} M; 'jaxnn speed-up' = jaxnn.train steps/s / "
          "that row's steps/s; compile s excluded from the rates; compiles = XLA compilations in the first "
          "call / in the timed calls)")
    print()
    rows = rows_for(times, compile_s, losses, flops_step, a.steps, peak, "jaxnn.train", notes, compiles)
    print(table(rows, cols))
    for s in skipped:
        print(s)
    by = {r["implementation"]: r for r in rows}
    rate = {k: r["steps/s"] for k, r in by.items()}
    checks = [f"{by['jaxnn.train']['% of peak']:.0f}% of the matmul peak (target >= 50%)"]
    for name, target in (("scikit-learn MLPClassifier", 3), ("PyTorch eager", 2.2)):
        if name in by:
            checks.append(f"{by[name]['jaxnn speed-up']:.2f}x {name.split()[0]} (target >= {target}x)")
    print("jaxnn.train: " + "; ".join(checks))
    for cls, cal in jaxnn.parallel.calibration().items():  # what the default measured (its first call paid it)
        print(f"data_parallel=None calibrated shape class {cls} (devices, samples, largest W rounded up) in "
              f"{cal['seconds']:.2f} s, counted in jaxnn.train's compile s: probe one device {cal['one']:.0f} "
              f"steps/s, sharded {cal['sharded']:.0f} -> {cal['devices']} device(s)")
    one, bare1 = "jaxnn.train (one device)", "bare loop (cols, one device)"
    print(f"{one}: {100 * rate[one] / rate[bare1]:.1f}% of the bare loop on one device (target >= 95%)")
    sharded = f"bare loop (cols, sharded over {n_dev})"
    if sharded in rate:
        ratio = rate[sharded] / rate[sharded + ", propagation"]
        print(f"the sharded bare loop with one flat all-reduce runs {ratio:.2f}x the one whose reduction XLA's "
              "propagation places")
        print(f"jaxnn.train (data-parallel): {100 * rate['jaxnn.train'] / rate[sharded]:.1f}% of the sharded bare "
              f"loop; the sharded bare loop is {rate[sharded] / rate[bare1]:.2f}x the one-device bare loop")
    if "PyTorch eager" in rate:
        torch_rate = rate["PyTorch eager"]
        ceiling = max(v for k, v in rate.items() if k.startswith("bare")) / torch_rate
        print(f"against PyTorch eager: jaxnn.train as called by default ({by['jaxnn.train']['notes'].split('; ')[-1]})"
              f" {rate['jaxnn.train'] / torch_rate:.2f}x (target >= 2.2x); jaxnn.train(data_parallel=False) "
              f"{rate[one] / torch_rate:.2f}x; ceiling on this machine (the fastest bare loop, no guard or "
              f"history): {ceiling:.2f}x")
    if large is not None:
        times, compile_s, compiles, losses, flops_step, sizes, m, devices = large
        print()
        print(f"### Large MLP, {'-'.join(map(str, sizes))} sigmoid, squared error, full batch m={m} random data, "
              f"{a.large_steps} steps, best of {a.repeats} interleaved repeats")
        print(f"(matmul FLOPs per step: {flops_step / 1e9:.2f} G; jaxnn.train's default sharded the samples over "
              f"{devices} device(s))")
        print()
        rows = rows_for(times, compile_s, losses, flops_step, a.large_steps, peak, "jaxnn.train", {}, compiles)
        print(table(rows, cols[:-1]))
        by = {r["implementation"]: r for r in rows}
        if "raw JAX (jit+scan, rows)" in by:
            for k in ("jaxnn.train", "jaxnn.train (one device)"):
                gap = by[k]["% of peak"] - by["raw JAX (jit+scan, rows)"]["% of peak"]
                print(f"{k} - raw JAX (one device): {gap:+.1f} points of peak (target: within 3)")
            print(f"(jaxnn.train also evaluates J and its gradient once before the first step, "
                  f"{100 / a.large_steps:.0f}% more work at {a.large_steps} steps, counted against it here)")
    if forms is not None:
        rows, steps = forms
        print()
        print(f"### The optimizer argument: {a.optimizer_calls} calls of jaxnn.train (digits, {steps} steps, one "
              "device) per form")
        print()
        print(table(rows, list(rows[0])))
    if max(peaks) > 1.3 * min(peaks):
        print(f"\nwarning: the matmul peak measurements vary by {max(peaks) / min(peaks):.1f}x: the machine is busy, "
              "so rates, ratios and fractions of peak are noisy; rerun on a quiet machine.")


if __name__ == "__main__":
    main(ARGS)
