"""Grid vs random vs Sobol search at equal trial counts (Bergstra & Bengio, JMLR 2012), on scikit-learn's digits.

Three hyperparameters of the lecture's 64-H-10 network (sigmoid hidden units, softmax output, cross-entropy,
full-batch Adam): the init scale eps, the learning rate alpha and the ridge strength lambda, each over a
log range (default eps in [1e-3, 1], alpha in [1e-3, 1], lambda in [1e-6, 1e-1]).  For every trial budget T
(default 9, 27, 81, 243) each method proposes T trials, every trial is trained once, the trial with the best
validation accuracy is picked (ties: the lower validation cross-entropy) and its test accuracy is reported.
Digits: 30% test (reporting only), the rest split 70/30 into training and validation (picking).

The designs (all over the same log ranges; u in [0, 1) is a quantile of the log range):

* random: T independent log-uniform draws (``sweeps.random``).
* Sobol: the first T points of a scrambled Sobol sequence (``sweeps.sobol``).  Sobol points are balanced only
  at powers of two, so at 9, 27, 81, 243 they are a low-discrepancy design without that guarantee.
* grid: per-axis lengths whose product is exactly T, as equal as possible (the factorization with the
  smallest largest length, then the smallest second: 9 = 3x3x1, 27 = 3x3x3, 81 = 9x3x3, 243 = 9x9x3; a prime T
  is a T x 1 x 1 grid).  Which hyperparameter gets the longest axis rotates with the repeat (repeat r gives it
  to axis r mod 3 of eps, alpha, lambda): a grid designer does not know which one matters.  An axis of length k
  takes the quantiles (i + s) / k, i = 0..k-1, with one random shift s ~ U[0, 1) per axis and repeat (a randomly
  shifted grid: each point is marginally log-uniform, as a random trial is); --grid-shift none uses the cell
  centres s = 1/2 (a length-1 axis is then the geometric middle of its range).

Repeats: repeat r draws new trials for random and Sobol, a new shift (and axis rotation) for the grid, and every
method a new network-init key (``jaxnn.sweep``'s key; within one sweep all trials share that init, common
random numbers).  Efficiency: random and Sobol run only their largest budget per repeat and take prefixes for
the smaller ones.  That is not an approximation: the first T trials of ``sweeps.random(243)`` /
``sweeps.sobol(243)`` with a key ARE the trials of ``sweeps.random(T)`` / ``sweeps.sobol(T)`` with that key
(checked at run time; a budget whose prefix differed would be run on its own), and every trial gets the same
init, so the budgets of one repeat are nested (dependent across budgets, as a user extending a search would
see).  Every grid budget is its own grid, its own sweep.  One compiled function serves every sweep (the data is
passed as ``data=``, the chunk size is fixed).

    python experiments/random_vs_grid.py                     # < 3 minutes on 2 CPU cores
    python experiments/random_vs_grid.py --budgets 8 64 512 --repeats 3 --steps 300 --hidden 30
    python experiments/random_vs_grid.py --quick             # a smoke test

Writes OUT (default runs/random_vs_grid/): best_vs_trials.png (best validation accuracy vs trials, mean over
repeats with a min-max band; test accuracy of the picked trial), results.csv (one row per method, repeat and
budget: the picked trial), trials.csv (every trained trial), summary.json (every number, provenance).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import add_sweep_args, provenance, setup_sweep_devices, write_csv, write_json  # noqa: E402

METHODS = ("grid", "random", "sobol")
NAMES = ("scale", "lr", "lam")  # the order of the grid's axes and of the unit cube's coordinates
LR_RANGE = {"adam": (1e-3, 1.0), "gd": (1e-2, 1e2)}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", type=int, nargs="+", default=[9, 27, 81, 243],
                   help="trial budgets T, each method gets T trials (default 9 27 81 243)")
    p.add_argument("--repeats", type=int, default=6, help="repeats of every search (default 6)")
    p.add_argument("--steps", type=int, default=100, help="full-batch training steps (default 100)")
    p.add_argument("--hidden", type=int, default=20, help="hidden units H (default 20)")
    p.add_argument("--optimizer", choices=["adam", "gd"], default="adam",
                   help="adam (default) or the lecture's plain gradient descent")
    p.add_argument("--scale-range", type=float, nargs=2, default=[1e-3, 1.0], metavar=("LO", "HI"),
                   help="log range of the init scale eps (default 1e-3 1)")
    p.add_argument("--lr-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="log range of the learning rate (default 1e-3 1 for adam, 1e-2 1e2 for gd)")
    p.add_argument("--lam-range", type=float, nargs=2, default=[1e-6, 1e-1], metavar=("LO", "HI"),
                   help="log range of the ridge strength lambda (default 1e-6 1e-1)")
    p.add_argument("--grid-shift", choices=["random", "none"], default="random",
                   help="grid points at randomly shifted quantiles per repeat (default) or at the cell centres")
    p.add_argument("--val-fraction", type=float, default=0.3, help="validation part of the non-test digits")
    p.add_argument("--seed", type=int, default=0, help="base PRNG seed (data split, designs, inits)")
    p.add_argument("--out", default="runs/random_vs_grid", help="output directory (default runs/random_vs_grid)")
    p.add_argument("--quick", action="store_true", help="tiny: (budgets 2 4, 2 repeats, 10 steps): a smoke test")
    add_sweep_args(p)
    a = p.parse_args(argv)
    if a.quick:
        a.budgets, a.repeats, a.steps, a.hidden = [2, 4], 2, 10, 5
    a.budgets = sorted(set(a.budgets))
    if a.budgets[0] < 1 or a.repeats < 1 or a.steps < 1 or a.hidden < 1:
        p.error("--budgets, --repeats, --steps and --hidden must be >= 1")
    a.lr_range = a.lr_range or list(LR_RANGE[a.optimizer])
    for name in ("scale_range", "lr_range", "lam_range"):
        lo, hi = getattr(a, name)
        if not 0 < lo < hi:
            p.error(f"--{name.replace('_', '-')}: expected 0 < LO < HI, got {lo} {hi}")
    return a


def grid_lengths(T: int, d: int = 3) -> tuple:
    """Per-axis lengths, largest first, whose product is exactly T and which are as equal as possible: the
    factorization into d factors with the smallest largest factor, then the smallest second, ..."""
    def facts(n, k, cap):
        if k == 1:
            return [(n,)] if n <= cap else []
        return [(f,) + rest for f in range(min(n, cap), 0, -1) if n % f == 0 for rest in facts(n // f, k - 1, f)]

    return min(facts(T, d, T))


def grid_axes(T: int, repeat: int, shift: np.ndarray, ranges: dict) -> dict:
    """``{name: values}`` of the budget-T grid of one repeat: lengths rotated by the repeat, log-spaced values
    at the quantiles (i + shift) / k of each range."""
    lengths = grid_lengths(T, len(NAMES))
    axes = {}
    for j, name in enumerate(NAMES):
        k = lengths[(j - repeat) % len(NAMES)]
        lo, hi = np.log(ranges[name][0]), np.log(ranges[name][1])
        axes[name] = [float(v) for v in np.exp(lo + (hi - lo) * (np.arange(k) + shift[j]) / k)]
    return axes


def pick(val_acc: np.ndarray, val_loss: np.ndarray, ok: np.ndarray) -> int:
    """Index of the best trial: highest validation accuracy, ties broken by the lower validation loss; runs that
    diverged or were invalid are never picked (-1 if none is ok)."""
    if not ok.any():
        return -1
    order = np.lexsort((np.where(ok, val_loss, np.inf), -np.where(ok, val_acc, -np.inf)))
    return int(order[0])


def main_effects(logs: dict, y: np.ndarray, bins: int = 10) -> dict:
    """Fraction of the variance of ``y`` explained by each hyperparameter alone: the variance of the means of y
    in ``bins`` equal-count bins of that hyperparameter, over the variance of y (a crude first-order
    functional ANOVA over iid random trials)."""
    total = np.var(y)
    out = {}
    for name, x in logs.items():
        groups = np.array_split(np.argsort(x), max(1, min(bins, len(y) // 10)))  # >= 10 trials a bin
        means = np.array([y[g].mean() for g in groups])
        sizes = np.array([len(g) for g in groups])
        out[name] = float(np.sum(sizes * (means - y.mean()) ** 2) / len(y) / total) if total > 0 else 0.0
    return out


def figure(path, budgets, curves, n_val, n_test, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxnn.io import atomic_write

    style = {"grid": ("tab:red", "s", -1), "random": ("tab:blue", "o", 0), "sobol": ("tab:green", "^", 1)}
    fig, axs = plt.subplots(1, 2, figsize=(11.5, 4.4), constrained_layout=True)
    x = np.asarray(budgets, float)
    clipped = 0
    for ax, what, label, n in ((axs[0], "val", "best validation accuracy", n_val),
                               (axs[1], "test", "test accuracy of the picked trial", n_test)):
        for m in METHODS:
            color, marker, k = style[m]
            Y = curves[m][what]  # (repeats, budgets)
            xs = x * 1.06 ** k  # a small offset per method so that the markers do not hide each other
            ax.fill_between(xs, Y.min(0), Y.max(0), color=color, alpha=0.13, lw=0)
            ax.plot(xs, Y.mean(0), color=color, marker=marker, lw=2, ms=7,
                    label=m)
            ax.plot(np.repeat(xs[None], Y.shape[0], 0).ravel(), Y.ravel(), ls="", marker=marker, ms=3,
                    color=color, alpha=0.35)
        # the y range follows the searches; one far below the rest (it would more than double the range) is
        # drawn on the lower edge (v) with its value
        allv = np.concatenate([curves[m][what].ravel() for m in METHODS])
        allv = allv[np.isfinite(allv)]
        hi = allv.max() + 0.003
        core = min(min(np.nanmin(np.nanmean(curves[m][what], 0)) for m in METHODS), np.percentile(allv, 5))
        lo = (core if core - allv.min() > hi - core else allv.min()) - 0.004
        n_low = 0
        for m in METHODS:
            color, marker, k = style[m]
            for (r, j) in zip(*np.nonzero(curves[m][what] < lo)):
                xj = x[j] * 1.06 ** k
                ax.plot([xj], [lo], marker="v", color=color, ms=8, clip_on=False)
                ax.annotate(f"{m} {curves[m][what][r, j]:.3f}", (xj, lo), xytext=(8, 3 + 11 * n_low),
                            textcoords="offset points", color=color, fontsize=8)
                n_low += 1
        clipped += n_low
        ax.set_ylim(lo, hi)
        ax.set_xscale("log")
        ax.set_xticks(x, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("trials per search (log scale)")
        ax.set_ylabel(label)
        ax.set_title(f"{label} ({n} digits: one digit = {1 / n:.2%})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
    axs[0].legend(loc="lower right", fontsize=9)
    R = curves["grid"]["val"].shape[0]
    fig.suptitle(f"{title}\nlines: mean over {R} repeats; bands: min-max; dots: single repeats"
                 + ("; v: a search below the axis" if clipped else ""), fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def findings(s: dict, budgets: list, curves: dict, rows: list) -> str:
    """One paragraph from the numbers of ``summary`` (what it measures, what it shows)."""
    R, n_val = s["repeats"], s["setting"]["n_val"]
    vc, tc = s["val_comparison"]["random_minus_grid"], s["test_comparison"]["random_minus_grid"]

    def diffs(v):
        return ", ".join(f"T={T} {dd:+.3f} +- {se:.3f}" for T, dd, se in zip(budgets, v["diff"], v["se"]))

    def where(v):
        parts = [f"{word} at T = {', '.join(str(T) for T, x in zip(budgets, v['verdict']) if x == key)}"
                 for key, word in (("better", "ahead"), ("worse", "behind"), ("same", "within two standard errors"))
                 if key in v["verdict"]]
        return "; ".join(parts)

    def at(v, key):
        return ", ".join(str(T) for T, x in zip(budgets, v["verdict"]) if x == key)

    vb, tb, tw = at(vc, "better"), at(tc, "better"), at(tc, "worse")
    if tb and not tw:
        outcome = f"This reproduces Bergstra & Bengio's advantage of random search on held-out data at T = {tb}."
    elif tw and not tb:
        outcome = (f"On held-out data the grid was ahead at T = {tw}, the opposite of Bergstra & Bengio's result "
                   f"(elsewhere within two standard errors).")
    elif tb and tw:
        outcome = f"Mixed: on held-out data random search was ahead at T = {tb} and behind at T = {tw}."
    elif vb:
        outcome = (f"Bergstra & Bengio's advantage of random search shows in the validation score the search "
                   f"maximizes (T = {vb}), not in the test accuracy of its pick.")
    else:
        outcome = ("No budget separates random search from the grid by two standard errors on either score: this run "
                   "neither reproduces nor contradicts Bergstra & Bengio's result.")
    sign = np.sign(vc["diff"])
    if np.all(sign > 0) or np.all(sign < 0):
        outcome += (f"  Random search's mean best validation accuracy is {'above' if sign[0] > 0 else 'below'} the "
                    f"grid's at every budget.")
    n_cmp = 2 * len(budgets)
    if any(x != "same" for x in vc["verdict"] + tc["verdict"]):
        outcome += (f"  (Of {n_cmp} comparisons at two standard errors, one or more such verdicts arise by chance "
                    f"alone with probability about {1 - 0.954 ** n_cmp:.0%} if independent.)")
    label = {"scale": "init scale", "lr": "learning rate", "lam": "lambda"}
    eff = sorted(s["main_effects_val_accuracy"].items(), key=lambda kv: -kv[1])
    pool = s["random_trials_pooled"]
    near = pool["fraction_within_1pt_of_best"]
    miss = ", ".join(f"{(1 - near) ** T:.0%} at T={T}" for T in budgets)
    T0 = budgets[0]
    worst = {m: min((r for r in rows if r["method"] == m and r["budget"] == T0),
                    key=lambda r: (np.nan_to_num(r["val_accuracy"], nan=-1.0), r["repeat"])) for m in METHODS}
    wg = worst["grid"]
    fixed = "; its fixed axes: " + ", ".join(f"{label[k]} = {wg[k]:.3g}" for k in wg["fixed"].split(";")) \
        if wg["fixed"] else ""
    gap = [np.nanmean([curves[m]["val"][:, j] - curves[m]["test"][:, j] for m in METHODS]) for j in range(len(budgets))]
    # low effective dimensionality (Bergstra & Bengio's premise): one or two hyperparameters carry the effects
    low_dim = len(eff) > 1 and eff[0][1] > 0 and eff[-1][1] < 0.25 * eff[0][1]
    premise = ("Bergstra & Bengio's premise holds (a low effective dimensionality)" if low_dim else
               "Bergstra & Bengio's premise (a low effective dimensionality) is not clear here")
    return (
        f"Finding: this measures, per search of T trials (each trained once), the best validation accuracy found "
        f"(on {n_val} digits: one digit = {1 / n_val:.2%}) and the test accuracy of the trial picked by it, {R} "
        f"repeats per method.  Random minus grid (mean +- standard error over repeats), best validation accuracy: "
        f"{diffs(vc)}; test accuracy of the pick: {diffs(tc)} (Sobol minus grid, validation: "
        f"{diffs(s['val_comparison']['sobol_minus_grid'])}).  On validation accuracy random search is "
        f"{where(vc)}; on test accuracy {where(tc)}.  {outcome}  {premise}: alone, "
        f"{', '.join(f'{label[k]} explains {v:.0%}' for k, v in eff)} of the variance of validation accuracy over "
        f"the {pool['n']} pooled random trials (binned main effects), while a grid of T = "
        f"{', '.join(map(str, budgets))} trials tries at most {', '.join(str(grid_lengths(T)[0]) for T in budgets)} "
        f"values of any one hyperparameter (random and Sobol search: T).  At T={T0} the worst of the {R} grid "
        f"searches found {wg['val_accuracy']:.3f} (grid {wg['grid_shape']} over eps x alpha x lambda{fixed}), the "
        f"worst random one {worst['random']['val_accuracy']:.3f}, the worst Sobol one "
        f"{worst['sobol']['val_accuracy']:.3f}.  {near:.0%} of the random trials come within one point of the best "
        f"validation accuracy seen ({pool['best_val_accuracy']:.3f}): a random search misses that region with "
        f"probability {miss}.  The pick's validation minus test accuracy (the optimism of picking the maximum of "
        f"T noisy scores, plus whatever separates the two splits) is "
        f"{', '.join(f'{g:+.3f} at T={T}' for g, T in zip(gap, budgets))} (mean over methods).")


def main(argv=None) -> dict:
    a = parse(argv)
    setup_sweep_devices(a)  # before any JAX computation

    import jax
    import jax.numpy as jnp
    import optax

    import jaxnn
    from jaxnn import datasets, sweeps

    t_start = time.perf_counter()
    k_data, k_val, k_grid, k_random, k_sobol = jax.random.split(jax.random.key(a.seed), 5)
    d = datasets.digits(k_data, activation="softmax")
    tr, va = datasets.split(k_val, d["X_train"].shape[0], a.val_fraction)
    data = {"X": d["X_train"][tr], "Y": d["Y_train"][tr], "X_val": d["X_train"][va], "Y_val": d["Y_train"][va],
            "y_val": d["y_train"][va], "X_test": d["X_test"], "y_test": d["y_test"]}
    sizes, steps = [64, a.hidden, 10], a.steps
    optimizer = optax.adam if a.optimizer == "adam" else None
    net = {"activation": "sigmoid", "output_activation": "softmax"}

    def run(key, data, scale, lr, lam):
        p0 = jaxnn.init_mlp(key, sizes, scale=scale)
        p, hist = jaxnn.train(p0, data["X"], data["Y"], lr=lr, lam=lam, steps=steps, loss="cross_entropy",
                              optimizer=optimizer, **net)

        def accuracy(X, y):
            return jnp.mean(jnp.argmax(jaxnn.forward(p, X, **net), -1) == y)

        return {"val_accuracy": accuracy(data["X_val"], data["y_val"]),
                "val_loss": jaxnn.data_term(p, data["X_val"], data["Y_val"], loss="cross_entropy", **net),
                "test_accuracy": accuracy(data["X_test"], data["y_test"]),
                "train_loss": hist["loss"][-1], "diverged_at": hist["diverged_at"], "invalid": hist["invalid"]}

    ranges = {"scale": tuple(a.scale_range), "lr": tuple(a.lr_range), "lam": tuple(a.lam_range)}
    dists = {k: sweeps.loguniform(*v) for k, v in ranges.items()}
    T_max = a.budgets[-1]
    # one chunk size for every sweep, a multiple of the device count: one compilation serves them all
    n_dev = len(jax.devices())
    chunk = a.chunk_size or -(-min(32, max(a.budgets)) // n_dev) * n_dev
    opts = {"seeds": 1, "data": data, "chunk_size": chunk, "progress": False}  # 6 small sweeps a repeat: no bars
    lead = jax.process_index() == 0
    say = print if lead else (lambda *_, **__: None)
    say(f"digits: {len(tr)} train / {len(va)} validation / {d['X_test'].shape[0]} test; network {sizes} sigmoid + "
        f"softmax, cross-entropy, {a.optimizer} {steps} full-batch steps; budgets {a.budgets} x {a.repeats} "
        f"repeats x {METHODS}; eps {ranges['scale']}, alpha {ranges['lr']}, lambda {ranges['lam']} (log); "
        f"{n_dev} device(s), chunks of {chunk}", flush=True)
    not_pow2 = [T for T in a.budgets if T & (T - 1)]
    if not_pow2:
        say(f"note: Sobol points are balanced only at powers of two; budgets {not_pow2} are not")

    def space(kind, n):
        with warnings.catch_warnings():  # the power-of-two note, said once above
            warnings.simplefilter("ignore", UserWarning)
            return (sweeps.random if kind == "random" else sweeps.sobol)(n, **dists)

    def trial_rows(method, r, T, res):
        flat = {k: np.asarray(res.coords[k]).reshape(-1) for k in NAMES}
        m = {k: np.asarray(res[k]).reshape(-1) for k in ("val_accuracy", "val_loss", "test_accuracy", "train_loss")}
        ok = np.asarray(res.ok).reshape(-1)
        return {"method": method, "repeat": r, "design": T, **flat, **m, "ok": ok}

    trials, prefix_checks, shifts = [], [], []
    t_sweeps = 0.0
    for r in range(a.repeats):
        for method, k_method in (("random", k_random), ("sobol", k_sobol)):
            key = jax.random.fold_in(k_method, r)
            t0 = time.perf_counter()
            res = jaxnn.sweep(run, space(method, T_max), key=key, **opts)
            t_sweeps += time.perf_counter() - t0
            full = trial_rows(method, r, T_max, res)
            big = space(method, T_max).resolve(key).values
            for T in a.budgets:
                small = space(method, T).resolve(key).values
                same = all(np.array_equal(small[k], big[k][:T]) for k in NAMES)
                prefix_checks.append(same)
                if same:  # the budget-T search IS the first T trials of the largest one
                    trials.append({k: (v[:T] if isinstance(v, np.ndarray) else v) for k, v in full.items()}
                                  | {"budget": T})
                else:  # not nested (a different engine): run that budget on its own
                    res_T = jaxnn.sweep(run, space(method, T), key=key, **opts)
                    trials.append(trial_rows(method, r, T, res_T) | {"budget": T})
        key = jax.random.fold_in(k_grid, r)
        shift = (np.full(len(NAMES), 0.5) if a.grid_shift == "none"
                 else np.asarray(jax.random.uniform(jax.random.fold_in(key, 1 << 20), (len(NAMES),)), np.float64))
        shifts.append(shift.tolist())
        for T in a.budgets:
            axes = grid_axes(T, r, shift, ranges)
            t0 = time.perf_counter()
            res = jaxnn.sweep(run, sweeps.grid(**axes), key=key, **opts)
            t_sweeps += time.perf_counter() - t0
            trials.append(trial_rows("grid", r, T, res) | {"budget": T, "shape": [len(axes[k]) for k in NAMES],
                                                          "shift": shift.tolist()})
        say(f"repeat {r + 1}/{a.repeats} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    if not lead:
        return {}

    # ---- the picked trial of every (method, repeat, budget)
    rows, n_runs = [], 0
    for t in trials:
        i = pick(t["val_accuracy"], t["val_loss"], t["ok"])
        row = {"method": t["method"], "repeat": t["repeat"], "budget": t["budget"],
               "grid_shape": "x".join(map(str, t["shape"])) if "shape" in t else ""}
        if i < 0:
            row.update({k: float("nan") for k in NAMES + ("val_accuracy", "val_loss", "test_accuracy")})
        else:
            row.update({k: float(t[k][i]) for k in NAMES + ("val_accuracy", "val_loss", "test_accuracy")})
        row.update(picked=i, n_ok=int(t["ok"].sum()),
                   fixed=";".join(k for k, n in zip(NAMES, t.get("shape", ())) if n == 1))
        rows.append(row)
    n_runs = sum(len(t["ok"]) for t in trials if t["method"] == "grid" or t["budget"] == T_max)
    R, B = a.repeats, len(a.budgets)
    curves = {m: {w: np.full((R, B), np.nan) for w in ("val", "test")} for m in METHODS}
    for row in rows:
        j = a.budgets.index(row["budget"])
        curves[row["method"]]["val"][row["repeat"], j] = row["val_accuracy"]
        curves[row["method"]]["test"][row["repeat"], j] = row["test_accuracy"]

    # ---- how much each hyperparameter matters: main effects over the pooled random trials (all repeats)
    pooled = [t for t in trials if t["method"] == "random" and t["budget"] == T_max]
    ok = np.concatenate([t["ok"] for t in pooled])
    y = np.concatenate([t["val_accuracy"] for t in pooled])[ok]
    logs = {k: np.log10(np.concatenate([t[k] for t in pooled]))[ok] for k in NAMES}
    effects = main_effects(logs, y)
    best_all = float(y.max())
    near = float(np.mean(y >= best_all - 0.01))
    n_val, n_test = len(va), int(d["X_test"].shape[0])

    def stats(A):
        return {"mean": np.nanmean(A, 0).tolist(), "std": np.nanstd(A, 0, ddof=1).tolist() if R > 1 else [0.0] * B,
                "min": np.nanmin(A, 0).tolist(), "max": np.nanmax(A, 0).tolist(), "per_repeat": A.tolist()}

    def compare(what):
        """random - grid and sobol - grid per budget: mean difference and its standard error (independent
        repeats), and a verdict at two standard errors."""
        out = {}
        for m in ("random", "sobol"):
            A, G = curves[m][what], curves["grid"][what]
            diff = np.nanmean(A, 0) - np.nanmean(G, 0)
            se = (np.sqrt(np.nanvar(A, 0, ddof=1) / R + np.nanvar(G, 0, ddof=1) / R) if R > 1
                  else np.full(B, np.nan))
            verdict = ["better" if s > 0 and dd > 2 * s else "worse" if s > 0 and dd < -2 * s else "same"
                       for dd, s in zip(diff, se)]
            out[f"{m}_minus_grid"] = {"diff": diff.tolist(), "se": se.tolist(), "verdict": verdict}
        return out

    grid_shapes = {str(T): {f"repeat {r}": [len(v) for v in grid_axes(T, r, np.zeros(3), ranges).values()]
                            for r in range(min(R, 3))} for T in a.budgets}
    wall = time.perf_counter() - t_start
    summary = {
        "budgets": a.budgets, "repeats": R, "methods": list(METHODS),
        "setting": {"sizes": sizes, "steps": steps, "optimizer": a.optimizer, "loss": "cross_entropy",
                    "activation": "sigmoid", "output_activation": "softmax", "ranges": ranges,
                    "grid_shift": a.grid_shift, "n_train": len(tr), "n_val": n_val, "n_test": n_test,
                    "seed": a.seed, "pick": "max validation accuracy, ties: min validation cross-entropy"},
        "grid_lengths": {str(T): list(grid_lengths(T)) for T in a.budgets},
        "grid_shapes_scale_lr_lam": grid_shapes, "grid_shifts_per_repeat": shifts,
        "best_val_accuracy": {m: stats(curves[m]["val"]) for m in METHODS},
        "test_accuracy_of_picked": {m: stats(curves[m]["test"]) for m in METHODS},
        "val_comparison": compare("val"), "test_comparison": compare("test"),
        "main_effects_val_accuracy": effects,
        "random_trials_pooled": {"n": int(ok.sum()), "best_val_accuracy": best_all,
                                 "fraction_within_1pt_of_best": near,
                                 "median_val_accuracy": float(np.median(y))},
        "picked": rows, "prefix_identical": bool(all(prefix_checks)), "n_runs": n_runs,
        "n_not_ok": int(sum((~t["ok"]).sum() for t in trials if t["method"] == "grid" or t["budget"] == T_max)),
        "wall_s": wall, "sweeps_s": t_sweeps, "chunk_size": chunk,
        "provenance": provenance(),
    }
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "summary.json"), summary)
    write_csv(os.path.join(a.out, "results.csv"), rows)
    trial_csv = []
    for t in trials:
        if t["method"] != "grid" and t["budget"] != T_max:
            continue  # prefixes: the same trials again
        for i in range(len(t["ok"])):
            trial_csv.append({"method": t["method"], "repeat": t["repeat"], "budget": t["budget"], "trial": i,
                              **{k: float(t[k][i]) for k in NAMES + ("val_accuracy", "val_loss", "test_accuracy",
                                                                        "train_loss")},
                              "ok": bool(t["ok"][i])})
    write_csv(os.path.join(a.out, "trials.csv"), trial_csv)
    figure(os.path.join(a.out, "best_vs_trials.png"), a.budgets, curves, n_val, n_test,
           f"digits, {sizes} sigmoid/softmax, {a.optimizer} {steps} steps: search over eps, alpha, lambda "
           "(log ranges)")

    # ---- table and findings
    def cell(A, j):
        return f"{np.nanmean(A[:, j]):.3f} [{np.nanmin(A[:, j]):.3f},{np.nanmax(A[:, j]):.3f}]"

    w = 21
    print(f"\nbest validation accuracy | test accuracy of the picked trial: mean [min, max] over {R} repeats")
    print(f"{'T':>4} {'grid':>6} | " + " ".join(f"{'val ' + m:<{w}}" for m in METHODS) + " | "
          + " ".join(f"{'test ' + m:<{w}}" for m in METHODS))
    for j, T in enumerate(a.budgets):
        print(f"{T:>4} {'x'.join(map(str, grid_lengths(T))):>6} | "
              + " ".join(f"{cell(curves[m]['val'], j):<{w}}" for m in METHODS) + " | "
              + " ".join(f"{cell(curves[m]['test'], j):<{w}}" for m in METHODS))

    finding = findings(summary, a.budgets, curves, rows)
    print()
    print(finding)
    print(f"\n{n_runs} trained runs ({summary['n_not_ok']} diverged or invalid) in {wall:.1f} s "
          f"(sweeps {t_sweeps:.1f} s); prefixes identical to separate searches: {summary['prefix_identical']}; "
          f"wrote {a.out}/")
    summary["finding"] = finding
    write_json(os.path.join(a.out, "summary.json"), summary)
    return summary


if __name__ == "__main__":
    main()
