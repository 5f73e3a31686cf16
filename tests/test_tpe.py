"""sweeps.samplers.tpe: the native TPE sampler (histories built in NumPy, no training).

The densities against a direct computation (scipy's truncnorm) and against their own samples; the startup,
the budget rule, discrete coordinates, failed and pending trials, the constant liar, determinism, bad options;
and the quality on a synthetic objective against random search and Optuna 5.0's TPESampler(multivariate=True).
"""

import importlib
import itertools
import json

import numpy as np
import pytest
from scipy import stats

from jaxnn import sweeps
from jaxnn.sweeps.samplers.base import COMPLETE, RUNNING, History, param_space
from jaxnn.sweeps.samplers.tpe import TPESampler, default_gamma, default_weights, tpe

T = importlib.import_module("jaxnn.sweeps.samplers.tpe")

MIXED = {"lr": sweeps.loguniform(1e-4, 1.0), "x": sweeps.uniform(-1.0, 1.0), "k": sweeps.integers(1, 9),
         "c": sweeps.choice([1, 2, 3]), "act": sweeps.static(["tanh", "relu"]), "width": 32}


def history(u, loss, budgets=(1,), state=None):
    """A History of points u (m, d) and losses (m,) or (m, B)."""
    u = np.asarray(u, np.float64)
    loss = np.asarray(loss, np.float64).reshape(len(u), len(budgets))
    state = np.full(len(u), COMPLETE, np.int8) if state is None else np.asarray(state, np.int8)
    return History(u, np.asarray(budgets, np.int64), loss, state, [[] for _ in u], "min", "loss")


def quadratic(u, centre):
    return ((np.asarray(u) - centre) ** 2).sum(-1)


def layout(space):
    return T._check_call(0, space, history(np.zeros((0, space.d)), np.zeros(0)))[1]


# ------------------------------------------------------------------------------------------ the densities
def direct_log_pdf(p, x, k, joint):
    """The mixture's log density written out with scipy: continuous columns first, then categorical."""
    dc = p.xc.shape[1]
    mu = np.vstack([p.xc, np.full((1, dc), 0.5)])
    s = np.vstack([p.sigma, np.ones((1, dc))])
    cont = stats.truncnorm.logpdf(x[:, None, :dc], -mu / s, (1 - mu) / s, loc=mu, scale=s)  # (E, m + 1, dc)
    rows = [(p.pw / p.nk + (x[:, None, dc + j] == p.xq[:, j])) / (1 + k[j] * p.pw / p.nk) for j in range(len(k))]
    cat = np.stack([np.concatenate([r, np.full((len(x), 1), 1 / kj)], 1) for r, kj in zip(rows, k)], -1) if k else \
        np.zeros((len(x), p.nk, 0))
    logs = np.concatenate([cont, np.log(cat)], -1)  # (E, m + 1, d): each kernel's log density per coordinate
    if joint:
        return np.log(np.exp(logs.sum(-1) + p.log_w).sum(1))
    return np.log(np.exp(logs + p.log_w[:, None]).sum(1)).sum(-1)


@pytest.mark.parametrize("multivariate, clip", [(True, True), (False, True), (True, False)])
def test_log_pdf_matches_scipy_truncnorm_mixture(multivariate, clip):
    """Without the magic clip, near-duplicate members get bandwidths < 1e-3: their squares are computed directly."""
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.loguniform(1e-3, 1.0), "c": sweeps.choice([1, 2, 3]),
                      "d": sweeps.static(["x", "y"])})
    lay, opt = layout(sp), tpe(multivariate=multivariate, prior_weight=0.7, consider_magic_clip=clip)
    rng = np.random.default_rng(0)
    u = rng.random((30, 4))
    u[1], u[2] = u[0] + 1e-9, u[0] + 2e-9  # the middle one: both gaps 1e-9
    p = T._parzen(u, lay, opt)
    assert (p.sigma.min() < 1e-3) == (not clip)
    xc, xq = rng.random((50, 2)), rng.integers(0, [3, 2], (50, 2))
    xc[:5] = u[0, :2] + rng.normal(0, 1e-9, (5, 2))  # near the narrow kernels
    got = T._log_pdf(p, T._cands(xc, xq), lay, opt)
    want = direct_log_pdf(p, np.hstack([xc, xq]), [3, 2], multivariate)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("multivariate", [True, False])
def test_samples_follow_the_density(multivariate):
    """The empirical CDF of 20,000 draws matches the integral of exp(log_pdf) (1-D), the category
    frequencies its probabilities."""
    rng = np.random.default_rng(1)
    sp = param_space({"a": sweeps.uniform(0, 1)})
    lay, opt = layout(sp), tpe(multivariate=multivariate)
    p = T._parzen(np.array([[0.05], [0.3], [0.32], [0.9]]), lay, opt)
    x = np.linspace(0, 1, 4001)[:, None]
    dens = np.exp(T._log_pdf(p, T._cands(x, np.zeros((len(x), 0), np.int64)), lay, opt))
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2) / 4000])
    assert abs(cdf[-1] - 1) < 1e-4  # normalized
    draws = np.sort(T._sample(p, lay, rng, 20000, multivariate)[0][:, 0])
    assert np.max(np.abs(np.interp(draws, x[:, 0], cdf) - np.arange(1, 20001) / 20000)) < 0.015

    sq = param_space({"c": sweeps.choice([1, 2, 3, 4])})
    lq = layout(sq)
    pq = T._parzen(np.array([[0.1], [0.1], [0.6]]), lq, opt)
    probs = np.exp(T._log_pdf(pq, T._cands(np.zeros((4, 0)), np.arange(4)[:, None]), lq, opt))
    assert abs(probs.sum() - 1) < 1e-6
    freq = np.bincount(T._sample(pq, lq, rng, 20000, multivariate)[1][:, 0], minlength=4) / 20000
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_refitting_with_appended_members_matches_a_fresh_fit():
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.integers(0, 5), "c": sweeps.choice([1, 2])})
    lay, rng = layout(sp), np.random.default_rng(2)
    u = rng.random((40, 3))
    u[35:, 1] = u[3, 1]  # ties
    for opt in (tpe(), tpe(consider_magic_clip=False), tpe(consider_endpoints=True)):
        prev = T._parzen(u[:30], lay, opt)
        for m in (31, 33, 40):
            fresh, grown = T._parzen(u[:m], lay, opt), T._parzen(u[:m], lay, opt, prev=prev)
            for a, b in zip(fresh, grown):
                np.testing.assert_allclose(a, b, rtol=1e-13)
            prev = grown


def test_batch_liar_matches_refitting_step_by_step():
    sp = param_space(MIXED)
    lay, rng = layout(sp), np.random.default_rng(3)
    u_above = rng.random((60, sp.d))
    flat = T._encode(rng.random((6 * 24, sp.d)), lay)
    xc, xq = flat[0].reshape(6, 24, -1), flat[1].reshape(6, 24, -1)
    score = rng.normal(size=(6, 24))
    forced = np.full((6, sp.d), np.nan)
    forced[2] = rng.random(sp.d)
    for opt in (tpe(), tpe(multivariate=False)):
        got = T._batch_liar(u_above, T._cands(*flat), score.reshape(-1), forced, lay, opt)
        want = []
        for t in range(6):
            g = T._parzen(np.vstack([u_above] + want), lay, opt)
            i = np.argmax(score[t] - T._log_pdf(g, T._cands(xc[t], xq[t]), lay, opt))
            want.append(forced[t] if t == 2 else T._decode(xc[t, i], xq[t, i], lay))
        np.testing.assert_array_equal(got, np.array(want))


def test_weights_gamma_and_bandwidths_follow_optuna():
    assert [default_gamma(m) for m in (0, 1, 10, 11, 250, 1000)] == [0, 1, 1, 2, 25, 25]
    np.testing.assert_array_equal(default_weights(24), np.ones(24))
    w = default_weights(30)
    np.testing.assert_allclose(w[:5], np.linspace(1 / 30, 1, 5))
    np.testing.assert_array_equal(w[5:], np.ones(25))
    # bandwidths of 0.2, 0.1, 0.6 in [0, 1]: the larger gap to a sorted neighbour (0 and 1 included), the ends
    # their inner gap only; then the magic clip, sigma >= 1 / min(100, m + 2) = 0.2
    x = np.array([[0.2], [0.1], [0.6]])
    np.testing.assert_allclose(T._neighbour_sigmas(x, tpe(consider_magic_clip=False))[0][:, 0], [0.4, 0.1, 0.4])
    np.testing.assert_allclose(T._neighbour_sigmas(x, tpe())[0][:, 0], [0.4, 0.2, 0.4])
    x = np.array([[0.35], [0.3]])
    np.testing.assert_allclose(T._neighbour_sigmas(x, tpe(consider_magic_clip=False))[0][:, 0], [0.05, 0.05])
    np.testing.assert_allclose(T._neighbour_sigmas(x, tpe(consider_magic_clip=False, consider_endpoints=True))[0][:, 0],
                               [0.65, 0.3])
    np.testing.assert_allclose(T._neighbour_sigmas(x, tpe())[0][:, 0], [0.25, 0.25])  # 1 / min(100, 4)


# ------------------------------------------------------------------------------------------ the rules
def test_startup_is_the_rngs_uniforms():
    sp = param_space(MIXED)
    rng = np.random.default_rng(3)
    u = rng.random((9, sp.d))
    for h in (history(u, quadratic(u, 0.3)), history(u[:0], np.zeros(0)),
              history(rng.random((40, sp.d)), np.full(40, np.inf))):  # 9 < 10; empty; all failed
        got = tpe().propose(6, sp, h, (7, 2))
        np.testing.assert_array_equal(got, np.random.default_rng([7, 2]).random((6, sp.d)))
    # enough observations (n_startup_trials=5): no longer the startup
    assert not np.array_equal(tpe(n_startup_trials=5).propose(6, sp, history(u, quadratic(u, 0.3)), (7, 2)),
                              np.random.default_rng([7, 2]).random((6, sp.d)))


def test_largest_budget_with_enough_observations_is_modelled():
    """Budget 1 says the optimum is near 0.2, budget 10 says near 0.8."""
    rng = np.random.default_rng(4)
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.uniform(0, 1)})
    u = rng.random((60, 2))
    loss = np.stack([quadratic(u, 0.2), quadratic(u, 0.8)], 1)
    for n_high, centre in ((30, 0.8), (9, 0.2)):  # 30 >= max(10, d + 1) at budget 10; 9 is not enough
        lo = loss.copy()
        lo[n_high:, 1] = np.nan  # only the first n_high trials reached budget 10
        p = tpe(constant_liar=False).propose(32, sp, history(u, lo, budgets=(1, 10)), (0,))
        assert np.abs(np.median(p, 0) - centre).max() < 0.2, (n_high, np.median(p, 0))


def test_discrete_coordinates_are_bin_centres_and_a_clearly_best_value_wins():
    sp = param_space(MIXED)
    lay = layout(sp)
    rng = np.random.default_rng(5)
    u = rng.random((80, sp.d))
    k, c, act = np.floor(u[:, 2] * 8), np.floor(u[:, 3] * 3), np.floor(u[:, 4] * 2)
    loss = (u[:, 0] - 0.4) ** 2 + np.abs(k - 5) / 4 + 3 * (c != 1) + 3 * (act != 0)  # best: c = 2, act = tanh
    p = tpe().propose(40, sp, history(u, loss), (1,))
    assert p.shape == (40, sp.d) and p.dtype == np.float64 and np.all((p >= 0) & (p < 1))
    for j, size in zip(range(2, 5), (8, 3, 2)):
        np.testing.assert_allclose(p[:, j] * size - 0.5, np.round(p[:, j] * size - 0.5), atol=1e-9)
    np.testing.assert_array_equal(T._decode(*T._encode(p, lay), lay), p)  # already bin centres
    v = sp.values(p)
    assert set(v["k"]) <= set(range(1, 9)) and set(v["c"]) <= {1, 2, 3} and set(v["act"]) <= {"tanh", "relu"}
    assert np.mean(v["c"] == 2) >= 0.8 and np.mean(v["act"] == "tanh") >= 0.8
    assert np.all(v["width"] == 32)
    # an int coordinate alone: 20 values, the best 13
    si = param_space({"k": sweeps.integers(0, 20)})
    ui = rng.random((60, 1))
    p = tpe().propose(20, si, history(ui, (np.floor(ui[:, 0] * 20) - 13) ** 2), (2,))
    assert np.mean(np.abs(si.values(p)["k"] - 13) <= 2) >= 0.8, si.values(p)["k"]


def test_failed_trials_are_bad_and_never_crash():
    rng = np.random.default_rng(6)
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.choice([1, 2])})
    u = rng.random((100, 2))
    loss = np.where(u[:, 0] > 0.5, np.inf, quadratic(u[:, :1], 0.45))  # the right half diverges
    for opt in (tpe(), tpe(multivariate=False), tpe(constant_liar=False)):
        p = opt.propose(20, sp, history(u, loss), (2,))
        assert np.all((p >= 0) & (p < 1)) and np.mean(p[:, 0] < 0.55) >= 0.8
    # 12 finite among 300 failed: the good group holds only finite ones (n_below = min(gamma(312), 12) = 12)
    u2 = rng.random((312, 2))
    loss2 = np.full(312, np.inf)
    loss2[:12] = quadratic(u2[:12, :1], 0.3)
    assert np.all(np.isfinite(tpe().propose(8, sp, history(u2, loss2), (3,))))
    below, above = T._split(history(u2, loss2), 0, default_gamma, True)
    np.testing.assert_array_equal(below, np.arange(12))
    np.testing.assert_array_equal(above, np.arange(12, 312))


def test_split_is_stable_and_in_trial_order_with_pending_trials_bad():
    loss = np.array([3.0, 1.0, np.inf, 1.0, 2.0, np.nan, 0.5, 1.0, 4.0, 5.0, 6.0, 7.0])
    state = np.full(12, COMPLETE)
    state[5] = RUNNING
    h = history(np.zeros((12, 1)), loss, state=state)
    below, above = T._split(h, 0, lambda m: 3, True)  # ties at 1.0: trials 1 and 3 before 7
    np.testing.assert_array_equal(below, [1, 3, 6])
    np.testing.assert_array_equal(above, [0, 2, 4, 5, 7, 8, 9, 10, 11])  # the pending trial 5 too
    np.testing.assert_array_equal(T._split(h, 0, lambda m: 3, False)[1], [0, 2, 4, 7, 8, 9, 10, 11])


def mean_distance(p):
    return np.mean([np.linalg.norm(a - b) for a, b in itertools.combinations(p, 2)])


def test_constant_liar_spreads_a_batch_and_pending_trials():
    rng = np.random.default_rng(7)
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.uniform(0, 1)})
    u = rng.random((40, 2))
    h = history(u, quadratic(u, 0.3))
    on = [mean_distance(tpe().propose(8, sp, h, (s,))) for s in range(5)]
    off = [mean_distance(tpe(constant_liar=False).propose(8, sp, h, (s,))) for s in range(5)]
    assert np.mean(on) > 1.2 * np.mean(off), (on, off)
    # 30 trials pending at the good point: the liar's proposals keep away from it
    up = np.vstack([u, np.full((30, 2), 0.3)])
    hp = history(up, np.append(quadratic(u, 0.3), np.full(30, np.nan)), state=[COMPLETE] * 40 + [RUNNING] * 30)
    near = [np.mean(np.linalg.norm(opt.propose(16, sp, hp, (1,)) - 0.3, axis=1) < 0.05)
            for opt in (tpe(), tpe(constant_liar=False))]
    assert near[0] < near[1], near


def test_random_fraction():
    rng = np.random.default_rng(8)
    sp = param_space({"a": sweeps.uniform(0, 1), "b": sweeps.uniform(0, 1)})
    u = rng.random((60, 2))
    h = history(u, quadratic(u, 0.3))
    far = {f: np.mean(np.linalg.norm(tpe(random_fraction=f, constant_liar=False).propose(200, sp, h, (0,)) - 0.3,
                                     axis=1) > 0.3)
           for f in (0.0, 0.5, 1.0)}
    assert far[0.0] < 0.1 and 0.2 < far[0.5] < 0.5 and far[1.0] > 0.5, far


def test_deterministic_and_edge_cases():
    sp = param_space(MIXED)
    rng = np.random.default_rng(9)
    u = rng.random((50, sp.d))
    h = history(u, quadratic(u, 0.6))
    for opt in (tpe(), tpe(multivariate=False), tpe(constant_liar=False, random_fraction=0.3)):
        a, b = opt.propose(7, sp, h, (1, 2)), opt.propose(7, sp, h, (1, 2))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, opt.propose(7, sp, h, (1, 3)))
    assert tpe().propose(0, sp, h, (0,)).shape == (0, sp.d)
    p = tpe(gamma=lambda m: m).propose(3, sp, h, (0,))  # everything good: g is the prior alone
    assert p.shape == (3, sp.d) and np.all((p >= 0) & (p < 1))
    with pytest.raises(ValueError, match=r"gamma: expected gamma\(m\) to return an integer >= 0, got -1 for m=50"):
        tpe(gamma=lambda m: -1 if m == 50 else 0).propose(3, sp, h, (0,))  # passes tpe()'s probe, fails here
    with pytest.raises(ValueError, match="n: expected an integer >= 0"):
        tpe().propose(-1, sp, h, (0,))
    with pytest.raises(ValueError, match=r"history: expected points u of shape \(m, 5\)"):
        tpe().propose(2, sp, history(u[:, :2], quadratic(u, 0.6)), (0,))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_startup_trials=-1), "n_startup_trials: expected an integer >= 0"),
    (dict(n_startup_trials=2.5), "n_startup_trials: expected an integer >= 0"),
    (dict(n_ei_candidates=0), "n_ei_candidates: expected an integer >= 1"),
    (dict(n_ei_candidates=True), "n_ei_candidates: expected an integer >= 1"),
    (dict(gamma=0.1), "gamma: expected None or a callable"),
    (dict(gamma=lambda m: -1), r"gamma: expected gamma\(m\) to return an integer >= 0, got -1 for m=0"),
    (dict(gamma=lambda m: 2.5), r"gamma: expected gamma\(m\) to return an integer >= 0, got 2.5 for m=0"),
    (dict(gamma=lambda m: "x"), r"gamma: expected gamma\(m\) to return an integer >= 0, got 'x' for m=0"),
    (dict(gamma=lambda m: float("nan")), r"gamma: expected gamma\(m\) to return an integer >= 0, got nan"),
    (dict(gamma=lambda m: 5 - m // 10), "gamma: expected .* got -5 for m=100"),  # bad only for a larger m
    (dict(gamma=lambda m: 10 // m), r"gamma: expected .* but gamma\(0\) raised ZeroDivisionError"),
    (dict(prior_weight=0.0), r"prior_weight: expected a value > 0"),
    (dict(prior_weight=float("nan")), r"prior_weight: expected a finite value"),
    (dict(random_fraction=1.5), r"random_fraction: expected a value in \[0, 1\]"),
    (dict(multivariate=1), "multivariate: expected True or False"),
    (dict(constant_liar="yes"), "constant_liar: expected True or False"),
    (dict(consider_endpoints=None), "consider_endpoints: expected True or False"),
    (dict(consider_magic_clip=0), "consider_magic_clip: expected True or False"),
])
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tpe(**kwargs)


def test_describe_is_json_and_the_defaults_are_optunas():
    d = tpe().describe()
    assert json.loads(json.dumps(d)) == d
    assert d == {"sampler": "tpe", "n_startup_trials": 10, "n_ei_candidates": 24, "gamma": None, "prior_weight": 1.0,
                 "multivariate": True, "consider_endpoints": False, "consider_magic_clip": True,
                 "random_fraction": 0.0, "constant_liar": True}
    assert tpe(gamma=default_gamma).describe()["gamma"] == "jaxnn.sweeps.samplers.tpe.default_gamma"
    assert isinstance(tpe(), TPESampler) and tpe() == TPESampler()


# ------------------------------------------------------------------------------------------ the quality
QUALITY = {"lr": sweeps.loguniform(1e-5, 1.0), "b": sweeps.uniform(0.0, 15.0), "c": sweeps.uniform(-1.0, 1.0),
           "noise": sweeps.uniform(0.0, 1.0)}
TRIALS, SEEDS = 120, 10


def regret(lr, b, c, noise):
    """Branin in (x1 = 3 (log10 lr + 5) - 5, b) plus 5 (c - 0.3)^2, minus the optimum 0.397887; noise unused."""
    x1 = 3.0 * (np.log10(lr) + 5.0) - 5.0
    branin = (b - 5.1 / (4 * np.pi ** 2) * x1 ** 2 + 5 / np.pi * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1)
    return branin + 10 - 0.397887 + 5.0 * (c - 0.3) ** 2


def best_regret(sampler, seed, batch=1):
    sp = param_space(QUALITY)
    u, loss = np.zeros((0, sp.d)), np.zeros(0)
    for i in range(TRIALS // batch):
        p = sampler.propose(batch, sp, history(u, loss), (seed, i))
        u, loss = np.vstack([u, p]), np.append(loss, regret(**sp.values(p)))
    return loss.min()


@pytest.fixture(scope="module")
def tpe_regrets():
    return np.array([best_regret(tpe(), s) for s in range(SEEDS)])


def test_tpe_beats_random_search(tpe_regrets):
    """Measured (``benchmarks/bench_tpe.py --quality``): mean best regret after 120 trials 0.080 (TPE), 1.40
    (random search), TPE better on each of the 10 seeds; TPE in batches of 4: 0.226."""
    rand = np.array([best_regret(sweeps.samplers.RandomSampler(), s) for s in range(SEEDS)])
    assert np.all(tpe_regrets < rand), (tpe_regrets, rand)
    assert tpe_regrets.mean() < 0.2 * rand.mean()
    batched = np.array([best_regret(tpe(), s, batch=4) for s in range(SEEDS)])
    assert batched.mean() < 0.5 * rand.mean()


def test_tpe_matches_optuna(tpe_regrets):
    """Optuna 5.0's TPESampler(multivariate=True, seed=s), asked and told 120 times on the same objective.

    Measured (``benchmarks/bench_tpe.py --quality``): mean best regret 0.080 (TPE) against 0.119 (Optuna) on
    seeds 0..9, TPE better on 8; on seeds 10..39 (``--seeds 10:40``) 0.198 against 0.150, medians 0.094 and
    0.095, TPE better on 14 of 30.  The bound: TPE's mean <= 1.5 x Optuna's.
    """
    optuna = pytest.importorskip("optuna")
    from jaxnn.sweeps.export import optuna_distribution

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {k: optuna_distribution(d.kind, d.args) for k, d in QUALITY.items()}
    ref = []
    try:
        for s in range(SEEDS):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, seed=s))
            for _ in range(TRIALS):
                t = study.ask(dists)
                study.tell(t, float(regret(**t.params)))
            ref.append(study.best_value)
    finally:
        optuna.logging.set_verbosity(level)
    assert tpe_regrets.mean() <= 1.5 * np.mean(ref), (tpe_regrets, ref)
