"""Helpers shared by several test modules (imported as ``from _helpers import ...``, as ``_experiments``)."""

import contextlib
import os

import jax

import jaxnn

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


def xla_flags(devices=None):
    """XLA_FLAGS for a process a test starts: this process's flags (the suite's optimization level, see the
    root conftest.py) without a device count, plus ``devices`` host CPU devices when given."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    if devices is not None:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    return " ".join(flags)


@contextlib.contextmanager
def compiles(name=None):
    """The backend compilations inside the block (a list of seconds, one per compilation): of every
    function, or only of jitted functions whose name contains ``name``."""
    seen = []

    def listen(event, duration, **kw):
        if event == BACKEND_COMPILE and (name is None or name in str(kw.get("fun_name", ""))):
            seen.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def toy(key=0, m=32, sizes=(3, 5, 2)):
    """A small regression problem: ``init_mlp`` params (scale 0.3), X (m, sizes[0]) standard normal and
    targets Y (m, sizes[-1]) = sigmoid(X A) of a random linear map A, all from the one integer ``key``."""
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_mlp(k1, list(sizes), scale=0.3)
    X = jax.random.normal(k2, (m, sizes[0]))
    Y = jax.nn.sigmoid(X @ jax.random.normal(k3, (sizes[0], sizes[-1])))
    return params, X, Y
