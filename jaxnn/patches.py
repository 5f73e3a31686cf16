"""Natural-image patches for the sparse autoencoder (lecture section 6; UFLDL's exercise).

Everything comes from images that ship inside installed packages (no downloads): scikit-image's
photographs (grayscale ones as they are, colour ones converted to gray) and scikit-learn's two
sample images.  The pipeline of UFLDL's sparse autoencoder exercise is::

    images = whiten_images_1f(load_images())     # how UFLDL's IMAGES.mat was made (Olshausen & Field)
    X = sample_patches(key, images, m=10000, p=8) # (m, p*p), row-major p x p patches
    X = normalize_ufldl(X)                         # remove patch mean, clip +-3 std, rescale to [0.1, 0.9]

ZCA whitening (UFLDL's "PCA and whitening" / linear decoder exercises) is a reusable fit/apply
transform, :func:`zca_fit` / :func:`zca_apply`, whose regularizer epsilon is stated *relative to the
data's scale* (a multiple of the mean eigenvalue of the patch covariance), so one number means the same
thing for pixels in [0, 1] or [0, 255] and for whitened or raw images.

Patches are flattened row-major: pixel (r, c) of a p x p patch is column ``r * p + c``.

References:
  UFLDL tutorial, "Exercise: Sparse Autoencoder" (sampleIMAGES.m, normalizeData), "Whitening",
  "Implementing PCA/Whitening" (ZCA with epsilon).
  B. A. Olshausen and D. J. Field, "Emergence of simple-cell receptive field properties by learning a
  sparse code for natural images", Nature 381 (1996); the whitening filter f exp(-(f/f_0)^4).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate
from jaxnn.datasets import require

__all__ = [
    "IMAGE_NAMES",
    "load_images",
    "whiten_image_1f",
    "whiten_images_1f",
    "sample_patches",
    "normalize_ufldl",
    "ZCA",
    "zca_fit",
    "zca_apply",
    "ufldl_patches",
]

# Photographs of natural scenes and textures shipped in the scikit-image wheel and with scikit-learn.
# (Left out: drawings, text, microscopy, astronomy and synthetic images.)
IMAGE_NAMES = ("camera", "astronaut", "chelsea", "coffee", "rocket", "grass", "gravel", "brick",
               "china", "flower")
_SKLEARN = ("china", "flower")


def _load_one(name: str) -> np.ndarray:
    if name in _SKLEARN:
        sk = require("sklearn.datasets")
        data = sk.load_sample_images()
        files = [str(f).replace("\\", "/").rsplit("/", 1)[-1] for f in data.filenames]
        img = data.images[files.index(f"{name}.jpg")]
    else:
        skdata = require("skimage.data")
        img = getattr(skdata, name)()
    img = np.asarray(img)
    if img.ndim == 3:
        color = require("skimage.color")
        img = color.rgb2gray(img[..., :3])  # float in [0, 1]
    elif img.dtype == np.uint8:
        img = img / 255.0
    return np.asarray(img, np.float64)


def load_images(names: Sequence[str] = IMAGE_NAMES) -> list[np.ndarray]:
    """Load grayscale photographs that ship with scikit-image and scikit-learn.

    Args:
      names: image names from :data:`IMAGE_NAMES` (scikit-image ``skimage.data`` functions and
        scikit-learn's ``"china"``/``"flower"``); colour images are converted with ``rgb2gray``.

    Returns:
      A list of 2-D float64 NumPy arrays (H, W) with values in [0, 1] (sizes differ).
    """
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or len(names) == 0:
        raise ValueError(f"names: expected a non-empty list of image names from {list(IMAGE_NAMES)}, got {names!r}")
    for n in names:
        if n not in IMAGE_NAMES:
            raise ValueError(f"names: unknown image {n!r}; expected names from {list(IMAGE_NAMES)}")
    return [_load_one(n) for n in names]


def whiten_image_1f(image, f0: float = 0.4) -> np.ndarray:
    """Flatten the ~1/f amplitude spectrum of one natural image (Olshausen & Field's whitening).

    Multiplies the image's Fourier transform by ``f * exp(-(f / f0)^4)``, with f the radial spatial
    frequency in cycles per pixel: the ramp f undoes the 1/f fall-off of natural images, the
    exponential removes the highest frequencies (noise, aliasing).  ``f0 = 0.4`` cycles/pixel is
    Olshausen's ``f_0 = 0.4 N`` cycles/picture for an N x N image.  The image is mirrored to twice
    its size before the FFT (and cropped back after), so the periodic FFT sees no seams at the borders.

    Args:
      image: (H, W) array.
      f0: cut-off of the low-pass envelope, cycles per pixel (0 < f0 <= 0.5 is typical).

    Returns:
      (H, W) float64 whitened image with zero mean (not yet scaled; see :func:`whiten_images_1f`).
    """
    img = np.asarray(image, np.float64)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"image: expected a 2-D array of at least 2 x 2 pixels, got shape {img.shape}")
    validate.check_rule("f0", f0, "positive")
    H, W = img.shape
    big = np.block([[img, img[:, ::-1]], [img[::-1, :], img[::-1, ::-1]]])  # even extension: no seams
    fy = np.fft.fftfreq(2 * H)[:, None]
    fx = np.fft.fftfreq(2 * W)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    filt = f * np.exp(-((f / f0) ** 4))  # Olshausen & Field: rho exp(-(rho/f_0)^4)
    out = np.real(np.fft.ifft2(np.fft.fft2(big - big.mean()) * filt))[:H, :W]
    return out - out.mean()


def whiten_images_1f(images: Sequence, f0: float = 0.4, variance: float = 0.1) -> list[np.ndarray]:
    """1/f-whiten every image and scale the set jointly to a mean pixel variance of ``variance``.

    This is how UFLDL's IMAGES.mat (ten 512 x 512 whitened natural images) was made:
    ``IMAGES = sqrt(0.1) * IMAGES / sqrt(mean(var(IMAGES)))``.

    Args:
      images: list of (H, W) arrays (sizes may differ).
      f0: see :func:`whiten_image_1f`.
      variance: target mean per-image pixel variance (UFLDL: 0.1).

    Returns:
      A list of (H, W) float64 arrays.
    """
    if not isinstance(images, (list, tuple)) or len(images) == 0:
        raise ValueError(f"images: expected a non-empty list of 2-D arrays, got {type(images).__name__}")
    validate.check_rule("variance", variance, "positive")
    out = [whiten_image_1f(img, f0) for img in images]
    s = np.sqrt(variance / np.mean([o.var() for o in out]))
    return [o * s for o in out]


def sample_patches(key, images: Sequence, m: int, p: int = 8, dtype=None) -> jax.Array:
    """Draw m random p x p patches, deterministically from ``key`` (UFLDL's sampleIMAGES).

    Each patch picks an image uniformly (as UFLDL does), then a top-left corner uniformly among the
    image's valid positions.  The same key, images, m and p always give the same patches.

    Args:
      key: PRNG key.
      images: list of 2-D arrays (H_k, W_k), each at least p x p.
      m: number of patches (static).
      p: patch side (static; 8 in UFLDL's exercise, 10 in the lecture).
      dtype: float dtype of the result (default: JAX's default float).

    Returns:
      (m, p * p) array, one row-major flattened patch per row.
    """
    validate.check_key("key", key)
    m = validate.check_int("m", m, minimum=1)
    p = validate.check_int("p", p, minimum=1)
    if not isinstance(images, (list, tuple)) or len(images) == 0:
        raise ValueError(f"images: expected a non-empty list of 2-D arrays, got {type(images).__name__}")
    imgs = [np.asarray(im) for im in images]
    for k, im in enumerate(imgs):
        if im.ndim != 2 or im.shape[0] < p or im.shape[1] < p:
            raise ValueError(f"images[{k}]: expected a 2-D array of at least {p} x {p} pixels, got shape {im.shape}")
    k_img, k_row, k_col = jax.random.split(key, 3)
    which = np.asarray(jax.random.randint(k_img, (m,), 0, len(imgs)))
    u_row = np.asarray(jax.random.uniform(k_row, (m,), jnp.float32))
    u_col = np.asarray(jax.random.uniform(k_col, (m,), jnp.float32))
    out = np.empty((m, p, p), np.float64)
    offs = np.arange(p)
    for k, im in enumerate(imgs):
        sel = np.nonzero(which == k)[0]
        if sel.size == 0:
            continue
        n_rows, n_cols = im.shape[0] - p + 1, im.shape[1] - p + 1
        r0 = np.minimum((u_row[sel] * n_rows).astype(np.int64), n_rows - 1)
        c0 = np.minimum((u_col[sel] * n_cols).astype(np.int64), n_cols - 1)
        out[sel] = im[(r0[:, None] + offs)[:, :, None], (c0[:, None] + offs)[:, None, :]]
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    return jnp.asarray(out.reshape(m, p * p), dtype)


def normalize_ufldl(X) -> jax.Array:
    """UFLDL's normalizeData: remove each patch's mean, clip to +-3 standard deviations (of all the
    centred pixels), and rescale linearly from [-3 std, 3 std] to [0.1, 0.9], the range of a sigmoid
    output unit away from its flat ends.

    Args:
      X: (m, n) patches, one per row.

    Returns:
      (m, n) array with values in [0.1, 0.9].
    """
    X = validate.check_array("X", X, ndim=2, floating=True)
    validate.check_finite("X", X)
    X = X - jnp.mean(X, axis=1, keepdims=True)  # remove DC of each patch
    pstd = 3.0 * jnp.std(X)
    pstd = jnp.where(pstd > 0, pstd, 1.0)
    X = jnp.clip(X, -pstd, pstd) / pstd  # in [-1, 1]
    return (X + 1.0) * 0.4 + 0.1  # in [0.1, 0.9]


class ZCA(NamedTuple):
    """A fitted ZCA whitening transform: ``x -> W (x - mean)``.

    Attributes:
      mean: (n,) per-feature mean of the fitting data.
      W: (n, n) symmetric whitening matrix U diag(1 / sqrt(S + epsilon_abs)) U^T.
      epsilon_abs: the absolute regularizer added to the eigenvalues S.
      epsilon: the relative regularizer that was asked for (epsilon_abs / mean(S)).
    """

    mean: jax.Array
    W: jax.Array
    epsilon_abs: jax.Array
    epsilon: jax.Array


def zca_fit(X, epsilon=2.0) -> ZCA:
    """Fit ZCA whitening to data X, with epsilon relative to the data's scale.

    With the covariance Sigma = (1/m) (X - mean)^T (X - mean) = U diag(S) U^T, ZCA maps
    ``x -> U diag(1/sqrt(S + eps)) U^T (x - mean)``.  Here ``eps = epsilon * mean(S)``: epsilon is a
    multiple of the mean eigenvalue (the average per-feature variance).  Eigen-directions with
    variance well below eps (mostly pixel noise at high frequencies) are left unamplified.  UFLDL's
    absolute 0.1 on 8 x 8 patches of pixels in [0, 1] sits above the mean eigenvalue of such data: on
    the photographs of :data:`IMAGE_NAMES` the mean eigenvalue is 0.055 (the median 0.002), so UFLDL's
    choice is a relative epsilon of 1.8; the default 2.0 is that.  Values far below (say 1e-3) whiten
    the noise, and features learned on such data stop looking like edges.

    Args:
      X: (m, n) data, one sample per row.
      epsilon: relative regularizer >= 0, in units of the mean eigenvalue (may be traced).

    Returns:
      A :class:`ZCA` transform (apply with :func:`zca_apply`).
    """
    X = validate.check_array("X", X, ndim=2, floating=True)
    validate.check_finite("X", X)
    if X.shape[0] < 2:
        raise ValueError(f"X: expected at least 2 samples (rows) to estimate a covariance, got shape {X.shape}")
    validate.check_rule("epsilon", epsilon, "nonnegative")
    mean = jnp.mean(X, axis=0)
    Xc = X - mean
    sigma = Xc.T @ Xc / X.shape[0]
    S, U = jnp.linalg.eigh(sigma)
    S = jnp.maximum(S, 0.0)
    eps_abs = jnp.asarray(epsilon, X.dtype) * jnp.mean(S)
    W = (U / jnp.sqrt(S + eps_abs)) @ U.T  # U diag(1/sqrt(S + eps)) U^T
    return ZCA(mean, W, eps_abs, jnp.asarray(epsilon, X.dtype))


def zca_apply(zca: ZCA, X) -> jax.Array:
    """Whiten X with a fitted :class:`ZCA`: rows ``W (x - mean)``; X is (m, n), result (m, n)."""
    if not isinstance(zca, ZCA):
        raise ValueError(f"zca: expected a ZCA from zca_fit, got {type(zca).__name__}")
    X = validate.check_array("X", X, ndim=2, floating=True)
    n = zca.mean.shape[0]
    if X.shape[1] != n:
        raise ValueError(f"X: expected {n} columns (the ZCA was fitted on {n} features), got shape {X.shape}")
    return (X - zca.mean) @ zca.W.T


def ufldl_patches(key, m: int = 10000, p: int = 8, names: Sequence[str] = IMAGE_NAMES, dtype=None) -> jax.Array:
    """UFLDL's exercise data in one call: 1/f-whitened images, m random p x p patches, normalized.

    Returns:
      (m, p * p) patches with values in [0.1, 0.9].
    """
    validate.check_key("key", key)  # before loading the images
    images = whiten_images_1f(load_images(names))
    return normalize_ufldl(sample_patches(key, images, m, p, dtype))
