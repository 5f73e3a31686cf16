# The persistent compilation cache is off in every test (and in every pytest-xdist worker): see conftest.py at the
# repository's root, which sets JAXNN_COMPILATION_CACHE=0 before jaxnn is imported.
import gc

import jax
import jax.numpy as jnp
import pytest

# The tests check mathematics to float32/float64 tolerances.  On GPUs JAX's default float32 matmul
# precision may be TF32 (a 10-bit mantissa), which those tolerances do not allow for; ask for full
# precision everywhere (CPUs always compute in full precision, so CI is unaffected).
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """After each test module, drop every compiled program this process holds (JAX's caches, the sweep
    executor's and the lanes'). A pytest-xdist worker runs hundreds of tests in one process, and each XLA:CPU
    executable keeps memory mappings of its code: kept all suite long, they reached the kernel's limit on
    mappings (vm.max_map_count, 65530 here) and later compilations failed ("Failed to materialize symbols",
    MemoryError, a crash in the compiler)."""
    yield
    from jaxnn.sweeps import executor, lanes

    executor.clear_compiled()
    lanes.clear_compiled()
    jax.clear_caches()
    gc.collect()


@pytest.fixture
def x64():
    """Run a test with float64 enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def xor():
    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    return X, Y
