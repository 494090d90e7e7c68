"""Read a scenario file: YAML text -> checked ``Scenario`` + the catalog it resolves against.

Every failure becomes a ``ScenarioError`` holding *all* the issues found, each rendered as
``FILE: field.path: what was wrong (got X); allowed: ...; did you mean 'y'?``. Nothing is dropped or
defaulted silently: duplicate YAML keys are errors, unknown fields are errors. The YAML itself is read by
``planner.scenario.yaml_reader`` (YAML 1.2, bounded); field errors carry the line and column of the field
(``FILE:LINE:COL: field.path: ...``), every number must be finite, and range errors say the allowed range and
the unit.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from planner.catalog import Catalog
from planner.errors import Issue, ScenarioError
from planner.scenario.model import Scenario
from planner.scenario.yaml_reader import (MAX_DEPTH, MAX_INPUT_BYTES, MAX_NODES, read_text, read_yaml,  # noqa: F401
                                          read_yaml_with_marks)
from planner.suggest import did_you_mean


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario, where it came from, and the catalog (built-in + its additions) it resolves in."""

    path: Path
    scenario: Scenario
    catalog: Catalog
    raw: dict

    @property
    def base_dir(self) -> Path:
        return self.path.parent


# --------------------------------------------------------------------------- pydantic error -> Issue


def format_loc(loc: tuple) -> str:
    """``("workloads", 0, "model")`` -> ``workloads[0].model``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _bound(value: Any) -> str:
    """A bound as users write it: ``0`` rather than pydantic's ``0.0`` for a float field."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1e6:
        return f"{value:g}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(value: Any) -> str:
    """A value as it appears in a message: cut *before* ``repr`` (a huge or aliased input is never rendered whole)."""
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} field{'s' if len(value) != 1 else ''}"
    if isinstance(value, str) and len(value) > 60:
        value = value[:57]
        return repr(value)[:-1] + "...'"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_class_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for listing allowed field names)."""
    cls: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return None
        cls = _inner_model(cls.model_fields[part].annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Unwrap Optional / tuple[...] / dict[..., X] to the model class inside, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, dict):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if inner is not None:
                return inner
    return None


# Units of numeric fields, by the end of the field name (the names carry them; the messages repeat them).
_UNITS = (("requests_per_min", "requests/min"), ("_tokens", "tokens"), ("_ms", "ms"), ("_minutes", "minutes"),
          ("_months", "months"), ("_s", "seconds"), ("usd_per_gpu_hour", "USD per GPU-hour"),
          ("usd_per_node_hour", "USD per node-hour"), ("usd_per_hour", "USD/hour"), ("usd_per_node", "USD per node"),
          ("_per_hour", "per hour"), ("pct_per_month", "% per month"), ("_nodes", "nodes"), ("_replicas", "replicas"),
          ("hours", "hours"), ("hours_per_month", "hours"), ("_failures", "pools"))


def unit_of(field: str) -> str:
    """The unit a numeric field is written in, from its name (``ttft_slo_ms`` -> ``ms``); '' when unitless."""
    for suffix, unit in _UNITS:
        if field == suffix or field.endswith(suffix):
            return unit
    return ""


def _allowed_range(root: type[BaseModel], loc: tuple) -> str:
    """``; allowed: > 0 and <= 1e+09 requests/min`` from the field's constraints ('' when unknown)."""
    names = [p for p in loc if not isinstance(p, int)]
    owner = _model_class_at(root, tuple(p for p in loc[:-1] if not isinstance(p, int)) if names else ())
    field = names[-1] if names else None
    if owner is None or field not in owner.model_fields:
        return ""
    parts = []
    for m in owner.model_fields[field].metadata:
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{op} {_bound(getattr(m, attr))}")
    if not parts:
        return ""
    unit = unit_of(field)
    return f"; allowed: {' and '.join(parts)}" + (f" {unit}" if unit else "")


def non_finite_issues(data: Any, path: tuple = (), limit: int = 20) -> list[Issue]:
    """Every non-finite float and every integer too large for a float, anywhere in the input (catalog records
    written in the scenario included), as issues: ``x: must be a finite number (got inf)``."""
    out: list[Issue] = []
    stack = [(path, data)]
    while stack and len(out) < limit:
        p, v = stack.pop()
        if isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            out.append(Issue(format_loc(p), f"must be a finite number (got {v!r})"))
        elif isinstance(v, int) and abs(v) > 2 ** 53:
            out.append(Issue(format_loc(p), f"must be a number below 2**53 (got {_short(v)})"))
        elif isinstance(v, dict):
            stack.extend(((*p, k), x) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            stack.extend(((*p, i), x) for i, x in reversed(list(enumerate(v))))
    return out


def issue_from_pydantic(error: dict, root: type[BaseModel]) -> Issue:
    """Turn one pydantic error dict into a user-facing Issue."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    got = error.get("input")
    if kind == "extra_forbidden":
        owner = _model_class_at(root, loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        hint = did_you_mean(loc[-1], allowed)
        msg = f"unknown field{hint}"
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})"
        return Issue(format_loc(loc), msg)
    if kind == "missing":
        return Issue(format_loc(loc), "required field is missing")
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",") if c.strip()]
        return Issue(format_loc(loc), f"must be one of {expected} (got {_short(got)}){did_you_mean(got, choices)}")
    bounds = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
              "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}
    if kind in bounds:
        op, key = bounds[kind]
        return Issue(format_loc(loc), f"must be {op} {_bound(ctx.get(key))} (got {_short(got)})"
                     + _allowed_range(root, loc))
    if kind == "finite_number":
        return Issue(format_loc(loc), f"must be a finite number (got {_short(got)})" + _allowed_range(root, loc))
    if kind == "too_long":
        n = ctx.get("max_length")
        return Issue(format_loc(loc), f"must have at most {n} items (got {ctx.get('actual_length', 'more')})")
    simple = {
        "int_parsing": "must be an integer", "int_type": "must be an integer",
        "int_from_float": "must be a whole number", "float_parsing": "must be a number",
        "float_type": "must be a number", "bool_parsing": "must be true or false",
        "bool_type": "must be true or false", "string_type": "must be a string",
        "model_type": "must be a mapping of fields", "model_attributes_type": "must be a mapping of fields",
        "dict_type": "must be a mapping", "tuple_type": "must be a list", "list_type": "must be a list",
        "finite_number": "must be a finite number",
    }
    if kind in simple:
        return Issue(format_loc(loc), f"{simple[kind]} (got {_short(got)})")
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return Issue(format_loc(loc), f"must have at least {n} item{'s' if n != 1 else ''}")
    if kind == "string_pattern_mismatch":
        return Issue(format_loc(loc), f"does not match the expected form {ctx.get('pattern')} (got {_short(got)})")
    message = error.get("msg", "invalid value")
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return Issue(format_loc(loc), message)


def _spurious_too_short(error: dict) -> bool:
    """pydantic also reports ``too_short`` for a list whose items failed (it counts only the valid ones);
    the list the user wrote is long enough, so that error would only mislead."""
    if error.get("type") != "too_short":
        return False
    got, need = error.get("input"), (error.get("ctx") or {}).get("min_length", 1)
    return isinstance(got, (list, tuple, dict)) and len(got) >= need


def _consequential_missing_offers(error: dict, errors: list[dict]) -> bool:
    """``offers`` missing only because an ``offers_from_catalog`` selector failed (and so was not expanded): the
    selector's own error is the one to read."""
    return (tuple(error.get("loc", ())) == ("offers",) and error.get("type") == "missing"
            and any(tuple(e.get("loc", ()))[:1] == ("offers_from_catalog",) for e in errors))


def issues_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    errors = exc.errors(include_url=False)
    return [issue_from_pydantic(e, root) for e in errors
            if not _spurious_too_short(e) and not _consequential_missing_offers(e, errors)]


# --------------------------------------------------------------------------- entry point


def load_scenario(path: str | Path, catalog: Catalog | None = None) -> LoadedScenario:
    """Read, validate and resolve a scenario file. Raises ``ScenarioError`` listing every problem."""
    from planner.scenario.checks import check_against_catalog  # noqa: PLC0415 - keeps import light

    path = Path(path)
    data, marks = read_yaml_with_marks(path)
    if not isinstance(data, dict):
        raise ScenarioError([Issue("", f"the top level must be a mapping of scenario fields "
                                       f"(name, policy, workloads, offers, ...), got {type(data).__name__}")],
                            source=str(path))
    # every number finite, wherever it is (catalog records written in the scenario included): pydantic's own
    # message (with the allowed range) where it has one, this pass's elsewhere
    bad = non_finite_issues(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation(exc, Scenario)
        seen = {i.path for i in issues}
        issues += [i for i in bad if i.path not in seen]
        raise ScenarioError(with_marks(issues, marks), source=str(path)) from None
    except RecursionError:  # bounded nesting makes this unreachable; kept so that it can never be exit 1
        raise ScenarioError([Issue("", f"nested too deeply (more than {MAX_DEPTH} levels)")], source=str(path)) from None
    if bad:
        raise ScenarioError(with_marks(bad, marks), source=str(path))
    resolved, issues = check_against_catalog(scenario, catalog or Catalog.builtin(), base_dir=path.parent)
    if issues:
        raise ScenarioError(with_marks(issues, marks), source=str(path))
    return LoadedScenario(path=path, scenario=scenario, catalog=resolved, raw=data)


_LOC_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def parse_loc(text: str) -> tuple:
    """``workloads[0].model`` -> ``("workloads", 0, "model")`` (the inverse of ``format_loc``)."""
    return tuple(int(i) if i else k for k, i in _LOC_PART.findall(text))


def with_marks(issues: list[Issue], marks: dict[tuple, tuple[int, int]]) -> list[Issue]:
    """Each issue with the line:column of its field (or of the nearest enclosing field that was written)."""
    out = []
    for issue in issues:
        loc = parse_loc(issue.path)
        while loc and loc not in marks:
            loc = loc[:-1]
        if loc and loc in marks and issue.line is None:
            line, column = marks[loc]
            issue = Issue(issue.path, issue.message, line, column)
        out.append(issue)
    return out


def scenario_from_dict(data: dict, base_dir: Path | str = ".", catalog: Catalog | None = None,
                       name: str = "<scenario>") -> LoadedScenario:
    """The same checks for a scenario built in code (tests, sweeps)."""
    from planner.scenario.checks import check_against_catalog  # noqa: PLC0415

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(issues_from_validation(exc, Scenario), source=name) from None
    resolved, issues = check_against_catalog(scenario, catalog or Catalog.builtin(), base_dir=Path(base_dir))
    if issues:
        raise ScenarioError(issues, source=name)
    return LoadedScenario(path=Path(base_dir) / name, scenario=scenario, catalog=resolved, raw=data)
