"""The Python API (``planner.api``): its docstring example runs as written, and each call agrees with the CLI path."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from planner import api
from planner.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def test_docstring_example_runs(monkeypatch):
    monkeypatch.chdir(ROOT)  # the example uses repository-relative paths, as a notebook in the checkout would
    result = doctest.testmod(api, verbose=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_every_documented_function_exists_and_has_a_docstring():
    for name in api.__all__:
        fn = getattr(api, name)
        assert callable(fn) and fn.__doc__ and len(fn.__doc__) > 60, name


def test_load_scenario_from_mapping_checks_like_a_file():
    with pytest.raises(InputError) as exc:
        api.load_scenario({"name": "x", "workloads": [], "offers": []})
    assert "workloads" in str(exc.value)


def test_demand_and_import_from_the_api(tmp_path):
    from planner.demand.synth import write

    trace = write(tmp_path / "t.csv", 3000, days=1, seed=2)
    got = api.demand(trace, bucket_count=3, rate_statistic="max", profile=None)
    assert [d.model for d in got] == ["llama-3.1-70b", "llama-3.1-8b", "qwen3-30b-a3b"]
    assert sum(d.requests for d in got) == 3000
    files = sorted((ROOT / "tests/fixtures/bench_results").glob("vllm_rate*.json"))
    recs, bad = api.import_benchmarks(files, ROOT / "scenarios/chatbot.yaml", gpu="h100-sxm", tp=1, precision="bf16")
    assert [r["requests_per_min"] for r in recs] == [pytest.approx(3.99 * 60)]


def test_readme_python_api_block_runs(monkeypatch):
    """The README's Python API example is this test's code: run it as written, from the repository root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**Python API.**"):]
    code = section[section.index("```python") + len("```python"):]
    code = code[:code.index("```")]
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own documentation
    plan, sweep = ns["plan"], ns["sweep"]
    assert plan.verification.ok and len(sweep) == 2 and "schedule.csv" in ns["files"]
    assert [r["status"] for r in sweep] == ["optimal", "optimal"]
    assert all(0.0 <= r["simulated_attainment"] <= 1.0 for r in sweep)
