"""jaxnn.estimators.MLPClassifier / MLPRegressor: the same training as scikit-learn's, step for step.

With the same random_state and shuffle=False, jaxnn draws the same Glorot init from the same
RandomState stream and runs the same updates, so in float64 the fitted weights must equal
scikit-learn's to rounding error; that pins the objective (loss scaling, alpha / (2 n) ||W||^2,
sample weights), the optimizers (adam, sgd with momentum / Nesterov), the schedules, early stopping,
warm_start and partial_fit at once.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sk_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from jaxnn.estimators import _epochs as core  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X, y


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **k)


def _assert_same_fit(ours, theirs, atol=1e-9):
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=atol)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-8)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-8)


SOLVERS = [
    dict(solver="adam", learning_rate_init=0.01),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.5, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.3),
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5, tol=0.5, n_iter_no_change=1),
    dict(solver="adam", learning_rate_init=0.01, early_stopping=True, validation_fraction=0.2,
         n_iter_no_change=3, tol=1e-3),
]


@pytest.mark.parametrize("kw", SOLVERS, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_classifier_matches_sklearn_step_for_step(digits, kw):
    X, y = digits
    args = dict(hidden_layer_sizes=(12, 7), max_iter=12, random_state=3, shuffle=False, batch_size=64,
                activation="tanh", alpha=1e-2, **kw)
    ours = _quiet(MLPClassifier(**args).fit, X, y)
    theirs = _quiet(sk_nn.MLPClassifier(**args).fit, X, y)
    _assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-10)
    if kw.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
        assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
        assert ours.best_loss_ is None and len(ours.validation_loss_curve_) == ours.n_iter_
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-8)
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None


def test_binary_multilabel_and_sample_weight_match_sklearn(digits):
    X, y = digits
    sw = np.random.RandomState(0).randint(0, 4, len(y)).astype(float)
    args = dict(hidden_layer_sizes=(9,), max_iter=8, random_state=0, shuffle=False, batch_size=50,
                learning_rate_init=0.02)
    for target in (y % 2, np.stack([y % 2, y > 4, y == 3], axis=1).astype(int)):
        ours = _quiet(MLPClassifier(**args).fit, X, target, sample_weight=sw)
        theirs = _quiet(sk_nn.MLPClassifier(**args).fit, X, target, sample_weight=sw)
        _assert_same_fit(ours, theirs)
        assert ours.out_activation_ == theirs.out_activation_ == "logistic"
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("kw", [dict(), dict(loss="poisson"), dict(multi=True)], ids=["squared", "poisson", "multi"])
def test_regressor_matches_sklearn(diabetes, kw):
    X, y = diabetes
    kw = dict(kw)
    if kw.pop("multi", False):
        y = np.stack([y, 0.5 * y + X[:, 0]], axis=1)
    args = dict(hidden_layer_sizes=(10,), max_iter=10, random_state=1, shuffle=False, learning_rate_init=0.01,
                batch_size=100, **kw)
    ys = y / 100.0
    ours = _quiet(MLPRegressor(**args).fit, X, ys)
    theirs = _quiet(sk_nn.MLPRegressor(**args).fit, X, ys)
    _assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7, atol=1e-10)
    assert ours.score(X, ys) == pytest.approx(theirs.score(X, ys), rel=1e-7)


def test_warm_start_and_partial_fit_continue_like_sklearn(digits):
    X, y = digits
    args = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, shuffle=False, learning_rate_init=0.01)
    ours, theirs = MLPClassifier(warm_start=True, **args), sk_nn.MLPClassifier(warm_start=True, **args)
    for _ in range(2):
        _quiet(ours.fit, X, y)
        _quiet(theirs.fit, X, y)
    _assert_same_fit(ours, theirs)
    assert len(ours.loss_curve_) == 6  # curves append across warm fits, as scikit-learn's

    ours, theirs = MLPClassifier(**args), sk_nn.MLPClassifier(**args)
    classes = np.unique(y)
    for i in range(3):
        ours.partial_fit(X[i::3], y[i::3], classes=classes)
        theirs.partial_fit(X[i::3], y[i::3], classes=classes)
    _assert_same_fit(ours, theirs)
    assert ours.n_iter_ == 1 and len(ours.loss_curve_) == 3


def test_warm_start_continues_from_assigned_coefs(digits):
    X, y = digits
    a = _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit, X, y)
    b = MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=1, warm_start=True, shuffle=False)
    _quiet(b.fit, X, y)
    b.coefs_ = [c.copy() for c in a.coefs_]
    b.intercepts_ = [c.copy() for c in a.intercepts_]
    ref = sk_nn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=1, warm_start=True, shuffle=False)
    _quiet(ref.fit, X, y)
    ref.coefs_ = [c.copy() for c in a.coefs_]
    ref.intercepts_ = [c.copy() for c in a.intercepts_]
    _quiet(b.fit, X, y)
    _quiet(ref.fit, X, y)
    for u, v in zip(b.coefs_, ref.coefs_):
        np.testing.assert_allclose(u, v, rtol=1e-7, atol=1e-10)


def test_attributes_shapes_and_orientation(digits):
    X, y = digits
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(20, 5), max_iter=4, random_state=0).fit, X, y)
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 5), (5, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (5,), (10,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    assert len(clf.loss_curve_) == clf.n_iter_ == 4 and clf.t_ == 4 * len(y)
    # coefs_[l] = W^(l).T: the forward pass by hand from coefs_ gives predict_proba
    a = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    z = a @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), p / p.sum(1, keepdims=True), rtol=1e-9)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-9)


def test_float32_data_train_in_float32(digits):
    X, y = digits
    args = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0, shuffle=False, learning_rate_init=0.01)
    f32 = _quiet(MLPClassifier(**args).fit, X.astype(np.float32), y)
    f64 = _quiet(MLPClassifier(**args).fit, X, y)
    assert f32.coefs_[0].dtype == np.float32 and f64.coefs_[0].dtype == np.float64
    assert f32.predict_proba(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(f32.loss_curve_, f64.loss_curve_, rtol=1e-3)


def test_lbfgs_converges_like_sklearn(digits):
    X, y = digits
    args = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0, alpha=1e-2)
    ours = MLPClassifier(**args).fit(X, y)
    theirs = sk_nn.MLPClassifier(**args).fit(X, y)
    assert ours.n_iter_ < 300  # stopped by tol or ftol, not max_iter (no ConvergenceWarning raised)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.2, abs=0.01)
    assert ours.score(X, y) > 0.97
    with pytest.warns(ConvergenceWarning):
        few = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, max_fun=30,
                            random_state=0).fit(X, y)
    assert 30 <= few.n_fun_ <= 30 + 20  # stops at the first iteration that reaches max_fun
    assert not hasattr(few, "partial_fit")


def test_diverging_epoch_ends_the_run_and_never_becomes_the_best():
    """The stochastic loop checks divergence once per epoch: the epoch whose loss or params turn
    non-finite is marked diverged, its loss is NaN, it ends the run, and under early stopping it is never
    the best (NaN logits still give an accuracy: argmax picks a class) so the best params stay finite."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 5)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]
    params = [{"W": np.full((8, 5), 0.1, np.float32), "b": np.zeros(8, np.float32)},
              {"W": np.full((3, 8), 0.1, np.float32), "b": np.zeros(3, np.float32)}]
    hyper = {k: np.float32(v) for k, v in dict(alpha=1e-4, learning_rate_init=1.0, power_t=0.5, momentum=0.9,
                                                beta_1=0.9, beta_2=0.999, epsilon=1e-8, tol=1e-4,
                                                n_iter_no_change=10).items()}
    data = {"X": X[:64], "Y": Y[:64], "sw": np.ones(64, np.float32), "n": np.int32(64), "bs": np.int32(32),
            "Xv": X[64:], "Yv": Y[64:], "swv": np.ones(32, np.float32)}

    def run(lr, epochs, early_stopping):
        static = core.Static(activation="relu", out="softmax", loss="log_loss", classifier=True, solver="sgd",
                             shuffle=False, early_stopping=early_stopping, monitor=early_stopping, batch=32,
                             n_steps=2, max_iter=5)
        state = core.init_state(params, core.init_opt_state(static, params), lr, 0, 0, np.inf, -np.inf, params,
                                static.max_iter, np.float32)
        return core.run_stochastic_jit(state, data, dict(hyper, learning_rate_init=np.float32(lr)), np.int32(epochs),
                                       static=static)

    for early_stopping in (False, True):
        bad = run(1e30, 5, early_stopping)
        assert bool(bad.diverged) and int(bad.epoch) == 1  # stopped after the first epoch
        assert np.isnan(bad.loss_curve).all()
        assert not np.isfinite(bad.params[0]["W"]).all()
        good = run(1e-4, 5, early_stopping)
        assert not bool(good.diverged) and int(good.epoch) == 5 and np.isfinite(good.loss_curve).all()
    assert np.isfinite(bad.val_curve[0])  # the diverged epoch's NaN logits still scored an accuracy...
    assert float(bad.best_val) == -np.inf  # ... but that epoch did not become the best
    for got, want in zip(bad.best_params, params):
        np.testing.assert_array_equal(got["W"], want["W"])


def test_block_of_fits_equals_each_fit_alone(diabetes):
    """core.run_stochastic_block (k fits of the same data, a shared epoch index) gives each fit what
    run_stochastic gives it alone, also for fits that start at different epochs (one continued, one
    already stopped), with shuffled minibatch orders."""
    import jax

    X, y = diabetes
    X = np.asarray(X[:96], np.float64)
    Y = np.asarray(y[:96, None], np.float64) / 100
    static = core.Static(activation="relu", out="identity", loss="squared_error", classifier=False, solver="adam",
                         shuffle=True, batch=32, n_steps=3, max_iter=8)
    rs = np.random.RandomState(0)
    params = [{"W": rs.normal(0, 0.3, (8, X.shape[1])), "b": np.zeros(8)}, {"W": rs.normal(0, 0.3, (1, 8)),
                                                                             "b": np.zeros(1)}]
    order = np.stack([rs.permutation(96) for _ in range(8)]).astype(np.int32)
    data = {"X": X, "Y": Y, "sw": np.ones(96), "n": np.int32(96), "bs": np.int32(32), "order": order,
            "e0": np.int32(0)}
    base = dict(alpha=1e-4, power_t=0.5, momentum=0.9, beta_1=0.9, beta_2=0.999, epsilon=1e-8, tol=1e-4,
                n_iter_no_change=10)
    hypers = [{k: np.float64(v) for k, v in dict(base, learning_rate_init=lr).items()} for lr in (1e-3, 1e-2, 3e-2)]
    with jax.enable_x64(True):
        def fresh(h):
            return core.init_state(params, core.init_opt_state(static, params), h["learning_rate_init"], 0, 0,
                                   np.inf, -np.inf, params, static.max_iter, np.float64)

        alone = lambda st, h, end: core.run_stochastic_jit(st, data, h, np.int32(end), static=static)  # noqa: E731
        starts = [fresh(hypers[0]), alone(fresh(hypers[1]), hypers[1], 3), fresh(hypers[2])._replace(stopped=True)]
        stack = lambda trees: jax.tree_util.tree_map(lambda *a: np.stack(a), *trees)  # noqa: E731
        ends = np.array([8, 6, 8], np.int32)
        block = jax.jit(core.run_stochastic_block, static_argnames="static")(stack(starts), data, stack(hypers),
                                                                              ends, static=static)
        for j in range(3):
            want = alone(starts[j], hypers[j], ends[j])
            got = jax.tree_util.tree_map(lambda a, j=j: a[j], block)
            assert int(got.epoch) == int(want.epoch) == (8, 6, 0)[j]
            for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_compiled_training_is_reused_across_refits(digits):
    X, y = digits
    _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit, X, y)
    before = core.run_stochastic_jit._cache_size()
    for alpha, lr, seed in [(1e-3, 0.01, 1), (0.1, 0.2, 2)]:  # traced hyperparameters: no recompile
        _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, alpha=alpha, learning_rate_init=lr,
                             random_state=seed).fit, X, y)
    _quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit, X[:-5], y[:-5])  # padded
    assert core.run_stochastic_jit._cache_size() == before


def test_extras_callable_activation_init_scale_squared_loss(digits):
    X, y = digits
    args = dict(hidden_layer_sizes=(10,), max_iter=6, random_state=0, shuffle=False, learning_rate_init=0.01)
    named = _quiet(MLPClassifier(activation="tanh", **args).fit, X, y)
    called = _quiet(MLPClassifier(activation=jnp.tanh, **args).fit, X, y)
    np.testing.assert_allclose(called.coefs_[0], named.coefs_[0], rtol=1e-9)

    small = _quiet(MLPClassifier(init_scale=1e-3, **args).fit, X, y)
    big = _quiet(MLPClassifier(init_scale=1.0, **args).fit, X, y)
    assert np.std(small.coefs_[1]) < 0.1 < np.std(big.coefs_[1])

    sq = _quiet(MLPClassifier(loss="squared_error", hidden_layer_sizes=(32,), max_iter=60, random_state=0,
                              learning_rate_init=0.01).fit, X, y)
    assert sq.score(X, y) > 0.9
    with pytest.raises(ValueError, match="loss"):
        MLPClassifier(loss="hinge").fit(X, y)


def test_callback_and_validation_data(digits):
    X, y = digits
    seen = []

    def cb(epoch, logs):
        seen.append((epoch, logs["loss"], logs["validation_score"]))
        return epoch == 4  # stop after the 4th epoch

    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=50, random_state=0, callback=cb)
    clf.fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    assert [s[0] for s in seen] == [1, 2, 3, 4] and clf.n_iter_ == 4
    np.testing.assert_allclose([s[1] for s in seen], clf.loss_curve_)
    np.testing.assert_allclose([s[2] for s in seen], clf.validation_scores_)
    assert len(clf.validation_loss_curve_) == 4
    # the recorded validation score is the accuracy of the model of that epoch: the last one is now's
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X[300:], y[300:]))


@pytest.mark.parametrize("est", [MLPClassifier, MLPRegressor])
def test_lbfgs_fit_in_one_call_equals_the_fit_with_a_callback(digits, est):
    # Without a callback the fit is one compiled call (init, iterations, reported loss); with one, a
    # call per iteration.  Both run the same iterations to the same state.
    X, y = digits
    y = y if est is MLPClassifier else y.astype(float)
    args = dict(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=15, random_state=0)
    seen = []
    one = _quiet(est(**args).fit, X[:400], y[:400])
    each = _quiet(est(callback=lambda i, logs: seen.append(i) and False, **args).fit, X[:400], y[:400])
    assert seen == list(range(1, one.n_iter_ + 1))
    assert (one.n_iter_, one.n_fun_) == (each.n_iter_, each.n_fun_)
    np.testing.assert_allclose(one.loss_curve_, each.loss_curve_, rtol=1e-12)
    assert one.loss_ == pytest.approx(each.loss_, rel=1e-12)
    for a, b in zip(one.coefs_ + one.intercepts_, each.coefs_ + each.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_bad_input_like_sklearn(digits, diabetes):
    X, y = digits
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(max_iter=2).fit(Xn, y)
    with pytest.raises(ValueError):
        MLPClassifier(max_iter=2).fit(X[:, 0], y)  # 1-D X
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier(max_iter=2).fit(X, y + 0.5)
    with pytest.raises(ValueError):
        MLPRegressor(max_iter=2).fit(X, np.array(["a", "b"] * 200))
    with pytest.raises(ValueError, match="alpha"):
        MLPClassifier(alpha=-1.0).fit(X, y)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    Xr, yr = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=10.0, max_iter=20)
    with pytest.raises(ValueError, match="non-finite"):  # diverges: an error, and nothing half-fitted
        _quiet(reg.fit, Xr, yr)
    assert not hasattr(reg, "coefs_") and not hasattr(reg, "n_iter_")
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(Xr, yr - 500)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier().partial_fit(X, y)


def test_adaptive_learning_rate_shrinks_and_stops(digits):
    X, y = digits
    clf = _quiet(MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive", tol=10.0,
                               n_iter_no_change=1, learning_rate_init=0.1, max_iter=100, random_state=0).fit, X, y)
    # every 2 epochs without a 10.0 improvement divide lr by 5 until lr <= 1e-6: 0.1 / 5^8 < 1e-6
    assert clf._learning_rate <= 1e-6 and clf.n_iter_ < 100


def test_importing_jaxnn_does_not_import_sklearn():
    import os
    import subprocess
    import sys

    code = "import sys, jaxnn; assert 'sklearn' not in sys.modules and 'jaxnn.estimators' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.parametrize("est", ["classifier", "regressor"])
def test_partial_fit_continues_on_data_of_another_dtype_like_sklearn(digits, diabetes, est):
    """A fit or partial_fit on float32 data continued by partial_fit on float64 data trains on (the optimizer
    state, its injected hyperparameters included, is cast to the new dtype) and follows scikit-learn's weights
    to float32 rounding; the weights are then float64 (scikit-learn keeps float32: documented)."""
    if est == "classifier":
        X, y = digits
        args = dict(hidden_layer_sizes=(8,), random_state=0, shuffle=False, learning_rate_init=0.01)
        ours, theirs = MLPClassifier(**args), sk_nn.MLPClassifier(**args)
        for m in (ours, theirs):
            m.partial_fit(X.astype(np.float32), y, classes=np.arange(10))
    else:
        X, y = diabetes
        y = y / 100.0
        args = dict(hidden_layer_sizes=(8,), random_state=0, shuffle=False, learning_rate_init=0.01, max_iter=3)
        ours, theirs = MLPRegressor(**args), sk_nn.MLPRegressor(**args)
        for m in (ours, theirs):
            _quiet(m.fit, X.astype(np.float32), y)
    for m in (ours, theirs):
        m.partial_fit(X, y)
        m.partial_fit(X, y)
    assert ours.coefs_[0].dtype == np.float64 and ours.t_ == theirs.t_
    floats = [a for a in jax.tree_util.tree_leaves(ours._opt_state) if np.issubdtype(np.asarray(a).dtype, np.floating)]
    assert floats and all(np.asarray(a).dtype == np.float64 for a in floats)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_t_and_invscaling_rate_stay_exact_past_float32_integers(diabetes):
    """t_ counts samples exactly in a float32 fit past 2**24 (a float32 sum stuck at 2**30: 60 rows are under
    half its ulp) and 'invscaling' reads that exact t every epoch: the rates follow lr / (t + 1) as
    scikit-learn's, and the rate kept for the next call is scikit-learn's Python float."""
    X, y = diabetes
    X, y = X[:60].astype(np.float32), y[:60] / 100.0
    args = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate="invscaling", power_t=1.0, learning_rate_init=1.0,
                batch_size=60, max_iter=20, shuffle=False, random_state=0, warm_start=True, n_iter_no_change=100)
    rates = []
    ours = MLPRegressor(callback=lambda e, logs: rates.append(logs["learning_rate"]), **args)
    theirs = sk_nn.MLPRegressor(**args)
    for m in (ours, theirs):
        _quiet(m.fit, X, y)
        m.t_ = 2**30  # a long stream so far
        _quiet(m.fit, X, y)  # warm start: t_ goes on, the rate restarts at learning_rate_init
    assert ours.t_ == theirs.t_ == 2**30 + 20 * 60
    np.testing.assert_allclose(rates[20:], [1.0 / (2**30 + e * 60 + 1) for e in range(1, 21)], rtol=1.5e-7)
    assert ours._learning_rate == theirs._optimizer.learning_rate
    for m in (ours, theirs):
        m.t_ = 2**40 + 3
        m.partial_fit(X, y)
    assert ours.t_ == theirs.t_ == 2**40 + 63
    assert ours._learning_rate == theirs._optimizer.learning_rate


def test_t_digits_count_exactly_in_float32():
    """The compiled loop's sample count (int32 digits) advances exactly and converts to float32 rounded once."""
    t = core.t_split(2**30 + 1)
    add = jax.jit(lambda t, n: core.t_add(t, n))
    for _ in range(1000):
        t = add(t, np.int32(2**24 - 7))
    want = 2**30 + 1 + 1000 * (2**24 - 7)
    assert core.t_int(t) == want and int(t[1]) < core.T_BASE
    assert float(jax.jit(core.t_float, static_argnums=1)(t, jnp.float32)) == float(np.float32(want))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adaptive_rate_stops_where_sklearns_python_float_does(digits, dtype):
    """learning_rate='adaptive' stops when the rate is <= 1e-6 in float64, as scikit-learn's Python float:
    5e-6 / 5 is 1.0000000000000002e-06 (not yet), though float32(5e-6) / 5 rounds to float32(1e-6);
    also in a search, whose fits count the divisions from their own learning_rate_init."""
    from sklearn.model_selection import StratifiedKFold

    from jaxnn.estimators import MLPGridSearchCV

    X, y = digits
    X, y = X[:200].astype(dtype), y[:200]
    args = dict(solver="sgd", learning_rate="adaptive", learning_rate_init=5e-6, hidden_layer_sizes=(8,), max_iter=60,
                random_state=0, n_iter_no_change=1, tol=1.0, shuffle=False)
    ours = _quiet(MLPClassifier(**args).fit, X, y)
    theirs = _quiet(sk_nn.MLPClassifier(**args).fit, X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 7
    assert ours._learning_rate == theirs._optimizer.learning_rate
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    grid = _quiet(MLPGridSearchCV(MLPClassifier(**args), {"learning_rate_init": [5e-6, 1e-6]}, cv=2).fit, X, y)
    want = [[_quiet(sk_nn.MLPClassifier(**dict(args, learning_rate_init=lr)).fit, X[tr], y[tr]).n_iter_
             for tr, _ in StratifiedKFold(2).split(X, y)] for lr in (5e-6, 1e-6)]
    np.testing.assert_array_equal(grid.n_iter_per_split_, want)


def test_validation_data_must_have_the_training_targets_kind(digits):
    """fit(validation_data=...) refuses a y_val that the fitted model cannot score: labels not in classes_ (a
    binary model scored an unseen label as its negative class), other multilabel columns, or another number
    of regression outputs, naming validation_data."""
    X, y = digits
    args = dict(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    with pytest.raises(ValueError, match=r"validation_data: y_val has classes not in `self.classes_`.*\[0 1 2\]"):
        MLPClassifier(**args).fit(X[y < 2], y[y < 2], validation_data=(X[y < 3], y[y < 3]))
    with pytest.raises(ValueError, match="validation_data: y_val has classes not in"):
        MLPClassifier(**args).fit(X[y < 5], y[y < 5], validation_data=(X, y))
    Y = np.stack([y % 2, y > 4], axis=1).astype(int)
    with pytest.raises(ValueError, match="validation_data: y_val is multilabel-indicator of shape"):
        MLPClassifier(**args).fit(X, Y, validation_data=(X, np.stack([y % 2, y > 4, y > 7], axis=1).astype(int)))
    with pytest.raises(ValueError, match="validation_data: y_val is multiclass"):
        MLPClassifier(**args).fit(X, Y, validation_data=(X, y))
    with pytest.raises(ValueError, match=r"validation_data: y_val has 2 output\(s\), expected 1"):
        MLPRegressor(**args).fit(X, y.astype(float), validation_data=(X, np.stack([y, -y], axis=1).astype(float)))
    ok = _quiet(MLPClassifier(**args).fit, X[y < 3], y[y < 3], validation_data=(X[y < 2], y[y < 2]))
    assert ok.validation_scores_[-1] == pytest.approx(ok.score(X[y < 2], y[y < 2]))


def test_hidden_layer_sizes_must_be_positive_integers():
    X, y = np.random.RandomState(0).rand(10, 3), [0, 1] * 5
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be positive integers .*got \[4.0\]"):
        MLPClassifier(hidden_layer_sizes=(4.0,)).fit(X, y)
    with pytest.raises(ValueError) as ours:
        MLPClassifier(hidden_layer_sizes=(2, 0)).fit(X, y)
    with pytest.raises(ValueError) as theirs:
        sk_nn.MLPClassifier(hidden_layer_sizes=(2, 0)).fit(X, y)
    assert str(ours.value) == str(theirs.value) == "hidden_layer_sizes must be > 0, got [2, 0]."
