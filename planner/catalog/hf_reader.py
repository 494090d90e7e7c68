"""The interface a per-family config.json reader (``hf_hybrid``, ``hf_gemma4``, ``hf_mimo_v2``, ``hf_nas``) takes.

``planner.catalog.hf_config``'s reader satisfies it: it names every key it reads with the file and the key's prefix
(``text_config.`` for a multimodal checkpoint's decoder), so a family reader's errors point at the field the user must
fix without the family reader importing ``hf_config`` (which imports the family readers).
"""

from __future__ import annotations

from typing import Any, Protocol


class ConfigReader(Protocol):
    """What the family readers use of ``planner.catalog.hf_config``'s reader (keys named with file and prefix)."""

    file: Any
    prefix: str
    cfg: dict[str, Any]

    def get_int(self, key: str, default: Any = ...) -> int: ...

    def has(self, key: str) -> bool: ...
