"""The resumable store of a sweep in ``out_dir``: a manifest naming the sweep, and one file per finished
chunk, each written atomically, so a killed run (even ``kill -9``) loses at most the chunks in flight::

    manifest.json           identity (space, seeds, key, code, chunk sizes), fingerprint, provenance
    chunks/chunk-00000.npz  the runs [start, stop) of one static group's finished chunk

Process 0 reads and writes; its decisions (refuse, which chunks are done) are broadcast to the others.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import numpy as np

from jaxnn.io import atomic_write
from jaxnn.sweeps.distributed import broadcast, is_lead

__all__ = ["dump_json", "open_store", "write_manifest", "chunk_path", "write_chunk", "read_chunk"]

_WHAT = {"space": "grid", "seeds": "number of seeds", "key": "key", "key_impl": "key type",
         "code": "code (the swept function, its constants such as data, or the jax version)",
         "jaxnn_version": "jaxnn version", "chunk_size": "chunk size"}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def dump_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, default=_json_default, sort_keys=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def _changed(name: str, old, new) -> bool:
    """Whether an identity entry changed.  The code is ``{static values: hash}``: only the static groups that
    both sweeps have are compared, so a changed static list blames the space, not the code."""
    if name == "code" and isinstance(old, dict) and isinstance(new, dict):
        return any(old[k] != new[k] for k in set(old) & set(new))
    return old != new


def _check(out_dir: str, identity: dict, chunk_sizes: Optional[list]):
    """(error message or "", the stored manifest or None); process 0 only."""
    path = os.path.join(out_dir, "manifest.json")
    if not os.path.exists(path):
        return "", None
    try:
        with open(path) as f:
            old = json.load(f)
        old_id = old["identity"]
        if not isinstance(old_id, dict):
            raise TypeError("identity is not an object")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"out_dir: {out_dir} holds an unreadable manifest.json ({e}); use a new out_dir or delete it", None
    diff = [k for k in identity if _changed(k, old_id.get(k), identity[k])]
    if not diff and chunk_sizes is not None and old_id.get("chunk_size") != chunk_sizes:
        diff = ["chunk_size"]
    if diff:
        what = [("search space" if k == "space" and identity["space"].get("kind") != "grid" else _WHAT.get(k, k))
                for k in diff]
        return (f"out_dir: {out_dir} holds a different sweep (changed: {', '.join(what)}); refusing to mix "
                "results. Use a new out_dir, delete this one, or rerun the original command."), None
    return "", old


def open_store(out_dir: str, identity: dict, chunk_sizes: Optional[list], n_groups: int):
    """Check ``out_dir`` against this sweep's identity (without its chunk sizes) and the chunk sizes asked
    for (None: automatic), on every process.  Raises ValueError for a different sweep.

    Returns:
      ``(stored manifest or None, stored chunk sizes (one per static group) or None)``.
    """
    msg, old = _check(out_dir, identity, chunk_sizes) if is_lead() else ("", None)
    stored = None if old is None else old["identity"].get("chunk_size")
    ok = isinstance(stored, list) and len(stored) == n_groups and all(isinstance(k, int) and k > 0 for k in stored)
    code = np.array([bool(msg)] + (stored if ok else [0] * n_groups), np.int64)
    code = broadcast(code)
    if code[0]:
        raise ValueError(msg if is_lead() else f"out_dir: {out_dir} holds a different sweep (see process 0)")
    stored = [int(k) for k in code[1:]] if code[1:].all() else None
    return old, stored


def write_manifest(out_dir: str, identity: dict, fingerprint: str, n_runs: int, n_chunks: int, prov: dict,
                   old: Optional[dict]) -> None:
    """Create ``out_dir``, remove half-written files of a killed run, write the manifest (process 0)."""
    if not is_lead():
        return
    os.makedirs(out_dir, exist_ok=True)
    chunk_dir = os.path.join(out_dir, "chunks")
    if os.path.isdir(chunk_dir):
        for f in os.listdir(chunk_dir):
            if f.startswith(".tmp-"):
                os.remove(os.path.join(chunk_dir, f))
    manifest = {"format": "jaxnn.sweep.manifest", "version": 2, "identity": identity, "fingerprint": fingerprint,
                "n_runs": n_runs, "n_chunks": n_chunks, "provenance": prov}
    if old is not None and old.get("fingerprint") == fingerprint:  # resumed: keep the first command
        manifest["provenance"] = old.get("provenance", prov)
        manifest["resumed_by"] = list(old.get("resumed_by", [])) + [prov]
    dump_json(os.path.join(out_dir, "manifest.json"), manifest)


def chunk_path(directory: str, index: int) -> str:
    return os.path.join(directory, "chunks", f"chunk-{index:05d}.npz")


def write_chunk(directory: str, index: int, start: int, stop: int, fingerprint: str, leaves: dict,
                group: int = 0) -> None:
    """Atomically write the runs [start, stop) of static group ``group`` as chunk ``index``."""
    arrays = {f"leaf/{k}": np.asarray(v) for k, v in leaves.items()}
    arrays["__chunk__"] = np.array(json.dumps({"index": index, "group": group, "start": start, "stop": stop,
                                               "fingerprint": fingerprint}))
    os.makedirs(os.path.join(directory, "chunks"), exist_ok=True)
    atomic_write(chunk_path(directory, index), lambda f: np.savez(f, **arrays))


def read_chunk(directory: str, index: int, start: int, stop: int, fingerprint: str, group: int = 0):
    """The leaves of a finished chunk, or ``None`` if it is missing or not from this sweep."""
    path = chunk_path(directory, index)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(str(z["__chunk__"]))
            if (head.get("fingerprint") != fingerprint or head.get("start") != start
                    or head.get("stop") != stop or head.get("group", 0) != group):
                return None
            return {k[len("leaf/"):]: z[k] for k in z.files if k.startswith("leaf/")}
    except Exception:  # a foreign or damaged file: recompute that chunk
        return None
