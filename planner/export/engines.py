"""How each engine is started for a replica group, and how GPUs are named by SkyPilot and Kubernetes.

Engine command lines (the flags each engine documents):

=======  ==============================================================================================
engine   command
=======  ==============================================================================================
vllm     ``vllm serve MODEL --tensor-parallel-size TP --max-model-len L --port 8000`` plus
         ``--dtype bfloat16|float16`` (bf16/fp16), ``--quantization fp8`` (fp8: on-the-fly FP8 weights),
         ``--kv-cache-dtype fp8`` (FP8 KV cache)
sglang   ``python3 -m sglang.launch_server --model-path MODEL --tp TP --context-length L --host 0.0.0.0
         --port 8000`` plus ``--dtype``, ``--quantization fp8``, ``--kv-cache-dtype fp8_e5m2``
trtllm   ``trtllm-serve MODEL --tp_size TP --max_seq_len L --host 0.0.0.0 --port 8000``
=======  ==============================================================================================

Attention data-parallel / expert-parallel replicas (``attention_dp`` = dp ranks over the replica's ``tp`` GPUs,
``expert_parallel`` = ep): vLLM ``--tensor-parallel-size TP/dp --data-parallel-size dp`` and
``--enable-expert-parallel`` (vLLM spreads the experts over all TP x DP GPUs); SGLang ``--tp TP --dp dp
--enable-dp-attention`` and ``--ep-size ep``; TensorRT-LLM ``--tp_size TP --ep_size ep`` and, for attention DP, an
``--extra_llm_api_options`` file written by the command itself (``sh -c``) with ``enable_attention_dp: true`` and
the balance settings the capacity was computed with (``attention_dp_config``: ``enable_balance: true``,
``timeout_iters`` = the engine constant ``adp_balance_iters``, ``batching_wait_iters: 0``).

int8/int4/fp4 weights (and fp8 on TensorRT-LLM) need a checkpoint quantised ahead of time (AWQ, GPTQ, ModelOpt);
engines read the method from the checkpoint, so the command carries no flag and ``MODEL`` must name such a
checkpoint: the exporter says so in a comment. Images default to each project's published serving image; pin a
version with ``--image ENGINE=IMAGE``.

GPU names: SkyPilot accelerator names (``sky show-gpus``) and the ``nvidia.com/gpu.product`` label that NVIDIA
GPU Feature Discovery sets (the ``nvidia-smi`` product name with spaces as '-'). A GPU missing from the table has
no product selector; the offer label ``fleetplan.io/offer`` still pins it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from planner.errors import InputError

if TYPE_CHECKING:  # types only
    from planner.export.groups import ReplicaGroup

PORT = 8000
EXTRA_OPTIONS = "/tmp/fleetplan-llm-api-options.yaml"
IMAGES = {"vllm": "vllm/vllm-openai:latest", "sglang": "lmsysorg/sglang:latest",
          "trtllm": "nvcr.io/nvidia/tensorrt-llm/release:latest"}
SKY_ACCELERATORS = {"rtx-4090": "RTX4090", "l4": "L4", "a10g": "A10G", "l40s": "L40S", "a100-40gb": "A100",
                    "a100-40gb-pcie": "A100", "a100-80gb": "A100-80GB", "a100-80gb-pcie": "A100-80GB",
                    "h100-pcie": "H100", "h100-sxm": "H100", "h100-nvl": "H100", "h200": "H200", "h200-nvl": "H200",
                    "b200": "B200", "b300": "B300", "mi300x": "MI300X"}
GPU_PRODUCT_LABELS = {"l4": "NVIDIA-L4", "a10g": "NVIDIA-A10G", "l40s": "NVIDIA-L40S",
                      "a100-40gb": "NVIDIA-A100-SXM4-40GB", "a100-80gb": "NVIDIA-A100-SXM4-80GB",
                      "a100-80gb-pcie": "NVIDIA-A100-80GB-PCIe", "h100-pcie": "NVIDIA-H100-PCIe",
                      "h100-sxm": "NVIDIA-H100-80GB-HBM3", "h100-nvl": "NVIDIA-H100-NVL", "h200": "NVIDIA-H200",
                      "b200": "NVIDIA-B200"}
_DTYPE = {"bf16": "bfloat16", "fp16": "float16"}
PREQUANTISED = ("int8", "int4", "fp4")


def engine_command(g: ReplicaGroup) -> tuple[list[str], list[str]]:
    """(argv, notes) to start one replica of ``g``."""
    notes = []
    engine, model, tp, precision = g.engine, g.hf_model, g.tp, g.precision
    kv_cache_dtype, max_model_len, dp, ep = g.kv_cache_dtype, g.max_model_len, g.attention_dp, g.expert_parallel
    if precision in PREQUANTISED or (engine == "trtllm" and precision == "fp8"):
        notes.append(f"{precision} weights: MODEL must be a checkpoint quantised to {precision} ahead of time "
                     f"(the engine reads the method from its config)")
    if engine == "vllm":
        argv = ["vllm", "serve", model, "--tensor-parallel-size", str(tp // dp), "--max-model-len",
                str(max_model_len), "--port", str(PORT)]
        argv += ["--data-parallel-size", str(dp)] if dp > 1 else []
        argv += ["--enable-expert-parallel"] if ep > 1 else []
        if ep > 1 and ep != tp:
            notes.append(f"vLLM spreads the experts over all {tp} GPUs; the plan's capacity assumed {ep}")
        if precision in _DTYPE:
            argv += ["--dtype", _DTYPE[precision]]
        if precision == "fp8":
            argv += ["--quantization", "fp8"]
        if kv_cache_dtype == "fp8":
            argv += ["--kv-cache-dtype", "fp8"]
    elif engine == "sglang":
        argv = ["python3", "-m", "sglang.launch_server", "--model-path", model, "--tp", str(tp), "--context-length",
                str(max_model_len), "--host", "0.0.0.0", "--port", str(PORT)]
        argv += ["--dp", str(dp), "--enable-dp-attention"] if dp > 1 else []
        argv += ["--ep-size", str(ep)] if ep > 1 else []
        if precision in _DTYPE:
            argv += ["--dtype", _DTYPE[precision]]
        if precision == "fp8":
            argv += ["--quantization", "fp8"]
        if kv_cache_dtype == "fp8":
            argv += ["--kv-cache-dtype", "fp8_e5m2"]
    elif engine == "trtllm":
        argv = ["trtllm-serve", model, "--tp_size", str(tp), "--max_seq_len", str(max_model_len),
                "--host", "0.0.0.0", "--port", str(PORT)]
        argv += ["--ep_size", str(ep)] if ep > 1 else []
        if dp > 1:   # attention DP is an LLM API option: the command writes the file it reads
            from planner.perf.calibration import default_calibration  # noqa: PLC0415

            # timeout_iters: the constant the capacity was computed with
            balance_iters = round(default_calibration().engine("trtllm").adp_balance_iters)
            # printf's \n escapes: the command stays one line
            options = (r"enable_attention_dp: true\nattention_dp_config:\n  enable_balance: true\n"
                       rf"  timeout_iters: {balance_iters}\n  batching_wait_iters: 0\n")
            argv = ["sh", "-c", f"printf '{options}' > {EXTRA_OPTIONS} && exec "
                    + shlex.join(argv + ["--extra_llm_api_options", EXTRA_OPTIONS])]
        if kv_cache_dtype == "fp8":
            notes.append("FP8 KV cache: enable it in the checkpoint's quantisation config (kv_cache_quant_algo FP8)")
    else:
        raise InputError(f"export: engine {engine!r} is not known; allowed vllm, sglang, trtllm")
    return argv, notes


def images(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Container image per engine, with ``--image ENGINE=IMAGE`` overrides applied."""
    out = dict(IMAGES)
    for k, v in (overrides or {}).items():
        if k not in IMAGES:
            raise InputError(f"--image: engine {k!r} is not known; allowed {', '.join(IMAGES)}")
        out[k] = v
    return out
