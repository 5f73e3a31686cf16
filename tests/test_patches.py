import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import patches


def test_load_images_gray_in_unit_range():
    imgs = patches.load_images(["camera", "astronaut", "china"])
    assert len(imgs) == 3
    assert imgs[0].shape == (512, 512) and imgs[1].shape == (512, 512) and imgs[2].shape == (427, 640)
    for im in imgs:
        assert im.ndim == 2 and im.dtype == np.float64
        assert 0.0 <= im.min() < 0.2 and 0.8 < im.max() <= 1.0
    with pytest.raises(ValueError, match="names: unknown image 'lena'"):
        patches.load_images(["lena"])
    with pytest.raises(ValueError, match="names"):
        patches.load_images("camera")


def test_sample_patches_are_row_major_crops_and_deterministic(x64):
    img = np.arange(30 * 40, dtype=np.float64).reshape(30, 40)  # pixel value = 40 r + c
    X = patches.sample_patches(jax.random.key(0), [img], m=500, p=5, dtype=jnp.float64)
    assert X.shape == (500, 25)
    P = np.asarray(X).reshape(500, 5, 5)
    r0, c0 = np.divmod(P[:, 0, 0].astype(int), 40)
    expect = (40 * (r0[:, None, None] + np.arange(5)[None, :, None])
              + c0[:, None, None] + np.arange(5)[None, None, :])
    np.testing.assert_array_equal(P, expect)  # each row is img[r0:r0+5, c0:c0+5], flattened row-major
    assert r0.min() == 0 and r0.max() == 25 and c0.min() == 0 and c0.max() == 35  # every valid corner reachable
    np.testing.assert_array_equal(X, patches.sample_patches(jax.random.key(0), [img], m=500, p=5, dtype=jnp.float64))
    assert not np.array_equal(X, patches.sample_patches(jax.random.key(1), [img], m=500, p=5, dtype=jnp.float64))


def test_sample_patches_uses_every_image():
    imgs = [np.full((12, 12), float(k)) for k in range(4)]
    X = patches.sample_patches(jax.random.key(3), imgs, m=400, p=4)
    counts = np.bincount(np.asarray(X[:, 0]).astype(int), minlength=4)
    assert np.all(counts > 60)  # uniform over images: ~100 each
    assert np.all(np.ptp(np.asarray(X), axis=1) == 0)  # no patch straddles two images


@pytest.mark.parametrize("kw, match", [(dict(m=0), "m"), (dict(p=20), r"images\[0\]"), (dict(p=2.0), "p")])
def test_sample_patches_bad_args(kw, match):
    args = dict(m=10, p=4)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        patches.sample_patches(jax.random.key(0), [np.zeros((10, 10))], **args)


@pytest.mark.parametrize("key", [0, None, jnp.zeros(2, jnp.int32)])
def test_patches_reject_a_key_that_is_not_a_prng_key(key):
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\)"):
        patches.sample_patches(key, [np.zeros((10, 10))], 5, 4)
    with pytest.raises(ValueError, match=r"key: expected a PRNG key, e.g. jax.random.key\(0\)"):
        patches.ufldl_patches(key, 5, 4)


def test_normalize_ufldl_hand_worked(x64):
    X = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [10.0] * 8, [0.0] * 7 + [100.0]])
    Xc = X - X.mean(1, keepdims=True)
    pstd = 3 * Xc.std()
    expect = (np.clip(Xc, -pstd, pstd) / pstd + 1) * 0.4 + 0.1
    out = patches.normalize_ufldl(X)
    np.testing.assert_allclose(out, expect, rtol=1e-12)
    assert float(out.min()) >= 0.1 - 1e-12 and float(out.max()) <= 0.9 + 1e-12
    np.testing.assert_allclose(out[1], 0.5)  # a flat patch maps to the middle
    assert 87.5 > pstd and np.isclose(out[2, 7], 0.9)  # the outlier is clipped at +3 std
    with pytest.raises(ValueError, match="X: expected a 2-D"):
        patches.normalize_ufldl(np.zeros(4))


def _correlated(key, m=4000, n=6, dtype=jnp.float64):
    k1, k2 = jax.random.split(jax.random.key(key))
    A = jax.random.normal(k1, (n, n), dtype)
    return jax.random.normal(k2, (m, n), dtype) @ A.T + 3.0


def test_zca_whitens_and_is_symmetric(x64):
    X = _correlated(0)
    z = patches.zca_fit(X, epsilon=0.0)
    Y = patches.zca_apply(z, X)
    np.testing.assert_allclose(Y.T @ Y / X.shape[0], np.eye(6), atol=1e-8)  # identity covariance
    np.testing.assert_allclose(Y.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(z.W, z.W.T, atol=1e-12)  # ZCA: the symmetric whitening (closest to the data)


def test_zca_epsilon_is_relative_to_scale(x64):
    X = _correlated(1)
    z = patches.zca_fit(X, epsilon=0.5)
    S = np.linalg.eigvalsh(np.cov(np.asarray(X).T, bias=True))
    np.testing.assert_allclose(z.epsilon_abs, 0.5 * S.mean(), rtol=1e-8)
    Y = patches.zca_apply(z, X)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(Y.T @ Y / X.shape[0])), np.sort(S / (S + 0.5 * S.mean())),
                               rtol=1e-8)  # eigenvalues S / (S + eps)
    for c in (1e-3, 255.0):  # the same relative epsilon gives the same whitened data at any pixel scale
        zc = patches.zca_fit(c * X, epsilon=0.5)
        np.testing.assert_allclose(patches.zca_apply(zc, c * X), Y, rtol=1e-7, atol=1e-9)


def test_zca_bad_args():
    with pytest.raises(ValueError, match="epsilon"):
        patches.zca_fit(np.ones((5, 3)), epsilon=-1.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        patches.zca_fit(np.ones((1, 3)))
    z = patches.zca_fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="X: expected 3 columns"):
        patches.zca_apply(z, np.ones((4, 5)))
    with pytest.raises(ValueError, match="zca"):
        patches.zca_apply((1, 2), np.ones((4, 3)))


def _radial_power(img, bands):
    F = np.abs(np.fft.fft2(img - img.mean())) ** 2
    f = np.sqrt(np.fft.fftfreq(img.shape[0])[:, None] ** 2 + np.fft.fftfreq(img.shape[1])[None, :] ** 2)
    return [F[(f >= lo) & (f < hi)].mean() for lo, hi in bands]


def test_whitening_flattens_a_1_over_f_spectrum():
    rng = np.random.default_rng(0)
    n = 128
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    amp = np.where(f > 0, 1.0 / np.maximum(f, 1e-9), 0.0)  # natural images: amplitude ~ 1/f
    img = np.real(np.fft.ifft2(amp * np.exp(2j * np.pi * rng.random((n, n)))))
    bands = [(0.04, 0.06), (0.12, 0.15)]
    lo, hi = _radial_power(img, bands)
    assert lo / hi > 5  # steep 1/f^2 power before
    w = patches.whiten_image_1f(img)
    assert w.shape == img.shape and abs(w.mean()) < 1e-10
    lo, hi = _radial_power(w, bands)
    assert 0.5 < lo / hi < 2.0  # flat after (mid band, below the f0 roll-off)


def test_whiten_images_sets_variance():
    imgs = patches.whiten_images_1f(patches.load_images(["camera", "coffee"]), variance=0.1)
    assert len(imgs) == 2 and imgs[1].shape == (400, 600)
    np.testing.assert_allclose(np.mean([im.var() for im in imgs]), 0.1, rtol=1e-10)
    with pytest.raises(ValueError, match="image"):
        patches.whiten_image_1f(np.zeros(5))


def test_ufldl_patches_pipeline():
    X = patches.ufldl_patches(jax.random.key(0), m=300, p=8, names=["grass", "camera"])
    assert X.shape == (300, 64)
    assert float(X.min()) >= 0.1 - 1e-6 and float(X.max()) <= 0.9 + 1e-6
    np.testing.assert_allclose(float(X.mean()), 0.5, atol=0.01)  # each patch's mean was removed
