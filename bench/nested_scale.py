"""The fit's loss scale chosen by leave-one-family-out, and that choice's own out-of-family error (nested).

The Cauchy loss of ``planner.perf.silicon_fit`` has a scale (``LOSS_SCALE``, 0.1 in log space). Picking it by the
out-of-family table would choose on the held-out rows. This script measures the procedure "choose the scale by
leave-one-family-out" the honest way, with a second level of folds:

- outer fold, family f of engine E: the scale s*(f) is the one of ``GRID`` whose *inner* leave-one-family-out over
  E's other families (each g != f predicted by the fit on E minus {f, g}) scores best; f is then predicted by the
  fit on E minus {f} at s*(f). f's rows are never seen while its scale is chosen;
- criterion (fixed before the run): the pooled inner median APE of TTFT plus that of TPOT, the smaller scale on a
  tie;
- every fit is a fold of the out-of-family tables (``planner.perf.silicon_fit.fit_without``): training families
  thinned to ``PER_FAMILY`` rows, ``MAX_EVALS`` least-squares evaluations, from and pulled towards the priors.

The fit on E minus {f, g} serves two inner folds (g's for outer f, f's for outer g), so one engine of n families
takes n·|GRID| outer fits and C(n, 2)·|GRID| inner ones: 404 fits for the 23 families and four scales, ~50 minutes
on two cores. Printed: every fixed scale's out-of-family figures, each family's inner scores and choice, and the
nested figures, which are what "choose the scale by leave-one-family-out" would deliver on a family nobody measured.

    python -m bench.nested_scale                      # the grid 0.03, 0.05, 0.1, 0.2 on two processes
    python -m bench.nested_scale --grid 0.05,0.1 --workers 1 --save nested.pkl
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import time

GRID = (0.03, 0.05, 0.1, 0.2)
PER_FAMILY = 40
MAX_EVALS = 15

_STATE: tuple | None = None


def _init() -> None:
    """Per process: the parsed runs, the catalog and the priors (read once, not pickled per job)."""
    global _STATE
    from planner.catalog import Catalog  # noqa: PLC0415
    from planner.perf.calibration import prior_calibration  # noqa: PLC0415
    from planner.perf.silicon import SILICON_CSV, parse_silicon, read_silicon  # noqa: PLC0415

    cat = Catalog.builtin()
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), cat)
    _STATE = (cases, cat, prior_calibration())


def jobs(engine_of: dict[str, str], grid=GRID) -> list[tuple[tuple[str, ...], float]]:
    """(families left out, scale): every family alone (outer), every pair of one engine's families (inner)."""
    out = [((f,), s) for f in sorted(engine_of) for s in grid]
    for eng in sorted(set(engine_of.values())):
        fams = sorted(f for f in engine_of if engine_of[f] == eng)
        out += [(pair, s) for pair in itertools.combinations(fams, 2) for s in grid]
    return out


def fit_and_predict(job: tuple[tuple[str, ...], float]):
    """Fit the engine on its families other than ``job[0]`` at loss scale ``job[1]`` (one fold as
    ``leave_one_family_out`` fits it); predict each left-out family."""
    from planner.perf.silicon import predict_frame  # noqa: PLC0415
    from planner.perf.silicon_fit import fit_without  # noqa: PLC0415

    if _STATE is None:
        _init()
    left_out, scale = job
    cases, cat, base = _STATE
    cal, _ = fit_without(cases, set(left_out), cat, base, max_evals=MAX_EVALS, per_family=PER_FAMILY,
                         loss_scale=scale)
    return job, {f: predict_frame([c for c in cases if c.family == f], cat, cal) for f in left_out}


def score(frame) -> tuple[float, float]:
    """Median APE of TTFT and of TPOT over the predicted rows (fractions; NaN where nothing is predicted)."""
    from planner.perf.silicon_report import summary  # noqa: PLC0415

    s = summary(frame)
    return s["ttft_ape"] / 100.0, s["tpot_ape"] / 100.0


def choose(inner: dict[float, tuple[float, float]]) -> float:
    """The scale whose inner TTFT + TPOT median APE is least (the smaller scale on a tie; NaN scores lose)."""
    def key(s):
        t = sum(inner[s])
        return (t if t == t else float("inf"), s)
    return min(inner, key=key)


def nested(results: dict, engine_of: dict[str, str], grid=GRID):
    """(the nested prediction frame, {family: (chosen scale, {scale: inner scores})})."""
    import pandas as pd  # noqa: PLC0415

    frames, chosen = [], {}
    for f in sorted(engine_of):
        others = [g for g in sorted(engine_of) if engine_of[g] == engine_of[f] and g != f]
        inner = {s: score(pd.concat([results[(tuple(sorted((f, g))), s)][g] for g in others]))
                 if others else (float("nan"), float("nan")) for s in grid}
        best = choose(inner)
        chosen[f] = (best, inner)
        frames.append(results[((f,), best)][f])
    return pd.concat(frames, ignore_index=True), chosen


def _line(label: str, frame) -> str:
    from planner.perf.silicon_report import summary  # noqa: PLC0415

    s = summary(frame)
    by = {k: summary(g) for k, g in frame.groupby("engine")}
    eng = " / ".join(f"{by[k]['ttft_ape']:.1f}" for k in sorted(by))
    return (f"| {label} | {int(s['rows'])} | {s['ttft_ape']:.2f} % ({s['ttft_signed']:+.2f}) | "
            f"{s['tpot_ape']:.2f} % ({s['tpot_signed']:+.2f}) | {eng} % |")


def report(results: dict, engine_of: dict[str, str], grid=GRID) -> str:
    """Markdown: the fixed scales, the nested figures, and each family's inner scores and choice."""
    import pandas as pd  # noqa: PLC0415

    engines = " / ".join(sorted(set(engine_of.values())))
    out = [f"| scale | rows | out of family TTFT (signed) | TPOT (signed) | {engines} TTFT |", "|---|---:|---|---|---|"]
    for s in grid:
        out.append(_line(f"{s} for every family", pd.concat([results[((f,), s)][f] for f in sorted(engine_of)],
                                                             ignore_index=True)))
    frame, chosen = nested(results, engine_of, grid)
    out += [_line("chosen per family by the inner folds (nested)", frame), "",
            "| family | " + " | ".join(f"inner TTFT / TPOT at {s}" for s in grid) + " | chosen |",
            "|---|" + "---|" * len(grid) + "---|"]
    for f, (best, inner) in chosen.items():
        cells = " | ".join(f"{100 * inner[s][0]:.1f} / {100 * inner[s][1]:.1f}" for s in grid)
        out.append(f"| {f} | {cells} | {best} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default=",".join(map(str, GRID)), help="loss scales, comma-separated")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--save", help="pickle the predictions here (to rerun the report without refitting)")
    ap.add_argument("--load", help="report from a pickle written by --save")
    a = ap.parse_args(argv)
    grid = tuple(float(x) for x in a.grid.split(","))
    if a.load:
        with open(a.load, "rb") as fh:
            results, engine_of = pickle.load(fh)
    else:
        from multiprocessing import Pool  # noqa: PLC0415

        _init()
        engine_of = {c.family: c.engine for c in _STATE[0]}
        todo = jobs(engine_of, grid)
        results, t0 = {}, time.monotonic()
        with Pool(a.workers, initializer=_init) as pool:
            for k, (job, frames) in enumerate(pool.imap_unordered(fit_and_predict, todo), 1):
                results[job] = frames
                print(f"{k}/{len(todo)} fits, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        if a.save:
            with open(a.save, "wb") as fh:
                pickle.dump((results, engine_of), fh)
    sys.stdout.write(report(results, engine_of, grid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
