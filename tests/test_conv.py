"""Tests for jaxnn.conv: convolution of learned features, pooling, the fused memory-bounded pipeline,
and folding patch preprocessing into the convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import conv, patches
from jaxnn.activations import get_activation


def _patch_reference(images, W, b, ph, pw, activation="sigmoid"):
    """Independent reference: extract every patch with NumPy loops and run the hidden layer on it."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    n, H, Wd, _ = x.shape
    out = np.empty((n, H - ph + 1, Wd - pw + 1, W.shape[0]))
    Wn, bn = np.asarray(W, np.float64), np.asarray(b, np.float64)
    for i in range(H - ph + 1):
        for j in range(Wd - pw + 1):
            P = x[:, i:i + ph, j:j + pw, :].reshape(n, -1)  # row-major (row, col, channel)
            out[:, i, j, :] = P @ Wn.T + bn
    f = get_activation(activation).f
    return np.asarray(f(jnp.asarray(out, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)))


def _pool_reference(maps, size, mode, stride=None):
    sh, sw = (size, size) if isinstance(size, int) else size
    th, tw = (sh, sw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    m = np.asarray(maps, np.float64)
    n, H, Wd, k = m.shape
    Hp, Wp = (H - sh) // th + 1, (Wd - sw) // tw + 1
    out = np.empty((n, Hp, Wp, k))
    for i in range(Hp):
        for j in range(Wp):
            win = m[:, i * th:i * th + sh, j * tw:j * tw + sw, :]
            out[:, i, j] = win.mean(axis=(1, 2)) if mode == "mean" else win.max(axis=(1, 2))
    return out


def _random(key, n, H, Wd, C, k, ph, pw):
    k1, k2, k3 = jax.random.split(key, 3)
    shape = (n, H, Wd) if C is None else (n, H, Wd, C)
    images = jax.random.uniform(k1, shape)
    W = 0.3 * jax.random.normal(k2, (k, ph * pw * (C or 1)))
    b = 0.1 * jax.random.normal(k3, (k,))
    return images, W, b


# ------------------------------------------------------------------------------------------- convolve
def test_lecture_worked_example():
    image = jnp.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
    kernel = jnp.array([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    maps = conv.convolve(image[None], kernel.reshape(1, 9), jnp.zeros(1), "identity")
    assert maps.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(np.asarray(maps[0, :, :, 0]), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_convolve_is_cross_correlation_not_flipped():
    # An asymmetric kernel: a flipped convolution would give a different map.
    image = jnp.arange(16.0).reshape(1, 4, 4)
    kernel = jnp.array([[1.0, 2.0], [0.0, 0.0]])  # 1 * x[i, j] + 2 * x[i, j + 1]
    maps = conv.convolve(image, kernel.reshape(1, 4), jnp.zeros(1), "identity")[0, :, :, 0]
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(np.asarray(maps), x[:3, :3] + 2 * x[:3, 1:], rtol=1e-6)


@pytest.mark.parametrize("C,ph,pw,activation", [(None, 5, 5, "sigmoid"), (3, 4, 4, "tanh"),
                                                (2, 3, 5, "identity"), (None, 6, 2, "relu")])
def test_convolve_equals_hidden_layer_on_each_patch(C, ph, pw, activation):
    images, W, b = _random(jax.random.key(0), 3, 17, 14, C, 7, ph, pw)
    patch_size = None if ph == pw else (ph, pw)
    maps = conv.convolve(images, W, b, activation, patch_size=patch_size)
    assert maps.shape == (3, 17 - ph + 1, 14 - pw + 1, 7)
    np.testing.assert_allclose(np.asarray(maps), _patch_reference(images, W, b, ph, pw, activation), atol=1e-5)


def test_convolve_numpy_and_integer_images_and_callable_activation():
    images = np.random.default_rng(0).integers(0, 4, size=(2, 9, 9))
    W = jnp.ones((2, 9)) * jnp.array([[1.0], [-0.5]])
    maps = conv.convolve(images, W, jnp.zeros(2), jnp.sin)
    np.testing.assert_allclose(np.asarray(maps), np.sin(_patch_reference(images, W, jnp.zeros(2), 3, 3, "identity")),
                               atol=1e-5)


# ------------------------------------------------------------------------------------------ folding
def _preprocessed_patches(images, ph, pw, zca=None, remove_patch_mean=False, mean=None, M=None, scale=1.0,
                          shift=0.0, C=1):
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    n, H, Wd, _ = x.shape
    P = np.stack([x[:, i:i + ph, j:j + pw, :].reshape(n, -1)
                  for i in range(H - ph + 1) for j in range(Wd - pw + 1)], axis=1)  # (n, positions, d)
    if remove_patch_mean:
        Pc = P.reshape(n, P.shape[1], ph * pw, C)
        P = (Pc - Pc.mean(axis=2, keepdims=True)).reshape(P.shape)
    if zca is not None:
        M, mean = np.asarray(zca.W, np.float64), np.asarray(zca.mean, np.float64)
    if mean is not None:
        P = P - mean
    if M is not None:
        P = P @ M.T
    return scale * P + shift, (H - ph + 1, Wd - pw + 1)


def test_fold_zca_and_patch_mean_into_convolution_equals_hidden_layer_on_preprocessed_patches():
    key = jax.random.key(3)
    images, W, b = _random(key, 2, 20, 18, None, 9, 6, 6)
    # ZCA fitted on mean-removed random patches, as the experiment does.
    X = patches.sample_patches(jax.random.key(4), [np.asarray(im) for im in images], 500, 6)
    X = X - X.mean(axis=1, keepdims=True)
    zca = patches.zca_fit(X, epsilon=0.1)
    W2, b2 = conv.fold_preprocessing(W, b, whitening=zca, remove_patch_mean=True)
    maps = conv.convolve(images, W2, b2)
    P, (Hc, Wc) = _preprocessed_patches(images, 6, 6, zca=zca, remove_patch_mean=True)
    ref = jax.nn.sigmoid(jnp.asarray(P @ np.asarray(W, np.float64).T + np.asarray(b), jnp.float32))
    np.testing.assert_allclose(np.asarray(maps), np.asarray(ref).reshape(2, Hc, Wc, 9), atol=1e-5)


def test_fold_general_affine_color_per_channel_mean():
    key = jax.random.key(5)
    C, p = 3, 4
    images, W, b = _random(key, 2, 11, 12, C, 5, p, p)
    d = p * p * C
    rng = np.random.default_rng(0)
    M = rng.standard_normal((d, d)) * 0.2
    mean = rng.standard_normal(d) * 0.1
    W2, b2 = conv.fold_preprocessing(W, b, whitening=M, mean=mean, remove_patch_mean=True, scale=0.4, shift=0.5,
                                     channels=C)
    maps = conv.convolve(images, W2, b2, "identity")
    P, (Hc, Wc) = _preprocessed_patches(images, p, p, remove_patch_mean=True, mean=mean, M=M, scale=0.4,
                                        shift=0.5, C=C)
    ref = P @ np.asarray(W, np.float64).T + np.asarray(b)
    np.testing.assert_allclose(np.asarray(maps), ref.reshape(2, Hc, Wc, 5), atol=1e-4, rtol=1e-5)
    # Without any preprocessing the fold is the identity.
    W3, b3 = conv.fold_preprocessing(W, b)
    np.testing.assert_array_equal(np.asarray(W3), np.asarray(W))
    np.testing.assert_array_equal(np.asarray(b3), np.asarray(b))


def test_fold_errors():
    W, b = jnp.ones((3, 16)), jnp.zeros(3)
    with pytest.raises(ValueError, match="whitening"):
        conv.fold_preprocessing(W, b, whitening=jnp.eye(15))
    with pytest.raises(ValueError, match="mean"):
        conv.fold_preprocessing(W, b, mean=jnp.zeros(4))
    with pytest.raises(ValueError, match="channels"):
        conv.fold_preprocessing(W, b, channels=3)
    with pytest.raises(ValueError, match="b"):
        conv.fold_preprocessing(W, jnp.zeros(4))
    zca = patches.zca_fit(jax.random.normal(jax.random.key(0), (50, 16)))
    with pytest.raises(ValueError, match="mean"):
        conv.fold_preprocessing(W, b, whitening=zca, mean=jnp.zeros(16))


# --------------------------------------------------------------------------------------------- pool
def test_pool_ufldl_check_block_means():
    # UFLDL's cnnExercise check: an 8 x 8 arange pooled by 4 gives the means of the four blocks.
    maps = jnp.arange(64.0).reshape(8, 8)
    pooled = conv.pool(maps[None, :, :, None], 4, "mean")[0, :, :, 0]
    x = np.arange(64.0).reshape(8, 8)
    expected = [[x[:4, :4].mean(), x[:4, 4:].mean()], [x[4:, :4].mean(), x[4:, 4:].mean()]]
    np.testing.assert_allclose(np.asarray(pooled), expected)
    assert float(pooled[0, 0]) == pytest.approx(13.5)  # mean row 1.5 (x 8) + mean col 1.5


def test_pool_max_and_floor():
    maps = jnp.arange(81.0).reshape(1, 9, 9, 1)
    pooled = conv.pool(maps, 4, "max")  # 9 // 4 = 2: the last row and column are dropped
    assert pooled.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(np.asarray(pooled[0, :, :, 0]), [[30, 34], [66, 70]])
    assert conv.pooled_shape((9, 9), 4) == (2, 2)


@pytest.mark.parametrize("size,stride,mode", [(3, None, "mean"), ((2, 5), None, "max"), (4, 2, "mean"),
                                              ((3, 2), (1, 2), "max")])
def test_pool_matches_reference(size, stride, mode):
    maps = jax.random.normal(jax.random.key(1), (2, 13, 11, 3))
    pooled = conv.pool(maps, size, mode, stride)
    np.testing.assert_allclose(np.asarray(pooled), _pool_reference(maps, size, mode, stride), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_pooling_gives_translation_invariance(mode):
    # A smooth random image; shift it by s < pool size: pooled features change much less than the
    # full-resolution maps do (relative to their spread), and the change grows with s.
    from scipy.ndimage import gaussian_filter

    big = gaussian_filter(np.random.default_rng(0).standard_normal((120, 120)), 2.0)
    big = (big / big.std()).astype(np.float32)
    W = 0.3 * jax.random.normal(jax.random.key(1), (16, 36))
    b = jnp.zeros(16)
    size = 8

    def features(s):
        maps = conv.convolve(big[None, s:s + 96, s:s + 96], W, b)
        return maps, conv.pool(maps, size, mode)

    m0, p0 = features(0)

    def change(a, a0):
        return float(jnp.mean(jnp.abs(a - a0)) / jnp.std(a0))

    d_pool = []
    for s in (1, 2, 3, size):
        m, p = features(s)
        d_pool.append(change(p, p0))
        if s < size:
            assert d_pool[-1] < 0.8 * change(m, m0), (s, d_pool[-1], change(m, m0))
    assert all(a < b for a, b in zip(d_pool, d_pool[1:])), d_pool
    assert d_pool[0] < 0.4 * d_pool[-1], d_pool  # a 1-pixel shift moves pooled features far less than a whole window


# ---------------------------------------------------------------------------------------- fused path
@pytest.mark.parametrize("size,stride,mode", [(6, None, "mean"), (6, None, "max"), ((5, 4), (2, 3), "mean"),
                                              (3, 1, "max")])
@pytest.mark.parametrize("tile_bytes", [1 << 22, 50_000, 600])
def test_convolve_pool_equals_pool_of_convolve(size, stride, mode, tile_bytes):
    # Large tiles: whole chunk at once; 50 kB: bands of pooled rows; 600 B: blocks of features too.
    images, W, b = _random(jax.random.key(2), 5, 30, 27, 2, 13, 4, 4)
    ref = conv.pool(conv.convolve(images, W, b), size, mode, stride)
    out = conv.convolve_pool(np.asarray(images), W, b, size=size, mode=mode, stride=stride, tile_bytes=tile_bytes,
                             chunk_size=2)
    assert out.shape == ref.shape
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5)


def test_convolve_pool_equals_hidden_layer_reference_ufldl_sizes_small():
    # 8 x 8 features, 19 x 19 pooling as in UFLDL (fewer features and images, for speed).
    images, W, b = _random(jax.random.key(7), 2, 96, 96, None, 6, 8, 8)
    ref = _pool_reference(_patch_reference(images, W, b, 8, 8), 19, "mean")
    out = conv.convolve_pool(images, W, b, size=19)
    assert out.shape == (2, 4, 4, 6)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-5)


def test_convolve_pool_memory_budget_chunks_compile_once():
    images, W, b = _random(jax.random.key(8), 7, 20, 20, None, 4, 5, 5)
    ref = conv.pool(conv.convolve(images, W, b), 4, "max")
    before = conv._convolve_pool_chunk._cache_size()
    # A budget for about 3 images per chunk: 3 chunks, the last one padded, one compilation.
    per_image = (20 * 20 + 4 * 4 * 4) * 4
    out = conv.convolve_pool(images, W, b, size=4, mode="max", memory_budget=4 * 2000 + 3 * per_image,
                             tile_bytes=2000)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-6)
    assert conv._convolve_pool_chunk._cache_size() == before + 1


def test_convolve_pool_writes_into_out_array():
    images, W, b = _random(jax.random.key(10), 5, 14, 14, None, 3, 3, 3)
    ref = conv.pool(conv.convolve(images, W, b), 4, "mean")
    out = np.full((5, 3, 3, 3), np.nan, np.float32)
    res = conv.convolve_pool(np.asarray(images), W, b, size=4, chunk_size=2, out=out)
    assert res is out
    np.testing.assert_allclose(out, np.asarray(ref), atol=1e-6)
    with pytest.raises(ValueError, match="out: expected a writable float array of shape \\(5, 3, 3, 3\\)"):
        conv.convolve_pool(np.asarray(images), W, b, size=4, out=np.zeros((5, 3, 3, 2), np.float32))


def test_plan_respects_tile_budget():
    for Hp, Wu, k, tile in [(4, 76, 400, 1 << 22), (4, 76, 400, 1 << 20), (10, 300, 64, 1 << 16), (3, 12, 5, 10**6)]:
        nb, R, kb = conv._plan(Hp, Wu, k, (19, 19), (19, 19), 4, tile)
        assert 1 <= R <= Hp and 1 <= kb <= k and nb >= 1
        rows = (R - 1) * 19 + 19
        if kb > 1 or R > 1 or nb > 1:
            assert nb * rows * Wu * kb * 4 <= tile


def test_convolve_pool_under_jit_and_vmap_over_features():
    images, W, b = _random(jax.random.key(9), 3, 16, 16, None, 5, 3, 3)
    ref = conv.pool(conv.convolve(images, W, b, "tanh"), 7, "mean")
    f = jax.jit(lambda x, W, b: conv.convolve_pool(x, W, b, "tanh", size=7, chunk_size=2))
    np.testing.assert_allclose(np.asarray(f(images, W, b)), np.asarray(ref), atol=1e-5)
    # Two feature sets at once (e.g. a sweep over learned features).
    Ws = jnp.stack([W, -W])
    out = jax.vmap(lambda W_: conv.convolve_pool(images, W_, b, "tanh", size=7))(Ws)
    ref_neg = conv.pool(conv.convolve(images, -W, b, "tanh"), 7, "mean")
    assert not np.allclose(np.asarray(ref_neg), np.asarray(ref), atol=1e-3)  # the lanes differ ...
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(ref), atol=1e-5)  # ... and each is its own
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(ref_neg), atol=1e-5)


# ------------------------------------------------------------------------------------------ errors
def test_bad_arguments_raise_value_errors_naming_the_argument():
    images, W, b = _random(jax.random.key(0), 2, 12, 12, None, 3, 4, 4)
    with pytest.raises(ValueError, match="W: expected p\\*p\\*C"):
        conv.convolve(images, W[:, :15], b)
    with pytest.raises(ValueError, match="W: expected ph\\*pw\\*C"):
        conv.convolve(images, W, b, patch_size=(3, 4))
    with pytest.raises(ValueError, match="b: expected shape \\(3,\\)"):
        conv.convolve(images, W, b[:2])
    with pytest.raises(ValueError, match="images: expected a 3-D"):
        conv.convolve(images[0], W, b)
    with pytest.raises(ValueError, match="images: expected finite"):
        conv.convolve(np.asarray(images).copy() * np.array([np.nan] + [1.0] * 11)[None, None], W, b)
    with pytest.raises(ValueError, match="images: expected images of at least 4 x 4"):
        conv.convolve(images[:, :3], W, b)
    with pytest.raises(ValueError, match="activation"):
        conv.convolve(images, W, b, "softmax")
    with pytest.raises(ValueError, match="mode"):
        conv.convolve_pool(images, W, b, size=3, mode="median")
    with pytest.raises(ValueError, match="size: expected a pooling window no larger"):
        conv.convolve_pool(images, W, b, size=10)
    with pytest.raises(ValueError, match="size"):
        conv.pool(jnp.ones((1, 4, 4, 1)), 0)
    with pytest.raises(ValueError, match="maps: expected a 4-D"):
        conv.pool(jnp.ones((4, 4, 1)), 2)
    with pytest.raises(ValueError, match="chunk_size"):
        conv.convolve_pool(images, W, b, size=3, chunk_size=0)
    with pytest.raises(ValueError, match="images: expected a real numeric"):
        conv.convolve(np.array([["a"]]), W, b)
