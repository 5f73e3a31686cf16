"""The optimizer argument of the compiled training loops: optax names, factories, traced hyperparameters.

``jit`` caches a compiled function by its static arguments, and an optax ``GradientTransformation``
is a pair of Python closures: a new one on every call (``optimizer=optax.adam(1e-2)`` in a loop) is a
new cache key, so the whole training run compiles again each time although its code is the same.
The forms below are cache-stable: the same name or factory on every call reuses one compilation,
and its numbers are traced arguments (a new value, or a ``jax.vmap`` over it, does not recompile):

* a name, ``optimizer="adam"`` (see :data:`NAMES`): the optax factory of that name, called with
  ``lr`` inside the compiled function;
* a factory ``lr -> GradientTransformation`` defined once: ``optax.adam``, or your own function;
* ``optimizer_kwargs``: the factory's other arguments.  Floats (Python, NumPy or JAX scalars, traced
  ones too) become traced arguments of the compiled run, so ``optimizer="sgd",
  optimizer_kwargs={"momentum": 0.9}`` can be swept like ``lr`` (``optax.inject_hyperparams`` is not
  needed for that); anything else (ints, bools, strings, None, functions) is static and part of
  the cache key (``{"nesterov": True}``);
* ``functools.partial(factory, **kwargs)`` (keywords only) is read as ``factory`` with
  ``optimizer_kwargs=kwargs``.

A ready-made ``GradientTransformation`` still works (its numbers are Python constants, compiled in),
and compiles once per object.  When a new object arrives whose functions have the same code as one
passed before (the sign of a transformation rebuilt on every call), :func:`resolve` warns once,
naming the fix.  Shared by :func:`jaxnn.train` and :func:`jaxnn.autoencoder.fit`.

Also here: :func:`default_lr`, the one rule for the learning rate an entry point uses when ``lr`` is
left out (``train``, ``autoencoder.fit(method="gd")``, ``softmax.fit``), and :func:`adam_cosine`,
Adam with a cosine-decayed step (``softmax.fit``'s default optimizer): ``"adam"`` always means
``optax.adam``'s constant step, except in ``softmax.fit``, where the old spelling still means
``adam_cosine`` and warns.
"""

from __future__ import annotations

import functools
import inspect
import types
from typing import Callable, Optional, Union

import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import validate

__all__ = ["NAMES", "OptimizerLike", "resolve", "make_optimizer", "uses_lr", "adam_cosine", "DEFAULT_LR",
           "default_lr"]

OptimizerLike = Union[None, str, optax.GradientTransformation, Callable[..., optax.GradientTransformation]]

# optax factories whose first argument is the learning rate (the ones this optax version has).
NAMES = {name: getattr(optax, name) for name in (
    "sgd", "adam", "adamw", "nadam", "nadamw", "adamax", "adamaxw", "amsgrad", "adabelief", "adagrad",
    "adadelta", "rmsprop", "radam", "yogi", "lamb", "lars", "lion", "novograd", "fromage", "sm3")
    if hasattr(optax, name)}


def make_optimizer(optimizer, lr, kwargs: Optional[dict] = None) -> optax.GradientTransformation:
    """The GradientTransformation of a resolved ``optimizer`` (call inside the compiled function):
    ``None`` -> the lecture's gradient descent ``optax.sgd(lr)``; a name or a factory such as
    ``optax.adam`` -> ``factory(lr, **kwargs)`` (``lr`` and the float kwargs stay traced); a
    GradientTransformation -> itself."""
    if optimizer is None:
        return optax.sgd(lr)
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    if isinstance(optimizer, str):
        optimizer = NAMES[optimizer]
    return optimizer(lr, **(kwargs or {}))


def uses_lr(optimizer) -> bool:
    """False for a ready-made GradientTransformation (it carries its own learning rate)."""
    return not isinstance(optimizer, optax.GradientTransformation)


def adam_cosine(lr, steps: int) -> optax.GradientTransformation:
    """Adam whose step size decays from ``lr`` to 0 over ``steps`` steps (a cosine schedule): it settles
    at the optimum instead of hovering around it.  A factory defined once (pass ``steps`` as a static
    ``optimizer_kwargs`` entry), so the compiled run is reused; ``lr`` stays traced."""
    return optax.adam(optax.cosine_decay_schedule(lr, steps))


#: The default learning rate, by objective: ``(plain gradient descent, any other optimizer)``; a number,
#: or ``"fan_in"`` for ``min(0.05, 10 / n_inputs)``.  Read by :func:`default_lr` (see there for why).
DEFAULT_LR = {
    "mlp": (0.1, 0.1),            # jaxnn.train (and the trainable): the lecture's networks
    "autoencoder": (1.0, 1.0),    # autoencoder.fit(method="gd"): UFLDL's sparse autoencoder objective
    "softmax": (0.5, "fan_in"),   # softmax.fit: convex cross-entropy on standardized features
    "model": (0.1, 1e-3),         # sweeps.trainable_from: any model (1e-3: Adam's customary step, Kingma & Ba)
}


def default_lr(optimizer, objective: str = "mlp", *, n_inputs: Optional[int] = None) -> Optional[float]:
    """The learning rate an entry point uses when ``lr`` is left out: the package's one rule.

    Args:
      optimizer: the resolved optimizer (None for plain gradient descent, a factory, or a
        GradientTransformation).
      objective: ``"mlp"`` (:func:`jaxnn.train`), ``"autoencoder"`` (:func:`jaxnn.autoencoder.fit`
        with ``method="gd"``) or ``"softmax"`` (:func:`jaxnn.softmax.fit`): a key of :data:`DEFAULT_LR`.
      n_inputs: the model's input size n (used by the ``"fan_in"`` entry).

    Returns:
      None for a GradientTransformation (it carries its own rate), else the :data:`DEFAULT_LR` entry:

      * plain gradient descent moves each weight by ``lr`` times its gradient, so the step that
        converges without diverging is set by the objective's scale, one number per objective;
      * an adaptive optimizer (Adam) moves every weight by about ``lr`` in its first steps whatever
        the gradient, so a one-layer model's logits by about ``lr * n``: ``"fan_in"`` keeps that near
        10, capped at 0.05 (``min(0.05, 10 / n_inputs)``).

    ``train`` and ``autoencoder.fit`` use their plain-descent number for every optimizer: the values
    predate this rule and are kept as they were, so that results users rely on do not change.
    """
    if not uses_lr(optimizer):
        return None
    plain, adaptive = DEFAULT_LR[objective]
    rule = plain if optimizer is None else adaptive
    if rule == "fan_in":
        return min(0.05, 10.0 / n_inputs)
    return rule


def _is_traced_number(v) -> bool:
    """Floats, and float/0-d arrays (possibly traced), become traced arguments; the rest is static."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (float, np.floating)):
        return True
    return hasattr(v, "dtype") and np.ndim(v) == 0 and np.dtype(v.dtype).kind == "f"


def _check_kwargs(factory, kwargs: dict, argname: str) -> None:
    if "learning_rate" in kwargs:
        raise ValueError(f"{argname}_kwargs: pass the learning rate as lr, not as 'learning_rate'")
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to check against
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    names = list(params)[1:]  # the first one takes lr
    for k in kwargs:
        if k not in names:
            raise ValueError(f"{argname}_kwargs: {k!r} is not an argument of "
                             f"{getattr(factory, '__name__', factory)!r}; its arguments after the learning "
                             f"rate: {names}")


_UNCHECKED = object()  # resolve's default lr: the caller checks its lr itself

#: The error of an ``lr`` passed with a GradientTransformation (train, autoencoder.fit, jaxnn.trainable).
LR_WITH_TRANSFORMATION = ("lr: leave lr out when optimizer is a GradientTransformation (it has its own learning "
                          "rate); pass an optax factory such as optax.adam to sweep lr")


def resolve(optimizer: OptimizerLike, kwargs: Optional[dict], dtype, *, argname: str = "optimizer",
            traced: bool = False, owner: str = "train", lr=_UNCHECKED):
    """Check ``optimizer`` / ``kwargs`` (and ``lr``) at a public entry point and split them for ``jit``.

    Args:
      optimizer: None, a name of :data:`NAMES`, a factory ``lr -> GradientTransformation``, a
        keywords-only ``functools.partial`` of one, or a GradientTransformation.
      kwargs: the factory's other keyword arguments (``{argname}_kwargs``), or None.
      dtype: the dtype of the traced numbers (the data's).
      argname: the argument's name in error messages and the warning.
      traced: the call is under an outer trace (a sweep): no recompilation warning, since the
        compiled function is then the caller's.
      owner: the compiled function the optimizer goes to (the recompilation warning compares the
        objects passed to the same one).
      lr: the entry point's learning rate (None: left out), checked here, before the optimizer is
        registered for the recompilation warning (a call refused for its lr registered nothing): with a
        GradientTransformation it must be left out (:data:`LR_WITH_TRANSFORMATION`), otherwise it is
        ``lr``'s rule (> 0, finite; :func:`jaxnn.validate.check_rule`).  Not given: not checked.

    Returns:
      ``(optimizer, static, hyper)``: the optimizer for :func:`make_optimizer` (None, a factory or a
      GradientTransformation; static), ``static`` a sorted tuple of the static ``(name, value)``
      keyword arguments (static) and ``hyper`` a dict of the traced ones (arrays of ``dtype``).
    """
    if kwargs is not None and not (isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)):
        raise ValueError(f"{argname}_kwargs: expected a dict of keyword arguments, got {kwargs!r}")
    kwargs = dict(kwargs or {})
    if isinstance(optimizer, str):
        if optimizer not in NAMES:
            raise ValueError(f"{argname}: unknown optimizer name {optimizer!r}; expected one of {sorted(NAMES)} "
                             f"(optax factories called with the learning rate), a factory or a GradientTransformation")
        optimizer = NAMES[optimizer]
    elif isinstance(optimizer, functools.partial) and not optimizer.args:
        kwargs = {**optimizer.keywords, **kwargs}
        optimizer = optimizer.func
    if isinstance(optimizer, optax.GradientTransformation) or optimizer is None:
        if kwargs:
            raise ValueError(f"{argname}_kwargs: only used with a name or a factory (a GradientTransformation "
                             f"or None has its settings already), got {sorted(kwargs)}")
    elif not callable(optimizer):
        raise ValueError(f"{argname}: expected None, an optax GradientTransformation, a factory lr -> "
                         f"GradientTransformation (such as optax.adam) or one of the names {sorted(NAMES)}, "
                         f"got {optimizer!r}")
    else:
        _check_kwargs(optimizer, kwargs, argname)
    static, hyper = [], {}
    for k in sorted(kwargs):
        v = kwargs[k]
        if _is_traced_number(v):
            hyper[k] = jnp.asarray(validate.check_rule(f"{argname}_kwargs[{k!r}]", v, "finite"), dtype)
        else:
            try:
                hash(v)
            except TypeError:
                raise ValueError(f"{argname}_kwargs[{k!r}]: expected a float (traced) or a hashable static value "
                                 f"(int, bool, str, None, a function), got {type(v).__name__}") from None
            static.append((k, v))
    if lr is not _UNCHECKED and lr is not None:  # every check before the registration below
        if not uses_lr(optimizer):
            raise ValueError(LR_WITH_TRANSFORMATION)
        validate.check_rule("lr", lr)
    if optimizer is not None and not traced:
        _warn_if_recompiling(optimizer, argname, owner)
    return optimizer, tuple(static), hyper


# ------------------------------------------------------------------------------ recompilation warning
_SEEN: dict = {}     # (owner, code fingerprint) -> the first optimizer object passed with it
_WARNED: set = set()  # (owner, fingerprint) pairs already warned about


def _code(obj, depth: int = 0):
    """What the compiled code takes from ``obj``: the code of its functions, followed through
    closures, partials, bound methods and containers; any other value stands as its type."""
    if depth > 8:
        return type(obj)
    if isinstance(obj, functools.partial):
        return ("partial", _code(obj.func, depth + 1), len(obj.args), tuple(sorted(obj.keywords)))
    if isinstance(obj, types.MethodType):
        return ("method", _code(obj.__func__, depth + 1), type(obj.__self__))
    if isinstance(obj, types.FunctionType):
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(_code(cell.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                cells.append(None)
        return (obj.__code__, tuple(cells))
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_code(x, depth + 1) for x in obj))
    return type(obj)


def _warn_if_recompiling(optimizer, argname: str, owner: str) -> None:
    try:
        fp = (owner, _code(optimizer))
        first = _SEEN.setdefault(fp, optimizer)
        if first is optimizer or first == optimizer or fp in _WARNED:
            return
    except Exception:  # an unhashable or odd object: no fingerprint, no warning
        return
    _WARNED.add(fp)
    what = "GradientTransformation" if isinstance(optimizer, optax.GradientTransformation) else "factory"
    validate.warn(
        f"{argname}: a new optax {what} object with the same code as one passed before; the training "
        "run is compiled again for every new object (its functions are part of the compiled code). "
        f"Pass a factory and the learning rate ({argname}=optax.adam, lr=1e-2) or a name ({argname}='adam', "
        f"lr=1e-2), defined once, with the factory's other numbers in {argname}_kwargs (traced, no "
        "recompilation).", UserWarning)
