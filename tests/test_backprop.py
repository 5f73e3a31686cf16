import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxnn

CASES = [
    # (sizes, activation, output_activation, loss)
    ([2, 3, 1], "sigmoid", None, "squared"),
    ([4, 5, 3, 2], "tanh", None, "squared"),
    ([3, 6, 2], "tanh", "identity", "squared"),
    ([3, 4, 4, 3], "sigmoid", "softmax", "squared"),
    ([3, 4, 3], "tanh", "softmax", "cross_entropy"),
    ([3, 5, 2], "relu", "sigmoid", "cross_entropy"),
    ([3, 4, 2], jnp.sin, "identity", "squared"),
    # jax.nn's sigmoid and softmax are jaxnn's (softmax over the units, not the column layout's samples)
    ([3, 4, 3], "tanh", jax.nn.softmax, "cross_entropy"),
    ([3, 5, 2], "relu", jax.nn.sigmoid, "cross_entropy"),
    ([3, 4, 4, 3], jax.nn.sigmoid, jax.nn.softmax, "squared"),
]


def _problem(sizes, key=0, m=7):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_mlp(k1, sizes, scale=0.5)
    X = jax.random.normal(k2, (m, sizes[0]))
    Y = jax.random.uniform(k3, (m, sizes[-1]))
    return params, X, Y


def _rel(a, b):
    fa, _ = jax.flatten_util.ravel_pytree(a)
    fb, _ = jax.flatten_util.ravel_pytree(b)
    return float(jnp.linalg.norm(fa - fb) / jnp.linalg.norm(fa + fb))


@pytest.mark.parametrize("sizes, act, out, loss", CASES)
def test_backprop_equals_jax_grad_float64(x64, sizes, act, out, loss):
    """Targets whose rows do not sum to 1 too (a softmax cross-entropy's delta is a sum_k y_k - y, not a - y)."""
    params, X, Y = _problem(sizes)
    assert params[0]["W"].dtype == jnp.float64  # no silent float32
    lam = 1e-3
    g_bp = jaxnn.backprop(params, X, Y, lam=lam, activation=act, output_activation=out, loss=loss)
    g_ad = jax.grad(jaxnn.objective)(params, X, Y, lam, act, out, loss)
    assert jax.tree_util.tree_structure(g_bp) == jax.tree_util.tree_structure(params)
    assert g_bp[0]["W"].dtype == jnp.float64
    assert _rel(g_bp, g_ad) < 1e-9


@pytest.mark.parametrize("sizes, act, out, loss", CASES[:4])
def test_both_gradients_pass_finite_differences(x64, sizes, act, out, loss):
    params, X, Y = _problem(sizes, key=1, m=5)
    J = lambda p: jaxnn.objective(p, X, Y, 1e-2, act, out, loss)  # noqa: E731
    check_grads(J, (params,), order=1, modes=["rev"], eps=1e-6, atol=1e-7, rtol=1e-7)

    # backprop is the derivative of J: check it against central differences along random directions
    g = jaxnn.backprop(params, X, Y, 1e-2, act, out, loss)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    gflat, _ = jax.flatten_util.ravel_pytree(g)
    for i in range(3):
        v = jax.random.normal(jax.random.key(10 + i), flat.shape)
        eps = 1e-6
        fd = (J(unravel(flat + eps * v)) - J(unravel(flat - eps * v))) / (2 * eps)
        np.testing.assert_allclose(fd, gflat @ v, rtol=1e-6, atol=1e-10)


def test_backprop_hand_worked_single_unit():
    # One sigmoid unit, one sample: delta = -(y - a) a (1 - a); dJ/dW = delta x; dJ/db = delta.
    params = [{"W": jnp.array([[0.5, -0.25]]), "b": jnp.array([0.1])}]
    x = jnp.array([[2.0, 4.0]])
    y = jnp.array([[1.0]])
    a = jax.nn.sigmoid(0.5 * 2 - 0.25 * 4 + 0.1)
    delta = -(1.0 - a) * a * (1 - a)
    g = jaxnn.backprop(params, x, y, lam=0.5)
    np.testing.assert_allclose(g[0]["W"], [[delta * 2 + 0.5 * 0.5, delta * 4 + 0.5 * -0.25]], rtol=1e-6)
    np.testing.assert_allclose(g[0]["b"], [delta], rtol=1e-6)


def test_backprop_averages_over_samples():
    params, X, Y = _problem([2, 3, 1], m=6)
    g_all = jaxnn.backprop(params, X, Y)
    g_each = [jaxnn.backprop(params, X[i:i + 1], Y[i:i + 1]) for i in range(6)]
    mean = jax.tree_util.tree_map(lambda *gs: sum(gs) / 6, *g_each)
    for a, b in zip(jax.tree_util.tree_leaves(g_all), jax.tree_util.tree_leaves(mean)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_backprop_jit_parity():
    params, X, Y = _problem([3, 4, 2])
    f = jax.jit(jaxnn.backprop, static_argnames=("activation", "output_activation", "loss"))
    for a, b in zip(jax.tree_util.tree_leaves(f(params, X, Y, 0.1)),
                    jax.tree_util.tree_leaves(jaxnn.backprop(params, X, Y, 0.1))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_backprop_validation():
    params, X, Y = _problem([3, 4, 2])
    with pytest.raises(ValueError, match=r"Y: expected shape \(7, 2\)"):
        jaxnn.backprop(params, X, Y[:, :1])
    with pytest.raises(ValueError, match="Y: expected finite values, got 1 NaN/inf"):
        jaxnn.backprop(params, X, Y.at[0, 0].set(jnp.nan))
