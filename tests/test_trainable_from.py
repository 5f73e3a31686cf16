"""sweeps.trainable_from: a Trainable from init / loss / metrics (a dict of arrays, Equinox, Flax NNX), its
segments, hyperparameter routing, status, and bad input refused before any compute."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, sweeps


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return {"X": X[:300], "y": y[:300].astype(np.int32), "X_val": X[300:600], "y_val": y[300:600].astype(np.int32)}


def init(key, *, scale):
    k1, k2 = jax.random.split(key)
    return {"W1": scale * jax.random.normal(k1, (64, 32)), "W2": scale * jax.random.normal(k2, (32, 10))}


def logits(params, X):
    return jnp.tanh(X @ params["W1"]) @ params["W2"]


def loss(params, batch, *, lam):
    ridge = sum(jnp.sum(w ** 2) for w in jax.tree.leaves(params))
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, batch["X"]), batch["y"]).mean() + lam * ridge


def metrics(params, data):
    return {"val_accuracy": jnp.mean(jnp.argmax(logits(params, data["X_val"]), 1) == data["y_val"])}


HP = dict(scale=0.1, lr=1e-2, lam=1e-4)
SPACE = dict(scale=sweeps.loguniform(1e-2, 1.0), lr=sweeps.loguniform(1e-3, 1e-1), lam=sweeps.loguniform(1e-6, 1e-2))
SH = dict(metric="val_accuracy", min_steps=3, max_steps=27, eta=3, progress=False)


def leaves_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("batch_size", [None, 64])
def test_segments_equal_one_call_and_the_loop_is_the_optimizer(data, batch_size):
    tr = sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, batch_size=batch_size)
    assert tr.hyperparameters == {"lam": None, "lr": 1e-3, "scale": None}
    assert tr.directions == {"loss": "min", "val_accuracy": "max"}
    s0 = tr.init(jax.random.key(1), data, **HP)
    a = tr.advance(tr.advance(s0, data, 5, **HP), data, 7, **HP)
    b = tr.advance(s0, data, 12, **HP)
    assert leaves_equal(a, b) and int(b.guard.t) == 12 and int(b.guard.diverged_at) == -1
    if batch_size is None:  # full batch: the same steps as optax's adam by hand
        opt = optax.adam(HP["lr"])

        @jax.jit
        def by_hand(p):
            def step(c, _):
                p, st = c
                u, st = opt.update(jax.grad(loss)(p, {"X": data["X"], "y": data["y"]}, lam=HP["lam"]), st, p)
                return (optax.apply_updates(p, u), st), None
            return jax.lax.scan(step, (p, opt.init(p)), None, length=12)[0][0]
        p = by_hand(s0.params)
        for k in p:
            np.testing.assert_allclose(b.params[k], p[k], rtol=2e-5, atol=1e-6)
    out = tr.evaluate(b, data, **HP)
    assert set(out) == {"loss", "val_accuracy", "diverged_at", "invalid"}
    assert float(out["loss"]) < float(tr.evaluate(s0, data, **HP)["loss"])


def test_successive_halving_tunes_a_dict_model(data):
    tr = sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, batch_size=128)
    res = sweeps.successive_halving(tr, sweeps.random(9, **SPACE), key=jax.random.key(0), data=data, **SH)
    best = res.best()
    assert best["steps"] == 27 and best["val_accuracy"] > 0.5
    np.testing.assert_allclose(float(tr.evaluate(jax.tree.map(jnp.asarray, res.state), data,
                                                 **{k: best[k] for k in SPACE})["val_accuracy"]),
                               best["val_accuracy"], rtol=1e-6)


def test_hyperparameters_go_only_where_declared(data):
    seen = {}

    def init2(key, *, scale, width=8):
        seen["init"] = {"scale", "width"}
        return {"W": scale * jax.random.normal(key, (64, width)), "V": jnp.zeros((width, 10))}

    def loss2(params, batch, lam):  # no **kwargs: passing scale, lr or width here would be a TypeError
        z = jnp.tanh(batch["X"] @ params["W"]) @ params["V"]
        return optax.softmax_cross_entropy_with_integer_labels(z, batch["y"]).mean() + lam * jnp.sum(params["W"] ** 2)

    tr = sweeps.trainable_from(init2, loss2, optimizer="sgd", lr=0.5, defaults={"width": 4, "lam": 0.0})
    assert tr.hyperparameters == {"lam": 0.0, "lr": 0.5, "scale": None, "width": 4}
    s = tr.advance(tr.init(jax.random.key(0), data, scale=0.1), data, 3, scale=0.1)
    assert s.params["W"].shape == (64, 4) and seen["init"]
    with pytest.raises(ValueError, match=r"hp: unknown hyperparameters \['momentum'\]"):
        tr.init(jax.random.key(0), data, scale=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"hyperparameters \['scale'\] have no default"):
        tr.init(jax.random.key(0), data)
    with pytest.raises(ValueError, match=r"space: hyperparameters \['beta'\] are not the trainable's"):
        sweeps.successive_halving(tr, sweeps.random(3, scale=sweeps.uniform(0.05, 0.2), beta=sweeps.uniform(0, 1)),
                                  key=jax.random.key(0), data=data, metric="loss", min_steps=1, max_steps=3,
                                  progress=False)
    with pytest.raises(ValueError, match=r"defaults: \['depth'\] are not hyperparameters"):
        sweeps.trainable_from(init2, loss2, defaults={"depth": 2})


def test_invalid_and_diverged_runs_are_flagged_not_crashed(data):
    tr = sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, optimizer="sgd",
                               invalid=lambda lam: lam < 0)
    space = sweeps.table(scale=[0.1, 0.1, 0.1, 0.1], lr=[0.5, -1.0, 0.5, 1e30], lam=[1e-4, 1e-4, -1.0, 1e-4])
    res = sweeps.run(tr, space, key=jax.random.key(0), data=data, steps=6, segment=3, metric="val_accuracy",
                     progress=False)
    ok, diverged, invalid = sweeps.status.OK, sweeps.status.DIVERGED, sweeps.status.INVALID
    assert list(res.status) == [ok, invalid, invalid, diverged]
    last = [c[-1][1] for c in res.curves]
    assert np.isfinite(last[0]["val_accuracy"]) and np.isnan(last[1]["val_accuracy"]) and np.isnan(last[2]["loss"])
    assert res.best()["trial"] == 0


def test_bad_input_is_refused_before_compute(data):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="directions: expected 'max' or 'min'"):
        sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "up"})
    with pytest.raises(ValueError, match="batch_size"):
        sweeps.trainable_from(init, loss, batch_size=0)
    with pytest.raises(ValueError, match="optimizer: unknown optimizer name"):
        sweeps.trainable_from(init, loss, optimizer="adamm")
    with pytest.raises(ValueError, match="init: expected a function"):
        sweeps.trainable_from("init", loss)
    vec = sweeps.trainable_from(init, lambda p, b, lam: jnp.sum(p["W1"], 0) * lam)
    with pytest.raises(ValueError, match=r"loss: expected a float scalar .* shape \(32,\)"):
        vec.init(key, data, **HP)
    ints = sweeps.trainable_from(init, lambda p, b, lam: jnp.int32(1))
    with pytest.raises(ValueError, match="loss: expected a float scalar"):
        ints.init(key, data, **HP)
    wide = sweeps.trainable_from(init, loss, metrics=lambda p, d: {"val_logits": logits(p, d["X_val"])})
    with pytest.raises(ValueError, match=r"metrics: expected a scalar for every metric, got shapes"):
        wide.evaluate(wide.init(key, data, **HP), data, **HP)
    tr = sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"})
    with pytest.raises(ValueError, match=r"data: loss read the entry 'y', which data= lacks"):
        sweeps.successive_halving(tr, sweeps.random(3, **SPACE), key=key, data={"X": data["X"]}, **SH)
    with pytest.raises(ValueError, match=r"data: metrics read the entry 'X_val'"):
        tr.evaluate(tr.init(key, {"X": data["X"], "y": data["y"]}, **HP), {"X": data["X"], "y": data["y"]}, **HP)
    with pytest.raises(ValueError, match="lr: a GradientTransformation carries its own learning rate"):
        sweeps.trainable_from(init, loss, optimizer=optax.adam(1e-3), lr=0.1)


def test_models_split_pytrees_equinox_and_nnx():
    p = {"W": jnp.ones((2, 3))}
    sp = models.split(p)
    assert models.kind_of(p) == "pytree" and sp.merge(sp.params) is sp.params
    eqx = pytest.importorskip("equinox")  # the `models` extra (installed in dev: CI runs this)
    m = eqx.nn.MLP(4, 2, 8, 1, key=jax.random.key(0))
    sp = models.split(m)
    assert models.kind_of(m) == "equinox"
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(sp.params))
    x = jnp.ones(4)
    np.testing.assert_array_equal(sp.merge(sp.params)(x), m(x))
    nnx = pytest.importorskip("flax.nnx")
    lin = nnx.Linear(4, 2, rngs=nnx.Rngs(0))
    sp = models.split(lin)
    assert models.kind_of(lin) == "nnx"
    np.testing.assert_array_equal(sp.merge(sp.params)(jnp.ones((1, 4))), lin(jnp.ones((1, 4))))


def test_equinox_and_flax_nnx_models_train_in_segments(data):
    """The two model libraries through trainable_from (docs/guides/models.md runs successive halving with each)."""
    eqx = pytest.importorskip("equinox")
    nnx = pytest.importorskip("flax.nnx")

    def ce(z, y):
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

    class MLP(nnx.Module):
        def __init__(self, width, *, rngs):
            self.l1, self.l2 = nnx.Linear(64, width, rngs=rngs), nnx.Linear(width, 10, rngs=rngs)

        def __call__(self, x):
            return self.l2(jnp.tanh(self.l1(x)))

    built = {
        "equinox": sweeps.trainable_from(
            lambda key, *, width=16: eqx.nn.MLP(64, 10, width, 1, activation=jnp.tanh, key=key),
            lambda m, b: ce(jax.vmap(m)(b["X"]), b["y"])),
        "nnx": sweeps.trainable_from(
            lambda key, *, width=16: MLP(width, rngs=nnx.Rngs(params=key)), lambda m, b: ce(m(b["X"]), b["y"])),
    }
    for name, tr in built.items():
        assert tr.hyperparameters == {"lr": 1e-3, "width": 16}, name
        s0 = tr.init(jax.random.key(2), data, lr=1e-2)
        four = tr.advance(s0, data, 4, lr=1e-2)
        assert leaves_equal(tr.advance(tr.advance(s0, data, 2, lr=1e-2), data, 2, lr=1e-2), four), name
        assert float(tr.evaluate(four, data, lr=1e-2)["loss"]) < float(tr.evaluate(s0, data, lr=1e-2)["loss"]), name


def test_batch_size_needs_every_training_entry_to_have_the_rows(data):
    def wloss(params, batch, *, lam=0.0):
        z = optax.softmax_cross_entropy_with_integer_labels(logits(params, batch["X"]), batch["y"])
        return jnp.mean(z * batch["class_w"][batch["y"]])

    weighted = {**data, "class_w": jnp.arange(1.0, 11.0)}  # (10,): not rows
    tr = sweeps.trainable_from(init, wloss, batch_size=50)
    with pytest.raises(ValueError, match=r"data: with batch_size=50 .* data\['class_w'\] has shape \(10,\), not the "
                                         r"300 rows of data\['X'\]"):
        tr.init(jax.random.key(0), weighted, scale=0.1)
    with pytest.raises(ValueError, match=r"data\['class_w'\] has shape"):  # a search says so before any compute
        sweeps.search(tr, {"scale": sweeps.uniform(0.1, 0.2)}, trials=1, batch=1, steps=2, key=jax.random.key(0),
                      data=weighted, metric="loss", progress=False)
    short = {**data, "y": data["y"][:200]}
    with pytest.raises(ValueError, match=r"data\['y'\] has shape \(200,\), not the 300 rows"):
        sweeps.trainable_from(init, loss, batch_size=50).init(jax.random.key(0), short, **HP)
    full = sweeps.trainable_from(init, wloss)  # full batch: entries are used whole
    assert np.isfinite(float(full.evaluate(full.init(jax.random.key(0), weighted, scale=0.1), weighted,
                                           scale=0.1)["loss"]))


def test_the_default_lr_is_what_the_docstring_says():
    lrs = {repr(o): sweeps.trainable_from(init, loss, optimizer=o).hyperparameters["lr"]
           for o in (None, "sgd", optax.sgd, "adam")}
    assert list(lrs.values()) == [0.1, 1e-3, 1e-3, 1e-3]
    doc = " ".join(sweeps.trainable_from.__doc__.split())
    assert "0.1 for ``optimizer=None`` (plain gradient descent), 1e-3 for a name or a factory (``\"sgd\"`` and " \
           "``optax.sgd`` included)" in doc


def test_needs_is_checked(data):
    for bad in ({"val_accuracy": "X_val"}, 3, {"val_accuracy": ("X_val", 1)}, {1: ("X_val",)}):
        with pytest.raises(ValueError, match=r"needs: expected a dict \{metric name: \(data keys, \.\.\.\)\}"):
            sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, needs=bad)
    tr = sweeps.trainable_from(init, loss, metrics=lambda p, d: metrics(p, d) if "X_val" in d else {},
                               directions={"val_accuracy": "max"}, needs={"val_accuracy": ["X_val", "y_val"]})
    assert tr.needs == {"val_accuracy": ("X_val", "y_val")}
    with pytest.raises(ValueError, match=r"data: metric 'val_accuracy' is computed from data\['X_val'\] and "
                                         r"data\['y_val'\], which data= lacks"):
        sweeps.search(tr, SPACE, trials=2, batch=2, steps=2, key=jax.random.key(0),
                      data={"X": data["X"], "y": data["y"]}, metric="val_accuracy", progress=False)


def test_conflicting_keyword_defaults_need_defaults(data):
    seen = {}

    def init3(key, *, scale=0.1):
        seen["init"] = scale
        return init(key, scale=scale)

    def loss3(params, batch, *, scale=5.0):
        seen["loss"] = scale
        return loss(params, batch, lam=0.0)

    with pytest.raises(ValueError, match=r"scale: init and loss declare the hyperparameter 'scale' with different "
                                         r"defaults \(0\.1 and 5\.0\); .*defaults=\{'scale': \.\.\.\}"):
        sweeps.trainable_from(init3, loss3)
    tr = sweeps.trainable_from(init3, loss3, defaults={"scale": 0.2})
    tr.init(jax.random.key(0), data)
    assert tr.hyperparameters["scale"] == 0.2 and seen == {"init": 0.2, "loss": 0.2}
    same = sweeps.trainable_from(init3, lambda p, b, *, scale=0.1: loss(p, b, lam=0.0))  # equal defaults: fine
    assert same.hyperparameters["scale"] == 0.1


def test_static_optimizer_kwargs_are_checked_at_trainable_from(data):
    with pytest.raises(ValueError, match=r"optimizer_kwargs: the optimizer cannot take the static \(non-float\) "
                                         r"values \{'b1': 'x'\}"):
        sweeps.trainable_from(init, loss, optimizer_kwargs={"b1": "x"})
    tr = sweeps.trainable_from(init, loss, optimizer="sgd", optimizer_kwargs={"momentum": 0.9, "nesterov": True})
    assert tr.hyperparameters["momentum"] == pytest.approx(0.9)
    masked = sweeps.trainable_from(init, loss, optimizer="adamw",  # a mask depends on the model: not probed
                                   optimizer_kwargs={"mask": lambda p: {"W1": True, "W2": False}})
    s = masked.advance(masked.init(jax.random.key(0), data, **HP), data, 2, **HP)
    assert int(s.guard.t) == 2
