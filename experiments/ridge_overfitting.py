"""The ridge penalty against overfitting (lecture section 2): sweep lambda with a small training set and
compare training and test error.

A 64-H-10 network with sigmoid hidden units is trained on only a few digits (default 100), long enough
to fit them; every lambda x seed is one run of a single vmapped sweep.  With lambda = 0 the training
error goes to ~0 while the test error stays high (overfitting); a moderate lambda trades a little
training error for lower test error; a large lambda underfits both.

Default loss: softmax cross-entropy.  With the lecture's squared error on sigmoid outputs
(--loss squared --lr 5 --scale 0.1) and lambda = 0, plain gradient descent stalls on this tiny set
within 2000 steps (hidden units saturate) instead of fitting it, so there the penalty mostly helps the
optimization and the overfitting picture is blurred; the run shows that too.

    python experiments/ridge_overfitting.py
    python experiments/ridge_overfitting.py --lams 0 1e-4 1e-3 1e-2 --n-train 200 --steps 1000

Writes OUT (default runs/ridge_overfitting/): results.csv, results.npz, meta.json (provenance),
train_vs_test.png (errors vs lambda), accuracy.png, summary.json.
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

DEFAULT_LAMS = [0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lams", type=float, nargs="+", default=DEFAULT_LAMS, help="ridge strengths lambda")
    p.add_argument("--n-train", type=int, default=100, help="training samples (default 100; the rest is test)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units (default 100)")
    p.add_argument("--steps", type=int, default=2000, help="gradient-descent steps (default 2000)")
    p.add_argument("--lr", type=float, default=3.0, help="learning rate alpha (default 3)")
    p.add_argument("--scale", type=float, default=0.5, help="init scale eps (default 0.5)")
    p.add_argument("--loss", choices=["squared", "cross_entropy"], default="cross_entropy",
                   help="squared (sigmoid outputs, the lecture's) or cross_entropy (softmax outputs)")
    p.add_argument("--seeds", type=int, default=3, help="seeds (default 3)")
    p.add_argument("--seed", type=int, default=0, help="base PRNG seed (also picks the training digits)")
    p.add_argument("--out", default="runs/ridge_overfitting", help="output directory")
    add_sweep_args(p)
    a = p.parse_args(argv)

    setup_sweep_devices(a)  # before any JAX computation
    import jax
    import jax.numpy as jnp

    import jaxnn
    from jaxnn import datasets
    from jaxnn.sweeps import plot, sweep

    m = 1797
    if not 10 <= a.n_train < m:
        raise SystemExit(f"--n-train: expected 10 .. {m - 1}, got {a.n_train}")
    d = datasets.digits(jax.random.key(a.seed), test_fraction=(m - a.n_train) / m)
    Xtr, Ytr, ytr = d["X_train"], d["Y_train"], d["y_train"]
    Xte, Yte, yte = d["X_test"], d["Y_test"], d["y_test"]
    sizes = [64, a.hidden, 10]
    steps, lr, scale = a.steps, a.lr, a.scale
    out_act = "softmax" if a.loss == "cross_entropy" else None
    kw = dict(activation="sigmoid", output_activation=out_act, loss=a.loss)
    if a.loss == "cross_entropy":
        Ytr, Yte = jaxnn.encode_labels(ytr, 10, "softmax"), jaxnn.encode_labels(yte, 10, "softmax")

    def run(key, lam):
        p0 = jaxnn.init_mlp(key, sizes, scale=scale)
        params, hist = jaxnn.train(p0, Xtr, Ytr, lr=lr, lam=lam, steps=steps, **kw)
        return {
            # errors are the data term (1/m) sum loss(h(x), y), without the penalty
            "train_error": jaxnn.objective(params, Xtr, Ytr, **kw),
            "test_error": jaxnn.objective(params, Xte, Yte, **kw),
            "train_accuracy": jnp.mean(jnp.argmax(jaxnn.forward(params, Xtr, "sigmoid", out_act), -1) == ytr),
            "test_accuracy": jnp.mean(jnp.argmax(jaxnn.forward(params, Xte, "sigmoid", out_act), -1) == yte),
            "weight_norm2": jaxnn.ridge(params),
            "diverged_at": hist["diverged_at"],
            "loss": hist["loss"],
        }

    lead = jax.process_index() == 0
    if lead:
        print(f"digits: {Xtr.shape[0]} train / {Xte.shape[0]} test, network {sizes} sigmoid, {a.loss}, "
              f"lr={lr}, scale={scale}, {steps} steps; {len(a.lams)} lambdas x {a.seeds} seeds", flush=True)
    t0 = time.perf_counter()
    try:
        res = sweep(run, {"lam": a.lams}, key=jax.random.key(a.seed), seeds=a.seeds, chunk_size=a.chunk_size,
                    out_dir=a.out, progress=False if a.no_progress else None,
                    directions={"train_error": "min", "test_error": "min", "train_accuracy": "max",
                                "test_accuracy": "max"})
    except ValueError as e:  # e.g. --out holds a different sweep
        raise SystemExit(f"error: {e}") from None
    wall = time.perf_counter() - t0
    if not lead:
        return {}

    plot.lines(res, ["train_error", "test_error"], "lam", path=os.path.join(a.out, "train_vs_test.png"),
               ylabel=f"data term (1/m) sum loss(h(x), y), {a.loss}",
               title=f"ridge: train vs test error, {Xtr.shape[0]} training digits (mean over seeds)")
    plot.lines(res, ["train_accuracy", "test_accuracy"], "lam", path=os.path.join(a.out, "accuracy.png"),
               ylabel="accuracy", title="ridge: train vs test accuracy (mean over seeds)")

    lams = res.axes["lam"]
    tr, te = res.mean("train_error"), res.mean("test_error")
    acc_tr, acc_te = res.mean("train_accuracy"), res.mean("test_accuracy")
    if np.all(np.isnan(te)):
        raise SystemExit("every run diverged: try a smaller --lr")
    best = res.best("test_error")["index"][0]  # the lowest seed-mean test error (declared "min")
    summary = {
        "lam": lams.tolist(), "train_error": tr.tolist(), "test_error": te.tolist(),
        "train_accuracy": acc_tr.tolist(), "test_accuracy": acc_te.tolist(),
        "best_lam": float(lams[best]), "n_diverged": res.n_diverged, "wall_s": wall,
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"{'lam':>8} {'train err':>10} {'test err':>10} {'train acc':>10} {'test acc':>9}")
    for i, lam in enumerate(lams):
        print(f"{lam:>8g} {tr[i]:>10.4f} {te[i]:>10.4f} {acc_tr[i]:>10.3f} {acc_te[i]:>9.3f}")
    if lams[0] == 0.0:
        print(f"lam=0 overfits: train error {tr[0]:.4f} vs test error {te[0]:.4f} (gap {te[0] - tr[0]:.4f}); "
              f"best lam={lams[best]:g}: train {tr[best]:.4f}, test {te[best]:.4f} (gap {te[best] - tr[best]:.4f})")
    print(f"{res.meta['n_runs']} runs in {wall:.1f} s (compile {res.meta['compile_s']:.1f} s); wrote {a.out}/")
    return summary


if __name__ == "__main__":
    main()
