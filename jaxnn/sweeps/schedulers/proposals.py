"""Trials proposed by a sampler while a search runs (:mod:`jaxnn.sweeps.samplers`).

A model-based search has no design up front: it reserves ``n`` trial indices, and whenever the driver
starts never-started trials it asks the :class:`Proposer` to fill their hyperparameters, so each batch of
proposals sees every observation made so far (lanes refilled at a segment boundary start the trials
proposed then).  The proposer keeps the sampler's :class:`~jaxnn.sweeps.samplers.History` up to date
incrementally from the trials' curves: one row per proposed trial, in proposal order, one column per
budget the search compares at.

Proposals are a deterministic function of the key, the sampler and the history, so a resumed search
(which replays its logged device calls) proposes exactly what the uninterrupted one did.
"""

from __future__ import annotations

import time
import warnings
from typing import Mapping

import numpy as np

from jaxnn import validate
from jaxnn.sweeps import status as st
from jaxnn.sweeps.distributed import init_distributed
from jaxnn.sweeps.samplers.base import (
    COMPLETE,
    FAIL,
    PRUNED,
    RUNNING,
    History,
    ParamSpace,
    RandomSampler,
    SobolSampler,
    checked_proposals,
    describe,
    param_space,
)
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.schedulers.common import design_of
from jaxnn.sweeps.spaces import Design, Distribution, key_words, plain

__all__ = ["Proposer", "placeholder_design", "sampled_space", "prepare", "attach", "done", "sampler_args",
           "learns", "together", "warn_blind"]

_SALT = 0x70726F70  # the proposals' host stream (never a JAX key)


def sampled_space(space, sampler, out_dir=None):
    """``(ParamSpace, sampler)`` of a model-based search, checked before any compute: the distributions
    (not a design), a sampler, out_dir only if replayable."""
    ps = param_space(space)
    sampler = check_sampler(sampler)
    if out_dir is not None and not getattr(sampler, "replayable", True):
        raise ValueError("out_dir: this sampler shares an Optuna storage, which resumes by itself (its trials are "
                         "in the storage); a jaxnn checkpoint cannot replay it: leave out_dir=None")
    return ps, sampler


def placeholder_design(ps: ParamSpace, n: int) -> Design:
    """A design of ``n`` not-yet-proposed trials (every coordinate at 0.5: shapes and dtypes only; a static
    hyperparameter's structure is the sampler's to choose, trial by trial)."""
    dists = dict(zip(ps.names, ps.dists))
    dists.update({k: Distribution("constant", (v,)) for k, v in ps.constants.items()})
    values = ps.values(np.full((n, ps.d), 0.5))
    return Design("sampler", {"trial": np.arange(n)}, values, tuple(ps.static), dists)


class _Curves:
    """``curves[r] = [(steps, metric value), ...]`` of the r-th proposed trial, read when asked (a sequence)."""

    def __init__(self, curve, ids, metric):
        self.curve, self.ids, self.metric = curve, ids, metric

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, r):
        return [(s, m[self.metric]) for s, m in self.curve[self.ids[r]]]


class Proposer:
    """Fills the hyperparameters of the search's trials from the sampler, as the driver starts them.

    Attributes: ``order`` (trial ids in proposal order), ``u`` ((n, d) unit points, by trial id),
    ``propose_s`` (host seconds in the sampler), ``calls``.  With ``structures`` (the static values of each of
    the search's pools, in order), a trial's proposed static values set its structure (``trials.group``);
    static values that ``trials.hp`` does not hold are kept here.
    """

    def __init__(self, sampler, ps: ParamSpace, key, trials, budgets, metric: str, mode: str, last_budget: int,
                 structures=None):
        n = trials.n
        self.structures = None if structures is None else [dict(s) for s in structures]
        self.static = {k: [None] * n for k in ps.static if k not in trials.hp}
        self.sampler, self.ps, self.metric, self.mode, self.trials = sampler, ps, metric, mode, trials
        self.seed = tuple(int(w) for w in key_words(key)) + (_SALT,)
        self.budgets = np.asarray(sorted(set(int(b) for b in budgets)), np.int64)
        self.col = {int(b): j for j, b in enumerate(self.budgets)}
        self.last_budget = int(last_budget)
        self.u = np.zeros((n, ps.d))
        self.loss = np.full((n, len(self.budgets)), np.nan)
        self.seen = np.zeros(n, np.int64)  # curve points already read, per trial
        self.order, self.row = [], np.full(n, -1, np.int64)
        self.final = np.zeros(n, bool)
        self.propose_s, self.calls = 0.0, 0

    def __call__(self, ids):
        """Propose the never-proposed trials among ``ids`` (one sampler call) into ``trials.hp``."""
        new = [int(i) for i in ids if self.row[i] < 0]
        if not new:
            return
        t0 = time.perf_counter()
        hist = self.history()
        u = checked_proposals(self.sampler.propose(len(new), self.ps, hist, self.seed + (self.calls,)),
                              len(new), self.ps.d, self.sampler)
        self.calls += 1
        values = self.ps.values(u)
        for k, v in values.items():
            if k in self.trials.hp:
                self.trials.hp[k][new] = v
            else:
                for j, i in enumerate(new):
                    self.static[k][i] = plain(v[j])
        if self.structures is not None:
            for j, i in enumerate(new):
                self.trials.group[i] = self.structures.index({k: plain(values[k][j]) for k in self.ps.static})
        self.u[new] = u
        self.row[new] = np.arange(len(self.order), len(self.order) + len(new))
        self.order.extend(new)
        self.propose_s += time.perf_counter() - t0

    def _update(self):
        """Read the curve points that arrived since the last call into the loss table."""
        tr, sign = self.trials, -1.0 if self.mode == "max" else 1.0
        for i in self.order:
            c = tr.curve[i]
            for steps, m in c[self.seen[i]:]:
                j = self.col.get(int(steps))
                if j is not None:
                    v = sign * float(m[self.metric])
                    self.loss[i, j] = v if np.isfinite(v) else np.inf
            self.seen[i] = len(c)
            if tr.status[i] != st.OK:
                self.loss[i] = np.inf

    def states(self) -> np.ndarray:
        """(m,) RUNNING / COMPLETE / PRUNED / FAIL of the proposed trials, in proposal order."""
        tr, ids = self.trials, np.asarray(self.order, np.int64)
        out = np.full(len(ids), RUNNING, np.int8)
        if not len(ids):
            return out
        stopped = (tr.slot[ids] < 0) & tr.started[ids] | self.final[ids]
        out[stopped] = PRUNED
        out[tr.steps[ids] >= self.last_budget] = COMPLETE
        out[tr.status[ids] != st.OK] = FAIL
        return out

    def history(self) -> History:
        """The sampler's view: every proposed trial's point, losses per budget, state and curve."""
        self._update()
        ids = np.asarray(self.order, np.int64)
        curves = _Curves(self.trials.curve, ids, self.metric)
        return History(self.u[ids], self.budgets, self.loss[ids], self.states(), curves, self.mode, self.metric)

    def finish(self):
        """The search ended: every trial it did not complete is final (pruned); tell the sampler."""
        self.final[:] = True
        fin = getattr(self.sampler, "finish", None)
        if callable(fin):
            t0 = time.perf_counter()
            fin(self.ps, self.history())
            self.propose_s += time.perf_counter() - t0

    def values(self) -> dict:
        """``{name: (n,) values}`` as proposed, exactly (a choice's own values, float64: not the float32 the lanes
        trained with; constants and static values included); a trial never proposed keeps the placeholder's."""
        u = np.where((self.row >= 0)[:, None], self.u, 0.5)  # 0.5: as placeholder_design
        return self.ps.values(u)

    def meta(self) -> dict:
        return {"propose_s": self.propose_s, "propose_calls": self.calls, "sampler": describe(self.sampler),
                "n_proposed": len(self.order)}


def prepare(space, sampler, trials, key, distributed, out_dir):
    """``(design, ps, sampler)``: the space's design when neither ``sampler`` nor ``trials`` is given (``ps``
    None), else a placeholder design of ``trials`` reserved trials for the sampler (None: random) to fill,
    checked before any compute."""
    if trials is not None and sampler is None and not isinstance(space, Mapping):
        raise ValueError(f"trials: only with a dict of distributions (the space's design sets the trials), got "
                         f"trials={trials!r} and a {type(space).__name__}; leave trials out, or pass the "
                         "distributions (random proposals, or sampler=sweeps.tpe())")
    if sampler is None and trials is None:
        return design_of(space, key, distributed), None, None
    init_distributed(*distributed)
    validate.check_key("key", key)
    ps, sampler = sampled_space(space, sampler, out_dir)
    if trials is None:
        raise ValueError("trials: a search with a sampler needs the number of trials to propose, e.g. trials=243")
    trials = validate.check_int("trials", trials, minimum=1)
    return placeholder_design(ps, trials), ps, sampler


def learns(sampler) -> bool:
    """Whether ``sampler`` proposes from results (not None, random or Sobol points)."""
    return sampler is not None and not isinstance(sampler, (RandomSampler, SobolSampler))


def together(n: int, sampler, rounds: int) -> int:
    """The most of ``n`` trials a search proposes at once by default: all for random or Sobol points (they need
    no results), else ``ceil(n / rounds)``, so that the sampler sees results before it proposes most trials."""
    return max(1, -(-n // rounds)) if learns(sampler) else n


def warn_blind(n: int, at_once: int, sampler, what: str) -> None:
    """Warn when a sampler would propose all ``n`` trials before any result (``at_once``: the lanes or the batch,
    named ``what``): it could not learn, the search would be a random one."""
    if learns(sampler) and at_once >= n:
        warnings.warn(f"{what}: with {what}={at_once} and trials={n}, every trial is proposed before any result, so "
                      f"the sampler cannot learn; give fewer {what} (default: about trials / rounds)", UserWarning,
                      stacklevel=3)


def sampler_args(sampler) -> dict:
    """The sampler's part of a search's identity (its checkpoint fingerprint)."""
    return {} if sampler is None else {"sampler": describe(sampler)}


def attach(search, ps, sampler, key, budgets, last_budget):
    """A :class:`Proposer` for the open ``search`` (None without a sampler), wired into its driver."""
    if ps is None:
        return None
    structures = [g.static for g in search.setup.structures] if ps.static else None
    p = Proposer(sampler, ps, key, search.trials, budgets, search.metric, search.mode, last_budget, structures)
    search.driver.propose = p
    return p


def done(proposer) -> tuple:
    """``(values, meta)`` for ``finish`` after telling the sampler the search ended (``(None, {})``
    without one)."""
    if proposer is None:
        return None, {}
    proposer.finish()
    return proposer.values(), proposer.meta()
