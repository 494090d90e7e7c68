r"""A restricted program: each workload's few cheapest options per request, solved whole, for a good plan early
(its columns, ``restricted_options``, and its verified plan, ``restricted_plan``).

The full program's solver may spend its whole limit without improving on the constructive start (L-2 at 60 s:
the start, 482.4 USD/h, was the answer). The same program over a few columns per workload solves in a second or
two and, being a restriction, every plan of it is a plan of the scenario (the other deployments at 0 replicas:
no row of the program asks anything of an unused deployment). ``planner.fleet.solve`` solves it, verifies its
plan independently, and prints it when it is cheaper than what the full solve found, with the full solve's bound
(a bound of the full program bounds every plan of the scenario): a heuristic for the incumbent, never a claim
of optimality by itself.

Which columns: for workload w, the price of the GPU share that serves one request/min of w's size mix on d alone,

    u_d = (p_{o_d} / G_{o_d}) g_d sum_b sigma_{w,b} / (a_d cap_{d,b})       (d serves every bucket of w; else inf)

(g_d = tp_d, or c/7 of a GPU for a MIG instance; ``planner.fleet.share_bound``), and the ``k`` deployments of least
u_d are kept, spot and MIG included, together with the constructive start's own deployments
(``planner.fleet.start``), so that the start is a point of the restricted program and its solver's first
incumbent. On the benchmark instances (2 s limit, k = 3): L-1 416.1, L-2 381.5, L-3 373.9 USD/h against the
start's 443.9, 482.4 and 412.9 (docs/BENCHMARKS.md).

A ladder (``RESTRICT_LADDER``, ``Ladder``): the k = 3 program is solved first (a second or two on L), then the
"own" program, then the k = 10 one, each started from the previous one's solution and holding its options
(``carry_start``: the same fleet is a point of the larger program; every other deployment at 0). The own program
adds to the k = 3 options those that each workload's own program chooses (``planner.fleet.workload_programs``:
workloads in turn, each pricing GPUs by the share it takes, within the room the others left under max_nodes, its
spot spread over pools as the pool loss asks). The k cheapest options per request miss what the spot hedge
needs, a second pool or an on-demand replica beside the cheapest spot one; these choices hold it. On L (HiGHS,
one run each, 2026-12-04, docs/BENCHMARKS.md "Eighteenth pass"), the own program over ~470 options from the k = 3
solution, within ~2 s of choices and 1.4-4 s of solve: L-1 386.3, L-2 335.9, L-3 341.9 USD/h, where k = 3 gave
417.8, 381.5, 376.2 and the full program 391.1, 349.4, 340.0 in 60 s. The k = 10 program alone from the k = 3
solution had reached L-1 392.7, L-2 349.4, L-3 358.8 USD/h within 12 s ("Fifteenth pass"). Each program's plan is
a plan of the scenario; the cheapest is kept. On one period, a neighbourhood search then runs from it until the full
program's solve is over (``planner.fleet.neighbourhood``: a few workloads at a time re-planned over all their
options, the others' replicas held), on the core the rungs leave idle (``Ladder.search_until``, ``stop_search``).
Measured and not kept: the search in place of the k = 10 rung (it then runs ~40 s instead of ~20 s). ``plan solve`` at
60 s, USD/h, without / with that rung: L-1 375.2-375.4 / 376.3-376.5, L-2 330.7-332.7 / 327.2-327.5, L-3 334.1 / 335.3
("Nineteenth pass"): the rung's one program over every workload's 10 cheapest options finds moves that steps of a few
workloads do not, on L-2 most.

On a horizon of several periods (a daily profile: XL's 24 hours) each rung's program is the peak envelope's, one
period with every workload at its busiest, whose fleet is then run in every period and completed in the
horizon's program (``planner.fleet.envelope``: why that is a plan). Its programs are as small as L's, where the
horizon's own (~56,000 columns on XL) never improved on the constructive start within 40 s. The ladder there is
k = 3 -> own -> by period (``PERIOD_LADDER``): the last solves each period's own program over the own rung's
options from the envelope's fleet, the reserved nodes held at the envelope's (``_by_period``), until the ladder's end
(``search_until``: the horizon's own program gives no plan there). XL at 120 s: XL-1 388.5 -> 326.1-327.5, XL-2
403.5 -> 285.0-286.4 USD/h (docs/BENCHMARKS.md, "Twenty-second pass").

The first rung runs before the full program is built (its plan is the fallback while that is built and solved);
the next rungs run in a background thread beside the full program's build and solve, so they take no time from
it: HiGHS releases the GIL while it solves (measured: a Python loop ran on beside a 3 s solve), and the full
program's solve runs in a child process from 10,000 columns (``solvers.highs_guard``). Only with HiGHS running
in this process (not in the worker that a clash of native libraries calls for, ``solvers.registry``, whose one
pipe would serialise the two solves and hold the thread past its limit); otherwise the next rungs are skipped.
Where the budget was too short for them to run beside the full program (``RESTRICT_NEXT_MIN_S``) and the full program
was then built but left unsolved for lack of time, they run after it with what is left (``Ladder.rest``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from planner.fleet.background import Background
from planner.fleet.envelope import by_period, envelope_horizon, spread
from planner.fleet.formulation import BuildOutOfTime, Formulation, build
from planner.fleet.horizon import Horizon
from planner.fleet.neighbourhood import search
from planner.fleet.options import OptionSet
from planner.fleet.plan_build import build_plan, relist_options
from planner.fleet.share_bound import share_bound
from planner.fleet.start import carry_start, greedy_start, start_options
from planner.fleet.workload_bound import workload_bound
from planner.fleet.workload_programs import unit_price, workload_choices
from planner.plan import Plan
from planner.fleet.restrict import complete
from planner.problem import Solution, SolveOptions, finalize_solution
from planner.scenario.io import LoadedScenario
from planner.scenario.model import Scenario
from planner.verify import verify_plan
from solvers.registry import get_backend

RESTRICT_K = 3  # cheapest options per request kept per workload (the ladder's first program)
OWN = "own"  # a rung: the k = RESTRICT_K program and the options the workloads' own programs choose
RESTRICT_LADDER = (RESTRICT_K, OWN, 10)  # the programs solved in turn, each from the previous one's solution
# on a horizon of several periods: each period's own program from the envelope's fleet (the last rung's options)
BY_PERIOD = "by period"
PERIOD_LADDER = (RESTRICT_K, OWN, BY_PERIOD)
# the workloads' own programs (``planner.fleet.workload_programs``) take at most this share of what the next rungs
# have (L: ~2 s of 100 programs; what they chose by then is used)
OWN_SHARE = 0.4
# on a horizon of several periods, the envelope's solve takes this share of a rung's time; the rest builds the
# horizon's program and completes the envelope's fleet in it (XL: ~56,000 columns)
ENVELOPE_SHARE = 0.6
# ... and there the next rungs first spend up to this share of their time on a lower bound from the workloads' own
# programs (planner.fleet.workload_bound; XL-2: 13 s): the share bound is all the full program gives there
BOUND_SHARE = 0.25
BESIDE_MIN_S = 3.0  # ... and at every level beside them (bound_beside) with this long left: its set-up is ~1 s on XL
# building and solving it take at most this share of the budget (its build stops at that deadline), and it is not
# started with less than RESTRICT_MIN_S for it
RESTRICT_SHARE = 0.2
RESTRICT_MIN_S = 0.3
RESTRICT_GAP = 0.01  # its solve stops within 1 % of the restricted optimum: a heuristic's answer need not be proven
# ... and only from this many deployments x periods (L: ~9,000; M: ~700, where the full program is solved to its
# optimum in seconds and a restricted plan would only cost start-up time on small scenarios)
RESTRICT_MIN_OPTIONS = 2_000
# the next rungs run only with this long for them (a k = 10 program on L needs seconds to improve on k = 3: at 7 s
# for both L-2 found nothing; and their plan is decoded and verified after their limit, ~0.5 s on L, which a
# short budget cannot spare: L-1 at --time-limit 5 returned after 5.65-5.84 s with them)
RESTRICT_NEXT_MIN_S = 5.0
# the next rungs run beside the full program's solve (another core) within this share of the budget (on L the own
# programs, their rung's build and solve need ~5 s), on one period after a first rung solved to its gap. Otherwise no
# larger rung improved on it in 20-40 s, and on 24 periods the "own" rung took the share from the periods' programs
# (XL-1 at 120 s: 379-380 USD/h against 329-346, BENCHMARKS forty-seventh pass): RESTRICT_SHARE, not to hold it back
RESTRICT_NEXT_SHARE = 0.6


def restricted_options(s: Scenario, options: OptionSet, horizon: Horizon, k: int = RESTRICT_K,
                       also: frozenset | set = frozenset()) -> OptionSet | None:
    """The k cheapest deployments per workload (u_d, ties by option order), the start's with those its moves look at
    first (``start_options`` with ``near``) and those whose keys are in ``also``, renumbered 0.. in the options'
    order; None where there is no constructive start (``plan forecast``, or no non-spot option)."""
    start = start_options(s, options, horizon, near=True)
    if start is None:
        return None
    keep = {d.key for d in start.deployments} | set(also)
    offers = {o.id: o for o in s.offers}
    for w in s.workloads:
        ranked = sorted(options.for_workload(w.id), key=lambda d: (unit_price(d, offers[d.offer], w), d.index))
        keep.update(d.key for d in ranked[:k] if math.isfinite(unit_price(d, offers[d.offer], w)))
    return options.only(keep)


class Rung(NamedTuple):
    """A solved rung: the program over its options and the horizon, its solution, the most options per request it
    kept with whether the workloads' own choices are among them, and, on a horizon of several periods, the peak
    envelope's program and solution it came from (``planner.fleet.envelope``), else None."""

    f: Formulation
    sol: Solution
    kept: tuple[int, bool]
    env: tuple[Formulation, Solution] | None = None
    by_period: bool = False   # each period then solved on its own from the envelope's fleet (``_by_period``)
    searched: int = 0   # steps of the neighbourhood search that improved it (``planner.fleet.neighbourhood``)

    @property
    def solved(self) -> bool:
        """Its program (the envelope's, where there is one) was solved to its gap."""
        return (self.env[1] if self.env else self.sol).status == "optimal"


def _rung(s: Scenario, options: OptionSet, horizon: Horizon, settings, extra_blocks, solver: str, k: int | str,
          deadline: float, previous: Rung | None = None) -> Rung | None:
    """The rung ``k`` of ``RESTRICT_LADDER`` solved until ``deadline`` from the constructive start, or from
    ``previous`` (an earlier rung, whose options this rung's include); on a horizon of several periods its program
    is the peak envelope's, its fleet then run in every period (``planner.fleet.envelope``). None when there is no
    start, nothing beyond ``previous``'s options, too little time, or no solution."""
    also, most, own = set(), RESTRICT_K if k == OWN else k, k == OWN
    if previous is not None:
        also = {d.key for d in previous.f.options.deployments}
        most, own = max(most, previous.kept[0]), own or previous.kept[1]
    peak = envelope_horizon(horizon)
    if k == OWN:
        now = time.perf_counter()
        also |= workload_choices(s, options, peak or horizon, now + OWN_SHARE * (deadline - now))
    sub = restricted_options(s, options, horizon, RESTRICT_K if k == OWN else k, also)
    if sub is None or (previous is not None and len(sub.deployments) == len(previous.f.options.deployments)):
        return None
    try:
        f = build(s, sub, peak or horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
                  project_loads=settings.project_loads, deadline=deadline)
    except BuildOutOfTime:
        return None
    left = deadline - time.perf_counter()
    if left < 0.1:
        return None
    before = None if previous is None else (previous.env or (previous.f, previous.sol))
    # from the previous rung, else over every option where the horizon is the scenario's (the first plan's start)
    start = (carry_start(before[0], before[1].values, f) if before is not None else
             greedy_start(f, over=options if peak is None else None))
    sol = get_backend(solver, f.problem).solve(f.problem, SolveOptions(
        time_limit_s=left * (ENVELOPE_SHARE if peak else 1.0), mip_gap=max(s.policy.mip_gap, RESTRICT_GAP),
        start=start))
    if not sol.has_values:
        return None
    if peak is None:
        return Rung(f, sol, (most, own))
    try:   # the envelope's fleet in every period of the horizon, the rest completed
        whole = build(s, sub, horizon, allow_unmet=settings.allow_unmet, extra_blocks=extra_blocks,
                      project_loads=settings.project_loads, deadline=deadline)
    except BuildOutOfTime:
        return None
    done = complete(whole.problem, solver, spread(f, sol.values, whole), max(deadline - time.perf_counter(), 0.1),
                    max(s.policy.mip_gap, RESTRICT_GAP))
    return None if done is None else Rung(whole, done, (most, own), (f, sol))


def _by_period(s: Scenario, horizon: Horizon, settings, extra_blocks, solver: str, until: Callable[[], float],
               previous: Rung) -> Rung | None:
    """The rung ``BY_PERIOD`` (``planner.fleet.envelope.by_period``) from ``previous``'s envelope, until ``until()``
    (it may move later while it runs: ``Ladder.extend``); None without an envelope, or when nothing came out."""
    if previous.env is None:
        return None
    done = by_period(s, horizon, settings, extra_blocks, solver, until, previous.env, previous.f,
                     max(s.policy.mip_gap, RESTRICT_GAP), RESTRICT_MIN_S)
    return None if done is None else Rung(previous.f, done, previous.kept, previous.env, by_period=True)


def plan_of(loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings, rung, note=None) -> Plan | None:
    """A rung's solution as a verified plan of the scenario (every option of ``options`` listed), ``feasible``
    with the closed-form bound of all the scenario's options, its message ``note`` where given; None when the
    verifier rejects it."""
    s, (f, sol, (k, own), env) = loaded.scenario, rung[:4]
    which = f"the {k} cheapest options per request of each workload" + (
        ", those the workloads' own programs chose" if own else "")
    note = note or (f"the plan of the restricted program ({which} and the constructive start's, "
                    "planner.fleet.restricted), solved within its share of the budget")
    if env is not None:
        note += (f", for the peak envelope of the {len(horizon.periods)} periods (every workload at its busiest, "
                 "planner.fleet.envelope) and run in every period")
        if rung.by_period:
            note += ", then each period's own program solved from it"
    if rung.searched:
        note += (f", then improved in {rung.searched} steps of a neighbourhood search (a few workloads at a time "
                 "over all their options, the others' replicas held: planner.fleet.neighbourhood)")
    # optimal for the restricted program at most: a plan of the scenario, with the closed-form bound of all the
    # scenario's options (one from the restricted options alone bounds nothing)
    sol = finalize_solution(f.problem, SolveOptions(mip_gap=s.policy.mip_gap), solver=sol.solver, claimed="feasible",
                            x=sol.values, bound=share_bound(s, options, horizon, settings.allow_unmet),
                            seconds=sol.solve_seconds, message=note)
    gpu_ids = {o.id: loaded.catalog.gpu(o.gpu).id for o in s.offers}
    plan = build_plan(f, sol, gpu_ids=gpu_ids,
                      tie_break="skipped: a plan of the restricted program" if settings.tie_break else "off")
    plan = relist_options(plan, f, options)
    verification = verify_plan(loaded, plan, allow_unmet=settings.allow_unmet, calibration=settings.calibration)
    return plan.model_copy(update={"verification": verification}) if verification.ok else None


class Ladder(Background):
    """The restricted programs of one ``solve_scenario`` call: ``first`` solves the first rung (synchronously) and
    returns its verified plan; ``start_next`` solves the next rungs from it in a background thread; ``next_plan``
    waits for them and returns the plan of the last rung that improved, or None; ``rest`` is ``next_plan`` that
    first runs them if they have not run. ``settings``: the call's
    ``planner.fleet.solve.SolveSettings``."""

    def __init__(self, loaded: LoadedScenario, options: OptionSet, horizon: Horizon, settings, extra_blocks,
                 solver: str, emit: Callable[[str, dict], None]):
        self._args = (loaded, options, horizon, settings, extra_blocks, solver)
        self._emit = emit
        self._rung = None
        self._thread: threading.Thread | None = None
        self._next: Plan | None = None
        self._error: BaseException | None = None
        self._extra_s = 0.0   # what the first rung took beyond its solver limit (its build, decoding, verification)
        # decoding and verifying the first rung's plan took this long, about what a later rung's and the answer's take
        # (XL-2 at 30 s: 1.9 s, the hours' plan 4.3 s, where 3 % of the budget keeps 0.9 s: Budget.ladder_until)
        self.finish_s = 0.0
        self._started = False   # the next rungs ran (or run) already
        self._bound: float | None = None   # planner.fleet.workload_bound, computed by the thread first
        self._bound_all: float | None = None   # ... at every demand level by bound_beside; _memo: their programs
        self._memo: dict = {}
        self._until = 0.0   # the next rungs' deadline (time.perf_counter): start_next sets it, extend moves it on
        self._search_until = 0.0   # the search after them (search_until; several periods: BY_PERIOD); none unless asked

    def _eligible(self, limit_s: float) -> bool:
        options, horizon = self._args[1], self._args[2]
        return limit_s >= RESTRICT_MIN_S and len(options.deployments) * len(horizon.periods) >= RESTRICT_MIN_OPTIONS

    def first(self, limit_s: float) -> Plan | None:
        """The first rung's verified plan within ``limit_s`` (None on small programs, RESTRICT_MIN_OPTIONS, under
        RESTRICT_MIN_S, without a start, or when nothing came out in time)."""
        loaded, options, horizon, settings, extra_blocks, solver = self._args
        if not self._eligible(limit_s):
            return None
        self._emit("restricted", {"options": len(options.deployments), "time_limit_s": limit_s})
        t0 = time.perf_counter()
        self._rung = _rung(loaded.scenario, options, horizon, settings, extra_blocks, solver, RESTRICT_LADDER[0],
                           t0 + limit_s)
        if self._rung is None:
            return None
        self._emit("verification", {})
        t_plan = time.perf_counter()
        plan = plan_of(loaded, options, horizon, settings, self._rung)
        self.finish_s = time.perf_counter() - t_plan
        self._extra_s = max(time.perf_counter() - t0 - limit_s, 0.0)
        return plan

    @property
    def beside(self) -> bool:
        """The next rungs (or the search after them) are running in their thread now."""
        return self._thread is not None and self._thread.is_alive()

    def next_share(self) -> float:
        """Share of the budget for the next rungs: RESTRICT_NEXT_SHARE on one period after a first rung solved to its
        gap, else RESTRICT_SHARE (the constants say why)."""
        one = len(self._args[2].periods) == 1
        return RESTRICT_NEXT_SHARE if one and self._rung is not None and self._rung.solved else RESTRICT_SHARE

    def rest(self, limit_s: float) -> Plan | None:
        """The next rungs' plan (as ``next_plan``); when they did not run beside the full solve (its budget was too
        short for them) and the full program is not solved either, they run now, within ``limit_s`` less what the
        first rung took beyond its solver limit (L-2 at a 10 s limit: the full program's build left 3.5 s that no
        solve could use)."""
        if not self._started:
            self.start_next(limit_s - self._extra_s, min_s=RESTRICT_MIN_S)
        return self.next_plan()

    def start_next(self, limit_s: float, min_s: float = RESTRICT_NEXT_MIN_S) -> None:
        """The next rungs in a background thread, within ``limit_s`` from now: only with ``min_s`` or more
        and HiGHS in this process (the module docstring says why)."""
        solver = self._args[5]
        if self._rung is None or limit_s < min_s:  # no first rung: too small, or nothing came out
            return
        if solver != "highs" or not get_backend(solver).runs_in_process():
            return
        self._started = True
        self._until = time.perf_counter() + limit_s
        self._thread = threading.Thread(target=self._run_next, name="fleetplan-restricted", daemon=True)
        self._thread.start()

    def extend(self, until: float) -> None:
        """Let the next rungs run until ``until`` (``time.perf_counter``) if that is later: the full program was left
        unbuilt or unsolved, so its share of the budget is theirs (XL-2 at 120 s returned at 85 s). On several periods
        it is the ``BY_PERIOD`` rung's (``search_until``) and the earlier rungs keep their share: given it too, the
        "own" rung's envelope solve took it (XL-2 with the full program left unbuilt: 43 s, the hours then 1.3 s each,
        307.0 and 308.7 USD/h)."""
        if len(self._args[2].periods) > 1:
            self.search_until(until)
        else:
            self._until = max(self._until, until)

    def bound_beside(self, until: float) -> None:
        """Where the full program is left unsolved (no root bound): the workloads' own programs' bound
        (``planner.fleet.workload_bound``) in the calling thread until ``until``, while the next rungs run in theirs
        (only then: a budget too short for them is too short for both). On several periods the thread had one from
        four demand levels; this one takes every period's level, the memo giving those solved (XL-2 at 120 s: 174.0
        USD/h from the thread, this thread idle the last ~20 s)."""
        loaded, options, horizon, settings = self._args[:4]
        if self._started and len(horizon.periods) > 1 and until - time.perf_counter() >= BESIDE_MIN_S:
            self._bound_all = workload_bound(loaded.scenario, options, horizon, until, settings.allow_unmet,
                                             all_levels=True, memo=self._memo)
        elif self._started and self._bound is None:
            self._bound = workload_bound(loaded.scenario, options, horizon, until, settings.allow_unmet)

    def hand_over(self, until: float) -> None:
        """The full program gives no plan or bound after all: the next rungs run until ``until`` (``extend``) and, on
        one period, the workloads' own bound is computed beside them meanwhile (``bound_beside``)."""
        self.extend(until)
        self.bound_beside(until)

    def search_until(self, until: float) -> None:
        """Let the search after the next rungs run until ``until``: on one period the neighbourhood search (the full
        program's solve, beside which it runs, leaves this core idle once the rungs are over), on several periods the
        last rung's solves of each period (``BY_PERIOD``; the earlier rungs keep their share). The horizon's program is
        not solved in time there (XL at 120 s: no plan better than the constructive start, no root bound), and with
        the next rungs' share alone a slow "own" rung left ~0.9 s per period and five periods at the envelope's fleet
        (XL-1: 342.9 against ~330 USD/h in other runs)."""
        self._search_until = max(self._search_until, until)

    def stop_search(self) -> None:
        """End the search at its current step, on several periods the next rungs at their next period (the full
        program's solve is over: the answer is waiting for it)."""
        now = time.perf_counter()
        self._search_until = min(self._search_until, now)
        if len(self._args[2].periods) > 1:
            self._until = min(self._until, now)

    def _periods_until(self) -> float:
        """The ``BY_PERIOD`` rung's deadline: the search's once set (the ladder's end, its plan's decoding and
        verification kept back: ``search_until``), else the next rungs'. Not the later of the two: on a short budget
        the next rungs' share ends past the ladder's end, and the hours' plan, decoded and verified after it, overran
        (XL-2 at 30 s: 32.1-34.0 s, the plan's decoding and verification 4.3 s)."""
        return self._search_until if self._search_until > 0 else self._until

    def _run_next(self) -> None:
        loaded, options, horizon, settings, extra_blocks, solver = self._args
        try:
            if len(horizon.periods) > 1:   # the horizon's own program is never solved there (XL): no bound but this
                now = time.perf_counter()
                self._bound = workload_bound(loaded.scenario, options, horizon,
                                             now + BOUND_SHARE * (self._until - now), settings.allow_unmet,
                                             memo=self._memo)
            best = self._rung
            for k in (RESTRICT_LADDER if len(horizon.periods) == 1 else PERIOD_LADDER)[1:]:
                if (self._periods_until() if k == BY_PERIOD else self._until) - time.perf_counter() < RESTRICT_MIN_S:
                    break
                if k == BY_PERIOD:
                    rung = _by_period(loaded.scenario, horizon, settings, extra_blocks, solver, self._periods_until,
                                      best)
                else:
                    rung = _rung(loaded.scenario, options, horizon, settings, extra_blocks, solver, k, self._until,
                                 best)
                if rung is not None and rung.sol.objective < best.sol.objective:
                    best = rung
            if len(horizon.periods) == 1:
                found = search(loaded.scenario, options, horizon, settings, extra_blocks, solver, (best.f, best.sol),
                               lambda: self._search_until)
                if found is not None:
                    best = Rung(found[0], found[1], best.kept, searched=found[2])
            if best is not self._rung:
                self._next = plan_of(loaded, options, horizon, settings, best)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread by next_plan
            self._error = exc

    def bound(self) -> float | None:
        """The next rungs' lower bound on every plan (``planner.fleet.workload_bound`` on several periods and
        ``bound_beside``'s: the higher), once they are over; None where there is none."""
        self.next_plan()
        found = [b for b in (self._bound, self._bound_all) if b is not None]
        return max(found) if found else None

    def next_plan(self) -> Plan | None:
        """Wait for the next rungs (bounded by their limit, plus decoding and verifying) and return their plan."""
        self._collect()
        return self._next
