"""scikit-learn compatible estimators on jaxnn: MLPClassifier, MLPRegressor, and the searches
MLPGridSearchCV, MLPRandomizedSearchCV, MLPHalvingGridSearchCV and MLPHalvingRandomSearchCV (in
:mod:`jaxnn._search`, importable from here).

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same
constructor parameters, names and defaults, the same objective (log-loss, or half squared error /
half Poisson deviance, averaged over samples with ``sample_weight``, plus
``alpha / (2 n) * sum_l ||W^(l)||^2`` on weights only), the same Glorot init drawn from the same
``random_state`` stream, the same solvers (sgd with momentum / Nesterov, adam, lbfgs), learning-rate
schedules, early stopping and ``tol`` / ``n_iter_no_change`` rules, and the same fitted attributes
(``coefs_[l]`` is ``W^(l).T`` as NumPy, shaped (n_in, n_out) as in scikit-learn).  The training
runs compiled: one ``lax.while_loop`` over epochs (each a ``lax.scan`` over minibatches) or over
L-BFGS iterations, inside one ``jit``; compiled functions are cached by structure, so refits with the
same shapes do not recompile.

Numerics follow the input dtype, as scikit-learn: float64 data train in float64 (JAX's x64 mode is
switched on for the call only), float32 data in float32 (faster, and what accelerators like).

Extras (keyword arguments with safe defaults):

* ``activation`` may be a callable (elementwise, jax-traceable) as well as a name;
* ``MLPClassifier(loss="squared_error")``: the lecture's squared error on the softmax/logistic output;
* ``init_scale=eps``: the lecture's N(0, eps^2) init instead of Glorot's;
* ``fit(..., validation_data=(X_val, y_val))``: a validation score and a validation loss recorded each
  epoch (``validation_scores_``, ``validation_loss_curve_``); with ``early_stopping=True`` the
  held-out split gets the same curves;
* ``callback(epoch, logs) -> bool``: called after every epoch with ``logs = {"loss",
  "validation_score", "validation_loss", "learning_rate"}``; returning True stops training (with a
  callback or ``verbose``, epochs run one compiled call each instead of all in one call).

Minibatch shuffling is scikit-learn's: every epoch's order is drawn on the host from the same
RandomState stream, by the same ``shuffle`` calls, after the same init and early-stopping split, in
blocks of epochs fed to the compiled loop (bounded memory); so with ``shuffle=True`` as with
``shuffle=False`` sgd/adam follow scikit-learn's trajectory to rounding error in float64, and the order
does not depend on the dtype (a float32 fit follows the float64 one to float32 rounding).

Where jaxnn differs from scikit-learn (everything else is the same, step for step in float64):

* lbfgs is ``optax.lbfgs`` (memory 10, zoom line search starting from step 1 each iteration, as
  scipy's does) in a compiled ``while_loop`` with
  scipy's stopping rules as scikit-learn sets them (``max|grad| <= tol``, relative decrease
  ``<= 2.22e-9``, ``max_iter`` iterations, more than ``max_fun`` objective evaluations, checked at
  the end of each iteration as scipy checks ``nfev > maxfun``, so ``n_iter_ <= max_fun`` and
  ``n_fun_`` may pass ``max_fun`` by the last line search's evaluations; a ConvergenceWarning worded
  as scikit-learn's when either limit stops it); scipy's L-BFGS-B line search differs, so the iterates
  differ (``experiments/estimator_parity.py`` measures by how much); ``loss_curve_`` (objective per
  iteration) and ``n_fun_`` are also set for lbfgs;
* 'invscaling' and 'adaptive' keep the learning rate in the compiled loop's carry and update it
  at the end of each epoch, exactly as scikit-learn (not per step, as an optax schedule would);
* the log-loss is computed from the logits (``log_softmax`` / ``softplus``), not from probabilities
  clipped at machine epsilon (the gradient is the same ``h - y``);
* sparse X (scipy.sparse CSR or CSC) is never densified: its rows are held as a padded
  (index, value) table, n_samples x (most nonzeros in a row, rounded up to a power of two), and the
  first layer gathers W's columns at a row's nonzeros (``core.ell_dot``; its gradient is a scatter-add);
  the results are the dense fit's to rounding (a different summation order).  A few very dense rows
  make the table wide: it costs n_samples x their nonzeros;
* a diverging fit without early stopping raises scikit-learn's ValueError as soon as an epoch turns
  non-finite (scikit-learn raises after max_iter NaN epochs) and leaves coefs_ and the other fitted
  attributes as they were.  With ``early_stopping=True`` it behaves as scikit-learn (>= its fix for
  issue #29504): no raise, ``loss_curve_`` / ``validation_scores_`` NaN from the diverging epoch to
  ``max_iter`` (scikit-learn may record that first epoch's loss as inf), ``n_iter_ = max_iter``, a
  ConvergenceWarning, and the best params kept.

References:
  Lecture "Neural networks II" (objective, backprop, gradient descent); scikit-learn's
  ``sklearn/neural_network/_multilayer_perceptron.py``; Glorot & Bengio (2010); Kingma & Ba (2014).
"""

from __future__ import annotations

import copy
import warnings
from functools import partial
from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jaxnn import _estimator_core as core
from jaxnn.datasets import require
from jaxnn.guard import tree_where
from jaxnn.mlp import init_mlp

require("sklearn")
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import LabelBinarizer  # noqa: E402
from sklearn.utils import check_random_state, column_or_1d  # noqa: E402
from sklearn.utils._param_validation import Interval, Options, StrOptions  # noqa: E402
from sklearn.utils.metaestimators import available_if  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels  # noqa: E402
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data  # noqa: E402

_SEARCHES = ("MLPGridSearchCV", "MLPRandomizedSearchCV", "MLPHalvingGridSearchCV", "MLPHalvingRandomSearchCV")
__all__ = ["MLPClassifier", "MLPRegressor", *_SEARCHES]


def __getattr__(name):
    """The search classes live in :mod:`jaxnn._search` (which imports this module); they are
    importable from here as well."""
    if name in _SEARCHES:
        from jaxnn import _search

        return getattr(_search, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_STOCHASTIC = ("sgd", "adam")
_DTYPES = (np.float64, np.float32)
_SPARSE = ("csr", "csc")  # accepted sparse formats (CSC is converted to CSR rows)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _hyper(est, dtype) -> dict:
    """The traced hyperparameters of an estimator, as 0-d arrays of ``dtype``."""
    patience = est.n_iter_no_change
    vals = dict(alpha=est.alpha, learning_rate_init=est.learning_rate_init, power_t=est.power_t,
                momentum=est.momentum, beta_1=est.beta_1, beta_2=est.beta_2, epsilon=est.epsilon,
                tol=est.tol, n_iter_no_change=np.inf if patience == np.inf else float(patience),
                max_fun=float(est.max_fun))
    return {k: np.asarray(v, dtype) for k, v in vals.items()}


def _bucket(n: int, minimum: int = 8) -> int:
    """The next power of two >= n (at least ``minimum``): a padded size, so that data of nearby
    shapes share one compiled function.  Padded rows carry weight 0, padded input columns are 0 and
    meet zero weights that get zero gradients, so padding never changes a result."""
    return max(minimum, 1 << (int(n) - 1).bit_length())


def _bucket_fine(n: int, minimum: int = 16) -> int:
    """The next size >= n among 16 per octave (1024, 1088, 1152, ...; multiples of 16, at least ``minimum``):
    the row padding of full-batch data (an L-BFGS fit, a batch that holds every row, a validation set,
    the searches' score and full-batch tables), at most 6.25% waste where a power of two wastes up to
    100% (a full-batch objective's cost grows with the padded rows)."""
    n = max(int(n), minimum)
    step = 1 << max(4, (n - 1).bit_length() - 5)
    return -(-n // step) * step


def _batch_size(n: int, batch_size) -> int:
    """scikit-learn's effective batch size for n training rows: min(200, n) for 'auto', else clipped to [1, n]."""
    return min(200, n) if batch_size == "auto" else int(np.clip(batch_size, 1, n))


def _validation_split(est, Y, rs) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) row indices of scikit-learn's early-stopping split of the n rows of the
    targets Y (n, k), drawn from ``rs`` with ``est.validation_fraction``, as its ``train_test_split`` of
    (X, y) draws them.  A classifier stratifies on its boolean label indicator (a too-rare class is
    then named 'True' / 'False', as scikit-learn's error names it)."""
    stratify = Y.astype(bool) if (is_classifier(est) and Y.shape[1] == 1) else None
    idx, vidx = train_test_split(np.arange(len(Y)), random_state=rs, test_size=est.validation_fraction,
                                 stratify=stratify)
    if len(vidx) < 2:
        raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size "
                         "of your dataset.")
    return idx, vidx


def _batch_layout(n: int, batch_size) -> tuple[int, int, int]:
    """(effective batch size, batch capacity B, padded row count N) for n training rows."""
    bs = _batch_size(n, batch_size)
    if bs >= n:
        N = _bucket_fine(n)
        return n, N, N
    return bs, bs, _ceil(n, bs) * bs


def _pad(a, N, D=None):
    """Zero-pad the rows of ``a`` to N (and its columns to D)."""
    a = np.asarray(a)
    D = a.shape[1] if (D is None and a.ndim == 2) else D
    if a.shape[0] == N and (a.ndim == 1 or a.shape[1] == D):
        return a
    out = np.zeros((N,) + ((D,) if a.ndim == 2 else a.shape[1:]), a.dtype)
    out[(slice(0, a.shape[0]),) + ((slice(0, a.shape[1]),) if a.ndim == 2 else ())] = a
    return out


def _width(X) -> int:
    """The padded input width D: the next power of two for dense X (shapes share compiled functions);
    sparse X keeps its width (the first layer's dense update dominates a sparse fit: no padded columns)."""
    return X.shape[1] if sp.issparse(X) else _bucket(X.shape[1])


def _ell(X, N) -> core.Ell:
    """Sparse X (m, d) as :class:`core.Ell` rows zero-padded to N rows, K = the next power of two >= its
    most nonzeros in a row (host memory O(N K), never m x d)."""
    X = X.tocsr()
    counts = np.diff(X.indptr)
    K = _bucket(int(counts.max(initial=1)), 1)
    idx, val = np.zeros((N, K), np.int32), np.zeros((N, K), X.dtype)
    rows = np.repeat(np.arange(X.shape[0]), counts)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)
    idx[rows, slots], val[rows, slots] = X.indices, X.data
    return core.Ell(idx, val)


def _pad_X(X, N, D):
    """Inputs padded to N rows: dense X zero-padded to (N, D), sparse X as :func:`_ell` rows."""
    return _ell(X, N) if sp.issparse(X) else _pad(X, N, D)


def _pad_inputs(params, D, sparse=False):
    """Params in the core's layout: the first layer's W (s_2, d) zero-padded to (s_2, D) (columns met
    by zero-padded inputs); for sparse inputs held transposed, (d, s_2) (see :class:`core.Ell`)."""
    W = params[0]["W"]
    if sparse:
        return [{"W": np.ascontiguousarray(np.asarray(W).T), "b": params[0]["b"]}] + list(params[1:])
    if W.shape[1] == D:
        return params
    return [{"W": _pad(W.T, D).T.copy(), "b": params[0]["b"]}] + list(params[1:])


def _unpad_inputs(params, d, sparse=False):
    """The inverse of :func:`_pad_inputs`: the first layer's W as (s_2, d)."""
    W = params[0]["W"]
    return [{"W": np.ascontiguousarray(np.asarray(W).T) if sparse else W[:, :d], "b": params[0]["b"]}] + \
        list(params[1:])


def _is_params(t) -> bool:
    return isinstance(t, list) and len(t) > 0 and isinstance(t[0], dict) and "W" in t[0]


def _map_params(fn, tree):
    """``fn`` applied to every params-shaped subtree (a list of ``{"W", "b"}`` layers) of ``tree``: an
    optimizer state's moments are laid out as the params."""
    return jax.tree_util.tree_map(lambda t: fn(t) if _is_params(t) else t, tree, is_leaf=_is_params)


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


_ORDER_BLOCK = 1 << 22  # int32 entries in one block of epoch orders fed to a compiled call (16 MiB)


def _order_rows(N: int, max_iter: int) -> int:
    """Epochs per block of orders for N padded rows (a static shape: at most ``max_iter``)."""
    return int(max(1, min(max_iter, _ORDER_BLOCK // max(N, 1))))


def _nan_tail(curve: list, keep: int, length: int) -> list:
    """``curve[:keep]`` then NaN up to ``length`` entries (a diverged fit's epochs, as scikit-learn records)."""
    return list(curve[:keep]) + [float("nan")] * (length - keep)


class _Orders:
    """scikit-learn's per-epoch minibatch orders, drawn on the host from its NumPy stream, in blocks.

    scikit-learn's ``_fit_stochastic`` runs ``sample_idx = shuffle(sample_idx, random_state=rs)`` at the
    start of every epoch (after the init and the early-stopping split drew from ``rs``):
    ``sklearn.utils.shuffle`` permutes by ``rs.shuffle(arange(n))``, so epoch e's order is epoch e-1's
    order permuted by a fresh shuffle.  The same draws, in the same order, give the same orders, in any
    dtype.  :meth:`block` draws the next epochs as an (rows, N) int32 array (row j: the order of the n
    real rows, then the padded slots n..N-1); :meth:`finish` rewinds ``rs`` to where scikit-learn's
    would be after the epochs that actually ran (a caller's ``RandomState``, or NumPy's global one for
    ``random_state=None``, advances exactly as under scikit-learn).
    """

    def __init__(self, rs, n: int, N: int):
        self.rs, self.n, self.N = rs, int(n), int(N)
        self.idx = np.arange(self.n)
        self.drawn = 0
        self._mark = (0, rs.get_state(), self.idx)

    def _next(self):
        p = np.arange(self.n)
        self.rs.shuffle(p)
        self.idx = self.idx[p]
        return self.idx

    def block(self, epochs: int, rows: int) -> np.ndarray:
        """The next ``epochs`` orders in a (rows, N) array (rows past ``epochs`` are never read)."""
        self._mark = (self.drawn, self.rs.get_state(), self.idx)
        out = np.empty((rows, self.N), np.int32)
        out[:, self.n:] = np.arange(self.n, self.N, dtype=np.int32)
        for j in range(epochs):
            out[j, :self.n] = self._next()
        out[epochs:, :self.n] = np.arange(self.n, dtype=np.int32)
        self.drawn += epochs
        return out

    def finish(self, n_epochs: int) -> None:
        """Leave ``rs`` as scikit-learn's after ``n_epochs`` shuffles (redraws the last block's used part)."""
        start, state, idx = self._mark
        if n_epochs < start:
            return
        if n_epochs < self.drawn:
            self.rs.set_state(state)
            self.idx, self.drawn = idx, start
        for _ in range(n_epochs - self.drawn):
            self._next()
        self.drawn = max(self.drawn, n_epochs)


class _BaseMLP(BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor (not for direct use)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"}), callable],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "init_scale": [None, Interval(Real, 0, None, closed="neither")],
        "callback": [None, callable],
    }

    # ------------------------------------------------------------------ structure
    def _hidden_sizes(self) -> list:
        h = self.hidden_layer_sizes
        h = list(h) if hasattr(h, "__iter__") else [h]
        if any(not isinstance(s, (Integral, np.integer)) or s <= 0 for s in h):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {h}.")
        return [int(s) for s in h]

    def _jax_activation(self):
        return _HIDDEN[self.activation] if isinstance(self.activation, str) else self.activation

    def _static(self, out, **kw) -> core.Static:
        loss = "log_loss" if is_classifier(self) and self.loss == "log_loss" else self.loss
        return core.Static(activation=self._jax_activation(), out=out, loss=loss, classifier=is_classifier(self),
                           solver=self.solver, schedule=self.learning_rate, nesterov=bool(self.nesterovs_momentum),
                           shuffle=bool(self.shuffle), early_stopping=bool(self.early_stopping),
                           max_iter=_bucket(self.max_iter), **kw)  # buffer length; max_iter itself is traced

    def _init_params(self, rs, layer_units, dtype) -> list:
        """Glorot-uniform init drawn from ``rs`` exactly as scikit-learn's ``_init_coef`` (coefs first,
        then intercepts, layer by layer), or N(0, init_scale^2) (the lecture's) when set."""
        if self.init_scale is not None:
            key = jax.random.key(rs.randint(np.iinfo(np.int32).max))
            with jax.enable_x64(dtype == np.float64):
                return _to_numpy(init_mlp(key, layer_units, float(self.init_scale), dtype=dtype))
        params = []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            factor = 2.0 if self.activation == "logistic" else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
            intercept = rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False)
            params.append({"W": np.ascontiguousarray(coef.T), "b": intercept})
        return params

    def _params_from_attrs(self, dtype) -> list:
        return [{"W": np.asarray(c, dtype).T.copy(), "b": np.asarray(b, dtype).copy()}
                for c, b in zip(self.coefs_, self.intercepts_)]

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y, sample_weight=None, incremental=False, validation_data=None, binarizer=None):
        self._validate_params()
        hidden = self._hidden_sizes()
        if self.early_stopping and incremental and self.solver in _STOCHASTIC:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y, lb = self._validate_input(X, y, incremental, reset=first_pass, binarizer=binarizer)
        dtype = X.dtype
        n_samples, n_features = X.shape
        sw = np.ones(n_samples, dtype) if sample_weight is None else \
            _check_sample_weight(sample_weight, X, dtype=dtype)
        n_outputs = Y.shape[1]
        layer_units = [n_features] + hidden + [n_outputs]
        rs = check_random_state(self.random_state)
        if not first_pass and [c.shape for c in self.coefs_] != list(zip(layer_units[:-1], layer_units[1:])):
            raise ValueError(f"warm_start / partial_fit: the network has layers {[c.shape for c in self.coefs_]}, "
                             f"the data and hidden_layer_sizes need {list(zip(layer_units[:-1], layer_units[1:]))}")
        params = self._init_params(rs, layer_units, dtype) if first_pass else self._params_from_attrs(dtype)
        out = self._out_activation(lb)
        if validation_data is not None:
            validation_data = self._check_validation_data(validation_data, lb)
        attrs = {"n_outputs_": n_outputs, "n_layers_": len(layer_units), "out_activation_": out}
        if lb is not None:
            attrs.update(_label_binarizer=lb, classes_=lb.classes_)
        with jax.enable_x64(dtype == np.float64):
            if self.solver in _STOCHASTIC:
                attrs.update(self._fit_stochastic(X, Y, sw, params, out, rs, first_pass, incremental, validation_data))
            else:
                attrs.update(self._fit_lbfgs(X, Y, sw, params, out))
        for name, value in attrs.items():  # nothing is set before training succeeded
            setattr(self, name, value)
        return self

    def _check_validation_data(self, validation_data, lb):
        Xv, yv = validation_data
        Xv, yv = validate_data(self, Xv, yv, reset=False, multi_output=True, dtype=_DTYPES,
                               y_numeric=not is_classifier(self), accept_sparse=_SPARSE)
        return Xv, self._encode(yv, lb, Xv.dtype)

    def _fit_stochastic(self, X, Y, sw, params, out, rs, first_pass, incremental, validation_data):
        dtype = X.dtype
        monitor = bool(self.early_stopping) or validation_data is not None
        if self.early_stopping and validation_data is None:
            idx, vidx = _validation_split(self, Y, rs)
            X, Xv, Y, Yv, sw, swv = X[idx], X[vidx], Y[idx], Y[vidx], sw[idx], sw[vidx]
        elif validation_data is not None:
            Xv, Yv = validation_data
            Xv = Xv.astype(dtype, copy=False)
            if sp.issparse(X) != sp.issparse(Xv):  # the validation rows in the training rows' kind
                Xv = sp.csr_matrix(Xv) if sp.issparse(X) else Xv.toarray()
            swv = np.ones(Xv.shape[0], dtype)
        else:
            Xv, Yv, swv = X[:1], Y[:1], np.ones(1, dtype)
        n = X.shape[0]
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
        bs, B, N = _batch_layout(n, self.batch_size)
        Nv = _bucket_fine(Xv.shape[0])
        d = X.shape[1]
        D, sparse = _width(X), sp.issparse(X)
        params = _pad_inputs(params, D, sparse)
        static = self._static(out, monitor=monitor, batch=B, n_steps=N // B, incremental=bool(incremental))
        hyper = _hyper(self, dtype)
        reuse = incremental and getattr(self, "_opt_state", None) is not None and self._opt_solver == self.solver
        opt_state = _map_params(lambda p: _pad_inputs(p, D, sparse), self._opt_state) if reuse else None
        lr = self._learning_rate if reuse else self.learning_rate_init
        keep = not first_pass
        best_params = getattr(self, "_best_params", None) if keep else None
        if best_params is not None:
            best_params = _pad_inputs(best_params, D, sparse)
        prev_best_loss = getattr(self, "best_loss_", None) if keep else None
        state = core.start_state(
            params, opt_state, lr, getattr(self, "t_", 0) if keep else 0,
            getattr(self, "_no_improvement_count", 0) if keep else 0,
            (prev_best_loss if prev_best_loss is not None else np.inf),
            (self.best_validation_score_ if keep and getattr(self, "best_validation_score_", None) is not None
             else -np.inf),
            best_params if best_params is not None else params, static=static)
        data = {"X": _pad_X(X, N, D), "Y": _pad(Y.astype(dtype), N), "sw": _pad(sw, N), "n": np.int32(n),
                "bs": np.int32(bs), "Xv": _pad_X(Xv, Nv, D), "Yv": _pad(np.asarray(Yv, dtype), Nv),
                "swv": _pad(swv, Nv)}
        state = jax.device_get(self._run_epochs(state, data, hyper, static, _Orders(rs, n, N)))
        n_iter = int(state.epoch)
        if bool(state.diverged) and not self.early_stopping:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed (or lower learning_rate_init).")
        loss_curve = state.loss_curve[:n_iter].tolist()  # the state is on the host (device_get)
        val_scores = state.val_curve[:n_iter].tolist()
        val_losses = state.vloss_curve[:n_iter].tolist()
        stopped = bool(state.stopped)
        count, t = int(state.count), int(round(float(state.t)))
        if bool(state.diverged):  # early stopping: scikit-learn runs on, NaN, to max_iter and keeps the best params
            loss_curve, val_scores, val_losses = (_nan_tail(c, n_iter - 1, self.max_iter)
                                                  for c in (loss_curve, val_scores, val_losses))
            t += (self.max_iter - n_iter) * n
            n_iter, count, stopped = self.max_iter, 0, False
        if not incremental and n_iter == self.max_iter and not stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        final = state.best_params if self.early_stopping else state.params
        attrs = self._param_attrs(_unpad_inputs(final, d, sparse))
        prev = (lambda name: list(getattr(self, name, None) or [])) if keep else (lambda name: [])
        attrs.update(
            n_iter_=n_iter, t_=t,
            loss_=loss_curve[-1] if loss_curve else getattr(self, "loss_", None),
            loss_curve_=prev("loss_curve_") + loss_curve, _no_improvement_count=count,
            _opt_state=_map_params(lambda p: _unpad_inputs(p, d, sparse), state.opt_state),
            _opt_solver=self.solver, _learning_rate=float(state.lr),
            _best_params=_unpad_inputs(state.best_params, d, sparse),
        )
        if self.early_stopping:
            attrs.update(best_loss_=None, best_validation_score_=float(state.best_val))
        else:
            attrs.update(best_loss_=float(state.best_loss), best_validation_score_=None)
        if monitor:
            attrs.update(validation_scores_=prev("validation_scores_") + val_scores,
                         validation_loss_curve_=prev("validation_loss_curve_") + val_losses)
        else:
            attrs.update(validation_scores_=None, validation_loss_curve_=None)
        return attrs

    def _run_epochs(self, state, data, hyper, static, orders):
        """Epochs in blocks: each block's orders are drawn on the host (``orders``) and fed to one
        compiled call (with a callback or ``verbose``: one call per epoch, Python in between)."""
        max_iter = 1 if static.incremental else int(self.max_iter)
        per_epoch = self.callback is not None or bool(self.verbose)
        rows = 1 if static.incremental else _order_rows(data["sw"].shape[0], static.max_iter)
        e0, done = 0, False
        while e0 < max_iter and not done:
            E = min(rows, max_iter - e0)
            if static.shuffle:
                data = dict(data, order=orders.block(E, rows), e0=np.int32(e0))
            for end in (range(e0 + 1, e0 + E + 1) if per_epoch else (e0 + E,)):
                state = core.run_stochastic_jit(state, data, hyper, np.int32(end), static=static)
                if int(state.epoch) < end or bool(state.diverged) or bool(state.stopped):
                    done = True
                if per_epoch and int(state.epoch) == end and not bool(state.diverged):
                    e = end
                    logs = {"loss": float(state.loss_curve[e - 1]), "validation_score": float(state.val_curve[e - 1]),
                            "validation_loss": float(state.vloss_curve[e - 1]), "learning_rate": float(state.lr)}
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (e, logs["loss"]))
                        if static.monitor:
                            print("Validation score: %f" % logs["validation_score"])
                    if self.callback is not None and self.callback(e, logs):
                        done = True
                if done:
                    break
            e0 += E
        if static.shuffle:  # a divergence under early stopping: scikit-learn shuffles on to max_iter
            orders.finish(max_iter if (bool(state.diverged) and static.early_stopping) else int(state.epoch))
        return state

    def _fit_lbfgs(self, X, Y, sw, params, out):
        dtype = X.dtype
        static = self._static(out)
        n, d = X.shape
        N, D = _bucket_fine(n), _width(X)
        params = _pad_inputs(params, D, sp.issparse(X))
        data = {"X": _pad_X(X, N, D), "Y": _pad(Y.astype(dtype), N), "sw": _pad(sw, N)}
        hyper = _hyper(self, dtype)
        if self.callback is None and not self.verbose:  # the whole fit in one compiled call
            state, loss = core.fit_lbfgs_jit(params, data, hyper, np.int32(self.max_iter), static=static)
        else:
            state = core.lbfgs_init_jit(params, data, hyper, static=static)
            for i in range(1, self.max_iter + 1):
                state = core.run_lbfgs_jit(state, data, hyper, np.int32(i), static=static)
                if int(state.it) < i or bool(state.diverged):
                    break
                logs = {"loss": float(state.loss_curve[i - 1]), "validation_score": float("nan"),
                        "validation_loss": float("nan"), "learning_rate": float("nan")}
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (i, logs["loss"]))
                if (self.callback is not None and self.callback(i, logs)) or bool(state.stopped):
                    break
            loss = core.reported_loss_jit(state.params, data, hyper, static=static, value=state.value)
        state, loss = jax.device_get((state._replace(opt_state=None), loss))
        if bool(state.diverged):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        n_iter = int(state.it)
        if not bool(state.stopped):  # scipy's status 1, worded as scikit-learn's _check_optimize_result
            why = ("STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT" if int(state.nfev) > self.max_fun
                   else "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
            warnings.warn(f"lbfgs failed to converge after {n_iter} iteration(s) (status=1):\n{why}\n\n"
                          f"Increase the number of iterations (max_iter={self.max_iter}) or max_fun "
                          f"(max_fun={self.max_fun}; {int(state.nfev)} function evaluations) or scale the data.",
                          ConvergenceWarning, stacklevel=3)
        attrs = self._param_attrs(_unpad_inputs(state.params, d, sp.issparse(X)))
        attrs.update(n_iter_=n_iter, t_=0, loss_=float(loss),
                     loss_curve_=state.loss_curve[:n_iter].tolist(), n_fun_=int(state.nfev))
        return attrs

    @staticmethod
    def _param_attrs(params) -> dict:
        params = _to_numpy(params)
        return {"coefs_": [np.ascontiguousarray(layer["W"].T) for layer in params],
                "intercepts_": [layer["b"].copy() for layer in params]}

    # ------------------------------------------------------------------ predict
    def _forward(self, X, check_input=True):
        """h(X) (m, n_outputs) as NumPy, in the dtype of ``coefs_``."""
        if check_input:
            X = validate_data(self, X, reset=False, dtype=_DTYPES, accept_sparse=_SPARSE)
        dt = self.coefs_[0].dtype
        m = X.shape[0]
        D = _width(X)
        params = _pad_inputs([{"W": c.T, "b": b} for c, b in zip(self.coefs_, self.intercepts_)], D, sp.issparse(X))
        with jax.enable_x64(dt == np.float64):
            _, h = core.predict_outputs(jax.tree_util.tree_map(lambda a: jnp.asarray(a, dt), params),
                                        _pad_X(X.astype(dt) if sp.issparse(X) else np.asarray(X, dt),
                                               _bucket(m, 16), D),
                                        self._jax_activation(), self.out_activation_)
            return np.array(np.asarray(h)[:m])  # sliced on the host: slicing the device array compiles a slice

    def fit(self, X, y, sample_weight=None, *, validation_data=None):
        """Fit the model to X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs).

        Args:
          X: training inputs.  y: class labels (classifier) or targets (regressor).
          sample_weight: optional (n_samples,) non-negative weights.
          validation_data: optional ``(X_val, y_val)`` scored after every epoch (stochastic solvers):
            ``validation_scores_`` and ``validation_loss_curve_``; with ``early_stopping`` it replaces
            the random ``validation_fraction`` split.

        Returns:
          self.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False, validation_data=validation_data)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _mlp_init(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
              power_t, max_iter, loss, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
              early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun, init_scale,
              callback):
    for name, value in locals().items():
        if name != "self":
            setattr(self, name, value)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` compiled with JAX.

    Parameters, defaults and fitted attributes are scikit-learn's (see its documentation), plus:

    Args:
      loss: ``"log_loss"`` (default, scikit-learn's) or ``"squared_error"`` (the lecture's
        1/2 ||h(x) - y||^2 on the softmax / logistic output).
      init_scale: ``None`` (Glorot uniform, scikit-learn's) or eps > 0: W, b ~ N(0, eps^2) (the lecture's).
      callback: ``None`` or ``callback(epoch, logs) -> bool`` called after every epoch; True stops.
      activation: also accepts an elementwise jax-traceable callable.

    Fitted attributes: ``coefs_[l]`` (n_in, n_out) = ``W^(l).T``, ``intercepts_``, ``loss_``, ``best_loss_``,
    ``loss_curve_``, ``validation_scores_``, ``validation_loss_curve_`` (extra), ``best_validation_score_``,
    ``n_iter_``, ``t_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``classes_``, ``n_features_in_``,
    ``feature_names_in_``.
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"log_loss", "squared_error"})]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, loss="log_loss", init_scale=None, callback=None):
        _mlp_init(**{k: v for k, v in locals().items() if k != "__class__"})

    def _out_activation(self, lb):
        return "softmax" if lb.y_type_ == "multiclass" else "logistic"

    def _encode(self, y, lb, dtype):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return lb.transform(y).astype(dtype)

    def _validate_input(self, X, y, incremental, reset, binarizer=None):
        X, y = validate_data(self, X, y, multi_output=True, dtype=_DTYPES, reset=reset, accept_sparse=_SPARSE)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if binarizer is not None:
            lb = binarizer
        elif not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            lb = LabelBinarizer().fit(y)
        else:
            lb = self._label_binarizer
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        if binarizer is not None and len(np.setdiff1d(unique_labels(y), lb.classes_)):
            raise ValueError(f"`y` has classes not in `classes`: {lb.classes_}, 'y' has {unique_labels(y)}.")
        return X, lb.transform(y).astype(X.dtype), lb

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y) (stochastic solvers only); ``classes`` is required on the first call.

        Returns:
          self.
        """
        binarizer = None
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            binarizer = LabelBinarizer()
            binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                             f"{self.classes_!r}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True, binarizer=binarizer)

    def predict(self, X):
        """Predicted class labels (n_samples,) (or a label-indicator matrix for multilabel y)."""
        check_is_fitted(self)
        h = self._forward(X)
        if self.n_outputs_ == 1:
            h = h.ravel()
        return self._label_binarizer.inverse_transform(h)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns ordered as ``classes_``."""
        check_is_fitted(self)
        h = self._forward(X)
        if self.n_outputs_ == 1:
            h = h.ravel()
        return np.vstack([1 - h, h]).T if h.ndim == 1 else h

    def predict_log_proba(self, X):
        """log of :meth:`predict_proba`."""
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` compiled with JAX.

    Parameters, defaults and fitted attributes are scikit-learn's (``loss`` in {"squared_error",
    "poisson"}), plus ``init_scale``, ``callback`` and callable ``activation`` as in
    :class:`MLPClassifier`.
    """

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, init_scale=None, callback=None):
        _mlp_init(**{k: v for k, v in locals().items() if k != "__class__"})

    def _out_activation(self, lb):
        return "exp" if self.loss == "poisson" else "identity"

    def _encode(self, y, lb, dtype):
        y = np.asarray(y, dtype)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _validate_input(self, X, y, incremental, reset, binarizer=None):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=_DTYPES, reset=reset,
                             accept_sparse=_SPARSE)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        y = np.asarray(y, X.dtype)
        return X, (y.reshape(-1, 1) if y.ndim == 1 else y), None

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (stochastic solvers only).

        Returns:
          self.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        h = self._forward(X)
        return h.ravel() if h.shape[1] == 1 else h

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


# =============================================================================================
# grid search: every grid point x fold of one structure in one vmapped compiled call


_TRACED = ("alpha", "learning_rate_init", "power_t", "momentum", "beta_1", "beta_2", "epsilon", "tol",
           "n_iter_no_change", "max_fun")
_HOST_ONLY = ("random_state", "init_scale", "validation_fraction", "warm_start")


def _structure_key(est) -> tuple:
    """What must be equal for fits to share one compiled, vmapped call: everything but the traced
    hyperparameters and what only the host-side preparation uses (init, splits)."""
    p = est.get_params(deep=False)
    return tuple((k, repr(v) if not callable(v) else v) for k, v in sorted(p.items())
                 if k not in _TRACED and k not in _HOST_ONLY)


def _fit_group(ests, X, y, sample_weight, splits, score=False, max_iter_cap=None, train_score=False,
               keep_state=False, states=None):
    """Fit every estimator of one structure on every split in one vmapped compiled call.

    The fits (estimator i, split s) whose training data are equal train together in blocks
    (:func:`_blocks`, :func:`_fit_block`); the blocks are the rows of the :func:`run_table` call.

    ``max_iter`` is a traced entry of each run; with ``max_iter_cap`` (>= the estimators' max_iter)
    the buffers and order tables are sized for the cap, so that calls with different ``max_iter`` up
    to the cap (the rungs of a halving search over max_iter) share one compiled function.

    With ``keep_state=True`` every fit's final solver state is returned too, and ``states[i][s]`` (a
    state so returned by an earlier call with the same cap, or None) makes fit (i, s) continue from
    it to its ``max_iter`` instead of starting afresh.  A fit's trajectory does not depend on
    ``max_iter`` (which only ends the loop; the orders of epoch e are drawn the same for any
    ``max_iter`` > e, and a fit that stopped on ``tol`` stays stopped), so the continued fit equals the
    fresh fit with the larger ``max_iter``: the rungs of a halving search over max_iter pay only for
    the epochs they add.

    With ``score=True`` each fit's score on its test fold (the estimator's own ``score``: accuracy,
    or R^2 averaged over outputs, weighted by ``sample_weight``) is computed in the same call, and with
    ``train_score=True`` also on its whole train fold (early-stopping validation rows included).

    Returns ``(fits, sweep meta, scores, n_iter, states)`` (``scores``: ``(test, train)`` arrays when
    ``train_score``; ``states`` None unless ``keep_state``, and None for the sequential fallback;
    ``meta``: ``epochs_run`` the epochs or iterations the call ran, ``n_runs`` / ``n_ok`` /
    ``n_diverged`` counts of fits, ``block_size`` / ``n_blocks``): ``fits[i][s]`` builds the fitted
    estimator of estimator i on split s when called (None where the fit diverged), so that host-side objects are
    only made where a host-side scorer needs them; ``scores`` a (n_estimators, n_splits) array (NaN
    where diverged) or None when not computed; ``n_iter`` (n_estimators, n_splits) epochs or
    iterations, -1 where diverged."""
    from jaxnn.sweeps import run_table

    base = ests[0]
    n_s = len(splits)
    hidden = base._hidden_sizes()
    dtype = X.dtype
    sw_all = (np.ones(X.shape[0], dtype) if sample_weight is None
              else _check_sample_weight(sample_weight, X, dtype=dtype))
    # per split: validated targets, label binarizer (classifier), shapes
    folds = []
    for tr, _ in splits:
        proto = clone(base)
        Xf, Yf, lb = proto._validate_input(X[tr], y[tr], False, reset=True)
        folds.append((tr, Yf, lb))
    n_out = {f[1].shape[1] for f in folds}
    same = len(n_out) == 1 and (folds[0][2] is None or all(np.array_equal(f[2].classes_, folds[0][2].classes_)
                                                           for f in folds))
    if not same or base.solver not in ("sgd", "adam", "lbfgs") or base.callback is not None or base.verbose \
            or base.warm_start:
        out = [[_safe_fit(clone(e), X[tr], y[tr], None if sample_weight is None else sw_all[tr])
                for tr, _ in splits] for e in ests]
        why = "sequential fits (folds with different classes, a callback, verbose or warm_start)"
        n_iter = np.array([[-1 if est is None else int(est.n_iter_) for est in row] for row in out])
        ready = [[None if est is None else (lambda est=est: est) for est in row] for row in out]  # already fitted
        return ready, {"fallback": why, "epochs_run": int(np.maximum(n_iter, 0).sum())}, None, n_iter, None
    n_outputs = folds[0][1].shape[1]
    d = X.shape[1]
    D = _width(X)
    units = [d] + hidden + [n_outputs]
    out_act = base._out_activation(folds[0][2])
    stochastic = base.solver in _STOCHASTIC
    rows, vrows, inits, streams, ns, bss = _prepare_members(ests, folds, units, dtype, D, sp.issparse(X), stochastic)
    # targets of every row of X, in each fold's label space (the same for all folds here)
    Y_all = base._encode(y, folds[0][2], dtype) if folds[0][2] is not None else \
        np.asarray(y, dtype).reshape(len(y), -1)
    n_max = max(ns)
    if stochastic:
        _, B, N = _batch_layout(n_max, base.batch_size)
        if max(bss) > B:
            B = max(bss)
            N = _ceil(n_max, B) * B
    else:
        B, N = 1, _bucket_fine(n_max)
    Nv = _bucket_fine(max(len(v) for v in vrows))
    Nt = _bucket_fine(max(len(te) for _, te in splits))
    pad_rows = lambda r, L: _pad(np.asarray(r, np.int32), L)  # noqa: E731
    table = {  # one row per member (point i, fold s) = i * n_s + s
        "rows": np.stack([pad_rows(r, N) for r in rows]),
        "mask": np.stack([_pad(np.ones(len(r), dtype), N) for r in rows]),
        "vrows": np.stack([pad_rows(r, Nv) for r in vrows]),
        "vmask": np.stack([_pad(np.ones(len(r), dtype), Nv) for r in vrows]),
        "n": np.asarray(ns, np.int32), "bs": np.asarray(bss, np.int32),
        "params": jax.tree_util.tree_map(lambda *a: np.stack(a), *inits),
        "hyper": {k: np.stack([_hyper(e, dtype)[k] for e in ests for _ in range(n_s)]) for k in _TRACED},
        "fold": np.tile(np.arange(n_s, dtype=np.int32), len(ests)),
        "max_iter": np.full(len(ests) * n_s, int(base.max_iter), np.int32),
    }
    cap = int(base.max_iter) if max_iter_cap is None else max(int(max_iter_cap), int(base.max_iter))
    static = base._static(out_act, monitor=bool(base.early_stopping) and stochastic, batch=B,
                          n_steps=N // B if stochastic else 1)
    if stochastic and static.shuffle:  # every epoch's order of every member, from its stream as fit() draws it
        table["order"] = np.stack([_Orders(rs, n, N).block(int(base.max_iter), cap)
                                   for rs, n in zip(streams, ns)])
    X_pad = _pad_X(X, X.shape[0], D)
    shared = {"X": X_pad, "Y": Y_all, "sw": sw_all,  # + each fold's test rows (for score)
              "trows": np.stack([pad_rows(te, Nt) for _, te in splits]),
              "tmask": np.stack([_pad(np.ones(len(te), dtype), Nt) for _, te in splits])}
    train_score = bool(score and train_score)
    if train_score:
        Ntr = _bucket_fine(max(len(tr) for tr, _ in splits))
        shared.update(trrows=np.stack([pad_rows(tr, Ntr) for tr, _ in splits]),
                      trmask=np.stack([_pad(np.ones(len(tr), dtype), Ntr) for tr, _ in splits]))
    static = static._replace(max_iter=_bucket(cap))
    structure = {"static": static, "stochastic": stochastic, "score": bool(score), "train_score": train_score}
    with jax.enable_x64(dtype == np.float64):
        if keep_state:  # every member gets a carry (zeros where it starts afresh): one compiled function
            table.update(_carry_table(table, shared, structure, states, n_s))
        idx, chunk = _blocks(table, shared=max_iter_cap is not None)
        result = run_table(_fit_block, _block_table(table, idx), key=jax.random.key(0), data=shared,
                           static=structure, chunk_size=chunk)
    leaves = _member_leaves(result.leaves, idx)
    get = lambda name, i, s: np.asarray(leaves[name][i * n_s + s])  # noqa: E731

    def build(i, s):  # the fitted estimator of (point i, fold s), as fit() would leave it
        e, (tr, _, lb) = ests[i], folds[s]
        est = clone(e)
        validate_data(est, X[tr], reset=True)  # n_features_in_ (and feature names) as fit would set
        params = [{"W": get(f"W{l}", i, s), "b": get(f"b{l}", i, s)} for l in range(len(units) - 1)]
        attrs = est._param_attrs(_unpad_inputs(params, d, sp.issparse(X)))
        n_iter = int(get("n_iter", i, s))
        curves = {k: get(k, i, s)[:n_iter].tolist()
                  for k in (("loss_curve", "val_curve", "vloss_curve") if stochastic else ("loss_curve",))}
        t, count = int(round(float(get("t", i, s)))) if stochastic else 0, int(get("count", i, s)) if stochastic else 0
        if stochastic and bool(get("es_diverged", i, s)):  # as fit(): NaN epochs to max_iter, best params kept
            curves = {k: _nan_tail(c, n_iter - 1, e.max_iter) for k, c in curves.items()}
            t += (e.max_iter - n_iter) * (len(rows[i * n_s + s]))
            n_iter, count = e.max_iter, 0
        attrs.update(n_outputs_=n_outputs, n_layers_=len(units), out_activation_=out_act, n_iter_=n_iter,
                     loss_curve_=curves["loss_curve"])
        if lb is not None:
            attrs.update(_label_binarizer=lb, classes_=lb.classes_)
        if stochastic:
            attrs.update(t_=t, loss_=attrs["loss_curve_"][-1] if n_iter else None,
                         best_loss_=None if e.early_stopping else float(get("best_loss", i, s)),
                         best_validation_score_=float(get("best_val", i, s)) if e.early_stopping else None,
                         validation_scores_=curves["val_curve"] if e.early_stopping else None,
                         validation_loss_curve_=curves["vloss_curve"] if e.early_stopping else None,
                         _no_improvement_count=count)
        else:
            attrs.update(t_=0, loss_=float(get("loss", i, s)), n_fun_=int(get("nfev", i, s)))
        for k, v in attrs.items():
            setattr(est, k, v)
        return est

    diverged, n_iter, scores, new_states = _group_outputs(leaves, ests, n_s, stochastic, score, train_score,
                                                          len(table["carry"]) if keep_state else None)
    out = [[None if diverged[i, s] else partial(build, i, s) for s in range(n_s)] for i in range(len(ests))]
    meta = dict(result.meta, n_runs=diverged.size, n_ok=int((~diverged).sum()), n_diverged=int(diverged.sum()),
                epochs_run=int(np.sum(leaves["n_iter"] - leaves["start"])), block_size=idx.shape[1],
                n_blocks=idx.shape[0])  # counts of member fits; the executor's are of blocks
    return out, meta, scores, n_iter, new_states


def _prepare_members(ests, folds, units, dtype, D: int, sparse: bool, stochastic: bool) -> tuple:
    """Host-side preparation of every member (estimator i, fold s), in the order i * n_s + s, exactly as
    ``fit`` draws them from ``random_state``: ``(rows, vrows, inits, streams, ns, bss)``, the training
    and validation rows (indices into X), the padded init params, the random streams (left where the
    minibatch orders start), the training row counts and the batch sizes."""
    rows, vrows, inits, streams, ns, bss = [], [], [], [], [], []
    for e in ests:
        for tr, Yf, _ in folds:  # a RandomState instance is copied per fit, as the clone per fit of GridSearchCV
            rs = check_random_state(copy.deepcopy(e.random_state) if isinstance(e.random_state, np.random.RandomState)
                                    else e.random_state)
            inits.append(_pad_inputs(e._init_params(rs, units, dtype), D, sparse))
            idx, vidx = _validation_split(e, Yf, rs) if stochastic and e.early_stopping else \
                (np.arange(len(tr)), np.arange(1))
            rows.append(tr[idx])
            vrows.append(tr[vidx])
            streams.append(rs)
            n = len(idx)
            ns.append(n)
            bss.append(_batch_size(n, e.batch_size))
    return rows, vrows, inits, streams, ns, bss


def _group_outputs(leaves, ests, n_s: int, stochastic: bool, score: bool, train_score: bool, n_carry) -> tuple:
    """From the members' outputs: ``(diverged, n_iter, scores, states)`` as :func:`_fit_group` returns
    them (``diverged`` (n_estimators, n_splits) bool; ``states`` None unless ``n_carry``, the number
    of carried state leaves)."""
    diverged = (leaves["diverged_at"] >= 0).reshape(len(ests), n_s)
    n_iter = leaves["n_iter"].reshape(len(ests), n_s)
    if stochastic:  # diverged under early stopping: ran (NaN) to max_iter, as fit()
        es = leaves["es_diverged"].reshape(len(ests), n_s)
        n_iter = np.where(es, np.array([e.max_iter for e in ests])[:, None], n_iter)
    n_iter = np.where(diverged, -1, n_iter).astype(int)
    scores = None
    if score:
        scores = np.where(diverged, np.nan, leaves["test_score"].reshape(len(ests), n_s))
        if train_score:
            scores = (scores, np.where(diverged, np.nan, leaves["train_score"].reshape(len(ests), n_s)))
    states = None
    if n_carry is not None:
        carried = [leaves[f"carry/{j}"] for j in range(n_carry)]
        states = [[tuple(a[i * n_s + s] for a in carried) for s in range(n_s)] for i in range(len(ests))]
    return diverged, n_iter, scores, states


# Members of a _fit_group table whose training data are the same (one fold, one random_state: the same
# rows, early-stopping split and minibatch orders) train as one block: inside the block the data are
# not batched, so each minibatch's first-layer products of all the block's members are one matmul.
_DATA = ("rows", "mask", "vrows", "vmask", "n", "bs", "fold", "order")
_CPU_LANES = 4  # on a CPU, members per device per call, at least one block (the default blocks run one per device)
_CPU_BLOCK = 8  # on a CPU, members per block at most (1: no sharing); both measured: bench_estimators.py --layouts
_HALVING_BLOCK = 4  # block size when the calls of different sizes share one compiled function


def _blocks(table, shared: bool) -> tuple[np.ndarray, int]:
    """``(idx, chunk)``: ``idx`` (n_blocks, k) the members of each block (members with equal data
    fields, in table order; a short block is padded with copies of its last member), and the blocks
    per compiled call.  ``shared``: the block size and the call size do not depend on the table's
    size (the rungs of a halving search share one compiled function)."""
    import hashlib

    epochs = int(table["max_iter"].max())  # the order rows a call reads (the rest are never read)
    groups = {}
    for m in range(len(table["n"])):
        h = hashlib.blake2b(digest_size=16)
        for f in _DATA:
            if f in table:
                h.update(np.ascontiguousarray(table[f][m][:epochs] if f == "order" else table[f][m]).tobytes())
        groups.setdefault(h.digest(), []).append(m)
    biggest = max(len(g) for g in groups.values())
    accel = jax.default_backend() != "cpu"
    if shared:
        k = _bucket(biggest, 1) if accel else _HALVING_BLOCK
    else:
        k = biggest if accel else min(_CPU_BLOCK, biggest)
    idx = np.array([[g[min(j, len(g) - 1)] for j in range(a, a + k)]
                    for g in groups.values() for a in range(0, len(g), k)], np.int64)
    n_dev = len(jax.devices())
    if accel:
        return idx, (_bucket(len(idx), 1) if shared else len(idx))
    per_call = max(1, _CPU_LANES // k) * n_dev
    if not shared:  # balanced calls
        per_call = _ceil(_ceil(len(idx), _ceil(len(idx), per_call)), n_dev) * n_dev
    return idx, per_call


def _block_table(table, idx) -> dict:
    """The table of blocks: the data fields of each block's first member, and ``members``, the other
    fields of its members with a (k,) axis."""
    out = {f: table[f][idx[:, 0]] for f in _DATA if f in table}
    out["members"] = {f: jax.tree_util.tree_map(lambda a: np.asarray(a)[idx], v)
                      for f, v in table.items() if f not in _DATA}
    return out


def _member_leaves(leaves, idx) -> dict:
    """Run outputs ``{name: (n_blocks, 1, k, ...)}`` back to one row per member."""
    flat = idx.ravel()
    members, first = np.unique(flat, return_index=True)  # the first copy of a member (pads repeat one)
    pos = np.empty(int(members[-1]) + 1, np.int64)
    pos[members] = first
    return {name: x[:, 0].reshape((-1,) + x.shape[3:])[pos] for name, x in leaves.items()}


def _carry_table(table, shared, structure, states, n_s) -> dict:
    """The ``carry`` and ``resume`` columns of a :func:`_fit_group` table: member i * n_s + s resumes
    from ``states[i][s]`` where that is given; the other members get zeros of the state's shapes."""
    shapes = _start_shapes(table, shared, static=structure["static"], stochastic=structure["stochastic"])
    M = len(table["n"])
    carry = [np.zeros((M,) + tuple(a.shape), a.dtype) for a in shapes]
    resume = np.zeros(M, bool)
    for i, row in enumerate(states or []):
        for s, st in enumerate(row or []):
            if st is not None:
                resume[i * n_s + s] = True
                for c, a in zip(carry, st):
                    c[i * n_s + s] = a
    return {"carry": tuple(carry), "resume": resume}


def _take_rows(X, r):
    """Rows ``r`` of dense X or of an :class:`core.Ell`."""
    return jax.tree_util.tree_map(lambda a: a[r], X)


def _member_data(shared, rows, mask, vrows, vmask, n, bs, order=None) -> dict:
    """One member's training data (the ``data`` of :func:`core.run_stochastic` / :func:`core.run_lbfgs`)
    from the shared rows of X and its row table (see :func:`_fit_group`)."""
    Xs, Ys, sws = shared["X"], shared["Y"], shared["sw"]
    data = {"X": _take_rows(Xs, rows), "Y": Ys[rows], "sw": sws[rows] * mask, "n": n, "bs": bs,
            "Xv": _take_rows(Xs, vrows), "Yv": Ys[vrows], "swv": sws[vrows] * vmask}
    if order is not None:
        data.update(order=order, e0=jnp.int32(0))
    return data


def _start(params, data, hyper, *, static, stochastic: bool):
    """A fresh fit's state (:class:`core.State`, or :class:`core.LState` for L-BFGS) from its init params."""
    if stochastic:
        return core.start_state(params, None, hyper["learning_rate_init"], 0, 0, np.inf, -np.inf, params,
                                static=static)
    return core.lbfgs_init(params, data, hyper, static)


def _start_shapes(table, shared, *, static, stochastic: bool) -> list:
    """The ShapeDtypeStructs of :func:`_start`'s leaves for one row of a :func:`_fit_group` table."""
    def start(r, sh):
        data = _member_data(sh, r["rows"], r["mask"], r["vrows"], r["vmask"], r["n"], r["bs"], r.get("order"))
        return _start(r["params"], data, r["hyper"], static=static, stochastic=stochastic)

    return jax.tree_util.tree_leaves(jax.eval_shape(start, jax.tree_util.tree_map(lambda a: a[0], table), shared))


def _fit_block(key, shared, *, static, stochastic: bool, score: bool, train_score: bool, rows, mask, vrows,
               vmask, n, bs, fold, members, order=None):
    """One block of :func:`_fit_group`: its members' fits on the block's data, a row of its table run by
    :func:`jaxnn.sweeps.run_table` (``key`` is unused: ``order`` holds every epoch's minibatch order,
    drawn from ``random_state`` as ``fit`` draws it).  ``members`` (a (k,) axis on each leaf): the
    init ``params``, ``hyper``, ``max_iter`` and, in a halving search, ``carry`` (the leaves of a state
    returned by an earlier call) and ``resume`` (continue from it instead of from ``params``).  The data
    are not batched over the members.  Returns per member the fitted state's arrays (with ``carry``:
    the final state's leaves too) and the fit's status (``diverged_at``: the epoch or iteration where
    it diverged, -1 if it did not)."""
    data = _member_data(shared, rows, mask, vrows, vmask, n, bs, order)

    def start(m):
        state = _start(m["params"], data, m["hyper"], static=static, stochastic=stochastic)
        if "carry" in m:  # a survivor of a halving rung continues where its last rung stopped
            state = tree_where(m["resume"], jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(state),
                                                                         m["carry"]), state)
        return state

    states = jax.vmap(start)(members)
    if stochastic:
        finals = core.run_stochastic_block(states, data, members["hyper"], members["max_iter"], static)
    else:
        finals = jax.vmap(lambda st, m: core.run_lbfgs(st, data, m["hyper"], m["max_iter"], static))(states, members)
    outputs = partial(_outputs, shared, data, fold, static=static, stochastic=stochastic, score=score,
                      train_score=train_score, carry="carry" in members)
    return jax.vmap(outputs)(states, finals, members["hyper"])


def _outputs(shared, data, fold, state, s, hyper, *, static, stochastic: bool, score: bool, train_score: bool,
             carry: bool) -> dict:
    """One member's outputs (see :func:`_fit_block`) from its start ``state`` and final state ``s``."""
    if stochastic:
        final = s.best_params if static.early_stopping else s.params
        # under early stopping a divergence is not a failure (scikit-learn keeps the best params): status ok
        failed = s.diverged & (not static.early_stopping)
        res = {"n_iter": s.epoch, "stopped": s.stopped, "diverged_at": jnp.where(failed, s.epoch, -1),
               "es_diverged": s.diverged & static.early_stopping, "t": s.t,
               "count": s.count, "best_loss": s.best_loss, "best_val": s.best_val, "loss_curve": s.loss_curve,
               "val_curve": s.val_curve, "vloss_curve": s.vloss_curve, "lr": s.lr, "start": state.epoch}
    else:
        final = s.params
        res = {"n_iter": s.it, "stopped": s.stopped, "diverged_at": jnp.where(s.diverged, s.it, -1), "nfev": s.nfev,
               "loss": core.reported_loss(s.params, data, hyper, static, value=s.value), "loss_curve": s.loss_curve,
               "start": state.it}
    for l, layer in enumerate(final):
        res[f"W{l}"], res[f"b{l}"] = layer["W"], layer["b"]
    if carry:
        res["carry"] = tuple(jax.tree_util.tree_leaves(s))
    Xs, Ys, sws = shared["X"], shared["Y"], shared["sw"]
    if score:
        te = shared["trows"][fold]
        res["test_score"] = core.score(final, _take_rows(Xs, te), Ys[te], sws[te] * shared["tmask"][fold], static)[0]
    if train_score:
        tr = shared["trrows"][fold]
        res["train_score"] = core.score(final, _take_rows(Xs, tr), Ys[tr], sws[tr] * shared["trmask"][fold],
                                        static)[0]
    return res


def _safe_fit(est, X, y, sw):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(X, y, sample_weight=sw)
    except ValueError as e:
        if "non-finite" in str(e):
            return None
        raise
