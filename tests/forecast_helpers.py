"""Tiny forecast scenarios with known capacities (``capacity_overrides``): one L40S replica serves 100 req/min, so
at 80 % utilisation a node carries 80 req/min and every fleet below is countable by hand."""

from __future__ import annotations

from planner.forecast.run import ForecastSettings, run_forecast
from planner.scenario.io import scenario_from_dict

OD_RATE = 1.0  # USD per node-hour, on-demand
HOURS = 730.0  # per month


def forecast_scenario(*, rpm: float = 160.0, profile=None, growth=None, options=(), months: int = 12,
                      od_rate: float = OD_RATE, reserved_rate: float = 0.6, trends=(), spot_rate=None,
                      owned: int = 0, reserved_options_default: bool = False, **policy):
    w = {"id": "chat", "model": "llama-3.2-1b", "requests_per_min": rpm, "prompt_tokens": 1000,
         "output_tokens": 250, "ttft_slo_ms": 2000, "precisions": ["bf16"], "min_replicas": 1}
    if profile is not None:
        w["profile"] = {"hourly": list(profile)}
    offers = [{"id": "od", "gpu": "l40s", "market": "on_demand", "price_usd_per_node_hour": od_rate},
              {"id": "res", "gpu": "l40s", "market": "reserved", "price_usd_per_node_hour": reserved_rate,
               "term_months": 12, "owned_nodes": owned}]
    if spot_rate is not None:
        offers.append({"id": "spot", "gpu": "l40s", "market": "spot", "price_usd_per_node_hour": spot_rate,
                       "interruption_rate_per_hour": 0.0, "max_nodes": 1})
    forecast = {"start": "2027-01", "months": months, "hours_per_month": HOURS, "price_trends": list(trends)}
    if not reserved_options_default:
        forecast["reserved_options"] = [dict(o) for o in options]
    if growth is not None:
        forecast["growth"] = {"chat": growth}
    data = {"name": "forecast-micro", "policy": {"target_utilization": 0.8, "solver": "highs", "time_limit_s": 60,
                                                 **policy},
            "workloads": [w], "offers": offers,
            "capacity_overrides": [{"workload": "chat", "gpu": "l40s", "precision": "bf16", "tp": 1,
                                    "requests_per_min": 100}],
            "forecast": forecast}
    return scenario_from_dict(data)


def option(term: int, rate: float, **extra) -> dict:
    return {"offer": "res", "term_months": term, "price_usd_per_node_hour": rate, **extra}


def forecast(loaded, **kw) -> dict:
    return run_forecast(loaded, ForecastSettings(**kw))


def commitments(result) -> list[tuple[int, str, int]]:
    return sorted((c["nodes"], c["start_month"], c["term_months"]) for c in result["commitments"])
