"""bench/gpu_check.py: the roofline's terms against GPU step times, with predictions worked out by hand.

The measuring script (bench/gpu_steps.py) needs torch and a GPU, neither of which CI has; what CI can check is
that the comparison predicts what the roofline's formula says, reads the CSVs as written, and that the committed
measurements carry their source."""

from __future__ import annotations

import csv
import math

import pytest

from bench import gpu_check
from planner.catalog import Catalog
from planner.perf.calibration import default_calibration

CAT = Catalog.builtin()
CAL = default_calibration()
H200 = "NVIDIA H200"

# Llama-3.1-8B by hand from its config (hidden 4096, 32 layers, 32 heads of 128, 8 KV heads, FFN 14336,
# vocab 128256): per layer QKV 4096 x 6144 + O 4096 x 4096 + gate/up 4096 x 28672 + down 14336 x 4096 + 2 norms
PER_LAYER = 4096 * 6144 + 4096 * 4096 + 4096 * 28672 + 14336 * 4096 + 2 * 4096
LM_HEAD = 128256 * 4096
P_FIXED = 32 * PER_LAYER + 4096 + LM_HEAD  # everything read in a step: not the input embedding


def _row(phase, batch, context, model="llama-3.1-8b", layers=32, ms=1.0, precision="bf16"):
    return dict(device=H200, model=model, layers=layers, precision=precision, phase=phase, batch=batch,
                context=context, tokens=batch if phase.startswith("decode") else batch * context, measured_ms=ms,
                runs=1, spread=0.0)


def test_gpu_names():
    assert gpu_check.gpu_id("NVIDIA H200") == "h200"
    assert gpu_check.gpu_id("NVIDIA H100 80GB HBM3") == "h100-sxm"
    with pytest.raises(ValueError, match="known: h200"):
        gpu_check.gpu_id("NVIDIA GeForce RTX 4090")


def test_decode_gemms_by_hand():
    # B = 1: 15.01 GB of weights at 0.85 x 4,800 GB/s against 2 x (body + LM head) FLOP at 0.70 x 989.5 TFLOP/s,
    # joined by the smooth maximum (p = 2)
    t_w = 2.0 * P_FIXED / (0.85 * 4800e9)
    # FLOP: 2 per weight read but the final norm's (the layers' norm weights count as the roofline counts them)
    t_c = 2.0 * (P_FIXED - 4096) / (0.70 * 989.5e12)
    got = gpu_check.predict(_row("decode_gemms", 1, 1024), CAT, CAL)
    assert got["bytes"] == pytest.approx(2.0 * P_FIXED)
    assert got["model_ms"] == pytest.approx(1e3 * math.hypot(t_w, t_c), rel=1e-6)
    assert got["model_ms"] == pytest.approx(3.679, abs=0.001)


def test_attention_by_hand():
    # prefill, one prompt of 4,096 tokens, causal: 4,096 queries x 2,048 keys on average x 32 heads x (2 x 128 +
    # 2 x 128) FLOP x 32 layers at 0.50 x 989.5 TFLOP/s
    flop = 4096 * 2048 * 32 * 512 * 32
    got = gpu_check.predict(_row("prefill_attention", 1, 4096), CAT, CAL)
    assert got["flop"] == pytest.approx(flop)
    assert got["model_ms"] == pytest.approx(1e3 * flop / (0.5 * 989.5e12), rel=1e-9)
    # decode, 64 sequences at 4,096 tokens: the KV cache read (2 x 32 layers x 8 heads x 128 x 2 bytes a token)
    kv = 64 * 4096 * 2 * 32 * 8 * 128 * 2
    t_kv = kv / (0.85 * 4800e9)
    t_a = 64 * 4096 * 32 * 512 * 32 / (0.5 * 989.5e12)
    got = gpu_check.predict(_row("decode_attention", 64, 4096), CAT, CAL)
    assert got["bytes"] == pytest.approx(kv)
    assert got["model_ms"] == pytest.approx(1e3 * math.hypot(t_kv, t_a), rel=1e-6)


def test_truncated_model_is_predicted_at_its_layers():
    full = gpu_check.predict(_row("decode_gemms", 1, 1024, model="llama-3.1-70b", layers=80), CAT, CAL)
    half = gpu_check.predict(_row("decode_gemms", 1, 1024, model="llama-3.1-70b", layers=40), CAT, CAL)
    lm = 2.0 * 128256 * 8192  # the LM head and final norm stay whole
    assert half["bytes"] - lm == pytest.approx((full["bytes"] - lm) / 2, rel=1e-4)


def test_read_rows_medians_runs_and_skips_failures(tmp_path):
    path = tmp_path / "steps.csv"
    fields = ["source", "as_of", "device", "torch", "run", "model", "layers", "precision", "phase", "batch",
              "context", "tokens", "median_ms", "p10_ms", "p90_ms", "repeats", "note"]
    rows = [dict(run=1, median_ms="10.0"), dict(run=2, median_ms="12.0"), dict(run=3, median_ms="11.0"),
            dict(run=4, median_ms="", note="failed: OutOfMemoryError")]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(dict(dict.fromkeys(fields, ""), device=H200, model="phi-4", layers="40", phase="decode",
                            batch="4", context="1024", **r))
        w.writerow(dict(dict.fromkeys(fields, ""), device=H200, phase="copy", median_ms="6.3"))
    got = gpu_check.read_rows(path)
    assert len(got) == 1
    assert got[0]["measured_ms"] == 11.0 and got[0]["runs"] == 3
    assert got[0]["spread"] == pytest.approx(0.2)


def test_rest_per_layer_by_hand():
    steps = [_row("decode", 16, 1024, ms=6.5)]
    parts = [_row("decode_gemms", 16, 1024, ms=4.0), _row("decode_attention", 16, 1024, ms=0.7),
             _row("decode_gemms", 16, 1024, ms=2.0, precision="fp8")]  # another precision: not this step's
    assert gpu_check.rest_per_layer(steps, parts) == {
        ("llama-3.1-8b", "decode", 16, 1024): pytest.approx(1e3 * 1.8 / 32)}


def test_fp8_gemms_by_hand():
    # 70B in FP8, 16 rows (a decode batch of 1, padded): 1 byte a weight at 0.85 x 4,800 GB/s against
    # 2 x 16 x (body + LM head) FLOP at 0.50 x 1,979 TFLOP/s
    row = dict(_row("decode_gemms", 1, 1024, model="llama-3.1-70b", layers=80, precision="fp8"), tokens=16)
    got = gpu_check.predict(row, CAT, CAL)
    p_fixed = got["bytes"]  # 1 byte a weight
    assert p_fixed == pytest.approx(gpu_check.predict(dict(row, precision="bf16"), CAT, CAL)["bytes"] / 2)
    t_w = p_fixed / (0.85 * 4800e9)
    assert got["flop"] == pytest.approx(2.0 * 16 * (p_fixed - 8192), rel=1e-12)
    t_c = got["flop"] / (0.50 * 1979e12)
    assert got["model_ms"] == pytest.approx(1e3 * math.hypot(t_w, t_c), rel=1e-6)


@pytest.mark.parametrize("path", [gpu_check.DEFAULT_STEPS, *gpu_check.DEFAULT_PARTS])
def test_committed_measurements_carry_their_source(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert all(r["source"].startswith("fleetplan bench/gpu_steps.py") and r["as_of"] == "2026-12-04" for r in rows)
    assert all(r["median_ms"] and not r["note"].startswith("failed") for r in rows)
