"""Model-based search on digits: random, Hyperband, BOHB, ASHA + TPE, TPE at one budget and Optuna, 5 seeds each.

Two problems, both on the adaptive benchmark's data (``benchmarks/bench_adaptive.py``: digits 600 train / 600
validation / 597 test, one fixed shuffle; the 64-64-10 softmax network, cross-entropy, full-batch adam; budgets
``min_steps * eta**k`` = 9, 27, 81, 243 steps; 243 trials):

* **3 hyperparameters**: tanh hidden units; log-uniform init scale eps in [1e-3, 1], learning rate alpha in
  [1e-4, 1], ridge lambda in [1e-6, 1e-1] (the benchmark's space).
* **7 hyperparameters** (harder): the same three, adam's ``b1`` uniform in [0, 0.99] (a traced hyperparameter of
  ``jaxnn.trainable(..., optimizer_kwargs={"b1": 0.9})``), two irrelevant ones (``noise_u`` uniform in [0, 1],
  ``noise_log`` log-uniform in [1e-3, 1e3]: the wrapped trainable takes and ignores them) and the hidden
  ``activation`` in {tanh, relu}, a static (structure) hyperparameter: ``activation=sweeps.static(...)`` in
  every jaxnn search's space (one compilation per value; a lane scheduler keeps one lane pool per activation
  and ranks the trials of both together; a sampler sees the static axis as a categorical coordinate); the
  lane schedulers train one trainable that picks its network by the activation, random and TPE at one budget
  a plain function through ``sweeps.search(fn, ...)``; Optuna suggests it as a categorical.

The methods (per problem and seed; key ``jax.random.key(seed)``, Optuna ``TPESampler(seed=seed)``):
random (``sweeps.search`` of a plain function: the trainable's ``init``, ``advance`` 243 steps and ``evaluate``
on the validation and test splits; no sampler; 243 trials in batches of 27), Hyperband (``sweeps.hyperband``
of ``sweeps.random(243, ...)``: 4 iterations of its brackets, 196 trials), BOHB (``sweeps.bohb``, default
iterations and sampler), ASHA + TPE (``sweeps.asha``, 243 trials, ``sampler=sweeps.tpe()``), TPE at one budget
(the same ``sweeps.search``, ``sampler=sweeps.tpe()``), Optuna 5.0 TPE +
HyperbandPruner (243 trials one at a time, rung by rung, with the trainable's jitted ``init`` / ``advance`` /
``evaluate``).

**Anytime curves** (best validation accuracy of any evaluation so far, against wall time and against
lane-steps = training steps of trials): a jaxnn result's ``curves`` list every trial's evaluations but not
when they happened across trials, so the order is recorded as the search runs.  The lane schedulers report
each segment to their progress bar (``update(lanes x segment)`` with the useful lane-steps, then a note with
the best ranked metric over every trial's latest evaluation); this script puts a recorder in place of
``tqdm.tqdm`` while a search runs and keeps ``(time, lane-steps, best)`` at every segment (the note's 4
significant digits; the validation accuracies are multiples of 1/600).  The reconstruction is checked: the
curve's last best equals the maximum over every evaluation in ``res.curves`` (printed).  A search of a plain
function (``sweeps.search(fn, ...)``) calls ``progress(chunks_done, chunks_total)`` after each chunk: a
batch's trials are placed at the batch's end (lane-steps = trials so far x 243), their best from the result's
``val_accuracy`` in trial order.  Optuna: each reported value, at the
steps trained so far.  Curves are stepwise; the bands are the min-max over seeds at each x, the line their mean
(drawn where every seed has a value).  Wall-time curves use seeds 2..N (seed 1 compiles; lane-step curves use
all seeds).

The winners' test accuracy, never from a retraining (a winner at a large learning rate is chaotic: retrained
outside its lanes, one reached 0.69 validation accuracy instead of 0.977): the winner's final state
(``AdaptiveResult.state``) evaluated on the test split; a function search evaluates it inside fn; Optuna
evaluates each finished trial on the test split and keeps it as a user attribute.

    nice python experiments/model_based_search.py      # 5-10 min on 2 CPU cores
    python experiments/model_based_search.py --quick   # a smoke test (seconds)

Writes OUT (default runs/model_based_search/): anytime.png (2 x 2 panels: problem x axis), summary.json
(every number and curve, provenance), results.csv (one row per problem, method and seed), and prints a
markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import provenance, write_csv, write_json  # noqa: E402

METHODS = ["random", "hyperband", "bohb", "asha + tpe", "tpe one budget", "optuna tpe + hyperband"]
RANGES = {"scale": (1e-3, 1.0), "lr": (1e-4, 1.0), "lam": (1e-6, 1e-1)}
EXTRA = {"b1": (0.0, 0.99), "noise_u": (0.0, 1.0), "noise_log": (1e-3, 1e3)}  # problem "7hp": traced extras
ACTIVATIONS = ("tanh", "relu")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=243)
    p.add_argument("--batch", type=int, default=27, help="TPE / random at one budget: trials per proposal")
    p.add_argument("--min-steps", type=int, default=9)
    p.add_argument("--max-steps", type=int, default=243)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--problems", default="3hp,7hp", help="comma-separated: 3hp, 7hp")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of: " + ", ".join(METHODS))
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="on a CPU, this many JAX devices (default 0: one per core; 1: off)")
    p.add_argument("--out", default="runs/model_based_search")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 seeds, 36 trials, budgets 3..27, 16 units")
    a = p.parse_args(argv)
    if a.quick:  # smaller defaults; flags given explicitly still win
        p.set_defaults(seeds=2, trials=36, batch=9, min_steps=3, max_steps=27, hidden=16)
        a = p.parse_args(argv)
    a.problems = [s.strip() for s in a.problems.split(",") if s.strip()]
    a.methods = [s.strip() for s in a.methods.split(",") if s.strip()]
    for name, got, allowed in (("problems", a.problems, ("3hp", "7hp")), ("methods", a.methods, METHODS)):
        bad = [x for x in got if x not in allowed]
        if bad or not got:
            raise ValueError(f"{name}: expected a comma-separated subset of {list(allowed)}, got {bad or got}")
    for name in ("seeds", "trials", "batch", "min_steps", "max_steps", "eta", "hidden"):
        if getattr(a, name) < 1:
            raise ValueError(f"{name.replace('_', '-')}: expected a positive integer, got {getattr(a, name)}")
    return a


# --- the problem ------------------------------------------------------------------------------------------------

def digits_split():
    """digits as the adaptive benchmark splits them: {"train"|"val"|"test": (X / 16, one-hot Y)}, float32."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = (X[perm] / 16.0).astype(np.float32), y[perm]
    Y = np.eye(10, dtype=np.float32)[y]
    sl = {"train": slice(0, 600), "val": slice(600, 1200), "test": slice(1200, None)}
    return {k: (X[s], Y[s]) for k, s in sl.items()}


class Problem:
    """The trainables (one per activation), the distributions and the data of one problem."""

    def __init__(self, name, a):
        import jax.numpy as jnp

        import jaxnn
        from jaxnn import sweeps

        self.name, self.hard = name, name == "7hp"
        P = {k: tuple(map(jnp.asarray, v)) for k, v in digits_split().items()}
        self.data = {"X": P["train"][0], "Y": P["train"][1], "X_val": P["val"][0], "Y_val": P["val"][1]}
        self.test = {"X": P["train"][0], "Y": P["train"][1], "X_val": P["test"][0], "Y_val": P["test"][1]}
        self.activations = ACTIVATIONS if self.hard else ACTIVATIONS[:1]
        kw = dict(output_activation="softmax", loss="cross_entropy", optimizer="adam")
        if self.hard:
            kw["optimizer_kwargs"] = {"b1": 0.9}
        self.mlp = {f: ignoring(jaxnn.trainable([64, a.hidden, 10], activation=f, **kw), self.hard)
                    for f in self.activations}
        self.dists = {k: sweeps.loguniform(*r) for k, r in RANGES.items()}
        self.lanes, self.space = self.mlp[self.activations[0]], dict(self.dists)  # the lane schedulers'
        if self.hard:
            self.dists.update(b1=sweeps.uniform(*EXTRA["b1"]), noise_u=sweeps.uniform(*EXTRA["noise_u"]),
                              noise_log=sweeps.loguniform(*EXTRA["noise_log"]))
            self.lanes = by_activation(self.mlp)
            self.space = {**self.dists, "activation": sweeps.static(list(self.activations))}


def by_activation(mlps):
    """One trainable over ``mlps`` ({activation: trainable}): the static hyperparameter ``activation`` picks the
    network (a lane scheduler keeps one pool, one compilation, per value)."""
    from jaxnn.sweeps import Trainable

    first = mlps[ACTIVATIONS[0]]
    return Trainable(init=lambda key, data, activation, **hp: mlps[activation].init(key, data, **hp),
                     advance=lambda state, data, steps, activation, **hp: mlps[activation].advance(state, data,
                                                                                                   steps, **hp),
                     evaluate=lambda state, data, activation, **hp: mlps[activation].evaluate(state, data, **hp),
                     hyperparameters={**first.hyperparameters, "activation": ACTIVATIONS[0]},
                     directions=first.directions, needs=first.needs)


def ignoring(mlp, extra):
    """``mlp`` taking two more traced hyperparameters (``noise_u``, ``noise_log``) that it ignores (``extra``)."""
    if not extra:
        return mlp
    from jaxnn.sweeps import Trainable

    def drop(hp):
        return {k: v for k, v in hp.items() if k not in ("noise_u", "noise_log")}

    return Trainable(init=lambda key, data, **hp: mlp.init(key, data, **drop(hp)),
                     advance=lambda state, data, steps, **hp: mlp.advance(state, data, steps, **drop(hp)),
                     evaluate=lambda state, data, **hp: mlp.evaluate(state, data, **drop(hp)),
                     hyperparameters={**mlp.hyperparameters, "noise_u": 0.5, "noise_log": 1.0},
                     directions=mlp.directions, needs=mlp.needs)


# --- recording when each evaluation happened --------------------------------------------------------------------

_BEST = re.compile(r"best val_accuracy (\S+)")


class _Recorder:
    """Stands in for ``tqdm.tqdm`` while a lane search runs: keeps (time, lane-steps, best so far) per segment."""

    events: list = []

    def __init__(self, *args, **kwargs):
        self.n = 0

    def update(self, k=1):
        self.n += k

    def set_postfix_str(self, s="", refresh=True):
        m = _BEST.search(s)
        if m:
            _Recorder.events.append((time.perf_counter(), self.n, float(m.group(1))))

    def __getattr__(self, name):  # close, refresh, ...: nothing to show
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def recording():
    """``tqdm.tqdm`` replaced by :class:`_Recorder` (a fresh event list) for the duration."""
    import tqdm

    saved, _Recorder.events = tqdm.tqdm, []
    tqdm.tqdm = _Recorder
    try:
        yield _Recorder.events
    finally:
        tqdm.tqdm = saved


def running_best(points):
    """[(t, x, value), ...] -> the same with the running maximum of value (NaN counts as nothing)."""
    out, best = [], -np.inf
    for t, x, v in points:
        best = max(best, v) if np.isfinite(v) else best
        out.append((t, x, best))
    return out


# --- the searches: each returns {wall, lane_steps, best_val, test, curve, propose_s, check} -------------------------

def lane_search(method, prob, a, seed):
    """One jaxnn lane scheduler (Hyperband, BOHB, ASHA), recorded; on the 7-hyperparameter problem the activation
    is a ``sweeps.static`` axis of its space (one pool per activation, trials of both ranked together)."""
    import jax
    import jax.numpy as jnp

    from jaxnn import sweeps

    kw = dict(key=jax.random.key(seed), data=prob.data, metric="val_accuracy", progress=True)
    rung = dict(min_steps=a.min_steps, max_steps=a.max_steps, eta=a.eta)
    with recording() as events:
        t0 = time.perf_counter()
        if method == "hyperband":
            res = sweeps.hyperband(prob.lanes, sweeps.random(a.trials, **prob.space), **rung, **kw)  # random design
        elif method == "bohb":  # default iterations (4) and sampler
            res = sweeps.bohb(prob.lanes, prob.space, **rung, **kw)
        else:
            res = sweeps.asha(prob.lanes, prob.space, trials=a.trials, sampler=sweeps.tpe(), **rung, **kw)
        wall = time.perf_counter() - t0
    b = res.best()
    i = b["trial"]
    static = {"activation": str(res.trials["activation"][i])} if prob.hard else {}
    hp = {k: jnp.asarray(v[i]) for k, v in res.trials.items() if k not in static}
    state = jax.tree_util.tree_map(jnp.asarray, res.state)
    test = float(prob.lanes.evaluate(state, prob.test, **static, **hp)["val_accuracy"])
    every = max((m["val_accuracy"] for c in res.curves for _, m in c if np.isfinite(m["val_accuracy"])),
                default=np.nan)
    curve = running_best([(t - t0, x, v) for t, x, v in events])
    return {"wall": wall, "lane_steps": res.meta["lane_steps_useful"], "best_val": float(b["val_accuracy"]),
            "test": test, "curve": curve, "propose_s": res.meta.get("propose_s", 0.0),
            "check": abs(curve[-1][2] - every) if curve else np.nan,
            "structures": [s_.get("activation", prob.activations[0]) for s_ in res.meta["structures"]],
            "winner": {"activation": static.get("activation", prob.activations[0]),
                       **{k: float(v) for k, v in hp.items()}}}


def fn_search(method, prob, a, seed):
    """random / TPE at one budget: ``sweeps.search`` of a plain function (the trainable's init, advance and
    evaluate on the validation and test splits; 7 hyperparameters: the activation a ``sweeps.static`` axis);
    each batch's trials placed at the batch's end."""
    import jax

    from jaxnn import sweeps

    steps = a.max_steps

    def fn(key, data, activation=prob.activations[0], **hp):
        mlp = prob.mlp[activation]
        state = mlp.advance(mlp.init(key, data, **hp), data, steps, **hp)
        val = mlp.evaluate(state, data, **hp)["val_accuracy"]
        test = mlp.evaluate(state, {**data, "X_val": data["X_test"], "Y_val": data["Y_test"]}, **hp)
        return {"val_accuracy": val, "test_accuracy": test["val_accuracy"]}

    data = {**prob.data, "X_test": prob.test["X_val"], "Y_test": prob.test["Y_val"]}
    space = {**prob.dists, **({"activation": sweeps.static(list(prob.activations))} if prob.hard else {})}
    ends = []
    t0 = time.perf_counter()
    res = sweeps.search(fn, space, trials=a.trials, batch=a.batch, key=jax.random.key(seed), data=data,
                        metric="val_accuracy", mode="max", directions={"test_accuracy": "max"},
                        sampler=sweeps.tpe() if method == "tpe one budget" else None,
                        progress=lambda done, total: ends.append(time.perf_counter()) if done == total else None)
    wall = time.perf_counter() - t0
    val = np.asarray(res["val_accuracy"]).reshape(-1)
    test = np.asarray(res["test_accuracy"]).reshape(-1)
    pts = []
    for j, t in enumerate(ends):
        hi = min(a.trials, (j + 1) * a.batch)
        pts.append((t - t0, hi * steps, float(np.nanmax(np.r_[val[:hi], -np.inf]))))
    i = int(res.best("val_accuracy")["trial"])
    return {"wall": wall, "lane_steps": a.trials * steps, "best_val": float(val[i]), "test": float(test[i]),
            "curve": running_best(pts), "propose_s": res.meta.get("propose_s", 0.0), "check": 0.0,
            "winner": {"activation": prob.activations[0],
                       **{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in res.coords.items()}}}


class OptunaTrainer:
    """Jitted init / advance (one compilation per rung increment) / evaluate per activation, for every trial."""

    def __init__(self, prob):
        import jax

        self.fns = {f: (jax.jit(m.init), jax.jit(m.advance, static_argnums=2), jax.jit(m.evaluate))
                    for f, m in prob.mlp.items()}


def optuna_search(tr, prob, a, seed):
    """Optuna TPESampler(seed) + HyperbandPruner(min, max, eta), trials one at a time, rung by rung."""
    import jax
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed_key = jax.random.key(seed)
    rungs = [a.min_steps * a.eta ** k for k in range(64) if a.min_steps * a.eta ** k <= a.max_steps]
    events, paid = [], {"steps": 0}

    def suggest(trial):
        hp = {k: trial.suggest_float(k, *RANGES[k], log=True) for k in RANGES}
        if prob.hard:
            hp.update({k: trial.suggest_float(k, *EXTRA[k], log=k == "noise_log") for k in EXTRA})
        f = trial.suggest_categorical("activation", list(prob.activations)) if prob.hard else prob.activations[0]
        return f, hp

    def objective(trial):
        f, hp = suggest(trial)
        init, advance, evaluate = tr.fns[f]
        state, done = init(jax.random.fold_in(seed_key, trial.number), prob.data, **hp), 0
        for r in rungs:
            state = advance(state, prob.data, r - done, **hp)
            paid["steps"] += r - done
            done = r
            acc = float(evaluate(state, prob.data, **hp)["val_accuracy"])
            acc = acc if np.isfinite(acc) else 0.0
            events.append((time.perf_counter(), paid["steps"], acc))
            trial.report(acc, r)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("test_accuracy", float(evaluate(state, prob.test, **hp)["val_accuracy"]))
        return acc

    pruner = optuna.pruners.HyperbandPruner(min_resource=a.min_steps, max_resource=a.max_steps,
                                            reduction_factor=a.eta)
    study = optuna.create_study(study_name=f"model_based_{prob.name}_seed{seed}", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=a.trials)
    wall = time.perf_counter() - t0
    b = study.best_trial
    f = b.params.get("activation", prob.activations[0])
    hp = {k: v for k, v in b.params.items() if k != "activation"}
    test = b.user_attrs["test_accuracy"]
    return {"wall": wall, "lane_steps": paid["steps"], "best_val": float(b.value), "test": test,
            "curve": running_best([(t - t0, x, v) for t, x, v in events]), "propose_s": None, "check": 0.0,
            "winner": {"activation": f, **hp}}


def run_one(method, prob, a, seed, trainer):
    if method == "optuna tpe + hyperband":
        return optuna_search(trainer, prob, a, seed)
    if method in ("random", "tpe one budget"):
        return fn_search(method, prob, a, seed)
    return lane_search(method, prob, a, seed)


# --- summary: table, figure -------------------------------------------------------------------------------------

def summarize(name, runs):
    best = np.array([r["best_val"] for r in runs])
    later = [r["wall"] for r in runs[1:]] or [runs[0]["wall"]]
    prop = [r["propose_s"] / r["wall"] for r in runs if r["propose_s"] is not None]
    return {"method": name, "best val acc": best.mean(), "std": best.std(), "min": best.min(), "max": best.max(),
            "winner test acc": float(np.mean([r["test"] for r in runs])), "wall s": float(np.mean(later)),
            "seed-1 wall s": runs[0]["wall"], "lane-steps": float(np.mean([r["lane_steps"] for r in runs])),
            "propose %": 100 * float(np.mean(prop)) if prop else None}


def markdown(rows):
    cols = ["problem", "method", "best val acc (mean ± std)", "min-max", "winner test acc", "wall s",
            "seed-1 wall s", "lane-steps", "propose %"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['problem']} | {r['method']} | {r['best val acc']:.4f} ± {r['std']:.4f} | "
                     f"{r['min']:.4f}-{r['max']:.4f} | {r['winner test acc']:.4f} | {r['wall s']:.2f} | "
                     f"{r['seed-1 wall s']:.2f} | {r['lane-steps']:,.0f} | "
                     f"{'' if r['propose %'] is None else format(r['propose %'], '.2f')} |")
    return "\n".join(lines)


def band(curves, axis, grid):
    """Each seed's step function (x = time (axis 0) or lane-steps (axis 1)) on ``grid``: (seeds, len(grid))."""
    out = np.full((len(curves), len(grid)), np.nan)
    for s, c in enumerate(curves):
        if not c:
            continue
        x = np.array([p[axis] for p in c], float)
        v = np.array([p[2] for p in c], float)
        idx = np.searchsorted(x, grid, side="right") - 1
        out[s] = np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)
    return out


def figure(all_runs, problems, methods, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(problems), 2, figsize=(12, 4.2 * len(problems)), squeeze=False)
    colors = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    finals = [r["curve"][-1][2] for p in all_runs.values() for rs in p.values() for r in rs if r["curve"]]
    bottom = max(0.0, float(np.floor(20 * (min(finals, default=0.9) - 0.03)) / 20))
    for row, prob in enumerate(problems):
        for col, (axis, label) in enumerate(((0, "wall time (s)"), (1, "lane-steps (training steps of trials)"))):
            ax = axes[row][col]
            for m in methods:
                runs = all_runs[prob][m]
                curves = [r["curve"] for r in (runs[1:] if axis == 0 and len(runs) > 1 else runs)]
                xs = [p[axis] for c in curves for p in c if p[axis] > 0]
                if not xs:
                    continue
                grid = np.geomspace(min(xs), max(xs), 200)
                y = band(curves, axis, grid)
                ok = ~np.isnan(y).any(0)
                ax.plot(grid[ok], y[:, ok].mean(0), color=colors[m], label=m)
                ax.fill_between(grid[ok], y[:, ok].min(0), y[:, ok].max(0), color=colors[m], alpha=0.2)
            ax.set_xscale("log")
            ax.minorticks_off()  # minor tick labels of a short log range run into each other
            ax.set_xlabel(label)
            ax.set_ylabel("best val accuracy so far")
            ax.set_ylim(bottom, 1.0)
            ax.set_title(f"{prob}: {'3 hyperparameters' if prob == '3hp' else '7 (2 irrelevant, 1 static)'}")
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    a = parse(argv)
    from jaxnn.sweeps import use_cpu_cores

    use_cpu_cores(a.cpu_devices or None)  # before any JAX computation
    all_runs, rows, csv_rows = {}, [], []
    for pname in a.problems:
        prob = Problem(pname, a)
        trainer = OptunaTrainer(prob) if "optuna tpe + hyperband" in a.methods else None
        all_runs[pname] = {m: [] for m in a.methods}
        for seed in range(a.seeds):  # seed by seed, every method in turn (the machine's load reaches all alike)
            for m in a.methods:
                r = run_one(m, prob, a, seed, trainer)
                all_runs[pname][m].append(r)
                csv_rows.append({"problem": pname, "method": m, "seed": seed, "best_val": round(r["best_val"], 4),
                                 "test": round(r["test"], 4), "wall_s": round(r["wall"], 3),
                                 "lane_steps": r["lane_steps"], "propose_s": r["propose_s"]})
                print(f"{pname} seed {seed} {m:24s} val {r['best_val']:.4f} test {r['test']:.4f} "
                      f"{r['wall']:6.2f} s  lane-steps {r['lane_steps']:6d}  curve check {r['check']:.1e}",
                      flush=True)
        rows += [{"problem": pname, **summarize(m, all_runs[pname][m])} for m in a.methods]
    os.makedirs(a.out, exist_ok=True)
    figure(all_runs, a.problems, a.methods, os.path.join(a.out, "anytime.png"))
    write_csv(os.path.join(a.out, "results.csv"), csv_rows)
    table = markdown(rows)
    checks = max(r["check"] for p in all_runs.values() for rs in p.values() for r in rs)
    summary = {"rows": rows, "runs": all_runs, "args": vars(a), "provenance": provenance(), "table": table,
               "curve_check": checks}
    write_json(os.path.join(a.out, "summary.json"), summary)
    over = f"seeds 2..{a.seeds} (compiled)" if a.seeds > 1 else "seed 1 (compilation included)"
    print(f"\n{table}\n\n'wall s': mean over {over}; 'seed-1 wall s' includes compilation. "
          f"'lane-steps': training steps of trials (jaxnn: meta['lane_steps_useful']; Optuna: steps trained "
          f"before pruning). 'propose %': meta['propose_s'] / wall time. Anytime curves: largest gap between a "
          f"recorded curve's end and the best evaluation in res.curves: {checks:.1e}.")
    print(f"wrote {a.out}/ (anytime.png, results.csv, summary.json)")
    return summary


if __name__ == "__main__":
    main()
