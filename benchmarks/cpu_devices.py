"""One JAX CPU device per core for a benchmark process (import and call before jax is imported).

``jaxnn.sweep`` shards its configurations over devices, so on a CPU this is how a sweep (and the
grid search of ``jaxnn.estimators.MLPGridSearchCV``, which runs on it) uses every core; a library
user does the same with ``jaxnn.use_cpu_cores()``.  ``--cpu-devices N`` on the command line picks N
(1 turns it off); an explicit ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` is left alone.
This module must not import jax.
"""

from __future__ import annotations

import os
from typing import Sequence

# Benchmarks time cold compiles: jaxnn's default persistent compilation cache would turn a second run's
# compiles into cache loads (set JAXNN_COMPILATION_CACHE yourself to measure with it).
os.environ.setdefault("JAXNN_COMPILATION_CACHE", "0")


def cpu_devices(argv: Sequence[str]) -> int:
    """The ``--cpu-devices`` value in ``argv`` (default: the number of cores)."""
    for i, arg in enumerate(argv):
        if arg == "--cpu-devices" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--cpu-devices="):
            return int(arg.split("=", 1)[1])
    return os.cpu_count() or 1


def one_device_per_core(argv: Sequence[str]) -> None:
    """Set ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` (before jax is imported)."""
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                                   f"{cpu_devices(argv)}").strip()
