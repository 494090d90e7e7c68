"""Gemma 4's ``text_config`` (``model_type: gemma4_text``) read into the record's fields beyond the common ones.

Gemma 4 (31B dense, 26B-A4B MoE) alternates sliding-window layers (``head_dim``, ``num_key_value_heads``) with
full-attention layers of another head shape (``global_head_dim``, ``num_global_key_value_heads``) whose keys double
as values (``attention_k_eq_v``: no value projection there). Its MoE model runs a dense MLP of
``intermediate_size`` beside the routed experts in every layer (``enable_moe_block``), and names the experts per
token ``top_k_experts``. Read that way, the counts give Google's sizes: 31B 30.70B; 26B-A4B 25.23B total, 3.82B
active (``tests/test_hf_gemma4.py``).

Refused, naming what the record lacks: per-layer input embeddings (``hidden_size_per_layer_input``, the small
E2B/E4B models), layers that reuse another layer's KV (``num_kv_shared_layers``) and the double-wide MLP.
"""

from __future__ import annotations

from typing import Any

from planner.catalog.hf_reader import ConfigReader
from planner.errors import CatalogError


def gemma4_fields(c: ConfigReader) -> dict[str, Any]:
    """The global head shape and the MLP beside the experts; CatalogError for the variants the record cannot hold."""
    for key, what in (("hidden_size_per_layer_input", "per-layer input embeddings"),
                      ("num_kv_shared_layers", "layers that reuse another layer's KV cache")):
        if c.get_int(key, default=0):
            raise CatalogError(f"{c.file}: {c.prefix}{key} {c.get_int(key)}: {what} (Gemma 4's small models) are not "
                               "something the architecture record holds; not supported")
    if c.cfg.get("use_double_wide_mlp") not in (None, False):
        raise CatalogError(f"{c.file}: {c.prefix}use_double_wide_mlp: a double-wide MLP is not supported")
    k_eq_v = c.cfg.get("attention_k_eq_v", False)
    if not isinstance(k_eq_v, bool):
        raise CatalogError(f"{c.file}: key '{c.prefix}attention_k_eq_v' must be true or false, got {str(k_eq_v)[:40]}")
    out: dict[str, Any] = dict(global_head_dim=c.get_int("global_head_dim", default=0),
                               global_kv_heads=c.get_int("num_global_key_value_heads", default=0),
                               global_k_eq_v=k_eq_v)
    if c.cfg.get("enable_moe_block") is True:
        out["dense_mlp_beside_moe"] = True
    return out
