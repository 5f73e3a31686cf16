"""Helpers shared by several test modules (imported as ``from _helpers import ...``, as ``_experiments``)."""

import contextlib

import jax

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


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
