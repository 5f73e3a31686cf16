"""A quantitative edge measure for learned filters: how well a Gabor function explains each one.

The lecture (section 6) says a sparse autoencoder trained on natural-image patches learns "edge
detectors at different positions and orientations".  This module turns that into numbers:

* every filter (a hidden unit's max-activation input, a flattened p x p patch) is compared with a dense
  bank of Gabor functions (a plane wave under a Gaussian envelope: an oriented, localized edge or bar)
  over orientations, centres, wavelengths, envelope widths and aspect ratios.  Phase is handled
  exactly: each bank entry is a quadrature pair (cosine and sine phase), and the filter is projected
  onto the plane they span, which contains the Gabor of every phase.
* ``r2`` (explained variance) of a filter f is ``||P f_c||^2 / ||f_c||^2``: the share of the filter's
  variance (f_c: f minus its mean) captured by its best-matching Gabor (P the projection onto the
  centred pair), in [0, 1].
* across units: the spread of preferred orientations (1 - |mean exp(2 i theta)|, 0 when all units
  share one orientation, 1 when they are spread evenly), the fraction of 8 orientation bins used, and
  the spread of the Gabor centres relative to a uniform spread over the patch (1 = as spread as
  uniform positions).

A random filter of n pixels also matches *some* Gabor partly (the bank is large), so the measure must
be read against a baseline: :func:`edge_measure` of the untrained initialization.

References:
  J. G. Daugman, "Uncertainty relation for resolution in space, spatial frequency, and orientation
  optimized by two-dimensional visual cortical filters", JOSA A 2 (1985) (Gabor model of simple cells).
  UFLDL, "Exercise: Sparse Autoencoder" (the learned edges); lecture section 6.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate

__all__ = ["GaborBank", "gabor_bank", "EdgeReport", "edge_measure", "summary"]


class GaborBank(NamedTuple):
    """A bank of K quadrature Gabor pairs on a p x p grid.

    Attributes:
      Q: (K, 2, p * p) orthonormal basis of each centred (cosine, sine) pair.
      theta: (K,) orientation of the wave vector in [0, pi) (the edge runs perpendicular to it).
      x0, y0: (K,) envelope centre, pixels (column, row), 0 at the top-left pixel.
      wavelength: (K,) pixels per cycle.  sigma: (K,) envelope width across the edge, pixels.
      aspect: (K,) envelope width along the edge / across it.
    """

    Q: np.ndarray
    theta: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    wavelength: np.ndarray
    sigma: np.ndarray
    aspect: np.ndarray


@lru_cache(maxsize=8)
def _bank(p, n_orient, wavelengths, sigma_ratios, aspects, step):
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float64)
    centres = np.arange(0.0, p - 1 + 1e-9, step)
    Q, meta = [], []
    for th in np.arange(n_orient) * np.pi / n_orient:
        c, s = np.cos(th), np.sin(th)
        for lam in wavelengths:
            for sr in sigma_ratios:
                sig = sr * lam
                for asp in aspects:
                    for y0 in centres:
                        for x0 in centres:
                            u = (xx - x0) * c + (yy - y0) * s  # across the edge (along the wave vector)
                            v = -(xx - x0) * s + (yy - y0) * c  # along the edge
                            env = np.exp(-(u**2 + (v / asp) ** 2) / (2 * sig**2))
                            pair = []
                            for g in (env * np.cos(2 * np.pi * u / lam), env * np.sin(2 * np.pi * u / lam)):
                                g = g.ravel() - g.mean()
                                for q in pair:  # Gram-Schmidt
                                    g = g - (g @ q) * q
                                nrm = np.linalg.norm(g)
                                pair.append(g / nrm if nrm > 1e-8 else np.zeros_like(g))
                            Q.append(pair)
                            meta.append((th, x0, y0, lam, sig, asp))
    meta = np.array(meta)
    return GaborBank(np.array(Q), *[meta[:, i] for i in range(6)])


def gabor_bank(p: int, n_orient: int = 16, wavelengths: Sequence[float] | None = None,
               sigma_ratios: Sequence[float] = (0.3, 0.5), aspects: Sequence[float] = (1.0, 2.0),
               step: float = 1.0) -> GaborBank:
    """A dense bank of quadrature Gabor pairs for p x p patches (cached).

    g(x, y) = exp(-(u^2 + (v/aspect)^2) / (2 sigma^2)) * cos(2 pi u / wavelength + phase), with
    u = (x - x0) cos theta + (y - y0) sin theta, v = -(x - x0) sin theta + (y - y0) cos theta.

    Args:
      p: patch side.
      n_orient: orientations theta = k pi / n_orient.
      wavelengths: pixels per cycle; default 5 values geometrically spaced from 2.5 to 1.5 p.
      sigma_ratios: envelope width sigma / wavelength (0.3 to 0.5: one to two visible bars).
      aspects: envelope length along the edge / across it (1: round, 2: elongated edge).
      step: spacing of the centres (pixels), covering the whole patch.

    Returns:
      A :class:`GaborBank`.
    """
    p = validate.check_int("p", p, minimum=2)
    n_orient = validate.check_int("n_orient", n_orient)
    if wavelengths is None:
        wavelengths = tuple(np.geomspace(2.5, 1.5 * p, 5).round(3))
    validate.check_rule("step", step, "positive")
    return _bank(p, n_orient, tuple(float(w) for w in wavelengths), tuple(float(s) for s in sigma_ratios),
                 tuple(float(a) for a in aspects), float(step))


class EdgeReport(NamedTuple):
    """Per-unit best Gabor fits (arrays of shape (k,)) and summaries across units (scalars).

    Attributes:
      r2: explained variance of each filter by its best Gabor, in [0, 1].
      theta, x0, y0, wavelength, sigma: parameters of that Gabor (see :class:`GaborBank`).
      mean_r2, median_r2: over units.  frac_edges: share of units with r2 >= 0.5.
      orientation_spread: 1 - |mean exp(2 i theta)| over units (0: one orientation; 1: even spread).
      orientation_coverage: share of 8 orientation bins (22.5 degrees each) holding at least one unit.
      position_spread: mean over x and y of std(centre) / (p / sqrt(12)) (1: like uniform positions).
    """

    r2: jax.Array
    theta: jax.Array
    x0: jax.Array
    y0: jax.Array
    wavelength: jax.Array
    sigma: jax.Array
    mean_r2: float
    median_r2: float
    frac_edges: float
    orientation_spread: float
    orientation_coverage: float
    position_spread: float


@jax.jit
def _best(F, Q):
    Fc = F - jnp.mean(F, axis=1, keepdims=True)
    var = jnp.sum(Fc**2, axis=1)
    proj = jnp.einsum("kn,Kjn->kK", Fc, Q[:, :1]) ** 2 + jnp.einsum("kn,Kjn->kK", Fc, Q[:, 1:]) ** 2
    best = jnp.argmax(proj, axis=1)
    r2 = jnp.take_along_axis(proj, best[:, None], axis=1)[:, 0] / jnp.where(var > 0, var, 1.0)
    return jnp.where(var > 0, r2, 0.0), best


def edge_measure(filters, p: int | None = None, bank: GaborBank | None = None) -> EdgeReport:
    """Fit the best Gabor to every filter and summarize how edge-like and how diverse they are.

    Args:
      filters: (k, p * p) filters, row-major p x p patches (e.g.
        ``autoencoder.max_activation_inputs(params)``).
      p: patch side; default ``sqrt(p * p)``.
      bank: a :class:`GaborBank` (default ``gabor_bank(p)``).

    Returns:
      An :class:`EdgeReport`.
    """
    F = validate.check_array("filters", filters, ndim=2, floating=True)
    validate.check_finite("filters", F)
    k, n = F.shape
    if p is None:
        p = int(round(np.sqrt(n)))
    if p * p != n:
        raise ValueError(f"filters: expected rows of p * p = {p}*{p} pixels, got {n} columns")
    bank = gabor_bank(p) if bank is None else bank
    if bank.Q.shape[-1] != n:
        raise ValueError(f"bank: built for {bank.Q.shape[-1]} pixels, filters have {n}")
    r2, best = _best(F, jnp.asarray(bank.Q, F.dtype))
    best = np.asarray(best)
    r2n = np.asarray(r2, np.float64)
    theta, x0, y0 = bank.theta[best], bank.x0[best], bank.y0[best]
    bins = np.floor(theta / (np.pi / 8) + 0.5).astype(int) % 8  # 8 bins centred on 0, 22.5, ... degrees
    uniform_std = p / np.sqrt(12.0)
    return EdgeReport(
        r2=r2, theta=jnp.asarray(theta), x0=jnp.asarray(x0), y0=jnp.asarray(y0),
        wavelength=jnp.asarray(bank.wavelength[best]), sigma=jnp.asarray(bank.sigma[best]),
        mean_r2=float(r2n.mean()), median_r2=float(np.median(r2n)), frac_edges=float(np.mean(r2n >= 0.5)),
        orientation_spread=float(1.0 - np.abs(np.mean(np.exp(2j * theta)))),
        orientation_coverage=float(len(np.unique(bins)) / 8.0),
        position_spread=float(0.5 * (np.std(x0) + np.std(y0)) / uniform_std),
    )


def summary(report: EdgeReport) -> dict:
    """The scalar fields of an :class:`EdgeReport` as a JSON-ready dict."""
    return {k: getattr(report, k) for k in ("mean_r2", "median_r2", "frac_edges", "orientation_spread",
                                            "orientation_coverage", "position_spread")}
