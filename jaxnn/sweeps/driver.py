"""The host loop of the adaptive searches: lanes refilled at segment boundaries, a replayable log, checkpoints.

:class:`Driver` runs *work items* ``(trial, until[, source])`` through a :class:`~jaxnn.sweeps.lanes.Pool`:
each segment, every busy lane advances its trial by ``segment`` steps; a lane whose trial reached ``until``,
stopped (an early-stopping rule), diverged or is invalid takes the next pending item at the next segment
boundary (continuous batching); a new trial starts in its lane's next call (``init`` from its key, then the
segment: no call of its own), and one that is invalid or non-finite at its start is stopped there, its
step-0 metrics its only evaluation.  A trial keeps its bank slot
between items (a survivor continues from its state); ``source`` starts an item from another trial's state
(population-based training's exploit: the copy and the next segment are one call).

Resumability: the schedulers are deterministic functions of what the devices return, so the driver logs
the metrics of every device call; a checkpoint (``out_dir/checkpoint.npz``, written atomically at segment
boundaries) is that log plus the bank.  A rerun replays the scheduler against the log (no compute) and
continues live from the bank once the log is used up: the same decisions, the same results as one
uninterrupted run.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import sys
import time

import jax
import numpy as np

from jaxnn.io import atomic_write
from jaxnn.sweeps import status as st
from jaxnn.sweeps.distributed import broadcast, is_lead
from jaxnn.sweeps.lanes import at_start

__all__ = ["Driver", "Trials", "CHECKPOINT"]

CHECKPOINT = "checkpoint.npz"
_CALL = "__call__"  # a logged call's digest of its inputs (:func:`_digest`)


def _digest(args) -> str:
    """A short hash of a pool call's arguments (slot indices, hyperparameters, widths, flags, key data)."""
    h = hashlib.sha256()
    for a in args:
        for name, x in sorted(a.items()) if isinstance(a, dict) else [("", a)]:
            x = np.ascontiguousarray(np.asarray(x)) if x is not None else np.zeros(0, np.int8)
            h.update(f"{name}|{x.dtype}|{x.shape}|".encode())
            h.update(x.tobytes())
    return h.hexdigest()[:16]


class Trials:
    """Host bookkeeping of N trials: steps trained, status, bank slot, structure (which pool holds it), current
    (traced) hyperparameters, and every evaluation ``curve[i] = [(steps, {metric: value}), ...]``."""

    def __init__(self, n, hp: dict, group=None):
        self.n = n
        self.group = np.zeros(n, np.int64) if group is None else np.asarray(group, np.int64)  # structure (pool)
        self.steps = np.zeros(n, np.int64)
        self.status = np.zeros(n, np.int8)
        self.slot = np.full(n, -1, np.int64)
        self.hp = {k: np.array(v) for k, v in hp.items()}
        self.curve = [[] for _ in range(n)]
        self.started = np.zeros(n, bool)

    def last(self, i, name):
        return self.curve[i][-1][1][name] if self.curve[i] else np.nan


class Driver:
    """See the module docstring.  ``rule(trials, i) -> bool``: stop trial i now (early stopping)."""

    def __init__(self, pool, trials: Trials, kd, metrics, *, out_dir=None, fingerprint=None, checkpoint_s=30.0,
                 bar=None, ranked=None, propose=None):
        self.pool, self.trials, self.kd, self.metrics = pool, trials, kd, tuple(metrics)
        self.propose = propose  # propose(trial ids): fill trials.hp of never-started trials (a sampler)
        self.free = list(range(pool.n_slots))
        self.paid = self.useful = 0
        self.out_dir, self.fingerprint, self.checkpoint_s = out_dir, fingerprint, checkpoint_s
        self.bar, self.ranked = bar, ranked
        self.log, self.pos, self.bank_ckpt = [], 0, None
        self.last_write = time.perf_counter()
        self.calls = 0
        if out_dir is not None:
            self._open()
        if not self.log:  # a new search (resumed ones get the checkpoint's bank when the log is used up)
            pool.empty()

    # --- checkpoints and replay ----------------------------------------------------------------------------
    def _path(self):
        return os.path.join(self.out_dir, CHECKPOINT)

    def _open(self):
        got = None
        if is_lead():
            os.makedirs(self.out_dir, exist_ok=True)
            if os.path.exists(self._path()):
                with np.load(self._path(), allow_pickle=False) as z:
                    head = json.loads(bytes(z["__log__"]).decode())
                    if head["fingerprint"] != self.fingerprint:
                        raise ValueError(f"out_dir: {self.out_dir} holds a different search (trainable, space, key, "
                                         "data, scheduler arguments or lanes); use another out_dir or delete it")
                    got = (head["log"], [z[f"bank_{j}"] for j in range(head["n_bank"])])
        if jax.process_count() > 1:  # process 0 read the checkpoint: every process gets it
            log = _broadcast_json(None if got is None else got[0])
            if log is not None:
                leaves = jax.tree_util.tree_leaves(self.pool.bank_struct())
                bank = got[1] if is_lead() else [np.zeros(x.shape, x.dtype) for x in leaves]
                got = (log, [np.asarray(b) for b in broadcast(bank)])
        if got is not None:
            self.log, self.bank_ckpt = got
            print(f"jaxnn.sweeps: resuming in {self.out_dir}: replaying {len(self.log)} logged segment calls",
                  file=sys.stderr, flush=True)

    def checkpoint(self, force=False):
        """Write the log and the bank (atomically) if due; every process calls it (the bank is gathered)."""
        if self.out_dir is None or self.replaying:
            return
        if not force and time.perf_counter() - self.last_write < self.checkpoint_s:
            return
        bank = [np.asarray(x) for x in jax.tree_util.tree_leaves(self.pool.host_bank())]
        if is_lead():
            head = {"fingerprint": self.fingerprint, "log": self.log, "n_bank": len(bank)}
            atomic_write(self._path(), lambda f: np.savez(f, __log__=np.frombuffer(json.dumps(head).encode(), np.uint8),
                                                          **{f"bank_{j}": b for j, b in enumerate(bank)}))
        self.last_write = time.perf_counter()

    @property
    def replaying(self):
        return self.pos < len(self.log)

    def _device(self, kind, *args):
        """One pool call, or its logged result while replaying (then the checkpoint's bank is restored).  Each
        logged call keeps a digest of its inputs: a replayed call must be the logged one, else the checkpoint
        belongs to another search (a sampler or a rule that the fingerprint describes too coarsely changed)."""
        self.calls += 1
        digest = None if self.out_dir is None else _digest(args)  # only a checkpoint's log is replayed
        if self.replaying:
            logged = self.log[self.pos]
            if logged.get(_CALL) != digest:
                raise ValueError(f"out_dir: {self.out_dir} holds a different search: its call {self.pos + 1} had other "
                                 "inputs than this search's (a sampler's seed or options, or an early-stopping "
                                 "rule, changed?); use another out_dir or delete it")
            out = {k: np.asarray(v) for k, v in logged.items() if k != _CALL}
            self.pos += 1
            if not self.replaying:
                self.pool.load(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(self.pool.bank_struct()),
                                                            self.bank_ckpt))
                self.bank_ckpt = None
            return out
        out = getattr(self.pool, kind)(*args)
        self.log.append({**{k: v.tolist() for k, v in out.items()}, _CALL: digest})
        self.pos += 1
        return out

    def note(self) -> str:
        """The progress bar's note: the largest budget reached and the best ranked metric so far."""
        tr = self.trials
        ok = [i for i in range(tr.n) if tr.curve[i] and tr.status[i] == st.OK]
        if not ok or self.ranked is None or self.ranked[0] is None:
            return ""
        name, mode = self.ranked
        vals = [v for v in (tr.last(i, name) for i in ok) if np.isfinite(v)]
        best = (max if mode == "max" else min)(vals) if vals else float("nan")
        return f"steps {max(tr.curve[i][-1][0] for i in ok)}, best {name} {best:.4g}"

    # --- the loop ---------------------------------------------------------------------------------------------
    def _rows(self, out):
        """The lanes' ``({metric: value}, status code)`` pairs of a call's metrics ``out`` ({name: (lanes,)})."""
        got = {k: out[k] for k in self.metrics}
        vals = [dict(zip(self.metrics, r)) for r in zip(*(got[k].tolist() for k in self.metrics))]
        return list(zip(vals, st.run_status(got).tolist()))

    def _record(self, trial, row, steps):
        """Append the evaluation ``row = (values, status code)`` at ``steps`` to the trial's curve; its code."""
        vals, code = row
        self.trials.curve[trial].append((int(steps), vals))
        self.trials.status[trial] = code
        return code

    def _admit(self, items):
        """Give the never-started trials of ``items`` (lists of [trial, until, source]) their proposed
        hyperparameters (a batch of up to W at a time) and free slots; the lanes' next call starts them."""
        tr = self.trials
        new = [it[0] for it in items if not tr.started[it[0]]]
        for a in range(0, len(new), self.pool.W):
            ids = new[a:a + self.pool.W]
            if self.propose is not None:
                self.propose(ids)
            for i in ids:
                tr.slot[i] = self._take(i)
                tr.started[i] = True

    def _take(self, i):
        """The first free bank slot of trial i's structure (the pool's slots ``offsets[g] .. offsets[g + 1] - 1``;
        the free list is kept sorted)."""
        g, offsets = self.trials.group[i], self.pool.offsets
        j = bisect.bisect_left(self.free, offsets[g])
        if j == len(self.free) or self.free[j] >= offsets[g + 1]:
            raise RuntimeError(f"no free bank slot for trial {i} (structure {g}): the pool's slots were sized too few")
        return self.free.pop(j)

    def _next(self, queue, lanes) -> int:
        """The queue position of the next item to run: the first, or with several structures the first of the
        structure the lanes hold (a call then computes few structures' pools, each nearly full)."""
        g = self.trials.group
        if not lanes or not g.any():
            return 0
        want = g[lanes[-1][0]]
        return next((j for j, it in enumerate(queue) if g[it[0]] == want), 0)

    def release(self, trials):
        """Free the bank slots of trials that will not be continued."""
        for i in trials:
            if self.trials.slot[i] >= 0:
                self.free.append(int(self.trials.slot[i]))
                self.trials.slot[i] = -1
        self.free.sort()

    def _place(self, lanes, slot0, steps0, moved):
        """``(src, dst)`` slots of the busy lanes: a lane whose item has a source gets a new slot for its trial,
        read from the source's slot as the drive began (its old slot is freed when the drive ends)."""
        tr, src, dst = self.trials, [], []
        for it in lanes:
            i, _, source = it
            if source is not None:
                if not tr.curve[i]:
                    raise ValueError(f"source: trial {i} has not started; a new trial starts from its own key")
                if slot0[source] < 0:
                    raise ValueError(f"source: trial {source} had no state when the drive began")
                src.append(int(slot0[source]))
                moved.append(int(tr.slot[i]))
                tr.slot[i] = self._take(i)
                tr.steps[i] = steps0[source]
                it[2] = None
            else:
                src.append(int(tr.slot[i]))
            dst.append(int(tr.slot[i]))
        return src, dst

    def _segment(self, lanes, src, dst, rule, release_done, fuse, marks=()):
        """One call of the busy lanes (only their blocks where that pays: :meth:`Pool.plan`): one segment, or with
        ``fuse`` (and no rule) as many as the nearest item end or mark, where the next decision or evaluation
        falls; returns the items done now."""
        tr, seg = self.trials, self.pool.segment
        ids = [it[0] for it in lanes]
        left = [-(-(it[1] - tr.steps[it[0]]) // seg) for it in lanes]
        fused = fuse and rule is None
        if fused:  # a trial is evaluated where its item ends or it passes a mark, whatever its lane's neighbours do
            stop = [min([it[1]] + [b for b in marks if b > tr.steps[i]]) for i, it in zip(ids, lanes)]
            k = min(-(-(b - tr.steps[i]) // seg) for i, b in zip(ids, stop))
            look = np.array([tr.steps[i] + seg * k >= b for i, b in zip(ids, stop)])
        else:  # a rule, run, PBT, search: every lane after every segment
            k, look = 1, None
        w = self.pool.plan(src, max(left))
        new = np.array([not tr.curve[i] for i in ids])  # admitted, not evaluated yet: this call starts them
        starts = (self.kd[ids], new) if new.any() else (None, None)
        out = self._device("advance", np.asarray(src), np.asarray(dst), {h: v[ids] for h, v in tr.hp.items()}, w, k,
                           *starts, look)
        rows = self._rows(out)
        rows0 = self._rows({m: out[at_start(m)] for m in self.metrics}) if new.any() else None
        self.paid += int(np.sum(w)) * seg * k
        keep, done_now = [], []
        for j, it in enumerate(lanes):
            i = it[0]
            if new[j]:
                if self._record(i, rows0[j], 0) != st.OK:  # invalid or non-finite at its start: stopped there
                    self.release([i])
                    done_now.append(it)
                    continue
            tr.steps[i] += seg * k
            self.useful += seg * k
            if look is not None and not look[j]:  # mid-item: not evaluated
                keep.append(it)
                continue
            code = self._record(i, rows[j], tr.steps[i])
            done = code != st.OK or tr.steps[i] >= it[1] or (rule is not None and rule(tr, i))
            if done and (release_done or code != st.OK):
                self.release([i])
            (done_now if done else keep).append(it)
        if self.bar is not None and not self.replaying:
            self.bar.update(len(lanes) * seg * k)
            self.bar.set_postfix_str(self.note(), refresh=False)
        lanes[:] = keep
        return done_now

    def drive(self, items, *, rule=None, release_done=False, on_done=None, on_idle=None, fuse=False, marks=()):
        """Run the work items ``[(trial, until[, source]), ...]`` in order through the lanes.

        A trial stops short of ``until`` when it diverges, is invalid, or ``rule(trials, i)`` says so.  With
        ``release_done`` a finished trial's slot is freed at once (it will not be continued).
        ``on_done(trial) -> more items`` is called as each item finishes; what it returns joins the queue
        (a bracket's next rung, once its last trial finished the current one).  ``on_idle(free lanes) -> more
        items`` is called when lanes are free and the queue is empty (asynchronous searches: a promotion or
        new trials); the drive ends when the lanes are empty and it returns nothing.  ``fuse``: run the
        segments up to the nearest item end in one compiled call (no rule: no decision falls between them),
        and evaluate a trial only where its item ends and at the step counts ``marks`` it passes (a search's
        budgets: its curve holds its start, its items' ends and those budgets, whatever the lanes beside it
        do; a call ends at the nearest of them); without ``fuse`` (or with a rule) every lane is evaluated
        after every segment.
        """
        tr, W = self.trials, self.pool.W
        queue = [list(it) + [None] * (3 - len(it)) for it in items]
        lanes, moved = [], []
        slot0, steps0 = tr.slot.copy(), tr.steps.copy()  # sources are read as they were when the drive began

        def finished(i):
            if on_done is not None:
                queue.extend(list(it) + [None] * (3 - len(it)) for it in on_done(i))

        def take():
            while True:
                fill()
                if queue or len(lanes) == W or on_idle is None:
                    return
                more = on_idle(W - len(lanes))
                if not more:
                    return
                queue.extend(list(it) + [None] * (3 - len(it)) for it in more)

        def fill():
            while queue and len(lanes) < W:
                it = queue.pop(self._next(queue, lanes))
                if tr.status[it[0]] != st.OK or tr.steps[it[0]] >= it[1]:
                    finished(it[0])
                    continue
                if not tr.started[it[0]]:
                    self._admit([it] + [q for q in queue[:W - len(lanes) - 1] if not tr.started[q[0]]])
                lanes.append(it)

        take()
        while lanes:
            src, dst = self._place(lanes, slot0, steps0, moved)
            for it in self._segment(lanes, src, dst, rule, release_done, fuse, marks):
                finished(it[0])
            take()
            self.checkpoint()
        self.free.extend(s for s in moved if s >= 0)
        self.free.sort()


def _broadcast_json(obj):
    """Process 0's JSON-able ``obj`` on every process."""
    if jax.process_count() == 1:
        return obj
    raw = json.dumps(obj).encode() if is_lead() else b""
    n = int(broadcast(np.asarray(len(raw), np.int64)))
    buf = np.zeros(n, np.uint8)
    if is_lead():
        buf[:] = np.frombuffer(raw, np.uint8)
    return json.loads(bytes(broadcast(buf)).decode())
