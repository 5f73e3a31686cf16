"""Trainables: a training run as three pure functions, so a scheduler can train it in segments.

:class:`Trainable` is the protocol (its docstring holds the rules, so ``help(jaxnn.sweeps.Trainable)`` shows
them); :func:`trainable` is the core MLP's, built on :func:`jaxnn.train`'s loop (:func:`jaxnn.train.descent`
under :func:`jaxnn.guard.guarded_scan`); :func:`jaxnn.sweeps.trainable_from` builds one for any model from
its ``init``, ``loss`` and ``metrics``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jaxnn import optimizers, validate
from jaxnn.activations import ActivationLike
from jaxnn.guard import GuardState, guarded_scan, invalid_hyper, tree_where
from jaxnn.losses import objective_of_cache
from jaxnn.mlp import forward_cache_cols, init_mlp, resolve_activations
from jaxnn.optimizers import OptimizerLike
from jaxnn.train import check_structure, descent

__all__ = ["Trainable", "MLPState", "trainable"]


class Trainable(NamedTuple):
    """A training run as three pure functions, which the adaptive searches of :mod:`jaxnn.sweeps`
    (``successive_halving``, ``hyperband``, ``pbt``, ``run`` with early stopping, ``asha``, ``bohb``,
    ``search``) train many at once, in compiled, vmapped segments.

    The rules a Trainable keeps:

    * ``init(key, data, **hp) -> state``: a new run; the state is a pytree of arrays (raw key data, never a
      typed PRNG key: states are banked and checkpointed);
    * ``advance(state, data, steps, **hp) -> state``: ``steps`` (a static Python int) more steps, one
      ``lax.scan``; ``advance`` called k times for n steps computes what one call for k n steps does, so
      that a run can be stopped, ranked and continued;
    * ``evaluate(state, data, **hp) -> {name: scalar}``: the run's metrics now;
    * ``hp`` are the run's traced hyperparameters (scalars), and all three functions accept every name of
      ``hyperparameters``; all three are pure and traceable (the scheduler vmaps and jits them);
    * status: ``evaluate`` may declare the run's status with ``diverged_at`` (int32, -1 if not) and
      ``invalid`` (bool: a hyperparameter was out of range, so no metric is a result)
      (:mod:`jaxnn.sweeps.status`); without them a non-finite metric means diverged;
    * directions: the metrics' directions are declared (``directions={"val_accuracy": "max"}``); a search
      ranks by them unless its ``mode=`` says otherwise; nothing is inferred from a metric's name.

    :func:`jaxnn.trainable` (the MLP) and :func:`jaxnn.sweeps.trainable_from` (any model, from ``init``,
    ``loss`` and ``metrics``) build one; any three functions that keep these rules are one too.

    Attributes:
      init: ``init(key, data, **hp) -> state`` (a pytree of arrays).
      advance: ``advance(state, data, steps, **hp) -> state``; ``steps`` is a static Python int.
      evaluate: ``evaluate(state, data, **hp) -> {metric name: scalar}`` (optionally ``diverged_at``,
        ``invalid``: the run's status).
      hyperparameters: ``{name: default}`` of the hyperparameters ``hp`` may hold (a search space may
        set any of them; the others keep their defaults), or None to accept any names without defaults.
      directions: ``{metric: "max" | "min"}``: which way each metric of ``evaluate`` is better (what a search
        ranks by when no ``mode=`` is given), or None (then every search needs ``mode=``).
      needs: ``{metric: (data keys, ...)}``: the entries of ``data`` a metric is computed from, when
        ``evaluate`` returns it only if they are there (a search naming it without them says so), or None.
    """

    init: Callable[..., Any]
    advance: Callable[..., Any]
    evaluate: Callable[..., dict]
    hyperparameters: Optional[dict] = None
    directions: Optional[dict] = None
    needs: Optional[dict] = None


class MLPState(NamedTuple):
    """The state of one run of :func:`trainable`.

    Attributes:
      guard: the :class:`jaxnn.guard.GuardState` of ``train``'s loop: ``carry = (params, (optimizer
        state, gradient))``, ``kept`` (the last finite params: the run's result), ``t`` (steps taken),
        ``diverged_at``.
      key: raw key data of the minibatch shuffle.
      invalid: bool scalar: a hyperparameter of this run was out of range (then no metric is a result).
    """

    guard: GuardState
    key: jax.Array
    invalid: jax.Array

    @property
    def params(self):
        return self.guard.kept


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


def _defaults(scale, lam, lr, uses_lr, opt_hyper) -> dict:
    """``{hyperparameter: default}``: scale, lam, lr (when the optimizer uses one), the float optimizer_kwargs."""
    defaults = {"scale": float(validate.check_scalar("scale", scale, nonnegative=True)),
                "lam": float(validate.check_scalar("lam", lam, nonnegative=True))}
    if uses_lr:
        defaults["lr"] = float(validate.check_scalar("lr", lr, positive=True))
    defaults.update({k: float(v) for k, v in opt_hyper.items()})
    return defaults


def trainable(sizes: Sequence[int], *, activation: ActivationLike = "sigmoid",
              output_activation: Optional[ActivationLike] = None, loss: str = "squared",
              optimizer: OptimizerLike = None, optimizer_kwargs: Optional[dict] = None,
              batch_size: Optional[int] = None, gradient: str = "autodiff",
              scale=0.01, lr=0.1, lam=0.0) -> Trainable:
    """The core MLP as a :class:`Trainable`: :func:`jaxnn.init_mlp`, then :func:`jaxnn.train`'s steps.

    Args:
      sizes: layer sizes ``[s_1, ..., s_{n_l}]`` (static).
      activation, output_activation, loss, optimizer, optimizer_kwargs, batch_size, gradient: as in
        :func:`jaxnn.train` (static; the float ``optimizer_kwargs`` become hyperparameters).
      scale, lr, lam: the defaults of the hyperparameters of the same names (init scale eps,
        learning rate alpha, ridge lambda); a search space overrides any of them.

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
    opt, opt_static, opt_hyper = optimizers.resolve(optimizer, optimizer_kwargs, jnp.result_type(float), traced=True)
    uses_lr = optimizers.uses_lr(opt)
    defaults = _defaults(scale, lam, lr, uses_lr, opt_hyper)
    structure = dict(activation=activation, output_activation=output_activation, loss=loss)

    def hyper(hp):
        unknown = sorted(set(hp) - set(defaults))
        if unknown:
            raise ValueError(f"hp: unknown hyperparameters {unknown}; this trainable takes {sorted(defaults)}")
        return {**defaults, **hp}

    def loop(data, h, key):
        X, Y = data["X"], data["Y"]
        if batch_size is not None and batch_size > X.shape[0]:
            raise ValueError(f"batch_size: expected at most the number of samples {X.shape[0]}, got {batch_size}")
        dtype = jnp.result_type(X)
        lr_ = jnp.asarray(h.get("lr", 0.0), dtype)
        kw = {k: jnp.asarray(h[k], dtype) for k in opt_hyper}
        bs = None if batch_size == X.shape[0] else batch_size
        d = descent(X, Y, lr_, jnp.asarray(h["lam"], dtype), jax.random.wrap_key_data(key), kw, optimizer=opt,
                    opt_static=opt_static, batch_size=bs, gradient=gradient, **structure)
        return d, invalid_hyper(positive=(lr_,) if uses_lr else (), nonnegative=(h["lam"],))

    def init(key, data, **hp):
        _check_data(data, sizes)
        h = hyper(hp)
        k_init, k_shuffle = jax.random.split(key)
        params = init_mlp(k_init, sizes, h["scale"], dtype=jnp.result_type(data["X"]))
        kd = jax.random.key_data(k_shuffle)
        d, bad = loop(data, h, kd)
        return MLPState(d.start(params), kd, bad | invalid_hyper(params=params))

    def advance(state, data, steps, **hp):
        _check_data(data, sizes)
        steps = validate.check_int("steps", steps, minimum=1)
        d, bad = loop(data, hyper(hp), state.key)
        t = state.guard.t + jnp.arange(steps, dtype=jnp.int32)
        guard, _ = guarded_scan(d.step, state.guard, t, is_finite=d.is_finite)
        return MLPState(guard, state.key, state.invalid | bad)

    def evaluate(state, data, **hp):
        _check_data(data, sizes)
        return _evaluate(state, data, hyper(hp)["lam"], loss, structure, sizes[-1] > 1)

    return Trainable(init, advance, evaluate, defaults, *_directions(sizes[-1] > 1))


def _evaluate(state, data, lam, loss, structure, accuracy):
    """:func:`trainable`'s metrics (NaN for an invalid run) and its status entries."""
    p = state.guard.kept
    out = _metrics(p, data["X"], data["Y"], jnp.asarray(lam, jnp.result_type(data["X"])), "", loss, structure,
                   accuracy)
    if "X_val" in data:
        out.update(_metrics(p, data["X_val"], data["Y_val"], 0.0, "val_", loss, structure, accuracy))
    out = tree_where(state.invalid, {k: jnp.full_like(v, jnp.nan) for k, v in out.items()}, out)
    return {**out, "diverged_at": jnp.where(state.invalid, -1, state.guard.diverged_at).astype(jnp.int32),
            "invalid": jnp.asarray(state.invalid, bool)}


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
