"""Tests for jaxnn.sweeps.spaces: sampling from the sweep's key (random, Sobol), the distributions' ranges
and spread, grid / table layout, plain dicts as grids, and every validation error.  Host-side only: no
sweep is run here (see tests/test_sweep_spaces.py)."""

import json
import math
import warnings

import jax
import numpy as np
import pytest
from scipy.stats import kstest, qmc

from jaxnn import sweeps
from jaxnn.sweeps import spaces

KEY = jax.random.key(0)
OTHER = jax.random.key(1)


def mixed(n=512, kind=sweeps.random):
    return kind(n, lr=sweeps.loguniform(1e-4, 1.0), mom=sweeps.uniform(-0.5, 0.9), fold=sweeps.integers(-2, 3),
                lam=sweeps.choice([0.0, 1e-3, 1e-1]), act=sweeps.static(["tanh", "relu", "gelu"]),
                hidden=sweeps.static([8, 16]), steps=40, beta=0.25)


# --- random and Sobol: sampled on the host from the key ------------------------------------------------

@pytest.mark.parametrize("kind", [sweeps.random, sweeps.sobol])
def test_same_key_same_trials_other_key_other_trials(kind):
    space = mixed(256, kind)
    a, b, c = space.resolve(KEY), space.resolve(jax.random.key(0)), space.resolve(OTHER)
    assert isinstance(a, sweeps.Design) and a.kind == kind.__name__
    assert a.shape == (256,) and a.n == 256
    assert list(a.axes) == ["trial"]
    np.testing.assert_array_equal(a.axes["trial"], np.arange(256))
    assert list(a.values) == ["lr", "mom", "fold", "lam", "act", "hidden", "steps", "beta"]
    for k in a.values:
        assert a.values[k].shape == (256,)
        np.testing.assert_array_equal(a.values[k], b.values[k], err_msg=k)
    for k in ("lr", "mom", "fold", "act"):
        assert not np.array_equal(a.values[k], c.values[k]), k
    # a raw uint32 key with the same key data gives the same trials
    raw = space.resolve(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(raw.values["lr"], a.values["lr"])
    assert a.static == ("act", "hidden")
    assert a.traced == ("lr", "mom", "fold", "lam", "steps", "beta")


@pytest.mark.parametrize("kind", [sweeps.random, sweeps.sobol])
def test_values_lie_in_their_ranges_with_their_dtypes(kind):
    v = mixed(512, kind).resolve(KEY).values
    assert v["lr"].dtype == np.float64 and ((v["lr"] >= 1e-4) & (v["lr"] < 1.0)).all()
    assert ((v["mom"] >= -0.5) & (v["mom"] < 0.9)).all()
    assert v["fold"].dtype == np.int64 and set(v["fold"].tolist()) == {-2, -1, 0, 1, 2}
    assert set(v["lam"].tolist()) == {0.0, 1e-3, 1e-1}
    assert set(v["act"].tolist()) == {"tanh", "relu", "gelu"}
    assert set(v["hidden"].tolist()) == {8, 16} and v["hidden"].dtype == np.int64
    # a number is a constant, of its own type
    assert v["steps"].tolist() == [40] * 512 and v["steps"].dtype == np.int64
    assert v["beta"].tolist() == [0.25] * 512 and v["beta"].dtype == np.float64


@pytest.mark.parametrize("kind", [sweeps.random, sweeps.sobol])
def test_loguniform_log10_is_uniform_and_uniform_is_uniform(kind):
    v = kind(4096, lr=sweeps.loguniform(1e-4, 10.0), x=sweeps.uniform(-3.0, 5.0)).resolve(KEY).values
    log10 = np.log10(v["lr"])
    assert kstest(log10, "uniform", args=(-4.0, 5.0)).pvalue > 1e-3
    assert kstest(v["x"], "uniform", args=(-3.0, 8.0)).pvalue > 1e-3
    # and not uniform on the linear scale: most values sit in the lowest decade of the range
    assert kstest(v["lr"], "uniform", args=(1e-4, 10.0)).pvalue < 1e-10
    assert abs(np.mean(log10 < -3.0) - 0.2) < 0.03


def test_integers_cover_exactly_low_to_high_minus_one():
    for lo, hi in ((0, 1), (-2, 3), (5, 12)):
        v = sweeps.random(600, i=sweeps.integers(lo, hi)).resolve(KEY).values["i"]
        assert set(v.tolist()) == set(range(lo, hi)), (lo, hi)
        if hi - lo > 1:  # equal probabilities
            counts = np.bincount(v - lo)
            assert counts.min() > 600 / (hi - lo) * 0.6


def test_choice_and_static_pick_only_from_their_values_all_of_them():
    for kind in (sweeps.random, sweeps.sobol):
        v = kind(256, c=sweeps.choice([1, 7, 3, 9]), s=sweeps.static([True, False]),
                 w=sweeps.static([0.5, 2.0, 4.0])).resolve(OTHER).values
        assert sorted(set(v["c"].tolist())) == [1, 3, 7, 9] and v["c"].dtype == np.int64
        assert set(v["s"].tolist()) == {True, False} and v["s"].dtype == bool
        assert set(v["w"].tolist()) == {0.5, 2.0, 4.0}


def test_quantile_functions_stay_inside_the_half_open_ranges():
    """ppf(u) for u in [0, 1) lies in [low, high), also at the ends (exp(log(x)) != x in floating point)."""
    edges = np.array([0.0, 1e-17, 0.5, np.nextafter(1.0, 0.0)])
    for d in (sweeps.uniform(1.0, 3.0), sweeps.uniform(0.1, 0.7), sweeps.uniform(-1e-3, 7.0),
              sweeps.loguniform(1e-5, 1.0), sweeps.loguniform(3.0, 10.0), sweeps.loguniform(7.0, 1000.0)):
        lo, hi = d.args
        x = d.ppf(edges)
        assert (x >= lo).all() and (x < hi).all(), (d, x - lo, x - hi)
        mid = (lo + hi) / 2 if d.kind == "uniform" else math.sqrt(lo * hi)
        assert math.isclose(x[0], lo, rel_tol=1e-14) and math.isclose(x[2], mid)
    i = sweeps.integers(-3, 4).ppf(edges)
    assert i.tolist() == [-3, -3, 0, 3]
    c = sweeps.static(["a", "b", "c"]).ppf(edges)
    assert c.tolist() == ["a", "a", "b", "c"]


def test_sobol_is_scrambled_sobol_with_lower_discrepancy_than_random():
    dists = dict(a=sweeps.uniform(0.0, 1.0), b=sweeps.uniform(0.0, 1.0), c=sweeps.uniform(0.0, 1.0))
    s = sweeps.sobol(256, **dists).resolve(KEY).values
    r = sweeps.random(256, **dists).resolve(KEY).values
    S = np.stack([s[k] for k in dists], axis=1)
    R = np.stack([r[k] for k in dists], axis=1)
    assert qmc.discrepancy(S) < 0.1 * qmc.discrepancy(R)
    # a (0, 8, 2)-net in base 2: every elementary box of volume 1/256 holds exactly one point (random: not)
    a, b = S[:, 0], S[:, 1]
    for m in range(9):
        cells = np.floor(a * 2 ** m).astype(int) * 2 ** (8 - m) + np.floor(b * 2 ** (8 - m)).astype(int)
        assert len(np.unique(cells)) == 256, m
    assert len(np.unique(np.floor(R[:, 0] * 256))) < 200
    # scrambled: not the plain Sobol sequence (which starts at the origin), and another key, other points
    assert not np.any(np.all(S == 0.0, axis=1))
    assert not np.allclose(S[:4], qmc.Sobol(3, scramble=False).random(4))
    assert not np.array_equal(S, np.stack([sweeps.sobol(256, **dists).resolve(OTHER).values[k] for k in dists], 1))


def test_sobol_warns_for_n_not_a_power_of_two_only():
    with pytest.warns(UserWarning, match=r"power of two.*\b128\b"):
        space = sweeps.sobol(100, lr=sweeps.loguniform(1e-3, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert space.resolve(KEY).n == 100  # scipy's own warning is not repeated on resolve
        for n in (1, 2, 256):
            sweeps.sobol(n, lr=sweeps.loguniform(1e-3, 1.0)).resolve(KEY)
        sweeps.random(100, lr=sweeps.loguniform(1e-3, 1.0)).resolve(KEY)


# --- grid and table ---------------------------------------------------------------------------------------

def test_grid_is_row_major_with_shape_of_axis_lengths_and_static_axes():
    g = sweeps.grid(lr=[0.1, 1.0], act=sweeps.static(["tanh", "relu", "gelu"]), fold=[0, 1])
    d = g.resolve()  # no key needed
    assert d.kind == "grid" and d.shape == (2, 3, 2) and d.n == 12
    assert list(d.axes) == ["lr", "act", "fold"]
    assert d.axes["act"].tolist() == ["tanh", "relu", "gelu"]
    assert d.values["lr"].tolist() == [0.1] * 6 + [1.0] * 6  # first axis slowest
    assert d.values["act"].tolist() == ["tanh", "tanh", "relu", "relu", "gelu", "gelu"] * 2
    assert d.values["fold"].tolist() == [0, 1] * 6 and d.values["fold"].dtype == np.int64
    assert d.static == ("act",) and d.traced == ("lr", "fold")
    # the same for any key
    np.testing.assert_array_equal(g.resolve(OTHER).values["act"], d.values["act"])
    groups = d.groups()
    assert [s for s, _ in groups] == [{"act": "tanh"}, {"act": "relu"}, {"act": "gelu"}]
    assert [idx.tolist() for _, idx in groups] == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]
    assert type(groups[0][0]["act"]) is str
    # a choice in a grid is an axis of its values
    c = sweeps.grid(lam=sweeps.choice([0.0, 0.5]), h=sweeps.static([4, 8])).resolve()
    assert c.shape == (2, 2) and c.values["h"].tolist() == [4, 8, 4, 8]
    assert [type(s["h"]) for s, _ in c.groups()] == [int, int]
    assert c.groups()[0][0] == {"h": 4}


def test_plain_dict_is_a_grid():
    spec = {"scale": [0.5, 1.0, 2.0], "lr": [0.1, 1.0]}
    space = sweeps.as_space(spec)
    assert space == sweeps.grid(**spec)
    d = space.resolve()
    assert d.kind == "grid" and d.shape == (3, 2)
    assert d.values["scale"].tolist() == [0.5, 0.5, 1.0, 1.0, 2.0, 2.0]
    assert d.values["lr"].tolist() == [0.1, 1.0] * 3
    assert sweeps.as_space(space) is space
    cfg = sweeps.grid_configs(spec)
    np.testing.assert_array_equal(cfg["lr"], d.values["lr"])


def test_table_zips_its_columns():
    t = sweeps.table(lr=[0.1, 0.3, 1.0], scale=np.array([0.01, 0.05, 0.1]), act=sweeps.static(["a", "b", "a"]))
    d = t.resolve()
    assert d.kind == "table" and d.shape == (3,) and d.n == 3
    np.testing.assert_array_equal(d.axes["trial"], np.arange(3))
    assert d.values["lr"].tolist() == [0.1, 0.3, 1.0]
    assert d.values["scale"].tolist() == [0.01, 0.05, 0.1]
    assert d.values["act"].tolist() == ["a", "b", "a"]
    assert [(s, i.tolist()) for s, i in d.groups()] == [({"act": "a"}, [0, 2]), ({"act": "b"}, [1])]
    assert sweeps.table(k=[3]).resolve().values["k"].tolist() == [3]


def test_design_describe_is_json_and_tells_spaces_apart():
    d = mixed(16).resolve(KEY)
    desc = json.loads(json.dumps(d.describe()))
    assert desc["kind"] == "random" and desc["static"] == ["act", "hidden"]
    assert desc["params"]["lr"] == {"dist": "loguniform", "args": [1e-4, 1.0]}
    assert desc["params"]["steps"] == {"dist": "constant", "args": [40]}
    assert desc["values"]["act"] == d.values["act"].tolist()
    assert mixed(16).resolve(OTHER).describe() != d.describe()
    assert mixed(17).resolve(KEY).describe() != d.describe()


def test_distribution_properties():
    assert sweeps.loguniform(1e-3, 1.0).traced and sweeps.loguniform(1e-3, 1.0).values is None
    assert not sweeps.static([1, 2]).traced and sweeps.static([1, 2]).values == (1, 2)
    assert sweeps.choice(np.array([0.5, 1.0])).values == (0.5, 1.0)
    assert type(sweeps.choice(np.array([0.5, 1.0])).values[0]) is float
    assert sweeps.integers(0, 5).args == (0, 5)


# --- validation: a ValueError naming the thing, for every mistake ---------------------------------------------

LD = sweeps.loguniform(1e-3, 1.0)


def test_an_invalid_distribution_is_named_by_its_hyperparameter_in_every_space():
    bad = sweeps.loguniform(0, 1)  # built before it has a name: the space that gets it names it
    assert bad.error == "loguniform: expected 0 < low < high, got low=0, high=1"
    for make, what in ((lambda: sweeps.sobol(4, alpha=bad), "sobol"), (lambda: sweeps.grid(alpha=bad), "grid"),
                       (lambda: sweeps.table(alpha=sweeps.choice([])), "table")):
        with pytest.raises(ValueError, match=rf"^{what}\['alpha'\]: "):
            make()
    with pytest.raises(ValueError, match="loguniform: expected 0 < low"):
        bad.ppf(np.array([0.5]))


@pytest.mark.parametrize("make, match", [
    (lambda: sweeps.random(4, lr=sweeps.loguniform(0, 1)),
     r"random\['lr'\]: loguniform: expected 0 < low < high, got low=0, high=1"),
    (lambda: sweeps.random(4, lr=sweeps.loguniform(-1.0, 1.0)), r"random\['lr'\]: loguniform: expected 0 < low < high"),
    (lambda: sweeps.random(4, lr=sweeps.loguniform(1, 0.5)),
     r"random\['lr'\]: loguniform: expected 0 < low < high, got low=1, high=0.5"),
    (lambda: sweeps.random(4, lr=sweeps.loguniform(1e-3, float("inf"))),
     r"random\['lr'\]: high: expected a finite real number for loguniform"),
    (lambda: sweeps.random(4, lr=sweeps.uniform(1, 1)),
     r"random\['lr'\]: uniform: expected low < high, got low=1, high=1"),
    (lambda: sweeps.random(4, lr=sweeps.uniform("0", 1)),
     r"random\['lr'\]: low: expected a finite real number for uniform, got '0'"),
    (lambda: sweeps.random(4, lr=sweeps.uniform(0, float("nan"))),
     r"random\['lr'\]: high: expected a finite real number for uniform"),
    (lambda: sweeps.random(4, lr=sweeps.uniform(True, 2)),
     r"random\['lr'\]: low: expected a finite real number for uniform, got True"),
    (lambda: sweeps.random(4, lr=sweeps.integers(3, 3)),
     r"random\['lr'\]: integers: expected low < high \(high is exclusive\), got low=3, high=3"),
    (lambda: sweeps.random(4, lr=sweeps.integers(0.5, 2)),
     r"random\['lr'\]: integers: expected an integer low, got 0.5"),
    (lambda: sweeps.random(4, lr=sweeps.integers(0, 2.0)),
     r"random\['lr'\]: integers: expected an integer high, got 2.0"),
    (lambda: sweeps.random(4, lr=sweeps.choice(["a"])),
     r"random\['lr'\]: choice: expected numbers \(use sweeps.static\(\[...\]\) for strings"),
    (lambda: sweeps.random(4, lr=sweeps.choice([])),
     r"random\['lr'\]: choice: expected a non-empty list of values, got none"),
    (lambda: sweeps.random(4, lr=sweeps.choice(3)),
     r"random\['lr'\]: choice: expected a non-empty list of values, got 3"),
    (lambda: sweeps.random(4, lr=sweeps.choice([1.0, float("nan")])),
     r"random\['lr'\]: choice: expected finite values, got nan"),
    (lambda: sweeps.random(4, lr=sweeps.static([])),
     r"random\['lr'\]: static: expected a non-empty list of values, got none"),
    (lambda: sweeps.random(4, lr=sweeps.static("relu")),
     r"random\['lr'\]: static: expected a non-empty list of values, got 'relu'"),
    (lambda: sweeps.random(4, lr=sweeps.static([None])),
     r"random\['lr'\]: static: expected numbers, strings or booleans, got None"),
    (lambda: sweeps.random(4, lr=sweeps.static([1, "a"])), r"random\['lr'\]: static: expected values of one kind"),
    (lambda: sweeps.random(4, lr=sweeps.static([True, 2])), r"random\['lr'\]: static: expected values of one kind"),
    (lambda: sweeps.random(0, lr=LD), r"n: expected the number of trials of the random space, an integer >= 1, "
                                      r"got 0"),
    (lambda: sweeps.random(2.5, lr=LD), r"n: expected the number of trials of the random space.*got 2.5"),
    (lambda: sweeps.random(True, lr=LD), r"n: expected the number of trials of the random space.*got True"),
    (lambda: sweeps.sobol(-4, lr=LD), r"n: expected the number of trials of the sobol space.*got -4"),
    (lambda: sweeps.random(4), r"random: expected at least one hyperparameter, got none"),
    (lambda: sweeps.sobol(4), r"sobol: expected at least one hyperparameter, got none"),
    (lambda: sweeps.random(4, lr=[0.1, 1.0]), r"random\['lr'\]: expected a distribution .*a list is "
                                              r"sweeps.choice\(\[...\]\)"),
    (lambda: sweeps.random(4, act="relu"), r"random\['act'\]: expected a distribution"),
    (lambda: sweeps.random(4, flag=True), r"random\['flag'\]: expected a distribution"),
    (lambda: sweeps.random(4, lr=float("nan")), r"random\['lr'\]: expected a finite real number for a constant"),
    (lambda: sweeps.grid(lr=sweeps.loguniform(1e-3, 1)), r"grid\['lr'\]: a loguniform distribution has no list "
                                                         r"of values; give a list"),
    (lambda: sweeps.table(lr=sweeps.uniform(0, 1)), r"table\['lr'\]: a uniform distribution has no list"),
    (lambda: sweeps.grid(lr=[]), r"grid\['lr'\]: expected a non-empty 1-D sequence of real numbers"),
    (lambda: sweeps.grid(lr=["a", "b"]), r"grid\['lr'\]: expected .*sweeps.static\(\[...\]\) for strings"),
    (lambda: sweeps.grid(lr=[[0.1, 1.0]]), r"grid\['lr'\]: expected a non-empty 1-D sequence"),
    (lambda: sweeps.grid(lr=[[0.1], [0.1, 1.0]]), r"grid\['lr'\]: expected a non-empty 1-D sequence"),
    (lambda: sweeps.grid(lr=[0.1, float("inf")]), r"grid\['lr'\]: expected finite values"),
    (lambda: sweeps.grid(), r"grid: expected at least one hyperparameter, got none"),
    (lambda: sweeps.table(), r"table: expected at least one hyperparameter, got none"),
    (lambda: sweeps.table(lr=[0.1, 1.0], scale=[0.5]),
     r"table: expected columns of one length \(one entry per trial\), got lengths \{'lr': 2, 'scale': 1\}"),
    (lambda: sweeps.table(lr=[0.1, 1.0], act=sweeps.static(["a", "b", "c"])), r"table: expected columns of one "
                                                                             r"length"),
    (lambda: sweeps.as_space({}), r"grid: expected a non-empty dict"),
    (lambda: sweeps.as_space([("lr", [0.1])]), r"grid: expected a search space \(sweeps.grid/table/random/sobol\)"),
    (lambda: sweeps.as_space({1: [0.1]}), r"grid: hyperparameter names must be Python identifiers, got 1"),
    (lambda: sweeps.random(4, lr=LD).resolve(), r"key: a random space is sampled from the sweep's key; give one, "
                                                r"e.g. jax.random.key\(0\)"),
    (lambda: sweeps.sobol(4, lr=LD).resolve(None), r"key: a sobol space is sampled from the sweep's key"),
])
def test_bad_spaces_raise_named_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", list(spaces.RESERVED) + ["1x", "a-b", "", "lr rate"])
@pytest.mark.parametrize("kind", ["grid", "table", "random", "sobol", "dict"])
def test_reserved_and_non_identifier_names_are_refused(kind, name):
    make = {"grid": lambda: sweeps.grid(**{name: [0.1]}), "table": lambda: sweeps.table(**{name: [0.1]}),
            "random": lambda: sweeps.random(4, **{name: LD}), "sobol": lambda: sweeps.sobol(4, **{name: LD}),
            "dict": lambda: sweeps.as_space({name: [0.1]})}[kind]
    what = "grid" if kind == "dict" else kind
    with pytest.raises(ValueError, match=rf"{what}: hyperparameter names must be Python identifiers other than "
                                         rf"\['key', 'seed', 'data', 'trial'\] \(they become keyword arguments of "
                                         rf"fn\), got '{name}'"):
        make()
