"""The frozen benchmark set: fixed instances with best-known objectives, so every solver change reports, per
instance, time to optimal, gap at the limit and whether the optimum is unchanged.

    python -m bench.frozen                       # the whole set (about 20 min on the shared 2-core machine)
    python -m bench.frozen --only M,melange      # a subset (names: M, L, XL, forecast, hourly, melange)
    python -m bench.frozen --repeats 3 --update-best

Instances (``INSTANCES``): 5 M, 3 L and 2 XL generator seeds (``bench.generate``), the forecast, six days of hourly
periods whose hours share reserved nodes under ``plan solve`` (``hourly_instance``: the example forecast's and the
generator forecast case's of seeds 1-5), and 20 Mélange-format instances (``melange_instance``: Mélange's own problem shape, one workload whose request sizes
form a 6 x 6 = 36-bucket histogram, served from 4 single-GPU on-demand offers: L4, A10G, A100 80 GB, H100 PCIe,
priced from pricing.md through ``bench.generate.TEMPLATES``). Best-known objectives live in
``bench/data/frozen-best.csv`` (instance, best_known_usd_per_hour, proven, found_by, perf_model: the last commit
that changed ``planner/perf`` when the value was found, since capacities, hence optima, move with the performance
model); ``--update-best`` records a better verified objective, or a proof, there, never silently a worse one;
``--refresh-best`` replaces every value by this run's verified result, for a changed performance model.

What is measured, per instance and repeat: ``solve_scenario`` as ``plan solve --no-baselines`` runs it (options, build,
solve, tie-break, decode, verify), its wall seconds and the CPU seconds of the process and its children (HiGHS runs one
thread, in-process or, on programs of 100,000 columns or more, in a child process: ``solvers.highs_guard``; so CPU
seconds are one solver thread plus the Python around it, and do not grow when other work shares the cores, as wall
seconds do). For Mélange instances also the whole ``plan solve --no-baselines`` process, wall, with its modules'
bytecode compiled beforehand as an installed package's is (``bench.bytecode``). Medians over repeats. No timing is
asserted by a test. Each run's line on stderr carries, for a run not proven optimal, the plan's message (which program's
plan it is, why the solve stopped): XL's plans vary by ~10 % from run to run (docs/BENCHMARKS.md, twentieth pass), and
the message says which rung gave the plan.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import generate
from bench.bytecode import cached_env

ROOT = Path(__file__).resolve().parent.parent
BEST_CSV = ROOT / "bench" / "data" / "frozen-best.csv"
LIMITS_S = {"M": 60.0, "L": 60.0, "XL": 120.0, "forecast": 120.0, "melange": 60.0, "hourly": 60.0}
MELANGE_TEMPLATES = ("l4", "a10g", "a100-80gb", "h100-pcie")  # Mélange's GPU types (its A100 is the 80 GB one)
PROMPTS = (100, 400, 1000, 2000, 4000, 8000)
OUTPUTS = (25, 100, 250, 500, 1000, 2000)


def melange_instance(seed: int) -> dict:
    """One Mélange-format scenario: one Llama-class workload, a 36-bucket size histogram, 4 GPU types on demand."""
    rng = random.Random(f"melange-{seed}")
    weights = [rng.expovariate(1.0) for _ in range(len(PROMPTS) * len(OUTPUTS))]
    total = sum(weights)
    shares = [round(w / total, 6) for w in weights]
    shares[-1] = round(1.0 - sum(shares[:-1]), 6)
    mix = [{"prompt_tokens": p, "output_tokens": o, "share": sh}
           for (p, o), sh in zip(((p, o) for p in PROMPTS for o in OUTPUTS), shares) if sh > 0]
    offers = []
    for gpu in MELANGE_TEMPLATES:
        t = next(t for t in generate.TEMPLATES if t.gpu == gpu and t.gpus == 1)
        offers.append({"id": f"{t.provider}-{gpu}-1x-od", "gpu": gpu, "market": "on_demand",
                       "price_usd_per_gpu_hour": t.usd_gpu, "gpus_per_node": 1, "source": t.source, "as_of": "2025"})
    return {
        "name": f"melange-{seed}",
        "description": "Mélange-format instance (bench.frozen): one workload, 36 size buckets, 4 GPU types",
        "policy": {"target_utilization": 0.8, "solver": "highs", "time_limit_s": 60.0, "mip_gap": 0.0},
        "workloads": [{"id": "chat", "model": "llama-3.1-8b", "requests_per_min": round(math.exp(rng.uniform(
            math.log(60), math.log(3000))), 1), "size_mix": mix, "ttft_slo_ms": 5000, "tpot_slo_ms": 120,
            "precisions": ["bf16"], "min_replicas": 1}],
        "offers": offers,
    }


@dataclass(frozen=True)
class Instance:
    name: str
    kind: str  # M, L, XL, forecast, hourly, melange
    seed: int

    def data(self) -> dict:
        if self.kind == "hourly":
            return hourly_instance(self.seed)
        return melange_instance(self.seed) if self.kind == "melange" else generate.generate(self.kind, self.seed)


def hourly_instance(seed: int) -> dict:
    """A day of hourly periods under ``plan solve`` whose hours share reserved nodes (``planner.fleet.by_period``):
    seed 0 is ``scenarios/forecast-growth.yaml``, any other the generator's forecast case of that seed, each without
    its ``forecast:`` block (``plan solve`` plans one day at the base rates)."""
    import yaml  # noqa: PLC0415

    if seed == 0:
        data = yaml.safe_load((ROOT / "scenarios" / "forecast-growth.yaml").read_text(encoding="utf-8"))
    else:
        data = generate.generate("forecast", seed)
    data.pop("forecast", None)
    return data


INSTANCES: tuple[Instance, ...] = (
    *(Instance(f"M-{s}", "M", s) for s in (1, 2, 3, 4, 5)),
    *(Instance(f"L-{s}", "L", s) for s in (1, 2, 3)),
    *(Instance(f"XL-{s}", "XL", s) for s in (1, 2)),
    Instance("forecast", "forecast", generate.DEFAULT_SEED),
    Instance("hourly-example", "hourly", 0),
    *(Instance(f"hourly-{s}", "hourly", s) for s in (1, 2, 3, 4, 5)),
    *(Instance(f"melange-{s}", "melange", s) for s in range(1, 21)),
)


@dataclass
class Run:
    instance: str
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    wall_s: float
    cpu_s: float
    process_s: float | None = None  # whole `plan solve` process, wall (Mélange instances)
    solver_s: float | None = None  # the solver calls alone (``Plan.solve_seconds``: cost solve + tie-break), wall
    message: str = ""  # the plan's message (which program's plan it is, why the solve stopped), shown on stderr


def read_best(path: Path = BEST_CSV) -> dict[str, dict]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["instance"]: r for r in csv.DictReader(fh)}


def write_best(best: dict[str, dict], path: Path = BEST_CSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, ["instance", "best_known_usd_per_hour", "proven", "found_by", "perf_model"],
                            lineterminator="\n")   # as committed: an update changes only the rows that moved
        wr.writeheader()
        for inst in INSTANCES:
            if inst.name in best:
                wr.writerow({k: best[inst.name].get(k) or "" for k in wr.fieldnames})


def perf_model_commit() -> str:
    """The last commit that changed ``planner/perf`` (the performance model the capacities come from)."""
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--", "planner/perf"], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or "unknown"


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended: large programs' HiGHS runs in a child
    process (``solvers.highs_guard``), and its work counts as the solve's."""
    import resource  # noqa: PLC0415

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def solve_once(inst: Instance, limit_s: float, threads: int = 1) -> Run:
    from planner.errors import PlannerError  # noqa: PLC0415
    from planner.scenario.io import scenario_from_dict  # noqa: PLC0415

    loaded = scenario_from_dict(inst.data(), name=f"{inst.name}.yaml")
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        if inst.kind == "forecast":
            from planner.forecast.run import ForecastSettings, run_forecast  # noqa: PLC0415

            res = run_forecast(loaded, ForecastSettings(solver="highs", time_limit_s=limit_s, variants=False))
            obj = res.get("total_usd")
            return Run(inst.name, str(res.get("status", "?")), obj, None, res.get("gap"),
                       time.perf_counter() - t0, cpu_seconds() - c0)
        from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415

        plan = solve_scenario(loaded, SolveSettings(solver="highs", time_limit_s=limit_s, baselines=False,
                                                    threads=threads))
        status = plan.status if plan.verification and plan.verification.ok else "unverified"
        return Run(inst.name, status, plan.objective_usd_per_hour, plan.bound_usd_per_hour, plan.gap,
                   time.perf_counter() - t0, cpu_seconds() - c0, solver_s=plan.solve_seconds, message=plan.message)
    except PlannerError as exc:
        return Run(inst.name, f"error: {type(exc).__name__}", None, None, None,
                   time.perf_counter() - t0, cpu_seconds() - c0)


def _plan_solve(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from planner.cli import main; main()", "solve", str(path), "--no-baselines",
            "--format", "json", *args]


def plan_solve_process(path: Path, *args: str, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, the finished process) of a fresh ``plan solve FILE --no-baselines --format json ARGS`` on
    this checkout (stdout captured as text), in ``env`` (default: this process's, with the checkout on the path)."""
    env = env if env is not None else dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    done = subprocess.run(_plan_solve(path, *args), check=False, capture_output=True, env=env, cwd=ROOT, text=True)
    return time.perf_counter() - t0, done


@functools.cache
def _bytecode_cache() -> tempfile.TemporaryDirectory:
    """The compiled-bytecode folder of this run's timed processes (one per run, removed when it exits)."""
    return tempfile.TemporaryDirectory(prefix="frozen-pycache-")


def process_seconds(inst: Instance) -> float:
    """Wall seconds of the whole ``plan solve --no-baselines --format json`` process on the instance, its modules'
    bytecode read from a cache as an installed package's is (``bench.bytecode``; written by an untimed run)."""
    import yaml  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{inst.name}.yaml"
        path.write_text(yaml.safe_dump(inst.data(), sort_keys=False), encoding="utf-8")
        env = cached_env(dict(os.environ, PYTHONPATH=str(ROOT)), Path(_bytecode_cache().name), [_plan_solve(path)], ROOT)
        return plan_solve_process(path, env=env)[0]


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(inst: Instance, runs: list[Run], best: dict[str, dict]) -> dict:
    known = best.get(inst.name)
    known_obj = float(known["best_known_usd_per_hour"]) if known else None
    proven = bool(known) and known["proven"] == "yes"
    objs = [r.objective for r in runs if r.objective is not None]
    median_obj = _median(objs)
    if median_obj is None or known_obj is None:
        unchanged = "–"
    elif all(r.status == "optimal" for r in runs) and proven:
        unchanged = "yes" if all(abs(o - known_obj) <= 1e-6 * max(1.0, known_obj) for o in objs) else "**NO**"
    else:
        unchanged = f"{100 * (median_obj - known_obj) / known_obj:+.2f} % vs best"
    optimal = [r for r in runs if r.status == "optimal"]
    return {
        "instance": inst.name, "status": "/".join(sorted({r.status for r in runs})),
        "objective": median_obj, "best_known": known_obj, "proven_best": proven,
        "cpu_to_optimal_s": _median([r.cpu_s for r in optimal]) if len(optimal) == len(runs) else None,
        "cpu_s": _median([r.cpu_s for r in runs]), "wall_s": _median([r.wall_s for r in runs]),
        "gap_at_limit": None if optimal else _median([r.gap for r in runs]),
        "process_s": _median([r.process_s for r in runs]), "unchanged": unchanged, "repeats": len(runs),
        "solver_s": _median([r.solver_s for r in runs]),
    }


def _fmt(x, spec: str = ".2f", none: str = "–") -> str:
    return none if x is None else format(x, spec)


def markdown(rows: list[dict], *, command: str, load: str, finished: str, kept: dict[str, str] | None = None,
             note: str = "") -> str:
    lines = [
        "## Frozen set (issue 13)", "",
        f"Generated by `{command}` (`bench/frozen.py`), finished {finished}; load average at start {load} "
        "(2 shared cores: other work inflates wall seconds, CPU seconds are the figure to compare). "
        "Time limits: " + ", ".join(f"{k} {v:g} s" for k, v in LIMITS_S.items()) + ", each the whole solve's "
        "wall-clock budget. Medians over the repeats shown. Best-known objectives: `bench/data/frozen-best.csv`."
        + (" " + note if note else ""),
        "",
        "| instance | status | USD/h | best known | CPU s to optimal | CPU s | wall s | solver wall s | gap at limit | "
        "`plan solve` process s | objective unchanged |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if kept:
        lines[2] += f" Rows of {', '.join(sorted(kept))} are kept from the previous run of the whole set."
    new = {}
    for r in rows:
        best = _fmt(r["best_known"], ".6g") + (" (proven)" if r["proven_best"] else "")
        gap = "–" if r["gap_at_limit"] is None else f"{100 * r['gap_at_limit']:.2f} %"
        new[r["instance"]] = (f"| {r['instance']} | {r['status']} | {_fmt(r['objective'], '.6g')} | {best} | "
                              f"{_fmt(r['cpu_to_optimal_s'])} | {_fmt(r['cpu_s'])} | {_fmt(r['wall_s'])} | "
                              f"{_fmt(r.get('solver_s'))} | {gap} | "
                              f"{_fmt(r['process_s'])} | {r['unchanged']} |")
    merged = {**(kept or {}), **new}
    lines += [merged[i.name] for i in INSTANCES if i.name in merged]
    return "\n".join(lines) + "\n"


def kept_rows(doc: str, rerun: set[str]) -> dict[str, str]:
    """Table lines of the previous frozen-set section for instances not rerun now (``--only`` merges)."""
    head = "## Frozen set (issue 13)"
    if head not in doc:
        return {}
    rest = doc.split(head, 1)[1]
    nxt = rest.find("\n## ")
    known = {i.name for i in INSTANCES}
    out = {}
    for line in (rest[:nxt] if nxt >= 0 else rest).splitlines():
        name = line.split("|")[1].strip() if line.startswith("| ") else ""
        if name in known and name not in rerun:
            out[name] = line
    return out


def splice(doc: str, section: str) -> str:
    """Replace the frozen-set section of docs/BENCHMARKS.md (or append it)."""
    head = "## Frozen set (issue 13)"
    if head not in doc:
        return doc.rstrip() + "\n\n" + section
    before, rest = doc.split(head, 1)
    nxt = rest.find("\n## ")
    after = rest[nxt + 1:] if nxt >= 0 else ""
    return before + section + ("\n" + after if after else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.frozen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None, help="comma list of kinds: M, L, XL, forecast, hourly, melange")
    ap.add_argument("--repeats", type=int, default=3, help="repeats for M and melange (L, XL, forecast, hourly once)")
    ap.add_argument("--limit-scale", type=float, default=1.0, help="multiply every time limit")
    ap.add_argument("--threads", type=int, default=1, help="plan solve --threads for the solves (not the forecast)")
    ap.add_argument("--update-best", action="store_true", help="record better verified objectives and proofs")
    ap.add_argument("--refresh-best", action="store_true",
                    help="replace the best-known objectives by this run's (a changed performance model)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="Markdown file to splice ('-': none)")
    args = ap.parse_args(argv)
    kinds = set(args.only.split(",")) if args.only else None
    best = read_best()
    model = perf_model_commit()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = []
    for inst in INSTANCES:
        if kinds and inst.kind not in kinds:
            continue
        reps = args.repeats if inst.kind in ("M", "melange") else 1
        runs = []
        for _ in range(reps):
            run = solve_once(inst, LIMITS_S[inst.kind] * args.limit_scale, args.threads)
            if inst.kind == "melange":
                run.process_s = process_seconds(inst)
            runs.append(run)
            print(f"{inst.name}: {run.status} {run.objective} gap {run.gap} cpu {run.cpu_s:.2f} s wall "
                  f"{run.wall_s:.2f} s" + (f"\n  {run.message}" if run.status != "optimal" and run.message else ""),
                  file=sys.stderr, flush=True)
        if args.refresh_best:
            good = [r for r in runs if r.status in ("optimal", "feasible") and r.objective is not None]
            if good:
                top = min(good, key=lambda r: (r.objective, r.status != "optimal"))
                best[inst.name] = {"instance": inst.name, "best_known_usd_per_hour": f"{top.objective:.9g}",
                                   "proven": "yes" if top.status == "optimal" else "no",
                                   "found_by": f"bench.frozen highs {time.strftime('%Y-%m-%d', time.gmtime())}",
                                   "perf_model": model}
            else:
                best.pop(inst.name, None)
        rows.append(summarise(inst, runs, best))
        if args.update_best and not args.refresh_best:
            good = [r for r in runs if r.status in ("optimal", "feasible") and r.objective is not None]
            if good:
                top = min(good, key=lambda r: (r.objective, r.status != "optimal"))
                old = best.get(inst.name)
                old_obj = float(old["best_known_usd_per_hour"]) if old else math.inf
                proven = top.status == "optimal"
                if top.objective < old_obj - 1e-9 or (proven and old and old["proven"] != "yes"
                                                      and abs(top.objective - old_obj) <= 1e-6 * max(1, old_obj)):
                    best[inst.name] = {"instance": inst.name, "best_known_usd_per_hour": f"{top.objective:.9g}",
                                       "proven": "yes" if proven else "no",
                                       "found_by": f"bench.frozen highs {time.strftime('%Y-%m-%d', time.gmtime())}",
                                       "perf_model": model}
    if args.update_best or args.refresh_best:
        write_best(best)
    command = "python -m bench.frozen " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out) if args.out != "-" else None
    old = out.read_text(encoding="utf-8") if out is not None and out.exists() else ""
    kept = kept_rows(old, {r["instance"] for r in rows}) if kinds else {}
    section = markdown(rows, command=command.strip(), load=load,
                       finished=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), kept=kept,
                       note=(f"Best-known objectives refreshed by this run (performance model of commit {model}; the "
                             "values recorded before predate its capacity changes), so \"objective unchanged\" "
                             "here only says whether each run matches them." if args.refresh_best else
                             f"Performance model of commit {model}."))
    print(section)
    if out is not None:
        out.write_text(splice(old, section), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
