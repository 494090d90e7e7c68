"""The time-bounded least-squares wrapper: hand-worked loss values, the same answer as scipy without a
limit, and at a limit the best point evaluated (checked against a log of every evaluation) and no claim
of convergence."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.optimize import least_squares

from planner.errors import InputError
from planner.perf.bounded_fit import bounded_least_squares, cauchy_cost, soft_l1_cost
from planner.perf.measurements import MAX_ROWS, read_measurements


def test_soft_l1_cost_by_hand():
    # f = 0.1, r = (0.1, 0): f² (√2 − 1) + 0
    assert soft_l1_cost(np.array([0.1, 0.0]), 0.1) == pytest.approx(0.01 * (math.sqrt(2) - 1), rel=1e-12)
    # r = 0.3: 0.01 (√10 − 1)
    assert soft_l1_cost(np.array([0.3]), 0.1) == pytest.approx(0.01 * (math.sqrt(10) - 1), rel=1e-12)


def test_cauchy_cost_by_hand():
    # f = 0.1, r = (0.1, 0): ½ f² ln 2
    assert cauchy_cost(np.array([0.1, 0.0]), 0.1) == pytest.approx(0.005 * math.log(2), rel=1e-12)
    # r = 0.3: ½ f² ln 10; r = 3 (thirty scales off): ½ f² ln 901 -- under soft-L1 that row costs f² (√901 − 1)
    assert cauchy_cost(np.array([0.3]), 0.1) == pytest.approx(0.005 * math.log(10), rel=1e-12)
    assert cauchy_cost(np.array([3.0]), 0.1) == pytest.approx(0.005 * math.log(901), rel=1e-12)
    assert soft_l1_cost(np.array([3.0]), 0.1) / cauchy_cost(np.array([3.0]), 0.1) > 8


def test_cauchy_is_scipys_answer_and_scipys_cost():
    x0 = np.array([-1.2, 1.0])
    ours = bounded_least_squares(_rosenbrock, x0, time_limit_s=None, f_scale=0.1, loss="cauchy", max_nfev=200)
    ref = least_squares(_rosenbrock, x0, loss="cauchy", f_scale=0.1, max_nfev=200)
    assert np.array_equal(ours.x, ref.x)
    assert cauchy_cost(_rosenbrock(ref.x), 0.1) == pytest.approx(ref.cost, rel=1e-9)


def test_one_wild_point_moves_a_cauchy_fit_less_than_a_soft_l1_fit():
    # a constant c fitted to nine log errors of 0 and one of L = ln 10 (a row ten times off), scale f = 0.1; at the
    # optimum the nine rows' pull 9c balances the wild row's: soft-L1's (L − c)/√(1 + ((L − c)/f)²) ≈ f, so
    # c ≈ f/9 = 0.0111; Cauchy's (L − c)/(1 + ((L − c)/f)²) ≈ f²/L, so c ≈ f²/(9L) = 0.000483
    big = math.log(10)
    data = np.array([0.0] * 9 + [big])
    soft = bounded_least_squares(lambda z: z[0] - data, np.array([0.0]), time_limit_s=None, f_scale=0.1)
    cauchy = bounded_least_squares(lambda z: z[0] - data, np.array([0.0]), time_limit_s=None, f_scale=0.1,
                                   loss="cauchy")
    assert soft.x[0] == pytest.approx(0.1 / 9, rel=0.02)
    assert cauchy.x[0] == pytest.approx(0.01 / (9 * big), rel=0.02)


def test_an_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="soft_l1, cauchy"):
        bounded_least_squares(_rosenbrock, np.array([0.0, 0.0]), time_limit_s=None, f_scale=0.1, loss="huber")


def _rosenbrock(z):
    return np.array([10 * (z[1] - z[0] ** 2), 1 - z[0]])


def test_without_a_limit_it_is_scipys_answer_and_scipys_cost():
    x0 = np.array([-1.2, 1.0])
    ours = bounded_least_squares(_rosenbrock, x0, time_limit_s=None, f_scale=0.1, max_nfev=200)
    ref = least_squares(_rosenbrock, x0, loss="soft_l1", f_scale=0.1, max_nfev=200)
    assert np.array_equal(ours.x, ref.x)
    assert ours.success is bool(ref.success)
    assert soft_l1_cost(_rosenbrock(ref.x), 0.1) == pytest.approx(ref.cost, rel=1e-9)


def test_a_limit_returns_the_best_point_evaluated_and_says_it_stopped():
    seen: list[tuple[float, np.ndarray]] = []

    def slow(z):
        time.sleep(0.02)
        r = _rosenbrock(z)
        seen.append((soft_l1_cost(r, 0.1), np.array(z)))
        return r

    out = bounded_least_squares(slow, np.array([-1.2, 1.0]), time_limit_s=0.3, f_scale=0.1, max_nfev=10_000)
    assert out.success is False
    assert "time limit" in out.message
    assert out.evaluations == len(seen) >= 2
    best_cost, best_x = min(seen, key=lambda t: t[0])
    assert np.array_equal(out.x, best_x)
    assert soft_l1_cost(_rosenbrock(out.x), 0.1) == best_cost <= seen[0][0]


def test_a_measurement_file_longer_than_the_limit_is_refused(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("gpu,metric,value\n" + "H100-SXM-80GB,ttft_ms,1\n" * (MAX_ROWS + 1), encoding="utf-8")
    with pytest.raises(InputError, match="more than 20,000 rows"):
        read_measurements(p)
