r"""The full program's incumbents as its solver finds them, kept for the neighbourhood search beside it.

HiGHS reports each improving point of the full program (``SolveOptions.on_incumbent``: its improving-solution
callback in this process, the guarded child's messages otherwise); ``Incumbents.post`` keeps the cheapest, and the
search (``planner.fleet.neighbourhood.search``'s ``fresher``, run by ``planner.fleet.restricted.Ladder``) takes it
before a step when it is cheaper than its own plan. Only a program that was not merged (``planner.fleet.merge``)
is shared: its deployments are the scenario's options, which the search's programs are made of
(``planner.fleet.start.carry_start`` maps a point between them by deployment key).

A taken point is a solution of the full program, checked against every one of its rows (``finalize_solution``);
one that fails the check is dropped. The search never trusts the solver's objective: it is recomputed from the
point, c·x + c_0.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from planner.fleet.formulation import Formulation
from planner.problem import Solution, SolveOptions, cheaper_than, finalize_solution


class Incumbents:
    """The cheapest point of ``f`` its solver has reported so far. ``post`` is called from the solving thread,
    ``take`` from the search's."""

    def __init__(self, f: Formulation):
        self.f = f
        self._lock = threading.Lock()
        self._x: np.ndarray | None = None
        self._objective = math.inf
        self.posted = 0   # points kept (each cheaper than the one before)
        self.taken = 0    # points handed to the search

    def post(self, x: np.ndarray) -> None:
        """Keep ``x`` (every column of f) when it is cheaper than the point kept; a point of the wrong length or
        with a non-finite value is ignored."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.f.problem.n_vars,) or not np.isfinite(x).all():
            return
        obj = self.f.problem.objective_value(x)
        with self._lock:
            if obj < self._objective:
                self._x, self._objective = x.copy(), obj
                self.posted += 1

    def take(self, than: float) -> tuple[Formulation, Solution] | None:
        """(f, the kept point as a checked ``feasible`` solution) when the kept point costs less than ``than`` by
        more than 1e-9 relative; else None (none kept, not cheaper, or it fails f's rows)."""
        with self._lock:
            x, obj = self._x, self._objective
        if x is None or (math.isfinite(than) and not cheaper_than(obj, than)):
            return None
        sol = finalize_solution(self.f.problem, SolveOptions(), solver="highs", claimed="feasible", x=x,
                                message="the full program's incumbent")
        if not sol.has_values:   # finalize_solution checks every row: a point that breaks one has no values
            return None
        with self._lock:
            self.taken += 1
        return self.f, sol
