"""Helpers shared by the experiment scripts: output directory and provenance."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time


def git_commit() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


def provenance(**extra) -> dict:
    import jax
    import jaxlib
    import optax

    import jaxnn

    return {"command": " ".join([sys.executable, *sys.argv]), "argv": sys.argv, "git_commit": git_commit(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__,
            "jaxnn": jaxnn.__version__, "devices": [str(d) for d in jax.devices()], **extra}


def write_json(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, default=str)
