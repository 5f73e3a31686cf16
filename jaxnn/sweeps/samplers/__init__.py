"""Samplers: where a model-based search's next trials come from.

* :mod:`~jaxnn.sweeps.samplers.base` -- the protocol (``propose(n, space, history, seed)``), the
  :class:`History` a search keeps, :class:`RandomSampler`, :class:`SobolSampler`;
* :mod:`~jaxnn.sweeps.samplers.tpe` -- :func:`tpe`, a vectorized NumPy TPE;
* :mod:`~jaxnn.sweeps.samplers.optuna` -- :func:`optuna_sampler`: any Optuna sampler, a batch at a time.
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
from jaxnn.sweeps.samplers.optuna import OptunaSampler, optuna_sampler
from jaxnn.sweeps.samplers.tpe import TPESampler, tpe

__all__ = ["Sampler", "History", "ParamSpace", "RandomSampler", "SobolSampler", "check_sampler", "param_space",
           "RUNNING", "COMPLETE", "PRUNED", "FAIL", "TPESampler", "tpe", "OptunaSampler", "optuna_sampler"]
