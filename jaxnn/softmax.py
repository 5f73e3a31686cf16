"""Softmax regression (multinomial logistic regression) with a ridge penalty, on top of the core.

A softmax classifier is a one-layer jaxnn network ``[{"W": (K, n), "b": (K,)}]`` with a softmax
output, trained on the cross-entropy by the core's compiled optimizers (:func:`jaxnn.train`):

    P(y = j | x) = exp(W_j x + b_j) / sum_l exp(W_l x + b_l)
    J(W, b) = -(1/m) sum_i log P(y_i | x_i) + (lam / 2) ||W||_F^2      (biases not penalized)

J is convex (strictly so in W for lam > 0), so, unlike the MLP, the result does not depend on the
initialization once training has converged.  Used on pooled convolved features (UFLDL's
"Exercise: Convolution and Pooling") and on raw pixels as a baseline.

References:
  Lecture "Neural networks II", sections 2 and 4 (ridge penalty, gradient descent).
  UFLDL tutorial, "Softmax Regression", "Exercise: Softmax Regression".
"""

from __future__ import annotations

from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optimizers, validate
from jaxnn.data import encode_labels
from jaxnn.losses import objective_cols
from jaxnn.mlp import forward, init_mlp
from jaxnn.optimizers import OptimizerLike, adam_cosine, default_lr
from jaxnn.train import train
from jaxnn.trainable import Trainable
from jaxnn.trainables import trainable_from

__all__ = ["init", "fit", "objective", "predict_proba", "predict", "accuracy", "trainable"]

# The core's names for this model: identity "hidden" activation (unused: there is no hidden layer),
# softmax output, multinomial cross-entropy.
_MODEL = dict(activation="identity", output_activation="softmax", loss="cross_entropy")


def init(key, n_features: int, n_classes: int, scale=0.005, *, dtype=None) -> list:
    """Initial params ``[{"W": (n_classes, n_features), "b": (n_classes,)}]`` drawn from N(0, scale^2).

    Args:
      key: PRNG key.
      n_features: input size n (static).
      n_classes: number of classes K >= 2 (static).
      scale: init standard deviation (UFLDL: 0.005; traced).  Zero is fine too: J is convex.
      dtype: float dtype (default: JAX's default float).
    """
    n_classes = validate.check_int("n_classes", n_classes, minimum=2)
    return init_mlp(key, [n_features, n_classes], scale, dtype=dtype)


def _check_model(params) -> None:
    validate.check_params(params)
    if len(params) != 1:
        raise ValueError(f"params: expected a softmax model with one layer [{{'W', 'b'}}], got {len(params)} layers")


def _targets(params, y):
    """Integer labels (m,) -> one-hot (m, K) for the model's K classes."""
    K = params[0]["W"].shape[0]
    y = validate.check_array("y", y, ndim=1)
    return encode_labels(y, K, "softmax", dtype=params[0]["W"].dtype, argname="y", why=f"the params have {K} classes")


def objective(params, X, y, lam=0.0) -> jax.Array:
    """J(W, b): mean cross-entropy of integer labels y plus (lam/2) ||W||^2 (biases not penalized).

    Args:
      params: ``[{"W": (K, n), "b": (K,)}]``.
      X: (m, n) features.  y: (m,) integer labels in [0, K).
      lam: ridge strength >= 0 (traced).

    Returns:
      Scalar J.
    """
    validate.check_rule("lam", lam)
    return _objective(params, X, y, lam)


def _objective(params, X, y, lam):
    """:func:`objective` without the check of ``lam`` (the trainable flags a bad one instead)."""
    _check_model(params)
    Y = _targets(params, y)
    X, Y = validate.check_data(params, X, Y)
    return objective_cols(params, X.T, Y.T, lam, **_MODEL)


# softmax.fit's names for its optimizer argument: "adam_cosine" (Adam with a cosine-decayed step); "adam",
# its old spelling, still means the same here (and warns), while jaxnn.train's "adam" is optax.adam.
_OPTIMIZERS = ("adam_cosine", "adam")


def _resolve_optimizer(optimizer, steps: int):
    """``(optimizer, optimizer_kwargs)`` for :func:`jaxnn.train` from softmax.fit's ``optimizer``."""
    if not isinstance(optimizer, str):
        return optimizer, None
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer: expected 'adam_cosine', None, an optax factory or a GradientTransformation, "
                         f"got {optimizer!r}")
    if optimizer == "adam":
        validate.warn("softmax.fit: optimizer='adam' here means Adam with a cosine-decayed step; spell it "
                      "optimizer='adam_cosine' (the same optimizer, the default), or pass optax.adam for a "
                      "constant step (what 'adam' means in jaxnn.train)", DeprecationWarning)
    return adam_cosine, {"steps": steps}


def fit(X, y, n_classes: Optional[int] = None, *, lam=1e-4, steps: int = 500, lr=None,
        optimizer: Union[str, OptimizerLike] = "adam_cosine", params=None, key=None, scale=0.005,
        batch_size: Optional[int] = None):
    """Train softmax regression with ridge penalty by the core's compiled optimizer (one scan, one jit).

    Args:
      X: (m, n) features (standardize them first: gradient methods converge much faster).
      y: (m,) integer labels in [0, n_classes).
      n_classes: K (static); default ``max(y) + 1`` (or the params' K when ``params`` are given).
      lam: ridge strength lambda >= 0 on W (traced; UFLDL: 1e-4).
      steps: optimizer steps (static).
      lr: learning rate (traced); default :func:`jaxnn.optimizers.default_lr` (``"softmax"``): for Adam
        ``min(0.05, 10 / n)`` (its first steps move every weight by about lr, hence the logits by
        about lr * n), 0.5 for plain gradient descent.
      optimizer: ``"adam_cosine"`` (default): Adam with its step size decayed from ``lr`` to 0 over
        ``steps`` (a cosine schedule: it settles at the optimum instead of hovering around it;
        :func:`jaxnn.optimizers.adam_cosine`); ``None``: the lecture's plain gradient descent; or an
        optax factory such as ``optax.adam`` or a GradientTransformation (then leave ``lr`` out), as
        in :func:`jaxnn.train`.  ``"adam"``, the old spelling of ``"adam_cosine"``, still works and
        warns (DeprecationWarning): in :func:`jaxnn.train` ``"adam"`` is optax's constant-step Adam.
      params: initial params (default: :func:`init` with ``key`` and ``scale``).
      key: PRNG key for the init (default ``jax.random.key(0)``) and for minibatch shuffling.
      scale: init standard deviation when ``params`` is None (traced; a traced negative scale gives
        NaN params, flagged invalid).
      batch_size: None for full-batch steps, else minibatches (see :func:`jaxnn.train`).

    Returns:
      ``(params, history)`` as :func:`jaxnn.train`: ``history["loss"]`` (steps,),
      ``history["diverged_at"]`` (-1 when the run stayed finite) and ``history["invalid"]`` (bool:
      a traced lam < 0, lr <= 0, non-finite value or non-finite traced initial params; the loss is
      then all NaN, the params the initial ones and ``diverged_at`` -1).
    """
    key = jax.random.key(0) if key is None else validate.check_key("key", key)
    y_arr = validate.check_array("y", y, ndim=1)
    if params is None:
        if n_classes is None:
            if not validate.is_concrete(y_arr):
                raise ValueError("n_classes: required when y is traced")
            n_classes = int(np.max(np.asarray(y_arr))) + 1
        X_arr = validate.check_array("X", X, ndim=2, floating=True)
        params = init(key, X_arr.shape[1], n_classes, scale, dtype=X_arr.dtype)
    else:
        _check_model(params)
        if n_classes is not None and n_classes != params[0]["W"].shape[0]:
            raise ValueError(f"n_classes: expected {params[0]['W'].shape[0]} (the params' classes), got {n_classes}")
    _check_model(params)
    Y = _targets(params, y_arr)
    steps = validate.check_int("steps", steps)
    optimizer, optimizer_kwargs = _resolve_optimizer(optimizer, steps)
    if lr is None:
        lr = default_lr(optimizer, "softmax", n_inputs=params[0]["W"].shape[1])
    return train(params, X, Y, lr=lr, steps=steps, lam=lam, optimizer=optimizer, optimizer_kwargs=optimizer_kwargs,
                 batch_size=batch_size, key=key, **_MODEL)


def predict_proba(params, X) -> jax.Array:
    """(m, K) class probabilities softmax(W x + b) for each row of X (m, n)."""
    _check_model(params)
    return forward(params, X, _MODEL["activation"], _MODEL["output_activation"])


def predict(params, X) -> jax.Array:
    """(m,) int32 predicted labels: argmax_j (W_j x + b_j)."""
    return jnp.argmax(predict_proba(params, X), axis=1).astype(jnp.int32)


def accuracy(params, X, y) -> jax.Array:
    """Fraction of rows of X whose predicted label equals y (m,)."""
    y = validate.check_array("y", y, ndim=1)
    X = validate.check_array("X", X, ndim=2, floating=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected {X.shape[0]} labels (one per row of X), got shape {tuple(y.shape)}")
    return jnp.mean(predict(params, X) == y)


def _trainable_fns(n_features, n_classes):
    """``(init, loss, metrics, invalid)`` for :func:`jaxnn.trainables.trainable_from`; the hyperparameters
    are their keyword parameters (scale; lam)."""

    def init_fn(key, scale):
        return init(key, n_features, n_classes, scale)

    def J(params, batch, lam):  # objective; lam's range is invalid_fn's (traced) rule
        return _objective(params, batch["X"], batch["y"], lam)

    def metrics(params, data):
        out = {"accuracy": accuracy(params, data["X"], data["y"])}
        if "X_val" in data:  # the validation cross-entropy, no ridge: comparable across lam
            out["val_loss"] = _objective(params, data["X_val"], data["y_val"], 0.0)
            out["val_accuracy"] = accuracy(params, data["X_val"], data["y_val"])
        return out

    def invalid_fn(lam):
        return validate.invalid_flag(lam=lam)

    return init_fn, J, metrics, invalid_fn


def trainable(n_features: int, n_classes: int, *, optimizer: OptimizerLike = "adam", optimizer_kwargs=None,
              batch_size: Optional[int] = None, scale=0.005, lam=1e-4, lr=None) -> Trainable:
    """Softmax regression as a :class:`jaxnn.sweeps.Trainable`, for the adaptive searches
    (``successive_halving``, ``hyperband``, ``pbt``, ``asha``, ...): :func:`jaxnn.trainables.trainable_from`
    of :func:`init` and :func:`objective`, on its one guarded loop.

    Args:
      n_features, n_classes: n and K >= 2 (static).
      optimizer, optimizer_kwargs: an optax name (default ``"adam"``: optax's constant-step Adam, not
        :func:`fit`'s cosine-decayed ``"adam_cosine"``, whose schedule needs the total steps, which a search
        that stops and continues runs does not fix in advance), a factory, ``None`` (the lecture's gradient
        descent) or a GradientTransformation; the float ``optimizer_kwargs`` are hyperparameters.
      batch_size: rows per step (static; None: full batch).
      scale, lam: the defaults of the hyperparameters (init standard deviation, ridge strength lambda).
      lr: the default learning rate; None: :func:`fit`'s rule (:func:`jaxnn.optimizers.default_lr` with
        ``"softmax"``): ``min(0.05, 10 / n_features)`` for Adam and the other adaptive optimizers, 0.5 for
        ``optimizer=None``.

    Returns:
      A Trainable on ``data = {"X": (m, n), "y": (m,) integer labels}``, optionally with ``"X_val"`` and
      ``"y_val"`` (standardize the features first).  Hyperparameters: ``scale``, ``lam``, ``lr`` (when the
      optimizer takes one) and the float ``optimizer_kwargs``.  ``evaluate`` returns ``loss`` (J, ridge
      included), ``accuracy`` (on ``X``), ``val_loss`` (the validation cross-entropy, no ridge; "min") and
      ``val_accuracy`` ("max"; both with ``X_val`` / ``y_val``, which they declare in ``needs``),
      ``diverged_at`` and ``invalid``: True (every metric NaN) for lam < 0, lr <= 0 or a non-finite one,
      concrete or traced, and for a traced negative scale (the rule table,
      :data:`jaxnn.validate.HYPERPARAMETERS`); a concrete negative scale raises in :func:`init`, as in
      :func:`jaxnn.trainable`.
    """
    n_features = validate.check_int("n_features", n_features)
    n_classes = validate.check_int("n_classes", n_classes, minimum=2)
    validate.check_rules(scale=scale, lam=lam)
    if lr is None:
        opt = optimizers.resolve(optimizer, optimizer_kwargs, jnp.result_type(float), traced=True)[0]
        lr = default_lr(opt, "softmax", n_inputs=n_features)
    init_fn, J, metrics, invalid = _trainable_fns(n_features, n_classes)
    return trainable_from(init_fn, J, metrics=metrics,
                          directions={"accuracy": "max", "val_accuracy": "max", "val_loss": "min"},
                          optimizer=optimizer, optimizer_kwargs=optimizer_kwargs, batch_size=batch_size, lr=lr,
                          defaults={"scale": float(scale), "lam": float(lam)}, invalid=invalid,
                          needs={"val_loss": ("X_val", "y_val"), "val_accuracy": ("X_val", "y_val")})
