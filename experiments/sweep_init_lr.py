"""THE MAIN JOB: how the lecture's network on scikit-learn's digits depends on the init scale eps and the
learning rate alpha: every (eps, alpha, seed) trained in one compiled, vmapped call (jaxnn.sweep).

The lecture's setting: a 64-H-10 sigmoid network, squared error, full-batch gradient descent from
W, b ~ N(0, eps^2).  The grid shows (1) the symmetry failure at eps = 0: every hidden unit stays
identical, so the network is no better than one hidden unit; (2) divergence at large alpha: the first
steps throw the weights so far that the output units saturate (|z| > 10, f'(z) < 5e-5) and learning
stops at chance accuracy (marked diverged: saturated and no better than predicting the class
frequencies); with a ridge penalty (--lam 1e-3 --lrs ... 10000) the weights grow without bound and
the run goes non-finite, which the divergence guard records; (3) the best (eps, alpha).

    python experiments/sweep_init_lr.py                       # default grid, < 3 minutes on 2 CPU cores
    python experiments/sweep_init_lr.py --scales 0 0.01 1 --lrs 0.1 1 10 --seeds 2 --steps 300

Writes OUT (default runs/sweep_init_lr/): results.csv (one row per eps, alpha, seed), results.npz
(all arrays incl. loss curves), meta.json + manifest.json (command, grid, git commit, versions),
heatmap_train_loss.png, heatmap_test_accuracy.png, curves_by_lr.png, curves_by_scale.png,
summary.json.  Rerunning the same command resumes (finished chunks are skipped).

Several devices are used automatically; several hosts: run the same command on every host with
--coordinator-address HOST0:PORT --num-processes N --process-id I.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import add_sweep_args, setup_sweep_devices  # noqa: E402

DEFAULT_SCALES = [0.0, 1e-3, 1e-2, 1e-1, 1.0]
DEFAULT_LRS = [float(f"{v:.3g}") for v in np.logspace(-1, 3, 8)]  # 0.1 ... 1000


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=float, nargs="+", default=DEFAULT_SCALES,
                   help=f"init scales eps (space-separated; default {DEFAULT_SCALES})")
    p.add_argument("--lrs", type=float, nargs="+", default=DEFAULT_LRS,
                   help=f"learning rates alpha (space-separated; default 8 log-spaced {DEFAULT_LRS})")
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    p.add_argument("--steps", type=int, default=1000, help="gradient-descent steps (default 1000)")
    p.add_argument("--hidden", type=int, default=30, help="hidden units H (default 30)")
    p.add_argument("--lam", type=float, default=0.0, help="ridge strength lambda (default 0)")
    p.add_argument("--seed", type=int, default=0, help="base PRNG seed (seed s uses fold_in(key, s))")
    p.add_argument("--out", default="runs/sweep_init_lr", help="output directory (default runs/sweep_init_lr)")
    add_sweep_args(p)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = parse(argv)
    setup_sweep_devices(a)  # before any JAX computation

    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import datasets
    from jaxnn.sweeps import sweep

    d = datasets.digits(jax.random.key(a.seed))
    Xtr, Ytr, ytr = d["X_train"], d["Y_train"], d["y_train"]
    Xte, Yte, yte = d["X_test"], d["Y_test"], d["y_test"]
    sizes = [64, a.hidden, 10]
    lam, steps = a.lam, a.steps

    def run(key, scale, lr):
        p0 = jaxnn.init_mlp(key, sizes, scale=scale)
        p, hist = jaxnn.train(p0, Xtr, Ytr, lr=lr, lam=lam, steps=steps, activation="sigmoid")
        W1 = p[0]["W"]
        return {
            "final_loss": hist["loss"][-1],
            "initial_loss": jaxnn.objective(p0, Xtr, Ytr, lam=lam),
            "train_accuracy": jnp.mean(jnp.argmax(jaxnn.forward(p, Xtr), -1) == ytr),
            "test_accuracy": jnp.mean(jnp.argmax(jaxnn.forward(p, Xte), -1) == yte),
            "test_loss": jaxnn.objective(p, Xte, Yte),
            # fraction of output pre-activations z (training data) with |z| > 10, f'(z) < 5e-5: blown-up weights
            "saturated": jnp.mean(jnp.abs(jaxnn.forward_cache(p, Xtr).z[-1]) > 10),
            # 0 iff every hidden unit has the same incoming weights and bias (unbroken symmetry)
            "hidden_spread": jnp.max(jnp.abs(W1 - W1[:1])) + jnp.max(jnp.abs(p[0]["b"] - p[0]["b"][0])),
            "diverged_at": hist["diverged_at"],
            "loss": hist["loss"],
        }

    lead = jax.process_index() == 0
    if lead:
        print(f"digits: {Xtr.shape[0]} train / {Xte.shape[0]} test, network {sizes} sigmoid, squared error, "
              f"lam={lam}, {steps} steps; grid {len(a.scales)} scales x {len(a.lrs)} lrs x {a.seeds} seeds "
              f"on {len(jax.devices())} device(s)", flush=True)
    t0 = time.perf_counter()
    try:
        res = sweep(run, {"scale": a.scales, "lr": a.lrs}, key=jax.random.key(a.seed), seeds=a.seeds,
                    chunk_size=a.chunk_size, out_dir=a.out, progress=False if a.no_progress else None)
    except ValueError as e:  # e.g. --out holds a different sweep
        raise SystemExit(f"error: {e}") from None
    wall = time.perf_counter() - t0
    if not lead:
        return {}

    # diverged: non-finite (the guard stopped it), or the weights blew up into saturated outputs and the
    # network learned nothing (training loss no lower than that of predicting the class frequencies)
    Y = np.asarray(Ytr)
    constant_loss = 0.5 * np.mean(np.sum((Y - Y.mean(0)) ** 2, axis=1))
    blew_up = res.diverged | ((res["saturated"] > 0.5) & (res["final_loss"] >= constant_loss - 1e-3))
    from jaxnn.sweeps import plot
    from jaxnn.sweeps.plot import reduce_to

    plot.heatmap(res, "final_loss", "lr", "scale", diverged=blew_up, log_color=True,
                 path=os.path.join(a.out, "heatmap_train_loss.png"),
                 title="final training loss J (mean over seeds; x: diverged or saturated)")
    plot.heatmap(res, "test_accuracy", "lr", "scale", diverged=blew_up, cmap="magma",
                 path=os.path.join(a.out, "heatmap_test_accuracy.png"),
                 title="test accuracy (mean over seeds; x: diverged or saturated)")
    acc, _ = reduce_to(res, "test_accuracy", ["scale", "lr"], diverged=blew_up)
    if np.all(np.isnan(acc)):
        raise SystemExit("every configuration diverged: try smaller --lrs")
    i, j = np.unravel_index(np.nanargmax(acc), acc.shape)
    best_scale, best_lr = float(res.axes["scale"][i]), float(res.axes["lr"][j])
    plot.learning_curves(res, "loss", by="lr", select={"scale": best_scale},
                         path=os.path.join(a.out, "curves_by_lr.png"))
    plot.learning_curves(res, "loss", by="scale", select={"lr": best_lr},
                         path=os.path.join(a.out, "curves_by_scale.png"))

    # what the grid shows
    scales, lrs = res.axes["scale"], res.axes["lr"]
    spread = res["hidden_spread"].max(axis=(1, 2))  # per scale, over lrs and seeds
    acc_by_scale = np.nanmax(acc, axis=1)
    blown_by_lr = blew_up.mean(axis=(0, 2))
    summary = {
        "best": {"scale": best_scale, "lr": best_lr, "test_accuracy": float(acc[i, j]),
                 "final_loss": float(reduce_to(res, "final_loss", ["scale", "lr"], diverged=blew_up)[0][i, j])},
        "n_runs": res.meta["n_runs"], "n_diverged_nonfinite": res.n_diverged,
        "n_blew_up": int(blew_up.sum()),
        "best_test_accuracy_by_scale": {f"{s:g}": float(v) for s, v in zip(scales, acc_by_scale)},
        "hidden_spread_by_scale": {f"{s:g}": float(v) for s, v in zip(scales, spread)},
        "fraction_blew_up_by_lr": {f"{lr:g}": float(v) for lr, v in zip(lrs, blown_by_lr)},
        "wall_s": wall, "compile_s": res.meta["compile_s"], "run_s": res.meta["run_s"],
        "chunk_size": res.meta["chunk_size"], "devices": res.meta["devices"],
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

    b = summary["best"]
    print(f"best: scale={b['scale']:g} lr={b['lr']:g}: test accuracy {b['test_accuracy']:.3f}, "
          f"final training loss {b['final_loss']:.4g} (mean over {a.seeds} seeds)")
    if 0.0 in scales:
        k = int(np.flatnonzero(scales == 0.0)[0])
        others = np.delete(acc_by_scale, k)
        print(f"scale 0: hidden units never differ (max spread {spread[k]:.2g}): symmetry is never broken; "
              f"best test accuracy {acc_by_scale[k]:.3f}"
              + (f" vs {np.nanmax(others):.3f} with a random init" if others.size else ""))
    bad = [f"{lr:g}" for lr, v in zip(lrs, blown_by_lr) if v > 0.5]
    print(f"large learning rates: alpha = {', '.join(bad) if bad else 'none'} diverge in most runs "
          f"({summary['n_blew_up']} of {res.meta['n_runs']} runs: {res.n_diverged} non-finite, the rest blew the "
          f"weights up into saturated outputs, |z| > 10, where learning stops at chance accuracy)")
    print(f"{res.meta['n_runs']} runs in {wall:.1f} s (compile {res.meta['compile_s']:.1f} s, "
          f"{res.meta['chunk_size']} runs per chunk on {res.meta['devices']} device(s)); wrote {a.out}/")
    return summary


if __name__ == "__main__":
    main()
