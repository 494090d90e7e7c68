"""Why a Hugging Face ``config.json`` cannot be imported: the 2025-26 families the architecture record cannot
express yet, each with what it lacks, and the ModelOpt quantization file that is often passed by mistake.

A refusal names what the record (:class:`~planner.catalog.records.ModelSpec`: one attention kind and one MLP kind
per layer, one head shape, a KV cache or a linear-attention state) would have to gain, so that the user knows the
refusal is about the model's shape, not the file, and that approximating it would misstate memory or step time.
"""

from __future__ import annotations

import re
from typing import Any

# model_type -> what the architecture has that the record cannot hold (read from the published config.json files)
NOT_REPRESENTABLE: dict[str, str] = {
    "deepseek_v4": "compressed attention with a per-layer compression ratio (compress_ratios), grouped low-rank "
                   "output projections and hyper-connections, none of which the record's MLA fields describe",
    "deepseek_ref": "DeepSeek-V4's compressed attention (per-layer compress_ratios) and hyper-connections",
    "kimi_linear": "Kimi Delta Attention layers (linear_attn_config) with MLA full-attention layers, whose state "
                   "and projections differ from the Gated DeltaNet the record holds",
    "minimax_m3": "block-sparse attention with its own indexer on most layers (sparse_attention_config: top "
                  "blocks of 128 tokens), unlike the token-level DeepSeek sparse attention the record holds",
}


def unsupported_reason(model_type: str) -> str | None:
    """What the architecture lacks in the record, for a known family; None for one never seen.

    A multimodal wrapper's text type (``minimax_m3_vl``) is read as its text family's."""
    return NOT_REPRESENTABLE.get(model_type) or NOT_REPRESENTABLE.get(model_type.removesuffix("_vl"))


def quantization_file_hint(data: dict[str, Any]) -> str | None:
    """A hint when ``data`` is NVIDIA ModelOpt's ``hf_quant_config.json`` (a ``quantization`` mapping, most with a
    ``producer``; no ``model_type``): the model's shape is in the ``config.json`` beside it."""
    if not isinstance(data.get("quantization"), dict):
        return None
    producer = data.get("producer")
    name = producer.get("name") if isinstance(producer, dict) else None
    name = f"{name} " if isinstance(name, str) and re.fullmatch(r"[\w.-]{1,40}", name) else ""  # printed: a plain name
    return (f"this is a quantization file ({name}hf_quant_config.json), not a model config; "
            "pass the config.json beside it")
