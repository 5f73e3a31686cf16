"""Host-side layout of the estimators' data: padded sizes (buckets), zero padding, sparse rows as ELL
tables, the batch layout, the traced hyperparameters, and scikit-learn's per-epoch minibatch orders.

Everything here runs on the host with NumPy, before a compiled call: padding never changes a result
(padded rows carry weight 0, padded input columns are 0 and meet zero weights), so data of nearby
shapes share one compiled function.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from jaxnn.estimators._epochs import Ell

__all__ = ["DTYPES", "SPARSE", "TRACED", "Orders", "adaptive_rate", "adaptive_shrinks", "batch_layout", "bucket",
           "bucket_fine", "cast_floats", "ceil_div", "effective_batch_size", "ell", "map_params", "nan_tail",
           "order_rows", "pad", "pad_X", "pad_inputs", "to_numpy", "traced_hyper", "unpad_inputs", "validation_split",
           "width"]

# The estimator parameters that are traced scalars of a compiled fit (a search varies them in one call).
TRACED = ("alpha", "learning_rate_init", "power_t", "momentum", "beta_1", "beta_2", "epsilon", "tol",
          "n_iter_no_change", "max_fun")
DTYPES = (np.float64, np.float32)
SPARSE = ("csr", "csc")  # accepted sparse formats (CSC is converted to CSR rows)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def traced_hyper(est, dtype, lr=None) -> dict:
    """The traced hyperparameters of an estimator, as 0-d arrays of ``dtype``, and ``adaptive_shrinks``
    (int32, :func:`adaptive_shrinks` of the fit's first learning rate ``lr``, default ``learning_rate_init``)."""
    patience = est.n_iter_no_change
    vals = dict(alpha=est.alpha, learning_rate_init=est.learning_rate_init, power_t=est.power_t,
                momentum=est.momentum, beta_1=est.beta_1, beta_2=est.beta_2, epsilon=est.epsilon,
                tol=est.tol, n_iter_no_change=np.inf if patience == np.inf else float(patience),
                max_fun=float(est.max_fun))
    hyper = {k: np.asarray(v, dtype) for k, v in vals.items()}
    hyper["adaptive_shrinks"] = np.int32(adaptive_shrinks(est.learning_rate_init if lr is None else lr))
    return hyper


def adaptive_shrinks(lr: float) -> int:
    """How many times learning_rate='adaptive' divides the rate ``lr`` by 5 before it stops, where the rate is
    <= 1e-6: scikit-learn's test on its rate, a Python float, so counted here in float64 (a float32 fit's rate
    may round onto 1e-6 a division early)."""
    if not np.isfinite(lr):
        return int(np.iinfo(np.int32).max)
    k = 0
    while lr > 1e-6:
        lr /= 5.0
        k += 1
    return k


def adaptive_rate(lr: float, shrinks: int) -> float:
    """The rate ``lr`` after ``shrinks`` divisions by 5, as scikit-learn's Python float."""
    for _ in range(shrinks):
        lr /= 5.0
    return lr


def cast_floats(tree, dtype):
    """``tree`` with its floating leaves (params, an optimizer state's moments and injected hyperparameters)
    cast to ``dtype`` and its other leaves (step counts) as they are: a fit continued on data of another dtype."""
    def cast(a):
        a = np.asarray(a)
        return a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a

    return jax.tree_util.tree_map(cast, tree)


def bucket(n: int, minimum: int = 8) -> int:
    """The next power of two >= n (at least ``minimum``): a padded size, so that data of nearby
    shapes share one compiled function.  Padded rows carry weight 0, padded input columns are 0 and
    meet zero weights that get zero gradients, so padding never changes a result."""
    return max(minimum, 1 << (int(n) - 1).bit_length())


def bucket_fine(n: int, minimum: int = 16) -> int:
    """The next size >= n among 16 per octave (1024, 1088, 1152, ...; multiples of 16, at least ``minimum``):
    the row padding of full-batch data (an L-BFGS fit, a batch that holds every row, a validation set,
    the searches' score and full-batch tables), at most 6.25% waste where a power of two wastes up to
    100% (a full-batch objective's cost grows with the padded rows)."""
    n = max(int(n), minimum)
    step = 1 << max(4, (n - 1).bit_length() - 5)
    return -(-n // step) * step


def effective_batch_size(n: int, batch_size) -> int:
    """scikit-learn's effective batch size for n training rows: min(200, n) for 'auto', else clipped to [1, n]."""
    return min(200, n) if batch_size == "auto" else int(np.clip(batch_size, 1, n))


def validation_split(est, Y, rs) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) row indices of scikit-learn's early-stopping split of the n rows of the
    targets Y (n, k), drawn from ``rs`` with ``est.validation_fraction``, as its ``train_test_split`` of
    (X, y) draws them.  A classifier stratifies on its boolean label indicator (a too-rare class is
    then named 'True' / 'False', as scikit-learn's error names it)."""
    stratify = Y.astype(bool) if (is_classifier(est) and Y.shape[1] == 1) else None
    idx, vidx = train_test_split(np.arange(len(Y)), random_state=rs, test_size=est.validation_fraction,
                                 stratify=stratify)
    if len(vidx) < 2:
        raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size "
                         "of your dataset.")
    return idx, vidx


def batch_layout(n: int, batch_size) -> tuple[int, int, int]:
    """(effective batch size, batch capacity B, padded row count N) for n training rows."""
    bs = effective_batch_size(n, batch_size)
    if bs >= n:
        N = bucket_fine(n)
        return n, N, N
    return bs, bs, ceil_div(n, bs) * bs


def pad(a, N, D=None):
    """Zero-pad the rows of ``a`` to N (and its columns to D)."""
    a = np.asarray(a)
    D = a.shape[1] if (D is None and a.ndim == 2) else D
    if a.shape[0] == N and (a.ndim == 1 or a.shape[1] == D):
        return a
    out = np.zeros((N,) + ((D,) if a.ndim == 2 else a.shape[1:]), a.dtype)
    out[(slice(0, a.shape[0]),) + ((slice(0, a.shape[1]),) if a.ndim == 2 else ())] = a
    return out


def width(X) -> int:
    """The padded input width D: the next power of two for dense X (shapes share compiled functions);
    sparse X keeps its width (the first layer's dense update dominates a sparse fit: no padded columns)."""
    return X.shape[1] if sp.issparse(X) else bucket(X.shape[1])


def ell(X, N) -> Ell:
    """Sparse X (m, d) as :class:`Ell` rows zero-padded to N rows, K = the next power of two >= its
    most nonzeros in a row (host memory O(N K), never m x d)."""
    X = X.tocsr()
    counts = np.diff(X.indptr)
    K = bucket(int(counts.max(initial=1)), 1)
    idx, val = np.zeros((N, K), np.int32), np.zeros((N, K), X.dtype)
    rows = np.repeat(np.arange(X.shape[0]), counts)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)
    idx[rows, slots], val[rows, slots] = X.indices, X.data
    return Ell(idx, val)


def pad_X(X, N, D):
    """Inputs padded to N rows: dense X zero-padded to (N, D), sparse X as :func:`ell` rows."""
    return ell(X, N) if sp.issparse(X) else pad(X, N, D)


def pad_inputs(params, D, sparse=False):
    """Params in the core's layout: the first layer's W (s_2, d) zero-padded to (s_2, D) (columns met
    by zero-padded inputs); for sparse inputs held transposed, (d, s_2) (see :class:`Ell`)."""
    W = params[0]["W"]
    if sparse:
        return [{"W": np.ascontiguousarray(np.asarray(W).T), "b": params[0]["b"]}] + list(params[1:])
    if W.shape[1] == D:
        return params
    return [{"W": pad(W.T, D).T.copy(), "b": params[0]["b"]}] + list(params[1:])


def unpad_inputs(params, d, sparse=False):
    """The inverse of :func:`pad_inputs`: the first layer's W as (s_2, d)."""
    W = params[0]["W"]
    return [{"W": np.ascontiguousarray(np.asarray(W).T) if sparse else W[:, :d], "b": params[0]["b"]}] + \
        list(params[1:])


def _is_params(t) -> bool:
    return isinstance(t, list) and len(t) > 0 and isinstance(t[0], dict) and "W" in t[0]


def map_params(fn, tree):
    """``fn`` applied to every params-shaped subtree (a list of ``{"W", "b"}`` layers) of ``tree``: an
    optimizer state's moments are laid out as the params."""
    return jax.tree_util.tree_map(lambda t: fn(t) if _is_params(t) else t, tree, is_leaf=_is_params)


def to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


ORDER_BLOCK = 1 << 22  # int32 entries in one block of epoch orders fed to a compiled call (16 MiB)


def order_rows(N: int, max_iter: int) -> int:
    """Epochs per block of orders for N padded rows (a static shape: at most ``max_iter``)."""
    return int(max(1, min(max_iter, ORDER_BLOCK // max(N, 1))))


def nan_tail(curve: list, keep: int, length: int) -> list:
    """``curve[:keep]`` then NaN up to ``length`` entries (a diverged fit's epochs, as scikit-learn records)."""
    return list(curve[:keep]) + [float("nan")] * (length - keep)


class Orders:
    """scikit-learn's per-epoch minibatch orders, drawn on the host from its NumPy stream, in blocks.

    scikit-learn's ``_fit_stochastic`` runs ``sample_idx = shuffle(sample_idx, random_state=rs)`` at the
    start of every epoch (after the init and the early-stopping split drew from ``rs``):
    ``sklearn.utils.shuffle`` permutes by ``rs.shuffle(arange(n))``, so epoch e's order is epoch e-1's
    order permuted by a fresh shuffle.  The same draws, in the same order, give the same orders, in any
    dtype.  :meth:`block` draws the next epochs as an (rows, N) int32 array (row j: the order of the n
    real rows, then the padded slots n..N-1); :meth:`finish` rewinds ``rs`` to where scikit-learn's
    would be after the epochs that actually ran (a caller's ``RandomState``, or NumPy's global one for
    ``random_state=None``, advances exactly as under scikit-learn).
    """

    def __init__(self, rs, n: int, N: int):
        self.rs, self.n, self.N = rs, int(n), int(N)
        self.idx = np.arange(self.n)
        self.drawn = 0
        self._mark = (0, rs.get_state(), self.idx)

    def _next(self):
        p = np.arange(self.n)
        self.rs.shuffle(p)
        self.idx = self.idx[p]
        return self.idx

    def block(self, epochs: int, rows: int) -> np.ndarray:
        """The next ``epochs`` orders in a (rows, N) array (rows past ``epochs`` are never read)."""
        self._mark = (self.drawn, self.rs.get_state(), self.idx)
        out = np.empty((rows, self.N), np.int32)
        out[:, self.n:] = np.arange(self.n, self.N, dtype=np.int32)
        for j in range(epochs):
            out[j, :self.n] = self._next()
        out[epochs:, :self.n] = np.arange(self.n, dtype=np.int32)
        self.drawn += epochs
        return out

    def finish(self, n_epochs: int) -> None:
        """Leave ``rs`` as scikit-learn's after ``n_epochs`` shuffles (redraws the last block's used part)."""
        start, state, idx = self._mark
        if n_epochs < start:
            return
        if n_epochs < self.drawn:
            self.rs.set_state(state)
            self.idx, self.drawn = idx, start
        for _ in range(n_epochs - self.drawn):
            self._next()
        self.drawn = max(self.drawn, n_epochs)

