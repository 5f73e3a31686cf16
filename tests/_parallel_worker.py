"""Subprocess worker for tests/test_parallel.py: trains the same networks with and without data
parallelism on the devices XLA_FLAGS gives this process and saves both results.

  python tests/_parallel_worker.py OUT.npz [CASE,CASE,...]   (default: every case)

Saves ``{case}/{mode}/{name}`` arrays (mode ``dp`` = data_parallel=True, ``one`` = False, ``default`` =
None) and ``checks/...`` flags for what must hold under tracing.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxnn  # noqa: E402
from jaxnn import parallel  # noqa: E402


def problem(m, sizes, key=0, classes=False):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    params = jaxnn.init_mlp(k1, sizes, scale=0.3)
    X = jax.random.normal(k2, (m, sizes[0]))
    if classes:
        Y = jax.nn.one_hot(jax.random.randint(k3, (m,), 0, sizes[-1]), sizes[-1])
    else:
        Y = jax.nn.sigmoid(X @ jax.random.normal(k3, (sizes[0], sizes[-1])))
    return params, X, Y


CASES = {  # name: (m, sizes, train kwargs)
    "full": (64, [5, 7, 3], dict(lr=0.5, steps=30, lam=1e-3)),
    "full_padded": (37, [5, 7, 3], dict(lr=0.5, steps=30, lam=1e-3)),
    "backprop_padded": (30, [4, 6, 5, 2], dict(lr=0.3, steps=25, gradient="backprop", activation="tanh",
                                                output_activation="sigmoid")),
    "softmax_ce_padded": (39, [5, 8, 4], dict(lr=0.2, steps=25, output_activation="softmax",
                                                loss="cross_entropy", classes=True)),
    "adam_padded": (41, [5, 7, 3], dict(lr=1e-2, steps=25, optimizer=optax.adam)),
    "minibatch": (37, [5, 7, 3], dict(lr=0.5, steps=30, batch_size=8, key=jax.random.key(3))),
    "diverges": (37, [5, 7, 3], dict(lr=1e6, steps=30, activation="identity")),
    "big_default": (1024, [5, 7, 3], dict(lr=0.5, steps=5)),  # >= 256 samples per device: on by default
    "wide": (1024, [200, 200, 3], dict(lr=0.1, steps=3)),  # a 200 x 200 weight matrix: off by default
}


def main(out, only=None):
    res = {"checks/n_devices": np.int32(jax.local_device_count())}
    for name, (m, sizes, kw) in CASES.items():
        if only and name not in only:
            continue
        kw = dict(kw)
        params, X, Y = problem(m, sizes, classes=kw.pop("classes", False))
        for mode, dp in (("dp", True), ("one", False), ("default", None)):
            p, h = jaxnn.train(params, X, Y, data_parallel=dp, **kw)
            for l, layer in enumerate(p):
                res[f"{name}/{mode}/W{l}"] = np.asarray(layer["W"])
                res[f"{name}/{mode}/b{l}"] = np.asarray(layer["b"])
            for k in ("loss", "diverged_at"):
                res[f"{name}/{mode}/{k}"] = np.asarray(h[k])
            res[f"{name}/{mode}/devices"] = np.asarray(h.get("devices", 1))  # absent: one device
            if mode == "dp":  # the returned params work with one-device arrays, in and out of jit
                res[f"{name}/dp/forward"] = np.asarray(jaxnn.forward(p, X[:3], kw.get("activation", "sigmoid"),
                                                                     kw.get("output_activation")))
                # (8 samples: one program per layer shape, shared by the cases of equal sizes)
                jaxnn.train(p, X[:8], Y[:8], lr=0.1, steps=2, data_parallel=False)

    # The default rule, on this process's devices.
    n = jax.local_device_count()
    rule = dict(m=256 * n, full=True, traced=False, layer_weights=parallel.MAX_LAYER_WEIGHTS)
    res["checks/rule"] = np.array([
        parallel.n_devices(None, **rule),
        parallel.n_devices(None, **dict(rule, m=256 * n - 1)),
        parallel.n_devices(None, **dict(rule, full=False)),
        parallel.n_devices(None, **dict(rule, traced=True)),
        parallel.n_devices(None, **dict(rule, layer_weights=parallel.MAX_LAYER_WEIGHTS + 1)),
        parallel.n_devices(True, **dict(rule, m=3, full=False, layer_weights=10 ** 6)),
    ])

    # JAXNN_DATA_PARALLEL=off never shards by default; auto measures once per shape class and keeps it.
    os.environ[parallel.POLICY_ENV] = "off"
    res["checks/rule_off"] = np.array([parallel.n_devices(None, **rule), parallel.n_devices(False, **rule),
                                       parallel.n_devices(True, **rule)])
    os.environ[parallel.POLICY_ENV] = "auto"
    res["checks/auto_devices"] = parallel.n_devices(None, **dict(rule, m=300 * n))
    res["checks/auto_again"] = parallel.n_devices(None, **dict(rule, m=500 * n))  # the same class
    (cal,) = parallel.calibration().values()
    res["checks/auto_classes"] = len(parallel.calibration())
    res["checks/auto_calibrated"], res["checks/auto_one"], res["checks/auto_sharded"] = (
        cal["devices"], cal["one"], cal["sharded"])
    res["checks/auto_outside_region"] = parallel.n_devices(None, **dict(rule, full=False))
    os.environ[parallel.POLICY_ENV] = "on"

    # Under an outer trace train stays on one device, as inside jaxnn.sweep.
    # (full_padded's problem and settings: the plain run is that case's one-device program, already compiled)
    m, sizes, kw = CASES["full_padded"]
    params, X, Y = problem(m, sizes)
    steps, lam = kw["steps"], kw["lam"]
    lanes = jax.jit(jax.vmap(lambda lr: jaxnn.train(params, X, Y, lr=lr, steps=steps, lam=lam)[1]))(
        jnp.array([0.1, 0.5]))
    res["checks/vmap_one_device"] = np.bool_("devices" not in lanes)
    res["checks/vmap_loss"] = np.asarray(lanes["loss"][1])
    res["checks/plain_loss"] = np.asarray(
        jaxnn.train(params, X, Y, lr=0.5, steps=steps, lam=lam, data_parallel=False)[1]["loss"])
    try:
        jax.vmap(lambda lr: jaxnn.train(params, X, Y, lr=lr, steps=3, data_parallel=True)[1])(jnp.array([0.1]))
        res["checks/traced_true_raises"] = np.bool_(False)
    except ValueError as e:
        res["checks/traced_true_raises"] = np.bool_("data_parallel: True needs concrete inputs" in str(e))
    grid = jaxnn.sweep(lambda key, lr: {"loss": jaxnn.train(params, X, Y, lr=lr, steps=steps, lam=lam)[1]["loss"]},
                       {"lr": [0.1, 0.5]}, key=jax.random.key(0), progress=False)
    res["checks/sweep_loss"] = np.asarray(grid["loss"]).reshape(-1, steps)[-1]
    np.savez(out, **res)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else None)
