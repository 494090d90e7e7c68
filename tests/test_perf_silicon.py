"""Measured serving runs → estimate() calls (planner.perf.silicon) and the engine fit's identifiability."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import Catalog
from planner.catalog.params import active_params
from planner.errors import InputError
from planner.perf.silicon import SILICON_CSV, parse_silicon, predict_frame, read_silicon, resolve_gpu, resolve_model
from planner.perf.silicon_fit import fit_engine

CAT = Catalog.builtin()


def _row(**kw):
    base = dict(id="r", model_path="meta-llama/Llama-3.1-70B", system="b200_sxm", backend="vllm", mode="agg",
                precision="fp8", gemm_quant_mode="fp8", moe_quant_mode="fp8", isl=1024, osl=1024, batch_size=16,
                tp_size=4, pp_size=1, attention_dp_size=1, moe_tp_size=4, moe_ep_size=1,
                silicon_ttft_ms=150.0, silicon_tpot_ms=9.0)
    base.update(kw)
    return base


def test_a_row_maps_to_the_estimate_arguments():
    cases, skipped = parse_silicon(pd.DataFrame([_row()]), CAT)
    assert not skipped
    c = cases[0]
    assert (c.model, c.gpu, c.engine, c.precision, c.tp, c.attention_dp, c.expert_parallel) == (
        "llama-3.1-70b", "b200", "vllm", "fp8", 4, 1, 1)
    assert (c.prompt_tokens, c.output_tokens, c.concurrency, c.family) == (1024, 1024, 16, "llama-3.1-70b/b200/vllm")


def test_checkpoints_of_one_architecture_are_one_family():
    """DeepSeek-R1 and DeepSeek-V3 share every architecture field: one family, so leaving it out leaves out both
    names (the file records many runs under each); Llama 8B and 70B differ and stay apart."""
    rows = [_row(model_path="deepseek-ai/DeepSeek-V3", tp_size=8, moe_tp_size=8),
            _row(model_path="deepseek-ai/DeepSeek-R1", tp_size=8, moe_tp_size=8),
            _row(model_path="meta-llama/Llama-3.1-8B-Instruct", tp_size=1, moe_tp_size=1), _row()]
    cases, skipped = parse_silicon(pd.DataFrame(rows), CAT)
    assert not skipped
    assert [c.family for c in cases] == ["deepseek-r1/b200/vllm", "deepseek-r1/b200/vllm", "llama-3.1-8b/b200/vllm",
                                         "llama-3.1-70b/b200/vllm"]
    assert [c.model for c in cases][:2] == ["deepseek-v3", "deepseek-r1"]


def test_names_resolve_through_the_catalog():
    assert resolve_model(CAT, "meta-llama/Llama-3.1-8B-Instruct") == "llama-3.1-8b"
    assert resolve_model(CAT, "Qwen/Qwen3-235B-A22B-FP8") == "qwen3-235b-a22b"
    assert resolve_model(CAT, "acme/NoSuchModel-7B") is None
    # aiconfigurator's other models (its model_configs): the catalog rows and aliases added for them
    assert resolve_model(CAT, "Qwen/Qwen3-32B-FP8") == "qwen3-32b"
    assert resolve_model(CAT, "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8") == "qwen3-coder-480b-a35b"
    assert resolve_model(CAT, "nvidia/Qwen3.6-35B-A3B-NVFP4") == "qwen3.5-35b-a3b"
    assert resolve_model(CAT, "zai-org/GLM-5.1-FP8") == "glm-5"
    assert resolve_model(CAT, "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4") == "nemotron-3-nano-30b-a3b"
    assert resolve_model(CAT, "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4") == "nemotron-3-super-120b-a12b"
    # the importable reference configs that had no row until the thirty-sixth pass, under their checkpoints' names
    assert resolve_model(CAT, "stepfun-ai/Step-3.7-Flash-FP8") == "step-3.7-flash"
    assert resolve_model(CAT, "nvidia/Llama-3_3-Nemotron-Super-49B-v1") == "nemotron-super-49b"
    assert resolve_model(CAT, "nvidia/Nemotron-H-56B-Base-8K") == "nemotron-h-56b"
    for ckpt in ("NVFP4", "FP8", "BF16"):   # Nano's decoder with a 1,048,576-token context: a row of its own
        assert resolve_model(CAT, f"nvidia/NVIDIA-Nemotron-3.5-Lightning-30B-A3B-{ckpt}") == "nemotron-3.5-30b-a3b"
    assert resolve_model(CAT, "nvidia/Llama-3_3-Nemotron-Super-49B-v1_5") is None   # v1.5: another checkpoint
    # another context limit: a row of its own (M2.5's architecture), not an alias of minimax-m2.5
    assert resolve_model(CAT, "MiniMaxAI/MiniMax-M2.7") == "minimax-m2.7"
    assert resolve_model(CAT, "nvidia/MiniMax-M2.7-NVFP4") == "minimax-m2.7"
    assert resolve_model(CAT, "zai-org/GLM-5.2") == "glm-5.2"     # a row of its own: its indexer is shared
    # a quantised checkpoint's longer suffix, stripped one word at a time
    assert resolve_model(CAT, "Qwen/Qwen3-32B-FP8-Static-PerTensor") == "qwen3-32b"
    # aiconfigurator's system names (its support matrix): B60 is not a catalog GPU
    assert resolve_gpu(CAT, "rtx_pro_6000_server") == "rtx-pro-6000"
    assert resolve_gpu(CAT, "h200_sxm") == "h200"
    assert resolve_gpu(CAT, "b60") is None
    assert resolve_gpu(CAT, "h100_sxm") == "h100-sxm"
    assert resolve_gpu(CAT, "b200_sxm") == "b200"


def test_rows_the_model_cannot_express_are_skipped_with_a_reason():
    rows = [_row(mode="disagg"), _row(model_path="acme/NoSuchModel-7B"), _row(system="tpu_v5"),
            _row(model_path="deepseek-ai/DeepSeek-V3", moe_tp_size=2, moe_ep_size=1), _row(gemm_quant_mode="fp6")]
    cases, skipped = parse_silicon(pd.DataFrame(rows), CAT)
    assert not cases
    reasons = [s.reason for s in skipped]
    assert "disaggregated" in reasons[0]
    assert "not in the catalog" in reasons[1] and "not in the catalog" in reasons[2]
    assert "moe_tp × moe_ep" in reasons[3]
    assert "not recognised" in reasons[4]


def test_fp4_on_a_gpu_without_fp4_cores_runs_weight_only():
    cases, _ = parse_silicon(pd.DataFrame([_row(system="h100_sxm", precision="fp4", gemm_quant_mode="nvfp4")]), CAT)
    assert cases[0].precision == "int4" and "weight-only" in cases[0].notes[0]


def test_the_shipped_runs_cover_two_thousand_aggregated_rows():
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), CAT)
    df = predict_frame(cases, CAT)
    assert df["ttft_pred_ms"].notna().sum() >= 2000


def test_the_fit_refuses_constants_the_rows_do_not_identify():
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), CAT)
    # one model on one GPU at tp=1 only: no all-reduce happens, so t_ar_us moves no prediction
    rows = [c for c in cases if c.family == "gpt-oss-120b/b200/vllm" and c.tp == 1][:30]
    assert len(rows) >= 10
    with pytest.raises(InputError, match="t_ar_us"):
        fit_engine(rows, CAT, names=["t_request_ms", "t_ar_us"])
    with pytest.raises(InputError, match="rows"):
        fit_engine(rows[:6], CAT, names=["t_request_ms", "t_step_ms", "speed"])


def test_the_sparse_attention_layer_cost_is_fitted_only_next_to_another_model():
    """``t_sparse_layer_us`` charges every layer of a DSA model: on GLM-5's rows alone it moves each prediction
    exactly as ``t_layer_us`` does (refused: only their sum shows); with a dense-MLA model's rows beside them the
    two part; on rows without a DSA model nothing moves it."""
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), CAT)
    glm = [c for c in cases if c.family == "glm-5/b200/sglang"][:20]
    deepseek = [c for c in cases if c.family == "deepseek-r1/b200/sglang" and c.attention_dp == 1][:20]
    assert len(glm) == len(deepseek) == 20
    with pytest.raises(InputError, match="cannot fit (t_layer_us|t_sparse_layer_us) "):
        fit_engine(glm, CAT, names=["t_layer_us", "t_sparse_layer_us"], max_evals=2)
    with pytest.raises(InputError, match="cannot fit t_sparse_layer_us "):
        fit_engine(deepseek, CAT, names=["t_layer_us", "t_sparse_layer_us"], max_evals=2)
    fit = fit_engine(glm + deepseek, CAT, names=["t_layer_us", "t_sparse_layer_us"], max_evals=2)
    assert set(fit.values) == {"t_layer_us", "t_sparse_layer_us"}


def test_plan_calibrate_fits_silicon_runs_and_writes_a_calibration(tmp_path):
    import json

    from typer.testing import CliRunner

    from planner.cli import app
    from planner.perf.calibration import load_calibration

    frame = read_silicon(SILICON_CSV)
    small = frame[(frame["mode"] == "agg") & (frame["model_path"] == "openai/gpt-oss-120b")
                  & (frame["system"] == "b200_sxm") & (frame["backend"] == "vllm") & (frame["tp_size"] == 1)].head(40)
    path = tmp_path / "runs.csv"
    small.to_csv(path, index=False)
    out = tmp_path / "cal.yaml"
    r = CliRunner().invoke(app, ["calibrate", str(path), "--format", "json", "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["rows_used"] == len(small) == 22 and set(data["fitted"]) == {"vllm"}
    assert len(data["fitted"]["vllm"]) <= 22 // 5   # at least 5 rows per fitted constant
    err = data["error"][0]
    # the fit minimises the log error of TTFT and TPOT on these rows: the median error cannot get worse
    assert err["ttft_median_ape_pct_after"] <= err["ttft_median_ape_pct_before"]
    cal = load_calibration(out)
    for k, v in data["fitted"]["vllm"].items():
        assert getattr(cal.engine("vllm"), k) == pytest.approx(v)
    # a single-GPU single-model set does not identify the all-reduce latency: it is left alone
    assert "t_ar_us" not in data["fitted"]["vllm"]


def test_the_client_count_is_silicon_concurrency_not_the_per_rank_batch():
    src = "source_file=x.csv; model=DeepSeek-R1; silicon_concurrency={}; measured=2026-03-17"
    dsv3 = dict(model_path="deepseek-ai/DeepSeek-V3")
    rows = [
        # attention DP 8: batch_size is one rank's batch, the benchmark ran 8 × 8 = 64 clients
        _row(**dsv3, tp_size=1, attention_dp_size=8, moe_tp_size=1, moe_ep_size=8, batch_size=8,
             silicon_data_source=src.format(64)),
        # attention_dp_size empty, 10 per rank and 80 clients on 8 GPUs: attention DP 8 × TP 1
        _row(**dsv3, tp_size=8, attention_dp_size=float("nan"), moe_tp_size=1, moe_ep_size=8, batch_size=10,
             silicon_data_source=src.format(80)),
        # the stated count equals batch_size: nothing changes
        _row(silicon_data_source=src.format(16)),
        # no stated count: batch_size
        _row(silicon_data_source="source_file=y.csv"),
    ]
    cases, skipped = parse_silicon(pd.DataFrame(rows), CAT)
    assert not skipped
    got = [(c.concurrency, c.tp, c.attention_dp, c.expert_parallel) for c in cases]
    assert got == [(64, 1, 8, 8), (80, 1, 8, 8), (16, 4, 1, 1), (16, 4, 1, 1)]
    assert "attention DP 8 × TP 1" in cases[1].notes[-1]
    assert not cases[2].notes and not cases[3].notes


def test_a_benchmark_runs_its_engine_with_room_for_every_client():
    from planner.perf.calibration import default_calibration
    from planner.perf.silicon_harness import benchmark_engine

    cal = default_calibration()
    cap = cal.engine("vllm").max_batch                       # 256 (vLLM's max_num_seqs default)
    assert benchmark_engine(cal, "vllm", cap) is cal         # within the default: unchanged
    assert benchmark_engine(cal, "vllm", 512).engine("vllm").max_batch == 512
    assert benchmark_engine(cal, "vllm", 1000, attention_dp=4).engine("vllm").max_batch == 256   # per rank
    assert benchmark_engine(cal, "vllm", 1030, attention_dp=4).engine("vllm").max_batch == 258   # ceil(1030/4)


# DeepSeek-R1 FP8 on 8 x B200 under SGLang, ISL 8,192 / OSL 1,024 at 256 clients: the silicon-dev.csv run (measured
# TTFT 8.7 s, TPOT 117.7 ms) whose KV pool shows which KV cache it used
_DSR1_SGLANG_FP8_256 = dict(model_path="deepseek-ai/DeepSeek-R1", backend="sglang", precision="fp8",
                            gemm_quant_mode="fp8", moe_quant_mode="fp8_block", isl=8192, osl=1024, batch_size=256,
                            tp_size=8, moe_tp_size=8, silicon_ttft_ms=8666.5, silicon_tpot_ms=117.7)


def test_fp8_runs_are_read_with_the_fp8_kv_cache_they_were_measured_with():
    """DeepSeek-R1 FP8 on 8 x B200 (SGLang) at 256 clients, ISL 8,192, OSL 1,024: measured TTFT 8.7 s, every client
    running. 256 x (8,192 + 512) live tokens = 2.23 M; an MLA latent is 576 values x 61 layers per token, on every
    TP rank: 70,272 B at BF16 (so 1.19 M tokens beside 78 GiB of weights: 136 sequences, the rest queue for a
    minute) and 35,136 B at FP8 (2.38 M: all 256 run)."""
    from planner.perf.estimate import estimate
    from planner.perf.silicon_harness import run_kv_dtype

    assert run_kv_dtype("sglang", "fp8") == "fp8"
    assert run_kv_dtype("vllm", "fp8") == "fp8"
    assert [run_kv_dtype(e, p) for e, p in (("vllm", "int4"), ("sglang", "bf16"), ("trtllm", "fp8"))] == ["auto"] * 3
    cases, skipped = parse_silicon(pd.DataFrame([_row(**_DSR1_SGLANG_FP8_256)]), CAT)
    assert not skipped
    got = predict_frame(cases, CAT).iloc[0]
    assert 4000 < got["ttft_pred_ms"] < 17000            # within 2x of the 8.7 s measured; BF16 KV: ~65 s
    e = estimate(
        CAT.model("deepseek-r1"), CAT.gpu("b200"), tp=8, precision="fp8", engine="sglang", kv_dtype="bf16",
        prompt_tokens=8192, output_tokens=1024, concurrency=256)
    assert e.to_json()["kv_bytes_per_token_per_gpu"] == 70272 and e.to_json()["max_concurrency"] < 256
    # vLLM, MiniMax-M2.5 FP8 on 2 x B200, ISL 8,192, OSL 1,024, 64 clients: 0.83-0.92 s measured; BF16 KV: ~9.6 s
    row = _row(model_path="MiniMaxAI/MiniMax-M2.5", tp_size=2, moe_tp_size=2, isl=8192, osl=1024, batch_size=64,
               silicon_ttft_ms=831.2, silicon_tpot_ms=31.5)
    cases, skipped = parse_silicon(pd.DataFrame([row]), CAT)
    assert not skipped and cases[0].model == "minimax-m2.5"
    assert 415 < predict_frame(cases, CAT).iloc[0]["ttft_pred_ms"] < 1660     # within 2x of 831 ms


@pytest.mark.parametrize("tp, dp, moe_tp, ep, nvlink, want", [
    (16, 1, 4, 4, 8, (4, 1)),     # SGLang DeepSeek "tp 16, moe 4 × 4" on 8-GPU B200 nodes: a 4-GPU TP4/EP4 run
    (64, 1, 8, 8, 8, (8, 1)),     # "tp 64, moe 8 × 8": one 8-GPU node, not eight
    (1, 16, 4, 4, 8, (1, 4)),     # TensorRT-LLM attention DP 16 with moe 4 × 4: attention DP 4, EP 4
    (1, 4, 2, 2, 8, (1, 2)),      # attention DP 4, moe 2 × 2: attention DP 2, EP 2
    (4, 1, 2, 2, 8, (4, 1)),      # TP 4, moe 2 × 2 fits one NVLink group: a real hybrid layout, kept
    (8, 1, 2, 4, 8, (8, 1)),      # moe 2 × 4 is not squared: kept
    (16, 1, 4, 4, 72, (16, 1)),   # a 16-GPU TP group fits GB200's 72-GPU NVLink domain: kept
    (4, 4, 1, 16, 8, (1, 4)),     # vLLM "tp 4, attention DP 4, EP 16": four one-GPU DP ranks, EP 4
    (2, 2, 1, 4, 8, (1, 2)),      # vLLM "tp 2, attention DP 2, EP 4": two one-GPU DP ranks, EP 2
    (2, 2, 1, 2, 8, (2, 2)),      # EP 2 is not the square of 2: kept
])
def test_a_squared_moe_label_is_read_as_the_gpus_it_ran_on(tp, dp, moe_tp, ep, nvlink, want):
    from planner.perf.silicon import squared_layout
    got_tp, got_dp, note = squared_layout(tp, dp, moe_tp, ep, nvlink)
    if note:   # the run's expert parallelism spans its GPUs
        assert "expert parallel " + str(got_tp * got_dp) in note
    assert (got_tp, got_dp) == want
    assert bool(note) == ((got_tp, got_dp) != (tp, dp))


@pytest.mark.parametrize("tp, dp, moe_tp, ep, moe, want", [
    (64, 1, 64, 1, True, (1, 64, 64)),    # GB200 "tp 64, moe_tp 64": 64 GPUs of attention DP, EP 64
    (28, 1, 28, 1, True, (1, 28, 28)),    # 28 divides neither 128 heads nor 2,048: not a TP degree
    (8, 1, 8, 1, True, (8, 1, 1)),        # one HGX node's TP 8 with MoE TP 8: a real layout, kept
    (16, 1, 16, 1, False, (16, 1, 1)),    # a dense model has no experts to spread: kept
    (64, 1, 8, 8, True, (64, 1, 8)),      # expert parallel already stated: not this label
    (16, 2, 16, 1, True, (16, 2, 1)),     # attention DP already stated: not this label
])
def test_a_wide_moe_tp_label_is_read_as_attention_dp_with_expert_parallel(tp, dp, moe_tp, ep, moe, want):
    from planner.perf.silicon import wide_layout
    got_tp, got_dp, got_ep, note = wide_layout(tp, dp, moe_tp, ep, moe)
    assert (got_tp, got_dp, got_ep) == want
    assert bool(note) == (want != (tp, dp, ep))


def test_the_wide_rows_are_one_gb200_sweep_and_keep_their_gpu_count():
    """Every shipped row read as wide EP is a GB200 DeepSeek-R1 run; the GPU count is the label's N, and only
    the rows whose N divides the 256 experts are predicted."""
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), CAT)
    wide = [c for c in cases if any("wide-EP" in n for n in c.notes)]
    assert len(wide) == 55
    assert {(c.gpu, c.model) for c in wide} == {("gb200", "deepseek-r1")}
    assert all(c.tp == 1 and c.attention_dp == c.expert_parallel > 8 for c in wide)
    assert sorted(c.expert_parallel for c in wide if 256 % c.expert_parallel == 0) == [32, 64]


def test_every_squared_row_with_a_twin_gets_its_twins_layout():
    """The shipped runs: a row read as squared whose latencies equal another row's (the same run recorded
    twice) now has that row's layout and client count — never a different one."""
    cases, _ = parse_silicon(read_silicon(SILICON_CSV), CAT)
    squared = [c for c in cases if any("recorded squared" in n for n in c.notes)]
    assert all(c.expert_parallel == c.tp * c.attention_dp for c in squared)
    plain = {}
    for c in cases:
        if not any("recorded squared" in n for n in c.notes):
            plain.setdefault((c.arch, c.gpu, c.engine, round(c.ttft_ms, 6), round(c.tpot_ms, 6)), []).append(c)
    twins = [(c, plain[k]) for c in squared
             if (k := (c.arch, c.gpu, c.engine, round(c.ttft_ms, 6), round(c.tpot_ms, 6))) in plain]
    assert len(squared) == 233 + 97 and len(twins) >= 80
    for c, tw in twins:
        assert any((t.tp, t.attention_dp, t.expert_parallel, t.concurrency)
                   == (c.tp, c.attention_dp, c.expert_parallel, c.concurrency) for t in tw), c


def test_a_kv_cache_dtype_column_says_what_the_run_used():
    """The optional ``kv_cache_dtype`` column wins over the reading of aiconfigurator's runs (a site's own runs in
    this layout may have used BF16): DeepSeek-R1 FP8 on 8 x B200 at 256 clients, ISL 8,192, queues for KV slots at
    BF16 (1.19 M tokens of KV per GPU for 2.2 M live) and not at FP8; an unknown value skips the row, with why."""
    base = _DSR1_SGLANG_FP8_256
    rows = [_row(**base), _row(**base, kv_cache_dtype="bfloat16"), _row(**base, kv_cache_dtype="fp8_e4m3"),
            _row(**base, kv_cache_dtype=float("nan")), _row(**base, kv_cache_dtype="int3"),
            _row(**base, kv_cache_dtype="fp8_e4m")]
    cases, skipped = parse_silicon(pd.DataFrame(rows), CAT)
    assert [c.kv_dtype for c in cases] == ["fp8", "bf16", "fp8", "fp8"]
    assert len(skipped) == 2 and "kv_cache_dtype 'int3' not recognised" in skipped[0].reason
    assert "did you mean 'fp8_e4m3'?" in skipped[1].reason and "one of: auto, bf16" in skipped[1].reason
    ttft = predict_frame(cases, CAT)["ttft_pred_ms"].tolist()
    assert ttft[0] == ttft[2] == ttft[3] < 17000 < 40000 < ttft[1]     # BF16: a minute-long queue for KV slots



@pytest.mark.parametrize("row, model", [
    (dict(model_path="Qwen/Qwen3-32B", system="h200_sxm", backend="trtllm", tp_size=2, moe_tp_size=2), "qwen3-32b"),
    (dict(model_path="Qwen/Qwen3-30B-A3B", system="h100_sxm", backend="sglang", tp_size=1, moe_tp_size=1),
     "qwen3-30b-a3b"),
    (dict(model_path="nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", system="b200_sxm", backend="vllm", tp_size=1,
          moe_tp_size=1, precision="fp4", gemm_quant_mode="nvfp4", moe_quant_mode="nvfp4"), "nemotron-3-nano-30b-a3b"),
    (dict(model_path="Qwen/Qwen3.5-35B-A3B", system="b200_sxm", backend="sglang", tp_size=2, moe_tp_size=2),
     "qwen3.5-35b-a3b"),
], ids=["qwen3-32b", "qwen3-30b-a3b", "nemotron-3-nano", "qwen3.5-35b-a3b"])
def test_runs_of_the_added_models_are_predicted_not_skipped(row, model):
    # aiconfigurator measures these models too (its model_configs); a run of one must map and be predicted
    cases, skipped = parse_silicon(pd.DataFrame([_row(**row)]), CAT)
    assert not skipped, skipped
    assert cases[0].model == model
    got = predict_frame(cases, CAT).iloc[0]
    # a decode step reads at least the weights a token touches, spread over the TP group, at the GPU's bandwidth
    m, gpu = CAT.model(model), CAT.gpu(cases[0].gpu)
    bytes_per_weight = {"fp8": 1.0, "fp4": 0.5}[cases[0].precision]
    floor_ms = active_params(m) * bytes_per_weight / cases[0].tp / (gpu.mem_bw_gbps * 1e9) * 1e3
    assert floor_ms < got["tpot_pred_ms"] < 100 and got["ttft_pred_ms"] > got["tpot_pred_ms"]
