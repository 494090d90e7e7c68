"""GLM-5.2's shared DSA indexer (``indexer_types``): 57 of its 78 layers reuse the tokens the layer before them
picked and run no indexer of their own. Every figure below is worked out by hand from the config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.catalog import Catalog
from planner.catalog.hf_config import model_from_hf_config
from planner.catalog.params import total_params
from planner.catalog.records import ModelSpec
from planner.errors import CatalogError
from planner.perf.calibration import default_calibration
from planner.perf.device import make_device
from planner.perf.memory import kv_bytes_per_token, kv_read_bytes_per_sequence
from planner.perf.roofline import model_shape, step_context

CAT = Catalog.builtin()
CONFIG = Path(__file__).parent / "fixtures" / "model_configs" / "zai-org--GLM-5.2.json"
# one indexer: q from the q latent 2048 -> 32 heads x 128, k 6144 -> 128, head weights 6144 -> 32
INDEXER = 2048 * 32 * 128 + 6144 * 128 + 6144 * 32    # 9,371,648


def test_the_config_lists_21_full_and_57_shared_layers():
    kinds = json.loads(CONFIG.read_text())["indexer_types"]
    # full at layers 0, 1, 2 and every 4th from 6 to 74 (3 + 18), shared elsewhere
    assert [i for i, k in enumerate(kinds) if k == "full"] == [0, 1, 2, *range(6, 75, 4)]
    m = model_from_hf_config(CONFIG)
    assert (m.layers, m.index_shared_layers) == (78, 57)
    assert "57 of 78 layers reuse the tokens" in m.notes


def test_shared_layers_carry_no_indexer_weights():
    glm5, glm52 = CAT.model("glm-5"), CAT.model("glm-5.2")
    assert glm52.index_shared_layers == 57 and glm5.index_shared_layers == 0
    assert total_params(glm5) - total_params(glm52) == 57 * INDEXER == 534_183_936
    # the rest of the architecture is GLM-5's
    same = {k: getattr(glm52, k) for k in ("layers", "hidden_size", "kv_lora_rank", "q_lora_rank", "n_routed_experts",
                                           "sparse_attention_topk", "index_n_heads", "index_head_dim")}
    assert same == {k: getattr(glm5, k) for k in same}


def test_the_cache_keeps_an_indexer_key_on_the_21_indexing_layers_only():
    glm5, glm52 = CAT.model("glm-5"), CAT.model("glm-5.2")
    latent = (512 + 64) * 2      # BF16 MLA latent per token and layer
    key = 128 + 4                # FP8 indexer key and its FP32 scale
    assert kv_bytes_per_token(glm5, 2.0, 1) == pytest.approx(78 * (latent + key))
    assert kv_bytes_per_token(glm52, 2.0, 1) == pytest.approx(78 * latent + 21 * key)
    # a decode step reads the latent of the top 2,048 tokens and every token's key on the indexing layers
    assert kv_read_bytes_per_sequence(glm52, 2.0, 1, 8192) == pytest.approx(78 * latent * 2048 + 21 * key * 8192)


def test_the_step_scores_and_launches_the_indexer_on_21_layers():
    cal = default_calibration()
    dev = make_device(CAT.gpu("b200"), tp=8, mig_profile=None, precision="fp8", kv_dtype="fp8", engine="sglang")
    ctx5, ctx52 = (step_context(CAT.model(m), dev, bytes_per_weight=1.0, kv_bytes=1.0, cal=cal,
                                eng=cal.engine("sglang")) for m in ("glm-5", "glm-5.2"))
    assert model_shape(CAT.model("glm-5")).index_flops == 2 * 32 * 128
    assert model_shape(CAT.model("glm-5.2")).index_flops == pytest.approx(2 * 32 * 128 * 21 / 78)
    t_sparse = cal.engine("sglang").t_sparse_layer_us
    assert ctx5.t_layers_s - ctx52.t_layers_s == pytest.approx(57 * t_sparse * 1e-6)


@pytest.mark.parametrize(("kinds", "message"), [
    (["full"] * 77, "must list one entry per layer (78), got 77 entries"),
    ("full", "must list one entry per layer (78), got str"),
    (["full"] * 77 + ["dense"], "has 'dense'; allowed: 'full', 'shared'"),
    (["full"] * 77 + ["shraed"], "has 'shraed'; allowed: 'full', 'shared'; did you mean 'shared'?"),
    (["shared"] + ["full"] * 77, "the first layer must have an indexer of its own"),
])
def test_a_malformed_indexer_list_is_refused_with_its_key(tmp_path, kinds, message):
    cfg = json.loads(CONFIG.read_text())
    cfg["indexer_types"] = kinds
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(CatalogError, match="indexer_types") as err:
        model_from_hf_config(path)
    assert message in str(err.value)


def test_a_record_cannot_share_indexers_it_does_not_have():
    dense = CAT.model("llama-3.1-8b").model_dump()
    with pytest.raises(ValueError, match="index_shared_layers"):
        ModelSpec.model_validate({**dense, "index_shared_layers": 3})
    glm = CAT.model("glm-5").model_dump()
    with pytest.raises(ValueError, match="index_shared_layers"):
        ModelSpec.model_validate({**glm, "index_shared_layers": 78})
