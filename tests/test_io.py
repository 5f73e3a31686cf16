import gc
import re
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn


def _same(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_params_roundtrip_exactly(tmp_path):
    params = jaxnn.init_mlp(jax.random.key(0), [3, 7, 2], scale=0.3)
    path = tmp_path / "p.npz"
    jaxnn.save(path, params)
    loaded = jaxnn.load(path)
    assert isinstance(loaded, list) and isinstance(loaded[0], dict)
    _same(params, loaded)


def test_any_pytree_roundtrips(tmp_path):
    tree = {"enc": [{"W": jnp.ones((2, 3), jnp.float16)}, None], "step": jnp.array(3, jnp.int32),
            "pair": (jnp.arange(4.0), jnp.zeros((0, 2))), "flag": jnp.array(True)}
    jaxnn.save(tmp_path / "t.npz", tree)
    loaded = jaxnn.load(tmp_path / "t.npz")
    assert isinstance(loaded["pair"], tuple) and loaded["enc"][1] is None
    _same(tree, loaded)


def test_float64_roundtrip(tmp_path, x64):
    params = jaxnn.init_mlp(jax.random.key(1), [2, 2])
    jaxnn.save(tmp_path / "p.npz", params)
    _same(params, jaxnn.load(tmp_path / "p.npz"))
    assert jaxnn.load(tmp_path / "p.npz")[0]["W"].dtype == jnp.float64


def test_file_is_plain_npz_keyed_by_path(tmp_path):
    jaxnn.save(tmp_path / "p.npz", jaxnn.init_mlp(jax.random.key(0), [2, 3, 1]))
    with np.load(tmp_path / "p.npz") as z:
        assert {"0/W", "0/b", "1/W", "1/b"} <= set(z.files)
        assert z["1/W"].shape == (1, 3)


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "p.npz"
    jaxnn.save(path, jaxnn.init_mlp(jax.random.key(0), [20, 30, 1]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt jaxnn params file|not a readable jaxnn params file"):
        jaxnn.load(path)


def test_foreign_files_give_clear_errors(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not a jaxnn params file"):
        jaxnn.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="jaxnn params file"):
        jaxnn.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        jaxnn.load(tmp_path / "missing.npz")


def test_unsupported_tree_rejected(tmp_path):
    with pytest.raises(TypeError, match="cannot save a set"):
        jaxnn.save(tmp_path / "x.npz", {"a": {1, 2}})
    with pytest.raises(TypeError, match="dict keys must be strings"):
        jaxnn.save(tmp_path / "x.npz", {1: jnp.ones(2)})
    assert not (tmp_path / "x.npz").exists()


def test_save_into_missing_folder_names_the_path_and_writes_nothing(tmp_path):
    target = tmp_path / "missing" / "p.npz"
    with pytest.raises(ValueError, match=r"path: expected a file path in an existing folder.*'.*missing.*' does not"):
        jaxnn.save(target, jaxnn.init_mlp(jax.random.key(0), [2, 1]))
    with pytest.raises(ValueError) as info:
        jaxnn.save(target, jaxnn.init_mlp(jax.random.key(0), [2, 1]))
    assert ".tmp-" not in str(info.value) and str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="path: expected a file path, got .* which is a folder"):
        jaxnn.save(tmp_path, [jnp.ones(2)])
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_checks_the_folder_before_writing(tmp_path):
    calls = []
    with pytest.raises(ValueError, match="does not exist"):
        jaxnn.io.atomic_write(tmp_path / "no" / "x.txt", calls.append)
    assert calls == []


def _corrupt_files(tmp_path):
    """(path, bytes) of files that jaxnn.load must reject: a zip header with garbage after it (np.load leaked
    its handle on these), a truncated archive, a single .npy array, text, an empty file."""
    good = tmp_path / "good.npz"
    jaxnn.save(good, jaxnn.init_mlp(jax.random.key(0), [20, 30, 1]))
    data = good.read_bytes()
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    return {"zip_garbage.npz": b"PK\x03\x04" + b"garbage" * 20, "truncated.npz": data[: len(data) // 2],
            "tail_cut.npz": data[:-30], "array.npz": npy.read_bytes(), "text.npz": b"hello", "empty.npz": b""}


def test_corrupt_files_raise_naming_the_path_and_close_the_file(tmp_path, monkeypatch):
    for name, content in _corrupt_files(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(content)
        seen = []  # an unclosed file warns when collected, through sys.unraisablehook
        monkeypatch.setattr(sys, "unraisablehook", seen.append)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(ValueError, match=f"{re.escape(str(path))}: .*jaxnn params file"):
                jaxnn.load(path)
            gc.collect()
        monkeypatch.undo()
        assert not [s for s in seen if isinstance(s.exc_value, ResourceWarning)], (name, seen)


def test_corrupt_file_error_names_the_path(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04" + b"x" * 50)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": truncated or corrupt jaxnn params file"):
        jaxnn.load(path)
    with pytest.raises(ValueError, match="path: expected a jaxnn params file, got .* which is a folder"):
        jaxnn.load(tmp_path)
