"""Every command maps outcomes to the same exit codes: 2 bad input (usage errors included), 3 infeasible, 1 an
internal error only, always without a traceback; and the help reads cleanly (no ``<bool>`` after flags,
paragraphs without hard line breaks, ``plan --version``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner import __version__
from planner.cli import app
from tests.test_sweep import small

ROOT = Path(__file__).parent.parent
CHATBOT = str(ROOT / "scenarios" / "chatbot.yaml")
runner = CliRunner()

INFEASIBLE = {"name": "x", "workloads": [{"id": "huge", "model": "llama-3.1-405b", "requests_per_min": 5,
                                          "prompt_tokens": 100, "output_tokens": 10, "ttft_slo_ms": 5000}],
              "offers": [{"id": "l40s", "gpu": "l40s", "market": "on_demand", "price_usd_per_gpu_hour": 1}]}


@pytest.fixture
def files(tmp_path):
    spot = tmp_path / "spot.yaml"
    spot.write_text(yaml.safe_dump(small().raw), encoding="utf-8")
    infeasible = tmp_path / "infeasible.yaml"
    infeasible.write_text(yaml.safe_dump(INFEASIBLE), encoding="utf-8")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json", encoding="utf-8")
    return {"spot": str(spot), "infeasible": str(infeasible), "junk": str(junk), "missing": str(tmp_path / "no.yaml")}


def _run(args, files):
    r = runner.invoke(app, [a.format(**files) for a in args])
    assert "Traceback" not in r.output
    return r


BAD_INPUT = [
    ["validate", "{missing}"],
    ["catalog", "gpus", "--format", "nope"],
    ["estimate", "--model", "no-such-model", "--gpu", "h100-sxm"],
    ["calibrate", "{missing}"],
    ["solve", "{missing}"],
    ["solve", CHATBOT, "--solver", "nope"],
    ["solve", CHATBOT, "--time-limit", "0"],
    # above a week (policy.time_limit_s's bound): before, exit 1 (inf reached the solver; 1e11 overflowed its clock)
    ["solve", CHATBOT, "--time-limit", "1e400"],
    ["solve", CHATBOT, "--time-limit", "nan"],
    ["forecast", CHATBOT, "--time-limit", "99999999999"],
    ["whatif", "{spot}", "--interruption-rate", "0", "--time-limit", "1e400"],
    ["whatif", "{spot}", "--interruption-rate", "0,0.1", "--solver", "nope"],
    ["whatif", "{spot}", "--interruption-rate", "0,abc"],
    ["whatif", "{missing}", "--interruption-rate", "0"],
    ["simulate", "{junk}", "--scenario", "{spot}"],
    ["simulate", "{missing}", "--scenario", "{spot}"],
    ["forecast", "{missing}"],
    ["forecast", CHATBOT, "--solver", "nope"],
    ["forecast", CHATBOT, "--start", "2027-13"],
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=lambda a: " ".join(a[:3] + a[-2:]))
def test_bad_input_is_exit_2(args, files):
    r = _run(args, files)
    assert r.exit_code == 2, (r.exit_code, r.output)


def test_the_time_limit_option_allows_what_the_scenario_allows():
    from planner.cli.common import MAX_TIME_LIMIT_S  # noqa: PLC0415
    from planner.scenario import model  # noqa: PLC0415

    assert MAX_TIME_LIMIT_S == model.MAX_TIME_LIMIT_S


@pytest.mark.parametrize("cmd", [["solve"], ["forecast", "--months", "2"]])
def test_infeasible_is_exit_3(cmd, files):
    r = _run([cmd[0], "{infeasible}", *cmd[1:]], files)
    assert r.exit_code == 3, r.output
    assert "infeasible" in r.output and "huge" in r.output


def test_whatif_infeasible_points_are_rows_not_errors(files):
    r = _run(["whatif", "{infeasible}", "--set", "workloads.0.requests_per_min=5,6", "--jobs", "1"], files)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("infeasible") >= 2


@pytest.mark.parametrize(("args", "target"), [
    (["solve", CHATBOT], "planner.fleet.solve.solve_scenario"),
    (["forecast", CHATBOT], "planner.forecast.run.run_forecast"),
    (["whatif", "{spot}", "--interruption-rate", "0", "--jobs", "1"], "planner.whatif.sweep.run_sweep"),
    (["simulate", "{plan}", "--scenario", "{spot}"], "planner.risk.simulate.simulate_plan"),
])
def test_internal_error_is_exit_1_without_traceback(args, target, files, monkeypatch, tmp_path):
    plan = tmp_path / "plan.json"
    assert _run(["solve", "{spot}", "--format", "json", "--out", str(plan), "--no-baselines"], files).exit_code == 0
    module, name = target.rsplit(".", 1)

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(f"{module}.{name}", boom)
    monkeypatch.delenv("FLEETPLAN_DEBUG", raising=False)
    r = _run(args, {**files, "plan": str(plan)})
    assert r.exit_code == 1, r.output
    assert "internal error: RuntimeError: boom" in r.output


# --------------------------------------------------------------------------- help


COMMANDS = ["validate", "catalog", "estimate", "calibrate", "solve", "whatif", "simulate", "forecast"]


@pytest.mark.parametrize("cmd", [[], *[[c] for c in COMMANDS]], ids=lambda c: c[0] if c else "plan")
def test_help_has_no_bool_after_flags(cmd):
    r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0
    assert "<bool>" not in r.stdout
    assert "--help" in r.stdout


@pytest.mark.parametrize("cmd", ["solve", "whatif", "simulate", "forecast"])
def test_help_paragraphs_wrap_cleanly_at_80_columns(cmd):
    """A hard line break inside a paragraph shows as a short line followed by an indented one; joined
    paragraphs wrap at the terminal's width, so no line of the description ends far before column 80."""
    r = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "80"})
    head = r.stdout.split("╭")[0]  # the description, before the option panels
    lines = [ln.rstrip() for ln in head.splitlines()]
    for i, ln in enumerate(lines[:-1]):
        nxt = lines[i + 1]
        if ln.strip() and nxt.strip() and not nxt.lstrip().startswith("plan ") and not ln.lstrip().startswith("plan "):
            # a wrapped line is long: the next word would not have fitted
            assert len(ln) + 1 + len(nxt.split()[0]) > 79, f"ragged break after {ln!r}"
        assert not ln.startswith("     "), f"indented continuation {ln!r}"


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"fleetplan {__version__}"
