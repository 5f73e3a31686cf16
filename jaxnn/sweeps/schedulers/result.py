"""What an adaptive search returns: :class:`AdaptiveResult`, with ``best(metric=None, *, mode=None)``."""

from __future__ import annotations

import warnings
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.sweeps import status as st
from jaxnn.sweeps.directions import check_mode, resolve
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.spaces import plain

__all__ = ["AdaptiveResult"]


class AdaptiveResult(NamedTuple):
    """What an adaptive search returns.

    Attributes:
      trials: ``{name: (n,) values}``: every trial's hyperparameters as sampled (PBT: as at the start).
      keys: (n, ...) raw key data of every trial's key.
      status: (n,) int8 (:mod:`jaxnn.sweeps.status`) of every trial's last evaluation.
      curves: ``curves[i] = [(steps, {metric: value}), ...]``: trial i's every evaluation, in order.
      rungs: ``[{"steps", "trials", "metric"(, "bracket")}, ...]``: each rung's budget, the trials in it
        and their metric there, in order (successive halving, Hyperband); PBT: one per interval.
      lineage: PBT: ``[{"step", "member", "parent", "hp": {name: value}}, ...]`` (who copied whom, and the
        member's new hyperparameters); ``schedules``: ``{name: (intervals, population)}``, every member's
        values during each interval (the first row as sampled, then after each exploit).
      final: the trials ``best()`` chooses from when any of them is ok (the last rung's; every trial for ``run``;
        every member).
      metric, mode: what was ranked.  meta: lane steps, utilization, the segment widths compiled and used
        (``widths``), compile and run time, devices, ...
      state: the final state of ``best()``'s trial by ``metric`` (host arrays; e.g. ``state.params`` of
        :func:`jaxnn.trainable`), or None: ``run``, whose finished trials free their lanes, and any search with
        no ok trial in ``final`` (diverged and invalid trials free theirs, and the state of ``best()``'s fallback
        is not read): retrain ``best()``'s hyperparameters and key.
      directions: ``{metric: "max" | "min"}`` the trainable declared (``best`` of another metric reads them).
    """

    trials: dict
    keys: np.ndarray
    key_impl: object
    status: np.ndarray
    curves: list
    rungs: list
    lineage: list
    schedules: dict
    final: list
    metric: str
    mode: str
    meta: dict
    state: object = None
    directions: Optional[dict] = None

    def value(self, i: int, name: Optional[str] = None) -> float:
        """Trial i's last value of ``name`` (default: the ranked metric)."""
        c = self.curves[i]
        return c[-1][1][name or self.metric] if c else float("nan")

    def _direction(self, metric, mode):
        if metric == self.metric:
            return self.mode if mode is None else check_mode(mode)
        names = sorted({k for i in self.final for _, m in self.curves[i] for k in m})
        if metric not in names:
            raise ValueError(f"metric: expected a metric of this result {names}, got {metric!r}")
        return resolve(metric, mode, self.directions or {},
                       declare="Trainable(init, advance, evaluate, directions={...})")

    def best(self, metric: Optional[str] = None, *, mode: Optional[str] = None) -> dict:
        """The best ok trial at its last evaluation (ties: lower trial): a diverged or invalid trial is never
        returned while an ok one exists.

        It ranks ``final`` (diverged and invalid last) when any of them is ok; else (every top-rung trial
        diverged after its promotion, say) the ok trials that reached the most steps, the furthest results;
        else (no trial is ok) ``final`` again, with a RuntimeWarning: the trial returned is no result.

        Args:
          metric: the metric to rank by; None: the search's ``metric``.
          mode: "max" or "min"; None: the search's ``mode`` for its metric, else the trainable's declared
            direction (an error if it declares none).

        Returns:
          ``{"trial", "key", <hyperparameters>, <metric>, "steps"}`` (PBT: the hyperparameters at the end); a
          metric named like one of the other keys is ``"metric/<name>"`` there.
        """
        metric = self.metric if metric is None else metric
        mode = self._direction(metric, mode)
        pool = self._candidates()
        order = rank([self.value(i, metric) for i in pool], self.status[pool], mode)
        i = int(pool[order[0]])
        kd = jnp.asarray(self.keys[i])
        key = kd if self.key_impl is None else jax.random.wrap_key_data(kd, impl=self.key_impl)
        hp = {k: plain(self.trials[k].dtype.type(self.schedules[k][-1, i])) if k in self.schedules
              else plain(self.trials[k][i]) for k in self.trials}  # a schedule is float64: back to the trials' dtype
        name = f"metric/{metric}" if metric in hp or metric in ("trial", "key", "steps") else metric
        return {"trial": i, "key": key, **hp, name: self.value(i, metric), "steps": self.curves[i][-1][0]}

    def _candidates(self) -> np.ndarray:
        """The trials ``best()`` ranks: ``final`` if any is ok, else the ok started trials that reached the most
        steps, else ``final`` (warned: every trial diverged or was invalid)."""
        final, status = np.asarray(self.final, np.int64), np.asarray(self.status)
        ok = status == st.OK
        if ok[final].any():
            return final
        started = np.array([i for i in np.flatnonzero(ok) if self.curves[i]], np.int64)
        if started.size:
            steps = np.array([self.curves[i][-1][0] for i in started])
            return started[steps == steps.max()]
        warnings.warn(f"best: every trial diverged or was invalid ({int((status == st.DIVERGED).sum())} diverged, "
                      f"{int((status == st.INVALID).sum())} invalid): the trial returned is no result", RuntimeWarning,
                      stacklevel=3)
        return final

    def to_optuna(self, storage, study_name: str, *, metric: Optional[str] = None, mode: Optional[str] = None):
        """Every started trial written into an Optuna study (optional extra "optuna"): params, the curve of
        ``metric`` (default: the ranked one) as intermediate values, COMPLETE (ok, in ``final``: ``run``'s
        early-stopped trials at the step they stopped), PRUNED (ok, eliminated at a rung by successive halving,
        Hyperband, ASHA or BOHB) or FAIL (diverged, invalid).  See :func:`jaxnn.sweeps.export.to_optuna`;
        returns the study."""
        from jaxnn.sweeps.export import to_optuna

        return to_optuna(self, storage, study_name, metric=metric, mode=mode)

