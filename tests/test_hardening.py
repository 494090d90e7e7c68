"""Issue 14: one named regression test (or a few) per finding; each failed before its fix.

1 reproducible installs (lock) and float tolerances      -> test_lock_*, tests/test_stdout_purity.py
2 non-finite and absurd numbers                          -> test_non_finite_*, test_absurd_*
3 internal errors on bad input                           -> test_internal_errors_*
4 unbounded work from a small file                       -> test_bounded_*
5 misleading infeasibility reasons                       -> test_infeasible_bucket_*, test_time_limit_*
6 outputs that can hurt                                  -> test_output_*
7 plan simulate trusts its JSON                          -> test_simulate_reverifies_*
8 YAML 1.1 surprises                                     -> test_yaml12_*
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from tests.fuzz_inputs import ALIAS_BOMB, BASE_CONFIG

ROOT = Path(__file__).resolve().parent.parent
SPOT = ROOT / "scenarios" / "spot-hedge.yaml"
CHATBOT = ROOT / "scenarios" / "chatbot.yaml"
runner = CliRunner()


def plan(*args: str):
    return runner.invoke(app, [str(a) for a in args], env={"FLEETPLAN_DEBUG": "0", "COLUMNS": "300"})


def one_line_exit_2(result, *words: str) -> str:
    """Exit 2, no exception escaped, every stderr line names a problem, the words are there."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for w in words:
        assert w in result.stderr, f"{w!r} not in:\n{result.stderr}"
    return result.stderr


def small_scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BASE = """\
name: small
workloads:
  - id: chat
    model: llama-3.1-8b
    requests_per_min: {rpm}
    prompt_tokens: 800
    output_tokens: 200
    ttft_slo_ms: {ttft}
offers:
  - id: l40s-od
    gpu: l40s
    market: on_demand
    price_usd_per_gpu_hour: {price}
    max_nodes: {max_nodes}
    source: test
    as_of: "2026-01"
"""


def base(tmp_path, rpm="100", ttft="2000", price="1.5", max_nodes="8"):
    return small_scenario(tmp_path, BASE.format(rpm=rpm, ttft=ttft, price=price, max_nodes=max_nodes))


# --------------------------------------------------------------------------- 1 reproducible installs


def _lock_pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, re.M)}


def test_lock_pins_every_dependency_with_hashes_and_the_tested_highspy():
    pins = _lock_pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    for req in wanted:
        name = re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower().replace("_", "-")
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock (run bash .ci/lock)"
    # the lock holds the tested highspy that .ci/lock-constraints.txt pins, with its reason (1.16.0: the banner it
    # prints on stdout is guarded, tests/test_stdout_purity.py)
    constraint = re.search(r"^highspy==(\S+)$", (ROOT / ".ci" / "lock-constraints.txt").read_text(encoding="utf-8"), re.M)
    assert constraint is not None and pins["highspy"] == constraint.group(1) == "1.16.0"
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    assert text.count("--hash=sha256:") >= len(pins)


def test_lock_solver_libraries_have_an_upper_bound_below_the_next_major():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for lib in ("highspy", "ortools", "pulp"):
        spec = next(d for d in deps if d.lower().startswith(lib))
        assert re.search(r"<\d+", spec), spec


def test_lock_ci_installs_from_the_lock_in_a_new_venv_and_runs_the_readme_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '-m venv "$VENV"' in ci and 'mktemp -d' in ci
    assert "pip install --require-hashes -r requirements.lock" in ci
    assert "pip install --no-deps -e ." in ci
    assert ci.rstrip().splitlines()[-1] == "pytest"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash .ci/lock" in readme and "bash .ci/newest" in readme


# --------------------------------------------------------------------------- 2 non-finite and absurd numbers


@pytest.mark.parametrize("field,value", [
    ("rpm", ".inf"), ("rpm", "1e400"), ("rpm", ".nan"), ("ttft", "-.inf"), ("price", ".inf"), ("price", "1e400"),
])
def test_non_finite_numbers_are_refused_with_the_allowed_range_and_unit(tmp_path, field, value):
    path = base(tmp_path, **{field: value})
    for cmd in ("validate", "solve"):
        err = one_line_exit_2(plan(cmd, path), "must be a finite number")
        assert re.search(r"allowed: .*(requests/min|ms|USD per GPU-hour)", err), err


def test_non_finite_string_spelling_is_not_a_number(tmp_path):
    one_line_exit_2(plan("validate", base(tmp_path, rpm="infinity")), "requests_per_min",
                    "must be a finite number (got 'infinity')")


def test_absurd_max_nodes_is_refused_before_any_builder_runs(tmp_path):
    path = base(tmp_path, max_nodes="18446744073709551616")
    one_line_exit_2(plan("solve", path), "max_nodes: must be <= 10000", "nodes")


def test_absurd_demand_on_uncapped_spot_offers_does_not_loop_the_hedge_builder(tmp_path):
    """1e9 requests/min on spot offers without max_nodes: the hedge's breakpoint loop ran for minutes."""
    data = yaml.safe_load(SPOT.read_text(encoding="utf-8"))
    for o in data["offers"]:
        o.pop("max_nodes", None)
        if o["market"] == "spot":
            o["interruption_rate_per_hour"], o["recovery_minutes"] = 0.05, 60
    data["workloads"][0].update(requests_per_min=1e9, min_replicas=0)
    path = small_scenario(tmp_path, yaml.safe_dump(data, sort_keys=False))
    one_line_exit_2(plan("solve", path, "--no-baselines"), "spot hedge", "give the spot offers max_nodes")


def test_absurd_numbers_anywhere_in_the_scenario_are_refused(tmp_path):
    """Catalog records written in the scenario (gpus:) are checked too: every number finite."""
    from planner.catalog import Catalog

    gpu = {k: v for k, v in Catalog.builtin().gpu("l40s").model_dump(mode="json").items() if v is not None}
    gpu.update(id="my-gpu", aliases=[], mem_bw_gbps=float("inf"))
    data = yaml.safe_load(BASE.format(rpm="100", ttft="2000", price="1.5", max_nodes="4"))
    data["gpus"] = [gpu]
    path = small_scenario(tmp_path, yaml.safe_dump(data, sort_keys=False))
    one_line_exit_2(plan("validate", path), "gpus[0].mem_bw_gbps", "finite")


# --------------------------------------------------------------------------- 3 internal errors -> exit 2


def test_internal_errors_deep_nesting_is_exit_2(tmp_path):
    path = small_scenario(tmp_path, "name: " + "[" * 500_000 + "]" * 500_000 + "\n")
    one_line_exit_2(plan("validate", path), "nested deeper than 64 levels")
    path = small_scenario(tmp_path, "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 300)) + "  " * 300
                          + "v: 1\n", "deep-map.yaml")
    one_line_exit_2(plan("validate", path), "nested deeper than 64 levels")


def test_internal_errors_zero_tp_in_a_measurement_csv(tmp_path):
    rows = pd.read_csv(ROOT / "bench" / "data" / "measured-public.csv")
    rows = rows[~rows["notes"].fillna("").str.upper().str.startswith("SEED") & rows["tp"].notna()].head(3).copy()
    rows["tp"] = 0
    path = tmp_path / "m.csv"
    rows.to_csv(path, index=False)
    one_line_exit_2(plan("calibrate", path, "--format", "json"), "tp must be a whole number")


QWEN_MOE = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "head_dim": 128, "hidden_size": 2048,
            "intermediate_size": 6144, "max_position_embeddings": 40960, "mlp_only_layers": [],
            "moe_intermediate_size": 768, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
            "num_hidden_layers": 48, "num_key_value_heads": 4, "tie_word_embeddings": False, "vocab_size": 151936}


@pytest.mark.parametrize("key,value,words", [
    ("num_attention_heads", 0, "must be >= 1"), ("mlp_only_layers", 5, "must be a list"),
    ("hidden_size", 1e400, "not a finite number"), ("num_hidden_layers", 2 ** 70, "must be between"),
])
def test_internal_errors_hf_config_values(tmp_path, key, value, words):
    cfg = dict(QWEN_MOE if key == "mlp_only_layers" else BASE_CONFIG, **{key: value})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg).replace("Infinity", "1e400"), encoding="utf-8")
    one_line_exit_2(plan("catalog", "import-model", path, "--id", "x"), words)


def test_internal_errors_csv_out_onto_an_existing_file(tmp_path):
    existing = tmp_path / "plan.txt"
    existing.write_text("keep me", encoding="utf-8")
    one_line_exit_2(plan("solve", CHATBOT, "--format", "csv", "--out", existing, "--no-baselines"), "existing file")
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("command", [
    ["solve", CHATBOT, "--solver", "gurobi"],
    ["whatif", SPOT, "--interruption-rate", "0", "--solver", "gurobi"],
    ["forecast", ROOT / "scenarios" / "forecast-growth.yaml", "--solver", "gurobi"],
])
def test_internal_errors_unknown_solver_is_exit_2_everywhere(command):
    result = plan(*command)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output


def test_internal_errors_policy_solver_cpsat_is_refused_at_validation(tmp_path):
    text = BASE.format(rpm="100", ttft="2000", price="1.5", max_nodes="4") + "policy:\n  solver: cpsat\n"
    one_line_exit_2(plan("validate", small_scenario(tmp_path, text)), "policy.solver", "continuous loads")


# --------------------------------------------------------------------------- 4 bounded work


def test_bounded_alias_bomb_is_refused_before_expansion(tmp_path):
    path = small_scenario(tmp_path, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 700
    t0 = time.perf_counter()
    one_line_exit_2(plan("validate", path), "once aliases (*name) are expanded")
    assert time.perf_counter() - t0 < 30  # a hang guard only (it took 51 s and 1.5 GB before); timing: note


def test_bounded_input_size(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * 500_000, encoding="utf-8")
    one_line_exit_2(plan("validate", path), "larger than 4 MiB")


@pytest.fixture(scope="module")
def spot_plan(tmp_path_factory) -> dict:
    result = plan("solve", SPOT, "--format", "json", "--no-baselines")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bounded_simulate_hours(tmp_path, spot_plan):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(spot_plan), encoding="utf-8")
    one_line_exit_2(plan("simulate", path, "--scenario", SPOT, "--hours", "1e9"), "<= 1e+06")


def test_bounded_simulate_tiny_periods(tmp_path, spot_plan):
    from planner.errors import InputError
    from planner.plan import Plan
    from planner.risk.simulate import simulate_plan
    from planner.scenario.io import load_scenario

    p = Plan.from_json(spot_plan)
    per = p.periods[0] if p.periods else None
    if per is None:
        from planner.risk.simulate import _periods
        per = _periods(p)[0]
    tiny = p.model_copy(update={"periods": (per.model_copy(update={"hours": 1e-5}),)})
    with pytest.raises(InputError, match="period segments"):
        simulate_plan(tiny, load_scenario(SPOT).scenario, hours=720.0)


# --------------------------------------------------------------------------- 5 infeasibility reasons


def test_infeasible_bucket_names_bucket_workload_and_reason(tmp_path):
    path = small_scenario(tmp_path, """\
        name: bucket
        workloads:
          - id: chat
            model: llama-3.1-8b
            requests_per_min: 100
            size_mix:
              - {prompt_tokens: 1000, output_tokens: 200, share: 0.9}
              - {prompt_tokens: 200000, output_tokens: 200, share: 0.1}
            ttft_slo_ms: 200000
        offers:
          - {id: l40s-od, gpu: l40s, market: on_demand, price_usd_per_gpu_hour: 1.0, source: t, as_of: "2026-01"}
        """)
    result = plan("solve", path, "--no-baselines")
    assert result.exit_code == 3, result.output
    assert "workload 'chat', bucket 200,000+200 tokens" in result.stderr
    assert "exceeds the 131,072-token maximum of llama-3.1-8b" in result.stderr
    assert "max_nodes (none)" not in result.stderr


def test_infeasible_bucket_with_zero_overrides(tmp_path):
    path = small_scenario(tmp_path, """\
        name: bucket
        workloads:
          - id: chat
            model: llama-3.1-8b
            requests_per_min: 100
            size_mix:
              - {prompt_tokens: 1000, output_tokens: 200, share: 0.9}
              - {prompt_tokens: 2000, output_tokens: 200, share: 0.1}
            ttft_slo_ms: 20000
        offers:
          - {id: l40s-od, gpu: l40s, market: on_demand, price_usd_per_gpu_hour: 1.0, source: t, as_of: "2026-01"}
        capacity_overrides:
          - {workload: chat, gpu: l40s, precision: bf16, tp: 1, prompt_tokens: 2000, output_tokens: 200,
             requests_per_min: 0}
        """)
    result = plan("solve", path, "--no-baselines")
    assert result.exit_code == 3, result.output
    assert "bucket 2,000+200 tokens" in result.stderr and "every capacity override for it is 0" in result.stderr


@pytest.mark.parametrize("scenario", ["seed-guide.yaml", "mig-small-models.yaml"])
def test_time_limit_that_proved_nothing_is_never_reported_infeasible(scenario):
    result = plan("solve", ROOT / "scenarios" / scenario, "--time-limit", "0.001", "--no-baselines",
                  "--solver", "cbc", "--format", "json")
    assert result.exit_code != 3, result.output
    assert "infeasible" not in result.stderr


# --------------------------------------------------------------------------- 6 outputs


def test_output_write_is_atomic_when_the_disk_is_full(tmp_path, monkeypatch):
    from planner.cli import common
    from planner.errors import InputError

    target = tmp_path / "plan.json"
    target.write_text('{"good": true}', encoding="utf-8")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(common.os, "fsync", full)
    with pytest.raises(InputError, match="No space left"):
        common.write_output(target, "x" * 1000)
    assert target.read_text() == '{"good": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no temp file left


def test_output_csv_cells_that_look_like_formulas_are_neutralised(tmp_path):
    text = CHATBOT.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    old = data["workloads"][0]["id"]
    data["workloads"][0]["id"] = "=HYPERLINK(\"http://x\",\"click\")"
    data.pop("forecast", None)
    for g in (data.get("forecast") or {}).get("growth", {}):
        pass
    for ov in data.get("capacity_overrides", []):
        if ov.get("workload") == old:
            ov["workload"] = data["workloads"][0]["id"]
    path = small_scenario(tmp_path, yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "tables"
    result = plan("solve", path, "--format", "csv", "--out", out, "--no-baselines")
    assert result.exit_code == 0, result.output
    raw = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.csv"))
    assert "'=HYPERLINK" in raw
    assert not re.search(r'(^|,)"?=HYPERLINK', raw, re.M)
    frame = pd.read_csv(out / "fleet.csv") if (out / "fleet.csv").exists() else None
    if frame is not None:  # numbers stay numbers
        assert all(frame[c].dtype.kind in "fiub" for c in frame.columns if c.endswith("_usd_per_hour"))


def test_output_neutralise_cell_follows_owasp():
    from reports.export import neutralise_cell

    assert [neutralise_cell(v) for v in ("=1+2", "+1", "-x", "@SUM(A1)", "\tx", "\rx", "chat", -5, 1.5)] == \
        ["'=1+2", "'+1", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "chat", -5, 1.5]


def test_output_control_characters_are_escaped_on_the_terminal(tmp_path):
    data = yaml.safe_load(CHATBOT.read_text(encoding="utf-8"))
    data["name"] = "evil\x1b[2J\x07name\u202e"
    path = small_scenario(tmp_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=False))
    for cmd in (["validate", path], ["solve", path, "--no-baselines"]):
        result = plan(*cmd)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
        assert "\\x1b[2J" in result.output


def test_output_format_follows_the_out_extension(tmp_path):
    out = tmp_path / "plan.json"
    result = plan("solve", CHATBOT, "--out", out, "--no-baselines")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["status"] == "optimal"
    md = tmp_path / "plan.md"
    result = plan("solve", CHATBOT, "--out", md, "--no-baselines")
    assert result.exit_code == 0 and "Fleet" in result.stdout  # the table is shown, the file is Markdown
    assert md.read_text().startswith("### ")
    one_line_exit_2(plan("solve", CHATBOT, "--format", "json", "--out", tmp_path / "p.md"), "contradicts")
    one_line_exit_2(plan("solve", CHATBOT, "--out", tmp_path / "p.csv"), "one file per table")


def test_output_forecast_csv_extension_writes_csv(tmp_path):
    out = tmp_path / "forecast.csv"
    result = plan("forecast", ROOT / "scenarios" / "forecast-growth.yaml", "--months", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Forecast" in result.stdout  # the README's command still shows the table
    frame = pd.read_csv(out)
    assert len(frame) == 1 and "month" in " ".join(frame.columns)


def test_output_scratch_folder_is_removed_on_sigterm_and_after_sigkill(tmp_path):
    script = textwrap.dedent("""
        import os, sys, time
        from solvers.quiet import scratch_env
        with scratch_env() as d:
            (d / "model.mps").write_text("x")
            print(d, flush=True)
            time.sleep(60)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        scratch = Path(proc.stdout.readline().strip())
        assert scratch.is_dir() and scratch.parent == tmp_path
        proc.send_signal(sig)
        proc.wait(timeout=30)
        if sig == signal.SIGTERM:
            assert not scratch.exists(), "SIGTERM left the scratch folder"
        else:
            assert scratch.exists()  # nothing runs on SIGKILL; the next solve sweeps it
            from solvers.quiet import sweep_stale
            assert scratch in sweep_stale(tmp_path)
            assert not scratch.exists()


def test_output_solve_leaves_no_scratch_files(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "from planner.cli import main; main()", "solve", str(CHATBOT),
                           "--no-baselines", "--format", "json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 7 simulate re-verifies


def test_simulate_reverifies_and_refuses_a_tampered_plan(tmp_path, spot_plan):
    tampered = json.loads(json.dumps(spot_plan))
    line = tampered["replicas"][0] if tampered.get("replicas") else tampered["periods"][0]["replicas"][0]
    line["count"] = line["count"] + 50  # more replicas than its nodes can hold
    tampered["verification"] = None
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(tampered), encoding="utf-8")
    one_line_exit_2(plan("simulate", path, "--scenario", SPOT, "--hours", "10"), "fails verification")


def test_simulate_reverifies_and_accepts_the_plan_it_was_given(tmp_path, spot_plan):
    clean = dict(spot_plan, verification=None)  # the stored verdict is not what is trusted
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(clean), encoding="utf-8")
    result = plan("simulate", path, "--scenario", SPOT, "--hours", "10", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hours"] == 10


def test_simulate_refuses_non_finite_json(tmp_path, spot_plan):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(spot_plan).replace('"objective_usd_per_hour": ', '"objective_usd_per_hour": NaN, "x": ',
                                                   1), encoding="utf-8")
    one_line_exit_2(plan("simulate", path, "--scenario", SPOT), "not a finite number")


# --------------------------------------------------------------------------- 8 YAML 1.2


@pytest.mark.parametrize("field,value,words", [
    ("ttft_slo_ms", "1:30", "must be a number (got '1:30')"),
    ("requests_per_min", "no", "must be a number (got 'no')"),
    ("requests_per_min", "0x_1", "must be a number"),
])
def test_yaml12_no_sexagesimal_and_no_yes_no_numbers(tmp_path, field, value, words):
    text = BASE.format(rpm="100", ttft="2000", price="1.5", max_nodes="4").replace(
        f"{field}: {'100' if field == 'requests_per_min' else '2000'}", f"{field}: {value}")
    one_line_exit_2(plan("validate", small_scenario(tmp_path, text)), words)


def test_yaml12_spot_fields_keep_yes_no_as_strings(tmp_path):
    text = BASE.format(rpm="100", ttft="2000", price="1.5", max_nodes="4").replace(
        "market: on_demand", "market: spot\n    interruption_rate_per_hour: no\n    recovery_minutes: yes")
    err = one_line_exit_2(plan("validate", small_scenario(tmp_path, text)))
    assert "interruption_rate_per_hour: must be a number (got 'no')" in err
    assert "recovery_minutes: must be a number (got 'yes')" in err


@pytest.mark.parametrize("loader", ["_StrictLoader", "_FastLoader"])
def test_yaml12_decimal_with_leading_zero_is_decimal(loader):
    """Both loaders (pure Python; libyaml's parser + the same composer and constructors) read YAML 1.2."""
    from planner.scenario import yaml_reader

    cls = getattr(yaml_reader, loader)
    if cls is None:
        pytest.skip("PyYAML without libyaml")
    assert yaml.load("a: 010\nb: 0o10\nc: 0x10\nd: 1e3\ne: true\nf: on\ng: 1:30\nh: no\n", Loader=cls) == \
        {"a": 10, "b": 8, "c": 16, "d": 1000.0, "e": True, "f": "on", "g": "1:30", "h": "no"}


def test_yaml12_merge_keys_are_supported_and_explicit_keys_win(tmp_path):
    path = small_scenario(tmp_path, """\
        name: merged
        x-offer: &od {gpu: l40s, market: on_demand, price_usd_per_gpu_hour: 1.5, source: t, as_of: "2026-01"}
        workloads:
          - {id: chat, model: llama-3.1-8b, requests_per_min: 100, prompt_tokens: 800, output_tokens: 200,
             ttft_slo_ms: 2000}
        offers:
          - <<: *od
            id: a
          - <<: *od
            id: b
            price_usd_per_gpu_hour: 2.5
        """)
    from planner.scenario.io import read_yaml

    data = read_yaml(path)
    assert data["offers"][1]["price_usd_per_gpu_hour"] == 2.5 and data["offers"][0]["price_usd_per_gpu_hour"] == 1.5
    result = plan("validate", path)
    # x-offer is an unknown top-level field (the anchor's home): refused, with its line; the merges themselves work
    err = one_line_exit_2(result, "x-offer: unknown field")
    assert "duplicate key" not in err


def test_yaml12_field_errors_carry_line_and_column(tmp_path):
    path = base(tmp_path, rpm="-5")
    err = one_line_exit_2(plan("validate", path))
    assert f"{path}:5:5: workloads[0].requests_per_min: must be > 0 (got -5)" in err


def test_yaml12_duplicate_keys_still_refused(tmp_path):
    path = small_scenario(tmp_path, "name: a\nname: b\n")
    one_line_exit_2(plan("validate", path), "duplicate key 'name'")
