"""What one replica sees of the hardware: memory, bandwidth, compute peak, link, per GPU of its TP group.

A replica runs on ``tp`` whole GPUs, or on one MIG instance (``tp`` must be 1). A MIG instance of slot class
(c compute slices, m memory slices) gets ``c/7`` of every compute peak, ``m/8`` of the memory bandwidth, and
the memory of its label (``3g.40gb`` -> 40 GB = 37.3 GiB; the label read as 10^9 bytes sits 2-5 % below the
sizes NVML reports, e.g. 19968 MiB for an A100 3g.20gb, so it doubles as the overhead allowance).

Precision -> compute path (peak used for GEMMs, bytes per weight):

=========  =================  ==========================================================================
precision  bytes per weight   GEMM peak
=========  =================  ==========================================================================
bf16/fp16  2                  dense BF16 tensor peak
fp8        1                  FP8 peak (W8A8) on Ada/Hopper/Blackwell/CDNA3; on Ampere vLLM/SGLang run FP8
                              weight-only (Marlin W8A16) at the BF16 rate; TensorRT-LLM refuses
int8       1                  INT8 peak (W8A8, SmoothQuant-style) where the GPU has INT8 tensor cores,
                              else weight-only at the BF16 rate (B300 lists no INT8)
int4       0.53               weight-only (AWQ/GPTQ g128): BF16 rate; a group-scaled INT4 MoE checkpoint's
                              experts are read at the engine's ``wna16_moe_read`` share of the bandwidth
                              (vLLM 0.28; OpenAI MXFP4 checkpoints at the full rate: ``roofline``)
fp4        0.5625             FP4 peak (NVFP4) on Blackwell only; refused elsewhere
=========  =================  ==========================================================================

Tensor parallelism: ``tp`` must be a power of two (else InputError). A replica cannot use more GPUs than
one NVLink domain on NVSwitch parts (SXM/OAM): that would be multi-node TP, which is not modelled.
With ``allow_multi_node`` a replica may span whole NVLink domains (``tp × dp`` a multiple of the domain); its
collectives are then charged at the scale-out network's ``SCALEOUT_GBPS_PER_GPU`` (one 400 Gb/s NIC per GPU).
PCIe cards (no NVLink, or 2/4-GPU bridges) may use up to 8 GPUs of one host; traffic that leaves the bridge
goes over PCIe, so the all-reduce is charged at ``pcie_gbps`` (about 14x slower than NVLink).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.catalog.records import GpuSpec
from planner.errors import InputError
from planner.catalog.mig import N_COMPUTE_SLICES, N_MEMORY_SLICES, profile_names, slot_class
from planner.suggest import did_you_mean

PRECISION_BYTES: dict[str, float] = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.53, "fp4": 0.5625}
INT4_PATH = "int4 weight-only (W4A16)"   # the compute path of precision int4 (``Device.compute_path``)
KV_DTYPE_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
KV_DTYPES = ("auto", *KV_DTYPE_BYTES)
GIB = float(1 << 30)

_MAX_HOST_GPUS = 8
# Scale-out network per GPU between NVLink domains (multi-node replicas, only when asked for): one 400 Gb/s
# ConnectX-7 NIC per GPU in DGX/HGX H100, H200 and B200 systems (NVIDIA DGX B200 and DGX H100 datasheets)
SCALEOUT_GBPS_PER_GPU = 50.0
_FP8_ARCHS = ("ada", "hopper", "blackwell", "cdna3")


@dataclass(frozen=True)
class Device:
    """Per-GPU resources of one replica's TP group (a MIG instance counts as one GPU)."""

    gpu_id: str
    label: str                 # "h100-sxm", "h100-sxm MIG 3g.40gb"
    tp: int
    mem_gib: float             # memory the engine can see, GiB
    bw_gbps: float             # memory bandwidth, GB/s
    peak_tflops: float         # GEMM peak for the precision's compute path
    peak_bf16_tflops: float    # attention runs in BF16
    eta_key: str               # which calibration efficiency applies to GEMMs
    compute_path: str          # "bf16", "fp8 W8A8", "fp8 weight-only", ...
    link_gbps: float           # one direction, per GPU, for the all-reduce (0 when tp == 1)
    link_kind: str             # "nvlink", "network" (several NVLink domains), "pcie" or "none"
    gpu_share: float           # GPUs this replica occupies (tp·dp, or c/7 of one GPU for MIG)
    dp: int = 1                # attention data-parallel ranks, each a TP group of ``tp`` GPUs
    ep: int = 1                # expert-parallel ranks; the routed experts are split over ep, each over dp·tp/ep

    @property
    def gpus(self) -> int:
        """Whole GPUs of the replica (1 for a MIG instance)."""
        return self.tp * self.dp


def check_precision(precision: str) -> float:
    """Bytes per weight; InputError for an unknown precision string."""
    try:
        return PRECISION_BYTES[precision]
    except KeyError:
        raise InputError(f"unknown precision {precision!r}{did_you_mean(precision, PRECISION_BYTES)} "
                         f"(precisions: {', '.join(PRECISION_BYTES)})") from None


def check_tp(tp: int) -> None:
    """InputError unless ``tp`` is a positive power of two."""
    if not isinstance(tp, int) or isinstance(tp, bool) or tp < 1 or tp & (tp - 1):
        raise InputError(f"tp must be a power of two (1, 2, 4, 8, ...), got {tp!r}")


def mig_slot(gpu: GpuSpec, profile: str) -> tuple[str, int, int]:
    """(slot class, compute slices of 7, memory slices of 8) of ``profile`` on ``gpu`` (``planner.catalog.mig``
    geometry); InputError when the GPU has no such profile."""
    if not gpu.mig_profiles:
        raise InputError(f"{gpu.id} has no MIG (profile {profile!r} given)")
    by_name = {name.lower(): cls for cls, name in profile_names(gpu.mig_profiles).items()}
    if profile.lower() not in by_name:
        names = list(profile_names(gpu.mig_profiles).values())
        raise InputError(f"unknown MIG profile {profile!r} for {gpu.id}{did_you_mean(profile, names)} "
                         f"(profiles: {', '.join(names)})")
    cls = slot_class(by_name[profile.lower()])
    return cls.name, cls.compute, cls.memory


def mig_memory_gib(profile: str) -> float:
    """Memory of a MIG profile from its label (``3g.40gb`` -> 40e9 bytes in GiB)."""
    m = re.search(r"\.(\d+(?:\.\d+)?)gb", profile.lower())
    if not m:
        raise InputError(f"MIG profile {profile!r} has no '<n>gb' memory label")
    return float(m.group(1)) * 1e9 / GIB


def resolve_kv_dtype(kv_dtype: str, precision: str, engine: str, *, sparse_mla: bool = False,
                     arch: str | None = None) -> str:
    """``auto`` -> what the engine does with the checkpoint: FP8 KV for FP4 checkpoints on every engine and
    for FP8 ones on TensorRT-LLM, else BF16 (FP16 for FP16 weights).

    FP4 weights come as NVIDIA ModelOpt NVFP4 exports, whose ``hf_quant_config.json`` names the KV cache's
    format, and vLLM, SGLang and TensorRT-LLM follow it: 20 of the 23 NVFP4 exports among the reference
    model configs (``nvidia/*-NVFP4``: DeepSeek-V3.1/V3.2, GLM-5, Kimi-K2.6, MiniMax-M2.5, Qwen3.5-397B, ...)
    set ``kv_cache_quant_algo: FP8`` (the other three, DeepSeek-V4 and MiniMax-M3, set none). Vendors' FP8
    checkpoints (block-FP8 DeepSeek, MiniMax, Qwen) name no KV format: vLLM and SGLang keep 16-bit KV. So does
    gpt-oss's own MXFP4 checkpoint, which ``fp4`` does not tell apart from NVFP4: a workload serving it on
    vLLM or SGLang should say ``kv_cache_dtype: bf16`` (its KV is small: at most 74 KB a token at BF16, half its
    layers keeping a 128-token window).

    A DeepSeek-sparse-attention model (``sparse_mla``: DeepSeek-V3.2, GLM-5) on SGLang on a Blackwell GPU keeps
    an FP8 cache whatever its weights: SGLang's ``nsa`` backend defaults to ``fp8_e4m3`` KV there for its
    FlashMLA decode kernel (BF16 on H200; SGLang docs, "DeepSeek V3.2 Usage", read 2026-12-04)."""
    if kv_dtype not in KV_DTYPES:
        raise InputError(f"unknown kv dtype {kv_dtype!r}{did_you_mean(kv_dtype, KV_DTYPES)} "
                         f"(kv dtypes: {', '.join(KV_DTYPES)})")
    if kv_dtype != "auto":
        return kv_dtype
    # trtllm-bench / ModelOpt: "if you specify FP8 quantization, the KV cache will automatically be set to FP8"
    if precision == "fp4" or (engine == "trtllm" and precision == "fp8"):
        return "fp8"
    if sparse_mla and engine == "sglang" and arch == "blackwell":
        return "fp8"
    return "fp16" if precision == "fp16" else "bf16"


def _compute_path(gpu: GpuSpec, precision: str, engine: str) -> tuple[float, str, str] | str:
    """(peak TFLOPS, eta key, description) or a reason string when this GPU/engine cannot run it."""
    arch = gpu.arch
    if precision in ("bf16", "fp16"):
        return gpu.tflops_bf16, "eta_bf16", precision
    if precision == "fp8":
        if gpu.tflops_fp8:
            return gpu.tflops_fp8, "eta_fp8", "fp8 W8A8"
        if engine == "trtllm":
            return (f"FP8 needs FP8 tensor cores (Ada/Hopper/Blackwell); {gpu.id} is {arch} and TensorRT-LLM "
                    f"has no FP8 weight-only path there")
        return gpu.tflops_bf16, "eta_bf16", "fp8 weight-only (W8A16, no FP8 tensor cores)"
    if precision == "int8":
        if gpu.tops_int8:
            return gpu.tops_int8, "eta_fp8", "int8 W8A8"
        return gpu.tflops_bf16, "eta_bf16", "int8 weight-only (no INT8 tensor cores listed)"
    if precision == "int4":
        return gpu.tflops_bf16, "eta_bf16", INT4_PATH
    if precision == "fp4":
        if gpu.tflops_fp4:
            return gpu.tflops_fp4, "eta_fp4", "fp4 (NVFP4)"
        return f"FP4 needs Blackwell FP4 tensor cores; {gpu.id} is {arch}"
    raise AssertionError(precision)  # check_precision ran first


def check_parallel(tp: int, attention_dp: int, expert_parallel: int) -> None:
    """InputError unless dp and ep are whole numbers >= 1 and ep divides the replica's tp·dp GPUs."""
    for name, v in (("attention_dp", attention_dp), ("expert_parallel", expert_parallel)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"{name} must be a whole number >= 1, got {v!r}")
    if (tp * attention_dp) % expert_parallel:
        raise InputError(f"expert_parallel ({expert_parallel}) must divide the replica's GPUs "
                         f"tp × attention_dp = {tp * attention_dp}")


def make_device(gpu: GpuSpec, *, tp: int, mig_profile: str | None, precision: str, kv_dtype: str,
                engine: str, attention_dp: int = 1, expert_parallel: int = 1,
                allow_multi_node: bool = False) -> Device | str:
    """The replica's per-GPU resources, or the reason it cannot be built (a 'cannot serve', not an error).

    A replica spans ``tp × attention_dp`` GPUs, all inside one NVLink domain (an EP/DP replica exchanges
    tokens every MoE layer). Raises InputError for nonsense arguments: unknown precision, tp not a power of
    two, unknown MIG profile, a non-positive dp/ep, ep not dividing the GPUs.
    """
    check_precision(precision)
    check_tp(tp)
    check_parallel(tp, attention_dp, expert_parallel)
    if mig_profile is not None and attention_dp * expert_parallel > 1:
        return "attention data parallelism / expert parallelism needs whole GPUs, not a MIG slice"
    slot = mig_slot(gpu, mig_profile) if mig_profile is not None else None
    if engine == "trtllm" and gpu.arch.startswith("cdna"):
        return f"TensorRT-LLM runs only on NVIDIA GPUs; {gpu.id} is AMD {gpu.arch}"
    path = _compute_path(gpu, precision, engine)
    if isinstance(path, str):
        return path
    if kv_dtype == "fp8" and engine == "trtllm" and gpu.arch not in _FP8_ARCHS:
        return f"TensorRT-LLM FP8 KV cache needs Ada/Hopper/Blackwell; {gpu.id} is {gpu.arch}"
    peak, eta_key, desc = path
    if slot is not None:
        if tp > 1:
            return (f"tp={tp} on MIG {mig_profile}: MIG instances cannot talk to each other (no P2P), "
                    f"so a replica must fit one slice (tp=1)")
        _, c, m = slot
        return Device(gpu_id=gpu.id, label=f"{gpu.id} MIG {mig_profile}", tp=1,
                      mem_gib=min(mig_memory_gib(mig_profile), gpu.vram_gib_usable),
                      bw_gbps=gpu.mem_bw_gbps * m / N_MEMORY_SLICES, peak_tflops=peak * c / N_COMPUTE_SLICES,
                      peak_bf16_tflops=gpu.tflops_bf16 * c / N_COMPUTE_SLICES, eta_key=eta_key,
                      compute_path=desc, link_gbps=0.0, link_kind="none", gpu_share=c / N_COMPUTE_SLICES)
    nvswitch = gpu.has_nvlink and gpu.nvlink_max_gpus >= 8
    n = tp * attention_dp
    what = f"tp={tp}" if attention_dp == 1 else f"tp={tp} × attention_dp={attention_dp} = {n} GPUs"
    if n == 1:
        link, kind = 0.0, "none"
    elif gpu.has_nvlink and n <= gpu.nvlink_max_gpus:
        link, kind = gpu.nvlink_gbps / 2, "nvlink"  # catalog figure is both directions
    elif nvswitch and allow_multi_node and n % gpu.nvlink_max_gpus == 0:
        link, kind = SCALEOUT_GBPS_PER_GPU, "network"
    elif nvswitch:
        return (f"{what} exceeds the NVLink domain of {gpu.id} ({gpu.nvlink_max_gpus} GPUs); "
                f"parallelism across nodes is not modelled")
    elif n <= _MAX_HOST_GPUS:
        link, kind = gpu.pcie_gbps, "pcie"
    else:
        return f"{what} exceeds the {_MAX_HOST_GPUS} PCIe GPUs one host holds ({gpu.id} has no NVLink switch)"
    return Device(gpu_id=gpu.id, label=gpu.id, tp=tp, mem_gib=gpu.vram_gib_usable, bw_gbps=gpu.mem_bw_gbps,
                  peak_tflops=peak, peak_bf16_tflops=gpu.tflops_bf16, eta_key=eta_key, compute_path=desc,
                  link_gbps=link, link_kind=kind, gpu_share=float(n), dp=attention_dp, ep=expert_parallel)
