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


def add_sweep_args(p) -> None:
    """The flags every sweep experiment shares: chunking, progress, CPU devices, several hosts."""
    p.add_argument("--chunk-size", type=int, default=None,
                   help="runs per compiled call (default: from XLA's memory analysis)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="on a CPU, shard the runs over this many JAX devices (default 0: one per core; 1: off)")
    g = p.add_argument_group("several hosts (jax.distributed)")
    g.add_argument("--coordinator-address", default=None, help="HOST:PORT of process 0")
    g.add_argument("--num-processes", type=int, default=None, help="number of processes")
    g.add_argument("--process-id", type=int, default=None, help="this process's index")


def setup_sweep_devices(a) -> None:
    """Apply ``add_sweep_args``' device flags; call before any JAX computation."""
    from jaxnn.sweep import init_distributed, use_cpu_cores

    use_cpu_cores(a.cpu_devices or None)  # ignored by GPUs
    init_distributed(a.coordinator_address, a.num_processes, a.process_id)
