"""Spot risk: the interruption tails a plan must survive and the Monte Carlo simulation of a plan's spot nodes."""

from planner.risk.simulate import Simulation, simulate_plan
from planner.risk.tails import SpotRisk, spot_risk

__all__ = ["Simulation", "SpotRisk", "simulate_plan", "spot_risk"]
