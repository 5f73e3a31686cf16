"""The divergence guard (one guarded loop) and the invalid-hyperparameter flag (internal, shared).

:func:`guarded_scan` is the one guarded loop of the package: it runs a step function for a number
of iterations and rejects a step whose loss or new params (or whatever else ``is_finite`` checks,
e.g. the gradient) are non-finite; the params are then kept at their last finite values, every later
step is rejected too, the first rejected step is recorded (``diverged_at``) and the per-step losses
are NaN from there on.  Its state (:class:`GuardState`) holds the step's carry, the last finite
params, the step counter and ``diverged_at``, so a run can be continued by a later call.
:func:`guarded_while` is its ``while`` form, for loops that stop on a test (L-BFGS's convergence and
evaluation budget); :func:`guarded` is the same guard for one step.  :func:`tree_all_finite`
and :func:`tree_where` are its check and select.

:func:`invalid_hyper` and :func:`mask_invalid` are the traced counterpart of the public entry
points' value checks: a flag computed once before a compiled loop and applied by one select after it.

Used by :mod:`jaxnn.train`, :mod:`jaxnn.lbfgs`, :mod:`jaxnn.autoencoder` and the estimators' core.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn import validate

__all__ = ["GuardState", "guard_init", "guarded", "guarded_scan", "guarded_while", "carry_is_finite",
           "tree_all_finite", "tree_where", "invalid_hyper", "mask_invalid"]


def tree_all_finite(tree) -> jax.Array:
    """Scalar bool: every leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.stack(leaves).all() if leaves else jnp.array(True)


def tree_where(ok, a, b):
    """Leafwise ``jnp.where(ok, a, b)`` over two pytrees of the same structure (the divergence guard's select)."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(ok, x, y), a, b)


class GuardState(NamedTuple):
    """State of a guarded loop, carried from step to step and from one call to the next.

    Attributes:
      carry: ``(params, rest)``, the step function's carry as the last step left it (``rest``: the
        optimizer state, a cached gradient, ...).  After a rejected step it is not used for results.
      kept: the params after the last accepted step (the initial ones if none): the last finite
        params, the run's result.
      t: int32 scalar, the number of steps taken so far over every call (the index of the next step).
      diverged_at: int32 scalar, the index ``t`` of the first rejected step, -1 if none.
    """

    carry: Any
    kept: Any
    t: jax.Array
    diverged_at: jax.Array


def guard_init(carry, *, finite=True, t=0) -> GuardState:
    """The guard state of a run that starts from ``carry = (params, rest)`` at step ``t``.

    ``finite=False`` (a traced bool is fine, e.g. the start's own check) records the run as diverged
    at step ``t`` before any step: every step is then rejected and the params returned as given.
    """
    t = jnp.asarray(t, jnp.int32)
    return GuardState(carry, carry[0], t, jnp.where(finite, -1, t).astype(jnp.int32))


def carry_is_finite(carry, loss) -> jax.Array:
    """The default check of a step: its loss and its new params (``carry[0]``) are finite."""
    return jnp.isfinite(loss) & tree_all_finite(carry[0])


def guarded(step: Callable, *, is_finite: Callable = carry_is_finite) -> Callable:
    """The guarded form of one step: ``(GuardState, x) -> (GuardState, loss)``.

    ``step((params, rest), x) -> ((params, rest), loss)`` (``loss`` a scalar) is accepted when no
    earlier step was rejected and ``is_finite(new_carry, loss)``: its params become ``kept``.
    Otherwise ``kept`` stays, ``diverged_at`` becomes ``t`` (if it was -1) and the loss returned
    is NaN.  The carry goes on as the step left it, and ``t`` advances, either way.
    """

    def guarded_step(state: GuardState, x):
        new_carry, loss = step(state.carry, x)
        running = state.diverged_at < 0
        ok = running & is_finite(new_carry, loss)
        diverged_at = jnp.where(running & ~ok, state.t, state.diverged_at)
        return (GuardState(new_carry, tree_where(ok, new_carry[0], state.kept), state.t + 1, diverged_at),
                jnp.where(ok, loss, jnp.array(jnp.nan, jnp.result_type(loss))))

    return guarded_step


def guarded_scan(step: Callable, state: GuardState, xs=None, *, length=None,
                 is_finite: Callable = carry_is_finite):
    """Run ``step`` under the divergence guard for every element of ``xs`` (or ``length`` times): one
    ``lax.scan`` of :func:`guarded`.

    Args:
      step: ``step((params, rest), x) -> ((new_params, new_rest), loss)``, pure, ``loss`` a scalar.
      state: a :class:`GuardState` (:func:`guard_init` for a new run, or the state a previous call
        returned, to continue that run: ``t`` and ``diverged_at`` carry on, so a run that diverged
        stays diverged and ``kept`` stays at the last finite params).
      xs: what ``lax.scan`` scans over (e.g. step indices ``state.t + jnp.arange(n)``), or None.
      length: the number of steps when ``xs`` is None (static).
      is_finite: ``is_finite(new_carry, loss) -> bool scalar``, the check of a step (default: the
        loss and the new params; pass a wider one to check, e.g., the gradient too).

    Returns:
      ``(state, losses)``: the final :class:`GuardState` (the result is ``state.kept``) and the (n,)
      per-step losses, NaN from the first rejected step on.

    The carry itself is never selected: once a step is rejected every later one is too, so what
    the carry holds then is never read, and only the params are copied into ``kept`` (a select on
    the params alone, off the path from one step to the next, which XLA:CPU compiles to a faster
    loop than a select on the whole carry: ``benchmarks/bench_train.py`` times jaxnn.train against
    the bare loop).

    Segments: since the guard's whole state is the returned :class:`GuardState`, ``k`` calls of
    ``n`` steps, each passing on the state the previous one returned (as a segmented trainable's
    ``advance(state, data, steps)`` would), compute what one call of ``k n`` steps computes; scan
    over ``state.t + jnp.arange(n)`` when the step needs the global step index (e.g. to draw an
    epoch's shuffle).
    """
    return lax.scan(guarded(step, is_finite=is_finite), state, xs, length=length)


def guarded_while(step: Callable, state: GuardState, running: Callable, *, is_finite: Callable = carry_is_finite,
                  after: Callable | None = None) -> GuardState:
    """The ``while`` form of :func:`guarded_scan`: steps under the same guard while ``running(state)``
    and no step was rejected (one ``lax.while_loop`` of :func:`guarded`), for loops that stop on a
    test (a convergence criterion, an evaluation budget) rather than after a fixed number of steps.

    Args:
      step: ``step((params, rest), None) -> ((new_params, new_rest), loss)``, pure, ``loss`` a scalar;
        ``rest`` carries whatever the stop test reads (counters, a converged flag, curves).
      state: a :class:`GuardState` (:func:`guard_init`, or a state a previous call returned: a run
        that diverged stays diverged and runs no step).
      running: ``running(state) -> bool scalar``, the stop predicate's negation, read before each step.
      is_finite: the check of a step, as in :func:`guarded_scan`.
      after: optional ``after(state, loss) -> state``, run after every step with the guard's verdict:
        ``state.diverged_at >= 0`` and ``loss`` NaN when the step was rejected (e.g. an epoch's
        curves, best values and stopping counters, which must not take a rejected step's values).

    Returns:
      the final :class:`GuardState`: ``kept`` the last finite params, ``t`` the steps taken over every
      call, ``diverged_at`` the first rejected step (-1 if none); the loop ends after that step.
    """
    body = guarded(step, is_finite=is_finite)

    def one(s):
        s, loss = body(s, None)
        return s if after is None else after(s, loss)

    return lax.while_loop(lambda s: (s.diverged_at < 0) & running(s), one, state)


def invalid_hyper(*, positive=(), nonnegative=(), unit=(), params=None) -> jax.Array:
    """Scalar bool (traceable): a value of ``positive`` is not > 0, of ``nonnegative`` not >= 0, of ``unit``
    not in (0, 1), any of them is non-finite, or ``params`` (when given) has a non-finite leaf.

    A thin use of the one rule table (:func:`jaxnn.validate.invalid_flag` with the rules ``"positive"``,
    ``"nonnegative"`` and ``"unit_open"``), the traced counterpart of the boundary's value checks
    (:func:`jaxnn.validate.check_rule`); compute it once, outside the loop, and apply it with
    :func:`mask_invalid`.
    """
    bad = validate.invalid_flag([(x, "positive") for x in positive] + [(x, "nonnegative") for x in nonnegative]
                                + [(x, "unit_open") for x in unit])
    return bad if params is None else bad | ~tree_all_finite(params)


def mask_invalid(invalid, params0, params, history: dict):
    """One select after the loop: when ``invalid`` the run is reported as no result.

    Returns ``(params, history)`` with, when ``invalid``, the initial ``params0`` unchanged, ``"loss"``
    all NaN and ``"diverged_at"`` -1 (so invalid and diverged stay distinct); ``history["invalid"]``
    is ``invalid`` (bool scalar) either way.
    """
    loss = history["loss"]
    history = dict(history, loss=jnp.where(invalid, jnp.array(jnp.nan, loss.dtype), loss),
                   diverged_at=jnp.where(invalid, -1, history["diverged_at"]).astype(jnp.int32),
                   invalid=jnp.asarray(invalid, bool))
    return tree_where(invalid, params0, params), history
