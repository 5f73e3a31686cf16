"""Subprocess worker for tests/test_adaptive.py: runs one small adaptive search and writes a JSON summary.

  python tests/_adaptive_worker.py OUT.json --scheduler sh|hb|pbt|run|asha|bohb[,...] [--out-dir DIR]
                                   [--kill-after N] [--lanes L] [--narrow-saves S]
                                   [--coordinator HOST:PORT --num-processes N --process-id I]

Several schedulers (comma-separated) run one after the other in one process; OUT then names each file with
``{name}`` (``dir/{name}.json``).

The device count comes from XLA_FLAGS (set by the test before this process imports jax).  ``--kill-after N``
sends SIGKILL to this process inside its N-th live segment call (checkpoints are written after every segment).
"""

import argparse
import functools
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def problem():
    """A small digits problem: a 64-16-10 tanh/softmax trainable (adam), its data and a random space."""
    import numpy as np

    import jaxnn
    from jaxnn import sweeps
    from jaxnn.datasets import require

    X, y = require("sklearn.datasets").load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[y]
    data = {"X": X[:200], "Y": Y[:200], "X_val": X[200:400], "Y_val": Y[200:400]}
    mlp = jaxnn.trainable([64, 16, 10], activation="tanh", output_activation="softmax", loss="cross_entropy",
                          optimizer="adam")
    space = sweeps.random(27, scale=sweeps.loguniform(1e-2, 1.0), lr=sweeps.loguniform(1e-3, 3.0),
                          lam=sweeps.loguniform(1e-6, 1e-2))
    return mlp, space, data


SCHEDULERS = {
    "sh": ("successive_halving", dict(metric="val_accuracy", mode="max", min_steps=3, max_steps=27, eta=3)),
    "hb": ("hyperband", dict(metric="val_accuracy", mode="max", min_steps=3, max_steps=27, eta=3)),
    "pbt": ("pbt", dict(population=8, interval=4, steps=16, metric="val_accuracy", mode="max")),
    "run": ("run", dict(steps=40, segment=2, metric="val_loss", mode="min")),
    "asha": ("asha", dict(trials=27, metric="val_accuracy", mode="max", min_steps=3, max_steps=27, eta=3)),
    "bohb": ("bohb", dict(iterations=1, metric="val_accuracy", mode="max", min_steps=3, max_steps=27, eta=3)),
}
MODEL_BASED = ("asha", "bohb")  # searched over distributions with a TPE sampler


def dists():
    from jaxnn import sweeps

    return dict(scale=sweeps.loguniform(1e-2, 1.0), lr=sweeps.loguniform(1e-3, 3.0),
                lam=sweeps.loguniform(1e-6, 1e-2))


def search(name, **kw):
    import jax

    from jaxnn import sweeps

    mlp, space, data = problem()
    fn, args = SCHEDULERS[name]
    args = dict(args)
    if name == "run":
        args["early_stopping"] = sweeps.patience("val_loss", 2)
    if name in MODEL_BASED:
        space = dists()
        args["sampler"] = sweeps.tpe(n_startup_trials=5)
    return getattr(sweeps, fn)(mlp, space, key=jax.random.key(0), data=data, progress=False, **args, **kw)


def summary(res) -> dict:
    """What the tests compare: every evaluation of every trial, the rungs, the lineage, the best trial
    (JSON-ready: the same in this process as read back from a worker's file)."""
    best = res.best()
    out = {"curves": res.curves, "rungs": res.rungs, "lineage": res.lineage, "status": res.status.tolist(),
           "best": {k: v for k, v in best.items() if k != "key"},
           "meta": {k: res.meta[k] for k in ("lanes", "devices", "processes", "widths")}}
    return json.loads(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--scheduler", required=True)
    ap.add_argument("--out-dir")
    ap.add_argument("--kill-after", type=int)
    ap.add_argument("--lanes", type=int)
    ap.add_argument("--coordinator")
    ap.add_argument("--num-processes", type=int)
    ap.add_argument("--process-id", type=int)
    ap.add_argument("--narrow-saves", type=int, help="sweeps.lanes.NARROW_SAVES (0: every partial call narrows)")
    a = ap.parse_args()
    from jaxnn.sweeps import lanes

    if a.narrow_saves is not None:
        lanes.NARROW_SAVES = a.narrow_saves
    if a.kill_after is not None:
        calls = {"n": 0}
        advance = lanes.Pool.advance

        def killing(self, *args):
            calls["n"] += 1
            if calls["n"] >= a.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return advance(self, *args)

        lanes.Pool.advance = killing
    kw = {"lanes": a.lanes}
    if a.out_dir:
        kw.update(out_dir=a.out_dir, checkpoint_s=0.0)
    if a.coordinator:  # joined first, before the key (a JAX computation) is made, as a user script does
        import jaxnn

        jaxnn.init_distributed(a.coordinator, a.num_processes, a.process_id)
        kw.update(coordinator_address=a.coordinator, num_processes=a.num_processes, process_id=a.process_id)
    for name in a.scheduler.split(","):  # several: one after the other in this process (one start, one join)
        res = search(name, **kw)
        with open(a.out.format(name=name), "w") as f:
            json.dump(summary(res), f)


if __name__ == "__main__":
    main()
