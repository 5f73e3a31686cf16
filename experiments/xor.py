"""XOR with the lecture's 2-3-1 sigmoid network: the symmetry failure of zero init, and convergence
from a small random init.

    python experiments/xor.py [--steps 3000] [--lr 5.0] [--seed 0] [--out runs/xor]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import provenance, write_json  # noqa: E402

import jaxnn  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000, help="gradient-descent steps (default 3000)")
    p.add_argument("--lr", type=float, default=5.0, help="learning rate alpha (default 5.0)")
    p.add_argument("--scales", type=float, nargs="+", default=[0.0, 0.01, 1.0], help="init scales eps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/xor")
    a = p.parse_args(argv)

    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    rows = []
    print(f"XOR, 2-3-1 sigmoid, squared error, lr={a.lr}, {a.steps} steps")
    for scale in a.scales:
        params = jaxnn.init_mlp(jax.random.key(a.seed), [2, 3, 1], scale=scale)
        params, hist = jaxnn.train(params, X, Y, lr=a.lr, steps=a.steps)
        H = jaxnn.forward(params, X)
        pred = np.asarray(jaxnn.decode_labels(H))
        W1 = np.asarray(params[0]["W"])
        distinct = len({tuple(np.round(w, 6)) for w in W1})
        row = {"scale": scale, "final_loss": float(hist["loss"][-1]), "diverged_at": int(hist["diverged_at"]),
               "correct": int((pred == np.array([0, 1, 1, 0])).sum()), "distinct_hidden_units": distinct,
               "outputs": [round(float(v), 3) for v in H[:, 0]]}
        rows.append(row)
        print(f"  scale={scale:<6g} final J={row['final_loss']:.4g}  correct={row['correct']}/4  "
              f"distinct hidden units={distinct}/3  h(x)={row['outputs']}")
    write_json(os.path.join(a.out, "results.json"), {"results": rows, "provenance": provenance()})
    print(f"wrote {os.path.join(a.out, 'results.json')}")
    return rows


if __name__ == "__main__":
    main()
