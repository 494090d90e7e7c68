"""Read YAML input files safely: YAML 1.2 core schema, bounded size, nesting and alias expansion.

- YAML 1.2, not 1.1: ``true``/``false`` are the only booleans (``yes``, ``no``, ``on`` stay strings), no
  sexagesimal numbers (``1:30`` is a string), ``010`` is ten; ``.inf``/``.nan`` are floats that the range checks
  refuse. Merge keys (``<<: *base``) work; explicit keys override merged ones; a key written twice is an error.
- Bounded work: at most ``MAX_INPUT_BYTES``, ``MAX_DEPTH`` levels of nesting (checked while composing, so a deep
  file never reaches Python's recursion limit) and ``MAX_NODES`` values once aliases are expanded (counted on the
  node graph, memoised, before any Python object is built: the 700-byte alias bomb is refused in milliseconds).
- Every problem is one ``InputError`` line, ``FILE:LINE:COL: ...`` where the YAML says where; ``field_marks`` keeps
  the line and column of every field so that validation errors can name them too.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError


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


_FEWER = "a scenario or calibration file needs far fewer"  # both are read here


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


class _BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer with the depth and raw node count checked as each node is composed."""

    def _init_bounds(self) -> None:
        yaml.composer.Composer.__init__(self)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):  # bounded: depth while composing, raw node count
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
            event = self.peek_event()
            what = (f"nested deeper than {MAX_DEPTH} levels" if self._depth > MAX_DEPTH
                    else f"more than {MAX_NODES:,} values")
            raise InputTooLarge(None, None, f"{what}; {_FEWER}", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _BoundedScanner(yaml.scanner.Scanner):
    """The pure-Python scanner looks ahead through a whole flow collection (``[[[...``) before the composer sees
    its first node, quadratically; flow nesting and indentation depth are bounded here, where the scanning is."""

    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= MAX_DEPTH:
            raise InputTooLarge(None, None, f"nested deeper than {MAX_DEPTH} levels; {_FEWER}",
                                self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH:
            raise InputTooLarge(None, None, f"nested deeper than {MAX_DEPTH} levels; {_FEWER}",
                                self.get_mark())
        return super().add_indent(column)


class _StrictLoader(yaml.reader.Reader, _BoundedScanner, yaml.parser.Parser, _BoundedComposer,
                    yaml.constructor.SafeConstructor, _Resolver):
    """A safe YAML 1.2 loader in pure Python: bounded depth and size, duplicate keys refused, merge keys supported.
    Used for every file when libyaml is absent, and to report the error (its marks) when the fast loader fails."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        self._init_bounds()
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)


if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(_BoundedComposer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, _Resolver):
        """libyaml's parser (C, iterative: about 20x faster on long lists) feeding the same bounded composer,
        YAML 1.2 resolver and strict constructors as ``_StrictLoader``."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            self._init_bounds()
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)

        # CParser's own (C) composer methods would bypass the bounds: use the Python composer's
        get_single_node = yaml.composer.Composer.get_single_node
        compose_document = yaml.composer.Composer.compose_document
        check_node = yaml.composer.Composer.check_node
        get_node = yaml.composer.Composer.get_node
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None


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


for _loader in (_StrictLoader, _FastLoader):
    if _loader is None:
        continue
    for _tag, _fn in (("int", _construct_int), ("float", _construct_float), ("bool", _construct_bool)):
        _loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _fn)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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
    if _FastLoader is not None:
        try:
            return _load(path, _FastLoader(text))
        except InputError as exc:
            if "YAML" not in str(exc) and "input too large" not in str(exc):
                raise  # not a parse problem (empty, alias bomb): the same answer either way
        # a parse error: the pure-Python loader says where, in PyYAML's words (rare; speed does not matter)
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character the YAML spec forbids in the file
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise InputError(f"{path}:{line}:{column}: YAML syntax error: character {_codepoint(exc.character)} is not allowed "
                         f"in YAML text (control characters must be written as escapes in a quoted string)") from None
    return _load(path, loader)


def _load(path: Path, loader) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    try:
        node = loader.get_single_node()
        if node is None:  # only comments, or a lone '---'
            raise InputError(f"{path}: file is empty (no YAML content, only comments)")
        if expanded_size(node) > MAX_NODES:
            raise InputError(f"{path}: more than {MAX_NODES:,} values once aliases (*name) are expanded; "
                             f"{_FEWER} (an alias bomb?)")
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
