"""The one check of a search's ``sampler=`` argument (None, an Optuna sampler, or the protocol)."""

from __future__ import annotations

import sys

from jaxnn.sweeps.samplers.base import RandomSampler
from jaxnn.sweeps.samplers.optuna import optuna_sampler

__all__ = ["check_sampler"]


def check_sampler(sampler, arg: str = "sampler"):
    """The sampler to use: None is :class:`RandomSampler`; an Optuna sampler is wrapped in
    :func:`jaxnn.sweeps.optuna_sampler`; anything without ``propose`` is a ValueError."""
    if sampler is None:
        return RandomSampler()
    optuna = sys.modules.get("optuna")
    if optuna is not None and isinstance(sampler, optuna.samplers.BaseSampler):
        return optuna_sampler(sampler)
    if not callable(getattr(sampler, "propose", None)):
        raise ValueError(f"{arg}: expected a sampler (sweeps.tpe(), sweeps.optuna_sampler(...), "
                         f"sweeps.samplers.RandomSampler(), or an object with propose(n, space, history, seed)), "
                         f"got {sampler!r:.120}")
    return sampler
