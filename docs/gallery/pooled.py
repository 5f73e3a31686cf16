"""The gallery's one figure that no experiment writes: convolved *and pooled* features of
``experiments/conv_pool_textures.py``, drawn from the files its run leaves (``metrics.json``,
``features.npz``) with the script's own crop functions."""

from __future__ import annotations

import json
import os

import numpy as np


def texture_crops(mod, meta: dict, seed: int = 0) -> np.ndarray:
    """One standardized crop per texture class from the bottom rows each image keeps for testing.

    Args:
      mod: ``experiments/conv_pool_textures.py`` loaded as a module (``load_texture``, ``random_crops``).
      meta: its run's ``metrics.json`` (``classes``, ``regions``, ``args["crop"]``).

    Returns:
      (classes, crop, crop) float32 crops.
    """
    import jax

    key = jax.random.key(seed)
    crops = [mod.random_crops(jax.random.fold_in(key, i), mod.load_texture(name), 1, meta["args"]["crop"],
                              tuple(meta["regions"][name]["test_rows"]))[0]
             for i, name in enumerate(meta["classes"])]
    return np.stack(crops)


def pooled_maps(crops: np.ndarray, W: np.ndarray, b: np.ndarray, size: int):
    """Feature maps and their mean- and max-pooled maps, with :mod:`jaxnn.conv`.

    Args:
      crops: (n, H, W) images.  W: (k, p * p) features (preprocessing folded in).  b: (k,) biases.
      size: pooling region side.

    Returns:
      ``(maps, mean, max)``: (n, H - p + 1, W - p + 1, k), and twice (n, Hp, Wp, k).
    """
    from jaxnn import conv

    maps = conv.convolve(crops, W, b)
    return np.asarray(maps), np.asarray(conv.pool(maps, size, "mean")), np.asarray(conv.pool(maps, size, "max"))


def _show(ax, image, title, **kw):
    ax.imshow(image, interpolation="nearest", **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def pooled_figure(path, mod, run_dir: str, n_features: int = 2) -> str:
    """Write ``path``: per texture class (rows) a test crop, then for each of the ``n_features`` learned features
    whose mean-pooled values vary most across the classes its feature map (valid convolution, sigmoid), its
    mean-pooled and its max-pooled map.  Maps and max-pooled maps share one color scale (0 to 1); the
    mean-pooled maps of a feature share their own (0 to their largest value, in the column title).

    Returns:
      ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with open(os.path.join(run_dir, "metrics.json")) as f:
        meta = json.load(f)
    feats = np.load(os.path.join(run_dir, "features.npz"))
    crops = texture_crops(mod, meta)
    size = meta["args"]["pool"]
    maps, mean, top = pooled_maps(crops, feats["W_folded"], feats["b_folded"], size)
    order = np.argsort(-mean.reshape(len(crops), -1, mean.shape[-1]).mean(axis=1).var(axis=0))[:n_features]
    fig = Figure(figsize=(1.55 * (1 + 3 * n_features), 1.6 * len(crops) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(crops), 1 + 3 * n_features, squeeze=False)
    for r, name in enumerate(meta["classes"]):
        _show(axes[r, 0], crops[r], name, cmap="gray")
        for c, k in enumerate(order):
            vmax = float(mean[..., k].max()) or 1.0
            first = r == 0
            _show(axes[r, 1 + 3 * c], maps[r, :, :, k], f"feature {k}: map" if first else None, vmin=0, vmax=1)
            _show(axes[r, 2 + 3 * c], mean[r, :, :, k], f"mean-pooled (0-{vmax:.2g})" if first else None,
                  vmin=0, vmax=vmax)
            _show(axes[r, 3 + 3 * c], top[r, :, :, k], "max-pooled (0-1)" if first else None, vmin=0, vmax=1)
    h, w = maps.shape[1:3]
    fig.suptitle(f"test crops, {h}x{w} maps of two learned features, pooled over {size}x{size} regions to "
                 f"{mean.shape[1]}x{mean.shape[2]} (mean, max)", fontsize=9)
    fig.savefig(path, dpi=90)
    return path
