"""Asynchronous successive halving (ASHA; Li et al., "A system for massively parallel hyperparameter tuning",
MLSys 2020), with lanes in place of workers.

Rungs k = 0, 1, ... train to ``min_steps * eta**k`` steps (as :func:`successive_halving`).  Whenever lanes
are free at a segment boundary, each takes the next job of ASHA's ``get_job``: from the highest rung down,
a trial that stands in the top ``floor(n_k / eta)`` of the ``n_k`` trials finished at rung k and was not
promoted yet continues (from its state) to rung k + 1; else a new trial starts at rung 0, proposed by the
sampler from every observation so far.  No rung waits for its last trial, so lanes never wait; a search
ends when its ``trials`` have started and nothing more can be promoted.
"""

from __future__ import annotations

from typing import Optional

from jaxnn.sweeps import status as st
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.schedulers.common import check_budgets, finish, open_search
from jaxnn.sweeps.schedulers.halving import rung_plan, segment_of, work_of
from jaxnn.sweeps.schedulers.proposals import attach, done, prepare, sampler_args
from jaxnn.sweeps.schedulers.result import AdaptiveResult

__all__ = ["asha"]


class _Asha:
    """ASHA's rungs on the host: which trials finished which rung, which were promoted."""

    def __init__(self, search, budgets, eta, n):
        self.search, self.budgets, self.eta, self.n = search, list(budgets), eta, n
        self.done = [[] for _ in budgets]          # trials that finished rung k, in order
        self.promoted = [set() for _ in budgets]
        self.rung = {}                             # trial -> the rung it is training towards
        self.next_new = 0

    def finished(self, i):
        k = self.rung[i]
        self.done[k].append(i)
        return []

    def _promotable(self, k):
        """The best trial of rung k in its top floor(n_k / eta), not promoted yet (None if none)."""
        tr, ids = self.search.trials, self.done[k]
        top = len(ids) // self.eta
        if not top:
            return None
        vals = [tr.last(i, self.search.metric) for i in ids]
        for j in rank(vals, tr.status[ids], self.search.mode)[:top]:
            i = ids[j]
            if i not in self.promoted[k] and tr.status[i] == st.OK:
                return i
        return None

    def jobs(self, free):
        """Up to ``free`` work items: promotions first (highest rung first), then new trials."""
        out = []
        while len(out) < free:
            i = next((i for k in range(len(self.budgets) - 2, -1, -1)
                      for i in [self._promotable(k)] if i is not None), None)
            if i is None:
                break
            k = self.rung[i]
            self.promoted[k].add(i)
            self.rung[i] = k + 1
            out.append((i, self.budgets[k + 1]))
        while len(out) < free and self.next_new < self.n:
            self.rung[self.next_new] = 0
            out.append((self.next_new, self.budgets[0]))
            self.next_new += 1
        return out

    def records(self):
        tr = self.search.trials
        return [{"steps": b, "trials": list(ids), "metric": [tr.last(i, self.search.metric) for i in ids]}
                for b, ids in zip(self.budgets, self.done) if ids]


def asha(trainable, space, *, trials: int, key, data, metric: str, mode: Optional[str] = None, min_steps: int,
         max_steps: int, eta: int = 3, sampler=None, lanes: Optional[int] = None, out_dir=None,
         checkpoint_s: Optional[float] = None, progress=None, devices=None, coordinator_address=None,
         num_processes=None, process_id=None) -> AdaptiveResult:
    """Asynchronous successive halving over ``trials`` trials proposed by ``sampler`` (see the module docstring).

    Args:
      trainable: a :class:`~jaxnn.sweeps.Trainable`.
      space: ``{name: distribution}`` (``sweeps.loguniform(...)``, ...; traced hyperparameters).
      trials: how many trials to start in all.
      sampler: where new trials come from: None (random), :func:`jaxnn.sweeps.tpe` (fitted on the largest
        rung with enough observations), :func:`~jaxnn.sweeps.optuna_sampler`, ...
      lanes: trials advanced per compiled call, ASHA's workers (default: from the working set, as
        :func:`jaxnn.sweeps.sweep`'s chunk size; not narrowed to the rungs as successive halving's, since
        ASHA runs no waves: fewer lanes would only make more, shorter calls).

    Other arguments as :func:`jaxnn.sweeps.successive_halving`.

    Returns:
      An :class:`AdaptiveResult`: ``rungs`` (each rung's finished trials in order), ``final`` (the trials that
      reached the top rung, else the highest rung reached), ``meta["propose_s"]``, ``meta["lane_utilization"]``.
    """
    min_steps, max_steps = check_budgets(metric, mode, eta, min_steps, max_steps)
    design, ps, sampler = prepare(space, check_sampler(sampler), trials, key,
                                  (coordinator_address, num_processes, process_id), out_dir)
    n = design.n
    plan = rung_plan(n, min_steps, eta, max_steps)
    budgets = [s for _, s in plan]
    work = work_of(plan)
    args = dict(trials=n, min_steps=min_steps, max_steps=max_steps, eta=eta, **sampler_args(sampler))
    search = open_search("asha", args, trainable, design, key, data, metric, segment=segment_of(work), slots=n,
                         n_max=n, lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s,  # no waves to fit
                         progress=progress, total=sum(n_k * d for n_k, d in work), devices=devices, mode=mode)
    proposer = attach(search, ps, sampler, key, budgets, budgets[-1])
    sched = _Asha(search, budgets, eta, n)
    search.driver.drive([], on_done=sched.finished, on_idle=sched.jobs, fuse=True)
    rungs = sched.records()
    final = rungs[-1]["trials"] if rungs else []
    values, pmeta = done(proposer)
    return finish(search, rungs=rungs, final=final, values=values,
                  extra={"eta": eta, "budgets": budgets, "n_promoted": [len(p) for p in sched.promoted], **pmeta})
