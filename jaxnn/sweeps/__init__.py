"""``jaxnn.sweeps``: hyperparameter searches run as compiled, vmapped, sharded, resumable calls.

The engine, one idea per module:

* :mod:`~jaxnn.sweeps.spaces` -- search spaces (:func:`grid`, :func:`table`, :func:`random`, :func:`sobol`) and
  distributions (:func:`uniform`, :func:`loguniform`, :func:`choice`, :func:`integers`, :func:`static`);
* :mod:`~jaxnn.sweeps.executor` -- a table of runs x seeds in chunks of one ``jit(vmap(...))`` call each,
  sharded over a device mesh, compiled once per structure;
* :mod:`~jaxnn.sweeps.store` -- the resumable chunk store and manifest in ``out_dir``;
* :mod:`~jaxnn.sweeps.distributed` -- several processes / hosts, CPU cores as devices;
* :mod:`~jaxnn.sweeps.status` -- a run's status (ok, diverged, invalid) from what ``fn`` declares;
* :mod:`~jaxnn.sweeps.results`, :mod:`~jaxnn.sweeps.plot` -- :class:`SweepResult` (labeled: xarray, pandas)
  and its figures;
* :mod:`~jaxnn.sweeps.engine` -- :func:`sweep` and :func:`run_table`, the composition of the above;
* :mod:`~jaxnn.sweeps.schedulers` -- the adaptive searches, one scheduler per module (early stopping,
  successive halving and Hyperband, PBT) on :mod:`~jaxnn.sweeps.lanes` and :mod:`~jaxnn.sweeps.driver`;
* :mod:`~jaxnn.sweeps.samplers` -- where a model-based search's trials come from: random, Sobol,
  :func:`tpe`, :func:`optuna_sampler`; :func:`search`, :func:`asha` and :func:`bohb` propose with them as
  lanes free up (and every scheduler takes ``sampler=`` with a dict of distributions);
* :mod:`~jaxnn.sweeps.ranking`, :mod:`~jaxnn.sweeps.directions` -- the one ranking rule, and metric
  directions as declared (``jaxnn.sweep(..., directions=...)``, ``Trainable.directions`` or ``mode=``).

Example::

    space = sweeps.random(256, lr=sweeps.loguniform(1e-2, 1e2), hidden=sweeps.static([10, 30, 100]))
    res = jaxnn.sweep(run, space, key=jax.random.key(0), seeds=2, data={"X": X, "Y": Y},
                      directions={"final_loss": "min"})
    res.best()                         # the trial with the lowest seed-mean final_loss
"""

import warnings

from jaxnn.sweeps import directions, lanes, plot, ranking, samplers, schedulers, status  # noqa: F401  (submodules)
from jaxnn.sweeps.chunking import DEFAULT_MEMORY_BUDGET, working_set_bytes
from jaxnn.sweeps.distributed import init_distributed, use_cpu_cores
from jaxnn.sweeps.engine import TableResult, grid_configs, run_table, sweep
from jaxnn.sweeps.provenance import provenance
from jaxnn.sweeps.ranking import rank
from jaxnn.sweeps.results import SweepResult
from jaxnn.sweeps.samplers.optuna import optuna_sampler
from jaxnn.sweeps.samplers.tpe import tpe
from jaxnn.sweeps.schedulers import (
    AdaptiveResult,
    Patience,
    asha,
    bohb,
    hyperband,
    hyperband_brackets,
    patience,
    pbt,
    run,
    search,
    successive_halving,
)
from jaxnn.sweeps.spaces import (
    Design,
    Distribution,
    Space,
    as_space,
    choice,
    grid,
    integers,
    loguniform,
    random,
    sobol,
    static,
    table,
    uniform,
)
from jaxnn.trainable import Trainable
from jaxnn.trainables import trainable_from

__all__ = ["sweep", "run_table", "TableResult", "SweepResult",
           "grid", "table", "random", "sobol", "Space", "Design", "as_space",
           "uniform", "loguniform", "choice", "integers", "static", "Distribution",
           "init_distributed", "use_cpu_cores", "provenance", "working_set_bytes", "DEFAULT_MEMORY_BUDGET",
           "grid_configs", "status", "plot",
           "Trainable", "successive_halving", "hyperband", "hyperband_brackets", "pbt", "run",
           "patience", "Patience", "AdaptiveResult", "rank",
           "search", "asha", "bohb", "tpe", "optuna_sampler", "samplers", "trainable_from"]


def __getattr__(name):
    if name == "MLPState":  # moved out of the search engine's namespace: it is the MLP trainable's state
        warnings.warn("MLPState in jaxnn.sweeps is deprecated: it is the MLP trainable's state; import it from its "
                      "module: from jaxnn.trainable import MLPState", DeprecationWarning, stacklevel=2)
        from jaxnn.trainable import MLPState
        return MLPState
    raise AttributeError(f"module 'jaxnn.sweeps' has no attribute {name!r}")
