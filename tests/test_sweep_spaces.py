"""Tests for jaxnn.sweep over every kind of search space (random, Sobol, table, grid, dict), static axes
(Python values, one compilation each), the run status protocol, labeled results (pandas, xarray, files),
errors in the user's terms, and jaxnn.sweeps.run_table."""

import ast
import glob
import operator
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import xla_flags

import jaxnn
from jaxnn import sweeps
from jaxnn.sweeps import executor, status

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
KEY = jax.random.key(0)
F32 = jnp.result_type(float)
XOR_CHUNK = 2  # every XOR sweep below: one compiled chunk function, shared (the compile dominates the time)


def xor_run(key, scale, lr):
    params = jaxnn.init_mlp(key, [2, 3, 1], scale=scale)
    params, hist = jaxnn.train(params, X, Y, lr=lr, steps=40)
    return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"],
            "W0": params[0]["W"]}


def echo(key, lr, fold):
    """No training: the hyperparameters echoed back and the key's draws (cheap to compile)."""
    return {"lr": lr, "fold": fold, "u": jax.random.uniform(key), "W": jax.random.normal(key, (2, 3)) * lr}


def make_static_fn(counter=None, types=None):
    """A fresh function object (so the executor's caches cannot hide work) with two static hyperparameters."""
    def run(key, lr, hidden, act):
        if counter is not None:
            counter["n"] += 1  # Python side effect: counts traces, not executions
        if types is not None:
            types.append((type(hidden), type(act)))
        assert type(hidden) is int and isinstance(act, str)
        f = {"tanh": jnp.tanh, "sin": jnp.sin, "id": lambda x: x}[act]
        w = jax.random.normal(key, (hidden,))
        return {"y": jnp.mean(f(lr * w)), "width": jnp.float32(hidden), "u": jax.random.uniform(key)}
    return run


def assert_same(a, b, rtol=0.0, atol=0.0):
    assert list(a.axes) == list(b.axes) and sorted(a.metrics) == sorted(b.metrics)
    for k in a.axes:
        np.testing.assert_array_equal(a.axes[k], b.axes[k])
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k], err_msg=k)
    for k in a.metrics:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)
    np.testing.assert_array_equal(a.status, b.status)


# --- every space kind ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("space, shape", [
    (sweeps.random(6, lr=sweeps.loguniform(1e-2, 1.0), fold=sweeps.integers(0, 4)), (6,)),
    (sweeps.sobol(8, lr=sweeps.uniform(0.1, 2.0), fold=sweeps.choice([3, 5])), (8,)),
    (sweeps.table(lr=[0.1, 0.2, 0.3], fold=[2, 0, 1]), (3,)),
    (sweeps.grid(lr=[0.1, 0.2], fold=[0, 1, 2]), (2, 3)),
    ({"lr": [0.5, 0.25, 1.0], "fold": [7]}, (3, 1)),
])
def test_result_shapes_coords_and_axes_for_every_space_kind(space, shape):
    res = jaxnn.sweep(echo, space, key=KEY, seeds=2, progress=False)
    design = sweeps.as_space(space).resolve(KEY)
    assert res.shape == shape + (2,)
    assert res["lr"].shape == shape + (2,) and res["W"].shape == shape + (2, 2, 3)
    assert res.status.shape == res.diverged.shape == shape + (2,)
    assert list(res.coords) == ["lr", "fold"]
    for k, v in design.values.items():
        np.testing.assert_array_equal(res.coords[k], v.reshape(shape), err_msg=k)
    # every run got its trial's values (traced: float32, integers as int32)
    assert res["lr"].dtype == F32 and res["fold"].dtype == np.int32
    np.testing.assert_allclose(res["lr"], np.repeat(res.coords["lr"][..., None], 2, -1).astype(F32), rtol=0)
    np.testing.assert_array_equal(res["fold"], np.repeat(res.coords["fold"][..., None], 2, -1))
    if design.kind == "grid":
        assert list(res.axes) == ["lr", "fold"] and res.is_grid
        assert res.meta["grid"]["fold"] == design.axes["fold"].tolist()
    else:
        assert list(res.axes) == ["trial"] and not res.is_grid
        np.testing.assert_array_equal(res.axes["trial"], np.arange(shape[0]))
    assert res.meta["n_trials"] == int(np.prod(shape)) and res.meta["n_runs"] == 2 * int(np.prod(shape))
    assert res.meta["space"] == design.kind and res.space["kind"] == design.kind
    assert res.meta["n_ok"] == res.meta["n_runs"] and res.ok.all()


def test_common_random_numbers_per_seed_in_every_trial():
    space = sweeps.random(5, lr=sweeps.uniform(0.5, 2.0), fold=sweeps.integers(0, 3))
    res = jaxnn.sweep(echo, space, key=KEY, seeds=3, progress=False)
    u, W = res["u"], res["W"]  # (5, 3), (5, 3, 2, 3)
    for s in range(3):
        expected = jax.random.uniform(jax.random.fold_in(KEY, s))
        np.testing.assert_array_equal(u[:, s], np.full(5, expected))
        base = jax.random.normal(jax.random.fold_in(KEY, s), (2, 3))
        for i in range(5):
            np.testing.assert_allclose(W[i, s], base * np.float32(res.coords["lr"][i]), rtol=1e-6)
    assert len(set(u[0].tolist())) == 3  # seeds differ
    # another key: other trials and other draws
    other = jaxnn.sweep(echo, space, key=jax.random.key(1), seeds=3, progress=False)
    assert not np.array_equal(other.coords["lr"], res.coords["lr"]) and not np.array_equal(other["u"], u)


def test_table_trial_equals_a_direct_jitted_call():
    scales, lrs = [0.5, 1.0, 2.0], [0.5, 2.0, 1.0]
    res = jaxnn.sweep(xor_run, sweeps.table(scale=scales, lr=lrs), key=KEY, seeds=2, chunk_size=XOR_CHUNK,
                      progress=False)
    one = jax.jit(xor_run)
    for i in range(3):
        for s in range(2):
            direct = one(jax.random.fold_in(KEY, s), jnp.float32(scales[i]), jnp.float32(lrs[i]))
            for k in ("loss", "W0", "final_loss"):
                np.testing.assert_allclose(res[k][i, s], direct[k], rtol=1e-5, atol=1e-7, err_msg=k)
    assert not np.allclose(res["loss"][0, 0], res["loss"][0, 1])  # seeds differ


def test_random_trial_does_not_depend_on_the_rest_of_the_space():
    space = sweeps.random(6, scale=sweeps.uniform(0.1, 1.0), lr=sweeps.loguniform(0.1, 3.0))
    res = jaxnn.sweep(xor_run, space, key=KEY, seeds=2, chunk_size=XOR_CHUNK, progress=False)
    i = 4
    scale, lr = float(res.coords["scale"][i]), float(res.coords["lr"][i])
    alone = jaxnn.sweep(xor_run, sweeps.table(scale=[scale], lr=[lr]), key=KEY, seeds=2, chunk_size=XOR_CHUNK,
                        progress=False)
    np.testing.assert_allclose(alone["loss"][0], res["loss"][i], rtol=1e-5, atol=1e-7)
    grid = jaxnn.sweep(xor_run, sweeps.grid(scale=[0.7, scale], lr=[lr, 1.5]), key=KEY, seeds=1,
                       chunk_size=XOR_CHUNK, progress=False)
    np.testing.assert_allclose(grid["loss"][1, 0, 0], res["loss"][i, 0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grid["W0"][1, 0, 0], res["W0"][i, 0], rtol=1e-5, atol=1e-7)
    assert not np.allclose(grid["loss"][0, 0, 0], res["loss"][i, 0])


def test_xor_divergence_in_a_random_space():
    res = jaxnn.sweep(xor_run, sweeps.random(8, scale=0.5, lr=sweeps.choice([0.5, 1e30])), key=KEY, seeds=2,
                      chunk_size=XOR_CHUNK, progress=False)
    big = res.coords["lr"] == 1e30
    assert big.any() and (~big).any()
    np.testing.assert_array_equal(res.diverged, np.repeat(big[:, None], 2, 1))
    assert (res["diverged_at"][big] >= 0).all() and (res["diverged_at"][~big] == -1).all()
    assert res.best("final_loss", mode="min")["lr"] == 0.5


# --- static axes ---------------------------------------------------------------------------------------------

def test_static_values_arrive_as_python_values_and_equal_separate_sweeps():
    types = []
    fn = make_static_fn(types=types)
    space = sweeps.random(12, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([2, 5]),
                          act=sweeps.static(["tanh", "sin"]))
    res = jaxnn.sweep(fn, space, key=KEY, seeds=2, chunk_size=4, progress=False)
    assert types and set(types) == {(int, str)}
    assert res.coords["act"].dtype.kind == "U" and set(res.coords["act"].tolist()) == {"tanh", "sin"}
    np.testing.assert_array_equal(res["width"], np.repeat(res.coords["hidden"][:, None], 2, 1))
    combos = sorted(set(zip(res.coords["hidden"].tolist(), res.coords["act"].tolist())))
    assert len(combos) == 4
    for hidden, act in combos:
        idx = np.flatnonzero((res.coords["hidden"] == hidden) & (res.coords["act"] == act))
        sep = jaxnn.sweep(fn, sweeps.table(lr=res.coords["lr"][idx], hidden=sweeps.static([hidden] * len(idx)),
                                           act=sweeps.static([act] * len(idx))), key=KEY, seeds=2, chunk_size=4,
                          progress=False)
        assert sep.meta["compiles"] == 0  # the same static value and chunk: the main sweep's compilation
        for k in ("y", "width", "u"):
            np.testing.assert_allclose(sep[k], res[k][idx], rtol=1e-6, atol=1e-7, err_msg=(hidden, act, k))
    # common random numbers across static groups too: seed s draws the same u in every trial
    np.testing.assert_array_equal(res["u"], np.broadcast_to(res["u"][:1], res["u"].shape))


def test_one_compilation_per_static_value_and_groups_meta():
    counter = {"n": 0}
    fn = make_static_fn(counter)
    space = sweeps.grid(lr=[0.5, 1.0, 2.0], hidden=sweeps.static([3]), act=sweeps.static(["tanh", "sin", "id"]))
    res = jaxnn.sweep(fn, space, key=KEY, seeds=2, chunk_size=4, progress=False)
    assert res.shape == (3, 1, 3, 2)
    assert counter["n"] == 3 and res.meta["compiles"] == 3  # one per distinct static value
    assert res.meta["groups"] == [{"static": {"hidden": 3, "act": a}, "trials": 3, "chunk_size": 4}
                                  for a in ("tanh", "sin", "id")]
    assert res.meta["n_chunks"] == 3 * 2  # 6 runs per group in chunks of 4
    np.testing.assert_allclose(res["y"][:, 0, 2], np.mean(np.array([0.5, 1.0, 2.0])[:, None, None]
                                                          * np.stack([jax.random.normal(jax.random.fold_in(KEY, s),
                                                                                        (3,)) for s in range(2)]),
                                                          axis=-1), rtol=1e-5)
    again = jaxnn.sweep(fn, space, key=KEY, seeds=2, chunk_size=4, progress=False)
    assert counter["n"] == 3 and again.meta["compiles"] == 0 and again.meta["compile_s"] == 0.0
    assert_same(res, again)
    # automatic chunk sizes: still one compilation per static value, none on a rerun
    auto_fn = make_static_fn()
    auto = jaxnn.sweep(auto_fn, space, key=KEY, seeds=2, progress=False)
    assert auto.meta["compiles"] == 3 and len(auto.meta["groups"]) == 3
    assert jaxnn.sweep(auto_fn, space, key=KEY, seeds=2, progress=False).meta["compiles"] == 0
    assert_same(auto, res, rtol=1e-6, atol=1e-7)


def test_random_space_samples_a_static_per_trial():
    space = sweeps.random(32, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([1, 2, 3, 4]),
                          act=sweeps.static(["id"]))
    res = jaxnn.sweep(make_static_fn(), space, key=KEY, progress=False)
    hidden = res.coords["hidden"]
    assert set(hidden.tolist()) == {1, 2, 3, 4} and len(set(hidden[:8].tolist())) > 1  # not sorted into blocks
    first = list(dict.fromkeys(hidden.tolist()))  # order of first appearance
    assert [g["static"]["hidden"] for g in res.meta["groups"]] == first
    assert [g["trials"] for g in res.meta["groups"]] == [int((hidden == h).sum()) for h in first]
    assert res.meta["compiles"] == 4
    np.testing.assert_array_equal(res["width"][:, 0], hidden.astype(np.float32))


def test_static_groups_share_the_data_argument(tmp_path):
    def fit(key, data, lr, act):
        f = {"tanh": jnp.tanh, "sin": jnp.sin}[act]
        w = jax.random.normal(key, (data["X"].shape[1],))
        return {"loss": jnp.mean((f(data["X"] @ (lr * w)) - data["Y"][:, 0]) ** 2)}
    space = sweeps.random(6, lr=sweeps.uniform(0.5, 2.0), act=sweeps.static(["tanh", "sin"]))
    data = {"X": X, "Y": Y}
    res = jaxnn.sweep(fit, space, key=KEY, seeds=2, data=data, out_dir=tmp_path / "d", progress=False)
    assert len(res.meta["groups"]) == 2
    for i in range(6):
        for s in range(2):
            direct = fit(jax.random.fold_in(KEY, s), data, jnp.float32(res.coords["lr"][i]), str(res.coords["act"][i]))
            np.testing.assert_allclose(res["loss"][i, s], direct["loss"], rtol=1e-5, err_msg=(i, s))
    again = jaxnn.sweep(fit, space, key=KEY, seeds=2, data=data, out_dir=tmp_path / "d", progress=False)
    assert again.meta["chunks_skipped"] == again.meta["n_chunks"]
    assert_same(res, again)


def test_static_values_with_outputs_of_different_shapes_are_a_clear_error(tmp_path):
    def widths(key, lr, hidden):
        return {"w": jnp.zeros(hidden) + lr}

    msg = r"fn: every static value must give outputs of the same names, shapes and dtypes.*\{'hidden': 2\} gave " \
          r"\[\('w', \(2,\)\)\], \{'hidden': 3\} gave \[\('w', \(3,\)\)\]"
    space = sweeps.grid(lr=[1.0], hidden=sweeps.static([2, 3]))
    with pytest.raises(ValueError, match=msg):
        jaxnn.sweep(widths, space, key=KEY, progress=False)
    with pytest.raises(ValueError, match=msg):  # the traced path (out_dir) says the same
        jaxnn.sweep(widths, space, key=KEY, progress=False, out_dir=tmp_path / "s")

    def names(key, lr, act):
        return {"y": lr} if act == "a" else {"y": lr, "z": lr}
    with pytest.raises(ValueError, match=r"fn: every static value must give outputs of the same names.*\{'act': "
                                         r"'b'\} gave \[\('y', \(\)\), \('z', \(\)\)\]"):
        jaxnn.sweep(names, sweeps.table(lr=[1.0, 2.0], act=sweeps.static(["a", "b"])), key=KEY, progress=False)


def test_out_dir_resume_and_refusal_for_a_random_space_with_a_static_axis(tmp_path, capsys):
    d = tmp_path / "random"
    space = sweeps.random(10, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([2, 3]),
                          act=sweeps.static(["tanh", "sin"]))
    fn = make_static_fn()
    a = jaxnn.sweep(fn, space, key=KEY, seeds=2, chunk_size=3, out_dir=d, progress=False)
    chunks = sorted(os.listdir(d / "chunks"))
    n = a.meta["n_chunks"]
    assert chunks == [f"chunk-{i:05d}.npz" for i in range(n)] and n >= len(a.meta["groups"]) + 1
    os.remove(d / "chunks" / chunks[-2])
    capsys.readouterr()
    b = jaxnn.sweep(make_static_fn(), space, key=KEY, seeds=2, out_dir=d, progress=False)
    assert f"skipped {n - 1} of {n} finished chunks" in capsys.readouterr().err
    assert b.meta["chunks_skipped"] == n - 1 and b.meta["compiles"] >= 1
    assert_same(a, b)
    c = jaxnn.sweep(make_static_fn(), space, key=KEY, seeds=2, out_dir=d, progress=False)
    assert c.meta["chunks_skipped"] == n
    assert_same(a, c)
    assert_same(sweeps.SweepResult.load(d), a)
    more = sweeps.random(11, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([2, 3]),
                         act=sweeps.static(["tanh", "sin"]))
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: search space\); refusing to mix"):
        jaxnn.sweep(fn, more, key=KEY, seeds=2, out_dir=d, progress=False)
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: search space, key\b"):
        jaxnn.sweep(fn, space, key=jax.random.key(1), seeds=2, out_dir=d, progress=False)
    assert_same(sweeps.SweepResult.load(d), a)  # nothing was overwritten


def test_out_dir_refuses_a_changed_space_or_key_without_blaming_the_code(tmp_path):
    """Changing a static list (or the key of a random space with a static axis) changes the trials, not the
    swept function: the refusal should not add "code" (the code identity hashes the per-group jaxprs, which
    depend on the static values and on the order in which the groups first appear)."""
    d = tmp_path / "s"
    fn = make_static_fn()
    space = sweeps.grid(lr=[0.5, 1.0], hidden=sweeps.static([2, 3]), act=sweeps.static(["tanh"]))
    jaxnn.sweep(fn, space, key=KEY, out_dir=d, progress=False)
    wider = sweeps.grid(lr=[0.5, 1.0], hidden=sweeps.static([2, 4]), act=sweeps.static(["tanh"]))
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: grid\); refusing to mix"):
        jaxnn.sweep(fn, wider, key=KEY, out_dir=d, progress=False)
    space = sweeps.random(6, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([2, 3]), act=sweeps.static(["tanh"]))
    jaxnn.sweep(fn, space, key=KEY, out_dir=tmp_path / "r", progress=False)
    wider = sweeps.random(6, lr=sweeps.uniform(0.5, 2.0), hidden=sweeps.static([2, 4]), act=sweeps.static(["tanh"]))
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: search space\); refusing to mix"):
        jaxnn.sweep(fn, wider, key=KEY, out_dir=tmp_path / "r", progress=False)
    # another key: the same static values, first met in the same order (key 1) or in another order (key 2)
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: search space, key\); refusing"):
        jaxnn.sweep(fn, space, key=jax.random.key(1), out_dir=tmp_path / "r", progress=False)
    assert [g[0] for g in space.resolve(KEY).groups()] != [g[0] for g in space.resolve(jax.random.key(2)).groups()]
    with pytest.raises(ValueError, match=r"holds a different sweep \(changed: search space, key\); refusing"):
        jaxnn.sweep(fn, space, key=jax.random.key(2), out_dir=tmp_path / "r", progress=False)


def test_static_groups_on_four_devices_equal_one_device(tmp_path):
    code = ("import sys, jax, jax.numpy as jnp, numpy as np, jaxnn\nfrom jaxnn import sweeps\n"
            "def f(key, lr, h):\n    return {'y': jnp.sum(jax.random.normal(key, (h,)) * lr)}\n"
            "sp = sweeps.random(9, lr=sweeps.uniform(0, 1), h=sweeps.static([1, 2, 3, 4]))\n"
            "r = jaxnn.sweep(f, sp, key=jax.random.key(0), seeds=3, progress=False)\n"
            "print(len(jax.devices()), r.meta['chunk_size_padded'])\nnp.save(sys.argv[1], r['y'])\n")
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags(4))
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "y4.npy")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    n_dev, padded = map(int, out.stdout.split())
    assert n_dev == 4 and padded % 4 == 0

    def f(key, lr, h):
        return {"y": jnp.sum(jax.random.normal(key, (h,)) * lr)}
    ref = jaxnn.sweep(f, sweeps.random(9, lr=sweeps.uniform(0, 1), h=sweeps.static([1, 2, 3, 4])), key=KEY,
                      seeds=3, progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "y4.npy"), ref["y"], rtol=1e-6, atol=1e-7)


# --- run status ------------------------------------------------------------------------------------------------

def declared(key, lr):
    curve = jnp.where(jnp.arange(3) < 2, lr, jnp.nan)  # a padded curve: NaN that is not a divergence
    return {"curve": curve, "loss": 2.0 * lr, "count": jnp.int32(7),
            "diverged_at": jnp.where(lr > 5.0, 3, -1), "invalid": lr <= 0.0}


def test_declared_status_leaves_decide_and_invalid_beats_diverged(tmp_path):
    res = jaxnn.sweep(declared, sweeps.table(lr=[1.0, 10.0, -1.0, 0.5, 0.0]), key=KEY, seeds=2, progress=False)
    OK, DIV, INV = status.OK, status.DIVERGED, status.INVALID
    assert res.status[:, 0].tolist() == [OK, DIV, INV, OK, INV] and res.status.dtype == np.int8
    np.testing.assert_array_equal(res.status[:, 0], res.status[:, 1])
    assert res.ok[:, 0].tolist() == [True, False, False, True, False]
    assert res.invalid[:, 0].tolist() == [False, False, True, False, True]
    assert res.diverged[:, 0].tolist() == [False, True, False, False, False]
    assert res.meta["n_invalid"] == 4 == res.n_invalid and res.meta["n_diverged"] == 2 == res.n_diverged
    assert res.meta["n_ok"] == 4
    # float outputs of invalid runs are NaN; others (and ints) are kept
    assert np.isnan(res["loss"][[2, 4]]).all() and np.isnan(res["curve"][[2, 4]]).all()
    np.testing.assert_allclose(res["loss"][[0, 1, 3], 0], [2.0, 20.0, 1.0])
    np.testing.assert_allclose(res["curve"][0, 0], [1.0, 1.0, np.nan])
    assert res["count"].tolist() == [[7, 7]] * 5 and res["invalid"][:, 0].tolist() == [0, 0, 1, 0, 1]
    assert res["diverged_at"][:, 0].tolist() == [-1, 3, -1, -1, -1]
    # mean and best skip diverged and invalid runs
    m = res.mean("loss")
    assert np.isnan(m[[1, 2, 4]]).all() and m[[0, 3]].tolist() == [2.0, 1.0]
    assert res.mean("loss", skip_diverged=False)[1] == 20.0
    assert res.best("loss", mode="min") == {"trial": 3, "lr": 0.5, "loss": 1.0, "index": (3,)}
    assert res.best("loss", mode="max") == {"trial": 0, "lr": 1.0, "loss": 2.0, "index": (0,)}
    # rows and CSV carry the status
    rows = list(res.rows())
    assert [r["status"] for r in rows[::2]] == ["ok", "diverged", "invalid", "ok", "invalid"]
    assert rows[2]["diverged"] is True and rows[4]["diverged"] is False
    res.to_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["trial", "lr", "seed"] and header[-2:] == ["diverged", "status"]
    assert [line.split(",")[-1] for line in lines[1::2]] == ["ok", "diverged", "invalid", "ok", "invalid"]


def test_nested_status_leaves_and_invalid_with_diverged_at():
    def nested(key, lr):
        return {"hist": {"diverged_at": jnp.int32(2), "invalid": lr < 0}, "loss": lr}
    res = jaxnn.sweep(nested, sweeps.table(lr=[1.0, -1.0]), key=KEY, progress=False)
    assert res.status[:, 0].tolist() == [status.DIVERGED, status.INVALID]
    assert res.meta["n_diverged"] == 1 and res.meta["n_invalid"] == 1
    assert res["loss"][0, 0] == 1.0 and np.isnan(res["loss"][1, 0])
    with pytest.raises(ValueError, match=r"best: no trial has an ok run \(all diverged or invalid\), no finite "
                                         r"'loss'"):
        res.best("loss", mode="min")
    nan = jaxnn.sweep(lambda key, lr: {"hist": {"diverged_at": jnp.int32(-1), "invalid": lr < 0},
                                       "loss": jnp.float32(jnp.nan)}, sweeps.table(lr=[1.0]), key=KEY, progress=False)
    assert nan.status.tolist() == [[status.OK]]  # declared ok: its NaN is a value, not a status
    with pytest.raises(ValueError, match=r"best: the ok runs' 'loss' is NaN everywhere, no finite 'loss'"):
        nan.best("loss", mode="min")


def test_without_declared_status_non_finite_floats_diverge():
    def undeclared(key, x):
        return {"y": jnp.log(x) * jnp.ones(3), "k": jnp.int32(1)}
    res = jaxnn.sweep(undeclared, sweeps.random(64, x=sweeps.uniform(-1.0, 1.0)), key=KEY, progress=False)
    neg = res.coords["x"] <= 0
    assert neg.any() and (~neg).any()
    np.testing.assert_array_equal(res.diverged[:, 0], neg)
    assert res.meta["n_diverged"] == int(neg.sum()) and res.meta["n_invalid"] == 0
    assert (res.status[neg] == status.DIVERGED).all() and res.ok[~neg].all()


# --- labeled results and files ------------------------------------------------------------------------------------

def labeled_run(key, lr, act):
    return {"loss": lr * len(act), "curve": jnp.arange(4.0) * lr, "diverged_at": jnp.where(lr > 1.5, 1, -1),
            "lr2": 2 * lr}


def random_result(seeds=2):
    space = sweeps.random(5, lr=sweeps.uniform(0.5, 2.0), act=sweeps.static(["ab", "c"]))
    return jaxnn.sweep(labeled_run, space, key=KEY, seeds=seeds, progress=False)


def grid_result():
    return jaxnn.sweep(labeled_run, sweeps.grid(lr=[0.5, 2.0], act=sweeps.static(["ab", "c", "def"])), key=KEY,
                       seeds=2, progress=False)


def test_to_pandas_one_row_per_trial_and_seed():
    res = random_result()
    df = res.to_pandas()
    assert list(df.columns) == ["trial", "lr", "act", "seed", "diverged_at", "loss", "lr2", "diverged", "status"]
    assert len(df) == 5 * 2
    assert df["trial"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and df["seed"].tolist() == [0, 1] * 5
    np.testing.assert_array_equal(df["lr"].to_numpy(), np.repeat(res.coords["lr"], 2))
    assert df["act"].tolist() == np.repeat(res.coords["act"], 2).tolist()
    np.testing.assert_allclose(df["loss"].to_numpy(), res["loss"].reshape(-1), rtol=1e-6)
    assert df["status"].tolist() == [status.NAMES[s] for s in res.status.reshape(-1)]
    assert set(df["status"]) == {"ok", "diverged"}
    g = grid_result().to_pandas()
    assert list(g.columns)[:3] == ["lr", "act", "seed"] and len(g) == 2 * 3 * 2
    assert g["act"].tolist()[:6] == ["ab", "ab", "c", "c", "def", "def"]


def test_to_xarray_for_a_trial_space_and_a_grid():
    res = random_result()
    ds = res.to_xarray()
    assert ds["loss"].dims == ("trial", "seed") and ds["curve"].dims == ("trial", "seed", "curve_dim_0")
    np.testing.assert_array_equal(ds["loss"].values, res["loss"])
    np.testing.assert_array_equal(ds["curve"].values, res["curve"])
    np.testing.assert_array_equal(ds["trial"].values, np.arange(5))
    np.testing.assert_array_equal(ds["seed"].values, np.arange(2))
    assert ds["lr"].dims == ("trial",) and ds["act"].dims == ("trial",)
    np.testing.assert_array_equal(ds["lr"].values, res.coords["lr"])
    assert ds["act"].values.tolist() == res.coords["act"].tolist()
    assert ds["status"].values.tolist() == [[status.NAMES[s] for s in row] for row in res.status]
    np.testing.assert_array_equal(ds["diverged"].values, res.diverged)
    assert ds.attrs == res.meta
    # the labels select: a trial's loss by its hyperparameter value
    i = int(np.argmax(res.coords["lr"]))
    assert float(ds["loss"].where(ds["lr"] == res.coords["lr"].max(), drop=True)[0, 0]) == res["loss"][i, 0]

    g = grid_result()
    gs = g.to_xarray()
    assert gs["loss"].dims == ("lr", "act", "seed") and gs["curve"].dims == ("lr", "act", "seed", "curve_dim_0")
    np.testing.assert_array_equal(gs["lr"].values, [0.5, 2.0])
    assert gs["act"].values.tolist() == ["ab", "c", "def"]
    np.testing.assert_array_equal(gs["curve"].values, g["curve"])
    assert float(gs["loss"].sel(lr=2.0, act="def", seed=1)) == pytest.approx(6.0)
    assert gs.attrs == g.meta and "trial" not in gs.dims


def test_save_load_roundtrips_coords_status_and_space(tmp_path):
    import pandas as pd

    for name, res in (("random", random_result()), ("grid", grid_result())):
        d = tmp_path / name
        res.save(d)
        back = sweeps.SweepResult.load(d)
        assert_same(res, back)
        assert back.space == res.space and back.is_grid == (name == "grid")
        assert back.coords["act"].tolist() == res.coords["act"].tolist()
        assert back.status.dtype == np.int8 and back.seeds == 2
        assert back.meta["n_diverged"] == res.meta["n_diverged"] and back.log_scaled("lr") is False
        pd.testing.assert_frame_equal(back.to_pandas(), res.to_pandas())
        assert (d / "results.csv").read_text().splitlines()[0].endswith(",diverged,status")
    assert res.space == {"kind": "grid", "params": {"lr": {"dist": "choice", "args": [0.5, 2.0]},
                                                    "act": {"dist": "static", "args": ["ab", "c", "def"]}},
                         "static": ["act"]}
    lg = jaxnn.sweep(labeled_run, sweeps.random(2, lr=sweeps.loguniform(0.5, 2.0), act=sweeps.static(["x"])),
                     key=KEY, progress=False)
    lg.save(tmp_path / "log")
    assert sweeps.SweepResult.load(tmp_path / "log").log_scaled("lr") is True


def test_to_xarray_without_xarray_names_the_extra(monkeypatch):
    res = random_result(seeds=1)
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"xarray is needed here: pip install 'jaxnn\[labels\]'"):
        res.to_xarray()


def test_the_extra_named_for_labeled_results_exists_and_is_tested():
    """The ImportError above tells users `pip install 'jaxnn[labels]'`: that extra must exist and carry
    xarray and pandas, and the dev install (what CI runs) must include it, or to_xarray goes untested."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert "labels" in extras, sorted(extras)
    names = [re.split(r"[<>=\[ ]", r)[0] for r in extras["labels"]]
    assert "xarray" in names and "pandas" in names
    dev = " ".join(extras["dev"])
    assert re.search(r"jaxnn\[[^]]*\blabels\b", dev) or "xarray" in dev, extras["dev"]


# --- errors in the user's language ---------------------------------------------------------------------------------

def _private_names():
    return [n for n in dir(executor) if n.startswith("_") and not n.startswith("__")]


def test_fn_returning_a_string_names_fn_and_the_leaf(tmp_path):
    def named(key, lr, act):
        return {"loss": lr, "info": {"name": act}}
    space = sweeps.random(4, lr=sweeps.uniform(0.5, 1.0), act=sweeps.static(["relu"]))
    for kwargs in ({}, {"chunk_size": 2}, {"out_dir": tmp_path / "s"}):
        with pytest.raises(ValueError, match=r"^fn: returned str 'relu' at 'info/name'; expected a pytree of arrays "
                                             r"or numbers") as e:
            jaxnn.sweep(named, space, key=KEY, progress=False, **kwargs)
        msg = str(e.value)
        assert not any(n in msg for n in _private_names() + ["executor", "one at"]), msg


def test_python_if_on_a_traced_hyperparameter_names_them_and_the_two_fixes():
    def branchy(key, lr, mom, act):
        if lr > 0.5:
            return {"y": lr}
        return {"y": -lr * mom}
    space = sweeps.random(4, lr=sweeps.uniform(0.0, 1.0), mom=sweeps.uniform(0.0, 1.0), act=sweeps.static(["a"]))
    for kwargs in ({}, {"chunk_size": 2}):
        with pytest.raises(ValueError, match=r"^fn: it used a traced hyperparameter as a Python value") as e:
            jaxnn.sweep(branchy, space, key=KEY, progress=False, **kwargs)
        msg = str(e.value)
        assert "['lr', 'mom']" in msg and "'act'" not in msg  # the static one is a Python value
        assert "jnp.where" in msg and "sweeps.static([...])" in msg
        assert isinstance(e.value.__cause__, jax.errors.TracerBoolConversionError)

    def as_float(key, lr):
        return {"y": jnp.float32(float(lr))}
    with pytest.raises(ValueError, match=r"fn: it used a traced hyperparameter .*\['lr'\]"):
        jaxnn.sweep(as_float, {"lr": [0.1]}, key=KEY, progress=False)


def test_traced_hyperparameter_used_as_a_shape_is_explained_in_the_users_terms():
    """The commonest reason to need sweeps.static: a width given as a traced value.  The error should be
    the same ValueError as for an `if`, not JAX's TypeError naming the executor's inner function."""
    def widths(key, lr, hidden):
        return {"y": jnp.zeros(hidden).sum() + lr}
    with pytest.raises(ValueError, match=r"fn: it used a traced hyperparameter") as e:
        jaxnn.sweep(widths, {"lr": [1.0], "hidden": [2, 3]}, key=KEY, progress=False)
    msg = str(e.value)
    assert "'hidden'" in msg and "sweeps.static([...])" in msg and "executor.py" not in msg


def test_key_must_be_a_prng_key():
    for key in (0, np.arange(3), "0", jax.random.split(KEY, 2)):
        with pytest.raises(ValueError, match=r"^key: expected a (single )?PRNG key, e.g. jax.random.key\(0\)"):
            jaxnn.sweep(echo, {"lr": [1.0], "fold": [0]}, key=key, progress=False)
    with pytest.raises(ValueError, match=r"^key: expected a PRNG key, e.g. jax.random.key\(0\), got int 0$"):
        jaxnn.sweep(echo, sweeps.random(4, lr=sweeps.uniform(0, 1), fold=1), key=0, progress=False)


def _quoted_paths(msg):
    return [m.group(0) for m in re.finditer(r"(?<![\w.])(?:jaxnn|sweeps|jax|jnp)(?:\.[A-Za-z_]\w*)+", msg)]


def _resolves(path):
    head, rest = path.split(".", 1)
    root = {"jaxnn": jaxnn, "sweeps": sweeps, "jax": jax, "jnp": jnp}[head]
    try:
        operator.attrgetter(rest)(root)
    except AttributeError:
        return False
    return True


def test_init_distributed_error_names_the_arguments_and_a_path_that_works():
    with pytest.raises(ValueError, match=r"coordinator_address, num_processes, process_id: give all three") as e:
        jaxnn.init_distributed("127.0.0.1:1")
    msg = str(e.value)
    assert "'127.0.0.1:1', None, None" in msg
    paths = _quoted_paths(msg)
    assert [p for p in paths if p.startswith("jaxnn.")], f"no jaxnn path to call named in: {msg}"
    assert all(_resolves(p) for p in paths), paths


def test_every_path_quoted_in_an_error_or_warning_of_jaxnn_sweeps_resolves():
    """Every ``jaxnn.x.y`` / ``sweeps.x`` / ``jax.x`` / ``jnp.x`` a raise or warning in jaxnn/sweeps/**.py
    quotes is something the user can actually call."""
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "jaxnn", "sweeps", "**", "*.py"), recursive=True)):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            is_warn = (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
                       and getattr(node.func, "attr", getattr(node.func, "id", None)) == "warn")
            if isinstance(node, ast.Raise) or is_warn:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        for p in _quoted_paths(sub.value):
                            found.setdefault(p, f"{os.path.basename(path)}:{sub.lineno}")
    assert {"jaxnn.init_distributed", "jaxnn.sweep", "jax.random.key", "sweeps.static", "jnp.where"} <= set(found)
    bad = {p: where for p, where in found.items() if not _resolves(p)}
    assert not bad, bad


# --- run_table -----------------------------------------------------------------------------------------------------

def table_fn(key, p, lam):
    noise = jax.random.normal(key, (2,))
    return {"v": jnp.dot(p["w"], noise) * lam + p["b"], "u": jax.random.uniform(key), "wsum": p["w"].sum()}


def test_run_table_nested_rows_match_direct_calls():
    rows = {"p": {"w": np.arange(8.0).reshape(4, 2), "b": np.array([0.0, 1.0, -1.0, 2.0])},
            "lam": np.array([1.0, 0.5, 2.0, 0.0])}
    tr = sweeps.run_table(table_fn, rows, key=KEY, seeds=3, chunk_size=5)
    assert isinstance(tr, sweeps.TableResult)
    assert set(tr.leaves) == {"v", "u", "wsum"} and tr.leaves["v"].shape == (4, 3)
    assert tr.status.shape == (4, 3) and tr.status.dtype == np.int8 and (tr.status == status.OK).all()
    assert tr.meta["n_rows"] == 4 and tr.meta["seeds"] == 3 and tr.meta["n_runs"] == 12
    one = jax.jit(table_fn)
    for i in range(4):
        row = jax.tree_util.tree_map(lambda x, i=i: jnp.asarray(x[i], F32), rows)
        for s in range(3):
            direct = one(jax.random.fold_in(KEY, s), **row)
            for k in tr.leaves:
                np.testing.assert_allclose(tr.leaves[k][i, s], direct[k], rtol=1e-6, atol=1e-7, err_msg=(i, s, k))
    np.testing.assert_array_equal(tr.leaves["u"], np.broadcast_to(tr.leaves["u"][:1], (4, 3)))
    np.testing.assert_allclose(tr.leaves["wsum"][:, 0], [1.0, 5.0, 9.0, 13.0])


def test_run_table_with_data_static_and_status():
    def fn(key, data, x, mode):
        assert mode == "shift"
        y = data["a"] @ x + 1.0
        return {"y": y, "invalid": x.sum() < 0}
    rows = {"x": np.array([[1.0, 2.0], [-3.0, 1.0], [0.5, 0.5]])}
    tr = sweeps.run_table(fn, rows, key=KEY, data={"a": jnp.array([[1.0, 0.0], [0.0, 2.0]])},
                          static={"mode": "shift"})
    assert tr.leaves["y"].shape == (3, 1, 2)
    np.testing.assert_allclose(tr.leaves["y"][[0, 2], 0], [[2.0, 5.0], [1.5, 2.0]])
    assert np.isnan(tr.leaves["y"][1]).all()
    assert tr.status[:, 0].tolist() == [status.OK, status.INVALID, status.OK] and tr.meta["n_invalid"] == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(rows=[np.ones(3)]), r"rows: expected a non-empty dict \{name: arrays with a leading run axis\}"),
    (dict(rows={}), r"rows: expected a non-empty dict"),
    (dict(rows={"p": {"w": np.ones((3, 2)), "b": np.ones(2)}, "lam": np.ones(3)}),
     r"rows: expected every leaf to have the same leading \(run\) axis, got lengths \{2, 3\}"),
    (dict(rows={"p": {"w": np.ones((3, 2)), "b": 1.0}, "lam": np.ones(3)}),
     r"rows: expected every leaf to have the same leading \(run\) axis"),
    (dict(key=0), r"key: expected a PRNG key, e.g. jax.random.key\(0\), got int 0"),
    (dict(seeds=0), r"seeds"),
    (dict(rows={"p": {"w": np.ones((3, 2)), "b": np.ones(3)}}), r"fn: cannot be called as fn\(key, p=...\)"),
    (dict(static={"mode": 1}), r"fn: cannot be called as fn\(key, p=..., lam=..., mode=...\)"),
])
def test_run_table_bad_arguments_raise_named_errors(kwargs, match):
    args = dict(rows={"p": {"w": np.ones((3, 2)), "b": np.ones(3)}, "lam": np.ones(3)}, key=KEY)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweeps.run_table(table_fn, **args)
