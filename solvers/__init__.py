"""Solver backends: translators from the solver-neutral ``planner.problem.Problem`` to real MILP solvers.

Each backend declares its capabilities and whether it is installed (``solvers.registry``), solves, and
returns values by variable key with an honest status: optimal, feasible (limit hit, with gap),
infeasible, unbounded or error.
"""
