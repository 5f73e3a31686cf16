"""The compiled epochs and the L-BFGS core behind :mod:`jaxnn.estimators`.

Two pure functions advance a training state (each also jitted, as ``run_stochastic_jit`` and
``run_lbfgs_jit``; a grid search traces the plain ones under its own ``vmap`` and ``jit``):

* :func:`run_stochastic`: scikit-learn's minibatch loop for ``solver in {"sgd", "adam"}``: a
  ``lax.while_loop`` over epochs (it stops as soon as scikit-learn's ``tol`` / ``n_iter_no_change``
  criterion fires, or at ``epoch_end``), each epoch a loop over the minibatches of that epoch's
  sample order (``data["order"]``: a block of per-epoch orders drawn on the host from scikit-learn's
  NumPy stream, see :class:`jaxnn.estimators._layout.Orders`); per-epoch training loss, validation
  score and validation loss are written into ``(max_iter,)`` buffers.  Each minibatch step is one
  optax transformation (:func:`sklearn_sgd`, :func:`sklearn_adam`: scikit-learn's update rules to
  the last bit) under ``optax.inject_hyperparams``, whose learning rate the schedules ('invscaling',
  'adaptive') change at the end of an epoch, as scikit-learn's; early stopping (best params kept in
  the carry) runs inside the loop.
* :func:`run_lbfgs`: ``optax.lbfgs`` (:func:`jaxnn.lbfgs.lbfgs_optimizer`: zoom line search from
  step 1 each iteration, as scipy's) on the raveled params, one :func:`jaxnn.lbfgs.lbfgs_iteration`
  (the iteration of :func:`jaxnn.lbfgs.minimize`) per step of the package's guarded loop
  (:func:`jaxnn.guard.guarded_while`), with scipy's L-BFGS-B stopping rules as scikit-learn calls
  them: ``max|grad| <= tol``, a relative decrease ``<= 2.22e-9`` (scipy's default ``ftol``),
  ``max_iter`` iterations, or more than ``max_fun`` objective evaluations (every trial point of every
  line search counted, as scipy's ``nfev``) at the end of an iteration (scipy's ``nfev > maxfun`` test).
  :func:`fit_lbfgs` is a whole fit (start, iterations, reported loss) in one call.

Everything a grid search may vary (alpha, learning_rate_init, momentum, beta_1, beta_2, epsilon,
power_t, tol, n_iter_no_change, max_fun; and ``adaptive_shrinks``, which the host derives from the
first learning rate) is a traced scalar in ``hyper``; structure (layer sizes via
the params' shapes, activation, solver, schedule, batch capacity, ``max_iter``) is the static
:class:`Static`.  Data are padded to a static capacity: ``sw`` (sample weights) is 0 on padded rows
and ``n`` (traced) counts the real rows, so folds of different sizes share one compiled function and
``jax.vmap`` batches them.

The objective is scikit-learn's: for a batch with weights w (sum S),
``J = sum_i w_i loss_i / S + alpha / (2 S) * sum_l ||W^(l)||_F^2`` (biases not penalized), where
loss_i is the log-loss (softmax or logistic output), half the squared error or half the Poisson
deviance, summed over outputs.  scikit-learn *reports* the squared error averaged over outputs
(its gradient uses the sum); ``reported`` follows its report so ``loss_curve_`` and the ``tol``
criterion match.

References:
  Lecture "Neural networks II", sections 2-4 (objective, gradient descent); scikit-learn's
  ``neural_network/_multilayer_perceptron.py`` and ``_stochastic_optimizers.py`` (semantics).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxnn.guard import GuardState, guard_init, guarded, guarded_while, tree_all_finite, tree_where
from jaxnn.lbfgs import lbfgs_iteration, lbfgs_optimizer
from jaxnn.losses import per_sample_loss, ridge
from jaxnn.mlp import forward_cache_cols, resolve_activations

STOCHASTIC = ("sgd", "adam")  # the minibatch solvers (the other one is "lbfgs")
FTOL = 2.220446049250313e-09  # scipy.optimize.minimize(method="L-BFGS-B") default ftol


class Static(NamedTuple):
    """Static structure of one training run (hashable: a jit cache key)."""

    activation: Any      # hidden activation: jaxnn name ("sigmoid", "tanh", "relu", "identity") or callable
    out: str             # output: "softmax" | "logistic" | "identity" | "exp"
    loss: str            # "log_loss" | "squared_error" | "poisson"
    classifier: bool
    solver: str          # "sgd" | "adam" | "lbfgs"
    schedule: str = "constant"   # "constant" | "invscaling" | "adaptive"
    nesterov: bool = True
    shuffle: bool = True
    early_stopping: bool = False
    monitor: bool = False        # a validation set is scored every epoch
    batch: int = 1               # batch capacity B (static)
    n_steps: int = 1             # minibatch steps per epoch (static bound)
    max_iter: int = 200
    incremental: bool = False    # partial_fit: one epoch


# ---------------------------------------------------------------------------------------------
# sparse inputs


class Ell(NamedTuple):
    """Sparse rows in a padded (ELLPACK) layout: row i's nonzeros are ``val[i, :]`` at columns
    ``idx[i, :]`` (padding: value 0 at column 0).  ``idx`` (m, K) int32, ``val`` (m, K); K bounds the
    nonzeros per row.  Always one sample per row (the dense inputs' column layout does not apply):
    taking or slicing samples is taking or slicing rows of both leaves.

    With :class:`Ell` inputs the first layer's weights are held transposed, ``params[0]["W"]`` is
    W^(1)^T (d, s_2), so that the gather at a row's nonzeros reads contiguous rows (the ridge term and
    the optimizers are elementwise: the layout changes nothing else)."""

    idx: jax.Array
    val: jax.Array


ELL_BLOCK = 1 << 21  # entries of the gathered (rows, K, s_2) block of one step of :func:`ell_dot`


def ell_dot(WT, X: Ell):
    """W X^T: (s_2, m) for ``WT`` = W^T (d, s_2) and sparse rows X (m rows of d columns), without
    densifying X: ``z[:, i] = sum_k WT[idx[i, k], :] * val[i, k]`` (a gather of W's columns; its gradient
    in W is a scatter-add).  Many rows (a full-data evaluation) run in blocks of rows under ``lax.map``
    so that the gathered (rows, K, s_2) block stays bounded."""
    m, K = X.idx.shape
    h = WT.shape[1]
    rb = max(1, ELL_BLOCK // max(K * h, 1))

    def block(idx, val):  # (s_2, rows) for one block of rows
        return jnp.einsum("rkh,rk->hr", WT[idx], val)

    if m <= rb:
        return block(X.idx, X.val)
    nb = -(-m // rb)
    pad = nb * rb - m
    idx = jnp.pad(X.idx, ((0, pad), (0, 0))).reshape(nb, rb, K)
    val = jnp.pad(X.val, ((0, pad), (0, 0))).reshape(nb, rb, K)
    z = lax.map(lambda iv: block(*iv), (idx, val))  # (nb, s_2, rb)
    return jnp.moveaxis(z, 0, 1).reshape(h, nb * rb)[:, :m]


def take_samples(XT, idx):
    """The samples ``idx`` of inputs in the core's layout: columns of a dense (d, m) ``XT``, rows of an
    :class:`Ell`."""
    if isinstance(XT, Ell):
        return Ell(XT.idx[idx], XT.val[idx])
    return XT[:, idx]


def slice_samples(XT, start, size):
    """``size`` consecutive samples from ``start`` (traced) of inputs in the core's layout."""
    if isinstance(XT, Ell):
        return Ell(*(lax.dynamic_slice_in_dim(a, start, size, axis=0) for a in XT))
    return lax.dynamic_slice_in_dim(XT, start, size, axis=1)


def columns(X):
    """Row-layout inputs (m, d) -> the core's layout: ``X.T`` for dense X; an :class:`Ell` stays rows."""
    return X if isinstance(X, Ell) else X.T


def out_z(params, XT, activation):
    """z^(n_l) (k, m), the output pre-activation, for inputs in the core's layout (dense columns
    ``XT`` (d, m), or sparse rows: the first layer, held as W^T, by :func:`ell_dot`, the rest as dense)."""
    if not isinstance(XT, Ell):
        return forward_cache_cols(params, XT, activation, "identity").z[-1]
    first = params[0]
    z = ell_dot(first["W"], XT) + first["b"][:, None]  # z^(2) = W^(1) x + b^(1), W^(1) held as W^(1)^T
    if len(params) == 1:
        return z
    a = resolve_activations(activation)[0].f(z)  # a^(2) = f(z^(2)) (hidden activations are elementwise)
    return forward_cache_cols(params[1:], a, activation, "identity").z[-1]


# ---------------------------------------------------------------------------------------------
# objective, outputs, scores


def output(z, out: str, axis: int = -1):
    """Output activation of the last pre-activation z (m, k) (``axis=0``: z is (k, m))."""
    if out == "softmax":
        return jax.nn.softmax(z, axis=axis)
    if out == "logistic":
        return jax.nn.sigmoid(z)
    if out == "exp":
        return jnp.exp(z)
    return z


def logits(params, X, activation):
    """z^(n_l) (m, k) for X (m, d) (dense, or sparse :class:`Ell` rows): the output pre-activation
    (hidden layers use ``activation``), from the core's column-layout forward pass, transposed back."""
    return out_z(params, columns(X), activation).T


def per_sample(z, Y, static: Static, axis: int = -1):
    """(m,) per-sample loss summed over outputs, from the output pre-activation z (m, k); with
    ``axis=0``, z and Y are (k, m) (column layout)."""
    if static.loss == "poisson":  # half Poisson deviance with log link, as scikit-learn's poisson_loss
        xlogy = jnp.where(Y > 0, Y * jnp.log(jnp.where(Y > 0, Y, 1.0)), 0.0)
        return jnp.sum(xlogy - Y * z - Y + jnp.exp(z), axis=axis)
    name = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity"}[static.out]
    if static.loss == "log_loss":
        return per_sample_loss(z, z, Y, "cross_entropy", name, axis=axis)
    return per_sample_loss(z, output(z, static.out, axis), Y, "squared", name, axis=axis)  # 1/2 ||h(x) - y||^2


def objective(params, XT, YT, w, alpha, static: Static):
    """(J, reported): scikit-learn's weighted objective on a batch and the value it reports, in the
    core's column layout: ``XT`` (d, m) and ``YT`` (k, m) hold one sample per column (z = W X + b, as
    :func:`jaxnn.mlp.forward_cache_cols`), ``w`` is (m,).  Callers with row-layout data pass
    ``columns(X)`` (``X.T``; sparse :class:`Ell` rows as they are)."""
    S = jnp.sum(w)
    S = jnp.where(S > 0, S, 1.0)
    z = out_z(params, XT, static.activation)
    data = jnp.sum(w * per_sample(z, YT, static, axis=0)) / S
    penalty = 0.5 * alpha * ridge(params) / S  # alpha / (2 S) sum ||W||^2, biases excluded
    k = _report_outputs(static, YT.shape[0])
    shown = data / k if k > 1 else data
    return data + penalty, shown + penalty


def _report_outputs(static: Static, k: int) -> int:
    """The outputs that scikit-learn's reported loss averages the data term over: all k for a
    regressor's squared error, else 1 (the report is then the objective itself)."""
    return k if (static.loss == "squared_error" and not static.classifier) else 1


def score(params, X, Y, w, static: Static):
    """(validation score, validation data loss) on (X, Y, w): weighted accuracy (exact row match in
    the label-indicator space, as ``accuracy_score``) or R^2 averaged over outputs (as ``r2_score``,
    NaN when a prediction is not finite)."""
    z = logits(params, X, static.activation)
    vloss = jnp.sum(w * per_sample(z, Y, static)) / jnp.sum(w)
    return score_from(_parts(z, Y, w, static), jnp), vloss


def score_parts(params, X, Y, w, static: Static) -> dict:
    """What :func:`score`'s score is made of, summed on the devices: a classifier's ``{"hits", "weight"}``, a
    regressor's ``{"ss_res", "ss_tot"}`` (per output) and ``"finite"``; :func:`score_from` combines them (the
    searches do it on the host in float64, as scikit-learn's metrics: XLA may divide by a product with a
    reciprocal there, one ulp off, which reorders tied candidates)."""
    return _parts(logits(params, X, static.activation), Y, w, static)


def _parts(z, Y, w, static: Static) -> dict:
    if static.classifier:
        pred = (jax.nn.one_hot(jnp.argmax(z, axis=1), z.shape[1], dtype=bool) if static.out == "softmax"
                else z > 0)
        correct = jnp.all(pred == (Y > 0.5), axis=1)
        return {"hits": jnp.sum(w * correct), "weight": jnp.sum(w)}
    h = output(z, static.out)
    mean = jnp.sum(w[:, None] * Y, axis=0) / jnp.sum(w)
    return {"ss_res": jnp.sum(w[:, None] * (Y - h) ** 2, axis=0),
            "ss_tot": jnp.sum(w[:, None] * (Y - mean) ** 2, axis=0), "finite": jnp.all(jnp.isfinite(h))}


def score_from(parts: dict, xp):
    """The score of :func:`score_parts` (leading axes: one score per row): accuracy ``hits / weight``, or R^2
    ``1 - ss_res / ss_tot`` averaged over the outputs (1 where ss_tot is 0 and ss_res too, else 0 there; NaN
    where a prediction was not finite); ``xp``: ``numpy`` (the host) or ``jax.numpy``."""
    if "hits" in parts:
        return parts["hits"] / parts["weight"]
    ss_res, ss_tot = parts["ss_res"], parts["ss_tot"]
    r2 = xp.where(ss_tot > 0, 1 - ss_res / xp.where(ss_tot > 0, ss_tot, 1.0), xp.where(ss_res == 0, 1.0, 0.0))
    return xp.where(parts["finite"], xp.mean(r2, axis=-1), xp.nan)


# ---------------------------------------------------------------------------------------------
# optimizers (optax GradientTransformations, scikit-learn's update rules exactly)


def scale_by_sklearn_adam(b1, b2, eps) -> optax.GradientTransformation:
    """Adam's direction as scikit-learn writes it: ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, direction
    ``lr_t m / (sqrt(v) + eps)`` (optax's ``scale_by_adam`` puts eps after the bias correction, which
    differs by eps * sqrt(1 - b2^t)).  Returns the direction without ``-lr``.

    References:
      Kingma & Ba (2014), Algorithm 1 with the "efficient" step of section 2; scikit-learn's
      ``AdamOptimizer._get_updates``."""

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update(g, state, params=None):
        t = state.count + 1
        mu = jax.tree_util.tree_map(lambda m, x: b1 * m + (1 - b1) * x, state.mu, g)
        nu = jax.tree_util.tree_map(lambda v, x: b2 * v + (1 - b2) * x * x, state.nu, g)
        tf = t.astype(jnp.result_type(b1))
        c = jnp.sqrt(1 - b2 ** tf) / (1 - b1 ** tf)
        d = jax.tree_util.tree_map(lambda m, v: c * m / (jnp.sqrt(v) + eps), mu, nu)
        return d, optax.ScaleByAdamState(count=t, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def sklearn_adam(learning_rate, beta_1, beta_2, epsilon) -> optax.GradientTransformation:
    """scikit-learn's adam as an optax transformation: the update is ``-learning_rate * d`` with d
    :func:`scale_by_sklearn_adam`'s direction (``params + update`` is scikit-learn's step to the last
    bit: negation is exact)."""
    return optax.chain(scale_by_sklearn_adam(beta_1, beta_2, epsilon), optax.scale_by_learning_rate(learning_rate))


def sklearn_sgd(learning_rate, momentum, nesterov: bool) -> optax.GradientTransformation:
    """scikit-learn's sgd as an optax transformation: the velocity ``u = momentum u + learning_rate g``
    (``optax.trace`` fed with ``learning_rate g``) and the update ``-u`` (Nesterov:
    ``-(momentum u + learning_rate g)``), which is scikit-learn's ``v = momentum v - lr g``, step ``v``
    (Nesterov: ``momentum v - lr g``) with the sign folded in (exactly: negation is exact)."""
    return optax.chain(optax.scale(learning_rate), optax.trace(decay=momentum, nesterov=nesterov), optax.scale(-1.0))


# the hyperparameters each solver's transformation takes from ``hyper`` (besides the learning rate)
_SOLVER_HYPER = {"sgd": ("momentum",), "adam": ("beta_1", "beta_2", "epsilon")}


def make_optimizer(static: Static) -> optax.GradientTransformation:
    """The solver's transformation under ``optax.inject_hyperparams``: the learning rate (which
    'invscaling' and 'adaptive' change at the end of an epoch, as scikit-learn's ``iteration_ends`` /
    ``trigger_stopping``) and the traced hyperparameters live in its state, set by
    :func:`with_hyperparams`.  The placeholder values below are replaced before the first step."""
    if static.solver == "adam":
        return optax.inject_hyperparams(sklearn_adam)(learning_rate=0.0, beta_1=0.0, beta_2=0.0, epsilon=0.0)
    return optax.inject_hyperparams(sklearn_sgd, static_args=("nesterov",))(learning_rate=0.0, momentum=0.0,
                                                                              nesterov=static.nesterov)


def with_hyperparams(opt_state, lr, hyper, static: Static):
    """``opt_state`` (of :func:`make_optimizer`) with the learning rate ``lr`` and the solver's traced
    hyperparameters of ``hyper``, in the dtype of the state's own values."""
    hp = opt_state.hyperparams
    new = {"learning_rate": lr, **{k: hyper[k] for k in _SOLVER_HYPER[static.solver]}}
    return opt_state._replace(hyperparams={k: jnp.asarray(v, hp[k].dtype) for k, v in new.items()})


def init_opt_state(static: Static, params):
    """Optimizer state for fresh params (its hyperparameters are set per epoch by :func:`with_hyperparams`)."""
    return make_optimizer(static).init(params)


# ---------------------------------------------------------------------------------------------
# stochastic solvers


class State(NamedTuple):
    """Carry of :func:`run_stochastic` (all arrays; NumPy round-trips between calls)."""

    params: Any
    opt_state: Any
    lr: jax.Array            # current learning rate
    t: jax.Array             # samples seen (scikit-learn's t_): int32 digits, see :func:`t_digits`
    epoch: jax.Array         # epochs run in this fit (n_iter_), int32
    stopped: jax.Array       # the tol / n_iter_no_change criterion fired
    diverged: jax.Array      # a non-finite loss, gradient or params was met
    count: jax.Array         # _no_improvement_count, int32
    shrinks: jax.Array       # times 'adaptive' divided the rate by 5 in this fit, int32
    best_loss: jax.Array
    best_val: jax.Array
    best_params: Any
    loss_curve: jax.Array    # (max_iter,)
    val_curve: jax.Array     # (max_iter,)
    vloss_curve: jax.Array   # (max_iter,)


T_BASE = 1 << 24  # the low digit of a sample count t (see :func:`t_digits`)


def t_digits(t):
    """A sample count t >= 0 (an int32 scalar, or already digits) as the int32 digits ``[t // 2**24, t % 2**24]``
    that the compiled loop carries: t stays exact past 2**24 and past int32 in float32 fits, which run
    without 64-bit types (a larger host int: :func:`t_split`)."""
    t = jnp.asarray(t, jnp.int32)
    return t if t.ndim else jnp.stack([t // T_BASE, t % T_BASE])


def t_split(t: int) -> np.ndarray:
    """The digits of :func:`t_digits` of a Python int t (on the host, any size below 2**55)."""
    return np.array(divmod(int(t), T_BASE), np.int32)


def t_add(t, n):
    """The digits of t + n, for digits ``t`` and an int32 ``n`` < 2**31 - 2**24 (the low digit carries over)."""
    low = t[1] + n
    return jnp.stack([t[0] + low // T_BASE, low % T_BASE])


def t_float(t, dtype):
    """The count of digits ``t`` as a float of ``dtype``, rounded once (the high digit times 2**24 and the
    low digit are exact below 2**48): float32(t) as float32(int) gives it, where a float32 sum of the
    epochs' counts drifts once it passes 2**24."""
    return t[0].astype(dtype) * T_BASE + t[1].astype(dtype)


def t_int(t) -> int:
    """The count of digits ``t`` (on the host) as a Python int."""
    return int(t[0]) * T_BASE + int(t[1])


def init_state(params, opt_state, lr, t, count, best_loss, best_val, best_params, max_iter, dtype) -> State:
    """A :class:`State` (``t``: see :func:`t_digits`; no 'adaptive' shrink yet)."""
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    nan = jnp.full((max_iter,), jnp.nan, dtype)
    return State(params, opt_state, f(lr), t_digits(t), jnp.int32(0), jnp.bool_(False), jnp.bool_(False),
                 jnp.int32(count), jnp.int32(0), f(best_loss), f(best_val), best_params, nan, nan, nan)


@partial(jax.jit, static_argnames=("static",))
def start_state(params, opt_state, lr, t, count, best_loss, best_val, best_params, static: Static) -> State:
    """:func:`init_state` of one fit in one compiled call (``opt_state`` None: a fresh one, as
    :func:`init_opt_state`); the dtype is the params'."""
    opt_state = init_opt_state(static, params) if opt_state is None else opt_state
    return init_state(params, opt_state, lr, t, count, best_loss, best_val, best_params, static.max_iter,
                      jnp.result_type(params[0]["W"]))


def epoch_step(state: State, data, hyper, static: Static, epoch=None) -> State:
    """One guarded epoch (:func:`jaxnn.guard.guarded`): :func:`epoch_pass`, the guard's check of its
    loss and params, then :func:`after_epoch`.  ``data`` as :func:`run_stochastic`'s after
    :func:`_epoch_data`; ``epoch``: see :func:`epoch_pass`."""
    g, loss = guarded(partial(epoch_pass, data=data, hyper=hyper, static=static, epoch=epoch))(_to_guard(state), None)
    return _from_guard(after_epoch(g, loss, data=data, hyper=hyper, static=static))


def _to_guard(state: State) -> GuardState:
    """A :class:`State` as the guard's state: carry ``(params, the rest of the state)``, step ``t`` the epoch."""
    return guard_init((state.params, state._replace(params=None)), finite=~state.diverged, t=state.epoch)


def _from_guard(g: GuardState) -> State:
    """The :class:`State` of a guard state (the params as the last epoch left them)."""
    params, rest = g.carry
    return rest._replace(params=params)


def epoch_pass(carry, _, *, data, hyper, static: Static, epoch=None):
    """One epoch's minibatch steps, a step of the guarded loop: ``((params, rest), _) -> ((params,
    rest), mean training loss)`` with ``rest`` a :class:`State` (params None) whose optimizer state
    advances.

    ``data`` as :func:`run_stochastic`'s, plus ``XT`` (d, N + B), ``YT`` (k, N + B) and ``swp``
    (N + B,): the training rows as columns (sparse :class:`Ell` inputs: as rows), zero-padded by one
    batch so that every minibatch is a plain slice.  ``epoch``: the epoch index that picks the order
    (default ``rest.epoch``, which it must equal; :func:`run_stochastic_block` passes one index shared
    by all its fits, so that the order and the minibatches are not batched over them)."""
    params, state = carry
    n, bs = data["n"], data["bs"]
    N, B = data["sw"].shape[0], static.batch
    XT, YT, swp = data["XT"], data["YT"], data["swp"]
    dt = swp.dtype
    optimizer = make_optimizer(static)
    alpha = hyper["alpha"]
    if static.shuffle:  # this epoch's order of the n real rows (padded rows keep their slots, last)
        e_order = state.epoch if epoch is None else epoch
        order = lax.dynamic_index_in_dim(data["order"], e_order - data["e0"], keepdims=False)
        perm = jnp.concatenate([order, jnp.arange(N, N + B, dtype=order.dtype)])
        XT, YT, swp = take_samples(XT, perm), YT[:, perm], swp[perm]
    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def batch(j, carry):
        params, opt_state, acc = carry
        start = j * bs
        valid = (jnp.arange(B) < bs) & (start + jnp.arange(B) < n)
        w = jnp.where(valid, lax.dynamic_slice_in_dim(swp, start, B), 0.0)
        x, y = slice_samples(XT, start, B), lax.dynamic_slice_in_dim(YT, start, B, axis=1)
        (_, shown), g = grad_fn(params, x, y, w, alpha, static)
        updates, opt_state = optimizer.update(g, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, acc + shown * jnp.minimum(bs, n - start).astype(dt)  # the batch's rows

    # Only the steps that hold rows of this epoch run (a traced count: folds of a grid search differ).
    active = jnp.minimum((n + bs - 1) // bs, static.n_steps)
    opt_state = with_hyperparams(state.opt_state, state.lr, hyper, static)  # this epoch's learning rate
    params, opt_state, acc = lax.fori_loop(0, active, batch, (params, opt_state, jnp.zeros([], dt)))
    return (params, state._replace(opt_state=opt_state)), acc / n.astype(dt)


def after_epoch(g: GuardState, loss, *, data, hyper, static: Static) -> GuardState:
    """scikit-learn's end of an epoch (:func:`_end_of_epoch`) after the guard's verdict on it.

    The guard checks an epoch once: a non-finite loss, or non-finite params (a non-finite gradient
    or update leaves them so; NaN/inf never turn finite again under these updates), rejects it.  A
    rejected epoch ends the run with a NaN loss and never becomes the best; its params and optimizer
    state are not undone, because nothing reads them: a fit without early stopping raises (a search
    records it failed), one with it reports its best params."""
    params, rest = g.carry
    state = _end_of_epoch(rest, params, rest.opt_state, loss, g.diverged_at >= 0, data, hyper, static)
    return g._replace(carry=(params, state._replace(params=None)))


def _end_of_epoch(state: State, params, opt_state, loss, bad, data, hyper, static: Static) -> State:
    """scikit-learn's end of an epoch: the validation score, the ``tol`` / ``n_iter_no_change``
    counter, the best loss or score (and best params under early stopping), the 'invscaling' and
    'adaptive' learning rates, the stop flag and the curves.  ``loss`` is the epoch's mean training
    loss (NaN if ``bad``, a non-finite epoch)."""
    dt = loss.dtype
    lr = state.lr
    e = state.epoch
    t = t_add(state.t, data["n"])
    tol, patience = hyper["tol"], hyper["n_iter_no_change"]
    count, best_loss, best_val, best_params = state.count, state.best_loss, state.best_val, state.best_params
    shrinks = state.shrinks
    val, vloss = jnp.array(jnp.nan, dt), jnp.array(jnp.nan, dt)
    if static.monitor:
        val, vloss = score(params, data["Xv"], data["Yv"], data["swv"], static)
    if static.early_stopping:
        count = jnp.where(val < best_val + tol, count + 1, 0)
        better = (val > best_val) & ~bad
        best_val = jnp.where(better, val, best_val)
        best_params = tree_where(better, params, best_params)
    else:
        count = jnp.where(loss > best_loss - tol, count + 1, 0)
        best_loss = jnp.where(loss < best_loss, loss, best_loss)
    if static.solver == "sgd" and static.schedule == "invscaling":
        lr = hyper["learning_rate_init"] / t_float(t_add(t, 1), dt) ** hyper["power_t"]  # iteration_ends(t_)
    fire = count.astype(dt) > patience
    if static.solver == "sgd" and static.schedule == "adaptive":
        # scikit-learn stops where its rate (a Python float) is <= 1e-6: after hyper["adaptive_shrinks"]
        # divisions of the fit's first rate, counted on the host in float64 (a float32 rate may round onto 1e-6)
        stop = fire & (shrinks >= hyper["adaptive_shrinks"])
        shrink = fire & ~stop
        lr = jnp.where(shrink, lr / 5.0, lr)
        count = jnp.where(shrink, 0, count)
        shrinks = shrinks + shrink.astype(jnp.int32)
    else:
        stop = fire
    stop = stop | static.incremental
    record = lambda curve, v: curve.at[e].set(v) if static.monitor else curve  # noqa: E731  (else NaN throughout)
    return State(params, opt_state, lr, t, e + 1, stop, bad, count, shrinks, best_loss, best_val, best_params,
                 state.loss_curve.at[e].set(loss), record(state.val_curve, val), record(state.vloss_curve, vloss))


def _epoch_data(data, static: Static) -> dict:
    """``data`` plus the column-major, one-batch-padded ``XT``, ``YT``, ``swp`` of :func:`epoch_step`."""
    B = static.batch
    pad = lambda a: jnp.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, B)])  # noqa: E731
    X = data["X"]
    XT = Ell(*(jnp.pad(a, ((0, B), (0, 0))) for a in X)) if isinstance(X, Ell) else pad(X.T)
    return dict(data, XT=XT, YT=pad(data["Y"].T), swp=pad(data["sw"]))


def _running(s: State, epoch_end, static: Static):
    """Whether a fit has epochs left: not stopped, not diverged, before ``epoch_end`` and ``max_iter``."""
    return (~s.stopped) & (~s.diverged) & (s.epoch < jnp.minimum(epoch_end, static.max_iter))


def run_stochastic(state: State, data, hyper, epoch_end, static: Static) -> State:
    """Epochs from ``state`` until stopped, diverged, ``epoch_end`` or ``max_iter``.  ``data``:
    ``X`` (N, d) (dense, or an :class:`Ell` of N sparse rows), ``Y`` (N, k), ``sw`` (N,) (0 on padded
    rows), ``n`` and ``bs`` (traced ints),
    the validation set ``Xv``, ``Yv``, ``swv`` when ``static.monitor``, and with ``static.shuffle``
    ``order`` (E, N) int32 and ``e0`` (traced int): row ``e - e0`` of ``order`` is epoch e's sample
    order (a permutation of the real rows 0..n-1, then n..N-1); ``epoch_end`` must be <= e0 + E."""
    data = _epoch_data(data, static)
    g = guarded_while(partial(epoch_pass, data=data, hyper=hyper, static=static), _to_guard(state),
                      lambda g: _running(g.carry[1], epoch_end, static),
                      after=partial(after_epoch, data=data, hyper=hyper, static=static))
    return _from_guard(g)


def run_stochastic_block(states: State, data, hypers, epoch_end, static: Static) -> State:
    """:func:`run_stochastic` for k fits of the same ``data`` (``states``, ``hypers`` and ``epoch_end``
    with a leading (k,) axis), each with the result it has alone.  One loop runs a shared epoch index
    e, and a fit runs its epoch when its own epoch equals e: the order and the minibatches of epoch e
    are then the same arrays for every fit (not batched), so each minibatch's products with the first
    layer of all k fits are one matmul.  Fits may start at different epochs; e starts at the earliest."""
    data = _epoch_data(data, static)
    live = lambda s: _running(s, epoch_end, static)  # noqa: E731
    e0 = jnp.min(jnp.where(live(states), states.epoch, jnp.iinfo(jnp.int32).max))

    def body(carry):
        e, s = carry
        new = jax.vmap(lambda st, h: epoch_step(st, data, h, static, epoch=e))(s, hypers)
        return e + 1, jax.vmap(tree_where)(live(s) & (s.epoch == e), new, s)

    return lax.while_loop(lambda c: jnp.any(live(c[1])), body, (e0, states))[1]


run_stochastic_jit = jax.jit(run_stochastic, static_argnames=("static",))


# ---------------------------------------------------------------------------------------------
# L-BFGS


class LState(NamedTuple):
    params: Any
    opt_state: Any
    it: jax.Array          # iterations (n_iter_)
    nfev: jax.Array        # objective evaluations
    stopped: jax.Array     # converged (gtol or ftol)
    diverged: jax.Array
    value: jax.Array
    loss_curve: jax.Array  # (max_iter,)


def lbfgs_init(params, data, hyper, static: Static) -> LState:
    dt = data["sw"].dtype
    J = lambda p: objective(p, columns(data["X"]), data["Y"].T, data["sw"], hyper["alpha"], static)[0]  # noqa: E731
    v, g = jax.value_and_grad(J)(params)
    flat_g = ravel_pytree(g)[0]
    conv = jnp.max(jnp.abs(flat_g)) <= hyper["tol"]
    # J and its gradient at the start go into the line search's state, where the first iteration's
    # ``value_and_grad_from_state`` finds them (it evaluates J only where the stored value is not finite)
    opt_state = optax.tree.set(lbfgs_optimizer().init(ravel_pytree(params)[0]), value=v, grad=flat_g)
    return LState(params, opt_state, jnp.int32(0), jnp.int32(1), conv,
                  ~(jnp.isfinite(v) & tree_all_finite(g)), v, jnp.full((static.max_iter,), jnp.nan, dt))


lbfgs_init_jit = jax.jit(lbfgs_init, static_argnames=("static",))


def run_lbfgs(state: LState, data, hyper, iter_end, static: Static) -> LState:
    """L-BFGS iterations from ``state`` until converged, diverged, ``iter_end`` iterations or
    ``max_fun`` evaluations: :func:`jaxnn.lbfgs.lbfgs_iteration` (the iteration of
    :func:`jaxnn.lbfgs.minimize`) with scipy's bookkeeping (:func:`_lbfgs_step`), in the package's
    guarded loop (:func:`jaxnn.guard.guarded_while`), which checks the objective, the params and the
    gradient and keeps the last finite params.  The optimizer works on the raveled params (its
    two-loop recursion and line search are many small vector operations: one kernel each on a flat
    vector, one per leaf on a pytree); ``state.params`` is a pytree on the way in and out,
    ``state.opt_state`` is flat."""
    X, Y, sw, alpha = data["X"], data["Y"], data["sw"], hyper["alpha"]
    flat, unravel = ravel_pytree(state.params)

    def J(x):  # X.T inside J: XLA fuses the transposes into the matmuls (see benchmarks/bench_estimators.py)
        return objective(unravel(x), columns(X), Y.T, sw, alpha, static)[0]

    def is_finite(carry, v):
        return jnp.isfinite(v) & tree_all_finite((carry[0], optax.tree.get(carry[1].opt_state, "grad")))

    def running(g: GuardState):  # scipy stops at the first iteration end past maxfun
        s = g.carry[1]
        return (~s.stopped) & (s.it < jnp.minimum(iter_end, static.max_iter)) & (s.nfev <= hyper["max_fun"])

    start = guard_init((flat, state._replace(params=None)), finite=~state.diverged, t=state.it)
    g = guarded_while(partial(_lbfgs_step, lbfgs_iteration(J, lbfgs_optimizer()), hyper["tol"]), start, running,
                      is_finite=is_finite)
    # A rejected (non-finite) iteration ends the run with the last finite params; it is raised or
    # recorded as diverged, never continued, so its optimizer state and value are not read again.
    ok = g.diverged_at < 0
    s = g.carry[1]
    return s._replace(params=unravel(g.kept), stopped=s.stopped & ok, diverged=~ok)


def _lbfgs_step(iteration, tol, carry, _):
    """One guarded step of :func:`run_lbfgs`: ``iteration`` on ``(x, opt_state)`` and scipy's
    bookkeeping in the :class:`LState` it carries (iterations, evaluations: the line search's trial
    points, the convergence tests ``max|grad| <= tol`` or a relative decrease ``<= FTOL``, the value
    and the loss curve)."""
    x, s = carry
    value = optax.tree.get(s.opt_state, "value")  # J(x), left by the last line search (or lbfgs_init)
    (x, opt_state), new_value = iteration((x, s.opt_state), None)
    steps = optax.tree.get(opt_state, "num_linesearch_steps")
    gmax = jnp.max(jnp.abs(optax.tree.get(opt_state, "grad")))
    rel = (value - new_value) / jnp.maximum(jnp.maximum(jnp.abs(value), jnp.abs(new_value)), 1.0)
    s = s._replace(opt_state=opt_state, it=s.it + 1, nfev=s.nfev + jnp.maximum(steps, 1).astype(jnp.int32),
                   stopped=(rel <= FTOL) | (gmax <= tol), value=new_value,
                   loss_curve=s.loss_curve.at[s.it].set(new_value))
    return (x, s), new_value


run_lbfgs_jit = jax.jit(run_lbfgs, static_argnames=("static",))


def reported_loss(params, data, hyper, static: Static, value=None):
    """The objective value scikit-learn reports (``loss_``) on the training rows of ``data``.
    ``value``: the objective J at ``params`` where it is known (:class:`LState` holds it), returned
    as it is where the report is J."""
    if value is not None and _report_outputs(static, data["Y"].shape[1]) == 1:
        return value
    return objective(params, columns(data["X"]), data["Y"].T, data["sw"], hyper["alpha"], static)[1]


reported_loss_jit = jax.jit(reported_loss, static_argnames=("static",))


def fit_lbfgs(params, data, hyper, iter_end, static: Static):
    """(state, reported loss) of a whole L-BFGS fit in one call: :func:`lbfgs_init`,
    :func:`run_lbfgs` and :func:`reported_loss`.  The state is returned without its optimizer state
    (``opt_state`` None): nothing continues such a fit, and reading it back would copy the curvature
    memory to the host."""
    s = run_lbfgs(lbfgs_init(params, data, hyper, static), data, hyper, iter_end, static)
    return s._replace(opt_state=None), reported_loss(s.params, data, hyper, static, value=s.value)


fit_lbfgs_jit = jax.jit(fit_lbfgs, static_argnames=("static",))


@partial(jax.jit, static_argnames=("activation", "out"))
def predict_outputs(params, X, activation, out):
    """(z^(n_l), h(X)) for every row of X (prediction path of the estimators)."""
    z = logits(params, X, activation)
    return z, output(z, out)
