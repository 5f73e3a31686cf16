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
   bin centre), the prior's mean 0.5 and sigma 1.  Bandwidth of a group of m members, per coordinate
   (Optuna 5.0's rule, in both modes): the larger distance to a sorted neighbour, the bounds 0 and 1
   counting as neighbours (``consider_endpoints=False``, m >= 2: the first and last member use their
   inner neighbour only); then ``consider_magic_clip``: ``sigma >= 1 / min(100, m + 2)`` (m + 1 kernels
   with the prior), else ``>= 1e-12``; and ``sigma <= 1``.  (Optuna 5.0 no longer uses the Scott-like
   ``0.2 * m ** (-1 / (d + 4))`` of its earlier multivariate TPE: ``benchmarks/bench_tpe.py --quality``
   compares the two.)  A categorical coordinate of k values (Optuna's kernel): member i
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

import functools
import math
import numbers
from typing import Callable, NamedTuple, Optional

import numpy as np
from scipy.special import ndtr, ndtri

from jaxnn.sweeps.samplers.base import RUNNING, ParamSpace
from jaxnn.validate import check_int, check_rule

__all__ = ["tpe", "TPESampler", "default_gamma", "default_weights"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TOP = np.nextafter(1.0, 0.0)
_CHUNK = 2_000_000  # candidates x kernels scored per array operation, at most
_TINY = 1e-3  # a bandwidth below which a kernel's square is computed directly, not expanded
_SERIAL = 4 * 65536  # OpenBLAS's GEMM_MULTITHREAD_THRESHOLD x SMP_THRESHOLD_MIN: smaller products run on one thread


_GAMMA_PROBES = (0, 1, 10, 100, 1000)  # the m values tpe(gamma=...) tries before any compute


def default_gamma(m: int) -> int:
    """Optuna's ``default_gamma``: the good group's size ``min(ceil(0.1 m), 25)`` of m observations."""
    return min(math.ceil(0.1 * m), 25)


def default_weights(m: int) -> np.ndarray:
    """Optuna's ``default_weights``: (m,) kernel weights in trial order, ones for m < 25, else a linear
    ramp from 1/m to 1 over the oldest m - 25 and ones for the newest 25."""
    if m < 25:
        return np.ones(m)
    return np.concatenate([np.linspace(1.0 / m, 1.0, m - 25), np.ones(25)])


@functools.lru_cache(maxsize=4096)
def _log_weights(m: int, prior_weight: float) -> np.ndarray:
    """(m + 1,) log of the normalized :func:`default_weights` of m members and the prior's weight (read-only:
    the constant liar refits an estimator per proposed point, and m repeats across a search's calls)."""
    w = np.append(default_weights(m), prior_weight)
    out = np.log(w / w.sum())
    out.flags.writeable = False
    return out


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
        c = _cands(*_sample(l, lay, rng, n * self.n_ei_candidates, self.multivariate))
        uniform = rng.random((n, space.d))
        score = _log_pdf(l, c, lay, self)
        if not self.constant_liar:
            score -= _log_pdf(_parzen(history.u[above], lay, self), c, lay, self)
            E = self.n_ei_candidates
            best = _decode(*_pick(c.xc.reshape(n, E, -1), c.xq.reshape(n, E, -1), score.reshape(n, E)), lay)
            return np.where(rand[:, None], uniform, best)
        return _batch_liar(history.u[above], c, score, np.where(rand[:, None], uniform, np.nan), lay, self)

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
      gamma: ``gamma(m) -> n_below``, an integer >= 0, for m observations (None: :func:`default_gamma`);
        tried here at m = 0, 1, 10, 100 and 1000, so that a bad one is refused before any compute.
      prior_weight: the prior kernel's weight (> 0).
      multivariate: one joint kernel per observation (True) or an independent mixture per coordinate.
      consider_endpoints, consider_magic_clip: Optuna's bandwidth options.
      random_fraction: probability in [0, 1] that a proposed point is uniform random.
      constant_liar: propose a batch one point at a time, each pending point in the bad group.

    Returns:
      A :class:`TPESampler`.
    """
    check_int("n_startup_trials", n_startup_trials, minimum=0)
    check_int("n_ei_candidates", n_ei_candidates, minimum=1)
    _check_gamma(gamma)
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


def _check_count(n, m: int) -> None:
    """A ValueError naming gamma unless ``n = gamma(m)`` is an integer >= 0 (a good group's size)."""
    if not (isinstance(n, (numbers.Integral, np.integer)) and n >= 0):
        raise ValueError(f"gamma: expected gamma(m) to return an integer >= 0, got {n!r:.80} for m={m}")


def _check_gamma(gamma) -> None:
    """A ValueError naming ``gamma`` unless it is None or a callable returning an integer >= 0 for each m of
    ``_GAMMA_PROBES``: probed here, so that a bad one is refused before any compute, not when TPE first fits."""
    if gamma is None:
        return
    if not callable(gamma):
        raise ValueError(f"gamma: expected None or a callable gamma(m) -> n_below, got {gamma!r:.80}")
    for m in _GAMMA_PROBES:
        try:
            n = gamma(m)
        except Exception as e:
            raise ValueError(f"gamma: expected a callable gamma(m) -> an integer >= 0, but gamma({m}) raised "
                             f"{type(e).__name__}: {e}") from e
        _check_count(n, m)


# ------------------------------------------------------------------------------------ the observations
class _Layout(NamedTuple):
    """Where each kind of coordinate is: ``cont`` (dc,) float and int columns, ``bins`` (dc,) k of the
    int ones (0 for float), ``cat`` (dq,) categorical columns, ``k`` (dq,) their sizes; ``d`` columns;
    ``offsets`` (dq,) where each categorical coordinate's block starts among the ``hot = sum k`` one-hot columns."""

    cont: np.ndarray
    bins: np.ndarray
    cat: np.ndarray
    k: np.ndarray
    d: int
    offsets: np.ndarray
    hot: int


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
    k = sizes[cat]
    offsets = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    return int(n), _Layout(cont, np.where(kinds[cont] == "int", sizes[cont], 0), cat, k, space.d, offsets, int(k.sum()))


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
    _check_count(n_below, len(seen))
    key = np.where(np.isfinite(loss[seen]), loss[seen], np.inf)  # failed (+-inf) trials: the worst
    n_below = min(int(n_below), int(np.isfinite(key).sum()))
    order = np.argsort(key, kind="stable")
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
    kernels, ``pw`` the prior weight; ``norm`` (m, dc) ``log(sigma sqrt(2 pi) Z)`` (Z: the kernel's mass in
    [0, 1]), ``order`` (dc, m) the members sorted per coordinate; ``rows`` (m, K) the joint kernels'
    :func:`_kernel_rows` (multivariate), else None."""

    xc: np.ndarray
    xq: np.ndarray
    sigma: np.ndarray
    log_w: np.ndarray
    nk: int
    pw: float
    norm: np.ndarray
    order: np.ndarray
    rows: Optional[np.ndarray]


def _min_sigma(m: int, opt: TPESampler) -> float:
    return 1.0 / min(100.0, m + 2.0) if opt.consider_magic_clip else 1e-12


def _neighbour_sigmas(xc, opt: TPESampler, order=None):
    """(m, dc) univariate bandwidths: the larger gap to a sorted neighbour, bounds 0 and 1 included; and the
    (dc, m) sorting permutation (``order``: one of the first rows, which a stable sort then merely extends)."""
    (m, dc), x = xc.shape, xc.T
    rows = np.arange(dc)[:, None]
    if order is None:
        order = np.argsort(x, axis=1, kind="stable")
    elif order.shape[1] < m:
        order = np.concatenate([order, np.broadcast_to(np.arange(order.shape[1], m), (dc, m - order.shape[1]))], 1)
        order = order[rows, np.argsort(x[rows, order], axis=1, kind="stable")]
    ends = np.empty((dc, m + 2))
    ends[:, 0], ends[:, -1] = 0.0, 1.0
    ends[:, 1:-1] = x[rows, order]
    gap = np.diff(ends, axis=1)
    s = np.maximum(gap[:, :-1], gap[:, 1:])
    if not opt.consider_endpoints and m >= 2:
        s[:, 0], s[:, -1] = gap[:, 1], gap[:, -2]
    out = np.empty((m, dc))
    out[order, rows] = s
    return np.clip(out, _min_sigma(m, opt), 1.0, out=out), order


def _log_norm(mu, s):
    """log(s sqrt(2 pi) Z) of normals N(mu, s) truncated to [0, 1], Z their mass there."""
    return np.log(s) + _LOG_SQRT_2PI + np.log(ndtr((1.0 - mu) / s) - ndtr(-mu / s))


_PRIOR_NORM = _log_norm(0.5, 1.0)  # the prior kernel's, every coordinate


def _parzen(u, lay: _Layout, opt: TPESampler, xcq=None, prev=None) -> _Parzen:
    """The Parzen estimator of the members ``u`` (m, d) in trial order (or their encoding ``xcq``); ``prev``:
    the estimator of the first members, whose sort, normalizers and kernel rows are reused where bandwidths
    agree."""
    xc, xq = _encode(u, lay) if xcq is None else xcq
    m = len(xc)
    sigma, order = _neighbour_sigmas(xc, opt, None if prev is None else prev.order)
    rows = None
    if prev is None:
        norm = _log_norm(xc, sigma)
        rows = _kernel_rows(xc, xq, sigma, norm, lay) if opt.multivariate else None
    else:
        m0 = prev.nk - 1
        norm = np.concatenate([prev.norm, _log_norm(xc[m0:], sigma[m0:])])
        i, j = np.nonzero(sigma[:m0] != prev.sigma)
        norm[i, j] = _log_norm(xc[i, j], sigma[i, j])
        if opt.multivariate:
            new = np.concatenate([np.unique(i), np.arange(m0, m)])
            rows = np.concatenate([prev.rows, np.empty((m - m0, prev.rows.shape[1]))])
            rows[new] = _kernel_rows(xc[new], xq[new], sigma[new], norm[new], lay)
    return _Parzen(xc, xq, sigma, _log_weights(m, opt.prior_weight), m + 1, opt.prior_weight, norm, order, rows)


def _kernel_rows(xc, xq, sigma, norm, lay: _Layout):
    """(m, 2 dc + 1 + sum k) the members' side of joint kernels: ``log K_i(x) = [x^2, x, 1, a onehot(x_cat)] @
    rows[i] + (categorical constant)``, i.e. ``rows[i] = [-h_i, 2 h_i mu_i, -sum_j h_ij mu_ij^2 - sum_j norm_ij,
    onehot(c_i)]`` with ``h = 1 / (2 sigma^2)``; a member with a bandwidth < ``_TINY`` has h = 0 there (its
    square, expanded, would lose every digit: :func:`_joint_log_pdf` computes it directly)."""
    h = 0.5 / sigma ** 2
    h[(sigma < _TINY).any(1)] = 0.0
    hot = _one_hot(xq, lay, 1.0)
    return np.concatenate([-h, 2.0 * h * xc, -(h * xc ** 2 + norm).sum(1, keepdims=True), hot], axis=1)


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
class _Cands(NamedTuple):
    """E candidates ``xc`` (E, dc), ``xq`` (E, dq), and what scoring them against any joint kernels reuses:
    ``F`` (E, 2 dc + 1) = ``[x^2, x, 1]`` and ``q`` (E,) = ``0.5 |x - 0.5|^2`` (the prior's exponent).  The
    constant liar scores each point's candidates against a new estimator per point."""

    xc: np.ndarray
    xq: np.ndarray
    F: np.ndarray
    q: np.ndarray

    def rows(self, i: int, j: int) -> "_Cands":
        return _Cands(self.xc[i:j], self.xq[i:j], self.F[i:j], self.q[i:j])


def _cands(xc, xq) -> _Cands:
    """:class:`_Cands` of xc (E, dc), xq (E, dq)."""
    return _Cands(xc, xq, np.concatenate([xc ** 2, xc, np.ones((len(xc), 1))], axis=1),
                  0.5 * ((xc - 0.5) ** 2).sum(-1))


def _log_pdf(p: _Parzen, c: _Cands, lay: _Layout, opt: TPESampler):
    """(E,) log densities of the mixture ``p`` at the candidates ``c``, scored in chunks of at most ``_CHUNK``
    candidate-kernel pairs."""
    count = len(c.xc)
    if opt.multivariate:
        kernels = _joint_kernels(p, lay)
        r = max(1, _CHUNK // p.nk)
        if r >= count:
            return _joint_log_pdf(kernels, c, lay)
        out = [_joint_log_pdf(kernels, c.rows(i, i + r), lay) for i in range(0, count, r)]
    else:
        r = max(1, _CHUNK // (p.nk * max(lay.d, 1)))
        out = [_independent_log_pdf(p, c.xc[i:i + r], c.xq[i:i + r], lay) for i in range(0, count, r)]
    return np.concatenate(out) if out else np.zeros(0)


def _joint_kernels(p: _Parzen, lay: _Layout):
    """What scores joint kernels (multivariate=True): ``log sum_i w_i K_i(x)`` over the members and the prior,

    ``log K_i(x) = sum_j [-h_ij (x_j - mu_ij)^2 - log(s_ij sqrt(2 pi) Z_ij)]`` (continuous; ``h = 1 / (2 s^2)``,
    Z_ij the kernel's mass in [0, 1]) ``+ a M_i(x) + c`` (categorical: M_i(x) matching categories, ``a`` the log
    odds of a member's own category, ``c`` the log probability of another one, summed).

    Returns:
      (rows (m, K), bias (m,) log w_i + c, the prior's log weight and normalizer, a, tiny: the members with a
      bandwidth < ``_TINY``, their centres (t, dc) and h (t, dc)).
    """
    dc, k = len(lay.cont), lay.k
    cat = len(k) * math.log(p.pw / p.nk) - np.log1p(k * p.pw / p.nk).sum() if len(k) else 0.0  # no numpy on ()
    bias = p.log_w[:-1] + cat
    prior = p.log_w[-1] - dc * _PRIOR_NORM - (np.log(k).sum() if len(k) else 0.0)  # the prior: uniform categories
    tiny = np.flatnonzero((p.sigma < _TINY).any(1))
    return p.rows, bias, prior, math.log1p(p.nk / p.pw), tiny, p.xc[tiny], 0.5 / p.sigma[tiny] ** 2


def _one_hot(xq, lay: _Layout, value) -> np.ndarray:
    """(E, sum k): ``value`` at each row's categories xq (E, dq), each coordinate in its block of k columns."""
    hot = np.zeros((len(xq), lay.hot))
    if lay.hot:
        hot[np.arange(len(xq))[:, None], xq + lay.offsets] = value
    return hot


def _joint_log_pdf(kernels, c: _Cands, lay: _Layout):
    """(E,) log sum_i w_i K_i(x) of joint kernels (:func:`_joint_kernels`) at the candidates ``c``: one
    matrix product, the squares of the tiny-bandwidth members, the prior."""
    rows, bias, prior, a, tiny, mu, h = kernels
    F = np.concatenate([c.F, _one_hot(c.xq, lay, a)], axis=1) if lay.hot else c.F
    e = _serial_matmul(F, rows.T)
    e += bias
    if tiny.size:
        e[:, tiny] -= (h * (c.xc[:, None, :] - mu) ** 2).sum(-1)
    members = _logsumexp(e, axis=-1) if e.shape[1] else np.full(len(c.xc), -np.inf)
    return np.logaddexp(members, prior - c.q)


def _serial_matmul(X, W):
    """X @ W, (E, K) @ (K, m), in blocks of at most ``_SERIAL`` multiply-adds: OpenBLAS runs those on one
    thread.  Threads are no help for these thin products, and on a busy machine (a search's compiled steps
    running) waiting for them made the products several times slower."""
    (E, K), m = X.shape, W.shape[1]
    out = np.empty((E, m))
    rows = min(E, 64)
    cols = max(1, _SERIAL // (rows * K))
    for r in range(0, E, rows):
        for c in range(0, m, cols):
            out[r:r + rows, c:c + cols] = X[r:r + rows] @ W[:, c:c + cols]
    return out


def _logsumexp(a, axis: int):
    """log sum exp over ``axis``, the exponentials in float32 after subtracting the maximum (NumPy's float64
    exp is much slower on large negative arguments; float32 terms carry a relative error of its epsilon)."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    x = np.subtract(a, top, dtype=np.float32)
    np.exp(x, out=x)
    with np.errstate(divide="ignore"):
        return np.log(x.sum(axis).astype(np.float64)) + np.squeeze(top, axis)


def _independent_log_pdf(p: _Parzen, xc, xq, lay: _Layout):
    """(E,) log densities of independent per-coordinate mixtures (multivariate=False) at xc (E, dc),
    xq (E, dq): the sum over coordinates of log sum_i w_i K_ij(x_j), the prior's kernel included."""
    mu = np.concatenate([p.xc, np.full((1, len(lay.cont)), 0.5)])
    s = np.concatenate([p.sigma, np.ones((1, len(lay.cont)))])
    norm = np.concatenate([p.norm, np.full((1, len(lay.cont)), _PRIOR_NORM)])
    z = (xc[..., None, :] - mu) / s  # (E, m + 1, dc)
    out = _logsumexp(-0.5 * z ** 2 - norm + p.log_w[:, None], axis=-2).sum(-1)
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


def _batch_liar(u_above, c: _Cands, score, forced, lay: _Layout, opt: TPESampler):
    """Constant liar: point t maximizes ``log l - log g_t`` over its candidates, g_t the Parzen estimator
    of the bad group plus the points 0..t-1 (each refitted: bandwidths and weights change).

    Args:
      u_above: (m0, d) the bad group; c: the n points' candidates, E each, point by point; score: (n E,) log l;
      forced: (n, d) a uniform point where a point is random, else NaN.
    Returns:
      (n, d) points in [0, 1).
    """
    n, m0, E = len(forced), len(u_above), opt.n_ei_candidates
    fxc, fxq = _encode(u_above, lay)
    allc = np.concatenate([fxc, np.empty((n, fxc.shape[1]))])
    allq = np.concatenate([fxq, np.empty((n, fxq.shape[1]), np.int64)])
    out, g = np.empty((n, lay.d)), None
    for t in range(n):
        if np.isnan(forced[t, 0]):
            g = _parzen(None, lay, opt, (allc[:m0 + t], allq[:m0 + t]), g)
            i = t * E + int(np.argmax(score[t * E:(t + 1) * E] - _log_pdf(g, c.rows(t * E, (t + 1) * E), lay, opt)))
            out[t], allc[m0 + t], allq[m0 + t] = _decode(c.xc[i], c.xq[i], lay), c.xc[i], c.xq[i]
        else:
            out[t] = forced[t]
            (allc[m0 + t],), (allq[m0 + t],) = _encode(out[t:t + 1], lay)
    return out
