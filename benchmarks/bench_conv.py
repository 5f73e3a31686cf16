"""Benchmark: convolve and pool learned features over large images (UFLDL's sizes).

400 features of 8 x 8 over 96 x 96 grayscale images, sigmoid, 19 x 19 mean pooling ('valid' maps of
89 x 89, pooled to 4 x 4 per feature), compared side by side in one run:

* ``jaxnn.conv.convolve_pool``: chunks of images, only the 76 x 76 positions the pooling keeps are
  convolved, in cache-sized tiles pooled inside the compiled step;
* ``jaxnn`` unfused: ``pool(convolve(...))`` (full maps, then pooling), on a smaller batch;
* PyTorch: ``torch.nn.functional.conv2d`` + ``sigmoid`` + ``avg_pool2d`` (CPU, torch==2.13.0,
  batches of images; skipped with a note when torch is not installed);
* UFLDL's approach: ``scipy.signal.convolve2d`` per image per feature, then pooling (estimated from
  a sample of images: it is slow).

Reported, each row with the device it ran on: images/s (compile time excluded, reported
separately); each baseline's ratio to ``convolve_pool`` timed on the SAME images (a call has a fixed
cost, so a rate over 2,000 images is not compared with one over 64); GFLOP/s counting the work the
output needs: the convolution at the 76 x 76 positions that the pooling keeps (2 * 76 * 76 * 400 * 64
per image; the unfused, PyTorch and SciPy rows compute all 89 x 89 positions, 1.37x that work, so their
GFLOP/s is the useful part of what they do), as a fraction of the float32 matmul peak measured on
JAX's device (left blank for a row on another device); and the peak resident memory (VmHWM) of a
fresh process that pools 2,000 and 4,000 images (returning a JAX array), and 4,000 images into a
preallocated ``out=`` array: what grows with the number of images is the input and output, not the
work.  PyTorch is the CPU build (torch==2.13.0): on a GPU host its rows say ``cpu`` and the target
line says that it compares jaxnn on the GPU with PyTorch on the CPU.

    python benchmarks/bench_conv.py                 # default run (about 2-3 minutes on 2 cores)
    python benchmarks/bench_conv.py --quick         # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from benchmarks.common import best_time, block, machine, matmul_peak_gflops, peak_size, table  # noqa: E402
from jaxnn import conv  # noqa: E402


def make_problem(n, image, k, p, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, image, image), dtype=np.float32)
    W = (0.1 * rng.standard_normal((k, p * p))).astype(np.float32)
    b = (0.1 * rng.standard_normal(k)).astype(np.float32)
    return images, W, b


def bench_jaxnn(images, W, b, pool, repeats):
    f = lambda: conv.convolve_pool(images, W, b, "sigmoid", size=pool)  # noqa: E731
    t0 = time.perf_counter()
    out = block(f())
    first = time.perf_counter() - t0
    t = best_time(f, repeats)
    return out, t, max(0.0, first - t)


def bench_jaxnn_unfused(images, W, b, pool, repeats):
    f = lambda: conv.pool(conv.convolve(images, W, b, "sigmoid"), pool, "mean")  # noqa: E731
    t0 = time.perf_counter()
    out = block(f())
    first = time.perf_counter() - t0
    t = best_time(f, repeats)
    return out, t, max(0.0, first - t)


def bench_torch(images, W, b, pool, repeats, batch):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images)[:, None]  # (n, 1, H, W)
    p = int(np.sqrt(W.shape[1]))
    w = torch.from_numpy(W).reshape(-1, 1, p, p)  # cross-correlation, same orientation as jaxnn
    bt = torch.from_numpy(b)

    def run():
        with torch.inference_mode():
            return torch.cat([F.avg_pool2d(torch.sigmoid(F.conv2d(x[i:i + batch], w, bt)), pool)
                              for i in range(0, x.shape[0], batch)])

    t0 = time.perf_counter()
    out = run()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return out.permute(0, 2, 3, 1).numpy(), best, max(0.0, first - best), torch.get_num_threads()


def bench_scipy(images, W, b, pool):
    """UFLDL's cnnConvolve/cnnPool: one convolve2d per image and feature (feature flipped: conv2 flips)."""
    from scipy.signal import convolve2d

    p = int(np.sqrt(W.shape[1]))
    n, k = images.shape[0], W.shape[0]
    Hc = images.shape[1] - p + 1
    Hp = Hc // pool
    out = np.empty((n, Hp, Hp, k), np.float32)
    t0 = time.perf_counter()
    for i in range(n):
        for f in range(k):
            z = convolve2d(images[i], W[f].reshape(p, p)[::-1, ::-1], mode="valid") + b[f]
            a = 1.0 / (1.0 + np.exp(-z))
            out[i, :, :, f] = a[:Hp * pool, :Hp * pool].reshape(Hp, pool, Hp, pool).mean(axis=(1, 3))
    return out, time.perf_counter() - t0


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM of /proc/self/status (the high-water mark of
    this process image; getrusage's ru_maxrss also counts the parent's memory at fork, as it is kept
    across exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(n, image, k, p, pool, into):
    """Run in a fresh process: pool n images, print the peak RSS (MiB) before and after.  ``into``:
    write into a preallocated NumPy array (``out=``) instead of returning a new JAX array."""
    images, W, b = make_problem(n, image, k, p)
    Hp = (image - p + 1) // pool
    out = np.empty((n, Hp, Hp, k), np.float32) if into else None
    rss0 = peak_rss_mib()
    out = block(conv.convolve_pool(images, W, b, "sigmoid", size=pool, out=out))
    rss1 = peak_rss_mib()
    print(json.dumps({"n": n, "rss_before_mib": rss0, "rss_peak_mib": rss1, "out_shape": list(out.shape),
                      "input_mib": images.nbytes / 2**20, "output_mib": out.size * 4 / 2**20}))


def measure_memory(n, a, into=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", str(n), "--features", str(a.features),
           "--patch", str(a.patch), "--image", str(a.image), "--pool", str(a.pool)] + (["--into"] if into else [])
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=2000,
                    help="images for the headline jaxnn timing (default: the 2,000 of the memory target; "
                         "each baseline is compared with jaxnn timed on the baseline's own images)")
    ap.add_argument("--n-unfused", type=int, default=16, help="images for the unfused jaxnn timing")
    ap.add_argument("--n-torch", type=int, default=64, help="images for the PyTorch timing")
    ap.add_argument("--torch-batch", type=int, default=32, help="images per PyTorch call")
    ap.add_argument("--n-scipy", type=int, default=2, help="images for the SciPy loop estimate")
    ap.add_argument("--n-memory", type=int, nargs="*", default=[2000, 4000],
                    help="image counts for peak memory")
    ap.add_argument("--features", type=int, default=400)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--image", type=int, default=96)
    ap.add_argument("--pool", type=int, default=19)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the script")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--into", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args()


def jax_device() -> str:
    """JAX's default device in words, e.g. ``cpu`` or ``gpu (NVIDIA H100 80GB HBM3)``."""
    import jax

    d = jax.devices()[0]
    return d.platform if d.platform == "cpu" else f"{d.platform} ({d.device_kind})"


def output_flops(a) -> float:
    """FLOPs per image of the work the pooled output needs: the convolution at the (Hp * pool)^2
    positions that the pooling keeps (76 x 76 of the 89 x 89 'valid' positions at UFLDL's sizes)."""
    kept = (a.image - a.patch + 1) // a.pool * a.pool
    return 2.0 * kept * kept * a.features * a.patch * a.patch


def timing_rows(a, images, W, b):
    """One row per method, each with its device, and a jaxnn row on the same images for each baseline."""
    dev, P = jax_device(), a.pool
    jaxnn_rows, outs = {}, {}

    def jaxnn_row(n):  # convolve_pool on the first n images, timed once per n
        if n not in jaxnn_rows:
            outs[n], t, c = bench_jaxnn(images[:n], W, b, P, a.repeats)
            jaxnn_rows[n] = {"method": "jaxnn.conv.convolve_pool", "device": dev, "images": n,
                             "images/s": n / t, "compile s": c}
        return jaxnn_rows[n]

    rows = [jaxnn_row(a.n_images)]  # the headline row; its output checks the others
    out_j = outs[a.n_images]
    n_u = min(a.n_unfused, a.n_images)
    out_u, t_u, c_u = bench_jaxnn_unfused(images[:n_u], W, b, P, a.repeats)
    np.testing.assert_allclose(np.asarray(out_u), np.asarray(out_j[:n_u]), atol=1e-5)
    rows.append({"method": "jaxnn pool(convolve()) unfused", "device": dev, "images": n_u, "images/s": n_u / t_u,
                 "compile s": c_u, "vs": jaxnn_row(n_u)})
    torch_row = torch_timing(a, images, W, b, out_j)
    if torch_row is not None:
        torch_row["vs"] = jaxnn_row(torch_row["images"])
        rows.append(torch_row)
    if a.n_scipy > 0:
        n_s = min(a.n_scipy, a.n_images)
        out_s, t_s = bench_scipy(images[:n_s], W, b, P)
        np.testing.assert_allclose(out_s, np.asarray(out_j[:n_s]), atol=1e-4)
        rows.append({"method": "scipy.signal.convolve2d loop (UFLDL)", "device": "cpu (1 thread)", "images": n_s,
                     "images/s": n_s / t_s, "compile s": 0.0, "vs": jaxnn_row(n_s)})
    same = [r for n, r in sorted(jaxnn_rows.items()) if n != a.n_images]
    return rows, same


def torch_timing(a, images, W, b, out_j):
    """PyTorch's row (on the CPU: torch==2.13.0 is the CPU build), or None when skipped."""
    if a.no_torch:
        print("# PyTorch: skipped (--no-torch)")
        return None
    try:
        import torch
    except ImportError:
        print("# PyTorch: not installed (pip install torch==2.13.0), skipped")
        return None
    n_t = min(a.n_torch, a.n_images)
    out_t, t_t, c_t, threads = bench_torch(images[:n_t], W, b, a.pool, a.repeats, a.torch_batch)
    np.testing.assert_allclose(out_t, np.asarray(out_j[:n_t]), atol=1e-4)
    return {"method": f"torch {torch.__version__} conv2d+sigmoid+avg_pool2d (batch {a.torch_batch})",
            "device": f"cpu ({threads} threads)", "images": n_t, "images/s": n_t / t_t, "compile s": c_t}


def add_rates(rows, flops, peak, dev):
    """Each row's GFLOP/s (the output's work), % of JAX's device peak (same device only) and the
    speed-up of jaxnn on the same images."""
    for r in rows:
        r["GFLOP/s"] = r["images/s"] * flops / 1e9
        r["% matmul peak"] = 100.0 * r["GFLOP/s"] / peak if r["device"] == dev else ""
        vs = r.pop("vs", None)
        if vs is not None:
            r["jaxnn images/s (same images)"] = vs["images/s"]
            r["jaxnn speed-up (same images)"] = vs["images/s"] / r["images/s"]


def memory_rows(a):
    rows = []
    runs = [(n, False) for n in a.n_memory] + ([(max(a.n_memory), True)] if a.n_memory else [])
    for n, into in runs:
        m = measure_memory(n, a, into)
        rows.append({"images": n, "output": "out= NumPy array" if into else "returned JAX array",
                     "peak RSS MiB": m["rss_peak_mib"], "RSS after setup MiB": m["rss_before_mib"],
                     "input MiB": m["input_mib"], "output MiB": m["output_mib"],
                     "work MiB": m["rss_peak_mib"] - m["rss_before_mib"] - m["output_mib"]})
    if rows:
        print()
        print("Peak memory of a fresh process running jaxnn.conv.convolve_pool (peak RSS, VmHWM; 'after setup':"
              " JAX imported and the images made, input included; 'work' = peak - after setup - output):")
        print(table(rows, ["images", "output", "peak RSS MiB", "RSS after setup MiB", "input MiB",
                           "output MiB", "work MiB"]))
    return rows


def baseline_target(rows, prefix, factor, dev):
    """(name, met) of 'jaxnn >= factor x the baseline', on the same images, saying where devices differ."""
    r = next((r for r in rows if r["method"].startswith(prefix)), None)
    name = f">= {factor}x {'PyTorch' if prefix == 'torch' else 'SciPy loop'} (same images)"
    if r is None:
        return name, None
    if not r["device"].startswith(dev):
        name += f"; NOT like for like: jaxnn on {dev}, the baseline on {r['device']}"
    return name, r["jaxnn speed-up (same images)"] >= factor


def main():
    a = parse_args()
    if a.memory_child is not None:
        memory_child(a.memory_child, a.image, a.features, a.patch, a.pool, a.into)
        return
    if a.quick:
        a.n_images, a.n_unfused, a.n_torch, a.n_memory, a.repeats = 32, 4, 8, [200], 1
    k, p, S, P = a.features, a.patch, a.image, a.pool
    Hc, flops, dev = S - p + 1, output_flops(a), jax_device()
    kept = (Hc // P) * P
    print(f"# bench_conv: {k} features {p}x{p} over {S}x{S} images, sigmoid, {P}x{P} mean pooling "
          f"({Hc}x{Hc} maps -> {Hc // P}x{Hc // P}; the pooling keeps {kept}x{kept} positions)")
    print(f"# {machine()}")
    peak = matmul_peak_gflops()
    print(f"# float32 matmul peak on {dev} (jnp.dot {peak_size()}^2): {peak:.1f} GFLOP/s; FLOPs/image the output "
          f"needs ({kept}x{kept} positions): {flops / 1e9:.3f} GFLOP (the full {Hc}x{Hc} convolution: "
          f"{flops * Hc * Hc / kept**2 / 1e9:.3f})")
    images, W, b = make_problem(a.n_images, S, k, p)
    rows, same = timing_rows(a, images, W, b)
    add_rates(rows + same, flops, peak, dev)
    print()
    print(table(rows, ["method", "device", "images", "images/s", "jaxnn images/s (same images)",
                       "jaxnn speed-up (same images)", "GFLOP/s", "% matmul peak", "compile s"]))
    print("# GFLOP/s and % of peak count the work the output needs (the kept positions) in every row; "
          "% of peak only for rows on the device whose peak was measured")
    if same:
        print("# jaxnn on the baselines' image counts:")
        print(table(same, ["method", "device", "images", "images/s", "GFLOP/s", "% matmul peak", "compile s"]))
    # Ceiling: at 100% of the measured peak on the output's FLOPs, jaxnn would pool peak / flops images/s.
    ceiling_ips = peak * 1e9 / flops
    for r in (r for r in rows if not r["method"].startswith("jaxnn")):  # the baselines
        print(f"# ceiling vs {r['method'].split(' (')[0]} ({r['device']}): {ceiling_ips / r['images/s']:.1f}x "
              f"(jaxnn at 100% of the {dev} peak on the output's work: {ceiling_ips:.0f} images/s; "
              f"now {100 * rows[0]['images/s'] / ceiling_ips:.0f}% of that at {a.n_images} images)")
    mem_rows = memory_rows(a)
    targets = dict([baseline_target(rows, "torch", 10, dev), baseline_target(rows, "scipy", 100, dev)])
    targets[f">= 50% of matmul peak ({a.n_images} images, the output's work)"] = rows[0]["% matmul peak"] >= 50
    targets["peak memory < 1 GB (2,000 images)"] = (
        all(m["peak RSS MiB"] < 1000 for m in mem_rows if m["images"] <= 2000) if mem_rows else None)
    print()
    for name, ok in targets.items():
        print(f"# target {name}: {'met' if ok else ('not measured' if ok is None else 'NOT met')}")
    if a.json:
        res = {"config": vars(a), "machine": machine(), "device": dev, "matmul_peak_gflops": peak,
               "flops_per_image": flops, "rows": rows, "same_images": same, "memory": mem_rows, "targets": targets}
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
