"""The scenario: the input contract (pydantic models), its bounded YAML reader, and the checks against the catalogs."""

from planner.scenario.io import LoadedScenario, load_scenario, scenario_from_dict
from planner.scenario.model import CapacityOverride, Offer, Policy, Scenario, SizeBucket, Workload

__all__ = ["CapacityOverride", "LoadedScenario", "Offer", "Policy", "Scenario", "SizeBucket", "Workload",
           "load_scenario", "scenario_from_dict"]
