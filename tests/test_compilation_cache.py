"""jaxnn's default persistent compilation cache (jaxnn/_compilation_cache.py).

Each end-to-end test runs a fresh interpreter (``import jaxnn`` configures the cache once per process)
with its own ``XDG_CACHE_HOME`` under ``tmp_path``; the rest of the suite runs with the cache off
(tests/conftest.py).
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from jaxnn._compilation_cache import ENV, MIN_COMPILE_TIME_S, cache_key, configure_default_cache, user_cache_home

# Imports jaxnn (after a compilation of JAX's when told "jax-first"), runs a tiny jaxnn.train (5 steps of a
# 2-3-1 XOR net) unless told "import", and prints the folder jaxnn reports with the persistent cache's hits
# (a jax.monitoring event).
CHILD = """
import json, sys
import jax
hits = []
jax.monitoring.register_event_listener(lambda e, **kw: hits.append(e) if e.endswith("cache_hits") else None)
import jax.numpy as jnp
if sys.argv[1] == "jax-first":
    jax.jit(lambda x: x * 7.0)(jnp.ones(2)).block_until_ready()
import jaxnn
if sys.argv[1] != "import":
    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    jax.block_until_ready(jaxnn.train(jaxnn.init_mlp(jax.random.key(0), [2, 3, 1]), X, Y, steps=5))
print(json.dumps({"dir": jaxnn.compilation_cache_dir(), "hits": len(hits)}))
"""

# Variables that would change what the child does: dropped so that each test sets what it means.
_CLEAN = (ENV, "JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
          "JAX_ENABLE_COMPILATION_CACHE", "XLA_FLAGS", "XDG_CACHE_HOME")


def child_env(tmp_path, env=None) -> dict:
    """The child's environment: this one without :data:`_CLEAN`, ``XDG_CACHE_HOME=tmp_path/home``, CPU only,
    then ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in _CLEAN}
    full.update({"XDG_CACHE_HOME": str(tmp_path / "home"), "JAX_PLATFORMS": "cpu"}, **(env or {}))
    return full


def run_child(tmp_path, env=None, what="fit"):
    """Run :data:`CHILD` in :func:`child_env`; returns (its report, its stderr)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, what], env=child_env(tmp_path, env), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def entries(folder) -> list[str]:
    """The cache entries JAX wrote in ``folder`` (files named ``<module>-<hash>-cache``)."""
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith("-cache")) if folder.is_dir() else []


def test_default_folder_gets_entries_and_a_second_process_loads_them(tmp_path):
    first, _ = run_child(tmp_path)
    folder = Path(first["dir"])
    assert folder == tmp_path / "home" / "jaxnn" / "xla" / cache_key(child_env(tmp_path), argv=["-c"])
    written = entries(folder)
    assert written and first["hits"] == 0
    if hasattr(os, "getuid"):
        assert folder.stat().st_mode & 0o777 == 0o700   # JAX runs what it loads: the user's own folder
    second, stderr = run_child(tmp_path)
    assert second["dir"] == first["dir"]
    # Every compilation of the second process comes from the cache: one hit per entry, nothing written again.
    # On some Intel CPUs XLA rejects its own entries on reload (jax-ml/jax#38445: "Target machine feature
    # +prefer-no-gather is not supported"): there the cache does not help, and this fails.
    assert second["hits"] == len(written) and entries(folder) == written, stderr[-2000:]


def test_import_after_jax_compiled_still_caches_later_compilations(tmp_path):
    # JAX opens its cache at the first compilation that finds a folder set, so what JAX compiled before
    # import jaxnn is not kept, and everything after it is.
    report, _ = run_child(tmp_path, what="jax-first")
    names = entries(report["dir"])
    assert any("train" in n for n in names) and not any("lambda" in n for n in names)


def test_env_off_leaves_the_cache_empty(tmp_path):
    report, _ = run_child(tmp_path, {ENV: "0"})
    assert report["dir"] is None and report["hits"] == 0
    assert not (tmp_path / "home").exists()


def test_xla_flags_give_another_folder(tmp_path):
    report, _ = run_child(tmp_path, {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    plain = tmp_path / "home" / "jaxnn" / "xla" / cache_key(child_env(tmp_path), argv=["-c"])
    assert Path(report["dir"]).parent == plain.parent and Path(report["dir"]) != plain
    assert entries(report["dir"]) and not plain.exists()


def test_jax_cache_configured_by_the_user_is_kept(tmp_path):
    own = str(tmp_path / "jax_own")
    report, _ = run_child(tmp_path, {"JAX_COMPILATION_CACHE_DIR": own}, what="import")
    assert report["dir"] == own
    assert not (tmp_path / "home").exists()


def test_unusable_cache_home_does_not_break_import(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")   # mkdir under a file fails, for root too
    report, stderr = run_child(tmp_path, {"XDG_CACHE_HOME": str(blocker)}, what="import")
    assert report["dir"] is None
    assert "compilation cache" not in stderr   # the default folder falls back silently


# --- in this process: configure_default_cache with an environment of the test's, no compilation --------------


@pytest.fixture
def restore_jax_cache_config():
    """Put back JAX's cache settings after a test that lets configure_default_cache change them (safe while
    nothing compiles in between: JAX opens its cache at the first compilation after a folder is set)."""
    import jax

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs", "jax_enable_compilation_cache")
    saved = {name: getattr(jax.config, name) for name in names}
    yield jax
    for name, value in saved.items():
        jax.config.update(name, value)


@pytest.mark.parametrize("value", ["0", "off", "False", "no"])
def test_configure_off(tmp_path, restore_jax_cache_config, value):
    jax = restore_jax_cache_config
    jax.config.update("jax_compilation_cache_dir", None)
    assert configure_default_cache({ENV: value, "XDG_CACHE_HOME": str(tmp_path)}) is None
    assert jax.config.jax_compilation_cache_dir is None and not any(tmp_path.iterdir())


def test_configure_default_and_named_folders(tmp_path, restore_jax_cache_config):
    jax = restore_jax_cache_config
    jax.config.update("jax_compilation_cache_dir", None)
    environ = {"XDG_CACHE_HOME": str(tmp_path / "home")}
    folder = configure_default_cache(environ)
    assert folder == str(tmp_path / "home" / "jaxnn" / "xla" / cache_key(environ))
    assert jax.config.jax_compilation_cache_dir == folder and Path(folder).is_dir()
    assert jax.config.jax_persistent_cache_min_compile_time_secs == MIN_COMPILE_TIME_S
    jax.config.update("jax_compilation_cache_dir", None)
    for value in ("1", "on", "TRUE", " "):
        assert configure_default_cache({**environ, ENV: value}) == folder
        jax.config.update("jax_compilation_cache_dir", None)
    named = configure_default_cache({**environ, ENV: str(tmp_path / "mine")})
    assert named == str(tmp_path / "mine" / cache_key(environ)) == jax.config.jax_compilation_cache_dir


def test_configure_keeps_the_users_jax_settings(tmp_path, restore_jax_cache_config):
    jax = restore_jax_cache_config
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "own"))   # set before import jaxnn
    assert configure_default_cache(environ) == str(tmp_path / "own") == jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    assert configure_default_cache({**environ, "JAX_COMPILATION_CACHE_DIR": "/x"}) is None   # JAX's env var
    jax.config.update("jax_enable_compilation_cache", False)
    assert configure_default_cache(environ) is None
    jax.config.update("jax_enable_compilation_cache", True)
    assert not any(tmp_path.iterdir()) and jax.config.jax_compilation_cache_dir is None
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.5)   # a threshold the user chose
    assert configure_default_cache(environ) is not None
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 2.5
    jax.config.update("jax_compilation_cache_dir", None)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    configure_default_cache({**environ, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "1.0"})
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 1.0


def test_unusable_folders(tmp_path, restore_jax_cache_config):
    jax = restore_jax_cache_config
    jax.config.update("jax_compilation_cache_dir", None)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the default folder: silent
        assert configure_default_cache({"XDG_CACHE_HOME": str(blocker)}) is None
    with pytest.warns(RuntimeWarning, match=f"{ENV}=.*cannot use") as record:   # a folder the user named
        assert configure_default_cache({ENV: str(blocker / "cache")}) is None
    assert len(record) == 1 and jax.config.jax_compilation_cache_dir is None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_folder_writable_by_others_is_refused(tmp_path, restore_jax_cache_config):
    jax = restore_jax_cache_config
    jax.config.update("jax_compilation_cache_dir", None)
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = tmp_path / "jaxnn" / "xla" / cache_key(environ)
    folder.mkdir(parents=True)
    folder.chmod(0o777)   # anyone could plant an executable here
    assert configure_default_cache(environ) is None and jax.config.jax_compilation_cache_dir is None
    folder.chmod(0o700)
    assert configure_default_cache(environ) == str(folder)


def test_key_covers_xla_settings_and_is_stable():
    base = cache_key({}, argv=[])
    assert base == cache_key({}, argv=[]) and len(base) == 16 and int(base, 16) >= 0
    assert cache_key({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, argv=[]) != base
    assert cache_key({"LIBTPU_INIT_ARGS": "--x=1"}, argv=[]) != base
    assert cache_key({}, argv=["script.py", "--xla_dump_to=/tmp/d"]) != base
    assert cache_key({"HOME": "/elsewhere", "OTHER": "1"}, argv=["script.py", "--verbose"]) == base


def test_user_cache_home_per_system(tmp_path):
    assert user_cache_home({"XDG_CACHE_HOME": str(tmp_path)}, "Linux") == tmp_path
    assert user_cache_home({"XDG_CACHE_HOME": "relative/path"}, "Linux") == Path.home() / ".cache"
    assert user_cache_home({}, "Linux") == Path.home() / ".cache"
    assert user_cache_home({}, "Darwin") == Path.home() / "Library" / "Caches"
    assert user_cache_home({"LOCALAPPDATA": str(tmp_path)}, "Windows") == tmp_path
