"""The hand-made report fixture (``tests/fixtures/reports/sample.py``), loaded once for every test module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "reports_fixture_sample"


def load_sample():
    """The fixture module; loaded on first use and shared (its plans, scenario and records are built lazily)."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    path = Path(__file__).parent / "fixtures" / "reports" / "sample.py"
    spec = importlib.util.spec_from_file_location(NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
