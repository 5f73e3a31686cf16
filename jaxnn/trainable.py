"""Trainables: a training run as three pure functions, so a scheduler can train it in segments.

:class:`Trainable` is the protocol (its docstring holds the rules, so ``help(jaxnn.sweeps.Trainable)`` shows
them); :func:`trainable` is the core MLP's, built on :func:`jaxnn.train`'s loop (:func:`jaxnn.train.descent`
under :func:`jaxnn.guard.guarded_scan`); :func:`jaxnn.sweeps.trainable_from` builds one for any model from
its ``init``, ``loss`` and ``metrics``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from jaxnn import optimizers, validate
from jaxnn.activations import ActivationLike
from jaxnn.guard import invalid_hyper
from jaxnn.losses import objective_of_cache
from jaxnn.mlp import forward_cache_cols, init_mlp, resolve_activations
from jaxnn.optimizers import OptimizerLike
from jaxnn.train import check_structure, descent
from jaxnn.trainables import Run, RunState, Trainable, fill_hyper

__all__ = ["Trainable", "MLPState", "trainable"]


MLPState = RunState  # the MLP trainable's state: a RunState (guard, key, invalid; .params)


def _check_data(data, sizes) -> None:
    """Shapes only (static under tracing): X (m, s_1) and Y (m, k), optional X_val / Y_val, with s_1 and k
    the first and last of ``sizes``."""
    if not isinstance(data, dict) or "X" not in data or "Y" not in data:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"data: expected a dict with 'X' (m, s_1) and 'Y' (m, k), optionally 'X_val' and "
                         f"'Y_val', got {got}")
    for a, b in (("X", "Y"), ("X_val", "Y_val")):
        if (a in data) != (b in data):
            raise ValueError(f"data: {a!r} and {b!r} go together, got only {a if a in data else b!r}")
        if a not in data:
            continue
        if jnp.ndim(data[a]) != 2 or jnp.ndim(data[b]) != 2 or jnp.shape(data[a])[0] != jnp.shape(data[b])[0]:
            raise ValueError(f"data: expected {a!r} (m, s_1) and {b!r} (m, k) with the same m, got shapes "
                             f"{jnp.shape(data[a])} and {jnp.shape(data[b])}")
        for name, width, what in ((a, sizes[0], "input"), (b, sizes[-1], "output")):
            if jnp.shape(data[name])[1] != width:
                raise ValueError(f"data: expected {name!r} with {width} columns (the trainable's {what} layer, "
                                 f"sizes={list(sizes)}), got shape {jnp.shape(data[name])}")


def _directions(accuracy: bool) -> tuple:
    """The declared directions of :func:`trainable`'s metrics and the data the ``val_`` ones need."""
    names = ("loss", "accuracy") if accuracy else ("loss",)
    directions = {p + n: ("max" if n == "accuracy" else "min") for p in ("", "val_") for n in names}
    return directions, {"val_" + n: ("X_val", "Y_val") for n in names}


def _float_dtype(X):
    """The dtype of the params and the data: X's if floating, else JAX's default float (as :func:`jaxnn.train`,
    which casts integer data to the params' dtype)."""
    dtype = jnp.result_type(X)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _defaults(scale, lam, lr, opt, opt_hyper) -> dict:
    """``{hyperparameter: default}``: scale, lam, lr (when the optimizer uses one; None: 0.1, as in
    :func:`jaxnn.train`), the float optimizer_kwargs."""
    defaults = {"scale": float(validate.check_scalar("scale", scale, nonnegative=True)),
                "lam": float(validate.check_scalar("lam", lam, nonnegative=True))}
    if optimizers.uses_lr(opt):
        lr = optimizers.default_lr(opt, "mlp") if lr is None else lr
        defaults["lr"] = float(validate.check_scalar("lr", lr, positive=True))
    defaults.update({k: float(v) for k, v in opt_hyper.items()})
    return defaults


def trainable(sizes: Sequence[int], *, activation: ActivationLike = "sigmoid",
              output_activation: Optional[ActivationLike] = None, loss: str = "squared",
              optimizer: OptimizerLike = None, optimizer_kwargs: Optional[dict] = None,
              batch_size: Optional[int] = None, gradient: str = "autodiff",
              scale=0.01, lr=None, lam=0.0) -> Trainable:
    """The core MLP as a :class:`Trainable`: :func:`jaxnn.init_mlp`, then :func:`jaxnn.train`'s steps.

    Args:
      sizes: layer sizes ``[s_1, ..., s_{n_l}]`` (static).
      activation, output_activation, loss, optimizer, optimizer_kwargs, batch_size, gradient: as in
        :func:`jaxnn.train` (static; the float ``optimizer_kwargs`` become hyperparameters).
      scale, lr, lam: the defaults of the hyperparameters of the same names (init scale eps,
        learning rate alpha, ridge lambda); a search space overrides any of them.  ``lr`` None: 0.1
        (:func:`jaxnn.optimizers.default_lr`, as :func:`jaxnn.train`); as there, leave it out with a
        GradientTransformation (it has its own: a ValueError).

    Returns:
      A :class:`Trainable` whose ``hyperparameters`` are ``scale``, ``lr`` (when the optimizer uses
      one), ``lam`` and the float ``optimizer_kwargs``.  ``data`` is ``{"X": (m, s_1), "Y": (m, k)}``,
      optionally with ``"X_val"``, ``"Y_val"``; ``init``'s key draws the params (its first split, as
      ``init_mlp(jax.random.split(key)[0], sizes, scale)``) and the minibatch shuffle (its second).
      ``evaluate`` returns ``loss`` (the training objective J, ridge included, at the kept params),
      ``val_loss`` (the validation data term, no ridge; with ``X_val`` / ``Y_val``), ``accuracy`` /
      ``val_accuracy`` (argmax agreement, when the output has more than one unit), ``diverged_at`` and
      ``invalid``; every float metric is NaN for an invalid run.  ``directions`` declares the losses
      "min" and the accuracies "max"; ``needs`` says the ``val_`` metrics need ``X_val`` and ``Y_val``.

    A change of ``lam`` between two calls of ``advance`` (population-based training) takes effect from
    the second step of the later call: the first uses the gradient cached by the step before it.
    """
    sizes = [validate.check_int(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes: expected at least two layer sizes [s_1, ..., s_n], got {sizes}")
    check_structure(activation, output_activation, loss, gradient)
    if batch_size is not None:
        batch_size = validate.check_int("batch_size", batch_size, minimum=1)
    opt, opt_static, opt_hyper = optimizers.resolve(optimizer, optimizer_kwargs, jnp.result_type(float), traced=True,
                                                    lr=lr)  # an lr with a GradientTransformation raises, as in train
    uses_lr = optimizers.uses_lr(opt)
    defaults = _defaults(scale, lam, lr, opt, opt_hyper)
    structure = dict(activation=activation, output_activation=output_activation, loss=loss)

    def hyper(hp):
        return fill_hyper(hp, defaults, defaults)

    def model(key, h, data):
        _check_data(data, sizes)
        return init_mlp(key, sizes, h["scale"], dtype=_float_dtype(data["X"]))

    def loop(data, h, kd, merge):
        _check_data(data, sizes)
        dtype = _float_dtype(data["X"])  # integer data is cast, as in train
        X, Y = jnp.asarray(data["X"], dtype), jnp.asarray(data["Y"], dtype)  # host arrays too (minibatches index them)
        if batch_size is not None and batch_size > X.shape[0]:
            raise ValueError(f"batch_size: expected at most the number of samples {X.shape[0]}, got {batch_size}")
        lr_ = jnp.asarray(h.get("lr", 0.0), dtype)
        kw = {k: jnp.asarray(h[k], dtype) for k in opt_hyper}
        bs = None if batch_size == X.shape[0] else batch_size
        d = descent(X, Y, lr_, jnp.asarray(h["lam"], dtype), jax.random.wrap_key_data(kd), kw, optimizer=opt,
                    opt_static=opt_static, batch_size=bs, gradient=gradient, **structure)
        return d, invalid_hyper(positive=(lr_,) if uses_lr else (), nonnegative=(h["lam"],))

    def measure(params, data, h, merge):
        _check_data(data, sizes)
        return _measure(params, data, h["lam"], loss, structure, sizes[-1] > 1)

    run = Run(model, hyper, loop, measure)  # the shared loop of sweeps.trainable_from, with the MLP's parts
    return Trainable(run.init, run.advance, run.evaluate, defaults, *_directions(sizes[-1] > 1))


def _measure(p, data, lam, loss, structure, accuracy):
    """:func:`trainable`'s metrics at the params ``p`` (:class:`jaxnn.trainables.Run` adds the status)."""
    dtype = _float_dtype(data["X"])
    out = _metrics(p, jnp.asarray(data["X"], dtype), jnp.asarray(data["Y"], dtype), jnp.asarray(lam, dtype), "",
                   loss, structure, accuracy)
    if "X_val" in data:
        out.update(_metrics(p, jnp.asarray(data["X_val"], dtype), jnp.asarray(data["Y_val"], dtype), 0.0, "val_",
                            loss, structure, accuracy))
    return out


def _metrics(params, X, Y, lam, prefix, loss, structure, accuracy):
    """``{prefix + "loss": J (ridge lam), prefix + "accuracy": argmax agreement}`` from one forward pass."""
    acts = {"activation": structure["activation"], "output_activation": structure["output_activation"]}
    cache = forward_cache_cols(params, X.T, **acts)
    _, out_act = resolve_activations(**acts)
    out = {prefix + "loss": objective_of_cache(params, cache, Y.T, lam, out_act, loss)}
    if accuracy:  # the sample's largest output is its largest target (one-hot or {-1, 1} targets)
        a = cache.a[-1]
        out[prefix + "accuracy"] = jnp.mean(jnp.argmax(a, axis=0) == jnp.argmax(Y.T, axis=0)).astype(a.dtype)
    return out
