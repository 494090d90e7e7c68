"""Independent verification: every constraint of a Plan recomputed from the Scenario and catalog alone."""

from planner.verify.base import CHECKS
from planner.verify.run import verify_plan
from planner.verify.spot import SPOT_CHECKS, spot_checks

__all__ = ["CHECKS", "SPOT_CHECKS", "spot_checks", "verify_plan"]
