"""No file of the project names a module path that the package layout (issue 11) retired.

The flat ``planner/`` of the first wave had modules such as ``planner.perf_roofline`` or ``planner/verify_spot.py``;
they now live in packages (``planner.perf.roofline``, ``planner/verify/spot.py``). A stale name in a docstring, a
doc or a benchmark sends a reader to a file that does not exist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Old flat modules that are gone (the old names that are now packages -- scenario, perf, verify, forecast -- are
# still valid dotted names, so only their ``.py`` file paths are stale).
RETIRED = ("scenario_io", "scenario_checks", "mig", "perf_device", "perf_memory", "perf_roofline", "perf_report",
           "calibration_fit", "calibration", "measurements", "spot_risk", "simulate", "verify_spot", "options",
           "horizon", "formulation", "spot", "diagnose", "plan_build", "solve", "forecast_solve", "sweep")
RETIRED_FILES = RETIRED + ("scenario", "perf", "verify", "forecast")

DOTTED = re.compile(r"(?<![\w.])planner\.(" + "|".join(RETIRED) + r")(?![\w])")
FILES = re.compile(r"(?<![\w/])planner/(" + "|".join(RETIRED_FILES) + r")\.py\b")


def stale_references(text: str) -> list[str]:
    return [m.group(0) for m in DOTTED.finditer(text)] + [m.group(0) for m in FILES.finditer(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("see planner.perf_roofline for the maths", ["planner.perf_roofline"]),   # an old dotted module
    ("python -m planner.perf.report", []),                                      # the new one
    ("open planner/verify.py", ["planner/verify.py"]),                          # an old file path
    ("planner.verify.spot and planner/verify/spot.py", []),                     # new dotted name and path
    ("planner.solve.solve_scenario", ["planner.solve"]),                        # an old module with an attribute
    ("planner.fleet.solve.solve_scenario", []),                                 # its new home
])
def test_the_pattern(text, expected):
    assert stale_references(text) == expected


def test_no_tracked_file_names_a_retired_module():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for rel in listed.split():
        if Path(rel).suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg"} or rel == Path(__file__).relative_to(ROOT).as_posix():
            continue
        path = ROOT / rel
        if not path.is_file():
            continue
        for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            found += [f"{rel}:{line_no}: {ref}" for ref in stale_references(line)]
    assert not found, "stale module paths:\n" + "\n".join(found)
