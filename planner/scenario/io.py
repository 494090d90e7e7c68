"""Read a scenario file: YAML text -> checked ``Scenario`` + the catalog it resolves against.

Every failure becomes a ``ScenarioError`` holding *all* the issues found, each rendered as
``FILE: field.path: what was wrong (got X); allowed: ...; did you mean 'y'?``. Nothing is dropped or
defaulted silently: duplicate YAML keys are errors, unknown fields are errors.
"""

from __future__ import annotations

import math
import re
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

MAX_INPUT_BYTES = 4 * 1024 * 1024  # a large scenario is ~100 kB; 4 MiB reads in well under a second
MAX_NODES = 200_000  # YAML nodes after alias expansion (the alias bomb of the issue expands to 387 million)
MAX_DEPTH = 64  # nesting of mappings and lists (a scenario needs 5)

# YAML 1.2 core schema: true/false only (not yes/no/on/off), no sexagesimal (1:30), no leading-zero octal,
# no underscores in numbers; ``.inf``/``.nan`` are floats here and refused by the range checks.
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Resolver(yaml.resolver.BaseResolver):
    """Implicit tags of the YAML 1.2 core schema, plus the ``<<`` merge key."""


_Resolver.yaml_implicit_resolvers = {}
_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class InputTooLarge(yaml.MarkedYAMLError):
    """Nesting or node count past the reader's bounds (reported like a syntax error, with its line)."""


class _StrictLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                    yaml.constructor.SafeConstructor, _Resolver):
    """A safe YAML 1.2 loader: bounded depth and size, duplicate keys refused, merge keys supported."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):  # bounded: depth while composing, raw node count
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
            event = self.peek_event()
            what = (f"nested deeper than {MAX_DEPTH} levels" if self._depth > MAX_DEPTH
                    else f"more than {MAX_NODES:,} values")
            raise InputTooLarge(None, None, f"{what}; a scenario needs far fewer", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _scalar(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


def _construct_int(loader, node):
    text = _scalar(loader, node).strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    try:
        if body.startswith("0o"):
            return sign * int(body[2:], 8)
        if body.startswith("0x"):
            return sign * int(body[2:], 16)
        return sign * int(body, 10)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"not an integer: {text[:40]!r}",
                                                node.start_mark) from None


def _construct_float(loader, node):
    text = _scalar(loader, node).strip()
    low = text.lower()
    if low in (".inf", "+.inf", "-.inf", ".nan"):
        return {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}.get(low, math.nan)
    try:
        return float(text)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"not a number: {text[:40]!r}",
                                                node.start_mark) from None


def _construct_bool(loader, node):
    text = _scalar(loader, node).strip().lower()
    if text not in ("true", "false"):
        raise yaml.constructor.ConstructorError(None, None, f"not true or false: {text[:40]!r}", node.start_mark)
    return text == "true"


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """A mapping; explicit keys may override keys merged in with ``<<``, but a key written twice is an error."""
    merged: dict = {}
    result: dict = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        None, None, "a merge key (<<) needs a mapping or a list of mappings", src.start_mark)
                for k, v in _construct_mapping(loader, src, deep=True).items():
                    merged.setdefault(k, v)  # the first source wins, as in the YAML merge-key spec
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark) from None
        if key in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{_clip(key)}'", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=deep)
    return {**{k: v for k, v in merged.items() if k not in result}, **result}


for _tag, _fn in (("int", _construct_int), ("float", _construct_float), ("bool", _construct_bool)):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _fn)
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _clip(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """Nodes in the document with every alias expanded (memoised per node, so the count itself is cheap)."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in memo:
            return memo[id(n)]
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        memo[id(n)] = min(total, limit + 1)
        return memo[id(n)]

    return size(node)


def field_marks(node: yaml.Node) -> dict[tuple, tuple[int, int]]:
    """Field path (as pydantic writes it: keys and list indexes) -> (line, column), 1-based, of each value."""
    marks: dict[tuple, tuple[int, int]] = {}

    def walk(n: yaml.Node, path: tuple) -> None:
        if len(marks) > MAX_NODES:
            return
        marks.setdefault(path, (n.start_mark.line + 1, n.start_mark.column + 1))
        if isinstance(n, yaml.SequenceNode):
            for i, c in enumerate(n.value):
                walk(c, (*path, i))
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.tag == "tag:yaml.org,2002:merge":
                        for src in (v.value if isinstance(v, yaml.SequenceNode) else [v]):
                            if isinstance(src, yaml.MappingNode):
                                for k2, v2 in src.value:
                                    if isinstance(k2, yaml.ScalarNode):
                                        walk(v2, (*path, k2.value))
                        continue
                    marks[(*path, k.value)] = (k.start_mark.line + 1, k.start_mark.column + 1)
                    walk(v, (*path, k.value))

    walk(node, ())
    return marks


def read_text(path: Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 text file, at most ``limit`` bytes; every I/O problem as one ``InputError`` line."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a {what}")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > limit:
        raise InputError(f"{path}: larger than {limit // (1024 * 1024)} MiB; a {what} is far smaller")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_yaml_with_marks(path: Path) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """Parse a YAML file (YAML 1.2 core schema, bounded); the data and where each field was written."""
    text = read_text(path, "YAML file")
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character the YAML spec forbids in the file
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise InputError(f"{path}:{line}:{column}: YAML syntax error: character {_codepoint(exc.character)} is not allowed "
                         f"in YAML text (control characters must be written as escapes in a quoted string)") from None
    try:
        node = loader.get_single_node()
        if node is None:  # only comments, or a lone '---'
            raise InputError(f"{path}: file is empty (no YAML content, only comments)")
        if expanded_size(node) > MAX_NODES:
            raise InputError(f"{path}: more than {MAX_NODES:,} values once aliases (*name) are expanded; "
                             f"a scenario needs far fewer (an alias bomb?)")
        data = loader.construct_document(node)
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
        kind = "input too large" if isinstance(exc, InputTooLarge) else "YAML syntax error"
        raise InputError(f"{where}: {kind}: {_one_line(what)}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {_one_line(str(exc))}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()
    if data is None:  # a lone '~' or 'null'
        raise InputError(f"{path}: file is empty (no YAML content, only comments)")
    return data, field_marks(node)


def _codepoint(ch: Any) -> str:
    return f"U+{ch if isinstance(ch, int) else ord(str(ch)[:1] or ' '):04X}"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every I/O and syntax problem into one clear ``InputError`` line."""
    return read_yaml_with_marks(path)[0]


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


def issues_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[Issue]:
    return [issue_from_pydantic(e, root) for e in exc.errors(include_url=False) if not _spurious_too_short(e)]


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
