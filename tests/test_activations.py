import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn.activations import get_activation

Z = jnp.linspace(-4.0, 4.0, 41)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "identity"])
def test_derivative_matches_autodiff(name):
    act = get_activation(name)
    z = Z + 0.05  # avoid relu's kink at exactly 0
    auto = jax.vmap(jax.grad(act.f))(z)
    np.testing.assert_allclose(act.df(z), auto, rtol=1e-6, atol=1e-7)


def test_known_values():
    assert float(get_activation("sigmoid").f(jnp.array(0.0))) == 0.5
    assert float(get_activation("sigmoid").df(jnp.array(0.0))) == 0.25
    assert float(get_activation("tanh").df(jnp.array(0.0))) == 1.0
    np.testing.assert_array_equal(get_activation("relu").f(jnp.array([-1.0, 2.0])), [0.0, 2.0])
    np.testing.assert_array_equal(get_activation("relu").df(jnp.array([-1.0, 2.0])), [0.0, 1.0])


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match=r"activation: unknown activation 'swish'.*sigmoid.*tanh.*relu.*identity"):
        get_activation("swish")


def test_softmax_is_output_only():
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        get_activation("softmax")
    assert get_activation("softmax", output=True).df is None


def test_callable_gets_derivative_by_jvp():
    act = get_activation(lambda z: z**3)
    np.testing.assert_allclose(act.df(jnp.array([1.0, 2.0])), [3.0, 12.0])


def test_non_callable_rejected():
    with pytest.raises(ValueError, match="activation"):
        get_activation(3)


def test_registry_exported():
    assert set(jaxnn.ACTIVATIONS) >= {"sigmoid", "tanh", "relu", "identity"}


def test_jax_nn_sigmoid_and_softmax_are_the_registrys():
    """jax.nn.softmax as a callable was applied to the column layout's last axis (the samples: rows of
    forward's output did not sum to 1) with an elementwise f' from jvp; it is now jaxnn's softmax."""
    assert get_activation(jax.nn.sigmoid) is jaxnn.ACTIVATIONS["sigmoid"]
    assert get_activation(jax.nn.softmax, output=True) is jaxnn.ACTIVATIONS["softmax"]
    params = jaxnn.init_mlp(jax.random.key(0), [3, 4, 2], scale=0.5)
    X = jax.random.normal(jax.random.key(1), (5, 3))
    H = jaxnn.forward(params, X, "tanh", jax.nn.softmax)
    np.testing.assert_allclose(H.sum(axis=1), np.ones(5), rtol=1e-6)
    np.testing.assert_array_equal(H, jaxnn.forward(params, X, "tanh", "softmax"))
    with pytest.raises(ValueError, match=r"^activation: jax.nn.softmax is an output activation only"):
        get_activation(jax.nn.softmax)
    with pytest.raises(ValueError, match=r"^output_activation: jax.nn.log_softmax works over an axis"):
        jaxnn.forward(params, X, "tanh", jax.nn.log_softmax)
