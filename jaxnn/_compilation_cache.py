"""Compiled programs that survive across processes: jaxnn's default for JAX's persistent compilation cache.

On ``import jaxnn`` (:func:`configure_default_cache`) JAX's persistent compilation cache is pointed at
``<user cache dir>/jaxnn/xla/<key>``, so that a second process loads the programs the first one compiled
instead of compiling them again (a small scikit-learn-style fit is mostly compilation in a fresh process).
``<user cache dir>`` is ``$XDG_CACHE_HOME`` or ``~/.cache`` (macOS ``~/Library/Caches``, Windows
``%LOCALAPPDATA%``). ``<key>`` is a short hash of what JAX's own cache key does not cover on a CPU: JAX's
key holds the program, jaxlib's version, the backend, the XLA flags and the device kind, but a CPU's device
kind is just "cpu" while XLA:CPU compiles for the host's instruction set, so a cache on a home folder shared
by machines with different CPUs could hand one machine code it cannot run. The key folds in the jax and
jaxlib versions, the XLA environment variables and ``--xla`` arguments, the machine type and the CPU's model
and feature flags (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere).

jaxnn leaves the cache alone when:

- ``JAXNN_COMPILATION_CACHE`` is ``0`` / ``false`` / ``off`` / ``no`` (another value is a folder to use
  instead of the default; ``1`` / ``true`` / ``on`` / ``yes``, empty or unset is the default folder);
- JAX's own cache is configured (``JAX_COMPILATION_CACHE_DIR`` or ``jax_compilation_cache_dir``), or
  disabled (``jax_enable_compilation_cache`` false): jaxnn never overrides the user's choice;
- the folder cannot be created, is not writable or is not the user's own (JAX runs what it finds there):
  silently for the default folder, with one warning for a folder named by ``JAXNN_COMPILATION_CACHE``.

Entries are written for every compilation (``jax_persistent_cache_min_compile_time_secs`` 0 unless the
user set it): at JAX's default of 1 s only the compilations that took 1 s or more are kept, a number that
depends on the machine and its load, and a second process compiles the others again
(``benchmarks/bench_cold_start.py``, the row "warm cache filled at JAX's 1 s threshold": fewer entries).

JAX's caveats, as they apply here: the cache is global to the process (the user's own JAX code uses it
too); it is unbounded in size (JAX evicts only with ``jax_compilation_cache_max_size`` and the ``filelock``
package); JAX writes an entry in place, so an entry cut short (a process killed while writing it) is read
with a warning "Error reading persistent compilation cache entry" and compiled again in every later process
until the folder is deleted; on some Intel CPUs XLA rejects its own CPU entries on reload (jax-ml/jax#38445)
and the cache does not help (``JAXNN_COMPILATION_CACHE=0``). Delete the folder at any time to empty it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import sys
import warnings
from pathlib import Path

import jax

__all__ = ["ENV", "compilation_cache_dir", "configure_default_cache", "cache_key", "user_cache_home"]

ENV = "JAXNN_COMPILATION_CACHE"
MIN_COMPILE_TIME_S = 0.0    # write every compilation (see the module docstring)
JAX_MIN_COMPILE_TIME_S = 1.0  # JAX's default threshold: another value was set by the user and is kept
_OFF = {"0", "false", "off", "no"}
_ON = {"", "1", "true", "on", "yes"}
_CPUINFO_KEYS = ("vendor_id", "cpu family", "model", "model name", "flags",      # x86
                 "Features", "CPU implementer", "CPU architecture", "CPU variant", "CPU part")  # Arm
_log = logging.getLogger(__name__)


def compilation_cache_dir() -> str | None:
    """The folder of JAX's persistent compilation cache in this process, or None when it is off.

    It is jaxnn's default folder (see :mod:`jaxnn._compilation_cache`), the folder named by
    ``JAXNN_COMPILATION_CACHE``, or JAX's own ``jax_compilation_cache_dir`` when the user configured it.
    This reads JAX's settings as they are now. JAX opens its cache at the first compilation that finds a
    folder set and keeps it for the rest of the process: compilations before that are not cached, and a
    folder or ``jax_enable_compilation_cache`` changed after it no longer applies (jax 0.10.2; to turn
    the cache off, set ``JAXNN_COMPILATION_CACHE=0`` before importing jaxnn).
    """
    if not jax.config.jax_enable_compilation_cache:
        return None
    return jax.config.jax_compilation_cache_dir or None


def user_cache_home(environ=None, system: str | None = None) -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME`` (if absolute) or ``~/.cache``; macOS
    ``~/Library/Caches``; Windows ``%LOCALAPPDATA%`` (or ``~/AppData/Local``)."""
    environ = os.environ if environ is None else environ
    system = system or platform.system()
    if system == "Windows":
        local = environ.get("LOCALAPPDATA", "")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ("Library/Caches" if system == "Darwin" else ".cache")


def _cpu_description() -> str:
    """The CPU's model and feature flags: the first processor of ``/proc/cpuinfo`` (Linux), else
    ``platform.processor()``."""
    lines = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:   # the first processor's block (the file holds one per core)
                if not line.strip():
                    break
                lines.append(line)
    except OSError:
        return platform.processor()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {k.strip(): " ".join(sorted(v.split())) for k, v in fields.items()}
    return ";".join(f"{k}={fields[k]}" for k in _CPUINFO_KEYS if k in fields) or platform.processor()


def _xla_settings(environ, argv) -> list[str]:
    """XLA's environment variables (``XLA_*``, ``LIBTPU_INIT_ARGS``) and the ``--xla`` arguments."""
    names = sorted(k for k in environ if k.startswith("XLA_") or k == "LIBTPU_INIT_ARGS")
    return [f"{k}={environ[k]}" for k in names] + sorted(a for a in argv if a.startswith("--xla"))


def cache_key(environ=None, argv=None) -> str:
    """16 hex digits naming the cache folder: a hash of the jax and jaxlib versions, XLA's settings,
    the machine type and the CPU (the parts of a compiled program's identity JAX's key may not hold)."""
    import jaxlib

    environ = os.environ if environ is None else environ
    parts = [f"jax={jax.__version__}", f"jaxlib={jaxlib.__version__}", f"python={sys.implementation.name}",
             f"system={platform.system()}", f"machine={platform.machine()}", f"cpu={_cpu_description()}"]
    parts += _xla_settings(environ, sys.argv if argv is None else argv)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the user only, check that the user owns it and
    that nobody else may write to it (JAX runs what it loads from the cache), and that the user may
    write there; raises OSError otherwise."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        raise PermissionError(f"{path} is not private to this user (owner uid {st.st_uid}, "
                              f"mode {st.st_mode & 0o777:o})")
    if not os.access(path, os.W_OK):  # a read-only file system too (EROFS), without writing on every import
        raise PermissionError(f"{path} is not writable")


def _chosen_folder(environ) -> tuple[Path | None, bool]:
    """``(folder, named)``: the cache folder jaxnn would use (None: leave JAX's cache alone) and whether
    the user named it in ``JAXNN_COMPILATION_CACHE``."""
    value = environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None, False
    if environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return None, False
    if not jax.config.jax_enable_compilation_cache:
        return None, False
    if value.lower() in _ON:
        return user_cache_home(environ) / "jaxnn" / "xla" / cache_key(environ), False
    return Path(value).expanduser().absolute() / cache_key(environ), True


def configure_default_cache(environ=None) -> str | None:
    """Point JAX's persistent compilation cache at jaxnn's folder unless the user chose otherwise (see
    the module docstring); called once by ``import jaxnn``. Never raises: an unusable folder leaves the
    cache off. Returns the folder in use, or None."""
    environ = os.environ if environ is None else environ
    folder, named = None, False
    try:
        folder, named = _chosen_folder(environ)
        if folder is None:
            return compilation_cache_dir()
        _make_private_dir(folder)
        _use(folder, environ)
    except Exception as err:  # an import must never fail because of the cache
        if named:
            warnings.warn(f"{ENV}={environ.get(ENV)!r}: cannot use {folder} as a compilation cache ({err}); "
                          "compilations will not be kept across processes", RuntimeWarning, stacklevel=2)
        else:
            _log.info("jaxnn: no persistent compilation cache (%s)", err)
        return None
    return str(folder)


def _use(folder: Path, environ) -> None:
    """Set JAX's cache folder and, unless the user chose a threshold, write every compilation."""
    threshold = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in environ and threshold == JAX_MIN_COMPILE_TIME_S:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
