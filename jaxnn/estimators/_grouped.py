"""Grouped, compiled fits: many estimators of one structure x many splits in one compiled call.

:func:`fit_group` is the engine that the searches (:mod:`jaxnn.estimators._search`) run every
candidate x fold on: the members (estimator i, split s) are prepared on the host exactly as ``fit``
draws them from ``random_state`` (init, early-stopping split, every epoch's minibatch order), laid out
as a table of padded rows, grouped into blocks of members that share their training data (one matmul
per minibatch for the block's first layers), and run by :func:`jaxnn.sweeps.run_table`.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from jaxnn.estimators import _epochs as core
from jaxnn.estimators._epochs import STOCHASTIC
from jaxnn.estimators._layout import (
    TRACED,
    Orders,
    batch_layout,
    bucket,
    bucket_fine,
    ceil_div,
    effective_batch_size,
    nan_tail,
    pad,
    pad_inputs,
    pad_X,
    traced_hyper,
    unpad_inputs,
    validation_split,
    width,
)
from jaxnn.guard import tree_where
from jaxnn.sweeps import run_table

__all__ = ["fit_group", "build_estimator", "structure_key", "safe_fit", "CPU_LANES", "CPU_BLOCK", "HALVING_BLOCK"]

_HOST_ONLY = ("random_state", "init_scale", "validation_fraction", "warm_start")


def structure_key(est) -> tuple:
    """What must be equal for fits to share one compiled, vmapped call: everything but the traced
    hyperparameters and what only the host-side preparation uses (init, splits)."""
    p = est.get_params(deep=False)
    return tuple((k, repr(v) if not callable(v) else v) for k, v in sorted(p.items())
                 if k not in TRACED and k not in _HOST_ONLY)


def fit_group(ests, X, y, sample_weight, splits, score=False, max_iter_cap=None, train_score=False,
               keep_state=False, states=None):
    """Fit every estimator of one structure on every split in one vmapped compiled call.

    The fits (estimator i, split s) whose training data are equal train together in blocks
    (:func:`_blocks`, :func:`_fit_block`); the blocks are the rows of the :func:`run_table` call.

    ``max_iter`` is a traced entry of each run; with ``max_iter_cap`` (>= the estimators' max_iter)
    the buffers and order tables are sized for the cap, so that calls with different ``max_iter`` up
    to the cap (the rungs of a halving search over max_iter) share one compiled function.

    With ``keep_state=True`` every fit's final solver state is returned too, and ``states[i][s]`` (a
    state so returned by an earlier call with the same cap, or None) makes fit (i, s) continue from
    it to its ``max_iter`` instead of starting afresh.  A fit's trajectory does not depend on
    ``max_iter`` (which only ends the loop; the orders of epoch e are drawn the same for any
    ``max_iter`` > e, and a fit that stopped on ``tol`` stays stopped), so the continued fit equals the
    fresh fit with the larger ``max_iter``: the rungs of a halving search over max_iter pay only for
    the epochs they add.

    With ``score=True`` each fit's score on its test fold (the estimator's own ``score``: accuracy,
    or R^2 averaged over outputs, weighted by ``sample_weight``) is computed in the same call, and with
    ``train_score=True`` also on its whole train fold (early-stopping validation rows included).

    Returns ``(fits, sweep meta, scores, n_iter, states)`` (``scores``: ``(test, train)`` arrays when
    ``train_score``; ``states`` None unless ``keep_state``, and None for the sequential fallback;
    ``meta``: ``epochs_run`` the epochs or iterations the call ran, ``n_runs`` / ``n_ok`` /
    ``n_diverged`` counts of fits, ``block_size`` / ``n_blocks``): ``fits[i][s]`` builds the fitted
    estimator of estimator i on split s when called (None where the fit diverged), so that host-side objects are
    only made where a host-side scorer needs them; ``scores`` a (n_estimators, n_splits) array (NaN
    where diverged) or None when not computed; ``n_iter`` (n_estimators, n_splits) epochs or
    iterations, -1 where diverged."""
    base, n_s, dtype = ests[0], len(splits), X.dtype
    sw_all = (np.ones(X.shape[0], dtype) if sample_weight is None
              else _check_sample_weight(sample_weight, X, dtype=dtype))
    folds = _folds(base, X, y, splits)
    if not _groupable(base, folds):
        return _sequential_fits(ests, X, y, sw_all if sample_weight is not None else None, splits)
    units = [X.shape[1]] + base._hidden_sizes() + [folds[0][1].shape[1]]
    stochastic = base.solver in STOCHASTIC
    members = _prepare_members(ests, folds, units, dtype, width(X), sp.issparse(X), stochastic)
    cap = int(base.max_iter) if max_iter_cap is None else max(int(max_iter_cap), int(base.max_iter))
    table, shared, structure = _group_table(ests, X, y, sw_all, splits, folds, members, cap, stochastic,
                                            bool(score), bool(score and train_score))
    with jax.enable_x64(dtype == np.float64):
        if keep_state:  # every member gets a carry (zeros where it starts afresh): one compiled function
            table.update(_carry_table(table, shared, structure, states, n_s))
        idx, chunk = _blocks(table, shared=max_iter_cap is not None)
        result = run_table(_fit_block, _block_table(table, idx), key=jax.random.key(0), data=shared,
                           static=structure, chunk_size=chunk)
    leaves = _member_leaves(result.leaves, idx)
    group = _Group(ests, folds, X, units, base._out_activation(folds[0][2]), stochastic, members[0], leaves, n_s)
    diverged, n_iter, scores, new_states = _group_outputs(leaves, ests, n_s, stochastic, structure["score"],
                                                          structure["train_score"],
                                                          len(table["carry"]) if keep_state else None)
    out = [[None if diverged[i, s] else partial(build_estimator, group, i, s) for s in range(n_s)]
           for i in range(len(ests))]
    meta = dict(result.meta, n_runs=diverged.size, n_ok=int((~diverged).sum()), n_diverged=int(diverged.sum()),
                epochs_run=int(np.sum(leaves["n_iter"] - leaves["start"])), block_size=idx.shape[1],
                n_blocks=idx.shape[0])  # counts of member fits; the executor's are of blocks
    return out, meta, scores, n_iter, new_states


def _folds(base, X, y, splits) -> list:
    """Per split ``(train rows, validated targets (n_train, k), label binarizer or None)``."""
    folds = []
    for tr, _ in splits:
        _, Yf, lb = clone(base)._validate_input(X[tr], y[tr], False, reset=True)
        folds.append((tr, Yf, lb))
    return folds


def _groupable(base, folds) -> bool:
    """Whether the fits can share compiled calls: the same outputs (classes) in every fold, a known
    solver, and no callback, verbose or warm_start (else :func:`_sequential_fits`)."""
    same = len({f[1].shape[1] for f in folds}) == 1 and (
        folds[0][2] is None or all(np.array_equal(f[2].classes_, folds[0][2].classes_) for f in folds))
    return same and base.solver in ("sgd", "adam", "lbfgs") and base.callback is None and not base.verbose \
        and not base.warm_start


def _sequential_fits(ests, X, y, sw, splits) -> tuple:
    """:func:`fit_group`'s answer from one ``fit`` per (estimator, split), for groups that cannot share calls."""
    out = [[safe_fit(clone(e), X[tr], y[tr], None if sw is None else sw[tr]) for tr, _ in splits] for e in ests]
    why = "sequential fits (folds with different classes, a callback, verbose or warm_start)"
    n_iter = np.array([[-1 if est is None else int(est.n_iter_) for est in row] for row in out])
    ready = [[None if est is None else (lambda est=est: est) for est in row] for row in out]  # already fitted
    return ready, {"fallback": why, "epochs_run": int(np.maximum(n_iter, 0).sum())}, None, n_iter, None


def _row_table(rows_list, L, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(indices (M, L) int32, mask (M, L)): each member's rows zero-padded to L, and 1 on its real rows."""
    return (np.stack([pad(np.asarray(r, np.int32), L) for r in rows_list]),
            np.stack([pad(np.ones(len(r), dtype), L) for r in rows_list]))


def _group_table(ests, X, y, sw_all, splits, folds, members, cap: int, stochastic: bool, score: bool,
                 train_score: bool) -> tuple[dict, dict, dict]:
    """``(table, shared, structure)`` of a :func:`fit_group` call: one table row per member (point i,
    fold s) = i * n_s + s (its rows, masks, sizes, init params, traced hyperparameters, fold, max_iter
    and every epoch's minibatch order), the data all members share (X, Y, weights, the folds' test and
    train rows) and the static structure."""
    base, dtype, n_s = ests[0], X.dtype, len(splits)
    rows, vrows, inits, streams, ns, bss = members
    hypers = [traced_hyper(e, dtype) for e in ests]
    n_max = max(ns)
    if stochastic:
        _, B, N = batch_layout(n_max, base.batch_size)
        if max(bss) > B:
            B = max(bss)
            N = ceil_div(n_max, B) * B
    else:
        B, N = 1, bucket_fine(n_max)
    table = dict(zip(("rows", "mask"), _row_table(rows, N, dtype)))
    table.update(zip(("vrows", "vmask"), _row_table(vrows, bucket_fine(max(len(v) for v in vrows)), dtype)))
    table.update(n=np.asarray(ns, np.int32), bs=np.asarray(bss, np.int32),
                 params=jax.tree_util.tree_map(lambda *a: np.stack(a), *inits),
                 hyper={k: np.stack([h[k] for h in hypers for _ in range(n_s)]) for k in hypers[0]},
                 fold=np.tile(np.arange(n_s, dtype=np.int32), len(ests)),
                 max_iter=np.full(len(ests) * n_s, int(base.max_iter), np.int32))
    static = base._static(base._out_activation(folds[0][2]), monitor=bool(base.early_stopping) and stochastic,
                          batch=B, n_steps=N // B if stochastic else 1)
    if stochastic and static.shuffle:  # every epoch's order of every member, from its stream as fit() draws it
        table["order"] = np.stack([Orders(rs, n, N).block(int(base.max_iter), cap) for rs, n in zip(streams, ns)])
    # targets of every row of X, in each fold's label space (the same for all folds here)
    Y_all = base._encode(y, folds[0][2], dtype) if folds[0][2] is not None else \
        np.asarray(y, dtype).reshape(len(y), -1)
    shared = {"X": pad_X(X, X.shape[0], width(X)), "Y": Y_all, "sw": sw_all}
    tests = [te for _, te in splits]
    shared.update(zip(("trows", "tmask"), _row_table(tests, bucket_fine(max(map(len, tests))), dtype)))
    if train_score:
        trains = [tr for tr, _ in splits]
        shared.update(zip(("trrows", "trmask"), _row_table(trains, bucket_fine(max(map(len, trains))), dtype)))
    structure = {"static": static._replace(max_iter=bucket(cap)), "stochastic": stochastic, "score": score,
                 "train_score": train_score}
    return table, shared, structure


class _Group(NamedTuple):
    """What :func:`build_estimator` needs of a :func:`fit_group` call: the estimators, folds, X, layer
    units, output activation, solver kind, members' training rows and the members' outputs."""

    ests: list
    folds: list
    X: Any
    units: list
    out_act: str
    stochastic: bool
    rows: list
    leaves: dict
    n_s: int


def build_estimator(g: _Group, i: int, s: int):
    """The fitted estimator of (point i, fold s), as ``fit`` would leave it."""
    e, (tr, _, lb) = g.ests[i], g.folds[s]
    get = lambda name: np.asarray(g.leaves[name][i * g.n_s + s])  # noqa: E731
    est = clone(e)
    validate_data(est, g.X[tr], reset=True)  # n_features_in_ (and feature names) as fit would set
    params = [{"W": get(f"W{l}"), "b": get(f"b{l}")} for l in range(len(g.units) - 1)]
    attrs = est._param_attrs(unpad_inputs(params, g.X.shape[1], sp.issparse(g.X)))
    n_iter = int(get("n_iter"))
    curves = {k: get(k)[:n_iter].tolist()
              for k in (("loss_curve", "val_curve", "vloss_curve") if g.stochastic else ("loss_curve",))}
    t, count = (core.t_int(get("t")), int(get("count"))) if g.stochastic else (0, 0)
    if g.stochastic and bool(get("es_diverged")):  # as fit(): NaN epochs to max_iter, best params kept
        curves = {k: nan_tail(c, n_iter - 1, e.max_iter) for k, c in curves.items()}
        t += (e.max_iter - n_iter) * (len(g.rows[i * g.n_s + s]))
        n_iter, count = e.max_iter, 0
    attrs.update(n_outputs_=g.units[-1], n_layers_=len(g.units), out_activation_=g.out_act, n_iter_=n_iter,
                 loss_curve_=curves["loss_curve"])
    if lb is not None:
        attrs.update(_label_binarizer=lb, classes_=lb.classes_)
    if g.stochastic:
        attrs.update(t_=t, loss_=attrs["loss_curve_"][-1] if n_iter else None,
                     best_loss_=None if e.early_stopping else float(get("best_loss")),
                     best_validation_score_=float(get("best_val")) if e.early_stopping else None,
                     validation_scores_=curves["val_curve"] if e.early_stopping else None,
                     validation_loss_curve_=curves["vloss_curve"] if e.early_stopping else None,
                     _no_improvement_count=count)
    else:
        attrs.update(t_=0, loss_=float(get("loss")), n_fun_=int(get("nfev")))
    for k, v in attrs.items():
        setattr(est, k, v)
    return est


def _prepare_members(ests, folds, units, dtype, D: int, sparse: bool, stochastic: bool) -> tuple:
    """Host-side preparation of every member (estimator i, fold s), in the order i * n_s + s, exactly as
    ``fit`` draws them from ``random_state``: ``(rows, vrows, inits, streams, ns, bss)``, the training
    and validation rows (indices into X), the padded init params, the random streams (left where the
    minibatch orders start), the training row counts and the batch sizes."""
    rows, vrows, inits, streams, ns, bss = [], [], [], [], [], []
    for e in ests:
        for tr, Yf, _ in folds:  # a RandomState instance is copied per fit, as the clone per fit of GridSearchCV
            rs = check_random_state(copy.deepcopy(e.random_state) if isinstance(e.random_state, np.random.RandomState)
                                    else e.random_state)
            inits.append(pad_inputs(e._init_params(rs, units, dtype), D, sparse))
            idx, vidx = validation_split(e, Yf, rs) if stochastic and e.early_stopping else \
                (np.arange(len(tr)), np.arange(1))
            rows.append(tr[idx])
            vrows.append(tr[vidx])
            streams.append(rs)
            n = len(idx)
            ns.append(n)
            bss.append(effective_batch_size(n, e.batch_size))
    return rows, vrows, inits, streams, ns, bss


def _scores(leaves, name: str) -> np.ndarray:
    """(members,) scores ``name`` from their parts (:func:`~jaxnn.estimators._epochs.score_parts`), combined
    on the host in float64, as scikit-learn's metrics compute them."""
    prefix = name + "/"
    parts = {k[len(prefix):]: np.asarray(v, np.float64) if k != prefix + "finite" else np.asarray(v)
             for k, v in leaves.items() if k.startswith(prefix)}
    return core.score_from(parts, np)


def _group_outputs(leaves, ests, n_s: int, stochastic: bool, score: bool, train_score: bool, n_carry) -> tuple:
    """From the members' outputs: ``(diverged, n_iter, scores, states)`` as :func:`fit_group` returns
    them (``diverged`` (n_estimators, n_splits) bool; ``states`` None unless ``n_carry``, the number
    of carried state leaves)."""
    diverged = (leaves["diverged_at"] >= 0).reshape(len(ests), n_s)
    n_iter = leaves["n_iter"].reshape(len(ests), n_s)
    if stochastic:  # diverged under early stopping: ran (NaN) to max_iter, as fit()
        es = leaves["es_diverged"].reshape(len(ests), n_s)
        n_iter = np.where(es, np.array([e.max_iter for e in ests])[:, None], n_iter)
    n_iter = np.where(diverged, -1, n_iter).astype(int)
    scores = None
    if score:
        scores = np.where(diverged, np.nan, _scores(leaves, "test_score").reshape(len(ests), n_s))
        if train_score:
            scores = (scores, np.where(diverged, np.nan, _scores(leaves, "train_score").reshape(len(ests), n_s)))
    states = None
    if n_carry is not None:
        carried = [leaves[f"carry/{j}"] for j in range(n_carry)]
        states = [[tuple(a[i * n_s + s] for a in carried) for s in range(n_s)] for i in range(len(ests))]
    return diverged, n_iter, scores, states


# Members of a fit_group table whose training data are the same (one fold, one random_state: the same
# rows, early-stopping split and minibatch orders) train as one block: inside the block the data are
# not batched, so each minibatch's first-layer products of all the block's members are one matmul.
_DATA = ("rows", "mask", "vrows", "vmask", "n", "bs", "fold", "order")
CPU_LANES = 4  # on a CPU, members per device per call, at least one block (the default blocks run one per device)
CPU_BLOCK = 8  # on a CPU, members per block at most (1: no sharing); both measured: bench_estimators.py --layouts
HALVING_BLOCK = 4  # block size when the calls of different sizes share one compiled function


def _blocks(table, shared: bool) -> tuple[np.ndarray, int]:
    """``(idx, chunk)``: ``idx`` (n_blocks, k) the members of each block (members with equal data
    fields, in table order; a short block is padded with copies of its last member), and the blocks
    per compiled call.  ``shared``: the block size and the call size do not depend on the table's
    size (the rungs of a halving search share one compiled function)."""
    epochs = int(table["max_iter"].max())  # the order rows a call reads (the rest are never read)
    groups = {}
    for m in range(len(table["n"])):
        h = hashlib.blake2b(digest_size=16)
        for f in _DATA:
            if f in table:
                h.update(np.ascontiguousarray(table[f][m][:epochs] if f == "order" else table[f][m]).tobytes())
        groups.setdefault(h.digest(), []).append(m)
    biggest = max(len(g) for g in groups.values())
    accel = jax.default_backend() != "cpu"
    if shared:
        k = bucket(biggest, 1) if accel else HALVING_BLOCK
    else:
        k = biggest if accel else min(CPU_BLOCK, biggest)
    idx = np.array([[g[min(j, len(g) - 1)] for j in range(a, a + k)]
                    for g in groups.values() for a in range(0, len(g), k)], np.int64)
    n_dev = len(jax.devices())
    if accel:
        return idx, (bucket(len(idx), 1) if shared else len(idx))
    per_call = max(1, CPU_LANES // k) * n_dev
    if not shared:  # balanced calls
        per_call = ceil_div(ceil_div(len(idx), ceil_div(len(idx), per_call)), n_dev) * n_dev
    return idx, per_call


def _block_table(table, idx) -> dict:
    """The table of blocks: the data fields of each block's first member, and ``members``, the other
    fields of its members with a (k,) axis."""
    out = {f: table[f][idx[:, 0]] for f in _DATA if f in table}
    out["members"] = {f: jax.tree_util.tree_map(lambda a: np.asarray(a)[idx], v)
                      for f, v in table.items() if f not in _DATA}
    return out


def _member_leaves(leaves, idx) -> dict:
    """Run outputs ``{name: (n_blocks, 1, k, ...)}`` back to one row per member."""
    flat = idx.ravel()
    members, first = np.unique(flat, return_index=True)  # the first copy of a member (pads repeat one)
    pos = np.empty(int(members[-1]) + 1, np.int64)
    pos[members] = first
    return {name: x[:, 0].reshape((-1,) + x.shape[3:])[pos] for name, x in leaves.items()}


def _carry_table(table, shared, structure, states, n_s) -> dict:
    """The ``carry`` and ``resume`` columns of a :func:`fit_group` table: member i * n_s + s resumes
    from ``states[i][s]`` where that is given; the other members get zeros of the state's shapes."""
    shapes = _start_shapes(table, shared, static=structure["static"], stochastic=structure["stochastic"])
    M = len(table["n"])
    carry = [np.zeros((M,) + tuple(a.shape), a.dtype) for a in shapes]
    resume = np.zeros(M, bool)
    for i, row in enumerate(states or []):
        for s, st in enumerate(row or []):
            if st is not None:
                resume[i * n_s + s] = True
                for c, a in zip(carry, st):
                    c[i * n_s + s] = a
    return {"carry": tuple(carry), "resume": resume}


def _take_rows(X, r):
    """Rows ``r`` of dense X or of an :class:`core.Ell`."""
    return jax.tree_util.tree_map(lambda a: a[r], X)


def _member_data(shared, rows, mask, vrows, vmask, n, bs, order=None) -> dict:
    """One member's training data (the ``data`` of :func:`core.run_stochastic` / :func:`core.run_lbfgs`)
    from the shared rows of X and its row table (see :func:`fit_group`)."""
    Xs, Ys, sws = shared["X"], shared["Y"], shared["sw"]
    data = {"X": _take_rows(Xs, rows), "Y": Ys[rows], "sw": sws[rows] * mask, "n": n, "bs": bs,
            "Xv": _take_rows(Xs, vrows), "Yv": Ys[vrows], "swv": sws[vrows] * vmask}
    if order is not None:
        data.update(order=order, e0=jnp.int32(0))
    return data


def _start(params, data, hyper, *, static, stochastic: bool):
    """A fresh fit's state (:class:`core.State`, or :class:`core.LState` for L-BFGS) from its init params."""
    if stochastic:
        return core.start_state(params, None, hyper["learning_rate_init"], 0, 0, np.inf, -np.inf, params,
                                static=static)
    return core.lbfgs_init(params, data, hyper, static)


def _start_shapes(table, shared, *, static, stochastic: bool) -> list:
    """The ShapeDtypeStructs of :func:`_start`'s leaves for one row of a :func:`fit_group` table."""
    def start(r, sh):
        data = _member_data(sh, r["rows"], r["mask"], r["vrows"], r["vmask"], r["n"], r["bs"], r.get("order"))
        return _start(r["params"], data, r["hyper"], static=static, stochastic=stochastic)

    return jax.tree_util.tree_leaves(jax.eval_shape(start, jax.tree_util.tree_map(lambda a: a[0], table), shared))


def _fit_block(key, shared, *, static, stochastic: bool, score: bool, train_score: bool, rows, mask, vrows,
               vmask, n, bs, fold, members, order=None):
    """One block of :func:`fit_group`: its members' fits on the block's data, a row of its table run by
    :func:`jaxnn.sweeps.run_table` (``key`` is unused: ``order`` holds every epoch's minibatch order,
    drawn from ``random_state`` as ``fit`` draws it).  ``members`` (a (k,) axis on each leaf): the
    init ``params``, ``hyper``, ``max_iter`` and, in a halving search, ``carry`` (the leaves of a state
    returned by an earlier call) and ``resume`` (continue from it instead of from ``params``).  The data
    are not batched over the members.  Returns per member the fitted state's arrays (with ``carry``:
    the final state's leaves too) and the fit's status (``diverged_at``: the epoch or iteration where
    it diverged, -1 if it did not)."""
    data = _member_data(shared, rows, mask, vrows, vmask, n, bs, order)

    def start(m):
        state = _start(m["params"], data, m["hyper"], static=static, stochastic=stochastic)
        if "carry" in m:  # a survivor of a halving rung continues where its last rung stopped
            state = tree_where(m["resume"], jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(state),
                                                                         m["carry"]), state)
        return state

    states = jax.vmap(start)(members)
    if stochastic:
        finals = core.run_stochastic_block(states, data, members["hyper"], members["max_iter"], static)
    else:
        finals = jax.vmap(lambda st, m: core.run_lbfgs(st, data, m["hyper"], m["max_iter"], static))(states, members)
    outputs = partial(_outputs, shared, data, fold, static=static, stochastic=stochastic, score=score,
                      train_score=train_score, carry="carry" in members)
    return jax.vmap(outputs)(states, finals, members["hyper"])


def _outputs(shared, data, fold, state, s, hyper, *, static, stochastic: bool, score: bool, train_score: bool,
             carry: bool) -> dict:
    """One member's outputs (see :func:`_fit_block`) from its start ``state`` and final state ``s``."""
    if stochastic:
        final = s.best_params if static.early_stopping else s.params
        # under early stopping a divergence is not a failure (scikit-learn keeps the best params): status ok
        failed = s.diverged & (not static.early_stopping)
        res = {"n_iter": s.epoch, "stopped": s.stopped, "diverged_at": jnp.where(failed, s.epoch, -1),
               "es_diverged": s.diverged & static.early_stopping, "t": s.t,
               "count": s.count, "best_loss": s.best_loss, "best_val": s.best_val, "loss_curve": s.loss_curve,
               "val_curve": s.val_curve, "vloss_curve": s.vloss_curve, "lr": s.lr, "start": state.epoch}
    else:
        final = s.params
        res = {"n_iter": s.it, "stopped": s.stopped, "diverged_at": jnp.where(s.diverged, s.it, -1), "nfev": s.nfev,
               "loss": core.reported_loss(s.params, data, hyper, static, value=s.value), "loss_curve": s.loss_curve,
               "start": state.it}
    for l, layer in enumerate(final):
        res[f"W{l}"], res[f"b{l}"] = layer["W"], layer["b"]
    if carry:
        res["carry"] = tuple(jax.tree_util.tree_leaves(s))
    Xs, Ys, sws = shared["X"], shared["Y"], shared["sw"]
    if score:
        te = shared["trows"][fold]
        parts = core.score_parts(final, _take_rows(Xs, te), Ys[te], sws[te] * shared["tmask"][fold], static)
        res.update({f"test_score/{k}": v for k, v in parts.items()})
    if train_score:
        tr = shared["trrows"][fold]
        parts = core.score_parts(final, _take_rows(Xs, tr), Ys[tr], sws[tr] * shared["trmask"][fold], static)
        res.update({f"train_score/{k}": v for k, v in parts.items()})
    return res


def safe_fit(est, X, y, sw):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(X, y, sample_weight=sw)
    except ValueError as e:
        if "non-finite" in str(e):
            return None
        raise
