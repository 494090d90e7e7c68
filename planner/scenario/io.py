"""Read a scenario file: YAML text -> checked ``Scenario`` + the catalog it resolves against.

Every failure becomes a ``ScenarioError`` holding *all* the issues found, each rendered as
``FILE: field.path: what was wrong (got X); allowed: ...; did you mean 'y'?``. Nothing is dropped or
defaulted silently: duplicate YAML keys are errors, unknown fields are errors.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from planner.catalog import Catalog
from planner.errors import InputError, Issue, ScenarioError
from planner.scenario.model import Scenario
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


# --------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in result:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", mark)
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every I/O and syntax problem into one clear ``InputError`` line."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            # e.g. "while parsing a flow sequence" + where that construct began, which is usually the real mistake
            ctx = exc.context
            if exc.context_mark is not None and exc.problem_mark is not None and \
                    exc.context_mark.line != exc.problem_mark.line:
                ctx += f" that starts at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
            what = f"{exc.problem} ({ctx})"
        raise InputError(f"{where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {exc}") from None
    if data is None:  # only comments, or a lone '---' / '~'
        raise InputError(f"{path}: file is empty (no YAML content, only comments)")
    return data


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
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(value: Any) -> str:
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
        return Issue(format_loc(loc), f"must be {op} {_bound(ctx.get(key))} (got {_short(got)})")
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


def issues_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    return [issue_from_pydantic(e, root) for e in exc.errors(include_url=False) if not _spurious_too_short(e)]


# --------------------------------------------------------------------------- entry point


def load_scenario(path: str | Path, catalog: Catalog | None = None) -> LoadedScenario:
    """Read, validate and resolve a scenario file. Raises ``ScenarioError`` listing every problem."""
    from planner.scenario.checks import check_against_catalog  # noqa: PLC0415 - keeps import light

    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError([Issue("", f"the top level must be a mapping of scenario fields "
                                       f"(name, policy, workloads, offers, ...), got {type(data).__name__}")],
                            source=str(path))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(issues_from_validation(exc, Scenario), source=str(path)) from None
    resolved, issues = check_against_catalog(scenario, catalog or Catalog.builtin(), base_dir=path.parent)
    if issues:
        raise ScenarioError(issues, source=str(path))
    return LoadedScenario(path=path, scenario=scenario, catalog=resolved, raw=data)


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
