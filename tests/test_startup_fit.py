"""``reports.fit.Fit`` renders each layout once (the one that fits is printed from the render it was tested on);
the text, colours included, is the same as choosing with ``fits`` and rendering the choice again."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from reports import tables, terminal
from reports.fit import Fit, fits
from tests.report_sample import load_sample
from tests.test_startup_rows import PLANS

S = load_sample()


def _choose_then_render(self, console, options):
    """The former ``Fit.__rich_console__``: ``choose`` (``fits`` on a fresh console), then render the choice."""
    yield self.choose(options.max_width)


def _views():
    out = {name: lambda make=make: terminal.plan_renderables(tables.plan_rows(*make()))
           for name, make in PLANS.items()}
    out["whatif"] = lambda: terminal.whatif_renderables(tables.whatif_tables(S.whatif_records()))
    out["whatif-4-offers"] = lambda: terminal.whatif_renderables(tables.whatif_tables(S.whatif_records_many_offers()))
    out["forecast"] = lambda: terminal.forecast_renderables(tables.forecast_tables(S.forecast_result()))
    out["simulate"] = lambda: terminal.simulate_renderables(tables.simulate_tables(S.simulation()), S.simulation(), 0.99)
    return out


VIEWS = _views()


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("width", [30, 50, 64, 72, 80, 96, 120, 160])
def test_same_text_as_choosing_then_rendering(view, width, monkeypatch):
    got = {color: terminal.render_text(VIEWS[view](), width=width, color=color) for color in (False, True)}
    monkeypatch.setattr(Fit, "__rich_console__", _choose_then_render)
    want = {color: terminal.render_text(VIEWS[view](), width=width, color=color) for color in (False, True)}
    assert got == want


def test_same_choice_as_fits_on_a_terminal_console(monkeypatch):
    """Through a console like the CLI's (a terminal, no highlighting), every Fit shows the layout ``choose`` picks."""
    shown = []
    original = Fit.__rich_console__

    def spy(self, console, options):
        shown.append((self, options.max_width))
        yield from original(self, console, options)

    monkeypatch.setattr(Fit, "__rich_console__", spy)
    out = io.StringIO()
    console = Console(file=out, width=72, force_terminal=True, highlight=False, color_system="truecolor")
    terminal.print_renderables(VIEWS["plan"](), console)
    assert shown
    chosen = [(f.choose(w), f.layouts) for f, w in shown]
    assert any(c is not layouts[-1] for c, layouts in chosen)  # some layout fits before the last one
    for table, layouts in chosen:
        i = layouts.index(table)
        assert all(not fits(t, 72) for t in layouts[:i]) and (i == len(layouts) - 1 or fits(table, 72))
    text = out.getvalue()
    monkeypatch.setattr(Fit, "__rich_console__", _choose_then_render)
    again = io.StringIO()
    terminal.print_renderables(VIEWS["plan"](), Console(file=again, width=72, force_terminal=True, highlight=False,
                                                        color_system="truecolor"))
    assert text == again.getvalue()
