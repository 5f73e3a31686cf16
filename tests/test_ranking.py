"""jaxnn.sweeps.ranking: the one ranking rule (adaptive searches and the estimators' halving searches)."""

import numpy as np
import pytest

from jaxnn.sweeps import status as st
from jaxnn.sweeps.ranking import rank, top_k


def sklearn_top_k(scores, k):
    """scikit-learn's successive-halving selection (its ``_top_k``)."""
    return np.roll(np.argsort(scores), np.count_nonzero(np.isnan(scores)))[-k:]


@pytest.mark.parametrize("seed", range(5))
def test_sklearn_ties_reproduce_scikit_learns_selection(seed):
    rng = np.random.default_rng(seed)
    scores = rng.choice([0.1, 0.5, 0.5, 0.9, np.nan, np.inf, -np.inf], size=12)  # ties, NaN and +-inf
    for k in range(1, 13):  # (scikit-learn never asks for k = 0: its [-0:] would keep all)
        np.testing.assert_array_equal(top_k(scores, k, mode="max", ties="sklearn")[::-1], sklearn_top_k(scores, k))


def test_first_ties_rank_best_first_stable_bad_last():
    v = [0.3, np.nan, 0.7, 0.3, np.inf, 0.7]
    np.testing.assert_array_equal(rank(v, None, "max"), [2, 5, 0, 3, 1, 4])  # NaN and inf last, in position order
    np.testing.assert_array_equal(rank(v, None, "min"), [0, 3, 2, 5, 1, 4])
    status = [st.OK, st.OK, st.OK, st.DIVERGED, st.OK, st.OK]
    np.testing.assert_array_equal(top_k(v, 3, status, "min"), [0, 2, 5])  # the diverged trial ranks last
    # an ok trial with a NaN value still ranks before a failed one, whatever their positions
    np.testing.assert_array_equal(rank([np.nan, np.nan, 0.5], [st.DIVERGED, st.OK, st.INVALID], "min"), [1, 0, 2])


def test_mode_and_ties_are_required_and_checked():
    with pytest.raises(ValueError, match="mode: expected 'max' or 'min', got None"):
        rank([1.0, 2.0])
    with pytest.raises(ValueError, match="ties: expected one of"):
        rank([1.0], None, "max", ties="random")
    with pytest.raises(ValueError, match="k: expected an integer >= 0"):
        top_k([1.0], -1, None, "max")
