"""Tests for jaxnn.sweep: grid layout, common random numbers, caching, chunking, divergence, files,
resume (also after SIGKILL), several devices and two processes (subprocesses)."""

import functools
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import xla_flags

import jaxnn
from jaxnn import sweeps
from jaxnn.sweeps import SweepResult, grid_configs, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "_sweep_worker.py")
_spec = importlib.util.spec_from_file_location("_sweep_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
KEY = jax.random.key(0)
TRACES = {"n": 0}


def xor_run(key, scale, lr):
    TRACES["n"] += 1  # Python side effect: counts traces, not executions
    params = jaxnn.init_mlp(key, [2, 3, 1], scale=scale)
    params, hist = jaxnn.train(params, X, Y, lr=lr, steps=60)
    return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"],
            "W0": params[0]["W"]}


def init_draw(key, scale, lr, fold):
    """No training: the init draw and the hyperparameters echoed back (cheap to compile)."""
    params = jaxnn.init_mlp(key, [2, 3, 1], scale=1.0)
    return {"W": params[0]["W"] * scale, "lr": lr, "fold": fold, "u": jax.random.uniform(key)}


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in e.get("PYTHONPATH", "").split(os.pathsep) if p])
    e["XLA_FLAGS"] = xla_flags()
    e["JAX_PLATFORMS"] = "cpu"
    return e


def assert_same(a: SweepResult, b: SweepResult, rtol=0.0, atol=0.0):
    assert list(a.axes) == list(b.axes)
    for k in a.axes:
        np.testing.assert_array_equal(a.axes[k], b.axes[k])
    assert sorted(a.metrics) == sorted(b.metrics)
    for k in a.metrics:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)
    np.testing.assert_array_equal(a.diverged, b.diverged)


# --- layout ----------------------------------------------------------------------------------------

def test_shapes_axes_rows_and_int_axis():
    grid = {"scale": [0.0, 0.5, 2.0], "lr": [0.1, 1.0], "fold": [0, 1, 2, 3]}
    res = sweep(init_draw, grid, key=KEY, seeds=2, progress=False)
    assert list(res.axes) == ["scale", "lr", "fold"]
    assert res.shape == (3, 2, 4, 2)
    assert res["W"].shape == (3, 2, 4, 2, 3, 2)
    assert res["lr"].shape == (3, 2, 4, 2)
    # every run got its own configuration: the echoed values equal the grid, the fold axis as int32
    np.testing.assert_allclose(res["lr"], np.broadcast_to(np.array([0.1, 1.0])[None, :, None, None], res.shape),
                               rtol=1e-7)
    assert res["fold"].dtype == np.int32
    np.testing.assert_array_equal(res["fold"], np.broadcast_to(np.arange(4)[None, None, :, None], res.shape))
    rows = list(res.rows())
    assert len(rows) == 3 * 2 * 4 * 2
    assert (rows[0]["scale"], rows[0]["lr"], rows[0]["fold"], rows[0]["seed"]) == (0.0, 0.1, 0, 0)
    r = rows[1 * 16 + 1 * 8 + 2 * 2 + 1]  # scale 0.5, lr 1.0, fold 2, seed 1
    assert (r["scale"], r["lr"], r["fold"], r["seed"]) == (0.5, 1.0, 2, 1)
    assert r["fold"] == 2 and isinstance(r["fold"], int)
    # non-scalar metrics stay out of rows; metrics named like an axis get a "metric/" prefix
    assert set(r) == {"scale", "lr", "fold", "seed", "metric/lr", "metric/fold", "u", "diverged", "status"}
    assert r["status"] == "ok"
    assert r["metric/fold"] == 2 and r["metric/lr"] == pytest.approx(1.0)
    assert r["u"] == pytest.approx(float(res["u"][1, 1, 2, 1]))
    assert res.meta["n_runs"] == 48 and res.meta["devices"] == len(jax.devices())
    for k in ("devices", "chunk_size", "n_diverged", "jax", "jaxlib", "jaxnn"):
        assert k in res.meta
    cfg = grid_configs(grid)
    assert cfg["scale"].shape == (24,) and cfg["fold"][:4].tolist() == [0, 1, 2, 3]


def test_common_random_numbers_and_seed_keys():
    res = sweep(init_draw, {"scale": [1.0, 3.0], "lr": [0.1, 1.0], "fold": [0]}, key=KEY, seeds=3, progress=False)
    W = res["W"]  # (2, 2, 1, 3, 3, 2)
    # seed s: the same draw in every configuration (scaled by its scale)
    np.testing.assert_allclose(W[1], 3.0 * W[0], rtol=1e-6)
    np.testing.assert_array_equal(W[:, 0], W[:, 1])
    np.testing.assert_array_equal(res["u"][0, 0, 0], res["u"][1, 1, 0])
    # different seeds, different draws; seed s is fold_in(key, s)
    assert len(set(np.round(res["u"][0, 0, 0], 6).tolist())) == 3
    expected = init_draw(jax.random.fold_in(KEY, 2), 1.0, 0.1, 0)["W"]
    np.testing.assert_allclose(W[0, 0, 0, 2], expected, rtol=1e-6)


def test_matches_direct_calls_and_does_not_depend_on_rest_of_grid():
    full = sweep(xor_run, {"scale": [0.1, 1.0], "lr": [0.5, 2.0]}, key=KEY, seeds=2, progress=False)
    one = jax.jit(xor_run)
    for i, scale in enumerate([0.1, 1.0]):
        for j, lr in enumerate([0.5, 2.0]):
            for s in range(2):
                direct = one(jax.random.fold_in(KEY, s), jnp.float32(scale), jnp.float32(lr))
                np.testing.assert_allclose(full["loss"][i, j, s], direct["loss"], rtol=1e-5, atol=1e-7)
    sub = sweep(xor_run, {"scale": [1.0], "lr": [2.0]}, key=KEY, seeds=2, progress=False)
    np.testing.assert_allclose(sub["loss"][0, 0], full["loss"][1, 1], rtol=1e-5, atol=1e-7)


def test_same_key_same_numbers_and_no_recompile():
    grid = {"scale": [0.1, 0.5, 1.0], "lr": [0.5, 1.0]}
    TRACES["n"] = 0
    a = sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=4, progress=False)
    first = TRACES["n"]
    assert first == 1  # one trace of the vmapped function for all 12 runs
    b = sweep(xor_run, {"scale": [0.2, 0.3, 0.4], "lr": [0.1, 0.2]}, key=KEY, seeds=2, chunk_size=4,
              progress=False)
    c = sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=4, progress=False)
    assert TRACES["n"] == first  # same fn, same shapes: cached, not retraced
    assert b.meta["compile_s"] == 0.0
    assert_same(a, c)
    assert not np.allclose(a["final_loss"], b["final_loss"])
    # the automatic chunk size is also cached
    sweep(xor_run, grid, key=KEY, seeds=2, progress=False)
    n = TRACES["n"]
    sweep(xor_run, grid, key=KEY, seeds=2, progress=False)
    assert TRACES["n"] == n


def test_chunk_sizes_and_memory_budget_agree():
    grid = {"scale": [0.1, 0.5, 1.0], "lr": [0.5, 1.0]}
    ref = sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=12, progress=False)
    assert ref.meta["n_chunks"] == 1
    for k in (1, 5):
        res = sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=k, progress=False)
        assert res.meta["chunk_size"] == k and res.meta["n_chunks"] == -(-12 // k)
        assert_same(res, ref, rtol=1e-5, atol=1e-7)
    small = sweep(xor_run, grid, key=KEY, seeds=2, memory_budget=1.0, progress=False)
    assert small.meta["chunk_size"] == len(jax.devices())  # nothing fits: one run per device
    assert_same(small, ref, rtol=1e-5, atol=1e-7)
    big = sweep(xor_run, grid, key=KEY, seeds=2, progress=False)
    assert big.meta["chunk_size"] >= small.meta["chunk_size"]
    assert big.meta["memory_per_chunk_bytes"] > 0


def until_run(key, n, growth):
    """A while_loop whose trip count is the run's own (traced) hyperparameter."""
    def body(c):
        i, v = c
        return i + 1, v * growth + jax.random.uniform(jax.random.fold_in(key, i))
    steps, value = jax.lax.while_loop(lambda c: c[0] < n, body, (0, 1.0))
    return {"steps": steps, "value": value}


def test_one_run_per_device_equals_the_vmapped_chunk():
    """With one run per device a chunk runs the run itself, not its vmap (whose while_loop would select
    between carries at each step): the same numbers as runs vmapped together, whatever the chunk."""
    grid = {"n": [0, 1, 3, 7, 12, 30], "growth": [0.5, 1.5]}
    n_dev = len(jax.devices())
    one = sweep(until_run, grid, key=KEY, chunk_size=n_dev, progress=False)
    many = sweep(until_run, grid, key=KEY, chunk_size=4 * n_dev, progress=False)
    assert one.meta["chunk_size"] == n_dev and many.meta["chunk_size"] == 4 * n_dev
    assert_same(one, many)
    np.testing.assert_array_equal(one["steps"].reshape(6, 2), np.repeat(np.array(grid["n"])[:, None], 2, axis=1))
    from jaxnn.sweeps import executor

    run = lambda row, kd, data: until_run(jax.random.wrap_key_data(kd), **row)  # noqa: E731
    for k in (1, 2):  # the vmapped loop's carry selects are lowered into the program only for k > 1
        rows, kd = {"n": jnp.zeros(k, jnp.int32), "growth": jnp.ones(k)}, jax.random.key_data(jax.random.split(KEY, k))
        text = jax.jit(executor._batched(run, k)).lower(rows, kd, None).as_text()
        assert ("stablehlo.select" in text) == (k > 1)


# --- divergence --------------------------------------------------------------------------------------

def test_divergence_is_recorded_and_isolated():
    grid = {"scale": [0.5, 1.0], "lr": [0.5, 1e30]}
    res = sweep(xor_run, grid, key=KEY, seeds=2, progress=False, directions={"final_loss": "min"})
    assert res.diverged[:, 1].all() and not res.diverged[:, 0].any()
    assert res.meta["n_diverged"] == 4 == res.n_diverged and res.meta["n_configs_diverged"] == 2
    assert (res["diverged_at"][:, 1] >= 0).all()
    ok = sweep(xor_run, {"scale": [0.5, 1.0], "lr": [0.5]}, key=KEY, seeds=2, progress=False)
    np.testing.assert_allclose(res["loss"][:, :1], ok["loss"], rtol=1e-5, atol=1e-7)
    m = res.mean("final_loss")
    assert np.isnan(m[:, 1]).all() and np.isfinite(m[:, 0]).all()
    assert res.best("final_loss")["lr"] == 0.5 and res.best() == res.best("final_loss", mode="min")
    rows = list(res.rows())
    assert sum(r["diverged"] for r in rows) == 4


def test_non_finite_output_without_diverged_at_counts_as_diverged():
    def f(key, x):
        return {"y": jnp.log(x) * jnp.ones(3)}  # log(-1) = nan, log(0) = -inf
    res = sweep(f, {"x": [-1.0, 0.0, 1.0, 2.0]}, key=KEY, progress=False)
    assert res.diverged[:, 0].tolist() == [True, True, False, False]
    assert res.meta["n_diverged"] == 2


# --- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(grid=[("lr", [1.0])]), "grid"),
    (dict(grid={}), "grid"),
    (dict(grid={"lr": []}), r"grid\['lr'\]"),
    (dict(grid={"lr": ["a", "b"]}), r"grid\['lr'\]"),
    (dict(grid={"lr": [[1.0, 2.0]]}), r"grid\['lr'\]"),
    (dict(grid={"lr": [1.0, float("nan")]}), "finite"),
    (dict(grid={"key": [1.0]}), "grid"),
    (dict(grid={"lr": [1.0], "momentum": [0.9]}), "fn"),
    (dict(seeds=0), "seeds"),
    (dict(seeds=1.5), "seeds"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(key=0), "key"),
    (dict(key=jax.random.split(KEY, 2)), "key"),
    (dict(memory_budget=-1), "memory_budget"),
    (dict(progress="yes"), "progress"),
    (dict(fn=3), "fn"),
    (dict(coordinator_address="127.0.0.1:1"), "num_processes"),
    (dict(coordinator_address="127.0.0.1", num_processes=2, process_id=0), "coordinator_address: expected 'host"),
    (dict(devices=[jax.devices()[0]] * 2), "devices: expected each device once"),
    (dict(devices=["cpu:0"]), "devices: expected jax devices"),
    (dict(devices=0), "devices: expected a list of jax devices"),
])
def test_bad_arguments_raise_named_errors(kwargs, match):
    args = dict(fn=lambda key, lr: {"lr": lr}, grid={"lr": [1.0]}, key=KEY)
    args.update(kwargs)
    fn, grid = args.pop("fn"), args.pop("grid")
    with pytest.raises(ValueError, match=match):
        sweep(fn, grid, **args)


def test_one_device_alone_is_a_list_of_it():
    one = sweep(lambda key, lr: {"lr": lr}, {"lr": [1.0, 2.0]}, key=KEY, devices=jax.devices()[0], progress=False)
    assert one.meta["devices"] == 1 and one["lr"].tolist() == [[1.0], [2.0]]
    rng = np.random.default_rng(0)  # and in a search of a trainable, which sizes its bank by the devices too
    X = rng.normal(size=(12, 2)).astype(np.float32)
    data = {"X": X, "Y": np.eye(2, dtype=np.float32)[(X[:, 0] > 0).astype(int)]}
    mlp = jaxnn.trainable([2, 2, 2], output_activation="softmax", loss="cross_entropy")
    res = sweeps.search(mlp, {"lr": sweeps.loguniform(0.1, 1.0)}, trials=2, batch=2, steps=2, key=KEY, data=data,
                        metric="loss", mode="min", devices=jax.devices()[0], progress=False)
    assert res.meta["devices"] == 1 and len(res.final) == 2


# --- files, resume, provenance ------------------------------------------------------------------------------

def test_save_load_csv_roundtrip(tmp_path):
    res = sweep(xor_run, {"scale": [0.5, 1.0], "lr": [0.5, 1e30]}, key=KEY, seeds=2, progress=False)
    res.save(tmp_path)
    back = SweepResult.load(tmp_path)
    assert_same(res, back)
    assert back.seeds == 2 and back.meta["n_diverged"] == res.meta["n_diverged"]
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == "scale,lr,seed,diverged_at,final_loss,diverged,status"
    assert len(lines) == 1 + 8
    first = lines[1].split(",")
    assert float(first[0]) == 0.5 and float(first[1]) == 0.5 and first[2] == "0"
    assert float(first[4]) == pytest.approx(float(res["final_loss"][0, 0, 0]), rel=1e-6)
    with pytest.raises(FileNotFoundError):
        SweepResult.load(tmp_path / "missing")


def test_out_dir_resume_refuse_and_provenance(tmp_path, capsys):
    d = tmp_path / "sweep"
    grid = {"scale": [0.1, 0.5, 1.0], "lr": [0.5, 1.0]}
    a = sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=5, out_dir=d, progress=False, command="python x.py")
    assert sorted(os.listdir(d / "chunks")) == ["chunk-00000.npz", "chunk-00001.npz", "chunk-00002.npz"]
    for f in ("manifest.json", "results.npz", "results.csv", "meta.json"):
        assert (d / f).exists()
    manifest = json.loads((d / "manifest.json").read_text())
    prov = manifest["provenance"]
    assert prov["command"] == "python x.py"
    assert set(prov["versions"]) >= {"jax", "jaxlib", "optax", "jaxnn"}
    assert "git_commit" in prov
    assert manifest["identity"]["space"]["axes"] == {"scale": [0.1, 0.5, 1.0], "lr": [0.5, 1.0]}
    # remove one chunk: a rerun computes only that one and says it skipped the others
    os.remove(d / "chunks" / "chunk-00001.npz")
    capsys.readouterr()
    b = sweep(xor_run, grid, key=KEY, seeds=2, out_dir=d, progress=False)
    assert "skipped 2 of 3 finished chunks" in capsys.readouterr().err
    assert b.meta["chunks_skipped"] == 2 and b.meta["chunk_size"] == 5  # the stored chunk size
    assert_same(a, b)
    c = sweep(xor_run, grid, key=KEY, seeds=2, out_dir=d, progress=False)
    assert c.meta["chunks_skipped"] == 3 and c.meta["compile_s"] == 0.0
    assert_same(a, c)
    # a different sweep in the same directory is refused, naming what changed
    with pytest.raises(ValueError, match="changed: grid"):
        sweep(xor_run, {"scale": [0.1, 0.5, 2.0], "lr": [0.5, 1.0]}, key=KEY, seeds=2, out_dir=d, progress=False)
    with pytest.raises(ValueError, match="changed: number of seeds"):
        sweep(xor_run, grid, key=KEY, seeds=3, out_dir=d, progress=False)
    with pytest.raises(ValueError, match="changed: chunk size"):
        sweep(xor_run, grid, key=KEY, seeds=2, chunk_size=4, out_dir=d, progress=False)

    def other_code(key, scale, lr):  # same signature, different computation (more steps)
        params = jaxnn.init_mlp(key, [2, 3, 1], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, steps=61)
        return {"final_loss": hist["loss"][-1]}
    with pytest.raises(ValueError, match="changed: code"):
        sweep(other_code, grid, key=KEY, seeds=2, out_dir=d, progress=False)
    assert_same(SweepResult.load(d), a)  # nothing was overwritten


def test_progress_bar_and_callback(capsys):
    calls = []
    sweep(init_draw, {"scale": [1.0, 2.0], "lr": [0.1], "fold": [0, 1, 2]}, key=KEY, chunk_size=2,
          progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    sweep(init_draw, {"scale": [1.0, 2.0], "lr": [0.1], "fold": [0, 1, 2]}, key=KEY, chunk_size=2, progress=True)
    err = capsys.readouterr().err
    assert "sweep" in err and "3/3" in err and "configs/s" in err


# --- subprocesses: SIGKILL + resume, 4 devices, 2 processes ----------------------------------------------

def reference(chunk_size=None):
    return sweep(worker.make_fn(), worker.GRID, key=jax.random.key(0), seeds=worker.SEEDS, chunk_size=chunk_size,
                 progress=False)


def run_worker(args, extra_env=None, timeout=240):
    e = env()
    e.update(extra_env or {})
    return subprocess.run([sys.executable, WORKER, *args], env=e, capture_output=True, text=True, timeout=timeout)


def finished(chunks):
    return [f for f in os.listdir(chunks) if f.startswith("chunk-") and f.endswith(".npz")]


def test_sigkill_mid_way_then_resume_is_identical(tmp_path):
    d = tmp_path / "run"
    p = subprocess.Popen([sys.executable, WORKER, str(tmp_path / "unused"), "--out-dir", str(d), "--chunk-size",
                          "2", "--sleep", "1.5"], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chunks = d / "chunks"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if chunks.exists() and len(finished(chunks)) >= 2:
            break
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    n_done = len(finished(chunks))
    assert 2 <= n_done < 6
    assert not (d / "results.npz").exists()
    out = run_worker([str(tmp_path / "resumed"), "--out-dir", str(d), "--chunk-size", "2"])
    assert out.returncode == 0, out.stderr
    assert f"skipped {n_done} of 6 finished chunks" in out.stderr
    resumed = SweepResult.load(tmp_path / "resumed")
    assert resumed.meta["chunks_skipped"] == n_done
    assert_same(resumed, reference(chunk_size=2))  # bit for bit
    assert sorted(os.listdir(chunks)) == [f"chunk-{i:05d}.npz" for i in range(6)]  # no stale temporary files


def test_four_devices_equal_one_device(tmp_path):
    """One 4-device process runs the grid (chunks of 5, padded to 8) and the random space with a static axis
    (chunks of 3): each equals its one-device sweep."""
    out = run_worker([str(tmp_path / "r4-{space}"), "--space", "grid,random", "--chunk-size", "5,3"],
                     {"XLA_FLAGS": xla_flags(4)})
    assert out.returncode == 0, out.stderr
    res4 = SweepResult.load(tmp_path / "r4-grid")
    assert res4.meta["devices"] == 4 and res4.meta["chunk_size"] == 5 and res4.meta["chunk_size_padded"] == 8
    assert_same(res4, reference(), rtol=1e-5, atol=1e-6)
    ref = static_reference()
    res4 = SweepResult.load(tmp_path / "r4-random")
    assert res4.meta["devices"] == 4
    assert_same(res4, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res4.coords["hidden"], ref.coords["hidden"])


@functools.lru_cache(maxsize=None)
def static_reference():
    """The random space with a static axis (two compiled groups), on one device (once per process)."""
    ref = sweep(worker.make_static_fn(), worker.make_space(), key=jax.random.key(0), seeds=worker.SEEDS,
                progress=False)
    assert ref.meta["compiles"] == 2 and [g["static"] for g in ref.meta["groups"]] in (
        [{"hidden": 2}, {"hidden": 3}], [{"hidden": 3}, {"hidden": 2}])
    return ref


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(args):
    """The worker as two processes of one jax.distributed run on 127.0.0.1; their (stdout, stderr)."""
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, WORKER, *args, "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_o, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return outs


def test_two_processes_equal_one_process(tmp_path):
    """One pair of processes (one device each) runs the grid (chunks of 3) and the random space with a static
    axis: each equals its one-process sweep."""
    outs = run_two_processes([str(tmp_path / "r2-{space}"), "--space", "grid,random", "--chunk-size", "3,none"])
    res2 = SweepResult.load(tmp_path / "r2-grid")
    assert res2.meta["processes"] == 2 and res2.meta["devices"] == 2
    assert outs[1][0].count("done 1 2 2") == 2
    assert_same(res2, reference(), rtol=1e-5, atol=1e-6)
    res2 = SweepResult.load(tmp_path / "r2-random")
    assert res2.meta["processes"] == 2
    assert_same(res2, static_reference(), rtol=1e-5, atol=1e-6)


def test_use_cpu_cores_before_and_after_backend_start():
    from jaxnn.sweeps import use_cpu_cores

    assert use_cpu_cores(3) is False  # this process's backend is already running
    code = ("from jaxnn.sweeps import use_cpu_cores; ok = use_cpu_cores(3); import jax; "
            "print(ok, len(jax.devices()))")
    out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "3"]


# --- shared data as an argument ----------------------------------------------------------------------

def xor_run_data(key, data, scale, lr):
    """xor_run with the dataset passed by sweep(data=...) instead of closed over."""
    TRACES["n"] += 1
    params = jaxnn.init_mlp(key, [2, 3, 1], scale=scale)
    params, hist = jaxnn.train(params, data["X"], data["Y"], lr=lr, steps=60)
    return {"final_loss": hist["loss"][-1], "loss": hist["loss"], "diverged_at": hist["diverged_at"],
            "W0": params[0]["W"]}


def test_data_argument_matches_closure_and_reuses_the_compiled_function(tmp_path):
    grid = {"scale": [0.1, 1.0], "lr": [0.5, 2.0]}
    closed = sweep(xor_run, grid, key=KEY, seeds=2, progress=False)
    first = sweep(xor_run_data, grid, key=KEY, seeds=2, progress=False, data={"X": X, "Y": Y})
    assert_same(first, closed, rtol=1e-6, atol=1e-7)
    # other values, same shapes: no new trace or compile, and the results follow the new data
    Y2 = 1.0 - Y
    traces = TRACES["n"]
    second = sweep(xor_run_data, grid, key=KEY, seeds=2, progress=False, data={"X": X, "Y": Y2})
    assert TRACES["n"] == traces and second.meta["compile_s"] == 0.0
    params = jaxnn.init_mlp(jax.random.fold_in(KEY, 1), [2, 3, 1], scale=1.0)
    _, hist = jaxnn.train(params, X, Y2, lr=2.0, steps=60)
    np.testing.assert_allclose(second["final_loss"][1, 1, 1], hist["loss"][-1], rtol=1e-5)
    assert not np.allclose(second["final_loss"], first["final_loss"])
    # out_dir: the data's values belong to the sweep's identity
    d = tmp_path / "s"
    sweep(xor_run_data, grid, key=KEY, progress=False, data={"X": X, "Y": Y}, out_dir=d)
    again = sweep(xor_run_data, grid, key=KEY, progress=False, data={"X": X, "Y": Y}, out_dir=d)
    assert again.meta["chunks_skipped"] >= 1
    with pytest.raises(ValueError, match="different sweep"):
        sweep(xor_run_data, grid, key=KEY, progress=False, data={"X": X, "Y": Y2}, out_dir=d)


def test_data_argument_validation():
    grid = {"scale": [0.1], "lr": [0.5]}
    with pytest.raises(ValueError, match=r"fn: data= was given, so fn is called as fn\(key, data, scale, lr\), but "
                                         r"xor_run\(key, scale, lr\) has no data parameter"):
        sweep(xor_run, grid, key=KEY, progress=False, data={"X": X})
    with pytest.raises(ValueError, match="data: expected a pytree of arrays"):
        sweep(xor_run_data, grid, key=KEY, progress=False, data={"X": X, "Y": "labels"})


def test_old_module_paths_keep_working():
    """jaxnn/sweep.py, results.py and plot.py only re-export the canonical jaxnn.sweeps objects."""
    import jaxnn.plot as old_plot
    from jaxnn import sweeps
    from jaxnn.results import SweepResult as OldResult
    from jaxnn.sweep import SweepResult as OlderResult
    from jaxnn.sweep import sweep as old_sweep

    assert old_sweep is sweeps.sweep and OldResult is OlderResult is sweeps.SweepResult
    assert old_plot.heatmap is sweeps.plot.heatmap and old_plot.rungs is sweeps.plot.rungs


def test_every_process_needs_one_of_the_devices(monkeypatch):
    from jaxnn.sweeps import executor

    monkeypatch.setattr(jax, "process_count", lambda: 2)  # as if a second process held no device of the list
    with pytest.raises(ValueError, match=r"devices: with 2 processes every process needs a device among them "
                                         r"\(processes \[1\] have none\)"):
        executor.mesh_of(jax.devices())
