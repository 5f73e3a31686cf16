"""The objective J(W, b) of the lecture (section 2), built from named parts.

``objective = data_term + lam/2 * ridge(params)``, where the data term averages a per-sample loss
over the m samples and ``ridge`` sums the squared *weights* of every layer (biases are not
penalized).

Per-sample losses (``loss=``):

* ``"squared"``: 1/2 ||h(x) - y||^2, the lecture's loss, for regression and classification.
* ``"cross_entropy"``: with a ``"softmax"`` output, -sum_k y_k log h_k(x) (multinomial); with a
  ``"sigmoid"`` output, -sum_k [y_k log h_k + (1 - y_k) log(1 - h_k)] (independent binary).
  Both are computed from the output pre-activation z for numerical stability.

Each quantity is written once, in the lecture's column layout (``*_cols``: samples as columns, as
:func:`jaxnn.mlp.forward_cache_cols`); the public functions take X (m, s_1) and transpose at the boundary.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from jaxnn import activations, validate
from jaxnn.activations import ActivationLike, get_activation
from jaxnn.mlp import forward_cache_cols, resolve_activations

__all__ = ["LOSSES", "ridge", "data_term", "objective", "check_loss"]

LOSSES = ("squared", "cross_entropy")


def check_loss(loss: str, output_activation) -> None:
    """Raise a ValueError for an unknown loss or a cross-entropy without a sigmoid/softmax output.

    The output is jaxnn's sigmoid or softmax by identity, not by name (``"sigmoid"``, ``jax.nn.sigmoid`` or
    :data:`jaxnn.activations.sigmoid`): the loss is computed from z as the logistic's or the softmax's, and
    the backprop's delta^(n_l) = a - y holds for these only, not for a callable of another function named so.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss: unknown loss {loss!r}; expected one of {list(LOSSES)}")
    if loss == "cross_entropy":
        out = get_activation(output_activation, argname="output_activation", output=True)
        if out not in (activations.sigmoid, activations.softmax):  # the same functions (a copy too), never a name
            got = (repr(output_activation) if isinstance(output_activation, str) else
                   f"{out.name!r}, a function of its own (the outputs are matched by identity, not by name)")
            raise ValueError("output_activation: loss='cross_entropy' needs output_activation 'sigmoid' or 'softmax' "
                             f"(or jax.nn.sigmoid, jax.nn.softmax), got {got}")


def ridge(params) -> jax.Array:
    """sum_l sum_ij (W_ij^(l))^2: the squared Frobenius norms of the weights; biases excluded."""
    return sum(jnp.sum(layer["W"] ** 2) for layer in params)


def per_sample_loss(z_out: jax.Array, a_out: jax.Array, Y: jax.Array, loss: str, out_name: str,
                    *, axis: int = -1) -> jax.Array:
    """(m,) per-sample loss from the output pre-activation ``z_out`` and activation ``a_out`` (m, k).

    ``axis`` is the output-unit axis: -1 for rows (m, k), 0 for the column layout (k, m)."""
    if loss == "squared":
        return 0.5 * jnp.sum((a_out - Y) ** 2, axis=axis)  # 1/2 ||h(x) - y||^2
    if out_name == "softmax":
        return -jnp.sum(Y * jax.nn.log_softmax(z_out, axis=axis), axis=axis)
    # sigmoid: -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z
    return jnp.sum(jax.nn.softplus(z_out) - Y * z_out, axis=axis)


def _data_term_of_cache(cache, YT, out, loss: str, weights=None) -> jax.Array:
    """(1/m) sum_i loss(h(x_i), y_i) from a column-layout cache: outputs and targets ``YT`` are (k, m).
    With ``weights`` (m,): sum_i w_i loss(h(x_i), y_i) instead (padding: w_i = 1/m_real or 0)."""
    per_sample = per_sample_loss(cache.z[-1], cache.a[-1], YT, loss, out.name, axis=0)
    if weights is None:
        return jnp.sum(per_sample) / YT.shape[1]
    return jnp.sum(weights * per_sample)


def objective_of_cache(params, cache, YT, lam, out, loss: str, weights=None) -> jax.Array:
    """J = data term + lam/2 ridge from a column-layout cache (:func:`jaxnn.mlp.forward_cache_cols`)
    and targets ``YT`` (s_{n_l}, m); ``out`` is the output Activation; ``weights`` as
    :func:`objective_cols`.  Shared with the explicit backprop, which gets J from the forward pass it
    needs anyway."""
    return _data_term_of_cache(cache, YT, out, loss, weights) + 0.5 * lam * ridge(params)


def objective_cols(params, XT, YT, lam, activation, output_activation, loss, weights=None) -> jax.Array:
    """J(W, b) of :func:`objective` for column-layout data ``XT`` (s_1, m), ``YT`` (s_{n_l}, m): the one
    implementation, called by the public row-layout functions and the compiled loops.  No validation.

    ``weights``: optional (m,) weights of the average (default 1/m each): the data-parallel loop
    pads its batch with samples of weight 0 and gives the real ones 1/m_real."""
    _, out = resolve_activations(activation, output_activation)
    cache = forward_cache_cols(params, XT, activation, output_activation)
    return objective_of_cache(params, cache, YT, lam, out, loss, weights)


def data_term(params, X, Y, activation: ActivationLike = "sigmoid",
              output_activation: Optional[ActivationLike] = None, loss: str = "squared") -> jax.Array:
    """(1/m) sum_i loss(h(x_i), y_i) for X (m, s_1), Y (m, s_{n_l}).  No validation (internal building block)."""
    _, out = resolve_activations(activation, output_activation)
    return _data_term_of_cache(forward_cache_cols(params, X.T, activation, output_activation), Y.T, out, loss)


def objective(params, X, Y, lam=0.0, activation: ActivationLike = "sigmoid",
              output_activation: Optional[ActivationLike] = None, loss: str = "squared") -> jax.Array:
    """The lecture's J(W, b) = (1/m) sum_i J(W, b; x_i, y_i) + lam/2 sum_l ||W^(l)||_F^2.

    Biases are not penalized.

    Args:
      params: list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}``.
      X: (m, s_1) inputs.  Y: (m, s_{n_l}) targets (1-D accepted for a single output).
      lam: ridge strength lambda >= 0 (may be traced).
      activation, output_activation: see :func:`jaxnn.forward`.
      loss: ``"squared"`` (default, the lecture's) or ``"cross_entropy"``.

    Returns:
      Scalar J.
    """
    X, Y = validate.check_data(params, X, Y)
    validate.check_rule("lam", lam)
    check_loss(loss, activation if output_activation is None else output_activation)
    return objective_cols(params, X.T, Y.T, lam, activation, output_activation, loss)
