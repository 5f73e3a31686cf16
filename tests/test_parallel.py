"""Data-parallel training (jaxnn.parallel, train's data_parallel): the padded, weighted objective is the
plain one; with 2 and 4 CPU devices (subprocesses) the sharded run equals the one-device run to
rounding, full batch and minibatch, padded or not; the default rule; the errors."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import xla_flags

import jaxnn
from jaxnn import parallel
from jaxnn.backprop import value_and_backprop_cols
from jaxnn.losses import objective_cols

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "_parallel_worker.py")
MODES = ("dp", "one", "default")


def _problem(m=9, sizes=(3, 4, 2), key=0):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_mlp(k1, list(sizes), scale=0.5)
    X = jax.random.normal(k2, (m, sizes[0]))
    Y = jax.random.uniform(k3, (m, sizes[-1]))
    return params, X, Y


@pytest.mark.parametrize("loss, out", [("squared", None), ("cross_entropy", "softmax"), ("cross_entropy", "sigmoid")])
def test_padded_samples_of_weight_zero_change_nothing(x64, loss, out):
    params, X, Y = _problem()
    if out == "softmax":
        Y = Y / Y.sum(1, keepdims=True)
    args = (1e-2, "tanh", out, loss)
    XT = jnp.pad(X.T, ((0, 0), (0, 3)))  # three zero samples
    YT = jnp.pad(Y.T, ((0, 0), (0, 3)))
    w = parallel.sample_weights(12, 9, XT.dtype)
    np.testing.assert_array_equal(w, [1 / 9] * 9 + [0.0] * 3)
    J, g = value_and_backprop_cols(params, X.T, Y.T, *args)
    Jw, gw = value_and_backprop_cols(params, XT, YT, *args, w)
    np.testing.assert_allclose(Jw, J, rtol=1e-13)
    np.testing.assert_allclose(objective_cols(params, XT, YT, *args, w), J, rtol=1e-13)
    for a, b in zip(jax.tree_util.tree_leaves(gw), jax.tree_util.tree_leaves(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    ga = jax.grad(objective_cols)(params, XT, YT, *args, w)
    for a, b in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_one_device_default_and_errors():
    params, X, Y = _problem(m=600)
    assert jax.local_device_count() == 1  # the suite runs on one device; subprocesses below use more
    _, h = jaxnn.train(params, X, Y, lr=0.1, steps=2)
    assert "devices" not in h  # only a data-parallel run records its device count
    with pytest.raises(ValueError, match="data_parallel: True needs more than one local device, found 1"):
        jaxnn.train(params, X, Y, lr=0.1, steps=2, data_parallel=True)
    with pytest.raises(ValueError, match="data_parallel: expected None, True or False, got 'yes'"):
        jaxnn.train(params, X, Y, lr=0.1, steps=2, data_parallel="yes")
    with pytest.raises(ValueError, match="data_parallel: True needs concrete inputs"):
        jax.vmap(lambda lr: jaxnn.train(params, X, Y, lr=lr, steps=2, data_parallel=True))(jnp.array([0.1]))


def test_default_rule_on_one_device():
    n = parallel.MIN_SAMPLES_PER_DEVICE
    for dp in (None, False):
        assert parallel.n_devices(dp, traced=False, full=True, m=10 * n, layer_weights=100) == 1


def test_default_policy_from_the_environment(monkeypatch):
    monkeypatch.delenv(parallel.POLICY_ENV, raising=False)
    assert parallel.default_policy() == "on"
    for value, policy in (("off", "off"), (" ON ", "on"), ("auto", "auto"), ("", "on")):
        monkeypatch.setenv(parallel.POLICY_ENV, value)
        assert parallel.default_policy() == policy
    monkeypatch.setenv(parallel.POLICY_ENV, "sometimes")
    with pytest.raises(ValueError, match="JAXNN_DATA_PARALLEL: expected one of auto, on, off, got 'sometimes'"):
        parallel.default_policy()


def test_shape_class_rounds_up_to_powers_of_two():
    assert parallel.shape_class(2, 1797, 6400) == (2, 2048, 8192)
    assert parallel.shape_class(2, 2048, 8192) == (2, 2048, 8192)
    assert parallel.shape_class(4, 2049, 1) == (4, 4096, 1)


def test_calibration_runs_once_per_shape_class(monkeypatch):
    built = []
    probe = parallel._probe

    def counting(mesh, m, layer_weights, steps):
        built.append((mesh is not None, m, layer_weights))
        return probe(mesh, m, layer_weights, steps)

    monkeypatch.setattr(parallel, "_probe", counting)
    monkeypatch.setattr(parallel, "_CALIBRATION", {})
    first = parallel.calibrate(1, 300, 64, steps=4, repeats=2)  # one device: the mesh of 1 is the probe's
    assert set(first) == {"one", "sharded", "devices", "seconds"} and first["devices"] == 1
    assert first["one"] > 0 and first["sharded"] > 0 and first["seconds"] > 0
    assert built == [(False, 300, 64), (True, 300, 64)]
    assert parallel.calibrate(1, 500, 50, steps=4) == first  # same class (1, 512, 64): measured once
    assert len(built) == 2
    assert parallel.calibration() == {(1, 512, 64): first}
    parallel.calibration()[(1, 512, 64)]["devices"] = 7  # a copy
    assert parallel.calibrate(1, 300, 64)["devices"] == 1


def test_choose_keeps_one_device_only_when_clearly_faster():
    assert parallel.CALIBRATION_MARGIN == 0.05
    assert parallel.choose(100.0, 100.0, 2) == 2  # a tie: the sharded form
    assert parallel.choose(104.0, 100.0, 4) == 4  # within the margin
    assert parallel.choose(106.0, 100.0, 2) == 1
    assert parallel.choose(90.0, 100.0, 2) == 2


def test_probe_steps_descend_on_one_device():
    losses = np.asarray(parallel._probe(None, 40, 9, 20)())
    assert losses.shape == (20,) and np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def _env(devices, policy="on"):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in e.get("PYTHONPATH", "").split(os.pathsep) if p])
    e["XLA_FLAGS"] = xla_flags(devices)
    e["JAX_PLATFORMS"] = "cpu"
    e[parallel.POLICY_ENV] = policy  # "on": the region's rule, deterministic (the worker also checks auto and off)
    return e


# 2 devices: every case; 4: the ones whose padding or rule differs (uneven shares, minibatches, the default)
CASES_4 = ("full_padded", "softmax_ce_padded", "minibatch", "big_default")


@pytest.mark.parametrize("devices", [2, 4])
def test_sharded_training_equals_one_device(tmp_path, devices):
    out = tmp_path / "res.npz"
    only = [] if devices == 2 else [",".join(CASES_4)]
    proc = subprocess.run([sys.executable, WORKER, str(out), *only], env=_env(devices), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = dict(np.load(out))
    assert int(r["checks/n_devices"]) == devices
    cases = sorted({k.split("/")[0] for k in r if not k.startswith("checks/")})
    assert len(cases) == (9 if devices == 2 else len(CASES_4))
    np.testing.assert_array_equal(r["checks/rule"], [devices, 1, 1, 1, 1, devices])
    for case in cases:
        keys = sorted(k.split("/", 2)[2] for k in r if k.startswith(f"{case}/one/"))
        assert int(r[f"{case}/dp/devices"]) == devices and int(r[f"{case}/one/devices"]) == 1
        expected_default = devices if case == "big_default" else 1  # small or minibatch: one device
        assert int(r[f"{case}/default/devices"]) == expected_default, case
        for k in keys:
            if k == "devices":
                continue
            a, b = r[f"{case}/dp/{k}"], r[f"{case}/one/{k}"]
            if case == "diverges":
                if k == "diverged_at":
                    assert a >= 0 and b >= 0
                continue
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5, err_msg=f"{case} {k}")  # adam: g / sqrt(v)
            np.testing.assert_allclose(r[f"{case}/default/{k}"], b, rtol=2e-5, atol=1e-5, err_msg=f"{case} {k}")
        assert np.isfinite(r[f"{case}/dp/forward"]).all()
    # under an outer trace (vmap, jaxnn.sweep) train is the one-device train of today
    assert bool(r["checks/vmap_one_device"])
    np.testing.assert_allclose(r["checks/vmap_loss"], r["checks/plain_loss"], rtol=1e-5)
    np.testing.assert_allclose(r["checks/sweep_loss"], r["checks/plain_loss"], rtol=1e-5)
    assert bool(r["checks/traced_true_raises"])
    # JAXNN_DATA_PARALLEL=off: never sharded by default; auto: the calibrated choice, measured once
    np.testing.assert_array_equal(r["checks/rule_off"], [1, 1, devices])
    assert int(r["checks/auto_devices"]) in (1, devices)
    assert int(r["checks/auto_devices"]) == int(r["checks/auto_again"]) == int(r["checks/auto_calibrated"])
    assert int(r["checks/auto_classes"]) == 1
    assert float(r["checks/auto_one"]) > 0 and float(r["checks/auto_sharded"]) > 0
    assert int(r["checks/auto_outside_region"]) == 1
