"""Run status: ok, diverged or invalid, as the swept function declares it.

The protocol: ``fn`` may return, among its outputs, leaves named

* ``diverged_at`` -- int scalar: the step at which the run diverged, ``-1`` if it did not
  (``jaxnn.train``'s ``history["diverged_at"]``);
* ``invalid`` -- bool scalar: the hyperparameters were invalid (e.g. lr <= 0), so nothing it returned is
  a result (``history["invalid"]`` of ``jaxnn.train``, ``autoencoder.fit`` and ``softmax.fit``).

Leaves are matched by the last part of their path, so ``{"hist": history}`` declares them too.  A ``fn``
that declares at least one of them gets exactly that status: NaN in another output (a padded curve, say)
does not make a run diverged.  A ``fn`` that declares neither counts a run as diverged when any of its
floating outputs is non-finite.  Invalid wins over diverged.  The float outputs of an invalid run are set
to NaN in the result, so that an invalid run is never read as a result.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OK", "DIVERGED", "INVALID", "NAMES", "run_status", "declares_status"]

OK, DIVERGED, INVALID = 0, 1, 2
NAMES = ("ok", "diverged", "invalid")
_FIELDS = ("diverged_at", "invalid")


def _field(name: str) -> str:
    return name.split("/")[-1]


def declares_status(names) -> bool:
    """Whether output leaves with these names declare a status (a ``diverged_at`` or ``invalid`` leaf)."""
    return any(_field(n) in _FIELDS for n in names)


def run_status(leaves: dict) -> np.ndarray:
    """Status codes (int8, OK / DIVERGED / INVALID) of runs from their outputs ``{name: (n_runs, ...)}``."""
    n = len(next(iter(leaves.values())))
    diverged = np.zeros(n, bool)
    invalid = np.zeros(n, bool)
    declared = declares_status(leaves)
    for name, x in leaves.items():
        flat = np.asarray(x).reshape(n, -1)
        if _field(name) == "diverged_at":
            diverged |= (flat >= 0).any(axis=1)
        elif _field(name) == "invalid":
            invalid |= flat.astype(bool).any(axis=1)
        elif not declared and np.issubdtype(flat.dtype, np.inexact):
            diverged |= ~np.isfinite(flat).all(axis=1)
    return np.where(invalid, INVALID, np.where(diverged, DIVERGED, OK)).astype(np.int8)


def mask_invalid(leaves: dict, status: np.ndarray) -> dict:
    """The outputs with every float value of an invalid run replaced by NaN."""
    bad = status == INVALID
    if not bad.any():
        return leaves
    out = {}
    for name, x in leaves.items():
        if np.issubdtype(x.dtype, np.inexact) and _field(name) not in _FIELDS:
            x = x.copy()
            x[bad] = np.nan
        out[name] = x
    return out
