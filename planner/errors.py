"""One domain exception hierarchy. Only the CLI turns these into messages and exit codes.

Exit codes: 2 for bad input (ScenarioError and its kin), 3 for infeasible, 1 for internal/solver errors.
"""

from __future__ import annotations

from dataclasses import dataclass


class PlannerError(Exception):
    """Base class of every error fleetplan raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Issue:
    """One problem in an input file: where (a field path such as ``workloads[0].model``) and what."""

    path: str
    message: str
    line: int | None = None  # where the field is written in the input file, 1-based, when known
    column: int | None = None

    def render(self, source: str | None = None) -> str:
        where = f"{self.path}: " if self.path else ""
        at = f":{self.line}:{self.column}" if self.line is not None and self.column is not None else ""
        prefix = f"{source}{at}: " if source else ""
        return f"{prefix}{where}{self.message}"


class InputError(PlannerError):
    """Bad input of any kind (file, flag, catalog row). Exit code 2."""

    exit_code = 2


class ScenarioError(InputError):
    """A scenario (or other input file) failed validation; carries every issue found, not just the first."""

    def __init__(self, issues: list[Issue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__("\n".join(i.render(source) for i in self.issues))


class CatalogError(InputError):
    """An id that is not in a catalog, or a catalog row that is malformed."""


class InfeasibleError(PlannerError):
    """No fleet can serve the demand. ``reasons`` says which workload and why."""

    exit_code = 3

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)


class SolverError(PlannerError):
    """A backend failed for a reason that is not the model's fault (not installed, crashed)."""

    exit_code = 1


class BackendChoiceError(SolverError, InputError):
    """A ``--solver`` / ``policy.solver`` that is unknown, not installed, or cannot take the problem. Exit code 2."""

    exit_code = 2


class VerificationError(PlannerError):
    """A plan failed independent verification: never printed as a success."""

    exit_code = 1
