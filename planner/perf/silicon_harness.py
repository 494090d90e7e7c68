"""How the reference runs of ``bench/data/silicon-dev.csv`` were taken: the engine settings their rows do not record.

aiconfigurator's generator took them with its benchmark rules, which set what an engine would otherwise choose
itself: a running-sequence cap sized for the client count (:func:`benchmark_engine`) and the KV quantisation passed
as ``--kv-cache-dtype`` (:func:`run_kv_dtype`). Each reading is one the rows themselves bear out, with the rows that
show it in the docstring; ``planner.perf.silicon`` applies them when it maps a row to an ``estimate()`` call, and a
file in the same layout may state the KV cache per row instead (:func:`kv_column`).
"""

from __future__ import annotations

import math

from planner.perf.calibration import Calibration

# torch dtype names, as engines log them, in a scenario's spelling (weights: ``planner.perf.bench_import``; KV cache)
TORCH_DTYPE_NAMES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
KV_NAMES = {"auto": "auto", "bf16": "bf16", "fp16": "fp16", **TORCH_DTYPE_NAMES,
            "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}


def kv_column(raw) -> str | None:
    """The optional ``kv_cache_dtype`` column: '' when empty or absent, the KV dtype, or None (not recognised)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or not str(raw).strip():
        return ""
    return KV_NAMES.get(str(raw).strip().lower())


def benchmark_engine(cal: Calibration, engine: str, clients: int, attention_dp: int = 1) -> Calibration:
    """``cal`` with the engine's running-sequence cap raised to the benchmark's client count (per attention
    rank): the runs were taken with the engine configured for the concurrency they measure (``max_num_seqs`` /
    ``max_batch_size`` / ``max_running_requests`` at least the client count). The data say so: at 512 clients
    with 1,024-token prompts and outputs the measured TTFT is about twice the 256-client one (vLLM, MiniMax-M2.5),
    not the minute-long queue a 256-sequence cap would build. The KV pool still limits the batch."""
    eng = cal.engine(engine)
    need = -(-int(clients) // max(1, attention_dp))
    if need <= eng.max_batch:
        return cal
    return cal.with_values({f"{engine}.max_batch": need})


def run_kv_dtype(engine: str, precision: str) -> str:
    """The KV-cache dtype a run was measured with: FP8 for the FP8 runs of vLLM and SGLang, else the engine's
    ``auto`` (FP8 already for FP4 checkpoints on every engine and for FP8 ones on TensorRT-LLM: ``resolve_kv_dtype``).

    The rows do not record it. The harness that took them (aiconfigurator's generator) passes its KV quantisation
    to every engine as ``--kv-cache-dtype`` (SGLang: ``fp8`` written as ``fp8_e4m3``), and the FP8 runs whose KV
    pool binds say they used FP8 (docs/perf-model.md §6b, twenty-third pass):

    - SGLang, DeepSeek-R1 FP8 on 8 x B200 at 256 clients (ISL 8,192, OSL 1,024) ran every client at once (TPOT
      66.5 ms at 128 clients, 117.7 ms at 256; TTFT 8.7 s): ~2.2 M tokens of KV per GPU (256 x ~8,700 live
      tokens), twice what BF16 MLA latents leave beside the weights (1.19 M), what FP8 leaves (2.38 M). With BF16
      the model predicts a 65 s queue there, with FP8 8.6 s.
    - vLLM, MiniMax-M2.5 FP8: 24 rows (15 configurations) where BF16 would queue for KV slots (TTFT predicted over
      twice FP8's). On B200 and B300 (19 rows) BF16 predicts 2.2-29x the measured TTFT (2 x B200, ISL 8,192, 64
      clients: 9.6 s against 0.83-0.92 s), FP8 within 15 % on 13 of them and within 57 % on all but one (a twin
      measured 3.7x slower than its pair), and the decode batch's TPOT with them (46.6 ms measured at 128 clients:
      FP8 44.4, BF16's smaller batch 33.7). On 4 x H100 (5 rows) the runs queued (3-32 s) less than BF16 predicts
      and more than FP8 does."""
    return "fp8" if engine in ("sglang", "vllm") and precision == "fp8" else "auto"
