"""UFLDL's sparse autoencoder exercise: jaxnn (compiled L-BFGS, compiled gradient descent) vs the
classic SciPy approach (hand-written NumPy cost and gradient, ``scipy.optimize.minimize(method="L-BFGS-B",
jac=True)``): same data, same initial weights, same number of iterations; wall time and final objective
side by side.

Configuration (UFLDL's exercise): 10,000 8x8 patches of 1/f-whitened natural images normalized to
[0.1, 0.9], 25 hidden units, rho = 0.01, lam = 1e-4, beta = 3, 400 iterations.  Both L-BFGS variants
keep 10 curvature pairs.  Compile time is measured separately and excluded from the jaxnn times.

    python benchmarks/bench_autoencoder.py            # ~1-2 min on 2 CPU cores
    python benchmarks/bench_autoencoder.py --quick    # m = 2000, 100 iterations

This process unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (if set) before importing NumPy, so the NumPy
baseline uses OpenBLAS's own CPU detection.
"""

from __future__ import annotations

import os

_UNSET = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None) is not None]

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, block, machine, numpy_threads_note, table  # noqa: E402

from jaxnn import autoencoder as ae  # noqa: E402
from jaxnn import patches  # noqa: E402


# ------------------------------------------------------------------ the classic approach, in NumPy
def numpy_cost_grad(theta, X, n_visible, n_hidden, lam, beta, rho, dtype=np.float64):
    """UFLDL's sparseAutoencoderCost.m in NumPy: objective and gradient over the flat parameter vector
    [W1, W2, b1, b2] (W1 (h, v), W2 (v, h)); X is (m, v), one patch per row."""
    h, v = n_hidden, n_visible
    th = theta.astype(dtype, copy=False)
    W1 = th[:h * v].reshape(h, v)
    W2 = th[h * v:2 * h * v].reshape(v, h)
    b1 = th[2 * h * v:2 * h * v + h]
    b2 = th[2 * h * v + h:]
    m = X.shape[0]
    A2 = 1.0 / (1.0 + np.exp(-(X @ W1.T + b1)))
    A3 = 1.0 / (1.0 + np.exp(-(A2 @ W2.T + b2)))
    rho_hat = A2.mean(axis=0)
    diff = A3 - X
    J = (0.5 * np.sum(diff**2) / m + 0.5 * lam * (np.sum(W1**2) + np.sum(W2**2))
         + beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))
    delta3 = diff * A3 * (1 - A3)
    delta2 = (delta3 @ W2 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) * A2 * (1 - A2)
    gW1 = delta2.T @ X / m + lam * W1
    gW2 = delta3.T @ A2 / m + lam * W2
    grad = np.concatenate([gW1.ravel(), gW2.ravel(), delta2.mean(0), delta3.mean(0)])
    return float(J), grad.astype(np.float64)


def to_flat(params):
    leaves = (params[0]["W"], params[1]["W"], params[0]["b"], params[1]["b"])
    return np.concatenate([np.asarray(a, np.float64).ravel() for a in leaves])


def run_scipy(theta0, X, args, n_v, n_h, dtype, blas_threads=None):
    from scipy.optimize import minimize

    Xd = np.asarray(X, dtype)
    fun = lambda th: numpy_cost_grad(th, Xd, n_v, n_h, args.lam, args.beta, args.rho, dtype)  # noqa: E731
    opts = {"maxiter": args.steps, "maxcor": 10, "ftol": 0.0, "gtol": 0.0, "maxfun": 50 * args.steps}
    limit = _blas_limit(blas_threads)
    with limit:
        t0 = time.perf_counter()
        res = minimize(fun, theta0, jac=True, method="L-BFGS-B", options=opts)
        return res, time.perf_counter() - t0


def _blas_limit(n):
    import contextlib

    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("(threadpoolctl not installed: cannot limit BLAS threads; pip install 'jaxnn[bench]')")
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


# ----------------------------------------------------------------------------------------- jaxnn
def run_jaxnn(params0, X, args, method, lr=None):
    kw = dict(lam=args.lam, beta=args.beta, rho=args.rho, steps=args.steps, method=method, lr=lr,
              output_activation="sigmoid", memory_size=10)
    t0 = time.perf_counter()
    run = ae.compile_fit(params0, X, **kw)
    compile_s = time.perf_counter() - t0
    out = run()
    block(out)
    run_s = best_time(run, repeats=args.repeats)
    params, hist = out
    J = float(ae.sparse_loss(params, X, args.lam, args.beta, args.rho))
    return J, np.asarray(hist["loss"]), run_s, compile_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patches", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lam", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=3.0)
    ap.add_argument("--rho", type=float, default=0.01)
    ap.add_argument("--gd-lr", type=float, default=1.0, help="learning rate of plain gradient descent")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each jaxnn run (best kept)")
    ap.add_argument("--quick", action="store_true", help="m = 2000 patches, 100 iterations")
    ap.add_argument("--numpy-float32", action="store_true", help="also run the NumPy cost/gradient in float32")
    ap.add_argument("--no-single-thread", action="store_true",
                    help="skip the SciPy/NumPy run limited to one BLAS thread (shown because OpenBLAS threads "
                         "slow down badly on a busy machine)")
    args = ap.parse_args(argv)
    if args.quick:
        args.patches, args.steps = 2000, 100

    print(machine())
    print(numpy_threads_note())
    if _UNSET:
        print(f"(unset {', '.join(_UNSET)} for this process)")
    n_v, n_h = 64, 25
    X32 = patches.ufldl_patches(jax.random.key(0), args.patches, 8, dtype=jnp.float32)
    params0 = ae.init(jax.random.key(1), n_v, n_h, dtype=jnp.float32)
    theta0 = to_flat(params0)
    print(f"UFLDL exercise: m={args.patches} patches 8x8, {n_h} hidden, rho={args.rho}, lam={args.lam}, "
          f"beta={args.beta}, {args.steps} iterations; initial objective "
          f"{numpy_cost_grad(theta0, np.asarray(X32, np.float64), n_v, n_h, args.lam, args.beta, args.rho)[0]:.4f}\n")

    rows = []
    for dtype, threads in ((np.float64, None), (np.float64, 1), (np.float32, None)):
        if (threads is not None and args.no_single_thread) or (dtype == np.float32 and not args.numpy_float32):
            continue
        res, t = run_scipy(theta0, X32, args, n_v, n_h, dtype, threads)
        blas = "default BLAS threads" if threads is None else f"{threads} BLAS thread"
        rows.append({"method": f"SciPy L-BFGS-B + NumPy cost/grad ({np.dtype(dtype).name}, {blas})",
                     "objective": float(res.fun), "iterations": int(res.nit), "evals": int(res.nfev),
                     "time_s": t, "compile_s": 0.0})

    J, hist, run_s, comp_s = run_jaxnn(params0, X32, args, "lbfgs")
    rows.append({"method": "jaxnn compiled L-BFGS (float32)", "objective": J, "iterations": args.steps,
                 "time_s": run_s, "compile_s": comp_s, "_hist": hist})
    with jax.enable_x64(True):
        X64 = jnp.asarray(np.asarray(X32, np.float64))
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params0)
        J, hist, run_s, comp_s = run_jaxnn(p64, X64, args, "lbfgs")
    rows.append({"method": "jaxnn compiled L-BFGS (float64)", "objective": J, "iterations": args.steps,
                 "time_s": run_s, "compile_s": comp_s, "_hist": hist})
    J, hist, run_s, comp_s = run_jaxnn(params0, X32, args, "gd", lr=args.gd_lr)
    rows.append({"method": f"jaxnn compiled gradient descent lr={args.gd_lr} (float32)", "objective": J,
                 "iterations": args.steps, "evals": args.steps, "time_s": run_s, "compile_s": comp_s})

    ref = rows[0]
    best_scipy = min(r["time_s"] for r in rows if r["method"].startswith("SciPy"))
    for r in rows:
        r["speedup_vs_scipy64"] = ref["time_s"] / r["time_s"]
        r["speedup_vs_fastest_scipy"] = best_scipy / r["time_s"]
        r["ms_per_iter"] = 1e3 * r["time_s"] / max(r["iterations"], 1)
        if "_hist" in r:  # iterations the compiled L-BFGS needs to reach SciPy's final objective
            hit = np.nonzero(r.pop("_hist") <= ref["objective"] * (1 + 1e-6))[0]
            r["iters_to_scipy_objective"] = int(hit[0]) + 1 if hit.size else "not reached"
    print(table(rows, ["method", "objective", "iterations", "evals", "iters_to_scipy_objective", "time_s",
                       "ms_per_iter", "compile_s", "speedup_vs_scipy64", "speedup_vs_fastest_scipy"]))
    print("\nTimes exclude jaxnn's compile time (column compile_s); jaxnn times are the best of "
          f"{args.repeats} runs, SciPy's a single run. 'evals': objective+gradient evaluations "
          "(SciPy's line search); optax's zoom line search evaluates inside the compiled loop.")


if __name__ == "__main__":
    main()
