"""Shuffling parity: with shuffle=True (scikit-learn's default) jaxnn draws every epoch's minibatch
order from the same NumPy stream as scikit-learn (after the init and the early-stopping split), so
float64 sgd / adam fits equal scikit-learn's to rounding, and the order does not depend on the dtype."""

import warnings

import numpy as np
import pytest

sk_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils import shuffle as sk_shuffle  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRegressor  # noqa: E402
from jaxnn.estimators import _layout as layout  # noqa: E402
from jaxnn.estimators._layout import Orders, order_rows  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **k)


def _assert_same_fit(ours, theirs, rtol=1e-9, atol=1e-10):
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


CLF = [
    dict(solver="adam", learning_rate_init=0.01),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.9),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, nesterovs_momentum=False),
    dict(solver="adam", learning_rate_init=0.01, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3),
]


@pytest.mark.parametrize("random_state", [0, 1, 7])
@pytest.mark.parametrize("kw", CLF, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_shuffled_classifier_equals_sklearn(digits, kw, random_state):
    X, y = digits
    args = dict(hidden_layer_sizes=(12, 7), max_iter=15, random_state=random_state, batch_size=64,
                activation="tanh", alpha=1e-3, **kw)
    ours = _quiet(MLPClassifier(**args).fit, X, y)
    theirs = _quiet(sk_nn.MLPClassifier(**args).fit, X, y)
    _assert_same_fit(ours, theirs)
    if kw.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)


@pytest.mark.parametrize("random_state", [0, 3, 11])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_shuffled_regressor_equals_sklearn(diabetes, solver, random_state):
    X, y = diabetes
    args = dict(hidden_layer_sizes=(9,), max_iter=20, random_state=random_state, batch_size=50, solver=solver,
                learning_rate_init=0.01 if solver == "adam" else 1e-3, alpha=1e-2)
    ours = _quiet(MLPRegressor(**args).fit, X, y)
    theirs = _quiet(sk_nn.MLPRegressor(**args).fit, X, y)
    _assert_same_fit(ours, theirs, atol=1e-9)


def test_float32_agrees_with_float64_as_sklearn_does(digits):
    """The order does not depend on the dtype: the float32 fit follows the float64 one within
    scikit-learn's own float32 tolerances (test_mlp.py: predictions rtol 5e-4, probabilities 1e-2)."""
    X, y = digits
    args = dict(hidden_layer_sizes=(5, 3), max_iter=60, random_state=0)
    r64 = _quiet(MLPRegressor(**args).fit, X, y)
    r32 = _quiet(MLPRegressor(**args).fit, X.astype(np.float32), y)
    assert r32.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(r32.loss_curve_, r64.loss_curve_, rtol=5e-4)
    np.testing.assert_allclose(r32.predict(X), r64.predict(X), rtol=5e-4, atol=1e-3)
    c64 = _quiet(MLPClassifier(**args).fit, X, y)
    c32 = _quiet(MLPClassifier(**args).fit, X.astype(np.float32), y)
    np.testing.assert_allclose(c32.predict_proba(X), c64.predict_proba(X), rtol=1e-2, atol=1e-4)


def test_orders_are_sklearn_shuffles_in_blocks_and_rewind_the_stream():
    n, N = 7, 9
    rs = np.random.RandomState(5)
    orders = Orders(rs, n, N)
    got = np.concatenate([orders.block(3, 4)[:3], orders.block(2, 4)[:2]])
    assert got.shape == (5, N) and got.dtype == np.int32
    ref, idx = np.random.RandomState(5), np.arange(n)
    for e in range(5):
        idx = sk_shuffle(idx, random_state=ref)
        np.testing.assert_array_equal(got[e, :n], idx)
        np.testing.assert_array_equal(got[e, n:], [7, 8])  # padded slots keep their places
    orders.finish(4)  # 4 epochs ran: the stream is where scikit-learn's is after 4 shuffles
    ref = np.random.RandomState(5)
    idx = np.arange(n)
    for _ in range(4):
        idx = sk_shuffle(idx, random_state=ref)
    assert rs.randint(1 << 30) == ref.randint(1 << 30)


def test_blocks_of_epochs_give_the_same_fit_and_a_shared_stream_advances_as_sklearn(digits, monkeypatch):
    X, y = digits
    args = dict(hidden_layer_sizes=(8,), max_iter=12, batch_size=100, learning_rate_init=0.01)
    one = _quiet(MLPClassifier(random_state=2, **args).fit, X, y)
    monkeypatch.setattr(layout, "ORDER_BLOCK", 5 * 600)  # blocks of 5 epochs: 3 compiled calls
    assert order_rows(600, 16) == 5
    blocks = _quiet(MLPClassifier(random_state=2, **args).fit, X, y)
    _assert_same_fit(blocks, one, rtol=0, atol=0)
    # a fit that stops early (tol) with a RandomState instance leaves it where scikit-learn leaves it
    stop = dict(args, tol=10.0, n_iter_no_change=2)
    ours_rs, theirs_rs = np.random.RandomState(4), np.random.RandomState(4)
    ours = MLPClassifier(random_state=ours_rs, **stop).fit(X, y)
    theirs = sk_nn.MLPClassifier(random_state=theirs_rs, **stop).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 4  # stopped by tol: epochs 2, 3, 4 count, 3 > 2
    assert ours_rs.randint(1 << 30) == theirs_rs.randint(1 << 30)


def test_partial_fit_and_callback_follow_sklearn_shuffles(digits):
    X, y = digits
    args = dict(hidden_layer_sizes=(8,), batch_size=128, random_state=0, learning_rate_init=0.01)
    ours, theirs = MLPClassifier(**args), sk_nn.MLPClassifier(**args)
    for _ in range(3):
        ours.partial_fit(X, y, classes=np.unique(y))
        theirs.partial_fit(X, y, classes=np.unique(y))
    _assert_same_fit(ours, theirs)
    seen = []
    cb = _quiet(MLPClassifier(max_iter=6, callback=lambda e, logs: seen.append(e) and False, **args).fit, X, y)
    full = _quiet(sk_nn.MLPClassifier(max_iter=6, **args).fit, X, y)
    assert seen == list(range(1, 7))
    _assert_same_fit(cb, full)


def test_shuffled_grid_search_equals_sklearn_over_its_own_mlp(digits):
    X, y = digits[0][:300], digits[1][:300]
    args = dict(hidden_layer_sizes=(10,), max_iter=8, random_state=0, batch_size=64)
    grid = {"alpha": [1e-4, 1.0], "learning_rate_init": [1e-3, 3e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPGridSearchCV(MLPClassifier(**args), grid, cv=3).fit(X, y)
        theirs = GridSearchCV(sk_nn.MLPClassifier(**args), grid, cv=3).fit(X, y)
    for s in range(3):
        np.testing.assert_allclose(ours.cv_results_[f"split{s}_test_score"], theirs.cv_results_[f"split{s}_test_score"])
    assert ours.best_params_ == theirs.best_params_
    for a, b in zip(ours.best_estimator_.coefs_, theirs.best_estimator_.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
