"""Import a model architecture from a local Hugging Face ``config.json``.

This module is longer than ~400 lines because each supported family's keys and the checks that refuse a
config the performance model cannot represent honestly live side by side.

Supported ``model_type`` values: llama, mistral, mixtral, qwen2, qwen3, qwen3_moe, deepseek_v3 (and
deepseek_v2, same fields), gemma, gemma2, gemma3 / gemma3_text (text fields nested under ``text_config``),
phi3 (Phi-3 and phi-4), and the 2025-26 MoE families:

- gpt_oss: Mixtral-style experts (``intermediate_size`` is the expert width), sliding layers from ``layer_types``.
- minimax_m2: same expert layout; ``shared_intermediate_size`` must be 0 (no shared expert).
- llama4 / llama4_text (``text_config``): ``intermediate_size`` is the routed and the shared expert's width,
  ``intermediate_size_mlp`` the dense layers'; every ``interleave_moe_layer_step``-th layer is MoE, the rest dense
  (their count goes to ``first_dense_layers``; order does not change memory or step time). Chunked local
  attention (``attention_chunk_size``) on the RoPE layers (all but every ``no_rope_layer_interval``-th, 4 by
  default) is a sliding window of the chunk size: at most one chunk of KV is attended.
- kimi_k2 / kimi_k25 (``text_config``): DeepSeek-V3 fields.
- deepseek_v32, glm_moe_dsa: MLA plus DeepSeek sparse attention (``index_topk``, ``index_n_heads``,
  ``index_head_dim`` -> sparse_attention_topk, index_n_heads, index_head_dim); GLM-5.2's ``indexer_types`` (one
  ``full`` or ``shared`` per layer, the first ``full``) -> index_shared_layers: a shared layer reuses the tokens
  the layer before it picked and has no indexer of its own.
- qwen3_5_moe / qwen3_5_moe_text (``text_config``): Gated DeltaNet linear attention on the
  ``linear_attention`` entries of ``layer_types`` (linear_* keys), a shared expert whose width must equal
  ``moe_intermediate_size``. qwen3_5 / qwen3_5_text (Qwen3.5-27B, Qwen3.6-27B): the same layers with a dense MLP.
- qwen3_vl / qwen3_vl_moe (``text_config``: qwen3_vl_text, qwen3_vl_moe_text): the Qwen3 / Qwen3-MoE decoder, read
  with those families' rules (multimodal RoPE changes no weight and no cache).
- mimo (Xiaomi MiMo-7B): the Qwen2 decoder plus multi-token-prediction layers (not counted, as DeepSeek-V3's).
- step3p7 (Step-3.7-Flash): GQA with sliding layers from ``layer_types``, leading dense layers
  (``first_k_dense_replace``) and one shared expert whose width (``share_expert_dim``) must equal
  ``moe_intermediate_size``.
- nemotron_h (Nemotron-H-56B, Nemotron 3 Nano / Super / Ultra, Nemotron 3.5 Lightning): Mamba-2, attention, MLP
  and MoE blocks, Super's and Ultra's latent MoE included, read by :mod:`planner.catalog.hf_hybrid`.
- gemma4 / gemma4_text (``text_config``; Gemma 4 31B and 26B-A4B): sliding layers from ``layer_types``, the
  full-attention layers' own head shape and the dense MLP beside the experts, read by
  :mod:`planner.catalog.hf_gemma4`.
- mimo_v2_flash (MiMo-V2-Flash): sliding and full layers with their own KV heads, values narrower than keys, read
  by :mod:`planner.catalog.hf_mimo_v2`.
- nemotron-nas (Llama-3.3-Nemotron-Super-49B): per-layer ``block_configs`` (layers without attention, MLPs of
  different widths), read by :mod:`planner.catalog.hf_nas`.

Vision towers are not counted (``vision_config``): the record is the text decoder, as the catalog's rows are, and
an import with a ``vision_config`` says so in ``notes``. Families the record cannot express (DeepSeek-V4's
compressed attention, Kimi-Linear, MiniMax-M3's block-sparse attention, ...) are refused with what they lack
(:mod:`planner.catalog.hf_unsupported`, :mod:`planner.catalog.hf_hybrid`).

Field mapping (config key -> ModelSpec field):

    num_hidden_layers -> layers              hidden_size -> hidden_size
    num_attention_heads -> num_heads         num_key_value_heads -> num_kv_heads   (default: num_heads)
    head_dim -> head_dim                     (default: hidden_size / num_attention_heads; MLA: nope + rope)
    intermediate_size -> intermediate_size   vocab_size, max_position_embeddings, tie_word_embeddings
    num_local_experts | num_experts | n_routed_experts -> n_routed_experts
    num_experts_per_tok -> experts_per_token
    moe_intermediate_size -> moe_intermediate_size   (Mixtral: intermediate_size, its expert width)
    n_shared_experts, first_k_dense_replace -> first_dense_layers
    q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim   (MLA)
    sliding_window + layer_types | sliding_window_pattern | the family's fixed rule -> sliding_window_layers
    quantization_config.quant_method == "mxfp4" -> weight_only_4bit "mxfp4" (gpt-oss); otherwise "wna16"

Where a family's published configs omit a key and ``transformers`` supplies the default (Gemma-3's
``text_config`` has no vocab_size; Gemma's tie_word_embeddings), that default is used and named in
``notes``. Structural keys (sizes, layers, heads) are never guessed: a missing one is a CatalogError
naming the file and the key.

An import has no published parameter count, so ``published_*_params_b`` are the computed counts and
``notes`` says so.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from planner.catalog.hf_gemma4 import gemma4_fields
from planner.catalog.hf_hybrid import nemotron_h_fields, nemotron_h_note
from planner.catalog.hf_mimo_v2 import mimo_v2_fields
from planner.catalog.hf_nas import nas_fields
from planner.catalog.hf_unsupported import quantization_file_hint, unsupported_reason
from planner.catalog.params import active_params, total_params
from planner.catalog.records import ModelSpec
from planner.errors import CatalogError, InputError
from planner.suggest import did_you_mean

SUPPORTED = (
    "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "deepseek_v2", "deepseek_v3",
    "gemma", "gemma2", "gemma3", "gemma3_text", "phi3",
    "gpt_oss", "minimax_m2", "llama4", "llama4_text", "kimi_k2", "kimi_k25", "deepseek_v32", "glm_moe_dsa",
    "qwen3_5_moe", "qwen3_5_moe_text", "qwen3_5", "qwen3_5_text", "qwen3_vl", "qwen3_vl_text",
    "qwen3_vl_moe", "qwen3_vl_moe_text", "mimo", "step3p7", "nemotron_h", "gemma4", "gemma4_text", "mimo_v2_flash",
    "nemotron-nas",
)
_TEXT_OF = {"gemma3": "gemma3_text", "llama4": "llama4_text", "kimi_k25": "kimi_k2",
            "qwen3_5_moe": "qwen3_5_moe_text", "qwen3_5": "qwen3_5_text", "qwen3_vl": "qwen3_vl_text",
            "qwen3_vl_moe": "qwen3_vl_moe_text", "gemma4": "gemma4_text"}
# families read with another family's rules: the same decoder under another name
_BACKBONE = {"qwen3_vl_text": "qwen3", "qwen3_vl_moe_text": "qwen3_moe", "mimo": "qwen2"}
_MLA = ("deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2", "glm_moe_dsa")
_EXPERT_WIDTH_IS_INTERMEDIATE = ("mixtral", "gpt_oss", "minimax_m2", "llama4_text")
# families whose shape needs a reader of its own (planner.catalog.hf_*): fields for the record, some of them core ones
_FAMILY_FIELDS = {"nemotron_h": nemotron_h_fields, "gemma4_text": gemma4_fields, "mimo_v2_flash": mimo_v2_fields,
                  "nemotron-nas": nas_fields}
# families with one shared expert whose width has its own key (it must equal the routed experts')
_SHARED_EXPERT_KEYS = {"qwen3_5_moe_text": "shared_expert_intermediate_size", "step3p7": "share_expert_dim"}

# transformers' config-class defaults for keys the families' published configs leave out.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {"tie_word_embeddings": False},
    "mistral": {"tie_word_embeddings": False},
    "mixtral": {"tie_word_embeddings": False},
    "qwen2": {"tie_word_embeddings": False},
    "qwen3": {"tie_word_embeddings": False},
    "qwen3_moe": {"tie_word_embeddings": False},
    "deepseek_v2": {"tie_word_embeddings": False},
    "deepseek_v3": {"tie_word_embeddings": False},
    "phi3": {"tie_word_embeddings": False},
    "gpt_oss": {"tie_word_embeddings": False},
    "minimax_m2": {"tie_word_embeddings": False},
    "llama4_text": {"tie_word_embeddings": False, "no_rope_layer_interval": 4},
    "kimi_k2": {"tie_word_embeddings": False},
    "deepseek_v32": {"tie_word_embeddings": False},
    "glm_moe_dsa": {"tie_word_embeddings": False},
    "qwen3_5_moe_text": {"tie_word_embeddings": False},
    "qwen3_5_text": {"tie_word_embeddings": False},
    "step3p7": {"tie_word_embeddings": False},
    "nemotron_h": {"tie_word_embeddings": False},
    "gemma4_text": {"tie_word_embeddings": True},
    "mimo_v2_flash": {"tie_word_embeddings": False},
    "nemotron-nas": {"tie_word_embeddings": False},
    "gemma": {"tie_word_embeddings": True},
    "gemma2": {"tie_word_embeddings": True},
    "gemma3_text": {"tie_word_embeddings": True, "vocab_size": 262_208, "max_position_embeddings": 131_072,
                    "sliding_window_pattern": 6},
}


def model_from_hf_config(path: Union[str, Path], id: str | None = None) -> ModelSpec:  # noqa: A002 - brief's name
    """Read ``config.json`` at ``path`` (a file, or a directory holding one) into a ModelSpec.

    Raises:
        InputError: the file is missing, unreadable or not a JSON object.
        CatalogError: unsupported architecture, a missing or malformed key.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    data = _load_json(file)
    return _ConfigReader(file, data).model(id)


_MAX_INT = 2 ** 31 - 1


def _constant(name: str) -> float:
    """``Infinity``, ``-Infinity`` and ``NaN``, as Python's json writes them: published configs hold them in keys
    no import reads (Nemotron-H's ``time_step_limit: [0.0, Infinity]``); a key that is read must be finite
    (``_ConfigReader.get_int``)."""
    return float(name)


def _load_json(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = json.loads(text, parse_constant=_constant)
    except RecursionError:
        raise InputError(f"{file}: nested too deeply") from None
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise InputError(f"{file}: {exc}") from None
        raise InputError(f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: expected a JSON object (a Hugging Face config.json), got {type(data).__name__}")
    return data


def _weight_only_4bit(*configs: dict[str, Any]) -> str:
    """The ModelSpec's ``weight_only_4bit``: "mxfp4" where the checkpoint's ``quantization_config`` (top level or
    ``text_config``) says ``quant_method: mxfp4`` (OpenAI's format, gpt-oss), else "wna16"."""
    for cfg in configs:
        q = cfg.get("quantization_config")
        if isinstance(q, dict) and q.get("quant_method") == "mxfp4":
            return "mxfp4"
    return "wna16"


class _ConfigReader:
    """Reads one config dict; every error names the file and the key."""

    def __init__(self, file: Path, data: dict[str, Any]):
        self.file = file
        self.top = data
        top_type = data.get("model_type")
        text = data.get("text_config")
        if isinstance(text, dict) and (top_type in ("gemma3", None) or "num_hidden_layers" not in data):
            self.cfg = text
            self.prefix = "text_config."
            self.model_type = text.get("model_type") or top_type
        else:
            self.cfg = data
            self.prefix = ""
            self.model_type = top_type
        if self.model_type is not None and not isinstance(self.model_type, str):
            raise CatalogError(f"{file}: {self.prefix if self.model_type is not top_type else ''}model_type: must be "
                               f"a string (got {type(self.model_type).__name__}); supported: {', '.join(SUPPORTED)}")
        self.model_type = _TEXT_OF.get(self.model_type, self.model_type)
        if not self.model_type:
            hint = quantization_file_hint(data)
            raise CatalogError(f"{file}: missing key 'model_type'; " + (hint or f"supported: {', '.join(SUPPORTED)}"))
        if self.model_type not in SUPPORTED:
            why = unsupported_reason(self.model_type)
            raise CatalogError(f"{file}: unsupported model_type {self.model_type!r}"
                               + (f": {why}" if why else "") + f"; supported: {', '.join(SUPPORTED)}")
        self.source_type = self.model_type  # as the file names it, for notes
        self.model_type = _BACKBONE.get(self.model_type, self.model_type)
        self.defaults_used: list[str] = []

    # -- key access
    def _raw(self, key: str) -> Any:
        if key in self.cfg and self.cfg[key] is not None:
            return self.cfg[key]
        if self.prefix and key in self.top and self.top[key] is not None:
            return self.top[key]  # some multimodal configs keep e.g. vocab_size at the top level
        return None

    def has(self, key: str) -> bool:
        return self._raw(key) is not None

    def get_int(self, key: str, default: Any = ..., family_default: bool = False) -> int:
        value = self._raw(key)
        if value is None and family_default and key in _DEFAULTS.get(self.model_type, {}):
            value = _DEFAULTS[self.model_type][key]
            self.defaults_used.append(f"{key}={value}")
        if value is None:
            if default is ...:
                raise CatalogError(f"{self.file}: missing key '{self.prefix}{key}' (needed for {self.source_type})")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            raise CatalogError(f"{self.file}: key '{self.prefix}{key}' is not a finite number (got {value})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise CatalogError(f"{self.file}: key '{self.prefix}{key}' must be an integer, got {str(value)[:40]}")
        if not 0 <= value <= _MAX_INT:  # sizes, counts, lengths: never negative, never past 2**31 - 1
            raise CatalogError(f"{self.file}: key '{self.prefix}{key}' must be between 0 and {_MAX_INT}, "
                               f"got {str(value)[:40]}")
        return int(value)

    def get_bool(self, key: str) -> bool:
        value = self._raw(key)
        if value is None:
            value = _DEFAULTS.get(self.model_type, {}).get(key, False)
            self.defaults_used.append(f"{key}={str(value).lower()}")
        if not isinstance(value, bool):
            raise CatalogError(f"{self.file}: key '{self.prefix}{key}' must be true or false, got {value!r}")
        return value

    # -- the record
    def model(self, id: str | None) -> ModelSpec:  # noqa: A002
        c = self
        # a family reader's fields; the core ones it sets (layers, heads, widths, windows) replace the generic reads
        family = _FAMILY_FIELDS[c.model_type](c) if c.model_type in _FAMILY_FIELDS else {}
        layers = family.pop("layers", 0) or c.get_int("num_hidden_layers")
        hidden = c.get_int("hidden_size")
        heads = c.get_int("num_attention_heads")
        kv_heads = family.pop("num_kv_heads", 0) or c.get_int("num_key_value_heads", default=heads)
        family_head_dim = family.pop("head_dim", 0)
        family_window = (family.pop("sliding_window"), family.pop("sliding_window_layers")) \
            if "sliding_window_layers" in family else None
        family_intermediate = family.pop("intermediate_size", None)
        for key, value in (("num_hidden_layers", layers), ("hidden_size", hidden), ("num_attention_heads", heads),
                           ("num_key_value_heads", kv_heads)):
            if value < 1:
                raise CatalogError(f"{self.file}: key '{self.prefix}{key}' must be >= 1, got {value}")
        fields: dict[str, Any] = {}
        mla = c.model_type in _MLA
        if mla:
            fields.update(
                attention="mla",
                q_lora_rank=c.get_int("q_lora_rank", default=0),
                kv_lora_rank=c.get_int("kv_lora_rank"),
                qk_nope_head_dim=c.get_int("qk_nope_head_dim"),
                qk_rope_head_dim=c.get_int("qk_rope_head_dim"),
                v_head_dim=c.get_int("v_head_dim"),
            )
            head_dim = fields["qk_nope_head_dim"] + fields["qk_rope_head_dim"]
            if c.has("index_topk"):
                fields.update(sparse_attention_topk=c.get_int("index_topk"),
                              index_n_heads=c.get_int("index_n_heads"), index_head_dim=c.get_int("index_head_dim"),
                              index_shared_layers=self._shared_indexers(layers))
        else:
            head_dim = family_head_dim or c.get_int("head_dim", default=0) or _even(hidden, heads, c)
            fields["attention"] = "mha" if kv_heads == heads else "gqa"
        fields.update(self._moe())
        fields.update(self._linear(layers))
        fields.update(family)
        window, window_layers = family_window or self._sliding(layers)
        if family_intermediate is not None:
            intermediate = family_intermediate
        elif c.model_type == "llama4_text":
            intermediate = c.get_int("intermediate_size_mlp") if fields.get("first_dense_layers") else \
                c.get_int("intermediate_size_mlp", default=0)
        elif c.model_type in _EXPERT_WIDTH_IS_INTERMEDIATE:
            intermediate = c.get_int("intermediate_size")
        elif fields.get("n_routed_experts") and not fields.get("first_dense_layers"):
            intermediate = c.get_int("intermediate_size", default=0)  # unused when every layer is MoE
        else:
            intermediate = c.get_int("intermediate_size")
        ident = id or _slug_from(self.top, self.file, c.source_type)
        hf_id = self.top.get("_name_or_path") if "/" in str(self.top.get("_name_or_path", "")) else None
        if hf_id and str(hf_id).startswith(("/", ".", "~")):
            hf_id = None
        values: dict[str, Any] = dict(
            id=ident,
            name=str(ident),
            hf_id=hf_id,
            layers=layers,
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=kv_heads,
            head_dim=head_dim,
            intermediate_size=intermediate,
            vocab_size=c.get_int("vocab_size", family_default=True),
            tie_word_embeddings=c.get_bool("tie_word_embeddings"),
            sliding_window=window,
            sliding_window_layers=window_layers,
            max_context=c.get_int("max_position_embeddings", family_default=True),
            weight_only_4bit=_weight_only_4bit(self.top, c.cfg),
            published_total_params_b=1.0,  # placeholder, replaced by the computed count below
            published_active_params_b=1.0,
            source=f"hf config.json: {self.file}",
            as_of=_mtime_date(self.file),
            **fields,
        )
        try:
            spec = ModelSpec(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise CatalogError(f"{self.file}: field {loc!r}: {err['msg']}") from None
        total, active = total_params(spec), active_params(spec)
        notes = [f"imported from {c.source_type} config; published_* = computed counts (no published figure)"]
        mtp = (c.get_int("num_nextn_predict_layers", default=0) or c.get_int("mtp_num_hidden_layers", default=0)
               or c.get_int("num_mtp_modules", default=0))
        if c.model_type == "llama4_text" and window_layers:
            notes.append(f"chunked local attention (chunk {window}) on {window_layers} of {layers} layers "
                         "modelled as a sliding window of the chunk size")
        if c.model_type == "llama4_text" and fields.get("first_dense_layers"):
            notes.append(f"{fields['first_dense_layers']} dense layers interleaved with the MoE layers "
                         "(first_dense_layers holds their count)")
        if c.model_type == "nemotron_h":
            notes.append(nemotron_h_note(fields, layers))
        elif fields.get("linear_attention_layers"):
            notes.append(f"{fields['linear_attention_layers']} of {layers} layers are Gated DeltaNet linear "
                         "attention (fixed state, no KV cache); full-attention output gate not counted")
        if fields.get("sparse_attention_topk"):
            notes.append(f"DeepSeek sparse attention: each query attends to the top {fields['sparse_attention_topk']} "
                         "tokens chosen by the indexer; the full MLA latent and the indexer key are cached per token")
            if fields.get("index_shared_layers"):
                n = fields["index_shared_layers"]
                notes.append(f"{n} of {layers} layers reuse the tokens the layer before them picked (indexer_types "
                             f"'shared'): no indexer weights, key cache or scoring there; {layers - n} run the indexer")
        if mtp:
            notes.append(f"{mtp} multi-token-prediction layer(s) in the checkpoint are not counted")
        if fields.get("global_head_dim") or fields.get("global_kv_heads"):
            n_full = layers - window_layers - fields.get("linear_attention_layers", 0)
            notes.append(f"{n_full} full-attention layers with head_dim {fields.get('global_head_dim') or head_dim} "
                         f"and {fields.get('global_kv_heads') or kv_heads} KV heads"
                         + (" whose keys double as values (no value projection; the cache is charged keys and values, "
                            "as the engines first implemented it)" if fields.get("global_k_eq_v") else ""))
        if c.model_type == "nemotron-nas":
            notes.append(f"{fields['attention_free_layers']} of {layers} layers have no attention (no KV) and "
                         f"{fields['mlp_free_layers']} no MLP; the MLPs' widths differ by layer, their mean "
                         f"{intermediate} stands for them")
        if c.model_type == "mimo_v2_flash":
            notes.append(f"values of {fields['v_head_dim']} per head against keys of {head_dim}; the sliding layers' "
                         "attention-sink bias (one value per head) is not counted")
        if fields.get("dense_mlp_beside_moe"):
            notes.append(f"a dense MLP of {intermediate} beside the experts in every MoE layer")
        if isinstance(self.top.get("vision_config"), dict):
            notes.append("text decoder only: the vision encoder (vision_config) is not counted; its weights need "
                         "memory beside these unless the engine serves text only")
        if self.defaults_used:
            notes.append("transformers defaults used: " + ", ".join(self.defaults_used))
        # an architecture feature the performance model approximates (the catalog's rules for `confidence`)
        approximated = fields.get("linear_attention_layers") or fields.get("sparse_attention_topk") or \
            (c.model_type == "llama4_text" and window_layers) or fields.get("global_k_eq_v")
        return spec.model_copy(update=dict(
            confidence="medium" if approximated else "high",
            published_total_params_b=total / 1e9,
            published_active_params_b=active / 1e9,
            notes="; ".join(notes),
        ))

    def _moe(self) -> dict[str, int]:
        c = self
        experts = 0
        for key in ("num_local_experts", "num_experts", "n_routed_experts"):
            if c.has(key):
                experts = c.get_int(key)
                break
        if not experts:
            return {}
        per_token = "top_k_experts" if c.model_type == "gemma4_text" else "num_experts_per_tok"
        out = dict(n_routed_experts=experts, experts_per_token=c.get_int(per_token))
        if c.model_type in _EXPERT_WIDTH_IS_INTERMEDIATE:
            out["moe_intermediate_size"] = c.get_int("intermediate_size")
        else:
            out["moe_intermediate_size"] = c.get_int("moe_intermediate_size")
        out["n_shared_experts"] = c.get_int("n_shared_experts", default=0)
        if c.model_type == "llama4_text":
            out["n_shared_experts"] = 1  # Llama4TextMoe: one shared expert of the routed width in every MoE layer
            step = c.get_int("interleave_moe_layer_step", default=1)
            layers = c.get_int("num_hidden_layers")
            moe_layers = len(range(step - 1, layers, step)) if step > 0 else 0
            out["first_dense_layers"] = layers - moe_layers
            return out
        if c.model_type == "minimax_m2" and c.get_int("shared_intermediate_size", default=0):
            raise CatalogError(f"{self.file}: shared_intermediate_size > 0 (MiniMax shared expert) is not supported")
        width_key = _SHARED_EXPERT_KEYS.get(c.model_type)
        if width_key and c.get_int(width_key, default=0):
            width = c.get_int(width_key)
            if width != out["moe_intermediate_size"]:
                raise CatalogError(f"{self.file}: {width_key} {width} differs from "
                                   f"moe_intermediate_size {out['moe_intermediate_size']}; not supported")
            out["n_shared_experts"] = max(1, out["n_shared_experts"])
        if c.model_type != "mimo_v2_flash" and c.get_int("moe_layer_freq", default=1) != 1:
            raise CatalogError(f"{self.file}: moe_layer_freq != 1 (interleaved dense/MoE layers) is not supported")
        first_dense = c.get_int("first_k_dense_replace", default=0)
        # Qwen-MoE: dense layers listed in mlp_only_layers, or every decoder_sparse_step-th layer is MoE.
        dense_list = c.cfg.get("mlp_only_layers") or []
        if not isinstance(dense_list, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                       for x in dense_list):
            raise CatalogError(f"{self.file}: key '{self.prefix}mlp_only_layers' must be a list of layer indexes, "
                               f"got {str(dense_list)[:40]}")
        step = c.get_int("decoder_sparse_step", default=1)
        if step != 1:
            raise CatalogError(f"{self.file}: decoder_sparse_step {step} (interleaved dense/MoE layers) is not supported")
        if dense_list:
            if sorted(dense_list) != list(range(len(dense_list))):
                raise CatalogError(f"{self.file}: mlp_only_layers {dense_list} are not the leading layers; "
                                   "only leading dense layers are supported")
            first_dense = len(dense_list)
        out["first_dense_layers"] = first_dense
        if c.get_int("shared_expert_intermediate_size", default=0) and c.model_type not in _SHARED_EXPERT_KEYS:
            raise CatalogError(f"{self.file}: shared_expert_intermediate_size (Qwen2-MoE style shared expert) "
                               "is not supported")
        return out

    def _shared_indexers(self, layers: int) -> int:
        """Layers whose ``indexer_types`` entry is ``shared`` (0 without the key): one entry per layer, each
        ``full`` or ``shared``, and the first layer ``full`` (a shared layer reuses the indices before it)."""
        kinds = self._raw("indexer_types")
        if kinds is None:
            return 0
        key = f"{self.prefix}indexer_types"
        if not isinstance(kinds, list) or len(kinds) != layers:
            got = f"{len(kinds)} entries" if isinstance(kinds, list) else type(kinds).__name__
            raise CatalogError(f"{self.file}: key '{key}' must list one entry per layer ({layers}), got {got}")
        bad = sorted({str(k)[:20] for k in kinds if k not in ("full", "shared")})
        if bad:
            raise CatalogError(f"{self.file}: key '{key}' has {', '.join(map(repr, bad))}; allowed: 'full', 'shared'"
                               f"{did_you_mean(bad[0], ('full', 'shared'))}")
        if kinds[0] != "full":
            raise CatalogError(f"{self.file}: key '{key}' starts with 'shared'; the first layer must have an indexer "
                               "of its own ('full')")
        return kinds.count("shared")

    def _linear(self, layers: int) -> dict[str, int]:
        """Gated DeltaNet layers of a hybrid model (``layer_types`` entries ``linear_attention``)."""
        c = self
        layer_types = c.cfg.get("layer_types")
        if not isinstance(layer_types, list):
            return {}
        n = sum(1 for t in layer_types if t == "linear_attention")
        if not n:
            return {}
        return dict(linear_attention_layers=n, linear_num_key_heads=c.get_int("linear_num_key_heads"),
                    linear_num_value_heads=c.get_int("linear_num_value_heads"),
                    linear_key_head_dim=c.get_int("linear_key_head_dim"),
                    linear_value_head_dim=c.get_int("linear_value_head_dim"),
                    linear_conv_kernel_dim=c.get_int("linear_conv_kernel_dim"))

    def _sliding(self, layers: int) -> tuple[int | None, int]:
        c = self
        if c.model_type == "llama4_text":
            chunk = c.get_int("attention_chunk_size", default=None)
            if not chunk:
                return None, 0
            flags = c.cfg.get("no_rope_layers")
            if isinstance(flags, list) and len(flags) == layers:
                n = sum(1 for f in flags if f)  # 1 = RoPE layer = chunked local attention
            else:
                interval = c.get_int("no_rope_layer_interval", family_default=True)
                n = sum(1 for i in range(layers) if (i + 1) % interval != 0)
            return chunk, n
        window = c.get_int("sliding_window", default=None)
        layer_types = c.cfg.get("layer_types")
        if isinstance(layer_types, list) and layer_types:
            if len(layer_types) != layers:
                raise CatalogError(f"{self.file}: layer_types has {len(layer_types)} entries for {layers} layers")
            n = sum(1 for t in layer_types if t == "sliding_attention")
        elif c.model_type in ("qwen2", "qwen3", "qwen3_moe"):
            # sliding_window is set but unused unless use_sliding_window; then layers >= max_window_layers slide.
            if not c.cfg.get("use_sliding_window"):
                return None, 0
            n = max(0, layers - c.get_int("max_window_layers", default=layers))
        elif c.model_type == "gemma2":
            n = sum(1 for i in range(layers) if i % 2 == 0)  # even layers are local
        elif c.model_type == "gemma3_text":
            pattern = c.get_int("sliding_window_pattern", family_default=True)
            n = sum(1 for i in range(layers) if (i + 1) % pattern != 0)
        elif c.model_type in ("mistral", "mixtral", "phi3"):
            n = layers if window else 0  # one window on every layer
        else:
            n = 0
        if n == 0:
            return None, 0
        if window is None:
            raise CatalogError(f"{self.file}: missing key '{self.prefix}sliding_window' ({n} layers slide)")
        return window, n


def _even(hidden: int, heads: int, c: _ConfigReader) -> int:
    if hidden % heads:
        raise CatalogError(f"{c.file}: missing key '{c.prefix}head_dim' and hidden_size {hidden} "
                           f"is not divisible by num_attention_heads {heads}")
    return hidden // heads


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9.]+", "-", text.lower())).strip("-.")


def _slug_from(top: dict[str, Any], file: Path, model_type: str) -> str:
    """An id for the import: the repo name in ``_name_or_path``, else the file's name less ``config``, else the folder
    name, else model_type."""
    name_or_path = str(top.get("_name_or_path") or "")
    stem = re.sub(r"[_.-]?config$", "", file.stem)  # "Qwen--Qwen3-8B_config.json" names its model
    candidates = [name_or_path.rstrip("/").rsplit("/", 1)[-1], stem, file.parent.name]
    for cand in candidates:
        slug = _slug(cand)
        if slug and not re.fullmatch(r"(tmp|temp|pytest|test)[\w.-]*|\d+", slug):
            return slug
    return _slug(model_type) or "imported-model"


def _mtime_date(file: Path) -> str:
    return _dt.date.fromtimestamp(file.stat().st_mtime).isoformat()
