"""Timed fresh processes read compiled bytecode, as an installed package's do (shared by the start-up benches).

pip compiles a wheel's modules when it installs them, and a checkout writes ``__pycache__`` on its first run; this
sandbox sets ``PYTHONDONTWRITEBYTECODE``, so without a cache every first-party module of a fresh ``plan`` process
is compiled from source, about a quarter of a second of CPU that no installed ``plan`` pays.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def cached_env(env: dict, cache: Path, warm_up: list[list[str]], cwd: Path) -> dict:
    """The environment of the timed processes: bytecode is read from ``cache`` (``PYTHONPYCACHEPREFIX``), written
    there by running each ``warm_up`` command once, untimed, with bytecode writing allowed."""
    timed = {**env, "PYTHONPYCACHEPREFIX": str(cache)}
    writing = {k: v for k, v in timed.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for cmd in warm_up:
        subprocess.run(cmd, capture_output=True, cwd=cwd, env=writing, check=False)
    return timed
