"""Samplers: where a model-based search's next trials come from.

* :mod:`~jaxnn.sweeps.samplers.base` -- the protocol (``propose(n, space, history, seed)``), the
  :class:`History` a search keeps, :class:`RandomSampler`, :class:`SobolSampler`;
* :mod:`~jaxnn.sweeps.samplers.tpe` -- ``tpe()`` (:func:`jaxnn.sweeps.tpe`), a vectorized NumPy TPE;
* :mod:`~jaxnn.sweeps.samplers.optuna` -- ``optuna_sampler()`` (:func:`jaxnn.sweeps.optuna_sampler`): any
  Optuna sampler, a batch at a time.
"""

from jaxnn.sweeps.samplers.base import (
    COMPLETE,
    FAIL,
    PRUNED,
    RUNNING,
    History,
    ParamSpace,
    RandomSampler,
    Sampler,
    SobolSampler,
    param_space,
)
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.samplers.optuna import OptunaSampler
from jaxnn.sweeps.samplers.tpe import TPESampler

__all__ = ["Sampler", "History", "ParamSpace", "RandomSampler", "SobolSampler", "check_sampler", "param_space",
           "RUNNING", "COMPLETE", "PRUNED", "FAIL", "TPESampler", "OptunaSampler"]
