"""Static structure axes in the adaptive searches: one pool (one compile) per structure, trials of every structure
ranked together, each trial's numbers those of a search over its structure alone."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import sweeps
from jaxnn.sweeps import lanes


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return {"X": X[:200], "y": y[:200].astype(np.int32), "X_val": X[200:400], "y_val": y[200:400].astype(np.int32)}


def init(key, *, scale, width=8):
    k1, k2 = jax.random.split(key)
    return {"W1": scale * jax.random.normal(k1, (64, width)), "W2": scale * jax.random.normal(k2, (width, 10))}


def logits(params, X):
    return jnp.tanh(X @ params["W1"]) @ params["W2"]


def loss(params, batch):
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, batch["X"]), batch["y"]).mean()


def metrics(params, data):
    return {"val_accuracy": jnp.mean(jnp.argmax(logits(params, data["X_val"]), 1) == data["y_val"])}


def trainable(**defaults):
    return sweeps.trainable_from(init, loss, metrics=metrics, directions={"val_accuracy": "max"}, batch_size=32,
                                 defaults=defaults or None)


@pytest.fixture(scope="module")
def tr():
    """One trainable for the module: a structure's compiled lanes are found again by later searches."""
    return trainable()


SCALE, LR = [0.1, 0.3, 0.1, 0.3, 0.2, 0.5, 0.2, 0.5], [0.01, 0.03, 0.03, 0.01, 0.02, 0.05, 0.01, 0.02]
WIDTH = [4, 4, 12, 12, 4, 12, 4, 12]


def curves(res, i):
    return [c[1]["val_accuracy"] for c in res.curves[i]]


def test_run_over_a_static_axis_equals_one_run_per_structure(data, tr):
    """Trials of width 4 and 12 in one search: each trial's curve equals the same trial (same index: same key,
    same traced values) in a search whose trainable has that width fixed; one compile per structure."""
    before = lanes.compile_count()
    mixed = sweeps.run(tr, sweeps.table(scale=SCALE, lr=LR, width=sweeps.static(WIDTH)), key=jax.random.key(3),
                       data=data, steps=12, segment=4, metric="val_accuracy")
    assert lanes.compile_count() - before == 2  # the segment program, for each of the two widths
    assert mixed.meta["structures"] == [{"width": 4}, {"width": 12}]
    for w in (4, 12):  # 12: the second structure, whose pool's slots are offset in the driver's numbering
        alone = sweeps.run(trainable(width=w), sweeps.table(scale=SCALE, lr=LR), key=jax.random.key(3), data=data,
                           steps=12, segment=4, metric="val_accuracy")
        for i in np.flatnonzero(np.asarray(WIDTH) == w):
            np.testing.assert_allclose(curves(mixed, i), curves(alone, i), rtol=1e-6, atol=0)
    assert mixed.trials["width"].tolist() == WIDTH
    best = mixed.best()
    assert isinstance(best["width"], int) and best["width"] == WIDTH[best["trial"]]


def test_successive_halving_ranks_structures_together_and_resumes(data, tr, tmp_path):
    """A rung of successive halving compares widths as it compares learning rates; a rerun in the same out_dir
    replays the checkpoint (both structures' banks) to the same result."""
    space = sweeps.random(9, scale=sweeps.loguniform(0.05, 0.5), lr=sweeps.loguniform(1e-3, 1e-1),
                          width=sweeps.static([2, 16]))
    kw = dict(key=jax.random.key(0), data=data, metric="val_accuracy", min_steps=3, max_steps=27, eta=3)
    res = sweeps.successive_halving(tr, space, out_dir=tmp_path, **kw)
    widths = res.trials["width"]
    assert set(widths.tolist()) == {2, 16}
    last = [c[-1][1]["val_accuracy"] for c in res.curves]
    survivors = [i for i in range(9) if res.curves[i][-1][0] > 3]
    assert len(survivors) == 3 and min(last[i] for i in survivors) >= max(
        last[i] for i in range(9) if i not in survivors)  # the first rung kept the 3 best, whatever their width
    again = sweeps.successive_halving(tr, space, out_dir=tmp_path, **kw)
    assert again.best() == res.best() or (again.best()["trial"] == res.best()["trial"]
                                          and again.best()["val_accuracy"] == res.best()["val_accuracy"])
    assert [curves(again, i) for i in range(9)] == [curves(res, i) for i in range(9)]
    assert res.state is not None and res.state.guard.kept["W1"].shape == (64, res.best()["width"])


def test_samplers_propose_structures_and_hyperband_takes_static_axes(data, tr):
    """A sampler (random, TPE) proposes a trial's structure with its other values; hyperband over a design."""
    dists = dict(scale=sweeps.loguniform(0.05, 0.5), lr=sweeps.loguniform(1e-3, 1e-1), width=sweeps.static([4, 8]))
    kw = dict(key=jax.random.key(1), data=data, metric="val_accuracy", min_steps=3, max_steps=9, eta=3)
    runs = [sweeps.asha(tr, dists, trials=8, **kw), sweeps.asha(tr, dists, trials=8, sampler=sweeps.tpe(), **kw),
            sweeps.hyperband(tr, sweeps.random(8, **dists), **kw)]
    for res in runs:
        assert [s["width"] for s in res.meta["structures"]] in ([4, 8], [8, 4])
        assert set(res.trials["width"].tolist()) <= {4, 8} and np.isfinite(res.best()["val_accuracy"])
        assert res.state.guard.kept["W1"].shape == (64, res.best()["width"])


def test_static_axes_refused_where_they_cannot_work(data, tr):
    space = dict(scale=sweeps.loguniform(0.05, 0.5), lr=sweeps.loguniform(1e-3, 1e-1), width=sweeps.static([4, 8]))
    with pytest.raises(ValueError, match="pbt per structure"):
        sweeps.pbt(tr, sweeps.random(4, **space), key=jax.random.key(0), data=data, metric="val_accuracy",
                   population=4, interval=3, steps=6)
    with pytest.raises(ValueError, match=r"must be sweeps.static"):  # a width swept as a traced value
        sweeps.run(tr, sweeps.random(4, scale=sweeps.loguniform(0.05, 0.5), width=sweeps.choice([4, 8])),
                   key=jax.random.key(0), data=data, steps=3, segment=3, metric="val_accuracy")

    def metrics_by_width(params, data, *, width):
        out = metrics(params, data)
        return out if width == 4 else {**out, "extra": out["val_accuracy"]}

    tr = sweeps.trainable_from(init, loss, metrics=metrics_by_width, directions={"val_accuracy": "max"})
    with pytest.raises(ValueError, match="same metrics"):
        sweeps.run(tr, sweeps.random(4, **space), key=jax.random.key(0), data=data, steps=3, segment=3,
                   metric="val_accuracy")
