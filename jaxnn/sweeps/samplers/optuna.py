"""Optuna in: any Optuna sampler proposes a jaxnn search's trials, through an Optuna study (ask and tell).

:func:`optuna_sampler` wraps an ``optuna.samplers.BaseSampler`` (default: TPE) in jaxnn's sampler protocol
(:mod:`jaxnn.sweeps.samplers.base`).  A storage URL is opened when the adapter is made, and a search shows it
its direction before any training (``check``: a shared study of the other direction is refused then); the
study is created at the first ``propose``, and every ``propose`` then

1. tells the study what the search observed of the trials this adapter asked (trial i of the history is
   the i-th point it proposed): each new point of ``history.curves[i]`` as an intermediate value
   (``trial.report(value, step)``, non-finite values left out), and the trials whose state is final:
   COMPLETE with the curve's last value, PRUNED (Optuna records the last intermediate value), FAIL;
   running trials stay running;
2. asks ``n`` trials with the space's distributions (``uniform`` -> ``FloatDistribution``, ``loguniform`` ->
   ``FloatDistribution(log=True)``, ``integers(lo, hi)`` -> ``IntDistribution(lo, hi - 1)``, ``choice`` /
   ``static`` -> ``CategoricalDistribution``) and returns their points ``space.unit(params)``, (n, d).

The space's constants are not Optuna params (nothing to search): every asked trial carries them in the user
attribute ``jaxnn_constants`` ``{name: value}``, and its history row in ``jaxnn_trial``.

In memory (``storage=None``) a search owns its study, and the adapter is *replayable*: each search starts a
new study with a fresh copy of the sampler as it was given, so a resumed search that replays its history
proposes what the uninterrupted one did (for a seeded sampler; the default TPE is seeded from the search's
key).  With a ``storage`` (a database URL, or ``optuna.storages.JournalStorage(...)``) several processes or
hosts share one study: each asks and tells its own trials, and the sampler sees every trial of the study.
"""

from __future__ import annotations

import copy

import numpy as np

from jaxnn.sweeps.export import check_direction, open_storage, open_study, optuna_distribution, require_optuna
from jaxnn.sweeps.samplers.base import COMPLETE, PRUNED, RUNNING
from jaxnn.sweeps.spaces import plain

__all__ = ["optuna_sampler", "OptunaSampler"]


def optuna_sampler(sampler=None, *, storage=None, study_name=None) -> "OptunaSampler":
    """A jaxnn sampler that asks an Optuna study (see the module docstring).

    Args:
      sampler: any ``optuna.samplers.BaseSampler``; None: ``optuna.samplers.TPESampler`` with Optuna's
        defaults, seeded from the search's key in memory (so a search is reproducible) and unseeded with a
        storage (so that processes sharing the study do not draw the same startup points).
      storage: None (a study in memory), a database URL (``"sqlite:///search.db"``) or an Optuna storage
        object (``optuna.storages.JournalStorage(JournalFileBackend(path))``, e.g. for processes on hosts
        that share a file system).
      study_name: the study's name (processes that share a study give the same); None: Optuna names it.
    """
    optuna = require_optuna()
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise ValueError(f"sampler: expected an Optuna sampler (an optuna.samplers.BaseSampler such as "
                         f"optuna.samplers.TPESampler(seed=0)) or None, got {sampler!r:.120}")
    if study_name is not None and (not isinstance(study_name, str) or not study_name):
        raise ValueError(f"study_name: expected a non-empty string or None, got {study_name!r}")
    opened = open_storage(storage)  # a URL that cannot be opened is an error now, before any search
    return OptunaSampler(sampler, storage, study_name, opened)


class OptunaSampler:
    """The adapter built by :func:`optuna_sampler`.

    Attributes:
      study: the ``optuna.Study`` (None before the first ``propose``).
      trial_numbers: the Optuna trial number of every point proposed, in order (history row i).
    """

    def __init__(self, sampler, storage, study_name, opened=None):
        self.storage, self.study_name = storage, study_name
        self._opened = storage if opened is None else opened  # the storage object (a URL's RDBStorage)
        # in memory, a pristine copy: every search starts from the sampler as given (replayable)
        self._template = copy.deepcopy(sampler) if storage is None else sampler
        self.study = None
        self._trials, self._seen, self._done = [], [], []

    @property
    def replayable(self) -> bool:
        """True in memory: a resumed search that replays its history gets the same proposals."""
        return self.storage is None

    @property
    def trial_numbers(self) -> list:
        return [t.number for t in self._trials]

    def _start(self, history, seed):
        """A new search: a new study in memory (from the pristine sampler), the shared one with a storage."""
        optuna = require_optuna()
        sampler = copy.deepcopy(self._template) if self.replayable else self._template
        if sampler is None:
            words = [int(w) for w in seed[:-1]] or [0]
            sampler = optuna.samplers.TPESampler(
                seed=int(np.random.SeedSequence(words).generate_state(1)[0]) if self.replayable else None)
        self.study = open_study(self._opened, self.study_name, history.mode, sampler, label=self.describe()["storage"])
        self._trials, self._seen, self._done = [], [], []

    def check(self, mode: str) -> None:
        """Called by a search with its direction, before any compute: a shared study of the other direction
        is a ValueError."""
        check_direction(self._opened, self.study_name, mode, self.describe()["storage"])

    def _ask(self, dists, space, row):
        t = self.study.ask(dists)
        t.set_user_attr("jaxnn_trial", row)
        if space.constants:
            t.set_user_attr("jaxnn_constants", {k: plain(v) for k, v in space.constants.items()})
        self._trials.append(t)
        self._seen.append(0)
        self._done.append(False)
        return t

    def _adopt(self, space, history, dists):
        """History rows this adapter did not propose (a search's given first trials, a replayed log): asked
        with their own params (in memory only: with a shared storage, trial i must be this adapter's)."""
        k = len(self._trials)
        if history.m <= k:
            return
        if not self.replayable:
            raise ValueError(f"history: {history.m} trials, but this adapter proposed {k}; with a shared storage "
                             "trial i of the history must be the i-th point this adapter proposed")
        values = space.values(history.u[k:])
        for j in range(history.m - k):
            self.study.enqueue_trial({name: plain(values[name][j]) for name in space.names})
            self._ask(dists, space, k + j)

    def _sync(self, history):
        """Report the new curve points of this adapter's trials and tell the finished ones."""
        ts = require_optuna().trial.TrialState
        for i, t in enumerate(self._trials[:history.m]):
            if self._done[i]:
                continue
            curve = history.curves[i]
            for step, value in curve[self._seen[i]:]:
                if np.isfinite(value):
                    t.report(float(value), int(step))
            self._seen[i] = len(curve)
            state = int(history.state[i])
            if state == RUNNING:
                continue
            last = float(curve[-1][1]) if curve else float("nan")
            if state == COMPLETE and not np.isnan(last):
                self.study.tell(t, last)
            else:  # PRUNED: Optuna takes the last intermediate value; COMPLETE without a number: FAIL
                self.study.tell(t, state=ts.PRUNED if state == PRUNED else ts.FAIL)
            self._done[i] = True

    def _observe(self, space, history) -> dict:
        """Tell the study what ``history`` holds; the space's Optuna distributions."""
        dists = {k: optuna_distribution(d.kind, d.args) for k, d in zip(space.names, space.dists)}
        self._adopt(space, history, dists)
        self._sync(history)
        return dists

    def propose(self, n, space, history, seed):
        """``n`` points (n, d) of the unit cube: the params of ``n`` trials asked of the study, after telling it
        what ``history`` holds of this adapter's trials (a history with no trials starts a new search)."""
        if self.study is None or history.m == 0:
            self._start(history, seed)
        elif history.m < len(self._trials):
            raise ValueError(f"history: {history.m} trials, but this adapter already proposed {len(self._trials)} "
                             "for this search; a history only grows (a new search starts from an empty one)")
        dists = self._observe(space, history)
        asked = [self._ask(dists, space, history.m + j) for j in range(n)]
        if not asked:
            return np.zeros((0, space.d))
        params = {k: np.array([t.params[k] for t in asked], dtype=object) for k in space.names}
        return space.unit(params)

    def finish(self, space, history):
        """Tell the study the search's last results; trials still running when the search ends are told
        PRUNED (stopped by the search; Optuna records their last intermediate value)."""
        if self.study is None:
            return
        self._observe(space, history)
        ts = require_optuna().trial.TrialState
        for i, t in enumerate(self._trials):
            if not self._done[i]:
                self.study.tell(t, state=ts.PRUNED)
                self._done[i] = True

    def describe(self) -> dict:
        s = self._template
        storage = self.storage if isinstance(self.storage, str) or self.storage is None else \
            type(self.storage).__name__
        return {"sampler": "optuna", "optuna_sampler": "TPESampler (default)" if s is None else type(s).__name__,
                "storage": storage, "study_name": self.study_name}

    def __repr__(self):
        return (f"optuna_sampler({self._template!r}, storage={self.describe()['storage']!r}, "
                f"study_name={self.study_name!r})")
