"""Nemotron-NAS's per-layer ``block_configs`` (``model_type: nemotron-nas``, Llama-3.3-Nemotron-Super-49B) read into
the record's fields.

Neural-architecture search left each of the Llama layers its own shape: attention either kept (``n_heads_in_group``
query heads per KV head) or removed (``no_op``), and an MLP of ``ffn_mult`` (width 2·ffn_mult·h/3 rounded up to a
multiple of 256, as DeciLM's ``_ffn_mult_to_intermediate_size``) or none. In the record:

    attention_free_layers = layers whose attention is a no-op (no weights, no KV)
    num_kv_heads          = num_attention_heads / n_heads_in_group (one value for every attention layer)
    mlp_free_layers       = layers whose MLP is a no-op
    intermediate_size     = the MLP layers' mean width, rounded: weights and FLOPs are linear in the width, so
                            the count is exact to within 3·h·(MLP layers)/2 weights

Read that way, Llama-3.3-Nemotron-Super-49B-v1 counts 49.87B (the name's 49B). Refused, naming what the record
lacks: attention or MLP replaced by a single linear layer, per-layer windows or sinks, sparsified blocks, and KV
head counts that differ between layers.
"""

from __future__ import annotations

import math
from typing import Any

from planner.catalog.hf_reader import ConfigReader
from planner.errors import CatalogError

_UNSUPPORTED = (("replace_with_linear", "a block replaced by one linear layer"), ("sparsify", "a sparsified block"),
                ("window_length", "a per-layer attention window"), ("num_sink_tokens", "attention sink tokens"))


def _width(ffn_mult: float, hidden: int) -> int:
    return math.ceil(int(2 * ffn_mult * hidden / 3) / 256) * 256


def nas_fields(c: ConfigReader) -> dict[str, Any]:
    """Attention-free and MLP-free layers, the KV heads and the mean MLP width; CatalogError for the rest."""
    layers, hidden, heads = c.get_int("num_hidden_layers"), c.get_int("hidden_size"), c.get_int("num_attention_heads")
    blocks = c.cfg.get("block_configs")
    if not isinstance(blocks, list) or len(blocks) != layers:
        raise CatalogError(f"{c.file}: key '{c.prefix}block_configs' must be a list of {layers} layer configs, got "
                           f"{str(blocks)[:40]}")
    groups, widths, no_attention, no_mlp = set(), [], 0, 0
    for i, block in enumerate(blocks):
        where = f"{c.file}: {c.prefix}block_configs[{i}]"
        attn, ffn = (block.get(k) if isinstance(block, dict) else None for k in ("attention", "ffn"))
        if not isinstance(attn, dict) or not isinstance(ffn, dict):
            raise CatalogError(f"{where}: expected an attention and an ffn mapping")
        for part, cfg in (("attention", attn), ("ffn", ffn)):
            for key, what in _UNSUPPORTED:
                if cfg.get(key) not in (None, False):
                    raise CatalogError(f"{where}.{part}.{key}: {what} is not something the record holds; "
                                       "not supported")
        if attn.get("no_op") is True:
            no_attention += 1
        else:
            group = attn.get("n_heads_in_group")
            if not isinstance(group, int) or isinstance(group, bool) or group < 1 or heads % group:
                raise CatalogError(f"{where}.attention.n_heads_in_group: must divide the {heads} attention heads, "
                                   f"got {str(group)[:40]}")
            groups.add(group)
        if ffn.get("no_op") is True:
            no_mlp += 1
        else:
            mult = ffn.get("ffn_mult")
            if not isinstance(mult, (int, float)) or isinstance(mult, bool) or not 0 < mult <= 64:
                raise CatalogError(f"{where}.ffn.ffn_mult: must be a number above 0 and at most 64, "
                                   f"got {str(mult)[:40]}")
            widths.append(_width(mult, hidden))
    if len(groups) > 1:
        raise CatalogError(f"{c.file}: {c.prefix}block_configs: KV head groups differ between layers "
                           f"({sorted(groups)}); the record holds one KV head count")
    return dict(num_kv_heads=heads // groups.pop() if groups else heads, attention_free_layers=no_attention,
                mlp_free_layers=no_mlp, intermediate_size=round(sum(widths) / len(widths)) if widths else 0)
