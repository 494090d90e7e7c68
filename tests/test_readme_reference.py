"""The README's scenario-format reference cannot drift from ``planner/scenario/model.py``.

Walks every pydantic model reachable from ``Scenario`` and checks, for each, that the README has a section
(``### `workloads[].size_mix[]` ``) whose table lists exactly its fields, with the right default. Also checks
the Quick start and Tests blocks that ``.ci/run`` and new users rely on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from planner.scenario.schema import sections as schema_sections

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Section title -> {field: [cells]} from the reference tables of the README."""
    ref = text[text.index("## Scenario format reference"):]
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in ref.splitlines():
        heading = re.match(r"^###\s+(?:`([^`]+)`|(.+?))\s*$", line)
        if heading:
            current = (heading.group(1) or heading.group(2)).strip()
            sections[current] = {}
            continue
        if line.startswith("## ") and not line.startswith("## Scenario format reference"):
            break
        row = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|(.*)\|\s*$", line)
        if row and current is not None:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.group(2))]
            sections[current][row.group(1)] = cells
    return sections


def expected_default(field) -> str:
    """How the default column must start for this field."""
    if field.is_required():
        return "required"
    if field.default is PydanticUndefined:
        factory = field.default_factory
        return "`{}`" if factory is dict else "`[]`"
    d = field.default
    if d is None:
        return "none"
    if isinstance(d, BaseModel):
        return "all defaults"
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    if isinstance(d, (int, float)):
        return f"`{d:g}`"
    if isinstance(d, str):
        return f"`{d}`" if d else '`""`'
    if isinstance(d, tuple):
        return "`[" + ", ".join(map(str, d)) + "]`"
    raise AssertionError(f"no README convention for default {d!r}")


TEXT = README.read_text(encoding="utf-8")
SCHEMA = schema_sections()
DOC = readme_sections(TEXT)


def test_every_record_has_a_section():
    assert set(SCHEMA) <= set(DOC), f"README lacks sections: {sorted(set(SCHEMA) - set(DOC))}"
    assert set(DOC) <= set(SCHEMA), f"README documents records that no longer exist: {sorted(set(DOC) - set(SCHEMA))}"


@pytest.mark.parametrize("section", sorted(SCHEMA))
def test_section_lists_exactly_the_fields(section: str):
    fields = list(SCHEMA[section].model_fields)
    documented = list(DOC.get(section, {}))
    missing = [f for f in fields if f not in documented]
    extra = [f for f in documented if f not in fields]
    assert not missing, f"{section}: fields not in the README: {missing}"
    assert not extra, f"{section}: README fields that the schema lacks: {extra}"


@pytest.mark.parametrize("section", sorted(SCHEMA))
def test_defaults_match(section: str):
    for name, field in SCHEMA[section].model_fields.items():
        cells = DOC.get(section, {}).get(name)
        if cells is None:
            continue  # reported by test_section_lists_exactly_the_fields
        assert len(cells) == 3, f"{section}.{name}: expected | unit | default | meaning |, got {cells}"
        want = expected_default(field)
        assert cells[1].startswith(want), f"{section}.{name}: default column {cells[1]!r} should start with {want!r}"
        assert cells[2], f"{section}.{name}: no meaning given"


def _code_blocks_after(heading: str) -> list[str]:
    part = TEXT[TEXT.index(heading):]
    nxt = part.find("\n## ", 1)
    part = part if nxt < 0 else part[:nxt]
    return [b.strip() for b in re.findall(r"```(?:bash|sh)?\n(.*?)```", part, flags=re.S)]


def test_quick_start_is_two_commands():
    """Install, then the main job on an example scenario that exists (the command may change: validate, solve)."""
    blocks = _code_blocks_after("## Quick start")
    assert len(blocks) == 1
    install, run = blocks[0].splitlines()
    assert install == "pip install -e '.[dev]'"
    m = re.fullmatch(r"plan [a-z-]+ (scenarios/\S+\.yaml)", run)
    assert m, run
    assert (README.parent / m.group(1)).is_file()


def test_tests_block_is_what_ci_runs():
    assert _code_blocks_after("## Tests") == ["pytest"]
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^pytest\s*$", ci, flags=re.M), ".ci/run must run exactly the README's test command"


def test_the_accuracy_the_readme_quotes_is_the_one_the_docs_tables_print():
    """"How far to trust the capacities" quotes the out-of-family error of docs/perf-model.md §6b's generated
    tables (``python -m planner.perf.report --silicon --write docs/perf-model.md``); a regeneration that moves them
    must move the README too."""
    doc = (README.parent / "docs" / "perf-model.md").read_text(encoding="utf-8")
    block = doc.split("<!-- silicon-table:start -->", 1)[1].split("<!-- silicon-table:end -->", 1)[0]
    overall = re.search(r"\*\*Out-of-family \(leave one architecture × GPU × engine out\): all rows\*\* — "
                        r"([\d,]+) rows; TTFT median APE ([\d.]+) % \(signed -([\d.]+) %.*?TPOT median APE ([\d.]+) %",
                        block)
    assert overall, ("§6b's out-of-family summary not found, or its signed TTFT is no longer negative "
                     "(then the README's \"faster\" is wrong)")
    rows, ttft, signed, tpot = overall.groups()
    by_engine = block.split("**Out-of-family (leave one architecture × GPU × engine out), by engine**", 1)[1]
    engine = {m.group(1): m.group(2) for m in re.finditer(r"^\| (vllm|sglang|trtllm) \| \d+ \| ([\d.]+) \|",
                                                           by_engine.split("\n\n**", 1)[0], re.M)}
    text = README.read_text(encoding="utf-8")
    section = text.split("## How far to trust the capacities", 1)[1].split("\n## ", 1)[0]
    assert f"checked against {int(rows.replace(',', '')):,} of" in section
    assert f"TTFT is off by a median {ttft} %, and the median run is predicted {signed} % *faster*" in section
    assert f"TPOT is off by a median {tpot} %" in section
    assert (f"{engine['vllm']} % on vLLM, {engine['sglang']} % on SGLang and {engine['trtllm']} % on "
            "TensorRT-LLM") in section
