"""The sparse autoencoder's objective and fit timed in one checkout of jaxnn, to compare two checkouts.

UFLDL's exercise (``bench_autoencoder.py``'s configuration): 10,000 8x8 patches, 64-25-64, rho = 0.01,
lam = 1e-4, beta = 3, float32, on the CPU.  Printed for the checkout given (its ``jaxnn`` is imported):

* ``objective ms`` / ``objective and gradient ms``: one jitted ``sparse_loss`` / ``value_and_grad`` of it at
  the initial weights, best of 20;
* ``fit lbfgs s`` / ``fit gd s``: ``autoencoder.compile_fit`` for 400 iterations (L-BFGS, memory 10; plain
  gradient descent, lr 1), best of 5, and the final objective (runs that differ in the last bits of float32
  take other L-BFGS paths).

Alternate the checkouts so that a change in the machine's load reaches both, e.g. (an older checkout in
``../old``)::

    for r in 1 2; do for d in ../old .; do python benchmarks/bench_autoencoder_ab.py $d; done; done
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxnn import autoencoder as ae  # noqa: E402
from jaxnn import patches  # noqa: E402


def best(f, repeats: int) -> float:
    jax.block_until_ready(f())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    X = patches.ufldl_patches(jax.random.key(0), 10000, 8, dtype=jnp.float32)
    p0 = ae.init(jax.random.key(1), 64, 25)
    loss = jax.jit(lambda p: ae.sparse_loss(p, X, 1e-4, 3.0, 0.01))
    both = jax.jit(jax.value_and_grad(lambda p: ae.sparse_loss(p, X, 1e-4, 3.0, 0.01)))
    out = {"objective ms": round(1e3 * best(lambda: loss(p0), 20), 3),
           "objective and gradient ms": round(1e3 * best(lambda: both(p0), 20), 3)}
    for method, lr in (("lbfgs", None), ("gd", 1.0)):
        run = ae.compile_fit(p0, X, lam=1e-4, beta=3.0, rho=0.01, steps=400, method=method, lr=lr,
                             output_activation="sigmoid", memory_size=10)
        out[f"fit {method} s"] = round(best(run, 5), 3)
        out[f"fit {method} final objective"] = round(float(run()[1]["loss"][-1]), 5)
    print(ae.__file__, out, flush=True)


if __name__ == "__main__":
    main()
