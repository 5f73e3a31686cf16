"""How sparsity and the learned edges depend on beta and rho: a sparse autoencoder sweep with jaxnn.sweep.

Every (beta, rho) pair of the grid (and every seed) is one compiled L-BFGS training of UFLDL's 8x8 / 25
hidden-unit sparse autoencoder on the same natural-image patches; ``jaxnn.sweep`` vmaps them under one
jit.  After the sweep, every run's max-activation inputs get the Gabor edge measure
(:func:`jaxnn.edges.edge_measure`), next to the untrained initialization's as the baseline.

Next to the grid, successive halving (``jaxnn.sweeps.successive_halving``) searches (beta, rho, lam) with
the autoencoder as a Trainable (:func:`jaxnn.autoencoder.trainable`: Adam, constant step, full batch):
``--halving-trials`` random trials (beta log-uniform in [0.1, 10], rho in [0.01, 0.2], lam in [1e-5, 1e-3])
trained to ``--halving-min-steps`` x 1, 3, 9 steps (eta 3), ranked by the reconstruction error on held-out
patches (``val_loss``: no penalty, so comparable across the three).  The winner's hyperparameters and the
edge measure of its filters are reported next to the grid's.  Ranked by reconstruction alone, the search
prefers little sparsity: compare its edge measure with the grid's sparse corners.

Writes ``runs/sparse_sweep/`` (or ``--out``):
  results.npz, results.csv, meta.json   the sweep (jaxnn.sweep's store): objective, reconstruction error,
                                        mean hidden activation, dead units, filters, loss curves
  edges.csv                             per (beta, rho, seed): edge measure summaries
  summary.csv, summary.json             per (beta, rho): seed means, plus the untrained baseline
  sweep.png                             heatmaps over (beta, rho): mean activation / rho, edge r2,
                                        reconstruction error; and the filters of every configuration
  halving.csv, halving.png              successive halving: every trial (hyperparameters, status, steps
                                        reached, val_loss) and the winner's filters; summary.json "halving"

    python experiments/sparse_sweep.py             # 4 x 3 grid, 1 seed, 27 halving trials: ~1 min on 2 CPU cores
    python experiments/sparse_sweep.py --help
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import autoencoder as ae
from jaxnn import display, edges, patches, sweeps
from jaxnn.io import atomic_write
from jaxnn.sweeps import sweep
from jaxnn.sweeps.status import NAMES as STATUS_NAMES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write_csv  # noqa: E402


def floats(s):
    return [float(v) for v in s.split(",") if v]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--betas", type=floats, default=[0.0, 0.3, 3.0, 10.0], help="comma-separated sparsity weights")
    ap.add_argument("--rhos", type=floats, default=[0.01, 0.05, 0.2], help="comma-separated target activations")
    ap.add_argument("--seeds", type=int, default=1, help="seeds (initializations) per configuration")
    ap.add_argument("--patches", type=int, default=4000, help="training patches (8x8)")
    ap.add_argument("--steps", type=int, default=250, help="L-BFGS iterations per run")
    ap.add_argument("--hidden", type=int, default=25, help="hidden units")
    ap.add_argument("--lam", type=float, default=1e-4, help="ridge strength lambda (fixed)")
    ap.add_argument("--chunk-size", type=int, default=None, help="runs per compiled call (default: automatic)")
    ap.add_argument("--seed", type=int, default=0, help="PRNG seed (patches, and the sweep's key)")
    ap.add_argument("--out", default="runs/sparse_sweep", help="output directory")
    ap.add_argument("--halving-trials", type=int, default=27, help="successive halving: random (beta, rho, lam) "
                    "trials (0: no search)")
    ap.add_argument("--halving-min-steps", type=int, default=None, help="successive halving: Adam steps of the "
                    "first rung (then x3, x9); default --steps")
    ap.add_argument("--halving-lr", type=float, default=ae.TRAINABLE_LR, help="successive halving: Adam's step")
    args = ap.parse_args(argv)
    if not args.betas or not args.rhos:
        ap.error("--betas and --rhos need at least one value each")
    if any(b < 0 for b in args.betas):
        ap.error("--betas: expected values >= 0")
    if any(not 0 < r < 1 for r in args.rhos):
        ap.error("--rhos: expected values strictly between 0 and 1")
    if args.halving_trials < 0 or (args.halving_min_steps is not None and args.halving_min_steps < 1):
        ap.error("--halving-trials: expected >= 0; --halving-min-steps: expected >= 1")
    if not args.halving_lr > 0:
        ap.error("--halving-lr: expected a value > 0")
    return args


def make_run(X, n_hidden, steps, lam):
    """fn(key, beta, rho) for jaxnn.sweep: one compiled L-BFGS training, metrics as arrays."""
    n_visible = X.shape[1]

    def run(key, beta, rho):
        params0 = ae.init(key, n_visible, n_hidden)
        params, hist = ae.fit(params0, X, lam=lam, beta=beta, rho=rho, steps=steps)
        rho_hat = jnp.mean(ae.encode(params, X), axis=0)
        return {
            "objective": ae.sparse_loss(params, X, lam, beta, rho, "sigmoid"),
            "recon_error": ae.loss(params, X, 0.0, "sigmoid"),  # (1/m) sum 1/2 ||x_hat - x||^2
            "mean_activation": jnp.mean(rho_hat),
            "activation_ratio": jnp.mean(rho_hat) / rho,
            "dead_units": jnp.sum(rho_hat < 1e-3).astype(jnp.int32),
            "filters": ae.max_activation_inputs(params),
            "init_filters": ae.max_activation_inputs(params0),
            "loss": hist["loss"],
            "diverged_at": hist["diverged_at"],
        }

    return run


HALVING_SPACE = dict(beta=(0.1, 10.0), rho=(0.01, 0.2), lam=(1e-5, 1e-3))  # log-uniform ranges


def halving(args, X, key, p, bank):
    """Successive halving over (beta, rho, lam) with ae.trainable: (summary dict, per-trial rows, filters)."""
    k_val, k_search = jax.random.split(key)
    data = {"X": X, "X_val": patches.ufldl_patches(k_val, max(args.patches // 4, 50), p)}
    t = ae.trainable(X.shape[1], args.hidden, lr=args.halving_lr)
    space = sweeps.random(args.halving_trials, **{k: sweeps.loguniform(*r) for k, r in HALVING_SPACE.items()})
    min_steps = args.halving_min_steps or args.steps
    t0 = time.perf_counter()
    res = sweeps.successive_halving(t, space, key=k_search, data=data, metric="val_loss", min_steps=min_steps,
                                    max_steps=9 * min_steps, eta=3, progress=False)
    wall = time.perf_counter() - t0
    rows = [{"trial": i, **{k: float(v[i]) for k, v in res.trials.items()}, "status": STATUS_NAMES[res.status[i]],
             "steps": res.curves[i][-1][0] if res.curves[i] else 0, "val_loss": res.value(i),
             "mean_activation": res.value(i, "mean_activation")} for i in range(len(res.status))]
    best = res.best()
    filters = np.asarray(ae.max_activation_inputs(res.state.params))
    summ = edges.summary(edges.edge_measure(filters, p, bank))
    out = {"winner": {k: best[k] for k in ("trial", *HALVING_SPACE, "val_loss", "steps")},
           "winner_mean_activation": res.value(best["trial"], "mean_activation"), "winner_edge_measure": summ,
           "trials": len(rows), "min_steps": min_steps, "max_steps": 9 * min_steps, "lr": args.halving_lr,
           "space": HALVING_SPACE, "lane_steps_useful": res.meta.get("lane_steps_useful"),
           "lane_utilization": res.meta.get("lane_utilization"), "wall_s": wall}
    return out, rows, filters


def halving_figure(path, filters, p, h):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = h["winner"]
    fig, ax = plt.subplots(figsize=(4, 4.4), constrained_layout=True)
    ax.imshow(display.filter_grid(filters, p), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"halving winner: beta={w['beta']:.3g}, rho={w['rho']:.3g}, lam={w['lam']:.2g}\n"
                 f"val recon {w['val_loss']:.4f}, edge r2 {h['winner_edge_measure']['mean_r2']:.2f}", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def figure(path, res, edge_r2, p):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    betas, rhos = res.axes["beta"], res.axes["rho"]
    nb, nr = len(betas), len(rhos)
    from matplotlib.colors import LogNorm

    with np.errstate(invalid="ignore"):
        r2 = np.nanmean(edge_r2, axis=2)
    panels = [("mean activation / rho (log scale)", res.mean("activation_ratio"), "viridis", LogNorm()),
              ("edge measure: mean Gabor r2", r2, "magma", None),
              ("reconstruction error", res.mean("recon_error"), "cividis", None)]
    fig = plt.figure(figsize=(4.2 * 3, 3.2 + 1.6 * nb), constrained_layout=True)
    gs = fig.add_gridspec(2, 1, height_ratios=[3.2, 1.6 * nb])
    top = gs[0].subgridspec(1, 3)
    for j, (title, M, cmap, norm) in enumerate(panels):
        axh = fig.add_subplot(top[j])
        im = axh.imshow(M, cmap=cmap, aspect="auto", norm=norm)
        axh.set_xticks(range(nr), [f"{r:g}" for r in rhos])
        axh.set_yticks(range(nb), [f"{b:g}" for b in betas])
        axh.set_xlabel("rho")
        axh.set_ylabel("beta")
        axh.set_title(title)
        for (i, k), v in np.ndenumerate(M):
            light = np.isfinite(v) and im.norm(v) > 0.6  # dark text on the light end of the colour map
            axh.text(k, i, f"{v:.2f}", ha="center", va="center", color="k" if light else "w", fontsize=8)
        fig.colorbar(im, ax=axh, shrink=0.8)
    bottom = gs[1].subgridspec(nb, nr)
    filt = res["filters"]
    for i in range(nb):
        for k in range(nr):
            axf = fig.add_subplot(bottom[i, k])
            axf.imshow(display.filter_grid(filt[i, k, 0], p), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axf.set_xticks([])
            axf.set_yticks([])
            axf.set_title(f"beta={betas[i]:g}, rho={rhos[k]:g}: r2 {np.nanmean(edge_r2[i, k]):.2f}", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()
    p = 8
    k_data, k_sweep = jax.random.split(jax.random.key(args.seed))
    X = patches.ufldl_patches(k_data, args.patches, p)
    run = make_run(X, args.hidden, args.steps, args.lam)
    grid = {"beta": args.betas, "rho": args.rhos}
    res = sweep(run, grid, key=k_sweep, seeds=args.seeds, chunk_size=args.chunk_size, out_dir=args.out)
    sweep_s = time.perf_counter() - t_start

    nb, nr, S = res.shape
    bank = edges.gabor_bank(p)
    edge_rows, edge_r2 = [], np.full((nb, nr, S), np.nan)
    base = [edges.summary(edges.edge_measure(res["init_filters"][0, 0, s], p, bank)) for s in range(S)]
    for i, beta in enumerate(res.axes["beta"]):
        for k, rho in enumerate(res.axes["rho"]):
            for s in range(S):
                if res.diverged[i, k, s]:
                    continue
                summ = edges.summary(edges.edge_measure(res["filters"][i, k, s], p, bank))
                edge_r2[i, k, s] = summ["mean_r2"]
                edge_rows.append({"beta": float(beta), "rho": float(rho), "seed": s, **summ})
    if edge_rows:
        write_csv(os.path.join(args.out, "edges.csv"), edge_rows)

    summary = []
    for i, beta in enumerate(res.axes["beta"]):
        for k, rho in enumerate(res.axes["rho"]):
            ok = ~res.diverged[i, k]
            summary.append({
                "beta": float(beta), "rho": float(rho), "runs": int(S), "diverged": int((~ok).sum()),
                **{name: float(res.mean(name)[i, k]) for name in
                   ("objective", "recon_error", "mean_activation", "activation_ratio", "dead_units")},
                "edge_mean_r2": float(np.nanmean(edge_r2[i, k])) if ok.any() else float("nan"),
                "edge_frac_edges": float(np.mean([r["frac_edges"] for r in edge_rows
                                                  if r["beta"] == float(beta) and r["rho"] == float(rho)]))
                if ok.any() else float("nan"),
            })
    write_csv(os.path.join(args.out, "summary.csv"), summary)
    baseline = {k: float(np.mean([b[k] for b in base])) for k in base[0]}
    meta = {"experiment": "sparse_sweep", "args": vars(args), "summary": summary,
            "untrained_edge_measure": baseline, "sweep_meta": {k: res.meta.get(k) for k in
                                                             ("chunk_size", "n_runs", "compile_s", "run_s",
                                                              "runs_per_s", "devices")},
            "sweep_s": sweep_s, "wall_s": time.perf_counter() - t_start}
    figure(os.path.join(args.out, "sweep.png"), res, edge_r2, p)
    if args.halving_trials:
        meta["halving"], rows, filters = halving(args, X, jax.random.fold_in(jax.random.key(args.seed), 1), p, bank)
        write_csv(os.path.join(args.out, "halving.csv"), rows)
        halving_figure(os.path.join(args.out, "halving.png"), filters, p, meta["halving"])
    meta["wall_s"] = time.perf_counter() - t_start
    atomic_write(os.path.join(args.out, "summary.json"),
                 lambda f: f.write(json.dumps(meta, indent=2, default=str).encode()))

    print(f"{'beta':>6} {'rho':>6} {'mean act':>9} {'act/rho':>8} {'dead':>5} {'recon':>7} {'edge r2':>8}")
    for r in summary:
        print(f"{r['beta']:6g} {r['rho']:6g} {r['mean_activation']:9.4f} {r['activation_ratio']:8.2f} "
              f"{r['dead_units']:5.1f} {r['recon_error']:7.4f} {r['edge_mean_r2']:8.3f}")
    print(f"untrained baseline: edge r2 {baseline['mean_r2']:.3f}")
    if args.halving_trials:
        h = meta["halving"]
        w = h["winner"]
        print(f"successive halving ({h['trials']} trials, {h['min_steps']}..{h['max_steps']} Adam steps, by held-out "
              f"reconstruction): beta {w['beta']:.3g}, rho {w['rho']:.3g}, lam {w['lam']:.2g}: val recon "
              f"{w['val_loss']:.4f}, mean act {h['winner_mean_activation']:.4f}, edge r2 "
              f"{h['winner_edge_measure']['mean_r2']:.3f} ({h['wall_s']:.1f} s)")
    print(f"{res.shape[0] * res.shape[1]} configurations x {S} seeds; sweep {sweep_s:.1f} s "
          f"(compile {res.meta.get('compile_s', float('nan')):.1f} s), total {meta['wall_s']:.1f} s; wrote {args.out}/")
    return meta


if __name__ == "__main__":
    main()
