"""``plan schema``: a valid JSON Schema that accepts every example scenario, rejects broken ones, and describes
every field with its meaning and unit (copied from the README reference, which must not drift from it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.scenario.field_docs import FIELD_DOCS
from planner.scenario.schema import docs_from_readme, sections

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))
runner = CliRunner()


@pytest.fixture(scope="module")
def schema() -> dict:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(data)
    return data


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid_against_the_schema(schema, path):
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize(("patch", "where"), [
    ({"offerz": []}, []),                                                          # unknown top-level field
    ({"offers_from_catalog": {"markets": ["ondemand"]}}, ["offers_from_catalog"]),  # not a market
    ({"policy": {"target_utilization": 2}}, ["policy", "target_utilization"]),
])
def test_the_schema_rejects_broken_scenarios(schema, patch, where):
    data = {**yaml.safe_load((ROOT / "scenarios" / "from-catalog.yaml").read_text(encoding="utf-8")), **patch}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors and list(errors[0].absolute_path)[:len(where)] == where


def test_every_property_has_a_meaning_and_a_unit(schema):
    nodes = [("Scenario", schema)] + list(schema["$defs"].items())
    missing = [f"{name}.{prop}" for name, node in nodes for prop, spec in node.get("properties", {}).items()
               if "Unit/type:" not in spec.get("description", "")]
    assert not missing
    offer = schema["$defs"]["Offer"]["properties"]["price_usd_per_gpu_hour"]["description"]
    assert offer.startswith("Price of one GPU for one hour") and "USD per GPU-hour" in offer


def test_field_docs_match_the_readme():
    readme = docs_from_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    assert FIELD_DOCS == readme, "regenerate: python -m planner.scenario.schema README.md > planner/scenario/field_docs.py"
    documented = {section for section, _ in FIELD_DOCS}
    assert set(sections()) <= documented


def test_schema_out_file(tmp_path):
    out = tmp_path / "s" / "fleetplan-scenario.schema.json"
    result = runner.invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["$schema"].endswith("2020-12/schema")
