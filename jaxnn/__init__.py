"""jaxnn: a functional JAX toolkit for small neural networks, after the lecture "Neural networks II".

Params are pytrees (a list of ``{"W": (s_{l+1}, s_l), "b": (s_{l+1},)}``); everything is a pure
function: :func:`init_mlp`, :func:`forward`, :func:`objective`, :func:`backprop` (the explicit
delta algorithm) and :func:`train` (compiled gradient descent, one ``lax.scan`` under one ``jit``).
"""

from jaxnn import autoencoder, conv, display, edges, lbfgs, patches, softmax, sweeps  # noqa: E402  (submodules)
from jaxnn import results as _results  # noqa: F401  (old module paths: loaded here, before the name `sweep`
from jaxnn import sweep as _sweep_module  # noqa: F401  is bound to the function below)
from jaxnn._compilation_cache import compilation_cache_dir, configure_default_cache
from jaxnn.activations import ACTIVATIONS, Activation, get_activation
from jaxnn.backprop import backprop
from jaxnn.data import (
                        TargetScaler,
                        decode_labels,
                        encode_labels,
                        fit_target_scaler,
                        scale_targets,
                        target_range,
                        unscale_targets,
)
from jaxnn.io import load, save
from jaxnn.losses import LOSSES, data_term, objective, ridge
from jaxnn.mlp import Cache, forward, forward_cache, init_mlp, layer_sizes
from jaxnn.sweeps import SweepResult, init_distributed, sweep, use_cpu_cores
from jaxnn.train import train
from jaxnn.trainable import Trainable, trainable

# Compilations survive across processes: JAX's persistent cache in <user cache dir>/jaxnn/xla/<key>, unless
# JAX's own cache is configured or JAXNN_COMPILATION_CACHE=0 (see jaxnn/_compilation_cache.py).
configure_default_cache()
del configure_default_cache

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation",
    "init_mlp", "forward", "forward_cache", "Cache", "layer_sizes",
    "objective", "data_term", "ridge", "LOSSES",
    "backprop", "train", "trainable", "Trainable",
    "encode_labels", "decode_labels", "target_range",
    "TargetScaler", "fit_target_scaler", "scale_targets", "unscale_targets",
    "save", "load", "compilation_cache_dir",
    "sweep", "SweepResult", "init_distributed", "use_cpu_cores",
    "sweeps", "autoencoder", "conv", "softmax", "patches", "edges", "lbfgs", "display",
]
