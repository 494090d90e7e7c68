"""Fuzz every input format through the CLI (issue 14): never exit 1, bounded time and memory, one line per error.

Mutants come from ``tests/fuzz_inputs.py`` (the example scenarios, a solved plan, measurement rows, a
config.json, the benchmark result files and SkyPilot catalogs of ``tests/fixtures``, a calibration YAML, each
with wrong types, extreme and non-finite numbers, unicode and control characters, deep nesting, aliases, unknown
keys, huge lists, removed keys; CSV cells replaced, removed or added). Hypothesis draws the seed of each mutant; it is
derandomized (the same mutants on every run) and bounded to about a minute in all. ``FUZZ_EXAMPLES=N`` scales it
for a longer local run; ``python -m tests.fuzz_inputs --mutants N`` prints the exit-code table.

For every mutant:
- ``validate`` and ``solve`` exit 0, 2 or 3; ``simulate``, ``calibrate``, ``catalog import-model``, ``capacity
  import``/``rows``, ``catalog import-skypilot`` and ``estimate --calibration`` exit 0 or 2;
- no command runs past ``TIMEOUT_S`` (stopped by an alarm and counted as a failure), and the process's peak
  resident memory stays under ``MAX_RSS_MB``;
- an exit 2 prints one line per problem, each naming the input file (or the flag) it is about;
- what ``catalog import-skypilot`` writes reads back as an offer catalog;
- every ``solve`` that exits 0 prints a plan whose independent verification passed.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_inputs import (BASE_CONFIG, BENCH_FLAGS, BENCH_JSONS, GENAI_PERF_CSV, ROOT, SKYPILOT_CSVS, TIMED_OUT,
                               Outcome, base_plan_json, calibration_mutant, csv_mutant, csv_rows, csv_text_mutant,
                               json_mutant, peak_rss_mb, run_cli, scenario_mutant)

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
MAX_RSS_MB = 2500  # the whole test process, solver libraries included (before the fixes: 1.5 GB for one bomb)
SPOT = ROOT / "scenarios" / "spot-hedge.yaml"


def _examples(n: int) -> int:
    return max(1, int(n * SCALE))


def fuzz_settings(n: int):
    return settings(max_examples=_examples(n), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def check(o: Outcome, allowed: set[int], source: Path) -> None:
    assert o.exit_code != TIMED_OUT, f"{o.command}: {o.stderr}"
    assert o.exit_code in allowed, f"{o.command}: exit {o.exit_code}\n{o.stderr[-1500:]}"
    assert "Traceback" not in o.stderr and "internal error" not in o.stderr, o.stderr[-1500:]
    if o.exit_code == 2:
        lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
        assert lines, f"{o.command}: exit 2 without a message"
        for ln in lines:  # one line per problem, each about the file (or a flag / the command's own input)
            # ("not used: ... FILE ...: why" lists the runs of a benchmark result that ``plan capacity`` could not use)
            assert ln.startswith((str(source), "--", "measurements:")) or (
                ln.startswith("not used: ") and source.name in ln), f"{o.command}: {ln!r}"
    assert peak_rss_mb() < MAX_RSS_MB, f"peak RSS {peak_rss_mb():.0f} MB"


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.fixture(scope="module")
def plan_json(workdir) -> dict:
    return base_plan_json(workdir)


@fuzz_settings(70)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_scenarios_validate_and_solve(workdir, seed):
    rng = random.Random(seed)
    path = workdir / "scenario.yaml"
    path.write_text(scenario_mutant(rng), encoding="utf-8")
    check(run_cli(["validate", str(path)], "validate"), {0, 2}, path)
    solved = run_cli(["solve", str(path), "--format", "json", "--no-baselines", "--time-limit", "10"], "solve")
    check(solved, {0, 2, 3}, path)
    if solved.exit_code == 0:
        plan = json.loads(solved.stdout)
        assert plan["verification"]["ok"] is True
        assert plan["status"] in ("optimal", "feasible")


@fuzz_settings(40)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_plan_json_simulate(workdir, plan_json, seed):
    path = workdir / "plan.json"
    path.write_text(json_mutant(plan_json, random.Random(seed)), encoding="utf-8")
    o = run_cli(["simulate", str(path), "--scenario", str(SPOT), "--hours", "50", "--format", "json"], "simulate")
    check(o, {0, 2}, path)
    if o.exit_code == 0:
        assert 0.0 <= json.loads(o.stdout)["attainment_pct"] <= 100.0


@fuzz_settings(12)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_measurement_csv_calibrate(workdir, seed):
    path = workdir / "measurements.csv"
    path.write_text(csv_mutant(csv_rows(), random.Random(seed)), encoding="utf-8")
    o = run_cli(["calibrate", str(path), "--format", "json", "--time-limit", "10"], "calibrate")
    check(o, {0, 2}, path)
    if o.exit_code == 0:
        assert json.loads(o.stdout)["rows_used"] >= 1


def _import_model_mutant(workdir, base: dict, rng: random.Random) -> None:
    """``plan catalog import-model`` on a mutant of ``base``: exit 0 with a record of >= 1 layer, or a clean exit 2."""
    path = workdir / "config.json"
    path.write_text(json_mutant(base, rng), encoding="utf-8")
    o = run_cli(["catalog", "import-model", str(path), "--id", "fuzz-model", "--format", "json"], "import-model")
    check(o, {0, 2}, path)
    if o.exit_code == 0:
        assert json.loads(o.stdout)["layers"] >= 1


@fuzz_settings(60)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_hf_config_import_model(workdir, seed):
    _import_model_mutant(workdir, BASE_CONFIG, random.Random(seed))


# The families added in the thirtieth pass, each from its published config.json: a nested text_config (Qwen3-VL,
# Qwen3.5, Gemma 4), a hybrid block stack (Nemotron-H, its latent MoE) and a checkpoint with a quantization_config.
NEW_FAMILY_CONFIGS = ("nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "Qwen--Qwen3.5-27B", "Qwen--Qwen3-VL-8B-Instruct",
                      "Qwen--Qwen3-Coder-480B-A35B-Instruct", "nvidia--Kimi-K2.6-NVFP4",
                      "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8", "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16",
                      "google--gemma-4-26B-A4B", "XiaomiMiMo--MiMo-V2-Flash", "nvidia--Llama-3_3-Nemotron-Super-49B-v1",
                      "zai-org--GLM-5.2")   # its per-layer indexer_types list (thirty-first pass)


@fuzz_settings(60)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_hf_config_new_families(workdir, seed):
    rng = random.Random(seed)
    base = json.loads((ROOT / "tests/fixtures/model_configs" / f"{rng.choice(NEW_FAMILY_CONFIGS)}.json").read_text())
    _import_model_mutant(workdir, base, rng)


# Found by these four (each an internal error, exit 1, before the fix): a metric block or max_concurrency of the wrong
# type in a benchmark result; ``engines:`` not a mapping, or a key that is not a string, in a calibration file; a
# SkyPilot row with more GPUs than an offer row holds. And, in a calibration file, a misspelt engine was accepted as
# a new engine that nothing used.


@fuzz_settings(150)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_benchmark_results_capacity(workdir, seed):
    rng = random.Random(seed)
    base = rng.choice(BENCH_JSONS)
    path = workdir / base.name
    path.write_text(json_mutant(json.loads(base.read_text(encoding="utf-8")), rng), encoding="utf-8")
    check(run_cli(["capacity", "rows", str(path), *BENCH_FLAGS, "--model", "llama-3.1-8b"], "capacity-rows"),
          {0, 2}, path)
    check(run_cli(["capacity", "import", str(path), "--scenario", str(ROOT / "scenarios" / "chatbot.yaml"),
                   *BENCH_FLAGS], "capacity-import"), {0, 2}, path)


@fuzz_settings(100)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_genai_perf_csv_capacity_rows(workdir, seed):
    path = workdir / GENAI_PERF_CSV.name
    path.write_text(csv_text_mutant(GENAI_PERF_CSV.read_text(encoding="utf-8"), random.Random(seed)),
                    encoding="utf-8")
    o = run_cli(["capacity", "rows", str(path), *BENCH_FLAGS, "--model", "llama-3.1-8b", "--concurrency", "8"],
                "capacity-rows")
    check(o, {0, 2}, path)


@fuzz_settings(150)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_skypilot_vms_csv_import(workdir, seed):
    from planner.catalog.offers import parse_offers  # noqa: PLC0415

    rng = random.Random(seed)
    path = workdir / "vms.csv"
    path.write_text(csv_text_mutant(rng.choice(SKYPILOT_CSVS).read_text(encoding="utf-8"), rng), encoding="utf-8")
    o = run_cli(["catalog", "import-skypilot", str(path), "--provider", "aws", "--as-of", "2026-12-01"],
                "import-skypilot")
    check(o, {0, 2}, path)
    if o.exit_code == 0 and len(o.stdout.splitlines()) > 1:   # what it writes is an offer catalog that reads back
        import io  # noqa: PLC0415

        import pandas as pd  # noqa: PLC0415

        frame = pd.read_csv(io.StringIO(o.stdout), keep_default_na=False, dtype=str)   # "nan" may be a name
        assert len(parse_offers(frame.drop(columns=["id", "usd_per_gpu_hour"]).to_csv(index=False), "x.csv")) \
            == len(frame)


@fuzz_settings(150)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_fuzz_calibration_yaml_estimate(workdir, seed):
    path = workdir / "calibration.yaml"
    path.write_text(calibration_mutant(random.Random(seed)), encoding="utf-8")
    o = run_cli(["estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--calibration", str(path),
                 "--format", "json"], "calibration")
    check(o, {0, 2}, path)
    if o.exit_code == 0:
        assert isinstance(json.loads(o.stdout)["fits"], bool)
