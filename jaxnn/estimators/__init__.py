"""scikit-learn compatible estimators on jaxnn: MLPClassifier, MLPRegressor, and the searches
MLPGridSearchCV, MLPRandomizedSearchCV, MLPHalvingGridSearchCV and MLPHalvingRandomSearchCV.

A package of small private modules, one idea each, behind this thin ``__init__``:

* ``_mlp``: the estimators MLPClassifier / MLPRegressor and their base;
* ``_search``: the grid and randomized searches (scikit-learn's ``BaseSearchCV`` semantics);
* ``_halving``: the successive-halving searches (their rung loop ranks with :mod:`jaxnn.sweeps.ranking`);
* ``_grouped``: the grouped, compiled fits the searches run (many candidates x folds in one call);
* ``_epochs``: the compiled epochs, the objective and the L-BFGS core;
* ``_layout``: padding, buckets, sparse ELL rows, batch layout and the minibatch orders (host side).

Requires scikit-learn (``pip install jaxnn[experiments]``).

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
  ``<= 2.22e-9``, ``max_iter`` iterations, more than ``max_fun`` objective evaluations).  ``n_fun_``
  counts every evaluation of the objective as scipy's ``nfev`` does: one at the start, then every
  trial point of every line search (optax's ``num_linesearch_steps``).  The limits are checked at the
  end of each iteration, before the convergence tests, in scipy's order, so ``n_iter_ <= max_fun``,
  ``n_fun_`` may pass ``max_fun`` by the last line search's evaluations, and reaching either limit
  warns (a ConvergenceWarning worded as scikit-learn's) even where that last iteration converged.
  scipy's L-BFGS-B line search differs, so the iterates
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


from jaxnn.datasets import require

require("sklearn")  # a clear ImportError naming the extra, before any submodule imports scikit-learn

from jaxnn.estimators._halving import MLPHalvingGridSearchCV, MLPHalvingRandomSearchCV  # noqa: E402
from jaxnn.estimators._mlp import MLPClassifier, MLPRegressor  # noqa: E402
from jaxnn.estimators._search import MLPGridSearchCV, MLPRandomizedSearchCV  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "MLPGridSearchCV", "MLPRandomizedSearchCV", "MLPHalvingGridSearchCV",
           "MLPHalvingRandomSearchCV"]
