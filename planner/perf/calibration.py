"""The calibration record: every tunable constant of the performance model, with defaults and provenance.

One small frozen record (:class:`Calibration`) holds the efficiency constants of the roofline
(``planner.perf.roofline``) and one :class:`EngineFactors` per serving engine. ``plan calibrate`` fits the
constants to measurements (``planner.perf.fit``) and writes them as YAML; a scenario points at the
file with ``policy.calibration`` and :func:`load_calibration` reads it back.

Defaults and where they come from (see ``docs/perf-model.md`` for the full discussion):

========================  =======  ===========================================================================
constant                  default  provenance
========================  =======  ===========================================================================
eta_bw                    0.85     decode GEMMs reach 0.80-0.90 of HBM bandwidth (public kernel profiles;
                                   llm-analysis suggests 0.9, aiconfigurator 0.8)
eta_bf16                  0.70     prefill GEMMs reach 0.68-0.84 of dense BF16 peak; llm-analysis <= 0.7
eta_fp8                   0.50     FP8 GEMMs reach 0.50-0.68 of FP8 peak (aiconfigurator uses 0.45)
eta_fp4                   0.35     FP4 GEMMs reach 0.36-0.47 of FP4 peak (aiconfigurator uses 0.30)
eta_attn                  0.50     attention (FlashAttention-2/3 class kernels) reaches 0.4-0.7 of BF16 peak
eta_link                  0.70     NCCL ring all-reduce bus bandwidth ~0.7-0.8 of NVLink (nccl-tests)
eta_pcie                  0.40     all-reduce over PCIe Gen4/5 through the host: nccl-tests busbw ~10-16 GB/s
                                   of the 32 GB/s x16 rate on 8-GPU PCIe servers (no NVLink, often no P2P)
eta_moe                   0.60     grouped expert GEMMs (fused MoE) relative to dense GEMMs: each expert sees
                                   only N·k/E tokens, so its GEMM is small and reaches ~50-70 % of a dense one
roofline_p                2        smooth roofline (a^p + b^p)^(1/p) per kernel class; chosen on the public
                                   table (median throughput APE 13.7 % with the plain max, 11.1 % with p = 2;
                                   in-sample)
t_layer_us                10       per-layer kernel tails at decode (fits between 0 and 60 us, see perf-model.md)
t_ar_nvlink_us            8        one small NVLink all-reduce, custom kernels (5-10 us; NCCL 35-45 us)
t_ar_pcie_us              30       one small all-reduce over PCIe (several PCIe round trips)
workspace_gib             1.0      CUDA context, cuBLAS/NCCL buffers, CUDA graphs per GPU; the activations of
                                   one prefill chunk and the FP32 logits of a full batch are added on top
                                   (``perf_memory.workspace_gib``), 2-4 GiB in all for 8-70B models
========================  =======  ===========================================================================

``gpu_speed`` holds optional per-GPU factors on every efficiency (none by default; ``plan calibrate`` sets
them for the GPUs its measurements cover). Engine factors (``vllm``, ``sglang``, ``trtllm``): ``speed``
multiplies every efficiency (1.0 = the constants above), ``t_step_ms`` is the per-iteration
host/scheduler/sampling cost, ``t_request_ms`` the per-request latency outside the GPU steps (tokenise,
schedule, detokenise), ``max_batch`` the engine's default cap on concurrent sequences, ``mem_util`` /
``mem_mode`` how the engine sizes its KV pool and ``chunk_tokens`` its prefill chunk (tokens per step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import InputError

ENGINES = ("vllm", "sglang", "trtllm")

# Fittable scalar constants: name -> (lower, upper) bounds used by ``plan calibrate``.
CONSTANT_BOUNDS: dict[str, tuple[float, float]] = {
    "eta_bw": (0.5, 0.98),
    "eta_bf16": (0.3, 0.95),
    "eta_fp8": (0.2, 0.9),
    "eta_fp4": (0.15, 0.8),
    "eta_attn": (0.2, 0.9),
    "eta_moe": (0.2, 1.0),
}
ENGINE_BOUNDS: dict[str, tuple[float, float]] = {
    # speed multiplies eta_bw (0.85) and every eta_c: at 1.15 an engine reads HBM at 98 % of its peak, the most a
    # constant with a physical meaning allows (a fit to the silicon runs with 1.6 put TRT-LLM at 1.6: 100 % of
    # peak bandwidth and of dense FP8/BF16 throughput after the min(1, ·) clip, compensating other terms)
    "speed": (0.4, 1.15),
    "t_request_ms": (0.0, 400.0),
    "t_step_ms": (0.0, 20.0),
    "t_seq_us": (0.0, 200.0),
    "t_prefill_layer_us": (0.0, 3000.0),
    "t_layer_us": (0.0, 150.0),
    "t_moe_layer_us": (0.0, 150.0),
    "t_sparse_layer_us": (0.0, 150.0),
    "t_ar_us": (2.0, 100.0),
    "moe_speed": (0.1, 1.5),
    "phase": (0.0, 0.5),
    # TensorRT-LLM's recipes set timeout_iters 60 (DeepSeek-R1 attention DP); its config class defaults to 50 and
    # other recipes use 500: the bound lets the rows say, and 500 steps is the largest any recipe sets
    "adp_balance_iters": (0.0, 500.0),
}
GPU_SPEED_BOUNDS = (0.5, 1.5)


class _Frozen(BaseModel):
    # every constant must be finite (an infinite overhead or hold reaches the fixed point as nan): roofline_p alone
    # may be inf (its plain-max meaning), and says so
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, allow_inf_nan=False)


class EngineFactors(_Frozen):
    """How one serving engine departs from the plain roofline (defaults: its documented settings)."""

    speed: float = Field(1.0, gt=0, description="multiplies eta_bw and every eta_c (kernel quality)")
    t_step_ms: float = Field(0.3, ge=0, description="host + scheduler + sampling time per engine step")
    t_request_ms: float = Field(3.0, ge=0, description="per-request latency added to TTFT")
    t_prefill_layer_us: float = Field(0.0, ge=0, description="fixed time per layer of a step that carries "
                                                              "prefill tokens: a pass outside the decode CUDA "
                                                              "graphs (launches, attention metadata, MoE routing "
                                                              "set-up on the host), × layers")
    t_seq_us: float = Field(0.0, ge=0, description="host time per running sequence per step (scheduling, "
                                                   "sampling bookkeeping, output processing) on one attention "
                                                   "rank's scheduler")
    max_batch: int = Field(256, ge=1, description="default cap on concurrently running sequences")
    mem_util: float = Field(0.9, gt=0, le=1, description="share of memory the engine may use")
    mem_mode: Literal["total", "free"] = Field(
        "total", description="total: KV = util*VRAM - weights - workspace (vLLM, SGLang); "
                             "free: KV = util*(VRAM - weights - workspace) (TensorRT-LLM)")
    chunk_tokens: int = Field(8192, ge=64, description="prefill tokens per scheduler step (chunked prefill)")
    chunk_tokens_large: int | None = Field(None, ge=64, description="the same on a GPU with at least "
                                                                    "large_gpu_gib of memory (None: chunk_tokens)")
    large_gpu_gib: float = Field(160.0, gt=0, description="memory (GiB) from which chunk_tokens_large applies")
    large_gpu_excluded: tuple[str, ...] = Field((), description="GPU ids (prefixes) that keep chunk_tokens whatever "
                                                                "their memory")
    separate_prefill: bool = Field(False, description="a prefill chunk runs as a forward pass of its own between "
                                                      "decode steps (SGLang without --enable-mixed-chunk), not "
                                                      "inside a decode step")
    chunk_split_by_dp: bool = Field(False, description="the chunk budget is the replica's, split evenly over its "
                                                       "attention data-parallel ranks (else each rank's own)")
    t_layer_us: float | None = Field(None, ge=0, description="fixed time per layer per step (None: the "
                                                             "calibration's t_layer_us)")
    t_moe_layer_us: float = Field(0.0, ge=0, description="extra fixed time per mixture-of-experts layer per step "
                                                         "(router, top-k, token permutation and the grouped "
                                                         "GEMMs' launches), on top of t_layer_us")
    t_sparse_layer_us: float = Field(0.0, ge=0, description="extra fixed time per DeepSeek-sparse-attention layer "
                                                            "per step (the indexer's projections, FP8 quantisation,"
                                                            " logits and top-k kernels and its key-cache write), "
                                                            "on top of t_layer_us")
    t_ar_us: float | None = Field(None, ge=0, description="latency of one NVLink all-reduce with this engine's "
                                                          "kernels (None: the calibration's t_ar_nvlink_us)")
    moe_speed: float = Field(1.0, gt=0, description="multiplies eta_moe: this engine's grouped-expert GEMMs")
    wna16_moe_read: float = Field(1.0, gt=0, le=1, description="share of the bandwidth its other expert GEMMs "
                                                               "reach that this engine's weight-only INT4 "
                                                               "(W4A16, group-scaled) fused-MoE kernels reach on "
                                                               "the experts' weights")
    phase: float = Field(0.0, ge=0, le=0.5, description="closed loop: share of the other clients' prompts "
                                                         "arriving in phase with one (benchmark burstiness)")
    adp_balance_iters: float = Field(0.0, ge=0, description="attention data-parallel replicas: steps a context "
                                                            "request may be held until every rank has one "
                                                            "(TensorRT-LLM attention_dp_config.enable_balance, "
                                                            "timeout_iters); 0 = no hold")
    source: str = ""

    def on_device(self, mem_gib: float, attention_dp: int = 1, gpu_id: str = "") -> "EngineFactors":
        """These factors where one replica runs: ``chunk_tokens`` becomes the chunk budget of one attention rank
        on a GPU (or MIG instance) ``gpu_id`` with ``mem_gib`` of memory, the engine's default there (SGLang picks
        16,384 tokens from 160 GiB up, 8,192 below; vLLM 8,192 from 70 GiB up except on A100, 2,048 otherwise),
        divided by the ranks where the engine splits the replica's budget over them (SGLang with DP attention).
        The result is resolved: applied again, it stays as it is."""
        if self.chunk_tokens_large is None and not self.chunk_split_by_dp:
            return self
        chunk = self.chunk_tokens
        if (self.chunk_tokens_large is not None and mem_gib >= self.large_gpu_gib
                and not gpu_id.startswith(self.large_gpu_excluded)):
            chunk = self.chunk_tokens_large
        if self.chunk_split_by_dp and attention_dp > 1:
            chunk = max(64, chunk // attention_dp)
        return self.model_copy(update={"chunk_tokens": chunk, "chunk_tokens_large": None, "chunk_split_by_dp": False})


# Engine constants fitted to the measured serving runs (bench/data/silicon-dev.csv, all rows; out-of-family
# error in docs/perf-model.md §6b). Regenerate: python -m planner.perf.report --silicon (the table
# "Engine constants fitted on all rows"), then paste here. Empty dict = the prior values of _prior_engines.
FITTED: dict[str, dict[str, float]] = {
    # 2026-12-03, refitted after the queueing fixed point became exact (planner.perf.queueing: the search over
    # q = X·TPOT; the constants before were fitted with a search whose answers depended on its path). Before that:
    # the source rows' layouts read as run (MoE groups recorded squared, vLLM's DP rows;
    # planner.perf.silicon.squared_layout), FP8 KV for FP4 checkpoints and the DP rank's M/D/1 service
    # SGLang refitted 2026-12-04 when DeepSeek sparse attention (GLM-5) got its indexer, its picked-token reads and
    # FP8 cache (t_sparse_layer_us: the indexer's per-layer kernels; t_layer_us fell from 102 to 85 us with it), and
    # 2026-12-05 when its FP8 runs were read with the FP8 KV cache they were measured with (planner.perf.
    # silicon_harness.run_kv_dtype): moe_speed 0.287 -> 0.252, t_seq_us 24.3 -> 29.8 us, the others within 5 %
    # 2026-12-06 (thirty-sixth pass): all three engines refitted with the Cauchy loss in place of soft-L1
    # (planner.perf.silicon_fit: wild rows no longer pull with a constant force). SGLang: t_request_ms 155 -> 118,
    # t_layer_us 86.7 -> 103, moe_speed 0.252 -> 0.386, t_prefill_layer_us 771 -> 915, t_ar_us 10.0 -> 3.39;
    # TRT-LLM: t_request_ms 98.6 -> 121, speed 1.01 -> 1.08, t_layer_us 39.3 -> 29.9, moe_speed 0.635 -> 0.539,
    # t_seq_us 4.80 -> 7.48, t_ar_us 12.7 -> 16.1; vLLM: t_request_ms 9.64 -> 6.68, the others within 6 %
    # SGLang refitted 2026-12-06 (thirty-seventh pass) when its step took its own defaults: a prefill chunk as a
    # forward pass of its own (enable_mixed_chunk false) and a 16,384-token chunk on GPUs of >= 160 GiB (every
    # SGLang row is B200, B300 or GB200): t_request_ms 118 -> 165, moe_speed 0.386 -> 0.167, t_prefill_layer_us
    # 915 -> 582, phase 0.135 -> 0.119, t_seq_us 30.1 -> 26.9, t_ar_us 3.39 -> 3.81, the others within 3 %
    "sglang": dict(t_request_ms=165.0, speed=1.15, t_layer_us=103.0, phase=0.119, moe_speed=0.167, t_seq_us=26.9,
                   t_prefill_layer_us=582.0, t_ar_us=3.81, t_sparse_layer_us=84.5),
    # TRT-LLM refitted 2026-12-04 when attention-DP replicas got the balance hold (adp_balance_iters, the recipes'
    # 60 steps): moe_speed rose from 0.40 to 0.63, the DeepSeek attention-DP rows no longer pulling it down
    "trtllm": dict(t_request_ms=121.0, speed=1.08, t_layer_us=29.9, phase=0.0651, moe_speed=0.539, t_seq_us=7.48,
                   t_prefill_layer_us=233.0, t_ar_us=16.1, t_step_ms=0.0),
    # vLLM: a dense layer's fixed cost and a MoE layer's extra (router, top-k, permutation, fused-MoE launches)
    # told apart by Llama-3.1-70B's rows, the engine's one dense model. Refitted 2026-12-05 when its FP8 runs were
    # read with their FP8 KV cache: speed 1.15 (its bound) -> 1.09, t_request_ms 10.7 -> 8.87, the others within 6 %;
    # and when Kimi-K2.5's INT4 experts were read at the WNA16 kernels' share (WNA16_MOE_READ_VLLM): t_request_ms
    # 8.87 -> 9.64, t_moe_layer_us 24.9 -> 22.7, moe_speed 0.435 -> 0.457, the others within 4 %
    "vllm": dict(t_request_ms=6.68, speed=1.09, t_layer_us=40.4, t_moe_layer_us=23.0, phase=0.044, moe_speed=0.448,
                 t_seq_us=0.0, t_prefill_layer_us=451.0, t_ar_us=17.1, t_step_ms=0.0),
}
FITTED_SOURCE = ("fitted per engine to the measured serving runs of bench/data/silicon-dev.csv "
                 "(aiconfigurator silicon_sample.csv, Apache-2.0) by planner.perf.silicon_fit")
# Constants an engine's own rows cannot identify, carried over from the engine whose rows do, where the same
# operations run. vLLM's and TRT-LLM's rows hold no DeepSeek-sparse-attention model; the indexer's work per layer
# (its projections, FP8 logits, top-k over the context, the key write) is the same operation list on every engine,
# so SGLang's fitted cost stands in rather than 0, which would price a DSA model's decode step ~7 ms too fast on
# GLM-5 (78 layers). Not checked against any run: no engine but SGLang has DSA rows in the data.
TRANSFERRED: dict[str, dict[str, float]] = {
    "vllm": {"t_sparse_layer_us": FITTED["sglang"]["t_sparse_layer_us"]},
    "trtllm": {"t_sparse_layer_us": FITTED["sglang"]["t_sparse_layer_us"]},
}
TRANSFERRED_SOURCE = "carried over from SGLang's fit (this engine's rows hold no DSA model)"


# vLLM's weight-only INT4 MoE kernels (compressed-tensors W4A16, Kimi-K2's own checkpoint) against its FP8 ones, from
# one decode step profiled with nsys on 8xH200 at 16 clients (vllm-project/vllm#32832, 2026-01-22): a layer's two
# fused-MoE kernels take 234 us on Kimi-K2 (384 experts, top-8, INT4 in groups of 32: 0.5625 B/weight) and 109 us
# on DeepSeek-V3.1 (256 experts, top-8, FP8 blocks: 1 B/weight), experts of one shape (3 x 7168 x 2048). 16 tokens
# touch E(1 - (1 - 8/E)^16) experts: 109.8 of 384, 102.0 of 256; bytes 109.8 x 0.5625 / 102.0 = 0.606 of
# DeepSeek's in 234 / 109 = 2.15 x the time: 0.606 / 2.147 = 0.28 of the bandwidth. (gpt-oss's MXFP4 experts take
# other kernels: its 4xH100 rows read them at the full rate, planner.catalog.records.ModelSpec.weight_only_4bit.)
WNA16_MOE_READ_VLLM = 0.28
WNA16_MOE_READ_SOURCE = ("vllm-project/vllm#32832 (nsys, 8xH200, 16 clients: Kimi-K2 W4A16 fused-MoE kernels "
                         "234 us vs DeepSeek-V3.1 FP8 109 us per layer; 0.28 of the bandwidth per expert byte)")


def _default_engines() -> dict[str, EngineFactors]:
    """The shipped engine factors: the priors with the fitted constants, and the transferred ones."""
    out = {}
    for name, eng in _prior_engines().items():
        vals, moved = FITTED.get(name) or {}, TRANSFERRED.get(name) or {}
        source = eng.source + (f"; {', '.join(vals)}: {FITTED_SOURCE}" if vals else "") + (
            f"; {', '.join(moved)}: {TRANSFERRED_SOURCE}" if moved else "")
        out[name] = eng if not (vals or moved) else EngineFactors.model_validate(
            {**eng.model_dump(), **vals, **moved, "source": source})
    return out


def _prior_engines() -> dict[str, EngineFactors]:
    """Engine factors before any fit: documented engine settings, neutral speed, small overheads."""
    return {
        "vllm": EngineFactors(
            max_batch=256, mem_util=0.90, mem_mode="total", chunk_tokens=2048, chunk_tokens_large=8192,
            large_gpu_gib=70.0, large_gpu_excluded=("a100",), wna16_moe_read=WNA16_MOE_READ_VLLM,
            source="vLLM defaults: gpu_memory_utilization 0.9, max_num_seqs 256, max_num_batched_tokens 8192 "
                   "on GPUs of >= 70 GiB other than A100 and 2048 on the others (V1 API server, EngineArgs batch "
                   "defaults); speed 1.0 (no public vLLM max-throughput rows in the reference set); "
                   f"wna16_moe_read: {WNA16_MOE_READ_SOURCE}"),
        "sglang": EngineFactors(
            max_batch=1024, mem_util=0.88, mem_mode="total", chunk_tokens=8192, chunk_tokens_large=16384,
            large_gpu_gib=160.0, chunk_split_by_dp=True, separate_prefill=True,
            source="SGLang defaults: mem_fraction_static ~0.88 on 80 GB GPUs (weights + KV), chunked_prefill_size "
                   "8192 below 160 GiB of GPU memory and 16384 from 160 GiB (B200, B300, GB200; server_args), "
                   "divided by dp_size with DP attention, enable_mixed_chunk false (a prefill batch is a forward "
                   "pass of its own), max_running_requests sized from memory (1024 used as "
                   "cap); speed 1.0 (assumed parity)"),
        "trtllm": EngineFactors(
            max_batch=2048, mem_util=0.90, mem_mode="free", chunk_tokens=8192, adp_balance_iters=60.0,
            source="TensorRT-LLM defaults: kv_cache_free_gpu_mem_fraction 0.9 of memory left after the engine, "
                   "max_batch_size 2048, max_num_tokens 8192 (trtllm-bench heuristics); attention DP with "
                   "attention_dp_config enable_balance true, timeout_iters 60, batching_wait_iters 0 (the "
                   "DeepSeek-R1 serving recipes)"),
    }


class Calibration(_Frozen):
    """All constants of the performance model. Frozen; ``with_values`` returns a modified copy."""

    eta_bw: float = Field(0.85, gt=0, le=1, description="achieved share of memory bandwidth")
    eta_bf16: float = Field(0.70, gt=0, le=1, description="achieved share of dense BF16/FP16 tensor peak")
    eta_fp8: float = Field(0.50, gt=0, le=1, description="achieved share of dense FP8 (and INT8) peak")
    eta_fp4: float = Field(0.35, gt=0, le=1, description="achieved share of dense FP4 peak")
    eta_attn: float = Field(0.50, gt=0, le=1, description="attention kernels, share of BF16 peak")
    eta_link: float = Field(0.70, gt=0, le=1, description="all-reduce bus bandwidth share of NVLink")
    eta_pcie: float = Field(0.40, gt=0, le=1, description="all-reduce bus bandwidth share of PCIe")
    eta_moe: float = Field(0.60, gt=0, le=1, description="expert GEMMs relative to dense GEMMs")
    roofline_p: float = Field(2.0, ge=1, allow_inf_nan=True, description="smooth-roofline exponent (inf = plain max)")
    t_layer_us: float = Field(10.0, ge=0, description="fixed time per transformer layer per step")
    t_ar_nvlink_us: float = Field(8.0, ge=0, description="latency of one all-reduce over NVLink")
    t_ar_pcie_us: float = Field(30.0, ge=0, description="latency of one all-reduce over PCIe")
    t_ar_network_us: float = Field(30.0, ge=0, description="latency of one collective across NVLink domains "
                                                           "(InfiniBand/RoCE, multi-node replicas only)")
    workspace_gib: float = Field(1.0, ge=0, description="per-GPU base reserve (context, graphs, NCCL)")
    engines: dict[str, EngineFactors] = Field(default_factory=_default_engines)
    gpu_speed: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="per-GPU factor on every efficiency (GPU id -> factor > 0; absent = 1.0), "
                                           "e.g. a power-capped part or a site's clocks; set by plan calibrate")
    source: str = Field("defaults: public kernel profiles and tool defaults (planner/perf/calibration.py docstring)")

    def engine(self, name: str) -> EngineFactors:
        """Factors of ``name``; InputError with the known engines otherwise."""
        try:
            return self.engines[name]
        except KeyError:
            from planner.suggest import did_you_mean  # noqa: PLC0415

            raise InputError(f"unknown engine {name!r}{did_you_mean(name, self.engines)} "
                             f"(engines: {', '.join(self.engines)})") from None

    def with_values(self, values: dict[str, float], source: str | None = None) -> "Calibration":
        """A copy with scalar constants, ``engine.field`` and ``gpu_speed.<gpu id>`` entries replaced
        (``{"eta_bw": 0.8, "trtllm.speed": 1.1, "gpu_speed.h100-sxm": 0.9}``)."""
        top: dict[str, object] = {}
        engines = {k: v.model_dump() for k, v in self.engines.items()}
        gpus = dict(self.gpu_speed)
        for key, val in values.items():
            if key.startswith("gpu_speed."):
                gpus[key.split(".", 1)[1]] = val
            elif "." in key:
                eng, fld = key.split(".", 1)
                engines[eng][fld] = val
            else:
                top[key] = val
        data = {**self.model_dump(), **top, "engines": engines, "gpu_speed": gpus}
        if source is not None:
            data["source"] = source
        return Calibration.model_validate(data)


DEFAULT = Calibration()
PRIOR = Calibration(engines=_prior_engines(),
                    source="priors: public kernel profiles and tool defaults, before the fit to measured runs")


def default_calibration() -> Calibration:
    """The shipped constants."""
    return DEFAULT


def prior_calibration() -> Calibration:
    """The constants before the fit to the measured serving runs: what ``planner.perf.silicon_fit`` starts from
    and pulls towards, so that an out-of-family check never starts from an all-rows fit."""
    return PRIOR


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration YAML written by ``plan calibrate`` (or by hand: missing keys keep defaults).

    Read with the scenario's bounded YAML 1.2 reader (size, nesting and alias expansion bounded). Every problem is
    one ``InputError`` line naming the field: a key that is not a string, ``engines`` that is not a mapping, an
    engine other than those the planner serves with (``ENGINES``; a typo would otherwise add an engine that nothing
    uses and leave the intended one at its defaults), and each field's own range."""
    from planner.scenario.yaml_reader import read_yaml  # noqa: PLC0415
    from planner.suggest import did_you_mean  # noqa: PLC0415

    p = Path(path)
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise InputError(f"{p}: expected a mapping of constants, got {type(data).__name__}")
    _string_keys(p, "", data)
    raw = data.pop("engines", None)
    if raw is not None and not isinstance(raw, dict):
        raise InputError(f"{p}: engines: expected a mapping of engine name to its constants "
                         f"(engines: {', '.join(ENGINES)}), got {type(raw).__name__}")
    engines = dict(_default_engines())
    for name, fields in (raw or {}).items():
        if name not in ENGINES:
            raise InputError(f"{p}: engines.{name}: unknown engine{did_you_mean(str(name), ENGINES)} "
                             f"(engines: {', '.join(ENGINES)})")
        if not isinstance(fields, dict):
            raise InputError(f"{p}: engines.{name}: expected a mapping of constants, got {type(fields).__name__}")
        _string_keys(p, f"engines.{name}.", fields)
        try:
            engines[name] = EngineFactors.model_validate({**engines[name].model_dump(), **fields})
        except ValidationError as exc:
            raise InputError(f"{p}: engines.{name}.{_field_error(exc, EngineFactors)}") from None
    try:
        return Calibration(**data, engines=engines)
    except ValidationError as exc:
        raise InputError(f"{p}: {_field_error(exc, Calibration)}") from None


def _string_keys(p: Path, where: str, data: dict) -> None:
    """InputError for the first key of ``data`` that is not a string (YAML allows ``1: 2``; no constant is named so)."""
    for key in data:
        if not isinstance(key, str):
            raise InputError(f"{p}: {where}{key!r}: keys are constant names (strings), got {type(key).__name__}")


def _field_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """``field.path: what was wrong`` for the first error; an unknown key adds the closest allowed one."""
    from planner.suggest import did_you_mean  # noqa: PLC0415

    err = exc.errors()[0]
    where = ".".join(map(str, err["loc"]))
    if err["type"] == "extra_forbidden":
        allowed = [f for f in model.model_fields if f != "source"]
        return (f"{where}: unknown key{did_you_mean(str(err['loc'][-1]), allowed)} "
                f"(allowed: {', '.join(allowed)})")
    return f"{where}: {err['msg']}"


def save_calibration(cal: Calibration, path: str | Path) -> None:
    """Write ``cal`` as YAML (round-trips through :func:`load_calibration`)."""
    import yaml  # noqa: PLC0415

    data = cal.model_dump()
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
