import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import toy

import jaxnn


def _leaves_close(a, b, **kw):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(x, y, **kw)


def test_issue_example_runs(xor):
    X, Y = xor
    params = jaxnn.init_mlp(jax.random.key(0), [2, 3, 1], scale=0.01)
    params, history = jaxnn.train(params, X, Y, lr=1.0, steps=2000, lam=0.0, activation="sigmoid")
    assert history["loss"].shape == (2000,)
    assert history["diverged_at"].dtype == jnp.int32 and int(history["diverged_at"]) == -1
    assert params[0]["W"].shape == (3, 2)


def test_one_step_is_the_lecture_update():
    params, X, Y = toy()
    lr, lam = 0.3, 0.01
    new, hist = jaxnn.train(params, X, Y, lr=lr, lam=lam, steps=1)
    g = jax.grad(jaxnn.objective)(params, X, Y, lam)
    expected = jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)  # W <- W - alpha dJ/dW
    _leaves_close(new, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hist["loss"][0], jaxnn.objective(new, X, Y, lam), rtol=1e-6)


def test_loss_history_is_objective_after_each_step():
    params, X, Y = toy(1)
    _, hist = jaxnn.train(params, X, Y, lr=0.5, lam=1e-3, steps=5)
    for k in (1, 3, 5):
        pk, _ = jaxnn.train(params, X, Y, lr=0.5, lam=1e-3, steps=k)
        np.testing.assert_allclose(hist["loss"][k - 1], jaxnn.objective(pk, X, Y, 1e-3), rtol=1e-5)


def test_loss_decreases():
    params, X, Y = toy(2)
    _, hist = jaxnn.train(params, X, Y, lr=1.0, steps=200)
    loss = np.asarray(hist["loss"])
    assert loss[-1] < 0.5 * jaxnn.objective(params, X, Y)
    assert np.all(np.diff(loss) <= 1e-7)  # small step on a smooth objective: monotone


def test_xor_converges(xor):
    X, Y = xor
    params = jaxnn.init_mlp(jax.random.key(3), [2, 3, 1], scale=1.0)
    params, hist = jaxnn.train(params, X, Y, lr=5.0, steps=3000)
    assert float(hist["loss"][-1]) < 1e-2
    np.testing.assert_array_equal(jaxnn.decode_labels(jaxnn.forward(params, X)), [0, 1, 1, 0])


def test_explicit_backprop_training_matches_autodiff(x64):
    params, X, Y = toy(4)
    a, ha = jaxnn.train(params, X, Y, lr=0.5, lam=1e-3, steps=50, gradient="autodiff")
    b, hb = jaxnn.train(params, X, Y, lr=0.5, lam=1e-3, steps=50, gradient="backprop")
    assert a[0]["W"].dtype == jnp.float64
    _leaves_close(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-10)


def test_optax_factory_and_instance_agree():
    params, X, Y = toy(5)
    a, ha = jaxnn.train(params, X, Y, lr=0.01, steps=30, optimizer=optax.adam)
    b, hb = jaxnn.train(params, X, Y, steps=30, optimizer=optax.adam(0.01))
    _leaves_close(a, b, rtol=1e-6)
    c, _ = jaxnn.train(params, X, Y, lr=0.01, steps=30)
    assert not np.allclose(a[0]["W"], c[0]["W"])  # really used adam


def test_optimizer_errors():
    params, X, Y = toy()
    with pytest.raises(ValueError, match="lr: leave lr out when optimizer is a GradientTransformation"):
        jaxnn.train(params, X, Y, lr=0.1, steps=2, optimizer=optax.sgd(0.1))
    with pytest.raises(ValueError, match="optimizer: expected None, an optax GradientTransformation"):
        jaxnn.train(params, X, Y, steps=2, optimizer=3)  # a name such as "adam" is an optimizer now


def test_minibatches_deterministic_by_key():
    params, X, Y = toy(6, m=30)
    run = lambda k: jaxnn.train(params, X, Y, lr=0.5, steps=20, batch_size=8, key=jax.random.key(k))  # noqa: E731
    a, ha = run(0)
    b, hb = run(0)
    c, hc = run(1)
    _leaves_close(a, b, rtol=0, atol=0)
    assert not np.allclose(ha["loss"], hc["loss"])
    full, hf = jaxnn.train(params, X, Y, lr=0.5, steps=20)
    assert not np.allclose(ha["loss"], hf["loss"])
    # the history is the full-data objective after each step
    np.testing.assert_allclose(ha["loss"][-1], jaxnn.objective(a, X, Y), rtol=1e-5)


def test_minibatch_of_all_samples_is_full_batch():
    params, X, Y = toy(7, m=16)
    a, _ = jaxnn.train(params, X, Y, lr=0.5, steps=10, batch_size=16, key=jax.random.key(0))
    b, _ = jaxnn.train(params, X, Y, lr=0.5, steps=10)
    _leaves_close(a, b, rtol=1e-6)


@pytest.mark.parametrize("lr, at_zero", [(1e6, False), (1e2, False), (1e30, True)])
def test_divergence_freezes_params_and_records_step(lr, at_zero):
    """Diverged at step t: the params are those after t steps (the initial ones when t == 0), checked in
    every case, divergence at step 0 included (lr=1e30: the first step overflows)."""
    params, X, Y = toy(8)
    p, hist = jaxnn.train(params, X, Y, lr=lr, steps=50, activation="identity")
    t = int(hist["diverged_at"])
    assert (t == 0) if at_zero else (0 < t < 50)
    chex.assert_tree_all_finite(p)
    loss = np.asarray(hist["loss"])
    assert np.all(np.isnan(loss[t:])) and np.all(np.isfinite(loss[:t]))
    if t == 0:  # no step accepted: the initial params, exactly
        pt = params
    else:  # frozen at the last finite params: those after t steps
        pt, ht = jaxnn.train(params, X, Y, lr=lr, steps=t, activation="identity")
        assert int(ht["diverged_at"]) == -1
    _leaves_close(p, pt, rtol=0 if t == 0 else 1e-6, atol=0)


def test_non_finite_start_is_diverged_at_zero():
    params, X, Y = toy(9)
    params[0]["W"] = params[0]["W"].at[0, 0].set(jnp.inf)
    p, hist = jaxnn.train(params, X, Y, lr=0.1, steps=5)
    assert int(hist["diverged_at"]) == 0
    assert np.all(np.isnan(hist["loss"]))


def test_vmap_over_scale_lr_lam_compiles_once():
    _, X, Y = toy(10)

    @jax.jit
    @jax.vmap
    @chex.assert_max_traces(n=1)
    def run(scale, lr, lam):
        params = jaxnn.init_mlp(jax.random.key(0), [3, 5, 2], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=lr, lam=lam, steps=20, output_activation="identity")
        return hist["loss"][-1], hist["diverged_at"]

    scales = jnp.array([0.0, 0.01, 0.1, 1.0])
    lrs = jnp.array([0.01, 0.1, 0.3, 1e6])
    lams = jnp.array([0.0, 1e-4, 1e-2, 0.0])
    final, div = run(scales, lrs, lams)
    final2, _ = run(scales * 2, lrs / 2, lams)  # new values, same shapes: no retrace
    assert final.shape == (4,) and final2.shape == (4,)
    # each lane equals its own unbatched run; the diverging lane does not poison the others
    for i in range(4):
        params = jaxnn.init_mlp(jax.random.key(0), [3, 5, 2], scale=float(scales[i]))
        _, h = jaxnn.train(params, X, Y, lr=float(lrs[i]), lam=float(lams[i]), steps=20, output_activation="identity")
        assert int(h["diverged_at"]) == int(div[i])
        np.testing.assert_allclose(final[i], h["loss"][-1], rtol=1e-5)  # NaN == NaN for the diverged lane
    assert int(div[3]) >= 0 and np.all(np.asarray(div[:3]) == -1)


def test_train_jit_parity():
    params, X, Y = toy(11)
    f = jax.jit(lambda p, lr: jaxnn.train(p, X, Y, lr=lr, steps=15))
    a, ha = f(params, 0.7)
    b, hb = jaxnn.train(params, X, Y, lr=0.7, steps=15)
    _leaves_close(a, b, rtol=1e-6)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-6)


def test_zero_init_keeps_hidden_units_identical(xor):
    X, _ = xor
    Y = jnp.array([[0.0], [1.0], [1.0], [1.0]])  # OR: XOR's targets average to f(0) = 0.5, nothing would move
    p0 = jaxnn.init_mlp(jax.random.key(0), [2, 4, 1], scale=0.0)
    p, _ = jaxnn.train(p0, X, Y, lr=1.0, steps=300)
    W1, b1, W2 = np.asarray(p[0]["W"]), np.asarray(p[0]["b"]), np.asarray(p[1]["W"])
    assert np.abs(W2).max() > 1e-4  # training did move the weights...
    for i in range(1, 4):  # ...but every hidden unit is the same unit
        np.testing.assert_array_equal(W1[i], W1[0])
        np.testing.assert_array_equal(b1[i], b1[0])
        np.testing.assert_array_equal(W2[:, i], W2[:, 0])
    p_small = jaxnn.init_mlp(jax.random.key(0), [2, 4, 1], scale=0.01)
    p, _ = jaxnn.train(p_small, X, Y, lr=1.0, steps=300)
    W1 = np.asarray(p[0]["W"])
    assert min(np.abs(W1[i] - W1[0]).max() for i in range(1, 4)) > 1e-4


def test_float64_training(x64):
    params, X, Y = toy(12)
    p, hist = jaxnn.train(params, X, Y, lr=0.5, steps=5)
    assert p[0]["W"].dtype == jnp.float64 and hist["loss"].dtype == jnp.float64


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), "lr: expected a value > 0, got 0.0"),
    (dict(lr=-1.0), "lr: expected a value > 0"),
    (dict(lr=float("nan")), "lr: expected a finite value"),
    (dict(steps=0), "steps: expected an integer >= 1, got 0"),
    (dict(steps=2.5), "steps: expected an integer >= 1"),
    (dict(lam=-0.1), "lam: expected a value >= 0"),
    (dict(lam=jnp.ones(2)), "lam: expected a scalar"),
    (dict(batch_size=100, key=jax.random.key(0)), "batch_size: expected at most the number of samples 32"),
    (dict(batch_size=4), "key: a PRNG key is required"),
    (dict(gradient="numeric"), "gradient: expected one of"),
    (dict(activation="softmax"), "activation: unknown activation 'softmax'"),
    (dict(loss="cross_entropy", activation="tanh"), "cross_entropy' needs output_activation"),
])
def test_train_argument_errors(kwargs, match):
    params, X, Y = toy()
    kwargs = {"lr": 0.1, "steps": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        jaxnn.train(params, X, Y, **kwargs)


def test_train_data_errors():
    params, X, Y = toy()
    with pytest.raises(ValueError, match="X: expected finite values, got 1 NaN/inf"):
        jaxnn.train(params, X.at[3, 1].set(jnp.inf), Y, lr=0.1, steps=2)
    with pytest.raises(ValueError, match=r"Y: expected shape \(32, 2\) .* got shape \(31, 2\)"):
        jaxnn.train(params, X, Y[:31], lr=0.1, steps=2)
    with pytest.raises(ValueError, match=r"X: expected 3 columns"):
        jaxnn.train(params, X[:, :2], Y, lr=0.1, steps=2)
    with pytest.raises(ValueError, match=r"params\[1\]\['W'\]: expected 5 input columns"):
        bad = [params[0], {"W": jnp.ones((2, 4)), "b": jnp.ones(2)}]
        jaxnn.train(bad, X, Y, lr=0.1, steps=2)
    with pytest.raises(ValueError, match=r"params\[0\]: expected a dict with keys 'W' and 'b'"):
        jaxnn.train([{"W": jnp.ones((5, 3))}], X, Y, lr=0.1, steps=2)
    with pytest.raises(ValueError, match=r"params: expected a non-empty list"):
        jaxnn.train([], X, Y, lr=0.1, steps=2)


@pytest.mark.parametrize("key", [0, 2.0, "0", jnp.zeros(2, jnp.float32), jax.random.split(jax.random.key(0), 2)])
def test_train_rejects_a_key_that_is_not_a_prng_key(key):
    params, X, Y = toy()
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\)"):
        jaxnn.train(params, X, Y, lr=0.1, steps=2, batch_size=2, key=key)
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\)"):
        jaxnn.train(params, X, Y, lr=0.1, steps=2, key=key)  # checked whenever given


def test_train_accepts_raw_and_traced_keys():
    params, X, Y = toy(13)
    a, ha = jaxnn.train(params, X, Y, lr=0.5, steps=6, batch_size=8, key=jax.random.key(2))
    b, hb = jaxnn.train(params, X, Y, lr=0.5, steps=6, batch_size=8, key=jax.random.PRNGKey(2))
    np.testing.assert_array_equal(ha["loss"], hb["loss"])
    keys = jax.random.split(jax.random.key(5), 2)
    hs = jax.vmap(lambda k: jaxnn.train(params, X, Y, lr=0.5, steps=6, batch_size=8, key=k)[1])(keys)
    np.testing.assert_allclose(hs["loss"][1], jaxnn.train(params, X, Y, lr=0.5, steps=6, batch_size=8,
                                                          key=keys[1])[1]["loss"], rtol=1e-5)
