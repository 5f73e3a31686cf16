"""Convolution and pooling of learned features over large images (lecture sections 7 and 8).

Features learned on small p x p patches (e.g. by a sparse autoencoder) are run over *every* p x p
patch of a large image: a 'valid' convolution, computed with ``lax.conv_general_dilated``.  The
resulting feature maps are then pooled (mean or max) over regions with ``lax.reduce_window``.

Layouts (channels last, NHWC: the faster layout for ``lax.conv_general_dilated`` on a CPU):

* ``images``: (n, H, W) grayscale or (n, H, W, C).
* ``W``: (k, ph * pw * C), one feature per row, as a hidden layer's weights W^(1) (lecture section 1).
  A patch is flattened row-major over (row, column, channel): ``image[i:i+ph, j:j+pw].reshape(-1)``,
  i.e. pixel (r, c, ch) is column ``(r * pw + c) * C + ch``.  For C = 1 this is the order of
  :func:`jaxnn.patches.sample_patches`.  ``b``: (k,).
* maps: (n, H - ph + 1, W - pw + 1, k); pooled: (n, Hp, Wp, k).

``convolve`` is a cross-correlation: map[i, j, f] = f(W_f . patch(i, j) + b_f), exactly the hidden
layer evaluated on the patch whose top-left pixel is (i, j).  (UFLDL's MATLAB code flips the feature
before ``conv2`` to get the same thing.)

When the features were learned on *preprocessed* patches (each patch's mean removed, a mean patch
subtracted, ZCA whitening, an affine rescaling), the preprocessing is affine in the raw patch, so it
folds into the convolution's weights and bias: :func:`fold_preprocessing` returns (W', b') with
W' x + b' = W pre(x) + b, and ``convolve(images, W', b')`` then equals the hidden layer on each
preprocessed patch, without ever preprocessing a patch.

References:
  Lecture "Neural networks II", sections 7 (convolution) and 8 (pooling).
  UFLDL tutorial, "Feature extraction using convolution", "Pooling", "Exercise: Convolution and
  Pooling" (cnnConvolve.m, cnnPool.m; 400 features of 8 x 8 over 64 x 64 images, 19 x 19 pooling).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn import validate
from jaxnn.activations import ActivationLike, get_activation

__all__ = [
    "MODES",
    "convolve",
    "pool",
    "convolve_pool",
    "pooled_shape",
    "fold_preprocessing",
]

MODES = ("mean", "max")
_DN = ("NHWC", "HWIO", "NHWC")  # lax dimension numbers: images, kernel, output
#: Default memory budget of :func:`convolve_pool` for one chunk (inputs, outputs and work), bytes.
DEFAULT_MEMORY_BUDGET = 64 * 2**20
#: Default size of the largest block of full-resolution maps computed at once (cache-sized), bytes.
DEFAULT_TILE_BYTES = 4 * 2**20

Size = Union[int, Sequence[int]]


# ------------------------------------------------------------------------------------------ checks
def _pair(name: str, v: Any) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w), each >= 1."""
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"{name}: expected an integer or a pair (height, width), got {v!r}")
        return (validate.check_int(f"{name}[0]", v[0]), validate.check_int(f"{name}[1]", v[1]))
    v = validate.check_int(name, v)
    return (v, v)


def _check_images(images: Any) -> Any:
    """Check rank and dtype of (n, H, W[, C]) images without copying them (they may be a large NumPy
    array or memmap that :func:`convolve_pool` streams chunk by chunk); value checks on concrete data."""
    if isinstance(images, (str, bytes)) or images is None:
        raise ValueError(f"images: expected a numeric array (n, H, W) or (n, H, W, C), got {images!r}")
    if not (hasattr(images, "shape") and hasattr(images, "dtype")):
        try:
            images = np.asarray(images)
        except Exception as e:
            raise ValueError(f"images: expected a numeric array, got {type(images).__name__} ({e})") from None
    if np.dtype(images.dtype).kind not in "biuf":
        raise ValueError(f"images: expected a real numeric array, got dtype {images.dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(f"images: expected a 3-D (n, H, W) or 4-D (n, H, W, C) array, got shape "
                         f"{tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError(f"images: expected at least one image, got shape {tuple(images.shape)}")
    if validate.is_concrete(images):
        n, step = images.shape[0], max(1, (1 << 24) // max(1, int(np.prod(images.shape[1:]))))
        for i in range(0, n, step):  # chunked: no full-size temporary for a large input
            bad = ~np.isfinite(np.asarray(images[i:i + step]))
            if bad.any():
                first = i + int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1)))
                raise ValueError(f"images: expected finite values, got {int(bad.sum())} NaN/inf entries (first in "
                                 f"images[{first}]) in an array of shape {tuple(images.shape)}")
    return images


def _check_features(W, b, C: int, patch_size: Optional[Size]):
    """Check W (k, ph*pw*C) and b (k,); returns (W, b, (ph, pw))."""
    W = validate.check_array("W", W, ndim=2, floating=True)
    b = validate.check_array("b", b, ndim=1, floating=True).astype(W.dtype)
    if b.shape != (W.shape[0],):
        raise ValueError(f"b: expected shape ({W.shape[0]},) (one bias per row of W {tuple(W.shape)}), "
                         f"got shape {tuple(b.shape)}")
    n_in = W.shape[1]
    if patch_size is None:
        p = math.isqrt(n_in // C) if n_in % C == 0 else 0
        if p < 1 or p * p * C != n_in:
            raise ValueError(f"W: expected p*p*C = p*p*{C} columns for a square p x p patch with {C} "
                             f"channel(s), got shape {tuple(W.shape)}; pass patch_size=(ph, pw) for "
                             "rectangular patches")
        ph = pw = p
    else:
        ph, pw = _pair("patch_size", patch_size)
        if ph * pw * C != n_in:
            raise ValueError(f"W: expected ph*pw*C = {ph}*{pw}*{C} = {ph * pw * C} columns for patch_size "
                             f"{(ph, pw)}, got shape {tuple(W.shape)}")
    validate.check_finite("W", W)
    validate.check_finite("b", b)
    return W, b, (ph, pw)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")


def pooled_shape(shape: Sequence[int], size: Size, stride: Optional[Size] = None) -> tuple[int, int]:
    """(Hp, Wp) of pooling an (H, W) map with ``size`` windows every ``stride`` pixels ('valid'):
    ``Hp = (H - size_h) // stride_h + 1`` (floor: the rows and columns that no whole window covers,
    at the bottom and right, are dropped)."""
    sh, sw = _pair("size", size)
    th, tw = (sh, sw) if stride is None else _pair("stride", stride)
    H, W = int(shape[0]), int(shape[1])
    if sh > H or sw > W:
        raise ValueError(f"size: expected a pooling window no larger than the maps ({H} x {W}), got {(sh, sw)}")
    return ((H - sh) // th + 1, (W - sw) // tw + 1)


# ----------------------------------------------------------------------------------- the compute
def _kernel(W: jax.Array, ph: int, pw: int, C: int) -> jax.Array:
    """W (k, ph*pw*C), rows flattened row-major over (row, col, channel) -> HWIO kernel (ph, pw, C, k)."""
    return W.reshape(W.shape[0], ph, pw, C).transpose(1, 2, 3, 0)


def _conv(x: jax.Array, kernel: jax.Array, b: jax.Array, f) -> jax.Array:
    """a = f(z), z[n, i, j, :] = W . patch(i, j) + b: (n, H, W, C) -> (n, H-ph+1, W-pw+1, k)."""
    z = lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DN,
                                 precision=lax.Precision.HIGHEST)
    return f(z + b)  # a = f(W x_patch + b) at every patch position


@partial(jax.jit, static_argnames=("patch", "activation"))
def _convolve(x, W, b, *, patch, activation):
    return _conv(x, _kernel(W, *patch, x.shape[-1]), b, get_activation(activation).f)


def _pool_windows(a: jax.Array, size, stride, mode: str) -> jax.Array:
    """Pool axes 1, 2 of (n, H, W, k) maps, 'valid' windows (floor)."""
    sh, sw = size
    th, tw = stride
    if (sh, sw) == (th, tw) and a.shape[1] % sh == 0 and a.shape[2] % sw == 0:
        # Non-overlapping windows that tile the maps exactly: a reshape-reduce, the same numbers as
        # reduce_window, and cheaper on a CPU.
        n, H, Wd, k = a.shape
        r = a.reshape(n, H // sh, sh, Wd // sw, sw, k)
        return jnp.mean(r, axis=(2, 4)) if mode == "mean" else jnp.max(r, axis=(2, 4))
    dims, strides = (1, sh, sw, 1), (1, th, tw, 1)
    if mode == "mean":  # mean pooling divides by the window: sum / (sh * sw)
        return lax.reduce_window(a, jnp.array(0, a.dtype), lax.add, dims, strides, "VALID") / (sh * sw)
    return lax.reduce_window(a, jnp.array(-jnp.inf, a.dtype), lax.max, dims, strides, "VALID")


@partial(jax.jit, static_argnames=("size", "stride", "mode"))
def _pool(maps, *, size, stride, mode):
    sh, sw = size
    th, tw = stride
    dims, strides = (1, sh, sw, 1), (1, th, tw, 1)
    if mode == "mean":
        return lax.reduce_window(maps, jnp.array(0, maps.dtype), lax.add, dims, strides, "VALID") / (sh * sw)
    return lax.reduce_window(maps, jnp.array(-jnp.inf, maps.dtype), lax.max, dims, strides, "VALID")


# ------------------------------------------------------------------------------------ public API
def convolve(images, W, b, activation: ActivationLike = "sigmoid", *, patch_size: Optional[Size] = None) -> jax.Array:
    """Evaluate a hidden layer on every patch of every image ('valid' convolution).

    ``maps[n, i, j, f] = activation(W[f] . images[n, i:i+ph, j:j+pw].reshape(-1) + b[f])``.

    Args:
      images: (n, H, W) or (n, H, W, C) images (cast to W's dtype).
      W: (k, ph * pw * C) feature weights, one feature per row (a hidden layer's W^(1)); patches are
        flattened row-major over (row, column, channel).  Fold preprocessing in with
        :func:`fold_preprocessing` first.
      b: (k,) biases.
      activation: hidden f: ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"`` or a callable.
      patch_size: (ph, pw) or p; default: square, p = sqrt(W.shape[1] / C).

    Returns:
      (n, H - ph + 1, W - pw + 1, k) feature maps, channels last.

    References:
      Lecture section 7; UFLDL "Feature extraction using convolution" (cnnConvolve.m).
    """
    images = _check_images(images)
    C = images.shape[3] if images.ndim == 4 else 1
    W, b, (ph, pw) = _check_features(W, b, C, patch_size)
    get_activation(activation)
    if images.shape[1] < ph or images.shape[2] < pw:
        raise ValueError(f"images: expected images of at least {ph} x {pw} pixels (the patch size), "
                         f"got shape {tuple(images.shape)}")
    x = jnp.asarray(images, W.dtype)
    if x.ndim == 3:
        x = x[..., None]
    return _convolve(x, W, b, patch=(ph, pw), activation=activation)


def pool(maps, size: Size, mode: str = "mean", stride: Optional[Size] = None) -> jax.Array:
    """Pool feature maps over regions, with ``lax.reduce_window``.

    By default the regions are contiguous and non-overlapping (``stride = size``).  When ``size``
    does not divide the map, the pooled shape is floored: the last rows/columns that no whole
    window covers are dropped (as UFLDL's cnnPool, which assumes it divides).

    Args:
      maps: (n, H, W, k) feature maps (e.g. from :func:`convolve`).
      size: window (sh, sw) or s.
      mode: ``"mean"`` (sum over the window divided by sh * sw) or ``"max"``.
      stride: step between windows, (th, tw) or t; default ``size`` (non-overlapping).

    Returns:
      (n, Hp, Wp, k) with ``Hp = (H - sh) // th + 1``, ``Wp = (W - sw) // tw + 1``.

    References:
      Lecture section 8; UFLDL "Pooling" (cnnPool.m).
    """
    maps = validate.check_array("maps", maps, ndim=4, floating=True)
    validate.check_finite("maps", maps)
    _check_mode(mode)
    size = _pair("size", size)
    stride = size if stride is None else _pair("stride", stride)
    pooled_shape(maps.shape[1:3], size, stride)  # checks the window fits
    return _pool(maps, size=size, stride=stride, mode=mode)


def _plan(Hp: int, Wu: int, k: int, size, stride, itemsize: int, tile_bytes: int):
    """Tile sizes for the fused pipeline: (images per tile, pooled rows per band, features per block),
    so one tile of full-resolution maps takes about ``tile_bytes``."""
    sh, th = size[0], stride[0]

    def tile(nb, R, kb):  # bytes of a (nb, conv rows of R pooled rows, Wu, kb) block of maps
        return nb * ((R - 1) * th + sh) * Wu * kb * itemsize

    if tile(1, Hp, k) <= tile_bytes:
        return max(1, tile_bytes // tile(1, Hp, k)), Hp, k
    R = max((r for r in range(1, Hp + 1) if tile(1, r, k) <= tile_bytes), default=0)
    if R:
        return 1, R, k
    kb = max(1, min(k, tile_bytes // tile(1, 1, 1)))
    n_fb = -(-k // kb)
    return 1, 1, -(-k // n_fb)  # equal blocks: the least padding for that many blocks


@partial(jax.jit, static_argnames=("patch", "activation", "size", "stride", "mode", "nb", "R", "kb"))
def _convolve_pool_chunk(x, W, b, *, patch, activation, size, stride, mode, nb, R, kb):
    """The compiled step: pooled features of a chunk of images x (c, H, W, C), c a multiple of nb.

    Only the conv rows/columns that some pooling window covers are computed, in tiles of ``nb``
    images x ``R`` pooled rows x ``kb`` features (lax.map over tiles), each tile pooled at once, so
    the full-resolution maps of the chunk never exist in memory together.
    """
    ph, pw = patch
    (sh, sw), (th, tw) = size, stride
    f = get_activation(activation).f
    c, H, Wd, C = x.shape
    k = W.shape[0]
    Hp, Wp = (H - ph + 1 - sh) // th + 1, (Wd - pw + 1 - sw) // tw + 1
    Wu = (Wp - 1) * tw + sw  # conv columns that a window covers
    x = x[:, :, :Wu + pw - 1]  # input columns those need
    # Feature blocks: pad k up to a multiple of kb (the padded features are dropped at the end).
    n_fb = -(-k // kb)
    Wpad = jnp.pad(W, ((0, n_fb * kb - k), (0, 0)))
    bpad = jnp.pad(b, (0, n_fb * kb - k))
    kernels = _kernel(Wpad, ph, pw, C).reshape(ph, pw, C, n_fb, kb).transpose(3, 0, 1, 2, 4)
    biases = bpad.reshape(n_fb, kb)
    # Bands of R pooled rows; the last band starts at Hp - R (it may overlap the one before).
    n_bands = -(-Hp // R)
    starts = jnp.asarray([min(i * R, Hp - R) for i in range(n_bands)], jnp.int32)
    rows_in = (R - 1) * th + sh + ph - 1  # input rows of one band

    def group(xg):  # (nb, H, Wu+pw-1, C) -> (n_bands, n_fb, nb, R, Wp, kb)
        def band(r0):
            xb = lax.dynamic_slice_in_dim(xg, r0 * th, rows_in, axis=1)

            def block(kb_):
                kernel, bias = kb_
                return _pool_windows(_conv(xb, kernel, bias, f), (sh, sw), (th, tw), mode)

            return lax.map(block, (kernels, biases))

        return lax.map(band, starts)

    out = lax.map(group, x.reshape(c // nb, nb, *x.shape[1:]))  # (c/nb, n_bands, n_fb, nb, R, Wp, kb)
    out = out.transpose(0, 3, 1, 4, 5, 2, 6).reshape(c, n_bands, R, Wp, n_fb * kb)
    j = np.arange(Hp)  # pooled row j lives in band min(j // R, n_bands - 1), at its offset there
    band_of = np.minimum(j // R, n_bands - 1)
    offset = j - np.minimum(band_of * R, Hp - R)
    return out[:, band_of, offset, :, :k]


def convolve_pool(images, W, b, activation: ActivationLike = "sigmoid", *, size: Size, mode: str = "mean",
                  stride: Optional[Size] = None, patch_size: Optional[Size] = None,
                  chunk_size: Optional[int] = None, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                  tile_bytes: int = DEFAULT_TILE_BYTES, out: Optional[np.ndarray] = None):
    """Pooled features of many images, memory-bounded: ``pool(convolve(images, W, b), size, mode)``.

    The images are processed ``chunk_size`` at a time by one compiled step (the last chunk is
    padded, so there is one compilation).  Inside the step only the positions that some pooling
    window covers are convolved, in cache-sized tiles (a few images x a band of pooled rows x a block
    of features, ~``tile_bytes``), and each tile is pooled as soon as it is computed: the
    full-resolution maps of all images (n x (H-p+1) x (W-p+1) x k numbers) never exist.  A NumPy
    input (or memmap) is moved to the device one chunk at a time.

    Args:
      images: (n, H, W) or (n, H, W, C) images.
      W, b, activation, patch_size: as in :func:`convolve`.
      size: pooling window (sh, sw) or s.
      mode: ``"mean"`` or ``"max"``.
      stride: pooling step; default ``size`` (non-overlapping regions, floored as in :func:`pool`).
      chunk_size: images per compiled call; default: as many as fit ``memory_budget`` (their input
        pixels and pooled outputs, plus a few tiles of work).
      memory_budget: bytes for one chunk when ``chunk_size`` is not given.
      tile_bytes: size of the block of full-resolution maps computed at once.
      out: optional writable NumPy array (or ``np.memmap``) of shape (n, Hp, Wp, k) that receives
        the pooled features chunk by chunk (then returned).  With ``np.memmap`` input and output, the
        process's own memory stays about ``memory_budget`` (plus JAX's fixed overhead) whatever the
        number of images (file pages are the OS's cache).  Concrete images only.

    Returns:
      (n, Hp, Wp, k) pooled features, equal to ``pool(convolve(images, W, b, activation), size, mode,
      stride)`` (``out`` itself when given).

    Memory: the input and output arrays, plus one chunk's work (about ``memory_budget`` when
    ``chunk_size`` is not given); the full-resolution maps exist one tile at a time.

    References:
      Lecture sections 7-8; UFLDL "Exercise: Convolution and Pooling" (convolve and pool 400 features
      over thousands of images in chunks of features to bound memory).
    """
    images = _check_images(images)
    C = images.shape[3] if images.ndim == 4 else 1
    W, b, (ph, pw) = _check_features(W, b, C, patch_size)
    get_activation(activation)
    _check_mode(mode)
    n, H, Wd = images.shape[:3]
    if H < ph or Wd < pw:
        raise ValueError(f"images: expected images of at least {ph} x {pw} pixels (the patch size), "
                         f"got shape {tuple(images.shape)}")
    size = _pair("size", size)
    stride = size if stride is None else _pair("stride", stride)
    Hp, Wp = pooled_shape((H - ph + 1, Wd - pw + 1), size, stride)
    memory_budget = validate.check_int("memory_budget", memory_budget)
    tile_bytes = validate.check_int("tile_bytes", tile_bytes)
    k, itemsize = W.shape[0], jnp.dtype(W.dtype).itemsize
    Wu = (Wp - 1) * stride[1] + size[1]
    nb, R, kb = _plan(Hp, Wu, k, size, stride, itemsize, tile_bytes)
    if chunk_size is None:
        # A chunk holds its input twice (as given, and cropped) and its pooled output ~3 times (the
        # tiles' results, transposed, gathered); XLA's own buffers take about as much again, hence the
        # factor 2 (benchmarks/bench_conv.py measures the peak memory of convolve_pool).
        per_image = 2 * (2 * H * Wd * C + 3 * Hp * Wp * k) * itemsize
        chunk_size = max(1, (memory_budget - 4 * tile_bytes) // per_image)
    else:
        chunk_size = validate.check_int("chunk_size", chunk_size)
    chunk_size = min(chunk_size, n)
    nb = min(nb, chunk_size)
    padded = -(-chunk_size // nb) * nb  # every call gets the same shape: one compilation
    concrete = validate.is_concrete(images)
    if out is not None:
        if not concrete or not isinstance(out, np.ndarray):
            raise ValueError(f"out: expected a writable NumPy array (concrete images only), got {type(out).__name__}")
        if out.shape != (n, Hp, Wp, k) or not out.flags.writeable or np.dtype(out.dtype).kind != "f":
            raise ValueError(f"out: expected a writable float array of shape {(n, Hp, Wp, k)}, got shape "
                             f"{out.shape}, dtype {out.dtype}")
    outs = []
    for i in range(0, n, chunk_size):
        x = images[i:i + chunk_size]
        x = np.asarray(x, W.dtype) if concrete and not isinstance(x, jax.Array) else jnp.asarray(x, W.dtype)
        m = x.shape[0]
        if x.ndim == 3:
            x = x[..., None]
        if m < padded:
            x = jnp.pad(jnp.asarray(x), ((0, padded - m), (0, 0), (0, 0), (0, 0)))
        y = _convolve_pool_chunk(jnp.asarray(x), W, b, patch=(ph, pw), activation=activation, size=size,
                                 stride=stride, mode=mode, nb=nb, R=R, kb=kb)
        if out is not None:
            out[i:i + m] = np.asarray(y[:m])
        else:
            outs.append(y[:m])
    if out is not None:
        return out
    return outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=0)


def fold_preprocessing(W, b, *, whitening=None, mean=None, remove_patch_mean: bool = False,
                       scale=1.0, shift=0.0, channels: int = 1):
    """Fold affine patch preprocessing into a hidden layer's weights and bias.

    Features learned on preprocessed patches ``x_pre = scale * M (P x - mu) + shift`` (P: remove each
    patch's own mean, per channel, if ``remove_patch_mean``; mu: a mean patch; M: a whitening
    matrix such as ZCA's) see the raw patch x through

        W x_pre + b = W' x + b',   W' = scale * W M P,   b' = b - scale * W M mu + shift * W 1

    so ``convolve(images, W', b')`` evaluates the trained hidden layer on every preprocessed patch
    without preprocessing any patch (UFLDL: ``W * ZCAWhite`` and ``b - W * ZCAWhite * meanPatch``).
    Non-affine steps (e.g. the clipping in :func:`jaxnn.patches.normalize_ufldl`) cannot be folded.

    Args:
      W: (k, n) weights learned on preprocessed patches; n = p * p * channels.
      b: (k,) biases.
      whitening: (n, n) matrix M, or a fitted :class:`jaxnn.patches.ZCA` (whose ``W`` is M and whose
        ``mean`` is mu; then ``mean`` must be left out).
      mean: (n,) mean patch mu (subtracted after the per-patch mean removal).
      remove_patch_mean: subtract each patch's mean (per channel) first.
      scale, shift: final affine rescaling (scalars, may be traced).
      channels: C, to remove the patch mean per channel (columns ``ch, ch + C, ...``).

    Returns:
      ``(W', b')`` with shapes (k, n) and (k,).

    References:
      UFLDL "Exercise: Convolution and Pooling" (cnnConvolve.m folds ZCA whitening and the mean
      patch into the features), "Linear Decoders".
    """
    W = validate.check_array("W", W, ndim=2, floating=True)
    k, n = W.shape
    b = validate.check_array("b", b, ndim=1, floating=True).astype(W.dtype)
    if b.shape != (k,):
        raise ValueError(f"b: expected shape ({k},) (one bias per row of W {tuple(W.shape)}), "
                         f"got shape {tuple(b.shape)}")
    channels = validate.check_int("channels", channels)
    if n % channels:
        raise ValueError(f"channels: expected a divisor of W's {n} columns, got {channels}")
    if whitening is not None and hasattr(whitening, "W") and hasattr(whitening, "mean"):
        if mean is not None:
            raise ValueError("mean: leave mean out when whitening is a fitted ZCA (it carries its mean)")
        whitening, mean = whitening.W, whitening.mean
    validate.check_rule("scale", scale, "finite")
    validate.check_rule("shift", shift, "finite")
    Wm = W
    if whitening is not None:
        M = validate.check_array("whitening", whitening, ndim=2, floating=True).astype(W.dtype)
        if M.shape != (n, n):
            raise ValueError(f"whitening: expected shape ({n}, {n}) to match W {tuple(W.shape)}, "
                             f"got shape {tuple(M.shape)}")
        Wm = Wm @ M  # W M
    b_new = b
    if mean is not None:
        mu = validate.check_array("mean", mean, ndim=1, floating=True).astype(W.dtype)
        if mu.shape != (n,):
            raise ValueError(f"mean: expected shape ({n},) to match W {tuple(W.shape)}, got shape {tuple(mu.shape)}")
        b_new = b_new - scale * (Wm @ mu)  # - scale W M mu
    b_new = b_new + shift * jnp.sum(W, axis=1)  # + shift W 1
    if remove_patch_mean:
        # (W M) P with P = I - (1/q) 1 1^T per channel (symmetric): subtract each row's per-channel mean.
        Wc = Wm.reshape(k, n // channels, channels)
        Wm = (Wc - jnp.mean(Wc, axis=1, keepdims=True)).reshape(k, n)
    return scale * Wm, b_new
