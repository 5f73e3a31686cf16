"""Helpers shared by the experiment scripts: output directory, provenance, CSV and JSON files, sweep flags."""

from __future__ import annotations

import csv
import io
import json
import os


def provenance(**extra) -> dict:
    """jaxnn.sweep.provenance (command, git commit, versions, platform) plus the devices and ``extra``."""
    import jax

    from jaxnn.sweeps import provenance as _provenance

    return {**_provenance(), "devices": [str(d) for d in jax.devices()], **extra}


def write_json(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, default=str)


def write_csv(path: str, rows: list) -> None:
    """Rows (dicts with the same keys) as CSV, written atomically."""
    from jaxnn.io import atomic_write

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


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
    from jaxnn.sweeps import init_distributed, use_cpu_cores

    use_cpu_cores(a.cpu_devices or None)  # ignored by GPUs
    init_distributed(a.coordinator_address, a.num_processes, a.process_id)
