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
several devices already.  The default (``data_parallel=None``) shards only where that was measured
to be faster: CPU devices, full-batch steps, concrete inputs (under an outer trace, such as a
``jax.vmap``-ed sweep, the caller's computation decides the placement, so ``train`` stays on one
device), at least :data:`MIN_SAMPLES_PER_DEVICE` samples per device (below that the all-reduce of
every step costs more than the halved matrix products save) and no weight matrix larger than
:data:`MAX_LAYER_WEIGHTS` (one CPU device already spreads larger products over the cores, and the
sharded run was no faster or slower).  Elsewhere (GPUs: not measured here) ``data_parallel=True``
turns it on.  ``benchmarks/bench_train.py`` times both forms side by side.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import shard_map
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["AXIS", "MIN_SAMPLES_PER_DEVICE", "MAX_LAYER_WEIGHTS", "n_devices", "local_mesh", "place", "sample_weights",
           "summed_over_devices", "shard_samples"]

AXIS = "batch"
MIN_SAMPLES_PER_DEVICE = 256  # the default shards a full batch of at least this many samples per device
MAX_LAYER_WEIGHTS = 32768  # ... of a network whose largest W^(l) has at most this many entries (CPU)


def n_devices(data_parallel: Optional[bool], *, traced: bool, full: bool, m: int, layer_weights: int) -> int:
    """The number of devices to shard the batch over (1: no sharding) for ``data_parallel``
    (None: the default rule of the module doc, ``layer_weights`` being the size of the largest
    weight matrix; True: every local device, or a ValueError where impossible; False: 1)."""
    if data_parallel is not None and not isinstance(data_parallel, (bool, np.bool_)):
        raise ValueError(f"data_parallel: expected None, True or False, got {data_parallel!r}")
    n = jax.local_device_count()
    if data_parallel is None:
        default = (n > 1 and jax.default_backend() == "cpu" and full and not traced
                   and m >= MIN_SAMPLES_PER_DEVICE * n and layer_weights <= MAX_LAYER_WEIGHTS)
        return n if default else 1
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
