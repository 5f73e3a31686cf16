"""Datasets that ship inside installed packages (no downloads): scikit-learn's digits and
diabetes.  Needs the ``experiments`` extra (scikit-learn), imported lazily."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate

__all__ = ["require", "split", "digits", "diabetes"]


def require(module: str, extra: str = "experiments"):
    """Import an optional dependency or raise an ImportError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is needed here: pip install 'jaxnn[{extra}]' ({e})") from None


def split(key, m: int, test_fraction: float = 0.3):
    """Deterministic shuffled train/test index split: (train_idx, test_idx) as NumPy arrays."""
    validate.check_rule("test_fraction", test_fraction, "unit_open")
    perm = np.asarray(jax.random.permutation(key, m))
    n_test = max(1, int(round(test_fraction * m)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def digits(key, test_fraction: float = 0.3, activation: str = "sigmoid"):
    """scikit-learn's 8x8 digits (1797 x 64, 10 classes), pixels scaled to [0, 1].

    Returns:
      dict with ``X_train`` (m, 64), ``Y_train`` (m, 10) one-hot in the activation's range,
      ``y_train`` (m,), ``X_test``, ``Y_test``, ``y_test``.
    """
    from jaxnn.data import encode_labels

    sk = require("sklearn.datasets")
    d = sk.load_digits()
    X = np.asarray(d.data, np.float64) / 16.0
    y = np.asarray(d.target, np.int32)
    tr, te = split(key, len(y), test_fraction)
    out = {}
    for name, idx in (("train", tr), ("test", te)):
        out[f"X_{name}"] = jnp.asarray(X[idx], jnp.result_type(float))
        out[f"y_{name}"] = jnp.asarray(y[idx])
        out[f"Y_{name}"] = encode_labels(y[idx], 10, activation)
    return out


def diabetes(key, test_fraction: float = 0.3):
    """scikit-learn's diabetes regression set (442 x 10, standardized features, target in original
    units, disease progression after one year)."""
    sk = require("sklearn.datasets")
    d = sk.load_diabetes()
    X = np.asarray(d.data, np.float64)
    X = (X - X.mean(0)) / X.std(0)
    y = np.asarray(d.target, np.float64)
    tr, te = split(key, len(y), test_fraction)
    f = jnp.result_type(float)
    return {"X_train": jnp.asarray(X[tr], f), "y_train": jnp.asarray(y[tr], f),
            "X_test": jnp.asarray(X[te], f), "y_test": jnp.asarray(y[te], f)}
