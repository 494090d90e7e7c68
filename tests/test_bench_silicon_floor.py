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


def test_capped_runs_are_the_many_client_runs_whose_tpot_did_not_grow_by_hand():
    from bench.silicon_floor import capped_runs, capped_table

    pred = _frame([
        # configuration A (ISL 1024): 4 clients at TPOT 4 ms; 512 clients at 5 ms (x1.25: capped), at 256 8 ms (x2)
        dict(row=1, model="gpt-oss-120b", concurrency=4, ttft_ms=40.0, tpot_ms=4.0, ttft_pred_ms=44.0, tpot_pred_ms=4.0),
        dict(row=2, model="gpt-oss-120b", concurrency=512, ttft_ms=20000.0, tpot_ms=5.0, ttft_pred_ms=500.0,
             tpot_pred_ms=18.0),
        dict(row=3, model="gpt-oss-120b", concurrency=256, ttft_ms=300.0, tpot_ms=8.0, ttft_pred_ms=330.0,
             tpot_pred_ms=9.0),
        # configuration B (ISL 8192): no run at <= 8 clients, so its 512-client run has nothing to compare with
        dict(row=4, model="gpt-oss-120b", isl=8192, concurrency=512, ttft_ms=9000.0, tpot_ms=4.0, ttft_pred_ms=900.0,
             tpot_pred_ms=40.0),
    ])
    c = capped_runs(pred)
    assert list(c["row"]) == [2] and c.loc[0, "tpot_ratio"] == pytest.approx(1.25)
    md = capped_table(pred, c)
    assert "| trtllm | gpt-oss-120b | 1 | 1.25 | 20.0 | 0.5 |" in md
    # the band: rows 2, 3, 4 with APE 0.975, 0.1, 0.9 (median 90 %); without row 2: 0.1 and 0.9 (median 50 %)
    assert "in-sample TTFT median APE: 90.0 % on 3 rows; 50.0 % on the 2 without these" in md


def test_gpu_pairs_compare_one_configuration_on_two_gpus_by_hand():
    from bench.silicon_floor import gpu_pair_table, gpu_pairs

    pred = _frame([
        # one configuration on B200 (two builds of one architecture) and on B300
        dict(model="deepseek-r1", gpu="b200", ttft_ms=200.0, tpot_ms=10.0, ttft_pred_ms=150.0, tpot_pred_ms=9.0),
        dict(model="deepseek-v3", gpu="b200", ttft_ms=300.0, tpot_ms=10.0, ttft_pred_ms=150.0, tpot_pred_ms=9.0),
        dict(model="deepseek-v3", gpu="b300", ttft_ms=750.0, tpot_ms=15.0, ttft_pred_ms=150.0, tpot_pred_ms=9.0),
        # B300 only: no partner
        dict(model="deepseek-v3", gpu="b300", concurrency=64, ttft_ms=900.0, tpot_ms=20.0, ttft_pred_ms=300.0,
             tpot_pred_ms=12.0),
        # a pair whose B300 side is not predicted takes no part
        dict(model="glm-5", gpu="b200", ttft_ms=250.0, tpot_ms=17.0, ttft_pred_ms=290.0, tpot_pred_ms=16.0),
        dict(model="glm-5", gpu="b300", ttft_ms=150.0, tpot_ms=16.0, ttft_pred_ms=float("nan"), tpot_pred_ms=16.0),
    ])
    p = gpu_pairs(pred, ["0.5.9", "0.5.9", "0.5.10", "0.5.10", "dev", "dev"])
    assert len(p) == 1
    r = p.iloc[0]
    assert r["model"] == "deepseek-r1" and (r["version"], r["version_2"]) == ("0.5.9", "0.5.10")
    assert r["ttft"] == pytest.approx(3.0)            # 750 / median(200, 300)
    assert r["tpot"] == pytest.approx(1.5) and r["ttft_pred"] == pytest.approx(1.0)
    assert "| trtllm | deepseek-r1 | 0.5.9 | 0.5.10 | 1024 | 1 | 3.00 | 1.00 | 1.50 | 1.00 |" in gpu_pair_table(p)
