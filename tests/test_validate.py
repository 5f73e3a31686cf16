"""Tests for jaxnn.validate: check_key (PRNG keys at the public boundary), nan_unless and the rule table."""

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


# ------------------------------------------------------------------------------------------ the rule table
@pytest.mark.parametrize("rule, good, bad, words", [
    ("positive", [1e-9, 3.0], [0.0, -1.0], "a value > 0"),
    ("nonnegative", [0.0, 2.0], [-1e-9], "a value >= 0"),
    ("unit_open", [1e-6, 0.5], [0.0, 1.0, -0.1], "a value strictly between 0 and 1"),
    ("unit", [0.0, 1.0], [1.5, -0.5], r"a value in \[0, 1\]"),
    ("unit_right_open", [0.0, 0.9], [1.0, -0.1], r"a value in \[0, 1\)"),
    ("finite", [-1e30, 0.0], [], "a finite value"),
])
def test_each_rule_gives_the_error_and_the_traced_flag(rule, good, bad, words):
    """One rule, two checks: check_rule raises (concrete) and invalid_flag flags (traced, under jit and
    vmap) exactly the same values, NaN and inf included."""
    for x in good:
        assert validate.check_rule("h", x, rule) == x
    for x in bad:
        with pytest.raises(ValueError, match=f"^h: expected {words}, got {x}$"):
            validate.check_rule("h", x, rule)
    for x in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="^h: expected a finite value, got"):
            validate.check_rule("h", x, rule)
    xs = jnp.array(good + bad + [np.nan, np.inf, -np.inf])
    flags = jax.jit(jax.vmap(lambda x: validate.invalid_flag(h=(x, rule))))(xs)
    np.testing.assert_array_equal(flags, [False] * len(good) + [True] * (len(bad) + 3))
    assert validate.RULES[rule].expected() == words.replace("\\", "")


def test_hyperparameters_name_their_rule_once():
    assert validate.rule_of(None, "lr") == validate.RULES["positive"]
    assert validate.rule_of(None, "rho") == validate.RULES["unit_open"]
    with pytest.raises(ValueError, match=r"^rho: expected a value strictly between 0 and 1, got 1.0$"):
        validate.check_rules(lam=0.0, rho=1.0)
    with pytest.raises(ValueError, match=r"^momentum: expected a value in \[0, 1\), got 1.0$"):
        validate.check_rule("momentum", 1.0)
    validate.check_rules(lam=None, lr=0.1, beta=3.0, scale=0.0)  # None: left out, skipped
    with pytest.raises(KeyError, match="no rule for 'width'"):
        validate.check_rule("width", 1.0)


def test_check_rule_checks_the_static_facts_and_passes_traced_values():
    for x, got in ((True, "bool True"), ("1", "str '1'"), (jnp.ones(2), r"an array of shape \(2,\)")):
        with pytest.raises(ValueError, match=f"lam: expected a (real )?scalar, got {got}"):
            validate.check_rule("lam", x)
    # traced: no value check (it could not raise), the flag says it instead
    out = jax.jit(lambda x: (validate.check_rule("lam", x), validate.invalid_flag(lam=x)))(-1.0)
    assert float(out[0]) == -1.0 and bool(out[1])
    # a concrete Python value inside a trace is still checked
    with pytest.raises(ValueError, match="lam: expected a value >= 0, got -1.0"):
        jax.jit(lambda x: validate.check_rule("lam", -1.0) + x)(1.0)


def test_invalid_flag_list_form_and_named_form_agree():
    pairs = [(0.1, "positive"), (-1.0, "nonnegative")]
    assert bool(validate.invalid_flag(pairs)) and bool(validate.invalid_flag(lr=0.1, lam=-1.0))
    assert not bool(validate.invalid_flag([(0.1, "positive"), (0.0, "nonnegative")], rho=0.5, beta=None))
    assert not bool(validate.invalid_flag())
    assert bool(validate.invalid_flag(margin=(0.5, validate.Rule(0.0, 0.5, high_open=True))))


def test_check_scalar_is_the_keyword_form_of_a_rule():
    with pytest.raises(ValueError, match=r"margin: expected a value in \[0, 0.5\), got 0.5"):
        validate.check_scalar("margin", 0.5, nonnegative=True, upper=0.5, open_upper=True)
    with pytest.raises(ValueError, match="f0: expected a value > 0, got 0.0"):
        validate.check_scalar("f0", 0.0, positive=True)
    with pytest.raises(ValueError, match=r"p: expected a value <= 1, got 2.0"):
        validate.check_scalar("p", 2.0, upper=1.0)
    assert validate.check_scalar("shift", -3.0) == -3.0


def test_check_values_names_the_range_expected_and_given():
    validate.check_values("X", np.array([[0.0, 1.0], [0.5, 0.2]]), "unit")
    with pytest.raises(ValueError, match=r"^X: expected values in \[0, 1\] \(why\), got values in \[0, 255\]$"):
        validate.check_values("X", np.array([0.0, 255.0]), "unit", "why")
    with pytest.raises(ValueError, match=r"^w: expected values > 0, got values in \[-1, 2\]$"):
        validate.check_values("w", jnp.array([2.0, -1.0]), "positive")
    with pytest.raises(ValueError, match=r"^w: expected values >= 0, got values in \[1, 1\]$"):
        validate.check_values("w", np.array([1.0, np.nan]), "nonnegative")  # NaN breaks every rule
    jax.jit(lambda x: validate.check_values("X", x, "unit") or x)(jnp.array([300.0]))  # traced: no check
