"""Data-parallel training of one network over the local devices (internal, used by :func:`jaxnn.train`).

The samples (the columns of the core's layout) are sharded over a 1-D ``Mesh`` of the local devices
(axis ``"batch"``) and the parameters are replicated.  Each device computes the objective and its
gradient on its own columns with weights 1/m (m the whole batch's size) and XLA sums the devices'
results with one all-reduce (:func:`summed_over_devices`): the arithmetic of one device, summed in
another order (equal to rounding).  The ridge term, which is not a sum over samples, is computed on
every device with lam / n_devices, so that the sum has it once.  A batch that the device count does
not divide is padded with zero samples of weight 0 (:func:`sample_weights`), so the padding changes
nothing.

On a CPU, ``jaxnn.use_cpu_cores()`` (before JAX starts) makes one device per core; several GPUs are
several devices already.  The default (``data_parallel=None``) considers sharding only for CPU
devices, full-batch steps, concrete inputs (under an outer trace, such as a ``jax.vmap``-ed sweep, the
caller's computation decides the placement, so ``train`` stays on one device), at least
:data:`MIN_SAMPLES_PER_DEVICE` samples per device (below that the all-reduce of every step costs more
than the halved matrix products save) and no weight matrix larger than :data:`MAX_LAYER_WEIGHTS`
(one CPU device already spreads larger products over the cores).  Elsewhere (GPUs: not measured
here) ``data_parallel=True`` turns it on.

Inside that region neither form is faster by construction.  Both run on XLA's CPU thread pool
(``XLAEigen``: one thread per core, shared by all the devices).  The sharded step runs one program
per device, each on its own thread, and pays an all-reduce (a rendezvous of the threads) per step.
The one-device step is split over the same threads as well (the thunk executor schedules the step's
independent kernels on the pool, and a matrix product may be sharded over it), so a step hands work
from one thread to the other a few times, each a wake-up of a waiting thread; what that costs
depends on the scheduling of those threads on the cores, and it varies from process to process
(issue 22, digits 64-100-10 on 2 cores: one device 3,766-4,050 steps/s in three processes and
2,162-2,198 in two others, against 3,225-3,479 sharded).  ``benchmarks/bench_data_parallel.py``
shows each thread's CPU time and waits per step, in fresh processes.  No XLA flag we tried makes the
one-device form deterministic: with ``--xla_cpu_multi_thread_eigen=false`` (no sharded matrix
products) its loop still runs on both pool threads, waiting about as often per step.

So the default is **the region's rule, sharded** (``JAXNN_DATA_PARALLEL=on``), chosen from what
was measured: the sharded rate is the steadier one (3,225-3,479 steps/s in all five processes above,
against a one-device rate that was faster in three and 1.5x slower in two), and a rule fixed in
advance keeps a script's numbers the same from process to process (the two forms agree only to
rounding, so a choice measured per process could give two runs of one script different digits).
``JAXNN_DATA_PARALLEL`` changes the default: ``off`` (never shard by default), ``auto`` (measure
once per process and shape class, :func:`calibrate`: the first default call of a class times a
probe of its size, one device against sharded, interleaved best of a few, and keeps the faster form
(sharded unless one device is clearly faster: :data:`CALIBRATION_MARGIN`) for every later call of
that class; :func:`calibration` shows what was measured and what it cost: two small compilations and
a few hundred probe steps, more than a short run takes), ``on`` (the default).
``benchmarks/bench_data_parallel.py`` times the three forms in fresh processes.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, shard_map
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["AXIS", "MIN_SAMPLES_PER_DEVICE", "MAX_LAYER_WEIGHTS", "POLICY_ENV", "CALIBRATION_MARGIN", "n_devices",
           "default_policy", "shape_class", "calibrate", "choose", "calibration", "local_mesh", "place",
           "sample_weights", "summed_over_devices", "shard_samples"]

AXIS = "batch"
MIN_SAMPLES_PER_DEVICE = 256  # the default shards a full batch of at least this many samples per device
MAX_LAYER_WEIGHTS = 32768  # ... of a network whose largest W^(l) has at most this many entries (CPU)
POLICY_ENV = "JAXNN_DATA_PARALLEL"  # on (the default: the region's rule), off, auto (measure per process)
_POLICIES = ("auto", "on", "off")
CALIBRATION_MARGIN = 0.05  # calibrate keeps one device only where it measured more than 5% faster
_CALIBRATION: dict = {}  # shape class -> {"one", "sharded": steps/s, "devices": the chosen count, "seconds"}


def n_devices(data_parallel: Optional[bool], *, traced: bool, full: bool, m: int, layer_weights: int) -> int:
    """The number of devices to shard the batch over (1: no sharding) for ``data_parallel``
    (None: the default of the module doc: every device inside the region, or as ``JAXNN_DATA_PARALLEL``
    says (``off``; ``auto``: the form measured faster in this process for this shape class,
    :func:`calibrate`); ``layer_weights`` being the size of the largest weight matrix; True: every
    local device, or a ValueError where impossible; False: 1)."""
    if data_parallel is not None and not isinstance(data_parallel, (bool, np.bool_)):
        raise ValueError(f"data_parallel: expected None, True or False, got {data_parallel!r}")
    n = jax.local_device_count()
    if data_parallel is None:
        region = (n > 1 and jax.default_backend() == "cpu" and full and not traced
                  and m >= MIN_SAMPLES_PER_DEVICE * n and layer_weights <= MAX_LAYER_WEIGHTS)
        policy = default_policy()
        if not region or policy == "off":
            return 1
        return n if policy == "on" else calibrate(n, m, layer_weights)["devices"]
    if not data_parallel:
        return 1
    if traced:
        raise ValueError("data_parallel: True needs concrete inputs, but train is being traced (inside jax.jit, "
                         "jax.vmap or jaxnn.sweep, which place the computation themselves); use data_parallel=None "
                         "or False there")
    if n < 2:
        raise ValueError(f"data_parallel: True needs more than one local device, found {n} "
                         f"({jax.default_backend()}); on a CPU call jaxnn.use_cpu_cores() before JAX starts")
    return n


def default_policy() -> str:
    """``JAXNN_DATA_PARALLEL`` (``on`` when unset): how ``data_parallel=None`` decides (module doc)."""
    policy = os.environ.get(POLICY_ENV, "on").strip().lower() or "on"
    if policy not in _POLICIES:
        raise ValueError(f"{POLICY_ENV}: expected one of {', '.join(_POLICIES)}, got {policy!r}")
    return policy


def shape_class(n: int, m: int, layer_weights: int) -> tuple[int, int, int]:
    """The class of a full-batch problem that one calibration stands for: the device count, and the
    sample count and largest weight matrix rounded up to a power of two."""
    return n, 1 << max(0, math.ceil(math.log2(max(m, 1)))), 1 << max(0, math.ceil(math.log2(max(layer_weights, 1))))


def calibration() -> dict:
    """What :func:`calibrate` measured in this process: shape class -> ``{"one", "sharded"}`` probe
    steps/s, ``"devices"`` (the count the default uses for that class) and ``"seconds"`` (a copy)."""
    return {k: dict(v) for k, v in _CALIBRATION.items()}


def calibrate(n: int, m: int, layer_weights: int, *, steps: int = 64, repeats: int = 5) -> dict:
    """Measure, once per process and :func:`shape_class`, whether sharding a full batch over ``n``
    devices beats one device: a probe of the class's size (m samples of a width-w two-layer network,
    w = sqrt(layer_weights), full-batch gradient steps under one ``jit``) run on one device and sharded
    over ``n`` (padding, sample weights and one flat all-reduce, as ``train`` shards), interleaved,
    best of ``repeats`` runs of ``steps`` steps each.  One device is chosen only where it measured
    more than :data:`CALIBRATION_MARGIN` faster; within that (noise), the sharded form, whose rate
    varies less from process to process (module doc).  Returns (and caches) ``{"one": steps/s,
    "sharded": steps/s, "devices": the chosen count, "seconds": the calibration's own time,
    compilations included}``."""
    key = shape_class(n, m, layer_weights)
    if key not in _CALIBRATION:
        start = time.perf_counter()
        runs = {1: _probe(None, m, layer_weights, steps), n: _probe(local_mesh(n), m, layer_weights, steps)}
        best = {d: float("inf") for d in runs}
        for run in runs.values():  # compile (and a first run) outside the timing
            jax.block_until_ready(run())
        for _ in range(repeats):
            for d, run in runs.items():
                t0 = time.perf_counter()
                jax.block_until_ready(run())
                best[d] = min(best[d], time.perf_counter() - t0)
        one, sharded = steps / best[1], steps / best[n]
        _CALIBRATION[key] = {"one": one, "sharded": sharded, "devices": choose(one, sharded, n),
                             "seconds": time.perf_counter() - start}
    return dict(_CALIBRATION[key])


def choose(one: float, sharded: float, n: int) -> int:
    """The device count for measured rates (steps/s) on one device and sharded over ``n``: 1 only
    where one device is more than :data:`CALIBRATION_MARGIN` faster, else ``n``."""
    return 1 if one > sharded * (1 + CALIBRATION_MARGIN) else n


def _probe(mesh: Optional[Mesh], m: int, layer_weights: int, steps: int) -> Callable[[], jax.Array]:
    """``run()``: ``steps`` full-batch gradient steps of a w-w-w network (w = sqrt(layer_weights), tanh
    hidden units, squared error) on m samples (columns), on one device or sharded over ``mesh``; its
    data are made with NumPy, so that only the probe itself compiles."""
    w = max(1, math.isqrt(layer_weights))
    rng = np.random.default_rng(0)
    rows = m + (-m % mesh.devices.size if mesh is not None else 0)  # zero rows of weight 0 pad the shards
    X, Y = (np.zeros((rows, w), np.float32) for _ in range(2))
    X[:m], Y[:m] = rng.standard_normal((2, m, w), np.float32)
    params = tuple(0.1 * rng.standard_normal((2, w, w), np.float32))
    if mesh is None:
        X, Y, params = jax.device_put((X, Y, params))
        full = _probe_sums
    else:
        X, Y, params = place(mesh, X, Y, params)
        full = summed_over_devices(mesh, _probe_sums)

    @jax.jit
    def run(p, X, Y):
        XT, YT = shard_samples(mesh, X.T, Y.T)
        weights = sample_weights(rows, m, XT.dtype)

        def step(p, _):
            J, g = full(p, XT, YT, weights)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), J
        return lax.scan(step, p, None, length=steps)[1]

    return lambda: run(params, X, Y)


def _probe_sums(p, XT, YT, weights):
    """The probe's sum over the given columns of weight * squared error, and its gradient."""
    def J(p):
        return jnp.sum(weights * jnp.sum((p[1] @ jnp.tanh(p[0] @ XT) - YT) ** 2, axis=0))
    return jax.value_and_grad(J)(p)


def local_mesh(n: int) -> Mesh:
    """A 1-D mesh (axis ``"batch"``) of the first ``n`` local devices."""
    return Mesh(np.asarray(jax.local_devices()[:n]), (AXIS,))


def place(mesh: Mesh, X, Y, replicated=(), *, shard: bool = True):
    """Pad X (m, s_1) and Y (m, k) with zero rows to a multiple of the device count and place them:
    rows sharded over the mesh (``shard``), or a full copy on every device (for minibatches drawn by
    index).  ``replicated`` (params, scalars, keys: a pytree) gets a copy on every device.

    Returns ``(X, Y, replicated)``."""
    n = mesh.devices.size
    pad = -X.shape[0] % n
    if pad:
        X, Y = (jnp.pad(a, ((0, pad), (0, 0))) for a in (X, Y))
    rows = NamedSharding(mesh, P(AXIS) if shard else P())
    X, Y = jax.device_put((X, Y), rows)
    return X, Y, jax.device_put(replicated, NamedSharding(mesh, P()))


def sample_weights(m_padded: int, m: int, dtype) -> jax.Array:
    """(m_padded,) weights of the data term's average: 1/m on the m real samples, 0 on the padding
    (each device then sums its own samples' share of the whole batch's mean)."""
    return jnp.where(jnp.arange(m_padded) < m, jnp.asarray(1.0 / m, dtype), jnp.asarray(0.0, dtype))


def summed_over_devices(mesh: Mesh, fn: Callable) -> Callable:
    """``fn(replicated, *columns) -> pytree`` of sums over the samples (columns) it is given, as a
    function of the whole batch sharded over ``mesh``: ``fn`` runs on each device's columns
    (``shard_map``) and its outputs are summed across the devices by one all-reduce of their
    concatenation.  One flat all-reduce rather than one per output array, since XLA:CPU runs an
    all-reduce of several arrays as one rendezvous per array (``benchmarks/bench_train.py`` times both).
    Inside ``jit``; ``replicated`` (e.g. the params) is the same on every device."""

    def summed(replicated, *columns):
        def local(rep, *cols):
            flat, unravel = ravel_pytree(fn(rep, *cols))
            return unravel(jax.lax.psum(flat, AXIS))

        specs = tuple(P(*([None] * (c.ndim - 1)), AXIS) for c in columns)
        # check_vma=False: fn's gradients with respect to the replicated inputs stay each device's own
        # partial sums (with the check on, autodiff would sum them itself, one all-reduce per array)
        return shard_map(local, mesh=mesh, in_specs=(P(), *specs), out_specs=P(), check_vma=False)(
            replicated, *columns)

    return summed


def shard_samples(mesh: Optional[Mesh], *arrays):
    """Inside ``jit``: constrain column-layout arrays (samples on the last axis) to be sharded over the
    mesh's devices (a no-op without a mesh)."""
    if mesh is None:
        return arrays
    return tuple(jax.lax.with_sharding_constraint(a, NamedSharding(mesh, P(*([None] * (a.ndim - 1)), AXIS)))
                 for a in arrays)
