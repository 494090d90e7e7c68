"""``plan estimate --batch``: one configuration per CSV row, bad rows answered not fatal, output reads back
with pandas, and no file — however broken — gets anything but exit 0 or 2."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.catalog import Catalog
from planner.cli import app
from planner.errors import InputError
from planner.perf.batch import OUTPUT, REQUIRED, estimate_batch, parse_batch, to_csv
from planner.perf.estimate import estimate

runner = CliRunner()
CAT = Catalog.builtin()
CONFIGS = Path(__file__).parent / "fixtures" / "model_configs"

HEADER = "model,gpu,tp,precision,engine,prompt_tokens,output_tokens,concurrency"
GOOD = "llama-3.1-8b,h100_sxm,1,bf16,vllm,1000,200,16"


def _write(tmp_path: Path, text: str, name: str = "batch.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_rows_match_single_estimates_and_extras_pass_through(tmp_path):
    text = (f"{HEADER},team,attention_dp,expert_parallel\n"
            f"{GOOD},search,,\n"
            "deepseek-ai/DeepSeek-R1,b200_sxm,8,fp8,sglang,1024,1024,64,chat,1,1\n")
    r = runner.invoke(app, ["estimate", "--batch", str(_write(tmp_path, text)), "--format", "csv"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(io.StringIO(r.stdout))
    assert list(df.columns) == [*HEADER.split(","), "team", "attention_dp", "expert_parallel", *OUTPUT]
    assert list(df["team"]) == ["search", "chat"]  # extra column unchanged
    assert df["fits"].tolist() == [True, True]
    # the oracle: the same configuration through estimate() directly
    one = estimate(CAT.model("llama-3.1-8b"), CAT.gpu("h100-sxm"), prompt_tokens=1000, output_tokens=200,
                   concurrency=16)
    assert df.loc[0, "tpot_ms"] == pytest.approx(one.tpot_ms, rel=1e-5)
    assert df.loc[0, "ttft_ms"] == pytest.approx(one.ttft_ms, rel=1e-5)
    assert df.loc[0, "ttft_mean_ms"] == pytest.approx(one.terms["ttft_mean_ms"], rel=1e-5)
    assert df.loc[0, "requests_per_min"] == pytest.approx(one.requests_per_min, rel=1e-5)


BAD_ROWS = [
    ("nope-model,h100,1,bf16,vllm,1000,200,16", "unknown model 'nope-model'"),
    ("llama-3.1-8b,h100,x,bf16,vllm,1000,200,16", "tp: not a number"),
    ("llama-3.1-8b,h100,1,bf16,vllm,1000,200,0", "concurrency: must be a whole number"),
    ("llama-3.1-8b,h100,1,bf16,vllm,1000.5,200,4", "prompt_tokens: must be a whole number"),
    ("llama-3.1-8b,h100,1,bf16,vllm,1000,200,nan", "concurrency: must be a whole number"),
    ("llama-3.1-8b,h100,1,bf17,vllm,1000,200,4", "unknown precision 'bf17'"),
    ("llama-3.1-8b,tpu,1,bf16,vllm,1000,200,4", "unknown GPU 'tpu'"),
    ("llama-3.1-405b,l4,1,bf16,vllm,1000,200,4", "does not fit"),
    ("llama-3.1-8b,h100,1,bf16,,1000,200,4", "engine: empty"),
    ("/dev/zero,h100,1,bf16,vllm,1000,200,4", "not a config.json file"),     # never read an endless file
    ("missing/config.json,h100,1,bf16,vllm,1000,200,4", "not a config.json file"),
]


def test_a_bad_row_is_answered_and_the_batch_goes_on(tmp_path):
    text = HEADER + "\n" + "\n".join(row for row, _ in BAD_ROWS) + "\n" + GOOD + "\n"
    r = runner.invoke(app, ["estimate", "--batch", str(_write(tmp_path, text)), "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data) == len(BAD_ROWS) + 1
    for rec, (_, words) in zip(data, BAD_ROWS):
        assert rec["fits"] is False and words in rec["reason"], rec
        assert rec["tpot_ms"] is None and rec["requests_per_min"] is None
    assert data[-1]["fits"] is True and data[-1]["tpot_ms"] > 0


def test_model_may_be_a_config_json_path(tmp_path):
    # relative to the CSV's folder: the Llama-4 Scout config next to the batch file
    (tmp_path / "scout.json").write_text((CONFIGS / "meta-llama--Llama-4-Scout-17B-16E-Instruct.json").read_text())
    text = f"{HEADER}\nscout.json,h200,4,fp8,vllm,1000,200,8\nllama-4-scout-17b-16e,h200,4,fp8,vllm,1000,200,8\n"
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["estimate", "--batch", str(_write(tmp_path, text)), "--out", str(out)])
    assert r.exit_code == 0 and r.stdout == "", r.output
    a, b = json.loads(out.read_text())
    assert a["fits"] and a["tpot_ms"] == pytest.approx(b["tpot_ms"], rel=1e-9)  # same architecture as the row


@pytest.mark.skipif(not __import__("planner.perf.parallel", fromlist=["x"]).ep_dp_supported(),
                    reason="performance model without attention_dp")
def test_attention_dp_and_expert_parallel_reach_the_model(tmp_path):
    text = (f"{HEADER},attention_dp,expert_parallel\n"
            "deepseek-r1,b200,1,fp8,sglang,1024,1024,64,8,8\n"
            "deepseek-r1,b200,8,fp8,sglang,1024,1024,64,1,1\n"
            "llama-3.1-8b,h100,1,bf16,vllm,1000,200,8,1,2\n")
    df = pd.read_csv(io.StringIO(to_csv(*_parsed(text))))
    direct = estimate(CAT.model("deepseek-r1"), CAT.gpu("b200"), tp=1, precision="fp8", engine="sglang",
                      prompt_tokens=1024, output_tokens=1024, concurrency=64, attention_dp=8, expert_parallel=8)
    assert df.loc[0, "fits"] == direct.fits
    if direct.fits:
        assert df.loc[0, "tpot_ms"] == pytest.approx(direct.tpot_ms, rel=1e-5)
    assert df.loc[0, "tpot_ms"] != df.loc[1, "tpot_ms"]
    assert not df.loc[2, "fits"] and "expert_parallel" in df.loc[2, "reason"]  # refused, answered, not fatal


def _parsed(text: str):
    header, rows = parse_batch(text)
    return header, estimate_batch(rows, CAT)


FILE_ERRORS = [
    ("", "empty file"),
    ("model,gpu,tp\nllama-3.1-8b,h100,1\n", "missing column(s) 'precision'"),
    (HEADER.replace("concurrency", "concurency") + "\n", "did you mean 'concurency'?"),
    (HEADER + ",model\n", "column 'model' appears twice"),
    (HEADER + ",fits\n", "output columns"),
    (HEADER + "\n" + GOOD + ",extra,cells\n", "cells for 8 header columns"),
    ("a\x00b\n", "NUL"),
]


@pytest.mark.parametrize("text, words", FILE_ERRORS, ids=[w for _, w in FILE_ERRORS])
def test_a_broken_file_is_one_line_and_exit_2(tmp_path, text, words):
    r = runner.invoke(app, ["estimate", "--batch", str(_write(tmp_path, text)), "--format", "csv"])
    assert r.exit_code == 2, r.output
    assert words in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.output


def test_flags_that_the_file_replaces_are_refused(tmp_path):
    p = _write(tmp_path, HEADER + "\n" + GOOD + "\n")
    r = runner.invoke(app, ["estimate", "--batch", str(p), "--model", "llama-3.1-8b"])
    assert r.exit_code == 2 and "drop --model" in r.stderr
    r = runner.invoke(app, ["estimate", "-m", "llama-3.1-8b", "-g", "h100", "--format", "csv"])
    assert r.exit_code == 2 and "--format csv is for --batch" in r.stderr


def test_not_utf8_is_an_input_error(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes((HEADER + "\nllama-3.1-8b,h100,1,bf16,vllm,1000,200,4,caf\xe9\n").encode("latin-1"))
    r = runner.invoke(app, ["estimate", "--batch", str(p), "--format", "csv"])
    assert r.exit_code == 2 and "not UTF-8" in r.stderr


def test_parse_rejects_too_many_rows(monkeypatch):
    import planner.perf.batch as batch
    monkeypatch.setattr(batch, "MAX_ROWS", 3)
    with pytest.raises(InputError, match="more than 3 rows"):
        parse_batch(HEADER + "\n" + "\n".join([GOOD] * 4))


# ------------------------------------------------------------------------------------------ fuzz

_cells = st.one_of(
    st.sampled_from(["llama-3.1-8b", "h100", "b200_sxm", "bf16", "fp8", "vllm", "trtllm", "1", "8", "1000", "0", "-3",
                     "1e400", "nan", "", " ", "\"", "a,b", "4.0", "deepseek-r1", "../x.json", "x" * 300]),
    st.text(max_size=12))
_rows = st.lists(st.lists(_cells, min_size=0, max_size=11), max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.one_of(st.just(REQUIRED), st.permutations(list(REQUIRED) + ["note", "attention_dp"]),
                        st.lists(st.sampled_from([*REQUIRED, "fits", "x", ""]), max_size=10)),
       rows=_rows, raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_fuzz_batch_files_exit_0_or_2(tmp_path, header, rows, raw):
    p = tmp_path / "fuzz.csv"
    if raw is not None:
        p.write_bytes(raw)
    else:
        buf = io.StringIO()
        import csv
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        p.write_text(buf.getvalue(), encoding="utf-8")
    r = runner.invoke(app, ["estimate", "--batch", str(p), "--format", "csv"])
    assert r.exit_code in (0, 2), (r.exit_code, r.output)
    if r.exit_code == 0:
        df = pd.read_csv(io.StringIO(r.stdout), dtype=str, keep_default_na=False)
        assert list(df.columns[-len(OUTPUT):]) == list(OUTPUT)
        assert set(df["fits"]) <= {"true", "false"}
        assert all(math.isfinite(float(v)) for v in df["tpot_ms"] if v)
