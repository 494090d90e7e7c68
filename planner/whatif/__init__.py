"""What-if sweeps: re-plan a scenario at each point of a parameter grid and measure every plan by simulation."""

from planner.whatif.sweep import Axis, SweepSpec, run_sweep, spec_for

__all__ = ["Axis", "SweepSpec", "run_sweep", "spec_for"]
