"""The benchmark generator: same seed, same scenario; every size valid and of the stated shape. No timings here."""

from __future__ import annotations

import pytest

from bench import generate
from planner.fleet.horizon import horizon_for


@pytest.mark.parametrize("size", list(generate.SIZES))
def test_same_seed_same_scenario(size):
    # the generator keeps no global state: two calls, and a call after another size, agree
    first = generate.generate(size, seed=7)
    generate.generate("S", seed=99)
    assert generate.generate(size, seed=7) == first


def test_different_seeds_differ():
    assert generate.generate("M", seed=1) != generate.generate("M", seed=2)


@pytest.mark.parametrize("size", list(generate.SIZES))
def test_sizes_validate_with_the_stated_shape(size):
    loaded = generate.load(size, seed=generate.DEFAULT_SEED)
    s = loaded.scenario
    n_w, n_o = generate.SIZES[size]
    assert (len(s.workloads), len(s.offers)) == (n_w, n_o)
    if size != "forecast":  # plan solve's periods; the forecast's 12 x 24 come from planner.forecast.run
        assert len(horizon_for(s).periods) == generate.PERIODS[size]


def test_forecast_case_has_twelve_months_of_daily_profiles():
    s = generate.load("forecast").scenario
    assert s.forecast is not None and s.forecast.months == 12
    assert all(w.profile is not None and len(w.profile.hourly) == 24 for w in s.workloads)
    assert sum(o.market == "reserved" for o in s.offers) >= 2
    forecast = pytest.importorskip("planner.forecast.run")
    assert len(forecast.forecast_horizon(generate.load("forecast")).periods) == generate.PERIODS["forecast"]


def test_xl_is_l_with_profiles():
    xl, large = generate.generate("XL"), generate.generate("L")
    assert [w["model"] for w in xl["workloads"]] == [w["model"] for w in large["workloads"]]
    assert xl["offers"] == large["offers"]
    assert all("profile" in w for w in xl["workloads"]) and not any("profile" in w for w in large["workloads"])


def test_m_mixes_markets_mig_and_multi_gpu_nodes():
    s = generate.load("M").scenario
    assert {o.market for o in s.offers} == {"on_demand", "spot", "reserved"}
    assert any(o.mig for o in s.offers)
    assert any(o.gpus_per_node > 1 for o in s.offers)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_scenarios_can_be_served(seed):
    # every workload has at least one option meeting its SLOs (the uncapped anchors guarantee a home);
    # some individual options are infeasible, as they are in practice
    from planner.fleet.diagnose import explain_infeasible
    from planner.fleet.options import enumerate_options

    loaded = generate.load("S", seed)
    options = enumerate_options(loaded)
    assert explain_infeasible(loaded.scenario, options) == []
    assert options.rejected


@pytest.mark.parametrize("suffix, spot", [("-nohedge", {"hedge": False}), ("-nopool", {"pool_failures": 0})])
def test_diagnostic_variants_change_only_the_spot_policy(suffix, spot):
    base, variant = generate.generate("M", seed=2), generate.generate("M" + suffix, seed=2)
    assert variant["policy"] == {**base["policy"], "spot": spot}
    assert variant["name"] == f"bench-M{suffix}-2"
    assert {k: v for k, v in variant.items() if k not in ("policy", "name")} == \
        {k: v for k, v in base.items() if k not in ("policy", "name")}
    pol = generate.load("M" + suffix, seed=2).scenario.policy.spot
    assert (pol.hedge, pol.pool_failures) == ((False, 1) if suffix == "-nohedge" else (True, 0))
    with pytest.raises(ValueError, match="unknown size"):
        generate.generate("Q" + suffix)
