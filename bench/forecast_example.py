"""Time ``plan forecast`` on the example workloads (issue 6: 12 months x 24 hourly periods must solve to optimality).

Run: ``python -m bench.forecast_example [--repeats N] [--solver NAME]``. Prints one row per run and the median;
numbers go into docs/BENCHMARKS.md by hand (the main ``python -m bench`` times a generated forecast case instead).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from planner.forecast.run import ForecastSettings, run_forecast
from planner.scenario.io import load_scenario

EXAMPLE = Path(__file__).resolve().parent.parent / "scenarios" / "forecast-growth.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--solver", default=None, help="backend (default: the scenario's policy.solver)")
    args = parser.parse_args()
    loaded = load_scenario(EXAMPLE)
    table = Table(title=f"plan forecast {EXAMPLE.name}: 12 months x 24 h")
    for col in ("run", "solver", "status", "gap", "periods", "solve s", "wall s", "total USD"):
        table.add_column(col, justify="right")
    walls = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        res = run_forecast(loaded, ForecastSettings(solver=args.solver, variants=False))
        wall = time.perf_counter() - t0
        walls.append(wall)
        table.add_row(str(i + 1), str(res.get("solver")), str(res.get("status")), f"{res.get('gap')}",
                      str(len(res.get("months", [])) * 24), f"{res.get('solve_seconds', float('nan')):.1f}",
                      f"{wall:.1f}", f"{res.get('total_usd'):,.2f}")
    Console().print(table)
    Console().print(f"median wall {statistics.median(walls):.1f} s over {len(walls)} run(s)")


if __name__ == "__main__":
    main()
