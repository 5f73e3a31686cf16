"""jaxnn.estimators vs scikit-learn, side by side in one run.

(1) One fit on digits (1797 x 64, pixels / 16), the same hyperparameters, for each solver:
    jaxnn.estimators.MLPClassifier vs sklearn.neural_network.MLPClassifier.  shuffle=False by
    default, so both run the same trajectory and the same number of epochs (``--shuffle`` for the
    default shuffling, where the epoch counts may differ: per-epoch times are printed too).
    jaxnn's first fit includes compilation (reported separately); the timed fits reuse the cache.
    For adam and sgd, a bare JAX loop of the same minibatch steps (no masks, checks or bookkeeping)
    is timed too: what the compiled fit could cost at best here ('bare JAX s'), also with the
    process pinned to one core (if that is as fast, XLA ran these minibatch matmuls on one core),
    and the same loop evaluating each batch's objective and summing the epoch's loss ('bare JAX +
    loss s'): the least work a fit does, which reports every epoch's loss (``loss_curve_``, and
    scikit-learn's ``tol`` criterion stops on it).
    jaxnn's fits are timed pinned to one core too ('jaxnn 1 core s'): L-BFGS's full-batch matmuls use
    both cores, and where its two-core time is above its one-core time, the machine's second core was
    not delivering (these VMs go through such spells); rerun then.  With ``--float32`` the script prints
    each solver's speedup against the target (>= 3x) and, for adam and sgd, the ceiling for the work a
    fit does: the 'bare JAX + loss' speedup.
(2) A 4 x 4 grid (alpha x learning_rate_init) x 3 folds, hidden (64,), max_iter 100 (``--grid-hidden``,
    ``--grid-max-iter``): MLPGridSearchCV (every fit in one vmapped compiled call via jaxnn.sweep) vs
    sklearn's GridSearchCV(MLPClassifier, n_jobs=os.cpu_count()); wall time with and without jaxnn's compile (both
    include the refit on all the data and the scoring), best parameters of both, and the same jaxnn
    search run again (the compiled sweep is reused), and a bare JAX loop of the same fits in the
    same layout (its blocks of fits sharing a fold's data, one block per device per call: what the
    sweep could cost at best; no shuffling, masks or scoring).  ``--layouts``: the grid's sweep time for several
    layouts of its fits (fits sharing their training data in blocks, members per device per call).
    ``--compile-cache``: the grid search in two fresh processes that share JAX's persistent compilation
    cache (the first fills it, the second reads it).

(3) Searches (``--skip-search`` to leave out): MLPRandomizedSearchCV, 32 candidates (log-uniform alpha
    and learning_rate_init) x 3 folds, vs scikit-learn's RandomizedSearchCV(MLPClassifier, n_jobs=os.cpu_count())
    with the same candidates; MLPHalvingRandomSearchCV, 81 candidates, resource max_iter (1, 3, 9,
    27, 81 epochs: factor 3) x 3 folds, vs HalvingRandomSearchCV(MLPClassifier, n_jobs=os.cpu_count()).  Wall
    times include jaxnn's compiles and both refits (also shown without jaxnn's sweep compiles); the
    target ratio is >= 4x (>= 15x on a GPU, as for the grid); 'ceiling' is scikit-learn's time over
    the matmul FLOPs of the epochs the sweeps ran at 100% of the measured matmul peak in the data's
    dtype (no compile, refit or scoring),
    and 'ceiling with compile' adds jaxnn's measured sweep compiles to that time.  The refits' own
    single-fit compiles are warmed before the timed searches; ``--fresh`` also runs each jaxnn search
    (grid, randomized, halving) cold in a fresh process, where every compile counts: the sweeps', the
    refit's and the first runs'.
(4) Sparse X (``--skip-sparse`` to leave out): a fit on a 20,000 x 50,000 CSR matrix at 0.1% density
    (5 classes, hidden (100,), adam, float32, shuffle on), jaxnn vs scikit-learn, per epoch; the peak
    RSS of a jaxnn fit of that matrix in a fresh process (``--sparse-rss-child``); and the candidate
    forms of the sparse first layer timed on one training step of that shape (forward, gradient,
    adam update): a gather of W's columns from W (s_2, d) or from W^T (d, s_2) at each row's nonzeros
    (padded index/value rows), the minibatch densified on the device then a matmul, and
    ``jax.experimental.sparse`` (BCOO) times W^T.  jaxnn uses the fastest measured (the W^T gather).

Usage:
    python benchmarks/bench_estimators.py            # default, ~3 minutes on 2 cores
    python benchmarks/bench_estimators.py --quick    # smaller max_iter, one repeat
    python benchmarks/bench_estimators.py --float32  # both libraries on float32 data

scikit-learn's single fits are timed with NumPy's default BLAS threads and with 1 thread
(threadpoolctl); the faster is the baseline (on a busy machine, BLAS threads can slow small matmuls
down).  scikit-learn's searches use every core, ``n_jobs=os.cpu_count()`` (``--sklearn-jobs N`` to change it; the
rows name the value), with joblib's default BLAS threads per worker.

On a CPU the script makes one JAX device per core (``--cpu-devices``, as ``jaxnn.use_cpu_cores()``
does for a user): MLPGridSearchCV's sweep shards its fits over them, as GridSearchCV's n_jobs uses
one process per core.  A single fit runs on one device either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from functools import partial

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.cpu_devices import one_device_per_core  # noqa: E402  (does not import jax)

if __name__ == "__main__":  # before jax is imported: the grid search's sweep shards its fits over the cores
    one_device_per_core(sys.argv)

from benchmarks.common import machine, matmul_peak_gflops, numpy_threads_note, table  # noqa: E402
from jaxnn.datasets import require  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _best(fn, repeats: int):
    """(last output, best wall time) of ``repeats`` calls of ``fn`` run back to back.  Each library's
    repeats run together: on these machines a fit that follows an idle pause, or a run of the other
    library on one core, can run slower while the idle core wakes."""
    times = []
    for _ in range(repeats):
        out, t = _timed(fn)
        times.append(t)
    return out, min(times)


def _bare_J(p, x, yy, alpha, batch: int):
    """The bare loops' objective on one batch in the column layout: relu hidden layer, softmax log-loss,
    alpha/(2 batch) ridge."""
    import jax
    import jax.numpy as jnp

    a = jax.nn.relu(p[0]["W"] @ x + p[0]["b"][:, None])
    z = p[1]["W"] @ a + p[1]["b"][:, None]
    ridge = sum(jnp.sum(layer["W"] ** 2) for layer in p)
    return -jnp.sum(yy * jax.nn.log_softmax(z, axis=0)) / batch + 0.5 * alpha * ridge / batch


def _bare_batches(X, y, rows, n_b: int, batch: int, c: int):
    """The bare loops' minibatches: ``rows`` of (X, y) repeated to ``n_b`` whole batches, in a fixed order,
    as (n_b, d, batch) inputs and (n_b, c, batch) one-hot targets (one sample per column)."""
    idx = rows[np.arange(n_b * batch) % len(rows)]
    XT = X[idx].reshape(n_b, batch, X.shape[1]).transpose(0, 2, 1)
    YT = np.eye(c, dtype=X.dtype)[y[idx]].reshape(n_b, batch, c).transpose(0, 2, 1)
    return XT, YT


def _bare_epochs(p, opt, XT, YT, alpha, batch: int, epochs: int, *, loss: bool = False):
    """The bare loops' training: ``epochs`` passes of optax ``opt``'s minibatch steps over the batches
    (XT, YT) from params ``p``.  Returns the final params and, with ``loss``, each epoch's sum of its
    batches' objectives times the batch size (each step then uses ``value_and_grad``), else None."""
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    def step(c, xy):
        p, s = c
        if loss:
            J, g = jax.value_and_grad(_bare_J)(p, *xy, alpha, batch)
        else:
            J, g = None, jax.grad(_bare_J)(p, *xy, alpha, batch)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), J

    def epoch(c, _):
        c, J = lax.scan(step, c, (XT, YT))
        return c, None if J is None else jnp.sum(J) * batch

    (p, _), acc = lax.scan(epoch, (p, opt.init(p)), None, length=epochs)
    return p, acc


def _bare_loop(X, y, solver: str, epochs: int, lr: float, momentum: float, alpha: float = 1e-4, batch: int = 200,
               *, loss: bool = False):
    """A bare JAX loop of the same minibatch steps, as a reference for what the compiled fit could
    cost at best on this machine: relu hidden layer (100), softmax log-loss, alpha/(2 batch) ridge,
    optax adam / Nesterov sgd, batches in a fixed order in the column layout (samples as columns),
    no masks, no divergence check, no bookkeeping; the rows are padded by repetition to whole
    batches.  ``loss``: each step also evaluates its batch's objective (``value_and_grad``) and
    the epoch's loss is accumulated, as a fit must for ``loss_curve_`` and the ``tol`` criterion.
    Returns the best wall times of 3 runs (compiled first) on all cores and with the process pinned
    to one core (NaN where the OS cannot pin)."""
    import jax
    import jax.numpy as jnp
    import optax

    XT, YT = (jnp.asarray(a) for a in _bare_batches(X, y, np.arange(len(X)), -(-len(X) // batch), batch, 10))
    k1, k2 = jax.random.split(jax.random.key(0))
    params = [{"W": 0.1 * jax.random.normal(k1, (100, X.shape[1]), X.dtype), "b": jnp.zeros(100, X.dtype)},
              {"W": 0.1 * jax.random.normal(k2, (10, 100), X.dtype), "b": jnp.zeros(10, X.dtype)}]
    opt = optax.adam(lr) if solver == "adam" else optax.sgd(lr, momentum=momentum, nesterov=True)

    @jax.jit
    def run(p):
        p, acc = _bare_epochs(p, opt, XT, YT, alpha, batch, epochs, loss=loss)
        return p, None if acc is None else acc / len(X)  # the epochs' losses: returned, so XLA keeps them

    jax.block_until_ready(run(params))
    best = lambda: _best(lambda: jax.block_until_ready(run(params)), 3)[1]  # noqa: E731
    return best(), _on_one_core(best)


def _on_one_core(fn) -> float:
    """``fn()`` with the whole process pinned to one core (NaN where the OS cannot pin)."""
    if not hasattr(os, "sched_setaffinity"):
        return np.nan
    cores = os.sched_getaffinity(0)
    _pin_process({min(cores)})
    try:
        return fn()
    finally:
        _pin_process(cores)


def _pin_process(cores) -> None:
    """Set the CPU affinity of every thread of this process, XLA's running workers included
    (``sched_setaffinity(0, ...)`` sets only the calling thread's)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:  # a thread that has ended
            pass


def _bare_grid(X, y, splits, hidden: int, epochs: int, grid: dict, block: int = 8, batch: int = 200) -> float:
    """A bare JAX loop of the grid search's fits in jaxnn's layout, as a reference for what its sweep
    could cost at best here: per fold, blocks of ``block`` grid points whose fits share the fold's
    data (a vmap over their params only), one block per device per call; relu, softmax log-loss,
    ridge, optax adam, minibatches in a fixed order (the rows padded by repetition to whole batches),
    no masks, divergence checks, shuffling, scoring or bookkeeping.  Returns the best wall time of 3
    runs of all the calls (compiled first)."""
    import jax
    import optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    points = [(a, lr) for a in grid["alpha"] for lr in grid["learning_rate_init"]]
    n_b = -(-max(len(tr) for tr, _ in splits) // batch)
    blocks = [(f, points[i:i + block]) for f in range(len(splits)) for i in range(0, len(points), block)]
    rng = np.random.RandomState(0)
    d, c = X.shape[1], len(np.unique(y))

    def block_arrays(f, pts):
        XT, YT = _bare_batches(X, y, splits[f][0], n_b, batch, c)
        params = [{"W": 0.1 * rng.standard_normal((len(pts), hidden, d)).astype(X.dtype),
                   "b": np.zeros((len(pts), hidden), X.dtype)},
                  {"W": 0.1 * rng.standard_normal((len(pts), c, hidden)).astype(X.dtype),
                   "b": np.zeros((len(pts), c), X.dtype)}]
        return XT, YT, params, np.array([p[0] for p in pts], X.dtype), np.array([p[1] for p in pts], X.dtype)

    def fit(XT, YT, p, alpha, lr):  # one grid point on its block's (unbatched) data
        return _bare_epochs(p, optax.adam(lr), XT, YT, alpha, batch, epochs)[0]

    n_dev = len(jax.devices())
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("b",)), PartitionSpec("b"))
    run = jax.jit(jax.vmap(jax.vmap(fit, in_axes=(None, None, 0, 0, 0))))
    calls = []
    for i in range(0, len(blocks), n_dev):
        group = [block_arrays(f, pts) for f, pts in blocks[i:i + n_dev]]
        group += group[-1:] * (n_dev - len(group))  # a short last call: padded, as jaxnn's executor does
        stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *group)
        calls.append(jax.device_put(stacked, sharding))
    jax.block_until_ready(run(*calls[0]))
    return _best(lambda: jax.block_until_ready([run(*a) for a in calls]), 3)[1]


_SK_JOBS = [os.cpu_count() or 1]  # scikit-learn's search workers (--sklearn-jobs; default: every core)


def _sk_jobs() -> int:
    """scikit-learn's searches' ``n_jobs``: every core by default (the row names it)."""
    return _SK_JOBS[0]


def _search_target(cpu: str) -> str:
    """Issue 13's target for a search: ``cpu`` on the 2-core CPU, >= 15x on a GPU."""
    import jax

    return cpu if jax.default_backend() == "cpu" else ">= 15x"


def _search_row(name, ours, t_j, theirs, t_s, X, y, hidden) -> dict:
    """One search row: jaxnn's time against scikit-learn's, without the sweeps' compiles, the FLOP ceiling,
    and whether the two found the same candidate."""
    compile_s = sum(m.get("compile_s", 0.0) for m in ours.sweep_meta_)
    diff = np.max(np.abs(ours.cv_results_["mean_test_score"] - theirs.cv_results_["mean_test_score"]))
    t_min = _search_flops(ours, X, y, hidden)[1]  # one peak measurement for both ceilings
    return {"search": name, "jaxnn_s": t_j, f"sklearn n_jobs={_sk_jobs()} s": t_s, "speedup": t_s / t_j,
            "target": _search_target(">= 4x"), "jaxnn compile_s": compile_s,
            "speedup excl. compile": t_s / (t_j - compile_s),
            "ceiling (100% peak)": t_s / t_min, "ceiling with compile": t_s / (t_min + compile_s),
            "same best": ours.best_params_ == theirs.best_params_, "max |mean score diff|": float(diff)}


def _search_flops(search, X, y, hidden) -> tuple[float, float]:
    """``(flops, seconds)``: the matmul FLOPs of the epochs a search's sweeps ran (per sample per epoch:
    forward 2 sum(s_l s_l+1), weight gradients as many, deltas 2 sum over the layers after the first;
    refit and scoring not counted), and their time at 100% of the measured matmul peak in X's dtype:
    scikit-learn's time over that is the most any implementation could beat it by on this machine."""
    import jax
    from sklearn.model_selection import StratifiedKFold

    sizes = [X.shape[1], *hidden, len(np.unique(y))]
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    per_sample = 4 * sum(pairs) + 2 * sum(pairs[1:])
    n_train = np.mean([len(tr) for tr, _ in StratifiedKFold(3).split(X, y)])
    epochs = sum(m["epochs_run"] for m in search.sweep_meta_)
    flops = float(epochs * n_train * per_sample)
    with jax.enable_x64(X.dtype == np.float64):
        peak = matmul_peak_gflops(dtype=X.dtype)
    return flops, flops / (peak * 1e9)


_GRID = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2], "learning_rate_init": [3e-4, 1e-3, 3e-3, 1e-2]}


def _grid_params(args) -> dict:
    return dict(hidden_layer_sizes=(args.grid_hidden,), max_iter=30 if args.quick else args.grid_max_iter,
                random_state=0, shuffle=args.shuffle)


def _grid_section(args, X, y, argv: list) -> None:
    import jax
    from sklearn import neural_network as sk_nn
    from sklearn.model_selection import GridSearchCV

    from jaxnn.estimators import MLPClassifier

    params = _grid_params(args)
    # warm the single-fit and predict caches that the refit and the scoring use, so that
    # "excl. compile" below only has to subtract the sweep's own compile time
    MLPClassifier(**params).fit(X, y).predict(X[: len(X) // 3 + 1])
    ours, t_j = _timed(lambda: _jaxnn_search("grid", args).fit(X, y))
    theirs, t_s = _timed(lambda: GridSearchCV(sk_nn.MLPClassifier(**params), _GRID, cv=3, n_jobs=_sk_jobs()).fit(X, y))
    # the same search again: the compiled sweep is reused (its data are arguments, not constants)
    again, t_again = _timed(lambda: _jaxnn_search("grid", args).fit(X, y))
    meta = ours.sweep_meta_[0]
    diff = np.max(np.abs(ours.cv_results_["mean_test_score"] - theirs.cv_results_["mean_test_score"]))
    compile_s = meta.get("compile_s", float("nan"))
    flops, t_min = _search_flops(ours, X, y, params["hidden_layer_sizes"])
    from sklearn.model_selection import StratifiedKFold

    with jax.enable_x64(X.dtype == np.float64):
        t_bare = _bare_grid(X, y, list(StratifiedKFold(3).split(X, y)), args.grid_hidden, params["max_iter"], _GRID,
                            block=meta.get("block_size", 8))
    row = {"fits": 16 * 3, "jaxnn_s (incl. compile)": t_j, "jaxnn_s (excl. compile)": t_j - compile_s,
           f"sklearn n_jobs={_sk_jobs()} s": t_s, "speedup (excl. compile)": t_s / (t_j - compile_s),
           "speedup (incl. compile)": t_s / t_j, "target": _search_target(">= 3x"), "jaxnn compile_s": compile_s,
           "jaxnn sweep run_s": meta.get("run_s", float("nan")), "bare JAX s (same layout)": t_bare,
           "jaxnn 2nd search s": t_again, "speedup 2nd search": t_s / t_again,
           "ceiling (100% peak)": t_s / t_min, "ceiling with compile": t_s / (t_min + compile_s),
           "same best": ours.best_params_ == theirs.best_params_,
           "max |mean score diff|": float(diff)}
    if args.fresh:
        row.update(_fresh_columns("grid", argv, t_s))
    print(f"\n## Grid search 4 x 4 (alpha x learning_rate_init) x 3 folds, hidden {params['hidden_layer_sizes']}, "
          f"adam, max_iter={params['max_iter']}, shuffle={args.shuffle}\n")
    print(table([row], list(row)))
    epochs = int(ours.n_iter_per_split_.sum())
    print(f"\nCeiling: the 48 fits run {epochs} epochs in all, {flops / 1e9:.0f} GFLOP of matmuls; at 100% of the "
          f"measured {X.dtype} matmul peak that is {t_min:.2f} s, i.e. at most {t_s / t_min:.1f}x scikit-learn's "
          f"{t_s:.2f} s with no compile, refit or scoring (the jaxnn sweep ran at "
          f"{100 * t_min / meta.get('run_s', float('nan')):.0f}% of that peak; blocks of {meta.get('block_size')} "
          f"fits sharing their data, {meta.get('n_blocks')} blocks).")
    print(f"\njaxnn best {ours.best_params_} ({ours.best_score_:.4f}); "
          f"sklearn best {theirs.best_params_} ({theirs.best_score_:.4f})")


def _layouts_section(args, X, y) -> None:
    """The grid search's sweep time (run_s, best of 3 after a warm-up) for several layouts of its fits:
    members per block (fits that share their training data: one fold, one random_state) and members per
    device per call, the constants ``CPU_BLOCK`` and ``CPU_LANES`` of ``jaxnn.estimators._grouped``."""
    from jaxnn.estimators import _grouped as E

    params = _grid_params(args)
    saved, rows = (E.CPU_BLOCK, E.CPU_LANES), []
    try:
        for block, lanes in ((1, 8), (1, 16), (4, 4), (4, 8), (8, 4), (8, 16), (16, 16)):
            E.CPU_BLOCK, E.CPU_LANES = block, lanes
            runs = [_jaxnn_search("grid", args).set_params(refit=False).fit(X, y).sweep_meta_[0]
                    for _ in range(4)]
            first = runs[0]  # the layout the search ran: its blocks per call over the devices, times the block size
            rows.append({"members per block": block,
                         "members per device per call": first["chunk_size"] // first["devices"] * first["block_size"],
                         "chunk (blocks per call)": first["chunk_size"], "compile_s": first["compile_s"],
                         "run_s (best of 3)": min(m["run_s"] for m in runs[1:]),
                         "default": (block, lanes) == saved})
    finally:
        E.CPU_BLOCK, E.CPU_LANES = saved
    print(f"\n## Layouts of the grid search's fits (hidden {params['hidden_layer_sizes']}, max_iter "
          f"{params['max_iter']}, shuffle={args.shuffle})\n")
    print(table(rows, list(rows[0])))


def _jaxnn_search(name: str, args):
    """The benchmark's jaxnn search ``name`` ('grid', 'randomized', 'halving'), unfitted; the parameters
    are the sections' (the scikit-learn searches take the same)."""
    from jaxnn.estimators import MLPClassifier, MLPGridSearchCV, MLPHalvingRandomSearchCV, MLPRandomizedSearchCV

    if name == "grid":
        return MLPGridSearchCV(MLPClassifier(**_grid_params(args)), _GRID, cv=3)
    params, dists, kw = _search_params(args)[name]
    cls = MLPRandomizedSearchCV if name == "randomized" else MLPHalvingRandomSearchCV
    return cls(MLPClassifier(**params), dists, **kw)


def _search_params(args) -> dict:
    """name -> (MLPClassifier params, distributions, search keywords) of the randomized and halving searches."""
    from scipy.stats import loguniform

    dists = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-4, 3e-2)}
    params = dict(hidden_layer_sizes=(100,), max_iter=30 if args.quick else args.search_max_iter, random_state=0,
                  shuffle=args.shuffle)
    top = 27 if args.quick else 81
    return {"randomized": (params, dists, dict(n_iter=8 if args.quick else 32, cv=3, random_state=0)),
            "halving": (dict(params, max_iter=top), dists,
                        dict(n_candidates=top, factor=3, resource="max_iter", min_resources=1, max_resources=top,
                             cv=3, random_state=0))}


def _child(name: str, cache_dir: str, argv: list) -> None:
    """One jaxnn search (:func:`_jaxnn_search`) in this fresh process, nothing compiled before it (with
    JAX's persistent compilation cache in ``cache_dir``, if given); prints its wall time, the sweeps'
    compile seconds and the refit's seconds."""
    import json

    import jax
    from sklearn.datasets import load_digits

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    args = _parser().parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32 if args.float32 else np.float64)
    warnings.simplefilter("ignore")
    ours, t = _timed(lambda: _jaxnn_search(name, args).fit(X, y))
    print("CHILD " + json.dumps({"s": t, "compile_s": sum(m.get("compile_s", 0.0) for m in ours.sweep_meta_),
                                 "refit_s": ours.refit_time_}))


def _in_fresh_process(name: str, argv: list, cache_dir: str = "") -> dict:
    """:func:`_child`'s measurements of search ``name`` run in a fresh Python process."""
    import json
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--child-cache", cache_dir, *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("CHILD ", 1)[1])


def _cache_section(args, argv: list) -> None:
    """The grid search in two fresh processes sharing one JAX persistent compilation cache (a user's
    ``jax.config.update("jax_compilation_cache_dir", ...)``): the first fills it, the second reads it."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in ("1st process (cache empty)", "2nd process (cache filled)"):
            got = _in_fresh_process("grid", argv, d)
            rows.append({"process": name, "search s (with the refit)": got["s"], "sweep compile_s": got["compile_s"],
                         "refit s (its own compile included)": got["refit_s"]})
    print("\n## The grid search in fresh processes with JAX's persistent compilation cache\n")
    print(table(rows, list(rows[0])))


def _search_section(args, X, y, argv: list) -> None:
    from sklearn import neural_network as sk_nn
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV

    from jaxnn.estimators import MLPClassifier

    setups = _search_params(args)
    rows = []
    # warm the single-fit caches of the refits, as the grid section does, so that "excl. compile" only has
    # to subtract the sweeps' compiles ('fresh process s' is the cold search, every compile counted)
    for params, _, _ in setups.values():
        MLPClassifier(**params).fit(X, y).predict(X[: len(X) // 3 + 1])
    for name, sk_cls in (("randomized", RandomizedSearchCV), ("halving", HalvingRandomSearchCV)):
        params, dists, kw = setups[name]
        ours, t_j = _timed(lambda n=name: _jaxnn_search(n, args).fit(X, y))
        theirs, t_s = _timed(lambda c=sk_cls, p=params, d=dists, k=kw: c(sk_nn.MLPClassifier(**p), d, n_jobs=_sk_jobs(),
                                                                            **k).fit(X, y))
        label = (f"randomized {kw['n_iter']} x 3 folds, max_iter {params['max_iter']}" if name == "randomized" else
                 f"halving random {kw['n_candidates']} cands, max_iter {ours.n_resources_} x 3 folds")
        row = _search_row(label, ours, t_j, theirs, t_s, X, y, params["hidden_layer_sizes"])
        if args.fresh:
            row.update(_fresh_columns(name, argv, t_s))
        rows.append(row)
        print(f"  {name}: jaxnn {t_j:.1f}s sklearn {t_s:.1f}s", flush=True)
    print(f"\n## Searches, digits, hidden (100,), adam, shuffle={args.shuffle}\n")
    print(table(rows, list(rows[0])))


def _fresh_columns(name: str, argv: list, t_s: float) -> dict:
    """The columns of search ``name`` run cold in a fresh process (every compile counted: the sweeps',
    the refit's, and the first runs), against scikit-learn's time ``t_s`` from this process."""
    got = _in_fresh_process(name, argv)
    return {"fresh process s": got["s"], "speedup fresh process": t_s / got["s"],
            "fresh: sweep compile_s": got["compile_s"], "fresh: refit_s": got["refit_s"]}


def _sparse_matrix(n=20000, d=50000, density=0.001, dtype=np.float32, seed=0):
    """A random CSR (n, d) matrix at ``density`` (built from its nonzeros, never dense) and 5-class labels."""
    import scipy.sparse as sp

    rng = np.random.RandomState(seed)
    nnz = int(n * d * density)
    X = sp.csr_matrix((rng.rand(nnz).astype(dtype), (rng.randint(0, n, nnz), rng.randint(0, d, nnz))), shape=(n, d))
    return X, rng.randint(0, 5, n)


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss, not inherited from the parent across exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _sparse_rss_child(epochs: int) -> None:
    """Fit jaxnn on the sparse matrix and print the process's peak RSS (MB) before and after the fit
    (run in a fresh process, Linux)."""
    from jaxnn.estimators import MLPClassifier

    X, y = _sparse_matrix()
    before = _peak_rss_mb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(hidden_layer_sizes=(100,), max_iter=epochs, random_state=0).fit(X, y)
    print(f"RSS_MB {before:.0f} {_peak_rss_mb():.0f}")


def _sparse_forms(X, hidden=100, batch=200, steps=10):
    """ms per training step (forward, gradient, adam update of W) of the candidate sparse first layers
    on one minibatch of X's shape: each jitted, compiled first, the best of 3 runs of ``steps``."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse as jsp

    from jaxnn.estimators._layout import ell as ell_rows

    d = X.shape[1]
    ell = ell_rows(X[:batch], batch)
    idx, val = jnp.asarray(ell.idx), jnp.asarray(ell.val)
    W0 = jnp.asarray(0.01 * np.random.RandomState(0).randn(hidden, d).astype(X.dtype))
    rows = jnp.repeat(jnp.arange(batch), idx.shape[1])
    bcoo = jsp.BCOO((val.ravel(), jnp.stack([rows, idx.ravel()], 1)), shape=(batch, d))
    forms = {  # z (s_2, batch) from the weights in the layout each form keeps
        "gather W^T (d, s_2) rows [jaxnn]": (lambda WT: jnp.einsum("rkh,rk->hr", WT[idx], val), W0.T),
        "gather W (s_2, d) columns": (lambda W: jnp.einsum("hrk,rk->hr", W[:, idx], val), W0),
        "densify minibatch + matmul": (lambda W: W @ jnp.zeros((d, batch), W.dtype).at[idx.T, jnp.arange(batch)].add(
            val.T), W0),
        "jax.experimental.sparse BCOO": (lambda W: jsp.bcoo_dot_general(bcoo, W.T, dimension_numbers=(
            ([1], [0]), ([], []))).T, W0),
    }
    out = {}
    for name, (z_of, W) in forms.items():
        def step(c, z_of=z_of):
            W, m, v = c
            g = jax.grad(lambda W: jnp.sum(jnp.tanh(z_of(W)) ** 2))(W)
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            return W - 1e-3 * m / (jnp.sqrt(v) + 1e-8), m, v

        run = jax.jit(lambda c, step=step: jax.lax.fori_loop(0, steps, lambda i, c: step(c), c))
        c = (jnp.asarray(W), jnp.zeros_like(W), jnp.zeros_like(W))
        jax.block_until_ready(run(c))
        out[name] = _best(lambda run=run, c=c: jax.block_until_ready(run(c)), 3)[1] / steps * 1e3
    return out


def _sparse_section(args) -> None:
    import subprocess

    from sklearn import neural_network as sk_nn

    from jaxnn.estimators import MLPClassifier

    X, y = _sparse_matrix()
    epochs = 2 if args.quick else args.sparse_epochs
    print(f"\n## Sparse X: {X.shape[0]} x {X.shape[1]} CSR, {X.nnz} nonzeros "
          f"(most in a row: {np.diff(X.indptr).max()}), float32, hidden (100,), adam, {epochs} epochs\n")
    forms = _sparse_forms(X)
    print(table([{"first layer": k, "ms/step": v} for k, v in forms.items()], ["first layer", "ms/step"]))
    params = dict(hidden_layer_sizes=(100,), max_iter=epochs, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, t_first = _timed(lambda: MLPClassifier(**params).fit(X, y))
        ours, t_j = _timed(lambda: MLPClassifier(**params).fit(X, y))
        theirs, t_s = _timed(lambda: sk_nn.MLPClassifier(**params).fit(X, y))
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--sparse-rss-child", str(epochs),
                            "--cpu-devices", "1"], capture_output=True, text=True, check=True)
    rss = [line.split()[1:] for line in child.stdout.splitlines() if line.startswith("RSS_MB")][0]
    row = {"epochs jaxnn/sklearn": f"{ours.n_iter_}/{theirs.n_iter_}", "jaxnn_s": t_j, "sklearn_s": t_s,
           "speedup": t_s / t_j, "target": ">= 2x", "compile_s": max(t_first - t_j, 0.0),
           "s/epoch jaxnn": t_j / ours.n_iter_, "s/epoch sklearn": t_s / theirs.n_iter_,
           "jaxnn peak RSS MB (fresh process; before the fit)": f"{rss[1]} ({rss[0]})",
           "train acc jaxnn/sklearn": f"{ours.score(X, y):.4f}/{theirs.score(X, y):.4f}"}
    print()
    print(table([row], list(row)))


def _single_targets(rows: list, dtype) -> str:
    """The single fits' target (>= 3x scikit-learn, float32 data) per solver, against the ceiling for the
    work a fit does: the 'bare JAX + loss' loop (adam, sgd; L-BFGS has no bare loop)."""
    if dtype != np.float32:
        return "Target: >= 3x for single fits on float32 data (--float32); float64 has none."
    lines = ["Target: >= 3x scikit-learn (float32)."]
    for r in rows:
        ceiling = r["bare JAX + loss speedup"]
        status = "met" if r["speedup"] >= 3 else (
            f"not met; beyond this machine: the ceiling (bare JAX + loss) is {ceiling:.2f}x" if ceiling < 3 else
            f"not met; the ceiling (bare JAX + loss) is {ceiling:.2f}x" if np.isfinite(ceiling) else "not met")
        lines.append(f"  {r['solver']}: {r['speedup']:.2f}x, {status}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="max_iter 50, one repeat, grid max_iter 30")
    ap.add_argument("--max-iter", type=int, default=100, help="max_iter of the single fits")
    ap.add_argument("--grid-hidden", type=int, default=64, help="hidden units of the grid search's networks")
    ap.add_argument("--search-max-iter", type=int, default=60, help="max_iter of the randomized search")
    ap.add_argument("--layouts", action="store_true", help="time the grid search's sweep for several layouts")
    ap.add_argument("--grid-max-iter", type=int, default=100,
                    help="max_iter of the grid search fits (scikit-learn's default is 200: slower)")
    ap.add_argument("--float32", action="store_true", help="float32 data for both libraries")
    ap.add_argument("--shuffle", action="store_true", help="shuffle minibatches (default: off, same trajectories)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per single fit (best is reported)")
    ap.add_argument("--skip-grid", action="store_true", help="only the single fits")
    ap.add_argument("--skip-single", action="store_true", help="only the grid search")
    ap.add_argument("--cpu-devices", type=int, default=os.cpu_count(),
                    help="JAX CPU devices (default: one per core, as jaxnn.use_cpu_cores(); 1 turns it off); "
                         "single fits run on one device either way")
    ap.add_argument("--sklearn-jobs", type=int, default=os.cpu_count() or 1,
                    help="n_jobs of scikit-learn's searches (default: every core, os.cpu_count(); the rows name it)")
    ap.add_argument("--skip-sparse", action="store_true", help="leave out the sparse fit")
    ap.add_argument("--skip-search", action="store_true", help="leave out the randomized and halving searches")
    ap.add_argument("--sparse-epochs", type=int, default=5, help="epochs of the sparse fits")
    ap.add_argument("--sparse-rss-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--compile-cache", action="store_true",
                    help="the grid search in two fresh processes sharing JAX's persistent compilation cache")
    ap.add_argument("--fresh", action="store_true",
                    help="each jaxnn search also run cold in a fresh process (every compile counted)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-cache", default="", help=argparse.SUPPRESS)
    return ap


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    _SK_JOBS[0] = max(1, args.sklearn_jobs)
    require("sklearn")
    if args.sparse_rss_child:
        return _sparse_rss_child(args.sparse_rss_child)
    child_argv = list(sys.argv[1:] if argv is None else argv)
    if args.child:
        return _child(args.child, args.child_cache, child_argv)
    child_argv = [a for a in child_argv if a not in ("--compile-cache", "--fresh", "--layouts")]
    from sklearn import neural_network as sk_nn
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from jaxnn.estimators import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32 if args.float32 else np.float64)
    repeats = 1 if args.quick else args.repeats
    max_iter = 50 if args.quick else args.max_iter
    import jax
    print(f"# jaxnn.estimators vs scikit-learn ({machine()}, {len(jax.devices())} JAX devices)")
    print(f"# {numpy_threads_note()}; data {X.shape} {X.dtype}; shuffle={args.shuffle}")

    if not args.skip_single:
        rows = []
        solvers = {
            "adam": dict(solver="adam"),
            "sgd": dict(solver="sgd", learning_rate_init=0.05, momentum=0.9),
            "lbfgs": dict(solver="lbfgs"),
        }
        for name, kw in solvers.items():
            params = dict(hidden_layer_sizes=(100,), max_iter=max_iter, random_state=0, shuffle=args.shuffle, **kw)
            first, t_first = _timed(lambda p=params: MLPClassifier(**p).fit(X, y))
            ours, t_j = _best(lambda p=params: MLPClassifier(**p).fit(X, y), repeats)
            t_j1 = _on_one_core(lambda p=params: _best(lambda: MLPClassifier(**p).fit(X, y), repeats)[1])
            t_s, blas = np.inf, ""
            for limit in (None, 1):  # NumPy's default BLAS threads and 1 thread: the faster is the baseline
                with threadpool_limits(limits=limit):
                    out, t = _best(lambda p=params: sk_nn.MLPClassifier(**p).fit(X, y), repeats)
                if t < t_s:
                    theirs, t_s, blas = out, t, "default" if limit is None else "1 thread"
            t_bare, t_bare1, t_loss = np.nan, np.nan, np.nan
            if name in ("adam", "sgd"):
                with jax.enable_x64(X.dtype == np.float64):  # in the data's precision, as the estimators train
                    bare = partial(_bare_loop, X, y, name, ours.n_iter_, params.get("learning_rate_init", 1e-3),
                                   params.get("momentum", 0.9))
                    (t_bare, t_bare1), t_loss = bare(), bare(loss=True)[0]
            rows.append({"solver": name, "jaxnn_s": t_j, "jaxnn 1 core s": t_j1, "sklearn_s": t_s, "speedup": t_s / t_j,
                         "bare JAX s": t_bare, "bare JAX speedup": t_s / t_bare, "bare JAX 1 core s": t_bare1,
                         "bare JAX + loss s": t_loss, "bare JAX + loss speedup": t_s / t_loss,
                         "compile_s": max(t_first - t_j, 0.0),
                         "n_iter jaxnn/sklearn": f"{ours.n_iter_}/{theirs.n_iter_}",
                         "ms/iter jaxnn": 1e3 * t_j / ours.n_iter_, "ms/iter sklearn": 1e3 * t_s / theirs.n_iter_,
                         "train acc jaxnn/sklearn": f"{ours.score(X, y):.4f}/{theirs.score(X, y):.4f}",
                         "sklearn BLAS": blas})
            print(f"  {name}: jaxnn {t_j:.3f}s sklearn {t_s:.3f}s", flush=True)
        print("\n## Single fit, digits, hidden (100,)\n")
        print(table(rows, ["solver", "jaxnn_s", "jaxnn 1 core s", "sklearn_s", "speedup", "bare JAX s",
                           "bare JAX speedup", "bare JAX 1 core s", "bare JAX + loss s", "bare JAX + loss speedup",
                           "compile_s", "n_iter jaxnn/sklearn",
                           "ms/iter jaxnn", "ms/iter sklearn", "train acc jaxnn/sklearn", "sklearn BLAS"]))
        print("\n" + _single_targets(rows, X.dtype))

    if not args.skip_grid:
        _grid_section(args, X, y, child_argv)

    if args.layouts:
        _layouts_section(args, X, y)

    if args.compile_cache:
        _cache_section(args, child_argv)

    if not args.skip_search:
        _search_section(args, X, y, child_argv)

    if not args.skip_sparse:
        _sparse_section(args)


if __name__ == "__main__":
    main()
