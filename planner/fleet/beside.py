r"""A neighbourhood search beside the full solve of a program too small for the restricted ladder, started from the
full solve's own incumbents (``FullSearch``).

Below ``planner.fleet.restricted.RESTRICT_MIN_OPTIONS`` deployments × periods (M: 700-1,100 deployments, one
period) the ladder does not run: HiGHS solves the full program in this process and proves most such programs in
seconds. Not all within the budget: M-2 at 60 s printed 55.9-57.1 USD/h against a proven optimum of 54.80. The
neighbourhood search (``planner.fleet.neighbourhood``: a few workloads re-planned over all their options, the
others' replicas held) finds such plans when it starts from HiGHS' incumbent; from the ladder's rungs it did not
(M-2: 59.44 after 46 s, docs/BENCHMARKS.md "Fortieth pass"). So here, on one period and an unmerged program
(``planner.fleet.incumbents`` says why), with HiGHS in this process:

- HiGHS reports each improving point of the full program as it finds it (``SolveOptions.on_incumbent`` →
  ``Incumbents.post``; the completed constructive start is posted first);
- a thread waits until ``AFTER_SHARE`` of the budget has passed, so that the programs HiGHS proves quickly never
  share the machine with it (on this 2-core machine a second busy core made M's proofs 10-31 % slower), then takes
  the cheapest point posted and runs the search from it until the ladder's end or the full solve's (``stop``),
  taking before each step any cheaper point HiGHS has posted since;
- ``plan`` returns its plan, decoded and verified as a restricted program's (``restricted.plan_of``), when a step
  improved on what it started from; the caller prints it only where it is cheaper than the full solve's, with the
  full solve's bound (``planner.fleet.incumbent.adopt_cheaper``). Where the full solve claims its optimum, the plan
  is decoded only if it costs less than that optimum: then the claim was wrong, and its bound is dropped
  (``incumbent.with_bound``) rather than printed as a proof.

A heuristic for the incumbent, like the ladder: it proves nothing, and the full solve's status and bound stay what
HiGHS proved. HiGHS does not see the search's points: handed over through its user-solution callback they did not
shorten M's proofs, which wait on the bound, not the incumbent (docs/BENCHMARKS.md, "Forty-first pass").
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from planner.fleet.background import Background
from planner.fleet.formulation import Formulation
from planner.fleet.horizon import Horizon
from planner.fleet.incumbents import Incumbents
from planner.fleet.neighbourhood import MIN_STEP_S, search
from planner.fleet.options import OptionSet
from planner.fleet.restricted import RESTRICT_MIN_OPTIONS, Rung, plan_of
from planner.plan import Plan
from planner.problem import zero_gap
from planner.scenario.io import LoadedScenario
from solvers.registry import get_backend

AFTER_SHARE = 1 / 3  # of the budget, before the search starts (M-1 and M-4 are proven in 10-15 s of 60)
MIN_OPTIONS = 200  # deployments from which it runs (S: 17-26, Mélange-format: 4; M: 700-1,100)
POLL_S = 0.25  # how often a search that has no incumbent yet looks for one


class FullSearch(Background):
    """The search of the module docstring for one ``solve_scenario`` call: ``start`` (after the full program is
    built), ``stop`` (its solve is over), ``plan`` (wait for the thread; its verified plan or None)."""

    def __init__(self, loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings, extra_blocks,
                 solver: str):
        self._args = (loaded, options, horizon, settings, extra_blocks, solver)
        self._stopped = threading.Event()
        self._until = 0.0
        self._proven: float | None = None
        self._plan: Plan | None = None
        self.incumbents: Incumbents | None = None

    def start(self, f: Formulation, after: float, until: float) -> Callable | None:
        """Start the thread for the full program ``f`` when the module docstring's conditions hold and the search
        would have at least a step's time between ``after`` and ``until`` (``time.perf_counter`` values); the hook
        to give the full solve (``SolveOptions.on_incumbent``), or None when it does not run."""
        loaded, options, horizon, settings, extra_blocks, solver = self._args
        if (len(horizon.periods) != 1 or f.merge or solver != "highs"
                or not MIN_OPTIONS <= len(options.deployments) < RESTRICT_MIN_OPTIONS
                or until - max(after, time.perf_counter()) < 2 * MIN_STEP_S
                or not get_backend(solver).runs_in_process()):
            return None
        self.incumbents = Incumbents(f)
        self._until = until
        self._thread = threading.Thread(target=self._run, args=(after,), name="fleetplan-beside", daemon=True)
        self._thread.start()
        return self.incumbents.post

    def stop(self, proven: float | None = None) -> None:
        """End the search at its current step (the full solve is over: the answer is waiting for it). ``proven``: the
        optimum the full solve claims; then the search's plan is decoded and verified only where it costs less than
        that by more than ``planner.problem``'s zero-gap tolerance, i.e. where the claim is wrong (a proof that failed:
        docs/BENCHMARKS.md, "Forty-first pass"), and its plan is printed with the claimed bound dropped
        (``planner.fleet.incumbent.with_bound``)."""
        if proven is not None:
            self._proven = proven if self._proven is None else min(self._proven, proven)
        self._until = min(self._until, time.perf_counter())
        self._stopped.set()

    def _beats_the_claim(self, objective: float) -> bool:
        proven = self._proven
        return proven is None or objective < proven - zero_gap(proven)

    def _run(self, after: float) -> None:
        loaded, options, horizon, settings, extra_blocks, solver = self._args
        try:
            if self._stopped.wait(max(0.0, after - time.perf_counter())):
                return
            first = self.incumbents.take(math.inf)
            while first is None:
                if self._until - time.perf_counter() < 2 * MIN_STEP_S or self._stopped.wait(POLL_S):
                    return
                first = self.incumbents.take(math.inf)
            found = search(loaded.scenario, options, horizon, settings, extra_blocks, solver, first,
                           lambda: self._until, fresher=self.incumbents.take)
            if found is not None and self._beats_the_claim(found[1].objective):
                f, sol, steps = found
                note = (f"the full program's incumbent within the limit, improved in {steps} steps of a neighbourhood "
                        "search beside its solve (a few workloads at a time over all their options, the others' "
                        "replicas held: planner.fleet.neighbourhood, planner.fleet.beside)")
                self._plan = plan_of(loaded, options, horizon, settings, Rung(f, sol, (0, False)), note)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread by plan
            self._error = exc

    def plan(self) -> Plan | None:
        """Wait for the thread (stopped or at its deadline, plus decoding and verifying) and return its plan."""
        self._collect()
        return self._plan
