"""``planner.perf.estimate._erlang_c`` without scipy.special agrees with the incomplete-gamma form it replaced
(scipy as the oracle) to 1e-9 relative, and with the closed forms of one and two servers; its grouped form for
stacked batches gives every point the value of its own call."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from planner.perf.estimate import _erlang_c


def _oracle(servers: float, load) -> np.ndarray:
    """The former body: Poisson pmf at c over P(Poisson(a) <= c - 1), through gammaln and gammaincc."""
    a = np.maximum(load, 1e-12)
    c = float(servers)
    log_pc = c * np.log(a) - a - special.gammaln(c + 1.0)
    below = special.gammaincc(c, a)
    top = np.exp(log_pc) * c / np.maximum(c - a, 1e-12)
    return np.clip(top / (below + top), 0.0, 1.0)


TINY = 1e-280  # below this both are "no wait" (the Poisson form underflows to 0 or to denormals)


def _agree(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    big = want > TINY
    assert np.all(np.abs(got[big] - want[big]) <= 1e-9 * want[big]), (got[big], want[big])
    assert np.all(got[~big] <= TINY)


@settings(max_examples=400, deadline=None)
@given(servers=st.integers(1, 3000),
       shares=st.lists(st.floats(0.0, 1.5, allow_nan=False), min_size=1, max_size=70))
def test_agrees_with_the_incomplete_gamma_form(servers, shares):
    load = np.array(shares) * servers
    _agree(_erlang_c(float(servers), load), _oracle(servers, load))


@settings(max_examples=200, deadline=None)
@given(servers=st.integers(1, 400), load=st.floats(1e-9, 600.0, allow_nan=False))
def test_scalar_load_keeps_its_shape(servers, load):
    got = _erlang_c(float(servers), np.float64(load))
    assert np.shape(got) == ()
    _agree(np.asarray(got), np.asarray(_oracle(servers, np.float64(load))))


def test_closed_forms():
    a = np.array([0.05, 0.3, 0.5, 0.9, 0.999])
    assert np.allclose(_erlang_c(1.0, a), a, rtol=1e-14, atol=0)           # M/M/1: P_wait = a
    b = np.array([0.1, 1.0, 1.5, 1.99])
    assert np.allclose(_erlang_c(2.0, b), b**2 / (2 + b), rtol=1e-14, atol=0)  # c = 2: a^2 / (2 + a)
    assert _erlang_c(2.0, np.array([1.0]))[0] == pytest.approx(1 / 3, rel=1e-15)


def test_grid_shapes_and_limits():
    load = np.geomspace(1.0, 255.0, 64).reshape(8, 8)
    got = _erlang_c(256.0, load)
    _agree(got, _oracle(256, load))
    assert got.shape == (8, 8) and np.all(np.diff(got.ravel()) >= 0)  # more load, more waiting
    assert _erlang_c(2000.0, np.array([1.0]))[0] == 0.0                  # p_c underflows: no wait
    assert _erlang_c(8.0, np.array([8.0, 9.0]))[0] == pytest.approx(1.0)  # saturated: every arrival waits


@pytest.mark.parametrize("servers", [256, 1024, 2544])
def test_loads_left_out_of_the_product_have_no_wait(servers):
    """A load whose last term c!/a^c alone passes e^700 gets 0 without the product; the product over every load
    gives at most 1e-287 there and the same values elsewhere."""
    load = np.unique(np.geomspace(1.0, servers - 1.0, 64))
    with np.errstate(over="ignore"):
        r = np.cumprod(np.arange(servers, 0.0, -1.0) / load[:, None], axis=1).sum(axis=1)
    top = servers / np.maximum(servers - load, 1e-12)
    full = np.clip(top / (r + top), 0.0, 1.0)
    got = _erlang_c(float(servers), load)
    skipped = got == 0.0
    assert np.all(full[skipped] < 1e-287)
    assert np.array_equal(got[~skipped], full[~skipped]) and (~skipped).sum() >= 5


@pytest.mark.parametrize("servers", [2.5, 7.25])
def test_fractional_servers_keep_the_continuous_form(servers):
    load = np.linspace(0.1, servers - 0.1, 9)
    assert np.array_equal(_erlang_c(servers, load), _oracle(servers, load))


@given(st.lists(st.tuples(st.integers(1, 300), st.integers(0, 5)), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_the_grouped_form_gives_each_point_its_own_value_to_the_bit(cases):
    # a stacked batch: each case's slot count with its SLO grid (repeated loads within a count, as in the options
    # stage), points shuffled by the case order; the grouped call computes each distinct load once per count
    from planner.perf.estimate import _distinct, erlang_c_grouped  # noqa: PLC0415

    servers = np.concatenate([np.full(len(slo_grid_for(c)), float(c)) for c, _ in cases])
    loads = np.concatenate([slo_grid_for(c)[::-1] if flip % 2 else slo_grid_for(c) for c, flip in cases])
    got = erlang_c_grouped(servers, loads)
    want = np.concatenate([_erlang_c(float(c), slo_grid_for(c)[::-1] if flip % 2 else slo_grid_for(c))
                           for c, flip in cases])
    assert np.array_equal(got, want)
    vals, where = _distinct(loads)
    assert np.array_equal(vals[where], loads) and np.all(np.diff(vals) > 0)


def slo_grid_for(c: int) -> np.ndarray:
    from planner.perf.estimate import _grid  # noqa: PLC0415

    return np.asarray(_grid(c))
