"""UFLDL's convolution-and-pooling pipeline, end to end, on texture photographs shipped with scikit-image.

Task: tell which texture photograph a 96 x 96 crop comes from (default classes: brick, grass, gravel,
moon surface, Hubble deep field; every image is inside the scikit-image wheel, nothing is downloaded).
Each image is split by rows into a training region (top) and a test region (bottom): training crops,
the patches the features are learned on, and the classifier's validation crops all come from the
training regions, so no test pixel is ever seen in training.  Each crop is standardized (zero mean,
unit variance), so brightness and contrast alone do not give the class away.

Pipeline (lecture sections 6-8; UFLDL "Exercise: Convolution and Pooling"):

1. m random 8 x 8 patches of the training crops; remove each patch's mean; ZCA-whiten
   (:func:`jaxnn.patches.zca_fit`);
2. a sparse autoencoder with a linear decoder (:mod:`jaxnn.autoencoder`, L-BFGS) learns k features;
3. the preprocessing is folded into the features (:func:`jaxnn.conv.fold_preprocessing`), which are
   convolved over every crop and mean- or max-pooled (:func:`jaxnn.conv.convolve_pool`);
4. a softmax classifier with ridge penalty (:mod:`jaxnn.softmax`), its lambda picked from a small
   grid (one vmapped fit over the grid) by the cross-entropy on held-out training crops, gives the
   test accuracy.

Compared: raw pixels; random features (same norms, same preprocessing) with mean / max pooling;
learned features with mean / max pooling.

Writes to ``runs/conv_pool_textures/``: ``results.csv``, ``metrics.json`` (arguments, versions,
timings, accuracies), ``features.npz`` (learned and folded features, ZCA), ``features.png`` (learned
features), ``feature_maps.png`` (one test crop per class and its feature maps).

    python experiments/conv_pool_textures.py            # defaults: about a minute or two on 2 cores
    python experiments/conv_pool_textures.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxnn import autoencoder, conv, display, patches, softmax  # noqa: E402
from jaxnn.datasets import require  # noqa: E402
from jaxnn.io import atomic_write  # noqa: E402

DEFAULT_TEXTURES = ("brick", "grass", "gravel", "moon", "hubble_deep_field")


# ---------------------------------------------------------------------------------------------- data
def load_texture(name: str) -> np.ndarray:
    """A grayscale float64 image in [0, 1] from an image file inside the scikit-image wheel.

    Only images whose file ships in ``skimage/data`` are accepted (the others need a download).
    """
    skdata = require("skimage.data")
    folder = os.path.dirname(skdata.__file__)
    shipped = {os.path.splitext(f)[0] for f in os.listdir(folder)}
    if name not in shipped or not hasattr(skdata, name):
        raise ValueError(f"textures: {name!r} is not an image inside the scikit-image wheel; "
                         f"choose from {sorted(n for n in shipped if hasattr(skdata, n))}")
    img = np.asarray(getattr(skdata, name)())
    if img.ndim == 3:
        img = require("skimage.color").rgb2gray(img[..., :3])
    elif img.dtype == np.uint8:
        img = img / 255.0
    return np.asarray(img, np.float64)


def random_crops(key, image: np.ndarray, n: int, size: int, rows: tuple[int, int]) -> np.ndarray:
    """n random size x size crops whose rows lie in [rows[0], rows[1]); each standardized."""
    r0, r1 = rows
    if r1 - r0 < size or image.shape[1] < size:
        raise ValueError(f"crop: a region of rows {rows} x {image.shape[1]} columns is smaller than {size} x {size}")
    kr, kc = jax.random.split(key)
    ys = np.asarray(jax.random.randint(kr, (n,), r0, r1 - size + 1))
    xs = np.asarray(jax.random.randint(kc, (n,), 0, image.shape[1] - size + 1))
    c = np.stack([image[y:y + size, x:x + size] for y, x in zip(ys, xs)])
    c = c - c.mean(axis=(1, 2), keepdims=True)
    return (c / (c.std(axis=(1, 2), keepdims=True) + 1e-8)).astype(np.float32)


def make_dataset(key, names, n_train, n_test, size, test_fraction):
    """Train/test crops from disjoint row regions of each image: the top (1 - test_fraction) of the
    rows for training, the rest for testing."""
    Xtr, ytr, Xte, yte, regions = [], [], [], [], {}
    for label, name in enumerate(names):
        img = load_texture(name)
        split = int(round(img.shape[0] * (1 - test_fraction)))
        k1, k2, key = jax.random.split(key, 3)
        Xtr.append(random_crops(k1, img, n_train, size, (0, split)))
        Xte.append(random_crops(k2, img, n_test, size, (split, img.shape[0])))
        ytr += [label] * n_train
        yte += [label] * n_test
        regions[name] = {"shape": list(img.shape), "train_rows": [0, split], "test_rows": [split, img.shape[0]]}
    return (np.concatenate(Xtr), np.asarray(ytr, np.int32), np.concatenate(Xte), np.asarray(yte, np.int32),
            regions)


# -------------------------------------------------------------------------------------- classifier
def classify(key, Ftr, ytr, Fte, yte, n_classes, lams, steps, val_fraction):
    """Standardize features on the training set, pick lambda on held-out training crops (one vmapped
    fit over the grid), refit on all training crops, return accuracies."""
    # Per-feature standardization, with the variance floored at 1% of the mean variance so that
    # near-constant features (e.g. units that never switch on) are not blown up.
    mu, var = Ftr.mean(0), Ftr.var(0)
    sd = np.sqrt(var + 0.01 * var.mean() + 1e-12)
    Ftr, Fte = (Ftr - mu) / sd, (Fte - mu) / sd
    perm = np.asarray(jax.random.permutation(key, len(ytr)))
    n_val = max(n_classes, int(round(val_fraction * len(ytr))))
    val, fit = perm[:n_val], perm[n_val:]
    lam_grid = jnp.asarray(lams, jnp.float32)
    Ws = jax.vmap(lambda lam: softmax.fit(Ftr[fit], ytr[fit], n_classes, lam=lam, steps=steps)[0])(lam_grid)
    models = [[{"W": Ws[0]["W"][i], "b": Ws[0]["b"][i]}] for i in range(len(lams))]
    # Held-out cross-entropy (continuous; accuracies on held-out crops tie near 1.0).
    val_loss = [float(softmax.objective(m, Ftr[val], ytr[val], 0.0)) for m in models]
    val_acc = [float(softmax.accuracy(m, Ftr[val], ytr[val])) for m in models]
    best = int(np.nanargmin(np.where(np.isfinite(val_loss), val_loss, np.nan)))
    params, hist = softmax.fit(Ftr, ytr, n_classes, lam=float(lams[best]), steps=steps)
    return {"lam": float(lams[best]), "val_acc": val_acc[best], "val_acc_by_lam": dict(zip(map(str, lams), val_acc)),
            "val_loss_by_lam": dict(zip(map(str, lams), val_loss)),
            "train_acc": float(softmax.accuracy(params, Ftr, ytr)),
            "test_acc": float(softmax.accuracy(params, Fte, yte)),
            "diverged": int(hist["diverged_at"]) >= 0,
            "confusion": confusion(np.asarray(softmax.predict(params, Fte)), yte, n_classes).tolist()}


def confusion(pred, y, K):
    C = np.zeros((K, K), np.int64)
    np.add.at(C, (y, pred), 1)
    return C


# ------------------------------------------------------------------------------------------ figures
def save_png(path, fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def feature_maps_figure(path, names, Xte, yte, Wf, bf, order, n_show):
    plt = require("matplotlib.pyplot")
    idx = [int(np.nonzero(yte == c)[0][0]) for c in range(len(names))]
    maps = np.asarray(conv.convolve(Xte[idx], Wf, bf))  # (classes, 89, 89, k)
    fig, axes = plt.subplots(len(names), n_show + 1, figsize=(1.6 * (n_show + 1), 1.7 * len(names)))
    axes = np.atleast_2d(axes)
    for r, name in enumerate(names):
        axes[r, 0].imshow(Xte[idx[r]], cmap="gray")
        axes[r, 0].set_title(name, fontsize=8)
        for c in range(n_show):
            f = order[c]
            axes[r, c + 1].imshow(maps[r, :, :, f], cmap="viridis", vmin=0, vmax=1)
            if r == 0:
                axes[r, c + 1].set_title(f"feature {f}", fontsize=8)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle("test crops (left) and sigmoid feature maps of learned 8x8 features (valid convolution)", fontsize=9)
    save_png(path, fig)
    plt.close(fig)


def features_figure(path, params, Wf, p):
    plt = require("matplotlib.pyplot")
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for a, (W, title) in zip(axes, [(autoencoder.max_activation_inputs(params), "learned features (whitened space)"),
                                    (Wf, "folded into pixel space (what is convolved)")]):
        a.imshow(display.filter_grid(W, p), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        a.set_title(title, fontsize=9)
        a.axis("off")
    save_png(path, fig)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--textures", nargs="+", default=list(DEFAULT_TEXTURES),
                    help="scikit-image images, one class each (only images inside the wheel)")
    ap.add_argument("--crop", type=int, default=96, help="crop side (pixels)")
    ap.add_argument("--n-train", type=int, default=100, help="training crops per class")
    ap.add_argument("--n-test", type=int, default=100, help="test crops per class")
    ap.add_argument("--test-fraction", type=float, default=0.4,
                    help="bottom fraction of each image's rows kept for testing")
    ap.add_argument("--patch", type=int, default=8, help="feature size p (p x p)")
    ap.add_argument("--n-patches", type=int, default=10000, help="random patches for feature learning")
    ap.add_argument("--features", type=int, default=100, help="hidden units k (features)")
    ap.add_argument("--epsilon", type=float, default=1.0, help="ZCA regularizer, relative to the mean eigenvalue")
    ap.add_argument("--lam", type=float, default=3e-3, help="autoencoder ridge lambda (UFLDL linear decoder: 3e-3)")
    ap.add_argument("--beta", type=float, default=5.0, help="sparsity weight beta (UFLDL: 5)")
    ap.add_argument("--rho", type=float, default=0.035, help="target activation rho (UFLDL: 0.035)")
    ap.add_argument("--ae-steps", type=int, default=400, help="L-BFGS iterations of the autoencoder")
    ap.add_argument("--pool", type=int, default=22, help="pooling region side (89 x 89 maps -> 4 x 4)")
    ap.add_argument("--softmax-lams", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                    help="ridge grid for the softmax classifier (picked by cross-entropy on held-out training crops)")
    ap.add_argument("--softmax-steps", type=int, default=300, help="Adam steps of the softmax classifier")
    ap.add_argument("--val-fraction", type=float, default=0.25, help="training crops held out to pick lambda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/conv_pool_textures", help="output folder")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    a = ap.parse_args(argv)
    if a.quick:
        a.n_train, a.n_test, a.n_patches, a.features, a.ae_steps, a.softmax_steps = 12, 8, 2000, 16, 50, 100
    require("matplotlib").use("Agg")
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    timings = {}
    keys = dict(zip(["data", "patches", "init", "random", "clf"], jax.random.split(jax.random.key(a.seed), 5)))
    names, K, p = list(a.textures), len(a.textures), a.patch

    t0 = time.perf_counter()
    Xtr, ytr, Xte, yte, regions = make_dataset(keys["data"], names, a.n_train, a.n_test, a.crop, a.test_fraction)
    timings["data_s"] = time.perf_counter() - t0
    print(f"{K} classes {names}: {len(ytr)} training crops, {len(yte)} test crops of {a.crop}x{a.crop} "
          f"(disjoint row regions)")

    # 1. patches from the training crops only; remove each patch's mean; ZCA-whiten
    t0 = time.perf_counter()
    X = patches.sample_patches(keys["patches"], list(Xtr), a.n_patches, p)
    X = X - jnp.mean(X, axis=1, keepdims=True)
    zca = patches.zca_fit(X, a.epsilon)
    Xw = patches.zca_apply(zca, X)
    # 2. sparse autoencoder with a linear decoder
    params = autoencoder.init(keys["init"], p * p, a.features)
    params, hist = autoencoder.fit(params, Xw, lam=a.lam, beta=a.beta, rho=a.rho, steps=a.ae_steps,
                                   output_activation="identity")
    jax.block_until_ready(params)
    timings["feature_learning_s"] = time.perf_counter() - t0
    ae_loss, diverged_at = float(hist["loss"][-1]), int(hist["diverged_at"])
    rho_hat = float(jnp.mean(autoencoder.mean_activation(params, Xw)))
    print(f"sparse autoencoder {p * p}-{a.features}-{p * p}: loss {ae_loss:.4f}, mean activation {rho_hat:.3f}, "
          f"diverged_at {diverged_at}, {timings['feature_learning_s']:.1f} s")

    # 3. fold the preprocessing into the features; check on raw patches
    W1, b1 = params[0]["W"], params[0]["b"]
    Wf, bf = conv.fold_preprocessing(W1, b1, whitening=zca, remove_patch_mean=True)
    Xraw = patches.sample_patches(keys["patches"], list(Xtr), 500, p)
    pre = patches.zca_apply(zca, Xraw - jnp.mean(Xraw, axis=1, keepdims=True))
    fold_err = float(jnp.max(jnp.abs(jax.nn.sigmoid(pre @ W1.T + b1) - jax.nn.sigmoid(Xraw @ Wf.T + bf))))
    print(f"folded features vs hidden layer on preprocessed patches: max |diff| {fold_err:.2e}")
    # random features: same row norms and biases, same preprocessing
    R = jax.random.normal(keys["random"], W1.shape, W1.dtype)
    R = R / jnp.linalg.norm(R, axis=1, keepdims=True) * jnp.linalg.norm(W1, axis=1, keepdims=True)
    Rf, rbf = conv.fold_preprocessing(R, b1, whitening=zca, remove_patch_mean=True)

    # 4. convolve, pool, classify
    X_all = np.concatenate([Xtr, Xte])
    methods = [("raw pixels", None, None, None)]
    methods += [(f"{src} features, {mode} pooling", Wsrc, bsrc, mode)
                for src, Wsrc, bsrc in (("random", Rf, rbf), ("learned", Wf, bf)) for mode in ("mean", "max")]
    rows = []
    for i, (name, Wc, bc, mode) in enumerate(methods):
        t0 = time.perf_counter()
        if Wc is None:
            F = X_all.reshape(len(X_all), -1)
        else:
            F = np.asarray(conv.convolve_pool(X_all, Wc, bc, size=a.pool, mode=mode)).reshape(len(X_all), -1)
        t_feat = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = classify(jax.random.fold_in(keys["clf"], i), F[:len(ytr)], ytr, F[len(ytr):], yte, K,
                     a.softmax_lams, a.softmax_steps, a.val_fraction)
        t_clf = time.perf_counter() - t0
        rows.append({"method": name, "n_features": F.shape[1], "softmax_lam": r["lam"],
                     "val_acc": r["val_acc"], "train_acc": r["train_acc"], "test_acc": r["test_acc"],
                     "features_s": t_feat, "classifier_s": t_clf, "diverged": r["diverged"],
                     "confusion": r["confusion"], "val_acc_by_lam": r["val_acc_by_lam"],
                     "val_loss_by_lam": r["val_loss_by_lam"]})
        print(f"{name:32s} {F.shape[1]:6d} features  lam {r['lam']:.0e}  train {r['train_acc']:.3f}  "
              f"test {r['test_acc']:.3f}  ({t_feat:.1f} s + {t_clf:.1f} s)")

    # outputs
    t0 = time.perf_counter()
    order = np.argsort(-np.asarray(jnp.var(conv.convolve_pool(Xte, Wf, bf, size=a.pool), axis=(0, 1, 2))))
    feature_maps_figure(os.path.join(a.out, "feature_maps.png"), names, Xte, yte, Wf, bf, order, min(6, a.features))
    features_figure(os.path.join(a.out, "features.png"), params, Wf, p)
    timings["figures_s"] = time.perf_counter() - t0
    cols = ["method", "n_features", "softmax_lam", "val_acc", "train_acc", "test_acc", "features_s", "classifier_s"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write(os.path.join(a.out, "results.csv"), lambda f: f.write(buf.getvalue().encode()))
    arrays = {"W": np.asarray(W1), "b": np.asarray(b1), "W_folded": np.asarray(Wf), "b_folded": np.asarray(bf),
              "zca_W": np.asarray(zca.W), "zca_mean": np.asarray(zca.mean), "W_random": np.asarray(R)}

    def write_npz(f):
        np.savez(f, **arrays)

    atomic_write(os.path.join(a.out, "features.npz"), write_npz)
    timings["total_s"] = time.perf_counter() - t_start
    meta = {"experiment": "conv_pool_textures", "args": vars(a), "classes": names, "regions": regions,
            "n_train": int(len(ytr)), "n_test": int(len(yte)),
            "autoencoder": {"loss": ae_loss, "diverged_at": diverged_at, "mean_activation": rho_hat},
            "fold_max_abs_diff": fold_err, "results": rows, "timings": timings,
            "versions": {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
                         "skimage": require("skimage").__version__},
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    atomic_write(os.path.join(a.out, "metrics.json"), lambda f: f.write(json.dumps(meta, indent=1).encode()))
    print("\n| method | features | softmax lambda | train acc | test acc |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['n_features']} | {r['softmax_lam']:.0e} | {r['train_acc']:.3f} "
              f"| {r['test_acc']:.3f} |")
    print(f"\ntotal {timings['total_s']:.1f} s; wrote {a.out}/")
    return meta


if __name__ == "__main__":
    main()
