"""Devices and processes: joining a multi-process run, CPU cores as devices, and moving host arrays
between processes (gather every shard to every process, broadcast process 0's values)."""

from __future__ import annotations

import os
from typing import Optional

import jax
import numpy as np

from jaxnn import validate

__all__ = ["init_distributed", "use_cpu_cores", "gather", "broadcast", "is_lead"]


def init_distributed(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
                     process_id: Optional[int] = None) -> bool:
    """Join a multi-process (multi-host) JAX run with ``jax.distributed.initialize``.

    Call it first, before any JAX computation.  Idempotent; with no arguments (or one process)
    nothing happens.  On CPUs the collectives go through gloo (JAX's default in 0.10).

    Args:
      coordinator_address: ``"host:port"`` of process 0, reachable by every process.
      num_processes: total number of processes.
      process_id: this process's index, 0 .. num_processes-1.

    Returns:
      True when running as one of several processes.
    """
    if coordinator_address is None and num_processes in (None, 1) and process_id in (None, 0):
        return jax.process_count() > 1
    if coordinator_address is None or num_processes is None or process_id is None:
        raise ValueError("coordinator_address, num_processes, process_id: give all three for a multi-process "
                         f"sweep (see jaxnn.init_distributed), got {coordinator_address!r}, {num_processes!r}, "
                         f"{process_id!r}")
    host, _, port = str(coordinator_address).rpartition(":") if isinstance(coordinator_address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"coordinator_address: expected 'host:port' of process 0 (e.g. '10.0.0.1:1234', a port "
                         f"1-65535), got {coordinator_address!r}")
    num_processes = validate.check_int("num_processes", num_processes, minimum=1)
    process_id = validate.check_int("process_id", process_id, minimum=0)
    if process_id >= num_processes:
        raise ValueError(f"process_id: expected a value < num_processes={num_processes}, got {process_id}")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    try:
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id)
    except RuntimeError as e:
        raise RuntimeError(f"jax.distributed.initialize failed ({e}); JAX had already started (making a key with "
                           "jax.random.key starts it, as any computation or jax.devices() does): call "
                           "jaxnn.init_distributed(coordinator_address, num_processes, process_id) first, before any "
                           "other JAX call") from None
    return jax.process_count() > 1


def use_cpu_cores(n: Optional[int] = None) -> bool:
    """Expose ``n`` CPU cores (default: all) as ``n`` JAX CPU devices, so that a sweep on a CPU shards
    its runs over every core (``jax_num_cpu_devices``).  Only possible before JAX's backend
    starts (before any computation or ``jax.devices()``); leaves an explicit
    ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` alone.

    Returns:
      True if the setting took effect.
    """
    n = (os.cpu_count() or 1) if n is None else validate.check_int("n", n, minimum=1)
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return False
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except Exception:  # the backend is already running
        return False
    return True


def is_lead() -> bool:
    """True on process 0 (the one that writes files)."""
    return jax.process_index() == 0


def gather(tree):
    """Every (sharded, global) leaf as a full NumPy array on this process."""
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, tree)
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def broadcast(tree):
    """Process 0's values of a pytree of NumPy arrays, on every process."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_map(np.asarray, multihost_utils.broadcast_one_to_all(tree))
