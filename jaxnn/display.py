"""Filter grids as images, like UFLDL's display_network.m.

:func:`filter_grid` tiles the rows of a weight matrix (each a flattened p x p patch) into one 2-D
array; :func:`save_filter_grid` writes it as a grayscale PNG through ``matplotlib.image.imsave``
(matplotlib is imported lazily and needs no display).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxnn import validate
from jaxnn.datasets import require
from jaxnn.io import atomic_write

__all__ = ["filter_grid", "save_filter_grid"]


def filter_grid(W, p: Optional[int] = None, cols: Optional[int] = None, pad: int = 1,
                normalize: str = "each", center: bool = True) -> np.ndarray:
    """Tile filters into one image, as UFLDL's display_network: the mean of all entries is removed,
    then each filter is scaled by its largest absolute value (mid-gray is 0, black/white are
    -max/+max), and tiles are separated by a black border.

    Args:
      W: (k, p * p) filters, one row-major p x p patch per row (e.g. the max-activation inputs).
      p: patch side; default ``sqrt(p * p)``.
      cols: tiles per row; default ``ceil(sqrt(k))``.
      pad: border width in pixels.
      normalize: ``"each"`` (every filter by its own max |value|, as display_network) or ``"all"``
        (one scale for all filters).
      center: subtract the mean of all entries of W first (display_network's ``A = A - mean(A(:))``).

    Returns:
      (rows * (p + pad) + pad, cols * (p + pad) + pad) float array with values in [0, 1]
      (0.5 is zero weight; borders are 0).

    Raises:
      ValueError: W is not a 2-D real array of p * p columns, or holds NaN or inf.
    """
    W = np.asarray(validate.check_array("W", W, ndim=2, floating=True), np.float64)
    validate.check_finite("W", W)  # one NaN would make every tile NaN (the mean, and its filter's max)
    k, n = W.shape
    if p is None:
        p = int(round(np.sqrt(n)))
    validate.check_int("p", p)
    if p * p != n:
        raise ValueError(f"W: expected rows of p * p = {p}*{p} pixels, got {n} columns")
    validate.check_int("pad", pad, minimum=0)
    if normalize not in ("each", "all"):
        raise ValueError(f"normalize: expected 'each' or 'all', got {normalize!r}")
    if center:
        W = W - W.mean()
    cols = int(np.ceil(np.sqrt(k))) if cols is None else validate.check_int("cols", cols)
    rows = int(np.ceil(k / cols))
    scale = np.max(np.abs(W), axis=1, keepdims=True) if normalize == "each" else np.max(np.abs(W)) * np.ones((k, 1))
    tiles = 0.5 + 0.5 * W / np.where(scale > 0, scale, 1.0)
    out = np.zeros((rows * (p + pad) + pad, cols * (p + pad) + pad))
    for i in range(k):
        r, c = divmod(i, cols)
        y, x = pad + r * (p + pad), pad + c * (p + pad)
        out[y:y + p, x:x + p] = tiles[i].reshape(p, p)
    return out


def save_filter_grid(path, W, p: Optional[int] = None, cols: Optional[int] = None, zoom: int = 8,
                     pad: int = 1, normalize: str = "each", center: bool = True) -> np.ndarray:
    """Write :func:`filter_grid` of W as a grayscale PNG, each pixel enlarged to ``zoom`` x ``zoom``.

    Args:
      path: output ``.png`` path (written atomically).
      W, p, cols, pad, normalize, center: see :func:`filter_grid`.
      zoom: integer upscaling factor (nearest neighbour) so small patches are visible.

    Returns:
      The grid (before zooming).
    """
    grid = filter_grid(W, p, cols, pad, normalize, center)
    zoom = validate.check_int("zoom", zoom)
    big = np.kron(grid, np.ones((zoom, zoom)))
    mimage = require("matplotlib.image")
    atomic_write(os.fspath(path), lambda f: mimage.imsave(f, big, cmap="gray", vmin=0.0, vmax=1.0, format="png"))
    return grid
