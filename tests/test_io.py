import gc
import json
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


def test_file_is_plain_npz_with_generated_member_names(tmp_path):
    jaxnn.save(tmp_path / "p.npz", jaxnn.init_mlp(jax.random.key(0), [2, 3, 1]))
    with np.load(tmp_path / "p.npz") as z:
        assert set(z.files) == {"a0", "a1", "a2", "a3", "__jaxnn__"}
        meta = json.loads(str(z["__jaxnn__"]))
        assert meta["version"] == 2 and meta["tree"]["list"][1]["dict"]["W"] == {"leaf": "a2"}
        assert z["a2"].shape == (1, 3)


@pytest.mark.parametrize("tree", [{"file": jnp.arange(2.0)}, {"allow_pickle": jnp.arange(2.0)},
                                  {"": jnp.zeros(2), "leaf": jnp.ones(2)}, {"__jaxnn__": jnp.ones(3)},
                                  {"a1": jnp.zeros(1), "a0": jnp.ones(1)}, {"a": {"b": jnp.zeros(1)}, "a/b": None}])
def test_dict_keys_never_collide_with_savez_or_each_other(tmp_path, tree):
    """Members were named by tree path: {"file": x} raised NumPy's TypeError (savez's own argument),
    {"allow_pickle": x} was silently dropped (load: corrupt), {"": zeros, "leaf": ones} loaded ones for ''."""
    if "a/b" in tree:  # '/' stays reserved: paths in messages are joined by it
        with pytest.raises(TypeError, match="dict keys must be strings without '/'"):
            jaxnn.save(tmp_path / "k.npz", tree)
        return
    jaxnn.save(tmp_path / "k.npz", tree)
    _same(tree, jaxnn.load(tmp_path / "k.npz"))


def _write_version_1(path, arrays, tree):
    """A file as jaxnn.save wrote it before version 2: members named by tree path."""
    meta = json.dumps({"format": "jaxnn.pytree", "version": 1, "tree": tree})
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{"__jaxnn__": np.array(meta)})


def test_version_1_files_still_load(tmp_path):
    W, b = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.array([0.5, -1.0], np.float32)
    _write_version_1(tmp_path / "v1.npz", {"0/W": W, "0/b": b, "1": np.int32(7)},
                     {"tuple": [{"dict": {"W": {"leaf": "0/W"}, "b": {"leaf": "0/b"}, "c": {"none": None}}},
                                {"leaf": "1"}]})
    _same(jaxnn.load(tmp_path / "v1.npz"), ({"W": jnp.asarray(W), "b": jnp.asarray(b), "c": None}, jnp.int32(7)))
    _write_version_1(tmp_path / "leaf.npz", {"leaf": np.ones(2, np.float32)}, {"leaf": "leaf"})  # a root leaf
    _same(jaxnn.load(tmp_path / "leaf.npz"), jnp.ones(2))


def test_bfloat16_float8_and_int4_roundtrip_bit_exactly(tmp_path):
    """NumPy writes ml_dtypes' types as raw bytes ('<V2'): a bfloat16 leaf saved, then load said corrupt.
    Their bits are stored as the same-width uint and viewed back (NaN, inf, -0 and subnormals included)."""
    bits = np.array([0x0000, 0x8000, 0x0001, 0x7F80, 0xFF80, 0x7FC1, 0x3F80, 0xC2F7], np.uint16)
    tree = {"bf16": jnp.asarray(bits.view(jnp.bfloat16)).reshape(2, 4),
            "f8": jnp.array([0.5, -448.0, 0.0], jnp.float8_e4m3fn), "i4": jnp.array([-8, 7, 0], jnp.int4),
            "f32": jnp.ones(2)}
    jaxnn.save(tmp_path / "b.npz", tree)
    back = jaxnn.load(tmp_path / "b.npz")
    for k in tree:
        assert back[k].dtype == tree[k].dtype and back[k].shape == tree[k].shape
    np.testing.assert_array_equal(np.asarray(back["bf16"]).view(np.uint16).ravel(), bits)
    np.testing.assert_array_equal(np.asarray(back["f8"]).view(np.uint8), np.asarray(tree["f8"]).view(np.uint8))
    np.testing.assert_array_equal(np.asarray(back["i4"], np.int8), [-8, 7, 0])
    with np.load(tmp_path / "b.npz") as z:
        assert z["a0"].dtype == np.uint16 and z["a2"].dtype == np.uint8


@pytest.mark.parametrize("leaf, what", [(np.array(["a", "b"]), "an array of dtype <U1"),
                                        (np.array([None], object), "an array of dtype object"),
                                        (jax.random.key(0), "a PRNG key array")])
def test_unsupported_dtypes_are_rejected_at_save(tmp_path, leaf, what):
    with pytest.raises(TypeError, match=rf"^params: cannot save {what} at x/0"):
        jaxnn.save(tmp_path / "u.npz", {"x": [leaf]})
    assert not (tmp_path / "u.npz").exists()


def test_64_bit_leaves_load_as_32_bit_without_x64(tmp_path):
    """The documented exception to bit-exactness: a float64 / int64 leaf (a NumPy default) loads as JAX's
    32-bit type with 64-bit mode off, exactly under jax.enable_x64()."""
    tree = {"W": np.array([0.1, 1e-300]), "n": np.arange(3)}
    jaxnn.save(tmp_path / "n.npz", tree)
    back = jaxnn.load(tmp_path / "n.npz")
    assert back["W"].dtype == jnp.float32 and back["n"].dtype == jnp.int32
    with jax.enable_x64(True):
        back = jaxnn.load(tmp_path / "n.npz")
        assert back["W"].dtype == jnp.float64 and back["n"].dtype == jnp.int64
        np.testing.assert_array_equal(back["W"], tree["W"])


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
