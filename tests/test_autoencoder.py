import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
from _helpers import compiles  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from jaxnn import autoencoder as ae  # noqa: E402
from jaxnn import display, lbfgs  # noqa: E402


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _data(key=0, m=40, n=6, dtype=None):
    return jax.random.uniform(jax.random.key(key), (m, n), dtype or jnp.result_type(float), 0.1, 0.9)


def _leaves_close(a, b, **kw):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, **kw)


def _np_sparse_loss(W1, b1, W2, b2, X, lam, beta, rho, out="sigmoid"):
    """The UFLDL objective written out in NumPy, sample by sample."""
    m = X.shape[0]
    A2 = np.stack([_sigmoid(W1 @ x + b1) for x in X])
    Z3 = np.stack([W2 @ a + b2 for a in A2])
    A3 = _sigmoid(Z3) if out == "sigmoid" else Z3
    rho_hat = A2.mean(0)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    return (sum(0.5 * np.sum((A3[i] - X[i]) ** 2) for i in range(m)) / m
            + lam / 2 * (np.sum(W1**2) + np.sum(W2**2)) + beta * np.sum(kl))


# ----------------------------------------------------------------------------------------- init
def test_init_shapes_range_and_determinism():
    p = ae.init(jax.random.key(0), 64, 25)
    assert p[0]["W"].shape == (25, 64) and p[0]["b"].shape == (25,)
    assert p[1]["W"].shape == (64, 25) and p[1]["b"].shape == (64,)
    r = np.sqrt(6 / (64 + 25 + 1))
    for W in (p[0]["W"], p[1]["W"]):
        assert float(jnp.max(jnp.abs(W))) <= r
        assert float(jnp.max(jnp.abs(W))) > 0.9 * r  # actually spread over [-r, r]
    assert float(jnp.abs(p[0]["b"]).sum() + jnp.abs(p[1]["b"]).sum()) == 0.0
    _leaves_close(p, ae.init(jax.random.key(0), 64, 25), rtol=0, atol=0)
    assert not np.allclose(p[0]["W"], ae.init(jax.random.key(1), 64, 25)[0]["W"])
    assert not np.allclose(p[0]["W"], p[1]["W"].T)  # encoder and decoder use different keys


def test_init_tied_and_scale():
    p = ae.init(jax.random.key(0), 10, 4, scale=0.5, tied=True)
    assert ae.is_tied(p) and set(p[1]) == {"b"} and p[1]["b"].shape == (10,)
    assert float(jnp.max(jnp.abs(p[0]["W"]))) <= 0.5
    u = ae.untie(p)
    np.testing.assert_array_equal(u[1]["W"], p[0]["W"].T)
    # scale may be traced: vmap over it
    Ws = jax.vmap(lambda s: ae.init(jax.random.key(0), 10, 4, scale=s)[0]["W"])(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(Ws[1], 2 * Ws[0], rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_visible=0, n_hidden=3), "n_visible"),
    (dict(n_visible=4, n_hidden=2.5), "n_hidden"),
    (dict(n_visible=4, n_hidden=3, scale=-1.0), "scale"),
    (dict(n_visible=4, n_hidden=3, dtype=jnp.int32), "dtype"),
])
def test_init_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ae.init(jax.random.key(0), **kwargs)


@pytest.mark.parametrize("key", [0, 1.5, None, jnp.zeros(2, jnp.int32)])
def test_init_rejects_a_key_that_is_not_a_prng_key(key):
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\)"):
        ae.init(key, 4, 3)
    _leaves_close(ae.init(jax.random.PRNGKey(1), 4, 3), ae.init(jax.random.key(1), 4, 3), rtol=0)  # raw key: same


# --------------------------------------------------------------------------------- forward pass
def test_forward_hand_computed():
    W1 = np.arange(6.0).reshape(2, 3) / 10 - 0.2  # (n_hidden=2, n_visible=3)
    b1 = np.array([0.1, -0.1])
    W2 = np.arange(6.0).reshape(3, 2) / 10 - 0.3
    b2 = np.array([0.0, 0.2, -0.2])
    p = [{"W": jnp.array(W1), "b": jnp.array(b1)}, {"W": jnp.array(W2), "b": jnp.array(b2)}]
    X = np.array([[0.2, 0.5, 0.8], [0.9, 0.1, 0.4]])
    H = _sigmoid(X @ W1.T + b1)
    np.testing.assert_allclose(ae.encode(p, X), H, rtol=1e-6)
    np.testing.assert_allclose(ae.decode(p, H), _sigmoid(H @ W2.T + b2), rtol=1e-6)
    np.testing.assert_allclose(ae.decode(p, H, "identity"), H @ W2.T + b2, rtol=1e-5)
    np.testing.assert_allclose(ae.reconstruct(p, X), _sigmoid(H @ W2.T + b2), rtol=1e-6)
    np.testing.assert_allclose(ae.mean_activation(p, X), H.mean(0), rtol=1e-6)


def test_forward_bad_input():
    p = ae.init(jax.random.key(0), 6, 3)
    with pytest.raises(ValueError, match="X: expected 6 columns"):
        ae.encode(p, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="H: expected 3 columns"):
        ae.decode(p, np.zeros((4, 6)))
    with pytest.raises(ValueError, match="output_activation"):
        ae.reconstruct(p, np.zeros((4, 6)), "tanh")
    with pytest.raises(ValueError, match=r"params\[1\]\['W'\]"):
        ae.encode([p[0], {"W": jnp.zeros((6, 4)), "b": jnp.zeros(6)}], np.zeros((4, 6)))
    with pytest.raises(ValueError, match=r"params\[1\]"):
        ae.encode([p[0], {"V": jnp.zeros(6)}], np.zeros((4, 6)))
    with pytest.raises(ValueError, match="params"):
        ae.encode(p[:1], np.zeros((4, 6)))


# ----------------------------------------------------------------------------------- objectives
@pytest.mark.parametrize("out", ["sigmoid", "identity"])
def test_sparse_loss_matches_numpy(x64, out):
    p = ae.init(jax.random.key(3), 6, 4)
    X = _data(1, m=12)
    lam, beta, rho = 1e-3, 3.0, 0.1
    ref = _np_sparse_loss(*(np.asarray(v) for v in (p[0]["W"], p[0]["b"], p[1]["W"], p[1]["b"], X)),
                          lam, beta, rho, out)
    np.testing.assert_allclose(ae.sparse_loss(p, X, lam, beta, rho, out), ref, rtol=1e-12)
    # beta = 0 is the plain autoencoder objective
    np.testing.assert_allclose(ae.sparse_loss(p, X, lam, 0.0, rho, out), ae.loss(p, X, lam, out), rtol=1e-12)
    # ... and with lam = 0 it is the reconstruction error
    X_hat = ae.reconstruct(p, X, out)
    np.testing.assert_allclose(ae.loss(p, X, 0.0, out), 0.5 * np.sum((X_hat - X) ** 2) / 12, rtol=1e-12)


def test_kl_divergence_values():
    np.testing.assert_allclose(ae.kl_divergence(0.2, 0.2), 0.0, atol=1e-7)
    np.testing.assert_allclose(ae.kl_divergence(0.5, 0.25), 0.5 * np.log(2) + 0.5 * np.log(2 / 3), rtol=1e-6)
    assert float(ae.kl_divergence(0.05, 0.5)) > float(ae.kl_divergence(0.05, 0.1)) > 0


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("out", ["sigmoid", "identity"])
def test_gradient_check_ufldl(x64, tied, out):
    """UFLDL's gradient check: central differences vs the gradient, ||g_num - g|| / ||g_num + g|| < 1e-9."""
    p = ae.init(jax.random.key(5), 8, 5, tied=tied, dtype=jnp.float64)
    X = _data(2, m=10, n=8)
    lam, beta, rho = 1e-4, 3.0, 0.1
    flat, unravel = ravel_pytree(p)

    @jax.jit
    def J(v):
        return ae.sparse_loss(unravel(v), X, lam, beta, rho, out)

    eps = 1e-4
    E = np.eye(flat.size) * eps
    g_num = np.array([(J(flat + e) - J(flat - e)) / (2 * eps) for e in E])
    g_auto = np.asarray(ravel_pytree(jax.grad(ae.sparse_loss)(p, X, lam, beta, rho, out))[0])
    J_bp, g_bp = ae.sparse_backprop(p, X, lam, beta, rho, out)
    g_bp = np.asarray(ravel_pytree(g_bp)[0])
    np.testing.assert_allclose(J_bp, J(flat), rtol=1e-13)
    for g in (g_auto, g_bp):
        assert np.linalg.norm(g_num - g) / np.linalg.norm(g_num + g) < 1e-9
    np.testing.assert_allclose(g_bp, g_auto, rtol=1e-10, atol=1e-13)  # explicit backprop == jax.grad


def _saturated(dtype, z_scale):
    """Params whose hidden unit 0 saturates at 1 on every sample (z in [0.8, 1] * z_scale) and unit 1 at 0 (z
    in [-1, -0.8] * z_scale), unit 2 ordinary; X (5, 3) in [0.8, 1]."""
    X = jnp.array([[0.9, 0.8, 1.0], [1.0, 0.9, 0.8], [0.8, 1.0, 0.9], [0.9, 0.9, 0.9], [1.0, 1.0, 0.8]], dtype)
    W1 = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, -2.0, 0.5]])
    W1 = jnp.asarray(W1 * np.array([[z_scale / 3], [z_scale / 3], [1.0]]), dtype)  # z of units 0, 1: +-0.8..1 z_scale
    W2 = jax.random.uniform(jax.random.key(0), (3, 3), dtype, -0.5, 0.5)
    return [{"W": W1, "b": jnp.zeros(3, dtype)}, {"W": W2, "b": jnp.zeros(3, dtype)}], X


def _np_sparse_loss_from_z(p, X, beta, rho):
    """J_sparse in float64 NumPy with 1 - rho_hat as the mean of sigmoid(-z) (exact where a rounds to 1)."""
    W1, b1, W2, b2, X = (np.asarray(v, np.float64) for v in (p[0]["W"], p[0]["b"], p[1]["W"], p[1]["b"], X))
    Z2 = X @ W1.T + b1
    A3 = _sigmoid(_sigmoid(Z2) @ W2.T + b2)
    kl = rho * np.log(rho / _sigmoid(Z2).mean(0)) + (1 - rho) * np.log((1 - rho) / _sigmoid(-Z2).mean(0))
    return 0.5 * np.sum((A3 - X) ** 2) / X.shape[0] + beta * np.sum(kl)


@pytest.mark.parametrize("beta", [0.0, 3.0])
@pytest.mark.parametrize("dtype, z_scale", [("float32", 60.0), ("float64", 600.0)])
def test_saturated_hidden_unit_keeps_the_sparse_objective_finite(x64, beta, dtype, z_scale):
    """A hidden unit saturated on every sample: rho_hat rounds to 1.0 (float32 past z = 17, float64 past 37), so
    1 - rho_hat was 0, J_sparse inf (its gradient NaN) and beta = 0 gave 0 * inf = NaN.  1 - rho_hat taken as the
    mean of sigmoid(-z) keeps the true values: the NumPy reference, its central differences, and exactly the
    plain objective and its gradient for beta = 0."""
    p, X = _saturated(jnp.dtype(dtype), z_scale)
    rho, tol = 0.1, (1e-5 if dtype == "float32" else 1e-12)
    assert float(ae.mean_activation(p, X)[0]) == 1.0
    J = ae.sparse_loss(p, X, 0.0, beta, rho)
    J_bp, g_bp = ae.sparse_backprop(p, X, 0.0, beta, rho)
    g_ad = jax.grad(ae.sparse_loss)(p, X, 0.0, beta, rho)
    assert J.dtype == jnp.dtype(dtype) and float(J_bp) == float(J)
    if z_scale < 700:  # the float64 reference's own sigmoid(-z) underflows past 745
        np.testing.assert_allclose(float(J), _np_sparse_loss_from_z(p, X, beta, rho), rtol=tol)
    for g in (g_bp, g_ad):
        assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(g))
    _leaves_close(g_bp, g_ad, rtol=10 * tol, atol=tol)  # explicit backprop == jax.grad
    if beta == 0.0:  # exactly the plain autoencoder
        assert float(J) == float(ae.loss(p, X, 0.0))
        _leaves_close(g_ad, jax.grad(ae.loss)(p, X, 0.0), rtol=0, atol=0)
    else:  # d/db1: the saturated units' KL terms move about (1 - rho) and rho per unit of z
        eps = 1e-6 * max(z_scale, 1.0)
        for j in range(3):
            e = np.zeros(3)
            e[j] = eps
            num = [_np_sparse_loss_from_z([{"W": p[0]["W"], "b": np.asarray(p[0]["b"], np.float64) + sgn * e},
                                           p[1]], X, beta, rho) for sgn in (1, -1)]
            np.testing.assert_allclose(float(g_bp[0]["b"][j]), (num[0] - num[1]) / (2 * eps), rtol=1e-4 + 100 * tol)
        assert float(J) > float(ae.loss(p, X, 0.0)) + beta * 0.9 * 0.8 * z_scale  # KL ~ (1 - rho) z
    _, h = ae.fit(p, X, lam=0.0, beta=beta, rho=rho, steps=3)
    assert int(h["diverged_at"]) == -1 and np.all(np.isfinite(h["loss"]))


def test_a_unit_saturated_past_the_floor_stays_finite():
    """float32 z past 87 on every sample: even sigmoid(-z) underflows, so the means are floored at the smallest
    normal number before the log: the objective stays finite (beta = 0 exactly the plain one), the floored
    unit's penalty has no gradient, and the explicit backprop still equals jax.grad."""
    p, X = _saturated(jnp.dtype("float32"), 150.0)
    for beta in (0.0, 3.0):
        J, g_bp = ae.sparse_backprop(p, X, 0.0, beta, 0.1)
        g_ad = jax.grad(ae.sparse_loss)(p, X, 0.0, beta, 0.1)
        assert np.isfinite(float(J)) and all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(g_bp))
        _leaves_close(g_bp, g_ad, rtol=1e-4, atol=1e-6)
    assert float(ae.sparse_loss(p, X, 0.0, 0.0, 0.1)) == float(ae.loss(p, X, 0.0))


def test_tied_is_untied_restricted(x64):
    p = ae.init(jax.random.key(1), 7, 3, tied=True)
    X = _data(0, m=9, n=7)
    u = ae.untie(p)
    np.testing.assert_allclose(ae.sparse_loss(p, X, 0.01, 2.0, 0.2), ae.sparse_loss(u, X, 0.01, 2.0, 0.2), rtol=1e-13)
    np.testing.assert_allclose(ae.reconstruct(p, X), ae.reconstruct(u, X), rtol=1e-13)
    g_t = jax.grad(ae.sparse_loss)(p, X, 0.01, 2.0, 0.2)
    g_u = jax.grad(ae.sparse_loss)(u, X, 0.01, 2.0, 0.2)
    np.testing.assert_allclose(g_t[0]["W"], g_u[0]["W"] + g_u[1]["W"].T, rtol=1e-10)  # chain rule, W2 = W1^T
    np.testing.assert_allclose(g_t[1]["b"], g_u[1]["b"], rtol=1e-12)


def test_hyperparameters_are_traced():
    p = ae.init(jax.random.key(0), 6, 4)
    X = _data(0)
    f = jax.jit(jax.vmap(lambda b, r: ae.sparse_loss(p, X, 1e-4, b, r)))
    betas, rhos = jnp.array([0.0, 1.0, 3.0]), jnp.array([0.05, 0.1, 0.2])
    got = f(betas, rhos)
    for i in range(3):
        np.testing.assert_allclose(got[i], ae.sparse_loss(p, X, 1e-4, float(betas[i]), float(rhos[i])), rtol=1e-5)


@pytest.mark.parametrize("kw, match", [(dict(lam=-1.0), "lam"), (dict(beta=-0.1), "beta"),
                                       (dict(rho=0.0), "rho"), (dict(rho=1.0), "rho"), (dict(rho="a"), "rho")])
def test_sparse_loss_bad_hyperparameters(kw, match):
    p = ae.init(jax.random.key(0), 6, 4)
    with pytest.raises(ValueError, match=match):
        ae.sparse_loss(p, _data(0), **kw)


# ------------------------------------------------------------------------- max-activation inputs
def test_max_activation_inputs_beat_projected_gradient_ascent():
    p = ae.init(jax.random.key(2), 16, 5)
    p[0]["b"] = jnp.linspace(-1.0, 1.0, 5)
    Xstar = ae.max_activation_inputs(p)
    assert Xstar.shape == (5, 16)
    np.testing.assert_allclose(jnp.linalg.norm(Xstar, axis=1), 1.0, rtol=1e-6)
    best = jnp.diag(ae.encode(p, Xstar))  # a_i(x*_i)

    def activation(x, i):
        return ae.encode(p, x[None])[0, i]

    def ascend(x, i):  # projected gradient ascent on the unit ball ||x|| <= 1
        def step(x, _):
            x = x + 0.5 * jax.grad(activation)(x, i)
            return x / jnp.maximum(1.0, jnp.linalg.norm(x)), None
        return jax.lax.scan(step, x, None, length=300)[0]

    starts = jax.random.normal(jax.random.key(9), (20, 16))
    starts = starts / jnp.linalg.norm(starts, axis=1, keepdims=True) * 0.5
    for i in range(5):
        ends = jax.vmap(ascend, in_axes=(0, None))(starts, i)
        acts = jax.vmap(activation, in_axes=(0, None))(ends, i)
        assert float(jnp.max(acts)) <= float(best[i]) + 1e-6
        # the ascent approaches the same maximizer
        assert float(jnp.max(ends @ Xstar[i])) > 0.99
        # and random unit-norm inputs do strictly worse
        rnd = starts / jnp.linalg.norm(starts, axis=1, keepdims=True)
        assert float(jnp.max(jax.vmap(activation, in_axes=(0, None))(rnd, i))) < float(best[i])


def test_max_activation_inputs_zero_row():
    p = ae.init(jax.random.key(2), 4, 3)
    p[0]["W"] = p[0]["W"].at[1].set(0.0)
    Xs = ae.max_activation_inputs(p)
    assert np.all(np.isfinite(Xs)) and np.all(Xs[1] == 0)
    np.testing.assert_allclose(Xs[0], p[0]["W"][0] / jnp.linalg.norm(p[0]["W"][0]), rtol=1e-6)


# -------------------------------------------------------------------------------------- training
def test_fit_lbfgs_decreases_and_matches_scipy(x64):
    import scipy.optimize as scipy_opt
    p = ae.init(jax.random.key(0), 16, 6, dtype=jnp.float64)
    X = _data(4, m=100, n=16)
    hyper = dict(lam=1e-4, beta=3.0, rho=0.05)
    q, hist = ae.fit(p, X, steps=100, **hyper)
    assert hist["loss"].shape == (100,) and int(hist["diverged_at"]) == -1
    J0, J1 = float(ae.sparse_loss(p, X, **hyper)), float(ae.sparse_loss(q, X, **hyper))
    np.testing.assert_allclose(hist["loss"][-1], J1, rtol=1e-10)
    assert J1 < 0.2 * J0
    assert np.all(np.diff(np.asarray(hist["loss"])) <= 1e-12)  # a line search never goes uphill
    # as good as SciPy's L-BFGS-B from the same start with the same iterations (to 1%; J is not convex,
    # the two line searches take different paths)
    flat, unravel = ravel_pytree(p)
    vg = jax.jit(jax.value_and_grad(lambda v: ae.sparse_loss(unravel(v), X, **hyper)))
    res = scipy_opt.minimize(lambda v: tuple(np.asarray(a) for a in vg(v)), np.asarray(flat), jac=True,
                             method="L-BFGS-B", options={"maxiter": 100})
    assert J1 < 1.01 * res.fun


def test_fit_gradient_descent_is_the_lecture_update():
    p = ae.init(jax.random.key(0), 6, 3)
    X = _data(0)
    hyper = dict(lam=1e-3, beta=1.0, rho=0.2)
    q, hist = ae.fit(p, X, steps=1, method="gd", lr=0.5, **hyper)
    g = jax.grad(ae.sparse_loss)(p, X, **hyper)
    _leaves_close(q, jax.tree_util.tree_map(lambda a, d: a - 0.5 * d, p, g), rtol=1e-5, atol=1e-7)
    q, hist = ae.fit(p, X, steps=300, method="gd", optimizer=optax.adam, lr=0.01, **hyper)
    assert float(hist["loss"][-1]) < 0.5 * float(ae.sparse_loss(p, X, **hyper))


def test_fit_tied_keeps_structure():
    p = ae.init(jax.random.key(0), 6, 3, tied=True)
    q, hist = ae.fit(p, _data(0), steps=20)
    assert ae.is_tied(q) and int(hist["diverged_at"]) == -1
    assert float(hist["loss"][-1]) < float(ae.sparse_loss(p, _data(0)))


def test_fit_vmapped_over_beta_matches_single_runs():
    p = ae.init(jax.random.key(0), 6, 3)
    X = _data(0)
    betas = jnp.array([0.5, 3.0])
    fit = jax.vmap(lambda b: ae.fit(p, X, beta=b, rho=0.1, steps=15)[1]["loss"])
    losses = fit(betas)
    for i, b in enumerate([0.5, 3.0]):
        np.testing.assert_allclose(losses[i], ae.fit(p, X, beta=b, rho=0.1, steps=15)[1]["loss"], rtol=2e-4)


def test_fit_divergence_is_recorded_not_raised():
    p = ae.init(jax.random.key(0), 6, 3)
    X = _data(0)
    q, hist = ae.fit(p, X, steps=30, method="gd", lr=1e6, beta=3.0, rho=0.01)
    d = int(hist["diverged_at"])
    assert 0 <= d < 30
    assert np.all(np.isnan(np.asarray(hist["loss"])[d:])) and np.all(np.isfinite(np.asarray(hist["loss"])[:d]))
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(q))


@pytest.mark.parametrize("kw, match", [(dict(method="newton"), "method"), (dict(method="lbfgs", lr=0.1), "lr"),
                                       (dict(steps=0), "steps"), (dict(method="gd", lr=-1.0), "lr"),
                                       (dict(rho=1.5), "rho")])
@pytest.mark.parametrize("fit", [ae.fit, ae.compile_fit])
def test_fit_bad_args(fit, kw, match):
    p = ae.init(jax.random.key(0), 6, 3)
    with pytest.raises(ValueError, match=match):
        fit(p, _data(0), **kw)


@pytest.mark.parametrize("kw", [dict(steps=12), dict(steps=7, method="gd", lr=0.5, beta=1.0, rho=0.2),
                                dict(steps=5, method="gd", optimizer="adam", lr=0.01,
                                     optimizer_kwargs={"b1": 0.8})])
def test_compile_fit_runs_fits_compiled_call_without_compiling_again(kw):
    p = ae.init(jax.random.key(2), 7, 3)  # a shape of its own: nothing compiled by another test
    X = _data(2, m=11, n=7)
    with compiles() as seen:
        run = ae.compile_fit(p, X, **kw)
    assert len(seen) >= 1  # compiled here, ahead of the call
    with compiles() as seen:
        q, hist = run()
        q2, hist2 = run()
    assert seen == []
    ref, ref_hist = ae.fit(p, X, **kw)
    _leaves_close(q, ref, rtol=0, atol=0)
    _leaves_close(q2, ref, rtol=0, atol=0)
    assert sorted(hist) == sorted(ref_hist)
    _leaves_close(hist, ref_hist, rtol=0, atol=0)


def test_compile_fit_rejects_traced_arguments():
    p = ae.init(jax.random.key(0), 6, 3)
    with pytest.raises(ValueError, match="compile_fit: expected concrete"):
        jax.vmap(lambda b: ae.compile_fit(p, _data(0), beta=b, steps=3))(jnp.array([1.0, 2.0]))


def test_fit_rejects_nonfinite_data():
    p = ae.init(jax.random.key(0), 6, 3)
    X = np.asarray(_data(0)).copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="X: expected finite"):
        ae.fit(p, X)


@pytest.mark.parametrize("fit", [ae.fit, ae.compile_fit])
def test_sigmoid_decoder_rejects_data_outside_0_1_in_the_users_words(fit):
    """Unscaled 0-255 pixels: the sigmoid decoder cannot reconstruct them; fit used to return an all-NaN
    run diverged at step 0 without a word.  Now a ValueError names X, the range, why and the fixes."""
    p = ae.init(jax.random.key(0), 6, 3)
    X = np.round(np.asarray(_data(0)) * 255)
    msg = (r"^X: expected values in \[0, 1\] \(the sigmoid decoder's outputs lie in \(0, 1\): scale the data "
           r"\(e.g. X / 255, or patches.normalize_ufldl\) or use output_activation='identity', the linear "
           rf"decoder\), got values in \[{X.min():g}, {X.max():g}\]$")
    with pytest.raises(ValueError, match=msg):
        fit(p, X, steps=3)
    X_one = np.asarray(_data(0)).copy()
    X_one[3, 2] = -0.5  # one value out of range is enough
    with pytest.raises(ValueError, match=r"X: expected values in \[0, 1\] .*, got values in \[-0.5, 0\.[0-9]+\]$"):
        fit(p, X_one, steps=3)
    fit(p, X / 255, steps=3)  # scaled: accepted
    fit(p, X, steps=3, output_activation="identity")  # the linear decoder takes any range


def test_unscaled_data_is_what_the_range_check_prevents():
    """What the message says: UFLDL's 8x8 patches, 64-25-64, as unscaled 0-255 pixels: the sigmoid decoder's
    L-BFGS run stays above the error of outputs capped at 1 (here traced, under vmap, where nothing is
    checked; the same data scaled to [0, 1] trains).  It used to diverge at step 0: its saturated hidden units
    made the KL term inf (test_saturated_hidden_unit_keeps_the_sparse_objective_finite)."""
    p = ae.init(jax.random.key(0), 64, 25)
    X = jnp.round(_data(0, m=100, n=64) * 255)
    _, hs = jax.vmap(lambda X: ae.fit(p, X, steps=3))(jnp.stack([X / 255, X]))
    assert np.all(hs["diverged_at"] == -1) and np.all(np.isfinite(hs["loss"]))
    floor = 0.5 * np.sum(np.maximum(np.asarray(X) - 1.0, 0.0) ** 2) / X.shape[0]  # outputs below 1
    assert float(hs["loss"][0, -1]) < 5.0 and float(hs["loss"][1, -1]) > floor > 1e5


# ----------------------------------------------------------------------------------------- L-BFGS
def _rosenbrock(p):
    x, y = p["x"], p["y"]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def test_lbfgs_finds_rosenbrock_minimum(x64):
    p, hist = lbfgs.lbfgs(_rosenbrock, {"x": jnp.array(-1.2), "y": jnp.array(1.0)}, steps=100)
    np.testing.assert_allclose([p["x"], p["y"]], [1.0, 1.0], atol=1e-6)
    assert float(hist["loss"][-1]) < 1e-12


def test_lbfgs_quadratic_in_few_steps(x64):
    A = jnp.diag(jnp.arange(1.0, 11.0))
    b = jnp.ones(10)

    def f(x):
        return 0.5 * x @ A @ x - b @ x

    x, _ = lbfgs.lbfgs(f, jnp.zeros(10), steps=30)
    np.testing.assert_allclose(x, 1.0 / jnp.arange(1.0, 11.0), rtol=1e-6)


def test_lbfgs_memory_size_is_used_and_params_keep_their_structure(x64):
    """A non-default history length runs L-BFGS (not a plain optimizer) and changes the iterates;
    the pytree's structure, shapes and dtypes come back as given (the optimizer works raveled)."""
    def f(p):
        return _rosenbrock({"x": p["x"], "y": p["y"][0]})

    p0 = {"x": jnp.array(-1.2), "y": jnp.full((1,), 1.0)}
    p1, h1 = lbfgs.lbfgs(f, p0, steps=60, memory_size=1)
    p10, h10 = lbfgs.lbfgs(f, p0, steps=60)
    assert jax.tree_util.tree_structure(p1) == jax.tree_util.tree_structure(p0)
    assert p1["y"].shape == (1,) and p1["y"].dtype == p0["y"].dtype
    assert int(h1["diverged_at"]) == -1 and float(h1["loss"][-1]) < float(f(p0))
    assert not np.allclose(np.asarray(h1["loss"]), np.asarray(h10["loss"]))


def test_autoencoder_fit_accepts_memory_size(x64):
    X = jax.random.uniform(jax.random.key(3), (40, 9), minval=0.1, maxval=0.9)
    p0 = ae.init(jax.random.key(4), 9, 4)
    p3, h3 = ae.fit(p0, X, steps=15, memory_size=3)
    p10, h10 = ae.fit(p0, X, steps=15)
    J0 = float(ae.sparse_loss(p0, X))
    assert float(h3["loss"][-1]) < J0 and float(h10["loss"][-1]) < J0
    assert not np.allclose(np.asarray(h3["loss"]), np.asarray(h10["loss"]))


# ---------------------------------------------------------------------------------------- display
def test_filter_grid_layout_and_png(tmp_path):
    W = np.zeros((5, 9))
    W[:, 4] = np.arange(1.0, 6.0)  # centre pixel of each 3x3 filter positive, rest zero
    grid = display.filter_grid(W, cols=3, center=False)
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 1)
    assert grid[0].max() == 0 and grid[:, 0].max() == 0  # black borders
    np.testing.assert_allclose(grid[2, 2], 1.0)  # each filter scaled by its own max: centre white
    np.testing.assert_allclose(grid[1, 1], 0.5)  # zero weight is mid-gray
    assert grid[6, 10] == 0  # the 6th tile is empty
    import matplotlib.image as mimage
    path = tmp_path / "f.png"
    display.save_filter_grid(path, W, cols=3, zoom=2, center=False)
    img = mimage.imread(path)
    assert img.shape[:2] == (2 * grid.shape[0], 2 * grid.shape[1])
    with pytest.raises(ValueError, match="p \\* p"):
        display.filter_grid(np.zeros((3, 10)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_filter_grid_rejects_non_finite_filters(tmp_path, bad):
    """One NaN made every pixel of its tile NaN (and, centred, every tile) in a grid documented in [0, 1]."""
    W = np.arange(8.0).reshape(2, 4)
    W[0, 0] = bad
    for f in (display.filter_grid, lambda W: display.save_filter_grid(tmp_path / "g.png", W)):
        with pytest.raises(ValueError, match=r"^W: expected finite values, got 1 NaN/inf entries"):
            f(W)
    assert not (tmp_path / "g.png").exists()
