"""UFLDL's sparse autoencoder exercise, and the lecture's 10x10 / 100-hidden figure, on jaxnn.

Two models, both trained by compiled L-BFGS on m natural-image patches (1/f-whitened photographs
shipped with scikit-image and scikit-learn, UFLDL's normalization to [0.1, 0.9]), with UFLDL's
hyperparameters rho = 0.01, lam = 1e-4, beta = 3:

* ``ufldl``:   8 x 8 patches, 25 hidden units (UFLDL's exercise);
* ``lecture``: 10 x 10 patches, 100 hidden units (the lecture's figure), 800 iterations by default:
  with four times the parameters, 400 iterations leave visibly noisier filters.

Writes ``runs/sparse_autoencoder/`` (or ``--out``):
  filters_ufldl.png, filters_lecture.png   the max-activation inputs W1_i / ||W1_i|| (display_network grid)
  filters_lecture_init.png                 the same for the untrained initialization
  weights.npz                              W1 (n_hidden, n_visible), b1, W2, b2 of the lecture model
  weights_ufldl.npz                        the same for the 8x8 model
  history.npz                              objective after every L-BFGS iteration, per model
  metrics.csv, metrics.json                final objective, reconstruction error (train / held-out),
                                           mean hidden activation vs rho, edge measure trained vs
                                           untrained, wall and compile times, provenance

Optional (``--models ufldl,lecture,zca``): UFLDL's *linear decoder* pipeline, which whitens with ZCA
instead: raw 8 x 8 patches (pixels in [0, 1]), ZCA-whitened with each relative epsilon of
``--zca-epsilons`` (default 2, which is UFLDL's absolute 0.1 on these pixels, and 0.001), 25 hidden units,
linear output units, UFLDL's linear-decoder hyperparameters (lam 3e-3, beta 5, rho 0.035):
filters_zca_eps*.png and their rows in the metrics show that a far smaller epsilon whitens the pixel
noise and the filters stop being edges.

    python experiments/sparse_autoencoder.py            # ~1.5 min on 2 CPU cores
    python experiments/sparse_autoencoder.py --help
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import autoencoder as ae
from jaxnn import display, edges, patches
from jaxnn.io import atomic_write

CONFIGS = {"ufldl": {"p": 8, "n_hidden": 25}, "lecture": {"p": 10, "n_hidden": 100}}
MODELS = tuple(CONFIGS) + ("zca",)
ZCA_HYPER = {"lam": 3e-3, "beta": 5.0, "rho": 0.035}  # UFLDL's linear decoder exercise


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=int, default=10000, help="training patches m (UFLDL: 10000)")
    ap.add_argument("--test-patches", type=int, default=2000, help="held-out patches for the reconstruction error")
    ap.add_argument("--steps", type=int, default=400, help="L-BFGS iterations of the 8x8 model (UFLDL: 400)")
    ap.add_argument("--lecture-steps", type=int, default=800,
                    help="L-BFGS iterations of the 10x10/100-hidden model (4x the parameters: more iterations)")
    ap.add_argument("--lam", type=float, default=1e-4, help="ridge strength lambda")
    ap.add_argument("--beta", type=float, default=3.0, help="sparsity weight beta")
    ap.add_argument("--rho", type=float, default=0.01, help="target mean activation rho")
    ap.add_argument("--seed", type=int, default=0, help="seed of the PRNG key (patches and init)")
    ap.add_argument("--models", default="ufldl,lecture",
                    help="comma-separated subset of: " + ", ".join(MODELS) + " (zca: optional, see below)")
    ap.add_argument("--zca-epsilons", default="2,0.001",
                    help="relative ZCA epsilons of the zca model (2 ~ UFLDL's 0.1 on these pixels)")
    ap.add_argument("--out", default="runs/sparse_autoencoder", help="output directory")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m!r}; choose from {list(MODELS)}")
    if not models:
        ap.error("--models: give at least one model")
    args.models = models
    try:
        args.zca_epsilons = [float(v) for v in args.zca_epsilons.split(",") if v]
    except ValueError:
        ap.error(f"--zca-epsilons: expected comma-separated numbers, got {args.zca_epsilons!r}")
    if any(e < 0 for e in args.zca_epsilons):
        ap.error("--zca-epsilons: expected values >= 0")
    return args


def save_npz(path, **arrays):
    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        f.write(buf.getvalue())
    atomic_write(path, write)


def train_and_measure(name, X, X_test, params0, p, steps, hyper, output_activation, args):
    """One compiled L-BFGS training plus every metric; writes the filter grid and the weights."""
    t0 = time.perf_counter()
    run = ae.compile_fit(params0, X, **hyper, steps=steps, method="lbfgs", output_activation=output_activation,
                         memory_size=10)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    params, hist = run()
    jax.block_until_ready(hist["loss"])
    train_s = time.perf_counter() - t0

    rho_hat = np.asarray(ae.mean_activation(params, X))
    filt, filt0 = ae.max_activation_inputs(params), ae.max_activation_inputs(params0)
    em, em0 = edges.edge_measure(filt, p), edges.edge_measure(filt0, p)
    out = dict(output_activation=output_activation)
    row = {
        "model": name, "p": p, "n_visible": p * p, "n_hidden": int(params0[0]["W"].shape[0]), "m": int(X.shape[0]),
        "steps": steps, **hyper, "output": output_activation,
        "final_objective": float(ae.sparse_loss(params, X, **hyper, **out)),
        "initial_objective": float(ae.sparse_loss(params0, X, **hyper, **out)),
        "recon_error_train": float(ae.loss(params, X, **out)),  # (1/m) sum 1/2 ||x_hat - x||^2 (lam = 0)
        "recon_error_test": float(ae.loss(params, X_test, **out)),
        "mean_activation": float(rho_hat.mean()),
        "max_unit_activation": float(rho_hat.max()),
        "dead_units": int(np.sum(rho_hat < 1e-3)),
        "diverged_at": int(hist["diverged_at"]),
        "train_s": train_s, "compile_s": compile_s,
        **{f"edge_{k}": v for k, v in edges.summary(em).items()},
        **{f"edge_init_{k}": v for k, v in edges.summary(em0).items()},
    }
    display.save_filter_grid(os.path.join(args.out, f"filters_{name}.png"), filt, p)
    if name == "lecture":
        display.save_filter_grid(os.path.join(args.out, "filters_lecture_init.png"), filt0, p)
    arrays = {"W1": params[0]["W"], "b1": params[0]["b"], "W2": params[1]["W"], "b2": params[1]["b"]}
    save_npz(os.path.join(args.out, "weights.npz" if name == "lecture" else f"weights_{name}.npz"), **arrays)
    return row, {f"loss_{name}": np.asarray(hist["loss"]), f"r2_{name}": np.asarray(em.r2),
                 f"r2_init_{name}": np.asarray(em0.r2)}


def run_model(name, cfg, images, args, key):
    """UFLDL's pipeline: 1/f-whitened images, normalized patches, sigmoid output."""
    p, n_hidden = cfg["p"], cfg["n_hidden"]
    k_train, k_test, k_init = jax.random.split(key, 3)
    X = patches.normalize_ufldl(patches.sample_patches(k_train, images, args.patches, p))
    X_test = patches.normalize_ufldl(patches.sample_patches(k_test, images, args.test_patches, p))
    params0 = ae.init(k_init, p * p, n_hidden)
    steps = args.lecture_steps if name == "lecture" else args.steps
    hyper = dict(lam=args.lam, beta=args.beta, rho=args.rho)
    return [train_and_measure(name, X, X_test, params0, p, steps, hyper, "sigmoid", args)]


def run_zca(raw_images, args, key):
    """UFLDL's linear-decoder pipeline on raw pixels in [0, 1]: ZCA whitening (one run per relative
    epsilon), linear output units, UFLDL's linear-decoder hyperparameters."""
    p, n_hidden = 8, 25
    k_train, k_test, k_init = jax.random.split(key, 3)
    X_raw = patches.sample_patches(k_train, raw_images, args.patches, p)
    X_raw_test = patches.sample_patches(k_test, raw_images, args.test_patches, p)
    params0 = ae.init(k_init, p * p, n_hidden)
    out = []
    for eps in args.zca_epsilons:
        zca = patches.zca_fit(X_raw, epsilon=eps)
        X, X_test = patches.zca_apply(zca, X_raw), patches.zca_apply(zca, X_raw_test)
        row, hist = train_and_measure(f"zca_eps{eps:g}", X, X_test, params0, p, args.steps, dict(ZCA_HYPER),
                                      "identity", args)
        row["zca_epsilon"], row["zca_epsilon_abs"] = eps, float(zca.epsilon_abs)
        out.append((row, hist))
    return out


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()
    raw = patches.load_images()
    images = patches.whiten_images_1f(raw)
    keys = jax.random.split(jax.random.key(args.seed), len(CONFIGS) + 1)
    rows, hists = [], {}
    for (name, cfg), key in zip(list(CONFIGS.items()) + [("zca", None)], keys):
        if name not in args.models:
            continue
        results = run_zca(raw, args, key) if name == "zca" else run_model(name, cfg, images, args, key)
        for row, hist in results:
            rows.append(row)
            hists.update(hist)
            print(f"{row['model']}: {row['p']}x{row['p']} patches, {row['n_hidden']} hidden, {row['steps']} L-BFGS "
                  f"iterations: objective {row['final_objective']:.4f} (init {row['initial_objective']:.2f}), "
                  f"recon error train {row['recon_error_train']:.4f} / test {row['recon_error_test']:.4f}, "
                  f"mean activation {row['mean_activation']:.4f} (rho {row['rho']}), "
                  f"edge r2 {row['edge_mean_r2']:.3f} (untrained {row['edge_init_mean_r2']:.3f}), "
                  f"orientation spread {row['edge_orientation_spread']:.2f}, position spread "
                  f"{row['edge_position_spread']:.2f}, train {row['train_s']:.1f} s + compile "
                  f"{row['compile_s']:.1f} s", flush=True)
    save_npz(os.path.join(args.out, "history.npz"), **hists)
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def write_csv(f):
        s = io.StringIO()
        w = csv.DictWriter(s, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        f.write(s.getvalue().encode())
    atomic_write(os.path.join(args.out, "metrics.csv"), write_csv)
    meta = {
        "experiment": "sparse_autoencoder", "args": vars(args), "models": rows,
        "images": list(patches.IMAGE_NAMES),
        "pipeline": {"ufldl/lecture": "whiten_images_1f -> sample_patches -> normalize_ufldl -> sigmoid output",
                     "zca": "sample_patches (raw pixels in [0, 1]) -> zca_fit/zca_apply -> linear decoder"},
        "wall_s": time.perf_counter() - t_start,
        "provenance": {"jax": jax.__version__, "python": sys.version.split()[0], "platform": platform.platform(),
                       "device": str(jax.devices()[0]), "dtype": str(jnp.result_type(float)),
                       "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    atomic_write(os.path.join(args.out, "metrics.json"), lambda f: f.write(json.dumps(meta, indent=2).encode()))
    print(f"wrote {args.out}/ in {meta['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
