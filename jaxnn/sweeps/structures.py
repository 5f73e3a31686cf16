"""Static structure axes in the adaptive searches: one lane pool per structure, one driver over them.

A static hyperparameter (``sweeps.static([32, 64])``: a width, a depth, an activation's name) changes the
shapes of a trial's state, so trials of different structures cannot share a compiled program or a bank.
:func:`bound` fixes a trainable's static values (a hashable callable, so that the compiled lanes of a
structure are found again by a later search), and :class:`Pools` puts one
:class:`~jaxnn.sweeps.lanes.Pool` per combination of static values behind the interface the
:class:`~jaxnn.sweeps.driver.Driver` uses: global slot numbers (pool g owns the range starting at
``offsets[g]``), and each call split into one call per structure with busy lanes (each computing only its
own lanes' blocks where that pays, :meth:`Pool.width_for`).  The schedulers rank trials of every structure
together, so a rung of successive halving compares widths as it compares learning rates; each structure
compiles once.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from jaxnn.sweeps.spaces import plain

__all__ = ["Bound", "bound", "Pools"]


class Bound(NamedTuple):
    """``fn`` with the keyword arguments ``static`` (sorted ``(name, value)`` pairs) fixed; hashable and equal
    by value, so the same structure of the same trainable maps to the same compiled program."""

    fn: Callable
    static: tuple

    def __call__(self, *args, **hp) -> Any:
        return self.fn(*args, **dict(self.static), **hp)


def bound(trainable, static: dict):
    """The trainable with its static hyperparameters ``static`` fixed in ``init``, ``advance`` and
    ``evaluate`` (the trainable itself when there are none)."""
    if not static:
        return trainable
    items = tuple(sorted((k, plain(v)) for k, v in static.items()))
    return trainable._replace(init=Bound(trainable.init, items), advance=Bound(trainable.advance, items),
                              evaluate=Bound(trainable.evaluate, items))


class Pools:
    """Several :class:`~jaxnn.sweeps.lanes.Pool` s (one per structure, the same width W and segment) as one.

    Args:
      pools: the structures' pools; slots ``offsets[g] .. offsets[g] + pools[g].n_slots - 1`` are pool g's.
    """

    def __init__(self, pools: list):
        self.pools = list(pools)
        self.W, self.segment = self.pools[0].W, self.pools[0].segment
        self.offsets = np.cumsum([0] + [p.n_slots for p in self.pools])
        self.n_slots = int(self.offsets[-1])

    @property
    def used(self) -> set:
        return set().union(*(p.used for p in self.pools))

    @property
    def compile_s(self) -> float:
        return sum(p.compile_s for p in self.pools)

    def _split(self, slots):
        """``[(g, positions, local slots)]`` for the structures holding some of ``slots``."""
        slots = np.asarray(slots, np.int64).reshape(-1)
        g = np.searchsorted(self.offsets, slots, side="right") - 1
        return [(j, np.flatnonzero(g == j), slots[g == j] - self.offsets[j]) for j in np.unique(g)]

    def _join(self, n, parts):
        """The (n,) metric arrays of one call from its structures' ``[(positions, out)]``."""
        names = list(parts[0][1])
        out = {k: np.empty(n, np.asarray(parts[0][1][k]).dtype) for k in names}
        for pos, got in parts:
            for k in names:
                out[k][pos] = got[k]
        return out

    def empty(self):
        for p in self.pools:
            p.empty()

    def bank_struct(self) -> list:
        return [p.bank_struct() for p in self.pools]

    def load(self, host_bank):
        for p, b in zip(self.pools, host_bank):
            p.load(b)

    def host_bank(self) -> list:
        return [p.host_bank() for p in self.pools]

    def host_state(self, slot: int):
        (g, _, loc), = self._split(slot)
        return self.pools[g].host_state(int(loc[0]))

    def plan(self, src, remaining: int) -> tuple:
        """The lanes each structure's call computes (0: no call), :meth:`Pool.width_for` of its busy lanes."""
        w = [0] * len(self.pools)
        for g, pos, _ in self._split(src):
            w[g] = self.pools[g].width_for(len(pos), remaining)
        return tuple(w)

    def advance(self, src, dst, hp, w, segments=1, kd=None, new=None, look=None):
        dst = np.asarray(dst)
        kd, new, look = (None if x is None else np.asarray(x) for x in (kd, new, look))
        return self._join(len(src), [(pos, self.pools[g].advance(loc, dst[pos] - self.offsets[g], _rows(hp, pos), w[g],
                                                                 segments, *(None if x is None else x[pos]
                                                                             for x in (kd, new, look))))
                                     for g, pos, loc in self._split(src)])


def _rows(hp: dict, pos) -> dict:
    """The hyperparameter columns ``hp`` at the lanes ``pos`` (one structure's part of a call)."""
    return {k: np.asarray(v)[pos] for k, v in hp.items()}
