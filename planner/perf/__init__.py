"""The performance model: what one replica of a model on a GPU configuration serves (memory, KV cache, step times,
TTFT/TPOT, requests/min at the SLOs), its calibration, and its error against public measurements.

The function ``estimate`` lives in :mod:`planner.perf.estimate` (not re-exported, so the module name stays a module).
"""

from planner.perf.calibration import Calibration, default_calibration, load_calibration
from planner.perf.estimate import Estimate
from planner.perf.many import capacity_for_workload

__all__ = ["Calibration", "Estimate", "capacity_for_workload", "default_calibration", "load_calibration"]
