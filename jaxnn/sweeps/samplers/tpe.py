"""TPE: the Tree-structured Parzen Estimator sampler (Bergstra et al. 2011), native and vectorized in NumPy.

Optuna's ``TPESampler`` defaults are the reference (``n_startup_trials=10``, ``n_ei_candidates=24``,
``default_gamma``, ``default_weights``, ``prior_weight=1``, magic clip on, endpoints off, constant liar on).
Everything happens in the unit cube of the :class:`~jaxnn.sweeps.samplers.base.ParamSpace`: a log-uniform
coordinate is already ``log``-scaled there, and each discrete coordinate spans ``[0, 1)`` in k bins.

One call of ``propose(n, space, history, seed)``:

1. **Which observations.** The largest budget in ``history.budgets`` with at least
   ``max(n_startup_trials, d + 1)`` finite observations (BOHB's rule: model the largest budget with
   enough data); its ``m`` observations ``(u, loss)``, lower loss better, ``+inf`` a failed trial.  No
   such budget: the startup, ``np.random.default_rng(list(seed)).random((n, d))`` exactly.
2. **Split.** ``n_below = min(gamma(m), #finite)`` best by loss (stable sort: ties go to the earlier
   trial) are the good group, the rest the bad one: a failed trial is always bad.  With
   ``constant_liar``, the history's RUNNING trials not yet observed at that budget are bad too (pending
   trials, as Optuna's running trials), and so is each point of this batch once proposed.
3. **Parzen estimators** ``l(x)`` (good) and ``g(x)`` (bad): each a mixture of one kernel per member, in
   trial order with weights :func:`default_weights`, plus a prior kernel of weight ``prior_weight``
   (weights normalized to 1).  Continuous coordinates ("float"; "int" as ordered continuous, snapped to
   the bin centre ``(j + 0.5) / k``): a normal truncated to ``[0, 1]``, mean the observation (an int's
   bin centre), the prior's mean 0.5 and sigma 1.  Bandwidth, for a group of m members:

   * ``multivariate=True``: ``sigma = 0.2 * max(m, 1) ** (-1 / (d + 4))`` for every kernel and
     coordinate (Scott-like, Optuna's former ``SIGMA0_MAGNITUDE`` rule; ``consider_endpoints`` unused);
   * ``multivariate=False``: per coordinate, the larger distance to a sorted neighbour, the bounds 0
     and 1 counting as neighbours (``consider_endpoints=False``: the first and last member use their
     inner neighbour only, as Optuna);

   then ``consider_magic_clip``: ``sigma >= 1 / min(100, m + 2)`` (m + 1 kernels with the prior), else
   ``>= 1e-12``; and ``sigma <= 1``.  A categorical coordinate of k values (Optuna's kernel): member i
   gives value c the probability ``(prior_weight / (m + 1) + [c == c_i]) / (1 + k prior_weight / (m + 1))``,
   the prior ``1 / k``.  An int coordinate's kernel is scored by its density at the bin centre (Optuna
   uses the bin's mass).  ``multivariate=True``: one joint kernel per member (the product over
   coordinates, sampled as a whole); ``False``: an independent mixture per coordinate.
4. **Proposing.** Each point: ``n_ei_candidates`` candidates drawn from ``l``, scored
   ``log l(x) - log g(x)``, the first argmax kept.  With ``constant_liar`` the batch is proposed one
   point at a time, each added to the bad group before the next (diversity within a batch); every
   candidate is still scored in a few array operations.  ``random_fraction``: each point of the batch
   is uniform instead with that probability (BOHB's rho).

All randomness comes from ``np.random.default_rng(list(seed))``: the same ``(space, history, seed)``
proposes the same points.  The points are float64 in ``[0, 1)`` (clipped to ``nextafter(1, 0)``).

References:
  Bergstra, Bardenet, Bengio, Kegl, "Algorithms for hyper-parameter optimization", NeurIPS 2011.
  Falkner, Klein, Hutter, "BOHB: robust and efficient hyperparameter optimization at scale", ICML 2018.
  Watanabe, "Tree-structured Parzen estimator: understanding its algorithm components and their roles
  for better empirical performance", arXiv:2304.11127, 2023.
  Ginsbourger, Le Riche, Carraro, "Kriging is well-suited to parallelize optimization", 2010.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple, Optional

import numpy as np
from scipy.special import ndtr, ndtri

from jaxnn.sweeps.samplers.base import RUNNING, ParamSpace
from jaxnn.validate import check_int, check_rule

__all__ = ["tpe", "TPESampler", "default_gamma", "default_weights"]

SIGMA0 = 0.2  # the multivariate bandwidth's magnitude in the unit interval
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TOP = np.nextafter(1.0, 0.0)
_CHUNK = 2_000_000  # candidates x kernels scored per array operation, at most


def default_gamma(m: int) -> int:
    """Optuna's ``default_gamma``: the good group's size ``min(ceil(0.1 m), 25)`` of m observations."""
    return min(math.ceil(0.1 * m), 25)


def default_weights(m: int) -> np.ndarray:
    """Optuna's ``default_weights``: (m,) kernel weights in trial order, ones for m < 25, else a linear
    ramp from 1/m to 1 over the oldest m - 25 and ones for the newest 25."""
    if m < 25:
        return np.ones(m)
    return np.concatenate([np.linspace(1.0 / m, 1.0, m - 25), np.ones(25)])


class TPESampler(NamedTuple):
    """The TPE sampler's options (see the module docstring); make one with :func:`tpe`."""

    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    gamma: Optional[Callable[[int], int]] = None
    prior_weight: float = 1.0
    multivariate: bool = True
    consider_endpoints: bool = False
    consider_magic_clip: bool = True
    random_fraction: float = 0.0
    constant_liar: bool = True

    def propose(self, n: int, space: ParamSpace, history, seed) -> np.ndarray:
        """(n, space.d) float64 points in [0, 1) from ``history`` (a :class:`History`); see the module."""
        n, lay = _check_call(n, space, history)
        rng = np.random.default_rng(list(seed))
        j = _modelled_budget(history, max(self.n_startup_trials, space.d + 1))
        if j is None or n == 0:
            return rng.random((n, space.d))
        below, above = _split(history, j, self.gamma or default_gamma, self.constant_liar)
        l = _parzen(history.u[below], lay, self)
        rand = rng.random(n) < self.random_fraction if self.random_fraction > 0 else np.zeros(n, bool)
        xc, xq = _sample(l, lay, rng, n * self.n_ei_candidates, self.multivariate)
        xc, xq = xc.reshape(n, self.n_ei_candidates, -1), xq.reshape(n, self.n_ei_candidates, -1)
        uniform = rng.random((n, space.d))
        score = _log_pdf(l, xc, xq, lay, self)
        if not self.constant_liar:
            score -= _log_pdf(_parzen(history.u[above], lay, self), xc, xq, lay, self)
            best = _decode(*_pick(xc, xq, score), lay)
            return np.where(rand[:, None], uniform, best)
        liar = _batch_liar if self.multivariate else _batch_liar_independent
        return liar(history.u[above], xc, xq, score, np.where(rand[:, None], uniform, np.nan), lay, self)

    def describe(self) -> dict:
        """JSON of the options: ``{"sampler": "tpe", "n_startup_trials": 10, ...}`` (gamma by name)."""
        out = {"sampler": "tpe", **self._asdict()}
        g = self.gamma
        out["gamma"] = None if g is None else f"{getattr(g, '__module__', '')}.{getattr(g, '__qualname__', repr(g))}"
        return out


def tpe(*, n_startup_trials: int = 10, n_ei_candidates: int = 24, gamma: Optional[Callable[[int], int]] = None,
        prior_weight: float = 1.0, multivariate: bool = True, consider_endpoints: bool = False,
        consider_magic_clip: bool = True, random_fraction: float = 0.0, constant_liar: bool = True) -> TPESampler:
    """A TPE sampler (Optuna's ``TPESampler`` defaults; the rules in the module docstring).

    Args:
      n_startup_trials: uniform random points until a budget holds ``max(n_startup_trials, d + 1)``
        finite observations (int >= 0).
      n_ei_candidates: candidates drawn from l(x) per proposed point (int >= 1).
      gamma: ``gamma(m) -> n_below`` for m observations (None: :func:`default_gamma`).
      prior_weight: the prior kernel's weight (> 0).
      multivariate: joint kernels with the Scott-like bandwidth (True) or independent coordinates.
      consider_endpoints, consider_magic_clip: Optuna's bandwidth options.
      random_fraction: probability in [0, 1] that a proposed point is uniform random.
      constant_liar: propose a batch one point at a time, each pending point in the bad group.

    Returns:
      A :class:`TPESampler`.
    """
    check_int("n_startup_trials", n_startup_trials, minimum=0)
    check_int("n_ei_candidates", n_ei_candidates, minimum=1)
    if gamma is not None and not callable(gamma):
        raise ValueError(f"gamma: expected None or a callable gamma(m) -> n_below, got {gamma!r:.80}")
    check_rule("prior_weight", prior_weight, "positive")
    check_rule("random_fraction", random_fraction, "unit")
    flags = dict(multivariate=multivariate, consider_endpoints=consider_endpoints,
                 consider_magic_clip=consider_magic_clip, constant_liar=constant_liar)
    for name, v in flags.items():
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"{name}: expected True or False, got {v!r:.80}")
    return TPESampler(int(n_startup_trials), int(n_ei_candidates), gamma, float(prior_weight),
                      bool(multivariate), bool(consider_endpoints), bool(consider_magic_clip),
                      float(random_fraction), bool(constant_liar))


# ------------------------------------------------------------------------------------ the observations
class _Layout(NamedTuple):
    """Where each kind of coordinate is: ``cont`` (dc,) float and int columns, ``bins`` (dc,) k of the
    int ones (0 for float), ``cat`` (dq,) categorical columns, ``k`` (dq,) their sizes; ``d`` columns."""

    cont: np.ndarray
    bins: np.ndarray
    cat: np.ndarray
    k: np.ndarray
    d: int


def _check_call(n, space, history):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r:.80}")
    if not isinstance(space, ParamSpace):
        raise ValueError(f"space: expected a ParamSpace (sweeps.samplers.param_space(...)), got {space!r:.80}")
    u = np.asarray(history.u)
    if u.ndim != 2 or u.shape[1] != space.d:
        raise ValueError(f"history: expected points u of shape (m, {space.d}), got shape {u.shape}")
    kinds, sizes = np.asarray(space.kinds), np.asarray(space.sizes, np.int64)
    cont, cat = np.flatnonzero(kinds != "categorical"), np.flatnonzero(kinds == "categorical")
    return int(n), _Layout(cont, np.where(kinds[cont] == "int", sizes[cont], 0), cat, sizes[cat], space.d)


def _modelled_budget(history, n_min: int):
    """The column of the largest budget with at least ``n_min`` finite observations, else None."""
    finite = np.isfinite(history.loss).sum(axis=0) if history.loss.size else np.zeros(0, int)
    ok = np.flatnonzero(finite >= n_min)
    return int(ok[-1]) if ok.size else None


def _split(history, j: int, gamma, liar: bool):
    """Trial indices of the good and the bad group at budget column ``j`` (each in trial order)."""
    loss = history.loss[:, j]
    seen = np.flatnonzero(~np.isnan(loss))
    n_below = gamma(len(seen))
    if not isinstance(n_below, (numbers.Integral, np.integer)) or n_below < 0:
        raise ValueError(f"gamma: expected gamma(m) to return an integer >= 0, got {n_below!r:.80} for m={len(seen)}")
    n_below = min(int(n_below), int(np.isfinite(loss[seen]).sum()))
    order = np.argsort(loss[seen], kind="stable")
    below, above = np.sort(seen[order[:n_below]]), seen[order[n_below:]]
    if liar:
        pending = np.flatnonzero(np.isnan(loss) & (np.asarray(history.state) == RUNNING))
        above = np.concatenate([above, pending])
    return below, np.sort(above)


def _encode(u, lay: _Layout):
    """(m, d) unit points -> ((m, dc) continuous coordinates, int ones at bin centres; (m, dq) categories)."""
    xc, b = u[:, lay.cont], lay.bins
    centre = (np.minimum(np.floor(xc * b), b - 1) + 0.5) / np.maximum(b, 1)
    xq = np.minimum(np.floor(u[:, lay.cat] * lay.k), lay.k - 1).astype(np.int64)
    return np.where(b > 0, centre, xc), xq


def _decode(xc, xq, lay: _Layout):
    """The inverse of :func:`_encode`: (..., d) unit points, categories at their bin centres."""
    u = np.empty(xc.shape[:-1] + (lay.d,))
    u[..., lay.cont] = xc
    u[..., lay.cat] = (xq + 0.5) / lay.k
    return np.clip(u, 0.0, _TOP)


# ------------------------------------------------------------------------------ the Parzen estimators
class _Parzen(NamedTuple):
    """A mixture of m member kernels and the prior: centres ``xc`` (m, dc) and ``xq`` (m, dq),
    bandwidths ``sigma`` (m, dc), ``log_w`` (m + 1,) log weights (the prior's last), ``nk = m + 1``
    kernels, ``pw`` the prior weight."""

    xc: np.ndarray
    xq: np.ndarray
    sigma: np.ndarray
    log_w: np.ndarray
    nk: int
    pw: float


def _sigma0(m: int, d: int, opt: TPESampler) -> float:
    """The multivariate bandwidth of a group of m members (magic clip included)."""
    return float(np.clip(SIGMA0 * max(m, 1) ** (-1.0 / (d + 4)), _min_sigma(m, opt), 1.0))


def _min_sigma(m: int, opt: TPESampler) -> float:
    return 1.0 / min(100.0, m + 2.0) if opt.consider_magic_clip else 1e-12


def _neighbour_sigmas(xc, opt: TPESampler):
    """(m, dc) univariate bandwidths: the larger gap to a sorted neighbour, bounds 0 and 1 included."""
    m = len(xc)
    order = np.argsort(xc, axis=0, kind="stable")
    ends = np.ones((1, xc.shape[1]))
    x = np.concatenate([0 * ends, np.take_along_axis(xc, order, axis=0), ends])
    gap = np.diff(x, axis=0)
    s = np.maximum(gap[:-1], gap[1:])
    if not opt.consider_endpoints and m >= 2:
        s[0], s[-1] = gap[1], gap[-2]
    out = np.empty_like(s)
    np.put_along_axis(out, order, s, axis=0)
    return np.clip(out, _min_sigma(m, opt), 1.0)


def _parzen(u, lay: _Layout, opt: TPESampler, xcq=None) -> _Parzen:
    """The Parzen estimator of the members ``u`` (m, d) in trial order (or their encoding ``xcq``)."""
    xc, xq = _encode(u, lay) if xcq is None else xcq
    m = len(xc)
    w = np.append(default_weights(m), opt.prior_weight)
    if opt.multivariate:
        sigma = np.full(xc.shape, _sigma0(m, lay.d, opt))
    else:
        sigma = _neighbour_sigmas(xc, opt)
    return _Parzen(xc, xq, sigma, np.log(w / w.sum()), m + 1, opt.prior_weight)


def _sample(p: _Parzen, lay: _Layout, rng, size: int, joint: bool):
    """``size`` draws of the mixture: ((size, dc) continuous coordinates, (size, dq) categories)."""
    cw = np.cumsum(np.exp(p.log_w))
    idx = np.searchsorted(cw, rng.random((size, 1 if joint else lay.d)) * cw[-1], side="right")
    idx = np.broadcast_to(np.minimum(idx, p.nk - 1), (size, lay.d))
    dc, dq = len(lay.cont), len(lay.cat)
    mu = np.concatenate([p.xc, np.full((1, dc), 0.5)])[idx[:, lay.cont], np.arange(dc)]
    s = np.concatenate([p.sigma, np.ones((1, dc))])[idx[:, lay.cont], np.arange(dc)]
    lo, hi = ndtr(-mu / s), ndtr((1.0 - mu) / s)  # truncated normal by its inverse CDF on [0, 1]
    xc = np.clip(mu + s * ndtri(lo + rng.random((size, dc)) * (hi - lo)), 0.0, _TOP)
    b = lay.bins
    xc = np.where(b > 0, (np.minimum(np.floor(xc * b), b - 1) + 0.5) / np.maximum(b, 1), xc)
    c = np.concatenate([p.xq, np.full((1, dq), -1)])[idx[:, lay.cat], np.arange(dq)]
    keep = 1.0 / (1.0 + lay.k * p.pw / p.nk)  # the member's own category, else uniform
    own = (c >= 0) & (rng.random((size, dq)) < keep)
    return xc, np.where(own, c, rng.integers(0, np.maximum(lay.k, 1), (size, dq)))


# ------------------------------------------------------------------------------------------ the scores
def _log_pdf(p: _Parzen, xc, xq, lay: _Layout, opt: TPESampler):
    """(n, E) log densities of the mixture ``p`` at the candidates xc (n, E, dc), xq (n, E, dq)."""
    if not opt.multivariate:
        return _independent_log_pdf(p, xc, xq, lay)
    s = np.array([_sigma0(p.nk - 1, lay.d, opt)])
    members = _joint_chunked(xc, xq, p.xc, p.xq, p.log_w[None, :-1], s, np.array([p.nk]), lay, p.pw)
    return np.logaddexp(members, p.log_w[-1] + _prior_log_pdf(xc, lay))


def _prior_log_pdf(xc, lay: _Layout):
    """(...) log density of the prior kernel: N(0.5, 1) truncated to [0, 1] per continuous coordinate,
    1/k per categorical one."""
    lz = math.log(ndtr(0.5) - ndtr(-0.5))
    return -0.5 * ((xc - 0.5) ** 2).sum(-1) - len(lay.cont) * (_LOG_SQRT_2PI + lz) - np.log(lay.k).sum()


def _joint_chunked(xc, xq, p_xc, p_xq, log_w, s, nk, lay: _Layout, pw: float):
    """:func:`_joint_members` over the steps in chunks of at most ``_CHUNK`` candidate-kernel pairs;
    a per-step argument of length 1 serves every step."""
    T, E = xc.shape[:2]
    r = max(1, _CHUNK // max(E * len(p_xc), 1))
    if r >= T:
        return _joint_members(xc, xq, p_xc, p_xq, log_w, s, nk, lay, pw)
    rows = [slice(i, i + r) for i in range(0, T, r)]
    return np.concatenate([_joint_members(xc[t], xq[t], p_xc, p_xq, *(a[t] if len(a) > 1 else a for a in
                                                                         (log_w, s, nk)), lay, pw) for t in rows])


def _joint_members(xc, xq, p_xc, p_xq, log_w, s, nk, lay: _Layout, pw: float):
    """log sum_i w_i K_i(x) over m member kernels (the prior left out), for T steps at once.

    K_i(x) = prod_j N(x_j; mu_ij, s) / Z_ij (continuous, Z_ij its mass in [0, 1]) x prod_j P_ij(x_j)
    (categorical), computed through the squared distance ``|x - mu_i|^2`` (one matrix product) and the
    number of matching categories (another), since s is one number per step.

    Args:
      xc: (T, E, dc), xq: (T, E, dq): E candidates of each step.
      p_xc: (m, dc), p_xq: (m, dq): the members' centres.
      log_w: (T, m) the members' log weights at each step; s: (T,) bandwidths; nk: (T,) kernels m + 1.

    Returns:
      (T, E); -inf where m = 0.
    """
    T, E, m = xc.shape[0], xc.shape[1], len(p_xc)
    if m == 0:
        return np.full((T, E), -np.inf)
    dc, dq, s3 = xc.shape[-1], xq.shape[-1], s[:, None, None]
    lz = np.log(ndtr((1.0 - p_xc) / s3) - ndtr(-p_xc / s3)).sum(-1)  # (T, m): sum_j log Z_ij
    a = np.log1p(nk / pw)  # log P(own category) - log P(another one)
    const = -dc * (np.log(s) + _LOG_SQRT_2PI) + dq * np.log(pw / nk) - np.log1p(np.outer(pw / nk, lay.k)).sum(-1)
    bias = log_w - lz
    top = bias.max(-1) + dq * a  # an upper bound of every exponent: no overflow, no per-row max
    e = xc @ p_xc.T  # -|x - mu|^2 / (2 s^2) = (2 x.mu - |x|^2 - |mu|^2) / (2 s^2)
    e *= 2.0
    e -= (xc ** 2).sum(-1)[..., None]
    e -= (p_xc ** 2).sum(-1)
    np.minimum(e, 0.0, out=e)
    e *= 0.5 / s3 ** 2
    e += (bias - top[:, None])[:, None, :]
    if dq:
        e += _matches(xq, p_xq, lay.k) * a[:, None, None]
    np.exp(e, out=e)
    with np.errstate(divide="ignore"):
        return np.log(e.sum(-1)) + (top + const)[:, None]


def _matches(xq, p_xq, k):
    """(T, E, m) the number of categorical coordinates where a candidate equals a member (one-hot product)."""
    off = np.concatenate([[0], np.cumsum(k)[:-1]])
    hot_x = np.zeros(xq.shape[:-1] + (int(k.sum()),))
    np.put_along_axis(hot_x, xq + off, 1.0, axis=-1)
    hot_p = np.zeros((len(p_xq), int(k.sum())))
    np.put_along_axis(hot_p, p_xq + off, 1.0, axis=-1)
    return hot_x @ hot_p.T


def _logsumexp(a, axis: int):
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top).sum(axis)) + np.squeeze(top, axis)


def _independent_log_pdf(p: _Parzen, xc, xq, lay: _Layout):
    """(...) log densities of independent per-coordinate mixtures (multivariate=False) at xc (..., dc),
    xq (..., dq): the sum over coordinates of log sum_i w_i K_ij(x_j), the prior's kernel included."""
    mu = np.concatenate([p.xc, np.full((1, len(lay.cont)), 0.5)])
    s = np.concatenate([p.sigma, np.ones((1, len(lay.cont)))])
    lz = np.log(ndtr((1.0 - mu) / s) - ndtr(-mu / s))
    z = (xc[..., None, :] - mu) / s  # (..., m + 1, dc)
    out = _logsumexp(-0.5 * z ** 2 - (np.log(s) + _LOG_SQRT_2PI + lz) + p.log_w[:, None], axis=-2).sum(-1)
    if len(lay.cat):
        c = np.concatenate([p.xq, np.full((1, len(lay.cat)), -1)])
        lq = np.log(p.pw / p.nk + (xq[..., None, :] == c)) - np.log1p(lay.k * p.pw / p.nk)
        lq[..., -1, :] = -np.log(lay.k)  # the prior: uniform
        out = out + _logsumexp(lq + p.log_w[:, None], axis=-2).sum(-1)
    return out


# ------------------------------------------------------------------------------------------ the batch
def _pick(xc, xq, score):
    """The first best candidate of each row: ((n, dc), (n, dq)) from xc (n, E, dc), score (n, E)."""
    i, rows = np.argmax(score, axis=1), np.arange(len(score))
    return xc[rows, i], xq[rows, i]


def _step_weights(m0: int, n: int, pw: float):
    """The log weights of a bad group of m0 members plus t liars at steps t < n: members (n, m0), liars
    (n, n) (liar t' < t at step t), the prior (n,)."""
    w = np.zeros((n, m0 + n))
    for t in range(n):
        w[t, :m0 + t] = default_weights(m0 + t)
    total = w.sum(1) + pw
    with np.errstate(divide="ignore"):
        w = np.log(w / total[:, None])
    return w[:, :m0], w[:, m0:], np.log(pw / total)


def _batch_liar(u_above, xc, xq, score, forced, lay: _Layout, opt: TPESampler):
    """Constant liar with joint kernels: point t maximizes ``log l - log g_t``, g_t the bad group plus the
    points 0..t-1.  Its members' part is scored for every step at once, the liars' step by step.

    Args:
      u_above: (m0, d) the bad group; xc (n, E, dc), xq (n, E, dq): candidates; score: (n, E) log l;
      forced: (n, d) a uniform point where a point is random, else NaN.
    Returns:
      (n, d) points in [0, 1).
    """
    n, m0 = len(xc), len(u_above)
    fxc, fxq = _encode(u_above, lay)
    nk = m0 + np.arange(n) + 1.0
    s = np.array([_sigma0(m0 + t, lay.d, opt) for t in range(n)])
    lw_members, lw_liars, lw_prior = _step_weights(m0, n, opt.prior_weight)
    lg = np.logaddexp(_joint_chunked(xc, xq, fxc, fxq, lw_members, s, nk, lay, opt.prior_weight),
                      lw_prior[:, None] + _prior_log_pdf(xc, lay))
    out = np.empty((n, lay.d))
    lxc, lxq = np.empty((n, len(lay.cont))), np.empty((n, len(lay.cat)), np.int64)
    for t in range(n):
        if np.isnan(forced[t, 0]):
            liars = _joint_members(xc[t:t + 1], xq[t:t + 1], lxc[:t], lxq[:t], lw_liars[t:t + 1, :t], s[t:t + 1],
                                   nk[t:t + 1], lay, opt.prior_weight)[0]
            i = int(np.argmax(score[t] - np.logaddexp(lg[t], liars)))
            out[t] = _decode(xc[t, i], xq[t, i], lay)
        else:
            out[t] = forced[t]
        (lxc[t],), (lxq[t],) = _encode(out[t:t + 1], lay)
    return out


def _batch_liar_independent(u_above, xc, xq, score, forced, lay: _Layout, opt: TPESampler):
    """Constant liar with independent coordinates (as :func:`_batch_liar`): g refitted at each step."""
    n = len(xc)
    fxc, fxq = _encode(u_above, lay)
    out = np.empty((n, lay.d))
    for t in range(n):
        if np.isnan(forced[t, 0]):
            g = _parzen(None, lay, opt, (np.concatenate([fxc, _encode(out[:t], lay)[0]]),
                                         np.concatenate([fxq, _encode(out[:t], lay)[1]])))
            i = int(np.argmax(score[t] - _independent_log_pdf(g, xc[t], xq[t], lay)))
            out[t] = _decode(xc[t, i], xq[t, i], lay)
        else:
            out[t] = forced[t]
    return out
