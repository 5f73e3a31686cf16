"""The Optuna bridge: Optuna in (sweeps.samplers.optuna: an Optuna study proposes a search's trials, in memory and
shared by 2 processes through a journal file) and Optuna out (sweeps.export.to_optuna: jaxnn.sweep and
successive_halving results written to SQLite and read back by optuna.load_study)."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import sweeps
from jaxnn.sweeps import status as st
from jaxnn.sweeps.export import optuna_distribution, to_optuna
from jaxnn.sweeps.samplers.base import COMPLETE, FAIL, PRUNED, RUNNING, History, empty_history
from jaxnn.sweeps.samplers.checks import check_sampler
from jaxnn.sweeps.samplers.optuna import OptunaSampler, optuna_sampler

optuna = pytest.importorskip("optuna")
from optuna.storages.journal import JournalFileBackend  # noqa: E402

TS = optuna.trial.TrialState
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "_optuna_worker.py")
_spec = importlib.util.spec_from_file_location("_optuna_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


@pytest.fixture(autouse=True)
def quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


def journal(path):
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def grow(history, u, curves, states):
    """``history`` with rows ``u`` appended, their curves ``[(step, value), ...]`` and states (loss: the curve
    at the budgets, signed lower-is-better)."""
    sign = -1.0 if history.mode == "max" else 1.0
    loss = np.array([[sign * dict(c).get(b, np.nan) for b in history.budgets] for c in curves], np.float64)
    return History(np.concatenate([history.u, u]), history.budgets, np.concatenate([history.loss, loss]),
                   np.concatenate([history.state, np.asarray(states, np.int8)]), history.curves + list(curves),
                   history.mode, history.metric)


def update(history, i, curve, state):
    """``history`` with trial i's curve and state replaced (a trial observed again, or finished)."""
    curves = list(history.curves)
    curves[i] = curve
    s = history.state.copy()
    s[i] = state
    return history._replace(curves=curves, state=s)


def quadratic(key, lr, scale, floor=0.0):
    """Gradient descent on f(x) = x^2 + floor for 8 steps from x0 ~ scale: overflows (diverges) for lr >~ 200."""
    x0 = scale * (1.0 + jnp.abs(jax.random.normal(key)))
    loss = (x0 * (1.0 - 0.2 * lr) ** jnp.arange(8)) ** 2 + floor
    return {"final_loss": loss[-1], "loss": loss}


# --- Optuna in ------------------------------------------------------------------------------------------

def test_distributions_follow_the_space():
    D = optuna.distributions
    assert optuna_distribution("uniform", (-1.0, 2.0)) == D.FloatDistribution(-1.0, 2.0)
    assert optuna_distribution("loguniform", (1e-3, 1.0)) == D.FloatDistribution(1e-3, 1.0, log=True)
    assert optuna_distribution("integers", (2, 5)) == D.IntDistribution(2, 4)  # jaxnn's high is exclusive
    assert optuna_distribution("static", ("tanh", "relu")) == D.CategoricalDistribution(["tanh", "relu"])
    assert optuna_distribution("choice", (0.1, 0.3, 0.1)) == D.CategoricalDistribution([0.1, 0.3])
    assert optuna_distribution("constant", (3.0,)) is None


def test_propose_asks_reports_and_tells():
    sp = worker.space()
    s = optuna_sampler(optuna.samplers.TPESampler(seed=0))
    assert s.replayable and isinstance(check_sampler(s), OptunaSampler)
    h = empty_history(sp.d, (1, 3), "min", "loss")
    u = s.propose(4, sp, h, (0, 0))
    assert u.shape == (4, sp.d) and np.all((u >= 0) & (u < 1))
    trials = s.study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TS.RUNNING] * 4 and s.trial_numbers == [0, 1, 2, 3]
    v = sp.values(u)  # the proposals are the asked trials' params (bin centres for k and act)
    for j, t in enumerate(trials):
        assert t.params["k"] == v["k"][j] and t.params["act"] == v["act"][j]
        np.testing.assert_allclose([v["x"][j], v["lr"][j]], [t.params["x"], t.params["lr"]], rtol=1e-12)
        assert t.user_attrs == {"jaxnn_trial": j, "jaxnn_constants": {"lam": 1e-4}}
        assert set(t.distributions) == {"x", "lr", "k", "act"}
    # trial 0 ran to the end, 1 was pruned after one budget, 2 failed, 3 is still training (NaN not reported)
    h = grow(h, u, [[(1, 0.9), (3, 0.5)], [(1, 2.0)], [(1, np.inf)], [(1, 0.7), (2, np.nan)]],
             [COMPLETE, PRUNED, FAIL, RUNNING])
    s.propose(2, sp, h, (0, 1))
    t = s.study.get_trials(deepcopy=False)
    assert [x.state for x in t] == [TS.COMPLETE, TS.PRUNED, TS.FAIL, TS.RUNNING, TS.RUNNING, TS.RUNNING]
    assert t[0].value == 0.5 and t[0].intermediate_values == {1: 0.9, 3: 0.5}
    assert t[1].value == 2.0 and t[1].intermediate_values == {1: 2.0}  # Optuna's pruned value: the last one
    assert t[2].value is None and t[2].intermediate_values == {}
    assert t[3].intermediate_values == {1: 0.7}
    assert t[4].user_attrs["jaxnn_trial"] == 4
    # trial 3 observed once more, then the search ends: 3 completes, 4 and 5 never ran (told PRUNED)
    h = update(grow(h, np.zeros((2, sp.d)), [[], []], [RUNNING, RUNNING]), 3, [(1, 0.7), (2, np.nan), (3, 0.4)],
               COMPLETE)
    s.finish(sp, h)
    t = s.study.get_trials(deepcopy=False)
    assert t[3].state == TS.COMPLETE and t[3].intermediate_values == {1: 0.7, 3: 0.4} and t[3].value == 0.4
    assert [x.state for x in t[4:]] == [TS.PRUNED, TS.PRUNED] and t[4].value is None
    assert s.describe() == {"sampler": "optuna", "optuna_sampler": "TPESampler", "storage": None,
                            "study_name": None}
    json.dumps(s.describe())


def loop(sampler, sp, seed, batches=3, batch=4):
    h = empty_history(sp.d, (1,), "min", "loss")
    out = []
    for b in range(batches):
        u = sampler.propose(batch, sp, h, seed + (b,))
        out.append(u)
        h = grow(h, u, [[(1, float(v))] for v in worker.objective(sp.values(u))], [COMPLETE] * batch)
    sampler.finish(sp, h)
    return np.concatenate(out)


def test_in_memory_searches_are_replayable(tmp_path):
    sp = worker.space()
    tpe = optuna.samplers.TPESampler(seed=3, n_startup_trials=4)
    s = optuna_sampler(tpe)
    a = loop(s, sp, (7, 8))
    b = loop(s, sp, (7, 8))  # the same adapter, a new search: a new study from the sampler as given
    c = loop(optuna_sampler(tpe), sp, (7, 8))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert len(s.study.trials) == 12
    # the default TPE is seeded from the search's key (seed[:-1]): same key, same trials; another key, others
    d1, d2, d3 = (loop(optuna_sampler(), sp, k, batches=1) for k in ((1, 2), (1, 2), (1, 5)))
    np.testing.assert_array_equal(d1, d2)
    assert not np.allclose(d1, d3)
    assert not optuna_sampler(storage=journal(tmp_path / "unused.log")).replayable


def test_history_rows_not_proposed_here():
    sp = worker.space()
    s = optuna_sampler(optuna.samplers.TPESampler(seed=0))
    h = empty_history(sp.d, (1,), "max", "acc")
    s.propose(2, sp, h, (0, 0))
    given = np.array([[0.3, 0.6, 0.625, 0.25]])  # x=-0.8, k=2, act=tanh
    h = grow(h, np.vstack([np.full((2, sp.d), 0.5), given]), [[(1, 0.1)], [(1, 0.2)], [(1, 0.8)]], [COMPLETE] * 3)
    s.propose(1, sp, h, (0, 1))  # in memory: the third row is adopted with its own params
    t = s.study.get_trials(deepcopy=False)
    assert len(t) == 4 and t[2].state == TS.COMPLETE and t[2].value == 0.8 and s.study.best_trial.number == 2
    assert t[2].params["k"] == 2 and t[2].params["act"] == "tanh" and np.isclose(t[2].params["x"], -0.8)
    with pytest.raises(ValueError, match="history: 2 trials, but this adapter already proposed 4"):
        s.propose(1, sp, h._replace(u=h.u[:2], state=h.state[:2], curves=h.curves[:2], loss=h.loss[:2]), (0, 2))


def test_processes_share_a_journal_study(tmp_path):
    """2 processes, one JournalFileBackend study: 24 trials, all COMPLETE, each evaluated by exactly one."""
    path, name = tmp_path / "journal.log", "shared"
    procs = [subprocess.Popen([sys.executable, WORKER, str(path), name, str(tmp_path / f"w{w}.json"), str(w)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for w in range(2)]
    for p in procs:
        out = p.communicate(timeout=120)[0].decode()
        assert p.returncode == 0, out
    got = [json.loads((tmp_path / f"w{w}.json").read_text()) for w in range(2)]
    study = optuna.load_study(study_name=name, storage=journal(path))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 24 and all(t.state == TS.COMPLETE for t in trials)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(24))
    a, b = (set(g["numbers"]) for g in got)
    assert len(a) == len(b) == 12 and not a & b and a | b == set(numbers)
    values = {int(n): v for g in got for n, v in g["values"].items()}
    for t in trials:  # each trial's value is the one its process evaluated, at that trial's params
        assert t.value == values[t.number]
        p = {k: np.array([t.params[k]]) for k in t.params}
        np.testing.assert_allclose(worker.objective(p), t.value, rtol=1e-9)


def test_a_shared_study_is_seen_by_every_adapter(tmp_path):
    seen = []

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, dist):
            seen.append(len(study.get_trials(deepcopy=False, states=(TS.COMPLETE,))))
            return super().sample_independent(study, trial, name, dist)

    sp = worker.space()
    a = optuna_sampler(optuna.samplers.RandomSampler(seed=0), storage=journal(tmp_path / "j.log"), study_name="s")
    b = optuna_sampler(Recording(seed=1), storage=journal(tmp_path / "j.log"), study_name="s")
    loop(a, sp, (0,), batches=1, batch=3)
    b.propose(1, sp, empty_history(sp.d, (1,), "min", "loss"), (1, 0))
    assert seen and set(seen) == {3} and b.trial_numbers == [3]
    with pytest.raises(ValueError, match="with a shared storage trial i of the history must be"):
        b.propose(1, sp, grow(empty_history(sp.d, (1,), "min", "loss"), np.full((2, sp.d), 0.5),
                              [[], []], [RUNNING] * 2), (1, 1))


def test_sampler_bad_input():
    with pytest.raises(ValueError, match="sampler: expected an Optuna sampler"):
        optuna_sampler("tpe")
    with pytest.raises(ValueError, match="storage: expected None"):
        optuna_sampler(storage=3)
    with pytest.raises(ValueError, match="study_name: expected a non-empty string"):
        optuna_sampler(study_name="")
    bad = "sqlite:////no/such/folder/x.db"
    with pytest.raises(ValueError, match=r"storage: cannot open 'sqlite:////no/such/folder/x.db' \(OperationalError"):
        optuna_sampler(storage=bad)  # when the adapter is made, before any search


def test_a_study_whose_direction_contradicts_mode(tmp_path):
    sp = worker.space()
    url = f"sqlite:///{tmp_path}/d.db"
    optuna.create_study(storage=url, study_name="acc", direction="maximize")
    with pytest.raises(ValueError, match="a study whose direction contradicts mode='min'"):
        optuna_sampler(storage=url, study_name="acc").propose(1, sp, empty_history(sp.d, (1,), "min", "l"), (0, 0))
    u = optuna_sampler(storage=url, study_name="acc").propose(2, sp, empty_history(sp.d, (1,), "max", "a"), (0, 0))
    assert u.shape == (2, sp.d) and len(optuna.load_study(study_name="acc", storage=url).trials) == 2


def test_search_proposes_through_the_study():
    """sweeps.search driven by an in-memory Optuna study: every trial told with the value the search measured."""
    space = {"lr": sweeps.loguniform(1e-2, 1e3), "scale": sweeps.uniform(0.5, 2.0), "floor": 0.25}
    s = sweeps.optuna_sampler(optuna.samplers.TPESampler(seed=0, n_startup_trials=4))
    res = sweeps.search(quadratic, space, trials=12, batch=4, key=jax.random.key(0), metric="final_loss",
                        mode="min", sampler=s, progress=False)
    trials = s.study.get_trials(deepcopy=False)
    assert len(trials) == 12 and s.trial_numbers == list(range(12))
    ok = (res.status == st.OK)[:, 0]
    assert [t.state for t in trials] == [TS.COMPLETE if o else TS.FAIL for o in ok]
    for i, t in enumerate(trials):
        np.testing.assert_allclose([t.params["lr"], t.params["scale"]], [res.coords["lr"][i], res.coords["scale"][i]],
                                   rtol=1e-6)
        if ok[i]:
            assert t.value == pytest.approx(float(res["final_loss"][i, 0]), rel=1e-6)
    assert s.study.best_trial.number == res.best()["trial"]


# --- Optuna out -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep_random():
    space = sweeps.random(8, lr=sweeps.loguniform(1e-2, 1e5), scale=sweeps.uniform(0.5, 2.0), floor=0.25)
    return sweeps.sweep(quadratic, space, key=jax.random.key(1), seeds=2, directions={"final_loss": "min"},
                        progress=False)


def test_sweep_result_to_optuna(sweep_random, tmp_path):
    res, url = sweep_random, f"sqlite:///{tmp_path}/r.db"
    assert 0 < int((res.status != st.OK).any(axis=1).sum()) < 8  # some diverged, some not
    study = res.to_optuna(url, "quad", curve="loss")
    back = optuna.load_study(study_name="quad", storage=url)
    assert study.direction == back.direction == optuna.study.StudyDirection.MINIMIZE
    trials = back.get_trials(deepcopy=False)
    assert len(trials) == 8
    fail = (res.status != st.OK).any(axis=1)
    assert [t.state for t in trials] == [TS.FAIL if f else TS.COMPLETE for f in fail]
    mean = res["final_loss"].astype(np.float64).mean(axis=1)
    curve = res["loss"].astype(np.float64).mean(axis=1)
    for i, t in enumerate(trials):
        assert t.user_attrs["jaxnn_trial"] == i and t.user_attrs["jaxnn_constants"] == {"floor": 0.25}
        assert t.params == {"lr": pytest.approx(res.coords["lr"][i], rel=1e-12),
                            "scale": pytest.approx(res.coords["scale"][i], rel=1e-12)}
        assert t.distributions["lr"] == optuna.distributions.FloatDistribution(1e-2, 1e5, log=True)
        want = {j: v for j, v in enumerate(curve[i]) if np.isfinite(v)}
        assert t.intermediate_values.keys() == want.keys()
        np.testing.assert_allclose(list(t.intermediate_values.values()), list(want.values()), rtol=1e-12)
        if not fail[i]:
            assert t.value == pytest.approx(mean[i], rel=1e-12) and t.user_attrs["jaxnn_status"] == ["ok", "ok"]
        else:
            assert t.value is None and "diverged" in t.user_attrs["jaxnn_status"]
    assert back.best_trial.user_attrs["jaxnn_trial"] == res.best()["trial"]
    assert back.best_value == pytest.approx(res.best()["final_loss"], rel=1e-12)


def test_grid_result_to_optuna(tmp_path):
    grid = sweeps.grid(lr=[0.5, 2.0, 1e4], scale=[1.0, 2.0])
    res = sweeps.sweep(quadratic, grid, key=jax.random.key(0), directions={"final_loss": "min"}, progress=False)
    url = f"sqlite:///{tmp_path}/g.db"
    to_optuna(res, url, "grid")
    trials = optuna.load_study(study_name="grid", storage=url).get_trials(deepcopy=False)
    assert len(trials) == 6 and [t.state for t in trials] == [TS.COMPLETE] * 4 + [TS.FAIL] * 2
    assert trials[5].user_attrs["jaxnn_index"] == [2, 1] and trials[5].params == {"lr": 1e4, "scale": 2.0}
    assert trials[0].distributions["lr"] == optuna.distributions.CategoricalDistribution([0.5, 2.0, 1e4])
    assert all(t.intermediate_values == {} for t in trials)  # no curve asked for
    best = optuna.load_study(study_name="grid", storage=url).best_trial
    b = res.best()
    assert best.user_attrs["jaxnn_index"] == list(b["index"]) and best.params == {"lr": b["lr"], "scale": b["scale"]}
    # the study exists: trials are added to it; the other direction is refused
    res.to_optuna(url, "grid")
    assert len(optuna.load_study(study_name="grid", storage=url).trials) == 12
    with pytest.raises(ValueError, match="a study whose direction contradicts mode='max'"):
        res.to_optuna(url, "grid", mode="max")


@pytest.fixture(scope="module")
def tiny():
    """A 4-3-2 tanh/softmax trainable (adam) and 30 / 10 random samples of a linear rule."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    Y = np.eye(2, dtype=np.float32)[(X[:, 0] + X[:, 1] > 0).astype(int)]
    data = {"X": X[:30], "Y": Y[:30], "X_val": X[30:], "Y_val": Y[30:]}
    mlp = jaxnn.trainable([4, 3, 2], activation="tanh", output_activation="softmax", loss="cross_entropy",
                          optimizer="adam")
    return mlp, data


SH9 = dict(key=jax.random.key(0), metric="val_accuracy", mode="max", min_steps=1, max_steps=9, eta=3, progress=False)


@pytest.fixture(scope="module")
def halving(tiny):
    mlp, data = tiny
    space = sweeps.random(9, lr=sweeps.loguniform(1e-2, 1e30), scale=sweeps.uniform(0.1, 1.0), lam=1e-4)
    return sweeps.successive_halving(mlp, space, data=data, **SH9)


def test_a_search_checks_the_studys_direction_before_training(tiny, tmp_path, monkeypatch):
    from jaxnn.sweeps import lanes

    mlp, data = tiny
    url = f"sqlite:///{tmp_path}/d.db"
    optuna.create_study(storage=url, study_name="loss", direction="minimize")
    calls = []
    monkeypatch.setattr(lanes.Pool, "advance", lambda *a, **k: calls.append(a))
    dists = dict(lr=sweeps.loguniform(1e-2, 1.0), scale=sweeps.uniform(0.1, 1.0))
    kw = dict(key=jax.random.key(0), data=data, metric="val_accuracy", progress=False)
    for run in (lambda s: sweeps.asha(mlp, dists, trials=6, min_steps=1, max_steps=3, sampler=s, **kw),
                lambda s: sweeps.search(mlp, dists, trials=4, batch=2, steps=2, sampler=s, **kw)):
        with pytest.raises(ValueError, match="mode: 'loss' in sqlite:///.* contradicts mode='max'"):
            run(optuna_sampler(storage=url, study_name="loss"))
    with pytest.raises(ValueError, match="mode: 'loss' in .* contradicts mode='max'"):
        sweeps.search(lambda key, lr, scale: {"m": lr}, dists, trials=4, batch=2, key=jax.random.key(0), metric="m",
                      mode="max", sampler=optuna_sampler(storage=url, study_name="loss"))
    assert not calls and len(optuna.load_study(study_name="loss", storage=url).trials) == 0


def test_successive_halving_tells_the_study(tiny):
    """successive_halving proposing through the adapter: the eliminated trials are PRUNED in the study at
    their last rung's value, the survivor COMPLETE at max_steps."""
    mlp, data = tiny
    s = sweeps.optuna_sampler(optuna.samplers.TPESampler(seed=1))
    res = sweeps.successive_halving(mlp, {"lr": sweeps.loguniform(1e-3, 1.0), "scale": sweeps.uniform(0.1, 1.0),
                                                "lam": 1e-4}, data=data, sampler=s, trials=9, **SH9)
    trials = s.study.get_trials(deepcopy=False)
    assert len(trials) == 9 and len(res.final) == 1 and all(res.status == st.OK)
    for i, t in enumerate(trials):  # proposed in trial order: history row i is trial i
        assert t.user_attrs["jaxnn_trial"] == i
        assert t.params["lr"] == pytest.approx(res.trials["lr"][i], rel=1e-6)
        assert t.intermediate_values == pytest.approx({k: m["val_accuracy"] for k, m in res.curves[i]})
        assert t.state == (TS.COMPLETE if i in res.final else TS.PRUNED)
        assert t.value == pytest.approx(res.value(i))
    assert s.study.best_trial.params["lr"] == pytest.approx(res.best()["lr"], rel=1e-6)


def test_adaptive_result_to_optuna(halving, tmp_path):
    res, url = halving, f"sqlite:///{tmp_path}/r.db"
    ok = res.status == st.OK
    assert [r["steps"] for r in res.rungs] == [1, 3, 9] and len(res.final) == 1
    assert (~ok).sum() >= 1 and (ok.sum() - 1) >= 1  # a diverged lr (up to 1e30) and a pruned trial
    res.to_optuna(url, "sh")
    study = optuna.load_study(study_name="sh", storage=url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 9  # every trial started (rung 1)
    states = [t.state for t in trials]
    assert states.count(TS.COMPLETE) == 1 and states.count(TS.FAIL) == int((~ok).sum())
    assert states.count(TS.PRUNED) == int(ok.sum()) - 1
    for i, t in enumerate(trials):
        assert t.user_attrs["jaxnn_trial"] == i and t.user_attrs["jaxnn_constants"] == {"lam": 1e-4}
        assert t.state == (TS.FAIL if not ok[i] else TS.COMPLETE if i in res.final else TS.PRUNED)
        assert t.params["lr"] == pytest.approx(res.trials["lr"][i], rel=1e-12)
        assert t.params["scale"] == pytest.approx(res.trials["scale"][i], rel=1e-12)
        want = {s: m["val_accuracy"] for s, m in res.curves[i] if np.isfinite(m["val_accuracy"])}
        assert t.intermediate_values == pytest.approx(want, rel=1e-12)
        assert t.user_attrs["jaxnn_steps"] == res.curves[i][-1][0]
        if t.state != TS.FAIL:  # COMPLETE: the last value; PRUNED: the last intermediate value
            assert t.value == pytest.approx(res.value(i), rel=1e-12)
    best = res.best()
    assert study.best_trial.user_attrs["jaxnn_trial"] == best["trial"]
    assert study.best_value == pytest.approx(best["val_accuracy"]) and study.best_params["lr"] == pytest.approx(
        best["lr"], rel=1e-12)
    assert study.best_trial.user_attrs["jaxnn_key"] == np.asarray(res.keys[best["trial"]]).reshape(-1).tolist()
    # another metric of the curves, with its declared direction
    other = to_optuna(res, None, "val_loss", metric="val_loss")
    assert other.direction == optuna.study.StudyDirection.MINIMIZE
    for i, t in enumerate(other.trials):
        if ok[i]:
            assert t.value == pytest.approx(res.value(i, "val_loss"), rel=1e-12)


def test_run_prunes_nothing_its_early_stopped_trials_complete(tiny):
    """sweeps.run's early-stopped trials are COMPLETE at the step they stopped (their last value is their result,
    ranked by best() with the others), not PRUNED: no rung eliminated them."""
    mlp, data = tiny
    space = sweeps.random(6, lr=sweeps.loguniform(1e-2, 1.0), scale=sweeps.uniform(0.1, 1.0), lam=1e-4)
    res = sweeps.run(mlp, space, key=jax.random.key(0), data=data, steps=24, segment=2, metric="val_loss",
                     early_stopping=sweeps.patience("val_loss", 1), progress=False)
    stops = [c[-1][0] for c in res.curves]
    assert all(res.status == st.OK) and min(stops) < 24 and res.meta["n_stopped_early"] >= 1
    study = res.to_optuna(None, "run")
    for i, t in enumerate(study.trials):
        assert t.state == TS.COMPLETE and t.user_attrs["jaxnn_steps"] == stops[i]
        assert t.value == pytest.approx(res.value(i), rel=1e-12)
    assert study.best_trial.user_attrs["jaxnn_trial"] == res.best()["trial"]


def test_to_optuna_bad_input(sweep_random, halving):
    with pytest.raises(ValueError, match="study_name: expected a non-empty string"):
        to_optuna(sweep_random, None, "")
    with pytest.raises(ValueError, match="storage: expected None"):
        to_optuna(sweep_random, 1.5, "x")
    with pytest.raises(ValueError, match="result: expected a SweepResult or an AdaptiveResult"):
        to_optuna({"a": 1}, None, "x")
    with pytest.raises(ValueError, match=r"curve: expected the name of an output .* \['loss'\], got 'final_loss'"):
        sweep_random.to_optuna(None, "x", curve="final_loss")
    with pytest.raises(ValueError, match="curve: only for a SweepResult"):
        to_optuna(halving, None, "x", curve="loss")
    for mode in ("max", None):  # not "no direction is declared for 'nope'": it is no metric at all
        with pytest.raises(ValueError, match=r"metric: 'nope' is not one of this result's metrics; expected one of "
                                             r"\[.*'val_accuracy', 'val_loss'\]"):
            halving.to_optuna(None, "x", metric="nope", mode=mode)
    with pytest.raises(ValueError, match="metric: expected a scalar metric"):
        sweep_random.to_optuna(None, "x", metric="loss", mode="min")
    with pytest.raises(ValueError, match="storage: cannot open 'notadialect://x'"):
        sweep_random.to_optuna("notadialect://x", "x")


def test_without_optuna_the_error_names_the_extra(monkeypatch, sweep_random):
    monkeypatch.setitem(sys.modules, "optuna", None)
    for call in (lambda: optuna_sampler(), lambda: sweep_random.to_optuna(None, "x"),
                 lambda: to_optuna(sweep_random, None, "x")):
        with pytest.raises(ImportError, match=r"optuna is needed here: pip install 'jaxnn\[optuna\]'"):
            call()
