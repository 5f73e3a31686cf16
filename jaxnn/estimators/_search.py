"""Cross-validated searches over jaxnn's MLP estimators: :class:`MLPGridSearchCV` and
:class:`MLPRandomizedSearchCV` (the halving searches are in :mod:`jaxnn.estimators._halving`).

Both share :class:`BaseSearch`: the candidates (a ``ParameterGrid``, or a ``ParameterSampler`` draw)
are grouped by structure, and every candidate x fold of one structure trains in ONE compiled call
(:func:`jaxnn.estimators._grouped.fit_group`, through :func:`jaxnn.sweeps.run_table`); then scoring,
``cv_results_``, the best candidate and the refit follow scikit-learn's ``BaseSearchCV``: ``scoring``
as one metric (None, a name, a callable, which may return a dict of metrics) or several (a list, tuple
or dict of scorers), ``refit`` as a bool, a metric name or a callable of ``cv_results_``,
``error_score`` ('raise' or a number) for fits that fail (diverge) or scorers that raise, and
``return_train_score``.

References:
  scikit-learn's ``sklearn/model_selection/_search.py`` (semantics of every parameter and attribute).
"""

from __future__ import annotations

import time
from collections import defaultdict
from numbers import Integral, Real
from typing import NamedTuple, Optional

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxnn.estimators._grouped import fit_group, structure_key
from jaxnn.estimators._layout import DTYPES, SPARSE
from jaxnn.estimators._mlp import BaseMLP
from jaxnn.validate import warn

__all__ = ["BaseSearch", "MLPGridSearchCV", "MLPRandomizedSearchCV", "check_distributions", "cv_results"]

_DIVERGED = ("Solver produced non-finite parameter weights. The input data may contain large values and need to "
             "be preprocessed (or lower learning_rate_init).")


def _check_scoring(estimator, scoring, refit):
    """(scorers, multimetric): ``{"score": scorer}`` for one metric (a callable ``scoring`` may still
    return a dict of metrics), ``{name: scorer}`` for a list, tuple or dict, as scikit-learn reads
    ``scoring``; ``refit`` must then be False, a metric name or a callable (scikit-learn's rule)."""
    from sklearn.metrics import check_scoring
    from sklearn.metrics._scorer import _check_multimetric_scoring

    if scoring is None or isinstance(scoring, str) or callable(scoring):
        return {"score": check_scoring(estimator, scoring=scoring)}, False
    if not isinstance(scoring, (list, tuple, set, dict)):
        raise ValueError(f"scoring: expected None, a scorer name, a callable, or a list, tuple or dict of "
                         f"scorers, got {scoring!r}")
    scorers = _check_multimetric_scoring(estimator, scoring)
    _check_multimetric_refit(refit, scorers)
    return scorers, True


def _check_multimetric_refit(refit, names) -> None:
    """scikit-learn's rule for several metrics (a list or dict ``scoring``, or a callable that returned a dict):
    ``refit`` False, one of the metric ``names`` or a callable."""
    if refit is not False and not (isinstance(refit, str) and refit in names) and not callable(refit):
        raise ValueError("refit: for multi-metric scoring, refit must be set to a scorer key or a callable to "
                         "refit an estimator with the best parameter setting on the whole data and make the "
                         "best_* attributes available for that metric. If this is not needed, refit should be "
                         f"set to False explicitly. {refit!r} was passed.")


def cv_results(candidates, test: dict, train, fit_time, score_time) -> dict:
    """scikit-learn's ``cv_results_`` from (n_candidates, n_splits) score arrays per metric name
    (single metric: the name "score"), fit and score times."""
    from scipy.stats import rankdata

    n_c, n_s = fit_time.shape
    res = {}
    for name, arr in (("fit_time", fit_time), ("score_time", score_time)):
        res[f"mean_{name}"] = arr.mean(1)
        res[f"std_{name}"] = arr.std(1)
    for k in sorted({k for c in candidates for k in c}):
        col = np.ma.MaskedArray(np.empty(n_c, dtype=object), mask=True)
        for i, c in enumerate(candidates):
            if k in c:
                col[i] = c[k]
        res[f"param_{k}"] = col
    res["params"] = candidates
    for kind, scores in (("test", test), ("train", train)):
        for metric, arr in (scores or {}).items():
            for s in range(n_s):
                res[f"split{s}_{kind}_{metric}"] = arr[:, s]
            mean = arr.mean(1)
            res[f"mean_{kind}_{metric}"] = mean
            res[f"std_{kind}_{metric}"] = arr.std(1)
            if kind == "test":  # NaN ranks last; all NaN: all first (scikit-learn's rule)
                key = np.ones(n_c) if np.isnan(mean).all() else np.where(np.isnan(mean), np.inf, -mean)
                res[f"rank_test_{metric}"] = rankdata(key, method="min").astype(np.int32)
    return res


class _Evaluation(NamedTuple):
    """What :meth:`BaseSearch._evaluate` measured: ``test`` / ``train`` map each metric name to a
    (n_candidates, n_splits) array (``train`` None unless ``return_train_score``); ``fit_time`` and
    ``score_time`` (n_candidates, n_splits); ``n_iter`` (n_candidates, n_splits) epochs or iterations
    (-1: diverged); ``metas`` one sweep meta per structure; ``states`` per candidate its per-split
    solver states (with ``keep_state``; else None)."""

    test: dict
    train: Optional[dict]
    fit_time: np.ndarray
    score_time: np.ndarray
    n_iter: np.ndarray
    metas: list
    states: list


class _Fits(NamedTuple):
    """What :meth:`BaseSearch._fit_all` returns, per (candidate, split): ``fitted`` builders of the
    fitted estimators (None: diverged), ``n_iter``, ``fit_time``, the in-graph ``test`` / ``train``
    scores (NaN where not computed); ``metas`` one per structure group, ``states`` per candidate."""

    fitted: list
    n_iter: np.ndarray
    fit_time: np.ndarray
    metas: list
    states: list
    test: np.ndarray
    train: np.ndarray


class BaseSearch(BaseEstimator):
    """The machinery shared by the searches (not for direct use): subclasses give ``_candidates()``."""

    def __init__(self, estimator, *, scoring=None, refit=True, cv=5, error_score=np.nan,
                 return_train_score=False):
        self.estimator = estimator
        self.scoring = scoring
        self.refit = refit
        self.cv = cv
        self.error_score = error_score
        self.return_train_score = return_train_score

    def _candidates(self) -> list:
        raise NotImplementedError

    def _check_params(self):
        """Every argument checked before any compute: ValueError naming it."""
        if not isinstance(self.estimator, BaseMLP):
            raise ValueError(f"estimator: expected a jaxnn MLPClassifier or MLPRegressor, got {self.estimator!r}")
        if not (isinstance(self.error_score, str) and self.error_score == "raise") and (
                isinstance(self.error_score, (bool, str)) or not isinstance(self.error_score, Real)):
            raise ValueError(f"error_score: expected 'raise' or a number, got {self.error_score!r}")
        if not (isinstance(self.refit, (bool, str)) or callable(self.refit)):
            raise ValueError(f"refit: expected a bool, a metric name or a callable, got {self.refit!r}")

    def _prepare(self, X, y):
        """Validated (X, y), the scorers and the splits."""
        self._check_params()
        base = self.estimator
        scorers, multimetric = _check_scoring(base, self.scoring, self.refit)
        X_arr, y_arr = validate_data(base.__class__(), X, y, multi_output=True, dtype=DTYPES,
                                     y_numeric=not is_classifier(base), reset=True, accept_sparse=SPARSE)
        if sp.issparse(X_arr):
            X_arr = X_arr.tocsr()  # row indexing of the folds
        cv = check_cv(self.cv, y_arr, classifier=is_classifier(base))
        return X_arr, y_arr, scorers, multimetric, cv

    def _evaluate(self, candidates, X, y, sample_weight, splits, scorers, max_iter_cap=None, keep_state=False,
                  states=None) -> _Evaluation:
        """Fit every candidate on every split (one compiled call per structure) and score it.

        ``max_iter_cap``, ``keep_state`` and ``states`` (per candidate, a list of per-split states or
        None): see :func:`jaxnn.estimators._grouped.fit_group`."""
        ests = [clone(self.estimator).set_params(**p) for p in candidates]
        for e in ests:
            e._validate_params()
        fits = self._fit_all(ests, X, y, sample_weight, splits, max_iter_cap, keep_state, states)
        if self.error_score == "raise" and any(f is None for row in fits.fitted for f in row):
            raise ValueError(_DIVERGED)
        test, train, score_time = self._score_all(fits, X, y, sample_weight, splits, scorers)
        return _Evaluation(test, train, fits.fit_time, score_time, fits.n_iter, fits.metas, fits.states)

    def _fit_all(self, ests, X, y, sample_weight, splits, max_iter_cap, keep_state, states) -> _Fits:
        """Every estimator on every split: :func:`fit_group` once per structure group."""
        n_c, n_s = len(ests), len(splits)
        groups = defaultdict(list)
        for i, e in enumerate(ests):
            groups[structure_key(e)].append(i)
        # The estimator's own score (scoring=None: accuracy or R^2) is computed inside the compiled call.
        f = _Fits([[None] * n_s for _ in range(n_c)], np.zeros((n_c, n_s), int), np.zeros((n_c, n_s)), [],
                  [None] * n_c, np.full((n_c, n_s), np.nan), np.full((n_c, n_s), np.nan))
        for members in groups.values():
            t0 = time.perf_counter()
            out, meta, scores, n_iter, st = fit_group(
                [ests[i] for i in members], X, y, sample_weight, splits, score=self.scoring is None,
                max_iter_cap=max_iter_cap, train_score=self.return_train_score, keep_state=keep_state,
                states=None if states is None else [states[i] for i in members])
            dt = (time.perf_counter() - t0) / (len(members) * n_s)
            f.metas.append(meta)
            for j, i in enumerate(members):
                f.fitted[i], f.n_iter[i], f.fit_time[i] = out[j], n_iter[j], dt
                f.states[i] = None if st is None else st[j]
                if scores is not None:
                    f.test[i] = scores[0][j] if isinstance(scores, tuple) else scores[j]
                    if isinstance(scores, tuple):
                        f.train[i] = scores[1][j]
        return f

    def _score_all(self, fits: _Fits, X, y, sample_weight, splits, scorers) -> tuple:
        """``(test, train, score_time)``: every fit's scores (the in-graph ones where they are finite, a
        NaN one redone by the host scorer, which may raise), weighted by ``sample_weight`` as
        BaseSearchCV's; a diverged fit scores ``error_score`` (a FitFailedWarning counts them)."""
        n_c, n_s = fits.n_iter.shape
        sw = None if sample_weight is None else np.asarray(sample_weight)
        sub = lambda a, r: None if a is None else a[r]  # noqa: E731
        test_rows, train_rows, score_time, n_failed = {}, {}, np.zeros((n_c, n_s)), 0
        in_graph = self.scoring is None
        for i in range(n_c):
            for s, (tr, te) in enumerate(splits):
                t0 = time.perf_counter()
                if fits.fitted[i][s] is None:  # diverged: error_score, as scikit-learn's failed fits
                    n_failed += 1
                    test_rows[i, s] = train_rows[i, s] = None
                    continue
                done_test = in_graph and np.isfinite(fits.test[i, s])
                done_train = in_graph and np.isfinite(fits.train[i, s])
                est = None if done_test and (done_train or not self.return_train_score) else fits.fitted[i][s]()
                test_rows[i, s] = ({"score": float(fits.test[i, s])} if done_test else
                                   self._score(scorers, est, X[te], y[te], sub(sw, te)))
                if self.return_train_score:
                    train_rows[i, s] = ({"score": float(fits.train[i, s])} if done_train else
                                        self._score(scorers, est, X[tr], y[tr], sub(sw, tr)))
                score_time[i, s] = time.perf_counter() - t0
        if n_failed:
            warn(f"\n{n_failed} fits failed out of a total of {n_c * n_s}.\nThe score on these train-test "
                 f"partitions for these parameters will be set to {self.error_score}.\n"
                 f"ValueError: {_DIVERGED}", FitFailedWarning)
        test = _stack(test_rows, n_c, n_s, self.error_score)
        train = _stack(train_rows, n_c, n_s, self.error_score) if self.return_train_score else None
        return test, train, score_time

    def _score(self, scorers, est, X, y, sw) -> dict:
        """{metric: score} of a fitted estimator; a scorer that raises gives ``error_score`` (or raises)."""
        kw = {} if sw is None else {"sample_weight": sw}
        try:
            if len(scorers) == 1 and "score" in scorers:
                v = scorers["score"](est, X, y, **kw)
                return {k: float(u) for k, u in v.items()} if isinstance(v, dict) else {"score": float(v)}
            return {name: float(sc(est, X, y, **kw)) for name, sc in scorers.items()}
        except Exception:
            if self.error_score == "raise":
                raise
            import traceback

            warn(f"Scoring failed. The score on this train-test partition for these parameters will be "
                 f"set to {self.error_score}. Details: \n{traceback.format_exc()}", UserWarning)
            return None

    def _select(self, results, candidates, multimetric):
        """best_index_, best_score_, best_params_ as BaseSearchCV sets them."""
        metric = self.refit if (multimetric and isinstance(self.refit, str)) else "score"
        if not (self.refit or not multimetric):
            return
        if callable(self.refit):
            best = self.refit(results)
            if not isinstance(best, (Integral, np.integer)):
                raise TypeError("best_index_ returned is not an integer")
            if best < 0 or best >= len(candidates):
                raise IndexError("best_index_ index out of range")
        else:
            best = results[f"rank_test_{metric}"].argmin()
        self.best_index_ = int(best)
        if not callable(self.refit):
            self.best_score_ = float(results[f"mean_test_{metric}"][self.best_index_])
        self.best_params_ = candidates[self.best_index_]

    def _finish(self, X, y, sample_weight, results, candidates, scorers, multimetric, n_s):
        self.scorer_ = scorers if multimetric else scorers["score"]  # a callable's stays the callable
        if not multimetric and "mean_test_score" not in results:  # a callable scoring returned a dict of metrics:
            multimetric = True  # several, as scikit-learn treats them
            _check_multimetric_refit(self.refit, {k[len("mean_test_"):] for k in results if
                                                  k.startswith("mean_test_")})
        self.cv_results_ = results
        self._select(results, candidates, multimetric)
        self.n_splits_ = n_s
        self.multimetric_ = multimetric
        if self.refit:
            t0 = time.perf_counter()
            kw = {} if sample_weight is None else {"sample_weight": sample_weight}
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y, **kw)
            self.refit_time_ = time.perf_counter() - t0
        return self

    def fit(self, X, y, sample_weight=None, groups=None):
        """Run the search.  Args: X (n_samples, n_features) (dense or scipy.sparse), y, optional
        sample_weight (weights the fits and the scores), optional groups (the samples' group labels, for a
        group-aware ``cv`` such as ``GroupKFold``, as scikit-learn routes them to its split).  Returns: self."""
        X_arr, y_arr, scorers, multimetric, cv = self._prepare(X, y)
        candidates = self._candidates()
        splits = list(cv.split(X_arr, y_arr, groups))
        ev = self._evaluate(candidates, X_arr, y_arr, sample_weight, splits, scorers)
        self.sweep_meta_ = ev.metas
        self.n_iter_per_split_ = ev.n_iter
        return self._finish(X, y, sample_weight, cv_results(candidates, ev.test, ev.train, ev.fit_time,
                                                             ev.score_time), candidates, scorers, multimetric,
                            len(splits))

    def _check_refit(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        return self._check_refit().predict(X)

    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)`` (classifier)."""
        return self._check_refit().predict_proba(X)

    def score(self, X, y, sample_weight=None):
        """The refit metric's scorer on (X, y) with ``best_estimator_``."""
        est = self._check_refit()
        if self.multimetric_ and not isinstance(self.refit, str):
            raise ValueError("score: with multi-metric scoring, refit must name the metric to score with")
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        return scorer(est, X, y, **kw)

    @property
    def classes_(self):
        return self._check_refit().classes_

    @property
    def n_features_in_(self):
        """``best_estimator_.n_features_in_`` (an AttributeError before a fit with refit, as scikit-learn's)."""
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(f"{type(self).__name__} object has no n_features_in_ attribute (fit it with refit)")
        return self.best_estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """``best_estimator_.feature_names_in_`` (fitted on a DataFrame with string column names)."""
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(f"{type(self).__name__} object has no feature_names_in_ attribute (fit it with "
                                 "refit)")
        return self.best_estimator_.feature_names_in_


def _stack(rows: dict, n_c: int, n_s: int, error_score) -> dict:
    """{metric: (n_c, n_s)} from per-(candidate, split) dicts (None: failed -> ``error_score``)."""
    names = next((list(r) for r in rows.values() if r is not None), ["score"])
    return {m: np.array([[error_score if rows[i, s] is None else rows[i, s][m] for s in range(n_s)]
                         for i in range(n_c)], dtype=float) for m in names}


_COMMON_ARGS = """
      cv: int (StratifiedKFold for classifiers, KFold otherwise), a CV splitter or an iterable of
        (train, test) index pairs, as in scikit-learn.
      scoring: ``None`` (the estimator's ``score``, computed inside the compiled call), a scorer name,
        a callable (which may return a dict of metrics), or a list / tuple / dict of scorers
        (multi-metric: ``cv_results_`` has ``mean_test_<name>`` etc. for each), as in scikit-learn.
      refit: refit the best candidate on all the data (``best_estimator_``): True, False, the metric to
        pick it by (required with multi-metric scoring, or a callable, or False), or a callable
        ``refit(cv_results_) -> best_index_`` (then ``best_score_`` is not set), as in scikit-learn.
      error_score: ``'raise'`` or the score recorded for a fit that fails (diverges: its error is
        raised with 'raise') or whose scorer raises; a FitFailedWarning counts failed fits, as
        scikit-learn's.  Default NaN.
      return_train_score: also record ``split{i}_train_<metric>`` etc.

    Attributes:
      cv_results_, best_params_, best_score_, best_index_, best_estimator_ (refit), n_splits_,
      n_features_in_ and feature_names_in_ (best_estimator_'s, with refit),
      scorer_ (a scorer, or a dict of them when multimetric_), refit_time_, multimetric_,
      sweep_meta_ (one :func:`jaxnn.sweeps.run_table` meta per structure group: compile and run
      seconds, ``n_ok`` / ``n_diverged`` fits, ``epochs_run``, ``block_size`` / ``n_blocks``),
      n_iter_per_split_ ((n_candidates, n_splits) int
      array: the epochs or L-BFGS iterations each fit ran, -1 where it diverged).
"""


class MLPGridSearchCV(BaseSearch):
    __doc__ = """Exhaustive search over ``param_grid`` with cross-validation, scikit-learn's ``GridSearchCV``
    interface, for :class:`MLPClassifier` / :class:`MLPRegressor`.

    All grid points x folds that share a structure (layer sizes, activation, solver, schedule,
    batch size, ``max_iter``...) train in ONE compiled call: :func:`jaxnn.sweeps.run_table` vmaps the compiled
    training core over (grid point, fold).  Folds of different sizes are padded (weight-0 rows);
    the Glorot init, the early-stopping split and every epoch's minibatch order of every (point, fold)
    come from ``random_state`` exactly as a separate ``fit`` would draw them (and as scikit-learn's own
    MLP draws them), so ``cv_results_`` equals ``sklearn.model_selection.GridSearchCV(estimator,
    param_grid, cv=cv)`` to numerical tolerance, over this estimator or over scikit-learn's.  The orders
    of all ``max_iter`` epochs of every fit are one (fits, max_iter, rows) int32 table, not blocks.
    Fits whose training data are the same (one fold and an int ``random_state``: the same rows,
    early-stopping split and minibatch orders) train in blocks in which the data are not batched, so
    that each minibatch's products with the first layer of all the block's fits are one matmul
    (``sweep_meta_``: ``block_size``, ``n_blocks``); a ``random_state`` of None gives every fit its
    own orders, and blocks of one fit.
    With ``scoring=None`` (the estimator's own ``score``: accuracy, or R^2 averaged over outputs) the
    test-fold scores are computed inside the same compiled call; any other scorer (and the train
    scores) runs on the host with scikit-learn's scorers on the fitted estimators.
    The sweep shards the fits over all JAX devices: on a CPU, call :func:`jaxnn.use_cpu_cores`
    before any JAX computation so that every core is a device, which plays the part of GridSearchCV's
    ``n_jobs`` (``benchmarks/bench_estimators.py`` times the grid search that way).

    Differs from scikit-learn on purpose: no ``n_jobs`` / ``pre_dispatch`` / ``verbose`` (the devices
    are the workers); the estimator's ``callback`` / ``verbose`` are ignored in the vmapped fits.

    Args:
      estimator: an unfitted jaxnn MLPClassifier or MLPRegressor.
      param_grid: dict ``{name: list of values}`` or a list of such dicts.""" + _COMMON_ARGS

    def __init__(self, estimator, param_grid, *, scoring=None, refit=True, cv=5, error_score=np.nan,
                 return_train_score=False):
        super().__init__(estimator, scoring=scoring, refit=refit, cv=cv, error_score=error_score,
                         return_train_score=return_train_score)
        self.param_grid = param_grid

    def _candidates(self) -> list:
        from sklearn.model_selection import ParameterGrid

        if not isinstance(self.param_grid, (dict, list)) or (isinstance(self.param_grid, list) and not all(
                isinstance(g, dict) for g in self.param_grid)):
            raise ValueError(f"param_grid: expected a dict or a list of dicts, got {self.param_grid!r}")
        return list(ParameterGrid(self.param_grid))


class MLPRandomizedSearchCV(BaseSearch):
    __doc__ = """Randomized search over ``param_distributions`` with cross-validation, scikit-learn's
    ``RandomizedSearchCV`` interface, for :class:`MLPClassifier` / :class:`MLPRegressor`.

    The candidates are scikit-learn's ``ParameterSampler(param_distributions, n_iter,
    random_state=random_state)``: lists are sampled uniformly, scipy.stats distributions by their
    ``rvs``, without replacement when every value is a list; so the same ``random_state`` gives the
    same candidates as ``RandomizedSearchCV``.  Then as :class:`MLPGridSearchCV`: the candidates x
    folds of each structure train in ONE compiled call (a sampled ``hidden_layer_sizes`` makes one
    group per distinct value; every traced hyperparameter, e.g. a log-uniform ``alpha`` or
    ``learning_rate_init``, varies inside one call), and ``cv_results_`` equals
    ``RandomizedSearchCV(estimator, param_distributions, n_iter=n_iter, random_state=random_state,
    cv=cv)``'s over the same estimator to numerical tolerance.

    Differs from scikit-learn on purpose: no ``n_jobs`` / ``pre_dispatch`` / ``verbose``.

    Args:
      estimator: an unfitted jaxnn MLPClassifier or MLPRegressor.
      param_distributions: dict ``{name: list or scipy.stats distribution}`` or a list of such dicts
        (each candidate first picks one dict uniformly).
      n_iter: number of candidates (int >= 1).
      random_state: None, an int or a RandomState: the sampler's stream (not the estimator's).""" + _COMMON_ARGS

    def __init__(self, estimator, param_distributions, *, n_iter=10, scoring=None, refit=True, cv=5,
                 random_state=None, error_score=np.nan, return_train_score=False):
        super().__init__(estimator, scoring=scoring, refit=refit, cv=cv, error_score=error_score,
                         return_train_score=return_train_score)
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.random_state = random_state

    def _candidates(self) -> list:
        from sklearn.model_selection import ParameterSampler

        check_distributions(self.param_distributions)
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (Integral, np.integer)) or self.n_iter < 1:
            raise ValueError(f"n_iter: expected an int >= 1, got {self.n_iter!r}")
        return list(ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state))


def check_distributions(dists) -> None:
    """ValueError naming ``param_distributions`` unless it is a dict (or a non-empty list of dicts) of
    non-empty sequences or objects with ``rvs``."""
    ds = dists if isinstance(dists, list) else [dists]
    if not ds or not all(isinstance(d, dict) for d in ds):
        raise ValueError(f"param_distributions: expected a dict or a non-empty list of dicts, got {dists!r}")
    for d in ds:
        for k, v in d.items():
            ok = hasattr(v, "rvs") or (isinstance(v, (list, tuple, np.ndarray)) and len(v) > 0)
            if not ok:
                raise ValueError(f"param_distributions: {k!r} must be a non-empty list or a distribution with "
                                 f"rvs, got {v!r}")

