"""Search spaces: what a sweep runs, as a table of trials.

A space resolves (with the sweep's key, for the sampled ones) to a :class:`Design`: ``N`` trials, each a
value of every hyperparameter, plus the layout the results take (a grid's axes, or one ``trial`` axis).

* :func:`grid` -- the cartesian product of value lists (a plain ``dict`` given to ``jaxnn.sweep`` is a grid);
* :func:`table` -- an explicit list of trials (equal-length columns, zipped);
* :func:`random` -- ``n`` independent draws from distributions (Bergstra & Bengio, JMLR 2012);
* :func:`sobol` -- ``n`` scrambled Sobol points (``scipy.stats.qmc``) mapped through the same distributions.

Distributions: :func:`uniform`, :func:`loguniform`, :func:`choice`, :func:`integers`, and :func:`static`
(values that change the computation's structure, e.g. a layer width or an activation name: they reach
``fn`` as Python values and every distinct combination compiles once).  Every distribution maps a point
``u`` of the unit interval to a value (its quantile function), so random and Sobol designs share one
mechanism.  A number given in place of a distribution is a constant.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

__all__ = ["Distribution", "uniform", "loguniform", "choice", "integers", "static", "Space", "Design",
           "grid", "table", "random", "sobol", "as_space", "RESERVED", "check_params", "key_words",
           "plain", "as_dist"]

RESERVED = ("key", "seed", "data", "trial")
_SALT = 0x6A61786E  # mixes into the key's words for the host-side sampling stream (never a JAX key)


# --- distributions ------------------------------------------------------------------------------

def _number(name: str, what: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
        raise ValueError(f"{name}: expected a finite real number for {what}, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class Distribution:
    """A one-dimensional distribution given by its quantile function ``ppf(u)``, u in [0, 1).

    Attributes:
      kind: ``"uniform"``, ``"loguniform"``, ``"choice"``, ``"integers"``, ``"static"`` or ``"constant"``.
      args: the parameters (``(low, high)``, or the tuple of values).
      error: why the arguments are invalid, or None.  A space that gets an invalid distribution raises
        a ValueError naming the hyperparameter (the distribution is built before it has a name).
    """

    kind: str
    args: tuple
    error: Optional[str] = None

    @property
    def traced(self) -> bool:
        """Whether the values reach ``fn`` as traced arrays (all but :func:`static`)."""
        return self.kind != "static"

    @property
    def values(self) -> Optional[tuple]:
        """The finite set of values (choice, static, constant), else None."""
        return self.args if self.kind in ("choice", "static", "constant") else None

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at the points ``u`` (shape (n,), in [0, 1))."""
        if self.error:
            raise ValueError(self.error)
        u = np.asarray(u, np.float64)
        if self.kind in ("uniform", "loguniform"):
            lo, hi = self.args
            if self.kind == "uniform":
                x = lo + (hi - lo) * u
            else:
                x = np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u)
            # rounding (lo + (hi - lo) * u, exp(log(lo))) may land on hi or just outside: keep [lo, hi)
            return np.clip(x, lo, np.nextafter(hi, lo))
        if self.kind == "integers":
            lo, hi = self.args
            return np.minimum(lo + np.floor(u * (hi - lo)), hi - 1).astype(np.int64)
        vals = _column(self.args)
        return vals[np.minimum((u * len(vals)).astype(np.int64), len(vals) - 1)]

    def describe(self) -> dict:
        """JSON description (part of a sweep's identity and of its saved result)."""
        return {"dist": self.kind, "args": [plain(a) for a in self.args]}


def plain(v):
    """A NumPy scalar as its Python value (JSON, ``tuple.index``); anything else as it is."""
    return v.item() if isinstance(v, np.generic) else v


def _deferred(kind: str, build) -> Distribution:
    """``Distribution(kind, build())``, or one that carries the ValueError of ``build`` until a space names it."""
    try:
        return Distribution(kind, build())
    except ValueError as e:
        return Distribution(kind, (), str(e))


def _bounds(kind: str, low, high, positive: bool = False) -> tuple:
    lo, hi = _number("low", kind, low), _number("high", kind, high)
    if not (0 < lo < hi if positive else lo < hi):
        raise ValueError(f"{kind}: expected {'0 < ' if positive else ''}low < high, got low={low!r}, high={high!r}")
    return lo, hi


def _int_bounds(low, high) -> tuple:
    for n, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"integers: expected an integer {n}, got {v!r}")
    if not low < high:
        raise ValueError(f"integers: expected low < high (high is exclusive), got low={low!r}, high={high!r}")
    return int(low), int(high)


def uniform(low: float, high: float) -> Distribution:
    """Uniform on ``[low, high)`` (a traced float)."""
    return _deferred("uniform", lambda: _bounds("uniform", low, high))


def loguniform(low: float, high: float) -> Distribution:
    """Log-uniform on ``[low, high)``, 0 < low < high: log(value) is uniform (a traced float)."""
    return _deferred("loguniform", lambda: _bounds("loguniform", low, high, positive=True))


def integers(low: int, high: int) -> Distribution:
    """Integers ``low, ..., high - 1`` with equal probability (high exclusive, as NumPy's
    ``Generator.integers``); a traced int32."""
    return _deferred("integers", lambda: _int_bounds(low, high))


def _values(what: str, values, numeric: bool) -> tuple:
    """The values of a choice (numbers) or static (numbers, strings or booleans) list, of one kind."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{what}: expected a non-empty list of values, got {values!r:.120}")
    vals = tuple(plain(v) for v in values)
    if not vals:
        raise ValueError(f"{what}: expected a non-empty list of values, got none")
    allowed = (numbers.Real,) if numeric else (numbers.Real, str)
    for v in vals:
        if not isinstance(v, allowed):
            hint = " (use sweeps.static([...]) for strings or other Python values)" if numeric else ""
            raise ValueError(f"{what}: expected {'numbers' if numeric else 'numbers, strings or booleans'}{hint}, "
                             f"got {v!r:.80}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{what}: expected finite values, got {v!r}")
    kinds = {str if isinstance(v, str) else bool if isinstance(v, bool) else numbers.Real for v in vals}
    if len(kinds) > 1:
        raise ValueError(f"{what}: expected values of one kind (all numbers, all strings or all booleans), "
                         f"got {vals!r:.120}")
    return vals


def choice(values) -> Distribution:
    """One of ``values`` (numbers) with equal probability; a traced array.  In a grid, an axis."""
    return _deferred("choice", lambda: _values("choice", values, numeric=True))


def static(values) -> Distribution:
    """Structure values (ints, floats, strings, bools): they reach ``fn`` as Python values, so they may
    set shapes or pick code paths.  The trials are grouped by their static values and each distinct
    combination compiles once.  In a grid a static list is an axis; in a random or Sobol space it is
    sampled per trial like :func:`choice`."""
    return _deferred("static", lambda: _values("static", values, numeric=False))


def _column(vals) -> np.ndarray:
    """Values as a 1-D NumPy array of their natural dtype (float64, int64, bool or str)."""
    if all(isinstance(v, bool) for v in vals):
        return np.array(vals, bool)
    if all(isinstance(v, str) for v in vals):
        return np.array(vals, str)
    if all(isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in vals):
        return np.array(vals, np.int64)
    return np.array(vals, np.float64)


# --- the resolved design ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Design:
    """``n`` trials: the value of every hyperparameter for each, and the layout of the results.

    Attributes:
      kind: the space it came from (``"grid"``, ``"table"``, ``"random"``, ``"sobol"``).
      axes: ``{dim: 1-D values}``: a grid's axes in order, else ``{"trial": arange(n)}``.
      values: ``{name: (n,) array}``, trials in row-major order of ``axes``.
      static: names of the static hyperparameters (Python values for ``fn``).
      dists: ``{name: Distribution}`` (for plots: log axes; and for the description).
    """

    kind: str
    axes: dict
    values: dict
    static: tuple
    dists: dict

    @property
    def shape(self) -> tuple:
        return tuple(len(v) for v in self.axes.values())

    @property
    def n(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def traced(self) -> tuple:
        return tuple(k for k in self.values if k not in self.static)

    def groups(self) -> list:
        """``[(static values dict, trial indices)]``: the trials sharing one combination of static values,
        in order of first appearance (one compiled function each)."""
        if not self.static:
            return [({}, np.arange(self.n))]
        combos: dict = {}
        cols = [self.values[k] for k in self.static]
        for i in range(self.n):
            combos.setdefault(tuple(plain(c[i]) for c in cols), []).append(i)
        return [(dict(zip(self.static, c)), np.asarray(idx)) for c, idx in combos.items()]

    def describe(self) -> dict:
        """JSON: kind, layout, distributions and every trial's values (part of the sweep's identity)."""
        return {"kind": self.kind, "axes": {k: np.asarray(v).tolist() for k, v in self.axes.items()},
                "params": {k: d.describe() for k, d in self.dists.items()},
                "static": list(self.static), "values": {k: np.asarray(v).tolist() for k, v in self.values.items()}}


# --- spaces ------------------------------------------------------------------------------------------

def _check_name(what: str, name) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED:
        raise ValueError(f"{what}: hyperparameter names must be Python identifiers other than {list(RESERVED)} "
                         f"(they become keyword arguments of fn), got {name!r}")


def _as_values(what: str, v) -> Distribution:
    """A grid axis or table column: a list of numbers (traced), static([...]) or choice([...])."""
    if isinstance(v, Distribution):
        if v.values is None:
            raise ValueError(f"{what}: a {v.kind} distribution has no list of values; give a list (or sample it "
                             "with sweeps.random / sweeps.sobol)")
        return v if v.kind == "static" else Distribution("choice", v.values)
    try:
        arr = np.asarray(v)
    except Exception:  # ragged lists
        arr = np.asarray(None)
    if arr.dtype == object:
        raise ValueError(f"{what}: expected a non-empty 1-D sequence of real numbers, got {v!r:.200}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "biuf":
        raise ValueError(f"{what}: expected a non-empty 1-D sequence of real numbers (or integers, e.g. a fold "
                         f"index; sweeps.static([...]) for strings), got {v!r:.200}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: expected finite values, got {v!r:.200}")
    return Distribution("choice", tuple(plain(x) for x in arr))


def as_dist(what: str, v) -> Distribution:
    """A random/Sobol entry: a Distribution, or a number (a constant)."""
    if isinstance(v, Distribution):
        return v
    if isinstance(v, (numbers.Real, np.number)) and not isinstance(v, bool):
        _number(what, "a constant", v)
        return Distribution("constant", (plain(v),))
    raise ValueError(f"{what}: expected a distribution (sweeps.uniform, loguniform, choice, integers, static) or "
                     f"a number, got {v!r:.120}; a list is sweeps.choice([...])")


@dataclass(frozen=True)
class Space:
    """A search space; ``resolve(key)`` gives its :class:`Design` (the key only matters for sampled spaces:
    the same key gives the same trials)."""

    kind: str
    params: tuple  # ((name, Distribution), ...)
    n: Optional[int] = None

    def resolve(self, key=None) -> Design:
        dists = dict(self.params)
        static = tuple(k for k, d in self.params if d.kind == "static")
        if self.kind == "grid":
            axes = {k: _column(d.values) for k, d in self.params}
            mesh = np.meshgrid(*axes.values(), indexing="ij")
            return Design("grid", axes, {k: m.reshape(-1) for k, m in zip(axes, mesh)}, static, dists)
        if self.kind == "table":
            values = {k: _column(d.values) for k, d in self.params}
            return Design("table", {"trial": np.arange(self.n)}, values, static, dists)
        if key is None:
            raise ValueError(f"key: a {self.kind} space is sampled from the sweep's key; give one, e.g. "
                             "jax.random.key(0)")
        u = self._unit(key)
        values = {k: d.ppf(u[:, j]) for j, (k, d) in enumerate(self.params)}
        return Design(self.kind, {"trial": np.arange(self.n)}, values, static, dists)

    def _unit(self, key) -> np.ndarray:
        """(n, d) points of the unit cube from the key: independent uniforms, or scrambled Sobol points."""
        seed = np.random.SeedSequence([int(w) for w in key_words(key)] + [_SALT])
        d = len(self.params)
        if self.kind == "random":
            return np.random.default_rng(seed).random((self.n, d))
        from jaxnn.datasets import require

        qmc = require("scipy.stats.qmc")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scipy's power-of-two note: we warn in sobol()
            return qmc.Sobol(d, scramble=True, seed=np.random.default_rng(seed)).random(self.n)


def key_words(key) -> np.ndarray:
    """The raw uint32 words of a PRNG key (typed or raw), for host-side seeding."""
    import jax

    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key, np.uint32).reshape(-1)


def check_params(what: str, kwargs: Mapping, convert) -> tuple:
    if not kwargs:
        raise ValueError(f"{what}: expected at least one hyperparameter, got none")
    out = []
    for name, v in kwargs.items():
        _check_name(what, name)
        if isinstance(v, Distribution) and v.error:
            raise ValueError(f"{what}[{name!r}]: {v.error}")
        out.append((name, convert(f"{what}[{name!r}]", v)))
    return tuple(out)


def grid(**axes) -> Space:
    """The cartesian product of the axes (first axis slowest): ``grid(lr=[0.1, 1.0], scale=[0.01, 0.1])``.
    An axis is a list of numbers (traced) or ``static([...])``; results have one dimension per axis."""
    return Space("grid", check_params("grid", axes, _as_values))


def table(**columns) -> Space:
    """An explicit list of trials: equal-length columns, trial i takes element i of each
    (``table(lr=[0.1, 0.3], scale=[0.01, 0.05])`` is two trials)."""
    params = check_params("table", columns, _as_values)
    lengths = {k: len(d.values) for k, d in params}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"table: expected columns of one length (one entry per trial), got lengths {lengths}")
    return Space("table", params, next(iter(lengths.values())))


def _check_n(what: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n: expected the number of trials of the {what} space, an integer >= 1, got {n!r}")
    return int(n)


def random(n: int, **dists) -> Space:
    """``n`` trials drawn independently from the distributions (on the host, from the sweep's key)."""
    return Space("random", check_params("random", dists, as_dist), _check_n("random", n))


def sobol(n: int, **dists) -> Space:
    """``n`` trials from a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, seeded from the sweep's key),
    each coordinate mapped through its distribution's quantile function.  The Sobol points are balanced
    for powers of two: another ``n`` works, with a warning."""
    n = _check_n("sobol", n)
    if n & (n - 1):
        warnings.warn(f"sobol: n={n} is not a power of two; the Sobol points are balanced only for powers of two "
                      f"(e.g. {1 << (n - 1).bit_length()})", UserWarning, stacklevel=2)
    return Space("sobol", check_params("sobol", dists, as_dist), n)


def as_space(space) -> Space:
    """A :class:`Space`, or a plain dict ``{name: values}`` read as a :func:`grid`."""
    if isinstance(space, Space):
        return space
    if isinstance(space, Mapping):
        if not space:
            raise ValueError("grid: expected a non-empty dict {name: 1-D sequence of values}, got {}")
        return grid(**space) if all(isinstance(k, str) for k in space) else _bad_names(space)
    raise ValueError(f"grid: expected a search space (sweeps.grid/table/random/sobol) or a dict {{name: values}}, "
                     f"got {space!r:.200}")


def _bad_names(space):
    bad = next(k for k in space if not isinstance(k, str))
    raise ValueError(f"grid: hyperparameter names must be Python identifiers, got {bad!r}")
