"""Help text as typer's rich mode shows it well: paragraphs without hard line breaks, and no ``<bool>`` after
plain flags.

Typer's ``rich`` markup mode keeps single newlines, so a docstring wrapped at 120 columns in the source wraps
raggedly at 80 in a terminal; ``command_help`` joins each paragraph into one line and lets rich wrap it.
"""

from __future__ import annotations

import inspect


def command_help(doc: str | None, examples: str = "") -> str:
    """A command's help from its docstring (and an examples block): one line per paragraph, blank lines between.

    Example lines are paragraphs of their own in ``examples`` (blank lines between them), so they stay one
    command per line; a command continued on the next line of the source is joined to it."""
    paragraphs = []
    for block in (inspect.cleandoc(doc or ""), inspect.cleandoc(examples or "")):
        for para in block.split("\n\n"):
            text = " ".join(line.strip() for line in para.splitlines() if line.strip())
            if text:
                paragraphs.append(("  " if text.startswith("plan ") else "") + text)  # commands indented
    return "\n\n".join(paragraphs)


def hide_flag_types() -> None:
    """Show no ``<bool>`` type after a plain flag (``--quiet``, ``--help``) in rich help: a flag takes no value.

    Typer draws the type column from ``TyperOption.display_type_rich``; this wraps it once, for flags only,
    and leaves every other option's ``<int>``, ``<path>`` or choices as they are. Without that hook (another
    typer version) help keeps its ``<bool>``, nothing else changes."""
    try:
        from typer.core import TyperOption  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_fleetplan_flags", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and not getattr(self, "count", False) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._fleetplan_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich
