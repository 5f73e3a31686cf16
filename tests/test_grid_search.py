"""jaxnn.estimators.MLPGridSearchCV: one vmapped compiled call per structure, the same results as
scikit-learn's GridSearchCV over the same jaxnn estimator and folds."""

import warnings

import numpy as np
import pytest
from _helpers import xla_flags

pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRegressor  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:301] / 16.0, y[:301]  # 301 rows: folds of different sizes (padding)


def _both(est, grid, X, y, fit_kw=None, **kw):
    fit_kw = fit_kw or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPGridSearchCV(est, grid, **kw).fit(X, y, **fit_kw)
        theirs = GridSearchCV(est, grid, **kw).fit(X, y, **fit_kw)
    return ours, theirs


def _assert_same_results(ours, theirs):
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    assert ours.best_score_ == pytest.approx(theirs.best_score_, abs=1e-9)
    for k in theirs.cv_results_:
        assert k in ours.cv_results_, k
        if k.endswith("_score") and not k.startswith("rank"):
            np.testing.assert_allclose(ours.cv_results_[k], theirs.cv_results_[k], atol=1e-9, err_msg=k)
    np.testing.assert_array_equal(ours.cv_results_["rank_test_score"], theirs.cv_results_["rank_test_score"])
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    assert list(ours.cv_results_["param_alpha"]) == list(theirs.cv_results_["param_alpha"])


def test_grid_search_equals_sklearn_gridsearchcv(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=8, random_state=0, batch_size=64)
    grid = {"alpha": [1e-4, 1.0], "learning_rate_init": [1e-3, 3e-2]}
    sw = np.random.RandomState(0).randint(0, 3, len(y)).astype(float)  # weights the fits and the scores
    ours, theirs = _both(est, grid, X, y, fit_kw={"sample_weight": sw}, cv=3)
    _assert_same_results(ours, theirs)
    assert len(ours.sweep_meta_) == 1 and ours.sweep_meta_[0]["n_runs"] == 4 * 3  # one structure, one sweep
    # random_state=0: the 4 points of a fold share their data and train as one block (equal results above)
    assert (ours.sweep_meta_[0]["block_size"], ours.sweep_meta_[0]["n_blocks"]) == (4, 3)
    # the run status comes from the fits' declared divergence, not from their NaN-padded curves
    assert ours.sweep_meta_[0]["n_diverged"] == 0 and ours.sweep_meta_[0]["n_ok"] == 12
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))  # refit on all the data
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y))


def test_grid_search_groups_structures_early_stopping_and_scoring(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=6, random_state=1, solver="sgd", early_stopping=True,
                        validation_fraction=0.2, n_iter_no_change=2, learning_rate_init=0.1)
    grid = [{"hidden_layer_sizes": [(6,), (9,)], "momentum": [0.0, 0.9]},
            {"hidden_layer_sizes": [(6,)], "alpha": [0.01]}]
    ours, theirs = _both(est, grid, X, y, cv=KFold(3, shuffle=True, random_state=0), scoring="neg_log_loss",
                         return_train_score=True)
    assert ours.best_params_ == theirs.best_params_
    for k in ("mean_test_score", "mean_train_score", "split2_test_score"):
        np.testing.assert_allclose(ours.cv_results_[k], theirs.cv_results_[k], rtol=1e-7, err_msg=k)
    assert len(ours.sweep_meta_) == 2  # the (6,) and the (9,) networks: two compiled, vmapped calls
    # epochs of every (candidate, split) fit, as a separate fit of that candidate on that fold reports
    assert ours.n_iter_per_split_.shape == (5, 3)
    tr, _ = next(KFold(3, shuffle=True, random_state=0).split(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = MLPClassifier(**{**est.get_params(), **ours.cv_results_["params"][1]}).fit(X[tr], y[tr])
    assert ours.n_iter_per_split_[1, 0] == single.n_iter_
    assert 1 <= ours.n_iter_per_split_.min() and ours.n_iter_per_split_.max() <= 6


def test_grid_search_regressor_and_divergence_recorded():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = y / 100.0
    est = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", max_iter=10, random_state=0, batch_size=100)
    grid = {"learning_rate_init": [1e-3, 1e-2, 50.0]}  # the last one diverges
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPGridSearchCV(est, grid, cv=3).fit(X, y)
        theirs = GridSearchCV(est, {"learning_rate_init": [1e-3, 1e-2]}, cv=3).fit(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"][:2], theirs.cv_results_["mean_test_score"],
                               rtol=1e-7)
    assert np.isnan(ours.cv_results_["mean_test_score"][2])
    assert (ours.n_iter_per_split_[2] == -1).all() and (ours.n_iter_per_split_[:2] > 0).all()
    assert ours.sweep_meta_[0]["n_diverged"] == 3  # the 3 folds of lr 50, and no other fit
    assert ours.cv_results_["rank_test_score"][2] == 3
    assert ours.best_params_ == theirs.best_params_


def test_grid_search_bad_input(digits):
    X, y = digits
    with pytest.raises(ValueError, match="estimator"):
        MLPGridSearchCV(object(), {"alpha": [1.0]}).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        MLPGridSearchCV(MLPClassifier(), {"alpha": [-1.0]}).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MLPGridSearchCV(MLPClassifier(), {"alpha": [1.0]}).fit(Xn, y)


_TWO_DEVICES = """
import json, sys, warnings
import jaxnn
assert jaxnn.use_cpu_cores(2)
import jax
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from jaxnn.estimators import MLPClassifier, MLPGridSearchCV
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2, 3e-2]}
s = MLPGridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0), grid, cv=3)
s.fit(X[:301] / 16.0, y[:301])
json.dump({"devices": len(jax.devices()), "scores": s.cv_results_["mean_test_score"].tolist(),
           "n_iter": s.n_iter_per_split_.tolist()}, sys.stdout)
"""


def test_grid_search_sharded_over_two_cpu_devices_matches_one(digits):
    """With jaxnn.use_cpu_cores the sweep shards the (point, fold) fits over the devices: same results."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_FLAGS=xla_flags())
    out = subprocess.run([sys.executable, "-c", _TWO_DEVICES], cwd=root, env=env, capture_output=True, text=True,
                         timeout=600, check=True)
    got = json.loads(out.stdout)
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = MLPGridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0),
                              {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2, 3e-2]}, cv=3).fit(X, y)
    assert got["devices"] == 2
    np.testing.assert_allclose(got["scores"], one.cv_results_["mean_test_score"], rtol=1e-6)
    np.testing.assert_array_equal(got["n_iter"], one.n_iter_per_split_)


def test_in_graph_test_scores_equal_the_host_scorer():
    """scoring=None scores the test folds inside the compiled sweep (accuracy / R^2, weighted); the
    same search scored on the host by scikit-learn's scorer of that metric gives the same numbers."""
    X, y = load_diabetes(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    y = np.stack([y / 100.0, X[:, 2]], axis=1).astype(np.float32)  # two outputs: R^2 averaged over them
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=15, random_state=0, batch_size=64)
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        graph = MLPGridSearchCV(est, grid, cv=3).fit(X, y, sample_weight=sw)
        host = MLPGridSearchCV(est, grid, cv=3, scoring="r2").fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(graph.cv_results_["mean_test_score"], host.cv_results_["mean_test_score"], rtol=1e-5)
    for s in range(3):
        k = f"split{s}_test_score"
        np.testing.assert_allclose(graph.cv_results_[k], host.cv_results_[k], rtol=1e-5, err_msg=k)
    Xc, yc = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        graph = MLPGridSearchCV(clf, {"alpha": [1e-4, 1.0]}, cv=3).fit(Xc[:400] / 16.0, yc[:400])
        host = MLPGridSearchCV(clf, {"alpha": [1e-4, 1.0]}, cv=3, scoring="accuracy").fit(Xc[:400] / 16.0, yc[:400])
    np.testing.assert_array_equal(graph.cv_results_["split0_test_score"], host.cv_results_["split0_test_score"])
    np.testing.assert_array_equal(graph.cv_results_["mean_test_score"], host.cv_results_["mean_test_score"])


def test_tied_scores_are_exact_and_rank_as_sklearn():
    """The compiled sweep returns a score's parts (hits and weight) and the host divides them in float64, as
    accuracy_score does: 25 / 150 is 0.16666666666666666, not 25 * (1 / 150), one ulp above, which ranked the
    tie with 0.14 + 0.16666666666666666 ahead and changed best_params_."""
    X, y = load_digits(return_X_y=True)
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, learning_rate_init=1e-2, random_state=0)
    ours, theirs = _both(est, {"alpha": [1e-4, 1.0]}, X[:300] / 16.0, y[:300], cv=2)
    for k in ("split0_test_score", "split1_test_score", "mean_test_score", "rank_test_score"):
        np.testing.assert_array_equal(ours.cv_results_[k], theirs.cv_results_[k], err_msg=k)
    assert ours.best_params_ == theirs.best_params_ == {"alpha": 1e-4}


def test_a_scoring_callable_that_returns_a_dict_is_multimetric_as_in_sklearn(digits):
    """scikit-learn: a callable scoring that returns a dict makes the search multi-metric (rank_test_<name>,
    refit by name or False; refit=True is an error), its scorer_ the callable."""
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, learning_rate_init=1e-2, random_state=0)

    def both(est, X, y):
        return {"acc": est.score(X, y), "zero": 0.0}

    ours, theirs = _both(est, {"alpha": [1e-4, 0.1]}, X, y, cv=2, scoring=both, refit="acc")
    assert ours.multimetric_ and ours.scorer_ is both and ours.best_params_ == theirs.best_params_
    for k in ("mean_test_acc", "rank_test_acc", "rank_test_zero"):
        np.testing.assert_array_equal(ours.cv_results_[k], theirs.cv_results_[k], err_msg=k)
    with pytest.raises(ValueError, match="refit: for multi-metric scoring, refit must be set to a scorer key"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPGridSearchCV(est, {"alpha": [1e-4]}, cv=2, scoring=both).fit(X, y)


def test_groups_reach_a_group_aware_cv_as_in_sklearn(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, learning_rate_init=1e-2, random_state=0)
    groups = np.arange(len(y)) % 4
    ours, theirs = _both(est, {"alpha": [1e-4, 0.1]}, X, y, fit_kw={"groups": groups}, cv=GroupKFold(2))
    _assert_same_results(ours, theirs)
    assert ours.n_features_in_ == theirs.n_features_in_ == 64
    assert not hasattr(MLPGridSearchCV(est, {"alpha": [1e-4]}), "n_features_in_")  # as scikit-learn's unfitted
    with pytest.raises(ValueError, match="groups"):  # scikit-learn's own: GroupKFold needs them
        MLPGridSearchCV(est, {"alpha": [1e-4]}, cv=GroupKFold(2)).fit(X, y)


def test_a_second_search_of_the_same_structure_reuses_the_compiled_sweep(digits):
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(7,), max_iter=4, random_state=0, batch_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPGridSearchCV(est, {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}, cv=3).fit(X, y)
    grid = {"alpha": [3e-3, 0.3], "learning_rate_init": [3e-3, 5e-2]}  # other values, same shapes
    ours, theirs = _both(est, grid, X, y, cv=3)
    assert ours.sweep_meta_[0]["compile_s"] == 0.0  # the data are arguments of the compiled sweep
    _assert_same_results(ours, theirs)


def test_sequential_fallback_and_train_scores_with_the_default_scoring(digits):
    """warm_start (like a callback or verbose) makes the search fit one by one; the results are still
    GridSearchCV's, and return_train_score builds the fitted estimators for the host-side train scores."""
    X, y = digits
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=4, random_state=0, warm_start=True)
    grid = {"alpha": [1e-4, 1e-1]}
    ours, theirs = _both(est, grid, X, y, cv=3, return_train_score=True)
    assert "fallback" in ours.sweep_meta_[0]
    _assert_same_results(ours, theirs)
    np.testing.assert_array_equal(ours.n_iter_per_split_, 4)
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=4, random_state=0)  # the vmapped path, same scores
    ours, theirs = _both(est, grid, X, y, cv=3, return_train_score=True)
    assert "fallback" not in ours.sweep_meta_[0]
    _assert_same_results(ours, theirs)
