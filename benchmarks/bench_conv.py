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

Reported: images/s (compile time excluded, reported separately), ratios to jaxnn, GFLOP/s counting
the FLOPs of the full 'valid' convolution (2 * 89 * 89 * 400 * 64 per image) as a fraction of the
measured float32 matmul peak, and the peak resident memory (VmHWM) of a fresh process that pools
2,000 and 4,000 images (returning a JAX array), and 4,000 images into a preallocated ``out=`` array:
what grows with the number of images is the input and output, not the work.

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=2000,
                    help="images for the jaxnn timing (default: the 2,000 of the memory target; a call pays a "
                         "fixed cost, so 256 images run at ~80%% of this rate)")
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
    a = ap.parse_args()
    if a.memory_child is not None:
        memory_child(a.memory_child, a.image, a.features, a.patch, a.pool, a.into)
        return
    if a.quick:
        a.n_images, a.n_unfused, a.n_torch, a.n_memory, a.repeats = 32, 4, 8, [200], 1

    k, p, S, P = a.features, a.patch, a.image, a.pool
    Hc = S - p + 1
    flops = 2.0 * Hc * Hc * k * p * p  # full 'valid' convolution, per image
    print(f"# bench_conv: {k} features {p}x{p} over {S}x{S} images, sigmoid, {P}x{P} mean pooling "
          f"({Hc}x{Hc} maps -> {Hc // P}x{Hc // P})")
    print(f"# {machine()}")
    peak = matmul_peak_gflops()
    print(f"# float32 matmul peak (jnp.dot {peak_size()}^2): {peak:.1f} GFLOP/s; FLOPs/image (full valid conv) "
          f"{flops / 1e9:.3f} GFLOP")

    images, W, b = make_problem(a.n_images, S, k, p)
    rows, res = [], {"config": vars(a), "machine": machine(), "matmul_peak_gflops": peak}

    out_j, t_j, c_j = bench_jaxnn(images, W, b, P, a.repeats)
    ips_j = a.n_images / t_j
    rows.append({"method": "jaxnn.conv.convolve_pool", "images": a.n_images, "images/s": ips_j, "compile s": c_j})

    n_u = min(a.n_unfused, a.n_images)
    out_u, t_u, c_u = bench_jaxnn_unfused(images[:n_u], W, b, P, a.repeats)
    np.testing.assert_allclose(np.asarray(out_u), np.asarray(out_j[:n_u]), atol=1e-5)
    rows.append({"method": "jaxnn pool(convolve()) unfused", "images": n_u, "images/s": n_u / t_u, "compile s": c_u})

    if a.no_torch:
        print("# PyTorch: skipped (--no-torch)")
    else:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("# PyTorch: not installed (pip install torch==2.13.0), skipped")
        else:
            n_t = min(a.n_torch, a.n_images)
            out_t, t_t, c_t, threads = bench_torch(images[:n_t], W, b, P, a.repeats, a.torch_batch)
            np.testing.assert_allclose(out_t, np.asarray(out_j[:n_t]), atol=1e-4)
            rows.append({"method": f"torch {torch.__version__} conv2d+sigmoid+avg_pool2d ({threads} threads, "
                                   f"batch {a.torch_batch})", "images": n_t, "images/s": n_t / t_t,
                         "compile s": c_t})

    if a.n_scipy > 0:
        n_s = min(a.n_scipy, a.n_images)
        out_s, t_s = bench_scipy(images[:n_s], W, b, P)
        np.testing.assert_allclose(out_s, np.asarray(out_j[:n_s]), atol=1e-4)
        rows.append({"method": "scipy.signal.convolve2d loop (UFLDL)", "images": n_s, "images/s": n_s / t_s,
                     "compile s": 0.0})

    for r in rows:
        r["jaxnn speed-up"] = ips_j / r["images/s"]
        r["GFLOP/s"] = r["images/s"] * flops / 1e9
        r["% matmul peak"] = 100.0 * r["GFLOP/s"] / peak
    print()
    print(table(rows, ["method", "images", "images/s", "jaxnn speed-up", "GFLOP/s", "% matmul peak", "compile s"]))
    res["rows"] = rows
    # Ceiling: convolve_pool computes only the (Hp * pool)^2 positions the pooling keeps; at 100% of the
    # measured peak on those FLOPs it would pool peak / (kept * flops) images/s.
    Hp = (a.image - a.patch + 1) // a.pool
    kept = (Hp * a.pool) ** 2 / (a.image - a.patch + 1) ** 2
    ceiling_ips = peak * 1e9 / (kept * flops)
    for r in (r for r in rows if not r["method"].startswith("jaxnn")):  # the baselines
        print(f"# ceiling vs {r['method'].split(' (')[0]}: {ceiling_ips / r['images/s']:.1f}x (jaxnn at 100% of "
              f"the peak on the {100 * kept:.0f}% of the positions it computes: {ceiling_ips:.0f} images/s; "
              f"now {100 * ips_j / ceiling_ips:.0f}% of that)")

    mem_rows = []
    runs = [(n, False) for n in a.n_memory] + ([(max(a.n_memory), True)] if a.n_memory else [])
    for n, into in runs:
        m = measure_memory(n, a, into)
        mem_rows.append({"images": n, "output": "out= NumPy array" if into else "returned JAX array",
                         "peak RSS MiB": m["rss_peak_mib"], "RSS after setup MiB": m["rss_before_mib"],
                         "input MiB": m["input_mib"], "output MiB": m["output_mib"],
                         "work MiB": m["rss_peak_mib"] - m["rss_before_mib"] - m["output_mib"]})
    if mem_rows:
        print()
        print("Peak memory of a fresh process running jaxnn.conv.convolve_pool (peak RSS, VmHWM; 'after setup':"
              " JAX imported and the images made, input included; 'work' = peak - after setup - output):")
        print(table(mem_rows, ["images", "output", "peak RSS MiB", "RSS after setup MiB", "input MiB",
                               "output MiB", "work MiB"]))
    res["memory"] = mem_rows

    targets = {
        ">= 10x PyTorch": next((r["jaxnn speed-up"] >= 10 for r in rows if r["method"].startswith("torch")), None),
        ">= 100x SciPy loop": next((r["jaxnn speed-up"] >= 100 for r in rows if r["method"].startswith("scipy")), None),
        ">= 50% of matmul peak": rows[0]["% matmul peak"] >= 50,
        "peak memory < 1 GB (2,000 images)": (all(m["peak RSS MiB"] < 1000 for m in mem_rows if m["images"] <= 2000)
                                              if mem_rows else None),
    }
    print()
    for name, ok in targets.items():
        print(f"# target {name}: {'met' if ok else ('not measured' if ok is None else 'NOT met')}")
    res["targets"] = targets
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
