import jax
import numpy as np
import pytest

from jaxnn import edges


def _gabor(p, theta, x0, y0, wavelength, sigma, phase, aspect=1.0):
    yy, xx = np.mgrid[0:p, 0:p].astype(float)
    u = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
    v = -(xx - x0) * np.sin(theta) + (yy - y0) * np.cos(theta)
    return (np.exp(-(u**2 + (v / aspect) ** 2) / (2 * sigma**2)) * np.cos(2 * np.pi * u / wavelength + phase)).ravel()


def test_bank_pairs_are_orthonormal_and_centred():
    bank = edges.gabor_bank(8)
    K = bank.Q.shape[0]
    assert bank.Q.shape == (K, 2, 64) and K == 16 * 5 * 2 * 2 * 64
    nz = np.linalg.norm(bank.Q, axis=2) > 0
    assert nz[:, 0].all()  # the cosine atom never vanishes
    np.testing.assert_allclose(np.linalg.norm(bank.Q, axis=2)[nz], 1.0, atol=1e-10)
    np.testing.assert_allclose(np.einsum("kn,kn->k", bank.Q[:, 0], bank.Q[:, 1]), 0.0, atol=1e-10)
    np.testing.assert_allclose(bank.Q.sum(axis=2), 0.0, atol=1e-10)
    assert bank.theta.min() == 0 and bank.theta.max() < np.pi
    assert edges.gabor_bank(8) is bank  # cached


@pytest.mark.parametrize("theta, x0, y0, phase", [(0.0, 4.0, 3.0, 0.3), (np.pi / 4, 2.0, 5.0, 1.5),
                                                  (5 * np.pi / 8, 6.0, 6.0, -2.0)])
def test_a_gabor_is_found_exactly(theta, x0, y0, phase):
    lam = float(np.unique(edges.gabor_bank(8).wavelength)[2])  # a wavelength of the bank
    f = _gabor(8, theta, x0, y0, wavelength=lam, sigma=0.5 * lam, phase=phase)
    rep = edges.edge_measure(np.stack([f, 3.0 * f + 7.0]))  # scale and DC offset do not matter
    np.testing.assert_allclose(rep.r2, 1.0, atol=1e-4)
    np.testing.assert_allclose(rep.wavelength, lam, rtol=1e-6)
    d = np.abs(np.asarray(rep.theta) - theta)
    assert np.all(np.minimum(d, np.pi - d) <= np.pi / 16 + 1e-9)
    assert np.all(np.abs(np.asarray(rep.x0) - x0) <= 1) and np.all(np.abs(np.asarray(rep.y0) - y0) <= 1)
    # the quadrature pair covers every phase: the fit does not depend on the phase
    g = _gabor(8, theta, x0, y0, wavelength=lam, sigma=0.5 * lam, phase=phase + 1.0)
    np.testing.assert_allclose(edges.edge_measure(g[None]).r2, 1.0, atol=1e-4)
    # between the bank's grid points (wavelength, width, centre) the fit stays close
    h = _gabor(8, theta + 0.05, x0 + 0.4, y0 - 0.3, wavelength=5.0, sigma=2.0, phase=phase)
    rh = edges.edge_measure(h[None])
    assert 0.9 < float(rh.r2[0]) < 1.0


def test_random_filters_score_low_and_noise_lowers_the_score():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(200, 64))
    rep = edges.edge_measure(R)
    assert rep.mean_r2 < 0.3 and rep.frac_edges == 0.0
    f = _gabor(8, 1.0, 3.5, 3.5, 4.0, 1.5, 0.0)
    f = f / np.linalg.norm(f)
    noisy = f + 0.2 * rng.normal(size=(50, 64)) / 8  # noise with ~20% of the filter's norm
    r2 = np.asarray(edges.edge_measure(noisy).r2)
    assert np.all(r2 < 0.999) and np.all(r2 > 0.8)


def test_spread_summaries():
    same = np.stack([_gabor(8, 0.0, 3.5, 3.5, 4.0, 1.5, ph) for ph in np.linspace(0, 3, 12)])
    rep = edges.edge_measure(same)
    assert rep.orientation_spread < 0.01 and rep.orientation_coverage == 1 / 8
    spread = np.stack([_gabor(8, k * np.pi / 8, 1 + 5 * (k % 2), 1 + 5 * ((k // 2) % 2), 4.0, 1.5, 0.0)
                       for k in range(8)])
    rep = edges.edge_measure(spread)
    assert rep.orientation_spread > 0.99 and rep.orientation_coverage == 1.0
    assert rep.position_spread > 1.0  # corners: more spread than uniform positions
    s = edges.summary(rep)
    assert set(s) == {"mean_r2", "median_r2", "frac_edges", "orientation_spread", "orientation_coverage",
                      "position_spread"} and all(isinstance(v, float) for v in s.values())


def test_untrained_init_is_the_baseline():
    from jaxnn import autoencoder as ae

    p = ae.init(jax.random.key(0), 64, 25)
    rep = edges.edge_measure(ae.max_activation_inputs(p))
    assert rep.mean_r2 < 0.3


def test_bad_input():
    with pytest.raises(ValueError, match="filters"):
        edges.edge_measure(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="filters"):
        edges.edge_measure(np.full((2, 16), np.nan))
    with pytest.raises(ValueError, match="bank"):
        edges.edge_measure(np.ones((2, 16)), bank=edges.gabor_bank(5))
