"""Mutants of every input format, and one runner that says how each CLI command handled them.

Used by ``tests/test_fuzz_inputs.py`` (hypothesis, seeded) and, for the counts in the issue note, as a script:

    python -m tests.fuzz_inputs --mutants 150      # exit-code table per command

A mutant is the parsed example (scenario YAML, plan JSON, measurement CSV, config.json, the benchmark result files
and SkyPilot vms.csv of ``tests/fixtures``, a calibration YAML) with a few changes:
a leaf replaced by a wrong type, an extreme or non-finite number, unicode or control characters, deep nesting,
an unknown key, a huge list, a key removed; or a text-level mutant (alias bomb, deep flow nesting, YAML 1.1
spellings, merge keys); a CSV's cells replaced, removed or added, rows of junk inserted, the text cut short. The
runner calls the command in-process (typer's CliRunner) and records the exit code, the seconds it took and stderr.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
FIXTURES = ROOT / "tests" / "fixtures"
BENCH_JSONS = sorted((FIXTURES / "bench_results").glob("*.json"))   # vLLM (4 loads), GenAI-Perf, guidellm
GENAI_PERF_CSV = (FIXTURES / "bench_results" / "genai-perf-llama-3.1-8b-openai-chat-concurrency8"
                  / "profile_export_genai_perf.csv")
SKYPILOT_CSVS = sorted((FIXTURES / "skypilot").glob("*.csv"))
BASE_CALIBRATION = ("t_layer_us: 5\nengines:\n  vllm:\n    t_request_ms: 12\n    speed: 0.8\n"
                    "gpu_speed:\n  h100-sxm: 0.9\n")
BENCH_FLAGS = ("--gpu", "h100-sxm", "--tp", "1", "--precision", "bf16")   # for runs that do not record them
CELLS = ("0", "-1", "inf", "nan", "1e400", "", "x", "\x1b[2J", "=cmd()", "0.0", "1e-300", "18446744073709551616", "é",
         "99999999", "1,5", " ", "None", "[]", "-0", "128", "2.5")
TIMEOUT_S = 20  # a command still running after this is stopped and counted as TIMED_OUT
TIMED_OUT = -1
CSV_ROWS = 6  # measurement rows kept from measured-public.csv (the silicon-era fit takes ~0.6 s per row here)

WEIRD_VALUES: tuple = (
    float("inf"), float("-inf"), float("nan"), 1e400, -1e400, 1e308, 2 ** 64, -(2 ** 63), 0, -1, 0.0, 1e-300,
    "infinity", "NaN", "", "x" * 2000, "\x1b[31mred\x1b[0m", "é🚀\u202e", "\x00", True, False, None, [], {},
    [1, 2, 3], {"a": 1}, "1:30", "yes", "no", "0x10", "1e400", 18446744073709551616, 5, 0.5, 3, 1,
)


def _paths(node, prefix=()):
    """Every (path, value) in a nested dict/list, containers included."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(root, path, value):
    if not path:
        return value
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return root


def _delete(root, path):
    if not path:
        return root
    node = root
    for p in path[:-1]:
        node = node[p]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        del node[path[-1]]
    return root


def mutate_tree(data, rng: random.Random, n_ops: int):
    """Apply ``n_ops`` random structural / value mutations to a copy of ``data``."""
    data = copy.deepcopy(data)
    for _ in range(n_ops):
        paths = [p for p, _ in _paths(data)]
        path = rng.choice(paths)
        kind = rng.randrange(8)
        if kind <= 3:
            data = _set(data, path, copy.deepcopy(rng.choice(WEIRD_VALUES)))
        elif kind == 4 and path:
            data = _delete(data, path)
        elif kind == 5:
            nested: object = 1
            for _ in range(rng.choice((5, 50, 150))):
                nested = [nested]
            data = _set(data, path, nested)
        elif kind == 6:
            parent = path[:-1] if path else ()
            node = data
            for p in parent:
                node = node[p]
            if isinstance(node, dict):
                node[rng.choice(("unknwon", "requests_per_minute", "\x1b[2J", "é"))] = 1
        else:
            data = _set(data, path, [rng.choice((0, 1.5, "a", None))] * rng.choice((100, 5000)))
    return data


# --------------------------------------------------------------------------- text-level YAML mutants

ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["name: bomb"]) + "\n"


def text_mutants(base_text: str) -> list[str]:
    """Hand-written text mutants (things a tree mutation cannot express)."""
    deep = "x: " + "[" * 20000 + "]" * 20000 + "\n"
    deep_map = "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 300)) + "  " * 300 + "v: 1\n"
    return [
        ALIAS_BOMB,
        base_text + ALIAS_BOMB.replace("name: bomb\n", ""),
        deep,
        deep_map,
        base_text.replace("ttft_slo_ms: ", "ttft_slo_ms: 1:", 1),
        base_text.replace("requests_per_min: ", "requests_per_min: !!float ", 1),
        base_text + "\x1b[31m: 1\n",
        base_text.replace("name: ", "name: \"\\e[2J\\u202e", 1).replace("\n", "\"\n", 1) if "name: " in base_text
        else base_text,
        "---\n" + base_text + "\n---\nname: second\n",
        base_text.replace("policy:", "policy: &p", 1) + "other: *p\n",
        "base: &b {x: 1}\n" + base_text + "merged:\n  <<: *b\n",
        "\ufeff" + base_text,
        base_text.encode("utf-8", "replace").decode("latin-1"),
        "name: [" + ", ".join(["1"] * 60000) + "]\n",
    ]


def scenario_mutant(rng: random.Random) -> str:
    """One mutated scenario as YAML text."""
    path = rng.choice(SCENARIOS)
    text = path.read_text(encoding="utf-8")
    if rng.random() < 0.12:
        return rng.choice(text_mutants(text))
    data = yaml.safe_load(text)
    mutated = mutate_tree(data, rng, rng.choice((1, 1, 2, 3)))
    try:
        return yaml.safe_dump(mutated, allow_unicode=rng.random() < 0.5, sort_keys=False, width=10 ** 6)
    except (RecursionError, ValueError):
        return json.dumps(mutated)  # JSON is YAML; used when the dumper cannot go as deep


def json_mutant(base: dict, rng: random.Random) -> str:
    mutated = mutate_tree(base, rng, rng.choice((1, 1, 2)))
    return json.dumps(mutated, allow_nan=True) if rng.random() < 0.9 else json.dumps(mutated)[: rng.randrange(50)]


def csv_rows() -> list[dict]:
    with open(ROOT / "bench" / "data" / "measured-public.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    usable = [r for r in rows if "SEED" not in r["notes"] and r["input_len"] and r["tp"]]
    return usable[:CSV_ROWS]


def csv_mutant(rows: list[dict], rng: random.Random) -> str:
    rows = copy.deepcopy(rows)
    for _ in range(rng.choice((1, 2, 3))):
        r = rng.choice(rows)
        col = rng.choice(list(r))
        r[col] = str(rng.choice(("0", "-1", "inf", "nan", "1e400", "", "x", "\x1b[2J", "=cmd()", "0.0", "1e-300",
                                  "18446744073709551616", "é", "99999999")))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def csv_text_mutant(text: str, rng: random.Random) -> str:
    """Any CSV (header included): cells replaced by junk, removed or added, junk rows inserted, or the text cut."""
    rows = list(csv.reader(io.StringIO(text)))
    for _ in range(rng.choice((1, 2, 3))):
        i = rng.randrange(len(rows))
        kind = rng.randrange(8)
        if kind == 7 or not rows[i]:
            rows.insert(rng.randrange(len(rows) + 1), [rng.choice(CELLS)] * rng.randrange(1, 40))
            continue
        j = rng.randrange(len(rows[i]))
        if kind < 5:
            rows[i][j] = rng.choice(CELLS)
        elif kind == 5:
            del rows[i][j]
        else:
            rows[i].append(rng.choice(CELLS))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    out = buf.getvalue()
    return out[: rng.randrange(len(out) + 1)] if rng.random() < 0.1 else out


def calibration_mutant(rng: random.Random) -> str:
    """A calibration YAML (``--calibration``) with tree or text mutations."""
    if rng.random() < 0.15:
        return rng.choice(text_mutants(BASE_CALIBRATION))
    mutated = mutate_tree(yaml.safe_load(BASE_CALIBRATION), rng, rng.choice((1, 1, 2)))
    try:
        return yaml.safe_dump(mutated, allow_unicode=rng.random() < 0.5, width=10 ** 6)
    except (RecursionError, ValueError):
        return json.dumps(mutated)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    command: str
    exit_code: int
    seconds: float
    stdout: str
    stderr: str


def run_cli(args: list[str], command: str) -> Outcome:
    """Run ``plan ARGS`` in-process; exceptions that escape the CLI count as exit 1."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from planner.cli import app  # noqa: PLC0415

    def _timeout(signum, frame):
        raise TimeoutError(f"plan {command} ran past {TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIMEOUT_S * (3 if command == "calibrate" else 1))  # calibrate: --time-limit 10 + two error tables
    t0 = time.perf_counter()
    try:
        res = CliRunner().invoke(app, args, catch_exceptions=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if isinstance(res.exception, TimeoutError):
        return Outcome(command, TIMED_OUT, time.perf_counter() - t0, res.stdout, str(res.exception))
    code = res.exit_code if res.exception is None or isinstance(res.exception, SystemExit) else 1
    return Outcome(command, code, time.perf_counter() - t0, res.stdout, res.stderr)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_round(rng: random.Random, tmp: Path, plan_json: dict, rows: list[dict], config: dict) -> list[Outcome]:
    """One mutant per input format, through every command that reads it."""
    out = []
    scen = tmp / "scenario.yaml"
    scen.write_text(scenario_mutant(rng), encoding="utf-8")
    out.append(run_cli(["validate", str(scen)], "validate"))
    out.append(run_cli(["solve", str(scen), "--format", "json", "--no-baselines", "--time-limit", "10"], "solve"))
    plan = tmp / "plan.json"
    plan.write_text(json_mutant(plan_json, rng), encoding="utf-8")
    out.append(run_cli(["simulate", str(plan), "--scenario", str(ROOT / "scenarios" / "spot-hedge.yaml"),
                        "--hours", "50", "--format", "json"], "simulate"))
    meas = tmp / "measurements.csv"
    meas.write_text(csv_mutant(rows, rng), encoding="utf-8")
    out.append(run_cli(["calibrate", str(meas), "--format", "json", "--time-limit", "10"], "calibrate"))
    cfg = tmp / "config.json"
    cfg.write_text(json_mutant(config, rng), encoding="utf-8")
    out.append(run_cli(["catalog", "import-model", str(cfg), "--id", "fuzz-model", "--format", "json"],
                       "import-model"))
    base = rng.choice(BENCH_JSONS)
    res = tmp / base.name
    res.write_text(json_mutant(json.loads(base.read_text(encoding="utf-8")), rng), encoding="utf-8")
    out.append(run_cli(["capacity", "import", str(res), "--scenario", str(ROOT / "scenarios" / "chatbot.yaml"),
                        *BENCH_FLAGS], "capacity-import"))
    gp = tmp / GENAI_PERF_CSV.name
    gp.write_text(csv_text_mutant(GENAI_PERF_CSV.read_text(encoding="utf-8"), rng), encoding="utf-8")
    out.append(run_cli(["capacity", "rows", str(gp), *BENCH_FLAGS, "--model", "llama-3.1-8b", "--concurrency", "8"],
                       "capacity-rows"))
    vms = tmp / "vms.csv"
    vms.write_text(csv_text_mutant(rng.choice(SKYPILOT_CSVS).read_text(encoding="utf-8"), rng), encoding="utf-8")
    out.append(run_cli(["catalog", "import-skypilot", str(vms), "--provider", "aws", "--as-of", "2026-12-01"],
                       "import-skypilot"))
    cal = tmp / "calibration.yaml"
    cal.write_text(calibration_mutant(rng), encoding="utf-8")
    out.append(run_cli(["estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--calibration", str(cal),
                        "--format", "json"], "calibration"))
    return out



def base_plan_json(tmp: Path) -> dict:
    res = run_cli(["solve", str(ROOT / "scenarios" / "spot-hedge.yaml"), "--format", "json", "--no-baselines"],
                  "solve")
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


BASE_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
    "mlp_only_layers": [], "num_experts": 0,
}


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a tool for the issue note
    import argparse  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    from collections import Counter  # noqa: PLC0415

    ap = argparse.ArgumentParser()
    ap.add_argument("--mutants", type=int, default=100)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--show", type=int, default=3, help="exit-1 messages shown per command")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    counts: Counter = Counter()
    slow: list = []
    internal: dict = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        plan_json, rows = base_plan_json(tmp), csv_rows()
        for _ in range(args.mutants):
            for o in one_round(rng, tmp, plan_json, rows, BASE_CONFIG):
                counts[(o.command, o.exit_code)] += 1
                if o.seconds > 5:
                    slow.append((o.command, round(o.seconds, 1)))
                if o.exit_code == 1:
                    internal.setdefault(o.command, []).append(o.stderr.strip()[:200])
    for cmd in ("validate", "solve", "simulate", "calibrate", "import-model", "capacity-import", "capacity-rows",
                "import-skypilot", "calibration"):
        row = {code: n for (c, code), n in sorted(counts.items()) if c == cmd}
        print(f"{cmd:13s} {row}")
    print(f"slow (>5 s): {slow}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    for cmd, msgs in internal.items():
        for m in sorted(set(msgs))[: args.show]:
            print(f"  exit 1 {cmd}: {m}")


if __name__ == "__main__":  # pragma: no cover
    main()
