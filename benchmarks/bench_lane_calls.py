"""Where an adaptive search's time goes, call by call, and the two facts behind the lane pool's limits.

On the adaptive benchmark's problem and network (``benchmarks/bench_adaptive.py``: digits 600/600, 64-64-10
tanh/softmax, adam, 243 candidates, budgets 9..243, eta 3), one JAX device per core:

* ``--calls``: successive halving and ASHA + TPE timed call by call (the lane pool's ``advance`` wrapped with
  a timer; seeds 1.. after a compiling seed 0): the search's setup (its wall time less ``meta["run_s"]``: the
  checks, tracing and lane sizing before the first call), how many calls of each kind (those that also start
  new trials, and the others), their seconds and lane-steps per second by segment length, ASHA's host time
  proposing;
  then the fixed cost of one call (a zero-segment ``advance`` of the last search's lanes with no lane evaluated,
  and with every lane evaluated), and one segment, best of 20 each.
* ``--blocks``: one lane's numbers computed in a vmap of 1, 2 and 4 lanes against 8 (init, 27 adam steps,
  evaluate): why no block of the lane pool is narrower than ``sweeps.lanes.MIN_BLOCK`` lanes.
* ``--widths``: ASHA + TPE with 10 lanes (successive halving's width, fitted to its rung waves) and with its
  default (the working set's width); BOHB with 12 lanes (its default until a8735c9, fitted the same way) and
  with its default (the largest bracket's trials); interleaved seed by seed (seeds 1-5, twice, after a
  compiling seed 0): wall time, calls, lane utilization, best val accuracy, proposing time.
* ``--times``: successive halving, ASHA + TPE and BOHB timed whole (seeds 1.. after a compiling seed 0), nothing
  wrapped, so that this file compares two checkouts of jaxnn: copy it into the older one (it imports the jaxnn
  of the checkout it sits in) and alternate the runs, e.g. ``for r in 1 2 3 4; do for d in ../old .; do (cd $d
  && python benchmarks/bench_lane_calls.py --times --seeds 3); done; done``.
* ``--eqx``: the bare JAX loop (``bench_adaptive.bare_rate``) of eqx.nn.MLP, of two hand-composed
  ``eqx.nn.Linear`` layers and of ``jaxnn.objective``, alternated, lane-steps per second.

    python benchmarks/bench_lane_calls.py            # all four (--calls --blocks --widths --eqx)
    python benchmarks/bench_lane_calls.py --times --seeds 3   # three searches timed whole
    python benchmarks/bench_lane_calls.py --quick    # --calls with one timed seed, --blocks
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

if __name__ == "__main__":
    one_device_per_core(sys.argv)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxnn  # noqa: E402
from benchmarks import bench_adaptive as B  # noqa: E402
from benchmarks.common import machine  # noqa: E402
from jaxnn import sweeps  # noqa: E402
from jaxnn.sweeps import lanes  # noqa: E402


def setup():
    P = B.problem()
    (Xtr, Ytr, _), (Xva, Yva, _) = P["train"], P["val"]
    data = {"X": jnp.asarray(Xtr), "Y": jnp.asarray(Ytr), "X_val": jnp.asarray(Xva), "Y_val": jnp.asarray(Yva)}
    return jaxnn.trainable(B.SIZES, **B.STRUCT), data


def timed_calls(log, seen):
    """Wrap the pool's advance: each call appends (kind, busy lanes, steps, seconds) to ``log``, the kind
    "advance + start" for a call that starts new trials (their init and step-0 evaluation) besides."""
    advance = lanes.Pool.advance

    def timed_advance(self, src, dst, hp, w=None, segments=1, kd=None, new=None, look=None):
        seen["call"] = (self, list(src), list(dst), {k: np.asarray(v) for k, v in hp.items()})
        t = time.perf_counter()
        out = advance(self, src, dst, hp, w, segments, kd, new, look)
        kind = "advance" if new is None else "advance + start"
        log.append((kind, len(src), segments * self.segment, time.perf_counter() - t))
        return out

    lanes.Pool.advance = timed_advance
    return advance


def search(kind, mlp, data, seed, lanes=None):
    kw = dict(key=jax.random.key(seed), data=data, metric="val_accuracy", min_steps=9, max_steps=243, eta=3,
              progress=False, lanes=lanes)
    if kind == "successive_halving":
        return sweeps.successive_halving(mlp, B.space(243), **kw)
    if kind == "bohb":
        return sweeps.bohb(mlp, B.dists(), **kw)
    return sweeps.asha(mlp, B.dists(), trials=243, sampler=sweeps.tpe(), **kw)


def calls(mlp, data, seeds):
    log, seen = [], {}
    advance = timed_calls(log, seen)
    for kind in ("successive_halving", "asha + tpe"):
        search(kind, mlp, data, 0)  # compiles
        for seed in range(1, seeds + 1):
            log.clear()
            t = time.perf_counter()
            res = search(kind, mlp, data, seed)
            wall = time.perf_counter() - t
            by = collections.defaultdict(lambda: [0, 0, 0.0])
            for name, n, steps, s in log:
                row = by[(name, steps)]
                row[0], row[1], row[2] = row[0] + 1, row[1] + n * steps, row[2] + s
            print(f"\n{kind}, seed {seed}: {wall:.2f} s (setup {wall - res.meta['run_s']:.3f} s), "
                  f"{res.meta['lanes']} lanes, propose_s {res.meta.get('propose_s', 0.0):.3f}, calls "
                  f"{sum(r[0] for r in by.values())} ({sum(r[2] for r in by.values()):.2f} s)")
            for (name, steps), (c, ls, s) in sorted(by.items()):
                rate = f", {ls / s:,.0f} busy lane-steps/s" if ls else ""
                print(f"  {name:15s} {steps:4d} steps: {c:3d} calls, {s:.3f} s ({1e3 * s / c:.1f} ms each){rate}")
    pool, src, dst, hp = seen["call"]  # the last search's last call
    print()
    n = len(src)
    for segments, look, what in ((0, np.zeros(n, bool), "none evaluated"), (0, None, "every lane evaluated"),
                                 (1, None, "every lane evaluated")):
        best = float("inf")
        for _ in range(20):
            t = time.perf_counter()
            advance(pool, src, dst, hp, None, segments, look=look)
            best = min(best, time.perf_counter() - t)
        print(f"one call of all {pool.W} lanes ({n} busy), bank of {pool.B} slots, {segments} segment(s) of "
              f"{pool.segment} steps, {what}: {1e3 * best:.2f} ms (best of 20)")
    lanes.Pool.advance = advance  # later sections run untimed


WIDTHS = {  # search: {label: lanes} (None: the search's default)
    "asha + tpe": {"10 (successive halving's)": 10, "default": None},
    "bohb": {"12 (its default before a8735c9: fitted to rung waves)": 12, "default": None},
}


def widths(mlp, data, seeds=5, repeats=2):
    """ASHA + TPE and BOHB, each with the lane counts of ``WIDTHS`` interleaved seed by seed (seeds 1..seeds,
    ``repeats`` times, after compiling seed 0)."""
    for kind, counts in WIDTHS.items():
        for w in counts.values():  # compiles
            search(kind, mlp, data, 0, lanes=w)
        runs = {k: [] for k in counts}
        for _ in range(repeats):
            for seed in range(1, seeds + 1):
                for name, w in counts.items():
                    t = time.perf_counter()
                    res = search(kind, mlp, data, seed, lanes=w)
                    m = res.meta
                    runs[name].append((time.perf_counter() - t, m["lanes"], m["calls"], m["lane_utilization"],
                                       res.best()["val_accuracy"], m["propose_s"]))
        print(f"\n{kind} by lane count, seeds 1-{seeds} interleaved, {repeats} times (means):")
        for name, r in runs.items():
            a = np.array(r)
            print(f"  lanes {name}: {int(a[0, 1])} lanes, {a[:, 0].mean():.3f} s (fastest {a[:, 0].min():.3f}), "
                  f"{a[:, 2].mean():.1f} calls, utilization {a[:, 3].mean():.3f}, best val "
                  f"{a[:seeds, 4].mean():.4f}, propose_s {a[:, 5].mean():.3f}")


def blocks(mlp, data):
    n = 8
    values = B.space(n).resolve(jax.random.key(0)).values
    hp = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    keys = jax.random.split(jax.random.key(1), n)

    def run(k, h):
        s = mlp.advance(mlp.init(k, data, **h), data, 27, **h)
        return s.params, mlp.evaluate(s, data, **h)

    def in_blocks(b):
        f = jax.jit(jax.vmap(run))
        parts = [f(keys[i:i + b], {k: v[i:i + b] for k, v in hp.items()}) for i in range(0, n, b)]
        return [np.concatenate(x).astype(np.float64) for x in zip(*map(jax.tree_util.tree_leaves, parts))]

    ref = in_blocks(8)
    print()
    for b in (1, 2, 4):
        got = in_blocks(b)
        diff = max(float(np.max(np.abs(x - y))) for x, y in zip(got, ref))
        print(f"lanes computed in vmaps of {b} against 8 (init, 27 steps, evaluate): "
              f"{'bitwise equal' if diff == 0 else f'max abs difference {diff:.2g}'}")


def eqx_rates(data, repeats=2):
    import equinox as eqx
    import optax

    S = B.SIZES

    class Composed(eqx.Module):
        l1: eqx.nn.Linear
        l2: eqx.nn.Linear

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.l1, self.l2 = eqx.nn.Linear(S[0], S[1], key=k1), eqx.nn.Linear(S[1], S[2], key=k2)

        def __call__(self, x):
            return self.l2(jnp.tanh(self.l1(x)))

    def made(kind):
        def init(key, *, scale):
            m = eqx.nn.MLP(S[0], S[-1], S[1], len(S) - 2, activation=jnp.tanh, key=key) if kind == "mlp" \
                else Composed(key)
            return jax.tree.map(lambda w: scale * w if eqx.is_array(w) else w, m)

        def loss(m, batch, *, lam):
            ws = [layer.weight for layer in m.layers] if kind == "mlp" else [m.l1.weight, m.l2.weight]
            return (optax.softmax_cross_entropy(jax.vmap(m)(batch["X"]), batch["Y"]).mean()
                    + lam / 2 * sum(jnp.sum(w ** 2) for w in ws))
        return init, loss

    fns = {"eqx.nn.MLP": made("mlp"), "two eqx.nn.Linear, composed": made("composed"),
           "jaxnn.objective": B.from_functions("objective")[:2]}
    batch = {"X": data["X"], "Y": data["Y"]}
    rates = collections.defaultdict(list)
    for _ in range(repeats):
        for name, (init, loss) in fns.items():
            rates[name].append(B.bare_rate(init, loss, batch))
    print()
    for name, r in rates.items():
        print(f"bare loop, {name}: {', '.join(f'{x:,.0f}' for x in r)} lane-steps/s")


def times(mlp, data, seeds):
    """Successive halving, ASHA + TPE and BOHB, seeds 1..seeds after a compiling seed 0, wall time each (no wrapper:
    the same code times any commit of jaxnn; alternate two checkouts' runs to compare them)."""
    out = {"successive_halving": [], "asha + tpe": [], "bohb": []}
    for kind in out:
        search(kind, mlp, data, 0)
    for seed in range(1, seeds + 1):
        for kind in out:
            t = time.perf_counter()
            search(kind, mlp, data, seed)
            out[kind].append(time.perf_counter() - t)
    print("times: " + " | ".join(f"{kind} {' '.join(f'{x:.3f}' for x in v)} s" for kind, v in out.items()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", action="store_true")
    p.add_argument("--blocks", action="store_true")
    p.add_argument("--widths", action="store_true")
    p.add_argument("--eqx", action="store_true")
    p.add_argument("--times", action="store_true")
    p.add_argument("--seeds", type=int, default=2, help="--calls, --times: timed seeds after the compiling one")
    p.add_argument("--quick", action="store_true", help="a smoke test: --calls with one timed seed, --blocks")
    p.add_argument("--cpu-devices", type=int, default=os.cpu_count())
    a = p.parse_args(argv)
    if a.quick:
        a.calls, a.blocks, a.seeds = True, True, 1
    if not (a.calls or a.blocks or a.widths or a.eqx or a.times):  # no section named: all but --times
        a.calls = a.blocks = a.widths = a.eqx = True
    print(machine())
    mlp, data = setup()
    if a.times:
        times(mlp, data, a.seeds)
    if a.calls:
        calls(mlp, data, a.seeds)
    if a.blocks:
        blocks(mlp, data)
    if a.widths:
        widths(mlp, data)
    if a.eqx:
        eqx_rates(data)


if __name__ == "__main__":
    main()
