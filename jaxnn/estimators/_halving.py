"""Successive halving over jaxnn's MLP estimators: :class:`MLPHalvingGridSearchCV` and
:class:`MLPHalvingRandomSearchCV`, scikit-learn's ``HalvingGridSearchCV`` / ``HalvingRandomSearchCV``.

The rung loop ranks and keeps candidates with :func:`jaxnn.sweeps.ranking.top_k` (the rule that
every search of jaxnn selects with, with scikit-learn's tie order); scikit-learn's own rules (the
number of rungs, the resource of each rung, the survivors of a rung) are the small named functions
below, passed to the loop as its parameters.

References:
  scikit-learn's ``sklearn/model_selection/_search_successive_halving.py``.
"""

from __future__ import annotations

from functools import partial
from math import ceil, floor, log
from numbers import Integral, Real
from typing import Any, Callable, NamedTuple

import numpy as np
from sklearn.base import is_classifier

from jaxnn.estimators._search import BaseSearch, MLPGridSearchCV, check_distributions, cv_results
from jaxnn.sweeps.ranking import top_k

__all__ = ["MLPHalvingGridSearchCV", "MLPHalvingRandomSearchCV"]

# =============================================================================================
# scikit-learn's rules of successive halving, each a small function (the rung loop takes them as parameters)


def required_rungs(n_candidates: int, factor) -> int:
    """The rungs needed to leave one candidate: ``1 + floor(log_factor(n_candidates))``."""
    return 1 + floor(log(n_candidates, factor))


def possible_rungs(min_resources: int, max_resources: int, factor) -> int:
    """The rungs the resource allows: ``1 + floor(log_factor(max_resources // min_resources))``."""
    return 1 + floor(log(max_resources // min_resources, factor))


def exhaust_min_resources(min_resources: int, max_resources: int, factor, n_required: int) -> int:
    """``min_resources='exhaust'``: the largest first resource with which the last rung uses max_resources."""
    return max(min_resources, max_resources // factor ** (n_required - 1))


def n_rungs(n_required: int, n_possible: int, aggressive_elimination: bool) -> int:
    """The rungs that run: all required ones under ``aggressive_elimination``, else as many as possible."""
    return n_required if aggressive_elimination else min(n_possible, n_required)


def rung_resources(itr: int, *, factor, min_resources: int, max_resources: int, n_required: int, n_possible: int,
                   aggressive_elimination: bool) -> int:
    """``n_resources`` of rung ``itr``: ``min(factor**power * min_resources, max_resources)``, where
    ``aggressive_elimination`` repeats ``min_resources`` (power 0) in the first rungs that the resource
    cannot pay for."""
    power = max(0, itr - n_required + n_possible) if aggressive_elimination else itr
    return min(int(factor ** power * min_resources), max_resources)


def survivors(n_candidates: int, factor) -> int:
    """The candidates a rung keeps: ``ceil(n_candidates / factor)``."""
    return ceil(n_candidates / factor)


def sklearn_top_k(scores, k: int) -> np.ndarray:
    """The k best of a rung's mean test scores in scikit-learn's order (its ``_top_k``: the best last,
    NaN worst): :func:`jaxnn.sweeps.ranking.top_k` with its scikit-learn tie rule, read worst first."""
    return top_k(scores, k, mode="max", ties="sklearn")[::-1]


class Rung(NamedTuple):
    """One rung of :func:`run_rungs`: its index, resource, candidates and what evaluating them gave."""

    itr: int
    n_resources: int
    candidates: list
    evaluation: Any


def run_rungs(candidates: list, evaluate: Callable, *, n_rungs: int, resources: Callable[[int], int],
              keep: Callable[[int], int], select: Callable, carry: Callable | None = None) -> tuple[list, list]:
    """The rung loop of successive halving: ``(rungs, remaining candidates)``.

    Args:
      candidates: the first rung's candidates (parameter dicts).
      evaluate: ``evaluate(candidates, n_resources, states) -> (candidates, evaluation)``: the rung's
        candidates as evaluated (the resource may be set on them) and an evaluation with ``test``
        (``{"score": (n, n_splits)}``) and ``states``.
      n_rungs: the number of rungs.  resources: rung index -> its resource.  keep: candidates -> the
        number that survive.  select: ``select(mean scores (n,), k) -> (k,) indices``, the survivors in
        the order the next rung lists them.
      carry: ``carry(evaluation, kept indices)`` -> the survivors' states for the next rung (None: none).
    """
    rungs, states = [], None
    for itr in range(n_rungs):
        r = resources(itr)
        candidates, ev = evaluate(candidates, r, states)
        rungs.append(Rung(itr, r, candidates, ev))
        kept = select(ev.test["score"].mean(1), keep(len(candidates)))
        candidates = [candidates[i] for i in kept]
        states = None if carry is None else carry(ev, kept)
    return rungs, candidates


class BaseHalving(BaseSearch):
    """Successive halving as scikit-learn's ``BaseSuccessiveHalving`` (not for direct use).

    Each rung ``itr`` gives its candidates ``n_resources = min(factor**power * min_resources_,
    max_resources_)`` of the resource and keeps the best ``ceil(n_candidates / factor)``: the rung's
    candidates x folds of each structure train in one compiled call.  ``resource='n_samples'``
    subsamples every train and test fold to ``n_resources / n_samples`` of its rows
    (``sklearn.utils.resample`` with the search's ``random_state``, as scikit-learn's subsampling
    splitter); any other resource (``'max_iter'``) is set on the candidates (and shows in ``params``).

    With ``resource='max_iter'`` a survivor continues from its solver state at the end of its last
    rung (params, optimizer moments, learning rate, stopping counters, curves) instead of refitting:
    a fit's trajectory does not depend on ``max_iter``, which only ends it (epoch e's minibatch order
    is the e-th draw from ``random_state`` whatever ``max_iter`` is, and a fit stopped by ``tol`` /
    ``n_iter_no_change`` stays stopped), so the continued fit equals scikit-learn's refit with the
    rung's ``max_iter`` and each rung pays only for the epochs it adds (``sweep_meta_[k]["epochs_run"]``).
    ``fit_time`` is then the time of those added epochs, where scikit-learn's is the whole refit.

    Differs from scikit-learn on purpose: the folds are drawn once and reused in every rung
    (scikit-learn requires a ``cv`` that yields the same folds on each call, and raises otherwise); no
    ``n_jobs`` / ``verbose``."""

    def __init__(self, estimator, *, factor=3, resource="n_samples", max_resources="auto", min_resources="exhaust",
                 aggressive_elimination=False, cv=5, scoring=None, refit=True, error_score=np.nan,
                 return_train_score=True, random_state=None):
        super().__init__(estimator, scoring=scoring, refit=refit, cv=cv, error_score=error_score,
                         return_train_score=return_train_score)
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.aggressive_elimination = aggressive_elimination
        self.random_state = random_state

    def _check_halving(self, X, y, n_splits):
        """min_resources_ and max_resources_ as scikit-learn sets them; ValueError naming a bad argument."""
        if isinstance(self.factor, bool) or not isinstance(self.factor, Real) or not self.factor > 1:
            raise ValueError(f"factor: expected a number > 1, got {self.factor!r}")
        if not isinstance(self.resource, str) or (self.resource != "n_samples"
                                                  and self.resource not in self.estimator.get_params()):
            raise ValueError(f"resource: expected 'n_samples' or a parameter of the estimator ('max_iter'), got "
                             f"{self.resource!r}")
        if not isinstance(self.aggressive_elimination, (bool, np.bool_)):
            raise ValueError(f"aggressive_elimination: expected a bool, got {self.aggressive_elimination!r}")
        for name, value, words in (("min_resources", self.min_resources, ("exhaust", "smallest")),
                                   ("max_resources", self.max_resources, ("auto",))):
            if not (value in words if isinstance(value, str) else
                    isinstance(value, (Integral, np.integer)) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"{name}: expected an int > 0 or one of {words}, got {value!r}")
        if getattr(self, "n_candidates", None) == "exhaust" == self.min_resources:
            raise ValueError("n_candidates and min_resources cannot be both set to 'exhaust'.")
        if self.scoring is not None and not isinstance(self.scoring, str) and not callable(self.scoring):
            raise ValueError(f"scoring: the halving searches take one metric (as scikit-learn's), got "
                             f"{self.scoring!r}")
        mn = self.min_resources
        if mn in ("smallest", "exhaust"):
            mn = 1
            if self.resource == "n_samples":
                mn = n_splits * 2 * (len(np.unique(y)) if is_classifier(self.estimator) else 1)
        mx = self.max_resources
        if mx == "auto":
            if self.resource != "n_samples":
                raise ValueError("max_resources: resource can only be 'n_samples' when max_resources='auto'")
            mx = X.shape[0]
        if mn > mx:
            raise ValueError(f"min_resources: min_resources_={mn} is greater than max_resources_={mx}.")
        self.min_resources_, self.max_resources_ = int(mn), int(mx)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Run the successive halving.  Args: X (dense or scipy.sparse), y, optional sample_weight, optional
        groups (for a group-aware ``cv``, as scikit-learn routes them to its split).  Returns: self."""
        X_arr, y_arr, scorers, multimetric, cv = self._prepare(X, y)
        base_splits = list(cv.split(X_arr, y_arr, groups))
        self._check_halving(X_arr, y_arr, len(base_splits))
        candidates = self._candidates()
        if self.resource != "n_samples" and any(self.resource in c for c in candidates):
            raise ValueError(f"resource: cannot use parameter {self.resource} as the resource since it is part "
                             "of the searched parameters.")
        n_required = required_rungs(len(candidates), self.factor)
        if self.min_resources == "exhaust":
            self.min_resources_ = exhaust_min_resources(self.min_resources_, self.max_resources_, self.factor,
                                                        n_required)
        n_possible = possible_rungs(self.min_resources_, self.max_resources_, self.factor)
        self.n_iterations_ = n_rungs(n_required, n_possible, self.aggressive_elimination)
        self.n_required_iterations_, self.n_possible_iterations_ = n_required, n_possible
        resources = partial(rung_resources, factor=self.factor, min_resources=self.min_resources_,
                            max_resources=self.max_resources_, n_required=n_required, n_possible=n_possible,
                            aggressive_elimination=self.aggressive_elimination)
        resume = self.resource == "max_iter"  # survivors continue from their solver states
        rungs, remaining = run_rungs(
            candidates, partial(self._rung, X_arr, y_arr, sample_weight, base_splits, scorers, resume),
            n_rungs=self.n_iterations_, resources=resources, keep=partial(survivors, factor=self.factor),
            select=sklearn_top_k, carry=(lambda ev, kept: [ev.states[i] for i in kept]) if resume else None)
        self.n_resources_ = [r.n_resources for r in rungs]
        self.n_candidates_ = [len(r.candidates) for r in rungs]
        self.n_remaining_candidates_ = len(remaining)
        all_c, results = self._rung_results(rungs)
        return self._finish(X, y, sample_weight, results, all_c, scorers, False, len(base_splits))

    def _rung(self, X, y, sample_weight, base_splits, scorers, resume, candidates, r, states):
        """One rung's evaluation (see :func:`run_rungs`): ``resource='n_samples'`` subsamples every train
        and test fold to ``r / n_samples`` of its rows (``sklearn.utils.resample`` with the search's
        ``random_state``, as scikit-learn's subsampling splitter); any other resource is set on the
        candidates.  With ``resume`` the rungs share compiled calls (``max_iter`` capped at
        ``max_resources_``) and survivors continue from ``states``."""
        from sklearn.utils import resample

        splits = base_splits
        if self.resource == "n_samples":
            f = r / X.shape[0]
            splits = [(resample(tr, replace=False, random_state=self.random_state, n_samples=int(f * len(tr))),
                       resample(te, replace=False, random_state=self.random_state, n_samples=int(f * len(te))))
                      for tr, te in base_splits]
        else:
            candidates = [dict(c, **{self.resource: r}) for c in candidates]
        ev = self._evaluate(candidates, X, y, sample_weight, splits, scorers,
                            max_iter_cap=self.max_resources_ if resume else None, keep_state=resume, states=states)
        return candidates, ev

    def _rung_results(self, rungs) -> tuple[list, dict]:
        """(every rung's candidates, ``cv_results_``: one row per candidate per rung, with ``iter`` and
        ``n_resources``); sets ``sweep_meta_`` and ``n_iter_per_split_``."""
        all_c = [c for r in rungs for c in r.candidates]
        evs = [r.evaluation for r in rungs]
        train = {"score": np.concatenate([ev.train["score"] for ev in evs])} if evs[0].train is not None else None
        results = cv_results(all_c, {"score": np.concatenate([ev.test["score"] for ev in evs])}, train,
                             np.concatenate([ev.fit_time for ev in evs]), np.concatenate([ev.score_time for ev in evs]))
        results["iter"] = np.concatenate([np.full(len(r.candidates), r.itr) for r in rungs])
        results["n_resources"] = np.concatenate([np.full(len(r.candidates), r.n_resources) for r in rungs])
        self.sweep_meta_ = [m for ev in evs for m in ev.metas]
        self.n_iter_per_split_ = np.concatenate([ev.n_iter for ev in evs])
        return all_c, results

    def _select(self, results, candidates, multimetric):
        """The best candidate of the last rung (scikit-learn's rule; all NaN: its first)."""
        last = np.flatnonzero(results["iter"] == np.max(results["iter"]))
        scores = results["mean_test_score"][last]
        self.best_index_ = int(last[0 if np.isnan(scores).all() else np.nanargmax(scores)])
        self.best_score_ = float(results["mean_test_score"][self.best_index_])
        self.best_params_ = candidates[self.best_index_]


_HALVING_ARGS = """
      factor: the elimination ratio (> 1): each rung keeps ``ceil(n / factor)`` candidates and
        multiplies the resource by ``factor``.
      resource: 'n_samples' (the folds' rows) or an estimator parameter, 'max_iter' (epochs or L-BFGS
        iterations), set on the candidates.
      max_resources: 'auto' (n_samples; only for resource='n_samples') or an int.
      min_resources: 'exhaust' (the largest that lets the last rung use max_resources), 'smallest'
        (resource='n_samples': 2 n_splits (x n_classes for a classifier); otherwise 1) or an int.
      aggressive_elimination: run enough rungs to leave fewer than ``factor`` candidates even if the
        resource runs out (the first rungs then repeat min_resources).
      cv, scoring (one metric, as scikit-learn's halving searches), refit (bool), error_score,
      return_train_score (default True, as scikit-learn's): as :class:`MLPGridSearchCV`.
      random_state: the subsampling stream (and, for the random search, the sampler's).

    Attributes:
      cv_results_ (one row per candidate per rung, with ``iter`` and ``n_resources``), best_index_
      (the best of the last rung), best_score_, best_params_, best_estimator_, n_resources_,
      n_candidates_, n_remaining_candidates_, n_required_iterations_, n_possible_iterations_,
      n_iterations_, min_resources_, max_resources_, sweep_meta_ (per rung and structure),
      n_iter_per_split_ (per cv_results_ row).
"""


class MLPHalvingGridSearchCV(BaseHalving):
    __doc__ = """Successive halving over ``param_grid``, scikit-learn's ``HalvingGridSearchCV`` interface,
    for :class:`MLPClassifier` / :class:`MLPRegressor`: ``cv_results_`` equals
    ``HalvingGridSearchCV(estimator, param_grid, ...)``'s over the same estimator and folds to
    numerical tolerance.

""" + BaseHalving.__doc__.split("\n\n", 1)[1] + """

    Args:
      estimator: an unfitted jaxnn MLPClassifier or MLPRegressor.
      param_grid: dict ``{name: list of values}`` or a list of such dicts.""" + _HALVING_ARGS

    def __init__(self, estimator, param_grid, *, factor=3, resource="n_samples", max_resources="auto",
                 min_resources="exhaust", aggressive_elimination=False, cv=5, scoring=None, refit=True,
                 error_score=np.nan, return_train_score=True, random_state=None):
        super().__init__(estimator, factor=factor, resource=resource, max_resources=max_resources,
                         min_resources=min_resources, aggressive_elimination=aggressive_elimination, cv=cv,
                         scoring=scoring, refit=refit, error_score=error_score,
                         return_train_score=return_train_score, random_state=random_state)
        self.param_grid = param_grid

    _candidates = MLPGridSearchCV._candidates


class MLPHalvingRandomSearchCV(BaseHalving):
    __doc__ = """Successive halving over candidates drawn from ``param_distributions``, scikit-learn's
    ``HalvingRandomSearchCV`` interface, for :class:`MLPClassifier` / :class:`MLPRegressor`: the first
    rung's ``n_candidates`` come from ``ParameterSampler(param_distributions, n_candidates,
    random_state=random_state)`` ('exhaust': ``max_resources_ // min_resources_``), so
    ``cv_results_`` equals ``HalvingRandomSearchCV``'s over the same estimator and folds.

""" + BaseHalving.__doc__.split("\n\n", 1)[1] + """

    Args:
      estimator: an unfitted jaxnn MLPClassifier or MLPRegressor.
      param_distributions: as :class:`MLPRandomizedSearchCV`.
      n_candidates: the first rung's candidates, an int >= 1 or 'exhaust'.""" + _HALVING_ARGS

    def __init__(self, estimator, param_distributions, *, n_candidates="exhaust", factor=3, resource="n_samples",
                 max_resources="auto", min_resources="smallest", aggressive_elimination=False, cv=5, scoring=None,
                 refit=True, error_score=np.nan, return_train_score=True, random_state=None):
        super().__init__(estimator, factor=factor, resource=resource, max_resources=max_resources,
                         min_resources=min_resources, aggressive_elimination=aggressive_elimination, cv=cv,
                         scoring=scoring, refit=refit, error_score=error_score,
                         return_train_score=return_train_score, random_state=random_state)
        self.param_distributions = param_distributions
        self.n_candidates = n_candidates

    def _candidates(self) -> list:
        from sklearn.model_selection import ParameterSampler

        check_distributions(self.param_distributions)
        n = self.n_candidates
        if n == "exhaust":
            n = self.max_resources_ // self.min_resources_
        elif isinstance(n, bool) or not isinstance(n, (Integral, np.integer)) or n < 1:
            raise ValueError(f"n_candidates: expected an int >= 1 or 'exhaust', got {n!r}")
        return list(ParameterSampler(self.param_distributions, n, random_state=self.random_state))

