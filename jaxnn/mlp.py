"""Dense networks: parameters as pytrees, the forward pass (lecture sections 1 and 3).

Params are a list with one dict per layer l = 1..n_l-1::

    [{"W": (s_2, s_1), "b": (s_2,)}, {"W": (s_3, s_2), "b": (s_3,)}, ...]

Row i of ``W`` holds the weights *into* unit i of the next layer, as in the lecture.  The public
functions batch data row-wise: ``X`` is (m, s_1), one sample per row.

The forward pass itself is written once, in the lecture's column layout (:func:`forward_cache_cols`):
activations are (s_l, m), one sample per column, and ``z = W a + b`` is ``Z = W @ A + b[:, None]``.
The compiled loops (:func:`jaxnn.train`, the estimators) run in that layout; the public row-layout
functions transpose once at the boundary.  Why the loops use it: every matrix product of the forward
and backward passes is then a plain or a right-transposed product whose long dimension m is the
contiguous one (see ``benchmarks/bench_train.py``, which times both layouts).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jaxnn import validate
from jaxnn.activations import ActivationLike, get_activation

__all__ = ["init_mlp", "forward", "forward_cache", "Cache", "layer_sizes"]

Params = list  # list[dict[str, jax.Array]]


def init_mlp(key: jax.Array, sizes: Sequence[int], scale=0.01, *, dtype=None) -> Params:
    """Draw every W and b from N(0, scale^2) (lecture section 3).

    Args:
      key: a PRNG key (``jax.random.key`` or ``PRNGKey``, possibly traced); split once per layer and
        per W/b.
      sizes: static layer sizes ``[s_1, ..., s_{n_l}]`` (at least two).
      scale: standard deviation eps >= 0 of the init; a Python float or a (traced) scalar array, so a
        sweep can ``vmap`` over it.  ``scale=0`` gives all-zero parameters (which cannot break the
        symmetry between hidden units).  A concrete negative or non-finite scale raises; under tracing
        a negative (or non-finite) scale gives NaN parameters, which :func:`jaxnn.train` flags invalid.
      dtype: float dtype of the params; default: JAX's default float (float32, or float64 with
        ``jax_enable_x64``).

    Returns:
      A list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}`` dicts.
    """
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(f"sizes: expected a list of at least two layer sizes, got {sizes!r}")
    for i, s in enumerate(sizes):
        validate.check_int(f"sizes[{i}]", s, minimum=1)
    validate.check_rule("scale", scale)
    validate.check_key("key", key)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    scale = jnp.asarray(scale, dtype)
    if not validate.is_concrete(scale):  # the traced counterpart of the check above: NaN params
        scale = validate.nan_unless(validate.holds(scale, validate.HYPERPARAMETERS["scale"]), scale)
    params = []
    for l, (s_in, s_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = scale * jax.random.normal(keys[2 * l], (s_out, s_in), dtype)
        b = scale * jax.random.normal(keys[2 * l + 1], (s_out,), dtype)
        params.append({"W": W, "b": b})
    return params


def layer_sizes(params: Params) -> list[int]:
    """``[s_1, ..., s_{n_l}]`` of a params list."""
    return [params[0]["W"].shape[1]] + [layer["W"].shape[0] for layer in params]


class Cache(NamedTuple):
    """What the forward pass keeps for backprop (lecture section 5, step 1).

    Attributes:
      z: ``[z^(2), ..., z^(n_l)]``, each (m, s_l): pre-activations.
      a: ``[a^(1) = X, a^(2), ..., a^(n_l)]``, each (m, s_l): activations; ``a[-1]`` is h(X).

    (From :func:`forward_cache_cols`, the same lists in the column layout: each array (s_l, m).)
    """

    z: list
    a: list


def resolve_activations(activation: ActivationLike, output_activation: Optional[ActivationLike] = None):
    """``(f, f_out)``: the hidden and output :class:`~jaxnn.activations.Activation`; ``f_out`` defaults
    to ``f`` (as in the lecture)."""
    f = get_activation(activation)
    f_out = f if output_activation is None else get_activation(
        output_activation, argname="output_activation", output=True)
    return f, f_out


def _apply_cols(act, z: jax.Array) -> jax.Array:
    """f(z) for ``z`` in column layout (s, m).  Elementwise activations apply as they are; a
    row-wise one (softmax, ``df is None``) is applied to the samples as rows."""
    return act.f(z) if act.df is not None else act.f(z.T).T


def forward_cache_cols(params: Params, XT: jax.Array, activation: ActivationLike = "sigmoid",
                       output_activation: Optional[ActivationLike] = None) -> Cache:
    """The forward pass keeping every z^(l) and a^(l), in the lecture's column layout.  No validation
    (internal building block of :func:`forward_cache`, the objective, backprop and the training loops).

    Args:
      params: list of ``{"W", "b"}`` layers.
      XT: (s_1, m) inputs, one sample per *column* (``X.T``).
      activation: hidden-layer f (name or callable).
      output_activation: output-layer f; default ``activation`` (as in the lecture).

    Returns:
      A :class:`Cache` whose ``z[l]`` and ``a[l]`` are (s_l, m): the transposes of
      :func:`forward_cache`'s.
    """
    f, f_out = resolve_activations(activation, output_activation)
    a, zs, acts = XT, [], [XT]
    for l, layer in enumerate(params):
        z = layer["W"] @ a + layer["b"][:, None]  # z^(l+1) = W^(l) a^(l) + b^(l)
        a = _apply_cols(f_out if l == len(params) - 1 else f, z)  # a^(l+1) = f(z^(l+1))
        zs.append(z)
        acts.append(a)
    return Cache(zs, acts)


def forward_cache(params: Params, X: jax.Array, activation: ActivationLike = "sigmoid",
                  output_activation: Optional[ActivationLike] = None) -> Cache:
    """Forward pass keeping every z^(l) and a^(l).  No validation (internal building block).

    :func:`forward_cache_cols` on ``X.T``, its cache transposed back to rows.

    Args:
      params: list of ``{"W", "b"}`` layers.
      X: (m, s_1) inputs, one sample per row.
      activation: hidden-layer f (name or callable).
      output_activation: output-layer f; default ``activation`` (as in the lecture).

    Returns:
      A :class:`Cache` of (m, s_l) arrays; ``a[0]`` is ``X``.
    """
    cache = forward_cache_cols(params, X.T, activation, output_activation)
    return Cache([z.T for z in cache.z], [X] + [a.T for a in cache.a[1:]])


def forward(params: Params, X: jax.Array, activation: ActivationLike = "sigmoid",
            output_activation: Optional[ActivationLike] = None) -> jax.Array:
    """h_{W,b}(x) for every row of X.

    Args:
      params: list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}``.
      X: (m, s_1) inputs.
      activation: hidden f: ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"`` or a callable.
      output_activation: f of the last layer (also ``"softmax"``); default: same as hidden.

    Returns:
      (m, s_{n_l}) outputs a^(n_l).
    """
    X = validate.check_data(params, X, finite=False)
    return forward_cache_cols(params, X.T, activation, output_activation).a[-1].T
