"""Sparse X (scipy.sparse CSR / CSC) in the estimators: the same fits as on the dense X."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
sp = pytest.importorskip("scipy.sparse")
import jax.numpy as jnp  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRegressor  # noqa: E402
from jaxnn.estimators import _epochs as core  # noqa: E402
from jaxnn.estimators._layout import ell as ell_rows  # noqa: E402


def _data(n=120, d=30, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n, d, density=0.15, format="lil", random_state=rng)
    X[3] = 0  # an empty row
    X = X.tocsr()
    X.eliminate_zeros()
    w = rng.randn(d)
    return X, (X @ w > 0).astype(int), X @ w + 0.1 * rng.randn(n)


def _close(a, b, tol):
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(u, v, rtol=tol, atol=tol)


@pytest.mark.parametrize("solver,dtype,tol", [("adam", np.float64, 1e-12), ("lbfgs", np.float64, 1e-7),
                                              ("sgd", np.float32, 1e-5)])
def test_sparse_fit_equals_dense_fit(solver, dtype, tol):
    X, y, _ = _data()
    kw = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier(**kw).fit(X.astype(dtype), y)
        b = MLPClassifier(**kw).fit(X.toarray().astype(dtype), y)
    assert a.coefs_[0].dtype == dtype and a.coefs_[0].shape == (30, 6)
    assert a.n_iter_ == b.n_iter_
    _close(a, b, tol)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=tol)
    Xc = X.tocsc().astype(dtype)  # CSC at predict time; the dense model on sparse rows, and back
    np.testing.assert_allclose(a.predict_proba(Xc), b.predict_proba(X.toarray()), rtol=tol, atol=tol)
    np.testing.assert_allclose(b.predict_proba(Xc), b.predict_proba(X.toarray()), rtol=tol, atol=tol)
    assert a.score(Xc, y) == b.score(X.toarray(), y)


def test_sparse_early_stopping_regressor():
    X, _, t = _data(seed=1)
    kw = dict(hidden_layer_sizes=(5,), max_iter=12, random_state=0, early_stopping=True, validation_fraction=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPRegressor(**kw).fit(X.tocsc(), t)
        b = MLPRegressor(**kw).fit(X.toarray(), t)
    _close(a, b, 1e-12)
    np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(a.predict(X), b.predict(X.toarray()), rtol=1e-10)


def test_sparse_partial_fit_equals_dense_and_mixes():
    X, y, _ = _data(seed=2)
    a, b = (MLPClassifier(hidden_layer_sizes=(4,), random_state=0) for _ in range(2))
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1])
        b.partial_fit(X.toarray(), y, classes=[0, 1])
    _close(a, b, 1e-12)
    a.partial_fit(X.toarray(), y)  # sparse, then dense: the optimizer state carries over
    b.partial_fit(X, y)  # dense, then sparse
    _close(a, b, 1e-12)
    assert a.t_ == b.t_ == 4 * X.shape[0]


def test_sparse_grid_search_equals_dense():
    X, y, _ = _data(n=90, seed=3)
    grid = {"alpha": [1e-4, 1e-1]}
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPGridSearchCV(est, grid, cv=2, refit=False).fit(X, y)
        b = MLPGridSearchCV(est, grid, cv=2, refit=False).fit(X.toarray(), y)
    for s in range(2):
        np.testing.assert_array_equal(a.cv_results_[f"split{s}_test_score"], b.cv_results_[f"split{s}_test_score"])
    np.testing.assert_array_equal(a.n_iter_per_split_, b.n_iter_per_split_)


def test_ell_layout_and_blocked_dot(monkeypatch):
    X, _, _ = _data(n=50, d=13, seed=4)
    ell = ell_rows(X, 64)
    K = ell.idx.shape[1]
    assert ell.idx.shape == ell.val.shape == (64, K)
    assert K >= np.diff(X.indptr).max() and K & (K - 1) == 0 and not ell.val[50:].any()
    W = np.random.RandomState(0).randn(7, 13)
    want = W @ np.vstack([X.toarray(), np.zeros((14, 13))]).T
    got_one = core.ell_dot(jnp.asarray(W.T), core.Ell(*map(jnp.asarray, ell)))
    monkeypatch.setattr(core, "ELL_BLOCK", 7 * K * 5)  # blocks of 5 rows (the last one padded)
    got_blocks = core.ell_dot(jnp.asarray(W.T), core.Ell(*map(jnp.asarray, ell)))
    np.testing.assert_allclose(np.asarray(got_one), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_blocks), want, rtol=1e-5, atol=1e-6)
