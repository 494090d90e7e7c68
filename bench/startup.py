"""Start-up and fixed work of ``plan solve --no-baselines`` on small scenarios (issue 13: whole process <= 0.5 s).

    python -m bench.startup                 # 3 S generator seeds + 5 Mélange-format instances, 7 repeats each
    python -m bench.startup --repeats 3 --only melange
    python -m bench.startup --root ../other-checkout     # time another checkout (before / after)
    python -m bench.startup --bytecode inherit           # as the environment is (see ``bytecode_env``)

Per instance: the whole ``plan`` process (a fresh interpreter running the console script's ``main``), wall and
CPU seconds (user + system of the child, from ``os.wait4``), medians over repeats; then one more fresh process
that runs the same steps as ``plan solve`` in-process and times each stage (the interpreter's own start-up is the
process wall less the stages' total): ``import planner.cli`` with the ``solve`` command's module (typer, rich),
the scenario models (``planner.scenario``: pydantic, yaml, the catalog), the solve imports
(``planner.fleet.solve``: numpy, scipy.sparse, highspy, the program), the report imports (``reports``, without
pandas since the table output renders ``reports.rows``), loading the YAML, enumerating options (the performance
model), the rest of ``solve_scenario`` (build, solve, tie-break, decode, verify), and rendering the tables to a
null console. Nothing is asserted; the table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import generate
from bench.bytecode import cached_env
from bench.frozen import melange_instance

ROOT = Path(__file__).resolve().parent.parent
PLAN = "import sys; from planner.cli import main; sys.argv[0] = 'plan'; main()"

STAGES = r"""
import json, os, sys, time
t0 = time.perf_counter()
out = {}
def mark(name):
    global t0
    now = time.perf_counter(); out[name] = now - t0; t0 = now
import planner.cli
blas = getattr(planner.cli, "_BLAS_THREAD_VARS", None)  # a tree whose main() asks for one BLAS thread
if blas and "numpy" not in sys.modules and not any(os.environ.get(v) for v in blas):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # as the console script's main() does
import planner.cli.solve
mark("import planner.cli (+ solve command)")
from planner.scenario.io import load_scenario
mark("import planner.scenario")
from planner.fleet.solve import SolveSettings, solve_scenario
mark("import planner.fleet.solve")
from reports import export, tables, terminal
mark("import reports")
loaded = load_scenario(sys.argv[1])
mark("load scenario")
def progress(stage, info):
    if stage == "building":
        mark("options (perf model)")
plan = solve_scenario(loaded, SolveSettings(baselines=False), progress=progress)
mark("build, solve, decode, verify")
import io
from rich.console import Console
rows = getattr(tables, "plan_rows", tables.plan_tables)(plan, loaded.scenario)  # as the tree's plan solve
terminal.print_renderables(terminal.plan_renderables(rows), Console(file=io.StringIO(), width=100))
mark("tables + render")
print(json.dumps(out))
"""


def instances(only: set[str] | None) -> list[tuple[str, dict]]:
    out = []
    if not only or "S" in only:
        out += [(f"S-{seed}", generate.generate("S", seed)) for seed in (1, 2, 3)]
    if not only or "melange" in only:
        out += [(f"melange-{seed}", melange_instance(seed)) for seed in range(5)]
    return out


def run_process(args: list[str], env: dict, root: Path = ROOT) -> tuple[float, float, int]:
    """(wall s, CPU s of the child, exit code) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def stages(path: Path, env: dict, root: Path = ROOT) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", STAGES, str(path)], capture_output=True, text=True, cwd=root,
                         env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bytecode_env(env: dict, mode: str, cache: Path, path: Path, root: Path) -> dict:
    """The environment of the timed processes.

    ``cached`` (the default): compiled bytecode of every module is read from a fresh cache folder
    (``PYTHONPYCACHEPREFIX``), written there by one untimed warm-up run -- what an installed package (pip
    compiles it) or a checkout that has run once gives. ``inherit``: the environment as it is; where
    ``PYTHONDONTWRITEBYTECODE`` is set and the checkout has no ``__pycache__``, every first-party module is
    compiled from source in every run (about a quarter of a second here)."""
    if mode == "inherit":
        return env
    return cached_env(env, cache, [[sys.executable, "-c", PLAN, "solve", str(path), "--no-baselines"],
                                   [sys.executable, "-c", STAGES, str(path)]], root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", default=None, help="comma list: S, melange")
    ap.add_argument("--bytecode", choices=("cached", "inherit"), default="cached",
                    help="cached: modules' bytecode compiled once beforehand (an installed package); inherit: "
                         "the environment as it is (see bytecode_env)")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to time (default: this one)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    env = {**os.environ, "PYTHONPATH": str(root), "FLEETPLAN_PRICE_MAX_AGE_DAYS": "100000"}
    rows, breakdown = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, data) in enumerate(instances(set(args.only.split(",")) if args.only else None)):
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            cmd = [sys.executable, "-c", PLAN, "solve", str(path), "--no-baselines"]
            if i == 0:
                env = bytecode_env(env, args.bytecode, Path(tmp) / "pycache", path, root)
            runs = [run_process(cmd, env, root) for _ in range(args.repeats)]
            codes = sorted({c for _, _, c in runs})
            rows.append((name, statistics.median(w for w, _, _ in runs), statistics.median(c for _, c, _ in runs),
                         min(w for w, _, _ in runs), codes))
            breakdown.append((name, stages(path, env, root)))
            print(f"{name}: wall {rows[-1][1]:.3f} s, CPU {rows[-1][2]:.3f} s, exit {codes}", file=sys.stderr)
    load = os.getloadavg()
    print(f"`python -m bench.startup --repeats {args.repeats} --bytecode {args.bytecode}` on {root}; load average "
          f"at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (2 shared cores).\n")
    print("| instance | process wall s (median) | process CPU s (median) | fastest wall s | exit |")
    print("|---|---|---|---|---|")
    for name, wall, cpu, best, codes in rows:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {best:.3f} | {','.join(map(str, codes))} |")
    names = list(breakdown[0][1]) if breakdown else []
    print("\nWall seconds per stage (one fresh in-process run each):\n")
    print("| instance | " + " | ".join(names) + " | total |")
    print("|---|" + "---|" * (len(names) + 1))
    for name, st in breakdown:
        print(f"| {name} | " + " | ".join(f"{st.get(k, 0.0):.3f}" for k in names) + f" | {sum(st.values()):.3f} |")
    if breakdown:
        med = {k: statistics.median(st.get(k, 0.0) for _, st in breakdown) for k in names}
        print("| median | " + " | ".join(f"{med[k]:.3f}" for k in names) + f" | {sum(med.values()):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
