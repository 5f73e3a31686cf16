"""Activation functions f and their derivatives f', by name or as callables.

The explicit backprop of the lecture (section 5) needs f'(z); every activation here comes as an
``Activation(f, df)`` pair.  A user-supplied elementwise callable gets its derivative from
``jax.jvp`` (one forward-mode pass with a tangent of ones), so custom activations work in the
explicit backprop too.

``softmax`` is an *output* activation only (it is not elementwise); its ``df`` is ``None`` and the
code that needs the Jacobian uses a vector-Jacobian product instead.  ``jax.nn.sigmoid`` and
``jax.nn.softmax`` passed as callables are these two (found by identity, not by name): the cross-entropy
loss holds for them only.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "OUTPUT_ONLY",
    "get_activation",
    "sigmoid",
    "tanh",
    "relu",
    "identity",
]


class Activation(NamedTuple):
    """An activation f and its derivative f'(z) (both elementwise), plus its name.

    Attributes:
      name: registry name, or ``repr`` of a user callable.
      f: ``z -> a``, any shape.
      df: ``z -> f'(z)``, same shape as ``z``; ``None`` for non-elementwise activations (softmax).
    """

    name: str
    f: Callable[[jax.Array], jax.Array]
    df: Optional[Callable[[jax.Array], jax.Array]]


def _dsigmoid(z):
    s = jax.nn.sigmoid(z)
    return s * (1 - s)  # f'(z) = f(z) (1 - f(z))


def _dtanh(z):
    t = jnp.tanh(z)
    return 1 - t * t  # f'(z) = 1 - f(z)^2


sigmoid = Activation("sigmoid", jax.nn.sigmoid, _dsigmoid)
tanh = Activation("tanh", jnp.tanh, _dtanh)
relu = Activation("relu", jax.nn.relu, lambda z: (z > 0).astype(z.dtype))
identity = Activation("identity", lambda z: z, jnp.ones_like)
softmax = Activation("softmax", lambda z: jax.nn.softmax(z, axis=-1), None)

ACTIVATIONS = {a.name: a for a in (sigmoid, tanh, relu, identity, softmax)}
#: Activations that only make sense on the output layer.
OUTPUT_ONLY = ("softmax",)

ActivationLike = Union[str, Callable[[jax.Array], jax.Array], Activation]

# jax.nn's functions that are the registry's: jax.nn.sigmoid (then its closed-form f'), and jax.nn.softmax,
# which normalizes a row of the row layout, the output units: as a plain callable it was applied to the column
# layout's last axis, over the samples, with an elementwise f' from jvp (both wrong).
_JAX_NN = ((jax.nn.sigmoid, sigmoid), (jax.nn.softmax, softmax))
# jax.nn's functions over an axis that have no counterpart here: the same mistake, refused.
_OVER_AN_AXIS = tuple(f for f in (getattr(jax.nn, n, None) for n in ("log_softmax", "standardize")) if f is not None)


def _from_callable(fn: Callable) -> Activation:
    def df(z):
        # Elementwise f: the Jacobian is diagonal, so J @ ones is f'(z).
        return jax.jvp(fn, (z,), (jnp.ones_like(z),))[1]

    return Activation(getattr(fn, "__name__", repr(fn)), fn, df)


def get_activation(act: ActivationLike, *, argname: str = "activation", output: bool = False) -> Activation:
    """Resolve a name, callable or :class:`Activation` to an :class:`Activation`.

    Args:
      act: one of ``ACTIVATIONS`` (``"softmax"`` only when ``output=True``), an elementwise callable
        ``z -> f(z)`` (``jax.nn.sigmoid`` and ``jax.nn.softmax`` are ``"sigmoid"`` and ``"softmax"``), or an
        ``Activation``.
      argname: argument name used in error messages.
      output: whether this is the output layer (allows ``"softmax"``).

    Raises:
      ValueError: unknown name, listing the valid ones; ``"softmax"`` (or ``jax.nn.softmax``) when not
        ``output``; a jax.nn function over an axis (``jax.nn.log_softmax``).
    """
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        valid = [n for n in ACTIVATIONS if output or n not in OUTPUT_ONLY]
        if act not in valid:
            raise ValueError(f"{argname}: unknown activation {act!r}; expected one of {valid} or a callable")
        return ACTIVATIONS[act]
    if callable(act):
        for fn, known in _JAX_NN:
            if act is not fn:
                continue
            if known.name in OUTPUT_ONLY and not output:
                raise ValueError(f"{argname}: jax.nn.{known.name} is an output activation only (over the output "
                                 "units, not elementwise); expected an elementwise function here")
            return known
        if any(act is fn for fn in _OVER_AN_AXIS):
            raise ValueError(f"{argname}: jax.nn.{act.__name__} works over an axis of its input, not elementwise; "
                             "expected an elementwise callable (or 'softmax' / jax.nn.softmax as output_activation)")
        return _from_callable(act)
    raise ValueError(f"{argname}: expected an activation name {list(ACTIVATIONS)} or a callable, got {act!r}")
