"""``reports.rows.Rows``: the plan's tables without pandas hold the DataFrames' values and render the same text.

``plan solve`` renders its terminal view from ``tables.plan_rows`` so that the table output does not import
pandas; these tests hold the two paths to the same values (column by column, dtype by dtype), the same terminal
text at several widths with and without colour, and check that the CLI's table path leaves pandas unloaded.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import tables, terminal
from reports.format import is_missing
from reports.rows import Rows, convert, dataframe_column
from tests.report_sample import load_sample

ROOT = Path(__file__).resolve().parents[1]
S = load_sample()


def _long_ids_plan():
    p = S.build_plan()
    long = "an-extremely-long-offer-identifier-from-a-generated-catalog-us-east-1-h100-"
    return p.model_copy(update={
        "nodes": tuple(n.model_copy(update={"offer": f"{long}{i}"}) for i, n in enumerate(p.nodes)),
        "replicas": tuple(r.model_copy(update={"offer": long, "workload": "w-" + long}) for r in p.replicas),
        "options": tuple(o.model_copy(update={"offer": long, "reason": f"{o.reason} {long}"}) for o in p.options),
        "message": "unmet " * 40})


PLANS = {
    "plan": lambda: (S.build_plan(), S.build_scenario()),
    "plan-24": lambda: (S.build_plan_24(), S.build_scenario()),
    "no-scenario": lambda: (S.build_plan(), None),
    "long-ids": lambda: (_long_ids_plan(), S.build_scenario()),
}


def _same(a, b) -> bool:
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("case", sorted(PLANS))
def test_rows_hold_the_dataframes_values(case):
    plan, scenario = PLANS[case]()
    frames = tables.plan_tables(plan, scenario)
    rows = tables.plan_rows(plan, scenario)
    assert list(rows) == list(frames) == list(tables.PLAN_FRAMES)
    for name, frame in frames.items():
        lite = rows[name]
        assert lite.columns == list(frame.columns), name
        assert len(lite) == len(frame) and lite.empty == frame.empty, name
        for col in frame.columns:
            assert lite[col].dtype.kind == frame[col].dtype.kind, (name, col)
            assert (lite[col].dtype == bool) == (frame[col].dtype == bool), (name, col)
        for (_, want), (_, got) in zip(frame.iterrows(), lite.iterrows()):
            for col in frame.columns:
                assert _same(want[col], got[col]), (name, col, want[col], got[col])
        pd.testing.assert_frame_equal(lite.to_pandas(), frame)


@pytest.mark.parametrize("case", sorted(PLANS))
@pytest.mark.parametrize("width", [40, 64, 80, 100, 120, 200])
def test_terminal_text_is_the_same_from_rows(case, width):
    plan, scenario = PLANS[case]()
    want = terminal.plan_renderables(tables.plan_tables(plan, scenario))
    got = terminal.plan_renderables(tables.plan_rows(plan, scenario))
    for color in (False, True):
        assert terminal.render_text(got, width=width, color=color) == terminal.render_text(want, width=width,
                                                                                              color=color)


def test_rows_reads():
    t = Rows.build([{"w": "a", "n": 1, "x": 1.5}, {"w": "b", "n": 2, "x": None}, {"w": "a", "n": 3, "x": 2.0}],
                   {"w": "str", "n": "int", "x": "float"})
    assert t.columns == ["w", "n", "x"] and len(t) == 3 and not t.empty
    assert t.iloc[0] == {"w": "a", "n": 1, "x": 1.5} and t.iloc[-1]["n"] == 3
    assert [(k, list(g["n"])) for k, g in t.groupby("w", sort=False)] == [("a", [1, 3]), ("b", [2])]
    assert t["n"].any() and not Rows.build([{"n": 0}], {"n": "int"})["n"].any()
    assert math.isnan(t.iloc[1]["x"]) and t.iloc[1].get("missing") is None
    with pytest.raises(IndexError):
        t.iloc[3]
    numbers = Rows.build([{"n": 2, "x": 0.5}], {"n": "int", "x": "float"})  # iterrows upcasts an all-number row
    assert [type(v) for v in numbers.iloc[0].values()] == [float, float]
    assert Rows.build([], {"n": "int"}).empty


_VALUES = {
    "int": st.lists(st.integers(-10**12, 10**12) | st.booleans(), max_size=6),
    "float": st.lists(st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6),
                      max_size=6),
    "bool": st.lists(st.booleans(), max_size=6),
    "bool?": st.lists(st.none() | st.booleans() | st.just(float("nan")) | st.just(np.bool_(True)), max_size=6),
    "str": st.lists(st.none() | st.text(max_size=5) | st.integers(0, 99) | st.just(float("nan")), max_size=6),
}
_NAMES = ["usd_per_hour", "share_pct", "attainment_pct", "unserved_pct", "price_usd_per_node_hour", "tp", "x"]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(_VALUES)), name=st.sampled_from(_NAMES), data=st.data())
def test_convert_matches_the_dataframe_column(kind, name, data):
    values = data.draw(_VALUES[kind])
    series = dataframe_column(list(values), kind, name)  # the DataFrame path it must match
    got, dtype = convert(list(values), kind, name)
    assert dtype.kind == series.dtype.kind and (dtype == bool) == (series.dtype == bool)
    assert len(got) == len(series)
    for g, w in zip(got, series.tolist()):
        assert (is_missing(g) and is_missing(w)) or (g == w and type(g) is type(w)), (g, w)


def test_solve_table_output_imports_neither_pandas_nor_scipy_special():
    """On-demand offers only (a spot hedge's tails still need scipy.special, in ``planner.risk``)."""
    code = ("import sys; from planner.cli import main; sys.argv[0] = 'plan'\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "import json; print(json.dumps({'code': code, 'pandas': 'pandas' in sys.modules,"
            " 'scipy_special': 'scipy.special' in sys.modules}), file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code, "solve", str(ROOT / "scenarios" / "mig-small-models.yaml"),
                          "--no-baselines"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100",
                              "FLEETPLAN_PRICE_MAX_AGE_DAYS": "100000"})
    facts = json.loads(res.stderr.strip().splitlines()[-1])
    assert facts["code"] in (0, None), res.stderr
    assert facts["pandas"] is False
    assert facts["scipy_special"] is False  # the Erlang C of the SLO search needs no special functions
    assert "Fleet" in res.stdout and "Verification" in res.stdout
