"""Parity of jaxnn.estimators with scikit-learn: test accuracy (digits) and test R^2 (diabetes),
the same hyperparameters, per solver, over several random states.

jaxnn draws the init, the early-stopping split and every epoch's minibatch order from the same
``random_state`` stream as scikit-learn, so in float64 the stochastic solvers follow scikit-learn's
trajectory step for step (shuffled or not): the gap columns (largest |coefs_ difference|, relative
difference of the final loss, n_iter_ difference) are rounding error there.  L-BFGS differs by its line
search (optax's zoom vs scipy's L-BFGS-B): its gap columns measure how far that moves the fit.

Writes runs/estimator_parity/: results.csv (one row per dataset, solver, library, seed),
summary.csv and summary.md (the table), metrics.json (summary + provenance).

Usage:
    python experiments/estimator_parity.py [--seeds 5] [--reg-seeds 10] [--datasets digits,diabetes]
                                           [--no-shuffle] [--out runs/estimator_parity]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=1e-3),
    "sgd": dict(solver="sgd", learning_rate_init=0.05, momentum=0.9),
    "lbfgs": dict(solver="lbfgs"),
}
# diabetes has 309 training rows: a small, strongly regularized network (a big one overfits and its
# test R^2 is mostly noise across random states)
REG_SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=1e-2, alpha=1.0),
    "sgd": dict(solver="sgd", learning_rate_init=1e-2, momentum=0.9, alpha=1.0),
    "lbfgs": dict(solver="lbfgs", alpha=30.0),
}


def datasets(seed=0):
    from sklearn.datasets import load_diabetes, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.3, random_state=seed, stratify=y)
    digits = (Xtr, Xte, ytr, yte)
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed)
    sx = StandardScaler().fit(Xtr)
    mu, sd = ytr.mean(), ytr.std()
    diabetes = (sx.transform(Xtr), sx.transform(Xte), (ytr - mu) / sd, (yte - mu) / sd)
    return {"digits": digits, "diabetes": diabetes}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="random states per solver and library (digits)")
    ap.add_argument("--reg-seeds", type=int, default=10, help="random states per solver and library (diabetes)")
    ap.add_argument("--datasets", default="digits,diabetes", help="comma-separated subset of digits,diabetes")
    ap.add_argument("--no-shuffle", action="store_true", help="shuffle=False (identical stochastic trajectories)")
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--out", default="runs/estimator_parity")
    args = ap.parse_args(argv)

    from sklearn import neural_network as sk_nn
    from sklearn.exceptions import ConvergenceWarning

    from jaxnn.estimators import MLPClassifier, MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    data = {k: v for k, v in datasets().items() if k in args.datasets.split(",")}
    rows = []
    for dname, (Xtr, Xte, ytr, yte) in data.items():
        clf = dname == "digits"
        for sname, kw in (SOLVERS if clf else REG_SOLVERS).items():
            for seed in range(args.seeds if clf else args.reg_seeds):
                params = dict(hidden_layer_sizes=(100,) if clf else (10,), max_iter=args.max_iter,
                              random_state=seed, shuffle=not args.no_shuffle, **kw)
                fits = {}
                for lib, cls in (("jaxnn", MLPClassifier if clf else MLPRegressor),
                                 ("sklearn", sk_nn.MLPClassifier if clf else sk_nn.MLPRegressor)):
                    t0 = time.perf_counter()
                    fits[lib] = est = cls(**params).fit(Xtr, ytr)
                    rows.append({"dataset": dname, "metric": "accuracy" if clf else "R2", "solver": sname,
                                 "library": lib, "seed": seed, "test_score": float(est.score(Xte, yte)),
                                 "train_score": float(est.score(Xtr, ytr)), "n_iter": int(est.n_iter_),
                                 "loss": float(est.loss_), "fit_s": time.perf_counter() - t0})
                a, b = fits["jaxnn"], fits["sklearn"]
                gap = {"coef_gap": max(float(np.max(np.abs(u - v))) for u, v in zip(a.coefs_ + a.intercepts_,
                                                                                      b.coefs_ + b.intercepts_)),
                       "loss_rel_gap": abs(a.loss_ - b.loss_) / abs(b.loss_), "n_iter_gap": a.n_iter_ - b.n_iter_}
                for r in rows[-2:]:
                    r.update(gap)
                print(f"{dname} {sname} seed {seed}: jaxnn {rows[-2]['test_score']:.4f} "
                      f"sklearn {rows[-1]['test_score']:.4f} max|coef gap| {gap['coef_gap']:.2e} "
                      f"loss rel gap {gap['loss_rel_gap']:.2e} n_iter gap {gap['n_iter_gap']}", flush=True)

    summary = []
    for dname in data:
        for sname in SOLVERS:
            sel = {lib: [r["test_score"] for r in rows
                         if (r["dataset"], r["solver"], r["library"]) == (dname, sname, lib)]
                   for lib in ("jaxnn", "sklearn")}
            j, s = np.mean(sel["jaxnn"]), np.mean(sel["sklearn"])
            pairs = [r for r in rows if (r["dataset"], r["solver"], r["library"]) == (dname, sname, "jaxnn")]
            summary.append({"dataset": dname, "metric": "accuracy" if dname == "digits" else "R2", "solver": sname,
                            "jaxnn": j, "jaxnn_std": np.std(sel["jaxnn"]), "sklearn": s,
                            "sklearn_std": np.std(sel["sklearn"]), "diff_points": 100 * (j - s),
                            "within_1_point": bool(abs(j - s) <= 0.01),
                            "max_coef_gap": max(r["coef_gap"] for r in pairs),
                            "max_loss_rel_gap": max(r["loss_rel_gap"] for r in pairs),
                            "max_abs_n_iter_gap": max(abs(r["n_iter_gap"]) for r in pairs)})
    lines = ["| dataset | metric | solver | jaxnn (mean ± std) | scikit-learn (mean ± std) | diff (points) "
             "| max abs coefs_ gap | max rel loss_ gap | max abs n_iter_ gap |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['dataset']} | test {r['metric']} | {r['solver']} | "
                     f"{r['jaxnn']:.4f} ± {r['jaxnn_std']:.4f} | "
                     f"{r['sklearn']:.4f} ± {r['sklearn_std']:.4f} | {r['diff_points']:+.2f} | "
                     f"{r['max_coef_gap']:.1e} | {r['max_loss_rel_gap']:.1e} | {r['max_abs_n_iter_gap']} |")
    md = "\n".join(lines)
    print(f"\nrandom states: {args.seeds} (digits), {args.reg_seeds} (diabetes); shuffle={not args.no_shuffle}, "
          f"max_iter={args.max_iter}\n")
    print(md)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(md + "\n")
    import jax
    import sklearn

    meta = {"command": " ".join([sys.executable] + sys.argv), "args": vars(args), "summary": summary,
            "versions": {"jax": jax.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__,
                         "python": platform.python_version()}, "machine": platform.platform(),
            "datasets": {"digits": "load_digits / 16, stratified 70/30 split (random_state=0)",
                         "diabetes": "load_diabetes, standardized X and y on the training part, 70/30 split"}}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(meta, f, indent=2, default=float)
    return summary


if __name__ == "__main__":
    main()
