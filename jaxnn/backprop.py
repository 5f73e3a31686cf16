"""The lecture's backpropagation (section 5), written out step by step.

For a batch of m samples, with f the hidden activation and f_out the output activation:

1. forward pass, keeping every z^(l) and a^(l);
2. output layer: delta^(n_l) = -(y - a^(n_l)) * f_out'(z^(n_l))  (squared error);
3. for l = n_l - 1 down to 2: delta^(l) = ((W^(l))^T delta^(l+1)) * f'(z^(l));
4. dJ/dW^(l) = delta^(l+1) (a^(l))^T, dJ/db^(l) = delta^(l+1), averaged over the batch,
   plus lam * W^(l) from the ridge penalty.

Written once, in the lecture's column layout (samples as columns: :func:`value_and_backprop_cols`),
which the compiled training step uses; the public :func:`backprop` takes X (m, s_1) and transposes at
the boundary.  This is an independent implementation of the gradient that
``jax.grad(jaxnn.objective)`` computes; the tests check that the two agree to 1e-9 (relative) in float64.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from jaxnn import activations, validate
from jaxnn.activations import ActivationLike, get_activation
from jaxnn.losses import check_loss, objective_of_cache
from jaxnn.mlp import forward_cache_cols, resolve_activations

__all__ = ["backprop", "output_delta"]


def output_delta(z_out, a_out, Y, out, loss: str, *, axis: int = -1, df=None) -> jax.Array:
    """delta^(n_l) (m, k): derivative of the per-sample loss with respect to z^(n_l).

    Squared error: ``(a - y) * f'(z)`` (for softmax, the Jacobian-vector product of softmax).
    Cross-entropy with its matching output: sigmoid ``a - y``; softmax ``a sum_k y_k - y``, which is
    ``a - y`` for targets that sum to 1 (one-hot), and the gradient for any others.
    ``axis`` is the output-unit axis (0 in the column layout); ``df`` optionally gives f'(z^(n_l))
    already computed.
    """
    if loss == "cross_entropy" and out.name == "softmax":  # the output per_sample_loss takes for softmax
        return a_out * jnp.sum(Y, axis=axis, keepdims=True) - Y
    if loss == "cross_entropy":
        return a_out - Y
    g = a_out - Y  # dJ/da^(n_l) = -(y - a^(n_l))
    if out.df is not None:
        return g * (out.df(z_out) if df is None else df)
    # softmax: J_s^T g = s * (g - <g, s>)
    return a_out * (g - jnp.sum(g * a_out, axis=axis, keepdims=True))


def _df_from_cache(f, z, a):
    """f'(z) for an elementwise f, from the cached a = f(z) where the lecture gives it in closed
    form (sigmoid: a (1 - a); tanh: 1 - a^2), saving one transcendental per unit; else ``f.df(z)``."""
    if f is activations.sigmoid:
        return a * (1 - a)
    if f is activations.tanh:
        return 1 - a * a
    return f.df(z) if f.df is not None else None


def layer_gradient(delta, a, W, lam) -> dict:
    """Step 4 in the column layout: ``{"W": delta a^T + lam W, "b": sum over columns of delta}`` for
    one layer, from delta^(l+1) (s_{l+1}, m) with the batch's 1/m already folded in, its input
    activations a^(l) (s_l, m) and its weights W^(l) (the ridge term; biases are not penalized)."""
    return {"W": delta @ a.T + lam * W, "b": jnp.sum(delta, axis=1)}


def value_and_backprop_cols(params, XT, YT, lam, activation, output_activation, loss, weights=None):
    """``(J, grads)`` from ONE forward pass, in the column layout: the one implementation of the
    explicit backprop (the compiled training step, and :func:`backprop` on ``X.T``).  No validation.

    The four steps of the module doc, with samples as columns (``XT`` (s_1, m), ``YT`` (s_{n_l}, m)),
    as in the lecture's ``z = W a + b``:

    1. forward pass with cache, z^(l), a^(l) each (s_l, m); J from the same pass;
    2. delta^(n_l) (s_{n_l}, m), with the 1/m of the average folded in once here;
    3. delta^(l) = (W^(l)^T delta^(l+1)) * f'(z^(l));
    4. dJ/dW^(l) = delta^(l+1) a^(l)^T + lam W^(l), dJ/db^(l) = sum over columns of delta^(l+1).

    Every product is ``W @ A``, ``W^T @ delta`` or ``delta @ A^T`` with the samples on the
    contiguous axis (see :mod:`jaxnn.mlp`).  ``weights``: optional (m,) weights of the average, as
    :func:`jaxnn.losses.objective_cols` (they replace the 1/m of step 2).
    """
    f, out = resolve_activations(activation, output_activation)
    m = XT.shape[1]
    # 1. forward pass with cache, and J from it
    cache = forward_cache_cols(params, XT, activation, output_activation)
    J = objective_of_cache(params, cache, YT, lam, out, loss, weights)
    # 2. output delta, already divided by m (or weighted)
    df_out = None if loss == "cross_entropy" else _df_from_cache(out, cache.z[-1], cache.a[-1])
    delta = output_delta(cache.z[-1], cache.a[-1], YT, out, loss, axis=0, df=df_out)
    delta = delta * (1.0 / m) if weights is None else delta * weights
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        # 4. dJ/dW^(l) = (1/m) delta^(l+1) a^(l)^T + lam W^(l);  dJ/db^(l) = (1/m) sum_i delta_i^(l+1)
        grads[l] = layer_gradient(delta, cache.a[l], params[l]["W"], lam)
        if l > 0:
            # 3. delta^(l) = (W^(l)^T delta^(l+1)) * f'(z^(l))
            delta = (params[l]["W"].T @ delta) * _df_from_cache(f, cache.z[l - 1], cache.a[l])
    return J, grads


def backprop(params, X, Y, lam=0.0, activation: ActivationLike = "sigmoid",
             output_activation: Optional[ActivationLike] = None, loss: str = "squared"):
    """Gradient of :func:`jaxnn.objective` by the lecture's delta algorithm.

    Args: as :func:`jaxnn.objective`.

    Returns:
      A params-shaped list of ``{"W": dJ/dW^(l), "b": dJ/db^(l)}``.

    References:
      Lecture section 5; UFLDL, "Backpropagation Algorithm".
    """
    X, Y = validate.check_data(params, X, Y)
    validate.check_rule("lam", lam)
    check_loss(loss, activation if output_activation is None else output_activation)
    if get_activation(activation).df is None:
        raise ValueError("activation: hidden activations must be elementwise")
    return value_and_backprop_cols(params, X.T, Y.T, lam, activation, output_activation, loss)[1]
