"""The course's sparse autoencoder and softmax classifier as Trainables (jaxnn.autoencoder.trainable,
jaxnn.softmax.trainable, both on jaxnn.trainables.trainable_from): successive halving on tiny problems,
segments equal one call, invalid hyperparameters flagged (traced and concrete), bad arguments."""

import functools

import jax
import numpy as np
import pytest

from jaxnn import autoencoder as ae
from jaxnn import patches, softmax, sweeps
from jaxnn.datasets import require
from jaxnn.sweeps.status import INVALID, OK


@functools.lru_cache(maxsize=None)
def patch_data():
    """300 training and 200 validation 8x8 patches in [0.1, 0.9] (UFLDL's normalization)."""
    X = np.asarray(patches.ufldl_patches(jax.random.key(0), 500, 8))
    return {"X": X[:300], "X_val": X[300:]}


@functools.lru_cache(maxsize=None)
def digit_data():
    """sklearn's 8x8 digits, standardized: 400 training and 400 validation rows, 10 classes."""
    X, y = require("sklearn.datasets").load_digits(return_X_y=True)
    X = X[:800].astype(np.float32)
    X = (X - X[:400].mean(0)) / (X[:400].std(0) + 1.0)
    y = y[:800].astype(np.int32)
    return {"X": X[:400], "y": y[:400], "X_val": X[400:], "y_val": y[400:]}


def leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, z in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(z))


SH = dict(min_steps=10, max_steps=90, eta=3, lanes=9, progress=False)


# --- the sparse autoencoder ------------------------------------------------------------------------------

def test_autoencoder_successive_halving_winner_learns():
    data = patch_data()
    t = ae.trainable(64, 9)
    assert t.directions["val_loss"] == "min" and t.needs == {"val_loss": ("X_val",)}
    assert set(t.hyperparameters) == {"scale", "lam", "beta", "rho", "lr"}
    space = sweeps.random(9, beta=sweeps.loguniform(0.1, 10.0), rho=sweeps.loguniform(0.01, 0.2),
                          lam=sweeps.loguniform(1e-5, 1e-3), lr=sweeps.loguniform(0.01, 0.3))
    res = sweeps.successive_halving(t, space, key=jax.random.key(0), data=data, metric="val_loss", **SH)
    best = res.best()
    assert best["steps"] == 90 and res.status[best["trial"]] == OK
    hp = {k: best[k] for k in ("beta", "rho", "lam", "lr")}
    start = t.evaluate(t.init(best["key"], data, **hp), data, **hp)
    assert best["val_loss"] < 0.9 * float(start["val_loss"])  # (90 Adam steps: near the mean patch)
    m = t.evaluate(res.state, data, **hp)
    assert np.isclose(float(m["val_loss"]), best["val_loss"], rtol=1e-5)
    assert 0 < float(m["mean_activation"]) < 1


@pytest.mark.parametrize("kw", [dict(), dict(tied=True, sparse=False, batch_size=64)])
def test_autoencoder_segments_equal_one_call(kw):
    data = patch_data()
    t = ae.trainable(64, 9, **kw)
    hp = dict(lam=3e-4, lr=0.02)
    adv = jax.jit(t.advance, static_argnums=2)
    s0 = jax.jit(t.init)(jax.random.key(3), data, **hp)
    one = adv(s0, data, 24, **hp)
    seg = adv(adv(adv(s0, data, 8, **hp), data, 8, **hp), data, 8, **hp)
    leaves_equal(one, seg)
    assert int(seg.guard.t) == 24 and int(seg.guard.diverged_at) == -1


@pytest.mark.parametrize("bad", [dict(rho=1.5), dict(lam=-1.0), dict(beta=-0.5), dict(lr=0.0)])
def test_autoencoder_invalid_hyperparameter_concrete(bad):
    data = patch_data()
    t = ae.trainable(64, 9)
    m = t.evaluate(t.advance(t.init(jax.random.key(0), data, **bad), data, 2, **bad), data, **bad)
    assert bool(m["invalid"]) and int(m["diverged_at"]) == -1
    assert np.isnan(float(m["val_loss"])) and np.isnan(float(m["loss"])) and np.isnan(float(m["mean_activation"]))


def test_autoencoder_invalid_scale():
    data = patch_data()
    t = ae.trainable(64, 9)
    m = jax.jit(t.evaluate)(jax.jit(t.init)(jax.random.key(0), data, scale=-0.1), data, scale=-0.1)
    assert bool(m["invalid"]) and np.isnan(float(m["val_loss"]))  # traced: init's NaN params, flagged
    with pytest.raises(ValueError, match="scale: expected a value >= 0"):
        t.init(jax.random.key(0), data, scale=-0.1)  # concrete: init raises, as jaxnn.trainable's init_mlp


def test_autoencoder_invalid_trial_in_a_search():
    data = patch_data()
    t = ae.trainable(64, 9)
    space = sweeps.table(rho=[0.05, 1.5, 0.1, 0.02], lam=[1e-4, 1e-4, -1.0, 1e-4])
    res = sweeps.successive_halving(t, space, key=jax.random.key(1), data=data, metric="val_loss",
                                    min_steps=5, max_steps=10, eta=2, lanes=4, progress=False)
    assert list(res.status[[1, 2]]) == [INVALID, INVALID]
    for i in (1, 2):
        assert np.isnan(res.curves[i][0][1]["val_loss"]) and res.curves[i][0][1]["invalid"]
    assert res.best()["trial"] in (0, 3)


def test_autoencoder_bad_arguments():
    with pytest.raises(ValueError, match="n_hidden"):
        ae.trainable(64, 0)
    with pytest.raises(ValueError, match="n_visible"):
        ae.trainable(2.5, 9)
    with pytest.raises(ValueError, match="output_activation"):
        ae.trainable(64, 9, output_activation="relu")
    with pytest.raises(ValueError, match="rho"):
        ae.trainable(64, 9, rho=1.5)
    with pytest.raises(ValueError, match="tied"):
        ae.trainable(64, 9, tied="yes")
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        ae.trainable(64, 9, sparse=False).init(jax.random.key(0), patch_data(), beta=1.0)
    with pytest.raises(ValueError, match="X: expected 64 columns"):
        ae.trainable(64, 9).init(jax.random.key(0), {"X": np.zeros((5, 3), np.float32)})
    with pytest.raises(ValueError, match=r"X: expected values in \[0, 1\]"):
        ae.trainable(64, 9).init(jax.random.key(0), {"X": 255 * patch_data()["X"]})


def test_autoencoder_default_learning_rates():
    assert ae.trainable(64, 9).hyperparameters["lr"] == ae.TRAINABLE_LR
    assert ae.trainable(64, 9, optimizer=None).hyperparameters["lr"] == 1.0  # fit's plain descent
    assert ae.trainable(64, 9, lr=0.1).hyperparameters["lr"] == 0.1
    assert np.isclose(ae.trainable(64, 25).hyperparameters["scale"], np.sqrt(6 / 90))


# --- softmax regression ----------------------------------------------------------------------------------

def test_softmax_successive_halving_beats_chance():
    data = digit_data()
    t = softmax.trainable(64, 10)
    assert t.hyperparameters == {"scale": 0.005, "lam": 1e-4, "lr": 0.05}  # min(0.05, 10 / 64)
    assert t.directions["val_accuracy"] == "max" and t.directions["val_loss"] == "min"
    space = sweeps.random(9, lr=sweeps.loguniform(1e-3, 1e-1), lam=sweeps.loguniform(1e-5, 1e-2))
    res = sweeps.successive_halving(t, space, key=jax.random.key(0), data=data, metric="val_accuracy",
                                    min_steps=3, max_steps=27, eta=3, lanes=9, progress=False)
    best = res.best()
    assert best["val_accuracy"] > 0.8 and res.status[best["trial"]] == OK  # chance: 0.1
    m = t.evaluate(res.state, data, lr=best["lr"], lam=best["lam"])
    assert np.isclose(float(m["val_accuracy"]), best["val_accuracy"])
    assert float(m["accuracy"]) > 0.8 and float(m["val_loss"]) < np.log(10)
    params = res.state.params  # the module's own functions agree with the metrics
    assert np.isclose(float(softmax.accuracy(params, data["X_val"], data["y_val"])), float(m["val_accuracy"]))
    assert np.isclose(float(softmax.objective(params, data["X"], data["y"], best["lam"])), float(m["loss"]),
                      rtol=1e-5)


def test_softmax_segments_equal_one_call_and_invalid():
    data = digit_data()
    t = softmax.trainable(64, 10, batch_size=100)
    hp = dict(lam=1e-3)
    adv, init, ev = jax.jit(t.advance, static_argnums=2), jax.jit(t.init), jax.jit(t.evaluate)
    s0 = init(jax.random.key(5), data, **hp)
    leaves_equal(adv(s0, data, 12, **hp), adv(adv(s0, data, 6, **hp), data, 6, **hp))
    ok = dict(lam=1e-4, lr=0.05, scale=0.005)
    for bad in (dict(lam=-1.0), dict(lr=-0.1), dict(scale=float("nan"))):  # traced, one compilation
        bad = {**ok, **bad}
        m = ev(adv(init(jax.random.key(0), data, **bad), data, 6, **bad), data, **bad)
        assert bool(m["invalid"]) and np.isnan(float(m["val_accuracy"])) and np.isnan(float(m["loss"]))
    m = t.evaluate(t.init(jax.random.key(0), data, lam=-1.0), data, lam=-1.0)  # concrete: flagged, no raise
    assert bool(m["invalid"])
    with pytest.raises(ValueError, match=r"lam: expected a value >= 0"):
        softmax.objective(s0.params, data["X"], data["y"], -1.0)  # the public function still raises


def test_softmax_bad_arguments():
    with pytest.raises(ValueError, match="n_classes"):
        softmax.trainable(64, 1)
    with pytest.raises(ValueError, match="n_features"):
        softmax.trainable(0, 10)
    with pytest.raises(ValueError, match="lam"):
        softmax.trainable(64, 10, lam=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        softmax.trainable(64, 10, optimizer="nope")
    with pytest.raises(ValueError, match="'y'"):
        softmax.trainable(64, 10).init(jax.random.key(0), {"X": digit_data()["X"]})
    assert softmax.trainable(64, 10, optimizer=None).hyperparameters["lr"] == 0.5
    assert softmax.trainable(1000, 10).hyperparameters["lr"] == 0.01  # 10 / n
