"""How good are the networks each model-based search finds, over many seeds: issue 23's quality rows, with error bars.

``bench_adaptive.py`` compares best validation accuracies averaged over 5 seeds; on its 600 validation digits
one digit is 0.17 points, and the searches differ by a few tenths, so one seed's digit moves a 5-seed mean
by 0.03 points.  This script runs the same searches on the same problem (``bench_adaptive.problem``: digits
600 / 600, 64-64-10 tanh/softmax, adam, log-uniform lr, init scale and lam, 243 trials, budgets 9..243, eta 3)
with ``--seeds`` seeds each, and reports per search:

* best val acc: the mean over seeds of the search's best validation accuracy, with its standard error;
* winner's test acc: the winner's accuracy on the 597 held-out test digits (jaxnn's adaptive searches: the
  winner's own final state; Optuna: retrained with ``jaxnn.train`` from its key and hyperparameters), mean and
  standard error;
* trials at the full budget: how many trials each search trained to 243 steps (mean): the best of more
  full-budget trials is a maximum over more noisy validation scores;
* lane-steps: training steps paid (mean), and the mean wall time (seed 0 included: it compiles);
* paired against its Optuna peer (same seed): the mean difference of best val and of test accuracy in points,
  with the standard error of the paired differences; and of best val against the peer's best over as many of its
  trials that trained 243 steps (their values there, whether Optuna's pruner then completed or pruned them) as
  this search trained to the full budget (the expected maximum of that many of them drawn at random): what the
  peer's best would be with the same count of full-budget trials.

Peers as in ``bench_adaptive.py``: ASHA + TPE and BOHB against Optuna TPE + HyperbandPruner(9, 243, 3); TPE at
one budget (243 x 243 steps, batches of 27) against Optuna TPE without pruning.  One more row asks Optuna's own
TPESampler through ``sweeps.optuna_sampler`` in the same batches of 27 (``tpe1_optuna``): what a batch costs
Optuna's TPE itself, against asking it one trial at a time.

    python benchmarks/bench_search_quality.py --seeds 30                  # all five searches
    python benchmarks/bench_search_quality.py --seeds 30 --only asha optuna
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

if __name__ == "__main__":
    one_device_per_core(sys.argv)

import jaxnn  # noqa: E402
from benchmarks import bench_adaptive as B  # noqa: E402
from benchmarks.common import machine, table  # noqa: E402

SEARCHES = {  # key: (row name, Optuna peer or None)
    "asha": ("jaxnn asha + tpe", "optuna"),
    "bohb": ("jaxnn bohb (TPE, default iterations)", "optuna"),
    "tpe1": ("jaxnn search + tpe, 243 steps, batches of 27", "optuna_nop"),
    "tpe1_optuna": ("jaxnn search + Optuna's TPESampler, batches of 27", "optuna_nop"),
    "optuna": ("Optuna 5.0 TPE + HyperbandPruner", None),
    "optuna_nop": ("Optuna 5.0 TPE, no pruning", None),
}


class Args:
    """The benchmark problem's settings, as ``bench_adaptive``'s defaults."""
    candidates, min_steps, max_steps, eta, batch, patience = 243, 9, 243, 3, 27, 3


def one(kind, mlp, P, a, trainer, seed) -> dict:
    if kind == "optuna":
        r = B.optuna_search(trainer, P, a, seed, prune=True)
    elif kind == "optuna_nop":
        r = B.optuna_search(trainer, P, a, seed, prune=False)
    else:
        r = B.jaxnn_adaptive(kind, mlp, P, a, seed)
    return {"best_val": r["best_val"], "test": r["test"], "seconds": r["seconds"], "lane_steps": r["lane_steps"],
            "full": r["full"], "full_vals": r.get("full_vals")}


def mean_se(x):
    x = np.asarray(x, float)
    return x.mean(), (x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan"))


def report(runs, seeds):
    rows = []
    for k, rs in runs.items():
        name, peer = SEARCHES[k]
        v, te = mean_se([r["best_val"] for r in rs]), mean_se([r["test"] for r in rs])
        row = {"search": name, "seeds": len(rs), "best val acc": f"{v[0]:.4f} +- {v[1]:.4f}",
               "winner test acc": f"{te[0]:.4f} +- {te[1]:.4f}",
               "trials at 243": f"{np.mean([r['full'] for r in rs]):.1f}",
               "lane-steps": f"{np.mean([r['lane_steps'] for r in rs]):.0f}",
               "mean s": f"{np.mean([r['seconds'] for r in rs]):.2f}", "val vs peer": "", "test vs peer": "",
               "val vs peer's best of as many full trials": ""}
        if peer in runs:
            n = min(len(rs), len(runs[peer]))
            for col, m in (("val vs peer", "best_val"), ("test vs peer", "test")):
                d = mean_se([100 * (rs[i][m] - runs[peer][i][m]) for i in range(n)])
                row[col] = f"{d[0]:+.2f} +- {d[1]:.2f}"
            d = mean_se([100 * (rs[i]["best_val"] - B.best_of(runs[peer][i]["full_vals"], rs[i]["full"]))
                         for i in range(n)])
            row["val vs peer's best of as many full trials"] = f"{d[0]:+.2f} +- {d[1]:.2f}"
        rows.append(row)
    print(f"\n### best validation and winners' test accuracy, seeds 0..{seeds - 1} (mean +- standard error)\n")
    print(table(rows, list(rows[0])))
    print("'vs peer': paired by seed against Optuna TPE + HyperbandPruner (asha, bohb) or Optuna TPE without "
          "pruning (one budget), in points (1 validation digit = 0.17 points, 1 test digit = 0.17). 'best of as "
          "many full trials': against the expected best validation accuracy at 243 steps of as many of the peer's "
          "trials that trained 243 steps (Optuna's pruner stops some of them there: their values count too) as this "
          "search trained to 243 steps that seed, drawn at random.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=30, help="seeds 0..N-1 for every search (default 30)")
    p.add_argument("--only", nargs="+", choices=list(SEARCHES), default=list(SEARCHES),
                   help="the searches to run (default all)")
    p.add_argument("--json", default=None, help="also write every seed's numbers to this JSON file")
    a = p.parse_args(argv)
    print(machine())
    print(B.source_state())
    P = B.problem()
    mlp = jaxnn.trainable(B.SIZES, **B.STRUCT)
    trainer = B.OptunaTrainer(mlp, P, Args) if any(k.startswith("optuna") for k in a.only) else None
    runs = {k: [] for k in a.only}
    t0 = time.perf_counter()
    for seed in range(a.seeds):  # seed by seed, so that a shorter run is still paired
        for k in a.only:
            runs[k].append(one(k, mlp, P, Args, trainer, seed))
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s): "
              + ", ".join(f"{k} {runs[k][-1]['best_val']:.4f}/{runs[k][-1]['test']:.4f}" for k in a.only), flush=True)
    report(runs, a.seeds)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f, indent=1, default=float)


if __name__ == "__main__":
    main()
