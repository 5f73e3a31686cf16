"""Save and load params pytrees (and any pytree of arrays) exactly.

File format (a NumPy ``.npz`` archive, readable without jaxnn):

* one array per leaf, named ``"a0"``, ``"a1"``, ... in the order the tree lists its leaves;
* ``"__jaxnn__"``: a JSON string ``{"format": "jaxnn.pytree", "version": 2, "tree": ...}`` that
  describes the containers (``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": {key: ...}}``,
  ``{"leaf": "a0"}``, ``{"none": null}``), so the exact structure comes back.  A leaf of a dtype the
  ``.npy`` format cannot describe (``bfloat16``, ``float8_*``, ``int4``: ml_dtypes' types, which NumPy
  writes as raw bytes) is stored as its bits, the unsigned integer of its width, and its node names the
  dtype: ``{"leaf": "a0", "dtype": "bfloat16"}``.

Version 1 files (members named by tree path, ``"0/W"``; written before version 2, whose generated names
cannot collide with one another or with ``np.savez``'s own arguments) still load.

Leaves come back as JAX arrays with their saved dtype and shape (bit-exact), with one exception: with
JAX's 64-bit mode off (the default), a 64-bit leaf (float64, int64, uint64, complex128: NumPy's default
types, and Python numbers) comes back as JAX's 32-bit type, as ``jnp.asarray`` makes it; load it under
``jax.enable_x64()`` (or with ``jax_enable_x64`` set) to get it back exactly.  They are not returned as
NumPy arrays: a tree of JAX arrays loads the same whatever was saved, and JAX would cast them anyway.
Writes are atomic: the file is written beside the target and renamed, so a crash never leaves a
half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save", "load", "FORMAT", "atomic_write", "check_target"]

FORMAT = "jaxnn.pytree"
VERSION = 2
_READS = (1, 2)  # the versions load reads: 1 named members by tree path, which could collide
_META = "__jaxnn__"


def _npy_keeps(dtype: np.dtype) -> bool:
    """Whether the .npy format gives ``dtype`` back (not bfloat16 and ml_dtypes' others: raw bytes)."""
    try:
        return np.lib.format.descr_to_dtype(np.lib.format.dtype_to_descr(dtype)) == dtype
    except (TypeError, ValueError):
        return False


def _leaf(x: Any, path: str, arrays: dict) -> dict:
    """Store the array ``x`` as the next member (a0, a1, ...) and return its node; a dtype the .npy format
    cannot keep is stored as its bits (the same-width uint) and named in the node."""
    where = path or "root"  # as _encode's messages
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        raise TypeError(f"params: cannot save a PRNG key array at {where}; save jax.random.key_data(key) instead")
    a = np.asarray(x)
    node = {"leaf": f"a{len(arrays)}"}
    if a.dtype.kind in "biufc" and _npy_keeps(a.dtype):
        arrays[node["leaf"]] = a
        return node
    named = a.dtype.fields is None and a.dtype.kind in "fiuV" and a.dtype.itemsize in (1, 2, 4, 8)
    try:
        named = named and np.dtype(a.dtype.name) == a.dtype and jnp.dtype(a.dtype) == a.dtype
    except TypeError:
        named = False
    if not named:
        raise TypeError(f"params: cannot save an array of dtype {a.dtype} at {where}; supported: bool, integer, "
                        "float and complex arrays (bfloat16, float8 and int4 too)")
    arrays[node["leaf"]] = a.view(f"u{a.dtype.itemsize}")  # the bits, restored by a view as the named dtype
    return {**node, "dtype": a.dtype.name}


def _encode(tree: Any, path: str, arrays: dict) -> Any:
    if tree is None:
        return {"none": None}
    if isinstance(tree, dict):
        for k in tree:
            if not isinstance(k, str) or "/" in k:
                raise TypeError(f"params: dict keys must be strings without '/', got {k!r} at {path or 'root'}")
        return {"dict": {k: _encode(v, f"{path}/{k}" if path else k, arrays) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        kind = "list" if isinstance(tree, list) else "tuple"
        return {kind: [_encode(v, f"{path}/{i}" if path else str(i), arrays) for i, v in enumerate(tree)]}
    if hasattr(tree, "shape") or isinstance(tree, (int, float, bool, np.number)):
        return _leaf(tree, path, arrays)
    raise TypeError(f"params: cannot save a {type(tree).__name__} at {path or 'root'}; "
                    "supported: dict, list, tuple, None and arrays")


def _decode(node: Any, arrays) -> Any:
    if "leaf" in node:  # {"leaf": member}, and "dtype" when the member holds the bits (version 2)
        a = arrays[node["leaf"]]
        return jnp.asarray(a.view(np.dtype(node["dtype"])) if "dtype" in node else a)
    (kind, val), = node.items()
    if kind == "none":
        return None
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in val.items()}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in val]
        return items if kind == "list" else tuple(items)
    raise ValueError(f"unknown node kind {kind!r}")


def check_target(path: str | os.PathLike, name: str = "path") -> str:
    """``path`` as a string, or a ValueError naming ``name`` unless it names a file in an existing folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name}: expected a file path in an existing folder, got {path!r}, whose folder "
                         f"{folder!r} does not exist (create it first, e.g. os.makedirs)")
    if os.path.isdir(path):
        raise ValueError(f"{name}: expected a file path, got {path!r}, which is a folder")
    return path


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it onto ``path``.

    Raises a ValueError naming ``path`` (before writing anything) unless its folder exists."""
    path = check_target(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(path: str | os.PathLike, params: Any) -> None:
    """Write a pytree of arrays (dicts, lists, tuples, None) to ``path`` (.npz, see module doc).

    Raises:
      ValueError: ``path``'s folder does not exist, or ``path`` is a folder (nothing is written).
      TypeError: ``params`` holds something other than dicts (of string keys), lists, tuples, None and
        numeric arrays (bool, integer, float, complex; bfloat16 and ml_dtypes' other types too), e.g. a
        string array or a PRNG key array (nothing is written).
    """
    path = check_target(path)
    arrays: dict = {}
    tree = _encode(params, "", arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    # generated names only (a0, a1, ...): no dict key reaches np.savez's keywords ('file', 'allow_pickle')
    atomic_write(path, lambda f: np.savez(f, **arrays, **{_META: np.array(meta)}))


def _read(path: str) -> tuple[dict, dict]:
    """The metadata and the arrays of the .npz archive at ``path`` (the file is closed on every path)."""
    with open(path, "rb") as f:  # our own handle: np.load leaks its own when the zip directory is corrupt
        head = f.read(4)
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError(f"{path}: not a jaxnn params file (not a .npz archive: it starts with {head!r})")
        f.seek(0)
        with np.load(f, allow_pickle=False) as z:
            if _META not in z.files:
                raise ValueError(f"{path}: not a jaxnn params file (no {_META!r} entry); write it with jaxnn.save")
            meta = json.loads(str(z[_META]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") not in _READS:
                got = meta if not isinstance(meta, dict) else (meta.get("format"), meta.get("version"))
                raise ValueError(f"{path}: unsupported format {got!r}; expected {FORMAT!r} version "
                                 f"{' or '.join(map(str, _READS))}")
            return meta, {k: z[k] for k in z.files if k != _META}


def load(path: str | os.PathLike) -> Any:
    """Read a pytree written by :func:`save` (any version): JAX arrays of the saved dtypes, 64-bit ones as
    JAX's 32-bit types unless 64-bit mode is on (see the module doc).

    Raises:
      FileNotFoundError: no such file.
      ValueError: ``path`` is a folder, or the file is truncated, corrupt, or not a jaxnn pytree file
        (the message names the path; the file is closed).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"path: expected a jaxnn params file, got {path!r}, which is a folder")
    try:
        meta, arrays = _read(path)
    except FileNotFoundError:
        raise
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: not a readable jaxnn params file ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: truncated or corrupt jaxnn params file ({type(e).__name__}: {e})") from None
    try:
        return _decode(meta["tree"], arrays)
    except (KeyError, ValueError, AttributeError, TypeError) as e:
        raise ValueError(f"{path}: corrupt jaxnn params file: structure does not match its arrays ({e})") from None
