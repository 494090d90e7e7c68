"""Native libraries of two solver packages in one process (``solvers.isolation``).

highspy up to 1.15 and ortools each shipped a ``libhighs.so.1``; the second to load failed, so a backend whose
library was shadowed ran in a worker process. highspy 1.16 links HiGHS into its extension module and ships none,
so with ortools loaded first HiGHS must still run in this process (the restricted programs' thread beside the full
solve needs it there) and give the same answers as SCIP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from solvers import isolation, registry

ROOT = Path(__file__).resolve().parent.parent


def test_ships_sees_a_bundled_library_only_where_one_is(tmp_path):
    bundled, static = tmp_path / "bundled" / "sub", tmp_path / "static"
    bundled.mkdir(parents=True)
    static.mkdir()
    (bundled / "libhighs.so.1").write_bytes(b"")
    (static / "_core.so").write_bytes(b"")
    assert isolation._ships("libhighs", (str(tmp_path / "bundled"),))
    assert not isolation._ships("libhighs", (str(static),))
    assert not isolation._ships("libhighs", ())


CLASH = textwrap.dedent('''
    import ortools.linear_solver.pywraplp  # ortools' own libhighs.so.1 is mapped first
    from solvers import registry
    from planner.problem import Problem
    def knapsack():  # min -5a - 4b s.t. 2a + 3b <= 7, a, b in 0..3 integer (hand: a = 3, b = 0 gives -15;
        p = Problem("k")  # a = 2, b = 1 gives -14; a = 0, b = 2 gives -8; nothing else fits better)
        a, b = p.add_vars("item", ["a", "b"], ub=3, integer=True)
        p.add_constraint("capacity", (), {a: 2, b: 3}, "<=", 7)
        p.add_cost("value", [a, b], [-5.0, -4.0])
        return p
    for name in ("highs", "scip"):
        cap = registry.get_backend(name)
        sol = cap.solve(knapsack())
        print(name, cap.runs_in_process(), sol.status, round(sol.objective, 6))
''')


@pytest.mark.skipif(not all(registry.get_backend(n).installed() for n in ("highs", "scip")),
                    reason="needs highspy and ortools")
def test_highs_runs_in_process_beside_ortools_when_highspy_ships_no_libhighs():
    import highspy

    ships = isolation._ships("libhighs", tuple(highspy.__path__))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", CLASH], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert lines["scip"] == "True optimal -15.0"
    # in this process exactly when highspy ships no libhighs of its own (1.16); the same optimum either way
    assert lines["highs"] == f"{not ships} optimal -15.0"
