"""scikit-learn's MLPClassifier and MLPRegressor on jaxnn's compiled training (see :mod:`jaxnn.estimators`).

:class:`BaseMLP` holds what the two share: parameter validation, the init drawn from ``random_state``
as scikit-learn draws it, the fits (stochastic solvers in blocks of compiled epochs, L-BFGS in one
compiled call) and the prediction path.
"""

from __future__ import annotations

from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from jaxnn.estimators import _epochs as core
from jaxnn.estimators._epochs import STOCHASTIC
from jaxnn.estimators._layout import (
    DTYPES,
    SPARSE,
    Orders,
    adaptive_rate,
    batch_layout,
    bucket,
    bucket_fine,
    cast_floats,
    map_params,
    nan_tail,
    order_rows,
    pad,
    pad_inputs,
    pad_X,
    to_numpy,
    traced_hyper,
    unpad_inputs,
    validation_split,
    width,
)
from jaxnn.mlp import init_mlp
from jaxnn.validate import warn

__all__ = ["BaseMLP", "MLPClassifier", "MLPRegressor"]

_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


class BaseMLP(BaseEstimator):
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
        """``hidden_layer_sizes`` as a list of ints, which must be positive integers: scikit-learn's message for
        sizes <= 0; a ValueError for a float such as 4.0 (scikit-learn's fit raises numpy's TypeError)."""
        h = self.hidden_layer_sizes
        h = list(h) if hasattr(h, "__iter__") else [h]
        if any(isinstance(s, bool) or not isinstance(s, (Integral, np.integer)) for s in h):
            raise ValueError(f"hidden_layer_sizes must be positive integers (an int in the range [1, inf) or an "
                             f"array-like of them), got {h}.")
        if any(s <= 0 for s in h):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {h}.")
        return [int(s) for s in h]

    def _jax_activation(self):
        return _HIDDEN[self.activation] if isinstance(self.activation, str) else self.activation

    def _static(self, out, **kw) -> core.Static:
        loss = "log_loss" if is_classifier(self) and self.loss == "log_loss" else self.loss
        return core.Static(activation=self._jax_activation(), out=out, loss=loss, classifier=is_classifier(self),
                           solver=self.solver, schedule=self.learning_rate, nesterov=bool(self.nesterovs_momentum),
                           shuffle=bool(self.shuffle), early_stopping=bool(self.early_stopping),
                           max_iter=bucket(self.max_iter), **kw)  # buffer length; max_iter itself is traced

    def _init_params(self, rs, layer_units, dtype) -> list:
        """Glorot-uniform init drawn from ``rs`` exactly as scikit-learn's ``_init_coef`` (coefs first,
        then intercepts, layer by layer), or N(0, init_scale^2) (the lecture's) when set."""
        if self.init_scale is not None:
            key = jax.random.key(rs.randint(np.iinfo(np.int32).max))
            with jax.enable_x64(dtype == np.float64):
                return to_numpy(init_mlp(key, layer_units, float(self.init_scale), dtype=dtype))
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
        if self.solver not in STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y, sample_weight=None, incremental=False, validation_data=None, binarizer=None):
        self._validate_params()
        hidden = self._hidden_sizes()
        if self.early_stopping and incremental and self.solver in STOCHASTIC:
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
            validation_data = self._check_validation_data(validation_data, lb, n_outputs)
        attrs = {"n_outputs_": n_outputs, "n_layers_": len(layer_units), "out_activation_": out}
        if lb is not None:
            attrs.update(_label_binarizer=lb, classes_=lb.classes_)
        with jax.enable_x64(dtype == np.float64):
            if self.solver in STOCHASTIC:
                attrs.update(self._fit_stochastic(X, Y, sw, params, out, rs, first_pass, incremental, validation_data))
            else:
                attrs.update(self._fit_lbfgs(X, Y, sw, params, out))
        for name, value in attrs.items():  # nothing is set before training succeeded
            setattr(self, name, value)
        return self

    def _check_validation_data(self, validation_data, lb, n_outputs: int):
        """``(X_val, Y_val)``: ``validation_data`` validated as the training data, y_val encoded as y (a
        ValueError naming validation_data where y_val has classes not in ``classes_`` or another number of
        outputs than y's ``n_outputs``)."""
        Xv, yv = validation_data
        Xv, yv = validate_data(self, Xv, yv, reset=False, multi_output=True, dtype=DTYPES,
                               y_numeric=not is_classifier(self), accept_sparse=SPARSE)
        Yv = self._validation_targets(yv, lb, Xv.dtype)
        if Yv.shape[1] != n_outputs:
            raise ValueError(f"validation_data: y_val has {Yv.shape[1]} output(s), expected {n_outputs} as y has.")
        return Xv, Yv

    def _fit_stochastic(self, X, Y, sw, params, out, rs, first_pass, incremental, validation_data):
        """sgd / adam: the fitted attributes of a fit (see :meth:`_stochastic_attrs`)."""
        dtype = X.dtype
        monitor = bool(self.early_stopping) or validation_data is not None
        X, Y, sw, Xv, Yv, swv = self._training_sets(X, Y, sw, rs, validation_data)
        n = X.shape[0]
        if self.batch_size != "auto" and self.batch_size > n:
            warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        bs, B, N = batch_layout(n, self.batch_size)
        Nv = bucket_fine(Xv.shape[0])
        D, sparse = width(X), sp.issparse(X)
        static = self._static(out, monitor=monitor, batch=B, n_steps=N // B, incremental=bool(incremental))
        lr = self._learning_rate if self._continues(incremental) else float(self.learning_rate_init)
        state = self._start_state(pad_inputs(params, D, sparse), static, D, sparse, keep=not first_pass,
                                  incremental=incremental, lr=lr)
        data = {"X": pad_X(X, N, D), "Y": pad(Y.astype(dtype), N), "sw": pad(sw, N), "n": np.int32(n),
                "bs": np.int32(bs), "Xv": pad_X(Xv, Nv, D), "Yv": pad(np.asarray(Yv, dtype), Nv),
                "swv": pad(swv, Nv)}
        state = jax.device_get(self._run_epochs(state, data, traced_hyper(self, dtype, lr), static, Orders(rs, n, N)))
        if bool(state.diverged) and not self.early_stopping:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed (or lower learning_rate_init).")
        return self._stochastic_attrs(state, n, X.shape[1], sparse, keep=not first_pass, incremental=incremental,
                                      monitor=monitor, lr=lr)

    def _training_sets(self, X, Y, sw, rs, validation_data) -> tuple:
        """``(X, Y, sw, Xv, Yv, swv)``: the training rows and the validation set (scikit-learn's
        early-stopping split drawn from ``rs``, or ``validation_data``, or one row that nothing reads)."""
        dtype = X.dtype
        if self.early_stopping and validation_data is None:
            idx, vidx = validation_split(self, Y, rs)
            return X[idx], Y[idx], sw[idx], X[vidx], Y[vidx], sw[vidx]
        if validation_data is not None:
            Xv, Yv = validation_data
            Xv = Xv.astype(dtype, copy=False)
            if sp.issparse(X) != sp.issparse(Xv):  # the validation rows in the training rows' kind
                Xv = sp.csr_matrix(Xv) if sp.issparse(X) else Xv.toarray()
            return X, Y, sw, Xv, Yv, np.ones(Xv.shape[0], dtype)
        return X, Y, sw, X[:1], Y[:1], np.ones(1, dtype)

    def _continues(self, incremental) -> bool:
        """Whether the fit continues the last one's optimizer (its state and learning rate): partial_fit
        after a fit or partial_fit of the same solver."""
        return bool(incremental) and getattr(self, "_opt_state", None) is not None and self._opt_solver == self.solver

    def _start_state(self, params, static, D: int, sparse: bool, *, keep: bool, incremental: bool, lr: float):
        """The compiled loop's first state at the learning rate ``lr``: fresh, or (``keep``: warm_start /
        partial_fit) continuing from the fitted attributes (optimizer state, t_, counters, best params),
        those held as floats in the params' dtype (the data's, which may have changed since)."""
        dtype = params[0]["b"].dtype
        opt_state = None
        if self._continues(incremental):
            opt_state = map_params(lambda p: pad_inputs(p, D, sparse), cast_floats(self._opt_state, dtype))
        best_params = getattr(self, "_best_params", None) if keep else None
        if best_params is not None:
            best_params = pad_inputs(cast_floats(best_params, dtype), D, sparse)
        prev_best_loss = getattr(self, "best_loss_", None) if keep else None
        best_val = getattr(self, "best_validation_score_", None) if keep else None
        return core.start_state(
            params, opt_state, lr, core.t_split(getattr(self, "t_", 0) if keep else 0),
            getattr(self, "_no_improvement_count", 0) if keep else 0,
            prev_best_loss if prev_best_loss is not None else np.inf, best_val if best_val is not None else -np.inf,
            best_params if best_params is not None else params, static=static)

    def _stochastic_attrs(self, state, n: int, d: int, sparse: bool, *, keep: bool, incremental: bool,
                          monitor: bool, lr: float) -> dict:
        """The fitted attributes from the final state (on the host) of a fit from the learning rate ``lr``,
        as scikit-learn sets them; a ConvergenceWarning when ``max_iter`` ran out."""
        n_iter = int(state.epoch)
        curves = [c[:n_iter].tolist() for c in (state.loss_curve, state.val_curve, state.vloss_curve)]
        stopped, count, t = bool(state.stopped), int(state.count), core.t_int(state.t)
        if bool(state.diverged):  # early stopping: scikit-learn runs on, NaN, to max_iter and keeps the best params
            curves = [nan_tail(c, n_iter - 1, self.max_iter) for c in curves]
            t += (self.max_iter - n_iter) * n
            n_iter, count, stopped = self.max_iter, 0, False
        loss_curve, val_scores, val_losses = curves
        if not incremental and n_iter == self.max_iter and not stopped:
            warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization hasn't "
                 "converged yet.", ConvergenceWarning)
        final = state.best_params if self.early_stopping else state.params
        attrs = self._param_attrs(unpad_inputs(final, d, sparse))
        prev = (lambda name: list(getattr(self, name, None) or [])) if keep else (lambda name: [])
        attrs.update(
            n_iter_=n_iter, t_=t,
            loss_=loss_curve[-1] if loss_curve else getattr(self, "loss_", None),
            loss_curve_=prev("loss_curve_") + loss_curve, _no_improvement_count=count,
            _opt_state=map_params(lambda p: unpad_inputs(p, d, sparse), state.opt_state),
            _opt_solver=self.solver, _learning_rate=self._end_rate(lr, t, int(state.shrinks)),
            _best_params=unpad_inputs(state.best_params, d, sparse),
            best_loss_=None if self.early_stopping else float(state.best_loss),
            best_validation_score_=float(state.best_val) if self.early_stopping else None,
            validation_scores_=prev("validation_scores_") + val_scores if monitor else None,
            validation_loss_curve_=prev("validation_loss_curve_") + val_losses if monitor else None,
        )
        return attrs

    def _end_rate(self, lr: float, t: int, shrinks: int) -> float:
        """The learning rate after a fit from the rate ``lr`` that saw ``t`` samples (t_) and shrank ``shrinks``
        times, a Python float as scikit-learn's optimizer holds it (the compiled loop's is in the data's dtype)."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            return float(self.learning_rate_init) / (t + 1) ** self.power_t
        if self.solver == "sgd" and self.learning_rate == "adaptive":
            return adaptive_rate(lr, shrinks)
        return lr

    def _run_epochs(self, state, data, hyper, static, orders):
        """Epochs in blocks: each block's orders are drawn on the host (``orders``) and fed to one
        compiled call (with a callback or ``verbose``: one call per epoch, Python in between)."""
        max_iter = 1 if static.incremental else int(self.max_iter)
        per_epoch = self.callback is not None or bool(self.verbose)
        rows = 1 if static.incremental else order_rows(data["sw"].shape[0], static.max_iter)
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
        """L-BFGS: the fitted attributes (see :meth:`_lbfgs_attrs`).  Without a callback or ``verbose``
        the whole fit is one compiled call; with them, one call per iteration."""
        dtype = X.dtype
        static = self._static(out)
        n = X.shape[0]
        N, D = bucket_fine(n), width(X)
        params = pad_inputs(params, D, sp.issparse(X))
        data = {"X": pad_X(X, N, D), "Y": pad(Y.astype(dtype), N), "sw": pad(sw, N)}
        hyper = traced_hyper(self, dtype)
        called_off = False  # the callback stopped the fit
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
                called_off = self.callback is not None and bool(self.callback(i, logs))
                if called_off or bool(state.stopped):
                    break
            loss = core.reported_loss_jit(state.params, data, hyper, static=static, value=state.value)
        state, loss = jax.device_get((state._replace(opt_state=None), loss))
        if bool(state.diverged):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self._lbfgs_attrs(state, loss, X.shape[1], sp.issparse(X), called_off=called_off)

    def _lbfgs_attrs(self, state, loss, d: int, sparse: bool, called_off: bool = False) -> dict:
        """The fitted attributes of an L-BFGS fit, and scipy's status as scikit-learn reports it.

        ``n_fun_`` counts every evaluation of the objective (and its gradient), as scipy's L-BFGS-B
        counts ``nfev``: one at the start, then every trial point of each iteration's line search
        (optax's zoom line search reports them as ``num_linesearch_steps``).  The limits are checked
        at the end of an iteration, before convergence, in scipy's order: ``max_iter`` iterations run
        or more than ``max_fun`` evaluations is status 1 (a ConvergenceWarning) even where that last
        iteration also met ``tol``, so ``n_fun_`` may pass ``max_fun`` by the last line search's
        evaluations and ``n_iter_ <= max_fun``.  A fit the callback stopped (``called_off``) before a limit
        ends without a warning, as a stochastic one does."""
        n_iter, nfev = int(state.it), int(state.nfev)
        if nfev > self.max_fun or n_iter >= self.max_iter or not (bool(state.stopped) or called_off):
            why = ("STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT" if nfev > self.max_fun
                   else "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT")
            warn(f"lbfgs failed to converge after {n_iter} iteration(s) (status=1):\n{why}\n\n"
                 f"Increase the number of iterations (max_iter={self.max_iter}) or max_fun "
                 f"(max_fun={self.max_fun}; {nfev} function evaluations) or scale the data.", ConvergenceWarning)
        attrs = self._param_attrs(unpad_inputs(state.params, d, sparse))
        attrs.update(n_iter_=n_iter, t_=0, loss_=float(loss), loss_curve_=state.loss_curve[:n_iter].tolist(),
                     n_fun_=nfev)
        return attrs

    @staticmethod
    def _param_attrs(params) -> dict:
        params = to_numpy(params)
        return {"coefs_": [np.ascontiguousarray(layer["W"].T) for layer in params],
                "intercepts_": [layer["b"].copy() for layer in params]}

    # ------------------------------------------------------------------ predict
    def _forward(self, X, check_input=True):
        """h(X) (m, n_outputs) as NumPy, in the dtype of ``coefs_``."""
        if check_input:
            X = validate_data(self, X, reset=False, dtype=DTYPES, accept_sparse=SPARSE)
        dt = self.coefs_[0].dtype
        m = X.shape[0]
        D = width(X)
        params = pad_inputs([{"W": c.T, "b": b} for c, b in zip(self.coefs_, self.intercepts_)], D, sp.issparse(X))
        with jax.enable_x64(dt == np.float64):
            _, h = core.predict_outputs(jax.tree_util.tree_map(lambda a: jnp.asarray(a, dt), params),
                                        pad_X(X.astype(dt) if sp.issparse(X) else np.asarray(X, dt),
                                               bucket(m, 16), D),
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


class MLPClassifier(ClassifierMixin, BaseMLP):
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

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints,
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

    def _validation_targets(self, yv, lb, dtype):
        """y_val of ``validation_data`` encoded as y; a ValueError where its labels are not ``classes_``'s
        (the label binarizer would encode an unseen label as no class, or as the negative one)."""
        if yv.ndim == 2 and yv.shape[1] == 1:
            yv = column_or_1d(yv, warn=True)
        kind, multilabel = type_of_target(yv), lb.y_type_.startswith("multilabel")
        if kind.startswith("multilabel") != multilabel or (multilabel and yv.shape[1] != len(lb.classes_)):
            raise ValueError(f"validation_data: y_val is {kind} of shape {yv.shape}, y was {lb.y_type_} "
                             f"with classes {lb.classes_}.")
        labels = unique_labels(yv)
        if len(np.setdiff1d(labels, lb.classes_)):
            raise ValueError(f"validation_data: y_val has classes not in `self.classes_`. `self.classes_` has "
                             f"{lb.classes_}, y_val has {labels}.")
        return lb.transform(yv).astype(dtype)

    def _validate_input(self, X, y, incremental, reset, binarizer=None):
        X, y = validate_data(self, X, y, multi_output=True, dtype=DTYPES, reset=reset, accept_sparse=SPARSE)
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

        The epoch runs in X's dtype: the weights and the optimizer state are cast to it (scikit-learn
        keeps its first call's dtype for the weights).

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


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` compiled with JAX.

    Parameters, defaults and fitted attributes are scikit-learn's (``loss`` in {"squared_error",
    "poisson"}), plus ``init_scale``, ``callback`` and callable ``activation`` as in
    :class:`MLPClassifier`.
    """

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints,
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

    def _validation_targets(self, yv, lb, dtype):
        """y_val of ``validation_data`` as (n_val, n_outputs) targets (the caller checks n_outputs)."""
        return self._encode(yv, lb, dtype)

    def _validate_input(self, X, y, incremental, reset, binarizer=None):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=DTYPES, reset=reset,
                             accept_sparse=SPARSE)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        y = np.asarray(y, X.dtype)
        return X, (y.reshape(-1, 1) if y.ndim == 1 else y), None

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (stochastic solvers only), in X's dtype (as :meth:`MLPClassifier.partial_fit`).

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

