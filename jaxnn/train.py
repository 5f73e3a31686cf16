"""Compiled gradient descent (lecture section 4): the whole run is one ``lax.scan`` under one ``jit``.

By default each step is the lecture's update, W <- W - alpha dJ/dW, b <- b - alpha dJ/db, on the
full batch (``optax.sgd(lr)``, which is exactly that).  Any optax optimizer can be used instead.

Sweepable numbers (``lr``, ``lam``, the optimizer's float ``optimizer_kwargs``, the shuffling
``key``) are traced arguments: ``jax.vmap`` over them batches whole training runs without
recompiling.  Structure (``steps``, activations, loss, the optimizer's name or factory,
``batch_size``) is static; see :mod:`jaxnn.optimizers` for the cache-stable ways to pass an optimizer.

Divergence guard (:func:`jaxnn.guard.guarded_scan`, the one guarded loop, shared with
:mod:`jaxnn.lbfgs` and the estimators): when a step would produce a non-finite loss, gradient or
parameter, the step is rejected and so is every later one: the parameters stay at their last finite
values for the rest of the run, ``history["diverged_at"]`` records that step and ``history["loss"]``
is NaN from there on.  Nothing raises inside the scan, so one diverging configuration of a sweep
never affects another.

Data parallelism (:mod:`jaxnn.parallel`): with several local devices the samples can be sharded over
them, the params replicated and the gradients summed by XLA (``data_parallel``).

Invalid hyperparameters: concrete ones raise a ``ValueError`` before any compute; traced ones (a sweep
over lr <= 0, lam < 0, NaN, or a negative init ``scale``, which :func:`jaxnn.init_mlp` turns into NaN
params) cannot raise, so they are flagged instead: ``history["invalid"]`` is True, ``history["loss"]``
is all NaN, the params are returned unchanged and ``diverged_at`` is -1 (invalid is not diverged).
The flag is computed once before the scan and applied by one select after it
(:func:`jaxnn.validate.invalid_flag` from the one rule table, whose :func:`jaxnn.validate.check_rule`
raises for the concrete values; :func:`jaxnn.guard.mask_invalid`, shared with :mod:`jaxnn.lbfgs`).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxnn import optimizers, parallel, validate
from jaxnn.activations import ActivationLike, get_activation
from jaxnn.backprop import value_and_backprop_cols
from jaxnn.guard import guard_init, guarded_scan, mask_invalid, tree_all_finite
from jaxnn.losses import check_loss, objective_cols
from jaxnn.optimizers import OptimizerLike, make_optimizer

__all__ = ["train", "GRADIENTS", "make_optimizer", "Descent", "descent", "check_structure", "batch_rows",
           "step_is_finite", "full_batch_descent"]

GRADIENTS = ("autodiff", "backprop")


class Descent(NamedTuple):
    """Gradient descent on one dataset, as pieces for :func:`jaxnn.guard.guarded_scan` (the one loop).

    ``start(params) -> GuardState`` at step 0 (the carry ``(params, (optimizer state, gradient))``; a
    start whose objective or gradient is non-finite is recorded as diverged at step 0), ``step`` and
    ``is_finite`` for ``guarded_scan(step, state, state.t + jnp.arange(n), is_finite=is_finite)``: the
    scanned value is the global step index, so runs split into calls (segments) equal one call.
    """

    start: Callable
    step: Callable
    is_finite: Callable


def _on_all_data(XT, YT, lam, mesh, rows, m):
    """``on_all_data(f, p)``: ``f(p, XT, YT)`` on the whole (column-layout) data set.  Data-parallel
    (``mesh``, :mod:`jaxnn.parallel`): each device its columns' share of the mean of the ``m`` real
    samples (of ``rows``, padded), ``lam / n_devices`` for the ridge, summed by one all-reduce."""
    if mesh is None:
        def on_all_data(f, p):
            return f(p, XT, YT)
        return on_all_data
    weights = parallel.sample_weights(rows, m, XT.dtype)
    lam_share = lam / mesh.devices.size

    def on_all_data(f, p):
        return parallel.summed_over_devices(mesh, lambda r, a, b, w: f(r[0], a, b, w, r[1]))(
            (p, lam_share), XT, YT, weights)
    return on_all_data


def batch_rows(key, t, m: int, batch_size: int) -> jax.Array:
    """(batch_size,) int32: the rows of step ``t``'s minibatch, from an epoch-wise shuffle of the ``m``
    samples drawn from ``key`` (epoch ``t // (m // batch_size)``; the remainder of each epoch is dropped)."""
    n_batches = m // batch_size
    perm = jax.random.permutation(jax.random.fold_in(key, t // n_batches), m)
    return lax.dynamic_slice_in_dim(perm, (t % n_batches) * batch_size, batch_size)


def _minibatch(X, Y, key, m, batch_size):
    """``minibatch(t) -> (XT_b, YT_b)``: step ``t``'s ``batch_size`` columns (:func:`batch_rows`)."""
    def minibatch(t):
        idx = batch_rows(key, t, m, batch_size)
        return X[idx].T, Y[idx].T
    return minibatch


def full_batch_descent(value_and_grad: Callable, opt) -> Descent:
    """The full-batch form of ``train``'s loop for any objective: ``value_and_grad(p) -> (J, g)``; a step
    applies ``opt`` to the carried gradient and evaluates J and its gradient at the new params, which the next
    step reuses (one evaluation per step).  The check: the loss, the params and the gradient."""
    def start(params):
        J0, g0 = value_and_grad(params)
        return guard_init((params, (opt.init(params), g0)), finite=jnp.isfinite(J0) & tree_all_finite((params, g0)))

    def step(carry, _):
        p, (state, g) = carry
        updates, new_state = opt.update(g, state, p)
        new_p = optax.apply_updates(p, updates)
        J_new, g_new = value_and_grad(new_p)
        return (new_p, (new_state, g_new)), J_new

    return Descent(start, step, step_is_finite)


def step_is_finite(carry, J_new):
    """A step's check: the loss, the params and the gradient the next step uses (with minibatches, the one
    this step used); the optimizer state is not checked."""
    p, (_, g) = carry
    return jnp.isfinite(J_new) & tree_all_finite((g, p))


def descent(X, Y, lr, lam, key, opt_hyper, *, activation, output_activation, loss, optimizer, opt_static=(),
            batch_size=None, gradient="autodiff", mesh=None, m=None) -> Descent:
    """The :class:`Descent` of ``train``'s loop: traceable, no checks (``train`` and ``jaxnn.trainable``
    check their arguments first).  ``optimizer`` as resolved by :func:`jaxnn.optimizers.resolve`."""
    opt = make_optimizer(optimizer, lr, {**dict(opt_static), **opt_hyper})
    m = X.shape[0] if m is None else m  # real samples; data-parallel runs pad X to a multiple of the devices
    # The loop works in the lecture's column layout (samples as columns, z = W a + b): X and Y
    # are transposed once here, outside the scan (see jaxnn/mlp.py and benchmarks/bench_train.py).
    XT, YT = parallel.shard_samples(mesh, X.T, Y.T)

    def J(p, XTb, YTb, w=None, lam=lam):
        return objective_cols(p, XTb, YTb, lam, activation, output_activation, loss, w)

    def value_and_grad(p, XTb, YTb, w=None, lam=lam):
        if gradient == "backprop":  # the explicit delta algorithm: J and gradient from one forward pass
            return value_and_backprop_cols(p, XTb, YTb, lam, activation, output_activation, loss, w)
        return jax.value_and_grad(J)(p, XTb, YTb, w, lam)

    on_all_data = _on_all_data(XT, YT, lam, mesh, X.shape[0], m)
    if batch_size is None:  # J and its gradient at the new params, reused by the next step
        return full_batch_descent(lambda p: on_all_data(value_and_grad, p), opt)
    minibatch = _minibatch(X, Y, key, m, batch_size)

    def step(carry, t):  # the gradient on this step's minibatch (carried, for the check); J on all the data
        p, (state, _) = carry
        _, g = value_and_grad(p, *minibatch(t))
        updates, new_state = opt.update(g, state, p)
        new_p = optax.apply_updates(p, updates)
        return (new_p, (new_state, g)), on_all_data(J, new_p)

    def start(params):
        J0 = on_all_data(J, params)
        g0 = jax.tree_util.tree_map(jnp.zeros_like, params)
        return guard_init((params, (opt.init(params), g0)), finite=jnp.isfinite(J0) & tree_all_finite(params))

    return Descent(start, step, step_is_finite)


@partial(jax.jit, static_argnames=("steps", "activation", "output_activation", "loss", "optimizer", "opt_static",
                                   "batch_size", "gradient", "check_params", "mesh", "m"))
def _train(params, X, Y, lr, lam, key, opt_hyper, *, steps, activation, output_activation, loss, optimizer,
           opt_static, batch_size, gradient, check_params=False, mesh=None, m=None):
    # Traced invalid values, flagged once here and applied by one select after the scan (no per-step work).
    # lr counts only when it is used; the params only when traced (concrete non-finite params are
    # reported as diverged at step 0, as they always were).
    invalid = validate.invalid_flag(lr=lr if optimizers.uses_lr(optimizer) else None, lam=lam)
    if check_params:
        invalid = invalid | ~tree_all_finite(params)
    d = descent(X, Y, lr, lam, key, opt_hyper, activation=activation, output_activation=output_activation,
                loss=loss, optimizer=optimizer, opt_static=opt_static, batch_size=batch_size, gradient=gradient,
                mesh=mesh, m=m)
    state, losses = guarded_scan(d.step, d.start(params), jnp.arange(steps, dtype=jnp.int32), is_finite=d.is_finite)
    new_params, g = state.kept, state.carry[1][1]
    new_params, history = mask_invalid(invalid, params, new_params, {"loss": losses, "diverged_at": state.diverged_at})
    # The last gradient is returned too (and dropped by `train`): with it live after the loop, XLA:CPU
    # compiles a faster loop body, at no extra work (benchmarks/bench_train.py times train).
    return new_params, history, g


def check_structure(activation, output_activation, loss: str, gradient: str) -> None:
    """The static choices of a training loop (activations, loss, gradient), checked before any compute."""
    out = activation if output_activation is None else output_activation
    get_activation(activation)
    check_loss(loss, out)
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient: expected one of {list(GRADIENTS)}, got {gradient!r}")
    if gradient == "backprop" and get_activation(activation).df is None:
        raise ValueError("activation: the explicit backprop needs an elementwise hidden activation")


def _check_batches(batch_size, key, m: int):
    """``(batch_size, key)`` for the loop: None for one batch of all ``m`` samples (full-batch descent, whose
    key is unused), else checked, with the key a minibatch shuffle requires."""
    if key is not None:
        validate.check_key("key", key)
    if batch_size is not None:
        batch_size = validate.check_int("batch_size", batch_size, minimum=1)
        if batch_size > m:
            raise ValueError(f"batch_size: expected at most the number of samples {m}, got {batch_size}")
        if key is None:
            raise ValueError("key: a PRNG key is required to shuffle minibatches (batch_size is set)")
        if batch_size == m:
            batch_size = None  # one batch per epoch: identical to full-batch descent
    return batch_size, jax.random.key(0) if key is None else key


def train(params, X, Y, *, lr=None, steps: int = 1000, lam=0.0, activation: ActivationLike = "sigmoid",
          output_activation: Optional[ActivationLike] = None, loss: str = "squared",
          optimizer: OptimizerLike = None, optimizer_kwargs: Optional[dict] = None,
          batch_size: Optional[int] = None, key=None, gradient: str = "autodiff",
          data_parallel: Optional[bool] = None):
    """Minimize :func:`jaxnn.objective` by gradient descent, compiled as one scan.

    Args:
      params: list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}`` (e.g. from :func:`jaxnn.init_mlp`).
      X: (m, s_1) inputs.  Y: (m, s_{n_l}) targets (1-D accepted for a single output).
      lr: learning rate alpha > 0 (traced; default 0.1: :func:`jaxnn.optimizers.default_lr`).  Must be
        left out when ``optimizer`` is a ready-made GradientTransformation (it carries its own).
      steps: number of updates (static).
      lam: ridge strength lambda >= 0 (traced).
      activation, output_activation, loss: see :func:`jaxnn.objective`.
      optimizer: ``None`` for the lecture's plain gradient descent; an optax name (``"adam"``,
        ``"sgd"``, ``"rmsprop"``, ``"adamw"``, ...: :data:`jaxnn.optimizers.NAMES`) or factory taking
        the learning rate (``optax.adam``, or your own function, defined once), called with ``lr``
        inside the compiled function so ``lr`` stays sweepable; or any ``optax.GradientTransformation``
        (compiled once per object: building a new one on every call recompiles every time, and
        warns).  See :mod:`jaxnn.optimizers`.
      optimizer_kwargs: the name's or factory's other arguments, e.g. ``{"momentum": 0.9}`` for
        ``"sgd"``: floats are traced (sweepable, no recompilation), other values static.
      batch_size: ``None`` for full-batch steps; otherwise each step uses ``batch_size`` samples of
        an epoch-wise shuffle drawn from ``key`` (the m % batch_size left over each epoch are skipped).
      key: PRNG key for the shuffle (required with ``batch_size``): ``jax.random.key(seed)`` or a raw
        ``jax.random.PRNGKey(seed)``, possibly traced.
      gradient: ``"autodiff"`` (``jax.value_and_grad``) or ``"backprop"`` (the explicit delta
        algorithm of :func:`jaxnn.backprop`).
      data_parallel: shard the samples over every local device (``jaxnn.use_cpu_cores()`` on a CPU,
        several GPUs), parameters replicated, XLA summing the gradients (:mod:`jaxnn.parallel`);
        results equal one device's to rounding.  ``None`` (default): in the region where sharding
        can pay (full-batch steps on several CPU devices, at least
        ``jaxnn.parallel.MIN_SAMPLES_PER_DEVICE`` samples per device, no weight matrix above
        ``jaxnn.parallel.MAX_LAYER_WEIGHTS`` entries), or as ``JAXNN_DATA_PARALLEL=on|off|auto``
        says (:mod:`jaxnn.parallel`); never under an outer trace (inside ``jax.vmap`` /
        ``jaxnn.sweep`` train runs as it always did).  ``True``: always (a ValueError when traced
        or with one device); with ``batch_size`` only the full-data objective of the history is
        sharded, each minibatch's gradient is computed whole on every device.  ``False``: one
        device.  A data-parallel run says so in ``history["devices"]``.

    Returns:
      ``(params, history)``: the trained params (the last finite ones if the run diverged; the
      initial ones if invalid) and
      ``{"loss": (steps,) full-data objective after each step (NaN from a diverged step on; all NaN
      if invalid), "diverged_at": int32 scalar, the first step whose loss, gradient or params were
      non-finite, -1 if none (and -1 if invalid), "invalid": bool scalar, True when a traced
      hyperparameter is out of range or non-finite (lr <= 0, when lr is used; lam < 0) or the traced
      initial params are non-finite (e.g. from a negative traced ``scale`` in init_mlp)}``, and
      for a data-parallel run ``"devices"``: int32 scalar, the number of devices the samples were
      sharded over (absent when the run used one device).
      Concrete invalid values raise a ValueError instead; concrete non-finite initial params give
      ``diverged_at`` 0 (``invalid`` False).
    """
    X, Y = validate.check_data(params, X, Y)
    steps = validate.check_int("steps", steps, minimum=1)
    validate.check_rule("lam", lam)
    check_structure(activation, output_activation, loss, gradient)
    dtype = jnp.result_type(X)
    leaves = jax.tree_util.tree_leaves((params, X, Y, lr, lam, key, optimizer_kwargs))
    traced = not all(validate.is_concrete(x) for x in leaves)
    batch_size, key = _check_batches(batch_size, key, X.shape[0])
    m = X.shape[0]
    n = parallel.n_devices(data_parallel, traced=traced, full=batch_size is None, m=m,
                           layer_weights=max(int(np.prod(np.shape(layer["W"]))) for layer in params))
    # the optimizer last: resolve checks lr with it, then registers it for the recompilation warning
    optimizer, opt_static, opt_hyper = optimizers.resolve(optimizer, optimizer_kwargs, dtype, traced=traced, lr=lr)
    if not optimizers.uses_lr(optimizer):
        lr = 0.0
    elif lr is None:
        lr = optimizers.default_lr(optimizer, "mlp")
    check_params = not all(validate.is_concrete(x) for x in jax.tree_util.tree_leaves(params))
    scalars = (jnp.asarray(lr, dtype), jnp.asarray(lam, dtype), key, opt_hyper)
    mesh = None
    if n > 1:  # samples sharded (full batch) or copied (minibatches are drawn by index) over the devices
        mesh = parallel.local_mesh(n)
        X, Y, (params, scalars) = parallel.place(mesh, X, Y, (params, scalars), shard=batch_size is None)
    params, history, _ = _train(params, X, Y, *scalars, steps=steps, activation=activation,
                                output_activation=output_activation, loss=loss, optimizer=optimizer,
                                opt_static=opt_static, batch_size=batch_size, gradient=gradient,
                                check_params=check_params, mesh=mesh, m=m)
    return params, (dict(history, devices=jnp.int32(n)) if n > 1 else history)
