"""Subprocess worker for tests/test_optuna_bridge.py: one host loop of an Optuna-backed search on a shared study.

  python tests/_optuna_worker.py JOURNAL STUDY_NAME OUT.json WORKER_ID [--batches 3] [--batch 4]

Each batch: ``propose`` 4 points (jaxnn.sweeps.samplers.optuna on a JournalFileBackend study), evaluate a cheap
NumPy objective, append the observations to the History; then ``finish``.  Writes ``{"numbers": [Optuna trial
numbers this process evaluated], "values": {number: value}}``.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def space():
    from jaxnn import sweeps
    from jaxnn.sweeps.samplers.base import param_space

    return param_space({"x": sweeps.uniform(-2.0, 2.0), "lr": sweeps.loguniform(1e-3, 1.0),
                        "k": sweeps.integers(0, 4), "act": sweeps.static(["tanh", "relu"]), "lam": 1e-4})


def objective(values) -> np.ndarray:
    """(n,) a cheap deterministic loss of each point's hyperparameters (minimum at x=0.5, lr=0.1, k=1, tanh)."""
    return ((values["x"] - 0.5) ** 2 + 0.1 * np.log10(values["lr"] / 0.1) ** 2 + np.abs(values["k"] - 1)
            + (values["act"] == "relu"))


def observed(history, u, loss, state):
    """``history`` with the points ``u`` (n, d) appended, each observed once at budget 1 with ``loss``."""
    from jaxnn.sweeps.samplers.base import History

    return History(np.concatenate([history.u, u]), history.budgets,
                   np.concatenate([history.loss, loss[:, None]]),
                   np.concatenate([history.state, np.full(len(u), state, np.int8)]),
                   history.curves + [[(1, float(v))] for v in loss], history.mode, history.metric)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("journal")
    p.add_argument("study_name")
    p.add_argument("out")
    p.add_argument("worker", type=int)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--batch", type=int, default=4)
    a = p.parse_args(argv)

    import optuna
    from optuna.storages.journal import JournalFileBackend

    from jaxnn.sweeps.samplers.base import COMPLETE, empty_history
    from jaxnn.sweeps.samplers.optuna import optuna_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sp = space()
    storage = optuna.storages.JournalStorage(JournalFileBackend(a.journal))
    sampler = optuna_sampler(optuna.samplers.TPESampler(seed=a.worker, n_startup_trials=6), storage=storage,
                             study_name=a.study_name)
    history = empty_history(sp.d, (1,), "min", "loss")
    for b in range(a.batches):
        u = sampler.propose(a.batch, sp, history, (a.worker, b))
        history = observed(history, u, objective(sp.values(u)), COMPLETE)
    sampler.finish(sp, history)
    numbers = sampler.trial_numbers
    with open(a.out, "w") as f:
        json.dump({"numbers": numbers, "values": {str(n): float(v) for n, v in zip(numbers, history.loss[:, 0])}}, f)


if __name__ == "__main__":
    main()
