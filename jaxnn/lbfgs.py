"""Compiled minimization of a scalar objective of a params pytree: L-BFGS or any optax optimizer.

The whole run is one ``lax.scan`` over ``steps`` iterations; call :func:`minimize` inside ``jit``
(or use :func:`lbfgs`, which jits it).  L-BFGS is ``optax.lbfgs`` (two-loop recursion over the last
``memory_size`` curvature pairs, a zoom line search satisfying the strong Wolfe conditions), the
method UFLDL uses ("400 iterations of L-BFGS", minFunc) for the sparse autoencoder.

Divergence guard, as in :func:`jaxnn.train.train` (the same loop, :func:`jaxnn.guard.guarded_scan`; with
an optax ``optimizer`` it *is* ``train``'s full-batch loop, :func:`jaxnn.train.full_batch_descent`, whose
check includes the gradient): an iteration whose objective or params are non-finite is rejected; the
params stay at their last finite values for the rest of the run, ``history["diverged_at"]`` records that iteration and
``history["loss"]`` is NaN from there on.

Invalid inputs, as in :func:`jaxnn.train.train`: the caller computes a traced ``invalid`` flag (bad
hyperparameters of ``fun``, see :func:`jaxnn.guard.invalid_hyper`) and passes it to :func:`minimize`,
which applies it once after the scan (:func:`jaxnn.guard.mask_invalid`): loss all NaN, params
unchanged, ``diverged_at`` -1 and ``history["invalid"]`` True.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxnn import validate
from jaxnn.guard import guard_init, guarded_scan, mask_invalid, tree_all_finite
from jaxnn.train import full_batch_descent

__all__ = ["minimize", "lbfgs", "lbfgs_iteration", "lbfgs_optimizer"]


def lbfgs_optimizer(memory_size: int = 10, max_linesearch_steps: int = 20) -> optax.GradientTransformationExtraArgs:
    """``optax.lbfgs`` with a strong-Wolfe zoom line search of at most ``max_linesearch_steps`` trials,
    each starting from the quasi-Newton step (step size 1, as in minFunc and SciPy)."""
    return optax.lbfgs(memory_size=memory_size, linesearch=optax.scale_by_zoom_linesearch(
        max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"))


def lbfgs_iteration(fun: Callable, opt: optax.GradientTransformationExtraArgs) -> Callable:
    """One L-BFGS iteration of ``fun`` as a guarded step (:func:`jaxnn.guard.guarded`):
    ``((x, opt_state), _) -> ((x_new, opt_state_new), fun(x_new))``.

    ``fun``'s value and gradient at ``x`` come from ``opt_state`` (the previous line search left them
    there; :func:`optax.value_and_grad_from_state` evaluates ``fun`` only where the stored value is
    not finite, i.e. at the start), and ``fun(x_new)`` is the line search's last value: an iteration
    evaluates ``fun`` only inside its line search (``num_linesearch_steps`` times).  The one
    iteration of :func:`minimize`'s scan and of the estimators' L-BFGS loop."""
    vg = optax.value_and_grad_from_state(fun)

    def iteration(carry, _):
        x, state = carry
        value, grad = vg(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        return (optax.apply_updates(x, updates), state), optax.tree_utils.tree_get(state, "value")

    return iteration


def minimize(fun: Callable, params, *, steps: int, optimizer: Optional[optax.GradientTransformation] = None,
             memory_size: int = 10, invalid=None):
    """Minimize ``fun(params)`` for ``steps`` iterations in one ``lax.scan``; call inside ``jit``.

    Args:
      fun: scalar objective of a params pytree (may close over traced data and hyperparameters).
      params: initial pytree.
      steps: number of iterations (static).
      optimizer: ``None`` for L-BFGS (:func:`lbfgs_optimizer`), or any optax
        GradientTransformation (e.g. ``optax.sgd(lr)``: the lecture's gradient descent), which is
        applied to ``jax.grad(fun)``.
      memory_size: L-BFGS's number of curvature pairs (static; ignored with ``optimizer``).
      invalid: optional traced bool scalar (e.g. from :func:`jaxnn.guard.invalid_hyper`): the inputs
        are invalid, report no result.  ``None`` means False.

    Returns:
      ``(params, history)`` with ``history = {"loss": (steps,) fun after each iteration (NaN after a
      divergence; all NaN if invalid), "diverged_at": int32, first non-finite iteration or -1 (-1 if
      invalid), "invalid": bool scalar, ``invalid``}``; the params are the initial ones if invalid.
    """
    if optimizer is not None:  # train's own full-batch loop, on this objective
        d = full_batch_descent(jax.value_and_grad(fun), optimizer)
        state, losses = guarded_scan(d.step, d.start(params), length=steps, is_finite=d.is_finite)
        new_params, history = state.kept, {"loss": losses, "diverged_at": state.diverged_at}
    else:
        # L-BFGS runs on one flat vector: its two-loop recursion and line search are many small vector
        # operations, one kernel per leaf each on a pytree, a single kernel each on the raveled params.
        flat, unravel = ravel_pytree(params)
        flat, history = _scan(lambda v: fun(unravel(v)), flat, steps, lbfgs_optimizer(memory_size))
        new_params = unravel(flat)
    return mask_invalid(False if invalid is None else invalid, params, new_params, history)


def _scan(fun, params, steps, opt):
    """L-BFGS for ``steps`` iterations under the guard (J(new_p) comes from the line search)."""
    iteration = lbfgs_iteration(fun, opt)
    J0 = fun(params)
    dtype = jnp.result_type(J0)

    def step(carry, _):
        (new_p, new_state), J_new = iteration(carry, None)
        return (new_p, new_state), J_new.astype(dtype)

    # The guard's default check: the objective and the params
    state = guard_init((params, opt.init(params)), finite=jnp.isfinite(J0) & tree_all_finite(params))
    state, losses = guarded_scan(step, state, length=steps)
    return state.kept, {"loss": losses, "diverged_at": state.diverged_at}


@partial(jax.jit, static_argnames=("fun", "steps", "memory_size"))
def _lbfgs(fun, params, *, steps, memory_size):
    return minimize(fun, params, steps=steps, memory_size=memory_size)


def lbfgs(fun: Callable, params, *, steps: int = 400, memory_size: int = 10):
    """Minimize ``fun(params)`` with ``steps`` compiled L-BFGS iterations (UFLDL: 400).

    Args:
      fun: a hashable scalar function of the params pytree (a module-level function or a
        ``functools.partial``; a new closure on every call recompiles).
      params: initial pytree of float arrays.
      steps: iterations (static).
      memory_size: number of curvature pairs kept (static; minFunc's default is 100, optax's 10).

    Returns:
      ``(params, history)``, see :func:`minimize`.
    """
    steps = validate.check_int("steps", steps, minimum=1)
    memory_size = validate.check_int("memory_size", memory_size, minimum=1)
    return _lbfgs(fun, params, steps=steps, memory_size=memory_size)
