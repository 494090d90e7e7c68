"""fleetplan: capacity planning for LLM inference fleets.

The flow is one-directional (see README, "How the code is laid out"):
scenario -> perf -> fleet -> solvers -> plan -> verify -> reports.
Nothing is read from disk at import time.
"""

__version__ = "0.1.0"
