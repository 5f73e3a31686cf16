"""Benchmark: is ``train``'s default (``data_parallel=None``) the faster of one device and sharded?

The issue-22 setting: scikit-learn's digits (all 1797 samples, 64-100-10, sigmoid, squared error,
lr 0.5, lam 1e-4, full-batch gradient descent, 1,000 steps) on 2 JAX CPU devices (one per core, as
``jaxnn.use_cpu_cores()``), in several FRESH processes, since the one-device rate differs from
process to process (``jaxnn.parallel``'s module doc).  Each process times, interleaved (best of
``--repeats``):

* ``one device``: ``data_parallel=False``;
* ``sharded``: ``data_parallel=True`` (samples over the 2 devices, one all-reduce per step);
* ``default``: ``jaxnn.train(..., data_parallel=None)``: what a user gets (its first call, after the
  other two have compiled, also runs the once-per-process calibration of
  :func:`jaxnn.parallel.calibrate`, whose time is reported separately);

and reports, for each of its threads during a one-device run (from ``/proc/self/task``), its CPU
seconds and its voluntary context switches per step (a thread that blocks: waiting for work, or for
another thread's part of the step): which threads do the one-device loop's work, and how often per
step they hand it over.  The table has one row per process;
'default / best' is the default's rate over the faster of the other two (1.00: the default chose
the faster form; the repeats are interleaved, so a few percent either way is noise on a busy
machine).

    python benchmarks/bench_data_parallel.py                 # 5 fresh processes
    python benchmarks/bench_data_parallel.py --quick         # 2 processes, 200 steps: a smoke test
    python benchmarks/bench_data_parallel.py --policy off    # JAXNN_DATA_PARALLEL=off in the children
    python benchmarks/bench_data_parallel.py --xla-flags=--xla_cpu_multi_thread_eigen=false
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=5, help="fresh processes (default 5)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats per process (best is reported)")
    ap.add_argument("--devices", type=int, default=2, help="JAX CPU devices per process (default 2)")
    ap.add_argument("--policy", default=None, choices=["auto", "on", "off"],
                    help="JAXNN_DATA_PARALLEL for the children (default: unset, i.e. on)")
    ap.add_argument("--xla-flags", default="", help="extra XLA_FLAGS for the children")
    ap.add_argument("--quick", action="store_true", help="2 processes, 200 steps, 3 repeats: a smoke test")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.processes, a.steps, a.repeats = 2, 200, 3
    return a


def thread_cpu() -> dict:
    """{thread id: (name, CPU seconds, voluntary context switches)} of this process's threads."""
    out, tick = {}, os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{tid}/comm") as fh:
                name = fh.read().strip()
            with open(f"/proc/self/task/{tid}/status") as fh:
                switches = next(int(line.split()[1]) for line in fh if line.startswith("voluntary_ctxt_switches"))
        except (OSError, StopIteration):
            continue
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / tick, switches)  # utime + stime
    return out


def busy_threads(before: dict, after: dict, steps: int) -> str:
    """The threads that ran during a timing, as 'name: CPU seconds, blocking waits per step' (busiest
    first; a voluntary context switch is a wait for work or for another thread)."""
    used = sorted(((s - before.get(t, ("", 0.0, 0))[1], (w - before.get(t, ("", 0.0, 0))[2]) / steps, n)
                   for t, (n, s, w) in after.items()), reverse=True)
    return ", ".join(f"{n}: {s:.2f} s, {w:.1f}/step" for s, w, n in used if s > 0.005)


def child(a):
    import jax  # after XLA_FLAGS (set by the parent)
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, ROOT)
    import jaxnn
    from jaxnn import parallel
    from jaxnn.datasets import require

    d = require("sklearn.datasets").load_digits()
    X = jnp.asarray(np.asarray(d.data, np.float32) / 16.0)
    Y = jnp.asarray(jaxnn.encode_labels(np.asarray(d.target), 10, "sigmoid"), jnp.float32)
    p0 = jaxnn.init_mlp(jax.random.key(0), [64, 100, 10], scale=0.01)
    forms = {"one device": False, "sharded": True, "default": None}  # the default's first call: + calibration

    def run(dp):
        return jaxnn.train(p0, X, Y, lr=0.5, steps=a.steps, lam=1e-4, activation="sigmoid", data_parallel=dp)

    first, devices = {}, {}
    for name, dp in forms.items():
        t0 = time.perf_counter()
        devices[name] = int(jax.block_until_ready(run(dp))[1].get("devices", 1))
        first[name] = time.perf_counter() - t0
    best, threads = {k: float("inf") for k in forms}, ""
    for _ in range(a.repeats):
        for name, dp in forms.items():
            before, t0 = thread_cpu(), time.perf_counter()
            jax.block_until_ready(run(dp))
            best[name] = min(best[name], time.perf_counter() - t0)
            if name == "one device":
                threads = busy_threads(before, thread_cpu(), a.steps)
    cal = next(iter(parallel.calibration().values()), None)
    print(json.dumps({"rates": {k: a.steps / t for k, t in best.items()}, "first_s": first, "devices": devices,
                      "calibration": cal, "policy": parallel.default_policy(), "one_device_threads": threads,
                      "n_devices": jax.local_device_count()}))


def run_children(a) -> list:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{a.xla_flags} --xla_force_host_platform_device_count={a.devices}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    if a.policy:
        env["JAXNN_DATA_PARALLEL"] = a.policy
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--steps", str(a.steps), "--repeats", str(a.repeats)]
    results = []
    for i in range(a.processes):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"# process {i + 1}/{a.processes} done", flush=True)
    return results


def rows_of(results) -> list:
    rows = []
    for i, r in enumerate(results, 1):
        rate, cal = r["rates"], r["calibration"] or {}
        best_other = max(rate["one device"], rate["sharded"])
        rows.append({"process": i, "one device steps/s": rate["one device"], "sharded steps/s": rate["sharded"],
                     "default steps/s": rate["default"], "default ran on": f"{r['devices']['default']} device(s)",
                     "default / best": rate["default"] / best_other,
                     "faster form": "sharded" if rate["sharded"] > rate["one device"] else "one device",
                     "probe one / sharded steps/s": (f"{cal['one']:.0f} / {cal['sharded']:.0f}" if cal else "-"),
                     "calibration s": cal.get("seconds", 0.0),
                     "first call s (one / sharded / default)": " / ".join(
                         f"{r['first_s'][k]:.2f}" for k in ("one device", "sharded", "default")),
                     "one-device threads (CPU s, waits/step)": r["one_device_threads"]})
    return rows


def main():
    a = parse_args()
    if a.child:
        child(a)
        return
    sys.path.insert(0, ROOT)
    print(f"# bench_data_parallel: digits 64-100-10, m=1797, {a.steps} full-batch steps, {a.devices} CPU devices, "
          f"{a.processes} fresh processes, interleaved best of {a.repeats}; policy "
          f"{a.policy or 'on (JAXNN_DATA_PARALLEL unset)'}; extra XLA_FLAGS: {a.xla_flags or 'none'}")
    print(f"# {os.cpu_count()} cores; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = run_children(a)
    rows = rows_of(results)
    from benchmarks.common import table  # imports jax: only in the parent's own process, after the children
    print()
    print(table(rows, list(rows[0])))
    ratio = [r["default / best"] for r in rows]
    print(f"\n# default / best: min {min(ratio):.2f}, max {max(ratio):.2f}; default took the faster form in "
          f"{sum(r['default ran on'].startswith('1') == (r['faster form'] == 'one device') for r in rows)} of "
          f"{len(rows)} processes; one device {min(r['one device steps/s'] for r in rows):.0f}-"
          f"{max(r['one device steps/s'] for r in rows):.0f} steps/s, sharded "
          f"{min(r['sharded steps/s'] for r in rows):.0f}-{max(r['sharded steps/s'] for r in rows):.0f}")
    print(f"# load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"config": vars(a), "rows": rows, "raw": results}, fh, indent=1)


if __name__ == "__main__":
    main()
