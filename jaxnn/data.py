"""Label and target conventions of the lecture (section 2).

* Classification: class labels become one-hot targets in the range of the output activation,
  {0, 1} for sigmoid (and softmax), {-1, 1} for tanh; predictions decode back by argmax (or, for a
  single output unit, by thresholding at the middle of the range).
* Regression: each target column is scaled linearly into [0, 1] (sigmoid) or [-1, 1] (tanh), and
  predictions are mapped back into the original units with the same statistics.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate

__all__ = ["target_range", "encode_labels", "decode_labels", "TargetScaler", "fit_target_scaler",
           "scale_targets", "unscale_targets"]

_RANGES = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def target_range(activation: str) -> tuple[float, float]:
    """(low, high) reachable by an output activation: (0, 1) for sigmoid/softmax, (-1, 1) for tanh."""
    if activation not in _RANGES:
        raise ValueError(f"activation: expected one of {list(_RANGES)}, got {activation!r}")
    return _RANGES[activation]


def encode_labels(labels, n_classes: int, activation: str = "sigmoid", *, dtype=None, argname: str = "labels",
                  why: str = "") -> jax.Array:
    """Integer labels (m,) in [0, n_classes) -> one-hot targets (m, n_classes) with values {low, high}.

    {0, 1} for sigmoid/softmax outputs, {-1, 1} for tanh outputs.  ``argname``: the labels' name in error
    messages (the caller's argument); ``why``: where n_classes comes from, said with an out-of-range label
    (``"the params have 3 classes"``).
    """
    n_classes = validate.check_int("n_classes", n_classes, minimum=2)
    lo, hi = target_range(activation)
    labels = validate.check_array(argname, labels, ndim=1)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"{argname}: expected integer class indices, got dtype {labels.dtype}")
    if validate.is_concrete(labels) and labels.size:
        lo_, hi_ = int(np.min(np.asarray(labels))), int(np.max(np.asarray(labels)))
        if lo_ < 0 or hi_ >= n_classes:
            raise ValueError(f"{argname}: expected values in [0, {n_classes}){f' ({why})' if why else ''}, "
                             f"got range [{lo_}, {hi_}]")
    onehot = jax.nn.one_hot(labels, n_classes, dtype=dtype or jnp.result_type(float))
    return lo + (hi - lo) * onehot


def decode_labels(H, activation: str = "sigmoid") -> jax.Array:
    """Predictions H (m, k) -> integer labels (m,): argmax over outputs, or for k == 1 the label
    ``H > (low + high) / 2``."""
    H = validate.check_array("H", H, ndim=2)
    if H.shape[1] == 1:
        lo, hi = target_range(activation)
        return (H[:, 0] > (lo + hi) / 2).astype(jnp.int32)
    return jnp.argmax(H, axis=1).astype(jnp.int32)


class TargetScaler(NamedTuple):
    """Per-column affine map of regression targets into an activation's range.

    ``y_scaled = low + (high - low) * (y - y_min) / (y_max - y_min)``.

    Attributes:
      y_min, y_max: (k,) column minima and maxima of the fitted targets.
      low, high: the range targets are scaled into.
    """

    y_min: jax.Array
    y_max: jax.Array
    low: float
    high: float


def fit_target_scaler(Y, activation: str = "sigmoid", *, margin: float = 0.0) -> TargetScaler:
    """Fit a :class:`TargetScaler` on targets Y (m,) or (m, k).

    Args:
      margin: shrink the range by this fraction at each end (e.g. 0.1 maps into [0.1, 0.9] for a
        sigmoid, which the output can reach with finite weights).
    """
    Y = validate.check_array("Y", Y, floating=True)
    if Y.ndim not in (1, 2):
        raise ValueError(f"Y: expected a 1-D or 2-D array, got shape {Y.shape}")
    validate.check_finite("Y", Y)
    validate.check_rule("margin", margin, validate.Rule(0.0, 0.5, high_open=True))
    lo, hi = target_range(activation)
    width = hi - lo
    return TargetScaler(jnp.min(Y, axis=0), jnp.max(Y, axis=0), lo + margin * width, hi - margin * width)


def scale_targets(Y, scaler: TargetScaler) -> jax.Array:
    """Map targets into ``[scaler.low, scaler.high]`` (constant columns map to the middle)."""
    Y = jnp.asarray(Y)
    span = scaler.y_max - scaler.y_min
    safe = jnp.where(span > 0, span, 1.0)
    u = jnp.where(span > 0, (Y - scaler.y_min) / safe, 0.5)
    return scaler.low + (scaler.high - scaler.low) * u


def unscale_targets(Y_scaled, scaler: TargetScaler) -> jax.Array:
    """Inverse of :func:`scale_targets`: predictions back in the original units."""
    u = (jnp.asarray(Y_scaled) - scaler.low) / (scaler.high - scaler.low)
    return scaler.y_min + u * (scaler.y_max - scaler.y_min)
