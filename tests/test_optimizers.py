"""The optimizer argument (jaxnn.optimizers): names, factories, traced optimizer_kwargs, partials, the
cache-stable forms compile once, a ready-made transformation rebuilt on every call warns once."""

import functools
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import compiles as count_compiles
from _helpers import toy

import jaxnn
from jaxnn import optimizers


def _toy(m, key=0):
    """tests/_helpers.toy with m samples of a (3, 4, 2) network."""
    return toy(key, m, sizes=(3, 4, 2))


def compiles():
    """The compilations of train's jitted run inside the block (a list of seconds)."""
    return count_compiles("_train")


@pytest.fixture
def fresh_registry(monkeypatch):
    """Forget the optimizers seen by earlier tests (the warning is once per process)."""
    monkeypatch.setattr(optimizers, "_SEEN", {})
    monkeypatch.setattr(optimizers, "_WARNED", set())


def _same(a, b, **kw):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, **kw)


@pytest.mark.parametrize("name", sorted(optimizers.NAMES))
def test_every_name_is_its_optax_factory(name):
    params, X, Y = _toy(8)
    a, ha = jaxnn.train(params, X, Y, lr=1e-2, steps=3, optimizer=name)
    b, hb = jaxnn.train(params, X, Y, lr=1e-2, steps=3, optimizer=getattr(optax, name))
    _same(a, b, rtol=0, atol=0)
    assert np.all(np.isfinite(ha["loss"])) and int(ha["diverged_at"]) == -1
    assert not np.allclose(a[0]["W"], params[0]["W"])  # it did train


def test_kwargs_partial_and_ready_made_agree():
    params, X, Y = _toy(10, 1)
    ready, hr = jaxnn.train(params, X, Y, steps=20, optimizer=optax.sgd(0.05, momentum=0.9, nesterov=True))
    named, hn = jaxnn.train(params, X, Y, lr=0.05, steps=20, optimizer="sgd",
                            optimizer_kwargs={"momentum": 0.9, "nesterov": True})
    part, hp = jaxnn.train(params, X, Y, lr=0.05, steps=20,
                           optimizer=functools.partial(optax.sgd, momentum=0.9, nesterov=True))
    _same(ready, named, rtol=1e-6)
    _same(named, part, rtol=0, atol=0)
    np.testing.assert_allclose(hr["loss"], hn["loss"], rtol=1e-6)
    plain, _ = jaxnn.train(params, X, Y, lr=0.05, steps=20, optimizer="sgd")
    assert not np.allclose(plain[0]["W"], named[0]["W"])  # the momentum was used


def test_factory_name_and_kwargs_compile_once():
    params, X, Y = _toy(11, 2)  # a shape of its own: nothing compiled by another test
    with compiles() as factory:
        for lr in (1e-3, 1e-2, 3e-2):
            jaxnn.train(params, X, Y, lr=lr, steps=5, optimizer=optax.adam)
    with compiles() as named:
        for lr, b1 in ((1e-3, 0.8), (1e-2, 0.9), (3e-2, 0.95)):  # b1 is traced: no new compilation
            jaxnn.train(params, X, Y, lr=lr, steps=5, optimizer="adam", optimizer_kwargs={"b1": b1})
    with compiles() as part:
        for b1 in (0.8, 0.9):
            jaxnn.train(params, X, Y, lr=1e-2, steps=5, optimizer=functools.partial(optax.adam, b1=b1))
    # the name is optax.adam itself, so the b1 kwarg only adds a traced argument; the partial is that same call
    assert len(factory) == 1 and len(named) == 1 and len(part) == 0, (factory, named, part)


def test_static_kwargs_are_part_of_the_cache_key():
    params, X, Y = _toy(12, 3)
    with compiles() as seen:
        for nesterov in (False, True, False):
            jaxnn.train(params, X, Y, lr=0.1, steps=4, optimizer="sgd",
                        optimizer_kwargs={"momentum": 0.5, "nesterov": nesterov})
    assert len(seen) == 2


def test_ready_made_rebuilt_every_call_recompiles_and_warns_once(fresh_registry):
    params, X, Y = _toy(13, 4)
    with compiles() as seen, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            jaxnn.train(params, X, Y, steps=5, optimizer=optax.adam(1e-2))
    ours = [w for w in caught if issubclass(w.category, UserWarning) and "optimizer" in str(w.message)]
    assert len(seen) == 3  # what the warning is about
    assert len(ours) == 1, [str(w.message) for w in caught]
    msg = str(ours[0].message)
    assert "compiled again" in msg and "optimizer=optax.adam, lr=" in msg and "optimizer='adam'" in msg
    assert ours[0].filename == __file__  # points at the caller's line


def test_inline_factory_warns_once_and_stable_forms_never(fresh_registry):
    params, X, Y = _toy(14, 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adam = optax.adam(1e-2)
        for lr in (1e-2, 2e-2):
            jaxnn.train(params, X, Y, lr=lr, steps=3, optimizer="adam")
            jaxnn.train(params, X, Y, lr=lr, steps=3, optimizer=optax.adam)
            jaxnn.train(params, X, Y, steps=3, optimizer=adam)  # one object, reused: compiled once
        assert not [w for w in caught if "optimizer" in str(w.message)]
        for lr in (1e-2, 2e-2, 3e-2):
            jaxnn.train(params, X, Y, lr=lr, steps=3, optimizer=lambda lr: optax.adam(lr))  # noqa: B023
    assert len([w for w in caught if "optimizer: a new optax factory" in str(w.message)]) == 1


def test_traced_kwargs_under_vmap_compile_once():
    params, X, Y = _toy(15, 6)

    @jax.jit
    @jax.vmap
    @chex.assert_max_traces(n=1)
    def run(momentum):
        p, h = jaxnn.train(params, X, Y, lr=0.05, steps=10, optimizer="sgd", optimizer_kwargs={"momentum": momentum})
        return h["loss"][-1]

    ms = jnp.array([0.0, 0.5, 0.9])
    final = run(ms)
    run(ms * 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # three ready-made transformations with the same code, on purpose
        for i, mu in enumerate([0.0, 0.5, 0.9]):
            _, h = jaxnn.train(params, X, Y, steps=10, optimizer=optax.sgd(0.05, momentum=mu))
            np.testing.assert_allclose(final[i], h["loss"][-1], rtol=1e-5)


def test_autoencoder_accepts_names_and_kwargs():
    X = jax.random.uniform(jax.random.key(0), (20, 6))
    p0 = jaxnn.autoencoder.init(jax.random.key(1), 6, 3)
    a, ha = jaxnn.autoencoder.fit(p0, X, method="gd", optimizer="adam", lr=1e-2, steps=5,
                                  optimizer_kwargs={"b1": 0.8})
    b, hb = jaxnn.autoencoder.fit(p0, X, method="gd", optimizer=optax.adam(1e-2, b1=0.8), steps=5)
    _same(a, b, rtol=1e-6)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(optimizer="adamx"), r"optimizer: unknown optimizer name 'adamx'; expected one of \["),
    (dict(optimizer=3), "optimizer: expected None, an optax GradientTransformation, a factory"),
    (dict(optimizer=optax.adam(0.1), optimizer_kwargs={"b1": 0.9}), "optimizer_kwargs: only used with a name"),
    (dict(optimizer=None, optimizer_kwargs={"b1": 0.9}), "optimizer_kwargs: only used with a name"),
    (dict(optimizer="adam", optimizer_kwargs={"b3": 0.9}), r"optimizer_kwargs: 'b3' is not an argument of 'adam'"),
    (dict(optimizer="adam", optimizer_kwargs={"learning_rate": 0.1}), "pass the learning rate as lr"),
    (dict(optimizer="adam", optimizer_kwargs={"b1": float("nan")}), r"optimizer_kwargs\['b1'\]: expected a finite"),
    (dict(optimizer="adamw", optimizer_kwargs={"mask": [1]}), r"optimizer_kwargs\['mask'\]: expected a float"),
    (dict(optimizer="adam", optimizer_kwargs=[("b1", 0.9)]), "optimizer_kwargs: expected a dict"),
])
def test_optimizer_argument_errors(kwargs, match):
    params, X, Y = _toy(8)
    with pytest.raises(ValueError, match=match):
        jaxnn.train(params, X, Y, steps=2, **kwargs)


def test_recompilation_warning_points_at_the_callers_line_from_every_entry_point(fresh_registry):
    """The warning is raised three (train) to four (autoencoder.fit: fit, _prepare_fit, resolve) frames deep
    in jaxnn; validate.warn points it at the first frame outside the package, here this file."""
    X = jax.random.uniform(jax.random.key(0), (20, 6))
    p0 = jaxnn.autoencoder.init(jax.random.key(1), 6, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            jaxnn.autoencoder.fit(p0, X, method="gd", optimizer=optax.sgd(0.5), steps=2)
    ours = [w for w in caught if "a new optax GradientTransformation" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__, [(w.filename, str(w.message)) for w in caught]


def test_a_refused_call_registers_no_optimizer(fresh_registry):
    """train(optimizer=optax.sgd(.1), lr=.1) is refused (lr with a GradientTransformation), but resolve had
    registered the object first: the corrected call, the first to compile, warned of "a new object with the
    same code as one passed before".  Every check now runs before the registration, in train and fit."""
    params, X, Y = _toy(8)
    Xa, p0 = jax.random.uniform(jax.random.key(0), (20, 6)), jaxnn.autoencoder.init(jax.random.key(1), 6, 3)
    refused = [lambda: jaxnn.train(params, X, Y, steps=2, optimizer=optax.sgd(0.1), lr=0.1),
               lambda: jaxnn.train(params, X, Y, steps=2, optimizer=optax.sgd(0.1), batch_size=100,
                                   key=jax.random.key(0)),
               lambda: jaxnn.train(params, X, Y, steps=2, optimizer=lambda lr: optax.adam(lr), lr=-1.0),
               lambda: jaxnn.autoencoder.fit(p0, Xa, method="gd", optimizer=optax.sgd(0.1), lr=0.1, steps=2)]
    for call in refused:
        with pytest.raises(ValueError, match="^(lr|batch_size): "):
            call()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jaxnn.train(params, X, Y, steps=2, optimizer=optax.sgd(0.1))
        jaxnn.train(params, X, Y, steps=2, optimizer=lambda lr: optax.adam(lr), lr=0.1)
        jaxnn.autoencoder.fit(p0, Xa, method="gd", optimizer=optax.sgd(0.1), steps=2)
    assert not [str(w.message) for w in caught if "a new optax" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:  # a second accepted object still warns, as before
        warnings.simplefilter("always")
        jaxnn.train(params, X, Y, steps=2, optimizer=optax.sgd(0.1))
    assert len([w for w in caught if "a new optax GradientTransformation" in str(w.message)]) == 1


# ------------------------------------------------------------------------------ the default learning rate
def test_default_lr_is_one_rule_with_the_values_each_entry_point_had():
    adam = optimizers.NAMES["adam"]
    assert optimizers.default_lr(None, "mlp") == 0.1 and optimizers.default_lr(adam, "mlp") == 0.1
    assert optimizers.default_lr(None, "autoencoder") == 1.0 and optimizers.default_lr(adam, "autoencoder") == 1.0
    assert optimizers.default_lr(None, "softmax", n_inputs=64) == 0.5
    assert optimizers.default_lr(optimizers.adam_cosine, "softmax", n_inputs=64) == 0.05
    assert optimizers.default_lr(optimizers.adam_cosine, "softmax", n_inputs=400) == 10.0 / 400
    assert optimizers.default_lr(optax.adam(0.1), "softmax", n_inputs=64) is None  # it has its own


def test_train_and_autoencoder_fit_use_the_default_lr():
    """lr left out equals lr=default_lr(...) passed explicitly (and differs from another lr)."""
    params, X, Y = _toy(12, 7)
    _, h = jaxnn.train(params, X, Y, steps=5)
    _, h_rule = jaxnn.train(params, X, Y, steps=5, lr=optimizers.default_lr(None, "mlp"))
    _, h_other = jaxnn.train(params, X, Y, steps=5, lr=0.3)
    np.testing.assert_array_equal(h["loss"], h_rule["loss"])
    assert not np.allclose(h["loss"], h_other["loss"])
    Xa = jax.random.uniform(jax.random.key(0), (20, 6))
    p0 = jaxnn.autoencoder.init(jax.random.key(1), 6, 3)
    _, ha = jaxnn.autoencoder.fit(p0, Xa, method="gd", steps=5)
    _, ha_rule = jaxnn.autoencoder.fit(p0, Xa, method="gd", steps=5, lr=optimizers.default_lr(None, "autoencoder"))
    np.testing.assert_array_equal(ha["loss"], ha_rule["loss"])
