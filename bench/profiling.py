"""Where the time goes: cProfile of one stage, reduced to the functions that own the time.

cProfile ships with Python, so the harness needs nothing extra; ``pyinstrument`` (``pip install pyinstrument``,
not a project dependency) gives a call tree of the same run when it is installed (``--pyinstrument``).
Shares are of the profiled call's total wall time. Time spent waiting for a solver subprocess (CBC) shows up as
``subprocess``/``select``/``wait`` entries: that is the solver, not Python.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Hot:
    function: str  # module:line(function)
    own_s: float  # time in the function itself
    cum_s: float  # including callees
    calls: int
    own_share: float
    cum_share: float


def _name(key: tuple) -> str:
    path, line, fn = key
    if path == "~":
        return fn
    for marker in ("/planner/", "/solvers/", "/bench/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            path = (marker.strip("/") + "/" + path) if marker in ("/planner/", "/solvers/", "/bench/") else path
            break
    return f"{path}:{line}({fn})"


def profile(fn, *args, top: int = 12, **kwargs) -> tuple[float, list[Hot], list[Hot]]:
    """Run ``fn`` under cProfile. Returns (wall seconds, top by own time, top by cumulative time in planner/solvers)."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    try:
        fn(*args, **kwargs)
    finally:
        prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # key -> (cc, nc, tt, ct, callers)
    rows = [Hot(_name(k), tt, ct, nc, tt / wall, ct / wall) for k, (cc, nc, tt, ct, _) in stats.items()]
    own = sorted(rows, key=lambda h: -h.own_s)[:top]
    ours = [h for h in rows if h.function.startswith(("planner/", "solvers/"))]
    cum = sorted(ours, key=lambda h: -h.cum_s)[:top]
    return wall, own, cum


def pyinstrument_text(fn, *args, **kwargs) -> str | None:
    """A pyinstrument call tree of the same call, or None when pyinstrument is not installed."""
    try:
        from pyinstrument import Profiler  # noqa: PLC0415
    except ImportError:
        return None
    p = Profiler(interval=0.005)
    p.start()
    try:
        fn(*args, **kwargs)
    finally:
        p.stop()
    return p.output_text(unicode=False, color=False, show_all=False)
