"""Argument checks for the public entry points, run once, outside ``jit``, and the one rule table.

Every check raises a ``ValueError`` that names the argument, what was expected and what was given.
Checks on *values* (finite data, positive learning rate) only run on concrete arrays: under an outer
``jit``/``vmap`` (a sweep) the values are tracers, and only the static facts (shapes, dtypes, sizes)
are checked.  The compiled core assumes valid input.

The rule table: each range rule for a real scalar is a :class:`Rule` (an interval, each bound open or
closed; every rule also asks for a finite value), written once, in :data:`RULES` under a name, and each
sweepable hyperparameter's rule is named once, in :data:`HYPERPARAMETERS` (``lr`` positive, ``lam``
nonnegative, ``rho`` in (0, 1), ...).  A rule gives both checks of a value:

* at a public entry point, :func:`check_rule` (or :func:`check_rules` for several): a concrete value
  that breaks its rule raises ``ValueError("lam: expected a value >= 0, got -1.0")``; a traced one
  passes through unchecked;
* inside a compiled run (a sweep, where the value is traced and cannot raise), :func:`invalid_flag`:
  a traced bool scalar, True when some value breaks its rule (NaN and inf break every rule), which the
  run applies once after its loop (:func:`jaxnn.guard.mask_invalid`: no result, ``history["invalid"]``).

So ``check_rules(lam=lam, rho=rho)`` before a run and ``invalid_flag(lam=lam, rho=rho)`` inside it
test the same intervals, from the same table.  :func:`check_values` holds every value of a concrete
array to a rule (``autoencoder.fit``'s sigmoid decoder: X in [0, 1]).

Warnings: :func:`warn` is ``warnings.warn`` pointed at the caller's line (the first frame outside
jaxnn), so a library warning names the user's call however deep in the package it is raised.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import lru_cache
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Rule",
    "RULES",
    "HYPERPARAMETERS",
    "rule_of",
    "holds",
    "check_rule",
    "check_rules",
    "check_values",
    "invalid_flag",
    "is_concrete",
    "check_array",
    "check_finite",
    "check_scalar",
    "check_int",
    "check_params",
    "check_data",
    "check_key",
    "nan_unless",
    "warn",
]


try:  # public name in the JAX versions we support; newer JAX may only keep the private one
    from jax.core import Tracer as _Tracer
except ImportError:  # pragma: no cover
    from jax._src.core import Tracer as _Tracer


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, _Tracer)


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(x).__name__} {x!r}"


def check_array(name: str, x: Any, *, ndim: int | None = None, floating: bool = False) -> jax.Array:
    """Convert ``x`` to a JAX array and check its rank and dtype kind.

    Integer and boolean data are accepted and cast to JAX's default float type when ``floating``.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError(f"{name}: expected a numeric array, got {_describe(x)}")
    if not hasattr(x, "dtype"):
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists etc.
            raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__} ({e})") from None
    kind = np.dtype(x.dtype).kind
    if kind not in "biuf":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    if ndim is not None and np.ndim(x) != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got {_describe(x)}")
    x = jnp.asarray(x)
    if floating and not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def check_finite(name: str, x: jax.Array) -> None:
    """Raise if a concrete array holds NaN or inf."""
    if not is_concrete(x):
        return
    bad = ~np.isfinite(np.asarray(x))  # NumPy: jnp ops would be traced under an outer jit
    if bad.any():
        n_bad = int(bad.sum())
        raise ValueError(f"{name}: expected finite values, got {n_bad} NaN/inf entries in {_describe(x)}")


def _check_real_scalar(name: str, x: Any) -> None:
    """The static facts of a (possibly traced) real scalar: a number, not a bool, 0-D, a real dtype."""
    if isinstance(x, bool) or not (isinstance(x, (int, float, np.number)) or hasattr(x, "dtype")):
        raise ValueError(f"{name}: expected a real scalar, got {_describe(x)}")
    if np.ndim(x) != 0:
        raise ValueError(f"{name}: expected a scalar, got {_describe(x)}")
    if np.dtype(getattr(x, "dtype", type(x))).kind not in "iuf":
        raise ValueError(f"{name}: expected a real scalar, got {_describe(x)}")


def check_scalar(name: str, x: Any, *, positive: bool = False, nonnegative: bool = False,
                 upper: float | None = None, open_upper: bool = False) -> Any:
    """Check a (possibly traced) real scalar; value checks only apply when concrete.

    The keyword form of :func:`check_rule`: ``positive`` (> 0) or ``nonnegative`` (>= 0), and an
    ``upper`` bound (``< upper`` when ``open_upper``, else ``<= upper``), as one :class:`Rule`.
    """
    low, low_open = (0.0, positive) if (positive or nonnegative) else (-np.inf, False)
    high = np.inf if upper is None else float(upper)
    return check_rule(name, x, Rule(low, high, low_open, bool(open_upper and upper is not None)))


# ------------------------------------------------------------------------------------------ the rule table
class Rule(NamedTuple):
    """A range rule for a real scalar: finite, and in the interval from ``low`` to ``high``.

    ``low_open``: the value must be > ``low`` (else >= ``low``); ``high_open``: < ``high`` (else <=).
    Infinite bounds mean no bound.  NaN and inf break every rule.
    """

    low: float = -np.inf
    high: float = np.inf
    low_open: bool = False
    high_open: bool = False

    def expected(self, noun: str = "a value") -> str:
        """The rule in words, for error messages: ``"a value > 0"``, ``"a value in [0, 1)"`` (``noun``:
        ``"values"`` for an array)."""
        lo, hi = np.isfinite(self.low), np.isfinite(self.high)
        if lo and hi and self.low_open and self.high_open:
            return f"{noun} strictly between {self.low:g} and {self.high:g}"
        if lo and hi:
            return (f"{noun} in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        if lo:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        if hi:
            return f"{noun} {'<' if self.high_open else '<='} {self.high:g}"
        return "finite values" if noun == "values" else "a finite value"

    def holds(self, x):
        """Bool: ``x`` is finite and within the interval.  A NumPy bool for a Python or NumPy ``x`` (so
        it also runs under an outer ``jit``), a JAX bool for a JAX array (traced or not)."""
        finite = np.isfinite(x) if isinstance(x, (int, float, np.number, np.ndarray)) else jnp.isfinite(x)
        above = (x > self.low) if self.low_open else (x >= self.low)
        below = (x < self.high) if self.high_open else (x <= self.high)
        return finite & above & below


#: The named rules; every range check of the package is one of these or a :class:`Rule` of its own.
RULES = {
    "finite": Rule(),
    "positive": Rule(0.0, low_open=True),                     # lr, step sizes, widths
    "nonnegative": Rule(0.0),                                  # lam, beta, init scale
    "unit_open": Rule(0.0, 1.0, low_open=True, high_open=True),  # rho, fractions
    "unit": Rule(0.0, 1.0),                                    # probabilities
    "unit_right_open": Rule(0.0, 1.0, high_open=True),         # momentum, decay rates
}

#: Each sweepable hyperparameter's rule, named once (the name a public entry point calls it by).
HYPERPARAMETERS = {
    "lr": "positive",          # learning rate alpha > 0
    "lam": "nonnegative",      # ridge strength lambda >= 0
    "beta": "nonnegative",     # sparsity weight beta >= 0
    "rho": "unit_open",        # target mean activation rho in (0, 1) (the KL term needs both bounds)
    "scale": "nonnegative",    # init scale (a half-width or standard deviation) >= 0
    "momentum": "unit_right_open",  # momentum in [0, 1)
}


def rule_of(rule: "Rule | str | None", name: str = "") -> Rule:
    """A :class:`Rule` from a rule, a name in :data:`RULES`, or ``None`` (``name``'s rule in
    :data:`HYPERPARAMETERS`)."""
    if rule is None:
        if name not in HYPERPARAMETERS:
            raise KeyError(f"no rule for {name!r}: pass one (a Rule or one of {sorted(RULES)})")
        rule = HYPERPARAMETERS[name]
    return rule if isinstance(rule, Rule) else RULES[rule]


def holds(x, rule: "Rule | str") -> Any:
    """Bool (traced for a traced ``x``): ``x`` is finite and obeys ``rule`` (a Rule or a name in RULES)."""
    return rule_of(rule).holds(x)


def check_rule(name: str, x: Any, rule: "Rule | str | None" = None) -> Any:
    """Check a (possibly traced) real scalar against a rule; return it unchanged.

    Args:
      name: the argument's name, for the message.
      x: a Python, NumPy or JAX real scalar, possibly traced.
      rule: a :class:`Rule`, a name in :data:`RULES`, or None for ``name``'s rule in
        :data:`HYPERPARAMETERS`.

    The static facts (a real 0-D number) are always checked; the value only when concrete: a
    non-finite value raises ``"{name}: expected a finite value, got nan"``, a value out of range
    ``"{name}: expected {rule in words}, got {x}"``.  A traced value passes (see :func:`invalid_flag`).
    """
    rule = rule_of(rule, name)
    _check_real_scalar(name, x)
    if is_concrete(x):
        v = float(x)
        if not np.isfinite(v):
            raise ValueError(f"{name}: expected a finite value, got {v}")
        if not rule.holds(v):
            raise ValueError(f"{name}: expected {rule.expected()}, got {v}")
    return x


def check_values(name: str, x: Any, rule: "Rule | str", why: str = "") -> None:
    """Raise if a concrete array has a value that breaks ``rule`` (NaN/inf included); traced: no check.

    The message names the argument, the range expected (and ``why``, e.g. what needs it) and the range
    given: ``"X: expected values in [0, 1] (why), got values in [0, 255]"``.
    """
    if not is_concrete(x):
        return
    rule, v = rule_of(rule), np.asarray(x)
    if v.size and not np.all(rule.holds(v)):
        got = (f"values in [{np.nanmin(v):g}, {np.nanmax(v):g}]" if np.isfinite(v).any() else "no finite value")
        raise ValueError(f"{name}: expected {rule.expected('values')}{f' ({why})' if why else ''}, got {got}")


def check_rules(**named) -> None:
    """:func:`check_rule` for each ``name=x`` (the rule from :data:`HYPERPARAMETERS`) or
    ``name=(x, rule)``; a value of ``None`` (an argument left out) is skipped."""
    for name, v in named.items():
        x, rule = v if isinstance(v, tuple) else (v, None)
        if x is not None:
            check_rule(name, x, rule)


def invalid_flag(pairs=(), /, **named) -> jax.Array:
    """Traced bool scalar: some value breaks its rule (the traced counterpart of :func:`check_rules`).

    Args:
      pairs: ``(x, rule)`` pairs (the list form; ``rule`` a Rule or a name in :data:`RULES`).
      **named: ``name=x`` (the rule from :data:`HYPERPARAMETERS`) or ``name=(x, rule)``; ``None``
        values are skipped.

    Returns:
      A bool scalar, True when a value is non-finite or out of its range (False when none is given).
      Compute it once, outside the loop; apply it with :func:`jaxnn.guard.mask_invalid`.
    """
    pairs = list(pairs)
    for name, v in named.items():
        x, rule = v if isinstance(v, tuple) else (v, None)
        if x is not None:
            pairs.append((x, rule_of(rule, name)))
    ok = jnp.array(True)
    for x, rule in pairs:
        ok = ok & jnp.all(rule_of(rule).holds(jnp.asarray(x)))
    return ~ok


def check_int(name: str, x: Any, *, minimum: int = 1) -> int:
    """Check a static Python integer (step counts, sizes, batch sizes)."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {_describe(x)}")
    if x < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {x}")
    return int(x)


def check_params(params: Any, name: str = "params") -> list:
    """Check the MLP params layout: a non-empty list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}``
    whose sizes chain (layer l's output size is layer l+1's input size)."""
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError(f"{name}: expected a non-empty list of layers {{'W', 'b'}}, got {type(params).__name__}")
    for l, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"{name}[{l}]: expected a dict with keys 'W' and 'b', got {got}")
        W, b = layer["W"], layer["b"]
        if np.ndim(W) != 2:
            raise ValueError(f"{name}[{l}]['W']: expected shape (s_{{l+1}}, s_l), got {_describe(W)}")
        if np.shape(b) != (np.shape(W)[0],):
            raise ValueError(f"{name}[{l}]['b']: expected shape ({np.shape(W)[0]},) to match W {tuple(np.shape(W))}, "
                             f"got {_describe(b)}")
        for k, v in layer.items():
            if not jnp.issubdtype(jnp.result_type(v), jnp.floating):
                raise ValueError(f"{name}[{l}][{k!r}]: expected a floating dtype, got {jnp.result_type(v)}")
        if l > 0 and np.shape(W)[1] != np.shape(params[l - 1]["W"])[0]:
            raise ValueError(f"{name}[{l}]['W']: expected {np.shape(params[l - 1]['W'])[0]} input columns "
                             f"(the output size of layer {l - 1}), got {_describe(W)}")
    return list(params)


def check_data(params: Sequence[dict], X: Any, Y: Any = None, *, finite: bool = True):
    """Check X (m, s_1) and Y (m, s_{n_l}) against params; returns them as float arrays.

    A 1-D ``Y`` is accepted when the network has a single output and reshaped to (m, 1).
    """
    check_params(params)
    dtype = jnp.result_type(params[0]["W"])
    X = check_array("X", X, ndim=2, floating=True).astype(dtype)
    s_in = np.shape(params[0]["W"])[1]
    if X.shape[1] != s_in:
        raise ValueError(f"X: expected {s_in} columns (params[0]['W'] has shape "
                         f"{tuple(np.shape(params[0]['W']))}), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X: expected at least one sample (row), got 0")
    if finite:
        check_finite("X", X)
    if Y is None:
        return X
    s_out = np.shape(params[-1]["W"])[0]
    Y = check_array("Y", Y, floating=True).astype(dtype)
    if Y.ndim == 1 and s_out == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"Y: expected a 2-D array of shape (m, {s_out}), got {_describe(Y)}")
    if Y.shape != (X.shape[0], s_out):
        raise ValueError(f"Y: expected shape ({X.shape[0]}, {s_out}) (one row per row of X, one column per "
                         f"output unit), got shape {Y.shape}")
    if finite:
        check_finite("Y", Y)
    return X, Y


@lru_cache(maxsize=None)
def _raw_key_shape(impl: str) -> tuple:
    """Shape of a raw ``jax.random.PRNGKey`` under the default PRNG implementation ``impl``: (2,) for threefry."""
    return tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape)


def check_key(name: str, key: Any, *, batched: bool = False):
    """Check a PRNG key: a typed key (``jax.random.key(0)``) or a raw uint32 ``jax.random.PRNGKey(0)``.

    Only the dtype and shape are checked, so a traced key (a sweep over seeds) is fine.  A single key is
    expected unless ``batched`` (then any leading batch shape is accepted).  Returns ``key`` unchanged.
    """
    want = f"{name}: expected a PRNG key, e.g. jax.random.key(0), got"
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if batched or np.shape(key) == ():
            return key
        raise ValueError(f"{want} an array of keys of shape {tuple(np.shape(key))} (a single key is needed here)")
    if dtype is not None and not isinstance(key, (str, bytes)) and np.dtype(dtype) == np.uint32:
        raw = _raw_key_shape(str(jax.config.jax_default_prng_impl))
        shape = tuple(np.shape(key))
        if shape[len(shape) - len(raw):] == raw:  # one raw key, or a batch of them
            if batched or len(shape) == len(raw):
                return key
            raise ValueError(f"{want} raw keys of shape {shape} (a single key of shape {raw} is needed here)")
    raise ValueError(f"{want} {_describe(key)}")


def nan_unless(ok, x):
    """``x`` where the (traced) condition ``ok`` holds, NaN otherwise: the traced counterpart of a value
    check, for values (an init scale) whose invalidity must show up downstream as non-finite params."""
    return jnp.where(ok, x, jnp.array(jnp.nan, jnp.result_type(x)))


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type = UserWarning) -> None:
    """``warnings.warn`` pointing at the caller's line: the first frame outside the jaxnn package
    (the user's script, or the function a sweep traces), however deep in jaxnn the warning is raised."""
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
