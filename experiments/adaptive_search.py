"""Adaptive budgets on scikit-learn's digits: a full random sweep vs successive halving vs Hyperband vs PBT.

The 64-H-10 network (tanh hidden units, softmax output, cross-entropy, full-batch Adam; ``jaxnn.trainable``)
over the space of issue 12: log-uniform init scale eps in [1e-3, 1], learning rate alpha in [1e-4, 1] and ridge
lambda in [1e-6, 1e-1], N random candidates (default 243) drawn from one key:

* full: every candidate to ``max_steps`` (``sweeps.run`` without early stopping: the plain sweep's budget);
* successive halving: rungs of ``min_steps * eta**k`` steps, the top 1/eta continue (``sweeps.successive_halving``);
* Hyperband: Li et al.'s brackets (``sweeps.hyperband``; it uses the first candidates the brackets need);
* PBT: the first ``population`` candidates, exploit / explore of alpha and lambda every ``interval`` steps
  (``sweeps.pbt``; eps only matters at the start, so it is not explored).

Each search picks the trial with the best validation accuracy; its test accuracy is reported (from the winner's
final state, or, for the full sweep, the winner retrained with its key and hyperparameters: the same numbers).
Digits: 30% test (reporting only), the rest split 70/30 into training and validation (picking).

    python experiments/adaptive_search.py              # about a minute on 2 CPU cores
    python experiments/adaptive_search.py --quick      # a smoke test

Writes OUT (default runs/adaptive_search/): results.csv (one row per search), rungs_sh.png and
rungs_hyperband.png (every trial's validation accuracy against its steps, eliminated trials fading),
pbt_schedules.png (each member's alpha and lambda over the intervals), summary.json (every number, provenance).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_sweep_args, provenance, setup_sweep_devices, write_csv, write_json  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=int, default=243)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--min-steps", type=int, default=9)
    p.add_argument("--max-steps", type=int, default=243)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--population", type=int, default=32)
    p.add_argument("--interval", type=int, default=27)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.3)
    p.add_argument("--out", default="runs/adaptive_search")
    p.add_argument("--quick", action="store_true", help="a smoke test: 27 candidates, budgets 3..27")
    add_sweep_args(p)
    a = p.parse_args(argv)
    if a.quick:
        a.candidates, a.hidden, a.min_steps, a.max_steps, a.population, a.interval = 27, 16, 3, 27, 8, 9
    return a


def main(argv=None) -> dict:
    a = parse(argv)
    setup_sweep_devices(a)  # before any JAX computation

    import jax

    import jaxnn
    from jaxnn import datasets, sweeps

    k_data, k_val, k_space = jax.random.split(jax.random.key(a.seed), 3)
    d = datasets.digits(k_data, activation="softmax")
    tr, va = datasets.split(k_val, d["X_train"].shape[0], a.val_fraction)
    data = {"X": d["X_train"][tr], "Y": d["Y_train"][tr], "X_val": d["X_train"][va], "Y_val": d["Y_train"][va]}
    test = {"X": d["X_train"][tr], "Y": d["Y_train"][tr], "X_val": d["X_test"], "Y_val": d["Y_test"]}
    mlp = jaxnn.trainable([64, a.hidden, 10], activation="tanh", output_activation="softmax", loss="cross_entropy",
                          optimizer="adam")
    space = sweeps.random(a.candidates, scale=sweeps.loguniform(1e-3, 1.0), lr=sweeps.loguniform(1e-4, 1.0),
                          lam=sweeps.loguniform(1e-6, 1e-1))
    common = dict(key=k_space, data=data, progress=not a.no_progress, lanes=a.chunk_size)
    # every search ranks by val_accuracy in the direction the trainable declares for it ("max")
    rungs = dict(metric="val_accuracy", min_steps=a.min_steps, max_steps=a.max_steps, eta=a.eta)
    searches = {
        "full": lambda: sweeps.run(mlp, space, steps=a.max_steps, segment=a.max_steps // a.eta ** 2 or 1,
                                   metric="val_accuracy", **common),
        "successive halving": lambda: sweeps.successive_halving(mlp, space, **rungs, **common),
        "hyperband": lambda: sweeps.hyperband(mlp, space, **rungs, **common),
        "pbt": lambda: sweeps.pbt(mlp, space, population=a.population, interval=a.interval, steps=a.max_steps,
                                  metric="val_accuracy", explore=("lr", "lam"), **common),
    }
    rows, results = [], {}
    for name, search in searches.items():
        t0 = time.perf_counter()
        res = search()
        wall = time.perf_counter() - t0
        best = res.best()
        hp = {k: best[k] for k in res.trials}
        if res.state is None:  # retrain the winner: its key, its hyperparameters, its steps
            s = mlp.init(best["key"], data, **hp)
            state = jax.jit(mlp.advance, static_argnums=2)(s, data, best["steps"], **hp)
        else:
            state = res.state
        test_acc = float(mlp.evaluate(state, test, **hp)["val_accuracy"])
        m = res.meta
        rows.append({"search": name, "trials_started": m["n_started"], "lane_steps_useful": m["lane_steps_useful"],
                     "lane_steps_paid": m["lane_steps_paid"],
                     "lane_utilization": round(m["lane_utilization"], 3), "wall_s": round(wall, 2),
                     "compile_s": round(m["compile_s"], 2), "best_trial": best["trial"], "steps": best["steps"],
                     "val_accuracy": round(best["val_accuracy"], 4), "test_accuracy": round(test_acc, 4),
                     **{k: float(f"{v:.4g}") for k, v in hp.items()}})
        results[name] = res
        print(f"{name:20s} val {best['val_accuracy']:.4f} test {test_acc:.4f}  lane-steps {m['lane_steps_useful']:6d} "
              f"(paid {m['lane_steps_paid']:6d})  {wall:.1f} s", flush=True)
    os.makedirs(a.out, exist_ok=True)
    write_csv(os.path.join(a.out, "results.csv"), rows)
    sweeps.plot.rungs(results["successive halving"], path=os.path.join(a.out, "rungs_sh.png"))
    sweeps.plot.rungs(results["hyperband"], path=os.path.join(a.out, "rungs_hyperband.png"))
    sweeps.plot.schedules(results["pbt"], names=["lr", "lam"], path=os.path.join(a.out, "pbt_schedules.png"))
    summary = {"rows": rows, "args": vars(a), "provenance": provenance(),
               "rungs": {k: results[k].rungs for k in ("successive halving", "hyperband")},
               "pbt_lineage": results["pbt"].lineage}
    write_json(os.path.join(a.out, "summary.json"), summary)
    print(f"wrote {a.out}/ (results.csv, rungs_sh.png, rungs_hyperband.png, pbt_schedules.png, summary.json)")
    return summary


if __name__ == "__main__":
    main()
