"""Spot risk: the interruption tails a plan must survive and the Monte Carlo simulation of a plan's spot nodes."""

from importlib import import_module

__all__ = ["Simulation", "SpotRisk", "simulate_plan", "spot_risk"]

# imported on first use: the planner's hedge needs only the tails, and a plan solve never runs the simulation
_WHERE = {"Simulation": "planner.risk.simulate", "simulate_plan": "planner.risk.simulate",
          "SpotRisk": "planner.risk.tails", "spot_risk": "planner.risk.tails"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'planner.risk' has no attribute {name!r}")
