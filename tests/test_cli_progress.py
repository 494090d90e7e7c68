"""Progress of long commands: the library reports stages through ``progress(stage, info)`` in order; the CLI
turns them into a rich progress line on a terminal's stderr only, never on a pipe, never with ``--quiet``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from planner.cli import app
from planner.cli.progress import StageProgress, stage_progress
from planner.fleet.solve import SolveSettings, solve_scenario
from planner.forecast.run import ForecastSettings, run_forecast
from planner.scenario.io import load_scenario
from planner.whatif.sweep import RATE_AXIS, Axis, SerialExecutor, run_sweep, spec_for
from tests.forecast_helpers import forecast_scenario, option
from tests.test_sweep import small

ROOT = Path(__file__).parent.parent
CHATBOT = ROOT / "scenarios" / "chatbot.yaml"
runner = CliRunner()
# Words only the progress line uses: none of them may reach a pipe.
PROGRESS_WORDS = ("enumerating", "solving with", "verifying the plan", "what-if points", "months solved", "left")


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def __call__(self, stage: str, info: dict) -> None:
        self.events.append((stage, dict(info)))

    @property
    def stages(self) -> list[str]:
        return [s for s, _ in self.events]


def test_solve_reports_its_stages_in_order():
    rec = Recorder()
    plan = solve_scenario(load_scenario(CHATBOT), SolveSettings(solver="highs"), progress=rec)
    assert rec.stages == ["options", "building", "solving", "baselines", "verification", "done"]
    info = dict(rec.events)
    assert info["solving"] == {"solver": "highs", "time_limit_s": load_scenario(CHATBOT).scenario.policy.time_limit_s}
    assert info["building"]["options"] > 0
    assert info["done"]["status"] == plan.status == "optimal"


def test_solve_without_baselines_skips_that_stage():
    rec = Recorder()
    solve_scenario(load_scenario(CHATBOT), SolveSettings(solver="highs", baselines=False), progress=rec)
    assert "baselines" not in rec.stages and rec.stages[-2:] == ["verification", "done"]


def test_sweep_reports_every_point_once_counting_up():
    rec = Recorder()
    spec = spec_for(small(), (Axis(RATE_AXIS, (0.0, 0.1, 0.3)),), hours=200, seed=3, solver="highs")
    records = run_sweep(spec, SerialExecutor(), progress=rec)
    assert rec.stages == ["points", "point", "point", "point", "done"]
    assert [i["done"] for s, i in rec.events if s in ("points", "point")] == [0, 1, 2, 3]
    assert {i["total"] for _, i in rec.events} == {3}
    assert [i["status"] for s, i in rec.events if s == "point"] == [r["status"] for r in records]


def test_forecast_reports_months_then_variants():
    rec = Recorder()
    loaded = forecast_scenario(months=3, options=[option(12, 0.6)])
    run_forecast(loaded, ForecastSettings(solver="highs"), progress=rec)
    assert rec.stages[0] == "forecast" and rec.events[0][1] == {"months": 3}
    assert rec.stages[-1] == "done"
    assert "verification" in rec.stages
    months = [i for s, i in rec.events if s == "month"]
    assert months and all(0 <= i["done"] < i["total"] == 3 for i in months)
    # the comparison variants come after the forecast's own plan is verified
    assert rec.stages.index("baselines") > rec.stages.index("verification")


def test_progress_line_shows_stage_words_on_a_terminal_and_nothing_when_disabled():
    shown = io.StringIO()
    term = Console(file=shown, force_terminal=True, width=120)
    with StageProgress("solve", term) as bar:
        bar("solving", {"solver": "highs", "time_limit_s": 60})
        bar._bar.refresh()
    assert "solving with highs" in shown.getvalue() and "left" in shown.getvalue()

    pipe = io.StringIO()
    piped = Console(file=pipe)  # not a terminal
    with stage_progress("solve", piped, quiet=False) as bar:
        assert bar.callback() is None  # the library is not even called back
        bar("solving", {"solver": "highs"})
    assert pipe.getvalue() == ""
    with stage_progress("solve", term, quiet=True) as bar:
        assert bar.callback() is None


def test_counted_stage_shows_done_of_total():
    shown = io.StringIO()
    with StageProgress("forecast", Console(file=shown, force_terminal=True, width=120)) as bar:
        bar("month", {"done": 0, "total": 12, "month": "2027-01"})
        bar("month", {"done": 5, "total": 12, "month": "2027-06"})
        bar._bar.refresh()
    assert "5/12" in shown.getvalue() and "2027-06" in shown.getvalue()


@pytest.fixture
def spot_yaml(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small().raw), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("args", [
    ["solve", str(CHATBOT), "--solver", "highs"],
    ["solve", str(CHATBOT), "--solver", "highs", "--format", "json"],
    ["whatif", "{spot}", "--interruption-rate", "0,0.2", "--hours", "100", "--jobs", "1", "--solver", "highs"],
])
def test_commands_are_silent_on_a_pipe(args, spot_yaml):
    r = runner.invoke(app, [a.replace("{spot}", spot_yaml) for a in args])
    assert r.exit_code == 0, r.output
    assert not any(w in r.stderr for w in PROGRESS_WORDS), r.stderr
    assert "\x1b[" not in r.stderr  # no cursor movement either


def test_quiet_is_accepted_by_every_long_command():
    for cmd in ("solve", "forecast", "whatif"):
        r = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "200"})
        assert "--quiet" in r.stdout, cmd
