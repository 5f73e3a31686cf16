"""Ranking and selection of trials: the one rule that every search of jaxnn ranks and keeps with.

:func:`rank` orders trials best first by a metric whose direction (``mode``) the caller states;
:func:`top_k` keeps the ``k`` best of them.  The adaptive searches of :mod:`jaxnn.sweeps` and the
estimators' halving searches (:class:`jaxnn.estimators.MLPHalvingRandomSearchCV`) both select with
these two functions; they differ only in the tie rule they ask for (``ties``).
"""

from __future__ import annotations

import numpy as np

from jaxnn.sweeps import status as st

__all__ = ["rank", "top_k", "check_mode", "MODES", "TIES"]

MODES = ("max", "min")
TIES = ("first", "sklearn")


def check_mode(mode, arg: str = "mode") -> str:
    """``mode`` if it is "max" or "min", else a ValueError naming ``arg``."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{arg}: expected 'max' or 'min', got {mode!r}")
    return mode


def _check(mode: str, ties: str) -> None:
    check_mode(mode)
    if ties not in TIES:
        raise ValueError(f"ties: expected one of {list(TIES)}, got {ties!r}")


def rank(values, status=None, mode: str = None, *, ties: str = "first") -> np.ndarray:
    """Positions of ``values`` (n,) sorted best first.

    Args:
      values: (n,) metric values, one per trial.
      status: (n,) run statuses (:mod:`jaxnn.sweeps.status`) or None (all ok): a trial that is not ok
        ranks last, after those whose value is NaN (or infinite: ``ties="first"``).
      mode: ``"max"`` or ``"min"``: the metric's direction (required; nothing is inferred).
      ties: ``"first"``: equal values keep their positions' order (a stable sort); ``"sklearn"``:
        scikit-learn's successive-halving order (``np.argsort`` of the scores, the NaN ones moved to
        the worst end, read from the best end; +-inf are ordered as numbers), which its
        ``HalvingRandomSearchCV`` selects with (``mode="max"``, no ``status``).

    Returns:
      (n,) int array, the best position first.
    """
    _check(mode, ties)
    v = np.asarray(values, np.float64)
    failed = np.zeros(len(v), bool) if status is None else np.asarray(status) != st.OK
    if ties == "sklearn":  # scikit-learn sorts +-inf as numbers: only NaN (or a bad status) is moved
        key = np.where(failed | np.isnan(v), np.nan, v if mode == "max" else -v)
        return np.roll(np.argsort(key), np.count_nonzero(np.isnan(key)))[::-1]
    bad = failed | ~np.isfinite(v)
    key = np.where(bad, np.inf, -v if mode == "max" else v)
    return np.lexsort((np.arange(len(v)), key, bad, failed))  # ok, then ok but not finite, then failed


def top_k(values, k: int, status=None, mode: str = None, *, ties: str = "first") -> np.ndarray:
    """The positions of the ``k`` best of ``values`` (see :func:`rank`), the best first."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k: expected an integer >= 0, got {k!r}")
    return rank(values, status, mode, ties=ties)[:k]
