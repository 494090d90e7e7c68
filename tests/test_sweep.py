"""planner.whatif.sweep: points and dotted paths, early validation, and identical records from every executor."""

from __future__ import annotations

import pytest

from planner.errors import InputError, ScenarioError
from planner.whatif.sweep import (RATE_AXIS, Axis, DaskExecutor, ProcessExecutor, SerialExecutor, check_points, grid,
                           parse_set, parse_values, point_data, run_sweep, set_path, spec_for)
from tests.solve_helpers import offer, override, scenario, workload

KEYS = {"interruption_rate", "status", "objective_usd_per_hour", "spot_gpu_share", "gpus_by_offer",
        "simulated_attainment"}


def small(**policy):
    offers = [offer("a", "l40s", 0.30, market="spot", interruption_rate_per_hour=0.0, pool="za", max_nodes=4),
              offer("b", "l40s", 0.32, market="spot", interruption_rate_per_hour=0.0, pool="zb", max_nodes=4),
              offer("od", "l40s", 0.91, max_nodes=6)]
    return scenario([workload("chat", 100)], offers, [override("chat", "l40s", 40)], **policy)


def spec(*axes, **kw):
    return spec_for(small(), tuple(axes), hours=2_000, seed=3, solver="highs", **kw)


# --------------------------------------------------------------------------- parsing and points


def test_values_and_grid():
    assert parse_values("0, 0.01,1e-3,2", "--x") == (0, 0.01, 0.001, 2)
    with pytest.raises(InputError, match="'abc' is not a number"):
        parse_values("0,abc", "--interruption-rate")
    with pytest.raises(InputError, match="listed twice"):
        parse_values("1,1", "--x")
    ax = parse_set("policy.spot.availability_target=0.95,0.99")
    assert ax == Axis("policy.spot.availability_target", (0.95, 0.99))
    # two axes make a grid, first axis slowest
    pts = grid((Axis(RATE_AXIS, (0, 0.1)), ax))
    assert [tuple(p.values()) for p in pts] == [(0, 0.95), (0, 0.99), (0.1, 0.95), (0.1, 0.99)]


def test_set_path():
    data = {"policy": {"target_utilization": 0.8}, "offers": [{"id": "a", "max_nodes": 4}, {"id": "b"}]}
    set_path(data, "offers[b].price_usd_per_gpu_hour", 0.5)         # by id, a field not written yet
    set_path(data, "offers.0.max_nodes", 2)                          # by index
    set_path(data, "policy.spot.availability_target", 0.95)          # a record left to its defaults
    assert data["offers"] == [{"id": "a", "max_nodes": 2}, {"id": "b", "price_usd_per_gpu_hour": 0.5}]
    assert data["policy"]["spot"] == {"availability_target": 0.95}
    for path, msg in [("offers[zz].max_nodes", "no item 'zz'.*ids: a, b"), ("offers[a]", "whole record"),
                      ("policy.target_utilization.x", "not a mapping")]:
        with pytest.raises(InputError, match=msg):
            set_path(data, path, 1)
    data["policy"]["solver"] = "cbc"
    with pytest.raises(InputError, match="not a number"):
        set_path(data, "policy.solver", 1)


def test_rate_axis_sets_every_spot_offer_and_recovery():
    s = spec(Axis(RATE_AXIS, (0.2,)), recovery_minutes=5)
    data = point_data(s, {RATE_AXIS: 0.2})
    spot = [o for o in data["offers"] if o["market"] == "spot"]
    assert [(o["interruption_rate_per_hour"], o["recovery_minutes"]) for o in spot] == [(0.2, 5), (0.2, 5)]
    assert "recovery_minutes" not in next(o for o in data["offers"] if o["id"] == "od")


def test_rate_axis_reaches_catalog_selectors_that_can_yield_spot():
    """offers_from_catalog selectors with spot among their markets (or no market filter) get the swept rate;
    an on-demand-only selector is left alone; a scenario whose only spot offers come from the catalog sweeps."""
    import copy
    from planner.whatif.sweep import SweepSpec  # noqa: PLC0415

    raw = {"offers_from_catalog": [{"providers": ["aws"], "markets": ["spot", "on_demand"]},
                                   {"providers": ["lambda"]}, {"providers": ["gcp"], "markets": ["on_demand"]}]}
    s = SweepSpec(raw=copy.deepcopy(raw), base_dir=".", name="t", axes=(Axis(RATE_AXIS, (0.3,)),))
    data = point_data(s, {RATE_AXIS: 0.3})
    assert [sel.get("interruption_rate_per_hour") for sel in data["offers_from_catalog"]] == [0.3, 0.3, None]
    with pytest.raises(InputError, match="no spot offers"):
        point_data(SweepSpec(raw={"offers_from_catalog": [raw["offers_from_catalog"][2]]}, base_dir=".", name="t",
                             axes=(Axis(RATE_AXIS, (0.3,)),)), {RATE_AXIS: 0.3})


def test_bad_point_fails_before_anything_runs():
    with pytest.raises(ScenarioError, match=r"availability_target=1.5.*availability_target"):
        check_points(spec(parse_set("policy.spot.availability_target=0.99,1.5")))
    with pytest.raises(ScenarioError, match="nope"):
        check_points(spec(parse_set("policy.spot.nope=1")))


# --------------------------------------------------------------------------- running


def test_serial_and_processes_give_identical_records():
    s = spec(Axis(RATE_AXIS, (0, 0.05, 0.3)), parse_set("policy.spot.availability_target=0.95,0.999"))
    seen = []
    serial = run_sweep(s, SerialExecutor(), on_result=lambda done, total, rec: seen.append((done, total)))
    assert seen == [(i, 6) for i in range(1, 7)]
    assert run_sweep(s, ProcessExecutor(2)) == serial
    assert [(r[RATE_AXIS], r["policy.spot.availability_target"]) for r in serial] == \
        [(0, 0.95), (0, 0.999), (0.05, 0.95), (0.05, 0.999), (0.3, 0.95), (0.3, 0.999)]
    for r in serial:
        assert KEYS <= set(r) and r["status"] == "optimal" and 0 <= r["simulated_attainment"] <= 1
        assert sum(r["gpus_by_offer"].values()) == r["spot_gpus"] + r["non_spot_gpus"]
    # at rate 0 both targets give the two-pool hedge: 2 + 2 spot replicas, 1.24 USD/h, all spot
    assert serial[0]["objective_usd_per_hour"] == pytest.approx(1.24) and serial[0]["spot_gpu_share"] == 1.0
    for t in (0.95, 0.999):  # cost never falls as the rate rises
        costs = [r["objective_usd_per_hour"] for r in serial if r["policy.spot.availability_target"] == t]
        assert costs == sorted(costs)


def test_infeasible_point_is_a_record():
    s = spec(parse_set("workloads[chat].requests_per_min=100,100000"))
    recs = run_sweep(s)
    assert recs[0]["status"] == "optimal"
    assert recs[1]["status"] == "infeasible" and recs[1]["objective_usd_per_hour"] is None and recs[1]["message"]


def test_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    s = spec(Axis(RATE_AXIS, (0, 0.3)))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        assert run_sweep(s, DaskExecutor(client)) == run_sweep(s, SerialExecutor())
        # an address works too (the CLI's --scheduler)
        assert run_sweep(s, DaskExecutor(cl.scheduler_address))[1]["interruption_rate"] == 0.3


def test_dask_needs_a_scheduler():
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="--scheduler"):
        DaskExecutor(None)
