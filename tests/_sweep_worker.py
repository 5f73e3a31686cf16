"""Subprocess worker for tests/test_sweep.py: runs one small sweep and saves its result.

  python tests/_sweep_worker.py OUT [--out-dir DIR] [--chunk-size K[,K...]] [--sleep S] [--space grid|random[,...]]
                                    [--coordinator HOST:PORT --num-processes N --process-id I]

Several spaces (comma-separated) run one after the other in this process, each with its chunk size (one
``--chunk-size`` for all, or one per space, ``none`` for the default); OUT then names each result with
``{space}`` (``dir/r-{space}``).

The device count comes from XLA_FLAGS (set by the test before this process imports jax).
``--sleep`` waits S seconds after each finished chunk (so a test can kill the run mid-way).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GRID = {"scale": [0.1, 0.5, 1.0], "lr": [0.5, 2.0]}
SEEDS = 2
STEPS = 200


def make_fn(steps=STEPS):
    """XOR with the lecture's 2-3-1 sigmoid network; returns final loss, curve and divergence."""
    import jax.numpy as jnp

    import jaxnn

    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])

    def run(key, scale, lr):
        params = jaxnn.init_mlp(key, [2, 3, 1], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=steps)
        return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"],
                "W1": params[0]["W"]}

    return run


def make_space():
    """A random space with a static axis (two compiled groups), for the --space random test."""
    from jaxnn import sweeps

    return sweeps.random(10, scale=sweeps.loguniform(0.1, 1.0), lr=sweeps.loguniform(0.5, 2.0),
                         hidden=sweeps.static([2, 3]))


def make_static_fn(steps=STEPS):
    """make_fn's network with its hidden width as a static hyperparameter."""
    import jax.numpy as jnp

    import jaxnn

    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])

    def run(key, scale, lr, hidden):
        params = jaxnn.init_mlp(key, [2, hidden, 1], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=steps)
        return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"]}

    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--out-dir", default=None)
    p.add_argument("--chunk-size", default=None)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--coordinator", default=None)
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--space", default="grid")
    a = p.parse_args()
    spaces = a.space.split(",")
    if any(s not in ("grid", "random") for s in spaces):
        p.error(f"--space: expected grid or random (comma-separated), got {a.space!r}")
    chunks = [None if c in ("", "none") else int(c) for c in (a.chunk_size or "none").split(",")]
    chunks = chunks * len(spaces) if len(chunks) == 1 else chunks

    from jaxnn.sweeps import init_distributed, sweep

    init_distributed(a.coordinator, a.num_processes, a.process_id)  # before any other JAX work
    import jax

    def progress(done, total):
        print(f"chunk {done}/{total}", flush=True)
        time.sleep(a.sleep)

    for name, chunk_size in zip(spaces, chunks, strict=True):
        fn, space = (make_fn(), GRID) if name == "grid" else (make_static_fn(), make_space())
        res = sweep(fn, space, key=jax.random.key(0), seeds=SEEDS, chunk_size=chunk_size,
                    out_dir=a.out_dir, progress=progress if a.sleep else False)
        if jax.process_index() == 0:
            res.save(a.out.format(space=name))
        print("done", jax.process_index(), res.meta["devices"], res.meta["processes"], flush=True)


if __name__ == "__main__":
    main()
