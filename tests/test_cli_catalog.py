"""``plan catalog``: JSON lists every record in full, CSV reads back, import-model works on a file and fails
cleanly (exit 2, one line, no traceback) on a bad one."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.catalog import builtin_gpus, builtin_models, read_gpus_csv, read_models_csv
from planner.catalog.records import GpuSpec, ModelSpec
from planner.cli import app

runner = CliRunner()

LLAMA_CONFIG = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "tie_word_embeddings": False, "vocab_size": 128256, "_name_or_path": "meta-llama/Llama-3.1-8B",
}


def _run(*args: str):
    return runner.invoke(app, ["catalog", *args])


def test_gpus_json_lists_every_gpu_with_every_field():
    result = _run("gpus", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) >= 14
    assert [r["id"] for r in rows] == [g.id for g in builtin_gpus()]
    for row in rows:
        assert set(row) == set(GpuSpec.model_fields)
        assert GpuSpec(**row).id == row["id"]  # JSON is a complete record


def test_models_json_lists_every_model_with_every_field():
    result = _run("models", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [m.id for m in builtin_models()]
    assert all(set(r) == set(ModelSpec.model_fields) for r in rows)


@pytest.mark.parametrize("kind, reader, records, fields", [
    ("gpus", read_gpus_csv, builtin_gpus(), GpuSpec.model_fields),        # 16 GPUs
    ("models", read_models_csv, builtin_models(), ModelSpec.model_fields),  # 18 models
])
def test_csv_reads_back_with_pandas_and_as_a_catalog(tmp_path, kind, reader, records, fields):
    result = _run(kind, "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == list(fields) and len(frame) == len(records)
    path = tmp_path / f"{kind}.csv"
    path.write_text(result.stdout)
    assert reader(path) == records  # nothing lost on the way out


@pytest.mark.parametrize("kind, must_show", [
    ("gpus", ["h100-sxm", "mi300x", "Gen5"]),                 # ids and a key column
    ("models", ["deepseek-v3", "671.03 (671)"]),              # computed (published) params (the attention
                                                              # kind is a low-value column at 120: --format csv)
])
def test_tables(kind, must_show):
    result = _run(kind)
    assert result.exit_code == 0, result.output
    for text in must_show:
        assert text in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 120


def test_import_model_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_CONFIG))
    result = _run("import-model", str(path), "--id", "my-llama", "--format", "json")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["id"] == "my-llama" and rec["hf_id"] == "meta-llama/Llama-3.1-8B"
    assert rec["published_total_params_b"] == pytest.approx(8.030261248)
    assert rec["source"] == f"hf config.json: {path}"


def test_import_model_table(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_CONFIG))
    result = _run("import-model", str(path))
    assert result.exit_code == 0, result.output
    assert "llama-3.1-8b" in result.stdout and "8,030,261,248" in result.stdout


BAD_INPUTS = [
    # (description, file content or None for a missing file, text in the one-line message)
    ("missing file", None, "no such file"),
    ("not JSON", "model_type: llama", "not valid JSON"),
    ("unsupported architecture", json.dumps({**LLAMA_CONFIG, "model_type": "rwkv"}), "unsupported model_type"),
    ("missing key", json.dumps({k: v for k, v in LLAMA_CONFIG.items() if k != "hidden_size"}), "'hidden_size'"),
]


@pytest.mark.parametrize("desc, content, text", BAD_INPUTS, ids=[r[0] for r in BAD_INPUTS])
def test_import_model_bad_input_exits_2_cleanly(tmp_path, desc, content, text):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    result = _run("import-model", str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert text in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_format_is_a_usage_error():
    result = _run("gpus", "--format", "xml")
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["gpus", "models", "import-model"])
def test_help_has_examples(command):
    result = _run(command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.output and f"plan catalog {command}" in result.output
