"""Models as parameters: a model's arrays (what a run carries) apart from the rest (its structure).

A :func:`jaxnn.sweeps.trainable_from` run carries only the arrays in its state (they are vmapped over lanes,
banked and checkpointed); the rest is rebuilt where the model is used.  Three kinds of model:

* any pytree of arrays (a dict of W and b, a tuple, ...): all of it is arrays, nothing is static;
* an Equinox module (``equinox.Module``): its array leaves are the arrays, the rest static
  (``eqx.partition(model, eqx.is_array)`` / ``eqx.combine``);
* a Flax NNX module (``flax.nnx.Module``): its state is the arrays, its graph definition static
  (``nnx.split`` / ``nnx.merge``).

Of the arrays, only the trained ones get gradients and optimizer updates (:func:`partition`): the inexact
(floating) arrays, and of an NNX module only those of its ``nnx.Param`` variables; the others (integer
buffers, an NNX module's ``nnx.BatchStat`` and other variables) are carried unchanged, as ``eqx.filter_grad``
would.  A model that holds typed PRNG keys (an NNX module's ``nnx.Rngs``, which ``nnx.Dropout`` keeps) is
refused, and so is an NNX module whose forward pass changes its own state (``nnx.BatchNorm`` in training mode):
a run's state holds arrays, and a change made inside ``loss`` would be lost.

The kind is read from the model's type (Equinox and Flax are looked up only if the program imported them:
a model of theirs means they are), never from a name.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Split", "split", "kind_of", "partition", "combine", "used"]


class Split(NamedTuple):
    """A model taken apart: ``params`` (a pytree of arrays) and ``merge(params) -> model``."""

    params: Any
    merge: Callable[[Any], Any]


def kind_of(model) -> str:
    """``"equinox"``, ``"nnx"`` or ``"pytree"``: how :func:`split` takes ``model`` apart."""
    eqx = sys.modules.get("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        return "equinox"
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return "nnx"
    return "pytree"


def split(model) -> Split:
    """``model``'s arrays and the function that puts them back into a model of the same structure; a model
    holding typed PRNG keys is a ValueError naming their paths."""
    kind = kind_of(model)
    if kind == "equinox":
        import equinox as eqx
        params, static = eqx.partition(model, eqx.is_array)
        out = Split(params, lambda p: eqx.combine(p, static))
    elif kind == "nnx":
        from flax import nnx
        graphdef, state = nnx.split(model)
        out = Split(state, lambda p: nnx.merge(graphdef, p))
    else:
        odd = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(model)[0]
               if not isinstance(x, (jax.Array, np.ndarray, np.generic, float, int, complex))]
        if odd:
            raise ValueError(f"init: a model that is neither an Equinox nor a Flax NNX module must be a pytree of "
                             f"arrays; it has other leaves at {odd[:5]} (a container of modules, such as Equinox's "
                             f"(model, state) pair of eqx.nn.make_with_state, is not supported: return one module)")
        out = Split(model, lambda p: p)
    keys = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_flatten_with_path(out.params)[0]
            if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    if keys:
        held = ("random state (nnx.Rngs, which nnx.Dropout and modules built with rngs= may keep) is not "
                "supported" if kind == "nnx" else "store jax.random.key_data(key) and wrap_key_data it where used")
        raise ValueError(f"init: the model holds typed PRNG keys at {keys}; a run's state holds arrays only "
                         f"(banked, checkpointed): {held}")
    return out


def _is_variable(x) -> bool:
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(x, nnx.Variable)


def _inexact(x) -> bool:
    try:
        return bool(jnp.issubdtype(jnp.result_type(x), jnp.inexact))
    except TypeError:
        return False


def _trained_leaves(params) -> list:
    """One bool per leaf of ``params`` (``tree_leaves`` order): an inexact array, and of an NNX state one
    held by an ``nnx.Param``."""
    out = []
    for node in jax.tree_util.tree_leaves(params, is_leaf=_is_variable):
        if _is_variable(node):
            from flax import nnx
            out += [isinstance(node, nnx.Param) and _inexact(x) for x in jax.tree_util.tree_leaves(node)]
        else:
            out.append(_inexact(node))
    return out


def partition(params) -> tuple:
    """``(trained, rest)``: ``params`` (a :class:`Split`'s) as what training changes (the inexact arrays; of an
    NNX state, its ``nnx.Param`` variables' inexact arrays) and the rest, each with None in the other's places."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keep = _trained_leaves(params)
    return (treedef.unflatten([x if k else None for x, k in zip(leaves, keep)]),
            treedef.unflatten([None if k else x for x, k in zip(leaves, keep)]))


def combine(trained, rest):
    """The params of :func:`partition`'s ``(trained, rest)``: each leaf from whichever is not None there."""
    a, treedef = jax.tree_util.tree_flatten(trained, is_leaf=lambda x: x is None)
    b = jax.tree_util.tree_leaves(rest, is_leaf=lambda x: x is None)
    return treedef.unflatten([y if x is None else x for x, y in zip(a, b)])


def used(fn: Callable, merge: Callable, params, argname: str):
    """``fn(merge(params))``; for an NNX module, a ValueError naming ``argname`` when ``fn`` sets a variable of
    the module (its forward pass updates state, as ``nnx.BatchNorm`` does in training mode): the change would be
    lost, since a run carries the state it started the step with."""
    model = merge(params)
    if kind_of(model) != "nnx":
        return fn(model)
    from flax import errors, nnx
    fix = ("a run does not carry state a forward pass changes; build it in inference mode (nnx.BatchNorm("
           "..., use_running_average=True)) or keep that state out of the module")
    before = jax.tree_util.tree_flatten_with_path(params)[0]  # merge shares params' variables: look first
    try:
        out = fn(model)
    except errors.TraceContextError as e:
        raise ValueError(f"{argname}: the NNX module's forward pass set one of its variables (Flax: "
                         f"{type(e).__name__}); {fix}") from None
    after = jax.tree_util.tree_leaves(nnx.state(model))
    changed = [jax.tree_util.keystr(p) for (p, x), y in zip(before, after) if x is not y]
    if changed or len(before) != len(after):
        raise ValueError(f"{argname}: the NNX module's forward pass set its variables at {changed}; {fix}")
    return out
