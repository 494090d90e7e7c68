"""The package layout of STYLE.md as data, enforced by walking every ``import`` with ``ast``.

``LAYERS`` lists the first-party packages from the ground floor up. A module may import its own package and any
package on a *lower* floor; an import of a package on its own floor (other than its own) or a higher one fails, and
so does any circle between modules (imports inside functions count: a lazy import still ties two modules).
Every first-party module must sit on a floor, so a new package has to be placed here on purpose.
``RULES`` adds what floors cannot say: solvers read only the Problem and the errors; verify shares nothing with
the formulation; only the front ends (planner.cli, planner.api) import reports.

Every import counts: top level, inside functions, under ``if TYPE_CHECKING``. Relative imports are resolved.
Patterns: ``a.b`` means the module ``a.b`` and everything under it; ``a.b*`` also means any module whose
dotted name starts with ``a.b``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "solvers", "reports")  # first-party top-level packages that the rules talk about

# The flow scenario -> perf -> fleet -> solvers -> plan -> verify -> reports, from the ground floor up.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("planner.errors", "planner.suggest", "planner.csr"),  # the error hierarchy, typo hints, a numpy sparse matrix
    ("planner.plan", "planner.problem"),             # plain data: the Plan record and the solver-neutral Problem
    ("planner.catalog", "solvers"),                  # sourced tables and MIG geometry; backends translate Problems
    ("planner.scenario",),                           # the input contract and its reader
    ("planner.perf", "planner.risk", "planner.demand"),  # the performance model; spot tails and simulation;
                                                         # request traces -> workloads
    ("planner.verify", "reports", "planner.export"),  # independent checks; renderers of plans; plan -> manifests
    ("planner.fleet",),                              # options -> formulation -> solve -> plan_build
    ("planner.forecast", "planner.whatif"),          # programs over many fleets
    ("planner.cli", "planner.api"),                  # the thin front ends
)


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
    # Backends are translators of the solver-neutral Problem: they must not read scenarios or perf.
    Rule("solvers see only the Problem and the errors",
         modules=("solvers",),
         only=("solvers", "planner.problem", "planner.errors")),
    # Verification recomputes from Scenario + Plan alone, so a formulation bug cannot hide in both; it keeps its
    # own MIG geometry and spot tails.
    Rule("verify is independent of the formulation",
         modules=("planner.verify",),
         forbid=("planner.fleet", "planner.problem", "planner.catalog.mig", "planner.risk", "solvers")),
    # Reports render plans; they never re-solve or peek at the model.
    Rule("reports never import solvers or the formulation",
         modules=("reports",),
         forbid=("solvers", "planner.fleet", "planner.problem")),
    # The library never prints: only the front ends turn results into reports.
    Rule("only the front ends (CLI, Python API) import reports",
         modules=("planner", "solvers"),
         except_modules=("planner.cli", "planner.api"),
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


def package_of(module: str, layers=LAYERS) -> tuple[int, str] | None:
    """(floor, package pattern) of ``module``: the longest pattern of ``layers`` that matches it."""
    best = None
    for floor, pats in enumerate(layers):
        for pat in pats:
            if matches(module, pat) and (best is None or len(pat) > len(best[1])):
                best = (floor, pat)
    return best


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]; counter[0] += 1; stack.append(nxt); on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop(); on.discard(x); comp.append(x)
                    if x == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def violations(root: Path, rules: tuple[Rule, ...] = RULES, layers=LAYERS) -> list[str]:
    modules = discover(root)
    known = set(modules)
    out = []
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = imports_of(name, path, known)
        graph[name] = {m for m in imported if m in known and m != name}
        here = package_of(name, layers)
        if here is None and name not in PACKAGES:
            out.append(f"{path.relative_to(root)}: {name} sits on no floor (add its package to LAYERS)")
        for target in sorted(imported):
            if target == name or target in PACKAGES:
                continue
            if target not in known:
                out.append(f"{path.relative_to(root)}: {name} imports {target}, which does not exist")
                continue
            there = package_of(target, layers)
            if here is not None and there is not None and there[1] != here[1] and there[0] >= here[0]:
                way = "up" if there[0] > here[0] else "across"
                out.append(f"{path.relative_to(root)}: {name} imports {target} ({way}: floor {here[0]} "
                           f"{here[1]} -> floor {there[0]} {there[1]})")
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
    for comp in circles(graph):
        out.append("circle: " + " -> ".join(comp))
    return out


# --------------------------------------------------------------------------- tests


def test_layers_are_respected():
    found = violations(ROOT)
    assert not found, "import-direction violations (see STYLE.md):\n" + "\n".join(found)


def test_the_walker_sees_the_real_tree():
    """Guard against a vacuous pass: the scan finds known modules, their known imports, and every floor."""
    modules = discover(ROOT)
    assert "planner.scenario.model" in modules and "planner.cli" in modules
    known = set(modules)
    assert "planner.scenario.model" in imports_of("planner.scenario.io", modules["planner.scenario.io"], known)
    placed = {package_of(m)[1] for m in modules if package_of(m)}
    optional = {"planner.api", "planner.demand", "planner.export"}  # floors kept for packages still to come
    assert placed == {p for floor in LAYERS for p in floor} - optional | (optional & placed)


def test_no_module_is_over_400_lines_without_a_reason():
    """STYLE.md: no file over ~400 lines unless its docstring opens with why (the word 'long' in its first lines)."""
    long = []
    for name, path in discover(ROOT).items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 420 and "longer than" not in text[:3000]:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not long, "modules over ~400 lines without a written reason ('longer than ... because'):\n" + "\n".join(long)


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
    # the scenario importing the performance model (a floor up), via a relative import inside a function
    ({"planner/scenario/model.py": "def f():\n    from ..perf import x\n", "planner/perf/__init__.py": "x = 1\n",
      "planner/scenario/__init__.py": ""}, "planner.scenario.model imports planner.perf (up"),
    # perf importing risk: the same floor, another package
    ({"planner/perf/estimate.py": "import planner.risk.tails\n", "planner/risk/tails.py": "",
      "planner/perf/__init__.py": "", "planner/risk/__init__.py": ""}, "(across"),
    # a backend reading the scenario (a floor up, and outside its only-list)
    ({"solvers/cbc.py": "from planner import scenario\n", "planner/scenario/__init__.py": ""},
     "solvers.cbc imports planner.scenario"),
    # a backend using only the Problem and the errors: fine
    ({"solvers/cbc.py": "from planner.problem import Problem\nimport planner.errors\n",
      "planner/problem.py": "", "planner/errors.py": ""}, None),
    # verify importing the formulation under TYPE_CHECKING still counts
    ({"planner/verify/run.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import planner.fleet.formulation\n",
      "planner/fleet/formulation.py": "", "planner/verify/__init__.py": "", "planner/fleet/__init__.py": ""},
     "planner.verify.run imports planner.fleet.formulation"),
    # verify using the planner's MIG geometry (a lower floor, but shared code with the formulation)
    ({"planner/verify/run.py": "from planner.catalog.mig import x\n", "planner/catalog/mig.py": "x = 1\n",
      "planner/verify/__init__.py": "", "planner/catalog/__init__.py": ""}, "verify is independent"),
    # the plan module importing reports (only the CLI may)
    ({"planner/plan.py": "import reports.tables\n", "reports/tables.py": ""}, "planner.plan imports reports.tables"),
    # the CLI importing reports and the fleet: fine
    ({"planner/cli/solve.py": "from reports import tables\nimport planner.fleet.solve\n", "reports/tables.py": "",
      "planner/fleet/solve.py": "", "planner/fleet/__init__.py": "", "planner/cli/__init__.py": ""}, None),
    # reports importing each other: fine
    ({"reports/html.py": "from .tables import x\n", "reports/tables.py": ""}, None),
    # reports importing a solver
    ({"reports/html.py": "import solvers.cbc\n", "solvers/cbc.py": ""}, "reports.html imports solvers.cbc"),
    # the catalog importing the scenario (a floor up)
    ({"planner/catalog/__init__.py": "from ..scenario import Scenario\n", "planner/scenario/__init__.py": ""},
     "planner.catalog imports planner.scenario"),
    # two modules of one package importing each other, one lazily: a circle
    ({"planner/verify/a.py": "from planner.verify import b\n", "planner/verify/b.py": "def f():\n    import planner.verify.a\n",
      "planner/verify/__init__.py": ""}, "circle: planner.verify.a -> planner.verify.b"),
    # a module on no floor
    ({"planner/newthing.py": ""}, "planner.newthing sits on no floor"),
    # a lazy import of a module that moved away
    ({"planner/verify/run.py": "def f():\n    from planner.gone import x\n", "planner/verify/__init__.py": ""},
     "imports planner.gone, which does not exist"),
]


@pytest.mark.parametrize(("files", "expected"), FAKE_TREES)
def test_rule_engine_on_fake_trees(tmp_path: Path, files: dict[str, str], expected: str | None):
    found = violations(_tree(tmp_path, files))
    if expected is None:
        assert found == []
    else:
        assert any(expected in v for v in found), found
