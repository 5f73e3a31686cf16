"""Tests for jaxnn.softmax: softmax regression with ridge penalty trained by the core's optimizers."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import compiles

from jaxnn import optimizers, softmax
from jaxnn.mlp import init_mlp


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data[:500] / 16.0
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    return np.asarray(X, np.float32), np.asarray(d.target[:500], np.int32)


def test_objective_by_hand():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    X, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 2, 1, 0])
    params = [{"W": jnp.asarray(W, jnp.float32), "b": jnp.asarray(b, jnp.float32)}]
    z = X @ W.T + b
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    lam = 0.3
    expected = -logp[np.arange(6), y].mean() + lam / 2 * (W**2).sum()  # biases not penalized
    assert float(softmax.objective(params, X, y, lam)) == pytest.approx(expected, rel=1e-5)


def test_fit_matches_scikit_learn_multinomial_logistic_regression(digits):
    # Same convex objective: sklearn's C * sum_i loss + ||W||^2 / 2 with C = 1 / (lam m), intercept unpenalized.
    from sklearn.linear_model import LogisticRegression

    X, y = digits
    lam = 1e-2
    params, hist = softmax.fit(X, y, lam=lam, steps=1000, lr=0.05)
    assert int(hist["diverged_at"]) == -1
    clf = LogisticRegression(C=1.0 / (lam * len(y)), max_iter=5000, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(np.asarray(params[0]["W"]), clf.coef_, atol=2e-3)
    # Softmax is invariant to adding a constant to every bias: compare centred biases.
    b = np.asarray(params[0]["b"])
    np.testing.assert_allclose(b - b.mean(), clf.intercept_ - clf.intercept_.mean(), atol=5e-3)
    sk = [{"W": jnp.asarray(clf.coef_, jnp.float32), "b": jnp.asarray(clf.intercept_, jnp.float32)}]
    assert float(softmax.objective(params, X, y, lam)) == pytest.approx(float(softmax.objective(sk, X, y, lam)),
                                                                        rel=1e-4)
    assert float(softmax.accuracy(params, X, y)) == pytest.approx(clf.score(X, y), abs=0.01)


def test_predict_and_probabilities(digits):
    X, y = digits
    params, _ = softmax.fit(X, y, lam=1e-3, steps=200)
    P = softmax.predict_proba(params, X)
    assert P.shape == (len(y), 10)
    np.testing.assert_allclose(np.asarray(P.sum(1)), 1.0, rtol=1e-5)
    pred = softmax.predict(params, X)
    assert pred.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(pred), np.asarray(jnp.argmax(P, 1)))
    assert float(softmax.accuracy(params, X, y)) == pytest.approx(float(np.mean(np.asarray(pred) == y)))
    assert float(softmax.accuracy(params, X, y)) > 0.95


def test_plain_gradient_descent_decreases_loss_and_divergence_is_recorded(digits):
    X, y = digits
    p0 = softmax.init(jax.random.key(0), 64, 10)
    J0 = float(softmax.objective(p0, X, y, 1e-3))
    params, hist = softmax.fit(X, y, lam=1e-3, steps=100, optimizer=None, params=p0)
    assert float(hist["loss"][-1]) < 0.5 * J0
    assert bool(jnp.all(jnp.diff(hist["loss"]) <= 1e-6))  # a small enough step: monotone
    _, hist = softmax.fit(X, y, lam=1e-3, steps=20, optimizer=None, lr=1e30, params=p0)
    assert int(hist["diverged_at"]) >= 0  # recorded, not raised


def test_lam_is_traced_vmap_over_ridge_strength(digits):
    X, y = digits
    lams = jnp.array([1e-4, 1e-2, 1.0])
    Ws = jax.vmap(lambda lam: softmax.fit(X, y, 10, lam=lam, steps=300)[0][0]["W"])(lams)
    norms = [float(jnp.sum(W**2)) for W in Ws]
    assert norms[0] > norms[1] > norms[2]  # stronger ridge, smaller weights
    W1 = softmax.fit(X, y, 10, lam=1e-2, steps=300)[0][0]["W"]
    with compiles() as seen:
        softmax.fit(X, y, 10, lam=3e-2, steps=300)
    assert seen == []  # a new lam reuses the compiled run
    np.testing.assert_allclose(np.asarray(Ws[1]), np.asarray(W1), atol=1e-5)


def test_ready_made_optimizer_and_minibatches(digits):
    X, y = digits
    params, hist = softmax.fit(X, y, lam=1e-3, steps=300, optimizer=optax.adam(0.02), batch_size=100,
                               key=jax.random.key(1))
    assert int(hist["diverged_at"]) == -1
    assert float(softmax.accuracy(params, X, y)) > 0.95


def test_bad_arguments():
    X = np.zeros((4, 3), np.float32)
    # the user's argument is y (the messages said 'labels', encode_labels' name); and where K comes from
    with pytest.raises(ValueError, match=r"^y: expected values in \[0, 2\) \(the params have 2 classes\), "
                                         r"got range \[0, 2\]$"):
        softmax.fit(X, np.array([0, 1, 2, 1]), 2)
    with pytest.raises(ValueError, match=r"^y: expected values in \[0, 2\) \(the params have 2 classes\), "
                                         r"got range \[-1, 1\]$"):
        softmax.fit(X, np.array([-1, 0, 1, 1]))
    with pytest.raises(ValueError, match="^y: expected integer class indices, got dtype float"):
        softmax.fit(X, np.array([0.0, 1, 1, 0]), 2)
    with pytest.raises(ValueError, match=r"^y: expected values in \[0, 2\) \(the params have 2 classes\)"):
        softmax.objective(softmax.init(jax.random.key(0), 3, 2), X, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"^y: expected a 1-D array"):
        softmax.objective(softmax.init(jax.random.key(0), 3, 2), X, np.zeros((4, 1), int))
    with pytest.raises(ValueError, match="X: expected 5 columns"):
        softmax.fit(X, np.array([0, 1, 1, 0]), params=softmax.init(jax.random.key(0), 5, 2))
    with pytest.raises(ValueError, match="params: expected a softmax model with one layer"):
        softmax.predict(init_mlp(jax.random.key(0), [3, 4, 2]), X)
    with pytest.raises(ValueError, match="n_classes"):
        softmax.init(jax.random.key(0), 3, 1)
    with pytest.raises(ValueError, match="optimizer"):
        softmax.fit(X, np.array([0, 1, 1, 0]), 2, optimizer="sgd")
    with pytest.raises(ValueError, match="y: expected 4 labels"):
        softmax.accuracy(softmax.init(jax.random.key(0), 3, 2), X, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\), got int 0"):
        softmax.fit(X, np.array([0, 1, 1, 0]), 2, key=0)
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\), got int 0"):
        softmax.fit(X, np.array([0, 1, 1, 0]), params=softmax.init(jax.random.key(0), 3, 2), key=0)
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\), got int 0"):
        softmax.init(0, 3, 2)


def test_adam_cosine_is_the_default_and_the_old_spelling_warns_and_gives_the_same_fit():
    X = jax.random.normal(jax.random.key(3), (40, 5))
    y = jnp.arange(40) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default and the new spelling never warn
        p_default, h_default = softmax.fit(X, y, 3, steps=30)
        p_new, h_new = softmax.fit(X, y, 3, steps=30, optimizer="adam_cosine")
    with pytest.warns(DeprecationWarning, match="optimizer='adam' here means Adam with a cosine-decayed step; "
                                                "spell it optimizer='adam_cosine'") as rec:
        p_old, h_old = softmax.fit(X, y, 3, steps=30, optimizer="adam")
    assert len(rec) == 1 and rec[0].filename == __file__  # one warning, at the caller's line
    for h in (h_new, h_old):
        np.testing.assert_array_equal(h["loss"], h_default["loss"])
    np.testing.assert_array_equal(p_old[0]["W"], p_default[0]["W"])
    # the cosine schedule is what the name says: a constant-step Adam (jaxnn.train's "adam") differs
    _, h_const = softmax.fit(X, y, 3, steps=30, optimizer=optax.adam, lr=optimizers.default_lr(
        optimizers.adam_cosine, "softmax", n_inputs=5))
    assert not np.allclose(h_const["loss"], h_default["loss"])


def test_softmax_default_lr_comes_from_the_rule():
    X = jax.random.normal(jax.random.key(4), (30, 4))
    y = jnp.arange(30) % 3
    for opt in (None, "adam_cosine"):
        _, h = softmax.fit(X, y, 3, steps=10, optimizer=opt)
        lr = optimizers.default_lr(None if opt is None else optimizers.adam_cosine, "softmax", n_inputs=4)
        _, h_rule = softmax.fit(X, y, 3, steps=10, optimizer=opt, lr=lr)
        np.testing.assert_array_equal(h["loss"], h_rule["loss"])
    assert optimizers.default_lr(None, "softmax", n_inputs=4) == 0.5
