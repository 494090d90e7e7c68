"""Does ``plan solve --time-limit N`` return within N + 10 % of wall, with a verified plan? (issue 13)

    python -m bench.time_limit                                  # L-1..3 at 5 and 10 s, XL-1..2 at 30 s, M-1 at 2 s
    python -m bench.time_limit --only L-1,XL-2 --limits 5,30 --repeats 3
    python -m bench.time_limit --tables            # the terminal tables printed too (plan solve's default output)

Each instance (the frozen set's generator seeds, ``bench/frozen.py``) is written to YAML and solved by a fresh
``plan solve FILE --time-limit N --no-baselines --format json`` process; the table gives the process's wall seconds
(median of the repeats, and the slowest), whether every run stayed within N × 1.1, and what the JSON says: status,
USD/h, gap, verification. With ``--tables`` the process prints the terminal tables (``--format table``, to a pipe)
and writes the JSON with ``--out``, which is read back. The budget counts from the command's start (imports and loading included), so on this
shared 2-core machine the figures move with its load: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.frozen import INSTANCES, plan_solve_process
from bench.report import markdown_table

DEFAULT = {"M-1": (2.0,), "L-1": (5.0, 10.0), "L-2": (5.0, 10.0), "L-3": (5.0, 10.0), "XL-1": (30.0,),
           "XL-2": (30.0,)}
SLACK = 1.10


def run_once(path: Path, limit: float, tables: bool = False) -> tuple[float, dict | None, int]:
    """(wall seconds, the plan's JSON or None, exit code) of one process."""
    out = path.with_suffix(".plan.json")
    out.unlink(missing_ok=True)
    extra = ("--format", "table", "--out", str(out)) if tables else ()
    wall, done = plan_solve_process(path, "--time-limit", f"{limit:g}", *extra)
    try:
        plan = json.loads(out.read_text(encoding="utf-8") if tables else done.stdout)
    except (OSError, ValueError):
        plan = None
    return wall, plan, done.returncode


def main(argv: list[str] | None = None) -> int:
    import yaml  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(DEFAULT), help="instances, e.g. L-1,XL-2")
    ap.add_argument("--limits", default=None, help="comma list of seconds for every instance (default: per size)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tables", action="store_true", help="print the terminal tables too (--format table --out)")
    args = ap.parse_args(argv)
    by_name = {i.name: i for i in INSTANCES}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            inst = by_name[name]
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(inst.data(), sort_keys=False), encoding="utf-8")
            limits = [float(x) for x in args.limits.split(",")] if args.limits else DEFAULT.get(name, (10.0,))
            for limit in limits:
                runs = [run_once(path, limit, args.tables) for _ in range(args.repeats)]
                walls = [w for w, _, _ in runs]
                plans = [p for _, p, _ in runs]
                last = plans[-1] or {}
                verified = all(p is not None and (p.get("verification") or {}).get("ok") for p in plans)
                gap = last.get("gap")
                rows.append([name, f"{limit:g}", f"{statistics.median(walls):.2f}", f"{max(walls):.2f}",
                             "yes" if max(walls) <= SLACK * limit else "NO", str(last.get("status", "–")),
                             f"{last['objective_usd_per_hour']:.6g}" if last.get("objective_usd_per_hour") else "–",
                             "–" if gap is None else f"{100 * gap:.2f} %", "yes" if verified else "NO",
                             ",".join(str(c) for _, _, c in runs), str(args.repeats)])
                objs = ", ".join(repr(p.get("objective_usd_per_hour")) for p in plans if p)   # to record a best
                print(f"{name} at {limit:g} s: {', '.join(f'{w:.2f}' for w in walls)} s; USD/h {objs}", file=sys.stderr)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"`python -m bench.time_limit {' '.join(argv or sys.argv[1:])}`; load average at the end {load} "
          f"(2 shared cores).\n")
    print(markdown_table((["instance", "--time-limit s", "process wall s (median)", "slowest s",
                           f"within N x {SLACK:.2f}", "status", "USD/h", "gap", "verified", "exit codes", "n"], rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
