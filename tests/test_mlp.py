import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn


def test_init_layout_and_shapes():
    params = jaxnn.init_mlp(jax.random.key(0), [2, 3, 1], scale=0.01)
    assert isinstance(params, list) and len(params) == 2
    assert params[0]["W"].shape == (3, 2) and params[0]["b"].shape == (3,)
    assert params[1]["W"].shape == (1, 3) and params[1]["b"].shape == (1,)
    assert jaxnn.layer_sizes(params) == [2, 3, 1]


def test_init_is_normal_with_given_scale():
    params = jaxnn.init_mlp(jax.random.key(1), [400, 500], scale=0.01)
    W = np.asarray(params[0]["W"])
    assert abs(W.mean()) < 1e-4
    assert abs(W.std() - 0.01) < 2e-4


def test_init_same_key_same_numbers_and_different_keys_differ():
    a = jaxnn.init_mlp(jax.random.key(3), [4, 5, 2])
    b = jaxnn.init_mlp(jax.random.key(3), [4, 5, 2])
    c = jaxnn.init_mlp(jax.random.key(4), [4, 5, 2])
    for la, lb, lc in zip(a, b, c):
        np.testing.assert_array_equal(la["W"], lb["W"])
        assert not np.allclose(la["W"], lc["W"])
    # W and b of one layer use different keys
    assert not np.allclose(a[0]["W"][:, 0], a[0]["b"])


def test_scale_zero_gives_zeros():
    for layer in jaxnn.init_mlp(jax.random.key(0), [3, 4, 2], scale=0.0):
        assert not np.any(layer["W"]) and not np.any(layer["b"])


def test_scale_can_be_traced_under_vmap():
    scales = jnp.array([0.0, 0.1, 1.0])
    ps = jax.vmap(lambda s: jaxnn.init_mlp(jax.random.key(0), [2, 3, 1], scale=s))(scales)
    assert ps[0]["W"].shape == (3, 3, 2)
    np.testing.assert_allclose(ps[0]["W"][2], 10 * ps[0]["W"][1], rtol=1e-6)
    assert not np.any(ps[0]["W"][0])


def test_default_dtype_follows_jax(x64):
    assert jaxnn.init_mlp(jax.random.key(0), [2, 2])[0]["W"].dtype == jnp.float64
    assert jaxnn.init_mlp(jax.random.key(0), [2, 2], dtype=jnp.float32)[0]["W"].dtype == jnp.float32


def test_default_dtype_float32():
    assert jaxnn.init_mlp(jax.random.key(0), [2, 2])[0]["W"].dtype == jnp.float32


@pytest.mark.parametrize("sizes, match", [([3], "at least two"), ([3, 0], r"sizes\[1\]"), ([3, 2.5], r"sizes\[1\]"),
                                          ("32", "list")])
def test_init_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        jaxnn.init_mlp(jax.random.key(0), sizes)


def test_init_bad_scale_and_dtype():
    with pytest.raises(ValueError, match="scale: expected a value >= 0"):
        jaxnn.init_mlp(jax.random.key(0), [2, 2], scale=-1.0)
    with pytest.raises(ValueError, match="dtype: expected a floating dtype"):
        jaxnn.init_mlp(jax.random.key(0), [2, 2], dtype=jnp.int32)


def test_forward_hand_computed():
    # W = arange, b = ones: worked by hand.
    params = [{"W": jnp.arange(6.0).reshape(3, 2), "b": jnp.ones(3)},
              {"W": jnp.array([[1.0, -1.0, 2.0]]), "b": jnp.array([0.5])}]
    X = jnp.array([[1.0, 2.0]])
    # z2 = [0*1+1*2+1, 2*1+3*2+1, 4*1+5*2+1] = [3, 9, 15]; identity hidden
    # z3 = 3 - 9 + 30 + 0.5 = 24.5
    H = jaxnn.forward(params, X, activation="identity")
    np.testing.assert_allclose(H, [[24.5]])
    H = jaxnn.forward(params, X, activation="relu", output_activation="sigmoid")
    np.testing.assert_allclose(H, [[jax.nn.sigmoid(24.5)]], rtol=1e-6)


def test_forward_matches_lecture_unit_formula():
    params = jaxnn.init_mlp(jax.random.key(5), [3, 4, 2], scale=1.0)
    X = jax.random.normal(jax.random.key(6), (5, 3))
    H = jaxnn.forward(params, X, activation="tanh")
    # scalar form a_i = f(sum_j W_ij x_j + b_i), sample by sample
    for x, h in zip(np.asarray(X), np.asarray(H)):
        a = x
        for layer in params:
            W, b = np.asarray(layer["W"]), np.asarray(layer["b"])
            a = np.tanh(np.array([sum(W[i, j] * a[j] for j in range(len(a))) + b[i] for i in range(len(b))]))
        np.testing.assert_allclose(h, a, rtol=1e-5, atol=1e-6)


def test_forward_cache_contents():
    params = jaxnn.init_mlp(jax.random.key(0), [2, 3, 1], scale=1.0)
    X = jnp.ones((4, 2))
    cache = jaxnn.forward_cache(params, X, "sigmoid")
    assert [z.shape for z in cache.z] == [(4, 3), (4, 1)]
    assert [a.shape for a in cache.a] == [(4, 2), (4, 3), (4, 1)]
    np.testing.assert_allclose(cache.a[1], jax.nn.sigmoid(cache.z[0]))


def test_softmax_output_rows_sum_to_one():
    params = jaxnn.init_mlp(jax.random.key(0), [2, 3, 4], scale=1.0)
    H = jaxnn.forward(params, jnp.ones((5, 2)), "tanh", output_activation="softmax")
    np.testing.assert_allclose(H.sum(1), np.ones(5), rtol=1e-6)


def test_forward_jit_parity():
    params = jaxnn.init_mlp(jax.random.key(0), [3, 5, 2], scale=0.5)
    X = jax.random.normal(jax.random.key(1), (7, 3))
    f = jax.jit(jaxnn.forward, static_argnames=("activation", "output_activation"))
    np.testing.assert_allclose(f(params, X, activation="tanh"), jaxnn.forward(params, X, "tanh"), rtol=1e-6)


def test_forward_validation():
    params = jaxnn.init_mlp(jax.random.key(0), [2, 3, 1])
    with pytest.raises(ValueError, match=r"X: expected 2 columns .* got shape \(4, 3\)"):
        jaxnn.forward(params, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="X: expected a 2-D array"):
        jaxnn.forward(params, jnp.ones(2))
    with pytest.raises(ValueError, match="X: expected a real numeric array"):
        jaxnn.forward(params, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="output_activation: unknown activation"):
        jaxnn.forward(params, jnp.ones((1, 2)), output_activation="bogus")


KEY_MSG = r"key: expected a PRNG key, e.g. jax.random.key\(0\)"


@pytest.mark.parametrize("key", [0, 1.0, None, "0", jnp.zeros(2, jnp.int32), jax.random.split(jax.random.key(0), 2)])
def test_init_rejects_a_key_that_is_not_a_prng_key(key):
    with pytest.raises(ValueError, match=KEY_MSG):
        jaxnn.init_mlp(key, [2, 3, 1])


def test_init_accepts_raw_and_traced_keys():
    a = jaxnn.init_mlp(jax.random.key(4), [2, 3, 1], scale=0.5)
    b = jaxnn.init_mlp(jax.random.PRNGKey(4), [2, 3, 1], scale=0.5)  # same key data: same numbers
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    keys = jax.random.split(jax.random.key(0), 3)
    ps = jax.vmap(lambda k: jaxnn.init_mlp(k, [2, 3, 1], scale=0.5))(keys)
    np.testing.assert_array_equal(ps[0]["W"][1], jaxnn.init_mlp(keys[1], [2, 3, 1], scale=0.5)[0]["W"])


# ------------------------------------------------------------------------ jaxnn.trainable, the MLP's
def _xor_data(X_dtype):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], X_dtype)
    return {"X": X, "Y": np.array([[0.0], [1.0], [1.0], [0.0]], np.float32), "X_val": X[::-1],
            "Y_val": np.array([[0], [1], [1], [0]], np.int32)[::-1]}


def test_trainable_casts_integer_data_as_train_does():
    """jaxnn.train casts integer X (and Y) to the params' float dtype; jaxnn.trainable's init raised
    "dtype: expected a floating dtype, got int32", about an argument the user never passed."""
    t = jaxnn.trainable([2, 3, 1], scale=0.5)
    key, hp = jax.random.key(0), dict(lam=0.25, lr=0.5)
    runs = {}
    for dtype in (np.int32, np.float32):
        data = _xor_data(dtype)
        state = t.advance(t.init(key, data, **hp), data, 5, **hp)
        runs[dtype] = (state, t.evaluate(state, data, **hp))
    (s_int, m_int), (s_float, m_float) = runs[np.int32], runs[np.float32]
    for a, b in zip(jax.tree_util.tree_leaves(s_int), jax.tree_util.tree_leaves(s_float), strict=True):
        np.testing.assert_array_equal(a, b)
    assert s_int.params[0]["W"].dtype == jnp.float32 and m_int["loss"].dtype == jnp.float32
    assert m_int.keys() == m_float.keys() and all(float(m_int[k]) == float(m_float[k]) for k in m_int)
    # ... which is train's run from the trainable's init (lam in the loss, not cast to an int)
    p0 = jaxnn.init_mlp(jax.random.split(key)[0], [2, 3, 1], 0.5)
    _, h = jaxnn.train(p0, _xor_data(np.int32)["X"], _xor_data(np.int32)["Y"], lr=0.5, lam=0.25, steps=5)
    np.testing.assert_allclose(float(m_int["loss"]), float(h["loss"][-1]), rtol=1e-6)


def test_trainable_refuses_lr_with_a_gradient_transformation_as_train_does():
    """jaxnn.trainable(optimizer=<GradientTransformation>, lr=5.0) dropped lr without a word."""
    import optax

    with pytest.raises(ValueError) as info:
        jaxnn.trainable([2, 3, 1], optimizer=optax.sgd(0.1), lr=5.0)
    with pytest.raises(ValueError) as info_train:
        jaxnn.train(jaxnn.init_mlp(jax.random.key(0), [2, 3, 1]), np.zeros((4, 2)), np.zeros((4, 1)),
                    optimizer=optax.sgd(0.1), lr=5.0)
    assert str(info.value) == str(info_train.value)
    assert str(info.value).startswith("lr: leave lr out when optimizer is a GradientTransformation")
    assert "lr" not in jaxnn.trainable([2, 3, 1], optimizer=optax.sgd(0.1)).hyperparameters
    assert jaxnn.trainable([2, 3, 1]).hyperparameters["lr"] == 0.1  # lr=None: train's default
    assert jaxnn.trainable([2, 3, 1], optimizer="adam").hyperparameters["lr"] == 0.1
    assert jaxnn.trainable([2, 3, 1], lr=0.5).hyperparameters["lr"] == 0.5
    with pytest.raises(ValueError, match="^lr: expected a value > 0, got -1"):
        jaxnn.trainable([2, 3, 1], lr=-1.0)
