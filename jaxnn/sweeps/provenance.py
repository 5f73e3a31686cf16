"""Provenance of a result (command, commit, versions, machine) and the hash that identifies a swept
computation (its jaxpr, constants and data)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Optional

import jax
import numpy as np

__all__ = ["provenance", "code_hash", "versions"]


def _git(*args) -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def versions() -> dict:
    """Versions of Python, jax, jaxlib, optax, numpy and jaxnn."""
    import platform

    import jaxlib
    import optax

    import jaxnn

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "optax": optax.__version__, "numpy": np.__version__, "jaxnn": getattr(jaxnn, "__version__", "unknown")}


def provenance(command: Optional[str] = None) -> dict:
    """What is needed to trace and rerun a result: command, working directory, git commit (and
    whether the tree had uncommitted changes), versions of Python, jax, jaxlib, optax, numpy, jaxnn."""
    import platform

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": command if command is not None else shlex.join([os.path.basename(sys.executable)] + sys.argv),
        "cwd": os.getcwd(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "versions": versions(),
        "platform": platform.platform(),
        "host": platform.node(),
        "backend": jax.default_backend(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def code_hash(closed, data=None) -> str:
    """Hash of the computation of one run: its jaxpr (memory addresses removed), its constants
    (closed-over data such as X) and the values of ``data``, so a changed function, step count or
    data is detected."""
    h = hashlib.sha256(re.sub(r" at 0x[0-9a-fA-F]+", "", str(closed.jaxpr)).encode())
    for c in list(closed.consts) + jax.tree_util.tree_leaves(data):
        try:
            if jax.dtypes.issubdtype(c.dtype, jax.dtypes.prng_key):
                c = jax.random.key_data(c)
            a = np.asarray(c)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        except Exception:
            h.update(repr(c).encode())
    return h.hexdigest()
