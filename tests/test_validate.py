"""Tests for jaxnn.validate.check_key (PRNG keys at the public boundary) and nan_unless."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import validate

MSG = r"key: expected a PRNG key, e.g. jax.random.key\(0\), got "


@pytest.mark.parametrize("key", [jax.random.key(0), jax.random.PRNGKey(0), np.asarray(jax.random.PRNGKey(3)),
                                 jax.random.key(1, impl="threefry2x32")])
def test_check_key_accepts_typed_and_raw_keys(key):
    assert validate.check_key("key", key) is key


@pytest.mark.parametrize("key, got", [
    (0, "int 0"), (1.5, "float 1.5"), (None, "NoneType None"), ("seed", "str 'seed'"), (True, "bool True"),
    (jnp.zeros(2, jnp.int32), r"an array of shape \(2,\) and dtype int32"),
    (jnp.zeros(3, jnp.uint32), r"an array of shape \(3,\) and dtype uint32"),
    (np.uint32(7), r"an array of shape \(\) and dtype uint32"),
    (jax.random.split(jax.random.key(0), 3), r"an array of keys of shape \(3,\) \(a single key is needed here\)"),
    (jax.random.split(jax.random.PRNGKey(0), 3), r"raw keys of shape \(3, 2\) \(a single key of shape \(2,\)"),
])
def test_check_key_rejects_non_keys(key, got):
    with pytest.raises(ValueError, match=MSG + got):
        validate.check_key("key", key)


def test_check_key_names_the_argument_and_allows_batches():
    with pytest.raises(ValueError, match=r"rng: expected a PRNG key, e.g. jax.random.key\(0\), got int 3"):
        validate.check_key("rng", 3)
    for keys in (jax.random.split(jax.random.key(0), 4), jax.random.split(jax.random.PRNGKey(0), 4)):
        assert validate.check_key("keys", keys, batched=True) is keys
    with pytest.raises(ValueError, match="keys: expected a PRNG key"):
        validate.check_key("keys", jnp.zeros((4, 2), jnp.float32), batched=True)


def test_check_key_under_tracing_checks_only_dtype_and_shape():
    f = lambda k: jax.random.normal(validate.check_key("key", k), ())  # noqa: E731
    typed = jax.random.split(jax.random.key(0), 3)
    np.testing.assert_array_equal(jax.vmap(f)(typed), [f(k) for k in typed])
    raw = jax.random.split(jax.random.PRNGKey(0), 3)
    np.testing.assert_array_equal(jax.jit(jax.vmap(f))(raw), [f(k) for k in raw])
    with pytest.raises(ValueError, match=MSG + r"an array of shape \(\) and dtype int32"):
        jax.vmap(f)(jnp.arange(3))


def test_nan_unless():
    x = jnp.array([1.0, 2.0], jnp.float32)
    np.testing.assert_array_equal(validate.nan_unless(True, x), x)
    out = validate.nan_unless(jnp.array(False), x)
    assert out.dtype == jnp.float32 and np.all(np.isnan(out))
    np.testing.assert_array_equal(jax.vmap(validate.nan_unless)(jnp.array([True, False]), x), [1.0, np.nan])
