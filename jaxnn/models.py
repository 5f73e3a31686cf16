"""Models as parameters: a model's arrays (what training changes) apart from the rest (its structure).

A :func:`jaxnn.sweeps.trainable_from` run carries only the arrays in its state (they are vmapped over lanes,
banked and checkpointed); the rest is rebuilt where the model is used.  Three kinds of model:

* any pytree of arrays (a dict of W and b, a tuple, ...): all of it is parameters, nothing is static;
* an Equinox module (``equinox.Module``): its array leaves are the parameters, the rest static
  (``eqx.partition(model, eqx.is_array)`` / ``eqx.combine``);
* a Flax NNX module (``flax.nnx.Module``): its state is the parameters, its graph definition static
  (``nnx.split`` / ``nnx.merge``).

The kind is read from the model's type (Equinox and Flax are looked up only if the program imported them:
a model of theirs means they are), never from a name.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, NamedTuple

__all__ = ["Split", "split", "kind_of"]


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
    """``model``'s parameters and the function that puts them back into a model of the same structure."""
    kind = kind_of(model)
    if kind == "equinox":
        import equinox as eqx
        params, static = eqx.partition(model, eqx.is_array)
        return Split(params, lambda p: eqx.combine(p, static))
    if kind == "nnx":
        from flax import nnx
        graphdef, state = nnx.split(model)
        return Split(state, lambda p: nnx.merge(graphdef, p))
    return Split(model, lambda p: p)
