"""Tree helpers of the divergence guard and of the invalid-hyperparameter flag (internal, shared).

:func:`tree_all_finite` and :func:`tree_where` are the divergence guard's check and select (a step
whose loss, gradient or params are non-finite is rejected); :func:`invalid_hyper` and
:func:`mask_invalid` are the traced counterpart of the public entry points' value checks: a flag
computed once before a compiled loop and applied by one select after it.  Used by
:mod:`jaxnn.train`, :mod:`jaxnn.lbfgs`, :mod:`jaxnn.autoencoder` and the estimators' cores.
"""

from __future__ import annotations

from functools import reduce

import jax
import jax.numpy as jnp

__all__ = ["tree_all_finite", "tree_where", "invalid_hyper", "mask_invalid"]


def tree_all_finite(tree) -> jax.Array:
    """Scalar bool: every leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.stack(leaves).all() if leaves else jnp.array(True)


def tree_where(ok, a, b):
    """Leafwise ``jnp.where(ok, a, b)`` over two pytrees of the same structure (the divergence guard's select)."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(ok, x, y), a, b)


def invalid_hyper(*, positive=(), nonnegative=(), unit=(), params=None) -> jax.Array:
    """Scalar bool (traceable): a value of ``positive`` is not > 0, of ``nonnegative`` not >= 0, of ``unit``
    not in (0, 1), any of them is non-finite, or ``params`` (when given) has a non-finite leaf.

    The traced counterpart of the boundary's value checks (:func:`jaxnn.validate.check_scalar`);
    compute it once, outside the loop, and apply it with :func:`mask_invalid`.
    """
    bad = [jnp.array(False)]
    bad += [~((x > 0) & jnp.isfinite(x)) for x in positive]
    bad += [~((x >= 0) & jnp.isfinite(x)) for x in nonnegative]
    bad += [~((x > 0) & (x < 1)) for x in unit]  # NaN fails both comparisons
    if params is not None:
        bad.append(~tree_all_finite(params))
    return reduce(jnp.logical_or, bad)


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
