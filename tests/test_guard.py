"""The one guarded loop (jaxnn.guard.guarded_scan / guarded / guarded_while): rejection of a non-finite step, the last
finite params kept, the record of where, NaN losses from there on, a wider check, and runs continued
across calls."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate
from jaxnn.guard import GuardState, guard_init, guarded, guarded_scan, guarded_while, invalid_hyper


def _doubling(carry, x):
    """params <- 2 params + x (x = 0 without xs), a step counter as the rest of the carry: overflows
    float32 after about 127 steps from 1.0."""
    p, n = carry
    new = p * 2.0 + (0.0 if x is None else x)
    return (new, n + 1), jnp.sum(new)


def _start(p):
    return guard_init((p, jnp.zeros((), jnp.int32)))


def test_finite_run_is_the_plain_scan():
    xs = jnp.arange(5.0)
    out, losses = guarded_scan(_doubling, _start(jnp.ones(3)), xs)
    carry, plain = jax.lax.scan(_doubling, (jnp.ones(3), jnp.zeros((), jnp.int32)), xs)
    np.testing.assert_array_equal(out.kept, carry[0])
    np.testing.assert_array_equal(out.carry[0], carry[0])
    np.testing.assert_array_equal(losses, plain)
    assert out.t.dtype == jnp.int32 and int(out.t) == 5 and int(out.diverged_at) == -1


def test_rejected_step_keeps_the_last_finite_params_and_every_later_step_is_rejected():
    state, losses = guarded_scan(_doubling, _start(jnp.ones(2)), length=200)
    t = int(state.diverged_at)
    assert 100 < t < 200
    assert np.all(np.isfinite(losses[:t])) and np.all(np.isnan(losses[t:]))
    (p_t, _), _ = jax.lax.scan(_doubling, (jnp.ones(2), jnp.zeros((), jnp.int32)), length=t)  # after t steps
    np.testing.assert_array_equal(state.kept, p_t)
    assert int(state.t) == 200 and int(state.carry[1]) == 200  # the carry itself ran on


def test_a_later_finite_step_is_still_rejected():
    def step(c, x):  # non-finite only at x == 2
        return (c[0] + 1.0, None), jnp.where(x == 2, jnp.inf, x)

    state, losses = guarded_scan(step, guard_init((jnp.zeros(()), None)), jnp.arange(6.0))
    assert int(state.diverged_at) == 2
    np.testing.assert_array_equal(losses, [0.0, 1.0, np.nan, np.nan, np.nan, np.nan])
    assert float(state.kept) == 2.0  # steps 0 and 1 accepted


def test_is_finite_widens_the_check():
    def step(c, _):  # the rest of the carry goes non-finite, the loss and params stay finite
        p, g = c
        return (p + 1.0, g * jnp.inf), p

    default, losses = guarded_scan(step, guard_init((jnp.zeros(()), jnp.ones(()))), length=3)
    assert int(default.diverged_at) == -1 and float(default.kept) == 3.0
    np.testing.assert_array_equal(losses, [0.0, 1.0, 2.0])
    wide, _ = guarded_scan(step, guard_init((jnp.zeros(()), jnp.ones(()))), length=3,
                           is_finite=lambda c, loss: jnp.isfinite(loss) & jnp.isfinite(c[0]) & jnp.isfinite(c[1]))
    assert int(wide.diverged_at) == 0 and float(wide.kept) == 0.0


def test_non_finite_start_rejects_every_step():
    state, losses = guarded_scan(_doubling, guard_init((jnp.ones(2), jnp.zeros((), jnp.int32)), finite=False),
                                 length=4)
    assert int(state.diverged_at) == 0 and np.all(np.isnan(losses))
    np.testing.assert_array_equal(state.kept, jnp.ones(2))


def test_segments_continue_one_run():
    """k calls of n steps, each from the state the last returned, are one call of k n steps (the
    state a segmented trainable's advance would keep)."""
    whole, whole_losses = guarded_scan(_doubling, _start(jnp.ones(2)), jnp.full(200, 0.5))
    state, parts = _start(jnp.ones(2)), []
    run = jax.jit(lambda s: guarded_scan(_doubling, s, jnp.full(40, 0.5)))
    for _ in range(5):
        state, losses = run(state)
        parts.append(losses)
    assert isinstance(state, GuardState)
    np.testing.assert_array_equal(jnp.concatenate(parts), whole_losses)
    np.testing.assert_array_equal(state.kept, whole.kept)
    assert int(state.diverged_at) == int(whole.diverged_at) > 0 and int(state.t) == 200


def test_step_indices_from_the_state_across_segments():
    def step(c, t):  # non-finite at global step 7
        return (c[0] + 1.0, None), jnp.where(t == 7, jnp.nan, 1.0)

    state = guard_init((jnp.zeros(()), None))
    for _ in range(3):
        state, _ = guarded_scan(step, state, state.t + jnp.arange(4, dtype=jnp.int32))
    assert int(state.diverged_at) == 7 and float(state.kept) == 7.0 and int(state.t) == 12


def test_guarded_one_step_and_vmap():
    step = guarded(lambda c, x: ((c[0] / x, None), c[0] / x))
    state, loss = step(guard_init((jnp.ones(()), None), t=5), jnp.zeros(()))  # 1 / 0 = inf: rejected
    assert int(state.diverged_at) == 5 and int(state.t) == 6 and np.isnan(loss) and float(state.kept) == 1.0
    lanes = jax.vmap(lambda x: guarded_scan(lambda c, _: ((c[0] * x, None), c[0] * x), guard_init((jnp.ones(()), None)),
                                            length=3))
    state, losses = lanes(jnp.array([2.0, jnp.inf]))
    np.testing.assert_array_equal(state.diverged_at, [-1, 0])
    np.testing.assert_array_equal(state.kept, [8.0, 1.0])
    np.testing.assert_array_equal(losses[0], [2.0, 4.0, 8.0])
    assert np.all(np.isnan(losses[1]))


def test_invalid_hyper_is_the_rule_tables_flag():
    """invalid_hyper(positive=, nonnegative=, unit=) flags exactly what the rule table's "positive",
    "nonnegative" and "unit_open" rules reject (validate.check_rule raises for the same values)."""
    values = [-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf]
    for kw, rule in (("positive", "positive"), ("nonnegative", "nonnegative"), ("unit", "unit_open")):
        flags = jax.jit(jax.vmap(lambda x, kw=kw: invalid_hyper(**{kw: (x,)})))(jnp.array(values))
        for x, flag in zip(values, np.asarray(flags)):
            raised = False
            try:
                validate.check_rule("x", x, rule)
            except ValueError:
                raised = True
            assert bool(flag) == raised, (kw, x)
    assert not bool(invalid_hyper())
    assert bool(invalid_hyper(params={"W": jnp.array([1.0, np.nan])}))
    assert bool(invalid_hyper(positive=(1.0,), nonnegative=(0.0,), unit=(0.5, 1.0)))


# ---------------------------------------------------------------------------------------------
# the while form (guarded_while): the estimators' epochs and L-BFGS loop run in it


def _halving_step(carry, _):
    """x -> x / 2 until the counter reaches 3, then x -> x / 0 (inf): a step that diverges on purpose."""
    x, k = carry
    new = jnp.where(k >= 3, x / 0.0, x / 2.0)
    return (new, k + 1), jnp.sum(new)


def test_guarded_while_stops_on_its_predicate():
    s = guarded_while(_halving_step, guard_init((jnp.ones(2), jnp.int32(0))), lambda g: g.carry[1] < 2)
    assert int(s.t) == 2 and int(s.diverged_at) == -1
    np.testing.assert_array_equal(np.asarray(s.kept), [0.25, 0.25])


def test_guarded_while_rejects_a_non_finite_step_and_keeps_the_last_finite_params():
    s = guarded_while(_halving_step, guard_init((jnp.ones(2), jnp.int32(0))), lambda g: g.carry[1] < 100)
    assert int(s.diverged_at) == 3 and int(s.t) == 4  # the loop ends after the rejected step
    np.testing.assert_array_equal(np.asarray(s.kept), [0.125, 0.125])
    again = guarded_while(_halving_step, s, lambda g: jnp.array(True))  # a diverged run stays diverged
    assert int(again.t) == 4 and int(again.diverged_at) == 3


def test_guarded_while_continues_across_calls_as_one_call():
    start = guard_init((jnp.ones(2), jnp.int32(0)))
    one = guarded_while(_halving_step, start, lambda g: g.carry[1] < 3)
    two = guarded_while(_halving_step, guarded_while(_halving_step, start, lambda g: g.carry[1] < 1),
                        lambda g: g.carry[1] < 3)
    for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(two)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_guarded_while_after_reads_the_verdict():
    """``after`` runs after every step with the guard's verdict: the rejected step's loss is NaN and
    ``diverged_at`` is set, so bookkeeping (here a loss curve and a count of accepted steps in the
    carry's rest) never takes a rejected step's values."""
    def step(carry, _):
        x, (k, curve, accepted) = carry
        (x, k), loss = _halving_step((x, k), None)
        return (x, (k, curve, accepted)), loss

    def after(g, loss):
        x, (k, curve, accepted) = g.carry
        ok = g.diverged_at < 0
        return g._replace(carry=(x, (k, curve.at[k - 1].set(loss), accepted + ok.astype(jnp.int32))))

    start = guard_init((jnp.ones(2), (jnp.int32(0), jnp.full(6, -1.0), jnp.int32(0))))
    s = guarded_while(step, start, lambda g: jnp.array(True), after=after)
    _, (k, curve, accepted) = s.carry
    assert int(s.diverged_at) == 3 and int(k) == 4 and int(accepted) == 3
    np.testing.assert_array_equal(np.asarray(curve), [1.0, 0.5, 0.25, np.nan, -1.0, -1.0])
