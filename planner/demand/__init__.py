"""Request traces (CSV, JSONL, Parquet) -> the scenario's ``workloads:`` block: rates, size mixes, hourly profiles."""
