"""Old home of the sweep engine, kept so that ``from jaxnn.sweep import sweep`` keeps working.

The engine now lives in :mod:`jaxnn.sweeps` (spaces, executor, store, results, plots); note that the name
``jaxnn.sweep`` is the function :func:`jaxnn.sweeps.sweep`, so attribute paths such as
``jaxnn.sweep.init_distributed`` do not exist: use ``jaxnn.init_distributed`` or ``jaxnn.sweeps.init_distributed``.
"""

from jaxnn.sweeps import (  # noqa: F401
    DEFAULT_MEMORY_BUDGET,
    SweepResult,
    grid_configs,
    init_distributed,
    provenance,
    sweep,
    use_cpu_cores,
    working_set_bytes,
)

__all__ = ["sweep", "SweepResult", "init_distributed", "use_cpu_cores", "grid_configs", "provenance",
           "working_set_bytes", "DEFAULT_MEMORY_BUDGET"]
