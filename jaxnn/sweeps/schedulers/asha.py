"""Asynchronous successive halving (ASHA; Li et al., "A system for massively parallel hyperparameter tuning",
MLSys 2020), with lanes in place of workers.

Rungs k = 0, 1, ... train to ``min_steps * eta**k`` steps (as :func:`successive_halving`).  Whenever lanes
are free at a segment boundary, each takes the next job of ASHA's ``get_job``: from the highest rung down,
a trial that stands in the top ``floor(n_k / eta)`` of the ``n_k`` trials finished at rung k (ranked by the
values they finished rung k with, as the paper's and Optuna's ``SuccessiveHalvingPruner``: a promoted trial's
later values do not move it there) and was not promoted yet continues (from its state) to rung k + 1; else a
new trial starts at rung 0, proposed by the sampler from every observation so far.  As the top of a rung moves
with its later trials, a rung can promote more than ``n_k / eta`` of them over a search.  No rung waits for
its last trial, so lanes never wait; a search ends when its ``trials`` have started and nothing more can be
promoted.
"""

from __future__ import annotations

from typing import Optional

from jaxnn.sweeps import status as st
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.schedulers.common import check_budgets, finish, open_search
from jaxnn.sweeps.schedulers.halving import rung_plan, segment_of, work_of
from jaxnn.sweeps.schedulers.proposals import attach, done, prepare, sampler_args, together, warn_blind
from jaxnn.sweeps.schedulers.result import AdaptiveResult

__all__ = ["asha"]


class _Asha:
    """ASHA's rungs on the host: which trials finished which rung (with the metric and status they finished it
    with: a promoted trial's later values do not move it within the rungs below), which were promoted."""

    def __init__(self, search, budgets, eta, n):
        self.search, self.budgets, self.eta, self.n = search, list(budgets), eta, n
        self.done = [[] for _ in budgets]          # trials that finished rung k, in order
        self.values = [[] for _ in budgets]        # their metric at rung k's end
        self.status = [[] for _ in budgets]        # and their status then
        self.promoted = [set() for _ in budgets]
        self.rung = {}                             # trial -> the rung it is training towards
        self.next_new = 0

    def finished(self, i):
        k, tr = self.rung[i], self.search.trials
        self.done[k].append(i)
        self.values[k].append(tr.last(i, self.search.metric))
        self.status[k].append(tr.status[i])
        return []

    def _promotable(self, k):
        """The trials of rung k's top floor(n_k / eta) not promoted yet, best first."""
        ids, top = self.done[k], len(self.done[k]) // self.eta
        if not top:
            return []
        order = rank(self.values[k], self.status[k], self.search.mode)[:top]
        return [ids[j] for j in order if self.status[k][j] == st.OK and ids[j] not in self.promoted[k]]

    def jobs(self, free):
        """Up to ``free`` work items: promotions first (highest rung first, the best of a rung first), then new
        trials."""
        out = []
        for k in range(len(self.budgets) - 2, -1, -1):
            for i in self._promotable(k)[:free - len(out)]:
                self.promoted[k].add(i)
                self.rung[i] = k + 1
                out.append((i, self.budgets[k + 1]))
        while len(out) < free and self.next_new < self.n:
            self.rung[self.next_new] = 0
            out.append((self.next_new, self.budgets[0]))
            self.next_new += 1
        return out

    def records(self):
        return [{"steps": b, "trials": list(ids), "metric": list(v)}
                for b, ids, v in zip(self.budgets, self.done, self.values) if ids]


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
        ASHA runs no waves: fewer lanes would only make more, shorter calls; with a sampler at most
        ``ceil(trials / eta)``, rounded up to the device count, so that it proposes most trials from results: as
        many lanes as trials would propose every trial at once, a random search, and warn).

    Other arguments as :func:`jaxnn.sweeps.successive_halving`.

    Returns:
      An :class:`AdaptiveResult`: ``rungs`` (each rung's finished trials in order, ``metric`` their values at the
      rung's budget), ``final`` (the trials that reached the top rung, else the highest rung reached),
      ``meta["propose_s"]``, ``meta["lane_utilization"]``.
    """
    min_steps, max_steps = check_budgets(metric, mode, eta, min_steps, max_steps)
    design, ps, sampler = prepare(space, check_sampler(sampler), trials, key,
                                  (coordinator_address, num_processes, process_id), out_dir)
    n = design.n
    plan = rung_plan(n, min_steps, eta, max_steps)
    budgets = [s for _, s in plan]
    work = work_of(plan)
    args = dict(trials=n, min_steps=min_steps, max_steps=max_steps, eta=eta, **sampler_args(sampler))
    if lanes is not None:
        warn_blind(n, lanes, sampler, "lanes")
    search = open_search("asha", args, trainable, design, key, data, metric, segment=segment_of(work), slots=n,
                         n_max=together(n, sampler, eta), lanes=lanes, out_dir=out_dir,  # no waves to fit
                         checkpoint_s=checkpoint_s, progress=progress, total=sum(n_k * d for n_k, d in work),
                         devices=devices, mode=mode, sampler=sampler)
    proposer = attach(search, ps, sampler, key, budgets, budgets[-1])
    sched = _Asha(search, budgets, eta, n)
    search.driver.drive([], on_done=sched.finished, on_idle=sched.jobs, fuse=True, marks=budgets)
    rungs = sched.records()
    final = rungs[-1]["trials"] if rungs else []
    values, pmeta = done(proposer)
    return finish(search, rungs=rungs, final=final, values=values,
                  extra={"eta": eta, "budgets": budgets, "n_promoted": [len(p) for p in sched.promoted], **pmeta})
