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
