"""Invalid hyperparameters under tracing (a sweep) are flagged, never reported as a result.

Concrete invalid values raise a ValueError at the public boundary; traced ones cannot, so ``train``,
``autoencoder.fit`` and ``softmax.fit`` return ``history["invalid"]`` True with the loss all NaN, the
initial params unchanged and ``diverged_at`` -1 (invalid is not diverged).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import toy

import jaxnn
from jaxnn import autoencoder as ae
from jaxnn import lbfgs, softmax

NAN, INF = float("nan"), float("inf")


def _lane(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _assert_same_tree(a, b, **kw):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def _check_lanes(ps, hs, p0, expected, direct, rtol=1e-5, batched_p0=False):
    """Every lane: the flag is exactly ``expected[i]``; invalid lanes report no result (the initial params
    ``p0``, or lane i of them when ``batched_p0``); valid lanes equal ``direct(i)`` (an unbatched call
    with concrete values)."""
    expected = np.asarray(expected, bool)
    assert hs["invalid"].dtype == jnp.bool_ and hs["invalid"].shape == expected.shape
    np.testing.assert_array_equal(np.asarray(hs["invalid"]), expected)
    for i, bad in enumerate(expected):
        loss, div = np.asarray(hs["loss"][i]), int(hs["diverged_at"][i])
        if bad:
            assert np.all(np.isnan(loss)), i
            assert div == -1, i
            _assert_same_tree(_lane(ps, i), _lane(p0, i) if batched_p0 else p0, rtol=0, atol=0)  # unchanged
        else:
            p, h = direct(i)
            assert not bool(h["invalid"]) and div == int(h["diverged_at"]) == -1, i
            assert np.all(np.isfinite(loss)), i
            np.testing.assert_allclose(loss, h["loss"], rtol=rtol)
            _assert_same_tree(_lane(ps, i), p, rtol=rtol, atol=1e-6)


# ----------------------------------------------------------------------------------------- train
LRS = [-5.0, 0.0, 0.5, NAN, INF]
LAMS = [-1.0, 0.0, 1e-3, INF]
GRID = list(itertools.product(LRS, LAMS))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(gradient="backprop"),
    dict(batch_size=8, key=jax.random.key(3)),
    dict(optimizer=optax.adam),
], ids=["full-batch", "backprop", "minibatch", "adam-factory"])
def test_train_flags_traced_lr_and_lam(kw):
    p0, X, Y = toy(1)
    lrs = jnp.array([lr for lr, _ in GRID])
    lams = jnp.array([lam for _, lam in GRID])
    run = jax.vmap(lambda lr, lam: jaxnn.train(p0, X, Y, lr=lr, lam=lam, steps=12, **kw))
    ps, hs = run(lrs, lams)
    expected = [not (np.isfinite(lr) and lr > 0) or not (np.isfinite(lam) and lam >= 0) for lr, lam in GRID]
    assert sum(expected) == len(GRID) - 2  # only lr=0.5 with lam 0 and 1e-3 are valid
    _check_lanes(ps, hs, p0, expected,
                 lambda i: jaxnn.train(p0, X, Y, lr=GRID[i][0], lam=GRID[i][1], steps=12, **kw))
    # the same under an outer jit
    np.testing.assert_array_equal(np.asarray(jax.jit(run)(lrs, lams)[1]["invalid"]), expected)


def test_train_with_a_gradient_transformation_ignores_lr():
    p0, X, Y = toy(2)
    lams = [-1.0, 0.0, 1e-2, NAN]
    ps, hs = jax.vmap(lambda lam: jaxnn.train(p0, X, Y, lam=lam, steps=10, optimizer=optax.sgd(0.3)))(jnp.array(lams))
    _check_lanes(ps, hs, p0, [True, False, False, True],
                 lambda i: jaxnn.train(p0, X, Y, lam=lams[i], steps=10, optimizer=optax.sgd(0.3)))


def test_concrete_run_has_invalid_false():
    p0, X, Y = toy(3)
    _, h = jaxnn.train(p0, X, Y, lr=0.5, steps=5)
    assert h["invalid"].dtype == jnp.bool_ and h["invalid"].shape == () and not bool(h["invalid"])
    assert set(h) == {"loss", "diverged_at", "invalid"}


def test_invalid_is_not_diverged():
    p0, X, Y = toy(4)
    lrs = jnp.array([1e6, -1.0, 0.1])  # a valid lr that diverges, an invalid one, a fine one
    _, hs = jax.vmap(lambda lr: jaxnn.train(p0, X, Y, lr=lr, steps=30, activation="identity"))(lrs)
    np.testing.assert_array_equal(np.asarray(hs["invalid"]), [False, True, False])
    div = np.asarray(hs["diverged_at"])
    assert div[0] >= 0 and div[1] == -1 and div[2] == -1
    assert np.all(np.isfinite(np.asarray(hs["loss"][0])[:div[0]]))  # the diverged lane has its finite prefix


def test_traced_negative_scale_gives_nan_params_and_train_flags_it():
    _, X, Y = toy(5)
    scales = [-1.0, 0.0, 0.3, NAN, INF]
    key = jax.random.key(7)
    p_all = jax.vmap(lambda s: jaxnn.init_mlp(key, [3, 5, 2], scale=s))(jnp.array(scales))
    for i, s in enumerate(scales):
        leaves = [np.asarray(x[i]) for x in jax.tree_util.tree_leaves(p_all)]
        if s >= 0 and np.isfinite(s):
            _assert_same_tree(_lane(p_all, i), jaxnn.init_mlp(key, [3, 5, 2], scale=s), rtol=1e-6)
        else:
            assert all(np.all(np.isnan(x)) for x in leaves), s

    def run(s):
        return jaxnn.train(jaxnn.init_mlp(key, [3, 5, 2], scale=s), X, Y, lr=0.5, steps=10)

    ps, hs = jax.vmap(run)(jnp.array(scales))
    _check_lanes(ps, hs, p_all, [True, False, False, True, True],
                 lambda i: jaxnn.train(jaxnn.init_mlp(key, [3, 5, 2], scale=scales[i]), X, Y, lr=0.5, steps=10),
                 batched_p0=True)


def test_non_finite_params_flagged_when_traced_diverged_at_zero_when_concrete():
    p0, X, Y = toy(6)
    p0[0]["W"] = p0[0]["W"].at[0, 0].set(jnp.nan)
    _, h = jaxnn.train(p0, X, Y, lr=0.1, steps=5)  # concrete: reported as diverged at step 0, as before
    assert int(h["diverged_at"]) == 0 and not bool(h["invalid"])
    p, h = jax.jit(lambda p: jaxnn.train(p, X, Y, lr=0.1, steps=5))(p0)  # traced: cannot tell it from a bad scale
    assert int(h["diverged_at"]) == -1 and bool(h["invalid"]) and np.all(np.isnan(h["loss"]))
    _assert_same_tree(p, p0, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-5.0), "lr: expected a value > 0"),
    (dict(lr=0.0), "lr: expected a value > 0"),
    (dict(lr=INF), "lr: expected a finite value"),
    (dict(lam=-1.0), "lam: expected a value >= 0"),
    (dict(lam=NAN), "lam: expected a finite value"),
])
def test_train_concrete_invalid_still_raises(kwargs, match):
    p0, X, Y = toy()
    with pytest.raises(ValueError, match=match):
        jaxnn.train(p0, X, Y, **{"lr": 0.1, "steps": 3, **kwargs})


@pytest.mark.parametrize("scale, match", [(-1.0, "scale: expected a value >= 0"), (NAN, "scale: expected a finite"),
                                          (INF, "scale: expected a finite")])
def test_init_concrete_invalid_scale_raises(scale, match):
    with pytest.raises(ValueError, match=match):
        jaxnn.init_mlp(jax.random.key(0), [2, 2], scale=scale)
    with pytest.raises(ValueError, match=match):
        ae.init(jax.random.key(0), 4, 3, scale=scale)
    with pytest.raises(ValueError, match=match):
        softmax.fit(np.ones((4, 2), np.float32), np.array([0, 1, 0, 1]), scale=scale, steps=2)


# ----------------------------------------------------------------------------------- autoencoder
def _ae_data(key=0, m=40, n=6):
    return jax.random.uniform(jax.random.key(key), (m, n), minval=0.1, maxval=0.9)


AE_GRID = [  # (lam, beta, rho, invalid)
    (1e-4, 3.0, 0.1, False),
    (1e-4, -1.0, 0.1, True),
    (1e-4, 3.0, 1.5, True),
    (1e-4, 3.0, 0.0, True),
    (1e-4, 3.0, 1.0, True),
    (-1.0, 3.0, 0.1, True),
    (0.0, 0.0, 0.05, False),
    (1e-4, NAN, 0.1, True),
    (INF, 3.0, 0.1, True),
]


@pytest.mark.parametrize("kw", [dict(), dict(method="gd", lr=0.5)], ids=["lbfgs", "gd"])
def test_autoencoder_fit_flags_traced_lam_beta_rho(kw):
    p0, X = ae.init(jax.random.key(1), 6, 3), _ae_data(1)
    lam, beta, rho, expected = (jnp.array([g[j] for g in AE_GRID]) for j in range(4))
    ps, hs = jax.vmap(lambda a, b, r: ae.fit(p0, X, lam=a, beta=b, rho=r, steps=8, **kw))(lam, beta, rho)
    _check_lanes(ps, hs, p0, [g[3] for g in AE_GRID],
                 lambda i: ae.fit(p0, X, lam=AE_GRID[i][0], beta=AE_GRID[i][1], rho=AE_GRID[i][2], steps=8, **kw),
                 rtol=2e-4)


def test_autoencoder_fit_flags_traced_lr_only_where_used():
    p0, X = ae.init(jax.random.key(2), 6, 3), _ae_data(2)
    lrs = [-1.0, 0.0, 0.5, NAN]
    ps, hs = jax.vmap(lambda lr: ae.fit(p0, X, method="gd", lr=lr, steps=8))(jnp.array(lrs))
    _check_lanes(ps, hs, p0, [True, True, False, True], lambda i: ae.fit(p0, X, method="gd", lr=lrs[i], steps=8),
                 rtol=2e-4)
    # a GradientTransformation carries its own lr: only the traced beta counts
    opt = optax.adam(0.01)
    betas = [-1.0, 3.0]
    ps, hs = jax.vmap(lambda b: ae.fit(p0, X, method="gd", optimizer=opt, beta=b, steps=8))(jnp.array(betas))
    _check_lanes(ps, hs, p0, [True, False], lambda i: ae.fit(p0, X, method="gd", optimizer=opt, beta=betas[i], steps=8),
                 rtol=2e-4)


@pytest.mark.parametrize("tied", [False, True])
def test_autoencoder_traced_negative_scale_flagged(tied):
    X, key = _ae_data(3), jax.random.key(4)
    scales = [-0.5, 0.2, NAN]
    p_all = jax.vmap(lambda s: ae.init(key, 6, 3, s, tied=tied))(jnp.array(scales))
    for i in (0, 2):  # every leaf NaN, biases included
        assert all(np.all(np.isnan(np.asarray(x[i]))) for x in jax.tree_util.tree_leaves(p_all))
    _assert_same_tree(_lane(p_all, 1), ae.init(key, 6, 3, 0.2, tied=tied), rtol=1e-6)
    ps, hs = jax.vmap(lambda s: ae.fit(ae.init(key, 6, 3, s, tied=tied), X, steps=6))(jnp.array(scales))
    _check_lanes(ps, hs, p_all, [True, False, True],
                 lambda i: ae.fit(ae.init(key, 6, 3, scales[i], tied=tied), X, steps=6), rtol=2e-4, batched_p0=True)


@pytest.mark.parametrize("kw, match", [
    (dict(beta=-1.0), "beta: expected a value >= 0"),
    (dict(rho=0.0), "rho: expected a value strictly between 0 and 1"),
    (dict(rho=1.5), "rho: expected a value strictly between 0 and 1, got 1.5"),
    (dict(lam=-1.0), "lam: expected a value >= 0"),
    (dict(method="gd", lr=-1.0), "lr: expected a value > 0"),
    (dict(beta=NAN), "beta: expected a finite value"),
])
def test_autoencoder_concrete_invalid_still_raises(kw, match):
    with pytest.raises(ValueError, match=match):
        ae.fit(ae.init(jax.random.key(0), 6, 3), _ae_data(0), steps=3, **kw)


# -------------------------------------------------------------------------------------- softmax
def _softmax_data(m=30, n=4, K=3):
    X = jax.random.normal(jax.random.key(5), (m, n))
    return X, jnp.arange(m) % K


def test_softmax_fit_flags_traced_lam():
    X, y = _softmax_data()
    lams = [-1.0, 0.0, 1e-3, INF]
    ps, hs = jax.vmap(lambda lam: softmax.fit(X, y, 3, lam=lam, steps=10))(jnp.array(lams))
    p0 = softmax.init(jax.random.key(0), 4, 3, 0.005, dtype=X.dtype)  # fit's default init
    _check_lanes(ps, hs, p0, [True, False, False, True], lambda i: softmax.fit(X, y, 3, lam=lams[i], steps=10))


def test_softmax_fit_flags_traced_lr_and_scale():
    X, y = _softmax_data()
    lrs = [-1.0, 0.05]
    p0 = softmax.init(jax.random.key(0), 4, 3, 0.005, dtype=X.dtype)
    ps, hs = jax.vmap(lambda lr: softmax.fit(X, y, 3, lr=lr, steps=10))(jnp.array(lrs))
    _check_lanes(ps, hs, p0, [True, False], lambda i: softmax.fit(X, y, 3, lr=lrs[i], steps=10))
    scales = [-0.01, 0.01]
    _, hs = jax.vmap(lambda s: softmax.fit(X, y, 3, scale=s, steps=10))(jnp.array(scales))
    np.testing.assert_array_equal(np.asarray(hs["invalid"]), [True, False])
    assert np.all(np.isnan(np.asarray(hs["loss"][0]))) and np.all(np.isfinite(np.asarray(hs["loss"][1])))
    np.testing.assert_allclose(hs["loss"][1], softmax.fit(X, y, 3, scale=0.01, steps=10)[1]["loss"], rtol=1e-5)


def test_softmax_concrete_invalid_still_raises():
    X, y = _softmax_data()
    with pytest.raises(ValueError, match="lam: expected a value >= 0"):
        softmax.fit(X, y, 3, lam=-1.0, steps=3)
    with pytest.raises(ValueError, match="lr: expected a value > 0"):
        softmax.fit(X, y, 3, lr=0.0, steps=3)


# ---------------------------------------------------------------------------------------- lbfgs
def _quad(p):
    return jnp.sum((p["x"] - 1.0) ** 2)


def test_minimize_applies_the_invalid_flag():
    p0 = {"x": jnp.zeros(3)}
    run = jax.jit(lambda bad: lbfgs.minimize(_quad, p0, steps=5, invalid=bad))
    p, h = run(jnp.array(True))
    assert bool(h["invalid"]) and int(h["diverged_at"]) == -1 and np.all(np.isnan(h["loss"]))
    np.testing.assert_array_equal(p["x"], p0["x"])
    p, h = run(jnp.array(False))
    assert not bool(h["invalid"]) and np.all(np.isfinite(h["loss"]))
    np.testing.assert_allclose(p["x"], np.ones(3), atol=1e-4)
    _, h = lbfgs.lbfgs(_quad, p0, steps=5)  # no flag given: False
    assert h["invalid"].dtype == jnp.bool_ and not bool(h["invalid"])
