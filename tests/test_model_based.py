"""Model-based searches: sweeps.search (a trainable in lanes, a plain fn through sweep), asha, bohb and
sampler= on the other schedulers: proposals see every earlier observation, the schedules' rules, results
equal to training each trial alone, and bad input refused before any compute.  (Resume after a crash, 4
devices and 2 processes: tests/test_adaptive.py, whose worker runs asha and bohb with a TPE sampler.)"""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import sweeps
from jaxnn.sweeps import executor
from jaxnn.sweeps.samplers import FAIL, RandomSampler
from jaxnn.sweeps.samplers.base import describe, stable_repr
from jaxnn.sweeps.schedulers.common import _fitted_width
from jaxnn.sweeps.schedulers.halving import rung_plan, work_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("_adaptive_worker", os.path.join(ROOT, "tests", "_adaptive_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

KW = dict(metric="val_accuracy", mode="max", progress=False)


@pytest.fixture(scope="module")
def prob():
    mlp, _, data = worker.problem()
    return mlp, worker.dists(), data


class Recording:
    """A random sampler that records what each call saw: (trials proposed before, observations per budget)."""

    def __init__(self):
        self.seen, self.inner = [], RandomSampler()

    def propose(self, n, space, history, seed):
        self.seen.append((history.m, {int(b): int((~np.isnan(history.loss[:, j])).sum())
                                      for j, b in enumerate(history.budgets)}, n, list(history.state)))
        return self.inner.propose(n, space, history, seed)


def alone(mlp, data, key, i, hp, steps):
    """Trial i trained by itself (no lanes): its metrics after ``steps``."""
    h = {k: jnp.asarray(v, jnp.float32) for k, v in hp.items()}
    s = jax.jit(mlp.init)(jax.random.fold_in(key, i), data, **h)
    s = jax.jit(mlp.advance, static_argnums=2)(s, data, steps, **h)
    return {k: float(v) for k, v in jax.jit(mlp.evaluate)(s, data, **h).items()}


def test_search_proposes_each_batch_from_all_before_it(prob):
    mlp, dists, data = prob
    rec = Recording()
    res = sweeps.search(mlp, dists, trials=12, batch=4, steps=6, sampler=rec, key=jax.random.key(1), data=data, **KW)
    assert [(m, obs, n) for m, obs, n, _ in rec.seen] == [(0, {6: 0}, 4), (4, {6: 4}, 4), (8, {6: 8}, 4)]
    assert all(s == 1 for _, _, _, states in rec.seen[1:] for s in states)  # COMPLETE
    assert res.meta["propose_calls"] == 3 and res.meta["n_proposed"] == 12 and res.meta["lane_utilization"] == 1.0
    assert res.meta["propose_s"] > 0 and res.meta["sampler"] == {"sampler": "test_model_based.Recording"}
    for i in (0, 7, 11):  # the proposals are what was trained
        hp = {k: res.trials[k][i] for k in dists}
        want = alone(mlp, data, jax.random.key(1), i, hp, 6)
        np.testing.assert_allclose(res.value(i), want["val_accuracy"], atol=1e-6)
    assert len(np.unique(res.trials["lr"])) == 12
    b = res.best()  # the best trial kept its state (the others freed their slots)
    want = alone(mlp, data, jax.random.key(1), b["trial"], {k: b[k] for k in dists}, 6)
    got = mlp.evaluate(jax.tree_util.tree_map(jnp.asarray, res.state), data, **{k: b[k] for k in dists})
    np.testing.assert_allclose(float(got["val_loss"]), want["val_loss"], rtol=1e-5)


def test_search_of_a_function_with_a_static_axis_compiles_once_per_value():
    def fn(key, x, y, kind, c):
        base = (x - 0.3) ** 2 + (jnp.log10(y) + c) ** 2
        return {"final_loss": base + (0.5 if kind == "b" else 0.0) + 0.0 * jax.random.uniform(key)}

    space = dict(x=sweeps.uniform(0, 1), y=sweeps.loguniform(1e-4, 1.0), kind=sweeps.static(["a", "b"]), c=2.0)
    c0 = executor.compile_count()
    res = sweeps.search(fn, space, trials=48, batch=16, sampler=sweeps.tpe(n_startup_trials=8),
                        key=jax.random.key(0), metric="final_loss", mode="min")
    assert executor.compile_count() - c0 == 2  # three batches, two static values
    assert isinstance(res, sweeps.SweepResult) and res["final_loss"].shape == (48, 1)
    for i in (0, 20, 47):
        want = fn(jax.random.key(0), res.coords["x"][i], res.coords["y"][i], str(res.coords["kind"][i]), 2.0)
        want = want["final_loss"]
        np.testing.assert_allclose(res["final_loss"][i, 0], want, rtol=1e-5)
    assert set(res.coords["c"]) == {2.0} and res.meta["n_batches"] == 3
    best = res.best()
    assert best["final_loss"] == res["final_loss"].min() and best["kind"] == "a"
    late = res.coords["kind"][16:] == "a"  # the model learned that "a" is better
    assert late.mean() > 0.6, late.mean()


def test_asha_promotes_the_top_of_each_rung_without_barriers(prob):
    mlp, dists, data = prob
    res = sweeps.asha(mlp, dists, trials=27, min_steps=2, max_steps=18, eta=3, lanes=4,
                      sampler=sweeps.tpe(n_startup_trials=4), key=jax.random.key(2), data=data, **KW)
    rungs = {r["steps"]: r["trials"] for r in res.rungs}
    values = {r["steps"]: r["metric"] for r in res.rungs}
    assert sorted(rungs) == [2, 6, 18] and len(rungs[2]) == 27
    for lo, hi in ((2, 6), (6, 18)):
        assert set(rungs[hi]) <= set(rungs[lo])
        assert values[lo] == [res.curves[i][[s for s, _ in res.curves[i]].index(lo)][1]["val_accuracy"]
                              for i in rungs[lo]]  # each trial's value at the rung's end
        for i in rungs[hi]:  # promoted while in the top floor(m / eta) of the m trials that had finished rung lo
            p = rungs[lo].index(i)
            assert any(i in [rungs[lo][j] for j in np.argsort(-np.asarray(values[lo][:m]), kind="stable")[:m // 3]]
                       for m in range(p + 1, len(rungs[lo]) + 1))
    assert res.final == rungs[18] and all(res.curves[i][-1][0] == 18 for i in res.final)
    assert res.meta["n_proposed"] == 27 and res.meta["propose_calls"] >= 6  # proposed as lanes freed, not at once
    # asynchronous: some trial reached rung 6 before the last new trial started rung 2
    first_new = {i: next(k for k, (s, _) in enumerate(res.curves[i]) if s == 2) for i in range(27)}
    assert max(first_new.values()) > 0 or res.meta["calls"] > 0
    for i in range(27):  # evaluated at its start and where its rungs end, whatever the lanes beside it did
        steps = [s for s, _ in res.curves[i]]
        assert steps == [0, 2, 6, 18][:len(steps)], (i, steps)
    i = rungs[18][-1]  # its value at the top rung: the trial trained alone
    want = alone(mlp, data, jax.random.key(2), i, {k: res.trials[k][i] for k in dists}, 18)
    np.testing.assert_allclose(res.curves[i][-1][1]["val_loss"], want["val_loss"], rtol=1e-5)
    again = sweeps.asha(mlp, dists, trials=27, min_steps=2, max_steps=18, eta=3, lanes=4,
                        sampler=sweeps.tpe(n_startup_trials=4), key=jax.random.key(2), data=data, **KW)
    assert again.curves == res.curves and again.rungs == res.rungs  # same key, same result


def test_an_accelerators_batched_evaluation_shows_what_the_lanes_alone_do(prob, monkeypatch):
    """On an accelerator the pool evaluates a block's lanes in one vmap (a loop of single lanes would serialize
    small kernels), on a CPU each lane alone: forced here on the CPU, every trial is still evaluated at its start
    and at the budgets it passed only, each value what training that trial alone gives (to rounding)."""
    mlp, dists, data = prob
    sweeps.lanes.clear_compiled()
    monkeypatch.setattr(sweeps.lanes, "evaluates_alone", lambda platform: False)
    try:
        res = sweeps.asha(mlp, dists, trials=9, min_steps=2, max_steps=6, eta=3, lanes=4, key=jax.random.key(5),
                          data=data, **KW)
    finally:
        sweeps.lanes.clear_compiled()
    for i, c in enumerate(res.curves):
        assert [s for s, _ in c] == [0, 2, 6][:len(c)], (i, c)
        if c[-1][0]:  # (a trial stopped at its start has nothing more to compare)
            want = alone(mlp, data, jax.random.key(5), i, {k: res.trials[k][i] for k in dists}, c[-1][0])
            np.testing.assert_allclose(c[-1][1]["val_loss"], want["val_loss"], rtol=1e-5)


def test_asha_ranks_a_rung_by_the_values_its_trials_finished_it_with():
    """A promoted trial keeps its place in the rung below: its later values (at higher budgets) do not move it
    (ASHA's rungs, as Li et al.'s and Optuna's SuccessiveHalvingPruner, compare values at the rung's budget)."""
    from types import SimpleNamespace

    from jaxnn.sweeps.driver import Trials
    from jaxnn.sweeps.schedulers.asha import _Asha
    tr = Trials(6, {})
    search = SimpleNamespace(trials=tr, metric="m", mode="max")
    sched = _Asha(search, [1, 3], 3, 6)
    assert [i for i, _ in sched.jobs(3)] == [0, 1, 2]
    for i, v in zip((0, 1, 2), (0.5, 0.9, 0.1)):
        tr.curve[i].append((1, {"m": v}))
        sched.finished(i)
    assert sched.jobs(1) == [(1, 3)]  # the top 1 of 3
    tr.curve[1].append((2, {"m": 0.0}))  # trial 1 at a higher budget, worse than every other value
    assert [i for i, _ in sched.jobs(3)] == [3, 4, 5]
    for i, v in zip((3, 4, 5), (0.2, 0.3, 0.4)):
        tr.curve[i].append((1, {"m": v}))
        sched.finished(i)
    assert sched.jobs(3) == [(0, 3)]  # the top 2 of 6 are trials 1 (promoted) and 0 by their values at budget 1
    assert sched.records()[0]["metric"] == [0.5, 0.9, 0.1, 0.2, 0.3, 0.4]


def test_asha_lanes_default_to_the_working_sets_width(prob):
    """ASHA runs no waves: its default lanes (its workers) are the working set's width, as a sweep's chunk, not
    successive halving's width fitted to the rung waves (all 27 trials' lanes here against 9)."""
    mlp, dists, data = prob
    a = sweeps.asha(mlp, dists, trials=27, min_steps=2, max_steps=6, eta=3, key=jax.random.key(2), data=data, **KW)
    n_dev = len(jax.devices())
    w = -(-27 // n_dev) * n_dev
    assert a.meta["lanes"] == w
    assert _fitted_width(w, n_dev, work_of(rung_plan(27, 2, 3, 6)), jax.devices()[0].platform) < w


def test_a_sampler_proposes_most_trials_from_results_by_default(prob):
    """With a sampler, ASHA's default lanes are at most ceil(trials / eta) and search's batch ceil(trials / 4):
    the first lanes' or batch's proposals are all that come before any result.  As many lanes (or a batch) as
    trials would propose every trial at once, a random search: a warning says so."""
    mlp, dists, data = prob
    kw = dict(key=jax.random.key(2), data=data, **KW)
    rung = dict(min_steps=2, max_steps=6, eta=3)
    n_dev = len(jax.devices())
    a = sweeps.asha(mlp, dists, trials=27, sampler=sweeps.tpe(n_startup_trials=3), **rung, **kw)
    assert a.meta["lanes"] == -(-9 // n_dev) * n_dev and a.meta["propose_calls"] > 3
    one = sweeps.search(mlp, dists, trials=12, steps=2, sampler=sweeps.tpe(n_startup_trials=3), **kw)
    assert one.meta["batch"] == 3 and one.meta["propose_calls"] == 4
    assert sweeps.search(mlp, dists, trials=12, steps=2, **kw).meta["batch"] == 12  # random: one batch
    with pytest.warns(UserWarning, match="lanes=28 and trials=27, every trial is proposed before any result"):
        sweeps.asha(mlp, dists, trials=27, sampler=sweeps.tpe(), lanes=28, **rung, **kw)
    with pytest.warns(UserWarning, match="batch=12 and trials=12, every trial"):
        sweeps.search(mlp, dists, trials=12, batch=12, steps=2, sampler=sweeps.tpe(), **kw)


def test_bohb_runs_hyperbands_brackets_with_tpe(prob):
    mlp, dists, data = prob
    res = sweeps.bohb(mlp, dists, min_steps=2, max_steps=18, eta=3, iterations=1, key=jax.random.key(3), data=data,
                      **KW)
    brackets = sweeps.hyperband_brackets(2, 18, 3)
    assert res.meta["n_proposed"] == sum(n for n, _ in brackets) and res.meta["sampler"]["sampler"] == "tpe"
    assert res.meta["sampler"]["random_fraction"] == pytest.approx(1 / 3)
    for b, (n_s, r_s) in enumerate(brackets):
        mine = [r for r in res.rungs if r["bracket"] == b]
        assert mine[0]["steps"] == r_s and len(mine[0]["trials"]) == n_s
        for r, nxt in zip(mine, mine[1:]):  # survivors continue (never restart): one curve, steps increasing
            assert set(nxt["trials"]) <= set(r["trials"])
            for i in nxt["trials"]:
                steps = [s for s, _ in res.curves[i]]
                assert steps == sorted(steps) and nxt["steps"] in steps and steps.count(0) == 1
    for i in range(res.meta["n_proposed"]):  # evaluated at its start and at every budget it passed, any bracket:
        steps = [s for s, _ in res.curves[i]]  # the model of each budget learns from every trial that passed it
        assert steps == [0, 2, 6, 18][:len(steps)], (i, steps)
    assert res.best()["steps"] == 18
    n_dev = len(jax.devices())  # default lanes: the largest bracket's trials, not narrowed to the rung waves
    work = [(n_k, d) for n_s, r_s in brackets for n_k, d in work_of(rung_plan(n_s, r_s, 3, 18))]
    w = -(-brackets[0][0] // n_dev) * n_dev
    assert res.meta["lanes"] == w and _fitted_width(w, n_dev, work, jax.devices()[0].platform) < w


@pytest.mark.parametrize("name", ["successive_halving", "hyperband", "run", "pbt"])
def test_every_scheduler_takes_a_sampler(prob, name):
    mlp, dists, data = prob
    rec = Recording()
    args = {"successive_halving": dict(trials=12, min_steps=2, max_steps=6, eta=3),
            "hyperband": dict(trials=12, min_steps=2, max_steps=6, eta=3),
            "run": dict(trials=8, steps=4, segment=2),
            "pbt": dict(population=4, interval=2, steps=4)}[name]
    res = getattr(sweeps, name)(mlp, dists, sampler=rec, lanes=4, key=jax.random.key(4), data=data, **KW, **args)
    n = res.meta.get("n_trials_used", args.get("trials", args.get("population")))  # hyperband: whole iterations
    assert res.meta["n_proposed"] == n and sum(c[2] for c in rec.seen) == n
    if name != "pbt":  # lanes < trials: the later proposals saw the first lanes' evaluations
        assert len(rec.seen) > 1 and sum(rec.seen[-1][1].values()) > 0
    assert np.isfinite(res.best()["val_accuracy"])
    if name == "successive_halving":  # distributions without a sampler: random proposals
        plain = sweeps.successive_halving(mlp, dists, lanes=4, key=jax.random.key(4), data=data, **KW, **args)
        assert plain.meta["sampler"] == {"sampler": "random"} and plain.meta["n_proposed"] == n


def test_a_failed_trial_is_an_observation_never_a_crash(prob):
    mlp, _, data = prob
    rec = Recording()
    space = dict(scale=0.1, lr=sweeps.choice([-1.0, 1e-2]), lam=1e-4)  # about half of the proposals are invalid
    res = sweeps.search(mlp, space, trials=8, batch=4, steps=4, sampler=rec, key=jax.random.key(5), data=data, **KW)
    bad = res.trials["lr"] < 0
    assert bad[:4].any() and (res.status[bad] == 2).all() and (res.status[~bad] == 0).all()
    assert [s == FAIL for s in rec.seen[1][3]] == list(bad[:4])
    assert res.best()["lr"] == pytest.approx(1e-2)


class NotReplayable(RandomSampler):
    replayable = False


def test_bad_input_is_refused_before_compute(prob, tmp_path):
    mlp, dists, data = prob
    kw = dict(key=jax.random.key(0), data=data, **KW)
    design = sweeps.random(8, **dists)
    with pytest.raises(ValueError, match="space: a model-based search proposes its own trials"):
        sweeps.search(mlp, design, trials=8, steps=4, **kw)
    with pytest.raises(ValueError, match="space: a model-based search"):
        sweeps.asha(mlp, design, trials=8, min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match="space: a model-based search"):
        sweeps.bohb(mlp, design, min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match="space: a model-based search"):
        sweeps.successive_halving(mlp, design, sampler=sweeps.tpe(), trials=8, min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match="sampler: expected a sampler"):
        sweeps.search(mlp, dists, trials=8, steps=4, sampler="tpe", **kw)
    with pytest.raises(ValueError, match="trials: a search with a sampler needs"):
        sweeps.successive_halving(mlp, dists, sampler=sweeps.tpe(), min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match="trials: only with a dict of distributions"):
        sweeps.successive_halving(mlp, design, trials=8, min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match=r"hyperparameters \['h'\] are not the trainable's"):  # a static axis it lacks
        sweeps.asha(mlp, {**dists, "h": sweeps.static([1, 2])}, trials=8, min_steps=1, max_steps=9, **kw)
    with pytest.raises(ValueError, match="steps: a trainable is trained for a budget"):
        sweeps.search(mlp, dists, trials=8, **kw)
    with pytest.raises(ValueError, match="steps: only for a trainable"):
        sweeps.search(lambda key, lr: {"loss": lr}, {"lr": sweeps.uniform(0, 1)}, trials=4, steps=3,
                      key=jax.random.key(0), metric="loss", mode="min")
    with pytest.raises(ValueError, match="out_dir: this sampler shares an Optuna storage"):
        sweeps.asha(mlp, dists, trials=8, min_steps=1, max_steps=9, sampler=NotReplayable(), out_dir=tmp_path, **kw)
    with pytest.raises(ValueError, match="mode: "):
        sweeps.search(lambda key, lr: {"loss": lr}, {"lr": sweeps.uniform(0, 1)}, trials=4,
                      key=jax.random.key(0), metric="loss")
    with pytest.raises(ValueError, match=r"are not outputs of fn; it returns \[.loss.\]"):
        sweeps.search(lambda key, lr: {"loss": lr}, {"lr": sweeps.uniform(0, 1)}, trials=4,
                      key=jax.random.key(0), metric="acc", mode="max")
    with pytest.raises(ValueError, match="trials: expected an integer >= 1"):
        sweeps.search(mlp, dists, trials=0, steps=4, **kw)


class Interrupt(Exception):
    pass


class Stopping(RandomSampler):
    """Stops the search at its third proposal (as kill -9 would after two batches)."""

    def __init__(self):
        self.calls = 0

    def propose(self, n, space, history, seed):
        self.calls += 1
        if self.calls == 3:
            raise Interrupt
        return super().propose(n, space, history, seed)


def test_search_of_a_function_resumes_from_out_dir(tmp_path, capsys):
    def fn(key, x, y):
        return {"final_loss": (x - 0.3) ** 2 + y + 0.01 * jax.random.normal(key)}

    space = dict(x=sweeps.uniform(0, 1), y=sweeps.loguniform(1e-3, 1.0))
    kw = dict(trials=24, batch=8, key=jax.random.key(7), metric="final_loss", mode="min")
    whole = sweeps.search(fn, space, sampler=RandomSampler(), **kw)
    with pytest.raises(Interrupt):
        sweeps.search(fn, space, sampler=Stopping(), out_dir=tmp_path, **kw)
    assert sorted(os.listdir(tmp_path)) == ["batch_0000", "batch_0001"]
    capsys.readouterr()
    again = sweeps.search(fn, space, sampler=RandomSampler(), out_dir=tmp_path, **kw)
    assert "resuming" in capsys.readouterr().err  # the finished batches were read back, not recomputed
    np.testing.assert_array_equal(again["final_loss"], whole["final_loss"])
    np.testing.assert_array_equal(again.coords["x"], whole.coords["x"])
    assert sweeps.SweepResult.load(tmp_path).best() == again.best()


class Shifted:
    """Random points shifted by ``shift`` (mod 1), described by its class alone (no describe() nor repr: two of
    them with different shifts have the same checkpoint identity)."""

    def __init__(self, shift):
        self.shift = shift

    def propose(self, n, space, history, seed):
        return (RandomSampler().propose(n, space, history, seed) + self.shift) % 1.0


def rule():
    """A fresh function object (another address) each call, with the same qualified name."""
    def stop(trials, i):
        return False
    return stop


def test_a_resumed_search_replays_only_its_own_calls(prob, tmp_path):
    """A sampler or rule without a repr of its own is identified by its qualified name (the same in every process,
    so such a search resumes after kill -9); one that proposes other points, described alike, is refused at the
    first replayed call whose inputs differ, never mixed with the logged results."""
    mlp, dists, data = prob
    assert describe(Shifted(0.0)) == {"sampler": "test_model_based.Shifted"}
    assert stable_repr(rule()) == stable_repr(rule()) == "test_model_based.rule.<locals>.stop"
    assert stable_repr(RandomSampler()) == "RandomSampler()"
    kw = dict(trials=9, min_steps=1, max_steps=9, eta=3, lanes=4, key=jax.random.key(2), data=data, checkpoint_s=0.0,
              **KW)
    first = sweeps.asha(mlp, dists, sampler=Shifted(0.0), out_dir=tmp_path / "a", **kw)
    again = sweeps.asha(mlp, dists, sampler=Shifted(0.0), out_dir=tmp_path / "a", **kw)
    assert again.curves == first.curves and again.best()["trial"] == first.best()["trial"]
    with pytest.raises(ValueError, match="holds a different search: its call 1 had other inputs"):
        sweeps.asha(mlp, dists, sampler=Shifted(0.5), out_dir=tmp_path / "a", **kw)
    run = dict(steps=4, segment=2, key=jax.random.key(2), data=data, out_dir=tmp_path / "r", **KW)
    first = sweeps.run(mlp, sweeps.random(4, **dists), early_stopping=rule(), **run)
    assert sweeps.run(mlp, sweeps.random(4, **dists), early_stopping=rule(), **run).curves == first.curves


def test_random_proposals_do_not_depend_on_the_lanes(prob):
    """Trial r's random point comes from its own stream: 4 or 8 lanes (hence 1 or 4 devices by default) propose
    the same trials."""
    mlp, dists, data = prob
    kw = dict(trials=9, min_steps=1, max_steps=9, eta=3, key=jax.random.key(3), data=data, **KW)
    a, b = (sweeps.asha(mlp, dists, lanes=w, **kw) for w in (4, 8))
    assert a.meta["propose_calls"] > b.meta["propose_calls"] >= 1
    for k in dists:
        np.testing.assert_array_equal(a.trials[k], b.trials[k])
