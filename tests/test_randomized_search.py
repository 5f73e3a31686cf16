"""jaxnn.estimators.MLPRandomizedSearchCV: scikit-learn's candidates and cv_results_; multi-metric
scoring, refit as a name or a callable, error_score, return_train_score (in both searches)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy.stats import loguniform  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, ParameterSampler, RandomizedSearchCV  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRandomizedSearchCV, MLPRegressor  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:160] / 16.0, y[:160]


DISTS = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-3, 1e-1), "momentum": [0.5, 0.9]}
EST = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0, solver="sgd", batch_size=50)


def _close_results(ours, theirs, rtol=1e-7):
    for k, v in theirs.cv_results_.items():
        assert k in ours.cv_results_, k
        if "_time" in k or k.startswith("param_"):
            continue
        if k.startswith("rank_") or k == "params":
            assert list(ours.cv_results_[k]) == list(v), k
        else:
            np.testing.assert_allclose(ours.cv_results_[k], v, rtol=rtol, atol=1e-10, err_msg=k)


def test_randomized_search_equals_sklearn_multimetric(digits):
    X, y = digits
    kw = dict(n_iter=3, random_state=7, cv=2, scoring=["accuracy", "neg_log_loss"], refit="neg_log_loss",
              return_train_score=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRandomizedSearchCV(MLPClassifier(**EST), DISTS, **kw).fit(X, y)
        theirs = RandomizedSearchCV(MLPClassifier(**EST), DISTS, **kw).fit(X, y)
    assert ours.cv_results_["params"] == list(ParameterSampler(DISTS, 3, random_state=7))  # sklearn's candidates
    _close_results(ours, theirs)
    assert len(ours.sweep_meta_) == 1 and ours.sweep_meta_[0]["n_runs"] == 3 * 2  # one compiled call
    assert ours.multimetric_ and set(ours.scorer_) == {"accuracy", "neg_log_loss"}
    assert ours.best_index_ == theirs.best_index_ and ours.best_score_ == pytest.approx(theirs.best_score_)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y))  # the refit metric, refit on all the data


def test_refit_callable_and_error_score_in_grid_search():
    rng = np.random.RandomState(0)
    X, y = rng.randn(90, 4), rng.randn(90)
    est = MLPRegressor(hidden_layer_sizes=(3,), solver="sgd", max_iter=4, random_state=0, batch_size=30)
    grid = {"learning_rate_init": [1e-3, 1e-2, 1e6]}  # the last one diverges: failed fits
    pick = lambda res: int(np.argmin(np.where(res["mean_test_score"] == -99.0, np.inf, res["mean_test_score"])))  # noqa: E731
    kw = dict(cv=3, refit=pick, error_score=-99.0, return_train_score=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 9"):
            ours = MLPGridSearchCV(est, grid, **kw).fit(X, y)
        warnings.simplefilter("ignore", FitFailedWarning)
        theirs = GridSearchCV(est, grid, **kw).fit(X, y)
    _close_results(ours, theirs)
    assert ours.cv_results_["split1_test_score"][2] == ours.cv_results_["mean_train_score"][2] == -99.0
    assert ours.best_index_ == theirs.best_index_ != np.argmin(ours.cv_results_["rank_test_score"])  # the callable's
    assert not hasattr(ours, "best_score_") and ours.best_params_ == theirs.best_params_
    with pytest.raises(ValueError, match="non-finite"):
        MLPGridSearchCV(est, grid, cv=3, error_score="raise").fit(X, y)


def test_search_bad_input(digits):
    X, y = digits
    est = MLPClassifier(**EST)
    for kw, name in [(dict(n_iter=0), "n_iter"), (dict(n_iter=2.5), "n_iter"), (dict(error_score="nan"), "error_score"),
                     (dict(scoring=5), "scoring"), (dict(scoring=["accuracy", "f1_macro"]), "refit"),
                     (dict(refit=3.0), "refit")]:
        with pytest.raises(ValueError, match=name):
            MLPRandomizedSearchCV(est, DISTS, **kw).fit(X, y)
    for dists in ({"alpha": 1.0}, {"alpha": []}, [], [{"alpha": [1.0]}, 3]):
        with pytest.raises(ValueError, match="param_distributions"):
            MLPRandomizedSearchCV(est, dists).fit(X, y)
    with pytest.raises(ValueError, match="param_grid"):
        MLPGridSearchCV(est, "alpha").fit(X, y)
