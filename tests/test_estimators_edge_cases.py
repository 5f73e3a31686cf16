"""scikit-learn's documented edge cases, as scikit-learn behaves: divergence under early stopping,
lbfgs's max_fun, the stratified early-stopping split's error."""

import warnings

import numpy as np
import pytest

sk_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRegressor  # noqa: E402


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


DIVERGE = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.02, early_stopping=True, max_iter=20,
               random_state=0, n_iter_no_change=50)


def test_divergence_under_early_stopping_finishes_like_sklearn(diabetes):
    X, y = diabetes
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        ours = MLPRegressor(**DIVERGE).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk_nn.MLPRegressor(**DIVERGE).fit(X, y)
    assert not np.isfinite(theirs.loss_curve_[-1])  # the case: scikit-learn's fit diverged too
    assert ours.n_iter_ == theirs.n_iter_ == 20 and ours.t_ == theirs.t_
    assert np.isnan(ours.validation_scores_[-1]) and np.isnan(ours.loss_)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)  # NaN == NaN
    finite = np.isfinite(theirs.loss_curve_)
    np.testing.assert_array_equal(np.isfinite(ours.loss_curve_), finite)
    np.testing.assert_allclose(np.asarray(ours.loss_curve_)[finite], np.asarray(theirs.loss_curve_)[finite],
                               rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):  # the best params
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    with pytest.raises(ValueError, match="non-finite parameter weights"):  # without early stopping: raised
        MLPRegressor(**dict(DIVERGE, early_stopping=False)).fit(X, y)


def test_grid_search_keeps_a_diverged_early_stopping_fit_as_sklearn(diabetes):
    X, y = diabetes
    grid = {"learning_rate_init": [1e-3, 0.02]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MLPGridSearchCV(MLPRegressor(**DIVERGE), grid, cv=3).fit(X, y)
        theirs = GridSearchCV(sk_nn.MLPRegressor(**DIVERGE), grid, cv=3).fit(X, y)
    for s in range(3):
        got, want = ours.cv_results_[f"split{s}_test_score"], theirs.cv_results_[f"split{s}_test_score"]
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-8)
    assert (ours.n_iter_per_split_[1] == 20).all()


@pytest.mark.parametrize("max_fun", [1, 3, 10])
def test_lbfgs_max_fun_warns_and_bounds_n_iter(max_fun):
    X, y = load_digits(return_X_y=True)
    X, y = X / 16.0, (y > 4).astype(int)  # binary: logistic output
    args = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_fun=max_fun, max_iter=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="EVALUATIONS EXCEEDS LIMIT") as rec:
        ours = MLPClassifier(**args).fit(X, y)
    with pytest.warns(ConvergenceWarning) as rec_sk:
        theirs = sk_nn.MLPClassifier(**args).fit(X, y)
    assert 1 <= ours.n_iter_ <= max_fun and ours.n_fun_ > max_fun
    assert abs(ours.n_iter_ - theirs.n_iter_) <= max(1, max_fun // 3)  # line searches differ (documented)
    head = f"lbfgs failed to converge after {ours.n_iter_} iteration(s) (status=1):"
    assert str(rec[0].message).split("\n")[:2] == [head, str(rec_sk[0].message).split("\n")[1]]


def test_lbfgs_stops_by_max_iter_with_sklearns_words():
    X, y = load_digits(return_X_y=True)
    args = dict(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="ITERATIONS REACHED LIMIT"):
        ours = MLPClassifier(**args).fit(X / 16.0, y)
    assert ours.n_iter_ == 3


@pytest.mark.parametrize("validation_fraction", [0.1, 0.5])
def test_too_rare_class_in_the_stratified_split_is_named_as_sklearn_names_it(validation_fraction):
    X = np.random.RandomState(0).randn(30, 3)
    y = np.zeros(30, int)
    y[0] = 1
    args = dict(early_stopping=True, validation_fraction=validation_fraction, max_iter=2)
    with pytest.raises(ValueError) as theirs:
        sk_nn.MLPClassifier(**args).fit(X, y)
    assert "['True']" in str(theirs.value)
    with pytest.raises(ValueError) as ours:
        MLPClassifier(**args).fit(X, y)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError) as grid:
        MLPGridSearchCV(MLPClassifier(**args), {"alpha": [1e-4]}, cv=[(np.arange(30), np.arange(5))]).fit(X, y)
    assert str(grid.value) == str(theirs.value)
