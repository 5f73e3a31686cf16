"""jaxnn.estimators.MLPHalvingGridSearchCV / MLPHalvingRandomSearchCV: scikit-learn's rungs, candidates
and cv_results_ (iter, n_resources), with resource 'n_samples' and 'max_iter'."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy.stats import loguniform  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.experimental import enable_halving_search_cv  # noqa: E402, F401
from sklearn.model_selection import GroupKFold, HalvingGridSearchCV, HalvingRandomSearchCV, KFold  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPHalvingGridSearchCV, MLPHalvingRandomSearchCV  # noqa: E402

ATTRS = ("n_resources_", "n_candidates_", "n_remaining_candidates_", "n_required_iterations_",
         "n_possible_iterations_", "n_iterations_", "min_resources_", "max_resources_", "best_index_")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    keep = y < 4
    return X[keep][:200] / 16.0, y[keep][:200]


def _same(ours, theirs):
    for a in ATTRS:
        assert getattr(ours, a) == getattr(theirs, a), a
    assert ours.best_params_ == theirs.best_params_ and ours.best_score_ == pytest.approx(theirs.best_score_)
    for k, v in theirs.cv_results_.items():
        assert k in ours.cv_results_, k
        if "_time" in k or k.startswith("param_"):
            continue
        if k.startswith("rank_") or k in ("params", "iter", "n_resources"):
            assert list(ours.cv_results_[k]) == list(v), k
        else:
            np.testing.assert_allclose(ours.cv_results_[k], v, rtol=1e-7, atol=1e-10, err_msg=k)


def test_halving_grid_n_samples_equals_sklearn(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0, batch_size=40)
    grid = {"alpha": [1e-4, 1e-2, 1.0], "learning_rate_init": [1e-3, 1e-2]}
    kw = dict(factor=2, cv=KFold(2, shuffle=True, random_state=0), random_state=3, min_resources=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPHalvingGridSearchCV(est, grid, **kw).fit(X, y)
        theirs = HalvingGridSearchCV(est, grid, **kw).fit(X, y)
    assert ours.n_iterations_ >= 2 and ours.n_resources_[0] < ours.n_resources_[-1]  # the case: subsampled rungs
    _same(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_halving_grid_takes_groups_as_sklearn(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0, batch_size=40)
    kw = dict(factor=2, cv=GroupKFold(2), random_state=3, min_resources=60)
    groups = np.arange(len(y)) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPHalvingGridSearchCV(est, {"alpha": [1e-4, 1e-2, 1.0]}, **kw).fit(X, y, groups=groups)
        theirs = HalvingGridSearchCV(est, {"alpha": [1e-4, 1e-2, 1.0]}, **kw).fit(X, y, groups=groups)
    _same(ours, theirs)


def test_halving_random_max_iter_equals_sklearn(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=50, solver="sgd", learning_rate_init=0.1)
    dists = {"alpha": loguniform(1e-5, 1e-1), "momentum": [0.0, 0.9]}
    kw = dict(n_candidates=5, factor=2, resource="max_iter", min_resources=2, max_resources=4, cv=2,
              random_state=1, aggressive_elimination=True, refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPHalvingRandomSearchCV(est, dists, **kw).fit(X, y)
        theirs = HalvingRandomSearchCV(est, dists, **kw).fit(X, y)
    assert ours.n_resources_ == [2, 2, 4] and ours.cv_results_["params"][0]["max_iter"] == 2  # aggressive: 2 repeats
    _same(ours, theirs)
    assert ours.n_iter_per_split_.max() <= 4


@pytest.mark.parametrize("extra", [dict(solver="adam", tol=0.05, n_iter_no_change=1),  # tol stops within rungs
                                   dict(solver="sgd", early_stopping=True, learning_rate="adaptive", momentum=0.9),
                                   dict(solver="lbfgs")], ids=["adam-tol", "sgd-early-stopping", "lbfgs"])
def test_halving_max_iter_survivors_continue(digits, extra):
    """Survivors continue from their solver state, and that equals scikit-learn's refit of every rung."""
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=50, **extra)
    dists = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-3, 1e-1)}
    kw = dict(n_candidates=9, factor=3, resource="max_iter", min_resources=2, max_resources=18, cv=2,
              random_state=0, refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPHalvingRandomSearchCV(est, dists, **kw).fit(X, y)
        theirs = HalvingRandomSearchCV(est, dists, **kw).fit(X, y)
    assert ours.n_resources_ == [2, 6, 18]
    _same(ours, theirs)
    res, n_iter = ours.cv_results_, ours.n_iter_per_split_
    key = lambda i: tuple(sorted((k, v) for k, v in res["params"][i].items() if k != "max_iter"))  # noqa: E731
    before = {}  # each candidate's epochs at the end of its previous rung
    added = 0
    for i in range(len(res["params"])):
        added += (n_iter[i] - before.get(key(i), 0)).sum()
        before[key(i)] = n_iter[i]
    ran = sum(m["epochs_run"] for m in ours.sweep_meta_)
    assert ran == added < n_iter.sum()  # each rung ran only the epochs it added to its survivors
    if "tol" in extra:  # the case where a stopped fit survives: it stays stopped, as a refit stops there too
        assert (ours.n_iter_per_split_ < ours.cv_results_["n_resources"][:, None]).any()


def test_halving_bad_input(digits):
    X, y = digits
    est = MLPClassifier(max_iter=2)
    for kw, name in [(dict(factor=1), "factor"), (dict(resource="epochs"), "resource"),
                     (dict(min_resources=0), "min_resources"), (dict(max_resources="all"), "max_resources"),
                     (dict(resource="max_iter"), "max_resources"), (dict(scoring=["accuracy"]), "scoring"),
                     (dict(n_candidates=0), "n_candidates")]:
        with pytest.raises(ValueError, match=name):
            MLPHalvingRandomSearchCV(est, {"alpha": [1e-3, 1e-2]}, **kw).fit(X, y)
    with pytest.raises(ValueError, match="resource"):
        MLPHalvingGridSearchCV(est, {"max_iter": [1, 2]}, resource="max_iter", max_resources=4).fit(X, y)
