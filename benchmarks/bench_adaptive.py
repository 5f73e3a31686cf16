"""Benchmark: adaptive and model-based searches against a full sweep, Optuna, hyperoptax and scikit-learn.

The search problem of issue 12, side by side in one run, each search repeated with ``--seeds`` seeds (the
model-based rows and their peers, issue 23, with ``--model-seeds`` seeds):
digits (600 train / 600 validation / the remaining 597 test, pixels / 16, float32, one-hot targets, one fixed
shuffle), the 64-64-10 tanh/softmax network, cross-entropy, adam, full-batch steps; log-uniform lr in
[1e-4, 1], init scale in [1e-3, 1], lam in [1e-6, 1e-1]; 243 candidates; budgets 9, 27, 81, 243 steps (eta 3).

* ``sweeps.successive_halving`` and ``sweeps.hyperband`` of ``jaxnn.trainable(...)`` (metric val_accuracy, in
  the direction the trainable declares: max);
* ``jaxnn.sweep`` of a fn that trains with ``jaxnn.train`` for 243 steps (every candidate to the full budget);
* ``sweeps.run(..., steps=243, segment=9, early_stopping=sweeps.patience("val_loss", 3))``: the early-stopping
  sweep that the lane-utilization target is about (each trial stops on its own, lanes refilled);
* Optuna (TPESampler(seed) + HyperbandPruner(9, 243, 3)), 243 trials, one after another; each trial trains rung by
  rung (9 steps, report, on to 27, ...) with jitted functions reused across trials: the trainable's ``init`` /
  ``advance`` / ``evaluate`` (``jaxnn.train``'s step under jit), since ``jaxnn.train`` itself does not take or
  return the optimizer state, so it cannot continue an adam run (restarting it would reset adam's moments);
* scikit-learn's HalvingRandomSearchCV(MLPClassifier(64 tanh units, adam, batch 600 = full batch, tol=0: exactly
  max_iter epochs), resource="max_iter", 9..243, factor 3, 243 candidates, n_jobs=2, cv = a PredefinedSplit of
  the same 600 / 600 split); MLPClassifier has no init-scale parameter (Glorot init), so only
  learning_rate_init and alpha (loguniform, the ranges of lr and lam) are searched.  Each rung refits from scratch.

Issue 23's rows (``--model-seeds``, default 5; the same ranges as ``sweeps.loguniform`` distributions):

* ``sweeps.bohb(..., min_steps=9, max_steps=243, eta=3)``: default iterations (4) and sampler (TPE);
* ``sweeps.asha(..., trials=243, sampler=sweeps.tpe())``;
* ``sweeps.search(mlp, dists, trials=243, batch=27, steps=243, sampler=sweeps.tpe())``: TPE at one budget,
  against the full sweep's time (the random sweep of the same 243 trials x 243 steps);
* Optuna TPE + HyperbandPruner (above) and Optuna TPESampler(seed) without pruning: 243 trials one at a time,
  each trained 243 steps by one jitted ``advance`` (the same trainer);
* hyperoptax's ``BayesianSearch`` (a GP; its defaults), 9 iterations of 27 trials, each ``jaxnn.train`` for 243
  steps, vmapped; ``optimize``'s loop with its steps jitted (see ``hyperoptax_search``); compilation included
  (fresh jits per seed); it has no budgets.

Per row: wall time of the whole search (seed 1 separately: it includes the compilation of the jaxnn rows; the
mean is over the later seeds, compiled, when there are several), lane-steps (training steps paid, summed over
trials), best validation accuracy (mean over seeds), the winner's test accuracy (jaxnn's adaptive rows: the
winner's final state, ``AdaptiveResult.state``, through the trainable's ``evaluate`` on the test split, and a
retraining with ``jaxnn.train`` from ``best()``'s key and hyperparameters checks its val accuracy; the full sweep:
inside fn; Optuna and hyperoptax: retrained with ``jaxnn.train``; scikit-learn: refit on the 600 training
samples at max_iter 243), the spread of best val acc over seeds (min-max, std), for the adaptive jaxnn rows
``meta["lane_utilization"]`` and for the model-based ones ``meta["propose_s"]`` as a percentage of the search's
wall time.  Then issues 12's and 23's targets with the measured ratios (a time target out of reach gets its
ceiling: the search's lane-steps at the full sweep's rate per lane-step).  Ratios use the compiled mean.

On a CPU the script makes one JAX device per core (``--cpu-devices N``; 1 turns it off), as the other sweep
benchmarks do; successive halving is also timed on one device (``--one-device all``: every jaxnn row; ``none``).

    python benchmarks/bench_adaptive.py              # the full benchmark (3 seeds, 5 for the model-based rows)
    python benchmarks/bench_adaptive.py --quick      # 27 candidates, budgets 9..81, 1 seed: a smoke test
    python benchmarks/bench_adaptive.py --no-optuna --no-sklearn --no-hyperoptax   # e.g. on a GPU machine
    python benchmarks/bench_adaptive.py --no-model --no-hyperoptax --no-optuna     # issue 12's jaxnn rows
    python benchmarks/bench_adaptive.py --lane-tail --seeds 3       # issue 22: lanes narrow as runs stop
    python benchmarks/bench_adaptive.py --models --seeds 4          # issue 24: trainable_from, Equinox
    python benchmarks/bench_adaptive.py --structures --seeds 3      # issue 24: the width as a static axis
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

if __name__ == "__main__":
    one_device_per_core(sys.argv)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxnn  # noqa: E402
from benchmarks.common import machine, matmul_peak_gflops, peak_size, table  # noqa: E402
from jaxnn import sweeps  # noqa: E402

SIZES = [64, 64, 10]
STRUCT = dict(activation="tanh", output_activation="softmax", loss="cross_entropy", optimizer="adam")
RANGES = {"scale": (1e-3, 1.0), "lr": (1e-4, 1.0), "lam": (1e-6, 1e-1)}


# --- the problem ----------------------------------------------------------------------------------------------

def importable(name: str) -> bool:
    """Whether the optional peer ``name`` is installed; if not, say that its rows are left out (a bare GPU
    machine has jax alone)."""
    if importlib.util.find_spec(name) is not None:
        return True
    print(f"({name} not installed: its rows are left out; pip install -e \".[bench]\" installs the peers)")
    return False


def problem():
    """digits: 600 train / 600 validation / the rest test (one fixed shuffle), X / 16 float32, one-hot Y.
    Without scikit-learn (a bare GPU machine) random data of the digits' shape: the same speed, not digits."""
    try:
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
    except ImportError:
        print("(scikit-learn not installed: random data of the digits' shape instead of the digits)")
        rng = np.random.default_rng(0)
        X, y = rng.integers(0, 17, (1797, 64)).astype(np.float64), rng.integers(0, 10, 1797)
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = (X[perm] / 16.0).astype(np.float32), y[perm].astype(np.int32)
    Y = np.eye(10, dtype=np.float32)[y]
    sl = {"train": slice(0, 600), "val": slice(600, 1200), "test": slice(1200, None)}
    return {k: (X[s], Y[s], y[s]) for k, s in sl.items()}


def space(n):
    return sweeps.random(n, **{k: sweeps.loguniform(*r) for k, r in RANGES.items()})


def dists():
    """The same ranges as distributions, for the model-based searches (they propose from a space)."""
    return {k: sweeps.loguniform(*r) for k, r in RANGES.items()}


def budgets(a):
    return [a.min_steps * a.eta ** k for k in range(64) if a.min_steps * a.eta ** k <= a.max_steps]


def accuracy(params, X, Y):
    out = jaxnn.forward(params, X, activation="tanh", output_activation="softmax")
    return jnp.mean(jnp.argmax(out, 1) == jnp.argmax(Y, 1))


def make_retrain(P, steps):
    """retrain(key, scale, lr, lam) -> (val acc, test acc): jaxnn.train from the trainable's initial params
    (``init_mlp(split(key)[0], ...)``) for ``steps`` full-batch steps (jitted; compiled once per steps)."""
    (Xtr, Ytr, _), (Xva, Yva, _), (Xte, Yte, _) = P["train"], P["val"], P["test"]

    @jax.jit
    def retrain(key, scale, lr, lam):
        params = jaxnn.init_mlp(jax.random.split(key)[0], SIZES, scale=scale)
        params, _ = jaxnn.train(params, Xtr, Ytr, lr=lr, lam=lam, steps=steps, **STRUCT)
        return accuracy(params, Xva, Yva), accuracy(params, Xte, Yte)
    return retrain


_RETRAIN = {}


def test_of(P, key, hp, steps):
    if steps not in _RETRAIN:
        _RETRAIN[steps] = make_retrain(P, steps)
    va, te = _RETRAIN[steps](key, *(jnp.float32(hp[k]) for k in ("scale", "lr", "lam")))
    return float(va), float(te)


def source_state() -> str:
    """The checkout's commit and whether jaxnn/ has uncommitted changes (the library the rows measured)."""
    import hashlib
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        git = ["git", "-C", root]
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        diff = subprocess.run(git + ["diff", "HEAD", "--", "jaxnn"], capture_output=True, text=True).stdout
    except OSError:
        return "jaxnn source: unknown (no git)"
    if not head:
        return "jaxnn source: unknown (not a git checkout)"
    if not diff:
        return f"jaxnn source: commit {head}, jaxnn/ unmodified"
    return (f"jaxnn source: commit {head} + uncommitted changes in jaxnn/ "
            f"(diff sha256 {hashlib.sha256(diff.encode()).hexdigest()[:12]})")


# --- the searches: each returns {seconds, lane_steps, best_val, test, (util, compile_s, val_check)} -------------

def jaxnn_adaptive(kind, mlp, P, a, seed, devices=None):
    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva), "Y_val": jnp.asarray(Yva)}
    kw = dict(key=jax.random.key(seed), data=data, progress=False, devices=devices)
    t0 = time.perf_counter()
    if kind == "run":
        res = sweeps.run(mlp, space(a.candidates), steps=a.max_steps, segment=a.min_steps,
                         early_stopping=sweeps.patience("val_loss", a.patience), metric="val_accuracy", **kw)
    elif kind == "bohb":
        res = sweeps.bohb(mlp, dists(), metric="val_accuracy", min_steps=a.min_steps, max_steps=a.max_steps,
                          eta=a.eta, **kw)
    elif kind == "asha":
        res = sweeps.asha(mlp, dists(), trials=a.candidates, metric="val_accuracy", min_steps=a.min_steps,
                          max_steps=a.max_steps, eta=a.eta, sampler=sweeps.tpe(), **kw)
    elif kind in ("tpe1", "tpe1_optuna"):  # tpe1_optuna: Optuna's own TPESampler asked a batch at a time
        sampler = sweeps.tpe() if kind == "tpe1" else sweeps.optuna_sampler(_optuna_tpe(seed))
        res = sweeps.search(mlp, dists(), trials=a.candidates, batch=a.batch, steps=a.max_steps,
                            sampler=sampler, metric="val_accuracy", **kw)
    else:
        fn = sweeps.successive_halving if kind == "sh" else sweeps.hyperband
        res = fn(mlp, space(a.candidates), metric="val_accuracy", min_steps=a.min_steps,
                 max_steps=a.max_steps, eta=a.eta, **kw)
    seconds = time.perf_counter() - t0
    b = res.best()
    va, te = test_of(P, b["key"], b, b["steps"])  # retrained with jaxnn.train: va must reproduce best()'s
    if getattr(res, "state", None) is not None:    # the winner's own final state, evaluated on the test split
        (Xtr, Ytr, _), (Xte, Yte, _) = P["train"], P["test"]
        test_data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xte), "Y_val": jnp.asarray(Yte)}
        hp = {k: jnp.float32(b[k]) for k in RANGES}
        te = float(mlp.evaluate(jax.tree_util.tree_map(jnp.asarray, res.state), test_data, **hp)["val_accuracy"])
    m = res.meta
    return {"seconds": seconds, "lane_steps": m["lane_steps_paid"], "best_val": b["val_accuracy"], "test": te,
            "util": m["lane_utilization"], "compile_s": m["compile_s"], "val_check": abs(va - b["val_accuracy"]),
            "devices": m["devices"], "lanes": m["lanes"], "trials": m.get("n_trials_used", m["n_started"]),
            "stopped_early": m.get("n_stopped_early"), "propose_s": m.get("propose_s"),
            "full": sum(1 for c in res.curves if c and c[-1][0] >= a.max_steps)}


def _optuna_tpe(seed):
    """Optuna's TPESampler with its defaults, seeded (quiet)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.samplers.TPESampler(seed=seed)


def make_full_fn(steps):
    """fn(key, data, scale, lr, lam) for jaxnn.sweep: the trainable's initial params, jaxnn.train for ``steps``."""
    def fn(key, data, scale, lr, lam):
        params = jaxnn.init_mlp(jax.random.split(key)[0], SIZES, scale=scale)
        params, hist = jaxnn.train(params, data["X"], data["Y"], lr=lr, lam=lam, steps=steps, **STRUCT)
        return {"val_accuracy": accuracy(params, data["X_val"], data["Y_val"]),
                "test_accuracy": accuracy(params, data["X_test"], data["Y_test"]), "diverged_at": hist["diverged_at"]}
    return fn


def jaxnn_full(fn, P, a, seed, devices=None):
    data = {f"{k}{s}": jnp.asarray(P[p][i]) for p, s in (("train", ""), ("val", "_val"), ("test", "_test"))
            for i, k in ((0, "X"), (1, "Y"))}
    t0 = time.perf_counter()
    res = jaxnn.sweep(fn, space(a.candidates), key=jax.random.key(seed), data=data, progress=False, devices=devices,
                      directions={"val_accuracy": "max", "test_accuracy": "max"})
    seconds = time.perf_counter() - t0
    va = np.asarray(res["val_accuracy"]).reshape(-1)
    te = np.asarray(res["test_accuracy"]).reshape(-1)
    i = res.best("val_accuracy")["trial"]
    return {"seconds": seconds, "lane_steps": a.candidates * a.max_steps, "best_val": float(va[i]),
            "test": float(te[i]), "compile_s": res.meta["compile_s"], "devices": res.meta["devices"],
            "trials": a.candidates, "full": a.candidates}


class OptunaTrainer:
    """Jitted init / advance (one compilation per rung increment) / evaluate, reused by every trial."""

    def __init__(self, mlp, P, a):
        (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
        self.data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva),
                     "Y_val": jnp.asarray(Yva)}
        self.init = jax.jit(mlp.init)
        self.advance = jax.jit(mlp.advance, static_argnums=2)
        self.evaluate = jax.jit(mlp.evaluate)
        self.rungs = budgets(a)


def optuna_search(tr: OptunaTrainer, P, a, seed, prune=True):
    """Optuna's TPESampler(seed), trials one at a time: with ``prune``, HyperbandPruner(min, max, eta) and the
    trials reported rung by rung; without, every trial trained to ``max_steps`` in one jitted advance."""
    import optuna

    seed_key = jax.random.key(seed)
    paid = {"steps": 0, "vals": []}  # vals: every trial's val accuracy at max_steps (pruned there too)
    rungs = tr.rungs if prune else [a.max_steps]

    def objective(trial):
        hp = {k: trial.suggest_float(k, *RANGES[k], log=True) for k in ("scale", "lr", "lam")}
        key = jax.random.fold_in(seed_key, trial.number)
        state, done, acc = tr.init(key, tr.data, **hp), 0, 0.0
        for r in rungs:
            state = tr.advance(state, tr.data, r - done, **hp)
            paid["steps"] += r - done
            done = r
            acc = float(tr.evaluate(state, tr.data, **hp)["val_accuracy"])
            acc = acc if np.isfinite(acc) else 0.0
            if r == a.max_steps:
                paid["vals"].append(acc)
            if prune:
                trial.report(acc, r)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return acc

    # A fixed study name: HyperbandPruner assigns trials to brackets by a hash of the study name and the trial
    # number, so the default (a random name) would make a seeded search unrepeatable.
    pruner = (optuna.pruners.HyperbandPruner(min_resource=a.min_steps, max_resource=a.max_steps,
                                             reduction_factor=a.eta) if prune else optuna.pruners.NopPruner())
    study = optuna.create_study(study_name=f"bench_adaptive_seed{seed}", direction="maximize",
                                sampler=_optuna_tpe(seed), pruner=pruner)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=a.candidates)
    seconds = time.perf_counter() - t0
    b = study.best_trial
    _, te = test_of(P, jax.random.fold_in(seed_key, b.number), b.params, a.max_steps)
    n_complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    return {"seconds": seconds, "lane_steps": paid["steps"], "best_val": float(b.value), "test": te,
            "trials": a.candidates, "complete": n_complete, "full": len(paid["vals"]), "full_vals": paid["vals"]}


def hyperoptax_search(P, a, seed):
    """hyperoptax's BayesianSearch (a GP, its defaults: Matern 0.5, PI, Kriging-believer batches): candidates /
    batch iterations of ``batch`` trials, each trial ``fn(key, config)`` = init_mlp + jaxnn.train for max_steps.
    ``optimize``'s loop (its key rule: ``key, get, funcs, update = split(key, 4)``) with its three steps
    jitted: ``get_next_params``, ``vmap(fn)``, ``update_state`` (its own ``optimize`` runs the GP's selection op
    by op: minutes per search here); compilation included in the time.  It has no budgets: every trial is
    trained to ``max_steps``.  The winner is retrained with ``jaxnn.train`` from its key: that checks its val
    accuracy and measures its test accuracy."""
    import hyperoptax as hx

    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    Xtr, Ytr, Xva, Yva = map(jnp.asarray, (Xtr, Ytr, Xva, Yva))
    iters = a.candidates // a.batch

    def fn(key, config):
        params = jaxnn.init_mlp(jax.random.split(key)[0], SIZES, scale=config["scale"])
        params, _ = jaxnn.train(params, Xtr, Ytr, lr=config["lr"], lam=config["lam"], steps=a.max_steps, **STRUCT)
        acc = accuracy(params, Xva, Yva)
        return jnp.where(jnp.isfinite(acc), acc, 0.0)

    key = jax.random.key(seed)
    t0 = time.perf_counter()
    state, opt = hx.BayesianSearch.init({k: hx.LogSpace(*r) for k, r in RANGES.items()}, n_max=iters * a.batch,
                                        n_parallel=a.batch)
    get, run, update = jax.jit(opt.get_next_params), jax.jit(jax.vmap(fn)), jax.jit(opt.update_state)
    hist = []
    for _ in range(iters):
        key, k_get, k_funcs, k_update = jax.random.split(key, 4)
        params = get(state, k_get)
        keys = jax.random.split(k_funcs, a.batch)
        results = run(keys, params)
        state = update(state, k_update, results, params)
        hist.append((keys, params, np.asarray(results)))
    vals = np.concatenate([h[2] for h in hist])
    seconds = time.perf_counter() - t0
    it, j = divmod(int(np.argmax(vals)), a.batch)
    hp = {n: float(hist[it][1][n][j]) for n in RANGES}
    va, te = test_of(P, hist[it][0][j], hp, a.max_steps)
    return {"seconds": seconds, "lane_steps": iters * a.batch * a.max_steps, "best_val": float(vals.max()),
            "test": te, "trials": iters * a.batch, "val_check": abs(va - float(vals.max()))}


def sklearn_search(P, a, seed):
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, PredefinedSplit
    from sklearn.neural_network import MLPClassifier

    (Xtr, _, ytr), (Xva, _, yva), (Xte, _, yte) = P["train"], P["val"], P["test"]
    X, y = np.concatenate([Xtr, Xva]), np.concatenate([ytr, yva])
    cv = PredefinedSplit(np.r_[np.full(len(ytr), -1), np.zeros(len(yva), int)])
    base = dict(hidden_layer_sizes=(SIZES[1],), activation="tanh", solver="adam", batch_size=len(ytr),
                shuffle=False, tol=0.0, n_iter_no_change=a.max_steps + 1, random_state=seed)
    dists = {"learning_rate_init": loguniform(*RANGES["lr"]), "alpha": loguniform(*RANGES["lam"])}
    search = HalvingRandomSearchCV(MLPClassifier(**base), dists, n_candidates=a.candidates, cv=cv, factor=a.eta,
                                   resource="max_iter", min_resources=a.min_steps, max_resources=a.max_steps,
                                   n_jobs=2, refit=False, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    seconds = time.perf_counter() - t0
    best = {k: v for k, v in search.best_params_.items() if k != "max_iter"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**{**base, **best, "max_iter": a.max_steps}).fit(Xtr, ytr)
    paid = int(sum(n * r for n, r in zip(search.n_candidates_, search.n_resources_)))
    return {"seconds": seconds, "lane_steps": paid, "best_val": float(search.best_score_),
            "test": float(clf.score(Xte, yte)), "trials": a.candidates}


# --- rows and targets ----------------------------------------------------------------------------------------

def best_of(values, k) -> float:
    """The expected maximum of ``k`` of ``values`` drawn at random without replacement: sorted ascending, the
    j-th (1-based) is the maximum with probability C(j - 1, k - 1) / C(n, k)."""
    v, n = np.sort(np.asarray(values, float)), len(values)
    k = min(max(1, int(k)), n)
    p = np.array([math.comb(j - 1, k - 1) for j in range(1, n + 1)], float) / math.comb(n, k)
    return float(p @ v)


def row(name, runs):
    """Summary of one method's runs (one per seed): seed 1 (compiling) apart from the mean of the others."""
    secs = [r["seconds"] for r in runs]
    later = secs[1:] or secs
    out = {"method": name, "mean s": float(np.mean(later)), "seed-1 s": secs[0],
           "compile s": runs[0].get("compile_s", ""),
           "lane-steps": int(round(np.mean([r["lane_steps"] for r in runs]))),
           "best val acc": float(np.mean([r["best_val"] for r in runs])),
           "winner test acc": float(np.mean([r["test"] for r in runs])), "_runs": runs}
    best = [r["best_val"] for r in runs]
    out["seeds"] = len(runs)
    out["val min-max"] = f"{min(best):.4f}-{max(best):.4f}"
    out["val std"] = float(np.std(best))
    if runs[0].get("util") is not None:
        out["lane util"] = float(np.mean([r["util"] for r in runs]))
    if runs[0].get("propose_s") is not None:  # model-based jaxnn rows: the host's proposing, of the whole search
        out["propose %"] = float(100 * np.mean([r["propose_s"] / r["seconds"] for r in runs]))
    return out


def lane_tail(P, mlp, a):
    """Issue 22's small early-stopping sweep: 32 random trials (no more than the 32 or 64 lanes), 300 steps, segment 10,
    patience('val_loss', 3); lane utilization from the driver's own bookkeeping (meta), with the lanes narrowing
    as runs stop and with narrowing turned off (every segment at full width), seeds 0..N-1."""
    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva), "Y_val": jnp.asarray(Yva)}
    saves = sweeps.lanes.NARROW_SAVES
    rows = []
    for seed in range(a.seeds):
        for lanes in (32, 64):
            for label, rule in (("narrowing", saves), ("full width", 10 ** 9)):
                sweeps.lanes.NARROW_SAVES = rule
                t0 = time.perf_counter()
                res = sweeps.run(mlp, space(32), key=jax.random.key(seed), data=data, steps=300, segment=10,
                                 early_stopping=sweeps.patience("val_loss", 3), lanes=lanes, progress=False)
                m = res.meta
                rows.append({"seed": seed, "lanes": lanes, "segments": label, "lane util": m["lane_utilization"],
                             "lane-steps paid": m["lane_steps_paid"], "useful": m["lane_steps_useful"],
                             "widths compiled": " ".join(map(str, m["widths"])), "compile s": m["compile_s"],
                             "wall s": time.perf_counter() - t0})
    sweeps.lanes.NARROW_SAVES = saves
    print("\n### early stopping with fewer trials than lanes: 32 trials, 300 steps, segment 10, patience 3\n")
    print(table(rows, list(rows[0])))
    print("'wall s' includes compilation ('compile s'); compiled functions are cached within the process, so a "
          "later row reuses the widths an earlier one compiled.")
    return rows


def from_functions(kind):
    """The benchmark's 64-64-10 tanh/softmax network (cross-entropy, adam, full batch, ridge lam) built by
    ``sweeps.trainable_from``: ``init_mlp``'s params with ``jaxnn.objective`` (the same MLP as ``jaxnn.trainable``,
    column layout inside), with a hand-written row-layout forward and optax's cross-entropy, or an Equinox MLP."""
    import optax

    def ridge(ws):
        return sum(jnp.sum(w ** 2) for w in ws)

    def ce(out, Y):
        return optax.softmax_cross_entropy(out, Y).mean()

    if kind == "objective":  # the same MLP: jaxnn's own objective and forward on init_mlp's params
        def init(key, *, scale):
            return jaxnn.init_mlp(key, SIZES, scale)

        def loss(p, batch, *, lam):
            return jaxnn.objective(p, batch["X"], batch["Y"], lam, activation="tanh", output_activation="softmax",
                                   loss="cross_entropy")

        def metrics(p, data):
            out = jaxnn.forward(p, data["X_val"], activation="tanh", output_activation="softmax")
            return {"val_accuracy": jnp.mean(jnp.argmax(out, 1) == jnp.argmax(data["Y_val"], 1))}

        return init, loss, metrics
    if kind == "dict":
        def init(key, *, scale):
            return jaxnn.init_mlp(key, SIZES, scale)

        def logits(p, X):
            return jnp.tanh(X @ p[0]["W"].T + p[0]["b"]) @ p[1]["W"].T + p[1]["b"]

        def weights(p):
            return [layer["W"] for layer in p]
    else:
        import equinox as eqx

        def init(key, *, scale):
            m = eqx.nn.MLP(SIZES[0], SIZES[-1], SIZES[1], len(SIZES) - 2, activation=jnp.tanh, key=key)
            return jax.tree.map(lambda w: scale * w if eqx.is_array(w) else w, m)

        def logits(m, X):
            return jax.vmap(m)(X)

        def weights(m):
            return [layer.weight for layer in m.layers]

    def loss(p, batch, *, lam):
        return ce(logits(p, batch["X"]), batch["Y"]) + lam / 2 * ridge(weights(p))

    def metrics(p, data):
        return {"val_accuracy": jnp.mean(jnp.argmax(logits(p, data["X_val"]), 1) == jnp.argmax(data["Y_val"], 1))}

    return init, loss, metrics


def bare_rate(init, loss, batch, lanes=9, steps=243):
    """Lane-steps per second of a bare JAX loop of the same work: ``lanes`` vmapped runs of ``steps`` full-batch
    optax adam steps of ``loss`` (one jitted scan, best of 5), the model taken apart by ``jaxnn.models.split``."""
    import optax

    from jaxnn import models

    h = {"scale": 0.1, "lam": 1e-4}

    def run(key):
        sp = models.split(init(key, scale=h["scale"]))
        opt = optax.adam(1e-3)

        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(lambda q: loss(sp.merge(q), batch, lam=h["lam"]))(p), s, p)
            return (optax.apply_updates(p, u), s), None
        return jax.lax.scan(step, (sp.params, opt.init(sp.params)), None, length=steps)[0][0]
    f = jax.jit(jax.vmap(run))
    keys = jax.random.split(jax.random.key(0), lanes)
    jax.block_until_ready(f(keys))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(f(keys))
        best = min(best, time.perf_counter() - t0)
    return lanes * steps / best


def model_rows(P, mlp, a):
    """Issue 24: successive halving of the same network built three ways, interleaved over ``--seeds`` seeds:
    lane-steps per second (compiled: seeds after the first) and the ratio to ``jaxnn.trainable``'s."""
    fns = {"trainable_from, jaxnn.objective (the same MLP)": from_functions("objective"),
           "trainable_from, dict, row-layout forward + optax CE": from_functions("dict")}
    try:
        fns["trainable_from, Equinox MLP"] = from_functions("equinox")
    except ImportError:
        print("(equinox not installed: pip install -e '.[models]'; its row is skipped)")
    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva), "Y_val": jnp.asarray(Yva)}
    built = {"jaxnn.trainable": mlp}
    built.update({k: sweeps.trainable_from(i, lo, metrics=me, directions={"val_accuracy": "max"}, optimizer="adam")
                  for k, (i, lo, me) in fns.items()})
    bare = {k: bare_rate(i, lo, {"X": data["X"], "Y": data["Y"]}) for k, (i, lo, _) in fns.items()}
    bare["jaxnn.trainable"] = bare[next(iter(fns))]  # the same math
    times = {k: [] for k in built}
    for seed in range(a.seeds):
        for name, tr in built.items():
            t0 = time.perf_counter()
            res = sweeps.successive_halving(tr, space(a.candidates), key=jax.random.key(seed), data=data,
                                            metric="val_accuracy", min_steps=a.min_steps, max_steps=a.max_steps,
                                            eta=a.eta, progress=False)
            times[name].append((time.perf_counter() - t0, res.meta["lane_steps_paid"], res.best()["val_accuracy"]))
    rows = []
    base = None
    for name, runs in times.items():
        warm = runs[1:] or runs
        rate = np.mean([n / t for t, n, _ in warm])
        base = rate if base is None else base
        rows.append({"trainable": name, "seed-1 s (compile)": f"{runs[0][0]:.2f}",
                     "mean s": f"{np.mean([t for t, _, _ in warm]):.2f}", "lane-steps": runs[0][1],
                     "lane-steps/s": f"{rate:.0f}", "vs jaxnn.trainable": f"{rate / base:.3f}",
                     "bare loop lane-steps/s": f"{bare[name]:.0f}", "vs bare loop": f"{rate / bare[name]:.3f}",
                     "best val acc (mean)": f"{np.mean([v for _, _, v in runs]):.4f}"})
    print(f"\n### successive halving, the same network built four ways ({a.seeds} seeds, interleaved)\n")
    print(table(rows, list(rows[0])))
    print("Targets (issue 24): the same MLP built with trainable_from (jaxnn.objective) within 5% of jaxnn.trainable's "
          "lane-steps/s, an Equinox MLP within 10%. 'bare loop': 9 vmapped runs of 243 full-batch optax adam "
          "steps of the same loss in one jitted scan (jaxnn.trainable: jaxnn.objective's), best of 5.")
    eqx_name = "trainable_from, Equinox MLP"
    if eqx_name in bare:  # no search can run a model faster than its own bare loop
        print(f"  ceiling for the Equinox row: its bare loop / jaxnn.trainable's search = "
              f"{bare[eqx_name] / base:.3f} (a search with no overhead at all over Equinox's own forward)")
    return rows


WIDTHS = (32, 64, 100)  # --structures: the hidden widths swept as a static axis


def structure_rows(P, a):
    """Issue 24: the hidden width as a static axis.  One successive halving over ``--candidates`` trials with
    ``width=sweeps.static(WIDTHS)`` (each trial's width drawn with its other values; one pool and one compile
    per width, all widths ranked together) against one search per width, each over a third of the trials
    (the same total), interleaved over ``--seeds`` seeds."""
    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva), "Y_val": jnp.asarray(Yva)}

    def init(key, *, scale, width):
        return jaxnn.init_mlp(key, [SIZES[0], width, SIZES[-1]], scale)

    _, loss, metrics = from_functions("objective")
    tr = sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, optimizer="adam")
    kw = dict(data=data, metric="val_accuracy", min_steps=a.min_steps, max_steps=a.max_steps, eta=a.eta,
              progress=False)
    per_width = [sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"},
                                       optimizer="adam", defaults={"width": w}) for w in WIDTHS]
    runs = {"one search, width = sweeps.static(WIDTHS)": [], "one search per width": []}
    for seed in range(a.seeds):
        c0, t0 = sweeps.lanes.compile_count(), time.perf_counter()
        res = sweeps.successive_halving(tr, sweeps.random(a.candidates, width=sweeps.static(list(WIDTHS)),
                                                          **{k: sweeps.loguniform(*r) for k, r in RANGES.items()}),
                                        key=jax.random.key(seed), **kw)
        runs["one search, width = sweeps.static(WIDTHS)"].append(
            (time.perf_counter() - t0, res.meta["lane_steps_paid"], res.meta["lane_steps_useful"],
             res.best()["val_accuracy"], sweeps.lanes.compile_count() - c0))
        c0, t0, paid, useful, best = sweeps.lanes.compile_count(), time.perf_counter(), 0, 0, -1.0
        for j, fixed in enumerate(per_width):
            r = sweeps.successive_halving(fixed, space(a.candidates // len(WIDTHS)),
                                          key=jax.random.fold_in(jax.random.key(seed), j), **kw)
            paid, useful = paid + r.meta["lane_steps_paid"], useful + r.meta["lane_steps_useful"]
            best = max(best, r.best()["val_accuracy"])
        runs["one search per width"].append((time.perf_counter() - t0, paid, useful, best,
                                             sweeps.lanes.compile_count() - c0))
    rows, base = [], None
    for name, rs in runs.items():
        warm = rs[1:] or rs
        mean = float(np.mean([r[0] for r in warm]))
        base = mean if base is None else base
        rows.append({"search": name, "seed-1 s (compile)": f"{rs[0][0]:.2f}", "compiles (seed 1)": rs[0][4],
                     "mean s": f"{mean:.2f}", "vs one search": f"{mean / base:.2f}",
                     "lane-steps paid": rs[0][1], "lane util": f"{np.mean([r[2] / r[1] for r in rs]):.3f}",
                     "best val acc (mean)": f"{np.mean([r[3] for r in rs]):.4f}",
                     "min-max": f"{min(r[3] for r in rs):.4f}-{max(r[3] for r in rs):.4f}"})
    print(f"\n### successive halving with the hidden width as a static axis {WIDTHS} ({a.seeds} seeds, "
          f"{a.candidates} trials, budgets {a.min_steps}..{a.max_steps})\n")
    print(table(rows, list(rows[0])))
    print("'one search per width': a successive halving of a third of the trials for each width, one after "
          "another (a width's best is not compared with another's until the end). 'compiles': lane programs "
          "compiled by seed 1 (start, seg and, where it pays, part; one set per width).")
    return rows


def model_targets(rows, runs, full_steps):
    """Issue 23's targets with the measured ratios; a time target out of reach here gets its ceiling: the
    search's lane-steps at the full sweep's rate per lane-step (the cost of that much training here); a best val
    below Optuna + Hyperband's gets the count of trials each trained to ``full_steps``, the search against the
    peer's expected best of as many, and the time that training the peer's count alone would take here."""
    def line(text, value, ok):
        return f"- {text}: {value} -> {'met' if ok else 'NOT met'}"

    def ceiling(k, peer):
        floor = rows[k]["lane-steps"] * rows["full"]["mean s"] / rows["full"]["lane-steps"]
        return (f"  ceiling: {rows[k]['lane-steps']} lane-steps at the full sweep's rate take {floor:.2f} s (it took "
                f"{rows[k]['mean s']:.2f} s): at best {floor / rows[peer]['mean s']:.3f} of {rows[peer]['method']}'s "
                f"time on this machine")

    def quality_ceiling(k, peer="optuna"):
        """Where best val trails the peer's: both sides' trials at the full budget, the search against the peer's
        expected best of as many of them, and the least time any search needs to train as many as the peer."""
        n = min(len(runs[k]), len(runs[peer]))
        full, full_peer = (float(np.mean([r["full"] for r in runs[x][:n]])) for x in (k, peer))
        d = np.mean([100 * (runs[k][i]["best_val"] - best_of(runs[peer][i]["full_vals"], runs[k][i]["full"]))
                     for i in range(n)])
        floor = full_peer * full_steps * rows["full"]["mean s"] / rows["full"]["lane-steps"]
        out = (f"  it trained {full:.1f} trials to {full_steps} steps, {rows[peer]['method']} {full_peer:.1f}: "
               f"against the peer's expected best of as many of its own trials at {full_steps} steps, {d:+.2f} points")
        if full < full_peer:
            out += (f"\n  ceiling: training {full_peer:.1f} trials {full_steps} steps each, and nothing else, takes "
                    f"{floor:.2f} s at the full sweep's rate: {floor / rows[peer]['mean s']:.3f} of the peer's time "
                    f"on this machine (best val rises with the count of trials scored at the full budget: "
                    f"bench_search_quality.py)")
        return out

    if not any(k in rows for k in ("bohb", "asha", "tpe1")):
        return
    print("\nTargets (issue 23):")
    for k, name in (("bohb", "BOHB"), ("asha", "ASHA + TPE")):
        if k not in rows or "optuna" not in rows:
            continue
        d = 100 * (rows[k]["best val acc"] - rows["optuna"]["best val acc"])
        print(line(f"mean best val acc: {name} >= Optuna TPE + Hyperband's", f"{d:+.2f} points", d >= 0))
        if d < 0 and runs["optuna"][0].get("full_vals") is not None:
            print(quality_ceiling(k))
        r = rows[k]["mean s"] / rows["optuna"]["mean s"]
        print(line(f"{name} <= 1/5 of Optuna TPE + Hyperband's wall time", f"{r:.3f} of it ({1 / r:.2f}x faster)",
                   r <= 0.2))
        if r > 0.2:
            print(ceiling(k, "optuna"))
    if "tpe1" in rows:
        if "optuna_nop" in rows:
            d = 100 * (rows["tpe1"]["best val acc"] - rows["optuna_nop"]["best val acc"])
            print(line("mean best val acc: TPE at one budget >= Optuna TPE without pruning", f"{d:+.2f} points",
                       d >= 0))
        r = rows["tpe1"]["mean s"] / rows["full"]["mean s"]
        print(line("TPE at one budget <= 1.15x the time of jaxnn's random sweep of the same trials",
                   f"{r:.2f}x", r <= 1.15))
    for k, name in (("bohb", "BOHB"), ("asha", "ASHA + TPE"), ("tpe1", "TPE at one budget")):
        if k in rows:
            worst = max(100 * r["propose_s"] / r["seconds"] for r in runs[k])
            print(line(f"propose_s <= 10% of the search's time, {name}", f"{rows[k]['propose %']:.2f}% "
                       f"(mean; largest {worst:.2f}%)", worst <= 10))
    if "asha" in rows:
        u = rows["asha"]["lane util"]
        print(line("lane utilization >= 0.95, ASHA + TPE", f"{u:.3f} (mean; lowest "
                   f"{min(r['util'] for r in runs['asha']):.3f})", min(r["util"] for r in runs["asha"]) >= 0.95))
    if "hyperoptax" in rows:
        print(f"hyperoptax: retrained from the winner's key and hyperparameters with jaxnn.train, its val accuracy "
              f"reproduces to {max(r['val_check'] for r in runs['hyperoptax']):.2g}.")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="27 candidates, budgets 9..81, 1 seed (smoke test)")
    p.add_argument("--seeds", type=int, default=3, help="repeats of every search with seeds 0..N-1 (default 3)")
    p.add_argument("--candidates", type=int, default=243)
    p.add_argument("--min-steps", type=int, default=9)
    p.add_argument("--max-steps", type=int, default=243)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--patience", type=int, default=3, help="early-stopping row: patience in segments (default 3)")
    p.add_argument("--model-seeds", type=int, default=5,
                   help="seeds of the model-based rows (BOHB, ASHA + TPE, TPE at one budget), both Optuna rows and "
                        "hyperoptax (default 5)")
    p.add_argument("--batch", type=int, default=27,
                   help="TPE at one budget: trials per proposal; hyperoptax: vmapped trials per iteration (27)")
    p.add_argument("--no-optuna", action="store_true", help="skip both Optuna rows")
    p.add_argument("--no-hyperoptax", action="store_true")
    p.add_argument("--no-model", action="store_true", help="skip jaxnn's model-based rows (bohb, asha, search)")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--one-device", choices=["sh", "all", "none"], default="sh",
                   help="jaxnn rows also timed on one device: successive halving only (default), every jaxnn row, "
                        "or none")
    p.add_argument("--cpu-devices", type=int, default=os.cpu_count(),
                   help="JAX CPU devices (default: one per core; set before jax is imported; 1 turns it off)")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--lane-tail", action="store_true",
                   help="only the lane-utilization tail: 32 trials, 300 steps, segment 10, patience 3, lanes 32 "
                        "and 64, with and without narrowing (--seeds seeds)")
    p.add_argument("--models", action="store_true",
                   help="only issue 24's rows: successive halving of the network as jaxnn.trainable, as "
                        "sweeps.trainable_from of a dict of arrays and of an Equinox MLP (--seeds seeds)")
    p.add_argument("--structures", action="store_true",
                   help="only issue 24's static-axis rows: successive halving with the hidden width as "
                        "sweeps.static, against one search per width (--seeds seeds)")
    a = p.parse_args(argv)
    if a.quick:
        a.candidates, a.max_steps, a.seeds, a.model_seeds, a.batch = 27, 81, 1, 1, 9
    print(machine() + f", {len(jax.devices())} JAX devices")
    peak = matmul_peak_gflops()
    print(f"float32 matmul peak (jnp.dot {peak_size()}^2, same run): {peak:.1f} GFLOP/s")
    try:
        print(f"load average at the start: {os.getloadavg()[0]:.2f} (1 min)")
    except OSError:
        pass

    print(source_state())
    P = problem()
    mlp = jaxnn.trainable(SIZES, **STRUCT)
    if a.lane_tail:
        return lane_tail(P, mlp, a)
    if a.models:
        return model_rows(P, mlp, a)
    if a.structures:
        return structure_rows(P, a)
    full_fn = make_full_fn(a.max_steps)
    methods = [("sh", "jaxnn successive_halving", lambda s: jaxnn_adaptive("sh", mlp, P, a, s)),
               ("hb", "jaxnn hyperband", lambda s: jaxnn_adaptive("hb", mlp, P, a, s)),
               ("full", f"jaxnn.sweep, every trial to {a.max_steps} steps (random)",
                lambda s: jaxnn_full(full_fn, P, a, s)),
               ("es", f"jaxnn sweeps.run, segment {a.min_steps}, patience('val_loss', {a.patience})",
                lambda s: jaxnn_adaptive("run", mlp, P, a, s))]
    one = jax.devices()[:1]
    if len(jax.devices()) > 1 and a.one_device != "none":
        methods.append(("sh1", "jaxnn successive_halving, 1 device",
                        lambda s: jaxnn_adaptive("sh", mlp, P, a, s, devices=one)))
    if len(jax.devices()) > 1 and a.one_device == "all":
        methods += [("hb1", "jaxnn hyperband, 1 device", lambda s: jaxnn_adaptive("hb", mlp, P, a, s, devices=one)),
                    ("full1", "jaxnn.sweep, 1 device", lambda s: jaxnn_full(full_fn, P, a, s, devices=one)),
                    ("es1", "jaxnn sweeps.run (patience), 1 device",
                     lambda s: jaxnn_adaptive("run", mlp, P, a, s, devices=one))]
    model = []  # the model-based rows and their peers: --model-seeds seeds
    if not a.no_model:
        model += [("bohb", "jaxnn bohb (TPE, default iterations)", lambda s: jaxnn_adaptive("bohb", mlp, P, a, s)),
                  ("asha", "jaxnn asha + tpe", lambda s: jaxnn_adaptive("asha", mlp, P, a, s)),
                  ("tpe1", f"jaxnn search + tpe, {a.max_steps} steps, batches of {a.batch}",
                   lambda s: jaxnn_adaptive("tpe1", mlp, P, a, s))]
    if not a.no_optuna and importable("optuna"):
        import optuna
        trainer = OptunaTrainer(mlp, P, a)
        model += [("optuna", f"Optuna {optuna.__version__} TPE + HyperbandPruner",
                   lambda s: optuna_search(trainer, P, a, s)),
                  ("optuna_nop", f"Optuna {optuna.__version__} TPE, no pruning ({a.max_steps} steps each)",
                   lambda s: optuna_search(trainer, P, a, s, prune=False))]
    if not a.no_hyperoptax and importable("hyperoptax"):
        from importlib.metadata import version
        model.append(("hyperoptax", f"hyperoptax {version('hyperoptax')} BayesianSearch (GP, "
                      f"{a.candidates // a.batch} x {a.batch} vmapped, {a.max_steps} steps)",
                      lambda s: hyperoptax_search(P, a, s)))
    if not a.no_sklearn and importable("sklearn") and importable("scipy"):
        import sklearn
        methods.append(("sklearn", f"scikit-learn {sklearn.__version__} HalvingRandomSearchCV(MLPClassifier)",
                        lambda s: sklearn_search(P, a, s)))
    methods = [m + (a.seeds,) for m in methods] + [m + (a.model_seeds,) for m in model]

    # Seed by seed, every method in turn (so a change in the machine's load reaches all of them alike).
    runs = {k: [] for k, *_ in methods}
    for seed in range(max(n for *_, n in methods)):
        for k, name, f, n in methods:
            if seed >= n:
                continue
            runs[k].append(f(seed))
            r = runs[k][-1]
            print(f"seed {seed} {name}: {r['seconds']:.2f} s, best val {r['best_val']:.4f}, test {r['test']:.4f}, "
                  f"lane-steps {r['lane_steps']}", flush=True)
    rows = {k: row(name, runs[k]) for k, name, *_ in methods}
    sh = rows["sh"]
    for r in rows.values():
        r["vs SH"] = r["mean s"] / sh["mean s"]
    b = budgets(a)
    dev = runs["sh"][0]["devices"]
    print(f"\n### adaptive search: digits 600 / 600 / 597, {SIZES} tanh/softmax, adam, {a.candidates} candidates, "
          f"budgets {b} full-batch steps (eta {a.eta}), {a.seeds} seed{'s' if a.seeds > 1 else ''} "
          f"({a.model_seeds} for the model-based rows and their peers), "
          f"{dev} JAX {jax.devices()[0].platform} device{'s' if dev > 1 else ''}\n")
    print(f"`python benchmarks/bench_adaptive.py{' --quick' if a.quick else ''}"
          f"{'' if a.quick or a.seeds == 3 else f' --seeds {a.seeds}'}"
          f"{'' if a.quick or a.model_seeds == 5 else f' --model-seeds {a.model_seeds}'}`\n")
    cols = ["method", "seeds", "mean s", "seed-1 s", "compile s", "vs SH", "lane-steps", "lane util", "propose %",
            "best val acc", "val min-max", "val std", "winner test acc"]
    print(table(list(rows.values()), cols))
    mean_of = "seeds 2.. of its row" if max(a.seeds, a.model_seeds) > 1 else "seed 1"
    print(f"\n'mean s': mean wall time of the whole search over {mean_of} (compiled); 'seed-1 s': seed 1's, which "
          f"includes the jaxnn rows' compilation ('compile s': theirs, seed 1); 'vs SH' = mean s / successive "
          f"halving's. 'lane-steps': training steps paid, summed over trials (jaxnn: meta['lane_steps_paid']; the "
          f"full sweep: {a.candidates} x {a.max_steps}; Optuna: the steps each trial trained before it was pruned or "
          f"finished; scikit-learn: candidates x max_iter of every rung, each refit from scratch). 'best val acc' and "
          f"'winner test acc': means over seeds ('val min-max', 'val std': their spread over seeds). 'propose %': "
          f"meta['propose_s'] (the host's time proposing trials) as a percentage of the search's wall time, mean "
          f"over seeds. Hyperband's brackets use "
          f"{runs['hb'][0]['trials']} of the {a.candidates} candidates. scikit-learn's MLPClassifier has no init "
          f"scale (Glorot init): it searches learning_rate_init and alpha only. Optuna trials train with the "
          f"trainable's jitted init/advance/evaluate (jaxnn.train cannot continue an adam run: it takes no optimizer "
          f"state)" + (f"; of its {a.candidates} trials {np.mean([r['full'] for r in runs['optuna']]):.1f} trained "
                        f"{a.max_steps} steps and {np.mean([r['complete'] for r in runs['optuna']]):.1f} completed "
                        f"(mean; its pruner stops some at {a.max_steps} steps, and its best is over the completed)."
                        if "optuna" in runs else "."))
    vc = max(r["val_check"] for k in ("sh", "hb", "es") for r in runs[k])
    print(f"jaxnn winners' test accuracy: AdaptiveResult.state (the winner's final state) evaluated on the test split; "
          f"retrained with jaxnn.train from best()'s key and hyperparameters they reproduce best()'s val accuracy "
          f"to {vc:.2g}. The full sweep: its params evaluated on the test split inside fn. Stopped early in the "
          f"patience row: {runs['es'][0]['stopped_early']} of {a.candidates} "
          f"(seed 1).")
    for k1, k in (("sh1", "sh"), ("hb1", "hb"), ("full1", "full"), ("es1", "es")):
        if k1 in rows:
            faster = "one device" if rows[k1]["mean s"] < rows[k]["mean s"] else f"{dev} devices"
            print(f"{rows[k]['method']}: {rows[k1]['mean s']:.2f} s on 1 device vs {rows[k]['mean s']:.2f} s on {dev} "
                  f"(faster here: {faster}).")

    def line(text, value, ok):
        return f"- {text}: {value} -> {'met' if ok else 'NOT met'}"

    print("\nTargets (issue 12):")
    t = sh["mean s"]
    if "optuna" in rows:
        r = rows["optuna"]["mean s"] / t
        print(line("successive halving >= 5x faster than Optuna", f"{r:.2f}x", r >= 5))
    if "sklearn" in rows:
        r = rows["sklearn"]["mean s"] / t
        print(line("successive halving >= 5x faster than HalvingRandomSearchCV", f"{r:.2f}x", r >= 5))
    # The ceiling of the two ratios above: successive halving's lane-steps at the full sweep's time per
    # lane-step (the largest chunks, no evaluations, no rungs): what a search of this many steps costs here.
    floor = sh["lane-steps"] * rows["full"]["mean s"] / rows["full"]["lane-steps"]
    peers = [f"{rows[k]['mean s'] / floor:.2f}x {name}" for k, name in (("optuna", "Optuna"),
                                                                         ("sklearn", "HalvingRandomSearchCV"))
             if k in rows]
    if peers:
        print(f"  ceiling: successive halving's {sh['lane-steps']} lane-steps at the full sweep's rate take "
              f"{floor:.2f} s (it took {t:.2f} s): at most {', '.join(peers)} on this machine")
    r = t / rows["full"]["mean s"]
    print(line("successive halving <= 1/5 of the full sweep's time", f"{r:.3f} of it ({1 / r:.2f}x faster)", r <= 0.2))
    if "sklearn" in rows:
        d = 100 * (sh["best val acc"] - rows["sklearn"]["best val acc"])
        print(line("mean best val acc: successive halving >= HalvingRandomSearchCV's - 0.3 points",
                   f"{d:+.2f} points", d >= -0.3))
    if "optuna" in rows:
        d = 100 * (rows["hb"]["best val acc"] - rows["optuna"]["best val acc"])
        print(line("mean best val acc: Hyperband >= Optuna's - 0.5 points", f"{d:+.2f} points", d >= -0.5))
    for k, name in (("sh", "successive halving"), ("hb", "Hyperband"), ("es", "early-stopping sweeps.run")):
        u = rows[k]["lane util"]
        print(line(f"lane utilization >= 0.9, {name}", f"{u:.3f}", u >= 0.9))
    model_targets(rows, runs, a.max_steps)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "peak_gflops": peak, "rows": list(rows.values())}, f, indent=2,
                      default=str)
    return rows


if __name__ == "__main__":
    main()
