"""``--time-limit`` is the whole command's budget: it counts from the process's start and keeps back what printing
the plan costs (``planner.cli.clock``, ``SolveSettings.output_reserve``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.cli import clock
from planner.cli.solve import OUTPUT_COST, OUTPUT_MARGIN, Format, output_reserve
from planner.fleet.solve import OUTPUT_MAX_SHARE, _Budget

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the kernel's process start is read on Linux")
def test_a_fresh_process_counts_from_its_start_not_from_main():
    # the child sleeps 0.4 s before main() would run: that wait is part of the command's budget
    code = ("import time; time.sleep(0.4); from planner.cli import clock; clock.mark_entry(); "
            "print(time.perf_counter() - clock.command_started_at())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    waited = float(out.stdout)
    assert 0.4 - 0.02 <= waited < clock.FRESH_S  # 0.02: the kernel's 10 ms clock ticks


def test_an_old_process_counts_from_mains_entry(monkeypatch):
    monkeypatch.setattr(clock, "process_age", lambda: 100.0)  # a test runner or a server calling main()
    before = time.perf_counter()
    clock.mark_entry()
    try:
        assert before <= clock.command_started_at() <= time.perf_counter()
    finally:
        clock.forget_entry()


def test_a_young_process_counts_its_age_and_forgets_it_after_the_command(monkeypatch):
    monkeypatch.setattr(clock, "process_age", lambda: 1.25)
    clock.mark_entry()
    try:
        assert time.perf_counter() - clock.command_started_at() == pytest.approx(1.25, abs=0.05)
    finally:
        clock.forget_entry()
    # without main() (typer's runner), or after its command, the budget starts when the command asks
    before = time.perf_counter()
    assert before <= clock.command_started_at() <= time.perf_counter()


def test_process_age_is_none_without_the_kernels_record(monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/stat")

    monkeypatch.setattr("builtins.open", no_proc)
    assert clock.process_age() is None


def test_the_output_reserve_moves_the_deadline_by_at_most_half_the_budget():
    b = _Budget(10.0, started_at=1000.0)
    b.keep_back(3.0)
    assert b.deadline == pytest.approx(1007.0)
    b.keep_back(-1.0)  # nothing kept back for a negative estimate
    assert b.deadline == pytest.approx(1007.0)
    b.keep_back(100.0)
    assert b.deadline == pytest.approx(1007.0 - OUTPUT_MAX_SHARE * 10.0)


def test_the_output_reserve_adds_the_json_file_to_the_tables_with_the_margin():
    # table 14 ms per workload and 3.5e-5 s per deployment, JSON 1.5e-5 s per deployment, times 1.5
    assert OUTPUT_MARGIN == 1.5
    assert output_reserve(Format.table, also_json=True) == pytest.approx((0.0, 0.021, 7.5e-5))
    assert output_reserve(Format.table, also_json=False) == pytest.approx((0.0, 0.021, 5.25e-5))
    assert output_reserve(Format.json, also_json=True) == pytest.approx((0.0, 0.0, 2.25e-5))
    assert set(OUTPUT_COST) == set(Format)
