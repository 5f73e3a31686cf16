"""Successive halving (Jamieson & Talwalkar, AISTATS 2016) and Hyperband (Li et al., JMLR 2018).

Rung k of a bracket trains its survivors to ``r0 * eta**k`` steps, continuing from their states, then keeps
the best ``floor(n / eta**(k+1))`` by ``metric`` (:func:`jaxnn.sweeps.ranking.rank`: diverged and invalid
last, ties to the lower trial).  Hyperband runs Li et al.'s brackets at once, sharing the lanes.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from jaxnn import validate
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.schedulers.common import check_budgets, finish, open_search
from jaxnn.sweeps.schedulers.proposals import attach, done, placeholder_design, prepare, sampler_args
from jaxnn.sweeps.schedulers.result import AdaptiveResult

__all__ = ["successive_halving", "hyperband", "hyperband_brackets", "rung_plan", "work_of", "segment_of", "Bracket",
           "run_brackets", "bracket_results"]


def rung_plan(n, r0, eta, max_steps):
    """[(trials in rung k, its steps)] of one successive-halving bracket: n_k = floor(n / eta^k)."""
    out, k = [], 0
    while True:
        steps = r0 * eta ** k
        if steps > max_steps or (k and n // eta ** k < 1):
            break
        out.append((max(1, n // eta ** k), steps))
        k += 1
    return out


class Bracket:
    """One successive-halving bracket over ``trials`` (rung budgets from :func:`rung_plan`), advanced by the
    driver's ``on_done``: when the last trial of a rung finishes, the rung is ranked and the survivors'
    next rung is returned as new work items."""

    def __init__(self, search, trials, r0, eta, max_steps, index=None):
        self.search, self.mode, self.metric, self.index = search, search.mode, search.metric, index
        self.plan = rung_plan(len(trials), r0, eta, max_steps)
        self.k, self.alive, self.rungs, self.final = 0, list(trials), [], []
        self.pending = set(self.alive)

    def items(self):
        return [(i, self.plan[self.k][1]) for i in self.alive]

    def done(self, i):
        tr, d = self.search.trials, self.search.driver
        self.pending.discard(i)
        if self.pending:
            return []
        vals = [tr.last(j, self.metric) for j in self.alive]
        rec = {"steps": self.plan[self.k][1], "trials": list(self.alive), "metric": vals}
        self.rungs.append(rec if self.index is None else {**rec, "bracket": self.index})
        if self.k + 1 == len(self.plan):  # the last rung: its trials keep their slots (best()'s state)
            self.final = list(self.alive)
            return []
        order = rank(vals, tr.status[self.alive], self.mode)
        keep = sorted(self.alive[j] for j in order[:self.plan[self.k + 1][0]])
        d.release(sorted(set(self.alive) - set(keep)))
        self.k, self.alive, self.pending = self.k + 1, keep, set(keep)
        return self.items()


def run_brackets(search, brackets):
    """Run the brackets concurrently through the lanes (their rungs share lanes); returns (rungs, final)."""
    owner = {i: b for b in brackets for i in b.alive}
    marks = sorted({s for b in brackets for _, s in b.plan})  # every budget: each trial evaluated at those it passes
    search.driver.drive([it for b in brackets for it in b.items()], on_done=lambda i: owner[i].done(i),
                        fuse=True, marks=marks)
    return bracket_results(brackets)


def bracket_results(brackets):
    """``(rungs, final)`` of finished brackets: every rung record in bracket then budget order, and the trials
    of their last rungs."""
    rungs = sorted((r for b in brackets for r in b.rungs), key=lambda r: (r.get("bracket", 0), r["steps"]))
    return rungs, [i for b in brackets for i in b.final]


def work_of(plan) -> list:
    """[(trials, steps each)] of a bracket's rungs: rung k trains n_k trials from the last budget to its own."""
    return [(n_k, s - (plan[k - 1][1] if k else 0)) for k, (n_k, s) in enumerate(plan)]


def segment_of(work) -> int:
    """The segment length: the gcd of the steps each rung adds (min_steps for budgets min_steps * eta**k)."""
    return math.gcd(*[d for _, d in work])


def successive_halving(trainable, space, *, key, data, metric: str, mode: Optional[str] = None, min_steps: int,
                       max_steps: int, eta: int = 3, lanes: Optional[int] = None, out_dir=None,
                       checkpoint_s: Optional[float] = None, progress=None, devices=None, sampler=None,
                       trials: Optional[int] = None, coordinator_address=None, num_processes=None,
                       process_id=None) -> AdaptiveResult:
    """Successive halving over every trial of ``space``: rung k trains the survivors to ``min_steps * eta**k``
    steps (continuing from their states), then keeps the best ``floor(n / eta**(k+1))`` by ``metric``.

    Args:
      trainable: a :class:`~jaxnn.sweeps.Trainable` (e.g. :func:`jaxnn.trainable`).
      space: a search space (``sweeps.random``, ``sobol``, ``grid``, ``table``); a static axis
        (``sweeps.static([...])``: a width, a depth) compiles once per structure, and the structures' trials
        are ranked together.
      key: PRNG key: trial i's key is ``fold_in(key, i)``; sampled spaces are drawn from it.
      data: the pytree the trainable's functions take (replicated on every device; finite values).
      metric: what ranks the trials (a name ``evaluate`` returns).
      mode: "max" or "min"; default: the direction the trainable declares for ``metric``
        (``Trainable.directions``), an error if it declares none.
      min_steps, max_steps, eta: the rung budgets ``min_steps * eta**k <= max_steps`` and the cut.
      lanes: trials advanced per compiled call (default: from the working set, as ``sweep``'s chunk size,
        narrowed to the width that pays the fewest lane-steps for the rungs, at least a block of
        ``sweeps.lanes.MIN_BLOCK`` lanes per CPU device; a multiple of the device count).  Results do not
        depend on it beyond rounding.
      out_dir: checkpoint there at segment boundaries (every ``checkpoint_s`` seconds, default 30, and at
        the end); the same call resumes (after ``kill -9`` too) to the same result.
      progress: a tqdm bar over the lane-steps (None: when stderr is a terminal).
      devices, coordinator_address, num_processes, process_id: as :func:`jaxnn.sweeps.sweep`.
      sampler, trials: with a sampler (:func:`jaxnn.sweeps.tpe`, :func:`~jaxnn.sweeps.optuna_sampler`, ...),
        ``space`` is a dict of distributions and the sampler proposes ``trials`` trials as lanes start them,
        each batch from every observation made so far (:mod:`jaxnn.sweeps.schedulers.proposals`).

    Returns:
      An :class:`AdaptiveResult` (``rungs``, ``best()``, ``meta["lane_utilization"]``, ...).
    """
    min_steps, max_steps = check_budgets(metric, mode, eta, min_steps, max_steps)
    design, ps, sampler = prepare(space, sampler, trials, key, (coordinator_address, num_processes, process_id),
                                  out_dir)
    n = design.n
    plan = rung_plan(n, min_steps, eta, max_steps)
    work = work_of(plan)
    args = dict(min_steps=min_steps, max_steps=max_steps, eta=eta, **sampler_args(sampler))
    search = open_search("successive_halving", args, trainable,
                         design, key, data, metric, segment=segment_of(work), slots=n, n_max=n, lanes=lanes,
                         out_dir=out_dir, checkpoint_s=checkpoint_s, work=work,
                         progress=progress, total=sum(n_k * d for n_k, d in work), devices=devices, mode=mode,
                         sampler=sampler)
    proposer = attach(search, ps, sampler, key, [st_ for _, st_ in plan], plan[-1][1])
    rungs, final = run_brackets(search, [Bracket(search, range(n), min_steps, eta, max_steps)])
    values, pmeta = done(proposer)
    return finish(search, rungs=rungs, final=final, extra={"eta": eta, **pmeta}, values=values)


def hyperband_brackets(min_steps: int, max_steps: int, eta: int) -> list:
    """Li et al.'s brackets: ``[(n_s, r_s), ...]`` for s = s_max .. 0, with R = max_steps / min_steps,
    s_max = floor(log_eta R), n_s = ceil((s_max + 1) eta^s / (s + 1)) trials starting at r_s = max_steps eta^-s
    steps (rounded down, at least min_steps)."""
    s_max = int(math.floor(math.log(max_steps / min_steps, eta) + 1e-9))
    return [(int(math.ceil((s_max + 1) * eta ** s / (s + 1))), max(min_steps, max_steps // eta ** s))
            for s in range(s_max, -1, -1)]


def _iterations(brackets, n, iterations, min_steps, max_steps, eta, sampled=False) -> int:
    """Hyperband's iterations: as given, else as many whole ones as the ``n`` trials hold (the space's design,
    or with a sampler (``sampled``) its ``trials``, which the error then names)."""
    need = sum(b[0] for b in brackets)
    iterations = validate.check_int("iterations", max(1, n // need) if iterations is None else iterations,
                                    minimum=1)
    if n < need * iterations:
        has = f"got trials={n}" if sampled else f"the space has {n}"
        raise ValueError(f"{'trials' if sampled else 'space'}: Hyperband with min_steps={min_steps}, "
                         f"max_steps={max_steps}, eta={eta} needs {need} trials per iteration "
                         f"({[b[0] for b in brackets]} per bracket), {need * iterations} for {iterations}; {has}")
    return iterations


def hyperband(trainable, space, *, key, data, metric: str, mode: Optional[str] = None, min_steps: int,
              max_steps: int, eta: int = 3, iterations: Optional[int] = None, lanes: Optional[int] = None,
              out_dir=None, checkpoint_s: Optional[float] = None, progress=None, devices=None, sampler=None,
              trials: Optional[int] = None, coordinator_address=None, num_processes=None,
              process_id=None) -> AdaptiveResult:
    """Hyperband (Li et al., JMLR 2018): successive halving in the brackets of :func:`hyperband_brackets`,
    from the most aggressive (many trials, ``min_steps``) to plain training (few trials, ``max_steps``).

    One iteration of the brackets needs ``sum(n_s)`` trials (49 for min_steps 9, max_steps 243, eta 3);
    ``iterations`` repeats them (the paper's outer loop) on the next trials of the space, by default as many
    whole iterations as the space holds (243 trials: 4 iterations, 196 trials; the rest unused).  Every
    bracket of every iteration is independent, so they all share the lanes at once.  The brackets take the
    space's trials in order; a space too small for the iterations is an error.  ``best()`` chooses among the
    trials that reached ``max_steps`` (every bracket's last rung).  Other arguments as
    :func:`successive_halving`; each rung record has its ``"bracket"`` (iteration * len(brackets) + s_max - s).
    With a ``sampler``, its ``trials`` are proposed as the lanes start them, in the brackets' order, each
    batch from every observation made so far (:func:`bohb` starts a bracket only when lanes are idle); as
    many whole iterations as ``trials`` hold, and only the trials they start are in the result (trials=12 for
    5 per iteration: two iterations, 10 trials; ``meta["n_trials_used"]``, and ``meta["trials_requested"]`` 12).
    """
    min_steps, max_steps = check_budgets(metric, mode, eta, min_steps, max_steps)
    brackets = hyperband_brackets(min_steps, max_steps, eta)
    design, ps, sampler = prepare(space, sampler, trials, key, (coordinator_address, num_processes, process_id),
                                  out_dir)
    iterations = _iterations(brackets, design.n, iterations, min_steps, max_steps, eta, ps is not None)
    used = sum(n for n, _ in brackets) * iterations
    if ps is not None and design.n > used:  # reserve only the trials the brackets start: no never-proposed ones
        design = placeholder_design(ps, used)
    work = [(n_k * iterations, d) for n_s, r_s in brackets
            for n_k, d in work_of(rung_plan(n_s, r_s, eta, max_steps))]
    args = dict(min_steps=min_steps, max_steps=max_steps, eta=eta, iterations=iterations, **sampler_args(sampler))
    search = open_search("hyperband", args, trainable, design, key, data, metric, segment=segment_of(work),
                         slots=used, n_max=used, lanes=lanes, out_dir=out_dir, work=work, checkpoint_s=checkpoint_s,
                         progress=progress, total=sum(n_k * d for n_k, d in work), devices=devices, mode=mode,
                         sampler=sampler)
    budgets = sorted({st_ for n_s, r_s in brackets for _, st_ in rung_plan(n_s, r_s, eta, max_steps)})
    proposer = attach(search, ps, sampler, key, budgets, max_steps)
    starts = np.cumsum([0] + [n_s for n_s, _ in brackets] * iterations)
    rungs, final = run_brackets(search, [Bracket(search, range(a, a + n_s), r_s, eta, max_steps, b)
                                     for b, ((n_s, r_s), a) in enumerate(zip(brackets * iterations, starts))])
    values, pmeta = done(proposer)
    return finish(search, rungs=rungs, final=final, values=values,
                  extra={"eta": eta, "brackets": [list(b) for b in brackets], "iterations": iterations,
                         "n_trials_used": used, **({} if trials is None else {"trials_requested": trials}), **pmeta})
