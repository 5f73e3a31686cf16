"""The estimators' warnings point at the caller's line, and L-BFGS's ``max_fun`` warns as scikit-learn's."""

import inspect
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
sk_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPRegressor  # noqa: E402


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _record(fn):
    """(result, warnings recorded) of calling ``fn``, a one-line lambda (the line the warnings must name)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn()
    return out, w


def _line_of(fn) -> int:
    return inspect.getsourcelines(fn)[1]


def _assert_here(w, category, line: int):
    hits = [x for x in w if issubclass(x.category, category)]
    assert hits, f"no {category.__name__}: {[str(x.message) for x in w]}"
    for x in hits:
        assert x.filename == __file__, (x.filename, x.lineno, str(x.message)[:80])
        assert x.lineno == line, (x.lineno, line)


def test_convergence_warning_of_a_stochastic_fit_points_at_the_fit_call():
    X, y = _iris()
    fit = lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)  # noqa: E731
    _, w = _record(fit)
    _assert_here(w, ConvergenceWarning, _line_of(fit))


def test_partial_fit_and_batch_size_warning_point_at_the_caller():
    X, y = _iris()
    fit = lambda: MLPClassifier(hidden_layer_sizes=(4,), batch_size=1000, max_iter=2, random_state=0).fit(X, y)  # noqa: E731
    _, w = _record(fit)
    _assert_here(w, UserWarning, _line_of(fit))  # "Got `batch_size` ... clipped"
    _assert_here(w, ConvergenceWarning, _line_of(fit))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_max_fun_reached_warns_for_every_activation(activation):
    """scipy's L-BFGS-B counts every evaluation (line searches included) and stops at the end of the
    first iteration past ``maxfun`` with status 1, which scikit-learn reports as a ConvergenceWarning;
    jaxnn counts the same way (``n_fun_``) and warns the same way, whatever the activation."""
    X, y = _iris()
    args = dict(solver="lbfgs", activation=activation, max_fun=10, random_state=0)
    fit = lambda: MLPClassifier(**args).fit(X, y)  # noqa: E731
    ours, w = _record(fit)
    _assert_here(w, ConvergenceWarning, _line_of(fit))
    assert any("F,G EVALUATIONS EXCEEDS LIMIT" in str(x.message) for x in w)
    assert ours.n_fun_ > 10 and ours.n_iter_ <= 10
    _, w_sk = _record(lambda: sk_nn.MLPClassifier(**args).fit(X, y))
    assert any(issubclass(x.category, ConvergenceWarning) for x in w_sk)  # scikit-learn warns too


def test_lbfgs_reaching_max_fun_warns_even_when_that_iteration_converged(monkeypatch):
    """The limits come before the convergence tests (scipy's order): a fit whose last iteration both
    passed ``max_fun`` and met ``tol`` reports status 1."""
    X, y = _iris()
    est = MLPClassifier(solver="lbfgs", max_fun=10, random_state=0)
    state = type("S", (), {"it": np.int32(4), "nfev": np.int32(11), "stopped": np.bool_(True),
                           "params": [{"W": np.zeros((3, 4)), "b": np.zeros(3)}],
                           "loss_curve": np.zeros(8)})()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        attrs = est._lbfgs_attrs(state, 0.5, 4, False)
    assert attrs["n_fun_"] == 11 and attrs["n_iter_"] == 4
    assert [x for x in w if issubclass(x.category, ConvergenceWarning)]
    state.nfev = np.int32(10)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est._lbfgs_attrs(state, 0.5, 4, False)
    assert not [x for x in w if issubclass(x.category, ConvergenceWarning)]  # converged within both limits


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_callback_stop_before_the_limits_does_not_warn(solver):
    """A callback that stops a fit is not a failure to converge: no ConvergenceWarning (lbfgs warned that the
    iteration limit was reached), for lbfgs as for the stochastic solvers; a stop at max_iter itself still
    reached the limit and warns."""
    X, y = _iris()
    args = dict(solver=solver, hidden_layer_sizes=(4,), random_state=0, max_iter=30)
    ours, w = _record(lambda: MLPClassifier(callback=lambda e, logs: e >= 5, **args).fit(X, y))
    assert ours.n_iter_ == 5 and not [x for x in w if issubclass(x.category, ConvergenceWarning)]
    ours, w = _record(lambda: MLPClassifier(callback=lambda e, logs: e >= 30, **args).fit(X, y))
    assert ours.n_iter_ == 30 and [x for x in w if issubclass(x.category, ConvergenceWarning)]


def test_search_warnings_point_at_the_search_call():
    """A FitFailedWarning (a diverging candidate) and the refit's ConvergenceWarning both name the
    user's ``search.fit(...)`` line, not a line inside jaxnn."""
    X, y = load_diabetes(return_X_y=True)
    X, y = (X - X.mean(0)) / X.std(0), y / 100.0
    base = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", max_iter=3, random_state=0, batch_size=100)
    search = MLPGridSearchCV(base, {"learning_rate_init": [1e-3, 50.0]}, cv=2)  # lr 50 diverges
    fit = lambda: search.fit(X, y)  # noqa: E731
    _, w = _record(fit)
    _assert_here(w, FitFailedWarning, _line_of(fit))
    _assert_here(w, ConvergenceWarning, _line_of(fit))
