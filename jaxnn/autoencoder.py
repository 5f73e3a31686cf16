"""Autoencoders and UFLDL's sparse autoencoder (lecture section 6), as pure functions.

An autoencoder learns the identity: the target is the input.  Params use the core layout, a list
of two layers::

    [{"W": W1 (n_hidden, n_visible), "b": b1 (n_hidden,)},    # encoder, a^(2) = sigmoid(W1 x + b1)
     {"W": W2 (n_visible, n_hidden), "b": b2 (n_visible,)}]   # decoder, x_hat = f(W2 a^(2) + b2)

With *tied weights* the decoder layer has no ``"W"`` (``[{"W", "b"}, {"b"}]``) and uses W2 = W1^T.
Every function treats tied params exactly as the untied params ``untie(params)``: in particular the
ridge term counts ||W1||^2 twice (once as W1, once as W2 = W1^T), so the objective of tied params is the
untied objective restricted to W2 = W1^T.

Hidden units are sigmoids (the KL sparsity penalty needs activations in (0, 1)).  The output unit
``f`` is a sigmoid (UFLDL's exercise, data in [0.1, 0.9]) or ``"identity"`` (UFLDL's *linear decoder*,
for ZCA-whitened data that is not confined to (0, 1)).

``lam``, ``beta``, ``rho`` (and ``init``'s ``scale``) are traced: :func:`jax.vmap` or
:func:`jaxnn.sweep` over them batches whole trainings without recompiling.  Out-of-range values raise
when concrete; traced ones are flagged by :func:`fit` (``history["invalid"]``, loss all NaN, params
unchanged), as in :func:`jaxnn.train`.

References:
  Lecture "Neural networks II", section 6.  UFLDL tutorial, "Autoencoders and Sparsity",
  "Backpropagation Algorithm", "Gradient checking and advanced optimization", "Visualizing a Trained
  Autoencoder", "Exercise: Sparse Autoencoder", "Linear Decoders".
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations, optimizers, validate
from jaxnn.backprop import layer_gradient, output_delta
from jaxnn.guard import tree_all_finite
from jaxnn.lbfgs import minimize
from jaxnn.losses import objective_cols, objective_of_cache
from jaxnn.mlp import forward_cache_cols
from jaxnn.optimizers import OptimizerLike
from jaxnn.trainable import Trainable
from jaxnn.trainables import trainable_from

__all__ = [
    "OUTPUT_ACTIVATIONS",
    "init",
    "untie",
    "is_tied",
    "encode",
    "decode",
    "reconstruct",
    "kl_divergence",
    "loss",
    "sparse_loss",
    "sparse_backprop",
    "mean_activation",
    "max_activation_inputs",
    "fit",
    "compile_fit",
    "trainable",
    "TRAINABLE_LR",
]

OUTPUT_ACTIVATIONS = ("sigmoid", "identity")


# --------------------------------------------------------------------------------------------- params
def init(key, n_visible: int, n_hidden: int, scale=None, *, tied: bool = False, dtype=None) -> list:
    """UFLDL's initialization: W uniform in [-r, r], biases zero.

    Random weights break the symmetry between hidden units (lecture section 3); UFLDL draws them
    uniformly with ``r = sqrt(6 / (n_visible + n_hidden + 1))``.

    Args:
      key: PRNG key (``jax.random.key`` or ``PRNGKey``, possibly traced).
      n_visible: input (and output) size s_1 (static).
      n_hidden: hidden size s_2 (static).
      scale: half-width r >= 0 of the uniform distribution (may be traced); default UFLDL's
        ``sqrt(6 / (n_visible + n_hidden + 1))``.  A concrete negative or non-finite scale raises;
        under tracing a negative (or non-finite) scale gives NaN parameters (all of them, biases
        included), which :func:`fit` flags invalid.
      tied: if True, return ``[{"W", "b"}, {"b"}]`` (decoder weights W2 = W1^T).
      dtype: float dtype (default: JAX's default float).

    Returns:
      ``[{"W": (n_hidden, n_visible), "b": (n_hidden,)}, {"W": (n_visible, n_hidden), "b": (n_visible,)}]``
      (no decoder ``"W"`` when tied).
    """
    n_visible = validate.check_int("n_visible", n_visible)
    n_hidden = validate.check_int("n_hidden", n_hidden)
    if scale is None:
        scale = float(np.sqrt(6.0 / (n_visible + n_hidden + 1)))
    validate.check_rule("scale", scale)
    validate.check_key("key", key)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
    k1, k2 = jax.random.split(key)
    r = jnp.asarray(scale, dtype)
    W1 = r * jax.random.uniform(k1, (n_hidden, n_visible), dtype, -1.0, 1.0)
    enc = {"W": W1, "b": jnp.zeros((n_hidden,), dtype)}
    if tied:
        params = [enc, {"b": jnp.zeros((n_visible,), dtype)}]
    else:
        W2 = r * jax.random.uniform(k2, (n_visible, n_hidden), dtype, -1.0, 1.0)
        params = [enc, {"W": W2, "b": jnp.zeros((n_visible,), dtype)}]
    if not validate.is_concrete(r):  # the traced counterpart of the check above: NaN params
        ok = validate.holds(r, validate.HYPERPARAMETERS["scale"])
        params = jax.tree_util.tree_map(lambda x: validate.nan_unless(ok, x), params)
    return params


def is_tied(params) -> bool:
    """True for tied params ``[{"W", "b"}, {"b"}]``."""
    return "W" not in params[1]


def _W2(params):
    return params[0]["W"].T if is_tied(params) else params[1]["W"]


def untie(params) -> list:
    """The equivalent untied params: the decoder gets ``"W": W1^T``."""
    return [dict(params[0]), {"W": _W2(params), "b": params[1]["b"]}]


def _check_params(params) -> list:
    """Validate the autoencoder layout (see module doc)."""
    if not isinstance(params, (list, tuple)) or len(params) != 2:
        raise ValueError("params: expected a list of two layers [{'W', 'b'}, {'W', 'b'} or {'b'}] (encoder, decoder), "
                         f"got {type(params).__name__} of length {len(params) if hasattr(params, '__len__') else '?'}")
    enc, dec = params
    if not isinstance(enc, dict) or set(enc) != {"W", "b"}:
        got = sorted(enc) if isinstance(enc, dict) else type(enc).__name__
        raise ValueError(f"params[0]: expected a dict with keys 'W' and 'b' (the encoder), got {got}")
    if not isinstance(dec, dict) or set(dec) not in ({"W", "b"}, {"b"}):
        got = sorted(dec) if isinstance(dec, dict) else type(dec).__name__
        raise ValueError(f"params[1]: expected a dict with keys 'W' and 'b' (or only 'b' for tied weights), got {got}")
    if np.ndim(enc["W"]) != 2:
        raise ValueError(f"params[0]['W']: expected shape (n_hidden, n_visible), got shape {np.shape(enc['W'])}")
    n_hidden, n_visible = np.shape(enc["W"])
    if np.shape(enc["b"]) != (n_hidden,):
        raise ValueError(f"params[0]['b']: expected shape ({n_hidden},), got shape {np.shape(enc['b'])}")
    if "W" in dec and np.shape(dec["W"]) != (n_visible, n_hidden):
        raise ValueError(f"params[1]['W']: expected shape ({n_visible}, {n_hidden}) (n_visible, n_hidden), "
                         f"got shape {np.shape(dec['W'])}")
    if np.shape(dec["b"]) != (n_visible,):
        raise ValueError(f"params[1]['b']: expected shape ({n_visible},), got shape {np.shape(dec['b'])}")
    for l, layer in enumerate(params):
        for k, v in layer.items():
            if not jnp.issubdtype(jnp.result_type(v), jnp.floating):
                raise ValueError(f"params[{l}][{k!r}]: expected a floating dtype, got {jnp.result_type(v)}")
    return list(params)


def _check_X(params, X, name="X", hidden=False):
    _check_params(params)
    n = np.shape(params[0]["W"])[0 if hidden else 1]
    X = validate.check_array(name, X, ndim=2, floating=True).astype(jnp.result_type(params[0]["W"]))
    if X.shape[1] != n:
        raise ValueError(f"{name}: expected {n} columns, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample (row), got 0")
    return X


def _check_output(output_activation):
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"output_activation: expected one of {list(OUTPUT_ACTIVATIONS)}, got {output_activation!r}")


def _check_hyper(lam=None, beta=None, rho=None):
    validate.check_rules(lam=lam, beta=beta, rho=rho)  # lam, beta >= 0; rho in (0, 1): the one rule table


def _check_range(X, output_activation):
    """The sigmoid decoder's outputs lie in (0, 1): data outside [0, 1] cannot be reconstructed, and its
    objective cannot fall below the error of outputs capped at 1 (8x8 patches as 0-255 pixels: about 6e5,
    a test in tests/test_autoencoder.py).  Concrete data only."""
    if output_activation == "sigmoid":
        validate.check_values("X", X, "unit", "the sigmoid decoder's outputs lie in (0, 1): scale the data "
                              "(e.g. X / 255, or patches.normalize_ufldl) or use output_activation='identity', "
                              "the linear decoder")


# -------------------------------------------------------------------------------------- forward pass
# An autoencoder is the core's two-layer network untie(params) with sigmoid hidden units: its forward
# pass, objective and output delta are the core's, in the core's column layout (one sample per column,
# z = W a + b, jaxnn.mlp.forward_cache_cols); the public functions transpose at the boundary
# (benchmarks/bench_autoencoder.py times the fit).
def _sigmoid_out(z):
    """The reconstruction's sigmoid, computed as 0.5 + 0.5 tanh(z / 2) (equal in exact arithmetic).

    XLA:CPU evaluates tanh faster than its logistic, and this output layer is the largest elementwise
    work of the fit (n_visible x m values; benchmarks/bench_autoencoder.py times the fit).  The absolute
    error stays at float rounding (about 6e-8 in float32), which is all the squared reconstruction
    error sees; outputs below ~1e-7 round to 0.  The hidden layer keeps ``jax.nn.sigmoid``: a hidden
    unit pushed far negative must keep a tiny positive activation (and a gradient back); the sparsity
    penalty's 1 - rho_hat comes from sigmoid(-z^(2)) (:func:`_kl_sum`)."""
    return 0.5 * jnp.tanh(0.5 * z) + 0.5


def _dsigmoid_out(z):
    a = _sigmoid_out(z)
    return a * (1.0 - a)  # f'(z) = f(z) (1 - f(z))


# The output layer's Activation for each output_activation; the hidden layer is activations.sigmoid.
_OUT = {"sigmoid": activations.Activation("sigmoid", _sigmoid_out, _dsigmoid_out),
        "identity": activations.identity}


def _forward_cols(params, XT, output_activation):
    """The core's column-layout cache of XT (n_visible, m): ``a[1]`` the hidden activations a^(2)
    (n_hidden, m), ``a[2]`` the reconstructions x_hat (n_visible, m)."""
    return forward_cache_cols(untie(params), XT, activations.sigmoid, _OUT[output_activation])


def _encode_cols(params, XT):
    return forward_cache_cols(params[:1], XT, activations.sigmoid).a[-1]  # a^(2) = f(W1 x + b1)


def _decode_cols(params, HT, output_activation):
    return forward_cache_cols(untie(params)[1:], HT, _OUT[output_activation]).a[-1]  # x_hat = f(W2 a^(2) + b2)


def encode(params, X):
    """Hidden activations a^(2) = sigmoid(W1 x + b1).

    Args:
      params: autoencoder params (see module doc).  X: (m, n_visible) inputs.

    Returns:
      (m, n_hidden) activations in (0, 1).
    """
    X = _check_X(params, X)
    return _encode_cols(params, X.T).T


def decode(params, H, output_activation: str = "sigmoid"):
    """Reconstruction x_hat = f(W2 h + b2) from hidden activations.

    Args:
      params: autoencoder params.  H: (m, n_hidden) hidden activations.
      output_activation: ``"sigmoid"`` or ``"identity"`` (linear decoder).

    Returns:
      (m, n_visible) reconstructions.
    """
    _check_output(output_activation)
    H = _check_X(params, H, "H", hidden=True)
    return _decode_cols(params, H.T, output_activation).T


def reconstruct(params, X, output_activation: str = "sigmoid"):
    """x_hat = decode(encode(x)) for every row of X (m, n_visible); returns (m, n_visible)."""
    _check_output(output_activation)
    X = _check_X(params, X)
    return _forward_cols(params, X.T, output_activation).a[-1].T


# ---------------------------------------------------------------------------------------- objectives
def kl_divergence(rho, rho_hat):
    """KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)), elementwise:
    the divergence between Bernoulli(rho) and Bernoulli(rho_hat).  Infinite where rho_hat is exactly 0 or 1
    (the objectives take 1 - rho_hat from the pre-activations instead, :func:`_kl_sum`)."""
    return rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat))


def _kl_of_logs(rho, log_rho_hat, log_one_minus):
    """KL(rho || rho_hat) from log(rho_hat) and log(1 - rho_hat)."""
    return rho * (jnp.log(rho) - log_rho_hat) + (1.0 - rho) * (jnp.log1p(-rho) - log_one_minus)


def _rho_hat_means(Z2, A2):
    """``(rho_hat, one_minus, C)``: rho_hat (n_hidden,) the mean of A2 = sigmoid(Z2) (n_hidden, m) over the
    samples, and 1 - rho_hat as the mean of C = sigmoid(-Z2): 1 - rho_hat itself rounds to 0 once a unit
    saturates on every sample (float32: z > 17), where the KL term was inf and beta = 0 gave 0 * inf = NaN."""
    C = jax.nn.sigmoid(-Z2)
    return jnp.mean(A2, axis=1), jnp.mean(C, axis=1), C


def _kl_sum(rho, Z2, A2):
    """sum_j KL(rho || rho_hat_j) of the hidden pre-activations Z2 and activations A2 (n_hidden, m): finite
    for every finite z (both means floored at the dtype's smallest normal number before the log: reached only
    when every sample's z passes 87 in float32, 708 in float64; that unit's penalty then has no gradient)."""
    rho_hat, one_minus, _ = _rho_hat_means(Z2, A2)
    tiny = jnp.finfo(A2.dtype).tiny
    return jnp.sum(_kl_of_logs(rho, jnp.log(jnp.maximum(rho_hat, tiny)), jnp.log(jnp.maximum(one_minus, tiny))))


def _loss_cols(params, XT, lam, output_activation):
    """(1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lam/2 (||W1||^2 + ||W2||^2): the core's objective of the
    untied network with target x, for XT (n_visible, m)."""
    return objective_cols(untie(params), XT, XT, lam, activations.sigmoid, _OUT[output_activation], "squared")


def _sparse_objective(params, cache, XT, lam, beta, rho, output_activation):
    """J_sparse from the forward pass ``cache`` (:func:`_forward_cols`) of XT (n_visible, m)."""
    # rho_hat_j = (1/m) sum_i a_j^(2)(x^(i)); a finite KL term even for a saturated unit, so beta = 0 adds 0
    J = objective_of_cache(untie(params), cache, XT, lam, _OUT[output_activation], "squared")
    return J + beta * _kl_sum(rho, cache.z[0], cache.a[1])


def _sparse_loss_cols(params, XT, lam, beta, rho, output_activation):
    cache = _forward_cols(params, XT, output_activation)
    return _sparse_objective(params, cache, XT, lam, beta, rho, output_activation)


def loss(params, X, lam=0.0, output_activation: str = "sigmoid"):
    """The plain autoencoder objective: (1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lam/2 (||W1||^2 + ||W2||^2).

    Biases are not penalized.

    Args:
      params: autoencoder params (tied or untied).  X: (m, n_visible) data.
      lam: ridge strength >= 0 (may be traced).
      output_activation: ``"sigmoid"`` or ``"identity"``.

    Returns:
      Scalar objective.
    """
    _check_output(output_activation)
    X = _check_X(params, X)
    _check_hyper(lam=lam)
    return _loss_cols(params, X.T, lam, output_activation)


def sparse_loss(params, X, lam=1e-4, beta=3.0, rho=0.01, output_activation: str = "sigmoid"):
    """UFLDL's sparse autoencoder objective.

    J_sparse = (1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lam/2 (||W1||^2 + ||W2||^2)
               + beta sum_j KL(rho || rho_hat_j),    rho_hat_j = (1/m) sum_i a_j^(2)(x_i).

    Args:
      params: autoencoder params (tied or untied).  X: (m, n_visible) data (the whole batch:
        rho_hat is its mean hidden activation).
      lam: ridge strength >= 0.  beta: sparsity weight >= 0.  rho: target activation in (0, 1).
        All three may be traced (sweepable).
      output_activation: ``"sigmoid"`` or ``"identity"``.

    Returns:
      Scalar objective.

    References:
      UFLDL, "Autoencoders and Sparsity"; lecture section 6.
    """
    _check_output(output_activation)
    X = _check_X(params, X)
    _check_hyper(lam, beta, rho)
    return _sparse_loss_cols(params, X.T, lam, beta, rho, output_activation)


def _sparsity_delta(Z2, A2, rho):
    """d sum_j KL(rho || rho_hat_j) / d z^(2) (n_hidden, m), the 1/m included: UFLDL's
    (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) f'(z^(2)) / m, with 1 - rho_hat and its f' from sigmoid(-z), as
    :func:`_kl_sum` (0 for a mean at its floor)."""
    rho_hat, one_minus, C = _rho_hat_means(Z2, A2)
    tiny, m = jnp.finfo(A2.dtype).tiny, Z2.shape[1]
    d_r = jnp.where(rho_hat > tiny, -rho / (m * rho_hat), 0.0)[:, None] * (A2 * (1.0 - A2))
    d_o = jnp.where(one_minus > tiny, (1.0 - rho) / (m * one_minus), 0.0)[:, None] * (C * (1.0 - C))
    return d_r + d_o


def _sparse_backprop_cols(params, XT, lam, beta, rho, output_activation):
    """(J_sparse, grads) of XT (n_visible, m) from one forward pass, in the core's column layout."""
    m = XT.shape[1]
    u = untie(params)
    cache = _forward_cols(params, XT, output_activation)
    J = _sparse_objective(params, cache, XT, lam, beta, rho, output_activation)
    A2, A3 = cache.a[1], cache.a[2]
    df3 = A3 * (1.0 - A3) if output_activation == "sigmoid" else None  # f'(z^(3)) from the cached a^(3)
    # delta^(3) = -(y - a^(3)) f'(z^(3)), y = x; with the batch's 1/m folded in, as in the core
    delta3 = output_delta(cache.z[1], A3, XT, _OUT[output_activation], "squared", axis=0, df=df3) / m
    delta2 = (u[1]["W"].T @ delta3) * A2 * (1.0 - A2) + beta * _sparsity_delta(cache.z[0], A2, rho)
    g1, g2 = layer_gradient(delta2, XT, u[0]["W"], lam), layer_gradient(delta3, A2, u[1]["W"], lam)
    if is_tied(params):
        return J, [{"W": g1["W"] + g2["W"].T, "b": g1["b"]}, {"b": g2["b"]}]
    return J, [g1, g2]


def sparse_backprop(params, X, lam=1e-4, beta=3.0, rho=0.01, output_activation: str = "sigmoid"):
    """The sparse objective and its gradient by UFLDL's explicit backpropagation (no autodiff).

    delta^(3) = -(x - a^(3)) f'(z^(3));
    delta^(2) = (W2^T delta^(3) + beta (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) f'(z^(2))
    (its sparsity part from the logs of rho_hat and 1 - rho_hat, finite for a saturated unit);
    dJ/dW^(l) = (1/m) sum_i delta^(l+1) a^(l)T + lam W^(l),  dJ/db^(l) = (1/m) sum_i delta^(l+1).
    With tied weights dJ/dW = dJ/dW1 + (dJ/dW2)^T.

    The arguments are those of :func:`sparse_loss`.

    Returns:
      ``(J, grads)`` with grads shaped like params.

    References:
      UFLDL, "Autoencoders and Sparsity" (the modified delta^(2)), "Backpropagation Algorithm".
    """
    _check_output(output_activation)
    X = _check_X(params, X)
    _check_hyper(lam, beta, rho)
    return _sparse_backprop_cols(params, X.T, lam, beta, rho, output_activation)


def mean_activation(params, X):
    """rho_hat: (n_hidden,) mean hidden activation over the rows of X (m, n_visible)."""
    return jnp.mean(encode(params, X), axis=0)


def max_activation_inputs(params):
    """The input of norm <= 1 that maximally activates each hidden unit: x = W1_i / ||W1_i||.

    Since a_i = sigmoid(W1_i . x + b1_i) is increasing in W1_i . x, and W1_i . x <= ||W1_i|| ||x||
    (Cauchy-Schwarz) with equality at x = W1_i / ||W1_i||, this is the maximizer.  A unit with all-zero
    weights (any x is a maximizer) gets a zero row.

    Args:
      params: autoencoder params (or any list whose first layer has ``"W": (n_hidden, n_visible)``).

    Returns:
      (n_hidden, n_visible) array, unit-norm rows.

    References:
      Lecture section 6; UFLDL, "Visualizing a Trained Autoencoder".
    """
    if not isinstance(params, (list, tuple)) or not params or not isinstance(params[0], dict) or "W" not in params[0]:
        raise ValueError("params: expected a list whose first layer is a dict with 'W' (n_hidden, n_visible)")
    W1 = validate.check_array("params[0]['W']", params[0]["W"], ndim=2, floating=True)
    norm = jnp.sqrt(jnp.sum(W1**2, axis=1, keepdims=True))
    return jnp.where(norm > 0, W1 / jnp.where(norm > 0, norm, 1.0), 0.0)


# ------------------------------------------------------------------------------------------ training
@partial(jax.jit, static_argnames=("steps", "method", "optimizer", "opt_static", "output_activation",
                                   "memory_size", "check_params"))
def _fit(params, X, lam, beta, rho, lr, opt_hyper, *, steps, method, optimizer, opt_static, output_activation,
         memory_size, check_params=False):
    XT = X.T  # transposed once, outside the loop

    def J(p):
        return _sparse_loss_cols(p, XT, lam, beta, rho, output_activation)

    opt = None if method == "lbfgs" else optimizers.make_optimizer(optimizer, lr, {**dict(opt_static), **opt_hyper})
    # Traced invalid values (see jaxnn.train): lr counts only where it is used, params only when traced.
    uses_lr = method == "gd" and optimizers.uses_lr(optimizer)
    invalid = validate.invalid_flag(lr=lr if uses_lr else None, lam=lam, beta=beta, rho=rho)  # the rule table
    if check_params:
        invalid = invalid | ~tree_all_finite(params)
    return minimize(J, params, steps=steps, optimizer=opt, memory_size=memory_size, invalid=invalid)


METHODS = ("lbfgs", "gd")


def fit(params, X, *, lam=1e-4, beta=3.0, rho=0.01, steps: int = 400, method: str = "lbfgs",
        optimizer=None, lr=None, output_activation: str = "sigmoid", memory_size: int = 10,
        optimizer_kwargs=None):
    """Train a (sparse) autoencoder on X, compiled: one ``lax.scan`` under one ``jit``.

    Minimizes :func:`sparse_loss` (``beta=0`` gives the plain :func:`loss`) on the full batch.

    Args:
      params: initial params from :func:`init` (tied or untied).
      X: (m, n_visible) training data; in [0, 1] for the sigmoid decoder (a concrete X outside that
        range raises: the decoder cannot reconstruct it), any finite values for ``"identity"``.
      lam, beta, rho: see :func:`sparse_loss` (traced: sweepable).
      steps: iterations (static).  UFLDL: 400 iterations of L-BFGS.
      method: ``"lbfgs"`` (optax.lbfgs with a zoom line search) or ``"gd"`` (an optax optimizer).
      optimizer: for ``"gd"``: ``None`` for the lecture's gradient descent ``optax.sgd(lr)``, an optax
        name (``"adam"``) or factory such as ``optax.adam`` (called with ``lr``, which stays traced)
        or a GradientTransformation (compiled once per object), as in :func:`jaxnn.train`.
      lr: learning rate for ``"gd"`` (traced; default 1.0: :func:`jaxnn.optimizers.default_lr`).
      output_activation: ``"sigmoid"`` or ``"identity"`` (linear decoder).
      memory_size: L-BFGS history length (static).
      optimizer_kwargs: for ``"gd"`` with a name or factory: its other arguments (floats traced),
        see :mod:`jaxnn.optimizers`.

    Returns:
      ``(params, history)``: ``history["loss"]`` (steps,) objective after each iteration (NaN from a
      diverged one on; all NaN if invalid), ``history["diverged_at"]`` the first non-finite iteration
      or -1 (the params returned are then the last finite ones; -1 if invalid),
      ``history["invalid"]`` bool scalar: True when a traced ``lam`` or ``beta`` is < 0, ``rho`` is
      outside (0, 1), ``lr`` <= 0 (where it is used), any of them is non-finite, or the traced initial
      params are non-finite (e.g. from a negative traced ``scale`` in :func:`init`); the params are then
      returned unchanged.  Concrete invalid values raise a ValueError instead; concrete non-finite
      initial params give ``diverged_at`` 0 (``invalid`` False).
    """
    args, static = _prepare_fit(params, X, lam=lam, beta=beta, rho=rho, steps=steps, method=method,
                                optimizer=optimizer, lr=lr, output_activation=output_activation,
                                memory_size=memory_size, optimizer_kwargs=optimizer_kwargs)
    return _fit(*args, **static)


def compile_fit(params, X, **kwargs):
    """Compile the run :func:`fit` would make, ahead of time, without running it.

    For timing the compilation apart from the run (``benchmarks/bench_autoencoder.py``,
    ``experiments/sparse_autoencoder.py``): the arguments are validated and resolved exactly as
    :func:`fit` does, then its jitted run is lowered and compiled once.

    Args:
      params, X: as in :func:`fit`, concrete (not under ``jit`` or ``vmap``: there :func:`fit` itself is
        compiled with the caller's trace).
      **kwargs: :func:`fit`'s keyword arguments (``lam``, ``beta``, ``rho``, ``steps``, ``method``, ...).

    Returns:
      ``run``: a function of no arguments; ``run()`` returns what ``fit(params, X, **kwargs)`` returns,
      calling the compiled executable directly (no validation, no tracing, no compilation).
    """
    args, static = _prepare_fit(params, X, **kwargs)
    if not all(validate.is_concrete(x) for x in jax.tree_util.tree_leaves(args)):
        raise ValueError("compile_fit: expected concrete params, X and hyperparameters, got traced values "
                         "(under jit or vmap, call fit)")
    return partial(_fit.lower(*args, **static).compile(), *args)


def _prepare_fit(params, X, *, lam=1e-4, beta=3.0, rho=0.01, steps: int = 400, method: str = "lbfgs",
                 optimizer=None, lr=None, output_activation: str = "sigmoid", memory_size: int = 10,
                 optimizer_kwargs=None):
    """fit's validation, outside jit: the traced arguments of ``_fit`` and its static keywords."""
    _check_output(output_activation)
    X = _check_X(params, X)
    validate.check_finite("X", X)
    _check_range(X, output_activation)
    _check_hyper(lam, beta, rho)
    steps = validate.check_int("steps", steps)
    memory_size = validate.check_int("memory_size", memory_size)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    dtype = X.dtype
    opt_static, opt_hyper = (), {}
    if method == "lbfgs":
        if optimizer is not None or lr is not None or optimizer_kwargs is not None:
            raise ValueError("optimizer/lr: only used with method='gd'; L-BFGS chooses its steps by line search")
        lr = 0.0
    else:
        traced = not all(validate.is_concrete(x) for x in jax.tree_util.tree_leaves(
            (params, X, lam, beta, rho, lr, optimizer_kwargs)))
        optimizer, opt_static, opt_hyper = optimizers.resolve(optimizer, optimizer_kwargs, dtype, traced=traced,
                                                              owner="autoencoder.fit", lr=lr)  # lr checked there
        if not optimizers.uses_lr(optimizer):
            lr = 0.0
        elif lr is None:
            lr = optimizers.default_lr(optimizer, "autoencoder")
    check_params = not all(validate.is_concrete(x) for x in jax.tree_util.tree_leaves(params))
    args = (params, X, jnp.asarray(lam, dtype), jnp.asarray(beta, dtype), jnp.asarray(rho, dtype),
            jnp.asarray(lr, dtype), opt_hyper)
    static = dict(steps=steps, method=method, optimizer=optimizer, opt_static=opt_static,
                  output_activation=output_activation, memory_size=memory_size, check_params=check_params)
    return args, static


# ------------------------------------------------------------------------------------- the trainable
#: :func:`trainable`'s default learning rate for an adaptive optimizer (Adam's family).  ``fit``'s 1.0
#: (:data:`jaxnn.optimizers.DEFAULT_LR`: plain gradient descent, on this objective's scale) would move
#: every weight by about 1 per Adam step and saturate the sigmoids.  On UFLDL's 8x8 / 25-unit problem
#: (2000 patches, full batch, 2000 steps) 0.03 was the one rate of {0.01, 0.03, 0.1, 0.3} within 5% of
#: 400 L-BFGS iterations for beta 0, (0.3, 0.05) and (3, 0.1): 0.1 and 0.3 saturate the plain objective
#: (beta 0) and 0.01 is slower.  UFLDL's own (3, 0.01) sits on a plateau near 0.47 that every rate
#: leaves slowly (0.03: 0.42 after 4000 steps, L-BFGS 0.39 after 400); sweep lr where it matters.
TRAINABLE_LR = 0.03


def _trainable_lr(optimizer, lr):
    """The default ``lr``: plain gradient descent (``optimizer=None``) ``fit``'s rule (1.0), a
    GradientTransformation none, any other optimizer :data:`TRAINABLE_LR`."""
    if lr is not None or not optimizers.uses_lr(optimizer):
        return lr
    return optimizers.default_lr(None, "autoencoder") if optimizer is None else TRAINABLE_LR


def _trainable_fns(n_visible, n_hidden, sparse, tied, output_activation):
    """``(init, loss, metrics, invalid)`` for :func:`jaxnn.trainables.trainable_from`: the hyperparameters
    are their keyword parameters (scale; lam, beta, rho), the rest is fixed here."""

    def init_fn(key, scale):
        return init(key, n_visible, n_hidden, scale, tied=tied)

    def data_X(params, data, name):
        X = _check_X(params, data[name], name)
        _check_range(X, output_activation)  # concrete data only: a sigmoid decoder needs X in [0, 1]
        return X

    def sparse_J(params, batch, lam, beta, rho):  # sparse_loss; the ranges are invalid_fn's (traced) rule
        return _sparse_loss_cols(params, data_X(params, batch, "X").T, lam, beta, rho, output_activation)

    def plain_J(params, batch, lam):  # loss, the same way
        return _loss_cols(params, data_X(params, batch, "X").T, lam, output_activation)

    def metrics(params, data):
        out = {"mean_activation": jnp.mean(_encode_cols(params, data_X(params, data, "X").T))}
        if "X_val" in data:  # (1/m) sum 1/2 ||x_hat - x||^2: comparable across lam, beta, rho
            out["val_loss"] = _loss_cols(params, data_X(params, data, "X_val").T, 0.0, output_activation)
        return out

    def sparse_invalid(lam, beta, rho):
        return validate.invalid_flag(lam=lam, beta=beta, rho=rho)  # the rule table, as fit's

    def plain_invalid(lam):
        return validate.invalid_flag(lam=lam)

    if sparse:
        return init_fn, sparse_J, metrics, sparse_invalid
    return init_fn, plain_J, metrics, plain_invalid


def trainable(n_visible: int, n_hidden: int, *, sparse: bool = True, tied: bool = False,
              output_activation: str = "sigmoid", optimizer: OptimizerLike = "adam", optimizer_kwargs=None,
              batch_size=None, scale=None, lam=1e-4, beta=3.0, rho=0.01, lr=None) -> Trainable:
    """The (sparse) autoencoder as a :class:`jaxnn.sweeps.Trainable`, for the adaptive searches
    (``successive_halving``, ``hyperband``, ``pbt``, ``asha``, ...): :func:`jaxnn.trainables.trainable_from`
    of :func:`init` and :func:`sparse_loss` (or :func:`loss`), on its one guarded loop.

    Args:
      n_visible, n_hidden: s_1 and s_2 (static).
      sparse: True: minimize J_sparse (:func:`sparse_loss`; hyperparameters lam, beta, rho); False: the
        plain objective (:func:`loss`; lam only).
      tied, output_activation: as in :func:`init` and :func:`sparse_loss` (static).
      optimizer, optimizer_kwargs: an optax name (default ``"adam"``, constant step: a search stops and
        continues runs at budgets it does not know in advance), a factory, ``None`` (the lecture's gradient
        descent) or a GradientTransformation; the float ``optimizer_kwargs`` are hyperparameters.
        L-BFGS (``fit``'s default) is not offered: its line search does not take minibatches or segments.
      batch_size: rows per step (static; None: full batch).  With minibatches rho_hat is the minibatch's
        mean activation, an estimate of the full batch's.
      scale: the default of the init half-width r (a hyperparameter; None: UFLDL's
        ``sqrt(6 / (n_visible + n_hidden + 1))``).
      lam, beta, rho: the defaults of the hyperparameters of :func:`sparse_loss`.
      lr: the default learning rate; None: :data:`TRAINABLE_LR` (0.03) for Adam and the other adaptive
        optimizers, 1.0 (``fit``'s, :func:`jaxnn.optimizers.default_lr`) for ``optimizer=None``.

    Returns:
      A Trainable on ``data = {"X": (m, n_visible)}`` (in [0, 1] for the sigmoid decoder), optionally with
      ``"X_val"``.  Hyperparameters: ``scale``, ``lam`` (and ``beta``, ``rho`` when sparse), ``lr`` (when
      the optimizer takes one) and the float ``optimizer_kwargs``.  ``evaluate`` returns ``loss`` (the
      training objective), ``mean_activation`` (mean of rho_hat on ``X``), ``val_loss`` (with ``X_val``:
      its reconstruction error (1/m) sum 1/2 ||x_hat - x||^2, no penalty, so comparable across lam, beta,
      rho; declared "min", ``needs`` ``X_val``), ``diverged_at`` and ``invalid``: True (every metric NaN)
      for lam < 0, beta < 0, rho outside (0, 1), lr <= 0 or any non-finite one, concrete or traced, and
      for a traced negative scale (the rule table, :data:`jaxnn.validate.HYPERPARAMETERS`); a concrete
      negative scale raises in :func:`init`, as in :func:`jaxnn.trainable`.
    """
    n_visible = validate.check_int("n_visible", n_visible)
    n_hidden = validate.check_int("n_hidden", n_hidden)
    _check_output(output_activation)
    for name, flag in (("sparse", sparse), ("tied", tied)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name}: expected True or False, got {flag!r}")
    scale = float(np.sqrt(6.0 / (n_visible + n_hidden + 1))) if scale is None else scale
    defaults = {"scale": scale, "lam": lam, **({"beta": beta, "rho": rho} if sparse else {})}
    validate.check_rules(**defaults)
    defaults = {k: float(v) for k, v in defaults.items()}
    init_fn, J, metrics, invalid = _trainable_fns(n_visible, n_hidden, bool(sparse), bool(tied), output_activation)
    return trainable_from(init_fn, J, metrics=metrics, directions={"val_loss": "min"}, optimizer=optimizer,
                          optimizer_kwargs=optimizer_kwargs, batch_size=batch_size, lr=_trainable_lr(optimizer, lr),
                          defaults=defaults, invalid=invalid, needs={"val_loss": ("X_val",)})
