"""``python -m bench``: speed and scaling, hot spots, and decision quality; prints tables, writes docs/BENCHMARKS.md.

    python -m bench                       # quick (the default; about 8 minutes on the 2-core machine)
    python -m bench --full                # every size on every backend, longer limits (about an hour)
    python -m bench --sizes S,M --backends cbc,highs --repeats 5 --no-quality

Quick semantics (the default, to stay under ten minutes on 2 shared cores): S on every installed MILP backend with
``--repeats`` (3) repeats; M once on every backend (end to end on the default backend only); L, XL and forecast once
on the default backend only; solver limits S 60 s, M 15 s, L 15 s, XL 30 s, forecast 20 s; baselines on the
examples, 6 S seeds and 1 M seed at 15 s per solve; no profiles unless ``--profile``.

``--full``: every size on every backend, end to end everywhere, ``--repeats`` for S and M (L, XL and forecast once:
a time-limited solve has no spread worth a median), limits S/M 60 s, L 60 s, XL 120 s, forecast 120 s, plus the
diagnostic sizes M-nohedge, L-nohedge, XL-nohedge (spot planned on expected capacity, no pool-loss hedge);
baselines on 10 S and 5 M seeds at 60 s; profiles of M end to end and L/XL options + build.

Problems above ``--max-solve-vars`` (1,000,000) variables are built but not solved: translating them for CBC
would take several GiB of the shared machine's 24 GiB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALL_SIZES = ("S", "M", "L", "XL", "forecast")
LARGE = ("L", "XL", "forecast")
DIAGNOSTIC = ("M-nohedge", "L-nohedge", "XL-nohedge")
ON_REQUEST = ("M-nopool", "L-nopool", "XL-nopool")  # diagnostics run only when named in --sizes
QUICK_LIMITS = {"S": 60.0, "M": 15.0, "L": 15.0, "XL": 30.0, "forecast": 20.0}
FULL_LIMITS = {"S": 60.0, "M": 60.0, "L": 60.0, "XL": 120.0, "forecast": 120.0}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None,
                    help="comma list of S,M,L,XL,forecast (and the diagnostics M-nohedge,L-nohedge,XL-nohedge; "
                         "M-nopool,L-nopool,XL-nopool: the hedge without the loss of a whole pool)")
    ap.add_argument("--backends", default=None, help="comma list (default: every installed MILP backend)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats for S and M (L, XL, forecast run once)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the default: see the module docstring")
    mode.add_argument("--full", action="store_true", help="every size on every backend, longer limits")
    ap.add_argument("--time-limit", type=float, default=None, help="solver seconds per solve (all sizes)")
    ap.add_argument("--seed", type=int, default=None, help="generator seed (default bench.generate.DEFAULT_SEED)")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed benchmark")
    ap.add_argument("--no-quality", action="store_true", help="skip the baselines")
    ap.add_argument("--profile", action="store_true", help="profile missed targets (always on with --full)")
    ap.add_argument("--max-solve-vars", type=int, default=None, help="build but do not solve larger problems")
    ap.add_argument("--pyinstrument", action="store_true", help="also print a pyinstrument tree (if installed)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="Markdown report ('-' for none)")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "bench-scaling.svg"), help="scaling plot path")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from rich.console import Console  # noqa: PLC0415

    from bench import baselines, generate, report, timing  # noqa: PLC0415
    from solvers.registry import CAPABILITIES, DEFAULT_BACKEND, available_backends  # noqa: PLC0415

    out = Console(width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True, style="dim")
    t_start = time.perf_counter()
    full = args.full
    seed = generate.DEFAULT_SEED if args.seed is None else args.seed
    default_sizes = ALL_SIZES + (DIAGNOSTIC if full else ())
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()] if args.sizes else list(default_sizes)
    known = ALL_SIZES + DIAGNOSTIC + ON_REQUEST
    bad = [s for s in sizes if s not in known]
    if bad:
        print(f"unknown size {bad[0]!r}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    installed = list(available_backends())
    milp = [b for b in installed if CAPABILITIES[b].continuous_vars]
    skipped = {b: ("takes integer variables and short-decimal coefficients only: the benchmark programs keep "
                   "continuous variables (loads of workloads with several request sizes, the spot hedge's routing) "
                   "or per-replica capacities from the performance model that are not short decimals")
               for b in installed if b not in milp}
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else milp
    unknown = [b for b in backends if b not in installed]
    if unknown:
        print(f"backend {unknown[0]!r} is not installed (installed: {', '.join(installed)})", file=sys.stderr)
        return 2
    limits = dict(FULL_LIMITS if full else QUICK_LIMITS)
    if args.time_limit:
        limits = {k: args.time_limit for k in limits}
    info = timing.machine()
    log = err.print

    rows: list[timing.Row] = []
    default = [b for b in backends if b == DEFAULT_BACKEND] or backends[:1]
    if not args.no_speed:
        timing.warm_up(backends)
        for size in sizes:
            base = size.split("-")[0]
            large = base in LARGE
            bs = backends if (full or not large) else default
            reps = 1 if large or (base == "M" and not full) else max(1, args.repeats)
            e2e = None if full or base == "S" else set(default)
            log(f"[{time.perf_counter() - t_start:6.0f}s] size {size}: {', '.join(bs)}, {reps} repeat(s), "
                f"limit {limits[base]:g} s")
            rows += timing.measure_isolated(size, bs, reps, limits[base], seed, e2e_backends=e2e,
                                            max_solve_vars=args.max_solve_vars or timing.MAX_SOLVE_VARS)
        out.print(report.rich_table(report.speed_table(rows), "Speed and scaling (medians)"))
        out.print(report.rich_table(report.targets_table(rows, DEFAULT_BACKEND), "Targets (default backend)"))

    profiles = []
    if (args.profile or full) and not args.no_speed:
        profiles = _profiles(rows, seed, limits, DEFAULT_BACKEND, args.pyinstrument, log,
                             ("M", "L", "XL") if full else ("M", "L"))
        for title, wall, own, cum, _ in profiles:
            out.print(report.rich_table(report.hot_table(own, wall), f"{title}: by own time ({wall:.1f} s)"))

    quality, summ, views, claims, q_limit = [], [], None, [], None
    if not args.no_quality:
        gen = [("S", k) for k in range(1, 11 if full else 7)] + [("M", k) for k in range(1, 6 if full else 2)]
        q_limit = args.time_limit or (60.0 if full else 15.0)
        log(f"[{time.perf_counter() - t_start:6.0f}s] baselines on the examples and {len(gen)} generated scenarios")
        quality = baselines.run_all(ROOT, gen, DEFAULT_BACKEND, q_limit, log=log)
        summ = baselines.summary(quality)
        out.print(report.rich_table(report.quality_table(quality), "Decision quality: USD/hour (saving of the optimum)"))
        out.print(report.rich_table(report.summary_table(summ), "Savings over the generated scenarios"))
        try:
            from bench.claims import claim_lines, views_table, workload_views  # noqa: PLC0415
            from planner.scenario.io import load_scenario  # noqa: PLC0415

            wv = workload_views(load_scenario(ROOT / "scenarios" / "seed-guide.yaml"), DEFAULT_BACKEND, 60.0)
            views = views_table(wv)
            claims = claim_lines(wv, quality, summ)
            out.print(report.rich_table(views, "seed-guide: on-demand cost per capacity by GPU, and who picks what"))
            for line in claims:
                out.print(line)
        except Exception as exc:  # noqa: BLE001 - the example may be mid-edit by someone else
            log(f"seed-guide views skipped: {exc!r}")

    wall = time.perf_counter() - t_start
    cmd = "python -m bench" + ("" if argv is None else (" " + " ".join(argv) if argv else ""))
    if argv is None:
        cmd = "python -m bench " + " ".join(sys.argv[1:])
    if not args.no_speed and args.plot != "-":
        report.scaling_plot(rows, Path(args.plot))
    if args.out != "-":
        from bench.markdown import document  # noqa: PLC0415

        text = document(rows=rows, profiles=profiles, quality=quality, summary=summ, views=views, claims=claims,
                        machine=info,
                        command=cmd.strip(), wall_s=wall, limits=limits, seed=seed, skipped=skipped,
                        default_backend=DEFAULT_BACKEND, plot=Path(args.plot), out=Path(args.out), full=full,
                        semantics=__doc__, quality_limit_s=q_limit)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        log(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": info, "command": cmd, "wall_s": wall, "speed": [asdict(r) for r in rows],
            "quality": baselines.to_dicts(quality) if quality else [], "summary": summ}, indent=1, default=str))
    log(f"total {wall:.0f} s")
    return 0


def _profiles(rows, seed: int, limits: dict, backend: str, tree: bool, log, sizes=("M", "L", "XL")):
    """Profile where a target was missed: M end to end; L and XL options + build (their solve is the solver's)."""
    from bench import generate, profiling, stages, timing  # noqa: PLC0415
    from planner.fleet.formulation import build  # noqa: PLC0415
    from planner.fleet.solve import SolveSettings, solve_scenario  # noqa: PLC0415

    out = []
    for size in sizes:
        r = next((x for x in rows if x.size == size and x.backend == backend), None)
        if r is None:
            continue
        target = timing.TARGETS_S[size]
        missed = r.e2e_s is None or not (r.e2e_s < target and r.e2e_status == "optimal")
        share = r.build_share or 0.0
        if not missed and share <= timing.BUILD_SHARE_TARGET:
            continue
        loaded = generate.load(size, seed)
        if size == "M":
            title = f"M end to end ({backend}, plan solve --no-baselines)"
            fn = lambda: solve_scenario(loaded, SolveSettings(solver=backend, time_limit_s=limits[size],  # noqa: E731
                                                              baselines=False))
        else:
            title = f"{size} options + build (the solve is the solver's own time)"

            def fn(loaded=loaded):
                opts = stages.options(loaded)
                build(loaded.scenario, opts, stages.horizon(loaded), extra_blocks=stages.hedge_blocks(loaded.scenario))
        log(f"profiling {title}")
        wall, own, cum = profiling.profile(fn)
        text = profiling.pyinstrument_text(fn) if tree else None
        out.append((title, wall, own, cum, text))
    return out


if __name__ == "__main__":
    sys.exit(main())
