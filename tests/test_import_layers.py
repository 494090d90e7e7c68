"""The import direction of STYLE.md, enforced by walking every ``import`` with ``ast``.

scenario <- perf <- options <- formulation <- solvers; plan <- verify; reports read plan/verify/scenario but
never solvers or formulation; only the CLI imports reports.

Every import counts: top level, inside functions, under ``if TYPE_CHECKING``. Relative imports are resolved.
Modules no rule names are free (new modules are allowed by default); add a rule when a layer appears.

Patterns: ``a.b`` means the module ``a.b`` and everything under it; ``a.b*`` also means any module whose
dotted name starts with ``a.b`` (``planner.scenario*`` = ``planner.scenario``, ``planner.scenario_io``, ...).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "solvers", "reports")  # first-party top-level packages that the rules talk about


@dataclass(frozen=True)
class Rule:
    """``modules`` (minus ``except_modules``) may not import first-party modules matching ``forbid``; when
    ``only`` is given, they may import no first-party module outside ``only``."""

    why: str
    modules: tuple[str, ...]
    forbid: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    except_modules: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    # The leaves: catalogs, the error hierarchy and the typo hints are used by everything, so they depend
    # on nothing else of ours (a catalog that imported the scenario would make a cycle).
    Rule("leaf modules import only each other",
         modules=("planner.catalog*", "planner.errors", "planner.suggest"),
         only=("planner.catalog*", "planner.errors", "planner.suggest")),
    # The scenario is the input contract: it sits below every stage that consumes it.
    Rule("scenario does not know about later stages",
         modules=("planner.scenario*",),
         forbid=("planner.perf*", "planner.options", "planner.formulation", "planner.problem", "planner.plan",
                 "planner.verify", "planner.solve", "reports", "solvers")),
    # Performance model and calibration are pure functions of scenario + catalog: no optimisation, no output.
    Rule("perf/calibration do not reach into optimisation or output",
         modules=("planner.perf*", "planner.calibration*"),
         forbid=("planner.options", "planner.formulation", "planner.problem", "planner.plan", "planner.verify",
                 "solvers", "reports")),
    # Backends are translators of the solver-neutral Problem: they must not read scenarios or perf.
    Rule("solvers see only the Problem and the errors",
         modules=("solvers",),
         only=("solvers", "planner.problem", "planner.errors")),
    # Verification recomputes from Scenario + Plan alone, so a formulation bug cannot hide in both.
    # (verify* covers verify_spot too: the spot checks are as independent as the rest.)
    Rule("verify is independent of the formulation",
         modules=("planner.verify*",),
         forbid=("planner.formulation", "planner.options", "planner.problem", "planner.mig", "planner.spot",
                 "planner.spot_risk", "planner.plan_build", "planner.solve", "solvers")),
    # Reports render plans; they never re-solve or peek at the model.
    Rule("reports never import solvers or the formulation",
         modules=("reports",),
         forbid=("solvers", "planner.formulation", "planner.problem")),
    # The library never prints: only the CLI turns results into reports.
    Rule("only the CLI imports reports",
         modules=("planner", "solvers"),
         except_modules=("planner.cli",),
         forbid=("reports",)),
)


# --------------------------------------------------------------------------- the walker


def matches(module: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return module.startswith(pattern[:-1])
    return module == pattern or module.startswith(pattern + ".")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every first-party module under ``root``: dotted name -> file."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")) if (root / pkg).is_dir() else ():
            out[module_name(path, root)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """First-party modules that the file imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = name.split(".") if is_package else name.split(".")[:-1]
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def violations(root: Path, rules: tuple[Rule, ...] = RULES) -> list[str]:
    modules = discover(root)
    known = set(modules)
    out = []
    for name, path in modules.items():
        imported = imports_of(name, path, known)
        for rule in rules:
            if not any(matches(name, p) for p in rule.modules) or any(matches(name, p) for p in rule.except_modules):
                continue
            for target in sorted(imported):
                if target == name:
                    continue
                bad = any(matches(target, p) for p in rule.forbid)
                if rule.only is not None and not any(matches(target, p) for p in rule.only):
                    bad = bad or target not in PACKAGES  # a bare `import planner` is harmless
                if bad:
                    out.append(f"{path.relative_to(root)}: {name} imports {target} ({rule.why})")
    return out


# --------------------------------------------------------------------------- tests


def test_layers_are_respected():
    found = violations(ROOT)
    assert not found, "import-direction violations (see STYLE.md):\n" + "\n".join(found)


def test_the_walker_sees_the_real_tree():
    """Guard against a vacuous pass: the scan finds known modules and their known imports."""
    modules = discover(ROOT)
    assert "planner.scenario" in modules and "planner.cli" in modules
    known = set(modules)
    assert "planner.scenario" in imports_of("planner.scenario_io", modules["planner.scenario_io"], known)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


# (files of a tiny fake tree, expected violation substring or None). One comment per row.
FAKE_TREES = [
    # the scenario importing the performance model, via a relative import inside a function
    ({"planner/scenario.py": "def f():\n    from .perf import x\n", "planner/perf.py": ""},
     "planner.scenario imports planner.perf"),
    # a backend reading the scenario
    ({"solvers/cbc.py": "from planner import scenario\n", "planner/scenario.py": ""},
     "solvers.cbc imports planner.scenario"),
    # a backend using only the Problem and the errors: fine
    ({"solvers/cbc.py": "from planner.problem import Problem\nimport planner.errors\n",
      "planner/problem.py": "", "planner/errors.py": ""}, None),
    # verify importing the formulation under TYPE_CHECKING still counts
    ({"planner/verify.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import planner.formulation\n",
      "planner/formulation.py": ""}, "planner.verify imports planner.formulation"),
    # the plan module importing reports (only the CLI may)
    ({"planner/plan.py": "import reports.tables\n", "reports/tables.py": ""}, "planner.plan imports reports.tables"),
    # the CLI importing reports: fine
    ({"planner/cli/solve.py": "from reports import tables\n", "reports/tables.py": ""}, None),
    # reports importing each other: fine
    ({"reports/html.py": "from .tables import x\n", "reports/tables.py": ""}, None),
    # reports importing a solver
    ({"reports/html.py": "import solvers.cbc\n", "solvers/cbc.py": ""}, "reports.html imports solvers.cbc"),
    # the catalog importing the scenario (a leaf reaching up)
    ({"planner/catalog/__init__.py": "from ..scenario import Scenario\n", "planner/scenario.py": ""},
     "planner.catalog imports planner.scenario"),
    # 'planner.plan' does not match 'planner.planner_utils' (dotted boundary), so the scenario may import it
    ({"planner/scenario.py": "import planner.planner_utils\n", "planner/planner_utils.py": ""}, None),
]


@pytest.mark.parametrize(("files", "expected"), FAKE_TREES)
def test_rule_engine_on_fake_trees(tmp_path: Path, files: dict[str, str], expected: str | None):
    found = violations(_tree(tmp_path, files))
    if expected is None:
        assert found == []
    else:
        assert any(expected in v for v in found), found
