"""The refit's programs compiled ahead (``_BaseMLP._compile_plan``) and on a second thread by the searches."""

import logging

import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPHalvingRandomSearchCV

X, y = load_digits(return_X_y=True)
X, y = X[:300] / 16.0, y[:300]


def _compiled(caplog, fn, threads=False) -> list:
    """The programs compiled while ``fn()`` runs: ``jit(name)`` (with ``threads``: (that, thread name))."""
    caplog.clear()
    jax.config.update("jax_log_compiles", True)  # the global setting: a context would not reach other threads
    try:
        with caplog.at_level(logging.WARNING, logger="jax._src.interpreters.pxla"):
            fn()
    finally:
        jax.config.update("jax_log_compiles", False)
    out = [(r.getMessage().split()[1], r.threadName) for r in caplog.records
           if r.getMessage().startswith("Compiling ")]
    return out if threads else [name for name, _ in out]


@pytest.mark.parametrize("solver, hidden", [("adam", 13), ("sgd", 14), ("lbfgs", 15)])
def test_compile_plan_is_what_fit_compiles_and_draws_nothing(caplog, solver, hidden):
    rs = np.random.RandomState(3)
    before = rs.get_state()[1].copy()
    est = MLPClassifier(hidden_layer_sizes=(hidden,), solver=solver, max_iter=7, random_state=rs,
                        early_stopping=solver == "sgd")
    plan = est._compile_plan(X, y)
    np.testing.assert_array_equal(rs.get_state()[1], before)  # the caller's stream is not advanced
    assert not hasattr(est, "coefs_")  # nothing fitted
    cold = MLPClassifier(hidden_layer_sizes=(hidden + 10,), solver=solver, max_iter=7, random_state=0,
                         early_stopping=solver == "sgd")
    names = {f"jit({jitted.__name__})" for jitted, *_ in plan}
    assert names <= set(_compiled(caplog, lambda: cold.fit(X, y)))  # a fit compiles these programs...
    for jitted, args, kwargs, x64 in plan:
        with jax.enable_x64(x64):
            jitted.lower(*args, **kwargs).compile()
    warm = MLPClassifier(hidden_layer_sizes=(hidden,), solver=solver, max_iter=7, random_state=3,
                         early_stopping=solver == "sgd")
    assert not names & set(_compiled(caplog, lambda: warm.fit(X, y)))  # ... which the plan compiled


def test_searches_compile_the_refit_on_a_thread_only_for_one_structure(caplog):
    base = MLPClassifier(hidden_layer_sizes=(11,), max_iter=5, random_state=0)
    grid = MLPGridSearchCV(base, {"alpha": [1e-4, 1e-2]}, cv=2)
    thread = grid._compile_refit(X, y, None, list(grid._candidates()), {"alpha": 1e-4})
    assert thread is not None
    thread.join()
    refit = MLPClassifier(hidden_layer_sizes=(11,), max_iter=5, random_state=0, alpha=1e-2)
    assert "jit(run_stochastic)" not in _compiled(caplog, lambda: refit.fit(X, y))
    two = MLPGridSearchCV(base, {"hidden_layer_sizes": [(11,), (12,)]}, cv=2)
    assert two._compile_refit(X, y, None, list(two._candidates()), {"hidden_layer_sizes": (11,)}) is None
    no_refit = MLPGridSearchCV(base, {"alpha": [1e-4, 1e-2]}, cv=2, refit=False)
    assert no_refit._compile_refit(X, y, None, list(no_refit._candidates()), {"alpha": 1e-4}) is None


def test_halving_over_max_iter_compiles_the_last_rungs_refit(caplog):
    base = MLPClassifier(hidden_layer_sizes=(9,), random_state=0)
    search = MLPHalvingRandomSearchCV(base, {"alpha": [1e-5, 1e-4, 1e-3, 1e-2]}, resource="max_iter",
                                      max_resources=8, min_resources=2, factor=2, cv=2, random_state=0)
    compiled = _compiled(caplog, lambda: search.fit(X, y), threads=True)
    assert search.best_params_["max_iter"] == 8 and search.best_estimator_.max_iter == 8
    # the refit's program is compiled once, on the thread, for the last rung's max_iter
    assert [t for name, t in compiled if name == "jit(run_stochastic)"] == ["jaxnn-refit-compile"]
