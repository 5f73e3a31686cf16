"""Adaptive searches: jaxnn.trainable's segments, successive halving and Hyperband against host-side
references, early stopping with lane refill, PBT's exploit, bad input, and (subprocesses) SIGKILL + resume,
4 devices and 2 processes."""

import functools
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import xla_flags

import jaxnn
from jaxnn import sweeps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "_adaptive_worker.py")
_spec = importlib.util.spec_from_file_location("_adaptive_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


@pytest.fixture(scope="module")
def prob():
    return worker.problem()


def reference_curves(mlp, space, data, key, budgets):
    """Every trial trained alone (jit, no vmap, no lanes) and evaluated at each budget: {steps: [metrics]}."""
    design = space.resolve(key)
    out = {b: [] for b in budgets}
    adv = jax.jit(mlp.advance, static_argnums=2)
    ev = jax.jit(mlp.evaluate)
    for i in range(design.n):
        hp = {k: jnp.asarray(v[i], jnp.float32) for k, v in design.values.items()}
        s = jax.jit(mlp.init)(jax.random.fold_in(key, i), data, **hp)
        done = 0
        for b in budgets:
            s = adv(s, data, b - done, **hp)
            done = b
            out[b].append({k: float(v) for k, v in ev(s, data, **hp).items()})
    return out


def host_halving(curves, trials, budgets, keep_counts, metric, mode):
    """The successive-halving rule on the host: [(steps, survivors before the cut)]."""
    alive, rungs = list(trials), []
    for k, b in enumerate(budgets):
        rungs.append((b, list(alive)))
        if k + 1 < len(budgets):
            def order(i, c=curves[b]):
                v = c[i][metric]
                bad = not np.isfinite(v) or c[i]["invalid"] or c[i]["diverged_at"] >= 0
                return (bad, -v if mode == "max" else v, i)
            alive = sorted(sorted(alive, key=order)[:keep_counts[k + 1]])
    return rungs


# --- the trainable -------------------------------------------------------------------------------------------

def test_trainable_segments_equal_one_call_and_train(prob):
    mlp, _, data = prob
    hp = dict(lr=0.05, scale=0.3, lam=1e-4)
    k = jax.random.key(4)
    s = mlp.init(k, data, **hp)
    adv = jax.jit(mlp.advance, static_argnums=2)
    one = adv(s, data, 24, **hp)
    seg = adv(adv(s, data, 12, **hp), data, 12, **hp)
    np.testing.assert_allclose(mlp.evaluate(one, data, **hp)["val_loss"], mlp.evaluate(seg, data, **hp)["val_loss"],
                               rtol=1e-6)
    assert int(seg.guard.t) == 24
    p0 = jaxnn.init_mlp(jax.random.split(k)[0], [64, 16, 10], 0.3)
    p, h = jaxnn.train(p0, data["X"], data["Y"], lr=0.05, lam=1e-4, steps=24, activation="tanh",
                       output_activation="softmax", loss="cross_entropy", optimizer="adam")
    for a, b in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(seg.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mlp.evaluate(seg, data, **hp)["loss"], h["loss"][-1], rtol=1e-5)


def test_trainable_flags_invalid_and_checks_names(prob):
    mlp, _, data = prob
    m = mlp.evaluate(mlp.init(jax.random.key(0), data, lr=-1.0), data)
    assert bool(m["invalid"]) and np.isnan(m["val_loss"]) and int(m["diverged_at"]) == -1
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['momentum'\]"):
        mlp.init(jax.random.key(0), data, momentum=0.9)
    with pytest.raises(ValueError, match="data: expected a dict with 'X'"):
        mlp.init(jax.random.key(0), {"X": data["X"]})
    with pytest.raises(ValueError, match="sizes"):
        jaxnn.trainable([64])


# --- successive halving and Hyperband against the host rule --------------------------------------------------

SH = dict(metric="val_accuracy", mode="max", min_steps=3, max_steps=27, eta=3, progress=False)


@pytest.fixture(scope="module")
def sh4(prob):
    mlp, space, data = prob
    return sweeps.successive_halving(mlp, space, key=jax.random.key(0), data=data, lanes=4, **SH)


def test_successive_halving_matches_host_reference(prob, sh4):
    mlp, space, data = prob
    key = jax.random.key(0)
    res = sh4
    ref = reference_curves(mlp, space, data, key, [3, 9, 27])
    want = host_halving(ref, range(27), [3, 9, 27], [27, 9, 3], "val_accuracy", "max")
    assert [(r["steps"], r["trials"]) for r in res.rungs] == want
    for r in res.rungs:
        np.testing.assert_allclose(r["metric"], [ref[r["steps"]][i]["val_accuracy"] for i in r["trials"]],
                                   atol=1e-6)
        for i in r["trials"]:  # a survivor continued from its state: its curve equals training it once
            got = dict(res.curves[i])[r["steps"]]
            np.testing.assert_allclose(got["val_loss"], ref[r["steps"]][i]["val_loss"], rtol=2e-5)
    best = res.best()
    assert best["trial"] in res.rungs[-1]["trials"] and best["steps"] == 27
    assert best["val_accuracy"] == max(res.rungs[-1]["metric"])
    assert np.isclose(best["lr"], space.resolve(key).values["lr"][best["trial"]])
    m = res.meta
    assert m["lane_steps_useful"] == 27 * 3 + 9 * 6 + 3 * 18 and 0 < m["lane_utilization"] <= 1
    assert m["lane_steps_paid"] >= m["lane_steps_useful"] and m["lanes"] == 4


def test_hyperband_brackets_as_in_the_paper():
    # Li et al. (JMLR 2018), Table 1: R = 81, eta = 3
    assert sweeps.hyperband_brackets(1, 81, 3) == [(81, 1), (34, 3), (15, 9), (8, 27), (5, 81)]
    assert sweeps.hyperband_brackets(9, 243, 3) == [(27, 9), (12, 27), (6, 81), (4, 243)]


def test_hyperband_matches_host_reference(prob):
    mlp, space, data = prob
    key = jax.random.key(1)
    big = sweeps.random(35, **{k: d for k, d in space.params})
    res = sweeps.hyperband(mlp, big, key=key, data=data, metric="val_loss", mode="min", min_steps=3, max_steps=27,
                           eta=3, lanes=6, progress=False)
    brackets = sweeps.hyperband_brackets(3, 27, 3)
    assert brackets == [(9, 3), (5, 9), (3, 27)]
    assert res.meta["iterations"] == 2 and res.meta["n_trials_used"] == 34  # the 35th trial is not used
    assert not res.curves[34]
    ref = reference_curves(mlp, big, data, key, [3, 9, 27])
    a = 0
    for b, (n, r) in enumerate(brackets * 2):
        budgets = [s for s in (3, 9, 27) if s >= r]
        keep = [n // 3 ** k for k in range(len(budgets))]
        want = host_halving(ref, range(a, a + n), budgets, keep, "val_loss", "min")
        got = [(x["steps"], x["trials"]) for x in res.rungs if x["bracket"] == b]
        assert got == want
        a += n
    assert res.best()["steps"] == 27
    assert res.best()["trial"] in {i for x in res.rungs if x["steps"] == 27 for i in x["trials"]}
    for i in range(34):  # each trial evaluated at its start and at every budget it passed, whatever its bracket
        steps = [s for s, _ in res.curves[i]]
        assert steps == [0, 3, 9, 27][:len(steps)], (i, steps)
    with pytest.raises(ValueError, match="needs 17 trials per iteration .* 51 for 3; the space has 35"):
        sweeps.hyperband(mlp, big, key=key, data=data, metric="val_loss", min_steps=3, max_steps=27, iterations=3)


def test_results_do_not_depend_on_lanes(prob, sh4):
    mlp, space, data = prob
    a = sh4
    b = sweeps.successive_halving(mlp, space, key=jax.random.key(0), data=data, lanes=7, **SH)
    assert [r["trials"] for r in a.rungs] == [r["trials"] for r in b.rungs]
    for ra, rb in zip(a.rungs, b.rungs):
        np.testing.assert_allclose(ra["metric"], rb["metric"], atol=1e-6)


def test_wide_lanes_in_cache_blocks_give_the_same_results(prob, sh4, monkeypatch):
    mlp, space, data = prob
    monkeypatch.setattr(sweeps.chunking, "CPU_CHUNK_BYTES", 1)  # blocks of MIN_BLOCK lanes: 28 = 6 x 4 + a tail of 4
    b = sweeps.successive_halving(mlp, space, key=jax.random.key(0), data=data, lanes=28, **SH)
    assert [r["trials"] for r in sh4.rungs] == [r["trials"] for r in b.rungs]
    for ra, rb in zip(sh4.rungs, b.rungs):
        np.testing.assert_allclose(ra["metric"], rb["metric"], atol=1e-6)


@pytest.mark.parametrize("n,block", [(9, None), (9, 4), (10, 4), (11, 4), (12, 4), (13, 5), (3, 8)])
def test_blocked_is_vmap(n, block):
    f = lambda x, y: {"s": jnp.sum(x) * y, "v": x * y}  # noqa: E731
    xs = (jnp.arange(n * 3.0).reshape(n, 3), jnp.arange(1.0, n + 1))
    got = jax.jit(lambda *a: sweeps.lanes.blocked(f, a, block))(*xs)
    want = jax.vmap(f)(*xs)
    assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("active", [0, 1, 4, 5, 8])
def test_first_blocks_computes_only_the_busy_blocks(active):
    f = lambda x: x * 2.0 + 1.0  # noqa: E731
    xs = (jnp.arange(1.0, 13.0),)
    got = np.asarray(jax.jit(lambda a, k: sweeps.lanes.first_blocks(f, (a,), k, 4))(*xs, active))
    m = -(-active // 4) * 4  # whole blocks of 4: the rest are zeros
    np.testing.assert_array_equal(got[:m], 2.0 * np.arange(1.0, m + 1) + 1.0)
    assert not got[m:].any()


@pytest.mark.parametrize("flags", [[True, False, True, False], [False] * 4, [True] * 4])
def test_flagged_rows_computes_the_flagged_rows_only(flags):
    xs = (jnp.arange(4.0), jnp.arange(8.0).reshape(4, 2))
    f = lambda a, b: {"s": a + b.sum(), "v": b * 2.0}  # noqa: E731
    other = lambda a, b: {"s": -a, "v": jnp.zeros(2)}  # noqa: E731
    got = jax.jit(lambda fl, *x: sweeps.lanes.flagged_rows(fl, f, other, x))(jnp.array(flags), *xs)
    for i, flag in enumerate(flags):
        want = (f if flag else other)(xs[0][i], xs[1][i])
        assert np.array_equal(got["s"][i], want["s"]) and np.array_equal(got["v"][i], want["v"]), i


def test_replicated_moves_a_state_one_buffer_per_dtype_unchanged():
    """The lanes' new states reach every device's bank by one collective per dtype: the values, dtypes and
    shapes of every leaf come back as they were."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P
    mesh = Mesh(np.array(jax.devices()), ("runs",))
    n = len(jax.devices()) * 2
    tree = {"W": jnp.arange(n * 12.0).reshape(n, 3, 4), "b": -jnp.arange(n * 3.0).reshape(n, 3),
            "t": jnp.arange(n, dtype=jnp.int32), "ok": jnp.arange(n) % 2 == 0,
            "key": jnp.arange(n * 2, dtype=jnp.uint32).reshape(n, 2)}
    lanes = jax.device_put(tree, NamedSharding(mesh, P("runs")))
    got = jax.jit(lambda t: sweeps.lanes.replicated(t, NamedSharding(mesh, P())))(lanes)
    for k, x in tree.items():
        assert got[k].dtype == x.dtype and got[k].shape == x.shape and np.array_equal(got[k], x), k
        assert got[k].sharding.is_fully_replicated



def test_packed_metrics_come_back_by_their_columns():
    """A call's metrics (after the segments and at the start) leave in one array per dtype; each is read back,
    value and dtype, from the column ``metric_columns`` gives it."""
    names = ("loss", "step", "ok", "acc")
    dtypes = (jnp.float32, jnp.int32, jnp.bool_, jnp.float32)
    cols = sweeps.lanes.metric_columns(names, dtypes)
    rng = np.random.default_rng(0)
    outs = [{n: jnp.asarray(rng.normal(size=5) * 10).astype(d) for n, d in zip(names, dtypes)} for _ in (0, 1)]
    arrays = jax.jit(lambda o: sweeps.lanes.packed(o, cols))(outs)
    assert [a.dtype for a in arrays] == [jnp.float32, jnp.int32, jnp.bool_] and arrays[0].shape == (5, 4)
    for (which, name), (g, c) in cols.items():
        got = np.asarray(arrays[g])[:, c]
        assert got.dtype == outs[which][name].dtype and np.array_equal(got, outs[which][name]), (which, name)

def test_fitted_width_keeps_a_whole_block_per_device():
    """The default width of an adaptive search pays the fewest lane-steps for its schedule among widths of at
    least a block of MIN_BLOCK lanes per device on a CPU: successive halving's 243 / 81 / 27 / 9 trials on two
    devices get 10 lanes for any cache-fitted width from 10 to 32 (6 lanes, 3 per device, pay fewer lane-steps
    but run narrower, slower vmaps in more calls); on a GPU no block bounds it."""
    from jaxnn.sweeps.schedulers.common import _fitted_width
    from jaxnn.sweeps.schedulers.halving import rung_plan, work_of
    work = work_of(rung_plan(243, 9, 3, 243))
    b = sweeps.lanes.MIN_BLOCK
    for w_max in range(10, 34, 2):
        assert _fitted_width(w_max, 2, work, "cpu") == 10
    assert _fitted_width(20, 2, work, "gpu") == 18 and _fitted_width(16, 2, work, "gpu") == 6
    assert _fitted_width(6, 2, work, "cpu") == 6  # a cache-fitted width below two blocks stays what it is
    for n_dev in (1, 2, 4):
        for w_max in range(n_dev * b, 64, n_dev):
            w = _fitted_width(w_max, n_dev, work, "cpu")
            assert w % n_dev == 0 and n_dev * b <= w <= w_max


def test_busy_lanes_fill_blocks_dealt_to_the_devices():
    """A call of n busy lanes computes ceil(n / b) blocks of b lanes (only the last one partial), dealt to the
    devices in turn, where dealing the lanes one by one left a partial block on every device; each device's
    busy lanes come first (the part program computes its first blocks), and the fullest device computes as
    many blocks as before, so no call takes longer."""
    lanes = sweeps.lanes
    assert lanes.busy_per_device(10, 2, 4).tolist() == [6, 4]  # blocks 0 and 2 on device 0, block 1 on device 1
    assert lanes.busy_per_device(9, 4, 4).tolist() == [4, 4, 1, 0]
    assert lanes.busy_per_device(0, 2, 4).tolist() == [0, 0]
    assert lanes.busy_per_device(5, 2).tolist() == [3, 2]  # b 1: single lanes dealt in turn
    assert lanes.blocks_paid(10, 32, 2, 4) == 12  # lanes dealt 5 / 5 computed 8 + 8
    assert lanes.blocks_paid(28, 32, 2, 4) == 28  # device 0 computes its 4 blocks, device 1 three
    assert lanes.blocks_paid(29, 32, 2, 4) == 32
    assert lanes.blocks_paid(5, 10, 2, 4) == 8 and lanes.blocks_paid(9, 10, 2, 4) == 10  # 5 lanes: one whole block
    for n_dev, L, b in ((2, 16, 4), (4, 8, 4), (3, 5, 4), (4, 2, 2)):
        pool = types.SimpleNamespace(W=n_dev * L, L=L, n_dev=n_dev, b=b)
        for n in range(n_dev * L + 1):
            per = lanes.busy_per_device(n, n_dev, b)
            blocks = -(-per // b)
            assert per.sum() == n and blocks.max() - blocks.min() <= 1 and blocks.sum() == -(-n // b)
            for w in (n_dev * L, lanes.blocks_paid(n, n_dev * L, n_dev, b)):
                pos = lanes.Pool._layout(pool, n, w)
                assert len(set(pos.tolist())) == n and (pos < n_dev * L).all()
                if w < n_dev * L:  # the part program: device d's busy lanes are its first per[d] lanes
                    for d in range(n_dev):
                        mine = np.sort(pos[pos // L == d]) - d * L
                        np.testing.assert_array_equal(mine, np.arange(per[d]))


def test_diverged_and_invalid_rank_last():
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    Y = np.tanh(X @ np.ones((3, 2), np.float32))
    data = {"X": X, "Y": Y, "X_val": X, "Y_val": Y}
    mlp = jaxnn.trainable([3, 8, 2], activation="relu", output_activation="identity")
    space = sweeps.table(lr=[0.1, 1e3, -1.0, 0.05, 0.2, 0.01, 0.3, 0.02, 1e5], scale=[0.3] * 9)
    res = sweeps.successive_halving(mlp, space, key=jax.random.key(0), data=data, metric="val_loss", mode="min",
                                    min_steps=2, max_steps=18, eta=3, progress=False)
    assert res.status[2] == sweeps.status.INVALID and res.status[1] == sweeps.status.DIVERGED
    assert res.status[8] == sweeps.status.DIVERGED
    assert not {1, 2, 8} & set(res.rungs[1]["trials"])
    assert res.meta["n_invalid"] == 1 and res.meta["n_diverged"] == 2
    assert res.curves[2] and len(res.curves[2]) == 1  # the invalid trial was stopped at its start
    assert np.isfinite(res.best()["val_loss"])


def _blowing_up():
    """A trainable of no compute: its loss is the hyperparameter ``q``, and it diverges once ``blow`` steps are
    trained (its step count is its state)."""
    def init(key, data, q, blow):
        return {"t": jnp.int32(0)}

    def advance(state, data, steps, q, blow):
        return {"t": state["t"] + steps}

    def evaluate(state, data, q, blow):
        t = state["t"]
        return {"loss": q + 0.0 * t, "diverged_at": jnp.where(t >= blow, t, -1)}
    return sweeps.Trainable(init, advance, evaluate, directions={"loss": "min"})


def test_best_is_an_ok_trial_while_one_exists():
    """Every top-rung trial diverged after its promotion: best() is the best ok trial of those that reached the
    most steps, never a diverged one (and res.state, which no ok final trial kept, is None); no ok trial at all:
    the ranked top of final, with a RuntimeWarning."""
    q = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    kw = dict(key=jax.random.key(0), data={"x": np.zeros(1, np.float32)}, metric="loss", min_steps=1, max_steps=9,
              eta=3, progress=False)
    sh = functools.partial(sweeps.successive_halving, _blowing_up(), **kw)
    res = sh(sweeps.table(q=q, blow=[5] * 3 + [100] * 6))  # rungs 1, 3, 9 steps: 0-8, 0-2, then 0 diverges
    assert res.final == [0] and res.status[0] == sweeps.status.DIVERGED and res.state is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = res.best()
    assert (b["trial"], b["steps"], b["loss"]) == (1, 3, pytest.approx(0.2))
    assert res.best(mode="max")["trial"] == 2  # the same candidates, ranked the other way
    res = sh(sweeps.table(q=q, blow=[2] * 9))  # 0-2 diverge at rung 1: the ok ones reached 1 step only
    assert res.best()["trial"] == 3 and res.best(mode="max")["trial"] == 8
    res = sh(sweeps.table(q=q, blow=[0] * 9))  # every trial diverged at its start
    with pytest.warns(RuntimeWarning, match="every trial diverged or was invalid"):
        assert res.best()["trial"] == 0
    res = sh(sweeps.table(q=q, blow=[100] * 9))  # an ok final trial: ranked as ever, its state kept
    assert res.best()["trial"] == 0 and int(res.state["t"]) == 9


def test_narrow_width_for_a_long_tail_and_best_state(prob, sh4):
    mlp, space, data = prob
    key = jax.random.key(0)
    ten = sweeps.random(10, **{k: d for k, d in space.params})
    res = sweeps.run(mlp, ten, key=key, data=data, steps=36, segment=1, metric="val_loss", lanes=9, progress=False)
    # 9 trials fill the lanes for 36 segments; the 10th then runs alone in one block of MIN_BLOCK lanes
    # (36 * (9 - 4) >= 32): the pool's third program, never a narrower width
    b = sweeps.lanes.MIN_BLOCK
    assert res.meta["lane_steps_paid"] == 9 * 36 + b * 36 and res.meta["lane_steps_useful"] == 10 * 36
    assert res.meta["widths"] == [b, 9]
    assert res.state is None  # run frees the lanes of finished trials
    assert sweeps.lanes.NARROW_SAVES == 32
    res = sh4
    assert res.meta["lane_steps_paid"] == 28 * 3 + 12 * 6 + 4 * 18  # tails too short to narrow: 4-lane waves
    assert res.meta["widths"] == [4]
    b = res.best()
    hp = {k: b[k] for k in res.trials}
    s = mlp.init(b["key"], data, **hp)
    s = jax.jit(mlp.advance, static_argnums=2)(s, data, 27, **hp)
    for x, y in zip(jax.tree_util.tree_leaves(s.params), jax.tree_util.tree_leaves(res.state.params)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    assert int(res.state.guard.t) == 27


def test_new_trials_start_inside_their_first_segment_call(prob):
    """No call of its own to start a trial: each segment call of successive halving starts the lanes' new trials
    (init from the trial's key, evaluated at step 0) and trains them; the step-0 metrics are each trial's alone."""
    mlp, space, data = prob
    key = jax.random.key(2)
    res = sweeps.successive_halving(mlp, space, key=key, data=data, metric="val_accuracy", mode="max",
                                    min_steps=3, max_steps=27, eta=3, lanes=4, progress=False)
    assert res.meta["calls"] == 7 + 3 + 1  # rung 0: 27 trials in 4 lanes, then 9 and 3 survivors: no start calls
    design, ev = space.resolve(key), jax.jit(mlp.evaluate)
    for i in (0, 13, 26):
        hp = {k: jnp.asarray(v[i], jnp.float32) for k, v in design.values.items()}
        want = ev(jax.jit(mlp.init)(jax.random.fold_in(key, i), data, **hp), data, **hp)
        steps, got = res.curves[i][0]
        assert steps == 0
        for k in ("val_loss", "val_accuracy"):
            np.testing.assert_allclose(got[k], float(want[k]), rtol=1e-5)


def test_progress_bar_and_figures(prob, tmp_path, capsys):
    mlp, space, data = prob
    res = sweeps.successive_halving(mlp, space, key=jax.random.key(0), data=data, metric="val_accuracy",
                                    mode="max", min_steps=3, max_steps=27, eta=3, lanes=4, progress=True)
    err = capsys.readouterr().err
    assert "successive_halving" in err and "lane-step" in err and "best val_accuracy" in err
    assert err.count("189/189") >= 1  # one bar over the whole budget, 27*3 + 9*6 + 3*18 lane-steps
    sweeps.plot.rungs(res, path=tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="metric: 'nope' is not a metric of this result"):
        sweeps.plot.rungs(res, "nope")
    with pytest.raises(ValueError, match="res: expected the result of sweeps.pbt"):
        sweeps.plot.schedules(res)
    pb = sweeps.pbt(mlp, space, key=jax.random.key(0), data=data, population=4, interval=4, steps=8,
                    metric="val_loss", quantile=0.5, explore=["lr"], lanes=4, progress=False)
    # lam is not explored: every member keeps its own sampled lam through every copy (exploit copies the
    # state, explore changes only lr), while the exploited members' lr changes
    assert pb.lineage and pb.schedules["lam"].shape == (2, 4)
    np.testing.assert_array_equal(pb.schedules["lam"][1], pb.schedules["lam"][0])
    np.testing.assert_allclose(pb.schedules["lam"][0], pb.trials["lam"][:4], rtol=1e-6)
    assert all(e["hp"]["lam"] == pytest.approx(pb.trials["lam"][e["member"]]) for e in pb.lineage)
    moved = sorted({e["member"] for e in pb.lineage})
    assert not np.allclose(pb.schedules["lr"][-1, moved], pb.schedules["lr"][0, moved])
    sweeps.plot.schedules(pb, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_states_with_typed_keys_are_refused(prob):
    mlp, space, data = prob
    bad = sweeps.Trainable(lambda k, d, **h: {"k": k, "x": jnp.zeros(())}, lambda s, d, n, **h: s,
                           lambda s, d, **h: {"loss": s["x"]})
    with pytest.raises(ValueError, match="typed PRNG keys"):
        sweeps.successive_halving(bad, sweeps.random(3, a=sweeps.uniform(0, 1)), key=jax.random.key(0), data=data,
                                  metric="loss", min_steps=1, max_steps=3, progress=False)


def test_a_user_written_trainable():
    """Any three pure functions work: least squares by optax's sgd, the state a plain dict."""
    import optax

    X = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    y = X @ np.arange(1.0, 5.0, dtype=np.float32)

    def init(key, data, lr):
        w = 0.1 * jax.random.normal(key, (4,))
        return {"w": w, "opt": optax.sgd(lr).init(w), "t": jnp.int32(0)}

    def advance(state, data, steps, lr):
        loss = lambda w: jnp.mean((data["X"] @ w - data["y"]) ** 2)  # noqa: E731

        def step(c, _):
            w, o = c
            u, o = optax.sgd(lr).update(jax.grad(loss)(w), o)
            return (optax.apply_updates(w, u), o), None
        (w, o), _ = jax.lax.scan(step, (state["w"], state["opt"]), None, length=steps)
        return {"w": w, "opt": o, "t": state["t"] + steps}

    def evaluate(state, data, lr):
        return {"mse": jnp.mean((data["X"] @ state["w"] - data["y"]) ** 2)}

    lin = sweeps.Trainable(init, advance, evaluate)
    space = sweeps.table(lr=[1e-3, 1e-2, 3e-2, 1e-1, 1e6, 1e-4, 2e-2, 5e-2, 7e-2])
    res = sweeps.successive_halving(lin, space, key=jax.random.key(0), data={"X": X, "y": y}, metric="mse",
                                    mode="min", min_steps=5, max_steps=45, eta=3, progress=False)
    assert res.status[4] == sweeps.status.DIVERGED  # lr 1e6: non-finite mse, no status leaves declared
    assert res.best()["lr"] in (0.1, 0.07, 0.05) and res.best()["mse"] < 1e-2
    assert int(res.state["t"]) == 45



def test_hyperparameters_and_metrics_of_several_dtypes_travel_whole():
    """A call sends its hyperparameters and returns its metrics as one lane array per dtype: an int and a float
    hyperparameter reach every trial's lane unchanged, and each trial's curve, metrics of three dtypes, is what
    training it alone gives."""
    X = np.random.default_rng(2).normal(size=(40, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], np.float32)

    def init(key, data, lr, k):
        return {"w": jnp.zeros(3, jnp.float32)}

    def mse(w, data, k):
        return jnp.mean((data["X"] @ w - k * data["y"]) ** 2)

    def advance(state, data, steps, lr, k):
        w, _ = jax.lax.scan(lambda w, _: (w - lr * jax.grad(mse)(w, data, k), None), state["w"], None, length=steps)
        return {"w": w}

    def evaluate(state, data, lr, k):
        e = mse(state["w"], data, k)
        return {"mse": e, "k": k, "lr": lr, "big": e > 1.0}

    lrs, ks = [0.01, 0.05, 0.1, 0.02, 0.2, 0.03, 0.07, 0.15, 0.005], [1, 2, 3, 4, 5, 6, 7, 8, 9]
    data = {"X": X, "y": y}
    res = sweeps.successive_halving(sweeps.Trainable(init, advance, evaluate), sweeps.table(lr=lrs, k=ks),
                                    key=jax.random.key(0), data=data, metric="mse", mode="min", min_steps=5,
                                    max_steps=45, eta=3, progress=False)
    assert np.asarray(res.trials["k"]).dtype.kind == "i"
    alone = jax.jit(advance, static_argnums=2)
    for i, (lr, k) in enumerate(zip(lrs, ks)):
        for steps, m in res.curves[i]:
            assert int(m["k"]) == k and float(m["lr"]) == np.float32(lr)
            w = alone(init(None, data, lr, k), data, steps, np.float32(lr), np.int32(k))["w"]
            np.testing.assert_allclose(m["mse"], mse(w, data, k), rtol=1e-5)
            assert np.asarray(m["big"]).dtype == np.bool_ and bool(m["big"]) == bool(m["mse"] > 1.0)

# --- early stopping with lane refill ---------------------------------------------------------------------------

def test_run_early_stopping_refills_lanes(prob):
    mlp, space, data = prob
    rule = sweeps.patience("val_loss", 2)
    res = sweeps.run(mlp, space, key=jax.random.key(0), data=data, steps=40, segment=2, early_stopping=rule,
                     lanes=4, progress=False)
    stops = [c[-1][0] for c in res.curves]
    assert len(set(stops)) > 3 and min(stops) < 20  # trials stop at widely different steps
    for i, c in enumerate(res.curves):  # each stopped where the rule says, on its own curve
        vals = [v["val_loss"] for _, v in c]
        if res.status[i] != sweeps.status.OK:
            continue
        first = next((j for j in range(3, len(vals) + 1) if min(vals[j - 2:j]) >= min(vals[:j - 2])), None)
        assert stops[i] == (2 * (first - 1) if first is not None else 40), i
    assert res.meta["lane_utilization"] >= 0.9
    assert res.meta["lane_steps_useful"] == sum(stops)
    assert res.best()["val_loss"] == min(c[-1][1]["val_loss"] for c, s in zip(res.curves, res.status) if s == 0)


def test_lanes_narrow_as_runs_stop_without_changing_results(prob, monkeypatch):
    """Fewer trials than lanes, each stopping on its own: the busy lanes are compacted into narrower compiled
    widths (utilization from the driver's own bookkeeping), and every curve is what full-width segments give."""
    mlp, space, data = prob
    kw = dict(key=jax.random.key(5), data=data, steps=40, segment=2, early_stopping=sweeps.patience("val_loss", 2),
              lanes=32, progress=False)
    res = sweeps.run(mlp, space, **kw)
    m = res.meta
    stops = [c[-1][0] for c in res.curves]
    assert len(set(stops)) > 3 and m["lane_steps_useful"] == sum(stops)
    assert m["lane_utilization"] >= 0.9 and m["calls"] == 40 // 2  # one call per segment (the first starts them)
    assert len(m["widths"]) > 2 and all(0 < w < 32 for w in m["widths"])  # never all 32: fewer trials than lanes
    monkeypatch.setattr(sweeps.lanes, "NARROW_SAVES", 10 ** 9)  # never narrower than the 32 lanes
    wide = sweeps.run(mlp, space, **kw)
    assert wide.meta["widths"] == [32] and wide.meta["lane_steps_paid"] == 32 * 40
    assert wide.meta["lane_utilization"] == pytest.approx(sum(stops) / (32 * 40)) and sum(stops) / (32 * 40) < 0.75
    assert [[s for s, _ in c] for c in wide.curves] == [[s for s, _ in c] for c in res.curves]
    for a, b in zip(res.curves, wide.curves):
        np.testing.assert_allclose([v["val_loss"] for _, v in a], [v["val_loss"] for _, v in b], rtol=1e-6)


# --- PBT ------------------------------------------------------------------------------------------------------

def test_pbt_exploit_copies_the_parents_state(prob):
    mlp, space, data = prob
    res = sweeps.pbt(mlp, space, key=jax.random.key(2), data=data, population=8, interval=4, steps=16,
                     metric="val_accuracy", mode="max", quantile=0.25, perturb=(1.0,), resample=0.0, lanes=3,
                     progress=False)
    assert len(res.rungs) == 4 and len(res.lineage) == 2 * 3
    assert (res.status[:8] == sweeps.status.OK).all() and [len(c) for c in res.curves[:8]] == [5] * 8
    assert np.mean(res.rungs[-1]["metric"]) > np.mean(res.rungs[0]["metric"]) + 0.1  # training went on
    for e in res.lineage:  # parent from the top quarter, member from the bottom quarter of that interval
        r = next(r for r in res.rungs if r["steps"] == e["step"])
        order = sweeps.rank(r["metric"], [0] * 8, "max")
        assert e["parent"] in order[:2] and e["member"] in order[-2:]
    for e in res.lineage:  # same state, same hyperparameters (perturb 1.0): the next interval is the parent's
        m, p = e["member"], e["parent"]
        nxt = e["step"] + 4
        if any(x["member"] == p for x in res.lineage if x["step"] == e["step"]):
            continue  # the parent itself was replaced at the same time: nothing to compare
        np.testing.assert_allclose(dict(res.curves[m])[nxt]["val_loss"], dict(res.curves[p])[nxt]["val_loss"],
                                   rtol=1e-6)
    assert res.schedules["lr"].shape == (4, 8)
    for e in res.lineage:
        j = [r["steps"] for r in res.rungs].index(e["step"]) + 1
        assert res.schedules["lr"][j, e["member"]] == pytest.approx(res.schedules["lr"][j - 1, e["parent"]])


def test_pbt_explores_and_is_reproducible(prob):
    mlp, space, data = prob
    kw = dict(key=jax.random.key(3), data=data, population=6, interval=4, steps=12, metric="val_loss",
              quantile=0.5, lanes=6, progress=False)
    a, b = sweeps.pbt(mlp, space, **kw), sweeps.pbt(mlp, space, **kw)
    assert a.lineage == b.lineage and a.lineage
    np.testing.assert_array_equal(a.schedules["lr"], b.schedules["lr"])
    assert not np.allclose(a.schedules["lr"][0], a.schedules["lr"][-1])


def test_pbt_keeps_the_spaces_values_exact(prob):
    """A choice is explored among its own values and reported exactly (not as the float32 the lanes trained
    with), a constant is never explored, and the order ``explore`` names come in does not matter."""
    pytest.importorskip("optuna")
    mlp, _, data = prob
    choices = (0.3, 0.01, 0.1)
    dists = dict(scale=sweeps.loguniform(1e-2, 1.0), lr=sweeps.choice(list(choices)), lam=1e-3)
    kw = dict(key=jax.random.key(4), data=data, population=4, interval=2, steps=8, metric="val_loss", mode="min",
              quantile=0.5, resample=0.0, progress=False)
    a = sweeps.pbt(mlp, dists, sampler=sweeps.tpe(), **kw)
    assert set(a.schedules["lr"].reshape(-1).tolist()) <= set(choices) and len(a.lineage) == 6
    assert (a.schedules["lam"] == 1e-3).all()  # the constant, by default not explored
    assert a.best()["lr"] in choices and set(a.trials["lr"].tolist()) <= set(choices)
    assert {t.params["lr"] for t in a.to_optuna(None, "pbt").trials} <= set(choices)
    for e in a.lineage:  # perturbed: the neighbouring choice, or the same one at an end
        j = [r["steps"] for r in a.rungs].index(e["step"]) + 1
        i = choices.index(a.schedules["lr"][j - 1, e["parent"]])
        assert abs(choices.index(e["hp"]["lr"]) - i) <= 1
    b = sweeps.pbt(mlp, dists, sampler=sweeps.tpe(), explore={"lr", "scale"}, **kw)  # a set: the space's order
    assert b.lineage == a.lineage
    with pytest.raises(ValueError, match=r"explore: expected names of the space's searched hyperparameters "
                                         r"\['lr', 'scale'\] \(not its constants\), got \['lam'\]"):
        sweeps.pbt(mlp, dists, sampler=sweeps.tpe(), explore="lam", **kw)


def test_an_int_hyperparameter_stays_an_int_in_pbts_best():
    def init(key, data, lr, m=1):
        return {"w": jnp.zeros(())}

    def advance(state, data, steps, lr, m=1):
        return {"w": state["w"] + steps * lr * m}

    def evaluate(state, data, lr, m=1):
        return {"score": state["w"]}

    t = sweeps.Trainable(init, advance, evaluate, {"lr": 0.1, "m": 1}, {"score": "max"})
    res = sweeps.pbt(t, sweeps.random(4, lr=sweeps.loguniform(0.01, 1.0), m=sweeps.integers(1, 4)),
                     key=jax.random.key(0), data={"X": np.zeros((2, 1), np.float32)}, population=4, interval=2,
                     steps=4, metric="score", progress=False)
    assert type(res.best()["m"]) is int


def test_a_patience_rule_on_the_ranked_metric_takes_runs_mode(prob):
    mlp, space, data = prob
    undeclared = sweeps.Trainable(mlp.init, mlp.advance, mlp.evaluate, mlp.hyperparameters)
    kw = dict(key=jax.random.key(0), data=data, steps=4, segment=2, metric="val_accuracy", progress=False)
    rule = sweeps.patience("val_accuracy", 1)
    res = sweeps.run(undeclared, sweeps.random(4, lr=sweeps.loguniform(1e-3, 1.0)), mode="max", early_stopping=rule,
                     **kw)
    ref = sweeps.run(undeclared, sweeps.random(4, lr=sweeps.loguniform(1e-3, 1.0)), mode="max",
                     early_stopping=sweeps.patience("val_accuracy", 1, mode="max"), **kw)
    assert res.curves == ref.curves


# --- bad input, before any compute ---------------------------------------------------------------------------

def test_bad_input_is_refused_before_compute(prob):
    mlp, space, data = prob
    kw = dict(key=jax.random.key(0), data=data, progress=False)
    sh = dict(min_steps=3, max_steps=27)
    with pytest.raises(ValueError, match=r"metric: 'val_acc' is not a metric of evaluate; it returns \[.*'val_acc"):
        sweeps.successive_halving(mlp, space, metric="val_acc", **sh, **kw)
    with pytest.raises(ValueError, match="min_steps: expected at most max_steps=3"):
        sweeps.successive_halving(mlp, space, metric="val_loss", min_steps=9, max_steps=3, **kw)
    with pytest.raises(ValueError, match="eta: expected an integer >= 2"):
        sweeps.hyperband(mlp, space, metric="val_loss", eta=1, **sh, **kw)
    for q in (0.0, 0.6):
        with pytest.raises(ValueError, match=r"quantile: expected a value in \(0, 0.5\], got"):
            sweeps.pbt(mlp, space, population=8, interval=4, steps=8, metric="val_loss", quantile=q, **kw)
    with pytest.raises(ValueError, match="population: expected an integer >= 2"):
        sweeps.pbt(mlp, space, population=1, interval=4, steps=8, metric="val_loss", **kw)
    for perturb in ((), 0.8, "up"):
        with pytest.raises(ValueError, match="perturb: expected a non-empty sequence of factors > 0"):
            sweeps.pbt(mlp, space, population=4, interval=4, steps=8, metric="val_loss", perturb=perturb, **kw)
    with pytest.raises(ValueError, match="devices: expected at least one device, got none"):
        sweeps.pbt(mlp, space, population=4, interval=4, steps=8, metric="val_loss", devices=[], **kw)
    with pytest.raises(ValueError, match=r"early_stopping: metric 'val_los' is not a metric"):
        sweeps.run(mlp, space, steps=8, segment=2, early_stopping=sweeps.patience("val_los", 2), metric="val_loss",
                   **kw)
    with pytest.raises(ValueError, match="space: hyperparameters \\['momentum'\\] are not the trainable's"):
        sweeps.successive_halving(mlp, sweeps.random(4, momentum=sweeps.uniform(0, 1)), metric="val_loss", **sh, **kw)
    with pytest.raises(ValueError, match="trainable: expected a jaxnn.sweeps.Trainable"):
        sweeps.successive_halving(lambda k: k, space, metric="val_loss", **sh, **kw)
    with pytest.raises(ValueError, match="needs 17 trials"):
        sweeps.hyperband(mlp, sweeps.random(5, lr=sweeps.loguniform(1e-3, 1)), metric="val_loss", **sh, **kw)


def test_hyperband_with_a_sampler_counts_its_trials(prob):
    """With a sampler, too few trials is an error naming trials; trials beyond whole iterations are not
    reserved, so the result lists only the trials the brackets proposed and started (no placeholder values)."""
    mlp, space, data = prob
    kw = dict(key=jax.random.key(0), data=data, metric="val_loss", min_steps=3, max_steps=9, eta=3, progress=False)
    with pytest.raises(ValueError, match=r"trials: Hyperband .* needs 5 trials per iteration .*; got trials=1$"):
        sweeps.hyperband(mlp, worker.dists(), sampler=sweeps.tpe(), trials=1, **kw)
    with pytest.raises(ValueError, match=r"space: Hyperband .* needs 5 trials per iteration .*; the space has 2$"):
        sweeps.hyperband(mlp, sweeps.random(2, lr=sweeps.loguniform(1e-3, 1.0)), **kw)
    res = sweeps.hyperband(mlp, worker.dists(), sampler=sweeps.tpe(n_startup_trials=3), trials=12, **kw)
    m = res.meta
    assert (m["iterations"], m["n_trials_used"], m["n_proposed"], m["n_started"], m["n_trials"]) == (2, 10, 10, 10, 10)
    assert m["trials_requested"] == 12
    assert [len(v) for v in res.trials.values()] == [10] * 3 and len(res.curves) == len(res.status) == 10
    assert all(res.curves) and len(set(res.trials["lr"].tolist())) == 10  # all proposed: no midpoint placeholders


# --- subprocesses: SIGKILL + resume, 4 devices, 2 processes ---------------------------------------------------

def env(devices=1):
    e = dict(os.environ)
    e["XLA_FLAGS"] = xla_flags(devices)
    e.pop("JAX_NUM_CPU_DEVICES", None)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


def run_worker(args, devices=1, timeout=300):
    return subprocess.run([sys.executable, WORKER, *args], env=env(devices), capture_output=True, text=True,
                          timeout=timeout)


def load(path):
    with open(path) as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def _reference(name, lanes):
    return json.dumps(worker.summary(worker.search(name, lanes=lanes)))


def reference(name, lanes):
    """The uninterrupted one-process search's summary, computed once per module run (several tests compare
    with the same one: sh, pbt and asha at 4 lanes); a fresh copy each call."""
    return json.loads(_reference(name, lanes))


def same(a, b, rtol=0.0):
    assert a["status"] == b["status"] and a["lineage"] == b["lineage"]
    assert [(r["steps"], r["trials"]) for r in a["rungs"]] == [(r["steps"], r["trials"]) for r in b["rungs"]]
    assert [[c[0] for c in x] for x in a["curves"]] == [[c[0] for c in x] for x in b["curves"]]
    for x, y in zip(a["curves"], b["curves"]):
        for (_, u), (_, v) in zip(x, y):
            np.testing.assert_allclose([u[k] for k in sorted(u)], [v[k] for k in sorted(u)], rtol=rtol, atol=rtol)
    assert a["best"]["trial"] == b["best"]["trial"]


@pytest.mark.slow
def test_sigkill_then_resume_is_identical(tmp_path):
    d = str(tmp_path / "state")
    base = ["--scheduler", "sh", "--lanes", "4"]
    killed = run_worker([str(tmp_path / "k.json"), *base, "--out-dir", d, "--kill-after", "5"])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert os.path.exists(os.path.join(d, "checkpoint.npz")) and not os.path.exists(tmp_path / "k.json")
    resumed = run_worker([str(tmp_path / "r.json"), *base, "--out-dir", d])
    assert resumed.returncode == 0, resumed.stderr
    assert "replaying" in resumed.stderr
    same(load(tmp_path / "r.json"), reference("sh", 4))  # bit for bit
    assert [f for f in os.listdir(d) if "tmp" in f] == []


class Crash(Exception):
    pass


@pytest.mark.parametrize("name,crash_at", [("sh", 4), ("hb", 6), ("pbt", 5), ("run", 12), ("asha", 9), ("bohb", 7)])
def test_crash_mid_search_then_resume_is_identical(tmp_path, monkeypatch, name, crash_at):
    """Every scheduler stopped inside a segment (as kill -9 would: the checkpoint on disk is all that is left)
    and rerun with the same call gives the uninterrupted result."""
    whole = reference(name, 4)
    calls = {"n": 0}
    advance = sweeps.lanes.Pool.advance

    def crashing(self, *args):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise Crash
        return advance(self, *args)

    monkeypatch.setattr(sweeps.lanes.Pool, "advance", crashing)
    with pytest.raises(Crash):
        worker.search(name, lanes=4, out_dir=tmp_path, checkpoint_s=0.0)
    monkeypatch.setattr(sweeps.lanes.Pool, "advance", advance)
    with np.load(tmp_path / "checkpoint.npz") as z:
        logged = len(json.loads(bytes(z["__log__"]).decode())["log"])
    assert logged >= crash_at - 1
    resumed = worker.search(name, lanes=4, out_dir=tmp_path, checkpoint_s=0.0)
    assert resumed.meta["calls"] > logged
    same(worker.summary(resumed), whole)


@pytest.mark.slow
def test_four_devices_equal_one_device(tmp_path):
    """Both searches on 4 devices equal their 1-device runs; with every partial call narrowed (NARROW_SAVES 0),
    so the busy lanes' blocks are dealt over the devices (busy_per_device) in their tails."""
    names = ("sh", "asha")  # one 4-device process runs both searches (one start, one set of shared programs)
    four = run_worker([str(tmp_path / "4-{name}.json"), "--scheduler", ",".join(names), "--lanes", "8",
                       "--narrow-saves", "0"], devices=4)
    assert four.returncode == 0, four.stderr
    for name in names:
        a, b = load(tmp_path / f"4-{name}.json"), reference(name, 8)
        assert a["meta"]["devices"] == 4 and a["meta"]["lanes"] % 4 == 0 and b["meta"]["devices"] == 1, name
        assert min(a["meta"]["widths"]) < a["meta"]["lanes"], (name, a["meta"]["widths"])
        same(a, b, rtol=2e-5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    names = ("pbt", "asha")  # asha: the halving path's promotions and new trials too; both in one joined pair
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, WORKER, str(tmp_path / f"p{i}-{{name}}.json"), "--scheduler",
                               ",".join(names), "--lanes", "4", "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)], env=env(2), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    for name in names:
        a = load(tmp_path / f"p0-{name}.json")
        assert a["meta"]["processes"] == 2 and a["meta"]["devices"] == 4, name
        same(a, load(tmp_path / f"p1-{name}.json"))
        same(a, reference(name, 4), rtol=2e-5)


def test_wrong_data_is_refused_in_the_users_words(prob):
    mlp, space, data = prob
    kw = dict(key=jax.random.key(0), progress=False, metric="val_loss", min_steps=3, max_steps=27)
    narrow = {**data, "X": data["X"][:, :63]}
    with pytest.raises(ValueError, match=r"data: expected 'X' with 64 columns \(the trainable's input layer"):
        sweeps.successive_halving(mlp, space, data=narrow, **kw)
    with pytest.raises(ValueError, match=r"data: expected 'Y_val' with 10 columns \(the trainable's output layer"):
        sweeps.successive_halving(mlp, space, data={**data, "Y_val": data["Y_val"][:, :9]}, **kw)
    no_val = {"X": data["X"], "Y": data["Y"]}
    with pytest.raises(ValueError, match=r"data: metric 'val_loss' is computed from data\['X_val'\] and "
                                         r"data\['Y_val'\], which data= lacks \(it has \['X', 'Y'\]\)"):
        sweeps.successive_halving(mlp, space, data=no_val, **kw)
    with pytest.raises(ValueError, match=r"data: early_stopping 'val_loss' is computed from data\['X_val'\]"):
        sweeps.run(mlp, space, key=jax.random.key(0), data=no_val, steps=8, segment=2, metric="loss",
                   early_stopping=sweeps.patience("val_loss", 2), progress=False)
    bad = {**data, "X": data["X"].copy()}
    bad["X"][3, 5] = np.nan
    with pytest.raises(ValueError, match=r"data: expected finite values, got 1 NaN/inf entries in data\['X'\]"):
        sweeps.successive_halving(mlp, space, data=bad, **kw)
    with pytest.raises(ValueError, match="mode: expected 'max' or 'min', got 'maximize'"):
        sweeps.successive_halving(mlp, space, data=data, mode="maximize", **kw)


def test_old_paths_and_mlpstate():
    from jaxnn.sweeps import adaptive, schedulers

    assert adaptive.successive_halving is schedulers.successive_halving is sweeps.successive_halving
    assert adaptive.AdaptiveResult is sweeps.AdaptiveResult and adaptive.rank is sweeps.ranking.rank
    assert "MLPState" not in sweeps.__all__
    from jaxnn.trainable import MLPState

    with pytest.warns(DeprecationWarning, match="from jaxnn.trainable import MLPState"):
        assert sweeps.MLPState is MLPState
