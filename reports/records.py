"""The JSON records of ``plan whatif`` and ``plan simulate``: the rows of their tables (``reports.tables``),
under the same names as their CSV, rounded by ``reports.vocabulary``."""

from __future__ import annotations

from typing import Any

from reports.tables import simulate_tables, whatif_tables
from reports.vocabulary import frame_records, tidy


def whatif_json(records: list[dict]) -> list[dict[str, Any]]:
    """``plan whatif --format json``: one record per point with exactly the CSV's columns (``gpus_<offer>``
    per offer, shares in percent as ``spot_gpu_share_pct`` and ``simulated_attainment_pct``)."""
    return frame_records(whatif_tables(records)["whatif"])


def simulate_json(sim: dict[str, Any]) -> dict[str, Any]:
    """``plan simulate --format json``: the run's facts, the worst workload's ``attainment_pct``, and per
    workload (and the fleet) the columns of the simulate table, under the same names as its CSV."""
    rows = frame_records(simulate_tables(sim)["simulate"])
    head = {k: sim[k] for k in ("scenario", "hours", "seed", "spot_nodes", "reclaims", "pool_events") if k in sim}
    attainment = sim.get("attainment")
    return tidy({**head, "attainment_pct": None if attainment is None else 100.0 * attainment,
                 "workloads": [r for r in rows if r["workload"] != "(fleet)"],
                 "fleet": next((r for r in rows if r["workload"] == "(fleet)"), None)})
