"""Metric directions: which way a metric is better, as declared; never guessed from its name.

A direction is ``"max"`` or ``"min"``.  It is declared once, where the metric is made:

* a :class:`~jaxnn.sweeps.Trainable`'s ``directions`` (``jaxnn.trainable`` declares every metric its
  ``evaluate`` returns: ``loss`` / ``val_loss`` "min", ``accuracy`` / ``val_accuracy`` "max");
* ``jaxnn.sweep(fn, space, ..., directions={"acc": "max"})`` for the outputs of ``fn``;

or stated at the call (``mode=``), which wins over a declaration.  :func:`resolve` is the one rule: the
stated ``mode``, else the declared direction, else a ``ValueError`` that names both fixes.  The
directions are stored with the results (``SweepResult.directions``, saved and loaded;
``AdaptiveResult.directions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from jaxnn.sweeps.ranking import MODES, check_mode

__all__ = ["MODES", "check_mode", "check_directions", "resolve"]


def check_directions(directions, arg: str = "directions") -> dict:
    """``{metric: "max" | "min"}`` as a new dict (None: ``{}``), else a ValueError naming ``arg``."""
    if directions is None:
        return {}
    if not isinstance(directions, Mapping) or not all(isinstance(k, str) for k in directions):
        raise ValueError(f"{arg}: expected a mapping {{metric name: 'max' or 'min'}}, got {directions!r:.120}")
    bad = {k: v for k, v in directions.items() if not isinstance(v, str) or v not in MODES}
    if bad:
        raise ValueError(f"{arg}: expected 'max' or 'min' for every metric, got {bad}")
    return dict(directions)


def resolve(metric: str, mode: Optional[str], directions: Mapping, *, declare: str) -> str:
    """The direction of ``metric``: ``mode`` when given, else ``directions[metric]``.

    Args:
      metric: the metric's name.  mode: "max", "min" or None.  directions: the declared ``{metric: mode}``.
      declare: where a declaration goes, shown in the error (e.g. ``"jaxnn.sweep(..., directions={...})"``).

    Raises:
      ValueError: neither a mode nor a declaration for ``metric`` (naming both fixes).
    """
    if mode is not None:
        return check_mode(mode)
    if metric in directions:
        return directions[metric]
    declared = dict(directions) or "none"
    raise ValueError(f"mode: no direction is declared for metric {metric!r} (declared: {declared}); pass "
                     f"mode='max' or mode='min', or declare it: {declare}")
