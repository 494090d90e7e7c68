"""MiMo-V2-Flash's ``config.json`` (``model_type: mimo_v2_flash``) read into the record's fields.

Xiaomi's MiMo-V2-Flash alternates sliding-window layers (``hybrid_layer_pattern`` 1, window ``sliding_window``) with
full-attention layers (0). Both kinds have ``num_attention_heads`` query heads of ``head_dim`` and values of
``v_head_dim`` (narrower than the keys); the sliding layers have ``swa_num_key_value_heads`` KV heads, the full
ones ``num_key_value_heads``. The record's default shape is the sliding layers' and its global shape the full
layers' (``global_kv_heads``). ``moe_layer_freq`` is a list: its leading zeros are dense layers. Read that way the
counts give Xiaomi's 309B total, 15B active (``tests/test_hf_config.py``). The sliding layers' attention-sink bias
(one value per head) is not counted.
"""

from __future__ import annotations

from typing import Any

from planner.catalog.hf_reader import ConfigReader
from planner.errors import CatalogError


def _int_list(c: ConfigReader, key: str, length: int) -> list[int]:
    value = c.cfg.get(key)
    if not isinstance(value, list) or len(value) != length or any(v not in (0, 1) or isinstance(v, bool)
                                                                    for v in value):
        raise CatalogError(f"{c.file}: key '{c.prefix}{key}' must be a list of {length} zeros and ones (one per "
                           f"layer), got {str(value)[:40]}")
    return value


def mimo_v2_fields(c: ConfigReader) -> dict[str, Any]:
    """The two KV head counts, the value width, the sliding layers and the leading dense layers."""
    layers = c.get_int("num_hidden_layers")
    for swa, key in (("swa_num_attention_heads", "num_attention_heads"), ("swa_head_dim", "head_dim"),
                     ("swa_v_head_dim", "v_head_dim")):
        if c.has(swa) and c.get_int(swa) != c.get_int(key):
            raise CatalogError(f"{c.file}: {c.prefix}{swa} {c.get_int(swa)} differs from {key} {c.get_int(key)}: "
                               "the record holds one query shape for both kinds of layer; not supported")
    pattern = _int_list(c, "hybrid_layer_pattern", layers)
    moe = _int_list(c, "moe_layer_freq", layers)
    dense = moe.index(1) if 1 in moe else layers
    if not all(moe[dense:]):
        raise CatalogError(f"{c.file}: {c.prefix}moe_layer_freq has dense layers after MoE ones; only leading dense "
                           "layers are supported")
    sliding = sum(pattern)
    return dict(num_kv_heads=c.get_int("swa_num_key_value_heads"), global_kv_heads=c.get_int("num_key_value_heads"),
                v_head_dim=c.get_int("v_head_dim"), sliding_window=c.get_int("sliding_window") if sliding else None,
                sliding_window_layers=sliding, first_dense_layers=dense)
