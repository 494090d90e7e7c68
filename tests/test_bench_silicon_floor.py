"""bench/silicon_floor.py: twins (same architecture and configuration, another build or version) and duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.silicon_floor import table, twins


def _frame(rows):
    base = dict(gpu="b200", engine="trtllm", precision="fp8", tp=8, attention_dp=1, expert_parallel=1, isl=1024,
                osl=1024, concurrency=16)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_twin_differences_and_duplicates_by_hand():
    pred = _frame([
        dict(model="deepseek-r1", ttft_ms=100.0, tpot_ms=10.0, ttft_pred_ms=110.0, tpot_pred_ms=9.0),
        dict(model="deepseek-v3", ttft_ms=150.0, tpot_ms=12.0, ttft_pred_ms=110.0, tpot_pred_ms=9.0),
        dict(model="deepseek-r1", ttft_ms=100.0, tpot_ms=10.0, ttft_pred_ms=110.0, tpot_pred_ms=9.0, concurrency=32),
        dict(model="deepseek-r1", ttft_ms=100.0, tpot_ms=10.0, ttft_pred_ms=110.0, tpot_pred_ms=9.0, concurrency=32),
        dict(model="deepseek-r1", ttft_ms=80.0, tpot_ms=8.0, ttft_pred_ms=110.0, tpot_pred_ms=9.0, concurrency=64),
        dict(model="deepseek-r1", ttft_ms=80.0, tpot_ms=8.0, ttft_pred_ms=float("nan"), tpot_pred_ms=9.0,
             concurrency=64),
    ])
    t = twins(pred, ["1.0", "1.0", "1.0", "1.2", "1.0", "1.2"])
    # rows 0/1: R1 vs V3 (each the other's twin); rows 2/3: same model, other version, identical; row 4's twin
    # is not predicted, so it has none
    assert len(t) == 4
    r1 = t.iloc[0]
    assert r1["kind"] == "R1 vs V3 (same architecture)" and not r1["identical"]
    assert r1["twin_ttft"] == pytest.approx(0.5) and r1["twin_tpot"] == pytest.approx(0.2)
    assert r1["model_ttft"] == pytest.approx(0.1) and r1["model_tpot"] == pytest.approx(0.1)
    assert t.iloc[1]["twin_ttft"] == pytest.approx(1.0 / 3.0)      # |100 / 150 − 1|
    assert list(t["identical"]) == [False, False, True, True]
    md = table(t)
    # the 'all' line: 4 rows, 2 duplicates, 2 compared, twins' TTFT diff median of 0.5 and 1/3 = 41.7 %
    assert "| all |  | 4 | 2 | 2 | 41.7 |" in md


def test_osl_pairs_match_only_the_output_length_by_hand():
    from bench.silicon_floor import osl_pairs, osl_table

    pred = _frame([
        dict(model="llama-3.1-70b", osl=1024, ttft_ms=240.0, tpot_ms=9.0, ttft_pred_ms=160.0, tpot_pred_ms=9.0),
        dict(model="llama-3.1-70b", osl=8192, ttft_ms=60.0, tpot_ms=9.0, ttft_pred_ms=160.0, tpot_pred_ms=9.0),
        dict(model="llama-3.1-70b", osl=8192, ttft_ms=100.0, tpot_ms=9.0, ttft_pred_ms=160.0, tpot_pred_ms=9.0),
        # another client count: no partner at OSL 8192
        dict(model="llama-3.1-70b", osl=1024, ttft_ms=300.0, tpot_ms=9.0, ttft_pred_ms=200.0, tpot_pred_ms=9.0,
             concurrency=32),
        # R1 at OSL 1024 pairs with V3 at 8192 (same architecture); the model's ratio 150 / 100
        dict(model="deepseek-r1", osl=1024, ttft_ms=200.0, tpot_ms=9.0, ttft_pred_ms=150.0, tpot_pred_ms=9.0),
        dict(model="deepseek-v3", osl=8192, ttft_ms=250.0, tpot_ms=9.0, ttft_pred_ms=100.0, tpot_pred_ms=9.0),
        # not predicted: takes no part
        dict(model="gpt-oss-120b", osl=1024, ttft_ms=40.0, tpot_ms=9.0, ttft_pred_ms=float("nan"), tpot_pred_ms=9.0),
        dict(model="gpt-oss-120b", osl=8192, ttft_ms=40.0, tpot_ms=9.0, ttft_pred_ms=130.0, tpot_pred_ms=9.0),
    ])
    p = osl_pairs(pred).set_index("model")
    assert sorted(p.index) == ["deepseek-r1", "llama-3.1-70b"]
    assert p.loc["llama-3.1-70b", "measured"] == pytest.approx(3.0)      # 240 / median(60, 100)
    assert p.loc["llama-3.1-70b", "predicted"] == pytest.approx(1.0)
    assert p.loc["deepseek-r1", "measured"] == pytest.approx(0.8)        # 200 / 250
    assert p.loc["deepseek-r1", "predicted"] == pytest.approx(1.5)
    assert "| trtllm | llama-3.1-70b | 1 | 3.00 | 1.00 |" in osl_table(osl_pairs(pred))
