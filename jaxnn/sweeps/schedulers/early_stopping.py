"""Every trial to ``steps``, each stopping on its own: :func:`run` with lane refill, and :func:`patience`."""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from jaxnn import validate
from jaxnn.sweeps import status as st
from jaxnn.sweeps.directions import check_mode, resolve
from jaxnn.sweeps.driver import Trials
from jaxnn.sweeps.samplers.base import stable_repr
from jaxnn.sweeps.schedulers.common import check_budgets, check_trainable, declared, finish, open_search
from jaxnn.sweeps.schedulers.proposals import attach, done, prepare, sampler_args
from jaxnn.sweeps.schedulers.result import AdaptiveResult

__all__ = ["run", "patience", "Patience"]


class Patience(NamedTuple):
    """Early stopping: stop a trial once ``metric`` has not improved by more than ``min_delta`` for
    ``patience`` evaluations (segments) in a row.  See :func:`patience`.  ``mode`` None: the direction the
    trainable declares for ``metric`` (filled in by :func:`run`)."""

    metric: str
    patience: int
    mode: Optional[str]
    min_delta: float

    def __call__(self, trials: Trials, i: int) -> bool:
        if self.mode is None:
            raise ValueError(f"mode: patience({self.metric!r}, ...) has no direction; pass mode='max' or 'min'")
        vals = np.asarray([c[1][self.metric] for c in trials.curve[i]], np.float64)
        if len(vals) <= self.patience:
            return False
        sign = 1.0 if self.mode == "max" else -1.0
        best_before = np.max(sign * vals[:-self.patience])
        return not np.any(sign * vals[-self.patience:] > best_before + self.min_delta)


def patience(metric: str, patience: int, *, mode: Optional[str] = None, min_delta: float = 0.0) -> Patience:
    """Stop a trial when ``metric`` stopped improving for ``patience`` segments.

    ``mode``: "min" or "max"; None: the direction the searched trainable declares for ``metric``
    (``Trainable.directions``; :func:`run` refuses a rule whose direction nothing gives).
    """
    if not isinstance(metric, str):
        raise ValueError(f"metric: expected the name of a metric of evaluate, got {metric!r}")
    patience = validate.check_int("patience", patience, minimum=1)
    validate.check_scalar("min_delta", min_delta, nonnegative=True)
    return Patience(metric, patience, None if mode is None else check_mode(mode), float(min_delta))


def _rule(early_stopping, trainable, strict=True):
    """The rule with its direction: a :class:`Patience` without a mode gets the trainable's declared one
    (not ``strict``: left without one when there is none, for the metric check to speak first)."""
    if isinstance(early_stopping, Patience) and early_stopping.mode is None:
        m = early_stopping.metric
        if not strict and m not in declared(trainable):
            return early_stopping
        mode = resolve(m, None, declared(trainable),
                       declare=f"sweeps.patience({m!r}, ..., mode='min') or the trainable's directions")
        return early_stopping._replace(mode=mode)
    return early_stopping


def _checks(trainable, steps, segment, early_stopping, metric, mode):
    """Checked ``(steps, segment, metric)``, before any compute."""
    check_trainable(trainable)
    steps = validate.check_int("steps", steps, minimum=1)
    segment = validate.check_int("segment", segment, minimum=1)
    if steps % segment:
        raise ValueError(f"segment: expected a divisor of steps={steps}, got {segment}")
    if early_stopping is not None and not callable(early_stopping):
        raise ValueError(f"early_stopping: expected a rule such as sweeps.patience('val_loss', 5), got "
                         f"{early_stopping!r}")
    metric = metric or getattr(early_stopping, "metric", None)
    if metric is None:
        raise ValueError("metric: give the metric that ranks the trials (or an early_stopping rule with one)")
    check_budgets(metric, mode)
    return steps, segment, metric


def run(trainable, space, *, key, data, steps: int, segment: int, early_stopping: Optional[Callable] = None,
        metric: Optional[str] = None, mode: Optional[str] = None, lanes: Optional[int] = None, out_dir=None,
        checkpoint_s: Optional[float] = None, progress=None, devices=None, sampler=None, trials: Optional[int] = None,
        coordinator_address=None, num_processes=None, process_id=None) -> AdaptiveResult:
    """Train every trial for ``steps`` steps in segments of ``segment``; a trial stops on its own when
    ``early_stopping`` (e.g. :func:`patience`) says so, diverges or is invalid, and the next pending trial
    takes its lane at the next segment boundary (continuous batching).

    ``metric`` / ``mode`` rank ``best()`` (default: the early-stopping rule's metric; its mode, else the
    direction the trainable declares; a :func:`patience` rule on that metric without a mode takes ``mode``);
    the trials are compared at their last evaluation.  Other arguments
    as :func:`successive_halving`.  With a ``sampler``, ``space`` is a dict of distributions and the sampler
    proposes ``trials`` trials as lanes free up, each from every evaluation made so far (model-based search
    with early stopping).
    """
    steps, segment, metric = _checks(trainable, steps, segment, early_stopping, metric, mode)
    rule = _rule(early_stopping, trainable, strict=False)
    if metric == getattr(rule, "metric", None):  # one metric ranks and stops: one direction, given either place
        if mode is None:
            mode = getattr(rule, "mode", None)
        elif isinstance(rule, Patience) and rule.mode is None:
            rule = rule._replace(mode=mode)
    design, ps, sampler = prepare(space, sampler, trials, key, (coordinator_address, num_processes, process_id),
                                  out_dir)
    n = design.n
    args = dict(steps=steps, early_stopping=stable_repr(rule), **sampler_args(sampler))
    search = open_search("run", args, trainable, design, key, data, metric, segment=segment, slots=None, n_max=n,
                         lanes=lanes, out_dir=out_dir, checkpoint_s=checkpoint_s, progress=progress, total=n * steps,
                         devices=devices, mode=mode, rule_metric=getattr(rule, "metric", None), sampler=sampler)
    proposer = attach(search, ps, sampler, key, range(segment, steps + 1, segment), steps)
    search.driver.drive([(i, steps) for i in range(n)], rule=_rule(rule, trainable), release_done=True)
    stopped = [i for i in range(n) if search.trials.steps[i] < steps and search.trials.status[i] == st.OK]
    values, pmeta = done(proposer)
    return finish(search, rungs=[], final=range(n), values=values, extra={"n_stopped_early": len(stopped), **pmeta})
