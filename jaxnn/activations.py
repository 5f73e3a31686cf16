"""Activation functions f and their derivatives f', by name or as callables.

The explicit backprop of the lecture (section 5) needs f'(z); every activation here comes as an
``Activation(f, df)`` pair.  A user-supplied elementwise callable gets its derivative from
``jax.jvp`` (one forward-mode pass with a tangent of ones), so custom activations work in the
explicit backprop too.

``softmax`` is an *output* activation only (it is not elementwise); its ``df`` is ``None`` and the
code that needs the Jacobian uses a vector-Jacobian product instead.
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


def _from_callable(fn: Callable) -> Activation:
    def df(z):
        # Elementwise f: the Jacobian is diagonal, so J @ ones is f'(z).
        return jax.jvp(fn, (z,), (jnp.ones_like(z),))[1]

    return Activation(getattr(fn, "__name__", repr(fn)), fn, df)


def get_activation(act: ActivationLike, *, argname: str = "activation", output: bool = False) -> Activation:
    """Resolve a name, callable or :class:`Activation` to an :class:`Activation`.

    Args:
      act: one of ``ACTIVATIONS`` (``"softmax"`` only when ``output=True``), an elementwise callable
        ``z -> f(z)``, or an ``Activation``.
      argname: argument name used in error messages.
      output: whether this is the output layer (allows ``"softmax"``).

    Raises:
      ValueError: unknown name, listing the valid ones.
    """
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        valid = [n for n in ACTIVATIONS if output or n not in OUTPUT_ONLY]
        if act not in valid:
            raise ValueError(f"{argname}: unknown activation {act!r}; expected one of {valid} or a callable")
        return ACTIVATIONS[act]
    if callable(act):
        return _from_callable(act)
    raise ValueError(f"{argname}: expected an activation name {list(ACTIVATIONS)} or a callable, got {act!r}")
