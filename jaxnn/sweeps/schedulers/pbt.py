"""Population-based training (Jaderberg et al., 2017): every ``interval`` steps the bottom ``quantile``
copy a top member's state (exploit) and perturb or resample its hyperparameters (explore)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import jax
import numpy as np

from jaxnn import validate
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.schedulers.common import check_budgets, finish, open_search
from jaxnn.sweeps.schedulers.proposals import attach, done, prepare, sampler_args
from jaxnn.sweeps.schedulers.result import AdaptiveResult
from jaxnn.sweeps.spaces import plain

__all__ = ["pbt"]


QUANTILE = validate.Rule(0.0, 0.5, low_open=True)  # the fraction of the population exploited / copied


def _checks(metric, mode, population, interval, steps, quantile, resample, perturb):
    """Checked ``(population, interval, steps, perturb)``, before any compute."""
    check_budgets(metric, mode)
    population = validate.check_int("population", population, minimum=2)
    interval = validate.check_int("interval", interval, minimum=1)
    steps = validate.check_int("steps", steps, minimum=1)
    if steps % interval:
        raise ValueError(f"interval: expected a divisor of steps={steps}, got {interval}")
    validate.check_rule("quantile", quantile, QUANTILE)
    validate.check_rule("resample", resample, "unit")
    if isinstance(perturb, (str, bytes)) or not isinstance(perturb, Sequence) or not perturb:
        raise ValueError(f"perturb: expected a non-empty sequence of factors > 0 such as (0.8, 1.2), got {perturb!r}")
    perturb = tuple(float(validate.check_rule("perturb", p, "positive")) for p in perturb)
    return population, interval, steps, perturb


def _explore_names(design, population, explore) -> list:
    """The explored names in the space's order (whatever order or container ``explore`` came in, so that the
    draws and the checkpoint's fingerprint do not depend on it); by default every one that is not a constant."""
    if design.n < population:
        raise ValueError(f"population: expected at most the space's {design.n} trials, got {population}")
    searched = [k for k, dist in design.dists.items() if dist.kind != "constant"]
    if explore is None:
        explore = searched
    explore = [explore] if isinstance(explore, str) else list(explore)
    if not explore or set(explore) - set(searched):
        raise ValueError(f"explore: expected names of the space's searched hyperparameters {sorted(searched)} (not "
                         f"its constants), got {explore}")
    return [k for k in searched if k in explore]


def _perturbed(dist, v, factor):
    """``v`` moved by ``factor``: multiplied (integers rounded), or for a choice the neighbouring value in the
    space's order, the next for a factor above 1 and the previous below (clipped at the ends)."""
    if dist.kind != "choice":
        return np.round(v * factor) if isinstance(v, (int, np.integer)) else v * factor
    vals = list(dist.values)
    i = vals.index(v) + (factor > 1) - (factor < 1)
    return vals[min(max(i, 0), len(vals) - 1)]


def _exploit_explore(tr, host, design, order, n_cut, rng, t, explore, perturb, resample) -> tuple:
    """Each of the bottom ``n_cut`` copies a top member (drawn) and explores; returns (parents, lineage).
    ``host``: ``{name: (population,) values}`` as the space gives them (``tr.hp``, the lanes', get them cast)."""
    top, bottom = order[:n_cut], order[-n_cut:]
    parents, lineage = {}, []
    for j in bottom:
        src = int(top[rng.integers(len(top))])
        parents[j] = src
        tr.status[j] = tr.status[src]
        for k in explore:  # the others keep the member's own values
            if rng.random() < resample:
                v = design.dists[k].ppf(rng.random(1))[0]
            else:
                v = _perturbed(design.dists[k], host[k][src], perturb[rng.integers(len(perturb))])
            host[k][j] = v
            tr.hp[k][j] = np.asarray(v, tr.hp[k].dtype)
        lineage.append({"step": t, "member": int(j), "parent": src, "hp": {k: plain(host[k][j]) for k in host}})
    return parents, lineage


def pbt(trainable, space, *, key, data, population: int, interval: int, steps: int, metric: str,
        mode: Optional[str] = None, quantile: float = 0.25, perturb=(0.8, 1.2), resample: float = 0.25,
        explore=None, lanes: Optional[int] = None, out_dir=None, checkpoint_s: Optional[float] = None, progress=None,
        devices=None, sampler=None, coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Population-based training (Jaderberg et al., 2017) of the first ``population`` trials of ``space``.

    Every ``interval`` steps the members are ranked by ``metric`` (``mode``, default: the trainable's declared
    direction); each of the bottom ``quantile`` copies the params and optimizer state of a member of the top
    ``quantile`` (exploit; drawn uniformly) and then explores: each traced hyperparameter is, with probability
    ``resample``, drawn again from the space's distribution, else multiplied by one of ``perturb`` (drawn
    uniformly; integers rounded; a choice moves to its neighbouring value in the space's order instead, the next
    for a factor above 1); ``explore`` names the hyperparameters explored (default: every one of the space but
    its constants; leave out those only ``init`` reads, such as ``scale``, which a copy carries along unchanged in
    effect); a hyperparameter not explored keeps the member's own value.  Diverged and invalid members rank
    last (and so are replaced).  The host's draws come from ``key`` and the interval index, so a rerun
    repeats them.  With a ``sampler``, ``space`` is a dict of distributions and the sampler proposes the
    initial population.  Other arguments as :func:`~jaxnn.sweeps.successive_halving`.

    Returns:
      An :class:`AdaptiveResult` with ``lineage`` (every copy) and ``schedules`` (each hyperparameter of
      every member over the intervals); ``rungs`` holds each interval's metrics; ``best()`` ranks the
      members at the end.
    """
    population, interval, steps, perturb = _checks(metric, mode, population, interval, steps, quantile, resample,
                                                   perturb)
    design, ps, sampler = prepare(space, sampler, None if sampler is None else population, key,
                                  (coordinator_address, num_processes, process_id), out_dir)
    if design.static:
        raise ValueError(f"space: static hyperparameters {list(design.static)} change the trainable's structure, and "
                         "population-based training copies a member's state into another's: run one pbt per "
                         "structure (successive_halving, hyperband, asha and run take static axes)")
    explore = _explore_names(design, population, explore)
    n_cut = max(1, int(math.floor(quantile * population)))
    args = dict(population=population, interval=interval, steps=steps, quantile=quantile, perturb=perturb,
                resample=resample, explore=explore, **sampler_args(sampler))
    search = open_search("pbt", args, trainable, design, key, data, metric, segment=interval, slots=2 * population,
                         n_max=population, lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s, progress=progress,
                         total=population * steps, devices=devices, mode=mode, sampler=sampler)
    tr, d = search.trials, search.driver
    members = list(range(population))
    proposer = attach(search, ps, sampler, key, range(interval, steps + 1, interval), steps)
    if proposer is not None:
        proposer(members)  # the initial population, before its schedules are recorded
    start = design.values if proposer is None else proposer.values()
    host = {k: np.array(start[k][:population]) for k in tr.hp}
    schedules = {k: [v.astype(np.float64)] for k, v in host.items()}
    lineage, rungs, parents = [], [], {i: None for i in members}  # None: continue in place (first interval)
    words = np.asarray(jax.random.key_data(key) if search.setup.impl is not None else key, np.uint32).reshape(-1)
    for t in range(interval, steps + 1, interval):
        d.drive([(i, t, parents[i]) for i in members])
        vals = [tr.last(i, metric) for i in members]
        rungs.append({"steps": t, "trials": list(members), "metric": vals})
        parents = {i: i for i in members}
        if t == steps:
            break
        rng = np.random.default_rng(np.random.SeedSequence([int(w) for w in words] + [0x706274, t]))
        moved, born = _exploit_explore(tr, host, design, rank(vals, tr.status[members], search.mode), n_cut, rng, t,
                                       explore, perturb, resample)
        parents.update(moved)
        lineage += born
        for k, v in host.items():
            schedules[k].append(v.astype(np.float64))
    values, pmeta = done(proposer)  # as proposed, before any exploit (the schedules hold the rest)
    return finish(search, rungs=rungs, final=members, lineage=lineage, values=values,
                  schedules={k: np.stack(v) for k, v in schedules.items()},
                  extra={"population": population, "interval": interval, "quantile": quantile, **pmeta})
