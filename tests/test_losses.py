import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn


def _params():
    return [{"W": jnp.array([[1.0, -2.0], [0.5, 0.0]]), "b": jnp.array([0.1, -0.1])},
            {"W": jnp.array([[3.0, 1.0]]), "b": jnp.array([2.0])}]


def test_ridge_counts_weights_only():
    # 1 + 4 + 0.25 + 0 + 9 + 1 = 15.25; biases excluded
    np.testing.assert_allclose(jaxnn.ridge(_params()), 15.25)


def test_objective_is_data_term_plus_half_lam_ridge():
    params = _params()
    X = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    Y = jnp.array([[1.0], [0.0], [2.0]])
    H = jaxnn.forward(params, X, "tanh", output_activation="identity")
    expected_data = np.mean(0.5 * np.sum((np.asarray(H) - np.asarray(Y)) ** 2, axis=1))
    J0 = jaxnn.objective(params, X, Y, lam=0.0, activation="tanh", output_activation="identity")
    J1 = jaxnn.objective(params, X, Y, lam=0.2, activation="tanh", output_activation="identity")
    np.testing.assert_allclose(J0, expected_data, rtol=1e-6)
    np.testing.assert_allclose(J1 - J0, 0.1 * 15.25, rtol=1e-5)


def test_bias_not_penalized():
    params = _params()
    bumped = [dict(layer) for layer in params]
    bumped[1] = {"W": params[1]["W"], "b": params[1]["b"] + 100.0}
    X = jnp.ones((2, 2))
    Y = jnp.ones((2, 1))
    d = lambda p, lam: jaxnn.objective(p, X, Y, lam=lam, activation="identity")  # noqa: E731
    np.testing.assert_allclose(d(bumped, 5.0) - d(bumped, 0.0), d(params, 5.0) - d(params, 0.0), rtol=1e-5)


def test_cross_entropy_softmax_matches_definition():
    params = jaxnn.init_mlp(jax.random.key(0), [3, 4, 3], scale=1.0)
    X = jax.random.normal(jax.random.key(1), (6, 3))
    labels = jnp.array([0, 1, 2, 0, 1, 2])
    Y = jaxnn.encode_labels(labels, 3)
    P = jaxnn.forward(params, X, "tanh", output_activation="softmax")
    expected = -np.mean(np.log(np.asarray(P)[np.arange(6), np.asarray(labels)]))
    J = jaxnn.objective(params, X, Y, activation="tanh", output_activation="softmax", loss="cross_entropy")
    np.testing.assert_allclose(J, expected, rtol=1e-5)


def test_cross_entropy_sigmoid_matches_definition():
    params = jaxnn.init_mlp(jax.random.key(2), [2, 3, 2], scale=1.0)
    X = jax.random.normal(jax.random.key(3), (5, 2))
    Y = jnp.array([[0, 1], [1, 1], [0, 0], [1, 0], [1, 1]], jnp.float32)
    P = np.asarray(jaxnn.forward(params, X, "sigmoid"))
    Yn = np.asarray(Y)
    expected = -np.mean(np.sum(Yn * np.log(P) + (1 - Yn) * np.log(1 - P), axis=1))
    J = jaxnn.objective(params, X, Y, activation="sigmoid", loss="cross_entropy")
    np.testing.assert_allclose(J, expected, rtol=1e-5)


def test_cross_entropy_is_stable_for_saturated_outputs():
    params = [{"W": jnp.array([[100.0], [-100.0]]), "b": jnp.zeros(2)}]
    X = jnp.array([[1.0]])
    J = jaxnn.objective(params, X, jnp.array([[0.0, 1.0]]), activation="identity",
                        output_activation="softmax", loss="cross_entropy")
    np.testing.assert_allclose(J, 200.0, rtol=1e-5)


def test_loss_errors():
    params = _params()
    X, Y = jnp.ones((2, 2)), jnp.ones((2, 1))
    with pytest.raises(ValueError, match=r"loss: unknown loss 'hinge'.*squared.*cross_entropy"):
        jaxnn.objective(params, X, Y, loss="hinge")
    with pytest.raises(ValueError, match=r"^output_activation: loss='cross_entropy' needs output_activation "
                                         r"'sigmoid' or 'softmax' \(or jax.nn.sigmoid, jax.nn.softmax\), got 'tanh'$"):
        jaxnn.objective(params, X, Y, activation="tanh", loss="cross_entropy")
    with pytest.raises(ValueError, match="lam: expected a value >= 0, got -1"):
        jaxnn.objective(params, X, Y, lam=-1.0)


def test_objective_is_jittable_and_vmappable_over_lam():
    params = _params()
    X, Y = jnp.ones((2, 2)), jnp.ones((2, 1))
    lams = jnp.array([0.0, 1.0, 2.0])
    Js = jax.jit(jax.vmap(lambda lam: jaxnn.objective(params, X, Y, lam=lam)))(lams)
    # each lane is the unjitted objective at its own lam (a lane that ignored lam would fail here) ...
    for i, lam in enumerate([0.0, 1.0, 2.0]):
        np.testing.assert_allclose(Js[i], jaxnn.objective(params, X, Y, lam=lam), rtol=1e-6)
    # ... whose ridge term is lam/2 ||W||^2, biases not penalized, and non-zero here
    ridge = sum(float(jnp.sum(layer["W"] ** 2)) for layer in params) / 2
    assert ridge > 0
    np.testing.assert_allclose(Js - Js[0], lams * ridge, rtol=1e-5)


def test_cross_entropy_output_is_found_by_identity_not_by_name():
    """A callable named "sigmoid" or "softmax" was taken for jaxnn's (check_loss read its __name__): its
    objective was the logistic's cross-entropy of z, not of its outputs, and backprop's a - y was not its
    gradient.  Now only jaxnn's sigmoid and softmax (by name, as Activation, or as jax.nn's) pass."""
    params = jaxnn.init_mlp(jax.random.key(0), [3, 4, 2], scale=0.5)
    X = jax.random.normal(jax.random.key(1), (5, 3))
    Y = jaxnn.encode_labels(jnp.array([0, 1, 1, 0, 1]), 2)

    def sigmoid(z):  # a sigmoid with range (0, 0.5): not the logistic function
        return 0.5 * jax.nn.sigmoid(z)

    def softmax(z):
        return jax.nn.softmax(z, axis=0)

    for fake in (sigmoid, softmax, jaxnn.Activation("sigmoid", sigmoid, None)):
        for f in (jaxnn.objective, jaxnn.backprop):
            with pytest.raises(ValueError, match=r"^output_activation: loss='cross_entropy' needs .*, got "
                                                 rf"'{fake.__name__ if callable(fake) else 'sigmoid'}', a function of "
                                                 r"its own \(the outputs are matched by identity, not by name\)$"):
                f(params, X, Y, 0.0, "tanh", fake, "cross_entropy")
        with pytest.raises(ValueError, match="output_activation: loss='cross_entropy'"):
            jaxnn.train(params, X, Y, steps=1, activation="tanh", output_activation=fake, loss="cross_entropy")
    for name, same in (("sigmoid", jax.nn.sigmoid), ("sigmoid", jaxnn.ACTIVATIONS["sigmoid"]),
                       ("softmax", jax.nn.softmax), ("softmax", jaxnn.ACTIVATIONS["softmax"])):
        J = jaxnn.objective(params, X, Y, 0.0, "tanh", same, "cross_entropy")
        assert float(J) == float(jaxnn.objective(params, X, Y, 0.0, "tanh", name, "cross_entropy"))
