"""Metric directions are declared (jaxnn.sweep's directions=, a Trainable's directions, or mode=), never
guessed from a metric's name; best() of an undeclared metric is an error naming both fixes.  And the
sweep's entry errors in the user's words (fn without a key / data parameter, NaN in data)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import sweeps
from jaxnn.sweeps.results import SweepResult

KEY = jax.random.key(0)


def accuracy_result(directions=None):
    """Three trials whose val_accuracy is 0.9, 0.5, 0.7 (one seed): the best is trial 0, the worst trial 1."""
    return SweepResult(axes={"trial": np.arange(3)}, seeds=1,
                       metrics={"val_accuracy": np.array([[0.9], [0.5], [0.7]]),
                                "val_loss": np.array([[0.2], [0.1], [0.3]])},
                       diverged=np.zeros((3, 1), bool), coords={"lr": np.array([0.1, 1.0, 0.3])},
                       space={"kind": "table", "params": {}, "static": []}, directions=directions)


def test_best_takes_the_declared_direction_never_the_worst():
    res = accuracy_result({"val_accuracy": "max"})
    assert res.best("val_accuracy") == {"trial": 0, "lr": 0.1, "val_accuracy": 0.9, "index": (0,)}
    assert res.best() == res.best("val_accuracy")  # the one declared metric
    assert res.best("val_accuracy", mode="min")["trial"] == 1  # mode= wins over the declaration
    assert res.best("val_loss", mode="min")["trial"] == 1


def test_best_keeps_a_hyperparameter_named_like_the_metric():
    res = SweepResult(axes={"lr": np.array([0.5, 2.0])}, seeds=1,
                      metrics={"lr": np.array([[3.0], [98.0]]), "index": np.array([[1.0], [6.0]])},
                      diverged=np.zeros((2, 1), bool), directions={"lr": "max", "index": "max"})
    assert res.best("lr") == {"lr": 2.0, "metric/lr": 98.0, "index": (1,)}  # as rows() names such a metric
    assert res.best("index") == {"lr": 2.0, "metric/index": 6.0, "index": (1,)}


def test_best_of_an_undeclared_metric_names_both_fixes():
    res = accuracy_result()
    # before: best("val_accuracy") defaulted to mode="min" and silently returned the worst trial (1)
    with pytest.raises(ValueError, match=r"mode: no direction is declared for metric 'val_accuracy' .*pass "
                                         r"mode='max' or mode='min', or declare it: jaxnn.sweep\(fn, space, \.\.\., "
                                         r"directions=\{'val_accuracy': 'max'\}\)"):
        res.best("val_accuracy")
    with pytest.raises(ValueError, match=r"metric: expected the name of a scalar metric .* declares none"):
        res.best()
    with pytest.raises(ValueError, match=r"metric: .* declares \['val_accuracy', 'val_loss'\]"):
        accuracy_result({"val_accuracy": "max", "val_loss": "min"}).best()
    with pytest.raises(ValueError, match="mode: expected 'max' or 'min', got 'maximum'"):
        res.best("val_accuracy", mode="maximum")
    with pytest.raises(ValueError, match=r"directions: expected 'max' or 'min' for every metric, got \{'a': 'up'\}"):
        accuracy_result({"a": "up"})


def test_old_spellings_of_best_warn_and_still_work():
    res = accuracy_result()
    with pytest.warns(DeprecationWarning, match="positional mode is deprecated"):
        assert res.best("val_accuracy", "max")["trial"] == 0
    with pytest.warns(DeprecationWarning, match=r"best\(name=...\) is deprecated"):
        assert res.best(name="val_loss", mode="min")["trial"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert res.best("val_accuracy", mode="max")["trial"] == 0


def test_directions_are_saved_and_loaded(tmp_path):
    res = accuracy_result({"val_accuracy": "max"})
    res.save(tmp_path)
    back = SweepResult.load(tmp_path)
    assert back.directions == {"val_accuracy": "max"} and back.best()["trial"] == 0


def quad(key, lr):
    return {"acc": -(lr - 0.3) ** 2, "err": (lr - 0.3) ** 2}


def test_sweep_stores_its_directions_and_checks_them():
    space = sweeps.table(lr=[0.1, 0.3, 0.9])
    res = jaxnn.sweep(quad, space, key=KEY, progress=False, directions={"acc": "max", "err": "min"})
    assert res.directions == {"acc": "max", "err": "min"} == res.meta["directions"]
    assert res.best("acc")["lr"] == res.best("err")["lr"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match=r"directions: \['accuracy'\] are not outputs of fn; it returns "
                                         r"\['acc', 'err'\]"):
        jaxnn.sweep(quad, space, key=KEY, progress=False, directions={"accuracy": "max"})
    with pytest.raises(ValueError, match=r"directions: expected a mapping"):
        jaxnn.sweep(quad, space, key=KEY, progress=False, directions=["acc"])


def test_sweep_resumes_with_its_directions(tmp_path):
    space = sweeps.table(lr=[0.1, 0.3, 0.9])
    jaxnn.sweep(quad, space, key=KEY, progress=False, out_dir=tmp_path, directions={"acc": "max"})
    back = SweepResult.load(tmp_path)
    assert back.directions == {"acc": "max"} and back.best()["lr"] == pytest.approx(0.3)


# --- entry errors in the user's words, before any compute -------------------------------------------------

def test_fn_without_a_key_or_data_parameter():
    space = sweeps.table(lr=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"fn: expected fn\(key, lr\): the first argument is the run's PRNG key, "
                                         r"but <lambda>\(lr\) has no parameter for it; add one first"):
        jaxnn.sweep(lambda lr: {"loss": lr}, space, key=KEY, progress=False)
    with pytest.raises(ValueError, match=r"fn: data= was given, so fn is called as fn\(key, data, lr\), but "
                                         r"<lambda>\(key, lr\) has no data parameter; add one second .* or leave "
                                         r"data= out"):
        jaxnn.sweep(lambda key, lr: {"loss": lr}, space, key=KEY, data={"X": np.ones(3)}, progress=False)
    with pytest.raises(ValueError, match=r"fn: expected fn\(key, data, lr\)"):
        jaxnn.sweep(lambda lr, data: {"loss": lr}, space, key=KEY, data={"X": np.ones(3)}, progress=False)
    res = jaxnn.sweep(lambda *a, **k: {"loss": k["lr"]}, space, key=KEY, progress=False)  # *args: any lead
    assert res["loss"][:, 0].tolist() == pytest.approx([0.1, 0.2])


def test_nan_or_inf_in_data_is_refused():
    space = sweeps.table(lr=[0.1, 0.2])
    X = np.ones((4, 2), np.float32)
    X[1, 1] = np.inf
    X[2, 0] = np.nan

    def fn(key, data, lr):
        return {"loss": lr * jnp.sum(data["X"])}
    with pytest.raises(ValueError, match=r"data: expected finite values, got 2 NaN/inf entries in data\['X'\] "
                                         r"\(shape \(4, 2\)\)"):
        jaxnn.sweep(fn, space, key=KEY, data={"X": X}, progress=False)
    res = jaxnn.sweep(fn, space, key=KEY, data={"X": np.nan_to_num(X, posinf=1.0)}, progress=False)
    assert res.n_diverged == 0


# --- adaptive searches: the trainable's declaration or mode= --------------------------------------------------

def _linear():
    X = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    data = {"X": X, "y": X @ np.arange(1.0, 4.0, dtype=np.float32)}

    def init(key, data, lr):
        return {"w": 0.1 * jax.random.normal(key, (3,))}

    def advance(state, data, steps, lr):
        def step(w, _):
            return w - lr * jax.grad(lambda w: jnp.mean((data["X"] @ w - data["y"]) ** 2))(w), None
        return {"w": jax.lax.scan(step, state["w"], None, length=steps)[0]}

    def evaluate(state, data, lr):
        mse = jnp.mean((data["X"] @ state["w"] - data["y"]) ** 2)
        return {"mse": mse, "score": -mse}
    return (init, advance, evaluate), data


def test_searches_need_a_declared_direction():
    fns, data = _linear()
    space = sweeps.table(lr=[0.01, 0.05, 0.1])
    kw = dict(key=KEY, data=data, min_steps=2, max_steps=6, eta=3, progress=False)
    with pytest.raises(ValueError, match=r"mode: no direction is declared for metric 'score' \(declared: none\); "
                                         r"pass mode='max' or mode='min', or declare it: Trainable\("):
        sweeps.successive_halving(sweeps.Trainable(*fns), space, metric="score", **kw)  # no guess from "score"
    with pytest.raises(ValueError, match=r"trainable.directions: expected 'max' or 'min'"):
        sweeps.successive_halving(sweeps.Trainable(*fns, directions={"mse": "lower"}), space, metric="mse", **kw)
    lin = sweeps.Trainable(*fns, directions={"mse": "min", "score": "max"})
    res = sweeps.successive_halving(lin, space, metric="score", **kw)
    assert res.mode == "max" and res.directions == {"mse": "min", "score": "max"}
    assert res.meta["directions"] == res.directions
    b = res.best()
    assert b["score"] == max(res.value(i) for i in res.final)
    assert res.best("mse")["trial"] == b["trial"] and res.best("mse")["mse"] == pytest.approx(-b["score"])
    assert res.best("mse", mode="max")["mse"] >= res.best("mse")["mse"]
    with pytest.raises(ValueError, match=r"metric: expected a metric of this result \['mse', 'score'\], got 'msq'"):
        res.best("msq")
    undeclared = res._replace(directions={})
    with pytest.raises(ValueError, match="mode: no direction is declared for metric 'mse'"):
        undeclared.best("mse")
    assert undeclared.best()["trial"] == b["trial"]  # the search's own metric and mode


def test_patience_takes_the_trainables_direction():
    fns, data = _linear()
    space = sweeps.table(lr=[0.01, 0.05])
    rule = sweeps.patience("mse", 2)
    assert rule.mode is None
    kw = dict(key=KEY, data=data, steps=8, segment=2, progress=False)
    with pytest.raises(ValueError, match=r"mode: no direction is declared for metric 'mse'.*sweeps.patience"):
        sweeps.run(sweeps.Trainable(*fns), space, early_stopping=rule, metric="score", mode="max", **kw)
    res = sweeps.run(sweeps.Trainable(*fns, directions={"mse": "min"}), space, early_stopping=rule, **kw)
    assert res.mode == "min" and res.metric == "mse"
    given = sweeps.run(sweeps.Trainable(*fns), space, early_stopping=rule, mode="min", **kw)  # one metric, one mode
    assert given.curves == res.curves and given.mode == "min"
