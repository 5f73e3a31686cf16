"""A :class:`jaxnn.sweeps.Trainable` from three plain functions: ``init``, ``loss`` and ``metrics``.

:func:`trainable_from` writes ``init`` / ``advance`` / ``evaluate`` on the package's one guarded loop
(:func:`jaxnn.train.full_batch_descent`, :func:`jaxnn.guard.guarded_scan`): the optimizer (named, a factory
with a traced learning rate and ``optimizer_kwargs``, or a GradientTransformation), minibatches drawn from the
run's key, the divergence guard and ``diverged_at``, the traced "invalid" flag from the rule table, and the
hyperparameters routed by keyword to whichever function declares them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import models, optimizers, validate
from jaxnn.guard import GuardState, guard_init, guarded_scan, invalid_hyper, tree_all_finite, tree_where
from jaxnn.optimizers import OptimizerLike
from jaxnn.train import Descent, batch_rows, full_batch_descent, step_is_finite

__all__ = ["Trainable", "trainable_from", "Run", "RunState", "FnState", "training_entries", "keywords",
           "fill_hyper"]

_HELD_OUT = ("_val", "_test")  # data entries with these endings are never trained on


class Trainable(NamedTuple):
    """A training run as three pure functions, which the adaptive searches of :mod:`jaxnn.sweeps`
    (``successive_halving``, ``hyperband``, ``pbt``, ``run`` with early stopping, ``asha``, ``bohb``,
    ``search``) train many at once, in compiled, vmapped segments.

    The rules a Trainable keeps:

    * ``init(key, data, **hp) -> state``: a new run; the state is a pytree of arrays (raw key data, never a
      typed PRNG key: states are banked and checkpointed);
    * ``advance(state, data, steps, **hp) -> state``: ``steps`` (a static Python int) more steps, one
      ``lax.scan``; ``advance`` called k times for n steps computes what one call for k n steps does, so
      that a run can be stopped, ranked and continued;
    * ``evaluate(state, data, **hp) -> {name: scalar}``: the run's metrics now;
    * ``hp`` are the run's traced hyperparameters (scalars), and all three functions accept every name of
      ``hyperparameters``; all three are pure and traceable (the scheduler vmaps and jits them);
    * status: ``evaluate`` may declare the run's status with ``diverged_at`` (int32, -1 if not) and
      ``invalid`` (bool: a hyperparameter was out of range, so no metric is a result)
      (:mod:`jaxnn.sweeps.status`); without them a non-finite metric means diverged;
    * directions: the metrics' directions are declared (``directions={"val_accuracy": "max"}``); a search
      ranks by them unless its ``mode=`` says otherwise; nothing is inferred from a metric's name.

    :func:`jaxnn.trainable` (the MLP) and :func:`jaxnn.sweeps.trainable_from` (any model, from ``init``,
    ``loss`` and ``metrics``) build one; any three functions that keep these rules are one too.

    Attributes:
      init: ``init(key, data, **hp) -> state`` (a pytree of arrays).
      advance: ``advance(state, data, steps, **hp) -> state``; ``steps`` is a static Python int.
      evaluate: ``evaluate(state, data, **hp) -> {metric name: scalar}`` (optionally ``diverged_at``,
        ``invalid``: the run's status).
      hyperparameters: ``{name: default}`` of the hyperparameters ``hp`` may hold (a search space may
        set any of them; a search passes only the space's names, so for the others the functions' own Python
        defaults apply, which these values should repeat), or None to accept any names without defaults.
      directions: ``{metric: "max" | "min"}``: which way each metric of ``evaluate`` is better (what a search
        ranks by when no ``mode=`` is given), or None (then every search needs ``mode=``).
      needs: ``{metric: (data keys, ...)}``: the entries of ``data`` a metric is computed from, when
        ``evaluate`` returns it only if they are there (a search naming it without them says so), or None.
    """

    init: Callable[..., Any]
    advance: Callable[..., Any]
    evaluate: Callable[..., dict]
    hyperparameters: Optional[dict] = None
    directions: Optional[dict] = None
    needs: Optional[dict] = None


class RunState(NamedTuple):
    """The state of one run of a trainable built on :class:`Run` (:func:`trainable_from`, :func:`jaxnn.trainable`).

    Attributes:
      guard: the :class:`jaxnn.guard.GuardState` of the loop: ``carry = (params, (optimizer state,
        gradient))``, ``kept`` (the last finite params: the run's result), ``t``, ``diverged_at``.
      key: raw key data of the minibatch draws.
      invalid: bool scalar: a hyperparameter of this run was out of range.
    """

    guard: GuardState
    key: jax.Array
    invalid: jax.Array

    @property
    def params(self):
        return self.guard.kept


FnState = RunState  # the name trainable_from's state had first


def training_entries(data) -> dict:
    """The entries of ``data`` that ``loss`` trains on: every key not ending in ``_val`` or ``_test``."""
    return {k: v for k, v in data.items() if not k.endswith(_HELD_OUT)}


def keywords(fn: Callable, skip: int, argname: str) -> tuple:
    """``(names, defaults, takes_any)``: the hyperparameters ``fn`` declares after its first ``skip``
    positional parameters (by keyword), their defaults, and whether it takes ``**kwargs``."""
    if not callable(fn):
        raise ValueError(f"{argname}: expected a function, got {fn!r:.80}")
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < skip and not any(p.kind == p.VAR_POSITIONAL for p in params):
        raise ValueError(f"{argname}: expected a function of at least {skip} positional arguments, got "
                         f"{fn.__name__ if hasattr(fn, '__name__') else fn}{inspect.signature(fn)}")
    rest = [p for p in params[skip:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    defaults = {p.name: p.default for p in rest if p.default is not p.empty}
    return tuple(p.name for p in rest), defaults, any(p.kind == p.VAR_KEYWORD for p in params)


class _Routes(NamedTuple):
    names: dict      # {"init" | "loss" | "metrics": names that function takes}
    any: dict        # {function: takes **kwargs}
    defaults: dict   # {hyperparameter: default}


def _same(a, b) -> bool:
    """Two keyword defaults are the same value."""
    try:
        return a is b or bool(np.array_equal(a, b))
    except Exception:  # values numpy cannot compare: only the same object is the same
        return False


def _routes(init, loss, metrics, invalid, opt_names, defaults) -> _Routes:
    """Which function takes which hyperparameter, and every hyperparameter's default.  Two functions that
    declare one hyperparameter with different defaults (not set by ``defaults``) are a ValueError."""
    names, anyk, found, by = {}, {}, {}, {}
    for fname, fn, skip in (("init", init, 1), ("loss", loss, 2), ("metrics", metrics, 2), ("invalid", invalid, 0)):
        if fn is None:
            names[fname], anyk[fname] = (), False
            continue
        names[fname], d, anyk[fname] = keywords(fn, skip, fname)
        for k, v in d.items():
            if k in found and k not in defaults and not _same(found[k], v):
                raise ValueError(f"{k}: {by[k]} and {fname} declare the hyperparameter {k!r} with different "
                                 f"defaults ({found[k]!r} and {v!r}); give the one both get with "
                                 f"trainable_from(..., defaults={{{k!r}: ...}}), or make the defaults equal")
            found.setdefault(k, v)
            by.setdefault(k, fname)
    known = set(opt_names).union(*names.values())
    extra = sorted(set(defaults) - known)
    if extra and not any(anyk.values()):
        raise ValueError(f"defaults: {extra} are not hyperparameters of init, loss, metrics or the optimizer; "
                         f"they take {sorted(known)}")
    return _Routes(names, anyk, {**found, **defaults})


def fill_hyper(hp: dict, defaults: dict, accepted, *, open_names: bool = False) -> dict:
    """A run's hyperparameters ``hp`` with ``defaults`` filled in.  Names outside ``accepted`` (unless
    ``open_names``: a function takes ``**kwargs``) and accepted names without a value raise a ValueError."""
    unknown = [] if open_names else sorted(set(hp) - set(accepted))
    if unknown:
        raise ValueError(f"hp: unknown hyperparameters {unknown}; this trainable takes {sorted(accepted)}")
    h = {**defaults, **hp}
    missing = sorted(n for n in accepted if n not in h)
    if missing:
        raise ValueError(f"hp: hyperparameters {missing} have no default: give them in the search space or in "
                         f"trainable_from(..., defaults={{...}})")
    return h


def _for(routes: _Routes, fname: str, h: dict) -> dict:
    """The hyperparameters ``fname`` takes (all of them when it has ``**kwargs``)."""
    return dict(h) if routes.any[fname] else {k: h[k] for k in routes.names[fname]}


def _scalar_loss(out, argname="loss"):
    """``loss``'s value (a float scalar) from ``value`` or ``(value, aux)``."""
    value = out[0] if isinstance(out, tuple) else out
    value = jnp.asarray(value)
    if value.shape != () or not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(f"{argname}: expected a float scalar (or (scalar, aux)), got shape {value.shape} "
                         f"dtype {value.dtype}")
    return value


def _trained_grad(f: Callable) -> Callable:
    """``p -> (f(p), g)``: ``g`` the gradient of ``p``'s trained leaves (:func:`jaxnn.models.partition`), None at
    the others (integer arrays, an NNX module's non-``nnx.Param`` variables)."""
    def value_and_grad(p, *args):
        trained, rest = models.partition(p)
        return jax.value_and_grad(lambda t: f(models.combine(t, rest), *args))(trained)
    return value_and_grad


def _on_trained(opt) -> optax.GradientTransformation:
    """``opt`` on the trained leaves of the params (its state and the gradient have None at the others); the
    others get zero updates: they are carried unchanged."""
    def init(params):
        return opt.init(models.partition(params)[0])

    def update(g, state, params):
        trained, rest = models.partition(params)
        updates, state = opt.update(g, state, trained)
        return models.combine(updates, jax.tree_util.tree_map(jnp.zeros_like, rest)), state

    return optax.GradientTransformation(init, update)


def _descent(J, batch, key, batch_size, opt) -> Descent:
    """The loop's pieces: full batch (:func:`jaxnn.train.full_batch_descent`), or a ``batch_size`` minibatch
    per step (:func:`jaxnn.train.batch_rows` of ``key``; the step's loss is its minibatch's).  Only the trained
    leaves (:func:`jaxnn.models.partition`) get gradients and updates."""
    opt, value_and_grad = _on_trained(opt), _trained_grad(J)
    if batch_size is None:
        return full_batch_descent(lambda p: value_and_grad(p, batch), opt)
    m = jax.tree_util.tree_leaves(batch)[0].shape[0]

    def step(carry, t):
        p, (state, _) = carry
        idx = batch_rows(key, t, m, batch_size)
        Jb, g = value_and_grad(p, jax.tree_util.tree_map(lambda x: jnp.asarray(x)[idx], batch))
        updates, new_state = opt.update(g, state, p)
        return (optax.apply_updates(p, updates), (new_state, g)), Jb

    def start(params):
        g0 = jax.tree_util.tree_map(jnp.zeros_like, models.partition(params)[0])
        return guard_init((params, (opt.init(params), g0)), finite=tree_all_finite(params))

    return Descent(start, step, step_is_finite)


def _optimizer(optimizer, optimizer_kwargs, lr):
    """``(optimizer, static kwargs, {hyperparameter: default})`` of the optimizer (lr when it takes one)."""
    opt, static, hyper = optimizers.resolve(optimizer, optimizer_kwargs, jnp.result_type(float), traced=True)
    own = {k: float(v) for k, v in hyper.items()}
    if optimizers.uses_lr(opt):
        lr = optimizers.default_lr(opt, "model") if lr is None else lr
        own["lr"] = float(validate.check_scalar("lr", lr, positive=True))
    elif lr is not None:
        raise ValueError("lr: a GradientTransformation carries its own learning rate; leave lr out or pass a "
                         "name or factory (such as 'adam' or optax.adam)")
    _probe(opt, static, own)
    return opt, static, own


def _probe(opt, static: tuple, hyper: dict) -> None:
    """The optimizer built with its static ``optimizer_kwargs`` (non-float values) and the defaults ``hyper``, one
    update traced (``eval_shape``, no compute) on a (2, 2) float array: a value it cannot take, such as
    ``{"b1": "x"}``, is a ValueError naming optimizer_kwargs, before any search.  Not probed when a static value
    is a function or a tuple (a mask: it may depend on the model's structure, which is not known here)."""
    if not static or any(callable(v) or isinstance(v, tuple) for _, v in static):
        return

    def update(p):
        o = optimizers.make_optimizer(opt, hyper.get("lr"), {**dict(static), **{k: v for k, v in hyper.items()
                                                                              if k != "lr"}})
        return o.update(p, o.init(p), p)

    try:
        jax.eval_shape(update, jnp.zeros((2, 2), jnp.result_type(float)))
    except (TypeError, ValueError) as e:
        raise ValueError(f"optimizer_kwargs: the optimizer cannot take the static (non-float) values "
                         f"{dict(static)}: {e}; a float is a traced hyperparameter, the others are passed as given"
                         ) from None


def _checked_needs(needs) -> Optional[dict]:
    """``needs`` as ``{metric: (data keys, ...)}`` (a list of keys becomes a tuple), else a ValueError."""
    if needs is None:
        return None
    ok = isinstance(needs, dict) and all(
        isinstance(k, str) and isinstance(v, (tuple, list)) and all(isinstance(e, str) for e in v)
        for k, v in needs.items())
    if not ok:
        raise ValueError(f"needs: expected a dict {{metric name: (data keys, ...)}} such as "
                         f"{{'val_accuracy': ('X_val', 'y_val')}}, got {needs!r:.80}")
    return {k: tuple(v) for k, v in needs.items()}


def trainable_from(init: Callable, loss: Callable, *, metrics: Optional[Callable] = None,
                   directions: Optional[dict] = None, optimizer: OptimizerLike = "adam",
                   optimizer_kwargs: Optional[dict] = None, batch_size: Optional[int] = None, lr=None,
                   defaults: Optional[dict] = None, invalid: Optional[Callable] = None,
                   needs: Optional[dict] = None) -> Trainable:
    """A :class:`jaxnn.sweeps.Trainable` from a model's ``init``, its ``loss`` and its ``metrics``.

    Args:
      init: ``init(key, **hp) -> model``: a pytree of arrays, an Equinox module or a Flax NNX module
        (:mod:`jaxnn.models`: their arrays are the run's state, the rest is rebuilt where used; only the inexact
        arrays, and of an NNX module only its ``nnx.Param`` variables', get gradients and updates, the others are
        carried unchanged; typed PRNG keys, such as an NNX module's ``nnx.Rngs``, are refused).
      loss: ``loss(model, batch, **hp) -> scalar`` (or ``(scalar, aux)``), a float; ``batch`` holds the
        training entries of ``data`` (every key not ending in ``_val`` or ``_test``), all of them or a
        minibatch of their rows.
      metrics: ``metrics(model, data, **hp) -> {name: scalar}``, on all of ``data`` (e.g. its ``X_val``), or
        None.
      directions: ``{metric: "max" | "min"}`` for the metrics (``loss`` is declared ``"min"``).
      optimizer, optimizer_kwargs: None (plain gradient descent, ``optax.sgd``), a name of
        :data:`jaxnn.optimizers.NAMES` (default ``"adam"``), a factory ``lr -> GradientTransformation`` or a
        GradientTransformation; the float ``optimizer_kwargs`` (and ``lr``) are traced hyperparameters, the
        others static (the optimizer is built with them once here: a value it cannot take is an error).
      batch_size: rows per step, drawn from an epoch-wise shuffle of the run's key (static); None: all.  Every
        training entry then needs the same leading dimension (the rows).
      lr: the learning rate's default; left out, :func:`jaxnn.optimizers.default_lr` with ``"model"``: 0.1 for
        ``optimizer=None`` (plain gradient descent), 1e-3 for a name or a factory (``"sgd"`` and ``optax.sgd``
        included).
      defaults: ``{hyperparameter: default}`` over the functions' own keyword defaults (required for a
        hyperparameter two functions declare with different defaults).
      invalid: ``invalid(**hp) -> bool scalar`` (traceable; e.g. :func:`jaxnn.guard.invalid_hyper` of the
        loss's ranges): True marks a run invalid (its metrics NaN), as a non-positive ``lr`` does.
      needs: ``{metric: (data keys, ...)}`` (tuples or lists of str): the entries of ``data`` a metric is
        computed from, when ``metrics`` returns it only if they are there (a search naming it without them says
        so).

    Returns:
      A :class:`jaxnn.sweeps.Trainable`.  Every hyperparameter (a keyword parameter of ``init`` after the key,
      of ``loss`` or ``metrics`` after their first two, ``lr`` and the float ``optimizer_kwargs``) goes to the
      functions that declare it, and only to them (all of them to one with ``**kwargs``); a search space's
      names that none declares are an error.  ``evaluate`` returns ``loss`` (on all the training entries,
      at the kept params), the metrics, ``diverged_at`` and ``invalid`` (a non-positive ``lr`` or a
      non-finite initial parameter: every float metric NaN).  The state is :class:`RunState`.

    A Python value in ``init`` (a width, a depth, an activation's name) is swept as a static axis,
    ``width=sweeps.static([32, 64])``: the searches compile once per structure and rank the structures'
    trials together (:mod:`jaxnn.sweeps.structures`); a traced value there fails to trace, with a message
    that says so.
    """
    from jaxnn.sweeps.directions import check_directions  # at call time: jaxnn.sweeps imports this module

    opt, opt_static, opt_hyper = _optimizer(optimizer, optimizer_kwargs, lr)
    needs = _checked_needs(needs)
    if defaults is not None and not (isinstance(defaults, dict) and all(isinstance(k, str) for k in defaults)):
        raise ValueError(f"defaults: expected a dict {{hyperparameter: value}}, got {defaults!r:.80}")
    routes = _routes(init, loss, metrics, invalid, opt_hyper, {**opt_hyper, **(defaults or {})})
    accepted = set(opt_hyper).union(*routes.names.values())
    if batch_size is not None:
        batch_size = validate.check_int("batch_size", batch_size, minimum=1)
    declared = {"loss": "min", **check_directions(directions)}
    hyperparameters = None if any(routes.any.values()) else {n: routes.defaults.get(n) for n in sorted(accepted)}
    fns = _Fns(init, loss, metrics, invalid, routes, frozenset(accepted), opt, opt_static, tuple(opt_hyper),
               batch_size)
    run = Run(fns.model, fns.hyper, fns.loop, fns.measure)
    return Trainable(run.init, run.advance, run.evaluate, hyperparameters, declared, needs)


def _reading(fname: str, fn: Callable, data, *args, **kw):
    """``fn(*args, **kw)``, a KeyError for a missing data entry retold as a ValueError naming it."""
    try:
        return fn(*args, **kw)
    except KeyError as e:
        have = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"data: {fname} read the entry {e.args[0]!r}, which data= lacks (it has {have}; "
                         f"{fname} gets {'the training entries' if fname == 'loss' else 'all of data'})") from None


class Run:
    """``init`` / ``advance`` / ``evaluate`` of a trainable on the one guarded loop, from its parts (bound
    methods of one object: hashable, so a trainable's compiled lanes are found again).

    Args:
      model: ``model(key, h, data) -> model`` (:func:`jaxnn.models.split` takes it apart).
      hyper: ``hyper(hp) -> h``: the run's hyperparameters checked, defaults filled in.
      loop: ``loop(data, h, kd, merge) -> (Descent, bad)``: the loop's pieces and the traced "invalid" flag.
      measure: ``measure(params, data, h, merge) -> {metric: value}`` (the status entries are added here).

    ``init``'s key splits into the model's key and the loop's (its raw data: ``RunState.key``).
    """

    def __init__(self, model, hyper, loop, measure):
        self.model, self.hyper, self.loop, self.measure = model, hyper, loop, measure

    def _split(self, h, data, key=None):
        """The model's :class:`jaxnn.models.Split` (without ``key``: its structure only; XLA drops the arrays)."""
        return models.split(self.model(jax.random.key(0) if key is None else key, h, data))

    def init(self, key, data, **hp):
        h = self.hyper(hp)
        k_init, k_batch = jax.random.split(key)
        sp = self._split(h, data, k_init)
        kd = jax.random.key_data(k_batch)
        d, bad = self.loop(data, h, kd, sp.merge)
        return RunState(d.start(sp.params), kd, bad | invalid_hyper(params=sp.params))

    def advance(self, state, data, steps, **hp):
        steps = validate.check_int("steps", steps, minimum=1)
        h = self.hyper(hp)
        d, bad = self.loop(data, h, state.key, self._split(h, data).merge)
        guard, _ = guarded_scan(d.step, state.guard, state.guard.t + jnp.arange(steps, dtype=jnp.int32),
                                is_finite=d.is_finite)
        return RunState(guard, state.key, state.invalid | bad)

    def evaluate(self, state, data, **hp):
        h = self.hyper(hp)
        out = self.measure(state.guard.kept, data, h, self._split(h, data).merge)
        out = tree_where(state.invalid, {k: jnp.full_like(v, jnp.nan) for k, v in out.items()}, out)
        return {**out, "diverged_at": jnp.where(state.invalid, -1, state.guard.diverged_at).astype(jnp.int32),
                "invalid": jnp.asarray(state.invalid, bool)}


class _Fns(NamedTuple):
    """:func:`trainable_from`'s parts of a :class:`Run`: the user's functions, routes and optimizer."""

    user_init: Callable
    user_loss: Callable
    user_metrics: Optional[Callable]
    user_invalid: Optional[Callable]
    routes: _Routes
    accepted: frozenset
    opt: Any
    opt_static: tuple
    opt_names: tuple
    batch_size: Optional[int]

    def model(self, key, h, data):
        return self.user_init(key, **_for(self.routes, "init", h))

    def hyper(self, hp):
        return fill_hyper(hp, self.routes.defaults, self.accepted, open_names=any(self.routes.any.values()))

    def objective(self, data, h, merge):
        """``J(params, batch)``: the user's loss as a float scalar (a missing data entry named)."""
        def J(p, b):
            kw = _for(self.routes, "loss", h)
            return _scalar_loss(models.used(lambda m: _reading("loss", self.user_loss, data, m, b, **kw), merge, p,
                                            "loss"))
        return J

    def loop(self, data, h, kd, merge):
        """The run's :class:`jaxnn.train.Descent` and its "invalid" flag (lr > 0, and the user's check)."""
        if not isinstance(data, dict):
            raise ValueError(f"data: expected a dict of arrays, got {type(data).__name__}")
        batch = training_entries(data)
        opt = optimizers.make_optimizer(self.opt, h.get("lr"), {**dict(self.opt_static),
                                                                **{k: h[k] for k in self.opt_names if k != "lr"}})
        m = _rows(batch, self.batch_size)
        bs = None if self.batch_size is None or self.batch_size >= m else self.batch_size
        d = _descent(self.objective(data, h, merge), batch, jax.random.wrap_key_data(kd), bs, opt)
        bad = invalid_hyper(positive=(h["lr"],) if optimizers.uses_lr(self.opt) else ())
        if self.user_invalid is not None:
            bad = bad | jnp.asarray(self.user_invalid(**_for(self.routes, "invalid", h)), bool)
        return d, bad

    def measure(self, params, data, h, merge):
        out = {"loss": self.objective(data, h, merge)(params, training_entries(data))}
        if self.user_metrics is not None:
            out.update(_checked_metrics(models.used(
                lambda m: _reading("metrics", self.user_metrics, data, m, data, **_for(self.routes, "metrics", h)),
                merge, params, "metrics")))
        return out


def _rows(batch: dict, batch_size: Optional[int]) -> int:
    """The row count ``m`` of the training entries: the leading dimension of the first one that has one (0 if
    none).  With a ``batch_size`` every entry is indexed by a minibatch's rows, so an entry of another leading
    dimension, or a scalar, is a ValueError naming it."""
    leaves = jax.tree_util.tree_flatten_with_path(batch)[0]
    first = next(((p, jnp.shape(x)[0]) for p, x in leaves if jnp.ndim(x) > 0), ((), 0))
    for path, x in leaves if batch_size is not None else ():
        if jnp.ndim(x) == 0 or jnp.shape(x)[0] != first[1]:
            got = "is a scalar" if jnp.ndim(x) == 0 else (f"has shape {jnp.shape(x)}, not the {first[1]} rows of "
                                                          f"data{jax.tree_util.keystr(first[0])}")
            raise ValueError(f"data: with batch_size={batch_size} every training entry is a minibatch of its rows; "
                             f"data{jax.tree_util.keystr(path)} {got} (give loss such values by a closure instead)")
    return first[1]


def _checked_metrics(got) -> dict:
    """``metrics``' dict as float scalars, else a ValueError naming the bad entries."""
    if not isinstance(got, dict) or not all(isinstance(k, str) for k in got):
        raise ValueError(f"metrics: expected a dict {{name: scalar}}, got {type(got).__name__}")
    reserved = sorted(set(got) & {"loss", "diverged_at", "invalid"})
    if reserved:
        raise ValueError(f"metrics: {reserved} are names evaluate gives itself (the training loss and the "
                         "run's status); call yours something else")
    bad = {k: jnp.shape(v) for k, v in got.items() if jnp.shape(v) != ()}
    if bad:
        raise ValueError(f"metrics: expected a scalar for every metric, got shapes {bad}")
    return {k: jnp.asarray(v, jnp.result_type(float)) for k, v in got.items()}
