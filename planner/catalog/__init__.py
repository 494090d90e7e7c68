"""The GPU and model catalogs: flat, sourced CSVs loaded lazily, and a lookup that forgives spelling.

Data files (one row per record, columns = record fields, tuples ``;``-separated, empty cell = default):

- ``gpus.csv``: dense datasheet figures. ``vram_gib_usable`` is the total ``nvidia-smi`` (``rocm-smi`` for
  AMD) reports, in GiB; ECC-on GDDR cards lose ~6 % (L4: 23034 MiB), HBM "GB" labels are in practice GiB
  (H100 "80 GB" shows 81559 MiB). ``pcie_gbps`` is the raw x16 rate per direction (Gen4 32, Gen5 64,
  Gen6 128 GB/s) before protocol overhead. ``nvlink_gbps`` is per GPU, both directions; MI300X's Infinity
  Fabric sits in the same columns.
- ``models.csv``: architectures from each model's ``config.json`` and the publisher's parameter count.
- ``offers.csv``: sourced instance prices (provider x shape x market x regions), read lazily by
  ``planner.catalog.offers.builtin_offers`` (that module imports this package, not the other way round).

Nothing is read at import time: :func:`builtin_gpus` / :func:`builtin_models` read on first call (cached).
:func:`read_gpus_csv` / :func:`read_models_csv` read any file with the same columns, so tests and scenario
tooling can pass small tables.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Iterable, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from planner.catalog.records import GpuSpec, ModelSpec
from planner.errors import CatalogError

if TYPE_CHECKING:  # pandas is imported only when a frame is asked for
    import pandas as pd

__all__ = [
    "Catalog", "GpuSpec", "ModelSpec", "builtin_gpus", "builtin_models", "catalog_frame",
    "normalize_name", "read_gpus_csv", "read_models_csv", "record_to_row",
]

Kind = Literal["gpu", "model"]
R = TypeVar("R", GpuSpec, ModelSpec)
_KINDS = {"gpu": "gpu", "gpus": "gpu", "model": "model", "models": "model"}


# ----------------------------------------------------------------------------------------------- CSV I/O

def _tuple_fields(cls: type[BaseModel]) -> set[str]:
    return {name for name, f in cls.model_fields.items() if get_origin(f.annotation) is tuple}


def _parse_rows(text: str, cls: type[R], where: str) -> tuple[R, ...]:
    """Parse CSV text into records; every problem names file, line and column."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise CatalogError(f"{where}: empty file, expected a header row")
    known = set(cls.model_fields)
    unknown = [c for c in header if c not in known]
    if unknown:
        raise CatalogError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; "
                           f"expected columns from {cls.__name__}: {', '.join(cls.model_fields)}")
    required = [n for n, f in cls.model_fields.items() if f.is_required()]
    missing = [c for c in required if c not in header]
    if missing:
        raise CatalogError(f"{where}: missing required column(s) {', '.join(map(repr, missing))}")
    tuples = _tuple_fields(cls)
    records: list[R] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CatalogError(f"{where}: line {line}: more cells than header columns")
        values: dict[str, object] = {}
        for col, raw in row.items():
            cell = (raw or "").strip()
            if cell == "":
                continue  # empty cell -> the field's default (or a 'missing' error if required)
            values[col] = tuple(p.strip() for p in cell.split(";") if p.strip()) if col in tuples else cell
        if not values:
            continue  # blank line
        try:
            rec = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            col = ".".join(str(p) for p in err["loc"]) or "?"
            rid = values.get("id", "?")
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise CatalogError(f"{where}: line {line} (id {rid!r}): column {col!r}: {err['msg']}{more}") from None
        if rec.id in seen:
            raise CatalogError(f"{where}: line {line}: duplicate id {rec.id!r} (first on line {seen[rec.id]})")
        seen[rec.id] = line
        records.append(rec)
    return tuple(records)


def _read_file(path: Union[str, Path], cls: type[R]) -> tuple[R, ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports start with a BOM
    except OSError as exc:
        raise CatalogError(f"{p}: cannot read catalog file ({exc.strerror or exc})") from None
    return _parse_rows(text, cls, str(p))


def read_gpus_csv(path: Union[str, Path]) -> tuple[GpuSpec, ...]:
    """Read a GPU table with :class:`GpuSpec` columns."""
    return _read_file(path, GpuSpec)


def read_models_csv(path: Union[str, Path]) -> tuple[ModelSpec, ...]:
    """Read a model table with :class:`ModelSpec` columns."""
    return _read_file(path, ModelSpec)


def _builtin(name: str, cls: type[R]) -> tuple[R, ...]:
    res = resources.files("planner.catalog").joinpath(name)
    return _parse_rows(res.read_text(encoding="utf-8"), cls, f"planner/catalog/{name}")


@functools.cache
def builtin_gpus() -> tuple[GpuSpec, ...]:
    """The shipped GPU catalog, in file order (read once, on first call)."""
    return _builtin("gpus.csv", GpuSpec)


@functools.cache
def builtin_models() -> tuple[ModelSpec, ...]:
    """The shipped model catalog, in file order (read once, on first call)."""
    return _builtin("models.csv", ModelSpec)


def record_to_row(rec: BaseModel) -> dict[str, object]:
    """One record as a flat row: tuples joined with ``;`` (the CSV form), None kept as None."""
    return {k: (";".join(v) if isinstance(v, tuple) else v) for k, v in rec.model_dump().items()}


# ----------------------------------------------------------------------------------------------- lookup

def normalize_name(name: str) -> str:
    """Lookup key: case-folded, spaces and underscores as dashes ('RTX 4090' -> 'rtx-4090')."""
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def _names(rec: GpuSpec | ModelSpec) -> list[str]:
    names = [rec.id, *rec.aliases]
    if isinstance(rec, ModelSpec) and rec.hf_id:
        names.append(rec.hf_id)
    return names


def _index(records: Iterable[GpuSpec | ModelSpec], kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for rec in records:
        for name in _names(rec):
            key = normalize_name(name)
            other = index.setdefault(key, rec.id)
            if other != rec.id:
                raise CatalogError(f"{kind} name {name!r} is ambiguous: it names both {other!r} and {rec.id!r}")
    return index


@dataclass(frozen=True)
class Catalog:
    """GPUs and models by id. Immutable: :meth:`extended` returns a new catalog.

    Lookups (:meth:`gpu`, :meth:`model`) accept ids, aliases and (models) Hugging Face ids, in any case.
    """

    gpus: dict[str, GpuSpec]
    models: dict[str, ModelSpec]
    _gpu_index: dict[str, str] = field(init=False, repr=False, compare=False)
    _model_index: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind, table in (("gpu", self.gpus), ("model", self.models)):
            for key, rec in table.items():
                if key != rec.id:
                    raise CatalogError(f"{kind} catalog key {key!r} differs from the record id {rec.id!r}")
        object.__setattr__(self, "_gpu_index", _index(self.gpus.values(), "GPU"))
        object.__setattr__(self, "_model_index", _index(self.models.values(), "model"))

    def __hash__(self) -> int:
        return hash((tuple(self.gpus.items()), tuple(self.models.items())))

    @classmethod
    def from_records(cls, gpus: Iterable[GpuSpec] = (), models: Iterable[ModelSpec] = ()) -> "Catalog":
        """Build from records; a repeated id is a CatalogError."""
        return cls(gpus=_by_id(gpus, "GPU"), models=_by_id(models, "model"))

    @classmethod
    def builtin(cls) -> "Catalog":
        """The shipped catalog (cached after the first call)."""
        return _builtin_catalog()

    def extended(self, gpus: Iterable[GpuSpec] = (), models: Iterable[ModelSpec] = ()) -> "Catalog":
        """A new catalog with scenario additions.

        An added id that already exists is accepted only when the record is identical (re-declaring a
        built-in is harmless); a different record under the same id is a CatalogError.
        """
        return Catalog(gpus=_merge(self.gpus, gpus, "GPU"), models=_merge(self.models, models, "model"))

    def gpu(self, name: str) -> GpuSpec:
        """The GPU named by id or alias (case-insensitive); CatalogError with suggestions otherwise."""
        return self.gpus[self._resolve(name, "gpu")]

    def model(self, name: str) -> ModelSpec:
        """The model named by id, alias or Hugging Face id; CatalogError with suggestions otherwise."""
        return self.models[self._resolve(name, "model")]

    def has(self, name: str, kind: str) -> bool:
        """Whether ``name`` resolves in the ``kind`` ('gpu' or 'model') catalog."""
        return normalize_name(name) in self._index_for(_kind(kind))

    def suggest(self, name: str, kind: str, n: int = 3) -> list[str]:
        """Ids whose id or alias is close to ``name`` (best first; empty when nothing is close)."""
        index = self._index_for(_kind(kind))
        out: list[str] = []
        for key in difflib.get_close_matches(normalize_name(name), list(index), n=n * 3, cutoff=0.6):
            if index[key] not in out:
                out.append(index[key])
        return out[:n]

    # -- internals
    def _index_for(self, kind: Kind) -> dict[str, str]:
        return self._gpu_index if kind == "gpu" else self._model_index

    def _resolve(self, name: str, kind: Kind) -> str:
        if not isinstance(name, str) or not name.strip():
            raise CatalogError(f"empty {kind} name")
        index = self._index_for(kind)
        key = normalize_name(name)
        if key in index:
            return index[key]
        table = self.gpus if kind == "gpu" else self.models
        hint = self.suggest(name, kind, n=1)
        did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
        label = "GPU" if kind == "gpu" else "model"
        raise CatalogError(f"unknown {label} {name!r}{did_you_mean} (known {label}s: {', '.join(table)})")


def _kind(kind: str) -> Kind:
    try:
        return _KINDS[kind.lower()]  # type: ignore[return-value]
    except (KeyError, AttributeError):
        raise CatalogError(f"unknown catalog kind {kind!r}; use 'gpu' or 'model'") from None


def _by_id(records: Iterable[R], label: str) -> dict[str, R]:
    out: dict[str, R] = {}
    for rec in records:
        if rec.id in out and out[rec.id] != rec:
            raise CatalogError(f"{label} id {rec.id!r} is defined twice with different values")
        out[rec.id] = rec
    return out


def _merge(base: dict[str, R], added: Iterable[R], label: str) -> dict[str, R]:
    out = dict(base)
    for rec in _by_id(added, label).values():
        old = out.get(rec.id)
        if old is not None and old != rec:
            diff = [k for k in type(rec).model_fields if getattr(old, k) != getattr(rec, k)]
            raise CatalogError(
                f"{label} id {rec.id!r} is already in the catalog with different values "
                f"({', '.join(diff)}); choose a new id for your variant")
        out[rec.id] = rec
    return out


@functools.cache
def _builtin_catalog() -> Catalog:
    return Catalog.from_records(builtin_gpus(), builtin_models())


def catalog_frame(kind: str, catalog: Catalog | None = None) -> "pd.DataFrame":
    """One row per record with every field as a column (tuples ``;``-joined), in catalog order."""
    import pandas as pd

    cat = catalog or Catalog.builtin()
    k = _kind(kind)
    cls = GpuSpec if k == "gpu" else ModelSpec
    records = (cat.gpus if k == "gpu" else cat.models).values()
    frame = pd.DataFrame([record_to_row(r) for r in records], columns=list(cls.model_fields))
    for name, f in cls.model_fields.items():
        if f.annotation is int or (get_origin(f.annotation) in (Union, UnionType) and int in get_args(f.annotation)):
            frame[name] = frame[name].astype("Int64")  # keeps 4096 from turning into 4096.0 next to a None
    return frame
