"""Samplers: where a model-based search's next trials come from (:mod:`~jaxnn.sweeps.samplers.base`)."""

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
    check_sampler,
    param_space,
)

__all__ = ["Sampler", "History", "ParamSpace", "RandomSampler", "SobolSampler", "check_sampler", "param_space",
           "RUNNING", "COMPLETE", "PRUNED", "FAIL"]
