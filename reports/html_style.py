"""The HTML report's style sheet and Content-Security-Policy: one page, no request to anywhere.

Tables are laid out to fit a 1280 px window: headers wrap between words (never inside an id, ``.nw``), numbers
and ids stay on one line, and ``.scroll`` gives a sideways scroll only on narrower screens.
"""

CSS = """
:root { --fg:#1d1f23; --muted:#5d6470; --line:#d9dde3; --bg:#ffffff; --panel:#f5f7fa; --ok:#237a2b; --miss:#b42318;
        --chosen:#e8f5e9; --accent:#2f5b9a; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 1.5rem 4rem; color: var(--fg); background: var(--bg);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
nav { display: flex; flex-wrap: wrap; gap: .3rem .9rem; font-size: .9rem; margin: .5rem 0 1rem; }
nav a { color: var(--accent); text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: .75rem; margin: 1rem 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; }
.card .k { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
.card .v { font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .d { color: var(--muted); font-size: .85rem; }
.card.good .v { color: var(--ok); } .card.bad .v { color: var(--miss); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 4px; font-size: .85rem; font-weight: 600;
         background: var(--panel); border: 1px solid var(--line); }
.badge.optimal, .ok { color: var(--ok); } .badge.bad, .miss { color: var(--miss); }
.miss { font-weight: 700; } .unknown { color: var(--muted); }
figure.chart { margin: 1rem 0; } figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .85rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin: .4rem 0 1rem;
        font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .55rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; overflow-wrap: normal; hyphens: none; }
td.num, th.num { text-align: right; } td.num, td.id, .nw { white-space: nowrap; }
td.reason { min-width: 16rem; } td.mark, th.mark { text-align: center; }
tbody th.group { background: #eef1f5; text-align: left; }
tr.state-chosen { background: var(--chosen); font-weight: 600; }
tr.state-dominated, tr.state-dropped { color: var(--muted); }
pre.scenario { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8rem;
               overflow-x: auto; font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.note { color: var(--muted); font-size: .85rem; }
@media print {
  @page { margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure.chart, .card, tr { break-inside: avoid; }
  .scroll { overflow: visible; }
  table { font-size: 7.5pt; } th, td { padding: .15rem .3rem; }
  pre.scenario { white-space: pre-wrap; overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""

# The page loads nothing: inline styles only, data: for the (empty) icon. A stray reference is refused
# by the browser and shows up as a console error in the browser test.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
