"""The column layout of the core (samples as columns, z = W a + b), in which ``jaxnn.train`` runs,
computes exactly what the public row-layout functions define: forward cache, objective, and
(J, gradient) from the explicit delta algorithm, for every activation / output / loss combination."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn.backprop import value_and_backprop_cols
from jaxnn.losses import objective_cols
from jaxnn.mlp import forward_cache_cols

CASES = [
    # [sizes, activation, output_activation, loss]
    [[2, 3, 1], "sigmoid", None, "squared"],
    [[4, 5, 3, 2], "tanh", None, "squared"],
    [[3, 6, 2], "tanh", "identity", "squared"],
    [[3, 4, 2], "relu", "identity", "squared"],
    [[3, 4, 2], "identity", "sigmoid", "squared"],
    [[3, 4, 4, 3], "sigmoid", "softmax", "squared"],
    [[3, 4, 3], "tanh", "softmax", "cross_entropy"],
    [[3, 5, 2], "relu", "sigmoid", "cross_entropy"],
    [[3, 4, 2], jnp.sin, "identity", "squared"],
]


def _problem(sizes, key=0, m=9, loss="squared", out=None):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_mlp(k1, sizes, scale=0.5)
    X = jax.random.normal(k2, (m, sizes[0]))
    Y = jax.random.uniform(k3, (m, sizes[-1]))
    if loss == "cross_entropy" and out == "softmax":
        Y = Y / Y.sum(1, keepdims=True)
    return params, X, Y


def _close(a, b, rtol):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("sizes, act, out, loss", CASES)
def test_forward_cache_cols_is_transpose_of_rows(x64, sizes, act, out, loss):
    params, X, _ = _problem(sizes)
    rows = jaxnn.forward_cache(params, X, act, out)
    cols = forward_cache_cols(params, X.T, act, out)
    assert len(cols.z) == len(rows.z) and len(cols.a) == len(rows.a)
    for r, c in zip(rows.z + rows.a, cols.z + cols.a):
        assert c.shape == r.T.shape
        np.testing.assert_allclose(c, r.T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sizes, act, out, loss", CASES)
def test_value_and_backprop_cols_equals_objective_and_jax_grad(x64, sizes, act, out, loss):
    params, X, Y = _problem(sizes, key=1, loss=loss, out=out)
    lam = 1e-3
    J_rows = jaxnn.objective(params, X, Y, lam, act, out, loss)
    J_cols = objective_cols(params, X.T, Y.T, lam, act, out, loss)
    J_bp, g_bp = value_and_backprop_cols(params, X.T, Y.T, lam, act, out, loss)
    g_ad = jax.grad(jaxnn.objective)(params, X, Y, lam, act, out, loss)
    assert J_bp.dtype == jnp.float64 and g_bp[0]["W"].dtype == jnp.float64
    np.testing.assert_allclose(J_cols, J_rows, rtol=1e-12)
    np.testing.assert_allclose(J_bp, J_rows, rtol=1e-12)
    assert jax.tree_util.tree_structure(g_bp) == jax.tree_util.tree_structure(params)
    _close(g_bp, g_ad, rtol=1e-9)


@pytest.mark.parametrize("sizes, act, out, loss, minibatch", [CASES[6] + [True], CASES[8] + [False]])
def test_train_backprop_and_autodiff_agree_beyond_sigmoid(x64, sizes, act, out, loss, minibatch):
    """softmax outputs (applied across the unit axis of the column layout), cross-entropy and a
    callable activation train the same way with either gradient, full batch and minibatch."""
    params, X, Y = _problem(sizes, key=2, m=12, loss=loss, out=out)
    kw = dict(lr=0.3, lam=1e-3, steps=15, activation=act, output_activation=out, loss=loss)
    for extra in ({}, {"batch_size": 4, "key": jax.random.key(3)}) if minibatch else ({},):
        a, ha = jaxnn.train(params, X, Y, gradient="autodiff", **kw, **extra)
        b, hb = jaxnn.train(params, X, Y, gradient="backprop", **kw, **extra)
        _close(a, b, rtol=1e-9)
        np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-10)
        # the history is the public (row-layout) objective after the last step
        np.testing.assert_allclose(ha["loss"][-1], jaxnn.objective(a, X, Y, 1e-3, act, out, loss), rtol=1e-10)


def test_one_step_matches_the_public_gradient_float32():
    """In float32 too, one step of train is W - lr * dJ/dW with dJ/dW from the public functions.

    (Full float32 matmuls on GPUs too: tests/conftest.py turns off TF32 for the whole suite.)"""
    params, X, Y = _problem([5, 7, 3], key=4, m=33)
    for gradient in ("autodiff", "backprop"):
        new, hist = jaxnn.train(params, X, Y, lr=0.5, lam=1e-2, steps=1, gradient=gradient)
        g = jaxnn.backprop(params, X, Y, 1e-2)
        expected = jax.tree_util.tree_map(lambda p, d: p - 0.5 * d, params, g)
        _close(new, expected, rtol=2e-5)
        np.testing.assert_allclose(hist["loss"][0], jaxnn.objective(new, X, Y, 1e-2), rtol=2e-6)
