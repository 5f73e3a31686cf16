"""BOHB (Falkner, Klein & Hutter, "BOHB: robust and efficient hyperparameter optimization at scale", ICML 2018):
Hyperband's brackets whose new trials come from a TPE model, in compiled lanes.

The brackets of :func:`jaxnn.sweeps.hyperband_brackets` run in order, iteration after iteration; a bracket
starts when lanes are free and no started bracket has work queued, so each bracket's trials are proposed
(by :func:`jaxnn.sweeps.tpe`, fitted on the largest budget with enough observations, a fraction of them at
random) from everything the earlier brackets observed.  Survivors continue from their states, never
restart; each rung is ranked by :func:`jaxnn.sweeps.ranking.rank` as in :func:`jaxnn.sweeps.hyperband`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jaxnn import validate
from jaxnn.sweeps.samplers.tpe import tpe
from jaxnn.sweeps.schedulers.common import check_budgets, finish, open_search
from jaxnn.sweeps.schedulers.halving import Bracket, bracket_results, hyperband_brackets, rung_plan, segment_of, work_of
from jaxnn.sweeps.schedulers.proposals import attach, done, prepare, sampler_args
from jaxnn.sweeps.schedulers.result import AdaptiveResult

__all__ = ["bohb", "BOHB_RANDOM_FRACTION"]

BOHB_RANDOM_FRACTION = 1 / 3  # the paper's rho: this fraction of the proposals is drawn at random


class _Sequence:
    """The brackets in order: ``start()`` opens the next one (its trials proposed as the lanes start them)."""

    def __init__(self, search, plan, eta, max_steps):
        self.search, self.plan, self.eta, self.max_steps = search, plan, eta, max_steps
        self.starts = np.cumsum([0] + [n_s for n_s, _ in plan])
        self.opened, self.owner = [], {}

    def start(self, free=None):
        b = len(self.opened)
        if b == len(self.plan):
            return []
        n_s, r_s = self.plan[b]
        a = int(self.starts[b])
        br = Bracket(self.search, range(a, a + n_s), r_s, self.eta, self.max_steps, b)
        self.opened.append(br)
        self.owner.update({i: br for i in br.alive})
        return br.items()

    def done(self, i):
        return self.owner[i].done(i)


def bohb(trainable, space, *, key, data, metric: str, mode: Optional[str] = None, min_steps: int, max_steps: int,
         eta: int = 3, iterations: int = 4, sampler=None, lanes: Optional[int] = None, out_dir=None,
         checkpoint_s: Optional[float] = None, progress=None, devices=None, coordinator_address=None,
         num_processes=None, process_id=None) -> AdaptiveResult:
    """BOHB over ``iterations`` rounds of Hyperband's brackets (see the module docstring).

    Args:
      trainable: a :class:`~jaxnn.sweeps.Trainable`.
      space: ``{name: distribution}`` (traced hyperparameters).
      iterations: rounds of the brackets (49 trials each for min_steps 9, max_steps 243, eta 3).
      sampler: default ``sweeps.tpe(n_startup_trials=0, random_fraction=1/3)``: the model of the largest
        budget with at least d + 1 observations, as in the paper, and a third of the proposals at random
        (the paper's rho); any sampler works.
      lanes: default: the largest bracket's trials (so that later brackets learn from earlier ones), rounded
        up to the device count; not narrowed to the working set or the rungs as Hyperband's are (a bracket
        starts as soon as lanes idle, so a narrower pool idles no fewer lanes and pays more calls; on a CPU
        the pool computes its lanes in blocks that stay in the cache, however wide).

    Other arguments as :func:`jaxnn.sweeps.hyperband`.

    Returns:
      An :class:`AdaptiveResult` (each rung record has its ``"bracket"``; ``meta["propose_s"]``).
    """
    min_steps, max_steps = check_budgets(metric, mode, eta, min_steps, max_steps)
    iterations = validate.check_int("iterations", iterations, minimum=1)
    brackets = hyperband_brackets(min_steps, max_steps, eta)
    n = sum(n_s for n_s, _ in brackets) * iterations
    sampler = tpe(n_startup_trials=0, random_fraction=BOHB_RANDOM_FRACTION) if sampler is None else sampler
    design, ps, sampler = prepare(space, sampler, n, key, (coordinator_address, num_processes, process_id), out_dir)
    work = [(n_k * iterations, d) for n_s, r_s in brackets
            for n_k, d in work_of(rung_plan(n_s, r_s, eta, max_steps))]
    args = dict(min_steps=min_steps, max_steps=max_steps, eta=eta, iterations=iterations, **sampler_args(sampler))
    lanes = brackets[0][0] if lanes is None else lanes
    search = open_search("bohb", args, trainable, design, key, data, metric, segment=segment_of(work), slots=n,
                         n_max=brackets[0][0], lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s,
                         progress=progress, total=sum(n_k * d for n_k, d in work), devices=devices, mode=mode,
                         sampler=sampler)
    budgets = sorted({s for n_s, r_s in brackets for _, s in rung_plan(n_s, r_s, eta, max_steps)})
    proposer = attach(search, ps, sampler, key, budgets, max_steps)
    seq = _Sequence(search, brackets * iterations, eta, max_steps)
    search.driver.drive(seq.start(), on_done=seq.done, on_idle=seq.start, fuse=True, marks=budgets)
    rungs, final = bracket_results(seq.opened)
    values, pmeta = done(proposer)
    return finish(search, rungs=rungs, final=final, values=values,
                  extra={"eta": eta, "brackets": [list(b) for b in brackets], "iterations": iterations, **pmeta})
