"""Benchmark: the native TPE sampler (``sweeps.tpe``) against Optuna 5.0's TPESampler.

Speed: ``propose(27, ...)`` of ``sweeps.tpe()`` (the defaults: multivariate, constant liar) from 100 / 1,000 /
5,000 observations of one budget, in d = 3 (loguniform, integers, choice) and d = 8 (2 loguniform, 2 uniform,
2 integers, 2 choice) dimensions, best of 5; against ``optuna.samplers.TPESampler(multivariate=True, seed=0)``
asking 27 trials (its constant liar on: the asked trials stay running) of a study holding the same
observations (``study.add_trials``, not timed), best of 5 (a fresh study each time).  Also
``sweeps.tpe(constant_liar=False)`` ("no liar": the 27 points from one model, scored in one pass).

Quality (``--quality``): the objective of tests/test_tpe.py (Branin in a log-scaled lr and a uniform b, a
quadratic in c, one unused coordinate), 120 trials one at a time, 10 seeds: the mean and median best regret of
random search, ``sweeps.tpe()``, ``sweeps.tpe(multivariate=False)``, ``sweeps.tpe()`` in batches of 4, the
Scott-like bandwidth ``0.2 m^(-1/(d+4))`` of Optuna's earlier multivariate TPE (patched in for the comparison),
and Optuna 5.0's TPESampler(multivariate=True, seed=s).

    python benchmarks/bench_tpe.py              # speed, the full table
    python benchmarks/bench_tpe.py --quick      # 100 and 1,000 observations, best of 2
    python benchmarks/bench_tpe.py --quality    # the quality table (about 10 s)
    python benchmarks/bench_tpe.py --quality --seeds 10:40   # on 30 other seeds
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine, numpy_threads_note, table  # noqa: E402
from jaxnn import sweeps  # noqa: E402
from jaxnn.sweeps.export import optuna_distribution  # noqa: E402
from jaxnn.sweeps.samplers.base import COMPLETE, History, param_space  # noqa: E402

TPE = importlib.import_module("jaxnn.sweeps.samplers.tpe")

SPACES = {
    3: {"lr": sweeps.loguniform(1e-5, 1.0), "width": sweeps.integers(8, 129), "act": sweeps.choice([0, 1, 2])},
    8: {"lr": sweeps.loguniform(1e-5, 1.0), "lam": sweeps.loguniform(1e-6, 1e-1), "beta": sweeps.uniform(0.0, 3.0),
        "rho": sweeps.uniform(0.01, 0.5), "width": sweeps.integers(8, 129), "depth": sweeps.integers(1, 5),
        "act": sweeps.choice([0, 1, 2]), "batch": sweeps.choice([32, 64, 128, 256])},
}


def observations(space, m: int, seed: int = 0) -> History:
    """A one-budget history of m random points, loss a quadratic in u plus noise."""
    rng = np.random.default_rng(seed)
    u = rng.random((m, space.d))
    loss = ((u - 0.3) ** 2).sum(1) + 0.05 * rng.random(m)
    return History(u, np.array([1]), loss[:, None], np.full(m, COMPLETE, np.int8), [[] for _ in u], "min", "loss")


def time_tpe(space, h: History, repeats: int, **options) -> float:
    sampler, best = sweeps.tpe(**options), np.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        sampler.propose(27, space, h, (0, r))
        best = min(best, time.perf_counter() - t0)
    return best


def time_optuna(optuna, space, raw: dict, h: History, repeats: int) -> float:
    dists = {k: optuna_distribution(d.kind, d.args) for k, d in raw.items()}
    values = space.values(h.u)
    trials = [optuna.trial.create_trial(params={k: values[k][i].item() for k in dists}, distributions=dists,
                                        value=float(h.loss[i, 0])) for i in range(h.m)]
    best = np.inf
    for _ in range(repeats):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, seed=0))
        study.add_trials(trials)
        t0 = time.perf_counter()
        for _ in range(27):
            study.ask(dists)
        best = min(best, time.perf_counter() - t0)
    return best


def speed(quick: bool, optuna) -> list:
    rows = []
    for d, raw in SPACES.items():
        space = param_space(raw)
        for m in (100, 1000) if quick else (100, 1000, 5000):
            h = observations(space, m)
            ours = time_tpe(space, h, 2 if quick else 5)
            row = {"d": d, "observations": m, "sweeps.tpe: 27 (ms)": 1e3 * ours,
                   "no liar (ms)": 1e3 * time_tpe(space, h, 2 if quick else 5, constant_liar=False)}
            if optuna is not None:
                ref = time_optuna(optuna, space, raw, h, 2 if quick else 5)
                row.update({"Optuna TPE: 27 asks (ms)": 1e3 * ref, "Optuna / sweeps.tpe": ref / ours})
            rows.append(row)
            print(row, flush=True)
    return rows


# ------------------------------------------------------------------------------------------ quality
def _test_objective():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    import test_tpe

    return test_tpe


@contextlib.contextmanager
def scott_bandwidth():
    """The Scott-like rule 0.2 max(m, 1)^(-1/(d+4)) for every kernel (magic clip kept), patched in."""
    original = TPE._neighbour_sigmas
    d = len(_test_objective().QUALITY)

    def scott(xc, opt, order=None):
        m = len(xc)
        sigma = np.clip(np.full(xc.shape, 0.2 * max(m, 1) ** (-1.0 / (d + 4))), TPE._min_sigma(m, opt), 1.0)
        return sigma, np.argsort(xc.T, axis=1, kind="stable")

    TPE._neighbour_sigmas = scott
    try:
        yield
    finally:
        TPE._neighbour_sigmas = original


def quality(optuna, seeds: range) -> list:
    t = _test_objective()
    runs = {"random search": lambda s: t.best_regret(sweeps.samplers.RandomSampler(), s),
            "sweeps.tpe()": lambda s: t.best_regret(sweeps.tpe(), s),
            "sweeps.tpe(multivariate=False)": lambda s: t.best_regret(sweeps.tpe(multivariate=False), s),
            "sweeps.tpe(), batches of 4": lambda s: t.best_regret(sweeps.tpe(), s, batch=4)}
    rows = []
    for name, run in runs.items():
        rows.append({"sampler": name, "regrets": np.array([run(s) for s in seeds])})
    with scott_bandwidth():
        rows.append({"sampler": "sweeps.tpe(), Scott-like bandwidth",
                     "regrets": np.array([t.best_regret(sweeps.tpe(), s) for s in seeds])})
    if optuna is not None:
        dists = {k: optuna_distribution(d.kind, d.args) for k, d in t.QUALITY.items()}
        ref = []
        for s in seeds:
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, seed=s))
            for _ in range(t.TRIALS):
                trial = study.ask(dists)
                study.tell(trial, float(t.regret(**trial.params)))
            ref.append(study.best_value)
        rows.append({"sampler": "Optuna 5.0 TPESampler(multivariate=True)", "regrets": np.array(ref)})
    base = rows[1]["regrets"]
    for r in rows:
        g = r.pop("regrets")
        r.update({"mean best regret": float(g.mean()), "median": float(np.median(g)),
                  "seeds where sweeps.tpe() is better": int((base < g).sum())})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 observations, best of 2")
    ap.add_argument("--quality", action="store_true", help="the quality table instead of the speed table")
    ap.add_argument("--no-optuna", action="store_true", help="without the Optuna rows")
    ap.add_argument("--seeds", default="0:10", help="--quality's seeds, start:stop (the test's: 0:10)")
    args = ap.parse_args()
    optuna = None
    if not args.no_optuna:
        try:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            warnings.filterwarnings("ignore", module="optuna")
        except ImportError:
            print("optuna not installed: pip install 'jaxnn[bench]' (the rows without Optuna follow)")
    print(machine(), "|", numpy_threads_note(), "| optuna", getattr(optuna, "__version__", "-"))
    if args.quality:
        seeds = range(*map(int, args.seeds.split(":")))
        print(f"{len(seeds)} seeds, {seeds.start}..{seeds.stop - 1}")
        cols = ["sampler", "mean best regret", "median", "seeds where sweeps.tpe() is better"]
        print(table(quality(optuna, seeds), cols))
    else:
        rows = speed(args.quick, optuna)
        print(table(rows, ["d", "observations", "sweeps.tpe: 27 (ms)", "no liar (ms)", "Optuna TPE: 27 asks (ms)",
                           "Optuna / sweeps.tpe"]))


if __name__ == "__main__":
    main()
