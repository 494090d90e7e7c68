"""fleetplan: capacity planning for LLM inference fleets.

The flow is one-directional (see STYLE.md):
scenario -> perf -> options -> formulation -> solvers -> plan -> verify -> reports.
Nothing is read from disk at import time.
"""

__version__ = "0.1.0"
