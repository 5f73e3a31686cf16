import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn


def test_encode_labels_sigmoid_and_tanh():
    y = jnp.array([2, 0, 1])
    np.testing.assert_array_equal(jaxnn.encode_labels(y, 3), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(jaxnn.encode_labels(y, 3, "tanh"), [[-1, -1, 1], [1, -1, -1], [-1, 1, -1]])


def test_decode_roundtrip_and_single_output():
    y = jnp.array([3, 1, 0, 2, 2])
    for act in ("sigmoid", "tanh"):
        np.testing.assert_array_equal(jaxnn.decode_labels(jaxnn.encode_labels(y, 4, act), act), y)
    np.testing.assert_array_equal(jaxnn.decode_labels(jnp.array([[0.2], [0.7]])), [0, 1])
    np.testing.assert_array_equal(jaxnn.decode_labels(jnp.array([[-0.2], [0.1]]), "tanh"), [0, 1])


def test_encode_label_errors():
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got range \[0, 3\]"):
        jaxnn.encode_labels(jnp.array([0, 3]), 3)
    with pytest.raises(ValueError, match="labels: expected integer class indices"):
        jaxnn.encode_labels(jnp.array([0.5]), 3)
    with pytest.raises(ValueError, match="activation: expected one of"):
        jaxnn.encode_labels(jnp.array([0]), 3, "relu")
    with pytest.raises(ValueError, match="n_classes: expected an integer >= 2"):
        jaxnn.encode_labels(jnp.array([0]), 1)


def test_encode_label_errors_name_the_callers_argument():
    """argname: the caller's name for the labels (softmax's y), in every message; why: where K comes from."""
    with pytest.raises(ValueError, match=r"^y: expected values in \[0, 3\) \(3 outputs\), got range \[-2, 1\]$"):
        jaxnn.encode_labels(jnp.array([1, -2]), 3, argname="y", why="3 outputs")
    with pytest.raises(ValueError, match="^y: expected integer class indices"):
        jaxnn.encode_labels(jnp.array([0.5]), 3, argname="y")
    with pytest.raises(ValueError, match="^y: expected a 1-D array"):
        jaxnn.encode_labels(jnp.zeros((2, 1), int), 3, argname="y")


@pytest.mark.parametrize("act, lo, hi", [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)])
def test_target_scaling_roundtrip(act, lo, hi):
    Y = jax.random.normal(jax.random.key(0), (50, 3)) * jnp.array([1.0, 100.0, 0.01]) + 7
    s = jaxnn.fit_target_scaler(Y, act)
    Z = jaxnn.scale_targets(Y, s)
    np.testing.assert_allclose(Z.min(0), lo, atol=1e-6)
    np.testing.assert_allclose(Z.max(0), hi, atol=1e-6)
    np.testing.assert_allclose(jaxnn.unscale_targets(Z, s), Y, rtol=1e-5)


def test_target_scaling_margin_and_constant_column():
    Y = jnp.stack([jnp.arange(5.0), jnp.full(5, 3.0)], axis=1)
    s = jaxnn.fit_target_scaler(Y, "sigmoid", margin=0.1)
    Z = jaxnn.scale_targets(Y, s)
    np.testing.assert_allclose(Z[:, 0], [0.1, 0.3, 0.5, 0.7, 0.9], rtol=1e-6)
    np.testing.assert_allclose(Z[:, 1], 0.5)
    np.testing.assert_allclose(jaxnn.unscale_targets(Z, s), Y, rtol=1e-6)
    with pytest.raises(ValueError, match=r"margin: expected a value in \[0, 0.5\), got"):
        jaxnn.fit_target_scaler(Y, margin=0.5)
    with pytest.raises(ValueError, match="Y: expected finite values"):
        jaxnn.fit_target_scaler(Y.at[0, 0].set(jnp.nan))
