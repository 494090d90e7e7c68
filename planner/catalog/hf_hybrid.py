"""Nemotron-H's hybrid block stack (``model_type: nemotron_h``) read into the architecture record's fields.

Nemotron-H (Nemotron-H-56B, Nemotron 3 Nano, Nemotron 3.5 Lightning) stacks blocks that are each one kind, in the
order ``hybrid_override_pattern`` (or ``layers_block_type``) gives: ``M`` Mamba-2, ``*`` attention, ``-`` MLP,
``E`` MoE. The record pairs a mixer with an MLP in every layer, so (``planner.catalog.params``):

    layers            L   = #M + #*                      one per mixer block
    linear layers     L_lin = #M                         Mamba-2 as linear attention: n_k = n_groups,
                                                         d_k = ssm_state_size, n_v = mamba_num_heads,
                                                         d_v = mamba_head_dim, K = conv_kernel
    MLP-free layers   L_0 = L − (#- + #E)                mixers with no MLP after them (order does not count)
    dense layers      #-  (first_dense_layers in a MoE model)
    MLPs              plain squared ReLU (up, down): mlp_gated false
    shared expert     of width I_s = s·I_moe: s experts of width I_moe in h (same weights and FLOPs)
    latent MoE        ``moe_latent_size`` ℓ (Nemotron 3 Super, Ultra): the routed experts work in ℓ (2·ℓ·I_moe
                      each), the tokens projected down and back up (2·h·ℓ per MoE layer), the shared expert in h.
                      Checked against NVIDIA's sizes: Super 120.67B total / 12.23B active without the input
                      embedding ("120B-A12B"), Ultra 549.3B / 55.0B ("550B-A55B").

Refused, naming what the record lacks: more MLP blocks than mixers, an unknown block letter, and an MLP activation
other than squared ReLU.
"""

from __future__ import annotations

from typing import Any

from planner.catalog.hf_reader import ConfigReader
from planner.errors import CatalogError

_KINDS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}


def _pattern(c: ConfigReader) -> str:
    pattern = c.cfg.get("hybrid_override_pattern")
    where = "hybrid_override_pattern"
    if pattern is None and isinstance(c.cfg.get("layers_block_type"), list):
        where = "layers_block_type"
        kinds = c.cfg["layers_block_type"]
        bad = [k for k in kinds if not isinstance(k, str) or k not in _KINDS]
        if bad:
            raise CatalogError(f"{c.file}: {c.prefix}{where}: unknown block type {str(bad[0])[:40]!r} "
                               f"(known: {', '.join(_KINDS)})")
        pattern = "".join(_KINDS[k] for k in kinds)
    if not isinstance(pattern, str) or not pattern:
        raise CatalogError(f"{c.file}: missing key '{c.prefix}hybrid_override_pattern' (needed for nemotron_h)")
    bad = sorted(set(pattern) - set("M*-E"))
    if bad:
        raise CatalogError(f"{c.file}: {c.prefix}{where}: unknown block letter {bad[0]!r} (known: M Mamba-2, "
                           "* attention, - MLP, E MoE)")
    if c.has("num_hidden_layers") and c.get_int("num_hidden_layers") != len(pattern):
        raise CatalogError(f"{c.file}: {c.prefix}num_hidden_layers {c.get_int('num_hidden_layers')} differs from the "
                           f"{len(pattern)} blocks of {where}")
    return pattern


def nemotron_h_fields(c: ConfigReader) -> dict[str, Any]:
    """The record's fields for a Nemotron-H config (``layers`` and ``head_dim`` among them); CatalogError when the
    stack is one the record cannot hold."""
    latent = c.get_int("moe_latent_size", default=0)
    if latent and latent >= c.get_int("hidden_size"):
        raise CatalogError(f"{c.file}: {c.prefix}moe_latent_size {latent} is not below hidden_size "
                           f"{c.get_int('hidden_size')}; a latent MoE works in a narrower space")
    act = c.cfg.get("mlp_hidden_act", "relu2")
    if act != "relu2":
        raise CatalogError(f"{c.file}: {c.prefix}mlp_hidden_act {str(act)[:40]!r}: only Nemotron-H's squared ReLU "
                           "('relu2', a plain up/down MLP) is supported")
    pattern = _pattern(c)
    mamba, attention = pattern.count("M"), pattern.count("*")
    dense, moe = pattern.count("-"), pattern.count("E")
    mixers = mamba + attention
    if dense + moe > mixers:
        raise CatalogError(f"{c.file}: {dense + moe} MLP blocks for {mixers} mixer blocks: the record pairs at most "
                           "one MLP with each mixer")
    out: dict[str, Any] = dict(layers=mixers, mlp_free_layers=mixers - dense - moe, mlp_gated=False)
    out["head_dim"] = c.get_int("head_dim", default=0) or c.get_int("attention_head_dim")
    if mamba:
        out.update(linear_attention_layers=mamba, linear_num_key_heads=c.get_int("n_groups"),
                   linear_key_head_dim=c.get_int("ssm_state_size"),
                   linear_num_value_heads=c.get_int("mamba_num_heads"),
                   linear_value_head_dim=c.get_int("mamba_head_dim"),
                   linear_conv_kernel_dim=c.get_int("conv_kernel"))
    if moe:
        width = c.get_int("moe_intermediate_size")
        shared = c.get_int("moe_shared_expert_intermediate_size", default=0)
        if width < 1 or shared % width:
            raise CatalogError(f"{c.file}: {c.prefix}moe_shared_expert_intermediate_size {shared} is not a whole "
                               f"number of experts of moe_intermediate_size {width}; not supported")
        out.update(n_shared_experts=shared // width, first_dense_layers=dense, moe_latent_size=latent)
    elif not dense:
        raise CatalogError(f"{c.file}: {c.prefix}hybrid_override_pattern has no MLP block")
    return out


def nemotron_h_note(fields: dict[str, Any], layers: int) -> str:
    """What the import approximated, for ``notes``."""
    n_lin = fields.get("linear_attention_layers", 0)
    parts = [f"Nemotron-H hybrid: {n_lin} Mamba-2 and {layers - n_lin} attention mixer blocks, each a "
             f"layer with the MLP block after it ({fields['mlp_free_layers']} have none); Mamba-2 as "
             "linear attention (state heads x head_dim x ssm_state, FP32); squared-ReLU MLPs (up, down)"]
    if fields.get("n_shared_experts", 0) > 1:
        parts.append(f"the shared expert counted as {fields['n_shared_experts']} experts of moe_intermediate_size "
                     "(in hidden_size)")
    if fields.get("moe_latent_size"):
        parts.append(f"latent MoE: routed experts in a {fields['moe_latent_size']}-wide space, with the projections "
                     "down and back counted per MoE layer")
    parts.append("confidence medium: the performance model charges the Mamba-2 state's read and write each step, "
                 "not its scan, and per-layer step costs once per mixer")
    return "; ".join(parts)
