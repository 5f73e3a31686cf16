"""jaxnn.models through sweeps.trainable_from: only the floating arrays (of an NNX module, its nnx.Param
variables') are trained; integer buffers and non-parameter NNX state are carried unchanged; random state and a
forward pass that changes the model's state are refused with a ValueError before any compute."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, sweeps

X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
DATA = {"X": X, "y": (X[:, 0] > 0).astype(np.int32)}
LR = dict(lr=1e-2)


def ce(z, y):
    return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()


def leaves_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_partition_and_combine_split_float_leaves_from_the_rest():
    p = {"W": jnp.ones((2, 3)), "n": jnp.array(3), "flag": jnp.array(True), "s": 0.5, "none": None}
    trained, rest = models.partition(p)
    assert trained["W"] is p["W"] and trained["s"] == 0.5 and trained["n"] is None and trained["flag"] is None
    assert rest["W"] is None and rest["n"] is p["n"] and rest["flag"] is p["flag"]
    back = models.combine(trained, rest)
    assert jax.tree.structure(back) == jax.tree.structure(p) and leaves_equal(back, p)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_integer_leaves_are_carried_unchanged(batch_size):
    def init(key):
        return {"W": 0.1 * jax.random.normal(key, (8, 2)), "n": jnp.array(2), "on": jnp.array(True)}

    def loss(p, b):
        return ce(b["X"] @ p["W"] * p["n"] * p["on"], b["y"])

    tr = sweeps.trainable_from(init, loss, batch_size=batch_size)
    s0 = tr.init(jax.random.key(0), DATA, **LR)
    s = tr.advance(s0, DATA, 5, **LR)
    assert s.params["n"].dtype == jnp.int32 and int(s.params["n"]) == 2 and bool(s.params["on"])
    assert not np.array_equal(s.params["W"], s0.params["W"])
    assert float(tr.evaluate(s, DATA, **LR)["loss"]) < float(tr.evaluate(s0, DATA, **LR)["loss"])
    res = sweeps.search(tr, {"lr": sweeps.loguniform(1e-3, 1e-2)}, trials=2, batch=2, steps=3, key=jax.random.key(0),
                        data=DATA, metric="loss", progress=False)
    assert list(res.status) == [sweeps.status.OK] * 2


def test_an_equinox_int_buffer_trains_as_eqx_filter_grad_does():
    eqx = pytest.importorskip("equinox")

    class M(eqx.Module):
        W: jax.Array
        idx: jax.Array  # int32: which inputs to use

        def __call__(self, x):
            return x[self.idx] @ self.W

    def init(key):
        return M(0.1 * jax.random.normal(key, (4, 2)), jnp.array([3, 1, 0, 2]))

    def loss(m, b):
        return ce(jax.vmap(m)(b["X"]), b["y"])

    tr = sweeps.trainable_from(init, loss, optimizer="adam")
    s0 = tr.init(jax.random.key(1), DATA, **LR)
    s = tr.advance(s0, DATA, 6, **LR)
    m, opt = eqx.combine(s0.params, init(jax.random.key(0))), optax.adam(LR["lr"])  # by hand, Equinox's way
    st = opt.init(eqx.filter(m, eqx.is_inexact_array))
    for _ in range(6):
        u, st = opt.update(eqx.filter_grad(loss)(m, DATA), st)
        m = eqx.apply_updates(m, u)
    np.testing.assert_array_equal(s.params.idx, [3, 1, 0, 2])
    np.testing.assert_allclose(s.params.W, m.W, rtol=2e-5, atol=1e-6)


def test_nnx_non_param_state_is_carried_not_trained():
    nnx = pytest.importorskip("flax.nnx")

    class Count(nnx.Variable):
        pass

    class B(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(8, 2, rngs=rngs)
            self.bn = nnx.BatchNorm(2, use_running_average=True, rngs=rngs)  # statistics: not parameters
            self.shift = nnx.BatchStat(jnp.full((2,), 0.5))
            self.seen = Count(jnp.array(7))

        def __call__(self, x):
            return self.bn(self.lin(x)) + self.shift[...]

    def init(key):
        return B(nnx.Rngs(params=key))

    def metrics(m, d):
        return {"var0": m.bn.var[0], "shift0": m.shift[0], "seen": m.seen[...].astype(jnp.float32)}

    tr = sweeps.trainable_from(init, lambda m, b: ce(m(b["X"]), b["y"]), metrics=metrics, optimizer="adamw",
                               optimizer_kwargs={"weight_decay": 0.5}, lr=0.1)
    s0 = tr.init(jax.random.key(0), DATA)
    s = tr.advance(s0, DATA, 10)
    out = tr.evaluate(s, DATA)
    assert float(out["var0"]) == 1.0 and float(out["shift0"]) == 0.5 and float(out["seen"]) == 7.0  # weight decay
    assert leaves_equal(s.params["bn"]["mean"], s0.params["bn"]["mean"])
    assert not np.array_equal(s.params["lin"]["kernel"][...], s0.params["lin"]["kernel"][...])
    assert not np.array_equal(s.params["bn"]["scale"][...], s0.params["bn"]["scale"][...])  # a Param: trained


def test_random_state_is_refused_before_compute():
    nnx = pytest.importorskip("flax.nnx")

    class D(nnx.Module):
        def __init__(self, rngs):
            self.lin, self.do = nnx.Linear(8, 2, rngs=rngs), nnx.Dropout(0.1, rngs=rngs)

        def __call__(self, x):
            return self.do(self.lin(x))

    for batch_size in (None, 16):
        tr = sweeps.trainable_from(lambda key: D(nnx.Rngs(params=key, dropout=key)),
                                   lambda m, b: ce(m(b["X"]), b["y"]), batch_size=batch_size)
        with pytest.raises(ValueError, match=r"init: the model holds typed PRNG keys at .*'do'.*not supported"):
            tr.init(jax.random.key(0), DATA, **LR)
        with pytest.raises(ValueError, match=r"init: the model holds typed PRNG keys"):
            sweeps.search(tr, {"lr": sweeps.loguniform(1e-3, 1e-2)}, trials=2, batch=2, steps=3,
                          key=jax.random.key(0), data=DATA, metric="loss", progress=False)
    raw = sweeps.trainable_from(lambda key: {"W": jnp.zeros((8, 2)), "k": key},
                                lambda p, b: ce(b["X"] @ p["W"], b["y"]))
    with pytest.raises(ValueError, match=r"typed PRNG keys at \[\"\['k'\]\"\]; .*key_data"):
        raw.init(jax.random.key(0), DATA, **LR)


def test_a_forward_pass_that_changes_nnx_state_is_refused():
    nnx = pytest.importorskip("flax.nnx")

    class B(nnx.Module):
        def __init__(self, rngs):
            self.lin, self.bn = nnx.Linear(8, 2, rngs=rngs), nnx.BatchNorm(2, rngs=rngs)  # training mode

        def __call__(self, x):
            return self.bn(self.lin(x))

    tr = sweeps.trainable_from(lambda key: B(nnx.Rngs(params=key)), lambda m, b: ce(m(b["X"]), b["y"]))
    with pytest.raises(ValueError, match=r"loss: the NNX module's forward pass set its variables at .*'mean'"):
        tr.init(jax.random.key(0), DATA, **LR)
    with pytest.raises(ValueError, match=r"loss: the NNX module's forward pass set .*use_running_average=True"):
        sweeps.search(tr, {"lr": sweeps.loguniform(1e-3, 1e-2)}, trials=2, batch=2, steps=3, key=jax.random.key(0),
                      data=DATA, metric="loss", progress=False)


def test_a_container_of_modules_is_refused():
    eqx = pytest.importorskip("equinox")
    tr = sweeps.trainable_from(lambda key: eqx.nn.make_with_state(eqx.nn.BatchNorm)(8, "batch"),
                               lambda ms, b: jnp.float32(0.0))
    with pytest.raises(ValueError, match=r"init: a model that is neither .*\[0\]\.axis_name.*make_with_state"):
        tr.init(jax.random.key(0), DATA, **LR)
