"""scikit-learn's own estimator checks on jaxnn's MLPClassifier and MLPRegressor (no expected failures)."""

import warnings

import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from jaxnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402

# scikit-learn runs its own MLPs through these checks with max_iter=100 (instance_generator.py);
# the default network (100,).
ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPRegressor(max_iter=100, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
