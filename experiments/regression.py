"""The lecture's regression recipe on scikit-learn's diabetes data (ships with scikit-learn).

Targets are scaled into [0, 1] for a sigmoid output (or [-1, 1] for tanh), the network is trained
on the scaled targets with the ridge-penalized squared error, and predictions are mapped back into
the original units (disease progression), where the error is reported.

    python experiments/regression.py [--activation sigmoid|tanh] [--hidden 20] [--lr 0.5] [--steps 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import provenance, write_json  # noqa: E402

import jaxnn  # noqa: E402
from jaxnn.datasets import diabetes  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--activation", choices=["sigmoid", "tanh"], default="sigmoid",
                   help="hidden and output activation; targets are scaled into its range")
    p.add_argument("--hidden", type=int, default=20, help="hidden units")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--lam", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--scale", type=float, default=0.1, help="init scale eps")
    p.add_argument("--margin", type=float, default=0.1, help="keep targets this fraction inside the range")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/regression")
    a = p.parse_args(argv)

    k_split, k_init = jax.random.split(jax.random.key(a.seed))
    d = diabetes(k_split)
    scaler = jaxnn.fit_target_scaler(d["y_train"], a.activation, margin=a.margin)
    Y_train = jaxnn.scale_targets(d["y_train"][:, None], scaler)

    params = jaxnn.init_mlp(k_init, [d["X_train"].shape[1], a.hidden, 1], scale=a.scale)
    t0 = time.perf_counter()
    params, hist = jaxnn.train(params, d["X_train"], Y_train, lr=a.lr, lam=a.lam, steps=a.steps,
                               activation=a.activation)
    hist["loss"].block_until_ready()
    secs = time.perf_counter() - t0

    def rmse(X, y):
        pred = jaxnn.unscale_targets(jaxnn.forward(params, X, a.activation)[:, 0], scaler)
        return float(jnp.sqrt(jnp.mean((pred - y) ** 2)))

    baseline = float(jnp.sqrt(jnp.mean((d["y_test"] - d["y_train"].mean()) ** 2)))
    res = {"train_rmse": rmse(d["X_train"], d["y_train"]), "test_rmse": rmse(d["X_test"], d["y_test"]),
           "test_rmse_predict_mean": baseline, "final_objective": float(hist["loss"][-1]),
           "diverged_at": int(hist["diverged_at"]), "seconds_incl_compile": secs,
           "target_range": [float(scaler.low), float(scaler.high)]}
    y_test = np.asarray(d["y_test"])
    res["test_r2"] = 1 - res["test_rmse"] ** 2 / float(np.mean((y_test - y_test.mean()) ** 2))
    print(f"diabetes (442 x 10), 10-{a.hidden}-1 {a.activation}, targets scaled into "
          f"[{scaler.low:.2f}, {scaler.high:.2f}], {a.steps} steps of lr={a.lr}, lam={a.lam}")
    print(f"  test RMSE {res['test_rmse']:.1f} (original units) vs {baseline:.1f} predicting the mean; "
          f"test R^2 {res['test_r2']:.3f}; train RMSE {res['train_rmse']:.1f}")
    write_json(os.path.join(a.out, "results.json"), {**res, "args": vars(a), "provenance": provenance()})
    print(f"wrote {os.path.join(a.out, 'results.json')}")
    return res


if __name__ == "__main__":
    main()
