"""scikit-learn's sgd and adam as optax transformations (jaxnn.estimators._epochs): step for step
scikit-learn's own optimizers (sklearn.neural_network._stochastic_optimizers), the learning rate
injected (optax.inject_hyperparams) and changed between steps as scikit-learn's schedules do."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer  # noqa: E402

from jaxnn.estimators import _epochs as core  # noqa: E402


def _problem(seed=0):
    rs = np.random.RandomState(seed)
    params = [rs.randn(5, 3), rs.randn(3)]
    grads = [[rs.randn(5, 3), rs.randn(3)] for _ in range(6)]
    return params, grads


def _static(solver, nesterov=True):
    return core.Static(activation="relu", out="identity", loss="squared_error", classifier=False, solver=solver,
                       nesterov=nesterov)


def _run_ours(static, params, grads, lrs, hyper):
    """Steps of the injected transformation, the learning rate set before each (as epochs set it)."""
    opt = core.make_optimizer(static)
    p = [jnp.asarray(a) for a in params]
    state = opt.init(p)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    for g, lr in zip(grads, lrs):
        state = core.with_hyperparams(state, lr, hyper, static)
        u, state = step([jnp.asarray(a) for a in g], state, p)
        p = optax.apply_updates(p, u)
    return [np.asarray(a) for a in p], state


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_transformation_is_sklearns_sgd(nesterov):
    with jax.enable_x64(True):
        params, grads = _problem()
        sk = SGDOptimizer([a.copy() for a in params], learning_rate_init=0.1, lr_schedule="invscaling",
                          momentum=0.8, nesterov=nesterov, power_t=0.5)
        want, lrs = [a.copy() for a in params], []
        sk.params = want
        for t, g in enumerate(grads):
            lrs.append(sk.learning_rate)
            sk.update_params(want, g)
            sk.iteration_ends(10 * (t + 1))  # the rate changes between steps (invscaling), as between epochs
        hyper = {"momentum": np.float64(0.8)}
        got, state = _run_ours(_static("sgd", nesterov), params, grads, lrs, hyper)
        assert len(set(lrs)) == len(lrs)  # the injected rate really changed at every step
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        assert float(state.hyperparams["learning_rate"]) == lrs[-1]
        assert state.hyperparams["momentum"].dtype == jnp.float64


def test_adam_transformation_is_sklearns_adam():
    with jax.enable_x64(True):
        params, grads = _problem(1)
        sk = AdamOptimizer([a.copy() for a in params], learning_rate_init=0.01, beta_1=0.8, beta_2=0.99,
                           epsilon=1e-6)
        want = [a.copy() for a in params]
        for g in grads:
            sk.update_params(want, g)
        hyper = {"beta_1": np.float64(0.8), "beta_2": np.float64(0.99), "epsilon": np.float64(1e-6)}
        got, state = _run_ours(_static("adam"), params, grads, [0.01] * len(grads), hyper)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        assert isinstance(core.make_optimizer(_static("adam")), optax.GradientTransformation)


def test_optimizer_state_follows_the_params_dtype():
    """float32 params give a float32 state (the hyperparameters included): nothing is promoted."""
    opt = core.make_optimizer(_static("adam"))
    state = core.with_hyperparams(opt.init([jnp.zeros((2, 2), jnp.float32)]), np.float32(0.1),
                                  {k: np.float32(0.5) for k in ("beta_1", "beta_2", "epsilon")}, _static("adam"))
    assert {a.dtype for a in jax.tree_util.tree_leaves(state) if jnp.issubdtype(a.dtype, jnp.floating)} == \
        {jnp.dtype(jnp.float32)}


def test_lbfgs_minimize_and_the_estimators_share_one_iteration():
    """lbfgs.minimize's scan and the estimators' L-BFGS loop both step with lbfgs.lbfgs_iteration: on
    the same objective from the same start, the estimators' loop (no stopping rule met) and minimize
    reach the same iterate after the same number of iterations."""
    from jaxnn.lbfgs import minimize

    with jax.enable_x64(True):
        rs = np.random.RandomState(0)
        X, Y = rs.randn(40, 3), np.eye(2)[rs.randint(0, 2, 40)]
        static = core.Static(activation="tanh", out="softmax", loss="log_loss", classifier=True, solver="lbfgs",
                             max_iter=8)
        params = [{"W": rs.randn(4, 3) * 0.3, "b": np.zeros(4)}, {"W": rs.randn(2, 4) * 0.3, "b": np.zeros(2)}]
        data = {"X": X, "Y": Y, "sw": np.ones(40)}
        hyper = {"alpha": np.float64(1e-4), "tol": np.float64(0.0), "max_fun": np.float64(1e9)}
        s = core.run_lbfgs_jit(core.lbfgs_init_jit(params, data, hyper, static=static), data, hyper, np.int32(5),
                               static=static)
        J = lambda p: core.objective(p, X.T, Y.T, data["sw"], hyper["alpha"], static)[0]  # noqa: E731
        p, hist = jax.jit(lambda p: minimize(J, p, steps=5))(params)
        assert int(s.it) == 5 and not bool(s.stopped)
        for a, b in zip(jax.tree_util.tree_leaves(s.params), jax.tree_util.tree_leaves(p)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(s.loss_curve[:5]), np.asarray(hist["loss"]), rtol=1e-12)
