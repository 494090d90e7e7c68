"""Catalog records: one GPU, one model architecture. Plain, frozen, sourced.

These are the contract between the catalog data files, scenario additions (``gpus:`` / ``models:``),
the performance model and the reports. Field names carry units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Arch = Literal["ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"]
Attention = Literal["mha", "gqa", "mla"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class GpuSpec(_Record):
    """Dense datasheet figures for one GPU (never the 2:4-sparse marketing numbers).

    ``mig_profiles`` lists the MIG profile names of this GPU in the fixed slot order of the shared
    MIG geometry: 1g (1 mem slice), 1g with 2 mem slices, 2g, 3g, 4g, 7g (see ``planner.catalog.mig``).
    Empty when the GPU has no MIG.
    """

    id: str = Field(description="catalog id, lowercase kebab, e.g. h100-sxm")
    name: str
    aliases: tuple[str, ...] = ()
    arch: Arch
    form_factor: str = ""
    vram_gb: float = Field(gt=0, description="memory in GB (1e9 bytes), as marketed")
    vram_gib_usable: float = Field(gt=0, description="memory the driver exposes, GiB")
    mem_type: str = ""
    mem_bw_gbps: float = Field(gt=0, description="memory bandwidth, GB/s")
    tflops_bf16: float = Field(gt=0, description="dense FP16/BF16 tensor TFLOPS")
    tflops_fp8: float | None = Field(default=None, description="dense FP8 TFLOPS; None = no FP8 tensor cores")
    tops_int8: float | None = Field(default=None, description="dense INT8 TOPS")
    tflops_fp4: float | None = Field(default=None, description="dense FP4 TFLOPS; None = no FP4 tensor cores")
    datasheet_sparse_tflops_bf16: float | None = Field(
        default=None, description="the datasheet's 2:4-sparse FP16/BF16 figure, where it quotes one")
    datasheet_sparse_tflops_fp8: float | None = None
    nvlink_gbps: float = Field(ge=0, description="NVLink bandwidth per GPU, GB/s bidirectional; 0 = none")
    nvlink_max_gpus: int = Field(ge=1, description="largest NVLink group; 1 = no NVLink")
    pcie_gen: int = Field(ge=3, le=6)
    pcie_gbps: float = Field(gt=0, description="PCIe bandwidth per direction, GB/s (x16)")
    mig_profiles: tuple[str, ...] = ()
    tdp_w: float | None = None
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=4, description="date the figures were read, YYYY-MM or YYYY-MM-DD")
    confidence: Literal["high", "medium", "low"] = "medium"
    notes: str = ""

    @property
    def mig_supported(self) -> bool:
        return bool(self.mig_profiles)

    @property
    def has_nvlink(self) -> bool:
        return self.nvlink_max_gpus > 1 and self.nvlink_gbps > 0


class ModelSpec(_Record):
    """Architecture of one decoder-only transformer, enough for memory and roofline arithmetic.

    Dense models leave the MoE fields at 0. MLA models (DeepSeek-V3) set ``attention="mla"`` and the
    ``kv_lora_rank`` / ``qk_rope_head_dim`` fields. Sliding-window models set ``sliding_window`` and how
    many of the ``layers`` use it (``sliding_window_layers``); the rest use full attention. Hybrid models set
    ``linear_attention_layers`` (fixed recurrent state, no KV cache); DSA models set ``sparse_attention_topk``.
    """

    id: str = Field(description="catalog id, lowercase kebab, e.g. llama-3.1-8b")
    name: str
    hf_id: str | None = None
    aliases: tuple[str, ...] = ()
    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    num_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(ge=0, description="dense MLP width (dense layers of MoE models too)")
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    attention: Attention = "gqa"
    # MoE
    n_routed_experts: int = Field(default=0, ge=0)
    experts_per_token: int = Field(default=0, ge=0)
    moe_intermediate_size: int = Field(default=0, ge=0)
    n_shared_experts: int = Field(default=0, ge=0)
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense MLP (DeepSeek-V3: 3)")
    # hybrid stacks whose blocks are each one kind (Nemotron-H: Mamba-2, attention, MLP or MoE blocks): a layer here
    # is one mixer block with the MLP block after it, and the mixer blocks with no MLP after them are counted apart
    mlp_free_layers: int = Field(default=0, ge=0, description="layers whose mixer has no MLP after it (Nemotron-H)")
    mlp_gated: bool = Field(default=True, description="gated MLPs (gate, up, down: SwiGLU/GeGLU), or plain ones "
                                                      "(up, down: Nemotron-H's squared ReLU)")
    # a latent MoE (Nemotron 3 Super, Ultra): tokens are projected from hidden_size down to this width, routed to
    # experts that work in it, and projected back; the shared experts stay in hidden_size
    moe_latent_size: int = Field(default=0, ge=0, description="width the routed experts work in (latent MoE); "
                                                              "0 = hidden_size")
    # a second head shape on the full-attention layers (Gemma 4: the sliding layers keep head_dim and num_kv_heads)
    global_head_dim: int = Field(default=0, ge=0, description="head dimension of the full-attention layers; "
                                                              "0 = head_dim")
    global_kv_heads: int = Field(default=0, ge=0, description="key/value heads of the full-attention layers; "
                                                              "0 = num_kv_heads")
    global_k_eq_v: bool = Field(default=False, description="the full-attention layers' keys double as values (no "
                                                           "value projection; the cache still holds both)")
    dense_mlp_beside_moe: bool = Field(default=False, description="every MoE layer also runs a dense MLP of "
                                                                  "intermediate_size (Gemma 4 26B-A4B)")
    # MLA (DeepSeek-V2/V3)
    q_lora_rank: int = Field(default=0, ge=0)
    kv_lora_rank: int = Field(default=0, ge=0)
    qk_nope_head_dim: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0, description="value width per head (MLA; or GQA values narrower than "
                                                         "the keys, MiMo-V2-Flash); 0 = head_dim for GQA")
    # sliding window
    sliding_window: int | None = Field(default=None, gt=0)
    sliding_window_layers: int = Field(default=0, ge=0)
    # linear attention (Qwen3.5 / Qwen3-Next Gated DeltaNet): these layers keep a fixed-size recurrent state per
    # sequence instead of a KV cache; the remaining ``layers - linear_attention_layers`` use full attention
    linear_attention_layers: int = Field(default=0, ge=0)
    # layers whose block has no attention at all, only the MLP (Nemotron-NAS's no-op attention): no KV, no weights
    attention_free_layers: int = Field(default=0, ge=0, description="layers with no attention block (Nemotron-NAS)")
    linear_num_key_heads: int = Field(default=0, ge=0)
    linear_num_value_heads: int = Field(default=0, ge=0)
    linear_key_head_dim: int = Field(default=0, ge=0)
    linear_value_head_dim: int = Field(default=0, ge=0)
    linear_conv_kernel_dim: int = Field(default=0, ge=0)
    # DeepSeek sparse attention (DeepSeek-V3.2, GLM-5): an indexer picks ``sparse_attention_topk`` earlier tokens per
    # query and MLA attends to those only; the indexer keeps its own ``index_head_dim`` key per token and layer
    sparse_attention_topk: int = Field(default=0, ge=0, description="0 = dense attention")
    index_n_heads: int = Field(default=0, ge=0)
    index_head_dim: int = Field(default=0, ge=0)
    # GLM-5.2's ``indexer_types``: a "shared" layer reuses the tokens the full-indexer layer before it picked, and has
    # no indexer of its own (no weights, no cached key, no scoring)
    index_shared_layers: int = Field(default=0, ge=0, description="DSA layers that reuse the indices of the "
                                                                  "layer before them and run no indexer of their own")
    max_context: int = Field(gt=0)
    # the format of the model's own 4-bit checkpoint, which picks the kernels of the weight-only 4-bit path (precision
    # int4, on GPUs without FP4 tensor cores): group-scaled integers (AWQ, GPTQ, compressed-tensors pack-quantized:
    # Kimi-K2.5) or OpenAI's MXFP4 (gpt-oss), whose MoE kernels differ (``EngineFactors.wna16_moe_read``)
    weight_only_4bit: Literal["wna16", "mxfp4"] = Field(
        "wna16", description="4-bit checkpoint format: wna16 (group-scaled INT4) or mxfp4 (OpenAI MXFP4)")
    published_total_params_b: float = Field(gt=0, description="published size, billions")
    published_active_params_b: float = Field(gt=0)
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=4)
    confidence: Literal["high", "medium", "low"] = Field(
        "high", description="how far the performance model can trust the row: high = config.json facts the model "
                            "uses as they are; medium = an architecture feature approximated (see notes)")
    notes: str = ""

    @model_validator(mode="after")
    def _mlp_layers_fit(self) -> "ModelSpec":
        dense = self.first_dense_layers if self.n_routed_experts else 0
        if self.mlp_free_layers + dense > self.layers:
            raise ValueError(f"mlp_free_layers ({self.mlp_free_layers}) plus first_dense_layers ({dense}) exceed "
                             f"layers ({self.layers})")
        if self.index_shared_layers and (not self.sparse_attention_topk or self.index_shared_layers >= self.layers):
            raise ValueError(f"index_shared_layers ({self.index_shared_layers}) needs sparse attention "
                             f"(sparse_attention_topk > 0) and a first layer with an indexer of its own "
                             f"(fewer than layers = {self.layers})")
        if self.attention_free_layers + self.linear_attention_layers > self.layers:
            raise ValueError(f"attention_free_layers ({self.attention_free_layers}) plus linear_attention_layers "
                             f"({self.linear_attention_layers}) exceed layers ({self.layers})")
        return self

    @property
    def is_moe(self) -> bool:
        return self.n_routed_experts > 0

    @property
    def sparse_mla(self) -> bool:
        """DeepSeek sparse attention: MLA whose indexer picks ``sparse_attention_topk`` tokens per query."""
        return self.attention == "mla" and self.sparse_attention_topk > 0

    @property
    def index_layers(self) -> int:
        """Layers that run a DSA indexer of their own: all but the ``index_shared_layers`` (0 without DSA)."""
        return self.layers - self.index_shared_layers if self.sparse_mla else 0

    @property
    def kv_cache_layers(self) -> int:
        """Layers that hold a per-token KV cache (all but the linear-attention and attention-free layers)."""
        return max(0, self.layers - min(self.linear_attention_layers, self.layers) - self.attention_free_layers)
